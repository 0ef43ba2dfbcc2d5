//! The BFD sink: one tokio task runs every BFD session of this node over UDP (RFC 5881
//! single-hop on port 3784, RFC 5883 multihop on 4784) and publishes each session's state for
//! the BGP peer task that depends on it. The only file of `src/bfd` that does I/O; the sessions
//! themselves are the sans-IO [`Session`]s.
//!
//! - Receiving: one socket per port and family in use, bound to the wildcard address, reading
//!   the TTL / hop limit of every datagram (`IP_RECVTTL`, `IPV6_RECVHOPLIMIT`). Single-hop
//!   packets must arrive with TTL 255 (RFC 5881 §5, GTSM); multihop ones with at least the
//!   profile's `minimum_ttl` (RFC 5883 §5). A packet is matched to its session by Your
//!   Discriminator, or by its source address while that is zero (RFC 5881 §6); one from an
//!   address no session has, with a TTL too low, or malformed, is dropped and counted.
//! - Sending: one socket per session, bound to a source port in 49152-65535 (RFC 5881 §4) and
//!   connected to the peer, TTL 255 on single-hop sessions.
//! - A session is keyed by its peer address: one session per peer address (and so per interface
//!   for single-hop peers, which are directly connected).

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};

use super::{Action, ControlPacket, Diag, Event, Session, SessionConfig, State, Timer};

/// RFC 5881 §4: the destination port of single-hop Control packets.
pub const SINGLE_HOP_PORT: u16 = 3784;
/// RFC 5883 §5: the destination port of multihop Control packets.
pub const MULTIHOP_PORT: u16 = 4784;

/// One wanted BFD session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerBfd {
    pub peer: IpAddr,
    /// Source address (the BGP session's `source_address`); `None`: the kernel's choice.
    pub local: Option<IpAddr>,
    /// RFC 5883 (the BGP peer has `ebgp_multihop > 1`).
    pub multihop: bool,
    pub config: SessionConfig,
    /// Lowest TTL accepted on a multihop session.
    pub minimum_ttl: u8,
}

/// What the BGP side sees of one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BfdStatus {
    pub state: State,
    /// Why the session last changed state (bfd.LocalDiag).
    pub diag: Diag,
    /// The peer's state as it last said.
    pub remote_state: State,
}

impl BfdStatus {
    const DOWN: BfdStatus = BfdStatus {
        state: State::Down,
        diag: Diag::NoDiagnostic,
        remote_state: State::Down,
    };

    /// Down because the path failed, not because the peer was administratively disabled
    /// (RFC 5882 §3.2: a peer's AdminDown must not take the client session down).
    pub fn failed(&self) -> bool {
        self.state != State::Up && self.remote_state != State::AdminDown
    }
}

/// Packets dropped before reaching a session, by reason (for `/metrics`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dropped {
    pub malformed: u64,
    pub unknown_session: u64,
    pub ttl: u64,
}

/// The handle the BGP speaker keeps: set the wanted sessions, watch one.
#[derive(Debug, Clone)]
pub struct Bfd {
    commands: mpsc::UnboundedSender<(Vec<PeerBfd>, Option<oneshot::Sender<()>>)>,
    watches: Arc<Mutex<BTreeMap<IpAddr, watch::Sender<Option<BfdStatus>>>>>,
    dropped: Arc<Mutex<Dropped>>,
    /// Sessions wanted by the last `set`.
    wanted: Arc<std::sync::atomic::AtomicUsize>,
}

impl Bfd {
    /// Starts the task (no socket is opened before a session is wanted). Inside a tokio runtime.
    pub fn start() -> Bfd {
        let (tx, rx) = mpsc::unbounded_channel();
        let bfd = Bfd {
            commands: tx,
            watches: Arc::default(),
            dropped: Arc::default(),
            wanted: Arc::default(),
        };
        let task = Task {
            sessions: BTreeMap::new(),
            by_discr: HashMap::new(),
            receivers: BTreeMap::new(),
            watches: bfd.watches.clone(),
            dropped: bfd.dropped.clone(),
            epoch: Instant::now(),
            random: RandomState::new(),
        };
        tokio::spawn(task.run(rx));
        bfd
    }

    /// The wanted sessions, all of them: new ones start, removed ones send AdminDown and end,
    /// changed timers apply with a poll sequence (no flap).
    pub fn set(&self, sessions: Vec<PeerBfd>) {
        self.wanted
            .store(sessions.len(), std::sync::atomic::Ordering::Relaxed);
        let _ = self.commands.send((sessions, None));
    }

