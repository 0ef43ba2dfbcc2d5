//! Classifier tests: Linux's questions become requests whose answers are Linux's answers;
//! every other frame is ignored under its label; arbitrary bytes never panic.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::super::captures::{
    LINUX_ARP_REPLY, LINUX_ARP_REQUEST, LINUX_NA, LINUX_NS, LINUX_RS, MAC_A, MAC_B,
};
use super::super::ethernet::frame;
use super::super::ipv6::{icmpv6_checksum, solicited_node};
use super::*;

fn addr6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn ignored(frame: &[u8]) -> (Ignored, &'static str) {
    let err = classify(frame).unwrap_err();
    (err, err.label())
}

#[test]
fn linux_arp_request_is_a_question_answered_with_linux_reply() {
    let Ok(Request::Arp(r)) = classify(&LINUX_ARP_REQUEST) else {
        panic!("not an ARP request")
    };
    assert_eq!(r.target, Ipv4Addr::new(10, 14, 0, 2));
    assert_eq!(r.from_mac, MacAddr(MAC_A));
    assert_eq!(r.from_ip, Ipv4Addr::new(10, 14, 0, 1));
    assert_eq!(r.vlan, None);
    let answer = Request::Arp(r).answer(MacAddr(MAC_B));
    assert_eq!(&answer[..42], &LINUX_ARP_REPLY);
    assert_eq!(answer.len(), 60);
}

#[test]
fn linux_ns_is_a_question_answered_with_linux_na() {
    let Ok(Request::Ns(r)) = classify(&LINUX_NS) else {
        panic!("not an NS")
    };
    assert_eq!(r.target, addr6("fd00:14::2"));
    assert_eq!(r.from_mac, MacAddr(MAC_A));
    assert_eq!(r.from_ip, addr6("fd00:14::1"));
    assert_eq!(Request::Ns(r).answer(MacAddr(MAC_B)), LINUX_NA);
}

#[test]
fn an_arp_probe_is_a_question_answered_to_its_sender_mac() {
    let mut probe = LINUX_ARP_REQUEST;
    probe[28..32].copy_from_slice(&[0, 0, 0, 0]);
    let Ok(Request::Arp(r)) = classify(&probe) else {
        panic!("not an ARP request")
    };
    assert!(r.packet.is_probe());
    let answer = r.answer(MacAddr(MAC_B));
    assert_eq!(&answer[..6], &MAC_A);
    let reply = ArpPacket::parse(&answer[14..]).unwrap();
    assert_eq!(reply.target_ip, Ipv4Addr::UNSPECIFIED);
    assert_eq!(reply.sender_ip, Ipv4Addr::new(10, 14, 0, 2));
}

#[test]
fn a_tagged_question_is_answered_on_its_vlan() {
    let vlan = Vlan {
        pcp: 0,
        dei: false,
        vid: 42,
    };
    let mut tagged = LINUX_ARP_REQUEST[..12].to_vec();
    tagged.extend_from_slice(&[0x81, 0x00, 0x00, 42]);
    tagged.extend_from_slice(&LINUX_ARP_REQUEST[12..]);
    let req = classify(&tagged).unwrap();
    assert_eq!(req.vlan(), Some(vlan));
    let answer = req.answer(MacAddr(MAC_B));
    assert_eq!(&answer[12..16], &[0x81, 0x00, 0x00, 42]);
    assert_eq!(&answer[16..46], &LINUX_ARP_REPLY[12..]);
}

#[test]
fn an_ns_without_source_option_is_answered_to_the_frame_source() {
    let mut b = LINUX_NS[..78].to_vec();
    b[18..20].copy_from_slice(&24u16.to_be_bytes());
    b[22..38].copy_from_slice(&addr6("fe80::99").octets());
    b[38..54].copy_from_slice(&addr6("fd00:14::2").octets()); // unicast NS
    b[56..58].copy_from_slice(&[0, 0]);
    let sum = icmpv6_checksum(addr6("fe80::99"), addr6("fd00:14::2"), &b[54..]);
    b[56..58].copy_from_slice(&sum.to_be_bytes());
    let Ok(Request::Ns(r)) = classify(&b) else {
        panic!("not an NS: {:?}", classify(&b))
    };
    assert_eq!(r.from_mac, MacAddr(MAC_A), "from the Ethernet source");
    let answer = r.answer(MacAddr(MAC_B));
    assert_eq!(&answer[..6], &MAC_A);
}

