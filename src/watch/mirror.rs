//! The mirror of the cluster: kube-rs reflectors (watcher + store, with back-off) and the client.
//!
//! - Reflectors (kube-rs watcher + store, with back-off) mirror Nodes and Namespaces of the
//!   whole cluster and the IPAddressPools, BGPPeers, BGPAdvertisements, L2Advertisements,
//!   BFDProfiles and Secrets (BGPPeer passwords) of `[kubernetes] namespace`. Nothing is
//!   assigned, announced or withdrawn, and `/readyz` says not ready, until every watch (these
//!   and the two below) has listed once. The stores keep only the fields some decision reads
//!   ([`lean`]): not managedFields, last-applied copies or Node images.
//! - Services and EndpointSlices (one or more per Service) are not kept as objects at all: a
//!   [`compact`] store of our own holds a record per object, made as its watch event arrives.
//!   A Service's [`record::ServiceRecord`] is its key, uid, creation time, type and class, our
//!   annotations, labels, the few spec fields the allocator reads and its status addresses; an
//!   EndpointSlice's [`compact::ReadySlice`] its Service and the nodes it is ready on.
//! - Every node is a speaker ([`speak`]): it announces what Service status says, through the
//!   sessions its BGPPeers give it, and keeps one `ServiceAnnouncement` per Service it is
//!   announcing ([`super::report`]).
//! - One node at a time is the allocator ([`super::allocate`]), elected with a Lease.
//! - When the API server goes away the stores keep their last contents: the speaker keeps
//!   announcing what it last knew. The watchers retry with back-off and relist on 410 Gone; a
//!   relist replaces a store's contents in one step, so nothing valid is withdrawn on the way.
//! - For the kinds the allocator reads (Services, IPAddressPools, Nodes, Namespaces) a
//!   [`Feed`] also says *which* objects changed: the key of every object applied or deleted,
//!   and "relisted" when a watch listed anew (the consumer then re-decides from scratch).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Node, Secret};
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Client;
use tokio::sync::watch;

use super::crds::{BFDProfile, BGPAdvertisement, BGPPeer, IPAddressPool, L2Advertisement};
use super::Error;
use crate::config::KubernetesConfig;

pub mod compact;
mod lean;
pub mod record;
use compact::{Compact, ReadySlice, Record};
use lean::Lean;
use record::ServiceRecord;

/// The mirrored cluster state.
#[derive(Clone)]
pub struct Cluster {
    /// A record per Service ([`ServiceRecord`]), by (namespace, name).
    pub services: Compact<ServiceRecord>,
    /// Per EndpointSlice: its Service and the nodes where it has a ready endpoint.
    pub slices: Compact<ReadySlice>,
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
    /// Which Services, IPAddressPools, Nodes and Namespaces changed (for the allocator).
    pub feed: Feed,
}

/// (namespace, name) of an object; no namespace for cluster-scoped kinds.
pub type Key = (Option<String>, String);

/// What changed of one kind since the consumer last took it.
#[derive(Debug, Default)]
pub struct Touched {
    /// A watch listed anew (its store was replaced): decide again from scratch.
    pub relisted: bool,
    /// The objects applied or deleted since.
    pub keys: BTreeSet<Key>,
}

impl Touched {
    fn note<K: kube::Resource>(&mut self, event: &watcher::Event<K>) {
        match event {
            watcher::Event::Apply(o) | watcher::Event::Delete(o) => {
                let meta = o.meta();
                self.keys.insert((
                    meta.namespace.clone(),
                    meta.name.clone().unwrap_or_default(),
                ));
            }
            watcher::Event::InitDone => self.relisted = true,
            watcher::Event::Init | watcher::Event::InitApply(_) => {}
        }
    }

    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        !self.relisted && self.keys.is_empty()
    }
}

/// The changes of the kinds the allocator reads.
#[derive(Debug, Default)]
pub struct Changes {
    pub services: Touched,
    pub pools: Touched,
    pub nodes: Touched,
    pub namespaces: Touched,
}

/// Which objects changed, per kind, until the consumer takes them; a key is kept once however
/// often it changes, so what is held is bounded by what changed in between.
#[derive(Clone, Default)]
pub struct Feed(Arc<Mutex<Changes>>);

