//! Synapse expressions: XPath 1.0 (sxd-xpath behind an adapter) with Synapse's functions,
//! `json-eval(…)` (jsonpath-rust) and the `$ctx:`/`$trp:`/`$axis2:`/`$url:`/`$body`/`$header`
//! shorthands.
//!
//! [`compile`] checks an expression once at load and records what it reads; [`eval`] is pure and
//! synchronous over an [`ExprEnv`]. An expression that does not touch the body never builds a
//! DOM of it.
//!
//! # Differences from Synapse (Jaxen 2.0, Jayway JsonPath)
//!
//! - XPath runs on sxd-xpath 0.4.2 behind a rewriting adapter; expressions that never touch a node (literals, literal property reads, arithmetic, comparisons, `and`/`or`, `not`/`boolean`/`string`/`number`/`concat`) run on our own scalar evaluator instead, with the same results (a differential test and the `scalar` fuzz target check that). Comparisons (`= != < <= > >=`) are rewritten to internal functions with XPath 1.0 semantics (existential for node-sets, Java number parsing); `string()`, `number()`, `concat()`, `sum()` are replaced by our own versions. So `!=` is existential (sxd: `not(=)`), `string(-0)` is `0`, and string→number follows `Double.parseDouble` after trim (`'1e3'`→1000, `' 12 '`→12, `'inf'`→NaN, trailing `d`/`f` accepted; hex floats give NaN — Java accepts them). Other core functions (`substring`, `round`, `contains`…) still use sxd's conversions: a number argument given as a string is parsed Rust-style, and `-0` prints as `-0` there.
//! - A missing property (Java null) is an empty node-set inside XPath; compared with `=`/`!=` it makes the comparison false, also against a boolean (`get-property('x') = false()` is false, as in Jaxen), as long as the property read appears directly as an operand. Wrapped reads (`(string(get-property('x'))) = …`) follow XPath rules.
//! - Numeric-typed properties (INTEGER/LONG/SHORT/FLOAT/DOUBLE) are XPath numbers (COMPATIBILITY.md D2): `get-property('t') + 1` with LONG 5 is `6.0` (Synapse: NaN).
//! - OM (XML) properties enter XPath as their serialized text (a string), not as a node: `get-property('om')/child` does not navigate. JSON properties enter as compact JSON text.
//! - `get-property('SYSTEM_DATE')` formats in UTC with English names; without a pattern it uses `M/d/yy h:mm a` (Synapse: JVM locale and zone). Pattern letters G y Y M L d D F w W E u a H k K h m s S z Z X and quoting are supported; `z` is always `UTC`, `Z` `+0000`, `X` `Z`; `Y` and `w` use ISO weeks (Java: locale weeks).
//! - `hmac-generate`, `encrypt`, `decrypt` are rejected at lint time (E0203). `json-eval(…)` is only recognised as the whole expression (as in Synapse). Synapse 4.4 expressions `${…}` are not XPath: `compile` rejects them (E0201) and the engine compiles them with [`synexpr`].
//! - `base64Decode` accepts standard and URL-safe alphabets with or without padding and ignores whitespace; characters outside the alphabet are ignored (commons-codec style), so it never fails. Charsets: UTF-8 (default), US-ASCII, ISO-8859-1; others are an evaluation error.
//! - `id()` always returns an empty node-set (no DTDs, so no ID attributes); `lang()` reads `xml:lang`.
//! - `$var:name` reads a variable of the `variable` mediator (an XML variable as a node read, like `$ctx:`). Variables nothing provides (`$foo`, `$bar:x`) and unknown functions compile with a warning (W0209, W0204) and fail when evaluated, as Jaxen resolves both only then.
//! - Evaluation limits: expressions nest at most 64 levels and hold at most 512 binary operators (E0201 beyond).
//! - JSONPath is read as Jayway's `PathCompiler` reads it ([`jayway`]: `$`-less paths, members after brackets, one last character after a complete step not read, with W0210) and run by jsonpath-rust (RFC 9535) instead of Jayway; Jayway's path functions (`.length()`, `.sum()`, `.keys()`, …, at the end of a path or as filter operands) are evaluated by [`jwfn`] as Jayway evaluates them with the Gson provider Synapse configures. A definite path (names and indexes only) yields one value (scalars unquoted, JSON `null` → `null`, objects/arrays compact, missing → `""`); any other path yields a JSON array of the matches (Jayway returns a list too).
//! - Java regexes: translated to the `regex` crate and matched against the whole string. `\d \w \s` are ASCII as in Java; back-references, lookaround, atomic groups, possessive quantifiers, octal escapes, `\G`, `\R` and the `d`/`u`/`c` flags are lint errors (E0208); `.` excludes only `\n` (Java also `\r`, U+0085, U+2028, U+2029).

