//! Evaluating what mediators read: classic expressions (XPath, `json-eval`), value sources, and
//! Synapse Expressions (`${…}`) in mediator attributes, log `<message>` and templates — compiled
//! here with diagnostics that point inside the expression, evaluated over the message.

use synaptic_diag::{Diagnostic, Span};
use synaptic_expr::synexpr::{self, SynEnv, SynExpr};
use synaptic_expr::{CompiledExpr, ExprEnv, Value};
use synaptic_syntax::ast;

use crate::context::Env;
use crate::ir::ValueSrc;
use crate::{Engine, ErrorKind, MediationError, MessageContext};

pub(crate) fn eval(
    engine: &Engine,
    ctx: &MessageContext,
    e: &CompiledExpr,
) -> Result<Value, MediationError> {
    let env = Env::of(engine, ctx);
    synaptic_expr::eval(e, &env).map_err(|err| {
        if let synaptic_expr::EvalError::Body(
            tree @ synaptic_payload::PayloadError::TreeTooLarge(_),
        ) = &err
        {
            return MediationError::new(
                ErrorKind::BodyTooLarge,
                ctx.body_origin(),
                crate::error_codes::TREE_TOO_LARGE,
                format!("expression `{}` cannot read the body: {tree}", e.text),
            )
            .at(e.span);
        }
        if let synaptic_expr::EvalError::Unresolvable(m) = err {
            // Synapse's own message, as `ERROR_MESSAGE`
            return MediationError::internal(ErrorKind::Fault, m).at(e.span);
        }
        MediationError::internal(
            ErrorKind::Expression,
            format!("expression `{}` failed: {err}", e.text),
        )
        .at(e.span)
    })
}

pub(crate) fn eval_src(
    engine: &Engine,
    ctx: &MessageContext,
    v: &ValueSrc,
) -> Result<Value, MediationError> {
    match v {
        ValueSrc::Literal(v) => Ok(v.clone()),
        ValueSrc::Expr(e) => eval(engine, ctx, e),
        ValueSrc::Syn(e) => Ok(eval_syn(engine, ctx, e)),
        ValueSrc::None => Ok(Value::Null),
    }
}

/// Whether an expression attribute is a Synapse Expression (`${…}`).
/// A `source=` attribute read as text (`switch`, `filter` with `regex=`): an XPath result as
/// `string()` gives it (`None` when missing), a Synapse Expression's text as Micro
/// Integrator's `stringValueOf` gives it (`""` for null or an evaluation error).
pub(crate) fn source_text(
    engine: &Engine,
    ctx: &MessageContext,
    v: &ValueSrc,
) -> Result<Option<String>, MediationError> {
    match v {
        ValueSrc::Syn(e) => {
            let env = Env::of(engine, ctx);
            Ok(Some(synexpr::string_value_of(e, &env)))
        }
        other => Ok(crate::convert::value_string(&eval_src(engine, ctx, other)?)),
    }
}

/// Compile a `source=` attribute: `${…}` alone is a Synapse Expression, anything else XPath
/// (or `json-eval(…)`).
pub(crate) fn compile_source(
    c: &mut crate::compiler::Compiler<'_>,
    e: &ast::Expr,
) -> Option<ValueSrc> {
    if is_syn(e) {
        Some(ValueSrc::Syn(compile_syn(e, &mut c.diags)?))
    } else {
        Some(ValueSrc::Expr(c.expr(e, synaptic_expr::Dialect::XPath)?))
    }
}

pub(crate) fn is_syn(e: &ast::Expr) -> bool {
    synexpr::is_expression_attr(&e.text)
}

/// Compile `${…}` written in an attribute; diagnostics point inside the expression.
pub(crate) fn compile_syn(e: &ast::Expr, diags: &mut Vec<Diagnostic>) -> Option<SynExpr> {
    let text = e.text.trim();
    let lead = e.text.len() - e.text.trim_start().len();
    let inner = &text[2..text.len() - 1];
    let r = e.span.range();
    let span = if r.len() == e.text.len() {
        Span::new(
            e.span.source,
            r.start + lead + 2,
            r.start + lead + 2 + inner.len(),
        )
    } else {
        e.span
    };
    match synexpr::compile(inner, span, &e.namespaces) {
        Ok(s) => Some(s),
        Err(d) => {
            diags.extend(d);
            None
        }
    }
}

/// Compile text with `${…}` inside (a log `<message>`).
pub(crate) fn compile_template(
    t: &synaptic_diag::Spanned<String>,
    diags: &mut Vec<Diagnostic>,
) -> Option<synexpr::Template> {
    match synexpr::Template::compile(&t.value, t.span, &[]) {
        Ok(t) => Some(t),
        Err(d) => {
            diags.extend(d);
            None
        }
    }
}

/// Render a template against the message (a failed expression reads as empty).
pub(crate) fn render(engine: &Engine, ctx: &MessageContext, t: &synexpr::Template) -> String {
    let env = Env::of(engine, ctx);
    t.render(&env)
}

/// Registry keys and body access of Synapse Expressions in an op's attributes.
pub(crate) fn meta(exprs: &[&SynExpr], keys: &mut std::collections::BTreeSet<String>) -> bool {
    let mut touches = false;
    for e in exprs {
        keys.extend(e.registry_keys().iter().cloned());
        touches |= e.is_content_aware();
    }
    touches
}

impl SynEnv for Env<'_> {
    fn as_expr(&self) -> &dyn ExprEnv {
        self
    }
    fn variable(&self, name: &str) -> Option<Value> {
        self.ctx.st.variables.get(name).cloned()
    }
    fn function_param(&self, name: &str) -> Option<Value> {
        self.ctx.st.func_params.last()?.get(name).cloned()
    }
    fn config(&self, name: &str) -> Option<String> {
        self.values.config(name)
    }
}

/// Evaluate `${…}` as the value an attribute sets (null on an evaluation error, as in MI).
pub(crate) fn eval_syn(engine: &Engine, ctx: &MessageContext, e: &SynExpr) -> Value {
    let env = Env::of(engine, ctx);
    synexpr::object_value_of(e, &env)
}

/// Evaluate `${…}` as a condition.
pub(crate) fn eval_syn_cond(engine: &Engine, ctx: &MessageContext, e: &SynExpr) -> bool {
    let env = Env::of(engine, ctx);
    synexpr::eval_condition(e, &env)
}
