//! A real gRPC service for tests, built on tonic without generated code: one message type
//! deriving `prost::Message` and the service `test.Echo`, served by tonic's own server (h2c, or
//! TLS with ALPN `h2`) on `127.0.0.1:0`, and called with tonic's own client ([`Caller`]).
//!
//! ```text
//! package test;
//! message Msg { string text = 1; uint32 n = 2; }
//! service Echo {
//!   rpc Unary(Msg) returns (Msg);              // "echo:<text>", n; the metadata seen in `text`
//!   rpc Slow(Msg) returns (Msg);               // answers after `n` milliseconds
//!   rpc ServerStream(Msg) returns (stream Msg);  // n messages; text "fail": then an error
//!   rpc ClientStream(stream Msg) returns (Msg);  // texts joined with "+", n summed
//!   rpc Bidi(stream Msg) returns (stream Msg);   // each message echoed as it arrives
//! }
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{Stream, StreamExt};
use tonic::body::Body;
use tonic::{Request, Response, Status, Streaming};
use tonic_prost::ProstCodec;

/// `test.Msg`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Msg {
    #[prost(string, tag = "1")]
    pub text: String,
    #[prost(uint32, tag = "2")]
    pub n: u32,
}

impl Msg {
    pub fn new(text: &str, n: u32) -> Msg {
        Msg {
            text: text.to_string(),
            n,
        }
    }
}

type MsgStream = Pin<Box<dyn Stream<Item = Result<Msg, Status>> + Send>>;

/// The metadata the service reports back: which of these it received.
const SEEN: [&str; 3] = ["authorization", "te", "x-client"];

/// The `test.Echo` service as tonic's server sees it (what generated code would be).
#[derive(Clone, Debug, Default)]
pub struct EchoService;

impl tower::Service<http::Request<Body>> for EchoService {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(ProstCodec::<Msg, Msg>::default());
            let resp = match req.uri().path() {
                "/test.Echo/Unary" => grpc.unary(tower::service_fn(unary), req).await,
                "/test.Echo/Slow" => grpc.unary(tower::service_fn(slow), req).await,
                "/test.Echo/ServerStream" => {
                    grpc.server_streaming(tower::service_fn(server_stream), req)
                        .await
                }
                "/test.Echo/ClientStream" => {
                    grpc.client_streaming(tower::service_fn(client_stream), req)
                        .await
                }
                "/test.Echo/Bidi" => grpc.streaming(tower::service_fn(bidi), req).await,
                _ => Status::unimplemented("no such method").into_http(),
            };
            Ok(resp)
        })
    }
}

async fn unary(req: Request<Msg>) -> Result<Response<Msg>, Status> {
    let seen: Vec<String> = SEEN
        .iter()
        .filter_map(|k| {
            req.metadata()
                .get(*k)
                .and_then(|v| v.to_str().ok())
                .map(|v| format!("{k}={v}"))
        })
        .collect();
    let m = req.into_inner();
    let mut resp = Response::new(Msg {
        text: format!("echo:{}|{}", m.text, seen.join(",")),
        n: m.n,
    });
    resp.metadata_mut()
        .insert("x-backend", "tonic".parse().expect("metadata"));
    Ok(resp)
}

async fn slow(req: Request<Msg>) -> Result<Response<Msg>, Status> {
    let m = req.into_inner();
    tokio::time::sleep(Duration::from_millis(u64::from(m.n))).await;
    Ok(Response::new(m))
}

async fn server_stream(req: Request<Msg>) -> Result<Response<MsgStream>, Status> {
    let m = req.into_inner();
    let fail = m.text == "fail";
    let items = (0..m.n).map(move |i| Ok(Msg::new(&format!("{}-{i}", m.text), i)));
    let tail = fail.then(|| {
        let mut s = Status::resource_exhausted("stream ended by the backend");
        s.metadata_mut()
            .insert("x-trailer", "kept".parse().expect("metadata"));
        Err(s)
    });
    let s = futures::stream::iter(items.chain(tail));
    Ok(Response::new(Box::pin(s) as MsgStream))
}

async fn client_stream(req: Request<Streaming<Msg>>) -> Result<Response<Msg>, Status> {
    let mut s = req.into_inner();
    let (mut texts, mut sum) = (Vec::new(), 0u32);
    while let Some(m) = s.message().await? {
        texts.push(m.text);
        sum += m.n;
    }
    Ok(Response::new(Msg {
        text: texts.join("+"),
        n: sum,
    }))
}

async fn bidi(req: Request<Streaming<Msg>>) -> Result<Response<MsgStream>, Status> {
    let s = req
        .into_inner()
        .map(|m| m.map(|m| Msg::new(&format!("re:{}", m.text), m.n * 2)));
    Ok(Response::new(Box::pin(s) as MsgStream))
}

/// A running `test.Echo` server; stops when dropped.
#[derive(Debug)]
pub struct EchoServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl EchoServer {
    /// Serve h2c (HTTP/2 with prior knowledge) on `127.0.0.1:0`.
    pub async fn start() -> EchoServer {
        EchoServer::start_with(None).await
    }

