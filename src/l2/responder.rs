//! The AF_PACKET responder: answers ARP requests and Neighbor Solicitations for the addresses
//! this node owns, on the interfaces they are owned on, and announces newly owned addresses
//! (gratuitous ARP request and reply, unsolicited NA with Override). The one file of `src/l2`
//! that does I/O; what it decides is in [`super::answer`], what it reads and writes in
//! [`super::wire`]; the raw system calls sit in its child `responder/sys.rs`.
//!
//! - One `AF_PACKET`/`SOCK_RAW` socket per interface in use, bound to its ifindex with
//!   `ETH_P_ALL` and a classic BPF filter (`SO_ATTACH_FILTER`, attached before the bind so no
//!   unfiltered frame is queued) that passes only untagged ARP (0x0806) and untagged IPv6
//!   with next header ICMPv6 (58); a VLAN-tagged frame is the VLAN interface's business, and
//!   an answer from the parent would leave untagged. One socket per interface rather than one per EtherType: one reader, one
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
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::{mpsc, oneshot, watch};

use super::answer::{self, InterfaceInfo, Schedule};
pub use super::answer::{L2Owned, ANY_INTERFACE, GRATUITOUS_REPEATS, GRATUITOUS_SPACING};
use super::wire::{classify, ArpPacket, Ignored, MacAddr, NdpPacket, Request};
use sys::{list_interfaces, membership, packet_socket, recv_frame, send_frame};

mod sys;

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
/// [`Active`]'s name in the log, should it be found poisoned ([`crate::sync`]).
const ACTIVE: &str = "L2 responder addresses";

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
        // A link whose interface went away (or came back with another index or MAC) is closed;
        // then what is no longer wanted stops, before anything new starts.
        self.links.retain(|name, link| {
            interfaces
                .iter()
                .any(|i| &i.name == name && i.index == link.index && i.mac == link.mac)
        });
        let mut active = self.stop_unwanted(&res);
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
        self.warn_once(res.unresolved);
    }

    /// Stops answering what `res` no longer wants (and cancels its repeats), closes the links
    /// nothing is wanted on; returns what is still answered.
    fn stop_unwanted(&mut self, res: &answer::Resolution) -> BTreeMap<String, BTreeSet<IpAddr>> {
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
        active
    }

    /// Logs each unresolved address once per reason.
    fn warn_once(&mut self, unresolved: BTreeMap<IpAddr, String>) {
        for (addr, why) in &unresolved {
            if self.warned.get(addr) != Some(why) {
                tracing::warn!(address = %addr, reason = %why, "L2: address not answered");
            }
        }
        self.warned = unresolved;
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
        crate::sync::read(&self.active, ACTIVE).clone()
    }

    /// Makes `active` what the readers answer and what [`Answering`] says, in one step.
    fn store(
        &self,
        active: &BTreeMap<String, BTreeSet<IpAddr>>,
        unresolved: &BTreeMap<IpAddr, String>,
    ) {
        let mut shared = crate::sync::write(&self.active, ACTIVE);
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
        let active = crate::sync::read(&self.active, ACTIVE);
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
