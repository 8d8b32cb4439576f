//! `rate_limit` on `[[api]]` and `[[api.resource]]`: a fixed window of `requests` per `per`,
//! counted by caller (`ip`, `client_id`, `header:<name>` or a `${…}` Synapse Expression) through the engine's
//! [`SharedState`](synaptic_engine::SharedState) (Redis with `[redis]`: one limit across every
//! gateway). A request over the limit gets `429` with `Retry-After`; every counted response
//! carries the `RateLimit-Policy` and `RateLimit` fields of draft-ietf-httpapi-ratelimit-headers
//! (`"default";q=100;w=1` and `"default";r=42;t=1`).

use http::{HeaderName, HeaderValue};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use synaptic_engine::{Hit, Window};

/// `rate_limit = { requests = 100, per = "1s", key = "ip" }`
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Requests admitted per window.
    pub requests: u64,
    /// The window: `"500ms"`, `"1s"`, `"1m"`, `"1h"`.
    pub per: String,
    /// Who is counted: `"ip"` (default), `"client_id"` (APIs with `security = "oauth2"`),
    /// `"header:<name>"`, or a Synapse Expression `"${…}"` over the request head.
    #[serde(default = "default_key")]
    pub key: String,
}

fn default_key() -> String {
    "ip".into()
}

/// Who a request is counted as.
#[derive(Clone, Debug)]
pub enum KeyBy {
    /// The client's address (the TCP peer; `X-Forwarded-For` is not trusted).
    Ip,
    /// The OAuth2 client of the request's access token.
    ClientId,
    /// A request header's value (a missing header counts as one caller, `-`).
    Header(HeaderName),
    /// A Synapse Expression's value over the request (headers, query and path parameters,
    /// properties; never the body, which is not read yet). Empty values share one count.
    Expr(synaptic_engine::Expression),
}

/// A compiled `rate_limit`.
#[derive(Clone, Debug)]
pub struct RateLimit {
    /// The counter's name: the API, and the resource when the limit is the resource's own.
    pub id: String,
    pub window: Window,
    pub key: KeyBy,
    policy: HeaderValue,
}

/// Longest window: one day.
const MAX_WINDOW_MS: u64 = 24 * 3600 * 1000;

/// `"500ms"`, `"1s"`, `"2m"`, `"1h"` in milliseconds.
pub fn parse_per(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let ms = match unit.trim() {
        "ms" => n,
        "s" => n.checked_mul(1000)?,
        "m" => n.checked_mul(60_000)?,
        "h" => n.checked_mul(3_600_000)?,
        _ => return None,
    };
    Some(ms)
}

impl RateLimit {
    /// Compile `c`; an error names the field at fault and says why.
    pub fn compile(
        id: String,
        c: &RateLimitConfig,
        oauth2: bool,
    ) -> Result<RateLimit, (&'static str, String)> {
        if c.requests == 0 {
            return Err(("requests", "requests must be at least 1".into()));
        }
        let window_ms = match parse_per(&c.per) {
            Some(ms) if ms > 0 && ms <= MAX_WINDOW_MS => ms,
            Some(_) => {
                return Err((
                    "per",
                    format!("per = {:?}: the window must be between 1ms and 24h", c.per),
                ))
            }
            None => {
                return Err((
                    "per",
                    format!(
                        "per = {:?} is not a duration (a whole number and ms, s, m or h: \"1s\")",
                        c.per
                    ),
                ))
            }
        };
        let key =
            match c.key.as_str() {
                k if k.trim_start().starts_with("${") => {
                    let e = synaptic_engine::Expression::compile(k).map_err(|m| ("key", m))?;
                    if e.reads_body() {
                        return Err((
                            "key",
                            format!(
                            "key = {k:?} reads the body, which is not read yet when a request is \
                             counted: use headers, params or properties"
                        ),
                        ));
                    }
                    KeyBy::Expr(e)
                }
                "ip" => KeyBy::Ip,
                "client_id" if oauth2 => KeyBy::ClientId,
                "client_id" => return Err((
                    "key",
                    "key = \"client_id\" needs security = \"oauth2\" on the API (the client is \
                     known from its access token)"
                        .into(),
                )),
                k => match k.strip_prefix("header:").map(str::trim) {
                    Some(h) if !h.is_empty() => match HeaderName::from_bytes(h.as_bytes()) {
                        Ok(n) => KeyBy::Header(n),
                        Err(_) => {
                            return Err(("key", format!("key = {k:?}: {h:?} is not a header name")))
                        }
                    },
                    _ => {
                        return Err((
                            "key",
                            format!(
                                "key = {k:?}: expected \"ip\", \"client_id\", \"header:<name>\" \
                             or a Synapse Expression \"${{…}}\""
                            ),
                        ))
                    }
                },
            };
        let w_secs = window_ms.div_ceil(1000);
        let policy = HeaderValue::try_from(format!("\"default\";q={};w={w_secs}", c.requests))
            .map_err(|_| ("per", "cannot form RateLimit-Policy".to_string()))?;
        Ok(RateLimit {
            id,
            window: Window {
                max: c.requests,
                window_ms,
                block_ms: 0,
            },
            key,
            policy,
        })
    }

