//! The BFD Control packet of RFC 5880 §4.1, smoltcp style: [`ControlView`] is a checked view
//! over received bytes (every length is checked before a field is read), [`ControlPacket`] the
//! plain value the session machine works with; [`ControlPacket::parse`] and
//! [`ControlPacket::emit`] are mirror images.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
//! |                       My Discriminator                        |
//! |                      Your Discriminator                       |
//! |                    Desired Min TX Interval                    |
//! |                   Required Min RX Interval                    |
//! |                 Required Min Echo RX Interval                 |
//! |   Auth Type   |   Auth Len    |    Authentication Data...     |  (A bit only)
//! ```
//!
//! The view applies the wire-level discard rules of RFC 5880 §6.8.6 (version, length, Detect
//! Mult, Multipoint, My Discriminator, the authentication section's length); the rules that
//! depend on the session (Your Discriminator, the A bit without configured authentication) are
//! the session's (`crate::bfd`). We never send authentication: [`ControlPacket::emit`] always
//! writes a 24-byte packet.

use std::fmt;

/// Length of the mandatory section, and of every packet we send.
pub const CONTROL_LEN: usize = 24;
/// The only protocol version (RFC 5880 §4.1).
pub const VERSION: u8 = 1;

const FLAG_P: u8 = 0x20;
const FLAG_F: u8 = 0x10;
const FLAG_C: u8 = 0x08;
const FLAG_A: u8 = 0x04;
const FLAG_D: u8 = 0x02;
const FLAG_M: u8 = 0x01;

/// Why a received datagram is not a BFD Control packet we accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BfdError {
    #[error("BFD packet of {0} bytes is shorter than the 24-byte Control header")]
    Truncated(usize),
    #[error("BFD version {0} (only version 1 exists)")]
    Version(u8),
    #[error("BFD Length field {length} is below the minimum of {min} bytes")]
    LengthTooSmall { length: u8, min: u8 },
    #[error("BFD Length field {length} exceeds the {available} bytes received")]
    LengthExceedsBuffer { length: u8, available: usize },
    #[error("BFD Detect Mult is zero")]
    ZeroDetectMult,
    #[error("BFD Multipoint (M) bit is set")]
    Multipoint,
    #[error("BFD My Discriminator is zero")]
    ZeroMyDiscriminator,
    #[error("BFD authentication section (type {auth_type}, Auth Len {auth_len}) does not fit a packet of Length {length}")]
    AuthLength {
        auth_type: u8,
        auth_len: u8,
        length: u8,
    },
    #[error("buffer of {0} bytes is too short to emit a 24-byte BFD Control packet")]
    BufferTooShort(usize),
}

/// Session state as carried in the Sta field (RFC 5880 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    AdminDown = 0,
    Down = 1,
    Init = 2,
    Up = 3,
}

impl State {
    /// The state in the two low bits of `bits` (every value names a state).
    pub fn from_bits(bits: u8) -> State {
        match bits & 0x03 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }

    /// The name as `/status` shows it (`admin_down`, `down`, `init`, `up`).
    pub fn words(self) -> &'static str {
        match self {
            State::AdminDown => "admin_down",
            State::Down => "down",
            State::Init => "init",
            State::Up => "up",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.words())
    }
}

/// The Diagnostic code (RFC 5880 §4.1): why the sender's session last changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Diag {
    NoDiagnostic,
    ControlDetectionTimeExpired,
    EchoFunctionFailed,
    NeighborSignaledSessionDown,
    ForwardingPlaneReset,
    PathDown,
    ConcatenatedPathDown,
    AdministrativelyDown,
    ReverseConcatenatedPathDown,
    /// 9..=31, reserved for future use; kept so a packet reads back as it came.
    Reserved(u8),
}

impl Diag {
    /// The code in the five low bits of `bits`.
    pub fn from_bits(bits: u8) -> Diag {
        match bits & 0x1f {
            0 => Diag::NoDiagnostic,
            1 => Diag::ControlDetectionTimeExpired,
            2 => Diag::EchoFunctionFailed,
            3 => Diag::NeighborSignaledSessionDown,
            4 => Diag::ForwardingPlaneReset,
            5 => Diag::PathDown,
            6 => Diag::ConcatenatedPathDown,
            7 => Diag::AdministrativelyDown,
            8 => Diag::ReverseConcatenatedPathDown,
            other => Diag::Reserved(other),
        }
    }

