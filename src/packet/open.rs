//! OPEN message body (RFC 4271 §4.2) with capabilities (RFC 5492): encoding, and decoding that
//! maps every defect to its NOTIFICATION (2/1, 2/2, 2/3, 2/4, 2/6, 2/0).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use bytes::BufMut;

use super::codes::OpenSubcode;
use super::message::{Capabilities, Family, GracefulRestart, Notification, Open};
use super::wire::Reader;

const CAP_MULTIPROTOCOL: u8 = 1;
const CAP_ROUTE_REFRESH: u8 = 2;
const CAP_EXTENDED_MESSAGE: u8 = 6;
const CAP_GRACEFUL_RESTART: u8 = 64;
const CAP_FOUR_OCTET_AS: u8 = 65;
const PARAM_CAPABILITIES: u8 = 2;

/// An OPEN cut short or inconsistent in itself: 2/0, as no subcode names it.
fn unspecific() -> Notification {
    Notification::open(OpenSubcode::Unspecific)
}

/// Decodes an OPEN body (the bytes after the 19-byte header).
pub fn decode(body: &[u8]) -> Result<Open, Notification> {
    let mut r = Reader::new(body);
    let version = r.u8().ok_or_else(unspecific)?;
    if version != 4 {
        // Data: the largest version we support, as 2 octets (RFC 4271 §6.2).
        return Err(Notification::open(OpenSubcode::UnsupportedVersionNumber).with_data(vec![0, 4]));
    }
    let my_as = r.u16().ok_or_else(unspecific)?;
    let hold_time = r.u16().ok_or_else(unspecific)?;
    let id = r.u32().ok_or_else(unspecific)?;
    let opt_len = r.u8().ok_or_else(unspecific)?;
    if my_as == 0 {
        return Err(Notification::open(OpenSubcode::BadPeerAs));
    }
    if hold_time == 1 || hold_time == 2 {
        return Err(Notification::open(OpenSubcode::UnacceptableHoldTime));
    }
    let router_id = Ipv4Addr::from(id);
    if id == 0 || router_id.is_broadcast() || router_id.is_multicast() {
        return Err(Notification::open(OpenSubcode::BadBgpIdentifier));
    }
    if usize::from(opt_len) != r.remaining() {
        return Err(unspecific());
    }
    let capabilities = decode_params(r.rest())?;
    if capabilities.four_octet_as == Some(0) {
        return Err(Notification::open(OpenSubcode::BadPeerAs));
    }
    Ok(Open {
        my_as,
        hold_time,
        router_id,
        capabilities,
    })
}

fn decode_params(buf: &[u8]) -> Result<Capabilities, Notification> {
    let mut caps = Capabilities::default();
    let mut r = Reader::new(buf);
    while r.remaining() > 0 {
        let kind = r.u8().ok_or_else(unspecific)?;
        let len = r.u8().ok_or_else(unspecific)?;
        let value = r.take(usize::from(len)).ok_or_else(unspecific)?;
        if kind != PARAM_CAPABILITIES {
            return Err(
                Notification::open(OpenSubcode::UnsupportedOptionalParameter).with_data(vec![kind]),
            );
        }
        decode_capabilities(value, &mut caps)?;
    }
    Ok(caps)
}

fn decode_capabilities(buf: &[u8], caps: &mut Capabilities) -> Result<(), Notification> {
    let mut r = Reader::new(buf);
    while r.remaining() > 0 {
        let code = r.u8().ok_or_else(unspecific)?;
        let len = r.u8().ok_or_else(unspecific)?;
        let value = r.take(usize::from(len)).ok_or_else(unspecific)?;
        let mut v = Reader::new(value);
        match code {
            CAP_MULTIPROTOCOL => {
                let (afi, _reserved, safi) = (v.u16(), v.u8(), v.u8());
                match (afi, safi, v.remaining()) {
                    (Some(afi), Some(safi), 0) => {
                        if let Some(f) = Family::from_afi_safi(afi, safi) {
                            caps.families.insert(f);
                        }
                    }
                    _ => return Err(unspecific()),
                }
            }
            CAP_ROUTE_REFRESH => caps.route_refresh = true,
            CAP_EXTENDED_MESSAGE => caps.extended_message = true,
            CAP_GRACEFUL_RESTART => caps.graceful_restart = Some(decode_graceful_restart(value)?),
            CAP_FOUR_OCTET_AS => match (v.u32(), v.remaining()) {
                (Some(asn), 0) => caps.four_octet_as = Some(asn),
                _ => return Err(unspecific()),
            },
            _ => {} // unknown capabilities are ignored (RFC 5492 §3)
        }
    }
    Ok(())
}

