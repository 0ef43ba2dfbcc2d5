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

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use crate::model::{AdvertisementSpec, Community, Mode};

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

/// The routes one peer should have: prefix → attributes. A persistent map: cloning is O(1)
/// and a change copies only the path to it, so the Adj-RIB-Out and the session status share
/// one table instead of copying it after every change.
pub type PeerRoutes = imbl::OrdMap<IpNet, Arc<RouteAttrs>>;

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

/// One BGP advertisement as the table applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    /// The advertisement (its `pools` decide which addresses it applies to).
    ad: AdvertisementSpec,
    len_v4: u8,
    len_v6: u8,
    target: Target,
    /// The entry of a prefix only this rule gives, once: every such prefix shares it (until
    /// a second address or rule makes it its own copy), instead of one allocation per prefix.
    alone: Entry,
}

impl Rule {
    fn selects(&self, pool: Option<&str>) -> bool {
        self.ad.selects(pool)
    }

    /// The prefix this rule announces for `address`: the host route or the covering aggregate.
    fn prefix(&self, address: IpAddr) -> IpNet {
        let len = match address {
            IpAddr::V4(_) => self.len_v4,
            IpAddr::V6(_) => self.len_v6,
        };
        IpNet::new(address, len)
            .map(|n| n.trunc())
            .unwrap_or_else(|_| IpNet::from(address))
    }
}

/// The targets of one prefix, each with the number of service addresses that put it there
/// (an aggregate stays while any address under it remains).
type Entry = Arc<Vec<(Target, u32)>>;

/// Every route this node announces, with its targets. Built once from all addresses, then
/// changed address by address ([`RouteTable::add`], [`RouteTable::remove`]), which report the
/// prefixes whose routes changed so the sessions send only those.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTable {
    rules: Arc<Vec<Rule>>,
    entries: imbl::OrdMap<IpNet, Entry>,
    /// The routes of every peer when no advertisement names peers (then every peer with the
    /// same usable families gets the same table): built once per version of the table and
    /// shared (O(1) copies) by the peers, so eight sessions hold one Adj-RIB-Out's worth of
    /// nodes until their changes diverge, not eight.
    views: Views,
}

/// One cached [`PeerRoutes`] per usable-family set: IPv4 and IPv6, IPv4 only, IPv6 only.
/// A change to the table starts a new, empty cache; older copies of the table keep theirs.
#[derive(Clone, Default)]
struct Views(Arc<std::sync::Mutex<[Option<PeerRoutes>; 3]>>);

/// A cache: equal whatever it holds (it is derived from the table).
impl PartialEq for Views {
    fn eq(&self, _: &Views) -> bool {
        true
    }
}

impl Eq for Views {}

impl std::fmt::Debug for Views {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Views")
    }
}

impl Default for RouteTable {
    fn default() -> Self {
        RouteTable::new(&[])
    }
}

/// One service address and the pool it came from (None: outside every pool).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceAddress<'a> {
    pub address: IpAddr,
    pub pool: Option<&'a str>,
}

impl RouteTable {
    /// An empty table announcing by these advertisements (only BGP ones count;
    /// without any, every address goes to every peer as a host route).
    pub fn new(advertisements: &[AdvertisementSpec]) -> RouteTable {
        let mut rules: Vec<Rule> = advertisements
            .iter()
            .filter(|a| a.mode == Mode::Bgp)
            .map(|a| {
                let target = target_of(a);
                Rule {
                    ad: a.clone(),
                    len_v4: a.aggregation_length.unwrap_or(32),
                    len_v6: a.aggregation_length_v6.unwrap_or(128),
                    alone: Arc::new(vec![(target.clone(), 1)]),
                    target,
                }
            })
            .collect();
        if rules.is_empty() {
            let target = Target {
                peers: Arc::new(BTreeSet::new()),
                attrs: Arc::new(RouteAttrs::default()),
            };
            rules.push(Rule {
                ad: AdvertisementSpec::default(),
                len_v4: 32,
                len_v6: 128,
                alone: Arc::new(vec![(target.clone(), 1)]),
                target,
            });
        }
        RouteTable {
            rules: Arc::new(rules),
            entries: imbl::OrdMap::new(),
            views: Views::default(),
        }
    }

