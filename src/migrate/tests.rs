//! `ferrolb migrate`: each supported MetalLB field lands where it should, each other one is a
//! warning at its line, and both outputs pass ferrolb's own checks.

use std::collections::BTreeSet;
use std::path::Path;

use serde::de::DeserializeOwned;

use super::*;
use crate::config::HostInfo;
use crate::watch::crds::{
    BFDProfile, BGPAdvertisement, BGPPeer, IPAddressPool, L2Advertisement, SecretReference,
};
use crate::watch::manifests::{check_text, Report};

const BGP: &str = include_str!("../../tests/fixtures/metallb/bgp.yaml");
const L2: &str = include_str!("../../tests/fixtures/metallb/l2.yaml");
const POOLS: &str = include_str!("../../tests/fixtures/metallb/pools.yaml");

fn migrate(text: &str) -> Migration {
    let mut m = Migration::default();
    read("m.yaml", text, &mut m).expect("readable");
    m
}

/// The CRD output and every warning (reading and rendering).
fn crds(text: &str) -> (String, Vec<String>) {
    let m = migrate(text);
    let (out, w) = render_crds(&m).expect("render");
    let all = m.warnings.iter().chain(&w).map(|w| w.to_string()).collect();
    (out, all)
}

fn toml_of(text: &str) -> (String, Vec<String>) {
    let m = migrate(text);
    let (out, w) = render_toml(&m);
    let all = m.warnings.iter().chain(&w).map(|w| w.to_string()).collect();
    (out, all)
}

/// Every output document of `kind`, typed.
fn objects<T: DeserializeOwned>(out: &str, kind: &str) -> Vec<T> {
    crate::yaml::from_multiple::<serde_json::Value>(out)
        .expect("yaml")
        .into_iter()
        .filter(|v| v.get("kind").and_then(|k| k.as_str()) == Some(kind))
        .map(|v| serde_json::from_value(v).expect("our type"))
        .collect()
}

fn one<T: DeserializeOwned>(out: &str, kind: &str) -> T {
    let mut all = objects::<T>(out, kind);
    assert_eq!(all.len(), 1, "{out}");
    all.remove(0)
}

const PEER: &str = "apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  name: tor
  namespace: metallb-system
spec:
  myASN: 64512
  peerASN: 64500
  peerAddress: 192.0.2.1
  peerPort: 1179
  holdTime: 90s
  keepaliveTime: 30s
  routerID: 192.0.2.10
  sourceAddress: 192.0.2.10
  ebgpMultiHop: true
  bfdProfile: fast
  passwordSecret:
    name: tor-md5
  nodeSelectors:
  - matchLabels:
      rack: a
";

const SECRET: &str = "  passwordSecret:\n    name: tor-md5\n";

#[test]
fn every_supported_peer_field_lands_in_the_ferrolb_bgppeer() {
    let (out, warnings) = crds(PEER);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("m.yaml:17: BGPPeer/tor: passwordSecret: ferrolb reads Secret `tor-md5` (key `password`) from `ferrolb-system`: copy it there from `metallb-system`"),
        "{warnings:?}"
    );
    let p: BGPPeer = one(&out, "BGPPeer");
    assert_eq!(p.metadata.name.as_deref(), Some("tor"));
    assert_eq!(p.metadata.namespace.as_deref(), Some(NAMESPACE));
    let s = &p.spec;
    assert_eq!((s.my_asn, s.peer_asn), (64512, 64500));
    assert_eq!(s.peer_address, "192.0.2.1");
    assert_eq!(s.peer_port, Some(1179));
    assert_eq!(s.hold_time.as_deref(), Some("90s"));
    assert_eq!(s.keepalive_time.as_deref(), Some("30s"));
    assert_eq!(s.router_id.as_deref(), Some("192.0.2.10"));
    assert_eq!(s.source_address.as_deref(), Some("192.0.2.10"));
    assert_eq!(s.ebgp_multi_hop, Some(true));
    assert_eq!(s.bfd_profile.as_deref(), Some("fast"));
    assert_eq!(
        s.password_secret,
        Some(SecretReference {
            name: "tor-md5".into(),
            namespace: None
        })
    );
    assert_eq!(s.node_selectors[0].match_labels["rack"], "a");
    assert!(out.contains("apiVersion: ferrolb.io/v1alpha1"), "{out}");
}

