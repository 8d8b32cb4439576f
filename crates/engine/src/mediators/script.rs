//! `<script language="js">`: JavaScript through QuickJS (the `rquickjs` crate, ADR 0410).
//!
//! The script sees the message through `mc`, the API of Synapse's GraalJS script message
//! context: `getPayloadJSON`/`setPayloadJSON`, `getPayloadXML`/`setPayloadXML` (XML as a
//! string), `getPayloadText`, `getEnvelopeXML`, `getProperty`/`setProperty`/`removeProperty`
//! (with a scope: `default`, `axis2`, `transport`, `operation`), `getVariable`/`setVariable`,
//! `addHeader`, `isResponse`, `isSOAP11`, `getMessageID`, and a minimal `getEnvelope()`.
//!
//! Scripts are checked once at load (a syntax error is `E0331` at its position in the file);
//! each run gets a fresh JavaScript context (no state is shared between messages) on a runtime
//! kept per thread (QuickJS runtimes are not `Send`), within `[limits] script_timeout` and
//! `script_memory`. The engine has no filesystem, network, module loader or timers.
//! An inline script's value `false` stops the mediation (Synapse's mediator returns false);
//! an exception, or a script over its time or memory budget, is a fault.
//!
//! Micro Integrator 4.4's form of a keyed script: `<inputs>` give the function arguments after
//! `mc` (typed as a `<variable>`'s value is; JSON values as JavaScript values, XML as its text)
//! and `target=` says where its return value goes: `body` (the JSON body), `variable`
//! (`target-variable=`) or `none`. With a target the mediation goes on whatever the function
//! returns; `undefined`/`null` for `body` or `variable` is a fault, as in Micro Integrator.

// The script budget is a watchdog over real CPU work inside QuickJS: it must follow the wall
// clock even when a test pauses tokio's time, so it reads `std::time::Instant`.
#![allow(clippy::disallowed_types)]

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::{Duration, Instant};

use rquickjs::context::EvalOptions;
use rquickjs::function::Opt;
use rquickjs::{Context, Ctx, Function, Object, Runtime};
use synaptic_diag::{codes, Span};
use synaptic_expr::synexpr::SynExpr;
use synaptic_expr::{CompiledExpr, Dialect, Value};
use synaptic_payload::{Envelope, Payload};
use synaptic_syntax::ast;

use super::variable::{self, ResolveError, VarSrc, VarType};
use crate::compiler::Compiler;
use crate::exec::Step;
use crate::{Engine, ErrorKind, Flow, MediationError, MessageContext};

/// Where a script's text comes from.
#[derive(Debug)]
enum Code {
    /// Inline, or a local entry: known (and checked) at load.
    Text(String),
    /// A registry resource, read when the message arrives.
    Registry(String),
}

#[derive(Debug)]
pub(crate) struct ScriptOp {
    main: Code,
    /// `function=` for a keyed script (`mediate` by default); `None` for an inline script.
    function: Option<String>,
    includes: Vec<Code>,
    /// How errors name the script.
    label: String,
    /// `target=` (a keyed script): where the function's return value goes.
    target: Option<Target>,
    /// `<inputs>`: the function's arguments after `mc`.
    inputs: Vec<Input>,
}

/// Where a keyed function's return value goes.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    Body,
    Variable(String),
    None,
}

impl Target {
    fn name(&self) -> &'static str {
        match self {
            Target::Body => "body",
            Target::Variable(_) => "variable",
            Target::None => "none",
        }
    }
}

/// An `<argument>`: its name, type and source.
#[derive(Debug)]
struct Input {
    name: String,
    ty: Option<VarType>,
    src: VarSrc,
}

/// Every classic expression of the arguments.
pub(crate) fn exprs(op: &ScriptOp, visit: &mut dyn FnMut(&CompiledExpr)) {
    for i in &op.inputs {
        if let VarSrc::XPath(e) = &i.src {
            visit(e);
        }
    }
}

/// Every Synapse Expression of the arguments.
pub(crate) fn syn_exprs<'a>(op: &'a ScriptOp, out: &mut Vec<&'a SynExpr>) {
    for i in &op.inputs {
        if let VarSrc::Syn(e) = &i.src {
            out.push(e);
        }
    }
}

/// Registry keys read when the message arrives (scripts no local entry holds).
pub(crate) fn registry_keys(op: &ScriptOp, keys: &mut BTreeSet<String>) {
    for c in std::iter::once(&op.main).chain(&op.includes) {
        if let Code::Registry(k) = c {
            keys.insert(k.clone());
        }
    }
}

/// A script kept as a local entry: the text itself, or the text of its XML element
/// (`<x><![CDATA[ … ]]></x>`, as Synapse reads an OM entry).
fn entry_text(text: &str) -> String {
    if text.trim_start().starts_with('<') {
        if let Ok(el) = synaptic_payload::xml::parse(text) {
            return el.string_value();
        }
    }
    text.to_string()
}