#[test]
fn a_dad_ns_is_answered_to_the_all_nodes_mac() {
    let target = addr6("fd00:14::2");
    let dad = NdpPacket {
        src: Ipv6Addr::UNSPECIFIED,
        dst: solicited_node(target),
        message: NdpMessage::Solicit(super::super::ndp::NeighborSolicit {
            target,
            source_mac: None,
        }),
    };
    let f = dad.to_frame(MacAddr(MAC_A), None, None);
    let Ok(req) = classify(&f) else {
        panic!("not an NS")
    };
    let answer = req.answer(MacAddr(MAC_B));
    assert_eq!(&answer[..6], &[0x33, 0x33, 0, 0, 0, 1]);
    let (_, ip) = EthernetHeader::parse(&answer).unwrap();
    assert_eq!(
        NdpPacket::parse(ip).unwrap().dst,
        super::super::ipv6::ALL_NODES
    );
}

#[test]
fn answers_and_announcements_are_not_questions() {
    let ip = Ipv4Addr::new(10, 14, 0, 2);
    assert_eq!(
        ignored(&LINUX_ARP_REPLY),
        (Ignored::ArpReply(ip), "arp_reply")
    );
    let target = addr6("fd00:14::2");
    assert_eq!(
        ignored(&LINUX_NA),
        (Ignored::NeighborAdvert(target), "neighbor_advert")
    );
    let garp = ArpPacket::gratuitous_request(MacAddr(MAC_A), ip).to_frame(MacAddr::BROADCAST, None);
    assert_eq!(
        ignored(&garp),
        (Ignored::GratuitousArp(ip), "gratuitous_arp")
    );
    let grep = ArpPacket::gratuitous_reply(MacAddr(MAC_A), ip).to_frame(MacAddr::BROADCAST, None);
    assert_eq!(ignored(&grep).1, "arp_reply");
    let na =
        NdpPacket::unsolicited_advert(target, MacAddr(MAC_A)).to_frame(MacAddr(MAC_A), None, None);
    assert_eq!(ignored(&na).1, "neighbor_advert");
}

#[test]
fn a_multicast_sender_is_ignored() {
    let mut b = LINUX_ARP_REQUEST;
    b[22] = 0x01;
    assert_eq!(ignored(&b).1, "bad_sender");
}

#[test]
fn every_malformed_class_is_ignored_with_its_reason() {
    let with = |frame: &[u8], edit: &dyn Fn(&mut Vec<u8>)| {
        let mut b = frame.to_vec();
        edit(&mut b);
        b
    };
    // NS edits past the checksum, with the checksum made right again.
    let ns = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut b = with(&LINUX_NS, edit);
        resum(&mut b);
        b
    };
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (LINUX_ARP_REQUEST[..13].to_vec(), "short"),
        (LINUX_ARP_REQUEST[..41].to_vec(), "short"),
        (
            with(&LINUX_ARP_REQUEST, &|b| {
                b[12..14].copy_from_slice(&[0x08, 0x00])
            }),
            "not_arp_or_ipv6",
        ),
        (
            with(&LINUX_ARP_REQUEST, &|b| {
                b[12..14].copy_from_slice(&[0x88, 0xa8])
            }),
            "not_arp_or_ipv6",
        ),
        (with(&LINUX_ARP_REQUEST, &|b| b[15] = 6), "bad_arp_header"),
        (with(&LINUX_ARP_REQUEST, &|b| b[18] = 8), "bad_arp_header"),
        (with(&LINUX_ARP_REQUEST, &|b| b[19] = 16), "bad_arp_header"),
        (with(&LINUX_ARP_REQUEST, &|b| b[21] = 3), "bad_arp_op"),
        (
            with(&LINUX_ARP_REQUEST, &|b| {
                b[12..18].copy_from_slice(&[0x81, 0, 0, 1, 0x81, 0])
            }),
            "stacked_vlan",
        ),
        (LINUX_NS[..53].to_vec(), "short"),
        (LINUX_NS[..85].to_vec(), "bad_ipv6_header"),
        (with(&LINUX_NS, &|b| b[14] = 0x40), "bad_ipv6_header"),
        (with(&LINUX_NS, &|b| b[20] = 17), "not_icmpv6"),
        (LINUX_RS.to_vec(), "not_ns_or_na"),
        (with(&LINUX_NS, &|b| b[55] = 1), "bad_icmpv6_code"),
        (with(&LINUX_NS, &|b| b[21] = 64), "bad_hop_limit"),
        (with(&LINUX_NS, &|b| b[57] ^= 0xff), "bad_checksum"),
        (ns(&|b| b[79] = 0), "bad_option"),
        (ns(&|b| b[79] = 3), "bad_option"),
        (ns(&|b| b[62] = 0xff), "bad_target"),
        (ns(&|b| b[22..38].copy_from_slice(&[0; 16])), "bad_dad"),
        (ns(&|b| b[22] = 0xff), "bad_sender"),
        (
            with(&LINUX_NS, &|b| {
                b[18..20].copy_from_slice(&20u16.to_be_bytes());
                b.truncate(74)
            }),
            "bad_icmpv6_length",
        ),
    ];
    for (frame, label) in &cases {
        let got = ignored(frame);
        assert_eq!(got.1, *label, "{frame:02x?}: {}", got.0);
    }
}

