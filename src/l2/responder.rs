//! The AF_PACKET responder: answers ARP requests and Neighbor Solicitations for the addresses
//! this node owns, on the interfaces they are owned on, and announces newly owned addresses
//! (gratuitous ARP request and reply, unsolicited NA with Override). The one file of `src/l2`
//! that does I/O; what it decides is in [`super::answer`], what it reads and writes in
//! [`super::wire`].
//!
//! - One `AF_PACKET`/`SOCK_RAW` socket per interface in use, bound to its ifindex with
//!   `ETH_P_ALL` and a classic BPF filter (`SO_ATTACH_FILTER`, attached before the bind so no
//!   unfiltered frame is queued) that passes only ARP (0x0806) and IPv6 with next header
//!   ICMPv6 (58). One socket per interface rather than one per EtherType: one reader, one
//!   filter, and the IPv6 one would need the same filter anyway. Our own frames
//!   (`PACKET_OUTGOING`) are skipped (and not queued at all where `PACKET_IGNORE_OUTGOING`
//!   exists, Linux 4.20).
//! - For each owned IPv6 address the socket joins the solicited-node group's MAC
//!   (`PACKET_ADD_MEMBERSHIP`, `PACKET_MR_MULTICAST`): real NICs drop unjoined multicast. The
//!   group is left when no owned address needs it.
//! - Every frame goes through [`classify`]; what is not a question for an address owned on
//!   that interface is counted (by [`Ignored::label`], `not_owned`, `foreign`), never answered.
//! - Interfaces are resolved on every `set()`, every [`RESOLVE_INTERVAL`] while something is
//!   owned, and after a read error (an interface going away makes its socket fail `ENETDOWN`).
//!   The MAC and flags come from `SIOCGIFHWADDR`/`SIOCGIFFLAGS`, not `/sys`, which shows the
//!   namespace that mounted it rather than the caller's.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::{mpsc, oneshot, watch};

use super::answer::{self, InterfaceInfo, Schedule};
pub use super::answer::{L2Owned, ANY_INTERFACE, GRATUITOUS_REPEATS, GRATUITOUS_SPACING};
use super::wire::{classify, ArpPacket, EtherType, Ignored, MacAddr, NdpPacket, Request};

/// How often the interfaces are re-read while something is owned (a named interface that
/// comes up, a subnet added for `*`).
pub const RESOLVE_INTERVAL: Duration = Duration::from_secs(5);

/// What wakes a reader: a frame, or a socket error (`ENETDOWN` when the interface goes down
/// or away), which the next read returns.
const WAKE: Interest = Interest::READABLE.add(Interest::ERROR);

/// Counter labels besides [`Ignored::LABELS`].
const EXTRA_LABELS: &[&str] = &["not_owned", "foreign", "read_error", "send_error"];

/// What is really answered now.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Answering {
    /// Address → the interfaces it is answered on.
    pub addresses: BTreeMap<IpAddr, BTreeSet<String>>,
    /// Address → why it is not answered (on one of its interfaces).
    pub unresolved: BTreeMap<IpAddr, String>,
}

/// The responder's counters at the time they were read.
#[derive(Clone, Debug, Default)]
pub struct L2Counters {
    /// ARP replies and solicited NAs sent.
    pub answered: u64,
    /// Gratuitous frames sent (each ARP request, ARP reply and unsolicited NA counts one).
    pub gratuitous_sent: u64,
    /// Frames not answered, by [`Ignored::label`], `not_owned` (a question for an address we
    /// do not own), `foreign` (owned, but on another interface), plus `read_error` and
    /// `send_error`. Every label is present, zero or not.
    pub ignored: BTreeMap<&'static str, u64>,
}

struct Counters {
    answered: AtomicU64,
    gratuitous_sent: AtomicU64,
    ignored: Vec<(&'static str, AtomicU64)>,
}

impl Counters {
    fn new() -> Counters {
        let labels = Ignored::LABELS.iter().chain(EXTRA_LABELS);
        Counters {
            answered: AtomicU64::new(0),
            gratuitous_sent: AtomicU64::new(0),
            ignored: labels.map(|l| (*l, AtomicU64::new(0))).collect(),
        }
    }

