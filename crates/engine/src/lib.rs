//! The mediation engine: [`compile`] turns parsed artifacts into a [`Program`] (with semantic
//! diagnostics), and [`Engine::mediate`] runs a sequence over a [`MessageContext`].
//!
//! Architecture Invariant: the engine does no network or filesystem I/O. The world comes in
//! through [`Invoker`] (HTTP, timers, and detached work: [`Invoker::detach`]),
//! [`synaptic_registry::Registry`], [`Clock`], [`SharedState`]
//! (rate counters and the response cache) and [`Database`] (`<dblookup>`/`<dbreport>`).
//!
//! Architecture Invariant: the compiled mediator set ([`compile`]'s arena IR) is a closed enum;
//! every `match` over it is exhaustive. The interpreter is iterative (a frame stack), never a
//! recursive `async fn`.

mod compile;
mod compiler;
mod context;
mod convert;
mod db;
mod deploy;
mod dispatch;
mod eip;
mod endpoint_state;
mod endpoints;
mod eval;
mod exec;
mod expression;
mod ir;
mod jpath;
mod mediators;
mod members;
mod observe;
mod props;
mod proxy_wsdl;
mod publish_schemas;
mod publish_wsdl;
mod redact;
mod run;
mod shared;
mod store;
mod text_cache;
mod uri;
mod xsel;

#[cfg(test)]
mod db_tests;
#[cfg(test)]
mod dynamic_key_tests;
#[cfg(test)]
mod eip_tests;
#[cfg(test)]
mod foreach_tests;
#[cfg(test)]
mod proxy_wsdl_tests;
#[cfg(test)]
mod publish_wsdl_tests;
#[cfg(test)]
mod scatter_gather_tests;
#[cfg(test)]
mod script_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod validate_tests;
#[cfg(test)]
mod wsdl_tests;
#[cfg(test)]
mod xslt_tests;

use async_trait::async_trait;
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use synaptic_diag::{Diagnostic, Span};
use synaptic_registry::Registry;

pub use synaptic_expr::{Scope, Value};
pub use synaptic_payload::Payload;
pub use synaptic_syntax::wsdl::WsdlText;

pub use context::hop_by_hop;
pub use convert::PropertyType;
pub use db::{
    driver_for, DataSourceDef, Database, DbDriver, DbError, DbFailure, DbPassword, JdbcType,
    NamedDataSource, NoDatabase, SqlOutcome, SqlRow, SqlStatement, SqlValue,
};
pub use deploy::{deploy_param, DeployParam, ParamKind};
pub use dispatch::Service;
pub use endpoint_state::{EndpointState, EndpointStatus, SuspendPolicy, DEFAULT_SUSPEND_MS};
pub use expression::Expression;
pub use members::{MemberProbe, PROBE_CONNECT_TIMEOUT, PROBE_EVERY, PROBE_FIRST};
pub use observe::{Change, LogEntry, MediationObserver, TraceStep};
pub use props::{PropMap, PropName};
pub use proxy_wsdl::{GeneratedWsdl, Listeners, AXIS2_NAMESPACE};
pub use publish_schemas::{
    find_import, find_schema, Fill, ServedDoc, ServiceAddresses, MAX_SCHEMAS, MAX_SCHEMA_BYTES,
    MAX_SCHEMA_DEPTH, MAX_WSDL_IMPORTS, MAX_WSDL_IMPORT_DEPTH,
};
pub use publish_wsdl::PublishedWsdl;
pub use redact::{redact_header_value, redact_text};
pub use shared::{CacheEvent, Hit, MemoryLimits, MemoryState, SharedState, StateError, Window};
pub use store::{
    decode as decode_stored_message, CronSchedule, ForwardDef, ProcessorDef, ProcessorKind,
    SampleDef, StoreDef, StoreRetry, DEFAULT_MAX_MESSAGES, MAX_MEMBERS,
};
pub use uri::{expand_uri_template, join_rest_postfix};

// ===== compile =====

