//! Watch streams: one JSON event per line, replayed from the history after the requested
//! resourceVersion, then live; 410 Expired when that version was compacted away; bookmarks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::discovery::Resource;
use super::select::Filter;
use super::status::ApiError;
use super::store::{Event, EventType, Store};

/// How often a watch that asked for bookmarks gets one (the real server: about a minute).
const BOOKMARK_EVERY: Duration = Duration::from_secs(1);

/// Where a watch starts.
#[derive(Debug, Clone, Copy)]
pub enum Start {
    /// No resourceVersion or "0": ADDED for every current object, then what follows.
    Everything,
    /// Events after this resourceVersion.
    After(u64),
}

#[derive(Debug, Clone)]
pub struct WatchRequest {
    pub resource: Resource,
    pub filter: Filter,
    pub start: Start,
    pub bookmarks: bool,
    /// `sendInitialEvents=true`: the initial ADDED events end with a marked bookmark.
    pub initial_events_end: bool,
    pub timeout: Option<Duration>,
}

/// Produces the stream into `tx` until the client goes away, the timeout passes or the server
/// stops (the task is aborted then).
pub async fn run(store: Arc<Mutex<Store>>, w: WatchRequest, tx: mpsc::Sender<Bytes>) {
    let deadline = w.timeout.map(|t| Instant::now() + t);
    let key = w.resource.store_key();
    let (mut updates, mut cursor, initial) = {
        let s = lock(&store);
        let rv = s.rv();
        match w.start {
            Start::Everything => (s.subscribe(), rv, s.list(&key, &w.filter)),
            Start::After(v) => (s.subscribe(), v, Vec::new()),
        }
    };
    for obj in initial {
        if !send(&tx, "ADDED", present(obj, &w.resource)).await {
            return;
        }
    }
    if w.initial_events_end && w.bookmarks {
        let mut b = bookmark(&w.resource, cursor);
        b["metadata"]["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        if !send(&tx, "BOOKMARK", b).await {
            return;
        }
    }
    loop {
        let batch = {
            let s = lock(&store);
            let events = s.events_after(&key, cursor);
            if events.is_some() {
                cursor = s.rv();
            }
            events.ok_or_else(|| ApiError::expired(cursor, s.compacted()))
        };
        let events = match batch {
            Ok(events) => events,
            Err(expired) => {
                let _ = send(&tx, "ERROR", expired.to_json()).await;
                return;
            }
        };
        for e in events {
            if let Some((kind, obj)) = visible(&e, &w.filter) {
                if !send(&tx, kind, present(obj, &w.resource)).await {
                    return;
                }
            }
        }
        let until = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            changed = updates.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(BOOKMARK_EVERY) => {
                if w.bookmarks && !send(&tx, "BOOKMARK", bookmark(&w.resource, cursor)).await {
                    return;
                }
            }
            _ = tokio::time::sleep_until(until) => return,
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return;
        }
    }
}

/// What a filtered watch reports for an event: an object entering the selector is ADDED, one
/// leaving it is DELETED, as the real server's watch cache does.
fn visible(e: &Event, f: &Filter) -> Option<(&'static str, Value)> {
    let now = f.matches(&e.object);
    let before = e.previous.as_ref().is_some_and(|p| f.matches(p));
    let kind = match e.kind {
        EventType::Added => now.then_some("ADDED"),
        EventType::Deleted => now.then_some("DELETED"),
        EventType::Modified => match (before, now) {
            (true, true) => Some("MODIFIED"),
            (false, true) => Some("ADDED"),
            (true, false) => Some("DELETED"),
            (false, false) => None,
        },
    }?;
    Some((kind, e.object.clone()))
}

fn bookmark(r: &Resource, rv: u64) -> Value {
    json!({
        "kind": r.kind,
        "apiVersion": r.api_version(),
        "metadata": {"resourceVersion": rv.to_string()},
    })
}

/// An object as served through `r`: in the request's group version, with its kind.
pub fn present(mut obj: Value, r: &Resource) -> Value {
    obj["apiVersion"] = json!(r.api_version());
    if obj.get("kind").and_then(Value::as_str).is_none() {
        obj["kind"] = json!(r.kind);
    }
    obj
}

async fn send(tx: &mpsc::Sender<Bytes>, kind: &str, object: Value) -> bool {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    line.push(b'\n');
    tx.send(Bytes::from(line)).await.is_ok()
}

/// The store lock; a panic elsewhere (a failed test) must not hide behind poisoning here.
pub fn lock(store: &Mutex<Store>) -> std::sync::MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(|p| p.into_inner())
}
