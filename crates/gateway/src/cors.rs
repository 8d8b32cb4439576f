//! `OPTIONS` on an `<api>` resource and the API's CORS headers, as Synapse's REST dispatch
//! answers them.
//!
//! Every resource of an `<api>` takes `OPTIONS` whatever its `methods`. A resource that does
//! not list `OPTIONS` answers it itself: `200` with `Allow` naming its methods (`GET, POST,
//! PUT, DELETE` when it names none), never running its sequences. One that lists `OPTIONS`
//! mediates it, unless `Max-Forwards` is `0` (then it answers the same way); a larger
//! `Max-Forwards` is decremented on the way.
//!
//! With `[cors] enabled`, the answer to `OPTIONS` and the response of every request an
//! `<api>` resource mediates carry `Access-Control-Allow-Methods` (the resource's methods, as
//! in `Allow`), `Access-Control-Allow-Origin` (`*` when `allow_origins` lists `*`, else the
//! request's `Origin` when it is listed, else empty) and `Access-Control-Allow-Headers`, and
//! echo the request's `Origin`; an `OPTIONS` from an origin not allowed is answered `403`.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::Full;
use serde::Deserialize;

/// `[cors]` of `synaptic.toml`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    /// CORS headers on `<api>` responses (default off).
    #[serde(default)]
    pub enabled: bool,
    /// Origins allowed (`scheme://host[:port]`), or `*` for any.
    #[serde(default)]
    pub allow_origins: Vec<String>,
    /// The value of `Access-Control-Allow-Headers`.
    #[serde(default)]
    pub allow_headers: String,
}

/// `[cors]`, compiled: only built when enabled.
#[derive(Clone, Debug)]
pub struct Cors {
    any: bool,
    origins: Vec<String>,
    allow_headers: HeaderValue,
}

const ALLOW_METHODS: HeaderName = HeaderName::from_static("access-control-allow-methods");
const ALLOW_ORIGIN: HeaderName = HeaderName::from_static("access-control-allow-origin");
const ALLOW_HEADERS: HeaderName = HeaderName::from_static("access-control-allow-headers");
const MAX_FORWARDS: HeaderName = HeaderName::from_static("max-forwards");

/// The `Allow` of a resource that names no method.
const ALL_METHODS: &str = "GET, POST, PUT, DELETE";

impl Cors {
    /// `None` when CORS is off. An origin naming `localhost` also allows the same origin at
    /// `127.0.0.1` and `[::1]`.
    pub fn compile(c: &CorsConfig) -> Result<Option<Cors>, String> {
        if !c.enabled {
            return Ok(None);
        }
        let allow_headers = HeaderValue::from_str(c.allow_headers.trim())
            .map_err(|_| format!("allow_headers {:?} is not a header value", c.allow_headers))?;
        let mut origins = Vec::new();
        let mut any = false;
        for o in &c.allow_origins {
            let o = o.trim();
            if o == "*" {
                any = true;
                continue;
            }
            if o.is_empty() || HeaderValue::from_str(o).is_err() {
                return Err(format!("allow_origins: {o:?} is not an origin"));
            }
            origins.push(o.to_string());
            if let Some((scheme, rest)) = o.split_once("://") {
                let (host, port) = match rest.split_once(':') {
                    Some((h, p)) => (h, Some(p)),
                    None => (rest, None),
                };
                if host == "localhost" {
                    for ip in ["127.0.0.1", "[::1]"] {
                        origins.push(match port {
                            Some(p) => format!("{scheme}://{ip}:{p}"),
                            None => format!("{scheme}://{ip}"),
                        });
                    }
                }
            }
        }
        Ok(Some(Cors {
            any,
            origins,
            allow_headers,
        }))
    }

    /// `Access-Control-Allow-Origin` for a request's `Origin`: `*`, the origin, or empty.
    fn allowed(&self, origin: Option<&HeaderValue>) -> HeaderValue {
        if self.any {
            return HeaderValue::from_static("*");
        }
        match origin {
            Some(o) if self.origins.iter().any(|a| a.as_bytes() == o.as_bytes()) => o.clone(),
            _ => HeaderValue::from_static(""),
        }
    }

