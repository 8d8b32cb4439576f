//! The interpreter: an iterative loop over the arena IR with a frame stack. A fan-out
//! (`iterate`, `clone`) runs its branches here, each through the same loop on its own message
//! (ADR 0430); a `continueParent` one beside its parent ([`Beside`]), and copies nobody waits
//! for are handed to the host as detached work (ADR 0497).

use crate::compile::Ir;
use crate::eip::{BranchTarget, Fork};
use crate::exec::{respond_status, Step};
use crate::ir::{BlockId, SeqId};
use crate::mediators::Node;
use crate::observe;
use crate::{Engine, ErrorKind, Flow, MediationError, MessageContext};
use futures::stream::{FuturesUnordered, StreamExt};
use std::future::Future;
use std::pin::Pin;
use synaptic_expr::Value;

/// How deep fan-outs may nest (an `iterate` in a branch of an `iterate` …).
const MAX_FORK_NESTING: u32 = 8;

#[derive(Clone)]
struct Frame {
    block: BlockId,
    pc: usize,
    /// The `onError` of the sequence this frame starts.
    on_error: Option<SeqId>,
    /// A sequence called from another: its end is reported to the observer.
    nested: bool,
    /// A template's body: leaving it drops its parameters (`MessageContext`'s function stack).
    template: bool,
}

/// Drop the frames from `len` on, reporting the nested sequences among them as ended
/// (innermost first) and dropping the parameters of the templates among them.
fn unwind(frames: &mut Vec<Frame>, len: usize, ctx: &mut MessageContext, failed: bool) {
    while frames.len() > len {
        if let Some(f) = frames.pop() {
            if f.nested {
                observe::sequence_ended(ctx, failed);
            }
            if f.template {
                ctx.st.func_params.pop();
                ctx.st.func_paths.pop();
            }
        }
    }
}

pub(crate) async fn mediate(
    engine: &Engine,
    sequence: &str,
    fault_sequence: Option<&str>,
    ctx: &mut MessageContext,
) -> Result<Flow, MediationError> {
    mediate_with(engine, sequence, fault_sequence, None, ctx).await
}

/// Run `sequence`; `out_sequence` is where the answers of `<send>`s in fan-out branches go
/// (the flow's out-sequence, as Synapse's out-flow receives them).
pub(crate) async fn mediate_with(
    engine: &Engine,
    sequence: &str,
    fault_sequence: Option<&str>,
    out_sequence: Option<&str>,
    ctx: &mut MessageContext,
) -> Result<Flow, MediationError> {
    let ir: &Ir = &engine.program.ir;
    // a flow an `<api>` or `<proxy>` names that no artifact defines: its stand-in faults as
    // Synapse does, and the fault sequence runs
    let Some(&start) = ir
        .seq_by_name
        .get(sequence)
        .or_else(|| ir.unresolved_flows.get(sequence))
        .or_else(|| ir.fault_flows.get(sequence))
    else {
        return Err(MediationError::internal(
            ErrorKind::Fault,
            format!("no sequence named `{sequence}` is loaded"),
        ));
    };
    ctx.st.tree_factor = Some(engine.limits.tree_factor);
    if ctx.st.local_entries.is_none() && !ir.local_entries.is_empty() {
        ctx.st.local_entries = Some(ir.local_entries.clone());
    }
    // a `faultSequence` no artifact defines: its stand-in (the registry, else `fault`)
    let fault_seq = fault_sequence.and_then(|n| {
        ir.seq_by_name
            .get(n)
            .or_else(|| ir.fault_flows.get(n))
            .copied()
    });
    let out_seq = out_sequence.and_then(|n| ir.seq_by_name.get(n).copied());
    // this run's alone: the sequences it runs inside do not inherit it
    let beside = Beside {
        continue_answers: std::mem::take(&mut ctx.st.host_goes_on),
        ..Beside::default()
    };
    let first = vec![seq_frame(ir, start)];
    run_frames_beside(engine, first, fault_seq, out_seq, ctx, beside).await
}

/// Run from `first` to the end; a branch's answer kept while the parent went on
/// (`continueParent`) is the answer when the parent ends (the first answer wins). The
/// `continueParent` fan-outs that ran beside the flow are settled then ([`Beside::settle`]).
async fn run_frames(
    engine: &Engine,
    first: Vec<Frame>,
    fault_seq: Option<SeqId>,
    out_seq: Option<SeqId>,
    ctx: &mut MessageContext,
) -> Result<Flow, MediationError> {
    run_frames_beside(engine, first, fault_seq, out_seq, ctx, Beside::default()).await
}

async fn run_frames_beside(
    engine: &Engine,
    first: Vec<Frame>,
    fault_seq: Option<SeqId>,
    out_seq: Option<SeqId>,
    ctx: &mut MessageContext,
    mut beside: Beside,
) -> Result<Flow, MediationError> {
    let r = run_loop(engine, first, fault_seq, out_seq, ctx, &mut beside).await;
    let r = beside.settle(engine, r, ctx).await;
    match (r, ctx.st.branch_response.take()) {
        (Ok(_), Some(answer)) => {
            *ctx = *answer;
            Ok(Flow::Respond)
        }
        (r, _) => r,
    }
}

