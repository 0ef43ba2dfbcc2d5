//! The frames an ARP/NDP responder reads and writes, smoltcp style: for each layer a checked
//! view over received bytes (`new_checked` checks every length before a field is read) and a
//! plain struct whose `parse` and `emit` are mirror images. Nothing here panics or indexes
//! unchecked on received bytes.
//!
//! | file | what |
//! |---|---|
//! | [`ethernet`] | Ethernet II header, one optional 802.1Q tag (its VID is reported), [`MacAddr`] |
//! | [`arp`] | ARP for IPv4 over Ethernet (RFC 826), replies, gratuitous ARP (RFC 5227 §3, RFC 5944 §4.6) |
//! | [`ipv6`] | the IPv6 header (RFC 8200 §3), the ICMPv6 checksum (RFC 4443 §2.3), solicited-node groups |
//! | [`ndp`] | Neighbor Solicitation / Advertisement (RFC 4861 §4.3, §4.4, §7.1) and their options |
//! | [`classify`] | one entry point: a received frame → [`Request`] to answer, or why it is [`Ignored`] |
//!
//! The responder (later, `src/l2/responder.rs`) calls [`classify`](classify::classify) on every
//! frame, counts the [`Ignored`] by [`Ignored::label`], and answers a [`Request`] for an address
//! it owns with the frame [`Request::answer`] builds.

pub mod arp;
pub mod classify;
pub mod ethernet;
pub mod ipv6;
pub mod ndp;

#[cfg(test)]
mod captures;

pub use arp::{ArpError, ArpOp, ArpPacket};
pub use classify::{classify, ArpRequest, Ignored, NsRequest, Request};
pub use ethernet::{EtherType, EthernetError, EthernetHeader, MacAddr, Vlan};
pub use ipv6::{Ipv6Error, Ipv6Header};
pub use ndp::{NdpError, NdpMessage, NdpPacket, NeighborAdvert, NeighborSolicit};
