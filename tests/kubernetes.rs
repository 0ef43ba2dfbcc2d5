//! Kubernetes mode against the in-process API server: `ferrolb run` processes with a
//! `[kubernetes]` table, talking to it through a kubeconfig like to any cluster. The allocator
//! side: restart without churn, node addresses refused, dual-stack policies, Lease handover.
//! (The speaker side against a real BIRD is in tests/kubernetes_bird.rs.)

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use common::cluster::{eventually, pool, ready, terminate, Cluster, NS};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, Patch, PatchParams};

const WAIT: Duration = Duration::from_secs(60);

async fn assigned(c: &Cluster, names: &[String]) -> BTreeMap<String, Vec<IpAddr>> {
    let names = names.to_vec();
    eventually("every Service to get an address", WAIT, || async {
        let all = c.addresses().await;
        names
            .iter()
            .all(|n| all.get(n).is_some_and(|a| !a.is_empty()))
            .then_some(all)
    })
    .await
}

fn flat(m: &BTreeMap<String, Vec<IpAddr>>) -> Vec<IpAddr> {
    m.values().flatten().copied().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_allocator_keeps_every_address_and_never_hands_out_one_still_held() {
    let c = Cluster::new().await;
    c.create(pool("main", &["198.51.100.0/24", "203.0.113.0/25"]))
        .await;
    let first: Vec<String> = (0..250).map(|i| format!("svc-{i:03}")).collect();
    for n in &first {
        c.service(n, "", "").await;
    }
    // A Service being deleted (held by a finalizer) still holds its address.
    c.service("lingering", "", "").await;
    let api = c.services();
    api.patch(
        "lingering",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"metadata": {"finalizers": ["example.com/hold"]}})),
    )
    .await
    .expect("add a finalizer");

    let (mut a, port_a) = c.node("node-a", None, 4, "", "listen = \"\"");
    eventually("node-a to answer /readyz", WAIT, || async {
        ready(port_a).filter(|r| *r)
    })
    .await;
    let mut all = first.clone();
    all.push("lingering".into());
    let before = assigned(&c, &all).await;
    let addrs = flat(&before);
    assert_eq!(addrs.len(), 251);
    assert_eq!(
        addrs.iter().collect::<BTreeSet<_>>().len(),
        251,
        "distinct addresses"
    );
    assert_eq!(c.lease_holder().as_deref(), Some("node-a"));
    let status_writes = c
        .api
        .requests()
        .iter()
        .filter(|r| {
            r.starts_with("PATCH /api/v1/namespaces/default/services/") && r.contains("/status?")
        })
        .count();
    assert!(
        status_writes >= 251,
        "status goes through the status subresource"
    );

    assert_eq!(terminate(&mut a).await, Some(0), "{}", a.log_text());
    // While no allocator runs: 5 deleted, 20 created, and `lingering` is being deleted.
    let gone = ["svc-000", "svc-050", "svc-100", "svc-150", "svc-249"];
    for n in gone {
        c.delete_service(n).await;
    }
    c.delete_service("lingering").await;
    let new: Vec<String> = (0..20).map(|i| format!("new-{i:02}")).collect();
    for n in &new {
        c.service(n, "", "").await;
    }
    let (_b, _) = c.node("node-b", None, 4, "", "listen = \"\"");
    let after = assigned(&c, &new).await;

    for (name, was) in &before {
        if gone.contains(&name.as_str()) {
            assert!(!after.contains_key(name));
            continue;
        }
        assert_eq!(after.get(name), Some(was), "{name} moved");
    }
    let new_addrs: Vec<IpAddr> = new.iter().flat_map(|n| after[n].clone()).collect();
    assert_eq!(new_addrs.len(), 20);
    let held: BTreeSet<IpAddr> = before
        .iter()
        .filter(|(n, _)| !gone.contains(&n.as_str()))
        .flat_map(|(_, a)| a.clone())
        .collect();
    assert!(held.contains(&before["lingering"][0]));
    let distinct: BTreeSet<IpAddr> = new_addrs.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        20,
        "new addresses are distinct: {new_addrs:?}"
    );
    assert!(
        distinct.is_disjoint(&held),
        "a new Service got an address still held (the lingering Service's included)"
    );
    assert_eq!(c.lease_holder().as_deref(), Some("node-b"));
    let lingering = api.get("lingering").await.expect("still in the API");
    assert!(lingering.metadata.deletion_timestamp.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_says_not_ready_until_every_watch_has_synced() {
    let c = Cluster::new().await;
    c.create(pool("main", &["198.51.100.0/28"])).await;
    c.service("web", "", "").await;
    c.api.stop().await;
    let (_a, port) = c.node("node-a", None, 4, "", "listen = \"\"");
    eventually("the HTTP endpoint to answer", WAIT, || async {
        (!ready(port)?).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(ready(port), Some(false), "not ready without the API server");
    c.api.restart().await;
    eventually("/readyz to say ready", WAIT, || async {
        ready(port).filter(|r| *r)
    })
    .await;
    let got = assigned(&c, &["web".to_string()]).await;
    // /status lists the Service with the address from its status (no session: nobody
    // announces it). A Service is listed before it has an address too (with the reason), so
    // wait for the address.
    let report = eventually(
        "/status to list default/web with its address",
        WAIT,
        || async {
            let r = ferrolb::http::fetch_status(&format!("http://127.0.0.1:{port}"))
                .await
                .ok()?;
            r.services
                .iter()
                .any(|s| s.name == "default/web" && !s.addresses.is_empty())
                .then_some(r)
        },
    )
    .await;
    let names: Vec<&str> = report.services.iter().map(|s| s.name.as_str()).collect();
    let mut unique = names.clone();
    unique.dedup();
    assert_eq!(names, unique, "each Service once in /status: {report:?}");
    let web = report
        .services
        .iter()
        .find(|s| s.name == "default/web")
        .expect("listed");
    assert_eq!(web.addresses, got["web"], "{report:?}");
    assert_eq!(web.pool.as_deref(), Some("main"));
    assert!(web.announced_by.is_empty());
    assert_eq!(
        web.reason.as_deref(),
        Some("no BGPAdvertisement or L2Advertisement for this node selects its pool"),
        "{web:?}"
    );
    assert_eq!(report.node, "node-a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_that_stops_being_a_load_balancer_gives_its_address_back() {
    let c = Cluster::new().await;
    c.create(pool("main", &["198.51.100.0/30"])).await;
    c.service("web", "", "").await;
    let (_a, _) = c.node("node-a", None, 4, "", "listen = \"\"");
    let got = assigned(&c, &["web".to_string()]).await;
    c.services()
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"type": "ClusterIP"}})),
        )
        .await
        .expect("make it a ClusterIP Service");
    eventually("web's status to be cleared", WAIT, || async {
        c.addresses().await["web"].is_empty().then_some(())
    })
    .await;
    c.service("next", "", "").await;
    let next = assigned(&c, &["next".to_string()]).await;
    assert_eq!(
        next["next"], got["web"],
        "the lowest free address is web's old one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_holding_a_node_address_is_refused_with_an_event() {
    let c = Cluster::new().await;
    c.api.insert(
        "/api/v1/nodes/worker-1",
        serde_json::json!({
            "metadata": {"name": "worker-1"},
            "status": {"addresses": [
                {"type": "InternalIP", "address": "198.51.100.7"},
                {"type": "Hostname", "address": "worker-1"},
            ]},
        }),
    );
    c.create(pool("clash", &["198.51.100.0/28"])).await;
    c.create(pool("good", &["203.0.113.16/28"])).await;
    c.service("wants-clash", "", "ferrolb.io/address-pool: clash")
        .await;
    c.service("any", "", "").await;
    let (_a, _) = c.node("node-a", None, 4, "", "listen = \"\"");
    let got = assigned(&c, &["any".to_string()]).await;
    assert!(got["any"]
        .iter()
        .all(|a| a.to_string().starts_with("203.0.113.")));
    let events = eventually("the pool and the Service to get Events", WAIT, || async {
        let ev = c.events(NS).await;
        let svc_ev = c.events("default").await;
        let pool_ev = ev
            .iter()
            .find(|(o, r, _)| o == "clash" && r == "AllocationFailed")
            .cloned();
        let failed = svc_ev
            .iter()
            .find(|(o, r, _)| o == "wants-clash" && r == "AllocationFailed")
            .cloned();
        Some((pool_ev?, failed?))
    })
    .await;
    assert!(events.0 .2.contains("198.51.100.7"), "{:?}", events.0);
    assert!(c.addresses().await["wants-clash"].is_empty());
    assert!(
        flat(&c.addresses().await)
            .iter()
            .all(|a| !a.to_string().starts_with("198.51.100.")),
        "nothing from the refused pool"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dual_stack_policies_follow_the_pools_and_survive_a_restart() {
    let c = Cluster::new().await;
    c.create(pool("v4", &["198.51.100.0/28"])).await;
    let families = "  ipFamilies: [IPv4, IPv6]\n";
    c.service(
        "prefer",
        &format!("  ipFamilyPolicy: PreferDualStack\n{families}"),
        "",
    )
    .await;
    c.service(
        "require",
        &format!("  ipFamilyPolicy: RequireDualStack\n{families}"),
        "",
    )
    .await;
    let (mut a, _) = c.node("node-a", None, 4, "", "listen = \"\"");
    let got = assigned(&c, &["prefer".to_string()]).await;
    assert_eq!(got["prefer"].len(), 1);
    assert!(got["prefer"][0].is_ipv4());
    let reasons = eventually("Events for both Services", WAIT, || async {
        let ev = c.events("default").await;
        let p = ev
            .iter()
            .find(|(o, r, _)| o == "prefer" && r == "IPAllocated")
            .cloned();
        let r = ev
            .iter()
            .find(|(o, r, _)| o == "require" && r == "AllocationFailed")
            .cloned();
        Some((p?, r?))
    })
    .await;
    assert!(
        reasons.1 .2.to_lowercase().contains("ipv6"),
        "{:?}",
        reasons.1
    );
    assert!(c.addresses().await["require"].is_empty());

    // Restart: nothing changes.
    assert_eq!(terminate(&mut a).await, Some(0), "{}", a.log_text());
    let (mut b, _) = c.node("node-b", None, 4, "", "listen = \"\"");
    c.service("canary", "", "").await;
    assigned(&c, &["canary".to_string()]).await;
    let now = c.addresses().await;
    assert_eq!(now["prefer"], got["prefer"]);
    assert!(now["require"].is_empty());

    // An IPv6 pool appears: both get their IPv6 address, prefer keeps its IPv4 one.
    c.create(pool("v6", &["2001:db8:100::/120"])).await;
    let dual = eventually("both Services to be dual-stack", WAIT, || async {
        let all = c.addresses().await;
        (all["prefer"].len() == 2 && all["require"].len() == 2).then_some(all)
    })
    .await;
    assert!(dual["prefer"].contains(&got["prefer"][0]));
    assert!(dual["require"].iter().any(IpAddr::is_ipv6));
    assert_eq!(terminate(&mut b).await, Some(0), "{}", b.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_holder_is_replaced_within_the_lease_and_nothing_moves() {
    let c = Cluster::new().await;
    c.create(pool("main", &["198.51.100.0/26"])).await;
    let names: Vec<String> = (0..10).map(|i| format!("svc-{i}")).collect();
    for n in &names {
        c.service(n, "", "").await;
    }
    let lease = 3;
    let (a, _) = c.node("node-a", None, lease, "", "listen = \"\"");
    let before = assigned(&c, &names).await;
    let (_b, port_b) = c.node("node-b", None, lease, "", "listen = \"\"");
    eventually("node-b to be ready", WAIT, || async {
        ready(port_b).filter(|r| *r)
    })
    .await;
    assert_eq!(
        c.lease_holder().as_deref(),
        Some("node-a"),
        "node-b follows"
    );

    let lease_path =
        format!("/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/ferrolb-allocator");
    let last = c.api.object(&lease_path).expect("the Lease");
    a.signal("KILL");
    let requests_at_kill = c.api.requests().len();
    let last_renew = last["spec"]["renewTime"]
        .as_str()
        .expect("renewTime")
        .to_string();
    let taken = eventually("node-b to take the Lease over", WAIT, || async {
        let l = c.api.object(&lease_path)?;
        (l["spec"]["holderIdentity"] == "node-b").then_some(l)
    })
    .await;
    let acquired = taken["spec"]["acquireTime"].as_str().expect("acquireTime");
    let parse =
        |t: &str| k8s_openapi::chrono::DateTime::parse_from_rfc3339(t).expect("RFC 3339 time");
    // The renewal read before the kill may be one period old; node-a may have renewed once
    // more before dying, which only makes the gap smaller.
    let gap = parse(acquired) - parse(&last_renew);
    println!(
        "takeover {} ms after the last renewal seen (lease {lease} s)",
        gap.num_milliseconds()
    );
    assert!(
        gap.num_milliseconds() <= i64::from(lease) * 1000 + 3 * 1000 / 5 + 200,
        "took over {gap:?} after the last renewal seen"
    );
    assert_eq!(taken["spec"]["leaseTransitions"], 1);

    c.service("after", "", "").await;
    let after = assigned(&c, &["after".to_string()]).await;
    for n in &names {
        assert_eq!(after[n], before[n], "{n} moved");
    }
    assert!(!flat(&before).contains(&after["after"][0]));
    let moved: Vec<String> = c.api.requests()[requests_at_kill..]
        .iter()
        .filter(|r| r.contains("/status?") && !r.contains("/services/after/"))
        .cloned()
        .collect();
    assert!(
        moved.is_empty(),
        "status writes to existing Services after the handover: {moved:?}"
    );

    let svc: Api<Service> = c.services();
    let got = svc.get("after").await.expect("get");
    let fm: Vec<String> = got
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(fm.contains(&"ferrolb-allocator".to_string()), "{fm:?}");
}

/// `ferrolb crds | kubectl apply -f -` (dry runs on the client and on the server, then for real),
/// then the deployment and the examples, with kubectl 1.20 against the test API server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_the_generated_crds_the_deployment_and_the_examples() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let api = common::apiserver::ApiServer::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    api.kubeconfig(&kubeconfig);
    let kubectl = common::kubectl();
    let crds = Command::new(env!("CARGO_BIN_EXE_ferrolb"))
        .arg("crds")
        .output()
        .expect("ferrolb crds");
    assert!(crds.status.success());
    let apply = |args: &[&str], stdin: Option<&[u8]>| {
        let mut child = Command::new(&kubectl)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--cache-dir")
            .arg(dir.path().join("cache"))
            .arg("apply")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input)
                .expect("pipe into kubectl");
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().expect("kubectl output");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "kubectl apply {args:?}: {text}");
        text
    };
    for mode in ["--dry-run=client", "--dry-run=server"] {
        let out = apply(&[mode, "-f", "-"], Some(&crds.stdout));
        assert_eq!(out.matches("dry run)").count(), 6, "{out}");
    }
    assert!(api
        .object("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/ipaddresspools.ferrolb.io")
        .is_none());
    apply(&["-f", "-"], Some(&crds.stdout));
    let deploy = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy");
    let out = apply(&["-f", &format!("{deploy}/ferrolb.yaml")], None);
    assert!(out.contains("daemonset.apps/ferrolb created"), "{out}");
    let out = apply(
        &["--dry-run=server", "-f", &format!("{deploy}/examples/")],
        None,
    );
    assert!(out.contains("ipaddresspool.ferrolb.io"), "{out}");
    assert!(out.contains("bgppeer.ferrolb.io"), "{out}");
    assert!(out.contains("bgpadvertisement.ferrolb.io"), "{out}");
}

/// Without the CRDs the node says what is missing and stays not ready; it assigns nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_crds_are_named_and_the_node_stays_not_ready() {
    let api = common::apiserver::ApiServer::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    api.kubeconfig(&kubeconfig);
    let c = Cluster {
        client: api.client().await,
        kubeconfig,
        dir,
        api,
    };
    c.service("web", "", "").await;
    let (a, port) = c.node("node-a", None, 4, "", "listen = \"\"");
    let deadline = std::time::Instant::now() + WAIT;
    while !a
        .log_text()
        .contains("is the CRD installed? kubectl apply -f deploy/crds.yaml")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no hint in the log:\n{}",
            a.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ready(port), Some(false));
    assert!(c.addresses().await["web"].is_empty());
}

