//! The log subscriber of `synaptic serve`, as `[log]` configures it: text or JSON lines, the
//! level per target (`SYNAPTIC_LOG` overrides the configured levels), and the access log on
//! stderr, stdout or a file.

use anyhow::Context as _;
use std::fs::File;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use synaptic_gateway::log_config::{AccessLogTarget, LogConfig, LogFormat};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::access_log::{AccessLog, TARGET as ACCESS};

/// Where access lines are written.
#[derive(Clone)]
enum Dest {
    Stderr,
    Stdout,
    File(Arc<File>),
}

/// One writer per line; a file is opened for appending, so each line is one `write(2)`.
enum DestWriter<'a> {
    Stderr(std::io::Stderr),
    Stdout(std::io::Stdout),
    File(&'a File),
}

impl std::io::Write for DestWriter<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        match self {
            DestWriter::Stderr(w) => w.write(b),
            DestWriter::Stdout(w) => w.write(b),
            DestWriter::File(f) => f.write(b),
        }
    }
    fn write_all(&mut self, b: &[u8]) -> std::io::Result<()> {
        match self {
            DestWriter::Stderr(w) => w.write_all(b),
            DestWriter::Stdout(w) => w.write_all(b),
            DestWriter::File(f) => f.write_all(b),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            DestWriter::Stderr(w) => w.flush(),
            DestWriter::Stdout(w) => w.flush(),
            DestWriter::File(f) => f.flush(),
        }
    }
}

impl<'a> MakeWriter<'a> for Dest {
    type Writer = DestWriter<'a>;
    fn make_writer(&'a self) -> Self::Writer {
        match self {
            Dest::Stderr => DestWriter::Stderr(std::io::stderr()),
            Dest::Stdout => DestWriter::Stdout(std::io::stdout()),
            Dest::File(f) => DestWriter::File(f),
        }
    }
}

fn access_dest(cfg: &LogConfig, base_dir: &Path) -> anyhow::Result<Dest> {
    Ok(match &cfg.access_log {
        AccessLogTarget::Stderr => Dest::Stderr,
        AccessLogTarget::Stdout => Dest::Stdout,
        AccessLogTarget::File(p) => {
            let path = base_dir.join(p);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("cannot open the access log {}", path.display()))?;
            Dest::File(Arc::new(f))
        }
    })
}

/// Install the global subscriber. `wire` (from `--wire`) turns the wire log on.
pub fn init(cfg: &LogConfig, base_dir: &Path, wire: bool) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_env("SYNAPTIC_LOG")
        .unwrap_or_else(|_| EnvFilter::new(cfg.directives(wire)));
    let dest = access_dest(cfg, base_dir)?;
    let not_access = || filter_fn(|m| m.target() != ACCESS);
    let registry = tracing_subscriber::registry().with(filter);
    // access lines have their own (cheaper) writer; the general formatter writes the rest
    let _ = match cfg.format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_target(true)
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_writer(std::io::stderr)
                    .with_filter(not_access()),
            )
            .with(with_sink(AccessLog::new(dest)))
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_writer(std::io::stderr)
                    .with_filter(not_access()),
            )
            .with(with_sink(AccessLog::json(dest)))
            .try_init(),
    };
    Ok(())
}

/// The layer, with its sink installed as the gateway's: access records are formatted from
/// their fields, never becoming `tracing` events (the layer still writes any such event).
fn with_sink(layer: AccessLog<Dest>) -> AccessLog<Dest> {
    synaptic_gateway::access::set_sink(Box::new(layer.sink()));
    layer
}