    fn ignore(&self, label: &str) {
        if let Some((_, c)) = self.ignored.iter().find(|(l, _)| *l == label) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn snapshot(&self) -> L2Counters {
        L2Counters {
            answered: self.answered.load(Ordering::Relaxed),
            gratuitous_sent: self.gratuitous_sent.load(Ordering::Relaxed),
            ignored: self
                .ignored
                .iter()
                .map(|(l, c)| (*l, c.load(Ordering::Relaxed)))
                .collect(),
        }
    }
}

/// Interface → addresses answered on it, shared with the reader tasks.
type Active = Arc<RwLock<BTreeMap<String, BTreeSet<IpAddr>>>>;

enum Command {
    Set(L2Owned, oneshot::Sender<()>),
}

/// The handle: say what this node owns, read what it answers.
#[derive(Clone)]
pub struct Responder {
    commands: mpsc::UnboundedSender<Command>,
    answering: watch::Receiver<Answering>,
    counters: Arc<Counters>,
}

impl Responder {
    /// Spawns the task (inside a tokio runtime). No socket until `set()` names an interface.
    pub fn start() -> Responder {
        let (tx, rx) = mpsc::unbounded_channel();
        let (answering_tx, answering) = watch::channel(Answering::default());
        let counters = Arc::new(Counters::new());
        let (events, events_rx) = mpsc::unbounded_channel();
        let task = Task {
            owned: L2Owned::new(),
            links: BTreeMap::new(),
            active: Active::default(),
            schedule: Schedule::default(),
            answering: answering_tx,
            counters: counters.clone(),
            epoch: Instant::now(),
            warned: BTreeMap::new(),
            events,
        };
        tokio::spawn(task.run(rx, events_rx));
        Responder {
            commands: tx,
            answering,
            counters,
        }
    }

    /// What this node answers for from now on; returns when the new set is in effect (sockets
    /// open or reported unresolved, removed addresses no longer answered, the first
    /// announcement of each new address sent).
    pub async fn set(&self, owned: L2Owned) {
        let (done, wait) = oneshot::channel();
        if self.commands.send(Command::Set(owned, done)).is_ok() {
            let _ = wait.await;
        }
    }

    /// What is really answered now, updated in the same step answering starts or stops.
    pub fn subscribe(&self) -> watch::Receiver<Answering> {
        self.answering.clone()
    }

    /// The counters, read now.
    pub fn counters(&self) -> L2Counters {
        self.counters.snapshot()
    }

