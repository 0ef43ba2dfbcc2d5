//! Allocator rules, one test each, named as sentences.

use std::net::IpAddr;

use super::*;

pub(super) fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

pub(super) fn range(a: &str, b: &str) -> Range {
    Range::new(ip(a), ip(b)).expect("range")
}

pub(super) fn cidr(s: &str) -> Range {
    let n: ipnet::IpNet = s.parse().expect("cidr");
    Range::new(n.network(), n.broadcast()).expect("range")
}

pub(super) fn alloc_with(pools: Vec<Pool>) -> Allocator {
    let mut a = Allocator::new(vec![NodeAddress {
        node: "node-a".into(),
        address: ip("192.0.2.10"),
    }]);
    for p in pools {
        a.add_pool(p).expect("pool");
    }
    a
}

pub(super) fn first(a: &Allocation) -> IpAddr {
    *a.addresses.keys().next().expect("an address")
}

fn shared(key: &str, port: u16, local: bool) -> Option<Sharing> {
    Some(Sharing {
        key: key.into(),
        ports: vec![Port {
            protocol: "TCP".into(),
            port,
        }],
        local_traffic: local,
    })
}

#[test]
fn addresses_come_lowest_first_from_a_range_crossing_an_octet_boundary() {
    let mut a = alloc_with(vec![Pool::new(
        "p",
        vec![range("198.51.100.254", "198.51.101.1")],
    )]);
    let got: Vec<IpAddr> = (0..4)
        .map(|i| {
            first(
                &a.allocate(&Request::simple(format!("s{i}"), i, Fam::V4))
                    .expect("alloc"),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ip("198.51.100.254"),
            ip("198.51.100.255"),
            ip("198.51.101.0"),
            ip("198.51.101.1")
        ]
    );
}

#[test]
fn avoid_buggy_ips_skips_dot_0_and_dot_255() {
    let mut p = Pool::new("p", vec![range("198.51.100.254", "198.51.101.1")]);
    p.avoid_buggy_ips = true;
    let mut a = alloc_with(vec![p]);
    let x = first(
        &a.allocate(&Request::simple("s1", 1, Fam::V4))
            .expect("alloc"),
    );
    let y = first(
        &a.allocate(&Request::simple("s2", 2, Fam::V4))
            .expect("alloc"),
    );
    assert_eq!((x, y), (ip("198.51.100.254"), ip("198.51.101.1")));
}

#[test]
fn a_pool_is_exhausted_with_a_reason_naming_it() {
    let mut a = alloc_with(vec![Pool::new(
        "tiny",
        vec![range("203.0.113.1", "203.0.113.2")],
    )]);
    a.allocate(&Request::simple("s1", 1, Fam::V4))
        .expect("first");
    a.allocate(&Request::simple("s2", 2, Fam::V4))
        .expect("second");
    let err = a
        .allocate(&Request::simple("s3", 3, Fam::V4))
        .expect_err("exhausted");
    assert!(
        matches!(&err, AllocError::Exhausted { pools, .. } if pools == "tiny"),
        "{err}"
    );
}

#[test]
fn a_slash_64_and_a_slash_48_cost_memory_per_address_handed_out() {
    let mut a = alloc_with(vec![
        Pool::new("v6-64", vec![cidr("2001:db8:1::/64")]),
        Pool::new("v6-48", vec![cidr("2001:db8:2::/48")]),
    ]);
    for i in 0..1000 {
        a.allocate(&Request::simple(format!("s{i}"), i, Fam::V6))
            .expect("alloc");
    }
    assert_eq!(a.used_addresses(), 1000);
    // Equal pools are tried in name order; consecutive addresses collapse into one interval,
    // so memory follows what is handed out, not the size of a /48.
    assert_eq!(
        a.assignment("s0").addresses.keys().next(),
        Some(&ip("2001:db8:2::"))
    );
    assert_eq!(
        a.assignment("s999").addresses.keys().next(),
        Some(&ip("2001:db8:2::3e7"))
    );
    assert_eq!(a.used_intervals(), 1);
    let mut req = Request::simple("named", 5000, Fam::V6);
    req.pool = Some("v6-64".into());
    assert_eq!(first(&a.allocate(&req).expect("alloc")), ip("2001:db8:1::"));
}

#[test]
fn a_pool_without_auto_assign_serves_only_services_that_name_it() {
    let mut p = Pool::new("reserved", vec![range("203.0.113.1", "203.0.113.9")]);
    p.auto_assign = false;
    let mut a = alloc_with(vec![p]);
    assert!(matches!(
        a.allocate(&Request::simple("s1", 1, Fam::V4)),
        Err(AllocError::NoPool { .. })
    ));
    let mut named = Request::simple("s2", 2, Fam::V4);
    named.pool = Some("reserved".into());
    assert_eq!(
        first(&a.allocate(&named).expect("alloc")),
        ip("203.0.113.1")
    );
    let mut specific = Request::simple("s3", 3, Fam::V4);
    specific.addresses = vec![ip("203.0.113.5")];
    assert_eq!(
        first(&a.allocate(&specific).expect("alloc")),
        ip("203.0.113.5")
    );
}

#[test]
fn a_specific_address_outside_the_allowed_pools_is_refused() {
    let mut a = alloc_with(vec![Pool::new(
        "p",
        vec![range("198.51.100.1", "198.51.100.9")],
    )]);
    let mut req = Request::simple("s1", 1, Fam::V4);
    req.addresses = vec![ip("203.0.113.7")];
    assert!(matches!(
        a.allocate(&req),
        Err(AllocError::NotInAllowedPool { .. })
    ));
}

#[test]
fn an_unknown_pool_is_refused() {
    let mut a = alloc_with(vec![]);
    let mut req = Request::simple("s1", 1, Fam::V4);
    req.pool = Some("nope".into());
    assert!(matches!(
        a.allocate(&req),
        Err(AllocError::UnknownPool { .. })
    ));
}

#[test]
fn services_with_the_same_key_and_distinct_ports_share_an_address() {
    let mut a = alloc_with(vec![Pool::new(
        "p",
        vec![range("198.51.100.1", "198.51.100.9")],
    )]);
    let mut r1 = Request::simple("dns-tcp", 1, Fam::V4);
    r1.sharing = shared("dns", 53, false);
    let mut r2 = Request::simple("dns-udp", 2, Fam::V4);
    r2.sharing = Some(Sharing {
        ports: vec![Port {
            protocol: "UDP".into(),
            port: 53,
        }],
        ..shared("dns", 0, false).expect("s")
    });
    let x = first(&a.allocate(&r1).expect("alloc"));
    let y = first(&a.allocate(&r2).expect("alloc"));
    assert_eq!(x, y);
    a.release("dns-tcp");
    assert_eq!(a.used_addresses(), 1, "still held by dns-udp");
    a.release("dns-udp");
    assert_eq!(a.used_addresses(), 0, "the last user frees it");
}

#[test]
fn sharing_conflicts_say_why() {
    let mut a = alloc_with(vec![Pool::new(
        "p",
        vec![range("198.51.100.1", "198.51.100.9")],
    )]);
    let mut r1 = Request::simple("a", 1, Fam::V4);
    r1.sharing = shared("k", 80, false);
    let x = first(&a.allocate(&r1).expect("alloc"));
    for (sharing, why) in [
        (shared("k", 80, false), "port 80/TCP is used by both"),
        (shared("k", 81, true), "traffic policies differ"),
        (shared("other", 81, false), "sharing keys differ"),
        (None, "sharing was not asked for"),
    ] {
        let mut r = Request::simple("b", 2, Fam::V4);
        r.addresses = vec![x];
        r.sharing = sharing;
        let err = a.allocate(&r).expect_err("conflict").to_string();
        assert!(err.contains(why), "{err}");
    }
}

#[test]
fn prefer_dual_stack_with_only_ipv4_gets_ipv4_and_says_why_then_gains_ipv6() {
    let mut a = alloc_with(vec![Pool::new(
        "v4",
        vec![range("198.51.100.1", "198.51.100.9")],
    )]);
    let mut req = Request::simple("web", 1, Fam::V4);
    req.policy = FamilyPolicy::PreferDualStack;
    let got = a.allocate(&req).expect("alloc");
    assert_eq!(got.addresses.len(), 1);
    assert!(got.missing[0].contains("no IPv6 pool"), "{:?}", got.missing);
    a.add_pool(Pool::new("v6", vec![cidr("2001:db8:100::/64")]))
        .expect("pool");
    let got = a.allocate(&req).expect("alloc");
    assert_eq!(
        got.addresses.keys().copied().collect::<Vec<_>>(),
        vec![ip("198.51.100.1"), ip("2001:db8:100::")]
    );
    assert!(got.missing.is_empty());
}

#[test]
fn require_dual_stack_takes_both_or_nothing_and_names_the_missing_family() {
    let mut a = alloc_with(vec![Pool::new(
        "v4",
        vec![range("198.51.100.1", "198.51.100.9")],
    )]);
    let mut req = Request::simple("web", 1, Fam::V4);
    req.policy = FamilyPolicy::RequireDualStack;
    let err = a.allocate(&req).expect_err("refused").to_string();
    assert!(
        err.contains("requires dual-stack") && err.contains("IPv6"),
        "{err}"
    );
    assert_eq!(a.used_addresses(), 0);
}

#[test]
fn a_pool_containing_a_node_address_is_refused_naming_pool_address_and_node() {
    let mut a = alloc_with(vec![]);
    let err = a
        .add_pool(Pool::new("bad", vec![cidr("192.0.2.0/24")]))
        .expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains("`bad`") && text.contains("192.0.2.10") && text.contains("node-a"),
        "{text}"
    );
}

