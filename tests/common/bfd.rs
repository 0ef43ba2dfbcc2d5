//! ferrolb's side of the BFD tests (tests/bfd.rs against BIRD, tests/bfd_frr.rs against FRR):
//! its `/status` and `/metrics` over HTTP 127.0.0.1:7473 inside the node namespace, and
//! nftables drops of BFD control packets in the node namespace.

use super::{Lab, ROUTER_V4};

pub fn status(lab: &Lab) -> Option<serde_json::Value> {
    let body = lab.exec(
        &lab.node_ns,
        &["curl", "-sf", "http://127.0.0.1:7473/status"],
    )?;
    serde_json::from_str(&body).ok()
}

pub fn session(lab: &Lab) -> Option<serde_json::Value> {
    status(lab)?["sessions"].as_array()?.first().cloned()
}

pub fn bfd_state(lab: &Lab) -> Option<String> {
    session(lab)?["bfd"].as_str().map(str::to_string)
}

pub fn established(lab: &Lab) -> bool {
    session(lab).is_some_and(|s| s["state"] == "Established")
}

pub fn metrics(lab: &Lab) -> String {
    lab.exec(
        &lab.node_ns,
        &["curl", "-sf", "http://127.0.0.1:7473/metrics"],
    )
    .unwrap_or_default()
}

/// nftables in ferrolb's namespace: drop BFD control packets in one direction.
pub fn drop_bfd(lab: &Lab, hook: &str, on: bool) {
    let ns = &lab.node_ns;
    if on {
        super::sh(&[
            "ip", "netns", "exec", ns, "nft", "add", "table", "inet", "flbt",
        ]);
        super::sh(&[
            "ip",
            "netns",
            "exec",
            ns,
            "nft",
            "add",
            "chain",
            "inet",
            "flbt",
            hook,
            &format!("{{ type filter hook {hook} priority 0; }}"),
        ]);
        super::sh(&[
            "ip", "netns", "exec", ns, "nft", "add", "rule", "inet", "flbt", hook, "udp", "dport",
            "3784", "drop",
        ]);
    } else {
        super::sh(&[
            "ip", "netns", "exec", ns, "nft", "delete", "table", "inet", "flbt",
        ]);
    }
}

/// Cease/BFD Down (6/10) NOTIFICATIONs ferrolb has sent.
pub fn bfd_down_sent(lab: &Lab) -> u64 {
    let key = format!("ferrolb_bgp_notifications_sent_total{{peer=\"router\",peer_address=\"{ROUTER_V4}\",code=\"6\",subcode=\"10\"}} ");
    metrics(lab)
        .lines()
        .find_map(|l| l.strip_prefix(&key).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0)
}
