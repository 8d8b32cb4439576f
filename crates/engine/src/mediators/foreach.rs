//! `<foreach>`: run a sequence on each element of a collection. The elements are taken here
//! ([`run`] returns a [`Loop`] as a [`crate::exec::Step`]); the interpreter runs the sequence
//! on them and gives each result back ([`InPlace::collect`], [`Copies`]); the results are
//! merged here ([`InPlace::finish`], [`Copies::finish`]) (ADR 0472).
//!
//! Synapse's form (`expression=`), as its `ForEachMediator`: the elements an XPath selects are
//! detached; each in turn becomes the body of a fresh envelope of the message, in the same
//! message context (properties set in the sequence stay), and the mediated body's first
//! element is appended to the parent of the first selected element. With `json-eval(…)`, each
//! member of the selected array becomes the body and the results replace the array.
//! `[id_]FOREACH_COUNTER` counts the elements done; `[id_]FOREACH_ORIGINAL_MESSAGE` holds the
//! message as it was. A `<drop/>` in the sequence ends the loop (the flow goes on).
//!
//! Micro Integrator 4.4's form (`collection=`), as its `ForEachMediatorV2`: each element goes
//! to the sequence in its own copy of the message (which may call out); the results, in the
//! collection's order, replace the collection (`update-original`) or go to `target-variable`
//! as a JSON array or an XML element. With `continue-without-aggregation="true"` the copies
//! run on their own (handed to the host, ADR 0497) and the message goes on at once, unchanged.

use crate::compiler::Compiler;
use crate::eip::BranchTarget;
use crate::exec::Step;
use crate::jpath::{self, JPath};
use crate::mediators::{block, Node, Op};
use crate::xsel::{self, NodeRef, Part};
use crate::{Engine, ErrorKind, MediationError, MessageContext};
use serde_json::Value as Json;
use synaptic_diag::{codes, Span};
use synaptic_expr::{CompiledExpr, Dialect, Value};
use synaptic_payload::{Element, Envelope, Payload};
use synaptic_syntax::ast;

/// Synapse's property names (prefixed with `id_` when the mediator has an id).
pub(crate) const FOREACH_COUNTER: &str = "FOREACH_COUNTER";
pub(crate) const FOREACH_ORIGINAL_MESSAGE: &str = "FOREACH_ORIGINAL_MESSAGE";

/// Where the elements are.
#[derive(Clone, Debug)]
pub(crate) enum Select {
    /// Elements an XPath selects in the message.
    Xml(xsel::Path),
    /// Members of the JSON array at a path of the payload.
    Json(JPath),
    /// Members of the JSON array at a path of a variable (Micro Integrator's `${vars.x…}`).
    VarJson(String, JPath),
}

/// How Micro Integrator's form gathers its results.
#[derive(Clone, Debug)]
pub(crate) enum Gather {
    /// `update-original="true"`: the results replace the collection.
    UpdateOriginal,
    /// Into a variable, as a JSON array.
    VarJson(String),
    /// Into a variable, as an XML element enclosing the results.
    VarXml { var: String, enclosing: String },
    /// `continue-without-aggregation="true"`: the copies run detached, nothing comes back.
    None,
}

#[derive(Clone, Debug)]
pub(crate) struct Collection {
    pub parallel: bool,
    pub gather: Gather,
    pub counter_variable: Option<String>,
}

#[derive(Debug)]
pub(crate) struct ForeachOp {
    pub id: Option<String>,
    pub select: Select,
    pub body: BranchTarget,
    /// `continueLoopOnFailure` (Synapse's form).
    pub continue_on_failure: bool,
    /// Micro Integrator's form; `None` for Synapse's.
    pub collection: Option<Collection>,
    /// The expression as compiled by `expr` (Synapse's form: checked, and read as a body use).
    pub expr: Option<CompiledExpr>,
}

