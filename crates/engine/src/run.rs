//! The interpreter: an iterative loop over the arena IR with a frame stack.

use crate::compile::{
    ArgSrc, BlockId, CallOp, Cond, EndpointIr, FormatSrc, HeaderOp, HeaderTarget, Ir, LogLevel,
    LogOp, MediaType, Node, Op, PayloadFactoryOp, PropName, PropertyOp, SeqId, ValueSrc,
};
use crate::context::{mime_of, system_props, Env};
use crate::convert::{convert, value_string, Converted};
use crate::observe;
use crate::payload_factory::{self as pf, Arg, Out};
use crate::redact::{redact_header_value, redact_text};
use crate::uri::{expand_uri_template, join_rest_postfix};
use crate::{
    error_codes, Engine, ErrorKind, Flow, InvokeError, MediationError, MessageContext, Origin,
};
use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use std::time::Duration;
use synaptic_diag::Span;
use synaptic_expr::{CompiledExpr, Scope, Value};
use synaptic_payload::{Payload, SoapVersion};

const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";

struct Frame {
    block: BlockId,
    pc: usize,
    /// The `onError` of the sequence this frame starts.
    on_error: Option<SeqId>,
}

enum Step {
    Next,
    Push(BlockId),
    PushSeq(SeqId),
    End(Flow),
    /// Run a sequence on the response of a `send`, then answer.
    Receive(SeqId),
}

pub(crate) async fn mediate(
    engine: &Engine,
    sequence: &str,
    fault_sequence: Option<&str>,
    ctx: &mut MessageContext,
) -> Result<Flow, MediationError> {
    let ir: &Ir = &engine.program.ir;
    let Some(&start) = ir.seq_by_name.get(sequence) else {
        return Err(MediationError::internal(
            ErrorKind::Fault,
            format!("no sequence named `{sequence}` is loaded"),
        ));
    };
    let mut fault_seq = fault_sequence.and_then(|n| ir.seq_by_name.get(n).copied());
    let mut frames: Vec<Frame> = Vec::with_capacity(8);
    frames.push(seq_frame(ir, start));
    let mut steps: u32 = 0;
    let mut pending: Option<MediationError> = None;
    let mut final_flow = Flow::Continue;
    let started_as_response = ctx.response;
    loop {
        let Some(top) = frames.last_mut() else {
            return match pending {
                Some(e) => Err(e),
                // a non-blocking call turned the request into a response: answer with it
                // (or a `makefault response="true"`): answer with it
                None if final_flow == Flow::Continue && ctx.response && !started_as_response => {
                    respond_status(ctx);
                    Ok(Flow::Respond)
                }
                None => Ok(final_flow),
            };
        };
        let block = &ir.blocks[top.block as usize];
        let Some(node) = block.get(top.pc) else {
            frames.pop();
            continue;
        };
        top.pc += 1;
        steps += 1;
        if steps > engine.limits.max_steps {
            let e = MediationError::internal(
                ErrorKind::Limit,
                format!("mediation exceeded {} steps", engine.limits.max_steps),
            )
            .at(node.span);
            observe::fault(ctx, &e, None);
            return Err(e);
        }
        let snap = observe::before(ctx);
        let result = step(engine, ir, node, ctx).await;
        observe::after(ctx, node.span, frames.len(), snap, result.is_err());
        let next = match result {
            Ok(s) => s,
            Err(e) => {
                let e = e.at(node.span);
                if e.kind == ErrorKind::Limit {
                    observe::fault(ctx, &e, None);
                    return Err(e);
                }
                set_error_props(ctx, &e);
                if let Some(i) = frames.iter().rposition(|f| f.on_error.is_some()) {
                    let handler = frames[i].on_error;
                    frames.truncate(i);
                    if let Some(h) = handler {
                        observe::fault(ctx, &e, Some(&ir.seqs[h as usize].name));
                        let mut f = seq_frame(ir, h);
                        f.on_error = None;
                        frames.push(f);
                    }
                    pending = Some(e);
                    continue;
                }
                if let Some(fs) = fault_seq.take() {
                    observe::fault(ctx, &e, Some(&ir.seqs[fs as usize].name));
                    frames.clear();
                    let mut f = seq_frame(ir, fs);
                    f.on_error = None;
                    frames.push(f);
                    pending = Some(e);
                    continue;
                }
                observe::fault(ctx, &e, None);
                return Err(e);
            }
        };
        match next {
            Step::Next => {}
            Step::Push(b) => {
                check_depth(engine, &frames, node, ctx)?;
                frames.push(Frame {
                    block: b,
                    pc: 0,
                    on_error: None,
                });
            }
            Step::PushSeq(s) => {
                check_depth(engine, &frames, node, ctx)?;
                frames.push(seq_frame(ir, s));
            }
            Step::End(flow) => return Ok(flow),
            Step::Receive(s) => {
                frames.clear();
                frames.push(seq_frame(ir, s));
                final_flow = Flow::Respond;
            }
        }
    }
}

