//! Self-test of the in-process API server (tests/common/apiserver), driven with the real kube
//! client configured the way the daemon configures it (rustls with ring, a kubeconfig).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::apiserver::ApiServer;
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

/// Polls `cond` every 50 ms for up to 15 s.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..300 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn service(name: &str, labels: serde_json::Value) -> Service {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]},
    }))
    .expect("a Service")
}

async fn namespace(client: &Client, name: &str) {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).expect("ns");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
}

/// Installs ferrolb's CustomResourceDefinitions (`ferrolb crds`).
async fn install_crds(client: &Client) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    for crd in ferrolb::watch::crds::all() {
        crds.create(&PostParams::default(), &crd)
            .await
            .expect("install a CRD");
    }
}

/// The API error code and reason of a failed call.
fn api_error<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> (u16, String) {
    match r {
        Err(kube::Error::Api(e)) => (e.code, e.reason),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn names(list: &[Service]) -> Vec<String> {
    let mut v: Vec<String> = list
        .iter()
        .map(|s| format!("{}/{}", s.namespace().unwrap_or_default(), s.name_any()))
        .collect();
    v.sort();
    v
}

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

#[tokio::test]
async fn lease_replace_with_a_stale_resource_version_conflicts() {
    let server = ApiServer::start().await;
    let client = server.client().await;
    let leases = Api::<Lease>::namespaced(client, "kube-node-lease");
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": "ferrolb-allocator"},
        "spec": {"holderIdentity": "node-a", "leaseDurationSeconds": 15},
    }))
    .unwrap();
    let created = leases.create(&PostParams::default(), &lease).await.unwrap();
    let mut renewed = created.clone();
    renewed.spec.as_mut().unwrap().lease_transitions = Some(1);
    let renewed = leases
        .replace("ferrolb-allocator", &PostParams::default(), &renewed)
        .await
        .unwrap();
    assert_ne!(renewed.resource_version(), created.resource_version());

    let mut stale = created.clone();
    stale.spec.as_mut().unwrap().holder_identity = Some("node-b".into());
    let r = leases
        .replace("ferrolb-allocator", &PostParams::default(), &stale)
        .await;
    assert_eq!(api_error(r), (409, "Conflict".to_string()));
    let now = leases.get("ferrolb-allocator").await.unwrap();
    assert_eq!(now.spec.unwrap().holder_identity.as_deref(), Some("node-a"));
    assert_eq!(
        api_error(
            leases
                .replace("absent", &PostParams::default(), &lease)
                .await
        )
        .0,
        404
    );
}

#[tokio::test]
async fn dependents_are_garbage_collected_when_their_owner_is_deleted() {
    let server = ApiServer::start().await;
    let client = server.client().await;
    let services = Api::<Service>::namespaced(client.clone(), "default");
    let maps = Api::<ConfigMap>::namespaced(client.clone(), "default");
    let pp = PostParams::default();
    let owner = services
        .create(&pp, &service("web", json!({})))
        .await
        .unwrap();
    let keeper: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "keeper"}})).unwrap();
    let keeper = maps.create(&pp, &keeper).await.unwrap();
    let owner_ref = |kind: &str, name: &str, uid: &str| json!({"apiVersion": "v1", "kind": kind, "name": name, "uid": uid});
    let web_ref = owner_ref("Service", "web", owner.metadata.uid.as_deref().unwrap());
    let keeper_ref = owner_ref(
        "ConfigMap",
        "keeper",
        keeper.metadata.uid.as_deref().unwrap(),
    );
    for (name, refs) in [
        ("only-web", json!([web_ref])),
        ("two-owners", json!([web_ref, keeper_ref])),
    ] {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": name, "ownerReferences": refs}}))
                .unwrap();
        maps.create(&pp, &cm).await.unwrap();
    }
    services
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(api_error(maps.get("only-web").await).0, 404);
    let survivor = maps.get("two-owners").await.unwrap();
    let refs = survivor.metadata.owner_references.unwrap();
    assert_eq!(
        refs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["keeper"]
    );
}

