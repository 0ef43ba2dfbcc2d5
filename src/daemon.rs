//! `ferrolb run`: loads the config, starts the listener, the speaker and the HTTP endpoint, and
//! handles SIGHUP (reload) and SIGTERM/SIGINT (withdraw, Cease, exit 0).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use tokio::signal::unix::{signal, SignalKind};

use crate::bgp::listener::{Directory, Listener};
use crate::config::{self, Config, ConfigErrors};
use crate::http;
use crate::l2::sink::{L2Sink, HANDOVER_DEADLINE};
use crate::model::Mode;
use crate::standalone::Pipeline;
use crate::status::{LastReload, StatusModel};

/// Why the daemon could not run.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The config is invalid (exit code 1).
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// The state file cannot be used (exit code 1: the user must look at it).
    #[error("{0}")]
    State(#[from] crate::state::StateError),
    /// The config asks for something this build cannot do yet (exit code 1).
    #[error("{0}")]
    Unsupported(String),
    /// The L2 membership layer cannot start, e.g. its UDP port is taken (exit code 2).
    #[error("{0}")]
    Cluster(#[from] crate::cluster::ClusterError),
    /// The Kubernetes API cannot be used (exit code 2).
    #[error("{0}")]
    Kubernetes(#[from] crate::watch::Error),
    /// A runtime failure such as a port that cannot be bound (exit code 2).
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

impl DaemonError {
    /// The process exit code for this error (1 invalid input, 2 runtime failure).
    pub fn exit_code(&self) -> i32 {
        match self {
            DaemonError::Config(_) | DaemonError::State(_) | DaemonError::Unsupported(_) => 1,
            DaemonError::Io { .. } | DaemonError::Kubernetes(_) | DaemonError::Cluster(_) => 2,
        }
    }
}

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn run(path: &Path) -> Result<(), DaemonError> {
    let config = config::load(path)?;
    let io = |what: String| move |source| DaemonError::Io { what, source };
    let mut hup =
        signal(SignalKind::hangup()).map_err(io("cannot install SIGHUP handler".into()))?;
    let mut term =
        signal(SignalKind::terminate()).map_err(io("cannot install SIGTERM handler".into()))?;
    let mut int =
        signal(SignalKind::interrupt()).map_err(io("cannot install SIGINT handler".into()))?;

    let directory: Directory = Arc::new(RwLock::new(HashMap::new()));
    let source = Arc::new(StatusModel::new());
    let listener = listen(&config, &directory, &source).await?;

    if config.kubernetes.is_some() {
        let stop = Box::pin(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        });
        // SIGHUP: the configuration comes from the cluster; the TOML is read at start only.
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::warn!(
                    "SIGHUP ignored in Kubernetes mode: restart to apply node.toml changes"
                );
            }
        });
        return Ok(crate::watch::run::run(config, directory, listener, source, stop).await?);
    }
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    let l2 = l2_sink(None, &config, &source).await?;
    let pipeline = Pipeline::start(config, directory)?;
    pipeline.publish(&source);
    if let Some(l2) = &l2 {
        l2.set(pipeline.l2().clone());
    }
    tracing::info!(
        node = %pipeline.config().node.name,
        peers = pipeline.config().bgp.peers.len(),
        services = pipeline.services().len(),
        "ferrolb running"
    );
    let mut running = Running {
        pipeline,
        l2,
        listener,
    };
    loop {
        tokio::select! {
            _ = hup.recv() => reload(path, &mut running, &source).await,
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    let Running { pipeline, l2, .. } = running;
    if let Some(l2) = l2 {
        tracing::info!("shutting down: handing L2 addresses over");
        l2.shutdown(HANDOVER_DEADLINE).await;
    }
    tracing::info!("shutting down: withdrawing routes and closing sessions");
    let drain = std::time::Duration::from_secs(pipeline.config().bgp.graceful_shutdown_time.into());
    pipeline.shutdown(drain).await;
    Ok(())
}

/// What a standalone reload changes.
struct Running {
    pipeline: Pipeline,
    l2: Option<L2Sink>,
    listener: Option<Arc<Listener>>,
}

/// SIGHUP in standalone mode: the new config as a whole, or nothing of it. The result is
/// logged, counted and kept for `/status`.
async fn reload(path: &Path, running: &mut Running, status: &Arc<StatusModel>) {
    let last = match try_reload(path, running, status).await {
        Ok(warnings) => {
            tracing::info!(path = %path.display(), "configuration reloaded");
            LastReload::new(Vec::new(), warnings, SystemTime::now())
        }
        Err(errors) => {
            for e in &errors {
                tracing::error!("{e}");
            }
            tracing::error!(
                errors = errors.len(),
                "configuration NOT reloaded; still running the previous one"
            );
            LastReload::new(errors, Vec::new(), SystemTime::now())
        }
    };
    status.record_reload(last);
}

/// Everything that can fail comes first (the config read and validated; an L2 sink the new
/// config needs started, answering nothing yet; the listener's TCP MD5 keys and TTL settings,
/// which put the old ones back on a failure; the assignments computed on a copy and saved to
/// the state file); each failure undoes the steps before it. Only then is the new config put
/// in place, which cannot fail. Ok: what the reload could not change (restart needed).
async fn try_reload(
    path: &Path,
    r: &mut Running,
    status: &Arc<StatusModel>,
) -> Result<Vec<String>, Vec<String>> {
    let new =
        config::load(path).map_err(|e| e.0.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    let warnings = needs_restart(r.pipeline.config(), &new, r.l2.is_some());
    let fresh_l2 = match r.l2 {
        Some(_) => None,
        None => l2_sink(None, &new, status)
            .await
            .map_err(|e| vec![format!("cannot start the L2 sink: {e}")])?,
    };
    if let Some(l) = &r.listener {
        if let Err(e) = l.set_peers(&new.bgp.peers) {
            abandon(fresh_l2, status).await;
            return Err(vec![format!("cannot configure the BGP listener: {e}")]);
        }
    }
    let prepared = match r.pipeline.prepare(new) {
        Ok(p) => p,
        Err(e) => {
            if let Some(l) = &r.listener {
                let _ = l.set_peers(&r.pipeline.config().bgp.peers);
            }
            abandon(fresh_l2, status).await;
            return Err(vec![format!("assignments not saved, so not applied: {e}")]);
        }
    };
    for w in prepared.config().warnings.iter().map(ToString::to_string) {
        tracing::warn!("{w}");
    }
    r.pipeline.commit(prepared).await;
    if fresh_l2.is_some() {
        r.l2 = fresh_l2;
    }
    r.pipeline.publish(status);
    if let Some(l2) = &r.l2 {
        l2.set(r.pipeline.l2().clone());
    }
    for w in &warnings {
        tracing::warn!("{w}");
    }
    Ok(warnings)
}

/// Stops an L2 sink a refused reload started (it answered nothing).
async fn abandon(sink: Option<L2Sink>, status: &StatusModel) {
    if let Some(sink) = sink {
        sink.shutdown(std::time::Duration::ZERO).await;
        status.clear_l2_counters();
    }
}

/// What a reload reads but cannot change while running: each needs a restart.
fn needs_restart(old: &Config, new: &Config, l2_running: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |changed: bool, what: &str| {
        if changed {
            out.push(format!("{what} changed; it takes effect after a restart"));
        }
    };
    check(new.bgp.listen != old.bgp.listen, "[bgp] listen");
    check(new.http.listen != old.http.listen, "[http] listen");
    check(new.state != old.state, "[state] path");
    check(l2_running && new.cluster != old.cluster, "[cluster]");
    check(new.kubernetes.is_some(), "[kubernetes] (Kubernetes mode)");
    out
}

/// The L2 sink a standalone config needs: the running one, or a new one once an L2
/// advertisement appears (`[cluster]` is read when it starts; a change needs a restart).
async fn l2_sink(
    running: Option<L2Sink>,
    config: &Config,
    status: &Arc<StatusModel>,
) -> Result<Option<L2Sink>, DaemonError> {
    if running.is_some() {
        return Ok(running);
    }
    if !config.advertisements.iter().any(|a| a.mode == Mode::L2) {
        return Ok(None);
    }
    let sink = L2Sink::start(
        config.node.name.clone(),
        config
            .cluster
            .as_ref()
            .map(|c| crate::l2::sink::membership(&config.node.name, c)),
        status.clone(),
    )
    .await?;
    Ok(Some(sink))
}

/// Binds the BGP listener and the HTTP endpoint the config asks for and starts serving them.
async fn listen(
    config: &Config,
    directory: &Directory,
    status: &Arc<StatusModel>,
) -> Result<Option<Arc<Listener>>, DaemonError> {
    let io = |what: String| move |source| DaemonError::Io { what, source };
    let listener = match config.bgp.listen {
        Some(addr) => {
            let l = Listener::bind(addr, &config.bgp.peers)
                .map_err(io(format!("cannot listen for BGP on {addr}")))?;
            tracing::info!(%addr, "listening for BGP connections");
            let l = Arc::new(l);
            tokio::spawn(l.clone().run(directory.clone()));
            Some(l)
        }
        None => None,
    };
    if let Some(addr) = config.http.listen {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(io(format!("cannot listen for HTTP on {addr}")))?;
        tracing::info!(%addr, "serving /status, /healthz, /readyz");
        tokio::spawn(http::serve(l, status.clone()));
    }
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_error_exits_1_and_a_runtime_error_exits_2() {
        let cfg = DaemonError::Config(ConfigErrors(Vec::new()));
        let io = DaemonError::Io {
            what: "bind".into(),
            source: std::io::Error::other("in use"),
        };
        assert_eq!(cfg.exit_code(), 1);
        assert_eq!(io.exit_code(), 2);
    }
}