/// Restart flags and time, then (AFI, SAFI, flags) per family (RFC 4724 §3). Families we do not
/// know are skipped; a length that is not 2 + 4n is a malformed capability.
fn decode_graceful_restart(value: &[u8]) -> Result<GracefulRestart, Notification> {
    let mut v = Reader::new(value);
    let head = v.u16().ok_or_else(unspecific)?;
    if !v.remaining().is_multiple_of(4) {
        return Err(unspecific());
    }
    let mut gr = GracefulRestart {
        restarting: head & 0x8000 != 0,
        restart_time: head & 0x0fff,
        families: Vec::new(),
    };
    while let (Some(afi), Some(safi), Some(flags)) = (v.u16(), v.u8(), v.u8()) {
        if let Some(f) = Family::from_afi_safi(afi, safi) {
            gr.families.push((f, flags & 0x80 != 0));
        }
    }
    Ok(gr)
}

/// Encodes an OPEN body; all capabilities go in one Capabilities optional parameter.
pub fn encode(open: &Open, out: &mut impl BufMut) {
    let caps = encode_capabilities(&open.capabilities);
    out.put_u8(4);
    out.put_u16(open.my_as);
    out.put_u16(open.hold_time);
    out.put_slice(&open.router_id.octets());
    if caps.is_empty() {
        out.put_u8(0);
    } else {
        // A capability list is at most a handful of bytes; it always fits in one parameter.
        out.put_u8((caps.len() + 2) as u8);
        out.put_u8(PARAM_CAPABILITIES);
        out.put_u8(caps.len() as u8);
        out.put_slice(&caps);
    }
}

