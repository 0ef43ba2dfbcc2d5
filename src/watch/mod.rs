//! Kubernetes mode: the custom resources (group `ferrolb.io`, version `v1alpha1`), the pure
//! decisions (what a Service asks for, what the allocator gives, what a node announces), and
//! the I/O that runs them against the API server ([`run`]).
//!
//! Field names follow MetalLB's CRDs so a MetalLB user's manifests port by renaming the group
//! (`metallb.io` → `ferrolb.io`). `ferrolb crds` prints the CustomResourceDefinitions generated
//! from these types; `deploy/crds.yaml` is that output (a test keeps them equal).

pub mod allocate;
pub mod announcer;
pub mod controller;
pub mod crds;
pub mod events;
pub mod lease;
pub mod manifests;
pub mod report;
pub mod run;
pub mod service;
pub mod speaker;
