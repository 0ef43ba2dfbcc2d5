//! BFD against FRR 8.x: zebra + bfdd + bgpd in the router namespace (bgpd reaches bfdd over
//! zebra's zserv socket), a bfdd profile of 300 ms × 3 and `neighbor 192.0.2.2 bfd` on the BGP
//! session; ferrolb with `bfd = true` in its own namespace. The hold time is 90 s, so a session
//! that goes down in seconds went down because of BFD, not the hold timer:
//!
//! - the BFD session comes Up on both sides (bfdd's `show bfd peers json`, ferrolb's `/status`
//!   `sessions[].bfd`) with the 300 ms × 3 timers, and FRR has ferrolb's routes;
//! - ferrolb's BFD packets dropped (nftables in ferrolb's namespace): FRR takes the BGP session
//!   down and drops the routes; let through again: both come back;
//! - FRR's BFD packets dropped: ferrolb closes the session with Cease/BFD Down (6/10), does not
//!   re-establish it while BFD stays down (FRR is not passive: it keeps connecting), and
//!   re-establishes it with its routes once BFD is Up.
//!
//! The measured times and FRR's last reset reasons are printed (`--nocapture`), not asserted.

mod common;

use std::time::{Duration, Instant};

use common::bfd::{bfd_down_sent, bfd_state, drop_bfd, established, metrics, session, status};
use common::routers::{Frr, FrrOpts};
use common::{wait_for, Ferrolb, Lab, NodeToml, NODE_V4, ROUTER_V4};

const WAIT: Duration = Duration::from_secs(30);

fn routes(frr: &Frr) -> usize {
    frr.count("ipv4")
}

fn frr_established(frr: &Frr) -> bool {
    frr.neighbor()[NODE_V4]["bgpState"] == "Established"
}

/// FRR's own words for the last reset of the session with the node.
fn last_reset(frr: &Frr) -> String {
    let n = &frr.neighbor()[NODE_V4];
    let mut s = n["lastResetDueTo"].as_str().unwrap_or("?").to_string();
    if let Some(r) = n["lastNotificationReason"].as_str() {
        s.push_str(&format!(" (last notification: {r})"));
    }
    s
}

