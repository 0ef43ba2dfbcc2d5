//! The allocator's state and operations: pools, claims with sharing, allocation by family
//! policy, release, restore, and orphan tracking.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use super::addr::{to_num, Fam, IntervalSet};
use super::pool::Pool;
use super::vecmap::VecMap;
use super::{sharing_conflict, AllocError, Allocation, NodeAddress, Restored, Sharing};

/// A service key or pool name, stored once and shared by every map that names it.
type Name = Arc<str>;

/// Who holds one address.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Owner {
    /// The pool it belongs to (the pools map's own key); None = orphaned.
    pool: Option<Name>,
    /// Service key (the services map's own key) → its sharing terms (boxed: almost always
    /// None, and an inline `Sharing` would triple the entry).
    users: VecMap<Name, Option<Box<Sharing>>>,
}

/// One service's holdings.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Held {
    created: u64,
    addresses: VecMap<IpAddr, ()>,
}

/// The allocator. See the module docs for the rules.
///
/// The per-address and per-service maps are persistent (`imbl`): cloning the allocator, as a
/// reload does to prepare its changes on a copy, is O(1), and a change copies only its path.
#[derive(Debug, Clone, Default)]
pub struct Allocator {
    pools: BTreeMap<Name, Pool>,
    nodes: Vec<NodeAddress>,
    used_v4: IntervalSet,
    used_v6: IntervalSet,
    owners: imbl::OrdMap<IpAddr, Owner>,
    services: imbl::OrdMap<Name, Held>,
}

impl Allocator {
    /// An allocator that refuses the given node addresses.
    pub fn new(nodes: Vec<NodeAddress>) -> Allocator {
        Allocator {
            nodes,
            ..Allocator::default()
        }
    }

    fn used(&self, f: Fam) -> &IntervalSet {
        match f {
            Fam::V4 => &self.used_v4,
            Fam::V6 => &self.used_v6,
        }
    }

    fn used_mut(&mut self, f: Fam) -> &mut IntervalSet {
        match f {
            Fam::V4 => &mut self.used_v4,
            Fam::V6 => &mut self.used_v6,
        }
    }

    fn node_of(&self, a: IpAddr) -> Option<&NodeAddress> {
        self.nodes.iter().find(|n| n.address == a)
    }

    /// Adds or replaces a pool. Refused when it contains a node address. Addresses its new
    /// shape no longer covers stay with their services, orphaned; orphans it now covers are
    /// adopted.
    pub fn add_pool(&mut self, pool: Pool) -> Result<(), AllocError> {
        if let Some(n) = self.nodes.iter().find(|n| pool.contains(n.address)) {
            return Err(AllocError::PoolContainsNodeAddress {
                pool: pool.name.clone(),
                address: n.address,
                node: n.node.clone(),
            });
        }
        if self.pools.get(pool.name.as_str()) == Some(&pool) {
            return Ok(()); // unchanged (a reload): nothing to re-attribute
        }
        let name: Name = Arc::from(pool.name.as_str());
        self.pools.insert(name.clone(), pool); // a pool replaced keeps its (shared) key
        self.rehome(|owner_pool| owner_pool.is_none() || owner_pool == Some(&*name));
        Ok(())
    }

    /// Re-attributes the addresses whose pool `affected` says may have changed: to their pool if
    /// it still covers them, else to the first pool that does, else orphaned.
    fn rehome(&mut self, affected: impl Fn(Option<&str>) -> bool) {
        let addrs: Vec<IpAddr> = self
            .owners
            .iter()
            .filter(|(_, o)| affected(o.pool.as_deref()))
            .map(|(a, _)| *a)
            .collect();
        for a in addrs {
            let current = self.owners.get(&a).and_then(|o| o.pool.clone());
            let keep = current
                .and_then(|p| self.pools.get_key_value(&*p))
                .filter(|(_, p)| p.contains(a))
                .map(|(k, _)| k.clone());
            let home = keep.or_else(|| self.pool_containing(a));
            if let Some(o) = self.owners.get_mut(&a) {
                o.pool = home;
            }
        }
    }

    /// Removes a pool; its addresses stay with their services, orphaned.
    pub fn remove_pool(&mut self, name: &str) {
        self.pools.remove(name);
        self.rehome(|p| p.is_none() || p == Some(name));
    }

    fn pool_containing(&self, a: IpAddr) -> Option<Name> {
        self.pools
            .iter()
            .find(|(_, p)| p.contains(a))
            .map(|(k, _)| k.clone())
    }

    /// The pools.
    pub fn pools(&self) -> impl Iterator<Item = &Pool> {
        self.pools.values()
    }

