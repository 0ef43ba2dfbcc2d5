//! The allocator's claims: one flat record per (service, address) it holds, with two hash
//! indexes over it, by service and by address. Compact (~40 bytes a claim plus the service
//! name) and cheap to clone (one copy of a vector and two tables of `u32`); nothing is kept in
//! order, so whoever shows claims in order sorts them.

use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::Arc;

use hashbrown::{DefaultHashBuilder, HashMap, HashSet, HashTable};

use super::Sharing;

/// A pool as the claims name it: an index into the allocator's pool names, [`ORPHANED`] when
/// no pool covers the address.
pub type PoolId = u32;

/// The [`PoolId`] of an address no pool covers.
pub const ORPHANED: PoolId = u32::MAX;

/// One service holding one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The service key, shared with whoever asked (the config's name, the Service record).
    pub service: Arc<str>,
    pub addr: IpAddr,
    /// The address's pool: the same in every claim of one address.
    pub pool: PoolId,
}

/// Every claim, indexed both ways.
///
/// `claims` is dense (a removal moves the last claim into the hole) and grows by a quarter,
/// not double; `by_service` and `by_addr` hold positions in it, and several entries may share
/// a key (a service with two addresses, an address shared by two services). Sharing terms are
/// rare and live beside, by position. A service that asked for addresses and holds none for
/// the moment (a failed claim of specific addresses) is listed in `bare`, as the old per-service
/// map kept it, so `assignments()` still shows it.
#[derive(Debug, Clone, Default)]
pub struct Claims {
    claims: Vec<Claim>,
    by_service: HashTable<u32>,
    by_addr: HashTable<u32>,
    terms: HashMap<u32, Sharing>,
    bare: HashSet<Box<str>>,
    /// Distinct addresses held.
    addresses: usize,
    hasher: DefaultHashBuilder,
}

fn hash<T: Hash + ?Sized>(h: &DefaultHashBuilder, v: &T) -> u64 {
    h.hash_one(v)
}