fn seq_frame(ir: &Ir, s: SeqId) -> Frame {
    let seq = &ir.seqs[s as usize];
    Frame {
        block: seq.body,
        pc: 0,
        on_error: seq.on_error,
    }
}

fn check_depth(
    engine: &Engine,
    frames: &[Frame],
    node: &Node,
    ctx: &MessageContext,
) -> Result<(), MediationError> {
    if frames.len() as u32 >= engine.limits.max_depth {
        let e = MediationError::internal(
            ErrorKind::Limit,
            format!("mediation nested deeper than {}", engine.limits.max_depth),
        )
        .at(node.span);
        observe::fault(ctx, &e, None);
        return Err(e);
    }
    Ok(())
}

/// `FaultHandler`: set `ERROR_*` only if `ERROR_CODE` is unset.
fn set_error_props(ctx: &mut MessageContext, e: &MediationError) {
    ctx.st.fault = true;
    let d = &mut ctx.properties.default;
    if d.contains_key("ERROR_CODE") {
        return;
    }
    d.insert("ERROR_CODE".into(), Value::Integer(e.code));
    let first_line = e.message.lines().next().unwrap_or("").to_string();
    d.insert("ERROR_MESSAGE".into(), Value::String(first_line));
    d.insert("ERROR_DETAIL".into(), Value::String(e.message.clone()));
}

pub(crate) fn eval(
    engine: &Engine,
    ctx: &MessageContext,
    e: &CompiledExpr,
) -> Result<Value, MediationError> {
    let env = Env {
        ctx,
        now_ms: engine.clock.now_ms(),
    };
    synaptic_expr::eval(e, &env).map_err(|err| {
        MediationError::internal(
            ErrorKind::Expression,
            format!("expression `{}` failed: {err}", e.text),
        )
        .at(e.span)
    })
}

pub(crate) fn eval_src(
    engine: &Engine,
    ctx: &MessageContext,
    v: &ValueSrc,
) -> Result<Value, MediationError> {
    match v {
        ValueSrc::Literal(v) => Ok(v.clone()),
        ValueSrc::Expr(e) => eval(engine, ctx, e),
        ValueSrc::Syn(e) => Ok(crate::variable::eval_syn(engine, ctx, e)),
        ValueSrc::None => Ok(Value::Null),
    }
}

/// A `source=` attribute read as text (`switch`, `filter` with `regex=`): an XPath result
/// as `string()` gives it (`None` when missing), a Synapse Expression's text as MI's
/// `stringValueOf` gives it (`""` for null or an evaluation error).
pub(crate) fn source_text(
    engine: &Engine,
    ctx: &MessageContext,
    v: &ValueSrc,
) -> Result<Option<String>, MediationError> {
    match v {
        ValueSrc::Syn(e) => {
            let env = crate::context::Env {
                ctx,
                now_ms: engine.clock.now_ms(),
            };
            Ok(Some(synaptic_expr::synexpr::string_value_of(e, &env)))
        }
        other => Ok(value_string(&eval_src(engine, ctx, other)?)),
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Boolean(b) => *b,
        Value::String(s) => !s.is_empty(),
        Value::Number(n) => *n != 0.0 && !n.is_nan(),
        Value::Integer(i) => *i != 0,
        Value::Xml(s) => !s.is_empty(),
        Value::Json(_) => true,
    }
}

