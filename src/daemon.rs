//! `ferrolb run`: loads the config, starts the listener, the speaker and the HTTP endpoint, and
//! handles SIGHUP (reload) and SIGTERM/SIGINT (withdraw, Cease, exit 0).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use tokio::signal::unix::{signal, SignalKind};

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::bgp::listener::{Directory, Listener};
use crate::bgp::status::StatusCell;
use crate::bgp::table::covers;
use crate::config::{self, Config, ConfigErrors};
use crate::http::{self, ServiceSnapshot, StatusReport, StatusSource};
use crate::pipeline::Pipeline;

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
    /// The Kubernetes API cannot be used (exit code 2).
    #[error("{0}")]
    Kubernetes(String),
    /// A runtime failure such as a port that cannot be bound (exit code 2).
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

impl DaemonError {
    /// The process exit code for this error (DESIGN.md: 1 invalid input, 2 runtime failure).
    pub fn exit_code(&self) -> i32 {
        match self {
            DaemonError::Config(_) | DaemonError::State(_) | DaemonError::Unsupported(_) => 1,
            DaemonError::Io { .. } | DaemonError::Kubernetes(_) => 2,
        }
    }
}

/// What `/status` and `/readyz` show; updated by the daemon loop (standalone) or the
/// Kubernetes speaker loop.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub node: String,
    pub services: Vec<ServiceSnapshot>,
    pub cells: Vec<StatusCell>,
    /// False until the node knows what to announce (Kubernetes: every watch has synced).
    pub ready: bool,
}

pub(crate) struct SharedSource(pub Mutex<Shared>);

impl StatusSource for SharedSource {
    fn report(&self) -> StatusReport {
        let Ok(shared) = self.0.lock() else {
            return StatusReport {
                node: String::new(),
                sessions: Vec::new(),
                services: Vec::new(),
            };
        };
        let mut sessions = Vec::new();
        let mut announced = std::collections::BTreeSet::new();
        for cell in &shared.cells {
            if let Ok(s) = cell.lock() {
                sessions.push(s.snapshot());
                announced.extend(s.announced.keys().copied());
            }
        }
        let services = shared
            .services
            .iter()
            .map(|s| ServiceSnapshot {
                announced_by: announced_by(&shared.node, &s.addresses, &announced),
                ..s.clone()
            })
            .collect();
        StatusReport {
            node: shared.node.clone(),
            sessions,
            services,
        }
    }

    fn ready(&self) -> bool {
        self.0.lock().is_ok_and(|s| s.ready)
    }
}

/// The nodes announcing a service: this node when at least one session carries one of its
/// addresses right now (what the routers have from us, not what the config asks for).
fn announced_by(node: &str, addresses: &[IpAddr], announced: &BTreeSet<IpNet>) -> Vec<String> {
    if addresses.iter().any(|a| covers(announced, *a)) {
        vec![node.to_string()]
    } else {
        Vec::new()
    }
}

fn publish(source: &SharedSource, pipeline: &Pipeline) {
    if let Ok(mut shared) = source.0.lock() {
        shared.node = pipeline.config().node.name.clone();
        shared.services = pipeline
            .resolved()
            .iter()
            .map(|s| ServiceSnapshot {
                name: s.name.clone(),
                addresses: s.addresses.clone(),
                pool: s.pool.clone(),
                announced_by: Vec::new(),
                mode: "bgp".to_string(),
            })
            .collect();
        shared.cells = pipeline.speaker().status_cells();
        shared.ready = true;
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
    let listener = match config.bgp.listen {
        Some(addr) => {
            let l = Listener::bind(addr, &config.bgp.peers)
                .map_err(io(format!("cannot listen for BGP on {addr}")))?;
            tracing::info!(%addr, "listening for BGP connections");
            Some(Arc::new(l))
        }
        None => None,
    };
    if let Some(l) = &listener {
        tokio::spawn(l.clone().run(directory.clone()));
    }
    let source = Arc::new(SharedSource(Mutex::new(Shared::default())));
    if let Some(addr) = config.http.listen {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(io(format!("cannot listen for HTTP on {addr}")))?;
        tracing::info!(%addr, "serving /status, /healthz, /readyz");
        tokio::spawn(http::serve(l, source.clone()));
    }

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
        return crate::watch::run::run(config, directory, listener, source, stop).await;
    }
    let mut pipeline = Pipeline::start(config, directory)?;
    publish(&source, &pipeline);
    tracing::info!(
        node = %pipeline.config().node.name,
        peers = pipeline.config().bgp.peers.len(),
        services = pipeline.config().services.len(),
        "ferrolb running"
    );
    loop {
        tokio::select! {
            _ = hup.recv() => {
                if let Some(new) = reload(path, pipeline.config()) {
                    if let Some(l) = &listener {
                        l.set_keys(&new.bgp.peers);
                    }
                    if let Err(e) = pipeline.reconfigure(new).await {
                        tracing::error!("{e}; assignments may move on the next restart");
                    }
                    publish(&source, &pipeline);
                }
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    tracing::info!("shutting down: withdrawing routes and closing sessions");
    let drain = std::time::Duration::from_secs(pipeline.config().bgp.graceful_shutdown_time.into());
    pipeline.shutdown(drain).await;
    Ok(())
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

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn a_service_is_announced_by_this_node_only_while_a_session_carries_it() {
        let mut carried = BTreeSet::new();
        let addrs = [ip("198.51.100.10"), ip("2001:db8:100::10")];
        assert!(announced_by("node-a", &addrs, &carried).is_empty());
        carried.insert(IpNet::from(ip("2001:db8:100::10")));
        assert_eq!(announced_by("node-a", &addrs, &carried), vec!["node-a"]);
        let aggregate = BTreeSet::from(["198.51.100.0/24".parse().expect("p")]);
        assert_eq!(announced_by("node-a", &addrs, &aggregate), vec!["node-a"]);
    }

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