#[tokio::test]
async fn ferrolb_custom_resources_round_trip_and_are_discoverable() {
    use ferrolb::watch::crds::{IPAddressPool, IPAddressPoolSpec};
    let server = ApiServer::start().await;
    let client = server.client().await;
    namespace(&client, "ferrolb-system").await;
    let pools = Api::<IPAddressPool>::namespaced(client.clone(), "ferrolb-system");
    let spec = IPAddressPoolSpec {
        addresses: vec!["198.51.100.0/24".into()],
        auto_assign: Some(false),
        ..Default::default()
    };
    // Like a real server: the kind exists only once its CRD is installed.
    let before = pools
        .create(
            &PostParams::default(),
            &IPAddressPool::new("blue", spec.clone()),
        )
        .await;
    assert_eq!(api_error(before).0, 404);
    install_crds(&client).await;
    let created = pools
        .create(
            &PostParams::default(),
            &IPAddressPool::new("blue", spec.clone()),
        )
        .await
        .unwrap();
    assert_eq!(created.spec, spec);
    assert_eq!(pools.get("blue").await.unwrap().spec, spec);
    let listed = Api::<IPAddressPool>::all(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    pools
        .delete("blue", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(api_error(pools.get("blue").await).0, 404);

    let discovery = kube::Discovery::new(client).run().await.unwrap();
    let group = discovery
        .get("ferrolb.io")
        .expect("ferrolb.io is discovered");
    let kinds: Vec<String> = group
        .recommended_resources()
        .iter()
        .map(|(r, _)| r.kind.clone())
        .collect();
    assert!(kinds.contains(&"IPAddressPool".to_string()), "{kinds:?}");
    let leases = discovery
        .get("coordination.k8s.io")
        .expect("coordination.k8s.io");
    assert!(leases
        .recommended_resources()
        .iter()
        .any(|(r, _)| r.plural == "leases"));
}

#[tokio::test]
async fn apply_creates_then_merges_generation_follows_spec_and_finalizers_hold_deletion() {
    let server = ApiServer::start().await;
    let client = server.client().await;
    let api = Api::<Service>::namespaced(client.clone(), "default");
    let pp = PatchParams::apply("ferrolb");
    let body = |port: u16| {
        Patch::Apply(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "finalizers": ["ferrolb.io/test"]},
            "spec": {"ports": [{"port": port}]},
        }))
    };
    let created = api.patch("web", &pp, &body(80)).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert!(server
        .requests()
        .iter()
        .any(|r| r.starts_with("PATCH /api/v1/namespaces/default/services/web?")));
    let changed = api.patch("web", &pp, &body(81)).await.unwrap();
    assert_eq!(changed.metadata.generation, Some(2), "spec changed");
    let same = api.patch("web", &pp, &body(81)).await.unwrap();
    assert_eq!(
        same.resource_version(),
        changed.resource_version(),
        "a no-op write"
    );
    let status =
        Patch::Merge(json!({"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}}));
    let with_status = api
        .patch_status("web", &PatchParams::default(), &status)
        .await
        .unwrap();
    assert_eq!(
        with_status.metadata.generation,
        Some(2),
        "status is not spec"
    );

    api.delete("web", &DeleteParams::default()).await.unwrap();
    let held = api.get("web").await.expect("a finalizer holds the object");
    assert!(held.metadata.deletion_timestamp.is_some());
    let release = Patch::Merge(json!({"metadata": {"finalizers": null}}));
    api.patch("web", &PatchParams::default(), &release)
        .await
        .unwrap();
    assert_eq!(api_error(api.get("web").await).0, 404);
}

#[tokio::test]
async fn streaming_list_watcher_converges_like_list_then_watch() {
    let server = ApiServer::start().await;
    let client = server.client().await;
    let api = Api::<Service>::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &service("a", json!({})))
        .await
        .unwrap();
    let (reader, writer) = reflector::store::<Service>();
    let config = watcher::Config::default().streaming_lists();
    let stream = watcher(api.clone(), config)
        .default_backoff()
        .reflect(writer);
    let task = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while stream.next().await.is_some() {}
    });
    let names = || {
        let mut v: Vec<String> = reader.state().iter().map(|s| s.name_any()).collect();
        v.sort();
        v
    };
    eventually("the initial events", || names() == ["a"]).await;
    api.create(&PostParams::default(), &service("b", json!({})))
        .await
        .unwrap();
    eventually("the live event", || names() == ["a", "b"]).await;
    assert!(server
        .requests()
        .iter()
        .any(|r| r.contains("sendInitialEvents=true")));
    task.abort();
}

