//! The server: the gateway's shared state, the current [`Plan`], the accept loop (hyper-util
//! auto builder) and graceful shutdown. The request pipeline itself is in
//! [`crate::pipeline`]; the backend side in [`crate::upstream`].

use crate::config::Config;
use crate::extensions::{self, BuildContext, ExtensionError, Extensions};
use crate::invoker::HttpInvoker;
use crate::metrics;
use crate::pipeline::Step;
use crate::plan::{self, Plan, PlanInput};
use crate::proxy::{self, HttpClient, ResponseBody};
use crate::reload::{self, LoadReport, ProgramStore};
use crate::upstream::Upstream;
use arc_swap::ArcSwap;
use http::{Method, Request, Response};
use hyper::body::Incoming;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use synaptic_diag::Diagnostic;
use synaptic_engine::SystemClock;
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
    /// Override `[server] listen_tls` (only used when `[server.tls]` is configured).
    pub listen_tls: Option<SocketAddr>,
    /// The configuration file: watched and reloaded (with the sequences) on change and on
    /// `SIGHUP`. Without it only the sequences folder is reloaded.
    pub config_path: Option<PathBuf>,
    /// Refuse to start when any artifact of the sequences folder has an error (by default
    /// the artifacts that compile are deployed and the others reported).
    pub strict: bool,
}

