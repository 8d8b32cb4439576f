//! Criterion benches: parse + compile `simple-token-gen`, and its cached path (the `else`
//! branch) on a GET, registry reads served from memory; `validate` accepting a small JSON
//! payload; `throttle` accepting a message (in-memory counters) and `cache` answering a hit
//! (in-memory store) on a small payload.
//!
//! `cargo bench -p synaptic-engine --bench engine`

use async_trait::async_trait;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use std::sync::Arc;
use synaptic_diag::SourceId;
use synaptic_engine::{
    CompileOptions, Engine, FixedClock, Flow, InboundResponse, InvokeError, Invoker, Limits,
    MessageContext, OutboundRequest,
};
use synaptic_registry::{MemoryRegistry, Registry};

const SEQ: &str = include_str!("../../../sequences/simple-token-gen.xml");
const REG: &str = "local:/api-backend-credentials/pizzaOrderingAPI/";
const NOW: i64 = 1_700_003_600_001;

struct NoNetwork;

#[async_trait]
impl Invoker for NoNetwork {
    async fn invoke(&self, _: OutboundRequest) -> Result<InboundResponse, InvokeError> {
        Err(InvokeError::Other(
            "the cached path must not call out".into(),
        ))
    }
}

fn parse_compile(c: &mut Criterion) {
    c.bench_function("parse+compile simple-token-gen", |b| {
        b.iter(|| {
            let p = synaptic_syntax::parse_artifact(SourceId(0), std::hint::black_box(SEQ));
            let (prog, _) =
                synaptic_engine::compile(std::slice::from_ref(&p.tree), &CompileOptions::default());
            prog.expect("compiles")
        })
    });
}

/// A runtime and an engine running simple-token-gen with a fresh token in the registry, so
/// every message takes the cached (`else`) path.
fn cached_engine() -> (tokio::runtime::Runtime, Engine) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let p = synaptic_syntax::parse_artifact(SourceId(0), SEQ);
    let (prog, _) =
        synaptic_engine::compile(std::slice::from_ref(&p.tree), &CompileOptions::default());
    let registry = Arc::new(MemoryRegistry::new());
    rt.block_on(async {
        registry
            .put(
                &format!("{REG}access_Token"),
                "c1900c8c-10f4-3cb8-9c89-077ec35bff49",
            )
            .await
            .expect("put");
        registry
            .put(&format!("{REG}generated_Time"), &(NOW - 60_000).to_string())
            .await
            .expect("put");
    });
    let engine = Engine {
        configurables: std::sync::Arc::new(synaptic_engine::NoConfigurables),
        program: Arc::new(prog.expect("compiles")),
        invoker: Arc::new(NoNetwork),
        registry,
        clock: Arc::new(FixedClock(NOW)),
        state: Arc::new(synaptic_engine::MemoryState::default()),
        db: std::sync::Arc::new(synaptic_engine::NoDatabase),
        limits: Limits::default(),
    };
    (rt, engine)
}

fn cached_path(c: &mut Criterion) {
    let (rt, engine) = cached_engine();
    let mut headers = http::HeaderMap::new();
    headers.insert("accept", http::HeaderValue::from_static("application/json"));
    headers.insert("host", http::HeaderValue::from_static("gw.example"));
    c.bench_function("simple-token-gen cached path (GET)", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut ctx = MessageContext::from_request(
                    http::Method::GET,
                    "/pizzashack/1.0.0/menu",
                    headers.clone(),
                    Bytes::new(),
                    Some("/pizzashack/1.0.0"),
                );
                let flow = engine
                    .mediate("simple-token-gen", None, &mut ctx)
                    .await
                    .expect("mediates");
                assert_eq!(flow, Flow::Continue);
                ctx
            })
        })
    });
}

fn cached_path_post_json(c: &mut Criterion) {
    let (rt, engine) = cached_engine();
    let mut headers = http::HeaderMap::new();
    headers.insert("accept", http::HeaderValue::from_static("application/json"));
    headers.insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    let item = r#"{"name":"BBQ Chicken Bacon","price":"14.99","icon":"/images/6.png"},"#;
    let body = Bytes::from(format!("[{}{{}}]", item.repeat(14)));
    c.bench_function(
        "simple-token-gen cached path + to_outbound (POST 1 KiB JSON)",
        |b| {
            b.iter(|| {
                rt.block_on(async {
                    let mut ctx = MessageContext::from_request(
                        http::Method::POST,
                        "/pizzashack/1.0.0/order",
                        headers.clone(),
                        body.clone(),
                        Some("/pizzashack/1.0.0"),
                    );
                    engine
                        .mediate("simple-token-gen", None, &mut ctx)
                        .await
                        .expect("mediates");
                    ctx.to_outbound("http://127.0.0.1:9/pizzashack")
                        .expect("outbound")
                })
            })
        },
    );
}

