//! The server: accept loop (hyper-util auto builder), graceful shutdown, and the request
//! pipeline
//!
//! ```text
//! /health, /metrics, local services ─▶ normalise path ─▶ route (API, resource)
//!   ─▶ inbound auth (security = "oauth2") ─▶ in-flow ─▶ endpoint (+ endpoint security, 401 replay)
//!   ─▶ out-flow ─▶ response;  faults ─▶ fault sequence ─▶ JSON fault by origin
//! ```
//!
//! Bodies are streamed both ways when nothing needs them (no sequence, no endpoint security, no
//! wire log); otherwise the request is buffered under `max_body_size`.

use crate::config::{ApiConfig, Config};
use crate::extensions::{self, BuildContext, ExtensionError, Extensions};
use crate::fault;
use crate::hooks::{AuthTicket, HookResponse, Principal, UpstreamAuth};
use crate::invoker::{self, HttpInvoker};
use crate::metrics;
use crate::path;
use crate::proxy::{self, Endpoint, HttpClient, ResponseBody, SendError};
use crate::reload::{self, LoadReport, ProgramStore};
use crate::routing::{ResourceMatch, ResourceTable, Router};
use crate::wire;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{Either, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use synaptic_engine::{
    Engine, Flow, InboundResponse, Limits, MediationError, MessageContext, OutboundRequest,
    SystemClock, Value,
};
use synaptic_registry::Registry;
use tokio::net::TcpListener;

/// Options that come from the command line rather than the file.
#[derive(Clone, Debug, Default)]
pub struct ServeOptions {
    /// Log headers and bodies of every message (credentials redacted).
    pub wire: bool,
    /// Override `[server] watch`.
    pub watch: Option<bool>,
    /// Override `[server] listen` (tests use `127.0.0.1:0`).
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("sequences do not load")]
    Sequences(Box<LoadReport>),
    #[error(transparent)]
    Client(#[from] proxy::ClientError),
    #[error(transparent)]
    Extension(#[from] ExtensionError),
    #[error("cannot read {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid listen address {0:?}")]
    BadListen(String),
    #[error("cannot open the registry")]
    Registry(#[from] synaptic_registry::RegistryError),
}

/// One API, ready to serve.
struct ApiRuntime {
    index: usize,
    name: Arc<str>,
    context: String,
    endpoint: Option<Endpoint>,
    timeout: Duration,
    resources: ResourceTable,
    secured: bool,
    /// in, out, fault
    sequences: Seqs,
    /// per resource overrides (merged with the API's)
    resource_sequences: Vec<Seqs>,
    /// responses by status class (1xx … 5xx)
    responses: [metrics::Counter; 5],
}

#[derive(Clone, Debug, Default)]
struct Seqs {
    inflow: Option<String>,
    outflow: Option<String>,
    fault: Option<String>,
}

impl Seqs {
    fn any(&self) -> bool {
        self.inflow.is_some() || self.outflow.is_some() || self.fault.is_some()
    }
}

/// The gateway: configuration, routes, program store, client, extensions. Cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<Config>,
    router: Router,
    apis: Vec<ApiRuntime>,
    ext: Extensions,
    client: HttpClient,
    store: Arc<ProgramStore>,
    registry: Arc<dyn Registry>,
    invoker: Arc<HttpInvoker>,
    metrics: metrics::Registry,
    wire: bool,
    max_body: u64,
    replay_max_body: usize,
    limits: Limits,
    clock: Arc<dyn synaptic_engine::Clock>,
    /// Longest wait for a client's request body.
    body_timeout: Duration,
    access_log: bool,
    requests: metrics::Counter,
    faults: metrics::Counter,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("apis", &self.inner.apis.len())
            .field("ext", &self.inner.ext)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Build everything the configuration describes: program, client, extensions. The load
    /// report carries sequence diagnostics (warnings on success).
    pub async fn build(
        config: Config,
        opts: &ServeOptions,
    ) -> Result<(Gateway, LoadReport), StartError> {
        let config = Arc::new(config);
        let required = crate::config::referenced_sequences(&config);
        let dir = config.sequences_dir();
        let (store, report) =
            tokio::task::spawn_blocking(move || ProgramStore::open(dir, required))
                .await
                .map_err(|e| StartError::Io {
                    path: "sequences".into(),
                    source: std::io::Error::other(e.to_string()),
                })?;
        if !report.swapped {
            return Err(StartError::Sequences(Box::new(report)));
        }
        let extra_ca_pem = match &config.server.ca_file {
            Some(p) => {
                let path = config.resolve_path(p);
                Some(std::fs::read(&path).map_err(|source| StartError::Io {
                    path: path.display().to_string(),
                    source,
                })?)
            }
            None => None,
        };
        let client = proxy::build_client(&proxy::ClientOptions {
            pool_max_idle_per_host: config.server.pool_max_idle_per_host,
            pool_idle_timeout: crate::config::secs(config.server.pool_idle_timeout)
                .unwrap_or(Duration::from_secs(90)),
            extra_ca_pem,
        })?;
        let max_body = config.server.max_body_size;
        let invoker = Arc::new(HttpInvoker::new(
            client.clone(),
            config.default_timeout(),
            usize::try_from(max_body).unwrap_or(usize::MAX).max(1 << 20),
            opts.wire,
        ));
        let metrics = metrics::Registry::new();
        let ext = extensions::build(
            &config,
            &BuildContext {
                metrics: metrics.clone(),
            },
        )
        .await?;
        let registry = crate::registry::open(&config.registry_dir())?;
        let apis = config
            .api
            .iter()
            .enumerate()
            .map(|(i, a)| api_runtime(i, a, &config, &metrics))
            .collect();
        let requests = metrics.counter(
            "synaptic_requests_total",
            "Requests answered by the gateway",
            &[],
        );
        let faults = metrics.counter(
            "synaptic_faults_total",
            "Requests answered with a gateway fault (status >= 500)",
            &[],
        );
        let generation = store.current().generation;
        let store_for_gauge = store.clone();
        metrics.gauge_fn(
            "synaptic_program_generation",
            "Generation of the loaded sequences (increments on each reload)",
            &[],
            move || store_for_gauge.current().generation as f64,
        );
        let _ = generation;
        let replay_max_body = config.oauth.replay_max_body.unwrap_or(1 << 20);
        let inner = Inner {
            router: Router::new(&config.api),
            apis,
            ext,
            client,
            store,
            registry,
            invoker,
            metrics,
            wire: opts.wire,
            max_body,
            replay_max_body,
            limits: Limits {
                call_timeout: config.default_timeout(),
                ..Limits::default()
            },
            clock: Arc::new(SystemClock),
            body_timeout: config.default_timeout(),
            access_log: config.server.access_log,
            requests,
            faults,
            config,
        };
        Ok((
            Gateway {
                inner: Arc::new(inner),
            },
            report,
        ))
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.inner.config
    }
    pub fn metrics(&self) -> &metrics::Registry {
        &self.inner.metrics
    }
    pub fn program_store(&self) -> &Arc<ProgramStore> {
        &self.inner.store
    }
    pub fn client(&self) -> &HttpClient {
        &self.inner.client
    }

    /// Answer one request.
    ///
    /// Routing, faults found before sending and the request to the backend of a plain
    /// pass-through are decided synchronously ([`Gateway::dispatch`]); only the send is awaited
    /// here. Every other path (sequences, authorization, endpoint security, wire log, local
    /// services) runs as a boxed future: the future of this function is moved on every request,
    /// so it is kept small.
    pub async fn handle(
        &self,
        req: Request<Incoming>,
        peer: Option<SocketAddr>,
    ) -> Response<ResponseBody> {
        let start = tokio::time::Instant::now();
        let method = req.method().clone();
        // the request's URI (a cheap shared clone), formatted only when the line is written
        let log_uri = self.inner.access_log.then(|| req.uri().clone());
        let (step, api_idx) = self.dispatch(req, peer);
        let resp = match step {
            Step::Answer(r) => r,
            Step::Send(api, req) => self.send_plain(api, req).await,
            Step::Later(f) => f.await,
        };
        self.finish(&resp, api_idx, start, &method, log_uri.as_ref(), peer);
        resp
    }

    /// Count the response and write the access-log line.
    fn finish(
        &self,
        resp: &Response<ResponseBody>,
        api_idx: Option<usize>,
        start: tokio::time::Instant,
        method: &Method,
        log_uri: Option<&http::Uri>,
        peer: Option<SocketAddr>,
    ) {
        self.inner.requests.inc();
        let status = resp.status().as_u16();
        if status >= 500 {
            self.inner.faults.inc();
        }
        let api = api_idx.and_then(|i| self.inner.apis.get(i));
        if let Some(a) = api {
            let class = usize::from(status / 100).clamp(1, 5) - 1;
            a.responses[class].inc();
        }
        if let Some(u) = log_uri {
            tracing::info!(
                target: "synaptic::access",
                method = %method,
                path = %LogPath(u),
                status = status,
                ms = %Millis(start.elapsed()),
                api = %api.map(|a| &*a.name).unwrap_or("-"),
                peer = %OptAddr(peer),
            );
        }
    }

    /// Route a request and decide what answers it (see [`Gateway::handle`]).
    fn dispatch(
        &self,
        req: Request<Incoming>,
        peer: Option<SocketAddr>,
    ) -> (Step<'_>, Option<usize>) {
        let inner = &*self.inner;
        let raw_path = req.uri().path();
        // built-in endpoints
        if raw_path == "/health" && (req.method() == Method::GET || req.method() == Method::HEAD) {
            let body = serde_json::json!({
                "status": "UP",
                "generation": inner.store.current().generation,
            });
            return (answer(fault::json_response(StatusCode::OK, &body)), None);
        }
        if raw_path == "/metrics" && req.method() == Method::GET {
            let mut r = Response::new(Full::new(Bytes::from(inner.metrics.render())));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            return (answer(r), None);
        }
        // normalise once: local services, routing and authorization all see this path
        let norm = match path::normalize(raw_path) {
            Ok(p) => p,
            Err(e) => return (answer(fault::bad_path(e)), None),
        };
        for svc in &inner.ext.services {
            if svc.matches(norm.as_str()) {
                let svc = svc.as_ref();
                return (
                    Step::Later(Box::pin(self.local_service(svc, req, peer))),
                    None,
                );
            }
        }
        let Some((api_idx, rel)) = inner.router.route(norm.as_str()) else {
            return (answer(fault::not_found_api()), None);
        };
        let api = &inner.apis[api_idx];
        let name = Some(api_idx);
        // resource
        let mut vars = Vec::new();
        let mut seqs = &api.sequences;
        if !api.resources.is_empty() {
            match api.resources.find(req.method(), rel) {
                ResourceMatch::Found(i, v) => {
                    vars = v;
                    if let Some(s) = api.resource_sequences.get(i) {
                        seqs = s;
                    }
                }
                ResourceMatch::MethodNotAllowed(allowed) => {
                    return (answer(fault::method_not_allowed(&allowed)), name)
                }
                ResourceMatch::NotFound => return (answer(fault::not_found_resource()), name),
            }
        }
        // endpoint security of this API, borrowed (cloned only by the paths that keep it)
        let upstream = inner.ext.upstream.get(api.index).and_then(Option::as_ref);
        if !api.secured && !seqs.any() && upstream.is_none() && !inner.wire {
            // the plain pass-through: the backend request is built here, only sent later
            let (parts, body) = req.into_parts();
            return (self.plain_request(api, parts, body, rel), name);
        }
        let (parts, body) = req.into_parts();
        let streamed =
            !api.secured && seqs.inflow.is_none() && seqs.outflow.is_none() && !inner.wire;
        if streamed {
            // endpoint security and/or a fault sequence, no inbound authorization
            let ua = upstream.cloned();
            if let (Some(ua), None, true) =
                (&ua, &seqs.fault, hyper::body::Body::is_end_stream(&body))
            {
                // endpoint security alone, no body: the head is prepared here
                let (parts, url) = match self.prepare_head(api, parts, rel) {
                    Ok(x) => x,
                    Err(step) => return (step, name),
                };
                let fut = self.send_secured(api, ua.clone(), parts, url);
                return (Step::Later(Box::pin(fut)), name);
            }
            if self.streamable(ua.as_ref(), &parts.headers, &body) {
                let postfix = rest_postfix(rel, parts.uri.query());
                let fault_uri = seqs
                    .fault
                    .as_ref()
                    .map(|_| request_uri(norm.as_str(), &parts.uri));
                let fut = self.pass_through(api, seqs, parts, body, postfix, fault_uri, ua);
                return (Step::Later(Box::pin(fut)), name);
            }
        }
        let rel_len = rel.len();
        let req = BufferedReq::new(parts, norm.into_string(), rel_len, vars, peer);
        (
            Step::Later(Box::pin(self.dispatch_full(api, seqs, req, body))),
            name,
        )
    }

    /// Whether a request can be streamed to the backend: always without endpoint security; with
    /// it, when the body (if any) can be kept for a 401 replay (no body, or a Content-Length
    /// under the replay limit).
    fn streamable(
        &self,
        ua: Option<&Arc<dyn UpstreamAuth>>,
        headers: &HeaderMap,
        body: &Incoming,
    ) -> bool {
        let max = u64::try_from(self.inner.replay_max_body).unwrap_or(u64::MAX);
        ua.is_none()
            || hyper::body::Body::is_end_stream(body)
            || content_length(headers).is_some_and(|n| n <= max)
    }

    /// The head of a streamed request as the backend gets it (hop-by-hop headers removed, the
    /// backend's `Host`, its URL) and that URL; or the answer when there is nothing to send.
    // The `Err` is the response itself, on the rare path; the `Ok` (a request head) is as large.
    #[allow(clippy::result_large_err)]
    fn prepare_head<'a>(
        &self,
        api: &'a ApiRuntime,
        mut parts: http::request::Parts,
        rel: &str,
    ) -> Result<(http::request::Parts, String), Step<'a>> {
        let max = self.inner.max_body;
        if content_length(&parts.headers).is_some_and(|n| n > max) {
            return Err(answer(fault::too_large(max)));
        }
        let Some(ep) = &api.endpoint else {
            // nothing to send to and no sequence to answer: accepted, like Synapse
            return Err(Step::Answer(empty(StatusCode::ACCEPTED)));
        };
        let url = ep.url(&rest_postfix(rel, parts.uri.query()));
        let Ok(uri) = url.parse::<http::Uri>() else {
            return Err(answer(fault::bad_path(path::PathError::ForbiddenChar)));
        };
        proxy::strip_hop_by_hop(&mut parts.headers);
        parts.headers.insert(header::HOST, ep.host.clone());
        parts.uri = uri;
        parts.version = http::Version::HTTP_11;
        Ok((parts, url))
    }

    /// The backend request of a plain pass-through (no sequence, no authorization, no endpoint
    /// security, no wire log), body streamed; or the fault found while building it.
    fn plain_request<'a>(
        &self,
        api: &'a ApiRuntime,
        parts: http::request::Parts,
        body: Incoming,
        rel: &str,
    ) -> Step<'a> {
        match self.prepare_head(api, parts, rel) {
            Ok((parts, _)) => {
                let max = usize::try_from(self.inner.max_body).unwrap_or(usize::MAX);
                let body = Either::Left(Limited::new(body, max));
                Step::Send(api, Request::from_parts(parts, body))
            }
            Err(step) => step,
        }
    }

    /// Send a plain pass-through request and stream the answer back.
    async fn send_plain(
        &self,
        api: &ApiRuntime,
        req: Request<proxy::ClientBody>,
    ) -> Response<ResponseBody> {
        match proxy::send(&self.inner.client, req, api.timeout).await {
            Ok(resp) => streamed_response(resp),
            Err(e) => Box::pin(self.send_fault(api, &api.sequences, None, &e)).await,
        }
    }

    /// Every path but the plain pass-through: inbound authorization, then the streamed
    /// pass-through (fault sequence, endpoint security) or the buffered, mediated path.
    async fn dispatch_full(
        &self,
        api: &ApiRuntime,
        seqs: &Seqs,
        mut req: BufferedReq,
        body: Incoming,
    ) -> Response<ResponseBody> {
        let inner = &*self.inner;
        let parts = &mut req.parts;
        let rel = req.norm.get(req.rel_at..).unwrap_or_default();
        // the gateway's own authorization server
        if api.secured {
            if parts.uri.query().is_some_and(query_has_access_token) {
                return full(fault::token_in_query());
            }
            let Some(inb) = &inner.ext.inbound else {
                return full(fault::internal("authorization server not available"));
            };
            match inb
                .check(&api.name, &parts.method, rel, &parts.headers)
                .await
            {
                Ok(p) => req.principal = Some(p),
                Err(r) => return full(r),
            }
            if inner.wire {
                // the request head as received, for the wire log
                req.wire_headers = Some(parts.headers.clone());
            }
            // the client's token is not for the backend
            parts.headers.remove(header::AUTHORIZATION);
            proxy::strip_method_override(&mut parts.headers);
        }
        req.query = parts.uri.query().map(str::to_string);
        let ua = inner.ext.upstream.get(api.index).and_then(|u| u.clone());
        let streamable = self.streamable(ua.as_ref(), &parts.headers, &body);
        if seqs.inflow.is_none() && seqs.outflow.is_none() && streamable && !inner.wire {
            let postfix = rest_postfix(rel, req.query.as_deref());
            let fault_uri = seqs
                .fault
                .as_ref()
                .map(|_| request_uri(&req.norm, &req.parts.uri));
            self.pass_through(api, seqs, req.parts, body, postfix, fault_uri, ua)
                .await
        } else {
            Box::pin(self.mediated(api, seqs, ua, req, body)).await
        }
    }

    async fn local_service(
        &self,
        svc: &dyn crate::hooks::LocalService,
        req: Request<Incoming>,
        peer: Option<SocketAddr>,
    ) -> Response<ResponseBody> {
        let (parts, body) = req.into_parts();
        let body = match self.read_body(&parts.headers, body).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        if self.inner.wire {
            wire::log(
                ">>",
                "client",
                &request_line(&parts.method, &parts.uri),
                &parts.headers,
                &body,
            );
        }
        let resp = svc
            .handle(parts.method, parts.uri, parts.headers, body, peer)
            .await;
        if self.inner.wire {
            let (p, b) = resp.into_parts();
            let bytes = http_body_util::BodyExt::collect(b)
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            wire::log("<<", "client", &status_line(p.status), &p.headers, &bytes);
            return Response::from_parts(p, Either::Right(Full::new(bytes)));
        }
        full(resp)
    }

    /// Read a client body under the limit (413 above it).
    async fn read_body(
        &self,
        headers: &HeaderMap,
        body: Incoming,
    ) -> Result<Bytes, Response<ResponseBody>> {
        let max = self.inner.max_body;
        if content_length(headers).is_some_and(|n| n > max) {
            return Err(full(fault::too_large(max)));
        }
        if hyper::body::Body::is_end_stream(&body) {
            return Ok(Bytes::new());
        }
        // a client that stops sending its body must not hold the request forever
        let read = proxy::read_limited(body, usize::try_from(max).unwrap_or(usize::MAX));
        match tokio::time::timeout(self.inner.body_timeout, read).await {
            Err(_) => Err(full(fault::body_timeout())),
            Ok(Ok(b)) => Ok(b),
            Ok(Err(proxy::ReadError::TooLarge)) => Err(full(fault::too_large(max))),
            Ok(Err(proxy::ReadError::Io(_))) => Err(full(fault::bad_body())),
        }
    }

    /// Send a prepared head (and the kept body) with endpoint security: credentials from the
    /// hook, and once more with fresh ones after a 401 the hook asks to replay. `Err` is the
    /// hook's own answer (e.g. 503 when no token can be had).
    async fn send_authorized(
        &self,
        api: &ApiRuntime,
        ua: &Arc<dyn UpstreamAuth>,
        mut parts: http::request::Parts,
        kept: Bytes,
        url: &str,
    ) -> Result<Result<Response<Incoming>, SendError>, Response<ResponseBody>> {
        let client = &self.inner.client;
        // the head as received, for a replay: the hook reads the caller's credentials in it
        let (method, uri, mut headers) = (
            parts.method.clone(),
            parts.uri.clone(),
            parts.headers.clone(),
        );
        let ticket = ua
            .authorize_head(&parts.method, url, &mut parts.headers)
            .await
            .map_err(full)?;
        let req = Request::from_parts(parts, Either::Right(Full::new(kept.clone())));
        let sent = proxy::send(client, req, api.timeout).await;
        let replay = match &sent {
            Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED => {
                ua.unauthorized(&ticket, resp.headers()).await
            }
            _ => false,
        };
        if !replay {
            return Ok(sent);
        }
        drop(sent);
        ua.authorize_head(&method, url, &mut headers)
            .await
            .map_err(full)?;
        let mut again = Request::new(Either::Right(Full::new(kept)));
        *again.method_mut() = method;
        *again.uri_mut() = uri;
        *again.headers_mut() = headers;
        Ok(proxy::send(client, again, api.timeout).await)
    }

    /// A request without a body to an API whose only feature is endpoint security.
    async fn send_secured(
        &self,
        api: &ApiRuntime,
        ua: Arc<dyn UpstreamAuth>,
        parts: http::request::Parts,
        url: String,
    ) -> Response<ResponseBody> {
        match self
            .send_authorized(api, &ua, parts, Bytes::new(), &url)
            .await
        {
            Err(r) => r,
            Ok(Ok(resp)) => streamed_response(resp),
            Ok(Err(e)) => Box::pin(self.send_fault(api, &api.sequences, None, &e)).await,
        }
    }

    // === pass-through: streamed both ways ===

    #[allow(clippy::too_many_arguments)]
    async fn pass_through(
        &self,
        api: &ApiRuntime,
        seqs: &Seqs,
        mut parts: http::request::Parts,
        body: Incoming,
        postfix: String,
        fault_uri: Option<String>,
        ua: Option<Arc<dyn UpstreamAuth>>,
    ) -> Response<ResponseBody> {
        let inner = &*self.inner;
        let ua = ua.as_ref();
        let max = inner.max_body;
        if content_length(&parts.headers).is_some_and(|n| n > max) {
            return full(fault::too_large(max));
        }
        let Some(ep) = &api.endpoint else {
            // nothing to send to and no sequence to answer: accepted, like Synapse
            return empty(StatusCode::ACCEPTED);
        };
        let url = ep.url(&postfix);
        let uri: http::Uri = match url.parse() {
            Ok(u) => u,
            Err(_) => return full(fault::bad_path(path::PathError::ForbiddenChar)),
        };
        // a copy of the request head for the fault sequence, only when there is one
        let fault_head = seqs
            .fault
            .as_ref()
            .map(|_| (parts.method.clone(), parts.headers.clone()));
        proxy::strip_hop_by_hop(&mut parts.headers);
        parts.headers.insert(header::HOST, ep.host.clone());
        parts.uri = uri;
        parts.version = http::Version::HTTP_11;
        let sent = match ua {
            None => {
                let body = Limited::new(body, usize::try_from(max).unwrap_or(usize::MAX));
                let req = Request::from_parts(parts, Either::Left(body));
                proxy::send(&inner.client, req, api.timeout).await
            }
            Some(ua) => {
                // endpoint security: the body (none, or one under the replay limit) is read
                // here and kept to replay the request once after a 401
                let kept = if hyper::body::Body::is_end_stream(&body) {
                    Bytes::new()
                } else {
                    match Box::pin(self.read_body(&parts.headers, body)).await {
                        Ok(b) => b,
                        Err(r) => return r,
                    }
                };
                match self.send_authorized(api, ua, parts, kept, &url).await {
                    Ok(sent) => sent,
                    Err(r) => return r,
                }
            }
        };
        match sent {
            Ok(resp) => streamed_response(resp),
            Err(e) => {
                let mut ctx = fault_head.map(|(m, h)| {
                    let uri = fault_uri.as_deref().unwrap_or_default();
                    MessageContext::from_request(m, uri, h, Bytes::new(), Some(&api.context))
                });
                Box::pin(self.send_fault(api, seqs, ctx.as_mut(), &e)).await
            }
        }
    }

    /// Answer a backend failure: the fault sequence (when there is one and a context) may build
    /// the response; else the JSON fault for it.
    async fn send_fault(
        &self,
        api: &ApiRuntime,
        seqs: &Seqs,
        ctx: Option<&mut MessageContext>,
        e: &SendError,
    ) -> Response<ResponseBody> {
        let (code, msg, default) = match e {
            SendError::Connect(m) => {
                tracing::warn!(api = %api.name, error = %m, "backend unreachable");
                (
                    fault::code::BACKEND_UNREACHABLE,
                    "Error connecting to the backend",
                    fault::backend_unreachable(),
                )
            }
            SendError::Timeout => {
                tracing::warn!(api = %api.name, "backend timeout");
                (
                    fault::code::BACKEND_TIMEOUT,
                    "Backend timeout",
                    fault::backend_timeout(),
                )
            }
            SendError::BodyTooLarge => return full(fault::too_large(self.inner.max_body)),
            SendError::Failed(m) => {
                tracing::warn!(api = %api.name, error = %m, "backend failure");
                (
                    fault::code::BACKEND_SEND,
                    "Error sending to the backend",
                    fault::backend_failed(),
                )
            }
        };
        if let (Some(fseq), Some(ctx)) = (&seqs.fault, ctx) {
            let status = default.status();
            ctx.properties
                .default
                .insert("ERROR_CODE".into(), Value::Integer(code));
            ctx.properties
                .default
                .insert("ERROR_MESSAGE".into(), Value::String(msg.into()));
            ctx.properties
                .axis2
                .insert("HTTP_SC".into(), Value::Integer(i64::from(status.as_u16())));
            if let Some(r) = self.run_fault_sequence(api, fseq, ctx, true).await {
                return r;
            }
        }
        full(default)
    }

    async fn run_fault_sequence(
        &self,
        api: &ApiRuntime,
        fseq: &str,
        ctx: &mut MessageContext,
        request_path: bool,
    ) -> Option<Response<ResponseBody>> {
        let engine = self.engine()?;
        if !engine.program.has_sequence(fseq) {
            return None;
        }
        match engine.mediate(fseq, None, ctx).await {
            Ok(Flow::Respond) => Some(self.ctx_response(ctx, request_path)),
            Ok(Flow::Drop) => Some(empty(StatusCode::ACCEPTED)),
            Ok(Flow::Continue) => None,
            Err(e) => {
                log_mediation_error(api, &e, &self.inner.store.current().sources);
                None
            }
        }
    }

    fn engine(&self) -> Option<Engine> {
        let loaded = self.inner.store.current();
        let program = loaded.program.clone()?;
        Some(Engine {
            program,
            invoker: self.inner.invoker.clone(),
            registry: self.inner.registry.clone(),
            clock: self.inner.clock.clone(),
            limits: self.inner.limits,
        })
    }

    // === buffered: sequences, endpoint security, wire log ===

    async fn mediated(
        &self,
        api: &ApiRuntime,
        seqs: &Seqs,
        ua: Option<Arc<dyn UpstreamAuth>>,
        req: BufferedReq,
        body: Incoming,
    ) -> Response<ResponseBody> {
        let inner = &*self.inner;
        let BufferedReq {
            parts,
            norm,
            query,
            rel_at,
            vars,
            principal,
            peer,
            wire_headers,
        } = req;
        let body = match self.read_body(&parts.headers, body).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        let peer_s = if inner.wire {
            peer.map(|p| p.to_string()).unwrap_or_default()
        } else {
            String::new()
        };
        if inner.wire {
            wire::log(
                ">>",
                &peer_s,
                &request_line(&parts.method, &parts.uri),
                wire_headers.as_ref().unwrap_or(&parts.headers),
                &body,
            );
        }
        let needs_ctx = seqs.inflow.is_some() || seqs.outflow.is_some();
        let resp = if !needs_ctx {
            // endpoint security and/or wire log only
            let Some(ep) = &api.endpoint else {
                return empty(StatusCode::ACCEPTED);
            };
            let mut headers = parts.headers;
            proxy::strip_hop_by_hop(&mut headers);
            let rel = norm.get(rel_at..).unwrap_or_default();
            let out = OutboundRequest {
                method: parts.method,
                url: ep.url(&rest_postfix(rel, query.as_deref())),
                headers,
                body,
                timeout: Some(api.timeout),
            };
            match self.exchange(api, ua.as_ref(), out, None).await {
                Ok(r) => self.stream_back(r, &peer_s).await,
                Err(UpErr::Hook(r)) => full(r),
                Err(UpErr::Send(e)) => self.send_fault(api, seqs, None, &e).await,
                Err(UpErr::Build(m)) => full(fault::internal(&m)),
            }
        } else {
            self.run_flows(
                api, seqs, ua, parts, body, norm, query, vars, principal, &peer_s,
            )
            .await
        };
        if inner.wire {
            self.wire_response(resp, &peer_s).await
        } else {
            resp
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_flows(
        &self,
        api: &ApiRuntime,
        seqs: &Seqs,
        ua: Option<Arc<dyn UpstreamAuth>>,
        parts: http::request::Parts,
        body: Bytes,
        norm: String,
        query: Option<String>,
        vars: Vec<(String, String)>,
        principal: Option<Principal>,
        peer: &str,
    ) -> Response<ResponseBody> {
        let Some(engine) = self.engine() else {
            let missing = seqs
                .inflow
                .as_deref()
                .or(seqs.outflow.as_deref())
                .unwrap_or("");
            return full(fault::sequence_missing(missing));
        };
        for s in [&seqs.inflow, &seqs.outflow].into_iter().flatten() {
            if !engine.program.has_sequence(s) {
                return full(fault::sequence_missing(s));
            }
        }
        let fault_seq = seqs
            .fault
            .as_deref()
            .filter(|f| engine.program.has_sequence(f));
        // the request URI as received (normalised path and query), built in `norm`'s buffer
        let mut uri = norm;
        if let Some(q) = &query {
            uri.push('?');
            uri.push_str(q);
        }
        let mut ctx = MessageContext::from_request(
            parts.method,
            &uri,
            parts.headers,
            body,
            Some(&api.context),
        );
        for (k, v) in vars {
            ctx.properties
                .default
                .insert(format!("uri.var.{k}"), Value::String(v));
        }
        if let Some(p) = principal {
            let d = &mut ctx.properties.default;
            d.insert("oauth.client_id".into(), Value::String(p.client_id));
            if let Some(u) = p.username {
                d.insert("oauth.username".into(), Value::String(u));
            }
            d.insert("oauth.scope".into(), Value::String(p.scopes.join(" ")));
        }
        ctx.properties.default.insert(
            "SYNAPSE_REST_API".into(),
            Value::String(api.name.to_string()),
        );
        // in-flow
        if let Some(inseq) = &seqs.inflow {
            match engine.mediate(inseq, fault_seq, &mut ctx).await {
                Ok(Flow::Continue) => {}
                Ok(Flow::Respond) => return self.ctx_response(&mut ctx, true),
                Ok(Flow::Drop) => return empty(StatusCode::ACCEPTED),
                Err(e) => {
                    log_mediation_error(api, &e, &self.inner.store.current().sources);
                    return full(fault::mediation(&e));
                }
            }
        }
        // endpoint
        let Some(ep) = &api.endpoint else {
            return empty(StatusCode::ACCEPTED);
        };
        let mut out = match ctx.to_outbound(&ep.address) {
            Ok(o) => o,
            Err(e) => {
                log_mediation_error(api, &e, &self.inner.store.current().sources);
                return full(fault::mediation(&e));
            }
        };
        if out.timeout.is_none() {
            out.timeout = Some(api.timeout);
        }
        let values = ua.as_ref().and_then(|ua| ua.evaluate(&ctx));
        let resp = match self.exchange(api, ua.as_ref(), out, values).await {
            Ok(r) => r,
            Err(UpErr::Hook(r)) => return full(r),
            Err(UpErr::Build(m)) => return full(fault::internal(&m)),
            Err(UpErr::Send(e)) => return self.send_fault(api, seqs, Some(&mut ctx), &e).await,
        };
        // out-flow
        let Some(outseq) = &seqs.outflow else {
            return self.stream_back(resp, peer).await;
        };
        let (mut p, b) = resp.into_parts();
        let limit = usize::try_from(self.inner.max_body)
            .unwrap_or(usize::MAX)
            .max(1 << 20);
        let body = match proxy::read_limited(b, limit).await {
            Ok(b) => b,
            Err(_) => return full(fault::backend_failed()),
        };
        proxy::strip_hop_by_hop(&mut p.headers);
        ctx.set_response(InboundResponse {
            status: p.status.as_u16(),
            headers: p.headers,
            body,
        });
        match engine.mediate(outseq, fault_seq, &mut ctx).await {
            Ok(Flow::Drop) => empty(StatusCode::ACCEPTED),
            Ok(_) => self.ctx_response(&mut ctx, false),
            Err(e) => {
                log_mediation_error(api, &e, &self.inner.store.current().sources);
                full(fault::mediation(&e))
            }
        }
    }

    /// Send to the backend with endpoint security: authorize, send, and on a 401 for which the
    /// hook asks a replay, authorize again and resend once.
    async fn exchange(
        &self,
        api: &ApiRuntime,
        ua: Option<&Arc<dyn UpstreamAuth>>,
        mut out: OutboundRequest,
        values: Option<crate::hooks::RequestValues>,
    ) -> Result<Response<Incoming>, UpErr> {
        let timeout = out.timeout.unwrap_or(api.timeout);
        let Some(ua) = ua else {
            return self.send_out(out, timeout).await;
        };
        let replayable = out.body.len() <= self.inner.replay_max_body;
        let original = replayable.then(|| out.clone());
        let ticket: AuthTicket = ua
            .authorize_with(&mut out, values.as_ref())
            .await
            .map_err(UpErr::Hook)?;
        let resp = self.send_out(out, timeout).await?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let replay = ua.unauthorized(&ticket, resp.headers()).await;
        let (true, Some(mut again)) = (replay, original) else {
            return Ok(resp);
        };
        drop(resp);
        ua.authorize_with(&mut again, values.as_ref())
            .await
            .map_err(UpErr::Hook)?;
        self.send_out(again, timeout).await
    }

    async fn send_out(
        &self,
        out: OutboundRequest,
        timeout: Duration,
    ) -> Result<Response<Incoming>, UpErr> {
        let body = self.inner.wire.then(|| out.body.clone());
        let req = invoker::build_request(out).map_err(UpErr::Build)?;
        if let Some(body) = body {
            // logged as sent: hop-by-hop headers removed, the backend's Host
            let line = request_line(req.method(), req.uri());
            wire::log("<<", "backend", &line, req.headers(), &body);
        }
        let resp = proxy::send(&self.inner.client, req, timeout)
            .await
            .map_err(UpErr::Send)?;
        if self.inner.wire {
            wire::log(
                ">>",
                "backend",
                &status_line(resp.status()),
                resp.headers(),
                b"",
            );
        }
        Ok(resp)
    }

    async fn stream_back(&self, resp: Response<Incoming>, _peer: &str) -> Response<ResponseBody> {
        let (mut p, b) = resp.into_parts();
        proxy::strip_hop_by_hop(&mut p.headers);
        Response::from_parts(p, Either::Left(b))
    }

    async fn wire_response(
        &self,
        resp: Response<ResponseBody>,
        peer: &str,
    ) -> Response<ResponseBody> {
        let (p, b) = resp.into_parts();
        let bytes = match proxy::read_limited(b, usize::MAX).await {
            Ok(b) => b,
            Err(_) => return full(fault::backend_failed()),
        };
        wire::log("<<", peer, &status_line(p.status), &p.headers, &bytes);
        Response::from_parts(p, Either::Right(Full::new(bytes)))
    }

    /// The response a sequence built (`respond`, or the out-flow's message).
    fn ctx_response(&self, ctx: &mut MessageContext, request_path: bool) -> Response<ResponseBody> {
        let status = ctx
            .status
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::OK);
        let (body, ct) = match ctx.body_bytes() {
            Ok(x) => x,
            Err(e) => return full(fault::mediation(&e)),
        };
        let mut headers = std::mem::take(&mut ctx.headers);
        proxy::strip_hop_by_hop(&mut headers);
        headers.remove(header::CONTENT_LENGTH);
        if request_path {
            // responding on the request path: the transport headers are the request's
            for h in REQUEST_ONLY_HEADERS {
                headers.remove(*h);
            }
        }
        if let Some(ct) = ct.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::CONTENT_TYPE, ct);
        }
        let mut r = Response::new(Either::Right(Full::new(body)));
        *r.status_mut() = status;
        *r.headers_mut() = headers;
        r
    }
}

