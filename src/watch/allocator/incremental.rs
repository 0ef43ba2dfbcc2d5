//! The Kubernetes allocator, incremental: the [`Driver`] and what it decided per Service kept
//! across changes, so a change costs work in proportion to what changed. Pure: Services,
//! pools, Nodes and namespace labels in, outcomes out; no client, no clock.
//!
//! It starts from [`decide::take_over`] (restore every status, then serve oldest first), and
//! from then on keeps the state a from-scratch `take_over` over the same cluster state (the
//! Services carrying the status it decided) would build, with nothing to change:
//!
//! - a new Service is one allocation; a changed one is served again (after re-adopting its
//!   status first when that, its sharing terms or its pool hint changed);
//! - a deleted Service (or one that stopped being ours) is one release;
//! - whenever an address was freed, the *pending* Services (failed, exhausted, "not yet") are
//!   served again in (created, key) order, because the freed address may now fit one of them;
//! - a pool change replaces the pools and serves again the Services it can affect: those that
//!   ask for specific addresses or name a pool, and the pending ones (an address a Service
//!   holds never moves because of a pool change);
//! - a Namespace's labels changing serves that namespace's Services and the pending ones again;
//! - what it cannot do locally with the same result as a takeover it does with one: a node
//!   address change (the allocator refuses node addresses from construction on), a restore
//!   conflict, or a change to a Service that shares its address with others.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;

use super::decide::{
    node_addresses, pools_of, serve_input, take_over_inputs, Event, Input, NamespaceLabels, Outcome,
};
use crate::allocator::{Driver, NodeAddress};
use crate::watch::crds::IPAddressPool;
use crate::watch::service::{self, ServiceRecord};
use crate::watch::speaker::plan::Labels;

/// Rounds of re-serving the pending Services after a release before falling back to a full
/// takeover (each round only follows a round that freed an address).
const MAX_ROUNDS: usize = 8;

/// What it decided for one Service.
#[derive(Debug, Clone)]
struct Entry {
    /// The input it was decided on, with `status` set to the decided addresses (what the
    /// status holds once written).
    input: Input,
    outcome: Outcome,
    pending: bool,
}

/// The incremental allocator.
#[derive(Debug, Clone)]
pub struct Incremental {
    class: String,
    driver: Driver,
    nodes: Vec<NodeAddress>,
    pools: Vec<IPAddressPool>,
    refused_pools: Vec<(String, String)>,
    namespaces: NamespaceLabels,
    entries: BTreeMap<String, Entry>,
    /// (created, key) of the Services that lack an address they want.
    pending: BTreeSet<(u64, String)>,
    /// (created, key) of the Services a pool change can move although they hold all they want.
    sensitive: BTreeSet<(u64, String)>,
    /// Full takeovers done since start (after the first), for tests and logs.
    rebuilds: u64,
}

impl Incremental {
    /// Takes over: [`decide::take_over`] over the cluster's state.
    pub fn start<S, N>(
        pools: &[IPAddressPool],
        nodes: &[N],
        namespaces: NamespaceLabels,
        services: &[S],
        class: &str,
    ) -> Incremental
    where
        S: Borrow<ServiceRecord> + Clone + Into<Arc<ServiceRecord>>,
        N: Borrow<Node>,
    {
        let mut inc = Incremental {
            class: class.to_string(),
            driver: Driver::default(),
            nodes: node_addresses(nodes),
            pools: pools.to_vec(),
            refused_pools: Vec::new(),
            namespaces,
            entries: BTreeMap::new(),
            pending: BTreeSet::new(),
            sensitive: BTreeSet::new(),
            rebuilds: 0,
        };
        for s in services {
            if service::is_ours(s.borrow(), class) {
                let input = Input::of(s.clone());
                let outcome = Outcome {
                    key: input.key().to_string(),
                    addresses: input.status.clone(),
                    changed: false,
                    event: None,
                    failure: None,
                };
                inc.entries.insert(
                    input.key().to_string(),
                    Entry {
                        input,
                        outcome,
                        pending: false,
                    },
                );
            }
        }
        inc.rebuild();
        inc.rebuilds = 0;
        inc
    }