    /// Stops answering everything and closes every socket.
    pub async fn stop(&self) {
        self.set(L2Owned::new()).await;
    }
}

/// One interface in use: its socket and reader task.
struct Link {
    index: u32,
    mac: MacAddr,
    socket: Arc<AsyncFd<OwnedFd>>,
    reader: tokio::task::JoinHandle<()>,
    groups: BTreeSet<MacAddr>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

struct Task {
    owned: L2Owned,
    links: BTreeMap<String, Link>,
    active: Active,
    schedule: Schedule,
    answering: watch::Sender<Answering>,
    counters: Arc<Counters>,
    epoch: Instant,
    /// The unresolved reasons already logged.
    warned: BTreeMap<IpAddr, String>,
    /// Reader tasks name their interface here after a read error.
    events: mpsc::UnboundedSender<String>,
}

impl Task {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut events: mpsc::UnboundedReceiver<String>,
    ) {
        let mut resolve = tokio::time::interval(RESOLVE_INTERVAL);
        resolve.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let next = self.schedule.next().map(|d| self.epoch + d);
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(Command::Set(owned, done)) => {
                        self.owned = owned;
                        self.apply();
                        let _ = done.send(());
                    }
                    None => {
                        self.owned.clear();
                        self.apply();
                        return;
                    }
                },
                Some(name) = events.recv() => {
                    tracing::debug!(interface = %name, "L2: re-resolving after a read error");
                    self.apply();
                }
                _ = sleep_until(next) => self.repeat(),
                _ = resolve.tick(), if !self.owned.is_empty() => self.apply(),
            }
        }
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Brings sockets, memberships, answered addresses and announcements to `self.owned`.
    fn apply(&mut self) {
        let interfaces = list_interfaces().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "L2: cannot list interfaces");
            Vec::new()
        });
        let mut res = answer::resolve(&self.owned, &interfaces);
        // A link whose interface went away (or came back with another index) is closed.
        self.links.retain(|name, link| {
            interfaces
                .iter()
                .any(|i| &i.name == name && i.index == link.index && i.mac == link.mac)
        });
        // Stop first: what is no longer wanted is not answered from here on.
        let mut active = self.read_active();
        for (name, addrs) in active.iter_mut() {
            let keep = res
                .links
                .get(name)
                .filter(|_| self.links.contains_key(name));
            for a in addrs.iter() {
                if keep.is_none_or(|k| !k.contains(a)) {
                    self.schedule.cancel(name, *a);
                }
            }
            addrs.retain(|a| keep.is_some_and(|k| k.contains(a)));
        }
        active.retain(|_, a| !a.is_empty());
        self.store(&active, &res.unresolved);
        self.links.retain(|name, _| res.links.contains_key(name));
        self.open_links(&mut res, &interfaces);
        let mut added = Vec::new();
        for (name, addrs) in &res.links {
            let Some(link) = self.links.get_mut(name) else {
                continue;
            };
            link.join(name, &answer::groups(addrs));
            let before = active.get(name).cloned().unwrap_or_default();
            added.extend(addrs.difference(&before).map(|a| (name.clone(), *a)));
            active.insert(name.clone(), addrs.clone());
        }
        self.store(&active, &res.unresolved);
        let now = self.now();
        for (name, addr) in added {
            tracing::info!(interface = %name, address = %addr, "L2: answering");
            self.announce(&name, addr);
            self.schedule.announced(&name, addr, now);
        }
        for (addr, why) in &res.unresolved {
            if self.warned.get(addr) != Some(why) {
                tracing::warn!(address = %addr, reason = %why, "L2: address not answered");
            }
        }
        self.warned = res.unresolved;
    }

    /// Opens a socket for every interface of `res` that has none; a failure moves its
    /// addresses to `res.unresolved`.
    fn open_links(&mut self, res: &mut answer::Resolution, interfaces: &[InterfaceInfo]) {
        let missing: Vec<String> = res
            .links
            .keys()
            .filter(|n| !self.links.contains_key(*n))
            .cloned()
            .collect();
        for name in missing {
            let opened = match interfaces.iter().find(|i| i.name == name) {
                Some(info) => self.open(info),
                None => Err(io::Error::new(io::ErrorKind::NotFound, "no such interface")),
            };
            match opened {
                Ok(link) => drop(self.links.insert(name, link)),
                Err(e) => {
                    for a in res.links.remove(&name).unwrap_or_default() {
                        res.unresolved.insert(a, format!("interface {name}: {e}"));
                    }
                }
            }
        }
    }

    fn open(&self, info: &InterfaceInfo) -> io::Result<Link> {
        let fd = packet_socket(info.index)?;
        // SAFETY: an OwnedFd's descriptor stays open and the same until the AsyncFd drops it.
        let fd =
            unsafe { AsyncFd::register_with_interest(fd, WAKE) }.map_err(|e| e.into_parts().1)?;
        let socket = Arc::new(fd);
        let reader = Reader {
            name: info.name.clone(),
            index: info.index,
            mac: info.mac,
            socket: socket.clone(),
            active: self.active.clone(),
            counters: self.counters.clone(),
            events: self.events.clone(),
        };
        tracing::info!(interface = %info.name, mac = %info.mac, "L2: socket open");
        Ok(Link {
            index: info.index,
            mac: info.mac,
            socket,
            reader: tokio::spawn(reader.run()),
            groups: BTreeSet::new(),
        })
    }

    fn read_active(&self) -> BTreeMap<String, BTreeSet<IpAddr>> {
        self.active
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Makes `active` what the readers answer and what [`Answering`] says, in one step.
    fn store(
        &self,
        active: &BTreeMap<String, BTreeSet<IpAddr>>,
        unresolved: &BTreeMap<IpAddr, String>,
    ) {
        let mut shared = self.active.write().unwrap_or_else(|p| p.into_inner());
        shared.clone_from(active);
        let mut addresses: BTreeMap<IpAddr, BTreeSet<String>> = BTreeMap::new();
        for (name, addrs) in active {
            for a in addrs {
                addresses.entry(*a).or_default().insert(name.clone());
            }
        }
        let now = Answering {
            addresses,
            unresolved: unresolved.clone(),
        };
        self.answering.send_if_modified(|a| {
            let changed = *a != now;
            *a = now;
            changed
        });
    }

    /// The gratuitous frames for `addr` on `name`: ARP request and reply, or unsolicited NA.
    fn announce(&self, name: &str, addr: IpAddr) {
        let Some(link) = self.links.get(name) else {
            return;
        };
        let mac = link.mac;
        let frames = match addr {
            IpAddr::V4(ip) => vec![
                ArpPacket::gratuitous_request(mac, ip).to_frame(MacAddr::BROADCAST, None),
                ArpPacket::gratuitous_reply(mac, ip).to_frame(MacAddr::BROADCAST, None),
            ],
            IpAddr::V6(ip) => {
                vec![NdpPacket::unsolicited_advert(ip, mac).to_frame(mac, None, None)]
            }
        };
        for frame in frames {
            match send_frame(link.socket.as_raw_fd(), link.index, &frame) {
                Ok(()) => drop(
                    self.counters
                        .gratuitous_sent
                        .fetch_add(1, Ordering::Relaxed),
                ),
                Err(e) => {
                    self.counters.ignore("send_error");
                    tracing::warn!(interface = %name, address = %addr, error = %e, "L2: gratuitous send failed");
                }
            }
        }
    }

    fn repeat(&mut self) {
        for (name, addr) in self.schedule.due(self.now()) {
            self.announce(&name, addr);
        }
    }
}