async fn step(
    engine: &Engine,
    ir: &Ir,
    node: &Node,
    ctx: &mut MessageContext,
) -> Result<Step, MediationError> {
    // Registry reads are fetched before the mediator runs (expressions are synchronous).
    for key in node.registry_keys.iter() {
        let v = engine.registry.get(key).await.map_err(|e| {
            MediationError::internal(ErrorKind::Registry, format!("registry read failed: {e}"))
        })?;
        let v = v.map(|mut s| {
            if s.ends_with('\n') {
                s.pop();
                if s.ends_with('\r') {
                    s.pop();
                }
            }
            s
        });
        match ctx.st.registry.get_mut(key.as_str()) {
            Some(slot) => *slot = v,
            None => {
                ctx.st.registry.insert(key.clone(), v);
            }
        }
    }
    if node.touches_body && !(node.raw_json_ok && ctx.has_raw_json()) {
        ctx.ensure_built()?;
    }
    match &node.op {
        Op::Property(p) => property(engine, p, ctx).await.map(|_| Step::Next),
        Op::Variable(v) => crate::variable::run(engine, v, ctx).map(|_| Step::Next),
        Op::Filter {
            cond,
            then,
            otherwise,
        } => {
            let yes = match cond {
                Cond::XPath(e) => truthy(&eval(engine, ctx, e)?),
                Cond::Syn(e) => crate::variable::eval_syn_cond(engine, ctx, e),
                Cond::Regex { source, regex } => match source_text(engine, ctx, source)? {
                    None => false,
                    Some(s) => regex.is_match(&s),
                },
            };
            Ok(if yes {
                Step::Push(*then)
            } else {
                match otherwise {
                    Some(b) => Step::Push(*b),
                    None => Step::Next,
                }
            })
        }
        Op::PayloadFactory(p) => payload_factory(engine, p, ctx).map(|_| Step::Next),
        Op::Header(h) => header(engine, h, ctx).map(|_| Step::Next),
        Op::Call(c) => call(engine, ir, c, ctx).await.map(|_| Step::Next),
        Op::Send(s) => {
            let mut endpoint = s.endpoint.clone();
            if endpoint.is_none() {
                if ctx.is_response() {
                    respond_status(ctx);
                    return Ok(Step::End(Flow::Respond));
                }
                // an address set with `<header name="To">` is where Synapse sends the message
                if !ctx.st.addressing.contains_key("To") {
                    return Ok(Step::End(Flow::Continue));
                }
                endpoint = Some(EndpointIr::Default);
            }
            let c = CallOp {
                blocking: false,
                endpoint,
            };
            call(engine, ir, &c, ctx).await?;
            Ok(match s.receive {
                Some(r) => Step::Receive(r),
                None => Step::End(Flow::Respond),
            })
        }
        Op::Log(l) => {
            log(engine, l, ctx, node.span)?;
            Ok(Step::Next)
        }
        Op::Respond => {
            respond_status(ctx);
            Ok(Step::End(Flow::Respond))
        }
        Op::Drop => Ok(Step::End(Flow::Drop)),
        Op::Loopback => {
            ctx.response = true;
            respond_status(ctx);
            Ok(Step::End(Flow::Respond))
        }
        Op::Sequence(s) => Ok(Step::PushSeq(*s)),
        Op::ExternalSequence(name) => Err(MediationError::internal(
            ErrorKind::Fault,
            format!("sequence `{name}` is not loaded"),
        )),
        Op::Switch(s) => {
            let v = source_text(engine, ctx, &s.source)?;
            if let Some(v) = v {
                for (re, b) in &s.cases {
                    if re.is_match(&v) {
                        return Ok(Step::Push(*b));
                    }
                }
            }
            Ok(match s.default {
                Some(b) => Step::Push(b),
                None => Step::Next,
            })
        }
        Op::Enrich(e) => crate::enrich::enrich(engine, e, ctx).map(|_| Step::Next),
        Op::Validate(v) => Ok(crate::mediators::validate::run(engine, v, ctx, node.span)?
            .map_or(Step::Next, Step::Push)),
        Op::MakeFault(m) => crate::enrich::makefault(engine, m, ctx).map(|_| Step::Next),
        Op::Direction { response, body } => Ok(if *response == ctx.is_response() {
            Step::Push(*body)
        } else {
            Step::Next
        }),
    }
}

