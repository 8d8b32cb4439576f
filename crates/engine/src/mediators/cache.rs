//! `<cache>`: Micro Integrator's cache mediator over [`SharedState`](crate::SharedState) (in
//! memory, or in Redis shared by every gateway).
//!
//! `collector="false"` on a request hashes it (method, path and query, headers as
//! `headersToIncludeInHash`/`headersToExcludeInHash` say, and the body unless the method is GET,
//! HEAD or DELETE) and looks the hash up: on a hit the message becomes the stored response
//! (status, headers, body; `Age` with `includeAgeHeader`) and `onCacheHit` runs instead of the
//! rest of the flow, or the response goes back to the client; on a miss the message carries the
//! hash on. `collector="true"` on the response stores it under that hash, for `timeout`
//! seconds, when its status matches `responseCodes`, the request's method is among `methods`,
//! the body is within `maxMessageSize`, and (with `enableCacheControl`) it is not `no-store`.

use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use sha2::{Digest, Sha256};
use synaptic_diag::{codes, Span};
use synaptic_syntax::ast;

use crate::compiler::Compiler;
use crate::convert::value_string;
use crate::exec::{respond_status, Step};
use crate::ir::{BlockId, SeqId};
use crate::mediators::{block, Node};
use crate::shared::{CacheEvent, PendingStore};
use crate::{Engine, ErrorKind, Flow, InboundResponse, MediationError, MessageContext};

/// Headers never hashed: hop-by-hop and framing headers, `Host` (the same API behind several
/// gateways shares its entries) and Micro Integrator's correlation header.
const NEVER_HASHED: &[&str] = &[
    "host",
    "connection",
    "keep-alive",
    "content-length",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
    "activityid",
];

#[derive(Debug)]
enum Hit {
    Respond,
    Block(BlockId),
    Seq(SeqId),
}

#[derive(Debug)]
pub(crate) struct CacheOp {
    collector: bool,
    /// The cache's name in the store (`id=`, else `default`).
    name: String,
    ttl_ms: u64,
    max_size: Option<u64>,
    /// `<implementation maxSize>`: entries this cache keeps at most.
    max_entries: Option<u64>,
    methods: Arc<[String]>,
    include: Vec<String>,
    exclude: Vec<String>,
    exclude_all: bool,
    codes: Option<Arc<regex::Regex>>,
    cache_control: bool,
    age_header: bool,
    on_hit: Hit,
    at: Span,
}

/// Hash generators whose hash synaptic's own one stands for.
const KNOWN_GENERATORS: &[&str] = &[
    "org.wso2.carbon.mediator.cache.digest.HttpRequestHashGenerator",
    "org.wso2.carbon.mediator.cache.digest.REQUESTHASHGenerator",
    "org.wso2.carbon.mediator.cache.digest.DOMHASHGenerator",
    "org.wso2.caching.digest.REQUESTHASHGenerator",
    "org.wso2.caching.digest.DOMHASHGenerator",
];