#[test]
fn a_request_for_a_node_address_is_refused() {
    let mut a = alloc_with(vec![Pool::new(
        "p",
        vec![range("198.51.100.1", "198.51.100.9")],
    )]);
    let mut req = Request::simple("s", 1, Fam::V4);
    req.addresses = vec![ip("192.0.2.10")];
    assert!(matches!(
        a.allocate(&req),
        Err(AllocError::NodeAddressRequested { .. })
    ));
}

#[test]
fn an_assignment_whose_pool_is_removed_stays_orphaned_and_is_never_reused() {
    let mut a = alloc_with(vec![Pool::new(
        "p",
        vec![range("198.51.100.1", "198.51.100.2")],
    )]);
    a.allocate(&Request::simple("s1", 1, Fam::V4))
        .expect("alloc");
    a.remove_pool("p");
    assert_eq!(a.orphaned(), vec![("s1".to_string(), ip("198.51.100.1"))]);
    a.add_pool(Pool::new("q", vec![range("198.51.100.2", "198.51.100.3")]))
        .expect("pool");
    let x = first(
        &a.allocate(&Request::simple("s2", 2, Fam::V4))
            .expect("alloc"),
    );
    assert_eq!(x, ip("198.51.100.2"));
    assert_eq!(first(&a.assignment("s1")), ip("198.51.100.1"));
}

