//! The L2 sink: the addresses this node may answer for (from the announcer), the membership
//! view (from `src/cluster`) and the responder, tied together by one task.
//!
//! - The mode hands over, with [`L2Sink::set`], the L2 addresses of this node per interface
//!   (what the L2 advertisements select here; in Kubernetes also filtered by node selectors and,
//!   with `externalTrafficPolicy: Local`, by a ready endpoint on this node). That set is this
//!   node's *eligibility*, gossiped to the others with what it answers right now.
//! - Every node computes the owner of every address with [`super::owner`] over the same view;
//!   the task gives the responder exactly the addresses this node owns.
//! - Status comes back from the responder (this node) and the view (the others): it is
//!   published into the status model right after the responder reports a change, in the same
//!   step answering starts or stops (DESIGN rule 4: the status never names a node that does not
//!   answer).
//! - A graceful stop ([`L2Sink::shutdown`]) marks this node `leaving`: the others stop counting
//!   it, each address's successor takes it over and says so through the view, and
//!   [`HANDOVER_OVERLAP`] after that does this node stop answering that address (or when the
//!   deadline passes, or at once when no other node is eligible).
//!
//! Without `[cluster]` (standalone) the view holds this node alone, so it owns everything it is
//! eligible for.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::owner::{self, Candidate};
use super::responder::{Answering, Responder};
use crate::announce::l2::L2Owned;
use crate::cluster::{Cluster, ClusterConfig, ClusterError, NodeInfo, View};
use crate::status::{DropCounter, L2Live, L2Status, StatusModel};

/// How long a node that joins the membership listens before it answers anything: long enough
/// to learn the others (a few gossip rounds), so that a restarted node does not take every
/// address for a moment and send gratuitous ARP for addresses others own.
pub const SETTLE: Duration = Duration::from_millis(1000);

/// How long a graceful stop waits for successors to announce before it stops answering anyway.
pub const HANDOVER_DEADLINE: Duration = Duration::from_secs(3);

/// How long a stopping node keeps answering an address after it first sees the successor
/// answering it: make before break with a deliberate overlap. Without it the overlap would be
/// whatever one gossip round happens to leave (0 to 100 ms), and a client asking in that
/// instant could still reach the stopping node alone; with it, for a quarter second, both
/// answer.
pub const HANDOVER_OVERLAP: Duration = Duration::from_millis(250);

enum Command {
    Seeds(Vec<SocketAddr>),
    Shutdown(Duration, oneshot::Sender<()>),
}

/// `vanished`'s name in the log, should it be found poisoned ([`crate::sync`]).
const VANISHED: &str = "L2 vanished members";

/// The handle the mode holds.
pub struct L2Sink {
    desired: watch::Sender<L2Owned>,
    changes: watch::Receiver<u64>,
    vanished: Arc<Mutex<Vec<String>>>,
    commands: mpsc::UnboundedSender<Command>,
    task: JoinHandle<()>,
}

impl L2Sink {
    /// Starts the responder and, with `cluster`, the membership layer (binding its UDP port:
    /// the error says which address and why). Inside a tokio runtime.
    pub async fn start(
        node: String,
        cluster: Option<ClusterConfig>,
        status: Arc<StatusModel>,
    ) -> Result<L2Sink, ClusterError> {
        let clustered = cluster.is_some();
        let cluster = match cluster {
            Some(c) => Some(Cluster::start(c).await?),
            None => None,
        };
        let responder = Responder::start();
        let counters = responder.clone();
        let sent = DropCounter::new({
            let r = counters.clone();
            move || {
                let c = r.counters();
                BTreeMap::from([
                    ("gratuitous".to_string(), c.gratuitous_sent),
                    ("answers".to_string(), c.answered),
                ])
            }
        });
        let ignored = DropCounter::new(move || {
            counters
                .counters()
                .ignored
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect()
        });
        status.set_l2_counters(L2Live { sent, ignored });
        let (desired, desired_rx) = watch::channel(L2Owned::new());
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (changed, changes) = watch::channel(0u64);
        let vanished = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(
            Task {
                node,
                cluster,
                responder,
                status,
                changed,
                vanished: vanished.clone(),
                members: View::new(),
                eligible: L2Owned::new(),
                given: L2Owned::new(),
                answering: Answering::default(),
                leaving: false,
                taken_since: BTreeMap::new(),
                settled: !clustered,
            }
            .run(desired_rx, commands_rx),
        );
        Ok(L2Sink {
            desired,
            changes,
            vanished,
            commands,
            task,
        })
    }

