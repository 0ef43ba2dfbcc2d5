//! The BGP sink: one task per peer, the shared announcement table, and reconfiguration that
//! keeps unchanged sessions running. It carries out what the announcer ([`crate::announce`])
//! decides; what the sessions really carry is in their status cells.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::listener::{Directory, DIRECTORY};
use super::peer::{self, PeerCommand, PeerContext, PeerHandle, Routes};
use crate::announce::table::RouteTable;
use crate::announce::{Changes, RouteChange};
use crate::bfd::socket::{Bfd, PeerBfd};
use crate::bfd::SessionConfig;
use crate::model::{LocalSpec, PeerSpec};
use crate::packet::codes::CeaseSubcode;
use crate::status::{DropCounter, SessionSnapshot, StatusCell};

/// All sessions of this node and the routes they carry.
#[derive(Debug)]
pub struct Speaker {
    local: LocalSpec,
    peers: BTreeMap<IpAddr, PeerHandle>,
    routes: Routes,
    directory: Directory,
    bfd: Bfd,
}

impl Speaker {
    /// Starts a session task per peer, announcing `routes`. Must run inside a tokio runtime.
    pub fn start(
        local: LocalSpec,
        peers: &[PeerSpec],
        routes: Arc<RouteTable>,
        directory: Directory,
    ) -> Speaker {
        let mut speaker = Speaker {
            local,
            peers: BTreeMap::new(),
            routes,
            directory,
            bfd: Bfd::start(),
        };
        for p in peers {
            speaker.add_peer(p.clone());
        }
        speaker.set_bfd();
        speaker
    }

    /// The BFD sessions of the peers that have a profile.
    fn set_bfd(&self) {
        let wanted = self
            .peers
            .values()
            .filter_map(|h| {
                let p = &h.context.peer;
                let profile = p.bfd.as_ref()?;
                Some(PeerBfd {
                    peer: p.address,
                    local: p.source_address,
                    multihop: p.ebgp_multihop.is_some_and(|ttl| ttl > 1),
                    config: SessionConfig {
                        desired_min_tx: Duration::from_millis(u64::from(profile.transmit_interval)),
                        required_min_rx: Duration::from_millis(u64::from(profile.receive_interval)),
                        detect_mult: profile.detect_multiplier,
                        passive: profile.passive,
                    },
                    minimum_ttl: profile.minimum_ttl,
                })
            })
            .collect();
        self.bfd.set(wanted);
    }

    fn context(&self, peer: PeerSpec) -> PeerContext {
        PeerContext {
            peer,
            local: self.local.clone(),
        }
    }

    fn add_peer(&mut self, peer: PeerSpec) {
        tracing::info!(peer = %peer.name, address = %peer.address, asn = peer.asn, "starting session");
        let addr = peer.address;
        let handle = peer::spawn(
            self.context(peer),
            self.routes.clone(),
            self.bfd.subscribe(addr),
        );
        crate::sync::write(&self.directory, DIRECTORY).insert(addr, handle.commands.clone());
        self.peers.insert(addr, handle);
    }

    async fn remove_peer(&mut self, addr: IpAddr, subcode: CeaseSubcode) {
        crate::sync::write(&self.directory, DIRECTORY).remove(&addr);
        if let Some(handle) = self.peers.remove(&addr) {
            tracing::info!(
                peer = %handle.context.peer.name,
                subcode = u8::from(subcode),
                "stopping session"
            );
            let _ = handle.commands.send(PeerCommand::Shutdown { subcode });
            let _ = handle.task.await;
        }
    }

