//! Standalone mode's service addresses: `[[pools]]` and `[[services]]` through the shared
//! allocator driver ([`crate::allocator::Driver`]); with `[state] path` the assignments survive
//! restarts and reloads (the state file is this mode's source of existing assignments, as
//! Service status is Kubernetes').
//!
//! A service's explicit `addresses` that lie in a pool are claimed from it (so nobody else gets
//! them); explicit addresses outside every pool are announced as they are (static). A service
//! without addresses gets one per wanted family from its `pool` or any auto-assign pool
//! ([`ServiceConfig::policy`]: a service naming an IPv6-only pool gets IPv6).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::allocator::{Driver, Fam, NodeAddress, Request, Restored, Sharing};
use crate::announce::{Assigned, AssignedList};
use crate::config::{Config, ServiceConfig};
use crate::model::PoolSpec;
use crate::state::{self, ServiceState, State, StateError};
use crate::status::AllocatorStats;

/// One service's addresses after allocation (what [`Addresses::apply`] and
/// [`Addresses::upsert`] return; the pipeline moves the addresses into the announcer and keeps
/// only the problems, so a service's addresses are held once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedService {
    /// The name, shared by the announcer's desired state and `/status`.
    pub name: Arc<str>,
    /// Each address with the pool it came from (None: a static address outside every pool).
    pub assigned: AssignedList,
    /// Why the service has fewer addresses than it wants, if it does.
    pub problem: Option<String>,
}

impl ResolvedService {
    /// The addresses, in order.
    pub fn addresses(&self) -> Vec<IpAddr> {
        self.assigned.iter().map(|a| a.address).collect()
    }

    /// The pool of the first pooled address.
    pub fn pool(&self) -> Option<&str> {
        self.assigned.iter().find_map(|a| a.pool.as_deref())
    }
}

/// The allocator state of a standalone node (cloned to prepare a reload on a copy: flat tables
/// and shared names, a few milliseconds at 100k services).
#[derive(Debug, Clone)]
pub struct Addresses {
    driver: Driver,
    pools: Vec<PoolSpec>,
    /// The pools' names, once each: every address of a pool shares its name.
    pool_names: Vec<Arc<str>>,
    /// Service name → its age (the order it was first configured in), and its sharing key:
    /// what the state file records beside the addresses, so both are kept only with a state
    /// file. Without one nothing reads them (the services are served in config order and a
    /// restart starts afresh), and at a million services the age map alone was 50 MB.
    seqs: HashMap<Arc<str>, u64>,
    sharing_keys: HashMap<Arc<str>, String>,
    next_seq: u64,
    state_path: Option<PathBuf>,
    /// Allocation failures since start, by reason label.
    failures: BTreeMap<String, u64>,
}

impl Addresses {
    /// Loads the state file (if any), re-adopts its assignments for services still configured,
    /// then allocates for the config.
    pub fn start<R: Default + Extend<ResolvedService>>(
        config: &Config,
    ) -> Result<(Addresses, R), StateError> {
        let state_path = config.state.as_ref().map(|s| s.path.clone());
        let saved = match &state_path {
            Some(p) => state::load(p)?,
            None => None,
        };
        let mut seqs = HashMap::new();
        let existing = match &saved {
            Some(saved) => restored(config, saved, &mut seqs),
            None => Vec::new(),
        };
        let pools = config.pools.iter().map(PoolSpec::allocator_pool).collect();
        let (driver, refused, conflicts) =
            Driver::take_over(node_addresses(config), pools, existing);
        for (_, e) in refused {
            tracing::error!("{e}");
        }
        for e in conflicts {
            tracing::warn!("restoring assignments: {e}");
        }
        for (service, addr) in driver.allocator().orphaned() {
            tracing::warn!(%service, %addr, "address is in no configured pool any more; it stays with its service (orphaned)");
        }
        let mut me = Addresses {
            driver,
            pools: config.pools.clone(),
            pool_names: pool_names(&config.pools),
            seqs,
            sharing_keys: HashMap::new(),
            next_seq: saved.as_ref().map_or(1, |s| s.next_seq),
            state_path,
            failures: BTreeMap::new(),
        };
        let (resolved, saved) = me.apply(config);
        saved?;
        Ok((me, resolved))
    }

