//! The per-peer session state machine: RFC 4271 §8 for one configured peer, including collision
//! handling (§6.8) and the automatic-restart back-off (§8.1.1, DampPeerOscillations).
//!
//! Each TCP connection has its own phase; the session's RFC state is derived from them (the most
//! advanced connection wins), so a collision is simply two connections until §6.8 closes one.
//! Back-off: after a failure the session waits in Idle for `idle_hold_base * 2^(n-1)` (capped at
//! `idle_hold_max`) where n counts consecutive failures; a session that stayed Established for
//! at least `min(idle_hold_max, STABLE)` (10 s) resets n, so a peer that restarts now and then
//! is back after `idle_hold_base`, while one that fails right after coming up backs off.
//!
//! Prefix limit: more than `max_prefixes` received sends Cease/Maximum Number of Prefixes
//! Reached (6/1, RFC 4486, data AFI, SAFI, limit) and waits `prefix_limit_base * 2^(t-1)`
//! (capped at `prefix_limit_max`) where t counts consecutive trips; a session that stayed up
//! `STABLE` and ended for another reason resets t.

use std::collections::BTreeMap;
use std::time::Duration;

use super::received::{Received, RECEIVED_CEILING};
use super::{
    Action, ConnId, Direction, DownReason, Event, Negotiated, SessionConfig, State, Timer,
};
use crate::packet::codes::{CeaseSubcode, FsmSubcode};
use crate::packet::message::{Family, Message, Notification, Open, Update};

/// The hold timer used until OPENs are exchanged (RFC 4271 §8.2.2 suggests 4 minutes).
pub const LARGE_HOLD: Duration = Duration::from_secs(240);
/// Time Established after which the next failure starts the back-off afresh (at most
/// `idle_hold_max`).
pub const STABLE: Duration = Duration::from_secs(10);

/// Where one TCP connection is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Outgoing attempt in flight.
    Pending,
    OpenSent,
    OpenConfirm(Open),
    Established(Open),
}

/// One BGP session: all of RFC 4271 §8 for one configured peer, including collision handling.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    state: State,
    /// Started and not waiting in Idle.
    running: bool,
    /// Restart automatically after a failure (false after ManualStop).
    auto_restart: bool,
    conns: BTreeMap<ConnId, Phase>,
    /// The connection whose hold timer is `Timer::Hold`; others use `CollisionHold`.
    primary: Option<ConnId>,
    next_seq: u64,
    connect_retry_counter: u32,
    failures: u32,
    /// Consecutive prefix-limit trips driving the prefix-limit back-off.
    prefix_trips: u32,
    /// What the peer announced on the Established connection.
    received: Received,
    established_at: Option<Duration>,
    /// Set once the session first reached Established; until then our OPEN carries the
    /// graceful restart R bit (this process has just (re)started).
    was_established: bool,
    negotiated: Option<Negotiated>,
    /// The time of the event being handled.
    now: Duration,
    out: Vec<Action>,
}

