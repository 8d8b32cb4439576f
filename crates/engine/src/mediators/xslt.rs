//! `<xslt key="…" source="…">`: XSLT 1.0 (with EXSLT) through libxslt (`synaptic-xslt`,
//! ADR 0411).
//!
//! The element `source=` selects (the first element of the body by default) is serialized,
//! transformed with the stylesheet of `key=` and replaced by the result: an element, or, for a
//! text result (`xsl:output method="text"`), Synapse's text wrapper
//! `<axis2ns:text xmlns:axis2ns="http://ws.apache.org/commons/ns/payload">`. `<property>`s are
//! stylesheet parameters (strings). A stylesheet in a local entry is compiled at load (errors
//! are `E0332`); one from the registry when first used. A dynamic key (`key="{…}"`) is
//! evaluated on each message and names a local entry or a registry resource. `<resource
//! location key>`s give the stylesheets an `xsl:import`/`xsl:include` of `location` reads: a
//! local entry, or a registry resource read when the message arrives (an href no `<resource>`
//! maps fails; no file or URL is read). Compiled stylesheets are kept per thread (libxslt's are
//! not shared between threads here), keyed by their text and the texts of their resources.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::rc::Rc;

use synaptic_diag::{codes, Diagnostic, Span};
use synaptic_expr::synexpr::SynExpr;
use synaptic_expr::{CompiledExpr, Dialect, Value};
use synaptic_payload::xml::{Element, Node, QName};
use synaptic_payload::{Envelope, Payload};
use synaptic_syntax::ast;

use crate::compiler::Compiler;
use crate::ir::ValueSrc;
use crate::xsel::{self, NodeRef, Part};
use crate::{Engine, ErrorKind, MediationError, MessageContext};

#[derive(Debug)]
enum Sheet {
    /// A local entry (checked at load).
    Text(String),
    /// A registry resource, read when the message arrives.
    Registry(String),
    /// `key="{…}"`: the key is the expression's text on each message, a local entry or else
    /// a registry resource (Synapse's `getEntry`).
    Dynamic(ValueSrc),
}

#[derive(Debug)]
pub(crate) struct XsltOp {
    key: String,
    sheet: Sheet,
    /// The element to transform (the first body element when `None`).
    source: Option<xsel::Path>,
    /// The same, compiled as an expression (what it reads, for body access).
    source_expr: Option<CompiledExpr>,
    params: Vec<(String, ValueSrc)>,
    /// `<resource location key>`: what an import or include of `location` reads.
    resources: Vec<(String, Resource)>,
}

/// The stylesheet a `<resource>` names.
#[derive(Debug)]
enum Resource {
    /// A local entry.
    Text(String),
    /// A registry resource, read when the message arrives.
    Registry(String),
}

/// An empty stylesheet: what a registry resource stands for when a stylesheet is checked at
/// load.
const EMPTY_SHEET: &str =
    r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"/>"#;

pub(crate) fn exprs(op: &XsltOp, visit: &mut dyn FnMut(&CompiledExpr)) {
    if let Some(e) = &op.source_expr {
        visit(e);
    }
    if let Sheet::Dynamic(ValueSrc::Expr(e)) = &op.sheet {
        visit(e);
    }
    for (_, v) in &op.params {
        if let ValueSrc::Expr(e) = v {
            visit(e);
        }
    }
}

pub(crate) fn syn_exprs<'a>(op: &'a XsltOp, out: &mut Vec<&'a SynExpr>) {
    if let Sheet::Dynamic(ValueSrc::Syn(e)) = &op.sheet {
        out.push(e);
    }
    for (_, v) in &op.params {
        if let ValueSrc::Syn(e) = v {
            out.push(e);
        }
    }
}

pub(crate) fn registry_keys(op: &XsltOp, keys: &mut BTreeSet<String>) {
    if let Sheet::Registry(k) = &op.sheet {
        keys.insert(k.clone());
    }
    for (_, r) in &op.resources {
        if let Resource::Registry(k) = r {
            keys.insert(k.clone());
        }
    }
}

/// The Saxon/Xalan features Synapse configurations set that change nothing here (secure
/// processing is always on; there is no DOM/stream choice to make).
const KNOWN_FEATURES: &[&str] = &[
    "http://javax.xml.XMLConstants/feature/secure-processing",
    "http://ws.apache.org/ns/synapse/transform/feature/dom",
    "http://ws.apache.org/ns/synapse/transform/feature/disableSchemaValidation",
];

