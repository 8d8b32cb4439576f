//! The request pipeline: one per-request context ([`Rq`]) and the phases in one fixed order,
//!
//! ```text
//! inbound authorization ─▶ body ─▶ in-flow ─▶ upstream ─▶ out-flow ─▶ response
//!                     any failure ─▶ one failure exit (fault sequence, fault response)
//! ```
//!
//! [`plan::decide`] says which phases have something to do; a phase with nothing to do costs
//! nothing. [`Gateway::dispatch`] routes and decides synchronously; a request that needs only
//! the upstream phase (the plain pass-through) is sent inline by [`Gateway::handle`], every
//! other request runs [`Gateway::drive`] as one boxed future. Both send through the one
//! upstream stack ([`crate::upstream`]) and fail through [`Gateway::fail`].
//!
//! A gRPC call ([`crate::grpc`]) takes the same path: its body streams both ways (trailers
//! kept), sequences do not run on it, and the gateway's own answers to it are turned into
//! `grpc-status` responses once, in [`Gateway::handle`].

use crate::authserver::transport;
use crate::config::ApiProtocol;
use crate::fault;
use crate::grpc;
use crate::hooks::Principal;
use crate::path;
use crate::plan::{ApiPlan, BodyMode, Flows, NoRoute, Plan, Route};
use crate::proxy::{self, ResponseBody};
use crate::server::Gateway;
use crate::telemetry::{self, Child};
use crate::upstream::{self, Exchanged, OutBody, Outgoing, UpstreamError};
use crate::wire;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::SpanKind;
use opentelemetry::KeyValue;
use std::future::Future;
use std::net::SocketAddr;
use synaptic_engine::{
    Engine, Flow, InboundResponse, MediationError, MessageContext, Payload, Value,
};

/// What answers a request, decided by [`Gateway::dispatch`].
pub(crate) enum Step<'p> {
    /// Answered without I/O (a fault, a built-in endpoint).
    Answer(Response<ResponseBody>),
    /// Only the upstream phase: send this and stream the answer back.
    Send(&'p ApiPlan, Outgoing),
    /// Every other request.
    Later(std::pin::Pin<Box<dyn Future<Output = Response<ResponseBody>> + Send + 'p>>),
}

fn answer(r: Response<Full<Bytes>>) -> Step<'static> {
    Step::Answer(full(r))
}

/// The per-request context.
pub(crate) struct Rq<'p> {
    route: Route<'p>,
    needs: crate::plan::Needs,
    parts: http::request::Parts,
    /// The normalised path; the path relative to the API context starts at `rel_at`.
    norm: String,
    rel_at: usize,
    principal: Option<Principal>,
    peer: Option<SocketAddr>,
    /// The request head as received, for the wire log (inbound authorization removes the
    /// client's token before anything else sees it).
    wire_headers: Option<HeaderMap>,
    /// A gRPC call.
    grpc: bool,
    /// The CORS headers of its response (an `<api>` resource with `[cors]` enabled).
    cors: Option<crate::cors::CorsHeaders>,
}

impl Rq<'_> {
    fn rel(&self) -> &str {
        self.norm.get(self.rel_at..).unwrap_or_default()
    }
    /// The request URI as sequences see it: the normalised path and the query.
    fn uri(&self) -> String {
        match self.parts.uri.query() {
            Some(q) => format!("{}?{q}", self.norm),
            None => self.norm.clone(),
        }
    }
}

/// The client's body after the body phase.
enum ReqBody {
    Stream(Incoming),
    Read(Bytes),
}

/// A failure, typed; [`Gateway::fail`] turns it into the answer.
pub(crate) enum Failure {
    Upstream(UpstreamError),
    Mediation(MediationError),
}

