//! The two streamed bodies the gateway passes on without reading them whole, each held to a
//! deadline so that no peer can hold the other side indefinitely:
//!
//! - [`BackendBody`]: a backend's response body streamed to the client. A backend silent for
//!   longer than `[limits] backend_read_timeout` in the middle of its body ends the stream with
//!   an error, so the client's response is aborted (its connection closed before the body is
//!   complete) instead of hanging.
//! - [`ClientStream`]: a client's request body streamed to a backend, at most `max_body_size`
//!   bytes and complete within the body timeout. When it turns out malformed, too large or too
//!   slow, the stream ends with an error: the HTTP client then aborts the upstream request and
//!   closes its connection (a request whose body failed is never completed, and its connection
//!   never returns to the pool); [`StreamState`] tells the pipeline why, for the client's
//!   `400` / `413` / `408`.

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The error a stream ends with when its deadline passes.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StreamError(&'static str);

/// Poll a lazily created timer for `deadline`: `true` once it has passed.
fn deadline_passed(
    sleep: &mut Option<Pin<Box<Sleep>>>,
    deadline: Instant,
    cx: &mut Context<'_>,
) -> bool {
    loop {
        let s = sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if s.as_mut().poll(cx).is_pending() {
            return false;
        }
        if Instant::now() >= deadline {
            return true;
        }
        // the deadline moved on since the timer was set: set it again and wait
        s.as_mut().reset(deadline);
    }
}

/// A backend's response as it comes: from a pooled cleartext HTTP/1.1 connection
/// ([`crate::pool`]) or from hyper-util's client (HTTPS, HTTP/2).
#[derive(Debug)]
pub enum UpBody {
    H1(crate::pool::H1Body),
    Hyper(Incoming),
}

impl UpBody {
    /// Whether the response's head came without hop-by-hop fields (the lean pool leaves them
    /// out as it reads the head); else they are still to be removed.
    pub fn hop_by_hop_removed(&self) -> bool {
        matches!(self, UpBody::H1(b) if b.hop_by_hop_removed())
    }
}

impl Body for UpBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            UpBody::H1(b) => Pin::new(b).poll_frame(cx),
            UpBody::Hyper(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
        }
    }
    fn is_end_stream(&self) -> bool {
        match self {
            UpBody::H1(b) => b.is_end_stream(),
            UpBody::Hyper(b) => b.is_end_stream(),
        }
    }
    fn size_hint(&self) -> SizeHint {
        match self {
            UpBody::H1(b) => b.size_hint(),
            UpBody::Hyper(b) => b.size_hint(),
        }
    }
}

/// A backend's response body, streamed: at most `idle` between two frames (no bound without
/// one: a gRPC call's response stream).
pub struct BackendBody {
    inner: UpBody,
    idle: Option<Duration>,
    deadline: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl BackendBody {
    pub fn new(inner: UpBody, idle: Option<Duration>) -> BackendBody {
        BackendBody {
            inner,
            idle,
            deadline: Instant::now() + idle.unwrap_or_default(),
            sleep: None,
        }
    }
}

impl std::fmt::Debug for BackendBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendBody")
            .field("idle", &self.idle)
            .finish_non_exhaustive()
    }
}

impl Body for BackendBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(r) => {
                if let Some(idle) = this.idle {
                    this.deadline = Instant::now() + idle;
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                let Some(idle) = this.idle else {
                    return Poll::Pending;
                };
                if deadline_passed(&mut this.sleep, this.deadline, cx) {
                    tracing::warn!(
                        timeout_s = idle.as_secs_f64(),
                        "backend silent in the middle of its response body: response aborted"
                    );
                    return Poll::Ready(Some(Err(Box::new(StreamError("backend read timeout")))));
                }
                Poll::Pending
            }
        }
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Why a streamed client body failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientBodyFailure {
    /// The client's framing was invalid, or it closed the connection mid-body (`400`).
    Malformed,
    /// Over `max_body_size` (`413`).
    TooLarge,
    /// Not complete within the body timeout (`408`).
    Timeout,
}

/// What the pipeline learns about a [`ClientStream`] it gave away.
#[derive(Debug, Default)]
pub struct StreamState {
    /// 0: none; else a [`ClientBodyFailure`] + 1.
    failure: AtomicU8,
    /// The last poll waited for the client.
    waiting: AtomicBool,
    /// The whole body went through.
    done: AtomicBool,
    /// The exchange failed: stop at once, whatever the client still sends.
    aborted: AtomicBool,
}

impl StreamState {
    pub fn failure(&self) -> Option<ClientBodyFailure> {
        match self.failure.load(Ordering::SeqCst) {
            1 => Some(ClientBodyFailure::Malformed),
            2 => Some(ClientBodyFailure::TooLarge),
            3 => Some(ClientBodyFailure::Timeout),
            _ => None,
        }
    }
    fn fail(&self, f: ClientBodyFailure) {
        let n = match f {
            ClientBodyFailure::Malformed => 1,
            ClientBodyFailure::TooLarge => 2,
            ClientBodyFailure::Timeout => 3,
        };
        let _ = self
            .failure
            .compare_exchange(0, n, Ordering::SeqCst, Ordering::SeqCst);
    }
    /// Incomplete, and the last poll was waiting for the client.
    pub fn stalled_on_client(&self) -> bool {
        !self.done.load(Ordering::SeqCst) && self.waiting.load(Ordering::SeqCst)
    }
    /// The exchange is over without a response: the rest of the body is never sent.
    pub fn abort(&self) {
        self.aborted.store(true, Ordering::SeqCst);
    }
}

/// A client's request body on its way to a backend, bounded in size and time.
pub struct ClientStream {
    inner: Incoming,
    left: usize,
    deadline: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
    state: Arc<StreamState>,
}

impl std::fmt::Debug for ClientStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientStream")
            .field("left", &self.left)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl ClientStream {
    /// At most `limit` bytes, complete within `timeout` from now.
    pub fn new(inner: Incoming, limit: usize, timeout: Duration) -> ClientStream {
        ClientStream {
            inner,
            left: limit,
            deadline: Instant::now() + timeout,
            sleep: None,
            state: Arc::default(),
        }
    }
    pub fn state(&self) -> Arc<StreamState> {
        self.state.clone()
    }
    fn failed(
        &self,
        f: ClientBodyFailure,
        msg: &'static str,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.state.fail(f);
        Poll::Ready(Some(Err(Box::new(StreamError(msg)))))
    }
}

impl Body for ClientStream {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.state.aborted.load(Ordering::SeqCst) {
            return Poll::Ready(Some(Err(Box::new(StreamError("exchange aborted")))));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(f))) => {
                this.state.waiting.store(false, Ordering::SeqCst);
                if let Some(d) = f.data_ref() {
                    if d.len() > this.left {
                        return this.failed(ClientBodyFailure::TooLarge, "request body too large");
                    }
                    this.left -= d.len();
                }
                Poll::Ready(Some(Ok(f)))
            }
            Poll::Ready(Some(Err(_))) => this.failed(
                ClientBodyFailure::Malformed,
                "request body could not be read",
            ),
            Poll::Ready(None) => {
                this.state.done.store(true, Ordering::SeqCst);
                Poll::Ready(None)
            }
            Poll::Pending => {
                this.state.waiting.store(true, Ordering::SeqCst);
                if deadline_passed(&mut this.sleep, this.deadline, cx) {
                    return this.failed(ClientBodyFailure::Timeout, "request body timeout");
                }
                Poll::Pending
            }
        }
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
