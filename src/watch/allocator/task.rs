//! The allocator in Kubernetes mode: one node at a time, elected with the
//! `coordination.k8s.io/v1` Lease `ferrolb-allocator` in `[kubernetes] namespace`.
//!
//! - Every `lease_duration / 5` the node reads the Lease and creates, renews or takes it over
//!   ([`crate::watch::lease`]); a write with a stale resourceVersion gets 409 and simply loses.
//!   A follower also tries the moment the holder's Lease runs out, so a dead holder is replaced
//!   within one lease duration of its last renewal.
//! - While it holds the Lease and has renewed within two thirds of the lease duration, it
//!   reconciles. On the first round of its term, and after any of the watches it reads
//!   relisted, it takes over: [`super::decide::take_over`] over the whole mirrored state
//!   (restore every address already in Service status, then serve the rest, oldest first), so
//!   a new allocator after a restart or a handover decides exactly what the old one did. From
//!   then on it keeps that state ([`super::incremental::Incremental`]) and feeds it only what
//!   changed, as the mirror's per-kind [`Feed`](crate::watch::mirror::Feed) names it:
//!   Services applied or deleted (looked up by key in the store), the pools, the Nodes, a
//!   Namespace's labels. A new Service costs one allocation, a deleted one a release (and the
//!   Services still waiting for an address are served again); no round passes over every
//!   Service.
//! - It writes the Services whose addresses differ from their status through the status
//!   subresource (server-side apply, field manager `ferrolb-allocator`), [`WRITES_IN_FLIGHT`]
//!   at a time, and records `IPAllocated` / `AllocationFailed` Events for what it decided anew
//!   (a failure or "not yet" once per distinct message). A status that is already right is not
//!   written; a failed write is retried on the next round.
//! - It stops writing the moment its last renewal is older than the deadline (checked before
//!   every write), before anyone else may take the Lease over. On shutdown it releases the
//!   Lease so a successor need not wait for it to expire.
//!
//! Its own status writes reach the mirror a moment later; until they do, what it wrote is laid
//! over the mirrored Service (same uid), so a change in between is not taken for someone
//! else's status. The overlay entry goes once the mirror shows the write; the Event memory
//! holds only Services that fail or wait for an address: both are sized by what is in flight.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::chrono::{DateTime, Utc};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::ObjectRef;
use kube::Client;
use tokio::sync::watch;

use super::decide::{self, Event};
use super::incremental::Incremental;
use crate::config::KubernetesConfig;
use crate::status::{AllocatorStats, StatusModel};
use crate::watch::events::{Events, Kind};
use crate::watch::lease::{self, Elector, Round};
use crate::watch::mirror::{all, Cluster};
use crate::watch::service::{self, ServiceRecord};
use crate::watch::Error;

/// The Lease's name.
pub const LEASE: &str = "ferrolb-allocator";
/// The field manager of status writes.
pub const FIELD_MANAGER: &str = crate::watch::mirror::record::STATUS_MANAGER;

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
    /// The last Event told per Service key, for Services failing or still missing an address
    /// (what may be told again); per refused pool.
    told: HashMap<String, Event>,
    pools_told: HashMap<String, String>,
    elector: Elector,
    /// What was decided, kept across changes while this node holds the Lease.
    inc: Option<Incremental>,
    /// Services whose write failed: looked at again on the next round.
    retry: BTreeSet<String>,
    /// Decisions since the pool usage was last published, and when that was.
    stats_due: bool,
    stats_at: tokio::time::Instant,
}

/// How often pool usage is published at most while Services change.
const STATS_EVERY: Duration = Duration::from_secs(1);

/// Status writes (and their Events) in flight at once.
pub const WRITES_IN_FLIGHT: usize = 16;

/// One Service's write and Event.
struct Job {
    key: String,
    svc: Arc<ServiceRecord>,
    write: Option<Vec<IpAddr>>,
    tell: Option<Event>,
    failure: Option<&'static str>,
}

