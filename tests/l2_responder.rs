//! The AF_PACKET responder against real kernel parts: it runs in-process inside a lab node
//! namespace; the router namespace (the bridge br0) is the client, asking with the real
//! `arping` and `ndisc6` and with a raw `Prober`.

mod common;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use common::l2::{arping, mac_of, ndisc6, node_dev, parse_mac, Heard, NsResponder, Prober};
use common::{Lab, ROUTER_V4, ROUTER_V6};
use ferrolb::l2::responder::{L2Owned, GRATUITOUS_REPEATS, GRATUITOUS_SPACING};
use ferrolb::l2::wire::ipv6::icmpv6_checksum;
use ferrolb::l2::wire::{ArpOp, ArpPacket, MacAddr, Vlan};

const V4: &str = "192.0.2.100";
const V6: &str = "2001:db8::100";
const V4_NOT_OWNED: &str = "192.0.2.101";
const V6_NOT_OWNED: &str = "2001:db8::101";

struct Setup {
    lab: Lab,
    node_ns: String,
    node_mac: String,
    responder: NsResponder,
}

fn setup() -> Setup {
    let lab = Lab::with_nodes(2);
    let node_ns = lab.node_nss[0].clone();
    let dev = node_dev(&lab, &node_ns);
    let node_mac = mac_of(&lab, &node_ns, &dev);
    let responder = NsResponder::start(&node_ns);
    Setup {
        lab,
        node_ns,
        node_mac,
        responder,
    }
}

fn owned(entries: &[(&str, &[&str])]) -> L2Owned {
    entries
        .iter()
        .map(|(i, a)| {
            (
                i.to_string(),
                a.iter().map(|s| s.parse().unwrap()).collect(),
            )
        })
        .collect()
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn prober(s: &Setup) -> Prober {
    Prober::new(&s.lab, &s.lab.router_ns, "br0", ROUTER_V4, ROUTER_V6)
}

#[test]
fn real_arping_and_ndisc6_get_exactly_the_node_mac_for_owned_addresses_only() {
    let s = setup();
    s.responder.set(owned(&[("*", &[V4, V6])]));
    let r = &s.lab.router_ns;

    let macs = arping(&s.lab, r, "br0", V4);
    assert!(!macs.is_empty(), "arping {V4}: no reply");
    assert!(
        macs.iter().all(|m| *m == s.node_mac),
        "arping {V4}: {macs:?}, node is {}",
        s.node_mac
    );
    let macs = ndisc6(&s.lab, r, "br0", V6);
    assert!(!macs.is_empty(), "ndisc6 {V6}: no advertisement");
    assert!(
        macs.iter().all(|m| *m == s.node_mac),
        "ndisc6 {V6}: {macs:?}, node is {}",
        s.node_mac
    );

    assert_eq!(arping(&s.lab, r, "br0", V4_NOT_OWNED), Vec::<String>::new());
    assert_eq!(ndisc6(&s.lab, r, "br0", V6_NOT_OWNED), Vec::<String>::new());
    let c = s.responder.responder.counters();
    assert!(c.answered >= 2, "{c:?}");
    assert!(c.ignored["not_owned"] >= 2, "{c:?}");
}

/// The times of the frames `pick` selects.
fn times(heard: &[Heard], pick: impl Fn(&Heard) -> bool) -> Vec<Instant> {
    heard.iter().filter(|h| pick(h)).map(|h| h.at).collect()
}

/// The first frame right after `set()` returned, then repeats spaced more than 1 s.
fn assert_announced(what: &str, at: &[Instant], set_returned: Instant) {
    let want = 1 + GRATUITOUS_REPEATS as usize;
    assert_eq!(at.len(), want, "{what}: {} frames, want {want}", at.len());
    assert!(
        at[0] <= set_returned + Duration::from_millis(300),
        "{what}: the first one came {:?} after set() returned",
        at[0].saturating_duration_since(set_returned)
    );
    for pair in at.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap > Duration::from_secs(1) && gap < GRATUITOUS_SPACING + Duration::from_millis(500),
            "{what}: repeats {gap:?} apart"
        );
    }
}