mod compile;
mod date;
mod diagnose;
mod functions;
pub mod jayway;
mod json;
mod jwfn;
mod num;
mod props;
mod regex_java;
mod scalar;
pub mod synexpr;
mod syntax;
mod xpath;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use synaptic_diag::{Diagnostic, Span};
use synaptic_payload::Payload;

pub use date::format_simple_date;
pub use num::{java_double_to_string, java_parse_double, xpath_number_string};

/// A property scope (`default`, `axis2`, `transport`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    Default,
    Axis2,
    Axis2Client,
    Transport,
    Operation,
    Registry,
    System,
    Env,
    File,
    Func,
    Trace,
    Analytics,
}

impl Scope {
    /// The scope named in a `scope=` attribute or a `get-property` first argument.
    pub fn parse(name: &str) -> Option<Scope> {
        Some(match name {
            "default" => Scope::Default,
            "axis2" => Scope::Axis2,
            "axis2-client" => Scope::Axis2Client,
            "transport" => Scope::Transport,
            "operation" => Scope::Operation,
            "registry" => Scope::Registry,
            "system" => Scope::System,
            "env" => Scope::Env,
            "file" => Scope::File,
            "func" => Scope::Func,
            "trace" => Scope::Trace,
            "analytics" => Scope::Analytics,
            _ => return None,
        })
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            Scope::Default => "default",
            Scope::Axis2 => "axis2",
            Scope::Axis2Client => "axis2-client",
            Scope::Transport => "transport",
            Scope::Operation => "operation",
            Scope::Registry => "registry",
            Scope::System => "system",
            Scope::Env => "env",
            Scope::File => "file",
            Scope::Func => "func",
            Scope::Trace => "trace",
            Scope::Analytics => "analytics",
        }
    }
}

/// A typed value (property values, expression results).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Missing (Java null).
    Null,
    String(String),
    /// A double (FLOAT/DOUBLE properties, XPath numbers).
    Number(f64),
    /// An integral typed property (INTEGER/LONG/SHORT).
    Integer(i64),
    Boolean(bool),
    /// Serialized XML (OM properties, node-set results of several elements).
    Xml(String),
    Json(serde_json::Value),
}

impl Value {
    /// The string a property/header/log/payloadFactory gets from this value at the top level
    /// (Synapse's stringification: Java `Double.toString` for numbers). `None` for Null.
    pub fn to_synapse_string(&self) -> Option<String> {
        Some(match self {
            Value::Null => return None,
            Value::String(s) | Value::Xml(s) => s.clone(),
            Value::Number(n) => num::java_double_to_string(*n),
            Value::Integer(i) => i.to_string(),
            Value::Boolean(b) => b.to_string(),
            Value::Json(v) => v.to_string(),
        })
    }

    /// The string XPath's `string()` gives this value inside an expression (numbers in XPath
    /// form, `3` not `3.0`); `""` for Null.
    pub fn to_xpath_string(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Number(n) => num::xpath_number_string(*n),
            other => other.to_synapse_string().unwrap_or_default(),
        }
    }

    /// XPath's `boolean()` of a value: null → false, strings and XML non-empty, numbers neither
    /// zero nor NaN.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::String(s) | Value::Xml(s) => !s.is_empty(),
            Value::Number(n) => *n != 0.0 && !n.is_nan(),
            Value::Integer(i) => *i != 0,
            Value::Boolean(b) => *b,
            Value::Json(_) => true,
        }
    }

    /// Whether this is Null.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

