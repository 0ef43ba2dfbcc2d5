//! The allocator decision of Kubernetes mode: restore then serve, pools, node addresses.

use std::collections::BTreeSet;

use super::*;

fn pool(name: &str, addresses: &[&str]) -> IPAddressPool {
    crate::yaml::from_str(&format!(
        "apiVersion: ferrolb.io/v1alpha1\nkind: IPAddressPool\nmetadata:\n  name: {name}\n  namespace: ferrolb-system\nspec:\n  addresses: [{}]\n",
        addresses.join(", ")
    ))
    .expect("test pool")
}

fn node(name: &str, internal: &str) -> Node {
    crate::yaml::from_str(&format!(
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\nstatus:\n  addresses:\n  - type: InternalIP\n    address: {internal}\n  - type: Hostname\n    address: {name}\n"
    ))
    .expect("test node")
}

fn service(name: &str, created: u32, extra_spec: &str) -> ServiceRecord {
    let whole: k8s_openapi::api::core::v1::Service = crate::yaml::from_str(&format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: shop\n  creationTimestamp: \"2026-01-01T{:02}:{:02}:{:02}Z\"\nspec:\n  type: LoadBalancer\n{extra_spec}",
        created / 3600,
        created / 60 % 60,
        created % 60
    ))
    .expect("test service");
    ServiceRecord::of(&whole)
}

/// The Service with `outcome`'s addresses written into its status, as the allocator would.
fn with_status(mut s: ServiceRecord, o: &Outcome) -> ServiceRecord {
    s.ingress = o.addresses.as_slice().into();
    s
}

fn apply(services: Vec<ServiceRecord>, t: &Takeover) -> Vec<ServiceRecord> {
    services
        .into_iter()
        .map(|s| {
            let key = service::key(&s);
            match t.outcomes.iter().find(|o| o.key == key) {
                Some(o) => with_status(s, o),
                None => s,
            }
        })
        .collect()
}

#[test]
fn restart_with_zero_churn_250_kept_5_deleted_20_new() {
    let pools = [pool("public", &["198.51.100.0/24", "203.0.113.0/24"])];
    let first: Vec<ServiceRecord> = (0..250).map(|i| service(&format!("s{i}"), i, "")).collect();
    let t1 = take_over(&pools, &[], &NamespaceLabels::new(), &first, "");
    assert!(t1
        .outcomes
        .iter()
        .all(|o| o.addresses.len() == 1 && o.changed));
    let assigned = apply(first, &t1);

    // The allocator is down: 5 old Services are deleted, 20 new ones are created.
    let deleted: BTreeSet<String> = (0..5).map(|i| format!("shop/s{}", i * 50)).collect();
    let mut now: Vec<ServiceRecord> = assigned
        .iter()
        .filter(|s| !deleted.contains(&service::key(s)))
        .cloned()
        .collect();
    now.extend((0..20).map(|i| service(&format!("new{i}"), 1000 + i, "")));
    let t2 = take_over(&pools, &[], &NamespaceLabels::new(), &now, "");

    for s in assigned
        .iter()
        .filter(|s| !deleted.contains(&service::key(s)))
    {
        let o = t2
            .outcomes
            .iter()
            .find(|o| o.key == service::key(s))
            .expect("outcome");
        assert_eq!(o.addresses, service::ingress(s), "{} moved", o.key);
        assert!(!o.changed && o.event.is_none(), "{o:?}");
    }
    let new: Vec<&Outcome> = t2
        .outcomes
        .iter()
        .filter(|o| o.key.contains("new"))
        .collect();
    assert_eq!(new.len(), 20);
    let kept: BTreeSet<IpAddr> = t2
        .outcomes
        .iter()
        .filter(|o| !o.key.contains("new"))
        .flat_map(|o| o.addresses.clone())
        .collect();
    let mut fresh = BTreeSet::new();
    for o in new {
        assert_eq!(o.addresses.len(), 1, "{o:?}");
        assert!(!kept.contains(&o.addresses[0]), "{o:?} took a kept address");
        assert!(fresh.insert(o.addresses[0]), "{o:?} shares an address");
        assert!(matches!(o.event, Some(Event::Allocated(_))));
    }
}