/// Request headers never echoed back when a sequence responds on the request path.
const REQUEST_ONLY_HEADERS: &[&str] = &[
    "host",
    "authorization",
    "proxy-authorization",
    "cookie",
    "accept",
    "accept-encoding",
    "accept-language",
    "user-agent",
    "expect",
    "origin",
    "referer",
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
    "if-range",
    "range",
    "content-encoding",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "forwarded",
];

/// What answers a request, decided by [`Gateway::dispatch`].
enum Step<'a> {
    /// Answered without I/O (a fault, a built-in endpoint).
    Answer(Response<ResponseBody>),
    /// A plain pass-through: send this to the API's backend.
    Send(&'a ApiRuntime, Request<proxy::ClientBody>),
    /// Everything else.
    Later(std::pin::Pin<Box<dyn Future<Output = Response<ResponseBody>> + Send + 'a>>),
}

fn answer(r: Response<Full<Bytes>>) -> Step<'static> {
    Step::Answer(full(r))
}

impl BufferedReq {
    /// `rel_len`: the length of the path after the API context, at the end of `norm`.
    fn new(
        parts: http::request::Parts,
        norm: String,
        rel_len: usize,
        vars: Vec<(String, String)>,
        peer: Option<SocketAddr>,
    ) -> Self {
        BufferedReq {
            parts,
            rel_at: norm.len() - rel_len,
            norm,
            query: None,
            vars,
            principal: None,
            peer,
            wire_headers: None,
        }
    }
}

