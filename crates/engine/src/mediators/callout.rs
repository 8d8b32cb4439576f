//! `<callout>`: a blocking request-response to a service, sent on a copy of the message whose
//! body is the payload the `<source>` selects; the answer's first body element replaces the
//! node the `<target>` selects, or goes into a property, or (without a `<target>`) replaces the
//! whole message. A JSON message is sent whole and a JSON answer replaces the payload, as in
//! Synapse.

use crate::compiler::Compiler;
use crate::context::mime_of;
use crate::endpoints::{self, Sent};
use crate::exec::Step;
use crate::ir::EndpointIr;
use crate::mediators::enrich::{envelope_of, fault};
use crate::xsel::{self, NodeRef, Part};
use crate::{Engine, MediationError, MessageContext};
use synaptic_diag::codes;
use synaptic_expr::Value;
use synaptic_payload::{Element, Envelope, Node, Payload};
use synaptic_syntax::ast;

#[derive(Debug)]
pub(crate) struct CalloutOp {
    endpoint: Option<EndpointIr>,
    action: Option<String>,
    source: Source,
    target: Target,
}

#[derive(Debug)]
enum Source {
    Envelope,
    Path(xsel::Path, String),
    Key(String),
}

#[derive(Debug)]
enum Target {
    Envelope,
    Path(xsel::Path, String),
    Key(String),
}

fn path(c: &mut Compiler<'_>, x: &ast::Expr, what: &str) -> Option<(xsel::Path, String)> {
    match xsel::parse(&x.text, &x.namespaces) {
        Ok(p) => Some((p, x.text.clone())),
        Err(msg) => {
            c.err(
                codes::E0361,
                x.span,
                format!(
                    "callout {what} XPath {} is not supported: {msg} (a location path selecting \
                     an element, or a union of them, is expected)",
                    x.text
                ),
            );
            None
        }
    }
}

pub(crate) fn compile(c: &mut Compiler<'_>, x: &ast::Callout) -> Option<CalloutOp> {
    let endpoint = match &x.endpoint {
        Some(e) => Some(c.endpoint(e)?),
        None => None,
    };
    let source = match &x.source {
        ast::CalloutSource::Envelope => Source::Envelope,
        ast::CalloutSource::XPath(e) => {
            let (p, t) = path(c, e, "source")?;
            Source::Path(p, t)
        }
        ast::CalloutSource::Key(k) => Source::Key(k.value.clone()),
    };
    let target = match &x.target {
        ast::CalloutTarget::Envelope => Target::Envelope,
        ast::CalloutTarget::XPath(e) => {
            let (p, t) = path(c, e, "target")?;
            Target::Path(p, t)
        }
        ast::CalloutTarget::Key(k) => Target::Key(k.value.clone()),
    };
    Some(CalloutOp {
        endpoint,
        action: x.action.as_ref().map(|a| a.value.clone()),
        source,
        target,
    })
}

fn is_json(ctx: &MessageContext) -> bool {
    match &ctx.payload {
        Payload::Json(_) => true,
        Payload::Raw(_) | Payload::Empty => ctx
            .content_type
            .as_deref()
            .is_some_and(|c| mime_of(c).to_ascii_lowercase().contains("json")),
        _ => false,
    }
}

/// The first element `path` selects in the message.
fn first_element(env: &Envelope, path: &xsel::Path) -> Option<Element> {
    xsel::select(path, env).into_iter().find_map(|n| match n {
        NodeRef::Elem(part, p) => xsel::element(env, part, &p).cloned(),
        _ => None,
    })
}

/// The request payload of a `key` source: a property holding XML, else the local entry.
fn keyed_payload(ctx: &MessageContext, key: &str) -> Result<Element, MediationError> {
    let text = match ctx.properties.default.get(key) {
        Some(Value::Xml(s)) => Some(s.clone()),
        Some(Value::String(s)) if s.trim_start().starts_with('<') => Some(s.clone()),
        Some(_) => None,
        None => ctx
            .st
            .local_entries
            .as_ref()
            .and_then(|e| e.get(key).cloned()),
    };
    text.and_then(|t| synaptic_payload::xml::parse(t.trim()).ok())
        .ok_or_else(|| fault(format!("The property : {key} is not an OMElement")))
}

