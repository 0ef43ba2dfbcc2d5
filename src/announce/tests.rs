//! The announcer: unit tests named as sentences, and the property that applying desired-state
//! changes one at a time leaves the sinks exactly where a rebuild from scratch puts them.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::model::{peer, Community, PeerInput};

fn peer_spec(name: &str, last: u8) -> PeerSpec {
    let input = PeerInput {
        name: Some(name.into()),
        address: Some(format!("192.0.2.{last}")),
        asn: Some(64500),
        ..PeerInput::default()
    };
    peer::validate(&input, None, &Default::default())
        .0
        .expect("valid peer")
}

fn at(addr: &str, pool: Option<&str>) -> Assigned {
    Assigned {
        address: addr.parse().expect("test address"),
        pool: pool.map(Into::into),
    }
}

fn bgp(pools: &[&str], peers: &[&str]) -> AdvertisementSpec {
    AdvertisementSpec {
        pools: pools.iter().map(|p| p.to_string()).collect(),
        peers: peers.iter().map(|p| p.to_string()).collect(),
        ..AdvertisementSpec::default()
    }
}

fn desired(services: &[(&str, Vec<Assigned>)], ads: Vec<AdvertisementSpec>) -> Desired {
    Desired {
        peers: vec![peer_spec("tor1", 1), peer_spec("tor2", 2)],
        advertisements: ads,
        services: services
            .iter()
            .map(|(k, a)| (Arc::from(*k), a.clone().into()))
            .collect(),
    }
}

fn prefixes(c: &Changes) -> Vec<String> {
    match &c.routes {
        RouteChange::Prefixes(_, p) => p.iter().map(|p| p.to_string()).collect(),
        other => panic!("expected changed prefixes, got {other:?}"),
    }
}

#[test]
fn the_first_desired_state_starts_every_peer_and_sends_the_whole_table() {
    let mut a = Announcer::new();
    let c = a.apply(desired(
        &[("web", vec![at("198.51.100.1", Some("p"))])],
        vec![bgp(&[], &[])],
    ));
    assert_eq!(c.peers.as_ref().map(Vec::len), Some(2));
    assert!(matches!(&c.routes, RouteChange::Table(t) if t.len() == 1));
    assert_eq!(c.l2, None);
}

#[test]
fn a_service_change_reports_only_its_prefixes_and_keeps_the_peers() {
    let ads = vec![bgp(&[], &[])];
    let mut a = Announcer::new();
    a.apply(desired(
        &[("web", vec![at("198.51.100.1", Some("p"))])],
        ads.clone(),
    ));
    let c = a.apply(desired(
        &[
            ("web", vec![at("198.51.100.1", Some("p"))]),
            ("api", vec![at("198.51.100.2", Some("p"))]),
        ],
        ads.clone(),
    ));
    assert_eq!(c.peers, None);
    assert_eq!(prefixes(&c), ["198.51.100.2/32"]);
    let same = a.apply(a.desired().clone());
    assert_eq!(same.routes, RouteChange::None);
}

#[test]
fn upsert_and_remove_of_one_service_touch_only_its_addresses() {
    let mut a = Announcer::new();
    a.apply(desired(&[], vec![]));
    let c = a.upsert_service("web", vec![at("198.51.100.1", None)]);
    assert_eq!(prefixes(&c), ["198.51.100.1/32"]);
    let c = a.upsert_service("web", vec![at("198.51.100.9", None)]);
    assert_eq!(prefixes(&c), ["198.51.100.1/32", "198.51.100.9/32"]);
    let c = a.remove_service("web");
    assert_eq!(prefixes(&c), ["198.51.100.9/32"]);
    assert!(a.table().is_empty());
    assert_eq!(a.remove_service("web").routes, RouteChange::None);
}

