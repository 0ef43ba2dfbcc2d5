//! How a [`NodeInfo`] travels as chitchat keys: one key per address, so a change of one
//! address out of 1,000 gossips one small versioned key-value, not the whole set again.
//!
//! - `e:<ip>` (value empty): the node could answer for `<ip>` (eligible);
//! - `a:<ip>` (value empty): the node answers for `<ip>` now;
//! - `leaving` (value `1`): a graceful stop is in progress.
//!
//! Pure: [`diff`] turns the published state and the new one into the keys to set and delete;
//! [`decode`] reads a peer's keys back, ignoring (and counting) keys it does not know, since a
//! peer's keys are untrusted and a newer ferrolb may add some.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::NodeInfo;

/// Key prefix of an eligible address.
pub const ELIGIBLE: &str = "e:";
/// Key prefix of an answered address.
pub const ANSWERING: &str = "a:";
/// Key of the graceful-stop flag.
pub const LEAVING: &str = "leaving";

/// The keys of a node's state, each with its value.
pub fn encode(info: &NodeInfo) -> BTreeSet<(String, &'static str)> {
    let mut keys = BTreeSet::new();
    for ip in &info.eligible {
        keys.insert((format!("{ELIGIBLE}{ip}"), ""));
    }
    for ip in &info.answering {
        keys.insert((format!("{ANSWERING}{ip}"), ""));
    }
    if info.leaving {
        keys.insert((LEAVING.to_string(), "1"));
    }
    keys
}

/// What to change in chitchat to go from `old` to `new`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Diff {
    /// Keys to set, with their values.
    pub set: Vec<(String, &'static str)>,
    /// Keys to delete (tombstoned by chitchat).
    pub delete: Vec<String>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.delete.is_empty()
    }
}

/// The key changes from the published `old` state to `new`.
pub fn diff(old: &NodeInfo, new: &NodeInfo) -> Diff {
    let old = encode(old);
    let new = encode(new);
    let set = new.difference(&old).cloned().collect();
    let kept: BTreeSet<&String> = new.iter().map(|(k, _)| k).collect();
    let delete = old
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| !kept.contains(k))
        .collect();
    Diff { set, delete }
}

/// A peer's state read back from its live (not deleted) keys, and how many keys were not
/// understood (unknown key, or an address that does not parse).
pub fn decode<'a>(key_values: impl Iterator<Item = (&'a str, &'a str)>) -> (NodeInfo, usize) {
    let mut info = NodeInfo::default();
    let mut unknown = 0;
    for (key, value) in key_values {
        if let Some(ip) = key.strip_prefix(ELIGIBLE) {
            match ip.parse::<IpAddr>() {
                Ok(ip) => {
                    info.eligible.insert(ip);
                }
                Err(_) => unknown += 1,
            }
        } else if let Some(ip) = key.strip_prefix(ANSWERING) {
            match ip.parse::<IpAddr>() {
                Ok(ip) => {
                    info.answering.insert(ip);
                }
                Err(_) => unknown += 1,
            }
        } else if key == LEAVING {
            info.leaving = value == "1";
        } else {
            unknown += 1;
        }
    }
    (info, unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn info(eligible: &[&str], answering: &[&str], leaving: bool) -> NodeInfo {
        NodeInfo {
            eligible: eligible.iter().map(|s| ip(s)).collect(),
            answering: answering.iter().map(|s| ip(s)).collect(),
            leaving,
        }
    }

    #[test]
    fn encoding_is_one_key_per_address_and_a_leaving_flag() {
        let keys = encode(&info(&["192.0.2.1", "2001:db8::1"], &["192.0.2.1"], true));
        let keys: Vec<(&str, &str)> = keys.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(
            keys,
            vec![
                ("a:192.0.2.1", ""),
                ("e:192.0.2.1", ""),
                ("e:2001:db8::1", ""),
                ("leaving", "1"),
            ]
        );
    }

    #[test]
    fn decode_reads_back_what_encode_wrote() {
        let original = info(&["192.0.2.1", "2001:db8::1"], &["2001:db8::1"], true);
        let keys = encode(&original);
        let (decoded, unknown) = decode(keys.iter().map(|(k, v)| (k.as_str(), *v)));
        assert_eq!(decoded, original);
        assert_eq!(unknown, 0);
    }

    #[test]
    fn decode_ignores_and_counts_keys_it_does_not_understand() {
        let keys = [
            ("e:192.0.2.1", ""),
            ("e:not-an-address", ""),
            ("a:", ""),
            ("future-key", "x"),
            ("leaving", "0"),
        ];
        let (decoded, unknown) = decode(keys.into_iter());
        assert_eq!(decoded, info(&["192.0.2.1"], &[], false));
        assert_eq!(unknown, 3);
    }

    #[test]
    fn diff_touches_only_the_addresses_that_changed() {
        let many: Vec<String> = (0..1000)
            .map(|i| format!("10.0.{}.{}", i / 256, i % 256))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let old = info(&many, &many[..500], false);
        let mut new = old.clone();
        new.answering.insert(ip("10.0.3.200"));
        new.answering.remove(&ip("10.0.0.0"));
        let d = diff(&old, &new);
        assert_eq!(d.set, vec![("a:10.0.3.200".to_string(), "")]);
        assert_eq!(d.delete, vec!["a:10.0.0.0".to_string()]);
    }

    #[test]
    fn diff_sets_and_clears_the_leaving_flag() {
        let old = info(&["192.0.2.1"], &[], false);
        let new = info(&["192.0.2.1"], &[], true);
        assert_eq!(diff(&old, &new).set, vec![("leaving".to_string(), "1")]);
        assert_eq!(diff(&new, &old).delete, vec!["leaving".to_string()]);
        assert!(diff(&new, &new).is_empty());
    }
}
