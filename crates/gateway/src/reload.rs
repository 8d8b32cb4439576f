//! Hot reload: the sequences folder into one [`Program`], and `synaptic.toml` with it into a
//! new [`Plan`](crate::plan::Plan).
//!
//! Every change (a sequence file added, changed or removed; `synaptic.toml` changed; `SIGHUP`)
//! re-reads the configuration and the folder, parses every file and compiles all of them; the
//! resulting plan replaces the running one atomically (`ArcSwap`), so requests in flight finish
//! on the plan they started with. A sequence file with errors is not loaded: its last good
//! version (if any) stays in. A configuration with errors, or a set that does not compile, is
//! not swapped in: the previous plan keeps serving. Errors are logged as
//! `file:line:col: error[code]: message`, then `rejected: N errors, still serving generation G`
//! or `reloaded: …`. Settings that only take effect at start (the listen address, the client
//! pool, the authorization server, …) are named in the log when they change.

use crate::config::{self, Config, ConfigError};
use crate::plan::{self, PlanInput};
use crate::server::Gateway;
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use synaptic_diag::{Diagnostic, SourceMap};
use synaptic_engine::{CompileOptions, DeployValues, Program};
use synaptic_syntax::ast::Artifact;

/// One loaded generation of the sequences folder.
#[derive(Debug)]
pub struct Loaded {
    /// `None` when the folder has no sequence files.
    pub program: Option<Arc<Program>>,
    pub sources: SourceMap,
    pub generation: u64,
    /// Sequence names in this program.
    pub names: Vec<String>,
    /// The `<api>` artifacts of the folder, served next to the `[[api]]`s of `synaptic.toml`.
    pub apis: Vec<crate::artifacts::XmlApi>,
}

impl Loaded {
    pub fn has_sequence(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }
    /// Whether `name` runs as a fault sequence ([`synaptic_engine::Program::has_fault_sequence`]).
    pub fn has_fault_sequence(&self, name: &str) -> bool {
        self.has_sequence(name)
            || self
                .program
                .as_deref()
                .is_some_and(|p| p.has_fault_sequence(name))
    }
}

/// The current program, swapped atomically on reload.
#[derive(Debug)]
pub struct ProgramStore {
    current: ArcSwap<Loaded>,
    dir: PathBuf,
    /// Sequence names the configuration needs.
    required: Vec<String>,
    /// Last text of each file that was deployed.
    last_good: Mutex<HashMap<PathBuf, String>>,
    /// Refuse the first load when any file has an error (`serve --strict`).
    strict: bool,
    /// The WSDL files the last load read or looked for, as they were then (watched with the
    /// folder).
    wsdl_files: Mutex<Vec<Fingerprint>>,
    /// What every load reads with: the file registry, this server's name, the bounds of
    /// fetching published WSDLs.
    settings: LoadSettings,
}

/// What every load of the project reads with, fixed when the gateway starts.
#[derive(Clone, Debug, Default)]
pub struct LoadSettings {
    /// The file registry's root (`[server] registry`): a `<publishWSDL key>` naming no local
    /// entry is read there.
    pub registry: Option<PathBuf>,
    /// This server's name (`[server] name`): a proxy pinned to other servers is not
    /// deployed.
    pub server_name: Option<String>,
    /// The bounds of fetching a proxy's published WSDL over `http(s)`; `None`: not fetched.
    pub fetch: Option<crate::wsdl::WsdlFetch>,
}

impl LoadSettings {
    /// What `serve` (and `serve --check`) loads the project of `config` with. `[server]
    /// ca_file` is read here for the fetches' trust; a file that cannot be read is left out
    /// (the gateway's start reports it).
    pub fn of(config: &crate::config::Config) -> LoadSettings {
        let extra_ca_pem = config
            .server
            .ca_file
            .as_ref()
            .and_then(|p| std::fs::read(config.resolve_path(p)).ok());
        LoadSettings {
            registry: Some(config.registry_dir()),
            server_name: Some(config.server_name()),
            fetch: Some(crate::wsdl::WsdlFetch {
                timeout: config.limits.wsdl_fetch_budget(),
                max_bytes: config.limits.wsdl_fetch_max_size,
                extra_ca_pem,
            }),
        }
    }

