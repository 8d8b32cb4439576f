//! Registration of the OAuth2 features with the core: at startup the server builds, per API,
//! an optional [`UpstreamAuth`] (from `[api.endpoint_security]`, by `backend_auth`) and, from
//! `[auth_server]`, an optional [`InboundAuth`] plus the [`LocalService`]s it answers itself
//! (token endpoint, metadata, …, by `authserver`).
//!
//! The two call sites below are the only places the core knows about those modules.

use crate::config::Config;
use crate::hooks::{InboundAuth, LocalService, UpstreamAuth};
use crate::metrics;
use std::sync::Arc;

/// What the features add to a running gateway.
#[derive(Clone, Default)]
pub struct Extensions {
    /// Per API (same order as `config.api`).
    pub upstream: Vec<Option<Arc<dyn UpstreamAuth>>>,
    /// Enforcement for APIs with `security = "oauth2"`.
    pub inbound: Option<Arc<dyn InboundAuth>>,
    /// Answered before API routing.
    pub services: Vec<Arc<dyn LocalService>>,
}

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extensions")
            .field("upstream", &self.upstream)
            .field("inbound", &self.inbound)
            .field("services", &self.services.len())
            .finish()
    }
}

/// Shared things a feature may need while it is built.
#[derive(Clone, Debug)]
pub struct BuildContext {
    pub metrics: metrics::Registry,
}

#[derive(Debug, thiserror::Error)]
#[error("{feature}: {message}")]
pub struct ExtensionError {
    pub feature: &'static str,
    pub message: String,
}

/// Build every extension the configuration asks for.
pub async fn build(config: &Arc<Config>, ctx: &BuildContext) -> Result<Extensions, ExtensionError> {
    let mut ext = Extensions::default();
    for api in &config.api {
        let up = match &api.endpoint_security {
            None => None,
            Some(_) => Some(build_upstream(api, config, ctx).await?),
        };
        ext.upstream.push(up);
    }
    if config.oauth2_enforced() {
        let (inbound, services) = build_auth_server(config, ctx).await?;
        ext.inbound = inbound;
        ext.services = services;
    }
    Ok(ext)
}

// ===== call site: H-oauthclient (backend_auth) =====
pub(crate) async fn build_upstream(
    api: &crate::config::ApiConfig,
    config: &Arc<Config>,
    ctx: &BuildContext,
) -> Result<Arc<dyn UpstreamAuth>, ExtensionError> {
    crate::backend_auth::build(api, config, &ctx.metrics)
        .await
        .map_err(|e| ExtensionError {
            feature: "endpoint_security",
            message: e.to_string(),
        })
}

// ===== call site: H-authserver (authserver) =====
async fn build_auth_server(
    config: &Arc<Config>,
    ctx: &BuildContext,
) -> Result<(Option<Arc<dyn InboundAuth>>, Vec<Arc<dyn LocalService>>), ExtensionError> {
    crate::authserver::build(config, &ctx.metrics)
        .await
        .map_err(|e| ExtensionError {
            feature: "auth_server",
            message: e.to_string(),
        })
}
