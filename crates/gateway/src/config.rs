//! `synaptic.toml`: loading (`load` → `from_str` → `validate`) and the schema (docs/CONFIG.md).
//!
//! Configuration mistakes are [`Diagnostic`]s with spans into the file: `E0401` when the TOML
//! does not parse or does not fit the schema, `E0402` when a value is invalid.

use crate::authserver::config::AuthServerConfig;
use crate::backend_auth::config::{EndpointSecurity, OAuthSettings, RedisSettings};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use synaptic_diag::{codes, Diagnostic, SourceId, SourceMap, Span};

/// The whole `synaptic.toml`.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub api: Vec<ApiConfig>,
    #[serde(default)]
    pub oauth: OAuthSettings,
    pub redis: Option<RedisSettings>,
    pub auth_server: Option<AuthServerConfig>,
    #[serde(default)]
    pub log: crate::log_config::LogConfig,
    /// Connection limits and timeouts (`listener.rs`).
    #[serde(default)]
    pub limits: crate::listener::LimitsConfig,
    /// Optional admin listener (`listener.rs`).
    pub admin: Option<crate::listener::AdminConfig>,
    /// OpenTelemetry traces (`telemetry.rs`).
    pub telemetry: Option<crate::telemetry::TelemetryConfig>,
    /// `[configs]`: values of `${configs.name}` (`configurables.rs`).
    #[serde(default)]
    pub configs: std::collections::BTreeMap<String, crate::configurables::ConfigValue>,
    /// `[secrets]`: where each secret alias is read from (`configurables.rs`).
    #[serde(default)]
    pub secrets: std::collections::BTreeMap<String, crate::configurables::SecretSource>,
    /// `[secure_vault]`: the key that decrypts `[secrets]` marked `encrypted`.
    pub secure_vault: Option<crate::configurables::SecureVault>,
    /// `[[datasource]]`: the data sources a `<dblookup>`/`<dbreport>` `<dsName>` names
    /// (`datasources.rs`).
    #[serde(default)]
    pub datasource: Vec<crate::datasources::DataSourceConfig>,
    /// `[cors]`: the CORS headers of `<api>` resources (`cors.rs`).
    #[serde(default)]
    pub cors: crate::cors::CorsConfig,
    /// The folder relative paths resolve against (the config file's folder).
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The configurable values and secrets, loaded with the configuration.
    #[serde(skip)]
    pub configurables: std::sync::Arc<crate::configurables::Configurables>,
}

/// `[server]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on (`127.0.0.1:8280`).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Folder of sequence files, watched for changes.
    #[serde(default = "default_sequences")]
    pub sequences: String,
    /// Root of the file registry.
    #[serde(default = "default_registry")]
    pub registry: String,
    /// Largest request body accepted (bytes); larger requests get 413.
    #[serde(default = "default_max_body")]
    pub max_body_size: u64,
    /// Default backend timeout in seconds (time until the response headers arrive).
    #[serde(default = "default_timeout")]
    pub timeout: f64,
    /// Extra CA certificates (PEM) trusted for HTTPS backends, besides the built-in roots.
    pub ca_file: Option<String>,
    /// Idle keep-alive connections kept per backend host.
    #[serde(default = "default_pool_max_idle")]
    pub pool_max_idle_per_host: usize,
    /// Seconds an idle backend connection is kept.
    #[serde(default = "default_pool_idle_timeout")]
    pub pool_idle_timeout: f64,
    /// Watch the sequences folder and reload on change.
    #[serde(default = "default_true")]
    pub watch: bool,
    /// Seconds in-flight requests get to finish after SIGINT/SIGTERM.
    #[serde(default = "default_grace")]
    pub shutdown_grace: f64,
    /// One log line per request.
    #[serde(default = "default_true")]
    pub access_log: bool,
    /// HTTPS listener address (`0.0.0.0:8243`), next to or instead of `listen`; needs `[server.tls]`.
    pub listen_tls: Option<String>,
    /// `[server.tls]`: certificates of the HTTPS listener.
    pub tls: Option<crate::tls::TlsSettings>,
    /// A Java properties file whose keys `$FILE:KEY` reads in artifact attributes (Micro
    /// Integrator's `file.properties`), read at every load.
    pub file_properties: Option<String>,
    /// This server's name, matched against the `pinnedServers` of proxies and message
    /// processors (Synapse's `serverName`); default: the machine's host name.
    pub name: Option<String>,
}

