//! `--to toml`: the converted objects as a node TOML (`[node]`, `[[pools]]`, `[[bgp.peers]]`,
//! `[[advertisements]]`), with a warning for what node.toml cannot express: selectors,
//! `serviceAllocation`, BFD profiles, Secrets.

use std::fmt::Write as _;

use super::{Item, Migration, Warning};
use crate::watch::convert::{go_duration, selected_pools};
use crate::watch::crds::{
    BFDProfile, BGPAdvertisement, BGPAdvertisementSpec, BGPPeer, IPAddressPool, LabelSelector,
};

const NO_SELECTORS: &str = "node.toml applies to the node that reads it and has no node selectors; left out (keep this entry only in the files of the nodes it selected)";

/// A TOML string literal.
fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| q(s)).collect();
    format!("[{}]", quoted.join(", "))
}

/// The node TOML and the warnings of this target.
pub fn render(m: &Migration) -> (String, Vec<Warning>) {
    let mut out = String::from("# Converted from MetalLB by `ferrolb migrate --from-metallb`.\n\n");
    let mut w = Vec::new();
    node(m, &mut out, &mut w);
    for p in &m.pools {
        pool(p, &mut out, &mut w);
    }
    for p in &m.bfd_profiles {
        bfd_profile(p, &mut out);
    }
    let profiles: Vec<&str> = m
        .bfd_profiles
        .iter()
        .map(|p| p.origin.name.as_str())
        .collect();
    for p in &m.peers {
        peer(p, &profiles, &mut out, &mut w);
    }
    for ad in &m.bgp_advertisements {
        bgp_advertisement(m, ad, &mut out, &mut w);
    }
    for ad in &m.l2_advertisements {
        let s = &ad.object.spec;
        let as_bgp = BGPAdvertisement::new(
            "l2",
            BGPAdvertisementSpec {
                ip_address_pools: s.ip_address_pools.clone(),
                ip_address_pool_selectors: s.ip_address_pool_selectors.clone(),
                ..BGPAdvertisementSpec::default()
            },
        );
        let Some(pools) = pools_of(m, &as_bgp, &ad.origin, &mut w) else {
            continue;
        };
        let _ = writeln!(out, "[[advertisements]]\nmode = \"l2\"\n{pools}");
        if !s.interfaces.is_empty() {
            let _ = writeln!(out, "interfaces = {}", list(&s.interfaces));
        }
        node_selectors(&s.node_selectors, &ad.origin, &mut w);
        out.push('\n');
    }
    (out, w)
}

/// `[node]`: the peers' myASN (one speaker, one ASN) and a routerID when a peer sets one.
fn node(m: &Migration, out: &mut String, w: &mut Vec<Warning>) {
    out.push_str("[node]\n");
    match m.peers.first() {
        Some(first) => {
            let asn = first.object.spec.my_asn;
            let _ = writeln!(out, "asn = {asn}");
            w.extend(m.asn_warnings());
        }
        None => out.push_str("asn = 64512 # no BGPPeer in the input: set this node's ASN\n"),
    }
    let ids: Vec<&Item<BGPPeer>> = m
        .peers
        .iter()
        .filter(|p| p.object.spec.router_id.is_some())
        .collect();
    match ids.first().and_then(|p| p.object.spec.router_id.as_deref()) {
        Some(id) => {
            let _ = writeln!(out, "router_id = {}", q(id));
            for p in ids.iter().filter(|p| p.object.spec.router_id.as_deref() != Some(id)) {
                w.push(p.origin.warn(
                    "routerID",
                    format!("differs from the first peer's {id}: one node has one BGP identifier; left out"),
                ));
            }
        }
        None => out.push_str(
            "# router_id = \"192.0.2.10\" # fill: this node's BGP identifier (default: its first IPv4 address)\n",
        ),
    }
    out.push('\n');
}

fn pool(p: &Item<IPAddressPool>, out: &mut String, w: &mut Vec<Warning>) {
    let s = &p.object.spec;
    let _ = writeln!(out, "[[pools]]\nname = {}", q(&p.origin.name));
    let _ = writeln!(out, "addresses = {}", list(&s.addresses));
    if let Some(a) = s.auto_assign {
        let _ = writeln!(out, "auto_assign = {a}");
    }
    if let Some(a) = s.avoid_buggy_ips {
        let _ = writeln!(out, "avoid_buggy_ips = {a}");
    }
    if s.service_allocation.is_some() {
        w.push(p.origin.warn(
            "serviceAllocation",
            "node.toml pools have no priority, namespaces or selectors; left out",
        ));
    }
    out.push('\n');
}

/// A BFDProfile as `[[bfd_profiles]]` (echo fields were warned about when read).
fn bfd_profile(p: &Item<BFDProfile>, out: &mut String) {
    let s = &p.object.spec;
    let _ = writeln!(out, "[[bfd_profiles]]\nname = {}", q(&p.origin.name));
    let fields = [
        ("receive_interval", s.receive_interval),
        ("transmit_interval", s.transmit_interval),
        ("detect_multiplier", s.detect_multiplier),
        ("minimum_ttl", s.minimum_ttl),
    ];
    for (key, v) in fields {
        if let Some(v) = v {
            let _ = writeln!(out, "{key} = {v}");
        }
    }
    if let Some(passive) = s.passive_mode {
        let _ = writeln!(out, "passive = {passive}");
    }
    out.push('\n');
}

