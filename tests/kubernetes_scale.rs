//! Kubernetes mode at scale against the in-process API server (issue 18): N LoadBalancer
//! Services, each with an EndpointSlice of one endpoint, two Nodes, one pool and one
//! BGPAdvertisement, shaped like a real cluster's objects (kubectl's last-applied annotation,
//! managedFields, cluster IPs and ports, Node images and conditions). Not a test: the ignored
//! harness `bench_kubernetes_scale`, run by bird-lab/bench-kubernetes.sh, prints a BENCH line.
//!
//! The objects are stored directly (`ApiServer::insert`, no request) and the statuses read from
//! the store, so every request the server logs after ferrolb starts is ferrolb's own.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{pool, Cluster, NS};
use serde_json::{json, Value};

const SVC: &str = "/api/v1/namespaces/default/services";
const SLICE: &str = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices";

/// The uid of Service `i` (its EndpointSlice's owner).
fn uid(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

/// A Service as `kubectl apply` leaves it (defaults filled in, last-applied annotation,
/// managedFields of the client-side apply).
fn service(i: usize) -> Value {
    let name = format!("svc-{i:05}");
    let applied = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"annotations": {}, "name": name, "namespace": "default",
                     "labels": {"app": name, "team": "bench"}},
        "spec": {"type": "LoadBalancer", "selector": {"app": name},
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
                           {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}]}
    });
    // Test-only cluster IPs, never a target: documentation range, reused.
    let cluster_ip = format!("198.51.100.{}", 1 + i % 250);
    json!({
        "metadata": {
            "name": name, "namespace": "default", "uid": uid(i),
            "labels": {"app": name, "team": "bench"},
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": applied.to_string() + "\n",
            },
            "managedFields": [{
                "manager": "kubectl-client-side-apply", "operation": "Update",
                "apiVersion": "v1", "time": "2026-12-01T00:00:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:annotations": {".": {},
                    "f:kubectl.kubernetes.io/last-applied-configuration": {}},
                    "f:labels": {".": {}, "f:app": {}, "f:team": {}}},
                  "f:spec": {"f:allocateLoadBalancerNodePorts": {}, "f:externalTrafficPolicy": {},
                    "f:internalTrafficPolicy": {},
                    "f:ports": {".": {}, "k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {},
                        "f:name": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {}},
                      "k:{\"port\":443,\"protocol\":\"TCP\"}": {".": {}, "f:name": {},
                        "f:port": {}, "f:protocol": {}, "f:targetPort": {}}},
                    "f:selector": {}, "f:sessionAffinity": {}, "f:type": {}}}
            }]
        },
        "spec": {
            "type": "LoadBalancer", "selector": {"app": name},
            "ports": [
                {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": 30000 + i % 2000},
                {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP", "nodePort": 32000 + i % 700}
            ],
            "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
            "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
            "sessionAffinity": "None", "externalTrafficPolicy": "Cluster",
            "internalTrafficPolicy": "Cluster", "allocateLoadBalancerNodePorts": true
        },
        "status": {"loadBalancer": {}}
    })
}

