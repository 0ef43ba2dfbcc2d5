//! FSM tests on virtual time: a scripted peer feeds events and checks the actions.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::*;
use crate::packet::codes::{CeaseSubcode, HeaderSubcode, UpdateSubcode};
use crate::packet::message::{Capabilities, Open};

const OUT1: ConnId = ConnId {
    direction: Direction::Outbound,
    seq: 1,
};
const IN1: ConnId = ConnId {
    direction: Direction::Inbound,
    seq: 1,
};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn config(local_id: [u8; 4], passive: bool) -> SessionConfig {
    SessionConfig {
        local_asn: 64512,
        peer_asn: 64500,
        local_router_id: Ipv4Addr::from(local_id),
        hold_time: 90,
        keepalive_time: 30,
        connect_retry: secs(5),
        passive,
        families: [Family::Ipv4Unicast, Family::Ipv6Unicast].into(),
        idle_hold_base: secs(1),
        idle_hold_max: secs(60),
        max_prefixes: 0,
        prefix_limit_base: secs(5),
        prefix_limit_max: secs(300),
        extended_message: true,
        graceful_restart_time: Some(120),
    }
}

fn peer_open(hold: u16, id: [u8; 4]) -> Message {
    Message::Open(Open {
        my_as: 64500,
        hold_time: hold,
        router_id: Ipv4Addr::from(id),
        capabilities: Capabilities {
            families: [Family::Ipv4Unicast].into(),
            four_octet_as: Some(64500),
            route_refresh: true,
            extended_message: false,
            graceful_restart: None,
        },
    })
}

fn sent_notification(actions: &[Action]) -> Option<(u8, u8)> {
    actions.iter().find_map(|a| match a {
        Action::Send(_, Message::Notification(n)) => Some((n.code, n.subcode)),
        _ => None,
    })
}

fn armed(actions: &[Action], timer: Timer) -> Option<Duration> {
    actions.iter().rev().find_map(|a| match a {
        Action::ArmTimer(t, at) if *t == timer => Some(*at),
        _ => None,
    })
}

/// Drives a session to Established over our outgoing connection OUT1.
fn established(hold: u16) -> Session {
    let mut s = Session::new(config([192, 0, 2, 10], false));
    s.handle(Event::ManualStart, secs(0));
    s.handle(Event::TcpConnected(OUT1), secs(1));
    s.handle(
        Event::Received(OUT1, peer_open(hold, [192, 0, 2, 1])),
        secs(1),
    );
    let a = s.handle(Event::Received(OUT1, Message::Keepalive), secs(1));
    assert!(
        a.iter().any(|a| matches!(a, Action::Established(_))),
        "{a:?}"
    );
    assert_eq!(s.state(), State::Established);
    s
}

#[test]
fn manual_start_connects_and_arms_the_connect_retry_timer() {
    let mut s = Session::new(config([192, 0, 2, 10], false));
    let a = s.handle(Event::ManualStart, secs(0));
    assert!(a.contains(&Action::Connect(OUT1)));
    assert_eq!(armed(&a, Timer::ConnectRetry), Some(secs(5)));
    assert_eq!(s.state(), State::Connect);
}

#[test]
fn a_passive_session_waits_in_active_without_connecting() {
    let mut s = Session::new(config([192, 0, 2, 10], true));
    let a = s.handle(Event::ManualStart, secs(0));
    assert!(!a.iter().any(|a| matches!(a, Action::Connect(_))));
    assert_eq!(s.state(), State::Active);
    s.handle(Event::TcpAccepted(IN1), secs(1));
    assert_eq!(s.state(), State::OpenSent);
}

#[test]
fn a_failed_connect_goes_active_and_retries_when_connect_retry_expires() {
    let mut s = Session::new(config([192, 0, 2, 10], false));
    s.handle(Event::ManualStart, secs(0));
    s.handle(Event::TcpFailed(OUT1), secs(0));
    assert_eq!(s.state(), State::Active);
    let a = s.handle(Event::TimerExpired(Timer::ConnectRetry), secs(5));
    assert!(a
        .iter()
        .any(|a| matches!(a, Action::Connect(c) if c.seq == 2)));
    assert_eq!(s.state(), State::Connect);
}

#[test]
fn the_handshake_negotiates_the_lower_hold_time_and_common_families() {
    let s = established(30);
    let n = s.negotiated().expect("negotiated");
    assert_eq!(n.hold_time, 30);
    assert_eq!(n.keepalive_time, 10);
    assert_eq!(n.families, [Family::Ipv4Unicast].into());
    assert!(n.four_octet_as);
}

