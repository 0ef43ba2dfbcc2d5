//! Property tests: random sequences of pool changes, allocations, releases and restarts, run
//! against the allocator and a naive reference model built from plain sets.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;

use super::*;

fn addr(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(198, 51, 100, n))
}

#[derive(Debug, Clone)]
enum Op {
    SetPool { pool: u8, lo: u8, len: u8 },
    RemovePool { pool: u8 },
    Allocate { svc: u8, share: bool },
    Release { svc: u8 },
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..3, 0u8..24, 1u8..8).prop_map(|(pool, lo, len)| Op::SetPool { pool, lo, len }),
        (0u8..3).prop_map(|pool| Op::RemovePool { pool }),
        (0u8..12, any::<bool>()).prop_map(|(svc, share)| Op::Allocate { svc, share }),
        (0u8..12).prop_map(|svc| Op::Release { svc }),
        Just(Op::Restart),
    ]
}

/// The naive model: explicit address sets.
#[derive(Default)]
struct Model {
    pools: BTreeMap<String, BTreeSet<u8>>,
    /// address → (service → shares?)
    used: BTreeMap<u8, BTreeMap<String, bool>>,
}

impl Model {
    fn held(&self, svc: &str) -> Option<u8> {
        self.used
            .iter()
            .find(|(_, u)| u.contains_key(svc))
            .map(|(a, _)| *a)
    }

    fn in_pool(&self, a: u8) -> bool {
        self.pools.values().any(|p| p.contains(&a))
    }

    fn allocate(&mut self, svc: &str, share: bool) -> Option<u8> {
        if let Some(a) = self.held(svc) {
            return Some(a);
        }
        let shared = share
            .then(|| {
                self.used
                    .iter()
                    .find(|(a, u)| self.in_pool(**a) && u.values().all(|s| *s))
                    .map(|(a, _)| *a)
            })
            .flatten();
        let free = || {
            self.pools
                .values()
                .find_map(|p| p.iter().find(|a| !self.used.contains_key(a)).copied())
        };
        let a = shared.or_else(free)?;
        self.used
            .entry(a)
            .or_default()
            .insert(svc.to_string(), share);
        Some(a)
    }

    fn release(&mut self, svc: &str) {
        for u in self.used.values_mut() {
            u.remove(svc);
        }
        self.used.retain(|_, u| !u.is_empty());
    }
}

fn request(svc: &str, created: u64, share: bool) -> Request {
    let mut r = Request::simple(svc, created, Fam::V4);
    if share {
        r.sharing = Some(Sharing {
            key: "k".into(),
            ports: vec![Port {
                protocol: "TCP".into(),
                port: 1000 + created as u16,
            }],
            local_traffic: false,
        });
    }
    r
}

fn restored(a: &Allocator, created: &BTreeMap<String, (u64, bool)>) -> Vec<Restored> {
    a.assignments()
        .into_iter()
        .map(|(key, addrs)| {
            let (c, share) = created.get(&key).copied().unwrap_or((0, false));
            Restored {
                sharing: request(&key, c, share).sharing,
                key: key.into(),
                created: c,
                pool: addrs.values().next().cloned().flatten(),
                addresses: addrs.keys().copied().collect(),
            }
        })
        .collect()
}

proptest! {
    #[test]
    fn the_allocator_agrees_with_a_naive_model_and_survives_restarts(ops in proptest::collection::vec(op(), 1..80)) {
        let mut model = Model::default();
        let mut live = Allocator::new(vec![]);      // never restarted
        let mut restarted = Allocator::new(vec![]); // rebuilt with restore at every Restart
        let mut created: BTreeMap<String, (u64, bool)> = BTreeMap::new();
        for (i, op) in ops.into_iter().enumerate() {
            match op {
                Op::SetPool { pool, lo, len } => {
                    let name = format!("p{pool}");
                    let hi = lo.saturating_add(len - 1);
                    let p = Pool::new(&name, vec![Range::new(addr(lo), addr(hi)).expect("range")]);
                    live.add_pool(p.clone()).expect("no node addresses");
                    restarted.add_pool(p).expect("no node addresses");
                    model.pools.insert(name, (lo..=hi).collect());
                }
                Op::RemovePool { pool } => {
                    let name = format!("p{pool}");
                    live.remove_pool(&name);
                    restarted.remove_pool(&name);
                    model.pools.remove(&name);
                }
                Op::Allocate { svc, share } => {
                    let key = format!("s{svc}");
                    let (c, share) = *created.entry(key.clone()).or_insert((i as u64, share));
                    let want = model.allocate(&key, share).map(addr);
                    let got = live.allocate(&request(&key, c, share)).ok().map(|a| a.addresses.keys().copied().collect::<Vec<_>>());
                    let again = restarted.allocate(&request(&key, c, share)).ok().map(|a| a.addresses.keys().copied().collect::<Vec<_>>());
                    prop_assert_eq!(got.clone(), want.map(|a| vec![a]), "op {}: {}", i, key);
                    prop_assert_eq!(again, got);
                }
                Op::Release { svc } => {
                    let key = format!("s{svc}");
                    live.release(&key);
                    restarted.release(&key);
                    model.release(&key);
                    created.remove(&key);
                }
                Op::Restart => {
                    let mut fresh = Allocator::new(vec![]);
                    for p in restarted.pools() {
                        fresh.add_pool(p.clone()).expect("pool");
                    }
                    let errors = fresh.restore(restored(&restarted, &created));
                    prop_assert!(errors.is_empty(), "{:?}", errors);
                    restarted = fresh;
                }
            }
            // No address is held by two services unless all its users share one key.
            let all = live.assignments();
            let mut holders: BTreeMap<IpAddr, Vec<String>> = BTreeMap::new();
            for (k, addrs) in &all {
                for a in addrs.keys() {
                    holders.entry(*a).or_default().push(k.clone());
                }
            }
            for (a, users) in &holders {
                if users.len() > 1 {
                    prop_assert!(users.iter().all(|u| created.get(u).is_some_and(|c| c.1)), "{} held by {:?}", a, users);
                }
            }
            // Every address is in a pool or reported orphaned.
            let orphans: BTreeSet<(String, IpAddr)> = live.orphaned().into_iter().collect();
            for (k, addrs) in &all {
                for (a, pool) in addrs {
                    let in_pool = live.pools().any(|p| p.contains(*a));
                    prop_assert_eq!(pool.is_some(), in_pool);
                    prop_assert!(in_pool || orphans.contains(&(k.clone(), *a)));
                }
            }
            prop_assert_eq!(restarted.assignments(), all);
        }
    }
}
