//! `Status` objects: how the API server reports a failed request (and a watch that expired).

use serde_json::{json, Value};

/// A failed request, rendered as a `meta/v1 Status` with the HTTP code it travels with.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    /// `services "x" not found`, with the details kube and kubectl read.
    pub fn not_found(plural: &str, group: &str, name: &str) -> ApiError {
        let what = qualified(plural, group);
        ApiError {
            details: Some(details(name, plural, group)),
            ..ApiError::new(404, "NotFound", format!("{what} \"{name}\" not found"))
        }
    }

    /// A path that names no resource at all (the real server's plain 404).
    pub fn no_route() -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    pub fn already_exists(plural: &str, group: &str, name: &str) -> ApiError {
        let what = qualified(plural, group);
        ApiError {
            details: Some(details(name, plural, group)),
            ..ApiError::new(
                409,
                "AlreadyExists",
                format!("{what} \"{name}\" already exists"),
            )
        }
    }

    /// The optimistic-concurrency failure of a write that carried a stale resourceVersion.
    pub fn conflict(plural: &str, group: &str, name: &str) -> ApiError {
        let what = qualified(plural, group);
        ApiError {
            details: Some(details(name, plural, group)),
            ..ApiError::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {what} \"{name}\": the object has been \
                     modified; please apply your changes to the latest version and try again"
                ),
            )
        }
    }

    /// What a watch from a compacted resourceVersion receives (HTTP 410 inside an ERROR event).
    pub fn expired(asked: u64, oldest: u64) -> ApiError {
        ApiError::new(
            410,
            "Expired",
            format!("too old resource version: {asked} ({oldest})"),
        )
    }

    pub fn to_json(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            status["details"] = d.clone();
        }
        status
    }
}

/// `services` for the core group, `leases.coordination.k8s.io` otherwise, as in real messages.
fn qualified(plural: &str, group: &str) -> String {
    if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    }
}

fn details(name: &str, plural: &str, group: &str) -> Value {
    let mut d = json!({ "name": name, "kind": plural });
    if !group.is_empty() {
        d["group"] = json!(group);
    }
    d
}
