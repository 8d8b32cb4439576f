//! `[configs]` and `[secrets]` of `synaptic.toml`: the values of `${configs.name}` (Micro
//! Integrator 4.4's configurable properties) and the secrets of `wso2-vault(alias)`,
//! `wso2:vault-lookup('alias')` and `{wso2:vault-lookup('alias')}` database passwords.
//!
//! Both are loaded with the configuration (at start, on every reload and by `serve --check`)
//! and reach the engine through [`synaptic_engine::Configurables`]; nothing is read when a
//! request runs.
//!
//! Configurable values, highest precedence first (Micro Integrator reads the environment,
//! then JVM system properties, then `file.properties`):
//! 1. the environment variable named exactly as the configurable;
//! 2. its value in `[configs]`.
//!
//! The names are those of `[configs]` and those an MI project's `config.properties` declares
//! (`name:string`, `name:cert`) when the sequences folder is in such a project. A declared
//! name without a value is a warning (`W0402`; MI logs an error and deploys), and reading it
//! fails when the expression runs, as in MI.
//!
//! Secrets come from an environment variable (`{ env = "VAR" }`) or a file
//! (`{ file = "path" }`, one trailing line break removed); a value written in the file
//! (`{ value = "…" }`) is allowed with a warning (`W0401`). A variable that is not set or a
//! file that cannot be read is an error (`E0402`) at its key. Secrets are held as
//! [`Secret`]s: `Debug` shows the aliases only, and no message prints a value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use synaptic_diag::{codes, Diagnostic, SourceId};
use synaptic_oauth::client::Secret;

use crate::config::{span_of, At, Config};

/// A value of `[configs]`: text, or a number or boolean written as TOML (kept as its text).
/// `Debug` shows the kind, not the value (configurables may be credentials too).
#[derive(Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ConfigValue {
    Text(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
}

impl std::fmt::Debug for ConfigValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ConfigValue::Text(_) => "Text(…)",
            ConfigValue::Integer(_) => "Integer(…)",
            ConfigValue::Float(_) => "Float(…)",
            ConfigValue::Boolean(_) => "Boolean(…)",
        })
    }
}

impl ConfigValue {
    /// The text `${configs.name}` reads (then parsed as a number when it looks like one).
    pub fn text(&self) -> String {
        match self {
            ConfigValue::Text(s) => s.clone(),
            ConfigValue::Integer(i) => i.to_string(),
            // `{:?}` keeps the decimal point of 1.0
            ConfigValue::Float(f) => format!("{f:?}"),
            ConfigValue::Boolean(b) => b.to_string(),
        }
    }
}

/// Where a secret of `[secrets]` comes from: exactly one of `env`, `file`, `value`.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    /// An environment variable of the gateway's process.
    pub env: Option<String>,
    /// A file (relative paths against the configuration's folder), such as a Docker or
    /// Kubernetes secret mounted under `/run/secrets/`.
    pub file: Option<String>,
    /// The secret itself, written in `synaptic.toml` (warned about).
    pub value: Option<String>,
    /// The value read is Micro Integrator cipher text (the cipher tool's or `apictl secret
    /// encrypt`'s output), decrypted with `[secure_vault]`'s key.
    #[serde(default)]
    pub encrypted: bool,
}

/// `[secure_vault]`: the private key of Micro Integrator's secure vault (its primary
/// keystore's key, exported as PEM), which decrypts the secrets marked `encrypted`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecureVault {
    /// The RSA private key, PEM (PKCS#8 or PKCS#1), relative to the configuration's folder.
    pub private_key: String,
    /// The cipher tool's transformation: `RSA/ECB/OAEPwithSHA1andMGF1Padding` (its default)
    /// or `RSA/ECB/PKCS1Padding`.
    #[serde(default = "default_vault_algorithm")]
    pub algorithm: String,
}

fn default_vault_algorithm() -> String {
    "RSA/ECB/OAEPwithSHA1andMGF1Padding".into()
}

/// A loaded `[secure_vault]` key.
struct VaultKey {
    key: rsa::RsaPrivateKey,
    oaep: bool,
}

