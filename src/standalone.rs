//! Standalone mode's service addresses: `[[pools]]` and `[[services]]` go through the allocator,
//! and with `[state] path` the assignments survive restarts and reloads.
//!
//! A service's explicit `addresses` that lie in a pool are claimed from it (so nobody else gets
//! them); explicit addresses outside every pool are announced as they are (static). A service
//! without addresses gets one per wanted family from its `pool` or any auto-assign pool;
//! `SingleStack` means IPv4 when an IPv4 pool exists, else IPv6.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use crate::allocator::{
    Allocator, Fam, FamilyPolicy, NodeAddress, Pool, Range, Request, Restored, Sharing,
};
use crate::config::{Config, IpFamilies, ServiceConfig};
use crate::state::{self, ServiceState, State, StateError};

/// One service's addresses after allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedService {
    pub name: String,
    pub addresses: Vec<IpAddr>,
    pub pool: Option<String>,
    /// Why the service has fewer addresses than it wants, if it does.
    pub problem: Option<String>,
}

/// The names of the configured services, for membership tests in O(1).
fn service_names(config: &Config) -> std::collections::HashSet<&str> {
    config.services.iter().map(|s| s.name.as_str()).collect()
}

/// The allocator state of a standalone node.
#[derive(Debug)]
pub struct Addresses {
    alloc: Allocator,
    seqs: BTreeMap<String, u64>,
    sharing_keys: BTreeMap<String, String>,
    next_seq: u64,
    state_path: Option<PathBuf>,
}

impl Addresses {
    /// Loads the state file (if any), re-adopts its assignments for services still configured,
    /// then allocates for the config.
    pub fn start(config: &Config) -> Result<(Addresses, Vec<ResolvedService>), StateError> {
        let state_path = config.state.as_ref().map(|s| s.path.clone());
        let saved = match &state_path {
            Some(p) => state::load(p)?,
            None => None,
        };
        let mut me = Addresses {
            alloc: Allocator::new(node_addresses(config)),
            seqs: BTreeMap::new(),
            sharing_keys: BTreeMap::new(),
            next_seq: saved.as_ref().map_or(1, |s| s.next_seq),
            state_path,
        };
        me.sync_pools(config);
        if let Some(saved) = saved {
            me.restore(config, saved);
        }
        let (resolved, saved) = me.apply(config);
        saved?;
        Ok((me, resolved))
    }

    fn restore(&mut self, config: &Config, saved: State) {
        let configured = service_names(config);
        let entries: Vec<Restored> = saved
            .services
            .into_iter()
            .filter(|s| configured.contains(s.name.as_str()))
            .map(|s| {
                self.seqs.insert(s.name.clone(), s.created);
                Restored {
                    sharing: s.sharing_key.map(sharing),
                    key: s.name,
                    created: s.created,
                    addresses: s.addresses,
                    pool: s.pool,
                }
            })
            .collect();
        for e in self.alloc.restore(entries) {
            tracing::warn!("restoring assignments: {e}");
        }
        for (service, addr) in self.alloc.orphaned() {
            tracing::warn!(%service, %addr, "address is in no configured pool any more; it stays with its service (orphaned)");
        }
    }

    fn sync_pools(&mut self, config: &Config) {
        let gone: Vec<String> = self
            .alloc
            .pools()
            .filter(|p| !config.pools.iter().any(|c| c.name == p.name))
            .map(|p| p.name.clone())
            .collect();
        gone.iter().for_each(|p| self.alloc.remove_pool(p));
        for c in &config.pools {
            let ranges = c
                .ranges
                .iter()
                .filter_map(|r| Range::new(r.start, r.end))
                .collect();
            let mut pool = Pool::new(&c.name, ranges);
            pool.auto_assign = c.auto_assign;
            pool.avoid_buggy_ips = c.avoid_buggy_ips;
            if let Err(e) = self.alloc.add_pool(pool) {
                tracing::error!("{e}");
            }
        }
    }

