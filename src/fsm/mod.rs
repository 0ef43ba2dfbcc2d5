//! The RFC 4271 §8 BGP finite state machine, sans-IO: fed events and the current time, it returns
//! actions for the runtime to carry out. No sockets, no clock, no async runtime, no wire codec here.
//!
//! Time is a [`Duration`] since an epoch chosen by the runtime (virtual time in tests). Timers are
//! data: the FSM asks for a timer to be armed at an absolute deadline and the runtime feeds back
//! `Event::TimerExpired` when it fires.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::packet::codes::CeaseSubcode;
use crate::packet::message::{
    Family, GracefulRestart, Message, Notification, RouteRefresh, Update,
};

mod received;
mod session;

pub use received::{Received, RECEIVED_CEILING};
pub use session::{Session, STABLE};

/// Identifies one TCP connection to the peer. The FSM numbers outgoing connections (in
/// `Action::Connect`), the runtime numbers accepted ones; the direction keeps the two apart. With
/// collision detection (RFC 4271 §6.8) two connections can exist at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId {
    pub direction: Direction,
    pub seq: u64,
}

/// Who opened a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// We connected to the peer (RFC 4271 Event 16/17 on an outgoing attempt).
    Outbound,
    /// The peer connected to us and the listener handed the socket over.
    Inbound,
}

/// The six states of RFC 4271 §8.2.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// The timers of RFC 4271 §8 (plus the IdleHoldTimer of §8.1.1 used for back-off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    ConnectRetry,
    Hold,
    Keepalive,
    /// Delays the automatic restart after a failure (DampPeerOscillations, exponential back-off).
    IdleHold,
    /// Hold timer of the second connection during a collision (RFC 4271 §6.8).
    CollisionHold(ConnId),
}

/// Static configuration of one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    pub local_asn: u32,
    pub peer_asn: u32,
    pub local_router_id: Ipv4Addr,
    /// Hold time we propose, seconds (0 or >= 3).
    pub hold_time: u16,
    /// Keepalive interval we use, seconds; capped at a third of the negotiated hold time.
    pub keepalive_time: u16,
    pub connect_retry: Duration,
    /// Passive: never connect out, wait for the peer (RFC 4271 PassiveTcpEstablishment).
    pub passive: bool,
    /// Families offered with the multiprotocol capability.
    pub families: BTreeSet<Family>,
    /// First automatic-restart delay after a failure; doubles per consecutive failure.
    pub idle_hold_base: Duration,
    /// Upper bound of the back-off.
    pub idle_hold_max: Duration,
    /// Prefixes accepted from the peer (all families together); one more closes the session
    /// with Cease/Maximum Number of Prefixes Reached (RFC 4486). 0 = no limit.
    pub max_prefixes: u32,
    /// Idle time after the first prefix-limit trip; doubles per consecutive trip.
    pub prefix_limit_base: Duration,
    /// Upper bound of the prefix-limit back-off.
    pub prefix_limit_max: Duration,
    /// Offer extended messages (RFC 8654): UPDATEs up to 65535 bytes when both sides do.
    pub extended_message: bool,
    /// Offer graceful restart (RFC 4724) with this restart time in seconds (at most 4095); the
    /// peer keeps our routes that long after the session drops without a NOTIFICATION.
    pub graceful_restart_time: Option<u16>,
}

/// What both sides agreed on when the session reached Established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub conn: ConnId,
    pub peer_router_id: Ipv4Addr,
    pub peer_asn: u32,
    /// Negotiated hold time in seconds (the lower of both; 0 = no hold timer, no keepalives).
    pub hold_time: u16,
    pub keepalive_time: u16,
    /// Families both sides offered.
    pub families: BTreeSet<Family>,
    pub four_octet_as: bool,
    pub route_refresh: bool,
    /// Both sides offered extended messages (RFC 8654).
    pub extended_message: bool,
    /// The peer's graceful restart capability, if it sent one.
    pub peer_graceful_restart: Option<GracefulRestart>,
}

/// Inputs to the FSM (RFC 4271 §8.1 event numbers in the comments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Event 1.
    ManualStart,
    /// Event 2 (ManualStop): sends NOTIFICATION Cease with this subcode (RFC 4486) on every
    /// open connection, closes everything and does not restart. The runtime picks the reason:
    /// administrative shutdown when the daemon stops, peer de-configured or other configuration
    /// change on reconfiguration.
    ManualStop(CeaseSubcode),
    /// Event 3 (Event 5 when the session is passive).
    AutomaticStart,
    /// Events 9, 10, 11, 13 (and the collision hold timer).
    TimerExpired(Timer),
    /// Event 16/17: our outgoing connection completed.
    TcpConnected(ConnId),
    /// Event 17: the listener accepted a connection from this peer.
    TcpAccepted(ConnId),
    /// Event 18: an outgoing attempt failed, or an established connection closed.
    TcpFailed(ConnId),
    /// Events 19, 25, 26, 27 and ROUTE-REFRESH: a message decoded on a connection.
    Received(ConnId, Message),
    /// Events 21, 22, 28: the codec rejected a message; the NOTIFICATION to send.
    DecodeError(ConnId, Notification),
    /// The runtime's send queue of this connection passed its byte limit: the peer has stopped
    /// reading. The connection is reset without a NOTIFICATION (it could only queue behind the
    /// backlog the peer does not read).
    SendQueueFull(ConnId),
}

/// Outputs of the FSM, carried out by the runtime in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start an outgoing TCP connection; answer with `TcpConnected` or `TcpFailed`.
    Connect(ConnId),
    /// Send a message on a connection.
    Send(ConnId, Message),
    /// Close a connection (after flushing what was queued for it).
    Close(ConnId),
    /// Arm (or re-arm) a timer at an absolute deadline.
    ArmTimer(Timer, Duration),
    /// Stop a timer.
    CancelTimer(Timer),
    /// The session changed state.
    StateChanged { from: State, to: State },
    /// The session reached Established: the runtime sends the table on `conn`.
    Established(Negotiated),
    /// An UPDATE arrived on the established session.
    UpdateReceived(Update),
    /// The peer asked for our routes again (RFC 2918): resend the table.
    RouteRefreshRequested(RouteRefresh),
    /// The session went down; the reason for logs and `ferrolb status`. The IdleHold timer
    /// armed just before says when the next attempt is.
    Down(DownReason),
    /// The received set reached [`RECEIVED_CEILING`]: further prefixes of this session are not
    /// counted (reported once per session).
    ReceivedCeiling(usize),
}

/// Why a session left Established or failed to get there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownReason {
    /// We sent this NOTIFICATION.
    NotificationSent(Notification),
    /// The peer sent this NOTIFICATION.
    NotificationReceived(Notification),
    /// The TCP connection closed or could not be opened.
    ConnectionClosed,
    /// ManualStop.
    Stopped,
    /// More than `max_prefixes` received; we sent `notification` (Cease 6/1).
    PrefixLimit {
        limit: u32,
        received: usize,
        notification: Notification,
    },
    /// The connection's send queue passed its limit (`Event::SendQueueFull`).
    SendQueueFull,
}

#[cfg(test)]
mod tests;
