//! `<iterate>`: split the message into one message per element an XPath selects (or per member
//! of the JSON array a `json-eval(…)` path selects); each goes to the `<target>` as a branch of a
//! fan-out the interpreter runs ([`crate::eip::Fork`]).
//!
//! As Synapse's `IterateMediator`: the selected parts are taken out of a copy of the envelope;
//! without `preservePayload` the body is emptied and each part becomes the body, with it each
//! part is added under the first element `attachPath` selects (for JSON, replaces the value at
//! `attachPath`). Each branch carries `messageSequence[.id]` = `index/count` and
//! `aggregateCorelation[.id]`, which `<aggregate>` reads.

use crate::compiler::Compiler;
use crate::eip::{mark_branch, new_fork, Branch, Fork, TargetIr};
use crate::exec::Step;
use crate::jpath::{self, JPath};
use crate::mediators::{eip_target, Node};
use crate::xsel::{self, NodeRef, Part};
use crate::{Engine, ErrorKind, MediationError, MessageContext};
use serde_json::Value as Json;
use synaptic_diag::codes;
use synaptic_expr::{CompiledExpr, Dialect};
use synaptic_payload::{Element, Envelope, Payload};
use synaptic_syntax::ast;

#[derive(Debug)]
pub(crate) enum Split {
    Xml {
        path: XmlSel,
        attach: Option<XmlSel>,
    },
    Json {
        path: JPath,
        attach: Option<JPath>,
    },
}

/// An XML selection: a location path known at load, or `$func:name`, the XPath the running
/// template was passed as `{{xpath}}` (Synapse evaluates the variable's `SynapseXPath`).
#[derive(Debug)]
pub(crate) enum XmlSel {
    Path(xsel::Path),
    Func(String),
}

impl XmlSel {
    /// The path to select with now; `None` selects nothing (a parameter not passed as an
    /// XPath is not a node set in Synapse either).
    fn resolve(
        &self,
        ctx: &MessageContext,
    ) -> Result<Option<std::borrow::Cow<'_, xsel::Path>>, MediationError> {
        match self {
            XmlSel::Path(p) => Ok(Some(std::borrow::Cow::Borrowed(p))),
            XmlSel::Func(name) => {
                Ok(crate::mediators::func_path(ctx, name)?.map(std::borrow::Cow::Owned))
            }
        }
    }
}

#[derive(Debug)]
pub(crate) struct IterateOp {
    pub id: Option<String>,
    pub split: Split,
    /// The expression as compiled by `expr` (checked, and tells the interpreter it reads the body).
    pub expr: CompiledExpr,
    pub preserve_payload: bool,
    pub sequential: bool,
    pub continue_parent: bool,
    pub target: TargetIr,
}

pub(crate) fn compile(
    c: &mut Compiler<'_>,
    blocks: &mut Vec<Vec<Node>>,
    it: &ast::Iterate,
    span: synaptic_diag::Span,
) -> Option<IterateOp> {
    let expr = c.expr(&it.expression, Dialect::XPath);
    let is_json = jpath::json_eval_inner(&it.expression.text).is_some();
    let split = if is_json {
        let path = json_path(c, &it.expression);
        // Synapse's default attach path for JSON is the root, `$`
        let attach = match &it.attach_path {
            Some(a) if it.preserve_payload => {
                // the expression's own warnings come with its compilation above
                c.jsonpath_warnings(a);
                Some(json_path(c, a)?)
            }
            None if it.preserve_payload => Some(JPath { segs: Vec::new() }),
            _ => None,
        };
        Split::Json {
            path: path?,
            attach,
        }
    } else {
        let path = xml_sel(c, &it.expression);
        // Synapse's default attach path for XML is `.` (the envelope: nothing to attach to)
        let attach = match &it.attach_path {
            Some(a) if it.preserve_payload => Some(xml_sel(c, a)?),
            None if it.preserve_payload => {
                c.err(
                    codes::E0351,
                    it.expression.span,
                    "<iterate preservePayload=\"true\"> over XML needs `attachPath=` (the \
                     element each part is added to)",
                );
                return None;
            }
            _ => None,
        };
        Split::Xml {
            path: path?,
            attach,
        }
    };
    let target = eip_target(c, blocks, &it.target, span)?;
    Some(IterateOp {
        id: it.id.as_ref().map(|s| s.value.clone()),
        split,
        expr: expr?,
        preserve_payload: it.preserve_payload,
        sequential: it.sequential,
        continue_parent: it.continue_parent,
        target,
    })
}

fn json_path(c: &mut Compiler<'_>, e: &ast::Expr) -> Option<JPath> {
    let inner = jpath::json_eval_inner(&e.text).unwrap_or(e.text.trim());
    match jpath::parse_wildcards(inner) {
        Ok(p) => Some(p),
        Err(why) => {
            c.err(
                codes::E0351,
                e.span,
                format!(
                    "`{}`: synaptic splits and attaches JSON by a path of names, indexes and \
                     `[*]` ({why})",
                    e.text
                ),
            );
            None
        }
    }
}

fn xml_sel(c: &mut Compiler<'_>, e: &ast::Expr) -> Option<XmlSel> {
    match crate::mediators::func_param_name(e) {
        Some(name) => Some(XmlSel::Func(name.to_string())),
        None => xml_path(c, e).map(XmlSel::Path),
    }
}

