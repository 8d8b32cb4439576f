//! `<scatter-gather>` (Micro Integrator 4.4): a copy of the message into each `<sequence>`;
//! the interpreter runs them (`run.rs`, as a [`crate::exec::Step`]) and gathers the copies
//! that end normally and meet `condition`, in the order they finish, until all have ended,
//! `min-messages`/`max-messages` have arrived or `timeout` (ms) has passed. What
//! `expression` reads on each is gathered ([`gather`]) into a JSON array or an element named
//! `result-enclosing-element`, which becomes the body (with the properties, variables and
//! headers of the last copy gathered, as Micro Integrator continues with a clone of it) or the
//! variable `target-variable` of the original message (ADR 0473).

use crate::compiler::Compiler;
use crate::eip::BranchTarget;
use crate::eval::{compile_source, eval_src, source_text};
use crate::exec::Step;
use crate::ir::ValueSrc;
use crate::mediators::{block, Node};
use crate::{Engine, ErrorKind, MediationError, MessageContext};
use serde_json::Value as Json;
use std::sync::Arc;
use synaptic_expr::Value;
use synaptic_payload::{Element, Envelope, Payload};
use synaptic_syntax::ast;

#[derive(Debug)]
pub(crate) enum Shape {
    Json,
    Xml(String),
}

#[derive(Debug)]
pub(crate) enum Dest {
    Body,
    Variable(String),
}

/// What the interpreter needs while the copies run, shared with the step.
#[derive(Debug)]
pub(crate) struct Config {
    pub parallel: bool,
    pub expression: ValueSrc,
    pub condition: Option<ValueSrc>,
    pub timeout_ms: Option<u64>,
    pub min: Bound,
    pub max: Bound,
    pub shape: Shape,
    pub into: Dest,
}

/// `min-messages`/`max-messages`: a number (`-1`: none), or `{…}` read on the first copy
/// gathered, as Micro Integrator reads it when that copy creates the aggregate.
#[derive(Debug)]
pub(crate) enum Bound {
    Fixed(i64),
    Expr(ValueSrc),
}

#[derive(Debug)]
pub(crate) struct ScatterGatherOp {
    pub targets: Vec<BranchTarget>,
    pub cfg: Arc<Config>,
}

pub(crate) fn compile(
    c: &mut Compiler<'_>,
    blocks: &mut Vec<Vec<Node>>,
    sg: &ast::ScatterGather,
) -> Option<ScatterGatherOp> {
    let expression = compile_source(c, &sg.expression);
    let condition = match &sg.condition {
        Some(e) => Some(compile_source(c, e)?),
        None => None,
    };
    let targets: Vec<BranchTarget> = sg
        .sequences
        .iter()
        .map(|ms| BranchTarget::Block(block(c, blocks, ms)))
        .collect();
    let num = |v: &Option<synaptic_diag::Spanned<String>>| {
        v.as_ref()
            .and_then(|s| s.value.trim().parse::<i64>().ok())
            .unwrap_or(-1)
    };
    let bound = |c: &mut Compiler<'_>, fixed, e: &Option<ast::Expr>| match e {
        None => Some(Bound::Fixed(fixed)),
        Some(e) => compile_source(c, e).map(Bound::Expr),
    };
    let min = bound(c, num(&sg.min), &sg.min_expr);
    let max = bound(c, num(&sg.max), &sg.max_expr);
    let timeout_ms = match num(&sg.timeout) {
        t if t > 0 => Some(t as u64),
        _ => None,
    };
    let shape = match (
        sg.result_content_type.as_ref().map(|t| t.value.as_str()),
        &sg.result_enclosing_element,
    ) {
        (Some("XML"), Some(e)) => Shape::Xml(e.value.trim().to_string()),
        _ => Shape::Json,
    };
    let into = match (&sg.target, &sg.target_variable) {
        (Some(t), Some(v)) if t.value.eq_ignore_ascii_case("variable") => {
            Dest::Variable(v.value.trim().to_string())
        }
        _ => Dest::Body,
    };
    Some(ScatterGatherOp {
        targets,
        cfg: Arc::new(Config {
            parallel: sg.parallel,
            expression: expression?,
            condition,
            timeout_ms,
            min: min?,
            max: max?,
            shape,
            into,
        }),
    })
}

/// The copies the interpreter runs.
pub(crate) struct Scatter {
    pub cfg: Arc<Config>,
    pub branches: Vec<(MessageContext, BranchTarget)>,
}

pub(crate) fn run(
    engine: &Engine,
    op: &ScatterGatherOp,
    ctx: &mut MessageContext,
) -> Result<Step, MediationError> {
    let limit = engine.limits.max_branches as usize;
    if op.targets.len() > limit {
        return Err(MediationError::internal(
            ErrorKind::Limit,
            format!(
                "<scatter-gather> has {} sequences, more than the limit of {limit}",
                op.targets.len()
            ),
        ));
    }
    let branches = op
        .targets
        .iter()
        .map(|t| {
            let mut b = ctx.fork_child();
            b.st.fork_depth += 1;
            (b, *t)
        })
        .collect();
    Ok(Step::ScatterGather(Box::new(Scatter {
        cfg: op.cfg.clone(),
        branches,
    })))
}

/// Whether a copy that ended normally is gathered (`condition` reads `true`, ignoring case).
pub(crate) fn accepts(
    engine: &Engine,
    cfg: &Config,
    m: &mut MessageContext,
) -> Result<bool, MediationError> {
    let Some(cond) = &cfg.condition else {
        return Ok(true);
    };
    m.ensure_built()?;
    Ok(source_text(engine, m, cond)?.is_some_and(|s| s.trim().eq_ignore_ascii_case("true")))
}

