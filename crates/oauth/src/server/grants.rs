//! The token endpoint (RFC 6749 §4, §6), client authentication (§2.3), revocation (RFC 7009)
//! and introspection (RFC 7662).

use super::error::{ErrorCode, OAuthError};
use super::jwt::{TokenFormat, MAX_JWT_LIFETIME};
use super::model::{
    parse_scope, scope_string, Client, Consume, Family, GrantType, TokenKind, TokenRecord,
};
use super::secret::{self, Secret};
use super::{dpop, pkce, AuthServer};
use std::collections::HashMap;

/// Credentials from an `Authorization: Basic` header, already form-decoded (RFC 6749 §2.3.1).
#[derive(Clone)]
pub struct ClientCredentials {
    pub id: String,
    pub secret: Secret,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone)]
pub struct TokenResponse {
    pub access_token: Secret,
    /// `None` for tokens that never expire.
    pub expires_in: Option<i64>,
    pub refresh_token: Option<Secret>,
    pub scope: String,
    /// Bound to the client's DPoP key (`token_type` `DPoP`).
    pub dpop: bool,
}

impl TokenResponse {
    pub fn to_json(&self) -> String {
        let mut m = serde_json::Map::new();
        m.insert("access_token".into(), self.access_token.expose().into());
        let kind = if self.dpop { "DPoP" } else { "Bearer" };
        m.insert("token_type".into(), kind.into());
        if let Some(e) = self.expires_in {
            m.insert("expires_in".into(), e.into());
        }
        if let Some(r) = &self.refresh_token {
            m.insert("refresh_token".into(), r.expose().into());
        }
        m.insert("scope".into(), self.scope.clone().into());
        serde_json::Value::Object(m).to_string()
    }
}

/// An introspection answer (RFC 7662 §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Introspection {
    Inactive,
    Active {
        scope: String,
        client_id: String,
        username: Option<String>,
        exp: Option<i64>,
        iat: i64,
    },
}

impl Introspection {
    pub fn to_json(&self, issuer: Option<&str>) -> String {
        match self {
            Introspection::Inactive => r#"{"active":false}"#.to_string(),
            Introspection::Active {
                scope,
                client_id,
                username,
                exp,
                iat,
            } => {
                let mut m = serde_json::Map::new();
                m.insert("active".into(), true.into());
                m.insert("scope".into(), scope.clone().into());
                m.insert("client_id".into(), client_id.clone().into());
                if let Some(u) = username {
                    m.insert("username".into(), u.clone().into());
                }
                m.insert(
                    "sub".into(),
                    username.clone().unwrap_or_else(|| client_id.clone()).into(),
                );
                m.insert("token_type".into(), "Bearer".into());
                if let Some(e) = exp {
                    m.insert("exp".into(), (*e).into());
                }
                m.insert("iat".into(), (*iat).into());
                if let Some(i) = issuer {
                    m.insert("iss".into(), i.into());
                }
                serde_json::Value::Object(m).to_string()
            }
        }
    }
}

/// Request parameters with RFC 6749 §3.1/§3.2 rules: each parameter at most once, empty values
/// are treated as absent.
#[derive(Debug)]
pub(crate) struct Params(HashMap<String, String>);

impl Params {
    pub(crate) fn parse(pairs: &[(String, String)]) -> Result<Params, &'static str> {
        let mut m = HashMap::new();
        for (k, v) in pairs {
            if m.insert(k.clone(), v.clone()).is_some() {
                return Err("a parameter was repeated");
            }
        }
        Ok(Params(m))
    }
    pub(crate) fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str).filter(|v| !v.is_empty())
    }
    fn required(&self, k: &str, what: &'static str) -> Result<&str, OAuthError> {
        self.get(k).ok_or(OAuthError::invalid_request(what))
    }
}

/// The `DPoP` header of a token request and the URLs its `htu` may name.
#[derive(Debug, Clone, Copy)]
pub struct DpopRequest<'a> {
    pub proof: &'a str,
    /// Accepted `htu` values (the token endpoint under the issuer and under the request's
    /// `Host`).
    pub urls: &'a [String],
}