fn respond_status(ctx: &mut MessageContext) {
    if let Some(sc) = ctx
        .properties
        .axis2
        .get("HTTP_SC")
        .and_then(value_string)
        .and_then(|s| s.trim().parse::<u16>().ok())
    {
        ctx.status = Some(sc);
    } else if ctx.st.fault_response || body_has_fault(ctx) {
        // a SOAP fault body (or a POX makefault) goes out as 500, unless FAULTS_AS_HTTP_200
        let as_200 = ctx
            .axis2_string("FAULTS_AS_HTTP_200")
            .is_some_and(|s| s.trim().eq_ignore_ascii_case("true"));
        ctx.status = Some(if as_200 { 200 } else { 500 });
    }
    ctx.response = true;
}

/// The body is a SOAP fault (`SOAPBody.hasFault()`).
fn body_has_fault(ctx: &MessageContext) -> bool {
    match &ctx.payload {
        Payload::Xml(env) if env.version != SoapVersion::Pox => env
            .body
            .first()
            .is_some_and(|e| e.name.is(env.namespace(), "Fault")),
        _ => false,
    }
}

// === property ===

async fn property(
    engine: &Engine,
    p: &PropertyOp,
    ctx: &mut MessageContext,
) -> Result<(), MediationError> {
    let name: std::borrow::Cow<'_, str> = match &p.name {
        PropName::Literal(n) => n.as_str().into(),
        PropName::Dynamic(e) => value_string(&eval(engine, ctx, e)?)
            .unwrap_or_default()
            .into(),
    };
    if p.remove {
        match p.scope {
            Scope::Default => {
                ctx.properties.default.remove(name.as_ref());
            }
            Scope::Axis2 => {
                ctx.properties.axis2.remove(name.as_ref());
            }
            Scope::Axis2Client => {
                ctx.st.axis2_client.remove(name.as_ref());
            }
            Scope::Operation => {
                ctx.properties.operation.remove(name.as_ref());
            }
            Scope::Transport => {
                ctx.headers.remove(name.as_ref());
            }
            Scope::Registry
            | Scope::System
            | Scope::Env
            | Scope::File
            | Scope::Func
            | Scope::Trace
            | Scope::Analytics => {}
        }
        return Ok(());
    }
    let literal = matches!(p.value, ValueSrc::Literal(_));
    let mut v = eval_src(engine, ctx, &p.value)?;
    if let Some((re, g)) = &p.pattern {
        let s = value_string(&v).unwrap_or_default();
        v = Value::String(match re.captures(&s) {
            Some(c) => c
                .get(*g)
                .map(|m| m.as_str().to_string())
                .unwrap_or_default(),
            None => String::new(),
        });
    }
    let conv = if literal && p.pattern.is_none() {
        Converted::Set(v)
    } else {
        convert(v, p.ty).map_err(|msg| {
            MediationError::internal(ErrorKind::Conversion, format!("property `{name}`: {msg}"))
        })?
    };
    let v = match conv {
        Converted::Unset => return Ok(()),
        Converted::Set(v) => v,
    };
    let name = name.as_ref();
    match p.scope {
        Scope::Default => {
            if v != Value::Null {
                ctx.properties.default.insert(name.to_string(), v);
            }
        }
        Scope::Axis2 => {
            if name == "messageType" {
                match value_string(&v) {
                    Some(mt) => ctx.set_message_type(&mt),
                    None => {
                        ctx.properties.axis2.remove(name);
                    }
                }
            } else if v == Value::Null {
                ctx.properties.axis2.remove(name);
            } else {
                ctx.properties.axis2.insert(name.to_string(), v);
            }
        }
        Scope::Axis2Client => {
            if v == Value::Null {
                ctx.st.axis2_client.remove(name);
            } else {
                ctx.st.axis2_client.insert(name.to_string(), v);
            }
        }
        Scope::Operation => {
            if v != Value::Null {
                ctx.properties.operation.insert(name.to_string(), v);
            }
        }
        Scope::Transport => {
            let s = value_string(&v).unwrap_or_default();
            set_header(ctx, name, &s)?;
        }
        Scope::Registry => {
            let Some(s) = value_string(&v) else {
                return Err(MediationError::internal(
                    ErrorKind::Registry,
                    format!("cannot write a null value to registry key `{name}`"),
                ));
            };
            engine.registry.put(name, &s).await.map_err(|e| {
                MediationError::internal(ErrorKind::Registry, format!("registry write failed: {e}"))
            })?;
            ctx.st.registry.insert(name.to_string(), Some(s));
        }
        Scope::System => {
            if let Some(s) = value_string(&v) {
                if let Ok(mut m) = system_props().write() {
                    m.insert(name.to_string(), s);
                }
            }
        }
        // read-only scopes are refused by compile; trace/analytics are not kept
        Scope::Env | Scope::File | Scope::Func | Scope::Trace | Scope::Analytics => {}
    }
    Ok(())
}

