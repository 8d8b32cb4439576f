//! `<aggregate>`: collect the messages of one `<iterate>`/`<clone>` fan-out (correlated by
//! `aggregateCorelation[.id]`) or of one `<correlateOn>` value, and when the group is complete
//! run `<onComplete>` on one message made of them.
//!
//! As Synapse's `AggregateMediator`: a group is complete when it holds every message of the
//! fan-out (`messageSequence`'s count), or `min` messages (when `min > 0`), or `max` (when
//! `max > 0`); `completeCondition timeout` completes it with what it has. A message that is not
//! the last ends its flow (it is held); a message arriving after completion is dropped. The
//! aggregated message is a copy of the first one whose body holds what `<onComplete
//! expression>` selects in each message (XML), or a JSON array of those values
//! (`aggregateElementType="child"`: one object merging them), enclosed in the element held by
//! `enclosingElementProperty` when given.

use crate::compiler::Compiler;
use crate::convert::value_string;
use crate::eip::{fork_of, AggKey, BranchTarget, Pending, AGGREGATE_CORRELATION, MESSAGE_SEQUENCE};
use crate::exec::Step;
use crate::jpath::{self, JPath};
use crate::mediators::{block, Node};
use crate::xsel::{self, NodeRef};
use crate::{Engine, ErrorKind, Flow, MediationError, MessageContext};
use serde_json::Value as Json;
use synaptic_diag::{codes, Span, Spanned};
use synaptic_expr::{CompiledExpr, Dialect, Value};
use synaptic_payload::{Element, Envelope, Node as XNode, Payload};
use synaptic_syntax::ast;

#[derive(Debug)]
pub(crate) enum Gather {
    Xml(xsel::Path),
    /// `$func:name`: the XPath the running template was passed as `{{xpath}}`.
    Func(String),
    Json(JPath),
}

/// A `messageCount` bound: a number, or `{xpath}` evaluated on the first message.
#[derive(Debug)]
pub(crate) enum Count {
    Fixed(i64),
    Expr(CompiledExpr),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ElementType {
    Root,
    Child,
}

#[derive(Debug)]
pub(crate) struct AggregateOp {
    pub id: Option<String>,
    pub correlate: Option<CompiledExpr>,
    pub timeout_ms: Option<i64>,
    pub min: Count,
    pub max: Count,
    pub gather: Gather,
    /// The `<onComplete expression>` as `expr` compiled it (checked; reads the body).
    pub expr: CompiledExpr,
    pub enclosing: Option<String>,
    pub element_type: ElementType,
    pub on_complete: BranchTarget,
}

fn count(c: &mut Compiler<'_>, v: &Option<Spanned<String>>, what: &str) -> Option<Count> {
    let Some(v) = v else {
        return Some(Count::Fixed(-1));
    };
    let t = v.value.trim();
    if let Some(inner) = t.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
        let e = ast::Expr {
            text: inner.to_string(),
            span: v.span,
            namespaces: Vec::new(),
        };
        return Some(Count::Expr(c.expr(&e, Dialect::XPath)?));
    }
    match t.parse::<f64>() {
        Ok(n) if n.is_finite() => Some(Count::Fixed(n as i64)),
        _ => {
            c.err(
                codes::E0352,
                v.span,
                format!("{what}=\"{t}\": expected a number (-1 for none)"),
            );
            None
        }
    }
}

