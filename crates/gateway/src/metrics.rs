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

type GaugeFn = Arc<dyn Fn() -> f64 + Send + Sync>;

enum Value {
    Counter(Counter),
    Gauge(Gauge),
    GaugeFn(GaugeFn),
}

struct Family {
    help: String,
    kind: &'static str,
    /// rendered label set → value
    series: BTreeMap<String, Value>,
}

/// The registry. Cheap to clone (shared).
#[derive(Clone, Default)]
pub struct Registry {
    families: Arc<Mutex<BTreeMap<String, Family>>>,
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
                            };
                            (k.clone(), snap)
                        })
                        .collect();
                    (name.clone(), fam.help.clone(), fam.kind, series)
                })
                .collect()
        };
        let mut out = String::new();
        for (name, help, kind, series) in snapshot {
            let _ = writeln!(out, "# HELP {name} {}", help.replace('\n', " "));
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, v) in series {
                let v = match v {
                    ValueSnap::Int(i) => i.to_string(),
                    ValueSnap::Float(f) => fmt_f64(f),
                    ValueSnap::Fn(f) => fmt_f64(f()),
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
        assert!(!r.render().contains("left{"));
    }
}