/// The request head kept for a fault sequence when the request itself went upstream.
struct FaultHead {
    conn: Conn,
    method: Method,
    uri: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Gateway {
    /// Route a request and decide what answers it (see [`Gateway::handle`]).
    pub(crate) fn dispatch<'p>(
        &'p self,
        plan: &'p Plan,
        mut req: Request<Incoming>,
        peer: Option<SocketAddr>,
    ) -> (Step<'p>, Matched) {
        let inner = &*self.inner;
        let raw_path = req.uri().path();
        // built-in endpoints
        if raw_path == "/health" && (req.method() == Method::GET || req.method() == Method::HEAD) {
            let body = serde_json::json!({
                "status": "UP",
                "generation": plan.generation,
            });
            return (
                answer(fault::json_response(StatusCode::OK, &body)),
                Matched::default(),
            );
        }
        if raw_path == "/metrics" && req.method() == Method::GET {
            let mut r = Response::new(Full::new(Bytes::from(inner.metrics.render())));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            return (answer(r), Matched::default());
        }
        // normalise once: local services, routing and authorization all see this path
        let norm = match path::normalize(raw_path) {
            Ok(p) => p,
            Err(e) => return (answer(fault::bad_path(e)), Matched::default()),
        };
        for svc in &inner.ext.services {
            if svc.matches(norm.as_str()) {
                let svc = svc.as_ref();
                return (
                    Step::Later(Box::pin(self.local_service(plan, svc, req, peer))),
                    Matched::default(),
                );
            }
        }
        // what `<api>`s and resources check of a request, read only when one checks something
        let head = plan.filtered.then(|| crate::routing::Head {
            headers: req.headers(),
            authority: req.uri().authority().map(|a| a.as_str()),
            https: req
                .extensions()
                .get::<crate::server::ConnInfo>()
                .is_some_and(|i| i.tls),
        });
        let (route, rel) = match plan.route_for(req.method(), norm.as_str(), head.as_ref()) {
            Ok(x) => x,
            Err((NoRoute::Api, _)) => return (answer(fault::not_found_api()), Matched::default()),
            Err((NoRoute::Resource, i)) => {
                return (answer(fault::not_found_resource()), Matched::api(i))
            }
            Err((NoRoute::Refused, i)) => {
                return (answer(fault::resource_refused()), Matched::api(i))
            }
            Err((NoRoute::Method(allowed), i)) => {
                return (answer(fault::method_not_allowed(&allowed)), Matched::api(i))
            }
        };
        let api = route.api;
        let name = Matched {
            api: Some(api.index),
            resource: route.resource,
        };
        // an `<api>` resource answers OPTIONS unless it lists it; its CORS headers
        let options = route
            .resource
            .and_then(|r| api.resource[r].options.as_ref());
        let mut cors = None;
        if let Some(o) = options {
            cors = plan
                .cors
                .as_ref()
                .map(|c| c.headers(&o.allow, req.headers()));
            if req.method() == Method::OPTIONS {
                let c = cors.as_ref();
                if let crate::cors::Options::Answer(r) =
                    crate::cors::options(o.mediates, &o.allow, c, req.headers_mut())
                {
                    return (answer(r), name);
                }
            }
        }
        // a proxy service's WSDL, the documents it imports and their schemas
        if api.wsdl.is_some() && req.method() == Method::GET {
            if let Some(r) = proxy_document(inner, api, &req) {
                return (answer(r), name);
            }
        }
        let mut needs = route.needs;
        let grpc = api.protocol == ApiProtocol::Grpc || grpc::is_grpc(req.headers());
        if grpc {
            if needs.context {
                let m = "the API's sequences do not mediate gRPC calls";
                return (
                    answer(grpc::status_response(grpc::code::UNIMPLEMENTED, m)),
                    name,
                );
            }
            if api.endpoint.is_none() {
                let m = "the API has no backend for gRPC calls";
                return (
                    answer(grpc::status_response(grpc::code::UNIMPLEMENTED, m)),
                    name,
                );
            }
            needs = needs.grpc();
        }
        let (mut parts, body) = req.into_parts();
        // a request that has nothing to do but authorization, decided without waiting (a
        // token validated before), is sent as an unsecured one is
        if needs.authorize && !grpc && needs.authorized().is_plain() {
            match self.authorize_now(&route, rel, &mut parts) {
                Some(Ok(())) => needs = needs.authorized(),
                Some(Err(r)) => return (Step::Answer(r), name),
                None => {}
            }
        }
        // a body kept for a replay or buffered that is empty (a GET): the body phase has
        // nothing to do, and the request is sent from here, through endpoint security if any
        if needs.body == BodyMode::Keep && hyper::body::Body::is_end_stream(&body) {
            needs = needs.bodiless();
        }
        // a gRPC call streams even with endpoint security and the wire log, which the plain
        // send does not run
        if needs.is_plain() && !(grpc && (api.upstream.is_some() || self.inner.wire)) {
            // the request is prepared here; only its send is awaited later
            if let Some(r) = too_large(plan, &parts.headers) {
                return (Step::Answer(r), name);
            }
            let Some(ep) = &api.endpoint else {
                // nothing to send to and no sequence to answer: accepted, like Synapse
                return (Step::Answer(empty(StatusCode::ACCEPTED)), name);
            };
            let body = stream_body(plan, body, grpc);
            return match endpoint_request(api, ep, parts, rel, body, grpc) {
                Ok(out) => (Step::Send(api, out), name),
                Err(r) => (answer(r), name),
            };
        }
        let rel_len = rel.len();
        let norm = norm.into_string();
        let rq = Rq {
            route,
            needs,
            parts,
            rel_at: norm.len() - rel_len,
            norm,
            principal: None,
            peer,
            wire_headers: None,
            grpc,
            cors,
        };
        (Step::Later(Box::pin(self.drive(plan, rq, body))), name)
    }

    /// The plain pass-through's send (the upstream phase alone, through the API's endpoint
    /// security when it has one) and its answer streamed back.
    pub(crate) async fn send_plain(
        &self,
        plan: &Plan,
        api: &ApiPlan,
        out: Outgoing,
    ) -> Response<ResponseBody> {
        let start = tokio::time::Instant::now();
        let up = &self.inner.upstream;
        let sent = match api.upstream.as_deref() {
            None => up.exchange_plain(out).await,
            // boxed: the unsecured send's future stays that of one send
            Some(auth) => Box::pin(up.exchange(out, Some(auth), None, plan.replay_max_body)).await,
        };
        match sent {
            Ok(ex) => {
                api.stats.backend.observe(start.elapsed());
                self.streamed(ex)
            }
            Err(e) => {
                let f = Failure::Upstream(e);
                self.fail(plan, api, &api.flows, None, f).await
            }
        }
    }

    /// Every phase, in order, for one request.
    async fn drive(&self, plan: &Plan, mut rq: Rq<'_>, body: Incoming) -> Response<ResponseBody> {
        let wire = self.inner.wire;
        // inbound authorization
        if rq.needs.authorize {
            let span = Child::start("inbound authorization", SpanKind::Internal, vec![]);
            if let Err(r) = span.wrap(self.authorize(&mut rq)).await {
                span.set(KeyValue::new(
                    "http.response.status_code",
                    i64::from(r.status().as_u16()),
                ));
                span.error("refused");
                return r;
            }
        }
        // rate limit (after authorization: `client_id` is the token's client)
        let mut limit_headers = None;
        if let Some(rl) = rq.route.rate_limit {
            match self.rate_limit(rl, &rq).await {
                Ok(h) => limit_headers = h,
                Err(r) => return r,
            }
        }
        // body
        let body = match self.body_phase(plan, &rq, body).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        let peer = if wire {
            rq.peer.map(|p| p.to_string()).unwrap_or_default()
        } else {
            String::new()
        };
        if wire {
            let bytes = match &body {
                ReqBody::Read(b) => &b[..],
                ReqBody::Stream(_) => b"",
            };
            let headers = rq.wire_headers.as_ref().unwrap_or(&rq.parts.headers);
            let line = upstream::request_line(&rq.parts.method, &rq.parts.uri);
            wire::log(">>", &peer, &line, headers, bytes);
        }
        // the response is wire-logged by the listener, as it is sent. Boxed: a future awaited
        // inline is held twice in its caller's state (the value and the awaited slot), and
        // this one is large; the request's own future stays small enough to move cheaply.
        let cors = rq.cors.clone();
        let mut resp = Box::pin(self.flows(plan, rq, body)).await;
        if let Some(h) = limit_headers {
            resp.headers_mut().extend(h);
        }
        if let Some(c) = cors {
            // on what the client gets, as Synapse's `respond` sets them (the out-flow saw them
            // on the backend's response already)
            c.apply(resp.headers_mut());
        }
        resp
    }

