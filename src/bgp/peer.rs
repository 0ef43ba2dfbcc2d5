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

use super::conn::{self, Conn, ConnEvent, EventTx};
use crate::announce::adj_rib_out::AdjRibOut;
use crate::announce::table::RouteTable;
use crate::bfd::socket::BfdStatus;
use crate::bfd::State as BfdState;
use crate::fsm::{
    Action, ConnId, Direction, DownReason, Event, Negotiated, Session, SessionConfig, Timer,
};
use crate::model::{LocalSpec, PeerSpec};
use crate::packet::codec::{self, CodecParams};
use crate::packet::codes::CeaseSubcode;
use crate::packet::message::{Message, Update};
use crate::status::session::{PeerStatus, StatusCell};

mod send;

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
            extended_message: self.peer.extended_messages,
            graceful_restart_time: (gr > 0).then_some(gr),
        }
    }
}

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
    let (events_tx, events_rx) = mpsc::unbounded_channel();
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
        received: BTreeSet::new(),
        established: None,
        draining: false,
        status: status.clone(),
        next_inbound: 0,
        stopping: false,
        down_reason: None,
        bfd,
        bfd_was_up: false,
        held_by_bfd: false,
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
    received: BTreeSet<IpNet>,
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
}

impl PeerTask {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<PeerCommand>,
        mut events: mpsc::UnboundedReceiver<(ConnId, ConnEvent)>,
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
            }
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
            self.feed(Event::TimerExpired(timer));
        }
    }

    fn accepted(&mut self, stream: TcpStream) {
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
                let extended = self.context.peer.extended_messages;
                match Conn::start(id, stream, self.events_tx.clone(), extended) {
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
                tracing::warn!(peer = %self.context.peer.name, notification = %n, "malformed message from peer");
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
                    let task = conn::connect(id, &self.context.peer, self.events_tx.clone());
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
        self.received.clear();
        let hold = self
            .established
            .as_ref()
            .map_or(0, |e| e.negotiated.hold_time);
        let negotiated = (hold, capability_names(&self.established));
        self.status_mut(|s| {
            s.established_since = Some(Instant::now());
            s.negotiated = Some(negotiated);
        });
        self.sync_routes();
        self.send_end_of_rib();
    }

    fn on_update(&mut self, update: &Update) {
        for p in &update.withdrawn {
            self.received.remove(p);
        }
        self.received.extend(update.announced.iter().copied());
        let n = self.received.len();
        self.status_mut(|s| {
            s.prefixes_received = n;
            s.counters.updates_received += 1;
        });
    }

    fn on_down(&mut self, reason: DownReason) {
        let text = match &reason {
            DownReason::NotificationSent(n) => format!("sent NOTIFICATION {n}"),
            DownReason::NotificationReceived(n) => format!("received NOTIFICATION {n}"),
            DownReason::ConnectionClosed => "connection closed".to_string(),
            DownReason::Stopped => "stopped".to_string(),
        };
        tracing::warn!(peer = %self.context.peer.name, reason = %text, "session down");
        self.down_reason = Some(text.clone());
        self.rib.clear();
        self.received.clear();
        self.established = None;
        let received = match &reason {
            DownReason::NotificationReceived(n) => Some((n.code, n.subcode)),
            _ => None,
        };
        self.status_mut(|s| {
            if s.established_since.is_some() {
                s.counters.flaps += 1;
            }
            if let Some(key) = received {
                *s.counters.notifications_received.entry(key).or_default() += 1;
            }
            s.last_error = Some(text);
            s.established_since = None;
            s.negotiated = None;
            s.prefixes_received = 0;
            s.clear_announced();
        });
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