impl VaultKey {
    /// Read the key; `Err` says why (never its content).
    fn load(config: &Config, vault: &SecureVault) -> Result<VaultKey, (&'static str, String)> {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        use rsa::pkcs8::DecodePrivateKey;
        let oaep = match vault.algorithm.to_ascii_lowercase().as_str() {
            "rsa/ecb/oaepwithsha1andmgf1padding" | "rsa-oaep" => true,
            "rsa/ecb/pkcs1padding" | "rsa" => false,
            other => {
                return Err((
                    "algorithm",
                    format!(
                    "`{other}` is not a cipher tool algorithm: RSA/ECB/OAEPwithSHA1andMGF1Padding \
                         or RSA/ECB/PKCS1Padding"
                ),
                ))
            }
        };
        let path = config.resolve_path(&vault.private_key);
        let pem = std::fs::read_to_string(&path).map_err(|e| {
            (
                "private_key",
                format!("cannot read {}: {}", path.display(), e.kind()),
            )
        })?;
        let key = rsa::RsaPrivateKey::from_pkcs8_pem(&pem)
            .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(&pem))
            .map_err(|_| {
                (
                    "private_key",
                    format!("{} is not an RSA private key in PEM", path.display()),
                )
            })?;
        Ok(VaultKey { key, oaep })
    }

    /// Decrypt cipher text as the cipher tool writes it: base64 of the RSA cipher text, or of
    /// a self-contained cipher text (a JSON object whose `c` is that base64 and whose `t`
    /// names the transformation).
    fn decrypt(&self, text: &str) -> Result<String, &'static str> {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let raw = b64
            .decode(text.trim())
            .map_err(|_| "the value is not base64 cipher text")?;
        let (cipher, oaep) = match serde_json::from_slice::<serde_json::Value>(&raw) {
            Ok(serde_json::Value::Object(o)) => {
                let c = o
                    .get("c")
                    .and_then(|c| c.as_str())
                    .and_then(|c| b64.decode(c).ok())
                    .ok_or("the self-contained cipher text has no base64 `c`")?;
                let oaep = match o.get("t").and_then(|t| t.as_str()) {
                    Some(t) => t.to_ascii_lowercase().contains("oaep"),
                    None => self.oaep,
                };
                (c, oaep)
            }
            _ => (raw, self.oaep),
        };
        let plain = if oaep {
            self.key.decrypt(rsa::Oaep::new::<sha1::Sha1>(), &cipher)
        } else {
            self.key.decrypt(rsa::Pkcs1v15Encrypt, &cipher)
        }
        .map_err(|_| "it does not decrypt with [secure_vault]'s key")?;
        String::from_utf8(plain).map_err(|_| "the decrypted secret is not UTF-8 text")
    }
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretSource")
            .field("env", &self.env)
            .field("file", &self.file)
            .field("value", &self.value.as_ref().map(|_| "…"))
            .finish()
    }
}

/// The configurable values and secrets of one configuration.
#[derive(Clone, Default)]
pub struct Configurables {
    configs: BTreeMap<String, String>,
    secrets: BTreeMap<String, Secret>,
    /// `[server] file_properties`: what `$FILE:KEY` reads.
    files: BTreeMap<String, String>,
    /// `[[datasource]]`: what a `<dsName>` names (`None`: no configuration was loaded).
    data_sources: Option<std::sync::Arc<Vec<synaptic_engine::NamedDataSource>>>,
}

impl std::fmt::Debug for Configurables {
    // values may be credentials too (MI projects keep passwords in configurables): names only
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Configurables")
            .field("configs", &self.configs.keys().collect::<Vec<_>>())
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("files", &self.files.keys().collect::<Vec<_>>())
            .field(
                "data_sources",
                &self
                    .data_sources
                    .as_ref()
                    .map(|d| d.iter().map(|d| d.id.as_str()).collect::<Vec<_>>()),
            )
            .finish()
    }
}

impl synaptic_engine::Configurables for Configurables {
    fn config(&self, name: &str) -> Option<String> {
        self.configs.get(name).cloned()
    }
    fn secret(&self, alias: &str) -> Option<String> {
        self.secrets.get(alias).map(|s| s.expose().to_string())
    }
    // Synapse's `get-property('env', name)` reads the process environment
    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn file_property(&self, key: &str) -> Option<String> {
        self.files.get(key).cloned()
    }
    fn data_sources(&self) -> Option<std::sync::Arc<Vec<synaptic_engine::NamedDataSource>>> {
        self.data_sources.clone()
    }
}

