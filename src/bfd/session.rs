//! One BFD session: the state variables of RFC 5880 §6.8.1, the reception rules of §6.8.6, the
//! timers of §6.8.4 and §6.8.7, and the Poll Sequence of §6.5 / §6.8.3.
//!
//! Choices the RFC leaves open, and what we do:
//! - A Poll Sequence runs only while Up. Outside Up a parameter change takes effect at once
//!   (nothing depends on our detection time then); leaving Up ends a poll in progress.
//! - While a poll runs, the values on the wire are the new ones; the values used locally lag as
//!   §6.8.3 says: an *increase* of DesiredMinTxInterval changes our transmit interval only after
//!   the F, and a *decrease* of RequiredMinRxInterval shortens our detection time only after the
//!   F. The opposite directions are safe and take effect at once.
//! - A change during a poll is carried by the poll's later packets and confirmed by a second
//!   poll started when the first one's F arrives, so each F confirms known values.
//! - A state change, a new poll and a received P each send one packet at once (a P is answered
//!   with F and P clear, §6.8.7), also when the peer asked for no periodic packets (Required Min
//!   RX 0); the periodic timer restarts from that packet.
//! - Detection Time passing (any state but AdminDown) resets bfd.RemoteDiscr to 0 (§6.8.1) and
//!   forgets the peer's other values (RemoteMinRxInterval back to its initial 1 µs), so a
//!   passive session goes quiet again and an active one keeps calling at the slow rate; Init or
//!   Up go Down with diag 1.
//! - bfd.LocalDiag is cleared when the session reaches Up and on AdminUp.
//! - In AdminDown we keep sending (at the slow rate, state AdminDown, diag 7) so the peer learns
//!   it; `Event::Stop` sends one last AdminDown packet and goes silent.

use std::num::NonZeroU32;
use std::time::Duration;

use super::jitter::Jitter;
use super::{Action, ControlPacket, Diag, Event, SessionConfig, State, Timer};

/// §6.8.3: while not Up, DesiredMinTxInterval is at least one second.
pub const SLOW_TX: Duration = Duration::from_secs(1);
/// The initial bfd.RemoteMinRxInterval (§6.8.1).
const INITIAL_REMOTE_MIN_RX: Duration = Duration::from_micros(1);

/// One BFD session (RFC 5880 asynchronous mode, no Demand mode, no Echo, no authentication).
#[derive(Debug, Clone)]
pub struct Session {
    config: SessionConfig,
    /// bfd.SessionState
    state: State,
    /// bfd.RemoteSessionState
    remote_state: State,
    /// bfd.LocalDiscr
    local_discr: u32,
    /// bfd.RemoteDiscr (0 = not known)
    remote_discr: u32,
    /// bfd.LocalDiag
    local_diag: Diag,
    /// bfd.DesiredMinTxInterval: the value we send (slow-start adjusted).
    desired_min_tx: Duration,
    /// bfd.RequiredMinRxInterval: the value we send.
    required_min_rx: Duration,
    /// bfd.RemoteMinRxInterval
    remote_min_rx: Duration,
    /// The peer's last Desired Min TX Interval.
    remote_desired_min_tx: Duration,
    /// bfd.RemoteDemandMode
    remote_demand: bool,
    /// The Diag of the peer's last accepted packet (for logs: why the peer went down).
    remote_diag: Diag,
    /// The peer's last Detect Mult (0 = no packet since the last detection timeout).
    remote_detect_mult: u8,
    /// DesiredMinTxInterval our transmit interval uses (lags `desired_min_tx` during a poll).
    tx_in_use: Duration,
    /// RequiredMinRxInterval our detection time uses (lags `required_min_rx` during a poll).
    rx_in_use: Duration,
    /// A Poll Sequence is in progress: our packets carry P until a packet with F arrives.
    poll_active: bool,
    /// The (DesiredMinTx, RequiredMinRx) the running poll announced.
    polled: (Duration, Duration),
    /// The values changed again while the poll ran: poll again after its F.
    poll_pending: bool,
    /// When the last valid packet arrived (None after a detection timeout).
    last_rx: Option<Duration>,
    /// When we last sent.
    last_tx: Option<Duration>,
    /// The armed Transmit timer: (nominal interval, deadline).
    tx_armed: Option<(Duration, Duration)>,
    /// The armed Detect timer's deadline.
    detect_armed: Option<Duration>,
    /// Something was sent in this step: restart the periodic timer.
    tx_dirty: bool,
    /// Send a packet at the end of this step (state change, poll start).
    send_pending: bool,
    /// Answer a received P with F at the end of this step.
    final_pending: bool,
    /// After `Event::Stop`: ignore everything.
    stopped: bool,
    jitter: Jitter,
    now: Duration,
    out: Vec<Action>,
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

fn from_micros(us: u32) -> Duration {
    Duration::from_micros(u64::from(us))
}

/// Zero intervals and multipliers are not valid on the wire (§6.8.1); we take the smallest.
fn normalized(mut c: SessionConfig) -> SessionConfig {
    c.desired_min_tx = c.desired_min_tx.max(Duration::from_micros(1));
    c.detect_mult = c.detect_mult.max(1);
    c
}

impl Session {
    /// A session in Down. An active session sends its first packet at once; a passive one waits
    /// for the peer (§6.1). `seed` drives the transmit jitter.
    pub fn new(
        config: SessionConfig,
        local_discr: NonZeroU32,
        seed: u64,
        now: Duration,
    ) -> (Session, Vec<Action>) {
        let config = normalized(config);
        let mut s = Session {
            config,
            state: State::Down,
            remote_state: State::Down,
            local_discr: local_discr.get(),
            remote_discr: 0,
            local_diag: Diag::NoDiagnostic,
            desired_min_tx: config.desired_min_tx.max(SLOW_TX),
            required_min_rx: config.required_min_rx,
            remote_min_rx: INITIAL_REMOTE_MIN_RX,
            remote_desired_min_tx: Duration::ZERO,
            remote_demand: false,
            remote_diag: Diag::NoDiagnostic,
            remote_detect_mult: 0,
            tx_in_use: config.desired_min_tx.max(SLOW_TX),
            rx_in_use: config.required_min_rx,
            poll_active: false,
            polled: (Duration::ZERO, Duration::ZERO),
            poll_pending: false,
            last_rx: None,
            last_tx: None,
            tx_armed: None,
            detect_armed: None,
            tx_dirty: false,
            send_pending: true,
            final_pending: false,
            stopped: false,
            jitter: Jitter::new(seed),
            now,
            out: Vec::new(),
        };
        s.finish();
        let actions = std::mem::take(&mut s.out);
        (s, actions)
    }

