//! Backend side: endpoints, URL joining, hop-by-hop headers
//! (RFC 9110 §7.6.1), the pooled keep-alive clients (HTTP and HTTPS over rustls; HTTP/1.1,
//! HTTP/2 by ALPN, HTTP/2 only) and sending with a timeout.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::Uri;
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::sync::Arc;
use std::time::Duration;

/// Body of a request to a backend: the client's streamed body (bounded as a whole in size and
/// time, or per message for a gRPC call) or a buffered one.
pub type ClientBody =
    Either<Either<crate::bodies::ClientStream, crate::grpc::PerMessage<Incoming>>, Full<Bytes>>;
/// Body of a response to a client: a backend's streamed body (bounded in time between reads,
/// except a gRPC call's) or a buffered one.
pub type ResponseBody = Either<crate::bodies::BackendBody, Full<Bytes>>;

pub type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
/// The pooled backend client shared by proxying and [`crate::invoker::HttpInvoker`].
pub type HttpClient = Client<Connector, ClientBody>;

// === Endpoint ===

/// A parsed backend address.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// As written, without a trailing query.
    pub address: String,
    /// The `Host` header for requests to it.
    pub host: HeaderValue,
}

impl Endpoint {
    pub fn parse(s: &str) -> Result<Endpoint, String> {
        let uri: Uri = s.parse().map_err(|e| format!("{e}"))?;
        match uri.scheme_str() {
            Some("http") | Some("https") => {}
            _ => return Err("the scheme must be http or https".into()),
        }
        let Some(auth) = uri.authority() else {
            return Err("no host".into());
        };
        if uri.query().is_some() || s.contains('#') {
            return Err("an endpoint has no query or fragment".into());
        }
        if auth.as_str().contains('@') {
            return Err("credentials in the endpoint URL are not allowed".into());
        }
        let host = HeaderValue::from_str(auth.as_str()).map_err(|e| format!("{e}"))?;
        Ok(Endpoint {
            address: s.to_string(),
            host,
        })
    }

    /// The URL for a `REST_URL_POSTFIX`.
    pub fn url(&self, postfix: &str) -> String {
        join_url(&self.address, postfix)
    }
}

/// Join an address and a `REST_URL_POSTFIX` the Synapse way: add `/` if neither side has one
/// (unless the postfix starts with `?`), drop one if both have it, drop the address's trailing
/// `/` before a `?`; an empty postfix leaves the address unchanged.
pub fn join_url(address: &str, postfix: &str) -> String {
    if postfix.is_empty() {
        return address.to_string();
    }
    let mut s = String::with_capacity(address.len() + postfix.len() + 1);
    let a_slash = address.ends_with('/');
    if postfix.starts_with('?') {
        s.push_str(if a_slash {
            &address[..address.len() - 1]
        } else {
            address
        });
        s.push_str(postfix);
    } else {
        let p_slash = postfix.starts_with('/');
        s.push_str(address);
        match (a_slash, p_slash) {
            (true, true) => s.push_str(&postfix[1..]),
            (false, false) => {
                s.push('/');
                s.push_str(postfix);
            }
            _ => s.push_str(postfix),
        }
    }
    s
}

// === hop-by-hop ===

const HOP_BY_HOP: &[HeaderName] = &[
    header::CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
];

/// Remove hop-by-hop headers: the fixed list, `Keep-Alive`, `Proxy-Connection` and every header
/// the `Connection` header names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
    const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
    if headers.contains_key(header::CONNECTION) {
        // `keep-alive` and `close`, the usual values, name no header to parse and collect
        let mut named: Vec<HeaderName> = Vec::new();
        for token in headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|list| list.split(','))
            .map(str::trim)
        {
            if token.is_empty()
                || token.eq_ignore_ascii_case("close")
                || token.eq_ignore_ascii_case("keep-alive")
            {
                continue;
            }
            if let Ok(name) = HeaderName::from_bytes(token.as_bytes()) {
                named.push(name);
            }
        }
        headers.remove(header::CONNECTION);
        for name in named {
            // never let Connection strip end-to-end essentials
            if name != header::HOST && name != header::CONTENT_LENGTH {
                headers.remove(name);
            }
        }
    }
    // one pass over the (few) names present instead of a hashed removal per listed name: a
    // backend's `Connection: keep-alive` alone is gone already
    let present = headers.keys().any(|k| {
        HOP_BY_HOP.contains(k) || *k == header::EXPECT || *k == KEEP_ALIVE || *k == PROXY_CONNECTION
    });
    if !present {
        return;
    }
    for h in HOP_BY_HOP {
        headers.remove(h);
    }
    headers.remove(KEEP_ALIVE);
    headers.remove(PROXY_CONNECTION);
    // `Expect: 100-continue` is answered by the gateway's own server; the backend gets the body
    headers.remove(header::EXPECT);
}

