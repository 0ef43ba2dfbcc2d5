//! The speaker side of Kubernetes mode, pure: which BGP sessions this node runs (BGPPeers whose
//! `nodeSelectors` match its labels), how it announces (BGPAdvertisements), and which Service
//! addresses it announces right now (Service status, and for `externalTrafficPolicy: Local` only
//! with a ready endpoint on this node) — the desired state of the shared announcer.
//!
//! Decisions, like MetalLB's:
//! - An address is announced over BGP only when a BGPAdvertisement selects its pool (by
//!   `ipAddressPools`, `ipAddressPoolSelectors`, or neither = every pool) and this node
//!   (`nodeSelectors`). No BGPAdvertisement: nothing is announced over BGP.
//! - A BGPPeer must pass the same rules as a `[[bgp.peers]]` entry (`crate::model::peer`),
//!   including `myASN` and `routerID` equal to the node's; a refused peer is reported by name
//!   and field, the other peers run.
//! - `passwordSecret` names a Secret in `[kubernetes] namespace` whose key `password` is the
//!   TCP MD5 password (like MetalLB); a missing Secret or key refuses the peer with the reason.
//! - `bfdProfile` names a BFDProfile in the same namespace; a missing or refused profile
//!   (e.g. `echoMode: true`) refuses the peer with the reason until it is fixed.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use super::super::convert::{self, advertisement_field, peer_field};
use super::super::crds::{BFDProfile, BGPAdvertisement, BGPPeer, IPAddressPool, L2Advertisement};
use super::super::mirror::compact::ReadySlice;
use super::super::service::{self, ServiceRecord};
use crate::announce::{Assigned, AssignedList, Desired};
use crate::model::selector::any_matches;
use crate::model::{
    address_range, advertisement, bfd, peer, AdvertisementSpec, BfdProfiles, FieldError, LocalSpec,
    PeerSpec,
};

/// Everything of the cluster the plan reads, as plain slices (the task fills it from the mirror;
/// Services and EndpointSlice records are the mirror's own `Arc`s, not copies).
pub struct Inputs<'a> {
    pub peers: &'a [BGPPeer],
    pub advertisements: &'a [BGPAdvertisement],
    pub l2_advertisements: &'a [L2Advertisement],
    pub pools: &'a [IPAddressPool],
    pub services: &'a [Arc<ServiceRecord>],
    pub slices: &'a [Arc<ReadySlice>],
    /// This node's labels.
    pub labels: &'a Labels,
    pub passwords: &'a Passwords,
    pub bfd_profiles: &'a [BFDProfile],
    /// This node's name.
    pub node: &'a str,
    /// `[kubernetes] load_balancer_class`.
    pub class: &'a str,
}

/// This node's desired state for the shared announcer (what it announces of every Service of
/// ours is its `services`), why it announces nothing of the others (`not`; `wanted` is left
/// empty), and the problems found (refused peers, malformed values).
pub fn desired(i: &Inputs<'_>, local: &LocalSpec) -> (Desired, Announcements, Vec<Problem>) {
    let (profiles, mut problems) = bfd_profiles(i.bfd_profiles);
    let (peers, more) = peers(i.peers, i.labels, local, i.passwords, &profiles);
    problems.extend(more);
    let (mut advertisements, more) = advertisements(i.advertisements, i.pools, i.labels);
    problems.extend(more);
    let (l2, more) = l2_advertisements(i.l2_advertisements, i.pools, i.labels);
    advertisements.extend(l2);
    problems.extend(more);
    let mut found = announcements(
        i.services,
        i.slices,
        i.pools,
        &advertisements,
        i.node,
        i.class,
    );
    // One copy per Service: what it announces goes to the announcer, only the reasons stay.
    let desired = Desired {
        peers,
        advertisements,
        services: std::mem::take(&mut found.wanted),
    };
    (desired, found, problems)
}

/// A configuration object this node cannot use as it is: its kind, its name, and why (a
/// refused BGPPeer, a value left out of a BGPAdvertisement). Logged and told as an Event on the
/// object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub kind: &'static str,
    pub name: String,
    pub message: String,
}

impl Problem {
    fn new(kind: &'static str, name: &str, crd_field: &str, e: &FieldError) -> Problem {
        Problem {
            kind,
            name: name.to_string(),
            message: format!("{crd_field}: {}", e.message),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} `{}`: {}", self.kind, self.name, self.message)
    }
}

/// Labels of an object (empty when it has none).
pub type Labels = BTreeMap<String, String>;

/// Where BGPPeers find their passwords: the namespace of the configuration kinds and the
/// `password` key of each Secret there, by Secret name.
#[derive(Debug, Clone, Default)]
pub struct Passwords {
    pub namespace: String,
    pub by_secret: BTreeMap<String, String>,
}

