//! The TCP transport of a session against a real BIRD 2, in namespaces each test makes: TCP MD5
//! (RFC 2385) with ferrolb connecting and with BIRD connecting (an IPv4 peer on the dual-stack
//! `[::]:179` listener, and over IPv6), GTSM (RFC 5082, BIRD `ttl security on`) both ways, and
//! `ebgp_multihop` one forwarding namespace away. Every failing variant is watched for a whole
//! window (the session state polled at BIRD and in ferrolb's `/status`), then fixed by a SIGHUP
//! that must bring the session up with its route.

mod common;

use std::time::Duration;

use common::bfd::{established, session, status};
use common::routers::{Bird, BirdOpts, Frr, FrrOpts, Router};
use common::{wait_for, Ferrolb, Lab, NodeToml};

const WAIT: Duration = Duration::from_secs(60);
/// How long a misconfigured session is watched: several connect retries (1 s) on both sides,
/// and several transport checks (5 s) in ferrolb.
const WINDOW: Duration = Duration::from_secs(20);

/// ferrolb (AS 64512) announcing 198.51.100.10 to BIRD (AS 64500), `/status` on
/// 127.0.0.1:7473 in its namespace; passive ones listen on the dual-stack `[::]:179`.
fn node(passive: bool, peer_extra: &str) -> NodeToml {
    NodeToml {
        asn: 64512,
        peer_asn: 64500,
        hold_time: 9,
        passive,
        services: vec![("web", vec!["198.51.100.10"])],
        http: Some("127.0.0.1:7473"),
        peer_extra: peer_extra.into(),
        graceful_restart_time: Some(0),
        listen: passive.then_some("[::]:179"),
        ..NodeToml::default()
    }
}

fn bird(lab: &Lab, passive: bool, opts: BirdOpts) -> Bird {
    common::require("curl");
    Bird::start_with(lab, 64500, 64512, passive, &opts)
}

fn fail(what: &str, e: String, lab: &Lab, bird: &Bird, f: &Ferrolb) -> ! {
    panic!(
        "{what}: {e}\nBIRD:\n{}\nBIRD log:\n{}\nferrolb status: {:?}\n--- ferrolb log ---\n{}",
        bird.protocol("ferrolb"),
        bird.log(),
        status(lab),
        f.proc.log_text()
    )
}

/// Established on both sides and BIRD has the route.
fn peers_with_route(what: &str, lab: &Lab, bird: &Bird, f: &Ferrolb) {
    wait_for(what, WAIT, || {
        bird.established()
            && established(lab)
            && bird.routes().iter().any(|r| r.prefix == "198.51.100.10/32")
    })
    .unwrap_or_else(|e| fail(what, e, lab, bird, f));
}

/// Polls both sides for the whole window; fails the moment either is Established.
fn never_established(what: &str, lab: &Lab, bird: &Bird, f: &Ferrolb) {
    if wait_for(what, WINDOW, || bird.established() || established(lab)).is_ok() {
        fail(what, "Established".into(), lab, bird, f);
    }
}

