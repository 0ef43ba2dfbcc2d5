//! BFD Control packet tests: one packet laid out by hand from RFC 5880 §4.1 read both ways, every
//! rejection of the checked view, and properties (round trip, arbitrary bytes never panic).

use proptest::prelude::*;

use super::*;

/// Up, no diagnostic, Detect Mult 3, My 0x11223344, Your 0x55667788, Desired Min TX 1 s,
/// Required Min RX 300 ms, Required Min Echo RX 0: written out field by field.
const UP_PACKET: [u8; 24] = [
    0x20, // Vers 1 (001), Diag 0 (00000)
    0xc0, // Sta Up (11), P F C A D M all 0
    0x03, // Detect Mult
    0x18, // Length 24
    0x11, 0x22, 0x33, 0x44, // My Discriminator
    0x55, 0x66, 0x77, 0x88, // Your Discriminator
    0x00, 0x0f, 0x42, 0x40, // Desired Min TX Interval 1 000 000 µs
    0x00, 0x04, 0x93, 0xe0, // Required Min RX Interval 300 000 µs
    0x00, 0x00, 0x00, 0x00, // Required Min Echo RX Interval
];

fn up_packet() -> ControlPacket {
    ControlPacket {
        diag: Diag::NoDiagnostic,
        state: State::Up,
        poll: false,
        final_: false,
        control_plane_independent: false,
        auth_present: false,
        demand: false,
        multipoint: false,
        detect_mult: 3,
        my_discr: 0x1122_3344,
        your_discr: 0x5566_7788,
        desired_min_tx: 1_000_000,
        required_min_rx: 300_000,
        required_min_echo_rx: 0,
    }
}

#[test]
fn the_rfc_layout_parses_field_by_field() {
    assert_eq!(ControlPacket::parse(&UP_PACKET), Ok(up_packet()));
}

#[test]
fn emit_writes_the_rfc_layout_byte_for_byte() {
    assert_eq!(up_packet().to_bytes(), UP_PACKET);
    let mut buf = [0xffu8; 30];
    assert_eq!(up_packet().emit(&mut buf), Ok(24));
    assert_eq!(&buf[..24], &UP_PACKET);
    assert_eq!(&buf[24..], &[0xff; 6], "emit writes 24 bytes only");
}

#[test]
fn every_flag_and_the_diag_sit_at_their_bits() {
    let p = ControlPacket {
        diag: Diag::AdministrativelyDown,
        state: State::Init,
        poll: true,
        final_: false,
        control_plane_independent: true,
        demand: true,
        ..up_packet()
    };
    let b = p.to_bytes();
    assert_eq!(b[0], 0x27, "version 1, diag 7");
    assert_eq!(b[1], 0x80 | 0x20 | 0x08 | 0x02, "Init, P, C, D");
    assert_eq!(ControlPacket::parse(&b), Ok(p));
    let f = ControlPacket {
        poll: false,
        final_: true,
        state: State::AdminDown,
        ..p
    };
    assert_eq!(f.to_bytes()[1], 0x10 | 0x08 | 0x02);
}

#[test]
fn emit_into_a_short_buffer_is_an_error() {
    assert_eq!(
        up_packet().emit(&mut [0u8; 23]),
        Err(BfdError::BufferTooShort(23))
    );
}

#[test]
fn trailing_bytes_beyond_length_are_not_part_of_the_view() {
    let mut b = UP_PACKET.to_vec();
    b.extend_from_slice(&[0xaa; 8]);
    let v = ControlView::new_checked(&b).unwrap();
    assert_eq!(v.length(), 24);
    assert_eq!(ControlPacket::from_view(&v), up_packet());
}

fn with(edit: impl FnOnce(&mut [u8; 24])) -> [u8; 24] {
    let mut b = UP_PACKET;
    edit(&mut b);
    b
}

#[test]
fn a_packet_shorter_than_24_bytes_is_truncated() {
    for n in 0..24 {
        assert_eq!(
            ControlView::new_checked(&UP_PACKET[..n]).err(),
            Some(BfdError::Truncated(n))
        );
    }
}

#[test]
fn a_version_other_than_1_is_refused() {
    for v in [0u8, 2, 7] {
        let b = with(|b| b[0] = v << 5);
        assert_eq!(ControlPacket::parse(&b), Err(BfdError::Version(v)));
    }
}

#[test]
fn a_length_field_below_24_is_refused() {
    let b = with(|b| b[3] = 23);
    assert_eq!(
        ControlPacket::parse(&b),
        Err(BfdError::LengthTooSmall {
            length: 23,
            min: 24
        })
    );
}

#[test]
fn a_length_field_beyond_the_datagram_is_refused() {
    let b = with(|b| b[3] = 25);
    assert_eq!(
        ControlPacket::parse(&b),
        Err(BfdError::LengthExceedsBuffer {
            length: 25,
            available: 24
        })
    );
}

#[test]
fn detect_mult_zero_is_refused() {
    let b = with(|b| b[2] = 0);
    assert_eq!(ControlPacket::parse(&b), Err(BfdError::ZeroDetectMult));
}

