//! gRPC pass-through: which requests are gRPC calls, and the gateway's own answers to them in
//! gRPC form.
//!
//! A gRPC call goes through the one request pipeline like any request; what differs is decided
//! here and in [`crate::plan`]: the call is recognised (`protocol = "grpc"` on its API, or a
//! `content-type` of `application/grpc` or `application/grpc+…`), its body always streams (both
//! ways, trailers kept), the backend is reached over HTTP/2, and an answer the gateway makes
//! itself (no route, refused credentials, unreachable backend, timeout, …) becomes a
//! *trailers-only* gRPC response: HTTP `200`, `content-type: application/grpc`, `grpc-status`
//! and a percent-encoded `grpc-message` in the head, no body. Answers that come from the backend
//! are passed on untouched, their `grpc-status` trailers included.

use bytes::{Buf, Bytes};
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// gRPC status codes the gateway answers with (the gRPC status code table).
pub mod code {
    pub const UNKNOWN: u16 = 2;
    pub const INVALID_ARGUMENT: u16 = 3;
    pub const DEADLINE_EXCEEDED: u16 = 4;
    pub const PERMISSION_DENIED: u16 = 7;
    pub const RESOURCE_EXHAUSTED: u16 = 8;
    pub const UNIMPLEMENTED: u16 = 12;
    pub const INTERNAL: u16 = 13;
    pub const UNAVAILABLE: u16 = 14;
    pub const UNAUTHENTICATED: u16 = 16;
}

/// Whether a request head is a gRPC call: `content-type: application/grpc`, optionally with a
/// `+codec` suffix or parameters (gRPC-Web, `application/grpc-web…`, is not).
pub fn is_grpc(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return false;
    };
    let ct = ct.as_bytes();
    let prefix = b"application/grpc";
    ct.len() >= prefix.len()
        && ct[..prefix.len()].eq_ignore_ascii_case(prefix)
        && matches!(ct.get(prefix.len()), None | Some(b'+') | Some(b';'))
}

/// The gRPC status for a gateway answer with this HTTP status.
pub fn status_for(status: StatusCode) -> u16 {
    match status.as_u16() {
        400 => code::INVALID_ARGUMENT,
        401 => code::UNAUTHENTICATED,
        403 => code::PERMISSION_DENIED,
        404 | 405 | 501 => code::UNIMPLEMENTED,
        408 | 504 => code::DEADLINE_EXCEEDED,
        413 | 429 | 431 => code::RESOURCE_EXHAUSTED,
        502 | 503 => code::UNAVAILABLE,
        500 => code::INTERNAL,
        _ => code::UNKNOWN,
    }
}

/// A trailers-only gRPC response.
pub fn status_response(grpc_status: u16, message: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    h.insert("grpc-status", HeaderValue::from(grpc_status));
    if let Ok(v) = HeaderValue::from_str(&encode_message(message)) {
        h.insert("grpc-message", v);
    }
    r
}

/// A gateway answer (a JSON fault, or an empty answer) as a trailers-only gRPC response. The
/// status maps by [`status_for`]; `grpc-message` is the fault's `message` and `description`.
/// `WWW-Authenticate` is kept. An answer that is gRPC already is returned as it is.
pub async fn from_answer(resp: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
    if is_grpc(resp.headers()) {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let body = match body.collect().await {
        Ok(c) => c.to_bytes(),
        Err(never) => match never {},
    };
    let message = fault_text(&body).unwrap_or_else(|| {
        parts
            .status
            .canonical_reason()
            .unwrap_or("gateway error")
            .to_string()
    });
    let mut r = status_response(status_for(parts.status), &message);
    if let Some(w) = parts.headers.get(header::WWW_AUTHENTICATE) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, w.clone());
    }
    r
}

/// `message: description` of a `{"fault":{…}}` body.
fn fault_text(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let f = v.get("fault")?;
    let m = f.get("message").and_then(|m| m.as_str())?;
    Some(match f.get("description").and_then(|d| d.as_str()) {
        Some(d) if !d.is_empty() && d != m => format!("{m}: {d}"),
        _ => m.to_string(),
    })
}

