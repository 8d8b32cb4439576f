//! `<log>`: one log line (level simple, headers, full or custom; properties; a `<message>` with
//! `${…}`), credentials redacted, at the category's level; also seen by the mediation observer.

use crate::compiler::Compiler;
use crate::convert::value_string;
use crate::eval::eval_src;
use crate::ir::ValueSrc;
use crate::observe;
use crate::redact::{redact_header_value, redact_text};
use crate::{Engine, MediationError, MessageContext};
use synaptic_diag::Span;
use synaptic_expr::synexpr::SynExpr;
use synaptic_expr::{CompiledExpr, Dialect, Value};
use synaptic_payload::Payload;
use synaptic_syntax::ast;

#[derive(Debug)]
pub(crate) enum LogLevel {
    Simple,
    Headers,
    Full,
    Custom,
}

#[derive(Debug)]
pub(crate) struct LogOp {
    pub level: LogLevel,
    pub category: Option<String>,
    pub separator: String,
    pub props: Vec<(String, ValueSrc)>,
    /// `<message>` with `${…}` inside.
    pub message: Option<synaptic_expr::synexpr::Template>,
}

impl Compiler<'_> {
    pub(crate) fn log(&mut self, l: &ast::Log) -> Option<LogOp> {
        let level = match l.level {
            ast::LogLevel::Simple => LogLevel::Simple,
            ast::LogLevel::Headers => LogLevel::Headers,
            ast::LogLevel::Full => LogLevel::Full,
            ast::LogLevel::Custom => LogLevel::Custom,
        };
        let mut props = Vec::new();
        let mut ok = true;
        for p in &l.properties {
            let v = match &p.value {
                ast::PropertyValue::Literal(s) => ValueSrc::Literal(Value::String(s.value.clone())),
                ast::PropertyValue::Expression(e) if crate::eval::is_syn(e) => {
                    match crate::eval::compile_syn(e, &mut self.diags) {
                        Some(x) => ValueSrc::Syn(x),
                        None => {
                            ok = false;
                            continue;
                        }
                    }
                }
                ast::PropertyValue::Expression(e) => match self.expr(e, Dialect::XPath) {
                    Some(c) => ValueSrc::Expr(c),
                    None => {
                        ok = false;
                        continue;
                    }
                },
                ast::PropertyValue::Inline(s) => ValueSrc::Literal(Value::Xml(s.value.clone())),
                ast::PropertyValue::None => ValueSrc::None,
            };
            props.push((p.name.value.clone(), v));
        }
        let message = match &l.message {
            Some(m) => match crate::eval::compile_template(m, &mut self.diags) {
                Some(t) => Some(t),
                None => return None,
            },
            None => None,
        };
        ok.then_some(LogOp {
            level,
            category: l.category.clone(),
            separator: l.separator.clone().unwrap_or_else(|| ",".into()),
            props,
            message,
        })
    }
}

pub(crate) fn log(
    engine: &Engine,
    l: &LogOp,
    ctx: &MessageContext,
    at: Span,
) -> Result<(), MediationError> {
    let mut parts: Vec<String> = Vec::new();
    let sep = l.separator.as_str();
    if let Some(m) = &l.message {
        parts.push(crate::eval::render(engine, ctx, m));
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

pub(crate) fn exprs(l: &LogOp, visit: &mut dyn FnMut(&CompiledExpr)) {
    for (_, v) in &l.props {
        if let ValueSrc::Expr(e) = v {
            visit(e);
        }
    }
}

pub(crate) fn syn_exprs<'a>(l: &'a LogOp, out: &mut Vec<&'a SynExpr>) {
    for (_, v) in &l.props {
        if let ValueSrc::Syn(e) = v {
            out.push(e);
        }
    }
    out.extend(l.message.iter().flat_map(|m| m.expressions()));
}
