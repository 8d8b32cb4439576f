//! The compile step: detect the dialect, parse, check function names and
//! arities, record what the expression reads, choose a fast path, and rewrite the text for
//! sxd-xpath:
//!
//! * `fn:concat` (undeclared `fn`) → `concat`; any prefix on a Synapse function is dropped;
//! * `$ctx:x`, `$trp:x`, … → `_var('ctx', 'x')`; `$body`/`$header` → `_body()`/`_header()`;
//! * `=`, `!=`, `<`, `<=`, `>`, `>=` → `_eq(a, b)` … (XPath 1.0 comparisons with Java number
//!   parsing; sxd's `!=` is `not(=)`);
//! * arithmetic operands that are not numbers already → `number(x)` (our `number()` parses
//!   strings the Java way and knows typed properties).

use std::sync::Arc;

use synaptic_diag::{codes, Diagnostic, Span};

use crate::functions::{
    bare_read, literal_args, resolve_call, strip_groups, Class, MANY, NUMERIC_FNS,
};
use crate::json::{self, JsonExpr};
use crate::props::{self, Part, Read, Target, VarKind};
use crate::scalar::{self, Scalar};
use crate::syntax::{self, BinOp, Expr, NodeTest, PathStart, Rewrite};
use crate::{CompiledExpr, Dialect, Scope};

#[derive(Clone, Debug)]
pub(crate) enum Kind {
    /// A bare property read: no sxd, Null when missing.
    Bare(Read),
    /// `concat` of literals and bare reads (also a lone literal).
    Concat(Vec<Part>),
    Json(JsonExpr),
    XPath(XPathExpr),
    /// An XPath naming a function or variable nothing provides: Jaxen compiles it and fails
    /// when it is evaluated, with this message.
    Unresolvable(Arc<str>),
}

#[derive(Clone, Debug)]
pub(crate) struct XPathExpr {
    /// Rewritten text handed to sxd-xpath.
    pub text: Arc<str>,
    /// Cache key: rewritten text plus the namespace bindings it uses.
    pub key: Arc<str>,
    /// Bindings for the prefixes used in location paths.
    pub namespaces: Arc<[(String, String)]>,
    /// Literal reads, resolved before evaluation.
    pub prefetch: Arc<[Read]>,
    /// The same expression for the scalar evaluator, when it never touches a node.
    pub scalar: Option<Arc<Scalar>>,
    /// How the expression's text mentions `node()` (Synapse's string rule depends on it).
    pub node_rule: NodeRule,
}

/// Synapse turns a node-set result into a string by looking at the expression's own text: when
/// it ends with `node()`, a lone text node stands for its parent element; when it mentions
/// `node()` anywhere, a lone element is written as XML rather than giving its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NodeRule {
    None,
    Contains,
    EndsWith,
}

