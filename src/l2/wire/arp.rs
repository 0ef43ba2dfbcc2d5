//! ARP for IPv4 over Ethernet (RFC 826), the only kind a responder answers:
//!
//! ```text
//! | htype 1 (2) | ptype 0x0800 (2) | hlen 6 | plen 4 | op (2) |
//! | sender hardware address (6) | sender protocol address (4) |
//! | target hardware address (6) | target protocol address (4) |     28 bytes
//! ```
//!
//! Any other hardware type, protocol type or address length is [`ArpError::Header`]; an
//! operation other than request (1) or reply (2) (RARP, InARP, ...) is [`ArpError::Operation`].
//! Bytes after the 28 (Ethernet padding) are ignored.

use std::net::Ipv4Addr;

use super::ethernet::{self, be16, EtherType, EthernetHeader, MacAddr, Vlan};

/// Length of an ARP packet for IPv4 over Ethernet.
pub const ARP_LEN: usize = 28;
/// Hardware type Ethernet (RFC 826, IANA "Hardware Types").
pub const HTYPE_ETHERNET: u16 = 1;

/// Why a payload is not an ARP packet we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ArpError {
    #[error("ARP packet of {0} bytes is shorter than 28 bytes")]
    Truncated(usize),
    #[error("ARP htype {htype} ptype {ptype:#06x} hlen {hlen} plen {plen} is not IPv4 over Ethernet (1, 0x0800, 6, 4)")]
    Header {
        htype: u16,
        ptype: u16,
        hlen: u8,
        plen: u8,
    },
    #[error("ARP operation {0} is neither request (1) nor reply (2)")]
    Operation(u16),
    #[error("buffer of {0} bytes is too short to emit a 28-byte ARP packet")]
    BufferTooShort(usize),
}

impl ArpError {
    /// The metric label of the drop (`short`, `bad_arp_header`, `bad_arp_op`).
    pub fn label(&self) -> &'static str {
        match self {
            ArpError::Truncated(_) | ArpError::BufferTooShort(_) => "short",
            ArpError::Header { .. } => "bad_arp_header",
            ArpError::Operation(_) => "bad_arp_op",
        }
    }
}

/// The ARP operation (`ar$op`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpOp {
    Request = 1,
    Reply = 2,
}

/// A checked view over an ARP packet for IPv4 over Ethernet.
#[derive(Debug, Clone, Copy)]
pub struct ArpView<'a> {
    buf: &'a [u8],
}

impl<'a> ArpView<'a> {
    /// Checks the length first, then the fixed header fields and the operation.
    pub fn new_checked(buf: &'a [u8]) -> Result<ArpView<'a>, ArpError> {
        let buf = buf.get(..ARP_LEN).ok_or(ArpError::Truncated(buf.len()))?;
        let v = ArpView { buf };
        let (htype, ptype, hlen, plen) = (v.htype(), v.ptype(), v.hlen(), v.plen());
        if (htype, ptype, hlen, plen) != (HTYPE_ETHERNET, EtherType::IPV4, 6, 4) {
            return Err(ArpError::Header {
                htype,
                ptype,
                hlen,
                plen,
            });
        }
        v.op()?;
        Ok(v)
    }

    fn byte(&self, i: usize) -> u8 {
        self.buf.get(i).copied().unwrap_or(0)
    }

    fn ipv4(&self, at: usize) -> Ipv4Addr {
        let b = |i| self.byte(at + i);
        Ipv4Addr::new(b(0), b(1), b(2), b(3))
    }

    pub fn htype(&self) -> u16 {
        be16(self.buf, 0)
    }
    pub fn ptype(&self) -> u16 {
        be16(self.buf, 2)
    }
    pub fn hlen(&self) -> u8 {
        self.byte(4)
    }
    pub fn plen(&self) -> u8 {
        self.byte(5)
    }
    pub fn op(&self) -> Result<ArpOp, ArpError> {
        match be16(self.buf, 6) {
            1 => Ok(ArpOp::Request),
            2 => Ok(ArpOp::Reply),
            other => Err(ArpError::Operation(other)),
        }
    }
    pub fn sender_mac(&self) -> MacAddr {
        MacAddr::read(self.buf, 8).unwrap_or_default()
    }
    pub fn sender_ip(&self) -> Ipv4Addr {
        self.ipv4(14)
    }
    pub fn target_mac(&self) -> MacAddr {
        MacAddr::read(self.buf, 18).unwrap_or_default()
    }
    pub fn target_ip(&self) -> Ipv4Addr {
        self.ipv4(24)
    }
}

/// An ARP packet for IPv4 over Ethernet as a plain value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpPacket {
    pub op: ArpOp,
    pub sender_mac: MacAddr,
    pub sender_ip: Ipv4Addr,
    pub target_mac: MacAddr,
    pub target_ip: Ipv4Addr,
}

