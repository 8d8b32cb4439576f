//! `--wire`: headers and bodies of every message in both directions, like Synapse's wire log,
//! with credentials redacted by the one rule set of `synaptic_logsafe::redact` and every
//! request-derived character escaped (a CR or LF shows as `[\r]`/`[\n]`, so no line of the log
//! can be forged).
//!
//! `>>` is data entering the gateway (client requests, backend responses), `<<` data leaving it.
//!
//! A body shows at most [`body_limit`] bytes (`[server] wire_body_limit`, default 4 KiB) and a
//! note of how many more went by. Responses to clients are logged by [`Tap`], which passes the
//! body through frame by frame and keeps only the first bytes: nothing is buffered for the log.

use bytes::{Buf, Bytes};
use http::HeaderMap;
use hyper::body::{Body, Frame, SizeHint};
use std::fmt::Write as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

/// Default of [`body_limit`].
pub const DEFAULT_BODY_LIMIT: usize = 4096;

static BODY_LIMIT: AtomicUsize = AtomicUsize::new(DEFAULT_BODY_LIMIT);

/// Bytes of each body the wire log shows (process-wide).
pub fn body_limit() -> usize {
    BODY_LIMIT.load(Ordering::Relaxed)
}

/// Set [`body_limit`] (done once at start-up from `[server] wire_body_limit`).
pub fn set_body_limit(n: usize) {
    BODY_LIMIT.store(n, Ordering::Relaxed);
}

/// A header value fit for logs: credentials keep only their scheme (`Bearer ***`), secret
/// parameters in any other value are redacted (`Location: …?code=***`).
pub fn redact_header(name: &str, value: &[u8]) -> String {
    synaptic_logsafe::redact_header(name, &String::from_utf8_lossy(value))
}

