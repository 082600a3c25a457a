//! Prometheus metrics with Knative's names and labels (`revision_request_count`,
//! `revision_request_latencies` as the activator/queue-proxy export them), plus an
//! in-flight gauge and a ready-instances gauge per revision.
//!
//! prometheus-client writes OpenMetrics text, where a counter's sample carries the
//! `_total` suffix: the series is `revision_request_count_total`.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::config::{Endpoints, FastMap, RevisionEndpoints, RevisionKey};
use crate::stats::{ConcurrencyMeter, ScalingStats};

/// Knative's request-latency buckets (milliseconds), as in its `defaultLatencyDistribution`.
pub const LATENCY_BUCKETS_MS: [f64; 25] = [
    5.0, 10.0, 20.0, 40.0, 60.0, 80.0, 100.0, 150.0, 200.0, 250.0, 300.0, 350.0, 400.0, 500.0,
    600.0, 700.0, 800.0, 900.0, 1000.0, 2000.0, 5000.0, 10000.0, 20000.0, 50000.0, 100000.0,
];

/// The labels naming a revision, as Knative's revision metrics carry them.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RevisionLabels {
    /// Namespace of the revision.
    pub namespace_name: String,
    /// The Knative Service owning the revision (or the Route name for a bare Route).
    pub service_name: String,
    /// The Configuration that created the revision.
    pub configuration_name: String,
    /// The revision.
    pub revision_name: String,
}

/// Revision labels plus the response code, for request counts and latencies.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    #[prometheus(flatten)]
    revision: RevisionLabels,
    response_code: u16,
    response_code_class: &'static str,
}

/// `2xx`, `4xx`, … for a status code.
pub fn code_class(code: u16) -> &'static str {
    match code / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

type HistogramFamily = Family<RequestLabels, Histogram, fn() -> Histogram>;

/// The gateway's metrics and the registry they are rendered from.
pub struct Metrics {
    registry: Registry,
    request_count: Family<RequestLabels, Counter>,
    request_latencies: HistogramFamily,
    in_flight: Family<RevisionLabels, Gauge>,
    ready_instances: Family<RevisionLabels, Gauge>,
    /// The autoscaler's decisions per revision (Knative autoscaler metric names).
    autoscaler: AutoscalerFamilies,
    /// Per-revision metric handles, so a request touches no label set (no string
    /// clones, no hashing of labels) on its way: see [`Metrics::revision`].
    revisions: RwLock<FastMap<RevisionKey, CachedRevision>>,
    /// The autoscaler's inputs (mean concurrency, request counts, pokes).
    stats: Arc<ScalingStats>,
}

