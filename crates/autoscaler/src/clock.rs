//! Injected time. Every decision in this crate depends on time (windows, grace
//! periods, timeouts); taking the time from a [`Clock`] (or an explicit `now`) keeps
//! the logic deterministic and lets tests move time forward without sleeping.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A source of the current time, so callers can swap the system clock for a
/// [`FakeClock`] in tests.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// The real monotonic clock, for production use.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that only moves when told to, so tests replay scenarios that span
/// minutes in microseconds.
#[derive(Debug)]
pub struct FakeClock {
    base: Instant,
    offset: Mutex<Duration>,
}

impl FakeClock {
    /// A fake clock standing at the current instant.
    pub fn new() -> Self {
        Self::at(Instant::now())
    }

    /// A fake clock standing at `base`.
    pub fn at(base: Instant) -> Self {
        FakeClock {
            base,
            offset: Mutex::new(Duration::ZERO),
        }
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        let mut offset = self.offset.lock().unwrap_or_else(|e| e.into_inner());
        *offset += d;
    }

    /// How far the clock has moved since it was created.
    pub fn elapsed(&self) -> Duration {
        *self.offset.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for FakeClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        self.base + self.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_clock_moves_only_when_advanced() {
        let c = FakeClock::new();
        let t0 = c.now();
        assert_eq!(c.now(), t0);
        c.advance(Duration::from_secs(90));
        assert_eq!(c.now() - t0, Duration::from_secs(90));
        assert_eq!(c.elapsed(), Duration::from_secs(90));
        let dyn_clock: &dyn Clock = &c;
        assert_eq!(dyn_clock.now() - t0, Duration::from_secs(90));
        assert!(SystemClock.now() <= Instant::now());
    }
}