#[test]
fn shrinking_a_pool_orphans_and_growing_it_back_adopts() {
    let mut a = alloc_with(vec![Pool::new(
        "p",
        vec![range("198.51.100.1", "198.51.100.9")],
    )]);
    for i in 0..3 {
        a.allocate(&Request::simple(format!("s{i}"), i, Fam::V4))
            .expect("alloc");
    }
    a.add_pool(Pool::new("p", vec![range("198.51.100.1", "198.51.100.2")]))
        .expect("shrink");
    assert_eq!(a.orphaned(), vec![("s2".to_string(), ip("198.51.100.3"))]);
    a.add_pool(Pool::new("p", vec![range("198.51.100.1", "198.51.100.9")]))
        .expect("grow");
    assert!(a.orphaned().is_empty());
}

#[test]
fn restore_twice_changes_nothing_and_the_older_service_keeps_a_contested_address() {
    let mut a = alloc_with(vec![Pool::new(
        "p",
        vec![range("198.51.100.1", "198.51.100.9")],
    )]);
    let entries = vec![
        Restored {
            key: "young".into(),
            created: 20,
            addresses: vec![ip("198.51.100.5")],
            sharing: None,
            pool: None,
        },
        Restored {
            key: "old".into(),
            created: 10,
            addresses: vec![ip("198.51.100.5")],
            sharing: None,
            pool: None,
        },
    ];
    let errs = a.restore(entries.clone());
    assert_eq!(errs.len(), 1);
    assert!(errs[0].to_string().contains("young"), "{}", errs[0]);
    let before = a.assignments();
    a.restore(entries);
    assert_eq!(a.assignments(), before);
    assert_eq!(first(&a.assignment("old")), ip("198.51.100.5"));
}

