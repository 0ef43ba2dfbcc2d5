//! Standalone mode: node.toml's `[[services]]` through the allocator driver into the shared
//! announcer and the BGP sink, with the state file as the source of existing assignments.
//!
//! `ferrolb run` drives it from the config (start, then a whole new config on SIGHUP).
//! [`Pipeline::upsert_service`] and [`Pipeline::remove_service`] change one service without a
//! config reload: the entry point for callers that learn services from somewhere else, and the
//! hook the change → UPDATE latency benchmark (`benches/change_latency.rs`) drives. A change
//! touches the allocator for that one service only, the announcer address by address, and every
//! session compares and sends only the prefixes that changed: O(log n) in the number of
//! services, not a walk over all of them.

mod addresses;
mod index;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub use addresses::{Addresses, ResolvedService};

use crate::announce::{Announcer, AssignedList, Desired};
use crate::bgp::listener::Directory;
use crate::bgp::speaker::Speaker;
use crate::config::{Config, ServiceConfig};
use crate::state::StateError;
use crate::status::{ServiceEntry, ServiceRows, StatusModel};
use index::NameIndex;

/// A running standalone node: its config, its assignments and its sessions.
///
/// A service's addresses are held once, in the announcer's desired state; the pipeline keeps
/// beside them only the services' names and the problems of the services that have one.
#[derive(Debug)]
pub struct Pipeline {
    /// The running config without its `[[services]]` (emptied: the services are held once,
    /// in `names`, the allocator and the announcer).
    config: Config,
    /// The services' names in config order (with those changed through this pipeline).
    names: Arc<Vec<Arc<str>>>,
    addresses: Addresses,
    /// Service name → why it has fewer addresses than it wants (only services with a problem).
    problems: Arc<HashMap<Arc<str>, String>>,
    /// Service name → index in `names`.
    index: NameIndex,
    announcer: Announcer,
    speaker: Speaker,
}

/// A reload checked and ready to put in place ([`Pipeline::prepare`]).
#[derive(Debug)]
pub struct Prepared {
    config: Config,
    addresses: Addresses,
    allocated: Allocated,
}

/// What the allocator gave the services, collected as each is served, in the form the
/// pipeline keeps it: each name with its addresses (for the announcer's desired state) and the
/// problems of the services that have one. At 100,000 services a list of whole
/// [`ResolvedService`]s was 5.6 MB on top of the start's peak; this is 3.2 MB.
#[derive(Debug, Default)]
pub struct Allocated {
    services: Vec<(Arc<str>, AssignedList)>,
    problems: HashMap<Arc<str>, String>,
}

impl Extend<ResolvedService> for Allocated {
    fn extend<I: IntoIterator<Item = ResolvedService>>(&mut self, iter: I) {
        let iter = iter.into_iter();
        self.services.reserve_exact(iter.size_hint().0);
        for s in iter {
            if let Some(p) = s.problem {
                self.problems.insert(s.name.clone(), p);
            }
            self.services.push((s.name, s.assigned));
        }
    }
}

impl Prepared {
    /// The config this reload puts in place.
    pub fn config(&self) -> &Config {
        &self.config
    }
}

/// The desired state of a standalone node: its peers and advertisements from node.toml, its
/// services with the addresses the allocator gave them (moved in, not copied); beside it the
/// problems of the services that have one.
pub fn desired(config: &Config, allocated: Allocated) -> (Desired, HashMap<Arc<str>, String>) {
    let Allocated {
        mut services,
        problems,
    } = allocated;
    // Sorted in place first: the map's own (stable) sort then only finds one run.
    services.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let desired = Desired {
        peers: config.bgp.peers.clone(),
        advertisements: config.advertisements.clone(),
        services: services.into_iter().collect(),
    };
    (desired, problems)
}

impl Pipeline {
    /// Restores the state file (if any), allocates for the config and starts every session.
    /// Must run inside a tokio runtime.
    pub fn start(config: Config, directory: Directory) -> Result<Pipeline, StateError> {
        let (addresses, allocated) = Addresses::start(&config)?;
        let mut announcer = Announcer::new();
        // The config's entries go before the desired map and the table are built: they are
        // the largest transient.
        let (config, names) = names_apart(config, &allocated);
        let (desired, problems) = desired(&config, allocated);
        announcer.apply(desired);
        let speaker = Speaker::start(
            config.local(),
            &config.bgp.peers,
            announcer.table().clone(),
            directory,
        );
        Ok(Pipeline {
            index: NameIndex::of(&names),
            names: Arc::new(names),
            config,
            addresses,
            problems: Arc::new(problems),
            announcer,
            speaker,
        })
    }

    /// The running config, without its `[[services]]`: those are [`Pipeline::services`]
    /// (one name each; their addresses are in [`Pipeline::resolved`]).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The services' names in config order (with those changed through this pipeline).
    pub fn services(&self) -> &[Arc<str>] {
        &self.names
    }

    /// Every service with its addresses, in config order.
    pub fn resolved(&self) -> Vec<ResolvedService> {
        let held = &self.announcer.desired().services;
        self.names
            .iter()
            .map(|name| ResolvedService {
                name: name.clone(),
                assigned: held.get(&**name).cloned().unwrap_or_default(),
                problem: self.problems.get(&**name).cloned(),
            })
            .collect()
    }

    /// The L2 addresses of this node per interface (what the L2 sink may answer for).
    pub fn l2(&self) -> &crate::announce::l2::L2Owned {
        self.announcer.l2()
    }

    /// The sessions.
    pub fn speaker(&self) -> &Speaker {
        &self.speaker
    }

