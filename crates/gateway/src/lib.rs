//! The synaptic gateway: `synaptic.toml`, a hyper 1 server, routing, proxying, mediation,
//! hot reload, and the HTTP side of the OAuth2 features.

pub mod authserver;
pub mod backend_auth;
pub mod hooks;
