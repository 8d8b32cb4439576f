//! The registry: a key/value store of resources under `conf:/`, `gov:/` and `local:/`, with
//! `path@prop` resource properties.
//!
//! `FileRegistry` keeps each space under one root folder, writes atomically (temp file, fsync,
//! rename) and serves reads from an in-memory cache, so the steady state does no disk I/O.

use async_trait::async_trait;

/// Which registry space a key names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Space {
    Local,
    Conf,
    Gov,
}

/// A parsed key: `local:/a/b@prop` → (Local, "a/b", Some("prop")).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub space: Space,
    pub path: String,
    pub prop: Option<String>,
}

impl Key {
    /// Keys without a known prefix go to the governance space (as in Micro Integrator).
    pub fn parse(key: &str) -> Result<Key, RegistryError> {
        let _ = key;
        unimplemented!()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("invalid registry key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },
    #[error("registry i/o error on {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

#[async_trait]
pub trait Registry: Send + Sync + std::fmt::Debug {
    /// The content (or `@prop` property) of a resource; `None` when missing.
    async fn get(&self, key: &str) -> Result<Option<String>, RegistryError>;
    /// Write a resource's content (or property). Atomic.
    async fn put(&self, key: &str, value: &str) -> Result<(), RegistryError>;
    async fn delete(&self, key: &str) -> Result<(), RegistryError>;
}
