//! The one entry point of a responder: a received Ethernet frame is either a question to
//! answer — an ARP request, a Neighbor Solicitation — or [`Ignored`] with a reason whose
//! [`Ignored::label`] is the metric label the responder counts it under. Whether the asked
//! address is ours is the responder's business, not the classifier's.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::arp::{ArpError, ArpOp, ArpPacket};
use super::ethernet::{EtherType, EthernetError, EthernetHeader, MacAddr, Vlan};
use super::ndp::{NdpError, NdpMessage, NdpPacket};

/// A question a responder may answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Arp(ArpRequest),
    Ns(NsRequest),
}

impl Request {
    /// The 802.1Q tag the question came with (the answer goes back with it).
    pub fn vlan(&self) -> Option<Vlan> {
        match self {
            Request::Arp(r) => r.vlan,
            Request::Ns(r) => r.vlan,
        }
    }

    /// The frame answering the question as the owner of its target at `our_mac`.
    pub fn answer(&self, our_mac: MacAddr) -> Vec<u8> {
        match self {
            Request::Arp(r) => r.answer(our_mac),
            Request::Ns(r) => r.answer(our_mac),
        }
    }
}

/// "Who has `target`? Tell `from_ip` at `from_mac`" (an ARP probe has `from_ip` 0.0.0.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpRequest {
    pub vlan: Option<Vlan>,
    pub target: Ipv4Addr,
    pub from_mac: MacAddr,
    pub from_ip: Ipv4Addr,
    pub packet: ArpPacket,
}

impl ArpRequest {
    /// The ARP reply ([`ArpPacket::reply`]), unicast to the asker's hardware address (a probe
    /// is answered the same way, to target protocol address 0.0.0.0, as Linux does).
    pub fn answer(&self, our_mac: MacAddr) -> Vec<u8> {
        let reply = self.packet.reply_unchecked(our_mac);
        reply.to_frame(self.from_mac, self.vlan)
    }
}

/// "Who has `target`?" from `from_ip` (:: in duplicate address detection) at `from_mac` (its
/// Source Link-Layer Address option, or the frame's source when the NS carries none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NsRequest {
    pub vlan: Option<Vlan>,
    pub target: Ipv6Addr,
    pub from_mac: MacAddr,
    pub from_ip: Ipv6Addr,
    pub packet: NdpPacket,
}

impl NsRequest {
    /// The solicited NA ([`NdpPacket::answer`]): unicast to the solicitor, or to the all-nodes
    /// group's MAC for duplicate address detection.
    pub fn answer(&self, our_mac: MacAddr) -> Vec<u8> {
        let na = NdpPacket::advert_answering(self.from_ip, self.target, our_mac);
        let dst = (!na.dst.is_multicast()).then_some(self.from_mac);
        na.to_frame(our_mac, dst, self.vlan)
    }
}

/// Why a frame is not a question to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Ignored {
    #[error(transparent)]
    Ethernet(#[from] EthernetError),
    #[error("EtherType {0:#06x} is neither ARP nor IPv6")]
    NotArpOrIpv6(u16),
    #[error(transparent)]
    Arp(#[from] ArpError),
    #[error("ARP reply from {0}")]
    ArpReply(Ipv4Addr),
    #[error("gratuitous ARP request for {0} (an announcement, not a question)")]
    GratuitousArp(Ipv4Addr),
    #[error("sender hardware address {0} is multicast")]
    MulticastSenderMac(MacAddr),
    #[error(transparent)]
    Ndp(#[from] NdpError),
    #[error("Neighbor Advertisement for {0}")]
    NeighborAdvert(Ipv6Addr),
    #[error("IPv6 source {0} is multicast")]
    MulticastSourceIp(Ipv6Addr),
}

impl Ignored {
    /// Every label [`Ignored::label`] returns, for registering counters up front.
    pub const LABELS: &'static [&'static str] = &[
        "short",
        "stacked_vlan",
        "not_arp_or_ipv6",
        "bad_arp_header",
        "bad_arp_op",
        "arp_reply",
        "gratuitous_arp",
        "bad_sender",
        "bad_ipv6_header",
        "not_icmpv6",
        "not_ns_or_na",
        "bad_icmpv6_code",
        "bad_hop_limit",
        "bad_icmpv6_length",
        "bad_checksum",
        "bad_option",
        "bad_target",
        "bad_dad",
        "bad_na_flags",
        "neighbor_advert",
    ];

    /// A short, stable label for `ferrolb_l2_frames_ignored_total{reason}`-style counters.
    pub fn label(&self) -> &'static str {
        match self {
            Ignored::Ethernet(e) => e.label(),
            Ignored::NotArpOrIpv6(_) => "not_arp_or_ipv6",
            Ignored::Arp(e) => e.label(),
            Ignored::ArpReply(_) => "arp_reply",
            Ignored::GratuitousArp(_) => "gratuitous_arp",
            Ignored::MulticastSenderMac(_) | Ignored::MulticastSourceIp(_) => "bad_sender",
            Ignored::Ndp(e) => e.label(),
            Ignored::NeighborAdvert(_) => "neighbor_advert",
        }
    }
}

/// Reads one received frame (without FCS). Never panics, whatever the bytes.
pub fn classify(frame: &[u8]) -> Result<Request, Ignored> {
    let (eth, payload) = EthernetHeader::parse(frame)?;
    match eth.ethertype {
        EtherType::ARP => classify_arp(eth, payload).map(Request::Arp),
        EtherType::IPV6 => classify_ndp(eth, payload).map(Request::Ns),
        other => Err(Ignored::NotArpOrIpv6(other)),
    }
}

fn classify_arp(eth: EthernetHeader, payload: &[u8]) -> Result<ArpRequest, Ignored> {
    let packet = ArpPacket::parse(payload)?;
    if packet.op == ArpOp::Reply {
        return Err(Ignored::ArpReply(packet.sender_ip));
    }
    if packet.sender_mac.is_multicast() {
        return Err(Ignored::MulticastSenderMac(packet.sender_mac));
    }
    if packet.is_gratuitous() {
        return Err(Ignored::GratuitousArp(packet.target_ip));
    }
    Ok(ArpRequest {
        vlan: eth.vlan,
        target: packet.target_ip,
        from_mac: packet.sender_mac,
        from_ip: packet.sender_ip,
        packet,
    })
}

fn classify_ndp(eth: EthernetHeader, payload: &[u8]) -> Result<NsRequest, Ignored> {
    let packet = NdpPacket::parse(payload)?;
    let ns = match packet.message {
        NdpMessage::Solicit(ns) => ns,
        NdpMessage::Advert(na) => return Err(Ignored::NeighborAdvert(na.target)),
    };
    if packet.src.is_multicast() {
        return Err(Ignored::MulticastSourceIp(packet.src));
    }
    let from_mac = ns.source_mac.unwrap_or(eth.src);
    if from_mac.is_multicast() && !packet.src.is_unspecified() {
        return Err(Ignored::MulticastSenderMac(from_mac));
    }
    Ok(NsRequest {
        vlan: eth.vlan,
        target: ns.target,
        from_mac,
        from_ip: packet.src,
        packet,
    })
}

#[cfg(test)]
mod tests;
