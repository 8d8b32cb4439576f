//! Redaction for the log mediator: credentials never reach logs.

use regex::Regex;
use std::sync::OnceLock;

const SECRET_WORDS: &[&str] = &[
    "authorization",
    "token",
    "secret",
    "password",
    "passwd",
    "credential",
    "cookie",
    "api-key",
    "apikey",
    "api_key",
    "client-auth",
    "client_auth",
    "assertion",
];

/// Whether a header or property name suggests a secret value.
pub(crate) fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| n.contains(w))
}

/// A header/property value fit for a log line: secrets become `***` (an auth scheme is kept).
pub fn redact_header_value(name: &str, value: &str) -> String {
    if is_secret_name(name) || looks_like_token(value) {
        return match value.split_once(' ') {
            Some((scheme, _))
                if scheme.len() < 16 && scheme.chars().all(|c| c.is_ascii_alphabetic()) =>
            {
                format!("{scheme} ***")
            }
            _ => "***".to_string(),
        };
    }
    redact_text(value)
}

fn looks_like_token(v: &str) -> bool {
    let v = v.trim();
    let lower = v.to_ascii_lowercase();
    if lower.starts_with("bearer ") || lower.starts_with("basic ") {
        return true;
    }
    // a JWT, or a long opaque run of token characters
    let tokenish = v.len() >= 24
        && !v.contains(' ')
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '=' | '+' | '/'));
    let has_digit = v.chars().any(|c| c.is_ascii_digit());
    let has_alpha = v.chars().any(|c| c.is_ascii_alphabetic());
    tokenish && has_digit && has_alpha && !v.contains("://")
}

fn patterns() -> &'static [Regex; 3] {
    static P: OnceLock<[Regex; 3]> = OnceLock::new();
    P.get_or_init(|| {
        let words = r"(?i)(access_token|refresh_token|id_token|client_secret|password|secret|token|assertion|code_verifier)";
        [
            // JSON "key": "value"
            Regex::new(&format!(r#"("{words}"\s*:\s*")[^"]*(")"#)).expect("static regex"),
            // form / query key=value
            Regex::new(&format!(r"(\b{words}=)[^&\s]*()")).expect("static regex"),
            // auth schemes in free text
            Regex::new(r"(?i)(\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]+()").expect("static regex"),
        ]
    })
}

/// Free text (bodies, values) with token-looking parts replaced by `***`.
pub fn redact_text(s: &str) -> String {
    let mut out = s.to_string();
    for re in patterns() {
        if re.is_match(&out) {
            out = re
                .replace_all(&out, |c: &regex::Captures<'_>| {
                    let pre = c.get(1).map(|m| m.as_str()).unwrap_or("");
                    let post = c.get(c.len() - 1).map(|m| m.as_str()).unwrap_or("");
                    format!("{pre}***{post}")
                })
                .into_owned();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts() {
        assert_eq!(
            redact_header_value("Authorization", "Bearer abc.def"),
            "Bearer ***"
        );
        assert_eq!(
            redact_header_value("X-Thing", "Basic dXNlcjpwYXNz"),
            "Basic ***"
        );
        assert_eq!(
            redact_header_value("Accept", "application/json"),
            "application/json"
        );
        assert_eq!(
            redact_header_value("X-Id", "c1900c8c-10f4-3cb8-9c89-077ec35bff49"),
            "***"
        );
        assert_eq!(
            redact_text(r#"{"access_token":"c1900c8c","expires_in":3600}"#),
            r#"{"access_token":"***","expires_in":3600}"#
        );
        assert_eq!(
            redact_text("grant_type=password&password=hunter2&x=1"),
            "grant_type=password&password=***&x=1"
        );
        assert_eq!(
            redact_text("auth Bearer abc123 done"),
            "auth Bearer *** done"
        );
    }
}
