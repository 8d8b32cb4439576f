//! `synaptic run`: run one sequence once against a raw HTTP request and print the result as
//! one JSON object.

use anyhow::{bail, Context as _};
use bytes::Bytes;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use synaptic_diag::render::{render, Format};
use synaptic_diag::{SourceMap, Span};
use synaptic_engine::{
    Change, Flow, LogEntry, MediationError, MediationObserver, MessageContext, Scope, TraceStep,
};
use synaptic_registry::Registry;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The sequence file to run (its first sequence).
    #[arg(value_name = "SEQUENCE_FILE")]
    pub sequence_file: PathBuf,
    /// A raw HTTP/1.1 request: request line, headers, blank line, body.
    #[arg(long, value_name = "REQUEST_FILE")]
    pub request: PathBuf,
    /// Registry root folder (default: an empty in-memory registry).
    #[arg(long, value_name = "DIR")]
    pub registry: Option<PathBuf>,
    /// A folder of further sequences that `<sequence key>` may name.
    #[arg(long, value_name = "DIR")]
    pub sequences: Option<PathBuf>,
    /// The API context: `REST_URL_POSTFIX` is the path and query after it.
    #[arg(long, value_name = "CONTEXT")]
    pub api_context: Option<String>,
    /// Timeout of `call`/`send` in milliseconds when the endpoint names none.
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    pub timeout_ms: u64,
    /// Print each mediator to stderr as it runs (`file:line:col <name>`), with the properties
    /// and headers it set, changed or removed (secrets redacted).
    #[arg(long)]
    pub trace: bool,
}

pub fn run(args: RunArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(run_async(args, out, err))
}

async fn run_async(
    args: RunArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    // --- load and compile ---
    let mut files = vec![args.sequence_file.clone()];
    if let Some(dir) = &args.sequences {
        let main = std::fs::canonicalize(&args.sequence_file).ok();
        for f in crate::lint::collect_files(std::slice::from_ref(dir))? {
            if std::fs::canonicalize(&f).ok() != main {
                files.push(f);
            }
        }
    }
    let mut map = SourceMap::new();
    let mut artifacts = Vec::new();
    let mut diags = Vec::new();
    for f in &files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
        let id = map.add(f.display().to_string(), text);
        let p = synaptic_syntax::parse_artifact(id, map.text(id));
        diags.extend(p.diagnostics);
        artifacts.push(p.tree);
    }
    let Some(first) = artifacts.first().and_then(|a| a.sequences.first()) else {
        bail!("{} holds no sequence", args.sequence_file.display());
    };
    let seq_name = first.name.value.clone();
    // `<wsdl uri=…>` paths are relative to the sequences folder, else to the file's
    let base = match &args.sequences {
        Some(d) => d.clone(),
        None => args
            .sequence_file
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default(),
    };
    let (opts, values) = synaptic_gateway::standalone::compile_options(&base);
    let (program, compile_diags) = synaptic_engine::compile(&artifacts, &opts);
    diags.extend(compile_diags);
    synaptic_diag::sort(&mut diags);
    let has_errors = diags.iter().any(|d| d.is_error());
    for d in &diags {
        if d.is_error() {
            writeln!(err, "{}", render(&map, d, Format::Short))?;
        }
    }
    let Some(program) = program.filter(|_| !has_errors) else {
        bail!("the sequences do not compile (see the errors above)");
    };

    // --- the request ---
    let raw = std::fs::read(&args.request)
        .with_context(|| format!("cannot read {}", args.request.display()))?;
    let req = parse_request(&raw).with_context(|| format!("{}", args.request.display()))?;

    let registry = open_registry(args.registry.as_deref())?;
    let program = Arc::new(program);
    let engine = synaptic_gateway::standalone::engine(
        program.clone(),
        values,
        registry,
        &base,
        Duration::from_millis(args.timeout_ms),
    )
    .context("cannot build the HTTP client")?;
    let mut ctx = MessageContext::from_request(
        req.method,
        &req.uri,
        req.headers,
        req.body,
        args.api_context.as_deref(),
    );
    // what Synapse's HTTP transport and Axis2's dispatch set on the request
    program.receive(
        &mut ctx,
        synaptic_engine::Service::of_flow(&seq_name),
        "http",
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let recorder = Arc::new(Recorder {
        trace: args.trace.then_some(tx),
        seen: Mutex::default(),
    });
    ctx.set_observer(recorder.clone());
    // trace lines are printed while the mediation runs (between its awaits)
    let result = {
        // an `<api>` resource's or `<proxy>`'s out-sequence runs on the response of a `<send>`
        let out_seq = engine.program.out_flow_of(&seq_name);
        let mediation = engine.mediate_flow(&seq_name, out_seq, None, &mut ctx);
        tokio::pin!(mediation);
        let mut printer = TracePrinter::default();
        let r = loop {
            tokio::select! {
                r = &mut mediation => break r,
                Some(ev) = rx.recv() => printer.event(err, &map, ev)?,
            }
        };
        while let Ok(ev) = rx.try_recv() {
            printer.event(err, &map, ev)?;
        }
        r
    };
    let seen = std::mem::take(&mut *recorder.seen.lock().unwrap_or_else(|e| e.into_inner()));
    let logs: Vec<serde_json::Value> = seen
        .logs
        .iter()
        .map(|(level, at, message)| {
            serde_json::json!({ "level": level, "at": location(&map, *at), "message": message })
        })
        .collect();
    let fault = seen.fault.as_ref().map(|f| fault_json(&map, f));
    let handled = seen.fault.as_ref().is_some_and(|f| f.handled_by.is_some());
    let (mut v, code) = match result {
        Ok(flow) => (result_json(flow, &mut ctx), ExitCode::SUCCESS),
        // the fault handler ended without respond or drop: the server answers with a fault
        Err(_) if handled => (result_json_with("fault", &mut ctx), ExitCode::SUCCESS),
        Err(e) => {
            let fault = match &fault {
                Some(f) => f.clone(),
                None => fault_json(&map, &SeenFault::from_error(&e, None)),
            };
            let v = serde_json::json!({
                "fault": fault,
                "properties": properties_json(&ctx),
            });
            (v, ExitCode::from(1))
        }
    };
    if let Some(obj) = v.as_object_mut() {
        obj.insert("faulted".into(), ctx.faulted().into());
        if let Some(f) = fault {
            obj.entry("fault").or_insert(f);
        }
        obj.insert("logs".into(), logs.into());
    }
    writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    Ok(code)
}