/// Method-override headers: a backend honouring them would see another method than the one
/// routing and authorization saw.
pub fn strip_method_override(headers: &mut HeaderMap) {
    if has_method_override(headers) {
        for n in METHOD_OVERRIDE {
            headers.remove(n);
        }
    }
}

/// The headers that ask a backend to treat a request as another method. Constants: a lookup by
/// `&str` would parse each name on every request.
pub const METHOD_OVERRIDE: [HeaderName; 3] = [
    HeaderName::from_static("x-http-method-override"),
    HeaderName::from_static("x-http-method"),
    HeaderName::from_static("x-method-override"),
];

/// Whether a request carries one of [`METHOD_OVERRIDE`]: one pass over the request's few
/// header names costs less than a map lookup of each, which hashes the name.
pub fn has_method_override(headers: &HeaderMap) -> bool {
    headers.keys().any(|k| METHOD_OVERRIDE.contains(k))
}

// === client ===

/// Options of the pooled client.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    pub pool_max_idle_per_host: usize,
    pub pool_idle_timeout: Duration,
    /// Extra trusted CAs (PEM file contents).
    pub extra_ca_pem: Option<Vec<u8>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid CA file: {0}")]
    BadCa(String),
    #[error("tls configuration: {0}")]
    Tls(String),
}

/// The pooled clients, one per way of speaking to a backend (`[[api]] backend_protocol`); each
/// keeps its own connections.
#[derive(Clone, Debug)]
pub struct Clients {
    /// ALPN offers `h2` and `http/1.1` over TLS; HTTP/1.1 without TLS.
    pub auto: HttpClient,
    /// HTTP/1.1 only.
    pub http1: HttpClient,
    /// HTTP/2 only: ALPN `h2` over TLS, prior knowledge (h2c) without.
    pub h2: HttpClient,
    /// HTTP/1.1 without TLS (`auto` and `http1` to an `http://` backend): the lean pool.
    pub h1: crate::pool::H1Pool,
}

/// Build the pooled HTTP/HTTPS client (rustls, webpki roots plus the optional CA file) that
/// negotiates HTTP/2 or HTTP/1.1 by ALPN.
pub fn build_client(opts: &ClientOptions) -> Result<HttpClient, ClientError> {
    Ok(build_clients(opts)?.auto)
}

/// Build the three pooled clients (see [`Clients`]).
pub fn build_clients(opts: &ClientOptions) -> Result<Clients, ClientError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = &opts.extra_ca_pem {
        let mut rd = std::io::BufReader::new(&pem[..]);
        let mut n = 0;
        for cert in rustls_pemfile::certs(&mut rd) {
            let cert = cert.map_err(|e| ClientError::BadCa(e.to_string()))?;
            roots
                .add(cert)
                .map_err(|e| ClientError::BadCa(e.to_string()))?;
            n += 1;
        }
        if n == 0 {
            return Err(ClientError::BadCa("no certificate found".into()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_secs(10)));
    let connector = || {
        hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls.clone())
            .https_or_http()
    };
    let client = |https: Connector, h2_only: bool| {
        Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(opts.pool_idle_timeout)
            .pool_max_idle_per_host(opts.pool_max_idle_per_host)
            .http2_only(h2_only)
            .build(https)
    };
    Ok(Clients {
        auto: client(
            connector()
                .enable_http1()
                .enable_http2()
                .wrap_connector(http.clone()),
            false,
        ),
        http1: client(
            connector().enable_http1().wrap_connector(http.clone()),
            false,
        ),
        h2: client(
            connector().enable_http2().wrap_connector(http.clone()),
            true,
        ),
        h1: crate::pool::H1Pool::new(http, opts.pool_max_idle_per_host, opts.pool_idle_timeout),
    })
}