/// A holder that finds someone else in the Lease stops writing at once, and takes the Lease
/// again only after that holder's Lease has run out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_that_loses_the_lease_stops_writing() {
    let c = Cluster::new().await;
    c.create(pool("main", &["198.51.100.0/28"])).await;
    c.service("first", "", "").await;
    let lease = 3;
    let (a, _) = c.node("node-a", None, lease, "", "listen = \"\"");
    assigned(&c, &["first".to_string()]).await;
    let path = format!("/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/ferrolb-allocator");
    // Another pod wins the Lease (as if node-a's renewals had been lost), for 10 s.
    let mut l = c.api.object(&path).expect("the Lease");
    l["spec"]["holderIdentity"] = "intruder".into();
    l["spec"]["leaseDurationSeconds"] = 10.into();
    l["spec"]["renewTime"] = common::apiserver::now_rfc3339().into();
    c.api.insert(&path, l);
    eventually("node-a to notice", WAIT, || async {
        a.log_text().contains("lost the Lease").then_some(())
    })
    .await;
    c.service("second", "", "").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        c.addresses().await["second"].is_empty(),
        "node-a wrote status without the Lease"
    );
    // The intruder never renews: after its 10 s node-a takes over and serves `second`.
    assigned(&c, &["second".to_string()]).await;
    assert_eq!(c.lease_holder().as_deref(), Some("node-a"));
}