    /// Serve over TLS (ALPN `h2`) with this certificate and key (PEM).
    pub async fn start_tls(cert_pem: &str, key_pem: &str) -> EchoServer {
        EchoServer::start_with(Some((cert_pem, key_pem))).await
    }

    async fn start_with(tls: Option<(&str, &str)>) -> EchoServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("cannot bind the gRPC server: {e}"));
        let addr = listener.local_addr().expect("local_addr");
        let mut builder = tonic::transport::Server::builder();
        if let Some((cert, key)) = tls {
            let id = tonic::transport::Identity::from_pem(cert, key);
            builder = builder
                .tls_config(tonic::transport::ServerTlsConfig::new().identity(id))
                .unwrap_or_else(|e| panic!("gRPC server TLS: {e}"));
        }
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        let task = tokio::spawn(async move {
            if let Err(e) = builder.serve_with_incoming(EchoService, incoming).await {
                eprintln!("gRPC test server stopped: {e}");
            }
        });
        EchoServer { addr, task }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// tonic's client for `test.Echo` on a channel (to the gateway or straight to the server).
#[derive(Clone, Debug)]
pub struct Caller {
    grpc: tonic::client::Grpc<tonic::transport::Channel>,
    prefix: String,
}

impl Caller {
    /// Connect over h2c to `http://ADDR`; `prefix` goes before `/test.Echo/…` (an API context
    /// other than the service name).
    pub async fn connect(addr: SocketAddr, prefix: &str) -> Caller {
        let ch = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20))
            .connect()
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
        Caller::on(ch, prefix)
    }

    /// Connect over TLS (ALPN `h2`) to `https://DOMAIN:PORT` at `addr`, trusting `ca_pem`.
    pub async fn connect_tls(addr: SocketAddr, domain: &str, ca_pem: &str, prefix: &str) -> Caller {
        let tls = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(ca_pem))
            .domain_name(domain);
        let ch = tonic::transport::Endpoint::from_shared(format!("https://{addr}"))
            .expect("endpoint")
            .tls_config(tls)
            .expect("tls config")
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20))
            .connect()
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {addr} over TLS: {e}"));
        Caller::on(ch, prefix)
    }

    fn on(ch: tonic::transport::Channel, prefix: &str) -> Caller {
        Caller {
            grpc: tonic::client::Grpc::new(ch),
            prefix: prefix.trim_end_matches('/').to_string(),
        }
    }

    fn path(&self, method: &str) -> http::uri::PathAndQuery {
        format!("{}/test.Echo/{method}", self.prefix)
            .parse()
            .expect("path")
    }

    async fn ready(&mut self) -> Result<(), Status> {
        self.grpc
            .ready()
            .await
            .map_err(|e| Status::unknown(format!("service not ready: {e}")))
    }

    /// A unary call of `method` (`Unary`, `Slow`, or a method the server lacks).
    pub async fn unary(
        &mut self,
        method: &str,
        req: Request<Msg>,
    ) -> Result<Response<Msg>, Status> {
        self.ready().await?;
        let path = self.path(method);
        self.grpc
            .unary(req, path, ProstCodec::<Msg, Msg>::default())
            .await
    }

    /// `ServerStream`: the messages and the final status (`Ok` or the error, with trailers).
    pub async fn server_stream(&mut self, req: Request<Msg>) -> (Vec<Msg>, Result<(), Status>) {
        if let Err(s) = self.ready().await {
            return (Vec::new(), Err(s));
        }
        let path = self.path("ServerStream");
        let resp = self
            .grpc
            .server_streaming(req, path, ProstCodec::<Msg, Msg>::default())
            .await;
        let mut s = match resp {
            Ok(r) => r.into_inner(),
            Err(e) => return (Vec::new(), Err(e)),
        };
        let mut got = Vec::new();
        loop {
            match s.message().await {
                Ok(Some(m)) => got.push(m),
                Ok(None) => return (got, Ok(())),
                Err(e) => return (got, Err(e)),
            }
        }
    }

    /// `ClientStream` over these messages.
    pub async fn client_stream(&mut self, msgs: Vec<Msg>) -> Result<Msg, Status> {
        self.ready().await?;
        let path = self.path("ClientStream");
        let req = Request::new(futures::stream::iter(msgs));
        self.grpc
            .client_streaming(req, path, ProstCodec::<Msg, Msg>::default())
            .await
            .map(Response::into_inner)
    }

    /// `Bidi` fed from `rx`: the response stream, read as the test sends.
    pub async fn bidi(
        &mut self,
        rx: tokio::sync::mpsc::Receiver<Msg>,
    ) -> Result<Streaming<Msg>, Status> {
        self.ready().await?;
        let path = self.path("Bidi");
        let input =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) });
        self.grpc
            .streaming(Request::new(input), path, ProstCodec::<Msg, Msg>::default())
            .await
            .map(Response::into_inner)
    }
}