/// Why a backend exchange failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Refused, unreachable, DNS or TLS failure before anything was sent.
    Connect(String),
    Timeout,
    /// The client's streamed body went over the limit.
    BodyTooLarge,
    /// The connection broke or the response was invalid.
    Failed(String),
}

pub(crate) fn error_chain_has<E: std::error::Error + 'static>(
    e: &(dyn std::error::Error + 'static),
) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.is::<E>() {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Send a request; `timeout` bounds the time until the response headers arrive.
pub async fn send(
    client: &HttpClient,
    req: http::Request<ClientBody>,
    timeout: Duration,
) -> Result<http::Response<Incoming>, SendError> {
    match tokio::time::timeout(timeout, client.request(req)).await {
        Err(_) => Err(SendError::Timeout),
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => {
            if error_chain_has::<http_body_util::LengthLimitError>(&e)
                || error_chain_has::<crate::grpc::MessageTooLarge>(&e)
            {
                Err(SendError::BodyTooLarge)
            } else if e.is_connect() {
                Err(SendError::Connect(display_chain(&e)))
            } else {
                Err(SendError::Failed(display_chain(&e)))
            }
        }
    }
}

pub(crate) fn display_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Read a body fully, up to `limit` bytes.
pub async fn read_limited<B>(body: B, limit: usize) -> Result<Bytes, ReadError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => {
            if e.is::<http_body_util::LengthLimitError>() {
                Err(ReadError::TooLarge)
            } else {
                Err(ReadError::Io(e.to_string()))
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    TooLarge,
    Io(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_overrides_are_found_in_one_pass_and_stripped() {
        let mut h = HeaderMap::new();
        h.insert(http::header::HOST, "b".parse().unwrap());
        h.insert("x-other", "1".parse().unwrap());
        assert!(!has_method_override(&h));
        strip_method_override(&mut h);
        assert_eq!(h.len(), 2);
        for name in [
            "X-HTTP-Method-Override",
            "x-http-method",
            "X-Method-Override",
        ] {
            let mut h = h.clone();
            h.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                "DELETE".parse().unwrap(),
            );
            h.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                "PUT".parse().unwrap(),
            );
            assert!(has_method_override(&h), "{name}");
            strip_method_override(&mut h);
            assert!(!has_method_override(&h), "{name}");
            assert_eq!(h.len(), 2, "{name}: every value removed, the rest kept");
        }
    }

    #[test]
    fn join() {
        let a = "http://h/pizzashack/1.0.0";
        assert_eq!(
            join_url(a, "/menu?x=1"),
            "http://h/pizzashack/1.0.0/menu?x=1"
        );
        assert_eq!(join_url("http://h/p/", "/menu"), "http://h/p/menu");
        assert_eq!(join_url("http://h/p", "menu"), "http://h/p/menu");
        assert_eq!(join_url("http://h/p/", "?a=1"), "http://h/p?a=1");
        assert_eq!(join_url("http://h/p", "?a=1"), "http://h/p?a=1");
        assert_eq!(join_url("http://h/p", ""), "http://h/p");
        assert_eq!(join_url("http://h", "/x"), "http://h/x");
    }

    #[test]
    fn endpoints() {
        assert!(Endpoint::parse("http://127.0.0.1:9000/a").is_ok());
        assert!(Endpoint::parse("https://x.example").is_ok());
        assert!(Endpoint::parse("ftp://x").is_err());
        assert!(Endpoint::parse("http://u:p@x/").is_err());
        assert!(Endpoint::parse("http://x/?a=1").is_err());
        assert!(Endpoint::parse("/relative").is_err());
    }

    #[test]
    fn hop_by_hop() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("close, x-secret-hop"),
        );
        h.insert("x-secret-hop", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert("te", HeaderValue::from_static("trailers"));
        h.insert("upgrade", HeaderValue::from_static("h2c"));
        h.insert("proxy-connection", HeaderValue::from_static("keep-alive"));
        h.insert("expect", HeaderValue::from_static("100-continue"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        let names: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, vec!["x-kept"]);
    }

    #[test]
    fn connection_lists_in_several_headers_and_any_case() {
        let mut h = HeaderMap::new();
        h.append("connection", HeaderValue::from_static("keep-alive"));
        h.append("connection", HeaderValue::from_static(" X-One ,, x-two"));
        h.append(
            "connection",
            HeaderValue::from_static("Host, Content-Length"),
        );
        for n in ["x-one", "x-two", "host", "content-length", "x-kept"] {
            h.insert(HeaderName::from_static(n), HeaderValue::from_static("1"));
        }
        strip_hop_by_hop(&mut h);
        let mut names: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, vec!["content-length", "host", "x-kept"]);
    }

    #[test]
    fn hop_by_hop_without_connection_header() {
        for name in [
            "keep-alive",
            "proxy-connection",
            "expect",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
            "proxy-authenticate",
            "proxy-authorization",
        ] {
            let mut h = HeaderMap::new();
            h.insert("x-kept", HeaderValue::from_static("1"));
            h.append(HeaderName::from_static(name), HeaderValue::from_static("a"));
            h.append(HeaderName::from_static(name), HeaderValue::from_static("b"));
            strip_hop_by_hop(&mut h);
            let names: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
            assert_eq!(names, vec!["x-kept"], "{name}");
        }
        let mut h = HeaderMap::new();
        h.insert("x-kept", HeaderValue::from_static("1"));
        h.insert("content-type", HeaderValue::from_static("text/plain"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 2);
    }

    use crate::test_pki::{pki, tls_listener};

    /// An HTTPS backend on 127.0.0.1 answering `hello` to every request (keep-alive).
    async fn https_backend(cfg: rustls::ServerConfig) -> std::net::SocketAddr {
        tls_listener(cfg, |tls| async move {
            let svc = hyper::service::service_fn(|_req| async {
                Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                    Bytes::from_static(b"hello"),
                )))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                .await;
        })
        .await
    }

    fn get(url: &str) -> http::Request<ClientBody> {
        let mut r = http::Request::new(Either::Right(Full::new(Bytes::new())));
        *r.uri_mut() = url.parse().unwrap();
        r
    }

    #[tokio::test]
    async fn https_backends_use_the_built_in_roots_plus_the_ca_file() {
        let (ca, cfg) = pki("127.0.0.1");
        let addr = https_backend(cfg).await;
        let url = format!("https://127.0.0.1:{}/x", addr.port());
        let opts = |pem: Option<&str>| ClientOptions {
            pool_max_idle_per_host: 4,
            pool_idle_timeout: Duration::from_secs(5),
            extra_ca_pem: pem.map(|p| p.as_bytes().to_vec()),
        };
        let t = Duration::from_secs(5);
        // trusted through ca_file: two requests over one pooled connection
        let client = build_client(&opts(Some(&ca))).unwrap();
        for _ in 0..2 {
            let resp = send(&client, get(&url), t).await.unwrap();
            assert_eq!(resp.status(), 200);
            let body = read_limited(resp.into_body(), 100).await.unwrap();
            assert_eq!(&body[..], b"hello");
        }
        // the built-in roots alone do not trust a private CA: a connect failure (502)
        let plain = build_client(&opts(None)).unwrap();
        assert!(matches!(
            send(&plain, get(&url), t).await,
            Err(SendError::Connect(_))
        ));
        // hostnames are verified: a certificate for another name is refused
        let (ca2, cfg2) = pki("other.example");
        let addr2 = https_backend(cfg2).await;
        let c2 = build_client(&opts(Some(&ca2))).unwrap();
        let url2 = format!("https://127.0.0.1:{}/x", addr2.port());
        assert!(matches!(
            send(&c2, get(&url2), t).await,
            Err(SendError::Connect(_))
        ));
        // a CA file without certificates is refused at startup
        assert!(matches!(
            build_client(&opts(Some("not a pem"))),
            Err(ClientError::BadCa(_))
        ));
    }
}
