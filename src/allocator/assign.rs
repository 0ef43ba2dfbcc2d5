//! The allocator's state and operations: pools, claims with sharing, allocation by family
//! policy, release, restore, and orphan tracking.
//!
//! Layout (issue 18, lean at scale): what is held is one flat table of claims, one record per
//! (service, address) of about 40 bytes (the service name boxed once, the address, a `u32`
//! pool id), with two hash indexes of `u32` positions over it, by service and by address
//! ([`super::claims`]). A service holding one address costs about 70 bytes with its name
//! (measured: `cargo bench --bench allocator` prints it), where the persistent ordered maps
//! before cost 320. Pools are named in claims by a small id into `pool_ids`. The used-address
//! sets stay interval sets: the lowest free address is found in O(log intervals).
//!
//! Nothing here is kept in order; every output that shows claims in order sorts them on the
//! way out (`assignment`, `assignments`, `orphaned`: by address then service, as the ordered
//! maps iterated; the lowest shareable address; the first conflicting user by name), so the
//! same inputs give the same addresses and the same output as before.
//!
//! Cloning (a reload prepares its changes on a copy) copies the table and the indexes: a few
//! milliseconds at 100k services, the copy as large as the original while it lives.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use super::addr::{to_num, Fam, IntervalSet};
use super::claims::{Claims, PoolId, ORPHANED};
use super::pool::Pool;
use super::{sharing_conflict, AllocError, Allocation, NodeAddress, Restored, Sharing};

/// A pool name, stored once and shared by the pools map and the pool ids.
type Name = Arc<str>;

/// The allocator. See the module docs for the rules and the layout.
#[derive(Debug, Clone, Default)]
pub struct Allocator {
    pools: BTreeMap<Name, Pool>,
    /// Pool names by [`PoolId`]; a removed pool's slot is free for the next new name.
    pool_ids: Vec<Option<Name>>,
    nodes: Vec<NodeAddress>,
    used_v4: IntervalSet,
    used_v6: IntervalSet,
    claims: Claims,
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

    /// The id of pool `name` (which must be in `pools`), given one if it has none yet.
    fn pool_id(&mut self, name: &Name) -> PoolId {
        if let Some(i) = self.pool_ids.iter().position(|p| p.as_ref() == Some(name)) {
            return i as PoolId;
        }
        match self.pool_ids.iter().position(Option::is_none) {
            Some(i) => {
                self.pool_ids[i] = Some(name.clone());
                i as PoolId
            }
            None => {
                self.pool_ids.push(Some(name.clone()));
                (self.pool_ids.len() - 1) as PoolId
            }
        }
    }

    /// The name of pool `id` (None: orphaned).
    fn pool_name(&self, id: PoolId) -> Option<&Name> {
        self.pool_ids.get(id as usize).and_then(Option::as_ref)
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
        let id = self.pool_id(&name);
        self.rehome(Some(id));
        Ok(())
    }

    /// Re-attributes the addresses that are orphaned or came from pool `affected`: to their
    /// pool if it still covers them, else to the first pool (by name) that does, else
    /// orphaned. Every claim of one address gets the same answer.
    fn rehome(&mut self, affected: Option<PoolId>) {
        let names: Vec<Name> = self.pools.keys().cloned().collect();
        let ids: Vec<PoolId> = names.iter().map(|n| self.pool_id(n)).collect();
        let pools: Vec<(PoolId, &Pool)> = ids.into_iter().zip(self.pools.values()).collect();
        self.claims.repool(|addr, pool| {
            if pool != ORPHANED && Some(pool) != affected {
                return pool;
            }
            if pools.iter().any(|(id, p)| *id == pool && p.contains(addr)) {
                return pool;
            }
            pools
                .iter()
                .find(|(_, p)| p.contains(addr))
                .map_or(ORPHANED, |(id, _)| *id)
        });
    }

    /// Removes a pool; its addresses stay with their services, orphaned.
    pub fn remove_pool(&mut self, name: &str) {
        self.pools.remove(name);
        let id = self
            .pool_ids
            .iter()
            .position(|p| p.as_deref() == Some(name));
        self.rehome(id.map(|i| i as PoolId));
        if let Some(i) = id {
            self.pool_ids[i] = None; // no claim names it any more
        }
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
        key: &Arc<str>,
        addr: IpAddr,
        sharing: Option<&Sharing>,
        pool: Option<&str>,
    ) -> Result<(), AllocError> {
        let mut others: Vec<(&str, Option<&Sharing>)> = self
            .claims
            .users(addr)
            .map(|i| (&*self.claims.get(i).service, self.claims.terms(i)))
            .filter(|(k, _)| *k != &**key)
            .collect();
        others.sort_unstable_by_key(|(k, _)| *k); // the first conflict by name is reported
        for (other, terms) in others {
            if let Some(reason) = sharing_conflict(sharing, terms) {
                return Err(AllocError::Conflict {
                    service: key.to_string(),
                    address: addr,
                    reason: format!("held by `{other}`: {reason}"),
                });
            }
        }
        let pool = pool
            .and_then(|p| self.pools.get_key_value(p))
            .filter(|(_, p)| p.contains(addr))
            .map(|(k, _)| k.clone())
            .or_else(|| self.pool_containing(addr));
        let id = pool.map_or(ORPHANED, |p| self.pool_id(&p));
        if self.claims.insert(key, addr, id, sharing.cloned()) {
            self.used_mut(Fam::of(addr)).insert(to_num(addr));
        }
        Ok(())
    }

    fn unclaim(&mut self, key: &str, addr: IpAddr) {
        if self.claims.remove(key, addr) {
            self.used_mut(Fam::of(addr)).remove(to_num(addr));
        }
    }

