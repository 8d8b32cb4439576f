//! Seams between the gateway core (routing, proxying) and the OAuth2 features, so each can be
//! built and tested on its own. The core calls these traits; `backend_auth` and `authserver`
//! implement them.

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, Method};
use synaptic_engine::OutboundRequest;

/// A complete, small response produced by a hook (faults, token endpoint answers, pages).
pub type HookResponse = http::Response<http_body_util::Full<Bytes>>;

/// What a request was authorized with, remembered so a later 401 invalidates only that token.
#[derive(Clone, Debug, Default)]
pub struct AuthTicket {
    /// A short fingerprint (e.g. first 12 hex of SHA-256) of the token used; never the token.
    pub fingerprint: std::sync::Arc<str>,
    /// Opaque generation number of the cached token.
    pub generation: u64,
    /// The URL a DPoP proof was made for (its server's nonce is remembered after a 401).
    pub dpop_url: Option<std::sync::Arc<str>>,
}

/// The header that carries a caller's bearer token from inbound authorization to token
/// exchange on an API with `security = "oauth2"` (whose `Authorization` header is removed once
/// checked). The core removes any copy a client sends; endpoint security removes it before the
/// request leaves, so it never reaches a backend.
/// A constant name: removal by `&str` would parse it on every request.
pub const SUBJECT_TOKEN_HEADER: HeaderName = HeaderName::from_static("x-synaptic-subject-token");

/// Values an [`UpstreamAuth`] evaluated on a mediated message, by name.
pub type RequestValues = Vec<(&'static str, String)>;

/// Native endpoint security (`[api.endpoint_security]`): adds credentials to backend requests.
#[async_trait]
pub trait UpstreamAuth: Send + Sync + std::fmt::Debug {
    /// Add credentials to an outgoing backend request. `Err` is the response to send to the
    /// client instead (e.g. 503 with `Retry-After` when no token can be had).
    async fn authorize(&self, req: &mut OutboundRequest) -> Result<AuthTicket, HookResponse>;
    /// [`authorize`](Self::authorize) for a request that is streamed: only its head is at
    /// hand. The default builds an [`OutboundRequest`] around the head; implementations that
    /// only add headers override it to skip that (and format the URL only when they read it).
    async fn authorize_head(
        &self,
        method: &Method,
        url: &http::Uri,
        headers: &mut HeaderMap,
    ) -> Result<AuthTicket, HookResponse> {
        let mut out = OutboundRequest {
            method: method.clone(),
            url: url.to_string(),
            headers: std::mem::take(headers),
            body: Bytes::new(),
            timeout: None,
        };
        let ticket = self.authorize(&mut out).await;
        *headers = out.headers;
        ticket
    }
    /// Values of this API's credentials that depend on the mediated message (e.g. a scope or
    /// audience written as an inline expression), evaluated on `ctx` after the in-flow. The
    /// core passes them to [`authorize_with`](Self::authorize_with). Default: none.
    fn evaluate(&self, _ctx: &synaptic_engine::MessageContext) -> Option<RequestValues> {
        None
    }
    /// [`authorize_head`](Self::authorize_head) with the values [`evaluate`](Self::evaluate)
    /// returned for this request. The default ignores them.
    async fn authorize_head_with(
        &self,
        method: &http::Method,
        url: &http::Uri,
        headers: &mut HeaderMap,
        _values: Option<&RequestValues>,
    ) -> Result<AuthTicket, HookResponse> {
        self.authorize_head(method, url, headers).await
    }
    /// [`authorize`](Self::authorize) with the values [`evaluate`](Self::evaluate) returned
    /// for this request. The default ignores them.
    async fn authorize_with(
        &self,
        req: &mut OutboundRequest,
        _values: Option<&RequestValues>,
    ) -> Result<AuthTicket, HookResponse> {
        self.authorize(req).await
    }
    /// The backend answered 401 to a request authorized with `ticket`. Returns true when the
    /// request should be replayed once (the core then calls `authorize` again and resends the
    /// buffered body, if it has one under the replay limit).
    async fn unauthorized(&self, ticket: &AuthTicket, response_headers: &HeaderMap) -> bool;
    /// Whether the caller's checked bearer token must be kept for this hook (token exchange on
    /// a secured API): the core then moves it to [`SUBJECT_TOKEN_HEADER`] instead of dropping
    /// it. Default: no.
    fn exchanges_caller_token(&self) -> bool {
        false
    }
}

/// Token properties of an authenticated client request, visible to sequences as default-scope
/// properties (`oauth.client_id`, `oauth.username`, `oauth.scope`).
#[derive(Clone, Debug, Default)]
pub struct Principal {
    pub client_id: String,
    pub username: Option<String>,
    pub scopes: Vec<String>,
}

/// The resource the router matched for a request, as inbound authorization sees it.
#[derive(Clone, Copy, Debug)]
pub struct MatchedRoute<'a> {
    pub api: &'a str,
    /// The normalised path relative to the API context (the one routing used).
    pub path: &'a str,
    /// Scopes of the matched resource, any one of which suffices; empty: any valid token.
    pub scopes: &'a [String],
}

/// Enforcement of the gateway's own authorization server on APIs with `security = "oauth2"`.
#[async_trait]
pub trait InboundAuth: Send + Sync + std::fmt::Debug {
    /// [`check`](Self::check) for the resource the router matched: the scopes come from the
    /// plan instead of a second lookup. The default looks the resource up again through
    /// `check`.
    async fn check_route(
        &self,
        route: MatchedRoute<'_>,
        method: &Method,
        headers: &HeaderMap,
    ) -> Result<Principal, HookResponse> {
        self.check(route.api, method, route.path, headers).await
    }

    /// [`check_route`](Self::check_route) when the answer needs no waiting (a token this
    /// process validated before, credentials refused outright): the gateway then sends a
    /// request with nothing else to do as it sends an unsecured one. `None`: call
    /// `check_route`. The default never decides.
    ///
    /// Only for requests that need no [`Principal`] afterwards (no sequence, no rate limit by
    /// client): `Ok(())` is the same verdict as `check_route`'s `Ok`.
    fn check_route_now(
        &self,
        _route: MatchedRoute<'_>,
        _method: &Method,
        _headers: &HeaderMap,
    ) -> Option<Result<(), HookResponse>> {
        None
    }

    /// Check a client request before mediation. `path` is the one normalised path (relative to
    /// the API context, the same one routing used). `Ok` to proceed (the core then removes the
    /// client's `Authorization` header); `Err` is the 401/403 to answer.
    async fn check(
        &self,
        api: &str,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Result<Principal, HookResponse>;
}

/// A service the gateway answers itself before API routing (token endpoint, metrics, …).
#[async_trait]
pub trait LocalService: Send + Sync + std::fmt::Debug {
    /// Whether this service answers `path` (exact paths or a prefix it owns).
    fn matches(&self, path: &str) -> bool;
    /// The gateway is listening on `addr` (called once the socket is bound).
    fn listening(&self, _addr: std::net::SocketAddr) {}
    /// Answer a request whose body was read fully (bounded by the server's body limit).
    async fn handle(
        &self,
        method: Method,
        uri: http::Uri,
        headers: HeaderMap,
        body: Bytes,
        peer: Option<std::net::SocketAddr>,
    ) -> HookResponse;
}