fn encode_capabilities(caps: &Capabilities) -> Vec<u8> {
    let mut out = Vec::new();
    let families: &BTreeSet<Family> = &caps.families;
    for f in families {
        let (afi, safi) = f.afi_safi();
        out.extend_from_slice(&[CAP_MULTIPROTOCOL, 4]);
        out.extend_from_slice(&afi.to_be_bytes());
        out.extend_from_slice(&[0, safi]);
    }
    if caps.route_refresh {
        out.extend_from_slice(&[CAP_ROUTE_REFRESH, 0]);
    }
    if caps.extended_message {
        out.extend_from_slice(&[CAP_EXTENDED_MESSAGE, 0]);
    }
    if let Some(gr) = &caps.graceful_restart {
        // At most two families: the value never nears 255 bytes.
        out.extend_from_slice(&[CAP_GRACEFUL_RESTART, (2 + 4 * gr.families.len()) as u8]);
        let flags: u16 = if gr.restarting { 0x8000 } else { 0 };
        out.extend_from_slice(&(flags | (gr.restart_time & 0x0fff)).to_be_bytes());
        for (f, forwarding) in &gr.families {
            let (afi, safi) = f.afi_safi();
            out.extend_from_slice(&afi.to_be_bytes());
            out.extend_from_slice(&[safi, if *forwarding { 0x80 } else { 0 }]);
        }
    }
    if let Some(asn) = caps.four_octet_as {
        out.extend_from_slice(&[CAP_FOUR_OCTET_AS, 4]);
        out.extend_from_slice(&asn.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Open {
        Open {
            my_as: 23456,
            hold_time: 90,
            router_id: Ipv4Addr::new(192, 0, 2, 10),
            capabilities: Capabilities {
                families: [Family::Ipv4Unicast, Family::Ipv6Unicast].into(),
                four_octet_as: Some(4_200_000_000),
                route_refresh: true,
                extended_message: true,
                graceful_restart: Some(GracefulRestart {
                    restarting: true,
                    restart_time: 120,
                    families: vec![(Family::Ipv4Unicast, true), (Family::Ipv6Unicast, false)],
                }),
            },
        }
    }

    fn body(open: &Open) -> Vec<u8> {
        let mut out = Vec::new();
        encode(open, &mut out);
        out
    }

    #[test]
    fn open_round_trips_with_capabilities() {
        let open = sample();
        let decoded = decode(&body(&open)).expect("decode");
        assert_eq!(decoded, open);
        assert_eq!(decoded.asn(), 4_200_000_000);
    }

    #[test]
    fn version_3_gives_notification_2_1_with_supported_version() {
        let mut b = body(&sample());
        b[0] = 3;
        assert_eq!(
            decode(&b),
            Err(Notification::open(OpenSubcode::UnsupportedVersionNumber).with_data(vec![0, 4]))
        );
    }

    #[test]
    fn my_as_zero_gives_notification_2_2() {
        let mut b = body(&sample());
        b[1] = 0;
        b[2] = 0;
        assert_eq!(decode(&b).map_err(|n| (n.code, n.subcode)), Err((2, 2)));
    }

    #[test]
    fn four_octet_as_zero_gives_notification_2_2() {
        let mut open = sample();
        open.capabilities.four_octet_as = Some(0);
        assert_eq!(
            decode(&body(&open)).map_err(|n| (n.code, n.subcode)),
            Err((2, 2))
        );
    }

    #[test]
    fn router_id_zero_gives_notification_2_3() {
        let mut open = sample();
        open.router_id = Ipv4Addr::UNSPECIFIED;
        assert_eq!(
            decode(&body(&open)).map_err(|n| (n.code, n.subcode)),
            Err((2, 3))
        );
    }

    #[test]
    fn hold_time_1_and_2_give_notification_2_6() {
        for hold in [1, 2] {
            let mut open = sample();
            open.hold_time = hold;
            assert_eq!(
                decode(&body(&open)).map_err(|n| (n.code, n.subcode)),
                Err((2, 6))
            );
        }
    }

    #[test]
    fn hold_time_0_and_3_are_accepted() {
        for hold in [0, 3] {
            let mut open = sample();
            open.hold_time = hold;
            assert!(decode(&body(&open)).is_ok());
        }
    }

    #[test]
    fn an_optional_parameter_other_than_capabilities_gives_notification_2_4() {
        let b = [4, 0xfd, 0xe8, 0, 90, 192, 0, 2, 1, 3, 1, 1, 0];
        assert_eq!(decode(&b).map_err(|n| (n.code, n.subcode)), Err((2, 4)));
    }

    #[test]
    fn a_capability_cut_short_gives_notification_2_0() {
        // Capabilities parameter of length 4 holding a 4-octet-AS capability that claims 4 bytes.
        let b = [4, 0xfd, 0xe8, 0, 90, 192, 0, 2, 1, 6, 2, 4, 65, 4, 0, 0];
        assert_eq!(decode(&b).map_err(|n| (n.code, n.subcode)), Err((2, 0)));
    }

    #[test]
    fn an_optional_parameter_length_that_disagrees_with_the_message_gives_2_0() {
        let mut b = body(&sample());
        b[9] = b[9].wrapping_add(1);
        assert_eq!(decode(&b).map_err(|n| (n.code, n.subcode)), Err((2, 0)));
    }

    #[test]
    fn a_truncated_open_never_panics() {
        let b = body(&sample());
        for n in 0..b.len() {
            let _ = decode(&b[..n]);
        }
    }

    #[test]
    fn unknown_capabilities_are_ignored() {
        let b = [4, 0xfd, 0xe8, 0, 90, 192, 0, 2, 1, 4, 2, 2, 0x49, 0];
        let open = decode(&b).expect("decode");
        assert_eq!(open.capabilities, Capabilities::default());
    }

    #[test]
    fn graceful_restart_capability_has_the_rfc_4724_layout() {
        let caps = encode_capabilities(&sample().capabilities);
        // code 64, length 2 + 2 * 4, R bit + 120 s, then IPv4/unicast with F, IPv6/unicast without.
        let gr = [64, 10, 0x80, 120, 0, 1, 1, 0x80, 0, 2, 1, 0];
        assert!(caps.windows(gr.len()).any(|w| w == gr), "{caps:?}");
        assert!(
            caps.windows(2).any(|w| w == [6, 0]),
            "extended message capability"
        );
    }

    #[test]
    fn graceful_restart_of_a_bad_length_gives_notification_2_0() {
        // Capabilities parameter holding graceful restart with a 3-byte value.
        let b = [
            4, 0xfd, 0xe8, 0, 90, 192, 0, 2, 1, 7, 2, 5, 64, 3, 0, 120, 0,
        ];
        assert_eq!(decode(&b).map_err(|n| (n.code, n.subcode)), Err((2, 0)));
    }
}
