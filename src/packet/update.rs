//! Bounds-checked structural walk of an UPDATE body (RFC 4271 §4.3, RFC 4760, RFC 7606) before
//! any byte reaches zettabgp: field lengths, attribute headers, flags, per-attribute lengths,
//! MP_REACH/MP_UNREACH layout, AS_PATH segments and NLRI prefix lengths. Each defect becomes a
//! NOTIFICATION or, where RFC 7606 allows, "treat-as-withdraw" / "attribute discard".

use std::collections::BTreeSet;

use ipnet::IpNet;

use super::codes::UpdateSubcode;
use super::message::{Family, Notification};
use super::wire::{parse_prefixes, PrefixError, Reader};

pub const ORIGIN: u8 = 1;
pub const AS_PATH: u8 = 2;
pub const NEXT_HOP: u8 = 3;
pub const MED: u8 = 4;
pub const LOCAL_PREF: u8 = 5;
pub const ATOMIC_AGGREGATE: u8 = 6;
pub const AGGREGATOR: u8 = 7;
pub const COMMUNITIES: u8 = 8;
pub const MP_REACH: u8 = 14;
pub const MP_UNREACH: u8 = 15;
pub const AS4_PATH: u8 = 17;
pub const LARGE_COMMUNITY: u8 = 32;

pub const FLAG_OPTIONAL: u8 = 0x80;
pub const FLAG_TRANSITIVE: u8 = 0x40;
pub const FLAG_EXTENDED: u8 = 0x10;

/// One path attribute as it sits in the message, after its header was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawAttr<'a> {
    pub flags: u8,
    pub kind: u8,
    pub value: &'a [u8],
}

/// The result of the walk: prefixes found and the attributes left to decode.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Walked<'a> {
    pub withdrawn: Vec<IpNet>,
    pub announced: Vec<IpNet>,
    /// Next hop carried in MP_REACH_NLRI (the global address; a link-local second one is ignored).
    pub mp_next_hop: Option<std::net::IpAddr>,
    /// Attributes other than MP_REACH/MP_UNREACH, first occurrence only (RFC 7606 §3g).
    pub attrs: Vec<RawAttr<'a>>,
    /// Why the announced routes must be treated as withdrawn (RFC 7606), if they must.
    pub treat_as_withdraw: Option<&'static str>,
    /// End-of-RIB marker (RFC 4724).
    pub end_of_rib: Option<Family>,
    /// The family of the MP_UNREACH_NLRI attribute, if there was one.
    pub unreach_family: Option<Family>,
}

/// 3/1 (RFC 4271 §6.3): a length or attribute header that runs past its field, or a repeated
/// MP_REACH_NLRI / MP_UNREACH_NLRI (RFC 7606 §3g).
fn malformed_attribute_list() -> Notification {
    Notification::update(UpdateSubcode::MalformedAttributeList)
}

/// An MP_REACH_NLRI or MP_UNREACH_NLRI that does not parse: 3/9 (RFC 4760 §7).
fn optional_attribute_error() -> Notification {
    Notification::update(UpdateSubcode::OptionalAttributeError)
}

fn nlri_error(e: PrefixError) -> Notification {
    match e {
        PrefixError::TooLong(_) | PrefixError::Truncated => {
            Notification::update(UpdateSubcode::InvalidNetworkField)
        }
    }
}

/// Walks an UPDATE body (after the 19-byte header). `four_octet_as` selects the AS_PATH width.
pub fn walk(body: &[u8], four_octet_as: bool) -> Result<Walked<'_>, Notification> {
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
    let mut mp_reach = false;
    while ar.remaining() > 0 {
        let attr = attr_header(&mut ar)?;
        if !seen.insert(attr.kind) {
            if attr.kind == MP_REACH || attr.kind == MP_UNREACH {
                return Err(malformed_attribute_list());
            }
            continue; // RFC 7606 §3g: later duplicates are discarded
        }
        match attr.kind {
            MP_REACH => {
                mp_reach = true;
                mp_reach_nlri(attr, &mut w)?
            }
            MP_UNREACH => mp_unreach_nlri(attr, &mut w)?,
            _ => {
                if let Some(why) = check_attr(attr, four_octet_as) {
                    w.treat_as_withdraw.get_or_insert(why);
                } else if !discarded(attr) {
                    w.attrs.push(attr);
                }
            }
        }
    }
    check_mandatory(&mut w, &seen, base_nlri, mp_reach);
    w.end_of_rib = end_of_rib(body.len(), &w, &seen);
    Ok(w)
}