/// A backend's response streamed back, without its hop-by-hop headers.
fn streamed_response(resp: Response<Incoming>) -> Response<ResponseBody> {
    let (mut p, b) = resp.into_parts();
    proxy::strip_hop_by_hop(&mut p.headers);
    Response::from_parts(p, Either::Left(b))
}

/// The request URI as a fault sequence sees it: the normalised path and the query.
fn request_uri(norm: &str, uri: &http::Uri) -> String {
    match uri.query() {
        Some(q) => format!("{norm}?{q}"),
        None => norm.to_string(),
    }
}

struct BufferedReq {
    parts: http::request::Parts,
    norm: String,
    query: Option<String>,
    /// Where the path relative to the API context starts in `norm`.
    rel_at: usize,
    vars: Vec<(String, String)>,
    principal: Option<Principal>,
    peer: Option<SocketAddr>,
    wire_headers: Option<HeaderMap>,
}

enum UpErr {
    Hook(HookResponse),
    Send(SendError),
    Build(String),
}

fn api_runtime(
    index: usize,
    a: &ApiConfig,
    config: &Config,
    metrics: &metrics::Registry,
) -> ApiRuntime {
    let responses = ["1xx", "2xx", "3xx", "4xx", "5xx"].map(|class| {
        metrics.counter(
            "synaptic_api_responses_total",
            "Responses of each API by status class",
            &[("api", a.name.as_str()), ("class", class)],
        )
    });
    let api_seqs = Seqs {
        inflow: a.in_sequence.clone(),
        outflow: a.out_sequence.clone(),
        fault: a.fault_sequence.clone(),
    };
    let resource_sequences = a
        .resource
        .iter()
        .map(|r| Seqs {
            inflow: r.in_sequence.clone().or_else(|| a.in_sequence.clone()),
            outflow: r.out_sequence.clone().or_else(|| a.out_sequence.clone()),
            fault: r
                .fault_sequence
                .clone()
                .or_else(|| a.fault_sequence.clone()),
        })
        .collect();
    let _ = Seqs::any;
    ApiRuntime {
        index,
        name: Arc::from(a.name.as_str()),
        context: crate::routing::context_key(&a.context).to_string(),
        endpoint: a.endpoint.as_deref().and_then(|e| Endpoint::parse(e).ok()),
        timeout: config.api_timeout(a),
        resources: ResourceTable::for_api(a),
        secured: a.is_oauth2_secured(),
        sequences: api_seqs,
        resource_sequences,
        responses,
    }
}

