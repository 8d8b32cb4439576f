//! `get-property()` and the `$ctx:`-style variables, shared by
//! the bare-read fast path, the `concat` fast path and the sxd-xpath functions.

use crate::{date, num, ExprEnv, Scope, Value};

/// A property read with literal arguments.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Read {
    /// `get-property(args…)` with literal arguments.
    GetProperty(Vec<String>),
    /// `$ctx:x`, `$trp:x`…
    Var(VarKind, String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VarKind {
    Ctx,
    Axis2,
    Trp,
    Url,
    Func,
    Operation,
    Sys,
    /// `$var:x`: a variable of the `variable` mediator.
    Var,
}

impl VarKind {
    pub fn parse(prefix: &str) -> Option<VarKind> {
        Some(match prefix {
            "ctx" => VarKind::Ctx,
            "axis2" => VarKind::Axis2,
            "trp" => VarKind::Trp,
            "url" => VarKind::Url,
            "func" => VarKind::Func,
            "operation" => VarKind::Operation,
            "sys" => VarKind::Sys,
            "var" => VarKind::Var,
            _ => return None,
        })
    }
    /// The scope read (`None` for `$url:` and `$var:`).
    pub fn scope(self) -> Option<Scope> {
        Some(match self {
            VarKind::Ctx => Scope::Default,
            VarKind::Axis2 => Scope::Axis2,
            VarKind::Trp => Scope::Transport,
            VarKind::Url | VarKind::Var => return None,
            VarKind::Func => Scope::Func,
            VarKind::Operation => Scope::Operation,
            VarKind::Sys => Scope::System,
        })
    }
}

/// One piece of a fast-path `concat`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Part {
    Lit(String),
    Read(Read),
}

/// Where property values come from.
pub(crate) trait Source {
    fn property(&self, scope: Scope, name: &str) -> Option<Value>;
    fn registry(&self, key: &str) -> Option<String>;
    fn url_param(&self, name: &str) -> Option<String>;
    fn variable(&self, name: &str) -> Option<Value>;
    fn now_ms(&self) -> i64;
}

pub(crate) struct EnvSource<'a>(pub &'a dyn ExprEnv);

impl Source for EnvSource<'_> {
    fn property(&self, scope: Scope, name: &str) -> Option<Value> {
        self.0.property(scope, name)
    }
    fn registry(&self, key: &str) -> Option<String> {
        self.0.registry(key)
    }
    fn url_param(&self, name: &str) -> Option<String> {
        self.0.url_param(name)
    }
    fn variable(&self, name: &str) -> Option<Value> {
        self.0.xpath_variable(name)
    }
    fn now_ms(&self) -> i64 {
        self.0.now_ms()
    }
}

/// Scopes recognised as the first of two `get-property` arguments.
pub(crate) fn two_arg_scope(name: &str) -> Option<Scope> {
    Some(match name {
        "axis2" => Scope::Axis2,
        "operation" => Scope::Operation,
        "default" => Scope::Default,
        "transport" => Scope::Transport,
        "registry" => Scope::Registry,
        "func" => Scope::Func,
        "system" => Scope::System,
        "env" => Scope::Env,
        "file" => Scope::File,
        _ => return None,
    })
}

