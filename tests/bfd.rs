//! BFD against a real BIRD 2 (`protocol bfd`, interval 300 ms, multiplier 3, `bfd on` on the BGP
//! session), each in its own namespace. The hold time is 90 s, so a route that goes away in
//! seconds went away because of BFD, not the hold timer:
//!
//! - the BFD session comes Up on both sides (BIRD's `show bfd sessions`, ferrolb's `/status`
//!   `sessions[].bfd`, `ferrolb_bfd_session_up`);
//! - ferrolb's BFD packets dropped (nftables in ferrolb's namespace): BIRD takes the BGP session
//!   down for BFD and drops ferrolb's routes; let through again: both come back;
//! - BIRD's BFD packets dropped: ferrolb closes the session with Cease/BFD Down (6/10), does not
//!   re-establish it while BFD stays down, and re-establishes it with its routes once BFD is Up.
//!
//! The failover times are measured by `bird-lab/bench-bfd.sh` (BENCHMARKS.md), not asserted here.

mod common;

use std::time::{Duration, Instant};

use common::routers::{Bird, BirdOpts};
use common::{wait_for, Ferrolb, Lab, NodeToml, ROUTER_V4};

const WAIT: Duration = Duration::from_secs(30);

fn status(lab: &Lab) -> Option<serde_json::Value> {
    let body = lab.exec(
        &lab.node_ns,
        &["curl", "-sf", "http://127.0.0.1:7473/status"],
    )?;
    serde_json::from_str(&body).ok()
}

fn session(lab: &Lab) -> Option<serde_json::Value> {
    status(lab)?["sessions"].as_array()?.first().cloned()
}

fn bfd_state(lab: &Lab) -> Option<String> {
    session(lab)?["bfd"].as_str().map(str::to_string)
}

fn established(lab: &Lab) -> bool {
    session(lab).is_some_and(|s| s["state"] == "Established")
}

fn metrics(lab: &Lab) -> String {
    lab.exec(
        &lab.node_ns,
        &["curl", "-sf", "http://127.0.0.1:7473/metrics"],
    )
    .unwrap_or_default()
}

/// nftables in ferrolb's namespace: drop BFD control packets in one direction.
fn drop_bfd(lab: &Lab, hook: &str, on: bool) {
    let ns = &lab.node_ns;
    if on {
        common::sh(&[
            "ip", "netns", "exec", ns, "nft", "add", "table", "inet", "flbt",
        ]);
        common::sh(&[
            "ip",
            "netns",
            "exec",
            ns,
            "nft",
            "add",
            "chain",
            "inet",
            "flbt",
            hook,
            &format!("{{ type filter hook {hook} priority 0; }}"),
        ]);
        common::sh(&[
            "ip", "netns", "exec", ns, "nft", "add", "rule", "inet", "flbt", hook, "udp", "dport",
            "3784", "drop",
        ]);
    } else {
        common::sh(&[
            "ip", "netns", "exec", ns, "nft", "delete", "table", "inet", "flbt",
        ]);
    }
}

/// Cease/BFD Down (6/10) NOTIFICATIONs ferrolb has sent.
fn bfd_down_sent(lab: &Lab) -> u64 {
    let key = format!("ferrolb_bgp_notifications_sent_total{{peer=\"router\",peer_address=\"{ROUTER_V4}\",code=\"6\",subcode=\"10\"}} ");
    metrics(lab)
        .lines()
        .find_map(|l| l.strip_prefix(&key).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0)
}

fn routes(bird: &Bird) -> usize {
    bird.ctl().routes_of("ferrolb").len()
}