    /// The WSDL reader of one load of the project in `dir`.
    pub fn wsdl(&self, dir: &Path) -> Arc<crate::wsdl::ProjectWsdl> {
        crate::wsdl::ProjectWsdl::for_load(dir, self.registry.as_deref(), self.fetch.clone())
    }
}

/// What a load produced: the diagnostics (to print) and whether the program was replaced.
#[derive(Debug)]
pub struct LoadReport {
    pub diagnostics: Vec<Diagnostic>,
    pub sources: SourceMap,
    pub swapped: bool,
    /// Sequence names the configuration needs but the new program lacks.
    pub missing: Vec<String>,
    /// Files left out because they do not parse or compile (or depend on one that does not),
    /// with no previous version to keep serving.
    pub undeployed: Vec<String>,
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
    /// Load the folder for the first time. A required sequence missing (or, when `strict`,
    /// any file with an error) is returned in the report with `swapped = false`; otherwise
    /// what compiles is deployed and the rest is named in [`LoadReport::undeployed`].
    pub fn open(
        dir: PathBuf,
        required: Vec<String>,
        strict: bool,
        deploy: DeployValues,
        settings: LoadSettings,
    ) -> (Arc<ProgramStore>, LoadReport) {
        let store = Arc::new(ProgramStore {
            current: ArcSwap::from_pointee(Loaded {
                program: None,
                sources: SourceMap::new(),
                generation: 0,
                names: Vec::new(),
                apis: Vec::new(),
            }),
            dir,
            required,
            last_good: Mutex::new(HashMap::new()),
            strict,
            wsdl_files: Mutex::new(Vec::new()),
            settings,
        });
        let (loaded, report) = store.prepare(&store.required, &deploy, true);
        if let Some(l) = loaded {
            store.commit(l);
        }
        (store, report)
    }

