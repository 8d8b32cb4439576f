//! The HTTP surface: `/oauth2/token`, `/oauth2/authorize`, `/oauth2/revoke`,
//! `/oauth2/introspect`, `/.well-known/oauth-authorization-server` and
//! `/oauth2/admin/purge`.

use super::page::{self, FormData, PageSettings};
use super::pending::{Approvals, Opened};
use crate::hooks::{HookResponse, LocalService};
use async_trait::async_trait;
use base64::Engine as _;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode, Uri};
use http_body_util::Full;
use std::net::SocketAddr;
use std::sync::Arc;
use synaptic_oauth::server::jwt::TokenFormat;
use synaptic_oauth::server::secret::ct_eq;
use synaptic_oauth::server::{
    AuthServer, AuthorizeError, AuthorizeRequest, ClientCredentials, DpopRequest, ErrorCode,
    GrantType, OAuthError, ResponseType, Secret,
};

pub const TOKEN: &str = "/oauth2/token";
pub const AUTHORIZE: &str = "/oauth2/authorize";
pub const REVOKE: &str = "/oauth2/revoke";
pub const INTROSPECT: &str = "/oauth2/introspect";
pub const METADATA: &str = "/.well-known/oauth-authorization-server";
pub const ADMIN_PURGE: &str = "/oauth2/admin/purge";
pub const JWKS: &str = "/oauth2/jwks";
/// RFC 9728 protected-resource metadata: this prefix followed by a secured API's context.
pub const RESOURCE_METADATA: &str = "/.well-known/oauth-protected-resource";

/// A secured API as its protected-resource metadata describes it.
#[derive(Debug, Clone)]
pub struct ProtectedResource {
    pub name: String,
    pub context: String,
    pub scopes: Vec<String>,
}

const CSRF_COOKIE: &str = "synaptic_csrf";
/// Pending approvals live this long (seconds).
const PENDING_TTL: i64 = 600;
/// `Retry-After` (seconds) of the answers refused because too many password checks run.
const BUSY_RETRY_AFTER: &str = "1";

/// The authorization server's endpoints.
#[derive(Debug)]
pub struct Endpoints {
    server: Arc<AuthServer>,
    page: PageSettings,
    admin_token: Option<Secret>,
    metrics: super::AuthMetrics,
    /// Requests waiting for the resource owner, sealed into the approval form.
    approvals: Approvals,
    resources: Vec<ProtectedResource>,
}

impl Endpoints {
    pub fn new(
        server: Arc<AuthServer>,
        page: PageSettings,
        admin_token: Option<Secret>,
        metrics: super::AuthMetrics,
        resources: Vec<ProtectedResource>,
    ) -> Self {
        Endpoints {
            server,
            page,
            admin_token,
            metrics,
            approvals: Approvals::new(PENDING_TTL),
            resources,
        }
    }

    /// Where the gateway listens; the issuer (and every endpoint of the metadata) is derived
    /// from it when `[auth_server] issuer` is not set. The first address given is kept.
    pub fn set_listener(&self, addr: SocketAddr) {
        self.server.settings().issuer.set_listener(addr);
    }
}

// === responses ===

fn response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> HookResponse {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn no_store(mut r: HookResponse) -> HookResponse {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

fn json(status: StatusCode, body: String) -> HookResponse {
    no_store(response(status, "application/json", body))
}

fn oauth_error(e: &OAuthError, basic_used: bool) -> HookResponse {
    let status = StatusCode::from_u16(e.code.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = json(status, e.to_json());
    if e.code == ErrorCode::TemporarilyUnavailable {
        r.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(BUSY_RETRY_AFTER),
        );
    }
    if e.code == ErrorCode::InvalidClient && basic_used {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"synaptic\""),
        );
    }
    r
}

