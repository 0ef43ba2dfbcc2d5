//! Resource bounds on virtual time: the prefix limit (RFC 4486 Cease 6/1) and its back-off, a
//! full send queue, and the back-off of a peer that restarts again and again.

use super::*;

fn limited(max_prefixes: u32) -> Session {
    let mut c = config([192, 0, 2, 10], false);
    c.max_prefixes = max_prefixes;
    Session::new(c)
}

/// Connects, exchanges OPEN/KEEPALIVE at `now`; returns the connection.
fn bring_up(s: &mut Session, a: &[Action], now: Duration) -> ConnId {
    let id = connect_of(a);
    s.handle(Event::TcpConnected(id), now);
    s.handle(Event::Received(id, peer_open(90, [192, 0, 2, 1])), now);
    let up = s.handle(Event::Received(id, Message::Keepalive), now);
    assert!(up.iter().any(|a| matches!(a, Action::Established(_))));
    id
}

fn hosts(n: usize) -> Message {
    let announced = (0..n)
        .map(|i| {
            let addr = std::net::Ipv4Addr::from(0xC612_0000u32 + i as u32); // 198.18.0.0/15
            ipnet::IpNet::V4(ipnet::Ipv4Net::new(addr, 32).unwrap())
        })
        .collect();
    Message::Update(Update {
        withdrawn: Vec::new(),
        attributes: None,
        announced,
        end_of_rib: None,
        errors: Vec::new(),
    })
}

fn down_reason(actions: &[Action]) -> Option<&DownReason> {
    actions.iter().find_map(|a| match a {
        Action::Down(r) => Some(r),
        _ => None,
    })
}

#[test]
fn one_prefix_over_max_prefixes_sends_cease_6_1_with_afi_safi_and_the_limit() {
    let mut s = limited(1000);
    let a = s.handle(Event::ManualStart, secs(0));
    let id = bring_up(&mut s, &a, secs(1));
    let ok = s.handle(Event::Received(id, hosts(1000)), secs(2));
    assert_eq!(sent_notification(&ok), None, "exactly the limit is fine");
    assert_eq!(s.prefixes_received(), 1000);
    let a = s.handle(Event::Received(id, hosts(1001)), secs(3));
    let data = a.iter().find_map(|a| match a {
        Action::Send(_, Message::Notification(n)) => Some((n.code, n.subcode, n.data.clone())),
        _ => None,
    });
    // AFI 1, SAFI 1, limit 1000 (RFC 4486 §4).
    assert_eq!(data, Some((6, 1, vec![0, 1, 1, 0, 0, 0x03, 0xe8])));
    assert!(a.contains(&Action::Close(id)));
    assert!(matches!(
        down_reason(&a),
        Some(DownReason::PrefixLimit {
            limit: 1000,
            received: 1001,
            ..
        })
    ));
    assert_eq!(armed(&a, Timer::IdleHold), Some(secs(3) + secs(5)));
    assert_eq!(s.state(), State::Idle);
    assert_eq!(s.prefixes_received(), 0, "forgotten with the session");
}

#[test]
fn a_tripped_session_stays_down_and_refuses_the_peer_until_the_back_off_ends() {
    let mut s = limited(10);
    let a = s.handle(Event::ManualStart, secs(0));
    let id = bring_up(&mut s, &a, secs(0));
    s.handle(Event::Received(id, hosts(11)), secs(1));
    assert_eq!(
        s.handle(Event::TcpAccepted(IN1), secs(2)),
        vec![Action::Close(IN1)]
    );
    let a = s.handle(Event::TimerExpired(Timer::IdleHold), secs(6));
    assert!(a.iter().any(|a| matches!(a, Action::Connect(_))));
}

#[test]
fn consecutive_trips_double_the_wait_from_5_s_up_to_300_s() {
    let mut s = limited(10);
    let mut now = secs(0);
    let mut a = s.handle(Event::ManualStart, now);
    let mut waits = Vec::new();
    for _ in 0..9 {
        let id = bring_up(&mut s, &a, now);
        let tripped = s.handle(Event::Received(id, hosts(11)), now);
        let at = armed(&tripped, Timer::IdleHold).expect("IdleHold");
        waits.push((at - now).as_secs());
        now = at;
        a = s.handle(Event::TimerExpired(Timer::IdleHold), now);
    }
    assert_eq!(waits, vec![5, 10, 20, 40, 80, 160, 300, 300, 300]);
    assert_eq!(s.prefix_limit_trips(), 9);
    assert_eq!(
        s.consecutive_failures(),
        0,
        "the failure back-off is separate"
    );
}

