//! What one request changes in its API's token request. With `grant_type = "token_exchange"`
//! the caller's bearer token (the `Authorization` header the gateway received) is the subject
//! of the exchange: each caller's token gets its own cache entry (keyed by its hash), its own
//! single flight, and never reaches the backend.

use http::{HeaderMap, HeaderValue, StatusCode};
use synaptic_oauth::client::{AccessToken, FetchFailure, Secret, TokenError, Variant};

use super::config::EndpointSecurity;
use super::upstream::{unavailable, OAuthUpstream, ENDPOINT_AUTH_FAILURE};
use crate::hooks::HookResponse;

/// Longest caller token accepted as a subject (a larger header is refused, not exchanged).
pub const MAX_SUBJECT_TOKEN: usize = 16 * 1024;

/// The per-request part of an API's endpoint security.
#[derive(Debug, Clone)]
pub struct PerRequest {
    exchange: bool,
}

impl PerRequest {
    /// None when every request of the API uses one token.
    pub fn new(es: &EndpointSecurity) -> Option<PerRequest> {
        es.is_token_exchange()
            .then_some(PerRequest { exchange: true })
    }

    /// The variant of this request, or the answer when it cannot have one (no bearer token
    /// to exchange).
    #[allow(clippy::result_large_err)]
    pub fn variant(&self, headers: &HeaderMap) -> Result<Variant, HookResponse> {
        let mut v = Variant::default();
        if self.exchange {
            match bearer(headers) {
                Some(t) => v.subject_token = Some(t),
                None => return Err(unauthorized("a bearer token is required", None)),
            }
        }
        Ok(v)
    }

    /// The answer when no token could be had for this request: a refused subject token is the
    /// caller's problem (401), anything else the token endpoint's (503).
    pub fn refused(&self, e: &TokenError) -> HookResponse {
        match e {
            TokenError::Unavailable {
                cause: FetchFailure::Rejected { status, error, .. },
                ..
            } if self.exchange
                && (400..500).contains(status)
                && matches!(error.as_str(), "invalid_request" | "invalid_grant") =>
            {
                unauthorized(
                    "the token endpoint refused to exchange the caller's token",
                    Some("invalid_token"),
                )
            }
            other => unavailable(other),
        }
    }
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive).
pub fn bearer(headers: &HeaderMap) -> Option<Secret> {
    let v = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    if v.len() > MAX_SUBJECT_TOKEN + 7 {
        return None;
    }
    let (scheme, token) = v.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| Secret::new(token))
}

fn unauthorized(description: &str, error: Option<&str>) -> HookResponse {
    let mut resp = crate::fault::response(
        StatusCode::UNAUTHORIZED,
        ENDPOINT_AUTH_FAILURE,
        "Backend authentication failed",
        description,
    );
    let challenge = match error {
        Some(e) => format!("Bearer error=\"{e}\""),
        None => "Bearer".to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(http::header::WWW_AUTHENTICATE, v);
    }
    resp
}

impl OAuthUpstream {
    /// The token for one request with these headers; `Err` is the answer to send instead.
    pub(super) async fn request_token(
        &self,
        headers: &HeaderMap,
    ) -> Result<AccessToken, HookResponse> {
        let outcome = match &self.per_request {
            None => self.handle.token().await.map_err(|e| (e, None)),
            Some(p) => {
                let v = p.variant(headers)?;
                self.handle
                    .variant(&v)
                    .token()
                    .await
                    .map_err(|e| (e, Some(p)))
            }
        };
        outcome.map_err(|(e, p)| {
            tracing::warn!(api = %self.api, error = %e, "no access token for the backend");
            match p {
                Some(p) => p.refused(&e),
                None => unavailable(&e),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, auth.parse().unwrap());
        h
    }

    #[test]
    fn bearer_token_of_the_caller() {
        assert_eq!(bearer(&headers("Bearer abc")).unwrap().expose(), "abc");
        assert_eq!(bearer(&headers("bearer  abc ")).unwrap().expose(), "abc");
        assert!(bearer(&headers("Basic abc")).is_none());
        assert!(bearer(&headers("Bearer ")).is_none());
        assert!(bearer(&HeaderMap::new()).is_none());
        let huge = format!("Bearer {}", "a".repeat(MAX_SUBJECT_TOKEN + 1));
        assert!(bearer(&headers(&huge)).is_none());
    }

    #[test]
    fn exchange_without_a_bearer_token_is_a_401_challenge() {
        let p = PerRequest { exchange: true };
        let r = p.variant(&HeaderMap::new()).unwrap_err();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()[http::header::WWW_AUTHENTICATE], "Bearer");
        let v = p.variant(&headers("Bearer caller")).unwrap();
        assert_eq!(v.subject_token.unwrap().expose(), "caller");
    }

    #[test]
    fn refused_subject_is_401_and_endpoint_trouble_503() {
        let p = PerRequest { exchange: true };
        let refused = TokenError::Unavailable {
            retry_after: std::time::Duration::from_secs(1),
            cause: FetchFailure::Rejected {
                status: 400,
                error: "invalid_grant".into(),
                description: None,
            },
        };
        let r = p.refused(&refused);
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.headers()[http::header::WWW_AUTHENTICATE],
            "Bearer error=\"invalid_token\""
        );
        let down = TokenError::Unavailable {
            retry_after: std::time::Duration::from_secs(3),
            cause: FetchFailure::Timeout,
        };
        let r = p.refused(&down);
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[http::header::RETRY_AFTER], "3");
    }
}
