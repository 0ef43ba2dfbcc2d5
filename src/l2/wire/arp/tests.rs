//! ARP tests: Linux's request and reply read both ways, our reply to Linux's request is
//! Linux's reply, gratuitous ARP in both forms, every rejection, and properties.

use proptest::prelude::*;

use super::super::captures::{LINUX_ARP_REPLY, LINUX_ARP_REQUEST, MAC_A, MAC_B};
use super::super::ethernet::tests::{mac, vlan};
use super::*;

fn request() -> ArpPacket {
    ArpPacket {
        op: ArpOp::Request,
        sender_mac: MacAddr(MAC_A),
        sender_ip: Ipv4Addr::new(10, 14, 0, 1),
        target_mac: MacAddr::ZERO,
        target_ip: Ipv4Addr::new(10, 14, 0, 2),
    }
}

#[test]
fn linux_request_and_reply_parse_field_by_field() {
    assert_eq!(ArpPacket::parse(&LINUX_ARP_REQUEST[14..]), Ok(request()));
    let reply = ArpPacket::parse(&LINUX_ARP_REPLY[14..]).unwrap();
    assert_eq!(reply.op, ArpOp::Reply);
    assert_eq!(reply.sender_mac, MacAddr(MAC_B));
    assert_eq!(reply.sender_ip, Ipv4Addr::new(10, 14, 0, 2));
    assert_eq!(reply.target_mac, MacAddr(MAC_A));
    assert_eq!(reply.target_ip, Ipv4Addr::new(10, 14, 0, 1));
}

#[test]
fn emit_writes_linux_bytes_and_nothing_more() {
    assert_eq!(request().to_bytes(), LINUX_ARP_REQUEST[14..]);
    let mut buf = [0xeeu8; 32];
    assert_eq!(request().emit(&mut buf), Ok(28));
    assert_eq!(&buf[..28], &LINUX_ARP_REQUEST[14..]);
    assert_eq!(&buf[28..], &[0xee; 4]);
    assert_eq!(
        request().emit(&mut [0u8; 27]),
        Err(ArpError::BufferTooShort(27))
    );
}

#[test]
fn our_reply_to_the_linux_request_is_the_linux_reply() {
    let reply = request().reply(MacAddr(MAC_B)).unwrap();
    let frame = reply.to_frame(MacAddr(MAC_A), None);
    assert_eq!(frame.len(), 60, "padded to the minimum frame");
    assert_eq!(&frame[..42], &LINUX_ARP_REPLY);
    assert!(frame[42..].iter().all(|b| *b == 0));
    assert_eq!(reply.reply(MacAddr(MAC_B)), None, "a reply is not answered");
}

#[test]
fn padding_after_the_28_bytes_is_ignored() {
    let mut padded = LINUX_ARP_REQUEST[14..].to_vec();
    padded.extend_from_slice(&[0xaa; 18]);
    assert_eq!(ArpPacket::parse(&padded), Ok(request()));
}

#[test]
fn gratuitous_request_is_the_rfc_5227_announcement() {
    let ip = Ipv4Addr::new(192, 0, 2, 10);
    let g = ArpPacket::gratuitous_request(MacAddr(MAC_B), ip);
    let b = g.to_bytes();
    assert_eq!(&b[6..8], &[0, 1], "op request");
    assert_eq!(&b[8..14], &MAC_B, "sender MAC");
    assert_eq!(&b[14..18], &[192, 0, 2, 10], "sender IP");
    assert_eq!(&b[18..24], &[0; 6], "target MAC zero");
    assert_eq!(&b[24..28], &[192, 0, 2, 10], "target IP = sender IP");
    assert!(g.is_gratuitous() && !g.is_probe());
    let f = g.to_frame(MacAddr::BROADCAST, None);
    assert_eq!(&f[..6], &[0xff; 6]);
    assert_eq!(&f[6..12], &MAC_B);
}

