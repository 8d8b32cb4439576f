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
    /// A template's body: leaving it drops its parameters (`MessageContext`'s function stack).
    template: bool,
}

/// Drop frames down to `len`, and the template parameters of those that were templates.
fn truncate(frames: &mut Vec<Frame>, len: usize, ctx: &mut MessageContext) {
    while frames.len() > len {
        if frames.pop().is_some_and(|f| f.template) {
            ctx.st.func_params.pop();
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
            let len = frames.len() - 1;
            truncate(&mut frames, len, ctx);
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
                    observe::fault(ctx, &e, None);
                    return Err(e);
                }
                set_error_props(ctx, &e);
                if let Some(i) = frames.iter().rposition(|f| f.on_error.is_some()) {
                    let handler = frames[i].on_error;
                    truncate(&mut frames, i, ctx);
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
                    observe::fault(ctx, &e, Some(&ir.seqs[fs as usize].name));
                    truncate(&mut frames, 0, ctx);
                    let mut f = seq_frame(ir, fs);
                    f.on_error = None;
                    frames.push(f);
                    pending = Some(e);
                    continue;
                }
                observe::fault(ctx, &e, None);
                return Err(e);
            }
        };
        match next {
            Step::Next => {}
            Step::Push(b) => {
                check_depth(engine, &frames, node, ctx)?;
                frames.push(Frame {
                    block: b,
                    pc: 0,
                    on_error: None,
                    template: false,
                });
            }
            Step::PushSeq(s) => {
                check_depth(engine, &frames, node, ctx)?;
                frames.push(seq_frame(ir, s));
            }
            Step::Template(s, params) => {
                check_depth(engine, &frames, node, ctx)?;
                let mut f = seq_frame(ir, s);
                f.template = true;
                frames.push(f);
                ctx.st.func_params.push(params);
            }
            Step::End(flow) => {
                truncate(&mut frames, 0, ctx);
                return Ok(flow);
            }
            Step::Receive(s) => {
                truncate(&mut frames, 0, ctx);
                frames.push(seq_frame(ir, s));
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
