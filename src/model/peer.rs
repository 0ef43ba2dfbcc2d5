//! A BGP peer: what a front end read ([`PeerInput`]), the rules it must satisfy ([`validate`]),
//! and the session parameters the speaker runs ([`PeerSpec`]), with the node's own identity
//! ([`LocalSpec`]).
//!
//! The rules, the same for `[[bgp.peers]]` and a BGPPeer: an IP address; a peer ASN other than
//! 0 (RFC 7607); a local ASN (BGPPeer `myASN`) and a router ID (`routerID`), when given, equal
//! to the node's, since one speaker has one ASN and one BGP identifier; a hold time of 0 or
//! 3..=65535 s (RFC 4271 §4.2) and a keepalive shorter than it (default: a third of it); a
//! source address of the peer's family; next hops that are global unicast addresses of their
//! family.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use super::bfd::{self, BfdProfile, BfdProfiles};
use super::field::{ranged, FieldError};
use super::values::is_link_local;
use crate::packet::message::Family;

/// The node's side of every session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSpec {
    pub asn: u32,
    pub router_id: Ipv4Addr,
    /// The node's own addresses: next hops of last resort, never service addresses.
    pub addresses: Vec<IpAddr>,
    /// Graceful restart time we offer (RFC 4724), seconds; 0 = not offered.
    pub graceful_restart_time: u16,
}

/// One validated peer: everything a session needs besides [`LocalSpec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSpec {
    pub name: String,
    pub address: IpAddr,
    pub asn: u32,
    pub port: u16,
    /// Seconds; 0 or >= 3.
    pub hold_time: u16,
    pub keepalive_time: u16,
    /// Seconds between connection attempts.
    pub connect_retry: u32,
    pub source_address: Option<IpAddr>,
    /// TCP MD5 (RFC 2385).
    pub password: Option<String>,
    pub ebgp_multihop: Option<u8>,
    pub ttl_security: bool,
    pub passive: bool,
    pub families: BTreeSet<Family>,
    /// The BFD profile of this peer's BFD session; `None`: no BFD.
    pub bfd: Option<BfdProfile>,
    /// Offer extended messages (RFC 8654).
    pub extended_messages: bool,
    /// IPv4 next hop to announce instead of the default (session address or node address).
    pub next_hop: Option<IpAddr>,
    /// IPv6 next hop to announce instead of the default; must be a global address.
    pub next_hop_v6: Option<IpAddr>,
    /// Prefixes accepted from the peer; one more resets the session (Cease 6/1). 0 = no limit.
    pub max_prefixes: u32,
    /// Bytes that may wait to be sent to the peer on top of the whole-table dump; a peer that
    /// stops reading until more would be queued gets its connection reset.
    pub send_queue_limit: usize,
}

/// The default `send_queue_limit`: 64 MiB beyond the table dump.
pub const DEFAULT_SEND_QUEUE_LIMIT: usize = 64 << 20;
/// The smallest `send_queue_limit`: one message of the largest size (RFC 8654) must fit.
pub const MIN_SEND_QUEUE_LIMIT: usize = 65536;

impl PeerSpec {
    /// True when the peer is in our own AS.
    pub fn is_ibgp(&self, local: &LocalSpec) -> bool {
        self.asn == local.asn
    }
}

/// A peer as a front end read it: raw values, `None` where the input left a field out.
/// Durations are in seconds (a front end parses its own duration syntax first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerInput {
    pub name: Option<String>,
    pub address: Option<String>,
    pub asn: Option<i64>,
    /// The local ASN the input asks for (BGPPeer `myASN`); TOML peers take the node's.
    pub local_asn: Option<i64>,
    /// The BGP identifier the input asks for (BGPPeer `routerID`).
    pub router_id: Option<String>,
    pub port: Option<i64>,
    pub hold_time: Option<i64>,
    pub keepalive_time: Option<i64>,
    pub connect_retry: Option<i64>,
    pub source_address: Option<String>,
    pub password: Option<String>,
    pub ebgp_multihop: Option<i64>,
    pub ttl_security: Option<bool>,
    pub passive: Option<bool>,
    /// `"ipv4"`, `"ipv6"`; `None` = both.
    pub families: Option<Vec<String>>,
    pub bfd: Option<bool>,
    /// A BFD profile by name; implies `bfd`.
    pub bfd_profile: Option<String>,
    pub extended_messages: Option<bool>,
    pub next_hop: Option<String>,
    pub next_hop_v6: Option<String>,
    /// TOML only (a BGPPeer has no such field): 0 or absent = no limit.
    pub max_prefixes: Option<i64>,
    /// TOML only: bytes; absent = [`DEFAULT_SEND_QUEUE_LIMIT`].
    pub send_queue_limit: Option<i64>,
}

