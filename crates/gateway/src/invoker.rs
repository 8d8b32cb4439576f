//! [`HttpInvoker`]: the engine's `call`/`send` through the upstream stack
//! ([`crate::upstream`]), the same one the API's endpoint uses.

use crate::proxy::{self, ClientError, Clients};
use crate::upstream::{self, Upstream};
use async_trait::async_trait;
use std::time::Duration;
use synaptic_engine::{DetachedWork, InboundResponse, InvokeError, Invoker, OutboundRequest};

/// Sends the engine's requests with the shared pooled client.
#[derive(Clone, Debug)]
pub struct HttpInvoker {
    upstream: Upstream,
    /// Timeout when the request names none.
    default_timeout: Duration,
    /// Largest response body read.
    max_response: usize,
    /// Where detached work runs (none: the engine runs it in place).
    detached: Option<crate::detached::Detached>,
}

impl HttpInvoker {
    pub fn new(
        clients: Clients,
        default_timeout: Duration,
        max_response: usize,
        wire: bool,
    ) -> Self {
        HttpInvoker {
            upstream: Upstream::new(clients, wire),
            default_timeout,
            max_response,
            detached: None,
        }
    }

    /// Run the engine's detached work (`foreach continue-without-aggregation`, `continueParent`
    /// fan-outs still running when their flow answered) in `d`.
    pub fn with_detached(mut self, d: crate::detached::Detached) -> Self {
        self.detached = Some(d);
        self
    }

    /// Where detached work runs, when it runs on its own.
    pub fn detached(&self) -> Option<&crate::detached::Detached> {
        self.detached.as_ref()
    }

    /// An invoker with a client of its own and the default options (`synaptic run`).
    pub fn standalone(default_timeout: Duration, max_response: usize) -> Result<Self, ClientError> {
        let clients = proxy::build_clients(&proxy::ClientOptions {
            pool_max_idle_per_host: 4,
            pool_idle_timeout: Duration::from_secs(30),
            extra_ca_pem: None,
        })?;
        Ok(HttpInvoker::new(
            clients,
            default_timeout,
            max_response,
            false,
        ))
    }
}

#[async_trait]
impl Invoker for HttpInvoker {
    async fn invoke(&self, req: OutboundRequest) -> Result<InboundResponse, InvokeError> {
        let out = upstream::from_engine(req, self.default_timeout)?;
        let ex = self.upstream.exchange_plain(out).await?;
        let (parts, body) = self.upstream.read(ex, self.max_response).await?;
        Ok(InboundResponse {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }

    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await
    }

    async fn connect(&self, host: &str, port: u16, timeout: Duration) -> Result<(), String> {
        // a host written as an IPv6 literal in brackets is looked up without them
        let host = host.trim_start_matches('[').trim_end_matches(']');
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host, port))).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no connection within {} s", timeout.as_secs_f64())),
        }
    }

    fn detach(&self, work: DetachedWork) -> Result<(), DetachedWork> {
        match &self.detached {
            Some(d) => d.spawn(work),
            None => Err(work),
        }
    }
}
