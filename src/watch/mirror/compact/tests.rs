use super::*;
use k8s_openapi::api::core::v1::Service;

use crate::watch::speaker::plan::ready_on;

fn yaml<T: serde::de::DeserializeOwned>(text: &str) -> T {
    crate::yaml::from_str(text).expect("test object")
}

const SLICE: &str = r#"
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abcde
  namespace: shop
  generateName: web-
  labels:
    kubernetes.io/service-name: web
    endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io
  annotations: {endpoints.kubernetes.io/last-change-trigger-time: "2026-01-01T00:00:10Z"}
  managedFields:
  - {manager: kube-controller-manager, operation: Update, fieldsType: FieldsV1, fieldsV1: {}}
addressType: IPv4
endpoints:
- addresses: [203.0.113.1]
  conditions: {ready: true, serving: true, terminating: false}
  nodeName: node-a
  targetRef: {kind: Pod, name: web-1, namespace: shop, uid: p1}
  zone: zone-a
  hints: {forZones: [{name: zone-a}]}
- addresses: [203.0.113.2]
  conditions: {ready: false, serving: true, terminating: true}
  nodeName: node-b
- addresses: [203.0.113.3]
  nodeName: node-c
ports:
- {name: http, port: 8080, protocol: TCP}
"#;

/// The API's reading of a whole EndpointSlice: does it make Service `name` of `namespace`
/// ready on `node` (nil `ready` is ready)?
fn whole_says(s: &EndpointSlice, namespace: &str, name: &str, node: &str) -> bool {
    s.metadata.namespace.as_deref() == Some(namespace)
        && s.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(SERVICE_NAME))
            .map(String::as_str)
            == Some(name)
        && s.endpoints.iter().any(|e| {
            e.node_name.as_deref() == Some(node)
                && e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true)
        })
}

fn svc(namespace: &str, name: &str) -> crate::watch::service::ServiceRecord {
    let whole: Service = yaml(&format!(
        "metadata: {{name: {name}, namespace: {namespace}}}"
    ));
    crate::watch::service::ServiceRecord::of(&whole)
}

#[test]
fn a_ready_slice_says_where_the_service_is_ready_like_the_whole_slice() {
    let whole: EndpointSlice = yaml(SLICE);
    let rec = Arc::new(ReadySlice::of(&whole));
    for (ns, name) in [("shop", "web"), ("shop", "db"), ("other", "web")] {
        for node in ["node-a", "node-b", "node-c", "node-d"] {
            assert_eq!(
                ready_on(&svc(ns, name), std::slice::from_ref(&rec), node),
                whole_says(&whole, ns, name, node),
                "{ns}/{name} on {node}"
            );
        }
    }
    assert!(rec.ready_on("node-c"), "nil ready is ready");
    assert!(!rec.ready_on("node-b"), "not ready");
    assert_eq!(&*rec.ready_on, [Box::from("node-a"), Box::from("node-c")]);
}

#[test]
fn a_slice_without_the_service_label_makes_nothing_ready() {
    let mut whole: EndpointSlice = yaml(SLICE);
    whole.metadata.labels = None;
    let rec = Arc::new(ReadySlice::of(&whole));
    assert!(rec.service.is_none());
    assert!(!ready_on(&svc("shop", "web"), &[rec], "node-a"));
}

fn named(name: &str, node: &str) -> EndpointSlice {
    let mut s: EndpointSlice = yaml(SLICE);
    s.metadata.name = Some(name.into());
    if let Some(e) = s.endpoints.first_mut() {
        e.node_name = Some(node.into());
    }
    s
}

fn nodes(store: &Compact<ReadySlice>) -> Vec<String> {
    let mut v: Vec<String> = store
        .state()
        .iter()
        .flat_map(|r| r.ready_on.iter().map(|n| n.to_string()).collect::<Vec<_>>())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn the_store_applies_and_deletes_and_a_relist_replaces_it_in_one_step() {
    let (store, mut w) = store::<ReadySlice>();
    w.apply(&watcher::Event::Init);
    w.apply(&watcher::Event::InitApply(named("a", "n1")));
    assert!(store.state().is_empty(), "a list shows only when done");
    assert!(!*store.ready.borrow());
    w.apply(&watcher::Event::InitDone);
    store.wait_until_ready().await;
    assert_eq!(nodes(&store), ["n1", "node-c"]);
    w.apply(&watcher::Event::Apply(named("b", "n2")));
    w.apply(&watcher::Event::Apply(named("a", "n3")));
    assert_eq!(nodes(&store), ["n2", "n3", "node-c", "node-c"]);
    w.apply(&watcher::Event::Delete(named("b", "n2")));
    assert_eq!(nodes(&store), ["n3", "node-c"]);
    // A relist: the old contents stay until it is done, then only what it listed.
    w.apply(&watcher::Event::Init);
    w.apply(&watcher::Event::InitApply(named("c", "n4")));
    assert_eq!(nodes(&store), ["n3", "node-c"]);
    w.apply(&watcher::Event::InitDone);
    assert_eq!(nodes(&store), ["n4", "node-c"]);
}