/// `validate` accepting a small JSON payload against a local-entry JSON Schema (the schema is
/// compiled at load; the message is built from its bytes on every iteration).
fn validate_accept(c: &mut Criterion) {
    let xml = r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
        <localEntry key="order">{"type":"object","required":["id","qty"],
          "properties":{"id":{"type":"string"},"qty":{"type":"integer","minimum":1}}}</localEntry>
        <sequence name="v">
          <validate><schema key="order"/><on-fail><drop/></on-fail></validate>
        </sequence>
      </definitions>"#;
    let p = synaptic_syntax::parse_artifact(SourceId(0), xml);
    let (prog, diags) =
        synaptic_engine::compile(std::slice::from_ref(&p.tree), &CompileOptions::default());
    let engine = Engine {
        configurables: std::sync::Arc::new(synaptic_engine::NoConfigurables),
        program: Arc::new(prog.unwrap_or_else(|| panic!("{diags:?}"))),
        invoker: Arc::new(NoNetwork),
        registry: Arc::new(MemoryRegistry::new()),
        clock: Arc::new(FixedClock(NOW)),
        state: Arc::new(synaptic_engine::MemoryState::default()),
        db: std::sync::Arc::new(synaptic_engine::NoDatabase),
        limits: Limits::default(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    let body = Bytes::from_static(br#"{"id":"A-17","qty":3}"#);
    c.bench_function("validate accept (small JSON, local-entry schema)", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut ctx = MessageContext::from_request(
                    http::Method::POST,
                    "/orders",
                    headers.clone(),
                    body.clone(),
                    None,
                );
                let flow = engine.mediate("v", None, &mut ctx).await.expect("mediates");
                assert_eq!(flow, Flow::Continue);
            })
        })
    });
}

fn engine_for(xml: &str) -> (tokio::runtime::Runtime, Engine) {
    let p = synaptic_syntax::parse_artifact(SourceId(0), xml);
    let (prog, diags) =
        synaptic_engine::compile(std::slice::from_ref(&p.tree), &CompileOptions::default());
    let engine = Engine {
        configurables: std::sync::Arc::new(synaptic_engine::NoConfigurables),
        program: Arc::new(prog.unwrap_or_else(|| panic!("{diags:?}"))),
        invoker: Arc::new(OneAnswer),
        registry: Arc::new(MemoryRegistry::new()),
        clock: Arc::new(FixedClock(NOW)),
        state: Arc::new(synaptic_engine::MemoryState::default()),
        db: std::sync::Arc::new(synaptic_engine::NoDatabase),
        limits: Limits::default(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    (rt, engine)
}

/// A backend answering a small JSON body (called once, to fill the cache).
struct OneAnswer;

#[async_trait]
impl Invoker for OneAnswer {
    async fn invoke(&self, _: OutboundRequest) -> Result<InboundResponse, InvokeError> {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "content-type",
            http::HeaderValue::from_static("application/json"),
        );
        Ok(InboundResponse {
            status: 200,
            headers,
            body: Bytes::from_static(br#"{"id":"A-17","qty":3,"state":"shipped"}"#),
        })
    }
}

/// `throttle` accepting a message: the policy's IP match (`other`) and one in-memory window
/// step (the window is large enough never to close during the run).
fn throttle_accept(c: &mut Criterion) {
    let (rt, engine) = engine_for(
        r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="t">
          <throttle id="bench">
            <policy><wsp:Policy xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy"
                xmlns:throttle="http://www.wso2.org/products/wso2commons/throttle">
              <throttle:MediatorThrottleAssertion>
                <wsp:Policy><throttle:ID throttle:type="IP">other</throttle:ID>
                  <wsp:Policy><throttle:Control><wsp:Policy>
                    <throttle:MaximumCount>1000000000</throttle:MaximumCount>
                    <throttle:UnitTime>3600000</throttle:UnitTime>
                  </wsp:Policy></throttle:Control></wsp:Policy></wsp:Policy>
              </throttle:MediatorThrottleAssertion></wsp:Policy></policy>
          </throttle>
        </sequence>"#,
    );
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "x-forwarded-for",
        http::HeaderValue::from_static("10.1.2.3"),
    );
    c.bench_function("throttle accept (in-memory counter)", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut ctx = MessageContext::from_request(
                    http::Method::GET,
                    "/orders/17",
                    headers.clone(),
                    Bytes::new(),
                    None,
                );
                let flow = engine.mediate("t", None, &mut ctx).await.expect("mediates");
                assert_eq!(flow, Flow::Continue);
            })
        })
    });
}

/// `cache` answering from the in-memory store: the request hash (method, path, headers), the
/// lookup, the stored response decoded into the message (a 40-byte JSON body).
fn cache_hit(c: &mut Criterion) {
    let (rt, engine) = engine_for(
        r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="c">
          <cache collector="false" timeout="3600"/>
          <call><endpoint><address uri="http://127.0.0.1:9/orders"/></endpoint></call>
          <cache collector="true"/>
          <respond/>
        </sequence>"#,
    );
    let mut headers = http::HeaderMap::new();
    headers.insert("accept", http::HeaderValue::from_static("application/json"));
    let run = |headers: &http::HeaderMap| {
        rt.block_on(async {
            let mut ctx = MessageContext::from_request(
                http::Method::GET,
                "/orders/17",
                headers.clone(),
                Bytes::new(),
                None,
            );
            let flow = engine.mediate("c", None, &mut ctx).await.expect("mediates");
            assert_eq!(flow, Flow::Respond);
            ctx
        })
    };
    // fill the cache once
    run(&headers);
    c.bench_function("cache hit (in-memory store, small JSON)", |b| {
        b.iter(|| run(&headers))
    });
}

criterion_group!(
    benches,
    parse_compile,
    cached_path,
    cached_path_post_json,
    validate_accept,
    throttle_accept,
    cache_hit
);
criterion_main!(benches);
