//! Byte-vector tests of the codec: every malformed header and OPEN class gives its
//! NOTIFICATION, UPDATE defects that panic zettabgp 0.6 are caught first, packing is full and
//! within bounds, and nothing panics on random input.

use std::net::{IpAddr, Ipv4Addr};

use bytes::BytesMut;
use ipnet::IpNet;
use proptest::prelude::*;
use zettabgp::prelude::{BgpMessage, BgpSessionParams, BgpTransportMode, BgpUpdateMessage};

use super::*;
use crate::packet::codes::CeaseSubcode;
use crate::packet::message::{Capabilities, Open};

fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![0xff; 16];
    v.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    v.push(kind);
    v.extend_from_slice(body);
    v
}

fn dec(bytes: &[u8]) -> Result<Option<Message>, Notification> {
    decode(&mut BytesMut::from(bytes), &CodecParams::default())
}

fn dec4(bytes: &[u8]) -> Result<Option<Message>, Notification> {
    let params = CodecParams {
        four_octet_as: true,
        ..CodecParams::default()
    };
    decode(&mut BytesMut::from(bytes), &params)
}

fn err(r: Result<Option<Message>, Notification>) -> (u8, u8) {
    match r {
        Err(n) => (n.code, n.subcode),
        Ok(m) => panic!("expected a NOTIFICATION, decoded {m:?}"),
    }
}

fn update_of(r: Result<Option<Message>, Notification>) -> Update {
    match r {
        Ok(Some(Message::Update(u))) => u,
        other => panic!("expected an UPDATE, got {other:?}"),
    }
}

fn prefixes(s: &[&str]) -> Vec<IpNet> {
    s.iter().map(|p| p.parse().expect("prefix")).collect()
}

#[test]
fn a_partial_header_asks_for_more_bytes() {
    assert_eq!(dec(&[0xff; 10]), Ok(None));
    let ka = frame(4, &[]);
    assert_eq!(dec(&ka[..18]), Ok(None));
}

#[test]
fn a_bad_marker_gives_notification_1_1() {
    let mut ka = frame(4, &[]);
    ka[3] = 0;
    assert_eq!(err(dec(&ka)), (1, 1));
}

#[test]
fn lengths_0_to_18_give_notification_1_2_with_the_length_as_data() {
    for len in 0u16..19 {
        let mut ka = frame(4, &[]);
        ka[16..18].copy_from_slice(&len.to_be_bytes());
        assert_eq!(
            dec(&ka),
            Err(Notification::header(HeaderSubcode::BadMessageLength)
                .with_data(len.to_be_bytes().to_vec()))
        );
    }
}

#[test]
fn a_length_over_4096_gives_notification_1_2() {
    for len in [4097u16, 5000, 65535] {
        let mut ka = frame(2, &[0, 0, 0, 0]);
        ka[16..18].copy_from_slice(&len.to_be_bytes());
        assert_eq!(err(dec(&ka)), (1, 2));
    }
}

#[test]
fn per_type_minimum_lengths_give_notification_1_2() {
    assert_eq!(err(dec(&frame(1, &[4, 0, 1]))), (1, 2)); // OPEN < 29
    assert_eq!(err(dec(&frame(2, &[0, 0]))), (1, 2)); // UPDATE < 23
    assert_eq!(err(dec(&frame(3, &[6]))), (1, 2)); // NOTIFICATION < 21
    assert_eq!(err(dec(&frame(4, &[0]))), (1, 2)); // KEEPALIVE != 19
    assert_eq!(err(dec(&frame(5, &[0, 1, 0]))), (1, 2)); // ROUTE-REFRESH != 23
}

#[test]
fn an_unknown_type_gives_notification_1_3_with_the_type_as_data() {
    for kind in [0u8, 6, 255] {
        assert_eq!(
            dec(&frame(kind, &[])),
            Err(Notification::header(HeaderSubcode::BadMessageType).with_data(vec![kind]))
        );
    }
}

fn open_bytes(version: u8, my_as: u16, hold: u16, id: [u8; 4]) -> Vec<u8> {
    let mut b = vec![version];
    b.extend_from_slice(&my_as.to_be_bytes());
    b.extend_from_slice(&hold.to_be_bytes());
    b.extend_from_slice(&id);
    b.extend_from_slice(&[8, 2, 6, 65, 4, 0, 0, 0xfd, 0xe8]);
    frame(1, &b)
}