/// Where an expression reads from.
pub trait ExprEnv {
    /// A property in a scope (`Default`, `Axis2`, `Transport` = header, `Operation`, `Func`,
    /// `System`, `Env`). Default scope also answers `To`, `MessageID`, `MESSAGE_FORMAT`, `FAULT`…
    fn property(&self, scope: Scope, name: &str) -> Option<Value>;
    /// A registry value prefetched for this expression's recorded keys; `None` when missing.
    fn registry(&self, key: &str) -> Option<String>;
    /// The body; built (never `Payload::Raw`) whenever `CompiledExpr::touches_body()`.
    fn payload(&self) -> &Payload;
    /// The body's original text when it is JSON and unmodified (for `json-eval($)`).
    fn raw_json(&self) -> Option<&str>;
    /// A decoded query parameter of the request URL (`$url:n`).
    fn url_param(&self, name: &str) -> Option<String>;
    /// Epoch milliseconds (`SYSTEM_TIME`, `SYSTEM_DATE`).
    fn now_ms(&self) -> i64;
    /// The most memory the body's tree and the XPath view over it may take together
    /// (`None`: no bound). An XPath that reads the body fails with
    /// [`synaptic_payload::PayloadError::TreeTooLarge`] rather than build a view over it.
    fn tree_budget(&self) -> Option<usize> {
        None
    }
    /// A variable set by the `variable` mediator (`$var:name`); none by default.
    fn xpath_variable(&self, _name: &str) -> Option<Value> {
        None
    }
    /// Whether the body's one element is an XML document of its own rather than a message in
    /// a SOAP envelope: XPath's root (`/`) is then the document holding that element, and the
    /// element is the context node, as when XPath runs over an XML value kept in a variable.
    /// `false` by default: the root holds `soapenv:Envelope`, the context node.
    fn standalone_xml(&self) -> bool {
        false
    }
    /// A secret by alias, for `wso2:vault-lookup('alias')` in XPath and `wso2-vault(alias)` in
    /// Synapse Expressions; none by default. The host loads secrets with its configuration:
    /// evaluation never reads a file or the environment for them.
    fn secret(&self, _alias: &str) -> Option<String> {
        None
    }
}

/// A checked expression. `Send + Sync`; no sxd-xpath types inside.
#[derive(Clone, Debug)]
pub struct CompiledExpr {
    pub text: String,
    pub span: Span,
    pub(crate) kind: compile::Kind,
    pub(crate) meta: Arc<compile::Meta>,
}