/// Compile an `<xslt>`: its source path, its parameters, and a local entry's stylesheet.
pub(crate) fn compile(c: &mut Compiler<'_>, x: &ast::Xslt) -> Option<XsltOp> {
    let mut ok = true;
    let (source, source_expr) = match &x.source {
        None => (None, None),
        Some(e) => {
            let compiled = c.expr(e, Dialect::XPath);
            match xsel::parse(&e.text, &e.namespaces) {
                Ok(p) => (Some(p), compiled),
                Err(msg) => {
                    c.err(
                        codes::E0332,
                        e.span,
                        format!(
                            "xslt source {} is not supported: {msg} (a location path selecting \
                             the element to transform is expected)",
                            e.text
                        ),
                    );
                    ok = false;
                    (None, None)
                }
            }
        }
    };
    let mut params = Vec::new();
    for (name, v) in &x.params {
        let src = match v {
            ast::PropertyValue::Literal(l) => ValueSrc::Literal(Value::String(l.value.clone())),
            ast::PropertyValue::Expression(e) if crate::eval::is_syn(e) => {
                match crate::eval::compile_syn(e, &mut c.diags) {
                    Some(s) => ValueSrc::Syn(s),
                    None => {
                        ok = false;
                        continue;
                    }
                }
            }
            ast::PropertyValue::Expression(e) => match c.expr(e, Dialect::XPath) {
                Some(e) => ValueSrc::Expr(e),
                None => {
                    ok = false;
                    continue;
                }
            },
            ast::PropertyValue::Inline(s) => ValueSrc::Literal(Value::String(s.value.clone())),
            ast::PropertyValue::None => ValueSrc::None,
        };
        params.push((name.value.clone(), src));
    }
    for (name, _) in &x.features {
        if !KNOWN_FEATURES.contains(&name.value.as_str()) {
            c.diags.push(Diagnostic::warning(
                codes::W0330,
                name.span,
                format!("xslt feature `{}` is not known here; ignored", name.value),
            ));
        }
    }
    for name in &x.attributes {
        c.diags.push(Diagnostic::warning(
            codes::W0330,
            name.span,
            format!(
                "xslt transformer attribute `{}` has no meaning for libxslt; ignored",
                name.value
            ),
        ));
    }
    // a location given twice: the later key, as Synapse's resource map keeps it
    let mut resources: Vec<(String, Resource, Span)> = Vec::new();
    for (location, key) in &x.resources {
        let r = match c.local_entries.get(&key.value) {
            Some(t) => Resource::Text(t.clone()),
            None => Resource::Registry(key.value.clone()),
        };
        match resources.iter_mut().find(|(l, _, _)| *l == location.value) {
            Some(slot) => {
                slot.1 = r;
                slot.2 = location.span;
            }
            None => resources.push((location.value.clone(), r, location.span)),
        }
    }
    let local = match &x.dynamic_key {
        Some(_) => None,
        None => c.local_entries.get(&x.key.value).cloned(),
    };
    let sheet = match local {
        None if x.dynamic_key.is_some() => {
            match x
                .dynamic_key
                .as_ref()
                .and_then(|e| crate::eval::compile_source(c, e))
            {
                Some(v) => Sheet::Dynamic(v),
                None => return None,
            }
        }
        Some(text) => {
            // registry resources stand as empty stylesheets until a message reads them
            let imports: Vec<(&str, &str)> = resources
                .iter()
                .map(|(l, r, _)| match r {
                    Resource::Text(t) => (l.as_str(), t.as_str()),
                    Resource::Registry(_) => (l.as_str(), EMPTY_SHEET),
                })
                .collect();
            match build(&text, &imports) {
                Ok(sheet) => {
                    let all_local = resources
                        .iter()
                        .all(|(_, r, _)| matches!(r, Resource::Text(_)));
                    for (l, _, span) in &resources {
                        if all_local && !sheet.imported().iter().any(|i| i == l) {
                            c.diags.push(Diagnostic::warning(
                                codes::W0331,
                                *span,
                                format!(
                                    "xslt resource `{l}` is not read: the stylesheet and its \
                                     imports import or include no such href"
                                ),
                            ));
                        }
                    }
                }
                Err(e) => {
                    c.err(
                        codes::E0332,
                        x.key.span,
                        format!("stylesheet `{}`: {e}", x.key.value),
                    );
                    ok = false;
                }
            }
            Sheet::Text(text)
        }
        None => Sheet::Registry(x.key.value.clone()),
    };
    ok.then_some(XsltOp {
        key: x.key.value.clone(),
        sheet,
        source,
        source_expr,
        params,
        resources: resources.into_iter().map(|(l, r, _)| (l, r)).collect(),
    })
}