    /// Feeds one event at time `now`; returns the actions to carry out, in order.
    pub fn handle(&mut self, event: Event, now: Duration) -> Vec<Action> {
        if self.stopped {
            return Vec::new();
        }
        self.now = now;
        match event {
            Event::Received(p) => self.received(&p),
            Event::TimerExpired(Timer::Transmit) => self.transmit_timer(),
            Event::TimerExpired(Timer::Detect) => self.detect_timer(),
            Event::AdminDown => {
                // §6.8.16; packets heard while AdminDown do not count for detection.
                if self.state != State::AdminDown {
                    self.last_rx = None;
                    self.local_diag = Diag::AdministrativelyDown;
                    self.set_state(State::AdminDown);
                }
            }
            Event::AdminUp => {
                if self.state == State::AdminDown {
                    self.local_diag = Diag::NoDiagnostic;
                    self.set_state(State::Down);
                }
            }
            Event::SetConfig(c) => {
                self.config = normalized(c);
                self.refresh_params();
            }
            Event::Stop => self.stop(),
        }
        self.finish();
        std::mem::take(&mut self.out)
    }

    /// bfd.SessionState
    pub fn state(&self) -> State {
        self.state
    }
    /// bfd.RemoteSessionState
    pub fn remote_state(&self) -> State {
        self.remote_state
    }
    /// bfd.LocalDiag
    pub fn local_diag(&self) -> Diag {
        self.local_diag
    }
    /// The Diag the peer last sent.
    pub fn remote_diag(&self) -> Diag {
        self.remote_diag
    }
    /// bfd.LocalDiscr
    pub fn local_discr(&self) -> u32 {
        self.local_discr
    }
    /// bfd.RemoteDiscr (0 = not known)
    pub fn remote_discr(&self) -> u32 {
        self.remote_discr
    }
    /// The parameters in force.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }
    /// A Poll Sequence is in progress.
    pub fn poll_in_progress(&self) -> bool {
        self.poll_active
    }

    /// §6.8.4 (asynchronous mode): the peer's Detect Mult times the greater of our
    /// RequiredMinRxInterval and the peer's last Desired Min TX Interval. None before the first
    /// packet, after a detection timeout, or when we asked for no packets (RequiredMinRx 0).
    pub fn detection_time(&self) -> Option<Duration> {
        if self.remote_detect_mult == 0 || self.rx_in_use.is_zero() {
            return None;
        }
        let agreed = self.rx_in_use.max(self.remote_desired_min_tx);
        Some(agreed.saturating_mul(u32::from(self.remote_detect_mult)))
    }

