//! Evaluation through sxd-xpath (ADR 0001). Everything `!Send` stays in this module:
//! a thread-local cache of compiled expressions with their function context, a thread-local
//! empty document for expressions that do not touch the body, and a thread-local table of the
//! property values the Synapse functions may return (resolved from the `ExprEnv` before
//! evaluation; a read the compile step could not see — a computed property name — is recorded
//! as a miss, resolved, and the expression evaluated again).

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use base64::Engine as _;
use sxd_document::dom;
use sxd_document::Package;
use sxd_xpath::context::Evaluation;
use sxd_xpath::function::{Error as FnError, Function};
use sxd_xpath::nodeset::{Node, Nodeset};
use sxd_xpath::{Context, Value as XValue, XPath};
use synaptic_payload::{xml as pxml, Envelope, Payload};

use crate::compile::{Meta, NodeRule, XPathExpr};
use crate::num::{java_parse_double, xpath_number_string};
use crate::props::{self, Read, Source, Target};
use crate::scalar::CmpOp;
use crate::{EvalError, ExprEnv, Scope, Value};

const CACHE_LIMIT: usize = 2048;
const MAX_ROUNDS: usize = 8;

struct Entry {
    xpath: XPath,
    ctx: Context<'static>,
}

thread_local! {
    static CACHE: RefCell<HashMap<Arc<str>, Rc<Entry>>> = RefCell::new(HashMap::new());
    static STATE: RefCell<State> = RefCell::new(State::default());
    static EMPTY: Package = Package::new();
}

pub(crate) fn clear_cache() {
    CACHE.with(|c| c.borrow_mut().clear());
}

// === per-evaluation state ===

#[derive(Clone, Debug, PartialEq)]
enum Req {
    Prop(Scope, String),
    Registry(String),
    Url(String),
    Var(String),
    /// `vault-lookup(alias)`: a secret; the table is cleared when the evaluation ends.
    Secret(String),
}

#[derive(Default)]
struct State {
    now_ms: i64,
    resolved: Vec<(Req, Option<Value>)>,
    misses: Vec<Req>,
}

impl State {
    fn get_prop(&mut self, scope: Scope, name: &str) -> Option<Value> {
        let hit = self.resolved.iter().find(|(r, _)| match r {
            Req::Prop(s, n) => *s == scope && n == name,
            _ => false,
        });
        match hit {
            Some((_, v)) => v.clone(),
            None => self.get(Req::Prop(scope, name.to_string())),
        }
    }

    fn get(&mut self, req: Req) -> Option<Value> {
        match self.resolved.iter().find(|(r, _)| *r == req) {
            Some((_, v)) => v.clone(),
            None => {
                if !self.misses.contains(&req) {
                    self.misses.push(req);
                }
                None
            }
        }
    }
}

fn resolve(req: &Req, env: &dyn ExprEnv) -> Option<Value> {
    match req {
        Req::Prop(scope, name) => env.property(*scope, name),
        Req::Registry(key) => env.registry(key).map(Value::String),
        Req::Url(name) => env.url_param(name).map(Value::String),
        Req::Var(name) => env.xpath_variable(name),
        Req::Secret(alias) => env.secret(alias).map(Value::String),
    }
}

fn requests(read: &Read) -> Option<Req> {
    match read {
        Read::GetProperty(args) => match props::target(args) {
            Target::Prop(s, n) => Some(Req::Prop(s, n.to_string())),
            Target::Registry(k) => Some(Req::Registry(k.to_string())),
            _ => None,
        },
        Read::Var(k, n) => Some(match k.scope() {
            Some(s) => Req::Prop(s, n.clone()),
            None if *k == props::VarKind::Var => Req::Var(n.clone()),
            None => Req::Url(n.clone()),
        }),
    }
}

/// The `Source` the sxd functions see: the thread-local table.
struct StateSource;

impl Source for StateSource {
    fn property(&self, scope: Scope, name: &str) -> Option<Value> {
        STATE.with(|s| s.borrow_mut().get_prop(scope, name))
    }
    fn registry(&self, key: &str) -> Option<String> {
        STATE
            .with(|s| s.borrow_mut().get(Req::Registry(key.to_string())))
            .map(|v| v.to_xpath_string())
    }
    fn url_param(&self, name: &str) -> Option<String> {
        STATE
            .with(|s| s.borrow_mut().get(Req::Url(name.to_string())))
            .map(|v| v.to_xpath_string())
    }
    fn variable(&self, name: &str) -> Option<Value> {
        STATE.with(|s| s.borrow_mut().get(Req::Var(name.to_string())))
    }
    fn now_ms(&self) -> i64 {
        STATE.with(|s| s.borrow().now_ms)
    }
}