pub(crate) async fn run(
    engine: &Engine,
    op: &CalloutOp,
    ctx: &mut MessageContext,
) -> Result<Step, MediationError> {
    let json = is_json(ctx);
    let mut out = ctx.fork_child();
    if !json {
        match &op.source {
            Source::Envelope => {}
            Source::Path(p, text) => {
                out.ensure_built()?;
                let mut env = envelope_of(&mut out);
                let el = first_element(&env, p);
                let Some(el) = el else {
                    out.payload = Payload::Xml(env);
                    return Err(fault(format!(
                        "The evaluation of the XPath expression : {text} did not result in an \
                         OMElement"
                    )));
                };
                env.body = vec![el];
                let ct = out.content_type.clone();
                out.set_payload(Payload::Xml(env), ct);
            }
            Source::Key(k) => {
                out.ensure_built()?;
                let el = keyed_payload(ctx, k)?;
                let mut env = envelope_of(&mut out);
                env.body = vec![el];
                let ct = out.content_type.clone();
                out.set_payload(Payload::Xml(env), ct);
            }
        }
    }
    // a callout is a request-response operation: always POST, with the SOAP action
    out.properties
        .axis2
        .insert("HTTP_METHOD", Value::String("POST".into()));
    if let Some(a) = &op.action {
        if let Ok(v) = http::HeaderValue::from_str(&format!("\"{a}\"")) {
            out.headers.insert("soapaction", v);
        }
    }
    if endpoints::send(engine, op.endpoint.as_ref(), true, "callout", &mut out).await?
        == Sent::Discarded
    {
        return Ok(Step::Next);
    }
    let status = out.properties.axis2.get("HTTP_SC").cloned();
    if is_json(&out) {
        let ct = out.content_type.clone();
        let (body, _) = out.body_bytes()?;
        ctx.set_body_raw(body, ct, true);
    } else {
        match &op.target {
            Target::Envelope => {
                let ct = out.content_type.clone();
                let (body, _) = out.body_bytes()?;
                ctx.set_body_raw(body, ct, true);
            }
            Target::Path(p, text) => {
                let result = answer_element(&mut out)?;
                ctx.ensure_built()?;
                let mut env = envelope_of(ctx);
                let replaced = replace_first(&mut env, p, result);
                let ct = ctx.content_type.clone();
                ctx.set_payload(Payload::Xml(env), ct);
                if !replaced {
                    return Err(fault(format!(
                        "Evaluation of target XPath expression : {text} did not yeild an OMNode"
                    )));
                }
            }
            Target::Key(k) => {
                let result = answer_element(&mut out)?;
                ctx.properties
                    .default
                    .insert(k.clone(), Value::Xml(result.to_xml()));
            }
        }
    }
    if let Some(s) = status {
        ctx.properties.axis2.insert("HTTP_SC", s);
    }
    Ok(Step::Next)
}

/// The first element of the answer's body.
fn answer_element(out: &mut MessageContext) -> Result<Element, MediationError> {
    out.ensure_built()?;
    let env = envelope_of(out);
    env.body
        .into_iter()
        .next()
        .ok_or_else(|| fault("the callout's answer has no body element"))
}

/// Replace the first element `path` selects with `with`; false when it selects none.
fn replace_first(env: &mut Envelope, path: &xsel::Path, with: Element) -> bool {
    let Some((part, at)) = xsel::select(path, env).into_iter().find_map(|n| match n {
        NodeRef::Elem(part, p) => Some((part, p)),
        _ => None,
    }) else {
        return false;
    };
    let Some((last, parent)) = at.split_last() else {
        return false;
    };
    if parent.is_empty() {
        let list = match part {
            Part::Header => &mut env.header,
            Part::Body => &mut env.body,
        };
        return match list.get_mut(*last) {
            Some(slot) => {
                *slot = with;
                true
            }
            None => false,
        };
    }
    match xsel::element_mut(env, part, parent).and_then(|e| e.children.get_mut(*last)) {
        Some(slot) => {
            *slot = Node::Element(with);
            true
        }
        None => false,
    }
}
