//! The BGP sink, the wire side: the tokio tasks that drive one FSM per peer (connections, peer
//! tasks, listener, speaker). Message types and the codec live in `crate::packet`, the
//! announcement policy in `crate::announce`.

pub mod conn;
pub mod listener;
pub mod peer;
pub mod sockopt;
pub mod speaker;
pub mod transport;