// === eval ===

pub(crate) fn eval(x: &XPathExpr, meta: &Meta, env: &dyn ExprEnv) -> Result<Value, EvalError> {
    let conv = match x.node_rule {
        NodeRule::None => to_value,
        NodeRule::Contains => to_value_node,
        NodeRule::EndsWith => to_value_node_end,
    };
    eval_with(x, meta, env, conv)
}

/// XPath's `boolean()` of the result (a node-set is true when non-empty, whatever its text).
pub(crate) fn eval_bool(x: &XPathExpr, meta: &Meta, env: &dyn ExprEnv) -> Result<bool, EvalError> {
    match eval_with(x, meta, env, |v| Value::Boolean(v.boolean()))? {
        Value::Boolean(b) => Ok(b),
        _ => Ok(false),
    }
}

fn eval_with(
    x: &XPathExpr,
    meta: &Meta,
    env: &dyn ExprEnv,
    conv: fn(XValue<'_>) -> Value,
) -> Result<Value, EvalError> {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        s.now_ms = env.now_ms();
        s.resolved.clear();
        s.misses.clear();
        for read in x.prefetch.iter() {
            if let Some(req) = requests(read) {
                if !s.resolved.iter().any(|(r, _)| *r == req) {
                    let v = resolve(&req, env);
                    s.resolved.push((req, v));
                }
            }
        }
    });
    let entry = entry(x)?;
    let doc_package;
    let body_env;
    let body: Option<(&Package, &Envelope)> = if meta.touches_body {
        if let Some(budget) = env.tree_budget() {
            if synaptic_payload::TreeCost::with_view(env.payload()) > budget {
                return Err(EvalError::Body(
                    synaptic_payload::PayloadError::TreeTooLarge(budget),
                ));
            }
        }
        body_env = envelope_of(env.payload());
        doc_package = Package::new();
        Some((&doc_package, &*body_env))
    } else {
        None
    };
    let built = body.map(|(pkg, envl)| (pkg.as_document(), envl));
    let root_el = built
        .as_ref()
        .map(|(doc, envl)| match envl.body.as_slice() {
            [one] if env.standalone_xml() => {
                let el = element(doc, one);
                doc.root().append_child(el);
                el
            }
            _ => build_document(doc, envl),
        });
    for _ in 0..MAX_ROUNDS {
        let result = match root_el {
            Some(el) => run(&entry, Node::Element(el), conv),
            None => EMPTY.with(|p| {
                let doc = p.as_document();
                run(&entry, Node::Root(doc.root()), conv)
            }),
        };
        let misses = STATE.with(|s| std::mem::take(&mut s.borrow_mut().misses));
        if misses.is_empty() {
            // what was read (secrets among it) does not outlive the evaluation
            STATE.with(|s| s.borrow_mut().resolved.clear());
            return result;
        }
        STATE.with(|s| {
            let mut s = s.borrow_mut();
            for req in misses {
                let v = resolve(&req, env);
                s.resolved.push((req, v));
            }
        });
    }
    STATE.with(|s| s.borrow_mut().resolved.clear());
    Err(EvalError::Failed(
        "too many computed property names in one expression".into(),
    ))
}

fn run(entry: &Entry, node: Node<'_>, conv: fn(XValue<'_>) -> Value) -> Result<Value, EvalError> {
    let ctx: &Context<'_> = &entry.ctx;
    match entry.xpath.evaluate(ctx, node) {
        Ok(v) => Ok(conv(v)),
        Err(e) => Err(EvalError::Failed(format!("XPath evaluation failed: {e}"))),
    }
}

fn entry(x: &XPathExpr) -> Result<Rc<Entry>, EvalError> {
    if let Some(e) = CACHE.with(|c| c.borrow().get(&x.key).cloned()) {
        return Ok(e);
    }
    let xpath = match sxd_xpath::Factory::new().build(&x.text) {
        Ok(Some(p)) => p,
        Ok(None) => return Err(EvalError::Failed("empty XPath expression".into())),
        Err(e) => return Err(EvalError::Failed(format!("XPath syntax error: {e}"))),
    };
    let mut ctx = Context::new();
    register(&mut ctx);
    for (p, u) in x.namespaces.iter() {
        ctx.set_namespace(p, u);
    }
    let e = Rc::new(Entry { xpath, ctx });
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= CACHE_LIMIT {
            c.clear();
        }
        c.insert(x.key.clone(), e.clone());
    });
    Ok(e)
}

