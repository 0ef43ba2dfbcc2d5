//! UPDATE encoding (ours, not zettabgp's): path attributes with AS_SEQUENCE, and packing of many
//! prefixes into as few messages as fit the negotiated maximum size.

use std::net::IpAddr;

use bytes::{BufMut, Bytes, BytesMut};
use ipnet::IpNet;

use super::message::{Family, Origin, PathAttributes, AS_TRANS};
use super::update::{
    AS4_PATH, AS_PATH, COMMUNITIES, FLAG_EXTENDED, FLAG_OPTIONAL, FLAG_TRANSITIVE, LARGE_COMMUNITY,
    LOCAL_PREF, MED, MP_REACH, MP_UNREACH, NEXT_HOP, ORIGIN,
};
use super::wire::{prefix_len_on_wire, put_prefix};

pub const HEADER_LEN: usize = 19;
const TYPE_UPDATE: u8 = 2;

/// Why routes could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("routes to announce have no next hop")]
    NoNextHop,
    #[error("prefix {prefix} is not of the next hop's family ({next_hop})")]
    FamilyMismatch { prefix: IpNet, next_hop: IpAddr },
    #[error("the path attributes alone ({0} bytes) do not fit in one message")]
    AttributesTooLong(usize),
}

/// Writes a message header with a placeholder length; `finish` fills it in.
pub fn start_message(out: &mut BytesMut, kind: u8) -> usize {
    let start = out.len();
    out.put_slice(&[0xff; 16]);
    out.put_u16(0);
    out.put_u8(kind);
    start
}

/// Fills in the length of the message that begins at `start`.
pub fn finish_message(out: &mut BytesMut, start: usize) {
    let len = (out.len() - start) as u16;
    if let Some(slot) = out.get_mut(start + 16..start + 18) {
        slot.copy_from_slice(&len.to_be_bytes());
    }
}

fn put_attr(out: &mut Vec<u8>, flags: u8, kind: u8, value: &[u8]) {
    if value.len() > 255 {
        out.extend_from_slice(&[flags | FLAG_EXTENDED, kind]);
        out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    } else {
        out.extend_from_slice(&[flags, kind, value.len() as u8]);
    }
    out.extend_from_slice(value);
}

fn as_sequence(asns: &[u32], wide: bool) -> Vec<u8> {
    let mut v = Vec::new();
    for chunk in asns.chunks(255) {
        v.extend_from_slice(&[2, chunk.len() as u8]);
        for asn in chunk {
            if wide {
                v.extend_from_slice(&asn.to_be_bytes());
            } else {
                let narrow = u16::try_from(*asn).unwrap_or(AS_TRANS);
                v.extend_from_slice(&narrow.to_be_bytes());
            }
        }
    }
    v
}

/// Encodes the path attributes except NEXT_HOP and MP_REACH, in type-code order.
pub fn encode_attributes(attrs: &PathAttributes, four_octet_as: bool) -> Vec<u8> {
    let wk = FLAG_TRANSITIVE;
    let opt_trans = FLAG_OPTIONAL | FLAG_TRANSITIVE;
    let mut out = Vec::new();
    let origin = match attrs.origin {
        Origin::Igp => 0,
        Origin::Egp => 1,
        Origin::Incomplete => 2,
    };
    put_attr(&mut out, wk, ORIGIN, &[origin]);
    put_attr(
        &mut out,
        wk,
        AS_PATH,
        &as_sequence(&attrs.as_path, four_octet_as),
    );
    if let Some(med) = attrs.med {
        put_attr(&mut out, FLAG_OPTIONAL, MED, &med.to_be_bytes());
    }
    if let Some(lp) = attrs.local_pref {
        put_attr(&mut out, wk, LOCAL_PREF, &lp.to_be_bytes());
    }
    if !attrs.communities.is_empty() {
        let v: Vec<u8> = attrs
            .communities
            .iter()
            .flat_map(|c| c.to_be_bytes())
            .collect();
        put_attr(&mut out, opt_trans, COMMUNITIES, &v);
    }
    if !four_octet_as && attrs.as_path.iter().any(|a| *a > u32::from(u16::MAX)) {
        put_attr(
            &mut out,
            opt_trans,
            AS4_PATH,
            &as_sequence(&attrs.as_path, true),
        );
    }
    if !attrs.large_communities.is_empty() {
        let v: Vec<u8> = attrs
            .large_communities
            .iter()
            .flat_map(|(a, b, c)| [a.to_be_bytes(), b.to_be_bytes(), c.to_be_bytes()])
            .flatten()
            .collect();
        put_attr(&mut out, opt_trans, LARGE_COMMUNITY, &v);
    }
    out
}

