//! OpenTelemetry traces (`[telemetry]`, ADR 0385): a span per request with child spans for
//! inbound authorization, each sequence, each `call`/`send`, the token fetch of endpoint
//! security and the backend exchange; the W3C `traceparent` of a client continues its trace and
//! is sent on to backends and token endpoints.
//!
//! Spans are exported in batches over OTLP (gRPC or HTTP/protobuf) by the SDK's batch
//! processor on its own thread: a request only puts its ended spans into a bounded queue and
//! never waits for the exporter; when the queue is full, spans are dropped.
//!
//! The request's [`Context`] is attached to the request's future
//! ([`opentelemetry::context::FutureExt::with_context`]); code below reads it with
//! [`Child::start`], which does nothing when the request is not traced.

use crate::proxy::HttpClient;
use async_trait::async_trait;
use bytes::Bytes;
use http::HeaderMap;
use http_body_util::{BodyExt, Either, Full};
use opentelemetry::context::FutureExt as _;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::{HeaderExtractor, HeaderInjector, HttpError};
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider,
};
use serde::Deserialize;
use std::borrow::Cow;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use synaptic_engine::{InvokeError, MediationError, MediationObserver, OutboundRequest};

/// `[telemetry]`
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// The OTLP receiver (`http://127.0.0.1:4317` for gRPC, `http://127.0.0.1:4318` for
    /// HTTP, which posts to `{otlp_endpoint}/v1/traces`). Without it nothing is traced.
    pub otlp_endpoint: Option<String>,
    /// `"grpc"` (default) or `"http/protobuf"`.
    #[serde(default)]
    pub otlp_protocol: OtlpProtocol,
    /// `service.name` of the spans (default `synaptic`).
    #[serde(default = "default_service_name")]
    pub service_name: String,
    /// Share of new traces recorded, 0.0–1.0 (default 1.0); a client's `traceparent` decides
    /// for the traces it continues.
    #[serde(default = "default_ratio")]
    pub sampling_ratio: f64,
    /// Seconds between exports of a batch (default 5).
    #[serde(default = "default_export_interval")]
    pub export_interval: f64,
    /// Seconds an export may take (default 10).
    #[serde(default = "default_export_timeout")]
    pub export_timeout: f64,
    /// Ended spans waiting for export; more are dropped (default 2048).
    #[serde(default = "default_max_queue")]
    pub max_queue: usize,
}

/// `[telemetry] otlp_protocol`
#[derive(Clone, Copy, Debug, Deserialize, Default, PartialEq, Eq)]
pub enum OtlpProtocol {
    #[default]
    #[serde(rename = "grpc")]
    Grpc,
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

fn default_service_name() -> String {
    "synaptic".into()
}
fn default_ratio() -> f64 {
    1.0
}
fn default_export_interval() -> f64 {
    5.0
}
fn default_export_timeout() -> f64 {
    10.0
}
fn default_max_queue() -> usize {
    2048
}

impl TelemetryConfig {
    /// What is wrong with the values, if anything (the keys are checked by serde).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        match self.otlp_endpoint.as_deref().map(url::Url::parse) {
            None => {}
            Some(Ok(u)) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            Some(_) => out.push((
                "otlp_endpoint",
                "must be an http:// or https:// URL (`http://127.0.0.1:4317`)".into(),
            )),
        }
        if !(0.0..=1.0).contains(&self.sampling_ratio) {
            out.push(("sampling_ratio", "must be between 0.0 and 1.0".into()));
        }
        if !(self.export_interval > 0.0 && self.export_interval <= 3600.0) {
            out.push((
                "export_interval",
                "must be between 0 and 3600 seconds".into(),
            ));
        }
        if !(self.export_timeout > 0.0 && self.export_timeout <= 3600.0) {
            out.push((
                "export_timeout",
                "must be between 0 and 3600 seconds".into(),
            ));
        }
        if self.max_queue == 0 || self.max_queue > 1 << 20 {
            out.push(("max_queue", "must be between 1 and 1048576".into()));
        }
        if self.service_name.trim().is_empty() {
            out.push(("service_name", "must not be empty".into()));
        }
        out
    }
}

/// Why the exporter could not be built.
#[derive(Debug, thiserror::Error)]
#[error("telemetry: {0}")]
pub struct TelemetryError(String);

/// The tracer of a gateway and the provider that exports its spans. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
}

/// The value a traced request's [`Context`] carries: the tracer its child spans start from,
/// and the spans the engine's hooks opened and not yet closed (a fault handler's sequence, a
/// `call` in flight), innermost last.
#[derive(Clone, Debug)]
struct Traced(SdkTracer, Arc<Mutex<Vec<Child>>>);