/// What the gateway knows of the connection a request came on; a request extension set by
/// the accept loop.
#[derive(Clone, Debug, Default)]
pub struct ConnInfo {
    /// The request came over TLS.
    pub tls: bool,
    /// The subject of the client certificate the TLS handshake verified (RFC 4514 text).
    pub client_subject: Option<Arc<str>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("sequences do not load")]
    Sequences(Box<LoadReport>),
    #[error("the configuration does not compile ({} error(s))", .0.iter().filter(|d| d.is_error()).count())]
    Plan(Vec<Diagnostic>),
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
    #[error("TLS: {0}")]
    Tls(crate::tls::TlsError),
    #[error("cannot open the registry")]
    Registry(#[from] synaptic_registry::RegistryError),
    #[error(transparent)]
    Telemetry(#[from] crate::telemetry::TelemetryError),
    #[error("{0}")]
    SharedState(#[from] synaptic_engine::StateError),
}

/// The gateway: the current plan, the upstream stack, extensions. Cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// The plan requests start on; swapped whole on reload.
    pub(crate) plan: ArcSwap<Plan>,
    /// The configuration the gateway started with (what needs a restart is compared to it).
    pub(crate) started: Arc<Config>,
    pub(crate) config_path: Option<PathBuf>,
    pub(crate) ext: Extensions,
    pub(crate) upstream: Upstream,
    pub(crate) store: Arc<ProgramStore>,
    pub(crate) registry: Arc<dyn Registry>,
    pub(crate) invoker: Arc<HttpInvoker>,
    pub(crate) metrics: metrics::Registry,
    pub(crate) wire: bool,
    pub(crate) clock: Arc<dyn synaptic_engine::Clock>,
    /// Rate counters and the response cache (memory, or Redis with `[redis]`).
    pub(crate) state: Arc<dyn synaptic_engine::SharedState>,
    pub(crate) requests: metrics::Counter,
    pub(crate) faults: metrics::Counter,
    /// One reload at a time.
    pub(crate) reloading: tokio::sync::Mutex<()>,
    /// Told when a reload installs a new plan (the message processors restart on it).
    pub(crate) processors_changed: tokio::sync::Notify,
    /// Where sequences run: off the I/O threads, a bounded number at once, each within its
    /// budget.
    pub(crate) mediation: crate::pipeline::MediationSlots,
    /// The HTTPS listener's port, once it is bound (plain requests to the authorization server
    /// are redirected there).
    pub(crate) tls_port: std::sync::OnceLock<u16>,
    /// The HTTP listener's port, once it is bound (the generated WSDLs of proxies give it).
    pub(crate) http_port: std::sync::OnceLock<u16>,
    /// `[telemetry]`: the tracer requests are traced with (read at start).
    pub(crate) telemetry: Option<crate::telemetry::Telemetry>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("generation", &self.inner.plan.load().generation)
            .field("ext", &self.inner.ext)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Build everything the configuration describes: program, plan, client, extensions. The
    /// load report carries sequence diagnostics (warnings on success).
    pub async fn build(
        config: Config,
        opts: &ServeOptions,
    ) -> Result<(Gateway, LoadReport), StartError> {
        let config = Arc::new(config);
        let read_timeout = config.limits.backend_read();
        let mediation = crate::pipeline::MediationSlots::new(&config.limits);
        let required = crate::config::referenced_sequences(&config);
        let dir = config.sequences_dir();
        let strict = opts.strict;
        let deploy = synaptic_engine::DeployValues(config.configurables.clone());
        let settings = crate::reload::LoadSettings::of(&config);
        let (store, report) = tokio::task::spawn_blocking(move || {
            ProgramStore::open(dir, required, strict, deploy, settings)
        })
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
        let clients = proxy::build_clients(&proxy::ClientOptions {
            pool_max_idle_per_host: config.server.pool_max_idle_per_host,
            pool_idle_timeout: crate::config::secs(config.server.pool_idle_timeout)
                .unwrap_or(Duration::from_secs(90)),
            extra_ca_pem,
        })?;
        let telemetry = match &config.telemetry {
            Some(t) if t.otlp_endpoint.is_some() => {
                Some(crate::telemetry::Telemetry::new(t, &clients.auto)?)
            }
            _ => None,
        };
        let max_body = config.server.max_body_size;
        let metrics = metrics::Registry::new();
        let detached = crate::detached::Detached::new(
            config.limits.max_detached,
            config.limits.mediation_budget(),
            &metrics,
        );
        let invoker = Arc::new(
            HttpInvoker::new(
                clients.clone(),
                config.default_timeout(),
                usize::try_from(max_body).unwrap_or(usize::MAX).max(1 << 20),
                opts.wire,
            )
            .with_detached(detached),
        );
        let ext = extensions::build(
            &config,
            &BuildContext {
                metrics: metrics.clone(),
            },
        )
        .await?;
        let registry = crate::registry::open(&config.registry_dir())?;
        let state = crate::shared_state::build(config.redis.as_ref(), &metrics)?;
        // the file's text, to tell later what a reload changed
        let text = match &opts.config_path {
            Some(p) => tokio::fs::read_to_string(p).await.ok(),
            None => None,
        };
        let (plan, diags) = plan::compile(PlanInput {
            config: config.clone(),
            text: text.as_deref().map(|t| (synaptic_diag::SourceId(0), t)),
            program: store.current(),
            upstream: ext.upstream.clone(),
            metrics: &metrics,
            generation: 1,
            wire: opts.wire,
        });
        let Some(plan) = plan else {
            return Err(StartError::Plan(diags));
        };
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
        let store_for_gauge = store.clone();
        metrics.gauge_fn(
            "synaptic_program_generation",
            "Generation of the loaded sequences (increments on each reload)",
            &[],
            move || store_for_gauge.current().generation as f64,
        );
        let inner = Arc::new(Inner {
            plan: ArcSwap::from_pointee(plan),
            started: config,
            config_path: opts.config_path.clone(),
            ext,
            upstream: Upstream::new(clients, opts.wire).with_read_timeout(read_timeout),
            store,
            registry,
            invoker,
            metrics,
            wire: opts.wire,
            clock: Arc::new(SystemClock),
            state,
            requests,
            faults,
            reloading: tokio::sync::Mutex::new(()),
            processors_changed: tokio::sync::Notify::new(),
            mediation,
            tls_port: std::sync::OnceLock::new(),
            http_port: std::sync::OnceLock::new(),
            telemetry,
        });
        let weak = Arc::downgrade(&inner);
        inner.metrics.gauge_fn(
            "synaptic_plan_generation",
            "Generation of the plan serving new requests (increments on each reload)",
            &[],
            move || {
                weak.upgrade()
                    .map_or(0.0, |i| i.plan.load().generation as f64)
            },
        );
        let weak = Arc::downgrade(&inner);
        inner.metrics.gauge_collector(
            "synaptic_endpoint_state",
            "State of each named endpoint that keeps one, and of each member of a named \
             load balancer, deployed or read from the registry (labelled by its key) (1 for \
             its state: active, timeout, suspended)",
            move || {
                let Some(program) = weak
                    .upgrade()
                    .and_then(|i| i.plan.load().program.program.clone())
                else {
                    return Vec::new();
                };
                use synaptic_engine::EndpointStatus;
                let states = program.endpoint_statuses();
                let mut out = Vec::new();
                for (name, now) in states {
                    for s in EndpointStatus::ALL {
                        out.push((
                            vec![
                                ("endpoint".to_string(), name.clone()),
                                ("state".to_string(), s.as_str().to_string()),
                            ],
                            if s == now { 1.0 } else { 0.0 },
                        ));
                    }
                }
                out
            },
        );
        Ok((Gateway { inner }, report))
    }

    /// The configuration of the current plan.
    pub fn config(&self) -> Arc<Config> {
        self.inner.plan.load().config.clone()
    }
    /// The plan serving new requests.
    pub fn plan(&self) -> Arc<Plan> {
        self.inner.plan.load_full()
    }
    pub fn metrics(&self) -> &metrics::Registry {
        &self.inner.metrics
    }
    pub fn program_store(&self) -> &Arc<ProgramStore> {
        &self.inner.store
    }
    pub fn client(&self) -> &HttpClient {
        self.inner.upstream.client()
    }

    /// Answer one request.
    ///
    /// Routing, faults found before sending and the request of a plain pass-through are
    /// decided synchronously ([`Gateway::dispatch`]); only the send is awaited here. Every
    /// other request runs the phase driver as one boxed future: the future of this function is
    /// moved on every request, so it is kept small.
    pub async fn handle(
        &self,
        req: Request<Incoming>,
        peer: Option<SocketAddr>,
    ) -> Response<ResponseBody> {
        let start = tokio::time::Instant::now();
        if let Some(t) = &self.inner.telemetry {
            // traced: one boxed future, so the untraced one stays small
            return Box::pin(self.handle_traced(t, req, peer)).await;
        }
        // the plan this request starts on stays with it until it is answered
        let plan = self.inner.plan.load_full();
        let method = req.method().clone();
        // the request's URI (a cheap shared clone), formatted only when the line is written
        let log_uri = plan.access_log.then(|| req.uri().clone());
        let grpc = crate::grpc::is_grpc(req.headers());
        let (step, matched) = self.dispatch(&plan, req, peer);
        let api_idx = matched.api;
        let resp = match step {
            Step::Answer(r) => r,
            Step::Send(api, out) => self.send_plain(&plan, api, out).await,
            Step::Later(f) => f.await,
        };
        self.finish(
            &plan,
            &resp,
            api_idx,
            start,
            &method,
            log_uri.as_ref(),
            peer,
            None,
        );
        if grpc_answer_needed(&plan, grpc, api_idx, &resp) {
            return Box::pin(crate::pipeline::grpc_answer(resp)).await;
        }
        resp
    }

    /// [`Gateway::handle`] in a request span: the client's `traceparent` continued, the
    /// span's context attached to everything the request runs, its trace id in the access log.
    async fn handle_traced(
        &self,
        t: &crate::telemetry::Telemetry,
        req: Request<Incoming>,
        peer: Option<SocketAddr>,
    ) -> Response<ResponseBody> {
        use opentelemetry::context::FutureExt as _;
        let start = tokio::time::Instant::now();
        let plan = self.inner.plan.load_full();
        let method = req.method().clone();
        let tls = req.extensions().get::<ConnInfo>().is_some_and(|i| i.tls);
        let cx = t.request(&method, req.uri(), req.headers(), tls, peer);
        let log_uri = plan.access_log.then(|| req.uri().clone());
        let grpc = crate::grpc::is_grpc(req.headers());
        let (step, matched) = {
            let _attached = cx.clone().attach();
            self.dispatch(&plan, req, peer)
        };
        let api_idx = matched.api;
        let resp = match step {
            Step::Answer(r) => r,
            Step::Send(api, mut out) => {
                let backend = {
                    let _attached = cx.clone().attach();
                    crate::pipeline::backend_span(&out)
                };
                backend.inject(&mut out.parts.headers);
                let in_span = backend.context().cloned().unwrap_or_else(|| cx.clone());
                let r = self.send_plain(&plan, api, out).with_context(in_span).await;
                backend.status(r.status().as_u16());
                r
            }
            Step::Later(f) => f.with_context(cx.clone()).await,
        };
        let route = matched.route(&plan);
        crate::telemetry::finish_request(&cx, &method, route, resp.status().as_u16());
        let trace_id = crate::telemetry::trace_id(&cx);
        self.finish(
            &plan,
            &resp,
            api_idx,
            start,
            &method,
            log_uri.as_ref(),
            peer,
            Some(&trace_id),
        );
        if grpc_answer_needed(&plan, grpc, api_idx, &resp) {
            return Box::pin(crate::pipeline::grpc_answer(resp)).await;
        }
        resp
    }

    /// Count the response, observe its latency and write the access-log line.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        plan: &Plan,
        resp: &Response<ResponseBody>,
        api_idx: Option<usize>,
        start: tokio::time::Instant,
        method: &Method,
        log_uri: Option<&http::Uri>,
        peer: Option<SocketAddr>,
        trace_id: Option<&str>,
    ) {
        self.inner.requests.inc();
        let status = resp.status().as_u16();
        if status >= 500 {
            self.inner.faults.inc();
        }
        let elapsed = start.elapsed();
        let api = api_idx.and_then(|i| plan.apis.get(i));
        if let Some(a) = api {
            let class = usize::from(status / 100).clamp(1, 5) - 1;
            a.stats.responses[class].inc();
            a.stats.latency.observe(elapsed);
        }
        if let Some(uri) = log_uri {
            crate::access::Record {
                method,
                uri,
                status,
                elapsed,
                api: api.map(|a| &*a.name),
                peer,
                trace_id,
            }
            .log();
        }
    }
}

