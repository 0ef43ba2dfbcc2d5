//! The Ethernet II header (IEEE 802.3 §3.1 with an EtherType) and one optional 802.1Q tag.
//!
//! ```text
//! | dst MAC (6) | src MAC (6) | EtherType (2) | payload ...
//! | dst MAC (6) | src MAC (6) | 0x8100 | PCP(3) DEI(1) VID(12) | EtherType (2) | payload ...
//! ```
//!
//! VLANs: one 802.1Q tag (TPID 0x8100) is parsed and its VID reported in
//! [`EthernetHeader::vlan`], so a responder bound to a trunk can tell VLANs apart (on Linux an
//! AF_PACKET socket usually sees frames with the tag already stripped into auxdata, so most
//! frames carry none). A second 0x8100 tag inside the first (stacked, QinQ without 0x88a8) is
//! refused with [`EthernetError::StackedVlan`]; an 802.1ad outer tag (0x88a8) is just a foreign
//! EtherType. The frame check sequence is never part of the buffer, and trailing bytes (the
//! padding to 60 bytes of a short frame) are left in the payload for the next layer to ignore.

use std::fmt;

/// Length of an untagged header.
pub const HEADER_LEN: usize = 14;
/// Length of the 802.1Q tag (TPID + TCI).
pub const VLAN_TAG_LEN: usize = 4;
/// The smallest frame without its FCS (ETH_ZLEN); [`frame`] pads to it.
pub const MIN_FRAME_LEN: usize = 60;

/// EtherTypes we name (IEEE registry).
pub struct EtherType;

impl EtherType {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const VLAN: u16 = 0x8100;
    pub const IPV6: u16 = 0x86dd;
}

/// Why a buffer is not an Ethernet II frame we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EthernetError {
    #[error("frame of {len} bytes is shorter than its {min}-byte Ethernet header")]
    Truncated { len: usize, min: usize },
    #[error("802.1Q tag inside an 802.1Q tag (stacked VLANs are not read)")]
    StackedVlan,
    #[error("buffer of {len} bytes is too short to emit a {need}-byte frame")]
    BufferTooShort { len: usize, need: usize },
}

impl EthernetError {
    /// The metric label of the drop (`short`, `stacked_vlan`).
    pub fn label(&self) -> &'static str {
        match self {
            EthernetError::Truncated { .. } | EthernetError::BufferTooShort { .. } => "short",
            EthernetError::StackedVlan => "stacked_vlan",
        }
    }
}

/// A 48-bit IEEE MAC address; displays as `02:00:5e:10:00:01`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// The group bit (I/G, the low bit of the first octet): multicast and broadcast.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    pub fn is_broadcast(&self) -> bool {
        *self == MacAddr::BROADCAST
    }

    /// The six bytes at `at` of `buf`, when they are there.
    pub(crate) fn read(buf: &[u8], at: usize) -> Option<MacAddr> {
        let end = at.checked_add(6)?;
        buf.get(at..end)
            .and_then(|s| <[u8; 6]>::try_from(s).ok())
            .map(MacAddr)
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// An 802.1Q tag's TCI: priority (PCP, 3 bits), drop eligible (DEI), VLAN id (12 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Vlan {
    pub pcp: u8,
    pub dei: bool,
    pub vid: u16,
}

impl Vlan {
    fn from_tci(tci: u16) -> Vlan {
        Vlan {
            pcp: (tci >> 13) as u8,
            dei: tci & 0x1000 != 0,
            vid: tci & 0x0fff,
        }
    }

    fn tci(&self) -> u16 {
        (u16::from(self.pcp & 0x07) << 13) | (u16::from(self.dei) << 12) | (self.vid & 0x0fff)
    }
}

/// Big-endian u16 at `at`; 0 when the bytes are not there (views check that they are).
pub(crate) fn be16(buf: &[u8], at: usize) -> u16 {
    at.checked_add(2)
        .and_then(|end| buf.get(at..end))
        .and_then(|s| <[u8; 2]>::try_from(s).ok())
        .map_or(0, u16::from_be_bytes)
}

/// A checked view over one received frame: the header (and tag) are all there.
#[derive(Debug, Clone, Copy)]
pub struct EthernetView<'a> {
    buf: &'a [u8],
}