/// Recomputes the ICMPv6 checksum of an untagged frame's IPv6 packet.
fn resum(b: &mut [u8]) {
    b[56..58].copy_from_slice(&[0, 0]);
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&b[22..38]).unwrap());
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&b[38..54]).unwrap());
    let sum = icmpv6_checksum(src, dst, &b[54..]);
    b[56..58].copy_from_slice(&sum.to_be_bytes());
}

#[test]
fn every_label_is_listed_once_in_labels() {
    let listed: BTreeSet<_> = Ignored::LABELS.iter().copied().collect();
    assert_eq!(listed.len(), Ignored::LABELS.len());
    let labels = [
        Ignored::Ethernet(EthernetError::StackedVlan).label(),
        Ignored::Ethernet(EthernetError::Truncated { len: 0, min: 14 }).label(),
        Ignored::NotArpOrIpv6(0).label(),
        Ignored::Arp(ArpError::Operation(3)).label(),
        Ignored::Ndp(NdpError::SolicitedToMulticast(Ipv6Addr::UNSPECIFIED)).label(),
        Ignored::Ndp(NdpError::DadSourceLinkLayer).label(),
        Ignored::MulticastSourceIp(Ipv6Addr::UNSPECIFIED).label(),
    ];
    for l in labels {
        assert!(listed.contains(l), "{l} missing from LABELS");
    }
    for l in Ignored::LABELS {
        assert!(
            l.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'),
            "{l}"
        );
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        match classify(&bytes) {
            Ok(req) => { let _ = req.answer(MacAddr(MAC_B)); }
            Err(e) => prop_assert!(Ignored::LABELS.contains(&e.label())),
        }
    }

    #[test]
    fn frame_shaped_bytes_never_panic(
        ethertype in prop_oneof![Just(EtherType::ARP), Just(EtherType::IPV6), Just(EtherType::VLAN)],
        body in proptest::collection::vec(any::<u8>(), 0..100),
    ) {
        let h = EthernetHeader { dst: MacAddr::BROADCAST, src: MacAddr(MAC_A), vlan: None, ethertype };
        let f = frame(&h, &body);
        if let Err(e) = classify(&f) {
            prop_assert!(Ignored::LABELS.contains(&e.label()));
        }
    }

    #[test]
    fn flipping_one_byte_of_a_linux_question_never_panics(at in 0usize..86, bit in 0u8..8) {
        let mut b = LINUX_NS;
        b[at] ^= 1 << bit;
        let _ = classify(&b);
        let mut a = LINUX_ARP_REQUEST;
        a[at % 42] ^= 1 << bit;
        let _ = classify(&a);
    }
}