// ===== running =====

/// A started gateway.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    tls_addr: Option<SocketAddr>,
    gateway: Gateway,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// The HTTPS listener's address, when `[server] listen_tls` is configured.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
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
    // the HTTPS listener: certificates loaded (and checked) before anything binds
    let tls = match (&config.server.listen_tls, &config.server.tls) {
        (Some(listen_tls), Some(settings)) => {
            let addr = match opts.listen_tls {
                Some(a) => a,
                None => listen_tls
                    .parse()
                    .map_err(|_| StartError::BadListen(listen_tls.clone()))?,
            };
            let tls = crate::tls::ReloadingTls::new(settings.clone(), config.base_dir.clone())
                .map_err(StartError::Tls)?;
            Some((addr, tls))
        }
        _ => None,
    };
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
    let _ = gateway.inner.http_port.set(local.port());
    for svc in &gateway.inner.ext.services {
        svc.listening(local);
    }
    let admin = match gateway.config().admin.as_ref().and_then(|a| a.addr()) {
        Some(a) => Some(
            TcpListener::bind(a)
                .await
                .map_err(|source| StartError::Bind {
                    addr: a.to_string(),
                    source,
                })?,
        ),
        None => None,
    };
    let tls_listener = match tls {
        Some((addr, tls)) => {
            let l = TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::Bind {
                    addr: addr.to_string(),
                    source,
                })?;
            let a = l.local_addr().map_err(|source| StartError::Bind {
                addr: addr.to_string(),
                source,
            })?;
            Some((l, a, tls))
        }
        None => None,
    };
    let tls_addr = tls_listener.as_ref().map(|(_, a, _)| *a);
    if let Some(a) = tls_addr {
        let _ = gateway.inner.tls_port.set(a.port());
    }
    let watcher = reload::spawn(gateway.clone(), watch);
    let processors = tokio::spawn(crate::processors::supervise(gateway.clone()));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    // one stop signal for every listener
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let tls_role = if admin.is_some() {
        crate::strict::Role::PublicWithAdminElsewhere
    } else {
        crate::strict::Role::Public
    };
    let tls_task = tls_listener.map(|(l, _, tls)| {
        let reloader = tls.spawn_reloader();
        let g = gateway.clone();
        let stop = stopped(stop_rx.clone());
        tokio::spawn(async move {
            serve_as(g, l, tls_role, Some(tls), stop, grace).await;
            reloader.abort();
        })
    });
    let g = gateway.clone();
    let telemetry = gateway.inner.telemetry.clone();
    let detached = gateway.inner.invoker.detached().cloned();
    // when the stop came: detached work is waited for up to the requests' drain deadline
    let stopped_at = Arc::new(std::sync::OnceLock::<tokio::time::Instant>::new());
    let stop_seen = stopped_at.clone();
    let task = tokio::spawn(async move {
        let stop = async move {
            tokio::select! {
                _ = rx => {}
                _ = signal => {}
            }
            let _ = stop_seen.set(tokio::time::Instant::now());
            let _ = stop_tx.send(true);
        };
        match admin {
            None => serve(g, listener, stop, grace).await,
            Some(admin) => {
                // the admin listener stops with the public one
                let (atx, arx) = tokio::sync::oneshot::channel::<()>();
                let role = crate::strict::Role::Admin;
                let a = tokio::spawn(serve_as(
                    g.clone(),
                    admin,
                    role,
                    None,
                    async move {
                        let _ = arx.await;
                    },
                    grace,
                ));
                let role = crate::strict::Role::PublicWithAdminElsewhere;
                serve_as(g, listener, role, None, stop, grace).await;
                let _ = atx.send(());
                let _ = a.await;
            }
        }
        if let Some(t) = tls_task {
            let _ = t.await;
        }
        // the detached copies (`foreach continue-without-aggregation`, `continueParent`
        // fan-outs) the answered requests left running: waited for until the same deadline
        if let Some(d) = &detached {
            let since = stopped_at
                .get()
                .copied()
                .unwrap_or_else(tokio::time::Instant::now);
            let running = d.running();
            if running > 0 {
                tracing::info!(running, "waiting for detached mediation work to end");
            }
            let abandoned = d.drain(since + grace).await;
            if abandoned > 0 {
                tracing::warn!(
                    abandoned,
                    "shutdown: {abandoned} detached mediation work(s) still running after the \
                     grace period ({grace:?}) are abandoned"
                );
            }
        }
        drop(watcher);
        // the message processors stop with the server (a message being delivered stays in
        // its store)
        processors.abort();
        let _ = processors.await;
        // the spans still queued are exported before the server reports it stopped
        if let Some(t) = telemetry {
            let _ = tokio::task::spawn_blocking(move || t.shutdown()).await;
        }
    });
    Ok((
        Running {
            addr: local,
            tls_addr,
            gateway,
            shutdown: Some(tx),
            task,
        },
        report,
    ))
}

