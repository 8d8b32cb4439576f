//! The mediators: the closed set of compiled mediators ([`Op`]) and the one dispatch per phase
//! over it: compiling an AST mediator into a [`Node`], and the expressions and registry keys a
//! mediator reads.

use crate::compile::*;
use crate::exec::{respond_status, Step};
use crate::{Engine, Flow, MediationError, MessageContext};
use direction::DirectionOp;
use filter::FilterOp;
use property::{PropName, PropertyOp};
use sequence::SequenceOp;
use switch::SwitchOp;

mod direction;
mod drop;
mod filter;
mod loopback;
mod property;
mod respond;
mod sequence;
mod switch;
use crate::compiler::Compiler;
use crate::ir::{BlockId, ValueSrc};
use std::collections::BTreeSet;
use synaptic_diag::{codes, Diagnostic, Span};
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
}

/// The closed set of compiled mediators.
#[derive(Debug)]
pub(crate) enum Op {
    Property(Box<PropertyOp>),
    Filter(FilterOp),
    PayloadFactory(Box<PayloadFactoryOp>),
    Header(Box<HeaderOp>),
    Call(Box<CallOp>),
    Send(Box<SendOp>),
    Log(Box<LogOp>),
    Respond,
    Drop,
    Loopback,
    Sequence(SequenceOp),
    Switch(Box<SwitchOp>),
    Enrich(Box<EnrichOp>),
    MakeFault(Box<MakeFaultOp>),
    Variable(Box<crate::variable::VariableOp>),
    Direction(DirectionOp),
}

