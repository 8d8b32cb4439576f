//! `<validate>` with JSON Schema (drafts 4, 6, 7, 2019-09 and 2020-12 through the `jsonschema`
//! crate). As in Synapse, a JSON payload (or a JSONPath / `${…}` source) is validated against
//! the last `<schema key>`; a schema without `$schema` is read as draft 4 (Synapse's validator
//! default). Schemas from local entries are compiled at load; schemas from the registry at first
//! use, then cached with the text they were compiled from (`cache-schema="false"` compiles them
//! on every message). XML Schema is not supported yet (see ADR 0395).

use std::sync::Arc;

use crate::text_cache::TextCache;

use synaptic_diag::{codes, Diagnostic, Span};
use synaptic_expr::synexpr::SynExpr;
use synaptic_expr::{CompiledExpr, Value};
use synaptic_payload::Payload;
use synaptic_syntax::ast;

use crate::compiler::Compiler;
use crate::convert::value_string;
use crate::exec::Step;
use crate::ir::BlockId;
use crate::mediators::{block, Node};
use crate::{Engine, ErrorKind, MediationError, MessageContext};
use std::collections::BTreeSet;
use synaptic_expr::Dialect;

/// What `source=` selects.
#[derive(Debug)]
pub(crate) enum Source {
    /// `json-eval(…)`.
    JsonPath(CompiledExpr),
    /// `${…}`.
    Syn(SynExpr),
    /// An XPath: only an XML payload could be validated with it (not yet).
    XPath(String),
}

#[derive(Debug)]
enum Schema {
    /// A local entry, compiled at load.
    Compiled(Arc<jsonschema::Validator>),
    /// A registry key, compiled at first use.
    Registry {
        key: String,
        cache: TextCache<jsonschema::Validator>,
    },
}

#[derive(Debug)]
pub(crate) struct ValidateOp {
    source: Option<Source>,
    schema: Schema,
    cache_schema: bool,
    on_fail: BlockId,
}

/// The source expression (for body-access analysis).
pub(crate) fn exprs(op: &ValidateOp, visit: &mut dyn FnMut(&CompiledExpr)) {
    if let Some(Source::JsonPath(c)) = &op.source {
        visit(c);
    }
}

pub(crate) fn syn_exprs<'a>(op: &'a ValidateOp, out: &mut Vec<&'a SynExpr>) {
    if let Some(Source::Syn(s)) = &op.source {
        out.push(s);
    }
}

/// The registry key read when the message is validated (a schema no local entry holds).
pub(crate) fn registry_keys(op: &ValidateOp, keys: &mut BTreeSet<String>) {
    if let Schema::Registry { key, .. } = &op.schema {
        keys.insert(key.clone());
    }
}

/// Compile a JSON Schema text: draft from `$schema`, draft 4 without it.
fn build(text: &str) -> Result<jsonschema::Validator, String> {
    let schema: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("the schema is not JSON: {e}"))?;
    let built = if schema.get("$schema").is_some() {
        jsonschema::validator_for(&schema)
    } else {
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .build(&schema)
    };
    built.map_err(|e| format!("invalid JSON Schema: {e}"))
}

/// Compile a `<validate>`: its source, its schema (a local entry's compiled now) and its
/// `<on-fail>` block.
pub(crate) fn compile(
    c: &mut Compiler<'_>,
    blocks: &mut Vec<Vec<Node>>,
    v: &ast::Validate,
) -> Option<ValidateOp> {
    let source = match &v.source {
        None => None,
        Some(e) if crate::eval::is_syn(e) => {
            Some(Source::Syn(crate::eval::compile_syn(e, &mut c.diags)?))
        }
        Some(e) if crate::jpath::json_eval_inner(&e.text).is_some() => {
            Some(Source::JsonPath(c.expr(e, Dialect::XPath)?))
        }
        Some(e) => {
            c.expr(e, Dialect::XPath)?;
            Some(Source::XPath(e.text.clone()))
        }
    };
    let on_fail = block(c, blocks, &v.on_fail);
    // Synapse reads every key and keeps the last one's schema
    let key = v.schemas.last()?;
    for (name, _) in &v.features {
        c.diags.push(Diagnostic::warning(
            codes::W0301,
            name.span,
            format!(
                "validate feature `{}` applies to XML Schema validation only; ignored",
                name.value
            ),
        ));
    }
    let schema = match c.local_entries.get(&key.value).cloned() {
        Some(text) if text.trim_start().starts_with('<') => {
            c.err(
                codes::E0108,
                key.span,
                format!(
                    "local entry `{}` holds an XML Schema: validation against XML Schema is not \
                     supported yet (JSON Schema is)",
                    key.value
                ),
            );
            return None;
        }
        Some(text) => match build(&text) {
            Ok(s) => Schema::Compiled(Arc::new(s)),
            Err(msg) => {
                c.err(
                    codes::E0106,
                    key.span,
                    format!("schema `{}`: {msg}", key.value),
                );
                return None;
            }
        },
        None => Schema::Registry {
            key: key.value.clone(),
            cache: TextCache::default(),
        },
    };
    Some(ValidateOp {
        source,
        schema,
        cache_schema: v.cache_schema,
        on_fail,
    })
}