impl Configurables {
    /// A secret by alias.
    pub fn secret(&self, alias: &str) -> Option<&Secret> {
        self.secrets.get(alias)
    }

    /// A configurable's value.
    pub fn config(&self, name: &str) -> Option<&str> {
        self.configs.get(name).map(String::as_str)
    }

    /// Replace every `{…:vault-lookup('alias'…)}` in `text` by the secret `alias`, as
    /// Synapse's secure vault resolver does for a data source's password. `Err` names an
    /// alias that has no secret (never a value).
    pub fn resolve_vault_lookups(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let Some((alias, len)) = vault_lookup_at(&rest[open..]) else {
                out.push_str(&rest[..=open]);
                rest = &rest[open + 1..];
                continue;
            };
            out.push_str(&rest[..open]);
            let secret = self.secrets.get(alias).ok_or_else(|| {
                format!("no secret `{alias}` in [secrets] for {{wso2:vault-lookup('{alias}')}}")
            })?;
            out.push_str(secret.expose());
            rest = &rest[open + len..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// `{prefix:vault-lookup('alias'…)}` at the start of `s`: the alias and the length matched.
fn vault_lookup_at(s: &str) -> Option<(&str, usize)> {
    let close = s.find('}')?;
    let inner = &s[1..close];
    let (prefix, call) = inner.split_once(':')?;
    if prefix.contains(['{', '(', '\'']) {
        return None;
    }
    let args = call
        .trim()
        .strip_prefix("vault-lookup(")?
        .strip_suffix(')')?;
    let args = args.trim().strip_prefix('\'')?;
    let alias = &args[..args.find('\'')?];
    Some((alias, close + 1))
}

/// A `config.properties` of an MI project next to the sequences folder, if there is one:
/// the sequences folder is the project (`src/main/wso2mi/resources/conf/config.properties`),
/// its `src/main/wso2mi`, or its `src/main/wso2mi/artifacts`.
pub fn project_config_properties(sequences: &Path) -> Option<PathBuf> {
    [
        sequences.join("src/main/wso2mi/resources/conf/config.properties"),
        sequences.join("resources/conf/config.properties"),
        sequences.join("../resources/conf/config.properties"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// The names a `config.properties` declares, with their line numbers (from 1): Java
/// properties lines `name:type`, `name=type` or `name type`; `#`/`!` comments.
pub fn declared_names(text: &str) -> Vec<(String, usize)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let l = line.trim_start();
            if l.is_empty() || l.starts_with('#') || l.starts_with('!') {
                return None;
            }
            let end = l
                .find(|c: char| c == ':' || c == '=' || c.is_whitespace())
                .unwrap_or(l.len());
            let name = &l[..end];
            (!name.is_empty()).then(|| (name.to_string(), i + 1))
        })
        .collect()
}

/// Load the configurables and secrets of `config` (`text` is its source, for the spans);
/// `env` reads an environment variable. Problems are pushed to `diags`.
pub fn load(
    config: &Config,
    source: SourceId,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    diags: &mut Vec<Diagnostic>,
) -> Configurables {
    let span = |path: &[At<'_>]| span_of(source, text, path);
    let mut configs = BTreeMap::new();
    for (name, value) in &config.configs {
        if name.trim().is_empty() {
            diags.push(Diagnostic::error(
                codes::E0402,
                span(&[At::Key("configs")]),
                "a configurable needs a name",
            ));
            continue;
        }
        // the environment overrides, as in Micro Integrator
        let v = env(name).unwrap_or_else(|| value.text());
        configs.insert(name.clone(), v);
    }
    if let Some(path) = project_config_properties(&config.sequences_dir()) {
        let at = span(&[At::Key("server"), At::Key("sequences")]);
        match std::fs::read_to_string(&path) {
            Err(e) => diags.push(Diagnostic::error(
                codes::E0402,
                at,
                format!("cannot read the project's {}: {e}", path.display()),
            )),
            Ok(props) => {
                for (name, line) in declared_names(&props) {
                    if configs.contains_key(&name) {
                        continue;
                    }
                    match env(&name) {
                        Some(v) => {
                            configs.insert(name, v);
                        }
                        None => diags.push(Diagnostic::warning(
                            codes::W0402,
                            at,
                            format!(
                                "{}:{line} declares the configurable `{name}`, but neither the \
                                 environment variable `{name}` nor [configs] gives it a value: \
                                 ${{configs.{name}}} fails when it runs (as in Micro Integrator)",
                                path.display()
                            ),
                        )),
                    }
                }
            }
        }
    }
    let vault = config.secure_vault.as_ref().and_then(|v| {
        VaultKey::load(config, v)
            .map_err(|(key, why)| {
                diags.push(Diagnostic::error(
                    codes::E0402,
                    span(&[At::Key("secure_vault"), At::Key(key)]),
                    format!("[secure_vault] {key}: {why}"),
                ))
            })
            .ok()
    });
    let mut secrets = BTreeMap::new();
    for (alias, src) in &config.secrets {
        let at = |k: &'static str| span(&[At::Key("secrets"), At::Key(alias), At::Key(k)]);
        let given = [&src.env, &src.file, &src.value]
            .iter()
            .filter(|v| v.is_some())
            .count();
        if alias.trim().is_empty() || given != 1 {
            diags.push(Diagnostic::error(
                codes::E0402,
                span(&[At::Key("secrets"), At::Key(alias)]),
                format!(
                    "secret `{alias}`: give exactly one of env = \"VARIABLE\", file = \"path\" \
                     or value = \"…\""
                ),
            ));
            continue;
        }
        let secret = match (&src.env, &src.file, &src.value) {
            (Some(var), _, _) => match env(var) {
                Some(v) => Secret::new(v),
                None => {
                    diags.push(Diagnostic::error(
                        codes::E0402,
                        at("env"),
                        format!("secret `{alias}`: the environment variable `{var}` is not set"),
                    ));
                    continue;
                }
            },
            (_, Some(file), _) => {
                let path = config.resolve_path(file);
                match std::fs::read_to_string(&path) {
                    Ok(mut v) => {
                        // one line break at the end, as `echo … > file` leaves it
                        if v.ends_with('\n') {
                            v.pop();
                            if v.ends_with('\r') {
                                v.pop();
                            }
                        }
                        Secret::new(v)
                    }
                    Err(e) => {
                        diags.push(Diagnostic::error(
                            codes::E0402,
                            at("file"),
                            format!(
                                "secret `{alias}`: cannot read {}: {}",
                                path.display(),
                                e.kind()
                            ),
                        ));
                        continue;
                    }
                }
            }
            (_, _, Some(v)) => {
                diags.push(Diagnostic::warning(
                    codes::W0401,
                    at("value"),
                    format!(
                        "secret `{alias}` is written in the configuration file, where anyone \
                         who can read the file sees it: prefer env = \"VARIABLE\" or \
                         file = \"path\""
                    ),
                ));
                Secret::new(v.clone())
            }
            (None, None, None) => continue,
        };
        let secret = match (src.encrypted, &vault) {
            (false, _) => secret,
            (true, Some(key)) => match key.decrypt(secret.expose()) {
                Ok(plain) => Secret::new(plain),
                Err(why) => {
                    diags.push(Diagnostic::error(
                        codes::E0402,
                        at("encrypted"),
                        format!("secret `{alias}` is marked encrypted, but {why}"),
                    ));
                    continue;
                }
            },
            (true, None) => {
                if config.secure_vault.is_none() {
                    diags.push(Diagnostic::error(
                        codes::E0402,
                        at("encrypted"),
                        format!(
                            "secret `{alias}` is encrypted: [secure_vault] private_key names \
                             the key that decrypts it"
                        ),
                    ));
                }
                continue;
            }
        };
        secrets.insert(alias.clone(), secret);
    }
    let mut files = BTreeMap::new();
    if let Some(file) = &config.server.file_properties {
        let path = config.resolve_path(file);
        let at = span(&[At::Key("server"), At::Key("file_properties")]);
        let read = std::fs::File::open(&path)
            .map_err(|e| e.kind().to_string())
            .and_then(|f| {
                java_properties::read(std::io::BufReader::new(f)).map_err(|e| e.to_string())
            });
        match read {
            Ok(map) => files.extend(map),
            Err(e) => diags.push(Diagnostic::error(
                codes::E0402,
                at,
                format!("cannot read the properties file {}: {e}", path.display()),
            )),
        }
    }
    Configurables {
        configs,
        secrets,
        files,
        data_sources: Some(std::sync::Arc::new(crate::datasources::named(config))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_with(
        toml_text: &str,
        base: &Path,
        env: &[(&str, &str)],
    ) -> (Configurables, Vec<Diagnostic>) {
        let mut config: Config = toml::from_str(toml_text).unwrap();
        config.base_dir = base.to_path_buf();
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut diags = Vec::new();
        let c = load(
            &config,
            SourceId(0),
            toml_text,
            &|n| env.get(n).cloned(),
            &mut diags,
        );
        (c, diags)
    }

    /// A new 2048-bit RSA key, written to `path` as PKCS#8 PEM (as openssl's `genpkey` writes
    /// it; the end-to-end tests encrypt with openssl itself).
    fn rsa_key(path: &std::path::Path) -> rsa::RsaPrivateKey {
        use rsa::pkcs8::EncodePrivateKey as _;
        let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let pem = key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        std::fs::write(path, pem.as_bytes()).unwrap();
        key
    }

    /// Secrets encrypted as Micro Integrator's cipher tool encrypts them (RSA with OAEP/SHA-1
    /// by default, or PKCS#1 v1.5, base64; also wrapped as a self-contained cipher text) with
    /// the vault's public key, are decrypted with `[secure_vault]`'s private
    /// key; a wrong key, a value that is not cipher text and a missing key are E0402 at the
    /// entry, naming no secret.
    #[test]
    fn encrypted_secrets_are_decrypted_with_the_vault_key() {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let dir = tempfile::tempdir().unwrap();
        let public = rsa::RsaPublicKey::from(&rsa_key(&dir.path().join("vault.pem")));
        let oaep_of = |plain: &str| {
            let padding = rsa::Oaep::new::<sha1::Sha1>();
            let c = public.encrypt(&mut rand::thread_rng(), padding, plain.as_bytes());
            b64.encode(c.unwrap())
        };
        let oaep = oaep_of("db-pa55");
        let pkcs1 = b64.encode(
            public
                .encrypt(
                    &mut rand::thread_rng(),
                    rsa::Pkcs1v15Encrypt,
                    "api-k3y".as_bytes(),
                )
                .unwrap(),
        );
        let wrapped = b64.encode(
            serde_json::json!({
                "c": oaep_of("wr4pped"),
                "t": "RSA/ECB/OAEPwithSHA1andMGF1Padding",
                "tp": "thumb",
                "tpd": "SHA-1"
            })
            .to_string(),
        );
        std::fs::write(dir.path().join("db.enc"), format!("{oaep}\n")).unwrap();
        let text = format!(
            r#"
[secure_vault]
private_key = "vault.pem"

[secrets]
db = {{ file = "db.enc", encrypted = true }}
wrapped = {{ value = "{wrapped}", encrypted = true }}
plain = {{ env = "PLAIN" }}
"#
        );
        let (c, d) = load_with(&text, dir.path(), &[("PLAIN", "as-is")]);
        assert!(d.iter().all(|d| !d.is_error()), "{d:?}");
        assert_eq!(c.secret("db").unwrap().expose(), "db-pa55");
        assert_eq!(c.secret("wrapped").unwrap().expose(), "wr4pped");
        assert_eq!(c.secret("plain").unwrap().expose(), "as-is");

        // PKCS#1 v1.5, as the cipher tool's other algorithm
        let text = format!(
            "[secure_vault]\nprivate_key = \"vault.pem\"\nalgorithm = \"RSA/ECB/PKCS1Padding\"\n\
             [secrets]\napi = {{ value = \"{pkcs1}\", encrypted = true }}\n"
        );
        let (c, d) = load_with(&text, dir.path(), &[]);
        assert!(d.iter().all(|d| !d.is_error()), "{d:?}");
        assert_eq!(c.secret("api").unwrap().expose(), "api-k3y");

        // another key, text that is not cipher text, no [secure_vault]
        rsa_key(&dir.path().join("other.pem"));
        let text = "[secure_vault]\nprivate_key = \"other.pem\"\n[secrets]\n\
                    db = { env = \"ENC\", encrypted = true }\n\
                    raw = { env = \"RAW\", encrypted = true }\n";
        let (c, d) = load_with(
            text,
            dir.path(),
            &[("ENC", &oaep), ("RAW", "not-cipher-text!")],
        );
        assert!(c.secret("db").is_none() && c.secret("raw").is_none());
        let msgs: Vec<String> = d
            .iter()
            .map(|d| format!("{} {}", d.code.id, d.message))
            .collect();
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert!(
            msgs.iter()
                .any(|m| m.starts_with("E0402 secret `db`") && m.contains("does not decrypt")),
            "{msgs:?}"
        );
        assert!(msgs.iter().any(|m| m.contains("not base64")), "{msgs:?}");
        assert!(
            msgs.iter().all(|m| !m.contains("not-cipher-text")),
            "{msgs:?}"
        );
        assert_eq!(line_col(text, &d[0]), "true }");
        let (_, d) = load_with(
            "[secrets]\ndb = { env = \"ENC\", encrypted = true }\n",
            dir.path(),
            &[("ENC", &oaep)],
        );
        assert_eq!(d.len(), 1);
        assert!(d[0].message.contains("[secure_vault] private_key"), "{d:?}");
        // a key file that is not a key
        let (_, d) = load_with(
            "[secure_vault]\nprivate_key = \"db.enc\"\n",
            dir.path(),
            &[],
        );
        assert_eq!(d.len(), 1);
        assert!(d[0].message.contains("not an RSA private key"), "{d:?}");
    }

    fn line_col(text: &str, d: &Diagnostic) -> String {
        let start = d.primary_span().range().start;
        text[start..].lines().next().unwrap_or("").to_string()
    }

    #[test]
    fn configs_come_from_the_file_and_the_environment_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let text = r#"
[configs]
url = "http://a:1"
port = 8080
rate = 1.0
on = true
region = "eu"
"#;
        let (c, d) = load_with(text, dir.path(), &[("region", "us"), ("REGION", "x")]);
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(c.config("url"), Some("http://a:1"));
        assert_eq!(c.config("port"), Some("8080"));
        assert_eq!(c.config("rate"), Some("1.0"));
        assert_eq!(c.config("on"), Some("true"));
        // the variable named exactly as the configurable wins
        assert_eq!(c.config("region"), Some("us"));
        // an undeclared name has no value, whatever the environment holds
        assert_eq!(synaptic_engine::Configurables::config(&c, "REGION"), None);
        assert_eq!(synaptic_engine::Configurables::config(&c, "HOME"), None);
    }

    #[test]
    fn an_mi_projects_config_properties_declares_names_the_environment_fills() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("proj/src/main/wso2mi/resources/conf");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::create_dir_all(dir.path().join("proj/src/main/wso2mi/artifacts")).unwrap();
        std::fs::write(
            conf.join("config.properties"),
            "# configurables\nmsg:string\nbackend_cert: cert\n\nin_toml:string\nunset:string\n",
        )
        .unwrap();
        let text = r#"
[server]
sequences = "proj/src/main/wso2mi/artifacts"

[configs]
in_toml = "from toml"
"#;
        let (c, d) = load_with(
            text,
            dir.path(),
            &[("msg", "Gd mng"), ("backend_cert", "/certs/b.crt")],
        );
        assert_eq!(c.config("msg"), Some("Gd mng"));
        assert_eq!(c.config("backend_cert"), Some("/certs/b.crt"));
        assert_eq!(c.config("in_toml"), Some("from toml"));
        assert_eq!(c.config("unset"), None);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].code, codes::W0402);
        assert!(
            d[0].message.contains("config.properties:6"),
            "{}",
            d[0].message
        );
        assert!(d[0].message.contains("`unset`"), "{}", d[0].message);
        assert_eq!(line_col(text, &d[0]), "\"proj/src/main/wso2mi/artifacts\"");
        // the project folder itself as the sequences folder finds it too
        let text = "[server]\nsequences = \"proj\"\n";
        let (c, _) = load_with(text, dir.path(), &[("msg", "hi")]);
        assert_eq!(c.config("msg"), Some("hi"));
    }

    #[test]
    fn secrets_from_the_environment_a_file_or_the_file_itself() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("db.txt"), "file-pw\n").unwrap();
        std::fs::write(dir.path().join("raw.txt"), "  two\nlines  ").unwrap();
        let text = r#"
[secrets]
api = { env = "API_KEY" }
db = { file = "db.txt" }
raw = { file = "raw.txt" }
inline = { value = "inline-pw" }
"#;
        let (c, d) = load_with(text, dir.path(), &[("API_KEY", "env-key")]);
        assert_eq!(c.secret("api").unwrap().expose(), "env-key");
        assert_eq!(c.secret("db").unwrap().expose(), "file-pw");
        assert_eq!(c.secret("raw").unwrap().expose(), "  two\nlines  ");
        assert_eq!(c.secret("inline").unwrap().expose(), "inline-pw");
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].code, codes::W0401);
        assert_eq!(line_col(text, &d[0]), "\"inline-pw\" }");
        assert!(!d[0].message.contains("inline-pw"));
        // Debug: aliases only
        let dbg = format!("{c:?}");
        for v in ["env-key", "file-pw", "inline-pw"] {
            assert!(!dbg.contains(v), "{dbg}");
        }
        assert!(dbg.contains("\"api\""), "{dbg}");
        let config: Config = toml::from_str(text).unwrap();
        assert!(!format!("{config:?}").contains("inline-pw"));
        let config: Config = toml::from_str("[configs]\npass = \"cfg-pw\"\n").unwrap();
        let dbg = format!("{config:?}");
        assert!(!dbg.contains("cfg-pw") && dbg.contains("pass"), "{dbg}");
    }

    #[test]
    fn a_missing_variable_or_file_is_an_error_at_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let text = r#"
