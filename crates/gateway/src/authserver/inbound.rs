//! Enforcement on APIs with `security = "oauth2"`: a valid bearer token on every request, and
//! the scopes of the resource it reaches. The gateway passes the resource its router matched
//! ([`InboundAuth::check_route`]), so routing and authorization cannot disagree and a reloaded
//! configuration's scopes apply at once; [`InboundAuth::check`] looks the resource up in the
//! same [`ResourceTable`] over the same normalised path. Unmapped method/path combinations are
//! denied.

use super::trusted::TrustedIssuer;
use crate::config::ApiConfig;
use crate::hooks::{HookResponse, InboundAuth, MatchedRoute, Principal};
use crate::routing::{ResourceMatch, ResourceTable};
use async_trait::async_trait;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use http_body_util::Full;
use std::collections::HashMap;
use std::sync::Arc;
use synaptic_oauth::server::{dpop, jwt, AuthServer};

/// Fault codes of the WSO2 API Manager family (its gateway's OAuth2 faults).
pub const MISSING_CREDENTIALS: i64 = 900_902;
pub const INVALID_CREDENTIALS: i64 = 900_901;
pub const SCOPE_FAILURE: i64 = 900_910;
pub const METHOD_OVERRIDE: i64 = 400_003;

#[derive(Debug)]
struct ApiRules {
    /// The API context: `issuer + context` is its resource identifier.
    context: String,
    table: ResourceTable,
    /// Scopes per resource index (any one suffices; none = any valid token).
    scopes: Vec<Vec<String>>,
}

/// The `InboundAuth` of the gateway's own authorization server and of trusted issuers.
#[derive(Debug)]
pub struct Enforcer {
    /// The gateway's own authorization server (`None` with `enabled = false`: only trusted
    /// issuers' JWT access tokens are accepted).
    server: Option<Arc<AuthServer>>,
    trusted: Vec<Arc<TrustedIssuer>>,
    /// Looked up on every request: foldhash (seeded per process) rather than SipHash.
    apis: HashMap<String, ApiRules, foldhash::fast::RandomState>,
    metrics: super::AuthMetrics,
    /// Seconds a DPoP proof is accepted around its `iat`.
    dpop_window: i64,
    dpop_replay: dpop::ReplayCache,
    /// With `[redis]`: proof ids are recorded there, so a proof used at one gateway is a
    /// replay at every other.
    shared_replay: Option<Arc<super::redis::RedisStore>>,
}

impl Enforcer {
    pub fn new(
        server: Option<Arc<AuthServer>>,
        trusted: Vec<Arc<TrustedIssuer>>,
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
                        context: a.context.clone(),
                        table: ResourceTable::for_api(a),
                        scopes: a.resource.iter().map(|r| r.scopes.clone()).collect(),
                    },
                )
            })
            .collect();
        let d = synaptic_oauth::server::Settings::default();
        let (dpop_window, replay_max) = server
            .as_ref()
            .map(|s| (s.settings().dpop_window, s.settings().dpop_replay_max))
            .unwrap_or((d.dpop_window, d.dpop_replay_max));
        Enforcer {
            server,
            trusted,
            dpop_window,
            dpop_replay: dpop::ReplayCache::new(replay_max),
            shared_replay: None,
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

fn store_unavailable(e: &dyn std::fmt::Display) -> HookResponse {
    tracing::error!(error = %e, "token validation failed");
    fault(
        StatusCode::SERVICE_UNAVAILABLE,
        INVALID_CREDENTIALS,
        "Token validation unavailable",
        "The authorization server's store is unavailable",
        None,
    )
}

/// The `host[:port]` of a URL as a `Host` header spells it (default ports omitted).
fn authority(u: &url::Url) -> String {
    match (u.host_str(), u.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => String::new(),
    }
}

/// 401 with an RFC 9449 `WWW-Authenticate: DPoP` challenge.
fn dpop_error(error: &str, description: &str) -> HookResponse {
    fault(
        StatusCode::UNAUTHORIZED,
        INVALID_CREDENTIALS,
        "Invalid Credentials",
        description,
        Some(format!(
            "DPoP error=\"{error}\", error_description=\"{description}\", algs=\"{}\"",
            dpop::ALGS
        )),
    )
}

/// The number of dots of an RFC 6750 `b64token` (a JWS has two), `None` when it is not one.
fn b64token_dots(t: &str) -> Option<usize> {
    // two folds without an early exit, each of which the compiler turns into wide vector
    // operations (one fold carrying both results is not vectorised): a JWT is hundreds of
    // bytes long and this runs on every request
    let body = t.trim_end_matches('=');
    let ok = body.bytes().fold(true, |ok, b| {
        ok & (b.is_ascii_alphanumeric()
            | (b == b'-')
            | (b == b'.')
            | (b == b'_')
            | (b == b'~')
            | (b == b'+')
            | (b == b'/'))
    });
    (ok && !t.is_empty()).then(|| body.bytes().filter(|b| *b == b'.').count())
}

/// Whether granted scopes satisfy a resource: any one of its scopes, or any token when it
/// names none.
fn scopes_granted(need: &[String], granted: &[String]) -> bool {
    need.is_empty() || need.iter().any(|s| granted.contains(s))
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
        r.map_err(|e| self.with_resource_metadata(api, e))
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
        r.map_err(|e| self.with_resource_metadata(route.api, e))
    }

    fn check_route_now(
        &self,
        route: MatchedRoute<'_>,
        _method: &Method,
        headers: &HeaderMap,
    ) -> Option<Result<(), HookResponse>> {
        let r = self.decide_now(route.api, route.path, headers, route.scopes)?;
        self.count(&r);
        Some(r.map_err(|e| self.with_resource_metadata(route.api, e)))
    }
}

