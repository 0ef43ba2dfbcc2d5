//! ferrolb: a BGP-first load-balancer daemon with its own embedded BGP speaker.
//!
//! The modules follow the flow of `docs/ARCHITECTURE.md`, top to bottom: the inputs (`config`
//! for node.toml, `watch` for Kubernetes) convert into the plain domain types of `model`; the
//! `allocator` decides addresses; the `announce`r turns the desired state into per-sink changes;
//! the BGP sink (`bgp`, driving one sans-IO `fsm` per peer over the `packet` codec) carries
//! them out; `status` reports what the sinks really do, served by `http`. `standalone` and
//! `watch` are the two ways of filling the desired state; `daemon` starts one of them.

pub mod allocator;
pub mod announce;
pub mod bfd;
pub mod bgp;
pub mod cluster;
pub mod config;
pub mod daemon;
pub mod fsm;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod l2;
pub mod metrics;
pub mod migrate;
pub mod model;
pub mod packet;
pub mod standalone;
pub mod state;
pub mod status;
pub mod watch;
pub mod yaml;
