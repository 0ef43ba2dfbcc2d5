//! BGP wire codec: framing (marker, length bounds per message type), dispatch to the OPEN and
//! UPDATE walkers, and the mapping of every decode failure to its NOTIFICATION. The only file
//! that uses zettabgp: it decodes path attribute values, and only after `update::walk` proved
//! every byte it will look at is there (zettabgp 0.6 panics on several malformed inputs; see
//! docs/ARCHITECTURE.md). As a last line of defence those calls also run under `catch_unwind`.

use bytes::{BufMut, Bytes, BytesMut};
use ipnet::IpNet;
use zettabgp::prelude::{
    BgpASitem, BgpAttrItem, BgpAttrOrigin, BgpSessionParams, BgpTransportMode,
};

use super::codes::HeaderSubcode;
pub use super::encode::EncodeError;
use super::encode::{finish_message, start_message};
use super::message::{
    AttrError, ErrorAction, Family, Message, Notification, Origin, PathAttributes, RouteRefresh,
    Update,
};
use super::wire::Reader;
use super::{encode, open, update};

pub const HEADER_LEN: usize = 19;
/// RFC 4271 maximum message size (65535 only after RFC 8654 extended messages).
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Maximum message size once both sides offered extended messages (RFC 8654).
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;

const TYPE_OPEN: u8 = 1;
const TYPE_UPDATE: u8 = 2;
const TYPE_NOTIFICATION: u8 = 3;
const TYPE_KEEPALIVE: u8 = 4;
const TYPE_ROUTE_REFRESH: u8 = 5;

/// Per-session codec parameters; the runtime updates them when the session reaches Established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecParams {
    /// Both sides offered 4-octet AS (RFC 6793): AS_PATH carries 4-byte ASNs.
    pub four_octet_as: bool,
    pub max_message_len: usize,
    /// The peer is in our AS (LOCAL_PREF is kept; from eBGP it is discarded, RFC 7606 §7.5).
    pub ibgp: bool,
}

impl Default for CodecParams {
    fn default() -> Self {
        CodecParams {
            four_octet_as: false,
            max_message_len: MAX_MESSAGE_LEN,
            ibgp: false,
        }
    }
}

/// Splits and decodes the first complete message at the front of `buf`.
/// `Ok(None)`: not a whole message yet. `Err`: the NOTIFICATION to send before closing.
pub fn decode(buf: &mut BytesMut, params: &CodecParams) -> Result<Option<Message>, Notification> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let (len, kind) = check_header(buf, params)?;
    if buf.len() < len {
        return Ok(None);
    }
    let frame = buf.split_to(len).freeze();
    let body = frame.get(HEADER_LEN..).unwrap_or(&[]);
    decode_body(kind, body, params).map(Some)
}

/// Checks marker, length and type (RFC 4271 §6.1) and returns (length, type).
fn check_header(buf: &[u8], params: &CodecParams) -> Result<(usize, u8), Notification> {
    if buf.get(..16).is_none_or(|m| m.iter().any(|b| *b != 0xff)) {
        return Err(Notification::header(
            HeaderSubcode::ConnectionNotSynchronized,
        ));
    }
    let raw_len = buf.get(16..18).unwrap_or(&[0, 0]);
    let len = usize::from(Reader::new(raw_len).u16().unwrap_or(0));
    let kind = buf.get(18).copied().unwrap_or(0);
    let bad_len =
        || Notification::header(HeaderSubcode::BadMessageLength).with_data(raw_len.to_vec());
    if !(HEADER_LEN..=params.max_message_len).contains(&len) {
        return Err(bad_len());
    }
    let ok = match kind {
        TYPE_OPEN => len >= 29,
        TYPE_UPDATE => len >= 23,
        TYPE_NOTIFICATION => len >= 21,
        TYPE_KEEPALIVE => len == 19,
        TYPE_ROUTE_REFRESH => len == 23,
        _ => return Err(Notification::header(HeaderSubcode::BadMessageType).with_data(vec![kind])),
    };
    if ok {
        Ok((len, kind))
    } else {
        Err(bad_len())
    }
}

