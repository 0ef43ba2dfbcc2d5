//! The real routers: BIRD 2, FRR bgpd (alone, or with zebra and bfdd) and GoBGP, each configured to peer with
//! ferrolb at 192.0.2.2 and queried for the session state and the routes it learned.

use super::{require, stdout_if_ok, wait_ready, Lab, Proc, NODE_V4, ROUTER_V4};

mod frr;
mod gobgp;
#[allow(unused_imports)]
pub use frr::{Frr, FrrOpts};
pub use gobgp::Gobgp;

/// A route as the router shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteInfo {
    pub prefix: String,
    pub next_hop: String,
    pub as_path: Vec<u32>,
    pub local_pref: Option<u32>,
    /// Standard communities as `asn:value`, numeric, sorted.
    pub communities: Vec<String>,
    /// Large communities as `a:b:c`, sorted.
    pub large_communities: Vec<String>,
}

/// Numeric `asn:value` for the well-known names routers print.
fn community_number(text: &str) -> String {
    match text {
        "no-export" | "noExport" => "65535:65281".into(),
        "no-advertise" | "noAdvertise" => "65535:65282".into(),
        "local-AS" | "no-export-subconfed" | "localAs" => "65535:65283".into(),
        "graceful-shutdown" | "gracefulShutdown" => "65535:0".into(),
        "blackhole" => "65535:666".into(),
        "no-peer" | "noPeer" => "65535:65284".into(),
        other => other.to_string(),
    }
}

/// Parses BIRD's `(a,b) (c,d)` or `(a, b, c)` lists into `a:b` / `a:b:c` strings, sorted.
fn bird_tuples(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .split(')')
        .filter_map(|t| t.trim().strip_prefix('('))
        .map(|t| t.split(',').map(|x| x.trim()).collect::<Vec<_>>().join(":"))
        .collect();
    out.sort();
    out
}

/// The communities of a multi-instance router (FRR) by prefix, from its per-prefix JSON.
fn frr_path_communities(p: &serde_json::Value, r: &mut RouteInfo) {
    let words = |key: &str| -> Vec<String> {
        p.get(key)
            .and_then(|c| c.get("string"))
            .and_then(|s| s.as_str())
            .unwrap_or("")
            .split_whitespace()
            .map(community_number)
            .collect()
    };
    r.communities = words("community");
    r.communities.sort();
    r.large_communities = words("largeCommunity");
    r.large_communities.sort();
}

/// What every router offers the tests.
pub trait Router {
    fn established(&self) -> bool;
    fn routes(&self) -> Vec<RouteInfo>;
    fn process(&self) -> &Proc;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bird,
    Frr,
    Gobgp,
}

/// Starts the router of `kind` in the lab's router namespace (AS `asn`, peer AS `peer_asn`).
pub fn start(kind: Kind, lab: &Lab, asn: u32, peer_asn: u32, passive: bool) -> Box<dyn Router> {
    let r: Box<dyn Router> = match kind {
        Kind::Bird => Box::new(Bird::start(lab, asn, peer_asn, passive)),
        Kind::Frr => Box::new(Frr::start(lab, asn, peer_asn, passive)),
        Kind::Gobgp => Box::new(Gobgp::start(lab, asn, peer_asn, passive)),
    };
    r
}

pub struct Bird {
    proc: Proc,
    sock: String,
    ns: String,
}

/// BIRD options beyond the common single-session setup.
#[derive(Debug, Clone, Default)]
pub struct BirdOpts {
    /// `graceful restart on` (BIRD keeps a restarting peer's routes, RFC 4724).
    pub graceful_restart: bool,
    /// Sessions to lab nodes 0..n (protocols `ferrolb`, `ferrolb1`, ...); 0 means 1.
    pub nodes: usize,
    /// Kernel protocols with `merge paths on`: ECMP routes land in the router namespace's FIB.
    pub kernel_merge_paths: bool,
    /// The session runs over IPv6 (2001:db8::1 to the node's IPv6 address).
    pub ipv6_transport: bool,
    /// TCP MD5 password of every session (RFC 2385).
    pub password: Option<String>,
    /// `protocol bfd` with (interval ms, multiplier) and `bfd on` on every session.
    pub bfd: Option<(u32, u32)>,
    /// `multihop N` on every session (the peer is N hops away, `Lab::routed`).
    pub multihop: Option<u8>,
    /// Raw configuration appended at the end (more protocols).
    pub extra: String,
    /// `ttl security on` (GTSM, RFC 5082) on every session.
    pub ttl_security: bool,
    /// A second BIRD in the same namespace: its file names (`NAME.conf`, `NAME.ctl`, log
    /// `NAME.log`) instead of `bird`.
    pub instance: Option<&'static str>,
    /// The IPv4 session address (and router ID) instead of 192.0.2.1 (it must be on the
    /// router's interface).
    pub local_v4: Option<&'static str>,
    /// `strict bind on`: listen on the session address only, so two BIRDs share a namespace.
    pub strict_bind: bool,
    /// `log stderr all`: BIRD's events (a NOTIFICATION received, ...) in [`Bird::log`].
    pub log_all: bool,
    /// Export this many static /32 blackhole routes (198.18.0.0, 198.18.0.1, ...) to ferrolb.
    pub export_static: usize,
}

