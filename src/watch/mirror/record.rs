//! The mirror's record of a Service: what `service.rs`, the allocator, the speaker, Events and
//! the ServiceAnnouncements read of it, and nothing else. A Service is turned into its record
//! as its watch event arrives and dropped ([`super::compact`]), so 10,000 Services cost the
//! mirror a few hundred bytes each instead of a k8s-openapi `Service` (about a kilobyte inline,
//! plus its metadata's strings and maps).
//!
//! What is kept, and who reads it:
//! - `key` (`namespace/name`; the namespace `default` when unset, as the API server sets it):
//!   everyone; `uid`: Events, the status overlay, ServiceAnnouncement ownerReferences;
//! - `creationTimestamp` in seconds: the allocator's order (older wins);
//! - `spec.type` (LoadBalancer or not) and `spec.loadBalancerClass`: whether it is ours;
//! - our annotations (under [`ANNOTATION_PREFIXES`]), labels (pools' serviceSelectors);
//! - `spec.loadBalancerIP`, `spec.ipFamilies[0]`, `spec.ipFamilyPolicy`,
//!   `externalTrafficPolicy: Local`, and the ports (port, protocol) only when the Service
//!   asks to share its address (`allow-shared-ip`);
//! - `status.loadBalancer.ingress` IPs (hostnames and unparseable entries are skipped);
//! - whether our allocator's field manager wrote `status` (a managedFields entry).

use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ObjectReference, Service};

use super::compact::Record;
use crate::allocator::{Fam, Port};

/// Annotation prefixes, in the order they are looked up.
pub const ANNOTATION_PREFIXES: [&str; 3] = ["ferrolb.io/", "metallb.io/", "metallb.universe.tf/"];

/// The field manager of the allocator's status writes.
pub const STATUS_MANAGER: &str = "ferrolb-allocator";

/// Name/value pairs (labels, annotations), sorted by name.
pub type Pairs = Box<[(Box<str>, Box<str>)]>;

/// `spec.ipFamilyPolicy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policy {
    /// Not set: SingleStack.
    Unset,
    SingleStack,
    PreferDualStack,
    RequireDualStack,
    /// A value the API does not define (the allocator says so).
    Unknown(Box<str>),
}

/// What is kept of one Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRecord {
    /// `namespace/name`: the allocator key.
    pub key: Arc<str>,
    pub uid: Box<str>,
    /// Seconds since the epoch of `creationTimestamp` (0 when unknown).
    pub created: u64,
    /// `spec.type: LoadBalancer`.
    pub load_balancer: bool,
    pub class: Option<Box<str>>,
    /// Our annotations only.
    pub annotations: Pairs,
    pub labels: Pairs,
    pub load_balancer_ip: Option<Box<str>>,
    /// `spec.ipFamilies[0]` (IPv4 when absent).
    pub primary: Fam,
    pub policy: Policy,
    /// Port and protocol (`TCP` when unset) of every port that fits a u16; only when the
    /// Service asks to share its address.
    pub ports: Box<[Port]>,
    /// `externalTrafficPolicy: Local`.
    pub local_traffic: bool,
    /// The IPs in `status.loadBalancer.ingress`, in their order.
    pub ingress: Box<[IpAddr]>,
    /// Our allocator's field manager wrote `status`.
    pub written_by_us: bool,
}

impl Record for ServiceRecord {
    type Kind = Service;

    fn of(s: &Service) -> ServiceRecord {
        ServiceRecord::of(s)
    }
}

fn pairs<'a>(map: impl Iterator<Item = (&'a String, &'a String)>) -> Pairs {
    // A BTreeMap iterates sorted already.
    map.map(|(k, v)| (Box::from(k.as_str()), Box::from(v.as_str())))
        .collect()
}

