//! The file-backed registry.
//!
//! Layout under the root folder:
//!
//! ```text
//! <root>/local/<path>                                  content of local:/<path>
//! <root>/conf/<path>, <root>/gov/<path>                the other spaces, kept apart
//! <root>/<space>/<dir>/.meta/<name>.properties.json    properties of <dir>/<name> (JSON object)
//! ```
//!
//! Writes are atomic: a temp file `.~tmp…` in the target's folder is written, fsynced, renamed
//! over the target, and the folder is fsynced; a crash leaves the old value or the new one, never
//! a mix. Writes are serialized and update the cache after they reach the disk.
//!
//! Reads go through an in-memory cache of whole resources (content and properties), missing
//! ones included: after the first read of a key the process never touches the disk for it again.
//! Changes made to the folder behind the registry's back are therefore not seen until
//! [`FileRegistry::clear_cache`] (or a restart): the registry assumes it is the only writer.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;

use crate::memory::Resource;
use crate::{Key, Registry, RegistryError, Space};

const META_DIR: &str = ".meta";
const PROPS_SUFFIX: &str = ".properties.json";

#[derive(Debug)]
pub struct FileRegistry {
    inner: Arc<Inner>,
    /// Serializes writes so the cache always matches what reached the disk last.
    write_lock: tokio::sync::Mutex<()>,
}

type Fast = foldhash::fast::RandomState;

/// Keys parsed before, by their text: sequences read the same few keys on every message, and
/// parsing one (prefix, property, segments) cost more than the cached read itself. Bounded:
/// keys may come from messages, so the memo is emptied when it reaches [`PARSED_MAX`].
type Parsed = HashMap<Box<str>, Arc<ParsedKey>, Fast>;

/// A parsed key as the cache looks it up: the resource's id and the property asked for.
#[derive(Debug)]
struct ParsedKey {
    id: (Space, String),
    prop: Option<String>,
}
const PARSED_MAX: usize = 1024;

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    cache: RwLock<HashMap<(Space, String), Resource, Fast>>,
    parsed: RwLock<Parsed>,
    tmp_counter: AtomicU64,
    /// Disk reads done (cache misses), for tests and metrics.
    disk_reads: AtomicU64,
}