    /// The driver (pools, assignments, usage).
    pub fn driver(&self) -> &Driver {
        &self.driver
    }

    /// Pools refused (name, reason).
    pub fn refused_pools(&self) -> &[(String, String)] {
        &self.refused_pools
    }

    /// What was decided for the Service `key` (ours), if anything.
    pub fn outcome(&self, key: &str) -> Option<&Outcome> {
        self.entries.get(key).map(|e| &e.outcome)
    }

    /// Every outcome, in key order.
    pub fn outcomes(&self) -> impl Iterator<Item = &Outcome> {
        self.entries.values().map(|e| &e.outcome)
    }

    /// Number of Services of ours.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no Service is ours.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Full takeovers since start (node changes, restore conflicts, shared addresses).
    pub fn rebuilds(&self) -> u64 {
        self.rebuilds
    }

    /// A Service was created or changed (spec, annotations, status, class or type). Returns
    /// the keys whose outcome was decided again (the Service's own first, when ours).
    pub fn upsert(&mut self, svc: impl Into<Arc<ServiceRecord>>) -> Vec<String> {
        let svc: Arc<ServiceRecord> = svc.into();
        if !service::is_ours(&svc, &self.class) {
            return self.delete(&svc.key);
        }
        let input = Input::of(svc);
        let key = input.key().to_string();
        if let Some(e) = self.entries.get_mut(&key) {
            if e.input.same(&input) {
                // Nothing to decide; hold the newest record (the mirror's own) instead of the
                // one decided on, so the two are not both kept.
                e.input.service = input.service;
                return Vec::new();
            }
        }
        let old = self.entries.get(&key);
        let before = self.held(&key);
        let old_restored = old.and_then(|e| e.input.restored());
        let new_restored = input.restored();
        if old_restored != new_restored {
            // Its status (or how it is re-adopted) changed: what it holds is what its status
            // says, as for a takeover. Shared addresses and conflicts need the takeover's
            // order (older first), so those take the long way.
            if old.is_some_and(|e| e.input.shares()) || input.shares() {
                return self.replace_and_rebuild(input);
            }
            self.driver.release(&key);
            if let Some(r) = new_restored {
                if !self.driver.restore(vec![r]).is_empty() {
                    return self.replace_and_rebuild(input);
                }
            }
        }
        self.unindex(&key);
        let mut changed = vec![key.clone()];
        let freed = self.serve_new(input, &before);
        if freed {
            changed.extend(self.serve_pending());
        }
        changed
    }

    /// A Service is gone (or is not ours any more): one release, then the pending Services
    /// are served again. Returns the keys decided again.
    pub fn delete(&mut self, key: &str) -> Vec<String> {
        self.unindex(key);
        if self.entries.remove(key).is_none() {
            return Vec::new();
        }
        let before = self.held(key);
        self.driver.release(key);
        if before.is_empty() {
            return Vec::new();
        }
        self.serve_pending()
    }

    /// The `IPAddressPool`s changed: replaces the pools, then serves again the Services a
    /// pool change can affect. Returns the keys decided again.
    pub fn set_pools(&mut self, pools: &[IPAddressPool]) -> Vec<String> {
        let shape = |p: &IPAddressPool| (p.metadata.name.clone(), p.spec.clone());
        if self.pools.len() == pools.len()
            && self
                .pools
                .iter()
                .zip(pools)
                .all(|(a, b)| shape(a) == shape(b))
        {
            return Vec::new();
        }
        self.pools = pools.to_vec();
        self.apply_pools();
        let affected: BTreeSet<(u64, String)> =
            self.sensitive.union(&self.pending).cloned().collect();
        self.serve_again(affected)
    }

