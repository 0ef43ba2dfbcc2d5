//! The [`View`] built from chitchat's live nodes: one entry per node name, its newest
//! generation, with its [`NodeInfo`] decoded from its keys. Pure; the runtime feeds it
//! chitchat's live-nodes map.
//!
//! A node that restarts under the same name starts a new chitchat generation (its start time),
//! so for up to one detection time the old generation may still count as live beside the new
//! one; the view shows the name once, with the newest generation's state.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

use super::{keys, NodeInfo, View};

/// One live chitchat node as the view needs it.
#[derive(Debug, Clone)]
pub struct Member<'a> {
    /// The node name (chitchat `node_id`; a peer's, so untrusted, but only used as a map key).
    pub name: &'a str,
    /// The chitchat generation (a restart makes a higher one).
    pub generation: u64,
    /// The node's live (not deleted) key-values.
    pub keys: Vec<(&'a str, &'a str)>,
}

/// The view of `live` members, and how many of their keys were not understood.
pub fn build<'a>(live: impl IntoIterator<Item = Member<'a>>) -> (View, usize) {
    let mut newest: BTreeMap<&str, Member<'a>> = BTreeMap::new();
    for member in live {
        match newest.entry(member.name) {
            Entry::Vacant(slot) => {
                slot.insert(member);
            }
            Entry::Occupied(mut slot) => {
                if member.generation > slot.get().generation {
                    slot.insert(member);
                }
            }
        }
    }
    let mut unknown = 0;
    let view = newest
        .into_iter()
        .map(|(name, member)| {
            let (info, skipped): (NodeInfo, usize) = keys::decode(member.keys.into_iter());
            unknown += skipped;
            (name.to_string(), info)
        })
        .collect();
    (view, unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member<'a>(name: &'a str, generation: u64, keys: &[(&'a str, &'a str)]) -> Member<'a> {
        Member {
            name,
            generation,
            keys: keys.to_vec(),
        }
    }

    #[test]
    fn every_live_member_appears_by_name_with_its_decoded_state() {
        let (view, unknown) = build([
            member("b", 7, &[("e:192.0.2.2", "")]),
            member("a", 3, &[("e:192.0.2.1", ""), ("a:192.0.2.1", "")]),
        ]);
        assert_eq!(view.keys().collect::<Vec<_>>(), vec!["a", "b"]);
        assert!(view["a"]
            .answering
            .contains(&"192.0.2.1".parse().expect("ip")));
        assert!(view["b"].answering.is_empty());
        assert_eq!(unknown, 0);
    }

    #[test]
    fn a_restarted_node_appears_once_with_its_newest_generation() {
        let old = member("a", 100, &[("e:192.0.2.1", ""), ("leaving", "1")]);
        let new = member("a", 200, &[("e:192.0.2.9", "")]);
        for order in [vec![old.clone(), new.clone()], vec![new, old]] {
            let (view, _) = build(order);
            assert_eq!(view.len(), 1);
            assert!(!view["a"].leaving);
            assert!(view["a"]
                .eligible
                .contains(&"192.0.2.9".parse().expect("ip")));
        }
    }

    #[test]
    fn keys_not_understood_are_counted_not_fatal() {
        let (view, unknown) = build([member("a", 1, &[("e:bogus", ""), ("x", "y")])]);
        assert_eq!(view["a"], NodeInfo::default());
        assert_eq!(unknown, 2);
    }
}