impl NodeRule {
    pub(crate) fn of(text: &str) -> NodeRule {
        if text.trim_end().ends_with("node()") {
            NodeRule::EndsWith
        } else if text.contains("node()") {
            NodeRule::Contains
        } else {
            NodeRule::None
        }
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Meta {
    pub registry_keys: Vec<String>,
    pub property_reads: Vec<(Scope, String)>,
    pub touches_body: bool,
    pub numeric_uses: Vec<String>,
    pub may_be_empty: bool,
    pub warnings: Vec<Diagnostic>,
}

// === compile ===

pub(crate) fn compile(
    text: &str,
    span: Span,
    namespaces: &[(String, String)],
    dialect: Dialect,
) -> Result<CompiledExpr, Vec<Diagnostic>> {
    let lead = text.len() - text.trim_start().len();
    let trimmed = text.trim();
    let at = |r: (usize, usize)| sub_span(span, text, (r.0 + lead, r.1 + lead));
    let (kind, meta) = match dialect {
        Dialect::JsonPath => json_kind(trimmed, namespaces, &at)?,
        Dialect::XPath => {
            if let Some(inner) = json_eval_inner(trimmed) {
                let off = offset_in(trimmed, inner);
                let inner_at = |r: (usize, usize)| at((r.0 + off, r.1 + off));
                json_kind(inner, namespaces, &inner_at)?
            } else if trimmed.starts_with("${") {
                return Err(vec![Diagnostic::error(
                    codes::E0201,
                    span,
                    "Synapse expressions (`${…}`) are not supported; use XPath or json-eval(…)",
                )]);
            } else if let Some((rewritten, bound)) = clark_names(trimmed) {
                let mut all = namespaces.to_vec();
                all.extend(bound);
                xpath_kind(&rewritten, &all, &at)?
            } else {
                xpath_kind(trimmed, namespaces, &at)?
            }
        }
    };
    Ok(CompiledExpr {
        text: text.to_string(),
        span,
        kind,
        meta: Arc::new(meta),
    })
}

/// Names written in Clark notation (`{uri}local`, as `SynapseXPath.parseXPathString` takes
/// them) → `_clarkN:local` with a binding per URI; `None` when there is none (outside string
/// literals).
fn clark_names(text: &str) -> Option<(String, Vec<(String, String)>)> {
    let mut out = String::with_capacity(text.len());
    let mut bound: Vec<(String, String)> = Vec::new();
    let mut quote: Option<char> = None;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '{' => {
                let close = rest.find('}')?;
                let uri = &rest[1..close];
                let prefix = match bound.iter().find(|(_, u)| u == uri) {
                    Some((p, _)) => p.clone(),
                    None => {
                        let p = format!("_clark{}", bound.len());
                        bound.push((p.clone(), uri.to_string()));
                        p
                    }
                };
                out.push_str(&prefix);
                out.push(':');
                rest = &rest[close + 1..];
                continue;
            }
            None => {}
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    (!bound.is_empty()).then_some((out, bound))
}

/// `json-eval(…)` as the whole expression → its argument.
fn json_eval_inner(t: &str) -> Option<&str> {
    let rest = t.strip_prefix("json-eval(")?;
    let inner = rest.strip_suffix(')')?;
    Some(inner.trim())
}

/// The byte offset of `part`, a slice of `whole`, in `whole`.
fn offset_in(whole: &str, part: &str) -> usize {
    (part.as_ptr() as usize)
        .saturating_sub(whole.as_ptr() as usize)
        .min(whole.len())
}

/// The warnings of the JSONPath of `text` (`json-eval(…)`, or the path alone) as Jayway reads
/// it (W0210), where `span` says it is written.
pub(crate) fn jsonpath_warnings(text: &str, span: Span) -> Vec<Diagnostic> {
    let lead = text.len() - text.trim_start().len();
    let trimmed = text.trim();
    let (path, off) = match json_eval_inner(trimmed) {
        Some(inner) => (inner, lead + offset_in(trimmed, inner)),
        None => (trimmed, lead),
    };
    let at = |r: (usize, usize)| sub_span(span, text, (r.0 + off, r.1 + off));
    match json::to_rfc(path) {
        Ok(rfc) => rfc
            .ignored
            .map(|(i, c)| ignored_character(path, i, c, &at))
            .into_iter()
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// A span inside the attribute value when the text maps 1:1 onto the source.
fn sub_span(span: Span, text: &str, r: (usize, usize)) -> Span {
    if (span.end - span.start) as usize == text.len() && r.0 <= r.1 && r.1 <= text.len() {
        Span::new(
            span.source,
            span.start as usize + r.0,
            span.start as usize + r.1,
        )
    } else {
        span
    }
}

fn json_kind(
    path: &str,
    namespaces: &[(String, String)],
    at: &dyn Fn((usize, usize)) -> Span,
) -> Result<(Kind, Meta), Vec<Diagnostic>> {
    if let Some(split) = json::dynamic_parts(path) {
        // `{expression}` parts: each a Synapse expression, the path assembled at run time
        let mut meta = Meta {
            touches_body: true,
            may_be_empty: true,
            ..Meta::default()
        };
        let mut parts = Vec::with_capacity(split.len());
        let mut offset = 0;
        for (is_expr, text) in split {
            let start = path[offset..].find(text).map_or(offset, |i| i + offset);
            offset = start + text.len();
            if !is_expr {
                parts.push(json::DynPart::Lit(text.to_string()));
                continue;
            }
            let e = compile(
                text,
                at((start, start + text.len())),
                namespaces,
                Dialect::XPath,
            )?;
            meta.property_reads
                .extend(e.meta.property_reads.iter().cloned());
            meta.registry_keys
                .extend(e.meta.registry_keys.iter().cloned());
            parts.push(json::DynPart::Expr(e));
        }
        return Ok((Kind::Json(json::compile_dynamic(parts)), meta));
    }
    match json::compile(path) {
        Ok(j) => {
            let mut meta = Meta {
                touches_body: j.touches_body(),
                may_be_empty: true,
                ..Meta::default()
            };
            if let Some((i, c)) = j.ignored() {
                meta.warnings.push(ignored_character(path, i, c, at));
            }
            if let Some((scope, name)) = j.property() {
                meta.property_reads.push((scope, name.to_string()));
            }
            Ok((Kind::Json(j), meta))
        }
        Err(msg) => Err(vec![match crate::diagnose::jsonpath_error(path) {
            // the position inside the path, in words
            Some((pos, message)) => {
                Diagnostic::error(codes::E0202, at((pos, (pos + 1).min(path.len()))), message)
            }
            None => Diagnostic::error(
                codes::E0202,
                at((0, path.len())),
                format!("invalid JSONPath {msg}"),
            ),
        }]),
    }
}

/// W0210: the last character of a JSONPath that Jayway never reads (`$.a[0])`).
pub(crate) fn ignored_character(
    path: &str,
    at: usize,
    c: char,
    span: &dyn Fn((usize, usize)) -> Span,
) -> Diagnostic {
    Diagnostic::warning(
        codes::W0210,
        span((at, at + c.len_utf8())),
        format!(
            "`{c}` at the end of the JSONPath `{}` is not read: after a complete step, Jayway \
             (and so Synapse) ignores one last character; remove it",
            path.trim()
        ),
    )
}

fn xpath_kind(
    text: &str,
    namespaces: &[(String, String)],
    at: &dyn Fn((usize, usize)) -> Span,
) -> Result<(Kind, Meta), Vec<Diagnostic>> {
    let ast = syntax::parse(text).map_err(|e| {
        if let Some(pos) = text.find("json-eval(") {
            return vec![Diagnostic::error(
                codes::E0203,
                at((pos, pos + "json-eval".len())),
                crate::diagnose::json_eval_inside_xpath(text, pos),
            )];
        }
        vec![Diagnostic::error(
            codes::E0201,
            at(e.range),
            crate::diagnose::xpath_error(text, e.range.0, &e.message),
        )]
    })?;
    let mut a = Analyzer {
        ns: namespaces,
        at,
        errors: Vec::new(),
        unresolved: Vec::new(),
        meta: Meta::default(),
        prefixes: Vec::new(),
        prefetch: Vec::new(),
    };
    a.walk(&ast);
    if !a.errors.is_empty() {
        return Err(a.errors);
    }
    if !a.unresolved.is_empty() {
        // `SynapseXPath.stringValueOf`'s message when Jaxen cannot resolve a name
        let mut meta = a.meta;
        meta.warnings.append(&mut a.unresolved);
        return Ok((
            Kind::Unresolvable(
                format!("Evaluation of the XPath expression {text} resulted in an error").into(),
            ),
            meta,
        ));
    }
    let mut meta = a.meta;
    let top = strip_groups(&ast);
    if let Some(read) = bare_read(top, namespaces) {
        meta.may_be_empty = match &read {
            Read::GetProperty(args) => {
                !matches!(props::target(args), Target::Time | Target::Date(_))
            }
            Read::Var(..) => true,
        };
        return Ok((Kind::Bare(read), meta));
    }
    if let Expr::Literal(s) = top {
        return Ok((Kind::Concat(vec![Part::Lit(s.clone())]), meta));
    }
    if let Some(parts) = concat_parts(top, namespaces) {
        return Ok((Kind::Concat(parts), meta));
    }
    let mut out = String::with_capacity(text.len() + 16);
    syntax::emit(&ast, &Rw { ns: namespaces }, &mut out);
    match sxd_xpath::Factory::new().build(&out) {
        Ok(Some(_)) => {}
        Ok(None) => {
            return Err(vec![Diagnostic::error(
                codes::E0201,
                at((0, text.len())),
                "XPath syntax error: empty expression",
            )])
        }
        Err(e) => {
            return Err(vec![Diagnostic::error(
                codes::E0201,
                at((0, text.len())),
                format!("XPath syntax error in `{text}`: {e}"),
            )])
        }
    }
    let mut ns: Vec<(String, String)> = Vec::new();
    for p in &a.prefixes {
        if let Some((_, u)) = namespaces.iter().rev().find(|(q, _)| q == p) {
            if !ns.iter().any(|(q, _)| q == p) {
                ns.push((p.clone(), u.clone()));
            }
        }
    }
    let mut key = out.clone();
    for (p, u) in &ns {
        key.push('\u{1}');
        key.push_str(p);
        key.push('=');
        key.push_str(u);
    }
    Ok((
        Kind::XPath(XPathExpr {
            text: out.into(),
            key: key.into(),
            namespaces: ns.into(),
            prefetch: a.prefetch.into(),
            scalar: scalar::build(&ast, namespaces).map(Arc::new),
            node_rule: NodeRule::of(text),
        }),
        meta,
    ))
}

fn concat_parts(e: &Expr, ns: &[(String, String)]) -> Option<Vec<Part>> {
    let Expr::Call {
        prefix, name, args, ..
    } = e
    else {
        return None;
    };
    if resolve_call(prefix.as_deref(), name, ns).ok()?.name != "concat" {
        return None;
    }
    args.iter()
        .map(|a| match strip_groups(a) {
            Expr::Literal(s) => Some(Part::Lit(s.clone())),
            Expr::Number(v, _) => Some(Part::Lit(crate::num::xpath_number_string(*v))),
            other => bare_read(other, ns).map(Part::Read),
        })
        .collect()
}

fn is_numeric(e: &Expr, ns: &[(String, String)]) -> bool {
    match strip_groups(e) {
        Expr::Number(..) | Expr::Neg(_) => true,
        Expr::Binary(op, ..) => op.is_arith(),
        Expr::Call { prefix, name, .. } => match resolve_call(prefix.as_deref(), name, ns) {
            Ok(spec) => NUMERIC_FNS.contains(&spec.name),
            Err(_) => false,
        },
        _ => false,
    }
}

// === analysis ===

struct Analyzer<'a> {
    ns: &'a [(String, String)],
    at: &'a dyn Fn((usize, usize)) -> Span,
    errors: Vec<Diagnostic>,
    /// Names only evaluation resolves, which nothing provides (W0204, W0209).
    unresolved: Vec<Diagnostic>,
    meta: Meta,
    prefixes: Vec<String>,
    prefetch: Vec<Read>,
}

impl Analyzer<'_> {
    fn error(&mut self, code: synaptic_diag::Code, r: (usize, usize), msg: impl Into<String>) {
        let span = (self.at)(r);
        self.errors.push(Diagnostic::error(code, span, msg));
    }

    /// A name Jaxen resolves only when the expression is evaluated (a function or a variable
    /// nothing provides): the expression compiles, and faults each time it runs.
    fn unresolved(&mut self, code: synaptic_diag::Code, r: (usize, usize), msg: String) {
        let span = (self.at)(r);
        self.unresolved.push(
            Diagnostic::warning(
                code,
                span,
                format!("{msg}: Synapse deploys it, and evaluating the expression faults"),
            )
            .with_note("a message that reaches this expression faults"),
        );
    }

    /// The default-scope property a bare read names, for W0902.
    fn default_read_name(&self, e: &Expr) -> Option<String> {
        match bare_read(strip_groups(e), self.ns)? {
            Read::GetProperty(args) => match props::target(&args) {
                Target::Prop(Scope::Default, n) => Some(n.to_string()),
                _ => None,
            },
            Read::Var(VarKind::Ctx, n) => Some(n),
            Read::Var(..) => None,
        }
    }

    fn numeric_use(&mut self, e: &Expr) {
        if let Some(n) = self.default_read_name(e) {
            if !self.meta.numeric_uses.contains(&n) {
                self.meta.numeric_uses.push(n);
            }
        }
    }

    fn record(&mut self, read: Read) {
        match &read {
            Read::GetProperty(args) => match props::target(args) {
                Target::Prop(scope, name) => {
                    let entry = (scope, name.to_string());
                    if !self.meta.property_reads.contains(&entry) {
                        self.meta.property_reads.push(entry);
                    }
                }
                Target::Registry(key) => {
                    if !self.meta.registry_keys.iter().any(|k| k == key) {
                        self.meta.registry_keys.push(key.to_string());
                    }
                }
                _ => return,
            },
            Read::Var(k, name) => {
                if let Some(scope) = k.scope() {
                    let entry = (scope, name.clone());
                    if !self.meta.property_reads.contains(&entry) {
                        self.meta.property_reads.push(entry);
                    }
                }
            }
        }
        if !self.prefetch.contains(&read) {
            self.prefetch.push(read);
        }
    }

    fn walk(&mut self, e: &Expr) {
        match e {
            Expr::Binary(op, l, r) => {
                if op.is_arith() || op.is_relational() {
                    self.numeric_use(l);
                    self.numeric_use(r);
                } else if matches!(op, BinOp::Eq | BinOp::Ne) {
                    if is_numeric(r, self.ns) {
                        self.numeric_use(l);
                    }
                    if is_numeric(l, self.ns) {
                        self.numeric_use(r);
                    }
                }
                self.walk(l);
                self.walk(r);
            }
            Expr::Neg(x) => {
                self.numeric_use(x);
                self.walk(x);
            }
            Expr::Literal(_) | Expr::Number(..) => {}
            Expr::Group(x) => self.walk(x),
            Expr::Var {
                prefix,
                local,
                range,
            } => match prefix {
                None if local == "body" || local == "header" => self.meta.touches_body = true,
                None => self.unresolved(
                    codes::W0209,
                    *range,
                    format!("unknown variable ${local} (Synapse knows $body, $header, $ctx:, $axis2:, $trp:, $url:, $func:, $operation:, $sys:, $var:)"),
                ),
                Some(p) => match VarKind::parse(p) {
                    Some(k) => self.record(Read::Var(k, local.clone())),
                    None => self.unresolved(
                        codes::W0209,
                        *range,
                        format!("unknown variable ${p}:{local}"),
                    ),
                },
            },
            Expr::Call {
                prefix,
                name,
                args,
                range,
            } => {
                match resolve_call(prefix.as_deref(), name, self.ns) {
                    Err(msg) => {
                        if let Some(fname) = msg.strip_prefix("W3C:") {
                            self.error(
                                codes::E0205,
                                *range,
                                format!(
                                    "{}:{fname} names the W3C XPath 2.0 functions namespace, which Synapse's XPath 1.0 engine (Jaxen) does not provide; leave the prefix undeclared or drop it",
                                    prefix.as_deref().unwrap_or("fn")
                                ),
                            );
                        } else if name == "json-eval" {
                            self.error(codes::E0203, *range, msg);
                        } else {
                            self.unresolved(codes::W0204, *range, msg);
                        }
                    }
                    Ok(spec) => {
                        if spec.class == Class::Unsupported {
                            self.error(
                                codes::E0203,
                                *range,
                                format!("function {} is not supported by synaptic", spec.name),
                            );
                        } else if args.len() < spec.min || args.len() > spec.max {
                            let want = match (spec.min, spec.max) {
                                (a, b) if a == b => format!("{a}"),
                                (a, MANY) => format!("at least {a}"),
                                (a, b) => format!("{a} to {b}"),
                            };
                            self.error(
                                codes::E0204,
                                *range,
                                format!(
                                    "{}() takes {want} argument{}, got {}",
                                    spec.name,
                                    if want == "1" { "" } else { "s" },
                                    args.len()
                                ),
                            );
                        } else {
                            if (spec.context_default && args.is_empty()) || spec.name == "lang" {
                                self.meta.touches_body = true;
                            }
                            if spec.name == "number" || spec.name == "sum" {
                                if let Some(a) = args.first() {
                                    self.numeric_use(a);
                                }
                            }
                            if spec.name == "get-property" {
                                self.get_property(args, *range);
                            }
                        }
                    }
                }
                for a in args {
                    self.walk(a);
                }
            }
            Expr::Filter {
                primary,
                predicates,
            } => {
                self.walk(primary);
                for p in predicates {
                    self.walk(p);
                }
            }
            Expr::Path { start, steps } => {
                match start {
                    PathStart::From(f, _) => self.walk(f),
                    _ => self.meta.touches_body = true,
                }
                for s in steps {
                    if let NodeTest::Name(Some(p), _) = &s.test {
                        if self.ns.iter().any(|(q, _)| q == p) || p == "xml" {
                            if !self.prefixes.contains(p) {
                                self.prefixes.push(p.clone());
                            }
                        } else {
                            // Jaxen resolves a name test's prefix when it tests a node
                            self.unresolved(
                                codes::W0206,
                                s.range,
                                format!("undeclared namespace prefix {p:?} (declare xmlns:{p} on this element or an ancestor)"),
                            );
                        }
                    }
                    for p in &s.predicates {
                        self.walk(p);
                    }
                }
            }
        }
    }

    fn get_property(&mut self, args: &[Expr], range: (usize, usize)) {
        match literal_args(args) {
            Some(lits) => {
                match props::target(&lits) {
                    Target::Date(None) => self.meta.warnings.push(Diagnostic::warning(
                        codes::W0203,
                        (self.at)(range),
                        format!(
                            "SYSTEM_DATE without a pattern is locale dependent in Synapse; synaptic uses {:?} in UTC",
                            crate::date::DEFAULT_PATTERN
                        ),
                    )),
                    Target::Date(Some(p)) => {
                        if let Err(e) = crate::date::check_pattern(p) {
                            self.error(codes::E0201, range, format!("invalid SYSTEM_DATE pattern: {e}"));
                        }
                    }
                    Target::Prop(Scope::Default, _) if lits.len() == 2 && lits[0] == "axis2-client" => {}
                    _ => {}
                }
                if lits.len() == 2
                    && matches!(lits[0].as_str(), "axis2-client" | "trace" | "analytics")
                {
                    self.meta.warnings.push(Diagnostic::warning(
                        codes::W0202,
                        (self.at)(range),
                        format!(
                            "get-property({:?}, …) reads the default-scope property {:?}: {:?} is not a scope get-property knows",
                            lits[0], lits[0], lits[0]
                        ),
                    ));
                }
                self.record(Read::GetProperty(lits));
            }
            None => {
                let first_registry = matches!(
                    args.first().map(strip_groups),
                    Some(Expr::Literal(s)) if s == "registry"
                );
                if first_registry && args.len() >= 2 {
                    self.error(
                        codes::E0207,
                        range,
                        "registry keys must be literal strings (they are fetched before the expression runs)",
                    );
                }
            }
        }
    }
}

// === rewrite ===

struct Rw<'a> {
    ns: &'a [(String, String)],
}

impl Rewrite for Rw<'_> {
    fn call(&self, e: &Expr, out: &mut String, emit: &dyn Fn(&Expr, &mut String)) -> bool {
        match e {
            Expr::Var {
                prefix: None,
                local,
                ..
            } => {
                out.push_str(if local == "body" {
                    "_body()"
                } else {
                    "_header()"
                });
                true
            }
            Expr::Var {
                prefix: Some(p),
                local,
                ..
            } => {
                out.push_str("_var(");
                syntax::write_literal(out, p);
                out.push_str(", ");
                syntax::write_literal(out, local);
                out.push(')');
                true
            }
            Expr::Call {
                prefix: Some(_),
                name,
                args,
                ..
            } => {
                let _ = self.ns;
                out.push_str(name);
                out.push('(');
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    emit(a, out);
                }
                out.push(')');
                true
            }
            _ => false,
        }
    }

    fn binary(
        &self,
        op: BinOp,
        l: &Expr,
        r: &Expr,
        out: &mut String,
        emit: &dyn Fn(&Expr, &mut String),
    ) -> bool {
        if self.native_comparison(op, l, r) {
            return false;
        }
        let f = match op {
            BinOp::Eq => "_eq",
            BinOp::Ne => "_ne",
            BinOp::Lt => "_lt",
            BinOp::Le => "_le",
            BinOp::Gt => "_gt",
            BinOp::Ge => "_ge",
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod => {
                let sym = match op {
                    BinOp::Add => " + ",
                    BinOp::Sub => " - ",
                    BinOp::Mul => " * ",
                    BinOp::Div => " div ",
                    _ => " mod ",
                };
                out.push('(');
                self.num(l, out, emit);
                out.push_str(sym);
                self.num(r, out, emit);
                out.push(')');
                return true;
            }
            BinOp::Or | BinOp::And | BinOp::Union => return false,
        };
        out.push_str(f);
        out.push('(');
        emit(l, out);
        out.push_str(", ");
        emit(r, out);
        // a property read that is missing is Java null: `=`/`!=` with a null side are false
        // (Jaxen), which an empty node-set alone does not give against a boolean
        let lr = bare_read(strip_groups(l), self.ns).is_some();
        let rr = bare_read(strip_groups(r), self.ns).is_some();
        if matches!(op, BinOp::Eq | BinOp::Ne) && (lr || rr) {
            out.push_str(match (lr, rr) {
                (true, true) => ", 'lr'",
                (true, false) => ", 'l'",
                _ => ", 'r'",
            });
        }
        out.push(')');
        true
    }

    fn neg(&self, e: &Expr, out: &mut String, emit: &dyn Fn(&Expr, &mut String)) -> bool {
        out.push_str("-(");
        self.num(e, out, emit);
        out.push(')');
        true
    }
}

