//! The credential redaction rule set.
//!
//! One question decides everything: [`is_secret_name`] — does a header, parameter, JSON key,
//! XML element or attribute, or form field of this name hold a credential? Names are compared
//! case-insensitively, without namespace prefix (`a:password`, `{urn:x}password`) and without
//! separators (`client_secret`, `clientSecret`, `Client-Secret` are one name).
//!
//! The rules then find names in any text, well-formed or not, whatever its content type says:
//!
//! | where | example | logged as |
//! |---|---|---|
//! | header | `Authorization: Bearer abc`, `X-Auth-Token: abc` | `Bearer ***`, `***` |
//! | query / fragment / form field | `?code=abc`, `#access_token=abc`, `password=x&a=1` | `code=***`, … |
//! | JSON key (also in broken JSON) | `"clientSecret": "x"`, `{"password":"x` | `"clientSecret": "***"` |
//! | XML element | `<a:password>x</a:password>`, CDATA content | `<a:password>***</a:password>` |
//! | XML attribute | `password="x"`, `ns:token='x'` | `password="***"` |
//!
//! Every rule is a single pass over the text (the `regex` crate runs in linear time).

use regex::{Captures, Regex};
use std::borrow::Cow;
use std::sync::OnceLock;

/// Words that make any name containing them secret (compared without case and separators).
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "privatekey",
    "authorization",
    "cookie",
    "credential",
    "assertion",
    "clientauth",
    "codeverifier",
    "sessionid",
    "signature",
    // DPoP proofs (RFC 9449) and the keys that sign them
    "dpop",
];

/// Names that are secret only when they are the whole name.
const SECRET_NAMES: &[&str] = &["code", "pwd", "pass", "sid", "otp", "auth", "key"];

/// Endings that make a name describe a credential rather than hold one (`token_type`,
/// `token_endpoint`, `expires_in`).
const HARMLESS_ENDINGS: &[&str] = &[
    "type",
    "typehint",
    "endpoint",
    "supported",
    "url",
    "uri",
    "expiresin",
    "lifetime",
];

/// Header names whose value keeps its scheme (`Bearer ***`).
const SCHEME_HEADERS: &[&str] = &["authorization", "proxy-authorization"];

/// Whether a name holds a credential (see the module documentation).
pub fn is_secret_name(name: &str) -> bool {
    // namespace prefix: `a:password`, `{urn:x}password`
    let local = name.rsplit([':', '}']).next().unwrap_or(name);
    let mut norm = String::with_capacity(local.len());
    for c in local.chars() {
        if c.is_alphanumeric() {
            norm.extend(c.to_lowercase());
        }
    }
    if norm.is_empty() {
        return false;
    }
    if SECRET_NAMES.contains(&norm.as_str()) {
        return true;
    }
    if HARMLESS_ENDINGS.iter().any(|e| norm.ends_with(e)) {
        return false;
    }
    SECRET_WORDS.iter().any(|w| norm.contains(w))
}

/// A header value fit for a log: a credential header keeps only its scheme
/// (`Authorization: Bearer ***`) or becomes `***`; any other value has its secret parameters
/// redacted ([`redact_text`]: `Location: /cb?code=***&state=x`).
pub fn redact_header(name: &str, value: &str) -> String {
    if is_secret_name(name) {
        if SCHEME_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name)) {
            if let Some((scheme, _)) = value.trim_start().split_once(' ') {
                if !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return format!("{scheme} ***");
                }
            }
        }
        return "***".to_string();
    }
    redact_text(value).into_owned()
}

/// A URL fit for a log: secret query and fragment parameters redacted.
pub fn redact_url(url: &str) -> String {
    redact_text(url).into_owned()
}

struct Rules {
    json: Regex,
    element: Regex,
    attribute: Regex,
    field: Regex,
}

fn rules() -> &'static Rules {
    static R: OnceLock<Rules> = OnceLock::new();
    R.get_or_init(|| Rules {
        // "key" : value   (string — possibly unterminated — or a bare scalar; objects and
        // arrays are left to the inner keys)
        json: Regex::new(
            r#"(?s)("([^"\\\n]{1,256})"\s*:\s*)("(?:[^"\\]|\\.)*"?|[^\s,}\]{\["][^\s,}\]]*)"#,
        )
        .expect("static regex"),
        // <prefix:name attrs>content   (content up to the next tag, or one CDATA section)
        element: Regex::new(
            r"(?s)(<((?:[A-Za-z_][\w.\-]*:)?[A-Za-z_][\w.\-]*)(?:\s[^<>]*)?>)(<!\[CDATA\[.*?(?:\]\]>|$)|[^<]*)",
        )
        .expect("static regex"),
        // name="value" or name='value' (XML and HTML attributes, quoted settings)
        attribute: Regex::new(
            r#"(?s)(^|[\s<])((?:[A-Za-z_][\w.\-]*:)?[A-Za-z_][\w.\-]*)(\s*=\s*)("[^"]*"?|'[^']*'?)"#,
        )
        .expect("static regex"),
        // name=value in forms, queries, fragments, cookies and free text
        field: Regex::new(r#"(^|[?&;#\s,])([^=&?#;\s"'<>]{1,256})=([^&#\s"'<>][^&#\s<>]*)"#)
            .expect("static regex"),
    })
}

