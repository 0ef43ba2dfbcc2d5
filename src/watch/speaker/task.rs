//! The speaker task of one node in Kubernetes mode: reads the mirror, plans the desired state
//! ([`super::plan`]), hands it to the shared announcer and the BGP sink, and publishes the
//! status model (which the ServiceAnnouncements and `/status` read).
//!
//! A change of Services only touches the prefixes of those Services; a change of peers or
//! advertisements rebuilds the table and reconfigures the sessions (unchanged sessions keep
//! running).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::super::crds::IPAddressPool;
use super::super::mirror::{all, Cluster};
use super::super::Stop;
use super::super::{events, service};
use super::plan::{self, Announcements, Passwords, Problem};
use crate::announce::carried::Doing;
use crate::announce::{Announcer, AssignedList, Desired};
use crate::bgp::listener::{Directory, Listener};
use crate::bgp::speaker::Speaker;
use crate::config::{Config, KubernetesConfig, CLUSTER_PORT};
use crate::l2::sink::{L2Sink, HANDOVER_DEADLINE};
use crate::model::LocalSpec;
use crate::status::{ServiceEntry, StatusModel};

/// What the speaker needs besides the mirror.
pub struct SpeakerTask {
    pub client: kube::Client,
    pub events: events::Events,
    pub cluster: Cluster,
    pub config: Config,
    pub k: KubernetesConfig,
    pub directory: Directory,
    pub listener: Option<Arc<Listener>>,
    pub status: Arc<StatusModel>,
}

impl SpeakerTask {
    /// Announces until `stop`, then drains and withdraws (graceful shutdown). `doing` gets what
    /// the sessions carry whenever that changes.
    pub async fn run(
        self,
        mut changes: watch::Receiver<u64>,
        mut stop: Stop,
        doing: watch::Sender<BTreeMap<String, Doing>>,
    ) {
        let local = self.config.local();
        let mut announcer = Announcer::new();
        let mut speaker = Speaker::start(
            local.clone(),
            &[],
            announcer.table().clone(),
            self.directory.clone(),
        );
        let mut logged = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut dirty = true;
        let mut l2: Option<L2Sink> = None;
        let mut l2_failed = false;
        let mut seeds: Vec<std::net::SocketAddr> = Vec::new();
        let (_no_l2, mut l2_changes) = watch::channel(0u64);
        // What the last plan and publish cost (CPU, no API calls): the pause before the next
        // recomputation is at least that (at most 500 ms), so a burst (10k status writes
        // coming back) costs the speaker about half the CPU at most, not all of it.
        let mut cost = Duration::ZERO;
        let mut trim = super::super::trim::Trim::default();
        loop {
            // The cluster changed: recompute (the status cells /status reads are live). Every
            // second regardless: report what the sessions do, since session states and
            // Adj-RIB-Outs change without a cluster change.
            if std::mem::take(&mut dirty) {
                let started = tokio::time::Instant::now();
                // One copy of the pools per cluster change, for the plan and for /status.
                let pools = all(&self.cluster.pools);
                let (desired, plan, new) = self.plan(&local, &pools, &mut logged);
                cost = started.elapsed();
                self.tell(&new).await;
                if let Some(l) = self
                    .listener
                    .as_ref()
                    .filter(|_| desired.peers != announcer.desired().peers)
                {
                    // TCP MD5 keys and TTL / GTSM for sessions the peers open.
                    if let Err(e) = l.set_peers(&desired.peers) {
                        tracing::error!(error = %e, "cannot configure the BGP listener for the peers");
                    }
                }
                let applying = tokio::time::Instant::now();
                let step = announcer.apply(desired);
                cost += applying.elapsed();
                speaker.apply(&local, step).await;
                let publishing = tokio::time::Instant::now();
                self.publish(&announcer, &speaker, &pools, plan);
                trim.changed(std::time::Instant::now());
                cost += publishing.elapsed();
                // The L2 sink (and its UDP port) only once the cluster has an L2Advertisement:
                // a BGP-only cluster binds nothing for it.
                let wants_l2 = !self.cluster.l2_advertisements.state().is_empty();
                if l2.is_none() && !l2_failed && wants_l2 {
                    match self.start_l2().await {
                        Ok(sink) => {
                            l2_changes = sink.changes();
                            l2 = Some(sink);
                        }
                        Err(e) => {
                            tracing::error!("L2: the membership layer cannot start: {e}; L2Advertisements are not answered on this node");
                            l2_failed = true;
                        }
                    }
                }
                if let Some(l2) = &l2 {
                    let now = self.seeds();
                    if now != seeds {
                        l2.add_seeds(now.clone());
                        seeds = now;
                    }
                    l2.set(announcer.l2().clone());
                }
            }
            doing.send_if_modified(|d| {
                let now = self.status.doing();
                let differs = *d != now;
                *d = now;
                differs
            });
            tokio::select! {
                _ = changes.changed() => {
                    // Let a burst of watch events (a relist) land before acting on it.
                    tokio::time::sleep(cost.clamp(Duration::from_millis(20), Duration::from_millis(500))).await;
                    changes.borrow_and_update();
                    dirty = true;
                }
                _ = tick.tick() => {
                    // A burst is over: what it freed goes back to the system.
                    trim.when_quiet(std::time::Instant::now());
                }
                // The responder started or stopped answering: the ServiceAnnouncements follow
                // in this step, not at the next tick.
                Ok(()) = l2_changes.changed() => {
                    if let Some(l2) = &l2 {
                        for node in l2.take_vanished() {
                            tokio::spawn(super::report::reap_l2(self.client.clone(), node));
                        }
                    }
                }
                _ = &mut stop => break,
            }
        }
        if let Some(l2) = l2 {
            l2.shutdown(HANDOVER_DEADLINE).await;
        }
        let drain = Duration::from_secs(self.config.bgp.graceful_shutdown_time.into());
        speaker.shutdown(drain).await;
    }

