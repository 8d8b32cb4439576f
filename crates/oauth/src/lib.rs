//! OAuth2 logic for both directions, I/O through traits: `client` (tokens for protected
//! backends: cache, single flight, refresh policy, backoff) and `server` (the gateway's own
//! authorization server: clients, grants, codes, PKCE, refresh families, hashed token store,
//! scope policy, consent).

pub mod client;
pub mod server;
