//! The synaptic gateway for end-to-end tests: a temporary folder with a `synaptic.toml` and
//! its files (sequences, registry entries, certificates), and (once the gateway's in-process
//! entry point exists) the gateway started on `127.0.0.1:0` inside the test process.

use std::path::{Path, PathBuf};

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