#[test]
fn open_classes_give_their_notifications() {
    assert_eq!(err(dec(&open_bytes(3, 64500, 90, [192, 0, 2, 1]))), (2, 1));
    assert_eq!(err(dec(&open_bytes(4, 0, 90, [192, 0, 2, 1]))), (2, 2));
    assert_eq!(err(dec(&open_bytes(4, 64500, 90, [0, 0, 0, 0]))), (2, 3));
    assert_eq!(err(dec(&open_bytes(4, 64500, 1, [192, 0, 2, 1]))), (2, 6));
    assert_eq!(err(dec(&open_bytes(4, 64500, 2, [192, 0, 2, 1]))), (2, 6));
    let ok = dec(&open_bytes(4, 64500, 3, [192, 0, 2, 1]));
    assert!(matches!(ok, Ok(Some(Message::Open(_)))));
}

#[test]
fn control_messages_round_trip() {
    let open = Open {
        my_as: 64512,
        hold_time: 90,
        router_id: Ipv4Addr::new(192, 0, 2, 10),
        capabilities: Capabilities {
            families: [Family::Ipv4Unicast, Family::Ipv6Unicast].into(),
            four_octet_as: Some(64512),
            route_refresh: true,
            extended_message: false,
            graceful_restart: None,
        },
    };
    for msg in [
        Message::Open(open),
        Message::Keepalive,
        Message::Notification(
            Notification::cease(CeaseSubcode::AdministrativeShutdown).with_data(b"bye".to_vec()),
        ),
        Message::RouteRefresh(RouteRefresh { afi: 2, safi: 1 }),
    ] {
        let mut out = BytesMut::new();
        encode(&msg, &CodecParams::default(), &mut out);
        assert_eq!(dec(&out), Ok(Some(msg)));
    }
}

#[test]
fn two_messages_in_one_buffer_decode_one_at_a_time() {
    let mut buf = BytesMut::from(&frame(4, &[])[..]);
    buf.extend_from_slice(&frame(4, &[]));
    let p = CodecParams::default();
    assert_eq!(decode(&mut buf, &p), Ok(Some(Message::Keepalive)));
    assert_eq!(decode(&mut buf, &p), Ok(Some(Message::Keepalive)));
    assert_eq!(decode(&mut buf, &p), Ok(None));
}

fn ebgp_attrs(nh: &str) -> PathAttributes {
    PathAttributes {
        as_path: vec![64512],
        next_hop: Some(nh.parse().expect("next hop")),
        ..PathAttributes::default()
    }
}

fn host_routes_v4(n: usize) -> Vec<IpNet> {
    (0..n)
        .map(|i| {
            let a = u32::from(Ipv4Addr::new(198, 51, 0, 0)) + i as u32;
            IpNet::from(IpAddr::V4(Ipv4Addr::from(a)))
        })
        .collect()
}

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

// --- zettabgp 0.6 defects: each input below panics zettabgp if handed over directly. ---

#[test]
fn attribute_header_cut_before_its_length_byte_gives_3_1() {
    // total path attribute length 2: flags and type, no length byte.
    assert_eq!(err(dec(&frame(2, &[0, 0, 0, 2, 0x40, 1]))), (3, 1));
}

#[test]
fn mp_reach_next_hop_longer_than_the_attribute_gives_3_9() {
    let body = [0, 0, 0, 9, 0x80, 14, 6, 0, 2, 1, 200, 0, 0];
    assert_eq!(err(dec(&frame(2, &body))), (3, 9));
}

#[test]
fn one_byte_mp_reach_and_two_byte_mp_unreach_give_3_9() {
    assert_eq!(err(dec(&frame(2, &[0, 0, 0, 4, 0x80, 14, 1, 0]))), (3, 9));
    assert_eq!(
        err(dec(&frame(2, &[0, 0, 0, 5, 0x80, 15, 2, 0, 2]))),
        (3, 9)
    );
}

