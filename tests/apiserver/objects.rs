//! Objects and tools: Lease conflicts, garbage collection, ferrolb CRDs, server-side apply and
//! finalizers, streaming lists, kubectl, a blocked test thread, kube's event Recorder.

use crate::common::apiserver::ApiServer;
use crate::helpers::*;
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

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
    let kubectl = crate::common::kubectl();
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
