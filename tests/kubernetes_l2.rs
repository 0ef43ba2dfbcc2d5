//! The L2 fallback in Kubernetes mode: two ferrolb nodes (each in its own network namespace)
//! configured only through the test API server — IPAddressPool, L2Advertisement, Nodes with
//! their InternalIPs (the membership seeds), Services, EndpointSlices — answering ARP on the
//! lab bridge, asked by real `arping` from the router namespace (the client).
//!
//! At every step the ServiceAnnouncements of a Service name exactly the node whose MAC answers.
//! The API server runs in the router namespace on the router's lab address (as in
//! `kubernetes_bird.rs`).

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::apiserver::ApiServer;
use common::cluster::{eventually, in_router_ns, pool, yaml, Cluster, NS};
use common::l2::{arping, mac_of, node_dev};
use common::{node_addrs, Lab, ROUTER_V4};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams, Patch, PatchParams};

const WAIT: Duration = Duration::from_secs(60);

fn slice_on(service: &str, node: &str) -> EndpointSlice {
    yaml(&format!(
        "metadata: {{name: {service}-eps, namespace: default, labels: {{kubernetes.io/service-name: {service}}}}}\naddressType: IPv4\nendpoints: [{{addresses: [10.0.0.1], nodeName: {node}, conditions: {{ready: true}}}}]\nports: [{{port: 80}}]"
    ))
}

/// The nodes whose ServiceAnnouncement for `service` says mode l2 (with an interface).
async fn announced(c: &Cluster, service: &str) -> BTreeSet<String> {
    let sas: Api<ferrolb::watch::crds::ServiceAnnouncement> =
        Api::namespaced(c.client.clone(), "default");
    let Ok(l) = sas.list(&ListParams::default()).await else {
        return BTreeSet::new();
    };
    l.items
        .into_iter()
        .filter(|o| o.spec.service == service)
        .filter(|o| o.spec.mode == "l2" && !o.spec.interfaces.is_empty())
        .map(|o| o.spec.node)
        .collect()
}

/// The node names whose MAC `arping` gets for `ip`.
fn answering(lab: &Lab, macs: &[(String, String)], ip: &str) -> BTreeSet<String> {
    arping(lab, &lab.router_ns, "br0", ip)
        .into_iter()
        .map(|m| {
            macs.iter()
                .find(|(_, mac)| *mac == m)
                .map_or(format!("unknown MAC {m}"), |(n, _)| n.clone())
        })
        .collect()
}

/// Waits until `service` is answered by exactly `node` and its ServiceAnnouncements name
/// exactly `node`; then checks both once more (they must agree at every step).
async fn owned_by(
    c: &Cluster,
    lab: &Lab,
    macs: &[(String, String)],
    service: &str,
    ip: &str,
    node: &str,
) {
    let want = BTreeSet::from([node.to_string()]);
    eventually(
        &format!("{service} ({ip}) answered and announced by {node}"),
        WAIT,
        || async {
            let sa = announced(c, service).await;
            let mac = answering(lab, macs, ip);
            (sa == want && mac == want).then_some(())
        },
    )
    .await;
    for _ in 0..3 {
        assert_eq!(
            announced(c, service).await,
            want,
            "ServiceAnnouncements of {service}"
        );
        assert_eq!(answering(lab, macs, ip), want, "MACs answering {ip}");
    }
}

const NAMES: [&str; 2] = ["node-a", "node-b"];

/// The cluster on the router's lab address: pool `lan` (192.0.2.100-119) under an
/// L2Advertisement, the two Nodes with their InternalIPs; and the nodes' MACs.
async fn setup(lab: &Lab) -> (Cluster, Vec<(String, String)>) {
    let c = Cluster::serve(ApiServer::start_on(ROUTER_V4.parse().expect("ip")).await).await;
    c.create(pool("lan", &["192.0.2.100-192.0.2.119"])).await;
    c.create(yaml::<ferrolb::watch::crds::L2Advertisement>(&format!(
        "apiVersion: ferrolb.io/v1alpha1\nkind: L2Advertisement\nmetadata: {{name: lan, namespace: {NS}}}\nspec: {{ipAddressPools: [lan]}}"
    )))
    .await;
    for (i, name) in NAMES.iter().enumerate() {
        c.api.insert(
            &format!("/api/v1/nodes/{name}"),
            serde_json::json!({
                "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
                "status": {"addresses": [{"type": "InternalIP", "address": node_addrs(i).0}]},
            }),
        );
    }
    let macs = (0..2)
        .map(|i| {
            let ns = &lab.node_nss[i];
            (NAMES[i].to_string(), mac_of(lab, ns, &node_dev(lab, ns)))
        })
        .collect();
    (c, macs)
}

