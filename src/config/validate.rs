//! Turns the raw TOML into validated plain types, collecting every problem with its location.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;

use super::raw::*;
use super::*;

/// What the validator needs to know about the host (injected so tests are deterministic).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostInfo {
    /// The default node name (`NODE_NAME`, else the hostname).
    pub hostname: String,
    /// The host's own interface addresses (loopback and link-local left out).
    pub addresses: Vec<IpAddr>,
}

impl HostInfo {
    /// Reads the hostname and interface addresses of this machine.
    pub fn detect() -> HostInfo {
        // The default node name: `NODE_NAME` (the downward API in a DaemonSet), else the
        // hostname.
        let hostname = std::env::var("NODE_NAME")
            .ok()
            .filter(|n| !n.is_empty())
            .or_else(|| {
                std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .ok()
                    .map(|s| s.trim().to_string())
            })
            .unwrap_or_else(|| "localhost".to_string());
        let addresses = if_addrs::get_if_addrs()
            .map(|list| {
                list.into_iter()
                    .map(|i| i.ip())
                    .filter(|ip| !ip.is_loopback() && !is_link_local(ip))
                    .collect()
            })
            .unwrap_or_default();
        HostInfo {
            hostname,
            addresses,
        }
    }
}

/// Collected problems: (byte offset, message).
#[derive(Debug, Default)]
pub struct Problems(pub Vec<(usize, String)>);

impl Problems {
    fn at<T>(&mut self, s: &S<T>, msg: impl Into<String>) {
        self.0.push((s.span().start, msg.into()));
    }

    fn at_span(&mut self, span: Range<usize>, msg: impl Into<String>) {
        self.0.push((span.start, msg.into()));
    }
}

