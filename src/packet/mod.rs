//! Protocol types: the BGP message types, typed NOTIFICATION codes and the codec, and the BFD
//! Control packet (`bfd`). A leaf layer: it imports nothing else of ours, so the state machines
//! (`fsm`, `bfd`) and the runtime can all build on it.

pub mod bfd;
pub mod codec;
pub mod codes;
pub mod encode;
pub mod message;
pub mod open;
pub mod update;
pub mod wire;