fn method_not_allowed(allow: &'static str) -> HookResponse {
    let mut r = json(
        StatusCode::METHOD_NOT_ALLOWED,
        OAuthError::invalid_request("method not allowed").to_json(),
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

fn html(status: StatusCode, body: String) -> HookResponse {
    let mut r = no_store(response(status, "text/html; charset=utf-8", body));
    let h = r.headers_mut();
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src * data:; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

fn redirect(location: &str) -> HookResponse {
    let mut r = no_store(response(StatusCode::FOUND, "text/plain", Bytes::new()));
    match HeaderValue::from_str(location) {
        Ok(v) => {
            r.headers_mut().insert(header::LOCATION, v);
            r.headers_mut().insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            r
        }
        Err(_) => html(
            StatusCode::BAD_REQUEST,
            page::error_page("the redirect URI cannot be used"),
        ),
    }
}

// === request parsing ===

fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// `Authorization: Basic` credentials, form-decoded (RFC 6749 §2.3.1). `Err` when the header is
/// Basic but malformed.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<ClientCredentials>, ()> {
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let v = v.to_str().map_err(|_| ())?;
    let Some((scheme, rest)) = v.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .map_err(|_| ())?;
    let text = String::from_utf8(raw).map_err(|_| ())?;
    let (id, secret) = text.split_once(':').ok_or(())?;
    let decode = |s: &str| -> Result<String, ()> {
        let plus = s.replace('+', " ");
        percent_encoding::percent_decode_str(&plus)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| ())
    };
    Ok(Some(ClientCredentials {
        id: decode(id)?,
        secret: Secret::new(decode(secret)?),
    }))
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

// === endpoints ===

impl Endpoints {
    /// The configured issuer, or `http://<listen address>`; never taken from the request.
    fn issuer(&self) -> String {
        self.server.issuer()
    }

    fn protected_resource(&self, path: &str) -> Option<&ProtectedResource> {
        let ctx = path.strip_prefix(RESOURCE_METADATA)?;
        self.resources.iter().find(|r| r.context == ctx)
    }

    /// RFC 9728 metadata of a secured API.
    fn resource_metadata(&self, method: &Method, path: &str) -> HookResponse {
        if method != Method::GET && method != Method::HEAD {
            return method_not_allowed("GET");
        }
        let Some(r) = self.protected_resource(path) else {
            return response(
                StatusCode::NOT_FOUND,
                "application/json",
                r#"{"error":"not_found"}"#,
            );
        };
        let iss = self.issuer();
        let mut body = serde_json::json!({
            "resource": self.server.resource_id(&r.context),
            "resource_name": r.name,
            "authorization_servers": [iss],
            "scopes_supported": r.scopes,
            "bearer_methods_supported": ["header"],
        });
        if self.jwt() {
            body["dpop_signing_alg_values_supported"] = synaptic_oauth::server::dpop::ALGS
                .split(' ')
                .collect::<Vec<_>>()
                .into();
            body["dpop_bound_access_tokens_required"] = false.into();
        }
        let mut resp = response(StatusCode::OK, "application/json", body.to_string());
        resp.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=300"),
        );
        resp
    }

    fn jwt(&self) -> bool {
        self.server.settings().token_format == TokenFormat::Jwt
    }

    /// `GET /oauth2/jwks`: the public keys of JWT access tokens (404 with opaque tokens).
    fn jwks(&self, method: &Method) -> HookResponse {
        if !self.jwt() {
            return response(
                StatusCode::NOT_FOUND,
                "application/json",
                r#"{"error":"not_found"}"#,
            );
        }
        if method != Method::GET && method != Method::HEAD {
            return method_not_allowed("GET");
        }
        let mut r = response(
            StatusCode::OK,
            "application/jwk-set+json",
            self.server.jwks().to_string(),
        );
        r.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=60"),
        );
        r
    }

    async fn token(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> HookResponse {
        if method != Method::POST {
            return method_not_allowed("POST");
        }
        let basic = match basic_credentials(headers) {
            Ok(b) => b,
            Err(()) => return oauth_error(&OAuthError::invalid_client(), true),
        };
        let basic_used = basic.is_some();
        if uri.query().is_some_and(|q| !q.is_empty()) {
            return oauth_error(
                &OAuthError::invalid_request("parameters must be sent in the body"),
                basic_used,
            );
        }
        if !is_form(headers) {
            return oauth_error(
                &OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"),
                basic_used,
            );
        }
        let pairs = form_pairs(body);
        let grant = pairs
            .iter()
            .find(|(k, _)| k == "grant_type")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let proofs: Vec<&HeaderValue> = headers.get_all("dpop").iter().collect();
        let proof = match proofs.as_slice() {
            [] => None,
            [one] => match one.to_str() {
                Ok(p) => Some(p),
                Err(_) => {
                    return oauth_error(
                        &OAuthError::new(ErrorCode::InvalidDpopProof, "malformed DPoP proof"),
                        basic_used,
                    )
                }
            },
            _ => {
                return oauth_error(
                    &OAuthError::new(ErrorCode::InvalidDpopProof, "more than one DPoP proof"),
                    basic_used,
                )
            }
        };
        let mut urls = vec![format!("{}{TOKEN}", self.issuer())];
        if let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
            urls.push(format!("http://{host}{TOKEN}"));
            urls.push(format!("https://{host}{TOKEN}"));
        }
        let dpop = proof.map(|proof| DpopRequest { proof, urls: &urls });
        let mut resp = match self
            .server
            .token_with_dpop(&pairs, basic.as_ref(), dpop)
            .await
        {
            Ok(t) => {
                self.metrics.token(&grant, "issued");
                json(StatusCode::OK, t.to_json())
            }
            Err(e) => {
                self.metrics.token(&grant, e.code.as_str());
                oauth_error(&e, basic_used)
            }
        };
        // RFC 9449 §8: the nonce for the next proof, to every request that sent one
        if proof.is_some() {
            if let Some(v) = self
                .server
                .dpop_nonce()
                .and_then(|n| HeaderValue::from_str(&n).ok())
            {
                resp.headers_mut().insert("dpop-nonce", v);
            }
        }
        resp
    }

    /// Authenticate the caller of revoke/introspect; `(pairs, client)` or the error response.
    async fn caller(
        &self,
        method: &Method,
        headers: &HeaderMap,
        body: &[u8],
        confidential_only: bool,
    ) -> Result<(Vec<(String, String)>, synaptic_oauth::server::Client), HookResponse> {
        if method != Method::POST {
            return Err(method_not_allowed("POST"));
        }
        let basic = basic_credentials(headers)
            .map_err(|()| oauth_error(&OAuthError::invalid_client(), true))?;
        let basic_used = basic.is_some();
        if !is_form(headers) {
            return Err(oauth_error(
                &OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"),
                basic_used,
            ));
        }
        let pairs = form_pairs(body);
        let client = self
            .server
            .authenticate_client(&pairs, basic.as_ref())
            .await
            .map_err(|e| oauth_error(&e, basic_used))?;
        if confidential_only && client.is_public() {
            return Err(oauth_error(&OAuthError::invalid_client(), basic_used));
        }
        let tokens = pairs.iter().filter(|(k, _)| k == "token").count();
        if tokens != 1 {
            return Err(oauth_error(
                &OAuthError::invalid_request("exactly one token parameter is required"),
                basic_used,
            ));
        }
        Ok((pairs, client))
    }

    async fn revoke(&self, method: &Method, headers: &HeaderMap, body: &[u8]) -> HookResponse {
        let (pairs, client) = match self.caller(method, headers, body, false).await {
            Ok(x) => x,
            Err(r) => return r,
        };
        let token = pairs
            .iter()
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        match self.server.revoke(&client, token).await {
            Ok(()) => no_store(response(StatusCode::OK, "application/json", Bytes::new())),
            Err(e) => oauth_error(&e, false),
        }
    }

    async fn introspect(&self, method: &Method, headers: &HeaderMap, body: &[u8]) -> HookResponse {
        let (pairs, client) = match self.caller(method, headers, body, true).await {
            Ok(x) => x,
            Err(r) => return r,
        };
        let token = pairs
            .iter()
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        match self.server.introspect(&client, token).await {
            Ok(i) => json(StatusCode::OK, i.to_json(Some(&self.issuer()))),
            Err(e) => oauth_error(&e, false),
        }
    }

    fn metadata(&self, method: &Method) -> HookResponse {
        if method != Method::GET && method != Method::HEAD {
            return method_not_allowed("GET");
        }
        let iss = self.issuer();
        let scopes: Vec<&str> = self
            .server
            .settings()
            .scopes
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        let legacy = self.server.settings().legacy_grants;
        let mut grants = vec!["authorization_code", "refresh_token", "client_credentials"];
        if legacy {
            grants.extend(["password", "implicit"]);
        }
        let mut body = serde_json::json!({
            "issuer": iss,
            "authorization_endpoint": format!("{iss}{AUTHORIZE}"),
            "token_endpoint": format!("{iss}{TOKEN}"),
            "revocation_endpoint": format!("{iss}{REVOKE}"),
            "introspection_endpoint": format!("{iss}{INTROSPECT}"),
            "scopes_supported": scopes,
            "response_types_supported": if legacy { vec!["code", "token"] } else { vec!["code"] },
            "response_modes_supported": if legacy { vec!["query", "fragment"] } else { vec!["query"] },
            "grant_types_supported": grants,
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
        });
        if self.jwt() {
            body["jwks_uri"] = format!("{iss}{JWKS}").into();
            body["dpop_signing_alg_values_supported"] = synaptic_oauth::server::dpop::ALGS
                .split(' ')
                .collect::<Vec<_>>()
                .into();
        }
        let mut r = response(StatusCode::OK, "application/json", body.to_string());
        r.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=300"),
        );
        r
    }

    async fn purge(
        &self,
        method: &Method,
        headers: &HeaderMap,
        peer: Option<SocketAddr>,
    ) -> HookResponse {
        let Some(expected) = &self.admin_token else {
            return response(
                StatusCode::NOT_FOUND,
                "application/json",
                r#"{"error":"not_found"}"#,
            );
        };
        if method != Method::POST {
            return method_not_allowed("POST");
        }
        let loopback = peer.is_some_and(|p| p.ip().is_loopback());
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let token_ok = ct_eq(presented.as_bytes(), expected.expose().as_bytes());
        if !loopback || !token_ok {
            return json(StatusCode::FORBIDDEN, r#"{"error":"forbidden"}"#.into());
        }
        match self.server.purge().await {
            Ok(n) => json(
                StatusCode::OK,
                serde_json::json!({ "removed": n }).to_string(),
            ),
            Err(e) => oauth_error(&OAuthError::from(e), false),
        }
    }

    /// Check an opened form against the client as it is stored now (it may have changed or
    /// gone since the page was shown).
    async fn reopen(&self, o: Opened) -> Option<AuthorizeRequest> {
        let client = self.server.store().client(&o.client_id).await.ok()??;
        let grant = match o.response_type {
            ResponseType::Code => GrantType::AuthorizationCode,
            ResponseType::Token => GrantType::Implicit,
        };
        let still_valid = client.allows(grant)
            && client.redirect_uris.contains(&o.redirect_uri)
            && o.scopes.iter().all(|s| client.scopes.contains(s));
        still_valid.then_some(AuthorizeRequest {
            client,
            response_type: o.response_type,
            redirect_uri: o.redirect_uri,
            scopes: o.scopes,
            state: o.state,
            code_challenge: o.code_challenge,
        })
    }

    fn approval_page(
        &self,
        req: AuthorizeRequest,
        error: Option<&str>,
        username: &str,
    ) -> HookResponse {
        let scopes = self.server.describe_scopes(&req.scopes);
        let name = req.client.name.clone();
        let destination = page::redirect_origin(&req.redirect_uri);
        let Some((csrf, nonce)) = self.approvals.seal(&req, self.server.now()) else {
            return html(
                StatusCode::INTERNAL_SERVER_ERROR,
                page::error_page("the authorization server failed"),
            );
        };
        let body = page::render(
            &self.page,
            &FormData {
                client_name: &name,
                scopes: &scopes,
                csrf: &csrf,
                error,
                username,
                redirect_origin: &destination,
            },
        );
        let mut r = html(StatusCode::OK, body);
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{CSRF_COOKIE}={nonce}; Path={AUTHORIZE}; HttpOnly; SameSite=Strict; Max-Age={PENDING_TTL}"
        )) {
            r.headers_mut().insert(header::SET_COOKIE, v);
        }
        r
    }

    async fn authorize(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> HookResponse {
        if method == Method::GET || method == Method::HEAD {
            let pairs = form_pairs(uri.query().unwrap_or("").as_bytes());
            return match self.server.validate_authorize(&pairs).await {
                Ok(req) => self.approval_page(req, None, ""),
                Err(AuthorizeError::Page(msg)) => {
                    html(StatusCode::BAD_REQUEST, page::error_page(msg))
                }
                Err(AuthorizeError::Redirect(to)) => redirect(&to),
            };
        }
        if method != Method::POST {
            return method_not_allowed("GET, POST");
        }
        let bad = |msg: &str| html(StatusCode::BAD_REQUEST, page::error_page(msg));
        if !is_form(headers) {
            return bad("the form must be application/x-www-form-urlencoded");
        }
        let pairs = form_pairs(body);
        let field = |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        };
        let expired = "the form expired or was not sent from the approval page; start again";
        let cookie = cookie(headers, CSRF_COOKIE).unwrap_or_default();
        let now = self.server.now();
        let Some(opened) = self.approvals.open(field("csrf_token"), &cookie, now) else {
            return bad(expired);
        };
        if !self.approvals.consume(&opened.nonce, now) {
            return bad(expired);
        }
        let Some(req) = self.reopen(opened).await else {
            return bad(expired);
        };
        match field("action") {
            "deny" => return redirect(&req.deny()),
            "approve" => {}
            _ => return bad("choose approve or deny"),
        }
        let username = field("username");
        let password = field("password");
        let ok = match self.server.authenticate_user(username, password).await {
            Ok(ok) => ok,
            Err(e) if e.code == ErrorCode::TemporarilyUnavailable => {
                let mut r = html(
                    StatusCode::SERVICE_UNAVAILABLE,
                    page::error_page("too many sign-ins at once; go back and try again"),
                );
                r.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_static(BUSY_RETRY_AFTER),
                );
                return r;
            }
            Err(_) => return bad("the authorization server failed"),
        };
        if !ok {
            return self.approval_page(req, Some("Invalid user name or password."), username);
        }
        let granted: Vec<String> = pairs
            .iter()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v.clone())
            .collect();
        match self.server.approve(&req, username, &granted).await {
            Ok(to) => redirect(&to),
            Err(e) => redirect(&req.redirect_with(&[
                ("error", e.code.as_str()),
                ("error_description", e.description),
            ])),
        }
    }
}