    /// Count the request against its route's `rate_limit`: the `RateLimit` headers for the
    /// response, or a `429` with `Retry-After`. When the counters cannot be reached the request
    /// passes (logged): the limit protects the backend, it does not take the API down.
    async fn rate_limit(
        &self,
        rl: &crate::rate_limit::RateLimit,
        rq: &Rq<'_>,
    ) -> Result<Option<HeaderMap>, Response<ResponseBody>> {
        use crate::rate_limit::KeyBy;
        let caller = match &rl.key {
            KeyBy::Ip => rq.peer.map(|p| p.ip().to_string()).unwrap_or_default(),
            KeyBy::ClientId => rq
                .principal
                .as_ref()
                .map(|p| p.client_id.clone())
                .unwrap_or_default(),
            KeyBy::Header(h) => rq
                .parts
                .headers
                .get(h)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_else(|| "-".into()),
            KeyBy::Expr(e) => {
                // the request head as a sequence would see it, without the body
                let plan = self.inner.plan.load();
                let ctx = new_context(
                    &rq.route,
                    plan.program.program.as_deref(),
                    rq.principal.clone(),
                    conn(&rq.parts),
                    rq.parts.method.clone(),
                    rq.uri(),
                    rq.parts.headers.clone(),
                    Bytes::new(),
                );
                e.string_value(&ctx, self.inner.clock.now_ms(), &*plan.configurables)
            }
        };
        let key = rl.counter_key(&caller);
        let now = self.inner.clock.now_ms();
        match self.inner.state.hit(&key, rl.window, now).await {
            Ok(hit) => {
                let headers = rl.headers(&hit, now);
                if hit.allowed {
                    return Ok(Some(headers));
                }
                let body = serde_json::json!({
                    "fault": {
                        "code": fault::code::TOO_MANY_REQUESTS,
                        "message": "Too many requests",
                        "description": "the rate limit of this resource is reached; retry after the time Retry-After gives",
                    }
                });
                let mut r = full(fault::json_response(StatusCode::TOO_MANY_REQUESTS, &body));
                r.headers_mut().extend(headers);
                Err(r)
            }
            Err(e) => {
                tracing::warn!(error = %e, "rate limit not counted: the request passes");
                Ok(None)
            }
        }
    }

    /// In-flow, upstream, out-flow.
    async fn flows(&self, plan: &Plan, mut rq: Rq<'_>, body: ReqBody) -> Response<ResponseBody> {
        let api = rq.route.api;
        let flows = rq.route.flows;
        let engine = self.engine(plan);
        let fault_seq = flows.fault.as_deref();
        // in-flow: a message context only when a sequence needs one
        let mut ctx = None;
        let mut body = Some(body);
        if rq.needs.context {
            let Some(engine) = &engine else {
                let missing = flows.inflow.as_deref().or(flows.outflow.as_deref());
                return full(fault::sequence_missing(missing.unwrap_or_default()));
            };
            let bytes = match body.take() {
                Some(ReqBody::Read(b)) => b,
                _ => Bytes::new(),
            };
            let uri = rq.uri();
            let head = std::mem::replace(&mut rq.parts, Request::new(()).into_parts().0);
            let c = ctx.insert(new_context(
                &rq.route,
                Some(&*engine.program),
                rq.principal.take(),
                conn(&head),
                head.method,
                uri,
                head.headers,
                bytes,
            ));
            set_remote_addr(c, rq.peer);
            if let Some(cors) = &rq.cors {
                // on every backend response, before the out-flow (which may change them)
                c.set_response_headers(cors.to_map());
            }
            if let Some(inseq) = &flows.inflow {
                // a `<send>` to an endpoint in the in-flow: the out-flow runs on its response
                let outseq = flows.outflow.as_deref();
                if api.endpoint.is_some() {
                    // its normal end goes on to the endpoint: copies beside it are not waited
                    // for (ADR 0502)
                    c.set_host_goes_on();
                }
                let span = sequence_span(inseq, "in");
                let done = span
                    .wrap(self.mediate(engine, inseq, outseq, fault_seq, c))
                    .await;
                telemetry::close_mediation_spans();
                if done.is_err() {
                    span.error("mediation fault");
                }
                drop(span);
                match done {
                    Ok(Flow::Continue) => {}
                    Ok(Flow::Respond) => return self.ctx_response(c, true),
                    Ok(Flow::Drop) => return empty(StatusCode::ACCEPTED),
                    Err(e) => {
                        return self
                            .fail(plan, api, flows, None, Failure::Mediation(e))
                            .await
                    }
                }
            }
        }
        // upstream
        let Some(ep) = &api.endpoint else {
            return empty(StatusCode::ACCEPTED);
        };
        let mut fault_head = None;
        let out = match &mut ctx {
            Some(c) => {
                let out = match c.to_outbound(&ep.address) {
                    Ok(o) => o,
                    Err(e) => {
                        return self
                            .fail(plan, api, flows, None, Failure::Mediation(e))
                            .await
                    }
                };
                upstream::from_engine(out, api.timeout)
            }
            None => {
                let body = match body.take() {
                    Some(ReqBody::Read(b)) => OutBody::Kept(b),
                    Some(ReqBody::Stream(b)) => stream_body(plan, b, rq.grpc),
                    None => OutBody::Kept(Bytes::new()),
                };
                if rq.needs.fault {
                    // a copy of the request head for the fault sequence, only when there is one
                    fault_head = Some(FaultHead {
                        conn: conn(&rq.parts),
                        method: rq.parts.method.clone(),
                        uri: rq.uri(),
                        headers: rq.parts.headers.clone(),
                        body: match &body {
                            OutBody::Kept(b) => b.clone(),
                            OutBody::Stream(..) | OutBody::Grpc(..) => Bytes::new(),
                        },
                    });
                }
                let head = std::mem::replace(&mut rq.parts, Request::new(()).into_parts().0);
                endpoint_request(api, ep, head, rq.rel(), body, rq.grpc)
                    .map_err(|r| UpstreamError::Refused(Box::new(r)))
            }
        };
        let start = tokio::time::Instant::now();
        let mut backend = None;
        let sent = match out {
            Ok(mut out) => {
                let auth = api.upstream.as_deref();
                // per-request credentials (scope, audience) evaluated after the in-flow
                let values = auth.zip(ctx.as_ref()).and_then(|(a, c)| a.evaluate(c));
                let span = backend.insert(backend_span(&out));
                span.inject(&mut out.parts.headers);
                // boxed for the same reason as the flows
                span.wrap(Box::pin(self.inner.upstream.exchange(
                    out,
                    auth,
                    values.as_ref(),
                    plan.replay_max_body,
                )))
                .await
            }
            Err(e) => Err(e),
        };
        if let Some(span) = backend.take() {
            match &sent {
                Ok(ex) => span.status(ex.response.status().as_u16()),
                Err(e) => span.error(upstream_error_name(e)),
            }
        }
        let ex = match sent {
            Ok(ex) => ex,
            Err(e) => {
                // the fault sequence's context: the flow's, or one built from the request
                let mut ctx = ctx.or_else(|| fault_context(plan, &mut rq, fault_head));
                let f = Failure::Upstream(e);
                return self.fail(plan, api, flows, ctx.as_mut(), f).await;
            }
        };
        api.stats.backend.observe(start.elapsed());
        // out-flow
        let (Some(outseq), Some(c), Some(engine)) = (&flows.outflow, ctx.as_mut(), &engine) else {
            if self.inner.wire && !rq.grpc {
                // the wire log shows the whole response: read it under the deadline (a gRPC
                // call's streams and trailers are passed on as they come: its head only)
                return match self.inner.upstream.read(ex, usize::MAX).await {
                    Ok((p, body)) => Response::from_parts(p, Either::Right(Full::new(body))),
                    Err(e) => {
                        let mut ctx = ctx.or_else(|| fault_context(plan, &mut rq, fault_head));
                        let f = Failure::Upstream(e);
                        self.fail(plan, api, flows, ctx.as_mut(), f).await
                    }
                };
            }
            return self.streamed(ex);
        };
        let (p, body) = match self.inner.upstream.read(ex, plan.max_response).await {
            Ok(x) => x,
            Err(e) => {
                return self
                    .fail(plan, api, flows, Some(c), Failure::Upstream(e))
                    .await
            }
        };
        c.set_response(InboundResponse {
            status: p.status.as_u16(),
            headers: p.headers,
            body,
        });
        let span = sequence_span(outseq, "out");
        // its normal end answers the client (ADR 0502)
        c.set_host_goes_on();
        let done = span
            .wrap(self.mediate(engine, outseq, None, fault_seq, c))
            .await;
        telemetry::close_mediation_spans();
        if done.is_err() {
            span.error("mediation fault");
        }
        drop(span);
        match done {
            Ok(Flow::Drop) => empty(StatusCode::ACCEPTED),
            Ok(_) => self.ctx_response(c, false),
            Err(e) => {
                self.fail(plan, api, flows, None, Failure::Mediation(e))
                    .await
            }
        }
    }