fn attr_header<'a>(r: &mut Reader<'a>) -> Result<RawAttr<'a>, Notification> {
    let flags = r.u8().ok_or_else(malformed_attribute_list)?;
    let kind = r.u8().ok_or_else(malformed_attribute_list)?;
    let len = if flags & FLAG_EXTENDED != 0 {
        r.u16().ok_or_else(malformed_attribute_list)?
    } else {
        u16::from(r.u8().ok_or_else(malformed_attribute_list)?)
    };
    let value = r
        .take(usize::from(len))
        .ok_or_else(malformed_attribute_list)?;
    Ok(RawAttr { flags, kind, value })
}

/// RFC 7606 checks for the attributes that can cause treat-as-withdraw. Returns the reason.
fn check_attr(a: RawAttr<'_>, four_octet_as: bool) -> Option<&'static str> {
    let well_known = matches!(a.kind, ORIGIN | AS_PATH | NEXT_HOP | LOCAL_PREF);
    let optional = a.flags & FLAG_OPTIONAL != 0;
    let len = a.value.len();
    match a.kind {
        _ if well_known && optional => Some("well-known attribute flagged optional"),
        ORIGIN if len != 1 => Some("ORIGIN length is not 1"),
        ORIGIN if a.value.first().is_some_and(|v| *v > 2) => Some("invalid ORIGIN value"),
        AS_PATH if !as_path_ok(a.value, four_octet_as) => Some("malformed AS_PATH"),
        NEXT_HOP if len != 4 => Some("NEXT_HOP length is not 4"),
        MED | LOCAL_PREF if len != 4 => Some("MED or LOCAL_PREF length is not 4"),
        COMMUNITIES if len == 0 || !len.is_multiple_of(4) => {
            Some("COMMUNITIES length is not a multiple of 4")
        }
        LARGE_COMMUNITY if len == 0 || !len.is_multiple_of(12) => {
            Some("LARGE_COMMUNITY length is not a multiple of 12")
        }
        _ => None,
    }
}

/// Attributes RFC 7606 says to discard when malformed (they do not affect the route).
fn discarded(a: RawAttr<'_>) -> bool {
    match a.kind {
        ATOMIC_AGGREGATE => !a.value.is_empty(),
        AGGREGATOR => a.value.len() != 6 && a.value.len() != 8,
        _ => false,
    }
}

/// AS_PATH segments: type 1..=4, count > 0, and exactly count × width bytes each.
pub fn as_path_ok(mut value: &[u8], four_octet_as: bool) -> bool {
    let width = if four_octet_as { 4 } else { 2 };
    while !value.is_empty() {
        let (Some(kind), Some(count)) = (value.first(), value.get(1)) else {
            return false;
        };
        let need = 2 + usize::from(*count) * width;
        if !(1..=4).contains(kind) || *count == 0 || value.len() < need {
            return false;
        }
        value = value.get(need..).unwrap_or(&[]);
    }
    true
}

fn mp_family(r: &mut Reader<'_>) -> Result<Option<Family>, Notification> {
    let afi = r.u16().ok_or_else(optional_attribute_error)?;
    let safi = r.u8().ok_or_else(optional_attribute_error)?;
    Ok(Family::from_afi_safi(afi, safi))
}

fn mp_reach_nlri(a: RawAttr<'_>, w: &mut Walked<'_>) -> Result<(), Notification> {
    let mut r = Reader::new(a.value);
    let family = mp_family(&mut r)?;
    let nh_len = r.u8().ok_or_else(optional_attribute_error)?;
    let nh = r
        .take(usize::from(nh_len))
        .ok_or_else(optional_attribute_error)?;
    r.u8().ok_or_else(optional_attribute_error)?; // reserved
    let Some(family) = family else {
        return Ok(()); // a family we did not negotiate: ignored
    };
    let prefixes = parse_prefixes(r.rest(), family).map_err(|_| optional_attribute_error())?;
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
        _ => {
            w.treat_as_withdraw
                .get_or_insert("MP_REACH_NLRI next hop length invalid");
            None
        }
    };
    w.announced.extend(prefixes);
    Ok(())
}

fn mp_unreach_nlri(a: RawAttr<'_>, w: &mut Walked<'_>) -> Result<(), Notification> {
    let mut r = Reader::new(a.value);
    let Some(family) = mp_family(&mut r)? else {
        return Ok(());
    };
    let prefixes = parse_prefixes(r.rest(), family).map_err(|_| optional_attribute_error())?;
    w.unreach_family = Some(family);
    w.withdrawn.extend(prefixes);
    Ok(())
}

fn check_mandatory(w: &mut Walked<'_>, seen: &BTreeSet<u8>, base_nlri: bool, mp_reach: bool) {
    if !base_nlri && !mp_reach {
        return;
    }
    if !seen.contains(&ORIGIN) || !seen.contains(&AS_PATH) {
        w.treat_as_withdraw
            .get_or_insert("missing ORIGIN or AS_PATH");
    }
    if base_nlri && !seen.contains(&NEXT_HOP) {
        w.treat_as_withdraw.get_or_insert("missing NEXT_HOP");
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