    /// The five-bit code on the wire.
    pub fn bits(self) -> u8 {
        match self {
            Diag::NoDiagnostic => 0,
            Diag::ControlDetectionTimeExpired => 1,
            Diag::EchoFunctionFailed => 2,
            Diag::NeighborSignaledSessionDown => 3,
            Diag::ForwardingPlaneReset => 4,
            Diag::PathDown => 5,
            Diag::ConcatenatedPathDown => 6,
            Diag::AdministrativelyDown => 7,
            Diag::ReverseConcatenatedPathDown => 8,
            Diag::Reserved(v) => v & 0x1f,
        }
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words = match self {
            Diag::NoDiagnostic => "no diagnostic",
            Diag::ControlDetectionTimeExpired => "control detection time expired",
            Diag::EchoFunctionFailed => "echo function failed",
            Diag::NeighborSignaledSessionDown => "neighbor signaled session down",
            Diag::ForwardingPlaneReset => "forwarding plane reset",
            Diag::PathDown => "path down",
            Diag::ConcatenatedPathDown => "concatenated path down",
            Diag::AdministrativelyDown => "administratively down",
            Diag::ReverseConcatenatedPathDown => "reverse concatenated path down",
            Diag::Reserved(v) => return write!(f, "reserved diagnostic {v}"),
        };
        f.write_str(words)
    }
}

/// A checked view over the bytes of one received Control packet, cut to its Length field.
#[derive(Debug, Clone, Copy)]
pub struct ControlView<'a> {
    buf: &'a [u8],
}

impl<'a> ControlView<'a> {
    /// Checks `buf` (one UDP payload) and returns the view of its first Length bytes.
    pub fn new_checked(buf: &'a [u8]) -> Result<ControlView<'a>, BfdError> {
        let head = buf
            .get(..CONTROL_LEN)
            .ok_or(BfdError::Truncated(buf.len()))?;
        let byte = |i: usize| head.get(i).copied().unwrap_or(0);
        let version = byte(0) >> 5;
        if version != VERSION {
            return Err(BfdError::Version(version));
        }
        let flags = byte(1);
        let length = byte(3);
        let min = if flags & FLAG_A != 0 { 26 } else { 24 };
        if length < min {
            return Err(BfdError::LengthTooSmall { length, min });
        }
        let buf = buf
            .get(..usize::from(length))
            .ok_or(BfdError::LengthExceedsBuffer {
                length,
                available: buf.len(),
            })?;
        if byte(2) == 0 {
            return Err(BfdError::ZeroDetectMult);
        }
        if flags & FLAG_M != 0 {
            return Err(BfdError::Multipoint);
        }
        if be32(head, 4) == 0 {
            return Err(BfdError::ZeroMyDiscriminator);
        }
        let view = ControlView { buf };
        if let Some((auth_type, auth_len)) = view.auth_header() {
            if !auth_len_fits(auth_type, auth_len, length) {
                return Err(BfdError::AuthLength {
                    auth_type,
                    auth_len,
                    length,
                });
            }
        }
        Ok(view)
    }

    fn byte(&self, i: usize) -> u8 {
        self.buf.get(i).copied().unwrap_or(0)
    }

    fn flag(&self, mask: u8) -> bool {
        self.byte(1) & mask != 0
    }

    pub fn version(&self) -> u8 {
        self.byte(0) >> 5
    }
    pub fn diag(&self) -> Diag {
        Diag::from_bits(self.byte(0))
    }
    pub fn state(&self) -> State {
        State::from_bits(self.byte(1) >> 6)
    }
    pub fn poll(&self) -> bool {
        self.flag(FLAG_P)
    }
    pub fn final_(&self) -> bool {
        self.flag(FLAG_F)
    }
    pub fn control_plane_independent(&self) -> bool {
        self.flag(FLAG_C)
    }
    pub fn auth_present(&self) -> bool {
        self.flag(FLAG_A)
    }
    pub fn demand(&self) -> bool {
        self.flag(FLAG_D)
    }
    pub fn multipoint(&self) -> bool {
        self.flag(FLAG_M)
    }
    pub fn detect_mult(&self) -> u8 {
        self.byte(2)
    }
    /// The Length field (also the length of this view).
    pub fn length(&self) -> u8 {
        self.byte(3)
    }
    pub fn my_discr(&self) -> u32 {
        be32(self.buf, 4)
    }
    pub fn your_discr(&self) -> u32 {
        be32(self.buf, 8)
    }
    /// Microseconds.
    pub fn desired_min_tx(&self) -> u32 {
        be32(self.buf, 12)
    }
    /// Microseconds.
    pub fn required_min_rx(&self) -> u32 {
        be32(self.buf, 16)
    }
    /// Microseconds.
    pub fn required_min_echo_rx(&self) -> u32 {
        be32(self.buf, 20)
    }

    /// Auth Type and Auth Len, when the A bit is set.
    pub fn auth_header(&self) -> Option<(u8, u8)> {
        if !self.auth_present() {
            return None;
        }
        Some((self.byte(CONTROL_LEN), self.byte(CONTROL_LEN + 1)))
    }
}

/// RFC 5880 §4.2-4.4: the section must fit inside Length; the known types have fixed sizes
/// (Simple Password 4..=19 bytes, Keyed/Meticulous MD5 24, Keyed/Meticulous SHA1 28).
fn auth_len_fits(auth_type: u8, auth_len: u8, length: u8) -> bool {
    let inside = usize::from(auth_len) + CONTROL_LEN <= usize::from(length);
    let sized = match auth_type {
        1 => (4..=19).contains(&auth_len),
        2 | 3 => auth_len == 24,
        4 | 5 => auth_len == 28,
        _ => auth_len >= 2,
    };
    inside && sized
}

/// Big-endian u32 at `at`; 0 when the bytes are not there (the view checked they are).
fn be32(buf: &[u8], at: usize) -> u32 {
    at.checked_add(4)
        .and_then(|end| buf.get(at..end))
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map_or(0, u32::from_be_bytes)
}

/// One BFD Control packet as a plain value. Version is always 1 and Length is implied (24 on
/// emit); intervals are microseconds as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ControlPacket {
    pub diag: Diag,
    pub state: State,
    pub poll: bool,
    pub final_: bool,
    pub control_plane_independent: bool,
    pub auth_present: bool,
    pub demand: bool,
    pub multipoint: bool,
    pub detect_mult: u8,
    pub my_discr: u32,
    pub your_discr: u32,
    pub desired_min_tx: u32,
    pub required_min_rx: u32,
    pub required_min_echo_rx: u32,
}