    pub fn current(&self) -> Arc<Loaded> {
        self.current.load_full()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The WSDL files the last load read or looked for (its `<wsdl uri>` documents and the
    /// documents they import), as they were when it read them: a change to one should reload
    /// the project.
    pub(crate) fn wsdl_files(&self) -> Vec<Fingerprint> {
        self.wsdl_files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Swap in a program whose generation is set.
    pub fn install(&self, loaded: Arc<Loaded>) {
        self.current.store(loaded);
    }

    /// Swap in a program [`prepare`](Self::prepare)d earlier; returns it with its generation.
    pub fn commit(&self, mut loaded: Loaded) -> Arc<Loaded> {
        loaded.generation = self.current.load().generation + 1;
        let loaded = Arc::new(loaded);
        self.current.store(loaded.clone());
        loaded
    }

    /// Re-read and compile the folder without swapping anything in, deploying per artifact
    /// file as Micro Integrator does: a file that does not parse or compile (and whatever then
    /// no longer resolves) is left out, its previous version kept when there is one, and named
    /// in [`LoadReport::undeployed`]. `Some` when the result may serve: every sequence in
    /// `required` is there (and, with `strict` on the first load, no file has an error).
    /// `deploy` holds the values of deploy-time parameters (`$SYSTEM:`, `$FILE:`,
    /// `${configs.}`).
    pub fn prepare(
        &self,
        required: &[String],
        deploy: &DeployValues,
        initial: bool,
    ) -> (Option<Loaded>, LoadReport) {
        let files = sequence_files(&self.dir);
        let mut sources = SourceMap::new();
        let mut diagnostics = Vec::new();
        let mut cands: Vec<Candidate> = Vec::new();
        let mut undeployed = Vec::new();
        let mut unavailable: Vec<String> = Vec::new();
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
            if has_err {
                defined_names(&parse.tree, &mut unavailable);
            }
            if !has_err {
                cands.push(Candidate {
                    path: path.clone(),
                    source: id,
                    tree: parse.tree,
                    text: Some(text),
                });
            } else if let Some(c) = previous(&mut sources, path, last_good.get(path)) {
                // keep serving the last good version of this file
                cands.push(c);
            } else {
                undeployed.push(name);
            }
        }
        last_good.retain(|p, _| seen.contains(p));

        // compile; the files with errors are left out (or go back to their previous version)
        // until the rest compiles: each round removes at least one file
        let mut program = None;
        let mut compile_failed = false;
        // the documents of `<wsdl uri=…>` endpoints, read once for every round
        let wsdl = self.settings.wsdl(&self.dir);
        while !cands.is_empty() {
            let trees: Vec<Artifact> = cands.iter().map(|c| c.tree.clone()).collect();
            // what the left-out files define: their referrers are left out too, where a
            // name no file defines is resolved when a message reaches it
            let mut opts = CompileOptions::default();
            opts.unavailable.clone_from(&unavailable);
            opts.deploy = Some(deploy.clone());
            opts.wsdl = Some(wsdl.source());
            opts.server_name.clone_from(&self.settings.server_name);
            let (p, d) = synaptic_engine::compile(&trees, &opts);
            let failing: std::collections::HashSet<synaptic_diag::SourceId> = d
                .iter()
                .filter(|d| d.is_error())
                .map(|d| d.primary_span().source)
                .collect();
            diagnostics.extend(d);
            if p.is_some() {
                program = p;
                break;
            }
            if !cands.iter().any(|c| failing.contains(&c.source)) {
                compile_failed = true;
                break;
            }
            let mut next = Vec::with_capacity(cands.len());
            for c in cands.drain(..) {
                if !failing.contains(&c.source) {
                    next.push(c);
                    continue;
                }
                let prev = last_good
                    .get(&c.path)
                    .filter(|old| Some(*old) != c.text.as_ref());
                match c
                    .text
                    .is_some()
                    .then(|| previous(&mut sources, &c.path, prev))
                    .flatten()
                {
                    Some(p) => next.push(p),
                    None => {
                        defined_names(&c.tree, &mut unavailable);
                        undeployed.push(display_path(&c.path));
                    }
                }
            }
            cands = next;
        }
        for c in &cands {
            if let Some(t) = &c.text {
                last_good.insert(c.path.clone(), t.clone());
            }
        }
        drop(last_good);
        *self.wsdl_files.lock().unwrap_or_else(|e| e.into_inner()) = wsdl.stamps();
        let trees: Vec<Artifact> = cands.into_iter().map(|c| c.tree).collect();
        let (mut apis, api_diags) = crate::artifacts::apis(&trees, &sources);
        crate::artifacts::publish(&mut apis, program.as_ref());
        if let (Some(p), Some(server)) = (&program, &self.settings.server_name) {
            for (proxy, servers) in p.proxies_pinned_elsewhere() {
                tracing::info!(
                    target: "synaptic::reload",
                    proxy = %proxy,
                    server = %server,
                    "proxy service `{proxy}` is pinned to {}: not deployed on this server",
                    servers.join(", ")
                );
            }
        }
        diagnostics.extend(api_diags);
        diagnostics.extend(crate::artifacts::check_unserved(&trees));
        synaptic_diag::sort(&mut diagnostics);
        diagnostics.dedup_by(|a, b| {
            a.code == b.code && a.primary_span() == b.primary_span() && a.message == b.message
        });
        undeployed.sort();
        undeployed.dedup();

        let names: Vec<String> = program
            .as_ref()
            .map(|p| p.sequence_names())
            .unwrap_or_default();
        let missing: Vec<String> = if compile_failed {
            Vec::new()
        } else {
            required
                .iter()
                .filter(|r| !names.contains(r))
                .cloned()
                .collect()
        };
        let any_error = diagnostics.iter().any(|d| d.is_error());
        let ok = !compile_failed && missing.is_empty() && !(initial && self.strict && any_error);
        let loaded = ok.then(|| Loaded {
            program: program.map(Arc::new),
            sources: sources.clone(),
            generation: 0,
            names,
            apis,
        });
        let report = LoadReport {
            diagnostics,
            sources,
            swapped: ok,
            missing,
            undeployed,
        };
        (loaded, report)
    }
}

/// The sequences and templates an artifact defines (for one left out: what its referrers
/// may not resolve to).
fn defined_names(tree: &Artifact, out: &mut Vec<String>) {
    out.extend(tree.sequences.iter().map(|s| s.name.value.clone()));
    out.extend(tree.templates.iter().map(|t| t.name.value.clone()));
}

/// One file's artifact considered for deployment.
struct Candidate {
    path: PathBuf,
    source: synaptic_diag::SourceId,
    tree: Artifact,
    /// The file's current text; `None` for its previous version.
    text: Option<String>,
}

/// The previous version of a file, as a candidate (its diagnostics are not reported again).
fn previous(sources: &mut SourceMap, path: &Path, old: Option<&String>) -> Option<Candidate> {
    let old = old?;
    let id = sources.add(
        format!("{} (previous version)", display_path(path)),
        old.clone(),
    );
    let p = synaptic_syntax::parse_artifact(id, old);
    Some(Candidate {
        path: path.to_path_buf(),
        source: id,
        tree: p.tree,
        text: None,
    })
}

fn display_path(p: &Path) -> String {
    let s = p.display().to_string();
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}

/// Watch the sequences folder (and `files`: the configuration file, the properties file of
/// deploy-time parameters; and the files `more` names when asked, with their fingerprints when
/// they were read: the WSDL files the project reads, wherever they are) and call `changed` after each change (debounced), until the
/// returned handle is dropped. Uses the platform watcher for the folder, or polling when it
/// cannot be created; a light poll of everything runs as a safety net, and is what watches
/// the files outside the folder.
pub fn watch_files(
    dir: PathBuf,
    files: Vec<PathBuf>,
    more: impl Fn() -> Vec<Fingerprint> + Send + Sync + 'static,
    changed: impl Fn() + Send + Sync + 'static,
) -> WatchHandle {
    use notify::Watcher as _;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
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
    // a light fingerprint poll: the configuration file, a folder created later, missed events
    let poll_tx = tx.clone();
    let print = move || {
        let mut f = fingerprint(&dir);
        f.extend(files.iter().cloned().map(file_fingerprint));
        let m: Vec<(Fingerprint, Fingerprint)> = more()
            .into_iter()
            .map(|loaded| (file_fingerprint(loaded.0.clone()), loaded))
            .collect();
        (f, m)
    };
    // The first fingerprint is taken before returning: a change made right after the start is
    // a change, however late the polling task first runs.
    let mut last = print();
    let print = Arc::new(print);
    let poller = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let p = print.clone();
            let now = tokio::task::spawn_blocking(move || p())
                .await
                .unwrap_or_default();
            if now.0 != last.0 || changed_since(&last.1, &now.1) {
                let _ = poll_tx.send(());
            }
            last = now;
        }
    });
    let task = tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // debounce: editors write in several steps
            tokio::time::sleep(Duration::from_millis(150)).await;
            while rx.try_recv().is_ok() {}
            changed();
        }
    });
    WatchHandle {
        _watcher: watcher,
        tasks: vec![task, poller],
    }
}