/// What `synaptic run` learns from the engine while the sequence runs.
struct Recorder {
    /// Where trace events go when `--trace` is on.
    trace: Option<tokio::sync::mpsc::UnboundedSender<TraceEvent>>,
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    logs: Vec<(&'static str, Span, String)>,
    /// The last fault (a fault in a fault handler replaces the one it handled).
    fault: Option<SeenFault>,
}

#[derive(Clone, Debug)]
struct SeenFault {
    code: i64,
    message: String,
    kind: String,
    origin: String,
    at: Option<Span>,
    handled_by: Option<String>,
}

impl SeenFault {
    fn from_error(e: &MediationError, handled_by: Option<&str>) -> Self {
        SeenFault {
            code: e.code,
            message: e.message.clone(),
            kind: format!("{:?}", e.kind),
            origin: format!("{:?}", e.origin),
            at: e.at,
            handled_by: handled_by.map(str::to_string),
        }
    }
}

enum TraceEvent {
    Mediator {
        at: Span,
        depth: usize,
        changes: Vec<Change>,
        failed: bool,
    },
    Log(&'static str, String),
    Fault(SeenFault),
}

impl MediationObserver for Recorder {
    fn log(&self, entry: &LogEntry<'_>) {
        if let Ok(mut s) = self.seen.lock() {
            s.logs
                .push((entry.level, entry.at, entry.message.to_string()));
        }
        if let Some(tx) = &self.trace {
            let _ = tx.send(TraceEvent::Log(entry.level, entry.message.to_string()));
        }
    }
    fn traces(&self) -> bool {
        self.trace.is_some()
    }
    fn mediator(&self, step: &TraceStep<'_>) {
        if let Some(tx) = &self.trace {
            let _ = tx.send(TraceEvent::Mediator {
                at: step.at,
                depth: step.depth,
                changes: step.changes.to_vec(),
                failed: step.failed,
            });
        }
    }
    fn fault(&self, error: &MediationError, handler: Option<&str>) {
        let f = SeenFault::from_error(error, handler);
        if let Some(tx) = &self.trace {
            let _ = tx.send(TraceEvent::Fault(f.clone()));
        }
        if let Ok(mut s) = self.seen.lock() {
            s.fault = Some(f);
        }
    }
}

/// `file:line:col` of a span.
fn location(map: &SourceMap, at: Span) -> String {
    let (line, col) = map.line_col(at);
    format!("{}:{line}:{col}", map.name(at.source))
}

/// The element name at the start of a mediator's span (`<log …` → `log`).
fn element_name(map: &SourceMap, at: Span) -> &str {
    let text = map.text(at.source);
    let rest = text
        .get(at.start as usize..)
        .unwrap_or("")
        .trim_start_matches('<');
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '/' || c == '>')
        .unwrap_or(rest.len());
    &rest[..end]
}

fn fault_json(map: &SourceMap, f: &SeenFault) -> serde_json::Value {
    let mut v = serde_json::json!({
        "code": f.code,
        "message": f.message,
        "kind": f.kind,
        "origin": f.origin,
        "handled_by": f.handled_by,
    });
    if let Some(at) = f.at {
        v["at"] = location(map, at).into();
        // the span may be an attribute (a failing expression): name the element holding it
        v["mediator"] = enclosing_element(map, at).into();
    }
    v
}

/// The name of the element whose start tag holds the span's start.
fn enclosing_element(map: &SourceMap, at: Span) -> String {
    let text = map.text(at.source);
    let start = (at.start as usize).min(text.len());
    let open = if text.get(start..).is_some_and(|t| t.starts_with('<')) {
        start
    } else {
        text.get(..start).and_then(|t| t.rfind('<')).unwrap_or(0)
    };
    element_name(
        map,
        Span {
            start: open as u32,
            ..at
        },
    )
    .to_string()
}

/// Prints trace events; a `<log>` line is reported while its mediator runs, so it waits for
/// the mediator's own line.
#[derive(Default)]
struct TracePrinter {
    logs: Vec<TraceEvent>,
}

impl TracePrinter {
    fn event(
        &mut self,
        err: &mut dyn Write,
        map: &SourceMap,
        ev: TraceEvent,
    ) -> std::io::Result<()> {
        match ev {
            TraceEvent::Log(..) => self.logs.push(ev),
            TraceEvent::Mediator { .. } => {
                write_trace(err, map, &ev)?;
                for l in self.logs.drain(..) {
                    write_trace(err, map, &l)?;
                }
            }
            TraceEvent::Fault(_) => write_trace(err, map, &ev)?,
        }
        Ok(())
    }
}

fn write_trace(err: &mut dyn Write, map: &SourceMap, ev: &TraceEvent) -> std::io::Result<()> {
    match ev {
        TraceEvent::Mediator {
            at,
            depth,
            changes,
            failed,
        } => {
            let indent = "  ".repeat(depth.saturating_sub(1));
            writeln!(
                err,
                "trace: {indent}{} <{}>{}",
                location(map, *at),
                element_name(map, *at),
                if *failed { " failed" } else { "" }
            )?;
            for c in changes {
                let what = match (&c.old, &c.new) {
                    (None, Some(n)) => format!("set {}.{} = {n:?}", c.scope, c.name),
                    (Some(o), Some(n)) => {
                        format!("changed {}.{} = {n:?} (was {o:?})", c.scope, c.name)
                    }
                    (Some(o), None) => format!("removed {}.{} (was {o:?})", c.scope, c.name),
                    (None, None) => continue,
                };
                writeln!(err, "trace: {indent}    {what}")?;
            }
        }
        TraceEvent::Log(level, message) => writeln!(err, "trace:     log {level}: {message}")?,
        TraceEvent::Fault(f) => {
            let at = f.at.map(|a| location(map, a)).unwrap_or_default();
            match &f.handled_by {
                Some(h) => writeln!(
                    err,
                    "trace: fault {} at {at}: {} (handled by sequence `{h}`)",
                    f.code, f.message
                )?,
                None => writeln!(
                    err,
                    "trace: fault {} at {at}: {} (not handled)",
                    f.code, f.message
                )?,
            }
        }
    }
    Ok(())
}

fn properties_json(ctx: &MessageContext) -> serde_json::Value {
    serde_json::json!({
        "default": ctx.scope_strings(Scope::Default),
        "axis2": ctx.scope_strings(Scope::Axis2),
    })
}

/// The JSON object `synaptic run` prints.
pub fn result_json(flow: Flow, ctx: &mut MessageContext) -> serde_json::Value {
    result_json_with(
        match flow {
            Flow::Continue => "continue",
            Flow::Respond => "respond",
            Flow::Drop => "drop",
        },
        ctx,
    )
}

fn result_json_with(flow: &str, ctx: &mut MessageContext) -> serde_json::Value {
    let (body, ct) = match ctx.body_bytes() {
        Ok(b) => b,
        Err(_) => (Bytes::new(), ctx.content_type.clone()),
    };
    let headers = ctx.header_strings();
    serde_json::json!({
        "flow": flow,
        "status": ctx.status,
        "headers": headers,
        "content_type": ct,
        "body": String::from_utf8_lossy(&body),
        "properties": properties_json(ctx),
    })
}

/// A request from a wire log.
#[derive(Debug)]
pub struct RawRequest {
    pub method: http::Method,
    pub uri: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

/// Parse `METHOD URI HTTP/1.1`, headers, a blank line and the body (CRLF or LF line ends).
/// `Content-Length`, when present, bounds the body.
pub fn parse_request(raw: &[u8]) -> anyhow::Result<RawRequest> {
    let mut pos = 0;
    let mut line_no = 0;
    let mut request_line = None;
    let mut headers = http::HeaderMap::new();
    loop {
        let Some(nl) = raw[pos..].iter().position(|b| *b == b'\n') else {
            if request_line.is_none() {
                bail!("no request line");
            }
            pos = raw.len();
            break;
        };
        let line = &raw[pos..pos + nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        pos += nl + 1;
        line_no += 1;
        let text =
            std::str::from_utf8(line).with_context(|| format!("line {line_no} is not UTF-8"))?;
        if request_line.is_none() {
            if text.trim().is_empty() {
                continue;
            }
            request_line = Some(text.to_string());
            continue;
        }
        if text.is_empty() {
            break;
        }
        let Some((k, v)) = text.split_once(':') else {
            bail!("line {line_no}: `{text}` is not a header");
        };
        let name = http::HeaderName::from_bytes(k.trim().as_bytes())
            .with_context(|| format!("line {line_no}: bad header name"))?;
        let value = http::HeaderValue::from_str(v.trim())
            .with_context(|| format!("line {line_no}: bad header value"))?;
        headers.append(name, value);
    }
    let rl = request_line.unwrap_or_default();
    let mut parts = rl.split_whitespace();
    let (Some(m), Some(target)) = (parts.next(), parts.next()) else {
        bail!("line 1: expected `METHOD URI HTTP/1.1`");
    };
    let method = http::Method::from_bytes(m.as_bytes()).context("line 1: bad method")?;
    let uri = match target.find("://") {
        Some(i) => {
            let rest = &target[i + 3..];
            match rest.find('/') {
                Some(j) => rest[j..].to_string(),
                None => "/".to_string(),
            }
        }
        None => target.to_string(),
    };
    let mut body = &raw[pos.min(raw.len())..];
    if let Some(len) = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        body = &body[..len.min(body.len())];
    }
    Ok(RawRequest {
        method,
        uri,
        headers,
        body: Bytes::copy_from_slice(body),
    })
}

fn open_registry(dir: Option<&Path>) -> anyhow::Result<Arc<dyn Registry>> {
    Ok(match dir {
        Some(d) => Arc::new(
            synaptic_registry::FileRegistry::open(d)
                .with_context(|| format!("cannot open the registry at {}", d.display()))?,
        ),
        None => Arc::new(synaptic_registry::MemoryRegistry::new()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wire_requests() {
        let r = parse_request(
            b"POST http://gw/pizzashack/1.0.0/order?x=1 HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}\r\n",
        )
        .unwrap();
        assert_eq!(r.method, http::Method::POST);
        assert_eq!(r.uri, "/pizzashack/1.0.0/order?x=1");
        assert_eq!(&r.body[..], b"{\"a\":1}");
        let r = parse_request(b"GET /menu HTTP/1.1\nAccept: */*\n\n").unwrap();
        assert_eq!(r.uri, "/menu");
        assert!(r.body.is_empty());
        assert!(parse_request(b"").is_err());
        assert!(parse_request(b"GET /x HTTP/1.1\nbad header\n\n").is_err());
    }
}
