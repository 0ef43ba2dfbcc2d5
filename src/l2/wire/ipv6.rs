//! The IPv6 fixed header (RFC 8200 §3), the ICMPv6 checksum over the pseudo-header (RFC 4443
//! §2.3, RFC 8200 §8.1) and the multicast addresses neighbor discovery sends to.
//!
//! ```text
//! |Version| Traffic Class |           Flow Label                  |
//! |         Payload Length        |  Next Header  |   Hop Limit   |
//! |                 Source Address (16)                           |
//! |               Destination Address (16)                        |   40 bytes
//! ```
//!
//! The view checks the version and that Payload Length fits the buffer, and cuts the packet
//! to it (bytes after it are Ethernet padding). Extension headers are not walked: neighbor
//! discovery messages carry none, so a responder treats any Next Header but 58 as foreign.

use std::net::Ipv6Addr;

use super::ethernet::{be16, MacAddr};

/// Length of the fixed header.
pub const HEADER_LEN: usize = 40;
/// Next Header value of ICMPv6 (IANA "Assigned Internet Protocol Numbers").
pub const NEXT_HEADER_ICMPV6: u8 = 58;
/// ff02::1, all nodes on the link.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// Why a payload is not an IPv6 packet we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Ipv6Error {
    #[error("IPv6 packet of {0} bytes is shorter than its 40-byte header")]
    Truncated(usize),
    #[error("IP version {0} in an IPv6 frame")]
    Version(u8),
    #[error("IPv6 Payload Length {length} exceeds the {available} bytes after the header")]
    PayloadExceedsBuffer { length: u16, available: usize },
    #[error("buffer of {len} bytes is too short to emit a {need}-byte IPv6 packet")]
    BufferTooShort { len: usize, need: usize },
}

impl Ipv6Error {
    /// The metric label of the drop (`short`, `bad_ipv6_header`).
    pub fn label(&self) -> &'static str {
        match self {
            Ipv6Error::Truncated(_) | Ipv6Error::BufferTooShort { .. } => "short",
            Ipv6Error::Version(_) | Ipv6Error::PayloadExceedsBuffer { .. } => "bad_ipv6_header",
        }
    }
}

/// A checked view over one IPv6 packet, cut to 40 + Payload Length bytes.
#[derive(Debug, Clone, Copy)]
pub struct Ipv6View<'a> {
    buf: &'a [u8],
}

impl<'a> Ipv6View<'a> {
    pub fn new_checked(buf: &'a [u8]) -> Result<Ipv6View<'a>, Ipv6Error> {
        if buf.len() < HEADER_LEN {
            return Err(Ipv6Error::Truncated(buf.len()));
        }
        let version = buf.first().copied().unwrap_or(0) >> 4;
        if version != 6 {
            return Err(Ipv6Error::Version(version));
        }
        let length = be16(buf, 4);
        let buf =
            buf.get(..HEADER_LEN + usize::from(length))
                .ok_or(Ipv6Error::PayloadExceedsBuffer {
                    length,
                    available: buf.len() - HEADER_LEN,
                })?;
        Ok(Ipv6View { buf })
    }

    fn byte(&self, i: usize) -> u8 {
        self.buf.get(i).copied().unwrap_or(0)
    }

    fn addr(&self, at: usize) -> Ipv6Addr {
        read_ipv6(self.buf, at).unwrap_or(Ipv6Addr::UNSPECIFIED)
    }

    pub fn traffic_class(&self) -> u8 {
        (self.byte(0) << 4) | (self.byte(1) >> 4)
    }
    pub fn flow_label(&self) -> u32 {
        (u32::from(self.byte(1) & 0x0f) << 16) | u32::from(be16(self.buf, 2))
    }
    pub fn payload_len(&self) -> u16 {
        be16(self.buf, 4)
    }
    pub fn next_header(&self) -> u8 {
        self.byte(6)
    }
    pub fn hop_limit(&self) -> u8 {
        self.byte(7)
    }
    pub fn src(&self) -> Ipv6Addr {
        self.addr(8)
    }
    pub fn dst(&self) -> Ipv6Addr {
        self.addr(24)
    }
    /// Payload Length bytes after the header.
    pub fn payload(&self) -> &'a [u8] {
        self.buf.get(HEADER_LEN..).unwrap_or_default()
    }
}

