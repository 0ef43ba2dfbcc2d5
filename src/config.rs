//! The TOML node config (DESIGN.md "Node config"): serde types, validation, and errors that name
//! `file:line:col`. The rest of the daemon sees only the validated plain types defined here.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::packet::message::Family;

mod peer;
mod raw;
mod validate;

pub use peer::{address_range, community};
pub use validate::HostInfo;

/// True for IPv4 169.254.0.0/16 and IPv6 fe80::/10: addresses that are never a next hop or a
/// node address worth announcing.
pub fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_unicast_link_local(),
    }
}

/// A validated node configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The file this came from (for messages).
    pub source: PathBuf,
    pub node: NodeConfig,
    pub bgp: BgpConfig,
    pub services: Vec<ServiceConfig>,
    pub http: HttpConfig,
    /// `[[pools]]` (used by the allocator).
    pub pools: Vec<PoolConfig>,
    /// `[[advertisements]]`.
    pub advertisements: Vec<AdvertisementConfig>,
    /// `[state]`.
    pub state: Option<StateConfig>,
    /// `[kubernetes]`: present means Kubernetes mode.
    pub kubernetes: Option<KubernetesConfig>,
}

/// An inclusive address range of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct AddressRange {
    pub start: IpAddr,
    pub end: IpAddr,
}

impl AddressRange {
    /// True when `addr` lies in the range.
    pub fn contains(&self, addr: &IpAddr) -> bool {
        addr.is_ipv4() == self.start.is_ipv4() && *addr >= self.start && *addr <= self.end
    }
}

/// One `[[pools]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    pub name: String,
    pub ranges: Vec<AddressRange>,
    pub auto_assign: bool,
    pub avoid_buggy_ips: bool,
}

/// A BGP community to attach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Community {
    /// RFC 1997 (including well-known values).
    Standard(u32),
    /// RFC 8092.
    Large(u32, u32, u32),
}

/// One `[[advertisements]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvertisementConfig {
    pub pools: Vec<String>,
    /// "bgp" or "l2".
    pub mode: String,
    /// Peer names; empty = all peers.
    pub peers: Vec<String>,
    pub communities: Vec<Community>,
    pub local_pref: Option<u32>,
    pub aggregation_length: Option<u8>,
    pub aggregation_length_v6: Option<u8>,
}

/// `[state]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateConfig {
    pub path: PathBuf,
}

/// `[kubernetes]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesConfig {
    pub namespace: String,
    pub load_balancer_class: String,
    pub kubeconfig: Option<PathBuf>,
    /// Seconds the allocator Lease lasts without renewal (default 15, like client-go's
    /// leader election). The holder renews every fifth of it and stops acting as the allocator
    /// two thirds into it without a successful renewal.
    pub lease_duration: u32,
}

/// `[node]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    pub name: String,
    pub router_id: Ipv4Addr,
    pub asn: u32,
    /// The node's own addresses; never announced as service addresses.
    pub addresses: Vec<IpAddr>,
}

/// `[bgp]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpConfig {
    /// None when `listen = ""` (active connections only).
    pub listen: Option<SocketAddr>,
    pub peers: Vec<PeerConfig>,
    /// Graceful restart time offered to peers (RFC 4724), seconds; 0 = not offered.
    pub graceful_restart_time: u16,
    /// Seconds routes carry GRACEFUL_SHUTDOWN (RFC 8326) before SIGTERM withdraws them.
    pub graceful_shutdown_time: u16,
}

/// One `[[bgp.peers]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConfig {
    pub name: String,
    pub address: IpAddr,
    pub asn: u32,
    pub port: u16,
    /// Seconds; 0 or >= 3.
    pub hold_time: u16,
    pub keepalive_time: u16,
    /// Seconds between connection attempts.
    pub connect_retry: u32,
    pub source_address: Option<IpAddr>,
    pub password: Option<String>,
    pub ebgp_multihop: Option<u8>,
    pub ttl_security: bool,
    pub passive: bool,
    pub families: BTreeSet<Family>,
    pub bfd: bool,
    /// Offer extended messages (RFC 8654).
    pub extended_messages: bool,
    /// IPv4 next hop to announce instead of the default (session address or node address).
    pub next_hop: Option<IpAddr>,
    /// IPv6 next hop to announce instead of the default; must be a global address.
    pub next_hop_v6: Option<IpAddr>,
}

/// One `[[services]]` entry (standalone mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    pub name: String,
    /// Explicit addresses; empty = allocate from `pool` or any auto-assign pool.
    pub addresses: Vec<IpAddr>,
    pub pool: Option<String>,
    pub ip_families: IpFamilies,
    /// Sharing key: services with the same key may share an address.
    pub allow_shared_ip: Option<String>,
}

/// `ip_families` of a service (Kubernetes `ipFamilyPolicy`); SingleStack means IPv4 first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IpFamilies {
    #[default]
    SingleStack,
    PreferDualStack,
    RequireDualStack,
}

/// `[http]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// None when `listen = ""`.
    pub listen: Option<SocketAddr>,
}

/// One problem in a config file, located at `file:line:col` (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

/// Every problem found in a config file, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Reads and validates a config file.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: file.clone(),
            line: 1,
            col: 1,
            message: format!("cannot read config: {e}"),
        }])
    })?;
    parse(path, &text)
}

/// Validates config text; `path` is used for messages and `Config::source`. Node defaults
/// (name, addresses) come from this host.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigErrors> {
    parse_with(path, text, &HostInfo::detect())
}

/// Like [`parse`], with the host facts given (for tests and `check` on another machine's file).
///
/// A TOML syntax, type or unknown-key error stops at the first one (that is where the parser
/// stops); every semantic problem after that is reported, in file order.
pub fn parse_with(path: &Path, text: &str, host: &HostInfo) -> Result<Config, ConfigErrors> {
    let file = path.display().to_string();
    let locate = |offset: usize, message: String| {
        let (line, col) = line_col(text, offset);
        ConfigError {
            file: file.clone(),
            line,
            col,
            message,
        }
    };
    let raw: raw::RawConfig = toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        let message = e.message().trim().replace('\n', " ");
        ConfigErrors(vec![locate(offset, message)])
    })?;
    let mut problems = validate::Problems::default();
    let config = validate::convert(raw, host, &mut problems);
    if !problems.0.is_empty() {
        problems.0.sort_by_key(|(offset, _)| *offset);
        return Err(ConfigErrors(
            problems.0.into_iter().map(|(o, m)| locate(o, m)).collect(),
        ));
    }
    match config {
        Some(mut c) => {
            c.source = path.to_path_buf();
            Ok(c)
        }
        None => Err(ConfigErrors(vec![locate(
            0,
            "invalid configuration".into(),
        )])),
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests;