    /// Inbound authorization: the gateway's own authorization server checks the token and the
    /// scopes of the resource the router matched; the client's token never reaches the
    /// backend.
    async fn authorize(&self, rq: &mut Rq<'_>) -> Result<(), Response<ResponseBody>> {
        let inner = &*self.inner;
        if rq.parts.uri.query().is_some_and(query_has_access_token) {
            return Err(full(fault::token_in_query()));
        }
        let Some(inb) = &inner.ext.inbound else {
            return Err(full(fault::internal("authorization server not available")));
        };
        let rel = rq.norm.get(rq.rel_at..).unwrap_or_default();
        let parts = &mut rq.parts;
        let route = crate::hooks::MatchedRoute {
            api: &rq.route.api.name,
            path: rel,
            scopes: rq.route.scopes,
        };
        let principal = inb
            .check_route(route, &parts.method, &parts.headers)
            .await
            .map_err(full)?;
        rq.principal = Some(principal);
        if inner.wire {
            rq.wire_headers = Some(parts.headers.clone());
        }
        ready_for_backend(&mut parts.headers, rq.route.api);
        Ok(())
    }

    /// [`authorize`](Self::authorize) when the authorization server decides without waiting
    /// ([`InboundAuth::check_route_now`](crate::hooks::InboundAuth::check_route_now)): the
    /// request's headers made ready for the backend the same way. `None`: the full phase runs.
    fn authorize_now(
        &self,
        route: &Route<'_>,
        rel: &str,
        parts: &mut http::request::Parts,
    ) -> Option<Result<(), Response<ResponseBody>>> {
        let inb = self.inner.ext.inbound.as_ref()?;
        if parts.uri.query().is_some_and(query_has_access_token) {
            return None;
        }
        let matched = crate::hooks::MatchedRoute {
            api: &route.api.name,
            path: rel,
            scopes: route.scopes,
        };
        let decided = inb.check_route_now(matched, &parts.method, &parts.headers)?;
        let span = Child::start_with(SpanKind::Internal, || {
            ("inbound authorization".into(), vec![])
        });
        if let Err(r) = decided {
            span.set(KeyValue::new(
                "http.response.status_code",
                i64::from(r.status().as_u16()),
            ));
            span.error("refused");
            return Some(Err(full(r)));
        }
        ready_for_backend(&mut parts.headers, route.api);
        Some(Ok(()))
    }

    /// The body phase: 413 above the limit; read fully when it is kept or buffered.
    async fn body_phase(
        &self,
        plan: &Plan,
        rq: &Rq<'_>,
        body: Incoming,
    ) -> Result<ReqBody, Response<ResponseBody>> {
        match rq.needs.body {
            BodyMode::Stream => match too_large(plan, &rq.parts.headers) {
                Some(r) => Err(r),
                None => Ok(ReqBody::Stream(body)),
            },
            BodyMode::Keep | BodyMode::Buffer => self
                .read_body(plan, &rq.parts.headers, body)
                .await
                .map(ReqBody::Read),
        }
    }

    /// Read a client body under the limit (413 above it) and the body timeout.
    pub(crate) async fn read_body(
        &self,
        plan: &Plan,
        headers: &HeaderMap,
        body: Incoming,
    ) -> Result<Bytes, Response<ResponseBody>> {
        if let Some(r) = too_large(plan, headers) {
            return Err(r);
        }
        if hyper::body::Body::is_end_stream(&body) {
            return Ok(Bytes::new());
        }
        let max = plan.max_body;
        // a client that stops sending its body must not hold the request forever
        let read = proxy::read_limited(body, usize::try_from(max).unwrap_or(usize::MAX));
        match tokio::time::timeout(plan.body_timeout, read).await {
            Err(_) => Err(full(fault::body_timeout())),
            Ok(Ok(b)) => Ok(b),
            Ok(Err(proxy::ReadError::TooLarge)) => Err(full(fault::too_large(max))),
            Ok(Err(proxy::ReadError::Io(_))) => Err(full(fault::bad_body())),
        }
    }

