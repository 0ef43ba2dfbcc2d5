//! The TOML file as written: serde types with spans, so every later check can say where.

use serde::Deserialize;
use toml::Spanned;

pub type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub node: Option<S<RawNode>>,
    pub bgp: Option<RawBgp>,
    #[serde(default)]
    pub bfd_profiles: Vec<S<RawBfdProfile>>,
    #[serde(default)]
    pub pools: Vec<S<RawPool>>,
    #[serde(default)]
    pub advertisements: Vec<S<RawAdvertisement>>,
    #[serde(default)]
    pub services: Vec<S<RawService>>,
    pub http: Option<RawHttp>,
    pub state: Option<RawState>,
    pub kubernetes: Option<RawKubernetes>,
    pub cluster: Option<RawCluster>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    pub name: Option<S<String>>,
    pub router_id: Option<S<String>>,
    pub asn: Option<S<i64>>,
    pub addresses: Option<Vec<S<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBgp {
    pub listen: Option<S<String>>,
    pub graceful_restart_time: Option<S<i64>>,
    pub graceful_shutdown_time: Option<S<i64>>,
    #[serde(default)]
    pub peers: Vec<S<RawPeer>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPeer {
    pub name: Option<S<String>>,
    pub address: Option<S<String>>,
    pub asn: Option<S<i64>>,
    pub port: Option<S<i64>>,
    pub hold_time: Option<S<i64>>,
    pub keepalive_time: Option<S<i64>>,
    pub connect_retry: Option<S<i64>>,
    pub source_address: Option<S<String>>,
    pub password: Option<String>,
    pub ebgp_multihop: Option<S<i64>>,
    pub ttl_security: Option<bool>,
    pub passive: Option<bool>,
    pub families: Option<Vec<S<String>>>,
    pub bfd: Option<bool>,
    pub bfd_profile: Option<S<String>>,
    pub extended_messages: Option<bool>,
    pub next_hop: Option<S<String>>,
    pub next_hop_v6: Option<S<String>>,
    pub max_prefixes: Option<S<i64>>,
    pub send_queue_limit: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBfdProfile {
    pub name: Option<S<String>>,
    pub receive_interval: Option<S<i64>>,
    pub transmit_interval: Option<S<i64>>,
    pub detect_multiplier: Option<S<i64>>,
    pub passive: Option<bool>,
    pub minimum_ttl: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPool {
    pub name: Option<S<String>>,
    #[serde(default)]
    pub addresses: Vec<S<String>>,
    pub auto_assign: Option<bool>,
    pub avoid_buggy_ips: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdvertisement {
    #[serde(default)]
    pub pools: Vec<S<String>>,
    pub mode: Option<S<String>>,
    #[serde(default)]
    pub peers: Vec<S<String>>,
    #[serde(default)]
    pub communities: Vec<S<String>>,
    pub local_pref: Option<S<i64>>,
    pub aggregation_length: Option<S<i64>>,
    pub aggregation_length_v6: Option<S<i64>>,
    #[serde(default)]
    pub interfaces: Vec<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    pub name: Option<S<String>>,
    pub pool: Option<S<String>>,
    pub addresses: Option<Vec<S<String>>>,
    pub ip_families: Option<S<String>>,
    pub allow_shared_ip: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub listen: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawState {
    pub path: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKubernetes {
    pub namespace: Option<String>,
    pub load_balancer_class: Option<String>,
    pub kubeconfig: Option<String>,
    pub lease_duration: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    pub listen: Option<S<String>>,
    #[serde(default)]
    pub members: Vec<S<String>>,
    pub advertise: Option<S<String>>,
}
