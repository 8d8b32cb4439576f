//! The one Redis connection a store shares (the token cache of endpoint security, the
//! counters and response cache of `throttle`/`cache`, the authorization server's records).
//!
//! The connection is made on first use, within a connect timeout, and shared by every
//! operation (redis-rs's `ConnectionManager` multiplexes them and reconnects). An operation
//! has a timeout of its own; an operation that times out or finds the connection broken
//! drops it, so the next one reconnects instead of waiting on a dead socket.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;
use tokio::sync::Mutex;

pub(crate) struct RedisConn {
    client: redis::Client,
    slot: Mutex<Option<ConnectionManager>>,
    op_timeout: Duration,
    connect_timeout: Duration,
}

/// Why an operation failed.
#[derive(Debug)]
pub(crate) enum RedisFailure {
    ConnectTimeout,
    OpTimeout,
    Redis(redis::RedisError),
}

impl std::fmt::Display for RedisFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RedisFailure::ConnectTimeout => f.write_str("redis connect timed out"),
            RedisFailure::OpTimeout => f.write_str("redis operation timed out"),
            RedisFailure::Redis(e) => write!(f, "redis: {e}"),
        }
    }
}

impl std::error::Error for RedisFailure {}

impl RedisConn {
    /// Not connected yet: the first operation connects, within `connect_timeout`.
    pub(crate) fn new(
        client: redis::Client,
        op_timeout: Duration,
        connect_timeout: Duration,
    ) -> RedisConn {
        RedisConn {
            client,
            slot: Mutex::new(None),
            op_timeout,
            connect_timeout,
        }
    }

    /// The shared connection (made now when there is none).
    pub(crate) async fn connection(&self) -> Result<ConnectionManager, RedisFailure> {
        let mut slot = self.slot.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(self.op_timeout)
            .set_response_timeout(self.op_timeout)
            .set_number_of_retries(1)
            .set_max_delay(200);
        let made = tokio::time::timeout(
            self.connect_timeout,
            ConnectionManager::new_with_config(self.client.clone(), cfg),
        )
        .await
        .map_err(|_| RedisFailure::ConnectTimeout)?
        .map_err(RedisFailure::Redis)?;
        *slot = Some(made.clone());
        Ok(made)
    }

    /// Run one operation within the operation timeout.
    pub(crate) async fn run<T, F, Fut>(&self, op: F) -> Result<T, RedisFailure>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let conn = self.connection().await?;
        match tokio::time::timeout(self.op_timeout, op(conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
                    *self.slot.lock().await = None;
                }
                Err(RedisFailure::Redis(e))
            }
            Err(_) => {
                *self.slot.lock().await = None;
                Err(RedisFailure::OpTimeout)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_server_that_never_answers_fails_within_the_connect_timeout() {
        // accepts, then says nothing: the handshake can never finish
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let held = tokio::spawn(async move {
            let mut socks = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                socks.push(s);
            }
        });
        let client = redis::Client::open(format!("redis://{addr}/")).unwrap();
        let conn = RedisConn::new(
            client,
            Duration::from_millis(100),
            Duration::from_millis(300),
        );
        let started = tokio::time::Instant::now();
        let r = conn
            .run(|mut c| async move { redis::cmd("PING").query_async::<String>(&mut c).await })
            .await;
        assert!(r.is_err(), "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let text = r.unwrap_err().to_string();
        assert!(text.starts_with("redis"), "{text}");
        held.abort();
    }
}
