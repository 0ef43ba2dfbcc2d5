//! Kubernetes mode: the custom resources (group `ferrolb.io`, version `v1alpha1`).
//!
//! Field names follow MetalLB's CRDs so a MetalLB user's manifests port by renaming the group
//! (`metallb.io` → `ferrolb.io`). `ferrolb crds` prints the CustomResourceDefinitions generated
//! from these types; `deploy/crds.yaml` is that output (a test keeps them equal).

pub mod controller;
pub mod crds;
pub mod lease;
pub mod manifests;
pub mod service;
