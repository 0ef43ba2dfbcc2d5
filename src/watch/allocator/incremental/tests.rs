//! The incremental allocator against a from-scratch takeover: after any sequence of Service,
//! pool, Node and Namespace changes, `take_over` over the cluster state (every Service with the
//! status the incremental allocator decided) changes nothing, gives every Service the same
//! addresses and fails the same Services.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    LoadBalancerIngress, LoadBalancerStatus, NodeAddress as K8sNodeAddress, NodeStatus, Service,
    ServicePort, ServiceSpec, ServiceStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::chrono::{TimeZone, Utc};
use proptest::prelude::*;

use super::*;
use crate::watch::allocator::decide::take_over;
use crate::watch::crds::{IPAddressPoolSpec, ServiceAllocation};

const NAMESPACES: [&str; 2] = ["shop", "blog"];
const CLASS: &str = "";

/// What a test Service asks for.
#[derive(Debug, Clone)]
struct Spec {
    ns: usize,
    /// 0 ours; 1 another class; 2 ClusterIP.
    kind: u8,
    /// 0 IPv4; 1 IPv6; 2 PreferDualStack; 3 RequireDualStack.
    family: u8,
    pool: Option<usize>,
    address: Option<usize>,
    sharing: Option<(u8, u16)>,
}

/// A pool: its ranges (indexes into small v4 and v6 blocks), and a namespace condition.
#[derive(Debug, Clone)]
struct PoolSpec {
    v4: Option<(u8, u8)>,
    v6: Option<(u8, u8)>,
    auto_assign: bool,
    only_tier: bool,
}

#[derive(Debug, Clone)]
enum Op {
    Upsert(usize, Spec),
    Delete(usize),
    Pool(usize, Option<PoolSpec>),
    Node(Option<u8>),
    Labels(usize, bool),
}

fn pool_name(i: usize) -> String {
    format!("p{i}")
}

/// Requested addresses: a few in and around the pools' blocks.
fn requested(i: usize) -> &'static str {
    ["198.51.100.1", "198.51.100.3", "2001:db8::2", "203.0.113.9"][i % 4]
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0..2usize,
        prop_oneof![6 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)],
        0..4u8,
        prop::option::weighted(0.3, 0..4usize),
        prop::option::weighted(0.2, 0..4usize),
        prop::option::weighted(0.3, (0..2u8, 0..2u16)),
    )
        .prop_map(|(ns, kind, family, pool, address, sharing)| Spec {
            ns,
            kind,
            family,
            pool,
            address,
            sharing,
        })
}

fn pool_spec() -> impl Strategy<Value = PoolSpec> {
    (
        prop::option::weighted(0.8, (0..6u8, 0..3u8)),
        prop::option::weighted(0.5, (0..6u8, 0..3u8)),
        prop::bool::weighted(0.85),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(v4, v6, auto_assign, only_tier)| PoolSpec {
            v4,
            v6,
            auto_assign,
            only_tier,
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..8usize, spec()).prop_map(|(i, s)| Op::Upsert(i, s)),
        3 => (0..8usize).prop_map(Op::Delete),
        3 => (0..3usize, prop::option::weighted(0.8, pool_spec())).prop_map(|(i, p)| Op::Pool(i, p)),
        1 => prop::option::of(0..6u8).prop_map(Op::Node),
        1 => (0..2usize, any::<bool>()).prop_map(|(n, l)| Op::Labels(n, l)),
    ]
}

fn pool(i: usize, p: &PoolSpec) -> IPAddressPool {
    let mut addresses = Vec::new();
    if let Some((lo, len)) = p.v4 {
        addresses.push(format!("198.51.100.{}-198.51.100.{}", lo, lo + len));
    }
    if let Some((lo, len)) = p.v6 {
        addresses.push(format!("2001:db8::{:x}-2001:db8::{:x}", lo, lo + len));
    }
    let service_allocation = p.only_tier.then(|| ServiceAllocation {
        namespace_selectors: vec![
            crate::yaml::from_str("matchLabels: {tier: front}").expect("selector")
        ],
        ..ServiceAllocation::default()
    });
    IPAddressPool {
        metadata: ObjectMeta {
            name: Some(pool_name(i)),
            namespace: Some("ferrolb-system".into()),
            ..ObjectMeta::default()
        },
        spec: IPAddressPoolSpec {
            addresses,
            auto_assign: Some(p.auto_assign),
            avoid_buggy_ips: None,
            service_allocation,
        },
    }
}

fn node(last: u8) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some("node-a".into()),
            ..ObjectMeta::default()
        },
        status: Some(NodeStatus {
            addresses: Some(vec![K8sNodeAddress {
                type_: "InternalIP".into(),
                address: format!("198.51.100.{last}"),
            }]),
            ..NodeStatus::default()
        }),
        ..Node::default()
    }
}

