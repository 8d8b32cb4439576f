//! Synapse Expressions (`${…}`, WSO2 Micro Integrator 4.4): compiled once at load, evaluated
//! synchronously over a [`SynEnv`].
//!
//! An expression reads the payload as JSON (`payload.orders[0].id`, `$..book[?(@.price > 10)]`;
//! an XML payload is seen through its JSON conversion) or through XPath (`xpath("//a")`),
//! variables (`vars.total`), transport headers (`headers["Content-Type"]`), properties
//! (`props.synapse.x`, `properties.axis2.x`), parameters (`params.queryParams.id`,
//! `params.pathParams.id`, `params.functionParams.x`) and configuration values (`configs.x`);
//! it combines them with literals, arithmetic, comparison, logical and conditional operators and
//! a library of functions ([`Func`]).
//!
//! Evaluation follows Micro Integrator: numbers keep Java's `int`/`long`/`double` types
//! (`5 / 2` is `2.5`, `9 / 3` is `3`, `8.95 + 8.99` is `17.94` through decimal arithmetic), a
//! missing value or an ill-typed operand is an evaluation error, and an attribute or template
//! reading a failed expression gets the empty string ([`string_value_of`]).
//!
//! # Differences from Micro Integrator
//!
//! - Precedence is conventional: `? :` < `or`/`||` < `and`/`&&` < comparisons < `+ -` < `* / %`
//!   (MI binds `and`/`or` tighter than comparisons, so `a > 1 and b < 2` fails there).
//! - Unary minus applies to any operand (`-vars.x`), and `a-1` without spaces is a subtraction
//!   unless `a-1` is a name (names may contain `-`, as in MI).
//! - String literals decode `\n \t \" \' \\ \/ \uXXXX` escapes; other escapes are kept as
//!   written (MI keeps every escape undecoded and strips backslashes when parsing JSON text).
//! - Unknown functions, wrong argument counts and malformed JSONPath are load-time errors
//!   (MI reports them when the expression runs).
//! - JSONPath runs on synaptic's own evaluator with Jayway's semantics for what MI's tests
//!   use: definite paths give one value (missing → error), indefinite paths (wildcards, `..`,
//!   filters, slices, unions) give an array; filter operators `== != < <= > >= =~ in nin
//!   subsetof anyof noneof size empty && || !`; functions `length() size() min() max() avg()
//!   sum() stddev() keys() first() last()`.
//! - `formatDateTime` works in UTC with English names (MI uses the JVM's zone and locale) and
//!   reads patterns with `y M d H h m s S a E` and quoted text.
//! - Integer subtraction and long multiplication that overflow become `long`/`double` instead
//!   of wrapping.
//! - `hashicorp-vault(…)` is not supported (an evaluation error saying so): synaptic has no
//!   HashiCorp Vault client.

mod decimal;
mod eval;
mod functions;
mod lexer;
mod parser;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use synaptic_diag::{codes, Diagnostic, Span};

use crate::{ExprEnv, Value};

pub use eval::SynValue;

/// Where a Synapse Expression reads from, beyond what XPath reads ([`ExprEnv`]: properties by
/// scope, headers as `Scope::Transport`, the payload, query parameters, the clock, registry
/// values prefetched for [`SynExpr::registry_keys`]).
pub trait SynEnv: ExprEnv {
    /// This environment as an XPath environment (implement as `self`).
    fn as_expr(&self) -> &dyn ExprEnv;
    /// A variable set by the `variable` mediator.
    fn variable(&self, name: &str) -> Option<Value>;
    /// A parameter of the template being run (`params.functionParams.x`).
    fn function_param(&self, _name: &str) -> Option<Value> {
        None
    }
    /// A configuration value (`configs.x`); `None` when the name has no value, which makes the
    /// read an evaluation error, as in Micro Integrator. (`wso2-vault(alias)` reads
    /// [`ExprEnv::secret`].)
    fn config(&self, _name: &str) -> Option<String> {
        None
    }
    /// A property of a registry resource (`registry(key).property(name)`).
    fn registry_property(&self, _key: &str, _name: &str) -> Option<String> {
        None
    }
}

