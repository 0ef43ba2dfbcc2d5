//! Scenarios named after what they show: handshake, detection time, poll sequence, AdminDown,
//! detection timeout, passive role, slow start, jitter.

use super::*;

#[test]
fn the_three_way_handshake_brings_both_sides_up() {
    let mut net = Net::new(config(300, 300, 3), config(300, 300, 3));
    net.run_until(ms(10));
    assert_eq!(net.a().state(), State::Up);
    assert_eq!(net.b().state(), State::Up);
    for i in 0..2 {
        let path: Vec<_> = net.sides[i].changes.iter().map(|c| (c.1, c.2)).collect();
        assert_eq!(
            path,
            [(State::Down, State::Init), (State::Init, State::Up)],
            "side {i}"
        );
    }
    assert_eq!(net.a().remote_discr(), 0x0b);
    assert_eq!(net.b().remote_discr(), 0x0a);
    // Both stay up.
    net.run_until(ms(60_000));
    assert!(net.changes_after(0, ms(10)).is_empty());
    assert!(net.changes_after(1, ms(10)).is_empty());
}

#[test]
fn a_session_in_down_that_hears_init_goes_straight_up() {
    let (mut s, _) = Session::new(config(300, 300, 3), discr(1), 0, Duration::ZERO);
    let a = s.handle(Event::Received(peer(State::Init, 1)), ms(5));
    assert!(a.contains(&Action::StateChanged {
        from: State::Down,
        to: State::Up,
        diag: Diag::NoDiagnostic
    }));
}

#[test]
fn detection_time_is_the_remote_multiplier_times_the_agreed_interval() {
    // Our RequiredMinRx 300 ms; the peer sends Desired Min TX 200 ms with Detect Mult 5:
    // 5 x max(300, 200) = 1.5 s after the packet.
    let (mut s, t) = scripted_up(config(300, 300, 3));
    let p = ControlPacket {
        detect_mult: 5,
        desired_min_tx: 200_000,
        ..peer(State::Up, 1)
    };
    let at = t + ms(100);
    let a = s.handle(Event::Received(p), at);
    assert_eq!(armed(&a, Timer::Detect), Some(at + ms(1_500)));
    assert_eq!(s.detection_time(), Some(ms(1_500)));
    // The peer slower than we ask for: 2 x max(300, 400) = 800 ms.
    let p = ControlPacket {
        detect_mult: 2,
        desired_min_tx: 400_000,
        ..p
    };
    let a = s.handle(Event::Received(p), at + ms(50));
    assert_eq!(armed(&a, Timer::Detect), Some(at + ms(850)));
}

#[test]
fn detection_deadlines_in_the_network_follow_each_received_packet() {
    // A asks for 300 ms, B offers 100 ms with multiplier 5: A's detection time is 1.5 s.
    let mut net = Net::new(config(300, 300, 3), config(100, 100, 5));
    net.run_until(ms(5_000));
    let after_up: Vec<_> = net.sides[0]
        .detect_armed
        .iter()
        .filter(|(t, _)| *t > ms(3_000))
        .collect();
    assert!(!after_up.is_empty());
    for (t, at) in after_up {
        assert_eq!(*at - *t, ms(1_500));
    }
}

#[test]
fn a_poll_sequence_changes_intervals_only_after_the_final() {
    // A 300/300, B 100/100: A sends every 300 ms and detects in 3 x max(300, 100) = 900 ms.
    let mut net = Net::new(config(300, 300, 3), config(100, 100, 3));
    net.run_until(ms(5_000));
    assert_eq!(net.a().transmit_interval(), Some(ms(300)));
    assert_eq!(net.a().detection_time(), Some(ms(900)));
    assert!(!net.a().poll_in_progress());

    // A slows its sending to 600 ms and asks for packets every 150 ms; B's F answers are lost
    // for two seconds, so the poll stays open.
    net.drop_final[1] = true;
    net.event(0, Event::SetConfig(config(600, 150, 3)));
    let first = net.sent(0, ms(5_000), ms(5_001));
    assert_eq!(first.len(), 1, "the poll starts with a packet at once");
    let p = first[0].1;
    assert!(p.poll && !p.final_);
    assert_eq!((p.desired_min_tx, p.required_min_rx), (600_000, 150_000));
    net.run_until(ms(7_000));
    assert!(net.a().poll_in_progress());
    // Until the F: the old transmit interval, the old (longer) detection time.
    assert_eq!(net.a().transmit_interval(), Some(ms(300)));
    assert_eq!(net.a().detection_time(), Some(ms(900)));
    let during = net.sent(0, ms(5_000), ms(7_000));
    assert!(during.iter().all(|(_, p)| p.poll && !p.final_));
    assert!(gaps(&during).iter().all(|g| *g <= ms(300)), "{during:?}");
    // B answered each P with F and P clear, at once.
    let answers = net.sent(1, ms(5_000), ms(7_000));
    assert!(answers.iter().all(|(_, p)| !(p.poll && p.final_)));
    assert!(answers.iter().filter(|(_, p)| p.final_).count() >= during.len());

    net.drop_final[1] = false;
    net.run_until(ms(7_400));
    assert!(!net.a().poll_in_progress());
    assert_eq!(net.a().transmit_interval(), Some(ms(600)));
    assert_eq!(net.a().detection_time(), Some(ms(450)));
    net.run_until(ms(12_000));
    let after: Vec<_> = net.sent(0, ms(7_400), ms(12_000));
    assert!(after.iter().all(|(_, p)| !p.poll));
    assert!(gaps(&after).iter().all(|g| *g >= ms(450) && *g <= ms(600)));
    // No flap on either side.
    assert!(net.changes_after(0, ms(5_000)).is_empty());
    assert!(net.changes_after(1, ms(5_000)).is_empty());
}

