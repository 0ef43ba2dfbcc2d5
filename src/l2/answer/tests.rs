use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn iface(name: &str, up: bool, loopback: bool, nets: &[&str]) -> InterfaceInfo {
    InterfaceInfo {
        name: name.into(),
        index: 2,
        mac: MacAddr([2, 0, 0, 0, 0, 1]),
        up,
        loopback,
        ethernet: !loopback,
        nets: nets.iter().map(|n| n.parse().unwrap()).collect(),
    }
}

fn owned(entries: &[(&str, &[&str])]) -> L2Owned {
    entries
        .iter()
        .map(|(i, a)| (i.to_string(), a.iter().map(|s| ip(s)).collect()))
        .collect()
}

fn host() -> Vec<InterfaceInfo> {
    vec![
        iface("lo", true, true, &["127.0.0.0/8", "::1/128"]),
        iface("eth0", true, false, &["192.0.2.0/24", "2001:db8::/64"]),
        iface("eth1", true, false, &["198.51.100.0/24"]),
        iface("eth2", false, false, &["192.0.2.0/24"]),
    ]
}

#[test]
fn any_interface_picks_every_up_non_loopback_interface_whose_subnet_holds_the_address() {
    let r = resolve(
        &owned(&[("*", &["192.0.2.100", "2001:db8::100", "127.0.0.2"])]),
        &host(),
    );
    let want: BTreeSet<IpAddr> = [ip("192.0.2.100"), ip("2001:db8::100")].into();
    assert_eq!(r.links, BTreeMap::from([("eth0".to_string(), want)]));
    assert_eq!(
        r.unresolved,
        BTreeMap::from([(
            ip("127.0.0.2"),
            "no interface whose subnet holds 127.0.0.2".to_string()
        )])
    );
}

#[test]
fn a_named_interface_is_used_without_a_subnet_match() {
    let r = resolve(&owned(&[("eth1", &["192.0.2.100"])]), &host());
    assert_eq!(r.links["eth1"], [ip("192.0.2.100")].into());
    assert!(r.unresolved.is_empty());
}

#[test]
fn an_unknown_or_down_named_interface_is_unresolved_with_the_reason() {
    let r = resolve(
        &owned(&[("eth9", &["192.0.2.100"]), ("eth2", &["192.0.2.101"])]),
        &host(),
    );
    assert!(r.links.is_empty());
    assert_eq!(
        r.unresolved[&ip("192.0.2.100")],
        "interface eth9: no such interface"
    );
    assert_eq!(r.unresolved[&ip("192.0.2.101")], "interface eth2: down");
}

#[test]
fn lookup_answers_only_on_the_interface_that_owns_the_address() {
    let active = owned(&[("eth0", &["192.0.2.100"])]);
    assert_eq!(lookup(&active, "eth0", ip("192.0.2.100")), Lookup::Answer);
    assert_eq!(lookup(&active, "eth1", ip("192.0.2.100")), Lookup::Foreign);
    assert_eq!(lookup(&active, "eth0", ip("192.0.2.101")), Lookup::NotOwned);
    assert_eq!(Lookup::Foreign.label(), Some("foreign"));
    assert_eq!(Lookup::NotOwned.label(), Some("not_owned"));
    assert_eq!(Lookup::Answer.label(), None);
}

#[test]
fn groups_are_the_solicited_node_macs_of_the_ipv6_addresses_shared_when_low_bits_match() {
    let addrs: BTreeSet<IpAddr> = [
        ip("192.0.2.100"),
        ip("2001:db8::100"),
        ip("2001:db8:1::100"),
        ip("2001:db8::1:2:3"),
    ]
    .into();
    let want: BTreeSet<MacAddr> = [
        MacAddr([0x33, 0x33, 0xff, 0x00, 0x01, 0x00]),
        MacAddr([0x33, 0x33, 0xff, 0x02, 0x00, 0x03]),
    ]
    .into();
    assert_eq!(groups(&addrs), want);
}

#[test]
fn the_schedule_repeats_three_times_spaced_more_than_the_arp_locktime() {
    let mut s = Schedule::default();
    let a = ip("192.0.2.100");
    s.announced("eth0", a, Duration::ZERO);
    assert!(GRATUITOUS_SPACING > Duration::from_secs(1));
    let mut sent = Vec::new();
    let mut now = Duration::ZERO;
    while let Some(at) = s.next() {
        assert!(s.due(at - Duration::from_millis(1)).is_empty());
        now = at;
        assert_eq!(s.due(now), vec![("eth0".to_string(), a)]);
        sent.push(now);
    }
    assert_eq!(sent.len() as u32, GRATUITOUS_REPEATS);
    assert_eq!(now, GRATUITOUS_SPACING * GRATUITOUS_REPEATS);
}

#[test]
fn cancelling_an_address_drops_its_pending_repeats_only() {
    let mut s = Schedule::default();
    s.announced("eth0", ip("192.0.2.100"), Duration::ZERO);
    s.announced("eth0", ip("192.0.2.101"), Duration::ZERO);
    s.cancel("eth0", ip("192.0.2.100"));
    assert_eq!(
        s.due(GRATUITOUS_SPACING),
        vec![("eth0".to_string(), ip("192.0.2.101"))]
    );
}
