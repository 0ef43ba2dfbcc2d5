//! Byte-vector tests of our encoder's output: UPDATE packing is full and within the negotiated
//! size (4096, or 65535 with extended messages), and what we send decodes the same in zettabgp
//! and in a second, independent decoder (bgp-rs).

use std::net::{IpAddr, Ipv4Addr};

use bytes::BytesMut;
use ipnet::IpNet;
use zettabgp::prelude::{BgpMessage, BgpSessionParams, BgpTransportMode, BgpUpdateMessage};

use super::tests::{dec, dec4, ebgp_attrs, host_routes_v4, prefixes, update_of};
use super::*;
use crate::packet::message::{Capabilities, Open};

#[test]
fn packing_n_ipv4_host_routes_gives_ceil_n_over_810_messages_within_4096_bytes() {
    let p = CodecParams {
        four_octet_as: true,
        ..CodecParams::default()
    };
    for n in [1usize, 810, 811, 2000, 10_000] {
        let routes = host_routes_v4(n);
        let msgs = encode_announce(&routes, &ebgp_attrs("192.0.2.10"), &p).expect("encode");
        assert_eq!(msgs.len(), n.div_ceil(810), "n = {n}");
        assert!(msgs.iter().all(|m| m.len() <= 4096));
        let mut back = Vec::new();
        for m in &msgs {
            let u = update_of(dec4(m));
            let a = u.attributes.expect("attributes");
            assert_eq!(a.as_path, vec![64512]);
            assert_eq!(a.next_hop, Some("192.0.2.10".parse().expect("ip")));
            back.extend(u.announced);
        }
        assert_eq!(back, routes);
    }
}

#[test]
fn withdrawals_pack_814_ipv4_host_routes_per_message() {
    let routes = host_routes_v4(2000);
    let msgs = encode_withdraw(&routes, &CodecParams::default());
    assert_eq!(msgs.len(), 2000usize.div_ceil(814));
    assert!(msgs.iter().all(|m| m.len() <= 4096));
    let back: Vec<IpNet> = msgs
        .iter()
        .flat_map(|m| update_of(dec(m)).withdrawn)
        .collect();
    assert_eq!(back, routes);
}

#[test]
fn ipv6_host_routes_travel_in_mp_reach_and_mp_unreach() {
    let routes: Vec<IpNet> = (0..600u128)
        .map(|i| {
            let base = u128::from("2001:db8:100::".parse::<std::net::Ipv6Addr>().expect("v6"));
            IpNet::from(IpAddr::V6((base + i).into()))
        })
        .collect();
    let p = CodecParams {
        four_octet_as: true,
        ..CodecParams::default()
    };
    let msgs = encode_announce(&routes, &ebgp_attrs("2001:db8::2"), &p).expect("encode");
    assert_eq!(msgs.len(), 600usize.div_ceil(237));
    let mut back = Vec::new();
    for m in &msgs {
        assert!(m.len() <= 4096);
        let u = update_of(dec4(m));
        assert_eq!(
            u.attributes.and_then(|a| a.next_hop),
            Some("2001:db8::2".parse().expect("ip"))
        );
        back.extend(u.announced);
    }
    assert_eq!(back, routes);
    let w: Vec<IpNet> = encode_withdraw(&routes, &p)
        .iter()
        .flat_map(|m| update_of(dec4(m)).withdrawn)
        .collect();
    assert_eq!(w, routes);
}

#[test]
fn our_updates_decode_in_zettabgp_with_an_as_sequence() {
    let p = CodecParams {
        four_octet_as: true,
        ..CodecParams::default()
    };
    let routes = prefixes(&["198.51.100.10/32", "198.51.100.11/32"]);
    let msgs = encode_announce(&routes, &ebgp_attrs("192.0.2.10"), &p).expect("encode");
    let session = BgpSessionParams::new(
        64500,
        90,
        BgpTransportMode::IPv4,
        [192, 0, 2, 1].into(),
        vec![],
    );
    let mut session = session;
    session.fuzzy_pathid = false;
    let mut upd = BgpUpdateMessage::new();
    upd.decode_from(&session, &msgs[0][19..])
        .expect("zettabgp decodes our UPDATE");
    let path = upd.get_attr_aspath().expect("AS_PATH");
    assert!(matches!(
        path.value.first(),
        Some(zettabgp::prelude::BgpASitem::Seq(_))
    ));
    assert_eq!(
        format!("{:?}", upd.updates).matches("198.51.100.1").count(),
        2
    );
}

#[test]
fn the_same_update_encodes_2_octet_asns_with_as4_path_when_4_octet_as_is_off() {
    let attrs = PathAttributes {
        as_path: vec![4_200_000_000],
        ..ebgp_attrs("192.0.2.10")
    };
    let msgs = encode_announce(
        &prefixes(&["198.51.100.1/32"]),
        &attrs,
        &CodecParams::default(),
    )
    .expect("encode");
    let u = update_of(dec(&msgs[0]));
    assert_eq!(u.attributes.expect("attrs").as_path, vec![23456]);
}

