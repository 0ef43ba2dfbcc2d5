//! Self-test of the in-process API server (tests/common/apiserver), driven with the real kube
//! client configured the way the daemon configures it (rustls with ring, a kubeconfig):
//! the protocol (lists, watches, 410, status, auth) in `protocol.rs`, objects and tools
//! (Leases, garbage collection, CRDs, apply, kubectl, Events) in `objects.rs`.

#[path = "../common/mod.rs"]
mod common;
mod helpers;
mod objects;
mod protocol;