const XSL_NS: &str = "http://www.w3.org/1999/XSL/Transform";

/// The instructions and declarations of XSLT 1.0 (and `xsl:document` of 1.1).
const XSLT1_ELEMENTS: &[&str] = &[
    "apply-imports",
    "apply-templates",
    "attribute",
    "attribute-set",
    "call-template",
    "choose",
    "comment",
    "copy",
    "copy-of",
    "decimal-format",
    "document",
    "element",
    "fallback",
    "for-each",
    "if",
    "import",
    "include",
    "key",
    "message",
    "namespace-alias",
    "number",
    "otherwise",
    "output",
    "param",
    "preserve-space",
    "processing-instruction",
    "sort",
    "strip-space",
    "stylesheet",
    "template",
    "text",
    "transform",
    "value-of",
    "variable",
    "when",
    "with-param",
];

/// Check a stylesheet and the stylesheets it may import, then compile it. libxslt only warns
/// about an `xsl:` element XSLT 1.0 does not have in a `version="1.0"` stylesheet and leaves it
/// out; Java's processors (and the XSLT 1.0 specification, outside forwards-compatible mode)
/// refuse the stylesheet.
fn build(text: &str, imports: &[(&str, &str)]) -> Result<synaptic_xslt::Stylesheet, String> {
    check_version_1(text)?;
    for (location, t) in imports {
        check_version_1(t).map_err(|e| format!("imported `{location}`: {e}"))?;
    }
    if imports.is_empty() {
        synaptic_xslt::compile(text).map_err(|e| e.to_string())
    } else {
        synaptic_xslt::compile_with_imports(text, imports).map_err(|e| e.to_string())
    }
}

fn check_version_1(text: &str) -> Result<(), String> {
    if let Ok(root) = synaptic_payload::xml::parse(text) {
        let version = root
            .attributes
            .iter()
            .find(|a| a.name.local == "version" && a.name.ns.is_empty())
            .map(|a| a.value.trim().to_string())
            .unwrap_or_default();
        if root.name.ns == XSL_NS && version == "1.0" {
            if let Some(bad) = unknown_instruction(&root) {
                return Err(format!(
                    "not a valid XSLT stylesheet: `xsl:{bad}` is not an XSLT 1.0 element"
                ));
            }
        }
    }
    Ok(())
}

fn unknown_instruction(el: &Element) -> Option<String> {
    if el.name.ns == XSL_NS && !XSLT1_ELEMENTS.contains(&el.name.local.as_str()) {
        return Some(el.name.local.clone());
    }
    el.child_elements().find_map(unknown_instruction)
}

/// Compiled stylesheets kept per thread.
const CACHE_MAX: usize = 64;

/// A compiled stylesheet with the texts it was compiled from.
struct Cached {
    text: String,
    imports: Vec<(String, String)>,
    sheet: Rc<synaptic_xslt::Stylesheet>,
}

thread_local! {
    static CACHE: RefCell<HashMap<u64, Cached>> = RefCell::new(HashMap::new());
}

/// The compiled stylesheet of `text` whose imports read `imports`, from this thread's cache
/// when the stylesheet and every import text are the same as when it was compiled.
fn stylesheet(
    text: &str,
    imports: &[(&str, &str)],
) -> Result<Rc<synaptic_xslt::Stylesheet>, String> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    imports.hash(&mut h);
    let id = h.finish();
    if let Some(s) = CACHE.with(|c| {
        c.borrow()
            .get(&id)
            .filter(|e| {
                e.text == text
                    && e.imports.len() == imports.len()
                    && e.imports
                        .iter()
                        .zip(imports)
                        .all(|((l, t), (l2, t2))| l == l2 && t == t2)
            })
            .map(|e| e.sheet.clone())
    }) {
        return Ok(s);
    }
    let s = Rc::new(build(text, imports)?);
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= CACHE_MAX {
            c.clear();
        }
        c.insert(
            id,
            Cached {
                text: text.to_string(),
                imports: imports
                    .iter()
                    .map(|(l, t)| (l.to_string(), t.to_string()))
                    .collect(),
                sheet: s.clone(),
            },
        );
    });
    Ok(s)
}

fn fault(msg: impl Into<String>, at: Span) -> MediationError {
    MediationError::internal(ErrorKind::Expression, msg).at(at)
}

const TEXT_NS: &str = "http://ws.apache.org/commons/ns/payload";

