//! Adj-RIB-Out for one peer: what we have told the peer, and the diff to what we want it to have.
//! Pure: no sockets, no clock.

use std::collections::BTreeSet;

use ipnet::IpNet;

/// The changes that bring a peer from what it has to what it should have.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RibDiff {
    pub announce: Vec<IpNet>,
    pub withdraw: Vec<IpNet>,
}

impl RibDiff {
    /// True when nothing needs to be sent.
    pub fn is_empty(&self) -> bool {
        self.announce.is_empty() && self.withdraw.is_empty()
    }
}

/// The routes we have sent to one peer.
#[derive(Debug, Clone, Default)]
pub struct AdjRibOut {
    sent: BTreeSet<IpNet>,
}

impl AdjRibOut {
    /// Computes what must be sent so the peer ends up with `desired`, and records it as sent.
    pub fn sync(&mut self, desired: &BTreeSet<IpNet>) -> RibDiff {
        let diff = RibDiff {
            announce: desired.difference(&self.sent).copied().collect(),
            withdraw: self.sent.difference(desired).copied().collect(),
        };
        self.sent.clone_from(desired);
        diff
    }

    /// Forgets everything (the session went down: the peer dropped our routes).
    pub fn clear(&mut self) {
        self.sent.clear();
    }

    /// Everything currently sent, for a route refresh or a withdraw-all.
    pub fn sent(&self) -> &BTreeSet<IpNet> {
        &self.sent
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

    fn set(items: &[&str]) -> BTreeSet<IpNet> {
        items
            .iter()
            .map(|s| s.parse().expect("test prefix"))
            .collect()
    }

    #[test]
    fn first_sync_announces_everything() {
        let mut rib = AdjRibOut::default();
        let diff = rib.sync(&set(&["198.51.100.1/32", "2001:db8::1/128"]));
        assert_eq!(diff.announce.len(), 2);
        assert!(diff.withdraw.is_empty());
        assert_eq!(rib.len(), 2);
    }

    #[test]
    fn sync_sends_only_changes() {
        let mut rib = AdjRibOut::default();
        rib.sync(&set(&["198.51.100.1/32", "198.51.100.2/32"]));
        let diff = rib.sync(&set(&["198.51.100.2/32", "198.51.100.3/32"]));
        assert_eq!(
            diff.announce,
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
        rib.sync(&table);
        assert!(rib.sync(&table).is_empty());
    }

    #[test]
    fn clear_makes_the_next_sync_announce_all_again() {
        let mut rib = AdjRibOut::default();
        let table = set(&["198.51.100.1/32"]);
        rib.sync(&table);
        rib.clear();
        assert_eq!(rib.sync(&table).announce.len(), 1);
    }
}
