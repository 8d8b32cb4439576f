//! Errors of the authorization server.

use std::fmt;

/// RFC 6749 §5.2 / §4.1.2.1 error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    AccessDenied,
    UnsupportedResponseType,
    UnsupportedTokenType,
    ServerError,
    TemporarilyUnavailable,
    /// RFC 8707: the `resource` is not one this server issues tokens for.
    InvalidTarget,
    /// RFC 9449: the DPoP proof is missing or invalid.
    InvalidDpopProof,
    /// RFC 9449 §8: the DPoP proof must carry the nonce the server provides (`DPoP-Nonce`).
    UseDpopNonce,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::UnsupportedTokenType => "unsupported_token_type",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            ErrorCode::UseDpopNonce => "use_dpop_nonce",
        }
    }

    /// HTTP status of a token-endpoint error.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::InvalidClient => 401,
            ErrorCode::ServerError => 500,
            ErrorCode::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }
}

/// An OAuth2 error answer. The description is fixed text: never a secret, never user input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: &'static str,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: &'static str) -> Self {
        OAuthError { code, description }
    }
    pub fn invalid_request(d: &'static str) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }
    pub fn invalid_grant(d: &'static str) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }
    pub fn invalid_client() -> Self {
        Self::new(ErrorCode::InvalidClient, "client authentication failed")
    }
    pub fn invalid_scope(d: &'static str) -> Self {
        Self::new(ErrorCode::InvalidScope, d)
    }
    pub fn unauthorized_client(d: &'static str) -> Self {
        Self::new(ErrorCode::UnauthorizedClient, d)
    }
    pub fn server_error() -> Self {
        Self::new(ErrorCode::ServerError, "the authorization server failed")
    }

    /// The JSON body of RFC 6749 §5.2.
    pub fn to_json(&self) -> String {
        serde_json::json!({"error": self.code.as_str(), "error_description": self.description})
            .to_string()
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "authorization server store failed");
        OAuthError::server_error()
    }
}

/// A storage backend failed.
#[derive(Debug, thiserror::Error)]
pub struct StoreError {
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    pub fn new(message: impl Into<String>) -> Self {
        StoreError {
            message: message.into(),
            source: None,
        }
    }
    pub fn with(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "token store: {}", self.message)
    }
}
