//! `allocate`: specific addresses, pool by name or auto-assign, sharing, and the dual-stack
//! policy on top of the allocator's claims.

use std::net::IpAddr;
use std::num::NonZeroU32;

use super::super::pool::Pool;
use super::super::{AllocError, Allocation, Fam, FamilyPolicy, Request};
use super::Allocator;

impl Allocator {
    /// Gives `req` its addresses. Addresses it already holds are kept (nothing moves unless
    /// the service asks for specific other addresses); missing families are filled in.
    pub fn allocate(&mut self, req: &Request) -> Result<Allocation, AllocError> {
        if let Some(pool) = &req.pool {
            if !self.pools.contains_key(pool.as_str()) {
                return Err(AllocError::UnknownPool {
                    service: req.key.to_string(),
                    pool: pool.clone(),
                });
            }
        }
        if !req.addresses.is_empty() {
            self.take_specific(req)?;
            return Ok(self.assignment(&req.key));
        }
        let wanted: Vec<Fam> = match req.policy {
            FamilyPolicy::SingleStack(f) => vec![f],
            FamilyPolicy::PreferDualStack | FamilyPolicy::RequireDualStack => {
                vec![Fam::V4, Fam::V6]
            }
        };
        let held: Vec<Fam> = self
            .assignment(&req.key)
            .addresses
            .keys()
            .map(|a| Fam::of(*a))
            .collect();
        let mut taken = Vec::new();
        let mut missing = Vec::new();
        for f in wanted.into_iter().filter(|f| !held.contains(f)) {
            match self.take_one(req, f) {
                Ok(a) => taken.push(a),
                Err(e) if req.policy == FamilyPolicy::PreferDualStack => {
                    missing.push(e.to_string())
                }
                Err(e) => {
                    for a in taken {
                        self.unclaim(&req.key, a);
                    }
                    self.claims.unlist(&req.key); // held nothing before: gone again
                    if req.policy == FamilyPolicy::RequireDualStack {
                        return Err(AllocError::DualStackUnavailable {
                            service: req.key.to_string(),
                            reason: e.to_string(),
                        });
                    }
                    return Err(e);
                }
            }
        }
        let mut out = self.assignment(&req.key);
        if out.addresses.is_empty() && !missing.is_empty() {
            return Err(AllocError::DualStackUnavailable {
                service: req.key.to_string(),
                reason: missing.join("; "),
            });
        }
        out.missing = missing;
        Ok(out)
    }

    /// Replaces the service's addresses with exactly the requested ones.
    fn take_specific(&mut self, req: &Request) -> Result<(), AllocError> {
        for a in &req.addresses {
            if let Some(n) = self.node_of(*a) {
                return Err(AllocError::NodeAddressRequested {
                    service: req.key.to_string(),
                    address: *a,
                    node: n.node.clone(),
                });
            }
            if !self
                .allowed_pools(req, Fam::of(*a), true)
                .iter()
                .any(|p| p.contains(*a))
            {
                return Err(AllocError::NotInAllowedPool {
                    service: req.key.to_string(),
                    address: *a,
                });
            }
        }
        let old: Vec<IpAddr> = self
            .assignment(&req.key)
            .addresses
            .keys()
            .copied()
            .collect();
        let mut claimed = Vec::new();
        for a in &req.addresses {
            let pool = self
                .allowed_pools(req, Fam::of(*a), true)
                .into_iter()
                .find(|p| p.contains(*a))
                .map(|p| p.name.clone());
            let claimed_now = self.claim(&req.key, *a, req.sharing.as_ref(), pool.as_deref());
            if let Err(e) = claimed_now {
                for c in claimed.into_iter().filter(|c| !old.contains(c)) {
                    self.unclaim(&req.key, c);
                }
                return Err(e);
            }
            claimed.push(*a);
        }
        for a in old.into_iter().filter(|a| !req.addresses.contains(a)) {
            self.unclaim(&req.key, a);
        }
        Ok(())
    }

    /// Pools `req` may take family `f` from, best first (see [`try_order`]). `explicit`: the
    /// service named an address, so auto_assign = false pools count too.
    fn allowed_pools(&self, req: &Request, f: Fam, explicit: bool) -> Vec<&Pool> {
        let mut pools: Vec<&Pool> = self
            .pools
            .values()
            .filter(|p| p.has_family(f))
            .filter(|p| match &req.pool {
                Some(name) => &p.name == name,
                None => {
                    (p.auto_assign || explicit)
                        && p.selector
                            .matches(&req.namespace, &req.namespace_labels, &req.labels)
                }
            })
            .collect();
        pools.sort_by_key(|&p| try_order(p));
        pools
    }

    /// One address of family `f`: an address shared under the same key if one fits, else the
    /// lowest free address of the best pool that has one.
    fn take_one(&mut self, req: &Request, f: Fam) -> Result<IpAddr, AllocError> {
        // Found under a shared borrow, claimed after it: (address, its pool) or why not. The
        // pools are looked at in place, not copied per request.
        let found = {
            let pools = self.allowed_pools(req, f, false);
            if pools.is_empty() {
                return Err(AllocError::NoPool {
                    service: req.key.to_string(),
                    family: f.name(),
                });
            }
            let shared = self.shareable(req, f, &pools).map(|a| {
                let pool = pools.iter().find(|p| p.contains(a)).map(|p| p.name.clone());
                (a, pool)
            });
            shared
                .or_else(|| {
                    pools.iter().find_map(|p| {
                        p.first_free(f, self.used(f))
                            .map(|a| (a, Some(p.name.clone())))
                    })
                })
                .ok_or_else(|| AllocError::Exhausted {
                    service: req.key.to_string(),
                    family: f.name(),
                    pools: pools
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
        };
        let (a, pool) = found?;
        self.claim(&req.key, a, req.sharing.as_ref(), pool.as_deref())?;
        Ok(a)
    }

    /// The lowest address of family `f` in `pools` whose every user shares under the
    /// request's key without a clash, and which `req` does not hold yet.
    fn shareable(&self, req: &Request, f: Fam, pools: &[&Pool]) -> Option<IpAddr> {
        let sharing = req.sharing.as_ref()?;
        let mut best: Option<IpAddr> = None;
        for (_, c) in self.claims.iter() {
            let a = c.addr;
            if Fam::of(a) != f || best.is_some_and(|b| b <= a) {
                continue;
            }
            let fits = pools.iter().any(|p| p.contains(a))
                && self.claims.users(a).all(|i| {
                    *self.claims.get(i).service != *req.key
                        && self.claims.terms(i).is_some_and(|t| {
                            t.key == sharing.key
                                && super::super::sharing_conflict(Some(sharing), Some(t)).is_none()
                        })
                });
            if fits {
                best = Some(a);
            }
        }
        best
    }
}

/// The order in which matching pools are tried; the first with a free address wins. As in
/// MetalLB's allocator (`Allocator.Allocate` tries the pools pinned to the service by a
/// namespace or service condition, sorted by `sortPools`, and only then the others):
/// 1. a pool whose selector names the service's namespace or selects it by labels comes before
///    a pool that serves every service;
/// 2. then a pool with a priority before one without, lower value first;
/// 3. then by name (MetalLB leaves equal priorities in no defined order; this one is stable).
///
/// MetalLB never auto-assigns from a pool whose `serviceAllocation` has a priority but no
/// condition; here such a pool serves every service and its priority orders it among those.
fn try_order(p: &Pool) -> (bool, bool, Option<NonZeroU32>, &str) {
    (
        !p.selector.is_specific(),
        p.priority.is_none(),
        p.priority,
        p.name.as_str(),
    )
}
