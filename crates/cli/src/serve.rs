//! `synaptic serve [--config PATH] [--check] [--wire]`

use anyhow::Context as _;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use synaptic_diag::render::{render, Format};
use synaptic_diag::{Diagnostic, Severity, SourceMap};
use synaptic_gateway::config::{self, ConfigError};
use synaptic_gateway::reload::ProgramStore;
use synaptic_gateway::{ServeOptions, StartError};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The configuration file; relative paths inside it resolve against its folder.
    #[arg(
        long,
        short = 'c',
        value_name = "PATH",
        default_value = "synaptic.toml"
    )]
    pub config: PathBuf,
    /// Load and validate the configuration and every sequence, print diagnostics, exit 0/1.
    #[arg(long)]
    pub check: bool,
    /// Log headers and bodies of every message in both directions (credentials redacted).
    #[arg(long)]
    pub wire: bool,
    /// Listen here instead of `[server] listen`.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Do not watch the sequences folder.
    #[arg(long)]
    pub no_watch: bool,
    /// Worker threads (default: the CPUs this process may run on; 1 = a single-threaded runtime).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Diagnostic format: short, rich or json.
    #[arg(long, value_enum, default_value_t = DiagFormat::Short)]
    pub format: DiagFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DiagFormat {
    Short,
    Rich,
    Json,
}

impl DiagFormat {
    fn format(self) -> Format {
        match self {
            DiagFormat::Short => Format::Short,
            DiagFormat::Rich => Format::Rich,
            DiagFormat::Json => Format::Json,
        }
    }
}

fn print_diags(
    out: &mut dyn Write,
    map: &SourceMap,
    diags: &[Diagnostic],
    format: Format,
) -> std::io::Result<(usize, usize)> {
    let (mut errors, mut warnings) = (0, 0);
    for d in diags {
        match d.severity {
            Severity::Error => errors += 1,
            Severity::Warning => warnings += 1,
        }
        let text = render(map, d, format);
        writeln!(out, "{}", text.trim_end())?;
        if format == Format::Rich {
            writeln!(out)?;
        }
    }
    Ok((errors, warnings))
}

pub fn run(args: ServeArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let format = args.format.format();
    let loaded = match config::load(&args.config) {
        Ok(l) => l,
        Err(ConfigError::Invalid {
            diagnostics,
            sources,
        }) => {
            let target: &mut dyn Write = if args.check { out } else { err };
            let (errors, _) = print_diags(target, &sources, &diagnostics, format)?;
            writeln!(
                err,
                "synaptic: {} has {errors} error(s)",
                args.config.display()
            )?;
            return Ok(ExitCode::from(1));
        }
        Err(e @ ConfigError::Io { .. }) => {
            return Err(anyhow::Error::new(e)).with_context(|| {
                "no configuration (pass --config PATH or run from a folder with synaptic.toml)"
            })
        }
    };
    if args.check {
        return check(&loaded, out, err, format);
    }
    crate::logging::init(&loaded.config.log, &loaded.config.base_dir, args.wire)?;
    let workers = match args.workers {
        Some(n) if n > 0 => n,
        _ => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    };
    // One core (e.g. pinned with taskset): a current-thread runtime avoids the work-stealing
    // scheduler's cross-thread wake-ups.
    let rt = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
    }
    .context("cannot start the tokio runtime")?;
    let opts = ServeOptions {
        wire: args.wire,
        watch: args.no_watch.then_some(false),
        listen: args.listen,
        listen_tls: None,
    };
    let config_path = args.config.clone();
    rt.block_on(async move {
        let started =
            synaptic_gateway::start_with_signal(loaded.config, opts, shutdown_signal()).await;
        let (running, report) = match started {
            Ok(x) => x,
            Err(StartError::Sequences(report)) => {
                print_diags(err, &report.sources, &report.diagnostics, format)?;
                for m in &report.missing {
                    writeln!(
                        err,
                        "{}: error[E0402]: no sequence named {m:?} in the sequences folder",
                        config_path.display()
                    )?;
                }
                writeln!(err, "synaptic: the sequences do not load")?;
                return Ok(ExitCode::from(1));
            }
            Err(e) => return Err(anyhow::Error::new(e)).context("cannot start the gateway"),
        };
        for line in report.render() {
            tracing::warn!(target: "synaptic::reload", "{line}");
        }
        let g = running.gateway();
        tracing::info!(
            addr = %running.addr(),
            apis = g.config().api.len(),
            sequences = g.program_store().current().names.len(),
            "synaptic listening on http://{}",
            running.addr()
        );
        running.wait().await;
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// `serve --check`: configuration, then every sequence, then the sequence names the
/// configuration uses.
fn check(
    loaded: &config::LoadedConfig,
    out: &mut dyn Write,
    err: &mut dyn Write,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let cfg = &loaded.config;
    let dir = cfg.sequences_dir();
    let (store, report) = ProgramStore::open(dir.clone(), Vec::new());
    let (mut errors, warnings) = print_diags(out, &report.sources, &report.diagnostics, format)?;
    let current = store.current();
    let refs = if report.swapped {
        config::check_sequence_refs(loaded, &|n| current.has_sequence(n))
    } else {
        Vec::new()
    };
    let (e2, _) = print_diags(out, &loaded.sources, &refs, format)?;
    errors += e2;
    if !dir.is_dir() && !config::referenced_sequences(cfg).is_empty() {
        writeln!(
            err,
            "synaptic: sequences folder {} does not exist",
            display(&dir)
        )?;
        errors += 1;
    }
    writeln!(
        err,
        "synaptic: {}: {} API(s), {} sequence(s), {errors} error(s), {warnings} warning(s)",
        loaded.path.display(),
        cfg.api.len(),
        current.names.len()
    )?;
    Ok(if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("signal received");
}