    /// Brings the allocator in line with `config`: pools, removed services released, every
    /// service allocated (existing assignments kept). Saves the state file when configured and
    /// says whether that worked beside the result.
    pub fn apply(&mut self, config: &Config) -> (Vec<ResolvedService>, Result<(), StateError>) {
        self.sync_pools(config);
        let configured = service_names(config);
        let gone: Vec<String> = self
            .seqs
            .keys()
            .filter(|k| !configured.contains(k.as_str()))
            .cloned()
            .collect();
        for k in gone {
            self.alloc.release(&k);
            self.seqs.remove(&k);
            self.sharing_keys.remove(&k);
        }
        let resolved = config.services.iter().map(|s| self.resolve(s)).collect();
        (resolved, self.save())
    }

    /// Allocates (or confirms) one service without looking at the others, then saves the
    /// state file when configured. The pools must already be those of the running config.
    pub fn upsert(&mut self, s: &ServiceConfig) -> (ResolvedService, Result<(), StateError>) {
        let resolved = self.resolve(s);
        (resolved, self.save())
    }

    /// Releases one service's addresses (they become free at once), then saves.
    pub fn remove(&mut self, name: &str) -> Result<(), StateError> {
        self.alloc.release(name);
        self.seqs.remove(name);
        self.sharing_keys.remove(name);
        self.save()
    }

    fn resolve(&mut self, s: &ServiceConfig) -> ResolvedService {
        let seq = *self.seqs.entry(s.name.clone()).or_insert_with(|| {
            self.next_seq += 1;
            self.next_seq - 1
        });
        match &s.allow_shared_ip {
            Some(k) => drop(self.sharing_keys.insert(s.name.clone(), k.clone())),
            None => drop(self.sharing_keys.remove(&s.name)),
        }
        let in_pool = |a: &IpAddr| self.alloc.pools().any(|p| p.contains(*a));
        let (pooled, fixed): (Vec<IpAddr>, Vec<IpAddr>) =
            s.addresses.iter().partition(|a| in_pool(a));
        let mut out = ResolvedService {
            name: s.name.clone(),
            addresses: fixed,
            pool: None,
            problem: None,
        };
        if !s.addresses.is_empty() && pooled.is_empty() {
            return out; // static addresses only
        }
        let req = Request {
            addresses: pooled,
            pool: s.pool.clone(),
            policy: self.policy(s.ip_families),
            sharing: s.allow_shared_ip.clone().map(sharing),
            ..Request::simple(&s.name, seq, Fam::V4)
        };
        match self.alloc.allocate(&req) {
            Ok(a) => {
                out.pool = a.addresses.values().flatten().next().cloned();
                out.addresses.extend(a.addresses.keys());
                if !a.missing.is_empty() {
                    out.problem = Some(a.missing.join("; "));
                }
            }
            Err(e) => {
                out.addresses
                    .extend(self.alloc.assignment(&s.name).addresses.keys());
                out.problem = Some(e.to_string());
            }
        }
        if let Some(p) = &out.problem {
            tracing::warn!(service = %s.name, "{p}");
        }
        out
    }

    fn policy(&self, f: IpFamilies) -> FamilyPolicy {
        match f {
            IpFamilies::SingleStack => {
                let v4 = self.alloc.pools().any(|p| p.has_family(Fam::V4));
                FamilyPolicy::SingleStack(if v4 { Fam::V4 } else { Fam::V6 })
            }
            IpFamilies::PreferDualStack => FamilyPolicy::PreferDualStack,
            IpFamilies::RequireDualStack => FamilyPolicy::RequireDualStack,
        }
    }

    fn save(&self) -> Result<(), StateError> {
        let Some(path) = &self.state_path else {
            return Ok(());
        };
        let services = self
            .alloc
            .assignments()
            .into_iter()
            .map(|(name, addrs)| ServiceState {
                created: self.seqs.get(&name).copied().unwrap_or(0),
                pool: addrs.values().flatten().next().cloned(),
                addresses: addrs.into_keys().collect(),
                sharing_key: self.sharing_keys.get(&name).cloned(),
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