#[test]
fn a_plain_password_becomes_a_secret_to_fill_and_is_never_printed() {
    let text = PEER.replace(
        "  passwordSecret:\n    name: tor-md5\n",
        "  password: s3cret-md5\n",
    );
    let (out, warnings) = crds(&text);
    assert!(!out.contains("s3cret-md5"), "{out}");
    let p: BGPPeer = one(&out, "BGPPeer");
    assert_eq!(
        p.spec.password_secret.map(|s| s.name).as_deref(),
        Some("tor-password")
    );
    let secret: serde_json::Value = one(&out, "Secret");
    assert_eq!(secret["metadata"]["name"].as_str(), Some("tor-password"));
    assert_eq!(secret["metadata"]["namespace"].as_str(), Some(NAMESPACE));
    assert_eq!(
        secret["stringData"]["password"].as_str(),
        Some("REPLACE-ME")
    );
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("m.yaml:17: BGPPeer/tor: password: not printed"),
        "{warnings:?}"
    );
    let (toml, _) = toml_of(&text);
    assert!(!toml.contains("s3cret-md5"), "{toml}");
}

#[test]
fn each_peer_field_ferrolb_lacks_is_a_warning_at_its_line() {
    let extra = "  vrf: red\n  dynamicASN: external\n  interface: eth0\n  disableMP: true\n  enableGracefulRestart: true\n  connectTime: 5s\n  someFutureField: 1\n";
    let (out, warnings) = crds(&format!("{}{extra}", PEER.replace(SECRET, "")));
    let fields = [
        "vrf",
        "dynamicASN",
        "interface",
        "disableMP",
        "enableGracefulRestart",
        "connectTime",
        "someFutureField",
    ];
    assert_eq!(warnings.len(), fields.len(), "{warnings:?}");
    for (i, field) in fields.iter().enumerate() {
        let want = format!("m.yaml:{}: BGPPeer/tor: {field}: ", 20 + i);
        assert!(warnings[i].starts_with(&want), "{want} in {warnings:?}");
        assert!(!out.contains(&format!("{field}:")), "{out}");
    }
    assert_eq!(objects::<BGPPeer>(&out, "BGPPeer").len(), 1);
}

#[test]
fn pool_fields_land_in_the_ferrolb_ipaddresspool() {
    let (out, warnings) = crds(POOLS);
    assert!(warnings.is_empty(), "{warnings:?}");
    let pools: Vec<IPAddressPool> = objects(&out, "IPAddressPool");
    assert_eq!(pools.len(), 3);
    assert_eq!(pools[0].spec.addresses, ["198.51.100.0/24"]);
    assert_eq!(pools[1].spec.auto_assign, Some(false));
    let p = &pools[2];
    assert_eq!(p.metadata.namespace.as_deref(), Some(NAMESPACE));
    assert_eq!(p.spec.addresses, ["192.0.2.0/24"]);
    assert_eq!(p.spec.avoid_buggy_ips, Some(true));
    let sa = p
        .spec
        .service_allocation
        .clone()
        .expect("serviceAllocation");
    assert_eq!(sa.priority, Some(50));
    assert_eq!(sa.namespaces, ["namespace-a", "namespace-b"]);
    assert_eq!(sa.namespace_selectors[0].match_labels["foo"], "bar");
    let e = &sa.service_selectors[0].match_expressions[0];
    assert_eq!((e.key.as_str(), e.operator.as_str()), ("app", "In"));
    assert_eq!(e.values, ["bar"]);
}

#[test]
fn community_aliases_are_resolved_into_the_advertisements_and_no_community_is_emitted() {
    let (out, _) = crds(BGP);
    assert!(!out.contains("kind: Community"), "{out}");
    let ads: Vec<BGPAdvertisement> = objects(&out, "BGPAdvertisement");
    let local = ads
        .iter()
        .find(|a| a.metadata.name.as_deref() == Some("local"))
        .expect("local");
    assert_eq!(local.spec.communities, ["1234:1"]);
    assert_eq!(local.spec.ip_address_pools, ["first-pool"]);
    assert_eq!(local.spec.aggregation_length, Some(32));
    assert_eq!(local.spec.local_pref, Some(100));
    assert_eq!(local.metadata.namespace.as_deref(), Some(NAMESPACE));
}