impl AuthServer {
    /// Verify a token request's DPoP proof (`htm` POST, `htu` the token endpoint, fresh `iat`,
    /// unseen `jti`); the key's thumbprint.
    fn check_dpop_proof(&self, d: &DpopRequest<'_>) -> Result<String, OAuthError> {
        let bad = |desc| OAuthError::new(ErrorCode::InvalidDpopProof, desc);
        let now = self.now();
        let htu = |u: &str| d.urls.iter().any(|x| dpop::same_url(x, u));
        let window = self.settings.dpop_window;
        let proof = dpop::verify_proof(
            d.proof,
            &dpop::ProofExpect {
                method: "POST",
                htu: &htu,
                access_token: None,
                now,
                window,
            },
        )
        .map_err(|e| bad(e.0))?;
        if !self.dpop_nonce_ok(proof.nonce.as_deref()) {
            // before the replay check: the client sends a new proof with the nonce
            return Err(OAuthError::new(
                ErrorCode::UseDpopNonce,
                "the DPoP proof must carry the nonce in the DPoP-Nonce header",
            ));
        }
        if !self.dpop_replay.check(&proof, proof.iat + window, now) {
            return Err(bad("DPoP proof replayed"));
        }
        Ok(proof.jkt)
    }

    /// Authenticate the client of a token, revocation or introspection request: HTTP Basic
    /// (`basic`) or `client_id` + `client_secret` in the body, never both; public clients send
    /// only `client_id`. Unknown clients and wrong secrets fail alike, in about the same time.
    pub async fn authenticate_client(
        &self,
        pairs: &[(String, String)],
        basic: Option<&ClientCredentials>,
    ) -> Result<Client, OAuthError> {
        let params = Params::parse(pairs).map_err(OAuthError::invalid_request)?;
        self.authenticate(&params, basic).await
    }

    async fn authenticate(
        &self,
        params: &Params,
        basic: Option<&ClientCredentials>,
    ) -> Result<Client, OAuthError> {
        let body_id = params.get("client_id");
        let body_secret = params.get("client_secret");
        let (id, candidate): (&str, Option<&str>) = match basic {
            Some(b) => {
                if body_secret.is_some() {
                    return Err(OAuthError::invalid_request(
                        "more than one client authentication method",
                    ));
                }
                if body_id.is_some_and(|i| i != b.id) {
                    return Err(OAuthError::invalid_request(
                        "client_id does not match the authenticated client",
                    ));
                }
                (b.id.as_str(), Some(b.secret.expose()))
            }
            None => match body_id {
                Some(i) => (i, body_secret),
                None => return Err(OAuthError::invalid_client()),
            },
        };
        let client = self.store.client(id).await?;
        let gate = &self.gate;
        let busy = |_| super::busy();
        let Some(client) = client else {
            gate.verify_dummy(candidate.unwrap_or(""))
                .await
                .map_err(busy)?;
            return Err(OAuthError::invalid_client());
        };
        match (&client.secret_hash, candidate) {
            (None, None) => Ok(client),
            (None, Some(c)) => {
                gate.verify_dummy(c).await.map_err(busy)?;
                Err(OAuthError::invalid_client())
            }
            (Some(_), None) => {
                gate.verify_dummy("").await.map_err(busy)?;
                Err(OAuthError::invalid_client())
            }
            (Some(stored), Some(c)) => {
                if self.verify_client_secret(&client, c).await.map_err(busy)? {
                    Ok(client)
                } else {
                    if stored.starts_with(secret::SHA256_PREFIX) {
                        // a wrong secret must cost what an unknown client costs
                        gate.verify_dummy(c).await.map_err(busy)?;
                    }
                    Err(OAuthError::invalid_client())
                }
            }
        }
    }

    /// The token endpoint: `pairs` is the form body, `basic` the decoded Basic credentials.
    pub async fn token(
        &self,
        pairs: &[(String, String)],
        basic: Option<&ClientCredentials>,
    ) -> Result<TokenResponse, OAuthError> {
        self.token_with_dpop(pairs, basic, None).await
    }