/// A file's path, modified time and length (`None`, 0: it does not exist).
pub(crate) type Fingerprint = (PathBuf, Option<std::time::SystemTime>, u64);

pub(crate) fn file_fingerprint(p: PathBuf) -> Fingerprint {
    let m = std::fs::metadata(&p).ok();
    let t = m.as_ref().and_then(|m| m.modified().ok());
    let l = m.map(|m| m.len()).unwrap_or(0);
    (p, t, l)
}

/// Whether one of the files `more` lists changed: since the last poll, or, for one the last
/// poll did not list (a reload read a new WSDL), since the load read it.
fn changed_since(last: &[(Fingerprint, Fingerprint)], now: &[(Fingerprint, Fingerprint)]) -> bool {
    let last: HashMap<&PathBuf, &Fingerprint> = last.iter().map(|(f, _)| (&f.0, f)).collect();
    now.iter()
        .any(|(current, loaded)| current != *last.get(&current.0).unwrap_or(&loaded))
}

/// (path, modified time, length) of every sequence file.
fn fingerprint(dir: &Path) -> Vec<Fingerprint> {
    sequence_files(dir)
        .into_iter()
        .map(file_fingerprint)
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

// ===== the plan =====

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// A new plan serves new requests.
    Reloaded { generation: u64 },
    /// Errors: the plan of `generation` keeps serving.
    Rejected { errors: usize, generation: u64 },
}

