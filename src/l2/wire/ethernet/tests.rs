//! Ethernet header tests: the captured ARP request's header, an 802.1Q tag read and written,
//! stacked tags and short frames refused, MAC display, and properties.

use proptest::prelude::*;

use super::super::captures::{LINUX_ARP_REQUEST, MAC_A};
use super::*;

#[test]
fn the_captured_header_reads_field_by_field() {
    let (h, payload) = EthernetHeader::parse(&LINUX_ARP_REQUEST).unwrap();
    assert_eq!(h.dst, MacAddr::BROADCAST);
    assert_eq!(h.src, MacAddr(MAC_A));
    assert_eq!(h.vlan, None);
    assert_eq!(h.ethertype, EtherType::ARP);
    assert_eq!(payload, &LINUX_ARP_REQUEST[14..]);
}

#[test]
fn emit_writes_the_captured_header() {
    let (h, _) = EthernetHeader::parse(&LINUX_ARP_REQUEST).unwrap();
    let mut buf = [0u8; 14];
    assert_eq!(h.emit(&mut buf), Ok(14));
    assert_eq!(buf, LINUX_ARP_REQUEST[..14]);
}

/// dst, src, 0x8100, PCP 5 DEI 1 VID 0x123, EtherType IPv6.
const TAGGED: [u8; 18] = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x81, 0x00, 0xb1, 0x23, 0x86, 0xdd,
];

#[test]
fn an_802_1q_tag_is_read_and_its_vid_reported() {
    let (h, payload) = EthernetHeader::parse(&TAGGED).unwrap();
    assert_eq!(
        h.vlan,
        Some(Vlan {
            pcp: 5,
            dei: true,
            vid: 0x123
        })
    );
    assert_eq!(h.ethertype, EtherType::IPV6);
    assert_eq!(h.header_len(), 18);
    assert!(payload.is_empty());
    let mut buf = [0u8; 18];
    assert_eq!(h.emit(&mut buf), Ok(18));
    assert_eq!(buf, TAGGED);
}

#[test]
fn a_stacked_tag_is_refused() {
    let mut b = TAGGED;
    b[16..18].copy_from_slice(&[0x81, 0x00]);
    assert_eq!(
        EthernetHeader::parse(&b).unwrap_err(),
        EthernetError::StackedVlan
    );
    assert_eq!(EthernetError::StackedVlan.label(), "stacked_vlan");
}

#[test]
fn short_frames_are_truncated() {
    for len in 0..14 {
        let err = EthernetHeader::parse(&LINUX_ARP_REQUEST[..len]).unwrap_err();
        assert_eq!(err, EthernetError::Truncated { len, min: 14 });
        assert_eq!(err.label(), "short");
    }
    for len in 14..18 {
        let err = EthernetHeader::parse(&TAGGED[..len]).unwrap_err();
        assert_eq!(err, EthernetError::Truncated { len, min: 18 });
    }
}

#[test]
fn emit_into_a_short_buffer_is_an_error() {
    let (h, _) = EthernetHeader::parse(&TAGGED).unwrap();
    assert_eq!(
        h.emit(&mut [0u8; 17]),
        Err(EthernetError::BufferTooShort { len: 17, need: 18 })
    );
}

#[test]
fn frame_pads_to_60_bytes_and_leaves_longer_ones_alone() {
    let (h, _) = EthernetHeader::parse(&LINUX_ARP_REQUEST).unwrap();
    let f = frame(&h, &LINUX_ARP_REQUEST[14..]);
    assert_eq!(f.len(), 60);
    assert_eq!(&f[..42], &LINUX_ARP_REQUEST);
    assert!(f[42..].iter().all(|b| *b == 0));
    assert_eq!(frame(&h, &[7u8; 100]).len(), 114);
}

#[test]
fn mac_addresses_display_in_lowercase_colon_hex() {
    let mac = MacAddr([0x02, 0x00, 0x5e, 0x10, 0xab, 0xff]);
    assert_eq!(mac.to_string(), "02:00:5e:10:ab:ff");
    assert!(!mac.is_multicast());
    assert!(MacAddr([0x33, 0x33, 0, 0, 0, 1]).is_multicast());
    assert!(MacAddr::BROADCAST.is_multicast() && MacAddr::BROADCAST.is_broadcast());
}

pub(crate) fn mac() -> impl Strategy<Value = MacAddr> {
    any::<[u8; 6]>().prop_map(MacAddr)
}

pub(crate) fn vlan() -> impl Strategy<Value = Option<Vlan>> {
    proptest::option::of(
        (0u8..8, any::<bool>(), 0u16..4096).prop_map(|(pcp, dei, vid)| Vlan { pcp, dei, vid }),
    )
}

proptest! {
    #[test]
    fn parse_of_emit_is_the_header(
        dst in mac(), src in mac(), vlan in vlan(),
        ethertype in any::<u16>().prop_filter("not a tag", |t| *t != EtherType::VLAN),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let h = EthernetHeader { dst, src, vlan, ethertype };
        let f = frame(&h, &payload);
        let (back, rest) = EthernetHeader::parse(&f).unwrap();
        prop_assert_eq!(back, h);
        prop_assert_eq!(&rest[..payload.len()], &payload[..]);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
        if let Ok(v) = EthernetView::new_checked(&bytes) {
            let _ = (v.dst(), v.src(), v.vlan(), v.ethertype(), v.payload());
            prop_assert!(v.header_len() <= bytes.len());
        }
    }
}
