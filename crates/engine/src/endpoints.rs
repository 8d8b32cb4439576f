//! Sending a message to an endpoint, for `<call>` and `<send>`: a leaf (`<address>`, `<http>`,
//! `<default>`, the message's `To`), a named endpoint, a leaf with a state (suspended endpoints
//! are skipped; every answer or failure updates the state, [`crate::EndpointState`]), and the
//! groups as Synapse runs them:
//!
//! - `<failover>`: the first ready child (`dynamic="false"`: the child that last worked while it
//!   is ready); on a failure, the next ready child. Each child is tried at most once per message.
//! - `<loadbalance>`: the ready children in turn (round robin, one counter per group); with
//!   `failover` (the default) a failed child's message goes to the next ready child.
//! - `<recipientlist>`: a copy to every ready child at once; the first answer (in the order they
//!   arrive) becomes the message, as the first response to reach the client wins in Synapse.
//!
//! No ready child: `ERROR_CODE` 303000 (a leaf sent to alone while it is suspended: 303001).
//!
//! `<endpoint key-expression>`: the XPath's string value on the message is the key of a named
//! endpoint, which the message goes to as if named by `<endpoint key>` (its own state and
//! suspension apply).
//!
//! A key no deployed endpoint has is, as Synapse's `getEndpoint` falls back to the registry, the
//! `<endpoint>` of the registry resource of that key: read when a message first reaches it,
//! compiled on its own and kept per program with its text, so its state carries over while the
//! text is unchanged. A key naming nothing there either is 305100, `Couldn't find the endpoint
//! with the key : …`, a failure a group goes on from to its next child; a resource that is no
//! endpoint faults with Synapse's factory message.

use crate::compile::MAX_REGISTRY_NESTING;
use crate::convert::value_string;
use crate::exec::body_has_fault;
use crate::ir::{EndpointIr, Group, GroupKind, Tracked};
use crate::uri::{expand_uri_template, join_rest_postfix};
use crate::{
    error_codes, Engine, ErrorKind, InboundResponse, InvokeError, MediationError, MessageContext,
    Origin, OutboundRequest,
};
use http::header::CONTENT_TYPE;
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::time::Duration;
use synaptic_expr::Value;
use synaptic_payload::SoapVersion;
use synaptic_syntax::ast::WsdlFormat;

/// How a send ended when it did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sent {
    /// The answer is the message (non-blocking) or its body (blocking).
    Answered,
    /// A timeout on an endpoint with `<responseAction>discard</responseAction>`: the message
    /// is dropped and no fault handler runs.
    Discarded,
}

type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<Sent, MediationError>> + Send + 'a>>;

/// How deep named endpoints may reference each other (a key naming a key…).
const MAX_KEY_DEPTH: usize = 16;

/// Send `ctx` to `ep` (`None`: the message's `To`).
pub(crate) async fn send(
    engine: &Engine,
    ep: Option<&EndpointIr>,
    blocking: bool,
    mediator: &'static str,
    ctx: &mut MessageContext,
) -> Result<Sent, MediationError> {
    match ep {
        None => leaf(engine, None, blocking, mediator, ctx)
            .await
            .map(|_| Sent::Answered),
        Some(ep) => dispatch(engine, ep, blocking, mediator, ctx, true).await,
    }
}

/// An endpoint a key names: one of the program, borrowed, or a registry endpoint's compiled
/// form, shared with its cache (a message costs a reference count, not a copy).
enum Resolved<'e> {
    Deployed(&'e EndpointIr),
    Registry(std::sync::Arc<RegistryEndpoint>),
}

impl std::ops::Deref for Resolved<'_> {
    type Target = EndpointIr;
    fn deref(&self) -> &EndpointIr {
        match self {
            Resolved::Deployed(ep) => ep,
            Resolved::Registry(r) => &r.ir,
        }
    }
}

/// What a key or a key expression names (any depth): a deployed endpoint, else, as Synapse's
/// `getEndpoint` falls back to the registry, the registry's (compiled apart from the program).
async fn resolve_on<'e>(
    engine: &'e Engine,
    ep: &'e EndpointIr,
    ctx: &mut MessageContext,
) -> Result<Resolved<'e>, MediationError> {
    let mut ep = Resolved::Deployed(ep);
    for _ in 0..MAX_KEY_DEPTH {
        // a deployed endpoint's key is borrowed: no copy per message
        let key: Cow<'e, str> = match &ep {
            Resolved::Deployed(EndpointIr::Key(k)) => Cow::Borrowed(k),
            Resolved::Deployed(EndpointIr::KeyExpr(x)) => Cow::Owned(key_of(engine, x, ctx).await?),
            Resolved::Registry(r) => match &r.ir {
                EndpointIr::Key(k) => Cow::Owned(k.clone()),
                EndpointIr::KeyExpr(x) => Cow::Owned(key_of(engine, x, ctx).await?),
                _ => return Ok(ep),
            },
            Resolved::Deployed(_) => return Ok(ep),
        };
        ep = match engine.program.ir.endpoints.get(&*key) {
            Some(named) => Resolved::Deployed(named),
            None => Resolved::Registry(from_registry(engine, &key, ctx).await?),
        };
    }
    Err(key_loop())
}

fn key_loop() -> MediationError {
    MediationError::new(
        ErrorKind::Fault,
        Origin::Internal,
        error_codes::ENDPOINT_NOT_READY,
        "named endpoints reference each other in a loop",
    )
}

/// An `<endpoint>` read from the registry, compiled on its own (its state lives as long as
/// its text is unchanged).
#[derive(Debug)]
pub(crate) struct RegistryEndpoint {
    ir: EndpointIr,
    /// The endpoint's name in the resource.
    name: String,
    /// The states it keeps (its own, its children's) and its `<member>` groups, for metrics.
    states: Vec<std::sync::Arc<crate::EndpointState>>,
    members: Vec<std::sync::Arc<crate::members::Members>>,
}

impl RegistryEndpoint {
    pub(crate) fn states(&self) -> &[std::sync::Arc<crate::EndpointState>] {
        &self.states
    }
    pub(crate) fn member_groups(&self) -> &[std::sync::Arc<crate::members::Members>] {
        &self.members
    }
    /// The metrics label of the state named `name` in the endpoint of registry key `key`: the
    /// endpoint's own name (and its prefix of its children's) becomes the key, another name is
    /// put after it.
    pub(crate) fn label(&self, key: &str, name: &str) -> String {
        match name.strip_prefix(self.name.as_str()) {
            Some("") => key.to_string(),
            Some(rest) if rest.starts_with('/') => format!("{key}{rest}"),
            _ => format!("{key}/{name}"),
        }
    }
}

/// The endpoint of registry key `key`: Synapse's 305100 when the registry holds nothing of
/// that key, a fault with Synapse's message when the resource is not an endpoint.
async fn from_registry(
    engine: &Engine,
    key: &str,
    ctx: &mut MessageContext,
) -> Result<std::sync::Arc<RegistryEndpoint>, MediationError> {
    let missing = || {
        not_ready(
            error_codes::ENDPOINT_KEY_NOT_FOUND,
            format!("Couldn't find the endpoint with the key : {key}"),
        )
    };
    crate::run::prefetch_one(engine, key, ctx).await?;
    let Some(text) = ctx.registry_value(key) else {
        return Err(missing());
    };
    let cache = &engine.program.ir.registry.endpoints;
    cache
        .get_or_compile(key, text, true, |t| compile_registry_endpoint(key, t))
        .map_err(|(message, why)| {
            MediationError::internal(ErrorKind::Fault, format!("{message}\n{why}"))
        })
}

