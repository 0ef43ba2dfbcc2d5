//! Plain BGP message types shared by the codec, the FSM and the runtime (no I/O, no zettabgp).

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

/// The AS number used in the 2-octet "My Autonomous System" field for 4-octet ASNs (RFC 6793).
pub const AS_TRANS: u16 = 23456;

/// An address family we can negotiate (AFI/SAFI, RFC 4760). Only unicast is supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// AFI 1, SAFI 1.
    Ipv4Unicast,
    /// AFI 2, SAFI 1.
    Ipv6Unicast,
}

impl Family {
    /// The (AFI, SAFI) pair on the wire.
    pub fn afi_safi(self) -> (u16, u8) {
        match self {
            Family::Ipv4Unicast => (1, 1),
            Family::Ipv6Unicast => (2, 1),
        }
    }

    /// The family for an (AFI, SAFI) pair, if we support it.
    pub fn from_afi_safi(afi: u16, safi: u8) -> Option<Family> {
        match (afi, safi) {
            (1, 1) => Some(Family::Ipv4Unicast),
            (2, 1) => Some(Family::Ipv6Unicast),
            _ => None,
        }
    }

    /// The family an address belongs to.
    pub fn of(addr: IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::Ipv4Unicast,
            IpAddr::V6(_) => Family::Ipv6Unicast,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Ipv4Unicast => "ipv4-unicast",
            Family::Ipv6Unicast => "ipv6-unicast",
        })
    }
}

/// Capabilities carried in (or understood from) an OPEN message (RFC 5492).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// Multiprotocol extensions (RFC 4760), capability code 1.
    pub families: BTreeSet<Family>,
    /// 4-octet AS number (RFC 6793), capability code 65, with the speaker's real ASN.
    pub four_octet_as: Option<u32>,
    /// Route refresh (RFC 2918), capability code 2.
    pub route_refresh: bool,
    /// Extended messages (RFC 8654), capability code 6.
    pub extended_message: bool,
    /// Graceful restart (RFC 4724), capability code 64.
    pub graceful_restart: Option<GracefulRestart>,
}

/// The graceful restart capability (RFC 4724 §3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GracefulRestart {
    /// R bit: the speaker has restarted (the peer need not wait for its End-of-RIB).
    pub restarting: bool,
    /// Seconds the peer should keep our routes after the session drops (12 bits, at most 4095).
    pub restart_time: u16,
    /// Families whose routes survive a restart, each with the F bit (forwarding state kept).
    pub families: Vec<(Family, bool)>,
}

/// A BGP OPEN message (RFC 4271 §4.2), already checked for syntax by the codec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    /// The 2-octet "My Autonomous System" field (AS_TRANS when the real ASN needs 4 octets).
    pub my_as: u16,
    /// Proposed hold time in seconds (0 or >= 3).
    pub hold_time: u16,
    /// BGP Identifier.
    pub router_id: Ipv4Addr,
    /// Capabilities from the optional parameters.
    pub capabilities: Capabilities,
}

impl Open {
    /// The speaker's ASN: from the 4-octet AS capability when present, else the 2-octet field.
    pub fn asn(&self) -> u32 {
        self.capabilities
            .four_octet_as
            .unwrap_or(u32::from(self.my_as))
    }
}

/// ORIGIN path attribute values (RFC 4271 §5.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    Igp,
    Egp,
    Incomplete,
}

/// The path attributes we send, and the ones we keep from what we receive.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PathAttributes {
    pub origin: Origin,
    /// AS_PATH as one AS_SEQUENCE (empty for routes we originate over iBGP).
    pub as_path: Vec<u32>,
    /// NEXT_HOP for IPv4 NLRI, or the MP_REACH next hop for IPv6.
    pub next_hop: Option<IpAddr>,
    pub med: Option<u32>,
    /// LOCAL_PREF, only on iBGP sessions.
    pub local_pref: Option<u32>,
    /// Standard communities (RFC 1997).
    pub communities: Vec<u32>,
    /// Large communities (RFC 8092).
    pub large_communities: Vec<(u32, u32, u32)>,
}

impl Default for PathAttributes {
    fn default() -> Self {
        PathAttributes {
            origin: Origin::Igp,
            as_path: Vec::new(),
            next_hop: None,
            med: None,
            local_pref: None,
            communities: Vec::new(),
            large_communities: Vec::new(),
        }
    }
}

