//! Feeds arbitrary bytes to the BFD Control packet parser, and drives one BFD session with what
//! parses, interleaved with timer expiries and admin events the same bytes choose: errors and
//! discards are fine, panics are not.
#![no_main]

use std::num::NonZeroU32;
use std::time::Duration;

use ferrolb::bfd::{Event, Session, SessionConfig, Timer};
use ferrolb::packet::bfd::{ControlPacket, ControlView};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The whole input as one datagram, both ways in.
    if let Ok(view) = ControlView::new_checked(data) {
        let p = ControlPacket::from_view(&view);
        assert_eq!(ControlPacket::parse(data), Ok(p));
    }

    // Then as a script: [op, dt_ms, (len, bytes...)?]...
    let (mut session, _) =
        Session::new(SessionConfig::default(), NonZeroU32::MIN, 0, Duration::ZERO);
    let mut now = Duration::ZERO;
    let mut rest = data;
    while let [op, dt, tail @ ..] = rest {
        now += Duration::from_millis(u64::from(*dt) * 8);
        rest = tail;
        let event = match op % 8 {
            0 => Event::TimerExpired(Timer::Transmit),
            1 => Event::TimerExpired(Timer::Detect),
            2 => Event::AdminDown,
            3 => Event::AdminUp,
            4 => Event::SetConfig(SessionConfig {
                desired_min_tx: Duration::from_millis(u64::from(*dt)),
                required_min_rx: Duration::from_millis(u64::from(*op)),
                detect_mult: op >> 5,
                passive: op & 0x10 != 0,
            }),
            _ => {
                let Some((len, tail)) = rest.split_first() else {
                    return;
                };
                let n = usize::from(*len).min(tail.len());
                let (datagram, tail) = tail.split_at(n);
                rest = tail;
                match ControlPacket::parse(datagram) {
                    Ok(p) => Event::Received(p),
                    Err(_) => continue,
                }
            }
        };
        for action in session.handle(event, now) {
            if let ferrolb::bfd::Action::Send(p) = action {
                assert_eq!(ControlPacket::parse(&p.to_bytes()), Ok(p));
            }
        }
    }
});