#[test]
fn a_received_poll_is_answered_at_once_with_final_and_never_with_both_bits() {
    let (mut s, t) = scripted_up(config(300, 300, 3));
    assert!(
        s.poll_in_progress(),
        "going Up polls for the configured 300 ms"
    );
    let p = ControlPacket {
        poll: true,
        ..peer(State::Up, 1)
    };
    let a = s.handle(Event::Received(p), t + ms(1));
    let out = sends(&a);
    assert!(out.iter().any(|p| p.final_ && !p.poll));
    assert!(out.iter().all(|p| !(p.poll && p.final_)));
}

#[test]
fn admin_down_takes_the_peer_down_with_diag_3_and_keeps_it_down() {
    let mut net = Net::new(config(300, 300, 3), config(300, 300, 3));
    net.run_until(ms(3_000));
    net.event(0, Event::AdminDown);
    let sent = net.sent(0, ms(3_000), ms(3_001));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.state, State::AdminDown);
    assert_eq!(sent[0].1.diag, Diag::AdministrativelyDown);
    assert!(!net.sides[0].timers.contains_key(&Timer::Detect));
    net.run_until(ms(20_000));
    assert_eq!(net.a().state(), State::AdminDown);
    assert_eq!(
        net.changes_after(1, ms(3_000)),
        [(
            ms(3_001),
            State::Up,
            State::Down,
            Diag::NeighborSignaledSessionDown
        )]
    );
    // A keeps telling B, at the slow rate, and never arms its detection timer.
    let later = net.sent(0, ms(10_000), ms(20_000));
    assert!(later.iter().all(|(_, p)| p.state == State::AdminDown));
    assert!(gaps(&later)
        .iter()
        .all(|g| *g >= ms(750) && *g <= ms(1_000)));
    assert!(!net.sides[0].timers.contains_key(&Timer::Detect));

    net.event(0, Event::AdminUp);
    net.run_until(ms(22_000));
    assert_eq!(net.a().state(), State::Up);
    assert_eq!(net.b().state(), State::Up);
}

#[test]
fn lost_packets_end_the_session_with_diag_1_at_the_detection_time() {
    let mut net = Net::new(config(300, 300, 3), config(300, 300, 3));
    net.run_until(ms(3_000));
    net.cut[0] = true;
    let last_from_a = net.sent(0, ms(0), ms(3_000)).last().map(|(t, _)| *t);
    net.run_until(ms(5_000));
    let down = net.changes_after(1, ms(3_000));
    assert_eq!(down.len(), 1);
    let (at, from, to, diag) = down[0];
    assert_eq!(
        (from, to, diag),
        (State::Up, State::Down, Diag::ControlDetectionTimeExpired)
    );
    // 3 x max(300, 300) after the last packet's arrival.
    assert_eq!(Some(at), last_from_a.map(|t| t + ms(1) + ms(900)));
    assert_eq!(
        net.b().remote_discr(),
        0,
        "§6.8.1: reset after a Detection Time"
    );
    // A hears B's Down and follows with diag 3.
    let a_down = net.changes_after(0, ms(3_000));
    assert_eq!(a_down[0].3, Diag::NeighborSignaledSessionDown);
    // B calls at the slow rate again; the link heals and both come back.
    assert!(net
        .sent(1, at, ms(5_000))
        .iter()
        .all(|(_, p)| p.desired_min_tx == 1_000_000));
    net.cut[0] = false;
    net.run_until(ms(8_000));
    assert_eq!((net.a().state(), net.b().state()), (State::Up, State::Up));
}

