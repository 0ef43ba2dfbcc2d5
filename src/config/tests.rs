//! Config tests: each error class with its exact location, the example and the node config
//! contract parse.

use std::path::Path;

use super::*;

fn host() -> HostInfo {
    HostInfo {
        hostname: "testhost".into(),
        addresses: vec!["192.0.2.99".parse().expect("ip")],
    }
}

fn parse_str(text: &str) -> Result<Config, ConfigErrors> {
    parse_with(Path::new("node.toml"), text, &host())
}

fn errors(text: &str) -> Vec<String> {
    match parse_str(text) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

const BASE: &str = r#"[node]
router_id = "192.0.2.10"
asn = 64512
addresses = ["192.0.2.10"]

[[bgp.peers]]
name = "tor1"
address = "192.0.2.1"
asn = 64500

[[services]]
name = "web"
addresses = ["198.51.100.10"]
"#;

#[test]
fn the_base_config_parses_with_documented_defaults() {
    let c = parse_str(BASE).expect("valid");
    assert_eq!(c.node.name, "testhost");
    assert_eq!(c.bgp.listen, Some("[::]:179".parse().expect("addr")));
    let p = &c.bgp.peers[0];
    assert_eq!(
        (p.port, p.hold_time, p.keepalive_time, p.connect_retry),
        (179, 90, 30, 5)
    );
    assert_eq!(p.families.len(), 2);
    assert_eq!(c.http.listen, Some("127.0.0.1:7473".parse().expect("addr")));
}

#[test]
fn an_unknown_key_is_located_at_the_key() {
    let e = errors(&BASE.replace("asn = 64500", "asn = 64500\nholdtime = 30"));
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("node.toml:10:1: "), "{e:?}");
    assert!(e[0].contains("holdtime"), "{e:?}");
}

#[test]
fn a_bad_address_is_located_at_the_value() {
    let e = errors(&BASE.replace("\"192.0.2.1\"", "\"192.0.2.300\""));
    assert_eq!(
        e,
        vec!["node.toml:8:11: bgp.peers[0].address: `192.0.2.300` is not an IP address"]
    );
}

#[test]
fn a_bad_cidr_in_a_pool_is_refused() {
    let e = errors(&format!(
        "{BASE}\n[[pools]]\nname = \"p\"\naddresses = [\"198.51.100.0/33\"]\n"
    ));
    assert!(
        e[0].starts_with("node.toml:17:14: pools[0].addresses: `198.51.100.0/33`"),
        "{e:?}"
    );
}

#[test]
fn asn_zero_is_refused_for_node_and_peer_and_both_are_reported() {
    let e = errors(
        &BASE
            .replace("asn = 64512", "asn = 0")
            .replace("asn = 64500", "asn = 0"),
    );
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].starts_with("node.toml:3:7: node.asn: AS number 0"),
        "{e:?}"
    );
    assert!(
        e[1].starts_with("node.toml:9:7: bgp.peers[0].asn: AS number 0"),
        "{e:?}"
    );
}

#[test]
fn hold_time_1_and_2_are_refused() {
    for h in [1, 2] {
        let e = errors(&BASE.replace("asn = 64500", &format!("asn = 64500\nhold_time = {h}")));
        assert!(
            e[0].starts_with("node.toml:10:13: bgp.peers[0].hold_time"),
            "{e:?}"
        );
        assert!(e[0].contains("use 0 (no keepalives) or 3..=65535"), "{e:?}");
    }
}

#[test]
fn two_peers_with_the_same_address_are_refused_naming_the_first() {
    let e = errors(&format!(
        "{BASE}\n[[bgp.peers]]\nname = \"tor2\"\naddress = \"192.0.2.1\"\nasn = 64501\n"
    ));
    assert!(
        e[0].starts_with("node.toml:17:11: bgp.peers[1].address"),
        "{e:?}"
    );
    assert!(e[0].contains("`tor1`"), "{e:?}");
}

#[test]
fn a_service_address_equal_to_a_node_address_is_refused() {
    let e = errors(&BASE.replace("[\"198.51.100.10\"]", "[\"192.0.2.10\"]"));
    assert!(
        e[0].starts_with(
            "node.toml:13:14: services[0].addresses: 192.0.2.10 is an address of node"
        ),
        "{e:?}"
    );
    assert!(e[0].contains("takes the node down"), "{e:?}");
}

