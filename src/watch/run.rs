//! `ferrolb run` in Kubernetes mode: the I/O around the pure pieces of this module.
//!
//! - Reflectors (kube-rs watcher + store, with back-off) mirror Services, EndpointSlices,
//!   Nodes and Namespaces of the whole cluster and the IPAddressPools, BGPPeers, BGPAdvertisements and Secrets
//!   (BGPPeer passwords) of `[kubernetes] namespace`. Nothing is assigned, announced or withdrawn, and `/readyz` says
//!   not ready, until every one of them has listed once.
//! - Every node is a speaker ([`speak`]): it announces what Service status says, through the
//!   sessions its BGPPeers give it, and keeps one `ServiceAnnouncement` per Service it is
//!   announcing ([`super::report`]).
//! - One node at a time is the allocator ([`super::allocate`]), elected with a Lease.
//! - When the API server goes away the stores keep their last contents: the speaker keeps
//!   announcing what it last knew. The watchers retry with back-off and relist on 410 Gone; a
//!   relist replaces a store's contents in one step, so nothing valid is withdrawn on the way.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Client;
use tokio::sync::watch;

use super::announcer::{Announcer, Wanted};
use super::crds::{BGPAdvertisement, BGPPeer, IPAddressPool};
use super::{allocate, report, service, speaker};
use crate::bgp::listener::{Directory, Listener};
use crate::config::{Config, KubernetesConfig};
use crate::daemon::{DaemonError, SharedSource};
use crate::http::ServiceSnapshot;

/// Waits for SIGTERM/SIGINT.
pub type Stop = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The mirrored cluster state.
#[derive(Clone)]
pub struct Cluster {
    pub services: Store<Service>,
    pub slices: Store<EndpointSlice>,
    pub nodes: Store<Node>,
    /// For pools that select namespaces by label.
    pub namespaces: Store<Namespace>,
    pub pools: Store<IPAddressPool>,
    pub peers: Store<BGPPeer>,
    pub advertisements: Store<BGPAdvertisement>,
    /// Secrets of the configuration namespace (BGPPeer passwords).
    pub secrets: Store<Secret>,
}

/// The objects of a store, cloned.
pub fn all<K: Clone + kube::Resource + 'static>(store: &Store<K>) -> Vec<K>
where
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    store.state().iter().map(|o| (**o).clone()).collect()
}

impl Cluster {
    fn start(client: &Client, namespace: &str, changed: &watch::Sender<u64>) -> Cluster {
        Cluster {
            services: reflect(Api::all(client.clone()), "services", changed),
            slices: reflect(Api::all(client.clone()), "endpointslices", changed),
            nodes: reflect(Api::all(client.clone()), "nodes", changed),
            namespaces: reflect(Api::all(client.clone()), "namespaces", changed),
            pools: reflect(
                Api::namespaced(client.clone(), namespace),
                "ipaddresspools",
                changed,
            ),
            peers: reflect(
                Api::namespaced(client.clone(), namespace),
                "bgppeers",
                changed,
            ),
            advertisements: reflect(
                Api::namespaced(client.clone(), namespace),
                "bgpadvertisements",
                changed,
            ),
            secrets: reflect(
                Api::namespaced(client.clone(), namespace),
                "secrets",
                changed,
            ),
        }
    }

    async fn synced(&self) {
        // A store only fails to become ready when its writer is gone, which ends the daemon
        // anyway; nothing to do with that error here.
        let _ = self.services.wait_until_ready().await;
        let _ = self.slices.wait_until_ready().await;
        let _ = self.nodes.wait_until_ready().await;
        let _ = self.namespaces.wait_until_ready().await;
        let _ = self.pools.wait_until_ready().await;
        let _ = self.peers.wait_until_ready().await;
        let _ = self.advertisements.wait_until_ready().await;
        let _ = self.secrets.wait_until_ready().await;
    }
}

/// Mirrors one kind into a store; every change bumps `changed`.
fn reflect<K>(api: Api<K>, what: &'static str, changed: &watch::Sender<u64>) -> Store<K>
where
    K: kube::Resource
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(
        writer,
        watcher(api, watcher::Config::default()).backoff(WatchBackoff::default()),
    );
    let changed = changed.clone();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        let mut failing = false;
        while let Some(event) = stream.next().await {
            match event {
                Ok(_) => {
                    if failing {
                        tracing::info!(what, "watch resumed");
                        failing = false;
                    }
                    changed.send_modify(|n| *n = n.wrapping_add(1));
                }
                Err(e) => {
                    if !failing {
                        let text = e.to_string();
                        let hint = if text.contains("404") {
                            " (is the CRD installed? kubectl apply -f deploy/crds.yaml)"
                        } else {
                            ""
                        };
                        tracing::warn!(
                            what,
                            "watch failed: {text}{hint}; retrying with back-off, keeping what was last known"
                        );
                    }
                    failing = true;
                }
            }
        }
    });
    reader
}

