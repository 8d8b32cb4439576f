//! `--wire`: headers and bodies of every message in both directions, like Synapse's wire log,
//! with credentials redacted. Also the redaction used by the access log.
//!
//! `>>` is data entering the gateway (client requests, backend responses), `<<` data leaving it.

use http::HeaderMap;

/// Header names whose values are credentials.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "apikey",
];

/// JSON keys and form fields whose values are credentials.
const SECRET_FIELDS: &[&str] = &[
    "access_token",
    "refresh_token",
    "id_token",
    "token",
    "client_secret",
    "password",
    "code",
    "code_verifier",
    "assertion",
    "client_assertion",
    "apikey",
    "api_key",
    "secret",
];

fn is_secret_field(name: &str) -> bool {
    SECRET_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(name))
}

/// A header value fit for logs: credentials keep only their scheme (`Bearer ***`).
pub fn redact_header(name: &str, value: &[u8]) -> String {
    let v = String::from_utf8_lossy(value);
    if SECRET_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name)) {
        match v.split_once(' ') {
            Some((scheme, _)) if name.to_ascii_lowercase().ends_with("authorization") => {
                format!("{scheme} ***")
            }
            _ => "***".to_string(),
        }
    } else {
        v.into_owned()
    }
}

/// A body fit for logs: JSON and form fields holding credentials are replaced by `***`;
/// binary bodies are summarised.
pub fn redact_body(content_type: Option<&str>, body: &[u8]) -> String {
    if body.is_empty() {
        return String::new();
    }
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    let Ok(text) = std::str::from_utf8(body) else {
        return format!("<{} bytes of binary data>", body.len());
    };
    let trimmed = text.trim_start();
    if ct.contains("json") || trimmed.starts_with('{') || trimmed.starts_with('[') {
        if let Ok(mut v) = serde_json::from_str::<serde_json::Value>(text) {
            redact_json(&mut v);
            return v.to_string();
        }
    }
    if ct.contains("x-www-form-urlencoded") || looks_like_form(text) {
        return redact_form(text);
    }
    if ct.contains("xml") || trimmed.starts_with('<') {
        return redact_xml(text);
    }
    text.to_string()
}

fn looks_like_form(text: &str) -> bool {
    !text.is_empty()
        && !text.contains(char::is_whitespace)
        && text.split('&').all(|kv| kv.contains('='))
}

fn redact_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                if is_secret_field(k) && !v.is_null() {
                    *v = serde_json::Value::String("***".into());
                } else {
                    redact_json(v);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(redact_json),
        _ => {}
    }
}

/// `a=1&password=x` → `a=1&password=***`
pub fn redact_form(text: &str) -> String {
    text.split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if is_secret_field(&url_decode(k)) => format!("{k}=***"),
            _ => kv.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn redact_xml(text: &str) -> String {
    // <password>…</password> and friends (elements named like a secret field)
    let mut out = text.to_string();
    for f in SECRET_FIELDS {
        let open = format!("<{f}>");
        let close = format!("</{f}>");
        let mut from = 0;
        while let Some(s) = out[from..].find(&open) {
            let start = from + s + open.len();
            let Some(e) = out[start..].find(&close) else {
                break;
            };
            out.replace_range(start..start + e, "***");
            from = start + 3 + close.len();
        }
    }
    out
}

fn url_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// A URL fit for logs: query fields holding credentials are replaced by `***`.
pub fn redact_url(url: &str) -> String {
    match url.split_once('?') {
        Some((base, q)) => format!("{base}?{}", redact_form(q)),
        None => url.to_string(),
    }
}

/// A query string fit for the access log: values are dropped (`?a=…&b=…`), since query
/// parameters can carry tokens.
pub fn redact_query(q: &str) -> String {
    q.split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) => format!("{k}=…"),
            None => kv.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Log one message (request line or status line, headers, body) at target `synaptic::wire`.
pub fn log(direction: &str, peer: &str, first_line: &str, headers: &HeaderMap, body: &[u8]) {
    let mut s = String::with_capacity(256 + body.len());
    s.push_str(direction);
    s.push_str(" \"");
    s.push_str(first_line);
    s.push_str("[\\r][\\n]\"\n");
    for (k, v) in headers {
        s.push_str(direction);
        s.push_str(" \"");
        s.push_str(k.as_str());
        s.push_str(": ");
        s.push_str(&redact_header(k.as_str(), v.as_bytes()));
        s.push_str("[\\r][\\n]\"\n");
    }
    s.push_str(direction);
    s.push_str(" \"[\\r][\\n]\"");
    if !body.is_empty() {
        let ct = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        s.push('\n');
        s.push_str(direction);
        s.push_str(" \"");
        s.push_str(&redact_body(ct, body));
        s.push('"');
    }
    tracing::info!(target: "synaptic::wire", peer, "\n{s}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        assert_eq!(
            redact_header("Authorization", b"Bearer abc.def"),
            "Bearer ***"
        );
        assert_eq!(
            redact_header("authorization", b"Basic eDU1YQ=="),
            "Basic ***"
        );
        assert_eq!(redact_header("Cookie", b"sid=1"), "***");
        assert_eq!(redact_header("Accept", b"*/*"), "*/*");
    }

    #[test]
    fn bodies() {
        assert_eq!(
            redact_body(
                Some("application/json"),
                br#"{"access_token":"c1900c8c","scope":"default","expires_in":567,"nested":[{"refresh_token":"r"}]}"#
            ),
            r#"{"access_token":"***","scope":"default","expires_in":567,"nested":[{"refresh_token":"***"}]}"#
        );
        assert_eq!(
            redact_body(
                Some("application/x-www-form-urlencoded"),
                b"grant_type=password&username=bob&password=s3cret&client_secret=x"
            ),
            "grant_type=password&username=bob&password=***&client_secret=***"
        );
        assert_eq!(
            redact_body(None, b"<root><password>p</password><a>1</a></root>"),
            "<root><password>***</password><a>1</a></root>"
        );
        assert_eq!(redact_body(None, b"plain text"), "plain text");
        assert_eq!(
            redact_query("access_token=abc&x=1&flag"),
            "access_token=…&x=…&flag"
        );
    }
}