    /// The failure exit: a typed failure becomes the fault sequence's answer (when there is
    /// one and a context to run it on) or the JSON fault for its origin.
    ///
    /// Boxed: the exit is rare, and awaited inline its state (a fault sequence run) would
    /// enlarge every request's future, which is moved whole when it is created.
    pub(crate) fn fail<'a>(
        &'a self,
        plan: &'a Plan,
        api: &'a ApiPlan,
        flows: &'a Flows,
        ctx: Option<&'a mut MessageContext>,
        f: Failure,
    ) -> std::pin::Pin<Box<dyn Future<Output = Response<ResponseBody>> + Send + 'a>> {
        Box::pin(self.fail_now(plan, api, flows, ctx, f))
    }

    async fn fail_now(
        &self,
        plan: &Plan,
        api: &ApiPlan,
        flows: &Flows,
        ctx: Option<&mut MessageContext>,
        f: Failure,
    ) -> Response<ResponseBody> {
        let e = match f {
            Failure::Mediation(e) => {
                // the engine ran the fault sequence already
                log_mediation_error(api, &e, &plan.program.sources);
                return full(fault::mediation(&e));
            }
            Failure::Upstream(e) => e,
        };
        let retry = e.retry_allowed();
        let (code, msg, default) = match e {
            UpstreamError::Refused(r) => return full(*r),
            UpstreamError::BadUrl(m) => return full(fault::internal(&m)),
            UpstreamError::RequestTooLarge => return full(fault::too_large(plan.max_body)),
            UpstreamError::RequestMalformed => return full(fault::bad_body()),
            UpstreamError::RequestTimeout => return full(fault::body_timeout()),
            UpstreamError::Connect(m) => {
                tracing::warn!(api = %api.name, error = %m, retry, "backend unreachable");
                (
                    fault::code::BACKEND_UNREACHABLE,
                    "Error connecting to the backend",
                    fault::backend_unreachable(),
                )
            }
            UpstreamError::Timeout => {
                tracing::warn!(api = %api.name, retry, "backend timeout");
                (
                    fault::code::BACKEND_TIMEOUT,
                    "Backend timeout",
                    fault::backend_timeout(),
                )
            }
            UpstreamError::ResponseTooLarge => {
                tracing::warn!(api = %api.name, retry, "backend response over the limit");
                (
                    fault::code::BACKEND_SEND,
                    "Error reading the backend's response",
                    fault::backend_failed(),
                )
            }
            UpstreamError::Failed(m) => {
                tracing::warn!(api = %api.name, error = %m, retry, "backend failure");
                (
                    fault::code::BACKEND_SEND,
                    "Error sending to the backend",
                    fault::backend_failed(),
                )
            }
        };
        if let (Some(fseq), Some(ctx)) = (&flows.fault, ctx) {
            let status = default.status();
            ctx.properties
                .default
                .insert("ERROR_CODE", Value::Integer(code));
            ctx.properties
                .default
                .insert("ERROR_MESSAGE", Value::String(msg.into()));
            ctx.properties
                .axis2
                .insert("HTTP_SC", Value::Integer(i64::from(status.as_u16())));
            if let Some(r) = self.run_fault_sequence(plan, api, fseq, ctx).await {
                return r;
            }
        }
        full(default)
    }

    async fn run_fault_sequence(
        &self,
        plan: &Plan,
        api: &ApiPlan,
        fseq: &str,
        ctx: &mut MessageContext,
    ) -> Option<Response<ResponseBody>> {
        let engine = self.engine(plan)?;
        if !engine.program.has_fault_sequence(fseq) {
            return None;
        }
        let span = sequence_span(fseq, "fault");
        let done = span
            .wrap(self.mediate(&engine, fseq, None, None, ctx))
            .await;
        telemetry::close_mediation_spans();
        drop(span);
        match done {
            Ok(Flow::Respond) => Some(self.ctx_response(ctx, true)),
            Ok(Flow::Drop) => Some(empty(StatusCode::ACCEPTED)),
            Ok(Flow::Continue) => None,
            Err(e) => {
                log_mediation_error(api, &e, &plan.program.sources);
                None
            }
        }
    }

    /// Run a sequence (with `out_seq`, an in-flow and the out-flow after its `<send>`, as
    /// [`Engine::mediate_flow`]) on the blocking pool, so that CPU-heavy mediation (large bodies, costly
    /// expressions) never holds up the I/O threads that serve other requests: at most
    /// `[limits] max_mediations` at once (more wait for a slot), each within
    /// `[limits] mediation_timeout` (past it the request gets a `500` fault `500003`; work that
    /// cannot be interrupted keeps its slot until it ends, so it cannot pile up).
    /// Boxed, like [`Gateway::fail`]: only requests that run a sequence pay for its state.
    fn mediate<'a>(
        &'a self,
        engine: &'a Engine,
        seq: &'a str,
        out_seq: Option<&'a str>,
        fault_seq: Option<&'a str>,
        ctx: &'a mut MessageContext,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Flow, MediationError>> + Send + 'a>> {
        Box::pin(self.mediate_now(engine, seq, out_seq, fault_seq, ctx))
    }

    async fn mediate_now(
        &self,
        engine: &Engine,
        seq: &str,
        out_seq: Option<&str>,
        fault_seq: Option<&str>,
        ctx: &mut MessageContext,
    ) -> Result<Flow, MediationError> {
        let slots = &self.inner.mediation;
        let deadline = tokio::time::Instant::now() + slots.budget;
        let over = || {
            MediationError::new(
                synaptic_engine::ErrorKind::Limit,
                synaptic_engine::Origin::Internal,
                fault::code::MEDIATION_BUDGET,
                "mediation took longer than its time budget",
            )
        };
        // a small body that is not built yet: the run is cheap, and stays on this thread (unless
        // the program runs scripts, whose cost the body does not bound)
        let small = !engine.program.runs_scripts()
            && match &ctx.payload {
                Payload::Empty => slots.inline_body > 0,
                Payload::Raw(b) => b.len() <= slots.inline_body,
                _ => false,
            };
        if small {
            let run = engine.mediate_flow(seq, out_seq, fault_seq, ctx);
            return tokio::time::timeout_at(deadline, run)
                .await
                .unwrap_or_else(|_| Err(over()));
        }
        let Ok(permit) =
            tokio::time::timeout_at(deadline, slots.permits.clone().acquire_owned()).await
        else {
            return Err(over());
        };
        let Ok(permit) = permit else {
            return Err(over());
        };
        let (engine, seq) = (engine.clone(), seq.to_string());
        let out_seq = out_seq.map(str::to_string);
        let fault_seq = fault_seq.map(str::to_string);
        let blank =
            MessageContext::from_request(Method::GET, "/", HeaderMap::new(), Bytes::new(), None);
        let mut owned = std::mem::replace(ctx, blank);
        let handle = tokio::runtime::Handle::current();
        let trace = opentelemetry::Context::current();
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let (out, fault) = (out_seq.as_deref(), fault_seq.as_deref());
            // the request's trace context (the sequence's span) goes along to this thread: the
            // spans of `call`/`send` and of fault handlers are its children
            let run = engine
                .mediate_flow(&seq, out, fault, &mut owned)
                .with_context(trace);
            // stops at its next await once the budget is spent
            let r = handle.block_on(tokio::time::timeout_at(deadline, run));
            (r, owned)
        });
        match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok((Ok(r), c))) => {
                *ctx = c;
                r
            }
            Ok(Ok((Err(_), c))) => {
                *ctx = c;
                Err(over())
            }
            Ok(Err(e)) => Err(MediationError::new(
                synaptic_engine::ErrorKind::Limit,
                synaptic_engine::Origin::Internal,
                fault::code::INTERNAL,
                format!(
                    "mediation failed: {}",
                    if e.is_panic() { "panic" } else { "cancelled" }
                ),
            )),
            Err(_) => Err(over()),
        }
    }

    /// The engine running `plan`'s program (none when the plan has no program).
    pub(crate) fn engine_for(&self, plan: &Plan) -> Option<Engine> {
        self.engine(plan)
    }

    fn engine(&self, plan: &Plan) -> Option<Engine> {
        let program = plan.program.program.clone()?;
        Some(Engine {
            program,
            invoker: self.inner.invoker.clone(),
            registry: self.inner.registry.clone(),
            clock: self.inner.clock.clone(),
            state: self.inner.state.clone(),
            db: plan.db.clone(),
            configurables: plan.configurables.clone(),
            limits: plan.limits,
        })
    }

    /// A backend's response streamed back.
    fn streamed(&self, ex: Exchanged) -> Response<ResponseBody> {
        self.inner.upstream.stream(ex).map(Either::Left)
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

    async fn local_service(
        &self,
        plan: &Plan,
        svc: &dyn crate::hooks::LocalService,
        req: Request<Incoming>,
        peer: Option<SocketAddr>,
    ) -> Response<ResponseBody> {
        let (parts, body) = req.into_parts();
        // the authorization server over HTTPS: plain requests go there, TLS answers get HSTS
        let ac = plan.config.auth_server.as_ref();
        let over_tls = parts
            .extensions
            .get::<crate::server::ConnInfo>()
            .is_some_and(|i| i.tls);
        if !over_tls {
            let tls_port = self.inner.tls_port.get().copied();
            if let Some(r) = ac.and_then(|a| transport::https_redirect(a, &parts, tls_port)) {
                return full(r);
            }
        }
        let body = match self.read_body(plan, &parts.headers, body).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        let wire = self.inner.wire;
        if wire {
            let line = upstream::request_line(&parts.method, &parts.uri);
            wire::log(">>", "client", &line, &parts.headers, &body);
        }
        // the response is wire-logged by the listener, as it is sent
        let mut r = svc
            .handle(parts.method, parts.uri, parts.headers, body, peer)
            .await;
        if let (true, Some(a)) = (over_tls, ac) {
            transport::add_hsts(a, &mut r);
        }
        full(r)
    }
}

