//! Pool order as MetalLB's `serviceAllocation.priority` means it: pinned pools first, then the
//! lower priority value, then pools without one; one test each, named as sentences.

use super::tests::{alloc_with, cidr, first, ip, range};
use super::*;

fn prio(n: u32) -> Option<std::num::NonZeroU32> {
    std::num::NonZeroU32::new(n)
}

/// The pool each address of `a` came from.
fn pool_name(a: &Allocation) -> String {
    a.addresses
        .values()
        .next()
        .cloned()
        .flatten()
        .expect("an address from a pool")
}

/// The pools `req` is offered, in the order they are tried: allocates until every pool is
/// exhausted and reads the order off the error.
fn try_order_of(a: &mut Allocator, req: &Request) -> String {
    let mut n = 0;
    loop {
        let mut r = req.clone();
        r.key = format!("{}-{n}", req.key).into();
        match a.allocate(&r) {
            Ok(_) => n += 1,
            Err(AllocError::Exhausted { pools, .. }) => return pools,
            Err(e) => panic!("unexpected: {e}"),
        }
    }
}

#[test]
fn a_pool_pinned_by_namespace_is_tried_before_pools_for_everyone_whatever_their_priority() {
    // MetalLB tries the pools whose serviceAllocation names the service's namespace (or
    // selects it or the service by labels) first, and the others only when those are full.
    let mut team = Pool::new("team", vec![range("198.51.100.1", "198.51.100.1")]);
    team.selector.namespaces = vec!["team-a".into()];
    let mut high = Pool::new("high", vec![range("203.0.113.1", "203.0.113.9")]);
    high.priority = prio(1);
    let low = Pool::new("low", vec![range("192.0.2.100", "192.0.2.109")]);
    let mut a = alloc_with(vec![team, high, low]);
    let mut req = Request::simple("team-a/web", 1, Fam::V4);
    req.namespace = "team-a".into();
    assert_eq!(pool_name(&a.allocate(&req).expect("alloc")), "team");
    let mut next = Request::simple("team-a/api", 2, Fam::V4);
    next.namespace = "team-a".into();
    assert_eq!(
        pool_name(&a.allocate(&next).expect("alloc")),
        "high",
        "team is full: the prioritized pool for everyone is next"
    );
    let mut other = Request::simple("team-b/web", 3, Fam::V4);
    other.namespace = "team-b".into();
    assert_eq!(pool_name(&a.allocate(&other).expect("alloc")), "high");
}

