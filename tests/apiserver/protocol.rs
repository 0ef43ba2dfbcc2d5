//! The protocol: lists across namespaces, auth, reflectors across 410 and restarts, raw watches
//! with bookmarks, the status subresource.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::apiserver::ApiServer;
use crate::helpers::*;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::{Client, ResourceExt};
use serde_json::json;

#[tokio::test]
async fn services_are_created_listed_across_namespaces_and_deleted_with_api_errors() {
    let server = ApiServer::start().await;
    let client = server.client().await;
    namespace(&client, "a").await;
    namespace(&client, "b").await;
    let (a, b) = (
        Api::<Service>::namespaced(client.clone(), "a"),
        Api::<Service>::namespaced(client.clone(), "b"),
    );
    let pp = PostParams::default();
    let web = a
        .create(&pp, &service("web", json!({"app": "web"})))
        .await
        .unwrap();
    assert_eq!(web.metadata.namespace.as_deref(), Some("a"));
    assert!(web.metadata.uid.is_some() && web.metadata.creation_timestamp.is_some());
    // The server's Service defaults: a cluster IP, families, node ports, protocols.
    let spec = web.spec.clone().unwrap();
    assert!(
        spec.cluster_ip
            .as_deref()
            .is_some_and(|ip| ip.starts_with("10.96.")),
        "{spec:?}"
    );
    assert_eq!(spec.ip_families, Some(vec!["IPv4".to_string()]));
    assert_eq!(spec.ip_family_policy.as_deref(), Some("SingleStack"));
    let port = &spec.ports.as_ref().unwrap()[0];
    assert_eq!(port.protocol.as_deref(), Some("TCP"));
    assert!(port.node_port.is_some_and(|p| (30000..=32767).contains(&p)));
    let mut dual = service("dual", json!({}));
    dual.spec.as_mut().unwrap().ip_family_policy = Some("PreferDualStack".into());
    let dual = a.create(&pp, &dual).await.unwrap().spec.unwrap();
    assert_eq!(
        dual.ip_families,
        Some(vec!["IPv4".to_string(), "IPv6".to_string()])
    );
    assert_eq!(dual.cluster_ips.as_ref().map(Vec::len), Some(2));
    assert_ne!(dual.cluster_ip, spec.cluster_ip, "allocated IPs are unique");
    let relabel = Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}}));
    let relabeled = a
        .patch("dual", &PatchParams::default(), &relabel)
        .await
        .unwrap();
    assert_eq!(
        relabeled.spec.unwrap().cluster_ips,
        dual.cluster_ips,
        "addresses stay"
    );
    assert_eq!(
        relabeled.metadata.generation,
        Some(1),
        "labels are not spec"
    );
    let single = Patch::Merge(json!({"spec": {"ipFamilyPolicy": "SingleStack"}}));
    let single = a
        .patch("dual", &PatchParams::default(), &single)
        .await
        .unwrap();
    assert_eq!(
        single.spec.unwrap().ip_families,
        Some(vec!["IPv4".to_string()])
    );
    a.delete("dual", &DeleteParams::default()).await.unwrap();
    // Creating with a resourceVersion is refused by the storage layer.
    let mut stale = web.clone();
    stale.metadata.name = Some("copy".into());
    stale.metadata.uid = None;
    assert_eq!(api_error(a.create(&pp, &stale).await).0, 500);
    a.create(&pp, &service("db", json!({"app": "db"})))
        .await
        .unwrap();
    b.create(&pp, &service("web", json!({"app": "web"})))
        .await
        .unwrap();

    assert_eq!(a.get("web").await.unwrap().metadata.uid, web.metadata.uid);
    assert_eq!(
        names(&a.list(&ListParams::default()).await.unwrap().items),
        ["a/db", "a/web"]
    );
    let all = Api::<Service>::all(client.clone());
    let listed = all.list(&ListParams::default()).await.unwrap();
    assert_eq!(names(&listed.items), ["a/db", "a/web", "b/web"]);
    let list_rv: u64 = listed.metadata.resource_version.unwrap().parse().unwrap();
    assert_eq!(list_rv, server.resource_version());

    let selected = all
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    assert_eq!(names(&selected.items), ["a/web", "b/web"]);
    let not_web = all
        .list(&ListParams::default().labels("app!=web"))
        .await
        .unwrap();
    assert_eq!(names(&not_web.items), ["a/db"]);
    let by_field = all
        .list(&ListParams::default().fields("metadata.namespace=b"))
        .await
        .unwrap();
    assert_eq!(names(&by_field.items), ["b/web"]);

    assert_eq!(
        api_error(a.create(&pp, &service("web", json!({}))).await),
        (409, "AlreadyExists".to_string())
    );
    assert_eq!(
        api_error(a.get("nope").await),
        (404, "NotFound".to_string())
    );
    let missing_ns = Api::<Service>::namespaced(client.clone(), "nowhere");
    assert_eq!(
        api_error(missing_ns.create(&pp, &service("x", json!({}))).await).0,
        404
    );

    a.delete("web", &DeleteParams::default()).await.unwrap();
    assert_eq!(api_error(a.get("web").await).0, 404);
    assert_eq!(
        api_error(a.delete("web", &DeleteParams::default()).await).0,
        404
    );
    assert_eq!(
        names(&all.list(&ListParams::default()).await.unwrap().items),
        ["a/db", "b/web"]
    );
}

