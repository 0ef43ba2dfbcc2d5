//! Leader election on a `coordination.k8s.io/v1` Lease, as pure decisions
//! (the clock is an input; the write with its resourceVersion, and the 409 on a stale one, are
//! the caller's).
//!
//! Like client-go's leader election: the holder renews every `retry` period; a Lease whose
//! `renewTime + leaseDurationSeconds` has passed may be taken over (`leaseTransitions` + 1),
//! bounded by when this node saw that renewal so clock skew cannot cause two writers;
//! and a holder that has not renewed successfully within `renew_deadline` (shorter than the
//! lease duration) stops acting as the allocator at once, before anyone can take over, so two
//! pods never write Service status at the same time.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::LeaseSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::chrono::{DateTime, Utc};

/// What to do with the Lease now.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// There is no Lease: create it, held by us.
    Create(LeaseSpec),
    /// We hold it: write this (a new renewTime).
    Renew(LeaseSpec),
    /// Another holder let it expire (or released it): write this to take over.
    TakeOver(LeaseSpec),
    /// Another holder's Lease is live until `until`: we are not the allocator.
    Follow {
        holder: String,
        until: DateTime<Utc>,
    },
}

fn spec(
    me: &str,
    now: DateTime<Utc>,
    duration: Duration,
    acquired: DateTime<Utc>,
    transitions: i32,
) -> LeaseSpec {
    LeaseSpec {
        holder_identity: Some(me.to_string()),
        lease_duration_seconds: Some(i32::try_from(duration.as_secs()).unwrap_or(i32::MAX)),
        acquire_time: Some(MicroTime(acquired)),
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(transitions),
        ..LeaseSpec::default()
    }
}

/// Decides from the current Lease (None: it does not exist). `seen` is when this node first
/// saw the current version of the Lease (by resourceVersion), on its own clock.
///
/// Another holder's Lease runs until its `renewTime + leaseDurationSeconds`, but never past a
/// full duration after `seen` (a holder whose clock runs ahead cannot block a takeover for long)
/// and never before three quarters of it after `seen` (a holder whose clock runs behind has
/// still stopped writing by then: it stops two thirds into the duration after its last
/// successful renewal, which happened before we saw it). With synchronised clocks that is
/// exactly `renewTime + duration`, so a dead holder is replaced within one lease duration of its
/// last renewal.
pub fn decide(
    current: Option<&LeaseSpec>,
    me: &str,
    now: DateTime<Utc>,
    duration: Duration,
    seen: DateTime<Utc>,
) -> Decision {
    let Some(cur) = current else {
        return Decision::Create(spec(me, now, duration, now, 0));
    };
    let transitions = cur.lease_transitions.unwrap_or(0);
    let holder = cur.holder_identity.clone().unwrap_or_default();
    if holder == me {
        let acquired = cur.acquire_time.as_ref().map_or(now, |t| t.0);
        return Decision::Renew(spec(me, now, duration, acquired, transitions));
    }
    let their =
        Duration::from_secs(u64::try_from(cur.lease_duration_seconds.unwrap_or(0)).unwrap_or(0));
    let by_record = cur
        .renew_time
        .as_ref()
        .or(cur.acquire_time.as_ref())
        .map(|t| t.0 + their)
        .unwrap_or(seen);
    let until = by_record.min(seen + their).max(seen + their * 3 / 4);
    if holder.is_empty() || until <= now {
        return Decision::TakeOver(spec(me, now, duration, now, transitions + 1));
    }
    Decision::Follow { holder, until }
}

/// True while a holder whose last successful renewal was at `renewed` may still act as the
/// allocator: until `renew_deadline` after it (shorter than the lease duration).
pub fn leading(renewed: DateTime<Utc>, now: DateTime<Utc>, renew_deadline: Duration) -> bool {
    now < renewed + renew_deadline
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600 + secs, 0).expect("time")
    }

    const D: Duration = Duration::from_secs(15);

    #[test]
    fn no_lease_creates_one() {
        let Decision::Create(s) = decide(None, "pod-a", t(0), D, t(0)) else {
            panic!("create");
        };
        assert_eq!(s.holder_identity.as_deref(), Some("pod-a"));
        assert_eq!(s.lease_duration_seconds, Some(15));
        assert_eq!(s.lease_transitions, Some(0));
    }

    #[test]
    fn the_holder_renews_keeping_acquire_time_and_transitions() {
        let held = spec("pod-a", t(0), D, t(-100), 3);
        let Decision::Renew(s) = decide(Some(&held), "pod-a", t(5), D, t(0)) else {
            panic!("renew");
        };
        assert_eq!(s.renew_time, Some(MicroTime(t(5))));
        assert_eq!(s.acquire_time, Some(MicroTime(t(-100))));
        assert_eq!(s.lease_transitions, Some(3));
    }

    #[test]
    fn a_live_lease_of_another_pod_is_followed_until_it_expires_then_taken_over() {
        let held = spec("pod-a", t(0), D, t(0), 0);
        assert_eq!(
            decide(Some(&held), "pod-b", t(14), D, t(1)),
            Decision::Follow {
                holder: "pod-a".into(),
                until: t(15)
            }
        );
        let Decision::TakeOver(s) = decide(Some(&held), "pod-b", t(15), D, t(1)) else {
            panic!("take over");
        };
        assert_eq!(s.holder_identity.as_deref(), Some("pod-b"));
        assert_eq!(s.lease_transitions, Some(1));
        assert_eq!(s.acquire_time, Some(MicroTime(t(15))));
    }

    #[test]
    fn a_released_lease_is_taken_at_once() {
        let mut held = spec("pod-a", t(0), D, t(0), 2);
        held.holder_identity = None;
        assert!(matches!(
            decide(Some(&held), "pod-b", t(1), D, t(1)),
            Decision::TakeOver(_)
        ));
    }

    #[test]
    fn a_holder_that_cannot_renew_stops_before_the_lease_can_be_taken() {
        let deadline = Duration::from_secs(10);
        assert!(leading(t(0), t(9), deadline));
        assert!(!leading(t(0), t(10), deadline));
        // Nobody may take over before t(15): the old holder stopped at t(10).
        let held = spec("pod-a", t(0), D, t(0), 0);
        assert!(matches!(
            decide(Some(&held), "pod-b", t(12), D, t(0)),
            Decision::Follow { .. }
        ));
    }

    #[test]
    fn clock_skew_cannot_make_two_writers_nor_block_a_takeover_for_long() {
        // The holder's clock is 60 s behind ours: its renewTime looks long expired when we
        // see it at t(100). We still wait three quarters of the duration from seeing it; the
        // holder stopped two thirds into it after that renewal.
        let behind = spec("pod-a", t(40), D, t(40), 0);
        assert!(matches!(
            decide(Some(&behind), "pod-b", t(111), D, t(100)),
            Decision::Follow { .. }
        ));
        assert!(matches!(
            decide(Some(&behind), "pod-b", t(112), D, t(100)),
            Decision::TakeOver(_)
        ));
        // Its clock is an hour ahead: at most a full duration after we saw the renewal.
        let ahead = spec("pod-a", t(3700), D, t(3700), 0);
        assert_eq!(
            decide(Some(&ahead), "pod-b", t(110), D, t(100)),
            Decision::Follow {
                holder: "pod-a".into(),
                until: t(115)
            }
        );
    }
}