#[test]
fn peers_with_another_my_asn_than_the_first_are_warned_in_the_crds_too() {
    let (_, warnings) = crds(BGP);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].starts_with(
            "m.yaml:45: BGPPeer/peersample: myASN: 64512 differs from the first peer's 64500"
        ),
        "{warnings:?}"
    );
    assert!(
        warnings[1].starts_with("m.yaml:56: BGPPeer/example: myASN: "),
        "{warnings:?}"
    );
}

#[test]
fn an_alias_no_community_defines_is_a_warning_at_its_entry() {
    let text = "apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata:\n  name: a\nspec:\n  communities:\n  - 64500:1\n  - no-such-alias\n";
    let (out, warnings) = crds(text);
    let ad: BGPAdvertisement = one(&out, "BGPAdvertisement");
    assert_eq!(ad.spec.communities, ["64500:1"]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("m.yaml:8: BGPAdvertisement/a: communities: `no-such-alias`"),
        "{warnings:?}"
    );
}

#[test]
fn every_bgp_advertisement_field_lands_in_the_ferrolb_bgpadvertisement() {
    let text = "apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata:\n  name: a\nspec:\n  ipAddressPools: [p]\n  ipAddressPoolSelectors:\n  - matchLabels: {tier: gold}\n  aggregationLength: 28\n  aggregationLengthV6: 124\n  localPref: 50\n  communities: [no-export]\n  peers: [tor]\n  nodeSelectors:\n  - matchLabels: {rack: a}\n";
    let (out, warnings) = crds(text);
    assert!(warnings.is_empty(), "{warnings:?}");
    let s = one::<BGPAdvertisement>(&out, "BGPAdvertisement").spec;
    assert_eq!(s.ip_address_pools, ["p"]);
    assert_eq!(s.ip_address_pool_selectors[0].match_labels["tier"], "gold");
    assert_eq!(
        (s.aggregation_length, s.aggregation_length_v6),
        (Some(28), Some(124))
    );
    assert_eq!(s.local_pref, Some(50));
    assert_eq!(s.communities, ["no-export"]);
    assert_eq!(s.peers, ["tor"]);
    assert_eq!(s.node_selectors[0].match_labels["rack"], "a");
}

#[test]
fn every_l2_advertisement_field_lands_in_the_ferrolb_l2advertisement() {
    let text = "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata:\n  name: a\nspec:\n  ipAddressPools: [p]\n  ipAddressPoolSelectors:\n  - matchLabels: {tier: gold}\n  nodeSelectors:\n  - matchLabels: {rack: a}\n  interfaces: [eth0]\n";
    let (out, warnings) = crds(text);
    assert!(warnings.is_empty(), "{warnings:?}");
    let s = one::<L2Advertisement>(&out, "L2Advertisement").spec;
    assert_eq!(s.ip_address_pools, ["p"]);
    assert_eq!(s.ip_address_pool_selectors[0].match_labels["tier"], "gold");
    assert_eq!(s.node_selectors[0].match_labels["rack"], "a");
    assert_eq!(s.interfaces, ["eth0"]);
}

#[test]
fn bfd_profile_fields_land_and_echo_is_a_warning() {
    let text = "apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata:\n  name: fast\nspec:\n  receiveInterval: 300\n  transmitInterval: 310\n  detectMultiplier: 5\n  echoInterval: 50\n  echoMode: true\n  passiveMode: true\n  minimumTtl: 254\n";
    let (out, warnings) = crds(text);
    let s = one::<BFDProfile>(&out, "BFDProfile").spec;
    assert_eq!(
        (s.receive_interval, s.transmit_interval),
        (Some(300), Some(310))
    );
    assert_eq!(s.detect_multiplier, Some(5));
    assert_eq!((s.passive_mode, s.minimum_ttl), (Some(true), Some(254)));
    assert_eq!((s.echo_interval, s.echo_mode), (None, None));
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings
        .iter()
        .any(|w| w.starts_with("m.yaml:10: BFDProfile/fast: echoMode:")));
    assert!(warnings
        .iter()
        .any(|w| w.starts_with("m.yaml:9: BFDProfile/fast: echoInterval:")));
    let (out, warnings) = crds(&text.replace("echoMode: true", "echoMode: false"));
    assert_eq!(
        one::<BFDProfile>(&out, "BFDProfile").spec.echo_mode,
        Some(false)
    );
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}

