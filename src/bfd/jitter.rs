//! The transmit jitter of RFC 5880 §6.8.7 from a small deterministic PRNG (SplitMix64): the
//! runtime picks the seed, tests replay it.

use std::time::Duration;

/// Jitter source for one session.
#[derive(Debug, Clone)]
pub(super) struct Jitter {
    state: u64,
}

impl Jitter {
    pub(super) fn new(seed: u64) -> Jitter {
        Jitter { state: seed }
    }

    /// SplitMix64 (Steele, Lea, Flood 2014): every seed, zero included, gives a full sequence.
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// `interval` reduced by a random 0-25 %, or 10-25 % when `detect_mult` is 1 (§6.8.7: the
    /// interval is then at most 90 % of the nominal), in steps of one part per million.
    pub(super) fn apply(&mut self, interval: Duration, detect_mult: u8) -> Duration {
        const PPM: u64 = 1_000_000;
        let (lo, hi) = if detect_mult == 1 {
            (750_000, 900_000)
        } else {
            (750_000, PPM)
        };
        let keep = lo + self.next_u64() % (hi - lo + 1);
        let nanos = interval.as_nanos() * u128::from(keep) / u128::from(PPM);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_75_to_100_percent() {
        let mut j = Jitter::new(7);
        let nominal = Duration::from_millis(300);
        let mut seen = Vec::new();
        for _ in 0..10_000 {
            let d = j.apply(nominal, 3);
            assert!(d >= nominal * 3 / 4 && d <= nominal, "{d:?}");
            seen.push(d);
        }
        // Spread over the range, not stuck at one end.
        assert!(seen.iter().any(|d| *d < nominal * 80 / 100));
        assert!(seen.iter().any(|d| *d > nominal * 95 / 100));
    }

    #[test]
    fn jitter_with_detect_mult_1_stays_within_75_to_90_percent() {
        let mut j = Jitter::new(0);
        let nominal = Duration::from_secs(1);
        for _ in 0..10_000 {
            let d = j.apply(nominal, 1);
            assert!(d >= nominal * 3 / 4 && d <= nominal * 9 / 10, "{d:?}");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_sequence() {
        let (mut a, mut b) = (Jitter::new(42), Jitter::new(42));
        let d = Duration::from_millis(50);
        for _ in 0..100 {
            assert_eq!(a.apply(d, 3), b.apply(d, 3));
        }
    }
}