/// Status writes and Events of the allocator in the test API server's request log.
fn writes(c: &Cluster) -> (usize, usize) {
    let requests = c.api.requests();
    let status = requests
        .iter()
        .filter(|r| r.starts_with("PATCH /api/v1/namespaces/default/services/"))
        .filter(|r| r.split('?').next().is_some_and(|p| p.ends_with("/status")))
        .count();
    let events = requests
        .iter()
        .filter(|r| r.starts_with("POST ") || r.starts_with("PATCH "))
        .filter(|r| r.contains("/apis/events.k8s.io/v1/"))
        .count();
    (status, events)
}

/// A burst costs one status write and at most one Event per Service; a deletion frees its
/// address for the oldest Service still waiting, and the others are not written again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_writes_each_status_once_and_a_deletion_serves_the_oldest_waiting() {
    let c = Cluster::new().await;
    c.create(pool("main", &["198.51.100.0/29"])).await;
    let names: Vec<String> = (0..10).map(|i| format!("svc-{i:02}")).collect();
    for n in &names {
        c.service(n, "", "").await;
    }
    let (_a, _) = c.node("node-a", None, 4, "", "listen = \"\"");
    let got = assigned(&c, &names[..8]).await;
    // The two left over fail (exhausted): an Event each, no status write.
    eventually("the exhausted Services' Events", WAIT, || async {
        let events = c.events("default").await;
        names[8..]
            .iter()
            .all(|n| {
                events
                    .iter()
                    .any(|(o, r, _)| o == n && r == "AllocationFailed")
            })
            .then_some(())
    })
    .await;
    assert!(
        got["svc-08"].is_empty() && got["svc-09"].is_empty(),
        "{got:?}"
    );
    let (status, events) = writes(&c);
    assert_eq!(status, 8, "one status write per assigned Service");
    assert!(events <= 10, "at most one Event per Service: {events}");

    c.delete_service("svc-03").await;
    let freed = got["svc-03"].clone();
    let after = assigned(&c, &["svc-08".to_string()]).await;
    assert_eq!(
        after["svc-08"], freed,
        "the freed address goes to the oldest waiting"
    );
    assert!(after["svc-09"].is_empty());
    // A moment for anything else it might (wrongly) write.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, _) = writes(&c);
    assert_eq!(status, 9, "only svc-08 was written after the deletion");
}