#[test]
fn a_service_without_addresses_is_refused() {
    let e = errors(&BASE.replace("addresses = [\"198.51.100.10\"]\n", ""));
    assert!(
        e[0].starts_with("node.toml:11:1: services[0]: service `web` has no addresses"),
        "{e:?}"
    );
}

#[test]
fn a_pool_containing_a_node_address_is_refused() {
    let e = errors(&format!(
        "{BASE}\n[[pools]]\nname = \"p\"\naddresses = [\"192.0.2.0/24\"]\n"
    ));
    assert!(
        e[0].contains("contains 192.0.2.10, an address of node"),
        "{e:?}"
    );
    // Named by its index and by its name, at the range.
    assert!(
        e[0].starts_with("node.toml:17:14: pools[0].addresses: pool `p`: `192.0.2.0/24`"),
        "{e:?}"
    );
}

const V6_ONLY: &str = r#"
[[pools]]
name = "v6"
addresses = ["2001:db8:100::/64"]

[[pools]]
name = "manual"
addresses = ["198.51.100.0/24"]
auto_assign = false
"#;

#[test]
fn a_service_that_can_never_get_an_address_is_a_warning_and_the_file_stays_valid() {
    let services = r#"
[[services]]
name = "v6-svc"
pool = "v6"

[[services]]
name = "both"
pool = "manual"
ip_families = "RequireDualStack"
"#;
    let c = parse_str(&format!("{BASE}{V6_ONLY}{services}")).expect("valid with warnings");
    let w: Vec<String> = c.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].starts_with("node.toml:28:1: warning: services[2]: service `both` can never get an address: RequireDualStack"), "{w:?}");
    assert!(w[0].contains("no IPv6"), "{w:?}");
    // A service naming an IPv6-only pool asks for IPv6, so it is no warning.
    let v6 = &c.services[1];
    assert_eq!(
        v6.policy(&c.pools),
        crate::allocator::FamilyPolicy::SingleStack(crate::allocator::Fam::V6)
    );
    let none = parse_str(&format!(
        "{BASE}{}\n[[services]]\nname = \"any\"\n",
        V6_ONLY.replace(
            "name = \"v6\"\naddresses = [\"2001:db8:100::/64\"]",
            "name = \"v6\"\naddresses = [\"2001:db8:100::/64\"]\nauto_assign = false"
        )
    ))
    .expect("valid");
    assert!(
        none.warnings[0].message.contains("no pool is auto_assign"),
        "{:?}",
        none.warnings
    );
}

#[test]
fn the_router_id_must_be_ipv4() {
    let e = errors(&BASE.replace("router_id = \"192.0.2.10\"", "router_id = \"2001:db8::1\""));
    assert!(e[0].starts_with("node.toml:2:13: node.router_id"), "{e:?}");
}

#[test]
fn a_syntax_error_is_located() {
    let e = errors("[node\nasn = 1\n");
    assert!(e[0].starts_with("node.toml:1:"), "{e:?}");
}

#[test]
fn listen_empty_disables_and_garbage_is_refused() {
    let c = parse_str(&format!("{BASE}\n[http]\nlisten = \"\"\n")).expect("valid");
    assert_eq!(c.http.listen, None);
    let e = errors(&format!("{BASE}\n[http]\nlisten = \"localhost\"\n"));
    assert!(e[0].contains("http.listen"), "{e:?}");
}

#[test]
fn the_example_config_is_valid() {
    let text = include_str!("../../examples/standalone.toml");
    let c = parse_str(text).expect("examples/standalone.toml is valid");
    assert_eq!(c.services.len(), 2);
    assert_eq!(
        c.bgp.peers[0].address,
        "192.0.2.1".parse::<std::net::IpAddr>().expect("ip")
    );
}