/// The EndpointSlice of Service `i` as the endpointslice controller writes it: one ready
/// endpoint on node-a.
fn slice(i: usize) -> Value {
    let name = format!("svc-{i:05}");
    let pod = format!("{name}-7d9f8b6c5-x{:04}", i % 10_000);
    json!({
        "metadata": {
            "name": format!("{name}-abcde"), "namespace": "default",
            "generateName": format!("{name}-"),
            "labels": {"kubernetes.io/service-name": name,
                       "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                       "app": name},
            "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": "2026-12-01T00:00:00Z"},
            "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": name,
                                 "uid": uid(i),
                                 "controller": true, "blockOwnerDeletion": true}],
            "managedFields": [{
                "manager": "kube-controller-manager", "operation": "Update",
                "apiVersion": "discovery.k8s.io/v1", "time": "2026-12-01T00:00:00Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:addressType": {}, "f:endpoints": {}, "f:metadata": {
                    "f:annotations": {".": {}, "f:endpoints.kubernetes.io/last-change-trigger-time": {}},
                    "f:generateName": {}, "f:labels": {".": {}, "f:app": {},
                      "f:endpointslice.kubernetes.io/managed-by": {}, "f:kubernetes.io/service-name": {}},
                    "f:ownerReferences": {".": {}, "k:{\"uid\":\"x\"}": {}}}, "f:ports": {}}
            }]
        },
        "addressType": "IPv4",
        "endpoints": [{
            "addresses": [format!("203.0.113.{}", 1 + i % 250)],
            "conditions": {"ready": true, "serving": true, "terminating": false},
            "nodeName": "node-a",
            "targetRef": {"kind": "Pod", "name": pod, "namespace": "default",
                          "uid": format!("10000000-0000-4000-8000-{i:012}")},
            "zone": "zone-a"
        }],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"},
                  {"name": "https", "port": 8443, "protocol": "TCP"}]
    })
}

/// A Node as the kubelet reports it (conditions, images, nodeInfo, capacity).
fn node(name: &str, ip: &str) -> Value {
    let images: Vec<Value> = (0..40)
        .map(|i| {
            json!({"names": [format!("registry.example/team/image-{i}@sha256:{:064x}", i),
                                  format!("registry.example/team/image-{i}:v1.{i}.0")],
                        "sizeBytes": 10_000_000 + i})
        })
        .collect();
    let conditions: Vec<Value> = ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
        .iter()
        .map(|t| {
            json!({"type": t, "status": if *t == "Ready" { "True" } else { "False" },
                        "lastHeartbeatTime": "2026-12-01T00:00:00Z",
                        "lastTransitionTime": "2026-12-01T00:00:00Z",
                        "reason": format!("Kubelet{t}"), "message": format!("kubelet reports {t}")})
        })
        .collect();
    json!({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                     "kubernetes.io/os": "linux", "topology.kubernetes.io/zone": "zone-a"},
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                     "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
        "spec": {"podCIDR": "198.51.100.0/28", "podCIDRs": ["198.51.100.0/28"]},
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "capacity": {"cpu": "2", "memory": "24Gi", "pods": "110"},
            "allocatable": {"cpu": "2", "memory": "23Gi", "pods": "110"},
            "conditions": conditions, "images": images,
            "nodeInfo": {"architecture": "amd64", "bootID": "b", "containerRuntimeVersion": "containerd://1.7.0",
                         "kernelVersion": "6.1.0", "kubeProxyVersion": "v1.30.0", "kubeletVersion": "v1.30.0",
                         "machineID": "m", "operatingSystem": "linux", "osImage": "Debian GNU/Linux 12",
                         "systemUUID": "s"}
        }
    })
}

fn has_status(o: &Value) -> bool {
    o["status"]["loadBalancer"]["ingress"]
        .as_array()
        .is_some_and(|a| !a.is_empty())
}

/// Service `i` and its EndpointSlice (owned by it: the garbage collector has nothing to do).
fn add(c: &Cluster, i: usize) {
    c.api
        .insert_uncollected(&format!("{SVC}/svc-{i:05}"), service(i));
    c.api
        .insert_uncollected(&format!("{SLICE}/svc-{i:05}-abcde"), slice(i));
}