    /// The L2 sink with its membership layer: `[cluster]` when given, else the defaults;
    /// the address the others reach this node at is `[cluster] advertise`, else this Node's
    /// InternalIP.
    async fn start_l2(&self) -> Result<L2Sink, crate::cluster::ClusterError> {
        let c = self
            .config
            .cluster
            .clone()
            .unwrap_or(crate::config::ClusterConfig {
                listen: std::net::SocketAddr::new(
                    std::net::Ipv4Addr::UNSPECIFIED.into(),
                    CLUSTER_PORT,
                ),
                members: Vec::new(),
                advertise: None,
            });
        let mut cluster = crate::l2::sink::membership(&self.config.node.name, &c);
        if cluster.advertise.is_none() && cluster.listen.ip().is_unspecified() {
            cluster.advertise = self
                .internal_ips(Some(&self.config.node.name))
                .first()
                .map(|ip| std::net::SocketAddr::new(*ip, c.listen.port()));
        }
        L2Sink::start(
            self.config.node.name.clone(),
            Some(cluster),
            self.status.clone(),
        )
        .await
    }

    /// The other Nodes' InternalIPs at the membership port: the seeds in Kubernetes mode.
    fn seeds(&self) -> Vec<std::net::SocketAddr> {
        let port = self
            .config
            .cluster
            .as_ref()
            .map_or(CLUSTER_PORT, |c| c.listen.port());
        let mut out: Vec<std::net::SocketAddr> = self
            .internal_ips(None)
            .into_iter()
            .map(|ip| std::net::SocketAddr::new(ip, port))
            .collect();
        out.sort();
        out
    }

    /// InternalIPs of one Node (`Some(name)`) or of every other Node (`None`).
    fn internal_ips(&self, only: Option<&str>) -> Vec<std::net::IpAddr> {
        let me = self.config.node.name.as_str();
        self.cluster
            .nodes
            .state()
            .iter()
            .filter(|n| match only {
                Some(name) => n.metadata.name.as_deref() == Some(name),
                None => n.metadata.name.as_deref() != Some(me),
            })
            .flat_map(|n| {
                n.status
                    .as_ref()
                    .and_then(|s| s.addresses.clone())
                    .unwrap_or_default()
            })
            .filter(|a| a.type_ == "InternalIP")
            .filter_map(|a| a.address.parse().ok())
            .collect()
    }