/// What a `get-property` call with these arguments looks up.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Target<'a> {
    Empty,
    Time,
    Date(Option<&'a str>),
    Prop(Scope, &'a str),
    Registry(&'a str),
    /// An unknown scope in the three-argument form: `""`.
    Unknown,
}

pub(crate) fn target<S: AsRef<str>>(args: &[S]) -> Target<'_> {
    let (scope, name, fmt) = match args {
        [] => return Target::Empty,
        [n] => (Some(Scope::Default), n.as_ref(), None),
        [a, b] => match two_arg_scope(a.as_ref()) {
            Some(s) => (Some(s), b.as_ref(), None),
            None => (Some(Scope::Default), a.as_ref(), Some(b.as_ref())),
        },
        [s, n, f, ..] => (two_arg_scope(s.as_ref()), n.as_ref(), Some(f.as_ref())),
    };
    if name.is_empty() {
        return Target::Empty;
    }
    match name {
        "SYSTEM_TIME" => return Target::Time,
        "SYSTEM_DATE" => return Target::Date(fmt),
        _ => {}
    }
    match scope {
        Some(Scope::Registry) => Target::Registry(name),
        Some(s) => Target::Prop(s, name),
        None => Target::Unknown,
    }
}

/// Evaluate a `get-property` call.
pub(crate) fn get_property<S: AsRef<str>>(args: &[S], src: &dyn Source) -> Value {
    match target(args) {
        Target::Empty | Target::Unknown => Value::String(String::new()),
        Target::Time => Value::String(src.now_ms().to_string()),
        Target::Date(fmt) => Value::String(date::format_simple_date(
            fmt.unwrap_or(date::DEFAULT_PATTERN),
            src.now_ms(),
        )),
        Target::Registry(key) => Value::String(src.registry(key).unwrap_or_default()),
        Target::Prop(Scope::Operation, name) => match src.property(Scope::Operation, name) {
            Some(v) => as_node_read(v, Scope::Operation),
            None => missing(Scope::Operation),
        },
        Target::Prop(scope, name) => match src.property(scope, name) {
            Some(v) => v,
            None => missing(scope),
        },
    }
}

/// A property holding XML read as Synapse reads a node through a variable (`$ctx:`, `$axis2:`,
/// `$trp:`) or `get-property('operation', …)`: a single element with non-blank direct text
/// gives that text (trimmed); anything else stays XML.
fn as_node_read(v: Value, scope: Scope) -> Value {
    let text = match &v {
        Value::Xml(t) => t,
        // a header set from an OM property holds its XML text
        Value::String(t) if scope == Scope::Transport && t.starts_with('<') && t.ends_with('>') => {
            t
        }
        _ => return v,
    };
    match synaptic_payload::xml::parse(text) {
        Ok(el) => {
            let direct = el.direct_text();
            let t = direct.trim().replace('\u{a0}', " ");
            if t.trim().is_empty() {
                v
            } else {
                Value::String(t)
            }
        }
        Err(_) => v,
    }
}

/// The value of a missing property per scope: null, or `""` for system/env/file.
fn missing(scope: Scope) -> Value {
    match scope {
        Scope::Default | Scope::Axis2 | Scope::Operation | Scope::Func | Scope::Transport => {
            Value::Null
        }
        _ => Value::String(String::new()),
    }
}

/// Evaluate a `$prefix:name` variable.
pub(crate) fn var(kind: VarKind, name: &str, src: &dyn Source) -> Value {
    match kind.scope() {
        // Synapse hands Jaxen the variable's object: an XML variable reads as a node does
        None if kind == VarKind::Var => match src.variable(name) {
            Some(v) => as_node_read(v, Scope::Default),
            None => Value::Null,
        },
        None => Value::String(src.url_param(name).unwrap_or_default()),
        Some(scope) => match src.property(scope, name) {
            Some(v) => as_node_read(v, scope),
            None => missing(scope),
        },
    }
}

pub(crate) fn read(r: &Read, src: &dyn Source) -> Value {
    match r {
        Read::GetProperty(args) => get_property(args, src),
        Read::Var(k, n) => var(*k, n, src),
    }
}

/// The fast-path `concat`: literals and bare reads, each as XPath's `string()`.
pub(crate) fn concat(parts: &[Part], env: &dyn ExprEnv) -> String {
    let src = EnvSource(env);
    let mut out = String::new();
    for p in parts {
        match p {
            Part::Lit(s) => out.push_str(s),
            Part::Read(r) => match read(r, &src) {
                Value::Number(n) => out.push_str(&num::xpath_number_string(n)),
                v => out.push_str(&v.to_xpath_string()),
            },
        }
    }
    out
}