async fn run_loop(
    engine: &Engine,
    first: Vec<Frame>,
    fault_seq: Option<SeqId>,
    out_seq: Option<SeqId>,
    ctx: &mut MessageContext,
    beside: &mut Beside,
) -> Result<Flow, MediationError> {
    let ir: &Ir = &engine.program.ir;
    let mut fault_seq = fault_seq;
    let mut frames: Vec<Frame> = first;
    let mut steps: u32 = 0;
    let mut pending: Option<MediationError> = None;
    let mut final_flow = Flow::Continue;
    let started_as_response = ctx.response;
    loop {
        let Some(top) = frames.last_mut() else {
            return match pending {
                Some(e) => Err(e),
                // a non-blocking call turned the request into a response: answer with it
                // (or a `makefault response="true"`): answer with it
                // (a branch answers only when it says so: `respond`, `send`, `loopback`)
                None if final_flow == Flow::Continue
                    && ctx.response
                    && !started_as_response
                    && ctx.st.fork == 0 =>
                {
                    respond_status(ctx);
                    Ok(Flow::Respond)
                }
                None => Ok(final_flow),
            };
        };
        let block = &ir.blocks[top.block as usize];
        let Some(node) = block.get(top.pc) else {
            let outer = frames.len() - 1;
            unwind(&mut frames, outer, ctx, false);
            continue;
        };
        top.pc += 1;
        steps += 1;
        if steps > engine.limits.max_steps {
            let e = MediationError::internal(
                ErrorKind::Limit,
                format!("mediation exceeded {} steps", engine.limits.max_steps),
            )
            .at(node.span);
            unwind(&mut frames, 0, ctx, true);
            observe::fault(ctx, &e, None);
            return Err(e);
        }
        let snap = observe::before(ctx);
        // whatever the parent waits for, the fan-outs running beside it go on meanwhile
        let result = match step_now(engine, node, ctx) {
            Some(r) => r,
            None => beside.drive(step(engine, node, ctx)).await,
        };
        let result = match result {
            Ok(Step::Fork(f)) => {
                // a branch's faults go to the handler in force here (Synapse copies the fault
                // stack into each copy); a sequential one's that the parent waits for, to
                // this flow
                let handler = if f.sequential && !f.continue_parent {
                    None
                } else {
                    handler_in_force(engine, &frames, fault_seq, ctx).await
                };
                // where a branch goes on after a non-blocking `call`: after this mediator (the
                // parent's sequences stay the parent's to report as ended)
                let mut cont = frames.clone();
                cont.iter_mut().for_each(|f| f.nested = false);
                if f.continue_parent {
                    // Synapse hands the copies to its pool (or mediates sequential ones up to
                    // their first non-blocking call) and the parent goes on at once
                    beside
                        .start(engine, *f, handler, out_seq, cont, ctx)
                        .await
                        .map_err(|e| e.at(node.span))
                } else {
                    beside
                        .drive(run_fork(engine, *f, handler, out_seq, cont, ctx))
                        .await
                        .map_err(|e| e.at(node.span))
                }
            }
            Ok(Step::Foreach(l)) => {
                // detached copies' faults go to the handler in force here, as a parallel
                // branch's do
                let handler = handler_in_force(engine, &frames, fault_seq, ctx).await;
                beside
                    .drive(run_foreach(engine, *l, handler, out_seq, ctx))
                    .await
                    .map_err(|e| e.at(node.span))
            }
            Ok(Step::ScatterGather(s)) => beside
                .drive(run_scatter(engine, *s, out_seq, ctx))
                .await
                .map_err(|e| e.at(node.span)),
            other => other,
        };
        // an answer a fan-out beside the parent gave meanwhile is kept (the first wins)
        beside.absorb(ctx);
        observe::after(ctx, node.span, frames.len(), snap, result.is_err());
        let next = match result {
            Ok(s) => s,
            Err(e) => {
                let e = e.at(node.span);
                if e.kind == ErrorKind::Limit {
                    unwind(&mut frames, 0, ctx, true);
                    observe::fault(ctx, &e, None);
                    return Err(e);
                }
                set_error_props(ctx, &e);
                if let Some(i) = handler_frame(engine, &frames, ctx).await {
                    let handler = frames[i].on_error;
                    unwind(&mut frames, i, ctx, true);
                    if let Some(h) = handler {
                        observe::fault(ctx, &e, Some(&ir.seqs[h as usize].name));
                        let mut f = seq_frame(ir, h);
                        f.on_error = None;
                        frames.push(f);
                    }
                    pending = Some(e);
                    continue;
                }
                if let Some(fs) = fault_seq.take() {
                    unwind(&mut frames, 0, ctx, true);
                    observe::fault(ctx, &e, Some(&ir.seqs[fs as usize].name));
                    let mut f = seq_frame(ir, fs);
                    f.on_error = None;
                    frames.push(f);
                    pending = Some(e);
                    continue;
                }
                unwind(&mut frames, 0, ctx, true);
                observe::fault(ctx, &e, None);
                return Err(e);
            }
        };
        match next {
            Step::Next => {}
            Step::Push(b) => {
                if let Err(e) = check_depth(engine, &frames, node, ctx) {
                    unwind(&mut frames, 0, ctx, true);
                    return Err(e);
                }
                frames.push(Frame {
                    block: b,
                    pc: 0,
                    on_error: None,
                    nested: false,
                    template: false,
                });
            }
            Step::PushSeq(s) => {
                if let Err(e) = check_depth(engine, &frames, node, ctx) {
                    unwind(&mut frames, 0, ctx, true);
                    return Err(e);
                }
                let mut f = seq_frame(ir, s);
                f.nested = reports_sequences(ctx);
                if f.nested {
                    observe::sequence_started(ctx, &ir.seqs[s as usize].name);
                }
                frames.push(f);
            }
            Step::Template(s, params, paths) => {
                if let Err(e) = check_depth(engine, &frames, node, ctx) {
                    unwind(&mut frames, 0, ctx, true);
                    return Err(e);
                }
                let mut f = seq_frame(ir, s);
                f.nested = reports_sequences(ctx);
                if f.nested {
                    observe::sequence_started(ctx, &ir.seqs[s as usize].name);
                }
                f.template = true;
                frames.push(f);
                ctx.st.func_params.push(params);
                ctx.st.func_paths.push(paths);
            }
            Step::End(flow) => {
                unwind(&mut frames, 0, ctx, false);
                return Ok(flow);
            }
            Step::Receive(s) => {
                unwind(&mut frames, 0, ctx, false);
                frames.push(seq_frame(ir, s));
                final_flow = Flow::Respond;
            }
            Step::ReceiveBlock(b) => {
                unwind(&mut frames, 0, ctx, false);
                frames.push(Frame {
                    block: b,
                    pc: 0,
                    on_error: None,
                    nested: false,
                    template: false,
                });
                final_flow = Flow::Respond;
            }
            // `run_fork` / `run_foreach` turned it into another step
            Step::Fork(_) | Step::Foreach(_) | Step::ScatterGather(_) => {}
        }
    }
}

