//! The mediators, one module each: its compiled form, its compilation (AST → op, with semantic
//! diagnostics), its execution, and the expressions and registry keys it reads. Here: the
//! closed set of compiled mediators ([`Op`]), [`Node`] (an op with what the interpreter does
//! before it runs), and the one dispatch per phase over [`Op`].
//!
//! Adding a mediator: a module here (and its parser in `synaptic-syntax`'s `mediators/`), a
//! variant of [`Op`], and one line in each `match` of this file.

mod aggregate;
mod cache;
mod call;
mod call_template;
mod callout;
mod clone;
mod dblookup;
mod dbreport;
mod direction;
mod drop;
mod enrich;
mod filter;
mod foreach;
mod header;
mod iterate;
mod log;
mod loopback;
mod makefault;
mod payload_factory;
mod property;
mod respond;
mod rewrite;
mod scatter_gather;
mod script;
mod send;
mod sequence;
mod store;
mod switch;
mod throttle;
mod validate;
mod variable;
mod xslt;

use crate::compiler::Compiler;
// what the interpreter runs for `foreach` and `scatter-gather`
use crate::exec::Step;
use crate::ir::BlockId;
use crate::{Engine, MediationError, MessageContext};
pub(crate) use foreach::{check_refs as check_foreach_refs, Copies, Gather, Loop, LoopKind};
pub(crate) use scatter_gather::{accepts, bounds, enough, gather, Scatter};
pub(crate) use sequence::{in_registry, RegistrySequence};
use std::collections::BTreeSet;
use synaptic_diag::{codes, Diagnostic, Span};
use synaptic_expr::synexpr::SynExpr;
use synaptic_expr::{CompiledExpr, Dialect};
use synaptic_syntax::ast;

/// One compiled mediator with what the interpreter must do before it runs.
#[derive(Debug)]
pub(crate) struct Node {
    pub op: Op,
    pub span: Span,
    /// Literal registry keys read by this mediator's expressions (prefetched).
    pub registry_keys: Box<[String]>,
    /// Whether one of its expressions needs the body built.
    pub touches_body: bool,
    /// The only body access is `json-eval($)`, which reads the raw JSON text when the body is
    /// unbuilt JSON (no DOM needed).
    pub raw_json_ok: bool,
    /// One of its expressions reads a WS-Addressing property (`get-property('To')`, …): a SOAP
    /// request's body is built first so the client's addressing headers are known.
    pub reads_addressing: bool,
    /// It never waits (its registry reads aside, which the interpreter may find in memory): the
    /// interpreter runs it in place, without a future of its own ([`run_now`]).
    pub sync: bool,
}

/// The closed set of compiled mediators: one variant per module.
#[derive(Debug)]
pub(crate) enum Op {
    Property(Box<property::PropertyOp>),
    Filter(filter::FilterOp),
    PayloadFactory(Box<payload_factory::PayloadFactoryOp>),
    Header(Box<header::HeaderOp>),
    Call(Box<call::CallOp>),
    Callout(Box<callout::CalloutOp>),
    CallTemplate(Box<call_template::CallTemplateOp>),
    Send(Box<send::SendOp>),
    Log(Box<log::LogOp>),
    Respond,
    Drop,
    Loopback,
    Sequence(sequence::SequenceOp),
    Switch(Box<switch::SwitchOp>),
    Enrich(Box<enrich::EnrichOp>),
    MakeFault(Box<makefault::MakeFaultOp>),
    Variable(Box<variable::VariableOp>),
    Validate(Box<validate::ValidateOp>),
    Rewrite(Box<rewrite::RewriteOp>),
    Script(Box<script::ScriptOp>),
    Xslt(Box<xslt::XsltOp>),
    Direction(direction::DirectionOp),
    Throttle(Box<throttle::ThrottleOp>),
    Cache(Box<cache::CacheOp>),
    Iterate(Box<iterate::IterateOp>),
    Clone(Box<clone::CloneOp>),
    Aggregate(Box<aggregate::AggregateOp>),
    Store(Box<store::StoreOp>),
    Foreach(Box<foreach::ForeachOp>),
    ScatterGather(Box<scatter_gather::ScatterGatherOp>),
    Dblookup(Box<crate::db::DbOp>),
    Dbreport(Box<crate::db::DbOp>),
}

/// The template parameters a `call-template` passed as `{{xpath}}`: name → the XPath (text and
/// namespaces, as written on the `<with-param>`).
pub(crate) type FuncPaths = std::sync::Arc<[(String, std::sync::Arc<ast::Expr>)]>;

