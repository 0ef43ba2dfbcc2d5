//! The speaker: one task per configured peer, the shared table of service addresses, and
//! reconfiguration that keeps unchanged sessions running.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

use super::listener::Directory;
use super::peer::{self, PeerCommand, PeerContext, PeerHandle, Routes};
use super::status::SessionSnapshot;
use super::table::RouteTable;
use crate::config::Config;
use crate::packet::codes::CeaseSubcode;

/// All sessions of this node and the routes they carry.
#[derive(Debug)]
pub struct Speaker {
    peers: BTreeMap<IpAddr, PeerHandle>,
    routes: Routes,
    directory: Directory,
}

fn contexts_of(config: &Config) -> BTreeMap<IpAddr, PeerContext> {
    config
        .bgp
        .peers
        .iter()
        .map(|p| {
            let ctx = PeerContext {
                peer: p.clone(),
                local_asn: config.node.asn,
                router_id: config.node.router_id,
                node_addresses: config.node.addresses.clone(),
                graceful_restart_time: config.bgp.graceful_restart_time,
            };
            (p.address, ctx)
        })
        .collect()
}

impl Speaker {
    /// Starts a session task per configured peer, announcing `routes`.
    pub fn start(config: &Config, routes: RouteTable, directory: Directory) -> Speaker {
        let mut speaker = Speaker {
            peers: BTreeMap::new(),
            routes: Arc::new(routes),
            directory,
        };
        for (addr, ctx) in contexts_of(config) {
            speaker.add_peer(addr, ctx);
        }
        speaker
    }

    fn add_peer(&mut self, addr: IpAddr, ctx: PeerContext) {
        tracing::info!(peer = %ctx.peer.name, address = %addr, asn = ctx.peer.asn, "starting session");
        let handle = peer::spawn(ctx, self.routes.clone());
        if let Ok(mut d) = self.directory.write() {
            d.insert(addr, handle.commands.clone());
        }
        self.peers.insert(addr, handle);
    }

    async fn remove_peer(&mut self, addr: IpAddr, subcode: CeaseSubcode) {
        if let Ok(mut d) = self.directory.write() {
            d.remove(&addr);
        }
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

    /// Applies a new config: removed peers are stopped (Cease 6/3), changed ones restarted
    /// (Cease 6/6), added ones started; unchanged sessions keep running and receive only the
    /// route changes.
    pub async fn reconfigure(&mut self, config: &Config, routes: RouteTable) {
        let wanted = contexts_of(config);
        let existing: Vec<IpAddr> = self.peers.keys().copied().collect();
        for addr in existing {
            match wanted.get(&addr) {
                None => self.remove_peer(addr, CeaseSubcode::PeerDeconfigured).await,
                Some(ctx) if self.peers.get(&addr).map(|h| &h.context) != Some(ctx) => {
                    self.remove_peer(addr, CeaseSubcode::OtherConfigurationChange)
                        .await
                }
                Some(_) => {}
            }
        }
        self.set_routes(routes);
        for (addr, ctx) in wanted {
            if !self.peers.contains_key(&addr) {
                self.add_peer(addr, ctx);
            }
        }
    }

    /// Replaces the announcement table on every session.
    pub fn set_routes(&mut self, routes: RouteTable) {
        if *self.routes == routes {
            return;
        }
        self.routes = Arc::new(routes);
        for handle in self.peers.values() {
            let _ = handle
                .commands
                .send(PeerCommand::SetRoutes(self.routes.clone()));
        }
    }

    /// Replaces the announcement table when the caller knows which prefixes changed (the
    /// result of [`RouteTable::add`] / [`RouteTable::remove`]): every session compares and
    /// sends those prefixes only.
    pub fn change_routes(&mut self, routes: RouteTable, changed: Vec<IpNet>) {
        self.routes = Arc::new(routes);
        if changed.is_empty() {
            return;
        }
        let changed = Arc::new(changed);
        for handle in self.peers.values() {
            let _ = handle.commands.send(PeerCommand::ChangeRoutes(
                self.routes.clone(),
                changed.clone(),
            ));
        }
    }

    /// The announcement table.
    pub fn routes(&self) -> &RouteTable {
        &self.routes
    }

    /// The live status cells of every session.
    pub fn status_cells(&self) -> Vec<super::status::StatusCell> {
        self.peers.values().map(|h| h.status.clone()).collect()
    }

    /// A snapshot of every session.
    pub fn sessions(&self) -> Vec<SessionSnapshot> {
        self.peers
            .values()
            .filter_map(|h| h.status.lock().ok().map(|s| s.snapshot()))
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
    }
}
