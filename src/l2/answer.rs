//! The responder's decisions, without sockets or a clock: which interfaces answer for which
//! owned addresses ([`resolve`]), whether a question is ours to answer ([`lookup`]), which
//! solicited-node groups an interface must join ([`groups`]), and when the gratuitous
//! announcements repeat ([`Schedule`], the clock is an input). `src/l2/responder.rs` does the I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

use super::wire::ipv6::{multicast_mac, solicited_node};
use super::wire::MacAddr;
pub use crate::announce::l2::{L2Owned, ANY_INTERFACE};

/// Gratuitous announcements after the first one for a newly owned address.
pub const GRATUITOUS_REPEATS: u32 = 3;
/// Spacing of the repeats: more than Linux's ARP locktime (1 s, `net.ipv4.neigh.*.locktime`),
/// inside which a neighbour ignores a second update of the same entry.
pub const GRATUITOUS_SPACING: Duration = Duration::from_millis(1200);

/// One interface as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceInfo {
    pub name: String,
    pub index: u32,
    pub mac: MacAddr,
    pub up: bool,
    pub loopback: bool,
    /// ARP/NDP over Ethernet makes sense on it (`ARPHRD_ETHER`: Ethernet, veth, bridge, bond,
    /// VLAN; not tun, WireGuard, loopback).
    pub ethernet: bool,
    /// The subnets of its addresses (192.0.2.2/24 → 192.0.2.0/24).
    pub nets: Vec<IpNet>,
}

/// Where each owned address is answered, and why the others are not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolution {
    /// Interface name → addresses answered on it.
    pub links: BTreeMap<String, BTreeSet<IpAddr>>,
    /// Address → why (one of) its interfaces could not be used. An address listed for two
    /// interfaces of which one is missing is in both maps.
    pub unresolved: BTreeMap<IpAddr, String>,
}

/// Resolves `owned` against the interfaces of the host. A named interface must exist and be
/// up and Ethernet; [`ANY_INTERFACE`] means every interface that is up, not loopback, and has a subnet
/// holding the address.
pub fn resolve(owned: &L2Owned, interfaces: &[InterfaceInfo]) -> Resolution {
    let mut out = Resolution::default();
    for (name, addrs) in owned {
        if name == ANY_INTERFACE {
            for addr in addrs {
                let hits: Vec<&InterfaceInfo> = interfaces
                    .iter()
                    .filter(|i| {
                        i.up && i.ethernet && !i.loopback && i.nets.iter().any(|n| n.contains(addr))
                    })
                    .collect();
                if hits.is_empty() {
                    let why = format!("no interface whose subnet holds {addr}");
                    out.unresolved.insert(*addr, why);
                }
                for i in hits {
                    out.links.entry(i.name.clone()).or_default().insert(*addr);
                }
            }
            continue;
        }
        let why = match interfaces.iter().find(|i| &i.name == name) {
            None => format!("interface {name}: no such interface"),
            Some(i) if !i.ethernet => format!("interface {name}: not an Ethernet interface"),
            Some(i) if !i.up => format!("interface {name}: down"),
            Some(_) => {
                out.links
                    .entry(name.clone())
                    .or_default()
                    .extend(addrs.iter().copied());
                continue;
            }
        };
        for addr in addrs {
            out.unresolved.insert(*addr, why.clone());
        }
    }
    out
}

/// What to do with a question for `target` that arrived on `interface`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Owned on this interface: answer.
    Answer,
    /// Owned, but on another interface (counted as `foreign`).
    Foreign,
    /// Not ours (counted as `not_owned`).
    NotOwned,
}

impl Lookup {
    /// The drop-counter label (`None` for [`Lookup::Answer`]).
    pub fn label(&self) -> Option<&'static str> {
        match self {
            Lookup::Answer => None,
            Lookup::Foreign => Some("foreign"),
            Lookup::NotOwned => Some("not_owned"),
        }
    }
}

/// Whether a question for `target` on `interface` is answered, given what is answered where.
pub fn lookup(
    active: &BTreeMap<String, BTreeSet<IpAddr>>,
    interface: &str,
    target: IpAddr,
) -> Lookup {
    if active.get(interface).is_some_and(|a| a.contains(&target)) {
        Lookup::Answer
    } else if active.values().any(|a| a.contains(&target)) {
        Lookup::Foreign
    } else {
        Lookup::NotOwned
    }
}

/// The multicast MACs of the solicited-node groups of the IPv6 addresses in `addrs` (the
/// groups a Neighbor Solicitation for them is sent to, RFC 4861 §7.2.2).
pub fn groups(addrs: &BTreeSet<IpAddr>) -> BTreeSet<MacAddr> {
    addrs
        .iter()
        .filter_map(|a| match a {
            IpAddr::V6(v6) => Some(multicast_mac(solicited_node(*v6))),
            IpAddr::V4(_) => None,
        })
        .collect()
}

/// The gratuitous repeats still to send, per (interface, address); times are offsets on the
/// caller's clock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schedule {
    pending: BTreeMap<(String, IpAddr), (u32, Duration)>,
}

impl Schedule {
    /// The first announcement of `addr` on `interface` went out at `now`: arms the repeats.
    pub fn announced(&mut self, interface: &str, addr: IpAddr, now: Duration) {
        if GRATUITOUS_REPEATS > 0 {
            let key = (interface.to_string(), addr);
            self.pending
                .insert(key, (GRATUITOUS_REPEATS, now + GRATUITOUS_SPACING));
        }
    }

    /// `addr` is no longer answered on `interface`: its repeats are cancelled.
    pub fn cancel(&mut self, interface: &str, addr: IpAddr) {
        self.pending.remove(&(interface.to_string(), addr));
    }

    /// The earliest pending repeat.
    pub fn next(&self) -> Option<Duration> {
        self.pending.values().map(|(_, at)| *at).min()
    }

    /// The repeats due at `now`, re-armed one spacing later while some remain.
    pub fn due(&mut self, now: Duration) -> Vec<(String, IpAddr)> {
        let due: Vec<(String, IpAddr)> = self
            .pending
            .iter()
            .filter(|(_, (_, at))| *at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in &due {
            if let Some((left, at)) = self.pending.get_mut(key) {
                *left -= 1;
                *at = now + GRATUITOUS_SPACING;
                if *left == 0 {
                    self.pending.remove(key);
                }
            }
        }
        due
    }
}

#[cfg(test)]
mod tests;