/// The node config contract (every documented key), with `[[services]]` listing addresses (pool allocation
/// comes with the allocator): every key must be accepted.
#[test]
fn every_key_of_the_design_contract_is_accepted() {
    let contract = r#"
[node]
name = "node-a"
router_id = "192.0.2.10"
asn = 64512
addresses = ["192.0.2.10"]

[bgp]
listen = "0.0.0.0:179"

[[bgp.peers]]
name = "tor1"
address = "192.0.2.1"
asn = 64500
port = 179
hold_time = 90
keepalive_time = 30
connect_retry = 5
source_address = "192.0.2.10"
password = "secret"
ebgp_multihop = 1
ttl_security = false
passive = false
families = ["ipv4", "ipv6"]
bfd = false

[[pools]]
name = "public"
addresses = ["198.51.100.0/24", "203.0.113.10-203.0.113.20", "2001:db8:100::/64"]
auto_assign = true
avoid_buggy_ips = false

[[advertisements]]
pools = ["public"]
mode = "bgp"
peers = []
communities = ["64500:100", "large:64500:1:2"]
local_pref = 100
aggregation_length = 32

[[services]]
name = "web"
pool = "public"
addresses = ["198.51.100.7"]
ip_families = "SingleStack"
allow_shared_ip = ""

[http]
listen = "127.0.0.1:7473"

[state]
path = "/var/lib/ferrolb/state.json"

[kubernetes]
namespace = "ferrolb-system"
load_balancer_class = ""
"#;
    let c = parse_str(contract).expect("the contract parses");
    assert_eq!(c.pools[0].ranges.len(), 3);
    assert_eq!(c.advertisements[0].communities.len(), 2);
    assert!(c.kubernetes.is_some());
    assert_eq!(c.bgp.peers[0].password.as_deref(), Some("secret"));
}

#[test]
fn bgp_defaults_offer_graceful_restart_extended_messages_and_a_drain() {
    let c = parse_str(BASE).expect("valid");
    assert_eq!(c.bgp.graceful_restart_time, 120);
    assert_eq!(c.bgp.graceful_shutdown_time, 5);
    assert!(c.bgp.peers[0].extended_messages);
    assert_eq!(c.bgp.peers[0].next_hop_v6, None);
}

#[test]
fn max_prefixes_and_send_queue_limit_are_read_and_bounded_where_written() {
    let c = parse_str(&BASE.replace(
        "asn = 64500",
        "asn = 64500\nmax_prefixes = 1000\nsend_queue_limit = 65536",
    ))
    .expect("valid");
    assert_eq!(c.bgp.peers[0].max_prefixes, 1000);
    assert_eq!(c.bgp.peers[0].send_queue_limit, 65536);
    let d = parse_str(BASE).expect("valid");
    assert_eq!(
        (d.bgp.peers[0].max_prefixes, d.bgp.peers[0].send_queue_limit),
        (0, 64 << 20)
    );
    let e = errors(&BASE.replace("asn = 64500", "asn = 64500\nsend_queue_limit = 4096"));
    assert!(e[0].starts_with("node.toml:10:20: "), "{e:?}");
    let e = errors(&BASE.replace("asn = 64500", "asn = 64500\nmax_prefixes = 2000000"));
    assert!(e[0].contains("max_prefixes"), "{e:?}");
}

#[test]
fn a_link_local_ipv6_next_hop_is_refused_where_it_is_written() {
    let e = errors(&BASE.replace("asn = 64500", "asn = 64500\nnext_hop_v6 = \"fe80::1\""));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("node.toml:10:15: "), "{e:?}");
    assert!(e[0].contains("global IPv6"), "{e:?}");
}

const TWO_ADS: &str = r#"
[[pools]]
name = "public"
addresses = ["198.51.100.0/24"]

[[advertisements]]
pools = ["public"]
local_pref = 100

[[advertisements]]
peers = ["tor1"]
local_pref = 200
"#;

#[test]
fn conflicting_local_prefs_for_the_same_address_are_a_config_error() {
    let text = format!("{BASE}{TWO_ADS}");
    let e = errors(&text);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("node.toml:25:14: "), "{e:?}");
    assert!(e[0].contains("conflicts with advertisements[0]"), "{e:?}");
    // Different peers: no address reaches one peer with both values.
    let text = format!(
        "{BASE}{}",
        TWO_ADS.replace("pools = [\"public\"]", "peers = [\"tor2\"]")
    )
    .replace(
        "[[services]]",
        "[[bgp.peers]]\nname = \"tor2\"\naddress = \"192.0.2.3\"\nasn = 64500\n\n[[services]]",
    );
    parse_str(&text).expect("valid: the advertisements reach different peers");
}

#[test]
fn an_aggregate_wider_than_the_pool_is_refused() {
    let text = format!(
        "{BASE}{}",
        "[[pools]]\nname = \"p\"\naddresses = [\"198.51.100.0/25\"]\n\n[[advertisements]]\naggregation_length = 24\n"
    );
    let e = errors(&text);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("198.51.100.0/25"), "{e:?}");
    let ok = text.replace("aggregation_length = 24", "aggregation_length = 25");
    parse_str(&ok).expect("valid");
}

