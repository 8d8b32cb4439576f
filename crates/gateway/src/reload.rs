//! Sequences: loading the folder into one [`Program`], and hot reload.
//!
//! Every change (add, change, remove) re-reads the folder, parses every file and compiles all
//! of them; the result replaces the running program atomically (`ArcSwap`), so requests in
//! flight finish on the program they started with. A file with errors is not loaded: its last
//! good version (if any) stays in, and when the whole set does not compile the previous program
//! keeps serving. Errors are logged as `file:line:col: error[code]: message`.

use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use synaptic_diag::{Diagnostic, SourceMap};
use synaptic_engine::{CompileOptions, Program};

/// One loaded generation of the sequences folder.
#[derive(Debug)]
pub struct Loaded {
    /// `None` when the folder has no sequence files.
    pub program: Option<Arc<Program>>,
    pub sources: SourceMap,
    pub generation: u64,
    /// Sequence names in this program.
    pub names: Vec<String>,
}

impl Loaded {
    pub fn has_sequence(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }
}

/// The current program, swapped atomically on reload.
#[derive(Debug)]
pub struct ProgramStore {
    current: ArcSwap<Loaded>,
    dir: PathBuf,
    /// Sequence names the configuration needs.
    required: Vec<String>,
    /// Last text of each file that parsed cleanly.
    last_good: Mutex<HashMap<PathBuf, String>>,
}

/// What a load produced: the diagnostics (to print) and whether the program was replaced.
#[derive(Debug)]
pub struct LoadReport {
    pub diagnostics: Vec<Diagnostic>,
    pub sources: SourceMap,
    pub swapped: bool,
    /// Sequence names the configuration needs but the new program lacks.
    pub missing: Vec<String>,
}

impl LoadReport {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.is_error()) || !self.missing.is_empty()
    }
    /// The diagnostics rendered in short form, one per line.
    pub fn render(&self) -> Vec<String> {
        self.diagnostics
            .iter()
            .map(|d| synaptic_diag::render::short(&self.sources, d))
            .collect()
    }
}