impl Session {
    /// A session in Idle.
    pub fn new(config: SessionConfig) -> Session {
        Session {
            config,
            state: State::Idle,
            running: false,
            auto_restart: false,
            conns: BTreeMap::new(),
            primary: None,
            next_seq: 0,
            connect_retry_counter: 0,
            failures: 0,
            prefix_trips: 0,
            received: Received::default(),
            established_at: None,
            was_established: false,
            negotiated: None,
            now: Duration::ZERO,
            out: Vec::new(),
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// What was negotiated, while Established.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    /// The configuration this session runs with.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// RFC 4271 ConnectRetryCounter: failures since the last ManualStart.
    pub fn connect_retry_counter(&self) -> u32 {
        self.connect_retry_counter
    }

    /// Consecutive failures driving the back-off.
    pub fn consecutive_failures(&self) -> u32 {
        self.failures
    }

    /// The delay before the next automatic restart after `failures` consecutive failures.
    pub fn backoff(&self, failures: u32) -> Duration {
        doubling(
            self.config.idle_hold_base,
            self.config.idle_hold_max,
            failures,
        )
    }

    /// The delay before the next attempt after `trips` consecutive prefix-limit trips.
    pub fn prefix_limit_backoff(&self, trips: u32) -> Duration {
        doubling(
            self.config.prefix_limit_base,
            self.config.prefix_limit_max,
            trips,
        )
    }

    /// Consecutive prefix-limit trips.
    pub fn prefix_limit_trips(&self) -> u32 {
        self.prefix_trips
    }

    /// Distinct prefixes the peer has announced on this session (at most the ceiling).
    pub fn prefixes_received(&self) -> usize {
        self.received.len()
    }

    /// Feeds one event at time `now`; returns the actions to carry out, in order.
    pub fn handle(&mut self, event: Event, now: Duration) -> Vec<Action> {
        let before = self.state;
        self.now = now;
        match event {
            Event::ManualStart => self.start(now, true),
            Event::AutomaticStart => self.start(now, false),
            Event::ManualStop(subcode) => self.manual_stop(subcode),
            Event::TimerExpired(t) => self.timer(t, now),
            Event::TcpConnected(id) => self.tcp_connected(id, now),
            Event::TcpAccepted(id) => self.tcp_accepted(id, now),
            Event::TcpFailed(id) => self.tcp_failed(id, now),
            Event::Received(id, msg) => self.received(id, msg, now),
            Event::DecodeError(id, n) => {
                // Events 21, 22, 28: send the codec's NOTIFICATION and drop the connection.
                if self.conns.contains_key(&id) {
                    self.drop_conn(id, Some(n.clone()), now, DownReason::NotificationSent(n));
                }
            }
            Event::SendQueueFull(id) => {
                if self.conns.contains_key(&id) {
                    self.drop_conn(id, None, now, DownReason::SendQueueFull);
                }
            }
        }
        self.update_state(before);
        std::mem::take(&mut self.out)
    }

    fn update_state(&mut self, before: State) {
        let derived = self.derive_state();
        self.state = derived;
        if derived != before {
            self.out.push(Action::StateChanged {
                from: before,
                to: derived,
            });
        }
    }

    fn derive_state(&self) -> State {
        if !self.running {
            return State::Idle;
        }
        // Connect while our attempt is in flight, Active otherwise; the most advanced
        // connection wins.
        let rank = |p: &Phase| match p {
            Phase::Pending => (1, State::Connect),
            Phase::OpenSent => (2, State::OpenSent),
            Phase::OpenConfirm(_) => (3, State::OpenConfirm),
            Phase::Established(_) => (4, State::Established),
        };
        self.conns
            .values()
            .map(rank)
            .max_by_key(|(r, _)| *r)
            .map_or(State::Active, |(_, s)| s)
    }

    /// Events 1 and 3 (5 when passive).
    fn start(&mut self, now: Duration, manual: bool) {
        if self.running {
            return; // non-Idle states ignore start events
        }
        if manual {
            self.connect_retry_counter = 0;
            self.failures = 0;
            self.prefix_trips = 0;
        }
        self.running = true;
        self.auto_restart = true;
        self.cancel(Timer::IdleHold);
        if self.config.passive {
            return; // Active: wait for the peer (Event 5 PassiveTcpEstablishment)
        }
        self.connect(now);
    }

    fn connect(&mut self, now: Duration) {
        self.next_seq += 1;
        let id = ConnId {
            direction: Direction::Outbound,
            seq: self.next_seq,
        };
        self.conns.insert(id, Phase::Pending);
        self.out.push(Action::Connect(id));
        self.arm(Timer::ConnectRetry, now + self.config.connect_retry);
    }

    /// Event 2: Cease with `subcode` on every open connection, everything closed, no restart.
    fn manual_stop(&mut self, subcode: CeaseSubcode) {
        let was_running = self.running;
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in ids {
            if self.conns.get(&id) != Some(&Phase::Pending) {
                self.send(id, Message::Notification(Notification::cease(subcode)));
            }
            self.close(id);
        }
        for t in [
            Timer::ConnectRetry,
            Timer::Hold,
            Timer::Keepalive,
            Timer::IdleHold,
        ] {
            self.cancel(t);
        }
        self.running = false;
        self.auto_restart = false;
        self.connect_retry_counter = 0;
        self.received.clear();
        self.negotiated = None;
        self.established_at = None;
        if was_running {
            self.out.push(Action::Down(DownReason::Stopped));
        }
    }

    fn timer(&mut self, timer: Timer, now: Duration) {
        match timer {
            // Event 9.
            Timer::ConnectRetry if self.running && !self.has_open_conn() => {
                let pending: Vec<ConnId> = self.pending_ids();
                pending.into_iter().for_each(|id| self.close(id));
                if !self.config.passive {
                    self.connect(now);
                }
            }
            // Event 10: NOTIFICATION 4/0.
            Timer::Hold => {
                if let Some(id) = self.primary {
                    let n = Notification::hold_timer_expired();
                    self.drop_conn(id, Some(n.clone()), now, DownReason::NotificationSent(n));
                }
            }
            Timer::CollisionHold(id) if self.conns.contains_key(&id) => {
                let n = Notification::hold_timer_expired();
                self.drop_conn(id, Some(n.clone()), now, DownReason::NotificationSent(n));
            }
            // Event 11.
            Timer::Keepalive => self.keepalive_expired(now),
            // Event 13: automatic restart after the back-off.
            Timer::IdleHold if !self.running && self.auto_restart => self.start(now, false),
            _ => {}
        }
    }

    fn keepalive_expired(&mut self, now: Duration) {
        let live = self.conns.iter().find_map(|(id, p)| match p {
            Phase::OpenConfirm(_) | Phase::Established(_) => Some(*id),
            _ => None,
        });
        if let (Some(id), Some(ka)) = (live, self.keepalive_interval()) {
            self.send(id, Message::Keepalive);
            self.arm(Timer::Keepalive, now + ka);
        }
    }

    /// Events 16/17 for our own attempt.
    fn tcp_connected(&mut self, id: ConnId, now: Duration) {
        match self.conns.get(&id) {
            Some(Phase::Pending) if self.running && !self.is_established() => {
                self.cancel(Timer::ConnectRetry);
                self.open_conn(id, now);
            }
            Some(Phase::Pending) => self.close(id),
            Some(_) => {} // a duplicate report for a connection already in use
            None => self.out.push(Action::Close(id)), // an attempt we abandoned
        }
    }

    /// Event 17 for a connection the peer opened.
    fn tcp_accepted(&mut self, id: ConnId, now: Duration) {
        if self.conns.contains_key(&id) {
            return; // the runtime never reuses an id; ignore a duplicate report
        }
        if !self.running {
            self.out.push(Action::Close(id));
            return;
        }
        if self.is_established() {
            // §6.8: a collision with an Established session closes the new connection.
            self.out.push(Action::Send(
                id,
                Message::Notification(Notification::cease(
                    CeaseSubcode::ConnectionCollisionResolution,
                )),
            ));
            self.out.push(Action::Close(id));
            return;
        }
        // Connect state + TcpConnectionConfirmed: the peer's connection replaces our attempt.
        for p in self.pending_ids() {
            self.close(p);
        }
        self.cancel(Timer::ConnectRetry);
        self.conns.insert(id, Phase::Pending);
        self.open_conn(id, now);
    }

    /// Sends our OPEN on a new connection and arms its (large) hold timer.
    fn open_conn(&mut self, id: ConnId, now: Duration) {
        self.conns.insert(id, Phase::OpenSent);
        if self.primary.is_none() {
            self.primary = Some(id);
        }
        self.send(id, Message::Open(self.our_open()));
        self.arm(self.hold_timer_of(id), now + LARGE_HOLD);
    }

    /// Event 18.
    fn tcp_failed(&mut self, id: ConnId, now: Duration) {
        match self.conns.get(&id) {
            None => {}
            Some(Phase::Pending) => {
                // Connect + TcpConnectionFails: Active, retry when ConnectRetryTimer expires.
                self.conns.remove(&id);
                self.out.push(Action::Close(id));
                self.connect_retry_counter = self.connect_retry_counter.saturating_add(1);
            }
            Some(_) => self.drop_conn(id, None, now, DownReason::ConnectionClosed),
        }
    }

    /// Events 19, 25, 26, 27 and ROUTE-REFRESH, by connection phase.
    fn received(&mut self, id: ConnId, msg: Message, now: Duration) {
        let Some(phase) = self.conns.get(&id).cloned() else {
            return;
        };
        if let Message::Notification(n) = msg {
            // Event 25 in any state: close, no NOTIFICATION back.
            self.drop_conn(id, None, now, DownReason::NotificationReceived(n));
            return;
        }
        match (phase, msg) {
            (Phase::OpenSent, Message::Open(open)) => self.open_received(id, open, now),
            (Phase::OpenConfirm(open), Message::Keepalive) => self.establish(id, open, now),
            (Phase::Established(_), Message::Keepalive) => self.restart_hold(id, now),
            (Phase::Established(_), Message::Update(u)) => {
                self.restart_hold(id, now);
                self.update_received(id, u, now);
            }
            (Phase::Established(_), Message::RouteRefresh(rr)) => {
                self.restart_hold(id, now);
                self.out.push(Action::RouteRefreshRequested(rr));
            }
            (Phase::Pending, _) => {}
            (phase, _) => {
                // RFC 6608: unexpected message, subcode by state.
                let sub = match phase {
                    Phase::OpenSent => FsmSubcode::OpenSent,
                    Phase::OpenConfirm(_) => FsmSubcode::OpenConfirm,
                    _ => FsmSubcode::Established,
                };
                let n = Notification::fsm(sub);
                self.drop_conn(id, Some(n.clone()), now, DownReason::NotificationSent(n));
            }
        }
    }
}

impl Session {
    /// Counts what an UPDATE announced and enforces `max_prefixes`.
    fn update_received(&mut self, id: ConnId, update: Update, now: Duration) {
        let applied = self.received.apply(&update, RECEIVED_CEILING);
        self.out.push(Action::UpdateReceived(update));
        if applied.ceiling_reached {
            self.out.push(Action::ReceivedCeiling(self.received.len()));
        }
        let limit = self.config.max_prefixes;
        let received = self.received.len();
        if limit == 0 || received <= limit as usize {
            return;
        }
        // RFC 4486 §4: the data is AFI, SAFI and the upper bound.
        let family = applied.family.unwrap_or(Family::Ipv4Unicast);
        let (afi, safi) = family.afi_safi();
        let mut data = afi.to_be_bytes().to_vec();
        data.push(safi);
        data.extend_from_slice(&limit.to_be_bytes());
        let n = Notification::cease(CeaseSubcode::MaximumPrefixesReached).with_data(data);
        let reason = DownReason::PrefixLimit {
            limit,
            received,
            notification: n.clone(),
        };
        self.drop_conn(id, Some(n), now, reason);
    }
}

/// `base * 2^(n-1)`, at most `max`.
fn doubling(base: Duration, max: Duration, n: u32) -> Duration {
    let shift = n.saturating_sub(1).min(20);
    base.saturating_mul(1u32 << shift).min(max)
}

mod open_handling;