impl Passwords {
    fn lookup(&self, p: &BGPPeer) -> Result<Option<String>, FieldError> {
        let ns = &self.namespace;
        match &p.spec.password_secret {
            None => Ok(None),
            Some(r) if r.namespace.as_deref().is_some_and(|n| n != ns) => Err(FieldError::new(
                "password",
                format!("`{}`: the Secret must be in namespace `{ns}`", r.name),
            )),
            Some(r) => self
                .by_secret
                .get(&r.name)
                .cloned()
                .map(Some)
                .ok_or_else(|| {
                    FieldError::new(
                        "password",
                        format!(
                            "no Secret `{}` with a `password` key in namespace `{ns}`",
                            r.name
                        ),
                    )
                }),
        }
    }
}

/// The usable BFDProfiles by name, and the refused ones.
pub fn bfd_profiles(list: &[BFDProfile]) -> (BfdProfiles, Vec<Problem>) {
    let mut out = BfdProfiles::new();
    let mut refused = Vec::new();
    for o in list {
        let name = o.metadata.name.as_deref().unwrap_or_default();
        match bfd::validate(&convert::bfd_profile_input(o)) {
            (Some(p), errors) if errors.is_empty() => drop(out.insert(p.name.clone(), p)),
            (_, errors) => refused.extend(
                errors
                    .iter()
                    .map(|e| Problem::new("BFDProfile", name, convert::bfd_field(e.field), e)),
            ),
        }
    }
    (out, refused)
}

/// The sessions of this node: (peers to run, refusal messages).
pub fn peers(
    peers: &[BGPPeer],
    node_labels: &Labels,
    local: &LocalSpec,
    passwords: &Passwords,
    profiles: &BfdProfiles,
) -> (Vec<PeerSpec>, Vec<Problem>) {
    let mut out: Vec<(usize, PeerSpec)> = Vec::new();
    let mut refused = Vec::new();
    for (i, p) in peers.iter().enumerate() {
        if !any_matches(&convert::selectors(&p.spec.node_selectors), node_labels) {
            continue;
        }
        let name = p.metadata.name.clone().unwrap_or_default();
        let (spec, errors) = match passwords.lookup(p) {
            Err(e) => (None, vec![e]),
            Ok(password) => {
                let (input, mut errors) = convert::peer_input(p, password);
                let (spec, more) = peer::validate(&input, Some(local), profiles);
                errors.extend(more);
                (spec, errors)
            }
        };
        match (spec, errors.first()) {
            (Some(spec), None) => out.push((i, spec)),
            (_, first) => {
                let e = first
                    .cloned()
                    .unwrap_or_else(|| FieldError::new("spec", "unusable"));
                refused.push(Problem::new("BGPPeer", &name, peer_field(e.field), &e));
            }
        }
    }
    for (i, e) in peer::dedupe(&mut out) {
        let name = peers[i].metadata.name.clone().unwrap_or_default();
        refused.push(Problem::new("BGPPeer", &name, peer_field(e.field), &e));
    }
    let mut out: Vec<PeerSpec> = out.into_iter().map(|(_, s)| s).collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    (out, refused)
}

/// This node's announcement rules: one per BGPAdvertisement selecting this node and at least
/// one pool. Malformed values are left out (and reported).
pub fn advertisements(
    ads: &[BGPAdvertisement],
    pools: &[IPAddressPool],
    node_labels: &Labels,
) -> (Vec<AdvertisementSpec>, Vec<Problem>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut sorted: Vec<&BGPAdvertisement> = ads.iter().collect();
    sorted.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    for ad in sorted {
        if !any_matches(&convert::selectors(&ad.spec.node_selectors), node_labels) {
            continue;
        }
        let selected = convert::selected_pools(ad, pools);
        if selected.is_empty() {
            continue;
        }
        let name = ad.metadata.name.as_deref().unwrap_or_default();
        let (spec, errors) = advertisement::validate(&convert::advertisement_input(ad, selected));
        for e in errors {
            let mut p = Problem::new("BGPAdvertisement", name, advertisement_field(e.field), &e);
            p.message.push_str("; left out");
            problems.push(p);
        }
        out.push(spec);
    }
    (out, problems)
}