impl Bird {
    pub fn start(lab: &Lab, asn: u32, peer_asn: u32, passive: bool) -> Bird {
        Bird::start_with(lab, asn, peer_asn, passive, &BirdOpts::default())
    }

    pub fn start_with(lab: &Lab, asn: u32, peer_asn: u32, passive: bool, opts: &BirdOpts) -> Bird {
        require("bird");
        require("birdc");
        let file = opts.instance.unwrap_or("bird");
        let conf = lab.path(&format!("{file}.conf"));
        let router_id = opts.local_v4.unwrap_or(ROUTER_V4);
        let passive = if passive { "on" } else { "off" };
        let gr = if opts.graceful_restart {
            "  graceful restart on;\n  graceful restart time 120;\n"
        } else {
            ""
        };
        let mut text = format!("router id {router_id};\nprotocol device {{ scan time 1; }}\n");
        let export = if opts.export_static > 0 {
            text.push_str("protocol static flood {\n  ipv4;\n");
            for i in 0..opts.export_static as u32 {
                let a = std::net::Ipv4Addr::from(0xC612_0000u32 + i);
                text.push_str(&format!("  route {a}/32 blackhole;\n"));
            }
            text.push_str("}\n");
            "where proto = \"flood\""
        } else {
            "none"
        };
        let strict = if opts.strict_bind {
            "  strict bind on;\n"
        } else {
            ""
        };
        if opts.multihop.is_some() {
            text.insert_str(0, "log stderr all;\ndebug protocols all;\n");
        } else if opts.log_all {
            text.insert_str(0, "log stderr all;\n");
        }
        if opts.kernel_merge_paths {
            text.push_str("protocol kernel k4 {\n  ipv4 { export all; };\n  merge paths on;\n}\nprotocol kernel k6 {\n  ipv6 { export all; };\n  merge paths on;\n}\n");
        }
        if let Some((interval, multiplier)) = opts.bfd {
            // BIRD's default multiplier is 5; the tests set it like the peer's profile.
            text.push_str(&format!(
                "protocol bfd {{\n  interface \"*\" {{ interval {interval} ms; multiplier {multiplier}; }};\n  multihop {{ interval {interval} ms; multiplier {multiplier}; }};\n}}\n"
            ));
        }
        let bfd = if opts.bfd.is_some() {
            "  bfd on;\n"
        } else {
            ""
        };
        let bfd = match opts.multihop {
            Some(n) => format!("{bfd}  multihop {n};\n"),
            None => bfd.to_string(),
        };
        let bfd = if opts.ttl_security {
            format!("{bfd}  ttl security on;\n")
        } else {
            bfd
        };
        let password = opts
            .password
            .as_ref()
            .map(|p| format!("  password \"{p}\";\n"))
            .unwrap_or_default();
        for i in 0..opts.nodes.max(1) {
            let name = if i == 0 {
                "ferrolb".to_string()
            } else {
                format!("ferrolb{i}")
            };
            let (node_v4, node_v6) = super::node_addrs(i);
            let (local, neighbor) = if opts.ipv6_transport {
                (super::ROUTER_V6, node_v6)
            } else {
                (router_id, node_v4)
            };
            text.push_str(&format!(
                "protocol bgp {name} {{\n  local {local} as {asn};\n  neighbor {neighbor} as {peer_asn};\n  passive {passive};\n  connect delay time 1;\n  connect retry time 1;\n  error wait time 1, 2;\n{strict}{gr}{password}{bfd}  ipv4 {{ import all; export {export}; }};\n  ipv6 {{ import all; export none; }};\n}}\n"
            ));
        }
        text.push_str(&opts.extra);
        std::fs::write(&conf, text).expect("write bird.conf");
        let sock = lab
            .path(&format!("{file}.ctl"))
            .to_str()
            .expect("utf8")
            .to_string();
        let proc = lab.spawn(
            &lab.router_ns,
            file,
            &[
                "bird",
                "-f",
                "-c",
                conf.to_str().expect("utf8"),
                "-s",
                &sock,
                "-P",
                lab.path(&format!("{file}.pid")).to_str().expect("utf8"),
            ],
        );
        let b = Bird {
            proc,
            sock,
            ns: lab.router_ns.clone(),
        };
        wait_ready("BIRD to answer", &b.proc, || {
            b.birdc("show status").is_some()
        });
        b
    }

    fn birdc(&self, cmd: &str) -> Option<String> {
        stdout_if_ok(
            std::process::Command::new("birdc")
                .args(["-s", &self.sock])
                .args(cmd.split(' ')),
        )
    }

    /// Raw `show route protocol ferrolb all` output, for messages.
    pub fn show_routes(&self) -> String {
        self.birdc("show route protocol ferrolb all")
            .unwrap_or_default()
    }

    /// A query-only handle that can move to another thread.
    pub fn ctl(&self) -> BirdCtl {
        BirdCtl {
            sock: self.sock.clone(),
        }
    }

