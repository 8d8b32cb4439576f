//! The engine in-process, for mediation goldens and conformance cases: an in-memory
//! [`TestRegistry`], a [`ScriptedInvoker`] that answers each outbound request with the next
//! [`Scripted`] answer and records what was sent, [`compile_text`] (parse + compile one
//! configuration text, with its diagnostics rendered) and [`engine`] (an [`Engine`] on a fixed
//! clock).

use async_trait::async_trait;
use bytes::Bytes;
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use synaptic_diag::SourceMap;
use synaptic_engine::{
    CompileOptions, Engine, FixedClock, InboundResponse, InvokeError, Invoker, Limits,
    OutboundRequest, Program,
};
use synaptic_registry::{Registry, RegistryError};

/// A registry held in memory; `map` can be seeded and inspected.
#[derive(Debug, Default)]
pub struct TestRegistry {
    pub map: Mutex<BTreeMap<String, String>>,
}

impl TestRegistry {
    /// A registry holding these entries.
    pub fn with(entries: impl IntoIterator<Item = (String, String)>) -> TestRegistry {
        TestRegistry {
            map: Mutex::new(entries.into_iter().collect()),
        }
    }
}

#[async_trait]
impl Registry for TestRegistry {
    async fn get(&self, key: &str) -> Result<Option<String>, RegistryError> {
        Ok(self.map.lock().unwrap().get(key).cloned())
    }
    async fn put(&self, key: &str, value: &str) -> Result<(), RegistryError> {
        self.map
            .lock()
            .unwrap()
            .insert(key.to_string(), value.to_string());
        Ok(())
    }
    async fn delete(&self, key: &str) -> Result<(), RegistryError> {
        self.map.lock().unwrap().remove(key);
        Ok(())
    }
}

/// One scripted answer of the backend.
#[derive(Clone, Debug)]
pub enum Scripted {
    /// Status, content type (`""` or `-` for none), body; plus extra response headers.
    Answer(u16, String, String, Vec<(String, String)>),
    /// The connection is refused.
    ConnectError,
    /// The backend does not answer in time.
    Timeout,
}

/// An [`Invoker`] answering from a script (a connection failure once it runs out) and recording
/// every request.
#[derive(Default)]
pub struct ScriptedInvoker {
    pub answers: Mutex<VecDeque<Scripted>>,
    pub seen: Mutex<Vec<OutboundRequest>>,
}

impl ScriptedInvoker {
    /// An invoker that gives these answers, in order.
    pub fn new(answers: impl IntoIterator<Item = Scripted>) -> ScriptedInvoker {
        ScriptedInvoker {
            answers: Mutex::new(answers.into_iter().collect()),
            seen: Mutex::default(),
        }
    }

    /// The requests sent so far.
    pub fn seen(&self) -> Vec<OutboundRequest> {
        self.seen.lock().unwrap().clone()
    }
}

#[async_trait]
impl Invoker for ScriptedInvoker {
    async fn invoke(&self, req: OutboundRequest) -> Result<InboundResponse, InvokeError> {
        self.seen.lock().unwrap().push(req);
        match self.answers.lock().unwrap().pop_front() {
            Some(Scripted::Answer(status, ct, body, extra)) => {
                let mut headers = http::HeaderMap::new();
                if !ct.is_empty() && ct != "-" {
                    headers.insert(http::header::CONTENT_TYPE, ct.parse().unwrap());
                }
                headers.insert("date", "Sun, 22 Nov 2026 00:00:00 GMT".parse().unwrap());
                for (k, v) in extra {
                    if let (Ok(k), Ok(v)) = (
                        http::HeaderName::from_bytes(k.as_bytes()),
                        http::HeaderValue::from_str(&v),
                    ) {
                        headers.append(k, v);
                    }
                }
                Ok(InboundResponse {
                    status,
                    headers,
                    body: Bytes::from(body),
                })
            }
            Some(Scripted::ConnectError) | None => Err(InvokeError::Connect("refused".into())),
            Some(Scripted::Timeout) => Err(InvokeError::Timeout),
        }
    }
}

/// A configuration text parsed and compiled as one file named `name`.
pub struct Compiled {
    /// The program, when there was no error.
    pub program: Option<Program>,
    /// The sequences in file order.
    pub sequences: Vec<String>,
    /// Parse errors, rendered short (`file:line:col: error[code]: …`); the program is `None`.
    pub parse_errors: Vec<String>,
    /// Compile diagnostics (errors, warnings, notes), rendered short without the file name.
    pub lint: Vec<String>,
    /// The codes of all diagnostics (parse and compile), e.g. `E0106`.
    pub codes: Vec<String>,
}

/// Parse and compile one configuration text (a `<sequence>`, a `<definitions>`, …).
pub fn compile_text(name: &str, text: &str) -> Compiled {
    let mut map = SourceMap::new();
    let id = map.add(name.to_string(), text.to_string());
    let parse = synaptic_syntax::parse_artifact(id, text);
    let mut codes: Vec<String> = parse
        .diagnostics
        .iter()
        .map(|d| d.code.id.to_string())
        .collect();
    let parse_errors: Vec<String> = parse
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| synaptic_diag::render::short(&map, d))
        .collect();
    let sequences = parse
        .tree
        .sequences
        .iter()
        .map(|s| s.name.value.clone())
        .collect();
    if !parse_errors.is_empty() {
        return Compiled {
            program: None,
            sequences,
            parse_errors,
            lint: Vec::new(),
            codes,
        };
    }
    let (program, diags) = synaptic_engine::compile(
        std::slice::from_ref(&parse.tree),
        &CompileOptions::default(),
    );
    codes.extend(diags.iter().map(|d| d.code.id.to_string()));
    let lint = diags
        .iter()
        .map(|d| synaptic_diag::render::short(&map, d).replace(&format!("{name}:"), ""))
        .collect();
    Compiled {
        program,
        sequences,
        parse_errors,
        lint,
        codes,
    }
}

/// An engine over `program` with these doubles and a clock stuck at `now_ms`.
pub fn engine(
    program: Program,
    invoker: Arc<ScriptedInvoker>,
    registry: Arc<TestRegistry>,
    now_ms: i64,
) -> Engine {
    Engine {
        configurables: std::sync::Arc::new(synaptic_engine::NoConfigurables),
        program: Arc::new(program),
        invoker,
        registry,
        clock: Arc::new(FixedClock(now_ms)),
        state: Arc::new(synaptic_engine::MemoryState::default()),
        db: std::sync::Arc::new(synaptic_engine::NoDatabase),
        limits: Limits::default(),
    }
}

/// The recorded requests as text: `outbound[i]: METHOD URL`, then the headers sorted, the body
/// and the timeout, one per line (the mediation goldens' format).
pub fn describe_outbound(seen: &[OutboundRequest]) -> String {
    let mut out = String::new();
    for (i, r) in seen.iter().enumerate() {
        let _ = writeln!(out, "outbound[{i}]: {} {}", r.method, r.url);
        let mut hs: Vec<_> = r
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {}", String::from_utf8_lossy(v.as_bytes())))
            .collect();
        hs.sort();
        for h in hs {
            let _ = writeln!(out, "  {h}");
        }
        if !r.body.is_empty() {
            let _ = writeln!(out, "  body: {}", String::from_utf8_lossy(&r.body));
        }
        if let Some(t) = r.timeout {
            let _ = writeln!(out, "  timeout: {} ms", t.as_millis());
        }
    }
    out
}