/// `[server]` settings and sections that take effect only when the gateway starts.
fn restart_only(started: &Config, new: &Config) -> Vec<&'static str> {
    let (a, b) = (&started.server, &new.server);
    let mut out = Vec::new();
    let mut diff = |changed: bool, name: &'static str| {
        if changed {
            out.push(name);
        }
    };
    diff(a.listen != b.listen, "[server] listen");
    diff(a.sequences != b.sequences, "[server] sequences");
    diff(a.registry != b.registry, "[server] registry");
    diff(a.name != b.name, "[server] name");
    diff(a.ca_file != b.ca_file, "[server] ca_file");
    diff(
        a.pool_max_idle_per_host != b.pool_max_idle_per_host,
        "[server] pool_max_idle_per_host",
    );
    diff(
        a.pool_idle_timeout != b.pool_idle_timeout,
        "[server] pool_idle_timeout",
    );
    diff(a.watch != b.watch, "[server] watch");
    diff(
        a.shutdown_grace != b.shutdown_grace,
        "[server] shutdown_grace",
    );
    let (l, m) = (&started.limits, &new.limits);
    diff(
        l.wsdl_fetch_timeout != m.wsdl_fetch_timeout,
        "[limits] wsdl_fetch_timeout",
    );
    diff(
        l.wsdl_fetch_max_size != m.wsdl_fetch_max_size,
        "[limits] wsdl_fetch_max_size",
    );
    out
}

/// The TOML value of a table path in a configuration text (`None` when absent or unparsable).
fn section(text: Option<&str>, path: &[&str]) -> Option<toml::Value> {
    let mut v: toml::Value = toml::from_str::<toml::Table>(text?).ok()?.into();
    for k in path {
        v = v.get(k)?.clone();
    }
    Some(v)
}

/// `api[i].endpoint_security` by API name.
fn endpoint_security_sections(text: Option<&str>) -> HashMap<String, toml::Value> {
    let Some(apis) = section(text, &["api"]) else {
        return HashMap::new();
    };
    let Some(list) = apis.as_array() else {
        return HashMap::new();
    };
    list.iter()
        .filter_map(|a| {
            let name = a.get("name")?.as_str()?.to_string();
            Some((name, a.get("endpoint_security")?.clone()))
        })
        .collect()
}