    /// The headers a response to this request carries.
    pub fn headers(&self, allow: &HeaderValue, request: &HeaderMap) -> CorsHeaders {
        let origin = request.get(header::ORIGIN);
        CorsHeaders {
            methods: allow.clone(),
            origin: self.allowed(origin),
            headers: self.allow_headers.clone(),
            request_origin: origin.cloned(),
        }
    }
}

/// The CORS headers of one request's response.
#[derive(Clone, Debug)]
pub struct CorsHeaders {
    methods: HeaderValue,
    origin: HeaderValue,
    headers: HeaderValue,
    request_origin: Option<HeaderValue>,
}

impl CorsHeaders {
    /// Set on a response (replacing what it had).
    pub fn apply(&self, h: &mut HeaderMap) {
        h.insert(ALLOW_METHODS, self.methods.clone());
        h.insert(ALLOW_ORIGIN, self.origin.clone());
        h.insert(ALLOW_HEADERS, self.headers.clone());
        if let Some(o) = &self.request_origin {
            h.insert(header::ORIGIN, o.clone());
        }
    }

    /// As a header map.
    pub fn to_map(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        self.apply(&mut h);
        h
    }

    fn refused(&self) -> bool {
        self.origin.is_empty()
    }
}

/// The resource's `Allow`: its methods but `OPTIONS`, in the order Synapse lists them (its
/// `HashSet` of method names), or `GET, POST, PUT, DELETE` when it names none.
pub fn allow_value(methods: &[String]) -> HeaderValue {
    let mut names: Vec<&str> = Vec::new();
    for m in methods {
        if !names.contains(&m.as_str()) {
            names.push(m);
        }
    }
    if names.is_empty() {
        return HeaderValue::from_static(ALL_METHODS);
    }
    let ordered = java_hash_set_order(&names);
    let text = ordered
        .into_iter()
        .filter(|m| *m != "OPTIONS")
        .collect::<Vec<_>>()
        .join(", ");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(ALL_METHODS))
}

/// The iteration order of a `java.util.HashSet<String>` created with capacity 4 and filled
/// with `names` in order: by bucket of the final table (`hash ^ hash >>> 16` masked by its
/// size, which doubles past three quarters full), insertion order within a bucket.
fn java_hash_set_order<'a>(names: &[&'a str]) -> Vec<&'a str> {
    let mut cap: usize = 4;
    while names.len() * 4 > cap * 3 {
        cap *= 2;
    }
    let bucket = |s: &str| {
        let h = s
            .encode_utf16()
            .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
        let spread = (h as u32) ^ ((h as u32) >> 16);
        spread as usize & (cap - 1)
    };
    let mut ordered: Vec<(usize, usize, &str)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (bucket(n), i, *n))
        .collect();
    ordered.sort_unstable();
    ordered.into_iter().map(|(_, _, n)| n).collect()
}

/// What an `<api>` resource does with an `OPTIONS` request.
pub enum Options {
    /// The resource answers it.
    Answer(Response<Full<Bytes>>),
    /// Its sequences mediate it (`Max-Forwards` decremented).
    Mediate,
}