/// Where sequences run: slots on the blocking pool and the budget of one run.
#[derive(Clone, Debug)]
pub(crate) struct MediationSlots {
    permits: std::sync::Arc<tokio::sync::Semaphore>,
    budget: std::time::Duration,
    /// `[limits] mediation_inline_body`.
    inline_body: usize,
}

impl MediationSlots {
    pub(crate) fn new(limits: &crate::listener::LimitsConfig) -> MediationSlots {
        MediationSlots {
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new(limits.max_mediations.max(1))),
            budget: limits.mediation_budget(),
            inline_body: limits.mediation_inline_body,
        }
    }
}

/// What the listener knows of the request's connection: whether it came over TLS, and the
/// subject of the client certificate the HTTPS listener verified, if any.
#[derive(Clone, Debug, Default)]
struct Conn {
    tls: bool,
    subject: Option<std::sync::Arc<str>>,
}

fn conn(parts: &http::request::Parts) -> Conn {
    match parts.extensions.get::<crate::server::ConnInfo>() {
        Some(i) => Conn {
            tls: i.tls,
            subject: i.client_subject.clone(),
        },
        None => Conn::default(),
    }
}

/// The message context of a routed request, built the same way for the in-flow and for a
/// fault sequence: the request, `uri.var.*`, `oauth.*`, `SYNAPSE_REST_API`, what Synapse's
/// transport and dispatch set (`TRANSPORT_IN_NAME`, the operation; with the program) and, over
/// HTTPS with a verified client certificate, `SSL_CLIENT_SUBJECT`.
#[allow(clippy::too_many_arguments)]
fn new_context(
    route: &Route<'_>,
    program: Option<&synaptic_engine::Program>,
    principal: Option<Principal>,
    conn: Conn,
    method: Method,
    uri: String,
    headers: HeaderMap,
    body: Bytes,
) -> MessageContext {
    let api = route.api;
    let mut ctx = MessageContext::from_request(method, uri, headers, body, Some(&api.context));
    if let Some(p) = program {
        // a proxy service is the plan of an `<api>` that answers `?wsdl`
        let service = match api.wsdl {
            Some(_) => synaptic_engine::Service::Proxy(&api.name),
            None => synaptic_engine::Service::Synapse,
        };
        p.receive(&mut ctx, service, if conn.tls { "https" } else { "http" });
    }
    let d = &mut ctx.properties.default;
    for (k, v) in &route.vars {
        d.insert(k.property(), Value::String(v.clone()));
    }
    if let Some(p) = principal {
        d.insert("oauth.client_id", Value::String(p.client_id));
        if let Some(u) = p.username {
            d.insert("oauth.username", Value::String(u));
        }
        d.insert("oauth.scope", Value::String(p.scopes.join(" ")));
    }
    d.insert("SYNAPSE_REST_API", Value::String(api.name.to_string()));
    if let Some(s) = conn.subject {
        d.insert("SSL_CLIENT_SUBJECT", Value::String(s.to_string()));
    }
    if telemetry::traced() {
        ctx.set_observer(telemetry::observer());
    }
    ctx
}

/// The span of one sequence run (`flow`: `in`, `out` or `fault`).
fn sequence_span(name: &str, flow: &'static str) -> Child {
    Child::start_with(SpanKind::Internal, || {
        (
            format!("sequence {name}").into(),
            vec![
                KeyValue::new("synaptic.sequence", name.to_string()),
                KeyValue::new("synaptic.flow", flow),
            ],
        )
    })
}

