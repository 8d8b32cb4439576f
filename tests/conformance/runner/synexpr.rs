//! `kind = "synapse-expression"`: a Synapse Expression (`${…}`) compiled and evaluated against a
//! message built from the case, compared with what the source test asserts.
//!
//! Fields: `expression` (the text inside `${…}`) or `template` (text with `${…}` inside);
//! `payload` (inline) or `payload_file` (relative to this case file's folder) with
//! `content_type` (default `application/json`); `variables` (inline table) and/or
//! `variables_file` (a JSON object; `{"$xml": "…"}` is an XML value), `json_variables` and
//! `xml_variables` (name → JSON or XML text); `properties` (synapse
//! scope), `axis2_properties`, `headers`, `query_params`, `path_params`, `function_params`,
//! `configs`, `secrets` (alias → secret), `registry` (key → text), `registry_properties` (key → {name → value}), `namespaces` (prefix → URI), `now_ms`. Expected: `expect`
//! (the string value, `""` for null or an evaluation error), or `expect_error` (a diagnostic
//! code the expression must be refused with), or `content_aware` (whether it reads the body).

use std::collections::HashMap;
use std::path::PathBuf;

use synaptic_diag::Span;
use synaptic_expr::synexpr::{self, SynEnv};
use synaptic_expr::{ExprEnv, Scope, Value};
use synaptic_payload::Payload;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conformance/synapse-expressions")
}

/// A TOML value as an engine value.
fn toml_value(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::Integer(*i),
        toml::Value::Float(f) => Value::Number(*f),
        toml::Value::Boolean(b) => Value::Boolean(*b),
        other => Value::Json(serde_json::to_value(other).unwrap_or(serde_json::Value::Null)),
    }
}

/// A JSON value (from a variables file) as an engine value.
fn json_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Bool(b) => Value::Boolean(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) if !n.to_string().contains('.') => Value::Integer(i),
            _ => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::Object(o) if o.len() == 1 && o.contains_key("$xml") => {
            Value::Xml(o["$xml"].as_str().unwrap_or("").to_string())
        }
        other => Value::Json(other.clone()),
    }
}

#[derive(Default)]
struct Env {
    payload: Option<Payload>,
    props: HashMap<(Scope, String), Value>,
    vars: HashMap<String, Value>,
    query: HashMap<String, String>,
    func: HashMap<String, Value>,
    configs: HashMap<String, String>,
    secrets: HashMap<String, String>,
    registry: HashMap<String, String>,
    registry_props: HashMap<(String, String), String>,
    now: i64,
}

static EMPTY: Payload = Payload::Empty;

impl ExprEnv for Env {
    fn property(&self, scope: Scope, name: &str) -> Option<Value> {
        self.props.get(&(scope, name.to_string())).cloned()
    }
    fn registry(&self, key: &str) -> Option<String> {
        self.registry.get(key).cloned()
    }
    fn payload(&self) -> &Payload {
        self.payload.as_ref().unwrap_or(&EMPTY)
    }
    fn raw_json(&self) -> Option<&str> {
        None
    }
    fn url_param(&self, name: &str) -> Option<String> {
        self.query.get(name).cloned()
    }
    fn now_ms(&self) -> i64 {
        self.now
    }
    fn secret(&self, alias: &str) -> Option<String> {
        self.secrets.get(alias).cloned()
    }
}

impl SynEnv for Env {
    fn as_expr(&self) -> &dyn ExprEnv {
        self
    }
    fn variable(&self, name: &str) -> Option<Value> {
        self.vars.get(name).cloned()
    }
    fn function_param(&self, name: &str) -> Option<Value> {
        self.func.get(name).cloned()
    }
    fn config(&self, name: &str) -> Option<String> {
        self.configs.get(name).cloned()
    }
    fn registry_property(&self, key: &str, name: &str) -> Option<String> {
        self.registry_props
            .get(&(key.to_string(), name.to_string()))
            .cloned()
    }
}

fn table<'a>(
    case: &'a toml::Table,
    name: &str,
) -> impl Iterator<Item = (&'a String, &'a toml::Value)> {
    case.get(name)
        .and_then(|v| v.as_table())
        .into_iter()
        .flat_map(|t| t.iter())
}

