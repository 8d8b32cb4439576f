//! The authorization server over HTTPS: `Strict-Transport-Security` on what it answers over
//! TLS, and the redirect of its plain-HTTP requests to the HTTPS listener when both listeners
//! run (`[auth_server] hsts_max_age`, `https_redirect`). Passwords, codes and tokens then never
//! travel in clear after a user's first visit.

use super::config::AuthServerConfig;
use crate::hooks::HookResponse;
use bytes::Bytes;
use http::{header, HeaderValue, Method, Response, StatusCode};
use http_body_util::Full;

/// The operator endpoints (loopback, admin token) are never redirected.
const ADMIN_PREFIX: &str = "/oauth2/admin/";

/// The redirect of a plain-HTTP request to the HTTPS listener on `tls_port`, when the
/// configuration asks for it: `301` for `GET`/`HEAD`, `308` otherwise (the method and body are
/// kept). The host is the request's `Host` without its port (the listener checked it); the path
/// and query are kept. `None`: answer the request here.
pub fn https_redirect(
    ac: &AuthServerConfig,
    parts: &http::request::Parts,
    tls_port: Option<u16>,
) -> Option<HookResponse> {
    let port = tls_port?;
    if !ac.redirects_to_https() || parts.uri.path().starts_with(ADMIN_PREFIX) {
        return None;
    }
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.host())?;
    let host = host_without_port(host)?;
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let location = if port == 443 {
        format!("https://{host}{target}")
    } else {
        format!("https://{host}:{port}{target}")
    };
    let location = HeaderValue::from_str(&location).ok()?;
    let status = if parts.method == Method::GET || parts.method == Method::HEAD {
        StatusCode::MOVED_PERMANENTLY
    } else {
        StatusCode::PERMANENT_REDIRECT
    };
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    r.headers_mut().insert(header::LOCATION, location);
    Some(r)
}

/// `example.com:8280` → `example.com`, `[::1]:8280` → `[::1]`; `None` for a value that is no
/// host name or address (nothing is redirected to it).
pub(crate) fn host_without_port(host: &str) -> Option<&str> {
    let name = if host.starts_with('[') {
        &host[..=host.find(']')?]
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':'));
    ok.then_some(name)
}

/// Add `Strict-Transport-Security` to an answer sent over TLS.
pub fn add_hsts(ac: &AuthServerConfig, r: &mut HookResponse) {
    if let Some(v) = ac.hsts() {
        r.headers_mut().insert(header::STRICT_TRANSPORT_SECURITY, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: Method, uri: &str, host: &str) -> http::request::Parts {
        let mut r = http::Request::new(());
        *r.method_mut() = method;
        *r.uri_mut() = uri.parse().unwrap();
        r.headers_mut()
            .insert(header::HOST, HeaderValue::from_str(host).unwrap());
        r.into_parts().0
    }

    fn location(r: &HookResponse) -> &str {
        r.headers()[header::LOCATION].to_str().unwrap()
    }

    #[test]
    fn redirects_get_with_301_and_post_with_308_keeping_path_and_query() {
        let ac = AuthServerConfig::default();
        let p = parts(
            Method::GET,
            "/oauth2/authorize?client_id=a&state=x",
            "gw.example:8280",
        );
        let r = https_redirect(&ac, &p, Some(8243)).unwrap();
        assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(
            location(&r),
            "https://gw.example:8243/oauth2/authorize?client_id=a&state=x"
        );
        let p = parts(Method::POST, "/oauth2/token", "[::1]:8280");
        let r = https_redirect(&ac, &p, Some(443)).unwrap();
        assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(location(&r), "https://[::1]/oauth2/token");
    }

    #[test]
    fn no_redirect_without_the_https_listener_when_off_or_for_admin_paths() {
        let p = parts(Method::GET, "/oauth2/token", "gw");
        assert!(https_redirect(&AuthServerConfig::default(), &p, None).is_none());
        let off = AuthServerConfig {
            https_redirect: Some(false),
            ..Default::default()
        };
        assert!(https_redirect(&off, &p, Some(8243)).is_none());
        let p = parts(Method::POST, "/oauth2/admin/purge", "gw");
        assert!(https_redirect(&AuthServerConfig::default(), &p, Some(8243)).is_none());
        let p = parts(Method::GET, "/oauth2/token", "evil\"/x");
        assert!(https_redirect(&AuthServerConfig::default(), &p, Some(8243)).is_none());
    }

    #[test]
    fn hsts_defaults_to_one_year_and_zero_turns_it_off() {
        let mut r = Response::new(Full::new(Bytes::new()));
        add_hsts(&AuthServerConfig::default(), &mut r);
        assert_eq!(
            r.headers()[header::STRICT_TRANSPORT_SECURITY],
            "max-age=31536000"
        );
        let mut r = Response::new(Full::new(Bytes::new()));
        let off = AuthServerConfig {
            hsts_max_age: Some(0),
            ..Default::default()
        };
        add_hsts(&off, &mut r);
        assert!(r.headers().get(header::STRICT_TRANSPORT_SECURITY).is_none());
    }
}
