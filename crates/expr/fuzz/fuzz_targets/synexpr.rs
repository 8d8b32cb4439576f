#![no_main]
//! Compile arbitrary text as a Synapse Expression (`${…}` content) and as a template with `${…}`
//! inside: never panics; what compiles also evaluates (against a JSON and an XML body, with
//! variables of every type) without panicking, within the evaluation budget.

use libfuzzer_sys::fuzz_target;
use synaptic_diag::Span;
use synaptic_expr::synexpr::{self, SynEnv};
use synaptic_expr::{ExprEnv, Scope, Value};
use synaptic_payload::Payload;

#[path = "common.rs"]
mod common;

struct Env(common::Env);

impl ExprEnv for Env {
    fn property(&self, scope: Scope, name: &str) -> Option<Value> {
        self.0.property(scope, name)
    }
    fn registry(&self, key: &str) -> Option<String> {
        self.0.registry(key)
    }
    fn payload(&self) -> &Payload {
        self.0.payload()
    }
    fn raw_json(&self) -> Option<&str> {
        self.0.raw_json()
    }
    fn url_param(&self, name: &str) -> Option<String> {
        self.0.url_param(name)
    }
    fn now_ms(&self) -> i64 {
        self.0.now_ms()
    }
}

impl SynEnv for Env {
    fn as_expr(&self) -> &dyn ExprEnv {
        self
    }
    fn variable(&self, name: &str) -> Option<Value> {
        Some(match name {
            "s" => Value::String("[1,2,{\"a\":3}]".into()),
            "i" => Value::Integer(-7),
            "d" => Value::Number(2.5),
            "b" => Value::Boolean(false),
            "j" => Value::Json(serde_json::json!({"a": [1, {"b": null}], "c": "x"})),
            "x" => Value::Xml("<a><b>1</b></a>".into()),
            _ => return None,
        })
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let ns = common::namespaces();
    let envs = [Env(common::json_env()), Env(common::xml_env())];
    if let Ok(c) = synexpr::compile(text, Span::detached(), &ns) {
        let _ = c.is_content_aware();
        for env in &envs {
            let _ = synexpr::string_value_of(&c, env);
            let _ = synexpr::object_value_of(&c, env);
            let _ = synexpr::eval_condition(&c, env);
        }
    }
    if let Ok(t) = synexpr::Template::compile(text, Span::detached(), &ns) {
        for env in &envs {
            let _ = t.render(env);
        }
    }
    let _ = synexpr::is_expression_attr(text);
});
