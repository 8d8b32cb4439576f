//! Checks every request passes before the pipeline, and the framing check every response
//! passes after it (see [`listener`](crate::listener)):
//!
//! - `Host`: exactly one in HTTP/1.1, at most one otherwise (RFC 9112 §3.2) — else `400`;
//! - `Transfer-Encoding`: only `chunked`, once, in HTTP/1.1 (`identity, chunked`, `gzip,
//!   chunked`, repeats and any in HTTP/1.0 are refused: `400`, and the connection is closed).
//!   With `Content-Length` beside it, chunked framing wins and hyper drops the length; a request
//!   that still shows both is refused;
//! - methods: `GET`, `HEAD`, `POST`, `PUT`, `DELETE`, `PATCH`, `OPTIONS`, and those an API
//!   lists in `[[api.resource]] methods`; `TRACE`, `TRACK` and `CONNECT` otherwise get `405`,
//!   any other token `501`;
//! - `X-Original-URL` and `X-Rewrite-URL` are removed (they let some backends route by a path
//!   the gateway never saw);
//! - a request to an API with `security = "oauth2"` that matches none of its resources is
//!   answered `401` without valid credentials, before routing could answer `404`/`405` (which
//!   would tell an anonymous caller which paths exist);
//! - with `[admin] listen`, the public port keeps a bare `/health` and answers `404` for
//!   `/metrics` and `/oauth2/admin/…`; the admin port answers only those.
//!
//! After the pipeline, a response whose `Content-Length` does not match its body's framing
//! (a backend that sent both `Content-Length` and `Transfer-Encoding: chunked`) loses the
//! length: the body is sent as it was decoded, chunked.

// The `Err` of the checks is the (rare) answer itself, a response head.
#![allow(clippy::result_large_err)]

use crate::config::Config;
use crate::fault;
use crate::hooks::InboundAuth;
use crate::routing::{ResourceMatch, ResourceTable, Router};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, Method, Request, Response, StatusCode, Version};
use http_body_util::Full;
use hyper::body::{Body, Frame, SizeHint};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Fault codes of the checks.
pub mod code {
    /// Missing or repeated `Host`, unusable `Transfer-Encoding`.
    pub const BAD_HEAD: i64 = 400_010;
    /// A method no API accepts.
    pub const METHOD: i64 = 405_001;
}

const STANDARD_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];
const DANGEROUS_METHODS: [&str; 3] = ["TRACE", "TRACK", "CONNECT"];
/// Request headers never passed on.
/// Constants rather than `&str`: a lookup by `&str` parses the name on every request.
const STRIPPED: [HeaderName; 2] = [
    HeaderName::from_static("x-original-url"),
    HeaderName::from_static("x-rewrite-url"),
];
const ADMIN_PREFIX: &str = "/oauth2/admin/";

/// Which listener a [`Front`] guards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The only listener: everything is served.
    Public,
    /// The public listener when `[admin] listen` is set.
    PublicWithAdminElsewhere,
    /// The `[admin] listen` listener.
    Admin,
}

/// The early checks of one listener.
#[derive(Debug)]
pub struct Front {
    role: Role,
    /// Methods some API lists, beyond the standard ones.
    listed: HashSet<String>,
    secured: Option<Secured>,
}

#[derive(Debug)]
struct Secured {
    router: Router,
    /// per API: its name and resource table when it is oauth2-secured
    apis: Vec<Option<(String, ResourceTable)>>,
    inbound: Arc<dyn InboundAuth>,
}

impl Front {
    pub fn new(config: &Config, inbound: Option<Arc<dyn InboundAuth>>, role: Role) -> Front {
        let listed = config
            .api
            .iter()
            .flat_map(|a| a.resource.iter())
            .flat_map(|r| r.methods.iter())
            .map(|m| m.to_ascii_uppercase())
            .collect();
        let secured = inbound
            .filter(|_| config.api.iter().any(|a| a.is_oauth2_secured()))
            .map(|inbound| Secured {
                router: Router::new(&config.api),
                apis: config
                    .api
                    .iter()
                    .map(|a| {
                        a.is_oauth2_secured()
                            .then(|| (a.name.clone(), ResourceTable::for_api(a)))
                    })
                    .collect(),
                inbound,
            });
        Front {
            role,
            listed,
            secured,
        }
    }

