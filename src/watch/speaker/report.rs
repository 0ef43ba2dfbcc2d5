//! `ServiceAnnouncement` objects: one per Service this node is announcing, named
//! `<service>.<node>` in the Service's namespace, owned by the Service (garbage-collected with
//! it), labelled `ferrolb.io/node`. What an object says is what the sessions carry at that
//! moment ([`crate::status::StatusModel::doing`], read from the sessions); it is deleted when
//! the node stops.
//!
//! Writes are server-side applies (field manager `ferrolb-speaker`), so a missing object is
//! created and a concurrent change never gives a 409 loop; a failed write is retried every
//! two seconds, logged once until it succeeds. On start, and every ten seconds, the node lists
//! its own objects: ones left by a previous run, deleted or edited by someone else are
//! corrected, recreated or removed. `Announcing` and `Withdrawn` Events
//! go to the Service when the node starts and stops announcing it. The `mode: l2` objects of a
//! node that vanishes from the L2 membership without leaving are deleted by the survivors
//! ([`reap_l2`]).

use std::collections::BTreeMap;
use std::time::Duration;

use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use tokio::sync::watch;

use crate::announce::carried::Doing;
use crate::watch::crds::ServiceAnnouncement;
use crate::watch::events::{self, Events, Kind};
use crate::watch::mirror::compact::Compact;
use crate::watch::service::ServiceRecord;

/// The field manager of ServiceAnnouncement writes.
pub const FIELD_MANAGER: &str = "ferrolb-speaker";
/// How often the objects are read back from the API and corrected.
pub const RESYNC: Duration = Duration::from_secs(10);

/// The label naming the announcing node.
pub const NODE_LABEL: &str = "ferrolb.io/node";

/// Keeps this node's ServiceAnnouncements equal to what it is doing.
pub struct Reporter {
    client: Client,
    events: Events,
    services: Compact<ServiceRecord>,
    node: String,
    /// What the API holds from us, by Service key; None until listed.
    written: Option<BTreeMap<String, Doing>>,
    failing: bool,
}

/// The object name for a Service on a node: `<service>.<node>`, or `<service>.<hash of node>`
/// when that would pass the 253 characters an object name may have.
pub fn name(service: &str, node: &str) -> String {
    let full = format!("{service}.{node}");
    if full.len() <= 253 {
        full
    } else {
        format!("{service}.{:016x}", fnv1a(node))
    }
}

/// The `ferrolb.io/node` label value: the node name, or (past the 63 characters a label value
/// may have) its first 46 characters, `-` and a hash of the whole name.
pub fn node_label(node: &str) -> String {
    if node.len() <= 63 {
        return node.to_string();
    }
    let head: String = node.chars().take(46).collect();
    let head = head.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    format!("{head}-{:016x}", fnv1a(node))
}

/// FNV-1a, 64 bits: stable across runs and builds (unlike std's hasher).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn split(key: &str) -> (&str, &str) {
    key.split_once('/').unwrap_or(("default", key))
}

impl Reporter {
    pub fn new(client: Client, services: Compact<ServiceRecord>, node: &str) -> Reporter {
        Reporter {
            events: Events::new(client.clone(), node),
            client,
            services,
            node: node.to_string(),
            written: None,
            failing: false,
        }
    }

