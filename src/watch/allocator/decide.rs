//! The allocator side of Kubernetes mode, pure: pools from `IPAddressPool` objects, the node
//! addresses the allocator refuses from Nodes, and what every Service gets when this pod gains
//! the Lease.
//!
//! Taking over is restore-then-serve: every Service that is ours and has addresses in its
//! status is re-adopted first (older Services win contested addresses), and only then are the
//! others served, oldest first. An address is therefore never handed out while a Service that
//! holds it is still in the API, and a restart moves nothing.

use std::borrow::Borrow;
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;

use crate::allocator::{AllocError, Driver, NodeAddress, Pool, Request, Restored, Sharing};
use crate::model::pool;
use crate::watch::convert::{self, pool_field};
use crate::watch::crds::IPAddressPool;
use crate::watch::events;
use crate::watch::service::{self, ServiceRecord};
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
pub fn node_addresses<N: Borrow<Node>>(nodes: &[N]) -> Vec<NodeAddress> {
    nodes
        .iter()
        .map(Borrow::borrow)
        .flat_map(|n: &Node| {
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

/// What the allocator reads from one Service of ours: the mirror's record (shared, not
/// copied) and what its status holds. Two inputs that are [`Input::same`] decide the same.
#[derive(Debug, Clone)]
pub struct Input {
    /// The Service it is decided on; its `ingress` is what the status held when it was
    /// mirrored, `status` is what it holds now.
    pub service: Arc<ServiceRecord>,
    /// `status.loadBalancer.ingress`, sorted.
    pub status: Vec<IpAddr>,
}

impl Input {
    /// The input of a Service (ours or not; the caller checks [`service::is_ours`]).
    pub fn of(svc: impl Into<Arc<ServiceRecord>>) -> Input {
        let service: Arc<ServiceRecord> = svc.into();
        let mut status = service::ingress(&service);
        status.sort();
        Input { service, status }
    }

    /// `namespace/name`.
    pub fn key(&self) -> &str {
        &self.service.key
    }

    pub fn created(&self) -> u64 {
        self.service.created
    }

    /// The namespace whose labels the pools' selectors see.
    pub fn namespace(&self) -> &str {
        self.service.namespace()
    }

    /// The allocator request, or why the Service's annotations or spec are wrong.
    pub fn request(&self) -> Result<Request, String> {
        service::request(&self.service)
    }

    /// The `address-pool` annotation (the restore hint).
    fn pool_hint(&self) -> Option<&str> {
        self.service.annotation("address-pool")
    }

    /// True when both decide the same: the same status and the same request (what the
    /// record holds beside it, its uid, whether we wrote its status, is not read here).
    pub fn same(&self, other: &Input) -> bool {
        let (a, b) = (&*self.service, &*other.service);
        self.status == other.status
            && a.key == b.key
            && a.created == b.created
            && a.annotations == b.annotations
            && a.labels == b.labels
            && a.load_balancer_ip == b.load_balancer_ip
            && a.primary == b.primary
            && a.policy == b.policy
            && a.ports == b.ports
            && a.local_traffic == b.local_traffic
    }

    /// The restore entry: what its status says it holds (None when nothing).
    pub fn restored(&self) -> Option<Restored> {
        if self.status.is_empty() {
            return None;
        }
        Some(Restored {
            key: self.service.key.clone(),
            created: self.created(),
            addresses: self.status.clone(),
            sharing: self.sharing(),
            pool: self.pool_hint().map(str::to_string),
        })
    }

    /// What it brings to share an address, when its request is valid and asks to.
    fn sharing(&self) -> Option<Sharing> {
        service::asked(&self.service)
            .ok()
            .and_then(|_| service::sharing(&self.service))
    }

    /// True when it asks to share its address (it may then hold one with others).
    pub fn shares(&self) -> bool {
        self.sharing().is_some()
    }

    /// True when a pool or namespace change can change its outcome although it holds all it
    /// wants: it asks for specific addresses or names a pool.
    pub fn pool_sensitive(&self) -> bool {
        self.pool_hint().is_some()
            || service::asked(&self.service).is_ok_and(|(addrs, _)| !addrs.is_empty())
    }
}

/// The usable allocator pools of the `IPAddressPool` objects, and those refused (name, reason).
pub fn pools_of(
    pools: &[IPAddressPool],
    node_addrs: &[NodeAddress],
) -> (Vec<Pool>, Vec<(String, String)>) {
    let mut refused = Vec::new();
    let mut usable = Vec::new();
    for p in pools {
        match pool_of(p, node_addrs) {
            Ok(pool) => usable.push(pool),
            Err(e) => refused.push((p.metadata.name.clone().unwrap_or_default(), e)),
        }
    }
    (usable, refused)
}

/// Builds the allocator from the cluster's state and decides every Service of `class`: the
/// shared driver's restore-then-serve, with Service status as the source of what is held.
pub fn take_over<S: Borrow<ServiceRecord> + Clone + Into<Arc<ServiceRecord>>>(
    pools: &[IPAddressPool],
    nodes: &[Node],
    namespaces: &NamespaceLabels,
    services: &[S],
    class: &str,
) -> Takeover {
    let inputs: Vec<Input> = services
        .iter()
        .filter(|s| service::is_ours((*s).borrow(), class))
        .map(|s| Input::of(s.clone()))
        .collect();
    let node_addrs = node_addresses(nodes);
    let (usable, refused) = pools_of(pools, &node_addrs);
    let (t, _) = take_over_inputs(node_addrs, usable, refused, namespaces, inputs.iter());
    t
}

/// [`take_over`] on Services already read: restore every status, then serve oldest first.
/// Also returns, per outcome, whether the Service still lacks an address it wants (failed or
/// "not yet").
pub fn take_over_inputs<'a>(
    node_addrs: Vec<NodeAddress>,
    usable: Vec<Pool>,
    mut refused_pools: Vec<(String, String)>,
    namespaces: &NamespaceLabels,
    inputs: impl Iterator<Item = &'a Input>,
) -> (Takeover, Vec<bool>) {
    let mut ours: Vec<&Input> = inputs.collect();
    ours.sort_by(|a, b| (a.created(), a.key()).cmp(&(b.created(), b.key())));
    let held = ours.iter().filter_map(|i| i.restored()).collect();
    let (mut driver, refused, restore_errors) = Driver::take_over(node_addrs, usable, held);
    refused_pools.extend(refused.into_iter().map(|(n, e)| (n, e.to_string())));
    let none = Labels::new();
    let (mut outcomes, mut pending): (Vec<Outcome>, Vec<bool>) = ours
        .iter()
        .map(|i| {
            serve_input(
                &mut driver,
                i,
                namespaces.get(i.namespace()).unwrap_or(&none),
            )
        })
        .unzip();
    for e in restore_errors {
        if let Some(n) = outcomes
            .iter()
            .position(|o| Some(o.key.as_str()) == service_of(&e))
        {
            outcomes[n].event = Some(Event::Failed(e.to_string()));
            outcomes[n].failure = Some(e.metric_label());
            pending[n] = true;
        }
    }
    (
        Takeover {
            driver,
            outcomes,
            refused_pools,
        },
        pending,
    )
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
pub fn serve(driver: &mut Driver, svc: &ServiceRecord, namespace_labels: &Labels) -> Outcome {
    serve_input(driver, &Input::of(svc.clone()), namespace_labels).0
}

/// [`serve`] on a Service already read; also says whether it still lacks an address it wants
/// (failed or "not yet"), so a freed address should be offered to it.
pub fn serve_input(
    driver: &mut Driver,
    input: &Input,
    namespace_labels: &Labels,
) -> (Outcome, bool) {
    let current = &input.status;
    let (mut addresses, event, failure, pending) = match input.request() {
        Err(e) => (
            current.clone(),
            Some(Event::Failed(e)),
            Some("invalid_request"),
            // Nothing freed elsewhere helps it.
            false,
        ),
        Ok(mut req) => {
            req.namespace_labels = namespace_labels.clone();
            let served = driver.serve(&req);
            let addrs: Vec<IpAddr> = served.addresses.keys().copied().collect();
            let failure = served.error.as_ref().map(|e| e.metric_label());
            let pending = served.error.is_some() || !served.missing.is_empty();
            let event = match served.error {
                Some(e) => Some(Event::Failed(e.to_string())),
                None if !served.missing.is_empty() => Some(Event::Allocated(format!(
                    "assigned {}; not yet: {}",
                    events::addresses(&addrs),
                    served.missing.join("; ")
                ))),
                None if addrs != *current => Some(Event::Allocated(format!(
                    "assigned {}",
                    events::addresses(&addrs)
                ))),
                None => None,
            };
            (addrs, event, failure, pending)
        }
    };
    addresses.sort();
    (
        Outcome {
            changed: addresses != *current,
            key: input.key().to_string(),
            addresses,
            event,
            failure,
        },
        pending,
    )
}

#[cfg(test)]
mod tests;
