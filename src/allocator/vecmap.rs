//! A map kept as a sorted vector, for the allocator's per-address users and per-service
//! addresses: almost always one entry, where a `BTreeMap` would allocate a whole node (eleven
//! slots, close to a kilobyte for `String → Option<Sharing>`) per address.

use std::borrow::Borrow;

/// A sorted-vector map with the part of the `BTreeMap` API the allocator uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VecMap<K, V>(Vec<(K, V)>);

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        VecMap(Vec::new())
    }
}

impl<K: Ord, V> VecMap<K, V> {
    fn find<Q: Ord + ?Sized>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        self.0.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                if self.0.len() == self.0.capacity() {
                    self.0.reserve_exact(1); // one or two entries are the rule
                }
                self.0.insert(i, (key, value));
                None
            }
        }
    }

    pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        let i = self.find(key).ok()?;
        let (_, v) = self.0.remove(i);
        if self.0.is_empty() {
            self.0 = Vec::new(); // give the buffer back
        }
        Some(v)
    }

    pub fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.find(key).is_ok()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    proptest! {
        /// Any sequence of inserts and removes leaves the same entries as a BTreeMap.
        #[test]
        fn behaves_like_a_btreemap(ops in proptest::collection::vec((any::<bool>(), 0u8..12, any::<u16>()), 0..200)) {
            let mut ours = VecMap::default();
            let mut model = BTreeMap::new();
            for (insert, k, v) in ops {
                if insert {
                    prop_assert_eq!(ours.insert(k, v), model.insert(k, v));
                } else {
                    prop_assert_eq!(ours.remove(&k), model.remove(&k));
                }
                prop_assert_eq!(ours.contains_key(&k), model.contains_key(&k));
                prop_assert_eq!(ours.is_empty(), model.is_empty());
            }
            let a: Vec<(u8, u16)> = ours.iter().map(|(k, v)| (*k, *v)).collect();
            let b: Vec<(u8, u16)> = model.into_iter().collect();
            prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn looks_up_string_keys_by_str() {
        let mut m: VecMap<String, u8> = VecMap::default();
        m.insert("web".to_string(), 1);
        assert!(m.contains_key("web"));
        assert_eq!(m.remove("web"), Some(1));
        assert!(m.is_empty());
    }
}
