//! The passive side: accepts BGP connections and hands each to the peer task configured for the
//! source address. Connections from unknown addresses are closed and logged.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::mpsc;

use super::peer::{unmap, PeerCommand};
use super::sockopt;
use crate::model::PeerSpec;

/// Where accepted connections go: peer address → that peer's command channel.
pub type Directory = Arc<RwLock<HashMap<IpAddr, mpsc::UnboundedSender<PeerCommand>>>>;
/// [`Directory`]'s name in the log, should it be found poisoned ([`crate::sync`]).
pub const DIRECTORY: &str = "BGP peer directory";

/// A bound BGP listening socket.
#[derive(Debug)]
pub struct Listener {
    listener: TcpListener,
}

impl Listener {
    /// Binds `addr` (an IPv6 wildcard also accepts IPv4) and installs the peers' MD5 keys.
    pub fn bind(addr: SocketAddr, peers: &[PeerSpec]) -> io::Result<Listener> {
        let socket = if addr.is_ipv6() {
            let s = TcpSocket::new_v6()?;
            socket2::SockRef::from(&s).set_only_v6(false)?;
            s
        } else {
            TcpSocket::new_v4()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        let listener = socket.listen(128)?;
        let me = Listener { listener };
        me.set_keys(peers);
        Ok(me)
    }

    /// Installs the TCP MD5 key of every peer that has a password (RFC 2385).
    pub fn set_keys(&self, peers: &[PeerSpec]) {
        for p in peers.iter().filter(|p| p.password.is_some()) {
            let addr = match (self.local_is_v6(), p.address) {
                (true, IpAddr::V4(v4)) => IpAddr::V6(v4.to_ipv6_mapped()),
                (_, a) => a,
            };
            if let Err(e) = sockopt::set_md5_key(&self.listener, addr, p.password.as_deref()) {
                tracing::error!(peer = %p.name, error = %e, "cannot install TCP MD5 key on the listener");
            }
        }
    }

    fn local_is_v6(&self) -> bool {
        self.listener
            .local_addr()
            .map(|a| a.is_ipv6())
            .unwrap_or(false)
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts forever, dispatching through `directory`.
    pub async fn run(self: std::sync::Arc<Self>, directory: Directory) {
        loop {
            match self.listener.accept().await {
                Ok((stream, remote)) => {
                    let ip = unmap(remote.ip());
                    let target = crate::sync::read(&directory, DIRECTORY).get(&ip).cloned();
                    match target {
                        Some(tx) => {
                            let _ = tx.send(PeerCommand::Accepted(stream));
                        }
                        None => {
                            tracing::warn!(%remote, "connection from an address that is not a configured peer; closed");
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }
}
