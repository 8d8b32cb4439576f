//! Manager tests on paused tokio time with a scripted token endpoint.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::{advance, sleep, Instant};

use super::*;

type Behaviour = Box<
    dyn FnMut(u64, &TokenHttpRequest) -> (Duration, Result<TokenHttpResponse, TransportError>)
        + Send,
>;

/// A scripted token endpoint: `behaviour(n, request)` answers call number `n` (from 1).
struct Script {
    calls: AtomicU64,
    bodies: Mutex<Vec<String>>,
    behaviour: Mutex<Behaviour>,
}

impl std::fmt::Debug for Script {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Script")
    }
}

impl Script {
    fn new(
        b: impl FnMut(u64, &TokenHttpRequest) -> (Duration, Result<TokenHttpResponse, TransportError>)
            + Send
            + 'static,
    ) -> Arc<Script> {
        Arc::new(Script {
            calls: AtomicU64::new(0),
            bodies: Mutex::new(Vec::new()),
            behaviour: Mutex::new(Box::new(b)),
        })
    }
    fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }
    fn grant_of(&self, i: usize) -> String {
        let bodies = self.bodies.lock().unwrap();
        bodies[i]
            .split('&')
            .next()
            .unwrap_or_default()
            .trim_start_matches("grant_type=")
            .to_string()
    }
}

#[async_trait]
impl TokenHttp for Script {
    async fn post_form(&self, req: TokenHttpRequest) -> Result<TokenHttpResponse, TransportError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        self.bodies
            .lock()
            .unwrap()
            .push(req.body.expose().to_string());
        let (delay, r) = (self.behaviour.lock().unwrap())(n, &req);
        sleep(delay).await;
        r
    }
}

fn ok(body: &str) -> Result<TokenHttpResponse, TransportError> {
    Ok(TokenHttpResponse {
        status: 200,
        retry_after: None,
        dpop_nonce: None,
        body: body.as_bytes().to_vec(),
    })
}

fn status(code: u16, body: &str) -> Result<TokenHttpResponse, TransportError> {
    Ok(TokenHttpResponse {
        status: code,
        retry_after: None,
        dpop_nonce: None,
        body: body.as_bytes().to_vec(),
    })
}

/// A token `tok-<n>` with the given lifetime.
fn token(n: u64, expires_in: u64) -> Result<TokenHttpResponse, TransportError> {
    ok(&format!(
        r#"{{"access_token":"tok-{n}","token_type":"Bearer","expires_in":{expires_in}}}"#
    ))
}

#[derive(Debug, Default)]
struct Events(Mutex<Vec<String>>);
impl Observer for Events {
    fn event(&self, _label: &str, e: Event<'_>) {
        let name = match e {
            Event::CacheHit => "hit",
            Event::CacheMiss => "miss",
            Event::SharedHit => "shared",
            Event::Fetched { refresh: true } => "refreshed",
            Event::Fetched { refresh: false } => "fetched",
            Event::FetchFailed(_) => "failed",
            Event::RefreshStarted => "refresh-start",
            Event::RefreshGrantRefused => "rt-refused",
            Event::Invalidated => "invalidated",
            Event::StoreDown => "store-down",
            Event::StoreUp => "store-up",
            Event::StoreError => "store-error",
        };
        self.0.lock().unwrap().push(name.to_string());
    }
}
impl Events {
    fn count(&self, name: &str) -> usize {
        self.0.lock().unwrap().iter().filter(|n| *n == name).count()
    }
}

fn spec() -> ClientSpec {
    ClientSpec {
        token_url: "https://idp.test/token".into(),
        client_id: "gw".into(),
        client_secret: Secret::new("s3cret"),
        grant: Grant::ClientCredentials,
        scope: Some("view".into()),
        auth: ClientAuth::Basic,
        params: BTreeMap::new(),
        dpop: None,
    }
}