#[test]
fn the_multipoint_bit_is_refused() {
    let b = with(|b| b[1] |= 0x01);
    assert_eq!(ControlPacket::parse(&b), Err(BfdError::Multipoint));
}

#[test]
fn my_discriminator_zero_is_refused() {
    let b = with(|b| b[4..8].fill(0));
    assert_eq!(ControlPacket::parse(&b), Err(BfdError::ZeroMyDiscriminator));
}

fn with_auth(section: &[u8]) -> Vec<u8> {
    let mut b = with(|b| b[1] |= 0x04).to_vec();
    b.extend_from_slice(section);
    b[3] = b.len() as u8;
    b
}

#[test]
fn the_a_bit_needs_at_least_26_bytes() {
    let b = with(|b| b[1] |= 0x04);
    assert_eq!(
        ControlPacket::parse(&b),
        Err(BfdError::LengthTooSmall {
            length: 24,
            min: 26
        })
    );
}

#[test]
fn an_auth_section_that_fits_is_read_and_flagged() {
    // Simple Password (type 1), Auth Len 5: key id 1, password "ab".
    let b = with_auth(&[1, 5, 1, b'a', b'b']);
    let v = ControlView::new_checked(&b).unwrap();
    assert_eq!(v.auth_header(), Some((1, 5)));
    assert!(ControlPacket::from_view(&v).auth_present);
    // Keyed MD5 (type 2), 24 bytes.
    let mut md5 = vec![2, 24];
    md5.resize(24, 0);
    assert!(ControlView::new_checked(&with_auth(&md5)).is_ok());
}

#[test]
fn an_auth_section_longer_than_the_packet_is_refused() {
    let mut b = with_auth(&[1, 5, 1, b'a', b'b']);
    b[25] = 9;
    assert_eq!(
        ControlPacket::parse(&b),
        Err(BfdError::AuthLength {
            auth_type: 1,
            auth_len: 9,
            length: 29
        })
    );
}

#[test]
fn an_auth_section_of_the_wrong_size_for_its_type_is_refused() {
    let mut md5 = vec![2, 20];
    md5.resize(24, 0);
    assert!(matches!(
        ControlPacket::parse(&with_auth(&md5)),
        Err(BfdError::AuthLength { auth_type: 2, .. })
    ));
    assert!(matches!(
        ControlPacket::parse(&with_auth(&[1, 3, 1])),
        Err(BfdError::AuthLength { auth_type: 1, .. })
    ));
}

#[test]
fn states_and_diags_read_in_words() {
    assert_eq!(State::AdminDown.to_string(), "admin_down");
    assert_eq!(State::Up.to_string(), "up");
    assert_eq!(
        Diag::ControlDetectionTimeExpired.to_string(),
        "control detection time expired"
    );
    assert_eq!(
        Diag::NeighborSignaledSessionDown.to_string(),
        "neighbor signaled session down"
    );
    assert_eq!(Diag::from_bits(9).to_string(), "reserved diagnostic 9");
    for code in 0..32u8 {
        assert_eq!(Diag::from_bits(code).bits(), code);
    }
}

fn state() -> impl Strategy<Value = State> {
    (0u8..4).prop_map(State::from_bits)
}

/// Every packet the view accepts and `emit` can write (no M bit, no authentication section).
pub(crate) fn valid_packet() -> impl Strategy<Value = ControlPacket> {
    (
        (0u8..32, state(), any::<[bool; 4]>(), 1u8..=255),
        (1u32.., any::<u32>(), any::<[u32; 3]>()),
    )
        .prop_map(|((diag, state, f, mult), (my, your, iv))| ControlPacket {
            diag: Diag::from_bits(diag),
            state,
            poll: f[0],
            final_: f[1],
            control_plane_independent: f[2],
            auth_present: false,
            demand: f[3],
            multipoint: false,
            detect_mult: mult,
            my_discr: my,
            your_discr: your,
            desired_min_tx: iv[0],
            required_min_rx: iv[1],
            required_min_echo_rx: iv[2],
        })
}

proptest! {
    #[test]
    fn parse_of_emit_is_the_packet(p in valid_packet()) {
        prop_assert_eq!(ControlPacket::parse(&p.to_bytes()), Ok(p));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(v) = ControlView::new_checked(&bytes) {
            let p = ControlPacket::from_view(&v);
            prop_assert!(p.detect_mult != 0 && p.my_discr != 0 && !p.multipoint);
            prop_assert!(usize::from(v.length()) <= bytes.len());
        }
    }

    #[test]
    fn header_shaped_bytes_never_panic(mut b in any::<[u8; 24]>(), extra in proptest::collection::vec(any::<u8>(), 0..40)) {
        // Mostly version 1 with a plausible length, so the later checks are reached.
        b[0] = (b[0] & 0x1f) | 0x20;
        let mut bytes = b.to_vec();
        bytes.extend(extra);
        bytes[3] = b[3] % (bytes.len() as u8 + 4);
        let _ = ControlPacket::parse(&bytes);
    }
}