/// Options for [`compile`].
#[derive(Clone, Debug, Default)]
pub struct CompileOptions {
    /// Sequence names that exist outside the compiled artifacts (none by default).
    pub external_sequences: Vec<String>,
    /// Names of the sequences and templates of artifacts left out because they do not
    /// compile: a reference to one is an error (E0304, E0340), so that its referrer is left
    /// out too, where a name no artifact defines is resolved when a message reaches it.
    pub unavailable: Vec<String>,
    /// Reads the documents of `<wsdl uri=…>` endpoints and the documents they import (the
    /// engine does no I/O). `None`: a `uri` is an error (E0122) where it is written.
    pub wsdl: Option<WsdlSource>,
    /// The values deploy-time parameters resolve to (`$SYSTEM:NAME`, `$FILE:KEY` and
    /// `${configs.NAME}` as the whole value of an attribute Synapse resolves when it deploys
    /// the artifact), from the host serving the artifacts.
    /// `None` (lint): such a value is left for deployment and not checked further.
    pub deploy: Option<DeployValues>,
    /// The data sources a `<dblookup>`/`<dbreport>` `<dsName>` may name (`[[datasource]]`
    /// of `synaptic.toml`). `None` (lint, `synaptic run`): a `<dsName>` is not checked, and
    /// its mediator faults at runtime.
    pub data_sources: Option<Arc<Vec<NamedDataSource>>>,
    /// This server's name (`[server] name`): a proxy whose `pinnedServers` does not name it
    /// is not deployed, as Synapse leaves it. `None` (lint, `synaptic run`): every proxy is.
    pub server_name: Option<String>,
}

/// The host values deploy-time parameters read (see [`CompileOptions::deploy`]).
#[derive(Clone)]
pub struct DeployValues(pub Arc<dyn Configurables>);

impl std::fmt::Debug for DeployValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeployValues(..)")
    }
}

/// Reads WSDL documents for the compiler: the host's files (see [`CompileOptions::wsdl`]).
pub trait WsdlReader: Send + Sync {
    /// The document at `location` as written: an endpoint's `uri` (deploy-time parameters
    /// resolved) or an import's `location`, relative to the document `from` (an id this reader
    /// returned) or, when `from` is `None`, to the project. `Err` says why it cannot be read.
    fn read(&self, location: &str, from: Option<&str>) -> Result<WsdlText, String>;

    /// The registry resource `key` (a proxy's `<publishWSDL key>` or `<resource key>` that
    /// names no local entry): `Ok(None)` when this host reads no registry at load (the key is
    /// then left for deployment, as `synaptic lint` leaves it), `Err` when the registry has no
    /// such resource or it cannot be read.
    fn registry(&self, _key: &str) -> Result<Option<WsdlText>, String> {
        Ok(None)
    }

    /// Whether this host fetches `http(s)` documents when it loads the project (a proxy's
    /// `<publishWSDL uri="http…">` or `<publishWSDL endpoint>`, fetched as Synapse fetches
    /// them when it deploys the proxy). `false` (`synaptic lint`, `synaptic run`): such a
    /// document is left for deployment.
    fn fetches(&self) -> bool {
        false
    }

    /// The document at the `http(s)` URL `url`, fetched within the host's bounds (time,
    /// size). `Err` says why it could not be fetched (unreachable, an error status, too large,
    /// not UTF-8 text), with no credential of the URL in it.
    fn fetch(&self, _url: &str) -> Result<WsdlText, String> {
        Err("documents are not fetched here".to_string())
    }
}

