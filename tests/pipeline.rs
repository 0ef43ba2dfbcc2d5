//! The incremental announcement path against a real BIRD: services added and removed one at a
//! time through `Pipeline::upsert_service` / `remove_service` (no config reload), host routes
//! and an aggregate that must stay while any service under it remains.
//!
//! The pipeline runs in this test process, on a thread moved into the lab's node namespace with
//! setns(2), so its sockets live there like a daemon's would.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::{mpsc, Arc, RwLock};
use std::time::Duration;

use common::routers::{Bird, Router};
use common::{wait_for, Lab, NodeToml};
use ferrolb::config::{self, HostInfo, IpFamilies, ServiceConfig};
use ferrolb::standalone::Pipeline;

enum Cmd {
    Upsert(&'static str, &'static str),
    Remove(&'static str),
}

/// Runs a pipeline inside `ns`; every command answers with the service's addresses.
fn pipeline_in(ns: &str, text: String) -> (mpsc::Sender<Cmd>, mpsc::Receiver<Vec<String>>) {
    let (cmd_tx, cmd_rx) = mpsc::channel::<Cmd>();
    let (out_tx, out_rx) = mpsc::channel();
    let netns = std::fs::File::open(format!("/var/run/netns/{ns}")).expect("open the namespace");
    std::thread::spawn(move || {
        // SAFETY: setns on a valid namespace fd; it changes only this thread's namespace.
        let rc = unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let config = config::parse_with(Path::new("node.toml"), &text, &HostInfo::default())
                .expect("test config");
            let directory = Arc::new(RwLock::new(HashMap::new()));
            let mut p = Pipeline::start(config, directory).expect("pipeline");
            loop {
                // Poll the test's commands without blocking the runtime's sessions.
                let cmd = match cmd_rx.try_recv() {
                    Ok(c) => c,
                    Err(mpsc::TryRecvError::Empty) => {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        continue;
                    }
                    Err(mpsc::TryRecvError::Disconnected) => break,
                };
                let addrs = match cmd {
                    Cmd::Upsert(name, pool) => {
                        let (r, saved) = p.upsert_service(ServiceConfig {
                            name: name.into(),
                            addresses: Box::default(),
                            pool: Some(pool.into()),
                            ip_families: IpFamilies::SingleStack,
                            allow_shared_ip: None,
                        });
                        saved.expect("no state file, nothing to save");
                        r.addresses().iter().map(|a| a.to_string()).collect()
                    }
                    Cmd::Remove(name) => {
                        assert!(p.remove_service(name).0, "{name} was there");
                        Vec::new()
                    }
                };
                let _ = out_tx.send(addrs);
            }
            p.shutdown(Duration::ZERO).await;
        });
    });
    (cmd_tx, out_rx)
}

fn prefixes(bird: &Bird) -> BTreeSet<String> {
    bird.routes().into_iter().map(|r| r.prefix).collect()
}

fn expect(bird: &Bird, want: &[&str]) {
    let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
    if let Err(e) = wait_for("BIRD's routes", Duration::from_secs(30), || {
        prefixes(bird) == want
    }) {
        panic!(
            "{e}: want {want:?}, BIRD has {:?}\n{}",
            prefixes(bird),
            bird.process().log_text()
        );
    }
}

#[test]
fn services_added_and_removed_one_at_a_time_reach_bird_and_aggregates_stay_while_needed() {
    let lab = Lab::new();
    // The pipeline has no listener (the daemon owns that): it connects, BIRD waits.
    let bird = Bird::start(&lab, 64500, 64512, true);
    let toml = NodeToml {
        asn: 64512,
        peer_asn: 64500,
        hold_time: 90,
        passive: false,
        extra: r#"
[[pools]]
name = "hosts"
addresses = ["198.51.100.10-198.51.100.20"]

[[pools]]
name = "agg"
addresses = ["203.0.113.0/24"]

[[advertisements]]
pools = ["hosts"]

[[advertisements]]
pools = ["agg"]
aggregation_length = 24
"#
        .into(),
        ..NodeToml::default()
    };
    let (cmd, answers) = pipeline_in(&lab.node_ns, toml.render());
    let run = |c: Cmd| -> Vec<String> {
        cmd.send(c).expect("pipeline thread");
        answers
            .recv_timeout(Duration::from_secs(30))
            .expect("pipeline answer")
    };
    wait_for("the session", Duration::from_secs(30), || {
        bird.established()
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", bird.process().log_text()));

    assert_eq!(run(Cmd::Upsert("a", "hosts")), ["198.51.100.10"]);
    assert_eq!(run(Cmd::Upsert("b", "hosts")), ["198.51.100.11"]);
    expect(&bird, &["198.51.100.10/32", "198.51.100.11/32"]);

    run(Cmd::Remove("a"));
    expect(&bird, &["198.51.100.11/32"]);

    // Two services under one aggregate: one route; it stays until the last one goes.
    run(Cmd::Upsert("c1", "agg"));
    run(Cmd::Upsert("c2", "agg"));
    expect(&bird, &["198.51.100.11/32", "203.0.113.0/24"]);
    run(Cmd::Remove("c1"));
    std::thread::sleep(Duration::from_millis(500));
    expect(&bird, &["198.51.100.11/32", "203.0.113.0/24"]);
    run(Cmd::Remove("c2"));
    expect(&bird, &["198.51.100.11/32"]);

    // The same service again: it keeps its address and nothing changes on the wire.
    assert_eq!(run(Cmd::Upsert("b", "hosts")), ["198.51.100.11"]);
    expect(&bird, &["198.51.100.11/32"]);
}
