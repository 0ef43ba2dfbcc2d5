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

use common::bfd::{bfd_down_sent, bfd_state, drop_bfd, established, metrics, session, status};
use common::routers::{same_since, Bird, BirdOpts};
use common::{wait_for, Ferrolb, Lab, NodeToml, ROUTER_V4};

const WAIT: Duration = Duration::from_secs(30);

fn routes(bird: &Bird) -> usize {
    bird.ctl().routes_of("ferrolb").len()
}

/// BIRD with `protocol bfd` at 300 ms x 3 and `bfd on` (plus `opts`), passive, AS 64500.
fn bird_with_bfd(lab: &Lab, opts: BirdOpts) -> Bird {
    Bird::start_with(
        lab,
        64500,
        64512,
        true,
        &BirdOpts {
            bfd: Some((300, 3)),
            ..opts
        },
    )
}

/// ferrolb (AS 64512) peering with BIRD, hold time 90 s (only BFD can be fast), `/status` and
/// `/metrics` on 127.0.0.1:7473 in its namespace.
fn node_toml() -> NodeToml {
    NodeToml {
        asn: 64512,
        peer_asn: 64500,
        hold_time: 90,
        http: Some("127.0.0.1:7473"),
        ..NodeToml::default()
    }
}

#[test]
fn bfd_with_bird_comes_up_and_takes_bgp_down_both_ways() {
    common::require("curl");
    common::require("nft");
    let lab = Lab::new();
    let bird = bird_with_bfd(&lab, BirdOpts::default());
    let toml = NodeToml {
        graceful_restart_time: Some(0),
        services: vec![("web", vec!["198.51.100.7"]), ("api", vec!["203.0.113.9"])],
        peer_extra: "bfd = true".into(),
        ..node_toml()
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

/// BIRD with graceful restart and BFD: how long ferrolb's routes stay after ferrolb dies.
fn gr_with_bfd(signal: &str) -> (Duration, String) {
    let lab = Lab::new();
    let bird = bird_with_bfd(
        &lab,
        BirdOpts {
            graceful_restart: true,
            ..BirdOpts::default()
        },
    );
    let toml = NodeToml {
        services: vec![("web", vec!["198.51.100.7"])],
        peer_extra: "bfd = true".into(),
        ..node_toml()
    };
    let node = Ferrolb::start(&lab, &toml);
    wait_for("BFD Up and the route in BIRD", WAIT, || {
        bird.bfd_sessions().contains("Up") && routes(&bird) == 1
    })
    .unwrap_or_else(|e| {
        panic!(
            "{e}\n{}\n{}",
            bird.protocol("ferrolb"),
            node.proc.log_text()
        )
    });
    node.proc.signal(signal);
    let t = Instant::now();
    let gone = wait_for("BIRD to drop the route", Duration::from_secs(20), || {
        routes(&bird) == 0
    });
    let took = t.elapsed();
    let text = bird.protocol("ferrolb");
    if signal == "STOP" {
        node.proc.signal("CONT");
    }
    gone.unwrap_or_else(|e| panic!("{signal}: {e}\n{text}"));
    (took, text)
}

/// Graceful restart (RFC 4724, 120 s on both sides) does not keep a dead node's routes when
/// BFD is on: BFD Down is a real failure, and BIRD flushes the routes at once instead of keeping
/// them stale for the restart time. Both ways a node dies: SIGKILL (the kernel closes the TCP
/// connection, which alone would start BIRD's graceful restart) and SIGSTOP (a frozen node:
/// nothing is sent at all). Without BFD, tests/announce.rs shows BIRD keeping them.
#[test]
fn graceful_restart_does_not_keep_routes_when_bfd_goes_down() {
    for sig in ["KILL", "STOP"] {
        let (took, text) = gr_with_bfd(sig);
        eprintln!("SIG{sig}: BIRD withdrew the route after {took:?}");
        assert!(
            text.contains("BFD session down"),
            "SIG{sig}: BIRD names BFD:\n{text}"
        );
    }
}

/// A multihop session (RFC 5883, port 4784) between loopbacks two hops apart, across a
/// forwarding namespace: `ebgp_multihop = 2` and BIRD's `multihop 2`; BFD comes Up and a lost
/// path takes BGP down.
#[test]
fn multihop_bfd_across_a_forwarding_namespace() {
    common::require("curl");
    common::require("nft");
    let lab = Lab::routed();
    let bird = bird_with_bfd(
        &lab,
        BirdOpts {
            multihop: Some(2),
            ..BirdOpts::default()
        },
    );
    let toml = NodeToml {
        graceful_restart_time: Some(0),
        services: vec![("web", vec!["203.0.113.7"])],
        // BIRD's multihop BFD packets arrive one hop away with a TTL below 254 (they pass 62 and
        // fail 254, the test below; presumably the system default of 64, not measured): MetalLB's
        // default 254 would drop every packet, and ferrolb would count them as TTL drops.
        peer_extra: "bfd_profile = \"multihop\"\nebgp_multihop = 2\nsource_address = \"192.0.2.2\""
            .into(),
        extra: "[[bfd_profiles]]\nname = \"multihop\"\nminimum_ttl = 62\n".into(),
        ..node_toml()
    };
    let node = Ferrolb::start(&lab, &toml);
    let fail = |what: &str, e: String| -> ! {
        panic!(
            "{what}: {e}\nBIRD bfd:\n{}\nBIRD protocol:\n{}\nBIRD log:\n{}\nferrolb status: {:?}\n{}",
            bird.bfd_sessions(),
            bird.protocol("ferrolb"),
            bird.log(),
            status(&lab),
            node.proc.log_text()
        )
    };
    wait_for(
        "multihop BFD Up on both sides and the route in BIRD",
        WAIT,
        || {
            bird.bfd_sessions().contains("Up")
                && bfd_state(&lab).as_deref() == Some("up")
                && routes(&bird) == 1
        },
    )
    .unwrap_or_else(|e| fail("multihop handshake", e));
    // The path through the forwarding namespace breaks (its forwarding is switched off): both
    // BFD sessions time out and BIRD drops the route long before the 90 s hold time.
    let fwd = &lab.node_nss[1];
    common::sh(&[
        "ip",
        "netns",
        "exec",
        fwd,
        "sysctl",
        "-qw",
        "net.ipv4.ip_forward=0",
    ]);
    wait_for(
        "BIRD to drop the route and ferrolb's BFD to go down",
        WAIT,
        || routes(&bird) == 0 && bfd_state(&lab).as_deref() == Some("down"),
    )
    .unwrap_or_else(|e| fail("path lost", e));
    assert!(
        bird.protocol("ferrolb").contains("BFD session down"),
        "{}",
        bird.protocol("ferrolb")
    );
    common::sh(&[
        "ip",
        "netns",
        "exec",
        fwd,
        "sysctl",
        "-qw",
        "net.ipv4.ip_forward=1",
    ]);
    wait_for("multihop BFD and BGP back with the route", WAIT, || {
        bfd_state(&lab).as_deref() == Some("up") && established(&lab) && routes(&bird) == 1
    })
    .unwrap_or_else(|e| fail("path back", e));
}

/// A profile change on SIGHUP (300/300/×3 → receive 600, transmit 500, ×4) goes out as a poll
/// sequence: BIRD's session takes the new intervals (its transmit interval becomes our 600 ms
/// receive interval, its detection time 4 × 500 ms) while BFD stays Up and the BGP session is
/// never reset.
#[test]
fn a_profile_change_applies_without_a_flap() {
    common::require("curl");
    let lab = Lab::new();
    let bird = bird_with_bfd(&lab, BirdOpts::default());
    let mut toml = NodeToml {
        graceful_restart_time: Some(0),
        services: vec![("web", vec!["198.51.100.7"])],
        peer_extra: "bfd = true".into(),
        ..node_toml()
    };
    let node = Ferrolb::start(&lab, &toml);
    let line = || {
        bird.bfd_sessions()
            .lines()
            .find(|l| l.starts_with(NODE_ADDR))
            .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let fail = |what: &str, e: String| -> ! {
        panic!(
            "{what}: {e}\n{}\n{:?}\n{}",
            bird.bfd_sessions(),
            status(&lab),
            node.proc.log_text()
        )
    };
    // IP address, Interface, State, Since, Interval, Timeout
    wait_for("BFD Up at 300 ms and the route in BIRD", WAIT, || {
        let l = line();
        l.get(2).map(String::as_str) == Some("Up")
            && l.get(4).map(String::as_str) == Some("0.300")
            && routes(&bird) == 1
    })
    .unwrap_or_else(|e| fail("up", e));
    let since = line()[3].clone();
    // BIRD's `Since` of the BGP protocol: it changes with every session reset.
    let bgp_since = || bird.since("ferrolb");
    std::thread::sleep(Duration::from_millis(1100));
    let bgp_before = bgp_since();
    assert!(bgp_before.is_some(), "BIRD's protocol line");
    let uptime = || session(&lab).and_then(|s| s["uptime_seconds"].as_u64());
    toml.peer_extra = "bfd_profile = \"slow\"".into();
    toml.extra = "[[bfd_profiles]]\nname = \"slow\"\nreceive_interval = 600\ntransmit_interval = 500\ndetect_multiplier = 4\n".into();
    let before = uptime().expect("uptime");
    node.reload(&toml);
    wait_for("BIRD to run the new intervals", WAIT, || {
        let l = line();
        l.get(4).map(String::as_str) == Some("0.600")
            && l.get(5).map(String::as_str) == Some("2.000")
    })
    .unwrap_or_else(|e| fail("poll sequence", e));
    let l = line();
    assert_eq!(
        (l[2].as_str(), l[3].as_str()),
        ("Up", since.as_str()),
        "BFD stayed Up: {l:?}"
    );
    assert!(
        uptime().expect("uptime") >= before,
        "the BGP session was not reset"
    );
    let bgp_after = bgp_since();
    assert!(
        same_since(&bgp_after, &bgp_before),
        "BIRD's BGP session was reset: {bgp_before:?} then {bgp_after:?}"
    );
    assert!(established(&lab) && routes(&bird) == 1);
    assert!(
        metrics(&lab).contains(
            "ferrolb_bgp_session_flaps_total{peer=\"router\",peer_address=\"192.0.2.1\"} 0"
        ),
        "no flap:\n{}",
        metrics(&lab)
    );
}

const NODE_ADDR: &str = common::NODE_V4;

/// The TTL check of RFC 5883 §5: with the default `minimum_ttl` (254), BIRD's multihop packets
/// (one hop away, arriving with a TTL below 254) are dropped and counted, and the session never comes Up;
/// the BGP session is not held (BFD was never Up).
#[test]
fn multihop_packets_below_minimum_ttl_are_dropped_and_counted() {
    common::require("curl");
    let lab = Lab::routed();
    let bird = bird_with_bfd(
        &lab,
        BirdOpts {
            multihop: Some(2),
            ..BirdOpts::default()
        },
    );
    let toml = NodeToml {
        graceful_restart_time: Some(0),
        services: vec![("web", vec!["203.0.113.7"])],
        peer_extra: "bfd = true\nebgp_multihop = 2\nsource_address = \"192.0.2.2\"".into(),
        ..node_toml()
    };
    let node = Ferrolb::start(&lab, &toml);
    let ttl_drops = || {
        metrics(&lab)
            .lines()
            .find_map(|l| l.strip_prefix("ferrolb_bfd_packets_dropped_total{reason=\"ttl\"} "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    wait_for("three TTL drops", WAIT, || ttl_drops() >= 3).unwrap_or_else(|e| {
        panic!(
            "{e}\n{}\n{}\n{}\n{}",
            metrics(&lab),
            bird.bfd_sessions(),
            bird.log(),
            node.proc.log_text()
        )
    });
    assert_eq!(
        bfd_state(&lab).as_deref(),
        Some("down"),
        "{:?}",
        status(&lab)
    );
    assert!(
        !bird.bfd_sessions().contains(" Up "),
        "{}",
        bird.bfd_sessions()
    );
    wait_for("BGP up without BFD ever Up", WAIT, || {
        established(&lab) && routes(&bird) == 1
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", node.proc.log_text()));
}
