//! The access log's own writer: a tracing layer that formats `synaptic::access` events itself.
//!
//! The gateway logs one access event per request through `tracing` (so `SYNAPTIC_LOG` filters it
//! and tests can capture it). tracing-subscriber's general formatter costs a few percent of a
//! small request's CPU time; this layer writes the same line — `2026-11-22T20:31:54.123456Z
//!  INFO synaptic::access: method=GET path=/x status=200 …` — from a per-thread buffer, with
//! the date part of the timestamp formatted once per second. Lines are collected in one shared
//! buffer and written together: every [`FLUSH_EVERY`], when [`FLUSH_AT`] bytes are waiting, when
//! the layer is dropped and when the process ends ([`flush_all`]), so a busy gateway makes one
//! `write` per batch instead of one per request (from several worker threads into one file).
//! The general formatter handles every other target. With `[log] format = "json"` the line is the
//! JSON object tracing-subscriber's JSON formatter writes (`timestamp`, `level`, `fields`,
//! `target`).

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use synaptic_gateway::numfmt::push_padded;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};

use synaptic_gateway::access;
/// The target of the gateway's access-log events.
pub use synaptic_gateway::access::TARGET;

/// How long a line may wait in the buffer before it is written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(20);
/// Waiting bytes written at once, whatever the time (the buffer's bound).
pub const FLUSH_AT: usize = 64 * 1024;

/// The layer; `W` is where lines go (stderr in `synaptic serve`).
pub struct AccessLog<W: for<'w> MakeWriter<'w> + Send + Sync + 'static> {
    out: Arc<Pending<W>>,
    json: bool,
}

/// Lines formatted and not yet written, and where they go.
struct Pending<W: for<'w> MakeWriter<'w>> {
    make: W,
    buf: Mutex<Vec<u8>>,
}

trait Flush: Send + Sync {
    fn flush(&self);
}

impl<W: for<'w> MakeWriter<'w> + Send + Sync> Flush for Pending<W> {
    /// Write what waits (under the lock: lines keep their order). A full or closed
    /// destination loses the lines, never a request.
    fn flush(&self) {
        let mut buf = self.buf.lock().unwrap_or_else(|e| e.into_inner());
        if !buf.is_empty() {
            let _ = self.make.make_writer().write_all(&buf);
            buf.clear();
        }
    }
}

impl<W: for<'w> MakeWriter<'w>> Drop for Pending<W> {
    fn drop(&mut self) {
        let buf = self.buf.get_mut().unwrap_or_else(|e| e.into_inner());
        if !buf.is_empty() {
            let _ = self.make.make_writer().write_all(buf);
        }
    }
}

/// Every live layer's buffer, for [`flush_all`].
static LIVE: Mutex<Vec<Weak<dyn Flush>>> = Mutex::new(Vec::new());

/// Write every access line still waiting (the process calls it before it exits).
pub fn flush_all() {
    let live: Vec<Arc<dyn Flush>> = LIVE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    for p in live {
        p.flush();
    }
}

impl<W: for<'w> MakeWriter<'w> + Send + Sync + 'static> AccessLog<W> {
    /// Text lines, like the default formatter's.
    pub fn new(make: W) -> Self {
        Self::with(make, false)
    }
    /// One JSON object per line, like the JSON formatter's.
    pub fn json(make: W) -> Self {
        Self::with(make, true)
    }

    fn with(make: W, json: bool) -> Self {
        let out = Arc::new(Pending {
            make,
            buf: Mutex::new(Vec::new()),
        });
        let weak: Weak<dyn Flush> = Arc::downgrade(&(out.clone() as Arc<dyn Flush>));
        {
            let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
            live.retain(|w| w.strong_count() > 0);
            live.push(weak.clone());
        }
        // the writer of batches: ends with the layer
        let _ = std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || loop {
                std::thread::sleep(FLUSH_EVERY);
                match weak.upgrade() {
                    Some(p) => p.flush(),
                    None => return,
                }
            });
        AccessLog { out, json }
    }
}

struct Buf {
    line: String,
    /// The second `date` was formatted for.
    second: u64,
    /// `YYYY-MM-DDTHH:MM:SS` of `second`.
    date: String,
}

thread_local! {
    static BUF: RefCell<Buf> = const {
        RefCell::new(Buf {
            line: String::new(),
            second: u64::MAX,
            date: String::new(),
        })
    };
}