// === documents ===

fn envelope_of(p: &Payload) -> Cow<'_, Envelope> {
    match p {
        Payload::Xml(e) => Cow::Borrowed(e),
        other => Cow::Owned(synaptic_payload::to_envelope(other)),
    }
}

/// Build `soapenv:Envelope/{Header,Body}` and return the envelope element (the context node,
/// as in Synapse).
fn build_document<'d>(doc: &dom::Document<'d>, envl: &Envelope) -> dom::Element<'d> {
    let ns = envl.namespace();
    let q = |l: &'static str| sxd_document::QName::with_namespace_uri(Some(ns), l);
    let e = doc.create_element(q("Envelope"));
    e.set_preferred_prefix(Some("soapenv"));
    e.register_prefix("soapenv", ns);
    doc.root().append_child(e);
    let h = doc.create_element(q("Header"));
    h.set_preferred_prefix(Some("soapenv"));
    e.append_child(h);
    for c in &envl.header {
        h.append_child(element(doc, c));
    }
    let b = doc.create_element(q("Body"));
    b.set_preferred_prefix(Some("soapenv"));
    e.append_child(b);
    for c in &envl.body {
        b.append_child(element(doc, c));
    }
    e
}

fn element<'d>(doc: &dom::Document<'d>, src: &pxml::Element) -> dom::Element<'d> {
    let ns = (!src.name.ns.is_empty()).then_some(src.name.ns.as_str());
    let el = doc.create_element(sxd_document::QName::with_namespace_uri(ns, &src.name.local));
    if !src.name.prefix.is_empty() {
        el.set_preferred_prefix(Some(&src.name.prefix));
    }
    for (p, u) in &src.namespaces {
        if p.is_empty() {
            el.set_default_namespace_uri(Some(u));
        } else {
            el.register_prefix(p, u);
        }
    }
    for a in &src.attributes {
        let ns = (!a.name.ns.is_empty()).then_some(a.name.ns.as_str());
        let attr = el.set_attribute_value(
            sxd_document::QName::with_namespace_uri(ns, &a.name.local),
            &a.value,
        );
        if !a.name.prefix.is_empty() {
            attr.set_preferred_prefix(Some(&a.name.prefix));
        }
    }
    for c in &src.children {
        match c {
            pxml::Node::Element(e) => el.append_child(element(doc, e)),
            pxml::Node::Text(t) => el.append_child(doc.create_text(t)),
            pxml::Node::Comment(t) => el.append_child(doc.create_comment(t)),
            pxml::Node::Pi { target, data } => el.append_child(
                doc.create_processing_instruction(target, (!data.is_empty()).then_some(data)),
            ),
        }
    }
    el
}

// === results ===

fn to_value(v: XValue<'_>) -> Value {
    to_value_with(v, NodeRule::None)
}

fn to_value_node(v: XValue<'_>) -> Value {
    to_value_with(v, NodeRule::Contains)
}

fn to_value_node_end(v: XValue<'_>) -> Value {
    to_value_with(v, NodeRule::EndsWith)
}

fn to_value_with(v: XValue<'_>, rule: NodeRule) -> Value {
    match v {
        XValue::Boolean(b) => Value::Boolean(b),
        XValue::Number(n) => Value::Number(n),
        XValue::String(s) => Value::String(s),
        XValue::Nodeset(ns) => nodeset_value(&ns, rule),
    }
}