fn log_mediation_error(api: &ApiRuntime, e: &MediationError, sources: &synaptic_diag::SourceMap) {
    let at =
        e.at.map(|s| {
            let (l, c) = sources.line_col(s);
            format!("{}:{l}:{c}", sources.name(s.source))
        })
        .unwrap_or_default();
    tracing::warn!(
        api = %api.name,
        code = e.code,
        origin = ?e.origin,
        at = %at,
        "mediation fault: {}",
        e.message
    );
}

/// Displays an optional address without allocating (`-` when absent).
struct OptAddr(Option<SocketAddr>);

impl std::fmt::Display for OptAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(a) => a.fmt(f),
            None => f.write_str("-"),
        }
    }
}

/// The access log's `path`: the path, and the query with its values redacted (as
/// [`wire::redact_query`]), written straight into the log line.
struct LogPath<'a>(&'a http::Uri);

impl std::fmt::Display for LogPath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.path())?;
        let Some(q) = self.0.query() else {
            return Ok(());
        };
        f.write_str("?")?;
        for (i, kv) in q.split('&').enumerate() {
            if i > 0 {
                f.write_str("&")?;
            }
            match kv.split_once('=') {
                Some((k, _)) => {
                    f.write_str(k)?;
                    f.write_str("=…")?;
                }
                None => f.write_str(kv)?,
            }
        }
        Ok(())
    }
}