/// (VmHWM, VmRSS) in kB, and user + system CPU seconds, of process `pid`.
fn usage(pid: u32) -> (u64, u64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |field: &str| {
        status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name's closing parenthesis; utime and stime are the 14th and
    // 15th of the whole line.
    let after: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| after.get(*i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (kb("VmHWM:"), kb("VmRSS:"), ticks / hz.max(1.0))
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: bird-lab/bench-kubernetes.sh"]
async fn bench_kubernetes_scale() {
    let n = env("K8S_SERVICES", 1000);
    let runs = env("K8S_RUNS", 7);
    let c = Cluster::new().await;
    c.create(pool("bench", &["198.18.0.0/15"])).await;
    c.api.insert(
        &format!("/apis/ferrolb.io/v1alpha1/namespaces/{NS}/bgpadvertisements/all"),
        json!({"spec": {}}),
    );
    c.api
        .insert("/api/v1/nodes/node-a", node("node-a", "192.0.2.10"));
    c.api
        .insert("/api/v1/nodes/node-b", node("node-b", "192.0.2.11"));
    for i in 0..n {
        add(&c, i);
    }
    assert_eq!(
        c.api.count_objects(SLICE, |_| true),
        n,
        "every EndpointSlice stored"
    );
    // ferrolb lists the current state; the setup's history is of no use to it.
    c.api.compact();
    let mark = c.api.request_count();

    let start = Instant::now();
    let (daemon, _port) = c.node("node-a", None, 15, "", "listen = \"\"");
    wait_until(
        "every Service to get its status",
        Duration::from_secs(1800),
        || c.api.count_objects(SVC, has_status) >= n,
    );
    let all_assigned = start.elapsed();
    std::thread::sleep(Duration::from_secs(3));

    let mut more = Vec::new();
    for r in 0..runs {
        let i = n + r;
        let t = Instant::now();
        add(&c, i);
        let path = format!("{SVC}/svc-{i:05}");
        wait_until(
            "one more Service to get its status",
            Duration::from_secs(120),
            || c.api.object(&path).is_some_and(|o| has_status(&o)),
        );
        more.push(t.elapsed().as_secs_f64() * 1000.0);
        std::thread::sleep(Duration::from_secs(1));
    }
    std::thread::sleep(Duration::from_secs(5));
    let (peak, rss, cpu) = usage(daemon.pid());
    let counts = c.api.request_counts(mark);
    let writes: usize = counts
        .iter()
        .filter(|(k, _)| !k.starts_with("GET ") && !k.starts_with("WATCH "))
        .map(|(_, v)| v)
        .sum();
    let total = n + runs;
    let by: Vec<String> = counts.iter().map(|(k, v)| format!("{k}={v}")).collect();
    more.sort_by(f64::total_cmp);
    let median = more[more.len() / 2];
    println!(
        "BENCH kubernetes services {n} all_assigned_s {:.2} more_median_ms {median:.1} more_max_ms {:.1} more_runs {runs} peak_rss_kb {peak} rss_kb {rss} cpu_s {cpu:.2} writes {writes} writes_per_service {:.2} requests {}",
        all_assigned.as_secs_f64(),
        more[more.len() - 1],
        writes as f64 / total as f64,
        by.join(","),
    );
    assert_eq!(
        c.api.count_objects(SVC, has_status),
        total,
        "{}",
        daemon.log_text()
    );
}

/// The harness counts on these two of the API server: lists come in pages with a continue
/// token (as kube's watcher asks, 500 at a time), and requests are counted by verb and
/// resource.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_come_in_pages_and_requests_are_counted_by_verb_and_resource() {
    use k8s_openapi::api::core::v1::Service;
    use kube::api::{Api, ListParams};
    let c = Cluster::new().await;
    for i in 0..7 {
        add(&c, i);
    }
    let mark = c.api.request_count();
    let api: Api<Service> = Api::namespaced(c.client.clone(), "default");
    let mut names = Vec::new();
    let mut pages = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut lp = ListParams::default().limit(3);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = api.list(&lp).await.expect("list a page");
        pages.push(page.items.len());
        names.extend(page.items.into_iter().filter_map(|s| s.metadata.name));
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, [3, 3, 1]);
    let expected: Vec<String> = (0..7).map(|i| format!("svc-{i:05}")).collect();
    assert_eq!(names, expected);
    let whole = api.list(&ListParams::default()).await.expect("list");
    assert_eq!(whole.items.len(), 7);
    assert!(whole.metadata.continue_.is_none_or(|t| t.is_empty()));
    let counts = c.api.request_counts(mark);
    assert_eq!(counts.get("GET services"), Some(&4), "{counts:?}");
    assert_eq!(counts.len(), 1, "{counts:?}");
}
