//! One desired state, two front ends: the same peers, pools, advertisements and service
//! addresses written as node.toml and as CRD objects (BGPPeer, IPAddressPool, BGPAdvertisement,
//! BFDProfile, a Service with status) give the shared announcer identical sink changes, step by step.

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::api::core::v1::Service;
use serde::de::DeserializeOwned;

use ferrolb::announce::{Announcer, Changes};
use ferrolb::config::{parse_with, HostInfo};
use ferrolb::standalone::{desired, Addresses};
use ferrolb::watch::crds::{BFDProfile, BGPAdvertisement, BGPPeer, IPAddressPool, L2Advertisement};
use ferrolb::watch::service::ServiceRecord;
use ferrolb::watch::speaker::plan::{self, Inputs, Passwords};

const NODE: &str = r#"
[node]
name = "node-a"
router_id = "192.0.2.10"
asn = 64512
addresses = ["192.0.2.10", "2001:db8::10"]
"#;

const TOML: &str = r#"
[[bgp.peers]]
name = "tor1"
address = "192.0.2.1"
asn = 64500
hold_time = 9
bfd_profile = "fast"

[[bfd_profiles]]
name = "fast"
receive_interval = 100
transmit_interval = 150
detect_multiplier = 4

[[bgp.peers]]
name = "tor2"
address = "2001:db8::1"
asn = 64512
port = 1179
bfd = true

[[pools]]
name = "public"
addresses = ["198.51.100.0/24", "2001:db8:100::/64"]

[[advertisements]]
pools = ["public"]
peers = ["tor1"]
communities = ["64500:100", "large:64500:1:2", "no-export"]
aggregation_length = 32

[[advertisements]]
pools = ["public"]
local_pref = 200
aggregation_length = 24
aggregation_length_v6 = 64

[[advertisements]]
pools = ["public"]
mode = "l2"
interfaces = ["eth0"]
"#;

const CRDS: &[&str] = &[
    "kind: BGPPeer\nmetadata: {name: tor1}\nspec: {myASN: 64512, peerASN: 64500, peerAddress: 192.0.2.1, holdTime: 9s, bfdProfile: fast}",
    "kind: BGPPeer\nmetadata: {name: tor2}\nspec: {myASN: 64512, peerASN: 64512, peerAddress: \"2001:db8::1\", peerPort: 1179, bfdProfile: default}",
    "kind: BFDProfile\nmetadata: {name: fast}\nspec: {receiveInterval: 100, transmitInterval: 150, detectMultiplier: 4}",
    "kind: IPAddressPool\nmetadata: {name: public}\nspec: {addresses: [198.51.100.0/24, \"2001:db8:100::/64\"]}",
    "kind: BGPAdvertisement\nmetadata: {name: a-hosts}\nspec: {ipAddressPools: [public], peers: [tor1], communities: [\"64500:100\", \"large:64500:1:2\", no-export], aggregationLength: 32}",
    "kind: BGPAdvertisement\nmetadata: {name: b-aggregates}\nspec: {ipAddressPools: [public], localPref: 200, aggregationLength: 24, aggregationLengthV6: 64}",
    "kind: L2Advertisement\nmetadata: {name: lan}\nspec: {ipAddressPools: [public], interfaces: [eth0]}",
];

fn object<T: DeserializeOwned>(text: &str) -> T {
    ferrolb::yaml::from_str(&format!("apiVersion: ferrolb.io/v1alpha1\n{text}"))
        .expect("test object")
}

fn service(name: &str, ips: &[&str]) -> Service {
    let ingress: Vec<String> = ips.iter().map(|i| format!("{{ip: \"{i}\"}}")).collect();
    ferrolb::yaml::from_str(&format!(
        "metadata: {{name: {name}, namespace: default}}\nspec: {{type: LoadBalancer}}\nstatus: {{loadBalancer: {{ingress: [{}]}}}}",
        ingress.join(",")
    ))
    .expect("test service")
}

