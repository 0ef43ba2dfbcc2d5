//! The allocator side of Kubernetes mode, pure: pools from `IPAddressPool` objects, the node
//! addresses the allocator refuses from Nodes, and what every Service gets when this pod gains
//! the Lease.
//!
//! Taking over is restore-then-serve: every Service that is ours and has addresses in its
//! status is re-adopted first (older Services win contested addresses), and only then are the
//! others served, oldest first. An address is therefore never handed out while a Service that
//! holds it is still in the API, and a restart moves nothing.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Node, Service};

use crate::allocator::{AllocError, Driver, NodeAddress, Pool};
use crate::model::pool;
use crate::watch::convert::{self, pool_field};
use crate::watch::crds::IPAddressPool;
use crate::watch::events;
use crate::watch::service;
use crate::watch::speaker::plan::Labels;

/// The Event a Service gets (the reasons `kubectl describe` shows).
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
    /// The failure's metric label, when the Event is `Failed`.
    pub failure: Option<&'static str>,
}

/// The allocator after a takeover, and what to write and tell.
#[derive(Debug)]
pub struct Takeover {
    pub driver: Driver,
    pub outcomes: Vec<Outcome>,
    /// Pools refused (name, reason), e.g. one containing a node address.
    pub refused_pools: Vec<(String, String)>,
}

/// An allocator pool from an `IPAddressPool` object, checked by the model's pool rules (the
/// same as a `[[pools]]` entry's) against the cluster's node addresses.
pub fn pool_of(p: &IPAddressPool, nodes: &[NodeAddress]) -> Result<Pool, String> {
    let name = p.metadata.name.clone().unwrap_or_default();
    let (spec, errors) = pool::validate(&convert::pool_input(p), nodes);
    if let Some(e) = errors.first() {
        return Err(convert::describe(
            "IPAddressPool",
            &name,
            pool_field(e.field),
            e,
        ));
    }
    spec.map(|s| s.allocator_pool())
        .ok_or_else(|| "IPAddressPool without metadata.name".to_string())
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

/// Builds the allocator from the cluster's state and decides every Service of `class`: the
/// shared driver's restore-then-serve, with Service status as the source of what is held.
pub fn take_over(
    pools: &[IPAddressPool],
    nodes: &[Node],
    namespaces: &NamespaceLabels,
    services: &[Service],
    class: &str,
) -> Takeover {
    let node_addrs = node_addresses(nodes);
    let mut refused_pools = Vec::new();
    let mut usable = Vec::new();
    for p in pools {
        match pool_of(p, &node_addrs) {
            Ok(pool) => usable.push(pool),
            Err(e) => refused_pools.push((p.metadata.name.clone().unwrap_or_default(), e)),
        }
    }
    let mut ours: Vec<&Service> = services
        .iter()
        .filter(|s| service::is_ours(s, class))
        .collect();
    ours.sort_by_key(|s| (service::created(s), service::key(s)));
    let held = ours.iter().filter_map(|s| service::restored(s)).collect();
    let (mut driver, refused, restore_errors) = Driver::take_over(node_addrs, usable, held);
    refused_pools.extend(refused.into_iter().map(|(n, e)| (n, e.to_string())));
    let none = Labels::new();
    let mut outcomes: Vec<Outcome> = ours
        .iter()
        .map(|s| {
            let ns = s.metadata.namespace.as_deref().unwrap_or("default");
            serve(&mut driver, s, namespaces.get(ns).unwrap_or(&none))
        })
        .collect();
    for e in restore_errors {
        if let Some(o) = outcomes
            .iter_mut()
            .find(|o| Some(o.key.as_str()) == service_of(&e))
        {
            o.event = Some(Event::Failed(e.to_string()));
            o.failure = Some(e.metric_label());
        }
    }
    Takeover {
        driver,
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
pub fn serve(driver: &mut Driver, svc: &Service, namespace_labels: &Labels) -> Outcome {
    let key = service::key(svc);
    let mut current = service::ingress(svc);
    current.sort();
    let (mut addresses, event, failure) = match service::request(svc) {
        Err(e) => (
            current.clone(),
            Some(Event::Failed(e)),
            Some("invalid_request"),
        ),
        Ok(mut req) => {
            req.namespace_labels = namespace_labels.clone();
            let served = driver.serve(&req);
            let addrs: Vec<IpAddr> = served.addresses.keys().copied().collect();
            let failure = served.error.as_ref().map(|e| e.metric_label());
            let event = match served.error {
                Some(e) => Some(Event::Failed(e.to_string())),
                None if !served.missing.is_empty() => Some(Event::Allocated(format!(
                    "assigned {}; not yet: {}",
                    events::addresses(&addrs),
                    served.missing.join("; ")
                ))),
                None if addrs != current => Some(Event::Allocated(format!(
                    "assigned {}",
                    events::addresses(&addrs)
                ))),
                None => None,
            };
            (addrs, event, failure)
        }
    };
    addresses.sort();
    Outcome {
        changed: addresses != current,
        key,
        addresses,
        event,
        failure,
    }
}

#[cfg(test)]
mod tests;
