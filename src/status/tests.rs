//! The status model: what `/status` says is what the sessions carry, with reasons.

use std::sync::{Arc, Mutex};

use ipnet::IpNet;

use super::session::PeerStatus;
use super::*;
use crate::fsm::State;
use crate::model::{peer, PeerInput};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn cell(state: State, carries: &[&str]) -> StatusCell {
    let input = PeerInput {
        name: Some("tor1".into()),
        address: Some("192.0.2.1".into()),
        asn: Some(64500),
        ..PeerInput::default()
    };
    let spec = peer::validate(&input, None, &Default::default())
        .0
        .expect("peer");
    let mut s = PeerStatus::new(&spec);
    s.state = state;
    s.announced = carries
        .iter()
        .map(|p| (p.parse::<IpNet>().expect("prefix"), Arc::default()))
        .collect();
    Arc::new(Mutex::new(s))
}

fn entry(name: &str, addrs: &[&str], reason: Option<&str>) -> ServiceEntry {
    ServiceEntry {
        name: name.into(),
        held: None,
        pool: Some("public".into()),
        mode: Mode::Bgp,
        wanted: addrs
            .iter()
            .map(|a| crate::announce::Assigned {
                address: ip(a),
                pool: Some("public".into()),
            })
            .collect(),
        reason: reason.map(str::to_string),
    }
}

#[test]
fn a_service_is_announced_by_this_node_only_while_an_established_session_carries_it() {
    let m = StatusModel::new();
    m.set_node("node-a");
    assert!(!m.ready());
    let services = vec![
        entry("web", &["198.51.100.10", "2001:db8:100::10"], None),
        entry("db", &["203.0.113.1"], None),
    ];
    m.publish(
        services.clone(),
        vec![cell(State::Established, &["2001:db8:100::10/128"])],
    );
    assert!(m.ready());
    let r = m.report();
    assert_eq!(r.services[0].announced_by, ["node-a"]);
    assert_eq!(r.services[0].reason, None);
    assert!(r.services[1].announced_by.is_empty());
    assert_eq!(
        r.services[1].reason.as_deref(),
        Some("no Established session carries it")
    );
    assert_eq!(m.doing().keys().collect::<Vec<_>>(), ["web"]);
    m.publish(services, vec![cell(State::Active, &["198.51.100.0/24"])]);
    let r = m.report();
    assert!(
        r.services[0].announced_by.is_empty(),
        "an Active session carries nothing"
    );
    assert_eq!(
        r.services[0].reason.as_deref(),
        Some("no Established session")
    );
    assert!(m.doing().is_empty());
}

#[test]
fn the_plans_reason_comes_first_and_a_node_without_peers_says_so() {
    let m = StatusModel::new();
    m.publish(
        vec![
            entry("web", &[], Some("pool `v6` is exhausted")),
            entry("api", &["198.51.100.2"], None),
        ],
        Vec::new(),
    );
    let r = m.report();
    assert_eq!(
        r.services[0].reason.as_deref(),
        Some("pool `v6` is exhausted")
    );
    assert_eq!(
        r.services[1].reason.as_deref(),
        Some("no BGP peer is configured for this node")
    );
}

#[test]
fn the_status_report_survives_a_json_round_trip_and_renders_reasons() {
    let m = StatusModel::new();
    m.set_node("node-a");
    m.publish(
        vec![entry("web", &["198.51.100.10"], None)],
        vec![cell(State::Established, &[])],
    );
    let report = m.report();
    let json = serde_json::to_string(&report).expect("serialise");
    assert!(json.contains("\"reason\""), "{json}");
    let back: StatusReport = serde_json::from_str(&json).expect("parse");
    assert_eq!(back, report);
    let table = render_table(&report);
    for want in [
        "tor1",
        "Established",
        "198.51.100.10",
        "no Established session carries it",
    ] {
        assert!(table.contains(want), "{want} missing from\n{table}");
    }
}

#[test]
fn every_session_established_is_what_ferrolb_status_exits_0_on() {
    let m = StatusModel::new();
    assert!(m.report().all_established(), "no session: nothing is down");
    m.publish(
        Vec::new(),
        vec![cell(State::Established, &[]), cell(State::Active, &[])],
    );
    assert!(!m.report().all_established());
    m.publish(Vec::new(), vec![cell(State::Established, &[])]);
    assert!(m.report().all_established());
}

#[test]
fn reloads_are_counted_and_the_last_one_is_shown_with_its_errors() {
    let model = StatusModel::new();
    assert_eq!(model.report().reloads, None, "no reload yet: no field");
    let when = std::time::UNIX_EPOCH;
    model.record_reload(LastReload::new(Vec::new(), Vec::new(), when));
    let error = "node.toml:7:1: `tor1` is used by another peer".to_string();
    model.record_reload(LastReload::new(vec![error.clone()], Vec::new(), when));
    let r = model.report().reloads.expect("reloads");
    assert_eq!((r.ok, r.error), (1, 1));
    let last = r.last.clone().expect("last");
    assert_eq!((last.result.as_str(), last.errors), ("error", vec![error]));
    assert_eq!(model.metrics().reloads.get("error"), Some(&1));
    let json = serde_json::to_value(model.report()).expect("json");
    assert_eq!(json["reloads"]["last"]["result"], "error");
    let table = render_table(&model.report());
    assert!(table.contains("reloads: 1 ok, 1 refused; last at 1970-01-01T00:00:00Z: REFUSED"));
    assert!(table.contains("node.toml:7:1:"), "{table}");
}
