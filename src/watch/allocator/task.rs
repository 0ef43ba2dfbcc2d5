//! The allocator in Kubernetes mode: one node at a time, elected with the
//! `coordination.k8s.io/v1` Lease `ferrolb-allocator` in `[kubernetes] namespace`.
//!
//! - Every `lease_duration / 5` the node reads the Lease and creates, renews or takes it over
//!   ([`crate::watch::lease`]); a write with a stale resourceVersion gets 409 and simply loses.
//!   A follower also tries the moment the holder's Lease runs out, so a dead holder is replaced
//!   within one lease duration of its last renewal.
//! - While it holds the Lease and has renewed within two thirds of the lease duration, it
//!   reconciles: [`super::decide::take_over`] over the whole mirrored state (restore every
//!   address already in Service status, then serve the rest, oldest first), then writes the
//!   Services whose addresses differ through the status subresource (server-side apply, field
//!   manager `ferrolb-allocator`) and records `IPAllocated` / `AllocationFailed` Events once per
//!   distinct message. The reconciliation is a pure function of the mirrored state, so a new
//!   allocator after a restart or a handover decides exactly what the old one did.
//! - It stops writing the moment its last renewal is older than the deadline, before anyone
//!   else may take the Lease over. On shutdown it releases the Lease so a successor need not
//!   wait for it to expire.
//!
//! Its own status writes reach the mirror a moment later; until they do, what it wrote is laid
//! over the mirrored Service (same uid), so a reconciliation in between cannot decide twice.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{LoadBalancerIngress, Service};
use k8s_openapi::chrono::{DateTime, Utc};
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, ResourceExt};
use tokio::sync::watch;

use super::decide::{self, Event, Takeover};
use crate::config::KubernetesConfig;
use crate::status::{AllocatorStats, StatusModel};
use crate::watch::crds::IPAddressPool;
use crate::watch::events::{Events, Kind};
use crate::watch::lease::{self, Elector, Round};
use crate::watch::mirror::{all, Cluster};
use crate::watch::{service, Error};

/// The Lease's name.
pub const LEASE: &str = "ferrolb-allocator";
/// The field manager of status writes.
pub const FIELD_MANAGER: &str = "ferrolb-allocator";

/// The allocator task of one node.
pub struct Allocating {
    client: Client,
    events: Events,
    status: Arc<StatusModel>,
    /// Allocation failures told since start, by reason label.
    failures: BTreeMap<String, u64>,
    cluster: Cluster,
    class: String,
    me: String,
    duration: Duration,
    /// Our status writes not yet seen in the mirror: key → (uid, addresses).
    written: HashMap<String, (String, Vec<IpAddr>)>,
    /// The last Event told per Service key, and per refused pool.
    told: HashMap<String, Event>,
    pools_told: HashMap<String, String>,
    elector: Elector,
}

fn api_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

impl Allocating {
    pub fn new(
        client: Client,
        cluster: Cluster,
        k: &KubernetesConfig,
        me: &str,
        status: Arc<StatusModel>,
    ) -> Allocating {
        Allocating {
            client: client.clone(),
            events: Events::new(client.clone(), me),
            status,
            failures: BTreeMap::new(),
            cluster,
            class: k.load_balancer_class.clone(),
            me: me.to_string(),
            duration: Duration::from_secs(k.lease_duration.into()),
            written: HashMap::new(),
            told: HashMap::new(),
            pools_told: HashMap::new(),
            elector: Elector::new(
                client,
                &k.namespace,
                LEASE,
                me,
                Duration::from_secs(k.lease_duration.into()),
            ),
        }
    }

    fn deadline(&self) -> Duration {
        self.duration * 2 / 3
    }