impl CompiledExpr {
    /// Literal registry keys read (`get-property('registry', '…')`), to prefetch.
    pub fn registry_keys(&self) -> &[String] {
        &self.meta.registry_keys
    }
    /// Property names read with a literal name (`get-property('x')`, `get-property('axis2',
    /// 'x')`, `$ctx:x`, `$trp:x`…), with their scope; registry reads are in
    /// [`registry_keys`](Self::registry_keys).
    pub fn property_reads(&self) -> &[(Scope, String)] {
        &self.meta.property_reads
    }
    /// Whether evaluation needs the body (location paths, `$body`, `json-eval`, …).
    pub fn touches_body(&self) -> bool {
        self.meta.touches_body
    }
    /// Arithmetic or numeric comparison operands that are bare default-scope property reads
    /// (for the W0902 portability note).
    pub fn numeric_property_uses(&self) -> &[String] {
        &self.meta.numeric_uses
    }
    /// Whether the result may be empty or missing (a registry/property read, `json-eval`) (W0901).
    pub fn may_be_empty(&self) -> bool {
        self.meta.may_be_empty
    }
    /// The dialect the expression was compiled as (`json-eval(…)` is JSONPath).
    pub fn dialect(&self) -> Dialect {
        match self.kind {
            compile::Kind::Json(_) => Dialect::JsonPath,
            _ => Dialect::XPath,
        }
    }
    /// Whether the expression is a bare property read (`get-property(…)`, `$ctx:x`…) that
    /// evaluates to `Value::Null` when the property is missing.
    pub fn is_bare_read(&self) -> bool {
        matches!(self.kind, compile::Kind::Bare(_))
    }
    /// Portability warnings found while compiling (`W0202` `get-property('axis2-client', …)`,
    /// `W0203` `SYSTEM_DATE` without a pattern).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.meta.warnings
    }
    /// The text handed to sxd-xpath after rewriting (`None` for the bare-read and `concat` fast
    /// paths and JSONPath). Expressions that never touch a node run on the scalar evaluator
    /// instead ([`is_scalar`]), with the same result.
    pub fn rewritten(&self) -> Option<&str> {
        match &self.kind {
            compile::Kind::XPath(x) => Some(&x.text),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// XPath (`xml` evaluator, the default).
    XPath,
    /// JSONPath (`evaluator="json"` on a payloadFactory argument).
    JsonPath,
}

/// Compile-check an expression. `namespaces` are the in-scope `prefix → URI` bindings.
pub fn compile(
    text: &str,
    span: Span,
    namespaces: &[(String, String)],
    dialect: Dialect,
) -> Result<CompiledExpr, Vec<Diagnostic>> {
    compile::compile(text, span, namespaces, dialect)
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{0}")]
    Failed(String),
    /// A function or variable nothing provides (Jaxen's `UnresolvableException`), with
    /// Synapse's message.
    #[error("{0}")]
    Unresolvable(String),
    #[error("body: {0}")]
    Body(#[from] synaptic_payload::PayloadError),
}

/// The locations a JSONPath matches in `doc`, as normalized paths (`$['a'][0]`), in document
/// order; `Err` when the path does not parse. For `enrich` remove paths with filters.
pub fn json_match_paths(path: &str, doc: &serde_json::Value) -> Result<Vec<String>, String> {
    json::match_paths(path, doc)
}

/// The warnings of a JSONPath as Jayway reads it (W0210: a last character it never reads), for
/// the hosts that read a `json-eval(…)` path themselves (`enrich`, `foreach`, …). `text` is the
/// expression (`json-eval(…)` or the path alone), `span` where it is written.
pub fn jsonpath_warnings(text: &str, span: Span) -> Vec<Diagnostic> {
    compile::jsonpath_warnings(text, span)
}

/// Evaluate. Pure and synchronous.
pub fn eval(e: &CompiledExpr, env: &dyn ExprEnv) -> Result<Value, EvalError> {
    match &e.kind {
        compile::Kind::Bare(read) => Ok(props::read(read, &props::EnvSource(env))),
        compile::Kind::Concat(parts) => Ok(Value::String(props::concat(parts, env))),
        compile::Kind::Json(j) => json::eval(j, env),
        compile::Kind::XPath(x) => match &x.scalar {
            Some(s) => Ok(scalar::eval(s, env)),
            None => xpath::eval(x, &e.meta, env),
        },
        compile::Kind::Unresolvable(m) => Err(EvalError::Unresolvable(m.to_string())),
    }
}

/// [`eval`] with every XPath expression run by sxd-xpath, never by the scalar evaluator: the
/// reference the scalar evaluator is tested (and fuzzed) against. Not for production use.
#[doc(hidden)]
pub fn eval_reference(e: &CompiledExpr, env: &dyn ExprEnv) -> Result<Value, EvalError> {
    match &e.kind {
        compile::Kind::XPath(x) => xpath::eval(x, &e.meta, env),
        _ => eval(e, env),
    }
}

/// [`eval_bool`] through sxd-xpath only (see [`eval_reference`]).
#[doc(hidden)]
pub fn eval_bool_reference(e: &CompiledExpr, env: &dyn ExprEnv) -> Result<bool, EvalError> {
    match &e.kind {
        compile::Kind::XPath(x) => xpath::eval_bool(x, &e.meta, env),
        _ => eval_bool(e, env),
    }
}

/// Whether the expression runs on the scalar evaluator (no sxd-xpath, no DOM).
pub fn is_scalar(e: &CompiledExpr) -> bool {
    matches!(&e.kind, compile::Kind::XPath(x) if x.scalar.is_some())
}

/// Evaluate as a condition (`filter xpath=`): XPath's `boolean()` of the result, so a
/// non-empty node-set is true even when its text is empty; a missing property (null) is false.
pub fn eval_bool(e: &CompiledExpr, env: &dyn ExprEnv) -> Result<bool, EvalError> {
    match &e.kind {
        compile::Kind::XPath(x) => match &x.scalar {
            Some(s) => Ok(scalar::eval_bool(s, env)),
            None => xpath::eval_bool(x, &e.meta, env),
        },
        _ => Ok(eval(e, env)?.truthy()),
    }
}

/// Drop this thread's cache of compiled sxd-xpath expressions (call when a new program
/// generation is loaded; the cache is also bounded).
pub fn clear_thread_cache() {
    xpath::clear_cache();
}

/// Check a Java regular expression as used in `filter regex=`, `switch case regex=`, `property
/// pattern=`, and translate it to a `regex::Regex` matching the whole string.
pub fn compile_java_regex(pattern: &str) -> Result<regex::Regex, String> {
    regex_java::compile(pattern)
}
