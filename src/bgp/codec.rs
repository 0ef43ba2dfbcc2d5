//! BGP wire codec: framing, bounds-checked structural validation, and the mapping of every
//! decode failure to its NOTIFICATION. The only file that uses zettabgp. (Interface stub.)

use bytes::{Bytes, BytesMut};
use ipnet::IpNet;

use super::message::{Family, Message, Notification, PathAttributes};

pub const HEADER_LEN: usize = 19;
pub const MAX_MESSAGE_LEN: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecParams {
    pub four_octet_as: bool,
    pub max_message_len: usize,
}

impl Default for CodecParams {
    fn default() -> Self {
        CodecParams {
            four_octet_as: false,
            max_message_len: MAX_MESSAGE_LEN,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("stub")]
    Stub,
}

pub fn decode(buf: &mut BytesMut, params: &CodecParams) -> Result<Option<Message>, Notification> {
    let _ = (buf, params);
    Ok(None)
}

pub fn encode(msg: &Message, params: &CodecParams, out: &mut BytesMut) {
    let _ = (msg, params, out);
}

pub fn encode_announce(
    prefixes: &[IpNet],
    attrs: &PathAttributes,
    params: &CodecParams,
) -> Result<Vec<Bytes>, EncodeError> {
    let _ = (prefixes, attrs, params);
    Err(EncodeError::Stub)
}

pub fn encode_withdraw(prefixes: &[IpNet], params: &CodecParams) -> Vec<Bytes> {
    let _ = (prefixes, params);
    Vec::new()
}

pub fn encode_end_of_rib(family: Family) -> Bytes {
    let _ = family;
    Bytes::new()
}
