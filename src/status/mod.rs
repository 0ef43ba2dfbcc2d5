//! The one status model: sessions (live, written by the peer tasks), services (desired, and
//! what the sessions really carry, and why an address or an announcement is missing), with room
//! for L2 owners and BFD state. `/status`, `ferrolb status` and the ServiceAnnouncements read
//! it; both modes publish into it the same way.

mod reload;
mod render;
pub mod session;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::announce::carried::{self, Carried, Doing};
use crate::announce::{self, AssignedList};
use crate::model::AdvertisementSpec;
use crate::model::Mode;
use crate::sync::lock;
pub use reload::{LastReload, ReloadReport};
pub use render::render_table;
use session::CELL;
pub use session::{SessionSnapshot, StatusCell};

/// One service as the mode that owns it sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    /// `name` (standalone) or `namespace/name`.
    pub name: Arc<str>,
    /// Every address the service holds, when they are not exactly `wanted`'s (None: they are;
    /// so the common case costs nothing beside the shared `wanted`). See [`Self::addresses`].
    pub held: Option<Box<[IpAddr]>>,
    pub pool: Option<Arc<str>>,
    pub mode: Mode,
    /// The addresses this node is to announce (a subset of the addresses), shared with the
    /// announcer's desired state.
    pub wanted: AssignedList,
    /// Why an address or the announcement is missing, when the plan already knows.
    pub reason: Option<String>,
}

impl ServiceEntry {
    /// A service as the announcer plans it: the mode of the advertisements that select it,
    /// and the reason it is not announced when the plan already knows one (`reason`, else an
    /// address no advertisement selects).
    pub fn planned(
        name: Arc<str>,
        addresses: Vec<IpAddr>,
        pool: Option<Arc<str>>,
        wanted: AssignedList,
        advertisements: &[AdvertisementSpec],
        reason: Option<String>,
    ) -> ServiceEntry {
        let same = addresses
            .iter()
            .copied()
            .eq(wanted.iter().map(|a| a.address));
        ServiceEntry {
            pool,
            mode: announce::mode_of(advertisements, &wanted),
            reason: reason.or_else(|| announce::unselected(advertisements, &wanted)),
            name,
            held: (!same).then(|| addresses.into_boxed_slice()),
            wanted,
        }
    }

    /// Every address the service holds.
    pub fn addresses(&self) -> Vec<IpAddr> {
        match &self.held {
            Some(h) => h.to_vec(),
            None => self.wanted.iter().map(|a| a.address).collect(),
        }
    }
}

/// Builds the service rows when they are read (`/status`, the ServiceAnnouncements), from
/// state the mode holds anyway: the model then keeps no row per service (at 100,000 services
/// the rows were 9.6 MB held for a page few read).
pub trait ServiceRows: Send + Sync + std::fmt::Debug {
    fn rows(&self) -> Vec<ServiceEntry>;
}

/// The services as published: rows, or what builds them on request.
#[derive(Debug)]
enum Services {
    List(Vec<ServiceEntry>),
    Rows(Arc<dyn ServiceRows>),
}

impl Default for Services {
    fn default() -> Services {
        Services::List(Vec::new())
    }
}

impl Services {
    fn rows(&self) -> Cow<'_, [ServiceEntry]> {
        match self {
            Services::List(v) => Cow::Borrowed(v),
            Services::Rows(r) => Cow::Owned(r.rows()),
        }
    }
}

/// One row of the services table in `/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSnapshot {
    pub name: String,
    pub addresses: Vec<IpAddr>,
    pub pool: Option<String>,
    /// Node names announcing the addresses: this node, when at least one Established session
    /// carries one of them right now.
    pub announced_by: Vec<String>,
    pub mode: String,
    /// Why an address or the announcement is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// L2: the interfaces answering for the addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<String>,
}