/// Compile a `<script>`: check the syntax of every script known at load.
pub(crate) fn compile(c: &mut Compiler<'_>, s: &ast::Script) -> Option<ScriptOp> {
    let mut ok = true;
    let mut keyed = |c: &mut Compiler<'_>, k: &synaptic_diag::Spanned<String>| -> Code {
        match c.local_entries.get(&k.value).cloned() {
            Some(text) => {
                let text = entry_text(&text);
                if let Err(e) = check_syntax(&text) {
                    ok = false;
                    c.err(
                        codes::E0331,
                        k.span,
                        format!(
                            "script `{}` does not compile: {} (line {}, column {})",
                            k.value, e.message, e.line, e.column
                        ),
                    );
                }
                Code::Text(text)
            }
            None => Code::Registry(k.value.clone()),
        }
    };
    let (main, function, label) = match &s.source {
        ast::ScriptSource::Inline {
            text,
            span,
            anchors,
        } => {
            if let Err(e) = check_syntax(text) {
                let at = position(text, *span, anchors, e.line, e.column);
                c.err(
                    codes::E0331,
                    at,
                    format!("the script does not compile: {}", e.message),
                );
                return None;
            }
            (Code::Text(text.clone()), None, "inline script".to_string())
        }
        ast::ScriptSource::Key(k) => {
            let main = keyed(c, k);
            let function = s
                .function
                .as_ref()
                .map(|f| f.value.clone())
                .unwrap_or_else(|| "mediate".to_string());
            (main, Some(function), format!("script `{}`", k.value))
        }
    };
    let includes = s.includes.iter().map(|k| keyed(c, k)).collect();
    let target = s.target.as_ref().map(|t| match t {
        ast::ScriptTarget::Body => Target::Body,
        ast::ScriptTarget::Variable(v) => Target::Variable(v.value.clone()),
        ast::ScriptTarget::None => Target::None,
    });
    let mut inputs = Vec::with_capacity(s.inputs.len());
    for a in &s.inputs {
        let mut diags = Vec::new();
        let typed = variable::compile_typed(&a.value, a.ty.as_ref(), &mut diags, &mut |e| {
            c.expr(e, Dialect::XPath)
        });
        c.diags.extend(diags);
        match typed {
            Some((ty, src)) => inputs.push(Input {
                name: a.name.value.clone(),
                ty,
                src,
            }),
            None => ok = false,
        }
    }
    ok.then_some(ScriptOp {
        main,
        function,
        includes,
        label,
        target,
        inputs,
    })
}

/// Where line `line`, column `column` (1-based) of an inline script is in the file.
fn position(text: &str, whole: Span, anchors: &[(u32, u32)], line: u32, column: u32) -> Span {
    let mut off = 0usize;
    for _ in 1..line.max(1) {
        match text[off..].find('\n') {
            Some(i) => off += i + 1,
            None => break,
        }
    }
    let rest = &text[off..];
    let col = rest
        .char_indices()
        .nth(column.saturating_sub(1) as usize)
        .map(|(i, _)| i)
        .unwrap_or(rest.len());
    let off = (off + col) as u32;
    match anchors.iter().rev().find(|(t, _)| *t <= off) {
        Some((t, f)) => {
            let start = f + (off - t);
            Span {
                source: whole.source,
                start,
                end: (start + 1).min(whole.end).max(start),
            }
        }
        None => whole,
    }
}

/// A script's error with its position (1-based; 0 when unknown).
#[derive(Debug)]
pub(crate) struct JsError {
    pub message: String,
    pub line: u32,
    pub column: u32,
}

const FILENAME: &str = "script";

/// The message and the position of a thrown value (`SyntaxError: … at script:3:7`).
fn js_error(ctx: &Ctx<'_>, shift_lines: u32) -> JsError {
    let v = ctx.catch();
    let (mut message, stack) = match v
        .as_object()
        .and_then(|o| rquickjs::Exception::from_object(o.clone()))
    {
        Some(e) => (
            e.message().unwrap_or_default(),
            e.stack().unwrap_or_default(),
        ),
        // QuickJS throws `null` when an allocation fails past the memory limit
        None if v.is_null() => (
            "out of memory (the script's memory budget is spent), or `throw null`".to_string(),
            String::new(),
        ),
        None => (
            v.as_string()
                .and_then(|s| s.to_string().ok())
                .or_else(|| {
                    ctx.json_stringify(v.clone())
                        .ok()
                        .flatten()
                        .and_then(|s| s.to_string().ok())
                })
                .unwrap_or_else(|| "an exception".to_string()),
            String::new(),
        ),
    };
    if message.is_empty() {
        message = "uncaught exception".into();
    }
    let (mut line, mut column): (u32, u32) = (0, 0);
    let pat = format!("{FILENAME}:");
    if let Some(i) = stack.find(&pat) {
        let mut parts = stack[i + pat.len()..].splitn(3, |c: char| !c.is_ascii_digit());
        line = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        column = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    }
    JsError {
        message,
        line: line.saturating_sub(shift_lines),
        column,
    }
}

fn eval_opts() -> EvalOptions {
    let mut o = EvalOptions::default();
    o.global = true;
    o.strict = false;
    o.filename = Some(FILENAME.to_string());
    o
}

/// Compile a script without running it (the body of a function that is never called; the
/// function's first line is its own, so lines and columns are the script's).
pub(crate) fn check_syntax(text: &str) -> Result<(), JsError> {
    with_runtime(DEFAULT_MEMORY, |rt| {
        let ctx = Context::full(rt).map_err(|e| JsError {
            message: e.to_string(),
            line: 0,
            column: 0,
        })?;
        ctx.with(|ctx| {
            let wrapped = format!("(function(){{\n{text}\n}})");
            match ctx.eval_with_options::<rquickjs::Value, _>(wrapped, eval_opts()) {
                Ok(_) => Ok(()),
                Err(rquickjs::Error::Exception) => Err(js_error(&ctx, 1)),
                Err(e) => Err(JsError {
                    message: e.to_string(),
                    line: 0,
                    column: 0,
                }),
            }
        })
    })
}