    /// Brings the allocator in line with `config`: pools, removed services released, every
    /// service allocated (existing assignments kept). Saves the state file when configured and
    /// says whether that worked beside the result. The result is collected as each service is
    /// served, into whatever the caller keeps (the pipeline: [`super::Allocated`], not a list of
    /// whole [`ResolvedService`]s that it would then take apart).
    pub fn apply<R: Default + Extend<ResolvedService>>(
        &mut self,
        config: &Config,
    ) -> (R, Result<(), StateError>) {
        if config.pools != self.pools {
            let pools = config.pools.iter().map(PoolSpec::allocator_pool).collect();
            for (_, e) in self.driver.set_pools(pools) {
                tracing::error!("{e}");
            }
            self.pools = config.pools.clone();
            self.pool_names = pool_names(&config.pools);
        }
        // Removed services are released in one step (a withdraw-all reload frees 100k). The
        // set of names is built only when something is held (not on a start without a state
        // file) and is gone before the services are allocated: at 100,000 services it is 2 MB
        // that would otherwise sit on top of the start's peak.
        let held = self.driver.allocator().holders();
        if !held.is_empty() || !self.seqs.is_empty() {
            let configured: std::collections::HashSet<&str> =
                config.services.iter().map(|s| &*s.name).collect();
            let gone: Vec<Arc<str>> = held
                .into_iter()
                .filter(|k| !configured.contains(&**k))
                .collect();
            if !gone.is_empty() {
                self.driver.release_many(gone.iter().map(|k| &**k));
            }
            self.seqs.retain(|k, _| configured.contains(&**k));
            self.sharing_keys.retain(|k, _| configured.contains(&**k));
        }
        let mut resolved = R::default();
        // `extend` sees the exact length (a slice iterator), so the result is sized once.
        resolved.extend(config.services.iter().map(|s| self.resolve(s)));
        (resolved, self.save())
    }

    /// The copy a reload to `config` works on: when `config` keeps none of the services held
    /// (a withdraw-all), an empty one with the same pools instead of a copy of every claim
    /// that `apply` would then release; else a copy.
    pub fn for_reload(&self, config: &Config) -> Addresses {
        let allocator = self.driver.allocator();
        if config.services.iter().any(|s| allocator.holds(&s.name)) {
            return self.clone();
        }
        Addresses {
            driver: self.driver.released_all(),
            pools: self.pools.clone(),
            pool_names: self.pool_names.clone(),
            seqs: HashMap::new(),
            sharing_keys: HashMap::new(),
            next_seq: self.next_seq,
            state_path: self.state_path.clone(),
            failures: self.failures.clone(),
        }
    }

    /// Allocates (or confirms) one service without looking at the others, then saves the
    /// state file when configured. The pools must already be those of the running config.
    pub fn upsert(&mut self, s: &ServiceConfig) -> (ResolvedService, Result<(), StateError>) {
        let resolved = self.resolve(s);
        (resolved, self.save())
    }

    /// Releases one service's addresses (they become free at once), then saves.
    pub fn remove(&mut self, name: &str) -> Result<(), StateError> {
        self.forget(name);
        self.save()
    }

    fn forget(&mut self, name: &str) {
        self.driver.release(name);
        self.seqs.remove(name);
        self.sharing_keys.remove(name);
    }