/// The functions of the library.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    Length,
    ToUpper,
    ToLower,
    SubString,
    StartsWith,
    EndsWith,
    Contains,
    Trim,
    Replace,
    Split,
    IndexOf,
    CharAt,
    Abs,
    Ceil,
    Floor,
    Sqrt,
    Log,
    Pow,
    Round,
    Base64Encode,
    Base64Decode,
    UrlEncode,
    UrlDecode,
    IsString,
    IsNumber,
    IsArray,
    IsObject,
    String,
    Integer,
    Float,
    Boolean,
    Object,
    Array,
    Now,
    FormatDateTime,
    Exists,
    Not,
    Registry,
    XPath,
    Wso2Vault,
    HashicorpVault,
}

impl Func {
    pub fn from_name(name: &str) -> Option<Func> {
        use Func::*;
        Some(match name {
            "length" => Length,
            "toUpper" => ToUpper,
            "toLower" => ToLower,
            "subString" => SubString,
            "startsWith" => StartsWith,
            "endsWith" => EndsWith,
            "contains" => Contains,
            "trim" => Trim,
            "replace" => Replace,
            "split" => Split,
            "indexOf" => IndexOf,
            "charAt" => CharAt,
            "abs" => Abs,
            "ceil" => Ceil,
            "floor" => Floor,
            "sqrt" => Sqrt,
            "log" => Log,
            "pow" => Pow,
            "round" => Round,
            "base64encode" => Base64Encode,
            "base64decode" => Base64Decode,
            "urlEncode" => UrlEncode,
            "urlDecode" => UrlDecode,
            "isString" => IsString,
            "isNumber" => IsNumber,
            "isArray" => IsArray,
            "isObject" => IsObject,
            "string" => String,
            "integer" => Integer,
            "float" => Float,
            "boolean" => Boolean,
            "object" => Object,
            "array" => Array,
            "now" => Now,
            "formatDateTime" => FormatDateTime,
            "exists" => Exists,
            "not" => Not,
            "registry" => Registry,
            "xpath" => XPath,
            "wso2-vault" => Wso2Vault,
            "hashicorp-vault" => HashicorpVault,
            _ => return None,
        })
    }

    /// (minimum, maximum) number of arguments.
    pub fn arity(self) -> (usize, usize) {
        use Func::*;
        match self {
            Now => (0, 0),
            SubString | Round | Log | Base64Encode | UrlEncode | IndexOf | XPath | Registry => {
                match self {
                    SubString | IndexOf => (2, 3),
                    _ => (1, 2),
                }
            }
            StartsWith | EndsWith | Contains | Split | Pow | CharAt => (2, 2),
            Replace => (3, 3),
            FormatDateTime => (2, 3),
            HashicorpVault => (2, 3),
            _ => (1, 1),
        }
    }
}

/// A compiled Synapse Expression. `Send + Sync`, cheap to clone.
#[derive(Clone, Debug)]
pub struct SynExpr {
    /// The expression text (without `${` `}`).
    pub text: String,
    pub span: Span,
    pub(crate) root: Arc<parser::Node>,
    content_aware: bool,
    registry_keys: Arc<[String]>,
}

impl SynExpr {
    /// Whether evaluation reads the body (payload access, XPath on the body).
    pub fn is_content_aware(&self) -> bool {
        self.content_aware
    }
    /// Literal registry keys read (`registry("…")`), to prefetch.
    pub fn registry_keys(&self) -> &[String] {
        &self.registry_keys
    }
}

/// Whether an attribute value is one Synapse Expression, `${…}` alone.
pub fn is_expression_attr(value: &str) -> bool {
    let v = value.trim();
    v.starts_with("${")
        && v.ends_with('}')
        && split_template(v).is_ok_and(|p| p.len() == 1 && matches!(p[0], Piece::Expr(..)))
}