const DEFAULT_MEMORY: usize = 16 << 20;

thread_local! {
    /// This thread's QuickJS runtime (runtimes are not `Send`; each run gets its own context).
    static RUNTIME: RefCell<Option<Runtime>> = const { RefCell::new(None) };
    /// When the script running on this thread must stop.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

fn with_runtime<R>(
    memory: usize,
    f: impl FnOnce(&Runtime) -> Result<R, JsError>,
) -> Result<R, JsError> {
    RUNTIME.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let rt = Runtime::new().map_err(|e| JsError {
                message: e.to_string(),
                line: 0,
                column: 0,
            })?;
            rt.set_max_stack_size(256 * 1024);
            rt.set_interrupt_handler(Some(Box::new(|| {
                DEADLINE.with(|d| d.get().is_some_and(|t| Instant::now() >= t))
            })));
            *slot = Some(rt);
        }
        let rt = slot.as_ref().expect("runtime just made");
        rt.set_memory_limit(memory);
        let r = f(rt);
        rt.run_gc();
        r
    })
}

/// What the script sees of the message, and what it changed.
#[derive(Default)]
struct State {
    json: Option<String>,
    xml: Option<String>,
    envelope: String,
    soap11: bool,
    response: bool,
    message_id: String,
    props: BTreeMap<String, Value>,
    axis2: BTreeMap<String, Value>,
    operation: BTreeMap<String, Value>,
    transport: BTreeMap<String, Value>,
    variables: BTreeMap<String, Value>,
    changes: Vec<Change>,
}

enum Change {
    Set(&'static str, String, Value),
    Remove(&'static str, String),
    Json(String),
    Xml(String),
    Header(bool, String),
}

fn scope_name(s: Option<&str>) -> Option<&'static str> {
    match s.map(str::trim).unwrap_or("default") {
        "" | "default" => Some("default"),
        "axis2" => Some("axis2"),
        "transport" => Some("transport"),
        "operation" => Some("operation"),
        "variable" => Some("variable"),
        _ => None,
    }
}

/// A scope's properties as the script's own map (it may set and remove any of them).
fn owned(m: &crate::PropMap) -> BTreeMap<String, Value> {
    m.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

impl State {
    fn map(&mut self, scope: &str) -> &mut BTreeMap<String, Value> {
        match scope {
            "axis2" => &mut self.axis2,
            "transport" => &mut self.transport,
            "operation" => &mut self.operation,
            "variable" => &mut self.variables,
            _ => &mut self.props,
        }
    }
}

/// A property value as JSON the prelude turns into a JavaScript value.
fn to_js_json(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::String(s) | Value::Xml(s) => serde_json::Value::String(s.clone()).to_string(),
        Value::Number(n) => serde_json::Number::from_f64(*n)
            .map(|n| n.to_string())
            .unwrap_or_else(|| "null".into()),
        Value::Integer(i) => i.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Json(j) => j.to_string(),
    }
}

/// A value the script set (tagged by the prelude: `["s", text]`, `["n", 1]`, `["b", true]`,
/// `["j", {…}]`, `["z"]`) as a property value. A string that is an XML element becomes XML, as
/// Synapse stores it as an OM element.
fn from_js_json(tagged: &str) -> Value {
    let v: serde_json::Value = serde_json::from_str(tagged).unwrap_or(serde_json::Value::Null);
    let tag = v.get(0).and_then(|t| t.as_str()).unwrap_or("z");
    let x = v.get(1).cloned().unwrap_or(serde_json::Value::Null);
    match (tag, x) {
        ("s", serde_json::Value::String(s)) => {
            if s.trim_start().starts_with('<') && synaptic_payload::xml::parse(&s).is_ok() {
                Value::Xml(s)
            } else {
                Value::String(s)
            }
        }
        ("n", serde_json::Value::Number(n)) => match n.as_i64() {
            Some(i) if i32::try_from(i).is_ok() => Value::Integer(i),
            _ => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        },
        ("b", serde_json::Value::Bool(b)) => Value::Boolean(b),
        ("j", j) => Value::Json(j),
        _ => Value::Null,
    }
}

/// The `mc` object, over the native functions of `n`.
const PRELUDE: &str = r#"(function (n) {
  var tag = function (v) {
    if (v === null || v === undefined) return JSON.stringify(["z"]);
    var t = typeof v;
    if (t === "string") return JSON.stringify(["s", v]);
    if (t === "number") return JSON.stringify(["n", v]);
    if (t === "boolean") return JSON.stringify(["b", v]);
    if (v instanceof String) return JSON.stringify(["s", String(v)]);
    return JSON.stringify(["j", v]);
  };
  var untag = function (s) { return s === undefined || s === null ? null : JSON.parse(s); };
  var json, has = false;
  var mc = {
    getPayloadJSON: function () {
      if (!has) { var t = n.jsonText(); json = t === undefined || t === null ? {} : JSON.parse(t); has = true; }
      return json;
    },
    setPayloadJSON: function (v) {
      var t = typeof v === "string" ? v : JSON.stringify(v);
      n.setJson(t); json = JSON.parse(t); has = true;
    },
    getJsonText: function () { var t = n.jsonText(); return t === undefined || t === null ? "{}" : t; },
    getPayloadXML: function () { var x = n.xml(); return x === undefined ? null : x; },
    setPayloadXML: function (x) { n.setXml(String(x)); },
    getPayloadText: function () { var t = n.jsonText(); return t === undefined || t === null ? n.envelope() : t; },
    getEnvelopeXML: function () { return n.envelope(); },
    getProperty: function (k, s) { return untag(n.getProperty(String(k), s === undefined ? "default" : String(s))); },
    setProperty: function (k, v, s) { n.setProperty(String(k), tag(v), s === undefined ? "default" : String(s)); },
    removeProperty: function (k, s) { n.removeProperty(String(k), s === undefined ? "default" : String(s)); },
    getVariable: function (k) { return untag(n.getProperty(String(k), "variable")); },
    setVariable: function (k, v) { n.setProperty(String(k), tag(v), "variable"); },
    addHeader: function (mu, x) { n.addHeader(!!mu, String(x)); },
    isResponse: function () { return n.isResponse(); },
    isSOAP11: function () { return n.isSoap11(); },
    getMessageID: function () { return n.messageId(); },
    getEnvelope: function () {
      return {
        toString: function () { return n.envelope(); },
        getBody: function () {
          return {
            toString: function () { return n.envelope(); },
            getFirstElement: function () {
              return {
                toString: function () { var x = n.xml(); return x === undefined ? "" : x; },
                getText: function () { return n.firstText(); },
                setText: function (t) { n.setFirstText(String(t)); }
              };
            }
          };
        }
      };
    }
  };
  return mc;
})"#;

