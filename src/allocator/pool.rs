//! Address pools: ranges of either family (CIDRs and `a-b` ranges, mixed), with the options
//! that decide who may take addresses from them.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::addr::{from_num, to_num, Fam, IntervalSet};

/// One inclusive range of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Range {
    pub fam: Fam,
    pub lo: u128,
    pub hi: u128,
}

impl Range {
    /// A range from two addresses of one family (`a <= b`), or None.
    pub fn new(a: IpAddr, b: IpAddr) -> Option<Range> {
        let fam = Fam::of(a);
        (fam == Fam::of(b) && to_num(a) <= to_num(b)).then_some(Range {
            fam,
            lo: to_num(a),
            hi: to_num(b),
        })
    }

    pub fn contains(&self, a: IpAddr) -> bool {
        Fam::of(a) == self.fam && (self.lo..=self.hi).contains(&to_num(a))
    }
}

/// Which services a pool serves (Kubernetes fills these; standalone leaves them empty).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    /// Namespaces the pool serves; empty = all.
    pub namespaces: Vec<String>,
    /// Labels a service must carry; empty = any.
    pub labels: BTreeMap<String, String>,
}

impl Selector {
    /// True when the selector names anything (more specific than match-all).
    pub fn is_specific(&self) -> bool {
        !self.namespaces.is_empty() || !self.labels.is_empty()
    }

    pub fn matches(&self, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        (self.namespaces.is_empty() || self.namespaces.iter().any(|n| n == namespace))
            && self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
    }
}

/// An address pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    pub name: String,
    pub ranges: Vec<Range>,
    /// False: only services that name this pool or one of its addresses get addresses from it.
    pub auto_assign: bool,
    /// Skip IPv4 addresses ending in .0 and .255.
    pub avoid_buggy_ips: bool,
    /// Higher wins among pools that match equally specifically.
    pub priority: i32,
    pub selector: Selector,
}

impl Pool {
    /// A pool with default options.
    pub fn new(name: &str, ranges: Vec<Range>) -> Pool {
        Pool {
            name: name.to_string(),
            ranges,
            auto_assign: true,
            avoid_buggy_ips: false,
            priority: 0,
            selector: Selector::default(),
        }
    }

    pub fn contains(&self, a: IpAddr) -> bool {
        self.ranges.iter().any(|r| r.contains(a)) && !self.is_buggy(a)
    }

    pub fn has_family(&self, f: Fam) -> bool {
        self.ranges.iter().any(|r| r.fam == f)
    }

    fn is_buggy(&self, a: IpAddr) -> bool {
        match a {
            IpAddr::V4(v4) if self.avoid_buggy_ips => matches!(v4.octets()[3], 0 | 255),
            _ => false,
        }
    }

    /// The lowest address of family `f` in this pool that is not in `used`.
    pub fn first_free(&self, f: Fam, used: &IntervalSet) -> Option<IpAddr> {
        for r in self.ranges.iter().filter(|r| r.fam == f) {
            let mut lo = r.lo;
            while let Some(n) = used.first_gap(lo, r.hi) {
                let a = from_num(f, n);
                if !self.is_buggy(a) {
                    return Some(a);
                }
                match n.checked_add(1) {
                    Some(next) => lo = next,
                    None => break,
                }
            }
        }
        None
    }
}