pub(crate) fn compile(
    c: &mut Compiler<'_>,
    blocks: &mut Vec<Vec<Node>>,
    f: &ast::Foreach,
    span: Span,
) -> Option<ForeachOp> {
    let mut expr = None;
    let select = match (&f.expression, &f.collection) {
        (Some(e), _) => {
            expr = Some(c.expr(e, Dialect::XPath)?);
            classic_select(c, e)?
        }
        (None, Some(e)) => collection_select(c, e)?,
        (None, None) => return None,
    };
    let body = match (&f.sequence, &f.sequence_key) {
        (Some(ms), _) => BranchTarget::Block(block(c, blocks, ms)),
        (None, Some(k)) => {
            let s = c.resolve_seq_lazy(
                k,
                crate::compiler::Unresolved::Fault(format!(
                    "Couldn't find the sequence named : {}",
                    k.value
                )),
            )?;
            if f.collection.is_none() {
                // checked once every sequence is compiled (E0353)
                c.foreach_refs.push((s, k.span));
            }
            BranchTarget::Seq(s)
        }
        (None, None) => return None,
    };
    let collection = f.collection.as_ref().map(|_| Collection {
        parallel: f.parallel,
        counter_variable: f.counter_variable.as_ref().map(|v| v.value.clone()),
        gather: if f.continue_without_aggregation {
            Gather::None
        } else if f.update_original {
            Gather::UpdateOriginal
        } else {
            let var = f
                .target_variable
                .as_ref()
                .map(|v| v.value.trim().to_string())
                .unwrap_or_default();
            let xml = f
                .result_content_type
                .as_ref()
                .is_some_and(|t| t.value.trim().eq_ignore_ascii_case("XML"));
            match f.result_enclosing_element.as_ref() {
                Some(e) if xml => Gather::VarXml {
                    var,
                    enclosing: e.value.trim().to_string(),
                },
                _ => Gather::VarJson(var),
            }
        },
    });
    let _ = span;
    if f.collection.is_none() {
        // the properties this foreach sets, for the never-set check (W0201)
        let prefix =
            f.id.as_ref()
                .map(|i| format!("{}_", i.value))
                .unwrap_or_default();
        for name in [FOREACH_COUNTER, FOREACH_ORIGINAL_MESSAGE] {
            c.set_names.insert(format!("{prefix}{name}"));
        }
    }
    Some(ForeachOp {
        id: f.id.as_ref().map(|s| s.value.clone()),
        select,
        body,
        continue_on_failure: f.continue_on_failure,
        collection,
        expr,
    })
}

fn classic_select(c: &mut Compiler<'_>, e: &ast::Expr) -> Option<Select> {
    if let Some(inner) = jpath::json_eval_inner(&e.text) {
        return json_path(c, e, inner).map(Select::Json);
    }
    match xsel::parse(&e.text, &e.namespaces) {
        Ok(p) => Some(Select::Xml(p)),
        Err(why) => {
            c.err(
                codes::E0351,
                e.span,
                format!(
                    "`{}`: synaptic selects the elements by a location path (names, `//`, `*`, \
                     predicates; {why})",
                    e.text
                ),
            );
            None
        }
    }
}

fn json_path(c: &mut Compiler<'_>, e: &ast::Expr, path: &str) -> Option<JPath> {
    match jpath::parse(path) {
        Ok(p) => {
            c.jsonpath_warnings(e);
            Some(p)
        }
        Err(why) => {
            c.err(
                codes::E0351,
                e.span,
                format!(
                    "`{}`: synaptic takes the array at a path of names and indexes ({why})",
                    e.text
                ),
            );
            None
        }
    }
}

/// `${payload}`, `${payload.a.b}`, `${vars.name.a}`, `${xpath('…')}`.
fn collection_select(c: &mut Compiler<'_>, e: &ast::Expr) -> Option<Select> {
    let bad = |c: &mut Compiler<'_>| {
        c.err(
            codes::E0351,
            e.span,
            format!(
                "`{}`: synaptic iterates a collection written `${{payload…}}`, `${{vars.name…}}` \
                 or `${{xpath('…')}}`",
                e.text
            ),
        );
        None
    };
    let t = e.text.trim();
    let Some(inner) = t.strip_prefix("${").and_then(|r| r.strip_suffix('}')) else {
        return bad(c);
    };
    let inner = inner.trim();
    if let Some(rest) = inner.strip_prefix("payload") {
        if rest.is_empty() || rest.starts_with('.') || rest.starts_with('[') {
            return json_path(c, e, &format!("${rest}")).map(Select::Json);
        }
    }
    if let Some(rest) = inner.strip_prefix("vars.") {
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        let (name, path) = rest.split_at(end);
        if !name.is_empty() {
            return json_path(c, e, &format!("${path}"))
                .map(|p| Select::VarJson(name.to_string(), p));
        }
    }
    if let Some(arg) = inner
        .strip_prefix("xpath(")
        .and_then(|r| r.trim().strip_suffix(')'))
    {
        let arg = arg.trim();
        let unquoted = arg
            .strip_prefix('\'')
            .and_then(|a| a.strip_suffix('\''))
            .or_else(|| arg.strip_prefix('"').and_then(|a| a.strip_suffix('"')));
        if let Some(x) = unquoted {
            return match xsel::parse(x, &e.namespaces) {
                Ok(p) => Some(Select::Xml(p)),
                Err(why) => {
                    c.err(
                        codes::E0351,
                        e.span,
                        format!("`{}`: synaptic selects by a location path ({why})", e.text),
                    );
                    None
                }
            };
        }
    }
    bad(c)
}

