//! A small metrics registry rendered as Prometheus text at `GET /metrics`.
//!
//! Modules register named counters and gauges with labels once and keep the handle; updating a
//! handle is one atomic operation. Gauges can also be computed at scrape time ([`Registry::gauge_fn`]).
//!
//! ```
//! let reg = synaptic_gateway::metrics::Registry::new();
//! let hits = reg.counter("synaptic_token_cache_hits_total", "Token cache hits", &[("api", "Pizza")]);
//! hits.inc();
//! assert!(reg.render().contains("synaptic_token_cache_hits_total{api=\"Pizza\"} 1"));
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A monotonically increasing counter.
#[derive(Clone, Debug, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (stored as f64 bits).
#[derive(Clone, Debug, Default)]
pub struct Gauge(Arc<AtomicU64>);

impl Gauge {
    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
    pub fn add(&self, d: f64) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some((f64::from_bits(b) + d).to_bits())
            });
    }
}

/// Upper bounds (seconds) of [`Histogram`] buckets: Prometheus' default buckets, from 1 ms.
pub const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// A latency histogram in seconds with the fixed [`BUCKETS`] (plus `+Inf`). Observing is a
/// few atomic additions.
#[derive(Clone, Debug, Default)]
pub struct Histogram(Arc<HistogramCells>);

#[derive(Debug, Default)]
pub struct HistogramCells {
    /// Per bucket (not cumulative); the last one is `+Inf`.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: std::time::Duration) {
        let secs = d.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.0.buckets[i].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.0.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.0
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .sum()
    }
}

type GaugeFn = Arc<dyn Fn() -> f64 + Send + Sync>;

enum Value {
    Counter(Counter),
    Gauge(Gauge),
    GaugeFn(GaugeFn),
    Histogram(Histogram),
}

struct Family {
    help: String,
    kind: &'static str,
    /// rendered label set → value
    series: BTreeMap<String, Value>,
}

/// A gauge family whose series are computed when `/metrics` is scraped: `(labels, value)`.
type CollectFn = Arc<dyn Fn() -> Vec<(Vec<(String, String)>, f64)> + Send + Sync>;

/// The registry. Cheap to clone (shared).
#[derive(Clone, Default)]
pub struct Registry {
    families: Arc<Mutex<BTreeMap<String, Family>>>,
    /// name → (help, series at scrape time)
    collectors: Arc<Mutex<BTreeMap<String, (String, CollectFn)>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

fn render_labels(labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let mut s = String::from("{");
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(k);
        s.push_str("=\"");
        for c in v.chars() {
            match c {
                '\\' => s.push_str("\\\\"),
                '"' => s.push_str("\\\""),
                '\n' => s.push_str("\\n"),
                c => s.push(c),
            }
        }
        s.push('"');
    }
    s.push('}');
    s
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    fn with_family<R>(
        &self,
        name: &str,
        help: &str,
        kind: &'static str,
        f: impl FnOnce(&mut Family) -> R,
    ) -> R {
        let mut fams = self.families.lock().unwrap_or_else(|e| e.into_inner());
        let fam = fams.entry(name.to_string()).or_insert_with(|| Family {
            help: help.to_string(),
            kind,
            series: BTreeMap::new(),
        });
        f(fam)
    }

