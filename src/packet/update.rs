//! Bounds-checked structural walk of an UPDATE body (RFC 4271 §4.3, RFC 4760, RFC 7606) before
//! any byte reaches zettabgp: field lengths, attribute headers, flags, per-attribute lengths and
//! values, MP_REACH/MP_UNREACH layout, AS_PATH segments and NLRI prefix lengths.
//!
//! Each defect gets the RFC 7606 answer, the weakest that is safe:
//!
//! | defect | answer |
//! |---|---|
//! | Withdrawn Routes Length or Total Path Attribute Length past the message (§4) | session reset 3/1 |
//! | NLRI or withdrawn routes that do not parse (§5.3) | session reset 3/10 |
//! | an attribute header or length that runs past the attribute block (§4) | treat-as-withdraw |
//! | MP_REACH_NLRI / MP_UNREACH_NLRI that do not parse, next-hop length not 4, 16 or 32 (§7.11, RFC 4760 §7) | session reset 3/9 |
//! | MP_REACH_NLRI or MP_UNREACH_NLRI twice (§3g) | session reset 3/1 |
//! | any other attribute twice (§3g) | later copies discarded |
//! | Optional/Transitive flags that conflict with the type (§3c) | treat-as-withdraw |
//! | ORIGIN, AS_PATH, NEXT_HOP, MED, iBGP LOCAL_PREF, COMMUNITIES, ORIGINATOR_ID, CLUSTER_LIST, extended and large communities malformed (§7, RFC 8092 §6) | treat-as-withdraw |
//! | a missing ORIGIN or AS_PATH, or NEXT_HOP with IPv4 NLRI (§3d) | treat-as-withdraw |
//! | LOCAL_PREF from an eBGP peer (§7.5), ATOMIC_AGGREGATE, AGGREGATOR, AS4_PATH, AS4_AGGREGATOR malformed (§7.6, §7.7, RFC 6793 §6) | attribute discard |
//! | an unknown optional attribute (transitive or not, Partial bit or not) | accepted (we do not pass routes on) |
//! | an unknown well-known attribute (RFC 4271 §6.3) | session reset 3/2, data = the attribute |
//! | treat-as-withdraw called for while the UPDATE announces nothing (§5.2: nothing to withdraw) | session reset 3/1 |
//!
//! BIRD 2 decides the same for every row (its `bgp_decode_attrs`; cross-checked against the same
//! bytes in `tests/malformed.rs`).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ipnet::IpNet;

use super::codes::UpdateSubcode;
use super::message::{AttrError, ErrorAction, Family, Notification};
use super::wire::{parse_prefixes, PrefixError, Reader};

pub const ORIGIN: u8 = 1;
pub const AS_PATH: u8 = 2;
pub const NEXT_HOP: u8 = 3;
pub const MED: u8 = 4;
pub const LOCAL_PREF: u8 = 5;
pub const ATOMIC_AGGREGATE: u8 = 6;
pub const AGGREGATOR: u8 = 7;
pub const COMMUNITIES: u8 = 8;
pub const ORIGINATOR_ID: u8 = 9;
pub const CLUSTER_LIST: u8 = 10;
pub const MP_REACH: u8 = 14;
pub const MP_UNREACH: u8 = 15;
pub const EXTENDED_COMMUNITIES: u8 = 16;
pub const AS4_PATH: u8 = 17;
pub const AS4_AGGREGATOR: u8 = 18;
pub const IPV6_EXTENDED_COMMUNITIES: u8 = 25;
pub const LARGE_COMMUNITY: u8 = 32;

pub const FLAG_OPTIONAL: u8 = 0x80;
pub const FLAG_TRANSITIVE: u8 = 0x40;
pub const FLAG_PARTIAL: u8 = 0x20;
pub const FLAG_EXTENDED: u8 = 0x10;

/// One path attribute as it sits in the message, after its header was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawAttr<'a> {
    pub flags: u8,
    pub kind: u8,
    pub value: &'a [u8],
}

/// What the walk needs to know about the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WalkParams {
    /// Both sides offered 4-octet AS (RFC 6793): AS_PATH and AGGREGATOR carry 4-byte ASNs.
    pub four_octet_as: bool,
    /// The peer is in our AS: LOCAL_PREF is meaningful (from eBGP it is discarded, RFC 7606 §7.5).
    pub ibgp: bool,
}