    /// §6.8.2/§6.8.7: the nominal interval between periodic packets (before jitter): the greater
    /// of our DesiredMinTxInterval and the peer's RequiredMinRxInterval. None when no periodic
    /// packets go out: passive without a peer, the peer asked for none (RemoteMinRx 0), or the
    /// peer is in Demand mode with both sides Up.
    pub fn transmit_interval(&self) -> Option<Duration> {
        let remote_demand_active =
            self.remote_demand && self.state == State::Up && self.remote_state == State::Up;
        if self.stopped || !self.may_send() || self.remote_min_rx.is_zero() || remote_demand_active
        {
            return None;
        }
        Some(self.tx_in_use.max(self.remote_min_rx))
    }

    /// §6.8.7: a passive session sends nothing before it knows the peer's discriminator.
    fn may_send(&self) -> bool {
        !(self.config.passive && self.remote_discr == 0)
    }

    /// §6.8.6, in order. Version and Length were checked by `ControlView`; the runtime checked
    /// TTL and source.
    fn received(&mut self, p: &ControlPacket) {
        if p.detect_mult == 0 || p.multipoint || p.my_discr == 0 {
            return;
        }
        if p.your_discr != 0 && p.your_discr != self.local_discr {
            return;
        }
        if p.your_discr == 0 && !matches!(p.state, State::Down | State::AdminDown) {
            return;
        }
        // bfd.AuthType is zero: a packet with the A bit is discarded.
        if p.auth_present {
            return;
        }
        self.remote_discr = p.my_discr;
        self.remote_state = p.state;
        self.remote_demand = p.demand;
        self.remote_diag = p.diag;
        self.remote_min_rx = from_micros(p.required_min_rx);
        self.remote_desired_min_tx = from_micros(p.desired_min_tx);
        self.remote_detect_mult = p.detect_mult;
        // Required Min Echo RX is ignored: we have no Echo function.
        if p.final_ && self.poll_active {
            self.poll_terminated();
        }
        // The transmit interval (§6.8.2) and detection time (§6.8.4) follow in `finish`.
        if self.state == State::AdminDown {
            return;
        }
        if p.state == State::AdminDown {
            if self.state != State::Down {
                self.local_diag = Diag::NeighborSignaledSessionDown;
                self.set_state(State::Down);
            }
        } else {
            match (self.state, p.state) {
                (State::Down, State::Down) => self.set_state(State::Init),
                (State::Down, State::Init) | (State::Init, State::Init | State::Up) => {
                    self.set_state(State::Up)
                }
                (State::Up, State::Down) => {
                    self.local_diag = Diag::NeighborSignaledSessionDown;
                    self.set_state(State::Down);
                }
                _ => {}
            }
        }
        if p.poll {
            self.final_pending = true;
        }
        self.last_rx = Some(self.now);
    }

    fn transmit_timer(&mut self) {
        if self.tx_armed.take().is_none() {
            return;
        }
        if self.transmit_interval().is_some() {
            self.send(self.poll_active, false);
        }
    }

    fn detect_timer(&mut self) {
        if self.detect_armed.take().is_none() {
            return;
        }
        // §6.8.1: Detection Time without a packet resets bfd.RemoteDiscr; the peer's other
        // values go with it.
        self.last_rx = None;
        self.remote_discr = 0;
        self.remote_state = State::Down;
        self.remote_min_rx = INITIAL_REMOTE_MIN_RX;
        self.remote_desired_min_tx = Duration::ZERO;
        self.remote_detect_mult = 0;
        self.remote_demand = false;
        // §6.8.4: Init or Up with no packet for a Detection Time goes Down, diag 1.
        if matches!(self.state, State::Init | State::Up) {
            self.local_diag = Diag::ControlDetectionTimeExpired;
            self.set_state(State::Down);
        }
    }

    fn stop(&mut self) {
        if self.state != State::AdminDown {
            self.local_diag = Diag::AdministrativelyDown;
            self.set_state(State::AdminDown);
        }
        self.send_pending = false;
        self.final_pending = false;
        if self.may_send() {
            self.send(false, false);
        }
        self.stopped = true;
    }

    fn set_state(&mut self, to: State) {
        let from = self.state;
        if from == to {
            return;
        }
        self.state = to;
        if to == State::Up {
            self.local_diag = Diag::NoDiagnostic;
        }
        if from == State::Up {
            self.poll_active = false;
            self.poll_pending = false;
        }
        self.out.push(Action::StateChanged {
            from,
            to,
            diag: self.local_diag,
        });
        self.send_pending = true;
        self.refresh_params();
    }