/// Back-off between failed watch or list attempts: 250 ms doubling to 5 s, plus up to a
/// quarter of jitter; reset by any successful event. kube's default (up to 30 s, reset only
/// after 2 min) made a 30 s API outage cost another ~50 s before the relist that its 410 Gone
/// asks for; a speaker should converge within seconds of the API server's return.
#[derive(Debug, Clone)]
pub struct WatchBackoff {
    next: Duration,
}

impl WatchBackoff {
    const FIRST: Duration = Duration::from_millis(250);
    const MAX: Duration = Duration::from_secs(5);
}

impl Default for WatchBackoff {
    fn default() -> Self {
        WatchBackoff { next: Self::FIRST }
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let base = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        // Jitter from the clock's nanoseconds: enough to spread pods that failed together.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Some(base + base / 4 * (nanos % 1000) / 1000)
    }
}

impl kube::runtime::utils::Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

/// Builds the Kubernetes client like kubectl: `[kubernetes] kubeconfig`, else `KUBECONFIG` or
/// `~/.kube/config`, else the in-cluster service account.
pub async fn client(k: &KubernetesConfig) -> Result<Client, String> {
    let config = match &k.kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| format!("kubeconfig {}: {e}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| format!("kubeconfig {}: {e}", path.display()))?
        }
        None => kube::Config::infer().await.map_err(|e| {
            format!("cannot find the cluster (KUBECONFIG, ~/.kube/config or the in-cluster service account): {e}")
        })?,
    };
    Client::try_from(config).map_err(|e| format!("cannot build the Kubernetes client: {e}"))
}

/// Runs Kubernetes mode until `stop`.
pub(crate) async fn run(
    config: Config,
    directory: Directory,
    listener: Option<Arc<Listener>>,
    source: Arc<SharedSource>,
    mut stop: Stop,
) -> Result<(), DaemonError> {
    let Some(k) = config.kubernetes.clone() else {
        return Err(DaemonError::Unsupported("no [kubernetes] table".into()));
    };
    if !config.services.is_empty() || !config.bgp.peers.is_empty() || !config.pools.is_empty() {
        tracing::warn!(
            "[[services]], [[bgp.peers]] and [[pools]] of node.toml are ignored in Kubernetes mode: \
             Services, BGPPeers and IPAddressPools come from the cluster"
        );
    }
    let client = client(&k).await.map_err(DaemonError::Kubernetes)?;
    let node = config.node.name.clone();
    let (changed, _) = watch::channel(0u64);
    let cluster = Cluster::start(&client, &k.namespace, &changed);
    if let Ok(mut s) = source.0.lock() {
        s.node = node.clone();
    }
    tracing::info!(%node, namespace = %k.namespace, "Kubernetes mode: waiting for every watch to sync");
    tokio::select! {
        _ = cluster.synced() => {}
        _ = &mut stop => return Ok(()),
    }
    tracing::info!("every watch has synced");

    let (stop_alloc, stop_rx) = watch::channel(false);
    let allocator = tokio::spawn(
        allocate::Allocating::new(client.clone(), cluster.clone(), &k, &node)
            .run(changed.subscribe(), stop_rx),
    );
    let (doing_tx, doing_rx) = watch::channel(BTreeMap::new());
    let (stop_report, stop_rx) = watch::channel(false);
    let reporter = tokio::spawn(
        report::Reporter::new(client.clone(), cluster.services.clone(), &node)
            .run(doing_rx, stop_rx),
    );

    let mut announcer = Announcer::start(config.clone(), directory);
    let mut problems = Vec::new();
    let mut changes = changed.subscribe();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut dirty = true;
    loop {
        // The cluster changed: recompute (the status cells /status reads are live). Every
        // second regardless: report what the sessions do, since session states and
        // Adj-RIB-Outs change without a cluster change.
        if std::mem::take(&mut dirty) {
            let wanted = wanted(&cluster, &config, &k, &mut problems);
            if let Some(l) = listener
                .as_ref()
                .filter(|_| wanted.peers != announcer.wanted().peers)
            {
                // TCP MD5 keys for sessions the peers open.
                l.set_keys(&wanted.peers);
            }
            announcer.apply(wanted).await;
            publish(&source, &announcer, &cluster, &k);
        }
        doing_tx.send_if_modified(|d| {
            let now = announcer.doing();
            let differs = *d != now;
            *d = now;
            differs
        });
        tokio::select! {
            _ = changes.changed() => {
                // Let a burst of watch events (a relist) land before acting on it.
                tokio::time::sleep(Duration::from_millis(20)).await;
                changes.borrow_and_update();
                dirty = true;
            }
            _ = tick.tick() => {}
            _ = &mut stop => break,
        }
    }
    tracing::info!("shutting down: releasing the Lease, withdrawing routes, closing sessions");
    let _ = stop_alloc.send(true);
    let _ = allocator.await;
    let drain = Duration::from_secs(config.bgp.graceful_shutdown_time.into());
    announcer.shutdown(drain).await;
    // Only now is nothing announced: the ServiceAnnouncements go last.
    let _ = stop_report.send(true);
    let _ = reporter.await;
    Ok(())
}