#[test]
fn a_deleted_services_address_is_not_reused_while_the_service_is_still_listed() {
    let pools = [pool("tiny", &["198.51.100.7"])];
    let a = service("a", 1, "");
    let t = take_over(
        &pools,
        &[],
        &NamespaceLabels::new(),
        std::slice::from_ref(&a),
        "",
    );
    let a = with_status(a, &t.outcomes[0]);
    // `b` arrives while `a` (holding the only address) is still in the API.
    let b = service("b", 0, "");
    let t = take_over(&pools, &[], &NamespaceLabels::new(), &[b, a], "");
    let b = t.outcomes.iter().find(|o| o.key == "shop/b").expect("b");
    assert!(b.addresses.is_empty(), "{b:?}");
    assert!(
        matches!(&b.event, Some(Event::Failed(m)) if m.contains("exhausted")),
        "{b:?}"
    );
}

#[test]
fn a_pool_overlapping_a_node_address_is_refused_and_nothing_comes_from_it() {
    let pools = [
        pool("bad", &["192.0.2.0/24"]),
        pool("good", &["198.51.100.0/24"]),
    ];
    let nodes = [node("n1", "192.0.2.10")];
    let services: Vec<ServiceRecord> = (0..3).map(|i| service(&format!("s{i}"), i, "")).collect();
    let t = take_over(&pools, &nodes, &NamespaceLabels::new(), &services, "");
    assert_eq!(t.refused_pools.len(), 1);
    assert_eq!(t.refused_pools[0].0, "bad");
    assert!(
        t.refused_pools[0].1.contains("192.0.2.10"),
        "{:?}",
        t.refused_pools
    );
    for o in &t.outcomes {
        assert!(
            o.addresses
                .iter()
                .all(|a| a.to_string().starts_with("198.51.100.")),
            "{o:?}"
        );
    }
}

#[test]
fn prefer_dual_stack_gets_ipv4_then_ipv6_when_a_pool_appears_and_require_stays_pending() {
    let v4 = [pool("v4", &["198.51.100.0/24"])];
    let prefer = service("prefer", 1, "  ipFamilyPolicy: PreferDualStack\n");
    let require = service("require", 2, "  ipFamilyPolicy: RequireDualStack\n");
    let t = take_over(
        &v4,
        &[],
        &NamespaceLabels::new(),
        &[prefer.clone(), require.clone()],
        "",
    );
    let p = &t.outcomes[0];
    assert_eq!(p.addresses.len(), 1);
    assert!(
        matches!(&p.event, Some(Event::Allocated(m)) if m.contains("not yet")),
        "{p:?}"
    );
    let r = &t.outcomes[1];
    assert!(r.addresses.is_empty());
    assert!(
        matches!(&r.event, Some(Event::Failed(m)) if m.contains("dual-stack")),
        "{r:?}"
    );

    // A restart changes nothing.
    let prefer = with_status(prefer, p);
    let again = take_over(
        &v4,
        &[],
        &NamespaceLabels::new(),
        &[prefer.clone(), require.clone()],
        "",
    );
    assert_eq!(again.outcomes[0].addresses, p.addresses);
    assert!(again.outcomes[1].addresses.is_empty());

    // An IPv6 pool appears: PreferDualStack gains IPv6 and keeps its IPv4.
    let both = [v4[0].clone(), pool("v6", &["2001:db8:100::/64"])];
    let t = take_over(&both, &[], &NamespaceLabels::new(), &[prefer, require], "");
    assert_eq!(t.outcomes[0].addresses.len(), 2);
    assert!(t.outcomes[0].addresses.contains(&p.addresses[0]));
    assert_eq!(
        t.outcomes[1].addresses.len(),
        2,
        "RequireDualStack is served now"
    );
}