fn set_header(ctx: &mut MessageContext, name: &str, value: &str) -> Result<(), MediationError> {
    let n = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        MediationError::internal(
            ErrorKind::Conversion,
            format!("`{name}` is not a valid header name"),
        )
    })?;
    let v = HeaderValue::from_str(value).map_err(|_| {
        MediationError::internal(
            ErrorKind::Conversion,
            format!("the value for header `{name}` contains characters not allowed in HTTP"),
        )
    })?;
    ctx.headers.insert(n, v);
    Ok(())
}

// === header ===

fn header(engine: &Engine, h: &HeaderOp, ctx: &mut MessageContext) -> Result<(), MediationError> {
    match &h.target {
        HeaderTarget::Transport(n) => {
            if h.remove {
                ctx.headers.remove(n);
                return Ok(());
            }
            let v = eval_src(engine, ctx, &h.value)?;
            let s = value_string(&v).unwrap_or_default();
            let hv = HeaderValue::from_str(&s).map_err(|_| {
                MediationError::internal(
                    ErrorKind::Conversion,
                    format!("the value for header `{n}` contains characters not allowed in HTTP"),
                )
            })?;
            ctx.headers.insert(n.clone(), hv);
        }
        HeaderTarget::Addressing(name) => {
            if h.remove {
                ctx.st.addressing.remove(name);
            } else {
                let v = eval_src(engine, ctx, &h.value)?;
                match value_string(&v) {
                    Some(s) => {
                        ctx.st.addressing.insert(name.clone(), s);
                    }
                    None => {
                        ctx.st.addressing.remove(name);
                    }
                }
            }
        }
        HeaderTarget::Embedded(blocks) => {
            ctx.ensure_built()?;
            if let Payload::Xml(env) = &mut ctx.payload {
                if h.remove {
                    env.header.retain(|e| {
                        !blocks
                            .iter()
                            .any(|b| b.name.ns == e.name.ns && b.name.local == e.name.local)
                    });
                } else {
                    env.header.extend(blocks.iter().cloned());
                }
                ctx.st.original = None;
            } else {
                tracing::debug!("SOAP header block ignored: the message is not XML");
            }
        }
        HeaderTarget::Soap { ns, prefix, local } => {
            let v = if h.remove {
                None
            } else {
                value_string(&eval_src(engine, ctx, &h.value)?)
            };
            ctx.ensure_built()?;
            if let Payload::Xml(env) = &mut ctx.payload {
                env.header
                    .retain(|e| !(e.name.ns == *ns && e.name.local == *local));
                if let Some(s) = v {
                    let el = synaptic_payload::Element {
                        name: synaptic_payload::xml::QName {
                            ns: ns.clone(),
                            prefix: prefix.clone(),
                            local: local.clone(),
                        },
                        attributes: Vec::new(),
                        namespaces: vec![(prefix.clone(), ns.clone())],
                        children: vec![synaptic_payload::Node::Text(s)],
                    };
                    env.header.push(el);
                }
                ctx.st.original = None;
            } else {
                tracing::debug!(header = %local, "SOAP header ignored: the message is not XML");
            }
        }
    }
    Ok(())
}

