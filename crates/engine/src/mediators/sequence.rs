//! `<sequence key="…"/>`: run a named sequence (its `onError` handles its faults). A key no
//! artifact defines is looked up, as in Synapse, when a message reaches it (W0304 at load): a
//! deployed sequence of that name is used once a reload brings one; until then, as Synapse's
//! `getSequence` falls back to the registry, a registry resource of that key holding a
//! `<sequence>` runs (read, compiled and cached as a dynamic key's below); else the mediator
//! faults. Every reference Synapse resolves this way (EIP targets, `onAccept`, an API's or a
//! proxy's flows) goes through the same stand-in, and so do those with a fallback when the
//! registry holds nothing either: an `onError` (no handler: the run loop passes the fault on),
//! a `faultSequence` (the `fault` sequence), a `receive` (the response is dropped) and a
//! `<store sequence>` (the message is stored without it).
//!
//! A dynamic key (`key="{expression}"`: XPath, `json-eval(…)` or `${…}`), as Synapse's
//! `SequenceMediator` with a dynamic `Value`: the expression is compiled at load and evaluated
//! on each message; its text names a sequence of the deployed program (a named sequence or a
//! local-entry sequence, never an API's or a proxy's own flow), which then runs; else, as
//! Synapse's `getSequence` falls back to the registry, a registry resource of that key
//! (`gov:/sequences/foo.xml`, `conf:…`) holding a `<sequence>`, read, compiled and cached with
//! its text on first use ([`TextCache`]), then run on the message (its `onError` handles its
//! faults, the rest go to the handler in force here). A resource that is not a valid sequence
//! faults; a name that names nothing faults with Synapse's message. A registry sequence is
//! compiled on its own: the sequences it names by key are looked up in the registry too, not
//! among the deployed ones.

use crate::compile::MAX_REGISTRY_NESTING;
use crate::compiler::{Compiler, Unresolved};
use crate::exec::Step;
use crate::ir::{SeqId, ValueSrc};
use crate::text_cache::TextCache;
use crate::Program;
use crate::{Engine, ErrorKind, Flow, MediationError, MessageContext};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use synaptic_diag::Spanned;
use synaptic_expr::synexpr::SynExpr;
use synaptic_expr::CompiledExpr;
use synaptic_syntax::ast;

#[derive(Debug)]
pub(crate) enum SequenceOp {
    /// A sequence of this program.
    Local(SeqId),
    /// A sequence known to exist outside this program (`CompileOptions::external_sequences`).
    External(String),
    /// A name no artifact defines: the registry, else what Synapse does when a message gets
    /// here.
    Unresolved(Box<Missing>),
    /// `key="{…}"`: the sequence is named when a message gets here.
    Dynamic(Box<DynamicKey>),
}

#[derive(Debug)]
pub(crate) struct DynamicKey {
    pub key: ValueSrc,
    /// The fault's message when the name names no sequence (Synapse prints the key's
    /// `Value.toString()`).
    pub missing: String,
    /// Registry sequences by key, with the text each was compiled from.
    pub registry: TextCache<RegistrySequence>,
}

/// A reference to a sequence no artifact defines.
#[derive(Debug)]
pub(crate) struct Missing {
    pub key: String,
    /// What happens when the registry holds no sequence of that key either.
    pub then: Unresolved,
}

/// A `<sequence>` read from the registry, compiled on its own.
#[derive(Debug)]
pub(crate) struct RegistrySequence {
    program: Arc<Program>,
    name: String,
}

/// Compile a registry resource's text as a `<sequence>`; the error says why it is not one.
fn compile_registry_sequence(key: &str, text: &str) -> Result<RegistrySequence, String> {
    let not = |why: String| format!("registry resource `{key}` is not a valid sequence: {why}");
    let p = synaptic_syntax::parse_artifact(synaptic_diag::SourceId(0), text);
    if let Some(d) = p.diagnostics.iter().find(|d| d.is_error()) {
        return Err(not(d.message.clone()));
    }
    if p.tree.root != "sequence" {
        return Err(not(format!(
            "its root is <{}>, not <sequence>",
            if p.tree.root.is_empty() {
                "nothing"
            } else {
                &p.tree.root
            }
        )));
    }
    let Some(name) = p.tree.sequences.iter().find(|s| !s.anonymous) else {
        return Err(not("it holds no named <sequence>".into()));
    };
    let name = name.name.value.clone();
    let (program, diags) = crate::compile(
        std::slice::from_ref(&p.tree),
        &crate::CompileOptions::default(),
    );
    match program {
        Some(program) => Ok(RegistrySequence {
            program: Arc::new(program),
            name,
        }),
        None => Err(not(diags
            .iter()
            .find(|d| d.is_error())
            .map(|d| d.message.clone())
            .unwrap_or_else(|| "it does not compile".into()))),
    }
}