#[async_trait]
impl LocalService for Endpoints {
    fn matches(&self, path: &str) -> bool {
        self.protected_resource(path).is_some()
            || matches!(
                path,
                TOKEN | AUTHORIZE | REVOKE | INTROSPECT | METADATA | ADMIN_PURGE | JWKS
            )
    }

    fn listening(&self, addr: SocketAddr) {
        self.set_listener(addr);
    }

    async fn handle(
        &self,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
        peer: Option<SocketAddr>,
    ) -> HookResponse {
        match uri.path() {
            TOKEN => self.token(&method, &uri, &headers, &body).await,
            AUTHORIZE => self.authorize(&method, &uri, &headers, &body).await,
            REVOKE => self.revoke(&method, &headers, &body).await,
            INTROSPECT => self.introspect(&method, &headers, &body).await,
            METADATA => self.metadata(&method),
            JWKS => self.jwks(&method),
            p if p.starts_with(RESOURCE_METADATA) => self.resource_metadata(&method, p),
            ADMIN_PURGE => self.purge(&method, &headers, peer).await,
            _ => response(
                StatusCode::NOT_FOUND,
                "application/json",
                r#"{"error":"not_found"}"#,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_is_form_decoded() {
        let mut h = HeaderMap::new();
        let raw = base64::engine::general_purpose::STANDARD.encode("my%3Aid:a%3Ab%25c%2Bd+e");
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {raw}")).unwrap(),
        );
        let c = basic_credentials(&h).unwrap().unwrap();
        assert_eq!(c.id, "my:id");
        assert_eq!(c.secret.expose(), "a:b%c+d e");
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert!(basic_credentials(&h).is_err());
    }
}
