//! ferrolb against real BIRD, FRR bgpd and GoBGP, each in its own network namespace.

mod common;

use std::time::Duration;

use common::routers::{self, Bird, BirdOpts, Frr, Kind, Router};
use common::{wait_for, Ferrolb, Lab, NodeToml, NODE_V4, NODE_V6};

const ROUTER_AS: u32 = 64500;
const NODE_AS: u32 = 64512;
const WAIT: Duration = Duration::from_secs(60);

fn toml(peer_asn: u32, passive: bool, hold: u16) -> NodeToml {
    NodeToml {
        asn: NODE_AS,
        peer_asn,
        passive,
        hold_time: hold,
        services: vec![
            ("web", vec!["198.51.100.10", "2001:db8:100::10"]),
            ("api", vec!["198.51.100.11"]),
        ],
        ..NodeToml::default()
    }
}

fn prefixes(r: &dyn Router) -> Vec<String> {
    let mut p: Vec<String> = r.routes().into_iter().map(|r| r.prefix).collect();
    p.sort();
    p.dedup();
    p
}

fn fail(what: String, r: &dyn Router, f: &Ferrolb) -> ! {
    panic!(
        "{what}\nrouter routes: {:?}\n--- router log ---\n{}\n--- ferrolb log ---\n{}",
        r.routes(),
        r.process().log_text(),
        f.proc.log_text()
    )
}

fn all_three() -> Vec<String> {
    vec![
        "198.51.100.10/32".into(),
        "198.51.100.11/32".into(),
        "2001:db8:100::10/128".into(),
    ]
}

/// Established with ferrolb as the active (or passive) side; the routes arrive with the right
/// next hop and AS path; SIGHUP withdraws a removed service; SIGTERM withdraws everything.
fn announce_reload_terminate(kind: Kind, ferrolb_passive: bool) {
    let lab = Lab::new();
    let router = routers::start(kind, &lab, ROUTER_AS, NODE_AS, !ferrolb_passive);
    let mut f = Ferrolb::start(&lab, &toml(ROUTER_AS, ferrolb_passive, 90));
    let r = router.as_ref();
    wait_for("Established", WAIT, || r.established()).unwrap_or_else(|e| fail(e, r, &f));
    wait_for("three routes", WAIT, || prefixes(r) == all_three())
        .unwrap_or_else(|e| fail(e, r, &f));
    for route in r.routes() {
        assert_eq!(route.as_path, vec![NODE_AS], "{route:?}");
        let want = if route.prefix.contains(':') {
            NODE_V6
        } else {
            NODE_V4
        };
        assert_eq!(route.next_hop, want, "{route:?}");
    }

    let mut fewer = toml(ROUTER_AS, ferrolb_passive, 90);
    fewer.services.retain(|(n, _)| *n != "api");
    f.reload(&fewer);
    let want: Vec<String> = vec!["198.51.100.10/32".into(), "2001:db8:100::10/128".into()];
    wait_for("api withdrawn", WAIT, || prefixes(r) == want).unwrap_or_else(|e| fail(e, r, &f));
    assert!(r.established(), "the reload reset the session");

    assert_eq!(f.terminate(), Some(0), "ferrolb exit code");
    wait_for("no ferrolb routes", WAIT, || prefixes(r).is_empty())
        .unwrap_or_else(|e| fail(e, r, &f));
}

/// The router frozen longer than the hold time: ferrolb drops the session, and after the
/// router resumes the session and the routes come back.
fn frozen_router(kind: Kind) {
    let lab = Lab::new();
    let router = routers::start(kind, &lab, ROUTER_AS, NODE_AS, true);
    let f = Ferrolb::start(&lab, &toml(ROUTER_AS, false, 3));
    let r = router.as_ref();
    wait_for("three routes", WAIT, || prefixes(r) == all_three())
        .unwrap_or_else(|e| fail(e, r, &f));
    r.process().signal("STOP");
    wait_for("ferrolb's hold timer to fire", WAIT, || {
        f.proc.log_text().contains("4/0")
    })
    .unwrap_or_else(|e| fail(e, r, &f));
    r.process().signal("CONT");
    std::thread::sleep(Duration::from_secs(1));
    wait_for("Established again", WAIT, || r.established()).unwrap_or_else(|e| fail(e, r, &f));
    wait_for("routes back", WAIT, || prefixes(r) == all_three()).unwrap_or_else(|e| fail(e, r, &f));
}

