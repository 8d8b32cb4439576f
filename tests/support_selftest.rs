//! Tests of the test support library itself (`tests/src/`): the launchers start real servers,
//! stop them, and leave nothing behind.

use std::time::Duration;

use synaptic_tests::origin::{MockOrigin, MockResponse, RecordingProxy};
use synaptic_tests::peers::{self, Peer, PeerKind, PeerOptions};
use synaptic_tests::redis::{ping, RedisServer};
use synaptic_tests::{free_port, process};

fn pid_alive(pid: u32) -> bool {
    // /proc/PID exists and is not a zombie.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(") ")
            .map(|(_, rest)| rest.starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

fn wait_dead(pid: u32) -> bool {
    for _ in 0..100 {
        if !pid_alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn free_port_is_bindable() {
    let p = free_port();
    assert!(p > 0);
    let l = std::net::TcpListener::bind(("127.0.0.1", p));
    assert!(l.is_ok(), "port {p} should be free: {l:?}");
}

#[test]
fn redis_starts_stops_restarts_on_the_same_port() {
    let mut r = RedisServer::start();
    let port = r.port();
    assert!(r.is_up());
    assert_eq!(r.url(), format!("redis://127.0.0.1:{port}/0"));
    let pid = r.pid().expect("running");

    // Data written through the redis crate is visible.
    let client = redis::Client::open(r.url()).expect("client");
    let mut con = client.get_connection().expect("connect");
    redis::cmd("SET")
        .arg("k")
        .arg("v")
        .exec(&mut con)
        .expect("SET");
    let v: String = redis::cmd("GET").arg("k").query(&mut con).expect("GET");
    assert_eq!(v, "v");

    r.stop();
    assert!(wait_dead(pid), "redis pid {pid} still alive after stop");
    assert!(!ping(port));
    assert!(r.pid().is_none());

    r.restart();
    assert_eq!(r.port(), port, "restart keeps the port");
    assert!(r.is_up());
    let pid2 = r.pid().expect("running again");
    assert_ne!(pid, pid2);
    // No persistence: the data is gone.
    let mut con = client.get_connection().expect("reconnect");
    let v: Option<String> = redis::cmd("GET").arg("k").query(&mut con).expect("GET");
    assert_eq!(v, None);

    r.kill();
    assert!(wait_dead(pid2));
    r.restart();
    assert!(r.is_up());
    let pid3 = r.pid().expect("running");
    drop(r);
    assert!(wait_dead(pid3), "drop kills redis");
    assert!(!ping(port));
}

#[test]
fn two_redis_servers_are_independent() {
    let a = RedisServer::start();
    let b = RedisServer::start();
    assert_ne!(a.port(), b.port());
    assert!(a.is_up() && b.is_up());
}

#[tokio::test]
async fn authlib_issues_a_client_credentials_token_and_protects_its_resource() {
    let peer = peers::authlib();
    assert_eq!(peer.kind(), PeerKind::Authlib);
    let c = peer.client();
    let http = reqwest::Client::new();
    let resp = http
        .post(peer.token_url())
        .basic_auth(c.id, Some(c.secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "view")])
        .send()
        .await
        .expect("token request");
    assert_eq!(resp.status(), 200);
    let tok: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(tok["token_type"], "Bearer");
    assert_eq!(tok["expires_in"], 3600);
    let at = tok["access_token"]
        .as_str()
        .expect("access_token")
        .to_string();

    let resource = peer.resource_url().expect("authlib has a resource");
    let ok = http
        .get(&resource)
        .bearer_auth(&at)
        .send()
        .await
        .expect("GET");
    assert_eq!(ok.status(), 200);
    let missing = http.get(&resource).send().await.expect("GET");
    assert_eq!(missing.status(), 401);

    // Revoked at the server: the resource refuses it.
    let rv = http
        .post(peer.revocation_url())
        .basic_auth(c.id, Some(c.secret))
        .form(&[("token", at.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(rv.status(), 200);
    let revoked = http
        .get(&resource)
        .bearer_auth(&at)
        .send()
        .await
        .expect("GET");
    assert_eq!(revoked.status(), 401);

    // Wrong secret is refused.
    let bad = http
        .post(peer.token_url())
        .basic_auth(c.id, Some("nope"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token request");
    assert_eq!(bad.status(), 401);
}

#[tokio::test]
async fn owned_peer_with_short_ttl_stops_and_restarts_on_its_port() {
    let mut peer = Peer::start(
        PeerKind::Authlib,
        PeerOptions {
            token_ttl: Some(7),
            ..PeerOptions::default()
        },
    );
    let port = peer.port();
    let c = peer.client();
    let http = reqwest::Client::new();
    let tok: serde_json::Value = http
        .post(peer.token_url())
        .basic_auth(c.id, Some(c.secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    assert_eq!(tok["expires_in"], 7);

    let pid = peer.pid().expect("running");
    peer.stop();
    assert!(wait_dead(pid));
    assert!(!peer.is_up());
    assert!(
        http.post(peer.token_url()).send().await.is_err(),
        "connection refused while stopped"
    );
    peer.restart();
    assert_eq!(peer.port(), port);
    assert!(peer.is_up());
    let pid2 = peer.pid().expect("running");
    drop(peer);
    assert!(wait_dead(pid2), "drop kills the peer");
}

#[tokio::test]
async fn dot_and_oidc_issue_tokens_with_their_seeded_clients() {
    let http = reqwest::Client::new();
    for peer in [peers::dot(), peers::oidc()] {
        let c = peer.client();
        let resp = http
            .post(peer.token_url())
            .basic_auth(c.id, Some(c.secret))
            .form(&[("grant_type", "client_credentials"), ("scope", "view")])
            .send()
            .await
            .expect("token request");
        assert_eq!(resp.status(), 200, "{:?}", peer.kind());
        let tok: serde_json::Value = resp.json().await.expect("json");
        let at = tok["access_token"].as_str().expect("access_token");

        let i = peer.introspector();
        let intro: serde_json::Value = http
            .post(peer.introspection_url())
            .basic_auth(i.id, Some(i.secret))
            .form(&[("token", at)])
            .send()
            .await
            .expect("introspect")
            .json()
            .await
            .expect("json");
        assert_eq!(intro["active"], true, "{:?}: {intro}", peer.kind());

        let p = peer.password_client();
        let (user, pass) = peers::USER;
        let pw = http
            .post(peer.token_url())
            .basic_auth(p.id, Some(p.secret))
            .form(&[
                ("grant_type", "password"),
                ("username", user),
                ("password", pass),
                ("scope", "view book"),
            ])
            .send()
            .await
            .expect("password grant");
        assert_eq!(pw.status(), 200, "{:?}", peer.kind());
    }
}

#[tokio::test]
async fn oidc_jwt_issues_jwt_access_tokens() {
    let peer = peers::oidc_jwt();
    let c = peer.client();
    let tok: serde_json::Value = reqwest::Client::new()
        .post(peer.token_url())
        .basic_auth(c.id, Some(c.secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "view")])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let at = tok["access_token"].as_str().expect("access_token");
    assert_eq!(at.split('.').count(), 3, "a JWT: {at}");
    let jwks: serde_json::Value = reqwest::get(peer.jwks_url().expect("jwks"))
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    assert!(jwks["keys"].as_array().is_some_and(|k| !k.is_empty()));
}

#[tokio::test]
async fn mock_origin_records_requests_and_answers_from_the_closure() {
    let origin = MockOrigin::start(|r| {
        if r.path() == "/slow" {
            MockResponse::text("late").delay(Duration::from_millis(50))
        } else if r.path() == "/broken" {
            MockResponse::aborted()
        } else {
            MockResponse::json(201, &serde_json::json!({"got": r.body_str()}))
                .header("x-origin", "mock")
        }
    })
    .await;
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{}/a/b?x=1&y=%20", origin.url()))
        .header("x-test", "yes")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=view+book")
        .send()
        .await
        .expect("POST");
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["x-origin"], "mock");
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["got"], "grant_type=client_credentials&scope=view+book");

    let reqs = origin.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, http::Method::POST);
    assert_eq!(r.uri, "/a/b?x=1&y=%20");
    assert_eq!(r.path(), "/a/b");
    assert_eq!(r.query(), Some("x=1&y=%20"));
    assert_eq!(r.header("x-test"), Some("yes"));
    assert_eq!(
        r.form(),
        vec![
            ("grant_type".to_string(), "client_credentials".to_string()),
            ("scope".to_string(), "view book".to_string())
        ]
    );

    let slow = http
        .get(format!("{}/slow", origin.url()))
        .send()
        .await
        .expect("GET");
    assert_eq!(slow.text().await.expect("text"), "late");
    assert!(http
        .get(format!("{}/broken", origin.url()))
        .send()
        .await
        .is_err());
    assert!(origin.wait_for(3, Duration::from_secs(5)).await);
    assert_eq!(origin.count(), 3);
    origin.clear();
    assert_eq!(origin.count(), 0);

    let addr = origin.addr();
    drop(origin);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "stopped origin refuses connections"
    );
}

#[tokio::test]
async fn recording_proxy_counts_token_requests_to_a_real_peer_and_can_fail_them() {
    let peer = peers::authlib();
    let proxy = RecordingProxy::start(&peer.base_url()).await;
    let c = peer.client();
    let http = reqwest::Client::new();
    for _ in 0..3 {
        let resp = http
            .post(proxy.url_for("/oauth/token"))
            .basic_auth(c.id, Some(c.secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("token via proxy");
        assert_eq!(resp.status(), 200);
        let tok: serde_json::Value = resp.json().await.expect("json");
        assert!(tok["access_token"].is_string());
    }
    assert_eq!(proxy.count_path("/oauth/token"), 3);
    let r = &proxy.requests()[0];
    assert_eq!(r.body_str(), "grant_type=client_credentials");
    assert!(r
        .header("authorization")
        .is_some_and(|a| a.starts_with("Basic ")));

    proxy.fail_with(MockResponse::new(503).header("retry-after", "1"));
    let resp = http
        .post(proxy.url_for("/oauth/token"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 503);
    proxy.pass();
    let resp = http
        .post(proxy.url_for("/oauth/token"))
        .basic_auth(c.id, Some(c.secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    assert_eq!(proxy.count(), 5);
}

#[test]
fn supervised_child_dies_with_its_parent() {
    // A parent process (bash) starts `sleep` under supervise.sh via a pipe it holds, then is
    // SIGKILLed; the sleep must die too (no orphan), because the pipe reaches EOF.
    let dir = tempfile::tempdir().expect("tmp");
    let pidfile = dir.path().join("pid");
    let script = synaptic_tests::workspace_root().join("tests/peers/supervise.sh");
    let parent = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "exec 4> >(bash {} {}/log sleep 300 > {}); exec sleep 300",
            script.display(),
            dir.path().display(),
            pidfile.display()
        ))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn parent");
    let mut child_pid = None;
    for _ in 0..100 {
        if let Some(p) = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
        {
            child_pid = Some(p);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let child_pid = child_pid.expect("supervised sleep started");
    assert!(pid_alive(child_pid));
    process::signal(parent.id(), "KILL");
    let mut parent = parent;
    let _ = parent.wait();
    assert!(
        wait_dead(child_pid),
        "supervised child {child_pid} outlived its parent"
    );
}

#[tokio::test]
async fn gateway_harness_starts_the_gateway_and_proxies_to_a_mock_origin() {
    let origin = MockOrigin::start(|r| MockResponse::text(format!("hello {}", r.uri))).await;
    let config = format!(
        r#"
[[api]]
name = "Hello"
context = "/hello/1.0"
endpoint = "{}/backend"
"#,
        origin.url()
    );
    let gw = synaptic_tests::gateway::start_gateway(&config, &[]).await;
    assert!(gw.dir().config_path().is_file());
    let resp = reqwest::get(gw.url("/hello/1.0/x?y=1")).await.expect("GET");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.expect("body"), "hello /backend/x?y=1");
    assert_eq!(origin.count(), 1);
    let addr = gw.addr();
    let dir = gw.shutdown().await;
    assert!(
        dir.config_path().is_file(),
        "shutdown hands the folder back"
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "a stopped gateway refuses connections"
    );
}

#[test]
fn peers_python_has_the_client_libraries() {
    let out = std::process::Command::new(peers::python())
        .arg("-c")
        .arg("import requests_oauthlib, authlib, oauthlib, requests, httpx; print(authlib.__version__)")
        .output()
        .expect("run the peers' python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1.9.9");
}

#[test]
fn node_scripts_resolve_openid_client_and_get_a_token() {
    let peer = peers::oidc();
    let (ok, stdout, stderr) = peers::run_node_script(
        r#"
import * as client from 'openid-client';
const config = await client.discovery(new URL(process.env.AS), 'gw-client', undefined,
  client.ClientSecretBasic('gw-secret'), { execute: [client.allowInsecureRequests], algorithm: 'oidc' });
const t = await client.clientCredentialsGrant(config, { scope: 'view' });
console.log(t.token_type, t.scope);
"#,
        &[("AS", &peer.base_url())],
    );
    assert!(ok, "node failed:\n{stdout}\n{stderr}");
    assert_eq!(stdout.trim().to_lowercase(), "bearer view");
}
