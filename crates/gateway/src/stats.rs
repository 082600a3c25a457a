//! What the autoscaler learns from the data plane (Knative's queue-proxy and activator
//! stats): per revision, the time-averaged number of requests in flight and the number
//! of requests, since the last scrape; plus "pokes", the signal that a request is
//! waiting for a revision with no ready instance (scale from zero now, not at the next
//! autoscaler tick).
//!
//! A request counts as in flight from the moment it is routed to its revision (also
//! while it waits for an instance, as the activator counts held requests) until its
//! response ends. The average is exact, not sampled: each meter integrates in-flight
//! count over time from the start and end instants of requests, so scraping at any
//! rate gives the true mean concurrency of the interval.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::config::{FastMap, RevisionKey};
use crate::metrics::{AutoscalerReport, RevisionLabels};

/// Integrates one revision's in-flight requests over time.
#[derive(Debug)]
pub struct ConcurrencyMeter {
    state: Mutex<MeterState>,
}

#[derive(Debug)]
struct MeterState {
    /// Requests in flight now.
    in_flight: u64,
    /// Sum over in-flight requests of when they started counting in this interval
    /// (their start, or the last scrape if they started before it), as offsets from
    /// `base`.
    start_sum: Duration,
    /// In-flight time of requests that ended in this interval.
    done: Duration,
    /// Requests that arrived in this interval.
    arrivals: u64,
    /// Start of this interval (the last scrape).
    since: Instant,
    base: Instant,
}

/// One interval of one revision, as a scrape returns it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Mean requests in flight over the interval.
    pub concurrency: f64,
    /// Requests that arrived in the interval.
    pub requests: u64,
    /// Requests in flight at the end of the interval.
    pub in_flight: u64,
    /// Length of the interval.
    pub interval: Duration,
}

impl ConcurrencyMeter {
    fn new(now: Instant) -> Self {
        ConcurrencyMeter {
            state: Mutex::new(MeterState {
                in_flight: 0,
                start_sum: Duration::ZERO,
                done: Duration::ZERO,
                arrivals: 0,
                since: now,
                base: now,
            }),
        }
    }

    /// A request started at `at`.
    pub fn start(&self, at: Instant) {
        let mut st = self.state.lock().unwrap();
        let offset = at.max(st.since).saturating_duration_since(st.base);
        st.in_flight += 1;
        st.start_sum += offset;
        st.arrivals += 1;
    }

    /// A request that started at `started` ended at `at`.
    pub fn end(&self, started: Instant, at: Instant) {
        let mut st = self.state.lock().unwrap();
        let from = started.max(st.since);
        let offset = from.saturating_duration_since(st.base);
        st.in_flight = st.in_flight.saturating_sub(1);
        st.start_sum = st.start_sum.saturating_sub(offset);
        st.done += at.saturating_duration_since(from);
    }

    /// The interval since the last scrape, ending at `now`; starts the next one.
    pub fn scrape(&self, now: Instant) -> Sample {
        let mut st = self.state.lock().unwrap();
        let now = now.max(st.since);
        let interval = now - st.since;
        // Time in flight of the requests still going: n·(now − base) − Σ start offsets.
        let running = (now - st.base)
            .saturating_mul(st.in_flight as u32)
            .saturating_sub(st.start_sum);
        let area = st.done + running;
        let sample = Sample {
            concurrency: if interval.is_zero() {
                st.in_flight as f64
            } else {
                area.as_secs_f64() / interval.as_secs_f64()
            },
            requests: st.arrivals,
            in_flight: st.in_flight,
            interval,
        };
        // The next interval: everything in flight now counts from `now`.
        st.base = now;
        st.since = now;
        st.start_sum = Duration::ZERO;
        st.done = Duration::ZERO;
        st.arrivals = 0;
        sample
    }

    fn idle(&self) -> bool {
        let st = self.state.lock().unwrap();
        st.in_flight == 0 && st.arrivals == 0
    }
}

/// Every revision's meter, the pokes of revisions with requests waiting at zero, and
/// (the other way) the autoscaler's latest decisions for `/metrics`.
#[derive(Debug, Default)]
pub struct ScalingStats {
    meters: RwLock<FastMap<RevisionKey, Arc<ConcurrencyMeter>>>,
    poked: Mutex<HashSet<RevisionKey>>,
    pokes: Notify,
    reports: Mutex<HashMap<RevisionKey, (RevisionLabels, AutoscalerReport)>>,
}

impl ScalingStats {
    /// The meter of revision `key` (made on first use).
    pub fn meter(&self, key: &RevisionKey) -> Arc<ConcurrencyMeter> {
        if let Some(m) = self.meters.read().unwrap().get(key) {
            return m.clone();
        }
        self.meters
            .write()
            .unwrap()
            .entry(key.clone())
            .or_insert_with(|| Arc::new(ConcurrencyMeter::new(Instant::now())))
            .clone()
    }

