//! The TOML node config (README "Configuration"): serde types, validation, and errors that name
//! `file:line:col`. The rest of the daemon sees only the validated plain types defined here.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::allocator::{Fam, FamilyPolicy};
use crate::model::{AdvertisementSpec, LocalSpec, PeerSpec, PoolSpec};

mod host;
mod lean;
mod objects;
mod problems;
mod raw;
mod validate;

pub use host::HostInfo;

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
    pub pools: Vec<PoolSpec>,
    /// `[[advertisements]]`.
    pub advertisements: Vec<AdvertisementSpec>,
    /// `[state]`.
    pub state: Option<StateConfig>,
    /// `[kubernetes]`: present means Kubernetes mode.
    pub kubernetes: Option<KubernetesConfig>,
    /// `[cluster]`: the speakers of this node's L2 domain. None: this node alone owns every
    /// L2 address it has (standalone); Kubernetes mode starts it with the defaults.
    pub cluster: Option<ClusterConfig>,
    /// What the file asks for but can never get (e.g. a service no pool can serve); the file
    /// is valid, `ferrolb check` prints these and exits 0.
    pub warnings: Vec<ConfigError>,
}

impl Config {
    /// The node's side of every BGP session.
    pub fn local(&self) -> LocalSpec {
        LocalSpec {
            asn: self.node.asn,
            router_id: self.node.router_id,
            addresses: self.node.addresses.clone(),
            graceful_restart_time: self.bgp.graceful_restart_time,
        }
    }
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

/// `[cluster]` (DESIGN "Node config"): the membership layer of the L2 fallback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// UDP address the membership protocol listens on (default `0.0.0.0:7946`).
    pub listen: SocketAddr,
    /// Seeds (`host:port`, or an address alone for port 7946); the rest are learned.
    pub members: Vec<SocketAddr>,
    /// The address the others reach this node at; default: `listen` when its IP is not
    /// unspecified, else the source address the kernel picks towards the first member.
    pub advertise: Option<SocketAddr>,
}

/// The membership protocol's port when `[cluster]` names none (memberlist's, as MetalLB).
pub const CLUSTER_PORT: u16 = 7946;

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
    pub peers: Vec<PeerSpec>,
    /// Graceful restart time offered to peers (RFC 4724), seconds; 0 = not offered.
    pub graceful_restart_time: u16,
    /// Seconds routes carry GRACEFUL_SHUTDOWN (RFC 8326) before SIGTERM withdraws them.
    pub graceful_shutdown_time: u16,
}

/// One `[[services]]` entry (standalone mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    /// Shared (not copied) by the allocator's bookkeeping, the announcer and `/status`.
    pub name: Arc<str>,
    /// Explicit addresses; empty = allocate from `pool` or any auto-assign pool.
    pub addresses: Box<[IpAddr]>,
    /// The pool asked for; one shared copy of the name per pool.
    pub pool: Option<Arc<str>>,
    pub ip_families: IpFamilies,
    /// Sharing key: services with the same key may share an address.
    pub allow_shared_ip: Option<Box<str>>,
}

impl ServiceConfig {
    /// The pools this service may take addresses from: the one it names, else every
    /// auto-assign pool.
    pub fn candidate_pools<'a>(
        &'a self,
        pools: &'a [PoolSpec],
    ) -> impl Iterator<Item = &'a PoolSpec> {
        pools.iter().filter(move |p| match &self.pool {
            Some(name) => *p.name == **name,
            None => p.auto_assign,
        })
    }

    /// The families it asks the allocator for. Standalone mode has no cluster IP family:
    /// `SingleStack` is IPv4 when a pool it may use has IPv4 addresses, else IPv6, so a service
    /// naming an IPv6-only pool gets an IPv6 address.
    pub fn policy(&self, pools: &[PoolSpec]) -> FamilyPolicy {
        match self.ip_families {
            IpFamilies::SingleStack => {
                let v4 = self.candidate_pools(pools).any(PoolSpec::has_v4);
                let v6 = self.candidate_pools(pools).any(PoolSpec::has_v6);
                FamilyPolicy::SingleStack(if v4 || !v6 { Fam::V4 } else { Fam::V6 })
            }
            IpFamilies::PreferDualStack => FamilyPolicy::PreferDualStack,
            IpFamilies::RequireDualStack => FamilyPolicy::RequireDualStack,
        }
    }

    /// Why this service can never get an address from `pools` as configured, if so.
    pub fn never_served(&self, pools: &[PoolSpec]) -> Option<String> {
        let pooled = self
            .addresses
            .iter()
            .filter(|a| pools.iter().any(|p| p.contains(**a)));
        if !self.addresses.is_empty() && pooled.count() < self.addresses.len() {
            return None; // static addresses are announced as they are
        }
        if !self.addresses.is_empty() {
            return None;
        }
        let (v4, v6) = (
            self.candidate_pools(pools).any(PoolSpec::has_v4),
            self.candidate_pools(pools).any(PoolSpec::has_v6),
        );
        match (self.ip_families, v4, v6) {
            (_, false, false) if self.pool.is_none() => {
                Some("no pool is auto_assign and it names none".into())
            }
            (_, false, false) => None, // an unknown or empty pool is an error of its own
            (IpFamilies::RequireDualStack, true, false) => {
                Some("RequireDualStack, but the pools it may use have no IPv6 addresses".into())
            }
            (IpFamilies::RequireDualStack, false, true) => {
                Some("RequireDualStack, but the pools it may use have no IPv4 addresses".into())
            }
            _ => None,
        }
    }
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
    let mut problems = problems::Problems::default();
    let mut warnings = problems::Problems::default();
    let mut config = None;
    if let Some(split) = lean::Split::new(text) {
        if let Some(raw) = split.rest() {
            let mut failed = false;
            let c = validate::convert(
                raw,
                split.services(&mut failed),
                host,
                &mut problems,
                &mut warnings,
            );
            if failed {
                problems.0.clear();
                warnings.0.clear();
            } else {
                config = Some(c);
            }
        }
    }
    let mut config = match config {
        Some(c) => c,
        None => {
            let mut raw: raw::RawConfig = toml::from_str(text).map_err(|e| {
                let offset = e.span().map_or(0, |s| s.start);
                let message = e.message().trim().replace('\n', " ");
                ConfigErrors(vec![locate(offset, message)])
            })?;
            let services = std::mem::take(&mut raw.services);
            validate::convert(
                raw,
                services.into_iter(),
                host,
                &mut problems,
                &mut warnings,
            )
        }
    };
    if !problems.0.is_empty() {
        problems.0.sort_by_key(|(offset, _)| *offset);
        return Err(ConfigErrors(
            problems.0.into_iter().map(|(o, m)| locate(o, m)).collect(),
        ));
    }
    config.source = path.to_path_buf();
    config.warnings = warnings
        .0
        .into_iter()
        .map(|(o, m)| locate(o, format!("warning: {m}")))
        .collect();
    Ok(config)
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