impl<W: for<'w> MakeWriter<'w> + Send + Sync + 'static> Pending<W> {
    /// Format one line in this thread's buffer (`format(buf, seconds, microseconds)`) and add
    /// it to the waiting lines.
    fn push(&self, format: impl FnOnce(&mut Buf, u64, u32)) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        BUF.with(|b| {
            let Ok(mut b) = b.try_borrow_mut() else {
                return;
            };
            let b = &mut *b;
            format(b, now.as_secs(), now.subsec_micros());
            let mut buf = self.buf.lock().unwrap_or_else(|e| e.into_inner());
            buf.extend_from_slice(b.line.as_bytes());
            if buf.len() >= FLUSH_AT {
                let _ = self.make.make_writer().write_all(&buf);
                buf.clear();
            }
        });
    }
}

impl<W: for<'w> MakeWriter<'w> + Send + Sync + 'static> AccessLog<W> {
    /// The gateway's access sink writing into this layer's lines: records are formatted from
    /// their fields, without going through a `tracing` event (the same line either way).
    pub fn sink(&self) -> Sink<W> {
        Sink {
            out: self.out.clone(),
            json: self.json,
        }
    }
}

/// See [`AccessLog::sink`].
pub struct Sink<W: for<'w> MakeWriter<'w> + Send + Sync + 'static> {
    out: Arc<Pending<W>>,
    json: bool,
}

impl<W: for<'w> MakeWriter<'w> + Send + Sync + 'static> access::Sink for Sink<W> {
    fn record(&self, r: &access::Record<'_>) {
        if self.json {
            self.out.push(|b, secs, micros| {
                json_head(b, secs, micros, tracing::Level::INFO);
                let mut first = true;
                r.fields(|name, v| {
                    if !first {
                        b.line.push(',');
                    }
                    first = false;
                    json_str(&mut b.line, name);
                    b.line.push(':');
                    match v {
                        access::Field::Text(t) => json_str(&mut b.line, t),
                        access::Field::Number(n) => push_padded(&mut b.line, n, 1),
                    }
                });
                json_tail(b, TARGET);
            });
        } else {
            self.out.push(|b, secs, micros| {
                line_head(b, secs, micros, tracing::Level::INFO, TARGET);
                r.push_text(&mut b.line);
                b.line.push('\n');
            });
        }
    }
}

impl<S, W> Layer<S> for AccessLog<W>
where
    S: Subscriber,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != TARGET {
            return;
        }
        if self.json {
            self.out
                .push(|b, secs, micros| format_json(b, secs, micros, event));
        } else {
            self.out
                .push(|b, secs, micros| format_line(b, secs, micros, event));
        }
    }
}

/// `{"timestamp":"…","level":"…","fields":{` of a JSON line.
fn json_head(b: &mut Buf, secs: u64, micros: u32, level: tracing::Level) {
    set_date(b, secs);
    b.line.clear();
    let _ = write!(
        b.line,
        "{{\"timestamp\":\"{}.{micros:06}Z\",\"level\":\"{}\",\"fields\":{{",
        b.date, level
    );
}

/// `},"target":"…"}` and the end of a JSON line.
fn json_tail(b: &mut Buf, target: &str) {
    b.line.push_str("},\"target\":");
    json_str(&mut b.line, target);
    b.line.push_str("}\n");
}

fn format_json(b: &mut Buf, secs: u64, micros: u32, event: &Event<'_>) {
    json_head(b, secs, micros, *event.metadata().level());
    let mut v = JsonFields {
        out: &mut b.line,
        first: true,
    };
    event.record(&mut v);
    json_tail(b, event.metadata().target());
}

fn set_date(b: &mut Buf, secs: u64) {
    if b.second != secs {
        b.second = secs;
        b.date.clear();
        let t = i64::try_from(secs)
            .ok()
            .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
            .unwrap_or_default();
        let _ = write!(b.date, "{}", t.format("%Y-%m-%dT%H:%M:%S"));
    }
}

