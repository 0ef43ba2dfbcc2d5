//! Random packet, timer, admin and configuration sequences against one session: it never
//! panics, follows the state table of a plain model, never reaches Up without a valid handshake
//! packet, and what it sends keeps the rules.

use proptest::prelude::*;

use super::*;

const LOCAL: u32 = 0x51;

fn interval_us() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(1),
        Just(50_000),
        Just(300_000),
        Just(1_000_000),
        any::<u32>()
    ]
}

fn packet() -> impl Strategy<Value = ControlPacket> {
    (
        (0u8..4, 0u8..32, any::<[bool; 3]>(), 0u8..6),
        (
            prop_oneof![Just(0u32), Just(0x77), any::<u32>()],
            prop_oneof![Just(0u32), Just(LOCAL), Just(LOCAL), any::<u32>()],
        ),
        (interval_us(), interval_us()),
        (
            proptest::bool::weighted(0.05),
            proptest::bool::weighted(0.05),
        ),
    )
        .prop_map(
            |((st, diag, f, mult), (my, your), (tx, rx), (m, a))| ControlPacket {
                diag: Diag::from_bits(diag),
                state: State::from_bits(st),
                poll: f[0],
                final_: f[1],
                control_plane_independent: false,
                auth_present: a,
                demand: f[2],
                multipoint: m,
                detect_mult: mult,
                my_discr: my,
                your_discr: your,
                desired_min_tx: tx,
                required_min_rx: rx,
                required_min_echo_rx: 0,
            },
        )
}

fn session_config() -> impl Strategy<Value = SessionConfig> {
    (0u64..2_000, 0u64..2_000, 0u8..5, any::<bool>()).prop_map(|(tx, rx, mult, passive)| {
        SessionConfig {
            desired_min_tx: ms(tx),
            required_min_rx: ms(rx),
            detect_mult: mult,
            passive,
        }
    })
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        6 => packet().prop_map(Event::Received),
        2 => Just(Event::TimerExpired(Timer::Transmit)),
        2 => Just(Event::TimerExpired(Timer::Detect)),
        1 => Just(Event::AdminDown),
        1 => Just(Event::AdminUp),
        1 => session_config().prop_map(Event::SetConfig),
        1 => Just(Event::Stop),
    ]
}

/// A packet that may take a session in Down or Init to Up (RFC 5880 §6.8.6).
fn is_valid_handshake(p: &ControlPacket) -> bool {
    matches!(p.state, State::Init | State::Up)
        && p.your_discr == LOCAL
        && p.my_discr != 0
        && p.detect_mult != 0
        && !p.multipoint
        && !p.auth_present
}

/// Whether §6.8.6 accepts `p` for a session with discriminator LOCAL (no authentication).
fn accepted(p: &ControlPacket) -> bool {
    p.detect_mult != 0
        && !p.multipoint
        && p.my_discr != 0
        && (p.your_discr == LOCAL
            || (p.your_discr == 0 && matches!(p.state, State::Down | State::AdminDown)))
        && !p.auth_present
}

/// The state table of §6.8.6 and §6.8.16 as a plain function; `Detect` may or may not have
/// been armed, so it allows both outcomes.
fn model(before: State, e: &Event) -> Vec<State> {
    use State::*;
    let next = match e {
        Event::Received(p) if accepted(p) && before != AdminDown => match (before, p.state) {
            (_, AdminDown) => Down,
            (Down, Down) => Init,
            (Down, Init) | (Init, Init | Up) => Up,
            (Up, Down) => Down,
            (s, _) => s,
        },
        Event::Received(_) | Event::TimerExpired(Timer::Transmit) | Event::SetConfig(_) => before,
        Event::TimerExpired(Timer::Detect) => match before {
            Init | Up => return vec![before, Down],
            s => s,
        },
        Event::AdminDown | Event::Stop => AdminDown,
        Event::AdminUp if before == AdminDown => Down,
        Event::AdminUp => before,
    };
    vec![next]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_sequences_never_reach_up_without_a_valid_handshake(
        start in session_config(),
        steps in proptest::collection::vec((0u64..1_500, event()), 0..60),
    ) {
        let (mut s, _) = Session::new(start, discr(LOCAL), 3, Duration::ZERO);
        let mut now = Duration::ZERO;
        let mut stopped = false;
        for (dt, e) in steps {
            now += ms(dt);
            let before = s.state();
            let actions = s.handle(e.clone(), now);
            let mut state = before;
            for a in &actions {
                match a {
                    Action::StateChanged { from, to, .. } => {
                        prop_assert_eq!(*from, state);
                        prop_assert_ne!(from, to);
                        if *to == State::Up {
                            let ok = matches!(&e, Event::Received(p) if is_valid_handshake(p));
                            prop_assert!(ok, "Up after {:?}", e);
                        }
                        state = *to;
                    }
                    Action::Send(p) => {
                        prop_assert!(!(p.poll && p.final_));
                        prop_assert_eq!(p.my_discr, LOCAL);
                        prop_assert!(p.detect_mult != 0 && p.desired_min_tx != 0);
                        prop_assert!(!p.control_plane_independent && !p.auth_present);
                        if p.state != State::Up {
                            prop_assert!(p.desired_min_tx >= 1_000_000);
                        }
                        prop_assert!(ControlPacket::parse(&p.to_bytes()) == Ok(*p));
                    }
                    Action::ArmTimer(_, at) => prop_assert!(*at >= now),
                    Action::CancelTimer(_) => {}
                }
            }
            prop_assert_eq!(state, s.state());
            if !stopped {
                prop_assert!(model(before, &e).contains(&state), "{:?} --{:?}--> {:?}", before, e, state);
            }
            stopped |= e == Event::Stop;
            if s.state() == State::AdminDown {
                prop_assert!(armed(&actions, Timer::Detect).is_none());
            }
        }
    }
}