/// E0353 for a Synapse `<foreach sequence="key">` whose sequence calls out (what Synapse
/// checks when it runs it), once every sequence is compiled.
pub(crate) fn check_refs(c: &mut Compiler<'_>, ir: &crate::compile::Ir) {
    for (s, span) in std::mem::take(&mut c.foreach_refs) {
        let Some(seq) = ir.seqs.get(s as usize) else {
            continue;
        };
        let Some(nodes) = ir.blocks.get(seq.body as usize) else {
            continue;
        };
        if let Some(name) = nodes.iter().find_map(|n| leaves_flow(&n.op)) {
            c.err(
                codes::E0353,
                span,
                format!(
                    "sequence `{}` has a <{name}>: Synapse refuses call, send and callout in a \
                     <foreach> sequence (the elements are mediated in place)",
                    seq.name
                ),
            );
        }
    }
}

fn leaves_flow(op: &Op) -> Option<&'static str> {
    match op {
        Op::Call(_) => Some("call"),
        Op::Send(_) => Some("send"),
        Op::Callout(_) => Some("callout"),
        _ => None,
    }
}

pub(crate) fn exprs(op: &ForeachOp, f: &mut dyn FnMut(&CompiledExpr)) {
    if let Some(e) = &op.expr {
        f(e);
    }
}

fn fault(msg: impl Into<String>) -> MediationError {
    MediationError::internal(ErrorKind::Fault, msg)
}

/// What the interpreter runs: the sequence on each element.
pub(crate) struct Loop {
    pub body: BranchTarget,
    /// A fault in the sequence (and a `drop`) goes on with the next element.
    pub continue_on_failure: bool,
    pub kind: LoopKind,
}

pub(crate) enum LoopKind {
    InPlace(InPlace),
    Copies(Copies),
}

pub(crate) fn run(
    engine: &Engine,
    op: &ForeachOp,
    ctx: &mut MessageContext,
) -> Result<Step, MediationError> {
    ctx.ensure_built()?;
    let limit = engine.limits.max_branches as usize;
    let kind = match &op.collection {
        None => LoopKind::InPlace(InPlace::start(op, ctx, limit)?),
        Some(col) => LoopKind::Copies(Copies::start(op, col, ctx, limit)?),
    };
    Ok(Step::Foreach(Box::new(Loop {
        body: op.body,
        continue_on_failure: op.continue_on_failure,
        kind,
    })))
}

fn over_limit(n: usize, limit: usize) -> Result<(), MediationError> {
    if n > limit {
        return Err(MediationError::internal(
            ErrorKind::Limit,
            format!("<foreach> has {n} elements, more than the limit of {limit}"),
        ));
    }
    Ok(())
}

/// Where the results go back in an envelope: a part's list, or an element's children.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ParentAt {
    pub part: Part,
    /// Empty: the part's list itself.
    pub path: Vec<usize>,
}

