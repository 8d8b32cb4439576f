//! Token endpoint responses: robust parsing (`expires_in` as a number or a numeric string,
//! missing → the configured default, 200/201 accepted, empty or non-JSON bodies are transient
//! failures, `error`/`error_description` surfaced without echoing secrets).

use std::time::Duration;

use super::secret::Secret;

/// The HTTP answer of a token endpoint, as the transport saw it.
pub struct TokenHttpResponse {
    pub status: u16,
    /// Seconds from a `Retry-After` header, if any.
    pub retry_after: Option<Duration>,
    /// The `DPoP-Nonce` header (RFC 9449 §8), if any.
    pub dpop_nonce: Option<String>,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for TokenHttpResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenHttpResponse")
            .field("status", &self.status)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish()
    }
}

/// A successfully parsed token response.
#[derive(Clone, Debug)]
pub struct ParsedToken {
    pub access_token: Secret,
    pub token_type: String,
    pub expires_in: Duration,
    /// Whether `expires_in` came from the response (false: the configured default).
    pub expires_in_from_server: bool,
    pub refresh_token: Option<Secret>,
    pub scope: Option<String>,
}

/// Why a token could not be had. Messages never hold secrets or tokens.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FetchFailure {
    #[error("token endpoint unreachable: {0}")]
    Transport(String),
    #[error("token endpoint timed out")]
    Timeout,
    #[error("token endpoint answered HTTP {0}")]
    Status(u16),
    #[error("token endpoint refused the request: HTTP {status} {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Rejected {
        status: u16,
        error: String,
        description: Option<String>,
    },
    #[error("token endpoint sent an unusable response: {0}")]
    Garbage(&'static str),
}

impl FetchFailure {
    /// A short label for metrics (`reason`).
    pub fn reason(&self) -> &'static str {
        match self {
            FetchFailure::Transport(_) => "transport",
            FetchFailure::Timeout => "timeout",
            FetchFailure::Status(_) => "status",
            FetchFailure::Rejected { .. } => "rejected",
            FetchFailure::Garbage(_) => "garbage",
        }
    }

    /// Whether this is the endpoint's fault (down, slow, 5xx, garbage) rather than a refusal
    /// of these credentials; decides which backoff is charged.
    pub fn is_endpoint_failure(&self) -> bool {
        !matches!(self, FetchFailure::Rejected { .. })
    }
}

/// Bounds for a token's lifetime.
pub const MIN_LIFETIME: Duration = Duration::from_secs(1);
pub const MAX_LIFETIME: Duration = Duration::from_secs(366 * 24 * 3600);

/// Parse a token endpoint answer.
pub fn parse_token_response(
    resp: &TokenHttpResponse,
    default_expires_in: Duration,
) -> Result<ParsedToken, FetchFailure> {
    match resp.status {
        200 | 201 => parse_success(&resp.body, default_expires_in),
        408 | 429 => Err(FetchFailure::Status(resp.status)),
        400..=499 => Err(parse_error(resp.status, &resp.body)),
        s => Err(FetchFailure::Status(s)),
    }
}

fn parse_success(body: &[u8], default_expires_in: Duration) -> Result<ParsedToken, FetchFailure> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(FetchFailure::Garbage("empty body"));
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| FetchFailure::Garbage("not JSON"))?;
    let obj = value
        .as_object()
        .ok_or(FetchFailure::Garbage("not a JSON object"))?;
    let access_token = match obj.get("access_token") {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Secret::new(s.clone()),
        _ => return Err(FetchFailure::Garbage("no access_token")),
    };
    let token_type = match obj.get("token_type") {
        None | Some(serde_json::Value::Null) => "Bearer".to_string(),
        Some(serde_json::Value::String(t)) if t.eq_ignore_ascii_case("bearer") => {
            "Bearer".to_string()
        }
        // RFC 9449 §5: a token bound to the client's DPoP key
        Some(serde_json::Value::String(t)) if t.eq_ignore_ascii_case("dpop") => "DPoP".to_string(),
        Some(_) => return Err(FetchFailure::Garbage("token_type is not Bearer or DPoP")),
    };
    let (expires_in, from_server) = match obj.get("expires_in").and_then(parse_seconds) {
        Some(secs) => (clamp_lifetime(secs), true),
        None => (clamp_lifetime(default_expires_in.as_secs_f64()), false),
    };
    let refresh_token = match obj.get("refresh_token") {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Some(Secret::new(s.clone())),
        _ => None,
    };
    let scope = obj
        .get("scope")
        .and_then(|s| s.as_str())
        .map(|s| sanitize(s, 200));
    Ok(ParsedToken {
        access_token,
        token_type,
        expires_in,
        expires_in_from_server: from_server,
        refresh_token,
        scope,
    })
}

