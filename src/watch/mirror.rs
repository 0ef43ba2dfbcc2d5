//! The mirror of the cluster: kube-rs reflectors (watcher + store, with back-off) and the client.
//!
//! - Reflectors (kube-rs watcher + store, with back-off) mirror Services, EndpointSlices,
//!   Nodes and Namespaces of the whole cluster and the IPAddressPools, BGPPeers, BGPAdvertisements,
//!   L2Advertisements, BFDProfiles and Secrets
//!   (BGPPeer passwords) of `[kubernetes] namespace`. Nothing is assigned, announced or withdrawn, and `/readyz` says
//!   not ready, until every one of them has listed once. The stores keep only the fields some
//!   decision reads ([`lean`]): at 10,000 Services the mirror holds names, labels, a few spec
//!   fields and status, not managedFields, last-applied copies or Node images.
//! - Every node is a speaker ([`speak`]): it announces what Service status says, through the
//!   sessions its BGPPeers give it, and keeps one `ServiceAnnouncement` per Service it is
//!   announcing ([`super::report`]).
//! - One node at a time is the allocator ([`super::allocate`]), elected with a Lease.
//! - When the API server goes away the stores keep their last contents: the speaker keeps
//!   announcing what it last knew. The watchers retry with back-off and relist on 410 Gone; a
//!   relist replaces a store's contents in one step, so nothing valid is withdrawn on the way.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Client;
use tokio::sync::watch;

use super::crds::{BFDProfile, BGPAdvertisement, BGPPeer, IPAddressPool, L2Advertisement};
use super::Error;
use crate::config::KubernetesConfig;

mod lean;
use lean::Lean;

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
    pub l2_advertisements: Store<L2Advertisement>,
    /// Timers of the BFD sessions of the BGPPeers that name them.
    pub bfd_profiles: Store<BFDProfile>,
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
    /// Starts a reflector per kind; every change bumps `changed`.
    pub fn start(client: &Client, namespace: &str, changed: &watch::Sender<u64>) -> Cluster {
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
            l2_advertisements: reflect(
                Api::namespaced(client.clone(), namespace),
                "l2advertisements",
                changed,
            ),
            bfd_profiles: reflect(
                Api::namespaced(client.clone(), namespace),
                "bfdprofiles",
                changed,
            ),
            secrets: reflect(
                Api::namespaced(client.clone(), namespace),
                "secrets",
                changed,
            ),
        }
    }

    /// Returns once every store has listed once.
    pub async fn synced(&self) {
        // A store only fails to become ready when its writer is gone, which ends the daemon
        // anyway; nothing to do with that error here.
        let _ = self.services.wait_until_ready().await;
        let _ = self.slices.wait_until_ready().await;
        let _ = self.nodes.wait_until_ready().await;
        let _ = self.namespaces.wait_until_ready().await;
        let _ = self.pools.wait_until_ready().await;
        let _ = self.peers.wait_until_ready().await;
        let _ = self.advertisements.wait_until_ready().await;
        let _ = self.l2_advertisements.wait_until_ready().await;
        let _ = self.bfd_profiles.wait_until_ready().await;
        let _ = self.secrets.wait_until_ready().await;
    }
}

/// Mirrors one kind into a store, each object cut down to what decisions read ([`Lean`]);
/// every change bumps `changed`.
fn reflect<K>(api: Api<K>, what: &'static str, changed: &watch::Sender<u64>) -> Store<K>
where
    K: kube::Resource
        + Lean
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
        watcher(api, watcher::Config::default())
            .modify(K::lean)
            .backoff(WatchBackoff::default()),
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
pub async fn client(k: &KubernetesConfig) -> Result<Client, Error> {
    let config = match &k.kubeconfig {
        Some(path) => {
            let bad = |e: String| Error::Kubeconfig {
                path: path.clone(),
                reason: e,
            };
            let kc = kube::config::Kubeconfig::read_from(path).map_err(|e| bad(e.to_string()))?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| bad(e.to_string()))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| Error::NoCluster(e.to_string()))?,
    };
    Client::try_from(config).map_err(|e| Error::Client(e.to_string()))
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
