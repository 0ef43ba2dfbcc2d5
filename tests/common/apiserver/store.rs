//! The object store: JSON objects per resource, a global resourceVersion counter, the history of
//! every write (what watches replay), and the garbage collector for ownerReferences.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::watch;

use super::defaults;
use super::discovery::Resource;
use super::ids::{now_rfc3339, random_suffix, uid};
use super::select::Filter;
use super::status::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One write, as watches see it. `previous` lets a filtered watch turn a MODIFIED into ADDED or
/// DELETED when the object enters or leaves its selector, as the real server does.
#[derive(Debug, Clone)]
pub struct Event {
    pub rv: u64,
    pub key: String,
    pub kind: EventType,
    pub object: Value,
    pub previous: Option<Value>,
}

/// `(namespace, name)`; the namespace is "" for cluster-scoped objects.
type ObjectKey = (String, String);

/// DELETE options that change what happens (from the request body).
#[derive(Debug, Default)]
pub struct DeleteOptions {
    pub orphan: bool,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

pub struct Store {
    rv: u64,
    /// Watches from a resourceVersion below this get 410 Expired.
    compacted: u64,
    objects: BTreeMap<String, BTreeMap<ObjectKey, Value>>,
    history: Vec<Event>,
    notify: Arc<watch::Sender<u64>>,
}

impl Store {
    pub fn new() -> Store {
        Store {
            rv: 1,
            compacted: 0,
            objects: BTreeMap::new(),
            history: Vec::new(),
            notify: Arc::new(watch::channel(1).0),
        }
    }

    /// A copy of the objects that writes can be tried on (dry run); watches never see it.
    pub fn scratch(&self) -> Store {
        Store {
            rv: self.rv,
            compacted: self.rv,
            objects: self.objects.clone(),
            history: Vec::new(),
            notify: Arc::new(watch::channel(self.rv).0),
        }
    }

    pub fn rv(&self) -> u64 {
        self.rv
    }

    pub fn compacted(&self) -> u64 {
        self.compacted
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.notify.subscribe()
    }

    /// Forgets the history: a watch resuming from any older resourceVersion gets 410.
    pub fn compact(&mut self) {
        self.compacted = self.rv;
        self.history.clear();
    }

    /// Events after `rv` for one resource, or None when `rv` is older than the compaction point.
    pub fn events_after(&self, key: &str, rv: u64) -> Option<Vec<Event>> {
        if rv < self.compacted {
            return None;
        }
        let start = self.history.partition_point(|e| e.rv <= rv);
        Some(
            self.history[start..]
                .iter()
                .filter(|e| e.key == key)
                .cloned()
                .collect(),
        )
    }

    pub fn get(&self, key: &str, ns: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(key)?
            .get(&(ns.to_string(), name.to_string()))
    }

    pub fn list(&self, key: &str, filter: &Filter) -> Vec<Value> {
        self.objects
            .get(key)
            .map(|m| m.values().filter(|o| filter.matches(o)).cloned().collect())
            .unwrap_or_default()
    }

    /// One page of a list: up to `limit` matching objects after the key `after` (in key
    /// order), and the key of the last one when more may follow.
    pub fn list_page(
        &self,
        key: &str,
        filter: &Filter,
        after: Option<&(String, String)>,
        limit: usize,
    ) -> (Vec<Value>, Option<(String, String)>) {
        use std::ops::Bound;
        let Some(m) = self.objects.get(key) else {
            return (Vec::new(), None);
        };
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut page = m
            .range::<ObjectKey, _>((from, Bound::Unbounded))
            .filter(|(_, o)| filter.matches(o));
        let items: Vec<(&ObjectKey, &Value)> = page.by_ref().take(limit).collect();
        let more = page.next().is_some();
        let last = items.last().map(|(k, _)| (*k).clone()).filter(|_| more);
        (items.into_iter().map(|(_, o)| o.clone()).collect(), last)
    }

    /// The stored objects of one resource, without copying them.
    pub fn objects(&self, key: &str) -> impl Iterator<Item = &Value> {
        self.objects.get(key).into_iter().flat_map(|m| m.values())
    }

    pub fn crds(&self) -> Vec<Value> {
        self.list(
            "apiextensions.k8s.io/customresourcedefinitions",
            &Filter::default(),
        )
    }