#[test]
fn bfd_with_bird_comes_up_and_takes_bgp_down_both_ways() {
    common::require("curl");
    common::require("nft");
    let lab = Lab::new();
    let bird = Bird::start_with(
        &lab,
        64500,
        64512,
        true,
        &BirdOpts {
            bfd: Some((300, 3)),
            ..BirdOpts::default()
        },
    );
    let toml = NodeToml {
        asn: 64512,
        peer_asn: 64500,
        hold_time: 90,
        graceful_restart_time: Some(0),
        services: vec![("web", vec!["198.51.100.7"]), ("api", vec!["203.0.113.9"])],
        peer_extra: "bfd = true".into(),
        http: Some("127.0.0.1:7473"),
        ..NodeToml::default()
    };
    let node = Ferrolb::start(&lab, &toml);

    let fail = |what: &str, e: String| -> ! {
        panic!(
            "{what}: {e}\nBIRD bfd:\n{}\nBIRD protocol:\n{}\nferrolb status: {:?}\n{}",
            bird.bfd_sessions(),
            bird.protocol("ferrolb"),
            status(&lab),
            node.proc.log_text()
        )
    };
    wait_for("BFD Up on both sides and the routes in BIRD", WAIT, || {
        bird.bfd_sessions().contains("Up")
            && bfd_state(&lab).as_deref() == Some("up")
            && routes(&bird) == 2
    })
    .unwrap_or_else(|e| fail("handshake", e));
    let m = metrics(&lab);
    assert!(
        m.contains(&format!(
            "ferrolb_bfd_session_up{{peer=\"router\",peer_address=\"{ROUTER_V4}\"}} 1"
        )),
        "{m}"
    );

    // ferrolb's packets lost: BIRD's detection time (3 × 300 ms) runs out, BIRD takes the BGP
    // session down (the hold time is 90 s) and with it ferrolb's routes.
    drop_bfd(&lab, "output", true);
    let lost = Instant::now();
    wait_for("BIRD to drop ferrolb's routes", WAIT, || routes(&bird) == 0)
        .unwrap_or_else(|e| fail("ferrolb's BFD dropped", e));
    let gone = lost.elapsed();
    assert!(
        bird.protocol("ferrolb").contains("BFD session down"),
        "BIRD names BFD as the reason:\n{}",
        bird.protocol("ferrolb")
    );
    eprintln!("ferrolb's BFD packets dropped: BIRD withdrew the routes after {gone:?}");
    drop_bfd(&lab, "output", false);
    wait_for("BFD and BGP back with the routes", WAIT, || {
        bfd_state(&lab).as_deref() == Some("up") && established(&lab) && routes(&bird) == 2
    })
    .unwrap_or_else(|e| fail("recovery after output drop", e));

    // BIRD's packets lost: ferrolb's detection time runs out; it sends Cease/BFD Down. (When
    // ferrolb's packets were lost, ferrolb may have sent one too: BIRD's BFD told it Down, and
    // whichever side's NOTIFICATION left first closed the session.)
    let before = bfd_down_sent(&lab);
    drop_bfd(&lab, "input", true);
    let lost = Instant::now();
    wait_for("ferrolb to close the session for BFD", WAIT, || {
        !established(&lab)
    })
    .unwrap_or_else(|e| fail("BIRD's BFD dropped", e));
    eprintln!(
        "BIRD's BFD packets dropped: ferrolb closed the session after {:?}",
        lost.elapsed()
    );
    assert_eq!(
        bfd_down_sent(&lab),
        before + 1,
        "one Cease/BFD Down sent:\n{}",
        metrics(&lab)
    );
    let last = session(&lab)
        .map(|s| s["last_error"].to_string())
        .unwrap_or_default();
    assert!(last.contains("BFD down"), "last_error: {last}");
    // Held down while BFD is down: BIRD keeps trying (connect retry 1 s), nothing establishes.
    for _ in 0..25 {
        assert!(
            !established(&lab),
            "the session came back while BFD is down"
        );
        assert_ne!(bfd_state(&lab).as_deref(), Some("up"));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(routes(&bird), 0, "no routes while the session is down");
    drop_bfd(&lab, "input", false);
    wait_for(
        "BFD Up, the session Established and the routes back",
        WAIT,
        || bfd_state(&lab).as_deref() == Some("up") && established(&lab) && routes(&bird) == 2,
    )
    .unwrap_or_else(|e| fail("recovery after input drop", e));
}
