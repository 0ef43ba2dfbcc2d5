//! What can go wrong in Kubernetes mode, as one error type with a label for metrics and logs.

use std::path::PathBuf;

/// Why Kubernetes mode cannot start or an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `[kubernetes] kubeconfig` cannot be read or used.
    #[error("kubeconfig {}: {reason}", path.display())]
    Kubeconfig { path: PathBuf, reason: String },
    /// Neither a kubeconfig nor the in-cluster service account was found.
    #[error("cannot find the cluster (KUBECONFIG, ~/.kube/config or the in-cluster service account): {0}")]
    NoCluster(String),
    /// The client cannot be built from the configuration found.
    #[error("cannot build the Kubernetes client: {0}")]
    Client(String),
    /// The node config has no `[kubernetes]` table.
    #[error("no [kubernetes] table in the node config")]
    NotConfigured,
    /// An API request failed.
    #[error("{0}")]
    Api(#[from] kube::Error),
}

impl Error {
    /// A short stable label (for a metric's `reason` and structured logs).
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kubeconfig { .. } => "kubeconfig",
            Error::NoCluster(_) => "no_cluster",
            Error::Client(_) => "client",
            Error::NotConfigured => "not_configured",
            Error::Api(_) => "api",
        }
    }

    /// The HTTP status of an API error, if it is one.
    pub fn api_code(&self) -> Option<u16> {
        match self {
            Error::Api(kube::Error::Api(s)) => Some(s.code),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_a_label_and_a_message_a_user_can_act_on() {
        let e = Error::Kubeconfig {
            path: "/etc/k.yaml".into(),
            reason: "no such file".into(),
        };
        assert_eq!(e.to_string(), "kubeconfig /etc/k.yaml: no such file");
        assert_eq!(e.metric_label(), "kubeconfig");
        assert!(Error::NoCluster("x".into())
            .to_string()
            .contains("KUBECONFIG"));
        assert_eq!(Error::NotConfigured.api_code(), None);
    }
}