/// Whether handler `h` takes a fault now: the stand-in of an `onError` no artifact defines
/// does only when the registry holds its key, as Synapse pushes that handler only when its
/// lookup finds a sequence.
async fn handles(engine: &Engine, h: SeqId, ctx: &mut MessageContext) -> bool {
    match engine.program.ir.seqs.get(h as usize) {
        Some(s) if s.registry_handler => crate::mediators::in_registry(engine, &s.name, ctx).await,
        _ => true,
    }
}

/// The innermost frame whose `onError` takes a fault now.
async fn handler_frame(
    engine: &Engine,
    frames: &[Frame],
    ctx: &mut MessageContext,
) -> Option<usize> {
    for (i, f) in frames.iter().enumerate().rev() {
        if let Some(h) = f.on_error {
            if handles(engine, h, ctx).await {
                return Some(i);
            }
        }
    }
    None
}

/// The handler in force for a fault here: the innermost `onError` that takes it, else the
/// flow's fault sequence.
async fn handler_in_force(
    engine: &Engine,
    frames: &[Frame],
    fault_seq: Option<SeqId>,
    ctx: &mut MessageContext,
) -> Option<SeqId> {
    match handler_frame(engine, frames, ctx).await {
        Some(i) => frames[i].on_error,
        None => fault_seq,
    }
}

/// Whether the sequences this message enters are reported to the observer: the request's own
/// message only, since the branches of a fan-out run interleaved on one task and the spans of
/// their sequences would nest into each other.
fn reports_sequences(ctx: &MessageContext) -> bool {
    ctx.st.fork == 0
}

fn seq_frame(ir: &Ir, s: SeqId) -> Frame {
    let seq = &ir.seqs[s as usize];
    Frame {
        block: seq.body,
        pc: 0,
        on_error: seq.on_error,
        nested: false,
        template: false,
    }
}

fn check_depth(
    engine: &Engine,
    frames: &[Frame],
    node: &Node,
    ctx: &MessageContext,
) -> Result<(), MediationError> {
    if frames.len() as u32 >= engine.limits.max_depth {
        let e = MediationError::internal(
            ErrorKind::Limit,
            format!("mediation nested deeper than {}", engine.limits.max_depth),
        )
        .at(node.span);
        observe::fault(ctx, &e, None);
        return Err(e);
    }
    Ok(())
}

/// `FaultHandler`: set `ERROR_*` only if `ERROR_CODE` is unset.
fn set_error_props(ctx: &mut MessageContext, e: &MediationError) {
    ctx.st.fault = true;
    let d = &mut ctx.properties.default;
    if d.contains_key("ERROR_CODE") {
        return;
    }
    d.insert("ERROR_CODE", Value::Integer(e.code));
    let first_line = e.message.lines().next().unwrap_or("").to_string();
    d.insert("ERROR_MESSAGE", Value::String(first_line));
    d.insert("ERROR_DETAIL", Value::String(e.message.clone()));
}

/// Read `keys` from the registry into the message's registry view, for expressions to read.
pub(crate) async fn prefetch(
    engine: &Engine,
    keys: &[String],
    ctx: &mut MessageContext,
) -> Result<(), MediationError> {
    for key in keys {
        let v = engine.registry.get(key).await;
        keep_prefetched(ctx, key, v)?;
    }
    Ok(())
}

