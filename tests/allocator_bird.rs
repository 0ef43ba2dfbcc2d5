//! Standalone allocation against a real BIRD: 1,000 services from a pool, a restart with the
//! state file (and the services listed in another order), then 10 more services.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::routers::{Bird, Router};
use common::{wait_for, Lab, NODE_V4, NODE_V6, ROUTER_V4};

const WAIT: Duration = Duration::from_secs(120);

fn config(lab: &Lab, names: &[String]) -> String {
    let state = lab.path("state.json");
    let mut s = format!(
        "[node]\nname = \"node\"\nrouter_id = \"{NODE_V4}\"\nasn = 64512\naddresses = [\"{NODE_V4}\", \"{NODE_V6}\"]\n\n\
         [bgp]\nlisten = \"\"\n\n[[bgp.peers]]\nname = \"bird\"\naddress = \"{ROUTER_V4}\"\nasn = 64500\nconnect_retry = 1\n\n\
         [[pools]]\nname = \"v6\"\naddresses = [\"2001:db8:100::/64\"]\n\n[http]\nlisten = \"127.0.0.1:7473\"\n\n[state]\npath = \"{}\"\n",
        state.display()
    );
    for n in names {
        s.push_str(&format!("\n[[services]]\nname = \"{n}\"\n"));
    }
    s
}

fn start(lab: &Lab, names: &[String]) -> common::Proc {
    let path = lab.path("node.toml");
    std::fs::write(&path, config(lab, names)).expect("write config");
    let bin = env!("CARGO_BIN_EXE_ferrolb");
    lab.spawn(
        &lab.node_ns,
        "ferrolb",
        &[bin, "run", "--config", path.to_str().expect("utf8")],
    )
}

/// service → addresses, from the daemon's /status.
fn assignments(lab: &Lab) -> BTreeMap<String, Vec<String>> {
    let Some((out, _)) = lab.status(&lab.node_ns, &["--json", "--url", "http://127.0.0.1:7473"])
    else {
        return BTreeMap::new();
    };
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    let mut m = BTreeMap::new();
    for s in v
        .get("services")
        .and_then(|s| s.as_array())
        .into_iter()
        .flatten()
    {
        let name = s
            .get("name")
            .and_then(|n| n.as_str())
            .unwrap_or("")
            .to_string();
        let addrs = s
            .get("addresses")
            .and_then(|a| a.as_array())
            .into_iter()
            .flatten();
        m.insert(
            name,
            addrs.filter_map(|a| a.as_str().map(String::from)).collect(),
        );
    }
    m
}

fn routes(bird: &Bird) -> BTreeSet<String> {
    bird.routes().into_iter().map(|r| r.prefix).collect()
}

#[test]
fn a_thousand_services_keep_their_addresses_across_a_restart_and_new_ones_are_distinct() {
    let lab = Lab::new();
    let bird = Bird::start(&lab, 64500, 64512, true);
    let names: Vec<String> = (0..1000).map(|i| format!("svc-{i:04}")).collect();
    let first = start(&lab, &names);
    wait_for("1000 routes in BIRD", WAIT, || routes(&bird).len() == 1000)
        .unwrap_or_else(|e| panic!("{e}: {} routes\n{}", routes(&bird).len(), first.log_text()));
    let before_routes = routes(&bird);
    let before = assignments(&lab);
    assert_eq!(before.len(), 1000);
    let distinct: BTreeSet<&String> = before.values().flatten().collect();
    assert_eq!(distinct.len(), 1000, "addresses are distinct");
    assert!(
        distinct.iter().all(|a| a.starts_with("2001:db8:100:")),
        "from the pool"
    );
    first.signal("TERM");
    drop(first);

    // Restart with the services in reverse order: without the state file lowest-free
    // allocation would hand every service another address.
    let reversed: Vec<String> = names.iter().rev().cloned().collect();
    let second = start(&lab, &reversed);
    wait_for("the restarted daemon to serve /status", WAIT, || {
        assignments(&lab).len() == 1000
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", second.log_text()));
    wait_for("1000 routes again", WAIT, || routes(&bird) == before_routes)
        .unwrap_or_else(|e| panic!("{e}: {} routes\n{}", routes(&bird).len(), second.log_text()));
    assert_eq!(assignments(&lab), before, "a restart moved addresses");

    // SIGHUP with 10 new services listed first: they get new, distinct addresses.
    let mut more: Vec<String> = (0..10).map(|i| format!("new-{i}")).collect();
    more.extend(reversed);
    std::fs::write(lab.path("node.toml"), config(&lab, &more)).expect("rewrite config");
    second.signal("HUP");
    wait_for("1010 routes in BIRD", WAIT, || routes(&bird).len() == 1010)
        .unwrap_or_else(|e| panic!("{e}: {} routes\n{}", routes(&bird).len(), second.log_text()));
    let after = assignments(&lab);
    for (name, addrs) in &before {
        assert_eq!(after.get(name), Some(addrs), "{name} moved");
    }
    let new: BTreeSet<&String> = (0..10)
        .flat_map(|i| after[&format!("new-{i}")].iter())
        .collect();
    assert_eq!(new.len(), 10);
    assert!(
        new.iter().all(|a| !distinct.contains(a)),
        "a new service took an old address"
    );
    assert!(
        before_routes.is_subset(&routes(&bird)),
        "an old route changed"
    );
}