fn manager(
    http: Arc<Script>,
    store: Option<Arc<dyn TokenStore>>,
    events: Arc<Events>,
) -> TokenManager {
    TokenManager::new(
        http,
        store,
        Arc::new(TokioClock::new()),
        Options::default(),
        events,
    )
}

fn value(t: &AccessToken) -> &str {
    t.value.expose()
}

#[tokio::test(start_paused = true)]
async fn many_requests_one_token_request() {
    let http = Script::new(|n, _| (Duration::ZERO, token(n, 3600)));
    let ev = Arc::new(Events::default());
    let h = manager(http.clone(), None, ev.clone()).register(spec(), "api");
    for _ in 0..500 {
        assert_eq!(value(&h.token().await.unwrap()), "tok-1");
    }
    assert_eq!(http.calls(), 1);
    assert_eq!(ev.count("hit"), 499);
    assert_eq!(ev.count("miss"), 1);
}

#[tokio::test(start_paused = true)]
async fn concurrent_cold_requests_share_one_fetch() {
    let http = Script::new(|n, _| (Duration::from_millis(300), token(n, 3600)));
    let h = manager(http.clone(), None, Arc::default()).register(spec(), "api");
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move { h.token().await })
        })
        .collect();
    for t in tasks {
        assert_eq!(value(&t.await.unwrap().unwrap()), "tok-1");
    }
    assert_eq!(http.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn refreshes_ahead_in_the_background_without_making_requests_wait() {
    // lifetime 100 s, skew' = min(30, 25) = 25 s: usable 75 s, refresh at 56.25–60 s
    let http = Script::new(|n, _| (Duration::from_secs(2), token(n, 100)));
    let ev = Arc::new(Events::default());
    let h = manager(http.clone(), None, ev.clone()).register(spec(), "api");
    assert_eq!(value(&h.token().await.unwrap()), "tok-1");
    let start = Instant::now();
    let mut seen = Vec::new();
    for _ in 0..300 {
        advance(Duration::from_millis(500)).await;
        let before = Instant::now();
        let t = h.token().await.unwrap();
        assert_eq!(Instant::now(), before, "a request waited for a refresh");
        seen.push((before - start, value(&t).to_string()));
    }
    // the old token is served until the refresh lands, the new one afterwards
    let first_new = seen.iter().find(|(_, v)| v == "tok-2").unwrap().0;
    assert!(
        first_new >= Duration::from_secs(54) && first_new <= Duration::from_secs(64),
        "{first_new:?}"
    );
    assert!(seen
        .iter()
        .filter(|(_, v)| v == "tok-1")
        .all(|(at, _)| *at < Duration::from_secs(75)));
    assert_eq!(
        http.calls(),
        3,
        "150 s of traffic over 100 s tokens: two refreshes"
    );
    assert_eq!(ev.count("refreshed"), 2);
    assert_eq!(ev.count("miss"), 1);
}

#[tokio::test(start_paused = true)]
async fn idle_keys_are_not_refreshed() {
    let http = Script::new(|n, _| (Duration::ZERO, token(n, 100)));
    let h = manager(http.clone(), None, Arc::default()).register(spec(), "api");
    h.token().await.unwrap();
    sleep(Duration::from_secs(500)).await;
    assert_eq!(http.calls(), 1);
    // next use after expiry is a cold fetch
    assert_eq!(value(&h.token().await.unwrap()), "tok-2");
}

#[tokio::test(start_paused = true)]
async fn never_serves_past_expiry_when_refresh_fails() {
    let http = Script::new(|n, _| {
        if n == 1 {
            (Duration::ZERO, token(n, 100))
        } else {
            (Duration::ZERO, status(500, "oops"))
        }
    });
    let h = manager(http.clone(), None, Arc::default()).register(spec(), "api");
    h.token().await.unwrap();
    let start = Instant::now();
    loop {
        advance(Duration::from_millis(250)).await;
        match h.token().await {
            Ok(t) => {
                assert_eq!(value(&t), "tok-1");
                assert!(start.elapsed() < Duration::from_secs(75));
            }
            Err(e) => {
                assert!(
                    start.elapsed() >= Duration::from_millis(74_750),
                    "{:?}",
                    start.elapsed()
                );
                assert!(matches!(
                    e,
                    TokenError::Unavailable {
                        cause: FetchFailure::Status(500),
                        ..
                    }
                ));
                assert!(e.retry_after() >= Duration::from_secs(1));
                break;
            }
        }
    }
    // refresh attempts backed off: far fewer than one per request
    assert!(http.calls() < 12, "{} calls", http.calls());
}

#[tokio::test(start_paused = true)]
async fn failures_back_off_exponentially() {
    let http = Script::new(|_, _| {
        (
            Duration::ZERO,
            Err(TransportError::Connect("refused".into())),
        )
    });
    let h = manager(http.clone(), None, Arc::default()).register(spec(), "api");
    let e = h.token().await.unwrap_err();
    assert!(matches!(
        e,
        TokenError::Unavailable {
            cause: FetchFailure::Transport(_),
            ..
        }
    ));
    // within the backoff no new request reaches the endpoint
    for _ in 0..20 {
        assert!(h.token().await.is_err());
    }
    assert_eq!(http.calls(), 1);
    let mut delays = Vec::new();
    for _ in 0..6 {
        let e = h.token().await.unwrap_err();
        let wait = e.retry_after();
        delays.push(wait);
        advance(wait + Duration::from_millis(1)).await;
        let _ = h.token().await;
    }
    assert_eq!(http.calls(), 7);
    assert!(
        delays.last().unwrap() > &Duration::from_secs(8),
        "{delays:?}"
    );
    assert!(delays.iter().all(|d| *d <= Duration::from_secs(60)));
}

#[tokio::test(start_paused = true)]
async fn endpoint_back_online_serves_again() {
    let http = Script::new(|n, _| {
        if n <= 2 {
            (Duration::ZERO, status(503, ""))
        } else {
            (Duration::ZERO, token(n, 3600))
        }
    });
    let h = manager(http.clone(), None, Arc::default()).register(spec(), "api");
    assert!(h.token().await.is_err());
    sleep(Duration::from_secs(1)).await;
    assert!(h.token().await.is_err());
    sleep(Duration::from_secs(2)).await;
    assert_eq!(value(&h.token().await.unwrap()), "tok-3");
}

#[tokio::test(start_paused = true)]
async fn invalidation_drops_only_the_token_that_failed() {
    let http = Script::new(|n, _| (Duration::from_millis(50), token(n, 3600)));
    let ev = Arc::new(Events::default());
    let h = manager(http.clone(), None, ev.clone()).register(spec(), "api");
    let t1 = h.token().await.unwrap();
    assert!(h.invalidate(&t1.fingerprint).await);
    // many replays after the 401 share one fetch
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move { h.token().await.unwrap() })
        })
        .collect();
    for t in tasks {
        let t2 = t.await.unwrap();
        assert_eq!(value(&t2), "tok-2");
        assert!(t2.generation > t1.generation);
    }
    assert_eq!(http.calls(), 2);
    // a late 401 for the old token leaves the new one alone
    assert!(!h.invalidate(&t1.fingerprint).await);
    assert_eq!(value(&h.token().await.unwrap()), "tok-2");
    assert_eq!(http.calls(), 2);
    assert_eq!(ev.count("invalidated"), 1);
}