/// Positions fit in a u32: 4 billion claims are far beyond any memory this runs in.
fn pos(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

impl Claims {
    /// Positions of the claims on `addr`.
    pub fn users(&self, addr: IpAddr) -> impl Iterator<Item = usize> + '_ {
        self.by_addr
            .iter_hash(hash(&self.hasher, &addr))
            .map(|&i| i as usize)
            .filter(move |&i| self.claims[i].addr == addr)
    }

    /// Positions of the claims of `service`.
    pub fn of_service<'a>(&'a self, service: &'a str) -> impl Iterator<Item = usize> + 'a {
        self.by_service
            .iter_hash(hash(&self.hasher, service))
            .map(|&i| i as usize)
            .filter(move |&i| &*self.claims[i].service == service)
    }

    pub fn get(&self, i: usize) -> &Claim {
        &self.claims[i]
    }

    /// The sharing terms of claim `i`.
    pub fn terms(&self, i: usize) -> Option<&Sharing> {
        self.terms.get(&pos(i))
    }

    /// Every claim, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &Claim)> {
        self.claims.iter().enumerate()
    }

    /// Services listed without addresses.
    pub fn bare(&self) -> impl Iterator<Item = &str> {
        self.bare.iter().map(|k| &**k)
    }

    /// True when `service` is listed without addresses.
    pub fn is_bare(&self, service: &str) -> bool {
        self.bare.contains(service)
    }

    /// Drops `service` from the bare list (it is gone, or it gave up asking).
    pub fn unlist(&mut self, service: &str) {
        self.bare.remove(service);
    }

    /// Number of distinct addresses held.
    pub fn addresses(&self) -> usize {
        self.addresses
    }

    /// Sets every claim's pool to `f(address, pool)`; `f` must depend on nothing else, so the
    /// claims of one address keep one pool.
    pub fn repool(&mut self, mut f: impl FnMut(IpAddr, PoolId) -> PoolId) {
        for c in &mut self.claims {
            c.pool = f(c.addr, c.pool);
        }
    }

    /// `service` claims `addr` with `terms`. When it already does, only the terms are replaced;
    /// when others hold the address, it keeps their pool, else it gets `pool`. Returns true when
    /// the address was free.
    pub fn insert(
        &mut self,
        service: &Arc<str>,
        addr: IpAddr,
        pool: PoolId,
        terms: Option<Sharing>,
    ) -> bool {
        let (first, mine) = {
            let mut users = self.users(addr).peekable();
            let first = users.peek().copied();
            (first, users.find(|&i| self.claims[i].service == *service))
        };
        let i = match mine {
            Some(i) => pos(i),
            None => {
                let pool = first.map_or(pool, |j| self.claims[j].pool);
                self.push(Claim {
                    service: service.clone(),
                    addr,
                    pool,
                })
            }
        };
        match terms {
            Some(t) => drop(self.terms.insert(i, t)),
            None => drop(self.terms.remove(&i)),
        }
        self.bare.remove(&**service);
        if first.is_none() {
            self.addresses += 1;
        }
        first.is_none()
    }

    fn push(&mut self, c: Claim) -> u32 {
        if self.claims.len() == self.claims.capacity() {
            // A quarter more, not double: at 100k claims doubling would leave up to 4 MB idle.
            self.claims.reserve_exact((self.claims.len() / 4).max(16));
        }
        let i = pos(self.claims.len());
        let (hs, ha) = (hash(&self.hasher, &*c.service), hash(&self.hasher, &c.addr));
        self.claims.push(c);
        let (claims, hasher) = (&self.claims, &self.hasher);
        self.by_service
            .insert_unique(hs, i, |&j| hash(hasher, &*claims[j as usize].service));
        self.by_addr
            .insert_unique(ha, i, |&j| hash(hasher, &claims[j as usize].addr));
        i
    }

    /// Removes `service`'s claim on `addr`; when that was its last claim it is listed bare.
    /// Returns true when nobody holds the address any more.
    pub fn remove(&mut self, service: &str, addr: IpAddr) -> bool {
        let Some(i) = self
            .users(addr)
            .find(|&i| &*self.claims[i].service == service)
        else {
            return false;
        };
        self.take(i);
        if self.of_service(service).next().is_none() {
            self.bare.insert(service.into());
        }
        self.freed(addr)
    }

    /// True (and counted) when nobody holds `addr` any more.
    fn freed(&mut self, addr: IpAddr) -> bool {
        let free = self.users(addr).next().is_none();
        if free {
            self.addresses -= 1;
        }
        free
    }

    /// Removes every claim of `service` and its bare listing; returns the addresses now free.
    pub fn remove_service(&mut self, service: &str) -> Vec<IpAddr> {
        self.bare.remove(service);
        let mut mine: Vec<usize> = self.of_service(service).collect();
        mine.sort_unstable_by(|a, b| b.cmp(a)); // last first: a removal moves the last claim
        let freed = self.take_all(mine);
        self.shrink();
        freed
    }

    /// No claims, the same hashing (a reload that keeps no service starts from this instead
    /// of a copy it would then empty).
    pub fn cleared(&self) -> Claims {
        Claims {
            hasher: self.hasher,
            ..Claims::default()
        }
    }

    /// Removes every claim of every service in `services` and their bare listings; returns
    /// the addresses now free, or None when no address is held any more (all are free). Same
    /// result as [`Claims::remove_service`] for each in turn; when they hold most claims, the
    /// rest are kept by one pass and the indexes rebuilt, so the cost follows what is removed,
    /// without a lookup per claim.
    pub fn remove_services(&mut self, services: &[&str]) -> Option<Vec<IpAddr>> {
        let mut gone: Vec<usize> = Vec::new();
        for s in services {
            if !self.bare.is_empty() {
                self.bare.remove(*s);
            }
            gone.extend(self.of_service(s));
        }
        if gone.len() * 2 < self.claims.len() {
            gone.sort_unstable_by(|a, b| b.cmp(a)); // last first: a removal moves the last claim
            gone.dedup();
            let freed = self.take_all(gone);
            self.shrink();
            return Some(freed);
        }
        let mut drop_it = vec![false; self.claims.len()];
        gone.into_iter().for_each(|i| drop_it[i] = true);
        let old_terms = std::mem::take(&mut self.terms);
        let mut removed = Vec::new();
        let mut kept = Vec::new();
        for (i, c) in std::mem::take(&mut self.claims).into_iter().enumerate() {
            if drop_it[i] {
                removed.push(c.addr);
                continue;
            }
            if let Some(t) = old_terms.get(&pos(i)) {
                self.terms.insert(pos(kept.len()), t.clone());
            }
            kept.push(c);
        }
        let all = kept.is_empty();
        self.reindex(kept);
        if all {
            self.addresses = 0;
            return None;
        }
        removed.sort_unstable();
        removed.dedup();
        let freed: Vec<IpAddr> = removed
            .into_iter()
            .filter(|a| self.users(*a).next().is_none())
            .collect();
        self.addresses -= freed.len();
        Some(freed)
    }

    /// Removes the claims at `positions` (highest first, so none moves before its turn);
    /// returns the addresses each removal freed.
    fn take_all(&mut self, positions: Vec<usize>) -> Vec<IpAddr> {
        let mut freed = Vec::new();
        for i in positions {
            let a = self.take(i).addr;
            if self.freed(a) {
                freed.push(a);
            }
        }
        freed
    }

    /// Takes `claims` as the whole table and rebuilds both indexes.
    fn reindex(&mut self, mut claims: Vec<Claim>) {
        claims.shrink_to(claims.len() + claims.len() / 4);
        let hasher = &self.hasher;
        let mut by_service = HashTable::with_capacity(claims.len());
        let mut by_addr = HashTable::with_capacity(claims.len());
        for (i, c) in claims.iter().enumerate() {
            let rehash_s = |&j: &u32| hash(hasher, &*claims[j as usize].service);
            by_service.insert_unique(hash(hasher, &*c.service), pos(i), rehash_s);
            let rehash_a = |&j: &u32| hash(hasher, &claims[j as usize].addr);
            by_addr.insert_unique(hash(hasher, &c.addr), pos(i), rehash_a);
        }
        self.claims = claims;
        self.by_service = by_service;
        self.by_addr = by_addr;
    }

    /// Removes claim `i` from the table and both indexes; the last claim moves into its place.
    fn take(&mut self, i: usize) -> Claim {
        let hasher = &self.hasher;
        let c = &self.claims[i];
        let at = pos(i);
        if let Ok(e) = self
            .by_service
            .find_entry(hash(hasher, &*c.service), |&j| j == at)
        {
            e.remove();
        }
        if let Ok(e) = self.by_addr.find_entry(hash(hasher, &c.addr), |&j| j == at) {
            e.remove();
        }
        self.terms.remove(&at);
        let last = self.claims.len() - 1;
        if i != last {
            let l = &self.claims[last];
            let was = pos(last);
            if let Some(j) = self
                .by_service
                .find_mut(hash(hasher, &*l.service), |&j| j == was)
            {
                *j = at;
            }
            if let Some(j) = self.by_addr.find_mut(hash(hasher, &l.addr), |&j| j == was) {
                *j = at;
            }
            if let Some(t) = self.terms.remove(&was) {
                self.terms.insert(at, t);
            }
        }
        self.claims.swap_remove(i)
    }

    /// Gives memory back once three quarters of the table are unused.
    fn shrink(&mut self) {
        let (len, cap) = (self.claims.len(), self.claims.capacity());
        if cap > 64 && len * 4 < cap {
            let claims = std::mem::take(&mut self.claims);
            self.reindex(claims);
        }
    }
}