    /// Check (and clean) a request; `Err` is the answer.
    pub async fn check<B>(
        &self,
        req: &mut Request<B>,
        _peer: Option<SocketAddr>,
    ) -> Result<(), Response<Full<Bytes>>> {
        let strip = check_head(req.version(), req.headers())?;
        self.check_method(req.method())?;
        if strip {
            for h in STRIPPED {
                req.headers_mut().remove(h);
            }
        }
        let path = req.uri().path();
        match self.role {
            Role::Public => {}
            Role::PublicWithAdminElsewhere => {
                if path == "/metrics" || path.starts_with(ADMIN_PREFIX) {
                    return Err(fault::not_found_api());
                }
                if path == "/health" && matches!(*req.method(), Method::GET | Method::HEAD) {
                    let body = serde_json::json!({ "status": "UP" });
                    return Err(fault::json_response(StatusCode::OK, &body));
                }
            }
            Role::Admin => {
                if !(path == "/metrics" || path == "/health" || path.starts_with(ADMIN_PREFIX)) {
                    return Err(fault::not_found_api());
                }
                return Ok(());
            }
        }
        self.unauthenticated_first(req).await
    }

    fn check_method(&self, m: &Method) -> Result<(), Response<Full<Bytes>>> {
        // the standard methods are told apart without comparing their names
        if matches!(
            *m,
            Method::GET
                | Method::HEAD
                | Method::POST
                | Method::PUT
                | Method::DELETE
                | Method::PATCH
                | Method::OPTIONS
        ) {
            return Ok(());
        }
        let name = m.as_str();
        if STANDARD_METHODS.contains(&name) || self.listed.contains(name) {
            return Ok(());
        }
        let (status, message) = if DANGEROUS_METHODS.contains(&name) {
            (StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
        } else {
            (StatusCode::NOT_IMPLEMENTED, "Method not implemented")
        };
        Err(fault::response(
            status,
            code::METHOD,
            message,
            "No API accepts this method",
        ))
    }

    /// On a secured API, a request that routing would answer `404`/`405` must first show
    /// valid credentials.
    async fn unauthenticated_first<B>(
        &self,
        req: &Request<B>,
    ) -> Result<(), Response<Full<Bytes>>> {
        let Some(s) = &self.secured else {
            return Ok(());
        };
        let Ok(norm) = crate::path::normalize(req.uri().path()) else {
            return Ok(());
        };
        let Some((idx, rel)) = s.router.route(norm.as_str()) else {
            return Ok(());
        };
        let Some(Some((name, table))) = s.apis.get(idx) else {
            return Ok(());
        };
        if table.is_empty() || matches!(table.find(req.method(), rel), ResourceMatch::Found(..)) {
            // routing lets it through: the pipeline checks the credentials first anyway
            return Ok(());
        }
        match s
            .inbound
            .check(name, req.method(), rel, req.headers())
            .await
        {
            Err(r) if r.status() == StatusCode::UNAUTHORIZED => Err(r),
            _ => Ok(()),
        }
    }
}

fn bad_head(description: &str) -> Response<Full<Bytes>> {
    let mut r = fault::response(
        StatusCode::BAD_REQUEST,
        code::BAD_HEAD,
        "Bad request",
        description,
    );
    r.headers_mut()
        .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
    r
}

/// The `Host` and `Transfer-Encoding` rules.
/// The `Host` and framing checks, in one pass over the request's fields (rather than a hashed
/// lookup per name); `Ok(true)` when a field to strip is there.
fn check_head(version: Version, h: &HeaderMap) -> Result<bool, Response<Full<Bytes>>> {
    let (mut hosts, mut codings, mut length, mut strip) = (0usize, 0usize, false, false);
    let mut chunked_only = true;
    for (k, v) in h {
        if *k == header::HOST {
            hosts += 1;
        } else if *k == header::TRANSFER_ENCODING {
            codings += 1;
            chunked_only &= v
                .to_str()
                .is_ok_and(|s| s.trim().eq_ignore_ascii_case("chunked"));
        } else if *k == header::CONTENT_LENGTH {
            length = true;
        } else if STRIPPED.contains(k) {
            strip = true;
        }
    }
    if hosts > 1 {
        return Err(bad_head("More than one Host header"));
    }
    if hosts == 0 && version == Version::HTTP_11 {
        return Err(bad_head("The Host header is missing"));
    }
    if codings > 0 {
        if codings > 1 || !chunked_only || version != Version::HTTP_11 {
            return Err(bad_head("Only Transfer-Encoding: chunked is accepted"));
        }
        if length {
            return Err(bad_head(
                "Content-Length and Transfer-Encoding together are refused",
            ));
        }
    }
    Ok(strip)
}

/// A response body: answered by the checks, or by the pipeline.
pub enum FrontBody<B> {
    Answer(Full<Bytes>),
    Handled(B),
}

impl<B> Body for FrontBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.get_mut() {
            FrontBody::Answer(b) => Pin::new(b).poll_frame(cx).map_err(|e| match e {}),
            FrontBody::Handled(b) => Pin::new(b).poll_frame(cx),
        }
    }
    fn is_end_stream(&self) -> bool {
        match self {
            FrontBody::Answer(b) => b.is_end_stream(),
            FrontBody::Handled(b) => b.is_end_stream(),
        }
    }
    fn size_hint(&self) -> SizeHint {
        match self {
            FrontBody::Answer(b) => b.size_hint(),
            FrontBody::Handled(b) => b.size_hint(),
        }
    }
}

