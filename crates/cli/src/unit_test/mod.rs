//! `synaptic test`: run a Micro Integrator project's unit-test suites (`<unit-test>` files)
//! against its artifacts, without a Micro Integrator server.
//!
//! Suites are found in both project layouts (Integration Studio's `test/` next to
//! `src/main/synapse-config`, Micro Integrator 4.x's `src/test/wso2mi`), or given as files.
//! A suite whose test artifact is a `<sequence>` runs it in the engine on a message built from
//! the test case's input; an `<api>` or `<proxy>` is served by an in-process gateway on
//! 127.0.0.1 (an ephemeral port) and called over HTTP, as the framework does. Mock services
//! run on 127.0.0.1 too; the endpoints they replace are pointed at them.

mod compare;
mod junit;
mod mock;
mod suite;

use anyhow::Context as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

pub use suite::lint_suite_file;

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Suite files, or folders searched recursively for `<unit-test>` files (a project's
    /// `test/` or `src/test/wso2mi/`); default: the current folder.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Write a JUnit XML report to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Time limit of one test case's request or mediation, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub timeout: u64,
}

/// How a test case ended.
#[derive(Clone, Debug)]
pub enum Outcome {
    Passed,
    /// Assertions that did not hold (or a mediation that failed), one message each.
    Failed(Vec<String>),
    /// The case could not run.
    Error(String),
}

#[derive(Clone, Debug)]
pub struct CaseResult {
    pub name: String,
    pub outcome: Outcome,
    pub time: Duration,
}

#[derive(Clone, Debug)]
pub struct SuiteResult {
    /// The suite file as given or found.
    pub path: String,
    /// `api OrderAPI`, `sequence S`, …
    pub target: String,
    /// Diagnostics worth showing (warnings; errors when the suite could not run).
    pub notes: Vec<String>,
    /// Why the suite could not run at all.
    pub error: Option<String>,
    pub cases: Vec<CaseResult>,
    pub time: Duration,
}

pub fn run(args: TestArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let suites = find_suites(&paths)?;
    if suites.is_empty() {
        writeln!(
            err,
            "synaptic: no unit-test suites (<unit-test> files) under {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )?;
        return Ok(ExitCode::from(2));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let timeout = Duration::from_secs(args.timeout.max(1));
    let started = tokio::time::Instant::now();
    let mut results = Vec::new();
    for s in &suites {
        let r = rt.block_on(suite::run_suite(s, timeout));
        print_suite(out, &r)?;
        results.push(r);
    }
    let total = started.elapsed();
    let (mut passed, mut failed, mut errors) = (0, 0, 0);
    for r in &results {
        if r.error.is_some() {
            errors += 1;
        }
        for c in &r.cases {
            match c.outcome {
                Outcome::Passed => passed += 1,
                Outcome::Failed(_) => failed += 1,
                Outcome::Error(_) => errors += 1,
            }
        }
    }
    let ok = failed == 0 && errors == 0;
    writeln!(
        out,
        "\ntest result: {}. {passed} passed; {failed} failed; {errors} error{}; {} suite{} ({:.2} s)",
        if ok { "ok" } else { "FAILED" },
        if errors == 1 { "" } else { "s" },
        results.len(),
        if results.len() == 1 { "" } else { "s" },
        total.as_secs_f64()
    )?;
    if let Some(file) = &args.junit {
        let xml = junit::report(&results, total);
        std::fs::write(file, xml)
            .with_context(|| format!("cannot write the JUnit report {}", file.display()))?;
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_suite(out: &mut dyn Write, r: &SuiteResult) -> std::io::Result<()> {
    if r.target.is_empty() {
        writeln!(out, "suite {}", r.path)?;
    } else {
        writeln!(out, "suite {} ({})", r.path, r.target)?;
    }
    for n in &r.notes {
        writeln!(out, "  {n}")?;
    }
    if let Some(e) = &r.error {
        for (i, line) in e.lines().enumerate() {
            if i == 0 {
                writeln!(out, "  ERROR {line}")?;
            } else {
                writeln!(out, "        {line}")?;
            }
        }
    }
    for c in &r.cases {
        let ms = c.time.as_millis();
        match &c.outcome {
            Outcome::Passed => writeln!(out, "  ok    {} ({ms} ms)", c.name)?,
            Outcome::Failed(why) => {
                writeln!(out, "  FAIL  {} ({ms} ms)", c.name)?;
                for w in why {
                    for line in w.lines() {
                        writeln!(out, "        {line}")?;
                    }
                }
            }
            Outcome::Error(why) => {
                writeln!(out, "  ERROR {} ({ms} ms)", c.name)?;
                for line in why.lines() {
                    writeln!(out, "        {line}")?;
                }
            }
        }
    }
    Ok(())
}

/// Folders never searched for suites.
const SKIP_DIRS: &[&str] = &["target", ".git", "node_modules", ".idea", ".vscode"];

/// Suite files: the files given, and the `<unit-test>` files under the folders given.
pub fn find_suites(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).with_context(|| format!("cannot read {}", p.display()))?;
        if meta.is_dir() {
            walk(p, &mut out, 0)?;
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) -> anyhow::Result<()> {
    if depth > 32 {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for e in entries {
        let name = e.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if e.is_dir() {
            if !SKIP_DIRS.contains(&name) && !name.starts_with('.') {
                walk(&e, out, depth + 1)?;
            }
        } else if e.extension().is_some_and(|x| x.eq_ignore_ascii_case("xml")) {
            // only the start of the file decides
            if let Ok(text) = read_head(&e) {
                if synaptic_syntax::unit_test::is_suite(&text) {
                    out.push(e);
                }
            }
        }
    }
    Ok(())
}

/// The first 4 KiB of a file, as text.
fn read_head(p: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(p)?;
    let mut buf = vec![0u8; 4096];
    let mut n = 0;
    while n < buf.len() {
        let k = f.read(&mut buf[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    buf.truncate(n);
    Ok(String::from_utf8_lossy(&buf).into_owned())
}
