//! How long to wait before the next attempt. Pure arithmetic: no clock, no sleeping.
//!
//! Attempts the server never sees (refused, name not resolvable yet) are cheap, so they are
//! polled at a steady ~50 ms: the command starts soon after the server appears, however
//! long the outage was. Attempts the server does see (a handshake it rejects, "the database
//! system is starting up") back off exponentially with jitter up to ~1 s, so a struggling
//! server and its log are not hammered, and many waiting containers do not move in step.

use std::time::Duration;

use crate::probe::Pace;

/// Mean interval between cheap attempts.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// First back-off step after an attempt the server saw.
pub const BACKOFF_BASE: Duration = Duration::from_millis(100);
/// Longest back-off step.
pub const BACKOFF_CAP: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct Backoff {
    /// Consecutive attempts that the server saw and rejected.
    streak: u32,
    rng: XorShift,
}

impl Backoff {
    pub fn new(seed: u64) -> Self {
        Backoff {
            streak: 0,
            rng: XorShift::new(seed),
        }
    }

    /// A seed that differs between processes and runs, so that containers started
    /// together spread out.
    pub fn seed_from_environment() -> u64 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        nanos ^ (u64::from(std::process::id()) << 32)
    }

    /// The pause after a failure of the given pace.
    pub fn next_delay(&mut self, pace: Pace) -> Duration {
        match pace {
            Pace::Poll => {
                // The server is not there at all: whatever it did before no longer matters.
                self.streak = 0;
                // 40..60 ms.
                POLL_INTERVAL.mul_f64(0.8 + 0.4 * self.rng.unit())
            }
            Pace::Backoff => {
                let step = BACKOFF_BASE
                    .saturating_mul(1u32 << self.streak.min(16))
                    .min(BACKOFF_CAP);
                self.streak = self.streak.saturating_add(1);
                // "Equal jitter": half the step is fixed, half is random.
                step.mul_f64(0.5 + 0.5 * self.rng.unit())
            }
        }
    }
}

/// xorshift64*: tiny, fast and plenty for jitter. Not for anything secret.
#[derive(Debug, Clone)]
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // The state must never be zero.
        XorShift(seed | 1)
    }

    /// A number in [0, 1).
    fn unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn cheap_failures_are_polled_every_40_to_60_ms_forever() {
        let mut b = Backoff::new(7);
        for _ in 0..10_000 {
            let d = b.next_delay(Pace::Poll);
            assert!(d >= 40 * MS && d <= 60 * MS, "{d:?}");
        }
    }

    #[test]
    fn server_seen_failures_back_off_exponentially_up_to_one_second() {
        let mut b = Backoff::new(42);
        let steps: Vec<Duration> = (0..8).map(|_| b.next_delay(Pace::Backoff)).collect();
        let bounds = [100, 200, 400, 800, 1000, 1000, 1000, 1000];
        for (d, max) in steps.iter().zip(bounds) {
            assert!(
                *d >= max * MS / 2 && *d <= max * MS,
                "{d:?} not in [{}, {max}] ms",
                max / 2
            );
        }
    }

    #[test]
    fn a_cheap_failure_resets_the_back_off() {
        let mut b = Backoff::new(3);
        for _ in 0..6 {
            b.next_delay(Pace::Backoff);
        }
        b.next_delay(Pace::Poll);
        assert!(b.next_delay(Pace::Backoff) <= 100 * MS);
    }

    #[test]
    fn jitter_spreads_delays() {
        let mut a = Backoff::new(1);
        let mut b = Backoff::new(2);
        let da: Vec<_> = (0..5).map(|_| a.next_delay(Pace::Backoff)).collect();
        let db: Vec<_> = (0..5).map(|_| b.next_delay(Pace::Backoff)).collect();
        assert_ne!(da, db);
    }

    #[test]
    fn unit_interval_is_half_open() {
        let mut r = XorShift::new(0);
        for _ in 0..100_000 {
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
        }
    }
}