    /// Takes `addr` for `key` (joining its users when sharing allows). `pool` is the pool it
    /// comes from when the caller knows; else the first pool (by name) that contains it.
    pub(super) fn claim(
        &mut self,
        key: &str,
        created: u64,
        addr: IpAddr,
        sharing: Option<&Sharing>,
        pool: Option<&str>,
    ) -> Result<(), AllocError> {
        if let Some(owner) = self.owners.get(&addr) {
            for (other, terms) in owner.users.iter().filter(|(k, _)| &***k != key) {
                if let Some(reason) = sharing_conflict(sharing, terms.as_deref()) {
                    return Err(AllocError::Conflict {
                        service: key.to_string(),
                        address: addr,
                        reason: format!("held by `{other}`: {reason}"),
                    });
                }
            }
        }
        let pool = pool
            .and_then(|p| self.pools.get_key_value(p))
            .filter(|(_, p)| p.contains(addr))
            .map(|(k, _)| k.clone())
            .or_else(|| self.pool_containing(addr));
        let name: Name = match self.services.get_key_value(key) {
            Some((k, _)) => k.clone(),
            None => Arc::from(key),
        };
        let owner = self.owners.entry(addr).or_insert(Owner {
            pool,
            users: VecMap::default(),
        });
        owner
            .users
            .insert(name.clone(), sharing.cloned().map(Box::new));
        self.used_mut(Fam::of(addr)).insert(to_num(addr));
        let held = self.services.entry(name).or_insert(Held {
            created,
            addresses: VecMap::default(),
        });
        held.addresses.insert(addr, ());
        Ok(())
    }

    fn unclaim(&mut self, key: &str, addr: IpAddr) {
        if let Some(owner) = self.owners.get_mut(&addr) {
            owner.users.remove(key);
            if owner.users.is_empty() {
                self.owners.remove(&addr);
                self.used_mut(Fam::of(addr)).remove(to_num(addr));
            }
        }
        if let Some(h) = self.services.get_mut(key) {
            h.addresses.remove(&addr);
        }
    }

    /// Releases everything `key` holds; addresses nobody else shares become free.
    pub fn release(&mut self, key: &str) {
        let addrs: Vec<IpAddr> = self
            .services
            .get(key)
            .map(|h| h.addresses.keys().copied().collect())
            .unwrap_or_default();
        for a in addrs {
            self.unclaim(key, a);
        }
        self.services.remove(key);
    }

    /// What `key` holds now.
    pub fn assignment(&self, key: &str) -> Allocation {
        let addresses = self
            .services
            .get(key)
            .map(|h| {
                h.addresses
                    .keys()
                    .map(|a| {
                        let pool = self.owners.get(a).and_then(|o| o.pool.as_deref());
                        (*a, pool.map(str::to_string))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Allocation {
            addresses,
            missing: Vec::new(),
        }
    }

    /// Every (service, address) whose address lies in no pool any more.
    pub fn orphaned(&self) -> Vec<(String, IpAddr)> {
        let mut out = Vec::new();
        for (addr, owner) in self.owners.iter().filter(|(_, o)| o.pool.is_none()) {
            out.extend(owner.users.keys().map(|k| (k.to_string(), *addr)));
        }
        out
    }

    /// Every service key with what it holds (address → pool), in key order.
    pub fn assignments(&self) -> BTreeMap<String, BTreeMap<IpAddr, Option<String>>> {
        self.services
            .keys()
            .map(|k| (k.to_string(), self.assignment(k).addresses))
            .collect()
    }

    /// Number of intervals in the used-address sets (what the memory follows).
    pub fn used_intervals(&self) -> usize {
        self.used_v4.intervals() + self.used_v6.intervals()
    }

    /// Per pool, in name order: (name, addresses in use from it, addresses it holds). The
    /// size is a float: an IPv6 /64 holds 1.8e19.
    pub fn usage(&self) -> Vec<(String, u64, f64)> {
        let mut in_use: BTreeMap<&str, u64> = BTreeMap::new();
        for o in self.owners.values() {
            if let Some(p) = o.pool.as_deref() {
                *in_use.entry(p).or_default() += 1;
            }
        }
        self.pools
            .values()
            .map(|p| {
                let size = p.ranges.iter().map(|r| (r.hi - r.lo) as f64 + 1.0).sum();
                (
                    p.name.clone(),
                    in_use.get(p.name.as_str()).copied().unwrap_or(0),
                    size,
                )
            })
            .collect()
    }

    /// Number of addresses in use.
    pub fn used_addresses(&self) -> usize {
        self.owners.len()
    }

    /// Re-adopts existing assignments before anything new is served. Older services (by
    /// `created`, then key) win contested addresses; the losers get a conflict each. Idempotent.
    pub fn restore(&mut self, mut entries: Vec<Restored>) -> Vec<AllocError> {
        entries.sort_by(|a, b| (a.created, &a.key).cmp(&(b.created, &b.key)));
        let mut errors = Vec::new();
        for e in entries {
            for addr in &e.addresses {
                if let Some(n) = self.node_of(*addr) {
                    errors.push(AllocError::NodeAddressRequested {
                        service: e.key.clone(),
                        address: *addr,
                        node: n.node.clone(),
                    });
                    continue;
                }
                let hint = e.pool.as_deref();
                if let Err(err) = self.claim(&e.key, e.created, *addr, e.sharing.as_ref(), hint) {
                    errors.push(err);
                }
            }
        }
        errors
    }
}

mod policy;