type Nested<'a> = Pin<Box<dyn Future<Output = Result<Step, MediationError>> + Send + 'a>>;

/// Run a registry sequence on the message: its own program, with this engine's host parts
/// (boxed: the interpreter runs it from inside a mediator).
fn run_registry<'a>(
    engine: &'a Engine,
    seq: Arc<RegistrySequence>,
    ctx: &'a mut MessageContext,
) -> Nested<'a> {
    Box::pin(async move {
        if ctx.st.registry_depth >= MAX_REGISTRY_NESTING {
            return Err(MediationError::internal(
                ErrorKind::Limit,
                format!("registry sequences nested deeper than {MAX_REGISTRY_NESTING}"),
            ));
        }
        let sub = Engine {
            program: seq.program.clone(),
            invoker: engine.invoker.clone(),
            registry: engine.registry.clone(),
            clock: engine.clock.clone(),
            state: engine.state.clone(),
            db: engine.db.clone(),
            configurables: engine.configurables.clone(),
            limits: engine.limits,
        };
        // the deployed local entries stay in view (the message keeps them)
        ctx.st.registry_depth += 1;
        let r = crate::run::mediate(&sub, &seq.name, None, ctx).await;
        ctx.st.registry_depth -= 1;
        match r? {
            Flow::Continue => Ok(Step::Next),
            flow => Ok(Step::End(flow)),
        }
    })
}

/// Run the registry sequence of key `name` (compiled from its text through `cache`) on the
/// message; `None` when the registry holds nothing of that key. A resource that is not a
/// valid sequence faults with `missing` and the reason.
async fn from_registry(
    engine: &Engine,
    name: &str,
    missing: &str,
    cache: &TextCache<RegistrySequence>,
    ctx: &mut MessageContext,
) -> Option<Result<Step, MediationError>> {
    if let Err(e) = crate::run::prefetch_one(engine, name, ctx).await {
        return Some(Err(e));
    }
    let text = ctx.registry_value(name)?;
    let seq = cache.get_or_compile(name, text, true, |t| compile_registry_sequence(name, t));
    Some(match seq {
        Ok(seq) => run_registry(engine, seq, ctx).await,
        Err(why) => Err(MediationError::internal(
            ErrorKind::Fault,
            format!("{missing}\n{why}"),
        )),
    })
}

/// `key="{…}"`: compile the expression (its errors are diagnostics inside it).
pub(crate) fn compile_dynamic(c: &mut Compiler<'_>, e: &ast::Expr) -> Option<SequenceOp> {
    let key = crate::eval::compile_source(c, e)?;
    Some(SequenceOp::Dynamic(Box::new(DynamicKey {
        key,
        missing: format!(
            "Sequence named Value {{name ='null', expression ={}}} cannot be found",
            e.text.trim()
        ),
        registry: TextCache::default(),
    })))
}

pub(crate) fn exprs(op: &SequenceOp, f: &mut dyn FnMut(&CompiledExpr)) {
    if let SequenceOp::Dynamic(d) = op {
        if let ValueSrc::Expr(e) = &d.key {
            f(e);
        }
    }
}

pub(crate) fn syn_exprs<'a>(op: &'a SequenceOp, out: &mut Vec<&'a SynExpr>) {
    if let SequenceOp::Dynamic(d) = op {
        if let ValueSrc::Syn(e) = &d.key {
            out.push(e);
        }
    }
}

/// The proxy target the parser writes for a proxy with an endpoint runs the in-sequence
/// through a `<sequence key>` named `proxy:NAME/target`.
fn in_proxy_target(c: &Compiler<'_>) -> bool {
    c.current_seq.starts_with("proxy:") && c.current_seq.ends_with("/target")
}