impl Gateway {
    /// Reload `synaptic.toml` (when the gateway knows its path) and the sequences folder into
    /// a new plan; swap it in when it has no errors. Logs what happened.
    pub async fn reload(&self) -> ReloadOutcome {
        let inner = &*self.inner;
        let _one = inner.reloading.lock().await;
        let current = inner.plan.load_full();
        let generation = current.generation;
        let rejected = |errors: usize| {
            tracing::error!(
                target: "synaptic::reload",
                "rejected: {errors} error(s), still serving generation {generation}"
            );
            ReloadOutcome::Rejected { errors, generation }
        };
        // the configuration
        let (config, text, old_text) = match &inner.config_path {
            None => (current.config.clone(), None, None),
            Some(path) => {
                let p = path.clone();
                let loaded = tokio::task::spawn_blocking(move || config::load(&p)).await;
                match loaded {
                    Ok(Ok(l)) => {
                        log_diagnostics(&l.sources, &l.warnings);
                        let text = l.sources.text(l.source).to_string();
                        let old = current.config_text.clone();
                        (Arc::new(l.config), Some(text), old)
                    }
                    Ok(Err(ConfigError::Invalid {
                        diagnostics,
                        sources,
                    })) => {
                        let errors = log_diagnostics(&sources, &diagnostics);
                        return rejected(errors);
                    }
                    Ok(Err(e @ ConfigError::Io { .. })) => {
                        tracing::error!(target: "synaptic::reload", "{e}");
                        return rejected(1);
                    }
                    Err(e) => {
                        tracing::error!(target: "synaptic::reload", "{e}");
                        return rejected(1);
                    }
                }
            }
        };
        let restart = restart_only(&inner.started, &config);
        for s in &restart {
            tracing::warn!(target: "synaptic::reload", "{s} changed: it takes effect after a restart");
        }
        for s in ["auth_server", "redis", "oauth"] {
            if text.is_some()
                && section(text.as_deref(), &[s]) != section(old_text.as_deref(), &[s])
            {
                tracing::warn!(target: "synaptic::reload", "[{s}] changed: it takes effect after a restart");
            }
        }
        // the sequences
        let required = config::referenced_sequences(&config);
        let store = inner.store.clone();
        let deploy = DeployValues(config.configurables.clone());
        let prepared = tokio::task::spawn_blocking(move || {
            let (l, r) = store.prepare(&required, &deploy, false);
            (l, r)
        })
        .await;
        let Ok((loaded, report)) = prepared else {
            return rejected(1);
        };
        let mut errors = log_diagnostics(&report.sources, &report.diagnostics);
        for file in &report.undeployed {
            tracing::error!(target: "synaptic::reload", "{file}: not deployed (see the errors above)");
        }
        for m in &report.missing {
            tracing::error!(
                target: "synaptic::reload",
                "sequence {m:?} used by the configuration is missing"
            );
            errors += 1;
        }
        let Some(mut loaded) = loaded else {
            return rejected(errors.max(1));
        };
        loaded.generation = inner.store.current().generation + 1;
        let loaded = Arc::new(loaded);
        // endpoint security: an API whose section did not change keeps its handle (and tokens)
        let old_sections = endpoint_security_sections(old_text.as_deref());
        let new_sections = endpoint_security_sections(text.as_deref());
        let mut upstream = Vec::with_capacity(config.api.len());
        for a in &config.api {
            if a.endpoint_security.is_none() {
                upstream.push(None);
                continue;
            }
            let kept = current
                .apis
                .iter()
                .find(|p| *p.name == *a.name)
                .and_then(|p| {
                    let same = text.is_none()
                        || (old_text.is_some()
                            && old_sections.get(&a.name) == new_sections.get(&a.name));
                    same.then(|| p.upstream.clone()).flatten()
                });
            match kept {
                Some(u) => upstream.push(Some(u)),
                None => {
                    let ctx = crate::extensions::BuildContext {
                        metrics: inner.metrics.clone(),
                    };
                    match crate::extensions::build_upstream(a, &config, &ctx).await {
                        Ok(u) => upstream.push(Some(u)),
                        Err(e) => {
                            tracing::error!(target: "synaptic::reload", "{e}");
                            return rejected(errors + 1);
                        }
                    }
                }
            }
        }
        let mut sources = synaptic_diag::SourceMap::new();
        let text_id = match (&text, &inner.config_path) {
            (Some(t), Some(p)) => Some(sources.add(p.display().to_string(), t.clone())),
            _ => None,
        };
        let (new_plan, diags) = plan::compile(PlanInput {
            config: config.clone(),
            text: text_id.zip(text.as_deref()),
            program: loaded.clone(),
            upstream,
            metrics: &inner.metrics,
            generation: generation + 1,
            wire: inner.wire,
        });
        errors += log_diagnostics(&sources, &diags);
        let Some(mut new_plan) = new_plan else {
            return rejected(errors.max(1));
        };
        new_plan.config_text = text.or(old_text);
        inner.store.install(loaded);
        inner.plan.store(Arc::new(new_plan));
        inner.processors_changed.notify_one();
        tracing::info!(
            target: "synaptic::reload",
            "reloaded: generation {}, {} API(s), {} sequence(s){}",
            generation + 1,
            config.api.len(),
            inner.store.current().names.len(),
            if restart.is_empty() { "" } else { "; some changes need a restart (see above)" }
        );
        ReloadOutcome::Reloaded {
            generation: generation + 1,
        }
    }
}