/// `grpc-message` encoding: bytes outside printable ASCII, and `%`, percent-encoded.
pub fn encode_message(m: &str) -> String {
    let mut s = String::with_capacity(m.len());
    for b in m.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// The call's `grpc-timeout` (`1..=8` digits and a unit: `H`, `M`, `S`, `m`, `u`, `n`).
pub fn timeout(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get("grpc-timeout")?.to_str().ok()?;
    if v.len() < 2 || v.len() > 9 {
        return None;
    }
    let (n, unit) = v.split_at(v.len() - 1);
    if !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = n.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// A gRPC message (its 5-byte prefix's length) over the limit.
#[derive(Debug, thiserror::Error)]
#[error("a gRPC message of {size} bytes is over the limit of {limit} bytes")]
pub struct MessageTooLarge {
    pub size: usize,
    pub limit: usize,
}

/// A gRPC call's request stream passed on as it comes, with the body limit applied to each
/// length-prefixed message instead of the whole stream (a long-lived stream is not cut).
#[derive(Debug)]
pub struct PerMessage<B> {
    inner: B,
    limit: usize,
    /// The prefix being read (flag byte, 4-byte big-endian length) and how much of it.
    prefix: [u8; 5],
    filled: usize,
    /// Bytes of the current message still to come.
    left: usize,
    /// Set when a message went over the limit (an HTTP/2 client reports only the stream reset
    /// that follows, not the body's error).
    over: Arc<AtomicBool>,
}

impl<B> PerMessage<B> {
    pub fn new(inner: B, limit: usize) -> PerMessage<B> {
        PerMessage {
            inner,
            limit,
            prefix: [0; 5],
            filled: 0,
            left: 0,
            over: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A flag that is set once a message went over the limit.
    pub fn over_limit(&self) -> Arc<AtomicBool> {
        self.over.clone()
    }

    /// Follow the message framing through one chunk of the stream.
    fn scan(&mut self, mut d: &[u8]) -> Result<(), MessageTooLarge> {
        while !d.is_empty() {
            if self.left > 0 {
                let n = self.left.min(d.len());
                self.left -= n;
                d = &d[n..];
                continue;
            }
            let n = (5 - self.filled).min(d.len());
            self.prefix[self.filled..self.filled + n].copy_from_slice(&d[..n]);
            self.filled += n;
            d = &d[n..];
            if self.filled == 5 {
                self.filled = 0;
                let [_, a, b, c, e] = self.prefix;
                let size = u32::from_be_bytes([a, b, c, e]) as usize;
                if size > self.limit {
                    return Err(MessageTooLarge {
                        size,
                        limit: self.limit,
                    });
                }
                self.left = size;
            }
        }
        Ok(())
    }
}

impl<B> Body for PerMessage<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    if let Err(e) = this.scan(d.chunk()) {
                        this.over.store(true, Ordering::SeqCst);
                        return Poll::Ready(Some(Err(Box::new(e))));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
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

    fn ct(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn grpc_content_types() {
        for v in [
            "application/grpc",
            "application/grpc+proto",
            "Application/GRPC+json",
            "application/grpc;charset=utf-8",
        ] {
            assert!(is_grpc(&ct(v)), "{v}");
        }
        for v in [
            "application/grpc-web",
            "application/grpc-web+proto",
            "application/json",
            "application/grp",
        ] {
            assert!(!is_grpc(&ct(v)), "{v}");
        }
        assert!(!is_grpc(&HeaderMap::new()));
    }

    #[test]
    fn timeouts() {
        let t = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert("grpc-timeout", HeaderValue::from_str(v).unwrap());
            timeout(&h)
        };
        assert_eq!(t("100m"), Some(Duration::from_millis(100)));
        assert_eq!(t("2S"), Some(Duration::from_secs(2)));
        assert_eq!(t("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(t("99999999n"), Some(Duration::from_nanos(99_999_999)));
        assert_eq!(t("5M"), Some(Duration::from_secs(300)));
        for bad in ["", "m", "123456789S", "1x", "-1S", "1.5S", " 1S"] {
            assert_eq!(t(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn messages_are_percent_encoded() {
        assert_eq!(encode_message("no route"), "no route");
        assert_eq!(encode_message("50% off"), "50%25 off");
        assert_eq!(encode_message("caf\u{e9}\n"), "caf%C3%A9%0A");
    }

    /// Messages framed across chunks in every way; only a message over the limit fails.
    #[tokio::test]
    async fn the_limit_applies_to_each_message() {
        let frame = |n: usize| {
            let mut v = vec![0u8];
            v.extend_from_slice(&u32::try_from(n).unwrap().to_be_bytes());
            v.extend(std::iter::repeat_n(7u8, n));
            v
        };
        // 40 messages of 10 bytes: 600 bytes in all, over a limit of 10 per message
        let stream: Vec<u8> = (0..40).flat_map(|_| frame(10)).collect();
        for chunk in [1, 3, 5, 7, 600] {
            let parts: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = stream
                .chunks(chunk)
                .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
                .collect();
            let body = http_body_util::StreamBody::new(futures::stream::iter(parts));
            let got = PerMessage::new(body, 10).collect().await.expect("within");
            assert_eq!(got.to_bytes().len(), 600, "chunks of {chunk}");
        }
        let mut over = frame(10);
        over.extend(frame(11));
        for chunk in [1, 4, 30] {
            let parts: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = over
                .chunks(chunk)
                .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
                .collect();
            let body = http_body_util::StreamBody::new(futures::stream::iter(parts));
            let body = PerMessage::new(body, 10);
            let over = body.over_limit();
            let e = body.collect().await.expect_err("over");
            assert!(over.load(Ordering::SeqCst));
            assert!(e.is::<MessageTooLarge>(), "{e}");
            assert_eq!(
                e.to_string(),
                "a gRPC message of 11 bytes is over the limit of 10 bytes"
            );
        }
    }

    #[tokio::test]
    async fn gateway_faults_become_trailers_only_responses() {
        let r = from_answer(crate::fault::backend_timeout()).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/grpc");
        assert_eq!(r.headers()["grpc-status"], "4");
        assert_eq!(
            r.headers()["grpc-message"],
            "Backend timeout: The backend did not answer in time"
        );
        let r = from_answer(crate::fault::not_found_api()).await;
        assert_eq!(r.headers()["grpc-status"], "12");
        let r = from_answer(crate::fault::backend_unreachable()).await;
        assert_eq!(r.headers()["grpc-status"], "14");
        let mut empty = Response::new(Full::new(Bytes::new()));
        *empty.status_mut() = StatusCode::UNAUTHORIZED;
        empty.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"synaptic\""),
        );
        let r = from_answer(empty).await;
        assert_eq!(r.headers()["grpc-status"], "16");
        assert_eq!(r.headers()["grpc-message"], "Unauthorized");
        assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"synaptic\"");
        // a gRPC answer stays as it is
        let g = status_response(code::INTERNAL, "x");
        assert_eq!(from_answer(g).await.headers()["grpc-status"], "13");
    }
}