#[tokio::test]
async fn requests_without_the_token_are_unauthorized_and_the_kubeconfig_file_works() {
    let server = ApiServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    server.kubeconfig(&path);
    let kc = kube::config::Kubeconfig::read_from(&path).unwrap();
    let options = kube::config::KubeConfigOptions::default();
    let config = kube::Config::from_custom_kubeconfig(kc.clone(), &options)
        .await
        .unwrap();
    let client = Client::try_from(config).unwrap();
    let nss = Api::<Namespace>::all(client)
        .list(&ListParams::default())
        .await
        .unwrap();
    assert!(nss.items.iter().any(|n| n.name_any() == "default"));

    let yaml = std::fs::read_to_string(&path).unwrap();
    let token = yaml
        .lines()
        .find_map(|l| l.trim().strip_prefix("token: "))
        .unwrap();
    let forged =
        kube::config::Kubeconfig::from_yaml(&yaml.replace(token, "not-the-token")).unwrap();
    let config = kube::Config::from_custom_kubeconfig(forged, &options)
        .await
        .unwrap();
    let client = Client::try_from(config).unwrap();
    let r = Api::<Namespace>::all(client)
        .list(&ListParams::default())
        .await;
    assert_eq!(api_error(r).0, 401);
}

/// What a watcher stream reported, in order.
fn record(log: &Arc<Mutex<Vec<String>>>, entry: String) {
    log.lock().unwrap().push(entry);
}

#[tokio::test]
async fn reflector_follows_changes_and_relists_after_410_across_a_restart() {
    let server = ApiServer::start().await;
    let client = server.client().await;
    let api = Api::<Service>::namespaced(client.clone(), "default");
    let pp = PostParams::default();
    api.create(&pp, &service("old", json!({}))).await.unwrap();

    let (reader, writer) = reflector::store::<Service>();
    let events = Arc::new(Mutex::new(Vec::new()));
    let log = events.clone();
    let stream = watcher(
        Api::<Service>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(writer);
    let task = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(ev) = stream.next().await {
            let entry = match ev {
                Ok(watcher::Event::Apply(s)) => format!("apply {}", s.name_any()),
                Ok(watcher::Event::Delete(s)) => format!("delete {}", s.name_any()),
                Ok(watcher::Event::Init) => "init".to_string(),
                Ok(watcher::Event::InitApply(s)) => format!("init-apply {}", s.name_any()),
                Ok(watcher::Event::InitDone) => "init-done".to_string(),
                Err(kube::runtime::watcher::Error::WatchError(e)) => {
                    format!("watch-error {}", e.code)
                }
                Err(e) => format!("error {e}"),
            };
            record(&log, entry);
        }
    });
    let store_names = || {
        let mut v: Vec<String> = reader.state().iter().map(|s| s.name_any()).collect();
        v.sort();
        v
    };
    eventually("the initial list", || store_names() == ["old"]).await;

    api.create(&pp, &service("web", json!({}))).await.unwrap();
    let patch = Patch::Merge(json!({"metadata": {"labels": {"tier": "front"}}}));
    api.patch("web", &PatchParams::default(), &patch)
        .await
        .unwrap();
    eventually("the label", || {
        reader
            .state()
            .iter()
            .any(|s| s.labels().get("tier").map(String::as_str) == Some("front"))
    })
    .await;
    api.delete("web", &DeleteParams::default()).await.unwrap();
    eventually("the delete", || store_names() == ["old"]).await;
    let seen = events.lock().unwrap().clone();
    for expected in [
        "init",
        "init-apply old",
        "init-done",
        "apply web",
        "delete web",
    ] {
        assert!(
            seen.contains(&expected.to_string()),
            "{expected} missing from {seen:?}"
        );
    }
    assert_eq!(
        seen.iter().filter(|e| *e == "apply web").count(),
        2,
        "{seen:?}"
    );

    // Down: the watch connection is cut; a delete and a create happen; history is compacted.
    let lists_before = list_requests(&server);
    server.stop().await;
    assert!(server.remove("/api/v1/namespaces/default/services/old"));
    server.insert(
        "/api/v1/namespaces/default/services/new",
        serde_json::to_value(service("new", json!({}))).unwrap(),
    );
    server.compact();
    server.restart().await;
    eventually("convergence after the restart", || store_names() == ["new"]).await;
    assert!(
        list_requests(&server) > lists_before,
        "no relist: {:?}",
        server.requests()
    );
    let seen = events.lock().unwrap().clone();
    assert!(
        seen.contains(&"watch-error 410".to_string()),
        "no 410 in {seen:?}"
    );
    task.abort();
}