/// Synapse's stringification: text nodes concatenated, attribute → value, one element → its
/// direct text trimmed if non-blank else its XML, several elements → each serialized. When the
/// expression mentions `node()` (WSO2's rule), a lone element is always its XML, and when it
/// ends with `node()` a lone text node gives its parent element's XML.
fn nodeset_value(ns: &Nodeset<'_>, rule: NodeRule) -> Value {
    let nodes = ns.document_order();
    match nodes.as_slice() {
        [] => Value::String(String::new()),
        [Node::Text(t)] if rule == NodeRule::EndsWith => match t.parent() {
            Some(p) => Value::Xml(serialize(Node::Element(p))),
            None => Value::String(t.text().to_string()),
        },
        [Node::Element(e)] if rule != NodeRule::None => Value::Xml(serialize(Node::Element(*e))),
        [Node::Element(e)] => {
            let mut text = String::new();
            for c in e.children() {
                if let dom::ChildOfElement::Text(t) = c {
                    text.push_str(t.text());
                }
            }
            let t = text.trim().replace('\u{a0}', " ");
            if t.trim().is_empty() {
                Value::Xml(serialize(Node::Element(*e)))
            } else {
                Value::String(t)
            }
        }
        nodes => {
            let mut out = String::new();
            let mut xml = false;
            for n in nodes {
                match n {
                    Node::Element(_) | Node::Root(_) => {
                        xml = true;
                        out.push_str(&serialize(*n));
                    }
                    other => out.push_str(&other.string_value()),
                }
            }
            if xml {
                Value::Xml(out)
            } else {
                Value::String(out)
            }
        }
    }
}

/// Serialize an sxd node as XML with the namespace declarations it needs.
fn serialize(n: Node<'_>) -> String {
    let mut out = String::new();
    let mut scope: Vec<(String, String)> = Vec::new();
    match n {
        Node::Root(r) => {
            for c in r.children() {
                if let dom::ChildOfRoot::Element(e) = c {
                    write_element(e, &mut out, &mut scope);
                }
            }
        }
        Node::Element(e) => write_element(e, &mut out, &mut scope),
        other => out.push_str(&other.string_value()),
    }
    out
}

fn lookup<'a>(scope: &'a [(String, String)], prefix: &str) -> Option<&'a str> {
    scope
        .iter()
        .rev()
        .find(|(p, _)| p == prefix)
        .map(|(_, u)| u.as_str())
}

fn prefix_for(
    scope: &mut Vec<(String, String)>,
    decls: &mut Vec<(String, String)>,
    uri: Option<&str>,
    preferred: Option<&str>,
    element: bool,
) -> String {
    let Some(uri) = uri else {
        if element && lookup(scope, "").is_some_and(|u| !u.is_empty()) {
            scope.push((String::new(), String::new()));
            decls.push((String::new(), String::new()));
        }
        return String::new();
    };
    if uri == pxml::XML_NS {
        return "xml".into();
    }
    let want = preferred.unwrap_or("");
    if (element || !want.is_empty()) && lookup(scope, want) == Some(uri) {
        return want.to_string();
    }
    // any prefix already bound to the uri (not the default one for attributes)
    if let Some((p, _)) = scope
        .iter()
        .rev()
        .find(|(p, u)| u == uri && (element || !p.is_empty()) && lookup(scope, p) == Some(uri))
    {
        return p.clone();
    }
    let p = if want.is_empty() && !element {
        let mut i = 0;
        loop {
            let cand = format!("ns{i}");
            if lookup(scope, &cand).is_none() {
                break cand;
            }
            i += 1;
        }
    } else {
        want.to_string()
    };
    scope.push((p.clone(), uri.to_string()));
    decls.push((p.clone(), uri.to_string()));
    p
}

fn write_element(e: dom::Element<'_>, out: &mut String, scope: &mut Vec<(String, String)>) {
    let mark = scope.len();
    let mut decls = Vec::new();
    let name = e.name();
    let p = prefix_for(
        scope,
        &mut decls,
        name.namespace_uri(),
        e.preferred_prefix(),
        true,
    );
    let qn = if p.is_empty() {
        name.local_part().to_string()
    } else {
        format!("{p}:{}", name.local_part())
    };
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let an = a.name();
        let ap = prefix_for(
            scope,
            &mut decls,
            an.namespace_uri(),
            a.preferred_prefix(),
            false,
        );
        let aq = if ap.is_empty() {
            an.local_part().to_string()
        } else {
            format!("{ap}:{}", an.local_part())
        };
        attrs.push((aq, a.value()));
    }
    out.push('<');
    out.push_str(&qn);
    for (p, u) in &decls {
        if p.is_empty() {
            out.push_str(" xmlns=\"");
        } else {
            out.push_str(" xmlns:");
            out.push_str(p);
            out.push_str("=\"");
        }
        pxml::escape_attr_into(out, u);
        out.push('"');
    }
    for (k, v) in attrs {
        out.push(' ');
        out.push_str(&k);
        out.push_str("=\"");
        pxml::escape_attr_into(out, v);
        out.push('"');
    }
    let children = e.children();
    if children.is_empty() {
        out.push_str("/>");
    } else {
        out.push('>');
        for c in children {
            match c {
                dom::ChildOfElement::Element(c) => write_element(c, out, scope),
                dom::ChildOfElement::Text(t) => pxml::escape_text_into(out, t.text()),
                dom::ChildOfElement::Comment(t) => {
                    out.push_str("<!--");
                    out.push_str(t.text());
                    out.push_str("-->");
                }
                dom::ChildOfElement::ProcessingInstruction(pi) => {
                    out.push_str("<?");
                    out.push_str(pi.target());
                    if let Some(v) = pi.value() {
                        out.push(' ');
                        out.push_str(v);
                    }
                    out.push_str("?>");
                }
            }
        }
        out.push_str("</");
        out.push_str(&qn);
        out.push('>');
    }
    scope.truncate(mark);
}

