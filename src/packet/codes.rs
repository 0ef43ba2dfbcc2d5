//! Typed NOTIFICATION error codes and subcodes (RFC 4271 §4.5 and the IANA "BGP Error (Notification)
//! Codes" / "BGP Error Subcodes" registries), each convertible to and from its byte on the wire.
//!
//! A peer may send values we do not know, so [`super::message::Notification`] keeps the raw bytes
//! and these enums are a view of them: `TryFrom<u8>` gives back the unknown byte as the error.

use std::fmt;

/// Declares a `u8` code enum with conversions both ways and a Display in words.
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal => $words:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(u8)]
        pub enum $name {
            $( $(#[$vmeta])* $variant = $value, )+
        }

        impl $name {
            /// Every value, in wire order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name in words, as logs and `ferrolb status` show it.
            pub fn words(self) -> &'static str {
                match self {
                    $( $name::$variant => $words, )+
                }
            }
        }

        impl From<$name> for u8 {
            fn from(v: $name) -> u8 {
                v as u8
            }
        }

        impl TryFrom<u8> for $name {
            /// The byte, when it names no value we know.
            type Error = u8;

            fn try_from(v: u8) -> Result<$name, u8> {
                match v {
                    $( $value => Ok($name::$variant), )+
                    other => Err(other),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.words())
            }
        }
    };
}

code_enum! {
    /// NOTIFICATION error codes (RFC 4271 §4.5; 7 from RFC 7313).
    pub enum ErrorCode {
        MessageHeader = 1 => "Message Header Error",
        OpenMessage = 2 => "OPEN Message Error",
        UpdateMessage = 3 => "UPDATE Message Error",
        HoldTimerExpired = 4 => "Hold Timer Expired",
        FsmError = 5 => "Finite State Machine Error",
        Cease = 6 => "Cease",
        RouteRefresh = 7 => "ROUTE-REFRESH Message Error",
    }
}

code_enum! {
    /// Message Header Error subcodes (RFC 4271 §6.1).
    pub enum HeaderSubcode {
        Unspecific = 0 => "unspecific",
        ConnectionNotSynchronized = 1 => "connection not synchronized",
        BadMessageLength = 2 => "bad message length",
        BadMessageType = 3 => "bad message type",
    }
}

code_enum! {
    /// OPEN Message Error subcodes (RFC 4271 §6.2; 7 from RFC 5492).
    pub enum OpenSubcode {
        /// No specific subcode applies (a truncated or inconsistent OPEN).
        Unspecific = 0 => "unspecific",
        UnsupportedVersionNumber = 1 => "unsupported version number",
        BadPeerAs = 2 => "bad peer AS",
        BadBgpIdentifier = 3 => "bad BGP identifier",
        UnsupportedOptionalParameter = 4 => "unsupported optional parameter",
        UnacceptableHoldTime = 6 => "unacceptable hold time",
        UnsupportedCapability = 7 => "unsupported capability",
    }
}

code_enum! {
    /// UPDATE Message Error subcodes (RFC 4271 §6.3; 7 is deprecated).
    pub enum UpdateSubcode {
        Unspecific = 0 => "unspecific",
        MalformedAttributeList = 1 => "malformed attribute list",
        UnrecognizedWellKnownAttribute = 2 => "unrecognized well-known attribute",
        MissingWellKnownAttribute = 3 => "missing well-known attribute",
        AttributeFlagsError = 4 => "attribute flags error",
        AttributeLengthError = 5 => "attribute length error",
        InvalidOriginAttribute = 6 => "invalid ORIGIN attribute",
        InvalidNextHopAttribute = 8 => "invalid NEXT_HOP attribute",
        OptionalAttributeError = 9 => "optional attribute error",
        InvalidNetworkField = 10 => "invalid network field",
        MalformedAsPath = 11 => "malformed AS_PATH",
    }
}

code_enum! {
    /// Finite State Machine Error subcodes (RFC 6608 §3): the state an unexpected message came in.
    pub enum FsmSubcode {
        Unspecified = 0 => "unspecified error",
        OpenSent = 1 => "unexpected message in OpenSent",
        OpenConfirm = 2 => "unexpected message in OpenConfirm",
        Established = 3 => "unexpected message in Established",
    }
}

code_enum! {
    /// Cease subcodes (RFC 4486 §4; 9 from RFC 8538, 10 from RFC 9384).
    pub enum CeaseSubcode {
        /// No subcode (IANA marks 0 reserved; sent when a session fails with no better reason).
        Unspecific = 0 => "unspecific",
        MaximumPrefixesReached = 1 => "maximum number of prefixes reached",
        AdministrativeShutdown = 2 => "administrative shutdown",
        PeerDeconfigured = 3 => "peer de-configured",
        AdministrativeReset = 4 => "administrative reset",
        ConnectionRejected = 5 => "connection rejected",
        OtherConfigurationChange = 6 => "other configuration change",
        ConnectionCollisionResolution = 7 => "connection collision resolution",
        OutOfResources = 8 => "out of resources",
        HardReset = 9 => "hard reset",
        BfdDown = 10 => "BFD down",
    }
}

