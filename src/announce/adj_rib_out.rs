//! Adj-RIB-Out for one peer: what we have told the peer, and the diff to what we want it to have.
//! Pure: no sockets, no clock.

use std::sync::Arc;

use ipnet::IpNet;

use super::table::{PeerRoutes, RouteAttrs};

/// The changes that bring a peer from what it has to what it should have.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RibDiff {
    /// New routes and routes whose attributes changed (an UPDATE replaces the old path).
    pub announce: Vec<(IpNet, Arc<RouteAttrs>)>,
    pub withdraw: Vec<IpNet>,
}

impl RibDiff {
    /// True when nothing needs to be sent.
    pub fn is_empty(&self) -> bool {
        self.announce.is_empty() && self.withdraw.is_empty()
    }
}

/// The routes we have sent to one peer, with the attributes they were sent with. A persistent
/// map, so the session status shares it (O(1) clone) instead of copying it after every change.
#[derive(Debug, Clone, Default)]
pub struct AdjRibOut {
    sent: PeerRoutes,
}

impl AdjRibOut {
    /// Computes what must be sent so the peer ends up with `desired`, and records it (moved,
    /// not copied) as sent.
    pub fn sync(&mut self, desired: PeerRoutes) -> RibDiff {
        let mut diff = RibDiff::default();
        for (prefix, attrs) in &desired {
            match self.sent.get(prefix) {
                Some(old) if Arc::ptr_eq(old, attrs) || old == attrs => {}
                _ => diff.announce.push((*prefix, attrs.clone())),
            }
        }
        diff.withdraw = self
            .sent
            .keys()
            .filter(|p| !desired.contains_key(*p))
            .copied()
            .collect();
        self.sent = desired;
        diff
    }

    /// The first sync after the session came up, when nothing was sent yet: records `desired`
    /// as sent and returns it (an O(1) copy) to be announced whole, with no diff to build.
    pub fn fill(&mut self, desired: PeerRoutes) -> PeerRoutes {
        debug_assert!(self.sent.is_empty(), "fill is for an empty Adj-RIB-Out");
        self.sent = desired;
        self.sent.clone()
    }

    /// The incremental form of [`AdjRibOut::sync`]: only `changes` (prefix → what the peer
    /// should have now, None = nothing) are compared and recorded. O(k log n) for k changes.
    pub fn sync_prefixes(
        &mut self,
        changes: impl IntoIterator<Item = (IpNet, Option<Arc<RouteAttrs>>)>,
    ) -> RibDiff {
        let mut diff = RibDiff::default();
        for (prefix, want) in changes {
            match (self.sent.get(&prefix), want) {
                (Some(old), Some(new)) if Arc::ptr_eq(old, &new) || *old == new => {}
                (_, Some(new)) => {
                    diff.announce.push((prefix, new.clone()));
                    self.sent.insert(prefix, new);
                }
                (Some(_), None) => {
                    diff.withdraw.push(prefix);
                    self.sent.remove(&prefix);
                }
                (None, None) => {}
            }
        }
        diff
    }

    /// Forgets everything (the session went down: the peer dropped our routes).
    pub fn clear(&mut self) {
        self.sent = PeerRoutes::new();
    }

    /// Everything currently sent (an O(1) copy that shares the table), for a route refresh,
    /// a withdraw-all or the session status.
    pub fn sent(&self) -> PeerRoutes {
        self.sent.clone()
    }

    /// Number of prefixes the peer has from us.
    pub fn len(&self) -> usize {
        self.sent.len()
    }

    /// True when the peer has nothing from us.
    pub fn is_empty(&self) -> bool {
        self.sent.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> PeerRoutes {
        let plain = Arc::new(RouteAttrs::default());
        items
            .iter()
            .map(|s| (s.parse::<IpNet>().expect("test prefix"), plain.clone()))
            .collect()
    }

    fn prefixes(diff: &RibDiff) -> Vec<IpNet> {
        diff.announce.iter().map(|(p, _)| *p).collect()
    }

    #[test]
    fn first_sync_announces_everything() {
        let mut rib = AdjRibOut::default();
        let diff = rib.sync(set(&["198.51.100.1/32", "2001:db8::1/128"]));
        assert_eq!(diff.announce.len(), 2);
        assert!(diff.withdraw.is_empty());
        assert_eq!(rib.len(), 2);
    }

    #[test]
    fn fill_records_everything_as_sent() {
        let mut rib = AdjRibOut::default();
        let all = rib.fill(set(&["198.51.100.1/32", "2001:db8::1/128"]));
        assert_eq!(all.len(), 2);
        assert_eq!(rib.len(), 2);
        assert!(rib.sync(all).is_empty());
    }

    #[test]
    fn sync_sends_only_changes() {
        let mut rib = AdjRibOut::default();
        rib.sync(set(&["198.51.100.1/32", "198.51.100.2/32"]));
        let diff = rib.sync(set(&["198.51.100.2/32", "198.51.100.3/32"]));
        assert_eq!(
            prefixes(&diff),
            vec!["198.51.100.3/32".parse::<IpNet>().expect("p")]
        );
        assert_eq!(
            diff.withdraw,
            vec!["198.51.100.1/32".parse::<IpNet>().expect("p")]
        );
    }

    #[test]
    fn unchanged_table_gives_an_empty_diff() {
        let mut rib = AdjRibOut::default();
        let table = set(&["198.51.100.1/32"]);
        rib.sync(table.clone());
        assert!(rib.sync(table).is_empty());
    }

    #[test]
    fn changed_attributes_are_announced_again_without_a_withdraw() {
        let mut rib = AdjRibOut::default();
        rib.sync(set(&["198.51.100.1/32", "198.51.100.2/32"]));
        let mut table = set(&["198.51.100.1/32", "198.51.100.2/32"]);
        let tagged = Arc::new(RouteAttrs {
            communities: [0xFFFF_0000].into(),
            ..RouteAttrs::default()
        });
        table.insert("198.51.100.2/32".parse().expect("p"), tagged);
        let diff = rib.sync(table);
        assert_eq!(
            prefixes(&diff),
            vec!["198.51.100.2/32".parse::<IpNet>().expect("p")]
        );
        assert!(diff.withdraw.is_empty());
    }

    #[test]
    fn incremental_sync_agrees_with_a_full_sync() {
        let before = set(&["198.51.100.1/32", "198.51.100.2/32", "2001:db8::1/128"]);
        let after = set(&["198.51.100.2/32", "198.51.100.3/32", "2001:db8::1/128"]);
        let mut full = AdjRibOut::default();
        full.sync(before.clone());
        let mut inc = full.clone();
        let want = full.sync(after.clone());
        let changed = ["198.51.100.1/32", "198.51.100.3/32", "203.0.113.9/32"]
            .map(|p| p.parse::<IpNet>().expect("p"))
            .map(|p| (p, after.get(&p).cloned()));
        let got = inc.sync_prefixes(changed);
        assert_eq!(got, want);
        assert_eq!(inc.sent(), full.sent());
    }

    #[test]
    fn clear_makes_the_next_sync_announce_all_again() {
        let mut rib = AdjRibOut::default();
        let table = set(&["198.51.100.1/32"]);
        rib.sync(table.clone());
        rib.clear();
        assert_eq!(rib.sync(table).announce.len(), 1);
    }
}