// === conversions inside XPath ===

fn xstring(v: &XValue<'_>) -> String {
    match v {
        XValue::Boolean(b) => b.to_string(),
        XValue::Number(n) => xpath_number_string(*n),
        XValue::String(s) => s.clone(),
        XValue::Nodeset(ns) => ns
            .document_order_first()
            .map(|n| n.string_value())
            .unwrap_or_default(),
    }
}

fn xnumber(v: &XValue<'_>) -> f64 {
    match v {
        XValue::Boolean(b) => f64::from(u8::from(*b)),
        XValue::Number(n) => *n,
        XValue::String(s) => java_parse_double(s),
        XValue::Nodeset(_) => java_parse_double(&xstring(v)),
    }
}

fn to_xvalue<'d>(v: Value) -> XValue<'d> {
    match v {
        Value::Null => XValue::Nodeset(Nodeset::new()),
        Value::String(s) | Value::Xml(s) => XValue::String(s),
        Value::Number(n) => XValue::Number(n),
        Value::Integer(i) => XValue::Number(i as f64),
        Value::Boolean(b) => XValue::Boolean(b),
        Value::Json(j) => XValue::String(j.to_string()),
    }
}

fn arity(args: &[XValue<'_>], min: usize, max: usize) -> Result<(), FnError> {
    if args.len() < min {
        return Err(FnError::NotEnoughArguments {
            expected: min,
            actual: args.len(),
        });
    }
    if args.len() > max {
        return Err(FnError::TooManyArguments {
            expected: max,
            actual: args.len(),
        });
    }
    Ok(())
}

// === functions ===

fn register(ctx: &mut Context<'static>) {
    ctx.set_function("string", StringFn);
    ctx.set_function("number", NumberFn);
    ctx.set_function("concat", ConcatFn);
    ctx.set_function("sum", SumFn);
    ctx.set_function("lang", LangFn);
    ctx.set_function("id", IdFn);
    ctx.set_function("ends-with", EndsWith);
    ctx.set_function("upper-case", Case(true));
    ctx.set_function("lower-case", Case(false));
    ctx.set_function("get-property", GetProperty);
    ctx.set_function("base64Encode", Base64Encode);
    ctx.set_function("base64Decode", Base64Decode);
    ctx.set_function("url-encode", UrlEncode);
    ctx.set_function("vault-lookup", VaultLookup);
    ctx.set_function("_var", VarFn);
    ctx.set_function("_body", SoapPart("Body"));
    ctx.set_function("_header", SoapPart("Header"));
    ctx.set_function("_eq", Cmp(CmpOp::Eq));
    ctx.set_function("_ne", Cmp(CmpOp::Ne));
    ctx.set_function("_lt", Cmp(CmpOp::Lt));
    ctx.set_function("_le", Cmp(CmpOp::Le));
    ctx.set_function("_gt", Cmp(CmpOp::Gt));
    ctx.set_function("_ge", Cmp(CmpOp::Ge));
}

struct StringFn;
impl Function for StringFn {
    fn evaluate<'c, 'd>(
        &self,
        c: &Evaluation<'c, 'd>,
        args: Vec<XValue<'d>>,
    ) -> Result<XValue<'d>, FnError> {
        arity(&args, 0, 1)?;
        Ok(XValue::String(match args.first() {
            Some(v) => xstring(v),
            None => c.node.string_value(),
        }))
    }
}

