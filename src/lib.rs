//! ferrolb: a BGP-first load-balancer daemon with its own embedded BGP speaker.
//!
//! The modules follow the flow of `docs/ARCHITECTURE.md`, top to bottom: the inputs (`config`
//! for node.toml, `watch` for Kubernetes) convert into the plain domain types of `model`; the
//! `allocator` decides addresses; the `announce`r turns the desired state into per-sink changes;
//! the BGP sink (`bgp`, driving one sans-IO `fsm` per peer over the `packet` codec) carries
//! them out; `status` reports what the sinks really do, served by `http`. `standalone` and
//! `watch` are the two ways of filling the desired state; `daemon` starts one of them.
//!
//! The modules that parse untrusted input (BGP and BFD bytes in `packet`, ARP/NDP frames in
//! `l2::wire`, node.toml in `config`, YAML manifests in `yaml`, `migrate` and
//! `watch::manifests`) deny `unwrap`, `expect`, indexing and `panic!` outside their tests
//! (`clippy.toml`): a peer or a file must never be able to panic the daemon. `fuzzing` holds
//! the bodies of the fuzz targets in `fuzz/`.

pub mod allocator;
pub mod announce;
pub mod bfd;
pub mod bgp;
pub mod cluster;
#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
pub mod config;
pub mod daemon;
pub mod fsm;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod l2;
pub mod metrics;
#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
pub mod migrate;
#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
pub mod model;
#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
pub mod packet;
pub mod standalone;
pub mod state;
pub mod status;
pub mod sync;
pub mod watch;
#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
pub mod yaml;