/// The 16 bytes at `at` of `buf` as an address, when they are there.
pub(crate) fn read_ipv6(buf: &[u8], at: usize) -> Option<Ipv6Addr> {
    let end = at.checked_add(16)?;
    buf.get(at..end)
        .and_then(|s| <[u8; 16]>::try_from(s).ok())
        .map(Ipv6Addr::from)
}

/// The IPv6 fixed header as a plain value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Header {
    pub traffic_class: u8,
    /// 20 bits.
    pub flow_label: u32,
    pub payload_len: u16,
    pub next_header: u8,
    pub hop_limit: u8,
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
}

impl Ipv6Header {
    /// Checks and reads a packet; returns the header and its Payload Length bytes of payload.
    pub fn parse(buf: &[u8]) -> Result<(Ipv6Header, &[u8]), Ipv6Error> {
        let v = Ipv6View::new_checked(buf)?;
        let header = Ipv6Header {
            traffic_class: v.traffic_class(),
            flow_label: v.flow_label(),
            payload_len: v.payload_len(),
            next_header: v.next_header(),
            hop_limit: v.hop_limit(),
            src: v.src(),
            dst: v.dst(),
        };
        Ok((header, v.payload()))
    }

    /// Writes the 40-byte header to the start of `buf`; returns the number of bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Ipv6Error> {
        let len = buf.len();
        let out = buf.get_mut(..HEADER_LEN).ok_or(Ipv6Error::BufferTooShort {
            len,
            need: HEADER_LEN,
        })?;
        let word =
            (6u32 << 28) | (u32::from(self.traffic_class) << 20) | (self.flow_label & 0xf_ffff);
        let bytes = word
            .to_be_bytes()
            .into_iter()
            .chain(self.payload_len.to_be_bytes())
            .chain([self.next_header, self.hop_limit])
            .chain(self.src.octets())
            .chain(self.dst.octets());
        for (dst, src) in out.iter_mut().zip(bytes) {
            *dst = src;
        }
        Ok(HEADER_LEN)
    }
}

/// The ICMPv6 checksum (RFC 4443 §2.3): the one's complement of the one's complement sum of
/// the pseudo-header (source, destination, upper-layer length as 32 bits, three zero bytes,
/// Next Header 58; RFC 8200 §8.1) and the ICMPv6 message, read as 16-bit words (an odd last
/// byte padded with zero). Computed over a message whose checksum field is zero it is the
/// value to write; over a received message (field included) a correct one gives 0.
pub fn icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, message: &[u8]) -> u16 {
    let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
    let pseudo = src
        .octets()
        .into_iter()
        .chain(dst.octets())
        .chain(len.to_be_bytes())
        .chain([0, 0, 0, NEXT_HEADER_ICMPV6]);
    let mut sum: u32 = 0;
    let mut add = |bytes: &mut dyn Iterator<Item = u8>| {
        while let Some(hi) = bytes.next() {
            let lo = bytes.next().unwrap_or(0);
            sum += u32::from(u16::from_be_bytes([hi, lo]));
            sum = (sum & 0xffff) + (sum >> 16);
        }
    };
    add(&mut pseudo.into_iter());
    add(&mut message.iter().copied());
    !(sum as u16)
}

/// The solicited-node multicast address of `addr` (RFC 4291 §2.7.1): ff02::1:ff00:0/104 with
/// the low 24 bits of `addr`. A Neighbor Solicitation for `addr` goes there.
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    let mut group = [0u8; 16];
    group[..2].copy_from_slice(&[0xff, 0x02]);
    group[11..13].copy_from_slice(&[0x01, 0xff]);
    group[13..].copy_from_slice(&o[13..]);
    Ipv6Addr::from(group)
}

/// The Ethernet address of an IPv6 multicast group (RFC 2464 §7): 33:33 and the group's low
/// 32 bits.
pub fn multicast_mac(group: Ipv6Addr) -> MacAddr {
    let o = group.octets();
    MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

#[cfg(test)]
mod tests;
