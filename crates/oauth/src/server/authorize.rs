//! The authorization endpoint (RFC 6749 §4.1.1, §4.2.1) and the consent model: validate the
//! request, then the resource owner approves some of the requested scopes or denies.
//!
//! Until the client and the exact redirect URI are validated, errors are shown on a page and
//! never redirected (no open redirect).

use super::error::{ErrorCode, OAuthError};
use super::grants::Params;
use super::model::{parse_scope, Client, CodeRecord, GrantType};
use super::{pkce, secret, AuthServer};

/// `response_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseType {
    Code,
    /// Implicit grant: the token goes in the fragment.
    Token,
}

/// A validated authorization request, waiting for the resource owner's decision.
#[derive(Clone, Debug)]
pub struct AuthorizeRequest {
    pub client: Client,
    pub response_type: ResponseType,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
}

/// Why an authorization request cannot proceed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthorizeError {
    /// Client or redirect URI not validated: show this message, do not redirect.
    Page(&'static str),
    /// Send the user agent back to the validated redirect URI with an error.
    Redirect(String),
}

impl AuthorizeRequest {
    fn uses_fragment(&self) -> bool {
        self.response_type == ResponseType::Token
    }

    /// The redirect URI with `params` (and `state`) in the query or, for implicit, the fragment.
    pub fn redirect_with(&self, params: &[(&str, &str)]) -> String {
        redirect_url(
            &self.redirect_uri,
            params,
            self.state.as_deref(),
            self.uses_fragment(),
        )
    }

    /// The resource owner refused: `error=access_denied`.
    pub fn deny(&self) -> String {
        self.redirect_with(&[("error", ErrorCode::AccessDenied.as_str())])
    }
}

fn redirect_url(
    base: &str,
    params: &[(&str, &str)],
    state: Option<&str>,
    fragment: bool,
) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        ser.append_pair(k, v);
    }
    if let Some(s) = state {
        ser.append_pair("state", s);
    }
    let q = ser.finish();
    if fragment {
        format!("{base}#{q}")
    } else if base.contains('?') {
        format!("{base}&{q}")
    } else {
        format!("{base}?{q}")
    }
}