/// Checks one peer against the node it runs on (`None`: the node is not known, as in an
/// offline manifest check, and the rules relative to it are skipped) and the BFD profiles its
/// `bfd_profile` may name. Every problem is returned; the spec is `None` only when the peer
/// cannot run at all.
pub fn validate(
    input: &PeerInput,
    node: Option<&LocalSpec>,
    profiles: &BfdProfiles,
) -> (Option<PeerSpec>, Vec<FieldError>) {
    let mut e = Vec::new();
    let address = match input.address.as_deref().map(str::trim) {
        None => {
            e.push(FieldError::new("address", "is required"));
            None
        }
        Some(text) => parse_ip(text, "address", &mut e),
    };
    let asn = match input.asn {
        None => {
            e.push(FieldError::new("asn", "is required"));
            None
        }
        Some(0) => {
            e.push(FieldError::new(
                "asn",
                "AS number 0 is reserved (RFC 7607); use 1..=4294967295",
            ));
            None
        }
        v => ranged(v, "asn", 1, u32::MAX.into(), &mut e),
    };
    local_identity(input, node, &mut e);
    let hold_time = hold_time(input.hold_time, &mut e);
    let keepalive_time = keepalive(input.keepalive_time, hold_time, &mut e);
    let source_address = input
        .source_address
        .as_deref()
        .and_then(|s| parse_ip(s.trim(), "source_address", &mut e))
        .filter(|a| match address {
            Some(peer) if a.is_ipv4() != peer.is_ipv4() => {
                e.push(FieldError::new(
                    "source_address",
                    format!("{a} is not of the same family as the peer address {peer}"),
                ));
                false
            }
            _ => true,
        });
    let families = families(input.families.as_deref(), &mut e);
    let next_hop = parse_next_hop(input.next_hop.as_deref(), "next_hop", false, &mut e);
    let next_hop_v6 = parse_next_hop(input.next_hop_v6.as_deref(), "next_hop_v6", true, &mut e);
    let port = ranged(input.port, "port", 1, 65535, &mut e).unwrap_or(179) as u16;
    let connect_retry =
        ranged(input.connect_retry, "connect_retry", 1, 65535, &mut e).unwrap_or(5) as u32;
    let ebgp_multihop =
        ranged(input.ebgp_multihop, "ebgp_multihop", 1, 255, &mut e).map(|v| v as u8);
    let bfd =
        bfd::for_peer(input.bfd, input.bfd_profile.as_deref(), profiles).unwrap_or_else(|err| {
            e.push(err);
            None
        });
    if let Some(len) = input.password.as_ref().map(String::len).filter(|l| *l > 80) {
        e.push(FieldError::new(
            "password",
            format!("is {len} bytes; a TCP MD5 key (RFC 2385) is at most 80 bytes on Linux"),
        ));
    }
    let ceiling = crate::fsm::RECEIVED_CEILING as i64;
    let max_prefixes = ranged(input.max_prefixes, "max_prefixes", 0, ceiling, &mut e).unwrap_or(0);
    let send_queue_limit = ranged(
        input.send_queue_limit,
        "send_queue_limit",
        MIN_SEND_QUEUE_LIMIT as i64,
        i64::MAX,
        &mut e,
    )
    .map_or(DEFAULT_SEND_QUEUE_LIMIT, |v| v as usize);
    let (Some(address), Some(asn)) = (address, asn) else {
        return (None, e);
    };
    let spec = PeerSpec {
        name: input.name.clone().unwrap_or_else(|| address.to_string()),
        address,
        asn: asn as u32,
        port,
        hold_time,
        keepalive_time,
        connect_retry,
        source_address,
        password: input.password.clone().filter(|s| !s.is_empty()),
        ebgp_multihop,
        ttl_security: input.ttl_security.unwrap_or(false),
        passive: input.passive.unwrap_or(false),
        families,
        bfd,
        extended_messages: input.extended_messages.unwrap_or(true),
        next_hop,
        next_hop_v6,
        max_prefixes: max_prefixes as u32,
        send_queue_limit,
    };
    (Some(spec), e)
}