struct NumberFn;
impl Function for NumberFn {
    fn evaluate<'c, 'd>(
        &self,
        c: &Evaluation<'c, 'd>,
        args: Vec<XValue<'d>>,
    ) -> Result<XValue<'d>, FnError> {
        arity(&args, 0, 1)?;
        Ok(XValue::Number(match args.first() {
            Some(v) => xnumber(v),
            None => java_parse_double(&c.node.string_value()),
        }))
    }
}

struct ConcatFn;
impl Function for ConcatFn {
    fn evaluate<'c, 'd>(
        &self,
        _: &Evaluation<'c, 'd>,
        args: Vec<XValue<'d>>,
    ) -> Result<XValue<'d>, FnError> {
        arity(&args, 2, usize::MAX)?;
        let mut s = String::new();
        for a in &args {
            s.push_str(&xstring(a));
        }
        Ok(XValue::String(s))
    }
}

struct SumFn;
impl Function for SumFn {
    fn evaluate<'c, 'd>(
        &self,
        _: &Evaluation<'c, 'd>,
        args: Vec<XValue<'d>>,
    ) -> Result<XValue<'d>, FnError> {
        arity(&args, 1, 1)?;
        match &args[0] {
            XValue::Nodeset(ns) => Ok(XValue::Number(
                ns.iter()
                    .map(|n| java_parse_double(&n.string_value()))
                    .sum(),
            )),
            other => Err(FnError::ArgumentNotANodeset {
                actual: other.into(),
            }),
        }
    }
}

struct LangFn;
impl Function for LangFn {
    fn evaluate<'c, 'd>(
        &self,
        c: &Evaluation<'c, 'd>,
        args: Vec<XValue<'d>>,
    ) -> Result<XValue<'d>, FnError> {
        arity(&args, 1, 1)?;
        let want = xstring(&args[0]).to_ascii_lowercase();
        let mut node = Some(c.node);
        while let Some(n) = node {
            if let Node::Element(e) = n {
                let q = sxd_document::QName::with_namespace_uri(Some(pxml::XML_NS), "lang");
                if let Some(v) = e.attribute_value(q) {
                    let v = v.to_ascii_lowercase();
                    let ok =
                        v == want || (v.starts_with(&want) && v[want.len()..].starts_with('-'));
                    return Ok(XValue::Boolean(ok));
                }
            }
            node = n.parent();
        }
        Ok(XValue::Boolean(false))
    }
}

/// No DTD, so no ID attributes: always empty.
struct IdFn;
impl Function for IdFn {
    fn evaluate<'c, 'd>(
        &self,
        _: &Evaluation<'c, 'd>,
        args: Vec<XValue<'d>>,
    ) -> Result<XValue<'d>, FnError> {
        arity(&args, 1, 1)?;
        Ok(XValue::Nodeset(Nodeset::new()))
    }
}

struct EndsWith;
impl Function for EndsWith {
    fn evaluate<'c, 'd>(
        &self,
        _: &Evaluation<'c, 'd>,
        args: Vec<XValue<'d>>,
    ) -> Result<XValue<'d>, FnError> {
        arity(&args, 2, 2)?;
        Ok(XValue::Boolean(
            xstring(&args[0]).ends_with(&xstring(&args[1])),
        ))
    }
}

struct Case(bool);
impl Function for Case {
    fn evaluate<'c, 'd>(
        &self,
        _: &Evaluation<'c, 'd>,
        args: Vec<XValue<'d>>,
    ) -> Result<XValue<'d>, FnError> {
        arity(&args, 1, 2)?;
        let s = xstring(&args[0]);
        Ok(XValue::String(if self.0 {
            s.to_uppercase()
        } else {
            s.to_lowercase()
        }))
    }
}

struct GetProperty;
impl Function for GetProperty {
    fn evaluate<'c, 'd>(
        &self,
        _: &Evaluation<'c, 'd>,
        args: Vec<XValue<'d>>,
    ) -> Result<XValue<'d>, FnError> {
        arity(&args, 0, 3)?;
        let args: Vec<String> = args.iter().map(xstring).collect();
        Ok(to_xvalue(props::get_property(&args, &StateSource)))
    }
}

