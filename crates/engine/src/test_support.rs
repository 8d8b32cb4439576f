//! What the engine's unit tests share: a host with no network, compiling one configuration
//! text, and an engine over a program with in-memory host parts.

use crate::*;
use synaptic_diag::SourceId;

/// An invoker whose every call fails to connect.
pub(crate) struct NoNet;

#[async_trait]
impl Invoker for NoNet {
    async fn invoke(&self, _: OutboundRequest) -> Result<InboundResponse, InvokeError> {
        Err(InvokeError::Connect("no network in unit tests".into()))
    }
}

/// One configuration text parsed and compiled: the program when nothing is an error, and the
/// parser's and the compiler's diagnostics.
pub(crate) fn compiled(xml: &str) -> (Option<Program>, Vec<Diagnostic>) {
    let p = synaptic_syntax::parse_artifact(SourceId(0), xml);
    let mut diags = p.diagnostics.clone();
    if diags.iter().any(|d| d.is_error()) {
        return (None, diags);
    }
    let (prog, more) = compile(std::slice::from_ref(&p.tree), &CompileOptions::default());
    diags.extend(more);
    (prog, diags)
}

/// An engine running `xml` (which must compile) with no network, an empty in-memory registry,
/// a fixed clock, in-memory state, no database and no configurables; override fields with
/// struct update syntax.
pub(crate) fn engine_of(xml: &str) -> Engine {
    let (prog, diags) = compiled(xml);
    let prog = prog.unwrap_or_else(|| panic!("{diags:?}"));
    Engine {
        program: Arc::new(prog),
        invoker: Arc::new(NoNet),
        registry: Arc::new(synaptic_registry::MemoryRegistry::new()),
        clock: Arc::new(FixedClock(1_700_000_000_000)),
        state: Arc::new(MemoryState::default()),
        db: Arc::new(NoDatabase),
        configurables: Arc::new(NoConfigurables),
        limits: Limits::default(),
    }
}

/// A `POST /x` request with this content type and body.
pub(crate) fn request(ct: &str, body: &str) -> MessageContext {
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", ct.parse().unwrap());
    MessageContext::from_request(
        http::Method::POST,
        "/x",
        headers,
        Bytes::from(body.to_string()),
        None,
    )
}

/// A current-thread runtime for one test (timers and I/O enabled).
pub(crate) fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