impl Feed {
    /// The changes since the last call.
    pub fn take(&self) -> Changes {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Changes> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A note-taker for one kind, for [`reflect_noting`].
    fn of<K: kube::Resource>(
        &self,
        kind: fn(&mut Changes) -> &mut Touched,
    ) -> impl Fn(&watcher::Event<K>) + Send + 'static {
        let feed = self.clone();
        move |e| kind(&mut feed.lock()).note(e)
    }
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
        let feed = Feed::default();
        Cluster {
            services: reflect_compact_noting(
                Api::all(client.clone()),
                "services",
                changed,
                feed.of(|c| &mut c.services),
            ),
            slices: reflect_compact_noting(
                Api::all(client.clone()),
                "endpointslices",
                changed,
                |_: &watcher::Event<_>| {},
            ),
            nodes: reflect_noting(
                Api::all(client.clone()),
                "nodes",
                changed,
                feed.of(|c| &mut c.nodes),
            ),
            namespaces: reflect_noting(
                Api::all(client.clone()),
                "namespaces",
                changed,
                feed.of(|c| &mut c.namespaces),
            ),
            pools: reflect_noting(
                Api::namespaced(client.clone(), namespace),
                "ipaddresspools",
                changed,
                feed.of(|c| &mut c.pools),
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
            feed,
        }
    }

    /// Returns once every store has listed once.
    pub async fn synced(&self) {
        // A store only fails to become ready when its writer is gone, which ends the daemon
        // anyway; nothing to do with that error here.
        self.services.wait_until_ready().await;
        self.slices.wait_until_ready().await;
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
    K: Lean,
{
    reflect_noting(api, what, changed, |_: &watcher::Event<K>| {})
}

/// [`reflect`], and every event (once the store shows it) is shown to `note` too.
fn reflect_noting<K>(
    api: Api<K>,
    what: &'static str,
    changed: &watch::Sender<u64>,
    note: impl Fn(&watcher::Event<K>) + Send + 'static,
) -> Store<K>
where
    K: Lean,
{
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(
        writer,
        watcher(api, watcher::Config::default())
            .modify(K::lean)
            .backoff(WatchBackoff::default()),
    );
    drive(stream, what, changed, note);
    reader
}

/// Mirrors one kind into a [`Compact`] store of its records (the objects themselves are
/// dropped as they arrive); every event (once the store shows it) is shown to `note` too, and
/// bumps `changed`.
fn reflect_compact_noting<T: Record>(
    api: Api<T::Kind>,
    what: &'static str,
    changed: &watch::Sender<u64>,
    note: impl Fn(&watcher::Event<T::Kind>) + Send + 'static,
) -> Compact<T> {
    let (reader, mut writer) = compact::store::<T>();
    let stream = watcher(api, watcher::Config::default()).backoff(WatchBackoff::default());
    drive(stream, what, changed, move |e: &watcher::Event<T::Kind>| {
        writer.apply(e);
        note(e);
    });
    reader
}

/// Runs a watch stream until it ends: each event goes to `note`, then bumps `changed`;
/// failures are logged once until the watch resumes.
fn drive<K, S>(
    stream: S,
    what: &'static str,
    changed: &watch::Sender<u64>,
    mut note: impl FnMut(&watcher::Event<K>) + Send + 'static,
) where
    K: Send + 'static,
    S: futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
{
    let changed = changed.clone();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        let mut failing = false;
        while let Some(event) = stream.next().await {
            match event {
                Ok(e) => {
                    note(&e);
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
    use k8s_openapi::api::core::v1::Service;
    use kube::runtime::utils::Backoff;

    #[test]
    fn the_feed_names_applied_and_deleted_objects_once_and_a_relist() {
        let feed = Feed::default();
        let note = feed.of::<Service>(|c| &mut c.services);
        let svc = |name: &str| {
            let mut s = Service::default();
            s.metadata.name = Some(name.into());
            s.metadata.namespace = Some("shop".into());
            s
        };
        note(&watcher::Event::Apply(svc("web")));
        note(&watcher::Event::Apply(svc("web")));
        note(&watcher::Event::Delete(svc("db")));
        note(&watcher::Event::Init);
        note(&watcher::Event::InitApply(svc("api")));
        let c = feed.take();
        let keys: Vec<Key> = c.services.keys.iter().cloned().collect();
        assert_eq!(
            keys,
            [
                (Some("shop".to_string()), "db".to_string()),
                (Some("shop".to_string()), "web".to_string())
            ]
        );
        assert!(!c.services.relisted && c.pools.is_empty());
        note(&watcher::Event::InitDone);
        let c = feed.take();
        assert!(c.services.relisted && c.services.keys.is_empty());
        assert!(feed.take().services.is_empty(), "taken means gone");
    }

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