/// The TOML side: node.toml with `services` (name, addresses) through the allocator.
fn from_toml(services: &[(&str, &[&str])]) -> ferrolb::announce::Desired {
    let mut text = format!("{NODE}{TOML}");
    for (name, addrs) in services {
        let list: Vec<String> = addrs.iter().map(|a| format!("\"{a}\"")).collect();
        text.push_str(&format!(
            "\n[[services]]\nname = \"default/{name}\"\naddresses = [{}]\n",
            list.join(", ")
        ));
    }
    let host = HostInfo {
        hostname: "node-a".into(),
        addresses: Vec::new(),
    };
    let config = parse_with(Path::new("node.toml"), &text, &host).expect("valid node.toml");
    let (_, resolved) = Addresses::start(&config).expect("allocator");
    desired(&config, resolved).0
}

/// The Kubernetes side: the same through the speaker's plan.
fn from_crds(services: &[(&str, &[&str])]) -> ferrolb::announce::Desired {
    let host = HostInfo {
        hostname: "node-a".into(),
        addresses: Vec::new(),
    };
    let config = parse_with(Path::new("node.toml"), NODE, &host).expect("valid node.toml");
    let peers: Vec<BGPPeer> = CRDS
        .iter()
        .filter(|t| t.starts_with("kind: BGPPeer"))
        .map(|t| object(t))
        .collect();
    let pools: Vec<IPAddressPool> = CRDS
        .iter()
        .filter(|t| t.starts_with("kind: IPAddressPool"))
        .map(|t| object(t))
        .collect();
    let ads: Vec<BGPAdvertisement> = CRDS
        .iter()
        .filter(|t| t.starts_with("kind: BGPAdvertisement"))
        .map(|t| object(t))
        .collect();
    let l2_ads: Vec<L2Advertisement> = CRDS
        .iter()
        .filter(|t| t.starts_with("kind: L2Advertisement"))
        .map(|t| object(t))
        .collect();
    let profiles: Vec<BFDProfile> = CRDS
        .iter()
        .filter(|t| t.starts_with("kind: BFDProfile"))
        .map(|t| object(t))
        .collect();
    let services: Vec<std::sync::Arc<ServiceRecord>> = services
        .iter()
        .map(|(n, a)| std::sync::Arc::new(ServiceRecord::of(&service(n, a))))
        .collect();
    let inputs = Inputs {
        peers: &peers,
        advertisements: &ads,
        l2_advertisements: &l2_ads,
        pools: &pools,
        services: &services,
        slices: &[],
        labels: &BTreeMap::new(),
        passwords: &Passwords::default(),
        bfd_profiles: &profiles,
        node: "node-a",
        class: "",
    };
    let (desired, _, problems) = plan::desired(&inputs, &config.local());
    assert!(problems.is_empty(), "{problems:?}");
    desired
}

#[test]
fn node_toml_and_the_equivalent_crds_give_identical_sink_changes() {
    let steps: &[&[(&str, &[&str])]] = &[
        &[("web", &["198.51.100.10", "2001:db8:100::10"])],
        &[
            ("web", &["198.51.100.10", "2001:db8:100::10"]),
            ("api", &["198.51.100.77"]),
        ],
        &[("api", &["198.51.100.77"])],
        &[],
    ];
    let (mut toml, mut crds) = (Announcer::new(), Announcer::new());
    for (i, services) in steps.iter().enumerate() {
        let (a, b) = (from_toml(services), from_crds(services));
        assert_eq!(a.peers, b.peers, "step {i}: peers");
        assert_eq!(
            a.advertisements, b.advertisements,
            "step {i}: advertisements"
        );
        let (ca, cb): (Changes, Changes) = (toml.apply(a), crds.apply(b));
        assert_eq!(ca, cb, "step {i}: sink changes");
        for peer in ["tor1", "tor2"] {
            assert_eq!(
                toml.table().for_peer(peer),
                crds.table().for_peer(peer),
                "step {i}: {peer}"
            );
        }
    }
    // The walk did something: the first step started both sessions with a non-empty table.
    let mut fresh = Announcer::new();
    let first = fresh.apply(from_crds(steps[0]));
    assert_eq!(first.peers.map(|p| p.len()), Some(2));
    assert_eq!(
        fresh.table().for_peer("tor1").len(),
        4,
        "two host routes and two aggregates"
    );
    assert_eq!(fresh.table().for_peer("tor2").len(), 2, "aggregates only");
}
