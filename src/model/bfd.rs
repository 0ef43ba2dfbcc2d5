//! A BFD profile (MetalLB's `BFDProfile`, `[[bfd_profiles]]` in node.toml): the timers of the BFD
//! sessions of the peers that name it, with one validation for both front ends.
//!
//! Defaults and ranges are MetalLB's: receive and transmit intervals 300 ms (10..=60000), detect
//! multiplier 3 (2..=255), minimum TTL 254 (1..=254, multihop sessions only), passive off. Echo
//! mode is refused: ferrolb's BFD runs in asynchronous mode only (RFC 5880 §6.4 echo needs the
//! peer to loop packets back through its forwarding plane); `echo_interval` without echo mode is
//! accepted and unused.

use std::collections::BTreeMap;

use super::field::{ranged, FieldError};

/// The profile `bfd = true` (TOML) runs: one of this name when defined, else 300 ms / 300 ms / ×3.
pub const DEFAULT_PROFILE: &str = "default";

/// One validated profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BfdProfile {
    pub name: String,
    /// Our RequiredMinRxInterval, milliseconds.
    pub receive_interval: u32,
    /// Our DesiredMinTxInterval, milliseconds.
    pub transmit_interval: u32,
    pub detect_multiplier: u8,
    /// Wait for the peer's first packet before sending (RFC 5880 §6.1, the passive role).
    pub passive: bool,
    /// Lowest TTL accepted on a multihop session (RFC 5883 §5).
    pub minimum_ttl: u8,
}

impl BfdProfile {
    /// The profile of `bfd = true`.
    pub fn default_profile() -> BfdProfile {
        BfdProfile {
            name: DEFAULT_PROFILE.to_string(),
            receive_interval: 300,
            transmit_interval: 300,
            detect_multiplier: 3,
            passive: false,
            minimum_ttl: 254,
        }
    }
}

/// A profile as a front end read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BfdProfileInput {
    pub name: Option<String>,
    pub receive_interval: Option<i64>,
    pub transmit_interval: Option<i64>,
    pub detect_multiplier: Option<i64>,
    pub passive: Option<bool>,
    pub minimum_ttl: Option<i64>,
    pub echo_mode: Option<bool>,
}

/// Checks one profile; `None` when it has no usable name.
pub fn validate(input: &BfdProfileInput) -> (Option<BfdProfile>, Vec<FieldError>) {
    let mut e = Vec::new();
    let d = BfdProfile::default_profile();
    let receive_interval = ranged(
        input.receive_interval,
        "receive_interval",
        10,
        60_000,
        &mut e,
    )
    .map_or(d.receive_interval, |v| v as u32);
    let transmit_interval = ranged(
        input.transmit_interval,
        "transmit_interval",
        10,
        60_000,
        &mut e,
    )
    .map_or(d.transmit_interval, |v| v as u32);
    let detect_multiplier = ranged(input.detect_multiplier, "detect_multiplier", 2, 255, &mut e)
        .map_or(d.detect_multiplier, |v| v as u8);
    let minimum_ttl =
        ranged(input.minimum_ttl, "minimum_ttl", 1, 254, &mut e).map_or(d.minimum_ttl, |v| v as u8);
    if input.echo_mode == Some(true) {
        e.push(FieldError::new(
            "echo_mode",
            "echo mode is not supported: ferrolb runs BFD in asynchronous mode only (RFC 5880 §6.4); remove echoMode or set it to false",
        ));
    }
    let name = match input.name.as_deref().map(str::trim) {
        None | Some("") => {
            e.push(FieldError::new("name", "is required"));
            return (None, e);
        }
        Some(n) => n.to_string(),
    };
    let profile = BfdProfile {
        name,
        receive_interval,
        transmit_interval,
        detect_multiplier,
        passive: input.passive.unwrap_or(false),
        minimum_ttl,
    };
    (Some(profile), e)
}

/// Profiles by name, for peers to look up.
pub type BfdProfiles = BTreeMap<String, BfdProfile>;