/// [`prefetch`] of one key a message names at run time (a dynamic endpoint or sequence key). A
/// name that cannot be a registry key (empty, or not a key's form) reads as a missing resource:
/// the reference then fails as one to an absent resource does.
pub(crate) async fn prefetch_one(
    engine: &Engine,
    key: &str,
    ctx: &mut MessageContext,
) -> Result<(), MediationError> {
    let v = match engine.registry.get(key).await {
        Err(synaptic_registry::RegistryError::InvalidKey { .. }) => Ok(None),
        v => v,
    };
    keep_prefetched(ctx, key, v)
}

/// [`prefetch`] when every key's value is held in memory by the registry (`Ok(false)`, having
/// fetched none, when one is not).
fn prefetch_now(
    engine: &Engine,
    keys: &[String],
    ctx: &mut MessageContext,
) -> Result<bool, MediationError> {
    if let [key] = keys {
        // one key (the usual case): nothing to collect first
        return match engine.registry.get_now(key) {
            Some(v) => keep_prefetched(ctx, key, v).map(|()| true),
            None => Ok(false),
        };
    }
    let mut got = Vec::with_capacity(keys.len());
    for key in keys {
        match engine.registry.get_now(key) {
            Some(v) => got.push(v),
            None => return Ok(false),
        }
    }
    for (key, v) in keys.iter().zip(got) {
        keep_prefetched(ctx, key, v)?;
    }
    Ok(true)
}

/// A prefetched registry value, kept for the mediator's expressions as Synapse reads a
/// resource's text (one trailing newline dropped).
fn keep_prefetched(
    ctx: &mut MessageContext,
    key: &str,
    v: Result<Option<String>, synaptic_registry::RegistryError>,
) -> Result<(), MediationError> {
    let v = v.map_err(|e| {
        MediationError::internal(ErrorKind::Registry, format!("registry read failed: {e}"))
    })?;
    let v = v.map(|mut s| {
        if s.ends_with('\n') {
            s.pop();
            if s.ends_with('\r') {
                s.pop();
            }
        }
        s
    });
    match ctx.st.registry.get_mut(key) {
        Some(slot) => *slot = v,
        None => {
            ctx.st.registry.insert(key.to_string(), v);
        }
    }
    Ok(())
}

/// A mediator that never waits, run in place (no future to build, move and drop) when the
/// registry values it reads are in memory; `None` for one that may wait.
fn step_now(
    engine: &Engine,
    node: &Node,
    ctx: &mut MessageContext,
) -> Option<Result<Step, MediationError>> {
    if !node.sync {
        return None;
    }
    if !node.registry_keys.is_empty() {
        match prefetch_now(engine, &node.registry_keys, ctx) {
            Ok(true) => {}
            // not all in memory: the step waits for the registry
            Ok(false) => return None,
            Err(e) => return Some(Err(e)),
        }
    }
    if let Err(e) = build_what_it_reads(node, ctx) {
        return Some(Err(e));
    }
    crate::mediators::run_now(engine, node, ctx)
}

/// The message built as far as the mediator's expressions read it: a SOAP request's body for
/// its addressing headers, the body unless `json-eval($)` reads the raw JSON.
fn build_what_it_reads(node: &Node, ctx: &mut MessageContext) -> Result<(), MediationError> {
    if node.reads_addressing {
        ctx.ensure_soap_request_built()?;
    }
    if node.touches_body && !(node.raw_json_ok && ctx.has_raw_json()) {
        ctx.ensure_built()?;
    }
    Ok(())
}

async fn step(
    engine: &Engine,
    node: &Node,
    ctx: &mut MessageContext,
) -> Result<Step, MediationError> {
    // Registry reads are fetched before the mediator runs (expressions are synchronous).
    prefetch(engine, &node.registry_keys, ctx).await?;
    build_what_it_reads(node, ctx)?;
    crate::mediators::run(engine, node, ctx).await
}

type BranchRun<'a> =
    Pin<Box<dyn Future<Output = (Result<Flow, MediationError>, MessageContext)> + Send + 'a>>;

/// One branch on its own message: its target, then, when it ended with a `<send>` to an
/// endpoint, the flow's out-sequence on the answer (where `<aggregate>` usually waits).
fn run_branch(
    engine: &Engine,
    mut ctx: MessageContext,
    target: BranchTarget,
    handler: Option<SeqId>,
    out_seq: Option<SeqId>,
    cont: Vec<Frame>,
) -> BranchRun<'_> {
    Box::pin(async move {
        let ir: &Ir = &engine.program.ir;
        let first = target_frame(ir, target);
        ctx.st.sent = false;
        ctx.st.resumed = false;
        let mut r = run_frames(engine, vec![first], handler, out_seq, &mut ctx).await;
        if matches!(r, Ok(Flow::Continue))
            && std::mem::take(&mut ctx.st.resumed)
            && !cont.is_empty()
        {
            r = run_frames(engine, cont, handler, out_seq, &mut ctx).await;
        }
        if let (Ok(Flow::Respond), Some(out)) = (&r, out_seq) {
            if std::mem::take(&mut ctx.st.sent) {
                r = run_frames(engine, vec![seq_frame(ir, out)], handler, out_seq, &mut ctx)
                    .await
                    .map(|f| match f {
                        Flow::Drop => Flow::Drop,
                        Flow::Continue | Flow::Respond => Flow::Respond,
                    });
            }
        }
        (r, ctx)
    })
}