#[test]
fn kubernetes_defaults_and_a_lease_duration_out_of_range_is_located() {
    let c = parse_str(&format!("{BASE}\n[kubernetes]\n")).expect("valid");
    let k = c.kubernetes.expect("kubernetes mode");
    assert_eq!(k.namespace, "ferrolb-system");
    assert_eq!(k.load_balancer_class, "");
    assert_eq!(k.lease_duration, 15);
    let text = format!("{BASE}\n[kubernetes]\nlease_duration = 1\n");
    let errs = parse_str(&text).expect_err("1 s is too short");
    let line = text
        .lines()
        .position(|l| l.starts_with("lease_duration"))
        .expect("line")
        + 1;
    assert_eq!(errs.0.len(), 1, "{errs}");
    assert_eq!(errs.0[0].line, line);
    assert!(
        errs.0[0].message.contains("kubernetes.lease_duration"),
        "{errs}"
    );
}

#[test]
fn bfd_profiles_are_checked_where_written_and_peers_resolve_them() {
    let text = BASE.replace("asn = 64500", "asn = 64500\nbfd_profile = \"fast\"");
    let good = format!("{text}\n[[bfd_profiles]]\nname = \"fast\"\nreceive_interval = 100\n");
    let c = parse_str(&good).expect("valid");
    let bfd = c.bgp.peers[0].bfd.as_ref().expect("BFD on");
    assert_eq!(
        (
            bfd.receive_interval,
            bfd.transmit_interval,
            bfd.detect_multiplier
        ),
        (100, 300, 3)
    );
    let on = parse_str(&BASE.replace("asn = 64500", "asn = 64500\nbfd = true")).expect("valid");
    assert_eq!(
        on.bgp.peers[0].bfd.as_ref().map(|p| p.receive_interval),
        Some(300)
    );

    let bad = format!("{text}\n[[bfd_profiles]]\nname = \"fast\"\ndetect_multiplier = 1\n");
    let e = errors(&bad);
    assert_eq!(
        e,
        vec!["node.toml:18:21: bfd_profiles[0].detect_multiplier: 1 is out of range 2..=255"]
    );
    let e = errors(&text);
    assert_eq!(
        e,
        vec!["node.toml:10:15: bgp.peers[0].bfd_profile: no BFD profile named `fast` (none is defined)"]
    );
}

const L2_ONLY: &str = r#"[node]
name = "node-0"
addresses = ["192.0.2.2"]

[cluster]
members = ["192.0.2.3", "192.0.2.4:7000", "[2001:db8::4]:7946"]

[[pools]]
name = "lan"
addresses = ["192.0.2.100-192.0.2.119"]

[[advertisements]]
pools = ["lan"]
mode = "l2"
interfaces = ["eth0"]

[[services]]
name = "web"
pool = "lan"
"#;

#[test]
fn an_l2_only_node_needs_no_asn_and_reads_cluster_with_default_ports() {
    let c = parse_str(L2_ONLY).expect("valid");
    assert_eq!(c.node.asn, 0);
    let cl = c.cluster.expect("[cluster]");
    assert_eq!(cl.listen, "0.0.0.0:7946".parse().expect("addr"));
    let members: Vec<String> = cl.members.iter().map(ToString::to_string).collect();
    assert_eq!(
        members,
        ["192.0.2.3:7946", "192.0.2.4:7000", "[2001:db8::4]:7946"]
    );
    assert_eq!(cl.advertise, None);
    assert_eq!(c.advertisements[0].interfaces, ["eth0"]);
    // A BGP peer makes the AS number required again.
    let e = errors(&format!(
        "{L2_ONLY}\n[[bgp.peers]]\nname = \"tor1\"\naddress = \"192.0.2.1\"\nasn = 64500\n"
    ));
    assert!(
        e.iter().any(|e| e.contains("node.asn is required")),
        "{e:?}"
    );
}

#[test]
fn a_bad_cluster_member_is_located_at_the_value() {
    let e = errors(&L2_ONLY.replace("\"192.0.2.4:7000\"", "\"node-b\""));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("node.toml:6:25: cluster.members: `node-b`"),
        "{e:?}"
    );
}
