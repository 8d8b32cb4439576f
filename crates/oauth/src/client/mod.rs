//! Tokens for OAuth2-protected backends.
