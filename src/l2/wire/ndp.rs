//! Neighbor Solicitation and Neighbor Advertisement (RFC 4861 §4.3, §4.4) in their IPv6
//! packet, with the validation of §7.1.1 and §7.1.2.
//!
//! ```text
//! NS: | Type 135 | Code 0 | Checksum (2) | Reserved (4)                      |
//!     | Target Address (16) | options: Source Link-Layer Address (type 1)    |
//! NA: | Type 136 | Code 0 | Checksum (2) |R|S|O| Reserved (29 bits)          |
//!     | Target Address (16) | options: Target Link-Layer Address (type 2)    |
//! option: | Type | Length (units of 8 bytes, 0 invalid) | value ...          |
//! ```
//!
//! [`NdpPacket::parse`] takes the IPv6 packet (the Ethernet payload) and refuses, each with
//! its own [`NdpError`]: Next Header other than 58, an ICMPv6 type other than 135/136, a Code
//! other than 0, a Hop Limit other than 255 (the packet crossed a router), an ICMPv6 length
//! under 24, a bad checksum, an option of length 0 or running past the end (§4.6: drop the
//! packet), an Ethernet link-layer option whose length is not 1, a multicast target, an NS
//! from :: that is not to the solicited-node group or carries a source link-layer option, and
//! an NA to a multicast address with the Solicited flag. Unknown options are skipped (§4.6).
//! [`NdpPacket::emit`] writes Hop Limit 255 and the checksum; at most one link-layer option.

use std::net::Ipv6Addr;

use super::ethernet::{self, EtherType, EthernetHeader, MacAddr, Vlan};
use super::ipv6::{self, icmpv6_checksum, read_ipv6, Ipv6Error, Ipv6Header, Ipv6View};

pub const NEIGHBOR_SOLICIT: u8 = 135;
pub const NEIGHBOR_ADVERT: u8 = 136;
/// The Hop Limit every NDP message is sent with and must arrive with (§7.1).
pub const HOP_LIMIT: u8 = 255;
/// ICMPv6 header, flags/reserved and target: the length of an NS or NA without options.
pub const MESSAGE_LEN: usize = 24;
const OPT_SOURCE_LL: u8 = 1;
const OPT_TARGET_LL: u8 = 2;
const FLAG_R: u8 = 0x80;
const FLAG_S: u8 = 0x40;
const FLAG_O: u8 = 0x20;

/// Why an IPv6 packet is not an NS or NA we accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NdpError {
    #[error(transparent)]
    Ipv6(#[from] Ipv6Error),
    #[error("IPv6 Next Header {0} is not ICMPv6 (58)")]
    NextHeader(u8),
    #[error("ICMPv6 type {0} is neither Neighbor Solicitation (135) nor Advertisement (136)")]
    NotNeighborDiscovery(u8),
    #[error("ICMPv6 Code {0} in a neighbor discovery message (must be 0)")]
    Code(u8),
    #[error("neighbor discovery message with Hop Limit {0} (must be 255: it crossed a router)")]
    HopLimit(u8),
    #[error("ICMPv6 message of {0} bytes is shorter than 24")]
    Truncated(usize),
    #[error("ICMPv6 checksum {found:#06x} does not match the pseudo-header and message")]
    Checksum { found: u16 },
    #[error("neighbor discovery option {kind} at offset {at} has length 0")]
    ZeroLengthOption { kind: u8, at: usize },
    #[error("neighbor discovery option at offset {at} runs past the end of the message")]
    OptionOverrun { at: usize },
    #[error("link-layer address option of {0} units is not the 1 unit of an Ethernet address")]
    LinkLayerLength(u8),
    #[error("target address {0} is multicast")]
    MulticastTarget(Ipv6Addr),
    #[error("duplicate address detection NS (from ::) to {dst}, not to the solicited-node group")]
    DadDestination { dst: Ipv6Addr },
    #[error("duplicate address detection NS (from ::) carries a source link-layer address")]
    DadSourceLinkLayer,
    #[error("Neighbor Advertisement to multicast {0} has the Solicited flag")]
    SolicitedToMulticast(Ipv6Addr),
    #[error("buffer of {len} bytes is too short to emit a {need}-byte NDP packet")]
    BufferTooShort { len: usize, need: usize },
}

