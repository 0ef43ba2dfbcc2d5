//! The one announcer both modes use: a desired state of plain domain types in, per-sink changes
//! out. Pure: no sockets, no clock, no TOML or Kubernetes types.
//!
//! - [`Desired`]: the peers, the advertisements (BGP or L2) and every service's addresses.
//! - [`Announcer::apply`] moves to a new desired state and returns [`Changes`]: the new peer set
//!   when it changed, the BGP table with the prefixes that changed (or the whole table when the
//!   peers or advertisements changed), and the L2 addresses per interface when they changed.
//!   [`Announcer::upsert_service`] and [`Announcer::remove_service`] are the O(log n) path of a
//!   single service change.
//! - The BGP sink (`src/bgp`) diffs the table against each session's Adj-RIB-Out
//!   ([`adj_rib_out`]) with the per-peer policy of [`policy`]; what the sessions really carry
//!   comes back through [`carried`], the only source of "announced by".

pub mod adj_rib_out;
pub mod carried;
pub mod l2;
pub mod policy;
pub mod table;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use crate::model::{AdvertisementSpec, Mode, PeerSpec};
use l2::L2Owned;
use table::{RouteTable, ServiceAddress};

/// One service address and the pool it came from (None: outside every pool). The pool name is
/// shared: every address of a pool points at one copy of its name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Assigned {
    pub address: IpAddr,
    pub pool: Option<Arc<str>>,
}

/// A service's addresses, held once and shared (not copied) by the desired state, the plan and
/// `/status`.
pub type AssignedList = Arc<[Assigned]>;

/// What this node should announce.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    pub peers: Vec<PeerSpec>,
    pub advertisements: Vec<AdvertisementSpec>,
    /// Service key (`name`, or `namespace/name` in Kubernetes) → its addresses.
    pub services: BTreeMap<Arc<str>, AssignedList>,
}

/// What the BGP sink must do with its routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteChange {
    /// Nothing changed.
    None,
    /// Only these prefixes changed: every session compares and sends those.
    Prefixes(Arc<RouteTable>, Arc<Vec<IpNet>>),
    /// Anything may differ: every session compares the whole table.
    Table(Arc<RouteTable>),
}

/// The per-sink result of one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    /// The new peer set, when it differs from the last one.
    pub peers: Option<Vec<PeerSpec>>,
    pub routes: RouteChange,
    /// The new L2 addresses per interface, when they changed.
    pub l2: Option<L2Owned>,
}

/// The announcer: the desired state and what it makes of it.
#[derive(Debug, Clone, Default)]
pub struct Announcer {
    /// Shared with `/status`'s rows ([`Announcer::shared_desired`]); a change after that
    /// copies it once.
    desired: Arc<Desired>,
    table: Arc<RouteTable>,
    l2: L2Owned,
}

fn addresses(addrs: &[Assigned]) -> impl Iterator<Item = ServiceAddress<'_>> {
    addrs.iter().map(service_address)
}

fn service_address(a: &Assigned) -> ServiceAddress<'_> {
    ServiceAddress {
        address: a.address,
        pool: a.pool.as_deref(),
    }
}

fn build(d: &Desired) -> RouteTable {
    let all: Vec<&Assigned> = d.services.values().flat_map(|a| a.iter()).collect();
    RouteTable::build_from(all, |a| service_address(a), &d.advertisements)
}

impl Announcer {
    /// Nothing to announce, no peers.
    pub fn new() -> Announcer {
        Announcer::default()
    }

    /// Moves to `next`. Services are compared one by one; peers and advertisements as a whole.
    pub fn apply(&mut self, next: Desired) -> Changes {
        let peers = (next.peers != self.desired.peers).then(|| next.peers.clone());
        // A new table when the advertisements change, or when the table is empty (a start:
        // built from the sorted addresses, so its leaves are full, see `table::dense`).
        let routes = if next.advertisements != self.desired.advertisements
            || (self.table.is_empty() && !next.services.is_empty())
        {
            self.table = Arc::new(build(&next));
            RouteChange::Table(self.table.clone())
        } else {
            let mut changed = Vec::new();
            let table = Arc::make_mut(&mut self.table);
            for (key, old) in &self.desired.services {
                if next.services.get(key) != Some(old) {
                    addresses(old).for_each(|a| changed.extend(table.remove(a)));
                }
            }
            for (key, new) in &next.services {
                if self.desired.services.get(key) != Some(new) {
                    addresses(new).for_each(|a| changed.extend(table.add(a)));
                }
            }
            self.prefixes(changed)
        };
        self.desired = Arc::new(next);
        let l2 = self.sync_l2();
        Changes { peers, routes, l2 }
    }

    /// Sets one service's addresses (adds the service when it is new).
    pub fn upsert_service(
        &mut self,
        key: impl Into<Arc<str>>,
        addrs: impl Into<AssignedList>,
    ) -> Changes {
        let (key, addrs) = (key.into(), addrs.into());
        let mut changed = Vec::new();
        let table = Arc::make_mut(&mut self.table);
        if let Some(old) = self.desired.services.get(&*key) {
            addresses(old).for_each(|a| changed.extend(table.remove(a)));
        }
        addresses(&addrs).for_each(|a| changed.extend(table.add(a)));
        Arc::make_mut(&mut self.desired).services.insert(key, addrs);
        self.service_changes(changed)
    }