    /// Runs until `stop` turns true (then releases the Lease if held).
    pub async fn run(mut self, mut changed: watch::Receiver<u64>, mut stop: watch::Receiver<bool>) {
        let period = self.duration / 5;
        let mut next_round = tokio::time::Instant::now();
        let mut renewed: Option<DateTime<Utc>> = None;
        let mut dirty = true;
        let mut failing = false;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next_round) => {
                    next_round = tokio::time::Instant::now() + period;
                    // A hung API call must not outlive the renew deadline unnoticed.
                    let step = tokio::time::timeout(period, self.elector.round()).await;
                    match step.unwrap_or_else(|_| Err(timed_out())) {
                        Ok(Round::Held) => {
                            if renewed.is_none() {
                                tracing::info!(node = %self.me, "this node is the allocator now (Lease {LEASE})");
                                dirty = true;
                            }
                            renewed = Some(Utc::now());
                            failing = false;
                        }
                        Ok(round) => {
                            if renewed.take().is_some() {
                                tracing::warn!("lost the Lease {LEASE}; no longer the allocator");
                            }
                            if let Round::Follow(until) = round {
                                // Try again the moment the holder's Lease runs out.
                                if let Ok(left) = (until - Utc::now()).to_std() {
                                    let at = tokio::time::Instant::now() + left + Duration::from_millis(10);
                                    next_round = next_round.min(at);
                                }
                            }
                            failing = false;
                        }
                        Err(e) => {
                            if !failing {
                                tracing::warn!("cannot read or renew the Lease {LEASE}: {e}; retrying");
                            }
                            failing = true;
                        }
                    }
                }
                r = changed.changed() => {
                    if r.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    changed.borrow_and_update();
                    dirty = true;
                }
                _ = stop.changed() => {
                    if renewed.is_some() {
                        self.elector.release().await;
                    }
                    return;
                }
            }
            if renewed.is_some_and(|r| !lease::leading(r, Utc::now(), self.deadline())) {
                tracing::warn!(
                    "no Lease renewal for {:?}; stopped acting as the allocator",
                    self.deadline()
                );
                renewed = None;
            }
            if renewed.is_none() {
                self.written.clear();
                self.status.set_allocator(None);
                continue;
            }
            if dirty {
                dirty = !self.reconcile(renewed).await;
            }
        }
    }

    /// The mirrored Services with our not-yet-mirrored writes laid over them.
    fn services(&mut self) -> Vec<Service> {
        let mut services = all(&self.cluster.services);
        let mut present = std::collections::HashSet::new();
        for s in &mut services {
            let key = service::key(s);
            let uid = s.uid().unwrap_or_default();
            if let Some((wuid, addrs)) = self.written.get(&key) {
                let mut now = service::ingress(s);
                now.sort();
                if *wuid == uid && now != *addrs {
                    set_ingress(s, addrs);
                    present.insert(key);
                }
            }
        }
        // Writes the mirror has caught up with (or whose Service is gone) need no overlay.
        self.written.retain(|k, _| present.contains(k));
        services
    }

    fn leading(&self, renewed: Option<DateTime<Utc>>) -> bool {
        renewed.is_some_and(|r| lease::leading(r, Utc::now(), self.deadline()))
    }

    /// Decides every Service and writes what changed; false when a write failed (retried on
    /// the next round).
    async fn reconcile(&mut self, renewed: Option<DateTime<Utc>>) -> bool {
        let services = self.services();
        let pools = all(&self.cluster.pools);
        let nodes = all(&self.cluster.nodes);
        let namespaces: decide::NamespaceLabels = self
            .cluster
            .namespaces
            .state()
            .iter()
            .filter_map(|n| {
                Some((
                    n.metadata.name.clone()?,
                    n.metadata.labels.clone().unwrap_or_default(),
                ))
            })
            .collect();
        let t = decide::take_over(&pools, &nodes, &namespaces, &services, &self.class);
        let stats = AllocatorStats {
            pools: t.driver.allocator().usage(),
            failures: self.failures.clone(),
        };
        self.status.set_allocator(Some(stats));
        self.tell_refused_pools(&t, &pools).await;
        // A Service that stopped being ours (type or class changed) loses the addresses we gave
        // it, before anyone else can get them.
        let Some(mut ok) = self.clear_foreign(&services, renewed).await else {
            return false;
        };
        let by_key: HashMap<String, &Service> =
            services.iter().map(|s| (service::key(s), s)).collect();
        for o in &t.outcomes {
            let Some(svc) = by_key.get(&o.key) else {
                continue;
            };
            match self.write_outcome(svc, o, renewed).await {
                None => return false,
                Some(false) => ok = false,
                Some(true) => {}
            }
        }
        self.told.retain(|k, _| by_key.contains_key(k));
        ok
    }

    /// A Warning Event on every pool newly refused (once per reason).
    async fn tell_refused_pools(&mut self, t: &Takeover, pools: &[IPAddressPool]) {
        for (name, reason) in &t.refused_pools {
            if self.pools_told.get(name) == Some(reason) {
                continue;
            }
            tracing::error!(pool = %name, "IPAddressPool refused: {reason}");
            if let Some(p) = pools
                .iter()
                .find(|p| p.metadata.name.as_ref() == Some(name))
            {
                let message = format!("pool refused, nothing is assigned from it: {reason}");
                self.events
                    .record(p, Kind::Warning, "AllocationFailed", &message)
                    .await;
            }
            self.pools_told.insert(name.clone(), reason.clone());
        }
        self.pools_told
            .retain(|n, _| t.refused_pools.iter().any(|(r, _)| r == n));
    }

    /// Clears the status we wrote on Services that are not ours any more; None when the Lease
    /// was lost on the way, else whether every write went through.
    async fn clear_foreign(
        &self,
        services: &[Service],
        renewed: Option<DateTime<Utc>>,
    ) -> Option<bool> {
        let mut ok = true;
        let foreign = services.iter().filter(|s| {
            !service::is_ours(s, &self.class) && !service::ingress(s).is_empty() && written_by_us(s)
        });
        for svc in foreign {
            if !self.leading(renewed) {
                return None;
            }
            let key = service::key(svc);
            match self.write_status(svc, &[]).await {
                Ok(()) => tracing::info!(service = %key, "not ours any more: status cleared"),
                Err(e) if api_code(&e) == Some(404) => {}
                Err(e) => {
                    tracing::warn!(service = %key, "cannot clear status: {e}; retrying");
                    ok = false;
                }
            }
        }
        Some(ok)
    }

    /// Writes one Service's outcome and tells its Event (once per distinct message); None when
    /// the Lease was lost, else whether the write went through.
    async fn write_outcome(
        &mut self,
        svc: &Service,
        o: &decide::Outcome,
        renewed: Option<DateTime<Utc>>,
    ) -> Option<bool> {
        if o.changed {
            if !self.leading(renewed) {
                return None;
            }
            match self.write_status(svc, &o.addresses).await {
                Ok(()) => {
                    self.written.insert(
                        o.key.clone(),
                        (svc.uid().unwrap_or_default(), o.addresses.clone()),
                    );
                    tracing::info!(service = %o.key, addresses = ?o.addresses, "status written");
                }
                // Deleted meanwhile: the mirror will drop it.
                Err(e) if api_code(&e) == Some(404) => return Some(true),
                Err(e) => {
                    tracing::warn!(service = %o.key, "cannot write status: {e}; retrying");
                    return Some(false);
                }
            }
        }
        if let Some(ev) = o
            .event
            .as_ref()
            .filter(|ev| self.told.get(&o.key) != Some(*ev))
        {
            let (kind, reason, message) = match ev {
                Event::Allocated(m) => (Kind::Normal, "IPAllocated", m),
                Event::Failed(m) => (Kind::Warning, "AllocationFailed", m),
            };
            if kind == Kind::Warning {
                tracing::warn!(service = %o.key, "{message}");
            }
            if let Some(label) = o.failure {
                *self.failures.entry(label.to_string()).or_default() += 1;
            }
            self.events.record(svc, kind, reason, message).await;
            self.told.insert(o.key.clone(), ev.clone());
        }
        Some(true)
    }

    async fn write_status(&self, svc: &Service, addresses: &[IpAddr]) -> Result<(), kube::Error> {
        let ns = svc.namespace().unwrap_or_else(|| "default".into());
        let api: Api<Service> = Api::namespaced(self.client.clone(), &ns);
        // No `ipMode`: absent means VIP, and API servers before 1.29 refuse the field in an
        // apply.
        let ingress: Vec<serde_json::Value> = addresses
            .iter()
            .map(|a| serde_json::json!({"ip": a.to_string()}))
            .collect();
        let patch = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": svc.name_any(), "namespace": ns},
            "status": {"loadBalancer": {"ingress": ingress}},
        });
        api.patch_status(
            &svc.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(patch),
        )
        .await
        .map(|_| ())
    }
}

fn timed_out() -> Error {
    Error::Api(kube::Error::Service(Box::new(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "the Lease request timed out",
    ))))
}

/// True when our field manager wrote the Service's status.
fn written_by_us(s: &Service) -> bool {
    s.metadata.managed_fields.iter().flatten().any(|m| {
        m.manager.as_deref() == Some(FIELD_MANAGER) && m.subresource.as_deref() == Some("status")
    })
}

fn set_ingress(s: &mut Service, addrs: &[IpAddr]) {
    let status = s.status.get_or_insert_with(Default::default);
    let lb = status.load_balancer.get_or_insert_with(Default::default);
    lb.ingress = Some(
        addrs
            .iter()
            .map(|a| LoadBalancerIngress {
                ip: Some(a.to_string()),
                ..LoadBalancerIngress::default()
            })
            .collect(),
    );
}