fn sequence_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if name.ends_with(".xml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

impl ProgramStore {
    /// Load the folder for the first time. Errors (any file that does not lint, a required
    /// sequence missing) are returned in the report with `swapped = false`.
    pub fn open(dir: PathBuf, required: Vec<String>) -> (Arc<ProgramStore>, LoadReport) {
        let store = Arc::new(ProgramStore {
            current: ArcSwap::from_pointee(Loaded {
                program: None,
                sources: SourceMap::new(),
                generation: 0,
                names: Vec::new(),
            }),
            dir,
            required,
            last_good: Mutex::new(HashMap::new()),
        });
        let report = store.reload_with(true);
        (store, report)
    }

    pub fn current(&self) -> Arc<Loaded> {
        self.current.load_full()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Re-read the folder and swap in the new program if it compiles.
    pub fn reload(&self) -> LoadReport {
        self.reload_with(false)
    }

    fn reload_with(&self, initial: bool) -> LoadReport {
        let files = sequence_files(&self.dir);
        let mut sources = SourceMap::new();
        let mut diagnostics = Vec::new();
        let mut artifacts = Vec::new();
        let mut last_good = self.last_good.lock().unwrap_or_else(|e| e.into_inner());
        let mut seen = Vec::new();
        for path in &files {
            let Ok(text) = std::fs::read_to_string(path) else {
                // vanished between listing and reading, or unreadable: treat as removed
                continue;
            };
            seen.push(path.clone());
            let name = display_path(path);
            let id = sources.add(name.clone(), text.clone());
            let parse = synaptic_syntax::parse_artifact(id, &text);
            let has_err = parse.diagnostics.iter().any(|d| d.is_error());
            diagnostics.extend(parse.diagnostics);
            if !has_err {
                last_good.insert(path.clone(), text);
                artifacts.push(parse.tree);
            } else if let Some(old) = last_good.get(path) {
                // keep serving the last good version of this file
                let id = sources.add(format!("{name} (previous version)"), old.clone());
                let p = synaptic_syntax::parse_artifact(id, old);
                artifacts.push(p.tree);
            }
        }
        last_good.retain(|p, _| seen.contains(p));
        drop(last_good);

        let (program, compile_diags) = if artifacts.is_empty() {
            (None, Vec::new())
        } else {
            let (p, d) = synaptic_engine::compile(&artifacts, &CompileOptions::default());
            (p, d)
        };
        let compile_failed = !artifacts.is_empty() && program.is_none();
        diagnostics.extend(compile_diags);
        synaptic_diag::sort(&mut diagnostics);

        let names: Vec<String> = program
            .as_ref()
            .map(|p| p.sequence_names())
            .unwrap_or_default();
        let missing: Vec<String> = if compile_failed {
            Vec::new()
        } else {
            self.required
                .iter()
                .filter(|r| !names.contains(r))
                .cloned()
                .collect()
        };
        let any_error = diagnostics.iter().any(|d| d.is_error());
        let ok = !compile_failed && missing.is_empty() && !(initial && any_error);
        if ok {
            let generation = self.current.load().generation + 1;
            self.current.store(Arc::new(Loaded {
                program: program.map(Arc::new),
                sources: sources.clone(),
                generation,
                names,
            }));
        }
        LoadReport {
            diagnostics,
            sources,
            swapped: ok,
            missing,
        }
    }
}

fn display_path(p: &Path) -> String {
    let s = p.display().to_string();
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}

/// Log a reload's outcome.
pub fn log_report(report: &LoadReport, generation: u64) {
    for line in report.render() {
        if line.contains(": error[") {
            tracing::error!(target: "synaptic::reload", "{line}");
        } else {
            tracing::warn!(target: "synaptic::reload", "{line}");
        }
    }
    for m in &report.missing {
        tracing::error!(
            target: "synaptic::reload",
            "sequence {m:?} used by the configuration is missing; keeping the previous program"
        );
    }
    if report.swapped {
        tracing::info!(target: "synaptic::reload", generation, "sequences loaded");
    } else {
        tracing::error!(
            target: "synaptic::reload",
            "sequences not reloaded: the previous program keeps serving"
        );
    }
}

/// Watch the folder and reload on changes (debounced), until the returned handle is dropped.
/// Uses the platform watcher, or polling when it cannot be created.
pub fn watch(store: Arc<ProgramStore>) -> WatchHandle {
    use notify::Watcher as _;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let dir = store.dir().to_path_buf();
    let handler = {
        let tx = tx.clone();
        move |res: notify::Result<notify::Event>| {
            if let Ok(ev) = res {
                if !matches!(ev.kind, notify::EventKind::Access(_)) {
                    let _ = tx.send(());
                }
            }
        }
    };
    let watcher: Option<Box<dyn notify::Watcher + Send>> = if !dir.is_dir() {
        tracing::info!(target: "synaptic::reload", dir = %dir.display(), "sequences folder does not exist yet; polling for it");
        None
    } else {
        match notify::recommended_watcher(handler.clone()) {
            Ok(mut w) => match w.watch(&dir, notify::RecursiveMode::Recursive) {
                Ok(()) => Some(Box::new(w)),
                Err(e) => {
                    tracing::warn!(target: "synaptic::reload", error = %e, "file watcher failed; polling");
                    None
                }
            },
            Err(e) => {
                tracing::warn!(target: "synaptic::reload", error = %e, "file watcher unavailable; polling");
                None
            }
        }
    };
    let watcher = match watcher {
        Some(w) => Some(w),
        None if !dir.is_dir() => None,
        None => {
            let cfg = notify::Config::default()
                .with_poll_interval(Duration::from_millis(500))
                .with_compare_contents(true);
            match notify::PollWatcher::new(handler, cfg) {
                Ok(mut w) => match w.watch(&dir, notify::RecursiveMode::Recursive) {
                    Ok(()) => Some(Box::new(w) as Box<dyn notify::Watcher + Send>),
                    Err(e) => {
                        tracing::warn!(target: "synaptic::reload", error = %e, "cannot watch the sequences folder");
                        None
                    }
                },
                Err(_) => None,
            }
        }
    };
    // a light fingerprint poll as a safety net (folder created later, missed events)
    let poll_tx = tx.clone();
    let poll_dir = dir.clone();
    let poller = tokio::spawn(async move {
        let mut last = fingerprint(&poll_dir);
        loop {
            tokio::time::sleep(Duration::from_millis(1000)).await;
            let d = poll_dir.clone();
            let now = tokio::task::spawn_blocking(move || fingerprint(&d))
                .await
                .unwrap_or_default();
            if now != last {
                last = now;
                let _ = poll_tx.send(());
            }
        }
    });
    let task = tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // debounce: editors write in several steps
            tokio::time::sleep(Duration::from_millis(150)).await;
            while rx.try_recv().is_ok() {}
            let s = store.clone();
            let report = tokio::task::spawn_blocking(move || {
                let r = s.reload();
                (r, s.current().generation)
            })
            .await;
            if let Ok((report, generation)) = report {
                log_report(&report, generation);
            }
        }
    });
    WatchHandle {
        _watcher: watcher,
        tasks: vec![task, poller],
    }
}

/// (path, modified time, length) of every sequence file.
fn fingerprint(dir: &Path) -> Vec<(PathBuf, Option<std::time::SystemTime>, u64)> {
    sequence_files(dir)
        .into_iter()
        .map(|p| {
            let m = std::fs::metadata(&p).ok();
            let t = m.as_ref().and_then(|m| m.modified().ok());
            let l = m.map(|m| m.len()).unwrap_or(0);
            (p, t, l)
        })
        .collect()
}

/// Keeps the watcher alive; stops it when dropped.
pub struct WatchHandle {
    _watcher: Option<Box<dyn notify::Watcher + Send>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for WatchHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchHandle").finish_non_exhaustive()
    }
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