/// Compile the text of a Synapse Expression (without `${` `}`). `span` covers that text in its
/// file, so errors point inside the expression. `namespaces` serve `xpath("…")`.
pub fn compile(
    text: &str,
    span: Span,
    namespaces: &[(String, String)],
) -> Result<SynExpr, Vec<Diagnostic>> {
    let at = |s: usize, e: usize| {
        let r = span.range();
        // when the span does not cover the text exactly (entities in an attribute), point at
        // the whole expression
        if r.len() == text.len() {
            Span::new(span.source, r.start + s, r.start + e.max(s))
        } else {
            span
        }
    };
    let toks = lexer::lex(text).map_err(|e| {
        vec![Diagnostic::error(
            codes::E0230,
            at(e.start, e.end),
            format!("Synapse Expression: {}", e.message),
        )]
    })?;
    let mut xpath_errors: Vec<Diagnostic> = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    let mut hook =
        |lit: &str, s: usize, e: usize| -> Result<crate::CompiledExpr, parser::ParseError> {
            match crate::compile(lit, at(s, e), namespaces, crate::Dialect::XPath) {
                Ok(c) => {
                    keys.extend(c.registry_keys().iter().cloned());
                    Ok(c)
                }
                Err(d) => {
                    let msg = d
                        .first()
                        .map(|d| d.message.clone())
                        .unwrap_or_else(|| "invalid XPath".into());
                    xpath_errors.extend(d);
                    Err(parser::ParseError {
                        message: format!("in xpath(): {msg}"),
                        start: s,
                        end: e,
                    })
                }
            }
        };
    let parsed = parser::Parser::new(&toks, &mut hook).parse_all();
    let root = match parsed {
        Ok(r) => r,
        Err(e) => {
            if !xpath_errors.is_empty() {
                return Err(xpath_errors);
            }
            let code = if e.message.starts_with("unknown function") {
                codes::E0231
            } else if e.message.contains(" argument") && e.message.contains("takes") {
                codes::E0232
            } else {
                codes::E0230
            };
            return Err(vec![Diagnostic::error(
                code,
                at(e.start, e.end),
                format!("Synapse Expression: {}", e.message),
            )]);
        }
    };
    eval::registry_literals(&root, &mut keys);
    let content_aware = eval::content_aware(&root);
    Ok(SynExpr {
        text: text.to_string(),
        span,
        root: Arc::new(root),
        content_aware,
        registry_keys: keys.into(),
    })
}

/// Evaluate to a typed value; an error is what Micro Integrator logs as "Error evaluating
/// expression" (the attribute then reads as empty).
pub fn evaluate(e: &SynExpr, env: &dyn SynEnv) -> Result<SynValue, String> {
    eval::Evaluator::new(env).eval(&e.root)
}

