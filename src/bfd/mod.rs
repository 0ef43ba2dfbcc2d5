//! BFD (RFC 5880 asynchronous mode, for RFC 5881 single-hop and RFC 5883 multihop use), sans-IO:
//! one [`Session`] per peer is fed events and the current time and returns actions for the
//! runtime. No sockets, no clock, no async runtime here; the wire format is `packet::bfd`.
//!
//! Time is a [`Duration`] since an epoch chosen by the runtime (virtual time in tests). Timers are
//! data: the session asks for [`Timer::Transmit`] or [`Timer::Detect`] to be armed at an absolute
//! deadline, and the runtime feeds back [`Event::TimerExpired`] when it fires. Arming a timer
//! replaces its previous deadline.
//!
//! The runtime's part: demultiplex received datagrams to a session (by Your Discriminator, or by
//! the source address when it is zero), check TTL/hop limit and source port (RFC 5881 §4-5,
//! RFC 5883 §2), parse with [`ControlPacket::parse`], feed [`Event::Received`]; send each
//! [`Action::Send`] from a port in 49152-65535 with TTL 255; report [`Action::StateChanged`].
//!
//! What this module does not do: Demand mode (we never ask for it; a peer's D bit is honoured by
//! ceasing periodic transmission, RFC 5880 §6.8.7), the Echo function, authentication (a packet
//! with the A bit is discarded, §6.8.6: bfd.AuthType is zero).

use std::time::Duration;

pub use crate::packet::bfd::{ControlPacket, Diag, State};

mod jitter;
mod session;
pub mod socket;

pub use session::Session;

/// Per-session parameters (MetalLB BFDProfile: `transmitInterval`, `receiveInterval`,
/// `detectMultiplier`, `passiveMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// bfd.DesiredMinTxInterval once Up (while not Up at least 1 s is used, §6.8.3). Zero is
    /// taken as 1 µs (the field must be nonzero).
    pub desired_min_tx: Duration,
    /// bfd.RequiredMinRxInterval; zero asks the peer not to send periodic packets (§6.8.1),
    /// and then no detection timer runs.
    pub required_min_rx: Duration,
    /// bfd.DetectMult; zero is taken as 1.
    pub detect_mult: u8,
    /// RFC 5880 §6.1 Passive role: send nothing until a packet from the peer has told us its
    /// discriminator.
    pub passive: bool,
}

impl Default for SessionConfig {
    /// MetalLB's BFDProfile defaults: 300 ms both ways, multiplier 3, active.
    fn default() -> SessionConfig {
        SessionConfig {
            desired_min_tx: Duration::from_millis(300),
            required_min_rx: Duration::from_millis(300),
            detect_mult: 3,
            passive: false,
        }
    }
}

/// The two timers of one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// The next periodic Control packet is due (§6.8.7).
    Transmit,
    /// Detection Time passed without a packet from the peer (§6.8.4).
    Detect,
}

/// Inputs to a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A Control packet for this session, parsed and checked for TTL and source by the runtime;
    /// the reception rules of §6.8.6 are applied here.
    Received(ControlPacket),
    /// A timer armed by [`Action::ArmTimer`] fired.
    TimerExpired(Timer),
    /// §6.8.16: the session is administratively disabled (AdminDown, diag 7).
    AdminDown,
    /// Leave AdminDown for Down.
    AdminUp,
    /// New parameters; while Up a change of the intervals starts a Poll Sequence (§6.8.3).
    SetConfig(SessionConfig),
    /// The session is being removed: one AdminDown packet goes out (when we may send), every
    /// timer is cancelled, and later events are ignored.
    Stop,
}

/// Outputs of a session, carried out by the runtime in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this Control packet to the peer.
    Send(ControlPacket),
    /// Arm (or re-arm) a timer at an absolute deadline.
    ArmTimer(Timer, Duration),
    /// Stop a timer.
    CancelTimer(Timer),
    /// bfd.SessionState changed; `diag` is bfd.LocalDiag after the change (why it changed).
    StateChanged { from: State, to: State, diag: Diag },
}

#[cfg(test)]
mod tests;