impl AuthServer {
    /// Validate an authorization request.
    pub async fn validate_authorize(
        &self,
        pairs: &[(String, String)],
    ) -> Result<AuthorizeRequest, AuthorizeError> {
        let count = |k: &str| pairs.iter().filter(|(n, _)| n == k).count();
        if count("client_id") > 1 || count("redirect_uri") > 1 {
            return Err(AuthorizeError::Page("a parameter was repeated"));
        }
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(n, v)| n == k && !v.is_empty())
                .map(|(_, v)| v.as_str())
        };
        let client_id = get("client_id").ok_or(AuthorizeError::Page("client_id is missing"))?;
        let client = self
            .store
            .client(client_id)
            .await
            .map_err(|_| AuthorizeError::Page("the authorization server failed"))?
            .ok_or(AuthorizeError::Page("unknown client"))?;
        let redirect_uri =
            get("redirect_uri").ok_or(AuthorizeError::Page("redirect_uri is missing"))?;
        if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
            return Err(AuthorizeError::Page(
                "redirect_uri is not registered for this client",
            ));
        }
        let response_type = match get("response_type") {
            Some("token") => ResponseType::Token,
            _ => ResponseType::Code,
        };
        let mut req = AuthorizeRequest {
            client: client.clone(),
            response_type,
            redirect_uri: redirect_uri.to_string(),
            scopes: Vec::new(),
            state: get("state").map(str::to_string),
            code_challenge: None,
        };
        let fail = |req: &AuthorizeRequest, code: ErrorCode, d: &str| {
            AuthorizeError::Redirect(
                req.redirect_with(&[("error", code.as_str()), ("error_description", d)]),
            )
        };
        let params = match Params::parse(pairs) {
            Ok(p) => p,
            Err(d) => return Err(fail(&req, ErrorCode::InvalidRequest, d)),
        };
        match params.get("response_type") {
            Some("code") if client.allows(GrantType::AuthorizationCode) => {}
            Some("token") if client.allows(GrantType::Implicit) && self.settings.legacy_grants => {}
            Some("code") | Some("token") => {
                return Err(fail(
                    &req,
                    ErrorCode::UnauthorizedClient,
                    "the client may not use this response_type",
                ))
            }
            Some(_) => {
                return Err(fail(
                    &req,
                    ErrorCode::UnsupportedResponseType,
                    "unsupported response_type",
                ))
            }
            None => {
                return Err(fail(
                    &req,
                    ErrorCode::InvalidRequest,
                    "response_type is missing",
                ))
            }
        }
        req.scopes = match params.get("scope") {
            None => client.scopes.clone(),
            Some(s) => match parse_scope(s) {
                Some(v) if v.iter().all(|x| client.scopes.contains(x)) => v,
                _ => {
                    return Err(fail(
                        &req,
                        ErrorCode::InvalidScope,
                        "the requested scope is not allowed",
                    ))
                }
            },
        };
        if req.scopes.is_empty() {
            return Err(fail(&req, ErrorCode::InvalidScope, "no scope requested"));
        }
        if response_type == ResponseType::Code {
            let challenge = params.get("code_challenge");
            let method = params.get("code_challenge_method");
            match (challenge, method) {
                (Some(c), Some("S256")) if pkce::valid_challenge(c) => {
                    req.code_challenge = Some(c.to_string())
                }
                (Some(_), Some("S256")) => {
                    return Err(fail(
                        &req,
                        ErrorCode::InvalidRequest,
                        "malformed code_challenge",
                    ))
                }
                (Some(_), _) => {
                    return Err(fail(
                        &req,
                        ErrorCode::InvalidRequest,
                        "code_challenge_method must be S256",
                    ))
                }
                (None, Some(_)) => {
                    return Err(fail(
                        &req,
                        ErrorCode::InvalidRequest,
                        "code_challenge_method without code_challenge",
                    ))
                }
                (None, None) => {
                    return Err(fail(
                        &req,
                        ErrorCode::InvalidRequest,
                        "PKCE (S256) is required",
                    ))
                }
            }
        }
        Ok(req)
    }

    /// The resource owner `username` (already authenticated) approved `granted` (a subset of
    /// the requested scopes; an empty choice is a denial). Returns the redirect URL.
    pub async fn approve(
        &self,
        req: &AuthorizeRequest,
        username: &str,
        granted: &[String],
    ) -> Result<String, OAuthError> {
        let granted: std::collections::HashSet<&str> = granted.iter().map(String::as_str).collect();
        let scopes: Vec<String> = req
            .scopes
            .iter()
            .filter(|s| granted.contains(s.as_str()))
            .cloned()
            .collect();
        if scopes.is_empty() {
            return Ok(req.deny());
        }
        match req.response_type {
            ResponseType::Code => {
                let code = secret::random_token("syn_ac_");
                let rec = CodeRecord {
                    hash: secret::sha256_hex(code.expose()),
                    client_id: req.client.id.clone(),
                    redirect_uri: req.redirect_uri.clone(),
                    username: username.to_string(),
                    scopes,
                    code_challenge: req.code_challenge.clone(),
                    family_id: secret::random_id(),
                    expires_at: self.now() + self.settings.code_lifetime.clamp(1, 600),
                };
                self.store.insert_code(&rec).await?;
                Ok(req.redirect_with(&[("code", code.expose())]))
            }
            ResponseType::Token => {
                let family = self
                    .new_family(&req.client, Some(username), &scopes)
                    .await?;
                let t = self
                    .issue(&req.client, &family, scopes, None, None, None)
                    .await?;
                let expires = t.expires_in.map(|e| e.to_string());
                let scope = t.scope.clone();
                let mut params = vec![
                    ("access_token", t.access_token.expose()),
                    ("token_type", "Bearer"),
                ];
                if let Some(e) = &expires {
                    params.push(("expires_in", e));
                }
                params.push(("scope", &scope));
                Ok(req.redirect_with(&params))
            }
        }
    }

    /// Scopes as the approval page lists them: (name, description).
    pub fn describe_scopes(&self, scopes: &[String]) -> Vec<(String, String)> {
        scopes
            .iter()
            .map(|s| (s.clone(), self.scope_description(s)))
            .collect()
    }
}
