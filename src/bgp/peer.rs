//! One tokio task per configured peer: it owns the FSM session, the peer's connections, its
//! timers and its Adj-RIB-Out, and turns FSM actions into socket operations.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ipnet::IpNet;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::conn::{self, Conn, ConnEvent, EventRx, EventTx};
use crate::announce::adj_rib_out::AdjRibOut;
use crate::announce::table::RouteTable;
use crate::bfd::socket::BfdStatus;
use crate::bfd::State as BfdState;
use crate::fsm::{Action, ConnId, Direction, Event, Negotiated, Session, SessionConfig, Timer};
use crate::model::{LocalSpec, PeerSpec};
use crate::packet::codec::{self, CodecParams};
use crate::packet::codes::CeaseSubcode;
use crate::packet::message::{ErrorAction, Message, Update};
use crate::status::session::{PeerStatus, StatusCell};
use diagnose::Md5Drops;

mod diagnose;
mod down;
mod malformed;
mod send;

/// NOTIFICATION error code 3 (RFC 4271 §6.3).
const UPDATE_MESSAGE_ERROR: u8 = 3;

/// Everything a peer task needs to know about the local node and the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerContext {
    pub peer: PeerSpec,
    pub local: LocalSpec,
}

impl PeerContext {
    fn session_config(&self) -> SessionConfig {
        let gr = self.local.graceful_restart_time;
        SessionConfig {
            local_asn: self.local.asn,
            peer_asn: self.peer.asn,
            local_router_id: self.local.router_id,
            hold_time: self.peer.hold_time,
            keepalive_time: self.peer.keepalive_time,
            connect_retry: Duration::from_secs(u64::from(self.peer.connect_retry.max(1))),
            passive: self.peer.passive,
            families: self.peer.families.clone(),
            idle_hold_base: Duration::from_secs(1),
            idle_hold_max: Duration::from_secs(60),
            max_prefixes: self.peer.max_prefixes,
            prefix_limit_base: PREFIX_LIMIT_BASE,
            prefix_limit_max: PREFIX_LIMIT_MAX,
            extended_message: self.peer.extended_messages,
            graceful_restart_time: (gr > 0).then_some(gr),
        }
    }
}

/// The wait after a first prefix-limit trip; doubles per consecutive trip.
pub const PREFIX_LIMIT_BASE: Duration = Duration::from_secs(5);
/// The longest wait after prefix-limit trips.
pub const PREFIX_LIMIT_MAX: Duration = Duration::from_secs(300);

/// The announcement table every peer takes its routes from.
pub type Routes = Arc<RouteTable>;

/// Requests to a peer task.
#[derive(Debug)]
pub enum PeerCommand {
    /// The listener accepted a connection from this peer's address.
    Accepted(TcpStream),
    /// The desired routes changed (anything may differ: the whole table is compared).
    SetRoutes(Routes),
    /// The desired routes changed at these prefixes only (the incremental path of a single
    /// service change: O(changes) work instead of a walk over the table).
    ChangeRoutes(Routes, Arc<Vec<IpNet>>),
    /// Graceful shutdown (RFC 8326): re-announce every route with GRACEFUL_SHUTDOWN (and
    /// LOCAL_PREF 0 towards iBGP peers) so traffic moves away before the withdrawal.
    Drain,
    /// Withdraw everything, send Cease with `subcode`, close and end the task.
    Shutdown { subcode: CeaseSubcode },
}

/// The handle the speaker keeps for a running peer task.
#[derive(Debug)]
pub struct PeerHandle {
    pub context: PeerContext,
    pub commands: mpsc::UnboundedSender<PeerCommand>,
    pub status: StatusCell,
    pub task: JoinHandle<()>,
}