/// What this node's speaker should do, from the stores; logs each new problem once.
fn wanted(
    cluster: &Cluster,
    config: &Config,
    k: &KubernetesConfig,
    logged: &mut Vec<String>,
) -> Wanted {
    let node = &config.node.name;
    let labels = cluster
        .nodes
        .state()
        .iter()
        .find(|n| n.metadata.name.as_deref() == Some(node))
        .and_then(|n| n.metadata.labels.clone())
        .unwrap_or_default();
    let pools = all(&cluster.pools);
    let passwords = speaker::Passwords {
        namespace: k.namespace.clone(),
        by_secret: cluster
            .secrets
            .state()
            .iter()
            .filter_map(|s| {
                let name = s.metadata.name.clone()?;
                let bytes = s.data.as_ref()?.get("password")?;
                Some((name, String::from_utf8(bytes.0.clone()).ok()?))
            })
            .collect(),
    };
    let (peers, mut problems) =
        speaker::peers(&all(&cluster.peers), &labels, config.node.asn, &passwords);
    let (advertisements, more) =
        speaker::advertisements(&all(&cluster.advertisements), &pools, &labels);
    problems.extend(more);
    for p in problems.iter().filter(|p| !logged.contains(p)) {
        tracing::error!("{p}");
    }
    *logged = problems;
    let services = speaker::announcements(
        &all(&cluster.services),
        &all(&cluster.slices),
        &pools,
        &advertisements,
        node,
        &k.load_balancer_class,
    );
    Wanted {
        peers,
        advertisements,
        services,
    }
}

/// `/status`: every Service of ours with addresses (announced_by is filled from the sessions
/// when the report is made).
fn publish(source: &SharedSource, announcer: &Announcer, cluster: &Cluster, k: &KubernetesConfig) {
    let pools = all(&cluster.pools);
    let mut services: Vec<ServiceSnapshot> = cluster
        .services
        .state()
        .iter()
        .filter(|s| service::is_ours(s, &k.load_balancer_class))
        .filter_map(|s| {
            let addresses = service::ingress(s);
            let first = *addresses.first()?;
            Some(ServiceSnapshot {
                name: service::key(s),
                pool: speaker::pool_holding(&pools, first),
                addresses,
                announced_by: Vec::new(),
                mode: "bgp".into(),
            })
        })
        .collect();
    services.sort_by(|a, b| a.name.cmp(&b.name));
    if let Ok(mut s) = source.0.lock() {
        s.services = services;
        s.cells = announcer.speaker().status_cells();
        s.ready = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::utils::Backoff;

    #[test]
    fn watch_back_off_doubles_to_five_seconds_and_resets() {
        let mut b = WatchBackoff::default();
        let got: Vec<Duration> = b.by_ref().take(7).collect();
        let floors = [250, 500, 1000, 2000, 4000, 5000, 5000];
        for (d, floor) in got.iter().zip(floors) {
            let floor = Duration::from_millis(floor);
            assert!(*d >= floor && *d <= floor + floor / 4, "{got:?}");
        }
        b.reset();
        assert!(b.next().is_some_and(|d| d < Duration::from_millis(320)));
    }
}
