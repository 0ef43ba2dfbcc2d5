//! How a route looks towards one peer: which routes a session may carry, the next hop, the
//! path attributes, and the graceful-shutdown drain (RFC 8326). Plain functions of the peer,
//! the node and the session's local address; the peer task calls them.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use super::table::{PeerRoutes, RouteAttrs, RouteTable};
use crate::model::{is_link_local, LocalSpec, PeerSpec, GRACEFUL_SHUTDOWN};
use crate::packet::message::{Family, Origin, PathAttributes};

/// The family of an address.
pub fn family_of(a: IpAddr) -> Family {
    if a.is_ipv4() {
        Family::Ipv4Unicast
    } else {
        Family::Ipv6Unicast
    }
}

/// The next hop for a family: the peer's configured one, else the session's local address when
/// it is of that family, else the node's first global address of that family.
pub fn next_hop(
    peer: &PeerSpec,
    local: &LocalSpec,
    session_local: IpAddr,
    family: Family,
) -> Option<IpAddr> {
    let configured = match family {
        Family::Ipv4Unicast => peer.next_hop,
        Family::Ipv6Unicast => peer.next_hop_v6,
    };
    if configured.is_some() {
        return configured;
    }
    if family_of(session_local) == family && !is_link_local(&session_local) {
        return Some(session_local);
    }
    local
        .addresses
        .iter()
        .copied()
        .find(|a| family_of(*a) == family && !is_link_local(a))
}

/// Which families a session may carry: (IPv4, IPv6), each negotiated and with a next hop.
pub fn usable_families(
    peer: &PeerSpec,
    local: &LocalSpec,
    session_local: IpAddr,
    negotiated: &[Family],
) -> (bool, bool) {
    let usable =
        |f: Family| negotiated.contains(&f) && next_hop(peer, local, session_local, f).is_some();
    (usable(Family::Ipv4Unicast), usable(Family::Ipv6Unicast))
}

/// The routes `peer` should have from `table`, of the usable families only.
pub fn routes_for(table: &RouteTable, peer: &str, families: (bool, bool)) -> PeerRoutes {
    table.for_peer_families(peer, families)
}

/// What `peer` should have at each of `prefixes` (None: nothing), of the usable families only:
/// the incremental form of [`routes_for`].
pub fn changed_routes(
    table: &RouteTable,
    peer: &str,
    prefixes: &[IpNet],
    (v4, v6): (bool, bool),
) -> Vec<(IpNet, Option<Arc<RouteAttrs>>)> {
    prefixes
        .iter()
        .map(|p| {
            let usable = if p.addr().is_ipv4() { v4 } else { v6 };
            (*p, usable.then(|| table.route_for(p, peer)).flatten())
        })
        .collect()
}

/// Every route with GRACEFUL_SHUTDOWN added (RFC 8326 §4.1): a distinct attribute set, so the
/// whole table goes out again and routers move traffic away before the withdrawal.
pub fn drained(routes: PeerRoutes) -> PeerRoutes {
    routes
        .into_iter()
        .map(|(p, mut attrs)| {
            Arc::make_mut(&mut attrs)
                .communities
                .insert(GRACEFUL_SHUTDOWN);
            (p, attrs)
        })
        .collect()
}

/// The full path attributes of a route towards `peer`: ORIGIN IGP; AS_PATH our ASN on eBGP,
/// empty on iBGP; LOCAL_PREF only on iBGP (the advertisement's, default 100; 0 while draining,
/// RFC 8326 §4.2); the advertisement's communities.
pub fn attributes(
    peer: &PeerSpec,
    local: &LocalSpec,
    next_hop: IpAddr,
    route: &RouteAttrs,
    draining: bool,
) -> PathAttributes {
    let ibgp = peer.is_ibgp(local);
    let local_pref = match (ibgp, draining) {
        (false, _) => None,
        (true, true) => Some(0),
        (true, false) => Some(route.local_pref.unwrap_or(100)),
    };
    PathAttributes {
        origin: Origin::Igp,
        as_path: if ibgp { Vec::new() } else { vec![local.asn] },
        next_hop: Some(next_hop),
        local_pref,
        communities: route.communities.iter().copied().collect(),
        large_communities: route.large_communities.iter().copied().collect(),
        ..PathAttributes::default()
    }
}