    /// Every revision's interval since its last scrape, ending at `now`. Meters that
    /// saw nothing and that no request handle holds any more are forgotten.
    pub fn scrape(&self, now: Instant) -> Vec<(RevisionKey, Sample)> {
        let mut meters = self.meters.write().unwrap();
        let out = meters
            .iter()
            .map(|(k, m)| (k.clone(), m.scrape(now)))
            .collect();
        meters.retain(|_, m| Arc::strong_count(m) > 1 || !m.idle());
        out
    }

    /// A request is waiting for revision `key`, which has no ready instance.
    pub fn poke(&self, key: &RevisionKey) {
        let fresh = self.poked.lock().unwrap().insert(key.clone());
        if fresh {
            self.pokes.notify_one();
        }
    }

    /// The autoscaler's latest decision for revision `key` (shown on `/metrics`).
    pub fn report(&self, key: &RevisionKey, labels: RevisionLabels, report: AutoscalerReport) {
        self.reports
            .lock()
            .unwrap()
            .insert(key.clone(), (labels, report));
    }

    /// Forgets the decisions of a revision that is gone.
    pub fn forget_report(&self, key: &RevisionKey) {
        self.reports.lock().unwrap().remove(key);
    }

    /// Every revision's latest decision.
    pub fn reports(&self) -> Vec<(RevisionLabels, AutoscalerReport)> {
        self.reports.lock().unwrap().values().cloned().collect()
    }

    /// Waits for pokes and returns the revisions poked since the last call.
    pub async fn poked(&self) -> Vec<RevisionKey> {
        loop {
            let keys: Vec<RevisionKey> = self.poked.lock().unwrap().drain().collect();
            if !keys.is_empty() {
                return keys;
            }
            self.pokes.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn mean_concurrency_is_time_weighted() {
        let t0 = Instant::now();
        let m = ConcurrencyMeter::new(t0);
        // Two requests over the first second: one for 500 ms, one for 250 ms.
        m.start(t0);
        m.start(t0 + ms(100));
        m.end(t0, t0 + ms(500));
        m.end(t0 + ms(100), t0 + ms(350));
        let s = m.scrape(t0 + ms(1000));
        assert!((s.concurrency - 0.75).abs() < 1e-9, "{s:?}");
        assert_eq!(s.requests, 2);
        assert_eq!(s.in_flight, 0);
    }

    #[test]
    fn requests_spanning_scrapes_count_in_each_interval() {
        let t0 = Instant::now();
        let m = ConcurrencyMeter::new(t0);
        m.start(t0 + ms(500));
        let s1 = m.scrape(t0 + ms(1000));
        assert!((s1.concurrency - 0.5).abs() < 1e-9, "{s1:?}");
        assert_eq!(s1.in_flight, 1);
        // Still running through the whole second interval.
        let s2 = m.scrape(t0 + ms(2000));
        assert!((s2.concurrency - 1.0).abs() < 1e-9, "{s2:?}");
        assert_eq!(s2.requests, 0, "arrivals count once");
        // Ends a quarter into the third.
        m.end(t0 + ms(500), t0 + ms(2250));
        let s3 = m.scrape(t0 + ms(3000));
        assert!((s3.concurrency - 0.25).abs() < 1e-9, "{s3:?}");
        assert_eq!(s3.in_flight, 0);
    }

    #[test]
    fn idle_meters_without_handles_are_forgotten() {
        let stats = ScalingStats::default();
        let key = RevisionKey {
            namespace: "default".into(),
            name: "hello-00001".into(),
        };
        let held = stats.meter(&key);
        held.start(Instant::now());
        assert_eq!(stats.scrape(Instant::now()).len(), 1);
        held.end(Instant::now(), Instant::now());
        drop(held);
        // The interval with the end is still reported, then the meter goes.
        assert_eq!(stats.scrape(Instant::now()).len(), 1);
        assert!(stats.scrape(Instant::now()).is_empty());
    }

    #[tokio::test]
    async fn pokes_are_deduplicated_until_taken() {
        let stats = Arc::new(ScalingStats::default());
        let key = |n: &str| RevisionKey {
            namespace: "default".into(),
            name: n.into(),
        };
        stats.poke(&key("a"));
        stats.poke(&key("a"));
        stats.poke(&key("b"));
        let mut got = stats.poked().await;
        got.sort_by(|x, y| x.name.cmp(&y.name));
        assert_eq!(got, vec![key("a"), key("b")]);
        let waiter = tokio::spawn({
            let stats = stats.clone();
            async move { stats.poked().await }
        });
        tokio::task::yield_now().await;
        stats.poke(&key("c"));
        assert_eq!(waiter.await.unwrap(), vec![key("c")]);
    }
}
