//! Giving freed heap memory back to the system: glibc keeps what a burst freed (the pages of
//! a relist's decoded objects, of 10,000 status writes' responses) mapped, so the resident size
//! stays at the burst's high-water mark. `malloc_trim(0)` returns every whole free page.
//!
//! The speaker calls [`Trim::after_burst`] after each recomputation; it trims at most once per
//! [`Trim::EVERY`]. `FERROLB_MALLOC_TRIM=0` turns it off (to measure what it does).

use std::time::{Duration, Instant};

/// Rate-limited `malloc_trim(0)`.
#[derive(Debug)]
pub struct Trim {
    enabled: bool,
    last: Option<Instant>,
}

impl Default for Trim {
    fn default() -> Self {
        Trim {
            enabled: std::env::var_os("FERROLB_MALLOC_TRIM").is_none_or(|v| v != "0"),
            last: None,
        }
    }
}

impl Trim {
    /// At most one trim per this.
    pub const EVERY: Duration = Duration::from_secs(2);

    /// Trims unless it did within [`Trim::EVERY`]; true when it did.
    pub fn after_burst(&mut self) -> bool {
        if !self.enabled || self.last.is_some_and(|t| t.elapsed() < Self::EVERY) {
            return false;
        }
        self.last = Some(Instant::now());
        trim();
        true
    }
}

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
    fn it_trims_at_most_once_per_period() {
        let mut t = Trim {
            enabled: true,
            last: None,
        };
        assert!(t.after_burst());
        assert!(!t.after_burst(), "within the period");
        t.last = Some(Instant::now() - Trim::EVERY);
        assert!(t.after_burst());
        let mut off = Trim {
            enabled: false,
            last: None,
        };
        assert!(!off.after_burst());
    }
}