impl ErrorCode {
    /// The words for `subcode` under this code, when this module types that code's subcodes and
    /// knows this one.
    pub fn subcode_words(self, subcode: u8) -> Option<&'static str> {
        match self {
            ErrorCode::MessageHeader => HeaderSubcode::try_from(subcode).ok().map(|s| s.words()),
            ErrorCode::OpenMessage => OpenSubcode::try_from(subcode).ok().map(|s| s.words()),
            ErrorCode::UpdateMessage => UpdateSubcode::try_from(subcode).ok().map(|s| s.words()),
            ErrorCode::FsmError => FsmSubcode::try_from(subcode).ok().map(|s| s.words()),
            ErrorCode::Cease => CeaseSubcode::try_from(subcode).ok().map(|s| s.words()),
            ErrorCode::HoldTimerExpired | ErrorCode::RouteRefresh => None,
        }
    }

    /// Whether this module types the subcodes of this code. Hold Timer Expired has none; the one
    /// ROUTE-REFRESH subcode (RFC 7313, 1 invalid message length) is not typed here.
    pub fn has_typed_subcodes(self) -> bool {
        !matches!(self, ErrorCode::HoldTimerExpired | ErrorCode::RouteRefresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value of `T` survives u8 -> T -> u8, and the bytes are distinct.
    fn round_trips<T>(all: &[T]) -> Vec<u8>
    where
        T: Copy + PartialEq + fmt::Debug + Into<u8> + TryFrom<u8, Error = u8>,
    {
        let bytes: Vec<u8> = all.iter().map(|v| (*v).into()).collect();
        for (v, b) in all.iter().zip(&bytes) {
            assert_eq!(T::try_from(*b), Ok(*v));
        }
        assert!(
            bytes.windows(2).all(|w| w[0] < w[1]),
            "values are listed in wire order, once each: {bytes:?}"
        );
        bytes
    }

    #[test]
    fn every_error_code_round_trips_through_its_byte() {
        assert_eq!(round_trips(ErrorCode::ALL), [1, 2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn every_subcode_round_trips_through_its_byte() {
        assert_eq!(round_trips(HeaderSubcode::ALL), [0, 1, 2, 3]);
        assert_eq!(round_trips(OpenSubcode::ALL), [0, 1, 2, 3, 4, 6, 7]);
        assert_eq!(
            round_trips(UpdateSubcode::ALL),
            [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11]
        );
        assert_eq!(round_trips(FsmSubcode::ALL), [0, 1, 2, 3]);
        assert_eq!(
            round_trips(CeaseSubcode::ALL),
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
        );
    }

    #[test]
    fn an_unknown_byte_comes_back_as_the_error() {
        assert_eq!(ErrorCode::try_from(0), Err(0));
        assert_eq!(ErrorCode::try_from(8), Err(8));
        assert_eq!(OpenSubcode::try_from(5), Err(5));
        assert_eq!(UpdateSubcode::try_from(7), Err(7));
        assert_eq!(FsmSubcode::try_from(4), Err(4));
        assert_eq!(CeaseSubcode::try_from(11), Err(11));
        assert_eq!(HeaderSubcode::try_from(255), Err(255));
    }

    #[test]
    fn codes_display_in_words() {
        assert_eq!(ErrorCode::Cease.to_string(), "Cease");
        assert_eq!(
            ErrorCode::FsmError.to_string(),
            "Finite State Machine Error"
        );
        assert_eq!(
            CeaseSubcode::AdministrativeShutdown.to_string(),
            "administrative shutdown"
        );
        assert_eq!(CeaseSubcode::BfdDown.to_string(), "BFD down");
        assert_eq!(OpenSubcode::BadPeerAs.to_string(), "bad peer AS");
        assert_eq!(
            UpdateSubcode::MalformedAttributeList.to_string(),
            "malformed attribute list"
        );
        assert_eq!(
            FsmSubcode::OpenConfirm.to_string(),
            "unexpected message in OpenConfirm"
        );
        assert_eq!(
            HeaderSubcode::BadMessageLength.to_string(),
            "bad message length"
        );
    }

    #[test]
    fn subcode_words_follow_the_code() {
        assert_eq!(
            ErrorCode::Cease.subcode_words(7),
            Some("connection collision resolution")
        );
        assert_eq!(
            ErrorCode::OpenMessage.subcode_words(7),
            Some("unsupported capability")
        );
        assert_eq!(ErrorCode::Cease.subcode_words(42), None);
        assert_eq!(ErrorCode::HoldTimerExpired.subcode_words(0), None);
        assert!(!ErrorCode::HoldTimerExpired.has_typed_subcodes());
        assert!(ErrorCode::UpdateMessage.has_typed_subcodes());
    }
}
