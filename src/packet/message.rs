//! Plain BGP message types shared by the codec, the FSM and the runtime (no I/O, no zettabgp).

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use super::codes::{
    CeaseSubcode, ErrorCode, FsmSubcode, HeaderSubcode, OpenSubcode, UpdateSubcode,
};

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
    /// What RFC 7606 error handling did with malformed attributes that did not cost the session.
    pub errors: Vec<AttrError>,
}

/// How a malformed path attribute was handled without resetting the session (RFC 7606 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorAction {
    /// The UPDATE's announced routes are handled as if withdrawn.
    TreatAsWithdraw,
    /// The attribute is ignored; the routes stand.
    AttributeDiscard,
}

impl ErrorAction {
    /// The RFC's name, for logs, `/status` and metric labels.
    pub fn words(self) -> &'static str {
        match self {
            ErrorAction::TreatAsWithdraw => "treat-as-withdraw",
            ErrorAction::AttributeDiscard => "attribute-discard",
        }
    }
}

/// One RFC 7606 decision about a received UPDATE: what was done, to which attribute, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttrError {
    pub action: ErrorAction,
    /// The path attribute type code (0 for a framing error that names no attribute).
    pub attribute: u8,
    pub reason: &'static str,
}

impl AttrError {
    /// The attribute's name as the RFCs spell it, or `type N` for one we do not know.
    pub fn attribute_name(&self) -> String {
        attribute_name(self.attribute)
    }
}

/// The name of a path attribute type code (RFC 4271, 1997, 4360, 4456, 4760, 6793, 8092).
pub fn attribute_name(kind: u8) -> String {
    let known = match kind {
        0 => "attribute list",
        1 => "ORIGIN",
        2 => "AS_PATH",
        3 => "NEXT_HOP",
        4 => "MULTI_EXIT_DISC",
        5 => "LOCAL_PREF",
        6 => "ATOMIC_AGGREGATE",
        7 => "AGGREGATOR",
        8 => "COMMUNITIES",
        9 => "ORIGINATOR_ID",
        10 => "CLUSTER_LIST",
        14 => "MP_REACH_NLRI",
        15 => "MP_UNREACH_NLRI",
        16 => "EXTENDED_COMMUNITIES",
        17 => "AS4_PATH",
        18 => "AS4_AGGREGATOR",
        25 => "IPV6_EXTENDED_COMMUNITIES",
        32 => "LARGE_COMMUNITY",
        _ => return format!("type {kind}"),
    };
    known.to_string()
}

/// A ROUTE-REFRESH message (RFC 2918).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteRefresh {
    pub afi: u16,
    pub safi: u8,
}

/// A NOTIFICATION message (RFC 4271 §4.5). Decode errors are expressed as the NOTIFICATION to send.
///
/// `code` and `subcode` are the bytes on the wire: a peer may send values we do not know, so they
/// stay raw, and the typed constructors and readers below are the way to make and inspect them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub code: u8,
    pub subcode: u8,
    pub data: Vec<u8>,
}

impl Notification {
    /// A NOTIFICATION from the raw bytes, as a peer sent it (the values may be unknown to us).
    pub fn raw(code: u8, subcode: u8, data: Vec<u8>) -> Notification {
        Notification {
            code,
            subcode,
            data,
        }
    }

    fn typed(code: ErrorCode, subcode: u8) -> Notification {
        Notification::raw(code.into(), subcode, Vec::new())
    }

    /// Message Header Error (1) with `subcode`.
    pub fn header(subcode: HeaderSubcode) -> Notification {
        Notification::typed(ErrorCode::MessageHeader, subcode.into())
    }

    /// OPEN Message Error (2) with `subcode`.
    pub fn open(subcode: OpenSubcode) -> Notification {
        Notification::typed(ErrorCode::OpenMessage, subcode.into())
    }

    /// UPDATE Message Error (3) with `subcode`.
    pub fn update(subcode: UpdateSubcode) -> Notification {
        Notification::typed(ErrorCode::UpdateMessage, subcode.into())
    }

    /// Hold Timer Expired (4/0).
    pub fn hold_timer_expired() -> Notification {
        Notification::typed(ErrorCode::HoldTimerExpired, 0)
    }

    /// Finite State Machine Error (5) with the RFC 6608 `subcode`.
    pub fn fsm(subcode: FsmSubcode) -> Notification {
        Notification::typed(ErrorCode::FsmError, subcode.into())
    }

    /// Cease (6) with `subcode`.
    pub fn cease(subcode: CeaseSubcode) -> Notification {
        Notification::typed(ErrorCode::Cease, subcode.into())
    }

    /// The same NOTIFICATION carrying `data`.
    pub fn with_data(mut self, data: Vec<u8>) -> Notification {
        self.data = data;
        self
    }

    /// The error code, if we know it.
    pub fn error_code(&self) -> Option<ErrorCode> {
        ErrorCode::try_from(self.code).ok()
    }

    /// The subcode of a Message Header Error, if this is one and we know the subcode.
    pub fn header_subcode(&self) -> Option<HeaderSubcode> {
        self.subcode_under(ErrorCode::MessageHeader)
    }

