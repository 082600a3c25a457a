//! Time-bucketed metric history: per-second buckets averaged over a window
//! (Knative's `aggregation.TimedFloat64Buckets`) and a running maximum over a
//! window (Knative's `aggregation/max.TimeWindow`, used for scale-down-delay).
//!
//! Buckets are one [`BUCKET_SIZE`](crate::config::BUCKET_SIZE) wide and counted from
//! the first instant recorded, so any `Instant` source works.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Whole buckets (seconds) a duration spans, at least one.
fn buckets_in(d: Duration) -> u64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    secs.max(1)
}

/// Per-second sums of a metric, kept for a retention period, averaged over any
/// window up to it. Values recorded in the same second add up (as upstream, where
/// every pod's report lands in the same bucket).
#[derive(Debug, Clone)]
pub struct TimedBuckets {
    origin: Option<Instant>,
    /// `(second, sum)` for seconds that received data, ascending.
    buckets: VecDeque<(u64, f64)>,
    retention: u64,
}

impl TimedBuckets {
    /// Empty buckets keeping `retention` of history (the largest window that will be
    /// asked for).
    pub fn new(retention: Duration) -> Self {
        TimedBuckets {
            origin: None,
            buckets: VecDeque::new(),
            retention: buckets_in(retention),
        }
    }

    /// Keeps at least `retention` of history from now on (windows can grow when a
    /// revision's annotations change).
    pub fn set_retention(&mut self, retention: Duration) {
        self.retention = buckets_in(retention);
    }

    fn second(&self, now: Instant) -> u64 {
        self.origin
            .map(|o| now.saturating_duration_since(o).as_secs())
            .unwrap_or(0)
    }

    /// Adds `value` to the bucket of `now`. Late values (older than the newest
    /// bucket) still land in their own bucket while it is retained.
    pub fn record(&mut self, now: Instant, value: f64) {
        if !value.is_finite() {
            return;
        }
        let origin = *self.origin.get_or_insert(now);
        let sec = now.saturating_duration_since(origin).as_secs();
        match self.buckets.back_mut() {
            Some((last, sum)) if *last == sec => *sum += value,
            Some((last, _)) if *last > sec => {
                let last = *last;
                if last - sec >= self.retention {
                    return;
                }
                match self.buckets.binary_search_by(|(s, _)| s.cmp(&sec)) {
                    Ok(i) => self.buckets[i].1 += value,
                    Err(i) => self.buckets.insert(i, (sec, value)),
                }
            }
            _ => self.buckets.push_back((sec, value)),
        }
        let newest = self.buckets.back().map(|b| b.0).unwrap_or(sec);
        while self
            .buckets
            .front()
            .is_some_and(|(s, _)| newest - s >= self.retention)
        {
            self.buckets.pop_front();
        }
    }

    /// Whether nothing was recorded within `window` before `now` (Knative's
    /// `IsEmpty`, which makes the decider report "no data").
    pub fn is_empty(&self, now: Instant, window: Duration) -> bool {
        match self.buckets.back() {
            None => true,
            Some((last, _)) => self.second(now).saturating_sub(*last) > buckets_in(window),
        }
    }

    /// The average bucket value over the `window` ending at `now`, as Knative
    /// computes it: seconds without data inside the data's span count as zero; when
    /// the data is younger than the window (first write less than a window ago, or
    /// after a silence longer than the window) only the seconds since the first
    /// write count; seconds after the last write are not counted either (the
    /// source stopped reporting rather than reported zero). `None` when there is
    /// no data in the window.
    pub fn window_average(&self, now: Instant, window: Duration) -> Option<f64> {
        let w = buckets_in(window);
        let (last, _) = *self.buckets.back()?;
        let now_s = self.second(now);
        let d = now_s.saturating_sub(last);
        if d > w {
            return None;
        }
        if d == w {
            return Some(0.0);
        }
        // The first write of the current run: a silence longer than the window resets it.
        let mut first = last;
        for &(s, _) in self.buckets.iter().rev().skip(1) {
            if first - s > w {
                break;
            }
            first = s;
        }
        // Data in (end - w, last], where end = max(now, last).
        let end = now_s.max(last);
        let sum: f64 = self
            .buckets
            .iter()
            .rev()
            .take_while(|(s, _)| s + w > end)
            .filter(|(s, _)| *s >= first)
            .map(|(_, v)| v)
            .sum();
        let span = last - first + 1;
        let n = span.min(w - d);
        Some(sum / n as f64)
    }
}

/// The maximum of values recorded over a trailing window of whole seconds
/// (Knative's `max.TimeWindow`): a monotonic deque, O(1) amortised per record.
#[derive(Debug, Clone)]
pub struct MaxWindow {
    size: u64,
    origin: Option<Instant>,
    /// `(second, value)`, values strictly decreasing front to back.
    entries: VecDeque<(u64, u32)>,
}

impl MaxWindow {
    /// A window spanning `duration` (rounded up to whole seconds).
    pub fn new(duration: Duration) -> Self {
        MaxWindow {
            size: buckets_in(duration),
            origin: None,
            entries: VecDeque::new(),
        }
    }

    /// The span this window was created with, in seconds.
    pub fn size_secs(&self) -> u64 {
        self.size
    }

    /// Records `value` at `now` (times must not go backwards).
    pub fn record(&mut self, now: Instant, value: u32) {
        let origin = *self.origin.get_or_insert(now);
        let idx = now.saturating_duration_since(origin).as_secs();
        // A smaller value before a larger one can never be the maximum again.
        while self.entries.back().is_some_and(|(_, v)| *v <= value) {
            self.entries.pop_back();
        }
        while self
            .entries
            .front()
            .is_some_and(|(i, _)| *i + self.size <= idx)
        {
            self.entries.pop_front();
        }
        self.entries.push_back((idx, value));
    }