[secrets]
api = { env = "NOT_SET_ANYWHERE" }
db = { file = "missing.txt" }
both = { env = "A", value = "x" }
none = {}
"#;
        let (c, d) = load_with(text, dir.path(), &[]);
        assert!(c.secret("api").is_none() && c.secret("db").is_none());
        let errors: Vec<_> = d.iter().map(|d| (d.code, line_col(text, d))).collect();
        assert_eq!(errors.len(), 4, "{d:?}");
        assert!(d.iter().all(|d| d.is_error()));
        assert_eq!(errors[0].1, "\"NOT_SET_ANYWHERE\" }");
        assert!(d[0].message.contains("`NOT_SET_ANYWHERE` is not set"));
        assert_eq!(errors[1].1, "{ env = \"A\", value = \"x\" }");
        assert!(d[1].message.contains("exactly one"), "{}", d[1].message);
        assert_eq!(errors[2].1, "\"missing.txt\" }");
        assert!(d[2].message.contains("missing.txt"), "{}", d[2].message);
        assert_eq!(errors[3].1, "{}");
    }

    #[test]
    fn vault_lookups_in_a_password_are_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[secrets]\ndb = { value = \"p@ss\" }\n";
        let (c, _) = load_with(text, dir.path(), &[]);
        assert_eq!(
            c.resolve_vault_lookups("{wso2:vault-lookup('db')}")
                .unwrap(),
            "p@ss"
        );
        assert_eq!(
            c.resolve_vault_lookups("x{wso2:vault-lookup('db', 'DOCKER', 'false')}y{z}")
                .unwrap(),
            "xp@ssy{z}"
        );
        assert_eq!(c.resolve_vault_lookups("plain").unwrap(), "plain");
        assert_eq!(
            c.resolve_vault_lookups("{not:a-call}").unwrap(),
            "{not:a-call}"
        );
        let e = c
            .resolve_vault_lookups("{wso2:vault-lookup('other')}")
            .unwrap_err();
        assert!(e.contains("`other`"), "{e}");
        assert_eq!(c.secret("db").map(|s| s.expose()), Some("p@ss"));
        assert_eq!(
            synaptic_engine::Configurables::secret(&c, "db").as_deref(),
            Some("p@ss")
        );
    }

    #[test]
    fn declared_names_read_java_properties_lines() {
        let names = declared_names("a:string\n  b = cert\n#c:string\n!d\ne string\n\n");
        assert_eq!(
            names,
            vec![
                ("a".to_string(), 1),
                ("b".to_string(), 2),
                ("e".to_string(), 5)
            ]
        );
    }
}
