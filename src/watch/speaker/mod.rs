//! The speaker role of Kubernetes mode, on every node: plan (pure), task (announcer and BGP
//! sink), report (ServiceAnnouncements).

pub mod plan;
pub mod report;
pub mod task;