/// A body fit for logs: at most `limit` bytes, credentials redacted (whatever the content type
/// says), binary bodies summarised, control characters escaped.
pub fn redact_body(body: &[u8], total: usize, limit: usize) -> String {
    if body.is_empty() {
        return String::new();
    }
    let shown = &body[..body.len().min(limit)];
    // cut at a character boundary
    let text = match std::str::from_utf8(shown) {
        Ok(t) => t,
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&shown[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return format!("<{total} bytes of binary data>"),
    };
    let mut out = escape_wire(&synaptic_logsafe::redact_text(text));
    if total > text.len() {
        let _ = write!(out, "[… {} more bytes not shown]", total - text.len());
    }
    out
}

/// Escape for the wire log: CR and LF as Synapse shows them, other control characters as
/// `\u{…}`.
fn escape_wire(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\r' => out.push_str("[\\r]"),
            '\n' => out.push_str("[\\n]"),
            '\t' => out.push('\t'),
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// `a=1&password=x` → `a=1&password=***`
pub fn redact_form(text: &str) -> String {
    synaptic_logsafe::redact_text(text).into_owned()
}

/// A URL fit for logs: query and fragment fields holding credentials are replaced by `***`.
pub fn redact_url(url: &str) -> String {
    synaptic_logsafe::redact_url(url)
}

/// A query string fit for the access log: values are dropped (`?a=…&b=…`), since query
/// parameters can carry tokens.
pub fn redact_query(q: &str) -> String {
    q.split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) => format!("{k}=…"),
            None => kv.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// `HTTP/1.1 200 OK`: the status line of a response as the wire log shows it.
pub fn status_line(s: http::StatusCode) -> String {
    format!(
        "HTTP/1.1 {} {}",
        s.as_u16(),
        s.canonical_reason().unwrap_or("")
    )
}

/// The head of a message as the wire log shows it (without the closing empty line).
fn head(direction: &str, first_line: &str, headers: &HeaderMap) -> String {
    let mut s = String::with_capacity(256);
    let _ = writeln!(
        s,
        "{direction} \"{}[\\r][\\n]\"",
        escape_wire(&synaptic_logsafe::redact_text(first_line))
    );
    for (k, v) in headers {
        let _ = writeln!(
            s,
            "{direction} \"{}: {}[\\r][\\n]\"",
            k.as_str(),
            escape_wire(&redact_header(k.as_str(), v.as_bytes()))
        );
    }
    let _ = write!(s, "{direction} \"[\\r][\\n]\"");
    s
}

/// Log one message (request line or status line, headers, body) at target `synaptic::wire`.
pub fn log(direction: &str, peer: &str, first_line: &str, headers: &HeaderMap, body: &[u8]) {
    let mut s = head(direction, first_line, headers);
    if !body.is_empty() {
        let _ = write!(
            s,
            "\n{direction} \"{}\"",
            redact_body(body, body.len(), body_limit())
        );
    }
    let peer = synaptic_logsafe::escape(peer);
    tracing::info!(target: "synaptic::wire", peer = %peer, "\n{s}");
}

/// A response body on its way to a client, logged as it passes: the head at once, the first
/// [`body_limit`] bytes when the body ends (or is dropped unfinished). Frames are passed on
/// untouched.
#[derive(Debug)]
pub struct Tap<B> {
    inner: B,
    peer: String,
    direction: &'static str,
    shown: Vec<u8>,
    total: usize,
    limit: usize,
    done: bool,
}

impl<B> Tap<B> {
    /// Log the head now and tap `body`.
    pub fn new(
        direction: &'static str,
        peer: String,
        first_line: &str,
        headers: &HeaderMap,
        body: B,
    ) -> Tap<B> {
        let s = head(direction, first_line, headers);
        let p = synaptic_logsafe::escape(&peer);
        tracing::info!(target: "synaptic::wire", peer = %p, "\n{s}");
        let limit = body_limit();
        Tap {
            inner: body,
            peer,
            direction,
            shown: Vec::new(),
            total: 0,
            limit,
            done: false,
        }
    }

    fn finish(&mut self, note: &str) {
        if self.done {
            return;
        }
        self.done = true;
        if self.total == 0 && note.is_empty() {
            return;
        }
        let body = redact_body(&self.shown, self.total, self.limit);
        let p = synaptic_logsafe::escape(&self.peer);
        tracing::info!(target: "synaptic::wire", peer = %p, "\n{} \"{body}\"{note}", self.direction);
    }
}

impl<B> Drop for Tap<B> {
    fn drop(&mut self) {
        self.finish(" (body not finished)");
    }
}

impl<B> Body for Tap<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.inner).poll_frame(cx);
        match &r {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    this.total += d.remaining();
                    let room = this.limit.saturating_sub(this.shown.len());
                    if room > 0 {
                        this.shown
                            .extend_from_slice(&d.chunk()[..d.chunk().len().min(room)]);
                    }
                }
            }
            Poll::Ready(None) => this.finish(""),
            Poll::Ready(Some(Err(_))) => this.finish(" (body failed)"),
            Poll::Pending => {}
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full, StreamBody};

    #[test]
    fn headers() {
        assert_eq!(
            redact_header("Authorization", b"Bearer abc.def"),
            "Bearer ***"
        );
        assert_eq!(
            redact_header("authorization", b"Basic eDU1YQ=="),
            "Basic ***"
        );
        assert_eq!(redact_header("Cookie", b"sid=1"), "***");
        assert_eq!(redact_header("Accept", b"*/*"), "*/*");
        for h in [
            "X-Auth-Token",
            "X-Access-Token",
            "Private-Token",
            "x-api-key",
        ] {
            assert_eq!(redact_header(h, b"t0ps3cret"), "***", "{h}");
        }
        assert_eq!(
            redact_header("Location", b"https://app.example/cb?code=syn_ac_1&state=s"),
            "https://app.example/cb?code=***&state=s"
        );
        assert_eq!(
            redact_header(
                "Location",
                b"https://app.example/cb#access_token=syn_at_1&token_type=Bearer"
            ),
            "https://app.example/cb#access_token=***&token_type=Bearer"
        );
    }

    #[test]
    fn bodies() {
        let b = |s: &[u8]| redact_body(s, s.len(), 4096);
        assert_eq!(
            b(br#"{"access_token":"c1900c8c","scope":"default","expires_in":567,"nested":[{"refresh_token":"r"}]}"#),
            r#"{"access_token":"***","scope":"default","expires_in":567,"nested":[{"refresh_token":"***"}]}"#
        );
        assert_eq!(
            b(b"grant_type=password&username=bob&password=s3cret&client_secret=x"),
            "grant_type=password&username=bob&password=***&client_secret=***"
        );
        assert_eq!(
            b(b"<root><password>p</password><a>1</a></root>"),
            "<root><password>***</password><a>1</a></root>"
        );
        assert_eq!(b(b"plain text"), "plain text");
        assert_eq!(b(b"line1\r\nline2"), "line1[\\r][\\n]line2");
        assert_eq!(b(&[0xff, 0xfe, 0]), "<3 bytes of binary data>");
        // cut at the limit, the rest counted
        let long = format!("{{\"password\":\"{}\"}}", "x".repeat(10_000));
        let shown = redact_body(long.as_bytes(), long.len(), 20);
        assert_eq!(
            shown,
            format!(
                "{{\"password\":\"***\"[… {} more bytes not shown]",
                long.len() - 20
            )
        );
        assert_eq!(
            redact_query("access_token=abc&x=1&flag"),
            "access_token=…&x=…&flag"
        );
    }

    #[test]
    fn a_newline_in_a_request_line_cannot_forge_a_log_line() {
        let mut h = HeaderMap::new();
        h.insert("x-user", http::HeaderValue::from_static("bob"));
        let s = head(">>", "GET /a?u=x\n<< \"HTTP/1.1 200 OK\" HTTP/1.1", &h);
        assert_eq!(s.lines().count(), 3, "{s}");
    }

    #[tokio::test]
    async fn tap_streams_every_byte_and_keeps_only_the_limit() {
        let chunks: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = (0..100)
            .map(|i| Ok(Frame::data(Bytes::from(vec![b'a' + (i % 26) as u8; 1000]))))
            .collect();
        let body = StreamBody::new(futures::stream::iter(chunks));
        let mut tap = Tap::new(">>", "p".into(), "HTTP/1.1 200 OK", &HeaderMap::new(), body);
        let mut seen = 0;
        while let Some(f) = tap.frame().await {
            seen += f.unwrap().into_data().unwrap().len();
            assert!(tap.shown.len() <= tap.limit);
        }
        assert_eq!(seen, 100_000);
        assert_eq!(tap.total, 100_000);
        assert_eq!(tap.shown.len(), DEFAULT_BODY_LIMIT);
        assert!(tap.done);
        let full = Tap::new(
            "<<",
            "p".into(),
            "x",
            &HeaderMap::new(),
            Full::new(Bytes::new()),
        );
        assert!(full.is_end_stream());
    }
}