/// This node's L2 rules: one per L2Advertisement selecting this node (`nodeSelectors`) and at
/// least one pool; `interfaces` as given (empty: every interface whose subnet holds the
/// address). A BGP and an L2 advertisement of the same pool both apply.
pub fn l2_advertisements(
    ads: &[L2Advertisement],
    pools: &[IPAddressPool],
    node_labels: &Labels,
) -> (Vec<AdvertisementSpec>, Vec<Problem>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut sorted: Vec<&L2Advertisement> = ads.iter().collect();
    sorted.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    for ad in sorted {
        if !any_matches(&convert::selectors(&ad.spec.node_selectors), node_labels) {
            continue;
        }
        let selected = convert::l2_selected_pools(ad, pools);
        if selected.is_empty() {
            continue;
        }
        let name = ad.metadata.name.as_deref().unwrap_or_default();
        let (spec, errors) =
            advertisement::validate(&convert::l2_advertisement_input(ad, selected));
        for e in errors {
            let mut p = Problem::new("L2Advertisement", name, advertisement_field(e.field), &e);
            p.message.push_str("; left out");
            problems.push(p);
        }
        out.push(spec);
    }
    (out, problems)
}

/// The pool holding `address` (by name order when pools overlap).
pub fn pool_holding(pools: &[IPAddressPool], address: IpAddr) -> Option<String> {
    // The first by name among those holding it, without sorting the pools for every address.
    pools
        .iter()
        .filter(|p| {
            p.spec
                .addresses
                .iter()
                .filter_map(|a| address_range(a))
                .any(|r| r.contains(&address))
        })
        .filter_map(|p| p.metadata.name.as_ref())
        .min()
        .cloned()
}

/// True when an EndpointSlice of the Service has a ready endpoint on `node`.
pub fn ready_on(svc: &ServiceRecord, slices: &[Arc<ReadySlice>], node: &str) -> bool {
    ready_here(slices, node).contains(&service_of(svc))
}

/// `(namespace, name)` of a Service.
fn service_of(svc: &ServiceRecord) -> (&str, &str) {
    (svc.namespace(), svc.name())
}

/// `(namespace, Service name)` of every Service with a ready endpoint on `node`, from one pass
/// over the EndpointSlices (their `kubernetes.io/service-name` label).
fn ready_here<'a>(slices: &'a [Arc<ReadySlice>], node: &str) -> BTreeSet<(&'a str, &'a str)> {
    slices
        .iter()
        .filter(|s| s.ready_on(node))
        .filter_map(|s| Some((&*s.namespace, s.service.as_deref()?)))
        .collect()
}

/// Every Service of ours with addresses, by `namespace/name`: what this node announces for it
/// (empty when it announces nothing) and, then, why not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Announcements {
    pub wanted: BTreeMap<Arc<str>, AssignedList>,
    pub not: BTreeMap<Arc<str>, &'static str>,
}

/// Pool names, each held once however many Services' addresses come from it.
#[derive(Debug, Default)]
pub struct PoolNames(Vec<Arc<str>>);

impl PoolNames {
    /// The shared name of the pool holding `address` ([`pool_holding`]).
    pub fn holding(&mut self, pools: &[IPAddressPool], address: IpAddr) -> Option<Arc<str>> {
        let name = pool_holding(pools, address)?;
        if let Some(n) = self.0.iter().find(|n| ***n == *name) {
            return Some(n.clone());
        }
        let n: Arc<str> = name.into();
        self.0.push(n.clone());
        Some(n)
    }
}

/// Addresses from status whose pool a BGPAdvertisement or L2Advertisement for this node
/// selects; Local policy only with a ready endpoint here (for L2 this is the node's
/// eligibility: the owner is chosen among the nodes with a ready endpoint).
pub fn announcements(
    services: &[Arc<ServiceRecord>],
    slices: &[Arc<ReadySlice>],
    pools: &[IPAddressPool],
    ads: &[AdvertisementSpec],
    node: &str,
    class: &str,
) -> Announcements {
    let mut out = Announcements::default();
    let ready = ready_here(slices, node);
    let mut names = PoolNames::default();
    for svc in services.iter().filter(|s| service::is_ours(s, class)) {
        // The record's own key, shared (not a copy per Service).
        let key = svc.key.clone();
        if svc.ingress.is_empty() {
            out.not.insert(
                key,
                "no address in the Service's status yet (the allocator's Events say why)",
            );
            continue;
        }
        if svc.local_traffic && !ready.contains(&service_of(svc)) {
            out.not.insert(
                key,
                "externalTrafficPolicy Local: no ready endpoint on this node",
            );
            continue;
        }
        let assigned: Vec<Assigned> = svc
            .ingress
            .iter()
            .filter_map(|&a| {
                Some(Assigned {
                    address: a,
                    pool: Some(names.holding(pools, a)?),
                })
            })
            .filter(|a| ads.iter().any(|ad| ad.selects(a.pool.as_deref())))
            .collect();
        if assigned.is_empty() {
            out.not.insert(
                key,
                "no BGPAdvertisement or L2Advertisement for this node selects its pool",
            );
        } else {
            out.wanted.insert(key, assigned.into());
        }
    }
    out
}

#[cfg(test)]
mod tests;