    /// The subcode of an OPEN Message Error, if this is one and we know the subcode.
    pub fn open_subcode(&self) -> Option<OpenSubcode> {
        self.subcode_under(ErrorCode::OpenMessage)
    }

    /// The subcode of an UPDATE Message Error, if this is one and we know the subcode.
    pub fn update_subcode(&self) -> Option<UpdateSubcode> {
        self.subcode_under(ErrorCode::UpdateMessage)
    }

    /// The subcode of a Finite State Machine Error, if this is one and we know the subcode.
    pub fn fsm_subcode(&self) -> Option<FsmSubcode> {
        self.subcode_under(ErrorCode::FsmError)
    }

    /// The subcode of a Cease, if this is one and we know the subcode.
    pub fn cease_subcode(&self) -> Option<CeaseSubcode> {
        self.subcode_under(ErrorCode::Cease)
    }

    fn subcode_under<T: TryFrom<u8>>(&self, code: ErrorCode) -> Option<T> {
        (self.error_code() == Some(code))
            .then(|| T::try_from(self.subcode).ok())
            .flatten()
    }
}

/// Words, then the numbers: "Cease/administrative shutdown (6/2)", "Hold Timer Expired (4/0)",
/// "Cease/unknown subcode (6/42)", "unknown error code (9/1)".
impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.error_code() {
            None => f.write_str("unknown error code")?,
            Some(code) => {
                write!(f, "{code}")?;
                match code.subcode_words(self.subcode) {
                    Some(words) => write!(f, "/{words}")?,
                    None if code.has_typed_subcodes() => f.write_str("/unknown subcode")?,
                    None => {}
                }
            }
        }
        write!(f, " ({}/{})", self.code, self.subcode)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_constructors_put_the_codes_on_the_wire_fields() {
        let n = Notification::cease(CeaseSubcode::AdministrativeShutdown);
        assert_eq!((n.code, n.subcode, n.data.as_slice()), (6, 2, &[][..]));
        let n = Notification::open(OpenSubcode::BadPeerAs).with_data(vec![0, 4]);
        assert_eq!((n.code, n.subcode, n.data), (2, 2, vec![0, 4]));
        let n = Notification::update(UpdateSubcode::MalformedAttributeList);
        assert_eq!((n.code, n.subcode), (3, 1));
        let n = Notification::header(HeaderSubcode::BadMessageType);
        assert_eq!((n.code, n.subcode), (1, 3));
        let n = Notification::fsm(FsmSubcode::OpenSent);
        assert_eq!((n.code, n.subcode), (5, 1));
        let n = Notification::hold_timer_expired();
        assert_eq!((n.code, n.subcode), (4, 0));
    }

    #[test]
    fn the_typed_code_reads_back_only_under_its_own_error_code() {
        let n = Notification::cease(CeaseSubcode::HardReset);
        assert_eq!(n.error_code(), Some(ErrorCode::Cease));
        assert_eq!(n.cease_subcode(), Some(CeaseSubcode::HardReset));
        assert_eq!(n.open_subcode(), None);
        let n = Notification::fsm(FsmSubcode::Established);
        assert_eq!(n.fsm_subcode(), Some(FsmSubcode::Established));
        assert_eq!(n.cease_subcode(), None);
        let n = Notification::update(UpdateSubcode::InvalidNetworkField);
        assert_eq!(n.update_subcode(), Some(UpdateSubcode::InvalidNetworkField));
        let n = Notification::header(HeaderSubcode::ConnectionNotSynchronized);
        assert_eq!(
            n.header_subcode(),
            Some(HeaderSubcode::ConnectionNotSynchronized)
        );
    }

    #[test]
    fn unknown_codes_from_a_peer_are_kept_as_sent() {
        let n = Notification::raw(9, 1, vec![7]);
        assert_eq!((n.code, n.subcode, n.data.as_slice()), (9, 1, &[7][..]));
        assert_eq!(n.error_code(), None);
        let n = Notification::raw(6, 42, Vec::new());
        assert_eq!(n.error_code(), Some(ErrorCode::Cease));
        assert_eq!(n.cease_subcode(), None);
        assert_eq!(n.subcode, 42);
    }

    #[test]
    fn a_notification_displays_words_then_numbers() {
        let show = |n: Notification| n.to_string();
        assert_eq!(
            show(Notification::cease(CeaseSubcode::AdministrativeShutdown)),
            "Cease/administrative shutdown (6/2)"
        );
        assert_eq!(
            show(Notification::hold_timer_expired()),
            "Hold Timer Expired (4/0)"
        );
        assert_eq!(
            show(Notification::open(OpenSubcode::UnacceptableHoldTime)),
            "OPEN Message Error/unacceptable hold time (2/6)"
        );
        assert_eq!(
            show(Notification::fsm(FsmSubcode::OpenConfirm)),
            "Finite State Machine Error/unexpected message in OpenConfirm (5/2)"
        );
        assert_eq!(
            show(Notification::raw(6, 42, Vec::new())),
            "Cease/unknown subcode (6/42)"
        );
        assert_eq!(
            show(Notification::raw(7, 1, Vec::new())),
            "ROUTE-REFRESH Message Error (7/1)"
        );
        assert_eq!(
            show(Notification::raw(0, 0, Vec::new())),
            "unknown error code (0/0)"
        );
    }
}