    /// Releases everything `key` holds; addresses nobody else shares become free.
    pub fn release(&mut self, key: &str) {
        for a in self.claims.remove_service(key) {
            self.used_mut(Fam::of(a)).remove(to_num(a));
        }
    }

    /// Releases everything each of `keys` holds, as [`Allocator::release`] one key after the
    /// other would, in time that follows what is freed: no lookup per claim when most go, the
    /// used-address sets trimmed one run of consecutive addresses at a time.
    pub fn release_many<'k>(&mut self, keys: impl IntoIterator<Item = &'k str>) {
        let keys: Vec<&str> = keys.into_iter().collect();
        let Some(freed) = self.claims.remove_services(&keys) else {
            self.used_v4 = IntervalSet::default(); // nothing is held any more
            self.used_v6 = IntervalSet::default();
            return;
        };
        let (mut v4, mut v6): (Vec<u128>, Vec<u128>) = (Vec::new(), Vec::new());
        for a in freed {
            match Fam::of(a) {
                Fam::V4 => v4.push(to_num(a)),
                Fam::V6 => v6.push(to_num(a)),
            }
        }
        v4.sort_unstable();
        v6.sort_unstable();
        self.used_v4.remove_sorted(&v4);
        self.used_v6.remove_sorted(&v6);
    }

    /// The same pools and node addresses, holding nothing.
    pub fn released_all(&self) -> Allocator {
        Allocator {
            pools: self.pools.clone(),
            pool_ids: self.pool_ids.clone(),
            nodes: self.nodes.clone(),
            used_v4: IntervalSet::default(),
            used_v6: IntervalSet::default(),
            claims: self.claims.cleared(),
        }
    }

    /// What `key` holds now.
    pub fn assignment(&self, key: &str) -> Allocation {
        let addresses = self
            .claims
            .of_service(key)
            .map(|i| self.described(i))
            .collect();
        Allocation {
            addresses,
            missing: Vec::new(),
        }
    }

    /// Claim `i`'s address and the name of its pool.
    fn described(&self, i: usize) -> (IpAddr, Option<String>) {
        let c = self.claims.get(i);
        (c.addr, self.pool_name(c.pool).map(|n| n.to_string()))
    }

    /// Every (service, address) whose address lies in no pool any more, by address, then
    /// service.
    pub fn orphaned(&self) -> Vec<(String, IpAddr)> {
        let mut out: Vec<(IpAddr, &str)> = self
            .claims
            .iter()
            .filter(|(_, c)| c.pool == ORPHANED)
            .map(|(_, c)| (c.addr, &*c.service))
            .collect();
        out.sort_unstable();
        out.into_iter().map(|(a, k)| (k.to_string(), a)).collect()
    }

    /// True when `key` holds an address or is listed without one (it asked for specific
    /// addresses it could not get): what [`Allocator::release`] would act on.
    pub fn holds(&self, key: &str) -> bool {
        self.claims.of_service(key).next().is_some() || self.claims.is_bare(key)
    }

    /// Every service [`Allocator::holds`], once each, in no particular order.
    pub fn holders(&self) -> Vec<Arc<str>> {
        let mut out: Vec<Arc<str>> = self.claims.iter().map(|(_, c)| c.service.clone()).collect();
        out.extend(self.claims.bare().map(Arc::from));
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Every service key with what it holds (address → pool), in key order.
    pub fn assignments(&self) -> BTreeMap<String, BTreeMap<IpAddr, Option<String>>> {
        let mut out: BTreeMap<String, BTreeMap<IpAddr, Option<String>>> = BTreeMap::new();
        let mut order: Vec<(&str, usize)> =
            self.claims.iter().map(|(i, c)| (&*c.service, i)).collect();
        order.sort_unstable();
        for (key, i) in order {
            let (addr, pool) = self.described(i);
            match out.last_entry().filter(|e| e.key() == key) {
                Some(mut e) => drop(e.get_mut().insert(addr, pool)),
                None => drop(out.insert(key.to_string(), BTreeMap::from([(addr, pool)]))),
            }
        }
        for key in self.claims.bare() {
            out.entry(key.to_string()).or_default();
        }
        out
    }

    /// Number of intervals in the used-address sets (what the memory follows).
    pub fn used_intervals(&self) -> usize {
        self.used_v4.intervals() + self.used_v6.intervals()
    }

    /// Per pool, in name order: (name, addresses in use from it, addresses it holds). The
    /// size is a float: an IPv6 /64 holds 1.8e19.
    pub fn usage(&self) -> Vec<(String, u64, f64)> {
        let mut in_use = vec![0u64; self.pool_ids.len()];
        for (i, c) in self.claims.iter() {
            // an address shared by several services counts once, at its first claim
            let first = self.claims.users(c.addr).all(|j| j >= i);
            if let Some(n) = in_use.get_mut(c.pool as usize).filter(|_| first) {
                *n += 1;
            }
        }
        self.pools
            .iter()
            .map(|(name, p)| {
                let size = p.ranges.iter().map(|r| (r.hi - r.lo) as f64 + 1.0).sum();
                let id = self.pool_ids.iter().position(|n| n.as_ref() == Some(name));
                let used = id.and_then(|i| in_use.get(i)).copied().unwrap_or(0);
                (p.name.clone(), used, size)
            })
            .collect()
    }

    /// Number of addresses in use.
    pub fn used_addresses(&self) -> usize {
        self.claims.addresses()
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
                        service: e.key.to_string(),
                        address: *addr,
                        node: n.node.clone(),
                    });
                    continue;
                }
                let hint = e.pool.as_deref();
                if let Err(err) = self.claim(&e.key, *addr, e.sharing.as_ref(), hint) {
                    errors.push(err);
                }
            }
        }
        errors
    }
}

mod policy;