impl<'a> EthernetView<'a> {
    /// Checks that `buf` holds a whole header, with its 802.1Q tag when the first EtherType
    /// says there is one, and no second tag.
    pub fn new_checked(buf: &'a [u8]) -> Result<EthernetView<'a>, EthernetError> {
        let truncated = |min| EthernetError::Truncated {
            len: buf.len(),
            min,
        };
        if buf.len() < HEADER_LEN {
            return Err(truncated(HEADER_LEN));
        }
        if be16(buf, 12) == EtherType::VLAN {
            if buf.len() < HEADER_LEN + VLAN_TAG_LEN {
                return Err(truncated(HEADER_LEN + VLAN_TAG_LEN));
            }
            if be16(buf, 16) == EtherType::VLAN {
                return Err(EthernetError::StackedVlan);
            }
        }
        Ok(EthernetView { buf })
    }

    pub fn dst(&self) -> MacAddr {
        MacAddr::read(self.buf, 0).unwrap_or_default()
    }

    pub fn src(&self) -> MacAddr {
        MacAddr::read(self.buf, 6).unwrap_or_default()
    }

    /// The 802.1Q tag, if the frame carries one.
    pub fn vlan(&self) -> Option<Vlan> {
        (be16(self.buf, 12) == EtherType::VLAN).then(|| Vlan::from_tci(be16(self.buf, 14)))
    }

    /// The EtherType of the payload (inside the tag, if any).
    pub fn ethertype(&self) -> u16 {
        be16(self.buf, self.header_len() - 2)
    }

    pub fn header_len(&self) -> usize {
        if self.vlan().is_some() {
            HEADER_LEN + VLAN_TAG_LEN
        } else {
            HEADER_LEN
        }
    }

    /// Everything after the header, padding included.
    pub fn payload(&self) -> &'a [u8] {
        self.buf.get(self.header_len()..).unwrap_or_default()
    }
}

/// An Ethernet II header as a plain value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EthernetHeader {
    pub dst: MacAddr,
    pub src: MacAddr,
    pub vlan: Option<Vlan>,
    pub ethertype: u16,
}

impl EthernetHeader {
    /// Checks and reads a frame; returns the header and the payload after it.
    pub fn parse(buf: &[u8]) -> Result<(EthernetHeader, &[u8]), EthernetError> {
        let v = EthernetView::new_checked(buf)?;
        Ok((EthernetHeader::from_view(&v), v.payload()))
    }

    pub fn from_view(v: &EthernetView<'_>) -> EthernetHeader {
        EthernetHeader {
            dst: v.dst(),
            src: v.src(),
            vlan: v.vlan(),
            ethertype: v.ethertype(),
        }
    }

    /// 14 bytes, or 18 with a tag.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.vlan.map_or(0, |_| VLAN_TAG_LEN)
    }

    /// Writes the header to the start of `buf`; returns the number of bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EthernetError> {
        let need = self.header_len();
        let len = buf.len();
        let out = buf
            .get_mut(..need)
            .ok_or(EthernetError::BufferTooShort { len, need })?;
        let mut bytes = Vec::with_capacity(need);
        bytes.extend_from_slice(&self.dst.0);
        bytes.extend_from_slice(&self.src.0);
        if let Some(vlan) = self.vlan {
            bytes.extend_from_slice(&EtherType::VLAN.to_be_bytes());
            bytes.extend_from_slice(&vlan.tci().to_be_bytes());
        }
        bytes.extend_from_slice(&self.ethertype.to_be_bytes());
        out.copy_from_slice(&bytes);
        Ok(need)
    }
}

/// A whole frame: `header`, then `payload`, zero-padded to [`MIN_FRAME_LEN`].
pub fn frame(header: &EthernetHeader, payload: &[u8]) -> Vec<u8> {
    let len = (header.header_len() + payload.len()).max(MIN_FRAME_LEN);
    let mut out = vec![0u8; len];
    // The buffer is sized for the header, so emit cannot fail.
    let at = header.emit(&mut out).unwrap_or(0);
    if let Some(dst) = out.get_mut(at..at + payload.len()) {
        dst.copy_from_slice(payload);
    }
    out
}

#[cfg(test)]
pub(crate) mod tests;
