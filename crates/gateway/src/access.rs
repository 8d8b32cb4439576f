//! The access log: one record per answered request.
//!
//! A record goes to the process's access sink when one is installed ([`set_sink`]: `synaptic
//! serve` installs its batched writer), which formats it straight from its typed fields; else it
//! is a `tracing` event of target [`TARGET`] with the same fields (embedders and the tests'
//! subscribers see it there). Either way `SYNAPTIC_LOG` / `[log]` levels decide whether it is
//! written: the sink is only called when an event of that target would be enabled.
//!
//! The fields, in order: `method`, `path` (the query's values redacted, as the wire log redacts
//! them), `status`, `ms` (two decimals), `api` (`-` when no API matched), `peer` (`-` when
//! unknown) and, when the request is traced, `trace_id`.

use std::fmt;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

/// The target of access-log events.
pub const TARGET: &str = "synaptic::access";

/// One answered request.
pub struct Record<'a> {
    pub method: &'a http::Method,
    pub uri: &'a http::Uri,
    pub status: u16,
    pub elapsed: Duration,
    /// The API that took the request.
    pub api: Option<&'a str>,
    pub peer: Option<SocketAddr>,
    pub trace_id: Option<&'a str>,
}

/// Where records go instead of `tracing` events.
pub trait Sink: Send + Sync + 'static {
    fn record(&self, r: &Record<'_>);
}

static SINK: OnceLock<Box<dyn Sink>> = OnceLock::new();

/// Install the process's access sink (once; `false` when one is installed already).
pub fn set_sink(sink: Box<dyn Sink>) -> bool {
    SINK.set(sink).is_ok()
}

impl Record<'_> {
    /// Write the record: to the sink when one is installed and the target is enabled, else as a
    /// `tracing` event.
    pub fn log(&self) {
        match SINK.get() {
            Some(sink) => {
                if tracing::enabled!(target: TARGET, tracing::Level::INFO) {
                    sink.record(self);
                }
            }
            None => self.event(),
        }
    }

    /// The record as a `tracing` event of target [`TARGET`], whatever sink is installed.
    pub fn event(&self) {
        let api = self.api.unwrap_or("-");
        match self.trace_id {
            Some(trace_id) => tracing::info!(
                target: TARGET,
                method = %self.method,
                path = %LogPath(self.uri),
                status = self.status,
                ms = %Millis(self.elapsed),
                api = %api,
                peer = %OptAddr(self.peer),
                trace_id = %trace_id,
            ),
            None => tracing::info!(
                target: TARGET,
                method = %self.method,
                path = %LogPath(self.uri),
                status = self.status,
                ms = %Millis(self.elapsed),
                api = %api,
                peer = %OptAddr(self.peer),
            ),
        }
    }

    /// The fields as the text formatter writes the event's (` method=GET path=/x …`, each
    /// after a space).
    pub fn push_text(&self, out: &mut String) {
        out.push_str(" method=");
        out.push_str(self.method.as_str());
        out.push_str(" path=");
        let _ = write_path(out, self.uri);
        out.push_str(" status=");
        crate::numfmt::push_padded(out, u64::from(self.status), 1);
        out.push_str(" ms=");
        let _ = write_millis(out, self.elapsed);
        out.push_str(" api=");
        out.push_str(self.api.unwrap_or("-"));
        out.push_str(" peer=");
        let _ = write_addr(out, self.peer);
        if let Some(t) = self.trace_id {
            out.push_str(" trace_id=");
            out.push_str(t);
        }
    }

    /// The fields in order, as `(name, value)`: for a structured (JSON) writer, which quotes
    /// and escapes the texts.
    pub fn fields(&self, mut f: impl FnMut(&'static str, Field<'_>)) {
        let mut s = String::with_capacity(64);
        f("method", Field::Text(self.method.as_str()));
        let _ = write_path(&mut s, self.uri);
        f("path", Field::Text(&s));
        f("status", Field::Number(u64::from(self.status)));
        s.clear();
        let _ = write_millis(&mut s, self.elapsed);
        f("ms", Field::Text(&s));
        f("api", Field::Text(self.api.unwrap_or("-")));
        s.clear();
        let _ = write_addr(&mut s, self.peer);
        f("peer", Field::Text(&s));
        if let Some(t) = self.trace_id {
            f("trace_id", Field::Text(t));
        }
    }
}

/// A field's value: text, or a number (the status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field<'a> {
    Text(&'a str),
    Number(u64),
}

/// The path, and the query with its values redacted (as [`crate::wire::redact_query`]).
fn write_path<W: fmt::Write>(w: &mut W, uri: &http::Uri) -> fmt::Result {
    w.write_str(uri.path())?;
    let Some(q) = uri.query() else {
        return Ok(());
    };
    w.write_str("?")?;
    for (i, kv) in q.split('&').enumerate() {
        if i > 0 {
            w.write_str("&")?;
        }
        match kv.split_once('=') {
            Some((k, _)) => {
                w.write_str(k)?;
                w.write_str("=…")?;
            }
            None => w.write_str(kv)?,
        }
    }
    Ok(())
}