/// Compile a registry resource's text as an `<endpoint>`: Synapse's message and the reason
/// when it is not one.
fn compile_registry_endpoint(
    key: &str,
    text: &str,
) -> Result<RegistryEndpoint, (&'static str, String)> {
    let invalid = |why: String| {
        (
            "Invalid endpoint configuration.",
            format!("registry resource `{key}` is not a valid endpoint: {why}"),
        )
    };
    let p = synaptic_syntax::parse_artifact(synaptic_diag::SourceId(0), text);
    if p.tree.root.is_empty() {
        // not an element: what Synapse's endpoint mapper says of it
        return Err((
            "Configuration is not in proper format.",
            format!("registry resource `{key}` holds no XML element"),
        ));
    }
    if let Some(d) = p.diagnostics.iter().find(|d| d.is_error()) {
        return Err(invalid(d.message.clone()));
    }
    if p.tree.root != "endpoint" {
        return Err(invalid(format!(
            "its root is <{}>, not <endpoint>",
            p.tree.root
        )));
    }
    let (program, diags) = crate::compile(
        std::slice::from_ref(&p.tree),
        &crate::CompileOptions::default(),
    );
    let ep = program.and_then(|prog| {
        let name = &p.tree.endpoints.first()?.name.as_ref()?.value;
        let ir = prog.ir.endpoints.get(name)?.clone();
        Some(RegistryEndpoint {
            ir,
            name: name.clone(),
            states: prog.ir.endpoint_states,
            members: prog.ir.member_groups,
        })
    });
    match ep {
        Some(ep) => Ok(ep),
        None => Err(invalid(
            diags
                .iter()
                .find(|d| d.is_error())
                .map(|d| d.message.clone())
                .unwrap_or_else(|| "it does not compile".into()),
        )),
    }
}

/// The key a key expression gives on `ctx` (its string value; nothing is the empty key), the
/// registry entries and the parts of the message it reads fetched and built first.
async fn key_of(
    engine: &Engine,
    x: &synaptic_expr::CompiledExpr,
    ctx: &mut MessageContext,
) -> Result<String, MediationError> {
    crate::run::prefetch(engine, x.registry_keys(), ctx).await?;
    if crate::mediators::reads_addressing_of(x) {
        ctx.ensure_soap_request_built()?;
    }
    if x.touches_body() {
        ctx.ensure_built()?;
    }
    let v = crate::eval::eval(engine, ctx, x)?;
    Ok(value_string(&v).unwrap_or_default())
}

/// `readyToSend`: a leaf without a state is always ready; a group when one child is. A key
/// naming a registry endpoint not read yet is ready (it is read when tried).
fn ready(engine: &Engine, ep: &EndpointIr, now: i64, depth: usize) -> bool {
    if depth > MAX_KEY_DEPTH {
        return false;
    }
    match ep {
        EndpointIr::Key(k) => match engine.program.ir.endpoints.get(k) {
            Some(named) => ready(engine, named, now, depth + 1),
            None => match engine.program.ir.registry.endpoints.peek(k) {
                Some(r) => ready(engine, &r.ir, now, depth + 1),
                None => true,
            },
        },
        EndpointIr::Tracked(t) => t.state.ready(now),
        EndpointIr::Group(g) => g.children.iter().any(|c| ready(engine, c, now, depth + 1)),
        EndpointIr::Members(m) => m.ready(),
        _ => true,
    }
}

fn dispatch<'a>(
    engine: &'a Engine,
    ep: &'a EndpointIr,
    blocking: bool,
    mediator: &'static str,
    ctx: &'a mut MessageContext,
    root: bool,
) -> SendFuture<'a> {
    Box::pin(async move {
        let ep = resolve_on(engine, ep, ctx).await?;
        // read from the registry: endpoints naming registry endpoints are bounded
        let nested = matches!(ep, Resolved::Registry(_));
        if nested {
            if ctx.st.registry_depth >= MAX_REGISTRY_NESTING {
                return Err(MediationError::internal(
                    ErrorKind::Limit,
                    format!("registry endpoints nested deeper than {MAX_REGISTRY_NESTING}"),
                ));
            }
            ctx.st.registry_depth += 1;
        }
        let r = send_resolved(engine, &ep, blocking, mediator, ctx, root).await;
        if nested {
            ctx.st.registry_depth -= 1;
        }
        r
    })
}

/// [`dispatch`] to an endpoint that is no key.
async fn send_resolved(
    engine: &Engine,
    ep: &EndpointIr,
    blocking: bool,
    mediator: &'static str,
    ctx: &mut MessageContext,
    root: bool,
) -> Result<Sent, MediationError> {
    {
        match ep {
            EndpointIr::Tracked(t) => {
                if root && !t.state.ready(engine.clock.now_ms()) {
                    return Err(not_ready(
                        error_codes::ENDPOINT_NOT_READY,
                        format!(
                            "Currently, Address endpoint : {} is {}",
                            t.state.name,
                            t.state.status().as_str()
                        ),
                    ));
                }
                tracked(engine, t, blocking, mediator, ctx).await
            }
            EndpointIr::Group(g) => match g.kind {
                GroupKind::RecipientList => {
                    recipient_list(engine, g, blocking, mediator, ctx).await
                }
                _ => failover(engine, g, blocking, mediator, ctx).await,
            },
            EndpointIr::Members(m) => {
                crate::members::send(engine, m, blocking, mediator, ctx).await
            }
            EndpointIr::MemberRecipients(m) => {
                let g = crate::members::recipients(m, ctx)?;
                recipient_list(engine, &g, blocking, mediator, ctx).await
            }
            EndpointIr::Recipients(r) => {
                if let crate::ir::ValueSrc::Expr(e) = &r.value {
                    crate::run::prefetch(engine, e.registry_keys(), ctx).await?;
                }
                let g = recipients(engine, r, ctx)?;
                recipient_list(engine, &g, blocking, mediator, ctx).await
            }
            leaf_ep => leaf(engine, Some(leaf_ep), blocking, mediator, ctx)
                .await
                .map(|_| Sent::Answered),
        }
    }
}

fn not_ready(code: i64, message: String) -> MediationError {
    MediationError::new(ErrorKind::ConnectFailed, Origin::Upstream, code, message)
}

/// A leaf with a state: the result updates it.
async fn tracked(
    engine: &Engine,
    t: &Tracked,
    blocking: bool,
    mediator: &'static str,
    ctx: &mut MessageContext,
) -> Result<Sent, MediationError> {
    let r = leaf(engine, Some(&t.leaf), blocking, mediator, ctx).await;
    settle(engine, t, r)
}