/// Routes grouped by family and attributes, so each group packs into as few UPDATEs as fit.
pub fn groups(routes: &[(IpNet, Arc<RouteAttrs>)]) -> BTreeMap<(Family, &RouteAttrs), Vec<IpNet>> {
    let mut out: BTreeMap<(Family, &RouteAttrs), Vec<IpNet>> = BTreeMap::new();
    for (prefix, attrs) in routes {
        out.entry((family_of(prefix.addr()), attrs.as_ref()))
            .or_default()
            .push(*prefix);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{peer, PeerInput};

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn local() -> LocalSpec {
        LocalSpec {
            asn: 64512,
            router_id: "192.0.2.10".parse().expect("id"),
            addresses: vec![ip("fe80::1"), ip("192.0.2.10"), ip("2001:db8::10")],
            graceful_restart_time: 120,
        }
    }

    fn spec(asn: i64, next_hop_v6: Option<&str>) -> PeerSpec {
        let input = PeerInput {
            name: Some("tor1".into()),
            address: Some("192.0.2.1".into()),
            asn: Some(asn),
            next_hop_v6: next_hop_v6.map(str::to_string),
            ..PeerInput::default()
        };
        peer::validate(&input, None, &Default::default())
            .0
            .expect("valid peer")
    }

    #[test]
    fn the_next_hop_is_the_configured_one_then_the_session_address_then_a_global_node_address() {
        let (l, plain) = (local(), spec(64500, None));
        assert_eq!(
            next_hop(&plain, &l, ip("192.0.2.10"), Family::Ipv4Unicast),
            Some(ip("192.0.2.10"))
        );
        assert_eq!(
            next_hop(&plain, &l, ip("192.0.2.10"), Family::Ipv6Unicast),
            Some(ip("2001:db8::10"))
        );
        assert_eq!(
            next_hop(&plain, &l, ip("fe80::2"), Family::Ipv6Unicast),
            Some(ip("2001:db8::10"))
        );
        let set = spec(64500, Some("2001:db8::99"));
        assert_eq!(
            next_hop(&set, &l, ip("192.0.2.10"), Family::Ipv6Unicast),
            Some(ip("2001:db8::99"))
        );
        let bare = LocalSpec {
            addresses: Vec::new(),
            ..l
        };
        assert_eq!(
            next_hop(&plain, &bare, ip("192.0.2.10"), Family::Ipv6Unicast),
            None
        );
        assert_eq!(
            usable_families(
                &plain,
                &bare,
                ip("192.0.2.10"),
                &[Family::Ipv4Unicast, Family::Ipv6Unicast]
            ),
            (true, false)
        );
    }

    #[test]
    fn ebgp_routes_carry_our_asn_and_no_local_pref_ibgp_routes_the_reverse() {
        let route = RouteAttrs {
            local_pref: Some(200),
            communities: [7].into(),
            ..RouteAttrs::default()
        };
        let e = attributes(
            &spec(64500, None),
            &local(),
            ip("192.0.2.10"),
            &route,
            false,
        );
        assert_eq!(
            (e.as_path.clone(), e.local_pref, e.origin),
            (vec![64512], None, Origin::Igp)
        );
        assert_eq!(e.communities, [7]);
        let i = attributes(
            &spec(64512, None),
            &local(),
            ip("192.0.2.10"),
            &route,
            false,
        );
        assert_eq!((i.as_path.is_empty(), i.local_pref), (true, Some(200)));
        let plain = attributes(
            &spec(64512, None),
            &local(),
            ip("192.0.2.10"),
            &RouteAttrs::default(),
            false,
        );
        assert_eq!(plain.local_pref, Some(100));
    }

    #[test]
    fn draining_adds_graceful_shutdown_and_drops_ibgp_local_pref_to_zero() {
        let prefix: IpNet = "198.51.100.1/32".parse().expect("p");
        let routes: PeerRoutes = [(prefix, Arc::new(RouteAttrs::default()))]
            .into_iter()
            .collect();
        let d = drained(routes);
        assert!(d
            .values()
            .all(|a| a.communities.contains(&GRACEFUL_SHUTDOWN)));
        let i = attributes(
            &spec(64512, None),
            &local(),
            ip("192.0.2.10"),
            &RouteAttrs::default(),
            true,
        );
        assert_eq!(i.local_pref, Some(0));
    }

    #[test]
    fn routes_of_an_unusable_family_are_left_out_and_groups_split_by_family_and_attributes() {
        let table = RouteTable::build(
            [
                super::super::table::ServiceAddress {
                    address: ip("198.51.100.1"),
                    pool: None,
                },
                super::super::table::ServiceAddress {
                    address: ip("2001:db8:100::1"),
                    pool: None,
                },
            ],
            &[],
        );
        assert_eq!(routes_for(&table, "tor1", (true, false)).len(), 1);
        assert_eq!(routes_for(&table, "tor1", (true, true)).len(), 2);
        let changed = changed_routes(
            &table,
            "tor1",
            &["2001:db8:100::1/128".parse().expect("p")],
            (true, false),
        );
        assert_eq!(changed[0].1, None);
        let all: Vec<_> = table.for_peer("tor1").into_iter().collect();
        assert_eq!(groups(&all).len(), 2);
    }
}