// === payloadFactory ===

fn payload_factory(
    engine: &Engine,
    p: &PayloadFactoryOp,
    ctx: &mut MessageContext,
) -> Result<(), MediationError> {
    let template: String = match &p.format {
        FormatSrc::Inline(s) => s.clone(),
        FormatSrc::Syn(t) => crate::variable::render_pf(
            engine,
            ctx,
            t,
            matches!(p.media, MediaType::Json),
            matches!(p.media, MediaType::Xml),
        ),
        FormatSrc::Key(k) => ctx.registry_value(k).ok_or_else(|| {
            MediationError::internal(
                ErrorKind::Registry,
                format!("payloadFactory format `{k}` is not in the registry"),
            )
        })?,
    };
    let mut args = Vec::with_capacity(p.args.len());
    for a in &p.args {
        let arg = match &a.src {
            ArgSrc::Value(v) => {
                if !a.literal && pf::is_xml(v) {
                    Arg::Xml(v.clone())
                } else {
                    Arg::Str {
                        s: v.clone(),
                        from_value: true,
                        literal: a.literal,
                    }
                }
            }
            ArgSrc::Expr { expr, json } => {
                let v = eval(engine, ctx, expr)?;
                let s = value_string(&v).unwrap_or_default();
                let t = s.trim_start();
                if a.literal {
                    Arg::Str {
                        s,
                        from_value: false,
                        literal: true,
                    }
                } else if *json && (t.starts_with('{') || t.starts_with('[')) {
                    Arg::Json(s)
                } else if !*json && (matches!(v, Value::Xml(_)) || pf::is_xml(&s)) {
                    Arg::Xml(s)
                } else {
                    Arg::Str {
                        s,
                        from_value: false,
                        literal: false,
                    }
                }
            }
        };
        args.push(arg);
    }
    let out_kind = match p.media {
        MediaType::Xml => Out::Xml,
        MediaType::Json => Out::Json,
        MediaType::Text => Out::Text,
    };
    let text = pf::render(&template, &args, out_kind);
    ctx.properties.axis2.remove("NO_ENTITY_BODY");
    match p.media {
        MediaType::Json => {
            // Synapse trims the output, looks only for the first character a JSON text can
            // start with and then sends the text as produced; nothing else is checked
            let t = text.trim();
            let body = if t.is_empty() {
                "{}".to_string()
            } else if t.contains(|c: char| {
                matches!(c, '{' | '[' | '"' | 't' | 'n' | 'f' | '-' | '0'..='9')
            }) {
                t.to_string()
            } else {
                return Err(MediationError::internal(
                    ErrorKind::BadBody,
                    "payloadFactory produced no JSON: the text holds no character a JSON value \
                     starts with",
                ));
            };
            ctx.set_body_raw(Bytes::from(body), Some("application/json".into()), false);
            ctx.set_message_type("application/json");
        }
        MediaType::Text => {
            ctx.set_payload(Payload::Text(text), Some("text/plain".into()));
            ctx.set_message_type("text/plain");
        }
        MediaType::Xml => {
            // keep an XML message's envelope (version, SOAP headers) when only the body changes
            if matches!(ctx.payload, Payload::Raw(_))
                && ctx
                    .content_type
                    .as_deref()
                    .is_some_and(|c| mime_of(c).to_ascii_lowercase().contains("xml"))
                && ctx.ensure_built().is_err()
            {
                ctx.payload = Payload::Empty;
            }
            let built = synaptic_payload::build(text.trim().as_bytes(), Some("application/xml"))
                .map_err(|e| {
                    MediationError::internal(
                        ErrorKind::BadBody,
                        format!("payloadFactory produced malformed XML: {e}"),
                    )
                })?;
            let Payload::Xml(mut env) = built else {
                return Err(MediationError::internal(
                    ErrorKind::BadBody,
                    "payloadFactory produced no XML element",
                ));
            };
            // a SOAP Envelope root replaces the whole envelope
            if env.version == SoapVersion::Pox && env.body.len() == 1 {
                let root = &env.body[0];
                if root.name.local == "Envelope"
                    && (root.name.ns == SOAP11_NS || root.name.ns == SOAP12_NS)
                {
                    let ct = if root.name.ns == SOAP11_NS {
                        "text/xml"
                    } else {
                        "application/soap+xml"
                    };
                    if let Ok(Payload::Xml(e2)) =
                        synaptic_payload::build(text.trim().as_bytes(), Some(ct))
                    {
                        env = e2;
                    }
                }
            }
            let new_env = if env.version != SoapVersion::Pox {
                env
            } else {
                match std::mem::replace(&mut ctx.payload, Payload::Empty) {
                    Payload::Xml(mut cur) => {
                        cur.body = env.body;
                        cur
                    }
                    _ => env,
                }
            };
            let cur_mt = ctx
                .axis2_string("messageType")
                .map(|m| m.to_ascii_lowercase());
            let is_xml_type = cur_mt.as_deref().is_some_and(|m| {
                matches!(m, "application/xml" | "text/xml" | "application/soap+xml")
            });
            let mt = if is_xml_type {
                cur_mt.unwrap_or_default()
            } else {
                "application/xml".to_string()
            };
            ctx.set_payload(Payload::Xml(new_env), Some(mt.clone()));
            if !is_xml_type {
                ctx.set_message_type(&mt);
            }
        }
    }
    Ok(())
}

