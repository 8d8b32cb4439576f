//! `<validate>`: a JSON message against JSON Schema, an XML message against XML Schema.
//!
//! As in Synapse, the message decides: a JSON payload (or `json-source="true"`) is validated
//! against the last `<schema key>` as a JSON Schema (drafts 4, 6, 7, 2019-09 and 2020-12
//! through the `jsonschema` crate; draft 4 when the schema names no `$schema`, Synapse's
//! validator default), the whole payload or what a JSONPath / `${…}` `source=` selects. Any
//! other message is validated against all the `<schema key>`s together as XML Schema 1.0
//! (through `xsd-schema`, ADR 0500): the first element of the SOAP body (the document element
//! of a plain XML message), or the element an XPath `source=` selects; `<resource location
//! key>` supplies the documents their `xs:import` / `xs:include` name.
//!
//! Schemas from local entries are compiled at load (a broken one is a lint error at its key);
//! with a key in the registry, at first use, then cached with the texts they were compiled
//! from (`cache-schema="false"` compiles them on every message). Either way the same code
//! reads, compiles and caches both kinds.

mod xsd;

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::text_cache::TextCache;

use synaptic_diag::{codes, Diagnostic, Span};
use synaptic_expr::synexpr::SynExpr;
use synaptic_expr::{CompiledExpr, Dialect, Value};
use synaptic_payload::xml::Element;
use synaptic_payload::{Envelope, Payload};
use synaptic_syntax::ast;

use crate::compiler::Compiler;
use crate::convert::value_string;
use crate::exec::Step;
use crate::ir::{BlockId, ValueSrc};
use crate::mediators::{block, Node};
use crate::xsel::{self, NodeRef, Part};
use crate::{Engine, ErrorKind, MediationError, MessageContext};

use xsd::is_xml;

/// What `source=` selects.
#[derive(Debug)]
pub(crate) enum Source {
    /// `json-eval(…)`.
    JsonPath(CompiledExpr),
    /// `${…}`.
    Syn(SynExpr),
    /// An XPath selecting the element to validate (of an XML message).
    XPath {
        text: String,
        path: xsel::Path,
        expr: CompiledExpr,
    },
}

/// A compiled schema of one kind: compiled at load, not usable for this kind, or compiled
/// when first used.
#[derive(Debug)]
enum Slot<T, K> {
    Ready(Arc<T>),
    /// The fault a message of this kind raises (e.g. an XML Schema for a JSON message).
    Refused(String),
    /// Compiled at first use and kept with what it was compiled from.
    Lazy(TextCache<T, K>),
}

/// The text of every `<schema key>` (XML) and of every `<resource>` key, `None` when missing.
type XmlTexts = (Vec<Option<String>>, Vec<Option<String>>);

/// A `<schema key>`: as written, or `key="{…}"` evaluated on each message.
#[derive(Debug)]
enum Key {
    Static(String),
    Dynamic(ValueSrc),
}

#[derive(Debug)]
pub(crate) struct ValidateOp {
    source: Option<Source>,
    keys: Vec<Key>,
    /// `<resource location key>`.
    resources: Vec<(String, String)>,
    json: Slot<jsonschema::Validator, String>,
    xml: Slot<xsd::XsdSchema, XmlTexts>,
    cache_schema: bool,
    json_source: bool,
    on_fail: BlockId,
}

/// The source expression (for body-access analysis).
pub(crate) fn exprs(op: &ValidateOp, visit: &mut dyn FnMut(&CompiledExpr)) {
    match &op.source {
        Some(Source::JsonPath(c)) | Some(Source::XPath { expr: c, .. }) => visit(c),
        _ => {}
    }
    for k in &op.keys {
        if let Key::Dynamic(ValueSrc::Expr(e)) = k {
            visit(e);
        }
    }
}

