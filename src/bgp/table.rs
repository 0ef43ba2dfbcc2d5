//! The announcement table: which prefix goes to which peer with which communities and LOCAL_PREF,
//! built from the service addresses and the `[[advertisements]]`. Pure: no sockets, no clock.
//!
//! Rules (as MetalLB's BGPAdvertisement, written down in the README):
//! - without any BGP advertisement every service address is announced as a host route to every
//!   peer, with no communities;
//! - with advertisements, an address is announced by each BGP advertisement that selects its pool
//!   (an advertisement without `pools` selects every pool and the addresses outside all pools);
//!   an address no advertisement selects is not announced;
//! - `aggregation_length`/`aggregation_length_v6` announce the covering prefix instead of the host
//!   route; services in one covering prefix share one route;
//! - when several advertisements give the same prefix to a peer, their communities are merged;
//!   the config validator refuses conflicting LOCAL_PREFs, so at most one value remains.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use crate::config::{AdvertisementConfig, Community};

/// The standard community GRACEFUL_SHUTDOWN (RFC 8326).
pub const GRACEFUL_SHUTDOWN: u32 = 0xFFFF_0000;

/// What an advertisement adds to a route beyond the per-session attributes (ORIGIN, AS_PATH,
/// NEXT_HOP).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RouteAttrs {
    /// RFC 1997 communities.
    pub communities: BTreeSet<u32>,
    /// RFC 8092 large communities.
    pub large_communities: BTreeSet<(u32, u32, u32)>,
    /// LOCAL_PREF for iBGP peers (ignored towards eBGP peers, RFC 4271 §5.1.5).
    pub local_pref: Option<u32>,
}

/// The routes one peer should have: prefix → attributes.
pub type PeerRoutes = BTreeMap<IpNet, Arc<RouteAttrs>>;

/// Who receives a route and with what.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    /// Peer names; empty = every peer.
    peers: Arc<BTreeSet<String>>,
    attrs: Arc<RouteAttrs>,
}

impl Target {
    fn includes(&self, peer: &str) -> bool {
        self.peers.is_empty() || self.peers.contains(peer)
    }
}

/// Every route this node announces, with its targets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteTable {
    entries: BTreeMap<IpNet, Vec<Target>>,
}

/// One service address and the pool it came from (None: outside every pool).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceAddress<'a> {
    pub address: IpAddr,
    pub pool: Option<&'a str>,
}

impl RouteTable {
    /// Builds the table from the service addresses and the advertisements (only `mode = "bgp"`
    /// ones count here).
    pub fn build<'a>(
        addresses: impl IntoIterator<Item = ServiceAddress<'a>>,
        advertisements: &[AdvertisementConfig],
    ) -> RouteTable {
        let ads: Vec<(&AdvertisementConfig, Target)> = advertisements
            .iter()
            .filter(|a| a.mode == "bgp")
            .map(|a| (a, target_of(a)))
            .collect();
        let mut table = RouteTable::default();
        if ads.is_empty() {
            let everyone = Target {
                peers: Arc::new(BTreeSet::new()),
                attrs: Arc::new(RouteAttrs::default()),
            };
            for a in addresses {
                table.add(IpNet::from(a.address), &everyone);
            }
            return table;
        }
        for a in addresses {
            for (ad, target) in &ads {
                let selected = match a.pool {
                    _ if ad.pools.is_empty() => true,
                    Some(pool) => ad.pools.iter().any(|p| p == pool),
                    None => false,
                };
                if selected {
                    table.add(aggregate(a.address, ad), target);
                }
            }
        }
        table
    }

    fn add(&mut self, prefix: IpNet, target: &Target) {
        let targets = self.entries.entry(prefix).or_default();
        if !targets.contains(target) {
            targets.push(target.clone());
        }
    }

    /// The routes `peer` should carry, with communities merged per prefix.
    pub fn for_peer(&self, peer: &str) -> PeerRoutes {
        let mut out = PeerRoutes::new();
        for (prefix, targets) in &self.entries {
            let mut matching = targets.iter().filter(|t| t.includes(peer));
            let Some(first) = matching.next() else {
                continue;
            };
            let mut attrs = first.attrs.clone();
            for t in matching {
                let merged = Arc::make_mut(&mut attrs);
                merged
                    .communities
                    .extend(t.attrs.communities.iter().copied());
                merged
                    .large_communities
                    .extend(t.attrs.large_communities.iter().copied());
                merged.local_pref = merged.local_pref.or(t.attrs.local_pref);
            }
            out.insert(*prefix, attrs);
        }
        out
    }

    /// Every prefix in the table, for any peer.
    pub fn prefixes(&self) -> impl Iterator<Item = &IpNet> {
        self.entries.keys()
    }

    /// Number of prefixes.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is announced.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn target_of(ad: &AdvertisementConfig) -> Target {
    let mut attrs = RouteAttrs {
        local_pref: ad.local_pref,
        ..RouteAttrs::default()
    };
    for c in &ad.communities {
        match *c {
            Community::Standard(v) => drop(attrs.communities.insert(v)),
            Community::Large(a, b, c) => drop(attrs.large_communities.insert((a, b, c))),
        }
    }
    Target {
        peers: Arc::new(ad.peers.iter().cloned().collect()),
        attrs: Arc::new(attrs),
    }
}