/// Run one mediator (its registry reads fetched and the body built when it needs them).
pub(crate) async fn run(
    engine: &Engine,
    node: &Node,
    ctx: &mut MessageContext,
) -> Result<Step, MediationError> {
    match &node.op {
        Op::Property(p) => property::property(engine, p, ctx).await.map(|_| Step::Next),
        Op::Variable(v) => crate::variable::run(engine, v, ctx).map(|_| Step::Next),
        Op::Filter(f) => filter::run(engine, f, ctx),
        Op::PayloadFactory(p) => crate::run::payload_factory(engine, p, ctx).map(|_| Step::Next),
        Op::Header(h) => crate::run::header(engine, h, ctx).map(|_| Step::Next),
        Op::Call(c) => crate::run::call(engine, &engine.program.ir, c, ctx)
            .await
            .map(|_| Step::Next),
        Op::Send(s) => {
            let mut endpoint = s.endpoint.clone();
            if endpoint.is_none() {
                if ctx.is_response() {
                    respond_status(ctx);
                    return Ok(Step::End(Flow::Respond));
                }
                // an address set with `<header name="To">` is where Synapse sends the message
                if !ctx.st.addressing.contains_key("To") {
                    return Ok(Step::End(Flow::Continue));
                }
                endpoint = Some(EndpointIr::Default);
            }
            let c = CallOp {
                blocking: false,
                endpoint,
            };
            crate::run::call(engine, &engine.program.ir, &c, ctx).await?;
            Ok(match s.receive {
                Some(r) => Step::Receive(r),
                None => Step::End(Flow::Respond),
            })
        }
        Op::Log(l) => {
            crate::run::log(engine, l, ctx, node.span)?;
            Ok(Step::Next)
        }
        Op::Respond => Ok(respond::run(ctx)),
        Op::Drop => Ok(drop::run()),
        Op::Loopback => Ok(loopback::run(ctx)),
        Op::Sequence(s) => sequence::run(s),
        Op::Switch(s) => switch::run(engine, s, ctx),
        Op::Enrich(e) => crate::enrich::enrich(engine, e, ctx).map(|_| Step::Next),
        Op::MakeFault(m) => crate::enrich::makefault(engine, m, ctx).map(|_| Step::Next),
        Op::Direction(d) => Ok(direction::run(d, ctx)),
    }
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
        if let Some(n) = node(c, blocks, m) {
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
        ast::MediatorKind::Call(call) => {
            let endpoint = match &call.endpoint {
                Some(e) => Some(c.endpoint(e)?),
                None => None,
            };
            Op::Call(Box::new(CallOp {
                blocking: call.blocking,
                endpoint,
            }))
        }
        ast::MediatorKind::Send(s) => {
            let endpoint = match &s.endpoint {
                Some(e) => Some(c.endpoint(e)?),
                None => None,
            };
            let receive = match &s.receive {
                Some(r) => Some(c.resolve_seq(r)?),
                None => None,
            };
            Op::Send(Box::new(SendOp { endpoint, receive }))
        }
        ast::MediatorKind::Log(l) => Op::Log(Box::new(c.log(l)?)),
        ast::MediatorKind::Respond => Op::Respond,
        ast::MediatorKind::Drop => Op::Drop,
        ast::MediatorKind::Loopback => Op::Loopback,
        ast::MediatorKind::SequenceRef(name) => Op::Sequence(sequence::compile(c, name)?),
        ast::MediatorKind::Switch(s) => Op::Switch(Box::new(switch::compile(c, blocks, s)?)),
        ast::MediatorKind::Enrich(e) => Op::Enrich(Box::new(c.enrich(e)?)),
        ast::MediatorKind::MakeFault(f) => Op::MakeFault(Box::new(c.makefault(f)?)),
        ast::MediatorKind::Variable(v) => {
            let mut diags = Vec::new();
            let op = crate::variable::compile(v, &mut diags, &mut |e| c.expr(e, Dialect::XPath));
            c.diags.extend(diags);
            Op::Variable(Box::new(op?))
        }
        ast::MediatorKind::Direction { dir, mediators } => {
            Op::Direction(direction::compile(c, blocks, *dir, mediators))
        }
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
    if let Op::PayloadFactory(pf) = &op {
        if let FormatSrc::Key(k) = &pf.format {
            keys.insert(k.clone());
        }
    }
    if let Op::Enrich(e) = &op {
        if let EnrichSrc::InlineKey(k) = &e.source {
            keys.insert(k.clone());
        }
    }
    let mut touches = false;
    let mut needs_dom = false;
    visit_exprs(&op, &mut |e| {
        keys.extend(e.registry_keys().iter().cloned());
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
    Some(Node {
        op,
        span,
        registry_keys: keys.into_iter().collect(),
        touches_body: touches,
        raw_json_ok: touches && !needs_dom,
    })
}

/// Every Synapse Expression (`${…}`) of an op (not descending into blocks).
pub(crate) fn syn_exprs(op: &Op) -> Vec<&synaptic_expr::synexpr::SynExpr> {
    fn value(v: &ValueSrc) -> Option<&synaptic_expr::synexpr::SynExpr> {
        match v {
            ValueSrc::Syn(e) => Some(e),
            _ => None,
        }
    }
    let mut out = Vec::new();
    match op {
        Op::Property(p) => out.extend(value(&p.value)),
        Op::Header(h) => out.extend(value(&h.value)),
        Op::Log(l) => {
            out.extend(l.props.iter().filter_map(|(_, v)| value(v)));
            out.extend(l.message.iter().flat_map(|m| m.expressions()));
        }
        Op::MakeFault(m) => out.extend(m.reason.as_ref().and_then(value)),
        Op::Filter(f) => filter::syn_exprs(f, &mut out),
        Op::PayloadFactory(p) => {
            if let FormatSrc::Syn(t) = &p.format {
                out.extend(t.expressions());
            }
        }
        Op::Variable(v) => {
            if let crate::variable::VarSrc::Syn(e) = &v.value {
                out.push(e);
            }
        }
        _ => {}
    }
    out
}

/// Every expression of an op (not descending into blocks).
pub(crate) fn visit_exprs(op: &Op, f: &mut dyn FnMut(&CompiledExpr)) {
    let value = |v: &ValueSrc, f: &mut dyn FnMut(&CompiledExpr)| {
        if let ValueSrc::Expr(e) = v {
            f(e)
        }
    };
    match op {
        Op::Property(p) => {
            if let PropName::Dynamic(e) = &p.name {
                f(e);
            }
            value(&p.value, f);
        }
        Op::Filter(x) => filter::exprs(x, f),
        Op::Variable(v) => {
            if let crate::variable::VarSrc::XPath(e) = &v.value {
                f(e);
            }
        }
        Op::PayloadFactory(p) => {
            for a in &p.args {
                if let ArgSrc::Expr { expr, .. } = &a.src {
                    f(expr);
                }
            }
        }
        Op::Header(h) => value(&h.value, f),
        Op::Log(l) => {
            for (_, v) in &l.props {
                value(v, f);
            }
        }
        Op::Switch(s) => switch::exprs(s, f),
        Op::Enrich(e) => {
            if let EnrichSrc::InlineTemplate(parts) = &e.source {
                for part in parts {
                    if let TemplatePart::Expr { expr, .. } = part {
                        f(expr);
                    }
                }
            }
            let mut path = |p: &EnrichPath| match p {
                EnrichPath::Value(c) | EnrichPath::JsonValue(c) => f(c),
                EnrichPath::Nodes(_) | EnrichPath::Json(_) => {}
            };
            if let EnrichSrc::Custom(p) = &e.source {
                path(p);
            }
            if let EnrichTgt::Custom(p) = &e.target {
                path(p);
            }
        }
        Op::MakeFault(m) => {
            if let Some(FaultCodeSrc::Expr(c)) = &m.code {
                f(c);
            }
            if let Some(r) = &m.reason {
                value(r, f);
            }
            if let Some(FaultDetailSrc::Expr(c)) = &m.detail {
                f(c);
            }
        }
        Op::Call(_)
        | Op::Send(_)
        | Op::Respond
        | Op::Drop
        | Op::Loopback
        | Op::Sequence(_)
        | Op::Direction(_) => {}
    }
}