/// The result of the walk: prefixes found and the attributes left to decode.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Walked<'a> {
    pub withdrawn: Vec<IpNet>,
    pub announced: Vec<IpNet>,
    /// Next hop carried in MP_REACH_NLRI (the global address; a link-local second one is ignored).
    pub mp_next_hop: Option<std::net::IpAddr>,
    /// The attributes the codec decodes (ORIGIN, AS_PATH, NEXT_HOP, MED, LOCAL_PREF,
    /// COMMUNITIES, LARGE_COMMUNITY), first occurrence only (RFC 7606 §3g), all checked.
    pub attrs: Vec<RawAttr<'a>>,
    /// Why the announced routes must be treated as withdrawn (RFC 7606), if they must: the first
    /// reason of `errors` with that action.
    pub treat_as_withdraw: Option<&'static str>,
    /// Every RFC 7606 decision short of a session reset, in message order.
    pub errors: Vec<AttrError>,
    /// End-of-RIB marker (RFC 4724).
    pub end_of_rib: Option<Family>,
    /// The family of the MP_UNREACH_NLRI attribute, if there was one.
    pub unreach_family: Option<Family>,
}

impl Walked<'_> {
    fn withdraw(&mut self, attribute: u8, reason: &'static str) {
        self.treat_as_withdraw.get_or_insert(reason);
        self.errors.push(AttrError {
            action: ErrorAction::TreatAsWithdraw,
            attribute,
            reason,
        });
    }

    fn discard(&mut self, attribute: u8, reason: &'static str) {
        self.errors.push(AttrError {
            action: ErrorAction::AttributeDiscard,
            attribute,
            reason,
        });
    }
}

/// 3/1 (RFC 4271 §6.3): a length that runs past the message, a repeated MP_REACH_NLRI /
/// MP_UNREACH_NLRI (RFC 7606 §3g), or treat-as-withdraw with nothing to withdraw (§5.2).
fn malformed_attribute_list() -> Notification {
    Notification::update(UpdateSubcode::MalformedAttributeList)
}

/// An MP_REACH_NLRI or MP_UNREACH_NLRI that does not parse: 3/9 with the attribute (RFC 4760 §7).
fn optional_attribute_error(a: RawAttr<'_>) -> Notification {
    Notification::update(UpdateSubcode::OptionalAttributeError).with_data(attribute_bytes(a))
}

/// The attribute as it was on the wire (type, length and value), for a NOTIFICATION's data.
fn attribute_bytes(a: RawAttr<'_>) -> Vec<u8> {
    let mut out = vec![a.flags, a.kind];
    match u8::try_from(a.value.len()) {
        Ok(len) if a.flags & FLAG_EXTENDED == 0 => out.push(len),
        _ => out.extend_from_slice(
            &u16::try_from(a.value.len())
                .unwrap_or(u16::MAX)
                .to_be_bytes(),
        ),
    }
    out.extend_from_slice(a.value);
    out
}

fn nlri_error(e: PrefixError) -> Notification {
    match e {
        PrefixError::TooLong(_) | PrefixError::Truncated => {
            Notification::update(UpdateSubcode::InvalidNetworkField)
        }
    }
}

/// Walks an UPDATE body (after the 19-byte header) of an eBGP session. `four_octet_as` selects
/// the AS_PATH width.
pub fn walk(body: &[u8], four_octet_as: bool) -> Result<Walked<'_>, Notification> {
    walk_with(
        body,
        WalkParams {
            four_octet_as,
            ibgp: false,
        },
    )
}