fn decode_body(kind: u8, body: &[u8], params: &CodecParams) -> Result<Message, Notification> {
    match kind {
        TYPE_OPEN => open::decode(body).map(Message::Open),
        TYPE_UPDATE => decode_update(body, params).map(Message::Update),
        TYPE_NOTIFICATION => {
            let mut r = Reader::new(body);
            let (code, subcode) = (r.u8().unwrap_or(0), r.u8().unwrap_or(0));
            let data = r.rest().to_vec();
            Ok(Message::Notification(Notification::raw(
                code, subcode, data,
            )))
        }
        TYPE_KEEPALIVE => Ok(Message::Keepalive),
        _ => {
            let mut r = Reader::new(body);
            let (afi, _reserved, safi) = (r.u16().unwrap_or(0), r.u8(), r.u8().unwrap_or(0));
            Ok(Message::RouteRefresh(RouteRefresh { afi, safi }))
        }
    }
}

fn decode_update(body: &[u8], params: &CodecParams) -> Result<Update, Notification> {
    let walk_params = update::WalkParams {
        four_octet_as: params.four_octet_as,
        ibgp: params.ibgp,
    };
    let walked = update::walk_with(body, walk_params)?;
    let mut out = Update {
        withdrawn: walked.withdrawn.clone(),
        attributes: None,
        announced: Vec::new(),
        end_of_rib: walked.end_of_rib,
        errors: walked.errors.clone(),
    };
    if walked.announced.is_empty() {
        return Ok(out);
    }
    let attrs = match walked.treat_as_withdraw {
        None => decode_attributes(&walked, params),
        Some(_) => Err(None),
    };
    match attrs {
        Ok(a) => {
            out.attributes = Some(a);
            out.announced = walked.announced;
        }
        // RFC 7606 treat-as-withdraw: the routes are withdrawn, the session stays up.
        Err(undecoded) => {
            if let Some(kind) = undecoded {
                out.errors.push(AttrError {
                    action: ErrorAction::TreatAsWithdraw,
                    attribute: kind,
                    reason: "attribute value did not decode",
                });
            }
            out.withdrawn.extend(walked.announced)
        }
    }
    Ok(out)
}

/// Decodes the attribute values with zettabgp. Every value was length-checked by the walk; an
/// attribute zettabgp still refuses is returned as `Err(Some(type))`.
fn decode_attributes(
    w: &update::Walked<'_>,
    params: &CodecParams,
) -> Result<PathAttributes, Option<u8>> {
    let mut session =
        BgpSessionParams::new(0, 0, BgpTransportMode::IPv4, [0, 0, 0, 0].into(), vec![]);
    session.has_as32bit = params.four_octet_as;
    session.fuzzy_pathid = false;
    let mut attrs = PathAttributes {
        next_hop: w.mp_next_hop,
        ..PathAttributes::default()
    };
    // Only what `apply_attr` reads goes to zettabgp: the walk checked those lengths, not the
    // others' (a zero-length ORIGINATOR_ID panics zettabgp 0.6; found by fuzz/ `walk`).
    for raw in w.attrs.iter().filter(|a| APPLIED.contains(&a.kind)) {
        let decoded = std::panic::catch_unwind(|| {
            BgpAttrItem::decode_from(&session, raw.kind, raw.flags, raw.value.len(), raw.value)
        });
        match decoded {
            Ok(Ok(item)) => apply_attr(&mut attrs, item),
            _ => return Err(Some(raw.kind)),
        }
    }
    Ok(attrs)
}

/// The attribute types `apply_attr` keeps, each length-checked by `update::walk`.
const APPLIED: [u8; 7] = [
    update::ORIGIN,
    update::AS_PATH,
    update::NEXT_HOP,
    update::MED,
    update::LOCAL_PREF,
    update::COMMUNITIES,
    update::LARGE_COMMUNITY,
];