/// `2026-11-22T20:31:54.123456Z  INFO target:` of a text line.
fn line_head(b: &mut Buf, secs: u64, micros: u32, level: tracing::Level, target: &str) {
    set_date(b, secs);
    b.line.clear();
    // pushed piece by piece: `write!` with padding costs more than the rest of the line
    b.line.push_str(&b.date);
    b.line.push('.');
    push_padded(&mut b.line, u64::from(micros), 6);
    b.line.push_str(match level {
        tracing::Level::ERROR => "Z ERROR ",
        tracing::Level::WARN => "Z  WARN ",
        tracing::Level::INFO => "Z  INFO ",
        tracing::Level::DEBUG => "Z DEBUG ",
        tracing::Level::TRACE => "Z TRACE ",
    });
    b.line.push_str(target);
    b.line.push(':');
}

fn format_line(b: &mut Buf, secs: u64, micros: u32, event: &Event<'_>) {
    line_head(
        b,
        secs,
        micros,
        *event.metadata().level(),
        event.metadata().target(),
    );
    event.record(&mut Fields(&mut b.line));
    b.line.push('\n');
}

/// `name=value` pairs as tracing-subscriber's default formatter writes them (Display fields
/// bare, strings quoted, a `message` without its name).
struct Fields<'a>(&'a mut String);

impl Fields<'_> {
    fn name(&mut self, field: &Field) {
        self.0.push(' ');
        if field.name() != "message" {
            self.0.push_str(field.name());
            self.0.push('=');
        }
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.name(field);
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, "{value:?}");
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.name(field);
        push_padded(self.0, value, 1);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.name(field);
        if value < 0 {
            self.0.push('-');
        }
        push_padded(self.0, value.unsigned_abs(), 1);
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.name(field);
        let _ = write!(self.0, "{value}");
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.name(field);
        let _ = write!(self.0, "{value:?}");
    }
}

/// A JSON string literal (serde_json's escaping).
fn json_str(out: &mut String, s: &str) {
    out.push_str(&serde_json::Value::from(s).to_string());
}

/// `"name":value` pairs: numbers and booleans bare, everything else a JSON string.
struct JsonFields<'a> {
    out: &'a mut String,
    first: bool,
}

impl JsonFields<'_> {
    fn name(&mut self, field: &Field) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        json_str(self.out, field.name());
        self.out.push(':');
    }
}