impl Telemetry {
    /// Build the exporter and the batch processor. Must run inside the Tokio runtime (the
    /// exporters' connections live on it). `client` is the gateway's HTTP client, used for
    /// `http/protobuf`.
    pub fn new(cfg: &TelemetryConfig, client: &HttpClient) -> Result<Telemetry, TelemetryError> {
        let Some(endpoint) = cfg.otlp_endpoint.as_deref() else {
            return Err(TelemetryError("no otlp_endpoint".into()));
        };
        let timeout = Duration::from_secs_f64(cfg.export_timeout);
        let exporter = match cfg.otlp_protocol {
            OtlpProtocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .with_timeout(timeout)
                .build(),
            OtlpProtocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_timeout(timeout)
                .with_http_client(ExportClient {
                    client: client.clone(),
                    runtime: tokio::runtime::Handle::current(),
                    timeout,
                })
                .build(),
        }
        .map_err(|e| TelemetryError(e.to_string()))?;
        let batch = BatchConfigBuilder::default()
            .with_max_queue_size(cfg.max_queue)
            .with_max_export_batch_size(cfg.max_queue.min(512))
            .with_scheduled_delay(Duration::from_secs_f64(cfg.export_interval))
            .build();
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(batch)
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                cfg.sampling_ratio,
            ))))
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name(cfg.service_name.clone())
                    .build(),
            )
            .build();
        let tracer = provider.tracer("synaptic");
        Ok(Telemetry { provider, tracer })
    }

    /// Export what is queued and stop the exporter (blocks: call it off the runtime's threads).
    pub fn shutdown(&self) {
        let _ = self.provider.force_flush();
        let _ = self.provider.shutdown();
    }

    /// The server span of a request, continuing the client's `traceparent` when it sent one;
    /// the returned context is to be attached to the request's future.
    pub(crate) fn request(
        &self,
        method: &http::Method,
        uri: &http::Uri,
        headers: &HeaderMap,
        tls: bool,
        peer: Option<std::net::SocketAddr>,
    ) -> Context {
        let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
        let mut attrs = vec![
            KeyValue::new("http.request.method", method.as_str().to_string()),
            KeyValue::new("url.path", uri.path().to_string()),
            KeyValue::new("url.scheme", if tls { "https" } else { "http" }),
        ];
        if let Some(p) = peer {
            attrs.push(KeyValue::new("client.address", p.ip().to_string()));
        }
        let span = self
            .tracer
            .span_builder(method.as_str().to_string())
            .with_kind(SpanKind::Server)
            .with_attributes(attrs)
            .start_with_context(&self.tracer, &parent);
        parent
            .with_span(span)
            .with_value(Traced(self.tracer.clone(), Arc::default()))
    }
}

/// The end of a request's span: its route, status and outcome.
pub(crate) fn finish_request(
    cx: &Context,
    method: &http::Method,
    route: Option<&str>,
    status: u16,
) {
    let span = cx.span();
    if let Some(r) = route {
        span.update_name(format!("{method} {r}"));
        span.set_attribute(KeyValue::new("http.route", r.to_string()));
    }
    span.set_attribute(KeyValue::new(
        "http.response.status_code",
        i64::from(status),
    ));
    if status >= 500 {
        span.set_status(Status::error(format!("HTTP {status}")));
    }
    span.end();
}

/// The trace id of a context's span, as the access log writes it (32 hex digits).
pub(crate) fn trace_id(cx: &Context) -> String {
    cx.span().span_context().trace_id().to_string()
}

/// A child span of the current request's span, or nothing when the request is not traced.
#[derive(Debug)]
pub(crate) struct Child(Option<Context>);

impl Child {
    /// Start a child of the span current in this task (nothing when it is not traced).
    pub(crate) fn start(
        name: impl Into<Cow<'static, str>>,
        kind: SpanKind,
        attrs: Vec<KeyValue>,
    ) -> Child {
        Child::start_with(kind, || (name.into(), attrs))
    }

