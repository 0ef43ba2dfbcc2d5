//! The wire side of BGP: the tokio tasks that drive the FSM (connections, peer tasks, listener,
//! speaker). Message types and the codec live in `crate::packet`.

pub mod adj_rib_out;
pub mod conn;
pub mod listener;
pub mod peer;
pub mod sockopt;
pub mod speaker;
pub mod status;
pub mod table;