impl Visit for JsonFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.name(field);
        json_str(self.out, value);
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.name(field);
        let _ = write!(self.out, "{value}");
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.name(field);
        let _ = write!(self.out, "{value}");
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.name(field);
        let _ = write!(self.out, "{value}");
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.name(field);
        json_str(self.out, &format!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn capture(f: impl FnOnce()) -> String {
        capture_with(false, f)
    }

    fn capture_with(json: bool, f: impl FnOnce()) -> String {
        let sink = Sink::default();
        let out = sink.clone();
        let make = move || out.clone();
        let layer = if json {
            AccessLog::json(make)
        } else {
            AccessLog::new(make)
        };
        let sub = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(sub, f);
        let bytes = sink.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        String::from_utf8(bytes).unwrap_or_default()
    }

    #[test]
    fn waiting_lines_are_written_in_order_by_flush_all_while_the_layer_lives() {
        let sink = Sink::default();
        let out = sink.clone();
        let sub = tracing_subscriber::registry().with(AccessLog::new(move || out.clone()));
        let _guard = tracing::subscriber::set_default(sub);
        for i in 0..200u32 {
            tracing::info!(target: "synaptic::access", n = i);
        }
        flush_all();
        let text = String::from_utf8(sink.0.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .unwrap_or_default();
        let ns: Vec<&str> = text.lines().filter_map(|l| l.split("n=").nth(1)).collect();
        let want: Vec<String> = (0..200).map(|i| i.to_string()).collect();
        assert_eq!(ns, want, "{text}");
    }

    #[test]
    fn writes_the_access_line_like_the_default_formatter() {
        let text = capture(|| {
            tracing::info!(
                target: "synaptic::access",
                method = %"GET",
                path = %"/pizza/1.0/menu?x=…",
                status = 200u16,
                ms = %"0.12",
                api = %"PizzaAPI",
                peer = %"127.0.0.1:5000",
            );
            tracing::info!(target: "synaptic::other", "not an access line");
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let (ts, rest) = lines[0].split_once(' ').unwrap_or_default();
        assert_eq!(
            rest,
            " INFO synaptic::access: method=GET path=/pizza/1.0/menu?x=… status=200 ms=0.12 \
             api=PizzaAPI peer=127.0.0.1:5000"
        );
        // RFC 3339, UTC, microseconds: 2026-11-22T20:31:54.123456Z
        assert_eq!(ts.len(), 27, "{ts}");
        assert!(ts.ends_with('Z') && ts.as_bytes()[10] == b'T' && ts.as_bytes()[19] == b'.');
        let parsed = chrono::DateTime::parse_from_rfc3339(ts);
        let age = chrono::Utc::now().signed_duration_since(parsed.unwrap_or_default());
        assert!(age.num_seconds().abs() < 60, "timestamp {ts} is not now");
    }

    #[test]
    fn the_sink_writes_a_record_as_the_layer_writes_its_event() {
        let uri: http::Uri = "/shop/1.0/token?access_token=x&y".parse().unwrap();
        let rec = access::Record {
            method: &http::Method::POST,
            uri: &uri,
            status: 201,
            elapsed: std::time::Duration::from_micros(1_250),
            api: Some("Shop \"1\""),
            peer: Some("10.0.0.7:5123".parse().unwrap()),
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736"),
        };
        for json in [false, true] {
            let out = Sink::default();
            let to = out.clone();
            let make = move || to.clone();
            let layer = if json {
                AccessLog::json(make)
            } else {
                AccessLog::new(make)
            };
            let sink = layer.sink();
            let sub = tracing_subscriber::registry().with(layer);
            tracing::subscriber::with_default(sub, || rec.event());
            access::Sink::record(&sink, &rec);
            drop(sink);
            flush_all();
            let text = String::from_utf8(out.0.lock().unwrap_or_else(|e| e.into_inner()).clone())
                .unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len(), 2, "{text}");
            // the same line but for the time it was written
            let skip = if json { 41 } else { 27 };
            assert_eq!(lines[0][skip..], lines[1][skip..], "{text}");
            assert!(lines[0].contains("status"), "{text}");
        }
    }

    #[test]
    fn numbers_are_written_as_format_writes_them() {
        for (n, width, want) in [
            (0u64, 6, "000000"),
            (42, 6, "000042"),
            (123_456, 6, "123456"),
            (7, 1, "7"),
            (u64::MAX, 1, "18446744073709551615"),
        ] {
            let mut s = String::new();
            push_padded(&mut s, n, width);
            assert_eq!(s, want);
        }
        let text = capture(|| {
            tracing::info!(target: "synaptic::access", a = -12i64, b = 0u64, c = i64::MIN);
        });
        assert!(
            text.ends_with(" a=-12 b=0 c=-9223372036854775808\n"),
            "{text}"
        );
    }

    #[test]
    fn json_lines_are_one_object_with_the_same_fields() {
        let text = capture_with(true, || {
            tracing::info!(
                target: "synaptic::access",
                method = %"GET",
                path = %"/a \"b\"\n",
                status = 200u16,
                api = %"PizzaAPI",
            );
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["target"], "synaptic::access");
        assert_eq!(v["fields"]["method"], "GET");
        assert_eq!(v["fields"]["path"], "/a \"b\"\n");
        assert_eq!(v["fields"]["status"], 200);
        assert_eq!(v["fields"]["api"], "PizzaAPI");
        let ts = v["timestamp"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
    }

    /// The cached date is replaced when the second changes (here: one day later).
    #[test]
    fn the_date_part_follows_the_second() {
        struct Grab(Arc<Mutex<Vec<String>>>);
        impl<S: Subscriber> Layer<S> for Grab {
            fn on_event(&self, e: &Event<'_>, _: Context<'_, S>) {
                let mut b = Buf {
                    line: String::new(),
                    second: u64::MAX,
                    date: String::new(),
                };
                let mut v = self.0.lock().unwrap_or_else(|e| e.into_inner());
                for (secs, micros) in [(1_700_000_000, 7), (1_700_000_000 + 86_400, 8)] {
                    format_line(&mut b, secs, micros, e);
                    v.push(b.line.clone());
                }
            }
        }
        let got = Arc::new(Mutex::new(Vec::new()));
        let sub = tracing_subscriber::registry().with(Grab(got.clone()));
        tracing::subscriber::with_default(sub, || {
            tracing::info!(target: "synaptic::access", status = 404u16, "seen");
        });
        let lines = got.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert_eq!(
            lines,
            [
                "2023-11-14T22:13:20.000007Z  INFO synaptic::access: seen status=404\n",
                "2023-11-15T22:13:20.000008Z  INFO synaptic::access: seen status=404\n",
            ]
        );
    }
}
