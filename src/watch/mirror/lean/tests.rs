use super::*;
use crate::watch::allocator::decide::node_addresses;
use crate::watch::service;

fn yaml<T: serde::de::DeserializeOwned>(text: &str) -> T {
    crate::yaml::from_str(text).expect("test object")
}

/// A Service as a cluster serves it: kubectl's last-applied copy, managedFields of kubectl, the
/// allocator and another controller, every spec field defaulted.
const SERVICE: &str = r#"
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
  uid: 6a1f0c2e-0000-4000-8000-000000000001
  resourceVersion: "42"
  creationTimestamp: "2026-01-01T00:00:10Z"
  labels: {app: web, tier: front}
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"apiVersion":"v1","kind":"Service"}'
    ferrolb.io/allow-shared-ip: k1
    metallb.universe.tf/address-pool: old
    prometheus.io/scrape: "true"
  finalizers: [example.com/hold]
  ownerReferences:
  - {apiVersion: apps/v1, kind: Deployment, name: web, uid: u}
  managedFields:
  - manager: kubectl-client-side-apply
    operation: Update
    apiVersion: v1
    fieldsType: FieldsV1
    fieldsV1: {"f:spec": {"f:ports": {}}}
  - manager: ferrolb-allocator
    operation: Apply
    apiVersion: v1
    subresource: status
    time: "2026-01-01T00:00:11Z"
    fieldsType: FieldsV1
    fieldsV1: {"f:status": {"f:loadBalancer": {}}}
spec:
  type: LoadBalancer
  loadBalancerClass: ferrolb.io/lb
  loadBalancerIP: 198.51.100.7
  clusterIP: 198.51.100.200
  clusterIPs: [198.51.100.200]
  ipFamilies: [IPv4, IPv6]
  ipFamilyPolicy: PreferDualStack
  externalTrafficPolicy: Local
  internalTrafficPolicy: Cluster
  healthCheckNodePort: 31000
  sessionAffinity: None
  allocateLoadBalancerNodePorts: true
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8080, nodePort: 30080, protocol: TCP}
  - {name: dns, port: 53, targetPort: 5353, nodePort: 30053, protocol: UDP, appProtocol: dns}
status:
  loadBalancer:
    ingress: [{ip: 198.51.100.7, ipMode: VIP}]
  conditions:
  - {type: x, status: "True", lastTransitionTime: "2026-01-01T00:00:10Z", reason: R, message: m}
"#;

#[test]
fn a_lean_service_decides_exactly_like_the_whole_one() {
    let whole: Service = yaml(SERVICE);
    let mut lean = whole.clone();
    lean.lean();
    let class = "ferrolb.io/lb";
    assert!(service::is_ours(&lean, class));
    assert_eq!(service::key(&lean), service::key(&whole));
    assert_eq!(service::created(&lean), service::created(&whole));
    assert_eq!(service::ingress(&lean), service::ingress(&whole));
    assert_eq!(service::request(&lean), service::request(&whole));
    assert_eq!(service::restored(&lean), service::restored(&whole));
    let m = &lean.metadata;
    assert_eq!(m.uid, whole.metadata.uid);
    assert_eq!(m.resource_version.as_deref(), Some("42"));
    assert_eq!(m.labels, whole.metadata.labels);
    assert_eq!(m.finalizers, whole.metadata.finalizers);
    let sharing = service::request(&lean).expect("request").sharing;
    assert_eq!(sharing.map(|s| s.ports.len()), Some(2));
}

#[test]
fn a_lean_service_keeps_only_our_managed_fields_entry_and_our_annotations() {
    let mut s: Service = yaml(SERVICE);
    s.lean();
    let entries = s.metadata.managed_fields.expect("our entry is kept");
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].manager.as_deref(), Some(ALLOCATOR));
    assert_eq!(entries[0].subresource.as_deref(), Some("status"));
    assert!(entries[0].fields_v1.is_none() && entries[0].time.is_none());
    let kept: Vec<&str> = s
        .metadata
        .annotations
        .iter()
        .flatten()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(
        kept,
        [
            "ferrolb.io/allow-shared-ip",
            "metallb.universe.tf/address-pool"
        ]
    );
    assert!(s.metadata.owner_references.is_none());
    let spec = s.spec.expect("spec");
    assert!(spec.cluster_ip.is_none() && spec.selector.is_none());
    assert!(spec.health_check_node_port.is_none() && spec.session_affinity.is_none());
    let port = &spec.ports.expect("ports")[0];
    assert!(port.name.is_none() && port.node_port.is_none() && port.target_port.is_none());
    assert!(s.status.expect("status").conditions.is_none());
}

#[test]
fn a_lean_service_without_a_sharing_key_drops_its_ports_and_decides_the_same() {
    for text in [
        SERVICE.replace("ferrolb.io/allow-shared-ip: k1", "other.example/x: y"),
        SERVICE.replace(
            "ferrolb.io/allow-shared-ip: k1",
            "ferrolb.io/allow-shared-ip: \"\"",
        ),
    ] {
        let whole: Service = yaml(&text);
        let mut lean = whole.clone();
        lean.lean();
        assert!(lean.spec.as_ref().is_some_and(|s| s.ports.is_none()));
        assert_eq!(service::request(&lean), service::request(&whole));
        assert!(service::request(&lean).expect("request").sharing.is_none());
    }
}

#[test]
fn a_service_written_by_nobody_of_ours_keeps_no_managed_fields() {
    let mut s: Service = yaml(&SERVICE.replace("ferrolb-allocator", "other-lb"));
    s.lean();
    assert!(s.metadata.managed_fields.is_none());
}

const NODE: &str = r#"
apiVersion: v1
kind: Node
metadata:
  name: node-a
  labels: {kubernetes.io/hostname: node-a, rack: r1}
  annotations: {node.alpha.kubernetes.io/ttl: "0"}
spec: {podCIDR: 198.51.100.0/28}
status:
  addresses:
  - {type: InternalIP, address: 192.0.2.10}
  - {type: ExternalIP, address: 203.0.113.10}
  - {type: Hostname, address: node-a}
  capacity: {cpu: "2"}
  images:
  - names: [registry.example/a@sha256:00]
    sizeBytes: 10
  nodeInfo: {architecture: amd64, bootID: b, containerRuntimeVersion: c, kernelVersion: k,
             kubeProxyVersion: p, kubeletVersion: l, machineID: m, operatingSystem: linux,
             osImage: o, systemUUID: s}
"#;

#[test]
fn a_lean_node_keeps_its_labels_and_addresses_only() {
    let whole: Node = yaml(NODE);
    let mut lean = whole.clone();
    lean.lean();
    assert_eq!(
        node_addresses(std::slice::from_ref(&lean)),
        node_addresses(std::slice::from_ref(&whole))
    );
    assert_eq!(lean.metadata.labels, whole.metadata.labels);
    assert!(lean.spec.is_none() && lean.metadata.annotations.is_none());
    let status = lean.status.expect("status");
    assert!(status.images.is_none() && status.node_info.is_none() && status.capacity.is_none());
}

#[test]
fn a_lean_secret_keeps_the_password_only() {
    let mut s: Secret = yaml(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: p, namespace: ferrolb-system}\ndata: {password: c2VjcmV0, tls.crt: eA==}\n",
    );
    s.lean();
    let keys: Vec<&String> = s.data.iter().flatten().map(|(k, _)| k).collect();
    assert_eq!(keys, ["password"]);
}
