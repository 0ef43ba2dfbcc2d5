//! FSM properties: every state against every event class, and random event sequences checked
//! against the invariants (one Established per handshake, Hold timer armed while a connection is
//! past Connect).

use proptest::prelude::*;

use super::*;

fn event_classes(id: ConnId) -> Vec<Event> {
    vec![
        Event::ManualStart,
        Event::AutomaticStart,
        Event::ManualStop(CeaseSubcode::AdministrativeShutdown),
        Event::TimerExpired(Timer::ConnectRetry),
        Event::TimerExpired(Timer::Hold),
        Event::TimerExpired(Timer::Keepalive),
        Event::TimerExpired(Timer::IdleHold),
        Event::TimerExpired(Timer::CollisionHold(id)),
        Event::TcpConnected(id),
        Event::TcpAccepted(IN1),
        Event::TcpFailed(id),
        Event::Received(id, peer_open(90, [192, 0, 2, 1])),
        Event::Received(id, Message::Keepalive),
        Event::Received(id, Message::Update(Default::default())),
        Event::Received(
            id,
            Message::Notification(Notification::cease(CeaseSubcode::AdministrativeReset)),
        ),
        Event::Received(
            id,
            Message::RouteRefresh(crate::packet::message::RouteRefresh { afi: 1, safi: 1 }),
        ),
        Event::DecodeError(id, Notification::header(HeaderSubcode::BadMessageLength)),
    ]
}

/// Sessions in each of the six states.
fn in_every_state() -> Vec<(State, Session)> {
    let idle = Session::new(config([192, 0, 2, 10], false));
    let mut connect = Session::new(config([192, 0, 2, 10], false));
    connect.handle(Event::ManualStart, secs(0));
    let mut active = Session::new(config([192, 0, 2, 10], true));
    active.handle(Event::ManualStart, secs(0));
    let mut open_sent = Session::new(config([192, 0, 2, 10], false));
    open_sent.handle(Event::ManualStart, secs(0));
    open_sent.handle(Event::TcpConnected(OUT1), secs(0));
    let mut open_confirm = Session::new(config([192, 0, 2, 10], false));
    open_confirm.handle(Event::ManualStart, secs(0));
    open_confirm.handle(Event::TcpConnected(OUT1), secs(0));
    open_confirm.handle(
        Event::Received(OUT1, peer_open(90, [192, 0, 2, 1])),
        secs(0),
    );
    vec![
        (State::Idle, idle),
        (State::Connect, connect),
        (State::Active, active),
        (State::OpenSent, open_sent),
        (State::OpenConfirm, open_confirm),
        (State::Established, established(90)),
    ]
}

#[test]
fn every_state_handles_every_event_class_without_panicking_and_stays_consistent() {
    for (i, event) in event_classes(OUT1).into_iter().enumerate() {
        for (state, mut s) in in_every_state() {
            assert_eq!(s.state(), state);
            let a = s.handle(event.clone(), secs(10));
            let established = a
                .iter()
                .filter(|a| matches!(a, Action::Established(_)))
                .count();
            assert!(established <= 1, "event {i} in {state}");
            if s.state() == State::Idle && state != State::Idle {
                assert!(
                    a.iter().any(|a| matches!(a, Action::Down(_))),
                    "event {i} in {state}: {a:?}"
                );
            }
            if let Some(Action::StateChanged { from, to }) =
                a.iter().find(|a| matches!(a, Action::StateChanged { .. }))
            {
                assert_eq!((*from, *to), (state, s.state()));
            }
        }
    }
}

fn arb_event() -> impl Strategy<Value = Event> {
    let conn = prop_oneof![
        (1u64..4).prop_map(|seq| ConnId {
            direction: Direction::Outbound,
            seq
        }),
        (1u64..3).prop_map(|seq| ConnId {
            direction: Direction::Inbound,
            seq
        }),
    ];
    (0usize..17, conn).prop_map(|(i, id)| {
        let mut evs = event_classes(id);
        if i == 9 {
            Event::TcpAccepted(id)
        } else {
            evs.swap_remove(i)
        }
    })
}

/// Tracks whether the Hold timer is armed across action lists; returns the current answer.
fn hold_armed(state: &mut bool, actions: &[Action]) -> bool {
    for a in actions {
        match a {
            Action::ArmTimer(Timer::Hold, _) => *state = true,
            Action::CancelTimer(Timer::Hold) => *state = false,
            _ => {}
        }
    }
    *state
}

proptest! {
    #[test]
    fn random_event_sequences_keep_the_invariants(events in proptest::collection::vec((arb_event(), 0u64..5), 1..60)) {
        let mut s = Session::new(config([192, 0, 2, 10], false));
        let mut now = secs(0);
        let mut got_open = std::collections::BTreeSet::new();
        let mut got_keepalive_after_open = std::collections::BTreeSet::new();
        let mut armed_at = false;
        for (event, dt) in events {
            now += secs(dt);
            if let Event::Received(id, m) = &event {
                match m {
                    Message::Open(_) => { got_open.insert(*id); }
                    Message::Keepalive if got_open.contains(id) => { got_keepalive_after_open.insert(*id); }
                    _ => {}
                }
            }
            let actions = s.handle(event, now);
            for a in &actions {
                if let Action::Established(n) = a {
                    prop_assert!(got_keepalive_after_open.contains(&n.conn));
                }
            }
            let ups = actions.iter().filter(|a| matches!(a, Action::Established(_))).count();
            prop_assert!(ups <= 1);
            if ups == 1 {
                prop_assert_eq!(s.state(), State::Established);
            }
            prop_assert_eq!(s.state() == State::Established, s.negotiated().is_some());
            if matches!(s.state(), State::OpenSent | State::OpenConfirm | State::Established) {
                let hold = s.negotiated().map_or(90, |n| n.hold_time);
                prop_assert!(hold == 0 || hold_armed(&mut armed_at, &actions));
            } else {
                hold_armed(&mut armed_at, &actions);
            }
        }
    }
}