/// The body of `/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    pub node: String,
    pub sessions: Vec<SessionSnapshot>,
    pub services: Vec<ServiceSnapshot>,
    /// SIGHUP reloads (standalone): counts by result and the last one; absent before the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reloads: Option<ReloadReport>,
}

/// What `/metrics` reads from the model.
#[derive(Debug, Clone, Default)]
pub struct MetricsView {
    pub sessions: Vec<session::PeerStatus>,
    pub allocator: Option<AllocatorStats>,
    pub reloads: BTreeMap<String, u64>,
    /// BFD packets dropped before reaching a session, by reason (`malformed`,
    /// `unknown_session`, `ttl`); empty while this node runs no BFD session.
    pub bfd_dropped: BTreeMap<String, u64>,
    /// L2 addresses this node answers for now; None while no L2 advertisement is in use.
    pub l2_owned: Option<usize>,
    /// L2 frames sent (`gratuitous`, `answers`) and ignored (by reason).
    pub l2_sent: BTreeMap<String, u64>,
    pub l2_ignored: BTreeMap<String, u64>,
}

impl StatusReport {
    /// True when every configured session is Established (vacuously with none): what
    /// `ferrolb status` exits 0 on.
    pub fn all_established(&self) -> bool {
        self.sessions.iter().all(|s| s.state == "Established")
    }
}

/// What the allocator of this node holds, when this node runs it (standalone: always;
/// Kubernetes: while it holds the Lease).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AllocatorStats {
    /// (pool, addresses in use, addresses it holds).
    pub pools: Vec<(String, u64, f64)>,
    /// Allocation failures since start, by reason label.
    pub failures: BTreeMap<String, u64>,
}

/// A live counter read at every scrape (the BFD sink's drop counts).
#[derive(Clone)]
pub struct DropCounter(std::sync::Arc<dyn Fn() -> BTreeMap<String, u64> + Send + Sync>);

impl DropCounter {
    pub fn new(read: impl Fn() -> BTreeMap<String, u64> + Send + Sync + 'static) -> DropCounter {
        DropCounter(std::sync::Arc::new(read))
    }

    pub fn read(&self) -> BTreeMap<String, u64> {
        (self.0)()
    }
}

impl std::fmt::Debug for DropCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DropCounter")
    }
}

/// What the L2 sink reports: read from the responder (this node) and the membership layer
/// (the others), never from the plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct L2Status {
    /// Address → the nodes answering ARP/NDP for it right now.
    pub answering: BTreeMap<IpAddr, BTreeSet<String>>,
    /// Address → the interfaces this node answers on.
    pub interfaces: BTreeMap<IpAddr, BTreeSet<String>>,
    /// Address → why this node does not answer for it (an interface that cannot be used,
    /// another node owns it, ...), for the addresses this node has under an L2 advertisement.
    pub reasons: BTreeMap<IpAddr, String>,
}

/// The L2 counters `/metrics` reads live from the responder.
#[derive(Debug, Clone)]
pub struct L2Live {
    /// `gratuitous` (frames sent on taking an address over) and `answers`.
    pub sent: DropCounter,
    /// Frames ignored, by reason.
    pub ignored: DropCounter,
}

#[derive(Debug, Default)]
struct Model {
    node: String,
    services: Services,
    cells: Vec<StatusCell>,
    allocator: Option<AllocatorStats>,
    /// Config reloads since start, by result (`ok`, `error`).
    reloads: BTreeMap<&'static str, u64>,
    last_reload: Option<LastReload>,
    bfd_dropped: Option<DropCounter>,
    l2: L2Status,
    l2_counters: Option<L2Live>,
    /// False until the node knows what to announce (Kubernetes: every watch has synced).
    ready: bool,
}

/// The model's lock's name in the log, should it be found poisoned ([`crate::sync`]).
const MODEL: &str = "status model";

/// The status of this node, shared by the mode that runs it and every reader.
#[derive(Debug, Default)]
pub struct StatusModel(Mutex<Model>);

