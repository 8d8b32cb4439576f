//! Two gateway processes sharing Redis make one token request between them, with real
//! processes: two `synaptic serve` OS processes (the real binary) on their own ports and
//! folders, one real `redis-server`, the real Authlib OAuth2 peer as token endpoint behind a
//! recording proxy that counts token requests, and a mock backend that records the
//! `Authorization` header of every request. 50 concurrent cold requests hit each gateway at
//! the same time; exactly one token request may reach the token endpoint.
//!
//! The gateways run under the support library's supervisor (`tests/peers/supervise.sh`): the
//! guard kills each by its pid on drop, and the supervisor kills it if this test process dies.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use synaptic_tests::origin::MockOrigin;
use synaptic_tests::peers::{authlib_bookings_api, counted_authlib};
use synaptic_tests::process::{http_get_status, wait_until, Supervised};
use synaptic_tests::redis::RedisServer;

const SECRET_ENV: &str = "SYNAPTIC_TWO_GW_SECRET";
const KEY_PREFIX: &str = "twogw";
const PER_GATEWAY: usize = 50;

/// One `synaptic serve` child process with its folder. Dropping it kills the process (by pid)
/// and removes the folder.
struct GatewayProcess {
    name: &'static str,
    port: u16,
    proc: Supervised,
    _dir: tempfile::TempDir,
}

impl GatewayProcess {
    /// Write a `synaptic.toml` listening on a free port and start `synaptic serve` on it;
    /// waits (bounded) for `GET /health` to answer 200. Retries with a new port if the port
    /// was taken in between.
    fn start(name: &'static str, backend: &str, token_url: &str, redis_url: &str) -> Self {
        let mut last_err = String::new();
        for _ in 0..3 {
            let dir = tempfile::Builder::new()
                .prefix("synaptic-two-gw-")
                .tempdir()
                .unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
            let port = synaptic_tests::free_port();
            let api = authlib_bookings_api(backend, token_url, SECRET_ENV, "view");
            let config = format!(
                r#"[server]
listen = "127.0.0.1:{port}"
registry = "registry"
watch = false
shutdown_grace = 1

{api}
[redis]
url = "{redis_url}"
key_prefix = "{KEY_PREFIX}"
"#
            );
            let config_path = dir.path().join("synaptic.toml");
            std::fs::write(&config_path, config)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", config_path.display()));
            match Self::spawn(name, port, dir.path(), &config_path) {
                Ok(proc) => {
                    return GatewayProcess {
                        name,
                        port,
                        proc,
                        _dir: dir,
                    }
                }
                Err(e) => last_err = e,
            }
        }
        panic!("gateway {name} did not start after 3 attempts: {last_err}")
    }