/// The span of the exchange with the API's endpoint (endpoint security's token fetch inside).
pub(crate) fn backend_span(out: &Outgoing) -> Child {
    let p = &out.parts;
    Child::start_with(SpanKind::Client, || {
        let mut attrs = vec![
            KeyValue::new("http.request.method", p.method.as_str().to_string()),
            KeyValue::new("url.full", telemetry::url_attr(&p.uri.to_string())),
        ];
        if let Some(h) = p.uri.host() {
            attrs.push(KeyValue::new("server.address", h.to_string()));
        }
        ("backend".into(), attrs)
    })
}

/// A backend failure as a span's error description.
pub(crate) fn upstream_error_name(e: &UpstreamError) -> &'static str {
    match e {
        UpstreamError::Refused(_) => "refused by endpoint security",
        UpstreamError::BadUrl(_) => "bad URL",
        UpstreamError::Connect(_) => "connection failed",
        UpstreamError::Timeout => "timeout",
        UpstreamError::RequestTooLarge => "request too large",
        UpstreamError::RequestMalformed => "malformed request body",
        UpstreamError::RequestTimeout => "request body timeout",
        UpstreamError::ResponseTooLarge => "response too large",
        UpstreamError::Failed(_) => "exchange failed",
    }
}

/// The fault sequence's context for a request that went upstream without one.
fn fault_context(plan: &Plan, rq: &mut Rq<'_>, head: Option<FaultHead>) -> Option<MessageContext> {
    let h = head?;
    let principal = rq.principal.take();
    let mut ctx = new_context(
        &rq.route,
        plan.program.program.as_deref(),
        principal,
        h.conn,
        h.method,
        h.uri,
        h.headers,
        h.body,
    );
    set_remote_addr(&mut ctx, rq.peer);
    Some(ctx)
}

/// `REMOTE_ADDR` (axis2 scope): the client's address, as Synapse's transport sets it (the
/// throttle mediator's caller when no `X-Forwarded-For` names one).
fn set_remote_addr(ctx: &mut MessageContext, peer: Option<SocketAddr>) {
    if let Some(p) = peer {
        ctx.properties.axis2.insert(
            "REMOTE_ADDR",
            Value::String(crate::numfmt::ip_string(p.ip())),
        );
    }
}

/// The request to the API's endpoint: its URL with the path after the context and the query.
/// A gRPC call's `grpc-timeout`, when shorter than the API's timeout, is its deadline.
// The `Err` is a fault response, on the rare path; the `Ok` (a request head) is as large.
#[allow(clippy::result_large_err)]
fn endpoint_request(
    api: &ApiPlan,
    ep: &crate::proxy::Endpoint,
    mut parts: http::request::Parts,
    rel: &str,
    body: OutBody,
    grpc: bool,
) -> Result<Outgoing, Response<Full<Bytes>>> {
    let timeout = match grpc.then(|| grpc::timeout(&parts.headers)).flatten() {
        Some(t) => t.min(api.timeout),
        None => api.timeout,
    };
    let url = match parts.uri.query() {
        Some(q) => ep.url(&format!("{rel}?{q}")),
        None => ep.url(rel),
    };
    // the URL's buffer becomes the URI's (no copy)
    let Ok(uri) = http::Uri::from_maybe_shared(Bytes::from(url)) else {
        return Err(fault::bad_path(path::PathError::ForbiddenChar));
    };
    parts.uri = uri;
    Ok(Outgoing {
        parts,
        body,
        host: Some(ep.host.clone()),
        timeout,
        protocol: api.backend_protocol,
        grpc,
    })
}

/// The client's body streamed to the backend: at most `max_body_size` bytes, complete within
/// the body timeout.
fn stream_body(plan: &Plan, body: Incoming, grpc: bool) -> OutBody {
    let limit = usize::try_from(plan.max_body).unwrap_or(usize::MAX);
    if grpc {
        OutBody::Grpc(body, limit)
    } else if hyper::body::Body::is_end_stream(&body) {
        // no body (a GET): nothing to bound, and hyper sends the same head either way
        OutBody::Kept(Bytes::new())
    } else {
        OutBody::Stream(crate::bodies::ClientStream::new(
            body,
            limit,
            plan.body_timeout,
        ))
    }
}

/// 413 when the declared length is over the limit.
fn too_large(plan: &Plan, h: &HeaderMap) -> Option<Response<ResponseBody>> {
    let n: u64 = h
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (n > plan.max_body).then(|| full(fault::too_large(plan.max_body)))
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

fn log_mediation_error(api: &ApiPlan, e: &MediationError, sources: &synaptic_diag::SourceMap) {
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
        synaptic_logsafe::escape(&e.message)
    );
}

/// Whether a query string carries an `access_token` parameter (any case of its escapes).
fn query_has_access_token(query: &str) -> bool {
    form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "access_token")
}

/// A gRPC call's answer: the gateway's own answers (faults, refusals) as `grpc-status`; the
/// backend's streamed response as it is.
pub(crate) async fn grpc_answer(r: Response<ResponseBody>) -> Response<ResponseBody> {
    let (parts, body) = r.into_parts();
    match body {
        Either::Left(streamed) => Response::from_parts(parts, Either::Left(streamed)),
        Either::Right(answer) => full(grpc::from_answer(Response::from_parts(parts, answer)).await),
    }
}

pub(crate) fn full(r: Response<Full<Bytes>>) -> Response<ResponseBody> {
    r.map(Either::Right)
}

fn empty(status: StatusCode) -> Response<ResponseBody> {
    let mut r = Response::new(Either::Right(Full::new(Bytes::new())));
    *r.status_mut() = status;
    r
}

/// What the router matched for a request: its API (also when no resource or method matched)
/// and its resource.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Matched {
    pub api: Option<usize>,
    pub resource: Option<usize>,
}

impl Matched {
    fn api(api: Option<usize>) -> Matched {
        Matched {
            api,
            resource: None,
        }
    }

    /// The route template requests on it are reported under (`http.route`): the resource's
    /// template, else the API's context.
    pub(crate) fn route<'p>(&self, plan: &'p crate::plan::Plan) -> Option<&'p str> {
        let api = plan.apis.get(self.api?)?;
        if let Some(r) = self.resource.and_then(|r| api.resource.get(r)) {
            return Some(&r.route);
        }
        Some(if api.context.is_empty() {
            "/"
        } else {
            &api.context
        })
    }
}