/// Everything a run needs, copied out of the message context (the script cannot touch the
/// context itself: its values live in the JavaScript heap).
fn snapshot(ctx: &MessageContext) -> State {
    let (json, xml, envelope, soap11) = match &ctx.payload {
        Payload::Json(j) => {
            let el = synaptic_payload::json_xml::json_to_xml(j);
            let env = Envelope::pox(el.clone());
            (
                Some(j.to_string()),
                Some(el.to_xml()),
                env.to_xml_as(synaptic_payload::SoapVersion::Soap11),
                true,
            )
        }
        Payload::Xml(env) => (
            None,
            env.first_body_element().map(|e| e.to_xml()),
            env.to_xml_as(env.version),
            env.version != synaptic_payload::SoapVersion::Soap12,
        ),
        Payload::Text(t) => {
            let mut el = synaptic_payload::xml::Element::new(synaptic_payload::xml::QName::new(
                "http://ws.apache.org/commons/ns/payload",
                "axis2ns",
                "text",
            ));
            el.children
                .push(synaptic_payload::xml::Node::Text(t.clone()));
            let env = Envelope::pox(el.clone());
            (
                None,
                Some(el.to_xml()),
                env.to_xml_as(synaptic_payload::SoapVersion::Soap11),
                true,
            )
        }
        _ => (
            None,
            None,
            Envelope::empty().to_xml_as(synaptic_payload::SoapVersion::Soap11),
            true,
        ),
    };
    let transport = ctx
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()),
            )
        })
        .collect();
    State {
        json,
        xml,
        envelope,
        soap11,
        response: ctx.response,
        message_id: ctx
            .st
            .addressing
            .get("MessageID")
            .cloned()
            .unwrap_or_default(),
        props: owned(&ctx.properties.default),
        axis2: owned(&ctx.properties.axis2),
        operation: owned(&ctx.properties.operation),
        transport,
        variables: ctx
            .st
            .variables
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        changes: Vec::new(),
    }
}

type St = Rc<RefCell<State>>;