    /// The token endpoint with the request's `DPoP` proof header, if any: a valid proof binds
    /// JWT access tokens to its key (`cnf.jkt`, `token_type` `DPoP`); an invalid one is
    /// `invalid_dpop_proof`.
    pub async fn token_with_dpop(
        &self,
        pairs: &[(String, String)],
        basic: Option<&ClientCredentials>,
        dpop: Option<DpopRequest<'_>>,
    ) -> Result<TokenResponse, OAuthError> {
        let jkt = match dpop {
            None => None,
            Some(d) => Some(self.check_dpop_proof(&d)?),
        };
        let params = Params::parse(pairs).map_err(OAuthError::invalid_request)?;
        let grant = params.required("grant_type", "grant_type is required")?;
        let grant = match GrantType::parse(grant) {
            Some(g) if g != GrantType::Implicit => g,
            _ => {
                return Err(OAuthError::new(
                    ErrorCode::UnsupportedGrantType,
                    "unsupported grant_type",
                ))
            }
        };
        let client = self.authenticate(&params, basic).await?;
        if !client.allows(grant) || (grant.is_legacy() && !self.settings.legacy_grants) {
            return Err(OAuthError::unauthorized_client(
                "the client may not use this grant type",
            ));
        }
        match grant {
            GrantType::AuthorizationCode => self.grant_code(&client, &params, jkt.as_deref()).await,
            GrantType::RefreshToken => self.grant_refresh(&client, &params, jkt.as_deref()).await,
            GrantType::ClientCredentials => {
                self.grant_client_credentials(&client, &params, jkt.as_deref())
                    .await
            }
            GrantType::Password => self.grant_password(&client, &params, jkt.as_deref()).await,
            GrantType::Implicit => Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "unsupported grant_type",
            )),
        }
    }

    /// Scopes of a request: omitted = everything the client may have; otherwise a subset of
    /// `allowed`, or `invalid_scope`.
    pub(crate) fn requested_scopes(
        &self,
        requested: Option<&str>,
        allowed: &[String],
    ) -> Result<Vec<String>, OAuthError> {
        let Some(req) = requested else {
            return Ok(allowed.to_vec());
        };
        let scopes =
            parse_scope(req).ok_or(OAuthError::invalid_scope("malformed scope parameter"))?;
        if scopes.iter().any(|s| !allowed.contains(s)) {
            return Err(OAuthError::invalid_scope(
                "the requested scope exceeds what is allowed",
            ));
        }
        Ok(scopes)
    }

    async fn grant_code(
        &self,
        client: &Client,
        p: &Params,
        jkt: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let code = p.required("code", "code is required")?;
        let redirect_uri = p.required("redirect_uri", "redirect_uri is required")?;
        let verifier = p.get("code_verifier");
        let hash = secret::sha256_hex(code);
        let rec = match self.store.consume_code(&hash).await? {
            Consume::Unknown => {
                return Err(OAuthError::invalid_grant("invalid authorization code"))
            }
            Consume::Replayed(rec) => {
                tracing::warn!(client = %rec.client_id, "authorization code replayed: revoking its tokens");
                self.revoke_family(&rec.family_id).await?;
                return Err(OAuthError::invalid_grant("invalid authorization code"));
            }
            Consume::Fresh(rec) => rec,
        };
        let now = self.now();
        if rec.expires_at <= now
            || rec.client_id != client.id
            || !secret::ct_eq(rec.redirect_uri.as_bytes(), redirect_uri.as_bytes())
        {
            return Err(OAuthError::invalid_grant("invalid authorization code"));
        }
        match (&rec.code_challenge, verifier) {
            (Some(challenge), Some(v)) => {
                if !pkce::verify(v, challenge) {
                    return Err(OAuthError::invalid_grant("PKCE verification failed"));
                }
            }
            (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is required")),
            (None, Some(_)) => {
                return Err(OAuthError::invalid_grant(
                    "code_verifier sent for a code issued without code_challenge",
                ))
            }
            (None, None) => return Err(OAuthError::invalid_grant("PKCE is required")),
        }
        let family = Family {
            id: rec.family_id.clone(),
            client_id: client.id.clone(),
            username: Some(rec.username.clone()),
            scopes: rec.scopes.clone(),
            created_at: now,
            revoked: false,
            // RFC 9449 §5: a public client's refresh tokens are bound to its DPoP key
            jkt: jkt.filter(|_| client.is_public()).map(str::to_string),
        };
        self.store.insert_family(&family).await?;
        let aud = self.resource_audience(p)?;
        self.issue(client, &family, rec.scopes.clone(), Some(0), aud, jkt)
            .await
    }

    async fn grant_refresh(
        &self,
        client: &Client,
        p: &Params,
        jkt: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let raw = p.required("refresh_token", "refresh_token is required")?;
        let hash = secret::sha256_hex(raw);
        let invalid = || OAuthError::invalid_grant("invalid refresh token");
        // Binding and scope are checked before the atomic consume, so another client's or a
        // widening request does not burn the legitimate holder's token.
        let Some(pre) = self.store.token(&hash).await? else {
            return Err(invalid());
        };
        if pre.kind != TokenKind::Refresh || pre.client_id != client.id {
            return Err(invalid());
        }
        let family = self
            .store
            .family(&pre.family_id)
            .await?
            .ok_or_else(invalid)?;
        if let Some(bound) = &family.jkt {
            // RFC 9449 §5: only the key the grant is bound to may refresh it
            match jkt {
                None => {
                    return Err(OAuthError::invalid_grant(
                        "the refresh token is DPoP-bound: a DPoP proof with its key is required",
                    ))
                }
                Some(k) if !secret::ct_eq(k.as_bytes(), bound.as_bytes()) => {
                    return Err(OAuthError::invalid_grant(
                        "the DPoP proof is not signed by the key the refresh token is bound to",
                    ))
                }
                Some(_) => {}
            }
        }
        let scopes = self.requested_scopes(p.get("scope"), &family.scopes)?;
        let aud = self.resource_audience(p)?;
        let rec = match self.store.consume_refresh(&hash).await? {
            Consume::Unknown => return Err(invalid()),
            Consume::Replayed(rec) => {
                tracing::warn!(client = %rec.client_id, "refresh token reused: revoking its family");
                self.revoke_family(&rec.family_id).await?;
                return Err(invalid());
            }
            Consume::Fresh(rec) => rec,
        };
        let now = self.now();
        if rec.expires_at.is_some_and(|e| e <= now) || family.revoked {
            return Err(invalid());
        }
        let next = rec.generation.saturating_add(1);
        if next > client.refresh_limit {
            return Err(OAuthError::invalid_grant("refresh limit reached"));
        }
        // the client's allowed scopes may have shrunk since the grant
        let scopes: Vec<String> = scopes
            .into_iter()
            .filter(|s| client.scopes.contains(s))
            .collect();
        self.issue(client, &family, scopes, Some(next), aud, jkt)
            .await
    }

    async fn grant_client_credentials(
        &self,
        client: &Client,
        p: &Params,
        jkt: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        if client.is_public() {
            return Err(OAuthError::unauthorized_client(
                "public clients may not use this grant type",
            ));
        }
        let scopes = self.requested_scopes(p.get("scope"), &client.scopes)?;
        let aud = self.resource_audience(p)?;
        let family = self.new_family(client, None, &scopes).await?;
        self.issue(client, &family, scopes, None, aud, jkt).await
    }

    async fn grant_password(
        &self,
        client: &Client,
        p: &Params,
        jkt: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        if client.is_public() {
            return Err(OAuthError::unauthorized_client(
                "public clients may not use this grant type",
            ));
        }
        let username = p.required("username", "username is required")?;
        let password = p.required("password", "password is required")?;
        let scopes = self.requested_scopes(p.get("scope"), &client.scopes)?;
        let aud = self.resource_audience(p)?;
        if !self.authenticate_user(username, password).await? {
            return Err(OAuthError::invalid_grant(
                "invalid resource owner credentials",
            ));
        }
        let family = self.new_family(client, Some(username), &scopes).await?;
        self.issue(client, &family, scopes, Some(0), aud, jkt).await
    }

    pub(crate) async fn new_family(
        &self,
        client: &Client,
        username: Option<&str>,
        scopes: &[String],
    ) -> Result<Family, OAuthError> {
        let family = Family {
            id: secret::random_id(),
            client_id: client.id.clone(),
            username: username.map(str::to_string),
            scopes: scopes.to_vec(),
            created_at: self.now(),
            revoked: false,
            jkt: None,
        };
        self.store.insert_family(&family).await?;
        Ok(family)
    }

    /// The audience a token request names with an RFC 8707 `resource` indicator: `None` when
    /// absent, `invalid_target` unless it is the resource identifier of a secured API.
    fn resource_audience(&self, p: &Params) -> Result<Option<String>, OAuthError> {
        let Some(r) = p.get("resource") else {
            return Ok(None);
        };
        let target = |d| OAuthError::new(ErrorCode::InvalidTarget, d);
        let ok = url::Url::parse(r).is_ok_and(|u| u.fragment().is_none() && u.has_host());
        if !ok {
            return Err(target(
                "resource must be an absolute URI without a fragment",
            ));
        }
        if self
            .settings
            .resources
            .iter()
            .any(|ctx| self.resource_id(ctx) == r)
        {
            Ok(Some(r.to_string()))
        } else {
            Err(target("unknown resource"))
        }
    }

    /// Issue an access token (and a refresh token of `refresh_generation` when the client's
    /// refresh limit allows one more refresh). `audience`: a resource indicator's target (JWT
    /// `aud`; the default audience when `None`).
    pub(crate) async fn issue(
        &self,
        client: &Client,
        family: &Family,
        scopes: Vec<String>,
        refresh_generation: Option<u32>,
        audience: Option<String>,
        jkt: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let now = self.now();
        let expires_in = (client.token_lifetime >= 0).then_some(client.token_lifetime);
        let access = match self.settings.token_format {
            TokenFormat::Opaque => secret::random_token("syn_at_"),
            TokenFormat::Jwt => {
                let lifetime = expires_in
                    .filter(|l| *l <= MAX_JWT_LIFETIME)
                    .ok_or(OAuthError::unauthorized_client(
                        "JWT access tokens expire within 30 days: the client's token_lifetime is too long",
                    ))?;
                let exp = now + lifetime;
                let mut claims = serde_json::json!({
                    "iss": self.issuer(),
                    "sub": family.username.clone().unwrap_or_else(|| client.id.clone()),
                    "aud": audience.unwrap_or_else(|| self.default_audience()),
                    "exp": exp,
                    "iat": now,
                    "nbf": now,
                    "jti": format!("{}.{}", family.id, &secret::random_id()[..16]),
                    "client_id": client.id,
                    "scope": scope_string(&scopes),
                });
                if let Some(k) = jkt {
                    claims["cnf"] = serde_json::json!({ "jkt": k });
                }
                Secret::new(self.sign_access(&claims, exp).await?)
            }
        };
        self.store
            .insert_token(&TokenRecord {
                hash: secret::sha256_hex(access.expose()),
                kind: TokenKind::Access,
                client_id: client.id.clone(),
                username: family.username.clone(),
                scopes: scopes.clone(),
                family_id: family.id.clone(),
                issued_at: now,
                expires_at: expires_in.map(|e| now + e),
                revoked: false,
                consumed: false,
                generation: refresh_generation.unwrap_or(0),
            })
            .await?;
        let mut refresh = None;
        if let Some(generation) = refresh_generation {
            if generation < client.refresh_limit && client.allows(GrantType::RefreshToken) {
                let rt = secret::random_token("syn_rt_");
                let lifetime = self.settings.refresh_token_lifetime;
                let expires_at =
                    (client.token_lifetime >= 0 && lifetime >= 0).then_some(now + lifetime);
                self.store
                    .insert_token(&TokenRecord {
                        hash: secret::sha256_hex(rt.expose()),
                        kind: TokenKind::Refresh,
                        client_id: client.id.clone(),
                        username: family.username.clone(),
                        scopes: family.scopes.clone(),
                        family_id: family.id.clone(),
                        issued_at: now,
                        expires_at,
                        revoked: false,
                        consumed: false,
                        generation,
                    })
                    .await?;
                refresh = Some(rt);
            }
        }
        Ok(TokenResponse {
            access_token: access,
            expires_in,
            refresh_token: refresh,
            scope: scope_string(&scopes),
            dpop: jkt.is_some() && self.settings.token_format == TokenFormat::Jwt,
        })
    }

    /// RFC 7009: revoke `token` (access or refresh, the hint does not matter) and every token of
    /// its grant. Unknown tokens and tokens of other clients are a silent no-op.
    pub async fn revoke(&self, client: &Client, token: &str) -> Result<(), OAuthError> {
        let hash = secret::sha256_hex(token);
        if let Some(t) = self.store.token(&hash).await? {
            if t.client_id == client.id {
                self.revoke_family(&t.family_id).await?;
            } else {
                tracing::warn!(caller = %client.id, "revocation of another client's token ignored");
            }
        }
        Ok(())
    }

    /// Revoke by stored hash (administration).
    pub async fn revoke_hash(&self, hash: &str) -> Result<bool, OAuthError> {
        match self.store.token(hash).await? {
            Some(t) => {
                self.revoke_family(&t.family_id).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// RFC 7662: only active access tokens are reported, and only to the client they were
    /// issued to or to a client allowed to introspect any token.
    pub async fn introspect(
        &self,
        caller: &Client,
        token: &str,
    ) -> Result<Introspection, OAuthError> {
        let Some(t) = self.validate_access(token).await? else {
            return Ok(Introspection::Inactive);
        };
        if t.client_id != caller.id && !caller.introspect_any {
            return Ok(Introspection::Inactive);
        }
        Ok(Introspection::Active {
            scope: scope_string(&t.scopes),
            client_id: t.client_id,
            username: t.username,
            exp: t.expires_at,
            iat: t.issued_at,
        })
    }
}