/// The XPath a `$func:name` EIP expression stands for in the running template, as a location
/// path: `None` when the parameter was not passed as `{{xpath}}` (Synapse's variable is then
/// not a node set, and selects nothing).
pub(crate) fn func_path(
    ctx: &crate::MessageContext,
    name: &str,
) -> Result<Option<crate::xsel::Path>, crate::MediationError> {
    let Some(e) = ctx
        .st
        .func_paths
        .last()
        .and_then(|ps| ps.iter().find(|(n, _)| n == name).map(|(_, e)| e.clone()))
    else {
        return Ok(None);
    };
    crate::xsel::parse(&e.text, &e.namespaces)
        .map(Some)
        .map_err(|why| {
            crate::MediationError::internal(
                crate::ErrorKind::Fault,
                format!(
                    "`$func:{name}` is `{}`: synaptic selects parts by a location path \
                     (names, `//`, `*`, predicates; {why})",
                    e.text
                ),
            )
        })
}

/// `$func:name` written as a whole EIP expression: the parameter's name.
pub(crate) fn func_param_name(e: &ast::Expr) -> Option<&str> {
    let n = e.text.trim().strip_prefix("$func:")?;
    (!n.is_empty()
        && n.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.')))
    .then_some(n)
}

/// The body of a stand-in for a sequence no artifact defines.
pub(crate) fn sequence_stand_in(key: &str, u: crate::compiler::Unresolved) -> sequence::SequenceOp {
    sequence::SequenceOp::Unresolved(Box::new(sequence::Missing {
        key: key.to_string(),
        then: u,
    }))
}

/// Whether an op runs a script or a stylesheet (CPU work its message does not bound).
pub(crate) fn runs_script(op: &Op) -> bool {
    matches!(op, Op::Script(_) | Op::Xslt(_))
}

/// Compile a list of mediators into a new block.
pub(crate) fn block(
    c: &mut Compiler<'_>,
    blocks: &mut Vec<Vec<Node>>,
    ms: &[ast::Mediator],
) -> BlockId {
    let id = blocks.len() as BlockId;
    blocks.push(Vec::new());
    let mut nodes = Vec::with_capacity(ms.len());
    for m in ms {
        // mediators nest (as deep as the parser allows): the stack grows on the heap when
        // little is left, whatever the thread's stack size
        if let Some(n) = stacker::maybe_grow(256 * 1024, 2 * 1024 * 1024, || node(c, blocks, m)) {
            nodes.push(n);
        }
    }
    blocks[id as usize] = nodes;
    id
}

/// Compile one mediator, with what the interpreter must do before it runs.
pub(crate) fn node(
    c: &mut Compiler<'_>,
    blocks: &mut Vec<Vec<Node>>,
    m: &ast::Mediator,
) -> Option<Node> {
    let span = m.span;
    let op = match &m.kind {
        ast::MediatorKind::Property(p) => Op::Property(Box::new(c.property(p, span)?)),
        ast::MediatorKind::Filter(f) => Op::Filter(filter::compile(c, blocks, f)?),
        ast::MediatorKind::PayloadFactory(p) => Op::PayloadFactory(Box::new(c.payload_factory(p)?)),
        ast::MediatorKind::Header(h) => Op::Header(Box::new(c.header(h, span)?)),
        ast::MediatorKind::Call(x) => Op::Call(Box::new(call::compile(c, x)?)),
        ast::MediatorKind::Callout(x) => Op::Callout(Box::new(callout::compile(c, x)?)),
        ast::MediatorKind::CallTemplate(t) => {
            Op::CallTemplate(Box::new(call_template::compile(c, t)?))
        }
        ast::MediatorKind::Send(s) => Op::Send(Box::new(send::compile(c, s)?)),
        ast::MediatorKind::Log(l) => Op::Log(Box::new(c.log(l)?)),
        ast::MediatorKind::Respond => Op::Respond,
        ast::MediatorKind::Drop => Op::Drop,
        ast::MediatorKind::Loopback => Op::Loopback,
        ast::MediatorKind::SequenceRef(ast::SequenceKey::Static(name)) => {
            Op::Sequence(sequence::compile(c, name)?)
        }
        ast::MediatorKind::SequenceRef(ast::SequenceKey::Dynamic(e)) => {
            Op::Sequence(sequence::compile_dynamic(c, e)?)
        }
        ast::MediatorKind::Switch(s) => Op::Switch(Box::new(switch::compile(c, blocks, s)?)),
        ast::MediatorKind::Enrich(e) => Op::Enrich(Box::new(c.enrich(e)?)),
        ast::MediatorKind::MakeFault(f) => Op::MakeFault(Box::new(c.makefault(f)?)),
        ast::MediatorKind::Variable(v) => {
            let mut diags = Vec::new();
            let op = variable::compile(v, &mut diags, &mut |e| c.expr(e, Dialect::XPath));
            c.diags.extend(diags);
            Op::Variable(Box::new(op?))
        }
        ast::MediatorKind::Validate(v) => Op::Validate(Box::new(validate::compile(c, blocks, v)?)),
        ast::MediatorKind::Rewrite(r) => Op::Rewrite(Box::new(rewrite::compile(c, r)?)),
        ast::MediatorKind::Script(s) => Op::Script(Box::new(script::compile(c, s)?)),
        ast::MediatorKind::Xslt(x) => Op::Xslt(Box::new(xslt::compile(c, x)?)),
        ast::MediatorKind::Throttle(t) => {
            Op::Throttle(Box::new(throttle::compile(c, blocks, t, span)?))
        }
        ast::MediatorKind::Cache(x) => Op::Cache(Box::new(cache::compile(c, blocks, x, span)?)),
        ast::MediatorKind::Direction { dir, mediators } => {
            Op::Direction(direction::compile(c, blocks, *dir, mediators))
        }
        ast::MediatorKind::Iterate(i) => {
            Op::Iterate(Box::new(iterate::compile(c, blocks, i, span)?))
        }
        ast::MediatorKind::Clone(x) => Op::Clone(Box::new(clone::compile(c, blocks, x, span)?)),
        ast::MediatorKind::Aggregate(a) => {
            Op::Aggregate(Box::new(aggregate::compile(c, blocks, a)?))
        }
        ast::MediatorKind::Store(x) => Op::Store(Box::new(store::compile(c, blocks, x, span)?)),
        ast::MediatorKind::Foreach(f) => {
            Op::Foreach(Box::new(foreach::compile(c, blocks, f, span)?))
        }
        ast::MediatorKind::ScatterGather(s) => {
            Op::ScatterGather(Box::new(scatter_gather::compile(c, blocks, s)?))
        }
        ast::MediatorKind::DbLookup(m) => Op::Dblookup(Box::new(dblookup::compile(c, m)?)),
        ast::MediatorKind::DbReport(m) => Op::Dbreport(Box::new(dbreport::compile(c, m)?)),
        ast::MediatorKind::Unsupported { name } => {
            // The parser reports E0108; make sure no program contains it even if not.
            // at the element name, where the parser reports it too (so the two dedupe)
            let at = Span {
                source: span.source,
                start: span.start.saturating_add(1).min(span.end),
                end: span
                    .start
                    .saturating_add(1)
                    .saturating_add(name.len() as u32)
                    .min(span.end),
            };
            c.diags.push(Diagnostic::error(
                codes::E0108,
                at,
                format!("mediator <{name}> is not supported yet"),
            ));
            return None;
        }
    };
    let mut keys: BTreeSet<String> = BTreeSet::new();
    registry_keys(&op, &mut keys);
    let mut touches = false;
    let mut needs_dom = false;
    let mut reads_addressing = false;
    visit_exprs(&op, &mut |e| {
        keys.extend(e.registry_keys().iter().cloned());
        reads_addressing |= reads_addressing_of(e);
        if e.touches_body() {
            touches = true;
            let compact: String = e.text.chars().filter(|c| !c.is_whitespace()).collect();
            if compact != "json-eval($)" {
                needs_dom = true;
            }
        }
    });
    if crate::eval::meta(&syn_exprs(&op), &mut keys) {
        touches = true;
        needs_dom = true;
    }
    let sync = is_sync(&op);
    Some(Node {
        op,
        span,
        registry_keys: keys.into_iter().collect(),
        touches_body: touches,
        raw_json_ok: touches && !needs_dom,
        reads_addressing,
        sync,
    })
}

/// Whether `e` reads a WS-Addressing header of the message (`get-property('To')`…), which
/// builds a SOAP request first.
pub(crate) fn reads_addressing_of(e: &CompiledExpr) -> bool {
    e.property_reads().iter().any(|(sc, n)| {
        *sc == synaptic_expr::Scope::Default && header::ADDRESSING.contains(&n.as_str())
    })
}

/// Whether an op never waits (no registry write, no I/O): [`run_now`] runs it.
fn is_sync(op: &Op) -> bool {
    match op {
        Op::Property(p) => property::is_sync(p),
        Op::Filter(_)
        | Op::PayloadFactory(_)
        | Op::Header(_)
        | Op::CallTemplate(_)
        | Op::Log(_)
        | Op::Respond
        | Op::Drop
        | Op::Loopback
        | Op::Switch(_)
        | Op::Enrich(_)
        | Op::MakeFault(_)
        | Op::Variable(_)
        | Op::Rewrite(_)
        | Op::Script(_)
        | Op::Direction(_)
        | Op::Iterate(_)
        | Op::Clone(_)
        | Op::Aggregate(_)
        | Op::Foreach(_)
        | Op::ScatterGather(_) => true,
        Op::Call(_)
        | Op::Callout(_)
        | Op::Send(_)
        | Op::Sequence(_)
        | Op::Validate(_)
        | Op::Xslt(_)
        | Op::Throttle(_)
        | Op::Cache(_)
        | Op::Store(_)
        | Op::Dblookup(_)
        | Op::Dbreport(_) => false,
    }
}

/// Run a mediator that never waits ([`Node::sync`]) in place; `None` for one that may wait
/// (the caller runs [`run`] instead).
pub(crate) fn run_now(
    engine: &Engine,
    node: &Node,
    ctx: &mut MessageContext,
) -> Option<Result<Step, MediationError>> {
    let next = |r: Result<(), MediationError>| r.map(|_| Step::Next);
    Some(match &node.op {
        // a registry-scoped one waits for its write: never here
        Op::Property(p) if property::is_sync(p) => {
            property::property_now(engine, p, ctx).map(|_| Step::Next)
        }
        Op::Filter(f) => filter::run(engine, f, ctx),
        Op::PayloadFactory(p) => next(payload_factory::payload_factory(engine, p, ctx)),
        Op::Header(h) => next(header::header(engine, h, ctx)),
        Op::CallTemplate(t) => call_template::run(engine, t, ctx),
        Op::Log(l) => next(log::log(engine, l, ctx, node.span)),
        Op::Respond => Ok(respond::run(ctx)),
        Op::Drop => Ok(drop::run()),
        Op::Loopback => Ok(loopback::run(ctx)),
        Op::Switch(s) => switch::run(engine, s, ctx),
        Op::Enrich(e) => next(enrich::enrich(engine, e, ctx)),
        Op::MakeFault(m) => next(makefault::makefault(engine, m, ctx)),
        Op::Variable(v) => next(variable::run(engine, v, ctx)),
        Op::Rewrite(r) => next(rewrite::run(engine, r, ctx)),
        Op::Script(s) => script::run(engine, s, ctx, node.span),
        Op::Direction(d) => Ok(direction::run(d, ctx)),
        Op::Iterate(i) => iterate::run(engine, i, ctx),
        Op::Clone(c) => clone::run(engine, c, ctx),
        Op::Aggregate(a) => aggregate::run(engine, a, ctx, node.span),
        Op::Foreach(f) => foreach::run(engine, f, ctx),
        Op::ScatterGather(s) => scatter_gather::run(engine, s, ctx),
        // they may wait: [`run`]
        Op::Property(_)
        | Op::Call(_)
        | Op::Callout(_)
        | Op::Send(_)
        | Op::Sequence(_)
        | Op::Validate(_)
        | Op::Xslt(_)
        | Op::Throttle(_)
        | Op::Cache(_)
        | Op::Store(_)
        | Op::Dblookup(_)
        | Op::Dbreport(_) => return None,
    })
}

/// Run one mediator (its registry reads fetched and the body built when it needs them).
pub(crate) async fn run(
    engine: &Engine,
    node: &Node,
    ctx: &mut MessageContext,
) -> Result<Step, MediationError> {
    let next = |r: Result<(), MediationError>| r.map(|_| Step::Next);
    match &node.op {
        Op::Property(p) if !property::is_sync(p) => next(property::property(engine, p, ctx).await),
        Op::Call(c) => call::run(engine, c, ctx).await,
        Op::Callout(c) => callout::run(engine, c, ctx).await,
        Op::Send(s) => send::run(engine, s, ctx).await,
        Op::Sequence(s) => sequence::run(engine, s, ctx).await,
        Op::Validate(v) => validate::run(engine, v, ctx, node.span).await,
        Op::Xslt(x) => next(xslt::run(engine, x, ctx, node.span).await),
        Op::Throttle(t) => throttle::run(engine, t, ctx).await,
        Op::Cache(x) => cache::run(engine, x, ctx).await,
        Op::Store(s) => store::run(engine, s, ctx).await,
        Op::Dblookup(d) => next(dblookup::run(engine, d, ctx, node.span).await),
        Op::Dbreport(d) => next(dbreport::run(engine, d, ctx, node.span).await),
        // the others never wait: [`run_now`]'s exhaustive match runs each of them
        _ => run_now(engine, node, ctx).unwrap_or_else(|| {
            Err(MediationError::internal(
                crate::ErrorKind::Limit,
                "a mediator that may wait reached the in-place runner",
            )
            .at(node.span))
        }),
    }
}

/// Every expression of an op (not descending into blocks).
pub(crate) fn visit_exprs(op: &Op, f: &mut dyn FnMut(&CompiledExpr)) {
    match op {
        Op::Property(p) => property::exprs(p, f),
        Op::Filter(x) => filter::exprs(x, f),
        Op::PayloadFactory(p) => payload_factory::exprs(p, f),
        Op::Header(h) => header::exprs(h, f),
        Op::Call(_) => {}
        Op::Callout(_) => {}
        Op::CallTemplate(t) => call_template::exprs(t, f),
        Op::Send(_) => {}
        Op::Log(l) => log::exprs(l, f),
        Op::Respond => {}
        Op::Drop => {}
        Op::Loopback => {}
        Op::Sequence(s) => sequence::exprs(s, f),
        Op::Switch(s) => switch::exprs(s, f),
        Op::Enrich(e) => enrich::exprs(e, f),
        Op::MakeFault(m) => makefault::exprs(m, f),
        Op::Variable(v) => variable::exprs(v, f),
        Op::Validate(v) => validate::exprs(v, f),
        Op::Rewrite(r) => rewrite::exprs(r, f),
        Op::Script(s) => script::exprs(s, f),
        Op::Xslt(x) => xslt::exprs(x, f),
        Op::Direction(_) => {}
        Op::Throttle(_) => {}
        Op::Cache(_) => {}
        Op::Iterate(i) => iterate::exprs(i, f),
        Op::Clone(_) => {}
        Op::Aggregate(a) => aggregate::exprs(a, f),
        Op::Store(s) => store::exprs(s, f),
        Op::Foreach(x) => foreach::exprs(x, f),
        // evaluated on the copies, not on this message
        Op::ScatterGather(_) => {}
        Op::Dblookup(d) => dblookup::exprs(d, f),
        Op::Dbreport(d) => dbreport::exprs(d, f),
    }
}

/// Every Synapse Expression (`${…}`) of an op (not descending into blocks).
pub(crate) fn syn_exprs(op: &Op) -> Vec<&SynExpr> {
    let mut out = Vec::new();
    match op {
        Op::Property(p) => property::syn_exprs(p, &mut out),
        Op::Filter(f) => filter::syn_exprs(f, &mut out),
        Op::PayloadFactory(p) => payload_factory::syn_exprs(p, &mut out),
        Op::Header(h) => header::syn_exprs(h, &mut out),
        Op::Call(_) => {}
        Op::Callout(_) => {}
        Op::CallTemplate(t) => call_template::syn_exprs(t, &mut out),
        Op::Send(_) => {}
        Op::Log(l) => log::syn_exprs(l, &mut out),
        Op::Respond => {}
        Op::Drop => {}
        Op::Loopback => {}
        Op::Sequence(s) => sequence::syn_exprs(s, &mut out),
        Op::Switch(s) => switch::syn_exprs(s, &mut out),
        Op::Enrich(e) => enrich::syn_exprs(e, &mut out),
        Op::MakeFault(m) => makefault::syn_exprs(m, &mut out),
        Op::Variable(v) => variable::syn_exprs(v, &mut out),
        Op::Validate(v) => validate::syn_exprs(v, &mut out),
        Op::Rewrite(_) => {}
        Op::Script(s) => script::syn_exprs(s, &mut out),
        Op::Xslt(x) => xslt::syn_exprs(x, &mut out),
        Op::Direction(_) => {}
        Op::Throttle(_) => {}
        Op::Cache(_) => {}
        Op::Iterate(_) => {}
        Op::Clone(_) => {}
        Op::Aggregate(_) => {}
        Op::Store(_) => {}
        Op::Foreach(_) => {}
        Op::ScatterGather(_) => {}
        Op::Dblookup(d) => dblookup::syn_exprs(d, &mut out),
        Op::Dbreport(d) => dbreport::syn_exprs(d, &mut out),
    }
    out
}

/// Registry keys an op reads other than through its expressions (a format or an inline source
/// kept in the registry).
fn registry_keys(op: &Op, keys: &mut BTreeSet<String>) {
    match op {
        Op::Property(_) => {}
        Op::Filter(_) => {}
        Op::PayloadFactory(p) => payload_factory::registry_keys(p, keys),
        Op::Header(_) => {}
        Op::Call(_) => {}
        Op::Callout(_) => {}
        Op::CallTemplate(_) => {}
        Op::Send(_) => {}
        Op::Log(_) => {}
        Op::Respond => {}
        Op::Drop => {}
        Op::Loopback => {}
        Op::Sequence(_) => {}
        Op::Switch(_) => {}
        Op::Enrich(e) => enrich::registry_keys(e, keys),
        Op::MakeFault(_) => {}
        Op::Variable(_) => {}
        Op::Validate(v) => validate::registry_keys(v, keys),
        Op::Rewrite(_) => {}
        Op::Script(s) => script::registry_keys(s, keys),
        Op::Xslt(x) => xslt::registry_keys(x, keys),
        Op::Direction(_) => {}
        Op::Throttle(t) => throttle::registry_keys(t, keys),
        Op::Cache(_) => {}
        Op::Iterate(_) => {}
        Op::Clone(_) => {}
        Op::Aggregate(_) => {}
        Op::Store(_) => {}
        Op::Foreach(_) => {}
        Op::ScatterGather(_) => {}
        Op::Dblookup(_) => {}
        Op::Dbreport(_) => {}
    }
}

/// Compile the `<target>` of `<iterate>`/`<clone>`: a named sequence, an inline sequence, or
/// an endpoint (a block holding a `<send>` to it, as Synapse's `Target` sends there).
pub(crate) fn eip_target(
    c: &mut Compiler<'_>,
    blocks: &mut Vec<Vec<Node>>,
    t: &ast::EipTarget,
    _span: Span,
) -> Option<crate::eip::TargetIr> {
    let run = eip_branch(c, blocks, t)?;
    Some(crate::eip::TargetIr {
        run,
        to: t.to.as_ref().map(|s| s.value.clone()),
        soap_action: t.soap_action.as_ref().map(|s| s.value.clone()),
    })
}

fn eip_branch(
    c: &mut Compiler<'_>,
    blocks: &mut Vec<Vec<Node>>,
    t: &ast::EipTarget,
) -> Option<crate::eip::BranchTarget> {
    use crate::eip::BranchTarget;
    if let Some(k) = &t.sequence_key {
        return Some(BranchTarget::Seq(c.resolve_seq_lazy(
            k,
            crate::compiler::Unresolved::Fault(format!(
                "Couldn't find the sequence named : {}",
                k.value
            )),
        )?));
    }
    if let Some(ms) = &t.sequence {
        return Some(BranchTarget::Block(block(c, blocks, ms)));
    }
    let endpoint = match (&t.endpoint_key, &t.endpoint) {
        (Some(k), _) => crate::ir::EndpointIr::Key(k.value.clone()),
        (None, Some(e)) => c.endpoint(e)?,
        (None, None) => return None,
    };
    let id = blocks.len() as BlockId;
    blocks.push(vec![Node {
        op: Op::Send(Box::new(send::SendOp {
            endpoint: Some(endpoint),
            receive: None,
        })),
        span: t.span,
        registry_keys: Box::new([]),
        touches_body: false,
        raw_json_ok: false,
        reads_addressing: false,
        sync: false,
    }]);
    Some(BranchTarget::Block(id))
}

/// Complete an aggregate with the messages it holds (its fan-out ended, or its timeout
/// passed): the message `<onComplete>` runs on, and where it runs.
pub(crate) fn complete_aggregate(
    engine: &Engine,
    key: &crate::eip::AggKey,
    messages: Vec<MessageContext>,
) -> Result<Option<(MessageContext, crate::eip::BranchTarget)>, MediationError> {
    let found = engine
        .program
        .ir
        .blocks
        .iter()
        .flatten()
        .find_map(|n| match &n.op {
            Op::Aggregate(a) if n.span.source.0 == key.source && n.span.start == key.at => Some(a),
            _ => None,
        });
    let Some(op) = found else { return Ok(None) };
    if messages.is_empty() {
        return Ok(None);
    }
    Ok(Some((aggregate::build(op, messages)?, op.on_complete)))
}