#[test]
fn adding_an_address_announces_it_at_once_and_repeats_spaced_over_a_second() {
    let s = setup();
    let p = prober(&s);
    let mac = parse_mac(&s.node_mac);
    let window = GRATUITOUS_SPACING * (GRATUITOUS_REPEATS + 1) + Duration::from_secs(1);
    let (heard, set_returned) = std::thread::scope(|scope| {
        let collector = scope.spawn(|| p.collect(window));
        std::thread::sleep(Duration::from_millis(200));
        s.responder.set(owned(&[("*", &[V4, V6])]));
        let returned = Instant::now();
        let answering = s.responder.responder.subscribe().borrow().clone();
        let dev = node_dev(&s.lab, &s.node_ns);
        for a in [V4, V6] {
            let ip: IpAddr = a.parse().unwrap();
            assert_eq!(
                answering.addresses.get(&ip),
                Some(&BTreeSet::from([dev.clone()])),
                "{answering:?}"
            );
        }
        assert!(answering.unresolved.is_empty(), "{answering:?}");
        (collector.join().unwrap(), returned)
    });
    let req = times(&heard, |h| h.is_gratuitous_request(v4(V4), mac));
    let rep = times(&heard, |h| h.is_gratuitous_reply(v4(V4), mac));
    let na = times(&heard, |h| h.is_unsolicited_na(v6(V6), mac));
    assert_announced("gratuitous ARP request", &req, set_returned);
    assert_announced("gratuitous ARP reply", &rep, set_returned);
    assert_announced("unsolicited NA", &na, set_returned);
    let c = s.responder.responder.counters();
    assert_eq!(
        c.gratuitous_sent,
        3 * (1 + u64::from(GRATUITOUS_REPEATS)),
        "{c:?}"
    );
}

#[test]
fn removing_an_address_stops_answering_and_announcing_before_set_returns() {
    let s = setup();
    let p = prober(&s);
    let mac = parse_mac(&s.node_mac);
    const KEPT: &str = "192.0.2.102";
    s.responder.set(owned(&[("*", &[V4, V6, KEPT])]));
    let group = "33:33:ff:00:01:00"; // the solicited-node MAC of 2001:db8::100
    assert!(joined(&s).contains(group), "not joined: {}", joined(&s));
    p.arp_request(v4(V4));
    p.ns(v6(V6));
    let before = p.collect(Duration::from_millis(500));
    assert!(
        before.iter().any(|h| h.is_arp_reply(v4(V4), p.mac)),
        "no ARP reply while owned"
    );
    assert!(
        before.iter().any(|h| h.is_solicited_na(v6(V6))),
        "no NA while owned"
    );

    // Remove two of three: the socket stays open, so pending repeats would still go out.
    s.responder.set(owned(&[("*", &[KEPT])]));
    // Right after set() returns: not answered, Answering says so, repeats are cancelled.
    p.arp_request(v4(V4));
    p.ns(v6(V6));
    let answering = s.responder.responder.subscribe().borrow().clone();
    assert!(!joined(&s).contains(group), "still joined: {}", joined(&s));
    let kept: IpAddr = KEPT.parse().unwrap();
    assert_eq!(
        answering.addresses.keys().collect::<Vec<_>>(),
        vec![&kept],
        "{answering:?}"
    );
    let after = p.collect(GRATUITOUS_SPACING * (GRATUITOUS_REPEATS + 1));
    let late: Vec<&Heard> = after
        .iter()
        .filter(|h| {
            h.is_arp_reply(v4(V4), p.mac)
                || h.is_solicited_na(v6(V6))
                || h.is_gratuitous_reply(v4(V4), mac)
                || h.is_gratuitous_request(v4(V4), mac)
                || h.is_unsolicited_na(v6(V6), mac)
        })
        .collect();
    assert!(
        late.is_empty(),
        "answered or announced after removal: {late:?}"
    );

    // Remove the last one: nothing is answered, before set() returns.
    s.responder.set(L2Owned::new());
    p.arp_request(v4(KEPT));
    let answering = s.responder.responder.subscribe().borrow().clone();
    assert_eq!(answering, Default::default());
    let after = p.collect(Duration::from_millis(800));
    let late: Vec<&Heard> = after
        .iter()
        .filter(|h| h.is_arp_reply(v4(KEPT), p.mac))
        .collect();
    assert!(late.is_empty(), "answered after set(empty): {late:?}");
}