/// The server names of a `pinnedServers` value (a proxy's attribute, a message processor's
/// parameter): separated by spaces or commas, as Synapse's `StringTokenizer(value, " ,")`
/// splits them.
pub fn pinned_servers(value: &str) -> Vec<String> {
    value
        .split([' ', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The host's [`WsdlReader`] (see [`CompileOptions::wsdl`]).
#[derive(Clone)]
pub struct WsdlSource(pub Arc<dyn WsdlReader>);

impl std::fmt::Debug for WsdlSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WsdlSource(..)")
    }
}

/// Compiled, `Send + Sync` mediation program: every sequence of the given artifacts.
#[derive(Debug)]
pub struct Program {
    pub(crate) ir: compile::Ir,
    /// Whether some sequence holds a `<script>` or an `<xslt>` (its runs never stay on an I/O
    /// thread).
    pub(crate) scripts: bool,
}

impl Program {
    /// Whether some sequence runs a `<script>` or an `<xslt>`: CPU work bounded by
    /// `[limits] script_timeout` or the stylesheet rather than by the message's size, so the
    /// gateway never runs it on an I/O thread.
    pub fn runs_scripts(&self) -> bool {
        self.scripts
    }
    pub fn has_sequence(&self, name: &str) -> bool {
        self.ir.seq_by_name.contains_key(name)
    }
    /// Whether `name` runs as a fault sequence: a sequence of the program, or a
    /// `faultSequence` an `<api>` resource or a `<proxy>` names that no artifact defines (on a
    /// fault, the registry's sequence of that key, else the `fault` sequence).
    pub fn has_fault_sequence(&self, name: &str) -> bool {
        self.has_sequence(name) || self.ir.fault_flows.contains_key(name)
    }
    /// The states of the named endpoints that keep one (in a group, or with
    /// `<suspendOnFailure>` / `<markForSuspension>`), for metrics.
    pub fn endpoint_states(&self) -> &[Arc<EndpointState>] {
        &self.ir.endpoint_states
    }
    /// The message stores (`<messageStore>`), by name.
    pub fn message_stores(&self) -> Vec<&StoreDef> {
        let mut v: Vec<&StoreDef> = self.ir.stores.stores.values().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }
    /// The data sources of `<dblookup>`/`<dbreport>` (one per distinct `<pool>`), by id.
    pub fn data_sources(&self) -> &[Arc<DataSourceDef>] {
        &self.ir.data_sources
    }
    /// The message processors (`<messageProcessor>`) the gateway runs.
    pub fn message_processors(&self) -> &[ProcessorDef] {
        &self.ir.stores.processors
    }
    pub fn sequence_names(&self) -> Vec<String> {
        self.ir
            .seqs
            .iter()
            .filter(|s| !s.stand_in)
            .map(|s| s.name.clone())
            .collect()
    }
    /// What the proxy service `name` publishes at `?wsdl` (its `<publishWSDL>` resolved when
    /// the program was compiled); `None` without one.
    pub fn published_wsdl(&self, name: &str) -> Option<&PublishedWsdl> {
        self.ir.published_wsdl.get(name)
    }
    /// The proxy services not deployed on this server because their `pinnedServers` name
    /// other servers ([`CompileOptions::server_name`]), each with those servers.
    pub fn proxies_pinned_elsewhere(&self) -> &[(String, Vec<String>)] {
        &self.ir.pinned_elsewhere
    }
    /// Whether the proxy service `name` is deployed and started here: not pinned to other
    /// servers, and not left unstarted by `enablePublishWSDLSafeMode` (W0123).
    pub fn proxy_deployed(&self, name: &str) -> bool {
        self.proxy_started(name) && !self.ir.pinned_elsewhere.iter().any(|(n, _)| n == name)
    }
    /// Whether Synapse would leave the proxy service `name` unstarted: its
    /// `enablePublishWSDLSafeMode` is `true` and its published WSDL could not be read (W0123).
    pub fn proxy_started(&self, name: &str) -> bool {
        !self.ir.unstarted_proxies.contains(name)
    }
    /// What the transport and Axis2's dispatch set on a request entering the program through
    /// `service` over `transport` (`http` or `https`), as in Synapse: the default-scope
    /// `TRANSPORT_IN_NAME`, and the operation `get-property('OperationName')` reads (`mediate`,
    /// or for a proxy that publishes a WSDL the operation its SOAP action or path names).
    pub fn receive(&self, ctx: &mut MessageContext, service: Service<'_>, transport: &str) {
        let ops = match service {
            Service::Proxy(name) => self.ir.proxy_operations.get(name).map(Vec::as_slice),
            Service::Synapse => None,
        };
        dispatch::receive(ctx, ops, service, transport);
    }
    /// The out-sequence an `<api>` resource or a `<proxy>` pairs with the in-sequence
    /// `sequence` (the synthetic name of an inline flow, or the key it names).
    pub fn out_flow_of(&self, sequence: &str) -> Option<&str> {
        self.ir.out_flows.get(sequence).map(String::as_str)
    }
    /// Literal registry keys read anywhere in the program (to warm a registry cache).
    pub fn registry_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .ir
            .blocks
            .iter()
            .flatten()
            .flat_map(|n| n.registry_keys.iter().cloned())
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }
}