fn peer(p: &Item<BGPPeer>, profiles: &[&str], out: &mut String, w: &mut Vec<Warning>) {
    let s = &p.object.spec;
    let o = &p.origin;
    let _ = writeln!(out, "[[bgp.peers]]\nname = {}", q(&o.name));
    let _ = writeln!(
        out,
        "address = {}\nasn = {}",
        q(&s.peer_address),
        s.peer_asn
    );
    if let Some(port) = s.peer_port {
        let _ = writeln!(out, "port = {port}");
    }
    for (field, key, value) in [
        ("holdTime", "hold_time", &s.hold_time),
        ("keepaliveTime", "keepalive_time", &s.keepalive_time),
    ] {
        let Some(text) = value else { continue };
        match go_duration(text) {
            Some(secs) => {
                let _ = writeln!(out, "{key} = {secs}");
            }
            None => w.push(o.warn(field, format!("`{text}` is not whole seconds; left out"))),
        }
    }
    if let Some(a) = &s.source_address {
        let _ = writeln!(out, "source_address = {}", q(a));
    }
    if s.ebgp_multi_hop == Some(true) {
        out.push_str("ebgp_multihop = 255\n");
    }
    match s.bfd_profile.as_deref() {
        Some(name) if profiles.contains(&name) => {
            let _ = writeln!(out, "bfd_profile = {}", q(name));
        }
        Some(name) => {
            out.push_str("bfd = true\n");
            w.push(o.warn(
                "bfdProfile",
                format!("no BFDProfile `{name}` among the inputs: the peer gets `bfd = true`, ferrolb's default timers (300 ms / 300 ms / x3)"),
            ));
        }
        None => {}
    }
    if o.lines.contains_key("password") || s.password_secret.is_some() {
        let field = if s.password_secret.is_some() {
            "passwordSecret"
        } else {
            "password"
        };
        out.push_str("# password = \"REPLACE-ME\" # fill: the TCP MD5 password\n");
        w.push(o.warn(field, "not printed: node.toml takes the password itself; fill the commented `password` of this peer"));
    }
    if !s.node_selectors.is_empty() {
        w.push(o.warn("nodeSelectors", NO_SELECTORS));
    }
    out.push('\n');
}

fn bgp_advertisement(
    m: &Migration,
    ad: &Item<BGPAdvertisement>,
    out: &mut String,
    w: &mut Vec<Warning>,
) {
    let s = &ad.object.spec;
    let Some(pools) = pools_of(m, &ad.object, &ad.origin, w) else {
        return;
    };
    let _ = writeln!(out, "[[advertisements]]\n{pools}");
    if !s.peers.is_empty() {
        let _ = writeln!(out, "peers = {}", list(&s.peers));
    }
    let (communities, cw) = m.communities_of(ad);
    w.extend(cw);
    if !communities.is_empty() {
        let _ = writeln!(out, "communities = {}", list(&communities));
    }
    if let Some(v) = s.local_pref {
        let _ = writeln!(out, "local_pref = {v}");
    }
    if let Some(v) = s.aggregation_length {
        let _ = writeln!(out, "aggregation_length = {v}");
    }
    if let Some(v) = s.aggregation_length_v6 {
        let _ = writeln!(out, "aggregation_length_v6 = {v}");
    }
    node_selectors(&s.node_selectors, &ad.origin, w);
    out.push('\n');
}

/// The `pools = [...]` line ("" for every pool): the names, or the pools of the input the
/// selectors pick; None when the selectors pick none (the advertisement is left out).
fn pools_of(
    m: &Migration,
    ad: &BGPAdvertisement,
    origin: &super::Origin,
    w: &mut Vec<Warning>,
) -> Option<String> {
    let s = &ad.spec;
    let mut names = s.ip_address_pools.clone();
    if !s.ip_address_pool_selectors.is_empty() {
        let pools: Vec<IPAddressPool> = m.pools.iter().map(|p| p.object.clone()).collect();
        let picked: Vec<String> = selected_pools(ad, &pools)
            .into_iter()
            .filter(|p| !names.contains(p))
            .collect();
        let why = if picked.is_empty() && names.is_empty() {
            "node.toml has no pool selectors and these select no pool of the input; advertisement left out".to_string()
        } else {
            format!("node.toml has no pool selectors: replaced by the pools of the input they select ({})", picked.join(", "))
        };
        w.push(origin.warn("ipAddressPoolSelectors", why));
        names.extend(picked);
        if names.is_empty() {
            return None;
        }
    }
    Some(if names.is_empty() {
        String::new()
    } else {
        format!("pools = {}", list(&names))
    })
}

fn node_selectors(list: &[LabelSelector], origin: &super::Origin, w: &mut Vec<Warning>) {
    if !list.is_empty() {
        w.push(origin.warn("nodeSelectors", NO_SELECTORS));
    }
}
