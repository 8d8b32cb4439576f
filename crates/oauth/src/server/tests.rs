//! Grant logic against the in-memory store and a manual clock.

use super::*;
use std::sync::Arc;

fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn basic(id: &str, secret: &str) -> ClientCredentials {
    ClientCredentials {
        id: id.into(),
        secret: Secret::new(secret),
    }
}

const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K8jbKFHeQNb0dNXv-gJsCe_5Mc";
const CHALLENGE: &str = "OQPuZhq9querLlZWwFwKCdDv5Zl4MlwdpAAllyEIKiE";

struct Fx {
    server: Arc<AuthServer>,
    clock: Arc<ManualClock>,
}

async fn fixture() -> Fx {
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(1_000_000));
    let all = vec!["view".to_string(), "book".to_string(), "cancel".to_string()];
    let conf = Client {
        id: "app".into(),
        name: "App".into(),
        secret_hash: Some(secret::hash_generated_secret("s3cr:%+t")),
        grants: GrantType::ALL.to_vec(),
        redirect_uris: vec!["http://127.0.0.1:8080/cb".into()],
        scopes: all.clone(),
        token_lifetime: 3600,
        refresh_limit: 3,
        introspect_any: false,
    };
    let public = Client {
        id: "spa".into(),
        name: "SPA".into(),
        secret_hash: None,
        grants: vec![
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::ClientCredentials,
            GrantType::Password,
        ],
        ..conf.clone()
    };
    let forever = Client {
        id: "forever".into(),
        token_lifetime: -1,
        refresh_limit: 0,
        ..conf.clone()
    };
    let other = Client {
        id: "other".into(),
        ..conf.clone()
    };
    for c in [&conf, &public, &forever, &other] {
        store.upsert_client(c).await.unwrap();
    }
    store
        .upsert_user(&User {
            name: "alice".into(),
            password_hash: secret::hash_generated_secret("wonderland"),
        })
        .await
        .unwrap();
    // the fixture's clients use the password and implicit grants: opt in explicitly
    let settings = Settings {
        legacy_grants: true,
        ..Settings::default()
    };
    let server = Arc::new(AuthServer::new(store, clock.clone(), settings));
    Fx { server, clock }
}

async fn code_for(fx: &Fx, client: &str, challenge: Option<&str>, scope: &str) -> String {
    let mut q = vec![
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", "http://127.0.0.1:8080/cb"),
        ("scope", scope),
        ("state", "xyz"),
    ];
    if let Some(c) = challenge {
        q.push(("code_challenge", c));
        q.push(("code_challenge_method", "S256"));
    }
    let req = fx.server.validate_authorize(&p(&q)).await.unwrap();
    let url = fx
        .server
        .approve(&req, "alice", &req.scopes.clone())
        .await
        .unwrap();
    let u = url::Url::parse(&url).unwrap();
    let pairs: Vec<(String, String)> = u.query_pairs().into_owned().collect();
    assert!(pairs.contains(&("state".into(), "xyz".into())));
    pairs
        .into_iter()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v)
        .unwrap()
}

async fn exchange(
    fx: &Fx,
    code: &str,
    verifier: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let mut q = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", "http://127.0.0.1:8080/cb"),
    ];
    if let Some(v) = verifier {
        q.push(("code_verifier", v));
    }
    fx.server
        .token(&p(&q), Some(&basic("app", "s3cr:%+t")))
        .await
}

/// A password-grant token for alice through `client` (secret `s3cr:%+t`).
async fn alice_token(fx: &Fx, client: &str, scope: Option<&str>) -> TokenResponse {
    let mut q = vec![
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", "wonderland"),
    ];
    if let Some(s) = scope {
        q.push(("scope", s));
    }
    fx.server
        .token(&p(&q), Some(&basic(client, "s3cr:%+t")))
        .await
        .unwrap()
}

async fn refresh(fx: &Fx, rt: &str, scope: Option<&str>) -> Result<TokenResponse, OAuthError> {
    let mut q = vec![("grant_type", "refresh_token"), ("refresh_token", rt)];
    if let Some(s) = scope {
        q.push(("scope", s));
    }
    fx.server
        .token(&p(&q), Some(&basic("app", "s3cr:%+t")))
        .await
}

async fn active(fx: &Fx, at: &str) -> bool {
    fx.server.validate_access(at).await.unwrap().is_some()
}

#[tokio::test]
async fn code_flow_with_pkce() {
    let fx = fixture().await;
    let code = code_for(&fx, "app", Some(CHALLENGE), "view").await;
    let t = exchange(&fx, &code, Some(VERIFIER)).await.unwrap();
    assert_eq!(t.scope, "view");
    assert_eq!(t.expires_in, Some(3600));
    assert!(t.refresh_token.is_some());
    assert!(active(&fx, t.access_token.expose()).await);
}

#[tokio::test]
async fn code_replay_revokes_issued_tokens() {
    let fx = fixture().await;
    let code = code_for(&fx, "app", Some(CHALLENGE), "view").await;
    let t = exchange(&fx, &code, Some(VERIFIER)).await.unwrap();
    let e = exchange(&fx, &code, Some(VERIFIER)).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidGrant);
    assert!(!active(&fx, t.access_token.expose()).await);
    let e = refresh(&fx, t.refresh_token.unwrap().expose(), None)
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidGrant);
}

#[tokio::test]
async fn code_expires_and_is_bound() {
    let fx = fixture().await;
    let code = code_for(&fx, "app", Some(CHALLENGE), "view").await;
    fx.clock.advance(601);
    assert_eq!(
        exchange(&fx, &code, Some(VERIFIER)).await.unwrap_err().code,
        ErrorCode::InvalidGrant
    );
    // another client
    let code = code_for(&fx, "app", Some(CHALLENGE), "view").await;
    let e = fx
        .server
        .token(
            &p(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1:8080/cb"),
                ("code_verifier", VERIFIER),
            ]),
            Some(&basic("other", "s3cr:%+t")),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidGrant);
    // another redirect uri
    let code = code_for(&fx, "app", Some(CHALLENGE), "view").await;
    let e = fx
        .server
        .token(
            &p(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1:8080/cb/"),
                ("code_verifier", VERIFIER),
            ]),
            Some(&basic("app", "s3cr:%+t")),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidGrant);
}

