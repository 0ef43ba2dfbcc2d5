//! The one allocator driver both modes run: pools in, existing assignments re-adopted, then the
//! rest served oldest first (docs/ARCHITECTURE.md rule 2, "restore then serve"). The standalone state file
//! and the Kubernetes Service status are two sources of the same [`Restored`] entries, so a new
//! allocator after a restart or a handover decides exactly what the old one did.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use super::{AllocError, Allocator, NodeAddress, Pool, Request, Restored};

/// What one service holds after it was served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub key: Arc<str>,
    /// Address → the pool it came from (None: orphaned, no pool covers it any more).
    pub addresses: BTreeMap<IpAddr, Option<String>>,
    /// Why a wanted family has no address yet (PreferDualStack).
    pub missing: Vec<String>,
    /// Why the request could not be served; `addresses` is then what the service still holds.
    pub error: Option<AllocError>,
}

impl Served {
    /// The pool of the first address, if any.
    pub fn pool(&self) -> Option<&str> {
        self.addresses.values().flatten().next().map(String::as_str)
    }
}

/// A pool the driver refused, with the reason.
pub type Refused = (String, AllocError);

/// The allocator and the rule that drives it.
#[derive(Debug, Clone, Default)]
pub struct Driver {
    alloc: Allocator,
}

impl Driver {
    /// Builds the allocator from the pools, then re-adopts `existing` (older first): what is
    /// held stays held. Returns the driver, the pools refused, and the restore conflicts.
    pub fn take_over(
        nodes: Vec<NodeAddress>,
        pools: Vec<Pool>,
        existing: Vec<Restored>,
    ) -> (Driver, Vec<Refused>, Vec<AllocError>) {
        let mut d = Driver {
            alloc: Allocator::new(nodes),
        };
        let refused = d.set_pools(pools);
        let conflicts = d.alloc.restore(existing);
        (d, refused, conflicts)
    }

    /// Replaces the pools: those gone are removed (their addresses stay, orphaned), the others
    /// added or replaced. Returns the pools refused.
    pub fn set_pools(&mut self, pools: Vec<Pool>) -> Vec<Refused> {
        let gone: Vec<String> = self
            .alloc
            .pools()
            .filter(|p| !pools.iter().any(|n| n.name == p.name))
            .map(|p| p.name.clone())
            .collect();
        gone.iter().for_each(|p| self.alloc.remove_pool(p));
        let mut refused = Vec::new();
        for pool in pools {
            let name = pool.name.clone();
            if let Err(e) = self.alloc.add_pool(pool) {
                refused.push((name, e));
            }
        }
        refused
    }

    /// Serves every request, oldest first (by `created`, then key); the result is in that order.
    pub fn serve_all(&mut self, mut requests: Vec<Request>) -> Vec<Served> {
        requests.sort_by(|a, b| (a.created, &a.key).cmp(&(b.created, &b.key)));
        requests.iter().map(|r| self.serve(r)).collect()
    }

    /// Serves one request, keeping what the service holds where it still may.
    pub fn serve(&mut self, req: &Request) -> Served {
        match self.alloc.allocate(req) {
            Ok(a) => Served {
                key: req.key.clone(),
                addresses: a.addresses,
                missing: a.missing,
                error: None,
            },
            Err(e) => Served {
                key: req.key.clone(),
                addresses: self.alloc.assignment(&req.key).addresses,
                missing: Vec::new(),
                error: Some(e),
            },
        }
    }

    /// Re-adopts more existing assignments, as [`Driver::take_over`] does (older first);
    /// returns the conflicts.
    pub fn restore(&mut self, existing: Vec<Restored>) -> Vec<AllocError> {
        self.alloc.restore(existing)
    }

    /// Releases what a service holds.
    pub fn release(&mut self, key: &str) {
        self.alloc.release(key);
    }

    /// Releases what each of `keys` holds: the same as [`Driver::release`] for each in turn,
    /// in time that follows what is freed (a withdraw-all reload frees 100k services at once).
    pub fn release_many<'k>(&mut self, keys: impl IntoIterator<Item = &'k str>) {
        self.alloc.release_many(keys);
    }

    /// The allocator (pools, assignments, orphans).
    /// A driver with the same pools that holds nothing (every service released).
    pub fn released_all(&self) -> Driver {
        Driver {
            alloc: self.alloc.released_all(),
        }
    }

    pub fn allocator(&self) -> &Allocator {
        &self.alloc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allocator::{Fam, Range};

    fn pool(name: &str, lo: &str, hi: &str) -> Pool {
        let range = Range::new(lo.parse().expect("ip"), hi.parse().expect("ip")).expect("range");
        Pool::new(name, vec![range])
    }

    fn held(key: &str, created: u64, addr: &str) -> Restored {
        Restored {
            key: key.into(),
            created,
            addresses: vec![addr.parse().expect("ip")],
            sharing: None,
            pool: None,
        }
    }

    #[test]
    fn held_addresses_are_restored_before_new_services_are_served_oldest_first() {
        let pools = vec![pool("p", "198.51.100.1", "198.51.100.3")];
        let (mut d, refused, conflicts) =
            Driver::take_over(Vec::new(), pools, vec![held("old", 5, "198.51.100.1")]);
        assert!(refused.is_empty() && conflicts.is_empty());
        let served = d.serve_all(vec![
            Request::simple("new-b", 9, Fam::V4),
            Request::simple("new-a", 7, Fam::V4),
            Request::simple("old", 5, Fam::V4),
        ]);
        let got: Vec<(&str, String)> = served
            .iter()
            .map(|s| {
                (
                    &*s.key,
                    s.addresses
                        .keys()
                        .next()
                        .map(|a| a.to_string())
                        .unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("old", "198.51.100.1".into()),
                ("new-a", "198.51.100.2".into()),
                ("new-b", "198.51.100.3".into())
            ]
        );
        let late = d.serve(&Request::simple("late", 10, Fam::V4));
        assert!(late.error.is_some() && late.addresses.is_empty());
        assert_eq!(served[0].pool(), Some("p"));
    }

    #[test]
    fn a_pool_holding_a_node_address_is_refused_and_the_others_serve() {
        let node = NodeAddress {
            node: "node-a".into(),
            address: "198.51.100.2".parse().expect("ip"),
        };
        let pools = vec![
            pool("bad", "198.51.100.1", "198.51.100.3"),
            pool("good", "203.0.113.1", "203.0.113.1"),
        ];
        let (mut d, refused, _) = Driver::take_over(vec![node], pools, Vec::new());
        assert_eq!(
            refused.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            ["bad"]
        );
        assert_eq!(
            d.serve(&Request::simple("s", 1, Fam::V4)).pool(),
            Some("good")
        );
        assert!(d.set_pools(Vec::new()).is_empty());
        assert_eq!(
            d.allocator().orphaned().len(),
            1,
            "its address stays with its service"
        );
    }
}
