//! The L2 fallback (DESIGN "L2 fallback"): answering ARP (IPv4) and NDP (IPv6) for the
//! addresses this node owns on an interface, and announcing the addresses it takes over.
//!
//! - [`wire`]: the frames, pure, importing std, thiserror and nothing of ours but `packet`
//!   (`scripts/layers.py`).
//! - [`answer`]: the responder's decisions, pure and clock-free: interface resolution (`*` =
//!   every up, non-loopback Ethernet interface whose subnet holds the address), the owned-address
//!   lookup, solicited-node groups, the gratuitous repeat schedule.
//! - [`responder`]: the one file here that does I/O (exempt from the purity grep in
//!   `scripts/test.sh`, like `src/bfd/socket.rs`; its raw libc calls in `responder/sys.rs`):
//!   one AF_PACKET socket per interface in use,
//!   BPF-filtered to ARP and ICMPv6, joined to the solicited-node groups of owned IPv6
//!   addresses; the [`Responder`](responder::Responder) handle (`set`, `subscribe`, `counters`,
//!   `stop`).
//! - [`owner`]: who answers for an address among the live, eligible nodes (rendezvous hash),
//!   pure.
//! - [`sink`]: the task tying the announcer's L2 addresses, the membership view
//!   (`src/cluster`) and the responder together, publishing status from what the responder
//!   really does; graceful handover on stop. Runtime like the responder (exempt from the
//!   purity grep).

pub mod answer;
pub mod owner;
pub mod responder;
pub mod sink;
#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
pub mod wire;