/// Log diagnostics as `file:line:col: severity[code]: message`; returns the number of errors.
fn log_diagnostics(sources: &SourceMap, diags: &[Diagnostic]) -> usize {
    let mut errors = 0;
    for d in diags {
        let line = synaptic_diag::render::short(sources, d);
        if d.is_error() {
            errors += 1;
            tracing::error!(target: "synaptic::reload", "{line}");
        } else {
            tracing::warn!(target: "synaptic::reload", "{line}");
        }
    }
    errors
}

/// Reloads the gateway on file changes (when `watch`) and on `SIGHUP`, until dropped.
#[derive(Debug)]
pub struct Reloader {
    _watch: Option<WatchHandle>,
    /// The reload loop and the signal listener (stopped on drop like the watcher's).
    _tasks: WatchHandle,
}

/// Start reloading `gateway`: on changes of its files when `watch`, and on `SIGHUP`.
pub fn spawn(gateway: Gateway, watch: bool) -> Reloader {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut tasks = Vec::new();
    let handle = watch.then(|| {
        let tx = tx.clone();
        let dir = gateway.inner.store.dir().to_path_buf();
        let config = gateway.config();
        let files = gateway
            .inner
            .config_path
            .iter()
            .cloned()
            .chain(
                config
                    .server
                    .file_properties
                    .as_deref()
                    .map(|f| config.resolve_path(f)),
            )
            .collect();
        let store = gateway.inner.store.clone();
        watch_files(
            dir,
            files,
            move || store.wsdl_files(),
            move || {
                let _ = tx.send(());
            },
        )
    });
    #[cfg(unix)]
    {
        let tx = tx.clone();
        tasks.push(tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(mut hup) = signal(SignalKind::hangup()) else {
                return;
            };
            while hup.recv().await.is_some() {
                tracing::info!(target: "synaptic::reload", "SIGHUP: reloading");
                let _ = tx.send(());
            }
        }));
    }
    drop(tx);
    tasks.push(tokio::spawn(async move {
        while rx.recv().await.is_some() {
            while rx.try_recv().is_ok() {}
            gateway.reload().await;
        }
    }));
    Reloader {
        _watch: handle,
        _tasks: WatchHandle {
            _watcher: None,
            tasks,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn at(path: &str, secs: u64, len: u64) -> Fingerprint {
        (
            PathBuf::from(path),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)),
            len,
        )
    }

    #[test]
    fn a_watched_wsdl_changed_since_the_last_poll_or_since_it_was_read() {
        let a = at("a.wsdl", 1, 10);
        let b_read = at("b.wsdl", 1, 10);
        let last = vec![(a.clone(), a.clone())];
        // nothing changed; a file joining the list as it was read is no change
        assert!(!changed_since(&last, &[(a.clone(), a.clone())]));
        assert!(!changed_since(
            &last,
            &[(a.clone(), a.clone()), (b_read.clone(), b_read.clone())]
        ));
        // one that changed after the load read it, before this poll first saw it
        assert!(changed_since(
            &last,
            &[
                (a.clone(), a.clone()),
                (at("b.wsdl", 2, 10), b_read.clone())
            ]
        ));
        // one changed since the last poll; one that appeared where none was
        assert!(changed_since(&last, &[(at("a.wsdl", 2, 10), a.clone())]));
        let missing = (PathBuf::from("c.wsdl"), None, 0);
        let last = vec![(missing.clone(), missing.clone())];
        assert!(changed_since(&last, &[(at("c.wsdl", 3, 5), missing)]));
        // a file leaving the list is no change
        assert!(!changed_since(&last, &[]));
    }
}