#[test]
fn services_of_another_class_are_left_alone() {
    let pools = [pool("public", &["198.51.100.0/24"])];
    let other = service("other", 1, "  loadBalancerClass: other.io/lb\n");
    let t = take_over(&pools, &[], &NamespaceLabels::new(), &[other], "");
    assert!(t.outcomes.is_empty());
}

#[test]
fn service_allocation_selects_by_namespace_labels_and_service_expressions() {
    let prod: IPAddressPool = crate::yaml::from_str(
        "apiVersion: ferrolb.io/v1alpha1\nkind: IPAddressPool\nmetadata: {name: prod, namespace: ferrolb-system}\nspec:\n  addresses: [198.51.100.0/28]\n  serviceAllocation:\n    priority: 5\n    namespaceSelectors: [{matchLabels: {env: prod}}]\n    serviceSelectors: [{matchExpressions: [{key: tier, operator: In, values: [web]}]}]\n",
    )
    .expect("pool");
    let p = pool_of(&prod, &[]).expect("valid");
    assert_eq!(p.priority, std::num::NonZeroU32::new(5));
    assert_eq!(p.selector.namespace_selectors.len(), 1);
    let pools = [prod, pool("rest", &["203.0.113.0/28"])];
    let mut web = service("web", 1, "");
    web.labels = [("tier".into(), "web".into())].into();
    let db = service("db", 2, "");
    let labelled: NamespaceLabels = [(
        "shop".to_string(),
        [("env".to_string(), "prod".to_string())].into(),
    )]
    .into();
    let t = take_over(&pools, &[], &labelled, &[web.clone(), db.clone()], "");
    let by_key = |t: &Takeover, k: &str| {
        t.outcomes
            .iter()
            .find(|o| o.key == k)
            .map(|o| o.addresses[0].to_string())
    };
    assert_eq!(by_key(&t, "shop/web").as_deref(), Some("198.51.100.0"));
    assert_eq!(by_key(&t, "shop/db").as_deref(), Some("203.0.113.0"));
    // The namespace loses its label: web no longer qualifies for the prod pool.
    let t = take_over(&pools, &[], &NamespaceLabels::new(), &[web, db], "");
    assert_eq!(by_key(&t, "shop/web").as_deref(), Some("203.0.113.0"));
}

#[test]
fn a_pool_with_an_unknown_selector_operator_is_refused_by_name() {
    let bad: IPAddressPool = crate::yaml::from_str(
        "apiVersion: ferrolb.io/v1alpha1\nkind: IPAddressPool\nmetadata: {name: odd, namespace: ferrolb-system}\nspec:\n  addresses: [198.51.100.0/28]\n  serviceAllocation:\n    serviceSelectors: [{matchExpressions: [{key: tier, operator: Like}]}]\n",
    )
    .expect("pool");
    let t = take_over(
        &[bad],
        &[],
        &NamespaceLabels::new(),
        &[service("web", 1, "")],
        "",
    );
    assert_eq!(t.refused_pools.len(), 1);
    assert!(
        t.refused_pools[0].1.contains("`odd`") && t.refused_pools[0].1.contains("serviceSelectors")
    );
    assert!(t.outcomes[0].addresses.is_empty());
}

#[test]
fn a_priority_of_zero_is_no_priority_and_a_negative_one_refuses_the_pool() {
    let with = |priority: i32| {
        let mut p = pool("p", &["198.51.100.0/28"]);
        p.spec.service_allocation = Some(crate::watch::crds::ServiceAllocation {
            priority: Some(priority),
            ..Default::default()
        });
        pool_of(&p, &[])
    };
    assert_eq!(with(0).expect("valid").priority, None);
    assert_eq!(
        with(1).expect("valid").priority,
        std::num::NonZeroU32::new(1)
    );
    let e = with(-1).expect_err("negative");
    assert!(
        e.contains("priority: -1: use 0 (none) or a positive number"),
        "{e}"
    );
}