pub(crate) fn compile(
    c: &mut Compiler<'_>,
    blocks: &mut Vec<Vec<Node>>,
    x: &ast::Cache,
    at: Span,
) -> Option<CacheOp> {
    for i in &x.ignored {
        c.warn(
            codes::W0321,
            i.span,
            format!("cache: {} has no effect in synaptic", i.value),
        );
    }
    if let Some(g) = &x.hash_generator {
        let note = if KNOWN_GENERATORS.contains(&g.value.as_str()) {
            "synaptic hashes the request its own way (method, path and query, headers, body)"
        } else {
            "synaptic does not load Java classes: its own request hash is used (method, path and \
             query, headers, body)"
        };
        c.warn(
            codes::W0320,
            g.span,
            format!("cache hashGenerator `{}`: {note}", g.value),
        );
    }
    let codes_re = match &x.response_codes {
        None => None,
        Some(r) if r.value == ".*" => None,
        Some(r) => {
            // Matcher.matches(): the whole status
            let anchored = synaptic_diag::Spanned::new(format!("^(?:{})$", r.value), r.span);
            Some(Arc::new(c.regex(&anchored)?))
        }
    };
    let on_hit = match &x.on_cache_hit {
        None => Hit::Respond,
        Some(ast::SeqBranch::Inline(ms)) => Hit::Block(block(c, blocks, ms)),
        // Micro Integrator's cache mediator calls `mediate` on the lookup's `null`: the
        // message of a `NullPointerException` without one
        Some(ast::SeqBranch::Key(k)) => Hit::Seq(c.resolve_seq_lazy(
            k,
            crate::compiler::Unresolved::Fault(
                "Runtime error occurred while mediating the message".into(),
            ),
        )?),
    };
    let lower =
        |v: &[String]| -> Vec<String> { v.iter().map(|h| h.to_ascii_lowercase()).collect() };
    Some(CacheOp {
        collector: x.collector,
        name: x
            .id
            .as_ref()
            .map_or_else(|| "default".to_string(), |i| i.value.trim().to_string()),
        ttl_ms: x.timeout_secs.saturating_mul(1000),
        max_size: x.max_message_size,
        max_entries: x.max_entries,
        methods: x.methods.clone().into(),
        include: lower(&x.headers_to_include),
        exclude_all: x.headers_to_exclude.first().is_some_and(|h| h == "*"),
        exclude: lower(&x.headers_to_exclude),
        codes: codes_re,
        cache_control: x.cache_control,
        age_header: x.age_header,
        on_hit,
        at,
    })
}

fn fault(msg: impl Into<String>, at: Span) -> MediationError {
    MediationError::internal(ErrorKind::SharedState, msg).at(at)
}

/// The request's hash: method, path and query, the hashed headers (names lower-cased, sorted),
/// the body unless GET, HEAD or DELETE.
fn request_hash(op: &CacheOp, ctx: &mut MessageContext) -> Result<String, MediationError> {
    let mut h = Sha256::new();
    h.update(ctx.method.as_str().as_bytes());
    h.update(b"\n");
    h.update(ctx.uri.as_bytes());
    h.update(b"\n");
    if !op.exclude_all {
        let mut headers: Vec<(&str, &[u8])> = ctx
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_bytes()))
            .filter(|(k, _)| !NEVER_HASHED.contains(k))
            .filter(|(k, _)| {
                if op.include.is_empty() {
                    !op.exclude.iter().any(|e| e == k)
                } else {
                    op.include.iter().any(|i| i == k)
                }
            })
            .collect();
        headers.sort();
        for (k, v) in headers {
            h.update(k.as_bytes());
            h.update(b":");
            h.update(v);
            h.update(b"\n");
        }
    }
    let bodyless = matches!(ctx.method.as_str(), "GET" | "HEAD" | "DELETE");
    if !bodyless {
        h.update(b"\n");
        let (body, _) = ctx.body_bytes()?;
        h.update(&body);
    }
    Ok(hex(&h.finalize()))
}

fn hex(b: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(D[(x >> 4) as usize] as char);
        s.push(D[(x & 15) as usize] as char);
    }
    s
}

/// A stored response.
#[derive(Debug, PartialEq)]
pub(crate) struct Stored {
    pub status: u16,
    pub stored_ms: i64,
    pub headers: Vec<(String, Bytes)>,
    pub body: Bytes,
}

const MAGIC: &[u8; 4] = b"SYC1";