/// A duration in milliseconds with two decimals (`1.25`), without floating point.
struct Millis(Duration);

impl std::fmt::Display for Millis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // hundredths of a millisecond, rounded half up
        let h = (self.0.as_nanos() + 5_000) / 10_000;
        write!(f, "{}.{:02}", h / 100, h % 100)
    }
}

/// The path relative to the API context, with the query: what the backend URL gets appended.
fn rest_postfix(rel: &str, query: Option<&str>) -> String {
    match query {
        Some(q) => format!("{rel}?{q}"),
        None => rel.to_string(),
    }
}

fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn full(r: Response<Full<Bytes>>) -> Response<ResponseBody> {
    r.map(Either::Right)
}

fn empty(status: StatusCode) -> Response<ResponseBody> {
    let mut r = Response::new(Either::Right(Full::new(Bytes::new())));
    *r.status_mut() = status;
    r
}

fn request_line(m: &Method, uri: &http::Uri) -> String {
    match uri.query() {
        Some(q) => format!("{m} {}?{} HTTP/1.1", uri.path(), wire::redact_form(q)),
        None => format!("{m} {} HTTP/1.1", uri.path()),
    }
}

fn status_line(s: StatusCode) -> String {
    format!(
        "HTTP/1.1 {} {}",
        s.as_u16(),
        s.canonical_reason().unwrap_or("")
    )
}

