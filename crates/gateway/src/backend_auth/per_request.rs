//! What one request changes in its API's token request.
//!
//! * With `grant_type = "token_exchange"` the caller's bearer token (the `Authorization` header
//!   the gateway received) is the subject of the exchange: each caller's token gets its own
//!   cache entry (keyed by its hash), its own single flight, and never reaches the backend.
//! * `scope` and `audience` may hold inline expressions in braces (`"{$trp:X-Audience}"`,
//!   `"{get-property('wanted-scope')}"`), evaluated on the message after the in-flow (on APIs
//!   without sequences, on the request's headers): each distinct value is its own cache entry.

use http::{HeaderMap, HeaderValue, StatusCode};
use synaptic_engine::{MessageContext, Payload, Properties, Scope, Value};
use synaptic_expr::{CompiledExpr, Dialect, ExprEnv};
use synaptic_oauth::client::{AccessToken, FetchFailure, Secret, TokenError, Variant};

use super::config::EndpointSecurity;
use super::upstream::{unavailable, OAuthUpstream, ENDPOINT_AUTH_FAILURE};
use crate::hooks::{HookResponse, RequestValues};

/// Longest caller token accepted as a subject (a larger header is refused, not exchanged).
pub const MAX_SUBJECT_TOKEN: usize = 16 * 1024;

/// Longest evaluated scope or audience (a longer one fails the request).
pub const MAX_EVALUATED: usize = 1024;

/// The per-request part of an API's endpoint security.
#[derive(Debug, Clone)]
pub struct PerRequest {
    exchange: bool,
    /// The API has `security = "oauth2"`: the caller's token, checked and removed from
    /// `Authorization` by the core, is in [`crate::hooks::SUBJECT_TOKEN_HEADER`].
    secured: bool,
    scope: Option<Template>,
    audience: Option<Template>,
}

impl PerRequest {
    /// None when every request of the API uses one token.
    pub fn new(es: &EndpointSecurity, secured: bool) -> Option<PerRequest> {
        let scope = es
            .scope
            .as_deref()
            .and_then(|t| Template::parse(t).ok().flatten());
        let audience = es
            .audience
            .as_deref()
            .and_then(|t| Template::parse(t).ok().flatten());
        let exchange = es.is_token_exchange();
        (exchange || scope.is_some() || audience.is_some()).then_some(PerRequest {
            exchange,
            secured,
            scope,
            audience,
        })
    }

    /// The scope and audience evaluated on a mediated message.
    pub fn evaluate(&self, ctx: &MessageContext) -> Option<RequestValues> {
        if self.scope.is_none() && self.audience.is_none() {
            return None;
        }
        let env = Env {
            headers: &ctx.headers,
            properties: Some(&ctx.properties),
            payload: &ctx.payload,
        };
        Some(self.values(&env))
    }

    fn values(&self, env: &Env<'_>) -> RequestValues {
        let mut out = RequestValues::new();
        for (name, t) in [("scope", &self.scope), ("audience", &self.audience)] {
            if let Some(t) = t {
                out.push((name, t.eval(env)));
            }
        }
        out
    }