/// A received UPDATE (RFC 4271 §4.3), after RFC 7606 handling: routes whose attributes were
/// malformed in a "treat-as-withdraw" way are already moved to `withdrawn`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Update {
    /// Withdrawn prefixes, IPv4 base and MP_UNREACH together.
    pub withdrawn: Vec<IpNet>,
    /// Attributes of the announced prefixes (None when the UPDATE only withdraws).
    pub attributes: Option<PathAttributes>,
    /// Announced prefixes, IPv4 base and MP_REACH together.
    pub announced: Vec<IpNet>,
    /// End-of-RIB marker for this family (RFC 4724), if the UPDATE is one.
    pub end_of_rib: Option<Family>,
}

/// A ROUTE-REFRESH message (RFC 2918).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteRefresh {
    pub afi: u16,
    pub safi: u8,
}

/// A NOTIFICATION message (RFC 4271 §4.5). Decode errors are expressed as the NOTIFICATION to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub code: u8,
    pub subcode: u8,
    pub data: Vec<u8>,
}

impl Notification {
    /// A NOTIFICATION without data.
    pub fn new(code: u8, subcode: u8) -> Notification {
        Notification {
            code,
            subcode,
            data: Vec::new(),
        }
    }

    /// A NOTIFICATION with data.
    pub fn with_data(code: u8, subcode: u8, data: Vec<u8>) -> Notification {
        Notification {
            code,
            subcode,
            data,
        }
    }

    /// A human-readable name for the code and subcode (RFC 4271 §4.5, RFC 4486, RFC 6608).
    pub fn describe(&self) -> &'static str {
        describe_code(self.code, self.subcode)
    }
}

impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} ({})", self.code, self.subcode, self.describe())
    }
}

/// NOTIFICATION error codes (RFC 4271 §4.5, RFC 6608).
pub mod code {
    pub const MESSAGE_HEADER: u8 = 1;
    pub const OPEN_MESSAGE: u8 = 2;
    pub const UPDATE_MESSAGE: u8 = 3;
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    pub const FSM: u8 = 5;
    pub const CEASE: u8 = 6;
}

fn describe_code(code: u8, subcode: u8) -> &'static str {
    match (code, subcode) {
        (1, 1) => "message header: connection not synchronized",
        (1, 2) => "message header: bad message length",
        (1, 3) => "message header: bad message type",
        (1, _) => "message header error",
        (2, 1) => "OPEN: unsupported version number",
        (2, 2) => "OPEN: bad peer AS",
        (2, 3) => "OPEN: bad BGP identifier",
        (2, 4) => "OPEN: unsupported optional parameter",
        (2, 6) => "OPEN: unacceptable hold time",
        (2, 7) => "OPEN: unsupported capability",
        (2, _) => "OPEN message error",
        (3, 1) => "UPDATE: malformed attribute list",
        (3, 2) => "UPDATE: unrecognized well-known attribute",
        (3, 3) => "UPDATE: missing well-known attribute",
        (3, 4) => "UPDATE: attribute flags error",
        (3, 5) => "UPDATE: attribute length error",
        (3, 6) => "UPDATE: invalid ORIGIN attribute",
        (3, 8) => "UPDATE: invalid NEXT_HOP attribute",
        (3, 9) => "UPDATE: optional attribute error",
        (3, 10) => "UPDATE: invalid network field",
        (3, 11) => "UPDATE: malformed AS_PATH",
        (3, _) => "UPDATE message error",
        (4, _) => "hold timer expired",
        (5, 1) => "FSM: unexpected message in OpenSent",
        (5, 2) => "FSM: unexpected message in OpenConfirm",
        (5, 3) => "FSM: unexpected message in Established",
        (5, _) => "finite state machine error",
        (6, 1) => "cease: maximum number of prefixes reached",
        (6, 2) => "cease: administrative shutdown",
        (6, 3) => "cease: peer de-configured",
        (6, 4) => "cease: administrative reset",
        (6, 5) => "cease: connection rejected",
        (6, 6) => "cease: other configuration change",
        (6, 7) => "cease: connection collision resolution",
        (6, 8) => "cease: out of resources",
        (6, 9) => "cease: hard reset",
        (6, _) => "cease",
        _ => "unknown error code",
    }
}

/// A decoded BGP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Open(Open),
    Update(Update),
    Notification(Notification),
    Keepalive,
    RouteRefresh(RouteRefresh),
}

impl Message {
    /// The message type name as in RFC 4271 (for logs and FSM errors).
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Open(_) => "OPEN",
            Message::Update(_) => "UPDATE",
            Message::Notification(_) => "NOTIFICATION",
            Message::Keepalive => "KEEPALIVE",
            Message::RouteRefresh(_) => "ROUTE-REFRESH",
        }
    }
}
