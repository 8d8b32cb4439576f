//! Enforcement on APIs with `security = "oauth2"`: a valid bearer token on every request, and
//! the scopes of the resource it reaches. The gateway passes the resource its router matched
//! ([`InboundAuth::check_route`]), so routing and authorization cannot disagree and a reloaded
//! configuration's scopes apply at once; [`InboundAuth::check`] looks the resource up in the
//! same [`ResourceTable`] over the same normalised path. Unmapped method/path combinations are
//! denied.

use crate::config::ApiConfig;
use crate::hooks::{HookResponse, InboundAuth, MatchedRoute, Principal};
use crate::routing::{ResourceMatch, ResourceTable};
use async_trait::async_trait;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use http_body_util::Full;
use std::collections::HashMap;
use std::sync::Arc;
use synaptic_oauth::server::AuthServer;

/// Fault codes of the WSO2 API Manager family (its gateway's OAuth2 faults).
pub const MISSING_CREDENTIALS: i64 = 900_902;
pub const INVALID_CREDENTIALS: i64 = 900_901;
pub const SCOPE_FAILURE: i64 = 900_910;
pub const METHOD_OVERRIDE: i64 = 400_003;

/// Headers that ask a backend to treat the request as another method: refused, since the scope
/// check saw the real method.
const OVERRIDE_HEADERS: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

#[derive(Debug)]
struct ApiRules {
    table: ResourceTable,
    /// Scopes per resource index (any one suffices; none = any valid token).
    scopes: Vec<Vec<String>>,
}

/// The `InboundAuth` of the gateway's own authorization server.
#[derive(Debug)]
pub struct Enforcer {
    server: Arc<AuthServer>,
    apis: HashMap<String, ApiRules>,
    metrics: super::AuthMetrics,
}

impl Enforcer {
    pub fn new(
        server: Arc<AuthServer>,
        apis: &[ApiConfig],
        metrics: super::AuthMetrics,
    ) -> Enforcer {
        let apis = apis
            .iter()
            .filter(|a| a.is_oauth2_secured())
            .map(|a| {
                (
                    a.name.clone(),
                    ApiRules {
                        table: ResourceTable::for_api(a),
                        scopes: a.resource.iter().map(|r| r.scopes.clone()).collect(),
                    },
                )
            })
            .collect();
        Enforcer {
            server,
            apis,
            metrics,
        }
    }
}