/// Starts the task for one peer; `bfd` is the state of its BFD session (`None` while there is
/// none).
pub fn spawn(
    context: PeerContext,
    routes: Routes,
    bfd: watch::Receiver<Option<BfdStatus>>,
) -> PeerHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let status: StatusCell = Arc::new(Mutex::new(PeerStatus::new(&context.peer)));
    let (events_tx, events_rx) = conn::event_channel();
    let task = PeerTask {
        session: Session::new(context.session_config()),
        context: context.clone(),
        epoch: Instant::now(),
        timers: BTreeMap::new(),
        conns: HashMap::new(),
        connecting: HashMap::new(),
        events_tx,
        desired: routes,
        rib: AdjRibOut::default(),
        established: None,
        draining: false,
        status: status.clone(),
        next_inbound: 0,
        stopping: false,
        down_reason: None,
        bfd,
        bfd_was_up: false,
        held_by_bfd: false,
        logged_errors: BTreeSet::new(),
        check_at: Instant::now() + diagnose::CHECK_EVERY,
        md5_drops: Md5Drops::read(),
        accepted_since_check: false,
        hinted: None,
    };
    let join = tokio::spawn(task.run(rx, events_rx));
    PeerHandle {
        context,
        commands: tx,
        status,
        task: join,
    }
}

/// The established connection and what it needs for encoding.
#[derive(Debug)]
struct Established {
    conn: ConnId,
    negotiated: Negotiated,
    params: CodecParams,
    local: IpAddr,
}

struct PeerTask {
    context: PeerContext,
    session: Session,
    epoch: Instant,
    timers: BTreeMap<Timer, Duration>,
    conns: HashMap<ConnId, Conn>,
    connecting: HashMap<ConnId, JoinHandle<()>>,
    events_tx: EventTx,
    desired: Routes,
    rib: AdjRibOut,
    established: Option<Established>,
    draining: bool,
    status: StatusCell,
    next_inbound: u64,
    stopping: bool,
    /// Why the session just went down, for the state-change log line that follows.
    down_reason: Option<String>,
    bfd: watch::Receiver<Option<BfdStatus>>,
    /// BFD has been Up since the session (or BFD) started: only then does its failure count.
    bfd_was_up: bool,
    /// The session was torn down by BFD and stays down until BFD is Up again.
    held_by_bfd: bool,
    /// RFC 7606 decisions already logged for this peer (each kind is logged once).
    logged_errors: BTreeSet<(ErrorAction, u8)>,
    /// When a session that is not Established next looks for why (`diagnose`).
    check_at: Instant,
    /// The kernel's TCP MD5 drop counters at the last check.
    md5_drops: Option<Md5Drops>,
    /// A connection from the peer arrived since the last check.
    accepted_since_check: bool,
    /// The last hint logged (digits left out), so a repeated one is not logged again.
    hinted: Option<String>,
}