/// `[[api]]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    pub name: String,
    /// Path prefix, e.g. `/pizza/1.0`.
    pub context: String,
    /// Backend address; the path after the context is appended. None: the in-flow must respond.
    pub endpoint: Option<String>,
    pub in_sequence: Option<String>,
    pub out_sequence: Option<String>,
    pub fault_sequence: Option<String>,
    /// Backend timeout in seconds (overrides `[server] timeout`).
    pub timeout: Option<f64>,
    /// `"oauth2"`: protected by the gateway's own authorization server; `"none"` (default).
    pub security: Option<String>,
    #[serde(default)]
    pub resource: Vec<ResourceConfig>,
    pub endpoint_security: Option<EndpointSecurity>,
    /// What the API carries: `"http"` (default) or `"grpc"` (gRPC pass-through).
    #[serde(default)]
    pub protocol: ApiProtocol,
    /// How the backend is spoken to: `"auto"` (default), `"http1"`, `"h2"`, `"h2c"`.
    #[serde(default)]
    pub backend_protocol: BackendProtocol,
    /// Read the whole request body before anything is sent to the backend (as nginx's
    /// `proxy_request_buffering on`), instead of streaming it.
    #[serde(default)]
    pub request_buffering: bool,
    /// One limit for every request to the API (resources with their own count apart).
    pub rate_limit: Option<crate::rate_limit::RateLimitConfig>,
}

/// `[[api]] protocol`
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ApiProtocol {
    /// HTTP requests; gRPC calls are still recognised by their content type.
    #[default]
    Http,
    /// Every request is a gRPC call: streamed both ways over HTTP/2, faults as `grpc-status`.
    Grpc,
}

/// `[[api]] backend_protocol`
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BackendProtocol {
    /// `https`: HTTP/2 or HTTP/1.1 as ALPN negotiates; `http`: HTTP/1.1, except gRPC calls,
    /// which use HTTP/2 with prior knowledge.
    #[default]
    Auto,
    /// HTTP/1.1 only (ALPN offers `http/1.1` alone).
    Http1,
    /// HTTP/2 over TLS: ALPN must agree on `h2` (`https` endpoints).
    H2,
    /// HTTP/2 without TLS, with prior knowledge (`http` endpoints).
    H2c,
}

impl BackendProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendProtocol::Auto => "auto",
            BackendProtocol::Http1 => "http1",
            BackendProtocol::H2 => "h2",
            BackendProtocol::H2c => "h2c",
        }
    }
}

/// `[[api.resource]]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceConfig {
    /// HTTP methods; empty = every method.
    #[serde(default)]
    pub methods: Vec<String>,
    /// `/orders/{id}`, `/files/{+path}`, optionally with `?q={q}`.
    pub uri_template: Option<String>,
    /// `/menu` (exact), `/orders/*` (prefix), `*.png` (extension).
    pub url_mapping: Option<String>,
    /// Scopes a token needs for this resource (`security = "oauth2"`).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Per-resource sequences, overriding the API's.
    pub in_sequence: Option<String>,
    pub out_sequence: Option<String>,
    pub fault_sequence: Option<String>,
    /// Requests per window on this resource (`429` above it).
    pub rate_limit: Option<crate::rate_limit::RateLimitConfig>,
}

fn default_listen() -> String {
    "127.0.0.1:8280".into()
}
fn default_sequences() -> String {
    "sequences".into()
}
fn default_registry() -> String {
    "registry".into()
}
fn default_max_body() -> u64 {
    10 * 1024 * 1024
}
fn default_timeout() -> f64 {
    30.0
}
fn default_pool_max_idle() -> usize {
    512
}
fn default_pool_idle_timeout() -> f64 {
    90.0
}
fn default_true() -> bool {
    true
}
fn default_grace() -> f64 {
    30.0
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            sequences: default_sequences(),
            registry: default_registry(),
            max_body_size: default_max_body(),
            timeout: default_timeout(),
            ca_file: None,
            pool_max_idle_per_host: default_pool_max_idle(),
            pool_idle_timeout: default_pool_idle_timeout(),
            watch: true,
            shutdown_grace: default_grace(),
            access_log: true,
            listen_tls: None,
            tls: None,
            file_properties: None,
            name: None,
        }
    }
}

// === impl Config ===

impl Config {
    /// This server's name for `pinnedServers`: `[server] name`, else the host name, else
    /// `localhost`, as Synapse falls back from its `serverName` to the local host's name.
    pub fn server_name(&self) -> String {
        match self.server.name.as_deref().map(str::trim) {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => host_name(),
        }
    }