/// Walks an UPDATE body (after the 19-byte header).
pub fn walk_with(body: &[u8], params: WalkParams) -> Result<Walked<'_>, Notification> {
    let mut r = Reader::new(body);
    let wlen = r.u16().ok_or_else(malformed_attribute_list)?;
    let withdrawn_raw = r
        .take(usize::from(wlen))
        .ok_or_else(malformed_attribute_list)?;
    let alen = r.u16().ok_or_else(malformed_attribute_list)?;
    let attrs_raw = r
        .take(usize::from(alen))
        .ok_or_else(malformed_attribute_list)?;
    let nlri_raw = r.rest();
    let mut w = Walked {
        withdrawn: parse_prefixes(withdrawn_raw, Family::Ipv4Unicast).map_err(nlri_error)?,
        announced: parse_prefixes(nlri_raw, Family::Ipv4Unicast).map_err(nlri_error)?,
        ..Walked::default()
    };
    let base_nlri = !w.announced.is_empty();
    let mut seen = BTreeSet::new();
    let mut ar = Reader::new(attrs_raw);
    let mut framing = false;
    while ar.remaining() > 0 {
        let Some(attr) = attr_header(&mut ar) else {
            // RFC 7606 §4: the Total Path Attribute Length still locates the NLRI.
            w.withdraw(0, "attribute runs past the attribute block");
            framing = true;
            break;
        };
        if !seen.insert(attr.kind) {
            if attr.kind == MP_REACH || attr.kind == MP_UNREACH {
                return Err(malformed_attribute_list());
            }
            w.discard(attr.kind, "repeated attribute");
            continue;
        }
        if flags_conflict(attr) {
            w.withdraw(
                attr.kind,
                "Optional/Transitive flags conflict with the type",
            );
        }
        match attr.kind {
            MP_REACH => mp_reach_nlri(attr, &mut w)?,
            MP_UNREACH => mp_unreach_nlri(attr, &mut w)?,
            _ => match check_attr(attr, params) {
                Verdict::Keep => w.attrs.push(attr),
                Verdict::Ignore => {}
                Verdict::Withdraw(why) => w.withdraw(attr.kind, why),
                Verdict::Discard(why) => w.discard(attr.kind, why),
                Verdict::Reset(n) => return Err(n),
            },
        }
    }
    if !framing {
        check_mandatory(&mut w, &seen, base_nlri);
    }
    if w.treat_as_withdraw.is_some() && w.announced.is_empty() {
        // RFC 7606 §5.2: there is nothing to withdraw, so the error cannot be contained.
        return Err(malformed_attribute_list());
    }
    w.end_of_rib = end_of_rib(body.len(), &w, &seen);
    Ok(w)
}

/// Reads one attribute header and value; None when either runs past the block.
fn attr_header<'a>(r: &mut Reader<'a>) -> Option<RawAttr<'a>> {
    let flags = r.u8()?;
    let kind = r.u8()?;
    let len = if flags & FLAG_EXTENDED != 0 {
        r.u16()?
    } else {
        u16::from(r.u8()?)
    };
    let value = r.take(usize::from(len))?;
    Some(RawAttr { flags, kind, value })
}

/// The Optional and Transitive bits each known attribute must carry.
fn expected_flags(kind: u8) -> Option<u8> {
    match kind {
        ORIGIN | AS_PATH | NEXT_HOP | LOCAL_PREF | ATOMIC_AGGREGATE => Some(FLAG_TRANSITIVE),
        MED | ORIGINATOR_ID | CLUSTER_LIST | MP_REACH | MP_UNREACH => Some(FLAG_OPTIONAL),
        AGGREGATOR
        | COMMUNITIES
        | EXTENDED_COMMUNITIES
        | AS4_PATH
        | AS4_AGGREGATOR
        | IPV6_EXTENDED_COMMUNITIES
        | LARGE_COMMUNITY => Some(FLAG_OPTIONAL | FLAG_TRANSITIVE),
        _ => None,
    }
}

/// RFC 7606 §3c: Optional or Transitive bits in conflict with a known type.
fn flags_conflict(a: RawAttr<'_>) -> bool {
    expected_flags(a.kind)
        .is_some_and(|want| (a.flags ^ want) & (FLAG_OPTIONAL | FLAG_TRANSITIVE) != 0)
}

