//! The allocator side of Kubernetes mode, pure: pools from `IPAddressPool` objects, the node
//! addresses the allocator refuses from Nodes, and what every Service gets when this pod gains
//! the Lease.
//!
//! Taking over is restore-then-serve: every Service that is ours and has addresses in its
//! status is re-adopted first (older Services win contested addresses), and only then are the
//! others served, oldest first. An address is therefore never handed out while a Service that
//! holds it is still in the API, and a restart moves nothing.

use std::net::IpAddr;
use std::num::NonZeroU32;

use k8s_openapi::api::core::v1::{Node, Service};

use super::crds::IPAddressPool;
use super::service;
use super::speaker::{requirements, Labels};
use crate::allocator::{AllocError, Allocator, NodeAddress, Pool, Range, Selector};
use crate::config::address_range;

/// The Event a Service gets (reasons as in DESIGN.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `IPAllocated`: addresses assigned or changed.
    Allocated(String),
    /// `AllocationFailed`: with the allocator's reason.
    Failed(String),
}

/// What the allocator decided for one Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `namespace/name`.
    pub key: String,
    /// What `status.loadBalancer.ingress` should hold, sorted.
    pub addresses: Vec<IpAddr>,
    /// True when that differs from the status now (a write is needed).
    pub changed: bool,
    pub event: Option<Event>,
}

/// The allocator after a takeover, and what to write and tell.
#[derive(Debug)]
pub struct Takeover {
    pub alloc: Allocator,
    pub outcomes: Vec<Outcome>,
    /// Pools refused (name, reason), e.g. one containing a node address.
    pub refused_pools: Vec<(String, String)>,
}

/// An allocator pool from an `IPAddressPool` object.
pub fn pool_of(p: &IPAddressPool) -> Result<Pool, String> {
    let name = p.metadata.name.clone().unwrap_or_default();
    let mut ranges = Vec::new();
    for a in &p.spec.addresses {
        let r = address_range(a)
            .and_then(|r| Range::new(r.start, r.end))
            .ok_or_else(|| format!("IPAddressPool `{name}`: `{a}` is not a CIDR or range"))?;
        ranges.push(r);
    }
    let mut pool = Pool::new(&name, ranges);
    pool.auto_assign = p.spec.auto_assign.unwrap_or(true);
    pool.avoid_buggy_ips = p.spec.avoid_buggy_ips.unwrap_or(false);
    if let Some(sa) = &p.spec.service_allocation {
        let selectors = |list: &[crate::watch::crds::LabelSelector], what: &str| {
            list.iter()
                .map(|s| {
                    requirements(s).map_err(|e| {
                        format!("IPAddressPool `{name}`: serviceAllocation.{what}: {e}")
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        pool.priority = match sa.priority {
            Some(n) if n < 0 => {
                return Err(format!(
                    "IPAddressPool `{name}`: serviceAllocation.priority {n} is negative"
                ))
            }
            n => n.and_then(|n| NonZeroU32::new(n.unsigned_abs())),
        };
        pool.selector = Selector {
            namespaces: sa.namespaces.clone(),
            namespace_selectors: selectors(&sa.namespace_selectors, "namespaceSelectors")?,
            service_selectors: selectors(&sa.service_selectors, "serviceSelectors")?,
        };
    }
    Ok(pool)
}

/// Every InternalIP and ExternalIP of every Node: addresses a pool must not contain.
pub fn node_addresses(nodes: &[Node]) -> Vec<NodeAddress> {
    nodes
        .iter()
        .flat_map(|n| {
            let node = n.metadata.name.clone().unwrap_or_default();
            n.status
                .iter()
                .flat_map(|s| s.addresses.iter().flatten())
                .filter(|a| a.type_ == "InternalIP" || a.type_ == "ExternalIP")
                .filter_map(move |a| {
                    Some(NodeAddress {
                        node: node.clone(),
                        address: a.address.parse().ok()?,
                    })
                })
        })
        .collect()
}

/// The labels of every Namespace, by name (for pools that select namespaces by label).
pub type NamespaceLabels = std::collections::BTreeMap<String, Labels>;

/// Builds the allocator from the cluster's state and decides every Service of `class`.
pub fn take_over(
    pools: &[IPAddressPool],
    nodes: &[Node],
    namespaces: &NamespaceLabels,
    services: &[Service],
    class: &str,
) -> Takeover {
    let mut alloc = Allocator::new(node_addresses(nodes));
    let mut refused_pools = Vec::new();
    for p in pools {
        let name = p.metadata.name.clone().unwrap_or_default();
        match pool_of(p).and_then(|pool| alloc.add_pool(pool).map_err(|e| e.to_string())) {
            Ok(()) => {}
            Err(e) => refused_pools.push((name, e)),
        }
    }
    let mut ours: Vec<&Service> = services
        .iter()
        .filter(|s| service::is_ours(s, class))
        .collect();
    ours.sort_by_key(|s| (service::created(s), service::key(s)));
    let restore_errors = alloc.restore(ours.iter().filter_map(|s| service::restored(s)).collect());
    let none = Labels::new();
    let mut outcomes: Vec<Outcome> = ours
        .iter()
        .map(|s| {
            let ns = s.metadata.namespace.as_deref().unwrap_or("default");
            serve(&mut alloc, s, namespaces.get(ns).unwrap_or(&none))
        })
        .collect();
    for e in restore_errors {
        if let Some(o) = outcomes
            .iter_mut()
            .find(|o| Some(o.key.as_str()) == service_of(&e))
        {
            o.event = Some(Event::Failed(e.to_string()));
        }
    }
    Takeover {
        alloc,
        outcomes,
        refused_pools,
    }
}

fn service_of(e: &AllocError) -> Option<&str> {
    match e {
        AllocError::NodeAddressRequested { service, .. }
        | AllocError::UnknownPool { service, .. }
        | AllocError::NotInAllowedPool { service, .. }
        | AllocError::Conflict { service, .. }
        | AllocError::NoPool { service, .. }
        | AllocError::Exhausted { service, .. }
        | AllocError::DualStackUnavailable { service, .. } => Some(service),
        AllocError::PoolContainsNodeAddress { .. } => None,
    }
}

/// Allocates for one Service (keeping what it holds) and says what to write and tell;
/// `namespace_labels` are the labels of its Namespace.
pub fn serve(alloc: &mut Allocator, svc: &Service, namespace_labels: &Labels) -> Outcome {
    let key = service::key(svc);
    let mut current = service::ingress(svc);
    current.sort();
    let request = service::request(svc).map(|mut r| {
        r.namespace_labels = namespace_labels.clone();
        r
    });
    let (mut addresses, event) = match request {
        Err(e) => (current.clone(), Some(Event::Failed(e))),
        Ok(req) => match alloc.allocate(&req) {
            Ok(a) => {
                let addrs: Vec<IpAddr> = a.addresses.keys().copied().collect();
                let event = if !a.missing.is_empty() {
                    Some(Event::Allocated(format!(
                        "assigned {}; not yet: {}",
                        list(&addrs),
                        a.missing.join("; ")
                    )))
                } else if addrs != current {
                    Some(Event::Allocated(format!("assigned {}", list(&addrs))))
                } else {
                    None
                };
                (addrs, event)
            }
            Err(e) => (
                alloc.assignment(&key).addresses.into_keys().collect(),
                Some(Event::Failed(e.to_string())),
            ),
        },
    };
    addresses.sort();
    Outcome {
        changed: addresses != current,
        key,
        addresses,
        event,
    }
}

fn list(addrs: &[IpAddr]) -> String {
    addrs
        .iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