struct CachedRevision {
    /// The endpoints the handles were made for (compared by pointer per request; a
    /// cached entry whose endpoints nobody else holds any more belongs to a revision
    /// that left and is pruned).
    endpoints: Arc<RevisionEndpoints>,
    metrics: Arc<RevisionMetrics>,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS_MS)
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with the gateway's metric families.
    pub fn new() -> Self {
        Self::with_stats(Arc::default())
    }

    /// [`Metrics::new`] recording the autoscaler's inputs into `stats`.
    pub fn with_stats(stats: Arc<ScalingStats>) -> Self {
        let mut registry = Registry::default();
        let request_count = Family::<RequestLabels, Counter>::default();
        registry.register(
            "revision_request_count",
            "The number of requests that are routed to a revision",
            request_count.clone(),
        );
        let request_latencies: HistogramFamily =
            Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "revision_request_latencies",
            "The response latencies of requests routed to a revision, in milliseconds",
            request_latencies.clone(),
        );
        let in_flight = Family::<RevisionLabels, Gauge>::default();
        registry.register(
            "revision_requests_in_flight",
            "Requests routed to a revision and not yet finished, including those queued for a free instance",
            in_flight.clone(),
        );
        let ready_instances = Family::<RevisionLabels, Gauge>::default();
        registry.register(
            "revision_ready_instances",
            "Ready instances of a revision that the gateway can send requests to",
            ready_instances.clone(),
        );
        let autoscaler = AutoscalerFamilies::register(&mut registry);
        Metrics {
            autoscaler,
            registry,
            request_count,
            request_latencies,
            in_flight,
            ready_instances,
            revisions: RwLock::new(FastMap::default()),
            stats,
        }
    }

    /// What the autoscaler scrapes: per-revision mean concurrency and requests.
    pub fn stats(&self) -> &Arc<ScalingStats> {
        &self.stats
    }

    /// The metric handles of a revision with these labels (made afresh: for the rare
    /// requests without endpoints; routed requests use [`Metrics::revision`]).
    pub fn revision_with_labels(&self, labels: RevisionLabels) -> Arc<RevisionMetrics> {
        let key = RevisionKey {
            namespace: labels.namespace_name.clone(),
            name: labels.revision_name.clone(),
        };
        Arc::new(RevisionMetrics {
            in_flight: self.in_flight.get_or_create_owned(&labels),
            meter: self.stats.meter(&key),
            labels,
            codes: RwLock::new(Vec::new()),
            request_count: self.request_count.clone(),
            request_latencies: self.request_latencies.clone(),
        })
    }

    /// The metric handles of revision `key` with endpoints `ep`, cached per revision
    /// (the labels come from `ep`, so a cache entry is remade only when `ep` changes).
    pub fn revision(&self, key: &RevisionKey, ep: &Arc<RevisionEndpoints>) -> Arc<RevisionMetrics> {
        if let Some(c) = self.revisions.read().unwrap().get(key) {
            if Arc::ptr_eq(&c.endpoints, ep) {
                return c.metrics.clone();
            }
        }
        let mut cache = self.revisions.write().unwrap();
        if let Some(c) = cache.get_mut(key) {
            if Arc::ptr_eq(&c.endpoints, ep) {
                return c.metrics.clone();
            }
            let l = &c.metrics.labels;
            if l.service_name == ep.service && l.configuration_name == ep.configuration {
                c.endpoints = ep.clone();
                return c.metrics.clone();
            }
        }
        let metrics = self.revision_with_labels(RevisionLabels {
            namespace_name: key.namespace.clone(),
            service_name: ep.service.clone(),
            configuration_name: ep.configuration.clone(),
            revision_name: key.name.clone(),
        });
        // Forget revisions whose endpoints were unpublished (only this cache holds them).
        cache.retain(|_, c| Arc::strong_count(&c.endpoints) > 1);
        cache.insert(
            key.clone(),
            CachedRevision {
                endpoints: ep.clone(),
                metrics: metrics.clone(),
            },
        );
        metrics
    }

    /// Counts one finished request and its latency.
    pub fn record_request(&self, revision: &RevisionLabels, code: u16, latency: Duration) {
        let labels = RequestLabels {
            revision: revision.clone(),
            response_code: code,
            response_code_class: code_class(code),
        };
        self.request_count.get_or_create(&labels).inc();
        self.request_latencies
            .get_or_create(&labels)
            .observe(latency.as_secs_f64() * 1000.0);
    }

    /// Marks one request in flight for `revision` until the guard is dropped.
    pub fn in_flight(&self, revision: &RevisionLabels) -> InFlightGuard {
        let gauge = self.in_flight.get_or_create_owned(revision);
        gauge.inc();
        InFlightGuard { gauge, meter: None }
    }

    /// Requests currently in flight for `revision` (as the gauge shows).
    pub fn in_flight_now(&self, revision: &RevisionLabels) -> i64 {
        self.in_flight.get_or_create(revision).get()
    }

    /// Sets the ready-instances gauges from `endpoints`, dropping revisions that left.
    pub fn set_ready_instances(&self, endpoints: &Endpoints) {
        self.ready_instances.clear();
        for (key, ep) in &endpoints.revisions {
            let labels = RevisionLabels {
                namespace_name: key.namespace.clone(),
                service_name: ep.service.clone(),
                configuration_name: ep.configuration.clone(),
                revision_name: key.name.clone(),
            };
            self.ready_instances
                .get_or_create(&labels)
                .set(ep.addresses.len() as i64);
        }
    }

    /// Shows the autoscaler's decisions as [`ScalingStats`] holds them now (series
    /// of revisions it no longer reports are dropped).
    pub fn sync_autoscaler(&self) {
        let reports = self.stats.reports();
        let a = &self.autoscaler;
        a.desired_pods.clear();
        a.actual_pods.clear();
        a.panic_mode.clear();
        a.stable_request_concurrency.clear();
        a.panic_request_concurrency.clear();
        a.target_concurrency_per_pod.clear();
        a.excess_burst_capacity.clear();
        for (labels, report) in &reports {
            self.set_autoscaler(labels, report);
        }
    }

    /// Publishes the autoscaler's latest decision for a revision.
    pub fn set_autoscaler(&self, labels: &RevisionLabels, report: &AutoscalerReport) {
        let a = &self.autoscaler;
        a.desired_pods
            .get_or_create(labels)
            .set(report.desired_pods);
        a.actual_pods.get_or_create(labels).set(report.actual_pods);
        a.panic_mode
            .get_or_create(labels)
            .set(i64::from(report.panic_mode));
        a.stable_request_concurrency
            .get_or_create(labels)
            .set(report.stable_request_concurrency);
        a.panic_request_concurrency
            .get_or_create(labels)
            .set(report.panic_request_concurrency);
        a.target_concurrency_per_pod
            .get_or_create(labels)
            .set(report.target_concurrency_per_pod);
        a.excess_burst_capacity
            .get_or_create(labels)
            .set(report.excess_burst_capacity);
    }

    /// Drops the autoscaler series of a revision that is gone.
    pub fn forget_autoscaler(&self, labels: &RevisionLabels) {
        let a = &self.autoscaler;
        a.desired_pods.remove(labels);
        a.actual_pods.remove(labels);
        a.panic_mode.remove(labels);
        a.stable_request_concurrency.remove(labels);
        a.panic_request_concurrency.remove(labels);
        a.target_concurrency_per_pod.remove(labels);
        a.excess_burst_capacity.remove(labels);
    }

    /// The registry in OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// One autoscaler decision, as `/metrics` shows it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AutoscalerReport {
    /// Instances the autoscaler wants.
    pub desired_pods: i64,
    /// Ready instances.
    pub actual_pods: i64,
    /// Whether the revision is in panic mode.
    pub panic_mode: bool,
    /// Mean concurrency over the stable window.
    pub stable_request_concurrency: f64,
    /// Mean concurrency over the panic window.
    pub panic_request_concurrency: f64,
    /// The per-instance concurrency the autoscaler aims at.
    pub target_concurrency_per_pod: f64,
    /// Spare capacity beyond the target burst capacity (negative: the activator is
    /// in the request path).
    pub excess_burst_capacity: f64,
}