impl PeerTask {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<PeerCommand>,
        mut events: EventRx,
    ) {
        self.feed(Event::ManualStart);
        self.bfd_changed();
        loop {
            let deadline = self.timers.values().min().map(|d| self.epoch + *d);
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(PeerCommand::Accepted(stream)) => self.accepted(stream),
                    Some(PeerCommand::SetRoutes(routes)) => {
                        self.desired = routes;
                        self.sync_routes();
                    }
                    Some(PeerCommand::ChangeRoutes(routes, changed)) => {
                        self.desired = routes;
                        self.sync_changed(&changed);
                    }
                    Some(PeerCommand::Drain) => {
                        self.draining = true;
                        self.sync_routes();
                    }
                    Some(PeerCommand::Shutdown { subcode }) => {
                        self.shutdown(subcode).await;
                        return;
                    }
                    None => {
                        self.shutdown(CeaseSubcode::AdministrativeShutdown).await;
                        return;
                    }
                },
                Some((id, ev)) = events.recv() => self.conn_event(id, ev),
                Ok(()) = self.bfd.changed() => self.bfd_changed(),
                _ = sleep_until_opt(deadline) => self.fire_timers(),
                _ = tokio::time::sleep_until(self.check_at.into()) => self.check_transport(),
            }
            self.check_send_queues();
        }
    }

    /// RFC 5882 §3.2 / RFC 9384: a BFD session that goes down after being Up tears the BGP
    /// session down at once with Cease/BFD Down and holds it down until BFD is Up again. A BFD
    /// session that has never come up holds nothing (a router without BFD still peers), and a
    /// peer that sets its BFD session AdminDown is not a failure.
    fn bfd_changed(&mut self) {
        let now = *self.bfd.borrow_and_update();
        self.status_mut(|s| s.bfd = now.map(|b| b.state.words().to_string()));
        match now {
            Some(b) if b.state == BfdState::Up => {
                self.bfd_was_up = true;
                if self.held_by_bfd {
                    self.held_by_bfd = false;
                    tracing::info!(peer = %self.context.peer.name, "BFD up: starting the BGP session again");
                    self.feed(Event::ManualStart);
                }
            }
            Some(b) if b.failed() && self.bfd_was_up && !self.held_by_bfd => {
                self.bfd_was_up = false;
                self.held_by_bfd = true;
                tracing::warn!(
                    peer = %self.context.peer.name,
                    bfd = %b.state,
                    diag = %b.diag,
                    "BFD down: closing the BGP session (Cease/BFD down) until BFD is up again"
                );
                self.down_reason = Some(format!("BFD down ({})", b.diag));
                self.feed(Event::ManualStop(CeaseSubcode::BfdDown));
                self.status_mut(|s| {
                    s.last_error = Some(format!("BFD down ({}); waiting for BFD", b.diag))
                });
            }
            None if self.held_by_bfd => {
                self.held_by_bfd = false;
                self.bfd_was_up = false;
                self.feed(Event::ManualStart);
            }
            None => self.bfd_was_up = false,
            Some(_) => {}
        }
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    fn feed(&mut self, event: Event) {
        let now = self.now();
        let actions = self.session.handle(event, now);
        for action in actions {
            self.apply(action);
        }
    }

    fn fire_timers(&mut self) {
        let now = self.now();
        let due: Vec<Timer> = self
            .timers
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(t, _)| *t)
            .collect();
        for timer in due {
            self.timers.remove(&timer);
            if timer == Timer::ConnectRetry && !self.connecting.is_empty() {
                // Our attempt got no answer at all (no RST, no ICMP): say what that may mean.
                let retry = Duration::from_secs(u64::from(self.context.peer.connect_retry.max(1)));
                self.hint(diagnose::connect_timed_out(&self.context.peer, retry));
            }
            self.feed(Event::TimerExpired(timer));
        }
    }

    fn accepted(&mut self, stream: TcpStream) {
        self.accepted_since_check = true;
        // TTL / GTSM of this peer before anything is sent: the listener's are shared by all.
        let ibgp = self.context.peer.is_ibgp(&self.context.local);
        if let Err(e) = conn::prepare_accepted(&stream, &self.context.peer, ibgp) {
            self.hint(format!("connection from the peer closed: {e}"));
            return;
        }
        self.next_inbound += 1;
        let id = ConnId {
            direction: Direction::Inbound,
            seq: self.next_inbound,
        };
        match Conn::start(
            id,
            stream,
            self.events_tx.clone(),
            self.context.peer.extended_messages,
            self.ibgp(),
            self.context.peer.send_queue_limit,
        ) {
            Ok(conn) => {
                tracing::debug!(peer = %self.context.peer.name, remote = %conn.remote, "accepted connection");
                self.conns.insert(id, conn);
                self.feed(Event::TcpAccepted(id));
            }
            Err(e) => {
                tracing::warn!(peer = %self.context.peer.name, error = %e, "accepted connection unusable")
            }
        }
    }

    fn conn_event(&mut self, id: ConnId, event: ConnEvent) {
        match event {
            ConnEvent::Connected(stream) => {
                if self.connecting.remove(&id).is_none() {
                    return; // attempt was abandoned; dropping the stream closes it
                }
                let (extended, limit) = (
                    self.context.peer.extended_messages,
                    self.context.peer.send_queue_limit,
                );
                match Conn::start(
                    id,
                    stream,
                    self.events_tx.clone(),
                    extended,
                    self.ibgp(),
                    limit,
                ) {
                    Ok(conn) => {
                        self.conns.insert(id, conn);
                        self.feed(Event::TcpConnected(id));
                    }
                    Err(e) => self.connect_failed(id, &e),
                }
            }
            ConnEvent::ConnectFailed(e) if self.connecting.remove(&id).is_some() => {
                self.connect_failed(id, &e);
            }
            ConnEvent::Message(msg) if self.conns.contains_key(&id) => {
                self.feed(Event::Received(id, msg))
            }
            ConnEvent::DecodeError(n) if self.conns.contains_key(&id) => {
                let what = malformed::reset_subject(&n);
                tracing::warn!(peer = %self.context.peer.name, notification = %n, attribute = %what, "malformed message from peer: session reset");
                if n.code == UPDATE_MESSAGE_ERROR {
                    self.status_mut(|s| malformed::count(s, "session-reset", what, &n.to_string()));
                }
                self.feed(Event::DecodeError(id, n))
            }
            ConnEvent::Closed(err) if self.conns.contains_key(&id) => {
                if let Some(e) = err {
                    tracing::info!(peer = %self.context.peer.name, error = %e, "connection failed");
                }
                self.feed(Event::TcpFailed(id))
            }
            _ => {} // events of a connection we already closed
        }
    }

    fn connect_failed(&mut self, id: ConnId, e: &std::io::Error) {
        tracing::debug!(peer = %self.context.peer.name, error = %e, "connect failed");
        self.status_mut(|s| s.last_error = Some(format!("connect: {e}")));
        self.feed(Event::TcpFailed(id));
    }

    fn apply(&mut self, action: Action) {
        match action {
            Action::Connect(id) => {
                if !self.stopping {
                    let task =
                        conn::connect(id, &self.context.peer, self.ibgp(), self.events_tx.clone());
                    self.connecting.insert(id, task);
                }
            }
            Action::Send(id, msg) => self.send_message(id, &msg),
            Action::Close(id) => self.close(id),
            Action::ArmTimer(timer, at) => {
                self.timers.insert(timer, at);
            }
            Action::CancelTimer(timer) => {
                self.timers.remove(&timer);
            }
            Action::StateChanged { from, to } => {
                // The FSM reports a session going down before the state it lands in.
                let reason = self.down_reason.take().unwrap_or_else(|| "-".into());
                tracing::info!(peer = %self.context.peer.name, %from, %to, %reason, "session state");
                self.status_mut(|s| s.set_state(to));
            }
            Action::Established(neg) => self.on_established(neg),
            Action::UpdateReceived(update) => self.on_update(&update),
            Action::RouteRefreshRequested(rr) => {
                tracing::info!(peer = %self.context.peer.name, afi = rr.afi, safi = rr.safi, "route refresh requested");
                self.resend_table();
            }
            Action::Down(reason) => self.on_down(reason),
            Action::ReceivedCeiling(n) => tracing::warn!(
                peer = %self.context.peer.name,
                "peer {} announced more than {n} prefixes: counting stops there for this session (the session stays up; set max_prefixes to reset it instead)",
                self.context.peer.name
            ),
        }
    }

    fn send_message(&mut self, id: ConnId, msg: &Message) {
        let params = match &self.established {
            Some(e) if e.conn == id => e.params.clone(),
            _ => CodecParams::default(),
        };
        if let Some(conn) = self.conns.get(&id) {
            let mut out = BytesMut::new();
            codec::encode(msg, &params, &mut out);
            conn.send(out.freeze());
            match msg {
                Message::Notification(n) => self.status_mut(|s| {
                    *s.counters
                        .notifications_sent
                        .entry((n.code, n.subcode))
                        .or_default() += 1
                }),
                Message::Update(_) => self.count_updates(1),
                _ => {}
            }
        }
    }

    fn count_updates(&self, n: usize) {
        self.status_mut(|s| s.counters.updates_sent += n as u64);
    }

    fn close(&mut self, id: ConnId) {
        if let Some(task) = self.connecting.remove(&id) {
            task.abort();
        }
        if let Some(conn) = self.conns.remove(&id) {
            // The writer task flushes and closes on its own; nobody needs to wait for it here.
            drop(conn.close());
        }
        if self.established.as_ref().is_some_and(|e| e.conn == id) {
            self.established = None;
        }
    }

    fn on_established(&mut self, negotiated: Negotiated) {
        let Some(conn) = self.conns.get(&negotiated.conn) else {
            return;
        };
        let params = CodecParams {
            four_octet_as: negotiated.four_octet_as,
            max_message_len: if negotiated.extended_message {
                codec::MAX_EXTENDED_MESSAGE_LEN
            } else {
                codec::MAX_MESSAGE_LEN
            },
            ibgp: self.ibgp(),
        };
        tracing::info!(
            peer = %self.context.peer.name,
            remote = %conn.remote,
            hold = negotiated.hold_time,
            families = ?negotiated.families,
            extended_message = negotiated.extended_message,
            peer_graceful_restart = negotiated.peer_graceful_restart.is_some(),
            "session established"
        );
        let local = unmap(conn.local.ip());
        self.established = Some(Established {
            conn: negotiated.conn,
            negotiated,
            params,
            local,
        });
        self.rib.clear();
        self.hinted = None;
        let hold = self
            .established
            .as_ref()
            .map_or(0, |e| e.negotiated.hold_time);
        let negotiated = (hold, capability_names(&self.established));
        self.status_mut(|s| {
            s.established_since = Some(Instant::now());
            s.negotiated = Some(negotiated);
        });
        // The whole-table dump is queued at once; the send queue limit comes on top of it.
        let queue = self
            .established
            .as_ref()
            .and_then(|e| self.conns.get(&e.conn))
            .map(|c| c.queue.clone());
        let base = queue.as_ref().map_or(0, |q| q.limit());
        if let Some(q) = &queue {
            q.set_limit(usize::MAX);
        }
        self.sync_routes();
        self.send_end_of_rib();
        if let Some(q) = &queue {
            q.set_limit(base.saturating_add(q.queued()));
        }
    }

    fn on_update(&mut self, update: &Update) {
        if !update.errors.is_empty() {
            self.update_errors(update);
        }
        let n = self.session.prefixes_received();
        self.status_mut(|s| {
            s.prefixes_received = n;
            s.counters.updates_received += 1;
        });
    }

    /// RFC 7606 decisions short of a reset: each (action, attribute) is logged once per peer
    /// and counted every time (`/status` `update_errors`, `ferrolb_bgp_update_errors_total`).
    fn update_errors(&mut self, update: &Update) {
        for e in &update.errors {
            let attribute = e.attribute_name();
            if self.logged_errors.insert((e.action, e.attribute)) {
                tracing::warn!(
                    peer = %self.context.peer.name,
                    action = e.action.words(),
                    attribute = %attribute,
                    reason = e.reason,
                    withdrawn = update.withdrawn.len(),
                    "malformed UPDATE attribute (RFC 7606); the session stays up, further ones are only counted"
                );
            }
            self.status_mut(|s| malformed::count(s, e.action.words(), attribute, e.reason));
        }
    }

    /// The peer is in our AS.
    fn ibgp(&self) -> bool {
        self.context.peer.is_ibgp(&self.context.local)
    }

    fn status_mut(&self, f: impl FnOnce(&mut PeerStatus)) {
        f(&mut crate::sync::lock(
            &self.status,
            crate::status::session::CELL,
        ));
    }
}