    fn spawn(name: &str, port: u16, dir: &Path, config: &Path) -> Result<Supervised, String> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_synaptic"));
        cmd.arg("serve")
            .arg("--config")
            .arg(config)
            .arg("--no-watch")
            .current_dir(dir)
            .env(SECRET_ENV, "gw-secret")
            .env("RUST_LOG", "info");
        let log = dir.join("synaptic.log");
        let mut proc = Supervised::spawn(name, &log, &cmd)?;
        // up to 30 s (600 × 50 ms); gives up at once if the process exits (port taken)
        if wait_until(&mut proc, 600, || {
            http_get_status(port, "/health") == Some(200)
        }) {
            Ok(proc)
        } else {
            let tail = proc.log_tail(4000);
            proc.kill();
            Err(format!(
                "synaptic serve ({name}) on port {port} never answered 200 at /health; log:\n{tail}"
            ))
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn log(&self) -> String {
        self.proc.log_tail(16 * 1024)
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        // SIGKILL by pid, then wait for the supervisor (which has nothing left to kill).
        self.proc.kill();
    }
}

/// The value of `name_and_labels` in a Prometheus text exposition, 0 when absent.
fn metric(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .filter_map(|l| l.strip_prefix(name_and_labels))
        .filter_map(|rest| rest.strip_prefix(' '))
        .filter_map(|v| v.trim().parse::<f64>().ok())
        .sum()
}

async fn get_text(http: &reqwest::Client, url: &str) -> String {
    let r = http
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(r.status().as_u16(), 200, "GET {url}");
    r.text()
        .await
        .unwrap_or_else(|e| panic!("GET {url} body: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_synaptic_processes_share_one_token_through_redis() {
    let redis = RedisServer::start();
    // a peer of this test alone (the count must not see anyone else's token requests)
    let (peer, proxy) = counted_authlib().await;
    let backend = MockOrigin::bearer().await;

    let token_url = proxy.url_for("/oauth/token");
    let (a, b) = tokio::task::block_in_place(|| {
        let a = GatewayProcess::start("synaptic-a", &backend.url(), &token_url, &redis.url());
        let b = GatewayProcess::start("synaptic-b", &backend.url(), &token_url, &redis.url());
        (a, b)
    });
    assert_ne!(a.port, b.port);
    assert_eq!(
        proxy.count(),
        0,
        "no token request before the first API call"
    );

    // 50 concurrent cold requests at each gateway, all at the same time
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_else(|e| panic!("reqwest client: {e}"));
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(2 * PER_GATEWAY));
    let mut tasks = Vec::with_capacity(2 * PER_GATEWAY);
    for i in 0..PER_GATEWAY {
        for (gw, url) in [
            (a.name, a.url(&format!("/bookings/a{i}"))),
            (b.name, b.url(&format!("/bookings/b{i}"))),
        ] {
            let http = http.clone();
            let start = start.clone();
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                match http.get(&url).send().await {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let body = r.text().await.unwrap_or_default();
                        (gw, url, status, body)
                    }
                    Err(e) => (gw, url, 0, e.to_string()),
                }
            }));
        }
    }
    let answers = tokio::time::timeout(Duration::from_secs(60), futures::future::join_all(tasks))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the 100 requests did not finish in 60 s\n--- a:\n{}\n--- b:\n{}",
                a.log(),
                b.log()
            )
        });
    for answer in answers {
        let (gw, url, status, body) = answer.unwrap_or_else(|e| panic!("request task: {e}"));
        assert_eq!(
            (status, body.as_str()),
            (200, "ok"),
            "{gw}: GET {url}\n--- a:\n{}\n--- b:\n{}",
            a.log(),
            b.log()
        );
    }

    // exactly one token request between the two processes
    let token_requests = proxy.requests();
    assert_eq!(
        token_requests.len(),
        1,
        "token endpoint requests: {:?}",
        token_requests.iter().map(|r| r.path()).collect::<Vec<_>>()
    );
    assert_eq!(proxy.count_path("/oauth/token"), 1);
    let form = token_requests[0].form();
    assert!(
        form.contains(&("grant_type".to_string(), "client_credentials".to_string())),
        "{form:?}"
    );

    // the backend saw every request, all with the same bearer token
    let seen = backend.requests();
    assert_eq!(seen.len(), 2 * PER_GATEWAY);
    let auths: std::collections::BTreeSet<&str> = seen
        .iter()
        .map(|r| r.header("authorization").unwrap_or("<none>"))
        .collect();
    assert_eq!(auths.len(), 1, "one token for both gateways: {auths:?}");
    let token = auths
        .iter()
        .next()
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap_or_else(|| panic!("no bearer token: {auths:?}"))
        .to_string();
    assert!(!token.is_empty());
    assert_eq!(
        seen.iter().filter(|r| r.path().starts_with("/a")).count(),
        PER_GATEWAY
    );

    // the token is a real one: the peer says it is active for gw-client
    let introspection = http
        .post(peer.introspection_url())
        .basic_auth("gw-client", Some("gw-secret"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap_or_else(|e| panic!("introspection: {e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("introspection body: {e}"));
    let introspection: serde_json::Value = serde_json::from_str(&introspection)
        .unwrap_or_else(|e| panic!("introspection is not JSON ({e}): {introspection}"));
    assert_eq!(introspection["active"], true, "{introspection}");

    // one process fetched it, the other took it from Redis
    let ma = get_text(&http, &a.url("/metrics")).await;
    let mb = get_text(&http, &b.url("/metrics")).await;
    let fetches = r#"synaptic_backend_token_fetches_total{api="bookings"}"#;
    let shared = r#"synaptic_backend_token_shared_hits_total{api="bookings"}"#;
    let (fa, fb) = (metric(&ma, fetches), metric(&mb, fetches));
    assert_eq!(fa + fb, 1.0, "fetches: a {fa}, b {fb}");
    let other = if fa == 1.0 { &mb } else { &ma };
    assert!(metric(other, shared) >= 1.0, "shared hits:\n{other}");
    for m in [&ma, &mb] {
        assert!(!m.contains(&token) && !m.contains("gw-secret"));
    }

    // Redis holds the one sealed token under the configured prefix, never in clear
    let client = redis::Client::open(redis.url()).unwrap_or_else(|e| panic!("redis url: {e}"));
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("redis connection: {e}"));
    let (_, keys): (u64, Vec<String>) = redis::cmd("SCAN")
        .arg(0)
        .arg("MATCH")
        .arg(format!("{KEY_PREFIX}:oauth:v1:*"))
        .arg("COUNT")
        .arg(1000)
        .query_async(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("SCAN: {e}"));
    let token_keys: Vec<&String> = keys.iter().filter(|k| !k.ends_with(":lock")).collect();
    assert_eq!(token_keys.len(), 1, "{keys:?}");
    let value: String = redis::cmd("GET")
        .arg(token_keys[0])
        .query_async(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("GET: {e}"));
    assert!(value.starts_with("v1."), "{value}");
    assert!(!value.contains(&token), "the token is sealed in Redis");

    drop(a);
    drop(b);
}
