//! Unit tests of Synapse Expressions against an in-memory environment (the conformance suite
//! under `tests/conformance/synapse-expressions/` covers the function library and operators).

use std::collections::HashMap;

use synaptic_diag::{SourceId, Span};
use synaptic_payload::Payload;

use super::*;
use crate::{ExprEnv, Scope, Value};

#[derive(Default)]
struct Env {
    payload: Option<Payload>,
    vars: HashMap<String, Value>,
    props: HashMap<(Scope, String), Value>,
    configs: HashMap<String, String>,
    secrets: HashMap<String, String>,
}

static EMPTY: Payload = Payload::Empty;

impl ExprEnv for Env {
    fn property(&self, scope: Scope, name: &str) -> Option<Value> {
        self.props.get(&(scope, name.to_string())).cloned()
    }
    fn registry(&self, _key: &str) -> Option<String> {
        None
    }
    fn payload(&self) -> &Payload {
        self.payload.as_ref().unwrap_or(&EMPTY)
    }
    fn raw_json(&self) -> Option<&str> {
        None
    }
    fn url_param(&self, _name: &str) -> Option<String> {
        None
    }
    fn now_ms(&self) -> i64 {
        0
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
    fn config(&self, name: &str) -> Option<String> {
        self.configs.get(name).cloned()
    }
}

fn json(text: &str) -> Env {
    Env {
        payload: Some(synaptic_payload::build(text.as_bytes(), Some("application/json")).unwrap()),
        ..Env::default()
    }
}

fn run(expr: &str, env: &Env) -> String {
    let c = compile(expr, Span::detached(), &[]).unwrap_or_else(|d| panic!("{expr}: {d:?}"));
    string_value_of(&c, env)
}

#[test]
fn errors_point_inside_the_expression() {
    // the expression text sits at offset 100 of its file
    let span = Span::new(SourceId(0), 100, 100 + "5 >> 3".len());
    let d = compile("5 >> 3", span, &[]).unwrap_err();
    assert_eq!(d[0].code.id, "E0230");
    assert_eq!(d[0].primary_span().range(), 103..104);

    let text = "toUpperCase(vars.x)";
    let d = compile(text, Span::new(SourceId(0), 0, text.len()), &[]).unwrap_err();
    assert_eq!(d[0].code.id, "E0231");
    assert_eq!(d[0].primary_span().range(), 0..11);

    let d = compile("round()", Span::detached(), &[]).unwrap_err();
    assert_eq!(d[0].code.id, "E0232");
    let d = compile("'open", Span::detached(), &[]).unwrap_err();
    assert_eq!(d[0].code.id, "E0230");
    let d = compile("xpath('//a[')", Span::detached(), &[]).unwrap_err();
    assert_eq!(d[0].code.id, "E0201");
    let d = compile("", Span::detached(), &[]).unwrap_err();
    assert_eq!(d[0].code.id, "E0230");
}

#[test]
fn nesting_is_limited_without_overflowing_the_stack() {
    let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
    let d = compile(&deep, Span::detached(), &[]).unwrap_err();
    assert!(d[0].message.contains("nests deeper"), "{}", d[0].message);
    let ok = format!("{}1{}", "(".repeat(20), ")".repeat(20));
    assert_eq!(run(&ok, &Env::default()), "1");
    let negs = format!("{}1", "-".repeat(10_000));
    assert!(compile(&negs, Span::detached(), &[]).is_err());
}

#[test]
fn deep_scans_are_bounded() {
    // nested arrays: a deep scan visits them iteratively
    let text = format!("{}1{}", "[".repeat(100), "]".repeat(100));
    let env = json(&text);
    assert_eq!(run("length($..*)", &env), "100");
    // a scan over a wide array: every value counts against the evaluation budget
    let wide = format!("[{}]", vec!["[1,2,3,4,5,6,7,8,9,10]"; 20_000].join(","));
    let env = json(&wide);
    let c = compile("$..*[?(@ > 0)]", Span::detached(), &[]).unwrap();
    assert!(evaluate(&c, &env).is_ok());
    let c = compile("$..*..*..*", Span::detached(), &[]).unwrap();
    let r = evaluate(&c, &env);
    assert!(r.is_err(), "{r:?}");
}

#[test]
fn typed_results_and_strings() {
    let env = json(r#"{"a":{"b":[1,2.5,"x",true,null]},"n":2147483647}"#);
    let c = compile("payload.a.b[1] * 2", Span::detached(), &[]).unwrap();
    assert_eq!(evaluate(&c, &env), Ok(SynValue::Double(5.0)));
    assert_eq!(run("payload.n + 1", &env), "2147483648");
    assert_eq!(run("payload.a", &env), r#"{"b":[1,2.5,"x",true,null]}"#);
    assert_eq!(run("payload.a.b[4]", &env), "");
    assert_eq!(run("payload.a.b[9]", &env), "");
    assert_eq!(run("payload.a.b[-1:]", &env), "[null]");
    let c = compile("payload.missing", Span::detached(), &[]).unwrap();
    assert!(evaluate(&c, &env).is_err());
    assert_eq!(object_value_of(&c, &env), Value::Null);
    let c = compile("payload.a.b[0]", Span::detached(), &[]).unwrap();
    assert_eq!(object_value_of(&c, &env), Value::Integer(1));
}

#[test]
fn precedence_is_conventional() {
    let env = Env::default();
    assert_eq!(run("1 + 2 * 3", &env), "7");
    assert_eq!(run("5 > 3 and 2 > 1", &env), "true");
    assert_eq!(run("1 > 2 || 3 > 2 && false", &env), "false");
    assert_eq!(run("-vars.x", &env), "");
    assert_eq!(run("!(1 > 2)", &env), "true");
    assert_eq!(run("true ? 1 : 2 + 3", &env), "1");
}

#[test]
fn variables_properties_and_xml() {
    let mut env = Env::default();
    env.vars.insert("n".into(), Value::Integer(4));
    env.vars
        .insert("doc".into(), Value::Xml("<a><b>7</b></a>".into()));
    env.vars.insert(
        "obj".into(),
        Value::Json(serde_json::json!({"k": [10, 20]})),
    );
    env.props
        .insert((Scope::Default, "p".into()), Value::String("12".into()));
    env.props.insert(
        (Scope::Transport, "Content-Type".into()),
        Value::String("application/json".into()),
    );
    assert_eq!(run("vars.n * props.synapse.p", &env), "48");
    assert_eq!(run("vars.obj.k[1]", &env), "20");
    assert_eq!(run("xpath('//b', 'doc')", &env), "7");
    assert_eq!(run("headers[\"Content-Type\"]", &env), "application/json");
    assert_eq!(run("exists(vars.nope)", &env), "false");
    assert_eq!(run("vars.doc", &env), "<a><b>7</b></a>");
    let xml = Env {
        payload: Some(
            synaptic_payload::build(b"<r><id>5</id></r>", Some("application/xml")).unwrap(),
        ),
        ..Env::default()
    };
    assert_eq!(run("payload.r.id + 1", &xml), "6");
    assert_eq!(run("xpath('//id') + '!'", &xml), "5!");
}

#[test]
fn content_awareness_and_registry_keys() {
    let c = compile("registry('gov:/a.json').x + vars.y", Span::detached(), &[]).unwrap();
    assert!(!c.is_content_aware());
    assert_eq!(c.registry_keys(), ["gov:/a.json".to_string()]);
    let c = compile("vars.a[?(@.x == payload.y)]", Span::detached(), &[]).unwrap();
    assert!(c.is_content_aware());
}

#[test]
fn templates() {
    let mut env = json(r#"{"name":"Ann"}"#);
    env.vars.insert("n".into(), Value::Integer(2));
    let t = Template::compile(
        "Hi ${payload.name} ({vars.n}) ${ 'a}b' } ${vars.none}.",
        Span::detached(),
        &[],
    )
    .unwrap();
    assert_eq!(t.render(&env), "Hi Ann ({vars.n}) a}b .");
    assert!(t.is_content_aware());
    assert_eq!(t.expressions().count(), 3);
    assert!(Template::compile("${vars.a", Span::detached(), &[]).is_err());
    assert!(is_expression_attr(" ${vars.a} "));
    assert!(!is_expression_attr("${vars.a} and ${vars.b}"));
    assert!(!is_expression_attr("get-property('x')"));
    let text = "x ${1 +} y";
    let d = Template::compile(text, Span::new(SourceId(0), 10, 10 + text.len()), &[]).unwrap_err();
    // `${` at 2, the expression at 4..7, the error at its end
    assert_eq!(d[0].primary_span().range().start, 10 + 7);
}

#[test]
fn configuration_values_and_secrets() {
    let mut env = Env::default();
    env.configs.insert("url".into(), "http://b:9/x".into());
    env.configs.insert("port".into(), "8080".into());
    env.configs.insert("rate".into(), "1.5".into());
    env.configs.insert("flag".into(), "true".into());
    env.secrets.insert("db".into(), "s3cret".into());
    assert_eq!(run("configs.url", &env), "http://b:9/x");
    assert_eq!(run("configs['url'] + '/y'", &env), "http://b:9/x/y");
    // values read as Micro Integrator's tryParseNumber gives them: numbers are numbers
    let c = compile("configs.port", Span::detached(), &[]).unwrap();
    assert_eq!(evaluate(&c, &env), Ok(SynValue::Int(8080)));
    assert_eq!(run("configs.port + 1", &env), "8081");
    assert_eq!(run("configs.rate * 2", &env), "3.0");
    assert_eq!(run("configs.flag", &env), "true");
    // a name without a value is an evaluation error ("" as text, null as a value)
    let c = compile("configs.missing", Span::detached(), &[]).unwrap();
    let e = evaluate(&c, &env).unwrap_err();
    assert!(e.contains("missing"), "{e}");
    assert_eq!(string_value_of(&c, &env), "");
    assert_eq!(object_value_of(&c, &env), Value::Null);
    assert_eq!(run("exists(configs.missing)", &env), "false");
    assert_eq!(run("exists(configs.url)", &env), "true");
    // secrets
    assert_eq!(run("wso2-vault('db')", &env), "s3cret");
    assert_eq!(run("'pw=' + wso2-vault(\"db\")", &env), "pw=s3cret");
    let c = compile("wso2-vault('nope')", Span::detached(), &[]).unwrap();
    let e = evaluate(&c, &env).unwrap_err();
    assert!(e.contains("no secret for alias nope"), "{e}");
    assert_eq!(string_value_of(&c, &env), "");
    let c = compile("hashicorp-vault('kv', 'pw')", Span::detached(), &[]).unwrap();
    let e = evaluate(&c, &env).unwrap_err();
    assert!(e.contains("not supported"), "{e}");
    // the classic XPath function, through `xpath(…)`
    assert_eq!(run("xpath(\"wso2:vault-lookup('db')\")", &env), "s3cret");
}

#[test]
fn xpath_over_a_variables_xml_field_reads_it_as_a_document_of_its_own() {
    let mut env = Env::default();
    env.vars.insert(
        "order".into(),
        Value::Json(serde_json::json!({
            "payload": "<order id=\"ORD-1\"><item quantity=\"3\"><price>9.99</price></item></order>"
        })),
    );
    // the root holds the element: an absolute path starts at it
    assert_eq!(run("xpath('/order/@id', 'order.payload')", &env), "ORD-1");
    // the element is the context node: a relative path starts below it
    assert_eq!(run("xpath('item/@quantity', 'order.payload')", &env), "3");
    assert_eq!(
        run("xpath('//price/text()', 'order.payload')", &env),
        "9.99"
    );
    // nothing above the element: no envelope, no body
    assert_eq!(
        run("xpath('boolean(/*/item)', 'order.payload')", &env),
        "true"
    );
    assert_eq!(run("xpath('name(/*)', 'order.payload')", &env), "order");
}