impl Stored {
    pub(crate) fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(32 + self.body.len());
        b.put_slice(MAGIC);
        b.put_u16(self.status);
        b.put_i64(self.stored_ms);
        b.put_u32(self.headers.len() as u32);
        for (k, v) in &self.headers {
            b.put_u32(k.len() as u32);
            b.put_slice(k.as_bytes());
            b.put_u32(v.len() as u32);
            b.put_slice(v);
        }
        b.put_slice(&self.body);
        b.freeze()
    }

    /// `None` for anything that is not a stored response (a foreign or damaged entry).
    pub(crate) fn decode(mut b: Bytes) -> Option<Stored> {
        fn take(b: &mut Bytes) -> Option<Bytes> {
            if b.remaining() < 4 {
                return None;
            }
            let n = b.get_u32() as usize;
            (b.remaining() >= n).then(|| b.split_to(n))
        }
        if b.len() < 18 || &b[..4] != MAGIC {
            return None;
        }
        b.advance(4);
        let status = b.get_u16();
        let stored_ms = b.get_i64();
        let n = b.get_u32() as usize;
        let mut headers = Vec::with_capacity(n.min(256));
        for _ in 0..n {
            let k = take(&mut b)?;
            let v = take(&mut b)?;
            headers.push((String::from_utf8(k.to_vec()).ok()?, v));
        }
        Some(Stored {
            status,
            stored_ms,
            headers,
            body: b,
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}

/// Replace the message with a stored response.
fn answer_with(age_header: bool, s: &Stored, ctx: &mut MessageContext, now_ms: i64) {
    let mut headers = http::HeaderMap::with_capacity(s.headers.len() + 1);
    for (k, v) in &s.headers {
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            http::HeaderValue::from_bytes(v),
        ) {
            headers.append(k, v);
        }
    }
    if age_header {
        let age = (now_ms - s.stored_ms).abs() / 1000;
        headers.insert(http::header::AGE, http::HeaderValue::from(age));
    }
    ctx.set_response(InboundResponse {
        status: s.status,
        headers,
        body: s.body.clone(),
    });
}

/// `enableCacheControl`: the stored response may not answer (its `max-age` passed), or must
/// be revalidated (`no-cache` with an `ETag`: the request goes on with `If-None-Match`).
fn must_revalidate(s: &Stored, ctx: &mut MessageContext, now_ms: i64) -> bool {
    let cc = s.header("cache-control").unwrap_or("");
    let mut no_cache = false;
    let mut max_age: Option<i64> = None;
    for d in cc.split(',').map(str::trim) {
        if d.eq_ignore_ascii_case("no-cache") {
            no_cache = true;
        }
        if let Some(v) = d.strip_prefix("max-age=") {
            max_age = v.trim().parse().ok();
        }
    }
    if max_age.is_some_and(|a| s.stored_ms + a * 1000 < now_ms) {
        return true;
    }
    if let (true, Some(etag)) = (no_cache, s.header("etag")) {
        if let Ok(v) = http::HeaderValue::from_str(etag) {
            ctx.headers.insert(http::header::IF_NONE_MATCH, v);
        }
        return true;
    }
    false
}

pub(crate) async fn run(
    engine: &Engine,
    op: &CacheOp,
    ctx: &mut MessageContext,
) -> Result<Step, MediationError> {
    if op.collector {
        collect(engine, op, ctx).await?;
        return Ok(Step::Next);
    }
    if ctx.response {
        return Err(fault(
            "Response messages cannot be handled in a non collector cache",
            op.at,
        ));
    }
    let hash = request_hash(op, ctx)?;
    let key = format!("cache:{}:{hash}", op.name);
    let now = engine.clock.now_ms();
    let found = match op.max_entries {
        Some(_) => engine.state.cache_get_bounded(&op.name, &key).await,
        None => engine.state.cache_get(&key).await,
    }
    .map_err(|e| fault(format!("cache lookup failed: {e}"), op.at))?
    .and_then(Stored::decode);
    ctx.properties
        .default
        .insert("requestHash", synaptic_expr::Value::String(hash));
    let mut revalidate = None;
    if let Some(s) = found {
        if op.cache_control && must_revalidate(&s, ctx, now) {
            revalidate = Some(s);
        } else {
            engine.state.cache_event(CacheEvent::Hit);
            answer_with(op.age_header, &s, ctx, now);
            return Ok(match op.on_hit {
                Hit::Respond => {
                    respond_status(ctx);
                    Step::End(Flow::Respond)
                }
                Hit::Block(b) => Step::ReceiveBlock(b),
                Hit::Seq(s) => Step::Receive(s),
            });
        }
    }
    engine.state.cache_event(CacheEvent::Miss);
    ctx.st.cache_pending = Some(PendingStore {
        key,
        cache: op.name.clone(),
        max_entries: op.max_entries,
        method: ctx.method.as_str().to_string(),
        ttl_ms: op.ttl_ms,
        max_size: op.max_size,
        methods: op.methods.clone(),
        codes: op.codes.clone(),
        cache_control: op.cache_control,
        revalidate: revalidate.map(|s| s.encode()),
        age_header: op.age_header,
    });
    Ok(Step::Next)
}

/// `collector="true"`: store the response the pending request asked for.
async fn collect(
    engine: &Engine,
    op: &CacheOp,
    ctx: &mut MessageContext,
) -> Result<(), MediationError> {
    if !ctx.response {
        return Err(fault(
            "Request messages cannot be handled in a collector cache",
            op.at,
        ));
    }
    let Some(p) = ctx.st.cache_pending.take() else {
        tracing::warn!(
            "A response message without a valid mapping to the request hash found. Unable to \
             store the response in cache"
        );
        return Ok(());
    };
    let no_store = ctx
        .headers
        .get_all(http::header::CACHE_CONTROL)
        .iter()
        .any(|v| String::from_utf8_lossy(v.as_bytes()).contains("no-store"));
    if p.cache_control && no_store {
        return Ok(());
    }
    let status = ctx
        .properties
        .axis2
        .get("HTTP_SC")
        .and_then(value_string)
        .and_then(|s| s.trim().parse::<u16>().ok())
        .or(ctx.status)
        .unwrap_or(200);
    let now = engine.clock.now_ms();
    if status == 304 {
        if let Some(s) = p.revalidate.and_then(Stored::decode) {
            answer_with(p.age_header, &s, ctx, now);
        }
        return Ok(());
    }
    if let Some(re) = &p.codes {
        if !re.is_match(&status.to_string()) {
            return Ok(());
        }
    }
    if !p.methods.iter().any(|m| m == "*" || *m == p.method) {
        return Ok(());
    }
    let (body, ct) = ctx.body_bytes()?;
    if p.max_size.is_some_and(|m| body.len() as u64 > m) {
        tracing::debug!(
            "Message size exceeds the upper bound for caching, request will not be cached"
        );
        return Ok(());
    }
    let mut headers: Vec<(String, Bytes)> = ctx
        .headers
        .iter()
        .filter(|(k, _)| !crate::hop_by_hop(k) && *k != http::header::CONTENT_TYPE)
        .map(|(k, v)| (k.as_str().to_string(), Bytes::copy_from_slice(v.as_bytes())))
        .collect();
    if let Some(ct) = ct {
        headers.push(("content-type".into(), Bytes::from(ct)));
    }
    let stored = Stored {
        status,
        stored_ms: now,
        headers,
        body,
    };
    let put = match p.max_entries {
        Some(max) => {
            engine
                .state
                .cache_put_bounded(&p.cache, &p.key, stored.encode(), p.ttl_ms, max)
                .await
        }
        None => {
            engine
                .state
                .cache_put(&p.key, stored.encode(), p.ttl_ms)
                .await
        }
    };
    put.map_err(|e| fault(format!("cache store failed: {e}"), op.at))?;
    engine.state.cache_event(CacheEvent::Store);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_responses_round_trip_and_foreign_bytes_are_refused() {
        let s = Stored {
            status: 201,
            stored_ms: 1_700_000_000_123,
            headers: vec![
                (
                    "content-type".into(),
                    Bytes::from_static(b"application/json"),
                ),
                ("x-a".into(), Bytes::from_static(b"1")),
            ],
            body: Bytes::from_static(b"{\"a\":1}"),
        };
        assert_eq!(Stored::decode(s.encode()), Some(s));
        assert_eq!(
            Stored::decode(Bytes::from_static(b"hello world, not ours")),
            None
        );
        // a truncated entry
        let mut e = Stored {
            status: 200,
            stored_ms: 0,
            headers: vec![("k".into(), Bytes::from_static(b"vvvv"))],
            body: Bytes::new(),
        }
        .encode();
        e.truncate(e.len() - 2);
        assert_eq!(Stored::decode(e), None);
    }

    // ===== whole mediations =====

    use crate::{
        compile, CompileOptions, Engine, FixedClock, InvokeError, Invoker, Limits, MemoryState,
        OutboundRequest,
    };
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A backend answering `n=<call number>` with the status of the request's `status` query.
    #[derive(Default)]
    struct Counting(AtomicU64);

    #[async_trait::async_trait]
    impl Invoker for Counting {
        async fn invoke(&self, r: OutboundRequest) -> Result<InboundResponse, InvokeError> {
            let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
            let status = r
                .url
                .split_once("status=")
                .and_then(|(_, s)| s.get(..3))
                .and_then(|s| s.parse().ok())
                .unwrap_or(200);
            let mut headers = http::HeaderMap::new();
            headers.insert("content-type", "application/json".parse().unwrap());
            headers.insert("x-backend", "yes".parse().unwrap());
            if r.url.contains("nostore") {
                headers.insert("cache-control", "no-store".parse().unwrap());
            }
            Ok(InboundResponse {
                status,
                headers,
                body: Bytes::from(format!("{{\"n\":{n}}}")),
            })
        }
    }

    fn engine(cache: &str, clock: i64, state: Arc<MemoryState>) -> (Engine, Arc<Counting>) {
        let xml = format!(
            r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
              <sequence name="hit"><property name="from" value="onCacheHit"/><respond/></sequence>
              <sequence name="s">
                {cache}
                <call><endpoint><address uri="http://backend.test/api"/></endpoint></call>
                <cache collector="true"/>
                <respond/>
              </sequence>
            </definitions>"#
        );
        let p = synaptic_syntax::parse_artifact(synaptic_diag::SourceId(0), &xml);
        assert!(
            p.diagnostics.iter().all(|d| !d.is_error()),
            "{:?}",
            p.diagnostics
        );
        let (prog, diags) = compile(std::slice::from_ref(&p.tree), &CompileOptions::default());
        let backend = Arc::new(Counting::default());
        let e = Engine {
            configurables: std::sync::Arc::new(crate::NoConfigurables),
            program: Arc::new(prog.unwrap_or_else(|| panic!("{diags:?}"))),
            invoker: backend.clone(),
            registry: Arc::new(synaptic_registry::MemoryRegistry::new()),
            clock: Arc::new(FixedClock(clock)),
            state,
            db: std::sync::Arc::new(crate::NoDatabase),
            limits: Limits::default(),
        };
        (e, backend)
    }

    async fn send(e: &Engine, method: &str, uri: &str, body: &str) -> MessageContext {
        let mut ctx = MessageContext::from_request(
            method.parse().unwrap(),
            uri,
            http::HeaderMap::new(),
            Bytes::from(body.to_string()),
            None,
        );
        let flow = e.mediate("s", None, &mut ctx).await.unwrap();
        assert_eq!(flow, Flow::Respond);
        ctx
    }

    fn body(ctx: &mut MessageContext) -> String {
        String::from_utf8(ctx.body_bytes().unwrap().0.to_vec()).unwrap()
    }

    /// CacheTestCase / CollectorTypeTestCase: the second identical request is answered from
    /// the cache (same body, status and headers), without calling the backend.
    #[tokio::test]
    async fn a_hit_answers_without_the_backend_with_the_stored_response() {
        let state = Arc::new(MemoryState::default());
        let (e, backend) = engine(
            r#"<cache collector="false" timeout="60"><protocol type="HTTP"><methods>GET</methods>
               </protocol></cache>"#,
            1_000_000,
            state.clone(),
        );
        let mut a = send(&e, "GET", "/api?q=1", "").await;
        let mut b = send(&e, "GET", "/api?q=1", "").await;
        assert_eq!(backend.0.load(Ordering::SeqCst), 1);
        assert_eq!(body(&mut a), body(&mut b));
        assert_eq!(b.status, Some(200));
        assert_eq!(b.headers.get("x-backend").unwrap(), "yes");
        assert!(b.headers.get("age").is_none());
        // another query is another entry
        let mut c = send(&e, "GET", "/api?q=2", "").await;
        assert_eq!(body(&mut c), r#"{"n":2}"#);
        // the entry expires after its timeout (the store's clock)
        let (later, backend2) = engine(
            r#"<cache collector="false" timeout="0"/>"#,
            1_000_000,
            Arc::new(MemoryState::default()),
        );
        send(&later, "GET", "/api", "").await;
        send(&later, "GET", "/api", "").await;
        assert_eq!(backend2.0.load(Ordering::SeqCst), 2);
    }

    /// CacheResponseCodeRegexTestCase, methods, maxMessageSize, no-store with
    /// enableCacheControl: such responses are not stored.
    #[tokio::test]
    async fn responses_outside_the_rules_are_not_stored() {
        for (cache, method, uri) in [
            (
                r#"<cache collector="false"><protocol type="HTTP"><responseCodes>2[0-9][0-9]</responseCodes></protocol></cache>"#,
                "GET",
                "/api?status=500",
            ),
            (
                r#"<cache collector="false"><protocol type="HTTP"><methods>GET</methods></protocol></cache>"#,
                "POST",
                "/api",
            ),
            (
                r#"<cache collector="false" maxMessageSize="3"/>"#,
                "GET",
                "/api",
            ),
            (
                r#"<cache collector="false"><protocol type="HTTP"><enableCacheControl>true</enableCacheControl></protocol></cache>"#,
                "GET",
                "/api?nostore",
            ),
        ] {
            let (e, backend) = engine(cache, 5, Arc::new(MemoryState::default()));
            send(&e, method, uri, "{}").await;
            send(&e, method, uri, "{}").await;
            assert_eq!(
                backend.0.load(Ordering::SeqCst),
                2,
                "{cache} {method} {uri}"
            );
        }
        // a status the pattern matches is stored
        let (e, backend) = engine(
            r#"<cache collector="false"><protocol type="HTTP"><responseCodes>5..</responseCodes></protocol></cache>"#,
            5,
            Arc::new(MemoryState::default()),
        );
        send(&e, "GET", "/api?status=503", "").await;
        let b = send(&e, "GET", "/api?status=503", "").await;
        assert_eq!(backend.0.load(Ordering::SeqCst), 1);
        assert_eq!(b.status, Some(503));
    }

    /// POST bodies are hashed; excluded headers are not; onCacheHit runs instead of the rest.
    #[tokio::test]
    async fn hash_reads_body_and_headers_and_on_cache_hit_runs() {
        let (e, backend) = engine(
            r#"<cache collector="false"><protocol type="HTTP">
                 <headersToExcludeInHash>x-request-id</headersToExcludeInHash>
                 <includeAgeHeader>true</includeAgeHeader></protocol>
               <onCacheHit sequence="hit"/></cache>"#,
            7,
            Arc::new(MemoryState::default()),
        );
        send(&e, "POST", "/api", r#"{"a":1}"#).await;
        send(&e, "POST", "/api", r#"{"a":2}"#).await;
        assert_eq!(backend.0.load(Ordering::SeqCst), 2);
        let mut headers = http::HeaderMap::new();
        headers.insert("x-request-id", "abc".parse().unwrap());
        let mut ctx = MessageContext::from_request(
            http::Method::POST,
            "/api",
            headers,
            Bytes::from_static(br#"{"a":1}"#),
            None,
        );
        e.mediate("s", None, &mut ctx).await.unwrap();
        assert_eq!(backend.0.load(Ordering::SeqCst), 2);
        assert_eq!(
            ctx.properties
                .default
                .get("from")
                .and_then(value_string)
                .as_deref(),
            Some("onCacheHit")
        );
        assert_eq!(ctx.headers.get("age").unwrap(), "0");
        assert_eq!(body(&mut ctx), r#"{"n":1}"#);
        // another header value is another request
        let mut headers = http::HeaderMap::new();
        headers.insert("x-tenant", "t2".parse().unwrap());
        let mut ctx = MessageContext::from_request(
            http::Method::POST,
            "/api",
            headers,
            Bytes::from_static(br#"{"a":1}"#),
            None,
        );
        e.mediate("s", None, &mut ctx).await.unwrap();
        assert_eq!(backend.0.load(Ordering::SeqCst), 3);
    }

    /// `<implementation type="memory" maxSize="2"/>`: the cache keeps two entries, the least
    /// recently used goes first, and another cache (another `id`) is not counted against it.
    #[tokio::test]
    async fn implementation_max_size_keeps_that_many_entries_least_recently_used_first() {
        let state = Arc::new(MemoryState::default());
        let (e, backend) = engine(
            r#"<cache id="small" collector="false" timeout="60">
                 <implementation type="memory" maxSize="2"/></cache>"#,
            1_000_000,
            state.clone(),
        );
        let calls = || backend.0.load(Ordering::SeqCst);
        send(&e, "GET", "/api?q=1", "").await;
        send(&e, "GET", "/api?q=2", "").await;
        assert_eq!(calls(), 2);
        // q=1 read again: now q=2 is the least recently used
        send(&e, "GET", "/api?q=1", "").await;
        assert_eq!(calls(), 2);
        send(&e, "GET", "/api?q=3", "").await;
        assert_eq!(calls(), 3);
        assert_eq!(state.evictions(), 1);
        // q=1 and q=3 are held, q=2 was evicted
        send(&e, "GET", "/api?q=1", "").await;
        send(&e, "GET", "/api?q=3", "").await;
        assert_eq!(calls(), 3);
        let mut again = send(&e, "GET", "/api?q=2", "").await;
        assert_eq!(calls(), 4);
        assert_eq!(body(&mut again), r#"{"n":4}"#);
        // a cache without maxSize, on the same store, keeps what it stores
        let (free, backend2) = engine(
            r#"<cache id="big" collector="false" timeout="60"/>"#,
            1_000_000,
            state.clone(),
        );
        for q in 0..10 {
            send(&free, "GET", &format!("/api?q={q}"), "").await;
        }
        for q in 0..10 {
            send(&free, "GET", &format!("/api?q={q}"), "").await;
        }
        assert_eq!(backend2.0.load(Ordering::SeqCst), 10);
        assert_eq!(state.evictions(), 2);
    }

    #[test]
    fn lint_reports_bad_settings_and_replaced_hash_generators() {
        let p = synaptic_syntax::parse_artifact(
            synaptic_diag::SourceId(0),
            r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="s">
                <cache collector="maybe"/>
                <cache collector="false" timeout="soon"/>
                <cache collector="false"><protocol type="HTTP"><methods>GET,FETCH</methods></protocol></cache>
              </sequence>"#,
        );
        let codes_seen: Vec<_> = p.diagnostics.iter().map(|d| d.code).collect();
        assert!(codes_seen.contains(&codes::E0106), "{codes_seen:?}");
        assert_eq!(codes_seen.iter().filter(|c| **c == codes::E0321).count(), 2);
        let p = synaptic_syntax::parse_artifact(
            synaptic_diag::SourceId(0),
            r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="s">
                <cache id="c" scope="per-host" collector="false" hashGenerator="org.wso2.caching.digest.REQUESTHASHGenerator" timeout="100">
                  <implementation type="memory" maxSize="10"/>
                </cache>
                <cache collector="false"><protocol type="HTTP"><responseCodes>([</responseCodes></protocol></cache>
              </sequence>"#,
        );
        assert!(
            p.diagnostics.iter().all(|d| !d.is_error()),
            "{:?}",
            p.diagnostics
        );
        let (_, diags) = compile(std::slice::from_ref(&p.tree), &CompileOptions::default());
        let codes_seen: Vec<_> = diags.iter().map(|d| d.code).collect();
        assert!(codes_seen.contains(&codes::W0320), "{codes_seen:?}");
        assert!(codes_seen.contains(&codes::W0321), "{codes_seen:?}");
        assert!(codes_seen.contains(&codes::E0208), "{codes_seen:?}");
    }
}