fn last_error(lab: &Lab) -> String {
    session(lab)
        .and_then(|s| s["last_error"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Wrong password (either direction): never Established; `/status` `last_error` and the log
/// say what is likely wrong (`expect` in both); then the right one by SIGHUP.
fn md5(ferrolb_connects: bool, expect: &str) {
    let lab = Lab::new();
    let opts = BirdOpts {
        password: Some("bird-side".into()),
        ..BirdOpts::default()
    };
    let bird = bird(&lab, ferrolb_connects, opts);
    let mut toml = node(!ferrolb_connects, "password = \"not-the-same\"");
    let f = Ferrolb::start(&lab, &toml);
    never_established("a session with the wrong password", &lab, &bird, &f);
    let why = last_error(&lab);
    if !why.contains(expect) || !f.proc.log_text().contains(expect) {
        fail("last_error and log name TCP MD5", why, &lab, &bird, &f);
    }
    toml.peer_extra = "password = \"bird-side\"".into();
    f.reload(&toml);
    peers_with_route("the right password after SIGHUP", &lab, &bird, &f);
}

#[test]
fn md5_when_ferrolb_connects_a_wrong_password_is_named_and_the_right_one_peers() {
    // Our SYNs die silently at BIRD: the connect times out.
    md5(true, "a TCP MD5 password is configured for this peer");
}

#[test]
fn md5_when_bird_connects_to_the_dual_stack_listener_a_wrong_password_is_named_and_the_right_one_peers(
) {
    // BIRD's SYNs are dropped here: the kernel counts them.
    md5(false, "wrong (");
}

#[test]
fn md5_over_ipv6_when_bird_connects() {
    let lab = Lab::new();
    let opts = BirdOpts {
        password: Some("v6-secret".into()),
        ipv6_transport: true,
        ..BirdOpts::default()
    };
    let bird = bird(&lab, false, opts);
    let toml = NodeToml {
        ipv6_transport: true,
        ..node(true, "password = \"v6-secret\"")
    };
    let f = Ferrolb::start(&lab, &toml);
    peers_with_route("MD5 over IPv6", &lab, &bird, &f);
}

/// BIRD `ttl security on`, directly connected; ferrolb `ttl_security = true`.
fn gtsm(ferrolb_connects: bool) {
    let lab = Lab::new();
    let opts = BirdOpts {
        ttl_security: true,
        ..BirdOpts::default()
    };
    let bird = bird(&lab, ferrolb_connects, opts);
    let f = Ferrolb::start(&lab, &node(!ferrolb_connects, "ttl_security = true"));
    peers_with_route("GTSM on both sides", &lab, &bird, &f);
}

#[test]
fn gtsm_when_ferrolb_connects() {
    gtsm(true);
}

#[test]
fn gtsm_when_bird_connects() {
    // Our SYN-ACK and everything after it must leave with TTL 255, or BIRD drops it.
    gtsm(false);
}

/// BIRD (2.0.12) with `ttl security on` against ferrolb without `ttl_security`, both ways:
/// BIRD never reaches Established and never has the route. BIRD applies its minimum TTL to a
/// connection only once it is up, so our first segments (SYN-ACK, OPEN) can slip in and ferrolb
/// may see a one-sided Established until its hold timer fires: only BIRD's side is asserted.
fn never_at_bird(what: &str, lab: &Lab, bird: &Bird, f: &Ferrolb) {
    let up = || bird.established() || !bird.routes().is_empty();
    if wait_for(what, WINDOW, up).is_ok() {
        fail(
            what,
            "BIRD Established or with the route".into(),
            lab,
            bird,
            f,
        );
    }
}

/// BIRD connects; a SIGHUP turning `ttl_security` on (listener TTL 255 for the SYN-ACK, the
/// accepted socket's TTL and minimum) then brings the session up.
#[test]
fn bird_with_ttl_security_never_peers_with_ferrolb_without_it_until_a_reload_turns_it_on() {
    let lab = Lab::new();
    let opts = BirdOpts {
        ttl_security: true,
        ..BirdOpts::default()
    };
    let bird = bird(&lab, false, opts);
    let mut toml = node(true, "");
    let f = Ferrolb::start(&lab, &toml);
    never_at_bird("BIRD connecting to ferrolb without GTSM", &lab, &bird, &f);
    toml.peer_extra = "ttl_security = true".into();
    f.reload(&toml);
    // BIRD may sit on a connection whose FIN and RST (TTL 1) it dropped, in OpenSent until its
    // 240 s hold timer: restart its side, as an operator would.
    bird.set_enabled("ferrolb", false);
    bird.set_enabled("ferrolb", true);
    peers_with_route("ttl_security = true after SIGHUP", &lab, &bird, &f);
}

#[test]
fn bird_with_ttl_security_never_establishes_when_ferrolb_without_it_connects() {
    let lab = Lab::new();
    let opts = BirdOpts {
        ttl_security: true,
        ..BirdOpts::default()
    };
    let bird = bird(&lab, true, opts);
    let f = Ferrolb::start(&lab, &node(false, ""));
    never_at_bird("ferrolb without GTSM connecting to BIRD", &lab, &bird, &f);
}

/// BIRD one routed hop away with `multihop 2` and no TTL security: its segments arrive with
/// TTL 1. ferrolb (passive, `ttl_security = true`, one hop) refuses them: first at the
/// listener (every peer uses GTSM, so `IP_MINTTL` 255 drops the SYN), then, with a second
/// peer without GTSM, by checking the accepted connection's SYN TTL, which `last_error` shows.
#[test]
fn an_inbound_connection_arriving_with_ttl_1_is_refused_under_gtsm() {
    let lab = Lab::routed();
    let opts = BirdOpts {
        multihop: Some(2),
        ..BirdOpts::default()
    };
    let bird = bird(&lab, false, opts);
    let mut toml = node(true, "ttl_security = true");
    let f = Ferrolb::start(&lab, &toml);
    never_established("a TTL-1 connection, listener check", &lab, &bird, &f);
    let why = last_error(&lab);
    if why.contains("arrived with TTL") {
        fail("the listener itself drops the SYN", why, &lab, &bird, &f);
    }
    toml.extra = "[[bgp.peers]]\nname = \"plain\"\naddress = \"203.0.113.99\"\nasn = 64501\npassive = true\n".into();
    f.reload(&toml);
    never_established("a TTL-1 connection, per-peer check", &lab, &bird, &f);
    let why = last_error(&lab);
    if !why.contains("arrived with TTL 1, below this peer's GTSM minimum 255") {
        fail("last_error names the TTL", why, &lab, &bird, &f);
    }
}

/// `ebgp_multihop` across a forwarding namespace: BIRD `multihop 2`, both sides connect.
/// Without `ebgp_multihop` our segments leave with TTL 1 and die at the forwarder, on the
/// connections we open and on the ones BIRD opens; with `ebgp_multihop = 2` the session comes
/// up with its route.
#[test]
fn ebgp_multihop_2_peers_through_a_forwarding_namespace_and_ttl_1_does_not() {
    let lab = Lab::routed();
    let opts = BirdOpts {
        multihop: Some(2),
        ..BirdOpts::default()
    };
    let bird = bird(&lab, false, opts);
    let mut toml = node(false, "source_address = \"192.0.2.2\"");
    let f = Ferrolb::start(&lab, &toml);
    never_established("ferrolb without ebgp_multihop", &lab, &bird, &f);
    toml.peer_extra = "source_address = \"192.0.2.2\"\nebgp_multihop = 2".into();
    f.reload(&toml);
    peers_with_route("ebgp_multihop = 2 after SIGHUP", &lab, &bird, &f);
}

/// FRR bgpd with `password` and `ttl-security hops 1` (FRR sets its minimum TTL before it
/// connects, so our SYN-ACK must leave with 255 too): Established with the route both ways.
fn frr_md5_and_gtsm(ferrolb_connects: bool) {
    common::require("curl");
    let lab = Lab::new();
    let opts = FrrOpts {
        neighbor: vec!["password frr-s3cret".into(), "ttl-security hops 1".into()],
        ..FrrOpts::default()
    };
    let frr = Frr::start_with(&lab, 64500, 64512, ferrolb_connects, &opts);
    let toml = node(
        !ferrolb_connects,
        "password = \"frr-s3cret\"\nttl_security = true",
    );
    let f = Ferrolb::start(&lab, &toml);
    wait_for("Established at FRR with the route", WAIT, || {
        frr.established()
            && established(&lab)
            && frr.routes().iter().any(|r| r.prefix == "198.51.100.10/32")
    })
    .unwrap_or_else(|e| {
        panic!(
            "{e}\nferrolb status: {:?}\n--- FRR log ---\n{}\n--- ferrolb log ---\n{}",
            status(&lab),
            frr.process().log_text(),
            f.proc.log_text()
        )
    });
}

#[test]
fn frr_with_md5_and_ttl_security_when_ferrolb_connects() {
    frr_md5_and_gtsm(true);
}

#[test]
fn frr_with_md5_and_ttl_security_when_frr_connects() {
    frr_md5_and_gtsm(false);
}