impl Link {
    /// Joins the groups in `want` not joined yet and leaves the others.
    fn join(&mut self, name: &str, want: &BTreeSet<MacAddr>) {
        let fd = self.socket.as_raw_fd();
        for group in self.groups.difference(want) {
            if let Err(e) = membership(fd, self.index, *group, false) {
                tracing::debug!(interface = %name, %group, error = %e, "L2: leaving group failed");
            }
        }
        let mut joined = BTreeSet::new();
        for group in want {
            if self.groups.contains(group) {
                joined.insert(*group);
                continue;
            }
            match membership(fd, self.index, *group, true) {
                Ok(()) => drop(joined.insert(*group)),
                Err(e) => {
                    tracing::warn!(interface = %name, %group, error = %e, "L2: cannot join the solicited-node group")
                }
            }
        }
        self.groups = joined;
    }
}

/// The reader task of one interface: classifies every frame, answers what is owned there.
struct Reader {
    name: String,
    index: u32,
    mac: MacAddr,
    socket: Arc<AsyncFd<OwnedFd>>,
    active: Active,
    counters: Arc<Counters>,
    events: mpsc::UnboundedSender<String>,
}

impl Reader {
    async fn run(self) {
        let mut buf = vec![0u8; 4096];
        loop {
            let mut guard = match self.socket.ready(WAKE).await {
                Ok(g) => g,
                Err(e) => {
                    tracing::error!(interface = %self.name, error = %e, "L2: socket unusable");
                    let _ = self.events.send(self.name.clone());
                    return;
                }
            };
            // A bounded batch, then back to the scheduler.
            for _ in 0..64 {
                match guard.try_io(|fd| recv_frame(fd.as_raw_fd(), &mut buf)) {
                    Err(_would_block) => break,
                    Ok(Ok((n, pkttype))) => {
                        if pkttype != libc::PACKET_OUTGOING {
                            self.handle(buf.get(..n).unwrap_or_default());
                        }
                    }
                    Ok(Err(e)) => {
                        self.counters.ignore("read_error");
                        tracing::warn!(interface = %self.name, error = %e, "L2: read failed");
                        let _ = self.events.send(self.name.clone());
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        break;
                    }
                }
            }
        }
    }