/// `expires_in` as a JSON number or a numeric string; anything else is "absent".
fn parse_seconds(v: &serde_json::Value) -> Option<f64> {
    let n = match v {
        serde_json::Value::Number(n) => n.as_f64()?,
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    n.is_finite().then_some(n)
}

fn clamp_lifetime(secs: f64) -> Duration {
    let secs = secs.clamp(MIN_LIFETIME.as_secs_f64(), MAX_LIFETIME.as_secs_f64());
    Duration::from_secs_f64(secs)
}

fn parse_error(status: u16, body: &[u8]) -> FetchFailure {
    let value: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        value
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(|v| v.as_str())
            .map(|s| sanitize(s, 200))
    };
    FetchFailure::Rejected {
        status,
        error: field("error").unwrap_or_else(|| "unknown_error".to_string()),
        description: field("error_description"),
    }
}

/// Keep printable ASCII-ish text only, bounded, for logs and errors.
fn sanitize(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, body: &str) -> TokenHttpResponse {
        TokenHttpResponse {
            status,
            retry_after: None,
            dpop_nonce: None,
            body: body.as_bytes().to_vec(),
        }
    }
    const DEF: Duration = Duration::from_secs(3600);

    #[test]
    fn expires_in_number_string_and_missing() {
        let t = parse_token_response(
            &resp(
                200,
                r#"{"access_token":"a","token_type":"bearer","expires_in":120}"#,
            ),
            DEF,
        )
        .unwrap();
        assert_eq!(t.expires_in, Duration::from_secs(120));
        assert!(t.expires_in_from_server);
        let t = parse_token_response(
            &resp(200, r#"{"access_token":"a","expires_in":" 3599 "}"#),
            DEF,
        )
        .unwrap();
        assert_eq!(t.expires_in, Duration::from_secs(3599));
        let t = parse_token_response(&resp(201, r#"{"access_token":"a"}"#), DEF).unwrap();
        assert_eq!(t.expires_in, DEF);
        assert!(!t.expires_in_from_server);
        let t = parse_token_response(
            &resp(200, r#"{"access_token":"a","expires_in":"soon"}"#),
            DEF,
        )
        .unwrap();
        assert_eq!(t.expires_in, DEF);
        let t = parse_token_response(&resp(200, r#"{"access_token":"a","expires_in":-5}"#), DEF)
            .unwrap();
        assert_eq!(t.expires_in, MIN_LIFETIME);
        let t = parse_token_response(
            &resp(200, r#"{"access_token":"a","expires_in":1e300}"#),
            DEF,
        )
        .unwrap();
        assert_eq!(t.expires_in, MAX_LIFETIME);
    }

    #[test]
    fn garbage_is_transient() {
        for body in [
            "",
            "  ",
            "<html>",
            "[]",
            r#"{"token":"x"}"#,
            r#"{"access_token":""}"#,
        ] {
            let e = parse_token_response(&resp(200, body), DEF).unwrap_err();
            assert!(matches!(e, FetchFailure::Garbage(_)), "{body:?}: {e:?}");
            assert!(e.is_endpoint_failure());
        }
        let e = parse_token_response(
            &resp(200, r#"{"access_token":"a","token_type":"mac"}"#),
            DEF,
        )
        .unwrap_err();
        assert_eq!(e, FetchFailure::Garbage("token_type is not Bearer or DPoP"));
        let t = parse_token_response(
            &resp(200, r#"{"access_token":"a","token_type":"dpop"}"#),
            DEF,
        )
        .unwrap();
        assert_eq!(t.token_type, "DPoP");
    }

    #[test]
    fn errors_surface_error_and_description() {
        let e = parse_token_response(
            &resp(
                401,
                r#"{"error":"invalid_client","error_description":"bad\nsecret"}"#,
            ),
            DEF,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "token endpoint refused the request: HTTP 401 invalid_client (badsecret)"
        );
        assert!(!e.is_endpoint_failure());
        assert_eq!(
            parse_token_response(&resp(503, ""), DEF).unwrap_err(),
            FetchFailure::Status(503)
        );
        assert_eq!(
            parse_token_response(&resp(429, ""), DEF).unwrap_err(),
            FetchFailure::Status(429)
        );
        let e = parse_token_response(&resp(400, "nope"), DEF).unwrap_err();
        assert!(matches!(e, FetchFailure::Rejected { ref error, .. } if error == "unknown_error"));
    }
}