fn xml_path(c: &mut Compiler<'_>, e: &ast::Expr) -> Option<xsel::Path> {
    match xsel::parse(&e.text, &e.namespaces) {
        Ok(p) => Some(p),
        Err(why) => {
            c.err(
                codes::E0351,
                e.span,
                format!(
                    "`{}`: synaptic selects the parts by a location path (names, `//`, `*`, \
                     predicates; {why})",
                    e.text
                ),
            );
            None
        }
    }
}

pub(crate) fn exprs(op: &IterateOp, f: &mut dyn FnMut(&CompiledExpr)) {
    f(&op.expr);
}

fn fault(msg: impl Into<String>) -> MediationError {
    MediationError::internal(ErrorKind::Fault, msg)
}

pub(crate) fn run(
    engine: &Engine,
    op: &IterateOp,
    ctx: &mut MessageContext,
) -> Result<Step, MediationError> {
    let bodies: Vec<Payload> = match &op.split {
        Split::Xml { path, attach } => {
            let attach = match attach {
                Some(a) => a.resolve(ctx)?,
                None => None,
            };
            match path.resolve(ctx)? {
                Some(path) => split_xml(ctx, &path, attach.as_deref())?,
                None => Vec::new(),
            }
        }
        Split::Json { path, attach } => split_json(ctx, path, attach.as_ref(), op)?,
    };
    let limit = engine.limits.max_branches as usize;
    if bodies.len() > limit {
        return Err(MediationError::internal(
            ErrorKind::Limit,
            format!(
                "<iterate> would make {} branches, more than the limit of {limit}",
                bodies.len()
            ),
        ));
    }
    let (fork, correlation) = new_fork(ctx);
    let count = bodies.len();
    let ct = ctx.content_type.clone();
    let branches = bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let mut b = ctx.fork_child();
            b.set_payload(body, ct.clone());
            mark_branch(&mut b, fork, &correlation, op.id.as_deref(), i, count);
            op.target.apply(&mut b);
            Branch {
                ctx: b,
                target: op.target.run,
            }
        })
        .collect();
    Ok(Step::Fork(Box::new(Fork {
        id: fork,
        branches,
        sequential: op.sequential,
        continue_parent: op.continue_parent,
    })))
}

fn envelope(ctx: &MessageContext) -> Envelope {
    xsel::envelope_of(&ctx.payload)
}

fn split_xml(
    ctx: &MessageContext,
    path: &xsel::Path,
    attach: Option<&xsel::Path>,
) -> Result<Vec<Payload>, MediationError> {
    let mut env = envelope(ctx);
    let mut parts: Vec<(Part, Vec<usize>)> = Vec::new();
    for n in xsel::select(path, &env) {
        match n {
            NodeRef::Elem(p, at) => parts.push((p, at)),
            _ => {
                return Err(fault(
                    "Error splitting message with XPath: result not an element",
                ))
            }
        }
    }
    let elements: Vec<Element> = parts
        .iter()
        .filter_map(|(p, at)| xsel::element(&env, *p, at).cloned())
        .collect();
    // detach the parts (deepest and last first, so the other paths stay valid)
    let mut order: Vec<&(Part, Vec<usize>)> = parts.iter().collect();
    order.sort_by(|a, b| b.1.cmp(&a.1));
    for (p, at) in order {
        xsel::detach(&mut env, *p, at);
    }
    if attach.is_none() {
        env.body.clear();
    }
    let mut out = Vec::with_capacity(elements.len());
    for e in elements {
        let mut m = env.clone();
        match attach {
            Some(a) => {
                let target = xsel::select(a, &m).into_iter().find_map(|n| match n {
                    NodeRef::Elem(p, at) => Some((p, at)),
                    _ => None,
                });
                let Some(parent) = target.and_then(|(p, at)| xsel::element_mut(&mut m, p, &at))
                else {
                    return Err(fault(
                        "Error in attaching the splitted elements: the attach path selects no \
                         element",
                    ));
                };
                parent.push(e);
            }
            None => m.body.push(e),
        }
        out.push(Payload::Xml(m));
    }
    Ok(out)
}

fn json_doc(ctx: &MessageContext) -> Result<Json, MediationError> {
    match &ctx.payload {
        Payload::Json(j) => Ok(j.clone()),
        other => synaptic_payload::to_json(other)
            .ok_or_else(|| fault("the message has no JSON payload to iterate over")),
    }
}

fn split_json(
    ctx: &MessageContext,
    path: &JPath,
    attach: Option<&JPath>,
    op: &IterateOp,
) -> Result<Vec<Payload>, MediationError> {
    let root = json_doc(ctx)?;
    let items: Vec<Json> = if path.has_wildcard() {
        path.matches(&root)
            .iter()
            .filter_map(|p| p.read(&root).ok().cloned())
            .collect()
    } else {
        match path.read(&root) {
            Ok(Json::Array(a)) => a.clone(),
            _ => {
                return Err(fault(format!(
                    "JSON element expressed by the path {} is not a valid JSON array that can \
                     be iterated",
                    op.expr.text
                )))
            }
        }
    };
    let Some(attach) = attach.filter(|_| op.preserve_payload) else {
        return Ok(items.into_iter().map(Payload::Json).collect());
    };
    // the iterated array is emptied in the kept payload (unless each member replaces it)
    let mut base = root;
    if attach != path && !path.has_wildcard() {
        let _ = path.set(&mut base, Json::Array(Vec::new()));
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let mut m = base.clone();
        match attach.set(&mut m, item) {
            Ok(true) => {}
            _ => {
                return Err(fault(
                    "Error in attaching the splitted elements: the attach path selects nothing",
                ))
            }
        }
        out.push(Payload::Json(m));
    }
    Ok(out)
}
