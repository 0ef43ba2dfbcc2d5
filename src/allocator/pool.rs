//! Address pools: ranges of either family (CIDRs and `a-b` ranges, mixed), with the options
//! that decide who may take addresses from them.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::num::NonZeroU32;

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

/// One label requirement (a Kubernetes `matchLabels` entry or `matchExpressions` item).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    Equals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

impl Requirement {
    /// True when `labels` satisfy it.
    pub fn holds(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        }
    }
}

/// A label selector: every requirement must hold (the empty selector selects everything).
pub type LabelMatch = Vec<Requirement>;

/// True when every requirement of `sel` holds.
pub fn selects(sel: &[Requirement], labels: &BTreeMap<String, String>) -> bool {
    sel.iter().all(|r| r.holds(labels))
}

/// Which services a pool serves, like MetalLB's `serviceAllocation` (Kubernetes fills these;
/// standalone leaves them empty = every service).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    /// Namespaces the pool serves by name.
    pub namespaces: Vec<String>,
    /// Namespaces the pool serves by their labels (any selector).
    pub namespace_selectors: Vec<LabelMatch>,
    /// Services the pool serves by their labels (any selector); empty = any service.
    pub service_selectors: Vec<LabelMatch>,
}

impl Selector {
    /// True when the selector names anything (more specific than match-all).
    pub fn is_specific(&self) -> bool {
        !self.namespaces.is_empty()
            || !self.namespace_selectors.is_empty()
            || !self.service_selectors.is_empty()
    }

    /// Namespace: by name or by labels (no namespace condition: any); service: by labels.
    pub fn matches(
        &self,
        namespace: &str,
        namespace_labels: &BTreeMap<String, String>,
        labels: &BTreeMap<String, String>,
    ) -> bool {
        let any_namespace = self.namespaces.is_empty() && self.namespace_selectors.is_empty();
        let namespace_ok = any_namespace
            || self.namespaces.iter().any(|n| n == namespace)
            || self
                .namespace_selectors
                .iter()
                .any(|s| selects(s, namespace_labels));
        let service_ok = self.service_selectors.is_empty()
            || self.service_selectors.iter().any(|s| selects(s, labels));
        namespace_ok && service_ok
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
    /// MetalLB's `serviceAllocation.priority`: among pools that match equally specifically, a
    /// lower value is tried first (1 before 2); `None` (MetalLB's unset or 0, hence non-zero
    /// here) is tried after every pool that has a priority.
    pub priority: Option<NonZeroU32>,
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
            priority: None,
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