    /// The counter `name{labels}` (created on first use; the same handle afterwards).
    pub fn counter(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Counter {
        let key = render_labels(labels);
        self.with_family(name, help, "counter", |fam| {
            match fam
                .series
                .entry(key)
                .or_insert_with(|| Value::Counter(Counter::default()))
            {
                Value::Counter(c) => c.clone(),
                _ => Counter::default(),
            }
        })
    }

    /// The gauge `name{labels}`.
    pub fn gauge(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Gauge {
        let key = render_labels(labels);
        self.with_family(name, help, "gauge", |fam| {
            match fam
                .series
                .entry(key)
                .or_insert_with(|| Value::Gauge(Gauge::default()))
            {
                Value::Gauge(g) => g.clone(),
                _ => Gauge::default(),
            }
        })
    }

    /// The histogram `name{labels}` (created on first use; the same handle afterwards).
    pub fn histogram(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Histogram {
        let key = render_labels(labels);
        self.with_family(name, help, "histogram", |fam| {
            match fam
                .series
                .entry(key)
                .or_insert_with(|| Value::Histogram(Histogram::default()))
            {
                Value::Histogram(h) => h.clone(),
                _ => Histogram::default(),
            }
        })
    }

    /// A gauge computed when `/metrics` is scraped (replaces an earlier one with the same labels).
    pub fn gauge_fn(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        f: impl Fn() -> f64 + Send + Sync + 'static,
    ) {
        let key = render_labels(labels);
        self.with_family(name, help, "gauge", |fam| {
            fam.series.insert(key, Value::GaugeFn(Arc::new(f)));
        });
    }

    /// A gauge family whose set of series is computed when `/metrics` is scraped (e.g. the
    /// endpoints of the plan serving requests, which a reload changes). Replaces an earlier
    /// one of the same name.
    pub fn gauge_collector(
        &self,
        name: &str,
        help: &str,
        f: impl Fn() -> Vec<(Vec<(String, String)>, f64)> + Send + Sync + 'static,
    ) {
        let mut c = self.collectors.lock().unwrap_or_else(|e| e.into_inner());
        c.insert(name.to_string(), (help.to_string(), Arc::new(f)));
    }

    /// Remove one series (e.g. a token that left the cache).
    pub fn remove(&self, name: &str, labels: &[(&str, &str)]) {
        let key = render_labels(labels);
        let mut fams = self.families.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = fams.get_mut(name) {
            f.series.remove(&key);
        }
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        // evaluate gauge functions outside the lock
        let snapshot: Vec<FamilySnap> = {
            let fams = self.families.lock().unwrap_or_else(|e| e.into_inner());
            fams.iter()
                .map(|(name, fam)| {
                    let series = fam
                        .series
                        .iter()
                        .map(|(k, v)| {
                            let snap = match v {
                                Value::Counter(c) => ValueSnap::Int(c.get()),
                                Value::Gauge(g) => ValueSnap::Float(g.get()),
                                Value::GaugeFn(f) => ValueSnap::Fn(f.clone()),
                                Value::Histogram(h) => ValueSnap::Hist(h.clone()),
                            };
                            (k.clone(), snap)
                        })
                        .collect();
                    (name.clone(), fam.help.clone(), fam.kind, series)
                })
                .collect()
        };
        let collectors: Vec<(String, String, CollectFn)> = {
            let c = self.collectors.lock().unwrap_or_else(|e| e.into_inner());
            c.iter()
                .map(|(n, (h, f))| (n.clone(), h.clone(), f.clone()))
                .collect()
        };
        let mut out = String::new();
        for (name, help, f) in collectors {
            let series = f();
            if series.is_empty() {
                continue;
            }
            let _ = writeln!(out, "# HELP {name} {}", help.replace('\n', " "));
            let _ = writeln!(out, "# TYPE {name} gauge");
            for (labels, v) in series {
                let labels: Vec<(&str, &str)> = labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let _ = writeln!(out, "{name}{} {}", render_labels(&labels), fmt_f64(v));
            }
        }
        for (name, help, kind, series) in snapshot {
            let _ = writeln!(out, "# HELP {name} {}", help.replace('\n', " "));
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, v) in series {
                let v = match v {
                    ValueSnap::Int(i) => i.to_string(),
                    ValueSnap::Float(f) => fmt_f64(f),
                    ValueSnap::Fn(f) => fmt_f64(f()),
                    ValueSnap::Hist(h) => {
                        render_histogram(&mut out, &name, &labels, &h);
                        continue;
                    }
                };
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        }
        out
    }
}

type FamilySnap = (String, String, &'static str, Vec<(String, ValueSnap)>);

enum ValueSnap {
    Int(u64),
    Float(f64),
    Fn(GaugeFn),
    Hist(Histogram),
}

/// `name_bucket{…,le="…"}` (cumulative), `name_sum{…}`, `name_count{…}`.
fn render_histogram(out: &mut String, name: &str, labels: &str, h: &Histogram) {
    // `{a="b"}` → `a="b",` so `le` can be appended
    let inner = labels
        .strip_prefix('{')
        .and_then(|l| l.strip_suffix('}'))
        .map(|l| format!("{l},"))
        .unwrap_or_default();
    let mut cumulative = 0;
    for (i, cell) in h.0.buckets.iter().enumerate() {
        cumulative += cell.load(Ordering::Relaxed);
        let le = BUCKETS.get(i).map_or("+Inf".to_string(), |b| fmt_f64(*b));
        let _ = writeln!(out, "{name}_bucket{{{inner}le=\"{le}\"}} {cumulative}");
    }
    let sum = h.0.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
    let _ = writeln!(out, "{name}_sum{labels} {}", fmt_f64(sum));
    let _ = writeln!(out, "{name}_count{labels} {cumulative}");
}

fn fmt_f64(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let r = Registry::new();
        let c = r.counter("req_total", "Requests", &[("api", "A\"b"), ("code", "200")]);
        c.inc();
        c.add(2);
        let again = r.counter("req_total", "Requests", &[("api", "A\"b"), ("code", "200")]);
        again.inc();
        r.gauge("temp", "Temperature", &[]).set(1.5);
        r.gauge_fn("left", "Seconds left", &[("api", "x")], || 42.0);
        let text = r.render();
        assert_eq!(
            text,
            "# HELP left Seconds left\n# TYPE left gauge\nleft{api=\"x\"} 42\n\
             # HELP req_total Requests\n# TYPE req_total counter\nreq_total{api=\"A\\\"b\",code=\"200\"} 4\n\
             # HELP temp Temperature\n# TYPE temp gauge\ntemp 1.5\n"
        );
        r.remove("left", &[("api", "x")]);
        let h = r.histogram("lat_seconds", "Latency", &[("api", "A")]);
        h.observe(std::time::Duration::from_micros(700));
        h.observe(std::time::Duration::from_millis(30));
        h.observe(std::time::Duration::from_secs(60));
        let text = r.render();
        assert!(text.contains("# TYPE lat_seconds histogram\n"), "{text}");
        assert!(
            text.contains("lat_seconds_bucket{api=\"A\",le=\"0.001\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("lat_seconds_bucket{api=\"A\",le=\"0.025\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("lat_seconds_bucket{api=\"A\",le=\"0.05\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("lat_seconds_bucket{api=\"A\",le=\"10\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("lat_seconds_bucket{api=\"A\",le=\"+Inf\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("lat_seconds_sum{api=\"A\"} 60.0307\n"),
            "{text}"
        );
        assert!(text.contains("lat_seconds_count{api=\"A\"} 3\n"), "{text}");
        assert_eq!(h.count(), 3);
        assert!(!r.render().contains("left{"));
    }

    #[test]
    fn collectors_render_the_series_of_the_moment() {
        let r = Registry::new();
        let n = Arc::new(std::sync::atomic::AtomicU64::new(1));
        let n2 = n.clone();
        r.gauge_collector("ep_state", "State", move || {
            (0..n2.load(Ordering::Relaxed))
                .map(|i| (vec![("endpoint".to_string(), format!("e{i}"))], i as f64))
                .collect()
        });
        assert_eq!(
            r.render(),
            "# HELP ep_state State\n# TYPE ep_state gauge\nep_state{endpoint=\"e0\"} 0\n"
        );
        n.store(0, Ordering::Relaxed);
        assert_eq!(r.render(), "");
    }
}
