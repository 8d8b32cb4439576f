//! `<filter>`: run `<then>` or `<else>` (or the children) by a condition: an XPath (or `${…}`)
//! taken as a boolean, or a regular expression matched against the whole of `source=`.

use crate::compiler::Compiler;
use crate::eval::eval;
use crate::exec::Step;
use crate::ir::{BlockId, ValueSrc};
use crate::mediators::{block, Node};
use crate::{Engine, MediationError, MessageContext};
use synaptic_expr::synexpr::SynExpr;
use synaptic_expr::{CompiledExpr, Dialect, Value};
use synaptic_syntax::ast;

#[derive(Debug)]
pub(crate) enum Cond {
    XPath(CompiledExpr),
    /// `xpath="${…}"`
    Syn(synaptic_expr::synexpr::SynExpr),
    Regex {
        /// An XPath/JSONPath expression or `${…}`.
        source: ValueSrc,
        regex: regex::Regex,
    },
}

#[derive(Debug)]
pub(crate) struct FilterOp {
    pub cond: Cond,
    pub then: BlockId,
    pub otherwise: Option<BlockId>,
}

pub(crate) fn compile(
    c: &mut Compiler<'_>,
    blocks: &mut Vec<Vec<Node>>,
    f: &ast::Filter,
) -> Option<FilterOp> {
    let cond = match &f.condition {
        ast::Condition::XPath(e) if crate::eval::is_syn(e) => {
            Cond::Syn(crate::eval::compile_syn(e, &mut c.diags)?)
        }
        ast::Condition::XPath(e) => Cond::XPath(c.expr(e, Dialect::XPath)?),
        ast::Condition::Regex { source, regex } => {
            let source = crate::eval::compile_source(c, source);
            let regex = c.regex(regex);
            Cond::Regex {
                source: source?,
                regex: regex?,
            }
        }
    };
    let then = block(c, blocks, &f.then);
    let otherwise = f.otherwise.as_ref().map(|o| block(c, blocks, o));
    Some(FilterOp {
        cond,
        then,
        otherwise,
    })
}

pub(crate) fn run(
    engine: &Engine,
    f: &FilterOp,
    ctx: &mut MessageContext,
) -> Result<Step, MediationError> {
    let FilterOp {
        cond,
        then,
        otherwise,
    } = f;
    let yes = match cond {
        Cond::XPath(e) => truthy(&eval(engine, ctx, e)?),
        Cond::Syn(e) => crate::eval::eval_syn_cond(engine, ctx, e),
        Cond::Regex { source, regex } => match crate::eval::source_text(engine, ctx, source)? {
            None => false,
            Some(s) => regex.is_match(&s),
        },
    };
    Ok(if yes {
        Step::Push(*then)
    } else {
        match otherwise {
            Some(b) => Step::Push(*b),
            None => Step::Next,
        }
    })
}

pub(crate) fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Boolean(b) => *b,
        Value::String(s) => !s.is_empty(),
        Value::Number(n) => *n != 0.0 && !n.is_nan(),
        Value::Integer(i) => *i != 0,
        Value::Xml(s) => !s.is_empty(),
        Value::Json(_) => true,
    }
}

pub(crate) fn exprs(f: &FilterOp, visit: &mut dyn FnMut(&CompiledExpr)) {
    match &f.cond {
        Cond::XPath(e) => visit(e),
        Cond::Regex {
            source: ValueSrc::Expr(e),
            ..
        } => visit(e),
        Cond::Regex { .. } => {}
        Cond::Syn(_) => {}
    }
}

pub(crate) fn syn_exprs<'a>(f: &'a FilterOp, out: &mut Vec<&'a SynExpr>) {
    match &f.cond {
        Cond::Syn(e)
        | Cond::Regex {
            source: ValueSrc::Syn(e),
            ..
        } => out.push(e),
        _ => {}
    }
}
