//! `/metrics` and `ferrolb status` of a standalone node peered with a real BIRD, read the way a
//! Prometheus server would (a text-format parser): the session, the announced prefixes against
//! what BIRD shows, the pool usage; BIRD stops the session: up 0, one flap more, status exit 3;
//! BIRD starts it again: up 1, exit 0. A starved service (one address, two services) says why.

mod common;

use std::time::Duration;

use common::routers::{Bird, Router};
use common::{wait_for, Lab, NODE_V4, NODE_V6, ROUTER_V4};

const WAIT: Duration = Duration::from_secs(60);

fn config() -> String {
    format!(
        "[node]\nname = \"node\"\nrouter_id = \"{NODE_V4}\"\nasn = 64512\naddresses = [\"{NODE_V4}\", \"{NODE_V6}\"]\n\n\
         [bgp]\nlisten = \"\"\ngraceful_restart_time = 0\n\n[[bgp.peers]]\nname = \"bird\"\naddress = \"{ROUTER_V4}\"\nasn = 64500\nconnect_retry = 1\nhold_time = 9\n\n\
         [[pools]]\nname = \"tiny\"\naddresses = [\"198.51.100.10/32\"]\n\n[[pools]]\nname = \"v6\"\naddresses = [\"2001:db8:100::/120\"]\n\n\
         [[services]]\nname = \"web\"\npool = \"tiny\"\n\n[[services]]\nname = \"starved\"\npool = \"tiny\"\n\n[[services]]\nname = \"api6\"\npool = \"v6\"\n\n\
         [http]\nlisten = \"127.0.0.1:7473\"\n"
    )
}

/// One scrape of `/metrics`, parsed.
fn scrape(lab: &Lab) -> Option<prometheus_parse::Scrape> {
    let body = lab.exec(
        &lab.node_ns,
        &["curl", "-sf", "http://127.0.0.1:7473/metrics"],
    )?;
    prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).ok()
}

/// The value of `name` whose labels include every (key, value) of `labels`.
fn value(s: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    s.samples
        .iter()
        .find(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match x.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

fn up(lab: &Lab) -> Option<f64> {
    value(
        &scrape(lab)?,
        "ferrolb_bgp_session_up",
        &[("peer", "bird"), ("peer_address", ROUTER_V4)],
    )
}

fn flaps(lab: &Lab) -> Option<f64> {
    value(
        &scrape(lab)?,
        "ferrolb_bgp_session_flaps_total",
        &[("peer", "bird")],
    )
}

fn status_code(lab: &Lab) -> Option<i32> {
    lab.status(&lab.node_ns, &["--url", "http://127.0.0.1:7473"])
        .map(|(_, c)| c)
}

#[test]
fn metrics_and_status_follow_the_session_and_agree_with_bird() {
    common::require("curl");
    let lab = Lab::new();
    let bird = Bird::start(&lab, 64500, 64512, true);
    let path = lab.path("node.toml");
    std::fs::write(&path, config()).expect("write config");
    let node = lab.spawn(
        &lab.node_ns,
        "ferrolb",
        &[
            env!("CARGO_BIN_EXE_ferrolb"),
            "run",
            "--config",
            path.to_str().expect("utf8"),
        ],
    );
    let fail = |e: String| -> ! { panic!("{e}\n{}\n{}", bird.show_routes(), node.log_text()) };
    wait_for("BIRD to learn web and api6", WAIT, || {
        bird.routes().len() == 2
    })
    .unwrap_or_else(|e| fail(e));
    wait_for("session up = 1", WAIT, || up(&lab) == Some(1.0)).unwrap_or_else(|e| fail(e));

    let s = scrape(&lab).expect("a scrape");
    let routes = bird.routes();
    for (family, v4) in [("ipv4", true), ("ipv6", false)] {
        let bird_has = routes
            .iter()
            .filter(|r| r.prefix.contains('.') == v4)
            .count() as f64;
        let ours = value(
            &s,
            "ferrolb_bgp_announced_prefixes",
            &[("peer", "bird"), ("family", family)],
        );
        assert_eq!(ours, Some(bird_has), "{family}: {routes:?}");
    }
    assert_eq!(
        value(
            &s,
            "ferrolb_allocator_addresses_in_use",
            &[("pool", "tiny")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&s, "ferrolb_allocator_addresses_in_use", &[("pool", "v6")]),
        Some(1.0)
    );
    assert_eq!(
        value(&s, "ferrolb_allocator_addresses", &[("pool", "v6")]),
        Some(256.0)
    );
    assert!(value(
        &s,
        "ferrolb_allocation_failures_total",
        &[("reason", "exhausted")]
    )
    .is_some_and(|v| v >= 1.0));
    assert_eq!(
        value(
            &s,
            "ferrolb_bgp_session_state",
            &[("peer", "bird"), ("state", "Established")]
        ),
        Some(1.0)
    );
    let before = flaps(&lab).expect("flaps");
    assert_eq!(status_code(&lab), Some(0), "every session Established");

    let (json, _) = lab
        .status(&lab.node_ns, &["--json", "--url", "http://127.0.0.1:7473"])
        .expect("status");
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    let services = v["services"].as_array().expect("services");
    let starved = services
        .iter()
        .find(|s| s["name"] == "starved")
        .expect("starved listed");
    assert!(
        starved["reason"]
            .as_str()
            .is_some_and(|r| r.contains("exhausted")),
        "{starved}"
    );
    let web = services
        .iter()
        .find(|s| s["name"] == "web")
        .expect("web listed");
    assert_eq!(web["announced_by"], serde_json::json!(["node"]), "{web}");
    assert!(
        v["sessions"][0]["capabilities"]
            .as_array()
            .is_some_and(|c| !c.is_empty()),
        "{v}"
    );

    bird.set_enabled("ferrolb", false);
    wait_for("session up = 0", WAIT, || up(&lab) == Some(0.0)).unwrap_or_else(|e| fail(e));
    assert_eq!(flaps(&lab), Some(before + 1.0));
    assert_eq!(status_code(&lab), Some(3), "a session is not Established");
    let s = scrape(&lab).expect("a scrape");
    assert!(
        value(
            &s,
            "ferrolb_bgp_notifications_received_total",
            &[("peer", "bird"), ("code", "6")]
        )
        .is_some_and(|v| v >= 1.0),
        "BIRD's Cease is counted"
    );

    bird.set_enabled("ferrolb", true);
    wait_for("session up = 1 again", WAIT, || up(&lab) == Some(1.0)).unwrap_or_else(|e| fail(e));
    wait_for("BIRD to learn both again", WAIT, || {
        bird.routes().len() == 2
    })
    .unwrap_or_else(|e| fail(e));
    assert_eq!(status_code(&lab), Some(0));
    assert_eq!(flaps(&lab), Some(before + 1.0));
}