/// The native half of `mc`.
fn natives<'js>(ctx: &Ctx<'js>, st: &St) -> rquickjs::Result<Object<'js>> {
    let n = Object::new(ctx.clone())?;
    let s = st.clone();
    n.set(
        "jsonText",
        Function::new(ctx.clone(), move || s.borrow().json.clone())?,
    )?;
    let s = st.clone();
    n.set(
        "setJson",
        Function::new(ctx.clone(), move |t: String| {
            let mut st = s.borrow_mut();
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&t) {
                st.xml = Some(synaptic_payload::json_xml::json_to_xml(&v).to_xml());
            }
            st.json = Some(t.clone());
            st.changes.push(Change::Json(t));
        })?,
    )?;
    let s = st.clone();
    n.set(
        "xml",
        Function::new(ctx.clone(), move || s.borrow().xml.clone())?,
    )?;
    let s = st.clone();
    n.set(
        "setXml",
        Function::new(ctx.clone(), move |cx: Ctx<'_>, x: String| {
            if synaptic_payload::xml::parse(x.trim()).is_err() {
                return Err(rquickjs::Exception::throw_type(
                    &cx,
                    "setPayloadXML: the text is not an XML element",
                ));
            }
            let mut st = s.borrow_mut();
            st.xml = Some(x.trim().to_string());
            st.changes.push(Change::Xml(x));
            Ok(())
        })?,
    )?;
    let s = st.clone();
    n.set(
        "envelope",
        Function::new(ctx.clone(), move || s.borrow().envelope.clone())?,
    )?;
    let s = st.clone();
    n.set(
        "getProperty",
        Function::new(ctx.clone(), move |k: String, scope: Opt<String>| {
            let mut st = s.borrow_mut();
            let sc = scope_name(scope.0.as_deref())?;
            let v = if sc == "transport" {
                let k = k.to_ascii_lowercase();
                st.transport.get(&k).cloned()
            } else {
                st.map(sc).get(&k).cloned()
            };
            v.map(|v| to_js_json(&v))
        })?,
    )?;
    let s = st.clone();
    n.set(
        "setProperty",
        Function::new(
            ctx.clone(),
            move |k: String, v: String, scope: Opt<String>| {
                let mut st = s.borrow_mut();
                let Some(sc) = scope_name(scope.0.as_deref()) else {
                    return;
                };
                let v = from_js_json(&v);
                let key = if sc == "transport" {
                    k.to_ascii_lowercase()
                } else {
                    k.clone()
                };
                st.map(sc).insert(key, v.clone());
                st.changes.push(Change::Set(sc, k, v));
            },
        )?,
    )?;
    let s = st.clone();
    n.set(
        "removeProperty",
        Function::new(ctx.clone(), move |k: String, scope: Opt<String>| {
            let mut st = s.borrow_mut();
            let Some(sc) = scope_name(scope.0.as_deref()) else {
                return;
            };
            let key = if sc == "transport" {
                k.to_ascii_lowercase()
            } else {
                k.clone()
            };
            st.map(sc).remove(&key);
            st.changes.push(Change::Remove(sc, k));
        })?,
    )?;
    let s = st.clone();
    n.set(
        "addHeader",
        Function::new(ctx.clone(), move |cx: Ctx<'_>, mu: bool, x: String| {
            if synaptic_payload::xml::parse(x.trim()).is_err() {
                return Err(rquickjs::Exception::throw_type(
                    &cx,
                    "addHeader: the text is not an XML element",
                ));
            }
            s.borrow_mut().changes.push(Change::Header(mu, x));
            Ok(())
        })?,
    )?;
    let s = st.clone();
    n.set(
        "isResponse",
        Function::new(ctx.clone(), move || s.borrow().response)?,
    )?;
    let s = st.clone();
    n.set(
        "isSoap11",
        Function::new(ctx.clone(), move || s.borrow().soap11)?,
    )?;
    let s = st.clone();
    n.set(
        "messageId",
        Function::new(ctx.clone(), move || s.borrow().message_id.clone())?,
    )?;
    let s = st.clone();
    n.set(
        "firstText",
        Function::new(ctx.clone(), move || {
            let st = s.borrow();
            st.xml
                .as_deref()
                .and_then(|x| synaptic_payload::xml::parse(x).ok())
                .map(|e| e.string_value())
                .unwrap_or_default()
        })?,
    )?;
    let s = st.clone();
    n.set(
        "setFirstText",
        Function::new(ctx.clone(), move |t: String| {
            let mut st = s.borrow_mut();
            if let Some(mut el) = st
                .xml
                .as_deref()
                .and_then(|x| synaptic_payload::xml::parse(x).ok())
            {
                el.children = vec![synaptic_payload::xml::Node::Text(t)];
                let x = el.to_xml();
                st.xml = Some(x.clone());
                st.changes.push(Change::Xml(x));
            }
        })?,
    )?;
    Ok(n)
}

/// `print(…)` and `console.log(…)`: a log line (target `synaptic::script`).
fn install_print(ctx: &Ctx<'_>) -> rquickjs::Result<()> {
    let print = Function::new(ctx.clone(), |args: rquickjs::function::Rest<String>| {
        let line = args.0.join(" ");
        tracing::info!(target: "synaptic::script", "{}", synaptic_logsafe::escape(&line));
    })?;
    let console = Object::new(ctx.clone())?;
    console.set("log", print.clone())?;
    console.set("info", print.clone())?;
    console.set("error", print.clone())?;
    console.set("warn", print.clone())?;
    ctx.globals().set("print", print)?;
    ctx.globals().set("console", console)?;
    Ok(())
}

/// How a run ended.
#[derive(Debug)]
enum Outcome {
    Continue,
    Stop,
    /// The function's return value (a script with a target); `Null` for `undefined`/`null`.
    Returned(Value),
}

enum RunError {
    Js(JsError),
    Timeout,
}

/// Run the script on a snapshot of the message: its changes are in the state afterwards.
#[cfg(test)]
fn execute(
    op: &ScriptOp,
    texts: &[String],
    main: &str,
    st: &St,
    budget: Duration,
    memory: usize,
) -> Result<Outcome, RunError> {
    execute_with(op, texts, main, &[], st, budget, memory)
}

/// A function's return value as a message value: numbers as Micro Integrator's script engine
/// hands them over (a whole number in the `int` range as an integer, others as doubles),
/// objects and arrays as JSON. `Err` for a value JSON cannot hold (a function, a symbol).
fn returned<'js>(ctx: &Ctx<'js>, v: rquickjs::Value<'js>) -> rquickjs::Result<Option<Value>> {
    if v.is_undefined() || v.is_null() {
        return Ok(Some(Value::Null));
    }
    if let Some(b) = v.as_bool() {
        return Ok(Some(Value::Boolean(b)));
    }
    if let Some(i) = v.as_int() {
        return Ok(Some(Value::Integer(i as i64)));
    }
    if let Some(f) = v.as_float() {
        let whole = f.fract() == 0.0 && f >= i32::MIN as f64 && f <= i32::MAX as f64;
        return Ok(Some(if whole {
            Value::Integer(f as i64)
        } else {
            Value::Number(f)
        }));
    }
    if let Some(s) = v.as_string() {
        return Ok(Some(Value::String(s.to_string()?)));
    }
    if v.is_function() || v.is_symbol() {
        return Ok(None);
    }
    Ok(match ctx.json_stringify(v)? {
        Some(t) => serde_json::from_str(&t.to_string()?).ok().map(Value::Json),
        None => None,
    })
}