    /// Runs until `stop`; then deletes this node's objects (it announces nothing any more).
    pub async fn run(
        mut self,
        mut doing: watch::Receiver<BTreeMap<String, Doing>>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut retry = tokio::time::interval(Duration::from_secs(2));
        let mut resync = tokio::time::interval(RESYNC);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let want = doing.borrow_and_update().clone();
            let ok = self.sync(&want).await;
            if ok == self.failing {
                self.failing = !ok;
                if ok {
                    tracing::info!("ServiceAnnouncements up to date again");
                }
            }
            tokio::select! {
                r = doing.changed() => if r.is_err() { break },
                _ = retry.tick(), if !ok => {}
                _ = resync.tick() => {
                    // Read back what the API holds: objects someone deleted or edited are
                    // put right on this round.
                    self.written = None;
                }
                _ = stop.changed() => break,
            }
        }
        let cleared =
            tokio::time::timeout(Duration::from_secs(3), self.sync(&BTreeMap::new())).await;
        if !matches!(cleared, Ok(true)) {
            tracing::warn!("could not delete every ServiceAnnouncement of this node");
        }
    }

    async fn load(&mut self) -> Result<BTreeMap<String, Doing>, kube::Error> {
        let api: Api<ServiceAnnouncement> = Api::all(self.client.clone());
        let lp = ListParams::default().labels(&format!("{NODE_LABEL}={}", node_label(&self.node)));
        let list = api.list(&lp).await?;
        Ok(list
            .items
            .into_iter()
            .map(|o| {
                let key = format!("{}/{}", o.namespace().unwrap_or_default(), o.spec.service);
                let doing = Doing {
                    peers: o.spec.peers,
                    interfaces: o.spec.interfaces,
                    addresses: o
                        .spec
                        .addresses
                        .iter()
                        .filter_map(|a| a.parse().ok())
                        .collect(),
                };
                (key, doing)
            })
            .collect())
    }

    /// Writes the differences; true when everything is written.
    async fn sync(&mut self, want: &BTreeMap<String, Doing>) -> bool {
        let mut written = match self.written.take() {
            Some(w) => w,
            None => match self.load().await {
                Ok(w) => w,
                Err(e) => {
                    if !self.failing {
                        tracing::warn!("cannot list ServiceAnnouncements: {e}; retrying");
                    }
                    return false;
                }
            },
        };
        let mut ok = true;
        for (key, d) in want {
            if written.get(key) == Some(d) {
                continue;
            }
            let Some(svc) = self.services.by_key(key) else {
                // The Service is gone; nothing to own the object.
                continue;
            };
            match self.apply(&svc, d).await {
                Ok(()) => {
                    if !written.contains_key(key) {
                        let msg = match d.mode() {
                            "l2" => format!(
                                "answering ARP/NDP for {} on {} from node {}",
                                events::addresses(&d.addresses),
                                d.interfaces.join(", "),
                                self.node
                            ),
                            _ => format!(
                                "announcing {} to {} from node {}",
                                events::addresses(&d.addresses),
                                d.peers.join(", "),
                                self.node
                            ),
                        };
                        self.events
                            .record_ref(&svc.object_ref(), Kind::Normal, "Announcing", &msg)
                            .await;
                    }
                    written.insert(key.clone(), d.clone());
                }
                Err(e) => {
                    if !self.failing {
                        tracing::warn!(service = %key, "cannot write ServiceAnnouncement: {e}");
                    }
                    ok = false;
                }
            }
        }
        let gone: Vec<String> = written
            .keys()
            .filter(|k| !want.contains_key(*k))
            .cloned()
            .collect();
        for key in gone {
            let (ns, svc_name) = split(&key);
            let api: Api<ServiceAnnouncement> = Api::namespaced(self.client.clone(), ns);
            match api
                .delete(&name(svc_name, &self.node), &DeleteParams::default())
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => {
                    if !self.failing {
                        tracing::warn!(service = %key, "cannot delete ServiceAnnouncement: {e}");
                    }
                    ok = false;
                    continue;
                }
            }
            written.remove(&key);
            if let Some(svc) = self.services.by_key(&key) {
                self.events
                    .record_ref(
                        &svc.object_ref(),
                        Kind::Normal,
                        "Withdrawn",
                        &format!("node {} no longer announces this Service", self.node),
                    )
                    .await;
            }
        }
        self.written = Some(written);
        ok
    }

    async fn apply(&self, svc: &ServiceRecord, d: &Doing) -> Result<(), kube::Error> {
        let (ns, svc_name) = (svc.namespace(), svc.name());
        let obj_name = name(svc_name, &self.node);
        let api: Api<ServiceAnnouncement> = Api::namespaced(self.client.clone(), ns);
        let body = serde_json::json!({
            "apiVersion": "ferrolb.io/v1alpha1",
            "kind": "ServiceAnnouncement",
            "metadata": {
                "name": obj_name,
                "namespace": ns,
                "labels": {NODE_LABEL: node_label(&self.node)},
                "ownerReferences": [{
                    "apiVersion": "v1",
                    "kind": "Service",
                    "name": svc_name,
                    "uid": &*svc.uid,
                }],
            },
            "spec": {
                "service": svc_name,
                "node": self.node,
                "mode": d.mode(),
                "peers": d.peers,
                "addresses": d.addresses.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "interfaces": d.interfaces,
            },
        });
        api.patch(
            &obj_name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(body),
        )
        .await
        .map(|_| ())
    }
}

/// Deletes the `mode: l2` ServiceAnnouncements of `node`, a member that vanished from the L2
/// membership without leaving (killed, frozen, cut off): it answers nothing any more, so what
/// its objects say is no longer true, and it cannot delete them itself. Every survivor may do
/// it (a 404 is fine); a node that was only cut off rewrites its own at its next resync.
pub async fn reap_l2(client: Client, node: String) {
    let api: Api<ServiceAnnouncement> = Api::all(client.clone());
    let lp = ListParams::default().labels(&format!("{NODE_LABEL}={}", node_label(&node)));
    let list = match api.list(&lp).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(%node, "cannot list the ServiceAnnouncements of a vanished node: {e}");
            return;
        }
    };
    for o in list
        .items
        .into_iter()
        .filter(|o| o.spec.mode == "l2" && o.spec.node == node)
    {
        let ns = o.namespace().unwrap_or_default();
        let api: Api<ServiceAnnouncement> = Api::namespaced(client.clone(), &ns);
        match api.delete(&o.name_any(), &DeleteParams::default()).await {
            Ok(_) => {
                tracing::info!(%node, service = %o.spec.service, "deleted the ServiceAnnouncement of a vanished L2 member")
            }
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => {
                tracing::warn!(%node, "cannot delete a ServiceAnnouncement of a vanished node: {e}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels_stay_within_kubernetes_limits_and_stable() {
        assert_eq!(name("web", "worker-1"), "web.worker-1");
        assert_eq!(node_label("worker-1"), "worker-1");
        let long = format!("{}.example.com", "n".repeat(240));
        let n = name(&"s".repeat(63), &long);
        assert!(n.len() <= 253 && n.starts_with(&"s".repeat(63)), "{n}");
        assert_eq!(n, name(&"s".repeat(63), &long), "stable");
        assert_ne!(n, name(&"s".repeat(63), &format!("{long}x")));
        let l = node_label(&long);
        assert!(l.len() <= 63, "{l}");
        assert!(l.chars().next().is_some_and(|c| c.is_ascii_alphanumeric()));
        assert!(l.chars().last().is_some_and(|c| c.is_ascii_alphanumeric()));
        assert_ne!(l, node_label(&format!("{long}x")));
        // A cut that ends in a dot or dash is trimmed before the hash.
        let dotted = format!("{}.{}", "a".repeat(45), "b".repeat(30));
        assert!(node_label(&dotted).starts_with(&format!("{}-", "a".repeat(45))));
    }
}