pub(crate) fn compile(
    c: &mut Compiler<'_>,
    blocks: &mut Vec<Vec<Node>>,
    a: &ast::Aggregate,
) -> Option<AggregateOp> {
    let correlate = match &a.correlate {
        Some(e) => Some(c.expr(e, Dialect::XPath)?),
        None => None,
    };
    let timeout_ms = match &a.timeout_s {
        None => None,
        Some(t) => match t.value.trim().parse::<f64>() {
            Ok(s) if s.is_finite() && s >= 0.0 => Some((s * 1000.0) as i64).filter(|ms| *ms > 0),
            _ => {
                c.err(
                    codes::E0352,
                    t.span,
                    format!("timeout=\"{}\": expected seconds", t.value),
                );
                return None;
            }
        },
    };
    let min = count(c, &a.min, "min");
    let max = count(c, &a.max, "max");
    let expr = c.expr(&a.expression, Dialect::XPath);
    let gather = match jpath::json_eval_inner(&a.expression.text) {
        Some(inner) => match jpath::parse_wildcards(inner) {
            Ok(p) => Gather::Json(p),
            Err(why) => {
                c.err(
                    codes::E0351,
                    a.expression.span,
                    format!(
                        "`{}`: synaptic aggregates JSON by a path of names, indexes and `[*]` \
                         ({why})",
                        a.expression.text
                    ),
                );
                return None;
            }
        },
        None if crate::mediators::func_param_name(&a.expression).is_some() => Gather::Func(
            crate::mediators::func_param_name(&a.expression)
                .unwrap_or_default()
                .to_string(),
        ),
        None => match xsel::parse(&a.expression.text, &a.expression.namespaces) {
            Ok(p) => Gather::Xml(p),
            Err(why) => {
                c.err(
                    codes::E0351,
                    a.expression.span,
                    format!(
                        "`{}`: synaptic aggregates by a location path (names, `//`, `*`, \
                         predicates; {why})",
                        a.expression.text
                    ),
                );
                return None;
            }
        },
    };
    let element_type = match a.element_type.as_ref().map(|s| s.value.trim()) {
        None | Some("root") => ElementType::Root,
        Some("child") => ElementType::Child,
        Some(other) => {
            let span = a.element_type.as_ref().map(|s| s.span).unwrap_or_default();
            c.err(
                codes::E0106,
                span,
                format!("aggregateElementType=\"{other}\": expected root or child"),
            );
            return None;
        }
    };
    let on_complete = match &a.sequence_key {
        Some(k) => BranchTarget::Seq(c.resolve_seq_lazy(
            k,
            crate::compiler::Unresolved::Fault(
                "Unable to find the sequence for the mediation of the aggregated message".into(),
            ),
        )?),
        None => BranchTarget::Block(block(c, blocks, &a.on_complete)),
    };
    Some(AggregateOp {
        id: a.id.as_ref().map(|s| s.value.clone()),
        correlate,
        timeout_ms,
        min: min?,
        max: max?,
        gather,
        expr: expr?,
        enclosing: a.enclosing_property.as_ref().map(|s| s.value.clone()),
        element_type,
        on_complete,
    })
}

pub(crate) fn exprs(op: &AggregateOp, f: &mut dyn FnMut(&CompiledExpr)) {
    if let Some(c) = &op.correlate {
        f(c);
    }
    for n in [&op.min, &op.max] {
        if let Count::Expr(e) = n {
            f(e);
        }
    }
    f(&op.expr);
}

fn fault(msg: impl Into<String>) -> MediationError {
    MediationError::internal(ErrorKind::Fault, msg)
}

