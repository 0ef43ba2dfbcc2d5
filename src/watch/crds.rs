//! The CRD types. Like MetalLB's, the configuration kinds are namespaced and read from
//! `[kubernetes] namespace`; `ServiceAnnouncement` lives in its Service's namespace.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A Kubernetes label selector (`matchLabels` and `matchExpressions`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One `matchExpressions` entry.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelectorRequirement {
    pub key: String,
    /// In, NotIn, Exists or DoesNotExist.
    pub operator: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// Addresses the allocator hands out (MetalLB `IPAddressPool`).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "ferrolb.io",
    version = "v1alpha1",
    kind = "IPAddressPool",
    plural = "ipaddresspools",
    namespaced
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IPAddressPoolSpec {
    /// CIDRs (`198.51.100.0/24`) or ranges (`203.0.113.10-203.0.113.20`).
    pub addresses: Vec<String>,
    /// False: only services that ask for this pool get addresses from it. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_assign: Option<bool>,
    /// Skip IPv4 addresses ending in .0 and .255.
    #[serde(
        default,
        rename = "avoidBuggyIPs",
        skip_serializing_if = "Option::is_none"
    )]
    pub avoid_buggy_ips: Option<bool>,
    /// Which services may get addresses from this pool, and its priority among pools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_allocation: Option<ServiceAllocation>,
}

/// `IPAddressPool.spec.serviceAllocation`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceAllocation {
    /// As in MetalLB: among the pools that may serve a Service, the lowest value is tried first
    /// (1 before 2); a pool without a priority (unset or 0) is tried after every pool that has
    /// one. Pools with a namespace or service condition come before pools without one. Negative
    /// values are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespace_selectors: Vec<LabelSelector>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_selectors: Vec<LabelSelector>,
}

/// A reference to a Secret holding the TCP MD5 password (key `password`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretReference {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A BGP session from the selected nodes (MetalLB `BGPPeer`).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "ferrolb.io",
    version = "v1alpha1",
    kind = "BGPPeer",
    plural = "bgppeers",
    namespaced
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BGPPeerSpec {
    #[serde(rename = "myASN")]
    pub my_asn: u32,
    #[serde(rename = "peerASN")]
    pub peer_asn: u32,
    pub peer_address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_port: Option<u16>,
    /// Go duration (`90s`, `3m`); 0 or at least 3 s (RFC 4271).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive_time: Option<String>,
    #[serde(default, rename = "routerID", skip_serializing_if = "Option::is_none")]
    pub router_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret: Option<SecretReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ebgp_multi_hop: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_selectors: Vec<LabelSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bfd_profile: Option<String>,
}

/// How the addresses of selected pools are announced over BGP (MetalLB `BGPAdvertisement`).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "ferrolb.io",
    version = "v1alpha1",
    kind = "BGPAdvertisement",
    plural = "bgpadvertisements",
    namespaced
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BGPAdvertisementSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_address_pools: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_address_pool_selectors: Vec<LabelSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregation_length: Option<u8>,
    #[serde(
        default,
        rename = "aggregationLengthV6",
        skip_serializing_if = "Option::is_none"
    )]
    pub aggregation_length_v6: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_pref: Option<u32>,
    /// `64500:100` or `large:64500:1:2`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub communities: Vec<String>,
    /// BGPPeer names; empty = every peer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_selectors: Vec<LabelSelector>,
}

/// Layer-2 (ARP/NDP) announcement of selected pools (MetalLB `L2Advertisement`).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "ferrolb.io",
    version = "v1alpha1",
    kind = "L2Advertisement",
    plural = "l2advertisements",
    namespaced
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct L2AdvertisementSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_address_pools: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_address_pool_selectors: Vec<LabelSelector>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_selectors: Vec<LabelSelector>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<String>,
}

/// BFD timers for peers that name this profile (MetalLB `BFDProfile`).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "ferrolb.io",
    version = "v1alpha1",
    kind = "BFDProfile",
    plural = "bfdprofiles",
    namespaced
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BFDProfileSpec {
    /// Milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receive_interval: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transmit_interval: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detect_multiplier: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo_interval: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo_mode: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passive_mode: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_ttl: Option<u32>,
}

