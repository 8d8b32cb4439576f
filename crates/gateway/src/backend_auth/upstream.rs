//! [`UpstreamAuth`] for one API: `Authorization: Bearer` on backend requests, a 503 fault with
//! `Retry-After` when no token can be had, and the 401 protocol (invalidate only the token
//! that failed; replay once unless `retry_on_401 = false` or the 401 says `insufficient_scope`).

use std::sync::Arc;

use async_trait::async_trait;
use http::{HeaderMap, HeaderValue, StatusCode};
use synaptic_engine::OutboundRequest;
use synaptic_oauth::client::{TokenError, TokenHandle};

use super::metrics::ApiCounters;
use crate::hooks::{AuthTicket, HookResponse, RequestValues, UpstreamAuth};

/// Fault code of "no token for the backend" (Synapse's ENDPOINT_AUTH_FAILURE).
pub const ENDPOINT_AUTH_FAILURE: i64 = 303_003;

/// Endpoint security of one API.
#[derive(Debug)]
pub struct OAuthUpstream {
    pub(super) api: String,
    pub(super) handle: TokenHandle,
    pub(super) retry_on_401: bool,
    /// `[oauth] replay_methods` (upper case); None: every method.
    pub(super) replay_methods: Option<Vec<http::Method>>,
    pub(super) counters: Arc<ApiCounters>,
    /// `Bearer <token>` of the current token generation, built once per token.
    pub(super) header: std::sync::Mutex<Option<(u64, HeaderValue)>>,
    /// What each request changes in the token request (token exchange), if anything.
    pub(super) per_request: Option<super::per_request::PerRequest>,
    /// DPoP (RFC 9449): the key whose proofs go with DPoP-bound tokens, and servers' nonces.
    pub(super) dpop: Option<Arc<synaptic_oauth::client::Dpop>>,
}

/// The lowest bit of [`AuthTicket::generation`] (opaque to the core) marks a request that must
/// not be replayed (`[oauth] replay_methods`); the token generation sits above it.
const NO_REPLAY: u64 = 1;

impl OAuthUpstream {
    pub fn handle(&self) -> &TokenHandle {
        &self.handle
    }

    /// The `Authorization` value for `t` (cached per token generation; marked sensitive).
    fn header_for(&self, t: &synaptic_oauth::client::AccessToken) -> Option<HeaderValue> {
        let mut cache = self.header.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((generation, v)) = cache.as_ref() {
            // per-request tokens (token exchange) come from several entries: never reuse
            if *generation == t.generation && self.per_request.is_none() {
                return Some(v.clone());
            }
        }
        let scheme = if &*t.token_type == "DPoP" {
            "DPoP"
        } else {
            "Bearer"
        };
        let mut v = HeaderValue::from_str(&format!("{scheme} {}", t.value.expose())).ok()?;
        v.set_sensitive(true);
        *cache = Some((t.generation, v.clone()));
        Some(v)
    }
}

/// The 503 answered when no token can be had.
pub fn unavailable(e: &TokenError) -> HookResponse {
    let reason = match e {
        TokenError::Unavailable { cause, .. } => cause.reason(),
        TokenError::Timeout { .. } => "timeout",
    };
    let mut resp = crate::fault::response(
        StatusCode::SERVICE_UNAVAILABLE,
        ENDPOINT_AUTH_FAILURE,
        "Backend authentication unavailable",
        &format!("could not obtain an access token for the backend ({reason}); try again later"),
    );
    let secs = e.retry_after().as_secs_f64().ceil().max(1.0) as u64;
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        resp.headers_mut().insert(http::header::RETRY_AFTER, v);
    }
    resp
}

/// Whether a 401/403's `WWW-Authenticate` says the token lacks scope (no refresh helps).
fn insufficient_scope(headers: &HeaderMap) -> bool {
    headers
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("insufficient_scope"))
}

#[async_trait]
impl UpstreamAuth for OAuthUpstream {
    async fn authorize(&self, req: &mut OutboundRequest) -> Result<AuthTicket, HookResponse> {
        self.authorize_headers(&req.method, &req.url, &mut req.headers, None)
            .await
    }

    async fn authorize_head(
        &self,
        method: &http::Method,
        url: &http::Uri,
        headers: &mut http::HeaderMap,
    ) -> Result<AuthTicket, HookResponse> {
        self.authorize_headers(method, url, headers, None).await
    }

    async fn authorize_head_with(
        &self,
        method: &http::Method,
        url: &http::Uri,
        headers: &mut http::HeaderMap,
        values: Option<&RequestValues>,
    ) -> Result<AuthTicket, HookResponse> {
        self.authorize_headers(method, url, headers, values).await
    }