/// `min-messages` and `max-messages` for this aggregation, read on `first`, the first copy
/// gathered (Micro Integrator reads them when that copy creates the aggregate). A value is
/// read as Java's `Double.parseDouble` reads it and cut to a whole number (`2.7` is 2); one
/// that is not a number is a fault; zero or less means no bound.
pub(crate) fn bounds(
    engine: &Engine,
    cfg: &Config,
    first: &mut MessageContext,
) -> Result<(i64, i64), MediationError> {
    let mut read = |b: &Bound, what: &str| -> Result<i64, MediationError> {
        match b {
            Bound::Fixed(n) => Ok(*n),
            Bound::Expr(src) => {
                first.ensure_built()?;
                let t = source_text(engine, first, src)?.unwrap_or_default();
                java_double(&t).map(|d| d as i32 as i64).ok_or_else(|| {
                    fault(format!(
                        "<aggregation {what}=\"{{{}}}\"> gave `{}`, not a number",
                        expr_text(src),
                        t.chars().take(64).collect::<String>()
                    ))
                })
            }
        }
    };
    Ok((
        read(&cfg.min, "min-messages")?,
        read(&cfg.max, "max-messages")?,
    ))
}

/// A number as Java's `Double.parseDouble` reads it: surrounding white space (and control
/// characters) ignored, an optional `f`/`d` suffix, `NaN` and `Infinity` by those names.
fn java_double(s: &str) -> Option<f64> {
    let t = s.trim_matches(|c: char| c <= ' ');
    let unsigned = t.trim_start_matches(['+', '-']);
    if unsigned == "NaN" || unsigned == "Infinity" {
        if t.len() - unsigned.len() > 1 {
            return None;
        }
        return t.parse::<f64>().ok();
    }
    let body = t.strip_suffix(['f', 'F', 'd', 'D']).unwrap_or(t);
    // Rust also reads `inf`, `nan`, … which Java refuses; Java's hexadecimal form is rare
    // enough to be refused too
    if body.is_empty()
        || !body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
    {
        return None;
    }
    body.parse::<f64>().ok()
}

/// Whether `n` gathered copies complete the aggregation before every copy has ended.
pub(crate) fn enough((min, max): (i64, i64), n: usize) -> bool {
    let n = n as i64;
    (min > 0 && n >= min) || (max > 0 && n >= max)
}

fn fault(msg: impl Into<String>) -> MediationError {
    MediationError::internal(ErrorKind::Fault, msg)
}

/// Gather what `expression` reads on each copy (in the order given) into the body or the
/// variable of `ctx`.
pub(crate) fn gather(
    engine: &Engine,
    cfg: &Config,
    mut got: Vec<MessageContext>,
    ctx: &mut MessageContext,
) -> Result<(), MediationError> {
    let mut values = Vec::with_capacity(got.len());
    for m in got.iter_mut() {
        m.ensure_built()?;
        values.push(eval_src(engine, m, &cfg.expression)?);
    }
    let to_body = matches!(cfg.into, Dest::Body);
    let result = match &cfg.shape {
        Shape::Json => {
            let mut arr = Vec::with_capacity(values.len());
            for v in values {
                arr.push(match v {
                    Value::Json(j) => j,
                    Value::Null if !to_body => {
                        return Err(fault(format!(
                            "Aggregation expression {} did not return a valid JSON element",
                            expr_text(&cfg.expression)
                        )))
                    }
                    other => match crate::convert::value_string(&other) {
                        Some(s) => serde_json::from_str(&s).unwrap_or(Json::String(s)),
                        None => Json::Null,
                    },
                });
            }
            Gathered::Json(Json::Array(arr))
        }
        Shape::Xml(enclosing) => {
            let mut root = Element::local(enclosing.clone());
            for v in values {
                let text = crate::convert::value_string(&v).unwrap_or_default();
                let e = synaptic_payload::xml::parse(text.trim()).map_err(|e| {
                    fault(format!(
                        "Error reading XML element: {}: {e}",
                        expr_text(&cfg.expression)
                    ))
                })?;
                root.push(e);
            }
            Gathered::Xml(root)
        }
    };
    match &cfg.into {
        Dest::Variable(name) => {
            let v = match result {
                Gathered::Json(j) => Value::Json(j),
                Gathered::Xml(e) => Value::Xml(e.to_xml()),
            };
            ctx.st.variables.insert(name.clone(), v);
        }
        Dest::Body => {
            // the flow goes on with the last copy gathered (its properties, variables and
            // headers), as Micro Integrator continues with a clone of it
            if let Some(last) = got.pop() {
                ctx.properties = last.properties;
                ctx.st.variables = last.st.variables;
                ctx.headers = last.headers;
            }
            match result {
                Gathered::Json(j) => {
                    ctx.set_payload(Payload::Json(j), Some("application/json".into()));
                    ctx.set_message_type("application/json");
                }
                Gathered::Xml(e) => {
                    ctx.set_payload(
                        Payload::Xml(Envelope::pox(e)),
                        Some("application/xml".into()),
                    );
                    ctx.set_message_type("application/xml");
                }
            }
        }
    }
    Ok(())
}

enum Gathered {
    Json(Json),
    Xml(Element),
}

fn expr_text(v: &ValueSrc) -> String {
    match v {
        ValueSrc::Expr(e) => e.text.clone(),
        ValueSrc::Syn(s) => format!("${{{}}}", s.text),
        _ => String::new(),
    }
}
