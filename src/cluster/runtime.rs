//! [`Cluster`]: the chitchat server of this node and one tokio task beside it that
//!
//! - applies what [`Cluster::publish`] asks (the latest [`NodeInfo`] wins) as a key diff on
//!   this node's chitchat state,
//! - rebuilds the [`View`] whenever chitchat's live-nodes watcher fires (a node became live or
//!   dead, or a live node's max version changed) or this node published, and sends it when it
//!   differs,
//! - keeps gossiping to the seeds given to [`Cluster::add_seeds`] every second until they are
//!   members (chitchat's own seed list is fixed at start; its `gossip(addr)` is one SYN that
//!   may be lost).
//!
//! Peers' keys are untrusted: a key that does not decode is ignored and counted in a debug log.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chitchat::transport::UdpTransport;
use chitchat::{
    spawn_chitchat, Chitchat, ChitchatConfig, ChitchatHandle, ChitchatId, FailureDetectorConfig,
    NodeState, ProtocolVersion,
};
use tokio::sync::{mpsc, watch, Mutex};
use tokio::task::JoinHandle;

use super::view::{self, Member};
use super::{keys, ClusterConfig, ClusterError, NodeInfo, Tuning, View};

/// The chitchat cluster id: nodes with another one refuse our gossip.
const CLUSTER_ID: &str = "ferrolb";
/// How often seeds from [`Cluster::add_seeds`] that are not members yet are gossiped to.
const SEED_RETRY: Duration = Duration::from_secs(1);

/// This node's membership in the cluster. Dropping it stops the node without `leave`'s wait:
/// the task ends when its [`Cluster::publish`] channel closes, and with it the last handle of
/// the chitchat server, whose loop ends when its command channel closes. chitchat sends no
/// goodbye either way; the others see the node dead one detection time later.
pub struct Cluster {
    handle: Arc<ChitchatHandle>,
    advertise: SocketAddr,
    desired: watch::Sender<NodeInfo>,
    view: watch::Receiver<View>,
    seeds: mpsc::UnboundedSender<Vec<SocketAddr>>,
    task: JoinHandle<()>,
}

impl Cluster {
    /// Binds the UDP socket and starts gossiping to the seeds.
    pub async fn start(config: ClusterConfig) -> Result<Cluster, ClusterError> {
        let advertise = advertise_addr(&config)?;
        let chitchat_id = ChitchatId::new(config.node.clone(), generation(), advertise);
        let chitchat_config = chitchat_config(&config, chitchat_id);
        let handle = spawn_chitchat(chitchat_config, Vec::new(), &UdpTransport)
            .await
            .map_err(|err| ClusterError::Bind {
                listen: config.listen,
                reason: format!("{err:#}"),
            })?;
        let handle = Arc::new(handle);
        let (desired, desired_rx) = watch::channel(NodeInfo::default());
        let mut first = View::new();
        first.insert(config.node.clone(), NodeInfo::default());
        let (view_tx, view) = watch::channel(first);
        let (seeds, seeds_rx) = mpsc::unbounded_channel();
        let task = Task {
            name: config.node,
            handle: handle.clone(),
            chitchat: handle.chitchat(),
            published: NodeInfo::default(),
            extra_seeds: BTreeSet::new(),
            view: view_tx,
        };
        let task = tokio::spawn(task.run(desired_rx, seeds_rx));
        Ok(Cluster {
            handle,
            advertise,
            desired,
            view,
            seeds,
            task,
        })
    }

    /// Tells the cluster this node's state; only the keys that changed are gossiped.
    pub fn publish(&self, me: &NodeInfo) {
        self.desired.send_if_modified(|current| {
            if current == me {
                return false;
            }
            *current = me.clone();
            true
        });
    }

    /// The live nodes; changes whenever liveness or a live node's [`NodeInfo`] changes. This
    /// node is always in it.
    pub fn subscribe(&self) -> watch::Receiver<View> {
        self.view.clone()
    }

    /// More addresses to join through (Kubernetes mode learns Node InternalIPs later).
    pub fn add_seeds(&self, seeds: &[SocketAddr]) {
        // The task ends only in `leave`, which consumes `self`.
        let _ = self.seeds.send(seeds.to_vec());
    }

    /// The address the others reach this node at.
    pub fn advertise(&self) -> SocketAddr {
        self.advertise
    }

    /// chitchat's current detection timeout of each live peer (`phi_threshold` × its mean
    /// observed heartbeat interval; add up to one gossip round for the liveness check), by
    /// name, newest generation. For the probe and for metrics; not part of the view.
    pub async fn detection_timeouts(&self) -> BTreeMap<String, Duration> {
        let chitchat = self.handle.chitchat();
        let chitchat = chitchat.lock().await;
        let mut newest: BTreeMap<String, (u64, Duration)> = BTreeMap::new();
        for id in chitchat.live_nodes() {
            let Some(timeout) = chitchat.failure_detection_timeout(id) else {
                continue;
            };
            let entry = newest
                .entry(id.node_id.to_string())
                .or_insert((id.generation_id, timeout));
            if id.generation_id >= entry.0 {
                *entry = (id.generation_id, timeout);
            }
        }
        newest.into_iter().map(|(name, (_, t))| (name, t)).collect()
    }

    /// Stops gossiping. The others see this node dead one detection time later; publish
    /// `leaving` first to hand addresses over before that.
    pub async fn leave(self) {
        self.task.abort();
        let _ = self.task.await;
        match Arc::try_unwrap(self.handle) {
            Ok(handle) => {
                if let Err(err) = handle.shutdown().await {
                    tracing::warn!(error = %format!("{err:#}"), "cluster: chitchat server ended with an error");
                }
            }
            Err(handle) => handle.abort(),
        }
    }
}