/// Run a fan-out's branches, at most `Limits::branches_in_flight` at a time (one at a time
/// when sequential), completing the aggregates whose timeout passes meanwhile and, at the
/// end, those of this fan-out still open (no more of their messages can come). The first
/// branch that answers gives the answer: the flow ends with it, or, with `continueParent`,
/// goes on and answers with it at its end. Without an answer and without `continueParent`,
/// the first fault of a branch is the flow's fault, else the flow ends (`Flow::Drop`).
async fn run_fork(
    engine: &Engine,
    fork: Fork,
    handler: Option<SeqId>,
    out_seq: Option<SeqId>,
    cont: Vec<Frame>,
    parent: &mut MessageContext,
) -> Result<Step, MediationError> {
    let Fork {
        id,
        branches,
        sequential,
        continue_parent,
    } = fork;
    nesting_allowed(parent, "fan-outs")?;
    let store = parent.st.eip.get_or_insert_with(Default::default).clone();
    let limit = if sequential {
        1
    } else {
        engine.limits.branches_in_flight.max(1) as usize
    };
    let mut waiting = branches.into_iter();
    let mut running: FuturesUnordered<BranchRun<'_>> = FuturesUnordered::new();
    let mut answer: Option<MessageContext> = None;
    let mut first_err: Option<MediationError> = None;
    let mut timed_out = false;
    loop {
        if timed_out && answer.is_some() {
            // an aggregate answered at its timeout: what is still running could only reach a
            // completed aggregate (Synapse drops those messages); it is cancelled
            break;
        }
        while running.len() < limit {
            match waiting.next() {
                Some(b) => running.push(run_branch(
                    engine,
                    b.ctx,
                    b.target,
                    handler,
                    out_seq,
                    cont.clone(),
                )),
                None => break,
            }
        }
        if running.is_empty() {
            // the fan-out is over: what its aggregates hold is all they will get
            let left = store.take_owned(id);
            if left.is_empty() {
                break;
            }
            for (key, messages) in left {
                if let Some((ctx, target)) =
                    crate::mediators::complete_aggregate(engine, &key, messages)?
                {
                    running.push(run_branch(
                        engine,
                        ctx,
                        target,
                        handler,
                        out_seq,
                        Vec::new(),
                    ));
                }
            }
            continue;
        }
        let done = match store.next_deadline() {
            None => running.next().await,
            Some(deadline) => {
                let wait = deadline.saturating_sub(engine.clock.now_ms()).max(0) as u64;
                let sleep = engine.invoker.sleep(std::time::Duration::from_millis(wait));
                match futures::future::select(running.next(), sleep).await {
                    futures::future::Either::Left((done, _)) => done,
                    futures::future::Either::Right(((), _)) => {
                        timed_out = true;
                        for (key, messages) in store.take_expired(engine.clock.now_ms()) {
                            if let Some((ctx, target)) =
                                crate::mediators::complete_aggregate(engine, &key, messages)?
                            {
                                running.push(run_branch(
                                    engine,
                                    ctx,
                                    target,
                                    handler,
                                    out_seq,
                                    Vec::new(),
                                ));
                            }
                        }
                        continue;
                    }
                }
            }
        };
        let Some((r, ctx)) = done else { continue };
        match r {
            Ok(Flow::Respond) => {
                if answer.is_none() {
                    answer = Some(ctx);
                }
            }
            Ok(_) => {}
            Err(e) if sequential && !continue_parent => {
                // Synapse copies the faulty branch's properties to the parent, then fails it
                store.forget(id);
                for (k, v) in ctx.properties.default {
                    parent.properties.default.insert(k, v);
                }
                return Err(e);
            }
            Err(e) => {
                if first_err.is_none() {
                    first_err = Some(e);
                }
            }
        }
    }
    store.forget(id);
    if let Some(mut a) = answer {
        a.st.sent = false;
        a.st.branch_response = None;
        if continue_parent {
            if parent.st.branch_response.is_none() {
                parent.st.branch_response = Some(Box::new(a));
            }
            return Ok(Step::Next);
        }
        let keep = parent.st.branch_response.take();
        *parent = a;
        parent.st.branch_response = keep;
        return Ok(Step::End(Flow::Respond));
    }
    if continue_parent {
        return Ok(Step::Next);
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(Step::End(Flow::Drop)),
    }
}

/// A `continueParent="true"` fan-out running beside its parent: it owns what it needs, and
/// resolves to the answer a branch gave (`None`: none did).
type BesideRun =
    Pin<Box<dyn Future<Output = Result<Option<MessageContext>, MediationError>> + Send + 'static>>;

/// The `continueParent="true"` fan-outs of one flow, running beside it (ADR 0497). They make
/// progress whenever the flow waits (a backend call, a timer, a fan-out of its own:
/// [`Beside::drive`]); an answer one gives meanwhile is the flow's answer when it ends, the
/// first one winning ([`Beside::absorb`]). When the flow ends ([`Beside::settle`]) with an
/// answer of its own (or a fault), what is still running is handed to the host as detached
/// work; without one, the flow waits for them until one answers.
#[derive(Default)]
struct Beside {
    /// Made at the first fan-out (most flows have none: nothing to allocate for them).
    running: Option<FuturesUnordered<BesideRun>>,
    /// Fan-outs that ended and were not yet looked at.
    done: Vec<Result<Option<MessageContext>, MediationError>>,
    /// The first failure of a fan-out beside the flow (its branches' faults went to their
    /// handler; this is what the fan-out itself failed with).
    failed: Option<MediationError>,
    /// The host answers with the message when the flow ends normally
    /// ([`MessageContext::set_host_goes_on`]): that end counts as an answer.
    continue_answers: bool,
}