type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

/// Knative's autoscaler metrics (`desired_pods`, `actual_pods`, `panic_mode`,
/// `stable_request_concurrency`, `panic_request_concurrency`,
/// `target_concurrency_per_pod`, `excess_burst_capacity`).
struct AutoscalerFamilies {
    desired_pods: Family<RevisionLabels, Gauge>,
    actual_pods: Family<RevisionLabels, Gauge>,
    panic_mode: Family<RevisionLabels, Gauge>,
    stable_request_concurrency: Family<RevisionLabels, FloatGauge>,
    panic_request_concurrency: Family<RevisionLabels, FloatGauge>,
    target_concurrency_per_pod: Family<RevisionLabels, FloatGauge>,
    excess_burst_capacity: Family<RevisionLabels, FloatGauge>,
}

impl AutoscalerFamilies {
    fn register(registry: &mut Registry) -> Self {
        let f = AutoscalerFamilies {
            desired_pods: Family::default(),
            actual_pods: Family::default(),
            panic_mode: Family::default(),
            stable_request_concurrency: Family::default(),
            panic_request_concurrency: Family::default(),
            target_concurrency_per_pod: Family::default(),
            excess_burst_capacity: Family::default(),
        };
        registry.register(
            "desired_pods",
            "Number of pods autoscaler wants to allocate",
            f.desired_pods.clone(),
        );
        registry.register(
            "actual_pods",
            "Number of pods that are allocated currently",
            f.actual_pods.clone(),
        );
        registry.register(
            "panic_mode",
            "1 if autoscaler is in panic mode, 0 otherwise",
            f.panic_mode.clone(),
        );
        registry.register(
            "stable_request_concurrency",
            "Average of requests count per observed pod over the stable window",
            f.stable_request_concurrency.clone(),
        );
        registry.register(
            "panic_request_concurrency",
            "Average of requests count per observed pod over the panic window",
            f.panic_request_concurrency.clone(),
        );
        registry.register(
            "target_concurrency_per_pod",
            "The desired number of concurrent requests for each pod",
            f.target_concurrency_per_pod.clone(),
        );
        registry.register(
            "excess_burst_capacity",
            "Excess burst capacity observed over the stable window",
            f.excess_burst_capacity.clone(),
        );
        f
    }
}

/// Decrements the in-flight gauge of a revision when dropped, and ends the
/// request's in-flight time on the revision's concurrency meter.
pub struct InFlightGuard {
    gauge: Gauge,
    meter: Option<(Arc<ConcurrencyMeter>, Instant)>,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.gauge.dec();
        if let Some((meter, start)) = &self.meter {
            meter.end(*start, Instant::now());
        }
    }
}

