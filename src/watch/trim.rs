//! Giving freed heap memory back to the system: glibc keeps what a burst freed (the pages of
//! a relist's decoded objects, of 10,000 status writes' responses) mapped, so the resident size
//! stays at the burst's high-water mark. `malloc_trim(0)` returns every whole free page.
//!
//! Trimming walks the whole heap (hundreds of milliseconds at 10,000 Services), so it is done
//! once a burst is over, not during it: the speaker notes each recomputation
//! ([`Trim::changed`]) and, on its one-second tick, trims when [`Trim::QUIET`] has passed since
//! the last one ([`Trim::when_quiet`]). `FERROLB_MALLOC_TRIM=0` turns it off (to measure what
//! it does).
//!
//! glibc also gives every thread that meets a busy arena an arena of its own (up to eight per
//! core), and each keeps what was freed in it: the decoded list pages on one worker, the
//! status responses on another, none reusing the other's free memory. Kubernetes mode limits
//! them to [`ARENAS`] ([`limit_arenas`]) before it starts its tasks; `MALLOC_ARENA_MAX` in the
//! environment wins.

use std::time::{Duration, Instant};

/// `malloc_trim(0)` once things have been quiet for a while.
#[derive(Debug)]
pub struct Trim {
    enabled: bool,
    /// The last change not yet followed by a trim.
    since: Option<Instant>,
}

impl Default for Trim {
    fn default() -> Self {
        Trim {
            enabled: std::env::var_os("FERROLB_MALLOC_TRIM").is_none_or(|v| v != "0"),
            since: None,
        }
    }
}

impl Trim {
    /// How long nothing must have changed before a trim.
    pub const QUIET: Duration = Duration::from_secs(1);

    /// Something was recomputed (memory was freed and allocated).
    pub fn changed(&mut self, now: Instant) {
        self.since = Some(now);
    }

    /// Trims when a change is pending and [`Trim::QUIET`] has passed since; true when it did.
    pub fn when_quiet(&mut self, now: Instant) -> bool {
        let due = self
            .since
            .is_some_and(|t| now.saturating_duration_since(t) >= Self::QUIET);
        if !due {
            return false;
        }
        self.since = None;
        if self.enabled {
            trim();
        }
        self.enabled
    }
}

/// The malloc arenas Kubernetes mode lets glibc create (one per tokio worker on two cores).
pub const ARENAS: i32 = 2;

/// Limits glibc's malloc arenas to [`ARENAS`], unless `MALLOC_ARENA_MAX` says otherwise.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn limit_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    // SAFETY: mallopt only sets a malloc parameter; M_ARENA_MAX bounds arenas created later.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn limit_arenas() {}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim has no preconditions; it only walks and releases free heap memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_trims_once_after_a_quiet_second_and_not_during_a_burst() {
        let t0 = Instant::now();
        let mut t = Trim {
            enabled: true,
            since: None,
        };
        assert!(!t.when_quiet(t0), "nothing changed");
        t.changed(t0);
        assert!(!t.when_quiet(t0 + Duration::from_millis(500)));
        t.changed(t0 + Duration::from_millis(900));
        assert!(
            !t.when_quiet(t0 + Duration::from_millis(1500)),
            "still busy"
        );
        assert!(t.when_quiet(t0 + Duration::from_millis(1900)));
        assert!(!t.when_quiet(t0 + Duration::from_secs(5)), "once per burst");
        let mut off = Trim {
            enabled: false,
            since: None,
        };
        off.changed(t0);
        assert!(!off.when_quiet(t0 + Duration::from_secs(2)));
    }
}