// === call ===

fn lookup_uri_var(ctx: &MessageContext, name: &str) -> Option<String> {
    ctx.properties.default.get(name).and_then(value_string)
}

fn safe_target(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}{}",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.port().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        Err(_) => "the endpoint".to_string(),
    }
}

async fn call(
    engine: &Engine,
    ir: &Ir,
    c: &CallOp,
    ctx: &mut MessageContext,
) -> Result<(), MediationError> {
    let mut ep = c.endpoint.clone();
    if let Some(EndpointIr::Key(k)) = &ep {
        match ir.endpoints.get(k) {
            Some(e) => ep = Some(e.clone()),
            None => {
                return Err(MediationError::new(
                    ErrorKind::Fault,
                    Origin::Internal,
                    error_codes::ENDPOINT_NOT_READY,
                    format!("endpoint `{k}` is not defined"),
                ))
            }
        }
    }
    let postfix = ctx.axis2_string("REST_URL_POSTFIX").unwrap_or_default();
    let (method, url, timeout_ms) = match &ep {
        Some(EndpointIr::Http {
            method,
            template,
            timeout_ms,
        }) => {
            let mut url = expand_uri_template(template, &|n| lookup_uri_var(ctx, n));
            if c.blocking {
                url = join_rest_postfix(&url, &postfix);
            }
            (ctx.http_method(method.as_ref()), url, *timeout_ms)
        }
        Some(EndpointIr::Address { uri, timeout_ms }) => (
            ctx.http_method(None),
            join_rest_postfix(uri, &postfix),
            *timeout_ms,
        ),
        Some(EndpointIr::Key(_)) | Some(EndpointIr::Default) | None => {
            let to = ctx.st.addressing.get("To").cloned().unwrap_or_default();
            (ctx.http_method(None), to, None)
        }
    };
    if url.trim().is_empty() {
        return Err(MediationError::new(
            ErrorKind::Fault,
            Origin::Internal,
            error_codes::ENDPOINT_NOT_READY,
            "the call has no endpoint address",
        ));
    }
    let timeout = timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(engine.limits.call_timeout);
    let target = safe_target(&url);
    let req = ctx.outbound(method, url, Some(timeout))?;
    let res = engine.invoker.invoke(req).await;
    if c.blocking {
        for h in [
            "content-type",
            "content-length",
            "transfer-encoding",
            "connection",
            "date",
        ] {
            ctx.headers.remove(h);
        }
    }
    match res {
        Ok(resp) => {
            if c.blocking {
                let ct = resp
                    .headers
                    .get(CONTENT_TYPE)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
                ctx.properties
                    .axis2
                    .insert("HTTP_SC".into(), Value::Integer(resp.status as i64));
                ctx.set_body_raw(resp.body, ct, true);
            } else {
                ctx.set_response(resp);
            }
            Ok(())
        }
        Err(e) => {
            if c.blocking {
                ctx.properties
                    .default
                    .insert("BLOCKING_SENDER_ERROR".into(), Value::String("true".into()));
            }
            Err(match e {
                // the first line is Synapse's ERROR_MESSAGE wording (its transport's), the
                // second names the target for ERROR_DETAIL
                InvokeError::Connect(_) => MediationError::new(
                    ErrorKind::ConnectFailed,
                    Origin::Upstream,
                    error_codes::CONNECTION_FAILED,
                    format!("Error connecting to the back end\nconnection to {target} failed"),
                ),
                InvokeError::Timeout => MediationError::new(
                    ErrorKind::Timeout,
                    Origin::Upstream,
                    error_codes::TIMEOUT,
                    format!(
                        "Error in Sender\n{target} did not answer within {} ms",
                        timeout.as_millis()
                    ),
                ),
                InvokeError::TooLarge => MediationError::new(
                    ErrorKind::BodyTooLarge,
                    Origin::Upstream,
                    error_codes::RECEIVE_FAILED,
                    format!("the response from {target} is too large"),
                ),
                InvokeError::Other(_) => MediationError::new(
                    ErrorKind::ConnectFailed,
                    Origin::Upstream,
                    error_codes::SEND_FAILED,
                    format!("Error in Sender\nsending to {target} failed"),
                ),
            })
        }
    }
}

