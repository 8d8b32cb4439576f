//! A Synapse Expression attribute read (`${payload.orders[0].id}`) against the equivalent
//! `json-eval($.orders[0].id)`, on a small JSON payload that is already built, as a mediator
//! sees it. Run: `cargo bench -p synaptic-expr --bench synexpr`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use synaptic_diag::Span;
use synaptic_expr::synexpr::{self, SynEnv};
use synaptic_expr::{compile, eval, Dialect, ExprEnv, Scope, Value};
use synaptic_payload::Payload;

struct Env {
    payload: Payload,
}

impl ExprEnv for Env {
    fn property(&self, _: Scope, _: &str) -> Option<Value> {
        None
    }
    fn registry(&self, _: &str) -> Option<String> {
        None
    }
    fn payload(&self) -> &Payload {
        &self.payload
    }
    fn raw_json(&self) -> Option<&str> {
        None
    }
    fn url_param(&self, _: &str) -> Option<String> {
        None
    }
    fn now_ms(&self) -> i64 {
        0
    }
}

impl SynEnv for Env {
    fn as_expr(&self) -> &dyn ExprEnv {
        self
    }
    fn variable(&self, name: &str) -> Option<Value> {
        (name == "total").then_some(Value::Integer(3))
    }
}

const BODY: &str = r#"{"customer":{"name":"Ann","tier":"gold"},"orders":[{"id":"A-1","qty":2,"price":9.5},{"id":"A-2","qty":1,"price":20.0}],"total":39.0}"#;

fn bench(c: &mut Criterion) {
    let env = Env {
        payload: synaptic_payload::build(BODY.as_bytes(), Some("application/json")).expect("json"),
    };
    let syn = synexpr::compile("payload.orders[0].id", Span::detached(), &[]).expect("compiles");
    let json = compile(
        "json-eval($.orders[0].id)",
        Span::detached(),
        &[],
        Dialect::XPath,
    )
    .expect("compiles");
    let arith = synexpr::compile(
        "vars.total * payload.orders[1].price",
        Span::detached(),
        &[],
    )
    .expect("compiles");
    let filter = synexpr::compile("payload.orders[?(@.qty > 1)].id", Span::detached(), &[])
        .expect("compiles");
    assert_eq!(synexpr::string_value_of(&syn, &env), "A-1");
    assert_eq!(
        eval(&json, &env).ok().and_then(|v| v.to_synapse_string()),
        Some("A-1".to_string())
    );

    c.bench_function("synexpr/payload-read", |b| {
        b.iter(|| synexpr::string_value_of(black_box(&syn), &env))
    });
    c.bench_function("json-eval/payload-read", |b| {
        b.iter(|| eval(black_box(&json), &env))
    });
    c.bench_function("synexpr/arithmetic", |b| {
        b.iter(|| synexpr::string_value_of(black_box(&arith), &env))
    });
    c.bench_function("synexpr/filter", |b| {
        b.iter(|| synexpr::string_value_of(black_box(&filter), &env))
    });
    c.bench_function("synexpr/compile", |b| {
        b.iter(|| synexpr::compile(black_box("payload.orders[0].id"), Span::detached(), &[]))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