#[test]
fn gratuitous_reply_names_our_mac_as_target_too() {
    let ip = Ipv4Addr::new(192, 0, 2, 10);
    let g = ArpPacket::gratuitous_reply(MacAddr(MAC_B), ip);
    let b = g.to_bytes();
    assert_eq!(&b[6..8], &[0, 2], "op reply");
    assert_eq!(&b[18..24], &MAC_B, "RFC 5944 §4.6: target MAC is ours");
    assert_eq!(ArpPacket::parse(&b), Ok(g));
}

#[test]
fn a_probe_has_sender_ip_zero() {
    let probe = ArpPacket {
        sender_ip: Ipv4Addr::UNSPECIFIED,
        ..request()
    };
    assert!(probe.is_probe() && !probe.is_gratuitous());
}

fn with(edit: impl FnOnce(&mut [u8; 28])) -> [u8; 28] {
    let mut b = request().to_bytes();
    edit(&mut b);
    b
}

#[test]
fn short_packets_are_truncated() {
    for len in 0..28 {
        let err = ArpPacket::parse(&LINUX_ARP_REQUEST[14..14 + len]).unwrap_err();
        assert_eq!(err, ArpError::Truncated(len));
        assert_eq!(err.label(), "short");
    }
}

#[test]
fn anything_but_ipv4_over_ethernet_is_a_header_error() {
    let cases: [(usize, u8, u16, u16, u8, u8); 4] = [
        (1, 6, 6, 0x0800, 6, 4),    // htype IEEE 802 (6)
        (2, 0x86, 1, 0x86dd, 6, 4), // ptype IPv6
        (4, 8, 1, 0x0800, 8, 4),    // hlen 8
        (5, 16, 1, 0x0800, 6, 16),  // plen 16
    ];
    for (at, value, htype, ptype, hlen, plen) in cases {
        let b = with(|b| {
            if at == 2 {
                b[2..4].copy_from_slice(&0x86ddu16.to_be_bytes());
            } else {
                b[at] = value;
            }
        });
        let err = ArpPacket::parse(&b).unwrap_err();
        assert_eq!(
            err,
            ArpError::Header {
                htype,
                ptype,
                hlen,
                plen
            }
        );
        assert_eq!(err.label(), "bad_arp_header");
    }
}

#[test]
fn operations_other_than_request_and_reply_are_their_own_error() {
    for op in [0u16, 3, 4, 8, 9, 0xffff] {
        let b = with(|b| b[6..8].copy_from_slice(&op.to_be_bytes()));
        let err = ArpPacket::parse(&b).unwrap_err();
        assert_eq!(err, ArpError::Operation(op));
        assert_eq!(err.label(), "bad_arp_op");
    }
}

fn ipv4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

pub(crate) fn packet() -> impl Strategy<Value = ArpPacket> {
    (any::<bool>(), mac(), ipv4(), mac(), ipv4()).prop_map(|(req, sm, si, tm, ti)| ArpPacket {
        op: if req { ArpOp::Request } else { ArpOp::Reply },
        sender_mac: sm,
        sender_ip: si,
        target_mac: tm,
        target_ip: ti,
    })
}

proptest! {
    #[test]
    fn parse_of_emit_is_the_packet(p in packet()) {
        prop_assert_eq!(ArpPacket::parse(&p.to_bytes()), Ok(p));
    }

    #[test]
    fn a_frame_reads_back_through_ethernet(p in packet(), dst in mac(), vlan in vlan()) {
        let f = p.to_frame(dst, vlan);
        let (h, payload) = EthernetHeader::parse(&f).unwrap();
        prop_assert_eq!((h.dst, h.src, h.vlan, h.ethertype), (dst, p.sender_mac, vlan, EtherType::ARP));
        prop_assert_eq!(ArpPacket::parse(payload), Ok(p));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
        let _ = ArpPacket::parse(&bytes);
    }

    #[test]
    fn header_shaped_bytes_never_panic(tail in any::<[u8; 22]>(), op in any::<u16>()) {
        let mut b = request().to_bytes();
        b[6..8].copy_from_slice(&op.to_be_bytes());
        b[8..].copy_from_slice(&tail[2..]);
        if let Ok(p) = ArpPacket::parse(&b) {
            prop_assert_eq!(p.to_bytes(), b);
        }
    }
}