    /// A path from the configuration, resolved against the config file's folder.
    pub fn resolve_path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }
    pub fn sequences_dir(&self) -> PathBuf {
        self.resolve_path(&self.server.sequences)
    }
    pub fn registry_dir(&self) -> PathBuf {
        self.resolve_path(&self.server.registry)
    }
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.server.listen.parse().ok()
    }
    pub fn default_timeout(&self) -> Duration {
        secs(self.server.timeout).unwrap_or(Duration::from_secs(30))
    }
    pub fn api_timeout(&self, api: &ApiConfig) -> Duration {
        api.timeout
            .and_then(secs)
            .unwrap_or_else(|| self.default_timeout())
    }
    /// Whether the gateway's own authorization server is on.
    pub fn auth_server_enabled(&self) -> bool {
        self.auth_server.as_ref().is_some_and(|a| a.enabled)
    }

    /// Whether secured APIs can be enforced: the gateway's own authorization server, or
    /// trusted issuers of JWT access tokens.
    pub fn oauth2_enforced(&self) -> bool {
        self.auth_server
            .as_ref()
            .is_some_and(|a| a.enabled || !a.trusted_issuer.is_empty())
    }
}

impl ApiConfig {
    pub fn is_oauth2_secured(&self) -> bool {
        self.security
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("oauth2"))
    }
}

pub(crate) fn secs(f: f64) -> Option<Duration> {
    if f.is_finite() && f > 0.0 && f < 1.0e9 {
        Some(Duration::from_secs_f64(f))
    } else {
        None
    }
}

/// A configuration file read from disk, with its source text registered for diagnostics.
#[derive(Clone, Debug)]
pub struct LoadedConfig {
    pub config: Config,
    pub path: PathBuf,
    pub sources: SourceMap,
    pub source: SourceId,
    /// Warnings found while loading (`W0401` a secret written in the file, `W0402` a
    /// configurable without a value), for the caller to report.
    pub warnings: Vec<Diagnostic>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{} error(s) in the configuration", .diagnostics.iter().filter(|d| d.is_error()).count())]
    Invalid {
        diagnostics: Vec<Diagnostic>,
        sources: Box<SourceMap>,
    },
}

/// Read, parse and validate a configuration file.
pub fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
    let checked = check_file(path)?;
    match checked.config {
        Some(config) if !checked.diagnostics.iter().any(|d| d.is_error()) => Ok(LoadedConfig {
            config,
            path: path.to_path_buf(),
            sources: checked.sources,
            source: checked.source,
            warnings: checked.diagnostics,
        }),
        _ => Err(ConfigError::Invalid {
            diagnostics: checked.diagnostics,
            sources: Box::new(checked.sources),
        }),
    }
}

/// A configuration file checked in full: every diagnostic, and the configuration whenever the
/// TOML fits the schema (even when values are invalid), so later checks can still run.
#[derive(Debug)]
pub struct CheckedConfig {
    pub config: Option<Config>,
    pub diagnostics: Vec<Diagnostic>,
    pub sources: SourceMap,
    pub source: SourceId,
    /// The folder relative paths resolve against.
    pub base_dir: PathBuf,
}

/// Read a configuration file and check all of it (see [`CheckedConfig`]).
pub fn check_file(path: &Path) -> Result<CheckedConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let mut sources = SourceMap::new();
    let source = sources.add(path.display().to_string(), text.clone());
    let base_dir = path
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                p.to_path_buf()
            }
        })
        .unwrap_or_else(|| PathBuf::from("."));
    let (config, diagnostics) = check_str(source, &text, base_dir.clone());
    Ok(CheckedConfig {
        config,
        diagnostics,
        sources,
        source,
        base_dir,
    })
}

/// Parse and validate configuration text. `source` is used for the diagnostics' spans.
pub fn from_str(
    source: SourceId,
    text: &str,
    base_dir: PathBuf,
) -> Result<Config, Vec<Diagnostic>> {
    match check_str(source, text, base_dir) {
        (Some(c), d) if !d.iter().any(|d| d.is_error()) => Ok(c),
        (_, d) => Err(d),
    }
}

