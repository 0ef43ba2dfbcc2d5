//! A store of our own compact records, filled from a kube watcher's events: for the kinds whose
//! readers need a few fields of many objects (Services, and EndpointSlices: one per Service;
//! their records are [`super::record::ServiceRecord`] and [`ReadySlice`]), the object is
//! turned into its record as it arrives and dropped, so the store never holds a k8s-openapi
//! struct (its inline size alone is about a kilobyte, its label map half a kilobyte more).
//!
//! It behaves like kube's reflector store: a relist fills a buffer and replaces the contents in
//! one step when it is done, so nothing valid vanishes on the way; readers see `Arc`s.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::watcher;
use tokio::sync::watch;

use super::Key;

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME: &str = "kubernetes.io/service-name";

/// A kind's compact record.
pub trait Record: Send + Sync + 'static {
    /// The Kubernetes kind it is made from.
    type Kind: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static;
    fn of(object: &Self::Kind) -> Self;
}

/// The records of one kind by (namespace, name), and whether the first list is done.
pub struct Compact<T> {
    map: Arc<RwLock<HashMap<Key, Arc<T>>>>,
    ready: watch::Receiver<bool>,
}

impl<T> Clone for Compact<T> {
    fn clone(&self) -> Self {
        Compact {
            map: self.map.clone(),
            ready: self.ready.clone(),
        }
    }
}

/// The writing side of a [`Compact`] store (one per watch).
pub struct Writer<T> {
    map: Arc<RwLock<HashMap<Key, Arc<T>>>>,
    ready: watch::Sender<bool>,
    /// A relist under way: what it listed so far.
    buffer: Option<HashMap<Key, Arc<T>>>,
}

/// A store and its writer.
pub fn store<T>() -> (Compact<T>, Writer<T>) {
    let map = Arc::new(RwLock::new(HashMap::new()));
    let (tx, rx) = watch::channel(false);
    (
        Compact {
            map: map.clone(),
            ready: rx,
        },
        Writer {
            map,
            ready: tx,
            buffer: None,
        },
    )
}

fn key_of<K: kube::Resource>(o: &K) -> Key {
    let m = o.meta();
    (m.namespace.clone(), m.name.clone().unwrap_or_default())
}

impl<T> Compact<T> {
    /// Every record (cheap `Arc` clones), in no particular order.
    pub fn state(&self) -> Vec<Arc<T>> {
        self.map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// The record of the object `key`.
    pub fn get(&self, key: &Key) -> Option<Arc<T>> {
        self.map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    /// The record of the object `namespace/name` (a Service's allocator key).
    pub fn by_key(&self, key: &str) -> Option<Arc<T>> {
        let (ns, name) = key.split_once('/')?;
        self.get(&(Some(ns.to_string()), name.to_string()))
    }

    /// Returns once the first list is done (never, if the writer is gone before).
    pub async fn wait_until_ready(&self) {
        let mut rx = self.ready.clone();
        let _ = rx.wait_for(|r| *r).await;
    }
}

impl<T: Record> Writer<T> {
    /// Applies one watcher event: a record per applied object, a relist replacing all at once.
    pub fn apply(&mut self, event: &watcher::Event<T::Kind>) {
        let map = || {
            self.map
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        match event {
            watcher::Event::Apply(o) => {
                map().insert(key_of(o), Arc::new(T::of(o)));
            }
            watcher::Event::Delete(o) => {
                map().remove(&key_of(o));
            }
            watcher::Event::Init => self.buffer = Some(HashMap::new()),
            watcher::Event::InitApply(o) => {
                self.buffer
                    .get_or_insert_with(HashMap::new)
                    .insert(key_of(o), Arc::new(T::of(o)));
            }
            watcher::Event::InitDone => {
                let mut fresh = self.buffer.take().unwrap_or_default();
                fresh.shrink_to_fit();
                *map() = fresh;
                self.ready.send_replace(true);
            }
        }
    }
}

/// What the speaker reads of an EndpointSlice ([`crate::watch::speaker::plan::ready_on`]): the
/// Service it belongs to (its `kubernetes.io/service-name` label) and the nodes where it has a
/// ready endpoint (the API says a nil `ready` is to be read as ready).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadySlice {
    pub namespace: Box<str>,
    /// None when the slice has no Service label (it then makes nothing ready).
    pub service: Option<Box<str>>,
    /// Node names, sorted, once each.
    pub ready_on: Box<[Box<str>]>,
}

impl Record for ReadySlice {
    type Kind = EndpointSlice;

    fn of(s: &EndpointSlice) -> ReadySlice {
        let mut nodes: Vec<Box<str>> = s
            .endpoints
            .iter()
            .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true))
            .filter_map(|e| e.node_name.as_deref().map(Box::from))
            .collect();
        nodes.sort();
        nodes.dedup();
        ReadySlice {
            namespace: s.metadata.namespace.as_deref().unwrap_or_default().into(),
            service: s
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SERVICE_NAME))
                .map(|n| n.as_str().into()),
            ready_on: nodes.into_boxed_slice(),
        }
    }
}

impl ReadySlice {
    /// True when it has a ready endpoint on `node`.
    pub fn ready_on(&self, node: &str) -> bool {
        self.ready_on.iter().any(|n| &**n == node)
    }
}

#[cfg(test)]
mod tests;
