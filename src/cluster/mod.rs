//! Membership and liveness of the ferrolb speakers of one L2 domain (`[cluster]`), over
//! chitchat: scuttlebutt gossip on UDP with a phi-accrual failure detector. Each node gossips
//! its [`NodeInfo`] (the L2 addresses it could answer for, those it answers for, whether it is
//! leaving) as one chitchat key per address; every node follows the [`View`] of the live nodes,
//! from which the L2 responder decides (rendezvous hash) who answers which address.
//!
//! - `keys.rs`: [`NodeInfo`] ⇄ chitchat keys, and the diff a [`Cluster::publish`] applies (pure).
//! - `view.rs`: the [`View`] from chitchat's live nodes, one entry per name (pure).
//! - `runtime.rs`: [`Cluster`], the tokio task between chitchat and its users.
//!
//! Liveness is the DESIGN.md L2 rule: it comes from this layer, never from a Kubernetes Lease,
//! because a Lease cannot expire in under a second. See [`Tuning`] for the numbers.

mod keys;
mod runtime;
mod view;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

pub use runtime::Cluster;

/// The default `[cluster] listen`.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 7946);

/// How this node joins the cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// This node's name (chitchat `node_id`); unique in the cluster.
    pub node: String,
    /// `[cluster] listen`, default [`DEFAULT_LISTEN`]. Port 0 is refused: chitchat binds the
    /// socket itself and peers must know the port.
    pub listen: SocketAddr,
    /// The address others reach us at. `None`: `listen` if its IP is specified, else the local
    /// address the kernel picks towards the first seed, else an error.
    pub advertise: Option<SocketAddr>,
    /// `[cluster] members`.
    pub seeds: Vec<SocketAddr>,
    pub tuning: Tuning,
}

/// What a node tells the others.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct NodeInfo {
    /// L2 addresses this node could answer for.
    pub eligible: BTreeSet<IpAddr>,
    /// The ones it answers for right now.
    pub answering: BTreeSet<IpAddr>,
    /// Graceful stop in progress: hand my addresses over.
    pub leaving: bool,
}

/// Live nodes (including this one) by node name. A node restarted with the same name (new
/// chitchat generation) appears once, with its newest generation.
pub type View = BTreeMap<String, NodeInfo>;

/// Gossip and failure-detector settings.
///
/// chitchat's phi is `elapsed since the last heartbeat / mean heartbeat interval` (not the
/// log form of the paper), so a node is declared dead `phi_threshold × mean` after the last
/// heartbeat we saw from it. The mean is that of the intervals between *observed* heartbeat
/// increases: a node's heartbeat goes up on every message it handles and every round, and we
/// see it in every digest (SYN, SYN-ACK) from any node, so with 3 nodes and one round per
/// `gossip_interval` we see one several times per round (the mean is measured below).
/// chitchat re-evaluates liveness only at the end of each gossip round
/// (`Server::gossip_multiple` → `update_nodes_liveness`, crate-private), so detection takes
/// `phi_threshold × mean` plus up to one `gossip_interval`.
///
/// Defaults (LAN, measured with `examples/cluster_probe.rs`, 3 member processes on loopback on
/// the 2-core build machine shared with other builds): see [`Tuning::default`].
#[derive(Debug, Clone, PartialEq)]
pub struct Tuning {
    /// Period of gossip rounds (each round: heartbeat, SYN to up to 3 live nodes, maybe one
    /// dead and one seed, then the liveness evaluation).
    pub gossip_interval: Duration,
    /// Dead when `elapsed / mean interval` exceeds this.
    pub phi_threshold: f64,
    /// Prior mean interval (weight 5 samples) before real samples dominate.
    pub initial_interval: Duration,
    /// Observed intervals longer than this are left out of the mean.
    pub max_interval: Duration,
    /// How many intervals the mean is taken over.
    pub sampling_window_size: usize,
    /// How long a dead node's state is kept before it is forgotten.
    pub dead_node_grace_period: Duration,
    /// How long tombstones of deleted keys (addresses) are kept.
    pub marked_for_deletion_grace_period: Duration,
}

