//! The standalone announcement pipeline: services → allocator → announcement table → sessions.
//!
//! `ferrolb run` drives it from the config (start, then a whole new config on SIGHUP).
//! [`Pipeline::upsert_service`] and [`Pipeline::remove_service`] change one service without a
//! config reload: the entry point for callers that learn services from somewhere else, and the
//! hook the change → UPDATE latency benchmark (`benches/change_latency.rs`) drives. A change
//! touches the allocator for that one service only, updates the announcement table address by
//! address, and every session compares and sends only the prefixes that changed: the work is
//! O(log n) in the number of services, not a walk over all of them.

use std::collections::HashMap;
use std::time::Duration;

use ipnet::IpNet;

use crate::bgp::listener::Directory;
use crate::bgp::speaker::Speaker;
use crate::bgp::table::{RouteTable, ServiceAddress};
use crate::config::{Config, ServiceConfig};
use crate::standalone::{Addresses, ResolvedService};
use crate::state::StateError;

/// A running standalone node: its config, its assignments and its sessions.
#[derive(Debug)]
pub struct Pipeline {
    config: Config,
    addresses: Addresses,
    /// One entry per `config.services` entry, same order.
    resolved: Vec<ResolvedService>,
    /// Service name → index in `config.services` and `resolved`.
    index: HashMap<String, usize>,
    /// The announcement table (an O(1) copy of it goes to the speaker on every change).
    table: RouteTable,
    speaker: Speaker,
}

fn routes(config: &Config, resolved: &[ResolvedService]) -> RouteTable {
    let addresses = resolved.iter().flat_map(|s| {
        s.addresses.iter().map(|a| ServiceAddress {
            address: *a,
            pool: s.pool.as_deref(),
        })
    });
    RouteTable::build(addresses, &config.advertisements)
}

/// Puts a service's addresses into the table; returns the prefixes that changed.
fn route(table: &mut RouteTable, s: &ResolvedService) -> Vec<IpNet> {
    s.addresses
        .iter()
        .flat_map(|a| {
            table.add(ServiceAddress {
                address: *a,
                pool: s.pool.as_deref(),
            })
        })
        .collect()
}

/// Takes a service's addresses out of the table; returns the prefixes that changed.
fn unroute(table: &mut RouteTable, s: &ResolvedService) -> Vec<IpNet> {
    s.addresses
        .iter()
        .flat_map(|a| {
            table.remove(ServiceAddress {
                address: *a,
                pool: s.pool.as_deref(),
            })
        })
        .collect()
}

fn index_of(config: &Config) -> HashMap<String, usize> {
    config
        .services
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.clone(), i))
        .collect()
}

impl Pipeline {
    /// Restores the state file (if any), allocates for the config and starts every session.
    /// Must run inside a tokio runtime.
    pub fn start(config: Config, directory: Directory) -> Result<Pipeline, StateError> {
        let (addresses, resolved) = Addresses::start(&config)?;
        let table = routes(&config, &resolved);
        let speaker = Speaker::start(&config, table.clone(), directory);
        Ok(Pipeline {
            index: index_of(&config),
            table,
            config,
            addresses,
            resolved,
            speaker,
        })
    }

    /// The running config (with the services changed through this pipeline).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Every service with its addresses, in config order.
    pub fn resolved(&self) -> &[ResolvedService] {
        &self.resolved
    }

    /// The sessions.
    pub fn speaker(&self) -> &Speaker {
        &self.speaker
    }

    /// Applies a whole new config: pools, services and peers (unchanged sessions keep
    /// running). The error says the state file could not be written; the new config is
    /// applied anyway.
    pub async fn reconfigure(&mut self, config: Config) -> Result<(), StateError> {
        // Withdraw what the new config drops before the allocator work, so routers stop
        // sending traffic to removed services as early as possible.
        if config.advertisements == self.config.advertisements {
            let keep: std::collections::HashSet<&str> =
                config.services.iter().map(|s| s.name.as_str()).collect();
            let mut changed = Vec::new();
            for gone in self
                .resolved
                .iter()
                .filter(|r| !keep.contains(r.name.as_str()))
            {
                changed.extend(unroute(&mut self.table, gone));
            }
            self.announce(changed);
        }
        let (resolved, saved) = self.addresses.apply(&config);
        self.table = routes(&config, &resolved);
        self.speaker.reconfigure(&config, self.table.clone()).await;
        self.index = index_of(&config);
        self.resolved = resolved;
        self.config = config;
        saved
    }

    /// Adds a service, or changes the one with the same name, and announces the result.
    /// The error says the state file could not be written; the change is in effect anyway.
    pub fn upsert_service(
        &mut self,
        service: ServiceConfig,
    ) -> (ResolvedService, Result<(), StateError>) {
        let (resolved, saved) = self.addresses.upsert(&service);
        let mut changed = Vec::new();
        match self.index.get(&service.name) {
            Some(&i) => {
                changed.extend(unroute(&mut self.table, &self.resolved[i]));
                self.config.services[i] = service;
                self.resolved[i] = resolved.clone();
            }
            None => {
                self.index
                    .insert(service.name.clone(), self.config.services.len());
                self.config.services.push(service);
                self.resolved.push(resolved.clone());
            }
        }
        changed.extend(route(&mut self.table, &resolved));
        self.announce(changed);
        (resolved, saved)
    }

    /// Removes a service and withdraws its addresses; false when there is no such service.
    pub fn remove_service(&mut self, name: &str) -> (bool, Result<(), StateError>) {
        let Some(i) = self.index.remove(name) else {
            return (false, Ok(()));
        };
        let saved = self.addresses.remove(name);
        self.config.services.swap_remove(i);
        let gone = self.resolved.swap_remove(i);
        if let Some(moved) = self.config.services.get(i) {
            self.index.insert(moved.name.clone(), i);
        }
        let changed = unroute(&mut self.table, &gone);
        self.announce(changed);
        (true, saved)
    }

    fn announce(&mut self, mut changed: Vec<IpNet>) {
        changed.sort_unstable();
        changed.dedup();
        self.speaker.change_routes(self.table.clone(), changed);
    }

    /// Graceful shutdown of every session (see [`Speaker::shutdown`]).
    pub async fn shutdown(self, drain: Duration) {
        self.speaker.shutdown(drain).await;
    }
}
