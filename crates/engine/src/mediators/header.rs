//! `<header>`: set or remove a transport header, a WS-Addressing field, or a SOAP header block
//! (namespace-qualified, or written inline).

use crate::compiler::Compiler;
use crate::convert::{into_value_string, value_string};
use crate::eval::eval_src;
use crate::ir::ValueSrc;
use crate::{Engine, ErrorKind, MediationError, MessageContext};
use http::header::HeaderValue;
use synaptic_diag::{codes, Span};
use synaptic_expr::synexpr::SynExpr;
use synaptic_expr::{CompiledExpr, Dialect, Value};
use synaptic_payload::Payload;
use synaptic_syntax::ast;

pub(crate) const ADDRESSING: &[&str] = &[
    "To",
    "From",
    "Action",
    "FaultTo",
    "ReplyTo",
    "RelatesTo",
    "MessageID",
];

#[derive(Debug)]
pub(crate) enum HeaderTarget {
    Transport(http::HeaderName),
    /// WS-Addressing field (`To`, `Action`, …) of the SOAP header.
    Addressing(String),
    /// Header blocks written inline (`<header><m:block …/></header>`): added as they are, or
    /// with `action="remove"` every header block of their names removed.
    Embedded(Vec<synaptic_payload::Element>),
    /// A namespace-qualified SOAP header block.
    Soap {
        ns: String,
        prefix: String,
        local: String,
    },
}

#[derive(Debug)]
pub(crate) struct HeaderOp {
    pub target: HeaderTarget,
    pub remove: bool,
    pub value: ValueSrc,
}

impl Compiler<'_> {
    pub(crate) fn header(&mut self, h: &ast::Header, span: Span) -> Option<HeaderOp> {
        let remove = h.action == ast::PropertyAction::Remove;
        let target = match h.scope {
            ast::HeaderScope::Transport => {
                match http::HeaderName::from_bytes(h.name.value.as_bytes()) {
                    Ok(n) => HeaderTarget::Transport(n),
                    Err(_) => {
                        self.err(
                            codes::E0106,
                            h.name.span,
                            format!("`{}` is not a valid HTTP header name", h.name.value),
                        );
                        return None;
                    }
                }
            }
            ast::HeaderScope::Soap if h.name.value.is_empty() => {
                let ast::PropertyValue::Inline(x) = &h.value else {
                    self.err(codes::E0105, span, "header needs `name`");
                    return None;
                };
                match synaptic_payload::xml::parse(&x.value) {
                    Ok(el) => HeaderTarget::Embedded(vec![el]),
                    Err(e) => {
                        self.err(
                            codes::E0106,
                            x.span,
                            format!("the embedded header block is not well-formed XML: {e}"),
                        );
                        return None;
                    }
                }
            }
            ast::HeaderScope::Soap => {
                let (prefix, local) = match h.name.value.split_once(':') {
                    Some((p, l)) => (p.to_string(), l.to_string()),
                    None => (String::new(), h.name.value.clone()),
                };
                if prefix.is_empty() && ADDRESSING.contains(&local.as_str()) {
                    HeaderTarget::Addressing(local)
                } else if let Some(ns) = h.namespace.clone().filter(|n| !n.is_empty()) {
                    HeaderTarget::Soap { ns, prefix, local }
                } else {
                    self.err(
                        codes::E0106,
                        h.name.span,
                        format!(
                            "SOAP header `{}` must be namespace-qualified (or use scope=\"transport\" for an HTTP header)",
                            h.name.value
                        ),
                    );
                    return None;
                }
            }
        };
        let value = match &h.value {
            _ if remove => ValueSrc::None,
            _ if matches!(target, HeaderTarget::Embedded(_)) => ValueSrc::None,
            ast::PropertyValue::Literal(l) => {
                self.placeholder_check(l);
                if let HeaderTarget::Transport(_) = target {
                    if http::HeaderValue::from_str(&l.value).is_err() {
                        self.err(
                            codes::E0106,
                            l.span,
                            "header value contains characters not allowed in HTTP",
                        );
                    }
                }
                ValueSrc::Literal(Value::String(l.value.clone()))
            }
            ast::PropertyValue::Expression(e) if crate::eval::is_syn(e) => {
                ValueSrc::Syn(crate::eval::compile_syn(e, &mut self.diags)?)
            }
            ast::PropertyValue::Expression(e) => ValueSrc::Expr(self.expr(e, Dialect::XPath)?),
            ast::PropertyValue::Inline(x) => ValueSrc::Literal(Value::Xml(x.value.clone())),
            ast::PropertyValue::None => {
                self.err(codes::E0105, span, "header needs `value` or `expression`");
                return None;
            }
        };
        Some(HeaderOp {
            target,
            remove,
            value,
        })
    }
}

pub(crate) fn header(
    engine: &Engine,
    h: &HeaderOp,
    ctx: &mut MessageContext,
) -> Result<(), MediationError> {
    match &h.target {
        HeaderTarget::Transport(n) => {
            if h.remove {
                ctx.headers.remove(n);
                return Ok(());
            }
            let v = eval_src(engine, ctx, &h.value)?;
            // the text becomes the header value's bytes without a copy
            let s = into_value_string(v).unwrap_or_default();
            let hv = HeaderValue::try_from(s).map_err(|_| {
                MediationError::internal(
                    ErrorKind::Conversion,
                    format!("the value for header `{n}` contains characters not allowed in HTTP"),
                )
            })?;
            ctx.headers.insert(n.clone(), hv);
        }
        HeaderTarget::Addressing(name) => {
            ctx.st.inbound.remove(name);
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

pub(crate) fn exprs(h: &HeaderOp, visit: &mut dyn FnMut(&CompiledExpr)) {
    if let ValueSrc::Expr(e) = &h.value {
        visit(e);
    }
}

pub(crate) fn syn_exprs<'a>(h: &'a HeaderOp, out: &mut Vec<&'a SynExpr>) {
    if let ValueSrc::Syn(e) = &h.value {
        out.push(e);
    }
}