/// Drop a `Content-Length` that does not describe the body (see the module documentation).
pub fn fix_framing<B: Body>(method: &Method, mut resp: Response<B>) -> Response<B> {
    let status = resp.status();
    if *method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return resp;
    }
    let Some(cl) = resp.headers().get(header::CONTENT_LENGTH) else {
        return resp;
    };
    let declared = cl.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok());
    if declared.is_none() || declared != resp.body().size_hint().exact() {
        resp.headers_mut().remove(header::CONTENT_LENGTH);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(version: Version, headers: &[(&str, &str)]) -> HeaderMap {
        let _ = version;
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn host_and_transfer_encoding() {
        let v11 = Version::HTTP_11;
        assert!(check_head(v11, &req(v11, &[("host", "a")])).is_ok());
        assert!(check_head(v11, &req(v11, &[])).is_err());
        assert!(check_head(Version::HTTP_10, &req(v11, &[])).is_ok());
        assert!(check_head(v11, &req(v11, &[("host", "a"), ("host", "b")])).is_err());
        let te = |v: &str| check_head(v11, &req(v11, &[("host", "a"), ("transfer-encoding", v)]));
        assert!(te("chunked").is_ok());
        assert!(te("Chunked ").is_ok());
        assert!(te("identity, chunked").is_err());
        assert!(te("gzip, chunked").is_err());
        assert!(te("chunked, identity").is_err());
        let twice = [
            ("host", "a"),
            ("transfer-encoding", "chunked"),
            ("transfer-encoding", "chunked"),
        ];
        assert!(check_head(v11, &req(v11, &twice)).is_err());
        // whether a field to strip is there, found in the same pass
        assert!(!check_head(v11, &req(v11, &[("host", "a"), ("x-other", "1")])).unwrap());
        let rewrite = [("host", "a"), ("X-Rewrite-URL", "/admin")];
        assert!(check_head(v11, &req(v11, &rewrite)).unwrap());
        assert!(check_head(v11, &req(v11, &[("x-original-url", "/"), ("host", "a")])).unwrap());
        assert!(check_head(
            v11,
            &req(
                v11,
                &[
                    ("host", "a"),
                    ("transfer-encoding", "chunked"),
                    ("content-length", "4")
                ]
            )
        )
        .is_err());
        assert!(check_head(
            Version::HTTP_10,
            &req(v11, &[("transfer-encoding", "chunked")])
        )
        .is_err());
    }

    #[test]
    fn stale_content_length_is_dropped() {
        let mut r = Response::new(Full::new(Bytes::from_static(b"abc")));
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, "10".parse().unwrap());
        let r = fix_framing(&Method::GET, r);
        assert!(r.headers().get(header::CONTENT_LENGTH).is_none());
        let mut r = Response::new(Full::new(Bytes::from_static(b"abc")));
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, "3".parse().unwrap());
        let r = fix_framing(&Method::GET, r);
        assert_eq!(r.headers()[header::CONTENT_LENGTH], "3");
        let mut r = Response::new(Full::new(Bytes::new()));
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, "3".parse().unwrap());
        let r = fix_framing(&Method::HEAD, r);
        assert_eq!(r.headers()[header::CONTENT_LENGTH], "3");
    }
}