/// The profile a peer runs: `bfd_profile` by name (it implies `bfd`), else the profile named
/// `default` when `bfd` is true (defined, or the built-in 300/300/×3), else none. An unknown
/// name is an error naming the known ones.
pub fn for_peer(
    bfd: Option<bool>,
    profile: Option<&str>,
    profiles: &BfdProfiles,
) -> Result<Option<BfdProfile>, FieldError> {
    match profile.map(str::trim).filter(|p| !p.is_empty()) {
        Some(name) => match profiles.get(name) {
            Some(p) => Ok(Some(p.clone())),
            None if name == DEFAULT_PROFILE => Ok(Some(BfdProfile::default_profile())),
            None => {
                let known: Vec<&str> = profiles.keys().map(String::as_str).collect();
                let known = if known.is_empty() {
                    "none is defined".to_string()
                } else {
                    format!("known: {}", known.join(", "))
                };
                Err(FieldError::new(
                    "bfd_profile",
                    format!("no BFD profile named `{name}` ({known})"),
                ))
            }
        },
        None if bfd == Some(true) => Ok(Some(
            profiles
                .get(DEFAULT_PROFILE)
                .cloned()
                .unwrap_or_else(BfdProfile::default_profile),
        )),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> BfdProfileInput {
        BfdProfileInput {
            name: Some(name.into()),
            ..BfdProfileInput::default()
        }
    }

    #[test]
    fn defaults_are_metallbs() {
        let (p, e) = validate(&named("fast"));
        assert!(e.is_empty(), "{e:?}");
        let p = p.expect("profile");
        assert_eq!(
            (
                p.receive_interval,
                p.transmit_interval,
                p.detect_multiplier,
                p.minimum_ttl,
                p.passive
            ),
            (300, 300, 3, 254, false)
        );
    }

    #[test]
    fn ranges_and_echo_mode_are_refused_by_field() {
        let input = BfdProfileInput {
            receive_interval: Some(5),
            transmit_interval: Some(60_001),
            detect_multiplier: Some(1),
            minimum_ttl: Some(255),
            echo_mode: Some(true),
            ..named("bad")
        };
        let (_, e) = validate(&input);
        let fields: Vec<&str> = e.iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "receive_interval",
                "transmit_interval",
                "detect_multiplier",
                "minimum_ttl",
                "echo_mode"
            ]
        );
        assert!(e[0].message.contains("10..=60000"), "{}", e[0]);
    }

    #[test]
    fn a_profile_needs_a_name() {
        assert_eq!(validate(&BfdProfileInput::default()).1[0].field, "name");
    }

    #[test]
    fn a_profile_named_default_is_what_bfd_true_runs() {
        let (mine, _) = validate(&BfdProfileInput {
            detect_multiplier: Some(5),
            ..named("default")
        });
        let mine = mine.expect("default");
        let profiles: BfdProfiles = [(mine.name.clone(), mine.clone())].into();
        assert_eq!(
            for_peer(Some(true), None, &profiles),
            Ok(Some(mine.clone()))
        );
        assert_eq!(for_peer(None, Some("default"), &profiles), Ok(Some(mine)));
    }

    #[test]
    fn a_peer_gets_its_named_profile_the_default_or_none() {
        let (fast, _) = validate(&BfdProfileInput {
            receive_interval: Some(100),
            ..named("fast")
        });
        let profiles: BfdProfiles = [("fast".to_string(), fast.clone().expect("fast"))].into();
        assert_eq!(for_peer(None, Some("fast"), &profiles), Ok(fast));
        assert_eq!(
            for_peer(Some(true), None, &profiles),
            Ok(Some(BfdProfile::default_profile()))
        );
        assert_eq!(for_peer(Some(false), None, &profiles), Ok(None));
        assert_eq!(for_peer(None, None, &profiles), Ok(None));
        let e = for_peer(Some(true), Some("slow"), &profiles).expect_err("unknown");
        assert_eq!(e.field, "bfd_profile");
        assert!(e.message.contains("known: fast"), "{e}");
    }
}