/// [`execute`] with the function's arguments after `mc` (each as JSON text).
fn execute_with(
    op: &ScriptOp,
    texts: &[String],
    main: &str,
    args: &[String],
    st: &St,
    budget: Duration,
    memory: usize,
) -> Result<Outcome, RunError> {
    let deadline = Instant::now() + budget;
    DEADLINE.with(|d| d.set(Some(deadline)));
    let r = with_runtime(memory, |rt| {
        let context = Context::full(rt).map_err(|e| JsError {
            message: e.to_string(),
            line: 0,
            column: 0,
        })?;
        context.with(|ctx| {
            let run = || -> rquickjs::Result<Outcome> {
                install_print(&ctx)?;
                let n = natives(&ctx, st)?;
                let make: Function = ctx.eval(PRELUDE)?;
                let mc: Object = make.call((n,))?;
                ctx.globals().set("mc", mc.clone())?;
                for t in texts {
                    ctx.eval_with_options::<(), _>(t.as_str(), eval_opts())?;
                }
                let v: rquickjs::Value = match &op.function {
                    None => ctx.eval_with_options(main, eval_opts())?,
                    Some(f) => {
                        ctx.eval_with_options::<(), _>(main, eval_opts())?;
                        let func: rquickjs::Value = ctx.globals().get(f.as_str())?;
                        let Some(func) = func.as_function() else {
                            return Err(rquickjs::Exception::throw_reference(
                                &ctx,
                                &format!("no function `{f}` in the script"),
                            ));
                        };
                        let mut call = rquickjs::function::Args::new(ctx.clone(), 1 + args.len());
                        call.push_arg(mc)?;
                        for a in args {
                            call.push_arg(ctx.json_parse(a.as_str())?)?;
                        }
                        func.call_arg(call)?
                    }
                };
                if op.target.is_some() {
                    return match returned(&ctx, v)? {
                        Some(v) => Ok(Outcome::Returned(v)),
                        None => Err(rquickjs::Exception::throw_type(
                            &ctx,
                            "Return object type is not supported. Supported types are String, \
                             Boolean, Integer, Long, Double, JSON",
                        )),
                    };
                }
                Ok(if v.as_bool() == Some(false) {
                    Outcome::Stop
                } else {
                    Outcome::Continue
                })
            };
            match run() {
                Ok(o) => Ok(o),
                Err(rquickjs::Error::Exception) => Err(js_error(&ctx, 0)),
                Err(e) => Err(JsError {
                    message: e.to_string(),
                    line: 0,
                    column: 0,
                }),
            }
        })
    });
    DEADLINE.with(|d| d.set(None));
    match r {
        Ok(o) => Ok(o),
        Err(_) if Instant::now() >= deadline => Err(RunError::Timeout),
        Err(e) => Err(RunError::Js(e)),
    }
}

fn text_of(c: &Code, ctx: &MessageContext) -> Result<String, String> {
    match c {
        Code::Text(t) => Ok(t.clone()),
        Code::Registry(k) => ctx
            .registry_value(k)
            .map(|t| entry_text(&t))
            .ok_or_else(|| format!("no script under the key `{k}`")),
    }
}

/// Run the script, then apply what it changed to the message.
pub(crate) fn run(
    engine: &Engine,
    op: &ScriptOp,
    ctx: &mut MessageContext,
    at: Span,
) -> Result<Step, MediationError> {
    let fault = |m: String| MediationError::internal(ErrorKind::Expression, m).at(at);
    let main = text_of(&op.main, ctx).map_err(fault)?;
    let includes = op
        .includes
        .iter()
        .map(|c| text_of(c, ctx))
        .collect::<Result<Vec<_>, _>>()
        .map_err(fault)?;
    ctx.ensure_built()?;
    let mut args = Vec::with_capacity(op.inputs.len());
    for i in &op.inputs {
        let v = variable::resolve(engine, ctx, i.ty, &i.src).map_err(|e| match e {
            ResolveError::Mediation(e) => e,
            ResolveError::Type(msg) => MediationError::internal(
                ErrorKind::Conversion,
                format!("script argument `{}`: {msg}", i.name),
            )
            .at(at),
        })?;
        args.push(to_js_json(&v));
    }
    let st: St = Rc::new(RefCell::new(snapshot(ctx)));
    let budget = engine.limits.script_timeout;
    let outcome = execute_with(
        op,
        &includes,
        &main,
        &args,
        &st,
        budget,
        engine.limits.script_memory,
    );
    let outcome = match outcome {
        Ok(o) => o,
        Err(RunError::Timeout) => {
            return Err(MediationError::internal(
                ErrorKind::Limit,
                format!(
                    "the {} ran longer than its budget of {} ms and was stopped",
                    op.label,
                    budget.as_millis()
                ),
            )
            .at(at))
        }
        Err(RunError::Js(e)) => {
            let pos = if e.line > 0 {
                format!(" (line {}, column {})", e.line, e.column)
            } else {
                String::new()
            };
            return Err(fault(format!(
                "The script engine returned an error executing the {}{}: {}{}",
                op.label,
                op.function
                    .as_deref()
                    .map(|f| format!(" function {f}"))
                    .unwrap_or_default(),
                e.message,
                pos
            )));
        }
    };
    let changes = std::mem::take(&mut st.borrow_mut().changes);
    apply(ctx, changes)?;
    Ok(match outcome {
        Outcome::Continue => Step::Next,
        Outcome::Stop => Step::End(Flow::Drop),
        Outcome::Returned(v) => {
            if let Some(t) = &op.target {
                set_result(ctx, t, v).map_err(|e| e.at(at))?;
            }
            Step::Next
        }
    })
}

