//! Kubernetes mode: the custom resources (group `ferrolb.io`, version `v1alpha1`), their
//! conversion into the model's domain types, and the tasks that run against the API server.
//!
//! - [`mirror`]: reflectors on Services, EndpointSlices, Nodes, Namespaces and the ferrolb kinds.
//! - [`allocator`]: one node at a time ([`lease`]) decides every Service's addresses
//!   ([`allocator::decide`], pure, on the shared allocator driver) and writes Service status.
//! - [`speaker`]: every node plans what it announces ([`speaker::plan`], pure), runs the shared
//!   announcer and BGP sink ([`speaker::task`]) and reports ServiceAnnouncements
//!   ([`speaker::report`]).
//! - [`convert`] and [`manifests`]: CRD objects through the same validation as node.toml.
//!
//! Field names follow MetalLB's CRDs so a MetalLB user's manifests port by renaming the group
//! (`metallb.io` → `ferrolb.io`). `ferrolb crds` prints the CustomResourceDefinitions generated
//! from these types; `deploy/crds.yaml` is that output (a test keeps them equal).

use std::future::Future;
use std::pin::Pin;

pub mod allocator;
pub mod convert;
pub mod crds;
mod error;
pub mod events;
pub mod lease;
#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
pub mod manifests;
pub mod mirror;
pub mod run;
pub mod service;
pub mod speaker;
mod trim;

pub use error::Error;

/// Waits for SIGTERM/SIGINT.
pub type Stop = Pin<Box<dyn Future<Output = ()> + Send>>;
