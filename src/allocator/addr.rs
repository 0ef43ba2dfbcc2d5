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

    /// Removes every number in `lo..=hi` (`lo <= hi`), trimming the intervals at both ends.
    pub fn remove_range(&mut self, lo: u128, hi: u128) {
        let first = self.covering(lo).map_or(lo, |(s, _)| s);
        let inside: Vec<(u128, u128)> = self.map.range(first..=hi).map(|(s, e)| (*s, *e)).collect();
        for (s, e) in inside {
            self.map.remove(&s);
            if s < lo {
                self.map.insert(s, lo - 1);
            }
            if e > hi {
                self.map.insert(hi + 1, e);
            }
        }
    }

    /// Removes every number of `sorted` (ascending, repeats allowed), one run of consecutive
    /// numbers at a time.
    pub fn remove_sorted(&mut self, sorted: &[u128]) {
        let mut i = 0;
        while i < sorted.len() {
            let lo = sorted[i];
            let mut hi = lo;
            i += 1;
            while i < sorted.len() && (sorted[i] == hi || Some(sorted[i]) == hi.checked_add(1)) {
                hi = sorted[i];
                i += 1;
            }
            self.remove_range(lo, hi);
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
    fn removing_a_range_trims_the_intervals_at_both_ends_and_drops_those_inside() {
        let mut s = IntervalSet::default();
        (1..=20).filter(|n| n % 5 != 0).for_each(|n| s.insert(n));
        s.remove_range(3, 12);
        let left: Vec<u128> = (0..=21).filter(|n| s.contains(*n)).collect();
        assert_eq!(left, [1, 2, 13, 14, 16, 17, 18, 19]);
        s.remove_sorted(&[1, 2, 2, 14, 16, 17, 19]);
        let left: Vec<u128> = (0..=21).filter(|n| s.contains(*n)).collect();
        assert_eq!(left, [13, 18]);
    }

    #[test]
    fn removing_numbers_one_by_one_or_sorted_in_runs_leaves_the_same_set() {
        let mut one = IntervalSet::default();
        (0..200u128)
            .filter(|n| n % 7 != 3)
            .for_each(|n| one.insert(n));
        let mut runs = one.clone();
        let gone: Vec<u128> = (0..200u128).filter(|n| n % 3 != 0 || n % 11 == 0).collect();
        gone.iter().for_each(|n| one.remove(*n));
        runs.remove_sorted(&gone);
        assert_eq!(one, runs);
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