/// Parse and validate configuration text: the configuration when the TOML fits the schema
/// (even with invalid values), and every diagnostic.
pub fn check_str(
    source: SourceId,
    text: &str,
    base_dir: PathBuf,
) -> (Option<Config>, Vec<Diagnostic>) {
    let mut config: Config = match toml::from_str(text) {
        Ok(c) => c,
        Err(e) => {
            let span = e
                .span()
                .map(|r| Span::new(source, r.start, r.end))
                .unwrap_or(Span::new(source, 0, 0));
            let d = Diagnostic::error(
                codes::E0401,
                span,
                e.message().trim_end_matches('\n').to_string(),
            );
            return (None, vec![d]);
        }
    };
    config.base_dir = base_dir;
    let mut diags = validate(&config, source, text);
    let env = |name: &str| std::env::var(name).ok();
    config.configurables = std::sync::Arc::new(crate::configurables::load(
        &config, source, text, &env, &mut diags,
    ));
    (Some(config), diags)
}

/// One step of a path into the TOML document, for locating a value's span.
#[derive(Clone, Copy, Debug)]
pub enum At<'a> {
    Key(&'a str),
    Index(usize),
}

/// The span of the value at `path` in `text` (the closest enclosing value that exists).
pub fn span_of(source: SourceId, text: &str, path: &[At<'_>]) -> Span {
    let Ok(root) = toml::de::DeTable::parse(text) else {
        return Span::new(source, 0, 0);
    };
    let mut range = 0..0;
    let mut table = Some(root.get_ref());
    let mut array: Option<&toml::de::DeArray<'_>> = None;
    for step in path {
        let next = match (*step, table, array) {
            (At::Key(k), Some(t), _) => t
                .iter()
                .find(|(key, _)| key.get_ref().as_ref() == k)
                .map(|(_, v)| v),
            (At::Index(i), _, Some(a)) => a.get(i),
            _ => None,
        };
        let Some(v) = next else { break };
        range = v.span();
        table = None;
        array = None;
        match v.get_ref() {
            toml::de::DeValue::Table(t) => table = Some(t),
            toml::de::DeValue::Array(a) => array = Some(a),
            _ => {}
        }
    }
    Span::new(source, range.start, range.end)
}

/// The path of key `k` of `[[api]]` `i`.
pub fn api_at(i: usize, k: &str) -> [At<'_>; 3] {
    [At::Key("api"), At::Index(i), At::Key(k)]
}

/// The path of key `k` of `[[api.resource]]` `j` of `[[api]]` `i`.
pub fn resource_at(i: usize, j: usize, k: &str) -> [At<'_>; 5] {
    [
        At::Key("api"),
        At::Index(i),
        At::Key("resource"),
        At::Index(j),
        At::Key(k),
    ]
}

fn validate(config: &Config, source: SourceId, text: &str) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let mut diags_extra = Vec::new();
    let mut err = |path: &[At<'_>], msg: String| {
        diags.push(Diagnostic::error(
            codes::E0402,
            span_of(source, text, path),
            msg,
        ));
    };
    for (section, key, msg) in crate::listener::config_problems(config) {
        err(&[At::Key(section), At::Key(key)], msg);
    }
    if let Err(m) = crate::cors::Cors::compile(&config.cors) {
        err(&[At::Key("cors")], m);
    }
    let s = &config.server;
    if s.listen.parse::<SocketAddr>().is_err() {
        err(
            &[At::Key("server"), At::Key("listen")],
            format!("listen address {:?} is not IP:PORT", s.listen),
        );
    }
    if secs(s.timeout).is_none() {
        err(
            &[At::Key("server"), At::Key("timeout")],
            "timeout must be a positive number of seconds".into(),
        );
    }
    if secs(s.pool_idle_timeout).is_none() {
        err(
            &[At::Key("server"), At::Key("pool_idle_timeout")],
            "pool_idle_timeout must be a positive number of seconds".into(),
        );
    }
    if !(s.shutdown_grace.is_finite() && s.shutdown_grace >= 0.0) {
        err(
            &[At::Key("server"), At::Key("shutdown_grace")],
            "shutdown_grace must be zero or a positive number of seconds".into(),
        );
    }
    crate::tls::validate(config, &mut |path, msg| err(path, msg));
    crate::datasources::validate(config, source, text, &mut diags_extra);
    crate::authserver::config::validate(config, &mut |path, msg| err(path, msg));
    if let Some(t) = &config.telemetry {
        for (key, msg) in t.problems() {
            err(
                &[At::Key("telemetry"), At::Key(key)],
                format!("{key} {msg}"),
            );
        }
    }
    if let Some(ca) = &s.ca_file {
        if !config.resolve_path(ca).is_file() {
            err(
                &[At::Key("server"), At::Key("ca_file")],
                format!("CA file {ca:?} does not exist"),
            );
        }
    }
    let mut names = std::collections::HashSet::new();
    let mut contexts = std::collections::HashSet::new();
    for (i, api) in config.api.iter().enumerate() {
        let at = |k: &'static str| api_at(i, k);
        if api.name.trim().is_empty() {
            err(&at("name"), "API name must not be empty".into());
        } else if !names.insert(api.name.as_str()) {
            err(&at("name"), format!("duplicate API name {:?}", api.name));
        }
        match crate::path::normalize(&api.context) {
            _ if !api.context.starts_with('/') => {
                err(&at("context"), "context must start with `/`".into())
            }
            Ok(n) if n.as_str() != api.context.trim_end_matches('/') && api.context != "/" => err(
                &at("context"),
                format!(
                    "context {:?} is not in normal form (use {:?})",
                    api.context,
                    n.as_str()
                ),
            ),
            Ok(_) => {
                let c = crate::path::context_key(&api.context);
                if !contexts.insert(c.to_string()) {
                    err(
                        &at("context"),
                        format!("duplicate context {:?}", api.context),
                    );
                }
            }
            Err(e) => err(&at("context"), format!("invalid context: {e}")),
        }
        if let Some(ep) = &api.endpoint {
            if let Err(msg) = crate::proxy::Endpoint::parse(ep) {
                err(&at("endpoint"), format!("invalid endpoint {ep:?}: {msg}"));
            }
        }
        for (k, m) in protocol_problems(api) {
            err(&at(k), format!("API {:?}: {m}", api.name));
        }
        if let Some(t) = api.timeout {
            if secs(t).is_none() {
                err(
                    &at("timeout"),
                    "timeout must be a positive number of seconds".into(),
                );
            }
        }
        if let Some(sec) = &api.security {
            let ok = ["none", "oauth2"]
                .iter()
                .any(|s| sec.eq_ignore_ascii_case(s));
            if !ok {
                err(
                    &at("security"),
                    format!("unknown security {sec:?} (expected \"oauth2\" or \"none\")"),
                );
            } else if api.is_oauth2_secured() && !config.oauth2_enforced() {
                err(
                    &at("security"),
                    "security = \"oauth2\" needs `[auth_server] enabled = true` or a `[[auth_server.trusted_issuer]]`".into(),
                );
            }
        }
        for (j, r) in api.resource.iter().enumerate() {
            let rat = |k: &'static str| resource_at(i, j, k);
            for m in &r.methods {
                if http::Method::from_bytes(m.to_ascii_uppercase().as_bytes()).is_err() {
                    err(&rat("methods"), format!("invalid HTTP method {m:?}"));
                }
            }
            match (&r.uri_template, &r.url_mapping) {
                (Some(_), Some(_)) => err(
                    &rat("url_mapping"),
                    "a resource has either uri_template or url_mapping, not both".into(),
                ),
                (Some(t), None) => {
                    if let Err(e) = crate::uri_template::UriTemplate::parse(t) {
                        err(&rat("uri_template"), format!("invalid uri_template: {e}"));
                    }
                }
                (None, Some(m)) => {
                    if !(m.starts_with('/') || m.starts_with("*.")) {
                        err(
                            &rat("url_mapping"),
                            "url_mapping must start with `/` or `*.`".into(),
                        );
                    }
                }
                (None, None) => {}
            }
        }
        // endpoint security (backend_auth owns the rules)
        if let Some(es) = &api.endpoint_security {
            for (k, m) in
                crate::backend_auth::config::check_endpoint_security_files(es, &config.base_dir)
            {
                let path = [
                    At::Key("api"),
                    At::Index(i),
                    At::Key("endpoint_security"),
                    At::Key(k),
                ];
                err(&path, format!("API {:?}: {m}", api.name));
            }
        }
    }
    for (k, m) in crate::backend_auth::config::check_oauth(&config.oauth) {
        err(&[At::Key("oauth"), At::Key(k)], m);
    }
    if let Some(r) = &config.redis {
        for (k, m) in crate::backend_auth::config::check_redis(r) {
            err(&[At::Key("redis"), At::Key(k)], m);
        }
    }
    diags.extend(diags_extra);
    diags
}

