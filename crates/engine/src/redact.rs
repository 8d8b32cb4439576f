//! Redaction for the log mediator: credentials never reach logs.

use regex::Regex;
use std::sync::OnceLock;

/// Whether a header or property name suggests a secret value (the gateway's one rule set).
pub(crate) fn is_secret_name(name: &str) -> bool {
    synaptic_logsafe::is_secret_name(name)
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

fn auth_scheme() -> &'static Regex {
    static P: OnceLock<Regex> = OnceLock::new();
    // auth schemes in free text
    P.get_or_init(|| {
        Regex::new(r"(?i)(\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]+").expect("static regex")
    })
}

/// Free text (bodies, values) with token-looking parts replaced by `***`: the gateway's one
/// rule set (JSON keys, XML names, form and query fields), then credentials after an auth
/// scheme.
pub fn redact_text(s: &str) -> String {
    let out = synaptic_logsafe::redact_text(s);
    let re = auth_scheme();
    if re.is_match(&out) {
        return re.replace_all(&out, "${1}***").into_owned();
    }
    out.into_owned()
}

/// `text` with the password of every URL in it (`scheme://user:password@host`) replaced by
/// `***`: messages about documents fetched over http(s) name their URLs.
pub(crate) fn url_passwords_masked(text: &str) -> String {
    static P: OnceLock<Regex> = OnceLock::new();
    let re = P
        .get_or_init(|| Regex::new(r"(://[^/\s@:`'\x22]*):[^/\s@`'\x22]*@").expect("static regex"));
    re.replace_all(text, "${1}:***@").into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_are_masked_in_messages() {
        assert_eq!(
            url_passwords_masked("imports `http://u:s3cret@h:8/a.wsdl` and https://v:p@h/b"),
            "imports `http://u:***@h:8/a.wsdl` and https://v:***@h/b"
        );
        assert_eq!(
            url_passwords_masked("http://h/a?wsdl and file:///x"),
            "http://h/a?wsdl and file:///x"
        );
    }

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