/// What to do with one attribute other than MP_REACH/MP_UNREACH.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// Well-formed and decoded by the codec.
    Keep,
    /// Well-formed (or unknown and optional) and not needed.
    Ignore,
    Withdraw(&'static str),
    Discard(&'static str),
    Reset(Notification),
}

/// RFC 7606 §7 (and RFC 6793, RFC 8092) checks of one attribute's length and value.
fn check_attr(a: RawAttr<'_>, params: WalkParams) -> Verdict {
    use Verdict::{Discard, Ignore, Keep, Withdraw};
    let len = a.value.len();
    let multiple = |n: usize| len > 0 && len.is_multiple_of(n);
    match a.kind {
        ORIGIN if len != 1 => Withdraw("ORIGIN length is not 1"),
        ORIGIN if a.value.first().is_some_and(|v| *v > 2) => {
            Withdraw("ORIGIN value is not 0, 1 or 2")
        }
        AS_PATH if !as_path_ok(a.value, params.four_octet_as) => Withdraw("malformed AS_PATH"),
        NEXT_HOP if len != 4 => Withdraw("NEXT_HOP length is not 4"),
        NEXT_HOP if !unicast_next_hop(a.value) => Withdraw("NEXT_HOP is not a unicast address"),
        MED if len != 4 => Withdraw("MULTI_EXIT_DISC length is not 4"),
        LOCAL_PREF if !params.ibgp => Discard("LOCAL_PREF from an eBGP peer"),
        LOCAL_PREF if len != 4 => Withdraw("LOCAL_PREF length is not 4"),
        ATOMIC_AGGREGATE if len != 0 => Discard("ATOMIC_AGGREGATE length is not 0"),
        AGGREGATOR if len != if params.four_octet_as { 8 } else { 6 } => {
            Discard("AGGREGATOR length does not match the AS width")
        }
        COMMUNITIES if !multiple(4) => Withdraw("COMMUNITIES length is not a multiple of 4"),
        ORIGINATOR_ID if len != 4 => Withdraw("ORIGINATOR_ID length is not 4"),
        CLUSTER_LIST if !multiple(4) => Withdraw("CLUSTER_LIST length is not a multiple of 4"),
        EXTENDED_COMMUNITIES if !multiple(8) => {
            Withdraw("EXTENDED_COMMUNITIES length is not a multiple of 8")
        }
        IPV6_EXTENDED_COMMUNITIES if !multiple(20) => {
            Withdraw("IPV6_EXTENDED_COMMUNITIES length is not a multiple of 20")
        }
        LARGE_COMMUNITY if !multiple(12) => {
            Withdraw("LARGE_COMMUNITY length is not a multiple of 12")
        }
        AS4_PATH | AS4_AGGREGATOR if params.four_octet_as => {
            Discard("AS4_PATH or AS4_AGGREGATOR from a 4-octet-AS speaker")
        }
        AS4_PATH if !as4_path_ok(a.value) => Discard("malformed AS4_PATH"),
        AS4_AGGREGATOR if len != 8 => Discard("AS4_AGGREGATOR length is not 8"),
        ORIGIN | AS_PATH | NEXT_HOP | MED | LOCAL_PREF | COMMUNITIES | LARGE_COMMUNITY => Keep,
        ATOMIC_AGGREGATE
        | AGGREGATOR
        | ORIGINATOR_ID
        | CLUSTER_LIST
        | EXTENDED_COMMUNITIES
        | IPV6_EXTENDED_COMMUNITIES
        | AS4_PATH
        | AS4_AGGREGATOR => Ignore,
        _ if a.flags & FLAG_OPTIONAL != 0 => Ignore,
        _ => Verdict::Reset(
            Notification::update(UpdateSubcode::UnrecognizedWellKnownAttribute)
                .with_data(attribute_bytes(a)),
        ),
    }
}

/// A NEXT_HOP a route can use: not 0.0.0.0, not broadcast, not multicast (RFC 4271 §6.3).
fn unicast_next_hop(value: &[u8]) -> bool {
    let Ok(octets) = <[u8; 4]>::try_from(value) else {
        return false;
    };
    let ip = Ipv4Addr::from(octets);
    !(ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast())
}

/// AS4_PATH: 4-byte ASNs, AS_SET or AS_SEQUENCE only (RFC 6793 §6).
fn as4_path_ok(value: &[u8]) -> bool {
    as_path_ok(value, true)
}

/// AS_PATH segments: AS_SET (1) or AS_SEQUENCE (2) — confederation segments (3, 4) are malformed
/// from a peer outside a confederation, and we support none (RFC 5065 §5) — count > 0, and
/// exactly count × width bytes each.
pub fn as_path_ok(mut value: &[u8], four_octet_as: bool) -> bool {
    let width = if four_octet_as { 4 } else { 2 };
    while !value.is_empty() {
        let (Some(kind), Some(count)) = (value.first(), value.get(1)) else {
            return false;
        };
        let need = 2 + usize::from(*count) * width;
        if !(1..=2).contains(kind) || *count == 0 || value.len() < need {
            return false;
        }
        value = value.get(need..).unwrap_or(&[]);
    }
    true
}

fn mp_family(r: &mut Reader<'_>, a: RawAttr<'_>) -> Result<Option<Family>, Notification> {
    let afi = r.u16().ok_or_else(|| optional_attribute_error(a))?;
    let safi = r.u8().ok_or_else(|| optional_attribute_error(a))?;
    Ok(Family::from_afi_safi(afi, safi))
}

/// MP_REACH_NLRI (RFC 4760 §3). Anything that keeps the NLRI from being located is a session
/// reset (RFC 7606 §7.11); a next hop of the other family is treat-as-withdraw, as BIRD does.
fn mp_reach_nlri(a: RawAttr<'_>, w: &mut Walked<'_>) -> Result<(), Notification> {
    let error = || optional_attribute_error(a);
    let mut r = Reader::new(a.value);
    let family = mp_family(&mut r, a)?;
    let nh_len = r.u8().ok_or_else(error)?;
    let nh = r.take(usize::from(nh_len)).ok_or_else(error)?;
    r.u8().ok_or_else(error)?; // reserved
    let Some(family) = family else {
        return Ok(()); // a family we did not negotiate: ignored
    };
    let prefixes = parse_prefixes(r.rest(), family).map_err(|_| error())?;
    w.mp_next_hop = match (family, nh.len()) {
        (Family::Ipv6Unicast, 16 | 32) => {
            let a: [u8; 16] = nh
                .get(..16)
                .and_then(|s| s.try_into().ok())
                .unwrap_or([0; 16]);
            Some(std::net::IpAddr::from(a))
        }
        (Family::Ipv4Unicast, 4) => {
            let a: [u8; 4] = nh.try_into().unwrap_or([0; 4]);
            Some(std::net::IpAddr::from(a))
        }
        (_, 4 | 16 | 32) => {
            w.withdraw(MP_REACH, "MP_REACH_NLRI next hop is of the other family");
            None
        }
        _ => return Err(error()),
    };
    w.announced.extend(prefixes);
    Ok(())
}

fn mp_unreach_nlri(a: RawAttr<'_>, w: &mut Walked<'_>) -> Result<(), Notification> {
    let mut r = Reader::new(a.value);
    let Some(family) = mp_family(&mut r, a)? else {
        return Ok(());
    };
    let prefixes = parse_prefixes(r.rest(), family).map_err(|_| optional_attribute_error(a))?;
    w.unreach_family = Some(family);
    w.withdrawn.extend(prefixes);
    Ok(())
}

/// RFC 7606 §3d: a missing well-known mandatory attribute is treat-as-withdraw.
fn check_mandatory(w: &mut Walked<'_>, seen: &BTreeSet<u8>, base_nlri: bool) {
    if w.announced.is_empty() {
        return;
    }
    if !seen.contains(&ORIGIN) {
        w.withdraw(ORIGIN, "missing ORIGIN");
    }
    if !seen.contains(&AS_PATH) {
        w.withdraw(AS_PATH, "missing AS_PATH");
    }
    if base_nlri && !seen.contains(&NEXT_HOP) {
        w.withdraw(NEXT_HOP, "missing NEXT_HOP");
    }
}

fn end_of_rib(body_len: usize, w: &Walked<'_>, seen: &BTreeSet<u8>) -> Option<Family> {
    if body_len == 4 {
        return Some(Family::Ipv4Unicast);
    }
    let only_unreach = seen.len() == 1 && seen.contains(&MP_UNREACH);
    if only_unreach && w.withdrawn.is_empty() && w.announced.is_empty() {
        w.unreach_family
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