/// The accept loop ([`crate::listener`]). Returns after `stop` completes and connections have
/// drained (or `grace` has passed).
pub async fn serve(
    gateway: Gateway,
    listener: TcpListener,
    stop: impl Future<Output = ()>,
    grace: Duration,
) {
    serve_as(
        gateway,
        listener,
        crate::strict::Role::Public,
        None,
        stop,
        grace,
    )
    .await
}

/// [`serve`] for one role of listener (public, public beside an admin listener, admin), plain
/// or HTTPS (`tls`).
pub async fn serve_as(
    gateway: Gateway,
    listener: TcpListener,
    role: crate::strict::Role,
    tls: Option<Arc<crate::tls::ReloadingTls>>,
    stop: impl Future<Output = ()>,
    grace: Duration,
) {
    let config = gateway.config();
    let inner = &gateway.inner;
    let front = crate::strict::Front::new(&config, inner.ext.inbound.clone(), role);
    let mut settings = crate::listener::Settings::new(&config, front, inner.wire);
    settings.tls = tls;
    let handler = move |req: Request<Incoming>, peer: Option<SocketAddr>| {
        let g = gateway.clone();
        async move { g.handle(req, peer).await }
    };
    crate::listener::serve(listener, settings, handler, stop, grace).await
}

/// A gRPC call gets the gateway's own answers as a `grpc-status` (counted and logged with the
/// HTTP status they map from).
fn grpc_answer_needed(
    plan: &Plan,
    grpc: bool,
    api_idx: Option<usize>,
    resp: &Response<ResponseBody>,
) -> bool {
    let grpc = grpc
        || api_idx
            .and_then(|i| plan.apis.get(i))
            .is_some_and(|a| a.protocol == crate::config::ApiProtocol::Grpc);
    grpc && matches!(resp.body(), http_body_util::Either::Right(_))
}