    /// The prefixes BIRD holds from `protocol`, sorted.
    pub fn prefixes_of(&self, protocol: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .ctl()
            .routes_of(protocol)
            .into_iter()
            .map(|r| r.prefix)
            .collect();
        out.sort();
        out
    }

    /// Raw `show route all` output over every protocol.
    pub fn show_all_routes(&self) -> String {
        self.birdc("show route all").unwrap_or_default()
    }

    /// `birdc enable|disable PROTOCOL`: BIRD starts the session again or closes it (Cease).
    pub fn set_enabled(&self, protocol: &str, on: bool) {
        let cmd = format!("{} {protocol}", if on { "enable" } else { "disable" });
        self.birdc(&cmd)
            .unwrap_or_else(|| panic!("birdc {cmd} failed"));
    }

    /// BIRD's own log (stderr).
    pub fn log(&self) -> String {
        self.proc.log_text()
    }

    /// `show bfd sessions` output.
    pub fn bfd_sessions(&self) -> String {
        self.birdc("show bfd sessions").unwrap_or_default()
    }

    /// `show protocols all NAME` output (state, last error).
    pub fn protocol(&self, name: &str) -> String {
        self.birdc(&format!("show protocols all {name}"))
            .unwrap_or_default()
    }

    /// `show protocols NAME`: the protocol's state and info (`up Established`) and when it
    /// entered that state, in milliseconds of the day. BIRD converts its monotonic clock to
    /// wall time on every call, so two readings of one unchanged state can differ by a
    /// millisecond: compare them with [`same_since`], not `==`.
    pub fn since(&self, name: &str) -> Option<(String, u64)> {
        let text = self.birdc(&format!("show protocols {name}"))?;
        let line = text.lines().find(|l| l.starts_with(&format!("{name} ")))?;
        let f: Vec<&str> = line.split_whitespace().collect();
        let (state, at) = (f.get(3)?, f.get(4)?);
        let info = f.get(5..).map(|i| i.join(" ")).unwrap_or_default();
        let (hms, ms) = at.split_once('.')?;
        let mut t = 0u64;
        for part in hms.split(':') {
            t = t * 60 + part.parse::<u64>().ok()?;
        }
        Some((
            format!("{state} {info}"),
            t * 1000 + ms.parse::<u64>().ok()?,
        ))
    }

    /// True when the named BGP protocol is Established.
    pub fn protocol_established(&self, name: &str) -> bool {
        self.birdc(&format!("show protocols {name}"))
            .is_some_and(|s| s.contains("Established"))
    }
}

/// Two readings of [`Bird::since`] are the same state entry (not a reset and a new session):
/// the same state, and times within 100 ms (a reset and a new session take over a second).
pub fn same_since(a: &Option<(String, u64)>, b: &Option<(String, u64)>) -> bool {
    match (a, b) {
        (Some((sa, ta)), Some((sb, tb))) => sa == sb && ta.abs_diff(*tb) < 100,
        _ => false,
    }
}

/// Queries a running BIRD over its control socket.
#[derive(Debug, Clone)]
pub struct BirdCtl {
    sock: String,
}

impl BirdCtl {
    /// The routes learned over one BGP protocol (`ferrolb`, `ferrolb1`, ...: one per lab node).
    pub fn routes_of(&self, protocol: &str) -> Vec<RouteInfo> {
        let out = stdout_if_ok(std::process::Command::new("birdc").args([
            "-s", &self.sock, "show", "route", "protocol", protocol, "all",
        ]));
        parse_bird_routes(&out.unwrap_or_default())
    }
}

/// Parses `birdc show route ... all` output.
pub fn parse_bird_routes(text: &str) -> Vec<RouteInfo> {
    let mut out: Vec<RouteInfo> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        let first = t.split_whitespace().next().unwrap_or("");
        if !line.starts_with(char::is_whitespace) && first.contains('/') {
            out.push(RouteInfo {
                prefix: first.to_string(),
                ..RouteInfo::default()
            });
        } else if let Some(r) = out.last_mut() {
            if let Some(v) = t.strip_prefix("BGP.as_path:") {
                r.as_path = v
                    .split_whitespace()
                    .filter_map(|a| a.parse().ok())
                    .collect();
            } else if let Some(v) = t.strip_prefix("BGP.next_hop:") {
                r.next_hop = v.split_whitespace().next().unwrap_or("").to_string();
            } else if let Some(v) = t.strip_prefix("BGP.local_pref:") {
                r.local_pref = v.trim().parse().ok();
            } else if let Some(v) = t.strip_prefix("BGP.community:") {
                r.communities = bird_tuples(v);
            } else if let Some(v) = t.strip_prefix("BGP.large_community:") {
                r.large_communities = bird_tuples(v);
            }
        }
    }
    out
}

impl Router for Bird {
    fn established(&self) -> bool {
        self.birdc("show protocols ferrolb")
            .is_some_and(|s| s.contains("Established"))
    }
    fn routes(&self) -> Vec<RouteInfo> {
        parse_bird_routes(&self.show_routes())
    }
    fn process(&self) -> &Proc {
        &self.proc
    }
}
