//! The passive side: accepts BGP connections and hands each to the peer task configured for the
//! source address. Connections from unknown addresses are closed and logged.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::mpsc;

use super::peer::{unmap, PeerCommand};
use super::sockopt;
use super::transport::{self, ListenerTtl};
use crate::model::PeerSpec;

/// Where accepted connections go: peer address → that peer's command channel.
pub type Directory = Arc<RwLock<HashMap<IpAddr, mpsc::UnboundedSender<PeerCommand>>>>;
/// [`Directory`]'s name in the log, should it be found poisoned ([`crate::sync`]).
pub const DIRECTORY: &str = "BGP peer directory";

/// A bound BGP listening socket.
#[derive(Debug)]
pub struct Listener {
    listener: TcpListener,
    /// What is installed now: the TCP MD5 keys by peer address (as the kernel sees it: IPv4
    /// peers IPv4-mapped on a dual-stack socket) and the TTL settings.
    installed: Mutex<Installed>,
}

/// One change to the listening socket.
enum Step<'a> {
    RemoveKey(IpAddr),
    SetKey(IpAddr, &'a str),
    Ttl(ListenerTtl),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Installed {
    keys: BTreeMap<IpAddr, String>,
    ttl: Option<ListenerTtl>,
}

impl Listener {
    /// Binds `addr` (an IPv6 wildcard also accepts IPv4) and installs the peers' MD5 keys and
    /// TTL settings.
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
        let me = Listener {
            listener,
            installed: Mutex::new(Installed::default()),
        };
        me.set_peers(peers)?;
        Ok(me)
    }

    /// Brings the socket in line with `peers`: the TCP MD5 key of every peer that has a
    /// password (RFC 2385; keys of peers gone or without a password any more are removed, so
    /// their unsigned connections are accepted again), and the TTL settings every peer shares
    /// ([`transport::listener_ttl`]). All or nothing: when the kernel refuses one change, what
    /// was installed before is put back and the error returned.
    pub fn set_peers(&self, peers: &[PeerSpec]) -> io::Result<()> {
        let mut installed = crate::sync::lock(&self.installed, "the BGP listener's settings");
        let wanted = Installed {
            keys: peers
                .iter()
                .filter_map(|p| Some((self.kernel_addr(p.address), p.password.clone()?)))
                .collect(),
            ttl: Some(transport::listener_ttl(peers)),
        };
        if let Err(e) = self.install(&installed, &wanted, false) {
            // Part of `wanted` may be in place: go back item by item, whatever fails.
            let _ = self.install(&wanted, &installed, true);
            return Err(e);
        }
        *installed = wanted;
        Ok(())
    }

    /// Changes the socket from `from` to `to`; stops at the first error unless `best_effort`
    /// (then every step is tried and each failure logged).
    fn install(&self, from: &Installed, to: &Installed, best_effort: bool) -> io::Result<()> {
        let removed = from.keys.keys().filter(|a| !to.keys.contains_key(a));
        let added = to
            .keys
            .iter()
            .filter(|(a, k)| from.keys.get(*a) != Some(*k));
        let steps = removed
            .map(|a| Step::RemoveKey(*a))
            .chain(added.map(|(a, k)| Step::SetKey(*a, k)))
            .chain(to.ttl.filter(|t| from.ttl != Some(*t)).map(Step::Ttl));
        let mut first = None;
        for step in steps {
            if let Err(e) = self.step(&step) {
                if !best_effort {
                    return Err(e);
                }
                tracing::error!(error = %e, "cannot restore the listener's previous setting");
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    fn step(&self, step: &Step<'_>) -> io::Result<()> {
        let (what, result) = match step {
            Step::RemoveKey(addr) => (
                format!("removing the TCP MD5 key for {addr}"),
                sockopt::set_md5_key(&self.listener, *addr, None),
            ),
            Step::SetKey(addr, key) => (
                format!("TCP MD5 key for {addr}"),
                sockopt::set_md5_key(&self.listener, *addr, Some(key)),
            ),
            Step::Ttl(ttl) => (
                "listener TTL / GTSM minimum".into(),
                transport::apply_listener(&self.listener, self.local_is_v6(), *ttl),
            ),
        };
        result.map_err(|e| io::Error::new(e.kind(), format!("{what}: {e}")))
    }

    /// The address the kernel matches a peer's key against on this socket.
    fn kernel_addr(&self, peer: IpAddr) -> IpAddr {
        match (self.local_is_v6(), peer) {
            (true, IpAddr::V4(v4)) => IpAddr::V6(v4.to_ipv6_mapped()),
            (_, a) => a,
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
