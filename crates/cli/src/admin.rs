//! `synaptic clients|tokens|users`: administration of the gateway's authorization server.
//!
//! Every subcommand works on the store of `[auth_server]` in the configuration (`--config`,
//! default `./synaptic.toml`); clients and users configured in the file are synced into the
//! store first, as the gateway does at startup.

use anyhow::{bail, Context};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use synaptic_gateway::authserver::{self, AdminStore};
use synaptic_oauth::server::secret::{hash_generated_secret, hash_password, random_token};
use synaptic_oauth::server::{
    AuthServer, Client, GrantType, Settings, SystemClock, TokenKind, User,
};

#[derive(Debug, clap::Args)]
pub struct ClientsArgs {
    #[command(subcommand)]
    pub command: ClientsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ClientsCommand {
    /// Register a client. Confidential clients get a generated secret, printed once, unless
    /// --secret-stdin reads one.
    Add(ClientAdd),
    /// List clients.
    List(ConfigArg),
    /// Remove a client and revoke its tokens.
    Remove(NamedArg),
}

#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    /// The configuration file whose `[auth_server] store` is used.
    #[arg(long, default_value = "synaptic.toml")]
    pub config: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct NamedArg {
    /// Client id, user name or token id.
    pub name: String,
    #[command(flatten)]
    pub config: ConfigArg,
}

#[derive(Debug, clap::Args)]
pub struct ClientAdd {
    /// Client id.
    pub id: String,
    /// Display name (shown on the approval page).
    #[arg(long)]
    pub name: Option<String>,
    /// A public client (no secret; PKCE required).
    #[arg(long)]
    pub public: bool,
    /// Read the secret from stdin instead of generating one (stored with argon2id).
    #[arg(long)]
    pub secret_stdin: bool,
    /// Allowed grant (repeatable): authorization_code, refresh_token, client_credentials,
    /// password, implicit.
    #[arg(long = "grant")]
    pub grants: Vec<String>,
    /// Registered redirect URI (repeatable; exact match).
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// Allowed scope (repeatable).
    #[arg(long = "scope")]
    pub scopes: Vec<String>,
    /// Access-token lifetime in seconds; -1 = never expires.
    #[arg(long, default_value_t = 3600, allow_negative_numbers = true)]
    pub token_lifetime: i64,
    /// 0 = no refresh token; N = at most N refreshes.
    #[arg(long, default_value_t = 0)]
    pub refresh_limit: u32,
    #[command(flatten)]
    pub config: ConfigArg,
}

#[derive(Debug, clap::Args)]
pub struct TokensArgs {
    #[command(subcommand)]
    pub command: TokensCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum TokensCommand {
    /// List stored tokens (their ids are hash prefixes; tokens themselves are never stored).
    List(ConfigArg),
    /// Revoke a token (and its grant) by id (at least 8 hex digits of its hash).
    Revoke(NamedArg),
    /// Remove expired and revoked tokens and expired codes.
    Purge(ConfigArg),
}

#[derive(Debug, clap::Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    pub command: UsersCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum UsersCommand {
    /// Print an argon2id hash of the password read from stdin (for `password_hash`).
    Hash,
    /// Add or update a resource owner; the password is read from stdin.
    Add(NamedArg),
    /// List resource owners.
    List(ConfigArg),
    /// Remove a resource owner.
    Remove(NamedArg),
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start a runtime")
}

/// Open the store of a configuration file and sync the configured clients and users.
fn open(rt: &tokio::runtime::Runtime, config: &Path) -> anyhow::Result<Arc<dyn AdminStore>> {
    let loaded = match synaptic_gateway::config::load(config) {
        Ok(l) => l,
        Err(synaptic_gateway::config::ConfigError::Invalid { diagnostics, .. }) => {
            let msgs: Vec<String> = diagnostics.iter().map(|d| d.message.clone()).collect();
            bail!("{} is invalid: {}", config.display(), msgs.join("; "))
        }
        Err(e) => return Err(e).with_context(|| format!("cannot load {}", config.display())),
    };
    let store = authserver::open_store(&loaded.config)?;
    if let Some(ac) = &loaded.config.auth_server {
        rt.block_on(authserver::sync_config(store.as_ref(), ac))?;
    }
    Ok(store)
}

fn read_secret_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read stdin")?;
    let s = line.trim_end_matches(['\n', '\r']).to_string();
    if s.is_empty() {
        bail!("empty input on stdin");
    }
    Ok(s)
}