impl Enforcer {
    /// RFC 9728 §5.1: a 401's challenge names the API's protected-resource metadata
    /// (`resource_metadata`), where a client learns which authorization server to ask. Only
    /// when this gateway serves that metadata (its own authorization server is enabled).
    fn with_resource_metadata(&self, api: &str, mut resp: HookResponse) -> HookResponse {
        if resp.status() != StatusCode::UNAUTHORIZED {
            return resp;
        }
        let (Some(server), Some(rules)) = (&self.server, self.apis.get(api)) else {
            return resp;
        };
        let Some(www) = resp
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
        else {
            return resp;
        };
        let url = format!(
            "{}{}{}",
            server.issuer(),
            super::http::RESOURCE_METADATA,
            rules.context
        );
        if let Ok(v) = HeaderValue::from_str(&format!("{www}, resource_metadata=\"{url}\"")) {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        resp
    }

    /// Share the DPoP replay cache through Redis.
    pub fn with_shared_replay(mut self, store: Option<Arc<super::redis::RedisStore>>) -> Self {
        self.shared_replay = store;
        self
    }

    /// RFC 9449: a DPoP-bound token needs the `DPoP` scheme and a proof signed by its key for
    /// this request (`htm`, `htu`, `iat`, `ath`, unseen `jti`); an unbound one the `Bearer`
    /// scheme.
    #[allow(clippy::too_many_arguments, clippy::result_large_err)]
    async fn check_binding(
        &self,
        dpop_scheme: bool,
        jkt: Option<&str>,
        token: &str,
        api: &str,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Result<(), HookResponse> {
        let jkt = match (dpop_scheme, jkt) {
            (false, None) => return Ok(()),
            (false, Some(_)) => {
                return Err(dpop_error(
                    "invalid_token",
                    "a DPoP-bound token needs the DPoP scheme and a proof",
                ))
            }
            (true, None) => return Err(dpop_error("invalid_token", "the token is not DPoP-bound")),
            (true, Some(j)) => j,
        };
        let bad = |d: &str| dpop_error("invalid_dpop_proof", d);
        let proofs: Vec<&HeaderValue> = headers.get_all("dpop").iter().collect();
        let [proof] = proofs.as_slice() else {
            return Err(bad("exactly one DPoP proof is required"));
        };
        let proof = proof.to_str().map_err(|_| bad("malformed DPoP proof"))?;
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let context = self.apis.get(api).map(|r| r.context.as_str()).unwrap_or("");
        let full = format!("{context}{path}");
        let htu = |u: &str| {
            url::Url::parse(u).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some()
                    && authority(&u).eq_ignore_ascii_case(host)
                    && (u.path() == full || (path == "/" && u.path() == context))
            })
        };
        let now = synaptic_oauth::server::Clock::now(&synaptic_oauth::server::SystemClock);
        let p = dpop::verify_proof(
            proof,
            &dpop::ProofExpect {
                method: method.as_str(),
                htu: &htu,
                access_token: Some(token),
                now,
                window: self.dpop_window,
            },
        )
        .map_err(|e| bad(e.0))?;
        if p.jkt != jkt {
            return Err(bad("the DPoP proof is not signed by the token's key"));
        }
        if let Some(server) = &self.server {
            if !server.dpop_nonce_ok(p.nonce.as_deref()) {
                let mut r = dpop_error(
                    "use_dpop_nonce",
                    "the DPoP proof must carry the nonce in the DPoP-Nonce header",
                );
                if let Some(v) = server
                    .dpop_nonce()
                    .and_then(|n| HeaderValue::from_str(&n).ok())
                {
                    r.headers_mut().insert("dpop-nonce", v);
                }
                return Err(r);
            }
        }
        let fresh = match &self.shared_replay {
            None => self.dpop_replay.check(&p, p.iat + self.dpop_window, now),
            Some(r) => {
                let ttl = (p.iat + self.dpop_window - now).max(1) as u64;
                match r.first_use(&format!("{}.{}", p.jkt, p.jti), ttl).await {
                    Ok(fresh) => fresh,
                    Err(e) => {
                        tracing::error!(error = %e, "DPoP replay cache unavailable");
                        false
                    }
                }
            }
        };
        if !fresh {
            return Err(bad("DPoP proof replayed"));
        }
        Ok(())
    }

