//! IPv6 header and ICMPv6 checksum tests: Linux's NS header read both ways, its checksum
//! against ours and a second, independent sum, every rejection, the multicast helpers, and
//! properties.

use proptest::prelude::*;

use super::super::captures::{LINUX_NA, LINUX_NS};
use super::*;

fn addr(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

#[test]
fn the_captured_header_reads_field_by_field() {
    let (h, payload) = Ipv6Header::parse(&LINUX_NS[14..]).unwrap();
    assert_eq!(
        h,
        Ipv6Header {
            traffic_class: 0,
            flow_label: 0,
            payload_len: 32,
            next_header: NEXT_HEADER_ICMPV6,
            hop_limit: 255,
            src: addr("fd00:14::1"),
            dst: addr("ff02::1:ff00:2"),
        }
    );
    assert_eq!(payload, &LINUX_NS[54..]);
    let mut buf = [0u8; 40];
    assert_eq!(h.emit(&mut buf), Ok(40));
    assert_eq!(buf, LINUX_NS[14..54]);
}

#[test]
fn traffic_class_and_flow_label_sit_at_their_bits() {
    let h = Ipv6Header {
        traffic_class: 0xab,
        flow_label: 0xc_def0,
        payload_len: 0,
        next_header: 17,
        hop_limit: 1,
        src: Ipv6Addr::UNSPECIFIED,
        dst: Ipv6Addr::LOCALHOST,
    };
    let mut buf = [0u8; 40];
    h.emit(&mut buf).unwrap();
    assert_eq!(&buf[..4], &[0x6a, 0xbc, 0xde, 0xf0]);
    assert_eq!(Ipv6Header::parse(&buf).unwrap().0, h);
}

/// The RFC 1071 sum written the plain way: every 16-bit word into a u64, folded at the end.
fn reference_checksum(src: Ipv6Addr, dst: Ipv6Addr, msg: &[u8]) -> u16 {
    let mut data = Vec::new();
    data.extend_from_slice(&src.octets());
    data.extend_from_slice(&dst.octets());
    data.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    data.extend_from_slice(&[0, 0, 0, 58]);
    data.extend_from_slice(msg);
    if data.len() % 2 == 1 {
        data.push(0);
    }
    let mut sum: u64 = data
        .chunks(2)
        .map(|w| u64::from(w[0]) << 8 | u64::from(w[1]))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[test]
fn linux_checksums_verify_and_recompute() {
    for frame in [&LINUX_NS, &LINUX_NA] {
        let (h, icmp) = Ipv6Header::parse(&frame[14..]).unwrap();
        assert_eq!(
            icmpv6_checksum(h.src, h.dst, icmp),
            0,
            "a correct sum verifies to 0"
        );
        let mut zeroed = icmp.to_vec();
        zeroed[2..4].copy_from_slice(&[0, 0]);
        let sum = icmpv6_checksum(h.src, h.dst, &zeroed);
        assert_eq!(sum.to_be_bytes(), [icmp[2], icmp[3]]);
        assert_eq!(sum, reference_checksum(h.src, h.dst, &zeroed));
    }
    // Linux's NS carries 0x696f, its NA 0x085e.
    assert_eq!(&LINUX_NS[56..58], &[0x69, 0x6f]);
    assert_eq!(&LINUX_NA[56..58], &[0x08, 0x5e]);
}

#[test]
fn short_packets_wrong_versions_and_long_payload_lengths_are_refused() {
    let ip = &LINUX_NS[14..];
    for len in 0..40 {
        let err = Ipv6Header::parse(&ip[..len]).unwrap_err();
        assert_eq!(err, Ipv6Error::Truncated(len));
        assert_eq!(err.label(), "short");
    }
    let mut v4 = ip.to_vec();
    v4[0] = 0x45;
    assert_eq!(Ipv6Header::parse(&v4).unwrap_err(), Ipv6Error::Version(4));
    let err = Ipv6Header::parse(&ip[..71]).unwrap_err();
    assert_eq!(
        err,
        Ipv6Error::PayloadExceedsBuffer {
            length: 32,
            available: 31
        }
    );
    assert_eq!(err.label(), "bad_ipv6_header");
}

#[test]
fn bytes_after_payload_length_are_not_payload() {
    let mut padded = LINUX_NS[14..].to_vec();
    padded.extend_from_slice(&[0xaa; 10]);
    let (_, payload) = Ipv6Header::parse(&padded).unwrap();
    assert_eq!(payload, &LINUX_NS[54..]);
}

#[test]
fn solicited_node_groups_and_their_macs() {
    assert_eq!(solicited_node(addr("fd00:14::2")), addr("ff02::1:ff00:2"));
    assert_eq!(
        solicited_node(addr("2001:db8::1234:5678:9abc")),
        addr("ff02::1:ff78:9abc")
    );
    assert_eq!(
        multicast_mac(addr("ff02::1:ff00:2")),
        MacAddr([0x33, 0x33, 0xff, 0x00, 0x00, 0x02])
    );
    assert_eq!(multicast_mac(ALL_NODES).to_string(), "33:33:00:00:00:01");
    assert_eq!(&LINUX_NS[..6], &multicast_mac(addr("ff02::1:ff00:2")).0);
}

fn ipv6() -> impl Strategy<Value = Ipv6Addr> {
    any::<[u8; 16]>().prop_map(Ipv6Addr::from)
}

proptest! {
    #[test]
    fn parse_of_emit_is_the_header(
        tc in any::<u8>(), fl in 0u32..(1 << 20), nh in any::<u8>(), hl in any::<u8>(),
        src in ipv6(), dst in ipv6(), payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let h = Ipv6Header {
            traffic_class: tc, flow_label: fl, payload_len: payload.len() as u16,
            next_header: nh, hop_limit: hl, src, dst,
        };
        let mut buf = vec![0u8; 40];
        h.emit(&mut buf).unwrap();
        buf.extend_from_slice(&payload);
        let (back, rest) = Ipv6Header::parse(&buf).unwrap();
        prop_assert_eq!(back, h);
        prop_assert_eq!(rest, &payload[..]);
    }

    #[test]
    fn the_checksum_matches_the_reference_and_verifies(
        src in ipv6(), dst in ipv6(), mut msg in proptest::collection::vec(any::<u8>(), 4..80),
    ) {
        msg[2] = 0;
        msg[3] = 0;
        let sum = icmpv6_checksum(src, dst, &msg);
        prop_assert_eq!(sum, reference_checksum(src, dst, &msg));
        msg[2..4].copy_from_slice(&sum.to_be_bytes());
        // The pseudo-header is never all zero, so a correct sum folds to 0xffff: exactly 0.
        prop_assert_eq!(icmpv6_checksum(src, dst, &msg), 0);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(v) = Ipv6View::new_checked(&bytes) {
            let _ = (v.traffic_class(), v.flow_label(), v.next_header(), v.hop_limit(), v.src(), v.dst());
            prop_assert_eq!(v.payload().len(), usize::from(v.payload_len()));
        }
    }
}
