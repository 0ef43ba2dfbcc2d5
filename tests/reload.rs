//! SIGHUP reloads are all or nothing, against a real BIRD 2: a file with a syntax error and a
//! file with a duplicate peer are refused as a whole (BIRD keeps the same routes on the same
//! session, whose "since" time does not move; ferrolb counts no flap), `/status`, `ferrolb
//! status` and `/metrics` say so with `file:line:col`; then a valid reload still applies.

mod common;

use std::time::Duration;

use common::bfd::{metrics, status};
use common::routers::{same_since, Bird, Router};
use common::{wait_for, Ferrolb, Lab, NodeToml};

const WAIT: Duration = Duration::from_secs(60);

fn toml() -> NodeToml {
    NodeToml {
        asn: 64512,
        peer_asn: 64500,
        hold_time: 9,
        services: vec![
            ("web", vec!["198.51.100.10"]),
            ("api", vec!["198.51.100.11"]),
        ],
        http: Some("127.0.0.1:7473"),
        graceful_restart_time: Some(0),
        ..NodeToml::default()
    }
}

fn prefixes(bird: &Bird) -> Vec<String> {
    let mut p: Vec<String> = bird.routes().into_iter().map(|r| r.prefix).collect();
    p.sort();
    p
}

/// BIRD's `show protocols ferrolb`: state and the time it entered it.
fn since(bird: &Bird) -> Option<(String, u64)> {
    bird.since("ferrolb")
}

/// The `ferrolb_*` sample whose line starts with `key`.
fn sample(lab: &Lab, key: &str) -> Option<f64> {
    metrics(lab)
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|v| v.trim().parse().ok()))
}

fn reloads(lab: &Lab) -> serde_json::Value {
    status(lab)
        .map(|s| s["reloads"].clone())
        .unwrap_or_default()
}

#[test]
fn a_broken_or_conflicting_reload_changes_nothing_and_says_why() {
    common::require("curl");
    let lab = Lab::new();
    let bird = Bird::start(&lab, 64500, 64512, true);
    let good = toml();
    let f = Ferrolb::start(&lab, &good);
    let fail = |what: &str, e: String| -> ! {
        panic!(
            "{what}: {e}\nBIRD: {}\nstatus: {:?}\n--- ferrolb log ---\n{}",
            bird.protocol("ferrolb"),
            status(&lab),
            f.proc.log_text()
        )
    };
    let both = vec!["198.51.100.10/32".to_string(), "198.51.100.11/32".into()];
    wait_for("both routes at BIRD", WAIT, || prefixes(&bird) == both)
        .unwrap_or_else(|e| fail("start", e));
    let up_since = since(&bird);

    // A syntax error, then a second peer named like the first.
    std::fs::write(&f.config, "[node\nasn = 64512\n").expect("write broken config");
    f.proc.signal("HUP");
    wait_for("the first refusal", WAIT, || reloads(&lab)["error"] == 1)
        .unwrap_or_else(|e| fail("syntax error", e));
    let duplicate = NodeToml {
        extra: "[[bgp.peers]]\nname = \"router\"\naddress = \"192.0.2.9\"\nasn = 64501\n".into(),
        services: Vec::new(),
        ..toml()
    };
    f.reload(&duplicate);
    wait_for("the second refusal", WAIT, || reloads(&lab)["error"] == 2)
        .unwrap_or_else(|e| fail("duplicate peer", e));

    let r = reloads(&lab);
    let errors = r["last"]["errors"].to_string();
    let config = f.config.display().to_string();
    let ok = r["ok"] == 0
        && r["last"]["result"] == "error"
        && errors.contains(&format!("{config}:"))
        && errors.contains("`router` is used by another peer");
    if !ok {
        fail("/status reloads", r.to_string());
    }
    let key = "ferrolb_config_reloads_total{result=\"error\"} ";
    assert_eq!(sample(&lab, key), Some(2.0), "{}", metrics(&lab));
    let flaps = "ferrolb_bgp_session_flaps_total{peer=\"router\",peer_address=\"192.0.2.1\"} ";
    assert_eq!(sample(&lab, flaps), Some(0.0), "{}", metrics(&lab));
    assert_eq!(
        prefixes(&bird),
        both,
        "BIRD's routes after two refused reloads"
    );
    assert!(
        same_since(&since(&bird), &up_since),
        "BIRD's session was reset: {up_since:?}, now {:?}",
        since(&bird)
    );
    let (table, _) = lab
        .status(&lab.node_ns, &["--url", "http://127.0.0.1:7473"])
        .expect("ferrolb status");
    assert!(
        table.contains("reloads: 0 ok, 2 refused") && table.contains("is used by another peer"),
        "{table}"
    );

    // A valid reload still applies: api goes, the session stays.
    let mut fewer = toml();
    fewer.services.retain(|(n, _)| *n != "api");
    f.reload(&fewer);
    let web = vec!["198.51.100.10/32".to_string()];
    wait_for("api withdrawn", WAIT, || prefixes(&bird) == web)
        .unwrap_or_else(|e| fail("valid reload", e));
    let r = reloads(&lab);
    assert_eq!(
        (r["ok"].as_u64(), r["last"]["result"].as_str()),
        (Some(1), Some("ok")),
        "{r}"
    );
    assert!(
        same_since(&since(&bird), &up_since),
        "the valid reload reset the session: {up_since:?}, now {:?}",
        since(&bird)
    );
    assert!(bird.established());
}