impl NdpError {
    /// The metric label of the drop.
    pub fn label(&self) -> &'static str {
        match self {
            NdpError::Ipv6(e) => e.label(),
            NdpError::NextHeader(_) => "not_icmpv6",
            NdpError::NotNeighborDiscovery(_) => "not_ns_or_na",
            NdpError::Code(_) => "bad_icmpv6_code",
            NdpError::HopLimit(_) => "bad_hop_limit",
            NdpError::Truncated(_) => "bad_icmpv6_length",
            NdpError::Checksum { .. } => "bad_checksum",
            NdpError::ZeroLengthOption { .. }
            | NdpError::OptionOverrun { .. }
            | NdpError::LinkLayerLength(_) => "bad_option",
            NdpError::MulticastTarget(_) => "bad_target",
            NdpError::DadDestination { .. } | NdpError::DadSourceLinkLayer => "bad_dad",
            NdpError::SolicitedToMulticast(_) => "bad_na_flags",
            NdpError::BufferTooShort { .. } => "short",
        }
    }
}

/// A Neighbor Solicitation (§4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NeighborSolicit {
    pub target: Ipv6Addr,
    /// The Source Link-Layer Address option (absent in DAD, §7.1.1).
    pub source_mac: Option<MacAddr>,
}

/// A Neighbor Advertisement (§4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NeighborAdvert {
    pub router: bool,
    pub solicited: bool,
    pub override_: bool,
    pub target: Ipv6Addr,
    /// The Target Link-Layer Address option.
    pub target_mac: Option<MacAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NdpMessage {
    Solicit(NeighborSolicit),
    Advert(NeighborAdvert),
}

/// An NS or NA with the IPv6 addresses it travels between (Hop Limit is always 255, traffic
/// class and flow label 0 on emit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NdpPacket {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub message: NdpMessage,
}

/// A checked view over one ICMPv6 NS or NA: type, code, length, checksum and options are valid.
#[derive(Debug, Clone, Copy)]
pub struct NdpView<'a> {
    buf: &'a [u8],
}

