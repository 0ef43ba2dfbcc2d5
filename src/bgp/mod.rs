//! The wire side of BGP: message types, the codec, and the tokio tasks that drive the FSM.

pub mod adj_rib_out;
pub mod codec;
pub mod conn;
pub mod encode;
pub mod listener;
pub mod message;
pub mod open;
pub mod peer;
pub mod sockopt;
pub mod speaker;
pub mod status;
pub mod table;
pub mod update;
pub mod wire;