const ADVERTISED: &str = r#"
[[pools]]
name = "hosts"
addresses = ["198.51.100.0/24", "2001:db8:100::/64"]

[[pools]]
name = "agg"
addresses = ["203.0.113.0/28", "2001:db8:200::/64"]
auto_assign = false

[[advertisements]]
pools = ["hosts"]
communities = ["64500:100", "no-export", "large:64500:1:2"]
local_pref = 200

[[advertisements]]
pools = ["agg"]
aggregation_length = 28
aggregation_length_v6 = 64
communities = ["64500:200"]
"#;

/// One cell of the interop matrix: IPv4 and IPv6 routes over eBGP or iBGP, with communities,
/// large communities, LOCAL_PREF (iBGP) and aggregation, each checked at the router.
fn matrix(kind: Kind, ibgp: bool) {
    let lab = Lab::new();
    let router_as = if ibgp { NODE_AS } else { ROUTER_AS };
    let router = routers::start(kind, &lab, router_as, NODE_AS, true);
    let toml = NodeToml {
        asn: NODE_AS,
        peer_asn: router_as,
        hold_time: 90,
        services: vec![("web", vec!["198.51.100.10", "2001:db8:100::10"])],
        pooled: vec![
            ("agg1", "agg", "RequireDualStack"),
            ("agg2", "agg", "RequireDualStack"),
        ],
        extra: ADVERTISED.to_string(),
        ..NodeToml::default()
    };
    let f = Ferrolb::start(&lab, &toml);
    let r = router.as_ref();
    let want: Vec<String> = vec![
        "198.51.100.10/32".into(),
        "2001:db8:100::10/128".into(),
        "2001:db8:200::/64".into(),
        "203.0.113.0/28".into(),
    ];
    wait_for("four routes", WAIT, || prefixes(r) == want).unwrap_or_else(|e| fail(e, r, &f));
    let routes = r.routes();
    for route in &routes {
        let v6 = route.prefix.contains(':');
        let nh = if v6 { NODE_V6 } else { NODE_V4 };
        let ctx = format!("{kind:?} ibgp={ibgp} {route:?}");
        assert_eq!(route.next_hop, nh, "{ctx}");
        let as_path: Vec<u32> = if ibgp { vec![] } else { vec![NODE_AS] };
        assert_eq!(route.as_path, as_path, "{ctx}");
        let host =
            route.prefix.starts_with("198.51.100.") || route.prefix.starts_with("2001:db8:100:");
        if host {
            assert_eq!(route.communities, ["64500:100", "65535:65281"], "{ctx}");
            assert_eq!(route.large_communities, ["64500:1:2"], "{ctx}");
        } else {
            assert_eq!(route.communities, ["64500:200"], "{ctx}");
            assert!(route.large_communities.is_empty(), "{ctx}");
        }
        if ibgp {
            let lp = if host { 200 } else { 100 };
            assert_eq!(route.local_pref, Some(lp), "{ctx}");
        }
    }
}