/// Milliseconds with two decimals (`1.25`), without floating point.
fn write_millis<W: fmt::Write>(w: &mut W, d: Duration) -> fmt::Result {
    // hundredths of a millisecond, rounded half up
    let h = (d.as_nanos() + 5_000) / 10_000;
    let whole = u32::try_from(h / 100).unwrap_or(u32::MAX);
    let mut buf = [0u8; 13];
    let mut n = crate::numfmt::put_decimal(&mut buf, whole);
    let frac = (h % 100) as u8;
    buf[n] = b'.';
    buf[n + 1] = b'0' + frac / 10;
    buf[n + 2] = b'0' + frac % 10;
    n += 3;
    w.write_str(std::str::from_utf8(&buf[..n]).unwrap_or("0.00"))
}

/// An address as std writes it (`-` when absent); IPv4 without std's padding machinery.
fn write_addr<W: fmt::Write>(w: &mut W, a: Option<SocketAddr>) -> fmt::Result {
    match a {
        Some(SocketAddr::V4(a)) => {
            let mut buf = [0u8; 21];
            let mut n = crate::numfmt::put_ipv4(&mut buf, *a.ip());
            buf[n] = b':';
            n += 1;
            n += crate::numfmt::put_decimal(&mut buf[n..], u32::from(a.port()));
            w.write_str(std::str::from_utf8(&buf[..n]).unwrap_or("-"))
        }
        Some(a) => write!(w, "{a}"),
        None => w.write_str("-"),
    }
}

struct LogPath<'a>(&'a http::Uri);

impl fmt::Display for LogPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_path(f, self.0)
    }
}

struct Millis(Duration);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_millis(f, self.0)
    }
}

struct OptAddr(Option<SocketAddr>);

impl fmt::Display for OptAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_addr(f, self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_redact_query_values_like_the_wire_log() {
        for s in [
            "/a/b",
            "/a?access_token=abc&x=1&flag",
            "/a?",
            "/a?x=1&&y",
            "/?=v&k=",
        ] {
            let u: http::Uri = s.parse().expect("uri");
            let old = match u.query() {
                Some(q) => format!("{}?{}", u.path(), crate::wire::redact_query(q)),
                None => u.path().to_string(),
            };
            assert_eq!(LogPath(&u).to_string(), old, "{s}");
        }
    }

    #[test]
    fn peers_are_written_as_std_writes_them() {
        for a in [
            "127.0.0.1:8080",
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "10.20.3.4:443",
        ] {
            let addr: SocketAddr = a.parse().unwrap();
            assert_eq!(OptAddr(Some(addr)).to_string(), addr.to_string());
        }
        let v6: SocketAddr = "[::1]:8443".parse().unwrap();
        assert_eq!(OptAddr(Some(v6)).to_string(), "[::1]:8443");
        assert_eq!(OptAddr(None).to_string(), "-");
    }

    #[test]
    fn millis_have_two_decimals() {
        assert_eq!(Millis(Duration::from_micros(1_234)).to_string(), "1.23");
        assert_eq!(Millis(Duration::from_micros(1_236)).to_string(), "1.24");
        assert_eq!(Millis(Duration::from_micros(5)).to_string(), "0.01");
        assert_eq!(Millis(Duration::ZERO).to_string(), "0.00");
        assert_eq!(
            Millis(Duration::from_millis(12_345)).to_string(),
            "12345.00"
        );
        assert_eq!(
            Millis(Duration::from_micros(999_996)).to_string(),
            "1000.00"
        );
    }

    #[test]
    fn text_fields_are_the_events_fields_as_the_text_formatter_writes_them() {
        let uri: http::Uri = "/shop/1.0/token?access_token=x&y".parse().unwrap();
        let r = Record {
            method: &http::Method::POST,
            uri: &uri,
            status: 201,
            elapsed: Duration::from_micros(1_250),
            api: Some("Shop"),
            peer: Some("10.0.0.7:5123".parse().unwrap()),
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736"),
        };
        let mut s = String::new();
        r.push_text(&mut s);
        assert_eq!(
            s,
            " method=POST path=/shop/1.0/token?access_token=…&y status=201 ms=1.25 api=Shop \
             peer=10.0.0.7:5123 trace_id=4bf92f3577b34da6a3ce929d0e0e4736"
        );
        let mut pairs = Vec::new();
        r.fields(|k, v| {
            pairs.push(match v {
                Field::Text(t) => format!("{k}={t}"),
                Field::Number(n) => format!("{k}#{n}"),
            })
        });
        assert_eq!(
            pairs.join(" "),
            "method=POST path=/shop/1.0/token?access_token=…&y status#201 ms=1.25 api=Shop \
             peer=10.0.0.7:5123 trace_id=4bf92f3577b34da6a3ce929d0e0e4736"
        );
        let none = Record {
            api: None,
            peer: None,
            trace_id: None,
            ..r
        };
        let mut s = String::new();
        none.push_text(&mut s);
        assert!(s.ends_with(" api=- peer=-"), "{s}");
    }
}