impl Default for Tuning {
    /// The LAN values, measured with 3 members (`cluster_probe kill 3 20`, each member killed
    /// with SIGKILL; 40 observations): gone from the other views 299 ms min, 400 ms median,
    /// 499 ms max after the kill. chitchat's own timeout (`phi_threshold × mean`) read 300–385
    /// ms, so the mean observed heartbeat interval is 38–48 ms; the rest is the wait for the
    /// next round's liveness check, which is why the times fall on 300/400/500 ms.
    /// The same 3-member run under `stress-ng --cpu 2`: 299 / 400 / 496 ms.
    /// With 5 members (`kill 5 10`, 40 observations): 299 / 412 / 599 ms, timeouts 257–497 ms.
    /// False deaths: 0 in 300 s with 3 members under `stress-ng --cpu 2` (plus a clippy run
    /// part of the time; timeouts read 334–399 ms), and 0 in 300 s with 5 members under
    /// `stress-ng --cpu 4` (two hogs per core, plus `cargo test`/`clippy` part of the time;
    /// timeouts 302–478 ms).
    ///
    /// - `gossip_interval` 100 ms: liveness is only re-evaluated once per round, so this is
    ///   the detection granularity; 100 ms keeps the worst case at 500 ms for ~20 small SYN /
    ///   SYN-ACK / ACK datagrams per node per second at 3 nodes.
    /// - `phi_threshold` 8: with the ~40–48 ms mean, 320–385 ms without any heartbeat. The
    ///   normal longest gap is about one round (phi ≈ 2–2.5), so a node must be silent (or
    ///   we must stall) for ~3 rounds before it is declared dead.
    /// - `initial_interval` 50 ms: close to the measured mean, so a new member is judged with
    ///   about the right timeout from its first heartbeats (the prior weighs 5 samples;
    ///   chitchat's 5 s default would leave a fresh member undetected for ~40 s).
    /// - `max_interval` 1 s: one long gap (a stall, a healed partition) stays out of the mean
    ///   instead of inflating the timeout for the next window.
    /// - `sampling_window_size` 1000: about 40 s of intervals.
    /// - `dead_node_grace_period` 10 min: a dead generation is left out of digests after half
    ///   of it (5 min) and forgotten after it. A restart comes back at once whatever this is,
    ///   as a new generation (the start time); the same generation back from a partition
    ///   shorter than this keeps its state. chitchat remembers 5,000 forgotten nodes so stale
    ///   gossip cannot bring one back.
    /// - `marked_for_deletion_grace_period` 10 min: tombstones of deleted address keys; a peer
    ///   that missed deletions for longer is reset to the full state (correct, one full copy).
    ///
    /// The mean could shrink as the cluster grows (more digests per round carry each
    /// heartbeat), and with it the detection time and the margin against stalls; at 5 members
    /// it had not (above). Not measured beyond 5, nor across real hosts.
    fn default() -> Tuning {
        Tuning {
            gossip_interval: Duration::from_millis(100),
            phi_threshold: 8.0,
            initial_interval: Duration::from_millis(50),
            max_interval: Duration::from_secs(1),
            sampling_window_size: 1000,
            dead_node_grace_period: Duration::from_secs(600),
            marked_for_deletion_grace_period: Duration::from_secs(600),
        }
    }
}

/// Why the cluster layer could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("[cluster] listen {listen}: port 0 is not supported, peers must know the port")]
    ListenPortZero { listen: SocketAddr },
    #[error(
        "[cluster] cannot tell the advertise address: listen {listen} has no specific IP and \
         there is no seed to find the local address towards; set [cluster] advertise"
    )]
    NoAdvertise { listen: SocketAddr },
    #[error("[cluster] cannot find the local address towards seed {seed}: {source}")]
    Route {
        seed: SocketAddr,
        source: std::io::Error,
    },
    #[error("[cluster] cannot listen on {listen}/UDP: {reason}")]
    Bind { listen: SocketAddr, reason: String },
}

impl ClusterError {
    /// Label for a metric.
    pub fn label(&self) -> &'static str {
        match self {
            ClusterError::ListenPortZero { .. } => "listen_port_zero",
            ClusterError::NoAdvertise { .. } => "no_advertise",
            ClusterError::Route { .. } => "route",
            ClusterError::Bind { .. } => "bind",
        }
    }
}