impl Beside {
    /// Start a fan-out beside the flow: its branches run at once, up to their first wait,
    /// then whenever the flow waits. The flow goes on.
    async fn start(
        &mut self,
        engine: &Engine,
        fork: Fork,
        handler: Option<SeqId>,
        out_seq: Option<SeqId>,
        cont: Vec<Frame>,
        ctx: &mut MessageContext,
    ) -> Result<Step, MediationError> {
        nesting_allowed(ctx, "fan-outs")?;
        let mut run = beside_fork(engine, fork, handler, out_seq, cont, ctx);
        // Synapse's pool takes the copies at once, and it mediates sequential ones in the
        // caller's thread until their first non-blocking call: the copies start before the
        // parent's next mediator
        match futures::poll!(run.as_mut()) {
            std::task::Poll::Ready(done) => self.done.push(done),
            std::task::Poll::Pending => self
                .running
                .get_or_insert_with(FuturesUnordered::new)
                .push(run),
        }
        self.absorb(ctx);
        Ok(Step::Next)
    }

    /// Wait for `fut`, the fan-outs beside the flow making progress meanwhile.
    async fn drive<T>(&mut self, fut: impl Future<Output = T>) -> T {
        let mut fut = std::pin::pin!(fut);
        loop {
            let Some(running) = self.running.as_mut().filter(|r| !r.is_empty()) else {
                return fut.await;
            };
            match futures::future::select(fut.as_mut(), running.next()).await {
                futures::future::Either::Left((out, _)) => return out,
                futures::future::Either::Right((Some(done), _)) => self.done.push(done),
                futures::future::Either::Right((None, _)) => {}
            }
        }
    }

    /// Keep the first answer of the fan-outs that ended, unless the flow keeps one already,
    /// and their first failure.
    fn absorb(&mut self, ctx: &mut MessageContext) {
        for done in self.done.drain(..) {
            match done {
                Ok(Some(answer)) => {
                    if ctx.st.branch_response.is_none() {
                        ctx.st.branch_response = Some(Box::new(answer));
                    } else {
                        tracing::debug!(
                            "a continueParent branch answered after another answer: the \
                             answer goes nowhere"
                        );
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    if self.failed.is_none() {
                        self.failed = Some(e);
                    }
                }
            }
        }
    }

    /// The flow ended with `r`. Without an answer (its own, or a fan-out's), wait for the
    /// fan-outs until one answers; then hand what still runs to the host, its answers going
    /// nowhere ([`crate::Invoker::detach`]; run here when the host gives it back). A fan-out
    /// that failed fails a flow that has no answer; else it is logged.
    async fn settle(
        mut self,
        engine: &Engine,
        r: Result<Flow, MediationError>,
        ctx: &mut MessageContext,
    ) -> Result<Flow, MediationError> {
        self.absorb(ctx);
        let goes_on = self.continue_answers;
        let answered = |r: &Result<Flow, MediationError>, ctx: &MessageContext| {
            let own = match r {
                Ok(Flow::Drop) => false,
                Ok(Flow::Continue) => goes_on,
                _ => true,
            };
            own || ctx.st.branch_response.is_some()
        };
        // what still runs (nothing to allocate when no fan-out ran beside the flow)
        let mut running: Vec<BesideRun> = Vec::new();
        if let Some(mut set) = self.running.take() {
            if !answered(&r, ctx) {
                while let Some(done) = set.next().await {
                    self.done.push(done);
                    self.absorb(ctx);
                    if ctx.st.branch_response.is_some() {
                        break;
                    }
                }
            }
            running.extend(set);
        }
        for run in running {
            let work: crate::DetachedWork = Box::pin(async move {
                match run.await {
                    Ok(Some(_)) => tracing::debug!(
                        "a continueParent branch answered after its flow had answered: the \
                         answer goes nowhere"
                    ),
                    Ok(None) => {}
                    Err(e) => tracing::warn!(
                        code = e.code,
                        "a continueParent fan-out running after its flow answered failed: {}",
                        e.message
                    ),
                }
            });
            if let Err(work) = engine.invoker.detach(work) {
                work.await;
            }
        }
        match self.failed {
            Some(e) if !answered(&r, ctx) => Err(e),
            Some(e) => {
                tracing::warn!(
                    code = e.code,
                    "a continueParent fan-out failed after its flow had an answer: {}",
                    e.message
                );
                r
            }
            None => r,
        }
    }
}

/// A `continueParent` fan-out as a run of its own, beside its parent: its branches run as in
/// the request; it resolves to the first branch answer.
fn beside_fork(
    engine: &Engine,
    fork: Fork,
    handler: Option<SeqId>,
    out_seq: Option<SeqId>,
    cont: Vec<Frame>,
    ctx: &MessageContext,
) -> BesideRun {
    let engine = engine.clone();
    let (store, depth) = (ctx.st.eip.clone(), ctx.st.fork_depth);
    Box::pin(async move {
        // a stand-in for the parent: what the fan-out reads of it (its aggregates, its
        // nesting) and where it keeps an answer
        let mut parent = MessageContext::from_request(
            http::Method::POST,
            "/",
            http::HeaderMap::new(),
            bytes::Bytes::new(),
            None,
        );
        parent.st.eip = store;
        parent.st.fork_depth = depth;
        run_fork(&engine, fork, handler, out_seq, cont, &mut parent).await?;
        Ok(parent.st.branch_response.take().map(|b| *b))
    })
}

fn target_frame(ir: &Ir, target: BranchTarget) -> Frame {
    match target {
        BranchTarget::Block(b) => Frame {
            block: b,
            pc: 0,
            on_error: None,
            nested: false,
            template: false,
        },
        BranchTarget::Seq(s) => seq_frame(ir, s),
    }
}

type InlineRun<'a> = Pin<Box<dyn Future<Output = Result<Flow, MediationError>> + Send + 'a>>;

/// Run a `foreach` sequence on the message itself (Synapse's form). Its faults go to the
/// handlers in force where the `foreach` is (the caller's loop), so none is passed here; an
/// answer a clone kept for the parent stays the parent's.
fn run_inline<'a>(
    engine: &'a Engine,
    ctx: &'a mut MessageContext,
    target: BranchTarget,
    out_seq: Option<SeqId>,
) -> InlineRun<'a> {
    Box::pin(async move {
        let first = target_frame(&engine.program.ir, target);
        let keep = ctx.st.branch_response.take();
        let r = run_frames(engine, vec![first], None, out_seq, ctx).await;
        if ctx.st.branch_response.is_none() {
            ctx.st.branch_response = keep;
        }
        r
    })
}

