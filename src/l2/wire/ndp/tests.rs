//! NDP tests: Linux's NS and NA read both ways (checksums included), our answer to Linux's NS
//! is Linux's NA byte for byte, DAD and unsolicited advertisements, every §7.1 rejection, and
//! properties.

use proptest::prelude::*;

use super::super::captures::{LINUX_NA, LINUX_NS, LINUX_RS, MAC_A, MAC_B};
use super::super::ethernet::tests::{mac, vlan};
use super::*;

fn addr(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn linux_ns() -> NdpPacket {
    NdpPacket {
        src: addr("fd00:14::1"),
        dst: addr("ff02::1:ff00:2"),
        message: NdpMessage::Solicit(NeighborSolicit {
            target: addr("fd00:14::2"),
            source_mac: Some(MacAddr(MAC_A)),
        }),
    }
}

fn linux_na() -> NdpPacket {
    NdpPacket {
        src: addr("fd00:14::2"),
        dst: addr("fd00:14::1"),
        message: NdpMessage::Advert(NeighborAdvert {
            router: false,
            solicited: true,
            override_: true,
            target: addr("fd00:14::2"),
            target_mac: Some(MacAddr(MAC_B)),
        }),
    }
}

#[test]
fn linux_ns_and_na_parse_field_by_field() {
    assert_eq!(NdpPacket::parse(&LINUX_NS[14..]), Ok(linux_ns()));
    assert_eq!(NdpPacket::parse(&LINUX_NA[14..]), Ok(linux_na()));
}

#[test]
fn emit_writes_linux_bytes_checksum_included() {
    assert_eq!(linux_ns().to_bytes(), LINUX_NS[14..]);
    assert_eq!(linux_na().to_bytes(), LINUX_NA[14..]);
    let mut buf = [0u8; 80];
    assert_eq!(linux_na().emit(&mut buf), Ok(72));
    assert_eq!(&buf[..72], &LINUX_NA[14..]);
    assert_eq!(
        linux_na().emit(&mut [0u8; 71]),
        Err(NdpError::BufferTooShort { len: 71, need: 72 })
    );
}

#[test]
fn our_answer_to_the_linux_ns_is_the_linux_na() {
    let na = linux_ns().answer(MacAddr(MAC_B)).unwrap();
    assert_eq!(na, linux_na());
    let frame = na.to_frame(MacAddr(MAC_B), Some(MacAddr(MAC_A)), None);
    assert_eq!(frame, LINUX_NA);
    assert_eq!(
        linux_na().answer(MacAddr(MAC_B)),
        None,
        "an NA is not answered"
    );
}

#[test]
fn a_dad_ns_is_answered_to_all_nodes_without_the_solicited_flag() {
    let target = addr("fd00:14::2");
    let dad = NdpPacket {
        src: Ipv6Addr::UNSPECIFIED,
        dst: ipv6::solicited_node(target),
        message: NdpMessage::Solicit(NeighborSolicit {
            target,
            source_mac: None,
        }),
    };
    assert_eq!(NdpPacket::parse(&dad.to_bytes()), Ok(dad));
    let na = dad.answer(MacAddr(MAC_B)).unwrap();
    assert_eq!(na.dst, ipv6::ALL_NODES);
    assert_eq!(na.src, target);
    let NdpMessage::Advert(adv) = na.message else {
        panic!("not an NA: {na:?}")
    };
    assert!(!adv.solicited && adv.override_ && !adv.router);
    assert_eq!(adv.target_mac, Some(MacAddr(MAC_B)));
    let frame = na.to_frame(MacAddr(MAC_B), None, None);
    assert_eq!(&frame[..6], &[0x33, 0x33, 0, 0, 0, 1]);
    assert_eq!(NdpPacket::parse(&frame[14..]), Ok(na));
}

#[test]
fn a_multicast_solicitor_is_answered_like_dad_so_the_answer_stays_valid() {
    let target = addr("fd00:14::2");
    let na = NdpPacket::advert_answering(addr("ff02::1"), target, MacAddr(MAC_B));
    assert_eq!(na.dst, ipv6::ALL_NODES);
    assert_eq!(NdpPacket::parse(&na.to_bytes()), Ok(na));
}

#[test]
fn the_unsolicited_advert_overrides_and_goes_to_all_nodes() {
    let vip = addr("2001:db8::10");
    let na = NdpPacket::unsolicited_advert(vip, MacAddr(MAC_B));
    let b = na.to_bytes();
    assert_eq!(&b[6..8], &[58, 255], "ICMPv6, hop limit 255");
    assert_eq!(&b[24..40], &ipv6::ALL_NODES.octets());
    assert_eq!(b[40], NEIGHBOR_ADVERT);
    assert_eq!(b[44], 0x20, "O only");
    assert_eq!(&b[64..66], &[2, 1], "Target Link-Layer Address option");
    assert_eq!(&b[66..72], &MAC_B);
    assert_eq!(NdpPacket::parse(&b), Ok(na));
}

/// Linux's NS with `edit` applied to its IPv6 packet, the checksum recomputed unless `keep_sum`.
fn ns_with(edit: impl FnOnce(&mut Vec<u8>), keep_sum: bool) -> Vec<u8> {
    let mut b = LINUX_NS[14..].to_vec();
    edit(&mut b);
    let len = (b.len() - 40) as u16;
    b[4..6].copy_from_slice(&len.to_be_bytes());
    if !keep_sum {
        resum(&mut b);
    }
    b
}

fn resum(b: &mut [u8]) {
    b[42..44].copy_from_slice(&[0, 0]);
    let (src, dst) = (read_ipv6(b, 8).unwrap(), read_ipv6(b, 24).unwrap());
    let sum = icmpv6_checksum(src, dst, &b[40..]);
    b[42..44].copy_from_slice(&sum.to_be_bytes());
}

fn refused(b: &[u8]) -> (NdpError, &'static str) {
    let err = NdpPacket::parse(b).unwrap_err();
    (err, err.label())
}

#[test]
fn hop_limit_other_than_255_is_refused() {
    for hl in [0u8, 1, 64, 254] {
        let b = ns_with(|b| b[7] = hl, false);
        assert_eq!(refused(&b), (NdpError::HopLimit(hl), "bad_hop_limit"));
    }
}

#[test]
fn a_wrong_checksum_is_refused() {
    let b = ns_with(|b| b[43] ^= 0x01, true);
    assert_eq!(
        refused(&b),
        (NdpError::Checksum { found: 0x696e }, "bad_checksum")
    );
    let b = ns_with(|b| b[60] ^= 0x80, true);
    assert_eq!(refused(&b).1, "bad_checksum", "a flipped target bit");
}

#[test]
fn other_next_headers_types_and_codes_are_refused() {
    let b = ns_with(|b| b[6] = 0, false);
    assert_eq!(refused(&b), (NdpError::NextHeader(0), "not_icmpv6"));
    assert_eq!(
        refused(&LINUX_RS[14..]),
        (NdpError::NotNeighborDiscovery(133), "not_ns_or_na")
    );
    let b = ns_with(|b| b[41] = 1, false);
    assert_eq!(refused(&b), (NdpError::Code(1), "bad_icmpv6_code"));
}

#[test]
fn icmpv6_messages_shorter_than_24_bytes_are_refused() {
    for keep in [0usize, 1, 3, 4, 23] {
        // Under 4 bytes there is no checksum field to fill in.
        let b = ns_with(|b| b.truncate(40 + keep), keep < 4);
        let err = (NdpError::Truncated(keep), "bad_icmpv6_length");
        assert_eq!(refused(&b), err);
    }
}

#[test]
fn a_payload_length_beyond_the_frame_is_refused() {
    let mut b = LINUX_NS[14..].to_vec();
    b[5] = 40;
    assert_eq!(refused(&b).1, "bad_ipv6_header");
}

#[test]
fn an_option_of_length_zero_drops_the_packet() {
    let b = ns_with(|b| b[65] = 0, false);
    assert_eq!(
        refused(&b),
        (NdpError::ZeroLengthOption { kind: 1, at: 24 }, "bad_option")
    );
    // Also behind an unknown option we would otherwise skip.
    let b = ns_with(|b| b.extend_from_slice(&[14, 0, 0, 0, 0, 0, 0, 0]), false);
    assert_eq!(
        refused(&b).0,
        NdpError::ZeroLengthOption { kind: 14, at: 32 }
    );
}

#[test]
fn options_running_past_the_end_are_refused() {
    let b = ns_with(|b| b[65] = 2, false);
    assert_eq!(
        refused(&b),
        (NdpError::OptionOverrun { at: 24 }, "bad_option")
    );
    let b = ns_with(|b| b.push(1), false);
    assert_eq!(
        refused(&b),
        (NdpError::OptionOverrun { at: 32 }, "bad_option")
    );
}

#[test]
fn a_link_layer_option_of_the_wrong_size_is_refused() {
    let b = ns_with(
        |b| {
            b[65] = 2;
            b.extend_from_slice(&[0; 8]);
        },
        false,
    );
    assert_eq!(refused(&b), (NdpError::LinkLayerLength(2), "bad_option"));
}

#[test]
fn unknown_options_are_skipped_and_the_first_link_layer_option_wins() {
    let b = ns_with(
        |b| {
            b.extend_from_slice(&[1, 1, 9, 9, 9, 9, 9, 9]); // a second SLLA
            b.splice(64..64, [200, 1, 0, 0, 0, 0, 0, 0]); // an unknown option first
        },
        false,
    );
    assert_eq!(NdpPacket::parse(&b), Ok(linux_ns()));
    // A target link-layer option in an NS is just an option we do not read.
    let b = ns_with(|b| b[64] = 2, false);
    let NdpMessage::Solicit(ns) = NdpPacket::parse(&b).unwrap().message else {
        panic!("not an NS")
    };
    assert_eq!(ns.source_mac, None);
}

#[test]
fn multicast_targets_are_refused() {
    let b = ns_with(|b| b[48..50].copy_from_slice(&[0xff, 0x02]), false);
    let target = addr("ff02:14::2");
    assert_eq!(
        refused(&b),
        (NdpError::MulticastTarget(target), "bad_target")
    );
}

#[test]
fn dad_rules_of_7_1_1_are_enforced() {
    // From :: but to fd00:14::2 itself.
    let b = ns_with(
        |b| {
            b[8..24].copy_from_slice(&[0; 16]);
            b[24..40].copy_from_slice(&addr("fd00:14::2").octets());
            b.truncate(64);
        },
        false,
    );
    let dst = addr("fd00:14::2");
    assert_eq!(refused(&b), (NdpError::DadDestination { dst }, "bad_dad"));
    // From :: with a source link-layer address.
    let b = ns_with(|b| b[8..24].copy_from_slice(&[0; 16]), false);
    assert_eq!(refused(&b), (NdpError::DadSourceLinkLayer, "bad_dad"));
}

#[test]
fn a_solicited_na_to_a_multicast_group_is_refused() {
    let mut b = LINUX_NA[14..].to_vec();
    b[24..40].copy_from_slice(&ipv6::ALL_NODES.octets());
    resum(&mut b);
    let err = (
        NdpError::SolicitedToMulticast(ipv6::ALL_NODES),
        "bad_na_flags",
    );
    assert_eq!(refused(&b), err);
}

fn unicast() -> impl Strategy<Value = Ipv6Addr> {
    any::<[u8; 16]>()
        .prop_filter("unicast", |o| o[0] != 0xff && *o != [0; 16])
        .prop_map(Ipv6Addr::from)
}

/// Every NS or NA that §7.1 lets through.
fn packet() -> impl Strategy<Value = NdpPacket> {
    let ns = (
        unicast(),
        unicast(),
        proptest::option::of(mac()),
        any::<bool>(),
    )
        .prop_map(|(src, target, source_mac, to_group)| {
            let dst = if to_group {
                ipv6::solicited_node(target)
            } else {
                src
            };
            NdpPacket {
                src,
                dst,
                message: NdpMessage::Solicit(NeighborSolicit { target, source_mac }),
            }
        });
    let dad = unicast().prop_map(|target| NdpPacket {
        src: Ipv6Addr::UNSPECIFIED,
        dst: ipv6::solicited_node(target),
        message: NdpMessage::Solicit(NeighborSolicit {
            target,
            source_mac: None,
        }),
    });
    let na = (
        unicast(),
        unicast(),
        any::<[bool; 4]>(),
        proptest::option::of(mac()),
    )
        .prop_map(|(src, target, [r, s, o, to_all], target_mac)| NdpPacket {
            src,
            dst: if to_all { ipv6::ALL_NODES } else { src },
            message: NdpMessage::Advert(NeighborAdvert {
                router: r,
                solicited: s && !to_all,
                override_: o,
                target,
                target_mac,
            }),
        });
    prop_oneof![ns, dad, na]
}

proptest! {
    #[test]
    fn parse_of_emit_is_the_packet(p in packet()) {
        prop_assert_eq!(NdpPacket::parse(&p.to_bytes()), Ok(p));
    }

    #[test]
    fn a_frame_reads_back_through_ethernet(p in packet(), src in mac(), vlan in vlan()) {
        let f = p.to_frame(src, None, vlan);
        let (h, payload) = EthernetHeader::parse(&f).unwrap();
        prop_assert_eq!((h.src, h.vlan, h.ethertype), (src, vlan, EtherType::IPV6));
        prop_assert_eq!(NdpPacket::parse(payload), Ok(p));
    }

    #[test]
    fn answers_parse_and_answer_the_question(p in packet(), ours in mac()) {
        if let Some(na) = p.answer(ours) {
            prop_assert_eq!(NdpPacket::parse(&na.to_bytes()), Ok(na));
            prop_assert_eq!(na.message.target(), p.message.target());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
        let _ = NdpPacket::parse(&bytes);
    }

    #[test]
    fn ns_shaped_bytes_never_panic(
        tail in proptest::collection::vec(any::<u8>(), 0..48), hl in any::<u8>(), resummed in any::<bool>(),
    ) {
        let b = ns_with(|b| { b.truncate(40 + 24); b.extend_from_slice(&tail); b[7] = hl; }, !resummed);
        if let Ok(p) = NdpPacket::parse(&b) {
            prop_assert_eq!(p.message.target(), addr("fd00:14::2"));
        }
    }
}
