//! An address pool: what a front end read ([`PoolInput`]), its rules ([`validate`]) and the
//! validated [`PoolSpec`] the allocator is built from.
//!
//! The rules, the same for `[[pools]]` and an IPAddressPool: a name; at least one address,
//! each a CIDR, a `first-last` range of one family or a single address; no range containing an
//! address of a node (announcing a node address as a service address takes the node down; the
//! error names the pool); selectors with operators Kubernetes has.

use std::net::IpAddr;
use std::num::NonZeroU32;

use super::field::FieldError;
use super::selector::{requirements, SelectorInput};
use super::values::{address_range, AddressRange};
use crate::allocator::{NodeAddress, Pool, Range, Selector};

/// A validated pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSpec {
    pub name: String,
    pub ranges: Vec<AddressRange>,
    pub auto_assign: bool,
    pub avoid_buggy_ips: bool,
    /// `serviceAllocation.priority`: lower is tried first; `None` (0 or unset) after every
    /// pool that has one (MetalLB's meaning).
    pub priority: Option<NonZeroU32>,
    /// `serviceAllocation`: which Services may take from it (empty: all).
    pub selector: Selector,
}

impl PoolSpec {
    /// The allocator's pool.
    pub fn allocator_pool(&self) -> Pool {
        let ranges = self
            .ranges
            .iter()
            .filter_map(|r| Range::new(r.start, r.end))
            .collect();
        let mut pool = Pool::new(&self.name, ranges);
        pool.auto_assign = self.auto_assign;
        pool.avoid_buggy_ips = self.avoid_buggy_ips;
        pool.priority = self.priority;
        pool.selector = self.selector.clone();
        pool
    }

    /// True when `address` lies in the pool.
    pub fn contains(&self, address: IpAddr) -> bool {
        self.ranges.iter().any(|r| r.contains(&address))
    }

    /// True when the pool has addresses of this family.
    pub fn has_v4(&self) -> bool {
        self.ranges.iter().any(|r| r.start.is_ipv4())
    }

    /// True when the pool has IPv6 addresses.
    pub fn has_v6(&self) -> bool {
        self.ranges.iter().any(|r| r.start.is_ipv6())
    }
}

/// A pool as a front end read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolInput {
    pub name: Option<String>,
    pub addresses: Vec<String>,
    pub auto_assign: Option<bool>,
    pub avoid_buggy_ips: Option<bool>,
    pub priority: Option<i64>,
    pub namespaces: Vec<String>,
    pub namespace_selectors: Vec<SelectorInput>,
    pub service_selectors: Vec<SelectorInput>,
}

/// Checks one pool against the node addresses it must not contain. The spec is `None` when
/// the pool has no name; a pool with problems otherwise comes back with its good ranges (the
/// caller decides whether to run it: the TOML refuses the file, the cluster refuses the pool).
pub fn validate(input: &PoolInput, nodes: &[NodeAddress]) -> (Option<PoolSpec>, Vec<FieldError>) {
    let mut e = Vec::new();
    let Some(name) = input.name.clone().filter(|n| !n.is_empty()) else {
        e.push(FieldError::new("name", "is required"));
        return (None, e);
    };
    if input.addresses.is_empty() {
        e.push(FieldError::new(
            "addresses",
            format!("pool `{name}` has no addresses"),
        ));
    }
    let mut ranges = Vec::new();
    for (i, a) in input.addresses.iter().enumerate() {
        let Some(range) = address_range(a) else {
            e.push(FieldError::at("addresses", i, format!("`{a}` is not a CIDR (198.51.100.0/24), a range (203.0.113.10-203.0.113.20) or an address")));
            continue;
        };
        if let Some(n) = nodes.iter().find(|n| range.contains(&n.address)) {
            e.push(FieldError::at("addresses", i, format!("pool `{name}`: `{a}` contains {}, an address of node `{}`; announcing a node address as a service address takes the node down", n.address, n.node)));
        }
        ranges.push(range);
    }
    let mut selectors = |list: &[SelectorInput], field: &'static str| {
        let mut out = Vec::new();
        for (i, s) in list.iter().enumerate() {
            match requirements(s) {
                Ok(r) => out.push(r),
                Err(m) => e.push(FieldError::at(field, i, m)),
            }
        }
        out
    };
    let selector = Selector {
        namespaces: input.namespaces.clone(),
        namespace_selectors: selectors(&input.namespace_selectors, "namespace_selectors"),
        service_selectors: selectors(&input.service_selectors, "service_selectors"),
    };
    let priority = match input.priority {
        None => None,
        Some(p) => match u32::try_from(p) {
            Ok(v) => NonZeroU32::new(v),
            Err(_) => {
                e.push(FieldError::new(
                    "priority",
                    format!("{p}: use 0 (none) or a positive number; lower is tried first"),
                ));
                None
            }
        },
    };
    let spec = PoolSpec {
        name,
        ranges,
        auto_assign: input.auto_assign.unwrap_or(true),
        avoid_buggy_ips: input.avoid_buggy_ips.unwrap_or(false),
        priority,
        selector,
    };
    (Some(spec), e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ExpressionInput;

    fn input(addresses: &[&str]) -> PoolInput {
        PoolInput {
            name: Some("public".into()),
            addresses: addresses.iter().map(|a| a.to_string()).collect(),
            ..PoolInput::default()
        }
    }

    #[test]
    fn a_pool_of_cidrs_ranges_and_addresses_of_both_families_is_valid() {
        let (spec, e) = validate(
            &input(&[
                "198.51.100.0/24",
                "203.0.113.10-203.0.113.20",
                "2001:db8::7",
            ]),
            &[],
        );
        assert!(e.is_empty(), "{e:?}");
        let spec = spec.expect("valid");
        assert!(spec.has_v4() && spec.has_v6() && spec.auto_assign);
        assert!(spec.contains("203.0.113.15".parse().expect("ip")));
        assert_eq!(spec.allocator_pool().ranges.len(), 3);
    }

    #[test]
    fn a_pool_holding_a_node_address_is_refused_by_its_name() {
        let node = NodeAddress {
            node: "node-a".into(),
            address: "198.51.100.7".parse().expect("ip"),
        };
        let (_, e) = validate(&input(&["203.0.113.0/24", "198.51.100.0/24"]), &[node]);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].index, Some(1));
        assert!(e[0].message.starts_with("pool `public`: `198.51.100.0/24` contains 198.51.100.7, an address of node `node-a`"), "{e:?}");
    }

    #[test]
    fn bad_addresses_unnamed_pools_and_unknown_operators_are_refused() {
        let (_, e) = validate(&input(&["198.51.100.300/24"]), &[]);
        assert_eq!((e[0].field, e[0].index), ("addresses", Some(0)));
        assert!(validate(&PoolInput::default(), &[]).0.is_none());
        let sel = SelectorInput {
            match_expressions: vec![ExpressionInput {
                key: "tier".into(),
                operator: "Equals".into(),
                values: vec![],
            }],
            ..SelectorInput::default()
        };
        let (_, e) = validate(
            &PoolInput {
                service_selectors: vec![sel],
                ..input(&["198.51.100.0/24"])
            },
            &[],
        );
        assert_eq!((e[0].field, e[0].index), ("service_selectors", Some(0)));
    }
}