#[test]
fn a_passive_session_sends_nothing_until_it_hears_the_peer() {
    let (mut s, a) = Session::new(passive(config(300, 300, 3)), discr(1), 0, Duration::ZERO);
    assert!(sends(&a).is_empty());
    assert_eq!(armed(&a, Timer::Transmit), None);
    assert_eq!(s.transmit_interval(), None);
    let a = s.handle(Event::Received(peer(State::Down, 0)), ms(10_000));
    let out = sends(&a);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].state, out[0].your_discr), (State::Init, 0x77));
    assert!(armed(&a, Timer::Transmit).is_some());
}

#[test]
fn a_passive_session_comes_up_with_an_active_peer_and_two_passive_ones_stay_silent() {
    let mut net = Net::new(passive(config(300, 300, 3)), config(300, 300, 3));
    net.run_until(ms(10));
    assert_eq!((net.a().state(), net.b().state()), (State::Up, State::Up));

    let mut quiet = Net::new(passive(config(300, 300, 3)), passive(config(300, 300, 3)));
    quiet.run_until(ms(30_000));
    assert!(quiet.sides.iter().all(|s| s.sent.is_empty()));
    assert_eq!(quiet.a().state(), State::Down);
}

#[test]
fn a_session_that_is_not_up_sends_once_a_second_then_at_the_configured_rate() {
    // Nobody answers: the slow rate, with 1 s on the wire.
    let (mut s, mut actions) = Session::new(config(50, 50, 3), discr(1), 5, Duration::ZERO);
    let mut sent = vec![(Duration::ZERO, sends(&actions)[0])];
    while let Some(at) = armed(&actions, Timer::Transmit).filter(|at| *at < ms(30_000)) {
        actions = s.handle(Event::TimerExpired(Timer::Transmit), at);
        sent.extend(sends(&actions).into_iter().map(|p| (at, p)));
    }
    assert!(sent.len() > 30);
    assert!(sent.iter().all(|(_, p)| p.desired_min_tx == 1_000_000));
    let g = gaps(&sent);
    assert!(g.iter().all(|g| *g >= ms(750) && *g <= ms(1_000)), "{g:?}");

    // Connected: after Up the configured 50 ms, announced with a poll.
    let mut net = Net::new(config(50, 50, 3), config(50, 50, 3));
    net.run_until(ms(5_000));
    let up_at = net.sides[0].changes.last().map(|c| c.0).unwrap_or_default();
    let after = net.sent(0, up_at + ms(100), ms(5_000));
    assert!(after
        .iter()
        .all(|(_, p)| p.desired_min_tx == 50_000 && !p.poll));
    assert!(gaps(&after).iter().all(|g| *g >= ms(37) && *g <= ms(50)));
    assert!(net
        .sent(0, up_at, up_at + ms(1))
        .iter()
        .any(|(_, p)| p.poll));
}

#[test]
fn every_periodic_interval_is_75_to_100_percent_of_the_nominal() {
    let mut net = Net::new(config(300, 300, 3), config(300, 300, 3));
    net.run_until(ms(60_000));
    let steady = net.sent(0, ms(1_000), ms(60_000));
    let g = gaps(&steady);
    assert!(g.len() > 150);
    assert!(g.iter().all(|g| *g >= ms(225) && *g <= ms(300)), "{g:?}");
    assert!(g.iter().any(|g| *g < ms(240)) && g.iter().any(|g| *g > ms(285)));
}

#[test]
fn with_detect_mult_1_every_interval_is_75_to_90_percent_of_the_nominal() {
    let mut net = Net::new(config(300, 300, 1), config(300, 300, 3));
    net.run_until(ms(60_000));
    let g = gaps(&net.sent(0, ms(1_000), ms(60_000)));
    assert!(g.iter().all(|g| *g >= ms(225) && *g <= ms(270)), "{g:?}");
}

#[test]
fn a_peer_asking_for_no_packets_gets_none_but_polls_are_still_answered() {
    let (mut s, t) = scripted_up(config(300, 300, 3));
    let p = ControlPacket {
        required_min_rx: 0,
        ..peer(State::Up, 1)
    };
    let a = s.handle(Event::Received(p), t + ms(1));
    assert!(a.contains(&Action::CancelTimer(Timer::Transmit)));
    assert_eq!(s.transmit_interval(), None);
    let a = s.handle(
        Event::Received(ControlPacket { poll: true, ..p }),
        t + ms(2),
    );
    assert!(sends(&a).iter().any(|p| p.final_));
}