    /// A JWT access token: this server's (its keys, its revocation list) or a trusted
    /// issuer's (their published keys). `aud` must be the issuer's audience or the API's
    /// resource identifier.
    async fn validate_jwt(
        &self,
        api: &str,
        token: &str,
    ) -> Result<(Principal, Option<String>), HookResponse> {
        let invalid = || invalid_token("invalid_token");
        let context = self.apis.get(api).map(|r| r.context.as_str());
        let own_audiences = |server: &AuthServer| {
            let mut auds = vec![server.default_audience()];
            auds.extend(context.map(|c| server.resource_id(c)));
            auds
        };
        // a token this server validated before: no parsing, no signature check
        let cached = self.server.as_ref().and_then(|s| {
            s.cached_jwt_in(token.as_bytes(), |a| s.accepts_audience(a, context))
                .map(|hit| hit.map(|t| t.verified.clone()))
        });
        let verified = match (cached, &self.server) {
            (Some(answer), _) => {
                self.metrics.jwt_cache_hit.inc();
                answer
            }
            (None, server) => {
                let (header, iss) = jwt::peek(token).map_err(|_| invalid())?;
                match server {
                    Some(server) if server.issuer() == iss => {
                        self.metrics.jwt_cache_miss.inc();
                        server
                            .validate_jwt(token, header.kid.as_deref(), &own_audiences(server))
                            .await
                            .map_err(|e| store_unavailable(&e))?
                    }
                    _ => self.trusted_jwt(token, &header, &iss, context).await,
                }
            }
        };
        let v = verified.ok_or_else(invalid)?;
        Ok((principal_of(&v), v.jkt))
    }

    /// A trusted issuer's JWT access token, checked with its published keys.
    async fn trusted_jwt(
        &self,
        token: &str,
        header: &jsonwebtoken::Header,
        iss: &str,
        context: Option<&str>,
    ) -> Option<jwt::Verified> {
        match self.trusted.iter().find(|t| t.issuer == iss) {
            Some(t) => {
                let extra = context.map(|c| format!("{}{c}", iss.trim_end_matches('/')));
                let now = synaptic_oauth::server::Clock::now(&synaptic_oauth::server::SystemClock);
                t.verify(token, header, &t.audiences(extra), now).await
            }
            None => None,
        }
    }

