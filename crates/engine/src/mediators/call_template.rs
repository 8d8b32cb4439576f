//! `<call-template target="…">`: run a sequence template with parameters. Each `<with-param>`
//! is evaluated in the caller's message when the call starts; a parameter not passed takes the
//! template's `defaultValue`. Inside the template, `$func:name`, `get-property('func', 'name')`
//! and `${params.functionParams.name}` read them; a template called from a template sees only
//! its own parameters.

use crate::compiler::{Compiler, Unresolved};
use crate::eval::{compile_syn, eval_src, is_syn};
use crate::exec::Step;
use crate::ir::{SeqId, ValueSrc};
use crate::{Engine, MediationError, MessageContext};
use std::collections::HashMap;
use std::sync::Arc;
use synaptic_diag::{codes, Diagnostic};
use synaptic_expr::synexpr::SynExpr;
use synaptic_expr::{CompiledExpr, Dialect, Value};
use synaptic_syntax::ast;

#[derive(Debug)]
pub(crate) struct CallTemplateOp {
    pub target: SeqId,
    /// Parameters passed, by name.
    pub params: Vec<(String, ValueSrc)>,
    /// The template's defaults for the parameters not passed.
    pub defaults: Vec<(String, Value)>,
    /// The parameters passed as `{{xpath}}`.
    pub paths: crate::mediators::FuncPaths,
}

/// A `{{xpath}}` value, which the parser keeps as the expression `{xpath}`.
fn is_escaped_xpath(e: &ast::Expr) -> bool {
    let t = e.text.trim();
    t.len() >= 2 && t.starts_with('{') && t.ends_with('}')
}

pub(crate) fn compile(c: &mut Compiler<'_>, t: &ast::CallTemplate) -> Option<CallTemplateOp> {
    let decl = c.templates.get(&t.target.value).cloned();
    let target = match &decl {
        Some(decl) => c.resolve_seq(&synaptic_diag::Spanned::new(
            decl.sequence.clone(),
            t.target.span,
        ))?,
        None if c.is_unavailable(&t.target.value) => {
            c.err(
                codes::E0340,
                t.target.span,
                format!(
                    "sequence template `{}` is not deployed: the artifact that defines it has \
                     errors",
                    t.target.value
                ),
            );
            return None;
        }
        None => {
            // Synapse's `InvokeMediator` looks the template up when a message gets here
            let message = format!("Sequence template {} cannot be found", t.target.value);
            let other = if c.endpoint_templates.contains_key(&t.target.value) {
                " (an endpoint template of that name is, which <call-template> cannot run)"
            } else {
                ""
            };
            c.diags.push(
                Diagnostic::warning(
                    codes::W0343,
                    t.target.span,
                    format!(
                        "no sequence template named `{}` is deployed{other}; Synapse looks it \
                         up when a message gets here: a message that gets here faults \
                         (`{message}`)",
                        t.target.value
                    ),
                )
                .with_note("deploy the template (hot reload picks it up) or fix the name"),
            );
            c.stand_in(&t.target, Unresolved::Template(message))
        }
    };
    let mut params = Vec::new();
    let mut paths = Vec::new();
    let mut ok = true;
    for p in &t.params {
        let declared = decl.as_ref().map(|d| &d.params);
        if declared.is_some_and(|ps| !ps.iter().any(|d| d.name.value == p.name.value)) {
            c.diags.push(Diagnostic::warning(
                codes::W0341,
                p.name.span,
                format!(
                    "template `{}` declares no parameter `{}`",
                    t.target.value, p.name.value
                ),
            ));
        }
        let src = match &p.value {
            ast::PropertyValue::Literal(l) => ValueSrc::Literal(Value::String(l.value.clone())),
            // `{{xpath}}` (kept as `{xpath}`): the XPath itself, for the template's EIP
            // expressions written `$func:name`; read as a value, the text as written
            ast::PropertyValue::Expression(e) if is_escaped_xpath(e) => {
                let t = e.text.trim();
                let mut inner = e.clone();
                inner.text = t[1..t.len() - 1].to_string();
                if c.expr(&inner, Dialect::XPath).is_none() {
                    ok = false;
                    continue;
                }
                let written = format!("{{{t}}}");
                paths.push((p.name.value.clone(), Arc::new(inner)));
                ValueSrc::Literal(Value::String(written))
            }
            ast::PropertyValue::Expression(e) if is_syn(e) => match compile_syn(e, &mut c.diags) {
                Some(s) => ValueSrc::Syn(s),
                None => {
                    ok = false;
                    continue;
                }
            },
            ast::PropertyValue::Expression(e) => match c.expr(e, Dialect::XPath) {
                Some(x) => ValueSrc::Expr(x),
                None => {
                    ok = false;
                    continue;
                }
            },
            ast::PropertyValue::Inline(x) => ValueSrc::Literal(Value::Xml(x.value.clone())),
            ast::PropertyValue::None => ValueSrc::None,
        };
        params.push((p.name.value.clone(), src));
    }
    let mut defaults = Vec::new();
    for d in decl.iter().flat_map(|d| &d.params) {
        if t.params.iter().any(|p| p.name.value == d.name.value) {
            continue;
        }
        match &d.default {
            Some(v) => defaults.push((d.name.value.clone(), Value::String(v.value.clone()))),
            None if d.mandatory => {
                c.diags.push(
                    Diagnostic::error(
                        codes::E0341,
                        t.target.span,
                        format!(
                            "template `{}` needs parameter `{}`",
                            t.target.value, d.name.value
                        ),
                    )
                    .with_label(d.name.span, "declared mandatory here"),
                );
                ok = false;
            }
            None => {}
        }
    }
    ok.then_some(CallTemplateOp {
        target,
        params,
        defaults,
        paths: paths.into(),
    })
}

pub(crate) fn run(
    engine: &Engine,
    t: &CallTemplateOp,
    ctx: &MessageContext,
) -> Result<Step, MediationError> {
    let mut values: HashMap<String, Value> = HashMap::with_capacity(t.params.len());
    for (name, v) in &t.defaults {
        values.insert(name.clone(), v.clone());
    }
    for (name, src) in &t.params {
        values.insert(name.clone(), eval_src(engine, ctx, src)?);
    }
    Ok(Step::Template(t.target, Arc::new(values), t.paths.clone()))
}

pub(crate) fn exprs(t: &CallTemplateOp, f: &mut dyn FnMut(&CompiledExpr)) {
    for (_, v) in &t.params {
        if let ValueSrc::Expr(e) = v {
            f(e);
        }
    }
}

pub(crate) fn syn_exprs<'a>(t: &'a CallTemplateOp, out: &mut Vec<&'a SynExpr>) {
    for (_, v) in &t.params {
        if let ValueSrc::Syn(e) = v {
            out.push(e);
        }
    }
}
