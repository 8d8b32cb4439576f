//! Mock services: one HTTP server per `<mock-service>` on 127.0.0.1 (an ephemeral port, not
//! the port the file names), answering its resources the way the unit-testing framework's
//! emulator does. A request matches a resource when its path is the context joined with the
//! sub-context (a trailing `/` does not count), its method is the resource's, its query
//! parameters are the sub-context's (any order, values compared ignoring case), each request
//! header the resource names is present with that value (ignoring case), and, when the resource
//! names a request payload, the body is equal to it after normalising (as `assertEquals`
//! compares). A request no resource matches gets a 404, and is remembered so the test case
//! that caused it can say why.

use super::compare;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use synaptic_syntax::unit_test::{MockResource, MockService};

/// Largest request body a mock service reads.
const MAX_BODY: usize = 16 << 20;

/// A running mock service.
pub struct MockServer {
    pub name: String,
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl MockServer {
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = self.task.await;
    }
}

/// Requests no resource matched, for the test case's report.
pub type Misses = Arc<Mutex<Vec<String>>>;

struct Service {
    name: String,
    context: String,
    resources: Vec<MockResource>,
    misses: Misses,
}

/// Start `mock` on 127.0.0.1, an ephemeral port.
pub async fn start(mock: &MockService, misses: Misses) -> std::io::Result<MockServer> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    let name = mock
        .service_name
        .as_ref()
        .map(|s| s.value.clone())
        .unwrap_or_default();
    let svc = Arc::new(Service {
        name: name.clone(),
        context: mock
            .context
            .as_ref()
            .map(|c| c.value.clone())
            .unwrap_or_default(),
        resources: mock.resources.clone(),
        misses,
    });
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                _ = &mut stop_rx => break,
                acc = listener.accept() => {
                    let Ok((stream, _)) = acc else { continue };
                    let svc = svc.clone();
                    conns.spawn(async move {
                        let service = service_fn(move |req| {
                            let svc = svc.clone();
                            async move { Ok::<_, std::convert::Infallible>(svc.answer(req).await) }
                        });
                        let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            }
        }
        conns.abort_all();
    });
    Ok(MockServer {
        name,
        addr,
        stop: Some(stop_tx),
        task,
    })
}

/// `a` and `b` joined with exactly one `/`.
fn join(a: &str, b: &str) -> String {
    match (a.ends_with('/'), b.starts_with('/')) {
        (true, true) => format!("{a}{}", &b[1..]),
        (false, false) if !a.is_empty() && !b.is_empty() => format!("{a}/{b}"),
        _ => format!("{a}{b}"),
    }
}

fn trim_slash(p: &str) -> &str {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        "/"
    } else {
        t
    }
}

fn query_pairs(q: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

impl Service {
    async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
            }
        };
        let body = String::from_utf8_lossy(&body);
        let path = parts.uri.path();
        let query = query_pairs(parts.uri.query().unwrap_or(""));
        for r in &self.resources {
            if self.matches(
                r,
                parts.method.as_str(),
                path,
                &query,
                &parts.headers,
                &body,
            ) {
                let mut resp = Response::new(Full::new(Bytes::from(
                    r.response_payload.trim().to_string(),
                )));
                *resp.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK);
                for (n, v) in &r.response_headers {
                    if let (Ok(n), Ok(v)) = (
                        http::HeaderName::from_bytes(n.as_bytes()),
                        http::HeaderValue::from_str(v),
                    ) {
                        resp.headers_mut().append(n, v);
                    }
                }
                return resp;
            }
        }
        let what = format!(
            "mock service `{}` has no resource for {} {}",
            self.name, parts.method, parts.uri
        );
        if let Ok(mut m) = self.misses.lock() {
            m.push(what.clone());
        }
        plain(StatusCode::NOT_FOUND, &what)
    }

    fn matches(
        &self,
        r: &MockResource,
        method: &str,
        path: &str,
        query: &[(String, String)],
        headers: &http::HeaderMap,
        body: &str,
    ) -> bool {
        let (sub_path, sub_query) = r
            .sub_context
            .split_once('?')
            .unwrap_or((&r.sub_context, ""));
        let want = join(&self.context, sub_path);
        if trim_slash(&want) != trim_slash(path) || r.method != method {
            return false;
        }
        let mut want_q = query_pairs(sub_query);
        let mut got_q = query.to_vec();
        want_q.sort();
        got_q.sort();
        if want_q.len() != got_q.len()
            || want_q
                .iter()
                .zip(&got_q)
                .any(|(w, g)| w.0 != g.0 || !w.1.eq_ignore_ascii_case(&g.1))
        {
            return false;
        }
        for (n, v) in &r.request_headers {
            let found = headers
                .get_all(n.as_str())
                .iter()
                .any(|h| h.to_str().is_ok_and(|h| h.eq_ignore_ascii_case(v)));
            if !found {
                return false;
            }
        }
        match &r.request_payload {
            Some(p) if !p.trim().is_empty() => {
                compare::normalise(p).eq_ignore_ascii_case(&compare::normalise(body))
            }
            _ => true,
        }
    }
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(text.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=UTF-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_context_and_sub_context() {
        assert_eq!(join("/hello/sayHello", "/"), "/hello/sayHello/");
        assert_eq!(join("/svc/", "/a"), "/svc/a");
        assert_eq!(join("/svc", "a"), "/svc/a");
        assert_eq!(join("/", "/a"), "/a");
        assert_eq!(trim_slash("/hello/sayHello/"), "/hello/sayHello");
        assert_eq!(trim_slash("/"), "/");
    }
}