/// The function's return value to its target, as Micro Integrator's `setResultTarget` puts
/// it: the body gets the value's text read as JSON (a string is JSON text, other values their
/// JSON), a variable the value itself; `none` drops it.
fn set_result(ctx: &mut MessageContext, target: &Target, v: Value) -> Result<(), MediationError> {
    if *target == Target::None {
        return Ok(());
    }
    if v == Value::Null {
        return Err(MediationError::internal(
            ErrorKind::Expression,
            format!(
                "Return object is null. Cannot set null object to the target : {}",
                target.name()
            ),
        ));
    }
    match target {
        Target::Body => {
            let json = match v {
                Value::String(s) | Value::Xml(s) => {
                    serde_json::from_str(s.trim()).map_err(|e| {
                        MediationError::internal(
                            ErrorKind::BadBody,
                            format!(
                            "the script's result is not JSON text, so it cannot be the body: {e}"
                        ),
                        )
                    })?
                }
                Value::Json(j) => j,
                Value::Integer(i) => serde_json::Value::from(i),
                Value::Number(n) => serde_json::Number::from_f64(n)
                    .map(serde_json::Value::Number)
                    .unwrap_or(serde_json::Value::Null),
                Value::Boolean(b) => serde_json::Value::Bool(b),
                Value::Null => serde_json::Value::Null,
            };
            let ct = ctx
                .content_type
                .clone()
                .or_else(|| Some("application/json".into()));
            ctx.set_payload(Payload::Json(json), ct);
        }
        Target::Variable(name) => {
            ctx.st.variables.insert(name.clone(), v);
        }
        Target::None => {}
    }
    Ok(())
}