    /// Ends every session (each sends AdminDown, RFC 5880 §6.8.16, so the peer does not take it
    /// for a failure) and returns once the packets are out.
    pub async fn stop_all(&self) {
        let (done, wait) = oneshot::channel();
        if self.commands.send((Vec::new(), Some(done))).is_ok() {
            let _ = wait.await;
        }
    }

    /// The state of the session with `peer`: `None` while no BFD session runs for it.
    pub fn subscribe(&self, peer: IpAddr) -> watch::Receiver<Option<BfdStatus>> {
        let mut w = crate::sync::lock(&self.watches, WATCHES);
        w.entry(peer)
            .or_insert_with(|| watch::channel(None).0)
            .subscribe()
    }

    /// Packets dropped so far; `None` while no session is wanted.
    pub fn dropped(&self) -> Option<Dropped> {
        if self.wanted.load(std::sync::atomic::Ordering::Relaxed) == 0 {
            return None;
        }
        Some(crate::sync::lock(&self.dropped, DROPPED).clone())
    }
}

/// One running session and its sending socket.
struct Running {
    want: PeerBfd,
    session: Session,
    socket: UdpSocket,
    timers: BTreeMap<Timer, Duration>,
}

/// The receiving socket of one (family, port).
type RecvKey = (bool, u16);

/// The locks' names in the log, should one be found poisoned ([`crate::sync`]).
const WATCHES: &str = "BFD status watches";
const DROPPED: &str = "BFD dropped-packet counters";

struct Task {
    sessions: BTreeMap<IpAddr, Running>,
    by_discr: HashMap<u32, IpAddr>,
    /// The reader task of each receiving socket (it owns the socket; aborting it closes it).
    receivers: BTreeMap<RecvKey, tokio::task::JoinHandle<()>>,
    watches: Arc<Mutex<BTreeMap<IpAddr, watch::Sender<Option<BfdStatus>>>>>,
    dropped: Arc<Mutex<Dropped>>,
    epoch: Instant,
    random: RandomState,
}

/// A datagram as received: payload, source, TTL / hop limit, and which socket.
type Received = (Vec<u8>, SocketAddr, Option<u8>, RecvKey);