enum Done {
    Ok {
        wrote: bool,
        told: bool,
    },
    /// The Service was deleted meanwhile.
    Gone,
    Failed,
    LeaseLost,
}

/// An Event of a Service that still lacks an address ("not yet").
fn still_missing(ev: &Event) -> bool {
    matches!(ev, Event::Allocated(m) if m.contains("; not yet: "))
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
            inc: None,
            retry: BTreeSet::new(),
            stats_due: false,
            stats_at: tokio::time::Instant::now(),
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
                            if self.stats_due {
                                if let Some(inc) = self.inc.take() {
                                    self.publish_stats(&inc);
                                    self.inc = Some(inc);
                                }
                            }
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
                self.retry.clear();
                self.inc = None;
                // Taking over decides from scratch; what changed meanwhile is not needed.
                drop(self.cluster.feed.take());
                self.status.set_allocator(None);
                continue;
            }
            if dirty {
                dirty = !self.reconcile(renewed).await;
            }
        }
    }

    /// The mirrored Service `key` with our not-yet-mirrored write laid over it (same uid);
    /// drops the overlay once the mirror shows the write (or the Service was replaced).
    fn effective(&mut self, svc: Arc<ServiceRecord>) -> Arc<ServiceRecord> {
        let Some((wuid, addrs)) = self.written.get(&*svc.key) else {
            return svc;
        };
        let mut now = service::ingress(&svc);
        now.sort();
        if **wuid != *svc.uid || now == *addrs {
            self.written.remove(&*svc.key);
            return svc;
        }
        let mut s = (*svc).clone();
        s.ingress = addrs.as_slice().into();
        Arc::new(s)
    }

    fn service(&self, key: &str) -> Option<Arc<ServiceRecord>> {
        self.cluster.services.by_key(key)
    }

    fn leading(&self, renewed: Option<DateTime<Utc>>) -> bool {
        renewed.is_some_and(|r| lease::leading(r, Utc::now(), self.deadline()))
    }

    /// Takes over: decides every Service from scratch (restore then serve).
    fn start(&mut self) -> Incremental {
        let services: Vec<Arc<ServiceRecord>> = self
            .cluster
            .services
            .state()
            .into_iter()
            .map(|s| self.effective(s))
            .collect();
        // Overlays of Services that are gone.
        let present: HashSet<String> = services.iter().map(|s| service::key(s)).collect();
        self.written.retain(|k, _| present.contains(k));
        let inc = Incremental::start(
            &all(&self.cluster.pools),
            &self.cluster.nodes.state(),
            self.namespace_labels(),
            &services,
            &self.class,
        );
        tracing::debug!(services = inc.len(), "allocator state taken over");
        inc
    }

    fn namespace_labels(&self) -> decide::NamespaceLabels {
        self.cluster
            .namespaces
            .state()
            .iter()
            .filter_map(|n| {
                Some((
                    n.metadata.name.clone()?,
                    n.metadata.labels.clone().unwrap_or_default(),
                ))
            })
            .collect()
    }

    /// Publishes pool usage and failure counts to the status model.
    fn publish_stats(&mut self, inc: &Incremental) {
        let stats = AllocatorStats {
            pools: inc.driver().allocator().usage(),
            failures: self.failures.clone(),
        };
        self.status.set_allocator(Some(stats));
        self.stats_due = false;
        self.stats_at = tokio::time::Instant::now();
    }

    /// Decides what changed (everything on the first round of a term or after a relist) and
    /// writes it; false when a write failed (retried on the next round).
    async fn reconcile(&mut self, renewed: Option<DateTime<Utc>>) -> bool {
        let changes = self.cluster.feed.take();
        // Decided again this round (their Events are due), and merely to be checked (a write
        // the mirror shows differently, a Service that stopped being ours).
        let mut decided: BTreeSet<String> = std::mem::take(&mut self.retry);
        let mut touched: BTreeSet<String> = BTreeSet::new();
        let relisted = changes.services.relisted
            || changes.pools.relisted
            || changes.nodes.relisted
            || changes.namespaces.relisted;
        let pools_changed = relisted
            || self.inc.is_none()
            || !changes.pools.is_empty()
            || !changes.nodes.is_empty();
        let mut inc = match self.inc.take() {
            Some(inc) if !relisted => inc,
            _ => {
                let inc = self.start();
                decided.extend(
                    self.cluster
                        .services
                        .state()
                        .iter()
                        .map(|s| service::key(s)),
                );
                inc
            }
        };
        if !changes.pools.is_empty() {
            decided.extend(inc.set_pools(&all(&self.cluster.pools)));
        }
        if !changes.nodes.is_empty() {
            decided.extend(inc.set_nodes(&self.cluster.nodes.state()));
        }
        for (_, name) in &changes.namespaces.keys {
            let labels = self
                .cluster
                .namespaces
                .get(&ObjectRef::new(name))
                .map(|n| n.metadata.labels.clone().unwrap_or_default());
            decided.extend(inc.set_namespace(name, labels));
        }
        for (ns, name) in &changes.services.keys {
            let key = format!("{}/{name}", ns.as_deref().unwrap_or("default"));
            match self.service(&key) {
                Some(svc) => {
                    let svc = self.effective(svc);
                    decided.extend(inc.upsert(svc));
                }
                None => {
                    self.written.remove(&key);
                    self.told.remove(&key);
                    decided.extend(inc.delete(&key));
                }
            }
            touched.insert(key);
        }
        // Pool usage counts every address: at most once a second (and on every Lease round),
        // not once per change.
        self.stats_due |= !decided.is_empty();
        if pools_changed || (self.stats_due && self.stats_at.elapsed() >= STATS_EVERY) {
            self.publish_stats(&inc);
        }
        if pools_changed {
            self.tell_refused_pools(inc.refused_pools()).await;
        }
        touched.retain(|k| !decided.contains(k));
        let jobs: Vec<Job> = decided
            .into_iter()
            .map(|k| (k, true))
            .chain(touched.into_iter().map(|k| (k, false)))
            .filter_map(|(key, due)| self.job(&inc, key, due))
            .collect();
        self.inc = Some(inc);
        self.run_jobs(jobs, renewed).await
    }

    /// What to write and tell for one Service: its outcome when ours (its Event only when
    /// `due`, decided this round); clearing the status we wrote when it is not ours any more
    /// (before anyone else can get its addresses).
    fn job(&mut self, inc: &Incremental, key: String, due: bool) -> Option<Job> {
        let svc = self.effective(self.service(&key)?);
        let mut now = service::ingress(&svc);
        now.sort();
        let Some(o) = inc.outcome(&key) else {
            if service::is_ours(&svc, &self.class) || now.is_empty() || !svc.written_by_us {
                return None;
            }
            return Some(Job {
                key,
                svc,
                write: Some(Vec::new()),
                tell: None,
                failure: None,
            });
        };
        let write = (o.addresses != now).then(|| o.addresses.clone());
        let tell = o
            .event
            .clone()
            .filter(|ev| due && self.told.get(&key) != Some(ev));
        if due && o.event.is_none() {
            self.told.remove(&key);
        }
        if write.is_none() && tell.is_none() {
            return None;
        }
        Some(Job {
            key,
            svc,
            write,
            tell,
            failure: o.failure,
        })
    }

    /// Runs the jobs, [`WRITES_IN_FLIGHT`] at a time, each write guarded by the Lease deadline;
    /// false when one failed or the Lease was lost (the failed ones are retried next round).
    async fn run_jobs(&mut self, jobs: Vec<Job>, renewed: Option<DateTime<Utc>>) -> bool {
        let this = &*self;
        let done: Vec<(Job, Done)> = futures::stream::iter(jobs)
            .map(|job| async move {
                let d = this.run_job(&job, renewed).await;
                (job, d)
            })
            .buffer_unordered(WRITES_IN_FLIGHT)
            .collect()
            .await;
        let mut ok = true;
        for (job, d) in done {
            match d {
                Done::Ok { wrote, told } => {
                    if let (true, Some(addrs)) = (wrote, &job.write) {
                        self.written
                            .insert(job.key.clone(), (job.svc.uid.to_string(), addrs.clone()));
                    }
                    if let (true, Some(ev)) = (told, job.tell) {
                        if let Some(label) = job.failure {
                            *self.failures.entry(label.to_string()).or_default() += 1;
                        }
                        // Only what may be told again differently is remembered: failures
                        // and "not yet" (an assignment is told once, with the write).
                        if job.failure.is_some() || still_missing(&ev) {
                            self.told.insert(job.key, ev);
                        } else {
                            self.told.remove(&job.key);
                        }
                    }
                }
                Done::Gone => {}
                Done::Failed | Done::LeaseLost => {
                    ok = false;
                    self.retry.insert(job.key);
                }
            }
        }
        ok
    }

    async fn run_job(&self, job: &Job, renewed: Option<DateTime<Utc>>) -> Done {
        let mut wrote = false;
        if let Some(addrs) = &job.write {
            if !self.leading(renewed) {
                return Done::LeaseLost;
            }
            match self.write_status(&job.svc, addrs).await {
                Ok(()) if addrs.is_empty() && !service::is_ours(&job.svc, &self.class) => {
                    tracing::info!(service = %job.key, "not ours any more: status cleared");
                    wrote = true;
                }
                Ok(()) => {
                    tracing::info!(service = %job.key, addresses = ?addrs, "status written");
                    wrote = true;
                }
                // Deleted meanwhile: the mirror will drop it.
                Err(e) if api_code(&e) == Some(404) => return Done::Gone,
                Err(e) => {
                    tracing::warn!(service = %job.key, "cannot write status: {e}; retrying");
                    return Done::Failed;
                }
            }
        }
        let Some(ev) = &job.tell else {
            return Done::Ok { wrote, told: false };
        };
        if !self.leading(renewed) {
            return Done::LeaseLost;
        }
        let (kind, reason, message) = match ev {
            Event::Allocated(m) => (Kind::Normal, "IPAllocated", m),
            Event::Failed(m) => (Kind::Warning, "AllocationFailed", m),
        };
        if kind == Kind::Warning {
            tracing::warn!(service = %job.key, "{message}");
        }
        self.events
            .record_ref(&job.svc.object_ref(), kind, reason, message)
            .await;
        Done::Ok { wrote, told: true }
    }

    /// A Warning Event on every pool newly refused (once per reason).
    async fn tell_refused_pools(&mut self, refused: &[(String, String)]) {
        for (name, reason) in refused {
            if self.pools_told.get(name) == Some(reason) {
                continue;
            }
            tracing::error!(pool = %name, "IPAddressPool refused: {reason}");
            if let Some(p) = self
                .cluster
                .pools
                .state()
                .iter()
                .find(|p| p.metadata.name.as_ref() == Some(name))
            {
                let message = format!("pool refused, nothing is assigned from it: {reason}");
                self.events
                    .record(&**p, Kind::Warning, "AllocationFailed", &message)
                    .await;
            }
            self.pools_told.insert(name.clone(), reason.clone());
        }
        self.pools_told
            .retain(|n, _| refused.iter().any(|(r, _)| r == n));
    }

    async fn write_status(
        &self,
        svc: &ServiceRecord,
        addresses: &[IpAddr],
    ) -> Result<(), kube::Error> {
        let (ns, name) = (svc.namespace(), svc.name());
        let api: Api<Service> = Api::namespaced(self.client.clone(), ns);
        // No `ipMode`: absent means VIP, and API servers before 1.29 refuse the field in an
        // apply.
        let ingress: Vec<serde_json::Value> = addresses
            .iter()
            .map(|a| serde_json::json!({"ip": a.to_string()}))
            .collect();
        let patch = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": ns},
            "status": {"loadBalancer": {"ingress": ingress}},
        });
        api.patch_status(
            name,
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
