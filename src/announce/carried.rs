//! What the sinks really carry, read back: per service, the Established sessions whose
//! Adj-RIB-Out holds a prefix covering one of its addresses. This, never the plan, is what
//! `/status` `announced_by` and the ServiceAnnouncements report.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnet::IpNet;

use super::table::covers;
use super::Assigned;

/// The prefixes one Established session carries now (its Adj-RIB-Out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carried {
    pub peer: String,
    pub prefixes: BTreeSet<IpNet>,
}

/// What one node does for one service at this moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doing {
    /// Established sessions that carry the service's addresses now, by name.
    pub peers: Vec<String>,
    /// The service addresses those sessions carry, and those this node answers ARP/NDP for.
    pub addresses: Vec<IpAddr>,
    /// L2: the interfaces this node answers on for the service's addresses (empty: no L2).
    pub interfaces: Vec<String>,
}

impl Doing {
    /// `bgp`, `l2`, or `bgp+l2` when both a session carries it and this node answers for it.
    pub fn mode(&self) -> &'static str {
        match (self.peers.is_empty(), self.interfaces.is_empty()) {
            (false, false) => "bgp+l2",
            (true, false) => "l2",
            _ => "bgp",
        }
    }
}

/// Per service: the sessions that carry its addresses. Services nobody carries are left out.
pub fn doing<'a>(
    services: impl IntoIterator<Item = (&'a str, &'a [Assigned])>,
    carried: &[Carried],
) -> BTreeMap<String, Doing> {
    let mut out = BTreeMap::new();
    for (key, addrs) in services {
        let mut peers = BTreeSet::new();
        let mut addresses = BTreeSet::new();
        for c in carried {
            for a in addrs.iter().filter(|a| covers(&c.prefixes, a.address)) {
                peers.insert(c.peer.clone());
                addresses.insert(a.address);
            }
        }
        if !peers.is_empty() {
            let (peers, addresses) = (peers.into_iter().collect(), addresses.into_iter().collect());
            out.insert(
                key.to_string(),
                Doing {
                    peers,
                    addresses,
                    interfaces: Vec::new(),
                },
            );
        }
    }
    out
}

/// True when any session carries one of `addresses`.
pub fn any_carries(carried: &[Carried], addresses: &[IpAddr]) -> bool {
    carried
        .iter()
        .any(|c| addresses.iter().any(|a| covers(&c.prefixes, *a)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn assigned(addr: &str, pool: &str) -> Assigned {
        Assigned {
            address: ip(addr),
            pool: Some(pool.into()),
        }
    }

    #[test]
    fn a_service_is_reported_only_with_the_sessions_that_carry_it() {
        let services = BTreeMap::from([
            (
                "default/web".to_string(),
                vec![assigned("198.51.100.1", "p"), assigned("2001:db8::1", "p6")],
            ),
            ("default/db".to_string(), vec![assigned("203.0.113.1", "q")]),
        ]);
        let carried = vec![
            Carried {
                peer: "tor1".into(),
                prefixes: BTreeSet::from(["198.51.100.0/24".parse().expect("p")]),
            },
            Carried {
                peer: "tor2".into(),
                prefixes: BTreeSet::from(["2001:db8::1/128".parse().expect("p")]),
            },
        ];
        let got = doing(services.iter().map(|(k, v)| (k.as_str(), &v[..])), &carried);
        assert_eq!(got.len(), 1, "db is carried by nobody: {got:?}");
        assert_eq!(got["default/web"].peers, ["tor1", "tor2"]);
        assert_eq!(
            got["default/web"].addresses,
            [ip("198.51.100.1"), ip("2001:db8::1")]
        );
        assert!(doing(services.iter().map(|(k, v)| (k.as_str(), &v[..])), &[]).is_empty());
        assert!(any_carries(&carried, &[ip("198.51.100.9")]));
        assert!(!any_carries(&carried, &[ip("203.0.113.1")]));
    }
}