#[test]
fn bird_learns_routes_when_ferrolb_connects() {
    announce_reload_terminate(Kind::Bird, false);
}
#[test]
fn bird_learns_routes_when_bird_connects() {
    announce_reload_terminate(Kind::Bird, true);
}
#[test]
fn bird_frozen_past_the_hold_time_recovers() {
    frozen_router(Kind::Bird);
}
#[test]
fn bird_ebgp_matrix_ipv4_ipv6_communities_aggregation() {
    matrix(Kind::Bird, false);
}
#[test]
fn bird_ibgp_matrix_ipv4_ipv6_communities_local_pref_aggregation() {
    matrix(Kind::Bird, true);
}
#[test]
fn frr_learns_routes_when_ferrolb_connects() {
    announce_reload_terminate(Kind::Frr, false);
}
#[test]
fn frr_learns_routes_when_frr_connects() {
    announce_reload_terminate(Kind::Frr, true);
}
#[test]
fn frr_frozen_past_the_hold_time_recovers() {
    frozen_router(Kind::Frr);
}
#[test]
fn gobgp_learns_routes_when_ferrolb_connects() {
    announce_reload_terminate(Kind::Gobgp, false);
}
#[test]
fn gobgp_learns_routes_when_gobgp_connects() {
    announce_reload_terminate(Kind::Gobgp, true);
}
#[test]
fn gobgp_frozen_past_the_hold_time_recovers() {
    frozen_router(Kind::Gobgp);
}
#[test]
fn gobgp_ebgp_matrix_ipv4_ipv6_communities_aggregation() {
    matrix(Kind::Gobgp, false);
}
#[test]
fn gobgp_ibgp_matrix_ipv4_ipv6_communities_local_pref_aggregation() {
    matrix(Kind::Gobgp, true);
}
#[test]
fn frr_ebgp_matrix_ipv4_ipv6_communities_aggregation() {
    matrix(Kind::Frr, false);
}
#[test]
fn frr_ibgp_matrix_ipv4_ipv6_communities_local_pref_aggregation() {
    matrix(Kind::Frr, true);
}

/// With FRR both sides offer extended messages (RFC 8654): 3,000 IPv6 host routes, 13 UPDATEs
/// at 4096 bytes, arrive in one 65535-byte UPDATE (plus the two End-of-RIB markers).
#[test]
fn frr_gets_3000_ipv6_routes_in_one_extended_update() {
    let lab = Lab::new();
    let frr = Frr::start(&lab, ROUTER_AS, NODE_AS, true);
    let mut extra = String::from("[[pools]]\nname = \"v6\"\naddresses = [\"2001:db8:100::/64\"]\n");
    for i in 0..3000 {
        extra.push_str(&format!(
            "\n[[services]]\nname = \"s{i}\"\npool = \"v6\"\nip_families = \"SingleStack\"\n"
        ));
    }
    let toml = NodeToml {
        asn: NODE_AS,
        peer_asn: ROUTER_AS,
        hold_time: 90,
        extra,
        ..NodeToml::default()
    };
    let f = Ferrolb::start(&lab, &toml);
    wait_for("3000 routes at FRR", WAIT, || frr.count("ipv6") == 3000)
        .unwrap_or_else(|e| fail(e, &frr, &f));
    let n = frr.neighbor();
    let peer = n.get(NODE_V4).cloned().unwrap_or_default();
    let caps = peer
        .get("neighborCapabilities")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        caps.get("extendedMessage").and_then(|x| x.as_str()),
        Some("advertisedAndReceived"),
        "{caps}"
    );
    let updates = peer
        .get("messageStats")
        .and_then(|m| m.get("updatesRecv"))
        .and_then(|x| x.as_u64());
    assert_eq!(
        updates,
        Some(3),
        "one UPDATE and two End-of-RIB markers: {peer}"
    );
    assert!(f.proc.log_text().contains("extended_message=true"));
}

/// A session over IPv6 transport: IPv6 routes take the session's address as next hop, IPv4
/// routes the configured `next_hop` (an address on the link other than the node's own).
#[test]
fn bird_over_an_ipv6_session_gets_both_families_with_the_right_next_hops() {
    let lab = Lab::new();
    let opts = BirdOpts {
        ipv6_transport: true,
        ..BirdOpts::default()
    };
    let bird = Bird::start_with(&lab, ROUTER_AS, NODE_AS, true, &opts);
    let t = NodeToml {
        ipv6_transport: true,
        peer_extra: "next_hop = \"192.0.2.20\"".into(),
        ..toml(ROUTER_AS, false, 90)
    };
    let f = Ferrolb::start(&lab, &t);
    wait_for("three routes over IPv6", WAIT, || {
        prefixes(&bird) == all_three()
    })
    .unwrap_or_else(|e| fail(e, &bird, &f));
    for route in bird.routes() {
        let want = if route.prefix.contains(':') {
            NODE_V6
        } else {
            "192.0.2.20"
        };
        assert_eq!(route.next_hop, want, "{route:?}");
        assert_eq!(route.as_path, vec![NODE_AS], "{route:?}");
    }
    assert!(
        f.proc.log_text().contains("remote=[2001:db8::1]:"),
        "the session runs over IPv6"
    );
}
