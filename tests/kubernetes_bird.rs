//! Kubernetes mode end to end: two ferrolb nodes (each in its own network namespace) configured
//! only through the test API server — BGPPeer, BGPAdvertisement, IPAddressPool, Services,
//! EndpointSlices — announcing to a real BIRD in the router namespace.
//!
//! The API server and this test's client run in the router namespace (every thread of the
//! test's runtime is moved there with setns(2)), listening on the router's lab address so both
//! nodes reach it over their links; nothing leaves the lab.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::apiserver::ApiServer;
use common::cluster::{eventually, in_router_ns, pool, terminate, yaml, Cluster, NS};
use common::routers::{Bird, BirdCtl, BirdOpts};
use common::{node_addrs, Lab, ROUTER_V4};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams};

const WAIT: Duration = Duration::from_secs(60);
const ROUTER_AS: u32 = 64500;

/// The prefixes BIRD has from each node (protocol `ferrolb` = node-a, `ferrolb1` = node-b).
fn per_node(bird: &BirdCtl) -> [BTreeSet<String>; 2] {
    ["ferrolb", "ferrolb1"].map(|p| bird.routes_of(p).into_iter().map(|r| r.prefix).collect())
}

fn host(ip: &str) -> String {
    format!("{ip}/32")
}

fn slice_on(service: &str, node: &str) -> EndpointSlice {
    yaml(&format!(
        "metadata: {{name: {service}-eps, namespace: default, labels: {{kubernetes.io/service-name: {service}}}}}\naddressType: IPv4\nendpoints: [{{addresses: [10.0.0.1], nodeName: {node}, conditions: {{ready: true}}}}]\nports: [{{port: 80}}]"
    ))
}

#[test]
fn services_reach_bird_follow_local_endpoints_and_survive_an_api_outage() {
    let lab = Lab::with_nodes(2);
    let bird = Bird::start_with(
        &lab,
        ROUTER_AS,
        64512,
        true,
        &BirdOpts {
            nodes: 2,
            ..BirdOpts::default()
        },
    );
    in_router_ns(&lab, scenario(&lab, &bird.ctl()));
}

/// A cluster served on the router's lab address, with the usual pool, peer and advertisement.
async fn lab_cluster(peer_extra: &str) -> Cluster {
    let c = Cluster::serve(ApiServer::start_on(ROUTER_V4.parse().expect("ip")).await).await;
    c.create(pool("public", &["198.51.100.0/24"])).await;
    c.create(yaml::<ferrolb::watch::crds::BGPPeer>(&format!(
        "apiVersion: ferrolb.io/v1alpha1\nkind: BGPPeer\nmetadata: {{name: router, namespace: {NS}}}\nspec: {{myASN: 64512, peerASN: {ROUTER_AS}, peerAddress: {ROUTER_V4}, holdTime: 9s, keepaliveTime: 3s{peer_extra}}}"
    )))
    .await;
    c.create(yaml::<ferrolb::watch::crds::BGPAdvertisement>(&format!(
        "apiVersion: ferrolb.io/v1alpha1\nkind: BGPAdvertisement\nmetadata: {{name: all, namespace: {NS}}}\nspec: {{}}"
    )))
    .await;
    c
}

/// Starts ferrolb as lab node `i` (node-a, node-b, ...).
fn lab_node(c: &Cluster, lab: &Lab, i: usize) -> common::Proc {
    let (v4, _) = node_addrs(i);
    let name = format!("node-{}", (b'a' + i as u8) as char);
    c.node(
        &name,
        Some(&lab.node_nss[i]),
        4,
        &format!("router_id = \"{v4}\"\naddresses = [\"{v4}\"]"),
        "listen = \"\"",
    )
    .0
}

#[test]
fn a_bgppeer_password_comes_from_a_secret() {
    let lab = Lab::new();
    let bird = Bird::start_with(
        &lab,
        ROUTER_AS,
        64512,
        true,
        &BirdOpts {
            password: Some("md5-s3cret".into()),
            ..BirdOpts::default()
        },
    );
    let ctl = bird.ctl();
    in_router_ns(&lab, async {
        let c = lab_cluster(", passwordSecret: {name: tor-md5}").await;
        c.service("web", "", "").await;
        let node = lab_node(&c, &lab, 0);
        let web = c.address_of("web").await;
        eventually("the refusal to be logged", WAIT, || async {
            node.log_text()
                .contains("no Secret `tor-md5` with a `password` key")
                .then_some(())
        })
        .await;
        assert!(!bird.protocol_established("ferrolb"));
        let secrets: Api<k8s_openapi::api::core::v1::Secret> =
            Api::namespaced(c.client.clone(), NS);
        secrets
            .create(
                &Default::default(),
                &yaml(&format!(
                    "metadata: {{name: tor-md5, namespace: {NS}}}\ntype: kubernetes.io/basic-auth\ndata: {{password: bWQ1LXMzY3JldA==}}"
                )),
            )
            .await
            .expect("create the Secret");
        let web_p = host(&web.to_string());
        eventually("BIRD to learn web over the MD5 session", WAIT, || async {
            per_node(&ctl)[0].contains(&web_p).then_some(())
        })
        .await;
    });
}

