//! Requests from a test to a gateway: a client, the gateway's URLs, a body read as text or as
//! JSON, and polling until something holds.

use std::time::Duration;

use synaptic_gateway::Running;

/// A client that gives up on an answer after 20 seconds.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("reqwest client")
}

/// `http://127.0.0.1:PORT` + `path` of a running gateway.
pub fn url(gw: &Running, path: &str) -> String {
    format!("http://{}{path}", gw.addr())
}

/// A URL on a loopback port where nothing listens.
pub fn dead_url() -> String {
    format!("http://127.0.0.1:{}/x", crate::free_port())
}

/// The body of an answer as JSON; panics with the text when it is not JSON.
pub async fn json(resp: reqwest::Response) -> serde_json::Value {
    let text = resp.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The body of a `GET` of `u`.
pub async fn get_text(c: &reqwest::Client, u: &str) -> String {
    c.get(u).send().await.unwrap().text().await.unwrap()
}

/// Poll `f` every 50 ms until it returns true or `within` passes (then once more).
pub async fn eventually<F, Fut>(within: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let t0 = tokio::time::Instant::now();
    while t0.elapsed() < within {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f().await
}

/// The answer to a `POST` of `body`, of `content_type`, to `u`.
pub async fn post_body(
    c: &reqwest::Client,
    u: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    c.post(u)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}