fn decoded(name: &str) -> Cow<'_, str> {
    if name.contains(['%', '+']) {
        let plus = name.replace('+', " ");
        Cow::Owned(
            percent_encoding::percent_decode_str(&plus)
                .decode_utf8_lossy()
                .into_owned(),
        )
    } else {
        Cow::Borrowed(name)
    }
}

fn apply<'t>(
    re: &Regex,
    text: Cow<'t, str>,
    f: impl Fn(&Captures<'_>) -> Option<String>,
) -> Cow<'t, str> {
    let mut changed = false;
    let out = re.replace_all(&text, |c: &Captures<'_>| match f(c) {
        Some(s) => {
            changed = true;
            s
        }
        None => c[0].to_string(),
    });
    match out {
        Cow::Owned(s) if changed => Cow::Owned(s),
        _ => text,
    }
}

/// Any text (a body of any content type, a URL, a header value, free text) with the values
/// of secret names replaced by `***` under every rule of the module. Works on broken and
/// truncated input: a value cut off by the end of the text is redacted to the end.
pub fn redact_text(text: &str) -> Cow<'_, str> {
    let r = rules();
    let mut out = Cow::Borrowed(text);
    if out.contains('"') {
        out = apply(&r.json, out, |c| {
            if !is_secret_name(&c[2]) {
                return None;
            }
            Some(format!("{}\"***\"", &c[1]))
        });
    }
    if out.contains('<') {
        out = apply(&r.element, out, |c| {
            (is_secret_name(&c[2]) && !c[3].is_empty()).then(|| format!("{}***", &c[1]))
        });
    }
    if out.contains('=') {
        out = apply(&r.attribute, out, |c| {
            if !is_secret_name(&c[2]) {
                return None;
            }
            let q = &c[4][..1];
            Some(format!("{}{}{}{q}***{q}", &c[1], &c[2], &c[3]))
        });
        out = apply(&r.field, out, |c| {
            is_secret_name(&decoded(&c[2])).then(|| format!("{}{}=***", &c[1], &c[2]))
        });
    }
    out
}

/// Names the redaction property is checked with (tests and the fuzz target).
#[doc(hidden)]
pub const PROBE_NAMES: [&str; 9] = [
    "password",
    "client_secret",
    "clientSecret",
    "accessToken",
    "refresh_token",
    "id_token",
    "code",
    "X-Auth-Token",
    "a:password",
];

