//! `<makefault>`: replace the message with a SOAP 1.1/1.2 fault or a POX `<Exception>`
//! (Synapse `FaultMediator`).

use super::enrich::{envelope_of, fault, parse_fragment, src_element, SrcNode};
use crate::compiler::Compiler;
use crate::convert::value_string;
use crate::eval::{eval, eval_src};
use crate::ir::ValueSrc;
use crate::{Engine, MediationError, MessageContext};
use synaptic_expr::synexpr::SynExpr;
use synaptic_expr::{CompiledExpr, Dialect, Value};
use synaptic_payload::xml::{Attribute, QName};
use synaptic_payload::{Element, Envelope, Node, Payload, SoapVersion, SOAP11_NS, SOAP12_NS};
use synaptic_syntax::ast;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FaultVersion {
    Soap11,
    Soap12,
    Pox,
}

#[derive(Debug)]
pub(crate) enum FaultCodeSrc {
    Value {
        ns: String,
        prefix: String,
        local: String,
    },
    Expr(CompiledExpr),
}

#[derive(Debug)]
pub(crate) enum FaultDetailSrc {
    Text(String),
    Expr(CompiledExpr),
    Elements(Vec<String>),
}

#[derive(Debug)]
pub(crate) struct MakeFaultOp {
    pub version: FaultVersion,
    pub response: bool,
    pub code: Option<FaultCodeSrc>,
    pub reason: Option<ValueSrc>,
    pub node: Option<String>,
    pub role: Option<String>,
    pub detail: Option<FaultDetailSrc>,
}

impl Compiler<'_> {
    pub(crate) fn makefault(&mut self, m: &ast::MakeFault) -> Option<MakeFaultOp> {
        let version = match m.version {
            ast::FaultVersion::Soap11 => FaultVersion::Soap11,
            ast::FaultVersion::Soap12 => FaultVersion::Soap12,
            ast::FaultVersion::Pox => FaultVersion::Pox,
        };
        let mut ok = true;
        let code = match &m.code {
            None => None,
            Some(ast::FaultCode::Value {
                ns, prefix, local, ..
            }) => Some(FaultCodeSrc::Value {
                ns: ns.clone(),
                prefix: prefix.clone(),
                local: local.clone(),
            }),
            Some(ast::FaultCode::Expression(e)) => match self.expr(e, Dialect::XPath) {
                Some(c) => Some(FaultCodeSrc::Expr(c)),
                None => {
                    ok = false;
                    None
                }
            },
        };
        let reason = match &m.reason {
            None => None,
            Some(ast::FaultText::Value(v)) => {
                Some(ValueSrc::Literal(Value::String(v.value.clone())))
            }
            Some(ast::FaultText::Expression(e)) => match self.expr(e, Dialect::XPath) {
                Some(c) => Some(ValueSrc::Expr(c)),
                None => {
                    ok = false;
                    None
                }
            },
        };
        let detail = match &m.detail {
            None => None,
            Some(ast::FaultDetail::Text(t)) => Some(FaultDetailSrc::Text(t.value.clone())),
            Some(ast::FaultDetail::Elements(es)) => Some(FaultDetailSrc::Elements(
                es.iter().map(|e| e.value.clone()).collect(),
            )),
            Some(ast::FaultDetail::Expression(e)) => match self.expr(e, Dialect::XPath) {
                Some(c) => Some(FaultDetailSrc::Expr(c)),
                None => {
                    ok = false;
                    None
                }
            },
        };
        ok.then(|| MakeFaultOp {
            version,
            response: m.response,
            code,
            reason,
            node: m.node.as_ref().map(|n| n.value.clone()),
            role: m.role.as_ref().map(|r| r.value.clone()),
            detail,
        })
    }
}