#[test]
fn restore_keeps_addresses_outside_every_pool_as_orphans() {
    let mut a = alloc_with(vec![Pool::new(
        "p",
        vec![range("198.51.100.1", "198.51.100.9")],
    )]);
    a.restore(vec![Restored {
        key: "s".into(),
        created: 1,
        addresses: vec![ip("203.0.113.77")],
        sharing: None,
        pool: None,
    }]);
    assert_eq!(a.orphaned(), vec![("s".to_string(), ip("203.0.113.77"))]);
}

#[test]
fn allocating_again_moves_nothing() {
    let mut a = alloc_with(vec![Pool::new(
        "p",
        vec![range("198.51.100.1", "198.51.100.9")],
    )]);
    let x = a
        .allocate(&Request::simple("s", 1, Fam::V4))
        .expect("alloc");
    a.allocate(&Request::simple("t", 2, Fam::V4))
        .expect("alloc");
    let y = a
        .allocate(&Request::simple("s", 1, Fam::V4))
        .expect("again");
    assert_eq!(x.addresses, y.addresses);
}

#[test]
fn pools_select_namespaces_by_name_or_label_and_services_by_label() {
    let lbl = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let mut web = Pool::new("web", vec![range("198.51.100.1", "198.51.100.9")]);
    web.selector.namespace_selectors = vec![vec![Requirement::Equals("env".into(), "prod".into())]];
    web.selector.service_selectors = vec![
        vec![Requirement::In(
            "tier".into(),
            vec!["web".into(), "edge".into()],
        )],
        vec![Requirement::Exists("public".into())],
    ];
    let rest = Pool::new("rest", vec![range("203.0.113.1", "203.0.113.9")]);
    let mut a = alloc_with(vec![web, rest]);
    let req = |key: &str, ns: &[(&str, &str)], svc: &[(&str, &str)]| {
        let mut r = Request::simple(key, 1, Fam::V4);
        r.namespace = "shop".into();
        r.namespace_labels = lbl(ns);
        r.labels = lbl(svc);
        r
    };
    let got = |a: &mut Allocator, r: &Request| first(&a.allocate(r).expect("alloc"));
    assert_eq!(
        got(
            &mut a,
            &req("shop/a", &[("env", "prod")], &[("tier", "edge")])
        ),
        ip("198.51.100.1")
    );
    assert_eq!(
        got(
            &mut a,
            &req("shop/b", &[("env", "prod")], &[("public", "")])
        ),
        ip("198.51.100.2")
    );
    // Wrong service labels, or the namespace not labelled prod: the match-all pool.
    assert_eq!(
        got(
            &mut a,
            &req("shop/c", &[("env", "prod")], &[("tier", "db")])
        ),
        ip("203.0.113.1")
    );
    assert_eq!(
        got(
            &mut a,
            &req("shop/d", &[("env", "dev")], &[("tier", "web")])
        ),
        ip("203.0.113.2")
    );
}

#[test]
fn requirements_follow_kubernetes_semantics() {
    let labels: BTreeMap<String, String> = [("a".to_string(), "1".to_string())].into();
    assert!(Requirement::NotIn("a".into(), vec!["2".into()]).holds(&labels));
    assert!(Requirement::NotIn("b".into(), vec!["2".into()]).holds(&labels));
    assert!(!Requirement::NotIn("a".into(), vec!["1".into()]).holds(&labels));
    assert!(Requirement::DoesNotExist("b".into()).holds(&labels));
    assert!(!Requirement::Exists("b".into()).holds(&labels));
    assert!(
        selects(&[], &labels),
        "the empty selector selects everything"
    );
}

#[test]
fn usage_counts_addresses_per_pool_and_sizes_a_slash_64_as_a_float() {
    let mut a = alloc_with(vec![
        Pool::new("v4", vec![cidr("198.51.100.0/24")]),
        Pool::new("v6", vec![cidr("2001:db8:100::/64")]),
    ]);
    a.allocate(&Request::simple("a", 1, Fam::V4)).expect("a");
    a.allocate(&Request::simple("b", 2, Fam::V4)).expect("b");
    a.allocate(&Request::simple("c", 3, Fam::V6)).expect("c");
    let u = a.usage();
    assert_eq!((u[0].0.as_str(), u[0].1, u[0].2), ("v4", 2, 256.0));
    assert_eq!((u[1].0.as_str(), u[1].1), ("v6", 1));
    assert!(
        (u[1].2 - 18_446_744_073_709_551_616.0).abs() < 1e6,
        "{}",
        u[1].2
    );
}