/// Problems of `protocol` and `backend_protocol`, as (key, message).
fn protocol_problems(api: &ApiConfig) -> Vec<(&'static str, String)> {
    let mut v = Vec::new();
    let scheme = api
        .endpoint
        .as_deref()
        .and_then(|e| e.split_once("://"))
        .map(|(s, _)| s.to_ascii_lowercase());
    match (api.backend_protocol, scheme.as_deref()) {
        (BackendProtocol::H2, Some("http")) => v.push((
            "backend_protocol",
            "\"h2\" is HTTP/2 over TLS, negotiated by ALPN, but the endpoint is http (use \"h2c\" for HTTP/2 without TLS)".into(),
        )),
        (BackendProtocol::H2c, Some("https")) => v.push((
            "backend_protocol",
            "\"h2c\" is HTTP/2 without TLS, but the endpoint is https (use \"h2\" or \"auto\")".into(),
        )),
        _ => {}
    }
    if api.protocol != ApiProtocol::Grpc {
        return v;
    }
    if api.backend_protocol == BackendProtocol::Http1 {
        v.push((
            "backend_protocol",
            "gRPC needs HTTP/2 to the backend: backend_protocol = \"http1\" cannot carry it".into(),
        ));
    }
    if api.endpoint.is_none() {
        v.push((
            "protocol",
            "a gRPC API (protocol = \"grpc\") needs an endpoint".into(),
        ));
    }
    let seqs = [
        ("in_sequence", &api.in_sequence),
        ("out_sequence", &api.out_sequence),
        ("fault_sequence", &api.fault_sequence),
    ];
    let in_resources = api
        .resource
        .iter()
        .any(|r| r.in_sequence.is_some() || r.out_sequence.is_some() || r.fault_sequence.is_some());
    for (k, s) in seqs {
        if s.is_some() {
            v.push((
                k,
                format!("sequences do not mediate gRPC calls (protocol = \"grpc\"): remove {k}"),
            ));
        }
    }
    if in_resources {
        v.push((
            "resource",
            "sequences do not mediate gRPC calls (protocol = \"grpc\"): remove the resources' sequences".into(),
        ));
    }
    v
}