    /// The L2 addresses this node may answer for, per interface (replaces the last set).
    pub fn set(&self, owned: L2Owned) {
        self.desired.send_if_modified(|d| {
            let changed = *d != owned;
            *d = owned;
            changed
        });
    }

    /// Bumped whenever the L2 status changes (the Kubernetes reporter follows it).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.clone()
    }

    /// The members that vanished from the view since the last call without saying they were
    /// leaving (killed, frozen, cut off): their records elsewhere (ServiceAnnouncements) are
    /// stale. Read after [`L2Sink::changes`] moved.
    pub fn take_vanished(&self) -> Vec<String> {
        std::mem::take(&mut *crate::sync::lock(&self.vanished, VANISHED))
    }

    /// More members to gossip with (Kubernetes: the InternalIPs of the Nodes).
    pub fn add_seeds(&self, seeds: Vec<SocketAddr>) {
        let _ = self.commands.send(Command::Seeds(seeds));
    }

    /// Hands every address over (successors announce first), stops answering, leaves the
    /// membership; returns when done or after `deadline` plus a little.
    pub async fn shutdown(self, deadline: Duration) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Shutdown(deadline, tx)).is_ok() {
            let _ = tokio::time::timeout(deadline + Duration::from_secs(2), rx).await;
        }
        self.task.abort();
    }
}

struct Task {
    node: String,
    cluster: Option<Cluster>,
    responder: Responder,
    status: Arc<StatusModel>,
    changed: watch::Sender<u64>,
    vanished: Arc<Mutex<Vec<String>>>,
    /// The view of the last step (to see who vanished).
    members: View,
    /// What the mode says this node may answer for, per interface.
    eligible: L2Owned,
    /// What the responder was last given.
    given: L2Owned,
    /// What the responder reports it answers.
    answering: Answering,
    leaving: bool,
    /// While leaving: when each address was first seen answered by a successor (it is let go
    /// [`HANDOVER_OVERLAP`] later).
    taken_since: BTreeMap<IpAddr, tokio::time::Instant>,
    /// False during [`SETTLE`] after joining the membership.
    settled: bool,
}

impl Task {
    async fn run(
        mut self,
        mut desired: watch::Receiver<L2Owned>,
        mut commands: mpsc::UnboundedReceiver<Command>,
    ) {
        let mut answering = self.responder.subscribe();
        // Without [cluster] the view never changes: this node alone.
        let (_solo, solo_rx) = watch::channel(View::new());
        let mut view = self.cluster.as_ref().map_or(solo_rx, |c| c.subscribe());
        let mut done: Option<(tokio::time::Instant, oneshot::Sender<()>)> = None;
        let settle_at = tokio::time::Instant::now() + SETTLE;
        loop {
            let deadline = done.as_ref().map(|(at, _)| *at);
            let settling = (!self.settled).then_some(settle_at);
            let let_go = self
                .taken_since
                .values()
                .min()
                .map(|t| *t + HANDOVER_OVERLAP);
            tokio::select! {
                _ = sleep_until(settling) => self.settled = true,
                _ = sleep_until(let_go) => {}
                r = desired.changed(), if !self.leaving => {
                    if r.is_err() { break; }
                    self.eligible = desired.borrow_and_update().clone();
                }
                r = view.changed() => {
                    if r.is_err() { break; }
                }
                r = answering.changed() => {
                    if r.is_err() { break; }
                    self.answering = answering.borrow_and_update().clone();
                }
                c = commands.recv() => match c {
                    None => break,
                    Some(Command::Seeds(s)) => {
                        if let Some(c) = &self.cluster { c.add_seeds(&s); }
                    }
                    Some(Command::Shutdown(after, reply)) => {
                        tracing::info!(node = %self.node, "L2: handing addresses over before stopping");
                        self.leaving = true;
                        done = Some((tokio::time::Instant::now() + after, reply));
                    }
                },
                _ = sleep_until(deadline) => {
                    tracing::warn!("L2: handover deadline passed; stopping to answer what no successor took");
                    break;
                }
            }
            let v = view.borrow().clone();
            self.step(&v).await;
            if self.leaving && self.given.values().all(BTreeSet::is_empty) {
                break;
            }
        }
        self.responder.stop().await;
        self.answering = Answering::default();
        self.publish_status(&view.borrow().clone());
        if let Some(c) = self.cluster.take() {
            c.leave().await;
        }
        if let Some((_, reply)) = done {
            let _ = reply.send(());
        }
    }

