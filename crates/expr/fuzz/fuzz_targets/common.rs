// Shared test environment for the expr fuzz targets.
#![allow(dead_code)]

use synaptic_expr::{ExprEnv, Scope, Value};
use synaptic_payload::Payload;

/// Every content type the payload builder knows, as the targets feed them.
pub const TYPES: &[&str] = &[
    "application/json",
    "text/xml",
    "application/xml",
    "application/soap+xml",
    "application/x-www-form-urlencoded",
    "text/plain",
    "application/octet-stream",
];

pub struct Env {
    pub payload: Payload,
    pub raw: Option<String>,
}

impl ExprEnv for Env {
    fn property(&self, scope: Scope, name: &str) -> Option<Value> {
        match (scope, name) {
            (Scope::Default, "s") => Some(Value::String("12".into())),
            (Scope::Default, "i") => Some(Value::Integer(1_700_000_000_000)),
            (Scope::Default, "d") => Some(Value::Number(-0.5)),
            (Scope::Default, "b") => Some(Value::Boolean(true)),
            (Scope::Default, "j") => Some(Value::Json(serde_json::json!({"a": [1, {"b": null}]}))),
            (Scope::Default, "x") => Some(Value::Xml("<a>1</a>".into())),
            (Scope::Transport, "h") => Some(Value::String("v".into())),
            (Scope::Axis2, _) => Some(Value::String(name.to_string())),
            _ => None,
        }
    }
    fn registry(&self, key: &str) -> Option<String> {
        key.starts_with("conf:").then(|| "reg".to_string())
    }
    fn payload(&self) -> &Payload {
        &self.payload
    }
    fn raw_json(&self) -> Option<&str> {
        self.raw.as_deref()
    }
    fn url_param(&self, name: &str) -> Option<String> {
        (name == "q").then(|| "1".to_string())
    }
    fn now_ms(&self) -> i64 {
        1_700_003_600_001
    }
}

pub fn namespaces() -> Vec<(String, String)> {
    vec![
        ("m".into(), "urn:m".into()),
        ("soapenv".into(), "http://schemas.xmlsoap.org/soap/envelope/".into()),
    ]
}

pub fn json_env() -> Env {
    let text = r#"{"name":"x","items":[1,2,{"k":"v"}],"o":{"a":true,"n":null}}"#;
    Env {
        payload: synaptic_payload::build(text.as_bytes(), Some("application/json")).unwrap(),
        raw: Some(text.into()),
    }
}

pub fn xml_env() -> Env {
    let text = "<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'><s:Body><m:q xmlns:m='urn:m' id='1'><m:a>1</m:a><m:a>x</m:a></m:q></s:Body></s:Envelope>";
    Env {
        payload: synaptic_payload::build(text.as_bytes(), Some("text/xml")).unwrap(),
        raw: None,
    }
}
