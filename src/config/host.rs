//! The facts about this host the config defaults come from.

use std::net::IpAddr;

use crate::model::is_link_local;

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
