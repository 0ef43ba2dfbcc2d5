//! Turns the raw TOML into validated plain types, collecting every problem with its location:
//! `[node]`, `[bgp]`, `[[services]]`, `[http]`, `[state]`, `[kubernetes]` here; peers, pools and
//! advertisements through the model's shared rules (`objects.rs`).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;

use super::host::HostInfo;
use super::objects;
use super::problems::Problems;
use super::raw::*;
use super::*;
use crate::model::{LocalSpec, PoolSpec};

/// Converts and validates; problems are collected in `p`, warnings (a valid file that cannot
/// do everything it says) in `w`.
///
/// `services` are the `[[services]]` tables (from `raw`, or parsed one at a time by the lean
/// reader), converted as they come so that no raw table outlives its own conversion.
pub fn convert(
    raw: RawConfig,
    services_raw: impl Iterator<Item = S<RawService>>,
    host: &HostInfo,
    p: &mut Problems,
    w: &mut Problems,
) -> Config {
    // An L2-only standalone node has no BGP session and needs no AS number.
    let needs_asn =
        raw.kubernetes.is_some() || raw.bgp.as_ref().is_some_and(|b| !b.peers.is_empty());
    let node = node(raw.node.as_ref(), host, needs_asn, p);
    let bgp_raw = raw.bgp.as_ref();
    let graceful_restart_time = seconds(
        bgp_raw.and_then(|b| b.graceful_restart_time.as_ref()),
        "bgp.graceful_restart_time",
        4095,
        120,
        p,
    );
    let local = LocalSpec {
        asn: node.asn,
        router_id: node.router_id,
        addresses: node.addresses.clone(),
        graceful_restart_time,
    };
    let profiles = objects::bfd_profiles(&raw.bfd_profiles, p);
    let peers = objects::peers(bgp_raw.map_or(&[][..], |b| &b.peers), &local, &profiles, p);
    let bgp = BgpConfig {
        listen: listen(
            bgp_raw.and_then(|b| b.listen.as_ref()),
            "bgp.listen",
            "[::]:179",
            p,
        ),
        peers,
        graceful_restart_time,
        graceful_shutdown_time: seconds(
            bgp_raw.and_then(|b| b.graceful_shutdown_time.as_ref()),
            "bgp.graceful_shutdown_time",
            3600,
            5,
            p,
        ),
    };
    let pools = objects::pools(&raw.pools, &node.name, &local, p);
    let advertisements = objects::advertisements(&raw.advertisements, &pools, &bgp.peers, p);
    let services = services(services_raw, &node, &pools, p, w);
    let http = HttpConfig {
        listen: listen(
            raw.http.as_ref().and_then(|h| h.listen.as_ref()),
            "http.listen",
            "127.0.0.1:7473",
            p,
        ),
    };
    let state = raw
        .state
        .and_then(|s| s.path)
        .map(|path| StateConfig { path: path.into() });
    let kubernetes = raw.kubernetes.map(|k| KubernetesConfig {
        namespace: k.namespace.unwrap_or_else(|| "ferrolb-system".into()),
        load_balancer_class: k.load_balancer_class.unwrap_or_default(),
        kubeconfig: k.kubeconfig.map(Into::into),
        lease_duration: k
            .lease_duration
            .as_ref()
            .and_then(|s| int(s, "kubernetes.lease_duration", 2..3601, p))
            .map_or(15, |v| v as u32),
    });
    let cluster = raw.cluster.as_ref().map(|c| cluster(c, p));
    Config {
        source: std::path::PathBuf::new(),
        node,
        bgp,
        services,
        http,
        pools,
        advertisements,
        state,
        kubernetes,
        cluster,
        warnings: Vec::new(),
    }
}

/// `[cluster]`: listen, seeds (an address alone means port 7946), advertise.
fn cluster(raw: &RawCluster, p: &mut Problems) -> ClusterConfig {
    let default = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), CLUSTER_PORT);
    let listen = match raw.listen.as_ref() {
        None => default,
        Some(s) => member(s, "cluster.listen", p).unwrap_or(default),
    };
    let members = raw
        .members
        .iter()
        .filter_map(|m| member(m, "cluster.members", p))
        .collect();
    let advertise = raw
        .advertise
        .as_ref()
        .and_then(|a| member(a, "cluster.advertise", p));
    ClusterConfig {
        listen,
        members,
        advertise,
    }
}