#[tokio::test]
async fn pkce_rules() {
    let fx = fixture().await;
    // a code without a challenge (stored before PKCE was required): neither a verifier
    // (downgrade) nor its absence redeems it
    for (raw, verifier) in [("legacy-code-1", Some(VERIFIER)), ("legacy-code-2", None)] {
        fx.server
            .store()
            .insert_code(&CodeRecord {
                hash: secret::sha256_hex(raw),
                client_id: "app".into(),
                redirect_uri: "http://127.0.0.1:8080/cb".into(),
                username: "alice".into(),
                scopes: vec!["view".into()],
                code_challenge: None,
                family_id: secret::random_id(),
                expires_at: fx.server.now() + 600,
            })
            .await
            .unwrap();
        assert_eq!(
            exchange(&fx, raw, verifier).await.unwrap_err().code,
            ErrorCode::InvalidGrant
        );
    }
    // challenge without verifier
    let code = code_for(&fx, "app", Some(CHALLENGE), "view").await;
    assert_eq!(
        exchange(&fx, &code, None).await.unwrap_err().code,
        ErrorCode::InvalidGrant
    );
    // wrong verifier
    let code = code_for(&fx, "app", Some(CHALLENGE), "view").await;
    let wrong = "a".repeat(43);
    assert_eq!(
        exchange(&fx, &code, Some(&wrong)).await.unwrap_err().code,
        ErrorCode::InvalidGrant
    );
    // plain refused; public and confidential clients both need PKCE
    for client in ["spa", "app"] {
        let base = [
            ("response_type", "code"),
            ("client_id", client),
            ("redirect_uri", "http://127.0.0.1:8080/cb"),
        ];
        let mut plain = base.to_vec();
        plain.push(("code_challenge", VERIFIER));
        plain.push(("code_challenge_method", "plain"));
        for q in [base.to_vec(), plain] {
            match fx.server.validate_authorize(&p(&q)).await {
                Err(AuthorizeError::Redirect(u)) => {
                    assert!(u.contains("error=invalid_request"), "{client}: {u}")
                }
                other => panic!("{other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn public_client_code_flow() {
    let fx = fixture().await;
    let code = code_for(&fx, "spa", Some(CHALLENGE), "view book").await;
    let t = fx
        .server
        .token(
            &p(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1:8080/cb"),
                ("client_id", "spa"),
                ("code_verifier", VERIFIER),
            ]),
            None,
        )
        .await
        .unwrap();
    assert_eq!(t.scope, "view book");
    // public clients: no client credentials, no password
    for g in [
        vec![("grant_type", "client_credentials"), ("client_id", "spa")],
        vec![
            ("grant_type", "password"),
            ("client_id", "spa"),
            ("username", "alice"),
            ("password", "wonderland"),
        ],
    ] {
        let e = fx.server.token(&p(&g), None).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::UnauthorizedClient);
    }
}

#[tokio::test]
async fn redirect_uri_exact_match() {
    let fx = fixture().await;
    for bad in [
        "http://127.0.0.1:8080/cb/",
        "http://127.0.0.1:8080/CB",
        "http://127.0.0.1:8080/cb/../x",
        "http://127.0.0.1:8080/cb%2f..",
        "http://127.0.0.1:8080/cb?x=1",
        "http://127.0.0.1:8080/cb#f",
        "http://127.0.0.1:8080@evil/cb",
        "http://127.0.0.1:8080%40evil/cb",
        "http://127.0.0.1:8080.evil/cb",
        "http://127.0.0.1:8081/cb",
        "https://127.0.0.1:8080/cb",
        "HTTP://127.0.0.1:8080/cb",
        " http://127.0.0.1:8080/cb",
    ] {
        let q = p(&[
            ("response_type", "code"),
            ("client_id", "app"),
            ("redirect_uri", bad),
        ]);
        assert!(
            matches!(
                fx.server.validate_authorize(&q).await,
                Err(AuthorizeError::Page(_))
            ),
            "{bad}"
        );
    }
    let q = p(&[
        ("response_type", "code"),
        ("client_id", "nope"),
        ("redirect_uri", "http://evil/cb"),
    ]);
    assert!(matches!(
        fx.server.validate_authorize(&q).await,
        Err(AuthorizeError::Page(_))
    ));
}

#[tokio::test]
async fn refresh_rotation_and_reuse_revokes_family() {
    let fx = fixture().await;
    let t = alice_token(&fx, "app", Some("view book")).await;
    let rt1 = t.refresh_token.clone().unwrap();
    let t2 = refresh(&fx, rt1.expose(), None).await.unwrap();
    assert_ne!(t2.refresh_token.as_ref().unwrap(), &rt1);
    assert!(active(&fx, t2.access_token.expose()).await);
    // reuse of rt1
    assert_eq!(
        refresh(&fx, rt1.expose(), None).await.unwrap_err().code,
        ErrorCode::InvalidGrant
    );
    assert!(!active(&fx, t2.access_token.expose()).await);
    assert!(!active(&fx, t.access_token.expose()).await);
    assert_eq!(
        refresh(&fx, t2.refresh_token.unwrap().expose(), None)
            .await
            .unwrap_err()
            .code,
        ErrorCode::InvalidGrant
    );
}

#[tokio::test]
async fn refresh_scope_narrow_and_widen() {
    let fx = fixture().await;
    let t = alice_token(&fx, "app", Some("view book")).await;
    let e = refresh(
        &fx,
        t.refresh_token.as_ref().unwrap().expose(),
        Some("view cancel"),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidScope);
    // not burnt by the refused widening
    let t2 = refresh(
        &fx,
        t.refresh_token.as_ref().unwrap().expose(),
        Some("view"),
    )
    .await
    .unwrap();
    assert_eq!(t2.scope, "view");
    // the family keeps view + book
    let t3 = refresh(&fx, t2.refresh_token.as_ref().unwrap().expose(), None)
        .await
        .unwrap();
    assert_eq!(t3.scope, "view book");
}

#[tokio::test]
async fn refresh_limit() {
    let fx = fixture().await;
    let t = alice_token(&fx, "app", None).await;
    let mut rt = t.refresh_token.unwrap();
    for i in 0..3 {
        let n = refresh(&fx, rt.expose(), None).await.unwrap();
        match n.refresh_token {
            Some(r) => rt = r,
            None => assert_eq!(i, 2, "the last allowed refresh returns no refresh token"),
        }
    }
    assert_eq!(
        refresh(&fx, rt.expose(), None).await.unwrap_err().code,
        ErrorCode::InvalidGrant
    );
}

#[tokio::test]
async fn parallel_refresh_exactly_one_wins() {
    let fx = fixture().await;
    let t = alice_token(&fx, "app", None).await;
    let rt = t.refresh_token.unwrap().expose().to_string();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let server = fx.server.clone();
        let rt = rt.clone();
        set.spawn(async move {
            server
                .token(
                    &p(&[("grant_type", "refresh_token"), ("refresh_token", &rt)]),
                    Some(&basic("app", "s3cr:%+t")),
                )
                .await
                .is_ok()
        });
    }
    let mut ok = 0;
    while let Some(r) = set.join_next().await {
        ok += usize::from(r.unwrap());
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn lifetime_minus_one_and_refresh_limit_zero() {
    let fx = fixture().await;
    let t = alice_token(&fx, "forever", None).await;
    assert_eq!(t.expires_in, None);
    assert!(t.refresh_token.is_none());
    assert!(!t.to_json().contains("expires_in"));
    fx.clock.advance(10 * 365 * 24 * 3600);
    let caller = fx.server.store().client("forever").await.unwrap().unwrap();
    let i = fx
        .server
        .introspect(&caller, t.access_token.expose())
        .await
        .unwrap();
    let j = i.to_json(None);
    assert!(
        j.contains("\"active\":true") && !j.contains("\"exp\""),
        "{j}"
    );
}

#[tokio::test]
async fn client_credentials_never_refresh_and_scope() {
    let fx = fixture().await;
    let t = fx
        .server
        .token(
            &p(&[("grant_type", "client_credentials"), ("scope", "view")]),
            Some(&basic("app", "s3cr:%+t")),
        )
        .await
        .unwrap();
    assert!(t.refresh_token.is_none());
    assert_eq!(t.scope, "view");
    let e = fx
        .server
        .token(
            &p(&[("grant_type", "client_credentials"), ("scope", "admin")]),
            Some(&basic("app", "s3cr:%+t")),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidScope);
}

#[tokio::test]
async fn client_authentication() {
    let fx = fixture().await;
    let cc = p(&[("grant_type", "client_credentials")]);
    let unknown = fx
        .server
        .token(&cc, Some(&basic("ghost", "x")))
        .await
        .unwrap_err();
    let wrong = fx
        .server
        .token(&cc, Some(&basic("app", "x")))
        .await
        .unwrap_err();
    assert_eq!(unknown, wrong);
    assert_eq!(unknown.code, ErrorCode::InvalidClient);
    // two methods
    let both = p(&[
        ("grant_type", "client_credentials"),
        ("client_secret", "s3cr:%+t"),
    ]);
    assert_eq!(
        fx.server
            .token(&both, Some(&basic("app", "s3cr:%+t")))
            .await
            .unwrap_err()
            .code,
        ErrorCode::InvalidRequest
    );
    // body credentials
    let body = p(&[
        ("grant_type", "client_credentials"),
        ("client_id", "app"),
        ("client_secret", "s3cr:%+t"),
    ]);
    assert!(fx.server.token(&body, None).await.is_ok());
    // repeated parameter
    let rep = p(&[
        ("grant_type", "client_credentials"),
        ("grant_type", "client_credentials"),
    ]);
    assert_eq!(
        fx.server
            .token(&rep, Some(&basic("app", "s3cr:%+t")))
            .await
            .unwrap_err()
            .code,
        ErrorCode::InvalidRequest
    );
}

#[tokio::test]
async fn password_lockout() {
    let fx = fixture().await;
    let bad = p(&[
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", "nope"),
    ]);
    for _ in 0..5 {
        assert_eq!(
            fx.server
                .token(&bad, Some(&basic("app", "s3cr:%+t")))
                .await
                .unwrap_err()
                .code,
            ErrorCode::InvalidGrant
        );
    }
    let good = p(&[
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", "wonderland"),
    ]);
    assert_eq!(
        fx.server
            .token(&good, Some(&basic("app", "s3cr:%+t")))
            .await
            .unwrap_err()
            .code,
        ErrorCode::InvalidGrant
    );
    fx.clock.advance(901);
    assert!(fx
        .server
        .token(&good, Some(&basic("app", "s3cr:%+t")))
        .await
        .is_ok());
}

#[tokio::test]
async fn revocation_and_introspection_rules() {
    let fx = fixture().await;
    let t = alice_token(&fx, "app", None).await;
    let app = fx.server.store().client("app").await.unwrap().unwrap();
    let other = fx.server.store().client("other").await.unwrap().unwrap();
    // introspection by another client: inactive; refresh tokens never active
    assert_eq!(
        fx.server
            .introspect(&other, t.access_token.expose())
            .await
            .unwrap(),
        Introspection::Inactive
    );
    assert_eq!(
        fx.server
            .introspect(&app, t.refresh_token.as_ref().unwrap().expose())
            .await
            .unwrap(),
        Introspection::Inactive
    );
    assert!(matches!(
        fx.server
            .introspect(&app, t.access_token.expose())
            .await
            .unwrap(),
        Introspection::Active { .. }
    ));
    // another client's revocation is a no-op
    fx.server
        .revoke(&other, t.access_token.expose())
        .await
        .unwrap();
    assert!(active(&fx, t.access_token.expose()).await);
    // unknown token: ok
    fx.server.revoke(&app, "nope").await.unwrap();
    // revoking the refresh token revokes the access token
    fx.server
        .revoke(&app, t.refresh_token.as_ref().unwrap().expose())
        .await
        .unwrap();
    assert!(!active(&fx, t.access_token.expose()).await);
    assert_eq!(Introspection::Inactive.to_json(None), r#"{"active":false}"#);
}

#[tokio::test]
async fn implicit_only_when_enabled() {
    let fx = fixture().await;
    let q = p(&[
        ("response_type", "token"),
        ("client_id", "spa"),
        ("redirect_uri", "http://127.0.0.1:8080/cb"),
        ("state", "s"),
    ]);
    match fx.server.validate_authorize(&q).await {
        Err(AuthorizeError::Redirect(u)) => {
            assert!(u.contains("#error=unauthorized_client"), "{u}")
        }
        other => panic!("{other:?}"),
    }
    let q = p(&[
        ("response_type", "token"),
        ("client_id", "app"),
        ("redirect_uri", "http://127.0.0.1:8080/cb"),
        ("state", "s"),
    ]);
    let req = fx.server.validate_authorize(&q).await.unwrap();
    let url = fx
        .server
        .approve(&req, "alice", &["view".to_string()])
        .await
        .unwrap();
    assert!(
        url.starts_with("http://127.0.0.1:8080/cb#access_token="),
        "{url}"
    );
    assert!(url.ends_with("&state=s"));
    let denied = req.deny();
    assert_eq!(
        denied,
        "http://127.0.0.1:8080/cb#error=access_denied&state=s"
    );
}

#[tokio::test]
async fn purge_removes_expired_and_revoked_only() {
    let fx = fixture().await;
    let cc = p(&[("grant_type", "client_credentials")]);
    let live = fx
        .server
        .token(&cc, Some(&basic("forever", "s3cr:%+t")))
        .await
        .unwrap();
    let revoked = fx
        .server
        .token(&cc, Some(&basic("app", "s3cr:%+t")))
        .await
        .unwrap();
    let app = fx.server.store().client("app").await.unwrap().unwrap();
    fx.server
        .revoke(&app, revoked.access_token.expose())
        .await
        .unwrap();
    let expiring = fx
        .server
        .token(&cc, Some(&basic("other", "s3cr:%+t")))
        .await
        .unwrap();
    assert_eq!(fx.server.purge().await.unwrap(), 1);
    fx.clock.advance(3601);
    assert!(!active(&fx, expiring.access_token.expose()).await);
    assert_eq!(fx.server.purge().await.unwrap(), 1);
    assert!(active(&fx, live.access_token.expose()).await);
    assert_eq!(fx.server.store().tokens().await.unwrap().len(), 1);
}

/// A fixture whose user and confidential client have argon2 (slow) hashes.
async fn slow_fixture(hashing: gate::GateLimits) -> Arc<AuthServer> {
    let store = Arc::new(MemoryStore::new());
    store
        .upsert_client(&Client {
            id: "slow".into(),
            name: "Slow".into(),
            secret_hash: Some(secret::hash_password("right-secret").unwrap()),
            grants: vec![GrantType::ClientCredentials, GrantType::Password],
            redirect_uris: vec![],
            scopes: vec!["view".into()],
            token_lifetime: 3600,
            refresh_limit: 0,
            introspect_any: false,
        })
        .await
        .unwrap();
    store
        .upsert_user(&User {
            name: "alice".into(),
            password_hash: secret::hash_password("wonderland").unwrap(),
        })
        .await
        .unwrap();
    let settings = Settings {
        hashing,
        legacy_grants: true,
        ..Settings::default()
    };
    Arc::new(AuthServer::new(
        store,
        Arc::new(ManualClock::new(1_000_000)),
        settings,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_wrong_passwords_cannot_outrun_the_lockout() {
    // 30 wrong passwords and then the right one, all at once, lockout after 5
    let server = slow_fixture(gate::GateLimits {
        concurrency: 2,
        queue: 100,
        max_wait: std::time::Duration::from_secs(120),
    })
    .await;
    let mut tasks = Vec::new();
    for i in 0..31 {
        let s = server.clone();
        let pw = if i == 30 { "wonderland" } else { "wrong" };
        tasks.push(tokio::spawn(async move {
            s.authenticate_user("alice", pw).await
        }));
    }
    let results: Vec<bool> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    assert!(!results[30], "the right password got in during the burst");
    assert!(results.iter().all(|ok| !ok));
    // at most the allowed attempts were hashed, the rest failed without hashing
    assert!(server.hash_gate().peak() <= 2);
    // and the account stays locked for the right password afterwards
    assert!(!server
        .authenticate_user("alice", "wonderland")
        .await
        .unwrap());
}

#[tokio::test]
async fn the_right_password_within_the_allowed_attempts_logs_in() {
    let server = slow_fixture(gate::GateLimits::default()).await;
    for _ in 0..4 {
        assert!(!server.authenticate_user("alice", "wrong").await.unwrap());
    }
    assert!(server
        .authenticate_user("alice", "wonderland")
        .await
        .unwrap());
    // success resets the count
    for _ in 0..4 {
        assert!(!server.authenticate_user("alice", "wrong").await.unwrap());
    }
    assert!(server
        .authenticate_user("alice", "wonderland")
        .await
        .unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_wrong_client_secrets_hash_a_few_at_a_time() {
    let server = slow_fixture(gate::GateLimits {
        concurrency: 2,
        queue: 8,
        max_wait: std::time::Duration::from_secs(120),
    })
    .await;
    let body = p(&[("grant_type", "client_credentials")]);
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (s, b) = (server.clone(), body.clone());
            tokio::spawn(async move { s.token(&b, Some(&basic("slow", "wrong"))).await })
        })
        .collect();
    let mut busy = 0;
    for t in tasks {
        let e = t.await.unwrap().unwrap_err();
        match e.code {
            ErrorCode::TemporarilyUnavailable => busy += 1,
            ErrorCode::InvalidClient => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        server.hash_gate().peak() <= 2,
        "{}",
        server.hash_gate().peak()
    );
    assert!(busy >= 100 - 2 - 8, "busy {busy}");
    // afterwards the right secret works
    assert!(server
        .token(&body, Some(&basic("slow", "right-secret")))
        .await
        .is_ok());
}

#[tokio::test]
async fn scope_lists_are_bounded_and_linear() {
    let fx = fixture().await;
    // 120,000 scope words: refused at once, not de-duplicated quadratically
    let many = vec!["view"; 120_000].join(" ");
    let start = tokio::time::Instant::now();
    let e = fx
        .server
        .token(
            &p(&[("grant_type", "client_credentials"), ("scope", &many)]),
            Some(&basic("app", "s3cr:%+t")),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidScope);
    assert!(start.elapsed() < std::time::Duration::from_secs(2));
    assert!(parse_scope(&vec!["a"; MAX_SCOPES].join(" ")).is_some());
    assert!(parse_scope(&vec!["a"; MAX_SCOPES + 1].join(" ")).is_none());
    assert!(parse_scope(&"x".repeat(MAX_SCOPE_LEN)).is_some());
    assert!(parse_scope(&"x".repeat(MAX_SCOPE_LEN + 1)).is_none());
    assert_eq!(
        parse_scope("b a b c a").unwrap(),
        vec!["b".to_string(), "a".into(), "c".into()]
    );
    // distinct words are linear too (the cap, not the de-duplication, bounds the work)
    let distinct: Vec<String> = (0..MAX_SCOPES).map(|i| format!("s{i}")).collect();
    assert_eq!(parse_scope(&distinct.join(" ")).unwrap(), distinct);
}

#[tokio::test]
async fn overlong_user_names_are_refused_without_being_tracked() {
    let fx = fixture().await;
    let long = "u".repeat(MAX_USERNAME_LEN + 1);
    assert!(!fx.server.authenticate_user(&long, "x").await.unwrap());
    assert!(fx.server.failures.lock().unwrap().is_empty());
    assert!(fx
        .server
        .authenticate_user("alice", "wonderland")
        .await
        .unwrap());
}

/// The fixture's store and clock with other settings.
async fn fixture_with(settings: Settings) -> Fx {
    let fx = fixture().await;
    let server = Arc::new(AuthServer::new(
        fx.server.store().clone(),
        fx.clock.clone(),
        settings,
    ));
    Fx {
        server,
        clock: fx.clock,
    }
}

#[tokio::test]
async fn password_and_implicit_need_legacy_grants() {
    let fx = fixture_with(Settings::default()).await;
    let e = fx
        .server
        .token(
            &p(&[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "wonderland"),
            ]),
            Some(&basic("app", "s3cr:%+t")),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::UnauthorizedClient);
    let q = p(&[
        ("response_type", "token"),
        ("client_id", "app"),
        ("redirect_uri", "http://127.0.0.1:8080/cb"),
    ]);
    match fx.server.validate_authorize(&q).await {
        Err(AuthorizeError::Redirect(u)) => {
            assert!(u.contains("#error=unauthorized_client"), "{u}")
        }
        other => panic!("{other:?}"),
    }
    // the other grants are unaffected
    let t = fx
        .server
        .token(
            &p(&[("grant_type", "client_credentials")]),
            Some(&basic("app", "s3cr:%+t")),
        )
        .await;
    assert!(t.is_ok());
}

fn jwt_settings(issuer: &str) -> Settings {
    Settings {
        token_format: jwt::TokenFormat::Jwt,
        key_rotation_secs: 1000,
        resources: vec!["/travels/1.0".into()],
        issuer: Arc::new(jwt::IssuerCell::new(Some(issuer.into()))),
        ..Settings::default()
    }
}

async fn jwt_cc(fx: &Fx, extra: &[(&str, &str)]) -> Result<TokenResponse, OAuthError> {
    let mut q = vec![("grant_type", "client_credentials"), ("scope", "view")];
    q.extend_from_slice(extra);
    fx.server
        .token(&p(&q), Some(&basic("app", "s3cr:%+t")))
        .await
}

#[tokio::test]
async fn jwt_tokens_rotation_and_revocation() {
    let fx = fixture_with(jwt_settings("https://as.test")).await;
    fx.server.load_keys().await.unwrap();
    let aud = vec!["https://as.test".to_string()];
    let t1 = jwt_cc(&fx, &[]).await.unwrap();
    let (h1, _) = jwt::peek(t1.access_token.expose()).unwrap();
    let v = fx
        .server
        .validate_jwt(t1.access_token.expose(), h1.kid.as_deref(), &aud)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v.scopes, vec!["view"]);
    assert_eq!(v.client_id, "app");
    // introspection still finds it
    assert!(active(&fx, t1.access_token.expose()).await);

    // after the rotation period a new key signs; the old one stays published while its
    // tokens live (issued at 1 000 999: until 1 004 599)
    fx.clock.advance(999);
    let late = jwt_cc(&fx, &[]).await.unwrap();
    fx.clock.advance(2);
    let t2 = jwt_cc(&fx, &[]).await.unwrap();
    let (h2, _) = jwt::peek(t2.access_token.expose()).unwrap();
    assert_ne!(h1.kid, h2.kid);
    assert_eq!(fx.server.jwks()["keys"].as_array().unwrap().len(), 2);
    let (hl, _) = jwt::peek(late.access_token.expose()).unwrap();
    assert_eq!(hl.kid, h1.kid);
    fx.clock.advance(3600 - 3);
    assert!(fx
        .server
        .validate_jwt(late.access_token.expose(), hl.kid.as_deref(), &aud)
        .await
        .unwrap()
        .is_some());
    // once the last token of the old key expired, it is no longer published, and purged
    fx.clock.advance(2);
    let keys = fx.server.jwks();
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1, "{keys}");
    assert_eq!(keys["keys"][0]["kid"].as_str(), h2.kid.as_deref());
    fx.server.purge().await.unwrap();
    let stored = fx.server.store().signing_keys().await.unwrap();
    assert!(stored.iter().all(|k| Some(&k.kid) != h1.kid.as_ref()));
    assert!(stored.iter().any(|k| Some(&k.kid) == h2.kid.as_ref()));

    // revocation: this process's list at once
    let t3 = jwt_cc(&fx, &[]).await.unwrap();
    let (h3, _) = jwt::peek(t3.access_token.expose()).unwrap();
    let app = fx.server.store().client("app").await.unwrap().unwrap();
    fx.server
        .revoke(&app, t3.access_token.expose())
        .await
        .unwrap();
    assert!(fx
        .server
        .validate_jwt(t3.access_token.expose(), h3.kid.as_deref(), &aud)
        .await
        .unwrap()
        .is_none());

    // another server on the same store (another gateway) sees keys and revocations
    let other = Arc::new(AuthServer::new(
        fx.server.store().clone(),
        fx.clock.clone(),
        jwt_settings("https://as.test"),
    ));
    other.load_keys().await.unwrap();
    let t4 = jwt_cc(&fx, &[]).await.unwrap();
    let (h4, _) = jwt::peek(t4.access_token.expose()).unwrap();
    assert!(other
        .validate_jwt(t4.access_token.expose(), h4.kid.as_deref(), &aud)
        .await
        .unwrap()
        .is_some());
    assert!(other
        .validate_jwt(t3.access_token.expose(), h3.kid.as_deref(), &aud)
        .await
        .unwrap()
        .is_none());
    fx.server
        .revoke(&app, t4.access_token.expose())
        .await
        .unwrap();
    other.sync_revocations().await.unwrap();
    assert!(other
        .validate_jwt(t4.access_token.expose(), h4.kid.as_deref(), &aud)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn jwt_resource_indicators_and_lifetimes() {
    let fx = fixture_with(jwt_settings("https://as.test")).await;
    let t = jwt_cc(&fx, &[("resource", "https://as.test/travels/1.0")])
        .await
        .unwrap();
    let (h, _) = jwt::peek(t.access_token.expose()).unwrap();
    let api = vec!["https://as.test/travels/1.0".to_string()];
    let default = vec!["https://as.test".to_string()];
    assert!(fx
        .server
        .validate_jwt(t.access_token.expose(), h.kid.as_deref(), &api)
        .await
        .unwrap()
        .is_some());
    assert!(fx
        .server
        .validate_jwt(t.access_token.expose(), h.kid.as_deref(), &default)
        .await
        .unwrap()
        .is_none());
    for bad in [
        "https://as.test/other",
        "relative/x",
        "https://as.test/travels/1.0#x",
    ] {
        let e = jwt_cc(&fx, &[("resource", bad)]).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidTarget, "{bad}");
    }
    // never-expiring clients cannot get JWTs
    let e = fx
        .server
        .token(
            &p(&[("grant_type", "client_credentials")]),
            Some(&basic("forever", "s3cr:%+t")),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::UnauthorizedClient);
}

#[tokio::test]
async fn validated_jwts_are_cached_but_audience_revocation_expiry_and_keys_still_apply() {
    let fx = fixture_with(Settings {
        jwt_cache_entries: 2,
        ..jwt_settings("https://as.test")
    })
    .await;
    fx.server.load_keys().await.unwrap();
    let aud = vec!["https://as.test".to_string()];
    let api = vec!["https://as.test/travels/1.0".to_string()];
    let t = jwt_cc(&fx, &[]).await.unwrap();
    let tok = t.access_token.expose();
    let (h, _) = jwt::peek(tok).unwrap();
    assert_eq!(fx.server.cached_jwt(tok, &aud), None);
    let v = fx
        .server
        .validate_jwt(tok, h.kid.as_deref(), &aud)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fx.server.jwt_cache().len(), 1);
    // a hit answers without a key id: the signature is not checked again
    assert_eq!(fx.server.cached_jwt(tok, &aud), Some(Some(v.clone())));
    assert_eq!(
        fx.server.validate_jwt(tok, None, &aud).await.unwrap(),
        Some(v.clone())
    );
    // the audience is checked per request
    assert_eq!(fx.server.cached_jwt(tok, &api), Some(None));
    // another signature over the same claims is another token: not a hit, and refused
    let (body, sig) = tok.rsplit_once('.').unwrap();
    let forged = format!("{body}.{}", sig.chars().rev().collect::<String>());
    assert_eq!(fx.server.cached_jwt(&forged, &aud), None);
    assert!(fx
        .server
        .validate_jwt(&forged, h.kid.as_deref(), &aud)
        .await
        .unwrap()
        .is_none());

    // bounded: a third token pushes one out
    for _ in 0..2 {
        let t = jwt_cc(&fx, &[]).await.unwrap();
        let tk = t.access_token.expose();
        let (hk, _) = jwt::peek(tk).unwrap();
        assert!(fx
            .server
            .validate_jwt(tk, hk.kid.as_deref(), &aud)
            .await
            .unwrap()
            .is_some());
        assert!(fx.server.jwt_cache().len() <= 2);
    }
    // revoked after it was cached: refused at once
    let t = jwt_cc(&fx, &[]).await.unwrap();
    let tok = t.access_token.expose();
    let (h, _) = jwt::peek(tok).unwrap();
    assert!(fx
        .server
        .validate_jwt(tok, h.kid.as_deref(), &aud)
        .await
        .unwrap()
        .is_some());
    assert!(matches!(fx.server.cached_jwt(tok, &aud), Some(Some(_))));
    let app = fx.server.store().client("app").await.unwrap().unwrap();
    fx.server.revoke(&app, tok).await.unwrap();
    assert_eq!(fx.server.cached_jwt(tok, &aud), Some(None));
    assert!(fx
        .server
        .validate_jwt(tok, h.kid.as_deref(), &aud)
        .await
        .unwrap()
        .is_none());

    // the signing key is gone from the keyring: the entry is not used (nor the token accepted)
    let t = jwt_cc(&fx, &[]).await.unwrap();
    let tok = t.access_token.expose();
    let (h, _) = jwt::peek(tok).unwrap();
    assert!(fx
        .server
        .validate_jwt(tok, h.kid.as_deref(), &aud)
        .await
        .unwrap()
        .is_some());
    let keys = fx.server.store().signing_keys().await.unwrap();
    fx.server.keyring.replace(&[], fx.server.now());
    assert_eq!(fx.server.cached_jwt(tok, &aud), None);
    assert!(fx
        .server
        .validate_jwt(tok, h.kid.as_deref(), &aud)
        .await
        .unwrap()
        .is_none());
    fx.server.keyring.replace(&keys, fx.server.now());

    // expired (beyond the leeway): the entry is not used, the token refused
    let t = jwt_cc(&fx, &[]).await.unwrap();
    let tok = t.access_token.expose();
    let (h, _) = jwt::peek(tok).unwrap();
    let v = fx
        .server
        .validate_jwt(tok, h.kid.as_deref(), &aud)
        .await
        .unwrap()
        .unwrap();
    fx.clock.advance(v.exp + jwt::LEEWAY - fx.server.now() - 1);
    assert!(matches!(fx.server.cached_jwt(tok, &aud), Some(Some(_))));
    fx.clock.advance(1);
    assert_eq!(fx.server.cached_jwt(tok, &aud), None);
    assert!(fx
        .server
        .validate_jwt(tok, h.kid.as_deref(), &aud)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn jwt_cache_can_be_turned_off() {
    let fx = fixture_with(Settings {
        jwt_cache_entries: 0,
        ..jwt_settings("https://as.test")
    })
    .await;
    let aud = vec!["https://as.test".to_string()];
    let t = jwt_cc(&fx, &[]).await.unwrap();
    let tok = t.access_token.expose();
    let (h, _) = jwt::peek(tok).unwrap();
    for _ in 0..2 {
        assert!(fx
            .server
            .validate_jwt(tok, h.kid.as_deref(), &aud)
            .await
            .unwrap()
            .is_some());
        assert_eq!(fx.server.cached_jwt(tok, &aud), None);
    }
    assert!(fx.server.jwt_cache().is_empty());
    // and without the cache a key id is needed
    assert!(fx
        .server
        .validate_jwt(tok, None, &aud)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn rsa_signing_keys_and_a_switch_of_algorithm_on_the_same_store() {
    let fx = fixture_with(jwt_settings("https://as.test")).await;
    fx.server.load_keys().await.unwrap();
    let aud = vec!["https://as.test".to_string()];
    let es = jwt_cc(&fx, &[]).await.unwrap();
    // the same store, now configured for RS256: a new RSA key signs, the P-256 key stays
    // published (and accepted) while its tokens live
    let rs_server = Arc::new(AuthServer::new(
        fx.server.store().clone(),
        fx.clock.clone(),
        Settings {
            signing_alg: jwt::SigningAlg::Rs256,
            ..jwt_settings("https://as.test")
        },
    ));
    rs_server.load_keys().await.unwrap();
    let app = fx.server.store().client("app").await.unwrap().unwrap();
    let t = rs_server
        .token(
            &p(&[("grant_type", "client_credentials"), ("scope", "view")]),
            Some(&basic("app", "s3cr:%+t")),
        )
        .await
        .unwrap();
    let tok = t.access_token.expose();
    let (h, _) = jwt::peek(tok).unwrap();
    assert_eq!(h.alg, jsonwebtoken::Algorithm::RS256);
    let v = rs_server
        .validate_jwt(tok, h.kid.as_deref(), &aud)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v.scopes, vec!["view"]);
    let keys = rs_server.jwks();
    let keys = keys["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    let rsa = keys.iter().find(|k| k["kty"] == "RSA").unwrap();
    assert_eq!(rsa["alg"], "RS256");
    assert_eq!(rsa["kid"].as_str(), h.kid.as_deref());
    assert!(rsa.get("d").is_none());
    // the ES256 token is still accepted there
    let (he, _) = jwt::peek(es.access_token.expose()).unwrap();
    assert!(rs_server
        .validate_jwt(es.access_token.expose(), he.kid.as_deref(), &aud)
        .await
        .unwrap()
        .is_some());
    // the RSA token is revoked like any other
    rs_server.revoke(&app, tok).await.unwrap();
    assert!(rs_server
        .validate_jwt(tok, h.kid.as_deref(), &aud)
        .await
        .unwrap()
        .is_none());
}

const TOKEN_URL: &str = "https://as.test/oauth2/token";

/// A token request of `client_id` (public) with a DPoP proof of `key`, if any.
async fn dpop_token(
    fx: &Fx,
    form: &[(&str, &str)],
    key: Option<&crate::client::DpopKey>,
) -> Result<TokenResponse, OAuthError> {
    let urls = vec![TOKEN_URL.to_string()];
    let proof = key.map(|k| {
        k.proof("POST", TOKEN_URL, fx.server.now(), None, None)
            .unwrap()
    });
    let dpop = proof.as_ref().map(|pr| DpopRequest {
        proof: pr.expose(),
        urls: &urls,
    });
    fx.server.token_with_dpop(&p(form), None, dpop).await
}

#[tokio::test]
async fn a_public_clients_refresh_tokens_are_bound_to_its_dpop_key() {
    use crate::client::{DpopAlgorithm, DpopKey};
    let fx = fixture_with(jwt_settings("https://as.test")).await;
    let key = DpopKey::generate(DpopAlgorithm::ES256).unwrap();
    let other = DpopKey::generate(DpopAlgorithm::ES256).unwrap();
    let code = code_for(&fx, "spa", Some(CHALLENGE), "view").await;
    let t = dpop_token(
        &fx,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:8080/cb"),
            ("client_id", "spa"),
            ("code_verifier", VERIFIER),
        ],
        Some(&key),
    )
    .await
    .unwrap();
    assert!(t.dpop);
    let rt = t.refresh_token.unwrap();
    let refresh = |rt: &str| {
        vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", "spa"),
        ]
        .into_iter()
        .map(|(a, b)| (a, b.to_string()))
        .collect::<Vec<_>>()
    };
    let form = refresh(rt.expose());
    let form: Vec<(&str, &str)> = form.iter().map(|(a, b)| (*a, b.as_str())).collect();
    // without a proof, or with another key: refused, and the refresh token is not burnt
    let e = dpop_token(&fx, &form, None).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidGrant);
    assert!(e.description.contains("DPoP"), "{}", e.description);
    let e = dpop_token(&fx, &form, Some(&other)).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidGrant);
    // with the key: a new bound access token and a refresh token still bound
    let t2 = dpop_token(&fx, &form, Some(&key)).await.unwrap();
    assert!(t2.dpop);
    let (_, c) = jwt::peek(t2.access_token.expose()).unwrap();
    assert_eq!(c, "https://as.test");
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            t2.access_token.expose().split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["cnf"]["jkt"], key.thumbprint());
    let rt2 = t2.refresh_token.unwrap();
    let form2 = refresh(rt2.expose());
    let form2: Vec<(&str, &str)> = form2.iter().map(|(a, b)| (*a, b.as_str())).collect();
    assert_eq!(
        dpop_token(&fx, &form2, None).await.unwrap_err().code,
        ErrorCode::InvalidGrant
    );
    assert!(dpop_token(&fx, &form2, Some(&key)).await.is_ok());

    // a public client that did not use DPoP keeps unbound refresh tokens
    let code = code_for(&fx, "spa", Some(CHALLENGE), "view").await;
    let t = dpop_token(
        &fx,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:8080/cb"),
            ("client_id", "spa"),
            ("code_verifier", VERIFIER),
        ],
        None,
    )
    .await
    .unwrap();
    assert!(!t.dpop);
    let rt = t.refresh_token.unwrap();
    let form = refresh(rt.expose());
    let form: Vec<(&str, &str)> = form.iter().map(|(a, b)| (*a, b.as_str())).collect();
    assert!(dpop_token(&fx, &form, None).await.is_ok());
}

#[tokio::test]
async fn dpop_nonces_at_the_token_endpoint_when_required() {
    use crate::client::{DpopAlgorithm, DpopKey};
    let fx = fixture_with(Settings {
        dpop_nonce: true,
        ..jwt_settings("https://as.test")
    })
    .await;
    let key = DpopKey::generate(DpopAlgorithm::ES256).unwrap();
    let urls = vec![TOKEN_URL.to_string()];
    let form = p(&[("grant_type", "client_credentials"), ("scope", "view")]);
    let creds = basic("app", "s3cr:%+t");
    let request = |nonce: Option<String>| {
        let proof = key
            .proof("POST", TOKEN_URL, fx.server.now(), None, nonce.as_deref())
            .unwrap();
        let (form, creds, urls) = (&form, &creds, &urls);
        let server = fx.server.clone();
        async move {
            server
                .token_with_dpop(
                    form,
                    Some(creds),
                    Some(DpopRequest {
                        proof: proof.expose(),
                        urls,
                    }),
                )
                .await
        }
    };
    // no nonce, a made-up one: use_dpop_nonce
    assert_eq!(
        request(None).await.unwrap_err().code,
        ErrorCode::UseDpopNonce
    );
    assert_eq!(
        request(Some("made-up".into())).await.unwrap_err().code,
        ErrorCode::UseDpopNonce
    );
    // the server's nonce: a bound token
    let nonce = fx.server.dpop_nonce().unwrap();
    assert!(fx.server.dpop_nonce_ok(Some(&nonce)));
    let t = request(Some(nonce.clone())).await.unwrap();
    assert!(t.dpop);
    // a nonce goes stale after two windows
    fx.clock.advance(2 * fx.server.settings().dpop_window);
    assert_eq!(
        request(Some(nonce)).await.unwrap_err().code,
        ErrorCode::UseDpopNonce
    );
    assert!(request(fx.server.dpop_nonce()).await.is_ok());
    // without the setting nonces are neither handed out nor required
    let off = fixture_with(jwt_settings("https://as.test")).await;
    assert_eq!(off.server.dpop_nonce(), None);
    assert!(off.server.dpop_nonce_ok(None));
}

#[test]
fn accepted_audiences_are_the_default_one_and_the_apis_resource_identifier() {
    let server = |default_audience: Option<&str>| {
        AuthServer::new(
            Arc::new(MemoryStore::new()),
            Arc::new(ManualClock::new(1_000_000)),
            Settings {
                issuer: Arc::new(jwt::IssuerCell::new(Some("https://as.test/".into()))),
                default_audience: default_audience.map(str::to_string),
                ..Settings::default()
            },
        )
    };
    let s = server(None);
    assert_eq!(s.issuer_str(), "https://as.test");
    // without a configured default audience, the issuer itself
    assert!(s.accepts_audience("https://as.test", None));
    assert!(s.accepts_audience("https://as.test", Some("/shop/1.0")));
    // the API's resource identifier: issuer and context exactly
    assert!(s.accepts_audience("https://as.test/shop/1.0", Some("/shop/1.0")));
    assert!(!s.accepts_audience("https://as.test/shop/1.0", None));
    assert!(!s.accepts_audience("https://as.test/shop/1.0", Some("/other/1.0")));
    assert!(!s.accepts_audience("https://as.test/shop/1.0x", Some("/shop/1.0")));
    assert!(!s.accepts_audience("https://as.tes/shop/1.0", Some("/shop/1.0")));
    assert!(!s.accepts_audience("https://evil.test/shop/1.0", Some("/shop/1.0")));
    assert!(!s.accepts_audience("", Some("/shop/1.0")));
    // a configured default audience replaces the issuer
    let s = server(Some("api://gateway"));
    assert!(s.accepts_audience("api://gateway", None));
    assert!(!s.accepts_audience("https://as.test", None));
    assert!(s.accepts_audience("https://as.test/shop/1.0", Some("/shop/1.0")));
    // the form with a list agrees
    let audiences = ["api://gateway".to_string(), s.resource_id("/shop/1.0")];
    for aud in [
        "api://gateway",
        "https://as.test/shop/1.0",
        "https://as.test",
        "x",
    ] {
        assert_eq!(
            audiences.iter().any(|a| a == aud),
            s.accepts_audience(aud, Some("/shop/1.0")),
            "{aud}"
        );
    }
}