impl FileRegistry {
    /// Open (and create if needed) a registry rooted at `root`, with one folder per space.
    pub fn open(root: impl Into<PathBuf>) -> Result<FileRegistry, RegistryError> {
        let root = root.into();
        for space in [Space::Local, Space::Conf, Space::Gov] {
            let dir = root.join(space.dir_name());
            std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        }
        Ok(FileRegistry {
            inner: Arc::new(Inner {
                root,
                cache: RwLock::new(HashMap::default()),
                parsed: RwLock::new(Parsed::default()),
                tmp_counter: AtomicU64::new(0),
                disk_reads: AtomicU64::new(0),
            }),
            write_lock: tokio::sync::Mutex::new(()),
        })
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// [`Key::parse`], remembered (see [`Parsed`]); a key that does not parse is not kept.
    fn parse_key(&self, key: &str) -> Result<Arc<ParsedKey>, RegistryError> {
        if let Some(k) = self
            .inner
            .parsed
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
        {
            return Ok(k.clone());
        }
        let Key { space, path, prop } = Key::parse(key)?;
        let k = Arc::new(ParsedKey {
            id: (space, path),
            prop,
        });
        let mut parsed = self.inner.parsed.write().unwrap_or_else(|e| e.into_inner());
        if parsed.len() >= PARSED_MAX {
            parsed.clear();
        }
        parsed.insert(key.into(), k.clone());
        Ok(k)
    }

    /// Keys remembered as parsed (tests).
    #[cfg(test)]
    pub(crate) fn parsed_keys(&self) -> usize {
        self.inner
            .parsed
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Forget every cached value (e.g. after the folder was edited by hand).
    pub fn clear_cache(&self) {
        self.inner
            .cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// How many resources were loaded from disk so far (cache misses).
    pub fn disk_reads(&self) -> u64 {
        self.inner.disk_reads.load(Ordering::Relaxed)
    }

    /// The file holding a key's content.
    pub fn content_path(&self, key: &Key) -> PathBuf {
        self.inner.content_path(key.space, &key.path)
    }

    /// The sidecar file holding a key's properties.
    pub fn properties_path(&self, key: &Key) -> PathBuf {
        self.inner.props_path(key.space, &key.path)
    }

    fn cached(&self, id: &(Space, String)) -> Option<Resource> {
        self.inner
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    /// The resource, from the cache or (once) from disk.
    async fn load(&self, id: &(Space, String)) -> Result<Resource, RegistryError> {
        if let Some(r) = self.cached(id) {
            return Ok(r);
        }
        let inner = Arc::clone(&self.inner);
        let (space, path) = id.clone();
        let loaded = blocking(move || inner.read_resource(space, &path)).await?;
        let mut cache = self.inner.cache.write().unwrap_or_else(|e| e.into_inner());
        // A write that finished meanwhile has already put the newer value: keep it.
        Ok(cache.entry(id.clone()).or_insert(loaded).clone())
    }

    fn store(&self, id: (Space, String), r: Resource) {
        self.inner
            .cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, r);
    }
}

#[async_trait]
impl Registry for FileRegistry {
    fn get_now(&self, key: &str) -> Option<Result<Option<String>, RegistryError>> {
        let k = match self.parse_key(key) {
            Ok(k) => k,
            Err(e) => return Some(Err(e)),
        };
        // clone only the value asked for
        let cache = self.inner.cache.read().unwrap_or_else(|e| e.into_inner());
        let r = cache.get(&k.id)?;
        Some(Ok(match &k.prop {
            Some(p) => r.props.get(p).cloned(),
            None => r.content.clone(),
        }))
    }

    async fn get(&self, key: &str) -> Result<Option<String>, RegistryError> {
        if let Some(r) = self.get_now(key) {
            return r;
        }
        let k = self.parse_key(key)?;
        let id = &k.id;
        let r = self.load(id).await?;
        Ok(match &k.prop {
            Some(p) => r.props.get(p).cloned(),
            None => r.content,
        })
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), RegistryError> {
        let k = Key::parse(key)?;
        let _guard = self.write_lock.lock().await;
        let id = (k.space, k.path.clone());
        let mut r = self.load(&id).await?;
        let inner = Arc::clone(&self.inner);
        match k.prop {
            None => {
                let path = inner.content_path(k.space, &k.path);
                let bytes = value.as_bytes().to_vec();
                blocking(move || inner.write_atomic(&path, &bytes)).await?;
                r.content = Some(value.to_string());
            }
            Some(p) => {
                r.props.insert(p, value.to_string());
                let path = inner.props_path(k.space, &k.path);
                let bytes = props_json(&r.props);
                blocking(move || inner.write_atomic(&path, &bytes)).await?;
            }
        }
        self.store(id, r);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), RegistryError> {
        let k = Key::parse(key)?;
        let _guard = self.write_lock.lock().await;
        let id = (k.space, k.path.clone());
        let mut r = self.load(&id).await?;
        let inner = Arc::clone(&self.inner);
        match k.prop {
            None => {
                let content = inner.content_path(k.space, &k.path);
                let props = inner.props_path(k.space, &k.path);
                blocking(move || {
                    remove_if_exists(&content)?;
                    remove_if_exists(&props)?;
                    sync_parent(&content)
                })
                .await?;
                r = Resource::default();
            }
            Some(p) => {
                if r.props.remove(&p).is_none() {
                    return Ok(());
                }
                let path = inner.props_path(k.space, &k.path);
                if r.props.is_empty() {
                    blocking(move || {
                        remove_if_exists(&path)?;
                        sync_parent(&path)
                    })
                    .await?;
                } else {
                    let bytes = props_json(&r.props);
                    blocking(move || inner.write_atomic(&path, &bytes)).await?;
                }
            }
        }
        self.store(id, r);
        Ok(())
    }
}

// === impl Inner: disk access (blocking, run on the blocking pool) ===

impl Inner {
    fn content_path(&self, space: Space, path: &str) -> PathBuf {
        content_file(&self.root, space, path)
    }

    fn props_path(&self, space: Space, path: &str) -> PathBuf {
        let (dir, name) = match path.rsplit_once('/') {
            Some((d, n)) => (Some(d), n),
            None => (None, path),
        };
        let mut p = self.root.join(space.dir_name());
        if let Some(d) = dir {
            p.extend(d.split('/'));
        }
        p.push(META_DIR);
        p.push(format!("{name}{PROPS_SUFFIX}"));
        p
    }

    fn read_resource(&self, space: Space, path: &str) -> Result<Resource, RegistryError> {
        self.disk_reads.fetch_add(1, Ordering::Relaxed);
        let content_path = self.content_path(space, path);
        let content = read_text(&content_path)?;
        let props_path = self.props_path(space, path);
        let props = match read_text(&props_path)? {
            None => BTreeMap::new(),
            Some(text) => parse_props(&text).map_err(|reason| RegistryError::Corrupt {
                path: props_path.display().to_string(),
                reason,
            })?,
        };
        Ok(Resource { content, props })
    }

    /// Temp file in the same folder, write, fsync, rename over the target, fsync the folder.
    fn write_atomic(&self, target: &Path, bytes: &[u8]) -> Result<(), RegistryError> {
        let dir = target
            .parent()
            .ok_or_else(|| io_err(target, std::io::Error::other("no parent folder")))?;
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".~tmp.{}.{n}.{name}", std::process::id()));
        let result = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map_err(|e| io_err(&tmp, e))?;
            f.write_all(bytes).map_err(|e| io_err(&tmp, e))?;
            f.sync_all().map_err(|e| io_err(&tmp, e))?;
            drop(f);
            std::fs::rename(&tmp, target).map_err(|e| io_err(target, e))?;
            sync_dir(dir)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

fn read_text(path: &Path) -> Result<Option<String>, RegistryError> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| RegistryError::Corrupt {
                path: path.display().to_string(),
                reason: "not UTF-8 text".into(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        // a collection (folder) has no content; a file where a folder is expected neither
        Err(e)
            if e.kind() == std::io::ErrorKind::IsADirectory
                || e.kind() == std::io::ErrorKind::NotADirectory =>
        {
            Ok(None)
        }
        Err(e) => Err(io_err(path, e)),
    }
}

fn remove_if_exists(path: &Path) -> Result<(), RegistryError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                || e.kind() == std::io::ErrorKind::NotADirectory =>
        {
            Ok(())
        }
        Err(e) => Err(io_err(path, e)),
    }
}

fn sync_parent(path: &Path) -> Result<(), RegistryError> {
    match path.parent() {
        Some(dir) if dir.exists() => sync_dir(dir),
        _ => Ok(()),
    }
}

fn sync_dir(dir: &Path) -> Result<(), RegistryError> {
    let f = std::fs::File::open(dir).map_err(|e| io_err(dir, e))?;
    f.sync_all().map_err(|e| io_err(dir, e))
}

fn props_json(props: &BTreeMap<String, String>) -> Vec<u8> {
    let map: serde_json::Map<String, serde_json::Value> = props
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let mut out = serde_json::to_vec_pretty(&serde_json::Value::Object(map)).unwrap_or_default();
    out.push(b'\n');
    out
}

fn parse_props(text: &str) -> Result<BTreeMap<String, String>, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let serde_json::Value::Object(map) = v else {
        return Err("expected a JSON object of strings".into());
    };
    map.into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k, s)),
            other => Ok((k, other.to_string())),
        })
        .collect()
}

fn io_err(path: &Path, source: std::io::Error) -> RegistryError {
    RegistryError::Io {
        path: path.display().to_string(),
        source,
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RegistryError> + Send + 'static,
) -> Result<T, RegistryError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(RegistryError::Io {
            path: "<blocking task>".into(),
            source: std::io::Error::other(e.to_string()),
        }),
    }
}

/// The file under a file registry's `root` that holds the content of `path` in `space` (the
/// one layout rule: `<root>/<space dir>/<path segments>`).
pub(crate) fn content_file(root: &Path, space: Space, path: &str) -> PathBuf {
    let mut p = root.join(space.dir_name());
    p.extend(path.split('/'));
    p
}