/// `192.0.2.11:7946`, `[2001:db8::11]:7946` or an address alone (port 7946).
fn member(s: &S<String>, field: &str, p: &mut Problems) -> Option<SocketAddr> {
    let text = s.get_ref().trim();
    if let Ok(a) = text.parse::<SocketAddr>() {
        return Some(a);
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, CLUSTER_PORT));
    }
    p.at(
        s,
        format!("{field}: `{text}` is not an address like \"192.0.2.11:7946\", \"[2001:db8::11]:7946\" or \"192.0.2.11\""),
    );
    None
}

fn ip(s: &S<String>, field: &str, p: &mut Problems) -> Option<IpAddr> {
    match s.get_ref().trim().parse::<IpAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            p.at(
                s,
                format!("{field}: `{}` is not an IP address", s.get_ref()),
            );
            None
        }
    }
}

fn int(s: &S<i64>, field: &str, range: Range<i64>, p: &mut Problems) -> Option<i64> {
    let v = *s.get_ref();
    if range.contains(&v) {
        Some(v)
    } else {
        p.at(
            s,
            format!(
                "{field}: {v} is out of range {}..={}",
                range.start,
                range.end - 1
            ),
        );
        None
    }
}

fn seconds(v: Option<&S<i64>>, field: &str, max: i64, default: i64, p: &mut Problems) -> u16 {
    v.map_or(Some(default), |v| int(v, field, 0..max + 1, p))
        .unwrap_or(default) as u16
}

fn asn(s: Option<&S<i64>>, field: &str, span: Range<usize>, p: &mut Problems) -> u32 {
    match s {
        None => {
            p.at_span(span, format!("{field} is required"));
            0
        }
        Some(s) if *s.get_ref() == 0 => {
            p.at(
                s,
                format!("{field}: AS number 0 is reserved (RFC 7607); use 1..=4294967295"),
            );
            0
        }
        Some(s) => int(s, field, 1..(1i64 << 32), p).map_or(0, |v| v as u32),
    }
}

fn node(
    raw: Option<&S<RawNode>>,
    host: &HostInfo,
    needs_asn: bool,
    p: &mut Problems,
) -> NodeConfig {
    let span = raw.map_or(0..0, |n| n.span());
    let Some(n) = raw.map(|n| n.get_ref()) else {
        p.at_span(0..0, "[node] is required (asn, router_id)");
        return NodeConfig {
            name: host.hostname.clone(),
            router_id: Ipv4Addr::UNSPECIFIED,
            asn: 0,
            addresses: host.addresses.clone(),
        };
    };
    let addresses = match &n.addresses {
        Some(list) => list
            .iter()
            .filter_map(|a| ip(a, "node.addresses", p))
            .collect(),
        None => host.addresses.clone(),
    };
    let router_id = match &n.router_id {
        Some(r) => match ip(r, "node.router_id", p) {
            Some(IpAddr::V4(v4)) => v4,
            Some(IpAddr::V6(_)) => {
                p.at(
                    r,
                    "node.router_id: the BGP identifier must be an IPv4 address (RFC 4271)",
                );
                Ipv4Addr::UNSPECIFIED
            }
            None => Ipv4Addr::UNSPECIFIED,
        },
        None => addresses
            .iter()
            .find_map(|a| match a {
                IpAddr::V4(v4) => Some(*v4),
                _ => None,
            })
            .unwrap_or_else(|| {
                p.at_span(
                    span.clone(),
                    "node.router_id is required when the node has no IPv4 address",
                );
                Ipv4Addr::UNSPECIFIED
            }),
    };
    NodeConfig {
        name: n
            .name
            .as_ref()
            .map_or_else(|| host.hostname.clone(), |s| s.get_ref().clone()),
        router_id,
        asn: match n.asn.as_ref() {
            None if !needs_asn => 0,
            a => asn(a, "node.asn", span, p),
        },
        addresses,
    }
}

fn listen(
    raw: Option<&S<String>>,
    field: &str,
    default: &str,
    p: &mut Problems,
) -> Option<SocketAddr> {
    let Some(s) = raw else {
        return default.parse().ok();
    };
    let text = s.get_ref().trim();
    if text.is_empty() {
        return None;
    }
    match text.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            p.at(s, format!("{field}: `{text}` is not a socket address like \"0.0.0.0:179\" or \"[::]:179\"; use \"\" to disable"));
            None
        }
    }
}