/// Compile parsed artifacts. Returns the program when there is no error, and all diagnostics
/// (semantic errors, warnings, portability notes).
pub fn compile(
    artifacts: &[synaptic_syntax::ast::Artifact],
    opts: &CompileOptions,
) -> (Option<Program>, Vec<Diagnostic>) {
    compile::compile(artifacts, opts)
}

// ===== runtime =====

/// Typed properties per scope. Transport-scope properties are the headers. `Debug` shows the
/// names only (values may be tokens).
#[derive(Clone, Default)]
pub struct Properties {
    pub default: PropMap,
    pub axis2: PropMap,
    pub operation: PropMap,
}

impl std::fmt::Debug for Properties {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Properties")
            .field("default", &self.default.keys().collect::<Vec<_>>())
            .field("axis2", &self.axis2.keys().collect::<Vec<_>>())
            .field("operation", &self.operation.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Per-request state, passed as `&mut` through the phases. Build it with
/// [`MessageContext::from_request`]. Its `Debug` output redacts header values and shows only
/// property names (they may hold tokens).
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
    /// Engine-private state (original body bytes, registry prefetch, addressing headers, …).
    pub(crate) st: context::State,
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
    /// The shared state (rate counters, response cache) failed, e.g. Redis is unreachable.
    SharedState,
    /// A `<dblookup>`/`<dbreport>` statement failed, or its database could not be reached.
    Database,
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

impl MediationError {
    pub fn new(kind: ErrorKind, origin: Origin, code: i64, message: impl Into<String>) -> Self {
        MediationError {
            kind,
            origin,
            at: None,
            code,
            message: message.into(),
        }
    }
    pub(crate) fn internal(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self::new(kind, Origin::Internal, 0, message)
    }
    pub(crate) fn at(mut self, span: Span) -> Self {
        if self.at.is_none() {
            self.at = Some(span);
        }
        self
    }
}

impl std::fmt::Display for MediationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (ERROR_CODE {})", self.message, self.code)
    }
}
impl std::error::Error for MediationError {}

/// Synapse transport error codes (`SynapseConstants`).
pub mod error_codes {
    pub const SEND_FAILED: i64 = 101500;
    pub const RECEIVE_FAILED: i64 = 101501;
    pub const CONNECTION_FAILED: i64 = 101503;
    pub const TIMEOUT: i64 = 101504;
    pub const CONNECTION_CLOSED: i64 = 101505;
    pub const ENDPOINT_NOT_READY: i64 = 303001;
    /// No child of a failover, load-balance or recipient-list endpoint is ready.
    pub const GROUP_NOT_READY: i64 = 303000;
    /// The key an `<endpoint key-expression>` gives names no endpoint (Synapse's
    /// `ENDPOINT_IN_DIRECT_NOT_READY`).
    pub const ENDPOINT_KEY_NOT_FOUND: i64 = 305100;
    /// A SOAP fault answer under `FORCE_ERROR_ON_SOAP_FAULT`.
    pub const ENDPOINT_CUSTOM_ERROR: i64 = 500000;
    /// A body whose tree would take more memory than [`crate::Limits::tree_factor`] allows
    /// (synaptic's own: Synapse has no such bound).
    pub const TREE_TOO_LARGE: i64 = 413002;
}

/// An HTTP request the engine wants sent. `Debug` redacts credentials and omits the body.
#[derive(Clone)]
pub struct OutboundRequest {
    pub method: http::Method,
    pub url: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    pub timeout: Option<Duration>,
}

/// A backend's answer. `Debug` redacts credentials and omits the body.
#[derive(Clone)]
pub struct InboundResponse {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

fn redacted_headers(h: &http::HeaderMap) -> Vec<String> {
    h.iter()
        .map(|(k, v)| {
            format!(
                "{k}: {}",
                redact_header_value(k.as_str(), &String::from_utf8_lossy(v.as_bytes()))
            )
        })
        .collect()
}

impl std::fmt::Debug for OutboundRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundRequest")
            .field("method", &self.method)
            .field("url", &redact_text(&self.url))
            .field("headers", &redacted_headers(&self.headers))
            .field("body_len", &self.body.len())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl std::fmt::Debug for InboundResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundResponse")
            .field("status", &self.status)
            .field("headers", &redacted_headers(&self.headers))
            .field("body_len", &self.body.len())
            .finish()
    }
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

