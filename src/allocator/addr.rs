//! Addresses as numbers: an IPv4 or IPv6 address maps to (family, u128) so pools and the set of
//! used addresses are interval sets whose cost follows what is handed out, not the pool size.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The address family of a pool range or an assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fam {
    V4,
    V6,
}

impl Fam {
    pub fn of(a: IpAddr) -> Fam {
        if a.is_ipv4() {
            Fam::V4
        } else {
            Fam::V6
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Fam::V4 => "IPv4",
            Fam::V6 => "IPv6",
        }
    }
}

/// The number of an address within its family.
pub fn to_num(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The address with number `n` in family `f` (IPv4 numbers above 2^32 wrap; callers keep
/// numbers within the ranges they came from).
pub fn from_num(f: Fam, n: u128) -> IpAddr {
    match f {
        Fam::V4 => IpAddr::V4(Ipv4Addr::from(n as u32)),
        Fam::V6 => IpAddr::V6(Ipv6Addr::from(n)),
    }
}

/// A set of numbers stored as disjoint, non-adjacent inclusive intervals (start → end).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntervalSet {
    map: BTreeMap<u128, u128>,
}

impl IntervalSet {
    /// The interval containing `n`, if any.
    pub fn covering(&self, n: u128) -> Option<(u128, u128)> {
        self.map
            .range(..=n)
            .next_back()
            .filter(|(_, e)| **e >= n)
            .map(|(s, e)| (*s, *e))
    }

    pub fn contains(&self, n: u128) -> bool {
        self.covering(n).is_some()
    }

    /// Adds one number, merging with neighbours.
    pub fn insert(&mut self, n: u128) {
        if self.contains(n) {
            return;
        }
        let mut start = n;
        let mut end = n;
        if let Some(prev_end) = n.checked_sub(1).and_then(|p| self.covering(p)) {
            self.map.remove(&prev_end.0);
            start = prev_end.0;
        }
        if let Some(next_end) = n.checked_add(1).and_then(|x| self.map.get(&x).copied()) {
            self.map.remove(&(n + 1));
            end = next_end;
        }
        self.map.insert(start, end);
    }

    /// Removes one number, splitting its interval.
    pub fn remove(&mut self, n: u128) {
        let Some((s, e)) = self.covering(n) else {
            return;
        };
        self.map.remove(&s);
        if s < n {
            self.map.insert(s, n - 1);
        }
        if n < e {
            self.map.insert(n + 1, e);
        }
    }

    /// The lowest number in `lo..=hi` not in the set.
    pub fn first_gap(&self, lo: u128, hi: u128) -> Option<u128> {
        let candidate = match self.covering(lo) {
            Some((_, e)) => e.checked_add(1)?,
            None => lo,
        };
        (candidate <= hi).then_some(candidate)
    }

    /// Number of intervals (memory follows this, not the numbers covered).
    pub fn intervals(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserting_neighbours_merges_intervals() {
        let mut s = IntervalSet::default();
        s.insert(5);
        s.insert(7);
        assert_eq!(s.intervals(), 2);
        s.insert(6);
        assert_eq!(s.intervals(), 1);
        assert_eq!(s.covering(6), Some((5, 7)));
    }

    #[test]
    fn removing_from_the_middle_splits_an_interval() {
        let mut s = IntervalSet::default();
        (1..=9).for_each(|n| s.insert(n));
        s.remove(5);
        assert_eq!(s.covering(4), Some((1, 4)));
        assert_eq!(s.covering(6), Some((6, 9)));
        assert!(!s.contains(5));
    }

    #[test]
    fn the_first_gap_skips_a_used_run() {
        let mut s = IntervalSet::default();
        (10..=20).for_each(|n| s.insert(n));
        assert_eq!(s.first_gap(10, 30), Some(21));
        assert_eq!(s.first_gap(5, 30), Some(5));
        assert_eq!(s.first_gap(10, 20), None);
    }

    #[test]
    fn extreme_numbers_do_not_overflow() {
        let mut s = IntervalSet::default();
        s.insert(u128::MAX);
        s.insert(0);
        assert_eq!(s.first_gap(u128::MAX, u128::MAX), None);
        s.remove(u128::MAX);
        assert_eq!(s.first_gap(u128::MAX - 1, u128::MAX), Some(u128::MAX - 1));
    }
}