    /// The variant of this request, or the answer when it cannot have one (no bearer token
    /// to exchange, an evaluated value too long). `values`: what [`PerRequest::evaluate`] gave
    /// on the mediated message; without them the expressions see the request's headers only.
    #[allow(clippy::result_large_err)]
    pub fn variant(
        &self,
        headers: &HeaderMap,
        values: Option<&RequestValues>,
    ) -> Result<Variant, HookResponse> {
        let mut v = Variant::default();
        if self.exchange {
            let subject = if self.secured {
                subject_header(headers)
            } else {
                bearer(headers)
            };
            match subject {
                Some(t) => v.subject_token = Some(t),
                None => return Err(unauthorized("a bearer token is required", None)),
            }
        }
        let computed;
        let values = match values {
            Some(vs) => vs,
            None => {
                let empty = Payload::Empty;
                computed = self.values(&Env {
                    headers,
                    properties: None,
                    payload: &empty,
                });
                &computed
            }
        };
        for (name, value) in values {
            if value.len() > MAX_EVALUATED {
                return Err(crate::fault::response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ENDPOINT_AUTH_FAILURE,
                    "Backend authentication failed",
                    &format!("the {name} of the token request evaluated to more than {MAX_EVALUATED} bytes"),
                ));
            }
            let value = (!value.trim().is_empty()).then(|| value.clone());
            match *name {
                "scope" => v.scope = value,
                "audience" => v.audience = value,
                _ => {}
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

/// The caller's checked token that the core moved to [`crate::hooks::SUBJECT_TOKEN_HEADER`].
fn subject_header(headers: &HeaderMap) -> Option<Secret> {
    let v = headers
        .get(crate::hooks::SUBJECT_TOKEN_HEADER)?
        .to_str()
        .ok()?
        .trim();
    (!v.is_empty() && v.len() <= MAX_SUBJECT_TOKEN).then(|| Secret::new(v))
}

impl PerRequest {
    /// Whether the caller's token is exchanged on a secured API (see
    /// [`crate::hooks::UpstreamAuth::exchanges_caller_token`]).
    pub fn exchanges_checked_token(&self) -> bool {
        self.exchange && self.secured
    }
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

/// A value with inline expressions in braces (`"{$trp:X-Audience}"`,
/// `"orders {get-property('wanted')}"`); text outside the braces is kept as is.
#[derive(Debug, Clone)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    Lit(String),
    Expr(Box<CompiledExpr>),
}

impl Template {
    /// `Ok(None)` when `text` has no braces. Expressions may read properties and headers, not
    /// the body (it is not built on every path).
    pub fn parse(text: &str) -> Result<Option<Template>, String> {
        if !text.contains('{') {
            return Ok(None);
        }
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Lit(rest[..open].to_string()));
            }
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| format!("unclosed '{{' in {text:?}"))?;
            let inner = after[..close].trim();
            if inner.is_empty() || inner.contains('{') {
                return Err(format!("bad expression in braces in {text:?}"));
            }
            let span = synaptic_diag::Span::new(synaptic_diag::SourceId(0), 0, 0);
            let e = synaptic_expr::compile(inner, span, &[], Dialect::XPath).map_err(|d| {
                let msgs: Vec<String> = d.into_iter().map(|d| d.message).collect();
                format!("expression {inner:?}: {}", msgs.join("; "))
            })?;
            if e.touches_body() {
                return Err(format!(
                    "expression {inner:?} reads the message body; only properties and headers ($trp:, get-property) can be used here"
                ));
            }
            parts.push(Part::Expr(Box::new(e)));
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_string()));
        }
        Ok(Some(Template { parts }))
    }

    fn eval(&self, env: &Env<'_>) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(l) => out.push_str(l),
                Part::Expr(e) => {
                    // a failed evaluation is an empty string, as in Synapse's inline values
                    if let Ok(v) = synaptic_expr::eval(e, env) {
                        out.push_str(&v.to_synapse_string().unwrap_or_default());
                    }
                }
            }
        }
        out
    }
}

/// What the expressions of a scope or audience see: properties (on a mediated message) and
/// transport headers.
struct Env<'a> {
    headers: &'a HeaderMap,
    properties: Option<&'a Properties>,
    payload: &'a Payload,
}

impl ExprEnv for Env<'_> {
    fn property(&self, scope: Scope, name: &str) -> Option<Value> {
        let props = self.properties;
        match scope {
            Scope::Default => props?.default.get(name).cloned(),
            Scope::Axis2 => props?.axis2.get(name).cloned(),
            Scope::Operation => props?.operation.get(name).cloned(),
            Scope::Transport => self
                .headers
                .get(name)
                .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned())),
            _ => None,
        }
    }
    fn registry(&self, _key: &str) -> Option<String> {
        None
    }
    fn payload(&self) -> &Payload {
        self.payload
    }
    fn raw_json(&self) -> Option<&str> {
        None
    }
    fn url_param(&self, _name: &str) -> Option<String> {
        None
    }
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