/// Mediation the engine hands to its host to run on its own, after the message that made it
/// has gone on: the copies of a `<foreach continue-without-aggregation="true">`, the branches
/// of a `continueParent="true"` fan-out still running when its flow answered on its own. It
/// owns all it needs (the engine's handles, the copies), reports its own failures (as
/// `tracing` warnings) and resolves to `()` (ADR 0497).
pub type DetachedWork = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>;

/// Sends HTTP for `call`/`send`. The gateway implements it with a pooled client; tests script it.
#[async_trait]
pub trait Invoker: Send + Sync {
    async fn invoke(&self, req: OutboundRequest) -> Result<InboundResponse, InvokeError>;

    /// Run `work` on its own, without the caller waiting for it. A host that cannot take it
    /// now (none of its own, or its limit of detached work is reached) gives it back, and the
    /// engine runs it in place: the message then goes on once the work has ended. The default
    /// gives every work back.
    fn detach(&self, work: DetachedWork) -> Result<(), DetachedWork> {
        Err(work)
    }

    /// Wait `d`: the timer of `<aggregate>`'s completion timeout. The default never wakes
    /// (without a timer, an aggregate completes when its fan-out ends).
    async fn sleep(&self, d: Duration) {
        let _ = d;
        std::future::pending::<()>().await
    }