/// The prefix an advertisement announces for `address`: the host route, or the covering prefix
/// of the configured aggregation length.
fn aggregate(address: IpAddr, ad: &AdvertisementConfig) -> IpNet {
    let len = match address {
        IpAddr::V4(_) => ad.aggregation_length.unwrap_or(32),
        IpAddr::V6(_) => ad.aggregation_length_v6.unwrap_or(128),
    };
    IpNet::new(address, len)
        .map(|n| n.trunc())
        .unwrap_or_else(|_| IpNet::from(address))
}

/// True when `prefixes` holds a prefix covering `address` (a host route or an aggregate).
pub fn covers(prefixes: &BTreeSet<IpNet>, address: IpAddr) -> bool {
    let max = match address {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    };
    (0..=max).rev().any(|len| {
        IpNet::new(address, len)
            .map(|n| prefixes.contains(&n.trunc()))
            .unwrap_or(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ad(pools: &[&str], peers: &[&str], communities: &[Community]) -> AdvertisementConfig {
        AdvertisementConfig {
            pools: pools.iter().map(|s| s.to_string()).collect(),
            mode: "bgp".into(),
            peers: peers.iter().map(|s| s.to_string()).collect(),
            communities: communities.to_vec(),
            local_pref: None,
            aggregation_length: None,
            aggregation_length_v6: None,
        }
    }

    fn svc<'a>(addr: &str, pool: Option<&'a str>) -> ServiceAddress<'a> {
        ServiceAddress {
            address: addr.parse().expect("test address"),
            pool,
        }
    }

    fn net(s: &str) -> IpNet {
        s.parse().expect("test prefix")
    }

    #[test]
    fn without_advertisements_every_address_goes_to_every_peer_plainly() {
        let t = RouteTable::build(
            [svc("198.51.100.1", Some("a")), svc("2001:db8::1", None)],
            &[],
        );
        let r = t.for_peer("tor1");
        assert_eq!(r.len(), 2);
        assert!(r.values().all(|a| **a == RouteAttrs::default()));
    }

    #[test]
    fn an_advertisement_selects_its_pools_and_peers() {
        let ads = [ad(&["a"], &["tor1"], &[Community::Standard(0xFDE8_0064)])];
        let t = RouteTable::build(
            [
                svc("198.51.100.1", Some("a")),
                svc("198.51.100.2", Some("b")),
            ],
            &ads,
        );
        let r = t.for_peer("tor1");
        assert_eq!(
            r.keys().copied().collect::<Vec<_>>(),
            [net("198.51.100.1/32")]
        );
        assert!(r[&net("198.51.100.1/32")]
            .communities
            .contains(&0xFDE8_0064));
        assert!(t.for_peer("tor2").is_empty());
    }

    #[test]
    fn an_advertisement_without_pools_also_covers_static_addresses() {
        let ads = [ad(&[], &[], &[])];
        let t = RouteTable::build([svc("203.0.113.5", None)], &ads);
        assert_eq!(t.len(), 1);
        let only_a = [ad(&["a"], &[], &[])];
        assert!(RouteTable::build([svc("203.0.113.5", None)], &only_a).is_empty());
    }

    #[test]
    fn two_advertisements_for_one_address_merge_their_communities() {
        let mut second = ad(&["a"], &[], &[Community::Large(64500, 1, 2)]);
        second.local_pref = Some(200);
        let ads = [ad(&[], &[], &[Community::Standard(1)]), second];
        let t = RouteTable::build([svc("198.51.100.1", Some("a"))], &ads);
        let r = t.for_peer("x");
        let attrs = &r[&net("198.51.100.1/32")];
        assert_eq!(attrs.communities, [1].into());
        assert_eq!(attrs.large_communities, [(64500, 1, 2)].into());
        assert_eq!(attrs.local_pref, Some(200));
    }

    #[test]
    fn aggregation_announces_one_covering_prefix_for_many_services() {
        let mut a = ad(&[], &[], &[]);
        a.aggregation_length = Some(24);
        a.aggregation_length_v6 = Some(64);
        let t = RouteTable::build(
            [
                svc("198.51.100.1", None),
                svc("198.51.100.77", None),
                svc("2001:db8:100::5", None),
            ],
            &[a],
        );
        let r = t.for_peer("x");
        assert_eq!(
            r.keys().copied().collect::<Vec<_>>(),
            [net("198.51.100.0/24"), net("2001:db8:100::/64")]
        );
    }

    #[test]
    fn l2_advertisements_do_not_make_bgp_routes() {
        let mut a = ad(&[], &[], &[]);
        a.mode = "l2".into();
        // An L2-only config: nothing selects the address for BGP... but with no BGP advertisement
        // at all, the plain default applies.
        let t = RouteTable::build(
            [svc("198.51.100.1", None)],
            &[a.clone(), ad(&["z"], &[], &[])],
        );
        assert!(t.is_empty());
        assert_eq!(
            RouteTable::build([svc("198.51.100.1", None)], &[a]).len(),
            1
        );
    }

    #[test]
    fn covers_finds_host_routes_and_aggregates() {
        let set: BTreeSet<IpNet> = [net("198.51.100.0/24"), net("2001:db8::7/128")].into();
        assert!(covers(&set, "198.51.100.9".parse().expect("a")));
        assert!(covers(&set, "2001:db8::7".parse().expect("a")));
        assert!(!covers(&set, "2001:db8::8".parse().expect("a")));
        assert!(!covers(&set, "203.0.113.1".parse().expect("a")));
    }
}