    fn resolve(&mut self, s: &ServiceConfig) -> ResolvedService {
        // The age only orders restores, which come from the state file; without one it is 0.
        let mut seq = 0;
        if self.state_path.is_some() {
            seq = *self.seqs.entry(s.name.clone()).or_insert_with(|| {
                self.next_seq += 1;
                self.next_seq - 1
            });
            match &s.allow_shared_ip {
                Some(k) => drop(self.sharing_keys.insert(s.name.clone(), k.to_string())),
                None => drop(self.sharing_keys.remove(&*s.name)),
            }
        }
        let (pooled, fixed): (Vec<IpAddr>, Vec<IpAddr>) = s
            .addresses
            .iter()
            .partition(|a| self.pools.iter().any(|p| p.contains(**a)));
        let mut assigned: Vec<Assigned> = fixed
            .iter()
            .map(|a| Assigned {
                address: *a,
                pool: None,
            })
            .collect();
        let mut problem = None;
        if s.addresses.is_empty() || !pooled.is_empty() {
            let req = Request {
                addresses: pooled,
                pool: s.pool.as_deref().map(str::to_string),
                policy: s.policy(&self.pools),
                sharing: s.allow_shared_ip.as_deref().map(|k| sharing(k.to_string())),
                ..Request::simple(s.name.clone(), seq, Fam::V4)
            };
            let served = self.driver.serve(&req);
            if let Some(e) = &served.error {
                *self
                    .failures
                    .entry(e.metric_label().to_string())
                    .or_default() += 1;
            }
            assigned.extend(served.addresses.iter().map(|(a, p)| Assigned {
                address: *a,
                pool: p.as_deref().map(|p| self.pool_name(p)),
            }));
            let why = served
                .error
                .map(|e| e.to_string())
                .into_iter()
                .chain(served.missing);
            problem = Some(why.collect::<Vec<_>>().join("; ")).filter(|p| !p.is_empty());
        }
        if let Some(p) = &problem {
            tracing::warn!(service = %s.name, "{p}");
        }
        ResolvedService {
            name: s.name.clone(),
            assigned: assigned.into(),
            problem,
        }
    }

    /// The shared name of pool `p` (a new copy only for a name no pool has, which the
    /// allocator does not hand out).
    fn pool_name(&self, p: &str) -> Arc<str> {
        self.pool_names
            .iter()
            .find(|n| &***n == p)
            .cloned()
            .unwrap_or_else(|| Arc::from(p))
    }

    /// What `/metrics` shows of the allocator.
    pub fn stats(&self) -> AllocatorStats {
        AllocatorStats {
            pools: self.driver.allocator().usage(),
            failures: self.failures.clone(),
        }
    }

    fn save(&self) -> Result<(), StateError> {
        let Some(path) = &self.state_path else {
            return Ok(());
        };
        let services = self
            .driver
            .allocator()
            .assignments()
            .into_iter()
            .map(|(name, addrs)| ServiceState {
                created: self.seqs.get(name.as_str()).copied().unwrap_or(0),
                pool: addrs.values().flatten().next().cloned(),
                addresses: addrs.into_keys().collect(),
                sharing_key: self.sharing_keys.get(name.as_str()).cloned(),
                name,
            })
            .collect();
        state::save(
            path,
            &State {
                version: state::VERSION,
                next_seq: self.next_seq,
                services,
            },
        )
    }
}

/// The state file's assignments of services still configured, in the file's order
/// ([`Driver::take_over`] re-adopts them oldest first), with their sequence numbers put in
/// `seqs` under the config's shared names. The index of the config's names lives only here:
/// at 100,000 services it is 3 MB, gone before the services are allocated.
fn restored(config: &Config, saved: &State, seqs: &mut HashMap<Arc<str>, u64>) -> Vec<Restored> {
    let configured: HashMap<&str, &Arc<str>> = config
        .services
        .iter()
        .map(|s| (&*s.name, &s.name))
        .collect();
    saved
        .services
        .iter()
        .filter_map(|s| Some((*configured.get(s.name.as_str())?, s)))
        .map(|(name, s)| {
            seqs.insert(name.clone(), s.created);
            Restored {
                sharing: s.sharing_key.clone().map(sharing),
                key: name.clone(),
                created: s.created,
                addresses: s.addresses.clone(),
                pool: s.pool.clone(),
            }
        })
        .collect()
}

fn pool_names(pools: &[PoolSpec]) -> Vec<Arc<str>> {
    pools.iter().map(|p| Arc::from(p.name.as_str())).collect()
}

