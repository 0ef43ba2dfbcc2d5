//! BGP protocol types: the message types, typed NOTIFICATION codes and the codec. A leaf layer:
//! it imports nothing else of ours, so the FSM and the runtime can both build on it.

pub mod codec;
pub mod codes;
pub mod encode;
pub mod message;
pub mod open;
pub mod update;
pub mod wire;
