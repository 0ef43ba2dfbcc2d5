//! Kubernetes Events (`core/v1`), as `kubectl describe` shows them.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use k8s_openapi::chrono::Utc;
use kube::api::{Api, PostParams};
use kube::{Client, Resource};

/// Addresses as an Event message lists them: `198.51.100.1, 2001:db8::1`.
pub fn addresses(addrs: &[std::net::IpAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Normal or Warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Normal,
    Warning,
}

/// A reference to `obj` for an Event's `involvedObject`.
pub fn reference<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    ObjectReference {
        api_version: Some(K::api_version(&()).into_owned()),
        kind: Some(K::kind(&()).into_owned()),
        name: obj.meta().name.clone(),
        namespace: obj.meta().namespace.clone(),
        uid: obj.meta().uid.clone(),
        resource_version: obj.meta().resource_version.clone(),
        field_path: None,
    }
}

/// Records an Event about `object` from this node; failures are logged, never retried (an
/// Event is a courtesy, the state is in status and ServiceAnnouncements).
pub async fn record(
    client: &Client,
    object: ObjectReference,
    node: &str,
    kind: Kind,
    reason: &str,
    message: &str,
) {
    let namespace = object.namespace.clone().unwrap_or_else(|| "default".into());
    let now = Utc::now();
    let name = format!(
        "{}.{:x}",
        object.name.as_deref().unwrap_or("ferrolb"),
        now.timestamp_nanos_opt().unwrap_or(0)
    );
    let event = Event {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(namespace.clone()),
            ..ObjectMeta::default()
        },
        involved_object: object,
        reason: Some(reason.into()),
        message: Some(message.into()),
        type_: Some(
            match kind {
                Kind::Normal => "Normal",
                Kind::Warning => "Warning",
            }
            .into(),
        ),
        source: Some(EventSource {
            component: Some("ferrolb".into()),
            host: Some(node.into()),
        }),
        reporting_component: Some("ferrolb.io/ferrolb".into()),
        reporting_instance: Some(node.into()),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        event_time: Some(MicroTime(now)),
        action: Some(reason.into()),
        count: Some(1),
        ..Event::default()
    };
    let api: Api<Event> = Api::namespaced(client.clone(), &namespace);
    match api.create(&PostParams::default(), &event).await {
        Ok(_) => tracing::debug!(reason, message, "event recorded"),
        Err(e) => tracing::warn!(reason, message, "cannot record event: {e}"),
    }
}
