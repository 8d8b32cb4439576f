//! A real OTLP trace receiver on 127.0.0.1: the OpenTelemetry protocol's own gRPC service
//! (`opentelemetry.proto.collector.trace.v1.TraceService/Export`, the generated tonic server of
//! `opentelemetry-proto`, over HTTP/2) and its HTTP/protobuf endpoint (`POST /v1/traces`), on
//! one port. Every export request is decoded from the wire and its spans kept, so tests
//! assert on what a collector would have received.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use prost::Message as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One received span, flattened.
#[derive(Clone, Debug)]
pub struct ReceivedSpan {
    pub name: String,
    /// 32 hex digits.
    pub trace_id: String,
    /// 16 hex digits.
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    /// 1 internal, 2 server, 3 client (OTLP's `SpanKind`).
    pub kind: i32,
    pub attributes: Vec<(String, String)>,
    /// `service.name` of the resource.
    pub service: String,
    /// 2 = error (OTLP's `Status.code`).
    pub status_code: i32,
    /// `grpc` or `http` — how it arrived.
    pub via: &'static str,
}

impl ReceivedSpan {
    /// An attribute's value as text (numbers and booleans formatted).
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The receiver; stops when dropped.
pub struct OtlpReceiver {
    addr: SocketAddr,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct Grpc(Arc<Mutex<Vec<ReceivedSpan>>>);

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        keep(&self.0, request.into_inner(), "grpc");
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn text(v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn attrs(kv: &[KeyValue]) -> Vec<(String, String)> {
    kv.iter().map(|a| (a.key.clone(), text(&a.value))).collect()
}

fn keep(into: &Mutex<Vec<ReceivedSpan>>, req: ExportTraceServiceRequest, via: &'static str) {
    let mut out = into.lock().unwrap_or_else(|e| e.into_inner());
    for rs in req.resource_spans {
        let service = rs
            .resource
            .as_ref()
            .map(|r| attrs(&r.attributes))
            .unwrap_or_default()
            .into_iter()
            .find(|(k, _)| k == "service.name")
            .map(|(_, v)| v)
            .unwrap_or_default();
        for ss in rs.scope_spans {
            for s in ss.spans {
                out.push(ReceivedSpan {
                    name: s.name.clone(),
                    trace_id: hex(&s.trace_id),
                    span_id: hex(&s.span_id),
                    parent_span_id: hex(&s.parent_span_id),
                    kind: s.kind,
                    attributes: attrs(&s.attributes),
                    service: service.clone(),
                    status_code: s.status.as_ref().map_or(0, |st| st.code),
                    via,
                });
            }
        }
    }
}

impl OtlpReceiver {
    /// Start on a free loopback port.
    pub async fn start() -> OtlpReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let spans: Arc<Mutex<Vec<ReceivedSpan>>> = Arc::default();
        let grpc = TraceServiceServer::new(Grpc(spans.clone()));
        let kept = spans.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let grpc = grpc.clone();
                let kept = kept.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                        let grpc = grpc.clone();
                        let kept = kept.clone();
                        async move { Ok::<_, std::convert::Infallible>(route(grpc, &kept, req).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        OtlpReceiver { addr, spans, task }
    }

    /// `http://127.0.0.1:PORT`, the `otlp_endpoint` for either protocol.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The spans received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Wait (up to `within`) until `done` holds for the spans received; return them.
    pub async fn wait_for(
        &self,
        within: Duration,
        done: impl Fn(&[ReceivedSpan]) -> bool,
    ) -> Vec<ReceivedSpan> {
        let end = tokio::time::Instant::now() + within;
        loop {
            let s = self.spans();
            if done(&s) || tokio::time::Instant::now() >= end {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

type Answer = http::Response<http_body_util::combinators::UnsyncBoxBody<Bytes, tonic::Status>>;

/// gRPC to the generated service; `POST /v1/traces` decoded here.
async fn route(
    grpc: TraceServiceServer<Grpc>,
    kept: &Mutex<Vec<ReceivedSpan>>,
    req: http::Request<Incoming>,
) -> Answer {
    use tonic::codegen::Service as _;
    let is_grpc = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    if is_grpc {
        let mut svc = grpc;
        return match svc.call(req).await {
            Ok(r) => r.map(|b| b.boxed_unsync()),
            Err(never) => match never {},
        };
    }
    let plain = |status: u16, body: &'static str| {
        let mut r = http::Response::new(
            Full::new(Bytes::from_static(body.as_bytes()))
                .map_err(|never| match never {})
                .boxed_unsync(),
        );
        *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
        r
    };
    if req.method() != http::Method::POST || req.uri().path() != "/v1/traces" {
        return plain(404, "not found");
    }
    let ct = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if ct != "application/x-protobuf" {
        return plain(415, "expected application/x-protobuf");
    }
    let Ok(body) = req.into_body().collect().await else {
        return plain(400, "body");
    };
    match ExportTraceServiceRequest::decode(body.to_bytes()) {
        Ok(export) => {
            keep(kept, export, "http");
            let answer = ExportTraceServiceResponse {
                partial_success: None,
            }
            .encode_to_vec();
            let mut r = http::Response::new(
                Full::new(Bytes::from(answer))
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            );
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/x-protobuf"),
            );
            r
        }
        Err(_) => plain(400, "not an ExportTraceServiceRequest"),
    }
}
