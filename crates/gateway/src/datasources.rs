//! `[[datasource]]` of `synaptic.toml`: the data sources a `<dblookup>`/`<dbreport>`
//! `<connection><pool><dsName>` names, written with the keys of Micro Integrator's
//! `deployment.toml` (`id`, `url`, `username`, `password`, `driver`, `pool_options.maxActive`,
//! `pool_options.maxWait`), so a deployment's entries can be copied as they are.
//!
//! A `<dsName>` names one by its `id` or by `jdbc/` and its `id` (the JNDI name Micro
//! Integrator gives it). The engine resolves the name when the artifacts compile
//! ([`synaptic_engine::NamedDataSource`]); the gateway's pools then treat it as a `<pool>`
//! with those settings (`database.rs`).
//!
//! Values may be Micro Integrator's references, each the whole value: `$secret{alias}` (a
//! secret of `[secrets]`, the only form of the `password` that is not warned about),
//! `$env{NAME}` or `$sys{NAME}` (an environment variable). A `password` written in the file is
//! allowed with a warning (`W0401`), as a secret written in `[secrets]` is.

use std::collections::BTreeMap;

use serde::Deserialize;
use synaptic_diag::{codes, Diagnostic, SourceId};
use synaptic_engine::{DbPassword, NamedDataSource};

use crate::config::{span_of, At, Config};

/// One `[[datasource]]`. `Debug` never shows the password.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSourceConfig {
    /// The name a `<dsName>` gives (or `jdbc/` and it).
    pub id: String,
    /// The JDBC URL (`jdbc:postgresql://…`, `jdbc:mysql://…`, `jdbc:sqlite:…`).
    pub url: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    /// The JDBC driver class (else the URL chooses the client).
    #[serde(default)]
    pub driver: String,
    /// Free text, as in Micro Integrator.
    pub description: Option<String>,
    #[serde(default)]
    pub pool_options: PoolOptions,
}

impl std::fmt::Debug for DataSourceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataSourceConfig")
            .field("id", &self.id)
            .field("url", &synaptic_engine::redact_text(&self.url))
            .field("username", &self.username)
            .field("password", &"…")
            .field("driver", &self.driver)
            .field("pool_options", &self.pool_options)
            .finish()
    }
}

/// `pool_options`: `maxActive` and `maxWait` size the pool; Micro Integrator's other options
/// (`testOnBorrow`, `validationQuery`, …) are accepted and need nothing (as a `<pool>`'s
/// properties).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PoolOptions {
    /// Connections at most (zero or less: synaptic's default, `[limits] db_max_connections`).
    #[serde(rename = "maxActive")]
    pub max_active: Option<i64>,
    /// Milliseconds to wait for a free connection (zero or less: `[limits] db_timeout`).
    #[serde(rename = "maxWait")]
    pub max_wait: Option<i64>,
    #[serde(flatten)]
    pub other: BTreeMap<String, toml::Value>,
}

/// `$secret{alias}`, `$env{NAME}`, `$sys{NAME}`: the reference's kind and name.
fn reference(v: &str) -> Option<(&str, &str)> {
    let v = v.trim();
    for kind in ["secret", "env", "sys"] {
        if let Some(name) = v
            .strip_prefix('$')
            .and_then(|r| r.strip_prefix(kind))
            .and_then(|r| r.strip_prefix('{'))
            .and_then(|r| r.strip_suffix('}'))
        {
            return Some((kind, name.trim()));
        }
    }
    None
}

/// A value as a `<pool>` setting the gateway's pools resolve: `$secret{a}` as
/// `{wso2:vault-lookup('a')}`, `$env{N}` and `$sys{N}` as `$SYSTEM:N`.
fn as_pool_setting(v: &str) -> String {
    match reference(v) {
        Some(("secret", alias)) => format!("{{wso2:vault-lookup('{alias}')}}"),
        Some((_, name)) => format!("$SYSTEM:{name}"),
        None => v.to_string(),
    }
}

/// The data sources of the configuration, as the engine resolves `<dsName>`s.
pub fn named(config: &Config) -> Vec<NamedDataSource> {
    config
        .datasource
        .iter()
        .map(|d| NamedDataSource {
            id: d.id.trim().to_string(),
            driver_class: as_pool_setting(&d.driver),
            url: as_pool_setting(&d.url),
            user: as_pool_setting(&d.username),
            password: DbPassword::new(as_pool_setting(&d.password)),
            max_active: d
                .pool_options
                .max_active
                .filter(|n| *n > 0)
                .map(|n| n.min(1024) as u32),
            max_wait_ms: d.pool_options.max_wait.filter(|n| *n > 0).map(|n| n as u64),
        })
        .collect()
}

/// Problems of `[[datasource]]`: an empty or repeated `id`, an empty `url`, a `$secret{…}`
/// `[secrets]` lacks, an `$env{…}` that is not set (`E0402`); a password written in the file
/// (`W0401`).
pub fn validate(config: &Config, source: SourceId, text: &str, diags: &mut Vec<Diagnostic>) {
    validate_with(config, source, text, &|n| std::env::var(n).ok(), diags)
}

