//! Validation of one `[[bgp.peers]]` entry, and the small value parsers (address ranges,
//! communities) the other sections share.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;

use super::raw::{RawPeer, S};
use super::validate::Problems;
use super::{is_link_local, AddressRange, Community, PeerConfig};
use crate::packet::message::Family;

fn num(v: Option<&S<i64>>, field: String, lo: i64, hi: i64, default: i64, p: &mut Problems) -> i64 {
    match v {
        None => default,
        Some(s) if (lo..=hi).contains(s.get_ref()) => *s.get_ref(),
        Some(s) => {
            p.0.push((
                s.span().start,
                format!("{field}: {} is out of range {lo}..={hi}", s.get_ref()),
            ));
            default
        }
    }
}

/// Validates one peer; None when it is unusable (the problems say why).
pub fn peer(raw: &S<RawPeer>, i: usize, local_asn: u32, p: &mut Problems) -> Option<PeerConfig> {
    let r = raw.get_ref();
    let f = |name: &str| format!("bgp.peers[{i}].{name}");
    let Some(addr_s) = r.address.as_ref() else {
        p.0.push((
            raw.span().start,
            format!("bgp.peers[{i}].address is required"),
        ));
        return None;
    };
    let Ok(address) = addr_s.get_ref().trim().parse::<IpAddr>() else {
        p.0.push((
            addr_s.span().start,
            format!(
                "{}: `{}` is not an IP address",
                f("address"),
                addr_s.get_ref()
            ),
        ));
        return None;
    };
    let asn = match &r.asn {
        None => {
            p.0.push((raw.span().start, format!("{} is required", f("asn"))));
            0
        }
        Some(s) if *s.get_ref() == 0 => {
            p.0.push((
                s.span().start,
                format!(
                    "{}: AS number 0 is reserved (RFC 7607); use 1..=4294967295",
                    f("asn")
                ),
            ));
            0
        }
        Some(s) => num(Some(s), f("asn"), 1, u32::MAX.into(), 0, p) as u32,
    };
    let hold_time = match &r.hold_time {
        Some(s) if matches!(s.get_ref(), 1 | 2) => {
            p.0.push((
                s.span().start,
                format!(
                    "{}: {} is not allowed; use 0 (no keepalives) or 3..=65535 seconds (RFC 4271)",
                    f("hold_time"),
                    s.get_ref()
                ),
            ));
            90
        }
        other => num(other.as_ref(), f("hold_time"), 0, 65535, 90, p) as u16,
    };
    // A keepalive longer than a third of the hold time is clamped by the session to hold/3.
    let keepalive_time = num(
        r.keepalive_time.as_ref(),
        f("keepalive_time"),
        0,
        65535,
        30,
        p,
    ) as u16;
    let source_address =
        r.source_address
            .as_ref()
            .and_then(|s| match s.get_ref().trim().parse::<IpAddr>() {
                Ok(a) if a.is_ipv4() == address.is_ipv4() => Some(a),
                Ok(a) => {
                    p.0.push((
                        s.span().start,
                        format!(
                            "{}: {a} is not of the same family as the peer address {address}",
                            f("source_address")
                        ),
                    ));
                    None
                }
                Err(_) => {
                    p.0.push((
                        s.span().start,
                        format!(
                            "{}: `{}` is not an IP address",
                            f("source_address"),
                            s.get_ref()
                        ),
                    ));
                    None
                }
            });
    let mut families = BTreeSet::new();
    for fam in r.families.iter().flatten() {
        match fam.get_ref().as_str() {
            "ipv4" => drop(families.insert(Family::Ipv4Unicast)),
            "ipv6" => drop(families.insert(Family::Ipv6Unicast)),
            other => p.0.push((
                fam.span().start,
                format!("{}: `{other}` is not \"ipv4\" or \"ipv6\"", f("families")),
            )),
        }
    }
    if r.families.is_none() {
        families = [Family::Ipv4Unicast, Family::Ipv6Unicast].into();
    }
    let _ = local_asn;
    let next_hop = |v: Option<&S<String>>, field: &str, v6: bool, p: &mut Problems| {
        let s = v?;
        match s.get_ref().trim().parse::<IpAddr>() {
            Ok(a)
                if a.is_ipv6() == v6
                    && !a.is_unspecified()
                    && !a.is_multicast()
                    && !is_link_local(&a) =>
            {
                Some(a)
            }
            _ => {
                let want = if v6 {
                    "a global IPv6 address"
                } else {
                    "an IPv4 address"
                };
                p.0.push((
                    s.span().start,
                    format!("{}: `{}` is not {want}", f(field), s.get_ref()),
                ));
                None
            }
        }
    };
    let next_hop_v4 = next_hop(r.next_hop.as_ref(), "next_hop", false, p);
    let next_hop_v6 = next_hop(r.next_hop_v6.as_ref(), "next_hop_v6", true, p);
    Some(PeerConfig {
        name: r
            .name
            .as_ref()
            .map_or_else(|| address.to_string(), |n| n.get_ref().clone()),
        address,
        asn,
        port: num(r.port.as_ref(), f("port"), 1, 65535, 179, p) as u16,
        hold_time,
        keepalive_time,
        connect_retry: num(r.connect_retry.as_ref(), f("connect_retry"), 1, 65535, 5, p) as u32,
        source_address,
        password: r.password.clone().filter(|s| !s.is_empty()),
        ebgp_multihop: r
            .ebgp_multihop
            .as_ref()
            .map(|s| num(Some(s), f("ebgp_multihop"), 1, 255, 1, p) as u8),
        ttl_security: r.ttl_security.unwrap_or(false),
        passive: r.passive.unwrap_or(false),
        families,
        bfd: r.bfd.unwrap_or(false),
        extended_messages: r.extended_messages.unwrap_or(true),
        next_hop: next_hop_v4,
        next_hop_v6,
    })
}