/// The link-layer multicast memberships of the node's veth (`ip maddr`).
fn joined(s: &Setup) -> String {
    let dev = node_dev(&s.lab, &s.node_ns);
    s.lab
        .exec(&s.node_ns, &["ip", "maddr", "show", "dev", &dev])
        .expect("ip maddr")
}

/// Recomputes the ICMPv6 checksum of an IPv6 frame (no VLAN tag).
fn fix_checksum(frame: &mut [u8]) {
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&frame[22..38]).unwrap());
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&frame[38..54]).unwrap());
    let len = u16::from_be_bytes([frame[18], frame[19]]) as usize;
    frame[56..58].copy_from_slice(&[0, 0]);
    let sum = icmpv6_checksum(src, dst, &frame[54..54 + len]);
    frame[56..58].copy_from_slice(&sum.to_be_bytes());
}

/// The malformed and foreign frames of the flood, one of each kind.
fn bad_frames(p: &Prober) -> Vec<(&'static str, Vec<u8>)> {
    let arp = p.arp_request_frame(v4(V4));
    let ns = p.ns_frame(v6(V6));
    let mut short = arp[..14 + 10].to_vec();
    short.truncate(24);
    let mut hlen = arp.clone();
    hlen[14 + 4] = 8;
    let mut plen = arp.clone();
    plen[14 + 5] = 16;
    let mut checksum = ns.clone();
    checksum[56] ^= 0xff;
    let mut option = ns.clone();
    option[14 + 40 + 24 + 1] = 0; // the SLLA option's length
    fix_checksum(&mut option);
    vec![
        ("short", short),
        ("bad_arp_header", hlen),
        ("bad_arp_header", plen),
        ("bad_checksum", checksum),
        ("bad_option", option),
        ("not_owned", p.ns_frame(v6(V6_NOT_OWNED))),
        ("not_owned", p.arp_request_frame(v4(V4_NOT_OWNED))),
    ]
}

#[test]
fn two_thousand_malformed_or_foreign_frames_get_no_answer_and_are_counted() {
    let s = setup();
    let p = prober(&s);
    s.responder.set(owned(&[("*", &[V4, V6])]));
    let before = s.responder.responder.counters();
    let frames = bad_frames(&p);
    // Neither IPv4 nor IPv6 that is not ICMPv6 passes the socket filter: never classified.
    let mut ipv4 = p.arp_request_frame(v4(V4));
    ipv4[12..14].copy_from_slice(&[0x08, 0x00]);
    let mut udp6 = p.ns_frame(v6(V6));
    udp6[14 + 6] = 17;
    // A request tagged for VLAN 10 belongs to a VLAN interface, not to the veth: unanswered
    // (the veth moves the tag into metadata, so only the filter's tag check keeps it out).
    let vlan = Some(Vlan {
        pcp: 0,
        dei: false,
        vid: 10,
    });
    let tagged = ArpPacket {
        op: ArpOp::Request,
        sender_mac: p.mac,
        sender_ip: p.ip4,
        target_mac: MacAddr::ZERO,
        target_ip: v4(V4),
    }
    .to_frame(MacAddr::BROADCAST, vlan);
    for _ in 0..100 {
        p.send(&ipv4);
        p.send(&udp6);
        p.send(&tagged);
    }
    let heard = std::thread::scope(|scope| {
        let collector = scope.spawn(|| p.collect(Duration::from_secs(3)));
        for i in 0..2000 {
            p.send(&frames[i % frames.len()].1);
            if i % 20 == 19 {
                std::thread::sleep(Duration::from_millis(2)); // paced: counted, not lost to a full queue
            }
        }
        collector.join().unwrap()
    });
    let answers: Vec<&Heard> = heard
        .iter()
        .filter(|h| {
            h.is_arp_reply(v4(V4), p.mac)
                || h.is_solicited_na(v6(V6))
                || h.is_arp_reply(v4(V4_NOT_OWNED), p.mac)
                || h.is_solicited_na(v6(V6_NOT_OWNED))
        })
        .collect();
    assert!(
        answers.is_empty(),
        "{} answers to bad frames, the first: {:?}",
        answers.len(),
        answers.first()
    );
    let after = s.responder.responder.counters();
    assert_eq!(after.answered, before.answered, "{after:?}");
    let grew = |l: &str| after.ignored[l] - before.ignored[l];
    assert_eq!(
        grew("not_arp_or_ipv6"),
        0,
        "the filter let IPv4 through: {after:?}"
    );
    assert_eq!(
        grew("not_icmpv6"),
        0,
        "the filter let IPv6/UDP through: {after:?}"
    );
    for label in [
        "short",
        "bad_arp_header",
        "bad_checksum",
        "bad_option",
        "not_owned",
    ] {
        assert!(grew(label) > 0, "{label} did not grow: {after:?}");
    }
    let total: u64 = frames
        .iter()
        .map(|(l, _)| *l)
        .collect::<BTreeSet<_>>()
        .iter()
        .map(|l| grew(l))
        .sum();
    assert!(
        total >= 1900,
        "only {total} of 2000 frames counted: {after:?}"
    );

    // Still answering.
    p.arp_request(v4(V4));
    p.ns(v6(V6));
    let heard = p.collect(Duration::from_millis(800));
    let mac = parse_mac(&s.node_mac);
    assert!(
        heard
            .iter()
            .any(|h| h.is_arp_reply(v4(V4), p.mac) && h.src == mac),
        "no ARP reply after the flood"
    );
    assert!(
        heard
            .iter()
            .any(|h| h.is_solicited_na(v6(V6)) && h.src == mac),
        "no NA after the flood"
    );
}