#[test]
fn end_of_rib_markers_decode_as_end_of_rib() {
    for f in [Family::Ipv4Unicast, Family::Ipv6Unicast] {
        let u = update_of(dec(&encode_end_of_rib(f)));
        assert_eq!(u.end_of_rib, Some(f));
    }
}

#[test]
fn a_next_hop_of_the_wrong_family_is_an_encode_error() {
    let r = encode_announce(
        &prefixes(&["198.51.100.1/32"]),
        &ebgp_attrs("2001:db8::1"),
        &CodecParams::default(),
    );
    assert!(matches!(r, Err(EncodeError::FamilyMismatch { .. })));
}

// ---- Extended messages (RFC 8654) and a second decoder (bgp-rs) ----

fn extended() -> CodecParams {
    CodecParams {
        four_octet_as: true,
        max_message_len: MAX_EXTENDED_MESSAGE_LEN,
        ibgp: false,
    }
}

fn host_routes_v6(n: usize) -> Vec<IpNet> {
    let base = u128::from("2001:db8:100::".parse::<std::net::Ipv6Addr>().expect("v6"));
    (0..n as u128)
        .map(|i| IpNet::from(IpAddr::V6((base + i).into())))
        .collect()
}

#[test]
fn extended_messages_pack_13098_ipv4_and_3851_ipv6_host_routes_per_update() {
    // Minimal eBGP attributes: ORIGIN 4 + AS_PATH 9 + NEXT_HOP 7 = 20 bytes; 19 header + 4
    // length fields; (65535 - 43) / 5 = 13098 IPv4 /32s. IPv6: MP_REACH adds 25 bytes of
    // overhead, (65535 - 19 - 4 - 13 - 25) / 17 = 3851 /128s.
    let p = extended();
    let v4 = host_routes_v4(30_000);
    let msgs = encode_announce(&v4, &ebgp_attrs("192.0.2.10"), &p).expect("encode");
    assert_eq!(msgs.len(), 30_000usize.div_ceil(13_098));
    assert!(msgs.iter().all(|m| m.len() <= 65_535));
    assert!(msgs[0].len() > 65_000, "the first message is full");
    let back: Vec<IpNet> = msgs
        .iter()
        .flat_map(|m| update_of(decode(&mut BytesMut::from(&m[..]), &p)).announced)
        .collect();
    assert_eq!(back, v4);

    let v6 = host_routes_v6(10_000);
    let msgs = encode_announce(&v6, &ebgp_attrs("2001:db8::2"), &p).expect("encode");
    assert_eq!(msgs.len(), 10_000usize.div_ceil(3851));
    assert!(msgs.iter().all(|m| m.len() <= 65_535));

    let w = encode_withdraw(&v4, &p);
    assert_eq!(w.len(), 30_000usize.div_ceil(13_102));
    assert!(w.iter().all(|m| m.len() <= 65_535));
}

#[test]
fn an_extended_update_is_refused_without_the_capability() {
    let msgs = encode_announce(
        &host_routes_v4(2000),
        &ebgp_attrs("192.0.2.10"),
        &extended(),
    )
    .expect("encode");
    assert_eq!(msgs.len(), 1);
    let mut buf = BytesMut::from(&msgs[0][..]);
    let e = decode(&mut buf, &CodecParams::default()).expect_err("too long");
    assert_eq!((e.code, e.subcode), (1, 2));
}

/// Decodes one UPDATE with bgp-rs, an independent implementation.
fn bgp_rs_update(bytes: &[u8]) -> bgp_rs::Update {
    let mut caps = bgp_rs::Capabilities {
        FOUR_OCTET_ASN_SUPPORT: true,
        ..Default::default()
    };
    caps.MP_BGP_SUPPORT
        .insert((bgp_rs::AFI::IPV6, bgp_rs::SAFI::Unicast));
    let mut reader = bgp_rs::Reader {
        stream: bytes,
        capabilities: &caps,
    };
    match reader.read().expect("bgp-rs decodes our message") {
        (_, bgp_rs::Message::Update(u)) => u,
        (_, other) => panic!("not an UPDATE: {other:?}"),
    }
}

fn bgp_rs_prefixes(nlri: &[bgp_rs::NLRIEncoding]) -> Vec<IpNet> {
    nlri.iter()
        .map(|n| match n {
            bgp_rs::NLRIEncoding::IP(p) => {
                IpNet::new(IpAddr::from(p), p.length).expect("valid prefix")
            }
            other => panic!("unexpected NLRI {other:?}"),
        })
        .collect()
}