impl Task {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<(Vec<PeerBfd>, Option<oneshot::Sender<()>>)>,
    ) {
        let (rx_tx, mut rx) = mpsc::channel::<Received>(1024);
        loop {
            let deadline = self
                .sessions
                .values()
                .flat_map(|r| r.timers.values())
                .min()
                .map(|d| self.epoch + *d);
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some((wanted, done)) => {
                        self.set(wanted, &rx_tx);
                        if let Some(done) = done {
                            let _ = done.send(());
                        }
                    }
                    None => {
                        self.set(Vec::new(), &rx_tx);
                        return;
                    }
                },
                Some(datagram) = rx.recv() => self.received(datagram),
                _ = sleep_until(deadline) => self.fire(),
            }
        }
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    fn random(&self) -> u64 {
        let mut h = self.random.build_hasher();
        h.write_u128(self.epoch.elapsed().as_nanos());
        h.finish()
    }

    fn set(&mut self, wanted: Vec<PeerBfd>, rx_tx: &mpsc::Sender<Received>) {
        let wanted: BTreeMap<IpAddr, PeerBfd> = wanted.into_iter().map(|w| (w.peer, w)).collect();
        let gone: Vec<IpAddr> = self
            .sessions
            .iter()
            .filter(|(peer, r)| {
                wanted
                    .get(peer)
                    .is_none_or(|w| (w.local, w.multihop) != (r.want.local, r.want.multihop))
            })
            .map(|(peer, _)| *peer)
            .collect();
        for peer in gone {
            self.stop(peer);
        }
        for (peer, want) in wanted {
            if let Some(r) = self.sessions.get_mut(&peer) {
                if r.want != want {
                    r.want = want.clone();
                    let now = self.epoch.elapsed();
                    let actions = r.session.handle(Event::SetConfig(want.config), now);
                    self.apply(peer, actions);
                }
                continue;
            }
            if let Err(e) = self.receiver(peer.is_ipv4(), port(&want), rx_tx) {
                tracing::error!(%peer, port = port(&want), error = %e, "BFD: cannot listen; the session stays down");
                self.publish(peer, Some(BfdStatus::DOWN));
                continue;
            }
            match sender(&want) {
                Ok(socket) => self.begin(want, socket),
                Err(e) => {
                    tracing::error!(%peer, error = %e, "BFD: cannot open the sending socket; the session stays down");
                    self.publish(peer, Some(BfdStatus::DOWN));
                }
            }
        }
        // Receivers no session uses any more are closed.
        let used: Vec<RecvKey> = self
            .sessions
            .values()
            .map(|r| (r.want.peer.is_ipv4(), port(&r.want)))
            .collect();
        self.receivers.retain(|k, reader| {
            let keep = used.contains(k);
            if !keep {
                reader.abort();
            }
            keep
        });
    }

    fn begin(&mut self, want: PeerBfd, socket: UdpSocket) {
        let peer = want.peer;
        let discr = loop {
            let d = (self.random() as u32).max(1);
            if !self.by_discr.contains_key(&d) {
                break NonZeroU32::new(d).unwrap_or(NonZeroU32::MIN);
            }
        };
        let (session, actions) = Session::new(want.config, discr, self.random(), self.now());
        tracing::info!(%peer, multihop = want.multihop, discriminator = discr.get(), "BFD session starting");
        self.by_discr.insert(discr.get(), peer);
        self.sessions.insert(
            peer,
            Running {
                want,
                session,
                socket,
                timers: BTreeMap::new(),
            },
        );
        self.publish(peer, Some(BfdStatus::DOWN));
        self.apply(peer, actions);
    }

    fn stop(&mut self, peer: IpAddr) {
        let now = self.now();
        if let Some(r) = self.sessions.get_mut(&peer) {
            let actions = r.session.handle(Event::Stop, now);
            self.apply(peer, actions);
        }
        if let Some(r) = self.sessions.remove(&peer) {
            self.by_discr.remove(&r.session.local_discr());
            tracing::info!(%peer, "BFD session removed");
        }
        self.publish(peer, None);
    }

    fn publish(&self, peer: IpAddr, status: Option<BfdStatus>) {
        let mut w = crate::sync::lock(&self.watches, WATCHES);
        let tx = w.entry(peer).or_insert_with(|| watch::channel(None).0);
        tx.send_if_modified(|s| {
            let changed = *s != status;
            *s = status;
            changed
        });
    }

    fn apply(&mut self, peer: IpAddr, actions: Vec<Action>) {
        for action in actions {
            let Some(r) = self.sessions.get_mut(&peer) else {
                return;
            };
            match action {
                Action::Send(p) => {
                    // Best effort: a full socket buffer loses one packet, which BFD tolerates.
                    if let Err(e) = r.socket.try_send(&p.to_bytes()) {
                        tracing::debug!(%peer, error = %e, "BFD: send failed");
                    }
                }
                Action::ArmTimer(t, at) => drop(r.timers.insert(t, at)),
                Action::CancelTimer(t) => drop(r.timers.remove(&t)),
                Action::StateChanged { from, to, diag } => {
                    let status = BfdStatus {
                        state: to,
                        diag,
                        remote_state: r.session.remote_state(),
                    };
                    if to == State::Up {
                        tracing::info!(%peer, from = from.words(), to = to.words(), "BFD session state");
                    } else {
                        tracing::warn!(%peer, from = from.words(), to = to.words(), %diag, "BFD session state");
                    }
                    self.publish(peer, Some(status));
                }
            }
        }
    }

    fn fire(&mut self) {
        let now = self.now();
        let due: Vec<(IpAddr, Timer)> = self
            .sessions
            .iter()
            .flat_map(|(peer, r)| {
                r.timers
                    .iter()
                    .filter(|(_, at)| **at <= now)
                    .map(|(t, _)| (*peer, *t))
            })
            .collect();
        for (peer, timer) in due {
            let Some(r) = self.sessions.get_mut(&peer) else {
                continue;
            };
            r.timers.remove(&timer);
            let actions = r.session.handle(Event::TimerExpired(timer), now);
            self.apply(peer, actions);
        }
    }

    fn count(&self, f: impl FnOnce(&mut Dropped)) {
        f(&mut crate::sync::lock(&self.dropped, DROPPED));
    }

    fn received(&mut self, (bytes, from, ttl, key): Received) {
        let packet = match ControlPacket::parse(&bytes) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(%from, error = %e, "BFD: malformed packet dropped");
                return self.count(|d| d.malformed += 1);
            }
        };
        let source = unmap(from.ip());
        let peer = match packet.your_discr {
            0 => Some(source),
            d => self.by_discr.get(&d).copied(),
        };
        let Some(r) = peer.and_then(|p| self.sessions.get_mut(&p)) else {
            return self.count(|d| d.unknown_session += 1);
        };
        // The discriminator must belong to the address it came from, and the port to the kind
        // of session (a single-hop packet on the multihop port is somebody else's).
        if r.want.peer != source || port(&r.want) != key.1 {
            return self.count(|d| d.unknown_session += 1);
        }
        let least = if r.want.multihop {
            r.want.minimum_ttl
        } else {
            255
        };
        if ttl.is_none_or(|t| t < least) {
            return self.count(|d| d.ttl += 1);
        }
        let now = self.epoch.elapsed();
        let actions = r.session.handle(Event::Received(packet), now);
        self.apply(source, actions);
    }

    /// The receiving socket for `(v4, port)`, opened on first use; its reader task forwards
    /// datagrams to `rx_tx`.
    fn receiver(&mut self, v4: bool, port: u16, rx_tx: &mpsc::Sender<Received>) -> io::Result<()> {
        if self.receivers.contains_key(&(v4, port)) {
            return Ok(());
        }
        let socket = UdpSocket::from_std(listener(v4, port)?.into())?;
        let tx = rx_tx.clone();
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 512];
            loop {
                let fd = socket.as_raw_fd();
                let got = socket
                    .async_io(Interest::READABLE, || recv_with_ttl(fd, &mut buf))
                    .await;
                match got {
                    Ok((n, from, ttl)) => {
                        let d = (buf[..n].to_vec(), from, ttl, (v4, port));
                        if tx.send(d).await.is_err() {
                            return; // the task is gone
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "BFD: receive failed"),
                }
            }
        });
        self.receivers.insert((v4, port), reader);
        Ok(())
    }
}