fn list_requests(server: &ApiServer) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.starts_with("GET /api/v1/services") && !r.contains("watch=true"))
        .count()
}

#[tokio::test]
async fn raw_watch_replays_history_sends_bookmarks_and_expires_after_compaction() {
    let server = ApiServer::start().await;
    let client = server.client().await;
    let api = Api::<Service>::namespaced(client.clone(), "default");
    let pp = PostParams::default();
    let start = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    api.create(&pp, &service("one", json!({"sel": "yes"})))
        .await
        .unwrap();
    api.create(&pp, &service("two", json!({}))).await.unwrap();

    let wp = WatchParams {
        bookmarks: true,
        ..WatchParams::default()
    }
    .labels("sel=yes");
    let mut stream = api.watch(&wp, &start).await.unwrap().boxed();
    let mut kinds = Vec::new();
    while kinds.len() < 2 {
        let ev = tokio::time::timeout(Duration::from_secs(10), stream.next()).await;
        match ev.expect("an event in time").expect("stream open").unwrap() {
            WatchEvent::Added(s) => kinds.push(format!("added {}", s.name_any())),
            WatchEvent::Bookmark(b) => {
                kinds.push(format!("bookmark {}", b.metadata.resource_version))
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        kinds[0], "added one",
        "replay, filtered by label: {kinds:?}"
    );
    assert_eq!(kinds[1], format!("bookmark {}", server.resource_version()));

    server.compact();
    let mut expired = api
        .watch(&WatchParams::default(), &start)
        .await
        .unwrap()
        .boxed();
    match expired.next().await.expect("one event").unwrap() {
        WatchEvent::Error(e) => {
            assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
            assert!(
                e.message.starts_with("too old resource version"),
                "{}",
                e.message
            );
        }
        other => panic!("expected a 410, got {other:?}"),
    }
    assert!(
        expired.next().await.is_none(),
        "the stream ends after the 410"
    );
}

#[tokio::test]
async fn status_apply_writes_only_status_through_the_status_subresource() {
    let server = ApiServer::start().await;
    let client = server.client().await;
    let api = Api::<Service>::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &service("web", json!({})))
        .await
        .unwrap();

    let status = Patch::Apply(json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"type": "ClusterIP"},
        "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}},
    }));
    let applied = api
        .patch_status("web", &PatchParams::apply("ferrolb").force(), &status)
        .await
        .unwrap();
    let ingress = applied
        .status
        .unwrap()
        .load_balancer
        .unwrap()
        .ingress
        .unwrap();
    assert_eq!(ingress[0].ip.as_deref(), Some("192.0.2.10"));
    assert_eq!(
        applied.spec.unwrap().type_.as_deref(),
        Some("LoadBalancer"),
        "spec is not status"
    );
    let managers = applied.metadata.managed_fields.unwrap();
    assert!(managers
        .iter()
        .any(|m| m.manager.as_deref() == Some("ferrolb")
            && m.operation.as_deref() == Some("Apply")
            && m.subresource.as_deref() == Some("status")));
    assert!(
        server.requests().iter().any(|r| r
            .starts_with("PATCH /api/v1/namespaces/default/services/web/status?")
            && r.contains("fieldManager=ferrolb")),
        "{:?}",
        server.requests()
    );

    let sneaky = Patch::Merge(json!({
        "spec": {"type": "NodePort"},
        "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.66"}]}},
    }));
    let merged = api
        .patch("web", &PatchParams::default(), &sneaky)
        .await
        .unwrap();
    assert_eq!(merged.spec.unwrap().type_.as_deref(), Some("NodePort"));
    let stored = server
        .object("/api/v1/namespaces/default/services/web")
        .unwrap();
    assert_eq!(
        stored["status"]["loadBalancer"]["ingress"][0]["ip"],
        "192.0.2.10"
    );

    // Server-side apply without a field manager is refused, as by the real server.
    let req = hyper::Request::builder()
        .method("PATCH")
        .uri("/api/v1/namespaces/default/services/web")
        .header("content-type", "application/apply-patch+yaml")
        .body(br#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"web"}}"#.to_vec())
        .unwrap();
    assert_eq!(api_error(client.request_text(req).await).0, 400);
    // A JSON patch (RFC 6902) on the main resource.
    let ops: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/spec/type", "value": "NodePort"},
        {"op": "add", "path": "/metadata/labels", "value": {"patched": "json"}},
    ]))
    .unwrap();
    let patched = api
        .patch("web", &PatchParams::default(), &Patch::Json::<()>(ops))
        .await
        .unwrap();
    assert_eq!(
        patched.labels().get("patched").map(String::as_str),
        Some("json")
    );
}