    fn exchanges_caller_token(&self) -> bool {
        self.per_request
            .as_ref()
            .is_some_and(|p| p.exchanges_checked_token())
    }

    fn evaluate(&self, ctx: &synaptic_engine::MessageContext) -> Option<RequestValues> {
        self.per_request.as_ref()?.evaluate(ctx)
    }

    async fn authorize_with(
        &self,
        req: &mut OutboundRequest,
        values: Option<&RequestValues>,
    ) -> Result<AuthTicket, HookResponse> {
        self.authorize_headers(&req.method, &req.url, &mut req.headers, values)
            .await
    }

    async fn unauthorized(&self, ticket: &AuthTicket, response_headers: &HeaderMap) -> bool {
        self.unauthorized_ticket(ticket, response_headers).await
    }
}

/// The `DPoP` header (a constant: removal by `&str` would parse the name on every request).
const DPOP: http::HeaderName = http::HeaderName::from_static("dpop");

impl OAuthUpstream {
    /// `url` is formatted only for a DPoP proof, the one thing that reads it.
    async fn authorize_headers(
        &self,
        method: &http::Method,
        url: &(dyn std::fmt::Display + Sync),
        headers: &mut http::HeaderMap,
        values: Option<&RequestValues>,
    ) -> Result<AuthTicket, HookResponse> {
        let token = self.request_token(headers, values).await;
        // one pass over the (few) names instead of a hashed removal per name
        let (mut subject, mut proof) = (false, false);
        for k in headers.keys() {
            subject |= *k == crate::hooks::SUBJECT_TOKEN_HEADER;
            proof |= *k == DPOP;
        }
        // the caller's token kept for the exchange never leaves for the backend
        if subject {
            headers.remove(crate::hooks::SUBJECT_TOKEN_HEADER);
        }
        match token {
            Ok(t) => {
                let failed = || {
                    unavailable(&TokenError::Timeout {
                        retry_after: std::time::Duration::from_secs(1),
                    })
                };
                let v = self.header_for(&t).ok_or_else(failed)?;
                headers.insert(http::header::AUTHORIZATION, v);
                let mut dpop_url = None;
                if let (Some(d), "DPoP") = (&self.dpop, &*t.token_type) {
                    // a fresh proof per request: method, URL, the token's hash, the nonce
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs() as i64)
                        .unwrap_or(0);
                    let url = url.to_string();
                    let proof = d
                        .proof(method.as_str(), &url, now, Some(&t.value))
                        .map_err(|e| {
                            tracing::warn!(api = %self.api, error = %e, "no DPoP proof for the backend");
                            failed()
                        })?;
                    let mut pv = HeaderValue::from_str(proof.expose()).map_err(|_| failed())?;
                    pv.set_sensitive(true);
                    headers.insert(DPOP, pv);
                    dpop_url = Some(Arc::from(url));
                } else if proof {
                    // a client's own proof never reaches the backend with the gateway's token
                    headers.remove(DPOP);
                }
                let replayable = match &self.replay_methods {
                    None => true,
                    Some(ms) => ms.contains(method) || headers.contains_key("idempotency-key"),
                };
                Ok(AuthTicket {
                    fingerprint: t.fingerprint.clone(),
                    generation: (t.generation << 1) | if replayable { 0 } else { NO_REPLAY },
                    dpop_url,
                })
            }
            Err(answer) => Err(answer),
        }
    }

    async fn unauthorized_ticket(&self, ticket: &AuthTicket, response_headers: &HeaderMap) -> bool {
        if let (Some(d), Some(url)) = (&self.dpop, &ticket.dpop_url) {
            // RFC 9449 §9: the backend's nonce, to put in the next proofs
            if let Some(n) = response_headers
                .get("dpop-nonce")
                .and_then(|v| v.to_str().ok())
            {
                d.set_nonce(url, n.trim());
            }
            let asks = response_headers
                .get_all(http::header::WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(synaptic_oauth::client::dpop::asks_for_nonce);
            if asks {
                // the token is fine: send once more with a proof carrying the nonce
                self.counters.replays.inc();
                tracing::debug!(api = %self.api, "backend asked for a DPoP nonce; sending again with it");
                return true;
            }
        }
        if insufficient_scope(response_headers) {
            self.counters.replays_skipped.inc();
            tracing::info!(api = %self.api, token = %ticket.fingerprint, "backend says insufficient_scope; not refreshing");
            return false;
        }
        self.handle.invalidate(&ticket.fingerprint).await;
        if self.retry_on_401 && ticket.generation & NO_REPLAY == 0 {
            self.counters.replays.inc();
            true
        } else {
            self.counters.replays_skipped.inc();
            false
        }
    }
}
