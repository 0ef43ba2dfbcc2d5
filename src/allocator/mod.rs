//! The address allocator: which address each load-balancer service gets. Pure: no I/O, no
//! clock (creation times are inputs), no async runtime.
//!
//! Rules (docs/ARCHITECTURE.md "Rules the code keeps"):
//! - an address never moves unless its service asks (a new specific address, or release);
//! - pools are interval sets; the used-address set is an interval set too, so a /48 costs what
//!   is handed out, and the lowest free address is found in O(log n);
//! - pool choice for a family: the pool the service names, else auto-assign pools whose
//!   selector matches, tried in MetalLB's order: pools with a namespace or service condition
//!   before pools that serve every service; then by `serviceAllocation.priority`, lower value
//!   first, a pool without one (unset or 0) after every pool with one; then name order. The
//!   first of them with a free address wins;
//! - services with the same sharing key share an address when their ports do not clash and
//!   their traffic policies agree; the last user releasing an address frees it;
//! - `restore` re-adopts existing assignments before anything new is served: the older service
//!   wins a contested address, an address outside every pool stays with its service as
//!   orphaned and is never handed to another;
//! - a pool containing a node address, or a request for one, is refused.

mod addr;
mod assign;
mod claims;
pub mod driver;
mod pool;

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod priority_tests;
#[cfg(test)]
mod release_tests;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

pub use addr::{Fam, IntervalSet};
pub use assign::Allocator;
pub use driver::{Driver, Served};
pub use pool::{selects, LabelMatch, Pool, Range, Requirement, Selector};

/// Which families a service wants (Kubernetes `spec.ipFamilyPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FamilyPolicy {
    /// One address of this (primary) family.
    SingleStack(Fam),
    /// Both families where pools exist; one is fine, the other is added when possible.
    PreferDualStack,
    /// Both families or nothing.
    RequireDualStack,
}

/// A port a service exposes, for sharing checks.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Port {
    pub protocol: String,
    pub port: u16,
}

/// What a service that wants to share an address brings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sharing {
    pub key: String,
    pub ports: Vec<Port>,
    /// `externalTrafficPolicy: Local`.
    pub local_traffic: bool,
}

/// One service asking for addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Stable identity, e.g. "namespace/name"; shared, not copied, by the claims it makes.
    pub key: Arc<str>,
    /// Creation time or sequence: the older service wins a contested address.
    pub created: u64,
    pub namespace: String,
    /// The labels of the service's namespace (for pools selecting namespaces by label).
    pub namespace_labels: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// Specific addresses asked for (empty = any).
    pub addresses: Vec<IpAddr>,
    /// A pool asked for by name.
    pub pool: Option<String>,
    pub policy: FamilyPolicy,
    pub sharing: Option<Sharing>,
}

impl Request {
    /// A request for one address of `fam` from any auto-assign pool.
    pub fn simple(key: impl Into<Arc<str>>, created: u64, fam: Fam) -> Request {
        Request {
            key: key.into(),
            created,
            namespace: String::new(),
            namespace_labels: BTreeMap::new(),
            labels: BTreeMap::new(),
            addresses: Vec::new(),
            pool: None,
            policy: FamilyPolicy::SingleStack(fam),
            sharing: None,
        }
    }
}

/// What a service holds after `allocate`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Allocation {
    /// Address → pool it came from (None: orphaned, its pool is gone or no longer covers it).
    pub addresses: BTreeMap<IpAddr, Option<String>>,
    /// Why a wanted family has no address yet (PreferDualStack), for events and status.
    pub missing: Vec<String>,
}

/// An assignment to re-adopt on start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// Shared, not copied, by the claims it makes.
    pub key: Arc<str>,
    pub created: u64,
    pub addresses: Vec<IpAddr>,
    pub sharing: Option<Sharing>,
    /// The pool the addresses came from, when known (pools may overlap).
    pub pool: Option<String>,
}

/// A node address the allocator must never hand out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAddress {
    pub node: String,
    pub address: IpAddr,
}

/// Every refusal, worded for the user who has to act on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    #[error("pool `{pool}` contains {address}, an address of node `{node}`; announcing a node address as a service address takes the node down")]
    PoolContainsNodeAddress {
        pool: String,
        address: IpAddr,
        node: String,
    },
    #[error("service `{service}` asks for {address}, an address of node `{node}`; that would take the node down")]
    NodeAddressRequested {
        service: String,
        address: IpAddr,
        node: String,
    },
    #[error("service `{service}` asks for pool `{pool}`, which does not exist")]
    UnknownPool { service: String, pool: String },
    #[error("service `{service}` asks for {address}, which is in no pool it may use")]
    NotInAllowedPool { service: String, address: IpAddr },
    #[error("service `{service}` cannot have {address}: {reason}")]
    Conflict {
        service: String,
        address: IpAddr,
        reason: String,
    },
    #[error("service `{service}`: no {family} pool it may use")]
    NoPool {
        service: String,
        family: &'static str,
    },
    #[error("service `{service}`: every {family} pool it may use is exhausted ({pools})")]
    Exhausted {
        service: String,
        family: &'static str,
        pools: String,
    },
    #[error("service `{service}` requires dual-stack but {reason}")]
    DualStackUnavailable { service: String, reason: String },
}

impl AllocError {
    /// A short stable label for metrics (`ferrolb_allocation_failures_total{reason}`).
    pub fn metric_label(&self) -> &'static str {
        match self {
            AllocError::PoolContainsNodeAddress { .. } => "pool_contains_node_address",
            AllocError::NodeAddressRequested { .. } => "node_address_requested",
            AllocError::UnknownPool { .. } => "unknown_pool",
            AllocError::NotInAllowedPool { .. } => "not_in_allowed_pool",
            AllocError::Conflict { .. } => "conflict",
            AllocError::NoPool { .. } => "no_pool",
            AllocError::Exhausted { .. } => "exhausted",
            AllocError::DualStackUnavailable { .. } => "dual_stack_unavailable",
        }
    }
}

/// Why two services cannot share an address, or None when they can.
pub fn sharing_conflict(a: Option<&Sharing>, b: Option<&Sharing>) -> Option<String> {
    let (Some(a), Some(b)) = (a, b) else {
        return Some("it is in use and sharing was not asked for by both (allow_shared_ip)".into());
    };
    if a.key != b.key {
        return Some(format!("sharing keys differ (`{}` vs `{}`)", a.key, b.key));
    }
    if a.local_traffic != b.local_traffic {
        return Some("traffic policies differ (Local vs Cluster)".into());
    }
    let ports: BTreeSet<&Port> = a.ports.iter().collect();
    b.ports
        .iter()
        .find(|p| ports.contains(p))
        .map(|p| format!("port {}/{} is used by both", p.port, p.protocol))
}