    fn count<T>(&self, r: &Result<T, HookResponse>) {
        match r {
            Ok(_) => self.metrics.inbound_allowed.inc(),
            Err(resp) => match resp.status() {
                StatusCode::FORBIDDEN => self.metrics.inbound_scope.inc(),
                StatusCode::UNAUTHORIZED
                    if resp
                        .headers()
                        .get(header::WWW_AUTHENTICATE)
                        .is_some_and(|v| v.as_bytes() == b"Bearer realm=\"synaptic\"") =>
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
        let Credentials {
            dpop_scheme,
            token,
            jwt,
        } = credentials(headers)?;
        let principal = if jwt {
            let (principal, jkt) = self.validate_jwt(api, token).await?;
            self.check_binding(
                dpop_scheme,
                jkt.as_deref(),
                token,
                api,
                method,
                path,
                headers,
            )
            .await?;
            principal
        } else if dpop_scheme {
            return Err(dpop_error("invalid_token", "the token is not DPoP-bound"));
        } else {
            let Some(server) = &self.server else {
                return Err(invalid_token("invalid_token"));
            };
            match server.validate_access(token).await {
                Ok(Some(r)) => Principal {
                    client_id: r.client_id,
                    username: r.username,
                    scopes: r.scopes,
                },
                Ok(None) => return Err(invalid_token("invalid_token")),
                Err(e) => return Err(store_unavailable(&e)),
            }
        };
        self.scopes_allow(api, method, path, matched, principal)
    }

    /// [`decide`](Self::decide) when it needs no waiting: the request's credentials are
    /// refused outright, or its token is one of this server's JWTs found in the
    /// validated-token cache and bound to no DPoP key. `None`: the full check must run.
    fn decide_now(
        &self,
        api: &str,
        path: &str,
        headers: &HeaderMap,
        matched: &[String],
    ) -> Option<Result<(), HookResponse>> {
        if crate::proxy::has_method_override(headers) {
            return Some(credentials(headers).map(|_| ()));
        }
        // a token found in the validated-token cache is, byte for byte, one that passed every
        // check of `credentials` before: the characters of a new one are checked on a miss, by
        // the full path
        let mut auth = headers.get_all(header::AUTHORIZATION).iter();
        let (Some(value), None) = (auth.next(), auth.next()) else {
            return Some(credentials(headers).map(|_| ()));
        };
        let token = value
            .as_bytes()
            .strip_prefix(b"Bearer ")
            .or_else(|| value.as_bytes().strip_prefix(b"bearer "))
            .map(|t| t.trim_ascii())?;
        let server = self.server.as_ref()?;
        let context = self.apis.get(api).map(|r| r.context.as_str());
        let hit = server.cached_jwt_in(token, |a| server.accepts_audience(a, context))?;
        let granted = match &hit {
            // bound to a key: the proof is checked on the full path
            Some(t) if t.verified.jkt.is_some() => return None,
            Some(t) => &t.verified.scopes,
            None => {
                self.metrics.jwt_cache_hit.inc();
                return Some(Err(invalid_token("invalid_token")));
            }
        };
        self.metrics.jwt_cache_hit.inc();
        Some(if scopes_granted(matched, granted) {
            Ok(())
        } else {
            Err(insufficient_scope(path, matched))
        })
    }

    /// The scope check: any one of the resource's scopes (none: any valid token).
    // the refusal is the response itself, as everywhere in this module
    #[allow(clippy::result_large_err)]
    fn scopes_allow(
        &self,
        api: &str,
        method: &Method,
        path: &str,
        matched: Option<&[String]>,
        principal: Principal,
    ) -> Result<Principal, HookResponse> {
        let record = &principal;
        if let Some(need) = matched {
            return if scopes_granted(need, &record.scopes) {
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
                if scopes_granted(&need, &record.scopes) {
                    Ok(principal)
                } else {
                    Err(insufficient_scope(path, &need))
                }
            }
            ResourceMatch::MethodNotAllowed(_)
            | ResourceMatch::NotFound
            | ResourceMatch::Refused => Err(insufficient_scope(path, &[])),
        }
    }
}

/// The checks on a request's credentials that need nothing but its headers: no method
/// override, exactly one `Authorization` header with the `Bearer` or `DPoP` scheme and an RFC
/// 6750 token.
#[allow(clippy::result_large_err)]
fn credentials(headers: &HeaderMap) -> Result<Credentials<'_>, HookResponse> {
    if crate::proxy::has_method_override(headers) {
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
    let Some((scheme, token)) = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| {
            scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("dpop")
        })
        .map(|(s, t)| (s, t.trim()))
    else {
        return Err(missing_credentials());
    };
    let Some(dots) = b64token_dots(token) else {
        return Err(invalid_token("invalid_token"));
    };
    Ok(Credentials {
        dpop_scheme: scheme.eq_ignore_ascii_case("dpop"),
        token,
        // a JWS compact serialisation has exactly two dots; an opaque token has none
        jwt: dots == 2,
    })
}

/// A request's token, as [`credentials`] found it.
struct Credentials<'h> {
    dpop_scheme: bool,
    token: &'h str,
    jwt: bool,
}

/// Who a validated JWT access token speaks for: its `client_id` (or `sub` without one), and
/// `sub` as the user when it names someone else.
fn principal_of(v: &jwt::Verified) -> Principal {
    let client_id = if v.client_id.is_empty() {
        v.sub.clone()
    } else {
        v.client_id.clone()
    };
    let username = (!v.sub.is_empty() && v.sub != client_id).then(|| v.sub.clone());
    Principal {
        client_id,
        username,
        scopes: v.scopes.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_b64token_is_checked_and_its_dots_counted_in_one_pass() {
        assert_eq!(b64token_dots("eyJh.eyJz.c2ln"), Some(2));
        assert_eq!(b64token_dots("opaque-Token_0~+/"), Some(0));
        assert_eq!(b64token_dots("abc=="), Some(0));
        assert_eq!(b64token_dots("a.b.c.d"), Some(3));
        assert_eq!(b64token_dots(""), None);
        assert_eq!(b64token_dots("a b"), None);
        assert_eq!(b64token_dots("a.b.c\u{e9}"), None);
        // padding only at the end
        assert_eq!(b64token_dots("ab=c"), None);
    }

    #[test]
    fn a_resource_without_scopes_takes_any_token_else_one_of_its_scopes() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(scopes_granted(&[], &[]));
        assert!(scopes_granted(&s(&["a", "b"]), &s(&["b"])));
        assert!(!scopes_granted(&s(&["a"]), &s(&["b"])));
        assert!(!scopes_granted(&s(&["a"]), &[]));
    }
}