#[test]
fn removing_several_services_at_once_is_one_change_with_every_prefix_they_had() {
    let mut a = Announcer::new();
    a.apply(desired(&[], vec![]));
    for (name, addr) in [
        ("a", "198.51.100.1"),
        ("b", "198.51.100.2"),
        ("c", "198.51.100.3"),
    ] {
        a.upsert_service(name, vec![at(addr, None)]);
    }
    a.upsert_service("d", vec![at("198.51.100.4", None)]);
    let held = a.table().clone(); // as a session holds it
    let c = a.retain_services(|k| k == "b" || k == "d");
    assert_eq!(prefixes(&c), ["198.51.100.1/32", "198.51.100.3/32"]);
    assert_eq!(
        held.len(),
        4,
        "the sessions' table is not changed under them"
    );
    assert_eq!(
        a.desired()
            .services
            .keys()
            .map(|k| &**k)
            .collect::<Vec<_>>(),
        ["b", "d"]
    );
    assert_eq!(a.retain_services(|_| true).routes, RouteChange::None);
}

#[test]
fn removing_most_services_builds_the_table_again_from_those_that_stay() {
    let mut a = Announcer::new();
    a.apply(desired(&[], vec![]));
    for i in 1..=5 {
        a.upsert_service(format!("s{i}"), vec![at(&format!("198.51.100.{i}"), None)]);
    }
    let held = a.table().clone();
    let c = a.retain_services(|k| k == "s2");
    let RouteChange::Table(t) = &c.routes else {
        panic!("most went: the whole table, got {:?}", c.routes);
    };
    let left: Vec<String> = t.prefixes().map(|p| p.to_string()).collect();
    assert_eq!(left, ["198.51.100.2/32"]);
    assert_eq!(
        held.len(),
        5,
        "the sessions' table is not changed under them"
    );
    assert_eq!(
        a.retain_services(|_| false).routes,
        RouteChange::Table(Arc::new(RouteTable::new(&[])))
    );
}

#[test]
fn an_advertisement_change_rebuilds_the_table_for_every_peer() {
    let mut a = Announcer::new();
    let svc = [("web", vec![at("198.51.100.1", Some("p"))])];
    a.apply(desired(&svc, vec![bgp(&[], &[])]));
    let c = a.apply(desired(&svc, vec![bgp(&["p"], &["tor1"])]));
    let RouteChange::Table(t) = &c.routes else {
        panic!("expected a table, got {:?}", c.routes);
    };
    assert_eq!(t.for_peer("tor1").len(), 1);
    assert!(t.for_peer("tor2").is_empty());
}

#[test]
fn an_l2_advertisement_gives_the_l2_sink_its_addresses_and_the_mode_l2() {
    let l2 = AdvertisementSpec {
        mode: Mode::L2,
        pools: vec!["lan".into()],
        interfaces: vec!["eth1".into()],
        ..AdvertisementSpec::default()
    };
    let mut a = Announcer::new();
    let lan = vec![at("192.0.2.50", Some("lan"))];
    let c = a.apply(desired(
        &[("printer", lan.clone())],
        vec![l2, bgp(&["wan"], &[])],
    ));
    let owned = c.l2.expect("L2 changed");
    assert_eq!(
        owned["eth1"]
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>(),
        ["192.0.2.50"]
    );
    assert_eq!(a.mode_of(&lan), Mode::L2);
    assert_eq!(a.mode_of(&[at("198.51.100.1", Some("wan"))]), Mode::Bgp);
    assert!(
        a.table().is_empty(),
        "the BGP advertisement selects only wan"
    );
    let c = a.remove_service("printer");
    assert_eq!(c.l2, Some(BTreeMap::new()));
}

#[test]
fn an_address_no_advertisement_selects_has_a_reason() {
    let mut a = Announcer::new();
    a.apply(desired(&[], vec![bgp(&["public"], &[])]));
    let why = a
        .unselected(&[at("203.0.113.1", Some("internal"))])
        .expect("a reason");
    assert!(why.contains("`internal`"), "{why}");
    assert_eq!(a.unselected(&[at("198.51.100.1", Some("public"))]), None);
    a.apply(desired(&[], vec![]));
    assert_eq!(
        a.unselected(&[at("203.0.113.1", Some("internal"))]),
        None,
        "no advertisement: all go out"
    );
}