    /// The Nodes changed: when their addresses did, a full takeover (the allocator refuses
    /// node addresses from its construction on). Returns the keys decided again.
    pub fn set_nodes<N: Borrow<Node>>(&mut self, nodes: &[N]) -> Vec<String> {
        let addrs = node_addresses(nodes);
        if addrs == self.nodes {
            return Vec::new();
        }
        self.nodes = addrs;
        self.rebuild()
    }

    /// A Namespace's labels changed (None: the Namespace is gone). Serves again that
    /// namespace's Services and the pending ones. Returns the keys decided again.
    pub fn set_namespace(&mut self, name: &str, labels: Option<Labels>) -> Vec<String> {
        if self.namespaces.get(name) == labels.as_ref() {
            return Vec::new();
        }
        match labels {
            Some(l) => self.namespaces.insert(name.to_string(), l),
            None => self.namespaces.remove(name),
        };
        let prefix = format!("{name}/");
        let mut affected: BTreeSet<(u64, String)> = self
            .entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, e)| (e.input.created(), k.clone()))
            .collect();
        affected.extend(self.pending.iter().cloned());
        self.serve_again(affected)
    }

    /// The addresses the driver holds for `key`.
    fn held(&self, key: &str) -> Vec<IpAddr> {
        self.driver
            .allocator()
            .assignment(key)
            .addresses
            .into_keys()
            .collect()
    }

    fn unindex(&mut self, key: &str) {
        if let Some(e) = self.entries.get(key) {
            let k = (e.input.created(), key.to_string());
            self.pending.remove(&k);
            self.sensitive.remove(&k);
        }
    }

    /// Serves `input` (its old entry, if any, already unindexed); true when it gave up an
    /// address it held in `before`.
    fn serve_new(&mut self, mut input: Input, before: &[IpAddr]) -> bool {
        let none = Labels::new();
        let labels = self.namespaces.get(input.namespace()).unwrap_or(&none);
        let (outcome, pending) = serve_input(&mut self.driver, &input, labels);
        input.status = outcome.addresses.clone();
        let after = self.held(input.key());
        let freed = before.iter().any(|a| !after.contains(a));
        self.insert(Entry {
            input,
            outcome,
            pending,
        });
        freed
    }

    fn insert(&mut self, e: Entry) {
        let k = (e.input.created(), e.input.key().to_string());
        if e.pending {
            self.pending.insert(k.clone());
        }
        if e.input.pool_sensitive() {
            self.sensitive.insert(k);
        }
        self.entries.insert(e.input.key().to_string(), e);
    }

    /// Serves one known Service again; (outcome changed, freed an address).
    fn serve_known(&mut self, key: &str) -> (bool, bool) {
        let Some(e) = self.entries.get(key) else {
            return (false, false);
        };
        let (input, old) = (e.input.clone(), e.outcome.clone());
        let before = self.held(key);
        self.unindex(key);
        let freed = self.serve_new(input, &before);
        let now = self.entries.get(key).map(|e| &e.outcome);
        (now.is_some_and(|o| !same(o, &old)), freed)
    }

    /// Serves the given Services again in (created, key) order, then the pending ones while
    /// that frees addresses. Returns the keys whose outcome changed.
    fn serve_again(&mut self, set: BTreeSet<(u64, String)>) -> Vec<String> {
        let mut changed = Vec::new();
        let mut freed = false;
        for (_, k) in &set {
            let (c, f) = self.serve_known(k);
            if c {
                changed.push(k.clone());
            }
            freed |= f;
        }
        if freed {
            changed.extend(self.serve_pending());
        }
        changed
    }

    /// Serves the pending Services again in (created, key) order, again while a
    /// round frees an address. Returns the keys whose outcome changed.
    fn serve_pending(&mut self) -> Vec<String> {
        let mut changed = BTreeSet::new();
        for _ in 0..MAX_ROUNDS {
            let round: Vec<String> = self.pending.iter().map(|(_, k)| k.clone()).collect();
            let mut freed = false;
            for k in round {
                let (c, f) = self.serve_known(&k);
                if c {
                    changed.insert(k);
                }
                freed |= f;
            }
            if !freed {
                return changed.into_iter().collect();
            }
        }
        let mut all: Vec<String> = changed.into_iter().collect();
        all.extend(self.rebuild());
        all
    }

    fn apply_pools(&mut self) {
        let (usable, mut refused) = pools_of(&self.pools, &self.nodes);
        let driver_refused = self.driver.set_pools(usable.clone());
        if !driver_refused.is_empty() {
            // A refused pool must not stay in its earlier shape.
            let usable = usable
                .into_iter()
                .filter(|p| !driver_refused.iter().any(|(n, _)| *n == p.name))
                .collect();
            self.driver.set_pools(usable);
            refused.extend(driver_refused.into_iter().map(|(n, e)| (n, e.to_string())));
        }
        self.refused_pools = refused;
    }

    fn replace_and_rebuild(&mut self, input: Input) -> Vec<String> {
        let key = input.key().to_string();
        self.unindex(&key);
        let outcome = Outcome {
            key: key.clone(),
            addresses: input.status.clone(),
            changed: false,
            event: None,
            failure: None,
        };
        self.entries.insert(
            key.clone(),
            Entry {
                input,
                outcome,
                pending: false,
            },
        );
        let mut changed = self.rebuild();
        if !changed.contains(&key) {
            changed.insert(0, key);
        }
        changed
    }

    /// A full takeover over what it knows (every Service with the status decided for it),
    /// repeated until a takeover over its own result changes nothing (a restore conflict or a
    /// node address taken away settles in the second). Returns the keys whose outcome changed.
    fn rebuild(&mut self) -> Vec<String> {
        self.rebuilds += 1;
        let before: BTreeMap<String, Outcome> = self
            .entries
            .iter()
            .map(|(k, e)| (k.clone(), e.outcome.clone()))
            .collect();
        for pass in 0..MAX_ROUNDS {
            let node_addrs = self.nodes.clone();
            let (usable, refused) = pools_of(&self.pools, &node_addrs);
            let (t, pending) = take_over_inputs(
                node_addrs,
                usable,
                refused,
                &self.namespaces,
                self.entries.values().map(|e| &e.input),
            );
            self.driver = t.driver;
            self.refused_pools = t.refused_pools;
            self.pending.clear();
            self.sensitive.clear();
            let mut settled = true;
            for (mut outcome, pending) in t.outcomes.into_iter().zip(pending) {
                let Some(old) = self.entries.get(&outcome.key) else {
                    continue;
                };
                settled &= !outcome.changed;
                // What an earlier pass assigned is still to be told.
                if pass > 0 && outcome.event.is_none() {
                    if let Some(Event::Allocated(_)) = &old.outcome.event {
                        outcome.event = old.outcome.event.clone();
                    }
                }
                let mut input = old.input.clone();
                input.status = outcome.addresses.clone();
                self.insert(Entry {
                    input,
                    outcome,
                    pending,
                });
            }
            if settled {
                break;
            }
        }
        self.entries
            .iter()
            .filter(|(k, e)| before.get(*k).is_none_or(|b| !same(b, &e.outcome)))
            .map(|(k, _)| k.clone())
            .collect()
    }
}

/// True when `new` has nothing to write or tell beyond `old`: the same addresses, and no Event
/// or the same one.
fn same(old: &Outcome, new: &Outcome) -> bool {
    old.addresses == new.addresses && (new.event.is_none() || old.event == new.event)
}

/// True when the outcome is a failure (an `AllocationFailed` Event).
pub fn failing(o: &Outcome) -> bool {
    matches!(o.event, Some(Event::Failed(_)))
}

#[cfg(test)]
mod tests;
