//! The registry: a key/value store of resources under `conf:/`, `gov:/` and `local:/`, with
//! `path@prop` resource properties.
//!
//! `FileRegistry` keeps each space under one root folder, writes atomically (temp file, fsync,
//! rename) and serves reads from an in-memory cache, so the steady state does no disk I/O.
//!
//! Key rules ([`Key::parse`]): `local:`, `conf:` and `gov:` pick the space, anything else is the
//! governance space (as in Micro Integrator). Leading `/`s, empty segments and `.` segments are
//! dropped; a `/` right before `@` is ignored. `..`, NUL, `\`, and the reserved segment `.meta`
//! are refused, so no key can name a file outside its space folder.

mod file;
mod memory;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use file::FileRegistry;
pub use memory::MemoryRegistry;

use async_trait::async_trait;

/// Which registry space a key names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Space {
    Local,
    Conf,
    Gov,
}

impl Space {
    /// The folder of this space under a [`FileRegistry`] root.
    pub fn dir_name(self) -> &'static str {
        match self {
            Space::Local => "local",
            Space::Conf => "conf",
            Space::Gov => "gov",
        }
    }
}

/// A parsed key: `local:/a/b@prop` → (Local, "a/b", Some("prop")).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub space: Space,
    /// Normalized: segments joined by `/`, no leading or trailing `/`, never empty.
    pub path: String,
    pub prop: Option<String>,
}

impl Key {
    /// Keys without a known prefix go to the governance space (as in Micro Integrator).
    /// The file holding this key's content in a file registry rooted at `root` (what
    /// [`FileRegistry`] reads), for a reader that only needs the one document.
    pub fn content_path_in(&self, root: &std::path::Path) -> std::path::PathBuf {
        file::content_file(root, self.space, &self.path)
    }

    pub fn parse(key: &str) -> Result<Key, RegistryError> {
        let invalid = |reason: &'static str| RegistryError::InvalidKey {
            key: key.to_string(),
            reason,
        };
        if key.contains('\0') {
            return Err(invalid("contains NUL"));
        }
        let (space, rest) = if let Some(r) = key.strip_prefix("local:") {
            (Space::Local, r)
        } else if let Some(r) = key.strip_prefix("conf:") {
            (Space::Conf, r)
        } else if let Some(r) = key.strip_prefix("gov:") {
            (Space::Gov, r)
        } else {
            (Space::Gov, key)
        };
        // `path@prop`: the last `@` whose suffix is a plain name.
        let (path, prop) = match rest.rfind('@') {
            Some(i) if !rest[i + 1..].contains('/') => {
                let prop = &rest[i + 1..];
                if prop.is_empty() {
                    return Err(invalid("empty property name after `@`"));
                }
                (&rest[..i], Some(prop.to_string()))
            }
            _ => (rest, None),
        };
        if path.contains('\\') {
            return Err(invalid("contains a backslash"));
        }
        let mut segments = Vec::new();
        for seg in path.split('/') {
            match seg {
                "" | "." => {}
                ".." => return Err(invalid("`..` would leave the registry root")),
                ".meta" => return Err(invalid("`.meta` is reserved for resource properties")),
                s if s.starts_with(".~tmp") => {
                    return Err(invalid("`.~tmp` names are reserved for atomic writes"))
                }
                s => segments.push(s),
            }
        }
        if segments.is_empty() {
            return Err(invalid("names no resource (empty path)"));
        }
        Ok(Key {
            space,
            path: segments.join("/"),
            prop,
        })
    }

    /// The same resource without the property part.
    pub fn resource(&self) -> Key {
        Key {
            prop: None,
            ..self.clone()
        }
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let prefix = match self.space {
            Space::Local => "local",
            Space::Conf => "conf",
            Space::Gov => "gov",
        };
        write!(f, "{prefix}:/{}", self.path)?;
        if let Some(p) = &self.prop {
            write!(f, "@{p}")?;
        }
        Ok(())
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
    #[error("corrupt registry data in {path}: {reason}")]
    Corrupt { path: String, reason: String },
}

#[async_trait]
pub trait Registry: Send + Sync + std::fmt::Debug {
    /// The content (or `@prop` property) of a resource; `None` when missing. Content is
    /// returned exactly as stored (a reader that wants Synapse's text semantics trims one
    /// trailing newline itself).
    async fn get(&self, key: &str) -> Result<Option<String>, RegistryError>;
    /// What [`Registry::get`] would give when it needs no I/O (the resource is held in memory);
    /// `None` when the caller has to wait for `get`. The default: always `None`.
    fn get_now(&self, _key: &str) -> Option<Result<Option<String>, RegistryError>> {
        None
    }
    /// Write a resource's content (or property). Atomic. Writing a property leaves the content
    /// as it is (Micro Integrator empties it; see docs/COMPATIBILITY.md).
    async fn put(&self, key: &str, value: &str) -> Result<(), RegistryError>;
    /// Remove a resource (content and properties) or one `@prop` property. Missing is fine.
    async fn delete(&self, key: &str) -> Result<(), RegistryError>;
}

#[cfg(test)]
mod tests;