impl OAuthUpstream {
    /// The token for one request with these headers (and the values evaluated on its mediated
    /// message); `Err` is the answer to send instead.
    pub(super) async fn request_token(
        &self,
        headers: &HeaderMap,
        values: Option<&RequestValues>,
    ) -> Result<AccessToken, HookResponse> {
        let outcome = match &self.per_request {
            None => self.handle.token().await.map_err(|e| (e, None)),
            Some(p) => {
                let v = p.variant(headers, values)?;
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

    fn exchange() -> PerRequest {
        PerRequest {
            exchange: true,
            secured: false,
            scope: None,
            audience: None,
        }
    }

    #[test]
    fn on_a_secured_api_the_subject_is_the_checked_token_only() {
        let p = PerRequest {
            secured: true,
            ..exchange()
        };
        assert!(p.exchanges_checked_token() && !exchange().exchanges_checked_token());
        // the client's own Authorization (already removed by the core on a secured API) is
        // not a subject there; the checked token the core kept is
        assert!(p.variant(&headers("Bearer from-client"), None).is_err());
        let mut h = HeaderMap::new();
        h.insert(
            crate::hooks::SUBJECT_TOKEN_HEADER,
            HeaderValue::from_static("checked"),
        );
        let v = p.variant(&h, None).unwrap();
        assert_eq!(v.subject_token.unwrap().expose(), "checked");
        // on an unsecured API the subject header means nothing
        assert!(exchange().variant(&h, None).is_err());
    }

    #[test]
    fn exchange_without_a_bearer_token_is_a_401_challenge() {
        let p = exchange();
        let r = p.variant(&HeaderMap::new(), None).unwrap_err();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()[http::header::WWW_AUTHENTICATE], "Bearer");
        let v = p.variant(&headers("Bearer caller"), None).unwrap();
        assert_eq!(v.subject_token.unwrap().expose(), "caller");
    }

    #[test]
    fn templates_parse_and_evaluate_on_properties_and_headers() {
        assert!(Template::parse("plain scope").unwrap().is_none());
        assert!(Template::parse("{$trp:X").is_err());
        assert!(Template::parse("{}").is_err());
        let e = Template::parse("{$body//x}").unwrap_err();
        assert!(e.contains("message body"), "{e}");

        let p = PerRequest {
            exchange: false,
            secured: false,
            scope: Template::parse("read {get-property('wanted-scope')}").unwrap(),
            audience: Template::parse("{$trp:X-Audience}").unwrap(),
        };
        let mut ctx = MessageContext::from_request(
            http::Method::GET,
            "/x",
            headers("Bearer t"),
            bytes::Bytes::new(),
            None,
        );
        ctx.headers.insert("x-audience", "billing".parse().unwrap());
        ctx.properties
            .default
            .insert("wanted-scope", Value::String("write".into()));
        let values = p.evaluate(&ctx).unwrap();
        assert_eq!(
            values,
            vec![
                ("scope", "read write".to_string()),
                ("audience", "billing".to_string())
            ]
        );
        let v = p.variant(&ctx.headers, Some(&values)).unwrap();
        assert_eq!(v.scope.as_deref(), Some("read write"));
        assert_eq!(v.audience.as_deref(), Some("billing"));
        assert!(v.subject_token.is_none());

        // without a mediated message: headers only; an empty value is no parameter
        let mut h = HeaderMap::new();
        h.insert("x-audience", "orders".parse().unwrap());
        let v = p.variant(&h, None).unwrap();
        assert_eq!(v.audience.as_deref(), Some("orders"));
        assert_eq!(v.scope.as_deref(), Some("read "));
        let v = p.variant(&HeaderMap::new(), None).unwrap();
        assert_eq!(v.audience, None);

        // an absurdly long value fails the request instead of filling the cache
        h.insert("x-audience", "a".repeat(MAX_EVALUATED + 1).parse().unwrap());
        let r = p.variant(&h, None).unwrap_err();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn refused_subject_is_401_and_endpoint_trouble_503() {
        let p = exchange();
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