    /// The counter key of a caller (hashed: a header may hold a credential).
    pub fn counter_key(&self, caller: &str) -> String {
        let d = Sha256::digest(caller.as_bytes());
        let mut hex = String::with_capacity(32);
        for b in &d[..16] {
            hex.push_str(&format!("{b:02x}"));
        }
        format!("rate:{}:{hex}", self.id)
    }

    /// `RateLimit-Policy`, `RateLimit` and, when refused, `Retry-After`.
    pub fn headers(&self, hit: &Hit, now_ms: i64) -> http::HeaderMap {
        let secs = ((hit.reset_at_ms - now_ms).max(0) as u64).div_ceil(1000);
        let mut h = http::HeaderMap::with_capacity(3);
        h.insert(
            HeaderName::from_static("ratelimit-policy"),
            self.policy.clone(),
        );
        let remaining = hit.remaining(&self.window);
        if let Ok(v) = HeaderValue::try_from(format!("\"default\";r={remaining};t={secs}")) {
            h.insert(HeaderName::from_static("ratelimit"), v);
        }
        if !hit.allowed {
            h.insert(http::header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(requests: u64, per: &str, key: &str) -> RateLimitConfig {
        RateLimitConfig {
            requests,
            per: per.into(),
            key: key.into(),
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_per("1s"), Some(1000));
        assert_eq!(parse_per("250ms"), Some(250));
        assert_eq!(parse_per("2m"), Some(120_000));
        assert_eq!(parse_per("1h"), Some(3_600_000));
        for bad in ["", "s", "1", "1 d", "-1s", "1.5s"] {
            assert_eq!(parse_per(bad), None, "{bad}");
        }
    }

    #[test]
    fn compile_checks_each_field() {
        let ok = RateLimit::compile("a".into(), &cfg(100, "1s", "ip"), false).unwrap();
        assert_eq!(ok.window.max, 100);
        assert!(matches!(ok.key, KeyBy::Ip));
        for (c, oauth, field) in [
            (cfg(0, "1s", "ip"), false, "requests"),
            (cfg(1, "1 week", "ip"), false, "per"),
            (cfg(1, "48h", "ip"), false, "per"),
            (cfg(1, "1s", "client_id"), false, "key"),
            (cfg(1, "1s", "header:"), false, "key"),
            (cfg(1, "1s", "header:bad name"), false, "key"),
            (cfg(1, "1s", "cookie"), false, "key"),
            (cfg(1, "1s", "${headers["), false, "key"),
            (cfg(1, "1s", "${payload.user}"), false, "key"),
            (cfg(1, "1s", "${nosuch(1)} tail"), false, "key"),
        ] {
            let e = RateLimit::compile("a".into(), &c, oauth).unwrap_err();
            assert_eq!(e.0, field, "{c:?}: {}", e.1);
        }
        assert!(matches!(
            RateLimit::compile("a".into(), &cfg(1, "1s", "client_id"), true)
                .unwrap()
                .key,
            KeyBy::ClientId
        ));
        let e =
            RateLimit::compile("a".into(), &cfg(1, "1s", "${payload.user}"), false).unwrap_err();
        assert!(e.1.contains("reads the body"), "{}", e.1);
        assert!(matches!(
            RateLimit::compile("a".into(), &cfg(1, "1s", "${headers[\"X-Tenant\"]}"), false)
                .unwrap()
                .key,
            KeyBy::Expr(_)
        ));
    }

    #[test]
    fn headers_follow_the_draft() {
        let rl = RateLimit::compile("a".into(), &cfg(100, "1s", "ip"), false).unwrap();
        let ok = Hit {
            allowed: true,
            count: 58,
            reset_at_ms: 10_400,
        };
        let h = rl.headers(&ok, 10_000);
        assert_eq!(h["ratelimit-policy"], "\"default\";q=100;w=1");
        assert_eq!(h["ratelimit"], "\"default\";r=42;t=1");
        assert!(h.get("retry-after").is_none());
        let over = Hit {
            allowed: false,
            count: 100,
            reset_at_ms: 12_001,
        };
        let h = rl.headers(&over, 10_000);
        assert_eq!(h["ratelimit"], "\"default\";r=0;t=3");
        assert_eq!(h["retry-after"], "3");
        assert_ne!(rl.counter_key("k1"), rl.counter_key("k2"));
        assert!(!rl.counter_key("secret-api-key").contains("secret"));
    }
}
