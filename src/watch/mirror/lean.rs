//! What the mirror keeps of each object it holds as a k8s-openapi object: the fields some
//! decision reads, nothing else. Each watch event's object goes through one of these before it
//! reaches its store, so the mirror does not hold managedFields, kubectl's last-applied copy
//! or the images of every Node.
//!
//! The readers (keep this list true when one starts reading another field):
//! - Services are not kept as objects: [`super::record::ServiceRecord`] keeps what
//!   `service.rs` (type, loadBalancerClass, loadBalancerIP, ipFamilies[0], ipFamilyPolicy,
//!   ports' port and protocol (for `allow-shared-ip` only: kept only when it is set),
//!   externalTrafficPolicy Local, our annotations, labels, creationTimestamp,
//!   status.loadBalancer.ingress IPs), the allocator (uid, and `written_by_us`: a
//!   managedFields entry of our field manager on `status`), Events and the speaker's
//!   ServiceAnnouncements (name, namespace, uid) read.
//! - EndpointSlices are not kept as objects: [`super::compact::ReadySlice`] keeps what
//!   `speaker::plan::ready_on` reads (namespace, the `kubernetes.io/service-name` label, the
//!   nodes with a ready endpoint).
//! - Nodes: name, labels, status.addresses (the node's own addresses, L2 seeds).
//! - Namespaces: name and labels (pools' namespace selectors).
//! - Secrets: the `password` key of `data` (BGPPeer passwords).
//! - ferrolb's own kinds: whole spec; their metadata loses managedFields like every kind.
//!
//! Nothing writes a mirrored object back to the API server (status goes out as server-side
//! apply patches of its own), so what is dropped here is never lost in the cluster.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Namespace, Node, NodeStatus, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta};

use super::super::allocator::task::FIELD_MANAGER as ALLOCATOR;
use super::super::crds::{BFDProfile, BGPAdvertisement, BGPPeer, IPAddressPool, L2Advertisement};
use super::super::service::ANNOTATION_PREFIXES;
use super::super::speaker::report::FIELD_MANAGER as SPEAKER;

/// Metadata every kind keeps: identity, labels, lifecycle, our annotations, and of
/// managedFields only who of ours wrote which subresource (without the field sets).
pub fn metadata(meta: &mut ObjectMeta) {
    meta.managed_fields = meta
        .managed_fields
        .take()
        .map(|entries| {
            entries
                .into_iter()
                .filter(|m| matches!(m.manager.as_deref(), Some(ALLOCATOR | SPEAKER)))
                .map(|m| ManagedFieldsEntry {
                    manager: m.manager,
                    operation: m.operation,
                    subresource: m.subresource,
                    ..ManagedFieldsEntry::default()
                })
                .collect::<Vec<_>>()
        })
        .filter(|v| !v.is_empty());
    meta.annotations = meta
        .annotations
        .take()
        .map(|a| {
            a.into_iter()
                .filter(|(k, _)| ANNOTATION_PREFIXES.iter().any(|p| k.starts_with(p)))
                .collect::<BTreeMap<_, _>>()
        })
        .filter(|a| !a.is_empty());
    meta.owner_references = None;
    meta.generate_name = None;
    meta.self_link = None;
}

/// A kind the mirror reflects (a Kubernetes object with a static type), and how it is cut down
/// to what decisions read.
pub trait Lean:
    kube::Resource<DynamicType = ()>
    + Clone
    + serde::de::DeserializeOwned
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    fn lean(&mut self);
}

/// ferrolb's own kinds: their spec is all read; the metadata is cut like every kind's.
macro_rules! metadata_only {
    ($($kind:ty),*) => {$(
        impl Lean for $kind {
            fn lean(&mut self) {
                metadata(&mut self.metadata);
            }
        }
    )*};
}
metadata_only!(
    IPAddressPool,
    BGPPeer,
    BGPAdvertisement,
    L2Advertisement,
    BFDProfile
);

macro_rules! lean_by {
    ($($kind:ty => $f:ident),*) => {$(
        impl Lean for $kind {
            fn lean(&mut self) {
                $f(self);
            }
        }
    )*};
}
lean_by!(
    Node => node,
    Namespace => namespace,
    Secret => secret
);

/// A Node: name, labels and addresses.
pub fn node(n: &mut Node) {
    metadata(&mut n.metadata);
    n.spec = None;
    n.status = n.status.take().map(|s| NodeStatus {
        addresses: s.addresses,
        ..NodeStatus::default()
    });
}

/// A Namespace: name and labels.
pub fn namespace(n: &mut Namespace) {
    metadata(&mut n.metadata);
    n.spec = None;
    n.status = None;
}

/// A Secret: the `password` key only (the namespace may hold large Secrets of others, such as
/// Helm's release records).
pub fn secret(s: &mut Secret) {
    metadata(&mut s.metadata);
    s.string_data = None;
    s.data = s.data.take().map(|mut d| {
        d.retain(|k, _| k == "password");
        d
    });
}

#[cfg(test)]
mod tests;