#[test]
fn bfd_with_frr_comes_up_and_takes_bgp_down_both_ways() {
    common::require("curl");
    common::require("nft");
    let lab = Lab::new();
    let frr = Frr::start_with(
        &lab,
        64500,
        64512,
        false,
        &FrrOpts {
            bfd: Some((300, 3)),
            ..FrrOpts::default()
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
            "{what}: {e}\nFRR bfd peers: {:#?}\nFRR neighbor: {:#}\nferrolb status: {:?}\n{}\nFRR logs:\n{}",
            frr.bfd_peers(),
            frr.neighbor(),
            status(&lab),
            node.proc.log_text(),
            frr.logs()
        )
    };
    let t = Instant::now();
    wait_for("BFD Up on both sides and the routes in FRR", WAIT, || {
        frr.bfd_status().as_deref() == Some("up")
            && bfd_state(&lab).as_deref() == Some("up")
            && routes(&frr) == 2
    })
    .unwrap_or_else(|e| fail("handshake", e));
    eprintln!(
        "BFD Up on both sides, routes in FRR after {:?}",
        t.elapsed()
    );
    let peers = frr.bfd_peers();
    let peer = peers
        .iter()
        .find(|p| p["peer"] == NODE_V4)
        .expect("bfdd's session with the node");
    eprintln!("FRR bfd peer: {peer}");
    assert_eq!(peer["local"], ROUTER_V4, "{peer}");
    assert_eq!(peer["multihop"], false, "{peer}");
    for key in ["receive-interval", "transmit-interval"] {
        assert_eq!(peer[key], 300, "bfdd's own {key}: {peer}");
    }
    assert_eq!(peer["detect-multiplier"], 3, "{peer}");
    // What ferrolb announced: its profile (MetalLB's defaults: 300 ms, 300 ms, × 3).
    for key in ["remote-receive-interval", "remote-transmit-interval"] {
        assert_eq!(peer[key], 300, "ferrolb's {key}: {peer}");
    }
    assert_eq!(peer["remote-detect-multiplier"], 3, "{peer}");
    let bfd_info = frr.neighbor()[NODE_V4]["peerBfdInfo"].clone();
    eprintln!("FRR bgpd peerBfdInfo: {bfd_info}");
    assert!(
        bfd_info["status"]
            .as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("up")),
        "bgpd sees BFD Up: {bfd_info}"
    );
    let m = metrics(&lab);
    assert!(
        m.contains(&format!(
            "ferrolb_bfd_session_up{{peer=\"router\",peer_address=\"{ROUTER_V4}\"}} 1"
        )),
        "{m}"
    );

    // ferrolb's packets lost: bfdd's detection time (3 × 300 ms) runs out, bgpd takes the BGP
    // session down (the hold time is 90 s) and with it ferrolb's routes.
    drop_bfd(&lab, "output", true);
    let lost = Instant::now();
    wait_for("FRR to drop ferrolb's routes", WAIT, || routes(&frr) == 0)
        .unwrap_or_else(|e| fail("ferrolb's BFD dropped", e));
    let gone = lost.elapsed();
    assert_ne!(
        frr.bfd_status().as_deref(),
        Some("up"),
        "{:?}",
        frr.bfd_peers()
    );
    let reason = last_reset(&frr);
    eprintln!("ferrolb's BFD packets dropped: FRR withdrew the routes after {gone:?}; FRR's last reset: {reason}");
    assert!(
        reason.contains("BFD"),
        "FRR names BFD as the reason: {reason}"
    );
    drop_bfd(&lab, "output", false);
    let back = Instant::now();
    wait_for("BFD and BGP back with the routes", WAIT, || {
        frr.bfd_status().as_deref() == Some("up")
            && bfd_state(&lab).as_deref() == Some("up")
            && established(&lab)
            && routes(&frr) == 2
    })
    .unwrap_or_else(|e| fail("recovery after output drop", e));
    eprintln!(
        "ferrolb's BFD let through again: BFD Up, session and routes back after {:?}",
        back.elapsed()
    );

    // FRR's packets lost: ferrolb's detection time runs out; it sends Cease/BFD Down.
    let before = bfd_down_sent(&lab);
    drop_bfd(&lab, "input", true);
    let lost = Instant::now();
    wait_for("ferrolb to close the session for BFD", WAIT, || {
        !established(&lab)
    })
    .unwrap_or_else(|e| fail("FRR's BFD dropped", e));
    let closed = lost.elapsed();
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
    wait_for("FRR to drop the routes", WAIT, || routes(&frr) == 0)
        .unwrap_or_else(|e| fail("routes after FRR's BFD dropped", e));
    let gone = lost.elapsed();
    eprintln!(
        "FRR's BFD packets dropped: ferrolb closed the session after {closed:?}, FRR withdrew the routes after {gone:?}; ferrolb's last_error: {last}; FRR's last reset: {}",
        last_reset(&frr)
    );
    // Held down while BFD is down: FRR keeps connecting (connect timer 1 s), nothing
    // establishes on either side.
    for _ in 0..25 {
        assert!(
            !established(&lab),
            "ferrolb's session came back while BFD is down"
        );
        assert!(
            !frr_established(&frr),
            "FRR's session came back while BFD is down"
        );
        assert_ne!(bfd_state(&lab).as_deref(), Some("up"));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(routes(&frr), 0, "no routes while the session is down");
    eprintln!(
        "after 5 s held down: Cease/BFD Down sent {} (before the drop: {before}); FRR bfd status {:?}",
        bfd_down_sent(&lab),
        frr.bfd_status()
    );
    drop_bfd(&lab, "input", false);
    let back = Instant::now();
    wait_for(
        "BFD Up, the session Established and the routes back",
        WAIT,
        || {
            bfd_state(&lab).as_deref() == Some("up")
                && frr.bfd_status().as_deref() == Some("up")
                && established(&lab)
                && routes(&frr) == 2
        },
    )
    .unwrap_or_else(|e| fail("recovery after input drop", e));
    eprintln!(
        "FRR's BFD let through again: BFD Up, session and routes back after {:?}",
        back.elapsed()
    );
}