#[test]
fn metallbs_documented_sample_pool_is_tried_by_its_priority_and_a_full_pool_moves_to_the_next() {
    // The pool `ippool-ns-service-alloc-sample` is MetalLB's example in
    // website/content/configuration/_advanced_ipaddresspool_configuration.md, "Reduce scope of
    // address allocation to specific Namespace and Service" (192.168.20.0/24, avoidBuggyIPs,
    // priority 50, namespaces namespace-a and namespace-b, namespaceSelectors foo=bar,
    // serviceSelectors app In [bar]). The same page says: the pool with the lowest priority
    // number is selected first (priority=1 is the highest), an unset or 0 priority is the last
    // pool used. Around it: `gold` (priority 1) and `bronze` (no priority) pinned to
    // namespace-a, and `default` without serviceAllocation. The sample's 192.168.20.0/24 is
    // replaced by the documentation range 203.0.113.0/24 (our tests use no private ranges).
    let mut sample = Pool::new(
        "ippool-ns-service-alloc-sample",
        vec![cidr("203.0.113.0/24")],
    );
    sample.avoid_buggy_ips = true;
    sample.priority = prio(50);
    sample.selector.namespaces = vec!["namespace-a".into(), "namespace-b".into()];
    sample.selector.namespace_selectors =
        vec![vec![Requirement::Equals("foo".into(), "bar".into())]];
    sample.selector.service_selectors =
        vec![vec![Requirement::In("app".into(), vec!["bar".into()])]];
    let mut gold = Pool::new("gold", vec![range("198.51.100.1", "198.51.100.2")]);
    gold.priority = prio(1);
    gold.selector.namespaces = vec!["namespace-a".into()];
    let mut bronze = Pool::new("bronze", vec![range("198.51.100.200", "198.51.100.200")]);
    bronze.selector.namespaces = vec!["namespace-a".into()];
    let default = Pool::new("default", vec![range("192.0.2.100", "192.0.2.101")]);
    let mut a = alloc_with(vec![default, bronze, sample, gold]);

    let svc = |key: &str, ns: &str, ns_labels: &[(&str, &str)], app: &str| {
        let mut r = Request::simple(key, 1, Fam::V4);
        r.namespace = ns.into();
        r.namespace_labels = ns_labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        r.labels = [("app".to_string(), app.to_string())].into();
        r
    };
    let bar_in_a = svc("namespace-a/bar", "namespace-a", &[], "bar");
    // The first two go to gold (1), the next 254 to the sample (50; .0 and .255 avoided), one
    // to bronze (no priority), then default (no serviceAllocation), then nothing is left.
    let mut got = Vec::new();
    for i in 0..259 {
        let mut r = bar_in_a.clone();
        r.key = format!("namespace-a/bar-{i}").into();
        got.push(a.allocate(&r).expect("alloc"));
    }
    assert_eq!(first(&got[0]), ip("198.51.100.1"));
    assert_eq!(pool_name(&got[1]), "gold");
    assert_eq!(
        first(&got[2]),
        ip("203.0.113.1"),
        "gold is full: the sample is next"
    );
    assert_eq!(first(&got[255]), ip("203.0.113.254"));
    assert_eq!(pool_name(&got[256]), "bronze");
    assert_eq!(pool_name(&got[257]), "default");
    assert_eq!(pool_name(&got[258]), "default");
    match a.allocate(&bar_in_a) {
        Err(AllocError::Exhausted { pools, .. }) => assert_eq!(
            pools,
            "gold, ippool-ns-service-alloc-sample, bronze, default"
        ),
        other => panic!("expected exhaustion, got {other:?}"),
    }

    // The sample serves app=bar in a namespace labelled foo=bar too; gold and bronze do not.
    let mut b = alloc_with(a.pools().cloned().collect());
    assert_eq!(
        try_order_of(
            &mut b,
            &svc("labelled/bar", "labelled", &[("foo", "bar")], "bar")
        ),
        "ippool-ns-service-alloc-sample, default"
    );
    // Another app in namespace-a: the sample does not select it.
    assert_eq!(
        try_order_of(&mut b, &svc("namespace-a/web", "namespace-a", &[], "web")),
        "gold, bronze, default"
    );
}

#[test]
fn a_pool_without_priority_comes_after_every_pool_with_one() {
    let one = |name: &str, a: &str, p: u32| {
        let mut pool = Pool::new(name, vec![range(a, a)]);
        pool.priority = prio(p);
        pool
    };
    let mut a = alloc_with(vec![
        one("aaa-unset", "198.51.100.1", 0),
        one("bbb-largest", "198.51.100.2", u32::MAX),
        one("ccc-ten", "198.51.100.3", 10),
    ]);
    assert_eq!(
        try_order_of(&mut a, &Request::simple("s", 1, Fam::V4)),
        "ccc-ten, bbb-largest, aaa-unset"
    );
}

#[test]
fn among_prioritized_pools_the_lower_value_is_tried_first_then_the_name() {
    let one = |name: &str, a: &str, p: u32| {
        let mut pool = Pool::new(name, vec![range(a, a)]);
        pool.priority = prio(p);
        pool
    };
    let mut a = alloc_with(vec![
        one("a-three", "198.51.100.1", 3),
        one("b-one", "198.51.100.2", 1),
        one("d-two", "198.51.100.3", 2),
        one("c-two", "198.51.100.4", 2),
    ]);
    assert_eq!(
        pool_name(
            &a.allocate(&Request::simple("s1", 1, Fam::V4))
                .expect("alloc")
        ),
        "b-one"
    );
    assert_eq!(
        try_order_of(&mut a, &Request::simple("s", 2, Fam::V4)),
        "b-one, c-two, d-two, a-three",
        "the error lists every pool offered, in the order tried"
    );
}