    /// [`Child::start`] with the name and attributes built only when the task is traced: an
    /// untraced request formats no URL and allocates no attribute.
    pub(crate) fn start_with(
        kind: SpanKind,
        build: impl FnOnce() -> (Cow<'static, str>, Vec<KeyValue>),
    ) -> Child {
        Child(Context::map_current(|cx| {
            let tracer = cx.get::<Traced>()?.0.clone();
            let (name, attrs) = build();
            let span = tracer
                .span_builder(name)
                .with_kind(kind)
                .with_attributes(attrs)
                .start_with_context(&tracer, cx);
            Some(cx.with_span(span))
        }))
    }

    /// Start a child of `parent` (an explicit context, e.g. kept by an observer).
    pub(crate) fn start_under(
        parent: &Context,
        name: impl Into<Cow<'static, str>>,
        kind: SpanKind,
        attrs: Vec<KeyValue>,
    ) -> Child {
        let Some(t) = parent.get::<Traced>() else {
            return Child(None);
        };
        let tracer = t.0.clone();
        let span = tracer
            .span_builder(name)
            .with_kind(kind)
            .with_attributes(attrs)
            .start_with_context(&tracer, parent);
        Child(Some(parent.with_span(span)))
    }

    /// Whether a span was started.
    pub(crate) fn is_traced(&self) -> bool {
        self.0.is_some()
    }

    /// The span's context (to start children of it).
    pub(crate) fn context(&self) -> Option<&Context> {
        self.0.as_ref()
    }

    /// Run `f` with this span current (its children, and `traceparent`s sent inside, are
    /// under it).
    pub(crate) fn wrap<F: Future>(
        &self,
        f: F,
    ) -> futures::future::Either<opentelemetry::context::WithContext<F>, F> {
        match &self.0 {
            Some(cx) => futures::future::Either::Left(f.with_context(cx.clone())),
            None => futures::future::Either::Right(f),
        }
    }

    /// Set `traceparent` on an outgoing request: the backend's spans become children of this
    /// one.
    pub(crate) fn inject(&self, headers: &mut HeaderMap) {
        if let Some(cx) = &self.0 {
            TraceContextPropagator::new().inject_context(cx, &mut HeaderInjector(headers));
        }
    }

    pub(crate) fn set(&self, kv: KeyValue) {
        if let Some(cx) = &self.0 {
            cx.span().set_attribute(kv);
        }
    }

    /// Record an HTTP status (an error status from 500 on).
    pub(crate) fn status(&self, status: u16) {
        self.set(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
        if status >= 500 {
            self.error(format!("HTTP {status}"));
        }
    }

    /// Mark the span failed.
    pub(crate) fn error(&self, message: impl Into<Cow<'static, str>>) {
        if let Some(cx) = &self.0 {
            cx.span().set_status(Status::error(message));
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Some(cx) = &self.0 {
            cx.span().end();
        }
    }
}

/// `fut` with the current context attached when the task runs a traced request (for work it
/// hands to a task of its own).
pub(crate) fn carry_context(
    fut: futures::future::BoxFuture<'static, ()>,
) -> futures::future::BoxFuture<'static, ()> {
    if traced() {
        Box::pin(fut.with_context(Context::current()))
    } else {
        fut
    }
}

/// Whether the task runs a traced request.
pub(crate) fn traced() -> bool {
    Context::map_current(|cx| cx.get::<Traced>().is_some())
}

/// The observer of traced mediations: a span for a fault handler's sequence, for each
/// sequence called from another, and for each `call`/`send`, whose `traceparent` goes to the
/// backend. Its spans are children of the span
/// current where the mediation runs (the sequence's).
pub(crate) fn observer() -> Arc<dyn MediationObserver> {
    static OBSERVER: std::sync::OnceLock<Arc<dyn MediationObserver>> = std::sync::OnceLock::new();
    OBSERVER.get_or_init(|| Arc::new(SpanObserver)).clone()
}

/// The spans the engine's hooks opened in the current context (innermost last).
fn open_spans() -> Option<Arc<Mutex<Vec<Child>>>> {
    Context::map_current(|cx| cx.get::<Traced>().map(|t| t.1.clone()))
}

/// End the spans the engine's hooks left open (a fault handler's sequence ends with the
/// mediation that ran it).
pub(crate) fn close_mediation_spans() {
    let open = open_spans();
    if let Some(open) = open {
        let spans: Vec<Child> =
            std::mem::take(&mut *open.lock().unwrap_or_else(|e| e.into_inner()));
        // innermost first
        drop(spans.into_iter().rev().collect::<Vec<_>>());
    }
}

struct SpanObserver;

impl SpanObserver {
    /// Start a span under the innermost open one (else the current span) and keep it open.
    fn open(name: String, kind: SpanKind, attrs: Vec<KeyValue>) -> Option<Arc<Mutex<Vec<Child>>>> {
        Context::map_current(|cx| {
            let t = cx.get::<Traced>()?;
            let mut open = t.1.lock().unwrap_or_else(|e| e.into_inner());
            let child = match open.last().and_then(|c| c.context()) {
                Some(parent) => Child::start_under(parent, name, kind, attrs),
                None => Child::start_under(cx, name, kind, attrs),
            };
            open.push(child);
            Some(t.1.clone())
        })
    }
}

impl MediationObserver for SpanObserver {
    fn fault(&self, error: &MediationError, handler: Option<&str>) {
        if let Some(h) = handler {
            Self::open(
                format!("sequence {h}"),
                SpanKind::Internal,
                vec![
                    KeyValue::new("synaptic.sequence", h.to_string()),
                    KeyValue::new("synaptic.flow", "fault"),
                    KeyValue::new("synaptic.error_code", error.code),
                ],
            );
        }
    }

    fn sequence_started(&self, name: &str) {
        Self::open(
            format!("sequence {name}"),
            SpanKind::Internal,
            vec![KeyValue::new("synaptic.sequence", name.to_string())],
        );
    }

    fn sequence_ended(&self, failed: bool) {
        let Some(open) = open_spans() else {
            return;
        };
        let child = open.lock().unwrap_or_else(|e| e.into_inner()).pop();
        if let (Some(c), true) = (child, failed) {
            c.error("fault");
        }
    }

    fn outbound(&self, mediator: &'static str, req: &mut OutboundRequest) {
        let attrs = vec![
            KeyValue::new("http.request.method", req.method.as_str().to_string()),
            KeyValue::new("url.full", url_attr(&req.url)),
        ];
        if let Some(open) = Self::open(mediator.to_string(), SpanKind::Client, attrs) {
            let open = open.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(c) = open.last() {
                c.inject(&mut req.headers);
            }
        }
    }

    fn outbound_done(&self, result: Result<u16, &InvokeError>) {
        let Some(open) = open_spans() else {
            return;
        };
        let child = open.lock().unwrap_or_else(|e| e.into_inner()).pop();
        if let Some(c) = child {
            match result {
                Ok(s) => c.status(s),
                Err(e) => c.error(format!("{e:?}")),
            }
        }
    }
}

/// A URL as a span attribute: without its query (credentials may travel there) or userinfo.
pub(crate) fn url_attr(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            u.set_query(None);
            u.set_fragment(None);
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => url.split(['?', '#']).next().unwrap_or_default().to_string(),
    }
}

/// The OTLP/HTTP exporter's client: the gateway's pooled client, driven on the gateway's
/// runtime (the batch processor calls it from its own thread).
#[derive(Debug)]
struct ExportClient {
    client: HttpClient,
    runtime: tokio::runtime::Handle,
    timeout: Duration,
}

#[async_trait]
impl opentelemetry_http::HttpClient for ExportClient {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let timeout = self.timeout;
        let task = self.runtime.spawn(async move {
            let exchange = async {
                let resp = client
                    .request(request.map(|b| Either::Right(Full::new(b))))
                    .await?;
                let (parts, body) = resp.into_parts();
                // a receiver's answer is small; more is refused
                let body = http_body_util::Limited::new(body, 1 << 20)
                    .collect()
                    .await
                    .map_err(|e| -> HttpError { e.to_string().into() })?
                    .to_bytes();
                Ok::<_, HttpError>(http::Response::from_parts(parts, body))
            };
            match tokio::time::timeout(timeout, exchange).await {
                Ok(r) => r,
                Err(_) => Err("OTLP export timed out".into()),
            }
        });
        task.await
            .map_err(|e| -> HttpError { e.to_string().into() })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TelemetryConfig, String> {
        #[derive(Deserialize)]
        struct W {
            telemetry: TelemetryConfig,
        }
        toml::from_str::<W>(text)
            .map(|w| w.telemetry)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_protocols() {
        let c = parse("[telemetry]\notlp_endpoint = \"http://127.0.0.1:4317\"\n").unwrap();
        assert_eq!(c.otlp_protocol, OtlpProtocol::Grpc);
        assert_eq!(c.service_name, "synaptic");
        assert_eq!(c.sampling_ratio, 1.0);
        assert_eq!(c.max_queue, 2048);
        assert!(c.problems().is_empty());
        let c = parse("[telemetry]\notlp_protocol = \"http/protobuf\"\n").unwrap();
        assert_eq!(c.otlp_protocol, OtlpProtocol::HttpProtobuf);
        assert!(parse("[telemetry]\notlp_protocol = \"http/json\"\n").is_err());
        assert!(parse("[telemetry]\nendpoint = \"x\"\n").is_err());
    }

    #[test]
    fn bad_values_are_named() {
        let c = parse(
            "[telemetry]\notlp_endpoint = \"127.0.0.1:4317\"\nsampling_ratio = 1.5\n\
             max_queue = 0\nexport_interval = 0\n",
        )
        .unwrap();
        let keys: Vec<&str> = c.problems().iter().map(|(k, _)| *k).collect();
        assert_eq!(
            keys,
            [
                "otlp_endpoint",
                "sampling_ratio",
                "export_interval",
                "max_queue"
            ]
        );
    }

    #[test]
    fn url_attributes_drop_query_and_credentials() {
        assert_eq!(
            url_attr("https://u:p@h.example:8443/t?client_secret=x#f"),
            "https://h.example:8443/t"
        );
        assert_eq!(url_attr("not a url?x"), "not a url");
    }

    #[test]
    fn an_untraced_task_starts_no_child() {
        let c = Child::start("x", SpanKind::Internal, vec![]);
        assert!(!c.is_traced());
        let mut h = HeaderMap::new();
        c.inject(&mut h);
        assert!(h.is_empty());
    }
}
