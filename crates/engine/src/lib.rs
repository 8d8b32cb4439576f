//! The mediation engine: [`compile`] turns parsed artifacts into a [`Program`] (with semantic
//! diagnostics), and [`Engine::mediate`] runs a sequence over a [`MessageContext`].
//!
//! Architecture Invariant: the engine does no network or filesystem I/O. The world comes in
//! through [`Invoker`] (HTTP), [`synaptic_registry::Registry`] and [`Clock`].

use async_trait::async_trait;
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use synaptic_diag::{Diagnostic, Span};
use synaptic_registry::Registry;

pub use synaptic_expr::{Scope, Value};
pub use synaptic_payload::Payload;

// ===== compile =====

/// Options for [`compile`].
#[derive(Clone, Debug, Default)]
pub struct CompileOptions {
    /// Sequence names that exist outside the compiled artifacts (none by default).
    pub external_sequences: Vec<String>,
}

/// Compiled, `Send + Sync` mediation program: every sequence of the given artifacts.
#[derive(Debug)]
pub struct Program {
    // private
}

impl Program {
    pub fn has_sequence(&self, name: &str) -> bool {
        let _ = name;
        unimplemented!()
    }
    pub fn sequence_names(&self) -> Vec<String> {
        unimplemented!()
    }
}

/// Compile parsed artifacts. Returns the program when there is no error, and all diagnostics
/// (semantic errors, warnings, portability notes).
pub fn compile(
    artifacts: &[synaptic_syntax::ast::Artifact],
    opts: &CompileOptions,
) -> (Option<Program>, Vec<Diagnostic>) {
    let _ = (artifacts, opts);
    unimplemented!()
}

// ===== runtime =====

/// Typed properties per scope. Transport-scope properties are the headers.
#[derive(Clone, Debug, Default)]
pub struct Properties {
    pub default: std::collections::BTreeMap<String, Value>,
    pub axis2: std::collections::BTreeMap<String, Value>,
    pub operation: std::collections::BTreeMap<String, Value>,
}

/// Per-request state, passed as `&mut` through the phases.
#[derive(Debug)]
pub struct MessageContext {
    pub method: http::Method,
    /// Path and query as received.
    pub uri: String,
    /// Transport headers (case-insensitive).
    pub headers: http::HeaderMap,
    pub payload: Payload,
    /// The body's content type (drives building; `messageType` drives formatting).
    pub content_type: Option<String>,
    pub properties: Properties,
    /// Response status (`HTTP_SC`), when this message is a response.
    pub status: Option<u16>,
    /// True while running an out-flow (response path).
    pub response: bool,
}

impl MessageContext {
    /// A request entering the engine. `api_context` sets `REST_URL_POSTFIX` to the path and
    /// query after it (the whole path when `None`).
    pub fn from_request(
        method: http::Method,
        uri: &str,
        headers: http::HeaderMap,
        body: Bytes,
        api_context: Option<&str>,
    ) -> MessageContext {
        let _ = (method, uri, headers, body, api_context);
        unimplemented!()
    }

    /// The outgoing request to `address` as the `send`/`call` to an address endpoint would make
    /// it: body formatted by `messageType`, headers minus hop-by-hop, `REST_URL_POSTFIX`
    /// appended the Synapse way.
    pub fn to_outbound(&mut self, address: &str) -> Result<OutboundRequest, MediationError> {
        let _ = address;
        unimplemented!()
    }

    /// Replace this context's message with a backend response (for the out-flow).
    pub fn set_response(&mut self, resp: InboundResponse) {
        let _ = resp;
        unimplemented!()
    }

    /// The body as it would be sent now (formatted by `messageType`), and its Content-Type.
    pub fn body_bytes(&mut self) -> Result<(Bytes, Option<String>), MediationError> {
        unimplemented!()
    }
}

/// How a mediation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Respond,
    Drop,
}

/// Who is to blame for a runtime error (decides the HTTP status in the gateway).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The backend (connect failure → 502, timeout → 504).
    Upstream,
    /// The client (bad body → 400, too large → 413).
    Downstream,
    /// synaptic or the configuration (500).
    Internal,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    ConnectFailed,
    Timeout,
    BodyTooLarge,
    BadBody,
    Expression,
    Conversion,
    Registry,
    Limit,
    /// An unhandled fault raised by a sequence (ERROR_CODE already set).
    Fault,
}

#[derive(Clone, Debug)]
pub struct MediationError {
    pub kind: ErrorKind,
    pub origin: Origin,
    pub at: Option<Span>,
    /// Synapse `ERROR_CODE` (e.g. 101503).
    pub code: i64,
    /// Safe to show to clients: never holds secrets.
    pub message: String,
}

impl std::fmt::Display for MediationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (ERROR_CODE {})", self.message, self.code)
    }
}
impl std::error::Error for MediationError {}

/// An HTTP request the engine wants sent.
#[derive(Clone, Debug)]
pub struct OutboundRequest {
    pub method: http::Method,
    pub url: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    pub timeout: Option<Duration>,
}

#[derive(Clone, Debug)]
pub struct InboundResponse {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

#[derive(Clone, Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("timed out")]
    Timeout,
    #[error("response too large")]
    TooLarge,
    #[error("{0}")]
    Other(String),
}

/// Sends HTTP for `call`/`send`. The gateway implements it with a pooled client; tests script it.
#[async_trait]
pub trait Invoker: Send + Sync {
    async fn invoke(&self, req: OutboundRequest) -> Result<InboundResponse, InvokeError>;
}

pub trait Clock: Send + Sync {
    /// Epoch milliseconds.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_steps: u32,
    pub max_depth: u32,
    /// Default timeout of `call`/`send` when the endpoint names none.
    pub call_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_steps: 100_000,
            max_depth: 64,
            call_timeout: Duration::from_secs(30),
        }
    }
}

/// Runs sequences of one [`Program`].
#[derive(Clone)]
pub struct Engine {
    pub program: Arc<Program>,
    pub invoker: Arc<dyn Invoker>,
    pub registry: Arc<dyn Registry>,
    pub clock: Arc<dyn Clock>,
    pub limits: Limits,
}

impl Engine {
    /// Run the named sequence. Faults run the innermost handler (`onError`, else the sequence
    /// named by `fault_sequence`, when given); an unhandled fault is returned as `Err`.
    pub async fn mediate(
        &self,
        sequence: &str,
        fault_sequence: Option<&str>,
        ctx: &mut MessageContext,
    ) -> Result<Flow, MediationError> {
        let _ = (sequence, fault_sequence, ctx);
        unimplemented!()
    }
}
