//! What a peer task reports about itself, for logs, `/status` and `ferrolb status`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;

use crate::announce::carried::Carried;
use crate::announce::table::PeerRoutes;
use crate::fsm::State;
use crate::model::PeerSpec;

/// What a session has done since the daemon started, for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub updates_sent: u64,
    pub updates_received: u64,
    /// (code, subcode) → count.
    pub notifications_sent: BTreeMap<(u8, u8), u64>,
    pub notifications_received: BTreeMap<(u8, u8), u64>,
    /// Times an Established session went down.
    pub flaps: u64,
    /// Sessions closed because the peer sent more than `max_prefixes`.
    pub prefix_limit_trips: u64,
    /// Connections reset because the peer stopped reading and the send queue filled.
    pub send_queue_resets: u64,
    /// Malformed UPDATEs by what RFC 7606 error handling did (`treat-as-withdraw`,
    /// `attribute-discard`, `session-reset`) and the attribute (`ORIGIN`, `type 99`, …).
    pub update_errors: BTreeMap<(&'static str, String), UpdateErrorCount>,
}

/// How often one kind of malformed attribute was handled one way, and the last reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateErrorCount {
    pub count: u64,
    pub last_reason: String,
}

/// Live status of one peer, shared between its task and readers.
pub type StatusCell = Arc<Mutex<PeerStatus>>;
/// A [`StatusCell`]'s name in the log, should one be found poisoned ([`crate::sync`]).
pub const CELL: &str = "peer status cell";

/// The live status of one session.
#[derive(Debug, Clone)]
pub struct PeerStatus {
    pub name: String,
    pub address: IpAddr,
    pub asn: u32,
    pub state: State,
    pub established_since: Option<Instant>,
    pub prefixes_sent: usize,
    pub prefixes_received: usize,
    pub last_error: Option<String>,
    /// What the session negotiated, while Established: hold time and capability names.
    pub negotiated: Option<(u16, Vec<String>)>,
    /// BFD state (`up`, `down`, `init`, `admin_down`) when BFD runs for this peer.
    pub bfd: Option<String>,
    pub counters: Counters,
    /// The prefixes the peer has from us right now (our Adj-RIB-Out towards it).
    pub announced: PeerRoutes,
}

impl PeerStatus {
    /// A fresh status for a configured peer, in Idle.
    pub fn new(peer: &PeerSpec) -> PeerStatus {
        PeerStatus {
            name: peer.name.clone(),
            address: peer.address,
            asn: peer.asn,
            state: State::Idle,
            established_since: None,
            prefixes_sent: 0,
            prefixes_received: 0,
            last_error: None,
            negotiated: None,
            bfd: None,
            counters: Counters::default(),
            announced: PeerRoutes::new(),
        }
    }

    /// Records a state change.
    pub fn set_state(&mut self, state: State) {
        self.state = state;
    }

    /// Records that the peer has nothing from us any more.
    pub fn clear_announced(&mut self) {
        self.prefixes_sent = 0;
        self.announced = PeerRoutes::new();
    }

    /// What the session carries, when it is Established (else nothing reaches the peer).
    pub fn carried(&self) -> Option<Carried> {
        (self.state == State::Established).then(|| Carried {
            peer: self.name.clone(),
            prefixes: self.announced.keys().copied().collect(),
        })
    }

    /// A serialisable snapshot.
    pub fn snapshot(&self) -> SessionSnapshot {
        SessionSnapshot {
            peer: self.name.clone(),
            address: self.address,
            asn: self.asn,
            state: self.state.to_string(),
            uptime_seconds: self.established_since.map(|t| t.elapsed().as_secs()),
            prefixes_sent: self.prefixes_sent,
            prefixes_received: self.prefixes_received,
            last_error: self.last_error.clone(),
            hold_time: self.negotiated.as_ref().map(|(h, _)| *h),
            capabilities: self
                .negotiated
                .as_ref()
                .map(|(_, c)| c.clone())
                .unwrap_or_default(),
            bfd: self.bfd.clone(),
            update_errors: self
                .counters
                .update_errors
                .iter()
                .map(|((action, attribute), c)| UpdateErrorSnapshot {
                    action: action.to_string(),
                    attribute: attribute.clone(),
                    count: c.count,
                    last_reason: c.last_reason.clone(),
                })
                .collect(),
        }
    }
}

/// One row of the sessions table in `/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SessionSnapshot {
    pub peer: String,
    pub address: IpAddr,
    pub asn: u32,
    pub state: String,
    pub uptime_seconds: Option<u64>,
    pub prefixes_sent: usize,
    pub prefixes_received: usize,
    pub last_error: Option<String>,
    /// Negotiated hold time (seconds), while Established.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_time: Option<u16>,
    /// Negotiated capabilities (`mp-ipv4-unicast`, `four-octet-as`, …), while Established.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// BFD state; absent when BFD is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bfd: Option<String>,
    /// Malformed UPDATEs from this peer and what RFC 7606 handling did; absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub update_errors: Vec<UpdateErrorSnapshot>,
}

/// One row of a session's `update_errors` in `/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct UpdateErrorSnapshot {
    /// `treat-as-withdraw`, `attribute-discard` or `session-reset`.
    pub action: String,
    /// The path attribute (`ORIGIN`, `COMMUNITIES`, `type 99`, `attribute list`, `NLRI`).
    pub attribute: String,
    pub count: u64,
    pub last_reason: String,
}
