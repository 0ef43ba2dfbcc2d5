//! The small value types and parsers every input shares: address ranges, communities,
//! link-local addresses.

use std::net::IpAddr;

use ipnet::IpNet;

/// True for IPv4 169.254.0.0/16 and IPv6 fe80::/10: addresses that are never a next hop or a
/// node address worth announcing.
pub fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_unicast_link_local(),
    }
}

/// An inclusive address range of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct AddressRange {
    pub start: IpAddr,
    pub end: IpAddr,
}

impl AddressRange {
    /// True when `addr` lies in the range.
    pub fn contains(&self, addr: &IpAddr) -> bool {
        addr.is_ipv4() == self.start.is_ipv4() && *addr >= self.start && *addr <= self.end
    }

    /// The CIDR blocks that exactly make up the range.
    pub fn cidrs(&self) -> Box<dyn Iterator<Item = IpNet>> {
        match (self.start, self.end) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                Box::new(ipnet::Ipv4Subnets::new(a, b, 0).map(IpNet::V4))
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                Box::new(ipnet::Ipv6Subnets::new(a, b, 0).map(IpNet::V6))
            }
            _ => Box::new(std::iter::empty()),
        }
    }
}

/// Parses `198.51.100.0/24`, `203.0.113.10-203.0.113.20` or a single address.
pub fn address_range(text: &str) -> Option<AddressRange> {
    let text = text.trim();
    if let Some((a, b)) = text.split_once('-') {
        let (a, b): (IpAddr, IpAddr) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
        let ok = a.is_ipv4() == b.is_ipv4() && a <= b;
        return ok.then_some(AddressRange { start: a, end: b });
    }
    if let Ok(net) = text.parse::<IpNet>() {
        return Some(AddressRange {
            start: net.network(),
            end: net.broadcast(),
        });
    }
    let a: IpAddr = text.parse().ok()?;
    Some(AddressRange { start: a, end: a })
}

/// A BGP community to attach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Community {
    /// RFC 1997 (including well-known values).
    Standard(u32),
    /// RFC 8092.
    Large(u32, u32, u32),
}

/// The standard community GRACEFUL_SHUTDOWN (RFC 8326).
pub const GRACEFUL_SHUTDOWN: u32 = 0xFFFF_0000;

/// Parses a community: `65000:100`, `large:64500:1:2`, or a well-known name (RFC 1997, 8326, 7999).
pub fn community(text: &str) -> Option<Community> {
    let well_known = match text {
        "no-export" => Some(0xFFFF_FF01),
        "no-advertise" => Some(0xFFFF_FF02),
        "no-export-subconfed" | "local-as" => Some(0xFFFF_FF03),
        "no-peer" => Some(0xFFFF_FF04),
        "graceful-shutdown" => Some(GRACEFUL_SHUTDOWN),
        "blackhole" => Some(0xFFFF_029A),
        _ => None,
    };
    if let Some(v) = well_known {
        return Some(Community::Standard(v));
    }
    if let Some(rest) = text.strip_prefix("large:") {
        let mut parts = rest.split(':').map(|x| x.parse::<u32>().ok());
        let (a, b, c) = (parts.next()??, parts.next()??, parts.next()??);
        return parts.next().is_none().then_some(Community::Large(a, b, c));
    }
    let (a, b) = text.split_once(':')?;
    let (a, b) = (a.parse::<u16>().ok()?, b.parse::<u16>().ok()?);
    Some(Community::Standard((u32::from(a) << 16) | u32::from(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn communities_accept_pairs_large_and_well_known_names() {
        assert_eq!(
            community("64500:100"),
            Some(Community::Standard(0xFBF4_0064))
        );
        assert_eq!(
            community("large:64500:1:2"),
            Some(Community::Large(64500, 1, 2))
        );
        assert_eq!(
            community("no-export"),
            Some(Community::Standard(0xFFFF_FF01))
        );
        assert_eq!(community("70000:1"), None);
        assert_eq!(community("large:1:2"), None);
    }

    #[test]
    fn ranges_may_cross_octet_boundaries_but_not_families() {
        let r = address_range("198.51.100.250-198.51.101.5").expect("range");
        assert!(r.contains(&"198.51.101.0".parse().expect("ip")));
        assert!(address_range("198.51.100.1-2001:db8::1").is_none());
        assert!(address_range("198.51.100.9-198.51.100.1").is_none());
        assert_eq!(r.cidrs().count(), 4);
    }
}
