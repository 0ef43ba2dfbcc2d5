//! BFD session tests on virtual time: two sessions wired to each other through a small in-test
//! network (every packet goes through `emit` and `parse`), and scripted single sessions where an
//! exact deadline is asserted.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::time::Duration;

use super::*;

mod properties;
mod scenarios;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn discr(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).expect("test discriminators are nonzero")
}

fn config(tx_ms: u64, rx_ms: u64, mult: u8) -> SessionConfig {
    SessionConfig {
        desired_min_tx: ms(tx_ms),
        required_min_rx: ms(rx_ms),
        detect_mult: mult,
        passive: false,
    }
}

fn passive(mut c: SessionConfig) -> SessionConfig {
    c.passive = true;
    c
}

/// One end of the test network: its session, its armed timers, and what it did.
struct Side {
    s: Session,
    timers: BTreeMap<Timer, Duration>,
    sent: Vec<(Duration, ControlPacket)>,
    changes: Vec<(Duration, State, State, Diag)>,
    /// Every ArmTimer(Detect, at) with the time it was asked for.
    detect_armed: Vec<(Duration, Duration)>,
}

/// Two sessions joined by a link with a fixed one-way delay, run on virtual time.
struct Net {
    now: Duration,
    delay: Duration,
    sides: [Side; 2],
    /// (arrival, to, packet)
    in_flight: Vec<(Duration, usize, ControlPacket)>,
    /// Packets from side i are lost while `cut[i]`.
    cut: [bool; 2],
    /// Packets from side i with the F bit are lost while `drop_final[i]`.
    drop_final: [bool; 2],
}

impl Net {
    fn new(a: SessionConfig, b: SessionConfig) -> Net {
        let (sa, aa) = Session::new(a, discr(0x0a), 1, Duration::ZERO);
        let (sb, ab) = Session::new(b, discr(0x0b), 2, Duration::ZERO);
        let side = |s| Side {
            s,
            timers: BTreeMap::new(),
            sent: Vec::new(),
            changes: Vec::new(),
            detect_armed: Vec::new(),
        };
        let mut net = Net {
            now: Duration::ZERO,
            delay: ms(1),
            sides: [side(sa), side(sb)],
            in_flight: Vec::new(),
            cut: [false; 2],
            drop_final: [false; 2],
        };
        net.apply(0, aa);
        net.apply(1, ab);
        net
    }

    fn a(&self) -> &Session {
        &self.sides[0].s
    }

    fn b(&self) -> &Session {
        &self.sides[1].s
    }

    fn apply(&mut self, i: usize, actions: Vec<Action>) {
        for action in actions {
            let side = &mut self.sides[i];
            match action {
                Action::Send(p) => {
                    side.sent.push((self.now, p));
                    let lost = self.cut[i] || (self.drop_final[i] && p.final_);
                    if !lost {
                        // Through the wire format, as the runtime will.
                        let back = ControlPacket::parse(&p.to_bytes()).expect("we emit valid");
                        self.in_flight.push((self.now + self.delay, 1 - i, back));
                    }
                }
                Action::ArmTimer(t, at) => {
                    assert!(at >= self.now, "{t:?} armed in the past");
                    if t == Timer::Detect {
                        side.detect_armed.push((self.now, at));
                    }
                    side.timers.insert(t, at);
                }
                Action::CancelTimer(t) => {
                    side.timers.remove(&t);
                }
                Action::StateChanged { from, to, diag } => {
                    assert_eq!(to, side.s.state());
                    side.changes.push((self.now, from, to, diag));
                }
            }
        }
    }

    /// Feeds an event to side `i` now.
    fn event(&mut self, i: usize, e: Event) {
        let actions = self.sides[i].s.handle(e, self.now);
        self.apply(i, actions);
    }

    /// The earliest pending thing: packets first at equal times.
    fn next(&self) -> Option<Duration> {
        let packets = self.in_flight.iter().map(|(t, _, _)| *t);
        let timers = self.sides.iter().flat_map(|s| s.timers.values().copied());
        packets.chain(timers).min()
    }

    fn run_until(&mut self, until: Duration) {
        while let Some(t) = self.next().filter(|t| *t <= until) {
            self.now = t;
            if let Some(k) = self.in_flight.iter().position(|(at, _, _)| *at == t) {
                let (_, to, p) = self.in_flight.remove(k);
                self.event(to, Event::Received(p));
                continue;
            }
            for i in 0..2 {
                let due = self.sides[i]
                    .timers
                    .iter()
                    .find(|(_, at)| **at == t)
                    .map(|(timer, _)| *timer);
                if let Some(timer) = due {
                    self.sides[i].timers.remove(&timer);
                    self.event(i, Event::TimerExpired(timer));
                    break;
                }
            }
        }
        self.now = until;
    }

    /// Side i's sends in [from, to).
    fn sent(&self, i: usize, from: Duration, to: Duration) -> Vec<(Duration, ControlPacket)> {
        self.sides[i]
            .sent
            .iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .copied()
            .collect()
    }

    fn changes_after(&self, i: usize, from: Duration) -> Vec<(Duration, State, State, Diag)> {
        self.sides[i]
            .changes
            .iter()
            .filter(|c| c.0 >= from)
            .copied()
            .collect()
    }
}

/// Gaps between consecutive send times.
fn gaps(sent: &[(Duration, ControlPacket)]) -> Vec<Duration> {
    sent.windows(2).map(|w| w[1].0 - w[0].0).collect()
}

/// A session brought Up by hand: the peer (discriminator 0x77) sends Down, then Init.
fn scripted_up(c: SessionConfig) -> (Session, Duration) {
    let (mut s, _) = Session::new(c, discr(1), 9, Duration::ZERO);
    s.handle(Event::Received(peer(State::Down, 0)), ms(10));
    assert_eq!(s.state(), State::Init);
    s.handle(Event::Received(peer(State::Init, 1)), ms(20));
    assert_eq!(s.state(), State::Up);
    (s, ms(20))
}

/// A packet from the peer 0x77 at 1 s / 1 s / 3.
fn peer(state: State, your_discr: u32) -> ControlPacket {
    ControlPacket {
        diag: Diag::NoDiagnostic,
        state,
        poll: false,
        final_: false,
        control_plane_independent: false,
        auth_present: false,
        demand: false,
        multipoint: false,
        detect_mult: 3,
        my_discr: 0x77,
        your_discr,
        desired_min_tx: 1_000_000,
        required_min_rx: 1_000_000,
        required_min_echo_rx: 0,
    }
}

fn sends(actions: &[Action]) -> Vec<ControlPacket> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(p) => Some(*p),
            _ => None,
        })
        .collect()
}

fn armed(actions: &[Action], timer: Timer) -> Option<Duration> {
    actions.iter().rev().find_map(|a| match a {
        Action::ArmTimer(t, at) if *t == timer => Some(*at),
        _ => None,
    })
}