/// ferrolb in Kubernetes mode as lab node `i`, without `[cluster]`: the defaults (listen
/// 0.0.0.0:7946, advertise the Node's InternalIP, seeds the other Nodes' InternalIPs).
fn start_node(c: &Cluster, lab: &Lab, i: usize) -> common::Proc {
    let (v4, _) = node_addrs(i);
    c.node(
        NAMES[i],
        Some(&lab.node_nss[i]),
        4,
        &format!("router_id = \"{v4}\"\naddresses = [\"{v4}\"]"),
        "listen = \"\"",
    )
    .0
}

#[test]
fn l2advertisement_answers_follow_the_local_endpoint_and_announcements_name_the_answering_node() {
    let lab = Lab::with_nodes(2);
    in_router_ns(&lab, async {
        let (c, macs) = setup(&lab).await;
        let names = NAMES;
        let mut nodes: Vec<common::Proc> = (0..2).map(|i| start_node(&c, &lab, i)).collect();

        // Local policy: the node with the ready endpoint answers, and the answer follows it.
        c.service("local", "  externalTrafficPolicy: Local\n", "")
            .await;
        let local = c.address_of("local").await.to_string();
        let slices: Api<EndpointSlice> = Api::namespaced(c.client.clone(), "default");
        slices
            .create(&Default::default(), &slice_on("local", "node-a"))
            .await
            .expect("create the slice");
        owned_by(&c, &lab, &macs, "local", &local, "node-a").await;
        let events = c.events("default").await;
        assert!(
            events.iter().any(|(o, r, n)| o == "local"
                && r == "Announcing"
                && n.contains("answering ARP/NDP")
                && n.contains("node-a")),
            "{events:?}"
        );
        let mut s = slice_on("local", "node-b");
        let cur = slices.get("local-eps").await.expect("get the slice");
        s.metadata.resource_version = cur.metadata.resource_version;
        slices
            .replace("local-eps", &Default::default(), &s)
            .await
            .expect("move the endpoint");
        owned_by(&c, &lab, &macs, "local", &local, "node-b").await;
        eventually("node-a's Withdrawn Event for local", WAIT, || async {
            c.events("default")
                .await
                .iter()
                .any(|(o, r, n)| o == "local" && r == "Withdrawn" && n.contains("node-a"))
                .then_some(())
        })
        .await;

        // Cluster policy: exactly one node answers, and its ServiceAnnouncement says so.
        c.service("web", "", "").await;
        let web = c.address_of("web").await.to_string();
        let owner = eventually("one node to answer web", WAIT, || async {
            let a = answering(&lab, &macs, &web);
            (a.len() == 1).then(|| a.into_iter().next().unwrap_or_default())
        })
        .await;
        owned_by(&c, &lab, &macs, "web", &web, &owner).await;

        // The owner stops (SIGTERM): the other takes over and the announcements follow.
        let i = names.iter().position(|n| *n == owner).expect("a lab node");
        nodes[i].signal("TERM");
        owned_by(&c, &lab, &macs, "web", &web, names[1 - i]).await;

        // Back up; then the owner dies (SIGKILL): the survivor answers, and the dead node's
        // ServiceAnnouncement goes too (it cannot delete it itself).
        nodes[i] = start_node(&c, &lab, i);
        // It joins, listens for 1 s, then takes its share back: let that happen first.
        tokio::time::sleep(Duration::from_secs(4)).await;
        eventually("one node to answer web again", WAIT, || async {
            let a = answering(&lab, &macs, &web);
            (a.len() == 1 && announced(&c, "web").await == a).then_some(())
        })
        .await;
        let owner = answering(&lab, &macs, &web)
            .into_iter()
            .next()
            .unwrap_or_default();
        let k = names.iter().position(|n| *n == owner).expect("a lab node");
        nodes[k].signal("KILL");
        let other = names[1 - k];
        owned_by(&c, &lab, &macs, "web", &web, other).await;

        // An L2Advertisement limited by nodeSelectors: only node-a is eligible.
        let ads: Api<ferrolb::watch::crds::L2Advertisement> = Api::namespaced(c.client.clone(), NS);
        ads.patch(
            "lan",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"nodeSelectors": [{"matchLabels": {"kubernetes.io/hostname": "node-a"}}]}})),
        )
        .await
        .expect("patch the L2Advertisement");
        if other == "node-a" {
            owned_by(&c, &lab, &macs, "web", &web, "node-a").await;
        } else {
            eventually(
                "nobody to answer web (node-a stopped, node-b not selected)",
                WAIT,
                || async {
                    (answering(&lab, &macs, &web).is_empty()
                        && announced(&c, "web").await.is_empty())
                    .then_some(())
                },
            )
            .await;
        }
        drop(nodes.drain(..));
    });
}

