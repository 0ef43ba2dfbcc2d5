//! The plain domain types both modes convert their input into, and the one validation they share.
//!
//! A peer, a pool or an advertisement arrives as TOML (`src/config`) or as a CRD object
//! (`src/watch`). Each front end fills the matching `*Input` (raw values, nothing checked yet);
//! [`peer::validate`], [`pool::validate`] and [`advertisement::validate`] apply the same rules to
//! both and return the `*Spec` the rest of the daemon runs on, or [`FieldError`]s that name the
//! field in the model's terms. Each front end maps the field to its own spelling and place:
//! `file:line:col` and `bgp.peers[0].hold_time` for TOML, `file:line` and `spec.holdTime` for a
//! manifest, an Event and a log line in the cluster.
//!
//! Nothing here does I/O; the only imports are the protocol layer (address families) and the
//! allocator's selector types.

pub mod advertisement;
pub mod bfd;
mod field;
pub mod peer;
pub mod pool;
pub mod selector;
mod values;

pub use advertisement::{AdvertisementInput, AdvertisementSpec, Mode};
pub use bfd::{BfdProfile, BfdProfileInput, BfdProfiles};
pub use field::FieldError;
pub use peer::{LocalSpec, PeerInput, PeerSpec};
pub use pool::{PoolInput, PoolSpec};
pub use selector::{ExpressionInput, SelectorInput};
pub use values::{
    address_range, community, is_link_local, AddressRange, Community, GRACEFUL_SHUTDOWN,
};