impl ControlPacket {
    /// Checks and reads one received UDP payload.
    pub fn parse(buf: &[u8]) -> Result<ControlPacket, BfdError> {
        ControlView::new_checked(buf).map(|v| ControlPacket::from_view(&v))
    }

    /// Reads a checked view.
    pub fn from_view(v: &ControlView<'_>) -> ControlPacket {
        ControlPacket {
            diag: v.diag(),
            state: v.state(),
            poll: v.poll(),
            final_: v.final_(),
            control_plane_independent: v.control_plane_independent(),
            auth_present: v.auth_present(),
            demand: v.demand(),
            multipoint: v.multipoint(),
            detect_mult: v.detect_mult(),
            my_discr: v.my_discr(),
            your_discr: v.your_discr(),
            desired_min_tx: v.desired_min_tx(),
            required_min_rx: v.required_min_rx(),
            required_min_echo_rx: v.required_min_echo_rx(),
        }
    }

    /// Writes the 24-byte packet (version 1, Length 24, no authentication section) to the start
    /// of `buf`; returns the number of bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, BfdError> {
        let len = buf.len();
        let out = buf
            .get_mut(..CONTROL_LEN)
            .ok_or(BfdError::BufferTooShort(len))?;
        out.copy_from_slice(&self.to_bytes());
        Ok(CONTROL_LEN)
    }

    /// The 24 bytes of [`ControlPacket::emit`].
    pub fn to_bytes(&self) -> [u8; CONTROL_LEN] {
        let flag = |set: bool, mask: u8| if set { mask } else { 0 };
        let flags = ((self.state as u8) << 6)
            | flag(self.poll, FLAG_P)
            | flag(self.final_, FLAG_F)
            | flag(self.control_plane_independent, FLAG_C)
            | flag(self.auth_present, FLAG_A)
            | flag(self.demand, FLAG_D)
            | flag(self.multipoint, FLAG_M);
        let mut b = [0u8; CONTROL_LEN];
        let head = [
            (VERSION << 5) | self.diag.bits(),
            flags,
            self.detect_mult,
            CONTROL_LEN as u8,
        ];
        let words = [
            self.my_discr,
            self.your_discr,
            self.desired_min_tx,
            self.required_min_rx,
            self.required_min_echo_rx,
        ];
        for (dst, src) in b.iter_mut().zip(
            head.into_iter()
                .chain(words.into_iter().flat_map(u32::to_be_bytes)),
        ) {
            *dst = src;
        }
        b
    }
}

#[cfg(test)]
mod tests;