impl ArpPacket {
    /// Checks and reads an Ethernet payload (EtherType 0x0806).
    pub fn parse(buf: &[u8]) -> Result<ArpPacket, ArpError> {
        let v = ArpView::new_checked(buf)?;
        Ok(ArpPacket {
            op: v.op()?,
            sender_mac: v.sender_mac(),
            sender_ip: v.sender_ip(),
            target_mac: v.target_mac(),
            target_ip: v.target_ip(),
        })
    }

    /// Writes the 28 bytes to the start of `buf`; returns the number of bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, ArpError> {
        let len = buf.len();
        let out = buf
            .get_mut(..ARP_LEN)
            .ok_or(ArpError::BufferTooShort(len))?;
        out.copy_from_slice(&self.to_bytes());
        Ok(ARP_LEN)
    }

    /// The 28 bytes of [`ArpPacket::emit`].
    pub fn to_bytes(&self) -> [u8; ARP_LEN] {
        let mut b = [0u8; ARP_LEN];
        let fields = HTYPE_ETHERNET
            .to_be_bytes()
            .into_iter()
            .chain(EtherType::IPV4.to_be_bytes())
            .chain([6, 4])
            .chain((self.op as u16).to_be_bytes())
            .chain(self.sender_mac.0)
            .chain(self.sender_ip.octets())
            .chain(self.target_mac.0)
            .chain(self.target_ip.octets());
        for (dst, src) in b.iter_mut().zip(fields) {
            *dst = src;
        }
        b
    }

    /// Sender and target protocol addresses are the same: an announcement (RFC 5227 §3) or
    /// another host's gratuitous ARP (RFC 5944 §4.6), not a question to answer.
    pub fn is_gratuitous(&self) -> bool {
        self.sender_ip == self.target_ip
    }

    /// An ARP probe (RFC 5227 §2.1.1): a request with sender protocol address 0.0.0.0, from
    /// a host checking that nobody holds the target address.
    pub fn is_probe(&self) -> bool {
        self.op == ArpOp::Request && self.sender_ip.is_unspecified()
    }

    /// The reply to this request from the owner of its target address (RFC 826, "swap the
    /// sender and target fields, put in the local addresses, set the opcode to reply"); `None`
    /// for a reply.
    pub fn reply(&self, our_mac: MacAddr) -> Option<ArpPacket> {
        (self.op == ArpOp::Request).then(|| self.reply_unchecked(our_mac))
    }

    /// [`ArpPacket::reply`] without looking at the operation (the classifier has).
    pub(crate) fn reply_unchecked(&self, our_mac: MacAddr) -> ArpPacket {
        ArpPacket {
            op: ArpOp::Reply,
            sender_mac: our_mac,
            sender_ip: self.target_ip,
            target_mac: self.sender_mac,
            target_ip: self.sender_ip,
        }
    }

    /// Gratuitous ARP request for `ip` at `mac`: the ARP Announcement of RFC 5227 §3 (sender
    /// and target protocol address both `ip`, target hardware address zero), sent broadcast.
    pub fn gratuitous_request(mac: MacAddr, ip: Ipv4Addr) -> ArpPacket {
        ArpPacket {
            op: ArpOp::Request,
            sender_mac: mac,
            sender_ip: ip,
            target_mac: MacAddr::ZERO,
            target_ip: ip,
        }
    }

    /// Gratuitous ARP reply for `ip` at `mac` (RFC 5944 §4.6: in a reply the target hardware
    /// address is also the address caches should learn), sent broadcast.
    pub fn gratuitous_reply(mac: MacAddr, ip: Ipv4Addr) -> ArpPacket {
        ArpPacket {
            op: ArpOp::Reply,
            sender_mac: mac,
            sender_ip: ip,
            target_mac: mac,
            target_ip: ip,
        }
    }

    /// This packet in an Ethernet frame from its sender hardware address to `dst`, padded to
    /// 60 bytes.
    pub fn to_frame(&self, dst: MacAddr, vlan: Option<Vlan>) -> Vec<u8> {
        let header = EthernetHeader {
            dst,
            src: self.sender_mac,
            vlan,
            ethertype: EtherType::ARP,
        };
        ethernet::frame(&header, &self.to_bytes())
    }
}

#[cfg(test)]
mod tests;
