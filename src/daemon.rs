//! `ferrolb run`: loads the config, starts the listener, the speaker and the HTTP endpoint, and
//! handles SIGHUP (reload) and SIGTERM/SIGINT (withdraw, Cease, exit 0).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use tokio::signal::unix::{signal, SignalKind};

use crate::bgp::listener::{Directory, Listener};
use crate::config::{self, Config, ConfigErrors};
use crate::http;
use crate::l2::sink::{L2Sink, HANDOVER_DEADLINE};
use crate::model::Mode;
use crate::standalone::Pipeline;
use crate::status::StatusModel;

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
    let mut l2 = l2_sink(None, &config, &source).await?;
    let mut pipeline = Pipeline::start(config, directory)?;
    pipeline.publish(&source);
    if let Some(l2) = &l2 {
        l2.set(pipeline.l2().clone());
    }
    tracing::info!(
        node = %pipeline.config().node.name,
        peers = pipeline.config().bgp.peers.len(),
        services = pipeline.config().services.len(),
        "ferrolb running"
    );
    loop {
        tokio::select! {
            _ = hup.recv() => {
                let new = reload(path, pipeline.config());
                source.count_reload(new.is_some());
                if let Some(new) = new {
                    if let Some(l) = &listener {
                        l.set_keys(&new.bgp.peers);
                    }
                    match l2_sink(l2.take(), &new, &source).await {
                        Ok(sink) => l2 = sink,
                        Err(e) => tracing::error!("{e}; L2 addresses are not answered"),
                    }
                    if let Err(e) = pipeline.reconfigure(new).await {
                        tracing::error!("{e}; assignments may move on the next restart");
                    }
                    pipeline.publish(&source);
                    if let Some(l2) = &l2 {
                        l2.set(pipeline.l2().clone());
                    }
                }
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    if let Some(l2) = l2 {
        tracing::info!("shutting down: handing L2 addresses over");
        l2.shutdown(HANDOVER_DEADLINE).await;
    }
    tracing::info!("shutting down: withdrawing routes and closing sessions");
    let drain = std::time::Duration::from_secs(pipeline.config().bgp.graceful_shutdown_time.into());
    pipeline.shutdown(drain).await;
    Ok(())
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

/// Loads the config again; on error logs every problem and keeps the running config.
fn reload(path: &Path, current: &Config) -> Option<Config> {
    match config::load(path) {
        Ok(new) => {
            if new.bgp.listen != current.bgp.listen || new.http.listen != current.http.listen {
                tracing::warn!("listen addresses changed; they take effect after a restart");
            }
            tracing::info!(path = %path.display(), "configuration reloaded");
            Some(new)
        }
        Err(errors) => {
            for e in &errors.0 {
                tracing::error!("{e}");
            }
            tracing::error!(
                errors = errors.0.len(),
                "configuration NOT reloaded; still running the previous one"
            );
            None
        }
    }
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