// ===== running =====

/// A started gateway.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    gateway: Gateway,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }
    /// Stop accepting, let requests in flight finish (up to the grace period), then return.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
    /// Wait until the server stops (after a shutdown signal passed to [`start_with_signal`]).
    pub async fn wait(mut self) {
        let _ = (&mut self.task).await;
    }
}

/// Build and start a gateway; it stops on [`Running::shutdown`].
pub async fn start(
    config: Config,
    opts: ServeOptions,
) -> Result<(Running, LoadReport), StartError> {
    start_with_signal(config, opts, std::future::pending()).await
}

/// Build and start a gateway that also stops when `signal` completes.
pub async fn start_with_signal(
    config: Config,
    opts: ServeOptions,
    signal: impl Future<Output = ()> + Send + 'static,
) -> Result<(Running, LoadReport), StartError> {
    let addr = match opts.listen {
        Some(a) => a,
        None => config
            .listen_addr()
            .ok_or_else(|| StartError::BadListen(config.server.listen.clone()))?,
    };
    let watch = opts.watch.unwrap_or(config.server.watch);
    let grace = Duration::from_secs_f64(config.server.shutdown_grace.clamp(0.0, 3600.0));
    let (gateway, report) = Gateway::build(config, &opts).await?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind {
            addr: addr.to_string(),
            source,
        })?;
    let local = listener.local_addr().map_err(|source| StartError::Bind {
        addr: addr.to_string(),
        source,
    })?;
    let watcher = watch.then(|| reload::watch(gateway.program_store().clone()));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let g = gateway.clone();
    let task = tokio::spawn(async move {
        let stop = async move {
            tokio::select! {
                _ = rx => {}
                _ = signal => {}
            }
        };
        serve(g, listener, stop, grace).await;
        drop(watcher);
    });
    Ok((
        Running {
            addr: local,
            gateway,
            shutdown: Some(tx),
            task,
        },
        report,
    ))
}

