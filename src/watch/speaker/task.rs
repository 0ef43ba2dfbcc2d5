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
use crate::announce::{Announcer, Desired};
use crate::bgp::listener::{Directory, Listener};
use crate::bgp::speaker::Speaker;
use crate::config::{Config, KubernetesConfig};
use crate::model::LocalSpec;
use crate::status::{ServiceEntry, StatusModel};

/// What the speaker needs besides the mirror.
pub struct SpeakerTask {
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
        loop {
            // The cluster changed: recompute (the status cells /status reads are live). Every
            // second regardless: report what the sessions do, since session states and
            // Adj-RIB-Outs change without a cluster change.
            if std::mem::take(&mut dirty) {
                // One copy of the pools per cluster change, for the plan and for /status.
                let pools = all(&self.cluster.pools);
                let (desired, plan, new) = self.plan(&local, &pools, &mut logged);
                self.tell(&new).await;
                if let Some(l) = self
                    .listener
                    .as_ref()
                    .filter(|_| desired.peers != announcer.desired().peers)
                {
                    // TCP MD5 keys for sessions the peers open.
                    l.set_keys(&desired.peers);
                }
                let step = announcer.apply(desired);
                speaker.apply(&local, step).await;
                self.publish(&announcer, &speaker, &pools, plan);
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
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    changes.borrow_and_update();
                    dirty = true;
                }
                _ = tick.tick() => {}
                _ = &mut stop => break,
            }
        }
        let drain = Duration::from_secs(self.config.bgp.graceful_shutdown_time.into());
        speaker.shutdown(drain).await;
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
        let (peers, ads, services, slices, bfd_profiles) = (
            all(&c.peers),
            all(&c.advertisements),
            all(&c.services),
            all(&c.slices),
            all(&c.bfd_profiles),
        );
        let inputs = plan::Inputs {
            peers: &peers,
            advertisements: &ads,
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
            let named = |n: &Option<String>| n.as_deref() == Some(p.name.as_str());
            let (kind, reason) = (events::Kind::Warning, "InvalidConfiguration");
            match p.kind {
                "BGPPeer" => {
                    if let Some(o) = c
                        .peers
                        .state()
                        .into_iter()
                        .find(|o| named(&o.metadata.name))
                    {
                        self.events
                            .record(o.as_ref(), kind, reason, &p.message)
                            .await;
                    }
                }
                "BGPAdvertisement" => {
                    let found = c
                        .advertisements
                        .state()
                        .into_iter()
                        .find(|o| named(&o.metadata.name));
                    if let Some(o) = found {
                        self.events
                            .record(o.as_ref(), kind, reason, &p.message)
                            .await;
                    }
                }
                _ => {}
            }
        }
    }

    /// `/status`: every Service of ours, with what this node announces of it and why not.
    fn publish(
        &self,
        announcer: &Announcer,
        speaker: &Speaker,
        pools: &[IPAddressPool],
        found: Announcements,
    ) {
        let mut services: Vec<ServiceEntry> = self
            .cluster
            .services
            .state()
            .iter()
            .filter(|s| service::is_ours(s, &self.k.load_balancer_class))
            .map(|s| {
                let key = service::key(s);
                let addresses = service::ingress(s);
                let pool = addresses
                    .first()
                    .and_then(|a| plan::pool_holding(pools, *a));
                let wanted = found.wanted.get(&key).cloned().unwrap_or_default();
                let reason = found.not.get(&key).cloned();
                ServiceEntry::planned(key, addresses, pool, wanted, announcer, reason)
            })
            .collect();
        services.sort_by(|a, b| a.name.cmp(&b.name));
        self.status.publish(services, speaker.status_cells());
        self.status.set_bfd_dropped(speaker.bfd_dropped());
    }
}