/// Converts and validates; problems are collected in `p`.
pub fn convert(raw: RawConfig, host: &HostInfo, p: &mut Problems) -> Option<Config> {
    let node = node(raw.node.as_ref(), host, p);
    let bgp = bgp(raw.bgp.as_ref(), node.asn, p);
    let pools = pools(&raw.pools, &node, p);
    let pool_names: BTreeSet<&str> = pools.iter().map(|x| x.name.as_str()).collect();
    let peer_names: BTreeSet<&str> = bgp.peers.iter().map(|x| x.name.as_str()).collect();
    let advertisements = advertisements(&raw.advertisements, &pool_names, &peer_names, p);
    advertisement_conflicts(&raw.advertisements, &advertisements, &pools, p);
    let services = services(&raw.services, &node, &pool_names, p);
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
    Some(Config {
        source: std::path::PathBuf::new(),
        node,
        bgp,
        services,
        http,
        pools,
        advertisements,
        state,
        kubernetes,
    })
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

fn node(raw: Option<&S<RawNode>>, host: &HostInfo, p: &mut Problems) -> NodeConfig {
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
        asn: asn(n.asn.as_ref(), "node.asn", span, p),
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

fn bgp(raw: Option<&RawBgp>, local_asn: u32, p: &mut Problems) -> BgpConfig {
    let listen = listen(
        raw.and_then(|b| b.listen.as_ref()),
        "bgp.listen",
        "[::]:179",
        p,
    );
    let mut peers: Vec<PeerConfig> = Vec::new();
    let mut seen: BTreeMap<IpAddr, String> = BTreeMap::new();
    let mut names: BTreeSet<String> = BTreeSet::new();
    for (i, raw_peer) in raw
        .map(|b| b.peers.as_slice())
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        let Some(peer) = super::peer::peer(raw_peer, i, local_asn, p) else {
            continue;
        };
        if let Some(first) = seen.get(&peer.address) {
            let at = raw_peer
                .get_ref()
                .address
                .as_ref()
                .map_or(raw_peer.span(), |a| a.span());
            p.at_span(at, format!("bgp.peers[{i}].address: {} is already the address of peer `{first}`; each peer needs its own address", peer.address));
            continue;
        }
        if !names.insert(peer.name.clone()) {
            p.at_span(
                raw_peer.span(),
                format!(
                    "bgp.peers[{i}].name: `{}` is used by another peer",
                    peer.name
                ),
            );
        }
        seen.insert(peer.address, peer.name.clone());
        peers.push(peer);
    }
    let seconds = |v: Option<&S<i64>>, field: &str, max: i64, default: i64, p: &mut Problems| {
        v.map_or(Some(default), |v| int(v, field, 0..max + 1, p))
            .unwrap_or(default) as u16
    };
    BgpConfig {
        listen,
        peers,
        graceful_restart_time: seconds(
            raw.and_then(|b| b.graceful_restart_time.as_ref()),
            "bgp.graceful_restart_time",
            4095,
            120,
            p,
        ),
        graceful_shutdown_time: seconds(
            raw.and_then(|b| b.graceful_shutdown_time.as_ref()),
            "bgp.graceful_shutdown_time",
            3600,
            5,
            p,
        ),
    }
}

pub(super) fn pools(raw: &[S<RawPool>], node: &NodeConfig, p: &mut Problems) -> Vec<PoolConfig> {
    let mut out: Vec<PoolConfig> = Vec::new();
    for (i, rp) in raw.iter().enumerate() {
        let r = rp.get_ref();
        let Some(name) = r.name.as_ref() else {
            p.at(rp, format!("pools[{i}].name is required"));
            continue;
        };
        if out.iter().any(|x| &x.name == name.get_ref()) {
            p.at(
                name,
                format!(
                    "pools[{i}].name: pool `{}` is defined twice",
                    name.get_ref()
                ),
            );
        }
        let mut ranges = Vec::new();
        for a in &r.addresses {
            let Some(range) = super::peer::address_range(a.get_ref()) else {
                p.at(a, format!("pools[{i}].addresses: `{}` is not a CIDR (198.51.100.0/24), a range (203.0.113.10-203.0.113.20) or an address", a.get_ref()));
                continue;
            };
            if let Some(own) = node.addresses.iter().find(|n| range.contains(n)) {
                p.at(a, format!("pools[{i}].addresses: `{}` contains {own}, an address of node `{}`; announcing a node address as a service address takes the node down", a.get_ref(), node.name));
            }
            ranges.push(range);
        }
        if r.addresses.is_empty() {
            p.at(
                rp,
                format!("pools[{i}]: pool `{}` has no addresses", name.get_ref()),
            );
        }
        out.push(PoolConfig {
            name: name.get_ref().clone(),
            ranges,
            auto_assign: r.auto_assign.unwrap_or(true),
            avoid_buggy_ips: r.avoid_buggy_ips.unwrap_or(false),
        });
    }
    out
}

fn services(
    raw: &[S<RawService>],
    node: &NodeConfig,
    pools: &BTreeSet<&str>,
    p: &mut Problems,
) -> Vec<ServiceConfig> {
    let mut out: Vec<ServiceConfig> = Vec::new();
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    for (i, rs) in raw.iter().enumerate() {
        let r = rs.get_ref();
        let name = r
            .name
            .as_ref()
            .map(|n| n.get_ref().clone())
            .unwrap_or_default();
        if name.is_empty() {
            p.at(rs, format!("services[{i}].name is required"));
        } else if !seen.insert(name.clone()) {
            p.at(
                rs,
                format!("services[{i}].name: service `{name}` is defined twice"),
            );
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
            p.at(rs, format!("services[{i}]: service `{name}` has no addresses and there is no [[pools]] entry to allocate them from"));
        }
        if let Some(pool) = &r.pool {
            if !pools.contains(pool.get_ref().as_str()) {
                p.at(
                    pool,
                    format!("services[{i}].pool: no pool named `{}`", pool.get_ref()),
                );
            }
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
        out.push(ServiceConfig {
            name,
            addresses,
            pool: r.pool.as_ref().map(|x| x.get_ref().clone()),
            ip_families,
            allow_shared_ip: r.allow_shared_ip.clone().filter(|s| !s.is_empty()),
        });
    }
    out
}

fn advertisements(
    raw: &[S<RawAdvertisement>],
    pools: &BTreeSet<&str>,
    peers: &BTreeSet<&str>,
    p: &mut Problems,
) -> Vec<AdvertisementConfig> {
    let mut out = Vec::new();
    for (i, ra) in raw.iter().enumerate() {
        let r = ra.get_ref();
        let mode = r
            .mode
            .as_ref()
            .map_or("bgp", |m| m.get_ref().as_str())
            .to_string();
        if let Some(m) = r
            .mode
            .as_ref()
            .filter(|m| !["bgp", "l2"].contains(&m.get_ref().as_str()))
        {
            p.at(
                m,
                format!(
                    "advertisements[{i}].mode: `{}` is not \"bgp\" or \"l2\"",
                    m.get_ref()
                ),
            );
        }
        for pool in r
            .pools
            .iter()
            .filter(|x| !pools.contains(x.get_ref().as_str()))
        {
            p.at(
                pool,
                format!(
                    "advertisements[{i}].pools: no pool named `{}`",
                    pool.get_ref()
                ),
            );
        }
        for peer in r
            .peers
            .iter()
            .filter(|x| !peers.contains(x.get_ref().as_str()))
        {
            p.at(
                peer,
                format!(
                    "advertisements[{i}].peers: no peer named `{}`",
                    peer.get_ref()
                ),
            );
        }
        let mut communities = Vec::new();
        for c in &r.communities {
            match super::peer::community(c.get_ref()) {
                Some(x) => communities.push(x),
                None => p.at(c, format!("advertisements[{i}].communities: `{}` is not `asn:value` (16-bit each), `large:a:b:c` (32-bit each) or a well-known name like no-export", c.get_ref())),
            }
        }
        let local_pref = r
            .local_pref
            .as_ref()
            .and_then(|v| {
                int(
                    v,
                    &format!("advertisements[{i}].local_pref"),
                    0..(1i64 << 32),
                    p,
                )
            })
            .map(|v| v as u32);
        let agg4 = r
            .aggregation_length
            .as_ref()
            .and_then(|v| {
                int(
                    v,
                    &format!("advertisements[{i}].aggregation_length"),
                    0..33,
                    p,
                )
            })
            .map(|v| v as u8);
        let agg6 = r
            .aggregation_length_v6
            .as_ref()
            .and_then(|v| {
                int(
                    v,
                    &format!("advertisements[{i}].aggregation_length_v6"),
                    0..129,
                    p,
                )
            })
            .map(|v| v as u8);
        out.push(AdvertisementConfig {
            pools: r.pools.iter().map(|x| x.get_ref().clone()).collect(),
            mode,
            peers: r.peers.iter().map(|x| x.get_ref().clone()).collect(),
            communities,
            local_pref,
            aggregation_length: agg4,
            aggregation_length_v6: agg6,
        });
    }
    out
}

/// Cross-checks between advertisements: two BGP advertisements that can give one address to one
/// peer must not set different LOCAL_PREFs, and an aggregation length must not announce more
/// than the pool holds (a prefix of the pool more specific than the aggregate).
fn advertisement_conflicts(
    raw: &[S<RawAdvertisement>],
    ads: &[AdvertisementConfig],
    pools: &[PoolConfig],
    p: &mut Problems,
) {
    let overlap = |a: &[String], b: &[String]| {
        a.is_empty() || b.is_empty() || a.iter().any(|x| b.contains(x))
    };
    for (j, b) in ads.iter().enumerate().filter(|(_, a)| a.mode == "bgp") {
        let Some(lp_b) = b.local_pref else { continue };
        let conflict = ads[..j].iter().enumerate().find(|(_, a)| {
            a.mode == "bgp"
                && a.local_pref.is_some_and(|lp| lp != lp_b)
                && overlap(&a.pools, &b.pools)
                && overlap(&a.peers, &b.peers)
        });
        if let (Some((i, a)), Some(span)) = (conflict, raw[j].get_ref().local_pref.as_ref()) {
            p.at(
                span,
                format!(
                    "advertisements[{j}].local_pref = {lp_b} conflicts with advertisements[{i}].local_pref = {}: both can announce the same address to the same peer, and a route carries one LOCAL_PREF",
                    a.local_pref.unwrap_or_default()
                ),
            );
        }
    }
    for (i, ad) in ads.iter().enumerate() {
        let r = raw[i].get_ref();
        for pool in pools
            .iter()
            .filter(|pl| ad.pools.is_empty() || ad.pools.contains(&pl.name))
        {
            for range in &pool.ranges {
                let (len, span, key) = match range.start {
                    IpAddr::V4(_) => (
                        ad.aggregation_length,
                        &r.aggregation_length,
                        "aggregation_length",
                    ),
                    IpAddr::V6(_) => (
                        ad.aggregation_length_v6,
                        &r.aggregation_length_v6,
                        "aggregation_length_v6",
                    ),
                };
                let (Some(len), Some(span)) = (len, span) else {
                    continue;
                };
                if let Some(net) = range_cidrs(range).find(|n| n.prefix_len() > len) {
                    p.at(
                        span,
                        format!(
                            "advertisements[{i}].{key} = {len}: pool `{}` holds {net}, which is more specific; the aggregate would announce addresses outside the pool",
                            pool.name
                        ),
                    );
                }
            }
        }
    }
}

/// The CIDR blocks that exactly make up a range.
fn range_cidrs(range: &AddressRange) -> Box<dyn Iterator<Item = ipnet::IpNet>> {
    match (range.start, range.end) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            Box::new(ipnet::Ipv4Subnets::new(a, b, 0).map(ipnet::IpNet::V4))
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            Box::new(ipnet::Ipv6Subnets::new(a, b, 0).map(ipnet::IpNet::V6))
        }
        _ => Box::new(std::iter::empty()),
    }
}