    /// Builds the table from the service addresses and the advertisements.
    pub fn build<'a>(
        addresses: impl IntoIterator<Item = ServiceAddress<'a>>,
        advertisements: &[AdvertisementSpec],
    ) -> RouteTable {
        RouteTable::build_from(addresses.into_iter().collect(), |a| *a, advertisements)
    }

    /// [`RouteTable::build`] from whatever the caller holds its addresses in, read through
    /// `address`: sorting small items (the announcer sorts references, 8 bytes each, not
    /// 40-byte [`ServiceAddress`]es: 4 MB less at 100,000 services during a start).
    pub fn build_from<'a, T>(
        mut items: Vec<T>,
        address: impl Fn(&T) -> ServiceAddress<'a>,
        advertisements: &[AdvertisementSpec],
    ) -> RouteTable {
        let mut table = RouteTable::new(advertisements);
        items.sort_unstable_by_key(|a| address(a).address);
        // In address order, every other one first (see [`dense`]).
        for a in every_other_first(|| items.iter()) {
            table.add(address(a));
        }
        table
    }

    /// Adds one service address; returns the prefixes whose routes changed.
    pub fn add(&mut self, a: ServiceAddress<'_>) -> Vec<IpNet> {
        let rules = self.rules.clone();
        let mut changed = Vec::new();
        for rule in rules.iter().filter(|r| r.selects(a.pool)) {
            let prefix = rule.prefix(a.address);
            let Some(entry) = self.entries.get_mut(&prefix) else {
                self.entries.insert(prefix, rule.alone.clone());
                changed.push(prefix);
                continue;
            };
            let targets = Arc::make_mut(entry);
            match targets.iter_mut().find(|(t, _)| *t == rule.target) {
                Some((_, n)) => *n += 1,
                None => {
                    targets.push((rule.target.clone(), 1));
                    changed.push(prefix);
                }
            }
        }
        self.changed(&changed);
        changed
    }

    /// Starts a new view cache when routes changed (see [`Views`]).
    fn changed(&mut self, prefixes: &[IpNet]) {
        if !prefixes.is_empty() {
            self.views = Views::default();
        }
    }

    /// Removes one service address (added before with the same pool); returns the prefixes
    /// whose routes changed.
    pub fn remove(&mut self, a: ServiceAddress<'_>) -> Vec<IpNet> {
        let rules = self.rules.clone();
        let mut changed = Vec::new();
        for rule in rules.iter().filter(|r| r.selects(a.pool)) {
            let prefix = rule.prefix(a.address);
            let Some(entry) = self.entries.get_mut(&prefix) else {
                continue;
            };
            if **entry == *rule.alone {
                self.entries.remove(&prefix);
                changed.push(prefix);
                continue;
            }
            let targets = Arc::make_mut(entry);
            let Some(i) = targets.iter().position(|(t, _)| *t == rule.target) else {
                continue;
            };
            targets[i].1 -= 1;
            if targets[i].1 == 0 {
                targets.remove(i);
                changed.push(prefix);
                if targets.is_empty() {
                    self.entries.remove(&prefix);
                }
            }
        }
        self.changed(&changed);
        changed
    }

    /// The attributes `peer` should get for `prefix` (communities merged over every
    /// advertisement that gives it the prefix); None: not for this peer.
    pub fn route_for(&self, prefix: &IpNet, peer: &str) -> Option<Arc<RouteAttrs>> {
        merged(self.entries.get(prefix)?, peer)
    }

    /// The routes `peer` should carry, with communities merged per prefix.
    pub fn for_peer(&self, peer: &str) -> PeerRoutes {
        self.for_peer_where(peer, |_| true)
    }

    fn for_peer_where(&self, peer: &str, keep: impl Fn(&IpNet) -> bool) -> PeerRoutes {
        dense(|| {
            self.entries
                .iter()
                .filter(|(prefix, _)| keep(prefix))
                .filter_map(|(prefix, entry)| Some((*prefix, merged(entry, peer)?)))
        })
    }

    /// The routes `peer` should carry of the usable families (`v4`, `v6`). When no
    /// advertisement names peers every peer gets the same: one table per family set and
    /// version of this table, shared by the peers (see [`Views`]).
    pub fn for_peer_families(&self, peer: &str, (v4, v6): (bool, bool)) -> PeerRoutes {
        let slot = match (v4, v6) {
            (true, true) => 0,
            (true, false) => 1,
            (false, true) => 2,
            (false, false) => return PeerRoutes::new(),
        };
        let keep = |p: &IpNet| if p.addr().is_ipv4() { v4 } else { v6 };
        if !self.rules.iter().all(|r| r.target.peers.is_empty()) {
            return self.for_peer_where(peer, keep);
        }
        let mut views = self.views.0.lock().unwrap_or_else(|e| e.into_inner());
        views[slot]
            .get_or_insert_with(|| self.for_peer_where(peer, keep))
            .clone()
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

/// A persistent map from pairs in ascending key order, with its leaves full. imbl splits a
/// full leaf in half, so keys inserted in order leave every leaf half empty (67 bytes per
/// route at 100,000 instead of 34); inserting every other key first, then the keys between,
/// fills each leaf without a split. `pairs` gives the same pairs on both calls. (Should imbl
/// split differently, the map is the same, only less dense.)
fn dense<K: Ord + Clone, V: Clone, I: Iterator<Item = (K, V)>>(
    pairs: impl Fn() -> I,
) -> imbl::OrdMap<K, V> {
    let mut map = imbl::OrdMap::new();
    for (k, v) in every_other_first(pairs) {
        map.insert(k, v);
    }
    map
}

/// The items at even positions, then those at odd ones (the insertion order of [`dense`]).
fn every_other_first<I: Iterator>(items: impl Fn() -> I) -> impl Iterator<Item = I::Item> {
    items().step_by(2).chain(items().skip(1).step_by(2))
}

fn merged(entry: &Entry, peer: &str) -> Option<Arc<RouteAttrs>> {
    let mut matching = entry.iter().map(|(t, _)| t).filter(|t| t.includes(peer));
    let mut attrs = matching.next()?.attrs.clone();
    for t in matching {
        let m = Arc::make_mut(&mut attrs);
        m.communities.extend(t.attrs.communities.iter().copied());
        m.large_communities
            .extend(t.attrs.large_communities.iter().copied());
        m.local_pref = m.local_pref.or(t.attrs.local_pref);
    }
    Some(attrs)
}

fn target_of(ad: &AdvertisementSpec) -> Target {
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

    fn ad(pools: &[&str], peers: &[&str], communities: &[Community]) -> AdvertisementSpec {
        AdvertisementSpec {
            pools: pools.iter().map(|s| s.to_string()).collect(),
            peers: peers.iter().map(|s| s.to_string()).collect(),
            communities: communities.to_vec(),
            ..AdvertisementSpec::default()
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
        a.mode = Mode::L2;
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
    fn an_aggregate_stays_until_its_last_address_is_removed() {
        let mut a = ad(&[], &[], &[]);
        a.aggregation_length = Some(24);
        let mut t = RouteTable::new(&[a]);
        assert_eq!(t.add(svc("198.51.100.1", None)), [net("198.51.100.0/24")]);
        assert!(t.add(svc("198.51.100.2", None)).is_empty());
        assert!(t.remove(svc("198.51.100.1", None)).is_empty());
        assert_eq!(t.len(), 1);
        assert_eq!(
            t.remove(svc("198.51.100.2", None)),
            [net("198.51.100.0/24")]
        );
        assert!(t.is_empty());
        assert!(t.remove(svc("198.51.100.2", None)).is_empty());
    }

    #[test]
    fn route_for_agrees_with_for_peer() {
        let ads = [
            ad(&["a"], &["tor1"], &[Community::Standard(7)]),
            ad(&[], &[], &[Community::Standard(9)]),
        ];
        let t = RouteTable::build(
            [svc("198.51.100.1", Some("a")), svc("203.0.113.1", None)],
            &ads,
        );
        for peer in ["tor1", "tor2"] {
            let all = t.for_peer(peer);
            for p in t.prefixes() {
                assert_eq!(t.route_for(p, peer), all.get(p).cloned(), "{peer} {p}");
            }
        }
    }

    proptest::proptest! {
        /// Adding and removing addresses one at a time gives the table a build from scratch
        /// gives, and the reported prefixes are exactly those whose routes changed.
        #[test]
        fn incremental_changes_equal_a_rebuild(
            ops in proptest::collection::vec((proptest::bool::ANY, 0u8..6, 0u8..3), 0..60)
        ) {
            let mut agg = ad(&["a"], &["tor1"], &[Community::Standard(1)]);
            agg.aggregation_length = Some(30);
            let ads = [agg, ad(&[], &[], &[Community::Large(1, 2, 3)])];
            let pools = [Some("a"), Some("b"), None];
            let mut t = RouteTable::new(&ads);
            let mut live: Vec<(IpAddr, Option<&str>)> = Vec::new();
            for (add, host, pool) in ops {
                let address: IpAddr = format!("198.51.100.{host}").parse().expect("address");
                let pool = pools[usize::from(pool)];
                let a = ServiceAddress { address, pool };
                let before = t.clone();
                let changed = if add {
                    live.push((address, pool));
                    t.add(a)
                } else if let Some(i) = live.iter().position(|x| *x == (address, pool)) {
                    live.remove(i);
                    t.remove(a)
                } else {
                    continue;
                };
                let rebuilt = RouteTable::build(
                    live.iter().map(|(address, pool)| ServiceAddress { address: *address, pool: *pool }),
                    &ads,
                );
                proptest::prop_assert_eq!(&t, &rebuilt);
                for peer in ["tor1", "tor2"] {
                    let (old, new) = (before.for_peer(peer), t.for_peer(peer));
                    for p in old.keys().chain(new.keys()) {
                        if old.get(p) != new.get(p) {
                            proptest::prop_assert!(changed.contains(p), "{} changed but was not reported", p);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn covers_finds_host_routes_and_aggregates() {
        let set: BTreeSet<IpNet> = [net("198.51.100.0/24"), net("2001:db8::7/128")].into();
        assert!(covers(&set, "198.51.100.9".parse().expect("a")));
        assert!(covers(&set, "2001:db8::7".parse().expect("a")));
        assert!(!covers(&set, "2001:db8::8".parse().expect("a")));
        assert!(!covers(&set, "203.0.113.1".parse().expect("a")));
    }

    #[test]
    fn peers_without_named_advertisements_share_one_view_per_version() {
        let mut t = RouteTable::build([svc("198.51.100.1", None), svc("2001:db8::1", None)], &[]);
        let a = t.for_peer_families("tor1", (true, true));
        let b = t.for_peer_families("tor2", (true, true));
        assert!(a.ptr_eq(&b), "the same table, not two copies");
        assert_eq!(a, t.for_peer("tor1"));
        let v4 = t.for_peer_families("tor1", (true, false));
        assert_eq!(v4.len(), 1);
        assert!(t.for_peer_families("tor1", (false, false)).is_empty());
        t.add(svc("198.51.100.2", None));
        let c = t.for_peer_families("tor1", (true, true));
        assert_eq!(c.len(), 3, "a change is seen, not the cached view");
        assert_eq!(a.len(), 2);
    }

    #[test]
    fn a_named_peer_gets_its_own_view() {
        let ads = [
            ad(&[], &["tor1"], &[Community::Standard(1)]),
            ad(&[], &[], &[]),
        ];
        let t = RouteTable::build([svc("198.51.100.1", None)], &ads);
        let a = t.for_peer_families("tor1", (true, true));
        let b = t.for_peer_families("tor2", (true, true));
        assert_eq!(a, t.for_peer("tor1"));
        assert_eq!(b, t.for_peer("tor2"));
        assert_ne!(a, b);
    }

    #[test]
    fn a_dense_map_equals_a_collected_one() {
        for n in [0usize, 1, 2, 15, 16, 17, 33, 1000] {
            let pairs = || (0..n).map(|i| (i, i * 2));
            let d = dense(pairs);
            let c: imbl::OrdMap<usize, usize> = pairs().collect();
            assert_eq!(d, c, "n = {n}");
        }
    }
}