/// `wso2:vault-lookup('alias'[, type, isEncrypted])`: the host's secret for `alias` (the
/// empty string when it has none, as Synapse's resolver gives an empty value). The type
/// (`DOCKER`, `FILE`, `ENV`) and `isEncrypted` arguments are accepted: where the secret comes
/// from is the host's configuration, not the call.
struct VaultLookup;
impl Function for VaultLookup {
    fn evaluate<'c, 'd>(
        &self,
        _: &Evaluation<'c, 'd>,
        args: Vec<XValue<'d>>,
    ) -> Result<XValue<'d>, FnError> {
        arity(&args, 1, 3)?;
        let alias = xstring(&args[0]);
        let v = STATE.with(|s| s.borrow_mut().get(Req::Secret(alias)));
        Ok(XValue::String(
            v.and_then(|v| v.to_synapse_string()).unwrap_or_default(),
        ))
    }
}

struct VarFn;
impl Function for VarFn {
    fn evaluate<'c, 'd>(
        &self,
        _: &Evaluation<'c, 'd>,
        args: Vec<XValue<'d>>,
    ) -> Result<XValue<'d>, FnError> {
        arity(&args, 2, 2)?;
        let kind = props::VarKind::parse(&xstring(&args[0]))
            .ok_or_else(|| FnError::Other("unknown variable prefix".into()))?;
        Ok(to_xvalue(props::var(
            kind,
            &xstring(&args[1]),
            &StateSource,
        )))
    }
}

/// `$body` / `$header`: the SOAP Body / Header element.
struct SoapPart(&'static str);
impl Function for SoapPart {
    fn evaluate<'c, 'd>(
        &self,
        c: &Evaluation<'c, 'd>,
        args: Vec<XValue<'d>>,
    ) -> Result<XValue<'d>, FnError> {
        arity(&args, 0, 0)?;
        let mut ns = Nodeset::new();
        let root = c.node.document().root();
        for top in root.children() {
            if let dom::ChildOfRoot::Element(envl) = top {
                for part in envl.children() {
                    if let dom::ChildOfElement::Element(p) = part {
                        if p.name().local_part() == self.0 {
                            ns.add(p);
                        }
                    }
                }
            }
        }
        Ok(XValue::Nodeset(ns))
    }
}

// --- Synapse string functions ---

pub(crate) fn charset_bytes(s: &str, charset: Option<&str>) -> Result<Vec<u8>, FnError> {
    match charset.map(|c| c.trim().to_ascii_uppercase()).as_deref() {
        None | Some("" | "UTF-8" | "UTF8") => Ok(s.as_bytes().to_vec()),
        Some("US-ASCII" | "ASCII") => Ok(s
            .chars()
            .map(|c| if c.is_ascii() { c as u8 } else { b'?' })
            .collect()),
        Some("ISO-8859-1" | "LATIN1" | "ISO8859_1") => Ok(s
            .chars()
            .map(|c| {
                if (c as u32) < 256 {
                    c as u32 as u8
                } else {
                    b'?'
                }
            })
            .collect()),
        Some(other) => Err(FnError::Other(format!("unsupported charset {other}"))),
    }
}

fn bytes_charset(b: &[u8], charset: Option<&str>) -> Result<String, FnError> {
    match charset.map(|c| c.trim().to_ascii_uppercase()).as_deref() {
        None | Some("" | "UTF-8" | "UTF8" | "US-ASCII" | "ASCII") => {
            Ok(String::from_utf8_lossy(b).into_owned())
        }
        Some("ISO-8859-1" | "LATIN1" | "ISO8859_1") => Ok(b.iter().map(|&c| c as char).collect()),
        Some(other) => Err(FnError::Other(format!("unsupported charset {other}"))),
    }
}

struct Base64Encode;
impl Function for Base64Encode {
    fn evaluate<'c, 'd>(
        &self,
        _: &Evaluation<'c, 'd>,
        args: Vec<XValue<'d>>,
    ) -> Result<XValue<'d>, FnError> {
        arity(&args, 1, 2)?;
        let s = xstring(&args[0]);
        if s.is_empty() {
            return Ok(XValue::String(String::new()));
        }
        let cs = args.get(1).map(xstring);
        let bytes = charset_bytes(&s, cs.as_deref())?;
        Ok(XValue::String(
            base64::engine::general_purpose::STANDARD.encode(bytes),
        ))
    }
}