    fn handle(&self, frame: &[u8]) {
        let request = match classify(frame) {
            Ok(r) => r,
            Err(e) => {
                tracing::trace!(interface = %self.name, reason = %e, "L2: frame ignored");
                return self.counters.ignore(e.label());
            }
        };
        let target = match request {
            Request::Arp(r) => IpAddr::V4(r.target),
            Request::Ns(r) => IpAddr::V6(r.target),
        };
        // The read lock is held over the send: once `store` has removed an address, no answer
        // for it leaves.
        let active = self.active.read().unwrap_or_else(|p| p.into_inner());
        if let Some(label) = answer::lookup(&active, &self.name, target).label() {
            return self.counters.ignore(label);
        }
        match send_frame(
            self.socket.as_raw_fd(),
            self.index,
            &request.answer(self.mac),
        ) {
            Ok(()) => drop(self.counters.answered.fetch_add(1, Ordering::Relaxed)),
            Err(e) => {
                self.counters.ignore("send_error");
                tracing::debug!(interface = %self.name, %target, error = %e, "L2: answer not sent");
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    let len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `value` points to a live T of `len` bytes for the duration of the call.
    let ret = unsafe { libc::setsockopt(fd, level, name, (value as *const T).cast(), len) };
    cvt(ret).map(drop)
}

/// The classic BPF program: accept ARP, and IPv6 whose next header is ICMPv6; drop the rest.
fn filter() -> [libc::sock_filter; 7] {
    let op = |code: u32, jt: u8, jf: u8, k: u32| libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    let (ldh, ldb, jeq, ret) = (
        libc::BPF_LD | libc::BPF_H | libc::BPF_ABS,
        libc::BPF_LD | libc::BPF_B | libc::BPF_ABS,
        libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
        libc::BPF_RET | libc::BPF_K,
    );
    [
        op(ldh, 0, 0, 12),                         // 0: EtherType
        op(jeq, 4, 0, u32::from(EtherType::ARP)),  // 1: ARP → accept
        op(jeq, 0, 2, u32::from(EtherType::IPV6)), // 2: not IPv6 → drop
        op(ldb, 0, 0, 14 + 6),                     // 3: IPv6 Next Header
        op(jeq, 1, 0, 58),                         // 4: ICMPv6 → accept
        op(ret, 0, 0, 0),                          // 5: drop
        op(ret, 0, 0, 0x0004_0000),                // 6: accept (whole frame)
    ]
}

/// A non-blocking packet socket on interface `index` that sees only what [`filter`] passes.
fn packet_socket(index: u32) -> io::Result<OwnedFd> {
    let kind = libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // Protocol 0: nothing is queued before the filter is attached and the bind names ETH_P_ALL.
    // SAFETY: plain syscall; the fd is owned from here on.
    let fd = unsafe { OwnedFd::from_raw_fd(cvt(libc::socket(libc::AF_PACKET, kind, 0))?) };
    let program = filter();
    let prog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr().cast_mut(),
    };
    setsockopt(
        fd.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_ATTACH_FILTER,
        &prog,
    )?;
    // Best effort (Linux 4.20+); the reader skips PACKET_OUTGOING either way.
    let _ = setsockopt(
        fd.as_raw_fd(),
        libc::SOL_PACKET,
        libc::PACKET_IGNORE_OUTGOING,
        &1 as &libc::c_int,
    );
    let mut sll = sockaddr_ll(index);
    sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `sll` is a valid sockaddr_ll of `len` bytes.
    let ret = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            len,
        )
    };
    cvt(ret)?;
    Ok(fd)
}

fn sockaddr_ll(index: u32) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain data; all zeroes is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_ifindex = index as libc::c_int;
    sll
}

fn membership(fd: RawFd, index: u32, group: MacAddr, join: bool) -> io::Result<()> {
    // SAFETY: packet_mreq is plain data; all zeroes is a valid value.
    let mut mreq: libc::packet_mreq = unsafe { std::mem::zeroed() };
    mreq.mr_ifindex = index as libc::c_int;
    mreq.mr_type = libc::PACKET_MR_MULTICAST as u16;
    mreq.mr_alen = 6;
    mreq.mr_address[..6].copy_from_slice(&group.0);
    let name = if join {
        libc::PACKET_ADD_MEMBERSHIP
    } else {
        libc::PACKET_DROP_MEMBERSHIP
    };
    setsockopt(fd, libc::SOL_PACKET, name, &mreq)
}