pub(crate) fn compile(c: &mut Compiler<'_>, name: &Spanned<String>) -> Option<SequenceOp> {
    if let Some(id) = c.seq_by_name.get(&name.value) {
        return Some(SequenceOp::Local(*id));
    }
    if c.opts.external_sequences.iter().any(|n| n == &name.value) {
        return Some(SequenceOp::External(name.value.clone()));
    }
    // the messages of Synapse's `ProxyServiceMessageReceiver` and `SequenceMediator`
    // (`Value.toString()` of a static key)
    let message = if in_proxy_target(c) {
        format!("Unable to find in-sequence : {}", name.value)
    } else {
        format!(
            "Sequence named Value {{name ='null', keyValue ='{}'}} cannot be found",
            name.value
        )
    };
    missing(c, name, Unresolved::Fault(message))
}

/// A reference to `name`, which no artifact defines, doing `then` when a message gets here
/// and the registry holds no sequence of that key (W0304); E0304 when the artifact that
/// defines it does not compile.
pub(crate) fn missing(
    c: &mut Compiler<'_>,
    name: &Spanned<String>,
    then: Unresolved,
) -> Option<SequenceOp> {
    if c.is_unavailable(&name.value) {
        c.unavailable_seq(name);
        return None;
    }
    c.warn_unresolved(name, &then);
    Some(SequenceOp::Unresolved(Box::new(Missing {
        key: name.value.clone(),
        then,
    })))
}

pub(crate) async fn run(
    engine: &Engine,
    s: &SequenceOp,
    ctx: &mut MessageContext,
) -> Result<Step, MediationError> {
    match s {
        SequenceOp::Dynamic(d) => {
            let name = crate::eval::source_text(engine, ctx, &d.key)?.unwrap_or_default();
            if let Some(id) = engine.program.ir.named_sequence(&name) {
                return Ok(Step::PushSeq(id));
            }
            match from_registry(engine, name.trim(), &d.missing, &d.registry, ctx).await {
                Some(r) => r,
                None => Err(MediationError::internal(
                    ErrorKind::Fault,
                    d.missing.clone(),
                )),
            }
        }
        SequenceOp::Local(s) => Ok(Step::PushSeq(*s)),
        SequenceOp::External(name) => Err(MediationError::internal(
            ErrorKind::Fault,
            format!("sequence `{name}` is not loaded"),
        )),
        SequenceOp::Unresolved(u) => {
            if let Unresolved::Template(message) = &u.then {
                return Err(MediationError::internal(ErrorKind::Fault, message.clone()));
            }
            let cache = &engine.program.ir.registry.sequences;
            if let Some(r) = from_registry(engine, &u.key, u.then.message(), cache, ctx).await {
                return r;
            }
            match &u.then {
                Unresolved::Fault(message) | Unresolved::Template(message) => {
                    Err(MediationError::internal(ErrorKind::Fault, message.clone()))
                }
                Unresolved::Drop(message) => {
                    tracing::warn!(target: "synaptic::mediation", "{message}");
                    Ok(Step::End(Flow::Drop))
                }
                // the registry held the key when the fault came, and no longer does
                Unresolved::Handler(message) => {
                    tracing::warn!(target: "synaptic::mediation", "{message}");
                    Ok(Step::Next)
                }
                // Synapse's `fault` sequence in its place, when there is one
                Unresolved::FaultFlow(_) => Ok(match engine.program.ir.named_sequence("fault") {
                    Some(id) => Step::PushSeq(id),
                    None => Step::Next,
                }),
                Unresolved::Skip(_) => Ok(Step::Next),
            }
        }
    }
}

/// Whether the registry holds a resource of `key` (read into the message as a lookup reads
/// it). A read that fails counts as held: the reference then faults with the reason.
pub(crate) async fn in_registry(engine: &Engine, key: &str, ctx: &mut MessageContext) -> bool {
    if crate::run::prefetch_one(engine, key, ctx).await.is_err() {
        return true;
    }
    ctx.st.registry.get(key).is_some_and(Option::is_some)
}