pub(crate) fn makefault(
    engine: &Engine,
    op: &MakeFaultOp,
    ctx: &mut MessageContext,
) -> Result<(), MediationError> {
    ctx.ensure_built()?;
    let text_of = |ctx: &MessageContext, v: &crate::ir::ValueSrc| {
        eval_src(engine, ctx, v).map(|v| value_string(&v).unwrap_or_default())
    };
    let env = match op.version {
        FaultVersion::Pox => {
            let text = match (&op.detail, &op.reason) {
                (Some(FaultDetailSrc::Text(t)), _) => t.clone(),
                (Some(FaultDetailSrc::Expr(c)), _) => {
                    value_string(&eval(engine, ctx, c)?).unwrap_or_default()
                }
                (_, Some(r)) => text_of(ctx, r)?,
                _ => String::new(),
            };
            let mut env = envelope_of(ctx);
            if !env.body.is_empty() {
                env.body.remove(0);
            }
            env.body
                .insert(0, Element::new(QName::local("Exception")).with_text(text));
            env
        }
        FaultVersion::Soap11 | FaultVersion::Soap12 => {
            let soap12 = op.version == FaultVersion::Soap12;
            let ns = if soap12 { SOAP12_NS } else { SOAP11_NS };
            let q = |l: &str| QName::new(ns, "soapenv", l);
            let code = match &op.code {
                Some(FaultCodeSrc::Value {
                    ns: cns,
                    prefix,
                    local,
                }) => {
                    let mut e = Element::local("");
                    e.namespaces.push((prefix.clone(), cns.clone()));
                    e.children.push(Node::Text(format!("{prefix}:{local}")));
                    e
                }
                Some(FaultCodeSrc::Expr(c)) => {
                    let s = value_string(&eval(engine, ctx, c)?).unwrap_or_default();
                    Element::local("").with_text(format!("soapenv:{s}"))
                }
                None => return Err(fault("makefault: a fault code is required")),
            };
            let reason = match &op.reason {
                Some(r) => text_of(ctx, r)?,
                None => return Err(fault("makefault: a fault reason is required")),
            };
            let detail: Option<Vec<Node>> = match &op.detail {
                None => None,
                Some(FaultDetailSrc::Text(t)) => Some(if t.is_empty() {
                    vec![]
                } else {
                    vec![Node::Text(t.clone())]
                }),
                Some(FaultDetailSrc::Elements(es)) => Some(
                    es.iter()
                        .filter_map(|s| synaptic_payload::xml::parse(s).ok())
                        .map(Node::Element)
                        .collect(),
                ),
                Some(FaultDetailSrc::Expr(c)) => Some(match eval(engine, ctx, c)? {
                    Value::Xml(s) => parse_fragment(&s)
                        .into_iter()
                        .filter_map(|n| match n {
                            SrcNode::Text(t) => Some(Node::Text(t)),
                            other => src_element(other).map(Node::Element),
                        })
                        .collect(),
                    v => value_string(&v)
                        .filter(|s| !s.is_empty())
                        .map(|s| vec![Node::Text(s)])
                        .unwrap_or_default(),
                }),
            };
            let mut f = Element::new(q("Fault"));
            if soap12 {
                let mut c = Element::new(q("Code"));
                let mut v = code;
                v.name = q("Value");
                c.push(v);
                f.push(c);
                let mut r = Element::new(q("Reason"));
                let mut t = Element::new(q("Text")).with_text(reason);
                t.attributes.push(Attribute {
                    name: QName::new(synaptic_payload::xml::XML_NS, "xml", "lang"),
                    value: "en".into(),
                });
                r.push(t);
                f.push(r);
                if let Some(n) = &op.node {
                    f.push(Element::new(q("Node")).with_text(n.clone()));
                }
                if let Some(role) = &op.role {
                    f.push(Element::new(q("Role")).with_text(role.clone()));
                }
                if let Some(d) = detail {
                    let mut de = Element::new(q("Detail"));
                    de.children = d;
                    f.push(de);
                }
            } else {
                let mut c = code;
                c.name = QName::local("faultcode");
                f.push(c);
                f.push(Element::local("faultstring").with_text(reason));
                if let Some(role) = &op.role {
                    f.push(Element::local("faultactor").with_text(role.clone()));
                }
                if let Some(d) = detail {
                    let mut de = Element::local("detail");
                    de.children = d;
                    f.push(de);
                }
            }
            // the original SOAP headers go into the fault envelope
            let header = match &ctx.payload {
                Payload::Xml(e) => e.header.clone(),
                _ => Vec::new(),
            };
            Envelope {
                version: if soap12 {
                    SoapVersion::Soap12
                } else {
                    SoapVersion::Soap11
                },
                header,
                body: vec![f],
            }
        }
    };
    let ct = ctx.content_type.clone();
    ctx.set_payload(Payload::Xml(env), ct);
    if op.version == FaultVersion::Pox {
        ctx.st.fault_response = true;
    }
    if op.version != FaultVersion::Pox {
        // the fault goes to FaultTo, else ReplyTo, else nowhere; RelatesTo = MessageID
        let from = ["FaultTo", "ReplyTo"]
            .into_iter()
            .find(|n| ctx.st.addressing.contains_key(*n));
        set_to_from(ctx, from);
        if let Some(id) = ctx.st.addressing.get("MessageID").cloned() {
            ctx.st.addressing.insert("RelatesTo".into(), id);
        }
    }
    if op.response {
        ctx.response = true;
        let from = Some("ReplyTo").filter(|n| ctx.st.addressing.contains_key(*n));
        set_to_from(ctx, from);
    }
    Ok(())
}

/// `To` becomes the addressing field `from` (or is cleared); it is the client's own address
/// when `from` is.
fn set_to_from(ctx: &mut MessageContext, from: Option<&str>) {
    match from.and_then(|n| ctx.st.addressing.get(n).cloned().map(|t| (n, t))) {
        Some((n, t)) => {
            ctx.st.addressing.insert("To".into(), t);
            if ctx.st.inbound.contains(n) {
                ctx.st.inbound.insert("To".into());
            } else {
                ctx.st.inbound.remove("To");
            }
        }
        None => {
            ctx.st.addressing.remove("To");
            ctx.st.inbound.remove("To");
        }
    }
}

pub(crate) fn exprs(m: &MakeFaultOp, visit: &mut dyn FnMut(&CompiledExpr)) {
    if let Some(FaultCodeSrc::Expr(c)) = &m.code {
        visit(c);
    }
    if let Some(ValueSrc::Expr(e)) = &m.reason {
        visit(e);
    }
    if let Some(FaultDetailSrc::Expr(c)) = &m.detail {
        visit(c);
    }
}

pub(crate) fn syn_exprs<'a>(m: &'a MakeFaultOp, out: &mut Vec<&'a SynExpr>) {
    if let Some(ValueSrc::Syn(e)) = &m.reason {
        out.push(e);
    }
}