fn apply(ctx: &mut MessageContext, changes: Vec<Change>) -> Result<(), MediationError> {
    for c in changes {
        match c {
            Change::Set(scope, k, v) => match scope {
                "axis2" => {
                    if k == "messageType" {
                        if let Some(s) = crate::convert::value_string(&v) {
                            ctx.set_message_type(&s);
                        }
                    }
                    ctx.properties.axis2.insert(k, v);
                }
                "operation" => {
                    ctx.properties.operation.insert(k, v);
                }
                "transport" => {
                    let s = crate::convert::value_string(&v).unwrap_or_default();
                    if let (Ok(n), Ok(v)) = (
                        http::HeaderName::from_bytes(k.as_bytes()),
                        http::HeaderValue::from_str(&s),
                    ) {
                        ctx.headers.insert(n, v);
                    }
                }
                "variable" => {
                    ctx.st.variables.insert(k, v);
                }
                _ => {
                    ctx.properties.default.insert(k, v);
                }
            },
            Change::Remove(scope, k) => match scope {
                "axis2" => {
                    ctx.properties.axis2.remove(&k);
                }
                "operation" => {
                    ctx.properties.operation.remove(&k);
                }
                "transport" => {
                    if let Ok(n) = http::HeaderName::from_bytes(k.as_bytes()) {
                        ctx.headers.remove(n);
                    }
                }
                "variable" => {
                    ctx.st.variables.remove(&k);
                }
                _ => {
                    ctx.properties.default.remove(&k);
                }
            },
            Change::Json(t) => {
                let v: serde_json::Value = serde_json::from_str(&t).map_err(|e| {
                    MediationError::internal(
                        ErrorKind::BadBody,
                        format!("setPayloadJSON: not JSON: {e}"),
                    )
                })?;
                let ct = ctx
                    .content_type
                    .clone()
                    .or_else(|| Some("application/json".into()));
                ctx.set_payload(Payload::Json(v), ct);
            }
            Change::Xml(x) => {
                let el = synaptic_payload::xml::parse(x.trim()).map_err(|e| {
                    MediationError::internal(
                        ErrorKind::BadBody,
                        format!("setPayloadXML: malformed XML: {e}"),
                    )
                })?;
                let ct = ctx.content_type.clone();
                let env = match std::mem::replace(&mut ctx.payload, Payload::Empty) {
                    Payload::Xml(mut env) => {
                        if env.body.is_empty() {
                            env.body.push(el);
                        } else {
                            env.body[0] = el;
                        }
                        env
                    }
                    _ => Envelope::pox(el),
                };
                ctx.set_payload(
                    Payload::Xml(env),
                    ct.or_else(|| Some("application/xml".into())),
                );
            }
            Change::Header(mu, x) => {
                let Ok(mut el) = synaptic_payload::xml::parse(x.trim()) else {
                    continue;
                };
                let Payload::Xml(env) = &mut ctx.payload else {
                    continue;
                };
                if mu {
                    let ns = env.namespace();
                    el.attributes.push(synaptic_payload::xml::Attribute {
                        name: synaptic_payload::xml::QName::new(ns, "soapenv", "mustUnderstand"),
                        value: if ns == synaptic_payload::SOAP12_NS {
                            "true"
                        } else {
                            "1"
                        }
                        .to_string(),
                    });
                    el.namespaces.push(("soapenv".into(), ns.into()));
                }
                env.header.push(el);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_syntax_error_has_its_line_and_column() {
        let e = check_syntax("var a = 1;\nvar b = ;\n").unwrap_err();
        assert_eq!(e.line, 2, "{e:?}");
        assert!(e.column >= 9, "{e:?}");
        assert!(check_syntax("var a = 1; mc.getPayloadJSON();").is_ok());
    }

    #[test]
    fn a_position_maps_into_a_cdata_section() {
        // `<script><![CDATA[x\ny = ;]]></script>`: the text starts at byte 17
        let text = "x\ny = ;";
        let span = Span {
            source: synaptic_diag::SourceId(0),
            start: 0,
            end: 40,
        };
        let at = position(text, span, &[(0, 17)], 2, 5);
        assert_eq!(at.start, 17 + 2 + 4);
    }

    fn st_json(json: &str) -> St {
        Rc::new(RefCell::new(State {
            json: Some(json.to_string()),
            ..Default::default()
        }))
    }

    fn op_inline() -> ScriptOp {
        ScriptOp {
            main: Code::Text(String::new()),
            function: None,
            includes: Vec::new(),
            label: "inline script".into(),
            target: None,
            inputs: Vec::new(),
        }
    }

    #[test]
    fn a_loop_is_stopped_at_its_budget() {
        let st = st_json("{}");
        let t0 = Instant::now();
        let r = execute(
            &op_inline(),
            &[],
            "while (true) {}",
            &st,
            Duration::from_millis(50),
            DEFAULT_MEMORY,
        );
        assert!(matches!(r, Err(RunError::Timeout)));
        assert!(t0.elapsed() < Duration::from_secs(2));
        // the runtime is usable afterwards
        let r = execute(
            &op_inline(),
            &[],
            "1",
            &st,
            Duration::from_millis(50),
            DEFAULT_MEMORY,
        );
        assert!(matches!(r, Ok(Outcome::Continue)));
    }

    #[test]
    fn memory_is_bounded() {
        let st = st_json("{}");
        let r = execute(
            &op_inline(),
            &[],
            "var a = []; while (true) { a.push('xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' + a.length); }",
            &st,
            Duration::from_secs(20),
            4 << 20,
        );
        match r {
            Err(RunError::Js(e)) => assert!(e.message.contains("memory"), "{}", e.message),
            _ => panic!("expected an out-of-memory error"),
        }
    }

    #[test]
    fn no_state_is_shared_between_runs_and_no_host_access() {
        let st = st_json("{}");
        let budget = Duration::from_millis(100);
        assert!(matches!(
            execute(
                &op_inline(),
                &[],
                "var leaked = 1;",
                &st,
                budget,
                DEFAULT_MEMORY
            ),
            Ok(Outcome::Continue)
        ));
        // a second run does not see the first one's global
        let r = execute(
            &op_inline(),
            &[],
            "typeof leaked === 'undefined'",
            &st,
            budget,
            DEFAULT_MEMORY,
        );
        assert!(matches!(r, Ok(Outcome::Continue)));
        let r = execute(
            &op_inline(),
            &[],
            "typeof leaked !== 'undefined'",
            &st,
            budget,
            DEFAULT_MEMORY,
        );
        assert!(matches!(r, Ok(Outcome::Stop)));
        // no std/os modules, no require, no fetch
        let probe = "typeof require === 'undefined' && typeof std === 'undefined' && \
                     typeof os === 'undefined' && typeof fetch === 'undefined' && \
                     typeof XMLHttpRequest === 'undefined'";
        let r = execute(&op_inline(), &[], probe, &st, budget, DEFAULT_MEMORY);
        assert!(matches!(r, Ok(Outcome::Continue)), "{probe}");
        let r = execute(
            &op_inline(),
            &[],
            "import('os')",
            &st,
            budget,
            DEFAULT_MEMORY,
        );
        // a dynamic import has no loader: it never resolves to a module
        assert!(!matches!(r, Err(RunError::Timeout)));
    }

    #[test]
    fn the_json_payload_round_trips_through_mc() {
        let st = st_json(r#"{"results":[{"name":"a","id":"1"},{"name":"b","id":"2"}]}"#);
        let script = "var p = mc.getPayloadJSON(); var r = []; \
                      for (var i = 0; i < p.results.length; i++) { r.push({n: p.results[i].name, id: 'ID:' + p.results[i].id}); } \
                      mc.setPayloadJSON(r); mc.setProperty('count', r.length); mc.setProperty('x', '<a>1</a>');";
        let r = execute(
            &op_inline(),
            &[],
            script,
            &st,
            Duration::from_millis(200),
            DEFAULT_MEMORY,
        );
        assert!(matches!(r, Ok(Outcome::Continue)));
        let s = st.borrow();
        assert_eq!(
            s.json.as_deref(),
            Some(r#"[{"n":"a","id":"ID:1"},{"n":"b","id":"ID:2"}]"#)
        );
        assert_eq!(s.props.get("count"), Some(&Value::Integer(2)));
        assert_eq!(s.props.get("x"), Some(&Value::Xml("<a>1</a>".into())));
    }
}