    /// Stores a new object: fills in name (generateName), namespace, uid, creationTimestamp,
    /// generation, apiVersion and kind.
    pub fn create(&mut self, r: &Resource, ns: &str, mut obj: Value) -> Result<Value, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request("the body is not a JSON object"));
        }
        if !obj["metadata"].is_object() {
            obj["metadata"] = json!({});
        }
        if obj["metadata"]["resourceVersion"]
            .as_str()
            .is_some_and(|v| !v.is_empty())
        {
            // The storage layer's refusal, which reaches clients as an internal error.
            return Err(ApiError::new(
                500,
                "InternalError",
                "resourceVersion should not be set on objects to be created",
            ));
        }
        let name = match (
            obj["metadata"]["name"].as_str(),
            obj["metadata"]["generateName"].as_str(),
        ) {
            (Some(n), _) if !n.is_empty() => n.to_string(),
            (_, Some(prefix)) if !prefix.is_empty() => format!("{prefix}{}", random_suffix()),
            _ => {
                return Err(ApiError::new(
                    422,
                    "Invalid",
                    format!("{} is invalid: metadata.name: Required value: name or generateName is required", r.kind),
                ))
            }
        };
        if r.namespaced {
            match obj["metadata"]["namespace"].as_str() {
                Some(body_ns) if !body_ns.is_empty() && body_ns != ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ))
                }
                _ => obj["metadata"]["namespace"] = json!(ns),
            }
        } else if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("namespace");
        }
        if self.get(&r.store_key(), ns, &name).is_some() {
            return Err(ApiError::already_exists(&r.plural, &r.group, &name));
        }
        if obj.get("apiVersion").and_then(Value::as_str).is_none() {
            obj["apiVersion"] = json!(r.api_version());
        }
        if obj.get("kind").and_then(Value::as_str).is_none() {
            obj["kind"] = json!(r.kind);
        }
        if r.group.is_empty() && r.plural == "services" {
            let existing = self.list(&r.store_key(), &Filter::default());
            defaults::service_defaults(&mut obj, existing.iter())?;
        }
        let meta = &mut obj["metadata"];
        meta["name"] = json!(name);
        meta["uid"] = json!(uid());
        meta["creationTimestamp"] = json!(now_rfc3339());
        meta["generation"] = json!(1);
        if let Some(m) = meta.as_object_mut() {
            m.remove("deletionTimestamp");
        }
        Ok(self.commit(&r.store_key(), ns, &name, Some(obj), EventType::Added))
    }

    /// PUT semantics: the whole object is replaced, except what the server owns (identity,
    /// timestamps, generation) and the half that belongs to the other endpoint: `.status` for the
    /// main resource, everything but `.status` for `/status`.
    /// The stored object, or the API's 404.
    fn existing(&self, r: &Resource, ns: &str, name: &str) -> Result<Value, ApiError> {
        self.get(&r.store_key(), ns, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&r.plural, &r.group, name))
    }

    pub fn replace(
        &mut self,
        r: &Resource,
        ns: &str,
        name: &str,
        new: Value,
        status_only: bool,
    ) -> Result<Value, ApiError> {
        let key = r.store_key();
        let old = self.existing(r, ns, name)?;
        check_replace(r, name, &old, &new)?;
        let mut new = new;
        if r.group.is_empty() && r.plural == "services" && !status_only {
            defaults::service_keep_allocated(&mut new, &old);
            let uid = &old["metadata"]["uid"];
            let others: Vec<Value> = self
                .list(&key, &Filter::default())
                .into_iter()
                .filter(|o| &o["metadata"]["uid"] != uid)
                .collect();
            defaults::service_defaults(&mut new, others.iter())?;
        }
        let result = merged(&old, &new, status_only);
        if without_bookkeeping(&old) == without_bookkeeping(&result) {
            return Ok(old); // a no-op write: no new resourceVersion, no event
        }
        let finalized = result["metadata"].get("deletionTimestamp").is_some()
            && result["metadata"]["finalizers"]
                .as_array()
                .is_none_or(|f| f.is_empty());
        if finalized {
            let gone = self.commit(&key, ns, name, None, EventType::Deleted);
            self.collect_garbage();
            return Ok(gone);
        }
        Ok(self.commit(&key, ns, name, Some(result), EventType::Modified))
    }

    /// DELETE: objects with finalizers only get a deletionTimestamp; others go, and so do their
    /// dependents (background cascade) unless the policy is Orphan.
    pub fn delete(
        &mut self,
        r: &Resource,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Value, ApiError> {
        let key = r.store_key();
        let old = self.existing(r, ns, name)?;
        let meta = &old["metadata"];
        let uid_differs = opts
            .uid
            .as_deref()
            .is_some_and(|u| Some(u) != meta["uid"].as_str());
        let rv_differs = opts
            .resource_version
            .as_deref()
            .is_some_and(|v| Some(v) != meta["resourceVersion"].as_str());
        if uid_differs || rv_differs {
            return Err(ApiError::conflict(&r.plural, &r.group, name));
        }
        if meta["finalizers"].as_array().is_some_and(|f| !f.is_empty()) {
            if meta.get("deletionTimestamp").is_some() {
                return Ok(old);
            }
            let mut marked = old.clone();
            marked["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
            return Ok(self.commit(&key, ns, name, Some(marked), EventType::Modified));
        }
        let gone = self.commit(&key, ns, name, None, EventType::Deleted);
        if opts.orphan {
            self.orphan_dependents(meta["uid"].as_str().unwrap_or(""));
        }
        self.collect_garbage();
        Ok(gone)
    }

    /// Writes an object as given, bypassing every API rule (tests set up state with it).
    pub fn put_raw(&mut self, key: &str, ns: &str, name: &str, obj: Option<Value>) {
        self.put_raw_uncollected(key, ns, name, obj);
        self.collect_garbage();
    }

    /// [`Store::put_raw`] without the garbage collector's pass over every object (for bulk
    /// set-ups whose ownerReferences all name live owners).
    pub fn put_raw_uncollected(&mut self, key: &str, ns: &str, name: &str, obj: Option<Value>) {
        let kind = match (obj.is_some(), self.get(key, ns, name).is_some()) {
            (true, true) => EventType::Modified,
            (true, false) => EventType::Added,
            (false, true) => EventType::Deleted,
            (false, false) => return,
        };
        self.commit(key, ns, name, obj, kind);
    }

    /// Bumps the resourceVersion, stores (or removes) the object, records the event and wakes
    /// the watches. Returns the object as written (for a delete: as it was, with the new RV).
    fn commit(
        &mut self,
        key: &str,
        ns: &str,
        name: &str,
        obj: Option<Value>,
        kind: EventType,
    ) -> Value {
        self.rv += 1;
        let objects = self.objects.entry(key.to_string()).or_default();
        let id = (ns.to_string(), name.to_string());
        let previous = objects.get(&id).cloned();
        let mut written = match obj {
            Some(o) => o,
            None => previous.clone().unwrap_or_else(|| json!({"metadata": {}})),
        };
        written["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        match kind {
            EventType::Deleted => objects.remove(&id),
            _ => objects.insert(id, written.clone()),
        };
        self.history.push(Event {
            rv: self.rv,
            key: key.to_string(),
            kind,
            object: written.clone(),
            previous,
        });
        self.notify.send_replace(self.rv);
        written
    }

    fn all_uids(&self) -> HashSet<String> {
        self.objects
            .values()
            .flat_map(|m| m.values())
            .filter_map(|o| o["metadata"]["uid"].as_str().map(str::to_string))
            .collect()
    }

    /// The garbage collector: an object whose owners are all gone is deleted; one that lost
    /// only some owners has the dangling references removed. Runs until nothing changes.
    fn collect_garbage(&mut self) {
        loop {
            let uids = self.all_uids();
            let mut found = None;
            'scan: for (key, objects) in &self.objects {
                for ((ns, name), o) in objects {
                    let Some(refs) = o["metadata"]["ownerReferences"].as_array() else {
                        continue;
                    };
                    let live = refs
                        .iter()
                        .filter(|r| r["uid"].as_str().is_some_and(|u| uids.contains(u)))
                        .count();
                    let pending = o["metadata"].get("deletionTimestamp").is_some();
                    if live < refs.len() && !(live == 0 && pending) {
                        found = Some((key.clone(), ns.clone(), name.clone(), o.clone(), live));
                        break 'scan;
                    }
                }
            }
            let Some((key, ns, name, mut o, live)) = found else {
                return;
            };
            if live == 0
                && o["metadata"]["finalizers"]
                    .as_array()
                    .is_none_or(|f| f.is_empty())
            {
                self.commit(&key, &ns, &name, None, EventType::Deleted);
            } else if live == 0 {
                o["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
                self.commit(&key, &ns, &name, Some(o), EventType::Modified);
            } else {
                if let Some(refs) = o["metadata"]["ownerReferences"].as_array_mut() {
                    refs.retain(|r| r["uid"].as_str().is_some_and(|u| uids.contains(u)));
                }
                self.commit(&key, &ns, &name, Some(o), EventType::Modified);
            }
        }
    }

    /// Orphan propagation: dependents lose their reference to the deleted owner.
    fn orphan_dependents(&mut self, owner: &str) {
        let mut dependents = Vec::new();
        for (key, objects) in &self.objects {
            for ((ns, name), o) in objects {
                if let Some(refs) = o["metadata"]["ownerReferences"].as_array() {
                    if refs.iter().any(|r| r["uid"].as_str() == Some(owner)) {
                        dependents.push((key.clone(), ns.clone(), name.clone(), o.clone()));
                    }
                }
            }
        }
        for (key, ns, name, mut o) in dependents {
            if let Some(refs) = o["metadata"]["ownerReferences"].as_array_mut() {
                refs.retain(|r| r["uid"].as_str() != Some(owner));
            }
            self.commit(&key, &ns, &name, Some(o), EventType::Modified);
        }
    }
}

/// What makes a replacement invalid: a body that is not an object, another name, a stale
/// resourceVersion (the optimistic-concurrency check Leases rely on).
fn check_replace(r: &Resource, name: &str, old: &Value, new: &Value) -> Result<(), ApiError> {
    if !new.is_object() {
        return Err(ApiError::bad_request("the body is not a JSON object"));
    }
    if let Some(body_name) = new["metadata"]["name"].as_str() {
        if body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
    }
    if let Some(rv) = new["metadata"]["resourceVersion"].as_str() {
        if rv != old["metadata"]["resourceVersion"].as_str().unwrap_or("") {
            return Err(ApiError::conflict(&r.plural, &r.group, name));
        }
    }
    Ok(())
}

/// The object a replacement stores: `new`, except what the server owns and the half that
/// belongs to the other endpoint (`.status` for the main resource, the rest for `/status`).
fn merged(old: &Value, new: &Value, status_only: bool) -> Value {
    let mut result = if status_only {
        let mut o = old.clone();
        set_or_remove(&mut o, "status", new.get("status").cloned());
        o
    } else {
        let mut o = new.clone();
        if !o["metadata"].is_object() {
            o["metadata"] = json!({});
        }
        set_or_remove(&mut o, "status", old.get("status").cloned());
        for f in [
            "uid",
            "creationTimestamp",
            "namespace",
            "name",
            "generation",
            "deletionTimestamp",
        ] {
            set_or_remove(&mut o["metadata"], f, old["metadata"].get(f).cloned());
        }
        o
    };
    if new["metadata"].get("managedFields").is_some() {
        result["metadata"]["managedFields"] = new["metadata"]["managedFields"].clone();
    } else {
        set_or_remove(
            &mut result["metadata"],
            "managedFields",
            old["metadata"].get("managedFields").cloned(),
        );
    }
    for f in ["apiVersion", "kind"] {
        if result.get(f).and_then(Value::as_str).is_none() {
            result[f] = old[f].clone();
        }
    }
    if !status_only && strip(old) != strip(&result) {
        let g = old["metadata"]["generation"].as_i64().unwrap_or(0);
        result["metadata"]["generation"] = json!(g + 1);
    }
    result
}

fn set_or_remove(obj: &mut Value, field: &str, value: Option<Value>) {
    match (value, obj.as_object_mut()) {
        (Some(v), Some(m)) => {
            m.insert(field.to_string(), v);
        }
        (None, Some(m)) => {
            m.remove(field);
        }
        _ => {}
    }
}

/// The object without metadata and status: what a generation bump is about.
fn strip(o: &Value) -> Value {
    let mut c = o.clone();
    if let Some(m) = c.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    c
}

/// The object without what changes on every write (resourceVersion, managedFields).
fn without_bookkeeping(o: &Value) -> Value {
    let mut c = o.clone();
    if let Some(m) = c["metadata"].as_object_mut() {
        m.remove("resourceVersion");
        m.remove("managedFields");
    }
    c
}