    /// Removes one service and its addresses.
    pub fn remove_service(&mut self, key: &str) -> Changes {
        let mut changed = Vec::new();
        if let Some(old) = Arc::make_mut(&mut self.desired).services.remove(key) {
            let table = Arc::make_mut(&mut self.table);
            addresses(&old).for_each(|a| changed.extend(table.remove(a)));
        }
        self.service_changes(changed)
    }

    /// Keeps the services `keep` says yes to and removes the others in one step: one change
    /// for the sinks. When most services go (a reload that withdraws everything), the table is
    /// built again from those that stay and the sessions compare the whole table (O(what
    /// stays)); otherwise the removed addresses leave the table one by one and the sessions
    /// compare only their prefixes (the table copied at most once).
    pub fn retain_services(&mut self, keep: impl Fn(&str) -> bool) -> Changes {
        let total = self.desired.services.len();
        let gone = self.desired.services.keys().filter(|k| !keep(k)).count();
        if gone == 0 {
            return self.service_changes(Vec::new());
        }
        // A new desired state of what stays, not the old one changed in place: the old one is
        // usually shared (with `/status`), and changing it would copy all of it first (3.4 MB
        // at 100,000 services, on top of a withdraw-all's peak).
        let next = Desired {
            peers: self.desired.peers.clone(),
            advertisements: self.desired.advertisements.clone(),
            services: (self.desired.services.iter())
                .filter(|(k, _)| keep(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        let old = std::mem::replace(&mut self.desired, Arc::new(next));
        if gone * 2 > total {
            drop(old);
            self.table = Arc::new(build(&self.desired));
            return Changes {
                peers: None,
                routes: RouteChange::Table(self.table.clone()),
                l2: self.sync_l2(),
            };
        }
        let mut changed = Vec::new();
        let table = Arc::make_mut(&mut self.table); // O(1) when shared: a persistent map
        for (_, list) in old.services.iter().filter(|(k, _)| !keep(k)) {
            addresses(list).for_each(|a| changed.extend(table.remove(a)));
        }
        drop(old);
        self.service_changes(changed)
    }

    fn service_changes(&mut self, changed: Vec<IpNet>) -> Changes {
        let routes = self.prefixes(changed);
        let l2 = self.sync_l2();
        Changes {
            peers: None,
            routes,
            l2,
        }
    }

    fn prefixes(&self, mut changed: Vec<IpNet>) -> RouteChange {
        if changed.is_empty() {
            return RouteChange::None;
        }
        changed.sort_unstable();
        changed.dedup();
        RouteChange::Prefixes(self.table.clone(), Arc::new(changed))
    }

    fn sync_l2(&mut self) -> Option<L2Owned> {
        if !self
            .desired
            .advertisements
            .iter()
            .any(|a| a.mode == Mode::L2)
            && self.l2.is_empty()
        {
            return None;
        }
        let now = l2::owned(
            self.desired.services.values().map(|a| &a[..]),
            &self.desired.advertisements,
        );
        (now != self.l2).then(|| {
            self.l2 = now.clone();
            now
        })
    }

    /// The desired state now.
    pub fn desired(&self) -> &Desired {
        &self.desired
    }

    /// The desired state now, shared (an O(1) copy) for readers that keep it.
    pub fn shared_desired(&self) -> Arc<Desired> {
        self.desired.clone()
    }

    /// The BGP table now.
    pub fn table(&self) -> &Arc<RouteTable> {
        &self.table
    }

    /// The L2 addresses per interface now.
    pub fn l2(&self) -> &L2Owned {
        &self.l2
    }

    /// How a service's addresses go out: BGP unless only L2 advertisements select them.
    pub fn mode_of(&self, addrs: &[Assigned]) -> Mode {
        mode_of(&self.desired.advertisements, addrs)
    }

    /// See [`unselected`].
    pub fn unselected(&self, addrs: &[Assigned]) -> Option<String> {
        unselected(&self.desired.advertisements, addrs)
    }
}

/// The mode of the advertisements that select these addresses: L2 when only L2 ones do.
pub fn mode_of(ads: &[AdvertisementSpec], addrs: &[Assigned]) -> Mode {
    let selected = |m: Mode| {
        ads.iter()
            .any(|ad| ad.mode == m && addrs.iter().any(|a| ad.selects(a.pool.as_deref())))
    };
    if selected(Mode::L2) && !selected(Mode::Bgp) {
        Mode::L2
    } else {
        Mode::Bgp
    }
}

/// Why a service's addresses are not announced at all: BGP advertisements exist and none
/// selects them, nor does an L2 one (without BGP advertisements everything goes to every
/// peer as a host route).
pub fn unselected(ads: &[AdvertisementSpec], addrs: &[Assigned]) -> Option<String> {
    if addrs.is_empty() || !ads.iter().any(|a| a.mode == Mode::Bgp) {
        return None;
    }
    let selected = addrs
        .iter()
        .any(|a| ads.iter().any(|ad| ad.selects(a.pool.as_deref())));
    (!selected).then(|| match addrs.iter().find_map(|a| a.pool.as_deref()) {
        Some(p) => format!("not selected by any advertisement (pool `{p}`)"),
        None => "not selected by any advertisement (address outside every pool)".to_string(),
    })
}