#[test]
fn packets_the_rules_discard_change_nothing() {
    let (mut s, _) = Session::new(config(300, 300, 3), discr(1), 0, Duration::ZERO);
    let bad = [
        ControlPacket {
            detect_mult: 0,
            ..peer(State::Down, 0)
        },
        ControlPacket {
            multipoint: true,
            ..peer(State::Down, 0)
        },
        ControlPacket {
            my_discr: 0,
            ..peer(State::Down, 0)
        },
        peer(State::Init, 0),
        peer(State::Up, 0),
        peer(State::Down, 2),
        ControlPacket {
            auth_present: true,
            ..peer(State::Down, 0)
        },
    ];
    for p in bad {
        assert!(s.handle(Event::Received(p), ms(1)).is_empty(), "{p:?}");
        assert_eq!((s.state(), s.remote_discr()), (State::Down, 0));
    }
}

#[test]
fn stop_sends_one_admin_down_and_then_nothing() {
    let (mut s, t) = scripted_up(config(300, 300, 3));
    let a = s.handle(Event::Stop, t);
    let out = sends(&a);
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].state, out[0].diag),
        (State::AdminDown, Diag::AdministrativelyDown)
    );
    assert!(a.contains(&Action::CancelTimer(Timer::Transmit)));
    assert!(a.contains(&Action::CancelTimer(Timer::Detect)));
    assert!(s
        .handle(Event::TimerExpired(Timer::Transmit), t + ms(1))
        .is_empty());
    assert!(s
        .handle(Event::Received(peer(State::Up, 1)), t + ms(2))
        .is_empty());
}

#[test]
fn outside_up_a_parameter_change_takes_effect_at_once_without_a_poll() {
    let (mut s, _) = Session::new(config(300, 300, 3), discr(1), 0, Duration::ZERO);
    assert_eq!(s.transmit_interval(), Some(ms(1_000)));
    let a = s.handle(Event::SetConfig(config(2_000, 300, 3)), ms(10));
    assert_eq!(s.transmit_interval(), Some(ms(2_000)));
    assert!(!s.poll_in_progress());
    assert!(sends(&a).iter().all(|p| !p.poll));
}

#[test]
fn a_change_during_a_poll_is_confirmed_by_a_second_poll() {
    let (mut s, t) = scripted_up(config(300, 300, 3));
    // The peer asks for 10 ms and has not answered the poll that going Up started.
    let p = ControlPacket {
        required_min_rx: 10_000,
        ..peer(State::Up, 1)
    };
    s.handle(Event::Received(p), t + ms(1));
    assert!(s.poll_in_progress());
    assert_eq!(
        s.transmit_interval(),
        Some(ms(300)),
        "a decrease is used at once"
    );
    s.handle(Event::SetConfig(config(800, 300, 3)), t + ms(2));
    assert_eq!(
        s.transmit_interval(),
        Some(ms(300)),
        "an increase waits for its F"
    );
    let fin = ControlPacket { final_: true, ..p };
    let a = s.handle(Event::Received(fin), t + ms(3));
    assert!(s.poll_in_progress(), "the F answered the first poll only");
    assert_eq!(s.transmit_interval(), Some(ms(300)));
    assert!(sends(&a)
        .iter()
        .any(|p| p.poll && p.desired_min_tx == 800_000));
    s.handle(Event::Received(fin), t + ms(4));
    assert!(!s.poll_in_progress());
    assert_eq!(s.transmit_interval(), Some(ms(800)));
}

#[test]
fn the_peer_going_down_takes_us_down_with_diag_3_and_the_peer_diag_is_kept() {
    let (mut s, t) = scripted_up(config(300, 300, 3));
    let p = ControlPacket {
        diag: Diag::ControlDetectionTimeExpired,
        ..peer(State::Down, 0)
    };
    let a = s.handle(Event::Received(p), t + ms(1));
    assert!(a.contains(&Action::StateChanged {
        from: State::Up,
        to: State::Down,
        diag: Diag::NeighborSignaledSessionDown
    }));
    assert_eq!(s.remote_diag(), Diag::ControlDetectionTimeExpired);
    let out = sends(&a);
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].state, out[0].desired_min_tx),
        (State::Down, 1_000_000)
    );
}
