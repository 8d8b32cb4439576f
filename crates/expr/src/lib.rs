//! Synapse expressions: XPath 1.0 (sxd-xpath behind an adapter) with Synapse's functions,
//! `json-eval(…)` (jsonpath-rust) and the `$ctx:`/`$trp:`/`$axis2:`/`$url:`/`$body`/`$header`
//! shorthands.
//!
//! [`compile`] checks an expression once at load and records what it reads; [`eval`] is pure and
//! synchronous over an [`ExprEnv`]. An expression that does not touch the body never builds a
//! DOM of it.

use synaptic_diag::{Diagnostic, Span};
use synaptic_payload::Payload;

/// A property scope (synapse-semantics.md §1).
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
    /// (synapse-semantics.md §5.5, §5.6: Java `Double.toString` for numbers). `None` for Null.
    pub fn to_synapse_string(&self) -> Option<String> {
        unimplemented!()
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
}

/// A checked expression. `Send + Sync`; no sxd-xpath types inside.
#[derive(Clone, Debug)]
pub struct CompiledExpr {
    pub text: String,
    pub span: Span,
    // private: dialect, rewritten text, metadata
}

impl CompiledExpr {
    /// Literal registry keys read (`get-property('registry', '…')`), to prefetch.
    pub fn registry_keys(&self) -> &[String] {
        unimplemented!()
    }
    /// Default-scope property names read (`get-property('x')`, `$ctx:x`), for lint.
    pub fn property_reads(&self) -> &[(Scope, String)] {
        unimplemented!()
    }
    /// Whether evaluation needs the body (location paths, `$body`, `json-eval`, …).
    pub fn touches_body(&self) -> bool {
        unimplemented!()
    }
    /// Arithmetic or numeric comparison operands that are bare default-scope property reads
    /// (for the W0902 portability note).
    pub fn numeric_property_uses(&self) -> &[String] {
        unimplemented!()
    }
    /// Whether the result may be empty or missing (a registry/property read, `json-eval`) (W0901).
    pub fn may_be_empty(&self) -> bool {
        unimplemented!()
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
    let _ = (text, span, namespaces, dialect);
    unimplemented!()
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{0}")]
    Failed(String),
    #[error("body: {0}")]
    Body(#[from] synaptic_payload::PayloadError),
}

/// Evaluate. Pure and synchronous.
pub fn eval(e: &CompiledExpr, env: &dyn ExprEnv) -> Result<Value, EvalError> {
    let _ = (e, env);
    unimplemented!()
}

/// Check a Java regular expression as used in `filter regex=`, `switch case regex=`, `property
/// pattern=`, and translate it to a `regex::Regex` matching the whole string.
pub fn compile_java_regex(pattern: &str) -> Result<regex::Regex, String> {
    let _ = pattern;
    unimplemented!()
}
