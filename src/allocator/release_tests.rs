//! Property tests: releasing many services at once leaves exactly the allocator that releasing
//! them one by one leaves, over random states with sharing, dual stack, specific addresses and
//! pool changes.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;

fn v4(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(198, 51, 100, n))
}

fn v6(n: u8) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(n)))
}

#[derive(Debug, Clone)]
enum Op {
    SetPool {
        pool: u8,
        lo: u8,
        len: u8,
        v6: bool,
    },
    RemovePool {
        pool: u8,
    },
    Allocate {
        svc: u8,
        how: u8,
        share: u8,
        port: u16,
        at: Option<u8>,
    },
    Release {
        svc: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0u8..3, 0u8..16, 1u8..8, any::<bool>())
            .prop_map(|(pool, lo, len, v6)| Op::SetPool { pool, lo, len, v6 }),
        1 => (0u8..3).prop_map(|pool| Op::RemovePool { pool }),
        4 => (0u8..16, 0u8..4, 0u8..3, 0u16..3, proptest::option::of(0u8..24))
            .prop_map(|(svc, how, share, port, at)| Op::Allocate { svc, how, share, port, at }),
        1 => (0u8..16).prop_map(|svc| Op::Release { svc }),
    ]
}

fn request(svc: u8, how: u8, share: u8, port: u16, at: Option<u8>) -> Request {
    let policy = match how {
        0 => FamilyPolicy::SingleStack(Fam::V4),
        1 => FamilyPolicy::SingleStack(Fam::V6),
        2 => FamilyPolicy::PreferDualStack,
        _ => FamilyPolicy::RequireDualStack,
    };
    Request {
        addresses: at.map(|n| vec![v4(n)]).unwrap_or_default(),
        policy,
        sharing: (share > 0).then(|| Sharing {
            key: format!("k{share}"),
            ports: vec![Port {
                protocol: "TCP".into(),
                port,
            }],
            local_traffic: false,
        }),
        ..Request::simple(format!("s{svc}"), u64::from(svc), Fam::V4)
    }
}

fn apply(a: &mut Allocator, op: &Op) {
    match *op {
        Op::SetPool {
            pool,
            lo,
            len,
            v6: six,
        } => {
            let (lo, hi) = (lo, lo + len - 1);
            let range = match six {
                true => Range::new(v6(lo), v6(hi)),
                false => Range::new(v4(lo), v4(hi)),
            };
            let p = Pool::new(&format!("p{pool}"), vec![range.expect("range")]);
            a.add_pool(p).expect("no node addresses");
        }
        Op::RemovePool { pool } => a.remove_pool(&format!("p{pool}")),
        Op::Allocate {
            svc,
            how,
            share,
            port,
            at,
        } => drop(a.allocate(&request(svc, how, share, port, at))),
        Op::Release { svc } => a.release(&format!("s{svc}")),
    }
}

type Seen = (
    BTreeMap<String, BTreeMap<IpAddr, Option<String>>>,
    Vec<(String, IpAddr)>,
    Vec<(String, u64, f64)>,
    usize,
    usize,
);

/// Everything the allocator shows.
fn seen(a: &Allocator) -> Seen {
    (
        a.assignments(),
        a.orphaned(),
        a.usage(),
        a.used_intervals(),
        a.used_addresses(),
    )
}

proptest! {
    #[test]
    fn releasing_many_at_once_equals_releasing_them_one_by_one(
        ops in proptest::collection::vec(op(), 1..60),
        gone in proptest::collection::vec(0u8..18, 0..20),
        after in proptest::collection::vec(op(), 0..20),
    ) {
        let mut a = Allocator::new(vec![]);
        ops.iter().for_each(|o| apply(&mut a, o));
        let keys: Vec<String> = gone.iter().map(|n| format!("s{n}")).collect();
        let mut one_by_one = a.clone();
        keys.iter().for_each(|k| one_by_one.release(k));
        let mut at_once = a;
        at_once.release_many(keys.iter().map(String::as_str));
        prop_assert_eq!(seen(&at_once), seen(&one_by_one));
        // The indexes and used-address sets behind them agree too: the same later operations
        // give the same results.
        for o in &after {
            apply(&mut one_by_one, o);
            apply(&mut at_once, o);
            prop_assert_eq!(seen(&at_once), seen(&one_by_one));
        }
    }
}

#[test]
fn releasing_every_service_at_once_frees_every_address() {
    let mut a = Allocator::new(vec![]);
    let range = Range::new(v4(0), v4(255)).expect("range");
    a.add_pool(Pool::new("p", vec![range])).expect("pool");
    let keys: Vec<String> = (0..200).map(|i| format!("svc-{i}")).collect();
    for (i, k) in keys.iter().enumerate() {
        a.allocate(&Request::simple(k.as_str(), i as u64, Fam::V4))
            .expect("allocate");
    }
    a.release_many(keys.iter().skip(50).map(String::as_str));
    assert_eq!(a.used_addresses(), 50);
    assert_eq!(a.used_intervals(), 1);
    a.release_many(keys.iter().map(String::as_str));
    assert!(a.assignments().is_empty());
    assert_eq!((a.used_addresses(), a.used_intervals()), (0, 0));
    let next = a.allocate(&Request::simple("next", 1, Fam::V4));
    assert_eq!(
        next.map(|n| n.addresses.into_keys().collect::<Vec<_>>()),
        Ok(vec![v4(0)])
    );
}

#[test]
fn a_service_whose_specific_addresses_fail_stays_listed_without_addresses() {
    let mut a = Allocator::new(vec![]);
    let range = Range::new(v4(1), v4(9)).expect("range");
    a.add_pool(Pool::new("p", vec![range])).expect("pool");
    a.allocate(&Request {
        addresses: vec![v4(2)],
        ..Request::simple("holder", 1, Fam::V4)
    })
    .expect("allocate");
    let refused = a.allocate(&Request {
        addresses: vec![v4(1), v4(2)],
        ..Request::simple("late", 2, Fam::V4)
    });
    assert!(refused.is_err());
    let listed: Vec<(String, usize)> = a
        .assignments()
        .into_iter()
        .map(|(k, addrs)| (k, addrs.len()))
        .collect();
    assert_eq!(listed, [("holder".to_string(), 1), ("late".to_string(), 0)]);
    assert_eq!(a.used_addresses(), 1, "198.51.100.1 was given back");
    a.release_many(["late"]);
    assert_eq!(a.assignments().len(), 1);
}