    /// Applies a whole new config: pools, services and peers (unchanged sessions keep
    /// running). All or nothing: when the state file cannot be written with the new
    /// assignments, nothing changes and the error says why ([`Pipeline::prepare`] then
    /// [`Pipeline::commit`]).
    pub async fn reconfigure(&mut self, config: Config) -> Result<(), StateError> {
        let prepared = self.prepare(config)?;
        self.commit(prepared).await;
        Ok(())
    }

    /// The part of a reload that can fail, done on a copy: the allocator's work for the new
    /// config and the state file written with its assignments. Nothing running changes; drop
    /// the result to abandon the reload.
    pub fn prepare(&self, config: Config) -> Result<Prepared, StateError> {
        let mut addresses = self.addresses.for_reload(&config);
        let (allocated, saved) = addresses.apply(&config);
        saved?;
        Ok(Prepared {
            config,
            addresses,
            allocated,
        })
    }

    /// Puts a prepared config in place; this cannot fail. Removed services are withdrawn
    /// first, so routers stop sending their traffic as early as possible.
    pub async fn commit(&mut self, prepared: Prepared) {
        let Prepared {
            config,
            addresses,
            allocated,
        } = prepared;
        if config.advertisements == self.config.advertisements {
            let keep: std::collections::HashSet<&str> =
                config.services.iter().map(|s| &*s.name).collect();
            let changes = self.announcer.retain_services(|name| keep.contains(name));
            self.speaker.apply_routes(changes.routes);
        }
        let (config, names) = names_apart(config, &allocated);
        let (desired, problems) = desired(&config, allocated);
        let changes = self.announcer.apply(desired);
        self.speaker.apply(&config.local(), changes).await;
        self.index = NameIndex::of(&names);
        self.names = Arc::new(names);
        self.addresses = addresses;
        self.problems = Arc::new(problems);
        self.config = config;
    }

    /// Adds a service, or changes the one with the same name, and announces the result.
    /// The error says the state file could not be written; the change is in effect anyway.
    pub fn upsert_service(
        &mut self,
        service: ServiceConfig,
    ) -> (ResolvedService, Result<(), StateError>) {
        let (resolved, saved) = self.addresses.upsert(&service);
        if self.index.get(&self.names, &service.name).is_none() {
            Arc::make_mut(&mut self.names).push(service.name.clone());
            self.index.insert(&self.names, self.names.len() - 1);
        }
        let problems = Arc::make_mut(&mut self.problems);
        match &resolved.problem {
            Some(p) => drop(problems.insert(resolved.name.clone(), p.clone())),
            None => drop(problems.remove(&*resolved.name)),
        }
        let changes = self
            .announcer
            .upsert_service(resolved.name.clone(), resolved.assigned.clone());
        self.speaker.apply_routes(changes.routes);
        (resolved, saved)
    }

    /// Removes a service and withdraws its addresses; false when there is no such service.
    pub fn remove_service(&mut self, name: &str) -> (bool, Result<(), StateError>) {
        let Some(i) = self.index.remove(&self.names, name) else {
            return (false, Ok(()));
        };
        let saved = self.addresses.remove(name);
        Arc::make_mut(&mut self.names).swap_remove(i);
        Arc::make_mut(&mut self.problems).remove(name);
        let last = self.names.len();
        if i < last {
            self.index.moved(&self.names, last, i);
        }
        let changes = self.announcer.remove_service(name);
        self.speaker.apply_routes(changes.routes);
        (true, saved)
    }

    /// Publishes the services and sessions into the status model. The services' rows are
    /// built when read, from the names, the announcer's desired state and the problems, all
    /// shared with the pipeline (O(1) copies; a later single-service change copies what it
    /// changes once): nothing per service is held for `/status`.
    pub fn publish(&self, status: &StatusModel) {
        status.set_node(&self.config.node.name);
        let rows = Rows {
            names: self.names.clone(),
            desired: self.announcer.shared_desired(),
            problems: self.problems.clone(),
        };
        status.publish_rows(Arc::new(rows), self.speaker.status_cells());
        status.set_bfd_dropped(self.speaker.bfd_dropped());
        status.set_allocator(Some(self.addresses.stats()));
    }

    /// Graceful shutdown of every session (see [`Speaker::shutdown`]).
    pub async fn shutdown(self, drain: Duration) {
        self.speaker.shutdown(drain).await;
    }
}

/// `/status`'s service rows of a standalone node, in config order (see [`Pipeline::publish`]).
#[derive(Debug)]
struct Rows {
    names: Arc<Vec<Arc<str>>>,
    desired: Arc<Desired>,
    problems: Arc<HashMap<Arc<str>, String>>,
}

impl ServiceRows for Rows {
    fn rows(&self) -> Vec<ServiceEntry> {
        let held = &self.desired.services;
        self.names
            .iter()
            .map(|name| {
                let assigned = held.get(&**name).cloned().unwrap_or_default();
                ServiceEntry::planned(
                    name.clone(),
                    assigned.iter().map(|a| a.address).collect(),
                    assigned.iter().find_map(|a| a.pool.clone()),
                    assigned,
                    &self.desired.advertisements,
                    self.problems.get(&**name).cloned(),
                )
            })
            .collect()
    }
}

/// The config without its services, and the services' names: what the pipeline keeps of a
/// config once the allocator and the announcer have the services (at 100,000 services the
/// whole entries were 7 MB more than their names). The entries go first and the names are
/// read from `allocated` (the same names, in config order), so the two lists are never held
/// at once.
fn names_apart(mut config: Config, allocated: &Allocated) -> (Config, Vec<Arc<str>>) {
    drop(std::mem::take(&mut config.services));
    let mut names = Vec::with_capacity(allocated.services.len());
    names.extend(allocated.services.iter().map(|(n, _)| n.clone()));
    (config, names)
}

#[cfg(test)]
mod tests;