/// `advertise`, else `listen` if its IP is specified, else the local address towards the first
/// seed (a connected UDP socket sends nothing), with the listen port.
fn advertise_addr(config: &ClusterConfig) -> Result<SocketAddr, ClusterError> {
    let listen = config.listen;
    if listen.port() == 0 {
        return Err(ClusterError::ListenPortZero { listen });
    }
    if let Some(advertise) = config.advertise {
        return Ok(advertise);
    }
    if !listen.ip().is_unspecified() {
        return Ok(listen);
    }
    let seed = *config
        .seeds
        .first()
        .ok_or(ClusterError::NoAdvertise { listen })?;
    let route = |seed: SocketAddr| -> std::io::Result<SocketAddr> {
        let any: SocketAddr = match seed {
            SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = UdpSocket::bind(any)?;
        socket.connect(seed)?;
        socket.local_addr()
    };
    let local = route(seed).map_err(|source| ClusterError::Route { seed, source })?;
    Ok(SocketAddr::new(local.ip(), listen.port()))
}

/// A new generation per start, increasing across restarts: the start time in nanoseconds.
fn generation() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    u64::try_from(nanos).unwrap_or(u64::MAX)
}

fn chitchat_config(config: &ClusterConfig, chitchat_id: ChitchatId) -> ChitchatConfig {
    let Tuning {
        gossip_interval,
        phi_threshold,
        initial_interval,
        max_interval,
        sampling_window_size,
        dead_node_grace_period,
        marked_for_deletion_grace_period,
    } = config.tuning.clone();
    ChitchatConfig {
        chitchat_id,
        cluster_id: CLUSTER_ID.to_string(),
        gossip_interval,
        listen_addr: config.listen,
        seed_nodes: config.seeds.iter().map(SocketAddr::to_string).collect(),
        failure_detector_config: FailureDetectorConfig {
            phi_threshold,
            sampling_window_size: sampling_window_size.max(1),
            max_interval,
            initial_interval,
            dead_node_grace_period,
        },
        marked_for_deletion_grace_period,
        catchup_callback: None,
        extra_liveness_predicate: None,
        protocol_version: ProtocolVersion::V0,
    }
}

struct Task {
    name: String,
    handle: Arc<ChitchatHandle>,
    chitchat: Arc<Mutex<Chitchat>>,
    published: NodeInfo,
    extra_seeds: BTreeSet<SocketAddr>,
    view: watch::Sender<View>,
}

impl Task {
    async fn run(
        mut self,
        mut desired: watch::Receiver<NodeInfo>,
        mut seeds: mpsc::UnboundedReceiver<Vec<SocketAddr>>,
    ) {
        let mut live = self.chitchat.lock().await.live_nodes_watcher();
        let ended = self.handle.termination_watcher();
        tokio::pin!(ended);
        let mut retry = tokio::time::interval(SEED_RETRY);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                changed = live.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                changed = desired.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let me = desired.borrow_and_update().clone();
                    self.apply(me).await;
                }
                added = seeds.recv() => match added {
                    Some(added) => {
                        self.extra_seeds.extend(added);
                        self.gossip_seeds().await;
                    }
                    None => return,
                },
                result = &mut ended => {
                    // Only a broken socket ends chitchat's loop on its own; the view would
                    // freeze, so say so loudly.
                    let reason = match result {
                        Ok(()) => "stopped".to_string(),
                        Err(err) => format!("{err:#}"),
                    };
                    tracing::error!(%reason, "cluster: the chitchat server ended; membership is no longer followed");
                    return;
                }
                _ = retry.tick() => {
                    self.gossip_seeds().await;
                    continue;
                }
            }
            let live_nodes = live.borrow_and_update().clone();
            self.send_view(&live_nodes);
        }
    }

    /// Sets and deletes this node's keys to go from what was published to `me`.
    async fn apply(&mut self, me: NodeInfo) {
        let diff = keys::diff(&self.published, &me);
        if !diff.is_empty() {
            let mut chitchat = self.chitchat.lock().await;
            let state = chitchat.self_node_state();
            for (key, value) in diff.set {
                state.set(key, value);
            }
            for key in diff.delete {
                state.delete(&key);
            }
        }
        self.published = me;
    }

    /// The view of chitchat's live nodes; this node's entry is what it last published (the
    /// watcher's copy of our own state is only refreshed once per gossip round).
    fn send_view(&self, live: &BTreeMap<ChitchatId, NodeState>) {
        let members = live.iter().map(|(id, state)| Member {
            name: &id.node_id,
            generation: id.generation_id,
            keys: state.key_values().collect(),
        });
        let (mut view, unknown) = view::build(members);
        if unknown > 0 {
            tracing::debug!(unknown, "cluster: keys from peers not understood, ignored");
        }
        view.insert(self.name.clone(), self.published.clone());
        self.view.send_if_modified(|current| {
            if *current == view {
                return false;
            }
            *current = view;
            true
        });
    }

    /// Gossips to every extra seed that is not a known node yet.
    async fn gossip_seeds(&mut self) {
        if self.extra_seeds.is_empty() {
            return;
        }
        let known: BTreeSet<SocketAddr> = {
            let chitchat = self.chitchat.lock().await;
            chitchat
                .live_nodes()
                .map(|id| id.gossip_advertise_addr)
                .collect()
        };
        for seed in self.extra_seeds.iter().filter(|seed| !known.contains(seed)) {
            if let Err(err) = self.handle.gossip(*seed) {
                tracing::debug!(%seed, error = %format!("{err:#}"), "cluster: gossip to seed failed");
            }
        }
    }
}
