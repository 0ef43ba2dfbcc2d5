//! The cluster layer on loopback with real chitchat servers: joining, gossiping `NodeInfo`,
//! deaths, restarts under the same name, start errors. Ports come from the kernel (bind 0,
//! then free it), since chitchat binds the socket itself and cannot report a port 0 choice.
//! Waits are bounded generously; no wall-clock bound is asserted (see
//! `examples/cluster_probe.rs` for the measured detection times).

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::sync::watch;

use super::*;

const PATIENCE: Duration = Duration::from_secs(20);

fn free_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind a free port");
    socket.local_addr().expect("local address").port()
}

fn config(node: &str, port: u16, seeds: &[u16]) -> ClusterConfig {
    ClusterConfig {
        node: node.to_string(),
        listen: SocketAddr::from(([127, 0, 0, 1], port)),
        advertise: None,
        seeds: seeds
            .iter()
            .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
            .collect(),
        tuning: Tuning::default(),
    }
}

async fn start(node: &str, port: u16, seeds: &[u16]) -> Cluster {
    Cluster::start(config(node, port, seeds))
        .await
        .expect("cluster starts")
}

/// Waits until `pred` holds for the view, or panics after [`PATIENCE`].
async fn until(rx: &mut watch::Receiver<View>, what: &str, pred: impl Fn(&View) -> bool) {
    let reached = matches!(
        tokio::time::timeout(PATIENCE, rx.wait_for(|view| pred(view))).await,
        Ok(Ok(_))
    );
    assert!(reached, "{what}: not reached; view is {:?}", *rx.borrow());
}

fn names(view: &View) -> BTreeSet<&str> {
    view.keys().map(String::as_str).collect()
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

/// a, b and c, where b and c know only a.
async fn three() -> (Cluster, Cluster, Cluster, u16) {
    let (pa, pb, pc) = (free_port(), free_port(), free_port());
    let a = start("a", pa, &[]).await;
    let b = start("b", pb, &[pa]).await;
    let c = start("c", pc, &[pa]).await;
    for node in [&a, &b, &c] {
        until(&mut node.subscribe(), "all three see each other", |v| {
            names(v) == BTreeSet::from(["a", "b", "c"])
        })
        .await;
    }
    (a, b, c, pc)
}

#[tokio::test]
async fn three_nodes_join_through_one_seed_and_each_is_in_its_own_view() {
    let (a, b, c, _) = three().await;
    assert!(a.subscribe().borrow().contains_key("a"));
    assert_eq!(b.advertise().ip(), ip("127.0.0.1"));
    c.leave().await;
    b.leave().await;
    a.leave().await;
}

#[tokio::test]
async fn publish_reaches_every_view_and_changes_follow() {
    let (a, b, c, _) = three().await;
    let mut me = NodeInfo {
        eligible: BTreeSet::from([ip("192.0.2.100"), ip("2001:db8::100")]),
        answering: BTreeSet::from([ip("192.0.2.100")]),
        leaving: false,
    };
    a.publish(&me);
    for node in [&a, &b, &c] {
        let want = me.clone();
        until(&mut node.subscribe(), "a's addresses arrive", move |v| {
            v.get("a") == Some(&want)
        })
        .await;
    }
    me.answering.clear();
    me.leaving = true;
    a.publish(&me);
    for node in [&b, &c] {
        let want = me.clone();
        until(
            &mut node.subscribe(),
            "a leaving, answering nothing",
            move |v| v.get("a") == Some(&want),
        )
        .await;
    }
    c.leave().await;
    b.leave().await;
    a.leave().await;
}

#[tokio::test]
async fn a_dropped_node_and_a_left_node_vanish_from_the_others_views() {
    let (a, b, c, _) = three().await;
    drop(c); // no leave: like a crash, nothing is sent
    until(&mut a.subscribe(), "c gone", |v| {
        names(v) == BTreeSet::from(["a", "b"])
    })
    .await;
    b.leave().await;
    until(&mut a.subscribe(), "b gone", |v| {
        names(v) == BTreeSet::from(["a"])
    })
    .await;
    a.leave().await;
}

#[tokio::test]
async fn a_node_restarted_under_its_name_comes_back_once_with_its_new_state() {
    let (a, b, c, pc) = three().await;
    let old = NodeInfo {
        eligible: BTreeSet::from([ip("192.0.2.1")]),
        ..NodeInfo::default()
    };
    c.publish(&old);
    until(&mut a.subscribe(), "c's first state", {
        let old = old.clone();
        move |v| v.get("c") == Some(&old)
    })
    .await;
    c.leave().await; // frees the port at once (a drop frees it when the task has ended)
    let c = start("c", pc, &[free_port(), b.advertise().port()]).await;
    let new = NodeInfo {
        eligible: BTreeSet::from([ip("192.0.2.2")]),
        ..NodeInfo::default()
    };
    c.publish(&new);
    for node in [&a, &b] {
        let mut rx = node.subscribe();
        let want = new.clone();
        until(&mut rx, "c back with its new state", move |v| {
            names(v) == BTreeSet::from(["a", "b", "c"]) && v.get("c") == Some(&want)
        })
        .await;
        // Once the old generation is dead, c is still there, with the new state.
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(rx.borrow().get("c"), Some(&new));
    }
    c.leave().await;
    b.leave().await;
    a.leave().await;
}

#[tokio::test]
async fn add_seeds_joins_a_node_started_without_seeds() {
    let (pa, pd) = (free_port(), free_port());
    let a = start("a", pa, &[]).await;
    let d = start("d", pd, &[]).await;
    d.add_seeds(&[SocketAddr::from(([127, 0, 0, 1], pa))]);
    until(&mut a.subscribe(), "d joined", |v| v.contains_key("d")).await;
    until(&mut d.subscribe(), "d sees a", |v| v.contains_key("a")).await;
    d.leave().await;
    a.leave().await;
}

#[tokio::test]
async fn a_listen_address_not_on_this_host_is_an_error_naming_it() {
    let mut bad = config("x", 7946, &[]);
    bad.listen = "192.0.2.1:7946".parse().expect("addr");
    let err = Cluster::start(bad).await.err().expect("must fail");
    let text = err.to_string();
    assert_eq!(err.label(), "bind");
    assert!(text.contains("192.0.2.1:7946"), "{text}");
    assert!(text.contains("ddress"), "reason given: {text}");
}

#[tokio::test]
async fn a_listen_port_in_use_is_an_error_naming_it() {
    let held = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = held.local_addr().expect("addr").port();
    let err = Cluster::start(config("x", port, &[]))
        .await
        .err()
        .expect("must fail");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    assert!(err.to_string().contains("in use"), "{err}");
}

#[tokio::test]
async fn port_zero_and_no_way_to_advertise_are_refused() {
    let zero = config("x", 0, &[]);
    let err = Cluster::start(zero).await.err().expect("must fail");
    assert_eq!(err.label(), "listen_port_zero");
    let mut wildcard = config("x", free_port(), &[]);
    wildcard.listen.set_ip(ip("0.0.0.0"));
    let err = Cluster::start(wildcard).await.err().expect("must fail");
    assert_eq!(err.label(), "no_advertise");
}

#[tokio::test]
async fn a_wildcard_listen_advertises_the_address_towards_the_first_seed() {
    let port = free_port();
    let mut wildcard = config("x", port, &[free_port()]);
    wildcard.listen.set_ip(ip("0.0.0.0"));
    let x = Cluster::start(wildcard).await.expect("starts");
    assert_eq!(x.advertise(), SocketAddr::from(([127, 0, 0, 1], port)));
    x.leave().await;
}
