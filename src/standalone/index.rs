//! Service name → position in the pipeline's list of names: `u32` positions in a hash table
//! that hashes and compares the names where the list holds them, so no second copy of each
//! name is kept (a `HashMap<Arc<str>, usize>` was 3.3 MB at 100,000 services, this is 0.7).

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use std::sync::Arc;

/// The index of one service list; every call passes that list as it is now.
#[derive(Debug, Clone, Default)]
pub struct NameIndex {
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

/// Positions fit in a u32: 4 billion services are far beyond any memory this runs in.
fn pos(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

impl NameIndex {
    /// The index of `services` (names are unique: the config validator refuses duplicates).
    pub fn of(services: &[Arc<str>]) -> NameIndex {
        let mut me = NameIndex::default();
        me.table.reserve(services.len(), |_| 0);
        for i in 0..services.len() {
            me.insert(services, i);
        }
        me
    }

    fn hash(&self, name: &str) -> u64 {
        self.hasher.hash_one(name)
    }

    /// Where the service called `name` is.
    pub fn get(&self, services: &[Arc<str>], name: &str) -> Option<usize> {
        self.table
            .find(self.hash(name), |&i| &*services[i as usize] == name)
            .map(|&i| i as usize)
    }

    /// Indexes `services[i]` (its name is not indexed yet).
    pub fn insert(&mut self, services: &[Arc<str>], i: usize) {
        let hasher = &self.hasher;
        self.table
            .insert_unique(hasher.hash_one(&*services[i]), pos(i), |&j| {
                hasher.hash_one(&*services[j as usize])
            });
    }

    /// Forgets `name` (call before the list drops it); returns where it was.
    pub fn remove(&mut self, services: &[Arc<str>], name: &str) -> Option<usize> {
        let entry = self
            .table
            .find_entry(self.hash(name), |&i| &*services[i as usize] == name)
            .ok()?;
        let (i, _) = entry.remove();
        Some(i as usize)
    }

    /// The service that was at `from` is now at `to` (a `swap_remove` moved it).
    pub fn moved(&mut self, services: &[Arc<str>], from: usize, to: usize) {
        let h = self.hash(&services[to]);
        if let Some(i) = self.table.find_mut(h, |&i| i == pos(from)) {
            *i = pos(to);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str) -> Arc<str> {
        name.into()
    }

    #[test]
    fn follows_a_list_through_pushes_and_swap_removes() {
        let mut list: Vec<Arc<str>> = ["a", "b", "c", "d"].map(service).into();
        let mut index = NameIndex::of(&list);
        assert_eq!(index.get(&list, "c"), Some(2));
        assert_eq!(index.get(&list, "x"), None);
        let i = index.remove(&list, "b").expect("b is indexed");
        list.swap_remove(i);
        index.moved(&list, list.len(), i);
        list.push(service("e"));
        index.insert(&list, list.len() - 1);
        for (i, s) in list.iter().enumerate() {
            assert_eq!(index.get(&list, s), Some(i), "{s}");
        }
        assert_eq!(index.get(&list, "b"), None);
        assert_eq!(index.remove(&list, "b"), None);
    }
}