    /// The values the configuration and the state ask for (§6.8.3 slow start while not Up).
    fn refresh_params(&mut self) {
        let tx = if self.state == State::Up {
            self.config.desired_min_tx
        } else {
            self.config.desired_min_tx.max(SLOW_TX)
        };
        self.set_params(tx, self.config.required_min_rx);
    }

    /// §6.8.3: a change of DesiredMinTx or RequiredMinRx while Up starts a Poll Sequence.
    fn set_params(&mut self, tx: Duration, rx: Duration) {
        if self.state != State::Up {
            self.desired_min_tx = tx;
            self.required_min_rx = rx;
            self.tx_in_use = tx;
            self.rx_in_use = rx;
            return;
        }
        if (tx, rx) == (self.desired_min_tx, self.required_min_rx) {
            return;
        }
        self.desired_min_tx = tx;
        self.required_min_rx = rx;
        // Faster sending and a longer detection time are safe before the peer confirms.
        self.tx_in_use = self.tx_in_use.min(tx);
        self.rx_in_use = self.rx_in_use.max(rx);
        if self.poll_active {
            self.poll_pending = true;
        } else {
            self.start_poll();
        }
    }

    fn start_poll(&mut self) {
        self.poll_active = true;
        self.poll_pending = false;
        self.polled = (self.desired_min_tx, self.required_min_rx);
        self.send_pending = true;
    }

    /// The peer confirmed the polled values: use them (and no more than them, if they changed
    /// again meanwhile), then poll again for a later change.
    fn poll_terminated(&mut self) {
        self.poll_active = false;
        let (tx, rx) = self.polled;
        self.tx_in_use = self.desired_min_tx.min(tx.max(self.tx_in_use));
        self.rx_in_use = self.required_min_rx.max(rx.min(self.rx_in_use));
        if self.poll_pending && (self.desired_min_tx, self.required_min_rx) != self.polled {
            self.start_poll();
        }
        self.poll_pending = false;
    }

    fn packet(&self, poll: bool, final_: bool) -> ControlPacket {
        ControlPacket {
            diag: self.local_diag,
            state: self.state,
            poll,
            final_,
            // Our BFD shares fate with the control plane.
            control_plane_independent: false,
            auth_present: false,
            demand: false,
            multipoint: false,
            detect_mult: self.config.detect_mult,
            my_discr: self.local_discr,
            your_discr: self.remote_discr,
            desired_min_tx: micros(self.desired_min_tx),
            required_min_rx: micros(self.required_min_rx),
            required_min_echo_rx: 0,
        }
    }

    fn send(&mut self, poll: bool, final_: bool) {
        let p = self.packet(poll, final_);
        self.out.push(Action::Send(p));
        self.last_tx = Some(self.now);
        self.tx_dirty = true;
    }

    /// Sends what this step owes, then brings both timers in line with the state.
    fn finish(&mut self) {
        if !self.stopped {
            let final_sent = self.final_pending;
            if self.final_pending {
                // §6.8.7: at once, whatever the timers, with P clear.
                self.send(false, true);
            }
            if self.send_pending && self.may_send() && (self.poll_active || !final_sent) {
                self.send(self.poll_active, false);
            }
        }
        self.final_pending = false;
        self.send_pending = false;
        self.sync_transmit_timer();
        self.sync_detect_timer();
    }

    fn sync_transmit_timer(&mut self) {
        match self.transmit_interval() {
            None => {
                if self.tx_armed.take().is_some() {
                    self.out.push(Action::CancelTimer(Timer::Transmit));
                }
            }
            Some(interval) => {
                let same = self.tx_armed.is_some_and(|(i, _)| i == interval);
                if !same || self.tx_dirty {
                    let from = self.last_tx.unwrap_or(self.now);
                    let gap = self.jitter.apply(interval, self.config.detect_mult);
                    let at = from.saturating_add(gap).max(self.now);
                    self.tx_armed = Some((interval, at));
                    self.out.push(Action::ArmTimer(Timer::Transmit, at));
                }
            }
        }
        self.tx_dirty = false;
    }

    fn sync_detect_timer(&mut self) {
        let want = match (self.state, self.stopped) {
            (State::AdminDown, _) | (_, true) => None,
            _ => self
                .last_rx
                .zip(self.detection_time())
                .map(|(t, d)| t.saturating_add(d).max(self.now)),
        };
        if want == self.detect_armed {
            return;
        }
        self.detect_armed = want;
        self.out.push(match want {
            Some(at) => Action::ArmTimer(Timer::Detect, at),
            None => Action::CancelTimer(Timer::Detect),
        });
    }
}
