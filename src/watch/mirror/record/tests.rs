use super::*;
use crate::allocator::{FamilyPolicy, Sharing};
use crate::watch::service;

fn yaml(text: &str) -> Service {
    crate::yaml::from_str(text).expect("test Service")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
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
  labels: {tier: front, app: web}
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
  ipFamilies: [IPv6, IPv4]
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
  - {name: plain, port: 8443}
status:
  loadBalancer:
    ingress: [{ip: 198.51.100.7, ipMode: VIP}, {hostname: lb.example}, {ip: "2001:db8::7"}]
  conditions:
  - {type: x, status: "True", lastTransitionTime: "2026-01-01T00:00:10Z", reason: R, message: m}
"#;

#[test]
fn a_record_keeps_every_field_a_reader_uses() {
    let r = ServiceRecord::of(&yaml(SERVICE));
    assert_eq!(&*r.key, "shop/web");
    assert_eq!((r.namespace(), r.name()), ("shop", "web"));
    assert_eq!(&*r.uid, "6a1f0c2e-0000-4000-8000-000000000001");
    assert_eq!(r.created, 1_767_225_610);
    assert!(r.load_balancer);
    assert_eq!(r.class.as_deref(), Some("ferrolb.io/lb"));
    assert_eq!(r.load_balancer_ip.as_deref(), Some("198.51.100.7"));
    assert_eq!(r.primary, Fam::V6);
    assert_eq!(r.policy, Policy::PreferDualStack);
    assert!(r.local_traffic);
    assert_eq!(&*r.ingress, [ip("198.51.100.7"), ip("2001:db8::7")]);
    assert!(r.written_by_us);
    let labels: Vec<(&str, &str)> = r.labels.iter().map(|(k, v)| (&**k, &**v)).collect();
    assert_eq!(labels, [("app", "web"), ("tier", "front")], "sorted");
    assert_eq!(r.label_map().get("tier").map(String::as_str), Some("front"));
    let ports: Vec<(&str, u16)> = r.ports.iter().map(|p| (&*p.protocol, p.port)).collect();
    assert_eq!(ports, [("TCP", 80), ("UDP", 53), ("TCP", 8443)]);
}

#[test]
fn a_record_keeps_only_our_annotations_and_reads_them_in_prefix_order() {
    let r = ServiceRecord::of(&yaml(SERVICE));
    let kept: Vec<&str> = r.annotations.iter().map(|(k, _)| &**k).collect();
    assert_eq!(
        kept,
        [
            "ferrolb.io/allow-shared-ip",
            "metallb.universe.tf/address-pool"
        ]
    );
    assert_eq!(r.annotation("allow-shared-ip"), Some("k1"));
    assert_eq!(r.annotation("address-pool"), Some("old"));
    assert_eq!(r.annotation("loadBalancerIPs"), None);
    let both = SERVICE.replace(
        "    prometheus.io/scrape",
        "    ferrolb.io/address-pool: new\n    prometheus.io/scrape",
    );
    assert_eq!(
        ServiceRecord::of(&yaml(&both)).annotation("address-pool"),
        Some("new"),
        "ferrolb.io/ wins"
    );
}

#[test]
fn the_allocator_reads_the_record_as_it_read_the_service() {
    let r = ServiceRecord::of(&yaml(SERVICE));
    assert!(service::is_ours(&r, "ferrolb.io/lb") && !service::is_ours(&r, ""));
    let req = service::request(&r).expect("request");
    assert_eq!(&*req.key, "shop/web");
    assert_eq!(req.namespace, "shop");
    assert_eq!(req.created, 1_767_225_610);
    assert_eq!(req.policy, FamilyPolicy::PreferDualStack);
    assert_eq!(req.addresses, [ip("198.51.100.7")]);
    assert_eq!(req.pool.as_deref(), Some("old"));
    assert_eq!(req.labels.len(), 2);
    assert_eq!(
        req.sharing,
        Some(Sharing {
            key: "k1".into(),
            ports: r.ports.to_vec(),
            local_traffic: true,
        })
    );
    let restored = service::restored(&r).expect("restored");
    assert_eq!(restored.addresses, [ip("198.51.100.7"), ip("2001:db8::7")]);
    assert_eq!(restored.pool.as_deref(), Some("old"));
}

#[test]
fn without_a_sharing_key_the_ports_are_not_kept() {
    for text in [
        SERVICE.replace("ferrolb.io/allow-shared-ip: k1", "other.example/x: y"),
        SERVICE.replace(
            "ferrolb.io/allow-shared-ip: k1",
            "ferrolb.io/allow-shared-ip: \"\"",
        ),
    ] {
        let r = ServiceRecord::of(&yaml(&text));
        assert!(r.ports.is_empty());
        assert!(service::request(&r).expect("request").sharing.is_none());
    }
}

#[test]
fn a_status_written_by_someone_else_is_not_ours_and_defaults_are_read_as_the_api_means() {
    let r = ServiceRecord::of(&yaml(&SERVICE.replace("ferrolb-allocator", "other-lb")));
    assert!(!r.written_by_us);
    let bare = ServiceRecord::of(&yaml(
        "apiVersion: v1\nkind: Service\nmetadata: {name: db}\nspec: {type: ClusterIP, ipFamilyPolicy: Sideways}\n",
    ));
    assert_eq!(&*bare.key, "default/db", "no namespace: default");
    assert!(!bare.load_balancer && bare.class.is_none());
    assert_eq!((bare.primary, bare.created), (Fam::V4, 0));
    assert_eq!(bare.policy, Policy::Unknown("Sideways".into()));
    assert!(bare.ingress.is_empty() && bare.labels.is_empty() && !bare.local_traffic);
    assert_eq!(
        service::request(&bare).expect_err("unknown policy"),
        "spec.ipFamilyPolicy: unknown policy `Sideways`"
    );
}

#[test]
fn events_refer_to_the_service_as_kube_would() {
    use kube::Resource;
    let whole = yaml(SERVICE);
    assert_eq!(
        ServiceRecord::of(&whole).object_ref(),
        whole.object_ref(&())
    );
}