fn validate_with(
    config: &Config,
    source: SourceId,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    diags: &mut Vec<Diagnostic>,
) {
    let mut ids = std::collections::HashSet::new();
    for (i, d) in config.datasource.iter().enumerate() {
        let at = |k: &'static str| {
            span_of(
                source,
                text,
                &[At::Key("datasource"), At::Index(i), At::Key(k)],
            )
        };
        let id = d.id.trim();
        if id.is_empty() {
            diags.push(Diagnostic::error(
                codes::E0402,
                at("id"),
                "a [[datasource]] needs an id (the name a <dsName> gives)",
            ));
        } else if !ids.insert(id) {
            diags.push(Diagnostic::error(
                codes::E0402,
                at("id"),
                format!("data source `{id}` is defined twice"),
            ));
        }
        if d.url.trim().is_empty() {
            diags.push(Diagnostic::error(
                codes::E0402,
                at("url"),
                format!("data source `{id}` needs a url (jdbc:…)"),
            ));
        }
        for (key, value) in [
            ("url", &d.url),
            ("username", &d.username),
            ("password", &d.password),
            ("driver", &d.driver),
        ] {
            match reference(value) {
                Some(("secret", alias)) if !config.secrets.contains_key(alias) => {
                    diags.push(Diagnostic::error(
                        codes::E0402,
                        at(key),
                        format!(
                            "data source `{id}`: no secret `{alias}` in [secrets] for its {key}"
                        ),
                    ))
                }
                Some((kind @ ("env" | "sys"), name)) if env(name).is_none() => {
                    diags.push(Diagnostic::error(
                        codes::E0402,
                        at(key),
                        format!(
                            "data source `{id}`: the environment variable `{name}` (${kind}{{…}}) \
                             of its {key} is not set"
                        ),
                    ))
                }
                None if key == "password" && !value.is_empty() => diags.push(Diagnostic::warning(
                    codes::W0401,
                    at(key),
                    format!(
                        "the password of data source `{id}` is written in the configuration \
                             file, where anyone who can read the file sees it: prefer \
                             \"$secret{{alias}}\" with the alias in [secrets]"
                    ),
                )),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synaptic_diag::SourceMap;

    fn check(text: &str, env: &dyn Fn(&str) -> Option<String>) -> (Config, Vec<String>) {
        let mut map = SourceMap::new();
        let id = map.add("synaptic.toml", text.to_string());
        let config: Config = toml::from_str(text).unwrap();
        let mut d = Vec::new();
        validate_with(&config, id, text, env, &mut d);
        let shown = d
            .iter()
            .map(|d| {
                let s = d.primary_span();
                format!(
                    "{} {:?}: {}",
                    d.code.id,
                    &text[s.start as usize..s.end as usize],
                    d.message
                )
            })
            .collect();
        (config, shown)
    }

    #[test]
    fn micro_integrator_keys_become_named_data_sources() {
        let text = r#"
[secrets]
db = { env = "DB_PW" }

[[datasource]]
id = "Shop"
url = "jdbc:postgresql://db:5432/shop"
username = "$env{DB_USER}"
password = "$secret{db}"
driver = "org.postgresql.Driver"
pool_options.maxActive = 50
pool_options.maxWait = 60000
pool_options.testOnBorrow = true
pool_options.validationQuery = "SELECT 1"

[[datasource]]
id = "Audit"
url = "jdbc:sqlite:/tmp/audit.db"
pool_options.maxActive = -1
"#;
        let (config, d) = check(text, &|n| (n == "DB_USER").then(|| "synapse".to_string()));
        assert!(d.is_empty(), "{d:?}");
        let named = named(&config);
        assert_eq!(named.len(), 2);
        assert_eq!(named[0].id, "Shop");
        assert_eq!(named[0].user, "$SYSTEM:DB_USER");
        assert_eq!(named[0].password.expose(), "{wso2:vault-lookup('db')}");
        assert_eq!(named[0].driver_class, "org.postgresql.Driver");
        assert_eq!(
            (named[0].max_active, named[0].max_wait_ms),
            (Some(50), Some(60000))
        );
        assert!(named[0].is_named("Shop") && named[0].is_named("jdbc/Shop"));
        assert!(!named[0].is_named("shop") && !named[0].is_named("jdbc/Other"));
        // MI's "no limit": synaptic's default
        assert_eq!(named[1].max_active, None);
        assert_eq!(named[1].password.expose(), "");
        let shown = format!("{:?}", config.datasource[0]);
        assert!(
            shown.contains("Shop") && !shown.contains("$secret"),
            "{shown}"
        );
    }

    #[test]
    fn mistakes_are_positioned_and_a_written_password_is_warned_about() {
        let text = r#"
[[datasource]]
id = "A"
url = "jdbc:mysql://db/a"
password = "hunter2"

[[datasource]]
id = "A"
url = ""
password = "$secret{nope}"
username = "$env{UNSET_VAR}"
"#;
        let (_, d) = check(text, &|_| None);
        assert_eq!(
            d,
            [
                "W0401 \"\\\"hunter2\\\"\": the password of data source `A` is written in the configuration file, where anyone who can read the file sees it: prefer \"$secret{alias}\" with the alias in [secrets]",
                "E0402 \"\\\"A\\\"\": data source `A` is defined twice",
                "E0402 \"\\\"\\\"\": data source `A` needs a url (jdbc:…)",
                "E0402 \"\\\"$env{UNSET_VAR}\\\"\": data source `A`: the environment variable `UNSET_VAR` ($env{…}) of its username is not set",
                "E0402 \"\\\"$secret{nope}\\\"\": data source `A`: no secret `nope` in [secrets] for its password",
            ]
        );
        assert!(!d
            .iter()
            .any(|m| m.contains("hunter2\\\" ") || m.contains(": hunter2")));
    }
}
