//! `<switch>`: the first `<case regex=…>` matching the whole string value of `source=`, else
//! `<default>`.

use crate::compiler::Compiler;
use crate::exec::Step;
use crate::ir::{BlockId, ValueSrc};
use crate::mediators::{block, Node};
use crate::{Engine, MediationError, MessageContext};
use synaptic_expr::synexpr::SynExpr;
use synaptic_expr::CompiledExpr;
use synaptic_syntax::ast;

#[derive(Debug)]
pub(crate) struct SwitchOp {
    /// An XPath/JSONPath expression or `${…}`.
    pub source: ValueSrc,
    pub cases: Vec<(regex::Regex, BlockId)>,
    pub default: Option<BlockId>,
}

pub(crate) fn compile(
    c: &mut Compiler<'_>,
    blocks: &mut Vec<Vec<Node>>,
    s: &ast::Switch,
) -> Option<SwitchOp> {
    let source = crate::eval::compile_source(c, &s.source);
    let mut cases = Vec::new();
    for case in &s.cases {
        let re = c.regex(&case.regex);
        let body = block(c, blocks, &case.mediators);
        if let Some(re) = re {
            cases.push((re, body));
        }
    }
    let default = s.default.as_ref().map(|d| block(c, blocks, d));
    Some(SwitchOp {
        source: source?,
        cases,
        default,
    })
}

pub(crate) fn run(
    engine: &Engine,
    s: &SwitchOp,
    ctx: &mut MessageContext,
) -> Result<Step, MediationError> {
    let v = crate::eval::source_text(engine, ctx, &s.source)?;
    if let Some(v) = v {
        for (re, b) in &s.cases {
            if re.is_match(&v) {
                return Ok(Step::Push(*b));
            }
        }
    }
    Ok(match s.default {
        Some(b) => Step::Push(b),
        None => Step::Next,
    })
}

pub(crate) fn exprs(s: &SwitchOp, visit: &mut dyn FnMut(&CompiledExpr)) {
    if let ValueSrc::Expr(e) = &s.source {
        visit(e);
    }
}

pub(crate) fn syn_exprs<'a>(s: &'a SwitchOp, out: &mut Vec<&'a SynExpr>) {
    if let ValueSrc::Syn(e) = &s.source {
        out.push(e);
    }
}