#[test]
fn a_stable_session_that_ends_for_another_reason_resets_the_trip_count() {
    let mut s = limited(10);
    let a = s.handle(Event::ManualStart, secs(0));
    let id = bring_up(&mut s, &a, secs(0));
    s.handle(Event::Received(id, hosts(11)), secs(0));
    let a = s.handle(Event::TimerExpired(Timer::IdleHold), secs(5));
    let id = bring_up(&mut s, &a, secs(5));
    let a = s.handle(Event::Received(id, hosts(11)), secs(5));
    assert_eq!(
        armed(&a, Timer::IdleHold),
        Some(secs(15)),
        "second trip: 10 s"
    );
    let a = s.handle(Event::TimerExpired(Timer::IdleHold), secs(15));
    let id = bring_up(&mut s, &a, secs(15));
    s.handle(Event::Received(id, hosts(5)), secs(15));
    let a = s.handle(Event::TcpFailed(id), secs(15) + STABLE);
    assert_eq!(s.prefix_limit_trips(), 0);
    let t = armed(&a, Timer::IdleHold).expect("IdleHold");
    let a = s.handle(Event::TimerExpired(Timer::IdleHold), t);
    let id = bring_up(&mut s, &a, t);
    let a = s.handle(Event::Received(id, hosts(11)), t);
    assert_eq!(
        armed(&a, Timer::IdleHold),
        Some(t + secs(5)),
        "first trip again"
    );
}

#[test]
fn withdrawals_and_repeats_do_not_count_towards_the_limit() {
    let mut s = limited(3);
    let a = s.handle(Event::ManualStart, secs(0));
    let id = bring_up(&mut s, &a, secs(0));
    for _ in 0..5 {
        let a = s.handle(Event::Received(id, hosts(3)), secs(1));
        assert_eq!(sent_notification(&a), None);
    }
    let Message::Update(mut u) = hosts(3) else {
        unreachable!()
    };
    u.withdrawn = std::mem::take(&mut u.announced);
    s.handle(Event::Received(id, Message::Update(u)), secs(2));
    assert_eq!(s.prefixes_received(), 0);
    assert_eq!(s.state(), State::Established);
}

#[test]
fn a_full_send_queue_resets_the_session_without_a_notification() {
    let mut s = established(90);
    let a = s.handle(Event::SendQueueFull(OUT1), secs(5));
    assert_eq!(sent_notification(&a), None);
    assert!(a.contains(&Action::Close(OUT1)));
    assert_eq!(down_reason(&a), Some(&DownReason::SendQueueFull));
    assert_eq!(armed(&a, Timer::IdleHold), Some(secs(6)));
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn a_peer_restarted_100_times_after_each_stable_session_never_backs_off_past_the_base() {
    let mut s = Session::new(config([192, 0, 2, 10], false));
    let mut now = secs(0);
    let mut a = s.handle(Event::ManualStart, now);
    for _ in 0..100 {
        let id = bring_up(&mut s, &a, now);
        now += STABLE;
        let failed = s.handle(Event::TcpFailed(id), now);
        assert_eq!(armed(&failed, Timer::IdleHold), Some(now + secs(1)));
        now += secs(1);
        a = s.handle(Event::TimerExpired(Timer::IdleHold), now);
    }
    assert_eq!(s.consecutive_failures(), 1);
}

#[test]
fn a_peer_that_fails_just_before_stable_keeps_backing_off() {
    let mut s = Session::new(config([192, 0, 2, 10], false));
    let mut now = secs(0);
    let mut a = s.handle(Event::ManualStart, now);
    let mut waits = Vec::new();
    for _ in 0..4 {
        let id = bring_up(&mut s, &a, now);
        now += STABLE - Duration::from_millis(1);
        let failed = s.handle(Event::TcpFailed(id), now);
        let at = armed(&failed, Timer::IdleHold).expect("IdleHold");
        waits.push((at - now).as_secs());
        now = at;
        a = s.handle(Event::TimerExpired(Timer::IdleHold), now);
    }
    assert_eq!(waits, vec![1, 2, 4, 8]);
}