/// One revision's metric handles (sharing the registry's series): what a request
/// updates, without building or hashing label sets.
pub struct RevisionMetrics {
    /// The revision's labels (also in request logs).
    pub labels: RevisionLabels,
    in_flight: Gauge,
    /// Mean concurrency for the autoscaler.
    meter: Arc<ConcurrencyMeter>,
    /// Count and latency series per response code seen so far (a handful).
    codes: RwLock<Vec<(u16, Counter, Histogram)>>,
    request_count: Family<RequestLabels, Counter>,
    request_latencies: HistogramFamily,
}

impl RevisionMetrics {
    /// Counts one finished request and its latency.
    pub fn record(&self, code: u16, latency: Duration) {
        let ms = latency.as_secs_f64() * 1000.0;
        {
            let codes = self.codes.read().unwrap();
            if let Some((_, count, hist)) = codes.iter().find(|(c, _, _)| *c == code) {
                count.inc();
                hist.observe(ms);
                return;
            }
        }
        let labels = RequestLabels {
            revision: self.labels.clone(),
            response_code: code,
            response_code_class: code_class(code),
        };
        let count = self.request_count.get_or_create_owned(&labels);
        let hist = self.request_latencies.get_or_create_owned(&labels);
        count.inc();
        hist.observe(ms);
        let mut codes = self.codes.write().unwrap();
        if !codes.iter().any(|(c, _, _)| *c == code) {
            codes.push((code, count, hist));
        }
    }

    /// Marks one request, routed at `start`, in flight until the guard is dropped.
    pub fn in_flight(&self, start: Instant) -> InFlightGuard {
        self.in_flight.inc();
        self.meter.start(start);
        InFlightGuard {
            gauge: self.in_flight.clone(),
            meter: Some((self.meter.clone(), start)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_knative_names_and_labels() {
        let m = Metrics::new();
        let rev = RevisionLabels {
            namespace_name: "default".into(),
            service_name: "hello".into(),
            configuration_name: "hello".into(),
            revision_name: "hello-00001".into(),
        };
        m.record_request(&rev, 200, Duration::from_millis(12));
        let text = m.render();
        assert!(
            text.contains(
                "revision_request_count_total{namespace_name=\"default\",service_name=\"hello\",\
                 configuration_name=\"hello\",revision_name=\"hello-00001\",response_code=\"200\",\
                 response_code_class=\"2xx\"} 1"
            ),
            "{text}"
        );
        let bucket = |le: &str| {
            text.lines()
                .find(|l| {
                    l.starts_with(&format!("revision_request_latencies_bucket{{le=\"{le}\","))
                })
                .and_then(|l| l.rsplit(' ').next())
                .map(str::to_string)
        };
        assert_eq!(bucket("10.0").as_deref(), Some("0"), "{text}");
        assert_eq!(bucket("20.0").as_deref(), Some("1"), "{text}");
    }

    #[test]
    fn autoscaler_decisions_render_with_knative_names_and_go_away() {
        let m = Metrics::new();
        let rev = RevisionLabels {
            namespace_name: "default".into(),
            service_name: "hello".into(),
            configuration_name: "hello".into(),
            revision_name: "hello-00001".into(),
        };
        m.set_autoscaler(
            &rev,
            &AutoscalerReport {
                desired_pods: 3,
                actual_pods: 2,
                panic_mode: true,
                stable_request_concurrency: 1.5,
                panic_request_concurrency: 4.25,
                target_concurrency_per_pod: 70.0,
                excess_burst_capacity: -11.0,
            },
        );
        let text = m.render();
        let labels = "{namespace_name=\"default\",service_name=\"hello\",configuration_name=\"hello\",revision_name=\"hello-00001\"}";
        for line in [
            format!("desired_pods{labels} 3"),
            format!("actual_pods{labels} 2"),
            format!("panic_mode{labels} 1"),
            format!("stable_request_concurrency{labels} 1.5"),
            format!("panic_request_concurrency{labels} 4.25"),
            format!("target_concurrency_per_pod{labels} 70.0"),
            format!("excess_burst_capacity{labels} -11.0"),
        ] {
            assert!(text.contains(&line), "{line} missing in\n{text}");
        }
        m.forget_autoscaler(&rev);
        assert!(!m.render().contains("desired_pods{"), "{}", m.render());
    }
}
