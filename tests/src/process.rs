//! Child servers whose life is tied to the test process.
//!
//! Every server a test starts (redis-server, the OAuth2 peers) runs under
//! `tests/peers/supervise.sh`, which holds the read end of a pipe whose write end only this
//! process has. When the [`Supervised`] handle is dropped or stopped — or when the test process
//! dies in any way, SIGKILL and aborts included — the pipe reaches end of file and the
//! supervisor kills the server (SIGTERM, SIGKILL after 3 s). Handles kept in statics (whose
//! `Drop` never runs) are therefore still cleaned up at exit, and no orphan survives a CI run.
//! Only the pid the supervisor reported is ever signalled.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

/// A running server under `supervise.sh`.
#[derive(Debug)]
pub struct Supervised {
    name: String,
    supervisor: Child,
    lifeline: Option<ChildStdin>,
    pid: u32,
    log: PathBuf,
}

fn supervise_script() -> PathBuf {
    crate::workspace_root().join("tests/peers/supervise.sh")
}

impl Supervised {
    /// Start `cmd` (program, arguments, environment and current directory are taken from it)
    /// under the supervisor; its stdout and stderr are appended to `log`.
    pub fn spawn(name: &str, log: &Path, cmd: &Command) -> Result<Supervised, String> {
        let script = supervise_script();
        if !script.is_file() {
            return Err(format!("{} is missing", script.display()));
        }
        let mut sup = Command::new("bash");
        sup.arg(&script).arg(log).arg(cmd.get_program());
        sup.args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => sup.env(k, v),
                None => sup.env_remove(k),
            };
        }
        if let Some(dir) = cmd.get_current_dir() {
            sup.current_dir(dir);
        }
        // Never hand the test harness's stdout/stderr to a server: nextest would wait on them.
        sup.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut supervisor = sup
            .spawn()
            .map_err(|e| format!("cannot run bash {}: {e}", script.display()))?;
        let lifeline = supervisor.stdin.take();
        let stdout = supervisor.stdout.take();
        let mut line = String::new();
        if let Some(out) = stdout {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        let pid = match line.trim().parse::<u32>() {
            Ok(pid) => pid,
            Err(_) => {
                drop(lifeline);
                let _ = supervisor.wait();
                return Err(format!(
                    "{name}: supervisor did not report a pid (got {line:?})"
                ));
            }
        };
        Ok(Supervised {
            name: name.to_string(),
            supervisor,
            lifeline,
            pid,
            log: log.to_path_buf(),
        })
    }

    /// The server's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The log file (the server's stdout and stderr).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last `max` bytes of the log, for failure messages.
    pub fn log_tail(&self, max: usize) -> String {
        log_tail(&self.log, max)
    }

    /// Whether the server has exited (the supervisor exits with it).
    pub fn has_exited(&mut self) -> bool {
        !matches!(self.supervisor.try_wait(), Ok(None))
    }

    /// Stop the server (SIGTERM, SIGKILL after 3 s) and wait for it. Idempotent.
    pub fn stop(&mut self) {
        self.lifeline.take();
        let _ = self.supervisor.wait();
    }

    /// SIGKILL the server at once (a crash, for outage tests) and wait for it.
    pub fn kill(&mut self) {
        if !self.has_exited() {
            signal(self.pid, "KILL");
        }
        self.stop();
    }

    /// The name given at spawn.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Send `sig` (a name such as `TERM` or `KILL`) to one pid, through `kill(1)`.
pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The last `max` bytes of a file, lossily decoded.
pub fn log_tail(path: &Path, max: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let start = bytes.len().saturating_sub(max);
            String::from_utf8_lossy(&bytes[start..]).into_owned()
        }
        Err(e) => format!("(no log at {}: {e})", path.display()),
    }
}

/// Poll `ready` every 50 ms until it returns true, `server` exits, or `attempts` run out.
/// Returns whether it became ready. (Counts attempts: wall-clock types are banned so that
/// tests can pause time, and a paused clock must not stall process start-up.)
pub fn wait_until(server: &mut Supervised, attempts: u32, mut ready: impl FnMut() -> bool) -> bool {
    for _ in 0..attempts {
        if ready() {
            return true;
        }
        if server.has_exited() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    ready()
}

/// `server` once `ready` holds (polled as [`wait_until`] does); otherwise it is stopped and the
/// error is `failure` followed by the last `tail` bytes of its log.
pub fn ready_or_stopped(
    mut server: Supervised,
    attempts: u32,
    ready: impl FnMut() -> bool,
    tail: usize,
    failure: &str,
) -> Result<Supervised, String> {
    if wait_until(&mut server, attempts, ready) {
        Ok(server)
    } else {
        let log = server.log_tail(tail);
        server.stop();
        Err(format!("{failure}; log:\n{log}"))
    }
}

/// Run `start` again, 100 ms apart, until it succeeds or has failed 20 times (a port just freed
/// may be momentarily unavailable); the last error then.
pub fn restart_retrying(mut start: impl FnMut() -> Result<(), String>) -> Result<(), String> {
    let mut last_err = String::new();
    for _ in 0..20 {
        match start() {
            Ok(()) => return Ok(()),
            Err(e) => last_err = e,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(last_err)
}

/// Blocking `GET url` on 127.0.0.1 with a short timeout: the status code, or None.
/// Only for readiness probes of local servers (`http://127.0.0.1:PORT/path`).
pub fn http_get_status(port: u16, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(2))).ok()?;
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nAccept: */*\r\n\r\n"
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while got.len() < 12 {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&got);
    line.split_whitespace().nth(1)?.parse().ok()
}
