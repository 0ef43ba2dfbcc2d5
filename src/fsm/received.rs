//! The prefixes a peer has announced to us (what `max_prefixes` counts), with a ceiling so a
//! peer cannot grow our memory without bound even when no limit is configured.
//!
//! ferrolb imports nothing; it keeps the prefixes only to count them (an announcement of a
//! prefix already held replaces it and is not counted twice, a withdrawal removes it). Beyond
//! [`RECEIVED_CEILING`] prefixes counting stops: new prefixes are not stored (the session is
//! not reset); the runtime logs this once per session.

use std::collections::BTreeSet;

use ipnet::IpNet;

use crate::packet::message::{Family, Update};

/// The most prefixes kept per peer (about the size of today's IPv4 Internet table). At about
/// 40 bytes a prefix in the B-tree this bounds a peer's received set to ~40 MB.
pub const RECEIVED_CEILING: usize = 1_000_000;

/// The prefixes received from one peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Received {
    set: BTreeSet<IpNet>,
    ceiling_hit: bool,
}

/// What applying one UPDATE did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// The family of the last prefix the UPDATE announced (for the RFC 4486 data).
    pub family: Option<Family>,
    /// This UPDATE was the first to reach the ceiling since the set was last cleared.
    pub ceiling_reached: bool,
}

impl Received {
    /// Applies withdrawals, then announcements (RFC 4271 §4.3 order), up to `ceiling` prefixes.
    pub fn apply(&mut self, update: &Update, ceiling: usize) -> Applied {
        for p in &update.withdrawn {
            self.set.remove(p);
        }
        let mut reached = false;
        for p in &update.announced {
            if self.set.len() >= ceiling && !self.set.contains(p) {
                reached |= !self.ceiling_hit;
                self.ceiling_hit = true;
                break;
            }
            self.set.insert(*p);
        }
        Applied {
            family: update.announced.last().map(|p| Family::of(p.addr())),
            ceiling_reached: reached,
        }
    }

    /// Distinct prefixes held.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Forgets everything (the session went down).
    pub fn clear(&mut self) {
        self.set = BTreeSet::new();
        self.ceiling_hit = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(withdrawn: &[&str], announced: &[&str]) -> Update {
        let nets = |l: &[&str]| l.iter().map(|s| s.parse().unwrap()).collect();
        Update {
            withdrawn: nets(withdrawn),
            attributes: None,
            announced: nets(announced),
            end_of_rib: None,
            errors: Vec::new(),
        }
    }

    #[test]
    fn a_prefix_announced_twice_counts_once_and_a_withdrawal_removes_it() {
        let mut r = Received::default();
        r.apply(&update(&[], &["192.0.2.0/24", "192.0.2.0/24"]), 10);
        assert_eq!(r.len(), 1);
        r.apply(&update(&[], &["2001:db8::/32"]), 10);
        assert_eq!(r.len(), 2);
        r.apply(&update(&["192.0.2.0/24"], &[]), 10);
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn counting_stops_at_the_ceiling_and_reports_it_once() {
        let mut r = Received::default();
        let a = r.apply(
            &update(&[], &["192.0.2.1/32", "192.0.2.2/32", "192.0.2.3/32"]),
            2,
        );
        assert!(a.ceiling_reached);
        assert_eq!(r.len(), 2);
        let again = r.apply(&update(&[], &["192.0.2.4/32"]), 2);
        assert!(!again.ceiling_reached, "reported once");
        assert_eq!(r.len(), 2);
        // A prefix already held is still accepted (an implicit replace), and withdrawals work.
        let replace = r.apply(&update(&["192.0.2.1/32"], &["192.0.2.2/32"]), 2);
        assert!(!replace.ceiling_reached);
        assert_eq!(r.len(), 1);
        r.clear();
        assert!(r.is_empty());
        let after_clear = r.apply(
            &update(&[], &["192.0.2.1/32", "192.0.2.2/32", "192.0.2.3/32"]),
            2,
        );
        assert!(after_clear.ceiling_reached, "a new session reports again");
    }

    #[test]
    fn the_family_is_that_of_the_last_announced_prefix() {
        let mut r = Received::default();
        let a = r.apply(&update(&[], &["192.0.2.0/24", "2001:db8::/32"]), 10);
        assert_eq!(a.family, Some(Family::Ipv6Unicast));
        assert_eq!(r.apply(&update(&["2001:db8::/32"], &[]), 10).family, None);
    }
}
