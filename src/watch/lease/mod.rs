//! Elections on a `coordination.k8s.io/v1` Lease: the pure decision ([`decide`]) and the
//! elector that reads and writes one Lease with it ([`Elector`]). The allocator uses one Lease;
//! anything else that needs a single writer (never the L2 failover path) can use another.

mod decide;
mod elector;

pub use decide::{decide, leading, Decision};
pub use elector::{Elector, Round};