#[test]
fn an_unknown_metallb_kind_is_a_warning_and_other_groups_are_skipped_silently() {
    let text = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: metallb-system\n---\napiVersion: metallb.io/v1beta1\nkind: ServiceL2Status\nmetadata:\n  name: s\n";
    let m = migrate(text);
    assert!(m.is_empty());
    let w: Vec<String> = m.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("m.yaml:7: ServiceL2Status/s: kind: MetalLB kind `ServiceL2Status`"),
        "{w:?}"
    );
}

#[test]
fn a_value_our_type_cannot_hold_is_a_warning_and_the_object_is_skipped() {
    let text = PEER.replace("peerASN: 64500", "peerASN: sixty-four-thousand");
    let m = migrate(&text);
    assert!(m.peers.is_empty());
    let w: Vec<String> = m.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        w.iter().any(
            |w| w.starts_with("m.yaml:2: BGPPeer/tor: spec: cannot convert (")
                && w.ends_with("object skipped")
        ),
        "{w:?}"
    );
}

#[test]
fn a_namespace_other_than_metallb_system_is_a_warning() {
    let text = POOLS.replacen("namespace: metallb-system", "namespace: lb", 1);
    let (_, warnings) = crds(&text);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("m.yaml:10: IPAddressPool/cheap: metadata.namespace: `lb`"),
        "{warnings:?}"
    );
}

#[test]
fn a_document_that_is_not_yaml_is_a_read_error_with_its_line() {
    let mut m = Migration::default();
    let e = read(
        "m.yaml",
        "apiVersion: metallb.io/v1beta1\nkind: [\n",
        &mut m,
    )
    .unwrap_err();
    // At the bracket that is never closed.
    assert_eq!((e.file.as_str(), e.line), ("m.yaml", 2));
    assert_eq!(e.message, "unclosed bracket '['");
}

#[test]
fn the_crd_output_of_every_fixture_passes_ferrolb_check_manifests() {
    for (name, text) in [("bgp", BGP), ("l2", L2), ("pools", POOLS)] {
        let (out, _) = crds(text);
        let mut report = Report::default();
        check_text(name, &out, None, &mut BTreeSet::new(), &mut report);
        assert!(
            report.errors.is_empty(),
            "{name}: {:?}\n{out}",
            report.errors
        );
        assert!(report.objects > 0, "{name}");
    }
}

fn host() -> HostInfo {
    HostInfo {
        hostname: "node-1".into(),
        addresses: vec!["203.0.113.200".parse().expect("ip")],
    }
}

#[test]
fn the_toml_output_of_every_fixture_passes_ferrolb_check_config() {
    for (name, text) in [("bgp", BGP), ("l2", L2), ("pools", POOLS)] {
        let (out, _) = toml_of(text);
        let config = crate::config::parse_with(Path::new("node.toml"), &out, &host());
        assert!(config.is_ok(), "{name}: {:?}\n{out}", config.err());
    }
}

fn toml_value(out: &str) -> toml::Value {
    toml::from_str(out).expect("toml")
}

#[test]
fn the_toml_carries_each_peer_field_under_its_node_toml_key() {
    let text = PEER.replace(SECRET, "");
    let (out, warnings) = toml_of(&text);
    let v = toml_value(&out);
    assert_eq!(v["node"]["asn"].as_integer(), Some(64512));
    assert_eq!(v["node"]["router_id"].as_str(), Some("192.0.2.10"));
    let p = &v["bgp"]["peers"][0];
    assert_eq!(p["name"].as_str(), Some("tor"));
    assert_eq!(p["address"].as_str(), Some("192.0.2.1"));
    assert_eq!(p["asn"].as_integer(), Some(64500));
    assert_eq!(p["port"].as_integer(), Some(1179));
    assert_eq!(p["hold_time"].as_integer(), Some(90));
    assert_eq!(p["keepalive_time"].as_integer(), Some(30));
    assert_eq!(p["source_address"].as_str(), Some("192.0.2.10"));
    assert_eq!(p["ebgp_multihop"].as_integer(), Some(255));
    // No BFDProfile `fast` among the inputs: the default profile, with a warning.
    assert_eq!(p["bfd"].as_bool(), Some(true));
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("BGPPeer/tor: bfdProfile: no BFDProfile `fast` among the inputs")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("m.yaml:17: BGPPeer/tor: nodeSelectors: node.toml")),
        "{warnings:?}"
    );
}