impl<'a> NdpView<'a> {
    /// Checks the ICMPv6 message `buf` that came from `src` to `dst` with `hop_limit`.
    pub fn new_checked(
        buf: &'a [u8],
        src: Ipv6Addr,
        dst: Ipv6Addr,
        hop_limit: u8,
    ) -> Result<NdpView<'a>, NdpError> {
        let kind = *buf.first().ok_or(NdpError::Truncated(0))?;
        if kind != NEIGHBOR_SOLICIT && kind != NEIGHBOR_ADVERT {
            return Err(NdpError::NotNeighborDiscovery(kind));
        }
        let code = buf.get(1).copied().unwrap_or(0);
        if code != 0 {
            return Err(NdpError::Code(code));
        }
        if hop_limit != HOP_LIMIT {
            return Err(NdpError::HopLimit(hop_limit));
        }
        if buf.len() < MESSAGE_LEN {
            return Err(NdpError::Truncated(buf.len()));
        }
        if icmpv6_checksum(src, dst, buf) != 0 {
            let found = ethernet::be16(buf, 2);
            return Err(NdpError::Checksum { found });
        }
        let view = NdpView { buf };
        view.link_layer_option()?;
        view.check_addresses(src, dst)?;
        Ok(view)
    }

    fn check_addresses(&self, src: Ipv6Addr, dst: Ipv6Addr) -> Result<(), NdpError> {
        let target = self.target();
        if target.is_multicast() {
            return Err(NdpError::MulticastTarget(target));
        }
        if self.is_solicit() && src.is_unspecified() {
            if dst != ipv6::solicited_node(target) {
                return Err(NdpError::DadDestination { dst });
            }
            if self.link_layer_option()?.is_some() {
                return Err(NdpError::DadSourceLinkLayer);
            }
        }
        if !self.is_solicit() && dst.is_multicast() && self.flags() & FLAG_S != 0 {
            return Err(NdpError::SolicitedToMulticast(dst));
        }
        Ok(())
    }

    pub fn is_solicit(&self) -> bool {
        self.buf.first() == Some(&NEIGHBOR_SOLICIT)
    }

    /// The first byte after the checksum: R, S, O in an NA (reserved in an NS).
    fn flags(&self) -> u8 {
        self.buf.get(4).copied().unwrap_or(0)
    }

    pub fn target(&self) -> Ipv6Addr {
        read_ipv6(self.buf, 8).unwrap_or(Ipv6Addr::UNSPECIFIED)
    }

    /// Walks the options (§4.6) and returns the link-layer address option this message may
    /// carry (source in an NS, target in an NA; the first if several), skipping the others.
    pub fn link_layer_option(&self) -> Result<Option<MacAddr>, NdpError> {
        let wanted = if self.is_solicit() {
            OPT_SOURCE_LL
        } else {
            OPT_TARGET_LL
        };
        let mut found = None;
        let mut at = MESSAGE_LEN;
        while at < self.buf.len() {
            let (kind, units) = match self.buf.get(at..at + 2) {
                Some([kind, units]) => (*kind, *units),
                _ => return Err(NdpError::OptionOverrun { at }),
            };
            if units == 0 {
                return Err(NdpError::ZeroLengthOption { kind, at });
            }
            let end = at + usize::from(units) * 8;
            if end > self.buf.len() {
                return Err(NdpError::OptionOverrun { at });
            }
            if kind == wanted && found.is_none() {
                if units != 1 {
                    return Err(NdpError::LinkLayerLength(units));
                }
                found = MacAddr::read(self.buf, at + 2);
            }
            at = end;
        }
        Ok(found)
    }

    fn message(&self) -> Result<NdpMessage, NdpError> {
        let target = self.target();
        let mac = self.link_layer_option()?;
        Ok(if self.is_solicit() {
            NdpMessage::Solicit(NeighborSolicit {
                target,
                source_mac: mac,
            })
        } else {
            let flags = self.flags();
            NdpMessage::Advert(NeighborAdvert {
                router: flags & FLAG_R != 0,
                solicited: flags & FLAG_S != 0,
                override_: flags & FLAG_O != 0,
                target,
                target_mac: mac,
            })
        })
    }
}

impl NdpMessage {
    pub fn target(&self) -> Ipv6Addr {
        match self {
            NdpMessage::Solicit(ns) => ns.target,
            NdpMessage::Advert(na) => na.target,
        }
    }

    /// The ICMPv6 message with a zero checksum field.
    fn to_bytes_unchecked(self) -> Vec<u8> {
        let flag = |set: bool, mask: u8| if set { mask } else { 0 };
        let (kind, flags, opt, mac) = match self {
            NdpMessage::Solicit(ns) => (NEIGHBOR_SOLICIT, 0, OPT_SOURCE_LL, ns.source_mac),
            NdpMessage::Advert(na) => (
                NEIGHBOR_ADVERT,
                flag(na.router, FLAG_R) | flag(na.solicited, FLAG_S) | flag(na.override_, FLAG_O),
                OPT_TARGET_LL,
                na.target_mac,
            ),
        };
        let mut b = vec![kind, 0, 0, 0, flags, 0, 0, 0];
        b.extend_from_slice(&self.target().octets());
        if let Some(mac) = mac {
            b.extend_from_slice(&[opt, 1]);
            b.extend_from_slice(&mac.0);
        }
        b
    }
}

impl NdpPacket {
    /// Checks and reads an IPv6 packet (an Ethernet payload of EtherType 0x86dd; padding after
    /// Payload Length is ignored).
    pub fn parse(buf: &[u8]) -> Result<NdpPacket, NdpError> {
        let ip = Ipv6View::new_checked(buf)?;
        if ip.next_header() != ipv6::NEXT_HEADER_ICMPV6 {
            return Err(NdpError::NextHeader(ip.next_header()));
        }
        let (src, dst) = (ip.src(), ip.dst());
        let view = NdpView::new_checked(ip.payload(), src, dst, ip.hop_limit())?;
        Ok(NdpPacket {
            src,
            dst,
            message: view.message()?,
        })
    }