#[test]
fn ipv6_updates_with_communities_decode_in_a_second_decoder() {
    use bgp_rs::PathAttribute as A;
    let attrs = PathAttributes {
        as_path: vec![64512],
        next_hop: Some("2001:db8::2".parse().expect("ip")),
        local_pref: Some(150),
        communities: vec![0xFDE8_0064, 0xFFFF_FF01],
        large_communities: vec![(64500, 1, 2)],
        ..PathAttributes::default()
    };
    let routes = host_routes_v6(300);
    let msgs = encode_announce(&routes, &attrs, &extended()).expect("encode");
    assert_eq!(msgs.len(), 1, "300 /128s fit one extended message");
    let u = bgp_rs_update(&msgs[0]);
    let mut seen = (false, false, false, false, false);
    for a in &u.attributes {
        match a {
            A::AS_PATH(p) => {
                seen.0 = true;
                assert_eq!(format!("{:?}", p.segments), "[AS_SEQUENCE([64512])]");
            }
            A::MP_REACH_NLRI(mp) => {
                seen.1 = true;
                assert_eq!(mp.afi, bgp_rs::AFI::IPV6);
                let nh: [u8; 16] = mp.next_hop.clone().try_into().expect("16-byte next hop");
                assert_eq!(
                    std::net::Ipv6Addr::from(nh),
                    "2001:db8::2".parse::<std::net::Ipv6Addr>().expect("ip")
                );
                assert_eq!(bgp_rs_prefixes(&mp.announced_routes), routes);
            }
            A::COMMUNITY(c) => {
                seen.2 = true;
                assert_eq!(c, &[0xFDE8_0064, 0xFFFF_FF01]);
            }
            A::LARGE_COMMUNITY(c) => {
                seen.3 = true;
                assert_eq!(c, &[(64500, 1, 2)]);
            }
            A::LOCAL_PREF(lp) => {
                seen.4 = true;
                assert_eq!(*lp, 150);
            }
            _ => {}
        }
    }
    assert_eq!(seen, (true, true, true, true, true), "{:?}", u.attributes);

    let w = encode_withdraw(&routes, &extended());
    let u = bgp_rs_update(&w[0]);
    let unreach = u.attributes.iter().find_map(|a| match a {
        A::MP_UNREACH_NLRI(m) => Some(bgp_rs_prefixes(&m.withdrawn_routes)),
        _ => None,
    });
    assert_eq!(unreach, Some(routes));
}

#[test]
fn ipv4_packing_decodes_in_a_second_decoder() {
    let routes = host_routes_v4(2000);
    let msgs = encode_announce(
        &routes,
        &ebgp_attrs("192.0.2.10"),
        &CodecParams {
            four_octet_as: true,
            ..CodecParams::default()
        },
    )
    .expect("encode");
    let back: Vec<IpNet> = msgs
        .iter()
        .flat_map(|m| bgp_rs_prefixes(&bgp_rs_update(m).announced_routes))
        .collect();
    assert_eq!(back, routes);
    let w = encode_withdraw(&routes, &CodecParams::default());
    let back: Vec<IpNet> = w
        .iter()
        .flat_map(|m| bgp_rs_prefixes(&bgp_rs_update(m).withdrawn_routes))
        .collect();
    assert_eq!(back, routes);
}

#[test]
fn our_open_with_graceful_restart_decodes_in_a_second_decoder() {
    let open = Open {
        my_as: 64512,
        hold_time: 90,
        router_id: Ipv4Addr::new(192, 0, 2, 10),
        capabilities: Capabilities {
            families: [Family::Ipv4Unicast, Family::Ipv6Unicast].into(),
            four_octet_as: Some(64512),
            route_refresh: true,
            extended_message: true,
            graceful_restart: Some(crate::packet::message::GracefulRestart {
                restarting: true,
                restart_time: 120,
                families: vec![(Family::Ipv4Unicast, true), (Family::Ipv6Unicast, true)],
            }),
        },
    };
    let mut out = BytesMut::new();
    encode(&Message::Open(open), &CodecParams::default(), &mut out);
    let mut reader = bgp_rs::Reader::new(&out[..]);
    let bgp_rs::Message::Open(o) = reader.read().expect("decodes").1 else {
        panic!("not an OPEN");
    };
    // bgp-rs frames every capability but does not interpret graceful restart (code 64): check
    // the value it hands back byte by byte (R bit + 120 s, then AFI/SAFI/F per family).
    let gr = o.parameters.iter().find_map(|p| match p {
        bgp_rs::OpenParameter::Capabilities(caps) => caps.iter().find_map(|c| match c {
            bgp_rs::OpenCapability::Unknown {
                cap_code: 64,
                value,
                ..
            } => Some(value.clone()),
            _ => None,
        }),
        _ => None,
    });
    assert_eq!(gr, Some(vec![0x80, 120, 0, 1, 1, 0x80, 0, 2, 1, 0x80]));
    let caps = bgp_rs::Capabilities::from_parameters(o.parameters);
    assert!(caps.FOUR_OCTET_ASN_SUPPORT);
    assert!(caps
        .MP_BGP_SUPPORT
        .contains(&(bgp_rs::AFI::IPV6, bgp_rs::SAFI::Unicast)));
}