/// The accept loop. Returns after `stop` completes and connections have drained (or `grace`
/// has passed).
pub async fn serve(
    gateway: Gateway,
    listener: TcpListener,
    stop: impl Future<Output = ()>,
    grace: Duration,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .keep_alive(true);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let g = gateway.clone();
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let g = g.clone();
                    async move { Ok::<_, Infallible>(g.handle(req, Some(peer)).await) }
                });
                let conn = builder.serve_connection(TokioIo::new(stream), svc).into_owned();
                let fut = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = fut.await {
                        tracing::debug!(error = %e, "connection error");
                    }
                });
            }
            _ = &mut stop => {
                tracing::info!("shutting down: waiting for requests in flight");
                break;
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period over; closing remaining connections");
    }
}

/// Whether a query string carries an `access_token` parameter (any case of its escapes).
fn query_has_access_token(query: &str) -> bool {
    form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "access_token")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_log_path_redacts_query_values_like_the_wire_log() {
        for s in [
            "/a/b",
            "/a?access_token=abc&x=1&flag",
            "/a?",
            "/a?x=1&&y",
            "/?=v&k=",
        ] {
            let u: http::Uri = s.parse().expect("uri");
            let old = match u.query() {
                Some(q) => format!("{}?{}", u.path(), wire::redact_query(q)),
                None => u.path().to_string(),
            };
            assert_eq!(LogPath(&u).to_string(), old, "{s}");
        }
    }

    #[test]
    fn access_log_millis_has_two_decimals() {
        assert_eq!(Millis(Duration::from_micros(1_234)).to_string(), "1.23");
        assert_eq!(Millis(Duration::from_micros(1_236)).to_string(), "1.24");
        assert_eq!(Millis(Duration::from_micros(5)).to_string(), "0.01");
        assert_eq!(Millis(Duration::ZERO).to_string(), "0.00");
        assert_eq!(
            Millis(Duration::from_millis(12_345)).to_string(),
            "12345.00"
        );
        assert_eq!(
            Millis(Duration::from_micros(999_996)).to_string(),
            "1000.00"
        );
    }
}