impl PeerTask {
    /// Withdraws everything, sends Cease and waits (bounded) for the bytes to leave.
    async fn shutdown(&mut self, subcode: CeaseSubcode) {
        self.stopping = true;
        let sent: Vec<IpNet> = self.rib.sent().keys().copied().collect();
        self.send_withdraw(&sent);
        self.rib.clear();
        self.status_mut(PeerStatus::clear_announced);
        let now = self.now();
        let mut writers = Vec::new();
        let actions = self.session.handle(Event::ManualStop(subcode), now);
        for action in actions {
            match action {
                Action::Close(id) => {
                    if let Some(conn) = self.conns.remove(&id) {
                        writers.push(conn.close());
                    }
                }
                other => self.apply(other),
            }
        }
        for (_, conn) in self.conns.drain() {
            writers.push(conn.close());
        }
        for (_, task) in self.connecting.drain() {
            task.abort();
        }
        for w in writers {
            let _ = tokio::time::timeout(Duration::from_secs(3), w).await;
        }
    }
}

/// The capabilities a session negotiated, by name, for `/status`.
fn capability_names(est: &Option<Established>) -> Vec<String> {
    let Some(n) = est.as_ref().map(|e| &e.negotiated) else {
        return Vec::new();
    };
    let mut out: Vec<String> = n.families.iter().map(|f| format!("mp-{f}")).collect();
    let flags = [
        (n.four_octet_as, "four-octet-as"),
        (n.route_refresh, "route-refresh"),
        (n.extended_message, "extended-message"),
        (n.peer_graceful_restart.is_some(), "graceful-restart"),
    ];
    out.extend(
        flags
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, name)| name.to_string()),
    );
    out
}

/// Maps an IPv4-mapped IPv6 address back to IPv4.
pub fn unmap(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(addr),
        v4 => v4,
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
