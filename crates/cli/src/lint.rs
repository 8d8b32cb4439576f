//! `synaptic lint`: parse and compile Synapse artifact files together (sequences, APIs,
//! endpoints, local entries, …), check what the gateway would deploy, and print diagnostics
//! like a compiler (`PATH:LINE:COL: error[CODE]: message`).

use anyhow::Context as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use synaptic_diag::render::{render, Format};
use synaptic_diag::{Diagnostic, Severity, SourceMap};

#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// Sequence files or folders (searched recursively for `*.xml`); default `sequences/`.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Output format: `short` (one line per diagnostic), `rich` (source snippets) or `json`
    /// (one object per line).
    #[arg(long, value_enum, default_value_t = LintFormat::Short)]
    pub format: LintFormat,
    /// `--deny warnings` turns warnings into failures (exit 1).
    #[arg(long, value_enum, value_name = "WHAT")]
    pub deny: Vec<Deny>,
    /// Colour (accepted for compatibility; output is never coloured).
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LintFormat {
    Short,
    Rich,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Deny {
    Warnings,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

/// The outcome of linting a set of files.
#[derive(Debug)]
pub struct LintReport {
    pub map: SourceMap,
    pub diagnostics: Vec<Diagnostic>,
    pub files: usize,
}

pub fn run(args: LintArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from("sequences")]
    } else {
        args.paths.clone()
    };
    let files = collect_files(&paths)?;
    // `<wsdl uri=…>` paths are relative to the project: the folder linted (or the file's)
    let base = match paths.first() {
        Some(p) if p.is_dir() => p.clone(),
        Some(p) => p.parent().map(Path::to_path_buf).unwrap_or_default(),
        None => PathBuf::new(),
    };
    let report = lint_files(&files, &base, None)?;
    let format = match args.format {
        LintFormat::Short => Format::Short,
        LintFormat::Rich => Format::Rich,
        LintFormat::Json => Format::Json,
    };
    let deny_warnings = args.deny.contains(&Deny::Warnings);
    let mut errors = 0usize;
    let mut warnings = 0usize;
    for d in &report.diagnostics {
        match d.severity {
            Severity::Error => errors += 1,
            Severity::Warning => warnings += 1,
        }
        let text = render(&report.map, d, format);
        if format == Format::Rich {
            writeln!(out, "{}", text.trim_end())?;
            writeln!(out)?;
        } else {
            writeln!(out, "{text}")?;
        }
    }
    if format != Format::Json && (errors > 0 || warnings > 0) {
        writeln!(
            err,
            "{} file{} checked: {} error{}, {} warning{}",
            report.files,
            if report.files == 1 { "" } else { "s" },
            errors,
            if errors == 1 { "" } else { "s" },
            warnings,
            if warnings == 1 { "" } else { "s" },
        )?;
    }
    Ok(if errors > 0 || (deny_warnings && warnings > 0) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Expand folders (recursively, `*.xml`, sorted) and check that every path exists.
pub fn collect_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).with_context(|| format!("cannot read {}", p.display()))?;
        if meta.is_dir() {
            walk(p, &mut files)?;
        } else {
            files.push(p.clone());
        }
    }
    Ok(files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            walk(&e, out)?;
        } else if e.extension().is_some_and(|x| x.eq_ignore_ascii_case("xml")) {
            out.push(e);
        }
    }
    Ok(())
}

/// Parse every file and compile them together (sequence references resolve across files);
/// `<wsdl uri=…>` documents are read relative to `base`, the project folder. `serve`: the
/// configuration `serve --check` loads the files as `serve` would with (the values of
/// deploy-time parameters, the file registry a `<publishWSDL key>` naming no local entry is
/// read from, published WSDLs fetched over `http(s)`, the server name `pinnedServers` is
/// matched against); `None` (`lint`) leaves all of these for deployment.
pub fn lint_files(
    files: &[PathBuf],
    base: &Path,
    serve: Option<&synaptic_gateway::config::Config>,
) -> anyhow::Result<LintReport> {
    let mut map = SourceMap::new();
    let mut artifacts = Vec::with_capacity(files.len());
    let mut diagnostics = Vec::new();
    for f in files {
        let bytes = std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let id = map.add(f.display().to_string(), text);
        // unit-test suites and mock services are checked as such, not as artifacts
        if let Some(d) = crate::unit_test::lint_suite_file(f, id, map.text(id)) {
            diagnostics.extend(d);
            continue;
        }
        let parse = synaptic_syntax::parse_artifact(id, map.text(id));
        diagnostics.extend(parse.diagnostics);
        artifacts.push(parse.tree);
    }
    let settings = serve
        .map(synaptic_gateway::reload::LoadSettings::of)
        .unwrap_or_default();
    let opts = synaptic_engine::CompileOptions {
        deploy: serve.map(|c| synaptic_engine::DeployValues(c.configurables.clone())),
        wsdl: Some(settings.wsdl(base).source()),
        server_name: settings.server_name.clone(),
        ..Default::default()
    };
    let (_, compile_diags) = synaptic_engine::compile(&artifacts, &opts);
    diagnostics.extend(compile_diags);
    // what `serve` would not deploy or not serve (APIs' versions and contexts, proxies, …)
    diagnostics.extend(synaptic_gateway::artifacts::check(&artifacts, &map));
    synaptic_diag::sort(&mut diagnostics);
    // the parser and the compiler may both report an unfilled placeholder or an unsupported
    // mediator at the same place
    diagnostics.dedup_by(|a, b| {
        let (sa, sb) = (a.primary_span(), b.primary_span());
        a.code == b.code
            && sa.source == sb.source
            && ((sa == sb && a.message == b.message)
                || (matches!(a.code.id, "E0108" | "E0112")
                    && map.line_col(sa).0 == map.line_col(sb).0))
    });
    Ok(LintReport {
        map,
        diagnostics,
        files: files.len(),
    })
}
