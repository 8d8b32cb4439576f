//! The expressions of simple-token-gen's cached path (`else` branch): bare reads, the filter
//! XPath with arithmetic, and `fn:concat`. Run: `cargo bench -p synaptic-expr --bench expr`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use synaptic_diag::Span;
use synaptic_expr::{compile, eval, Dialect, ExprEnv, Scope, Value};
use synaptic_payload::Payload;

struct Env {
    payload: Payload,
}

impl ExprEnv for Env {
    fn property(&self, scope: Scope, name: &str) -> Option<Value> {
        match (scope, name) {
            (Scope::Default, "generated-time") => Some(Value::Integer(1_700_003_000_000)),
            (Scope::Default, "access_token") => Some(Value::String("tok-123".into())),
            (Scope::Axis2, "REST_URL_POSTFIX") => Some(Value::String("/order".into())),
            _ => None,
        }
    }
    fn registry(&self, key: &str) -> Option<String> {
        key.ends_with("access_Token").then(|| "tok-123".to_string())
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
        1_700_003_600_001
    }
}

const FILTER: &str = "get-property('SYSTEM_TIME') - get-property('generated-time') > 3600000 or get-property('access_token') = ''";
const CONCAT: &str = "fn:concat('Bearer ', get-property('access_token'))";
const REGISTRY: &str =
    "get-property('registry', 'local:/api-backend-credentials/pizzaOrderingAPI/access_Token')";
const AXIS2: &str = "get-property('axis2','REST_URL_POSTFIX')";

fn bench(c: &mut Criterion) {
    let env = Env {
        payload: Payload::Empty,
    };
    let ce = |t: &str| compile(t, Span::detached(), &[], Dialect::XPath).expect("compiles");
    let filter = ce(FILTER);
    let concat = ce(CONCAT);
    let registry = ce(REGISTRY);
    let axis2 = ce(AXIS2);
    assert_eq!(eval(&filter, &env).ok(), Some(Value::Boolean(false)));

    c.bench_function("compile/filter", |b| b.iter(|| ce(black_box(FILTER))));
    c.bench_function("eval/filter", |b| b.iter(|| eval(black_box(&filter), &env)));
    c.bench_function("eval/fn-concat", |b| {
        b.iter(|| eval(black_box(&concat), &env))
    });
    c.bench_function("eval/bare-registry-read", |b| {
        b.iter(|| eval(black_box(&registry), &env))
    });
    c.bench_function("eval/cached-path", |b| {
        b.iter(|| {
            // access_token, generated-time, resource, filter, Authorization
            let _ = eval(&registry, &env);
            let _ = eval(&registry, &env);
            let _ = eval(&axis2, &env);
            let _ = eval(&filter, &env);
            eval(&concat, &env)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
