//! Request heads, as a client sends them, through hyper's parser (httparse) and the gateway's
//! own checks of every listener role (`strict`), the path normaliser and the response framing
//! fix (a `Content-Length` that stays describes the body): nothing panics, and a head the checks accept holds to what they promise — exactly one
//! `Host` on HTTP/1.1, no URL-rewrite header, `Transfer-Encoding` only as a lone `chunked`
//! without `Content-Length`, a method the configuration accepts — and a normalised path is a
//! fixed point of the normaliser with no `.`/`..` segment, no empty segment and no `%2F`.
#![no_main]

use bytes::Bytes;
use http::{header, Method, Request, Response, Version};
use http_body_util::Full;
use libfuzzer_sys::fuzz_target;
use std::future::Future;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};
use synaptic_gateway::strict::{fix_framing, Front, Role};

/// One API that lists an extra method, as `synaptic.toml` would.
const CONFIG: &str = r#"
[[api]]
name = "Shop"
context = "/shop"
endpoint = "http://127.0.0.1:9/"

[[api.resource]]
methods = ["GET", "PURGE"]
url_mapping = "/*"
"#;

fn fronts() -> &'static [Front; 3] {
    static FRONTS: OnceLock<[Front; 3]> = OnceLock::new();
    FRONTS.get_or_init(|| {
        let config: synaptic_gateway::Config = toml::from_str(CONFIG).expect("config");
        [Role::Public, Role::PublicWithAdminElsewhere, Role::Admin]
            .map(|role| Front::new(&config, None, role))
    })
}

/// Poll a future that never waits (no authorization server behind the checks).
fn now<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the checks waited without an authorization server"),
    }
}

fn request(data: &[u8]) -> Option<Request<()>> {
    let mut headers = [httparse::EMPTY_HEADER; 100];
    let mut parsed = httparse::Request::new(&mut headers);
    let httparse::Status::Complete(_) = parsed.parse(data).ok()? else {
        return None;
    };
    let version = match parsed.version? {
        0 => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let mut b = Request::builder()
        .method(parsed.method?)
        .uri(parsed.path?)
        .version(version);
    for h in parsed.headers.iter() {
        b = b.header(h.name, h.value);
    }
    b.body(()).ok()
}

fn check_accepted(req: &Request<()>) {
    let h = req.headers();
    let hosts = h.get_all(header::HOST).iter().count();
    assert!(hosts <= 1);
    if req.version() == Version::HTTP_11 {
        assert_eq!(hosts, 1);
    }
    assert!(!h.contains_key("x-original-url") && !h.contains_key("x-rewrite-url"));
    let te: Vec<_> = h.get_all(header::TRANSFER_ENCODING).iter().collect();
    if !te.is_empty() {
        assert_eq!(te.len(), 1);
        let v = te[0].to_str().expect("chunked is ASCII");
        assert!(v.trim().eq_ignore_ascii_case("chunked"));
        assert!(!h.contains_key(header::CONTENT_LENGTH));
    }
    let m = req.method();
    assert!(
        [Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::DELETE]
            .contains(m)
            || [Method::PATCH, Method::OPTIONS].contains(m)
            || m.as_str() == "PURGE"
    );
}

fn check_path(path: &str) {
    let Ok(n) = synaptic_gateway::path::normalize(path) else {
        return;
    };
    let n = n.as_str();
    let again = synaptic_gateway::path::normalize(n).expect("a normalised path normalises");
    assert_eq!(again.as_str(), n);
    assert!(n.starts_with('/'));
    let inner = n.strip_suffix('/').unwrap_or(n);
    for seg in inner.split('/').skip(1) {
        assert!(!seg.is_empty() && seg != "." && seg != "..", "{n:?}");
    }
    assert!(!n.to_ascii_uppercase().contains("%2F"), "{n:?}");
}

fuzz_target!(|data: &[u8]| {
    let Some(req) = request(data) else {
        return;
    };
    check_path(req.uri().path());
    for front in fronts() {
        let mut r = Request::new(());
        *r.method_mut() = req.method().clone();
        *r.uri_mut() = req.uri().clone();
        *r.version_mut() = req.version();
        *r.headers_mut() = req.headers().clone();
        if now(front.check(&mut r, None)).is_ok() {
            check_accepted(&r);
        }
    }
    // whatever framing headers a response carries, a Content-Length that stays describes
    // the body
    let mut resp = Response::new(Full::new(Bytes::from_static(b"hello world")));
    *resp.headers_mut() = req.headers().clone();
    let resp = fix_framing(&Method::GET, resp);
    if let Some(cl) = resp.headers().get(header::CONTENT_LENGTH) {
        assert_eq!(cl.to_str().ok().map(str::trim), Some("11"));
    }
});