#[test]
fn an_interface_not_selected_gets_no_answer_and_an_unknown_one_is_unresolved() {
    let s = setup();
    let ns = &s.node_ns;
    // A second Ethernet interface of the node (a veth pair inside it; no dummy module here).
    common::sh(&[
        "ip", "-n", ns, "link", "add", "flbd0", "type", "veth", "peer", "name", "flbd1",
    ]);
    for dev in ["flbd0", "flbd1"] {
        common::sh(&["ip", "-n", ns, "link", "set", dev, "up"]);
    }
    s.responder.set(owned(&[
        ("flbd0", &[V4, V6]),
        ("nosuch0", &["192.0.2.102"]),
    ]));
    let a = s.responder.responder.subscribe().borrow().clone();
    let ip: IpAddr = V4.parse().unwrap();
    assert_eq!(
        a.addresses.get(&ip),
        Some(&BTreeSet::from(["flbd0".to_string()])),
        "{a:?}"
    );
    assert_eq!(
        a.unresolved
            .get(&"192.0.2.102".parse::<IpAddr>().unwrap())
            .map(String::as_str),
        Some("interface nosuch0: no such interface"),
        "{a:?}"
    );
    let r = &s.lab.router_ns;
    assert_eq!(arping(&s.lab, r, "br0", V4), Vec::<String>::new());
    assert_eq!(ndisc6(&s.lab, r, "br0", V6), Vec::<String>::new());
}

#[test]
fn an_interface_that_disappears_is_reported_unresolved() {
    let s = setup();
    let ns = &s.node_ns;
    common::sh(&[
        "ip", "-n", ns, "link", "add", "flbd0", "type", "veth", "peer", "name", "flbd1",
    ]);
    for dev in ["flbd0", "flbd1"] {
        common::sh(&["ip", "-n", ns, "link", "set", dev, "up"]);
    }
    s.responder.set(owned(&[("flbd0", &[V4])]));
    let ip: IpAddr = V4.parse().unwrap();
    let rx = s.responder.responder.subscribe();
    assert!(
        rx.borrow().addresses.contains_key(&ip),
        "{:?}",
        *rx.borrow()
    );
    common::sh(&["ip", "-n", ns, "link", "del", "flbd0"]);
    // The socket fails with ENETDOWN, which re-resolves at once (well before RESOLVE_INTERVAL).
    let gone = common::wait_for("flbd0 reported unresolved", Duration::from_secs(2), || {
        let a = rx.borrow();
        a.addresses.is_empty()
            && a.unresolved.get(&ip).map(String::as_str)
                == Some("interface flbd0: no such interface")
    });
    assert!(gone.is_ok(), "{gone:?}: {:?}", *rx.borrow());
}
