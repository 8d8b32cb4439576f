//! Native OAuth2 endpoint security: tokens for OAuth2-protected backends.

pub mod config;