/// Lenient Base64 decoding like commons-codec: characters outside the alphabets (standard and
/// URL-safe) are ignored, padding is optional, a dangling final character is dropped.
pub(crate) fn decode_base64_lenient(s: &str) -> Option<Vec<u8>> {
    let mut clean: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '-' | '_'))
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    if clean.len() % 4 == 1 {
        clean.pop();
    }
    let decoder = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    decoder.decode(&clean).ok()
}

struct Base64Decode;
impl Function for Base64Decode {
    fn evaluate<'c, 'd>(
        &self,
        _: &Evaluation<'c, 'd>,
        args: Vec<XValue<'d>>,
    ) -> Result<XValue<'d>, FnError> {
        arity(&args, 1, 2)?;
        let s = xstring(&args[0]);
        if s.is_empty() {
            return Ok(XValue::String(String::new()));
        }
        let cs = args.get(1).map(xstring);
        let bytes = decode_base64_lenient(&s)
            .ok_or_else(|| FnError::Other("base64Decode: the argument is not Base64".into()))?;
        Ok(XValue::String(
            bytes_charset(&bytes, cs.as_deref())?.trim().to_string(),
        ))
    }
}

/// `URLEncoder.encode` then `+` → `%20`, keeping `/ ? & = :` readable.
pub(crate) fn url_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(b as char)
            }
            b'/' | b'?' | b'&' | b'=' | b':' => out.push(b as char),
            _ => {
                out.push('%');
                out.push_str(&format!("{b:02X}"));
            }
        }
    }
    out
}

struct UrlEncode;
impl Function for UrlEncode {
    fn evaluate<'c, 'd>(
        &self,
        _: &Evaluation<'c, 'd>,
        args: Vec<XValue<'d>>,
    ) -> Result<XValue<'d>, FnError> {
        arity(&args, 1, 2)?;
        let s = xstring(&args[0]);
        let cs = args.get(1).map(xstring);
        let bytes = charset_bytes(&s, cs.as_deref())?;
        Ok(XValue::String(url_encode(&bytes)))
    }
}

// --- comparisons (XPath 1.0 §3.4 with Java number parsing) ---

struct Cmp(CmpOp);

fn compare(op: CmpOp, a: &XValue<'_>, b: &XValue<'_>) -> bool {
    match (a, b) {
        (XValue::Nodeset(x), XValue::Nodeset(y)) => {
            let ys: Vec<String> = y.iter().map(|n| n.string_value()).collect();
            x.iter().any(|n| {
                let s = n.string_value();
                ys.iter().any(|t| op.strings(&s, t))
            })
        }
        (XValue::Nodeset(x), other) => compare_set(op, x, other),
        (other, XValue::Nodeset(y)) => compare_set(op.flip(), y, other),
        _ if op.is_equality() => match (a, b) {
            (XValue::Boolean(_), _) | (_, XValue::Boolean(_)) => op.bools(a.boolean(), b.boolean()),
            (XValue::Number(_), _) | (_, XValue::Number(_)) => op.num(xnumber(a), xnumber(b)),
            _ => op.strings(&xstring(a), &xstring(b)),
        },
        _ => op.num(xnumber(a), xnumber(b)),
    }
}

/// A node-set against a non-node-set value, existentially.
fn compare_set(op: CmpOp, ns: &Nodeset<'_>, other: &XValue<'_>) -> bool {
    match other {
        XValue::Boolean(b) => op.bools(ns.size() > 0, *b),
        XValue::Number(n) => ns
            .iter()
            .any(|x| op.num(java_parse_double(&x.string_value()), *n)),
        XValue::String(s) => ns.iter().any(|x| op.strings(&x.string_value(), s)),
        XValue::Nodeset(_) => false,
    }
}

impl Function for Cmp {
    fn evaluate<'c, 'd>(
        &self,
        _: &Evaluation<'c, 'd>,
        args: Vec<XValue<'d>>,
    ) -> Result<XValue<'d>, FnError> {
        arity(&args, 2, 3)?;
        if let Some(flags) = args.get(2) {
            let flags = xstring(flags);
            let null = |v: &XValue<'_>| matches!(v, XValue::Nodeset(ns) if ns.size() == 0);
            if (flags.contains('l') && null(&args[0])) || (flags.contains('r') && null(&args[1])) {
                return Ok(XValue::Boolean(false));
            }
        }
        Ok(XValue::Boolean(compare(self.0, &args[0], &args[1])))
    }
}