#[test]
fn the_toml_carries_pools_and_warns_about_service_allocation() {
    let (out, warnings) = toml_of(POOLS);
    let v = toml_value(&out);
    let pools = v["pools"].as_array().expect("pools");
    assert_eq!(pools[0]["name"].as_str(), Some("cheap"));
    assert_eq!(pools[0]["addresses"][0].as_str(), Some("198.51.100.0/24"));
    assert_eq!(pools[1]["auto_assign"].as_bool(), Some(false));
    assert_eq!(pools[2]["avoid_buggy_ips"].as_bool(), Some(true));
    assert_eq!(v["node"]["asn"].as_integer(), Some(64512));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with(
            "m.yaml:34: IPAddressPool/ippool-ns-service-alloc-sample: serviceAllocation: "
        ),
        "{warnings:?}"
    );
}

#[test]
fn the_toml_carries_bgp_advertisements_and_bfd_profiles_and_warns_about_node_selectors_and_asns() {
    let (out, warnings) = toml_of(BGP);
    let v = toml_value(&out);
    let ads = v["advertisements"].as_array().expect("advertisements");
    assert_eq!(ads.len(), 3);
    assert_eq!(ads[0]["pools"][0].as_str(), Some("first-pool"));
    assert_eq!(ads[0]["communities"][0].as_str(), Some("1234:1"));
    assert_eq!(ads[0]["local_pref"].as_integer(), Some(100));
    assert_eq!(ads[0]["aggregation_length"].as_integer(), Some(32));
    assert_eq!(ads[1]["aggregation_length"].as_integer(), Some(24));
    assert_eq!(v["bgp"]["peers"].as_array().map(Vec::len), Some(3));
    let profile = &v["bfd_profiles"][0];
    assert_eq!(profile["name"].as_str(), Some("testbfdprofile"));
    assert_eq!(profile["receive_interval"].as_integer(), Some(380));
    assert_eq!(profile["transmit_interval"].as_integer(), Some(270));
    let sample = v["bgp"]["peers"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"].as_str() == Some("peersample")))
        .expect("peersample");
    assert_eq!(sample["bfd_profile"].as_str(), Some("testbfdprofile"));
    let starts = [
        "m.yaml:45: BGPPeer/peersample: myASN: 64512 differs",
        "m.yaml:56: BGPPeer/example: myASN: 64512 differs",
        "m.yaml:61: BGPPeer/example: nodeSelectors: ",
        "m.yaml:105: BGPAdvertisement/example: nodeSelectors: ",
    ];
    assert_eq!(warnings.len(), starts.len(), "{warnings:?}");
    for (w, s) in warnings.iter().zip(starts) {
        assert!(w.starts_with(s), "{s} in {warnings:?}");
    }
}

#[test]
fn the_toml_carries_l2_advertisements_as_mode_l2_with_their_interfaces() {
    let (out, warnings) = toml_of(L2);
    let v = toml_value(&out);
    let ads = v["advertisements"].as_array().expect("advertisements");
    assert_eq!(ads.len(), 3);
    for ad in ads {
        assert_eq!(ad["mode"].as_str(), Some("l2"));
        assert_eq!(ad["pools"][0].as_str(), Some("first-pool"));
    }
    assert_eq!(ads[2]["interfaces"].as_array().map(Vec::len), Some(2));
    assert_eq!(ads[2]["interfaces"][1].as_str(), Some("eth1"));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("m.yaml:35: L2Advertisement/example-nodes: nodeSelectors: "),
        "{warnings:?}"
    );
}

#[test]
fn pool_selectors_become_the_names_of_the_pools_they_select_in_the_toml() {
    let text = "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: gold\n  labels: {tier: gold}\nspec:\n  addresses: [198.51.100.0/24]\n---\napiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: other\nspec:\n  addresses: [203.0.113.0/24]\n---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata:\n  name: a\nspec:\n  ipAddressPoolSelectors:\n  - matchLabels: {tier: gold}\n";
    let (out, warnings) = toml_of(text);
    let v = toml_value(&out);
    assert_eq!(v["advertisements"][0]["pools"][0].as_str(), Some("gold"));
    assert_eq!(
        v["advertisements"][0]["pools"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("m.yaml:21: BGPAdvertisement/a: ipAddressPoolSelectors: "),
        "{warnings:?}"
    );
    let (crd, _) = crds(text);
    let pool: Vec<IPAddressPool> = objects(&crd, "IPAddressPool");
    assert_eq!(
        pool[0].metadata.labels.as_ref().map(|l| l["tier"].as_str()),
        Some("gold"),
        "labels are kept for the selectors in the cluster"
    );
}
