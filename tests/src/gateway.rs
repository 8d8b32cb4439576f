//! The synaptic gateway for end-to-end tests: a temporary folder with a `synaptic.toml` and
//! its files (sequences, registry entries, certificates) — [`GatewayDir`] — and the gateway
//! started from it on `127.0.0.1:0` inside the test process — [`start_gateway`] /
//! [`TestGateway`].
//!
//! ```no_run
//! # async fn demo() {
//! let gw = synaptic_tests::gateway::start_gateway(
//!     r#"
//! [[api]]
//! name = "Echo"
//! context = "/echo"
//! endpoint = "http://127.0.0.1:9/"
//! "#,
//!     &[("sequences/noop.xml", "<sequence name='noop' xmlns='http://ws.apache.org/ns/synapse'/>")],
//! )
//! .await;
//! let _ = reqwest::get(gw.url("/health")).await;
//! gw.shutdown().await;
//! # }
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use synaptic_gateway::{Running, ServeOptions};

/// Reload the gateway's files now, as a hot reload does, and assert that the reload took (its
/// outcome is `Reloaded`).
pub async fn assert_reloaded(gateway: &synaptic_gateway::Gateway) {
    let outcome = gateway.reload().await;
    assert!(
        matches!(
            outcome,
            synaptic_gateway::reload::ReloadOutcome::Reloaded { .. }
        ),
        "{outcome:?}"
    );
}

/// A temporary gateway home: `synaptic.toml` plus files at relative paths. Removed on drop.
#[derive(Debug)]
pub struct GatewayDir {
    dir: tempfile::TempDir,
}

impl GatewayDir {
    /// Write `config` as `synaptic.toml` and each `(relative path, content)` of `files`
    /// (folders are created) into a fresh temporary folder.
    pub fn new(config: &str, files: &[(&str, &str)]) -> GatewayDir {
        let dir = tempfile::Builder::new()
            .prefix("synaptic-gw-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
        let this = GatewayDir { dir };
        this.write("synaptic.toml", config);
        for (path, content) in files {
            this.write(path, content);
        }
        this
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `<folder>/synaptic.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("synaptic.toml")
    }

    /// Write (or overwrite) a file at a relative path, creating folders. For hot-reload tests
    /// the write is atomic (temp file + rename), as an editor or deploy tool would do it.
    pub fn write(&self, rel: &str, content: &str) {
        let path = self.resolve(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", parent.display()));
        }
        let tmp = path.with_extension("synaptic-tmp");
        std::fs::write(&tmp, content)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", tmp.display()));
        std::fs::rename(&tmp, &path)
            .unwrap_or_else(|e| panic!("cannot rename onto {}: {e}", path.display()));
    }

    /// Remove a file at a relative path.
    pub fn remove(&self, rel: &str) {
        let path = self.resolve(rel);
        std::fs::remove_file(&path)
            .unwrap_or_else(|e| panic!("cannot remove {}: {e}", path.display()));
    }

    fn resolve(&self, rel: &str) -> PathBuf {
        assert!(
            !rel.starts_with('/') && !rel.split('/').any(|c| c == ".."),
            "GatewayDir paths are relative and stay inside the folder: {rel:?}"
        );
        self.dir.path().join(rel)
    }
}

/// A gateway running in this test process, with its folder.
#[derive(Debug)]
pub struct TestGateway {
    dir: GatewayDir,
    running: Running,
}

/// Write `config` (a `synaptic.toml`; `[server] listen` is ignored, the gateway listens on
/// `127.0.0.1:0`) and `files` into a temporary folder and start the gateway there. Panics with
/// the rendered diagnostics if the configuration or a sequence does not load.
pub async fn start_gateway(config: &str, files: &[(&str, &str)]) -> TestGateway {
    TestGateway::start(GatewayDir::new(config, files), ServeOptions::default()).await
}

/// Start the gateway of a folder the caller keeps (`listen`, and `listen_tls` unless `opts`
/// names one, are forced to `127.0.0.1:0`);
/// panics with the rendered diagnostics if the configuration or a sequence does not load.
pub async fn start_running(dir: &GatewayDir, opts: ServeOptions) -> Running {
    start_reporting(dir, opts).await.0
}

/// [`start_running`], with the load report's diagnostics rendered (`path:line:col: …`): the
/// artifacts that were not deployed, the warnings.
pub async fn start_reporting(dir: &GatewayDir, mut opts: ServeOptions) -> (Running, Vec<String>) {
    let loaded = match synaptic_gateway::load(&dir.config_path()) {
        Ok(l) => l,
        Err(synaptic_gateway::config::ConfigError::Invalid {
            diagnostics,
            sources,
        }) => {
            let text: Vec<String> = diagnostics
                .iter()
                .map(|d| synaptic_diag::render::short(&sources, d))
                .collect();
            panic!("synaptic.toml does not load:\n{}", text.join("\n"))
        }
        Err(e) => panic!("synaptic.toml does not load: {e}"),
    };
    opts.listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    // used only when the configuration has an HTTPS listener
    opts.listen_tls
        .get_or_insert(SocketAddr::from(([127, 0, 0, 1], 0)));
    match synaptic_gateway::start(loaded.config, opts).await {
        Ok((running, report)) => (running, report.render()),
        Err(synaptic_gateway::StartError::Sequences(report)) => panic!(
            "sequences do not load:\n{}\nmissing: {:?}",
            report.render().join("\n"),
            report.missing
        ),
        Err(e) => panic!("the gateway does not start: {e}"),
    }
}

impl TestGateway {
    /// Start the gateway from an existing folder with these options (`listen` is forced to
    /// `127.0.0.1:0`).
    pub async fn start(dir: GatewayDir, opts: ServeOptions) -> TestGateway {
        let running = start_running(&dir, opts).await;
        TestGateway { dir, running }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.running.addr()
    }

    /// The HTTPS listener's address, when the configuration has one.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.running.tls_addr()
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.running.addr())
    }

    /// Its folder (to change sequences for hot-reload tests).
    pub fn dir(&self) -> &GatewayDir {
        &self.dir
    }

    /// The running gateway (metrics, program store, configuration).
    pub fn gateway(&self) -> &synaptic_gateway::Gateway {
        self.running.gateway()
    }

    /// Graceful shutdown: stop accepting, let requests in flight finish. Returns the folder,
    /// so a test can start a new gateway on the same state (restart tests).
    pub async fn shutdown(self) -> GatewayDir {
        self.running.shutdown().await;
        self.dir
    }
}