/// Parses `198.51.100.0/24`, `203.0.113.10-203.0.113.20` or a single address.
pub fn address_range(text: &str) -> Option<AddressRange> {
    let text = text.trim();
    if let Some((a, b)) = text.split_once('-') {
        let (a, b): (IpAddr, IpAddr) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
        let ok = a.is_ipv4() == b.is_ipv4() && a <= b;
        return ok.then_some(AddressRange { start: a, end: b });
    }
    if let Ok(net) = text.parse::<IpNet>() {
        return Some(AddressRange {
            start: net.network(),
            end: net.broadcast(),
        });
    }
    let a: IpAddr = text.parse().ok()?;
    Some(AddressRange { start: a, end: a })
}

/// Parses a community: `65000:100`, `large:64500:1:2`, or a well-known name (RFC 1997, 8326, 7999).
pub fn community(text: &str) -> Option<Community> {
    let well_known = match text {
        "no-export" => Some(0xFFFF_FF01),
        "no-advertise" => Some(0xFFFF_FF02),
        "no-export-subconfed" | "local-as" => Some(0xFFFF_FF03),
        "no-peer" => Some(0xFFFF_FF04),
        "graceful-shutdown" => Some(0xFFFF_0000),
        "blackhole" => Some(0xFFFF_029A),
        _ => None,
    };
    if let Some(v) = well_known {
        return Some(Community::Standard(v));
    }
    if let Some(rest) = text.strip_prefix("large:") {
        let mut parts = rest.split(':').map(|x| x.parse::<u32>().ok());
        let (a, b, c) = (parts.next()??, parts.next()??, parts.next()??);
        return parts.next().is_none().then_some(Community::Large(a, b, c));
    }
    let (a, b) = text.split_once(':')?;
    let (a, b) = (a.parse::<u16>().ok()?, b.parse::<u16>().ok()?);
    Some(Community::Standard((u32::from(a) << 16) | u32::from(b)))
}
