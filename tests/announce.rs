//! The announcement pipeline against a real BIRD: graceful restart (RFC 4724) across a SIGKILL,
//! graceful shutdown (RFC 8326) on SIGTERM, and ECMP from two ferrolb nodes.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::routers::{Bird, BirdOpts, RouteInfo, Router};
use common::{node_addrs, wait_for, Ferrolb, Lab, NodeToml};

const ROUTER_AS: u32 = 64500;
const NODE_AS: u32 = 64512;
const WAIT: Duration = Duration::from_secs(60);

fn toml(services: Vec<(&'static str, Vec<&'static str>)>) -> NodeToml {
    NodeToml {
        asn: NODE_AS,
        peer_asn: ROUTER_AS,
        hold_time: 90,
        services,
        ..NodeToml::default()
    }
}

fn web_and_api() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("web", vec!["198.51.100.10", "2001:db8:100::10"]),
        ("api", vec!["198.51.100.11"]),
    ]
}

fn prefixes(routes: &[RouteInfo]) -> BTreeSet<String> {
    routes.iter().map(|r| r.prefix.clone()).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn fail(what: String, bird: &Bird, f: &Ferrolb) -> ! {
    panic!(
        "{what}\n--- BIRD routes ---\n{}\n--- BIRD log ---\n{}\n--- ferrolb log ---\n{}",
        bird.show_routes(),
        bird.process().log_text(),
        f.proc.log_text()
    )
}

/// Kills ferrolb with SIGKILL and waits until the process is gone.
fn kill_hard(f: &mut Ferrolb) {
    f.proc.signal("KILL");
    let _ = f.proc.child.wait();
}

/// Polls BIRD's routes from ferrolb every 50 ms on a scoped thread until `stop` is set.
fn poll_routes<'a>(
    scope: &'a std::thread::Scope<'a, '_>,
    bird: &'a Bird,
    stop: &'a AtomicBool,
    seen: &'a Mutex<Vec<(Instant, BTreeSet<String>)>>,
) {
    scope.spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            let p = prefixes(&bird.routes());
            if let Ok(mut s) = seen.lock() {
                s.push((now, p));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
}

/// ferrolb is SIGKILLed and restarted with `api` deleted meanwhile. With graceful restart BIRD
/// keeps every route through the restart, refreshes them, and drops `api` after End-of-RIB.
#[test]
fn bird_keeps_routes_through_a_hard_restart_and_drops_the_deleted_one_after_end_of_rib() {
    let lab = Lab::new();
    let opts = BirdOpts {
        graceful_restart: true,
        ..BirdOpts::default()
    };
    let bird = Bird::start_with(&lab, ROUTER_AS, NODE_AS, true, &opts);
    let mut f = Ferrolb::start(&lab, &toml(web_and_api()));
    let all = set(&[
        "198.51.100.10/32",
        "198.51.100.11/32",
        "2001:db8:100::10/128",
    ]);
    let web = set(&["198.51.100.10/32", "2001:db8:100::10/128"]);
    wait_for("three routes", WAIT, || prefixes(&bird.routes()) == all)
        .unwrap_or_else(|e| fail(e, &bird, &f));

    let stop = AtomicBool::new(false);
    let seen = Mutex::new(Vec::new());
    let mut down_at = None;
    let mut restarted_at = None;
    std::thread::scope(|scope| {
        poll_routes(scope, &bird, &stop, &seen);
        kill_hard(&mut f);
        let down = wait_for("BIRD to notice the session is gone", WAIT, || {
            !bird.protocol_established("ferrolb")
        });
        down_at = Some(Instant::now());
        // Give BIRD time to act on the loss before ferrolb returns.
        std::thread::sleep(Duration::from_secs(2));
        let during = prefixes(&bird.routes());
        restarted_at = Some(Instant::now());
        f = Ferrolb::start(&lab, &toml(vec![web_and_api().remove(0)]));
        let back = down.and_then(|()| {
            wait_for("api withdrawn after End-of-RIB", WAIT, || {
                prefixes(&bird.routes()) == web
            })
        });
        stop.store(true, Ordering::SeqCst);
        back.unwrap_or_else(|e| fail(e, &bird, &f));
        assert_eq!(
            during, all,
            "while ferrolb was down BIRD kept every route (stale)"
        );
    });
    let seen = seen.into_inner().unwrap_or_default();
    assert!(seen.len() > 20, "polled often enough: {}", seen.len());
    for (at, p) in &seen {
        assert!(
            p.is_superset(&web),
            "a route of a live service vanished at {:?} after the restart began: {p:?}",
            at.saturating_duration_since(down_at.unwrap_or(*at))
        );
    }
    // `api` stayed until ferrolb was back: no sample taken before the restart lacks it (that it
    // is gone after the restart was waited for above; the poller may stop before it samples
    // that state).
    let api_gone_early = seen
        .iter()
        .find(|(at, p)| Some(*at) <= restarted_at && !p.contains("198.51.100.11/32"));
    assert!(
        api_gone_early.is_none(),
        "the deleted service's route was dropped at the kill, not withdrawn by the restarted ferrolb"
    );
    assert!(
        f.proc.log_text().contains("session established"),
        "{}",
        f.proc.log_text()
    );
}

/// The same hard restart without graceful restart: BIRD drops the routes as soon as it notices
/// the session is gone. This is what the test above would see if the capability did nothing.
#[test]
fn without_graceful_restart_bird_drops_the_routes_of_a_killed_ferrolb() {
    let lab = Lab::new();
    let opts = BirdOpts {
        graceful_restart: true,
        ..BirdOpts::default()
    };
    let bird = Bird::start_with(&lab, ROUTER_AS, NODE_AS, true, &opts);
    let t = NodeToml {
        graceful_restart_time: Some(0),
        ..toml(web_and_api())
    };
    let mut f = Ferrolb::start(&lab, &t);
    wait_for("three routes", WAIT, || bird.routes().len() == 3)
        .unwrap_or_else(|e| fail(e, &bird, &f));
    kill_hard(&mut f);
    wait_for("BIRD to drop every route", WAIT, || {
        bird.routes().is_empty()
    })
    .unwrap_or_else(|e| fail(e, &bird, &f));
}

/// SIGTERM with a drain period: BIRD first sees GRACEFUL_SHUTDOWN (65535:0) on every route,
/// then the withdrawals; ferrolb exits 0.
#[test]
fn on_sigterm_bird_sees_graceful_shutdown_before_the_withdrawals() {
    let lab = Lab::new();
    let bird = Bird::start(&lab, ROUTER_AS, NODE_AS, true);
    let mut t = toml(web_and_api());
    t.drain = 2;
    let mut f = Ferrolb::start(&lab, &t);
    wait_for("three routes", WAIT, || bird.routes().len() == 3)
        .unwrap_or_else(|e| fail(e, &bird, &f));
    assert!(bird
        .routes()
        .iter()
        .all(|r| !r.communities.contains(&"65535:0".to_string())));

    let mut snapshots: Vec<Vec<RouteInfo>> = Vec::new();
    f.proc.signal("TERM");
    let deadline = Instant::now() + WAIT;
    loop {
        let routes = bird.routes();
        let empty = routes.is_empty();
        snapshots.push(routes);
        if empty || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let code = f.terminate();
    let gshut = |r: &RouteInfo| r.communities.contains(&"65535:0".to_string());
    let first_drained = snapshots
        .iter()
        .position(|s| s.len() == 3 && s.iter().all(gshut))
        .unwrap_or_else(|| {
            fail(
                format!("never saw every route with GRACEFUL_SHUTDOWN: {snapshots:?}"),
                &bird,
                &f,
            )
        });
    assert!(
        snapshots[..first_drained].iter().all(|s| s.len() == 3),
        "a route was withdrawn before it carried GRACEFUL_SHUTDOWN: {snapshots:?}"
    );
    assert!(
        snapshots.last().is_some_and(|s| s.is_empty()),
        "the routes were withdrawn in the end"
    );
    assert_eq!(code, Some(0), "exit code");
}

/// Two ferrolb nodes announce the same service address to one BIRD with `merge paths`: the
/// router's FIB holds one multipath route with both nodes as next hops.
#[test]
fn two_nodes_give_bird_a_multipath_route() {
    let lab = Lab::with_nodes(2);
    let opts = BirdOpts {
        nodes: 2,
        kernel_merge_paths: true,
        ..BirdOpts::default()
    };
    let bird = Bird::start_with(&lab, ROUTER_AS, NODE_AS, true, &opts);
    let svc = vec![("web", vec!["198.51.100.10", "2001:db8:100::10"])];
    let a = Ferrolb::start(&lab, &toml(svc.clone()));
    let mut b = Ferrolb::start(
        &lab,
        &NodeToml {
            node: 1,
            ..toml(svc)
        },
    );
    let (a4, a6) = node_addrs(0);
    let (b4, b6) = node_addrs(1);
    let fib = |prefix: &str, v6: bool| {
        let fam = if v6 { "-6" } else { "-4" };
        lab.exec(&lab.router_ns, &["ip", fam, "route", "show", prefix])
            .unwrap_or_default()
    };
    let multipath = |text: &str, x: &str, y: &str| {
        text.contains(&format!("nexthop via {x} ")) && text.contains(&format!("nexthop via {y} "))
    };
    let ok = wait_for("a multipath route with both nodes", WAIT, || {
        multipath(&fib("198.51.100.10", false), &a4, &b4)
            && multipath(&fib("2001:db8:100::10", true), &a6, &b6)
    });
    if let Err(e) = ok {
        panic!(
            "{e}\nFIB v4: {}\nFIB v6: {}\nBIRD: {}\n--- ferrolb a ---\n{}\n--- ferrolb b ---\n{}",
            fib("198.51.100.10", false),
            fib("2001:db8:100::10", true),
            bird.show_all_routes(),
            a.proc.log_text(),
            b.proc.log_text()
        );
    }
    // BIRD itself holds the prefix from both nodes.
    let shown = bird.show_all_routes();
    for hop in [&a4, &b4] {
        assert!(
            shown.contains(&format!("BGP.next_hop: {hop}")),
            "BIRD has a path via {hop}: {shown}"
        );
    }
    // Node b leaves (SIGTERM: withdraw). A SIGKILL would leave its path in place as stale for
    // the graceful restart time, by design.
    assert_eq!(b.terminate(), Some(0));
    wait_for("one path left after node b is gone", WAIT, || {
        let t = fib("198.51.100.10", false);
        t.contains(&a4) && !t.contains(&b4)
    })
    .unwrap_or_else(|e| fail(e, &bird, &a));
}
