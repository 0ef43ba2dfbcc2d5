//! The wire side of BGP: message types, the codec, and the tokio tasks that drive the FSM.

pub mod adj_rib_out;
pub mod codec;
pub mod conn;
pub mod listener;
pub mod message;
pub mod peer;
pub mod sockopt;
pub mod speaker;
pub mod status;