fn text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn build_env(case: &toml::Table) -> Result<Env, String> {
    let mut env = Env {
        now: case.get("now_ms").and_then(|v| v.as_integer()).unwrap_or(0),
        ..Env::default()
    };
    let ct = case
        .get("content_type")
        .and_then(|v| v.as_str())
        .unwrap_or("application/json");
    let body = match (case.get("payload"), case.get("payload_file")) {
        (Some(p), _) => Some(text(p)),
        (None, Some(f)) => {
            let f = text(f);
            Some(std::fs::read_to_string(dir().join(&f)).map_err(|e| format!("{f}: {e}"))?)
        }
        _ => None,
    };
    if let Some(b) = body {
        env.payload = Some(
            synaptic_payload::build(b.as_bytes(), Some(ct)).map_err(|e| format!("payload: {e}"))?,
        );
    }
    if let Some(f) = case.get("variables_file") {
        let f = text(f);
        let t = std::fs::read_to_string(dir().join(&f)).map_err(|e| format!("{f}: {e}"))?;
        let j: serde_json::Value = serde_json::from_str(&t).map_err(|e| format!("{f}: {e}"))?;
        for (k, v) in j.as_object().into_iter().flatten() {
            env.vars.insert(k.clone(), json_value(v));
        }
    }
    for (k, v) in table(case, "variables") {
        env.vars.insert(k.clone(), toml_value(v));
    }
    for (k, v) in table(case, "json_variables") {
        let j = serde_json::from_str(&text(v)).map_err(|e| format!("json_variables.{k}: {e}"))?;
        env.vars.insert(k.clone(), Value::Json(j));
    }
    for (k, v) in table(case, "xml_variables") {
        env.vars.insert(k.clone(), Value::Xml(text(v)));
    }
    for (k, v) in table(case, "properties") {
        env.props.insert((Scope::Default, k.clone()), toml_value(v));
    }
    for (k, v) in table(case, "axis2_properties") {
        env.props.insert((Scope::Axis2, k.clone()), toml_value(v));
    }
    for (k, v) in table(case, "headers") {
        env.props
            .insert((Scope::Transport, k.clone()), Value::String(text(v)));
    }
    for (k, v) in table(case, "path_params") {
        env.props.insert(
            (Scope::Default, format!("uri.var.{k}")),
            Value::String(text(v)),
        );
    }
    for (k, v) in table(case, "query_params") {
        env.query.insert(k.clone(), text(v));
    }
    for (k, v) in table(case, "function_params") {
        env.func.insert(k.clone(), toml_value(v));
    }
    for (k, v) in table(case, "secrets") {
        env.secrets.insert(k.clone(), text(v));
    }
    for (k, v) in table(case, "configs") {
        env.configs.insert(k.clone(), text(v));
    }
    for (k, v) in table(case, "registry") {
        env.registry.insert(k.clone(), text(v));
    }
    for (k, v) in table(case, "registry_properties") {
        for (p, pv) in v.as_table().into_iter().flatten() {
            env.registry_props.insert((k.clone(), p.clone()), text(pv));
        }
    }
    Ok(env)
}

pub fn run(case: &toml::Table) -> Result<(), String> {
    let ns: Vec<(String, String)> = table(case, "namespaces")
        .map(|(k, v)| (k.clone(), text(v)))
        .collect();
    let env = build_env(case)?;
    if let Some(t) = case.get("template").and_then(|v| v.as_str()) {
        let tpl = synexpr::Template::compile(t, Span::detached(), &ns).map_err(|d| {
            format!(
                "template refused: {}",
                d.iter()
                    .map(|d| d.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        })?;
        if let Some(ca) = case.get("content_aware").and_then(|v| v.as_bool()) {
            if tpl.is_content_aware() != ca {
                return Err(format!("content aware: expected {ca}, got {}", !ca));
            }
        }
        let got = tpl.render(&env);
        let want = super::field(case, "expect")?;
        return if got == want {
            Ok(())
        } else {
            Err(format!(
                "template {t:?}\n  expected {want:?}\n  got      {got:?}"
            ))
        };
    }
    let expr = super::field(case, "expression")?;
    let compiled = synexpr::compile(expr, Span::detached(), &ns);
    if let Some(code) = case.get("expect_error").and_then(|v| v.as_str()) {
        return match compiled {
            Err(d) if d.iter().any(|d| d.code.id == code) => Ok(()),
            Err(d) => Err(format!(
                "refused with {} instead of {code}",
                d.iter().map(|d| d.code.id).collect::<Vec<_>>().join(", ")
            )),
            Ok(_) => Err(format!("{expr:?} compiled; expected {code}")),
        };
    }
    let compiled = compiled.map_err(|d| {
        format!(
            "{expr:?} refused: {}",
            d.iter()
                .map(|d| format!("{}: {}", d.code.id, d.message))
                .collect::<Vec<_>>()
                .join("; ")
        )
    })?;
    if let Some(ca) = case.get("content_aware").and_then(|v| v.as_bool()) {
        return if compiled.is_content_aware() == ca {
            Ok(())
        } else {
            Err(format!("{expr:?}: content aware should be {ca}"))
        };
    }
    let want = super::field(case, "expect")?;
    let got = synexpr::string_value_of(&compiled, &env);
    if got == want {
        Ok(())
    } else {
        let detail = match synexpr::evaluate(&compiled, &env) {
            Err(e) => format!(" (evaluation error: {e})"),
            Ok(_) => String::new(),
        };
        Err(format!(
            "{expr:?}\n  expected {want:?}\n  got      {got:?}{detail}"
        ))
    }
}