/// Benchmark, not a test (`bird-lab/bench-l2.sh` runs it): from SIGKILL of the node answering
/// for a Service to the first gratuitous ARP from the other node, as the client sees it, in
/// Kubernetes mode; `L2_RUNS` times (default 20), the killed node restarted in between.
#[test]
#[ignore = "benchmark: bird-lab/bench-l2.sh"]
fn bench_failover_after_sigkill_kubernetes() {
    let runs: usize = std::env::var("L2_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let lab = Lab::with_nodes(2);
    in_router_ns(&lab, async {
        let (c, macs) = setup(&lab).await;
        let mut nodes: Vec<Option<common::Proc>> =
            (0..2).map(|i| Some(start_node(&c, &lab, i))).collect();
        c.service("web", "", "").await;
        let web = c.address_of("web").await;
        let std::net::IpAddr::V4(ip) = web else {
            panic!("an IPv4 pool")
        };
        let p = common::l2::Prober::new(&lab, &lab.router_ns, "br0", ROUTER_V4, common::ROUTER_V6);
        let mut ms = Vec::new();
        for run in 0..runs {
            let owner = eventually("one node to answer web", WAIT, || async {
                let a = answering(&lab, &macs, &web.to_string());
                let sa = announced(&c, "web").await;
                (a.len() == 1 && a == sa).then(|| a.into_iter().next().unwrap_or_default())
            })
            .await;
            let victim = NAMES.iter().position(|n| *n == owner).expect("a lab node");
            let survivor = common::l2::parse_mac(&macs[1 - victim].1);
            tokio::time::sleep(Duration::from_secs(5)).await;
            p.collect(Duration::from_millis(10));
            let proc = nodes[victim].take().expect("running");
            // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
            unsafe { libc::kill(proc.pid() as i32, libc::SIGKILL) };
            let killed = std::time::Instant::now();
            let mut at = None;
            while at.is_none() && killed.elapsed() < Duration::from_secs(10) {
                at = p
                    .collect(Duration::from_millis(20))
                    .iter()
                    .find(|h| {
                        h.is_gratuitous_request(ip, survivor) || h.is_gratuitous_reply(ip, survivor)
                    })
                    .map(|h| h.at);
            }
            drop(proc);
            let at = at.unwrap_or_else(|| panic!("run {run}: no gratuitous ARP for {ip}"));
            ms.push((at - killed).as_secs_f64() * 1000.0);
            nodes[victim] = Some(start_node(&c, &lab, victim));
        }
        ms.sort_by(f64::total_cmp);
        println!(
            "BENCH l2 failover kubernetes (SIGKILL -> first gratuitous ARP): runs {} median {:.0} ms max {:.0} ms min {:.0} ms all {ms:.0?}",
            ms.len(),
            ms[ms.len() / 2],
            ms[ms.len() - 1],
            ms[0]
        );
    });
}