/// Decide an `OPTIONS` request on a resource: `mediates` when it lists `OPTIONS`.
pub fn options(
    mediates: bool,
    allow: &HeaderValue,
    cors: Option<&CorsHeaders>,
    request: &mut HeaderMap,
) -> Options {
    if mediates {
        let forwards = request
            .get(MAX_FORWARDS)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        match forwards {
            Some(0) => {}
            Some(n) => {
                request.insert(MAX_FORWARDS, HeaderValue::from(n - 1));
                return Options::Mediate;
            }
            None => return Options::Mediate,
        }
    }
    let mut r = Response::new(Full::new(Bytes::new()));
    r.headers_mut().insert(header::ALLOW, allow.clone());
    if let Some(c) = cors {
        c.apply(r.headers_mut());
        if c.refused() {
            *r.status_mut() = StatusCode::FORBIDDEN;
        }
    }
    Options::Answer(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn allow_lists_methods_as_a_java_hash_set_iterates_them() {
        // buckets of String.hashCode spread over a table of 4: GET 3, POST 1; a table of 8
        // once four are in: GET 7, POST 5, PUT 6, DELETE 2
        assert_eq!(allow_value(&m(&["GET", "POST"])), "POST, GET");
        assert_eq!(allow_value(&m(&["POST", "GET"])), "POST, GET");
        assert_eq!(allow_value(&m(&["GET"])), "GET");
        assert_eq!(
            allow_value(&m(&["GET", "POST", "PUT", "DELETE"])),
            "DELETE, POST, PUT, GET"
        );
        assert_eq!(allow_value(&m(&["GET", "OPTIONS"])), "GET");
        assert_eq!(allow_value(&m(&[])), "GET, POST, PUT, DELETE");
        assert_eq!(allow_value(&m(&["PUT", "PUT"])), "PUT");
    }

    #[test]
    fn java_string_hashes_are_computed_as_java_does() {
        // "GET".hashCode() = 70454, "DELETE".hashCode() = 2012838315
        let h = |s: &str| {
            s.encode_utf16()
                .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
        };
        assert_eq!(h("GET"), 70454);
        assert_eq!(h("DELETE"), 2012838315);
        assert_eq!(h("OPTIONS"), -531492226);
    }

    fn cors(origins: &[&str]) -> Cors {
        Cors::compile(&CorsConfig {
            enabled: true,
            allow_origins: m(origins),
            allow_headers: "content-type".into(),
        })
        .unwrap()
        .unwrap()
    }

    fn with_origin(o: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        h
    }

    #[test]
    fn the_allowed_origin_is_a_star_the_origin_or_empty() {
        let allow = HeaderValue::from_static("GET");
        let c = cors(&["https://a.example", "http://localhost:3000"]);
        let mut out = HeaderMap::new();
        c.headers(&allow, &with_origin("https://a.example"))
            .apply(&mut out);
        assert_eq!(out[ALLOW_ORIGIN], "https://a.example");
        assert_eq!(out[header::ORIGIN], "https://a.example");
        assert_eq!(out[ALLOW_METHODS], "GET");
        assert_eq!(out[ALLOW_HEADERS], "content-type");
        let h = c.headers(&allow, &with_origin("https://b.example"));
        assert!(h.refused());
        let h = c.headers(&allow, &with_origin("http://127.0.0.1:3000"));
        assert!(!h.refused());
        let h = c.headers(&allow, &HeaderMap::new());
        assert!(h.refused());
        let star = cors(&["*", "https://a.example"]);
        let mut out = HeaderMap::new();
        star.headers(&allow, &with_origin("https://z.example"))
            .apply(&mut out);
        assert_eq!(out[ALLOW_ORIGIN], "*");
    }

    #[test]
    fn cors_is_off_unless_enabled_and_rejects_bad_values() {
        assert!(Cors::compile(&CorsConfig::default()).unwrap().is_none());
        let bad = CorsConfig {
            enabled: true,
            allow_origins: m(&["https://a.example\nx: y"]),
            allow_headers: String::new(),
        };
        assert!(Cors::compile(&bad).is_err());
    }

    #[test]
    fn options_is_answered_unless_the_resource_mediates_it() {
        let allow = HeaderValue::from_static("POST, GET");
        let mut req = HeaderMap::new();
        let Options::Answer(r) = options(false, &allow, None, &mut req) else {
            panic!("answered")
        };
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::ALLOW], "POST, GET");
        assert!(r.headers().get(ALLOW_ORIGIN).is_none());
        // listed: mediated, Max-Forwards counted down; 0 answers
        assert!(matches!(
            options(true, &allow, None, &mut req),
            Options::Mediate
        ));
        req.insert(MAX_FORWARDS, HeaderValue::from_static("3"));
        assert!(matches!(
            options(true, &allow, None, &mut req),
            Options::Mediate
        ));
        assert_eq!(req[MAX_FORWARDS], "2");
        req.insert(MAX_FORWARDS, HeaderValue::from_static("0"));
        assert!(matches!(
            options(true, &allow, None, &mut req),
            Options::Answer(_)
        ));
        // an origin not allowed: 403
        let c = cors(&["https://a.example"]);
        let h = c.headers(&allow, &with_origin("https://b.example"));
        let Options::Answer(r) = options(false, &allow, Some(&h), &mut HeaderMap::new()) else {
            panic!("answered")
        };
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(r.headers()[ALLOW_ORIGIN], "");
    }
}
