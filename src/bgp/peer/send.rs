//! The peer task's output side: what the table says this peer should have, diffed against its
//! Adj-RIB-Out with the announce policy, packed into UPDATEs and counted.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use super::{Established, PeerTask};
use crate::announce::adj_rib_out::RibDiff;
use crate::announce::policy;
use crate::announce::table::RouteAttrs;
use crate::packet::codec;
use crate::packet::message::Family;

/// Routes packed per batch: 16,384 IPv4 /32s are about 20 full UPDATEs of 4,096 bytes.
const ANNOUNCE_CHUNK: usize = 16_384;

impl PeerTask {
    pub(super) fn next_hop(&self, est: &Established, family: Family) -> Option<IpAddr> {
        policy::next_hop(&self.context.peer, &self.context.local, est.local, family)
    }

    pub(super) fn usable_families(&self, est: &Established) -> (bool, bool) {
        let negotiated: Vec<Family> = est.negotiated.families.iter().copied().collect();
        policy::usable_families(
            &self.context.peer,
            &self.context.local,
            est.local,
            &negotiated,
        )
    }

    /// Diffs the desired table against the Adj-RIB-Out and sends the changes.
    pub(super) fn sync_routes(&mut self) {
        let Some(est) = &self.established else {
            return;
        };
        let mut desired = policy::routes_for(
            &self.desired,
            &self.context.peer.name,
            self.usable_families(est),
        );
        if self.draining {
            desired = policy::drained(desired);
        }
        if self.rib.is_empty() {
            // The first table after the session came up: everything goes out, so no diff is
            // built (at 100k routes a diff and its groups were 6 MB more at the peak).
            let all = self.rib.fill(desired);
            if all.is_empty() {
                return;
            }
            self.send_routes(all.iter().map(|(p, a)| (*p, a.clone())));
            return self.routes_sent(all.len(), 0);
        }
        let diff = self.rib.sync(desired);
        self.send_diff(diff);
    }

    /// Sends what changed at `prefixes` after the table was replaced: O(k log n).
    pub(super) fn sync_changed(&mut self, prefixes: &[IpNet]) {
        let Some(est) = &self.established else {
            return;
        };
        if self.draining {
            return self.sync_routes();
        }
        let usable = self.usable_families(est);
        let changes =
            policy::changed_routes(&self.desired, &self.context.peer.name, prefixes, usable);
        let diff = self.rib.sync_prefixes(changes);
        self.send_diff(diff);
    }

    /// Sends a diff (withdrawals first) and updates the status.
    pub(super) fn send_diff(&mut self, diff: RibDiff) {
        if diff.is_empty() {
            return;
        }
        self.send_withdraw(&diff.withdraw);
        let (announced, withdrawn) = (diff.announce.len(), diff.withdraw.len());
        self.send_routes(diff.announce.into_iter());
        self.routes_sent(announced, withdrawn);
    }

    /// Logs what was sent and puts the Adj-RIB-Out into the session status.
    fn routes_sent(&mut self, announced: usize, withdrawn: usize) {
        let n = self.rib.len();
        let sent = self.rib.sent();
        tracing::info!(
            peer = %self.context.peer.name,
            announced,
            withdrawn,
            total = n,
            draining = self.draining,
            "routes sent"
        );
        self.status_mut(|s| {
            s.prefixes_sent = n;
            s.announced = sent;
        });
    }

    pub(super) fn resend_table(&mut self) {
        let all = self.rib.sent();
        self.send_routes(all.iter().map(|(p, a)| (*p, a.clone())));
    }

    /// Sends routes [`ANNOUNCE_CHUNK`] at a time, so what is held while encoding stays small
    /// whatever the table's size. Each chunk packs on its own: a chunk's last UPDATE per
    /// attribute set may be part-full (at most one more UPDATE per chunk and group).
    fn send_routes(&self, routes: impl Iterator<Item = (IpNet, Arc<RouteAttrs>)>) {
        let mut chunk = Vec::new();
        for route in routes {
            chunk.push(route);
            if chunk.len() == ANNOUNCE_CHUNK {
                self.send_announce(&chunk);
                chunk.clear();
            }
        }
        self.send_announce(&chunk);
    }

    /// Sends routes, grouped by family and attributes so each group packs into as few UPDATEs
    /// as the negotiated message size allows.
    pub(super) fn send_announce(&self, routes: &[(IpNet, Arc<RouteAttrs>)]) {
        let Some(est) = &self.established else {
            return;
        };
        let Some(conn) = self.conns.get(&est.conn) else {
            return;
        };
        let (peer, local) = (&self.context.peer, &self.context.local);
        for ((family, attrs), prefixes) in policy::groups(routes) {
            let Some(nh) = self.next_hop(est, family) else {
                continue;
            };
            let path = policy::attributes(peer, local, nh, attrs, self.draining);
            match codec::encode_announce(&prefixes, &path, &est.params) {
                Ok(messages) => {
                    self.count_updates(messages.len());
                    messages.into_iter().for_each(|m| conn.send(m));
                }
                Err(e) => {
                    tracing::error!(peer = %self.context.peer.name, error = %e, "cannot encode UPDATE")
                }
            }
        }
    }

    pub(super) fn send_withdraw(&self, prefixes: &[IpNet]) {
        if prefixes.is_empty() {
            return;
        }
        let Some(est) = &self.established else {
            return;
        };
        if let Some(conn) = self.conns.get(&est.conn) {
            let messages = codec::encode_withdraw(prefixes, &est.params);
            self.count_updates(messages.len());
            for m in messages {
                conn.send(m);
            }
        }
    }

    pub(super) fn send_end_of_rib(&self) {
        let Some(est) = &self.established else {
            return;
        };
        let Some(conn) = self.conns.get(&est.conn) else {
            return;
        };
        for family in &est.negotiated.families {
            conn.send(codec::encode_end_of_rib(*family));
        }
        self.count_updates(est.negotiated.families.len());
        for family in [Family::Ipv4Unicast, Family::Ipv6Unicast] {
            if est.negotiated.families.contains(&family) && self.next_hop(est, family).is_none() {
                tracing::warn!(
                    peer = %self.context.peer.name,
                    %family,
                    "no {family} next hop: the session is not over {family} and [node] addresses has no such address; {family} service addresses are not announced to this peer"
                );
            }
            if !est.negotiated.families.contains(&family)
                && self
                    .desired
                    .prefixes()
                    .any(|p| Family::of(p.addr()) == family)
            {
                tracing::warn!(peer = %self.context.peer.name, %family, "{family} was not negotiated with this peer; its service addresses are not announced to it");
            }
        }
    }
}