    /// The IPv6 packet: header (Hop Limit 255), ICMPv6 message with its checksum, options.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut icmp = self.message.to_bytes_unchecked();
        let sum = icmpv6_checksum(self.src, self.dst, &icmp);
        if let Some(field) = icmp.get_mut(2..4) {
            field.copy_from_slice(&sum.to_be_bytes());
        }
        let header = Ipv6Header {
            traffic_class: 0,
            flow_label: 0,
            payload_len: u16::try_from(icmp.len()).unwrap_or(u16::MAX),
            next_header: ipv6::NEXT_HEADER_ICMPV6,
            hop_limit: HOP_LIMIT,
            src: self.src,
            dst: self.dst,
        };
        let mut out = vec![0u8; ipv6::HEADER_LEN];
        // Sized for the header: emit cannot fail.
        let _ = header.emit(&mut out);
        out.extend_from_slice(&icmp);
        out
    }

    /// Writes [`NdpPacket::to_bytes`] to the start of `buf`; returns the number of bytes.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, NdpError> {
        let bytes = self.to_bytes();
        let (len, need) = (buf.len(), bytes.len());
        buf.get_mut(..need)
            .ok_or(NdpError::BufferTooShort { len, need })?
            .copy_from_slice(&bytes);
        Ok(need)
    }

    /// The solicited Neighbor Advertisement answering this NS from the owner of its target at
    /// `our_mac` (§7.2.4): from the target address, with Override and the Target Link-Layer
    /// Address; to the solicitor with Solicited set, or to all nodes (ff02::1) with Solicited
    /// clear when the NS came from :: (duplicate address detection). `None` for an NA.
    pub fn answer(&self, our_mac: MacAddr) -> Option<NdpPacket> {
        match self.message {
            NdpMessage::Solicit(ns) => {
                Some(NdpPacket::advert_answering(self.src, ns.target, our_mac))
            }
            NdpMessage::Advert(_) => None,
        }
    }

    /// [`NdpPacket::answer`] for an NS for `target` from `solicitor`. A multicast solicitor
    /// (never a valid source, RFC 4291 §2.7; the classifier ignores it) is answered like DAD.
    pub fn advert_answering(solicitor: Ipv6Addr, target: Ipv6Addr, our_mac: MacAddr) -> NdpPacket {
        let dad = solicitor.is_unspecified() || solicitor.is_multicast();
        NdpPacket {
            src: target,
            dst: if dad { ipv6::ALL_NODES } else { solicitor },
            message: NdpMessage::Advert(NeighborAdvert {
                router: false,
                solicited: !dad,
                override_: true,
                target,
                target_mac: Some(our_mac),
            }),
        }
    }

    /// The unsolicited Neighbor Advertisement (§7.2.6) a new owner of `addr` at `mac` sends to
    /// all nodes: Override set, Solicited clear, with the Target Link-Layer Address.
    pub fn unsolicited_advert(addr: Ipv6Addr, mac: MacAddr) -> NdpPacket {
        NdpPacket {
            src: addr,
            dst: ipv6::ALL_NODES,
            message: NdpMessage::Advert(NeighborAdvert {
                router: false,
                solicited: false,
                override_: true,
                target: addr,
                target_mac: Some(mac),
            }),
        }
    }

    /// This packet in an Ethernet frame from `src` to `dst`, or, when `dst` is `None`, to the
    /// multicast MAC of a multicast destination (RFC 2464 §7; `None` to a unicast address gives
    /// the broadcast MAC, which a caller should not need).
    pub fn to_frame(&self, src: MacAddr, dst: Option<MacAddr>, vlan: Option<Vlan>) -> Vec<u8> {
        let dst = dst.unwrap_or(if self.dst.is_multicast() {
            ipv6::multicast_mac(self.dst)
        } else {
            MacAddr::BROADCAST
        });
        let header = EthernetHeader {
            dst,
            src,
            vlan,
            ethertype: EtherType::IPV6,
        };
        ethernet::frame(&header, &self.to_bytes())
    }
}

#[cfg(test)]
mod tests;