fn fault(
    status: StatusCode,
    code: i64,
    message: &str,
    description: &str,
    www: Option<String>,
) -> HookResponse {
    let body = serde_json::json!({
        "fault": { "code": code, "message": message, "description": description }
    });
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(v) = www.and_then(|w| HeaderValue::from_str(&w).ok()) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

/// 401 `900902`, as WSO2 API Manager's gateway answers a call without a token.
pub fn missing_credentials() -> HookResponse {
    fault(
        StatusCode::UNAUTHORIZED,
        MISSING_CREDENTIALS,
        "Missing Credentials",
        "Required OAuth credentials not provided. Make sure your API invocation call has a header: \"Authorization: Bearer ACCESS_TOKEN\"",
        Some("Bearer realm=\"synaptic\"".into()),
    )
}

fn invalid_token(error: &str) -> HookResponse {
    fault(
        StatusCode::UNAUTHORIZED,
        INVALID_CREDENTIALS,
        "Invalid Credentials",
        "Access failure for API: the access token is invalid, expired or revoked. Make sure you have provided the correct security credentials",
        Some(format!("Bearer realm=\"synaptic\", error=\"{error}\"")),
    )
}

fn insufficient_scope(path: &str, scopes: &[String]) -> HookResponse {
    let www = if scopes.is_empty() {
        "Bearer realm=\"synaptic\", error=\"insufficient_scope\"".to_string()
    } else {
        format!(
            "Bearer realm=\"synaptic\", error=\"insufficient_scope\", scope=\"{}\"",
            scopes.join(" ")
        )
    };
    let desc = if path.len() <= 200 && path.bytes().all(|b| b.is_ascii_graphic()) {
        format!("User is NOT authorized to access the Resource: {path}. Scope validation failed.")
    } else {
        "User is NOT authorized to access the Resource. Scope validation failed.".to_string()
    };
    fault(
        StatusCode::FORBIDDEN,
        SCOPE_FAILURE,
        "The access token does not allow you to access the requested resource",
        &desc,
        Some(www),
    )
}

/// RFC 6750 `b64token`.
fn is_b64token(t: &str) -> bool {
    !t.is_empty()
        && t.trim_end_matches('=').bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

#[async_trait]
impl InboundAuth for Enforcer {
    async fn check(
        &self,
        api: &str,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Result<Principal, HookResponse> {
        let r = self.decide(api, method, path, headers, None).await;
        self.count(&r);
        r
    }

    async fn check_route(
        &self,
        route: MatchedRoute<'_>,
        method: &Method,
        headers: &HeaderMap,
    ) -> Result<Principal, HookResponse> {
        let r = self
            .decide(route.api, method, route.path, headers, Some(route.scopes))
            .await;
        self.count(&r);
        r
    }
}

impl Enforcer {
    fn count(&self, r: &Result<Principal, HookResponse>) {
        match r {
            Ok(_) => self.metrics.inbound_allowed.inc(),
            Err(resp) => match resp.status() {
                StatusCode::FORBIDDEN => self.metrics.inbound_scope.inc(),
                StatusCode::UNAUTHORIZED
                    if resp
                        .headers()
                        .get(header::WWW_AUTHENTICATE)
                        .is_some_and(|v| v.as_bytes().ends_with(b"\"synaptic\"")) =>
                {
                    self.metrics.inbound_missing.inc()
                }
                _ => self.metrics.inbound_invalid.inc(),
            },
        }
    }

    /// `matched`: the scopes of the resource the router matched; `None` looks it up here.
    async fn decide(
        &self,
        api: &str,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        matched: Option<&[String]>,
    ) -> Result<Principal, HookResponse> {
        if OVERRIDE_HEADERS.iter().any(|h| headers.contains_key(*h)) {
            return Err(fault(
                StatusCode::BAD_REQUEST,
                METHOD_OVERRIDE,
                "Method override not allowed",
                "X-HTTP-Method-Override and similar headers are not accepted on secured APIs",
                None,
            ));
        }
        let mut auth = headers.get_all(header::AUTHORIZATION).iter();
        let Some(value) = auth.next() else {
            return Err(missing_credentials());
        };
        if auth.next().is_some() {
            return Err(invalid_token("invalid_request"));
        }
        let Some(token) = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
        else {
            return Err(missing_credentials());
        };
        if !is_b64token(token) {
            return Err(invalid_token("invalid_token"));
        }
        let record = match self.server.validate_access(token).await {
            Ok(Some(r)) => r,
            Ok(None) => return Err(invalid_token("invalid_token")),
            Err(e) => {
                tracing::error!(error = %e, "token validation failed");
                return Err(fault(
                    StatusCode::SERVICE_UNAVAILABLE,
                    INVALID_CREDENTIALS,
                    "Token validation unavailable",
                    "The authorization server's store is unavailable",
                    None,
                ));
            }
        };
        let principal = Principal {
            client_id: record.client_id.clone(),
            username: record.username.clone(),
            scopes: record.scopes.clone(),
        };
        if let Some(need) = matched {
            return if need.is_empty() || need.iter().any(|s| record.scopes.contains(s)) {
                Ok(principal)
            } else {
                Err(insufficient_scope(path, need))
            };
        }
        let Some(rules) = self.apis.get(api) else {
            return Err(insufficient_scope(path, &[]));
        };
        if rules.table.is_empty() {
            return Ok(principal);
        }
        match rules.table.find(method, path) {
            ResourceMatch::Found(i, _) => {
                let need = rules.scopes.get(i).cloned().unwrap_or_default();
                if need.is_empty() || need.iter().any(|s| record.scopes.contains(s)) {
                    Ok(principal)
                } else {
                    Err(insufficient_scope(path, &need))
                }
            }
            ResourceMatch::MethodNotAllowed(_) | ResourceMatch::NotFound => {
                Err(insufficient_scope(path, &[]))
            }
        }
    }
}