impl StatusModel {
    /// An empty model, not ready.
    pub fn new() -> StatusModel {
        StatusModel::default()
    }

    /// Names the node.
    pub fn set_node(&self, node: &str) {
        let mut m = lock(&self.0, MODEL);
        m.node = node.to_string();
    }

    /// Publishes the services and the sessions' live cells; the node is ready from now on.
    pub fn publish(&self, services: Vec<ServiceEntry>, cells: Vec<StatusCell>) {
        self.put(Services::List(services), cells);
    }

    /// [`StatusModel::publish`] with rows built when read.
    pub fn publish_rows(&self, rows: Arc<dyn ServiceRows>, cells: Vec<StatusCell>) {
        self.put(Services::Rows(rows), cells);
    }

    fn put(&self, services: Services, cells: Vec<StatusCell>) {
        let mut m = lock(&self.0, MODEL);
        m.services = services;
        m.cells = cells;
        m.ready = true;
    }

    /// Publishes what the L2 sink answers now (called in the same step as the responder
    /// starts or stops answering).
    pub fn set_l2(&self, l2: L2Status) {
        let mut m = lock(&self.0, MODEL);
        m.l2 = l2;
    }

    /// Where `/metrics` reads the L2 counters.
    pub fn set_l2_counters(&self, counters: L2Live) {
        let mut m = lock(&self.0, MODEL);
        m.l2_counters = Some(counters);
    }

    /// No L2 counters any more (an L2 sink that a refused reload started is gone again).
    pub fn clear_l2_counters(&self) {
        lock(&self.0, MODEL).l2_counters = None;
    }

    /// What the L2 sink reported last.
    pub fn l2(&self) -> L2Status {
        lock(&self.0, MODEL).l2.clone()
    }

    /// Where `/metrics` reads the BFD packets dropped so far, by reason.
    pub fn set_bfd_dropped(&self, dropped: DropCounter) {
        let mut m = lock(&self.0, MODEL);
        m.bfd_dropped = Some(dropped);
    }

    /// Publishes what the allocator holds (None: this node does not run it now).
    pub fn set_allocator(&self, stats: Option<AllocatorStats>) {
        let mut m = lock(&self.0, MODEL);
        m.allocator = stats;
    }

    /// Records a config reload: counted by its result, and kept as the last one.
    pub fn record_reload(&self, last: LastReload) {
        let mut m = lock(&self.0, MODEL);
        *m.reloads
            .entry(if last.ok() { "ok" } else { "error" })
            .or_default() += 1;
        m.last_reload = Some(last);
    }

    /// Everything `/metrics` exports, read at once.
    pub fn metrics(&self) -> MetricsView {
        let m = lock(&self.0, MODEL);
        MetricsView {
            sessions: m.cells.iter().map(|c| lock(c, CELL).clone()).collect(),
            allocator: m.allocator.clone(),
            reloads: m.reloads.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            bfd_dropped: m
                .bfd_dropped
                .as_ref()
                .map(DropCounter::read)
                .unwrap_or_default(),
            l2_owned: m.l2_counters.as_ref().map(|_| {
                let me = &m.node;
                m.l2.answering.values().filter(|n| n.contains(me)).count()
            }),
            l2_sent: m
                .l2_counters
                .as_ref()
                .map(|c| c.sent.read())
                .unwrap_or_default(),
            l2_ignored: m
                .l2_counters
                .as_ref()
                .map(|c| c.ignored.read())
                .unwrap_or_default(),
        }
    }

    /// True once the node knows what to announce.
    pub fn ready(&self) -> bool {
        lock(&self.0, MODEL).ready
    }

    fn carried(m: &Model) -> Vec<Carried> {
        m.cells
            .iter()
            .filter_map(|c| lock(c, CELL).carried())
            .collect()
    }