/// Run a `foreach`: its sequence on each element of the message in turn (Synapse's form), or
/// on a copy of the message per element, at most `Limits::branches_in_flight` at a time (one
/// at a time when not parallel), the results merged in the elements' order (Micro
/// Integrator's form). A fault in the sequence is the flow's fault. With
/// `continue-without-aggregation` the copies are handed to the host to run on their own
/// ([`detached_copies`]) and the flow goes on at once, the message unchanged; `handler` is
/// where their faults go.
async fn run_foreach(
    engine: &Engine,
    lp: crate::mediators::Loop,
    handler: Option<SeqId>,
    out_seq: Option<SeqId>,
    ctx: &mut MessageContext,
) -> Result<Step, MediationError> {
    use crate::mediators::{Copies, LoopKind};
    nesting_allowed(ctx, "foreach and fan-outs")?;
    let body = lp.body;
    let go_on = lp.continue_on_failure;
    match lp.kind {
        LoopKind::InPlace(mut st) => {
            ctx.st.fork_depth += 1;
            let mut answered = false;
            let mut r = Ok(());
            for i in 0..st.len() {
                st.enter(i, ctx);
                match run_inline(engine, ctx, body, out_seq).await {
                    Ok(Flow::Continue) => {
                        if let Err(e) = st.collect(ctx) {
                            r = Err(e);
                            break;
                        }
                    }
                    // Synapse keeps the element and ends the loop (unless told to go on); the
                    // flow goes on
                    Ok(Flow::Drop) => {
                        r = st.collect(ctx);
                        if r.is_err() || !go_on {
                            break;
                        }
                    }
                    Ok(Flow::Respond) => {
                        answered = true;
                        break;
                    }
                    Err(e) if go_on && e.kind != ErrorKind::Limit => {
                        tracing::warn!(
                            "error in the foreach sequence, going on with the next element: {}",
                            e.message
                        );
                        // the fault was handled here: the message is not in fault
                        ctx.st.fault = false;
                        if let Err(e) = st.failed(ctx) {
                            r = Err(e);
                            break;
                        }
                    }
                    Err(e) => {
                        r = Err(e);
                        break;
                    }
                }
            }
            ctx.st.fork_depth -= 1;
            r?;
            if answered {
                return Ok(Step::End(Flow::Respond));
            }
            st.finish(ctx)?;
            Ok(Step::Next)
        }
        LoopKind::Copies(c) => {
            let (parallel, branches, select, gather) = c.plan();
            if matches!(gather, crate::mediators::Gather::None) {
                if branches.is_empty() {
                    return Ok(Step::Next);
                }
                let (fork, _) = crate::eip::new_fork(ctx);
                let work =
                    detached_copies(engine, branches, body, handler, out_seq, parallel, fork);
                // a host that cannot take it now: the copies run here, the flow waits for them
                if let Err(work) = engine.invoker.detach(work) {
                    work.await;
                }
                return Ok(Step::Next);
            }
            let mut results: Vec<Option<MessageContext>> = branches.iter().map(|_| None).collect();
            let limit = if parallel {
                engine.limits.branches_in_flight.max(1) as usize
            } else {
                1
            };
            let (fork, _) = crate::eip::new_fork(ctx);
            let mut waiting = branches.into_iter().enumerate();
            let mut running = FuturesUnordered::new();
            loop {
                while running.len() < limit {
                    let Some((i, mut b)) = waiting.next() else {
                        break;
                    };
                    // a branch answers only when it says so (`respond`): a `call`'s response
                    // is its result
                    b.st.fork = fork;
                    let run = run_branch(engine, b, body, None, out_seq, Vec::new());
                    running.push(async move { (i, run.await) });
                }
                let Some((i, (r, bctx))) = running.next().await else {
                    break;
                };
                match r {
                    Ok(Flow::Continue) => {
                        if let Some(slot) = results.get_mut(i) {
                            *slot = Some(bctx);
                        }
                    }
                    Ok(_) => {}
                    Err(e) => return Err(e),
                }
            }
            Copies::finish(&select, &gather, results, ctx)?;
            Ok(Step::Next)
        }
    }
}