pub(crate) fn run(
    engine: &Engine,
    op: &AggregateOp,
    ctx: &mut MessageContext,
    span: Span,
) -> Result<Step, MediationError> {
    let correlation = match &op.correlate {
        Some(e) => match crate::eval::eval(engine, ctx, e)? {
            // a false condition: the message goes on unaggregated
            Value::Boolean(false) => return Ok(Step::Next),
            Value::Null => {
                return Err(fault(format!(
                    "Failed to evaluate correlate expression: {}",
                    e.text
                )))
            }
            Value::String(s) if s.is_empty() => {
                return Err(fault(format!(
                    "Failed to evaluate correlate expression: {}",
                    e.text
                )))
            }
            // Synapse keys a correlateOn aggregate by the expression itself
            _ => e.text.clone(),
        },
        None => {
            let name = match &op.id {
                Some(id) => format!("{AGGREGATE_CORRELATION}.{id}"),
                None => AGGREGATE_CORRELATION.to_string(),
            };
            match ctx.properties.default.get(&name).and_then(value_string) {
                Some(c) => c,
                // not a branch: the message goes on
                None => return Ok(Step::Next),
            }
        }
    };
    let owner = fork_of(&correlation).unwrap_or(ctx.st.fork);
    let store = ctx.st.eip.get_or_insert_with(Default::default).clone();
    let key = AggKey {
        source: span.source.0,
        at: span.start,
        correlation,
    };
    let now = engine.clock.now_ms();
    let bound = |n: &Count| -> Result<i64, MediationError> {
        match n {
            Count::Fixed(n) => Ok(*n),
            Count::Expr(e) => {
                let v = crate::eval::eval(engine, ctx, e)?;
                let t = value_string(&v).unwrap_or_default();
                t.trim().parse::<f64>().map(|n| n as i64).map_err(|_| {
                    fault(format!(
                        "message count `{}` gave `{t}`, not a number",
                        e.text
                    ))
                })
            }
        }
    };
    let (min, max) = (bound(&op.min)?, bound(&op.max)?);
    let messages = {
        let mut map = store.pending.lock().unwrap_or_else(|e| e.into_inner());
        let p = map.entry(key).or_insert_with(|| Pending {
            owner,
            deadline_ms: op.timeout_ms.map(|t| now.saturating_add(t)),
            min,
            max,
            ..Pending::default()
        });
        if p.completed {
            // Synapse drops a message that comes after its aggregate completed
            return Ok(Step::End(Flow::Drop));
        }
        if p.messages.len() >= engine.limits.max_branches as usize {
            return Err(MediationError::internal(
                ErrorKind::Limit,
                format!(
                    "<aggregate> holds more than {} messages",
                    engine.limits.max_branches
                ),
            ));
        }
        p.messages.push(ctx.fork_child());
        if !complete(op, p.min, p.max, &p.messages) {
            return Ok(Step::End(Flow::Drop));
        }
        p.completed = true;
        std::mem::take(&mut p.messages)
    };
    let aggregated = build(op, messages)?;
    let keep_response = ctx.st.branch_response.take();
    *ctx = aggregated;
    ctx.st.branch_response = keep_response;
    Ok(match op.on_complete {
        BranchTarget::Block(b) => Step::Push(b),
        BranchTarget::Seq(s) => Step::PushSeq(s),
    })
}

fn complete(op: &AggregateOp, min: i64, max: i64, messages: &[MessageContext]) -> bool {
    let n = messages.len() as i64;
    let name = match &op.id {
        Some(id) => format!("{MESSAGE_SEQUENCE}.{id}"),
        None => MESSAGE_SEQUENCE.to_string(),
    };
    let total = messages
        .first()
        .and_then(|m| m.properties.default.get(&name))
        .and_then(value_string)
        .and_then(|s| {
            s.split('/')
                .nth(1)
                .and_then(|t| t.trim().parse::<i64>().ok())
        });
    total.is_some_and(|t| n >= t) || (min > 0 && n >= min) || (max > 0 && n >= max)
}

/// The message `<onComplete>` runs on, made of the collected ones (at least one).
pub(crate) fn build(
    op: &AggregateOp,
    messages: Vec<MessageContext>,
) -> Result<MessageContext, MediationError> {
    let Some(first) = messages.first() else {
        return Err(fault("an aggregation completed with no messages"));
    };
    let mut out = first.fork_child();
    out.st.fork = first.st.fork;
    // `$func:name`: resolved in the template the messages were split in; a parameter not
    // passed as an XPath selects nothing, as Synapse's variable is then no node set
    let func_path = match &op.gather {
        Gather::Func(name) => crate::mediators::func_path(first, name)?,
        _ => None,
    };
    let path = match &op.gather {
        Gather::Xml(path) => Some(path),
        _ => func_path.as_ref(),
    };
    match &op.gather {
        Gather::Xml(_) | Gather::Func(_) => {
            let elements = |env: &Envelope| match path {
                Some(p) => elements(env, p),
                None => Vec::new(),
            };
            let mut env = envelope(first);
            // the first message: what the expression selects goes to the body, out of the
            // element that held it (Synapse's EIPUtils.enrichEnvelope)
            let sel = elements(&env);
            if let Some((p0, _)) = sel.first() {
                if p0.len() > 1 {
                    let top = p0[0];
                    env.body.extend(sel.iter().map(|(_, e)| e.clone()));
                    if top < env.body.len() {
                        env.body.remove(top);
                    }
                }
            }
            for m in &messages[1..] {
                let sel = elements(&envelope(m));
                if sel.is_empty() {
                    return Err(fault("Could not find matching elements to aggregate."));
                }
                env.body.extend(sel.into_iter().map(|(_, e)| e));
            }
            if let Some(name) = &op.enclosing {
                let mut wrap = enclosing_element(&out, name)?;
                for e in env.body.drain(..) {
                    wrap.push(e);
                }
                env.body.push(wrap);
            }
            let ct = out.content_type.clone();
            out.set_payload(Payload::Xml(env), ct);
        }
        Gather::Json(path) => {
            let mut array = Vec::with_capacity(messages.len());
            let mut object = serde_json::Map::new();
            for m in &messages {
                let v = json_value(m, path)?;
                match op.element_type {
                    ElementType::Root => array.push(v),
                    ElementType::Child => match v {
                        Json::Object(o) => merge_into(&mut object, o),
                        _ => {
                            return Err(fault(
                                "Invalid JSON object. Could not extend (aggregateElementType \
                                 child needs objects).",
                            ))
                        }
                    },
                }
            }
            let mut result = match op.element_type {
                ElementType::Root => Json::Array(array),
                ElementType::Child => Json::Object(object),
            };
            if let Some(name) = &op.enclosing {
                let wrap = enclosing_element(&out, name)?;
                let mut o = serde_json::Map::new();
                o.insert(wrap.name.local.clone(), result);
                result = Json::Object(o);
            }
            out.set_payload(Payload::Json(result), Some("application/json".into()));
            out.set_message_type("application/json");
        }
    }
    Ok(out)
}