    /// Open a TCP connection to `host:port` within `timeout` and close it: how a
    /// `<loadbalance>` member taken out is probed ([`Engine::probe_members`]). `Err` says why
    /// it could not connect. The default connects nowhere.
    async fn connect(&self, host: &str, port: u16, timeout: Duration) -> Result<(), String> {
        let _ = (host, port, timeout);
        Err("this host opens no connections".to_string())
    }
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

/// What `${configs.name}` (Micro Integrator 4.4's configurable values), `wso2-vault(alias)`
/// and `wso2:vault-lookup('alias')` read, and the environment `get-property('env', …)` sees.
/// The host loads them with its configuration (the gateway: `[configs]`, `[secrets]` and the
/// process environment); the engine never reads a file or the environment itself.
pub trait Configurables: Send + Sync {
    /// The value of a configurable; `None` when it has none (`${configs.name}` then fails, as
    /// in Micro Integrator).
    fn config(&self, name: &str) -> Option<String>;
    /// A secret by alias; `None` when there is none.
    fn secret(&self, alias: &str) -> Option<String>;
    /// An environment variable, as `get-property('env', name)` reads it; `None` when unset or
    /// when the host does not expose its environment (the default).
    fn env(&self, _name: &str) -> Option<String> {
        None
    }
    /// A key of the deployment's properties file, as `$FILE:KEY` reads it; `None` when there
    /// is no such key or no file (the default).
    fn file_property(&self, _key: &str) -> Option<String> {
        None
    }
    /// The data sources a `<dsName>` may name (`[[datasource]]`), when the host loaded a
    /// configuration that defines them (the default: none is known, see
    /// [`CompileOptions::data_sources`]).
    fn data_sources(&self) -> Option<Arc<Vec<NamedDataSource>>> {
        None
    }
}

/// No configurable values and no secrets.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoConfigurables;

impl Configurables for NoConfigurables {
    fn config(&self, _name: &str) -> Option<String> {
        None
    }
    fn secret(&self, _alias: &str) -> Option<String> {
        None
    }
}

/// A clock stuck at one instant (tests, benches).
#[derive(Clone, Copy, Debug)]
pub struct FixedClock(pub i64);

impl Clock for FixedClock {
    fn now_ms(&self) -> i64 {
        self.0
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_steps: u32,
    pub max_depth: u32,
    /// Default timeout of `call`/`send` when the endpoint names none.
    pub call_timeout: Duration,
    /// Branches of one `iterate`/`clone` fan-out running at the same time.
    pub branches_in_flight: u32,
    /// Branches one fan-out may make, and messages one aggregate may hold.
    pub max_branches: u32,
    /// Longest run of one `<script>` (`[limits] script_timeout`).
    pub script_timeout: Duration,
    /// Most memory one `<script>` run may allocate (`[limits] script_memory`).
    pub script_memory: usize,
    /// A body's tree may take at most this many times the body's size in memory (and never
    /// less than [`synaptic_payload::TreeCost::FLOOR`]); a body over it is refused before it
    /// is built, with [`ErrorKind::BodyTooLarge`] and fault code 413002.
    pub tree_factor: usize,
}

impl Limits {
    /// Default of [`Limits::tree_factor`].
    pub const DEFAULT_TREE_FACTOR: usize = 128;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_steps: 100_000,
            max_depth: 64,
            call_timeout: Duration::from_secs(30),
            branches_in_flight: 20,
            max_branches: 1000,
            script_timeout: Duration::from_millis(100),
            script_memory: 16 << 20,
            tree_factor: Limits::DEFAULT_TREE_FACTOR,
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
    /// Counters (`<throttle>`) and the response cache (`<cache>`): in memory, or shared by
    /// several gateways.
    pub state: Arc<dyn SharedState>,
    /// The databases of `<dblookup>`/`<dbreport>` ([`NoDatabase`] where there are none).
    pub db: Arc<dyn Database>,
    /// `${configs.*}` values and secrets ([`NoConfigurables`] where there are none).
    pub configurables: Arc<dyn Configurables>,
    pub limits: Limits,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("sequences", &self.program.sequence_names())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Run the named sequence. Faults run the innermost handler (`onError`, else the sequence
    /// named by `fault_sequence`, when given); an unhandled fault is returned as `Err`. A fault
    /// handler that ends without `respond`/`drop` also returns the original error as `Err`
    /// (with `ERROR_*` set), so the client gets an error response rather than a 202.
    pub async fn mediate(
        &self,
        sequence: &str,
        fault_sequence: Option<&str>,
        ctx: &mut MessageContext,
    ) -> Result<Flow, MediationError> {
        run::mediate(self, sequence, fault_sequence, ctx).await
    }

    /// Run an in-sequence and, as Synapse does, its out-sequence on the response when the
    /// in-sequence ended with a `<send>` to an endpoint, or on the message itself after
    /// `<loopback/>` (a `<send receive="…">` runs its `receive` sequence instead; `<respond/>`
    /// and `<drop/>` end the flow).
    /// The out-sequence's message is then the answer (`Flow::Respond`) unless it drops it.
    /// Without `out_sequence`, or when the in-sequence ended otherwise, this is [`mediate`].
    ///
    /// [`mediate`]: Engine::mediate
    pub async fn mediate_flow(
        &self,
        in_sequence: &str,
        out_sequence: Option<&str>,
        fault_sequence: Option<&str>,
        ctx: &mut MessageContext,
    ) -> Result<Flow, MediationError> {
        ctx.st.sent = false;
        let flow = run::mediate_with(self, in_sequence, fault_sequence, out_sequence, ctx).await?;
        let sent = std::mem::take(&mut ctx.st.sent);
        match out_sequence {
            // the out-sequence's message is the answer unless it drops it
            Some(out) if sent && flow == Flow::Respond => {
                // its normal end answers with its message
                ctx.set_host_goes_on();
                match self.mediate(out, fault_sequence, ctx).await? {
                    Flow::Drop => Ok(Flow::Drop),
                    Flow::Continue | Flow::Respond => Ok(Flow::Respond),
                }
            }
            _ => Ok(flow),
        }
    }

    /// Send a message to the named endpoint as a `<call>` would (the endpoint's state, groups
    /// and timeouts apply); the response becomes the message (`status`, headers, body). An
    /// error answer (status 400 and above) is returned as `Ok` with that status: the caller
    /// decides (the forwarding processor retries it).
    pub async fn forward(
        &self,
        endpoint: &str,
        ctx: &mut MessageContext,
    ) -> Result<(), MediationError> {
        let ep = ir::EndpointIr::Key(endpoint.to_string());
        endpoints::send(self, Some(&ep), false, "store", ctx)
            .await
            .map(|_| ())
    }
}