fn services(
    raw: impl Iterator<Item = S<RawService>>,
    node: &NodeConfig,
    pools: &[PoolSpec],
    p: &mut Problems,
    w: &mut Problems,
) -> Vec<ServiceConfig> {
    // Sized once (the lean reader knows how many tables there are): a growing vector holds
    // its old and new buffer at once, which at 1M services is the peak.
    let expected = raw.size_hint().1.unwrap_or(0);
    let mut out: Vec<ServiceConfig> = Vec::with_capacity(expected);
    // Where each service's table starts, for "defined twice" (checked at the end: no second
    // copy of every name).
    let mut at: Vec<usize> = Vec::with_capacity(expected);
    let pool_names: BTreeMap<&str, Arc<str>> = pools
        .iter()
        .map(|x| (x.name.as_str(), Arc::from(x.name.as_str())))
        .collect();
    for (i, rs) in raw.enumerate() {
        let r = rs.get_ref();
        let name = r
            .name
            .as_ref()
            .map(|n| n.get_ref().clone())
            .unwrap_or_default();
        if name.is_empty() {
            p.at(&rs, format!("services[{i}].name is required"));
        }
        let mut addresses = Vec::new();
        for a in r.addresses.iter().flatten() {
            let Some(addr) = ip(a, &format!("services[{i}].addresses"), p) else {
                continue;
            };
            if node.addresses.contains(&addr) {
                p.at(a, format!("services[{i}].addresses: {addr} is an address of node `{}`; announcing a node address as a service address takes the node down", node.name));
                continue;
            }
            addresses.push(addr);
        }
        if r.addresses.as_ref().is_none_or(|a| a.is_empty()) && pools.is_empty() {
            p.at(&rs, format!("services[{i}]: service `{name}` has no addresses and there is no [[pools]] entry to allocate them from"));
        }
        if let Some(pool) = r
            .pool
            .as_ref()
            .filter(|x| !pool_names.contains_key(x.get_ref().as_str()))
        {
            p.at(
                pool,
                format!("services[{i}].pool: no pool named `{}`", pool.get_ref()),
            );
        }
        let ip_families = match r.ip_families.as_ref().map(|f| f.get_ref().as_str()) {
            None | Some("SingleStack") => IpFamilies::SingleStack,
            Some("PreferDualStack") => IpFamilies::PreferDualStack,
            Some("RequireDualStack") => IpFamilies::RequireDualStack,
            Some(other) => {
                if let Some(f) = &r.ip_families {
                    p.at(f, format!("services[{i}].ip_families: `{other}` is not SingleStack, PreferDualStack or RequireDualStack"));
                }
                IpFamilies::SingleStack
            }
        };
        let pool = r.pool.as_ref().map(|x| {
            let x = x.get_ref().as_str();
            pool_names.get(x).cloned().unwrap_or_else(|| Arc::from(x))
        });
        let service = ServiceConfig {
            name: name.into(),
            addresses: addresses.into(),
            pool,
            ip_families,
            allow_shared_ip: r
                .allow_shared_ip
                .as_deref()
                .filter(|s| !s.is_empty())
                .map(Box::from),
        };
        if let Some(why) = service.never_served(pools) {
            w.at(
                &rs,
                format!(
                    "services[{i}]: service `{}` can never get an address: {why}",
                    service.name
                ),
            );
        }
        at.push(rs.span().start);
        out.push(service);
    }
    twice(&out, &at, p);
    out
}

/// `services[i].name: ... defined twice` for every service after the first of its name.
fn twice(services: &[ServiceConfig], at: &[usize], p: &mut Problems) {
    // (name, index, offset), sorted by name; the sort is stable, so file order is kept.
    let mut order: Vec<(&str, usize, usize)> = services
        .iter()
        .zip(at)
        .enumerate()
        .map(|(i, (s, o))| (&*s.name, i, *o))
        .filter(|(name, _, _)| !name.is_empty())
        .collect();
    order.sort_by(|a, b| a.0.cmp(b.0));
    let dupes: Vec<(usize, String)> = order
        .windows(2)
        .filter_map(|pair| match pair {
            [(first, _, _), (name, i, offset)] if first == name => Some((
                *offset,
                format!("services[{i}].name: service `{name}` is defined twice"),
            )),
            _ => None,
        })
        .collect();
    // First among the problems at the same table, as when it was found in the loop (the
    // problems are sorted by offset, stably).
    p.0.splice(0..0, dupes);
}