fn service(i: usize, s: &Spec, status: &[IpAddr]) -> ServiceRecord {
    let mut annotations = BTreeMap::new();
    if let Some(p) = s.pool {
        annotations.insert("ferrolb.io/address-pool".to_string(), pool_name(p));
    }
    if let Some(a) = s.address {
        annotations.insert(
            "ferrolb.io/loadBalancerIPs".to_string(),
            requested(a).to_string(),
        );
    }
    let mut ports = vec![ServicePort {
        port: 80,
        protocol: Some("TCP".into()),
        ..ServicePort::default()
    }];
    if let Some((k, port)) = s.sharing {
        annotations.insert("ferrolb.io/allow-shared-ip".to_string(), format!("k{k}"));
        ports[0].port = 80 + i32::from(port);
    }
    let (families, policy) = match s.family {
        0 => (vec!["IPv4"], None),
        1 => (vec!["IPv6"], None),
        2 => (vec!["IPv4", "IPv6"], Some("PreferDualStack")),
        _ => (vec!["IPv4", "IPv6"], Some("RequireDualStack")),
    };
    let created = Utc
        .timestamp_opt(1_767_225_600 + (i as i64 % 5), 0)
        .single()
        .expect("time");
    ServiceRecord::of(&Service {
        metadata: ObjectMeta {
            name: Some(format!("s{i}")),
            namespace: Some(NAMESPACES[s.ns].into()),
            creation_timestamp: Some(Time(created)),
            annotations: Some(annotations),
            uid: Some(format!("uid-{i}")),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            type_: Some(
                if s.kind == 2 {
                    "ClusterIP"
                } else {
                    "LoadBalancer"
                }
                .into(),
            ),
            load_balancer_class: (s.kind == 1).then(|| "other.example/lb".to_string()),
            ip_families: Some(families.into_iter().map(String::from).collect()),
            ip_family_policy: policy.map(String::from),
            ports: Some(ports),
            ..ServiceSpec::default()
        }),
        status: Some(ServiceStatus {
            load_balancer: Some(LoadBalancerStatus {
                ingress: Some(
                    status
                        .iter()
                        .map(|a| LoadBalancerIngress {
                            ip: Some(a.to_string()),
                            ..LoadBalancerIngress::default()
                        })
                        .collect(),
                ),
            }),
            ..ServiceStatus::default()
        }),
    })
}

/// The cluster as the API server holds it.
#[derive(Default)]
struct Cluster {
    services: BTreeMap<usize, (Spec, Vec<IpAddr>)>,
    pools: BTreeMap<usize, IPAddressPool>,
    node: Option<u8>,
    labels: BTreeMap<String, Labels>,
}

impl Cluster {
    fn services(&self) -> Vec<ServiceRecord> {
        self.services
            .iter()
            .map(|(i, (s, st))| service(*i, s, st))
            .collect()
    }
    fn pools(&self) -> Vec<IPAddressPool> {
        self.pools.values().cloned().collect()
    }
    fn nodes(&self) -> Vec<Node> {
        self.node.map(node).into_iter().collect()
    }
}

/// The incremental allocator's status writes, then their echo through the watch (which must
/// decide nothing new).
fn write_back(c: &mut Cluster, inc: &mut Incremental) -> Result<(), TestCaseError> {
    let mut echoes = Vec::new();
    for (i, (s, status)) in c.services.iter_mut() {
        let key = format!("{}/s{i}", NAMESPACES[s.ns]);
        // Not ours: the task clears what we wrote.
        let want = inc
            .outcome(&key)
            .map(|o| o.addresses.clone())
            .unwrap_or_default();
        if *status != want {
            *status = want;
            echoes.push(service(*i, s, status));
        }
    }
    for svc in echoes {
        let again = inc.upsert(svc);
        prop_assert!(
            again.is_empty(),
            "the echo of our own write decided again: {again:?}"
        );
    }
    Ok(())
}

fn check(c: &Cluster, inc: &Incremental) -> Result<(), TestCaseError> {
    let services = c.services();
    let t = take_over(&c.pools(), &c.nodes(), &c.labels, &services, CLASS);
    let mut failing_fresh = BTreeSet::new();
    for o in &t.outcomes {
        prop_assert!(!o.changed, "take_over would change {o:?}");
        let mine = inc.outcome(&o.key);
        prop_assert_eq!(mine.map(|m| &m.addresses), Some(&o.addresses), "{}", o.key);
        if failing(o) {
            failing_fresh.insert(o.key.clone());
        }
    }
    prop_assert_eq!(inc.len(), t.outcomes.len());
    let failing_inc: BTreeSet<String> = inc
        .outcomes()
        .filter(|o| failing(o))
        .map(|o| o.key.clone())
        .collect();
    prop_assert_eq!(failing_inc, failing_fresh);
    let mut refused_inc: Vec<&String> = inc.refused_pools().iter().map(|(n, _)| n).collect();
    let mut refused_fresh: Vec<&String> = t.refused_pools.iter().map(|(n, _)| n).collect();
    refused_inc.sort();
    refused_fresh.sort();
    prop_assert_eq!(refused_inc, refused_fresh);
    Ok(())
}