/// `myASN` and `routerID` must be the node's: one speaker, one ASN, one BGP identifier.
fn local_identity(input: &PeerInput, node: Option<&LocalSpec>, e: &mut Vec<FieldError>) {
    match input.local_asn {
        Some(0) => e.push(FieldError::new(
            "local_asn",
            "AS number 0 is reserved (RFC 7607)",
        )),
        Some(v) => {
            if let Some(n) = node.filter(|n| i64::from(n.asn) != v) {
                e.push(FieldError::new(
                    "local_asn",
                    format!(
                        "{v} differs from this node's ASN {} ([node] asn); one local ASN per node",
                        n.asn
                    ),
                ));
            }
        }
        None => {}
    }
    let Some(text) = input.router_id.as_deref() else {
        return;
    };
    match text.trim().parse::<Ipv4Addr>() {
        Err(_) => e.push(FieldError::new(
            "router_id",
            format!("`{text}` is not an IPv4 address"),
        )),
        Ok(id) => {
            if let Some(n) = node.filter(|n| n.router_id != id) {
                e.push(FieldError::new(
                    "router_id",
                    format!("{id} differs from this node's router ID {} ([node] router_id); one BGP identifier per node", n.router_id),
                ));
            }
        }
    }
}

fn parse_ip(text: &str, field: &'static str, e: &mut Vec<FieldError>) -> Option<IpAddr> {
    match text.parse() {
        Ok(a) => Some(a),
        Err(_) => {
            e.push(FieldError::new(
                field,
                format!("`{text}` is not an IP address"),
            ));
            None
        }
    }
}

fn hold_time(v: Option<i64>, e: &mut Vec<FieldError>) -> u16 {
    match v {
        Some(v @ (1 | 2)) => {
            e.push(FieldError::new(
                "hold_time",
                format!(
                    "{v} s is not allowed; use 0 (no keepalives) or 3..=65535 seconds (RFC 4271)"
                ),
            ));
            90
        }
        v => ranged(v, "hold_time", 0, 65535, e).unwrap_or(90) as u16,
    }
}

/// The keepalive must be shorter than the hold time (when there is one); by default a third.
fn keepalive(v: Option<i64>, hold: u16, e: &mut Vec<FieldError>) -> u16 {
    let default = hold / 3;
    match ranged(v, "keepalive_time", 0, 65535, e) {
        None => default,
        Some(k) if hold > 0 && k >= i64::from(hold) => {
            e.push(FieldError::new(
                "keepalive_time",
                format!("{k} s must be shorter than the hold time ({hold} s)"),
            ));
            default
        }
        Some(k) => k as u16,
    }
}

fn families(list: Option<&[String]>, e: &mut Vec<FieldError>) -> BTreeSet<Family> {
    let Some(list) = list else {
        return [Family::Ipv4Unicast, Family::Ipv6Unicast].into();
    };
    let mut out = BTreeSet::new();
    for (i, f) in list.iter().enumerate() {
        match f.as_str() {
            "ipv4" => drop(out.insert(Family::Ipv4Unicast)),
            "ipv6" => drop(out.insert(Family::Ipv6Unicast)),
            other => e.push(FieldError::at(
                "families",
                i,
                format!("`{other}` is not \"ipv4\" or \"ipv6\""),
            )),
        }
    }
    out
}

fn parse_next_hop(
    v: Option<&str>,
    field: &'static str,
    v6: bool,
    e: &mut Vec<FieldError>,
) -> Option<IpAddr> {
    let text = v?.trim();
    match text.parse::<IpAddr>() {
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
            e.push(FieldError::new(field, format!("`{text}` is not {want}")));
            None
        }
    }
}

