use super::*;
use crate::watch::allocator::decide::node_addresses;

fn yaml<T: serde::de::DeserializeOwned>(text: &str) -> T {
    crate::yaml::from_str(text).expect("test object")
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