/// The headers of an authorized request made ready for the backend: no subject token of the
/// client's choosing, the client's token kept from the backend (an API whose endpoint security
/// exchanges the caller's token gets it as the subject token, for endpoint security only), and
/// no method override.
fn ready_for_backend(headers: &mut HeaderMap, api: &ApiPlan) {
    // one pass over the names instead of a hashed lookup per name removed
    let (mut subject, mut overrides) = (false, false);
    for k in headers.keys() {
        subject |= *k == crate::hooks::SUBJECT_TOKEN_HEADER;
        overrides |= proxy::METHOD_OVERRIDE.contains(k);
    }
    if subject {
        headers.remove(crate::hooks::SUBJECT_TOKEN_HEADER);
    }
    if overrides {
        for n in proxy::METHOD_OVERRIDE {
            headers.remove(n);
        }
    }
    let checked = headers.remove(header::AUTHORIZATION);
    let exchanges = api
        .upstream
        .as_ref()
        .is_some_and(|u| u.exchanges_caller_token());
    if let (true, Some(v)) = (exchanges, checked) {
        let token = v
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .and_then(|(_, t)| HeaderValue::from_str(t.trim()).ok());
        if let Some(mut t) = token {
            t.set_sensitive(true);
            headers.insert(crate::hooks::SUBJECT_TOKEN_HEADER, t);
        }
    }
}

/// The answer to a `GET` of a proxy service with `?wsdl`, `?wsdl2`, `?wsdl=NAME` or
/// `?xsd=NAME` (the first of them the query has, as Synapse's GET processor looks them up);
/// `None`: none of them, the request is mediated.
fn proxy_document(
    inner: &crate::server::Inner,
    api: &ApiPlan,
    req: &Request<Incoming>,
) -> Option<Response<Full<Bytes>>> {
    let q = req.uri().query()?;
    // borrowed from the query (copied only where percent-encoding is decoded): most queries
    // ask for no document
    let params: Vec<(std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>)> =
        url::form_urlencoded::parse(q.as_bytes()).collect();
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| &**v)
    };
    let (wsdl, wsdl2, xsd) = (
        param("wsdl"),
        params.iter().any(|(k, _)| k == "wsdl2"),
        param("xsd"),
    );
    if wsdl.is_none() && !wsdl2 && xsd.is_none() {
        return None;
    }
    let published = api.wsdl_published.as_deref();
    let tls = req
        .extensions()
        .get::<crate::server::ConnInfo>()
        .is_some_and(|c| c.tls);
    let at = listeners(inner, req, tls);
    let addresses = service_addresses(api, &at, tls);
    let doc = |d: &synaptic_engine::ServedDoc| xml_document(Bytes::from(d.render(&addresses)));
    if let Some(asked) = wsdl {
        let r = match (published, asked) {
            (Some(w), "") => doc(&w.text),
            // an imported document, as `printUserWSDL` finds it
            (Some(w), asked) => match synaptic_engine::find_import(&w.imports, asked) {
                Some(d) => doc(d),
                None => fault::not_found_resource(),
            },
            (None, "") => match &api.wsdl_generated {
                Some(g) => xml_document(Bytes::from(g.wsdl11(&at))),
                None => fault::not_found_resource(),
            },
            (None, _) => fault::not_found_resource(),
        };
        return Some(r);
    }
    if wsdl2 {
        return Some(match (published, &api.wsdl_generated) {
            (Some(w), _) => doc(&w.text),
            (None, Some(g)) => xml_document(Bytes::from(g.wsdl20(&at))),
            (None, None) => fault::not_found_resource(),
        });
    }
    let asked = xsd?;
    if !asked.is_empty() {
        // a schema of the WSDL, by the name its rewritten locations give it (Axis2's)
        let found = published.and_then(|w| synaptic_engine::find_schema(&w.schemas, asked));
        return Some(match found {
            Some(d) => doc(d),
            None => fault::not_found_resource(),
        });
    }
    // no name: the service's one schema, or the one `id` counts, as Micro Integrator's
    // `?xsd` answers (nothing when there are several or none)
    let schemas = published.map_or(Vec::new(), |w| w.service_schemas(&addresses));
    let id = param("id");
    let chosen = match (schemas.len(), id) {
        (1, _) => schemas.into_iter().next(),
        (_, Some(id)) => match id.trim().parse::<usize>().ok().and_then(|i| schemas.get(i)) {
            Some(s) => Some(s.clone()),
            None => {
                let mut r =
                    Response::new(Full::new(Bytes::from_static(b"<h4>Schema not found!</h4>")));
                r.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
                return Some(r);
            }
        },
        _ => None,
    };
    Some(match chosen {
        Some(s) => xml_document(Bytes::from(s)),
        None => Response::new(Full::new(Bytes::new())),
    })
}

/// Where the request reached the proxy service `api`: its address over each listener it is
/// exposed on and the gateway serves, and over the one the request came through (`tls`).
fn service_addresses(
    api: &ApiPlan,
    at: &synaptic_engine::Listeners,
    tls: bool,
) -> synaptic_engine::ServiceAddresses {
    let name = &api.name;
    let (over_http, over_https) = api
        .wsdl_generated
        .as_ref()
        .map_or((true, true), |g| (g.over_http, g.over_https));
    let of = |scheme: &str, authority: &Option<String>| {
        authority
            .as_ref()
            .map(|a| format!("{scheme}://{a}/services/{name}"))
    };
    let request = if tls {
        of("https", &at.https)
    } else {
        of("http", &at.http)
    };
    synaptic_engine::ServiceAddresses {
        http: of("http", &at.http).filter(|_| over_http),
        https: of("https", &at.https).filter(|_| over_https),
        request: request.unwrap_or_default(),
    }
}

/// Where `req` finds the gateway's listeners, for the addresses of a generated WSDL: the
/// request's `Host` for the listener it came through, the same host name with the other
/// listener's port for the other one (`localhost` when the request names no usable host);
/// `tls`: the request came through the HTTPS listener.
fn listeners(
    inner: &crate::server::Inner,
    req: &Request<Incoming>,
    tls: bool,
) -> synaptic_engine::Listeners {
    let given = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        // HTTP/2 carries it as the URI's authority
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .and_then(|h| {
            let name = crate::authserver::transport::host_without_port(h)?;
            let port = &h[name.len()..];
            let port_ok = port.is_empty()
                || port.strip_prefix(':').is_some_and(|p| {
                    !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
                });
            port_ok.then_some((h, name))
        });
    let (authority, host) = given.unwrap_or(("localhost", "localhost"));
    let other = |port: Option<u16>| port.map(|p| format!("{host}:{p}"));
    if tls {
        synaptic_engine::Listeners {
            http: other(inner.http_port.get().copied()),
            https: Some(authority.to_string()),
        }
    } else {
        synaptic_engine::Listeners {
            http: Some(authority.to_string()),
            https: other(inner.tls_port.get().copied()),
        }
    }
}

fn xml_document(doc: Bytes) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(doc));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    r
}