    /// The largest value recorded in the window ending at the last record.
    pub fn current(&self) -> u32 {
        self.entries.front().map(|(_, v)| *v).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn empty_buckets_have_no_average() {
        let b = TimedBuckets::new(Duration::from_secs(60));
        let t = Instant::now();
        assert_eq!(b.window_average(t, Duration::from_secs(60)), None);
        assert!(b.is_empty(t, Duration::from_secs(60)));
    }

    #[test]
    fn full_window_averages_every_bucket() {
        let t0 = Instant::now();
        let mut b = TimedBuckets::new(Duration::from_secs(60));
        for i in 0..120u64 {
            b.record(t0 + S * i as u32, i as f64);
        }
        // Last 60 seconds: 60..=119 → mean 89.5.
        let now = t0 + S * 119;
        assert_eq!(b.window_average(now, Duration::from_secs(60)), Some(89.5));
        // A 6s panic window over the same data: 114..=119 → 116.5.
        assert_eq!(b.window_average(now, Duration::from_secs(6)), Some(116.5));
    }

    #[test]
    fn young_data_averages_over_its_own_span() {
        let t0 = Instant::now();
        let mut b = TimedBuckets::new(Duration::from_secs(60));
        for i in 0..6u32 {
            b.record(t0 + S * i, 10.0);
        }
        // 6 seconds of data in a 60s window: averaged over 6 buckets, not 60.
        assert_eq!(
            b.window_average(t0 + S * 5, Duration::from_secs(60)),
            Some(10.0)
        );
    }

    #[test]
    fn gaps_inside_the_data_count_as_zero() {
        let t0 = Instant::now();
        let mut b = TimedBuckets::new(Duration::from_secs(60));
        b.record(t0, 10.0);
        b.record(t0 + S * 9, 10.0);
        // Seconds 0..=9 with 8 silent ones: 20 / 10.
        assert_eq!(
            b.window_average(t0 + S * 9, Duration::from_secs(60)),
            Some(2.0)
        );
    }

    #[test]
    fn silence_after_the_last_write_shrinks_the_window() {
        let t0 = Instant::now();
        let mut b = TimedBuckets::new(Duration::from_secs(60));
        for i in 0..100u32 {
            b.record(t0 + S * i, 10.0);
        }
        // 10s without reports: average over the 50 seconds still in the window.
        let w = Duration::from_secs(60);
        assert_eq!(b.window_average(t0 + S * 109, w), Some(10.0));
        assert!(!b.is_empty(t0 + S * 159, w));
        assert_eq!(b.window_average(t0 + S * 159, w), Some(0.0));
        assert_eq!(b.window_average(t0 + S * 160, w), None);
        assert!(b.is_empty(t0 + S * 160, w));
    }

    #[test]
    fn a_long_silence_resets_the_first_write() {
        let t0 = Instant::now();
        let mut b = TimedBuckets::new(Duration::from_secs(600));
        b.record(t0, 1000.0);
        b.record(t0 + S * 100, 3.0);
        // The first write is reset by the 100s silence (> 60s window).
        assert_eq!(
            b.window_average(t0 + S * 100, Duration::from_secs(60)),
            Some(3.0)
        );
        // A 600s window spans both: (1000 + 3) / 101 buckets.
        let avg = b
            .window_average(t0 + S * 100, Duration::from_secs(600))
            .unwrap();
        assert!((avg - 1003.0 / 101.0).abs() < 1e-9);
    }

    #[test]
    fn values_in_one_second_add_up_and_late_values_land() {
        let t0 = Instant::now();
        let mut b = TimedBuckets::new(Duration::from_secs(60));
        b.record(t0, 1.0);
        b.record(t0 + Duration::from_millis(500), 2.0);
        b.record(t0 + S * 2, 3.0);
        b.record(t0 + S, 3.0);
        assert_eq!(
            b.window_average(t0 + S * 2, Duration::from_secs(60)),
            Some(3.0)
        );
        b.record(t0 + S, f64::NAN);
        assert_eq!(
            b.window_average(t0 + S * 2, Duration::from_secs(60)),
            Some(3.0)
        );
    }

    #[test]
    fn retention_drops_old_buckets() {
        let t0 = Instant::now();
        let mut b = TimedBuckets::new(Duration::from_secs(10));
        for i in 0..1000u32 {
            b.record(t0 + S * i, 1.0);
        }
        assert!(b.buckets.len() <= 10);
        b.set_retention(Duration::from_secs(20));
        for i in 1000..1100u32 {
            b.record(t0 + S * i, 1.0);
        }
        assert_eq!(b.buckets.len(), 20);
    }

    #[test]
    fn max_window_keeps_the_largest_recent_value() {
        let t0 = Instant::now();
        let mut m = MaxWindow::new(Duration::from_secs(5));
        assert_eq!(m.current(), 0);
        m.record(t0, 4);
        m.record(t0 + S, 2);
        assert_eq!(m.current(), 4);
        m.record(t0 + S * 4, 1);
        assert_eq!(m.current(), 4);
        m.record(t0 + S * 5, 1);
        assert_eq!(m.current(), 2, "4 scrolled out");
        m.record(t0 + S * 6, 1);
        assert_eq!(m.current(), 1);
        m.record(t0 + S * 6, 3);
        m.record(t0 + S * 6, 2);
        assert_eq!(m.current(), 3, "the largest value of a second wins");
        assert_eq!(m.size_secs(), 5);
    }
}