impl ServiceRecord {
    /// The record of a Service.
    pub fn of(s: &Service) -> ServiceRecord {
        let m = &s.metadata;
        let key = format!(
            "{}/{}",
            m.namespace.as_deref().unwrap_or("default"),
            m.name.as_deref().unwrap_or_default()
        );
        let annotations = pairs(
            m.annotations
                .iter()
                .flatten()
                .filter(|(k, _)| ANNOTATION_PREFIXES.iter().any(|p| k.starts_with(p))),
        );
        let spec = s.spec.as_ref();
        let mut r = ServiceRecord {
            key: key.into(),
            uid: m.uid.as_deref().unwrap_or_default().into(),
            created: m
                .creation_timestamp
                .as_ref()
                .and_then(|t| u64::try_from(t.0.timestamp()).ok())
                .unwrap_or(0),
            load_balancer: spec.and_then(|s| s.type_.as_deref()) == Some("LoadBalancer"),
            class: spec
                .and_then(|s| s.load_balancer_class.as_deref())
                .map(Box::from),
            annotations,
            labels: pairs(m.labels.iter().flatten()),
            load_balancer_ip: spec
                .and_then(|s| s.load_balancer_ip.as_deref())
                .map(Box::from),
            primary: match spec
                .and_then(|s| s.ip_families.as_ref())
                .and_then(|f| f.first())
                .map(String::as_str)
            {
                Some("IPv6") => Fam::V6,
                _ => Fam::V4,
            },
            policy: match spec.and_then(|s| s.ip_family_policy.as_deref()) {
                None => Policy::Unset,
                Some("SingleStack") => Policy::SingleStack,
                Some("PreferDualStack") => Policy::PreferDualStack,
                Some("RequireDualStack") => Policy::RequireDualStack,
                Some(other) => Policy::Unknown(other.into()),
            },
            ports: Box::new([]),
            local_traffic: spec.and_then(|s| s.external_traffic_policy.as_deref()) == Some("Local"),
            ingress: s
                .status
                .as_ref()
                .and_then(|s| s.load_balancer.as_ref())
                .and_then(|lb| lb.ingress.as_ref())
                .into_iter()
                .flatten()
                .filter_map(|i| i.ip.as_deref()?.parse().ok())
                .collect(),
            written_by_us: m.managed_fields.iter().flatten().any(|e| {
                e.manager.as_deref() == Some(STATUS_MANAGER)
                    && e.subresource.as_deref() == Some("status")
            }),
        };
        if r.annotation("allow-shared-ip")
            .is_some_and(|k| !k.is_empty())
        {
            r.ports = spec
                .and_then(|s| s.ports.as_ref())
                .into_iter()
                .flatten()
                .filter_map(|p| {
                    Some(Port {
                        protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                        port: u16::try_from(p.port).ok()?,
                    })
                })
                .collect();
        }
        r
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        self.key.split_once('/').map_or("default", |(ns, _)| ns)
    }

    /// The name.
    pub fn name(&self) -> &str {
        self.key.split_once('/').map_or(&*self.key, |(_, n)| n)
    }

    /// The annotation `name` under the first prefix that has it.
    pub fn annotation(&self, name: &str) -> Option<&str> {
        ANNOTATION_PREFIXES.iter().find_map(|p| {
            self.annotations
                .iter()
                .find(|(k, _)| k.strip_prefix(p) == Some(name))
                .map(|(_, v)| &**v)
        })
    }

    /// The labels as the allocator's selectors read them.
    pub fn label_map(&self) -> std::collections::BTreeMap<String, String> {
        self.labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The reference Events are about (what kube's `Resource::object_ref` gives for the
    /// Service: apiVersion, kind, name, namespace, uid).
    pub fn object_ref(&self) -> ObjectReference {
        ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Service".into()),
            name: Some(self.name().into()),
            namespace: Some(self.namespace().into()),
            uid: Some(self.uid.to_string()).filter(|u| !u.is_empty()),
            ..ObjectReference::default()
        }
    }
}

#[cfg(test)]
mod tests;
