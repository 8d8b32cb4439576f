//! Everything this test process logs through `tracing` (TRACE for the synaptic crates), kept
//! in memory so tests can assert that no secret, key or token was logged.

use std::sync::{Arc, Mutex, OnceLock};

type Buffer = Arc<Mutex<Vec<u8>>>;

/// Install the capturing subscriber (once per process) and return its buffer.
pub fn capture() -> &'static Buffer {
    static LOGS: OnceLock<Buffer> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Buffer::default();
        let w = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("synaptic_gateway=trace,synaptic_oauth=trace,info")
            .with_ansi(false)
            .with_writer(move || Writer(w.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buf
    })
}

/// What was logged so far.
pub fn text() -> String {
    String::from_utf8_lossy(&capture().lock().unwrap_or_else(|e| e.into_inner())).into_owned()
}

struct Writer(Buffer);

impl std::io::Write for Writer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