/// Refuses a second peer with the address or the name of an earlier one: (index of the
/// refused peer, why). The refused ones are taken out of `peers`.
pub fn dedupe(peers: &mut Vec<(usize, PeerSpec)>) -> Vec<(usize, FieldError)> {
    let mut seen_addr: Vec<(IpAddr, String)> = Vec::new();
    let mut seen_name: BTreeSet<String> = BTreeSet::new();
    let mut refused = Vec::new();
    peers.retain(|(i, p)| {
        if let Some((_, first)) = seen_addr.iter().find(|(a, _)| *a == p.address) {
            refused.push((*i, FieldError::new("address", format!("{} is already the address of peer `{first}`; each peer needs its own address", p.address))));
            return false;
        }
        if !seen_name.insert(p.name.clone()) {
            refused.push((*i, FieldError::new("name", format!("`{}` is used by another peer", p.name))));
            return false;
        }
        seen_addr.push((p.address, p.name.clone()));
        true
    });
    refused
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With no BFD profiles defined.
    fn validate(
        input: &PeerInput,
        node: Option<&LocalSpec>,
    ) -> (Option<PeerSpec>, Vec<FieldError>) {
        super::validate(input, node, &BfdProfiles::new())
    }

    fn node() -> LocalSpec {
        LocalSpec {
            asn: 64512,
            router_id: "192.0.2.10".parse().expect("id"),
            addresses: Vec::new(),
            graceful_restart_time: 120,
        }
    }

    fn input() -> PeerInput {
        PeerInput {
            address: Some("192.0.2.1".into()),
            asn: Some(64500),
            ..PeerInput::default()
        }
    }

    fn fields(errors: &[FieldError]) -> Vec<&'static str> {
        errors.iter().map(|e| e.field).collect()
    }

    #[test]
    fn defaults_are_those_of_node_toml_and_metallb() {
        let (spec, e) = validate(&input(), Some(&node()));
        let spec = spec.expect("valid");
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(
            (
                spec.hold_time,
                spec.keepalive_time,
                spec.port,
                spec.connect_retry
            ),
            (90, 30, 179, 5)
        );
        assert_eq!(spec.name, "192.0.2.1");
        assert_eq!(spec.families.len(), 2);
        assert!(spec.extended_messages);
    }

    #[test]
    fn a_local_asn_or_router_id_other_than_the_nodes_is_refused() {
        let wrong = PeerInput {
            local_asn: Some(64999),
            router_id: Some("192.0.2.99".into()),
            ..input()
        };
        let (_, e) = validate(&wrong, Some(&node()));
        assert_eq!(fields(&e), ["local_asn", "router_id"]);
        assert!(e[0].message.contains("64999") && e[1].message.contains("192.0.2.99"));
        let (_, offline) = validate(&wrong, None);
        assert!(
            offline.is_empty(),
            "without a node only the form is checked: {offline:?}"
        );
        let bad = PeerInput {
            router_id: Some("2001:db8::1".into()),
            ..input()
        };
        assert_eq!(fields(&validate(&bad, None).1), ["router_id"]);
    }

    #[test]
    fn hold_times_of_1_and_2_and_a_keepalive_not_below_the_hold_time_are_refused() {
        for hold in [1, 2] {
            let (_, e) = validate(
                &PeerInput {
                    hold_time: Some(hold),
                    ..input()
                },
                None,
            );
            assert_eq!(fields(&e), ["hold_time"]);
        }
        let (spec, e) = validate(
            &PeerInput {
                hold_time: Some(9),
                keepalive_time: Some(9),
                ..input()
            },
            None,
        );
        assert_eq!(fields(&e), ["keepalive_time"]);
        assert_eq!(spec.map(|s| s.keepalive_time), Some(3));
        let (spec, e) = validate(
            &PeerInput {
                hold_time: Some(0),
                keepalive_time: Some(30),
                ..input()
            },
            None,
        );
        assert!(e.is_empty() && spec.is_some_and(|s| s.keepalive_time == 30));
    }

    #[test]
    fn a_peer_without_address_or_asn_cannot_run_and_says_both() {
        let (spec, e) = validate(&PeerInput::default(), None);
        assert!(spec.is_none());
        assert_eq!(fields(&e), ["address", "asn"]);
        let (spec, e) = validate(
            &PeerInput {
                asn: Some(0),
                ..input()
            },
            None,
        );
        assert!(spec.is_none() && e[0].message.contains("RFC 7607"));
    }

    #[test]
    fn next_hops_must_be_global_and_of_their_family() {
        let bad = PeerInput {
            next_hop: Some("2001:db8::1".into()),
            next_hop_v6: Some("fe80::1".into()),
            source_address: Some("2001:db8::2".into()),
            families: Some(vec!["ipv4".into(), "vpnv4".into()]),
            ..input()
        };
        let (_, e) = validate(&bad, None);
        assert_eq!(
            fields(&e),
            ["source_address", "families", "next_hop", "next_hop_v6"]
        );
        assert_eq!(e[1].index, Some(1));
    }

    #[test]
    fn a_password_longer_than_the_kernels_80_byte_md5_key_is_refused() {
        let ok = PeerInput {
            password: Some("x".repeat(80)),
            ..input()
        };
        assert!(validate(&ok, Some(&node())).1.is_empty());
        let long = PeerInput {
            password: Some("x".repeat(81)),
            ..input()
        };
        let errors = validate(&long, Some(&node())).1;
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, "password");
    }

    #[test]
    fn a_second_peer_with_an_address_or_name_taken_is_refused() {
        let spec = |name: &str, addr: &str| {
            let i = PeerInput {
                name: Some(name.into()),
                address: Some(addr.into()),
                ..input()
            };
            validate(&i, None).0.expect("valid")
        };
        let mut list = vec![
            (0, spec("a", "192.0.2.1")),
            (1, spec("b", "192.0.2.1")),
            (2, spec("a", "192.0.2.3")),
        ];
        let refused = dedupe(&mut list);
        assert_eq!(list.len(), 1);
        assert_eq!(
            refused
                .iter()
                .map(|(i, e)| (*i, e.field))
                .collect::<Vec<_>>(),
            [(1, "address"), (2, "name")]
        );
        assert!(refused[0].1.message.contains("peer `a`"));
    }
}