#[test]
fn a_short_4_byte_as_path_segment_is_treated_as_withdraw() {
    // ORIGIN, AS_PATH claiming 2 ASNs with 5 bytes, NEXT_HOP, NLRI 198.51.100.1/32.
    let mut body = vec![0, 0];
    let attrs = [
        0x40, 1, 1, 0, //
        0x40, 2, 7, 2, 2, 0, 0, 0xfb, 0xf0, 0, //
        0x40, 3, 4, 192, 0, 2, 1,
    ];
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(&attrs);
    body.extend_from_slice(&[32, 198, 51, 100, 1]);
    let u = update_of(dec4(&frame(2, &body)));
    assert!(u.announced.is_empty());
    assert_eq!(u.withdrawn, prefixes(&["198.51.100.1/32"]));
}

#[test]
fn plain_nlri_is_not_misread_as_add_path() {
    // fuzzy_pathid would read these /32s as path ids; ours keeps them as prefixes.
    let p = CodecParams {
        four_octet_as: true,
        ..CodecParams::default()
    };
    let routes = prefixes(&["0.0.0.1/32", "0.0.0.2/32"]);
    let msgs = encode_announce(&routes, &ebgp_attrs("192.0.2.10"), &p).expect("encode");
    assert_eq!(update_of(dec4(&msgs[0])).announced, routes);
}

#[test]
fn an_nlri_prefix_longer_than_32_gives_3_10() {
    assert_eq!(
        err(dec(&frame(2, &[0, 0, 0, 0, 33, 1, 2, 3, 4, 5]))),
        (3, 10)
    );
    assert_eq!(err(dec(&frame(2, &[0, 1, 40, 0, 0]))), (3, 10));
}

#[test]
fn a_withdrawn_length_past_the_message_gives_3_1() {
    assert_eq!(err(dec(&frame(2, &[0, 200, 0, 0]))), (3, 1));
}

#[test]
fn an_invalid_origin_is_treated_as_withdraw_and_the_session_survives() {
    let body = [
        0, 0, 0, 14, 0x40, 1, 1, 7, 0x40, 2, 0, 0x40, 3, 4, 192, 0, 2, 1, 32, 198, 51, 100, 1,
    ];
    let u = update_of(dec(&frame(2, &body)));
    assert!(u.announced.is_empty());
    assert_eq!(u.withdrawn, prefixes(&["198.51.100.1/32"]));
}

#[test]
fn a_missing_next_hop_is_treated_as_withdraw() {
    let body = [0, 0, 0, 7, 0x40, 1, 1, 0, 0x40, 2, 0, 32, 198, 51, 100, 1];
    let u = update_of(dec(&frame(2, &body)));
    assert_eq!(u.withdrawn, prefixes(&["198.51.100.1/32"]));
}

#[test]
fn a_duplicated_mp_reach_gives_3_1() {
    let mp = [0x80, 14, 5, 0, 2, 1, 0, 0];
    let mut attrs = mp.to_vec();
    attrs.extend_from_slice(&mp);
    let mut body = vec![0, 0];
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(&attrs);
    assert_eq!(err(dec(&frame(2, &body))), (3, 1));
}

proptest! {
    #[test]
    fn random_bytes_never_panic_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut framed = frame(bytes.first().copied().unwrap_or(2) % 6, &bytes);
        let _ = dec(&framed);
        let _ = dec4(&framed);
        framed.truncate(framed.len() / 2);
        let _ = dec(&framed);
    }

    #[test]
    fn mutated_updates_never_panic_the_decoder(pos in 19usize..200, byte in any::<u8>(), cut in 0usize..200) {
        let p = CodecParams { four_octet_as: true, ..CodecParams::default() };
        let routes = host_routes_v4(20);
        let msgs = encode_announce(&routes, &ebgp_attrs("192.0.2.10"), &p).expect("encode");
        let mut m = msgs[0].to_vec();
        let len = m.len();
        if let Some(b) = m.get_mut(pos % len) { *b = byte; }
        let _ = dec4(&m);
        let body_len = (19 + cut).min(len);
        let mut short = m[..body_len].to_vec();
        short[16..18].copy_from_slice(&(body_len as u16).to_be_bytes());
        let _ = dec4(&short);
    }
}

// ---- Extended messages (RFC 8654) and a second decoder (bgp-rs) ----

fn extended() -> CodecParams {
    CodecParams {
        four_octet_as: true,
        max_message_len: MAX_EXTENDED_MESSAGE_LEN,
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