fn fmt_time(t: Option<i64>) -> String {
    match t {
        None => "never".into(),
        Some(t) => {
            // civil-from-days (H. Hinnant), UTC
            let days = t.div_euclid(86_400);
            let secs = t.rem_euclid(86_400);
            let z = days + 719_468;
            let era = z.div_euclid(146_097);
            let doe = z - era * 146_097;
            let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
            let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
            let mp = (5 * doy + 2) / 153;
            let d = doy - (153 * mp + 2) / 5 + 1;
            let m = if mp < 10 { mp + 3 } else { mp - 9 };
            let y = yoe + era * 400 + i64::from(m <= 2);
            format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
                secs / 3600,
                secs % 3600 / 60,
                secs % 60
            )
        }
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub fn clients(
    args: ClientsArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    match args.command {
        ClientsCommand::Add(a) => {
            let store = open(&rt, &a.config.config)?;
            let mut grants = Vec::new();
            for g in &a.grants {
                grants.push(GrantType::parse(g).with_context(|| format!("unknown grant {g:?}"))?);
            }
            if grants.is_empty() {
                grants.push(if a.public {
                    GrantType::AuthorizationCode
                } else {
                    GrantType::ClientCredentials
                });
            }
            let (secret_hash, shown) = if a.public {
                if a.secret_stdin {
                    bail!("--public and --secret-stdin are exclusive");
                }
                (None, None)
            } else if a.secret_stdin {
                let s = read_secret_line()?;
                (
                    Some(hash_password(&s).context("cannot hash the secret")?),
                    None,
                )
            } else {
                let s = random_token("");
                (Some(hash_generated_secret(s.expose())), Some(s))
            };
            let cfg = authserver::config::ClientConfig {
                id: a.id.clone(),
                name: a.name.clone(),
                secret: None,
                secret_env: None,
                secret_hash: None,
                grants: grants.iter().map(|g| g.as_str().to_string()).collect(),
                redirect_uris: a.redirect_uris.clone(),
                scopes: a.scopes.clone(),
                token_lifetime: Some(a.token_lifetime),
                refresh_limit: Some(a.refresh_limit),
                introspect_any: false,
            };
            // validate like a configured client, then set the secret
            let probe = authserver::config::ClientConfig {
                secret: secret_hash.as_ref().map(|_| "probe".to_string()),
                ..cfg.clone()
            };
            let mut client: Client = authserver::client_from_config(&probe, None)?;
            client.secret_hash = secret_hash;
            if rt.block_on(store.client(&a.id))?.is_some() {
                bail!("client {:?} exists; remove it first", a.id);
            }
            rt.block_on(store.put_client_from(&client, authserver::sqlite::SOURCE_CLI))?;
            writeln!(out, "client {} added", client.id)?;
            if let Some(s) = shown {
                writeln!(out, "secret: {}", s.expose())?;
                writeln!(err, "the secret is shown once; only its hash is stored")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        ClientsCommand::List(c) => {
            let store = open(&rt, &c.config)?;
            let list = rt.block_on(store.clients())?;
            writeln!(
                out,
                "{:<24} {:<12} {:<8} {:<8} {:<40} SCOPES",
                "ID", "TYPE", "LIFETIME", "REFRESH", "GRANTS"
            )?;
            for c in list {
                let grants: Vec<&str> = c.grants.iter().map(|g| g.as_str()).collect();
                writeln!(
                    out,
                    "{:<24} {:<12} {:<8} {:<8} {:<40} {}",
                    c.id,
                    if c.is_public() {
                        "public"
                    } else {
                        "confidential"
                    },
                    c.token_lifetime,
                    c.refresh_limit,
                    grants.join(","),
                    c.scopes.join(" ")
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        ClientsCommand::Remove(n) => {
            let store = open(&rt, &n.config.config)?;
            if rt
                .block_on(store.client_ids_from(authserver::sqlite::SOURCE_CONFIG))?
                .contains(&n.name)
            {
                writeln!(
                    err,
                    "warning: {} is configured in the file and comes back at the next start",
                    n.name
                )?;
            }
            if rt.block_on(store.remove_client(&n.name))? {
                writeln!(out, "client {} removed, its tokens revoked", n.name)?;
                Ok(ExitCode::SUCCESS)
            } else {
                writeln!(err, "no client {}", n.name)?;
                Ok(ExitCode::from(1))
            }
        }
    }
}

pub fn tokens(
    args: TokensArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    let now = unix_now();
    match args.command {
        TokensCommand::List(c) => {
            let store = open(&rt, &c.config)?;
            writeln!(
                out,
                "{:<16} {:<8} {:<20} {:<12} {:<21} {:<8} SCOPE",
                "ID", "KIND", "CLIENT", "USER", "EXPIRES", "STATE"
            )?;
            for t in rt.block_on(store.tokens())? {
                let state = if t.revoked {
                    "revoked"
                } else if t.consumed {
                    "rotated"
                } else if t.expires_at.is_some_and(|e| e <= now) {
                    "expired"
                } else {
                    "active"
                };
                writeln!(
                    out,
                    "{:<16} {:<8} {:<20} {:<12} {:<21} {:<8} {}",
                    &t.hash[..16.min(t.hash.len())],
                    match t.kind {
                        TokenKind::Access => "access",
                        TokenKind::Refresh => "refresh",
                    },
                    t.client_id,
                    t.username.as_deref().unwrap_or("-"),
                    fmt_time(t.expires_at),
                    state,
                    t.scopes.join(" ")
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        TokensCommand::Revoke(n) => {
            let store = open(&rt, &n.config.config)?;
            let families = rt.block_on(store.revoke_prefix(&n.name, now))?;
            if families == 0 {
                writeln!(err, "no token with id {}", n.name)?;
                return Ok(ExitCode::from(1));
            }
            writeln!(out, "revoked {families} grant(s)")?;
            Ok(ExitCode::SUCCESS)
        }
        TokensCommand::Purge(c) => {
            let store = open(&rt, &c.config)?.into_store();
            let server =
                AuthServer::new(store, std::sync::Arc::new(SystemClock), Settings::default());
            let n = rt.block_on(server.purge())?;
            writeln!(out, "removed {n} expired or revoked token(s)")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn users(
    args: UsersArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    match args.command {
        UsersCommand::Hash => {
            let pw = read_secret_line()?;
            writeln!(out, "{}", hash_password(&pw).context("cannot hash")?)?;
            Ok(ExitCode::SUCCESS)
        }
        UsersCommand::Add(n) => {
            let store = open(&rt, &n.config.config)?;
            let pw = read_secret_line()?;
            let user = User {
                name: n.name.clone(),
                password_hash: hash_password(&pw).context("cannot hash")?,
            };
            rt.block_on(store.put_user_from(&user, authserver::sqlite::SOURCE_CLI))?;
            writeln!(out, "user {} saved", n.name)?;
            Ok(ExitCode::SUCCESS)
        }
        UsersCommand::List(c) => {
            let store = open(&rt, &c.config)?;
            for u in rt.block_on(store.users())? {
                writeln!(out, "{}", u.name)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        UsersCommand::Remove(n) => {
            let store = open(&rt, &n.config.config)?;
            if rt.block_on(store.remove_user(&n.name))? {
                writeln!(out, "user {} removed", n.name)?;
                Ok(ExitCode::SUCCESS)
            } else {
                writeln!(err, "no user {}", n.name)?;
                Ok(ExitCode::from(1))
            }
        }
    }
}
