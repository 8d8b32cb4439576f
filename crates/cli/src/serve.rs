//! `synaptic serve [--config PATH] [--check] [--strict] [--wire]`

use anyhow::Context as _;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use synaptic_diag::render::{render, Format};
use synaptic_diag::{Diagnostic, Severity, SourceMap};
use synaptic_gateway::config::{self, ConfigError};
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
    /// Refuse to start when any artifact of the sequences folder has an error (by default
    /// the artifacts that compile are deployed and the others reported with their positions).
    #[arg(long)]
    pub strict: bool,
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
    if args.check {
        return check(&args.config, out, err, format);
    }
    let loaded = match config::load(&args.config) {
        Ok(l) => l,
        Err(ConfigError::Invalid {
            diagnostics,
            sources,
        }) => {
            let (errors, _) = print_diags(err, &sources, &diagnostics, format)?;
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
    print_diags(err, &loaded.sources, &loaded.warnings, format)?;
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
        config_path: Some(args.config.clone()),
        strict: args.strict,
    };
    let config_path = args.config.clone();
    // the configuration's text, to show plan errors (an API context served twice, …) at their
    // positions
    let config_sources = loaded.sources.clone();
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
            Err(StartError::Plan(diags)) => {
                print_diags(err, &config_sources, &diags, format)?;
                writeln!(err, "synaptic: the configuration does not compile")?;
                return Ok(ExitCode::from(1));
            }
            Err(e) => return Err(anyhow::Error::new(e)).context("cannot start the gateway"),
        };
        for (line, d) in report.render().iter().zip(&report.diagnostics) {
            if d.is_error() {
                tracing::error!(target: "synaptic::reload", "{line}");
            } else {
                tracing::warn!(target: "synaptic::reload", "{line}");
            }
        }
        for file in &report.undeployed {
            tracing::error!(target: "synaptic::reload", "{file}: not deployed (see the errors above)");
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

/// `serve --check`: every configuration error, then exactly what `lint` reports for the
/// sequences folder, then the sequence names the configuration uses but no file declares. One
/// stage's errors never hide another's.
fn check(
    path: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let checked = match config::check_file(path) {
        Ok(c) => c,
        Err(e) => {
            return Err(anyhow::Error::new(e)).with_context(|| {
                "no configuration (pass --config PATH or run from a folder with synaptic.toml)"
            })
        }
    };
    let (mut errors, mut warnings) =
        print_diags(out, &checked.sources, &checked.diagnostics, format)?;
    // the folder the configuration names, or the default one when it does not parse
    let dir = match &checked.config {
        Some(c) => c.sequences_dir(),
        None => checked.base_dir.join("sequences"),
    };
    let files = if dir.is_dir() {
        crate::lint::collect_files(std::slice::from_ref(&dir))?
    } else {
        Vec::new()
    };
    // as `serve` deploys them: with the configuration's deploy-time parameter values, its
    // registry, its server name, published WSDLs fetched
    let report = crate::lint::lint_files(&files, &dir, checked.config.as_ref())?;
    let (e, w) = print_diags(out, &report.map, &report.diagnostics, format)?;
    errors += e;
    warnings += w;
    // names any file declares, broken or not: a broken file is reported above already
    let mut declared = std::collections::HashSet::new();
    for (id, file) in report.map.files() {
        let tree = synaptic_syntax::parse_artifact(id, &file.text).tree;
        for s in tree.sequences.iter().filter(|s| !s.anonymous) {
            declared.insert(s.name.value.clone());
        }
    }
    let apis = checked.config.as_ref().map_or(0, |c| c.api.len());
    if let Some(cfg) = &checked.config {
        let text = checked.sources.text(checked.source);
        let refs = config::sequence_refs(cfg, checked.source, text, &|n| declared.contains(n));
        let (e, _) = print_diags(out, &checked.sources, &refs, format)?;
        errors += e;
        if !dir.is_dir() && !config::referenced_sequences(cfg).is_empty() {
            writeln!(
                err,
                "synaptic: sequences folder {} does not exist",
                display(&dir)
            )?;
            errors += 1;
        }
    }
    writeln!(
        err,
        "synaptic: {}: {apis} API(s), {} sequence(s), {errors} error(s), {warnings} warning(s)",
        path.display(),
        declared.len()
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