/// kubectl against the server: `$KUBECTL` (scripts/test.sh fetches Debian's kubectl 1.20 and
/// sets it), else `kubectl` on the PATH. A missing kubectl fails the test.
#[tokio::test(flavor = "multi_thread")]
async fn kubectl_apply_dry_run_client_and_server() {
    let kubectl = common::kubectl();
    let server = ApiServer::start().await;
    let client = server.client().await;
    namespace(&client, "ferrolb-system").await;
    install_crds(&client).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    server.kubeconfig(&kubeconfig);
    let manifest = dir.path().join("m.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: default\nspec:\n  type: LoadBalancer\n  ports:\n  - port: 80\n---\napiVersion: ferrolb.io/v1alpha1\nkind: IPAddressPool\nmetadata:\n  name: blue\n  namespace: ferrolb-system\nspec:\n  addresses: [\"198.51.100.0/24\"]\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(&kubectl)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--cache-dir")
            .arg(dir.path().join("cache"))
            .args(args)
            .output()
            .expect("kubectl runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("kubectl {args:?} -> {:?}\n{text}", out.status.code());
        (out.status.success(), text)
    };
    let m = manifest.to_str().unwrap();
    let variants: Vec<Vec<&str>> = vec![
        vec!["apply", "--dry-run=client", "-f", m],
        vec!["apply", "--dry-run=client", "--validate=false", "-f", m],
        vec!["apply", "--dry-run=server", "-f", m],
        vec!["apply", "--dry-run=server", "--validate=false", "-f", m],
    ];
    let mut results = Vec::new();
    for args in &variants {
        results.push(run(args).0);
    }
    assert!(
        server
            .object("/api/v1/namespaces/default/services/web")
            .is_none(),
        "a dry run stores nothing"
    );
    // For real, then a server-side dry run of a change to existing objects (a dry-run PATCH).
    results.push(run(&["apply", "-f", m]).0);
    let svc = "/api/v1/namespaces/default/services/web";
    assert_eq!(
        server.object(svc).expect("applied")["spec"]["ports"][0]["port"],
        80
    );
    let changed = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("port: 80", "port: 81");
    std::fs::write(&manifest, changed).unwrap();
    results.push(run(&["apply", "--dry-run=server", "-f", m]).0);
    assert_eq!(
        server.object(svc).unwrap()["spec"]["ports"][0]["port"],
        80,
        "dry run"
    );
    // For real: kubectl's strategic merge patch swaps the port (merged on the `port` key).
    results.push(run(&["apply", "-f", m]).0);
    let ports = server.object(svc).unwrap()["spec"]["ports"].clone();
    assert_eq!(ports.as_array().map(Vec::len), Some(1), "{ports}");
    assert_eq!(
        (ports[0]["port"].as_u64(), ports[0]["protocol"].as_str()),
        (Some(81), Some("TCP"))
    );
    assert!(
        ports[0]["nodePort"].is_u64(),
        "a new port gets a node port: {ports}"
    );
    results.push(run(&["get", "services", "-A"]).0);
    results.push(
        run(&[
            "get",
            "ipaddresspools",
            "-n",
            "ferrolb-system",
            "-o",
            "yaml",
        ])
        .0,
    );
    eprintln!("requests: {:#?}", server.requests());
    assert!(results.iter().all(|ok| *ok), "{results:?}");
}

/// The server has its own runtime: a test that blocks its thread (waiting for a daemon process
/// with `std::thread::sleep`, say) on a current-thread runtime does not stall it.
#[tokio::test]
async fn the_server_answers_while_the_test_thread_blocks() {
    let server = ApiServer::start().await;
    let yaml = server.kubeconfig_yaml();
    let other_process = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let kc = kube::config::Kubeconfig::from_yaml(&yaml).unwrap();
            let options = kube::config::KubeConfigOptions::default();
            let config = kube::Config::from_custom_kubeconfig(kc, &options)
                .await
                .unwrap();
            let client = Client::try_from(config).unwrap();
            let list = Api::<Namespace>::all(client)
                .list(&ListParams::default())
                .await;
            list.unwrap().items.len()
        })
    });
    let namespaces = other_process.join().expect("the other client finished");
    assert_eq!(
        namespaces, 4,
        "default, kube-system, kube-public, kube-node-lease"
    );
}

#[tokio::test]
async fn kube_event_recorder_creates_and_then_patches_a_series() {
    use k8s_openapi::api::events::v1::Event as K8sEvent;
    use kube::runtime::events::{Event, EventType, Recorder, Reporter};
    let server = ApiServer::start().await;
    let client = server.client().await;
    let services = Api::<Service>::namespaced(client.clone(), "default");
    let svc = services
        .create(&PostParams::default(), &service("web", json!({})))
        .await
        .unwrap();
    let reporter = Reporter {
        controller: "ferrolb".into(),
        instance: Some("node-a".into()),
    };
    let recorder = Recorder::new(client.clone(), reporter);
    let event = Event {
        type_: EventType::Normal,
        reason: "IPAllocated".into(),
        note: Some("192.0.2.10".into()),
        action: "Allocate".into(),
        secondary: None,
    };
    let reference = svc.object_ref(&());
    recorder.publish(&event, &reference).await.unwrap();
    recorder.publish(&event, &reference).await.unwrap();
    let events = Api::<K8sEvent>::namespaced(client, "default");
    let listed = events.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(listed.len(), 1, "the repeat is a series on the same object");
    assert_eq!(listed[0].reason.as_deref(), Some("IPAllocated"));
    assert_eq!(listed[0].series.as_ref().map(|s| s.count), Some(2));
}