async fn scenario(lab: &Lab, bird: &BirdCtl) {
    let t0 = std::time::Instant::now();
    let phase = |what: &str| println!("{:>6.1} s  {what}", t0.elapsed().as_secs_f64());
    let c = lab_cluster("").await;
    for (i, name) in ["node-a", "node-b"].iter().enumerate() {
        c.api.insert(
            &format!("/api/v1/nodes/{name}"),
            serde_json::json!({
                "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
                "status": {"addresses": [{"type": "InternalIP", "address": node_addrs(i).0}]},
            }),
        );
    }
    let mut nodes: Vec<common::Proc> = (0..2).map(|i| lab_node(&c, lab, i)).collect();
    // A Service reaches BIRD from both nodes (ECMP), with a ServiceAnnouncement per node.
    c.service("web", "", "").await;
    let web = c.address_of("web").await;
    let web_p = host(&web.to_string());
    eventually("BIRD to learn web from both nodes", WAIT, || async {
        let [a, b] = per_node(bird);
        (a.contains(&web_p) && b.contains(&web_p)).then_some(())
    })
    .await;
    let sas: Api<ferrolb::watch::crds::ServiceAnnouncement> =
        Api::namespaced(c.client.clone(), "default");
    let said = eventually("a ServiceAnnouncement from each node", WAIT, || async {
        let l = sas.list(&ListParams::default()).await.ok()?;
        let mut nodes: Vec<(String, Vec<String>, Vec<String>)> = l
            .items
            .into_iter()
            .filter(|o| o.spec.service == "web")
            .map(|o| (o.spec.node, o.spec.peers, o.spec.addresses))
            .collect();
        nodes.sort();
        (nodes.len() == 2).then_some(nodes)
    })
    .await;
    for (i, (node, peers, addrs)) in said.iter().enumerate() {
        assert_eq!(node, ["node-a", "node-b"][i]);
        assert_eq!(peers, &["router"]);
        assert_eq!(addrs, &[web.to_string()]);
    }
    let web_uid = c.services().get("web").await.expect("web").metadata.uid;
    let sa = sas.get("web.node-a").await.expect("named <service>.<node>");
    let owners = sa.metadata.owner_references.unwrap_or_default();
    assert_eq!(owners.len(), 1);
    assert_eq!(
        (owners[0].kind.as_str(), Some(owners[0].uid.clone())),
        ("Service", web_uid)
    );
    // Someone deletes one: the node puts it back.
    sas.delete("web.node-a", &Default::default())
        .await
        .expect("delete a ServiceAnnouncement");
    eventually("web.node-a to be recreated", WAIT, || async {
        sas.get_opt("web.node-a").await.ok().flatten()
    })
    .await;

    phase("web from both nodes, ServiceAnnouncements checked");
    // Local policy: only the node with a ready endpoint announces, and it moves with it.
    c.service("local", "  externalTrafficPolicy: Local\n", "")
        .await;
    let slices: Api<EndpointSlice> = Api::namespaced(c.client.clone(), "default");
    slices
        .create(&Default::default(), &slice_on("local", "node-a"))
        .await
        .expect("create the EndpointSlice");
    let local = c.address_of("local").await;
    let local_p = host(&local.to_string());
    eventually("BIRD to learn local from node-a only", WAIT, || async {
        let [a, b] = per_node(bird);
        (a.contains(&local_p) && !b.contains(&local_p)).then_some(())
    })
    .await;
    slices
        .replace("local-eps", &Default::default(), &{
            let mut s = slice_on("local", "node-b");
            let cur = slices.get("local-eps").await.expect("get the slice");
            s.metadata.resource_version = cur.metadata.resource_version;
            s
        })
        .await
        .expect("move the endpoint");
    eventually("the local announcement to move to node-b", WAIT, || async {
        let [a, b] = per_node(bird);
        (!a.contains(&local_p) && b.contains(&local_p)).then_some(())
    })
    .await;
    let local_sa = eventually(
        "local's ServiceAnnouncement to name node-b only",
        WAIT,
        || async {
            let l = sas.list(&ListParams::default()).await.ok()?;
            let n: Vec<String> = l
                .items
                .into_iter()
                .filter(|o| o.spec.service == "local")
                .map(|o| o.spec.node)
                .collect();
            (n == ["node-b"]).then_some(n)
        },
    )
    .await;
    assert_eq!(local_sa, ["node-b"]);

    phase("local moved to node-b");
    // A Service that will be deleted while the API server is away.
    c.service("doomed", "", "").await;
    let doomed = c.address_of("doomed").await;
    let doomed_p = host(&doomed.to_string());
    eventually("BIRD to learn doomed", WAIT, || async {
        per_node(bird)[0].contains(&doomed_p).then_some(())
    })
    .await;

    phase("doomed announced; stopping the API server");
    // The API server goes away for 30 s. BIRD is watched all along: nothing is withdrawn.
    let stop = Arc::new(AtomicBool::new(false));
    let gaps = Arc::new(Mutex::new(Vec::new()));
    let samples = Arc::new(Mutex::new(0usize));
    let watcher = {
        let (stop, gaps, samples) = (stop.clone(), gaps.clone(), samples.clone());
        let (web_p, local_p) = (web_p.clone(), local_p.clone());
        let bird = bird.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let [a, b] = per_node(&bird);
                let ok = a.contains(&web_p) && b.contains(&web_p) && b.contains(&local_p);
                if !ok {
                    if let Ok(mut g) = gaps.lock() {
                        g.push(format!("node-a {a:?} node-b {b:?}"));
                    }
                }
                if let Ok(mut n) = samples.lock() {
                    *n += 1;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    c.api.stop().await;
    tokio::time::sleep(Duration::from_secs(15)).await;
    // Changed behind the daemons' backs, and the history they would resume from is gone.
    assert!(c.api.remove("/api/v1/namespaces/default/services/doomed"));
    c.api.compact();
    tokio::time::sleep(Duration::from_secs(15)).await;
    let requests_at_restart = c.api.requests().len();
    c.api.restart().await;
    eventually("doomed to be withdrawn after the relist", WAIT, || async {
        let [a, b] = per_node(bird);
        (!a.contains(&doomed_p) && !b.contains(&doomed_p)).then_some(())
    })
    .await;
    phase("doomed withdrawn after the restart");
    // A new Service after the outage is served (the allocator is back too).
    c.service("later", "", "").await;
    let later = c.address_of("later").await;
    let later_p = host(&later.to_string());
    eventually("BIRD to learn later", WAIT, || async {
        per_node(bird)[1].contains(&later_p).then_some(())
    })
    .await;
    phase("later announced");
    stop.store(true, Ordering::SeqCst);
    watcher.join().expect("the BIRD watcher");
    let gaps = gaps.lock().expect("gaps").clone();
    let samples = *samples.lock().expect("samples");
    assert!(samples > 50, "BIRD sampled only {samples} times");
    assert!(gaps.is_empty(), "withdrawn during the outage: {gaps:?}");
    // Resuming from the compacted history got 410 Gone, and the daemons listed afresh.
    let relists = c.api.requests()[requests_at_restart..]
        .iter()
        .filter(|r| r.starts_with("GET /api/v1/services") && !r.contains("watch=true"))
        .count();
    assert!(relists >= 2, "both nodes relist Services after the restart");

    // Deleting the Service withdraws it everywhere; its ServiceAnnouncements go with it.
    c.delete_service("web").await;
    eventually("web to be withdrawn", WAIT, || async {
        let [a, b] = per_node(bird);
        (!a.contains(&web_p) && !b.contains(&web_p)).then_some(())
    })
    .await;
    eventually("web's ServiceAnnouncements to be gone", WAIT, || async {
        let l = sas.list(&ListParams::default()).await.ok()?;
        l.items
            .iter()
            .all(|o| o.spec.service != "web")
            .then_some(())
    })
    .await;

    phase("web withdrawn, its ServiceAnnouncements gone");
    for p in &mut nodes {
        assert_eq!(terminate(p).await, Some(0), "{}", p.log_text());
    }
    let left = sas.list(&ListParams::default()).await.expect("list");
    assert!(
        left.items.is_empty(),
        "stopped nodes leave no ServiceAnnouncement: {:?}",
        left.items
    );
}