/// What one node is doing for one Service right now (written by that node's speaker, owned by
/// the Service so it is garbage-collected with it).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "ferrolb.io",
    version = "v1alpha1",
    kind = "ServiceAnnouncement",
    plural = "serviceannouncements",
    namespaced
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceAnnouncementSpec {
    /// The Service's name (same namespace).
    pub service: String,
    pub node: String,
    /// `bgp`, `l2`, or `bgp+l2` (a BGP and an L2 advertisement both apply, and this node
    /// both has a session carrying the addresses and answers ARP/NDP for them).
    pub mode: String,
    /// Peers that carry the addresses now (BGP), empty for L2.
    #[serde(default)]
    pub peers: Vec<String>,
    pub addresses: Vec<String>,
    /// L2: the interfaces this node answers ARP/NDP on for the addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<String>,
}

/// Every CRD, in a fixed order: what `ferrolb crds` prints.
pub fn all(
) -> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>
{
    use kube::CustomResourceExt;
    vec![
        IPAddressPool::crd(),
        BGPPeer::crd(),
        BGPAdvertisement::crd(),
        L2Advertisement::crd(),
        BFDProfile::crd(),
        ServiceAnnouncement::crd(),
    ]
}

/// The CRDs as one multi-document YAML stream.
///
/// The types use `deny_unknown_fields` (so `ferrolb check --manifests` names a misspelt field),
/// which makes schemars emit `additionalProperties: false` beside `properties`; the API server
/// refuses that combination in a structural schema, so it is dropped here. Unknown fields are
/// pruned by the API server anyway.
pub fn yaml() -> Result<String, crate::yaml::SerializeError> {
    let mut out = String::from(
        "# Generated by `ferrolb crds` from src/watch/crds.rs; do not edit by hand.\n",
    );
    for crd in all() {
        let mut value = serde_json::to_value(&crd)
            .map_err(<crate::yaml::SerializeError as serde::ser::Error>::custom)?;
        drop_closed_objects(&mut value);
        out.push_str("---\n");
        out.push_str(&crate::yaml::to_string(&value)?);
    }
    Ok(out)
}

/// Removes `additionalProperties: false` from every schema node that lists `properties`.
fn drop_closed_objects(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            if map.contains_key("properties")
                && map.get("additionalProperties") == Some(&serde_json::Value::Bool(false))
            {
                map.remove("additionalProperties");
            }
            map.values_mut().for_each(drop_closed_objects);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_closed_objects),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deploy_crds_yaml_is_what_ferrolb_crds_prints() {
        let committed = include_str!("../../deploy/crds.yaml");
        let generated = yaml().expect("render");
        assert!(
            committed == generated,
            "deploy/crds.yaml is stale: regenerate it with `ferrolb crds > deploy/crds.yaml`"
        );
    }

    #[test]
    fn no_schema_node_has_both_properties_and_closed_additional_properties() {
        let text = yaml().expect("render");
        let docs: Vec<serde_json::Value> = crate::yaml::from_multiple(&text).expect("yaml");
        assert_eq!(docs.len(), all().len());
        for v in docs {
            let mut stack = vec![&v];
            while let Some(n) = stack.pop() {
                match n {
                    serde_json::Value::Object(m) => {
                        assert!(
                            !(m.contains_key("properties")
                                && m.contains_key("additionalProperties")),
                            "structural schema violation in {n}"
                        );
                        stack.extend(m.values());
                    }
                    serde_json::Value::Array(a) => stack.extend(a),
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn every_kind_is_in_group_ferrolb_io_v1alpha1_and_namespaced() {
        let kinds: Vec<String> = all()
            .into_iter()
            .map(|c| {
                assert_eq!(c.spec.group, "ferrolb.io");
                assert_eq!(c.spec.scope, "Namespaced");
                assert_eq!(c.spec.versions[0].name, "v1alpha1");
                c.spec.names.kind
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "IPAddressPool",
                "BGPPeer",
                "BGPAdvertisement",
                "L2Advertisement",
                "BFDProfile",
                "ServiceAnnouncement"
            ]
        );
    }
}