    /// Per service, what the sessions carry right now (the ServiceAnnouncements' content).
    pub fn doing(&self) -> BTreeMap<String, Doing> {
        let m = lock(&self.0, MODEL);
        // Read in place: this runs every second, for every Service of the node.
        let services = m.services.rows();
        let wanted = services.iter().map(|s| (&*s.name, &s.wanted[..]));
        let mut out = carried::doing(wanted, &Self::carried(&m));
        if m.l2.interfaces.is_empty() {
            return out;
        }
        // L2: the addresses this node's responder answers for, with the interfaces.
        for s in services.iter() {
            let mut addresses = BTreeSet::new();
            let mut interfaces = BTreeSet::new();
            for a in &s.addresses() {
                if let Some(i) = m.l2.interfaces.get(a) {
                    addresses.insert(*a);
                    interfaces.extend(i.iter().cloned());
                }
            }
            if addresses.is_empty() {
                continue;
            }
            let d = out.entry(s.name.to_string()).or_insert_with(|| Doing {
                peers: Vec::new(),
                addresses: Vec::new(),
                interfaces: Vec::new(),
            });
            addresses.extend(d.addresses.iter().copied());
            d.addresses = addresses.into_iter().collect();
            d.interfaces = interfaces.into_iter().collect();
        }
        out
    }

    /// The body of `/status`: `announced_by` read from the sessions, not from the plan.
    pub fn report(&self) -> StatusReport {
        let m = lock(&self.0, MODEL);
        let sessions: Vec<SessionSnapshot> =
            m.cells.iter().map(|c| lock(c, CELL).snapshot()).collect();
        let carried = Self::carried(&m);
        let services = m
            .services
            .rows()
            .iter()
            .map(|s| service_snapshot(s, &m.node, &carried, sessions.is_empty(), &m.l2))
            .collect();
        StatusReport {
            node: m.node.clone(),
            sessions,
            services,
            reloads: m.last_reload.clone().map(|last| ReloadReport {
                ok: m.reloads.get("ok").copied().unwrap_or(0),
                error: m.reloads.get("error").copied().unwrap_or(0),
                last: Some(last),
            }),
        }
    }
}

fn service_snapshot(
    s: &ServiceEntry,
    node: &str,
    carried: &[Carried],
    no_sessions: bool,
    l2: &L2Status,
) -> ServiceSnapshot {
    let held = s.addresses();
    let announced = carried::any_carries(carried, &held);
    // L2: the nodes answering for any of its addresses (this node from its responder, the
    // others from the membership layer), and the interfaces this node answers on.
    let mut by: BTreeSet<String> = BTreeSet::new();
    let mut interfaces: BTreeSet<String> = BTreeSet::new();
    for a in &held {
        by.extend(l2.answering.get(a).into_iter().flatten().cloned());
        interfaces.extend(l2.interfaces.get(a).into_iter().flatten().cloned());
    }
    let l2_reason = || {
        held.iter()
            .find_map(|a| l2.reasons.get(a).cloned())
            .unwrap_or_else(|| "no node answers ARP/NDP for it".into())
    };
    let reason = s.reason.clone().or_else(|| match () {
        _ if held.is_empty() => None,
        _ if s.mode == Mode::L2 && by.is_empty() => Some(l2_reason()),
        _ if announced || s.mode == Mode::L2 => None,
        _ if no_sessions => Some("no BGP peer is configured for this node".into()),
        _ if carried.is_empty() => Some("no Established session".into()),
        _ => Some("no Established session carries it".into()),
    });
    if announced {
        by.insert(node.to_string());
    }
    ServiceSnapshot {
        name: s.name.to_string(),
        pool: s.pool.as_deref().map(str::to_string),
        addresses: held,
        announced_by: by.into_iter().collect(),
        mode: s.mode.to_string(),
        reason,
        interfaces: interfaces.into_iter().collect(),
    }
}

#[cfg(test)]
mod tests;