/// The string an attribute reads: the value's text, `""` for null or an error.
pub fn string_value_of(e: &SynExpr, env: &dyn SynEnv) -> String {
    match evaluate(e, env) {
        Ok(v) => v.to_text().unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// The value as the engine stores it (`variable`, `property` with a type): `Value::Null` for
/// null or an error.
pub fn object_value_of(e: &SynExpr, env: &dyn SynEnv) -> Value {
    match evaluate(e, env) {
        Ok(v) => v.into_value(),
        Err(_) => Value::Null,
    }
}

/// A condition (`filter xpath="${…}"`): true only for the boolean `true` (or the string
/// `"true"`); an error is false.
pub fn eval_condition(e: &SynExpr, env: &dyn SynEnv) -> bool {
    match evaluate(e, env) {
        Ok(SynValue::Bool(b)) => b,
        Ok(SynValue::Str(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// Text with `${…}` expressions inside (log messages, payloadFactory templates).
#[derive(Clone, Debug)]
pub struct Template {
    parts: Vec<Part>,
}

/// A piece of a [`Template`].
#[derive(Clone, Copy, Debug)]
pub enum TemplatePiece<'a> {
    Text(&'a str),
    Expr(&'a SynExpr),
}

#[derive(Clone, Debug)]
enum Part {
    Text(String),
    Expr(SynExpr),
}

enum Piece {
    Text(usize, usize),
    /// (start, end) of the expression text inside `${ }`
    Expr(usize, usize),
}

/// Split text into literal pieces and `${…}` expressions; `}` inside string literals does not
/// end an expression. Errors give the offset of an unterminated `${`.
fn split_template(text: &str) -> Result<Vec<Piece>, usize> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut lit_start = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' && b.get(i + 1) == Some(&b'{') {
            let start = i + 2;
            let mut j = start;
            let mut quote: Option<u8> = None;
            let mut depth = 0usize;
            let mut end = None;
            while j < b.len() {
                let c = b[j];
                match quote {
                    Some(q) => {
                        if c == b'\\' {
                            j += 1;
                        } else if c == q {
                            quote = None;
                        }
                    }
                    None => match c {
                        b'"' | b'\'' => quote = Some(c),
                        b'{' => depth += 1,
                        b'}' if depth == 0 => {
                            end = Some(j);
                            break;
                        }
                        b'}' => depth -= 1,
                        _ => {}
                    },
                }
                j += 1;
            }
            let Some(end) = end else { return Err(i) };
            if lit_start < i {
                out.push(Piece::Text(lit_start, i));
            }
            out.push(Piece::Expr(start, end));
            i = end + 1;
            lit_start = i;
            continue;
        }
        i += 1;
    }
    if lit_start < b.len() {
        out.push(Piece::Text(lit_start, b.len()));
    }
    Ok(out)
}

/// Whether text holds at least one `${`.
pub fn has_expressions(text: &str) -> bool {
    text.contains("${")
}

impl Template {
    /// Compile every `${…}` in `text`; `span` covers `text` in its file.
    pub fn compile(
        text: &str,
        span: Span,
        namespaces: &[(String, String)],
    ) -> Result<Template, Vec<Diagnostic>> {
        let r = span.range();
        let exact = r.len() == text.len();
        let sub = |s: usize, e: usize| {
            if exact {
                Span::new(span.source, r.start + s, r.start + e)
            } else {
                span
            }
        };
        let pieces = split_template(text).map_err(|at| {
            vec![Diagnostic::error(
                codes::E0230,
                sub(at, text.len()),
                "Synapse Expression: `${` without a closing `}`",
            )]
        })?;
        let mut parts = Vec::new();
        let mut errors = Vec::new();
        for p in pieces {
            match p {
                Piece::Text(s, e) => parts.push(Part::Text(text[s..e].to_string())),
                Piece::Expr(s, e) => match compile(&text[s..e], sub(s, e), namespaces) {
                    Ok(x) => parts.push(Part::Expr(x)),
                    Err(d) => errors.extend(d),
                },
            }
        }
        if errors.is_empty() {
            Ok(Template { parts })
        } else {
            Err(errors)
        }
    }

    /// The pieces of the template in order: literal text and expressions.
    pub fn pieces(&self) -> impl Iterator<Item = TemplatePiece<'_>> {
        self.parts.iter().map(|p| match p {
            Part::Text(t) => TemplatePiece::Text(t),
            Part::Expr(e) => TemplatePiece::Expr(e),
        })
    }

    /// The expressions of the template.
    pub fn expressions(&self) -> impl Iterator<Item = &SynExpr> {
        self.parts.iter().filter_map(|p| match p {
            Part::Expr(e) => Some(e),
            Part::Text(_) => None,
        })
    }

    /// Whether any expression reads the body.
    pub fn is_content_aware(&self) -> bool {
        self.expressions().any(|e| e.is_content_aware())
    }

    /// The text with every expression replaced by its string value (empty on error).
    pub fn render(&self, env: &dyn SynEnv) -> String {
        self.render_with(env, |v| v)
    }

    /// [`render`](Self::render) with each expression's text passed through `escape` (JSON or
    /// XML escaping of a payload template).
    pub fn render_with(&self, env: &dyn SynEnv, escape: impl Fn(String) -> String) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Expr(e) => out.push_str(&escape(string_value_of(e, env))),
            }
        }
        out
    }
}
