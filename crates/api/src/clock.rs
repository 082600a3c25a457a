//! Time, injected: the API server and the controllers stamp and compare wall-clock
//! times through a [`Clock`], so tests can stop and move it.

use std::sync::Mutex;

/// A source of the current wall-clock time.
pub trait Clock: Send + Sync + 'static {
    /// Now, as a timestamp.
    fn now(&self) -> jiff::Timestamp;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> jiff::Timestamp {
        jiff::Timestamp::now()
    }
}

/// The real wall clock truncated to whole seconds, the precision API times are
/// stored with: a time compared with a stored one then agrees with it.
#[derive(Debug, Default, Clone, Copy)]
pub struct SecondsClock;

impl Clock for SecondsClock {
    fn now(&self) -> jiff::Timestamp {
        let now = jiff::Timestamp::now();
        jiff::Timestamp::from_second(now.as_second()).unwrap_or(now)
    }
}

/// A clock tests move by hand.
#[derive(Debug)]
pub struct ManualClock(Mutex<jiff::Timestamp>);

impl ManualClock {
    /// A clock stopped at `t`.
    pub fn new(t: jiff::Timestamp) -> Self {
        ManualClock(Mutex::new(t))
    }
    /// Moves the clock forward.
    pub fn advance(&self, d: std::time::Duration) {
        let mut t = self.0.lock().unwrap();
        *t = t
            .checked_add(jiff::SignedDuration::try_from(d).unwrap())
            .unwrap();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> jiff::Timestamp {
        *self.0.lock().unwrap()
    }
}

/// Kubernetes' RFC 3339 timestamp with second precision, e.g. `2026-11-26T04:03:28Z`.
pub fn k8s_time(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(std::time::Duration::from_secs(90));
        assert_eq!(k8s_time(clock.now()), "2027-01-15T08:01:30Z");
        assert_eq!(SecondsClock.now().subsec_nanosecond(), 0);
    }
}