/// Detach the elements `path` selects from `env`: the elements, in document order, and where
/// the first one's parent is once they are gone.
pub(crate) fn detach_all(
    env: &mut Envelope,
    path: &xsel::Path,
) -> Result<(Vec<Element>, Option<ParentAt>), MediationError> {
    let mut parts: Vec<(Part, Vec<usize>)> = Vec::new();
    for n in xsel::select(path, env) {
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
        .filter_map(|(p, at)| xsel::element(env, *p, at).cloned())
        .collect();
    let mut parent = parts.first().map(|(p, at)| ParentAt {
        part: *p,
        path: at[..at.len().saturating_sub(1)].to_vec(),
    });
    // the first parent's address once the earlier siblings of its ancestors are detached
    if let Some(par) = parent.as_mut() {
        let orig = par.path.clone();
        for (p, at) in &parts {
            let Some((last, up)) = at.split_last() else {
                continue;
            };
            if *p == par.part
                && up.len() < orig.len()
                && orig.starts_with(up)
                && *last < orig[up.len()]
            {
                par.path[up.len()] -= 1;
            }
        }
    }
    let mut order: Vec<&(Part, Vec<usize>)> = parts.iter().collect();
    order.sort_by(|a, b| b.1.cmp(&a.1));
    for (p, at) in order {
        xsel::detach(env, *p, at);
    }
    Ok((elements, parent))
}

/// Append `e` under `at` in `env`.
pub(crate) fn attach(env: &mut Envelope, at: &ParentAt, e: Element) -> Result<(), MediationError> {
    if at.path.is_empty() {
        match at.part {
            Part::Header => env.header.push(e),
            Part::Body => env.body.push(e),
        }
        return Ok(());
    }
    match xsel::element_mut(env, at.part, &at.path) {
        Some(p) => {
            p.push(e);
            Ok(())
        }
        None => Err(fault("Error detecting parent element to merge")),
    }
}

fn json_of(payload: &Payload) -> Option<Json> {
    synaptic_payload::to_json(payload)
}

fn array_at(root: &Json, path: &JPath, what: &str) -> Result<Vec<Json>, MediationError> {
    match path.read(root) {
        Ok(Json::Array(a)) => Ok(a.clone()),
        _ => Err(fault(format!(
            "JSON element expressed by the path {what} is not a valid JSON array"
        ))),
    }
}

/// The array a Micro Integrator collection names (its error as Micro Integrator words it).
fn collection_at(root: &Json, path: &JPath) -> Result<Vec<Json>, MediationError> {
    match path.read(root) {
        Ok(Json::Array(a)) => Ok(a.clone()),
        _ => Err(fault(
            "Expression of the foreach collection did not resolve to a valid array",
        )),
    }
}

/// Synapse's form: the message's own elements, mediated one after another.
pub(crate) struct InPlace {
    counter_name: String,
    state: InPlaceState,
    ct: Option<String>,
    count: usize,
    done: usize,
}

enum InPlaceState {
    Xml {
        /// The envelope without the elements.
        env: Envelope,
        parent: Option<ParentAt>,
        elements: Vec<Option<Element>>,
    },
    Json {
        root: Json,
        path: JPath,
        items: Vec<Option<Json>>,
        results: Vec<Json>,
    },
}

impl InPlace {
    pub(crate) fn start(
        op: &ForeachOp,
        ctx: &mut MessageContext,
        limit: usize,
    ) -> Result<InPlace, MediationError> {
        let prefix = op.id.as_ref().map(|i| format!("{i}_")).unwrap_or_default();
        let counter_name = format!("{prefix}{FOREACH_COUNTER}");
        let original = match &ctx.payload {
            Payload::Json(j) => Value::Json(j.clone()),
            other => {
                let env = xsel::envelope_of(other);
                Value::Xml(env.to_xml_as(env.version))
            }
        };
        let d = &mut ctx.properties.default;
        d.insert(format!("{prefix}{FOREACH_ORIGINAL_MESSAGE}"), original);
        d.insert(counter_name.clone(), Value::Integer(0));
        let ct = ctx.content_type.clone();
        let state = match &op.select {
            Select::Xml(path) => {
                let mut env = xsel::envelope_of(&ctx.payload);
                let (elements, parent) = detach_all(&mut env, path)?;
                over_limit(elements.len(), limit)?;
                InPlaceState::Xml {
                    env,
                    parent,
                    elements: elements.into_iter().map(Some).collect(),
                }
            }
            Select::Json(path) | Select::VarJson(_, path) => {
                let root = json_of(&ctx.payload)
                    .ok_or_else(|| fault("the message has no JSON payload to iterate over"))?;
                let items = array_at(&root, path, &jpath_text(op))?;
                over_limit(items.len(), limit)?;
                InPlaceState::Json {
                    root,
                    path: path.clone(),
                    results: Vec::with_capacity(items.len()),
                    items: items.into_iter().map(Some).collect(),
                }
            }
        };
        let count = match &state {
            InPlaceState::Xml { elements, .. } => elements.len(),
            InPlaceState::Json { items, .. } => items.len(),
        };
        Ok(InPlace {
            counter_name,
            state,
            ct,
            count,
            done: 0,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// Make element `i` the message's body.
    pub(crate) fn enter(&mut self, i: usize, ctx: &mut MessageContext) {
        match &mut self.state {
            InPlaceState::Xml { env, elements, .. } => {
                let e = elements.get_mut(i).and_then(Option::take);
                let body = Envelope {
                    version: env.version,
                    header: Vec::new(),
                    body: e.into_iter().collect(),
                };
                ctx.set_payload(Payload::Xml(body), self.ct.clone());
            }
            InPlaceState::Json { items, .. } => {
                let j = items
                    .get_mut(i)
                    .and_then(Option::take)
                    .unwrap_or(Json::Null);
                ctx.set_payload(Payload::Json(j), Some("application/json".into()));
            }
        }
    }

    /// Take the mediated body of the current element back, and count it.
    pub(crate) fn collect(&mut self, ctx: &mut MessageContext) -> Result<(), MediationError> {
        ctx.ensure_built()?;
        match &mut self.state {
            InPlaceState::Xml { env, parent, .. } => {
                let first = xsel::envelope_of(&ctx.payload).body.into_iter().next();
                if let (Some(e), Some(at)) = (first, parent.as_ref()) {
                    attach(env, at, e)?;
                }
            }
            InPlaceState::Json { results, .. } => {
                results.push(json_of(&ctx.payload).unwrap_or(Json::Null));
            }
        }
        self.done += 1;
        ctx.properties
            .default
            .insert(self.counter_name.clone(), Value::Integer(self.done as i64));
        Ok(())
    }

    /// The sequence failed on the current element (`continueLoopOnFailure`): as Synapse, an
    /// XML element goes back as the fault left it and is counted; a JSON member is left out.
    pub(crate) fn failed(&mut self, ctx: &mut MessageContext) -> Result<(), MediationError> {
        match self.state {
            InPlaceState::Xml { .. } => self.collect(ctx),
            InPlaceState::Json { .. } => Ok(()),
        }
    }

    /// The merged message: the envelope with the results where the elements were, or the
    /// JSON payload with the results for the array.
    pub(crate) fn finish(self, ctx: &mut MessageContext) -> Result<(), MediationError> {
        match self.state {
            InPlaceState::Xml { env, .. } => {
                ctx.set_payload(Payload::Xml(env), self.ct);
            }
            InPlaceState::Json {
                mut root,
                path,
                results,
                ..
            } => {
                if path.segs.is_empty() {
                    root = Json::Array(results);
                } else if path.set(&mut root, Json::Array(results)).is_err() {
                    return Err(fault(
                        "Error updating the json stream after foreach transformation",
                    ));
                }
                ctx.set_payload(Payload::Json(root), Some("application/json".into()));
            }
        }
        Ok(())
    }
}

fn jpath_text(op: &ForeachOp) -> String {
    op.expr
        .as_ref()
        .map(|e| e.text.clone())
        .unwrap_or_else(|| "of the collection".into())
}

/// Micro Integrator's form: one copy of the message per element.
pub(crate) struct Copies {
    pub parallel: bool,
    pub branches: Vec<MessageContext>,
    select: Select,
    gather: Gather,
}

impl Copies {
    pub(crate) fn start(
        op: &ForeachOp,
        col: &Collection,
        ctx: &mut MessageContext,
        limit: usize,
    ) -> Result<Copies, MediationError> {
        let ct = ctx.content_type.clone();
        let bodies: Vec<Payload> = match &op.select {
            Select::Xml(path) => {
                let env = xsel::envelope_of(&ctx.payload);
                let version = env.version;
                let mut out = Vec::new();
                for n in xsel::select(path, &env) {
                    let NodeRef::Elem(p, at) = n else {
                        return Err(fault(
                            "Expression did not resolve to a valid array (not elements)",
                        ));
                    };
                    if let Some(e) = xsel::element(&env, p, &at) {
                        out.push(Payload::Xml(Envelope {
                            version,
                            header: Vec::new(),
                            body: vec![e.clone()],
                        }));
                    }
                }
                out
            }
            Select::Json(path) => {
                let root = json_of(&ctx.payload).unwrap_or(Json::Null);
                collection_at(&root, path)?
                    .into_iter()
                    .map(Payload::Json)
                    .collect()
            }
            Select::VarJson(name, path) => {
                let root = var_json(ctx, name).unwrap_or(Json::Null);
                collection_at(&root, path)?
                    .into_iter()
                    .map(Payload::Json)
                    .collect()
            }
        };
        over_limit(bodies.len(), limit)?;
        let branches = bodies
            .into_iter()
            .enumerate()
            .map(|(i, body)| {
                let mut b = ctx.fork_child();
                let bct = match &body {
                    Payload::Json(_) => Some("application/json".to_string()),
                    _ => ct.clone(),
                };
                b.set_payload(body, bct);
                if let (false, Some(v)) = (col.parallel, &col.counter_variable) {
                    b.st.variables.insert(v.clone(), Value::Integer(i as i64));
                }
                b.st.fork_depth += 1;
                b
            })
            .collect();
        Ok(Copies {
            parallel: col.parallel,
            branches,
            select: op.select.clone(),
            gather: col.gather.clone(),
        })
    }

    /// Merge the results (by element index; `None` for an element whose sequence dropped or
    /// answered) into the original message.
    pub(crate) fn finish(
        select: &Select,
        gather: &Gather,
        results: Vec<Option<MessageContext>>,
        ctx: &mut MessageContext,
    ) -> Result<(), MediationError> {
        // an empty collection: Micro Integrator goes on without aggregating
        if results.is_empty() {
            return Ok(());
        }
        match gather {
            Gather::None => Ok(()),
            Gather::VarJson(var) => {
                let arr = results
                    .iter()
                    .map(|r| {
                        r.as_ref()
                            .and_then(|m| json_of(&m.payload))
                            .unwrap_or(Json::Null)
                    })
                    .collect();
                ctx.st
                    .variables
                    .insert(var.clone(), Value::Json(Json::Array(arr)));
                Ok(())
            }
            Gather::VarXml { var, enclosing } => {
                let mut root = Element::local(enclosing.clone());
                for m in results.iter().flatten() {
                    if let Some(e) = xsel::envelope_of(&m.payload).body.into_iter().next() {
                        root.push(e);
                    }
                }
                ctx.st
                    .variables
                    .insert(var.clone(), Value::Xml(root.to_xml()));
                Ok(())
            }
            Gather::UpdateOriginal => match select {
                Select::Xml(path) => {
                    let mut env = xsel::envelope_of(&ctx.payload);
                    let (old, parent) = detach_all(&mut env, path)?;
                    let Some(at) = parent else { return Ok(()) };
                    for (i, orig) in old.into_iter().enumerate() {
                        let e = results
                            .get(i)
                            .and_then(Option::as_ref)
                            .and_then(|m| xsel::envelope_of(&m.payload).body.into_iter().next())
                            .unwrap_or(orig);
                        attach(&mut env, &at, e)?;
                    }
                    let ct = ctx.content_type.clone();
                    ctx.set_payload(Payload::Xml(env), ct);
                    Ok(())
                }
                Select::Json(path) => {
                    let mut root = json_of(&ctx.payload).unwrap_or(Json::Null);
                    let arr = merged(&root, path, &results)?;
                    set_at(&mut root, path, arr)?;
                    ctx.set_payload(Payload::Json(root), Some("application/json".into()));
                    Ok(())
                }
                Select::VarJson(name, path) => {
                    let mut root = var_json(ctx, name).unwrap_or(Json::Null);
                    let arr = merged(&root, path, &results)?;
                    set_at(&mut root, path, arr)?;
                    ctx.st.variables.insert(name.clone(), Value::Json(root));
                    Ok(())
                }
            },
        }
    }

    pub(crate) fn plan(self) -> (bool, Vec<MessageContext>, Select, Gather) {
        (self.parallel, self.branches, self.select, self.gather)
    }
}

/// The array at `path` with each element replaced by its result (kept when it has none).
fn merged(
    root: &Json,
    path: &JPath,
    results: &[Option<MessageContext>],
) -> Result<Json, MediationError> {
    let mut arr = collection_at(root, path)?;
    for (i, slot) in arr.iter_mut().enumerate() {
        if let Some(m) = results.get(i).and_then(Option::as_ref) {
            *slot = json_of(&m.payload).unwrap_or(Json::Null);
        }
    }
    Ok(Json::Array(arr))
}

fn set_at(root: &mut Json, path: &JPath, v: Json) -> Result<(), MediationError> {
    if path.segs.is_empty() {
        *root = v;
        return Ok(());
    }
    path.set(root, v)
        .map(|_| ())
        .map_err(|_| fault("Error updating the collection after foreach"))
}

fn var_json(ctx: &MessageContext, name: &str) -> Option<Json> {
    match ctx.st.variables.get(name)? {
        Value::Json(j) => Some(j.clone()),
        Value::String(s) | Value::Xml(s) => serde_json::from_str(s).ok(),
        _ => None,
    }
}
