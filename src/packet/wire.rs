//! Small bounds-checked readers and writers for BGP wire fields: prefixes (RFC 4271 §4.3 NLRI
//! encoding), and big-endian integers read without panicking.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::BufMut;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::message::Family;

/// A reader over a byte slice that never panics: every read is checked.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Takes the next `n` bytes, or None when fewer are left.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    pub fn u8(&mut self) -> Option<u8> {
        self.take(1).and_then(|s| s.first().copied())
    }

    pub fn u16(&mut self) -> Option<u16> {
        let s = self.take(2)?;
        Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
    }

    pub fn u32(&mut self) -> Option<u32> {
        let s: [u8; 4] = self.take(4)?.try_into().ok()?;
        Some(u32::from_be_bytes(s))
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        let s = self.buf.get(self.pos..).unwrap_or(&[]);
        self.pos = self.buf.len();
        s
    }
}

/// Why a prefix list could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefixError {
    /// The prefix length exceeds the family's address size.
    TooLong(u8),
    /// The bytes end inside a prefix.
    Truncated,
}

/// Parses a list of (length, prefix bytes) NLRI entries of one family.
pub fn parse_prefixes(buf: &[u8], family: Family) -> Result<Vec<IpNet>, PrefixError> {
    let max = match family {
        Family::Ipv4Unicast => 32,
        Family::Ipv6Unicast => 128,
    };
    let mut r = Reader::new(buf);
    let mut out = Vec::new();
    while r.remaining() > 0 {
        let len = r.u8().ok_or(PrefixError::Truncated)?;
        if len > max {
            return Err(PrefixError::TooLong(len));
        }
        let bytes = r
            .take(usize::from(len).div_ceil(8))
            .ok_or(PrefixError::Truncated)?;
        out.push(prefix_from(bytes, len, family));
    }
    Ok(out)
}

fn prefix_from(bytes: &[u8], len: u8, family: Family) -> IpNet {
    match family {
        Family::Ipv4Unicast => {
            let mut a = [0u8; 4];
            a.iter_mut().zip(bytes).for_each(|(d, s)| *d = *s);
            Ipv4Net::new(Ipv4Addr::from(a), len)
                .map(|n| IpNet::V4(n.trunc()))
                .unwrap_or_default()
        }
        Family::Ipv6Unicast => {
            let mut a = [0u8; 16];
            a.iter_mut().zip(bytes).for_each(|(d, s)| *d = *s);
            Ipv6Net::new(Ipv6Addr::from(a), len)
                .map(|n| IpNet::V6(n.trunc()))
                .unwrap_or_default()
        }
    }
}

/// Encoded size of one prefix in NLRI form.
pub fn prefix_len_on_wire(p: &IpNet) -> usize {
    1 + usize::from(p.prefix_len()).div_ceil(8)
}

/// Appends one prefix in NLRI form.
pub fn put_prefix(out: &mut impl BufMut, p: &IpNet) {
    let n = usize::from(p.prefix_len()).div_ceil(8);
    out.put_u8(p.prefix_len());
    match p.addr() {
        IpAddr::V4(a) => out.put_slice(a.octets().get(..n).unwrap_or(&[])),
        IpAddr::V6(a) => out.put_slice(a.octets().get(..n).unwrap_or(&[])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_round_trip_through_nlri_encoding() {
        let ps: Vec<IpNet> = ["198.51.100.7/32", "203.0.113.0/24", "0.0.0.0/0"]
            .iter()
            .map(|s| s.parse().expect("prefix"))
            .collect();
        let mut buf = Vec::new();
        ps.iter().for_each(|p| put_prefix(&mut buf, p));
        assert_eq!(parse_prefixes(&buf, Family::Ipv4Unicast), Ok(ps));
    }

    #[test]
    fn a_prefix_longer_than_32_bits_is_refused() {
        assert_eq!(
            parse_prefixes(&[33, 1, 2, 3, 4, 5], Family::Ipv4Unicast),
            Err(PrefixError::TooLong(33))
        );
    }

    #[test]
    fn a_prefix_cut_short_is_refused() {
        assert_eq!(
            parse_prefixes(&[32, 198, 51], Family::Ipv4Unicast),
            Err(PrefixError::Truncated)
        );
        assert_eq!(
            parse_prefixes(&[129], Family::Ipv6Unicast),
            Err(PrefixError::TooLong(129))
        );
    }

    #[test]
    fn the_reader_never_reads_past_the_end() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16(), Some(0x0102));
        assert_eq!(r.u16(), None);
        assert_eq!(r.u8(), Some(3));
        assert_eq!(r.u32(), None);
    }
}
