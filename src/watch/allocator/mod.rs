//! The allocator role of Kubernetes mode, on one node at a time: the decision (pure, on the
//! shared allocator driver) and the task that holds the Lease and writes Service status.

pub mod decide;
pub mod incremental;
pub mod task;