fn settle(
    engine: &Engine,
    t: &Tracked,
    r: Result<(), MediationError>,
) -> Result<Sent, MediationError> {
    match r {
        Ok(()) => {
            t.state.on_success();
            Ok(Sent::Answered)
        }
        Err(e) if e.origin == Origin::Upstream => {
            t.state.on_error(e.code, engine.clock.now_ms());
            if t.discard_on_timeout && e.code == error_codes::TIMEOUT {
                return Ok(Sent::Discarded);
            }
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// `<failover>` and `<loadbalance>`: pick a ready child not yet tried, send, and on a backend
/// failure go on with the next one (a load balancer with `failover="false"` stops there).
async fn failover(
    engine: &Engine,
    g: &Group,
    blocking: bool,
    mediator: &'static str,
    ctx: &mut MessageContext,
) -> Result<Sent, MediationError> {
    let n = g.children.len();
    let mut tried = vec![false; n];
    let mut last: Option<MediationError> = None;
    let start = match g.kind {
        GroupKind::Loadbalance { .. } => g.cursor.fetch_add(1, Ordering::Relaxed) % n,
        GroupKind::Failover { dynamic: false } => g.cursor.load(Ordering::Relaxed) % n,
        _ => 0,
    };
    loop {
        let now = engine.clock.now_ms();
        let pick = (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| !tried[i] && ready(engine, &g.children[i], now, 0));
        let Some(i) = pick else {
            let what = match g.kind {
                GroupKind::Loadbalance { .. } => "Loadbalance",
                _ => "Failover",
            };
            let mut msg = format!("{what} endpoint : {} - no ready child endpoints", g.name);
            if let Some(e) = last {
                msg.push_str(&format!(
                    "\nlast failure: {}",
                    e.message.replace('\n', ": ")
                ));
            }
            return Err(not_ready(error_codes::GROUP_NOT_READY, msg));
        };
        tried[i] = true;
        if let GroupKind::Failover { dynamic: false } = g.kind {
            g.cursor.store(i, Ordering::Relaxed);
        }
        match dispatch(engine, &g.children[i], blocking, mediator, ctx, false).await {
            Err(e) if e.origin == Origin::Upstream => {
                ctx.properties.default.remove("BLOCKING_SENDER_ERROR");
                if matches!(g.kind, GroupKind::Loadbalance { failover: false }) {
                    return Err(e);
                }
                last = Some(e);
            }
            other => return other,
        }
    }
}

/// `<recipientlist>`: every ready child at once; the first answer wins.
/// Most recipients one `<endpoints value>` list may name.
const MAX_RECIPIENTS: usize = 64;

/// The group a dynamic recipient list stands for on this message: an address endpoint per
/// URL of the comma-separated value.
fn recipients(
    engine: &Engine,
    r: &crate::ir::Recipients,
    ctx: &MessageContext,
) -> Result<Group, MediationError> {
    let fault = |m: String| {
        MediationError::new(
            ErrorKind::Fault,
            Origin::Internal,
            error_codes::ENDPOINT_NOT_READY,
            m,
        )
    };
    let v = crate::eval::eval_src(engine, ctx, &r.value)?;
    let list = value_string(&v).unwrap_or_default();
    let mut children = Vec::new();
    for u in list.split(',').map(str::trim).filter(|u| !u.is_empty()) {
        if children.len() == MAX_RECIPIENTS {
            return Err(fault(format!(
                "recipient list `{}` names more than {MAX_RECIPIENTS} endpoints",
                r.name
            )));
        }
        if url::Url::parse(u).is_err() {
            return Err(fault(format!(
                "recipient list `{}`: `{u}` is not a valid URI",
                r.name
            )));
        }
        children.push(EndpointIr::Address {
            uri: u.to_string(),
            timeout_ms: None,
            format: None,
        });
    }
    Ok(Group {
        name: r.name.clone(),
        kind: GroupKind::RecipientList,
        children,
        cursor: std::sync::atomic::AtomicUsize::new(0),
    })
}

async fn recipient_list(
    engine: &Engine,
    g: &Group,
    blocking: bool,
    mediator: &'static str,
    ctx: &mut MessageContext,
) -> Result<Sent, MediationError> {
    let now = engine.clock.now_ms();
    let mut resolved = Vec::new();
    for child in &g.children {
        if !ready(engine, child, now, 0) {
            continue;
        }
        match resolve_on(engine, child, ctx).await {
            Ok(ep) => resolved.push(ep),
            // a key naming nothing: not ready, as an indirect endpoint without its endpoint
            Err(e) if e.origin == Origin::Upstream => {}
            Err(e) => return Err(e),
        }
    }
    let mut sends = Vec::new();
    for child in &resolved {
        let (leaf_ep, state) = match &**child {
            EndpointIr::Tracked(t) => (&t.leaf, Some(t.as_ref())),
            EndpointIr::Group(inner) => {
                return Err(MediationError::new(
                    ErrorKind::Fault,
                    Origin::Internal,
                    error_codes::ENDPOINT_NOT_READY,
                    format!(
                        "recipient list `{}`: a group (`{}`) as a recipient is not supported",
                        g.name, inner.name
                    ),
                ))
            }
            other => (other, None),
        };
        let p = prepare(engine, Some(leaf_ep), blocking, ctx)?;
        sends.push((p, state));
    }
    if sends.is_empty() {
        return Err(not_ready(
            error_codes::GROUP_NOT_READY,
            format!(
                "Recipient List endpoint : {} - no ready child endpoints",
                g.name
            ),
        ));
    }
    for (p, _) in sends.iter_mut() {
        crate::observe::outbound(ctx, mediator, &mut p.req);
    }
    let order = std::sync::atomic::AtomicUsize::new(0);
    let order = &order;
    let results = futures::future::join_all(sends.iter().map(|(p, _)| {
        let req = p.req.clone();
        async move {
            let r = engine.invoker.invoke(req).await;
            (order.fetch_add(1, Ordering::Relaxed), r)
        }
    }))
    .await;
    // in the order the answers came: the first success is the message
    let mut done: Vec<(usize, usize)> = results
        .iter()
        .enumerate()
        .map(|(i, (o, _))| (*o, i))
        .collect();
    done.sort_unstable();
    let mut first_ok: Option<usize> = None;
    let mut first_err: Option<MediationError> = None;
    for (_, i) in done {
        let (p, state) = &sends[i];
        let r = &results[i].1;
        crate::observe::outbound_done(ctx, r.as_ref().map(|r| r.status));
        let outcome = match r {
            Ok(_) => Ok(()),
            Err(e) => Err(invoke_error(e, &p.target, p.timeout)),
        };
        if let Some(t) = state {
            match &outcome {
                Ok(()) => t.state.on_success(),
                Err(e) => t.state.on_error(e.code, engine.clock.now_ms()),
            }
        }
        match outcome {
            Ok(()) if first_ok.is_none() => first_ok = Some(i),
            Err(e) if first_err.is_none() => first_err = Some(e),
            _ => {}
        }
    }
    let mut results = results;
    match first_ok {
        Some(i) => {
            let (p, _) = &sends[i];
            let r = std::mem::replace(&mut results[i].1, Err(InvokeError::Timeout));
            apply(r, blocking, &p.target, p.timeout, ctx)?;
            Ok(Sent::Answered)
        }
        None => Err(first_err.unwrap_or_else(|| {
            not_ready(error_codes::GROUP_NOT_READY, "no recipient answered".into())
        })),
    }
}

fn lookup_uri_var(ctx: &MessageContext, name: &str) -> Option<String> {
    ctx.properties.default.get(name).and_then(value_string)
}

fn safe_target(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}{}",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.port().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        Err(_) => "the endpoint".to_string(),
    }
}

/// A request ready to go to a leaf.
struct Prepared {
    req: OutboundRequest,
    /// `scheme://host:port`, for messages.
    target: String,
    timeout: Duration,
}

fn prepare(
    engine: &Engine,
    ep: Option<&EndpointIr>,
    blocking: bool,
    ctx: &mut MessageContext,
) -> Result<Prepared, MediationError> {
    let postfix = ctx.axis2_string("REST_URL_POSTFIX").unwrap_or_default();
    let mut soap = None;
    let (method, url, timeout_ms) = match ep {
        Some(EndpointIr::Http {
            method,
            template,
            timeout_ms,
        }) => {
            // as Synapse's `HTTPEndpoint`: with no `uri.var.*` / `query.param.*` property to
            // bind, the template is the URL as written
            let bindable = |k: &str| k.starts_with("uri.var.") || k.starts_with("query.param.");
            let mut url = if ctx.properties.default.keys().any(bindable) {
                expand_uri_template(template, &|n| {
                    bindable(n).then(|| lookup_uri_var(ctx, n)).flatten()
                })
            } else {
                template.to_string()
            };
            if blocking {
                url = join_rest_postfix(&url, &postfix);
            }
            (ctx.http_method(method.as_ref()), url, *timeout_ms)
        }
        Some(EndpointIr::Address {
            uri,
            timeout_ms,
            format,
        }) => match format {
            // a SOAP port: POSTed as an envelope of its version, without the REST postfix
            // (Synapse's forced SOAP formats are never REST)
            Some(WsdlFormat::Soap11) => {
                soap = Some(SoapVersion::Soap11);
                (http::Method::POST, uri.clone(), *timeout_ms)
            }
            Some(WsdlFormat::Soap12) => {
                soap = Some(SoapVersion::Soap12);
                (http::Method::POST, uri.clone(), *timeout_ms)
            }
            Some(WsdlFormat::Get) => (
                http::Method::GET,
                join_rest_postfix(uri, &postfix),
                *timeout_ms,
            ),
            Some(WsdlFormat::Rest) | None => (
                ctx.http_method(None),
                join_rest_postfix(uri, &postfix),
                *timeout_ms,
            ),
        },
        Some(EndpointIr::Url(u)) => (ctx.http_method(None), u.clone(), None),
        _ => {
            let to = match ctx.st.addressing.get("To") {
                Some(to) if !ctx.st.inbound.contains("To") => to.clone(),
                _ => String::new(),
            };
            (ctx.http_method(None), to, None)
        }
    };
    if url.trim().is_empty() {
        return Err(MediationError::new(
            ErrorKind::Fault,
            Origin::Internal,
            error_codes::ENDPOINT_NOT_READY,
            "the call has no endpoint address",
        ));
    }
    let timeout = timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(engine.limits.call_timeout);
    let target = safe_target(&url);
    let req = match soap {
        Some(v) => ctx.outbound_soap(v, url, Some(timeout))?,
        None => ctx.outbound(method, url, Some(timeout))?,
    };
    Ok(Prepared {
        req,
        target,
        timeout,
    })
}

/// The message to `url` as it is (a load balancer's member).
pub(crate) async fn send_to_url(
    engine: &Engine,
    url: String,
    blocking: bool,
    mediator: &'static str,
    ctx: &mut MessageContext,
) -> Result<(), MediationError> {
    leaf(engine, Some(&EndpointIr::Url(url)), blocking, mediator, ctx).await
}

/// One leaf: `<http>`, `<address>`, `<default>` or the message's `To` (`None`).
async fn leaf(
    engine: &Engine,
    ep: Option<&EndpointIr>,
    blocking: bool,
    mediator: &'static str,
    ctx: &mut MessageContext,
) -> Result<(), MediationError> {
    let Prepared {
        mut req,
        target,
        timeout,
    } = prepare(engine, ep, blocking, ctx)?;
    crate::observe::outbound(ctx, mediator, &mut req);
    let res = engine.invoker.invoke(req).await;
    crate::observe::outbound_done(ctx, res.as_ref().map(|r| r.status));
    apply(res, blocking, &target, timeout, ctx)
}

/// A leaf's answer into the message (blocking: the body; non-blocking: the whole response).
fn apply(
    res: Result<InboundResponse, InvokeError>,
    blocking: bool,
    target: &str,
    timeout: Duration,
    ctx: &mut MessageContext,
) -> Result<(), MediationError> {
    if blocking {
        for h in [
            "content-type",
            "content-length",
            "transfer-encoding",
            "connection",
            "date",
        ] {
            ctx.headers.remove(h);
        }
    }
    match res {
        Ok(resp) => {
            if blocking {
                let ct = resp
                    .headers
                    .get(CONTENT_TYPE)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
                ctx.properties
                    .axis2
                    .insert("HTTP_SC", Value::Integer(resp.status as i64));
                ctx.set_body_raw(resp.body, ct, true);
            } else {
                ctx.set_response(resp);
                // `FORCE_ERROR_ON_SOAP_FAULT`: a SOAP fault answer fails the endpoint, as
                // Synapse's callback receiver does (the fault handler sees the fault message)
                let force = ctx.properties.default.get("FORCE_ERROR_ON_SOAP_FAULT");
                if force.and_then(value_string).as_deref() == Some("true") {
                    ctx.ensure_built()?;
                    if body_has_fault(ctx) {
                        return Err(MediationError::new(
                            ErrorKind::Fault,
                            Origin::Upstream,
                            error_codes::ENDPOINT_CUSTOM_ERROR,
                            format!("{target} answered with a SOAP fault"),
                        ));
                    }
                }
            }
            Ok(())
        }
        Err(e) => {
            if blocking {
                ctx.properties
                    .default
                    .insert("BLOCKING_SENDER_ERROR", Value::String("true".into()));
            }
            Err(invoke_error(&e, target, timeout))
        }
    }
}

/// The first line is Synapse's `ERROR_MESSAGE` wording (its transport's), the second names the
/// target for `ERROR_DETAIL`.
fn invoke_error(e: &InvokeError, target: &str, timeout: Duration) -> MediationError {
    match e {
        InvokeError::Connect(_) => MediationError::new(
            ErrorKind::ConnectFailed,
            Origin::Upstream,
            error_codes::CONNECTION_FAILED,
            format!("Error connecting to the back end\nconnection to {target} failed"),
        ),
        InvokeError::Timeout => MediationError::new(
            ErrorKind::Timeout,
            Origin::Upstream,
            error_codes::TIMEOUT,
            format!(
                "Error in Sender\n{target} did not answer within {} ms",
                timeout.as_millis()
            ),
        ),
        InvokeError::TooLarge => MediationError::new(
            ErrorKind::BodyTooLarge,
            Origin::Upstream,
            error_codes::RECEIVE_FAILED,
            format!("the response from {target} is too large"),
        ),
        InvokeError::Other(_) => MediationError::new(
            ErrorKind::ConnectFailed,
            Origin::Upstream,
            error_codes::SEND_FAILED,
            format!("Error in Sender\nsending to {target} failed"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use crate::*;
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Mutex;
    use synaptic_diag::SourceId;

    /// Backends by host: `up*` answer with their name, `down*` refuse, `slow*` time out.
    #[derive(Default)]
    struct Hosts {
        log: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl Invoker for Hosts {
        async fn invoke(&self, req: OutboundRequest) -> Result<InboundResponse, InvokeError> {
            let host = url::Url::parse(&req.url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_default();
            self.log.lock().unwrap().push(host.clone());
            if host.starts_with("down") {
                return Err(InvokeError::Connect("refused".into()));
            }
            if host.starts_with("slow") {
                return Err(InvokeError::Timeout);
            }
            let mut headers = http::HeaderMap::new();
            headers.insert(http::header::CONTENT_TYPE, "text/plain".parse().unwrap());
            Ok(InboundResponse {
                status: 200,
                headers,
                body: Bytes::from(host),
            })
        }
    }

    /// A clock the test moves.
    #[derive(Default)]
    struct Manual(AtomicI64);
    impl Clock for Manual {
        fn now_ms(&self) -> i64 {
            self.0.load(Ordering::Relaxed)
        }
    }

    struct T {
        engine: Engine,
        hosts: Arc<Hosts>,
        clock: Arc<Manual>,
        rt: tokio::runtime::Runtime,
    }

    impl T {
        fn new(xml: &str) -> T {
            let p = synaptic_syntax::parse_artifact(SourceId(0), xml);
            assert!(p.is_ok(), "{:?}", p.diagnostics);
            let (prog, diags) = compile(std::slice::from_ref(&p.tree), &CompileOptions::default());
            let prog = prog.unwrap_or_else(|| panic!("{diags:?}"));
            let hosts = Arc::new(Hosts::default());
            let clock = Arc::new(Manual::default());
            T {
                engine: Engine {
                    configurables: std::sync::Arc::new(crate::NoConfigurables),
                    program: Arc::new(prog),
                    invoker: hosts.clone(),
                    registry: Arc::new(synaptic_registry::MemoryRegistry::new()),
                    clock: clock.clone(),
                    state: Arc::new(crate::MemoryState::default()),
                    db: std::sync::Arc::new(crate::NoDatabase),
                    limits: Limits::default(),
                },
                hosts,
                clock,
                rt: crate::test_support::rt(),
            }
        }
        /// Run sequence `s`: the answer's body, or the error code.
        fn run(&self) -> Result<String, i64> {
            self.run_on(MessageContext::from_request(
                http::Method::POST,
                "/x",
                http::HeaderMap::new(),
                Bytes::from_static(b"hi"),
                None,
            ))
        }
        /// [`T::run`] on an XML request with this body.
        fn run_xml(&self, body: &str) -> Result<String, i64> {
            self.run_on(crate::test_support::request("application/xml", body))
        }
        fn run_on(&self, mut ctx: MessageContext) -> Result<String, i64> {
            match self.rt.block_on(self.engine.mediate("s", None, &mut ctx)) {
                Ok(Flow::Drop) => Ok("<dropped>".into()),
                Ok(_) => Ok(String::from_utf8_lossy(&ctx.body_bytes().unwrap().0).into_owned()),
                Err(e) => Err(e.code),
            }
        }
        fn sent(&self) -> Vec<String> {
            std::mem::take(&mut *self.hosts.log.lock().unwrap())
        }
        fn at(&self, ms: i64) {
            self.clock.0.store(ms, Ordering::Relaxed);
        }
        fn state(&self, name: &str) -> EndpointStatus {
            self.engine
                .program
                .endpoint_states()
                .iter()
                .find(|s| s.name == name)
                .unwrap_or_else(|| panic!("no state {name}"))
                .status()
        }
    }

    const NS: &str = r#"xmlns="http://ws.apache.org/ns/synapse""#;

    fn program(endpoint: &str) -> String {
        format!(
            r#"<definitions {NS}>{endpoint}
               <sequence name="s"><call><endpoint key="E"/></call><respond/></sequence>
               </definitions>"#
        )
    }

    #[test]
    fn failover_skips_a_refusing_child_and_suspends_it_until_it_recovers() {
        let t = T::new(&program(
            r#"<endpoint name="E"><failover>
                 <endpoint name="A"><address uri="http://down-a/x">
                   <suspendOnFailure><initialDuration>1000</initialDuration>
                     <progressionFactor>2</progressionFactor></suspendOnFailure>
                 </address></endpoint>
                 <endpoint name="B"><address uri="http://up-b/x"/></endpoint>
               </failover></endpoint>"#,
        ));
        assert_eq!(t.run(), Ok("up-b".into()));
        assert_eq!(t.sent(), ["down-a", "up-b"]);
        assert_eq!(t.state("A"), EndpointStatus::Suspended);
        assert_eq!(t.state("B"), EndpointStatus::Active);
        // suspended: not tried again before its time
        t.at(999);
        assert_eq!(t.run(), Ok("up-b".into()));
        assert_eq!(t.sent(), ["up-b"]);
        // retried after 1 s, fails again: suspended twice as long
        t.at(1000);
        assert_eq!(t.run(), Ok("up-b".into()));
        assert_eq!(t.sent(), ["down-a", "up-b"]);
        t.at(2999);
        t.run().unwrap();
        assert_eq!(t.sent(), ["up-b"]);
        t.at(3000);
        t.run().unwrap();
        assert_eq!(t.sent(), ["down-a", "up-b"]);
    }

    #[test]
    fn a_recovered_primary_takes_over_again() {
        let t = T::new(&program(
            r#"<endpoint name="E"><failover>
                 <endpoint name="A"><address uri="http://up-a/x"/></endpoint>
                 <endpoint name="B"><address uri="http://up-b/x"/></endpoint>
               </failover></endpoint>"#,
        ));
        // A fails once (as if refused): mark it by hand through the state machine
        let a = t.engine.program.endpoint_states()[0].clone();
        assert_eq!(a.name, "A");
        a.on_error(error_codes::CONNECTION_FAILED, 0);
        assert_eq!(t.run(), Ok("up-b".into()));
        // the default suspension is 30 s
        t.at(DEFAULT_SUSPEND_MS);
        assert_eq!(t.run(), Ok("up-a".into()));
        assert_eq!(t.state("A"), EndpointStatus::Active);
        assert_eq!(t.sent(), ["up-b", "up-a"]);
    }

    #[test]
    fn static_failover_stays_on_the_child_that_worked() {
        let t = T::new(&program(
            r#"<endpoint name="E"><failover dynamic="false" buildMessage="true">
                 <endpoint name="A"><address uri="http://up-a/x"/></endpoint>
                 <endpoint name="B"><address uri="http://up-b/x"/></endpoint>
               </failover></endpoint>"#,
        ));
        let a = t.engine.program.endpoint_states()[0].clone();
        a.on_error(error_codes::CONNECTION_FAILED, 0);
        assert_eq!(t.run(), Ok("up-b".into()));
        t.at(DEFAULT_SUSPEND_MS);
        // A is ready again, but a static failover keeps B until B fails
        assert_eq!(t.run(), Ok("up-b".into()));
    }

    #[test]
    fn no_ready_child_is_303000_and_a_suspended_leaf_alone_is_303001() {
        let t = T::new(&program(
            r#"<endpoint name="E"><failover>
                 <endpoint><address uri="http://down-a/x"/></endpoint>
                 <endpoint><address uri="http://slow-b/x"/></endpoint>
               </failover></endpoint>"#,
        ));
        assert_eq!(t.run(), Err(error_codes::GROUP_NOT_READY));
        assert_eq!(t.sent(), ["down-a", "slow-b"]);
        // both suspended now: nothing is sent
        assert_eq!(t.run(), Err(error_codes::GROUP_NOT_READY));
        assert!(t.sent().is_empty());

        let t = T::new(&program(
            r#"<endpoint name="E"><address uri="http://down-a/x">
                 <suspendOnFailure><errorCodes>101503</errorCodes></suspendOnFailure>
               </address></endpoint>"#,
        ));
        assert_eq!(t.run(), Err(error_codes::CONNECTION_FAILED));
        assert_eq!(t.run(), Err(error_codes::ENDPOINT_NOT_READY));
        assert_eq!(t.sent(), ["down-a"]);
    }

    #[test]
    fn loadbalance_takes_turns_and_fails_over() {
        let t = T::new(&program(
            r#"<endpoint name="E"><loadbalance algorithm="org.apache.synapse.endpoints.algorithms.RoundRobin">
                 <endpoint name="A"><address uri="http://up-a/x"/></endpoint>
                 <endpoint name="B"><address uri="http://up-b/x"/></endpoint>
                 <endpoint name="C"><address uri="http://up-c/x"/></endpoint>
               </loadbalance></endpoint>"#,
        ));
        let answers: Vec<String> = (0..6).map(|_| t.run().unwrap()).collect();
        assert_eq!(answers, ["up-a", "up-b", "up-c", "up-a", "up-b", "up-c"]);

        let t = T::new(&program(
            r#"<endpoint name="E"><loadbalance>
                 <endpoint name="A"><address uri="http://up-a/x"/></endpoint>
                 <endpoint name="B"><address uri="http://down-b/x"/></endpoint>
                 <endpoint name="C"><address uri="http://up-c/x"/></endpoint>
               </loadbalance></endpoint>"#,
        ));
        let answers: Vec<String> = (0..5).map(|_| t.run().unwrap()).collect();
        assert_eq!(answers, ["up-a", "up-c", "up-c", "up-a", "up-c"]);
        assert_eq!(t.sent(), ["up-a", "down-b", "up-c", "up-c", "up-a", "up-c"]);
        assert_eq!(t.state("B"), EndpointStatus::Suspended);
    }

    #[test]
    fn loadbalance_without_failover_reports_the_failure() {
        let t = T::new(&program(
            r#"<endpoint name="E"><loadbalance failover="false">
                 <endpoint><address uri="http://down-a/x"/></endpoint>
                 <endpoint><address uri="http://up-b/x"/></endpoint>
               </loadbalance></endpoint>"#,
        ));
        assert_eq!(t.run(), Err(error_codes::CONNECTION_FAILED));
        assert_eq!(t.run(), Ok("up-b".into()));
    }

    #[test]
    fn recipient_list_sends_to_all_and_the_first_answer_wins() {
        let t = T::new(&program(
            r#"<endpoint name="E"><recipientlist>
                 <endpoint><address uri="http://down-a/x"/></endpoint>
                 <endpoint><address uri="http://up-b/x"/></endpoint>
                 <endpoint><address uri="http://up-c/x"/></endpoint>
               </recipientlist></endpoint>"#,
        ));
        assert_eq!(t.run(), Ok("up-b".into()));
        let mut sent = t.sent();
        sent.sort();
        assert_eq!(sent, ["down-a", "up-b", "up-c"]);
        // the refusing one is suspended
        t.run().unwrap();
        let mut sent = t.sent();
        sent.sort();
        assert_eq!(sent, ["up-b", "up-c"]);
    }

    #[test]
    fn nested_groups_and_keys() {
        let t = T::new(&format!(
            r#"<definitions {NS}>
                 <endpoint name="Backup"><address uri="http://up-backup/x"/></endpoint>
                 <endpoint name="E"><failover>
                   <endpoint name="Pool"><loadbalance>
                     <endpoint><address uri="http://down-a/x"/></endpoint>
                     <endpoint><address uri="http://down-b/x"/></endpoint>
                   </loadbalance></endpoint>
                   <endpoint key="Backup"/>
                 </failover></endpoint>
                 <sequence name="s"><send><endpoint key="E"/></send></sequence>
               </definitions>"#
        ));
        assert_eq!(t.run(), Ok("up-backup".into()));
        assert_eq!(t.sent(), ["down-a", "down-b", "up-backup"]);
        assert_eq!(t.state("Pool/0"), EndpointStatus::Suspended);
        assert_eq!(t.run(), Ok("up-backup".into()));
        assert_eq!(t.sent(), ["up-backup"]);
    }

    #[test]
    fn a_discarding_timeout_drops_the_message() {
        let t = T::new(&program(
            r#"<endpoint name="E"><address uri="http://slow-a/x">
                 <timeout><duration>10</duration><responseAction>discard</responseAction></timeout>
               </address></endpoint>"#,
        ));
        assert_eq!(t.run(), Ok("<dropped>".into()));
        let t = T::new(&program(
            r#"<endpoint name="E"><address uri="http://slow-a/x">
                 <timeout><duration>10</duration><responseAction>fault</responseAction></timeout>
               </address></endpoint>"#,
        ));
        assert_eq!(t.run(), Err(error_codes::TIMEOUT));
    }

    #[test]
    fn timeouts_retry_the_same_child_only_after_the_retry_delay() {
        let t = T::new(&program(
            r#"<endpoint name="E"><failover>
                 <endpoint name="A"><address uri="http://slow-a/x">
                   <markForSuspension><retriesBeforeSuspension>1</retriesBeforeSuspension>
                     <retryDelay>100</retryDelay></markForSuspension>
                   <suspendOnFailure><initialDuration>5000</initialDuration></suspendOnFailure>
                 </address></endpoint>
                 <endpoint name="B"><address uri="http://up-b/x"/></endpoint>
               </failover></endpoint>"#,
        ));
        assert_eq!(t.run(), Ok("up-b".into()));
        assert_eq!(t.state("A"), EndpointStatus::Timeout);
        t.at(50);
        t.run().unwrap();
        assert_eq!(t.sent(), ["slow-a", "up-b", "up-b"]);
        t.at(100);
        t.run().unwrap();
        assert_eq!(t.sent(), ["slow-a", "up-b"]);
        assert_eq!(t.state("A"), EndpointStatus::Suspended);
        t.at(5099);
        t.run().unwrap();
        assert_eq!(t.sent(), ["up-b"]);
    }

    /// Two named endpoints and sequence `s` calling `endpoint`, its fault sequence answering
    /// with `ERROR_CODE` and `ERROR_MESSAGE`.
    fn keyed(endpoint: &str, more: &str) -> String {
        format!(
            r#"<definitions {NS}>
                 <endpoint name="A"><address uri="http://up-a/x"/></endpoint>
                 <endpoint name="B"><address uri="http://up-b/x"/></endpoint>{more}
                 <sequence name="s" onError="f">
                   <call>{endpoint}</call><respond/>
                 </sequence>
                 <sequence name="f">
                   <payloadFactory media-type="text"><format>$1 $2</format><args>
                     <arg expression="get-property('ERROR_CODE')"/>
                     <arg expression="get-property('ERROR_MESSAGE')"/>
                   </args></payloadFactory>
                   <respond/>
                 </sequence>
               </definitions>"#
        )
    }

    #[test]
    fn a_key_expression_sends_each_message_to_the_endpoint_its_value_names() {
        // the XPath's prefix is bound on the endpoint element itself
        let t = T::new(&keyed(
            r#"<endpoint xmlns:r="urn:route" key-expression="//r:to"/>"#,
            "",
        ));
        let to = |ep: &str| format!(r#"<q xmlns="urn:route"><to>{ep}</to></q>"#);
        assert_eq!(t.run_xml(&to("B")), Ok("up-b".into()));
        assert_eq!(t.run_xml(&to("A")), Ok("up-a".into()));
        assert_eq!(t.run_xml(&to("B")), Ok("up-b".into()));
        assert_eq!(t.sent(), ["up-b", "up-a", "up-b"]);

        // a property the flow sets picks it as well
        let t = T::new(&format!(
            r#"<definitions {NS}>
                 <endpoint name="A"><address uri="http://up-a/x"/></endpoint>
                 <endpoint name="B"><address uri="http://up-b/x"/></endpoint>
                 <sequence name="s">
                   <property name="target" expression="local-name($body/*)"/>
                   <send><endpoint key-expression="get-property('target')"/></send>
                 </sequence>
               </definitions>"#
        ));
        assert_eq!(t.run_xml("<A/>"), Ok("up-a".into()));
        assert_eq!(t.run_xml("<B/>"), Ok("up-b".into()));
        assert_eq!(t.sent(), ["up-a", "up-b"]);
    }

    #[test]
    fn a_key_naming_no_endpoint_is_the_fault_305100_the_fault_sequence_handles() {
        let t = T::new(&keyed(r#"<endpoint key-expression="//to"/>"#, ""));
        assert_eq!(
            t.run_xml("<q><to>C</to></q>"),
            Ok("305100 Couldn't find the endpoint with the key : C".into())
        );
        // nothing names the empty key either
        assert_eq!(
            t.run_xml("<q/>"),
            Ok("305100 Couldn't find the endpoint with the key : ".into())
        );
        assert!(t.sent().is_empty());
        // without a fault handler the fault is the caller's
        let t = T::new(&program(r#"<endpoint name="E" key-expression="//to"/>"#));
        assert_eq!(
            t.run_xml("<q><to>C</to></q>"),
            Err(error_codes::ENDPOINT_KEY_NOT_FOUND)
        );
        // a key expression naming itself ends instead of sending around in a loop
        assert_eq!(
            t.run_xml("<q><to>E</to></q>"),
            Err(error_codes::ENDPOINT_NOT_READY)
        );
        assert!(t.sent().is_empty());
    }

    #[test]
    fn the_endpoint_a_key_expression_names_keeps_its_own_suspension() {
        let t = T::new(&keyed(
            r#"<endpoint key-expression="//to"/>"#,
            r#"<endpoint name="D"><address uri="http://down-d/x">
                 <suspendOnFailure><errorCodes>101503</errorCodes></suspendOnFailure>
               </address></endpoint>"#,
        ));
        let to_d = "<q><to>D</to></q>";
        assert!(t.run_xml(to_d).unwrap().starts_with("101503 "));
        assert_eq!(t.state("D"), EndpointStatus::Suspended);
        // suspended: not sent to, the fault a suspended endpoint gives
        assert!(t.run_xml(to_d).unwrap().starts_with("303001 "));
        assert_eq!(t.run_xml("<q><to>A</to></q>"), Ok("up-a".into()));
        assert_eq!(t.sent(), ["down-d", "up-a"]);
    }

    #[test]
    fn a_failover_goes_on_from_a_key_expression_that_fails() {
        let t = T::new(&program(
            r#"<endpoint name="D"><address uri="http://down-d/x"/></endpoint>
               <endpoint name="E"><failover>
                 <endpoint key-expression="//to"/>
                 <endpoint><address uri="http://up-z/x"/></endpoint>
               </failover></endpoint>"#,
        ));
        // an unknown key, then a refusing endpoint: the next child answers
        assert_eq!(t.run_xml("<q><to>C</to></q>"), Ok("up-z".into()));
        assert_eq!(t.run_xml("<q><to>D</to></q>"), Ok("up-z".into()));
        assert_eq!(t.sent(), ["up-z", "down-d", "up-z"]);
    }

    #[test]
    fn a_key_expression_is_checked_at_load_and_nothing_else() {
        // each diagnostic's code and the attribute value (or element name) it is at
        let diags = |endpoint: &str| {
            let xml = keyed(endpoint, "");
            let (prog, diags) = crate::test_support::compiled(&xml);
            let got: Vec<(&str, String)> = diags
                .iter()
                .map(|d| {
                    let s = d.primary_span();
                    let from = xml[..s.start as usize].rfind(['"', '<']).unwrap() + 1;
                    let to = s.end as usize + xml[s.end as usize..].find(['"', ' ', '/']).unwrap();
                    (d.code.id, xml[from..to].to_string())
                })
                .collect();
            (prog.is_some(), got)
        };
        assert_eq!(
            diags(r#"<endpoint key-expression="//to"/>"#),
            (true, vec![])
        );
        assert_eq!(
            diags(r#"<endpoint key-expression="//to["/>"#),
            (false, vec![("E0201", "//to[".to_string())])
        );
        // XPath only, as Synapse compiles it
        for x in ["json-eval($.to)", "${payload.to}"] {
            let (ok, got) = diags(&format!(r#"<endpoint key-expression="{x}"/>"#));
            assert!(!ok);
            assert_eq!(got, [("E0201", x.to_string())]);
        }
        // it names its endpoint and defines none
        let (ok, got) =
            diags(r#"<endpoint key-expression="//to"><address uri="http://a/x"/></endpoint>"#);
        assert!(!ok);
        assert_eq!(got, [("E0115", "address".to_string())]);
    }

    fn put(t: &T, key: &str, text: &str) {
        t.rt.block_on(t.engine.registry.put(key, text)).unwrap();
    }

    #[test]
    fn an_endpoint_key_no_artifact_defines_is_the_registry_endpoint_of_that_key() {
        let t = T::new(&keyed(
            r#"<endpoint key="gov:/endpoints/r.xml"/>"#,
            r#"<sequence name="g"><call><endpoint><failover>
                 <endpoint key="gov:/endpoints/none.xml"/><endpoint key="gov:/endpoints/r.xml"/>
               </failover></endpoint></call><respond/></sequence>
               <sequence name="x"><call><endpoint key-expression="//to"/></call><respond/></sequence>
               <sequence name="l"><call><endpoint><recipientlist>
                 <endpoint key="gov:/endpoints/none.xml"/><endpoint key="gov:/endpoints/r.xml"/>
               </recipientlist></endpoint></call><respond/></sequence>"#,
        ));
        put(
            &t,
            "gov:/endpoints/r.xml",
            &format!(r#"<endpoint {NS} name="r"><address uri="http://up-r/x"/></endpoint>"#),
        );
        assert_eq!(t.run(), Ok("up-r".into()));
        // in a group (a key naming nothing is a failure the group goes on from), and named by
        // a key expression
        let run = |s: &str, body: &str| {
            let mut ctx = crate::test_support::request("application/xml", body);
            t.rt.block_on(t.engine.mediate(s, None, &mut ctx)).unwrap();
            String::from_utf8_lossy(&ctx.body_bytes().unwrap().0).into_owned()
        };
        assert_eq!(run("g", "<q/>"), "up-r");
        assert_eq!(run("x", "<q><to>gov:/endpoints/r.xml</to></q>"), "up-r");
        assert_eq!(run("l", "<q/>"), "up-r");
        assert_eq!(t.sent(), ["up-r", "up-r", "up-r", "up-r"]);
        // the resource changes: the new endpoint is used
        put(
            &t,
            "gov:/endpoints/r.xml",
            &format!(r#"<endpoint {NS} name="r"><address uri="http://up-s/x"/></endpoint>"#),
        );
        assert_eq!(t.run(), Ok("up-s".into()));
        assert_eq!(t.sent(), ["up-s"]);
    }

    #[test]
    fn a_registry_resource_that_is_no_endpoint_faults_with_synapses_message() {
        let t = T::new(&keyed(r#"<endpoint key="conf:/ep.xml"/>"#, ""));
        assert_eq!(
            t.run(),
            Ok("305100 Couldn't find the endpoint with the key : conf:/ep.xml".into())
        );
        put(&t, "conf:/ep.xml", "just text");
        assert_eq!(
            t.run(),
            Ok("0 Configuration is not in proper format.".into())
        );
        for text in [
            format!(r#"<sequence {NS} name="s"/>"#),
            format!(r#"<endpoint {NS} name="e"><address uri="//no-scheme"/></endpoint>"#),
        ] {
            put(&t, "conf:/ep.xml", &text);
            assert_eq!(
                t.run(),
                Ok("0 Invalid endpoint configuration.".into()),
                "{text}"
            );
        }
        // an endpoint naming itself through the registry ends instead of recursing: the
        // group's one child is never ready
        put(
            &t,
            "conf:/ep.xml",
            &format!(
                r#"<endpoint {NS} name="e"><failover><endpoint key="conf:/ep.xml"/></failover></endpoint>"#
            ),
        );
        assert_eq!(
            t.run(),
            Ok("303000 Failover endpoint : e - no ready child endpoints".into())
        );
        assert!(t.sent().is_empty());
    }

    #[test]
    fn a_registry_endpoint_keeps_its_state_while_its_text_is_unchanged() {
        let t = T::new(&keyed(r#"<endpoint key="gov:/d.xml"/>"#, ""));
        let down = format!(
            r#"<endpoint {NS} name="d"><address uri="http://down-d/x">
                 <suspendOnFailure><errorCodes>101503</errorCodes></suspendOnFailure>
               </address></endpoint>"#
        );
        put(&t, "gov:/d.xml", &down);
        assert!(t.run().unwrap().starts_with("101503 "));
        // suspended across messages: not sent to
        assert!(t.run().unwrap().starts_with("303001 "));
        assert!(t.run().unwrap().starts_with("303001 "));
        assert_eq!(t.sent(), ["down-d"]);
        // a new text is a new endpoint with a fresh state
        put(&t, "gov:/d.xml", &down.replace("down-d/x", "down-d/y"));
        assert!(t.run().unwrap().starts_with("101503 "));
        assert_eq!(t.sent(), ["down-d"]);
    }

    #[test]
    fn a_member_a_registry_endpoint_takes_out_is_probed_and_comes_back() {
        let t = T::new(&keyed(r#"<endpoint key="gov:/d.xml"/>"#, ""));
        // an endpoint named by a key may be a registry load balancer: the host probes
        assert!(t.engine.program.has_members());
        assert!(t.engine.probe_members().is_empty());
        let members = format!(
            r#"<endpoint {NS} name="d"><loadbalance failover="true">
                 <member hostName="down-m" httpPort="9001"/><member hostName="up-m" httpPort="9002"/>
               </loadbalance></endpoint>"#
        );
        put(&t, "gov:/d.xml", &members);
        t.run().unwrap();
        let probes = t.engine.probe_members();
        assert_eq!(probes.len(), 1);
        assert_eq!(
            (probes[0].endpoint(), probes[0].host(), probes[0].ports()),
            ("d", "down-m", vec![9001])
        );
        let state = |t: &T| {
            t.engine
                .program
                .endpoint_statuses()
                .into_iter()
                .find(|(n, _)| n == "gov:/d.xml/0")
                .map(|(_, s)| s)
        };
        assert_eq!(state(&t), Some(EndpointStatus::Suspended));
        // a probe that connects puts it back in turn
        probes[0].readmit();
        assert!(t.engine.probe_members().is_empty());
        assert_eq!(state(&t), Some(EndpointStatus::Active));
    }

    #[test]
    fn a_program_without_members_or_endpoint_keys_needs_no_prober() {
        let t = T::new(&keyed(
            r#"<endpoint><address uri="http://up-a/x"/></endpoint>"#,
            "",
        ));
        assert!(!t.engine.program.has_members());
    }

    #[test]
    fn a_registry_endpoints_states_are_listed_by_its_key_while_it_is_cached() {
        let t = T::new(&keyed(r#"<endpoint key="gov:/d.xml"/>"#, ""));
        let listed = |t: &T| -> Vec<String> {
            t.engine
                .program
                .endpoint_statuses()
                .into_iter()
                .filter(|(n, _)| n.starts_with("gov:"))
                .map(|(n, s)| format!("{n} {}", s.as_str()))
                .collect()
        };
        // nothing read yet
        let failover = format!(
            r#"<endpoint {NS} name="d"><failover>
                 <endpoint name="primary"><address uri="http://down-d/p"/></endpoint>
                 <endpoint><address uri="http://up-d/q"/></endpoint>
               </failover></endpoint>"#
        );
        put(&t, "gov:/d.xml", &failover);
        assert!(listed(&t).is_empty());
        assert!(t.run().unwrap().starts_with("up-d"), "{:?}", t.run());
        // a named child under the key, an unnamed one as the key and its index
        assert_eq!(
            listed(&t),
            ["gov:/d.xml/primary suspended", "gov:/d.xml/1 active"]
        );
        // a load balancer over members: each member as the key and its index
        let members = format!(
            r#"<endpoint {NS} name="d"><loadbalance failover="true">
                 <member hostName="down-m" httpPort="9001"/><member hostName="up-m" httpPort="9002"/>
               </loadbalance></endpoint>"#
        );
        put(&t, "gov:/d.xml", &members);
        t.run().unwrap();
        assert_eq!(
            listed(&t),
            ["gov:/d.xml/0 suspended", "gov:/d.xml/1 active"]
        );
        // the deployed ones are listed as before
        let all = t.engine.program.endpoint_statuses();
        assert_eq!(all.len(), t.engine.program.endpoint_states().len() + 2);
    }
}