/// One step of a random walk over desired states.
#[derive(Debug, Clone)]
enum Step {
    Upsert(u8, Vec<(u8, u8)>),
    Remove(u8),
    Advertisements(u8),
    Peers(bool),
    Whole(Vec<(u8, Vec<(u8, u8)>)>),
}

fn step() -> impl Strategy<Value = Step> {
    let addrs = proptest::collection::vec((0u8..8, 0u8..3), 0..3);
    prop_oneof![
        (0u8..6, addrs.clone()).prop_map(|(k, a)| Step::Upsert(k, a)),
        (0u8..6).prop_map(Step::Remove),
        (0u8..4).prop_map(Step::Advertisements),
        proptest::bool::ANY.prop_map(Step::Peers),
        proptest::collection::vec((0u8..6, addrs), 0..4).prop_map(Step::Whole),
    ]
}

const POOLS: [Option<&str>; 3] = [Some("a"), Some("b"), None];

fn assigned(list: &[(u8, u8)]) -> Vec<Assigned> {
    list.iter()
        .map(|(host, pool)| {
            let address = if host % 2 == 0 {
                format!("198.51.100.{host}")
            } else {
                format!("2001:db8::{host}")
            };
            at(&address, POOLS[usize::from(*pool)])
        })
        .collect()
}

fn advertisements(n: u8) -> Vec<AdvertisementSpec> {
    let mut agg = bgp(&["a"], &["tor1"]);
    agg.aggregation_length = Some(30);
    agg.communities = vec![Community::Standard(1)];
    let mut large = bgp(&[], &[]);
    large.communities = vec![Community::Large(1, 2, 3)];
    let l2 = AdvertisementSpec {
        mode: Mode::L2,
        pools: vec!["b".into()],
        ..AdvertisementSpec::default()
    };
    match n {
        0 => vec![],
        1 => vec![agg, large],
        2 => vec![l2, bgp(&["b"], &["tor2"])],
        _ => vec![large, l2],
    }
}

/// What the sinks hold: every peer's routes and the L2 addresses.
fn sinks(a: &Announcer) -> (Vec<table::PeerRoutes>, L2Owned) {
    let routes = ["tor1", "tor2"]
        .iter()
        .map(|p| a.table().for_peer(p))
        .collect();
    (routes, a.l2().clone())
}

proptest! {
    #[test]
    fn incremental_changes_leave_the_sinks_where_a_rebuild_puts_them(steps in proptest::collection::vec(step(), 1..40)) {
        let mut a = Announcer::new();
        let mut d = desired(&[], vec![]);
        a.apply(d.clone());
        for s in steps {
            match s {
                Step::Upsert(k, list) => {
                    let key = format!("svc{k}");
                    d.services.insert(key.as_str().into(), assigned(&list).into());
                    a.upsert_service(key.as_str(), assigned(&list));
                }
                Step::Remove(k) => {
                    d.services.remove(format!("svc{k}").as_str());
                    a.remove_service(&format!("svc{k}"));
                }
                Step::Advertisements(n) => {
                    d.advertisements = advertisements(n);
                    a.apply(d.clone());
                }
                Step::Peers(both) => {
                    d.peers = if both { vec![peer_spec("tor1", 1), peer_spec("tor2", 2)] } else { vec![peer_spec("tor1", 1)] };
                    a.apply(d.clone());
                }
                Step::Whole(list) => {
                    d.services = list.iter().map(|(k, l)| (format!("svc{k}").into(), assigned(l).into())).collect();
                    a.apply(d.clone());
                }
            }
            let mut rebuilt = Announcer::new();
            rebuilt.apply(d.clone());
            prop_assert_eq!(sinks(&a), sinks(&rebuilt));
            prop_assert_eq!(a.desired(), &d);
        }
    }
}
