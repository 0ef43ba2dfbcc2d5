//! The speaker of one node in Kubernetes mode: the BGP sessions from BGPPeers, the table from
//! BGPAdvertisements and the Services' status, and what the node is really announcing (for
//! `ServiceAnnouncement` objects and `/status`).
//!
//! A change of Services only touches the prefixes of those Services (like
//! [`crate::pipeline::Pipeline::upsert_service`]); a change of peers or advertisements rebuilds
//! the table and reconfigures the sessions (unchanged sessions keep running).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnet::IpNet;

use super::speaker::Announced;
use crate::bgp::listener::Directory;
use crate::bgp::speaker::Speaker;
use crate::bgp::table::{covers, RouteTable, ServiceAddress};
use crate::config::{AdvertisementConfig, Config, PeerConfig};
use crate::fsm::State;

/// What this node's speaker should do now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Wanted {
    pub peers: Vec<PeerConfig>,
    pub advertisements: Vec<AdvertisementConfig>,
    /// `namespace/name` → addresses with their pool.
    pub services: BTreeMap<String, Announced>,
}

/// What one node does for one Service at this moment (the content of its
/// `ServiceAnnouncement`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doing {
    /// Established sessions that carry the Service's addresses now, by name.
    pub peers: Vec<String>,
    /// The Service addresses those sessions carry.
    pub addresses: Vec<IpAddr>,
}

/// The sessions and announcement table of this node.
#[derive(Debug)]
pub struct Announcer {
    base: Config,
    wanted: Wanted,
    table: RouteTable,
    speaker: Speaker,
}

fn add(table: &mut RouteTable, addrs: &Announced) -> Vec<IpNet> {
    addrs
        .iter()
        .flat_map(|(a, pool)| {
            table.add(ServiceAddress {
                address: *a,
                pool: Some(pool),
            })
        })
        .collect()
}

fn remove(table: &mut RouteTable, addrs: &Announced) -> Vec<IpNet> {
    addrs
        .iter()
        .flat_map(|(a, pool)| {
            table.remove(ServiceAddress {
                address: *a,
                pool: Some(pool),
            })
        })
        .collect()
}

fn table_of(w: &Wanted) -> RouteTable {
    let mut table = RouteTable::new(&w.advertisements);
    for addrs in w.services.values() {
        add(&mut table, addrs);
    }
    table
}

fn config_of(base: &Config, w: &Wanted) -> Config {
    let mut c = base.clone();
    c.bgp.peers = w.peers.clone();
    c.advertisements = w.advertisements.clone();
    c.services.clear();
    c.pools.clear();
    c
}

impl Announcer {
    /// Starts with no sessions and nothing to announce. Must run inside a tokio runtime.
    pub fn start(base: Config, directory: Directory) -> Announcer {
        let wanted = Wanted::default();
        let table = table_of(&wanted);
        let speaker = Speaker::start(&config_of(&base, &wanted), table.clone(), directory);
        Announcer {
            base,
            wanted,
            table,
            speaker,
        }
    }

    /// Moves to `w`; true when anything changed.
    pub async fn apply(&mut self, w: Wanted) -> bool {
        if w == self.wanted {
            return false;
        }
        if w.peers != self.wanted.peers || w.advertisements != self.wanted.advertisements {
            self.table = table_of(&w);
            self.speaker
                .reconfigure(&config_of(&self.base, &w), self.table.clone())
                .await;
        } else {
            let mut changed = Vec::new();
            for (key, old) in &self.wanted.services {
                if w.services.get(key) != Some(old) {
                    changed.extend(remove(&mut self.table, old));
                }
            }
            for (key, new) in &w.services {
                if self.wanted.services.get(key) != Some(new) {
                    changed.extend(add(&mut self.table, new));
                }
            }
            changed.sort_unstable();
            changed.dedup();
            self.speaker.change_routes(self.table.clone(), changed);
        }
        self.wanted = w;
        true
    }

    /// What the speaker is asked to do.
    pub fn wanted(&self) -> &Wanted {
        &self.wanted
    }

    /// The sessions.
    pub fn speaker(&self) -> &Speaker {
        &self.speaker
    }

    /// Per Service, what this node is doing right now: read from the sessions' Adj-RIB-Out,
    /// not from what was asked. Services no Established session carries are left out.
    pub fn doing(&self) -> BTreeMap<String, Doing> {
        let mut carried: Vec<(String, BTreeSet<IpNet>)> = Vec::new();
        for cell in self.speaker.status_cells() {
            if let Ok(s) = cell.lock() {
                if s.state == State::Established {
                    carried.push((s.name.clone(), s.announced.keys().copied().collect()));
                }
            }
        }
        doing(&self.wanted.services, &carried)
    }

    /// Graceful shutdown of every session (see [`Speaker::shutdown`]).
    pub async fn shutdown(self, drain: std::time::Duration) {
        self.speaker.shutdown(drain).await;
    }
}

/// Per Service: the Established sessions (name, prefixes they carry) that carry its addresses.
pub fn doing(
    services: &BTreeMap<String, Announced>,
    carried: &[(String, BTreeSet<IpNet>)],
) -> BTreeMap<String, Doing> {
    let mut out = BTreeMap::new();
    for (key, addrs) in services {
        let mut peers = BTreeSet::new();
        let mut addresses = BTreeSet::new();
        for (peer, prefixes) in carried {
            for (a, _) in addrs {
                if covers(prefixes, *a) {
                    peers.insert(peer.clone());
                    addresses.insert(*a);
                }
            }
        }
        if !peers.is_empty() {
            out.insert(
                key.clone(),
                Doing {
                    peers: peers.into_iter().collect(),
                    addresses: addresses.into_iter().collect(),
                },
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn a_service_is_reported_only_with_the_sessions_that_carry_it() {
        let services = BTreeMap::from([
            (
                "default/web".to_string(),
                vec![
                    (ip("198.51.100.1"), "p".to_string()),
                    (ip("2001:db8::1"), "p6".to_string()),
                ],
            ),
            (
                "default/db".to_string(),
                vec![(ip("203.0.113.1"), "q".to_string())],
            ),
        ]);
        let carried = vec![
            (
                "tor1".to_string(),
                BTreeSet::from(["198.51.100.0/24".parse().expect("p")]),
            ),
            (
                "tor2".to_string(),
                BTreeSet::from(["2001:db8::1/128".parse().expect("p")]),
            ),
        ];
        let got = doing(&services, &carried);
        assert_eq!(got.len(), 1, "db is carried by nobody: {got:?}");
        assert_eq!(got["default/web"].peers, ["tor1", "tor2"]);
        assert_eq!(
            got["default/web"].addresses,
            [ip("198.51.100.1"), ip("2001:db8::1")]
        );
        assert!(doing(&services, &[]).is_empty());
    }
}