/// Receives one frame: its length and packet type (`PACKET_HOST`, `PACKET_OUTGOING`, ...).
fn recv_frame(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, u8)> {
    let mut from = sockaddr_ll(0);
    let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `buf` and `from` are valid for writes of the lengths given.
    let n = unsafe {
        libc::recvfrom(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            0,
            (&mut from as *mut libc::sockaddr_ll).cast(),
            &mut len,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((n as usize, from.sll_pkttype))
}

/// Sends one whole Ethernet frame out of interface `index`.
fn send_frame(fd: RawFd, index: u32, frame: &[u8]) -> io::Result<()> {
    let (Some(dst), Some(ethertype)) = (frame.get(..6), frame.get(12..14)) else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "short frame"));
    };
    let mut to = sockaddr_ll(index);
    to.sll_protocol = u16::from_ne_bytes([ethertype[0], ethertype[1]]);
    to.sll_halen = 6;
    to.sll_addr[..6].copy_from_slice(dst);
    let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `frame` and `to` are valid for reads of the lengths given.
    let n = unsafe {
        libc::sendto(
            fd,
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (&to as *const libc::sockaddr_ll).cast(),
            len,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Every interface of the caller's network namespace, with MAC, flags and subnets.
fn list_interfaces() -> io::Result<Vec<InterfaceInfo>> {
    let mut nets: BTreeMap<String, Vec<IpNet>> = BTreeMap::new();
    for i in if_addrs::get_if_addrs()? {
        let net = match &i.addr {
            if_addrs::IfAddr::V4(a) => IpNet::new(IpAddr::V4(a.ip), a.prefixlen),
            if_addrs::IfAddr::V6(a) => IpNet::new(IpAddr::V6(a.ip), a.prefixlen),
        };
        if let Ok(net) = net {
            nets.entry(i.name).or_default().push(net.trunc());
        }
    }
    // SAFETY: plain syscall; the fd is owned from here on.
    let probe = unsafe {
        OwnedFd::from_raw_fd(cvt(libc::socket(
            libc::AF_INET,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            0,
        ))?)
    };
    let mut out = Vec::new();
    for (index, name) in name_index()? {
        let Ok((flags, mac, ethernet)) = link_info(probe.as_raw_fd(), &name) else {
            continue; // gone between the two reads
        };
        out.push(InterfaceInfo {
            nets: nets.remove(&name).unwrap_or_default(),
            name,
            index,
            mac,
            up: flags & libc::IFF_UP != 0,
            loopback: flags & libc::IFF_LOOPBACK != 0,
            ethernet,
        });
    }
    Ok(out)
}

/// `if_nameindex(3)`: (index, name) of every interface.
fn name_index() -> io::Result<Vec<(u32, String)>> {
    // SAFETY: if_nameindex returns an array ended by a zero entry, freed below.
    unsafe {
        let head = libc::if_nameindex();
        if head.is_null() {
            return Err(io::Error::last_os_error());
        }
        let mut out = Vec::new();
        let mut p = head;
        while (*p).if_index != 0 && !(*p).if_name.is_null() {
            let name = std::ffi::CStr::from_ptr((*p).if_name);
            out.push(((*p).if_index, name.to_string_lossy().into_owned()));
            p = p.add(1);
        }
        libc::if_freenameindex(head);
        Ok(out)
    }
}

/// Flags (`SIOCGIFFLAGS`) and hardware address (`SIOCGIFHWADDR`) of `name`, and whether it is
/// Ethernet.
fn link_info(fd: RawFd, name: &str) -> io::Result<(libc::c_int, MacAddr, bool)> {
    // SAFETY: ifreq is plain data; all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.as_bytes();
    if bytes.len() >= req.ifr_name.len() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "name too long"));
    }
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: `req` is a valid ifreq; the kernel fills the union member the request names.
    let (flags, hw) = unsafe {
        cvt(libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req))?;
        let flags = libc::c_int::from(req.ifr_ifru.ifru_flags) & 0xffff;
        cvt(libc::ioctl(fd, libc::SIOCGIFHWADDR, &mut req))?;
        (flags, req.ifr_ifru.ifru_hwaddr)
    };
    let mut mac = [0u8; 6];
    for (dst, src) in mac.iter_mut().zip(hw.sa_data.iter()) {
        *dst = *src as u8;
    }
    Ok((flags, MacAddr(mac), hw.sa_family == libc::ARPHRD_ETHER))
}
