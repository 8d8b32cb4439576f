//! The interpreter: an iterative loop over the arena IR with a frame stack.

use crate::compile::Ir;
use crate::exec::{respond_status, Step};
use crate::ir::{BlockId, SeqId};
use crate::mediators::Node;
use crate::observe;
use crate::{Engine, ErrorKind, Flow, MediationError, MessageContext};
use synaptic_expr::Value;

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
    let ir: &Ir = &engine.program.ir;
    let Some(&start) = ir.seq_by_name.get(sequence) else {
        return Err(MediationError::internal(
            ErrorKind::Fault,
            format!("no sequence named `{sequence}` is loaded"),
        ));
    };
    ctx.st.tree_factor = Some(engine.limits.tree_factor);
    if ctx.st.local_entries.is_none() && !ir.local_entries.is_empty() {
        ctx.st.local_entries = Some(ir.local_entries.clone());
    }
    let mut fault_seq = fault_sequence.and_then(|n| ir.seq_by_name.get(n).copied());
    let mut frames: Vec<Frame> = Vec::with_capacity(8);
    frames.push(seq_frame(ir, start));
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
                None if final_flow == Flow::Continue && ctx.response && !started_as_response => {
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
        let result = step(engine, node, ctx).await;
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
                if let Some(i) = frames.iter().rposition(|f| f.on_error.is_some()) {
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
                observe::sequence_started(ctx, &ir.seqs[s as usize].name);
                let mut f = seq_frame(ir, s);
                f.nested = true;
                frames.push(f);
            }
            Step::Template(s, params) => {
                if let Err(e) = check_depth(engine, &frames, node, ctx) {
                    unwind(&mut frames, 0, ctx, true);
                    return Err(e);
                }
                observe::sequence_started(ctx, &ir.seqs[s as usize].name);
                let mut f = seq_frame(ir, s);
                f.nested = true;
                f.template = true;
                frames.push(f);
                ctx.st.func_params.push(params);
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
        }
    }
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
    d.insert("ERROR_CODE".into(), Value::Integer(e.code));
    let first_line = e.message.lines().next().unwrap_or("").to_string();
    d.insert("ERROR_MESSAGE".into(), Value::String(first_line));
    d.insert("ERROR_DETAIL".into(), Value::String(e.message.clone()));
}

async fn step(
    engine: &Engine,
    node: &Node,
    ctx: &mut MessageContext,
) -> Result<Step, MediationError> {
    // Registry reads are fetched before the mediator runs (expressions are synchronous).
    for key in node.registry_keys.iter() {
        let v = engine.registry.get(key).await.map_err(|e| {
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
        match ctx.st.registry.get_mut(key.as_str()) {
            Some(slot) => *slot = v,
            None => {
                ctx.st.registry.insert(key.clone(), v);
            }
        }
    }
    if node.reads_addressing {
        ctx.ensure_soap_request_built()?;
    }
    if node.touches_body && !(node.raw_json_ok && ctx.has_raw_json()) {
        ctx.ensure_built()?;
    }
    crate::mediators::run(engine, node, ctx).await
}