fn envelope(ctx: &MessageContext) -> Envelope {
    match &ctx.payload {
        Payload::Xml(env) => env.clone(),
        other => synaptic_payload::to_envelope(other),
    }
}

fn elements(env: &Envelope, path: &xsel::Path) -> Vec<(Vec<usize>, Element)> {
    xsel::select(path, env)
        .into_iter()
        .filter_map(|n| match n {
            NodeRef::Elem(p, at) => xsel::element(env, p, &at).map(|e| (at, e.clone())),
            _ => None,
        })
        .collect()
}

fn enclosing_element(ctx: &MessageContext, name: &str) -> Result<Element, MediationError> {
    let v = ctx
        .properties
        .default
        .get(name)
        .ok_or_else(|| fault(format!("Enclosing Element property: {name} not found")))?;
    let text = match v {
        Value::Xml(s) => s.clone(),
        _ => {
            return Err(fault(format!(
                "Enclosing Element defined in the property: {name} is not an OMElement"
            )))
        }
    };
    let mut e = synaptic_payload::xml::parse(&text).map_err(|_| {
        fault(format!(
            "Enclosing Element defined in the property: {name} is not an OMElement"
        ))
    })?;
    e.children
        .retain(|c| !matches!(c, XNode::Text(t) if t.trim().is_empty()));
    Ok(e)
}

fn json_value(ctx: &MessageContext, path: &JPath) -> Result<Json, MediationError> {
    let root = match &ctx.payload {
        Payload::Json(j) => j.clone(),
        other => match synaptic_payload::to_json(other) {
            Some(j) => j,
            None => return Ok(Json::Null),
        },
    };
    if path.has_wildcard() {
        let mut found: Vec<Json> = path
            .matches(&root)
            .iter()
            .filter_map(|p| p.read(&root).ok().cloned())
            .collect();
        return Ok(match found.len() {
            0 => Json::Null,
            1 => found.remove(0),
            _ => Json::Array(found),
        });
    }
    Ok(path.read(&root).cloned().unwrap_or(Json::Null))
}

/// Gson `JSONMergeUtils.extendJSONObject` with `MERGE_INTO_ARRAY`: a key seen again collects
/// its values into an array.
fn merge_into(acc: &mut serde_json::Map<String, Json>, o: serde_json::Map<String, Json>) {
    for (k, v) in o {
        match acc.get_mut(&k) {
            None => {
                acc.insert(k, v);
            }
            Some(Json::Array(a)) => match v {
                Json::Array(b) => a.extend(b),
                v => a.push(v),
            },
            Some(existing) => {
                let old = existing.take();
                let mut a = vec![old];
                match v {
                    Json::Array(b) => a.extend(b),
                    v => a.push(v),
                }
                *existing = Json::Array(a);
            }
        }
    }
}