    /// Carries out one step of the announcer, for a node whose own side is `local`: removed
    /// peers are stopped (Cease 6/3), changed ones restarted (Cease 6/6), added ones started;
    /// unchanged sessions keep running and receive only the route changes.
    pub async fn apply(&mut self, local: &LocalSpec, changes: Changes) {
        let local_changed = *local != self.local;
        self.local = local.clone();
        if changes.peers.is_some() || local_changed {
            let wanted: BTreeMap<IpAddr, PeerSpec> = match changes.peers {
                Some(list) => list.into_iter().map(|p| (p.address, p)).collect(),
                None => self
                    .peers
                    .values()
                    .map(|h| (h.context.peer.address, h.context.peer.clone()))
                    .collect(),
            };
            let existing: Vec<IpAddr> = self.peers.keys().copied().collect();
            for addr in existing {
                match wanted.get(&addr) {
                    None => self.remove_peer(addr, CeaseSubcode::PeerDeconfigured).await,
                    Some(p) => {
                        let next = self.context(p.clone());
                        match self.peers.get_mut(&addr) {
                            // BFD timers change under a running session (a poll sequence).
                            Some(h) if same_session(&h.context, &next) => h.context = next,
                            _ => {
                                self.remove_peer(addr, CeaseSubcode::OtherConfigurationChange)
                                    .await
                            }
                        }
                    }
                }
            }
            self.apply_routes(changes.routes);
            for (addr, p) in wanted {
                if !self.peers.contains_key(&addr) {
                    self.add_peer(p);
                }
            }
            self.set_bfd();
        } else {
            self.apply_routes(changes.routes);
        }
    }

    /// Gives every session the new table: compared whole, or at the changed prefixes only
    /// (O(changes) per session).
    pub fn apply_routes(&mut self, change: RouteChange) {
        match change {
            RouteChange::None => {}
            RouteChange::Table(table) => {
                if *self.routes == *table {
                    return;
                }
                self.routes = table;
                for handle in self.peers.values() {
                    let _ = handle
                        .commands
                        .send(PeerCommand::SetRoutes(self.routes.clone()));
                }
            }
            RouteChange::Prefixes(table, changed) => {
                self.routes = table;
                for handle in self.peers.values() {
                    let _ = handle.commands.send(PeerCommand::ChangeRoutes(
                        self.routes.clone(),
                        changed.clone(),
                    ));
                }
            }
        }
    }

    /// A live reading of the BFD packets dropped before reaching a session, by reason (empty
    /// while no peer has BFD), for `/metrics`.
    pub fn bfd_dropped(&self) -> DropCounter {
        let bfd = self.bfd.clone();
        DropCounter::new(move || {
            bfd.dropped()
                .map(|d| {
                    [
                        ("malformed", d.malformed),
                        ("unknown_session", d.unknown_session),
                        ("ttl", d.ttl),
                    ]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect()
                })
                .unwrap_or_default()
        })
    }

    /// The announcement table.
    pub fn routes(&self) -> &RouteTable {
        &self.routes
    }

    /// The live status cells of every session.
    pub fn status_cells(&self) -> Vec<StatusCell> {
        self.peers.values().map(|h| h.status.clone()).collect()
    }

    /// A snapshot of every session.
    pub fn sessions(&self) -> Vec<SessionSnapshot> {
        self.peers
            .values()
            .map(|h| crate::sync::lock(&h.status, crate::status::session::CELL).snapshot())
            .collect()
    }

    /// Graceful shutdown (RFC 8326): for `drain`, every route carries GRACEFUL_SHUTDOWN so the
    /// routers move traffic away; then everything is withdrawn, Cease 6/2 is sent, and this
    /// waits for the tasks to end. With no session up there is nobody to drain and no wait.
    pub async fn shutdown(mut self, drain: Duration) {
        let any_up = self.sessions().iter().any(|s| s.state == "Established");
        if !drain.is_zero() && any_up {
            tracing::info!(
                seconds = drain.as_secs(),
                "graceful shutdown: routes carry GRACEFUL_SHUTDOWN before the withdrawal"
            );
            for handle in self.peers.values() {
                let _ = handle.commands.send(PeerCommand::Drain);
            }
            tokio::time::sleep(drain).await;
        }
        let addrs: Vec<IpAddr> = self.peers.keys().copied().collect();
        for handle in self.peers.values() {
            let _ = handle.commands.send(PeerCommand::Shutdown {
                subcode: CeaseSubcode::AdministrativeShutdown,
            });
        }
        for addr in addrs {
            if let Some(h) = self.peers.remove(&addr) {
                let _ = h.task.await;
            }
        }
        // Only now: BFD sessions end with AdminDown, which the routers do not count as a failure.
        self.bfd.stop_all().await;
    }
}

/// Whether `a` and `b` are the same BGP session: everything but the BFD profile, which changes
/// without a flap.
fn same_session(a: &PeerContext, b: &PeerContext) -> bool {
    let strip = |c: &PeerContext| {
        let mut c = c.clone();
        c.peer.bfd = None;
        c
    };
    strip(a) == strip(b)
}
