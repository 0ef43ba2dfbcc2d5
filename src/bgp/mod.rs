//! The wire side of BGP: message types, the codec, and the tokio tasks that drive the FSM.

pub mod codec;
pub mod message;
