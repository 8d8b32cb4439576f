//! The synaptic gateway: `synaptic.toml`, a hyper 1 server, routing, proxying, mediation,
//! hot reload, and the HTTP side of the OAuth2 features.
//!
//! Entry points: [`config::load`], [`server::Gateway::build`] (what `serve --check` runs),
//! [`server::start`]. Seams to the OAuth2 features: [`hooks`] (traits) and [`extensions`]
//! (where they are built). The one normalised path: [`path::normalize`].

pub mod access;
pub mod artifacts;
pub mod authserver;
pub mod backend_auth;
pub mod bodies;
pub mod config;
pub mod configurables;
pub mod cors;
pub mod database;
pub mod datasources;
pub mod detached;
pub mod extensions;
pub mod fault;
pub mod grpc;
pub mod hooks;
pub mod invoker;
pub mod listener;
pub mod log_config;
mod member_probe;
pub mod metrics;
pub mod numfmt;
pub mod path;
pub mod pipeline;
pub mod plan;
pub mod pool;
mod processors;
pub mod proxy;
pub mod rate_limit;
mod redis_conn;
pub mod registry;
pub mod reload;
pub mod routing;
pub mod server;
pub mod shared_state;
pub mod standalone;
pub mod strict;
pub mod telemetry;
#[cfg(test)]
mod test_pki;
pub mod tls;
pub mod upstream;
pub mod uri_template;
pub mod wire;
pub mod wsdl;

pub use config::{load, Config, LoadedConfig};
pub use server::{start, start_with_signal, Gateway, Running, ServeOptions, StartError};