    /// One decision: gossip what we are, give the responder what we own, publish the truth.
    async fn step(&mut self, view: &View) {
        let gone: Vec<String> = self
            .members
            .iter()
            .filter(|(n, i)| !i.leaving && **n != self.node && !view.contains_key(*n))
            .map(|(n, _)| n.clone())
            .collect();
        if !gone.is_empty() {
            tracing::warn!(nodes = ?gone, "L2: members vanished without leaving; taking over their addresses");
            crate::sync::lock(&self.vanished, VANISHED).extend(gone);
        }
        self.members = view.clone();
        let eligible: BTreeSet<IpAddr> = self.eligible.values().flatten().copied().collect();
        let answering: BTreeSet<IpAddr> = self.answering.addresses.keys().copied().collect();
        if let Some(c) = &self.cluster {
            c.publish(&NodeInfo {
                eligible: eligible.clone(),
                answering,
                leaving: self.leaving,
            });
        }
        let others: Vec<Candidate<'_>> = candidates(view, &self.node);
        let target = if self.leaving {
            // Keep what no live successor answers yet, and what one answers for less than
            // HANDOVER_OVERLAP: it answers first, we stop after.
            let now = tokio::time::Instant::now();
            let taken = |a: &IpAddr| {
                view.iter()
                    .any(|(n, i)| *n != self.node && !i.leaving && i.answering.contains(a))
            };
            let given: BTreeSet<IpAddr> = self.given.values().flatten().copied().collect();
            self.taken_since
                .retain(|a, _| given.contains(a) && taken(a));
            for a in given.iter().filter(|a| taken(a)) {
                self.taken_since.entry(*a).or_insert(now);
            }
            let overlapping = |a: &IpAddr| {
                self.taken_since
                    .get(a)
                    .is_none_or(|since| now < *since + HANDOVER_OVERLAP)
            };
            let nobody_else = |a: &IpAddr| owner::owner(*a, &others).is_none();
            filter(&self.given, |a| overlapping(a) && !nobody_else(a))
        } else if !self.settled {
            L2Owned::new()
        } else {
            let mine = owner::owned_by(&self.node, &eligible, false, &others);
            filter(&self.eligible, |a| mine.contains(a))
        };
        if target != self.given {
            self.responder.set(target.clone()).await;
            self.given = target;
            self.answering = self.responder.subscribe().borrow().clone();
        }
        self.publish_status(view);
    }

    fn publish_status(&self, view: &View) {
        let mut answering: BTreeMap<IpAddr, BTreeSet<String>> = BTreeMap::new();
        for (n, info) in view.iter().filter(|(n, _)| **n != self.node) {
            for a in &info.answering {
                answering.entry(*a).or_default().insert(n.clone());
            }
        }
        for a in self.answering.addresses.keys() {
            answering.entry(*a).or_default().insert(self.node.clone());
        }
        let others = candidates(view, &self.node);
        let mut reasons = BTreeMap::new();
        for a in self.eligible.values().flatten() {
            if self.answering.addresses.contains_key(a) {
                continue;
            }
            let why = if let Some(r) = self.answering.unresolved.get(a) {
                r.clone()
            } else if self.leaving {
                "this node is stopping".to_string()
            } else if !self.settled {
                "learning the other L2 members first".to_string()
            } else {
                match owner::owner(*a, &others) {
                    Some(o) => format!("node {o} owns it"),
                    None => "not answering yet".to_string(),
                }
            };
            reasons.insert(*a, why);
        }
        let now = L2Status {
            answering,
            interfaces: self.answering.addresses.clone(),
            reasons,
        };
        if self.status.l2() != now {
            self.status.set_l2(now);
            self.changed.send_modify(|n| *n += 1);
        }
    }
}

/// The other live members as ownership candidates.
fn candidates<'a>(view: &'a View, me: &str) -> Vec<Candidate<'a>> {
    view.iter()
        .filter(|(n, _)| n.as_str() != me)
        .map(|(n, i)| Candidate {
            node: n,
            eligible: &i.eligible,
            leaving: i.leaving,
        })
        .collect()
}

/// `owned` keeping only the addresses `keep` accepts (interfaces left empty are dropped).
fn filter(owned: &L2Owned, keep: impl Fn(&IpAddr) -> bool) -> L2Owned {
    owned
        .iter()
        .map(|(i, a)| (i.clone(), a.iter().copied().filter(|a| keep(a)).collect()))
        .filter(|(_, a): &(String, BTreeSet<IpAddr>)| !a.is_empty())
        .collect()
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The membership layer's settings from `[cluster]`.
pub fn membership(node: &str, c: &crate::config::ClusterConfig) -> crate::cluster::ClusterConfig {
    crate::cluster::ClusterConfig {
        node: node.to_string(),
        listen: c.listen,
        advertise: c.advertise,
        seeds: c.members.clone(),
        tuning: Default::default(),
    }
}
