//! Log lines a test captures, in memory: per thread ([`CapturedLogs::install`], [`capture`]) or
//! for the whole process ([`capture_global`], [`global_text`]), so tests can assert what was
//! logged and that no secret, key or token was.

use std::sync::{Arc, Mutex, OnceLock};

/// The captured text; clones share it.
#[derive(Clone, Debug, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

/// The same capture under its shorter name.
pub type Captured = CapturedLogs;

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// Capture `INFO` and above, formatted like `synaptic serve` without colours, on this thread
    /// until the guard is dropped (use a current-thread runtime, the default of
    /// `#[tokio::test]`, so the gateway's tasks log on this thread).
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        let w = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || w.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        tracing::subscriber::set_default(subscriber)
    }
}

/// A new capture installed on this thread: [`CapturedLogs::install`].
pub fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    let logs = Captured::default();
    let guard = logs.install();
    (logs, guard)
}

/// Capture everything this process logs (TRACE for the synaptic crates), installed once as the
/// global subscriber; returns the shared capture.
pub fn capture_global() -> &'static CapturedLogs {
    static LOGS: OnceLock<CapturedLogs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = CapturedLogs::default();
        let w = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("synaptic_gateway=trace,synaptic_oauth=trace,info")
            .with_ansi(false)
            .with_writer(move || w.clone())
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        logs
    })
}

/// What [`capture_global`] has captured so far.
pub fn global_text() -> String {
    capture_global().text()
}
