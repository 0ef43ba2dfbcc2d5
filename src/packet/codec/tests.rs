//! Byte-vector tests of the decoder: every malformed header and OPEN class gives its
//! NOTIFICATION, UPDATE defects that panic zettabgp 0.6 are caught first, and nothing panics on
//! random input. The helpers here are shared with `encode_tests`.

use std::net::{IpAddr, Ipv4Addr};

use bytes::BytesMut;
use ipnet::IpNet;
use proptest::prelude::*;

use super::*;
use crate::packet::codes::CeaseSubcode;
use crate::packet::message::{Capabilities, Open};

pub(super) fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![0xff; 16];
    v.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    v.push(kind);
    v.extend_from_slice(body);
    v
}

pub(super) fn dec(bytes: &[u8]) -> Result<Option<Message>, Notification> {
    decode(&mut BytesMut::from(bytes), &CodecParams::default())
}

pub(super) fn dec4(bytes: &[u8]) -> Result<Option<Message>, Notification> {
    let params = CodecParams {
        four_octet_as: true,
        ..CodecParams::default()
    };
    decode(&mut BytesMut::from(bytes), &params)
}

pub(super) fn err(r: Result<Option<Message>, Notification>) -> (u8, u8) {
    match r {
        Err(n) => (n.code, n.subcode),
        Ok(m) => panic!("expected a NOTIFICATION, decoded {m:?}"),
    }
}

pub(super) fn update_of(r: Result<Option<Message>, Notification>) -> Update {
    match r {
        Ok(Some(Message::Update(u))) => u,
        other => panic!("expected an UPDATE, got {other:?}"),
    }
}

pub(super) fn prefixes(s: &[&str]) -> Vec<IpNet> {
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

pub(super) fn ebgp_attrs(nh: &str) -> PathAttributes {
    PathAttributes {
        as_path: vec![64512],
        next_hop: Some(nh.parse().expect("next hop")),
        ..PathAttributes::default()
    }
}

pub(super) fn host_routes_v4(n: usize) -> Vec<IpNet> {
    (0..n)
        .map(|i| {
            let a = u32::from(Ipv4Addr::new(198, 51, 0, 0)) + i as u32;
            IpNet::from(IpAddr::V4(Ipv4Addr::from(a)))
        })
        .collect()
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
fn attributes_we_do_not_read_never_reach_zettabgp() {
    // fuzz/regressions/walk/: a zero-length ORIGINATOR_ID (type 9) panics zettabgp 0.6 (caught,
    // so the route was treated as withdrawn, with a panic message on stderr); the walk does not
    // check the length of attributes we do not read, so they must not be handed over.
    let value_of = |kind: u8, value: &'static [u8]| update::RawAttr {
        flags: if kind == update::ORIGIN { 0x40 } else { 0xc0 },
        kind,
        value,
    };
    let walked = update::Walked {
        announced: prefixes(&["198.51.100.1/32"]),
        attrs: vec![
            value_of(update::ORIGIN, &[0]),
            value_of(9, &[]),
            value_of(10, &[1, 2, 3]),
            value_of(16, &[1]),
        ],
        ..update::Walked::default()
    };
    let attrs = decode_attributes(&walked, &CodecParams::default()).expect("not withdrawn");
    assert_eq!(attrs.origin, Origin::Igp);
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
    // AFI 2 SAFI 1, next hop 2001:db8::1, no NLRI.
    let mut mp = vec![0x80, 14, 21, 0, 2, 1, 16, 0x20, 1, 0x0d, 0xb8];
    mp.extend_from_slice(&[0; 11]);
    mp.extend_from_slice(&[1, 0]);
    let mut attrs = mp.clone();
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