fn port(w: &PeerBfd) -> u16 {
    if w.multihop {
        MULTIHOP_PORT
    } else {
        SINGLE_HOP_PORT
    }
}

fn unmap(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(a, IpAddr::V4),
        v4 => v4,
    }
}

/// A wildcard socket on `port` that reports each datagram's TTL / hop limit.
fn listener(v4: bool, port: u16) -> io::Result<Socket> {
    let (domain, addr) = if v4 {
        (
            Domain::IPV4,
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
        )
    } else {
        (
            Domain::IPV6,
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)),
        )
    };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if !v4 {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    let on: libc::c_int = 1;
    let (level, name) = if v4 {
        (libc::IPPROTO_IP, libc::IP_RECVTTL)
    } else {
        (libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT)
    };
    // SAFETY: a valid socket and a c_int option value of the right size.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            level,
            name,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    Ok(s)
}

/// The sending socket of one session: a source port in 49152-65535, connected to the peer's
/// BFD port, TTL 255 (single-hop: required by RFC 5881 §5; multihop: the most the path allows).
fn sender(w: &PeerBfd) -> io::Result<UdpSocket> {
    let v4 = w.peer.is_ipv4();
    let domain = if v4 { Domain::IPV4 } else { Domain::IPV6 };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if v4 {
        s.set_ttl(255)?;
    } else {
        s.set_only_v6(true)?;
        s.set_unicast_hops_v6(255)?;
    }
    let local = w.local.unwrap_or(if v4 {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    });
    let start = (RandomState::new().build_hasher().finish() % 16384) as u16;
    let mut bound = Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no free source port in 49152-65535",
    ));
    for i in 0..16384u16 {
        let port = 49152 + (start + i) % 16384;
        match s.bind(&SocketAddr::new(local, port).into()) {
            Ok(()) => {
                bound = Ok(());
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) => {
                bound = Err(e);
                break;
            }
        }
    }
    bound?;
    s.connect(&SocketAddr::new(w.peer, port(w)).into())?;
    s.set_nonblocking(true)?;
    UdpSocket::from_std(s.into())
}

/// One datagram with its TTL (IPv4) or hop limit (IPv6), from the control messages.
fn recv_with_ttl(
    fd: std::os::fd::RawFd,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<u8>)> {
    // SAFETY: plain recvmsg(2) into buffers we own, sized as passed; the control messages are
    // walked with the CMSG_* macros within `control`'s length.
    unsafe {
        let mut from: libc::sockaddr_storage = std::mem::zeroed();
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut control = [0u64; 16];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = (&mut from as *mut libc::sockaddr_storage).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control);
        let n = libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut ttl = None;
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let (level, kind) = ((*c).cmsg_level, (*c).cmsg_type);
            if (level == libc::IPPROTO_IP && kind == libc::IP_TTL)
                || (level == libc::IPPROTO_IPV6 && kind == libc::IPV6_HOPLIMIT)
            {
                let v = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>());
                ttl = u8::try_from(v).ok();
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
        let addr = socket2::SockAddr::new(from, msg.msg_namelen);
        let from = addr
            .as_socket()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IP source"))?;
        Ok((n as usize, from, ttl))
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
