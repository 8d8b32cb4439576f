//! Data of the authorization server: clients, users, families, codes, tokens.

use std::fmt;

/// Grant types a client may use (RFC 6749 names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    Password,
    Implicit,
}

impl GrantType {
    pub const ALL: [GrantType; 5] = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
        GrantType::Password,
        GrantType::Implicit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::Password => "password",
            GrantType::Implicit => "implicit",
        }
    }

    pub fn parse(s: &str) -> Option<GrantType> {
        GrantType::ALL.into_iter().find(|g| g.as_str() == s)
    }

    /// Removed by OAuth 2.1 (password, implicit): refused unless the server allows legacy
    /// grants and the client lists them.
    pub fn is_legacy(self) -> bool {
        matches!(self, GrantType::Password | GrantType::Implicit)
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A registered client. `secret_hash` is `None` for public clients.
#[derive(Clone, PartialEq, Eq)]
pub struct Client {
    pub id: String,
    pub name: String,
    /// argon2 PHC string or `sha256:<hex>`; never the secret.
    pub secret_hash: Option<String>,
    pub grants: Vec<GrantType>,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    /// Access-token lifetime in seconds; `-1` = never expires.
    pub token_lifetime: i64,
    /// `0` = no refresh token; `N` = at most N refreshes.
    pub refresh_limit: u32,
    /// May introspect tokens of other clients (a resource server).
    pub introspect_any: bool,
}

impl Client {
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }
    pub fn allows(&self, g: GrantType) -> bool {
        self.grants.contains(&g)
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("public", &self.is_public())
            .field("grants", &self.grants)
            .field("redirect_uris", &self.redirect_uris)
            .field("scopes", &self.scopes)
            .field("token_lifetime", &self.token_lifetime)
            .field("refresh_limit", &self.refresh_limit)
            .finish()
    }
}

/// A resource owner.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub password_hash: String,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// One grant: the tokens issued from one authorization (code, password, client credentials) and
/// all their refreshes. Revoking the family revokes every token in it, including tokens inserted
/// after the revocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Family {
    pub id: String,
    pub client_id: String,
    pub username: Option<String>,
    /// The scope granted at authorization; refreshes may narrow their access tokens, never this.
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub revoked: bool,
    /// RFC 9449 §5: the DPoP key thumbprint a public client's refresh tokens of this grant are
    /// bound to (the key of the proof sent with the grant's first token request).
    pub jkt: Option<String>,
}

/// Kind of a stored token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
        }
    }
    pub fn parse(s: &str) -> Option<TokenKind> {
        match s {
            "access" => Some(TokenKind::Access),
            "refresh" => Some(TokenKind::Refresh),
            _ => None,
        }
    }
}

/// A stored token: only its SHA-256 is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    pub hash: String,
    pub kind: TokenKind,
    pub client_id: String,
    pub username: Option<String>,
    pub scopes: Vec<String>,
    pub family_id: String,
    pub issued_at: i64,
    /// `None` = never expires.
    pub expires_at: Option<i64>,
    /// Revoked, directly or through its family.
    pub revoked: bool,
    /// A refresh token already exchanged (rotation).
    pub consumed: bool,
    /// Refreshes that led to this token (0 for the first pair).
    pub generation: u32,
}

impl TokenRecord {
    pub fn is_active(&self, now: i64) -> bool {
        !self.revoked && !self.consumed && self.expires_at.is_none_or(|e| now < e)
    }
}

/// A stored authorization code: only its SHA-256 is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeRecord {
    pub hash: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub username: String,
    pub scopes: Vec<String>,
    /// PKCE S256 challenge, if the authorization request carried one.
    pub code_challenge: Option<String>,
    /// The family its tokens will join; replaying the code revokes it.
    pub family_id: String,
    pub expires_at: i64,
}

/// Result of an atomic single-use consume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Consume<T> {
    /// First use: the record, now marked used.
    Fresh(T),
    /// Already used (or revoked): replay.
    Replayed(T),
    Unknown,
}

/// Join scopes for the wire (`scope` parameter).
pub fn scope_string(scopes: &[String]) -> String {
    scopes.join(" ")
}

/// Most scope tokens one request may name.
pub const MAX_SCOPES: usize = 64;
/// Longest scope token, in bytes.
pub const MAX_SCOPE_LEN: usize = 128;

/// Split a `scope` parameter; `None` when a scope token has invalid characters (RFC 6749 §3.3),
/// is longer than [`MAX_SCOPE_LEN`], or there are more than [`MAX_SCOPES`] tokens (repeats
/// included). Repeats are dropped, first occurrence kept; linear in the parameter's length.
pub fn parse_scope(s: &str) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, part) in s.split(' ').filter(|p| !p.is_empty()).enumerate() {
        if i >= MAX_SCOPES || part.len() > MAX_SCOPE_LEN {
            return None;
        }
        let ok = part
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
        if !ok {
            return None;
        }
        if seen.insert(part) {
            out.push(part.to_string());
        }
    }
    Some(out)
}