    /// The desired state from the mirror; logs each new problem once.
    fn plan(
        &self,
        local: &LocalSpec,
        pools: &[IPAddressPool],
        logged: &mut Vec<Problem>,
    ) -> (Desired, Announcements, Vec<Problem>) {
        let c = &self.cluster;
        let node = &self.config.node.name;
        let labels = c
            .nodes
            .state()
            .iter()
            .find(|n| n.metadata.name.as_deref() == Some(node))
            .and_then(|n| n.metadata.labels.clone())
            .unwrap_or_default();
        let passwords = Passwords {
            namespace: self.k.namespace.clone(),
            by_secret: c
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
        let (peers, ads, l2_ads, services, slices, bfd_profiles) = (
            all(&c.peers),
            all(&c.advertisements),
            all(&c.l2_advertisements),
            c.services.state(),
            c.slices.state(),
            all(&c.bfd_profiles),
        );
        let inputs = plan::Inputs {
            peers: &peers,
            advertisements: &ads,
            l2_advertisements: &l2_ads,
            pools,
            services: &services,
            slices: &slices,
            labels: &labels,
            passwords: &passwords,
            bfd_profiles: &bfd_profiles,
            node,
            class: &self.k.load_balancer_class,
        };
        let (desired, found, problems) = plan::desired(&inputs, local);
        let new: Vec<Problem> = problems
            .iter()
            .filter(|p| !logged.contains(p))
            .cloned()
            .collect();
        *logged = problems;
        (desired, found, new)
    }

    /// Logs each new problem and tells it as a Warning Event on its object.
    async fn tell(&self, problems: &[Problem]) {
        for p in problems {
            tracing::error!("{p}");
            let c = &self.cluster;
            match p.kind {
                "BGPPeer" => self.warn_on(&c.peers, p).await,
                "BGPAdvertisement" => self.warn_on(&c.advertisements, p).await,
                "L2Advertisement" => self.warn_on(&c.l2_advertisements, p).await,
                _ => {}
            }
        }
    }

    /// The Warning Event of `p` on the object of `store` it names (if it is still there).
    async fn warn_on<K>(&self, store: &kube::runtime::reflector::Store<K>, p: &Problem)
    where
        K: kube::Resource<DynamicType = ()> + Clone + 'static,
    {
        let found = store
            .state()
            .into_iter()
            .find(|o| o.meta().name.as_deref() == Some(p.name.as_str()));
        if let Some(o) = found {
            self.events
                .record(
                    o.as_ref(),
                    events::Kind::Warning,
                    "InvalidConfiguration",
                    &p.message,
                )
                .await;
        }
    }

    /// `/status`: every Service of ours, with what this node announces of it and why not.
    fn publish(
        &self,
        announcer: &Announcer,
        speaker: &Speaker,
        pools: &[IPAddressPool],
        mut found: Announcements,
    ) {
        let mut names = plan::PoolNames::default();
        let ours: Vec<_> = self
            .cluster
            .services
            .state()
            .into_iter()
            .filter(|s| service::is_ours(s, &self.k.load_balancer_class))
            .collect();
        // Exactly as many entries as Services (a growing Vec would hold up to twice that).
        let mut services: Vec<ServiceEntry> = Vec::with_capacity(ours.len());
        services.extend(ours.iter().map(|s| {
            let addresses = service::ingress(s);
            let pool = addresses.first().and_then(|a| names.holding(pools, *a));
            // Names shared with the announcer's desired state, else with the mirror's record.
            let (key, wanted) = announcer
                .desired()
                .services
                .get_key_value(&*s.key)
                .map(|(k, v)| (k.clone(), v.clone()))
                .unwrap_or_else(|| (s.key.clone(), AssignedList::from([])));
            let reason = found.not.remove(&*key).map(str::to_string);
            ServiceEntry::planned(
                key,
                addresses,
                pool,
                wanted,
                &announcer.desired().advertisements,
                reason,
            )
        }));
        drop(ours);
        services.sort_by(|a, b| a.name.cmp(&b.name));
        self.status.publish(services, speaker.status_cells());
        self.status.set_bfd_dropped(speaker.bfd_dropped());
    }
}
