//! Kubernetes Events through kube's event [`Recorder`] (`events.k8s.io/v1`): the same event
//! repeated on the same object becomes a series (`kubectl describe` shows "x N over …") instead
//! of a new object each time.
//!
//! The recorder keeps every Event it published for six minutes (its series cache, pruned on
//! each publish); a burst of 10k Services would hold 10k Event objects. [`Events`] starts a
//! fresh recorder after [`RECORDER_SPAN`] publishes, so the cache holds at most that many: an
//! Event repeated across the switch starts a new series instead of counting up the old one.

use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource};

/// Normal or Warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Normal,
    Warning,
}

/// Addresses as an Event message lists them: `198.51.100.1, 2001:db8::1`.
pub fn addresses(addrs: &[std::net::IpAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Publishes per recorder before a fresh one replaces it (bounds the recorder's cache).
pub const RECORDER_SPAN: usize = 512;

/// The Events of one node (reporting controller `ferrolb`, instance the node's name).
#[derive(Clone)]
pub struct Events {
    client: Client,
    reporter: Reporter,
    /// The recorder and how many Events it published.
    recorder: Arc<Mutex<(Recorder, usize)>>,
}

impl Events {
    /// Events reported by `node`.
    pub fn new(client: Client, node: &str) -> Events {
        let reporter = Reporter {
            controller: "ferrolb".into(),
            instance: Some(node.into()),
        };
        Events {
            recorder: Arc::new(Mutex::new((
                Recorder::new(client.clone(), reporter.clone()),
                0,
            ))),
            client,
            reporter,
        }
    }

    /// The recorder to publish with, fresh after [`RECORDER_SPAN`] publishes.
    fn recorder(&self) -> Recorder {
        let mut r = self
            .recorder
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if r.1 >= RECORDER_SPAN {
            *r = (Recorder::new(self.client.clone(), self.reporter.clone()), 0);
        }
        r.1 += 1;
        r.0.clone()
    }

    /// Records an Event about `object`; failures are logged, never retried (an Event is a
    /// courtesy, the state is in status and ServiceAnnouncements).
    pub async fn record<K: Resource<DynamicType = ()>>(
        &self,
        object: &K,
        kind: Kind,
        reason: &str,
        message: &str,
    ) {
        self.record_ref(&object.object_ref(&()), kind, reason, message)
            .await;
    }

    /// [`Events::record`] about the object `reference` names (a Service is known by its
    /// mirror record, not as an object: `ServiceRecord::object_ref`).
    pub async fn record_ref(
        &self,
        reference: &ObjectReference,
        kind: Kind,
        reason: &str,
        message: &str,
    ) {
        let event = Event {
            type_: match kind {
                Kind::Normal => EventType::Normal,
                Kind::Warning => EventType::Warning,
            },
            reason: reason.into(),
            note: Some(message.into()),
            action: reason.into(),
            secondary: None,
        };
        match self.recorder().publish(&event, reference).await {
            Ok(()) => tracing::debug!(reason, message, "event recorded"),
            Err(e) => tracing::warn!(reason, message, "cannot record event: {e}"),
        }
    }
}