/// Packs announcements into UPDATEs of at most `max_len` bytes each.
pub fn announce(
    prefixes: &[IpNet],
    attrs: &PathAttributes,
    four_octet_as: bool,
    max_len: usize,
) -> Result<Vec<Bytes>, EncodeError> {
    let next_hop = attrs.next_hop.ok_or(EncodeError::NoNextHop)?;
    if let Some(p) = prefixes
        .iter()
        .find(|p| Family::of(p.addr()) != Family::of(next_hop))
    {
        return Err(EncodeError::FamilyMismatch {
            prefix: *p,
            next_hop,
        });
    }
    let mut base = encode_attributes(attrs, four_octet_as);
    match next_hop {
        IpAddr::V4(nh) => {
            put_attr(&mut base, FLAG_TRANSITIVE, NEXT_HOP, &nh.octets());
            pack(prefixes, max_len, base.len(), |out, chunk| {
                out.put_u16(0);
                out.put_u16(base.len() as u16);
                out.put_slice(&base);
                chunk.iter().for_each(|p| put_prefix(out, p));
            })
        }
        IpAddr::V6(nh) => {
            // MP_REACH with extended length: 4 header + AFI 2 + SAFI 1 + len 1 + 16 + reserved 1.
            let overhead = base.len() + 4 + 5 + 16;
            pack(prefixes, max_len, overhead, |out, chunk| {
                let nlri: usize = chunk.iter().map(prefix_len_on_wire).sum();
                out.put_u16(0);
                out.put_u16((overhead + nlri) as u16);
                out.put_slice(&base);
                out.put_slice(&[FLAG_OPTIONAL | FLAG_EXTENDED, MP_REACH]);
                out.put_u16((5 + 16 + nlri) as u16);
                out.put_slice(&[0, 2, 1, 16]);
                out.put_slice(&nh.octets());
                out.put_u8(0);
                chunk.iter().for_each(|p| put_prefix(out, p));
            })
        }
    }
}

/// Packs withdrawals: IPv4 in the withdrawn-routes field, IPv6 in MP_UNREACH_NLRI.
pub fn withdraw(prefixes: &[IpNet], max_len: usize) -> Vec<Bytes> {
    let (v4, v6): (Vec<IpNet>, Vec<IpNet>) =
        prefixes.iter().partition(|p| matches!(p, IpNet::V4(_)));
    let mut out = pack(&v4, max_len, 0, |out, chunk| {
        let len: usize = chunk.iter().map(prefix_len_on_wire).sum();
        out.put_u16(len as u16);
        chunk.iter().for_each(|p| put_prefix(out, p));
        out.put_u16(0);
    })
    .unwrap_or_default();
    let v6_msgs = pack(&v6, max_len, 4 + 3, |out, chunk| {
        let len: usize = chunk.iter().map(prefix_len_on_wire).sum();
        out.put_u16(0);
        out.put_u16((4 + 3 + len) as u16);
        out.put_slice(&[FLAG_OPTIONAL | FLAG_EXTENDED, MP_UNREACH]);
        out.put_u16((3 + len) as u16);
        out.put_slice(&[0, 2, 1]);
        chunk.iter().for_each(|p| put_prefix(out, p));
    });
    out.extend(v6_msgs.unwrap_or_default());
    out
}

/// End-of-RIB (RFC 4724): an empty UPDATE for IPv4, an empty MP_UNREACH for other families.
pub fn end_of_rib(family: Family) -> Bytes {
    let mut out = BytesMut::new();
    let start = start_message(&mut out, TYPE_UPDATE);
    out.put_u16(0);
    if family == Family::Ipv4Unicast {
        out.put_u16(0);
    } else {
        let (afi, safi) = family.afi_safi();
        out.put_u16(6);
        out.put_slice(&[FLAG_OPTIONAL, MP_UNREACH, 3]);
        out.put_u16(afi);
        out.put_u8(safi);
    }
    finish_message(&mut out, start);
    out.freeze()
}

/// Splits `prefixes` into chunks whose messages fit `max_len` given `overhead` bytes of
/// attributes, and writes each with `write` (which writes the body after the header).
fn pack(
    prefixes: &[IpNet],
    max_len: usize,
    overhead: usize,
    mut write: impl FnMut(&mut BytesMut, &[IpNet]),
) -> Result<Vec<Bytes>, EncodeError> {
    let fixed = HEADER_LEN + 4 + overhead;
    if fixed + 17 > max_len {
        return Err(EncodeError::AttributesTooLong(overhead));
    }
    let room = max_len - fixed;
    let mut messages = Vec::new();
    let mut start = 0;
    while start < prefixes.len() {
        let mut used = 0;
        let mut end = start;
        while let Some(p) = prefixes.get(end) {
            let n = prefix_len_on_wire(p);
            if used + n > room {
                break;
            }
            used += n;
            end += 1;
        }
        let mut out = BytesMut::with_capacity(fixed + used);
        let at = start_message(&mut out, TYPE_UPDATE);
        write(&mut out, prefixes.get(start..end).unwrap_or(&[]));
        finish_message(&mut out, at);
        messages.push(out.freeze());
        start = end;
    }
    Ok(messages)
}