pub(crate) fn syn_exprs<'a>(op: &'a ValidateOp, out: &mut Vec<&'a SynExpr>) {
    if let Some(Source::Syn(s)) = &op.source {
        out.push(s);
    }
    for k in &op.keys {
        if let Key::Dynamic(ValueSrc::Syn(e)) = k {
            out.push(e);
        }
    }
}

/// The registry keys read when the message is validated (the schemas and resources no local
/// entry holds; a dynamic key's resource is read when the key is known).
pub(crate) fn registry_keys(op: &ValidateOp, keys: &mut BTreeSet<String>) {
    let lazy = matches!(op.json, Slot::Lazy(_)) || matches!(op.xml, Slot::Lazy(_));
    if lazy {
        keys.extend(op.keys.iter().filter_map(|k| match k {
            Key::Static(k) => Some(k.clone()),
            Key::Dynamic(_) => None,
        }));
        keys.extend(op.resources.iter().map(|(_, k)| k.clone()));
    }
}

/// Compile a JSON Schema text: draft from `$schema`, draft 4 without it.
fn build_json(text: &str) -> Result<jsonschema::Validator, String> {
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

/// Compile the XML Schema documents of `keys` with the `resources` documents.
fn build_xml(
    keys: &[String],
    resources: &[(String, String)],
    (schemas, res): &XmlTexts,
) -> Result<xsd::XsdSchema, xsd::XsdError> {
    let docs = keys
        .iter()
        .zip(schemas)
        .map(|(k, t)| xsd::Doc {
            key: k.clone(),
            text: t.clone(),
        })
        .collect();
    let res: Vec<(String, xsd::Doc)> = resources
        .iter()
        .zip(res)
        .map(|((l, k), t)| {
            (
                l.clone(),
                xsd::Doc {
                    key: k.clone(),
                    text: t.clone(),
                },
            )
        })
        .collect();
    xsd::XsdSchema::compile(docs, &res)
}

/// The Xerces features Synapse configurations set whose effect holds here whatever their
/// value: secure processing (bounds always apply, nothing is fetched), full schema checking
/// (always done), honouring every schema location (every `<resource>` named is read), and the
/// DTD ones (message bodies with a DOCTYPE are refused before they reach a `validate`).
const KNOWN_FEATURES: &[&str] = &[
    "http://javax.xml.XMLConstants/feature/secure-processing",
    "http://apache.org/xml/features/validation/schema-full-checking",
    "http://apache.org/xml/features/honour-all-schemaLocations",
    "http://apache.org/xml/features/disallow-doctype-decl",
    "http://apache.org/xml/features/nonvalidating/load-external-dtd",
    "http://xml.org/sax/features/external-general-entities",
    "http://xml.org/sax/features/external-parameter-entities",
    "http://xml.org/sax/features/namespaces",
    "http://apache.org/xml/features/validation/schema/augment-psvi",
];

/// Compile a `<validate>`: its source, its schemas (those in local entries compiled now) and
/// its `<on-fail>` block.
pub(crate) fn compile(
    c: &mut Compiler<'_>,
    blocks: &mut Vec<Vec<Node>>,
    v: &ast::Validate,
) -> Option<ValidateOp> {
    let mut ok = true;
    let source = match &v.source {
        None => None,
        Some(e) if crate::eval::is_syn(e) => {
            Some(Source::Syn(crate::eval::compile_syn(e, &mut c.diags)?))
        }
        Some(e) if crate::jpath::json_eval_inner(&e.text).is_some() => {
            Some(Source::JsonPath(c.expr(e, Dialect::XPath)?))
        }
        Some(e) => {
            let expr = c.expr(e, Dialect::XPath)?;
            match xsel::parse(&e.text, &e.namespaces) {
                Ok(path) => Some(Source::XPath {
                    text: e.text.clone(),
                    path,
                    expr,
                }),
                Err(msg) => {
                    c.err(
                        codes::E0106,
                        e.span,
                        format!(
                            "validate source {} is not supported: {msg} (a location path \
                             selecting the element to validate is expected)",
                            e.text
                        ),
                    );
                    ok = false;
                    None
                }
            }
        }
    };
    let on_fail = block(c, blocks, &v.on_fail);
    for (name, _) in &v.features {
        if !KNOWN_FEATURES.contains(&name.value.as_str()) {
            c.diags.push(Diagnostic::warning(
                codes::W0301,
                name.span,
                format!(
                    "validate feature `{}` is not known here; ignored",
                    name.value
                ),
            ));
        }
    }
    let mut keys = Vec::with_capacity(v.schemas.len());
    for (i, k) in v.schemas.iter().enumerate() {
        keys.push(match v.dynamic_keys.get(i).cloned().flatten() {
            Some(e) => Key::Dynamic(crate::eval::compile_source(c, &e)?),
            None => Key::Static(k.value.clone()),
        });
    }
    let resources: Vec<(String, String)> = v
        .resources
        .iter()
        .map(|(l, k)| (l.value.clone(), k.value.clone()))
        .collect();
    let local = |k: &str| c.local_entries.get(k).cloned();
    let texts: Vec<Option<String>> = keys
        .iter()
        .map(|k| match k {
            Key::Static(k) => local(k),
            Key::Dynamic(_) => None,
        })
        .collect();
    let names: Vec<String> = v.schemas.iter().map(|k| k.value.clone()).collect();
    let res_texts: Vec<Option<String>> = resources.iter().map(|(_, k)| local(k)).collect();
    let all_local = texts.iter().chain(&res_texts).all(Option::is_some);

    // JSON: the last key, as Synapse reads it
    let last = v.schemas.last()?;
    let json = match texts.last().cloned().flatten() {
        Some(text) if is_xml(&text) => Slot::Refused(format!(
            "Error while validating the JSON Schema: `{}` holds an XML Schema and the message \
             is JSON",
            last.value
        )),
        Some(text) => match build_json(&text) {
            Ok(s) => Slot::Ready(Arc::new(s)),
            Err(msg) => {
                c.err(
                    codes::E0106,
                    last.span,
                    format!("schema `{}`: {msg}", last.value),
                );
                return None;
            }
        },
        None => Slot::Lazy(TextCache::default()),
    };
    // XML: every key, with the resources; compiled now when all are local entries
    let not_xml = names
        .iter()
        .zip(&texts)
        .find(|(_, t)| t.as_deref().is_some_and(|t| !is_xml(t)));
    let xml = if let Some((k, _)) = not_xml {
        Slot::Refused(format!(
            "Error creating a new schema objects for schemas : {names:?}: `{k}` is not an XML \
             Schema and the message is XML"
        ))
    } else if all_local {
        match build_xml(&names, &resources, &(texts, res_texts)) {
            Ok(s) => Slot::Ready(Arc::new(s)),
            Err(e) => {
                let span = e
                    .key
                    .as_deref()
                    .and_then(|k| {
                        v.schemas.iter().find(|s| s.value == k).or_else(|| {
                            v.resources
                                .iter()
                                .find(|(_, r)| r.value == k)
                                .map(|(_, r)| r)
                        })
                    })
                    .map_or(v.schemas[0].span, |s| s.span);
                c.err(
                    codes::E0106,
                    span,
                    format!("invalid XML Schema: {}", e.message),
                );
                return None;
            }
        }
    } else {
        Slot::Lazy(TextCache::default())
    };
    ok.then_some(ValidateOp {
        source,
        keys,
        resources,
        json,
        xml,
        cache_schema: v.cache_schema,
        json_source: v.json_source,
        on_fail,
    })
}

fn fault(msg: impl Into<String>, at: Span) -> MediationError {
    MediationError::internal(ErrorKind::Expression, msg).at(at)
}

/// A key's text: its local entry, else its registry resource.
fn text_of(engine: &Engine, ctx: &MessageContext, key: &str) -> Option<String> {
    match engine.program.ir.local_entries.get(key) {
        Some(t) => Some(t.clone()),
        None => ctx.registry_value(key),
    }
}

/// The compiled schema of a slot: the one compiled at load, the cached one while the texts it
/// was compiled from are unchanged, or a new one (kept unless `cache-schema="false"`).
fn compiled<T, K: PartialEq>(
    slot: &Slot<T, K>,
    cache_schema: bool,
    texts: impl FnOnce() -> Result<K, String>,
    build: impl FnOnce(&K) -> Result<T, String>,
) -> Result<Arc<T>, String> {
    let cache = match slot {
        Slot::Ready(s) => return Ok(s.clone()),
        Slot::Refused(msg) => return Err(msg.clone()),
        Slot::Lazy(cache) => cache,
    };
    // one set of schemas per mediator: the entry's key is empty
    cache.get_or_compile("", texts()?, cache_schema, build)
}

/// Record a failure as Synapse does and run `<on-fail>`.
fn fail(op: &ValidateOp, ctx: &mut MessageContext, message: String, detail: String) -> Step {
    let d = &mut ctx.properties.default;
    d.insert("ERROR_MESSAGE", Value::String(message));
    d.insert("ERROR_DETAIL", Value::String(detail));
    Step::Push(op.on_fail)
}

/// Validate the message: when it does not conform, `<on-fail>` runs (with `ERROR_MESSAGE` and
/// `ERROR_DETAIL` set), then mediation goes on after the `validate`.
pub(crate) async fn run(
    engine: &Engine,
    op: &ValidateOp,
    ctx: &mut MessageContext,
    at: Span,
) -> Result<Step, MediationError> {
    ctx.ensure_built()?;
    let json = op.json_source || matches!(ctx.payload, Payload::Json(_));
    // the keys of this message: a dynamic one is evaluated (as Synapse's `Value`), and the
    // registry resource it names read
    let mut keys = Vec::with_capacity(op.keys.len());
    let mut fetch = Vec::new();
    for k in &op.keys {
        let k = match k {
            Key::Static(k) => k.clone(),
            Key::Dynamic(v) => {
                let k = crate::eval::source_text(engine, ctx, v)?.unwrap_or_default();
                if !engine.program.ir.local_entries.contains_key(k.as_str()) {
                    fetch.push(k.clone());
                }
                k
            }
        };
        keys.push(k);
    }
    if !fetch.is_empty() {
        crate::run::prefetch(engine, &fetch, ctx).await?;
    }
    if json {
        run_json(engine, op, &keys, ctx, at)
    } else {
        run_xml(engine, op, &keys, ctx, at)
    }
}

fn run_json(
    engine: &Engine,
    op: &ValidateOp,
    keys: &[String],
    ctx: &mut MessageContext,
    at: Span,
) -> Result<Step, MediationError> {
    let last = keys.last().map(String::as_str).unwrap_or_default();
    let validator = compiled(
        &op.json,
        op.cache_schema,
        || text_of(engine, ctx, last).ok_or_else(|| format!("Can not find JSON Schema {last}")),
        |text| {
            if is_xml(text) {
                return Err(format!(
                    "Error while validating the JSON Schema: `{last}` holds an XML Schema and \
                     the message is JSON"
                ));
            }
            build_json(text).map_err(|m| format!("schema `{last}`: {m}"))
        },
    )
    .map_err(|m| fault(m, at))?;
    let instance: serde_json::Value = match &op.source {
        None => match &ctx.payload {
            Payload::Json(j) => j.clone(),
            _ => serde_json::Value::Object(Default::default()),
        },
        Some(Source::XPath { text, .. }) => {
            return Err(fault(
                format!(
                    "Could not find JSONPath or Synapse Expression to extract the message to \
                     validate from the payload (source `{text}` is XPath)"
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
                Source::XPath { .. } => String::new(),
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
    Ok(match first {
        None => Step::Next,
        Some((message, detail)) => fail(
            op,
            ctx,
            message,
            format!("Error while validating Json message {detail}"),
        ),
    })
}

fn run_xml(
    engine: &Engine,
    op: &ValidateOp,
    keys: &[String],
    ctx: &mut MessageContext,
    at: Span,
) -> Result<Step, MediationError> {
    let env = match &ctx.payload {
        Payload::Xml(env) => std::borrow::Cow::Borrowed(env),
        other => std::borrow::Cow::Owned(xsel::envelope_of(other)),
    };
    // the element validated, serialized with every namespace in scope where it is
    let instance = match &op.source {
        Some(Source::XPath { text, path, .. }) => {
            let found = xsel::select(path, &env).into_iter().next();
            match found {
                Some(NodeRef::Elem(part, at_path)) => standalone(&env, part, &at_path),
                other => {
                    let what = if other.is_some() {
                        "an element"
                    } else {
                        "a node"
                    };
                    let message = format!("Error occurred while accessing source element: {text}");
                    let detail = format!(
                        "The evaluation of the XPath expression {text} did not result in {what}"
                    );
                    return Ok(fail(op, ctx, message, detail));
                }
            }
        }
        _ => env.first_body_element().map(Element::to_xml),
    };
    let Some(instance) = instance else {
        return Err(fault(
            "Error validating the message: the body holds no element to validate",
            at,
        ));
    };
    let schema = compiled(
        &op.xml,
        op.cache_schema,
        || {
            let mut texts = Vec::with_capacity(keys.len());
            for k in keys {
                let t = text_of(engine, ctx, k)
                    .ok_or_else(|| format!("No Schema is available with the key  : {k}"))?;
                if !is_xml(&t) {
                    return Err(format!(
                        "Error creating a new schema objects for schemas : {keys:?}: `{k}` is \
                         not an XML Schema and the message is XML"
                    ));
                }
                texts.push(Some(t));
            }
            let res = op
                .resources
                .iter()
                .map(|(_, k)| text_of(engine, ctx, k))
                .collect();
            Ok((texts, res))
        },
        |texts| {
            build_xml(keys, &op.resources, texts).map_err(|e| {
                format!(
                    "Error creating a new schema objects for schemas : {keys:?}: {}",
                    e.message
                )
            })
        },
    )
    .map_err(|m| fault(m, at))?;
    let outcome = schema.validate(&instance).map_err(|e| {
        fault(
            format!(
                "Error creating a new schema objects for schemas : {keys:?}: {}",
                e.message
            ),
            at,
        )
    })?;
    let Some(last) = outcome.issues.last() else {
        return Ok(Step::Next);
    };
    // as Xerces' handler collects them: every error's message, each on its own line
    let mut message = String::new();
    for i in &outcome.issues {
        message.push_str(&i.text);
        message.push('\n');
    }
    if outcome.more > 0 {
        message.push_str(&format!("({} more errors)\n", outcome.more));
    }
    let detail = match (last.line, last.column) {
        (Some(l), Some(c)) => format!("lineNumber: {l}; columnNumber: {c}; {}", last.text),
        _ => last.text.clone(),
    };
    Ok(fail(op, ctx, message, detail))
}

/// The element at `path`, serialized with the namespace declarations of its ancestors (which a
/// QName in its content may use) as well as those it needs for its own names.
fn standalone(env: &Envelope, part: Part, path: &[usize]) -> Option<String> {
    let el = xsel::element(env, part, path)?;
    let mut copy = el.clone();
    for depth in (1..path.len()).rev() {
        if let Some(anc) = xsel::element(env, part, &path[..depth]) {
            for (p, u) in &anc.namespaces {
                if !copy.namespaces.iter().any(|(q, _)| q == p) {
                    copy.namespaces.push((p.clone(), u.clone()));
                }
            }
        }
    }
    Some(copy.to_xml())
}
