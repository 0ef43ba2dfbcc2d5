//! Kubernetes Events through kube's event [`Recorder`] (`events.k8s.io/v1`): the same event
//! repeated on the same object becomes a series (`kubectl describe` shows "x N over …") instead
//! of a new object each time.

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

/// The Events of one node (reporting controller `ferrolb`, instance the node's name).
#[derive(Clone)]
pub struct Events {
    recorder: Recorder,
}

impl Events {
    /// Events reported by `node`.
    pub fn new(client: Client, node: &str) -> Events {
        let reporter = Reporter {
            controller: "ferrolb".into(),
            instance: Some(node.into()),
        };
        Events {
            recorder: Recorder::new(client, reporter),
        }
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
        match self.recorder.publish(&event, &object.object_ref(&())).await {
            Ok(()) => tracing::debug!(reason, message, "event recorded"),
            Err(e) => tracing::warn!(reason, message, "cannot record event: {e}"),
        }
    }
}
