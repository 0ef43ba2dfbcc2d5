//! The L2 fallback (DESIGN "L2 fallback"): answering ARP (IPv4) and NDP (IPv6) for the
//! addresses this node owns on an interface.
//!
//! Today this holds the wire layer only, [`wire`]: pure, no sockets, importing std, thiserror
//! and nothing of ours but `packet` (`scripts/layers.py`, the purity grep in `scripts/test.sh`).
//! The AF_PACKET responder and the gratuitous announcements come next, as their own files
//! beside `wire/` (`src/l2/responder.rs`), the one place here that does I/O, excluded from the
//! purity grep the way `src/bfd/socket.rs` is.

pub mod owner;
pub mod responder;
pub mod sink;
pub mod wire;