/// E0402 diagnostics for sequence names the configuration uses but `known` lacks.
pub fn check_sequence_refs(loaded: &LoadedConfig, known: &dyn Fn(&str) -> bool) -> Vec<Diagnostic> {
    let text = loaded.sources.text(loaded.source);
    sequence_refs(&loaded.config, loaded.source, text, known)
}

/// [`check_sequence_refs`] over a configuration and its text.
pub fn sequence_refs(
    config: &Config,
    source: SourceId,
    text: &str,
    known: &dyn Fn(&str) -> bool,
) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    for (i, api) in config.api.iter().enumerate() {
        let fields = [
            ("in_sequence", &api.in_sequence),
            ("out_sequence", &api.out_sequence),
            ("fault_sequence", &api.fault_sequence),
        ];
        for (k, v) in fields {
            if let Some(name) = v {
                if !known(name) {
                    diags.push(Diagnostic::error(
                        codes::E0402,
                        span_of(source, text, &api_at(i, k)),
                        format!(
                            "API {:?}: no sequence named {name:?} in the sequences folder",
                            api.name
                        ),
                    ));
                }
            }
        }
        for (j, r) in api.resource.iter().enumerate() {
            let fields = [
                ("in_sequence", &r.in_sequence),
                ("out_sequence", &r.out_sequence),
                ("fault_sequence", &r.fault_sequence),
            ];
            for (k, v) in fields {
                if let Some(name) = v {
                    if !known(name) {
                        diags.push(Diagnostic::error(
                            codes::E0402,
                            span_of(source, text, &resource_at(i, j, k)),
                            format!(
                                "API {:?}: no sequence named {name:?} in the sequences folder",
                                api.name
                            ),
                        ));
                    }
                }
            }
        }
    }
    diags
}

/// Every sequence name the configuration refers to.
pub fn referenced_sequences(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    for api in &config.api {
        for s in [&api.in_sequence, &api.out_sequence, &api.fault_sequence]
            .into_iter()
            .flatten()
        {
            out.push(s.clone());
        }
        for r in &api.resource {
            for s in [&r.in_sequence, &r.out_sequence, &r.fault_sequence]
                .into_iter()
                .flatten()
            {
                out.push(s.clone());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests;

/// The machine's host name (`localhost` when it has none).
pub fn host_name() -> String {
    whoami::hostname()
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}