impl Rw<'_> {
    /// Whether sxd-xpath's own operator gives the XPath 1.0 + Java result, so the call to an
    /// internal comparison function can be saved: both operands are numbers, or (`=` only) a
    /// property read against a string literal that Java and sxd parse to the same number.
    fn native_comparison(&self, op: BinOp, l: &Expr, r: &Expr) -> bool {
        let numeric = |e: &Expr| is_numeric(e, self.ns);
        let safe_literal = |e: &Expr| match strip_groups(e) {
            Expr::Literal(s) => {
                let java = crate::num::java_parse_double(s);
                let sxd = s.trim().parse::<f64>().unwrap_or(f64::NAN);
                java == sxd || (java.is_nan() && sxd.is_nan())
            }
            _ => false,
        };
        let read = |e: &Expr| bare_read(strip_groups(e), self.ns).is_some();
        match op {
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge
                if numeric(l) && numeric(r) =>
            {
                true
            }
            BinOp::Eq => (read(l) && safe_literal(r)) || (safe_literal(l) && read(r)),
            _ => false,
        }
    }

    fn num(&self, e: &Expr, out: &mut String, emit: &dyn Fn(&Expr, &mut String)) {
        if is_numeric(e, self.ns) {
            emit(e, out);
        } else {
            out.push_str("number(");
            emit(e, out);
            out.push(')');
        }
    }
}