fn sharing(key: String) -> Sharing {
    Sharing {
        key,
        ports: Vec::new(),
        local_traffic: false,
    }
}

fn node_addresses(config: &Config) -> Vec<NodeAddress> {
    config
        .node
        .addresses
        .iter()
        .map(|a| NodeAddress {
            node: config.node.name.clone(),
            address: *a,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{parse_with, HostInfo};

    fn config(extra: &str) -> Config {
        let text = format!("[node]\nrouter_id = \"192.0.2.10\"\nasn = 64512\naddresses = [\"192.0.2.10\"]\n{extra}");
        let host = HostInfo {
            hostname: "node-a".into(),
            addresses: Vec::new(),
        };
        parse_with(Path::new("node.toml"), &text, &host).expect("valid config")
    }

    #[test]
    fn a_service_naming_an_ipv6_only_pool_gets_an_ipv6_address() {
        let c = config(
            "[[pools]]\nname = \"v4\"\naddresses = [\"198.51.100.0/24\"]\n\n[[pools]]\nname = \"v6\"\naddresses = [\"2001:db8:100::/64\"]\n\n[[services]]\nname = \"web6\"\npool = \"v6\"\n\n[[services]]\nname = \"web\"\n",
        );
        let (_, resolved): (_, Vec<ResolvedService>) = Addresses::start(&c).expect("start");
        assert_eq!(
            resolved[0].addresses(),
            ["2001:db8:100::".parse::<IpAddr>().expect("ip")]
        );
        assert_eq!(resolved[0].pool(), Some("v6"));
        assert_eq!(resolved[0].problem, None);
        assert!(
            resolved[1].addresses()[0].is_ipv4(),
            "without a pool, IPv4 first: {resolved:?}"
        );
    }

    #[test]
    fn static_addresses_outside_every_pool_are_kept_without_a_pool() {
        let c = config("[[pools]]\nname = \"p\"\naddresses = [\"198.51.100.0/24\"]\n\n[[services]]\nname = \"s\"\naddresses = [\"203.0.113.5\", \"198.51.100.9\"]\n");
        let (_, resolved): (_, Vec<ResolvedService>) = Addresses::start(&c).expect("start");
        let got: Vec<(String, Option<String>)> = resolved[0]
            .assigned
            .iter()
            .map(|a| (a.address.to_string(), a.pool.as_deref().map(str::to_string)))
            .collect();
        assert_eq!(
            got,
            [
                ("203.0.113.5".into(), None),
                ("198.51.100.9".into(), Some("p".into()))
            ]
        );
    }

    #[test]
    fn a_reload_that_keeps_no_service_starts_empty_and_decides_as_a_copy_would() {
        let pools = "[[pools]]\nname = \"p\"\naddresses = [\"198.51.100.0/24\"]\n";
        let full = config(&format!(
            "{pools}\n[[services]]\nname = \"a\"\n\n[[services]]\nname = \"b\"\nallow_shared_ip = \"k\"\n"
        ));
        let (held, _): (_, Vec<ResolvedService>) = Addresses::start(&full).expect("start");
        let other = config(&format!("{pools}\n[[services]]\nname = \"c\"\n"));
        let mut fresh = held.for_reload(&other);
        assert_eq!(
            fresh.driver.allocator().used_addresses(),
            0,
            "nothing copied to release"
        );
        let mut copy = held.clone();
        let (a, _): (Vec<ResolvedService>, _) = fresh.apply(&other);
        let (b, _): (Vec<ResolvedService>, _) = copy.apply(&other);
        assert_eq!(a, b);
        assert_eq!(
            a[0].addresses(),
            ["198.51.100.0".parse::<IpAddr>().expect("ip")],
            "the first address is free again"
        );
        assert_eq!(
            fresh.driver.allocator().used_addresses(),
            copy.driver.allocator().used_addresses()
        );
        let kept = config(&format!("{pools}\n[[services]]\nname = \"b\"\n"));
        assert_eq!(
            held.for_reload(&kept).driver.allocator().used_addresses(),
            2,
            "b is kept: a copy of what is held"
        );
    }
}