fn fault(msg: impl Into<String>, at: Span) -> MediationError {
    MediationError::internal(ErrorKind::Expression, msg).at(at)
}

fn validator(op: &ValidateOp, ctx: &MessageContext) -> Result<Arc<jsonschema::Validator>, String> {
    match &op.schema {
        Schema::Compiled(v) => Ok(v.clone()),
        Schema::Registry { key, cache } => {
            let text = ctx
                .registry_value(key)
                .ok_or_else(|| format!("Can not find JSON Schema {key}"))?;
            cache.get_or_compile(key, text, op.cache_schema, |t| {
                build(t).map_err(|m| format!("schema `{key}`: {m}"))
            })
        }
    }
}

/// Validate the message: when it does not conform, `<on-fail>` runs (with `ERROR_MESSAGE` and
/// `ERROR_DETAIL` set), then mediation goes on after the `validate`.
pub(crate) fn run(
    engine: &Engine,
    op: &ValidateOp,
    ctx: &mut MessageContext,
    at: Span,
) -> Result<Step, MediationError> {
    let json_source = matches!(op.source, Some(Source::JsonPath(_) | Source::Syn(_)));
    if !json_source {
        ctx.ensure_built()?;
        if !matches!(ctx.payload, Payload::Json(_)) {
            return Err(fault(
                "validate: the message is not JSON; validation against XML Schema is not \
                 supported yet",
                at,
            ));
        }
    }
    let validator = validator(op, ctx).map_err(|m| fault(m, at))?;
    let instance: serde_json::Value = match &op.source {
        None => match &ctx.payload {
            Payload::Json(j) => j.clone(),
            _ => serde_json::Value::Object(Default::default()),
        },
        Some(Source::XPath(x)) => {
            return Err(fault(
                format!(
                    "Could not find JSONPath or Synapse Expression to extract the message to \
                     validate from the payload (source `{x}` is XPath)"
                ),
                at,
            ))
        }
        Some(src) => {
            let text = match src {
                Source::JsonPath(c) => {
                    value_string(&crate::eval::eval(engine, ctx, c)?).unwrap_or_default()
                }
                Source::Syn(s) => {
                    let env = crate::context::Env::of(engine, ctx);
                    synaptic_expr::synexpr::string_value_of(s, &env)
                }
                Source::XPath(_) => String::new(),
            };
            let text = if text.is_empty() {
                "{}".to_string()
            } else {
                text
            };
            serde_json::from_str(&text).map_err(|e| {
                fault(
                    format!("Error while validating the JSON Schema: the source is not JSON: {e}"),
                    at,
                )
            })?
        }
    };
    let first = validator.iter_errors(&instance).next().map(|e| {
        (
            e.to_string(),
            format!(
                "{e} (at instance path `{}`, schema path `{}`)",
                e.instance_path, e.schema_path
            ),
        )
    });
    match first {
        None => Ok(Step::Next),
        Some((message, detail)) => {
            let d = &mut ctx.properties.default;
            d.insert("ERROR_MESSAGE".into(), Value::String(message));
            d.insert(
                "ERROR_DETAIL".into(),
                Value::String(format!("Error while validating Json message {detail}")),
            );
            Ok(Step::Push(op.on_fail))
        }
    }
}