/// Every form the rules know, with `value` under `name`: JSON (also unterminated), an XML
/// element and attribute, a form, a query and a fragment. Redacting any of them must remove
/// `value` (tests and the fuzz target).
#[doc(hidden)]
pub fn probe_forms(name: &str, value: &str) -> [String; 6] {
    [
        format!("{{\"{name}\":\"{value}\",\"x\":1}}"),
        format!("{{\"{name}\": \"{value}"),
        format!("<r><{name}>{value}</{name}></r>"),
        format!("<r {name}=\"{value}\"/>"),
        format!("a=1&{name}={value}&b=2"),
        format!("https://app.example/cb?state=s&{name}={value}#{name}={value}"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for n in [
            "password",
            "Password",
            "PASSWORD",
            "a:password",
            "{urn:x}password",
            "client_secret",
            "clientSecret",
            "Client-Secret",
            "accessToken",
            "access_token",
            "refresh_token",
            "id_token",
            "X-Auth-Token",
            "X-Access-Token",
            "Private-Token",
            "x-api-key",
            "apikey",
            "Authorization",
            "Proxy-Authorization",
            "Cookie",
            "Set-Cookie",
            "code",
            "code_verifier",
            "client_assertion",
            "new_password",
            "JSESSIONID",
            "DPoP",
            "dpop_key",
            "DPOP_KEY_ENV",
        ] {
            assert!(is_secret_name(n), "{n}");
        }
        for n in [
            "username",
            "scope",
            "state",
            "token_type",
            "token_endpoint",
            "authorization_endpoint",
            "expires_in",
            "country_code",
            "redirect_uri",
            "Accept",
            "Content-Type",
            "grant_type",
            "dpop_signing_alg_values_supported",
            "",
        ] {
            assert!(!is_secret_name(n), "{n}");
        }
    }

    #[test]
    fn headers() {
        assert_eq!(
            redact_header("Authorization", "Bearer abc.def"),
            "Bearer ***"
        );
        assert_eq!(
            redact_header("authorization", "Basic eDU1YQ=="),
            "Basic ***"
        );
        assert_eq!(redact_header("Authorization", "abc"), "***");
        assert_eq!(redact_header("Cookie", "sid=1"), "***");
        assert_eq!(redact_header("X-Auth-Token", "abc"), "***");
        assert_eq!(redact_header("X-Access-Token", "abc"), "***");
        assert_eq!(redact_header("Private-Token", "abc"), "***");
        assert_eq!(redact_header("Accept", "*/*"), "*/*");
        assert_eq!(
            redact_header("DPoP", "eyJ0eXAiOiJkcG9wK2p3dCJ9.e30.sig"),
            "***"
        );
        assert_eq!(
            redact_header("Authorization", "DPoP eyJhbGc.x.y"),
            "DPoP ***"
        );
        assert_eq!(
            redact_header("Location", "https://app/cb?code=syn_ac_abc&state=xyz"),
            "https://app/cb?code=***&state=xyz"
        );
        assert_eq!(
            redact_header(
                "Location",
                "https://app/cb#access_token=syn_at_abc&token_type=Bearer&expires_in=3600&scope=a"
            ),
            "https://app/cb#access_token=***&token_type=Bearer&expires_in=3600&scope=a"
        );
        assert_eq!(
            redact_header("Location", "https://app/cb#id_token=eyJ.x.y&state=1"),
            "https://app/cb#id_token=***&state=1"
        );
    }

    #[test]
    fn json() {
        assert_eq!(
            redact_text(
                r#"{"access_token":"c1900c8c","scope":"default","expires_in":567,"nested":[{"refresh_token":"r"}]}"#
            ),
            r#"{"access_token":"***","scope":"default","expires_in":567,"nested":[{"refresh_token":"***"}]}"#
        );
        assert_eq!(
            redact_text(r#"{"clientSecret" : "s", "accessToken":"t", "Password": 1234}"#),
            r#"{"clientSecret" : "***", "accessToken":"***", "Password": "***"}"#
        );
        // malformed and truncated
        assert_eq!(
            redact_text(r#"{"user":"bob","password":"hunter2"#),
            r#"{"user":"bob","password":"***""#
        );
        assert_eq!(
            redact_text(r#"{"password":"a\"b", oops "#),
            r#"{"password":"***", oops "#
        );
        assert_eq!(
            redact_text(r#"{"password":{"inner":"x","token":"t"}}"#),
            r#"{"password":{"inner":"x","token":"***"}}"#
        );
    }

    #[test]
    fn xml() {
        assert_eq!(
            redact_text("<root><password>p</password><a>1</a></root>"),
            "<root><password>***</password><a>1</a></root>"
        );
        assert_eq!(
            redact_text(
                r#"<s:Body><a:password xmlns:a="urn:x">p</a:password><a:Token>t</a:Token></s:Body>"#
            ),
            r#"<s:Body><a:password xmlns:a="urn:x">***</a:password><a:Token>***</a:Token></s:Body>"#
        );
        assert_eq!(
            redact_text(r#"<login user="bob" password="p" a:secret='s'/>"#),
            r#"<login user="bob" password="***" a:secret='***'/>"#
        );
        assert_eq!(
            redact_text("<password><![CDATA[p<x>]]></password>"),
            "<password>***</password>"
        );
        assert_eq!(redact_text("<password>unterminated"), "<password>***");
    }

    #[test]
    fn forms_and_text() {
        assert_eq!(
            redact_text("grant_type=password&username=bob&password=s3cret&client_secret=x"),
            "grant_type=password&username=bob&password=***&client_secret=***"
        );
        assert_eq!(redact_text("pass%77ord=x&a=1"), "pass%77ord=***&a=1");
        assert_eq!(
            redact_text("GET /cb?code=abc&state=s HTTP/1.1"),
            "GET /cb?code=***&state=s HTTP/1.1"
        );
        assert_eq!(redact_text("plain text"), "plain text");
        assert!(matches!(redact_text("a=1&b=2"), Cow::Borrowed(_)));
    }
}

#[cfg(test)]
mod property {
    use super::*;

    /// The property the `redact` fuzz target checks, on a fixed set of values.
    #[test]
    fn a_value_under_a_secret_name_never_survives() {
        for name in PROBE_NAMES {
            for value in ["ZQXa", "ZQX-._~9", "ZQXpassword"] {
                for f in probe_forms(name, value) {
                    let out = redact_text(&f);
                    assert!(!out.contains(value), "{f:?} -> {out:?}");
                }
                assert!(!redact_header(name, value).contains(value));
            }
        }
    }
}