#[tokio::test(start_paused = true)]
async fn expires_in_as_string_and_missing() {
    let http = Script::new(|n, _| {
        let body = if n == 1 {
            r#"{"access_token":"a","token_type":"Bearer","expires_in":"8"}"#.to_string()
        } else {
            format!(r#"{{"access_token":"b{n}","token_type":"bearer"}}"#)
        };
        (Duration::ZERO, ok(&body))
    });
    let opts = Options {
        default_expires_in: Duration::from_secs(40),
        ..Options::default()
    };
    let m = TokenManager::new(
        http.clone(),
        None,
        Arc::new(TokioClock::new()),
        opts,
        Arc::new(NoopObserver),
    );
    let h = m.register(spec(), "api");
    assert_eq!(value(&h.token().await.unwrap()), "a");
    // "8" → skew' = 2 s → usable 6 s
    sleep(Duration::from_millis(5900)).await;
    assert_eq!(value(&h.token().await.unwrap()), "a");
    sleep(Duration::from_millis(200)).await;
    let b = h.token().await.unwrap();
    assert_eq!(value(&b), "b2");
    let left = h.seconds_left().unwrap();
    assert!((39.0..=40.0).contains(&left), "{left}");
}

#[tokio::test(start_paused = true)]
async fn garbage_responses_are_failures_and_keep_a_valid_token() {
    let bodies = ["", "<html>error</html>", "{\"token\":1}", "[1]"];
    let http = Script::new(move |n, _| {
        if n == 1 {
            (Duration::ZERO, token(n, 100))
        } else {
            let i = (n as usize - 2) % bodies.len();
            (Duration::ZERO, ok(bodies[i]))
        }
    });
    let ev = Arc::new(Events::default());
    let h = manager(http.clone(), None, ev.clone()).register(spec(), "api");
    h.token().await.unwrap();
    for _ in 0..70 {
        advance(Duration::from_secs(1)).await;
        assert_eq!(value(&h.token().await.unwrap()), "tok-1");
    }
    assert!(ev.count("failed") >= 1);
    sleep(Duration::from_secs(10)).await;
    let e = h.token().await.unwrap_err();
    assert!(
        matches!(
            e,
            TokenError::Unavailable {
                cause: FetchFailure::Garbage(_),
                ..
            }
        ),
        "{e:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn slow_token_endpoint_times_out() {
    let http = Script::new(|n, _| (Duration::from_secs(3600), token(n, 100)));
    let opts = Options {
        wait_timeout: Duration::from_secs(2),
        fetch_timeout: Duration::from_secs(5),
        ..Options::default()
    };
    let m = TokenManager::new(
        http.clone(),
        None,
        Arc::new(TokioClock::new()),
        opts,
        Arc::new(NoopObserver),
    );
    let h = m.register(spec(), "api");
    let start = Instant::now();
    assert!(matches!(h.token().await, Err(TokenError::Timeout { .. })));
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    // the fetch itself gives up at 5 s and backs off; waiting requests see that
    sleep(Duration::from_millis(3200)).await;
    let e = h.token().await.unwrap_err();
    assert!(
        matches!(
            e,
            TokenError::Unavailable {
                cause: FetchFailure::Timeout,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(http.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn refresh_token_is_used_and_falls_back_when_refused() {
    let http = Script::new(|n, req| {
        let body = req.body.expose();
        let r = match n {
            1 => ok(r#"{"access_token":"a1","expires_in":100,"refresh_token":"rt1"}"#),
            2 => {
                assert!(body.contains("refresh_token=rt1"), "{body}");
                ok(r#"{"access_token":"a2","expires_in":100,"refresh_token":"rt2"}"#)
            }
            3 => {
                assert!(body.contains("refresh_token=rt2"), "{body}");
                status(400, r#"{"error":"invalid_grant"}"#)
            }
            _ => ok(&format!(r#"{{"access_token":"a{n}","expires_in":100}}"#)),
        };
        (Duration::ZERO, r)
    });
    let ev = Arc::new(Events::default());
    let h = manager(http.clone(), None, ev.clone()).register(spec(), "api");
    h.token().await.unwrap();
    for _ in 0..130 {
        advance(Duration::from_secs(1)).await;
        h.token().await.unwrap();
    }
    assert_eq!(value(&h.token().await.unwrap()), "a4");
    assert_eq!(http.grant_of(0), "client_credentials");
    assert_eq!(http.grant_of(1), "refresh_token");
    assert_eq!(http.grant_of(2), "refresh_token");
    assert_eq!(http.grant_of(3), "client_credentials");
    assert_eq!(ev.count("rt-refused"), 1);
}

#[tokio::test(start_paused = true)]
async fn rotated_secret_gets_a_new_token() {
    let http = Script::new(|n, _| (Duration::ZERO, token(n, 3600)));
    let m = manager(http.clone(), None, Arc::default());
    let h1 = m.register(spec(), "api");
    assert_eq!(value(&h1.token().await.unwrap()), "tok-1");
    let same = m.register(spec(), "other-api");
    assert_eq!(value(&same.token().await.unwrap()), "tok-1");
    let mut rotated = spec();
    rotated.client_secret = Secret::new("new-secret");
    let h2 = m.register(rotated, "api");
    assert_eq!(value(&h2.token().await.unwrap()), "tok-2");
}

#[tokio::test(start_paused = true)]
async fn two_gateways_sharing_a_store_fetch_once() {
    let http = Script::new(|n, _| (Duration::from_millis(400), token(n, 3600)));
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::new());
    let store = Arc::new(MemoryStore::new(clock.clone()));
    let gw = |http: Arc<Script>| {
        TokenManager::new(
            http,
            Some(store.clone() as Arc<dyn TokenStore>),
            clock.clone(),
            Options::default(),
            Arc::new(NoopObserver),
        )
        .register(spec(), "api")
    };
    let (a, b) = (gw(http.clone()), gw(http.clone()));
    let tasks: Vec<_> = (0..100)
        .flat_map(|_| [a.clone(), b.clone()])
        .map(|h| tokio::spawn(async move { h.token().await }))
        .collect();
    for t in tasks {
        assert_eq!(value(&t.await.unwrap().unwrap()), "tok-1");
    }
    assert_eq!(http.calls(), 1);
    assert_eq!(store.lock_grants.load(Ordering::SeqCst), 1);

    // a 401 on one gateway is seen by the other through the shared store
    let t = a.token().await.unwrap();
    assert!(a.invalidate(&t.fingerprint).await);
    assert_eq!(value(&a.token().await.unwrap()), "tok-2");
    assert_eq!(http.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn refresh_across_gateways_fetches_once_per_lifetime() {
    let http = Script::new(|n, _| (Duration::from_millis(100), token(n, 100)));
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::new());
    let store = Arc::new(MemoryStore::new(clock.clone()));
    let gw = || {
        TokenManager::new(
            http.clone(),
            Some(store.clone() as Arc<dyn TokenStore>),
            clock.clone(),
            Options::default(),
            Arc::new(NoopObserver),
        )
        .register(spec(), "api")
    };
    let (a, b) = (gw(), gw());
    for _ in 0..400 {
        a.token().await.unwrap();
        b.token().await.unwrap();
        advance(Duration::from_millis(500)).await;
    }
    // 200 s of traffic, tokens refreshed at ~75 % of 75 usable seconds: about 4 fetches, not 8
    let calls = http.calls();
    assert!((3..=5).contains(&calls), "{calls} token requests");
}

#[tokio::test(start_paused = true)]
async fn store_outage_degrades_to_memory_and_rejoins() {
    let http = Script::new(|n, _| (Duration::ZERO, token(n, 3600)));
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::new());
    let store = Arc::new(MemoryStore::new(clock.clone()));
    let ev = Arc::new(Events::default());
    let m = TokenManager::new(
        http.clone(),
        Some(store.clone() as Arc<dyn TokenStore>),
        clock.clone(),
        Options::default(),
        ev.clone(),
    );
    store.set_down(true);
    let h = m.register(spec(), "api");
    assert_eq!(value(&h.token().await.unwrap()), "tok-1");
    assert!(m.store_down());
    // a second key while still down: memory only, no second "down" transition
    let mut other = spec();
    other.client_id = "gw2".into();
    let h2 = m.register(other, "api2");
    h2.token().await.unwrap();
    assert_eq!(ev.count("store-down"), 1);
    assert_eq!(store.saves.load(Ordering::SeqCst), 0);

    store.set_down(false);
    sleep(Duration::from_secs(2)).await;
    let mut third = spec();
    third.client_id = "gw3".into();
    m.register(third, "api3").token().await.unwrap();
    assert!(!m.store_down());
    assert_eq!(ev.count("store-up"), 1);
    assert_eq!(store.saves.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn refused_credentials_do_not_block_other_clients_of_the_endpoint() {
    let http = Script::new(|n, req| {
        if req
            .authorization
            .as_ref()
            .is_some_and(|a| a.expose().ends_with("Z3c6d3Jvbmc="))
        {
            // any request of the "bad" client
            (Duration::ZERO, status(401, r#"{"error":"invalid_client"}"#))
        } else {
            (Duration::ZERO, token(n, 3600))
        }
    });
    let m = manager(http.clone(), None, Arc::default());
    let mut bad = spec();
    bad.client_secret = Secret::new("wrong");
    let hb = m.register(bad, "bad");
    let e = hb.token().await.unwrap_err();
    assert!(
        matches!(&e, TokenError::Unavailable { cause: FetchFailure::Rejected { error, .. }, .. } if error == "invalid_client"),
        "{e:?}"
    );
    let good = m.register(spec(), "good");
    assert!(good.token().await.is_ok());
}

fn exchange_spec() -> ClientSpec {
    ClientSpec {
        grant: Grant::TokenExchange(Box::new(TokenExchange {
            subject_token: None,
            subject_token_type: spec::ACCESS_TOKEN_TYPE.into(),
            actor_token: None,
            actor_token_type: spec::ACCESS_TOKEN_TYPE.into(),
            requested_token_type: None,
        })),
        ..spec()
    }
}

fn subject(t: &str) -> Variant {
    Variant {
        subject_token: Some(Secret::new(t)),
        ..Variant::default()
    }
}

/// The value of `name` in a form body.
fn form_value(body: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test(start_paused = true)]
async fn token_exchange_caches_per_subject_with_one_flight_each() {
    let http = Script::new(|n, _| (Duration::from_millis(200), token(n, 3600)));
    let base = manager(http.clone(), None, Arc::default()).register(exchange_spec(), "api");
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let h = base.variant(&subject(if i % 2 == 0 { "alice-at" } else { "bob-at" }));
            tokio::spawn(async move { h.token().await.unwrap().value.expose().to_string() })
        })
        .collect();
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.unwrap());
    }
    assert_eq!(http.calls(), 2, "one exchange per subject");
    assert_ne!(got[0], got[1], "each subject has its own token");
    assert!(got.iter().step_by(2).all(|v| *v == got[0]));
    assert!(got.iter().skip(1).step_by(2).all(|v| *v == got[1]));
    let bodies = http.bodies.lock().unwrap().clone();
    let mut subjects: Vec<String> = bodies
        .iter()
        .map(|b| form_value(b, "subject_token").unwrap())
        .collect();
    subjects.sort();
    assert_eq!(subjects, ["alice-at", "bob-at"]);
    for b in &bodies {
        assert_eq!(form_value(b, "grant_type").unwrap(), spec::TOKEN_EXCHANGE);
        assert_eq!(
            form_value(b, "subject_token_type").unwrap(),
            spec::ACCESS_TOKEN_TYPE
        );
    }
    // the key holds a hash of the subject token, never the token
    let k = base.variant(&subject("alice-at")).key().clone();
    assert!(!k.as_str().contains("alice"));
    assert_ne!(&k, base.key());

    // cached until it expires: later requests of the same subject do not exchange again
    advance(Duration::from_secs(600)).await;
    let again = base.variant(&subject("alice-at")).token().await.unwrap();
    assert_eq!(again.value.expose(), got[0]);
    assert_eq!(http.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn refused_subject_backs_off_only_that_subject() {
    let http = Script::new(|n, req| {
        let body = req.body.expose().to_string();
        if form_value(&body, "subject_token").as_deref() == Some("expired") {
            (Duration::ZERO, status(400, r#"{"error":"invalid_grant"}"#))
        } else {
            (Duration::ZERO, token(n, 3600))
        }
    });
    let base = manager(http.clone(), None, Arc::default()).register(exchange_spec(), "api");
    let e = base.variant(&subject("expired")).token().await.unwrap_err();
    assert!(
        matches!(&e, TokenError::Unavailable { cause: FetchFailure::Rejected { error, .. }, .. } if error == "invalid_grant"),
        "{e:?}"
    );
    assert!(base.variant(&subject("fine")).token().await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn per_request_scope_and_audience_are_entries_of_their_own() {
    let http = Script::new(|n, _| (Duration::ZERO, token(n, 3600)));
    let base = manager(http.clone(), None, Arc::default()).register(spec(), "api");
    let v = |scope: Option<&str>, aud: Option<&str>| Variant {
        scope: scope.map(String::from),
        audience: aud.map(String::from),
        ..Variant::default()
    };
    let a = base
        .variant(&v(None, Some("orders")))
        .token()
        .await
        .unwrap();
    let b = base
        .variant(&v(None, Some("billing")))
        .token()
        .await
        .unwrap();
    let c = base.variant(&v(Some("write"), None)).token().await.unwrap();
    let a2 = base
        .variant(&v(None, Some("orders")))
        .token()
        .await
        .unwrap();
    assert_eq!(http.calls(), 3);
    assert_eq!(a.value, a2.value);
    assert_ne!(a.value, b.value);
    let bodies = http.bodies.lock().unwrap().clone();
    assert_eq!(
        form_value(&bodies[0], "audience").as_deref(),
        Some("orders")
    );
    assert_eq!(
        form_value(&bodies[1], "audience").as_deref(),
        Some("billing")
    );
    assert_eq!(form_value(&bodies[2], "scope").as_deref(), Some("write"));
    // the configured scope is the same as no variant at all
    let same = base.variant(&v(Some("view"), None));
    assert_eq!(same.key(), base.key());
    drop(c);
}

#[tokio::test(start_paused = true)]
async fn a_backend_401_drops_the_variant_token_it_used() {
    let http = Script::new(|n, _| (Duration::ZERO, token(n, 3600)));
    let base = manager(http.clone(), None, Arc::default()).register(exchange_spec(), "api");
    let alice = base.variant(&subject("alice-at"));
    let bob = base.variant(&subject("bob-at"));
    let ta = alice.token().await.unwrap();
    let tb = bob.token().await.unwrap();
    // the API's handle finds the entry that holds the refused token
    assert!(base.invalidate(&ta.fingerprint).await);
    assert_ne!(alice.token().await.unwrap().value, ta.value);
    assert_eq!(bob.token().await.unwrap().value, tb.value);
    assert_eq!(http.calls(), 3);
    assert!(!base.invalidate("000000000000").await);
}

#[tokio::test(start_paused = true)]
async fn per_request_entries_are_bounded() {
    let http = Script::new(|n, _| (Duration::ZERO, token(n, 60)));
    let m = TokenManager::new(
        http.clone(),
        None,
        Arc::new(TokioClock::new()),
        Options {
            max_request_variants: 20,
            ..Options::default()
        },
        Arc::new(NoopObserver),
    );
    let base = m.register(exchange_spec(), "api");
    for i in 0..200 {
        base.variant(&subject(&format!("caller-{i}")))
            .token()
            .await
            .unwrap();
        advance(Duration::from_millis(10)).await;
    }
    let n = m.entry_count();
    assert!(n <= 20, "{n} entries");
    // the most recent subject is still cached
    let calls = http.calls();
    base.variant(&subject("caller-199")).token().await.unwrap();
    assert_eq!(http.calls(), calls);
}

/// The `nonce` claim of a DPoP proof.
fn proof_nonce(req: &TokenHttpRequest) -> Option<String> {
    use base64::Engine as _;
    let proof = req.dpop.as_ref()?.expose().to_string();
    let payload = proof.split('.').nth(1)?;
    let c: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .ok()?,
    )
    .ok()?;
    c.get("nonce")?.as_str().map(str::to_string)
}

#[tokio::test(start_paused = true)]
async fn dpop_nonce_challenge_is_answered_once_and_the_nonce_remembered() {
    // the server wants the nonce it last gave; it gives a new one with every answer
    let current = Arc::new(Mutex::new(0u64));
    let cur = current.clone();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let http = Script::new(move |n, req| {
        let mut c = cur.lock().unwrap();
        let want = format!("nonce-{}", *c);
        let got = proof_nonce(req);
        seen2.lock().unwrap().push(got.clone());
        assert!(req.dpop.is_some(), "every token request carries a proof");
        *c += 1;
        let nonce = Some(format!("nonce-{}", *c));
        let resp = if got.as_deref() == Some(want.as_str()) {
            TokenHttpResponse {
                status: 200,
                retry_after: None,
                dpop_nonce: nonce,
                body: format!(
                    r#"{{"access_token":"tok-{n}","token_type":"DPoP","expires_in":100}}"#
                )
                .into_bytes(),
            }
        } else {
            TokenHttpResponse {
                status: 400,
                retry_after: None,
                dpop_nonce: nonce,
                body: br#"{"error":"use_dpop_nonce","error_description":"nonce needed"}"#.to_vec(),
            }
        };
        (Duration::ZERO, Ok(resp))
    });
    let mut s = spec();
    s.dpop = Some(dpop::Dpop::new(
        dpop::DpopKey::generate(dpop::DpopAlgorithm::ES256).unwrap(),
    ));
    let m = manager(http.clone(), None, Arc::default());
    let h = m.register(s.clone(), "api");
    let t = h.token().await.unwrap();
    assert_eq!(&*t.token_type, "DPoP");
    assert_eq!(http.calls(), 2, "one challenge, one retry");
    assert_eq!(
        *seen.lock().unwrap(),
        vec![None, Some("nonce-1".to_string())]
    );
    // the next token request uses the nonce of the last answer at once
    assert!(h.invalidate(&t.fingerprint).await);
    h.token().await.unwrap();
    assert_eq!(http.calls(), 3);
    assert_eq!(seen.lock().unwrap()[2].as_deref(), Some("nonce-2"));

    // a server that keeps asking gets one retry per token request, then a refusal
    let nagging = Script::new(|_, _| {
        (
            Duration::ZERO,
            Ok(TokenHttpResponse {
                status: 400,
                retry_after: None,
                dpop_nonce: Some(format!("n{}", rand::random::<u32>())),
                body: br#"{"error":"use_dpop_nonce"}"#.to_vec(),
            }),
        )
    });
    let h = manager(nagging.clone(), None, Arc::default()).register(s, "api");
    let e = h.token().await.unwrap_err();
    assert!(
        matches!(&e, TokenError::Unavailable { cause: FetchFailure::Rejected { error, .. }, .. } if error == "use_dpop_nonce"),
        "{e:?}"
    );
    assert_eq!(nagging.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_dpop_token_without_a_dpop_key_is_refused() {
    let http = Script::new(|_, _| {
        (
            Duration::ZERO,
            ok(r#"{"access_token":"a","token_type":"DPoP","expires_in":60}"#),
        )
    });
    let h = manager(http, None, Arc::default()).register(spec(), "api");
    let e = h.token().await.unwrap_err();
    assert!(
        matches!(
            &e,
            TokenError::Unavailable {
                cause: FetchFailure::Garbage(_),
                ..
            }
        ),
        "{e:?}"
    );
}
