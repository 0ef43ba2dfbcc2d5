//! ferrolb: a BGP-first load-balancer daemon with its own embedded BGP speaker.
//!
//! The flow is described in DESIGN.md: configuration (`config`) feeds the speaker (`bgp`), which
//! drives one sans-IO RFC 4271 state machine (`fsm`) per peer; both build on the BGP message
//! types and codec in `packet`.

pub mod allocator;
pub mod bgp;
pub mod config;
pub mod daemon;
pub mod fsm;
pub mod http;
pub mod packet;
pub mod pipeline;
pub mod standalone;
pub mod state;
pub mod watch;