#[test]
fn the_open_carries_our_capabilities_and_as_trans_for_big_asns() {
    let mut cfg = config([192, 0, 2, 10], false);
    cfg.local_asn = 4_200_000_000;
    let mut s = Session::new(cfg);
    s.handle(Event::ManualStart, secs(0));
    let a = s.handle(Event::TcpConnected(OUT1), secs(0));
    let open = a.iter().find_map(|a| match a {
        Action::Send(_, Message::Open(o)) => Some(o.clone()),
        _ => None,
    });
    let open = open.expect("an OPEN");
    assert_eq!(open.my_as, 23456);
    assert_eq!(open.capabilities.four_octet_as, Some(4_200_000_000));
    assert!(open.capabilities.route_refresh);
    assert_eq!(armed(&a, Timer::Hold), Some(secs(240)));
}

#[test]
fn hold_timer_expiry_sends_notification_4_0() {
    let mut s = established(9);
    let a = s.handle(Event::TimerExpired(Timer::Hold), secs(10));
    assert_eq!(sent_notification(&a), Some((4, 0)));
    assert!(a.contains(&Action::Close(OUT1)));
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn hold_timer_expiry_in_open_sent_sends_notification_4_0() {
    let mut s = Session::new(config([192, 0, 2, 10], false));
    s.handle(Event::ManualStart, secs(0));
    s.handle(Event::TcpConnected(OUT1), secs(0));
    let a = s.handle(Event::TimerExpired(Timer::Hold), secs(240));
    assert_eq!(sent_notification(&a), Some((4, 0)));
}

#[test]
fn keepalives_and_updates_restart_the_hold_timer() {
    let mut s = established(9);
    let a = s.handle(Event::Received(OUT1, Message::Keepalive), secs(5));
    assert_eq!(armed(&a, Timer::Hold), Some(secs(14)));
    let a = s.handle(
        Event::Received(OUT1, Message::Update(Default::default())),
        secs(7),
    );
    assert_eq!(armed(&a, Timer::Hold), Some(secs(16)));
    assert!(a.iter().any(|a| matches!(a, Action::UpdateReceived(_))));
}

#[test]
fn keepalive_expiry_sends_a_keepalive_and_rearms() {
    let mut s = established(9);
    let a = s.handle(Event::TimerExpired(Timer::Keepalive), secs(4));
    assert!(a.contains(&Action::Send(OUT1, Message::Keepalive)));
    assert_eq!(armed(&a, Timer::Keepalive), Some(secs(7)));
}

#[test]
fn hold_time_zero_means_no_hold_timer_and_no_keepalives() {
    let mut s = Session::new(config([192, 0, 2, 10], false));
    s.handle(Event::ManualStart, secs(0));
    s.handle(Event::TcpConnected(OUT1), secs(0));
    let a = s.handle(Event::Received(OUT1, peer_open(0, [192, 0, 2, 1])), secs(0));
    assert_eq!(armed(&a, Timer::Keepalive), None);
    assert!(a.contains(&Action::CancelTimer(Timer::Hold)));
    let a = s.handle(Event::Received(OUT1, Message::Keepalive), secs(1));
    assert_eq!(armed(&a, Timer::Hold), None);
    assert_eq!(s.negotiated().map(|n| n.hold_time), Some(0));
}

#[test]
fn an_open_with_hold_time_1_or_2_is_rejected_with_2_6() {
    for hold in [1, 2] {
        let mut s = Session::new(config([192, 0, 2, 10], false));
        s.handle(Event::ManualStart, secs(0));
        s.handle(Event::TcpConnected(OUT1), secs(0));
        let a = s.handle(
            Event::Received(OUT1, peer_open(hold, [192, 0, 2, 1])),
            secs(0),
        );
        assert_eq!(sent_notification(&a), Some((2, 6)));
    }
}

#[test]
fn an_open_from_the_wrong_as_is_rejected_with_2_2() {
    let mut s = Session::new(config([192, 0, 2, 10], false));
    s.handle(Event::ManualStart, secs(0));
    s.handle(Event::TcpConnected(OUT1), secs(0));
    let mut open = peer_open(90, [192, 0, 2, 1]);
    if let Message::Open(o) = &mut open {
        o.my_as = 64501;
        o.capabilities.four_octet_as = Some(64501);
    }
    let a = s.handle(Event::Received(OUT1, open), secs(0));
    assert_eq!(sent_notification(&a), Some((2, 2)));
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn unexpected_messages_get_the_rfc_6608_subcode_of_their_state() {
    let mut s = Session::new(config([192, 0, 2, 10], false));
    s.handle(Event::ManualStart, secs(0));
    s.handle(Event::TcpConnected(OUT1), secs(0));
    let a = s.handle(Event::Received(OUT1, Message::Keepalive), secs(0));
    assert_eq!(sent_notification(&a), Some((5, 1)));

    let mut s = Session::new(config([192, 0, 2, 10], false));
    s.handle(Event::ManualStart, secs(0));
    s.handle(Event::TcpConnected(OUT1), secs(0));
    s.handle(
        Event::Received(OUT1, peer_open(90, [192, 0, 2, 1])),
        secs(0),
    );
    let a = s.handle(
        Event::Received(OUT1, Message::Update(Default::default())),
        secs(0),
    );
    assert_eq!(sent_notification(&a), Some((5, 2)));

    let mut s = established(90);
    let a = s.handle(
        Event::Received(OUT1, peer_open(90, [192, 0, 2, 1])),
        secs(2),
    );
    assert_eq!(sent_notification(&a), Some((5, 3)));
}

#[test]
fn a_decode_error_sends_the_codec_notification_and_closes() {
    let mut s = established(90);
    let a = s.handle(
        Event::DecodeError(
            OUT1,
            Notification::update(UpdateSubcode::MalformedAttributeList),
        ),
        secs(2),
    );
    assert_eq!(sent_notification(&a), Some((3, 1)));
    assert!(a.contains(&Action::Close(OUT1)));
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn a_notification_from_the_peer_closes_without_answering() {
    let mut s = established(90);
    let a = s.handle(
        Event::Received(
            OUT1,
            Message::Notification(Notification::cease(CeaseSubcode::AdministrativeShutdown)),
        ),
        secs(2),
    );
    assert_eq!(sent_notification(&a), None);
    assert!(a
        .iter()
        .any(|a| matches!(a, Action::Down(DownReason::NotificationReceived(_)))));
}

#[test]
fn manual_stop_sends_cease_6_2_and_does_not_restart() {
    let mut s = established(90);
    let a = s.handle(
        Event::ManualStop(CeaseSubcode::AdministrativeShutdown),
        secs(3),
    );
    assert_eq!(sent_notification(&a), Some((6, 2)));
    assert!(a.contains(&Action::Down(DownReason::Stopped)));
    assert_eq!(armed(&a, Timer::IdleHold), None);
    let a = s.handle(Event::TimerExpired(Timer::IdleHold), secs(100));
    assert!(a.is_empty());
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn manual_stop_sends_cease_with_the_subcode_it_carries() {
    for subcode in [
        CeaseSubcode::PeerDeconfigured,
        CeaseSubcode::OtherConfigurationChange,
        CeaseSubcode::HardReset,
    ] {
        let mut s = established(90);
        let a = s.handle(Event::ManualStop(subcode), secs(3));
        let sent: Vec<&Notification> = a
            .iter()
            .filter_map(|a| match a {
                Action::Send(_, Message::Notification(n)) => Some(n),
                _ => None,
            })
            .collect();
        assert_eq!(sent, [&Notification::cease(subcode)]);
        assert_eq!(sent[0].cease_subcode(), Some(subcode));
    }
}

#[test]
fn manual_stop_while_connecting_sends_no_notification() {
    let mut s = Session::new(config([192, 0, 2, 10], false));
    s.handle(Event::ManualStart, secs(0));
    let a = s.handle(Event::ManualStop(CeaseSubcode::PeerDeconfigured), secs(1));
    assert_eq!(sent_notification(&a), None);
    assert!(a.contains(&Action::Close(OUT1)));
    assert_eq!(s.state(), State::Idle);
}

fn collide(local_id: [u8; 4], remote_id: [u8; 4]) -> (Session, Vec<Action>) {
    let mut s = Session::new(config(local_id, false));
    s.handle(Event::ManualStart, secs(0));
    s.handle(Event::TcpConnected(OUT1), secs(0));
    s.handle(Event::TcpAccepted(IN1), secs(0));
    // The peer's OPEN arrives on our connection first: OpenConfirm there.
    s.handle(Event::Received(OUT1, peer_open(90, remote_id)), secs(1));
    // Then on its own connection: §6.8 decides.
    let a = s.handle(Event::Received(IN1, peer_open(90, remote_id)), secs(1));
    (s, a)
}

#[test]
fn collision_keeps_our_connection_when_our_identifier_is_higher() {
    let (mut s, a) = collide([192, 0, 2, 200], [192, 0, 2, 1]);
    assert!(a.contains(&Action::Send(
        IN1,
        Message::Notification(Notification::cease(
            CeaseSubcode::ConnectionCollisionResolution
        ))
    )));
    assert!(a.contains(&Action::Close(IN1)));
    s.handle(Event::Received(OUT1, Message::Keepalive), secs(2));
    assert_eq!(s.negotiated().map(|n| n.conn), Some(OUT1));
}

#[test]
fn collision_keeps_the_peers_connection_when_its_identifier_is_higher() {
    let (mut s, a) = collide([192, 0, 2, 1], [192, 0, 2, 200]);
    assert!(a.contains(&Action::Send(
        OUT1,
        Message::Notification(Notification::cease(
            CeaseSubcode::ConnectionCollisionResolution
        ))
    )));
    assert!(a.contains(&Action::Close(OUT1)));
    assert_eq!(s.state(), State::OpenConfirm);
    let a = s.handle(Event::Received(IN1, Message::Keepalive), secs(2));
    assert!(a
        .iter()
        .any(|a| matches!(a, Action::Established(n) if n.conn == IN1)));
    // The surviving connection's hold timer is the session Hold timer now.
    let a = s.handle(Event::TimerExpired(Timer::Hold), secs(200));
    assert_eq!(sent_notification(&a), Some((4, 0)));
}

#[test]
fn a_connection_accepted_while_established_is_refused_with_6_7() {
    let mut s = established(90);
    let a = s.handle(Event::TcpAccepted(IN1), secs(5));
    assert_eq!(sent_notification(&a), Some((6, 7)));
    assert!(a.contains(&Action::Close(IN1)));
    assert_eq!(s.state(), State::Established);
}

#[test]
fn an_accepted_connection_replaces_our_pending_attempt() {
    let mut s = Session::new(config([192, 0, 2, 10], false));
    s.handle(Event::ManualStart, secs(0));
    let a = s.handle(Event::TcpAccepted(IN1), secs(1));
    assert!(a.contains(&Action::Close(OUT1)));
    assert_eq!(s.state(), State::OpenSent);
    let a = s.handle(Event::TcpConnected(OUT1), secs(1));
    assert!(a.contains(&Action::Close(OUT1)));
}

fn connect_of(actions: &[Action]) -> ConnId {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Connect(id) => Some(*id),
            _ => None,
        })
        .expect("a Connect action")
}

/// Fails the established session at `at` and returns the IdleHold deadline.
fn fail_at(s: &mut Session, at: Duration) -> Duration {
    let a = s.handle(Event::TcpFailed(OUT1), at);
    armed(&a, Timer::IdleHold).expect("IdleHold armed")
}

#[test]
fn back_off_doubles_per_failure_up_to_the_cap() {
    let mut s = Session::new(config([192, 0, 2, 10], false));
    let mut now = secs(0);
    let mut delays = Vec::new();
    let mut a = s.handle(Event::ManualStart, now);
    for _ in 0..9 {
        let seq = connect_of(&a);
        s.handle(Event::TcpConnected(seq), now);
        let failed = s.handle(Event::TcpFailed(seq), now);
        let at = armed(&failed, Timer::IdleHold).expect("IdleHold");
        delays.push((at - now).as_secs());
        now = at;
        a = s.handle(Event::TimerExpired(Timer::IdleHold), now);
    }
    assert_eq!(delays, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
}

#[test]
fn back_off_resets_after_a_stable_session() {
    let mut s = established(90);
    let t = fail_at(&mut s, secs(2));
    assert_eq!(t, secs(3));
    s.handle(Event::TimerExpired(Timer::IdleHold), t);
    let out2 = ConnId {
        direction: Direction::Outbound,
        seq: 2,
    };
    s.handle(Event::TcpConnected(out2), t);
    s.handle(Event::Received(out2, peer_open(90, [192, 0, 2, 1])), t);
    s.handle(Event::Received(out2, Message::Keepalive), t);
    // Up for a short while: the next delay doubles.
    let a = s.handle(Event::TcpFailed(out2), t + secs(5));
    assert_eq!(armed(&a, Timer::IdleHold), Some(t + secs(5) + secs(2)));
    let t = t + secs(7);
    s.handle(Event::TimerExpired(Timer::IdleHold), t);
    let out3 = ConnId {
        direction: Direction::Outbound,
        seq: 3,
    };
    s.handle(Event::TcpConnected(out3), t);
    s.handle(Event::Received(out3, peer_open(90, [192, 0, 2, 1])), t);
    s.handle(Event::Received(out3, Message::Keepalive), t);
    // Up for STABLE: the back-off starts again from the base.
    let a = s.handle(Event::TcpFailed(out3), t + STABLE);
    assert_eq!(armed(&a, Timer::IdleHold), Some(t + STABLE + secs(1)));
}

#[test]
fn idle_refuses_connections_it_did_not_ask_for() {
    let mut s = Session::new(config([192, 0, 2, 10], false));
    assert_eq!(
        s.handle(Event::TcpAccepted(IN1), secs(0)),
        vec![Action::Close(IN1)]
    );
}

mod limits;
mod properties;