fn run(start_with: usize, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut c = Cluster::default();
    let (early, late) = ops.split_at(start_with.min(ops.len()));
    // The cluster before this allocator took over: decided by an earlier one.
    let mut inc = Incremental::start(
        &[],
        &[] as &[Node],
        NamespaceLabels::new(),
        &[] as &[ServiceRecord],
        CLASS,
    );
    for op in early {
        step(&mut c, &mut inc, op)?;
    }
    let mut inc = Incremental::start(
        &c.pools(),
        &c.nodes(),
        c.labels.clone(),
        &c.services(),
        CLASS,
    );
    write_back(&mut c, &mut inc)?;
    check(&c, &inc)?;
    for op in late {
        step(&mut c, &mut inc, op)?;
        check(&c, &inc)?;
    }
    Ok(())
}

fn step(c: &mut Cluster, inc: &mut Incremental, op: &Op) -> Result<(), TestCaseError> {
    match op {
        Op::Upsert(i, s) => {
            let status = match c.services.get(i) {
                // A Service keeps its key and namespace; its status stays until rewritten.
                Some((old, st)) if old.ns == s.ns => st.clone(),
                Some((old, _)) => {
                    let key = format!("{}/s{i}", NAMESPACES[old.ns]);
                    c.services.remove(i);
                    inc.delete(&key);
                    Vec::new()
                }
                None => Vec::new(),
            };
            c.services.insert(*i, (s.clone(), status.clone()));
            inc.upsert(service(*i, s, &status));
        }
        Op::Delete(i) => {
            if let Some((s, _)) = c.services.remove(i) {
                inc.delete(&format!("{}/s{i}", NAMESPACES[s.ns]));
            }
        }
        Op::Pool(i, p) => {
            match p {
                Some(p) => c.pools.insert(*i, pool(*i, p)),
                None => c.pools.remove(i),
            };
            inc.set_pools(&c.pools());
        }
        Op::Node(n) => {
            c.node = *n;
            inc.set_nodes(&c.nodes());
        }
        Op::Labels(n, front) => {
            let labels: Labels = if *front {
                [("tier".to_string(), "front".to_string())].into()
            } else {
                Labels::new()
            };
            c.labels.insert(NAMESPACES[*n].to_string(), labels.clone());
            inc.set_namespace(NAMESPACES[*n], Some(labels));
        }
    }
    write_back(c, inc)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn incremental_agrees_with_a_takeover_from_scratch(
        start_with in 0..6usize,
        ops in prop::collection::vec(op(), 1..40),
    ) {
        run(start_with, ops)?;
    }
}

#[test]
fn one_more_service_is_one_allocation_and_a_deletion_frees_for_the_oldest_pending() {
    let p = PoolSpec {
        v4: Some((1, 1)),
        v6: None,
        auto_assign: true,
        only_tier: false,
    };
    let plain = Spec {
        ns: 0,
        kind: 0,
        family: 0,
        pool: None,
        address: None,
        sharing: None,
    };
    let mut c = Cluster::default();
    c.pools.insert(0, pool(0, &p));
    let mut inc = Incremental::start(
        &c.pools(),
        &[] as &[Node],
        NamespaceLabels::new(),
        &[] as &[ServiceRecord],
        "",
    );
    for i in 0..4 {
        c.services.insert(i, (plain.clone(), Vec::new()));
        assert_eq!(inc.upsert(service(i, &plain, &[])), [format!("shop/s{i}")]);
    }
    let held: Vec<usize> = (0..4)
        .filter(|i| {
            !inc.outcome(&format!("shop/s{i}"))
                .expect("o")
                .addresses
                .is_empty()
        })
        .collect();
    assert_eq!(held, [0, 1], "two addresses, the first two Services");
    assert!(failing(inc.outcome("shop/s3").expect("o")));
    assert_eq!(inc.delete("shop/s0"), ["shop/s2"], "s2 is older than s3");
    assert_eq!(
        inc.outcome("shop/s2").expect("o").addresses,
        ["198.51.100.1".parse::<IpAddr>().expect("ip")]
    );
    assert_eq!(inc.rebuilds(), 0);
}