// === log ===

fn log(engine: &Engine, l: &LogOp, ctx: &MessageContext, at: Span) -> Result<(), MediationError> {
    let mut parts: Vec<String> = Vec::new();
    let sep = l.separator.as_str();
    if let Some(m) = &l.message {
        parts.push(crate::variable::render(engine, ctx, m));
    }
    if !matches!(l.level, LogLevel::Custom) && l.message.is_none() {
        if let Some(to) = ctx.st.addressing.get("To") {
            parts.push(format!("To: {}", redact_text(to)));
        }
        if let Some(id) = ctx.st.addressing.get("MessageID") {
            parts.push(format!("MessageID: {id}"));
        }
        parts.push(format!(
            "Direction: {}",
            if ctx.response { "response" } else { "request" }
        ));
    }
    if matches!(l.level, LogLevel::Headers | LogLevel::Full) {
        for (k, v) in &ctx.headers {
            let v = String::from_utf8_lossy(v.as_bytes());
            parts.push(format!("{}: {}", k, redact_header_value(k.as_str(), &v)));
        }
    }
    for (name, src) in &l.props {
        let v = eval_src(engine, ctx, src)?;
        let s = value_string(&v).unwrap_or_else(|| "null".into());
        parts.push(format!("{name} = {}", redact_header_value(name, &s)));
    }
    if matches!(l.level, LogLevel::Full) {
        let body = match &ctx.payload {
            Payload::Empty => String::new(),
            Payload::Raw(b) => String::from_utf8_lossy(&b[..b.len().min(4096)]).into_owned(),
            other => {
                let mt = ctx
                    .axis2_string("messageType")
                    .unwrap_or_else(|| ctx.default_message_type().to_string());
                synaptic_payload::serialize(other, &mt)
                    .map(|(b, _)| String::from_utf8_lossy(&b[..b.len().min(4096)]).into_owned())
                    .unwrap_or_default()
            }
        };
        parts.push(format!("Payload: {}", redact_text(&body)));
    }
    let line = parts.join(sep);
    let level = match l.category.as_deref().map(|c| c.to_ascii_uppercase()) {
        Some(c) if c == "ERROR" || c == "FATAL" => {
            tracing::error!(target: "synaptic::log", "{line}");
            "ERROR"
        }
        Some(c) if c == "WARN" => {
            tracing::warn!(target: "synaptic::log", "{line}");
            "WARN"
        }
        Some(c) if c == "DEBUG" => {
            tracing::debug!(target: "synaptic::log", "{line}");
            "DEBUG"
        }
        Some(c) if c == "TRACE" => {
            tracing::trace!(target: "synaptic::log", "{line}");
            "TRACE"
        }
        _ => {
            tracing::info!(target: "synaptic::log", "{line}");
            "INFO"
        }
    };
    observe::log(ctx, level, at, &line);
    Ok(())
}