fn apply_attr(attrs: &mut PathAttributes, item: BgpAttrItem) {
    match item {
        BgpAttrItem::Origin(o) => {
            attrs.origin = match o.value {
                BgpAttrOrigin::Igp => Origin::Igp,
                BgpAttrOrigin::Egp => Origin::Egp,
                BgpAttrOrigin::Incomplete => Origin::Incomplete,
            }
        }
        BgpAttrItem::ASPath(p) => {
            attrs.as_path = p
                .value
                .iter()
                .flat_map(|seg| match seg {
                    BgpASitem::Seq(s) => s.value.iter().map(|a| a.value).collect::<Vec<_>>(),
                    BgpASitem::Set(s) => s.value.iter().map(|a| a.value).collect(),
                })
                .collect()
        }
        BgpAttrItem::NextHop(n) if attrs.next_hop.is_none() => attrs.next_hop = Some(n.value),
        BgpAttrItem::MED(m) => attrs.med = Some(m.value),
        BgpAttrItem::LocalPref(l) => attrs.local_pref = Some(l.value),
        BgpAttrItem::CommunityList(c) => {
            attrs.communities = c.value.iter().map(|c| c.value).collect()
        }
        BgpAttrItem::LargeCommunityList(c) => {
            attrs.large_communities = c.value.iter().map(|c| (c.ga, c.ldp1, c.ldp2)).collect()
        }
        _ => {}
    }
}

/// Encodes OPEN, KEEPALIVE, NOTIFICATION and ROUTE-REFRESH, and UPDATEs (packed into as many
/// messages as needed) into `out`.
pub fn encode(msg: &Message, params: &CodecParams, out: &mut BytesMut) {
    let kind = match msg {
        Message::Open(_) => TYPE_OPEN,
        Message::Update(u) => {
            encode_update(u, params, out);
            return;
        }
        Message::Notification(_) => TYPE_NOTIFICATION,
        Message::Keepalive => TYPE_KEEPALIVE,
        Message::RouteRefresh(_) => TYPE_ROUTE_REFRESH,
    };
    let start = start_message(out, kind);
    match msg {
        Message::Open(o) => open::encode(o, out),
        Message::Notification(n) => {
            out.put_u8(n.code);
            out.put_u8(n.subcode);
            let room = params.max_message_len.saturating_sub(HEADER_LEN + 2);
            out.put_slice(n.data.get(..room.min(n.data.len())).unwrap_or(&[]));
        }
        Message::RouteRefresh(r) => {
            out.put_u16(r.afi);
            out.put_u8(0);
            out.put_u8(r.safi);
        }
        Message::Keepalive | Message::Update(_) => {}
    }
    finish_message(out, start);
}

fn encode_update(u: &Update, params: &CodecParams, out: &mut BytesMut) {
    for m in encode_withdraw(&u.withdrawn, params) {
        out.put_slice(&m);
    }
    if let Some(attrs) = &u.attributes {
        if let Ok(msgs) = encode_announce(&u.announced, attrs, params) {
            msgs.iter().for_each(|m| out.put_slice(m));
        }
    }
    if let Some(f) = u.end_of_rib {
        out.put_slice(&encode_end_of_rib(f));
    }
}

/// Packs announcements of `prefixes` (one family, that of `attrs.next_hop`) into as few UPDATEs
/// as fit `params.max_message_len`; IPv6 goes in MP_REACH_NLRI (RFC 4760).
pub fn encode_announce(
    prefixes: &[IpNet],
    attrs: &PathAttributes,
    params: &CodecParams,
) -> Result<Vec<Bytes>, EncodeError> {
    encode::announce(
        prefixes,
        attrs,
        params.four_octet_as,
        params.max_message_len,
    )
}

/// Packs withdrawals (IPv4 withdrawn-routes field, IPv6 MP_UNREACH_NLRI); families may mix.
pub fn encode_withdraw(prefixes: &[IpNet], params: &CodecParams) -> Vec<Bytes> {
    encode::withdraw(prefixes, params.max_message_len)
}

/// End-of-RIB marker (RFC 4724) for a family.
pub fn encode_end_of_rib(family: Family) -> Bytes {
    encode::end_of_rib(family)
}

#[cfg(test)]
mod encode_tests;
#[cfg(test)]
mod tests;