/// The copies of a `foreach continue-without-aggregation="true"` as work of their own (ADR
/// 0497): at most `Limits::branches_in_flight` at a time when parallel, one after another
/// otherwise, each as a branch with `handler` for its faults. Nothing they make goes back to
/// the message that made them: an answer (`respond`) answers nobody, and a fault (after its
/// handler) is logged.
fn detached_copies(
    engine: &Engine,
    branches: Vec<MessageContext>,
    body: BranchTarget,
    handler: Option<SeqId>,
    out_seq: Option<SeqId>,
    parallel: bool,
    fork: u64,
) -> crate::DetachedWork {
    let engine = engine.clone();
    Box::pin(async move {
        let limit = if parallel {
            engine.limits.branches_in_flight.max(1) as usize
        } else {
            1
        };
        let count = branches.len();
        let mut waiting = branches.into_iter().enumerate();
        let mut running = FuturesUnordered::new();
        loop {
            while running.len() < limit {
                let Some((i, mut b)) = waiting.next() else {
                    break;
                };
                b.st.fork = fork;
                let run = run_branch(&engine, b, body, handler, out_seq, Vec::new());
                running.push(async move { (i, run.await) });
            }
            let Some((i, (r, _))) = running.next().await else {
                break;
            };
            match r {
                Ok(Flow::Respond) => tracing::debug!(
                    "foreach copy {i} of {count} answered after its flow went on: the answer \
                     goes nowhere"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(
                    code = e.code,
                    "foreach copy {i} of {count} (continue-without-aggregation) failed: {}",
                    e.message
                ),
            }
        }
    })
}

/// Run the copies of a `scatter-gather`, at most `Limits::branches_in_flight` at a time (one at
/// a time when not parallel), gathering those that end normally and meet the condition, in the
/// order they finish, until every copy has ended, enough have been gathered
/// (`min-messages`/`max-messages`) or the timeout passes; the copies still running then are
/// cancelled. A fault in a copy is the flow's fault.
async fn run_scatter(
    engine: &Engine,
    sg: crate::mediators::Scatter,
    out_seq: Option<SeqId>,
    ctx: &mut MessageContext,
) -> Result<Step, MediationError> {
    use crate::mediators::{accepts, bounds, enough, gather};
    nesting_allowed(ctx, "scatter-gather and fan-outs")?;
    let cfg = sg.cfg;
    let limit = if cfg.parallel {
        engine.limits.branches_in_flight.max(1) as usize
    } else {
        1
    };
    let deadline = cfg.timeout_ms.map(|t| {
        engine
            .clock
            .now_ms()
            .saturating_add(t.min(i64::MAX as u64) as i64)
    });
    let (fork, _) = crate::eip::new_fork(ctx);
    let mut waiting = sg.branches.into_iter();
    let mut running: FuturesUnordered<BranchRun<'_>> = FuturesUnordered::new();
    let mut got: Vec<MessageContext> = Vec::new();
    // `min-messages`/`max-messages`, read on the first copy gathered
    let mut limits = (-1, -1);
    loop {
        while running.len() < limit {
            let Some((mut b, target)) = waiting.next() else {
                break;
            };
            b.st.fork = fork;
            running.push(run_branch(engine, b, target, None, out_seq, Vec::new()));
        }
        let done = match deadline {
            None => running.next().await,
            Some(d) => {
                let wait = d.saturating_sub(engine.clock.now_ms()).max(0) as u64;
                let sleep = engine.invoker.sleep(std::time::Duration::from_millis(wait));
                match futures::future::select(running.next(), sleep).await {
                    futures::future::Either::Left((done, _)) => done,
                    // the timeout: what was gathered is the result
                    futures::future::Either::Right(((), _)) => break,
                }
            }
        };
        let Some((r, mut bctx)) = done else {
            break;
        };
        match r {
            Ok(Flow::Continue) => {
                if accepts(engine, &cfg, &mut bctx)? {
                    if got.is_empty() {
                        limits = bounds(engine, &cfg, &mut bctx)?;
                    }
                    got.push(bctx);
                    if enough(limits, got.len()) {
                        break;
                    }
                }
            }
            Ok(_) => {}
            Err(e) => return Err(e),
        }
    }
    drop(running);
    gather(engine, &cfg, got, ctx)?;
    Ok(Step::Next)
}

/// Refuse one more level of fan-out (`what` names it in the error) beyond [`MAX_FORK_NESTING`].
fn nesting_allowed(ctx: &MessageContext, what: &str) -> Result<(), MediationError> {
    if ctx.st.fork_depth >= MAX_FORK_NESTING {
        return Err(MediationError::internal(
            ErrorKind::Limit,
            format!("{what} nested deeper than {MAX_FORK_NESTING}"),
        ));
    }
    Ok(())
}
