//! A real `redis-server` (Debian's package) per test, on a free loopback port, with no
//! persistence, killed by pid when the handle is dropped (or when the test process dies).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::process::{ready_or_stopped, restart_retrying, Supervised};

/// A running (or deliberately stopped) `redis-server`.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    proc: Option<Supervised>,
}

fn redis_binary() -> PathBuf {
    for c in ["/usr/bin/redis-server", "/usr/local/bin/redis-server"] {
        let p = PathBuf::from(c);
        if p.is_file() {
            return p;
        }
    }
    crate::missing_prerequisite("redis-server (Debian package `redis-server`) is not installed")
}

/// Send `PING` over RESP; true on `+PONG`.
pub fn ping(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(300)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    match s.read(&mut buf) {
        Ok(n) => buf[..n].starts_with(b"+PONG"),
        Err(_) => false,
    }
}

impl RedisServer {
    /// Start a fresh server on a free port. Panics with a clear message (naming the setup
    /// command when redis-server is missing) if it cannot start.
    pub fn start() -> RedisServer {
        let dir = tempfile::Builder::new()
            .prefix("synaptic-redis-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temp dir for redis: {e}"));
        let mut server = RedisServer {
            port: 0,
            dir,
            proc: None,
        };
        let mut last_err = String::new();
        // A free port can be taken between finding and binding it: retry with a new one.
        for _ in 0..5 {
            server.port = crate::free_port();
            match server.spawn() {
                Ok(()) => return server,
                Err(e) => last_err = e,
            }
        }
        panic!("redis-server did not start after 5 attempts: {last_err}")
    }

    fn spawn(&mut self) -> Result<(), String> {
        let log = self.dir.path().join("redis.log");
        let mut cmd = Command::new(redis_binary());
        cmd.arg("--port")
            .arg(self.port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--save")
            .arg("")
            .arg("--appendonly")
            .arg("no")
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--daemonize")
            .arg("no")
            .arg("--protected-mode")
            .arg("yes");
        let proc = Supervised::spawn("redis", &log, &cmd)?;
        let port = self.port;
        let failure = format!("redis-server on port {port} did not answer PING");
        self.proc = Some(ready_or_stopped(proc, 200, || ping(port), 2000, &failure)?);
        Ok(())
    }

    /// The port it listens on (kept across [`RedisServer::restart`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        self.url_db(0)
    }

    /// `redis://127.0.0.1:PORT/DB`, to isolate tests sharing one server.
    pub fn url_db(&self, db: u32) -> String {
        format!("redis://127.0.0.1:{}/{db}", self.port)
    }

    /// The server's pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().map(Supervised::pid)
    }

    /// Whether the server answers PING now.
    pub fn is_up(&self) -> bool {
        ping(self.port)
    }

    /// Stop the server (SIGTERM, as an operator would), for outage tests. Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.stop();
        }
    }

    /// Kill the server with SIGKILL (a crash), for outage tests. Idempotent.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    /// Start it again on the same port (after [`RedisServer::stop`] or [`RedisServer::kill`];
    /// stops it first if it runs). The data is gone: there is no persistence. Retries for a
    /// while if the port is momentarily unavailable; panics if it cannot get it back.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(last_err) = restart_retrying(|| self.spawn()) {
            panic!(
                "redis-server could not restart on port {}: {last_err}",
                self.port
            )
        }
    }

    /// The server log so far (for failure messages).
    pub fn log(&self) -> String {
        crate::process::log_tail(&self.dir.path().join("redis.log"), 64 * 1024)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