/// Transform the selected element and put the result in its place.
pub(crate) async fn run(
    engine: &Engine,
    op: &XsltOp,
    ctx: &mut MessageContext,
    at: Span,
) -> Result<(), MediationError> {
    let missing = |k: &str| fault(format!("xslt: no stylesheet under the key `{k}`"), at);
    let text = match &op.sheet {
        Sheet::Text(t) => t.clone(),
        Sheet::Registry(k) => ctx.registry_value(k).ok_or_else(|| missing(k))?,
        Sheet::Dynamic(v) => {
            let k = crate::eval::source_text(engine, ctx, v)?.unwrap_or_default();
            match engine.program.ir.local_entries.get(k.as_str()) {
                Some(t) => t.clone(),
                None => {
                    crate::run::prefetch(engine, std::slice::from_ref(&k), ctx).await?;
                    ctx.registry_value(&k).ok_or_else(|| missing(&k))?
                }
            }
        }
    };
    let mut params = Vec::with_capacity(op.params.len());
    for (name, v) in &op.params {
        let s = crate::eval::source_text(engine, ctx, v)?.unwrap_or_default();
        params.push((name.clone(), synaptic_xslt::string_param(&s)));
    }
    ctx.ensure_built()?;
    // the element transformed: where it is, and its text
    let mut env = match std::mem::replace(&mut ctx.payload, Payload::Empty) {
        Payload::Xml(env) => env,
        Payload::Json(j) => Envelope::pox(synaptic_payload::json_xml::json_to_xml(&j)),
        other => {
            ctx.payload = other;
            return Err(fault("xslt: the message has no XML body to transform", at));
        }
    };
    let target = match &op.source {
        None => (!env.body.is_empty()).then(|| (Part::Body, vec![0])),
        Some(p) => xsel::select(p, &env).into_iter().find_map(|n| match n {
            NodeRef::Elem(part, path) => Some((part, path)),
            _ => None,
        }),
    };
    let Some((part, path)) = target else {
        ctx.payload = Payload::Xml(env);
        return Err(fault(
            "xslt: the source selects no element to transform",
            at,
        ));
    };
    let input = xsel::element(&env, part, &path)
        .map(|e| e.to_xml())
        .unwrap_or_default();
    // the resources' texts (a registry resource no one holds is left out: an import of it
    // fails, naming it)
    let texts: Vec<(&str, std::borrow::Cow<'_, str>)> = op
        .resources
        .iter()
        .filter_map(|(l, r)| match r {
            Resource::Text(t) => Some((l.as_str(), std::borrow::Cow::Borrowed(t.as_str()))),
            Resource::Registry(k) => ctx
                .registry_value(k)
                .map(|t| (l.as_str(), std::borrow::Cow::Owned(t))),
        })
        .collect();
    let imports: Vec<(&str, &str)> = texts.iter().map(|(l, t)| (*l, t.as_ref())).collect();
    let sheet =
        stylesheet(&text, &imports).map_err(|e| fault(format!("xslt `{}`: {e}", op.key), at));
    let pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let out = sheet.and_then(|s| {
        s.transform(&input, &pairs).map_err(|e| {
            fault(
                format!(
                    "Unable to perform XSLT transformation using `{}`: {e}",
                    op.key
                ),
                at,
            )
        })
    });
    let result = out.and_then(|o| match o {
        synaptic_xslt::Output::Xml(x) => synaptic_payload::xml::parse(&x).map_err(|e| {
            fault(
                format!("xslt `{}`: the result is not an XML element: {e}", op.key),
                at,
            )
        }),
        synaptic_xslt::Output::Text(t) => {
            let mut el = Element::new(QName::new(TEXT_NS, "axis2ns", "text"));
            el.namespaces.push(("axis2ns".into(), TEXT_NS.into()));
            el.children.push(Node::Text(t));
            Ok(el)
        }
    });
    let result = match result {
        Ok(r) => r,
        Err(e) => {
            ctx.payload = Payload::Xml(env);
            return Err(e);
        }
    };
    replace(&mut env, part, &path, result);
    let ct = ctx
        .content_type
        .clone()
        .or_else(|| Some("application/xml".into()));
    ctx.set_payload(Payload::Xml(env), ct);
    Ok(())
}

fn replace(env: &mut Envelope, part: Part, path: &[usize], new: Element) {
    match path.split_last() {
        Some((last, [])) => {
            let list = match part {
                Part::Header => &mut env.header,
                Part::Body => &mut env.body,
            };
            if let Some(slot) = list.get_mut(*last) {
                *slot = new;
            }
        }
        Some((last, parent)) => {
            if let Some(p) = xsel::element_mut(env, part, parent) {
                if let Some(slot) = p.children.get_mut(*last) {
                    *slot = Node::Element(new);
                }
            }
        }
        None => {}
    }
}
