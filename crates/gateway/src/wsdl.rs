//! The documents of `<wsdl uri=…>` endpoints and the documents they import, read for
//! `engine::compile` when the project is loaded (the engine does no I/O): a `file:` URL, or a
//! path relative to the project folder (an import: relative to the document that imports it).
//! An `http(s)` WSDL is not fetched (docs/adr/0501-wsdl-endpoints-resolved-at-load.md): the
//! endpoint is an error that says to keep the document in the project.

use crate::reload::{file_fingerprint, Fingerprint};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use synaptic_engine::{WsdlReader, WsdlSource, WsdlText};

/// A WSDL larger than this is refused (a service description, not a data set).
pub const MAX_WSDL_BYTES: u64 = 4 * 1024 * 1024;

/// The WSDL files of one load of a project: each read once, however many endpoints and
/// compile rounds name it, and every file asked for remembered (for the reloader to watch).
#[derive(Debug)]
pub struct ProjectWsdl {
    base: PathBuf,
    /// The root of the file registry (`[server] registry`) a `<publishWSDL key>` naming no
    /// local entry is read from; `None` (lint, `synaptic run`): such a key is not checked.
    registry: Option<PathBuf>,
    /// By path as named.
    read: Mutex<HashMap<PathBuf, Read>>,
}

/// What reading a file gave, and the file as it was just before.
type Read = (Result<WsdlText, String>, Fingerprint);

impl ProjectWsdl {
    /// Reads relative to `base` (the project folder).
    pub fn new(base: &Path) -> Arc<ProjectWsdl> {
        Arc::new(ProjectWsdl {
            base: base.to_path_buf(),
            registry: None,
            read: Mutex::new(HashMap::new()),
        })
    }

    /// Reads relative to `base`, and registry resources from the file registry at `registry`.
    pub fn with_registry(base: &Path, registry: &Path) -> Arc<ProjectWsdl> {
        Arc::new(ProjectWsdl {
            base: base.to_path_buf(),
            registry: Some(registry.to_path_buf()),
            read: Mutex::new(HashMap::new()),
        })
    }

    /// For `engine::CompileOptions::wsdl`.
    pub fn source(self: &Arc<Self>) -> WsdlSource {
        WsdlSource(self.clone())
    }

    /// Every file a `uri` or an import named, read or not (one that does not exist yet is
    /// watched too).
    pub fn files(&self) -> Vec<PathBuf> {
        self.stamps().into_iter().map(|f| f.0).collect()
    }

    /// [`files`](Self::files) as they were when they were read.
    pub(crate) fn stamps(&self) -> Vec<Fingerprint> {
        let read = self.read.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<Fingerprint> = read.values().map(|(_, f)| f.clone()).collect();
        out.sort();
        out
    }
}

impl WsdlReader for ProjectWsdl {
    fn read(&self, location: &str, from: Option<&str>) -> Result<WsdlText, String> {
        let location = location.trim();
        let (base, what) = match from {
            None => (self.base.clone(), "uri"),
            Some(doc) => (
                Path::new(doc)
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| self.base.clone()),
                "the import's location",
            ),
        };
        let path = path_of(location, &base, what)?;
        let mut cache = self.read.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry(path.clone())
            .or_insert_with(|| {
                let stamp = file_fingerprint(path.clone());
                let text = read(&path).map(|text| {
                    // the id tells a document from another whatever the path that names it
                    let id = std::fs::canonicalize(&path).unwrap_or(path.clone());
                    WsdlText {
                        id: id.to_string_lossy().into_owned(),
                        text: Arc::from(text),
                    }
                });
                (text, stamp)
            })
            .0
            .clone()
    }

    fn registry(&self, key: &str) -> Result<Option<WsdlText>, String> {
        let Some(root) = &self.registry else {
            return Ok(None);
        };
        let k = synaptic_registry::Key::parse(key).map_err(|e| e.to_string())?;
        if k.prop.is_some() {
            return Err(format!("`{key}` names a resource property, not a document"));
        }
        let path = k.content_path_in(root);
        let mut cache = self.read.lock().unwrap_or_else(|e| e.into_inner());
        let (text, _) = cache.entry(path.clone()).or_insert_with(|| {
            let stamp = file_fingerprint(path.clone());
            let text = read(&path).map(|text| WsdlText {
                id: path.to_string_lossy().into_owned(),
                text: Arc::from(text),
            });
            (text, stamp)
        });
        match text {
            Ok(t) => Ok(Some(t.clone())),
            Err(_) if !path.exists() => Err("not in the registry".to_string()),
            Err(why) => Err(why.clone()),
        }
    }
}

/// The file a `uri` (or an import's location) names: `file:/abs`, `file:///abs`, `file:rel`
/// (relative to `base`, as Synapse reads `file:` URLs relative to its home and Java resolves
/// an import's `file:` location against the importing document), or a plain path.
fn path_of(uri: &str, base: &Path, what: &str) -> Result<PathBuf, String> {
    if let Some(rest) = uri.strip_prefix("file:") {
        if rest.starts_with('/') {
            return url::Url::parse(uri)
                .ok()
                .and_then(|u| u.to_file_path().ok())
                .ok_or_else(|| format!("`{uri}` is not a file URL"));
        }
        return Ok(base.join(rest));
    }
    match uri.split_once(':') {
        // a scheme (not a Windows drive letter)
        Some((scheme, _))
            if scheme.len() > 1
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
                Err(format!(
                    "the WSDL `{uri}` is not fetched over {}: save it in the project and point \
                     {what} at the file (a file: URL or a relative path)",
                    scheme.to_ascii_lowercase()
                ))
            } else {
                Err(format!(
                    "the WSDL `{uri}` is not a file: only file: URLs and relative paths are read"
                ))
            }
        }
        _ => Ok(base.join(uri)),
    }
}

fn read(path: &Path) -> Result<String, String> {
    use std::io::Read as _;
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read the WSDL {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("the WSDL {shown} is not a file"));
    }
    if meta.len() > MAX_WSDL_BYTES {
        return Err(format!(
            "the WSDL {shown} is larger than {} MiB",
            MAX_WSDL_BYTES / (1024 * 1024)
        ));
    }
    // at most one byte more than allowed, should the file have grown since
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_WSDL_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read the WSDL {shown}: {e}"))?;
    if bytes.len() as u64 > MAX_WSDL_BYTES {
        return Err(format!(
            "the WSDL {shown} is larger than {} MiB",
            MAX_WSDL_BYTES / (1024 * 1024)
        ));
    }
    String::from_utf8(bytes).map_err(|_| format!("the WSDL {shown} is not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_and_relative_paths_are_read_http_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("wsdl")).unwrap();
        std::fs::write(dir.path().join("wsdl/a.wsdl"), "<a/>").unwrap();
        let abs = dir.path().join("wsdl/a.wsdl");
        let files = ProjectWsdl::new(dir.path());
        let text = |r: Result<WsdlText, String>| r.map(|t| t.text.to_string());
        assert_eq!(text(files.read("wsdl/a.wsdl", None)).unwrap(), "<a/>");
        assert_eq!(text(files.read("file:wsdl/a.wsdl", None)).unwrap(), "<a/>");
        let url = url::Url::from_file_path(&abs).unwrap().to_string();
        let elsewhere = ProjectWsdl::new(Path::new("/nowhere"));
        assert_eq!(text(elsewhere.read(&url, None)).unwrap(), "<a/>");
        // the same document by two names is one document
        assert_eq!(
            files.read("wsdl/a.wsdl", None).unwrap().id,
            files.read("./wsdl/../wsdl/a.wsdl", None).unwrap().id
        );
        let e = files.read("http://127.0.0.1:1/a?wsdl", None).unwrap_err();
        assert!(e.contains("not fetched over http"), "{e}");
        let e = files.read("gov:/wsdl/a.wsdl", None).unwrap_err();
        assert!(e.contains("only file: URLs"), "{e}");
        let e = files.read("wsdl/missing.wsdl", None).unwrap_err();
        assert!(e.contains("cannot read the WSDL"), "{e}");
        let e = files.read("wsdl", None).unwrap_err();
        assert!(e.contains("is not a file"), "{e}");
        // every file asked for, read or not, is there to watch
        let asked = files.files();
        assert!(
            asked.contains(&dir.path().join("wsdl/missing.wsdl")),
            "{asked:?}"
        );
        assert!(asked.contains(&dir.path().join("wsdl/a.wsdl")), "{asked:?}");
    }

    #[test]
    fn an_import_is_read_relative_to_the_document_that_imports_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("wsdl/parts")).unwrap();
        std::fs::write(dir.path().join("wsdl/main.wsdl"), "<main/>").unwrap();
        std::fs::write(dir.path().join("wsdl/parts/b.wsdl"), "<b/>").unwrap();
        std::fs::write(dir.path().join("wsdl/c.wsdl"), "<c/>").unwrap();
        let files = ProjectWsdl::new(dir.path());
        let main = files.read("wsdl/main.wsdl", None).unwrap();
        let b = files.read("parts/b.wsdl", Some(&main.id)).unwrap();
        assert_eq!(&*b.text, "<b/>");
        assert_eq!(&*files.read("../c.wsdl", Some(&b.id)).unwrap().text, "<c/>");
        assert_eq!(
            &*files.read("file:../c.wsdl", Some(&b.id)).unwrap().text,
            "<c/>"
        );
        let e = files.read("https://h/x.wsdl", Some(&b.id)).unwrap_err();
        assert!(
            e.contains("not fetched over https") && e.contains("the import's location"),
            "{e}"
        );
    }

    #[test]
    fn an_oversized_wsdl_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = std::fs::File::create(dir.path().join("big.wsdl")).unwrap();
        f.set_len(MAX_WSDL_BYTES + 1).unwrap();
        let e = ProjectWsdl::new(dir.path())
            .read("big.wsdl", None)
            .unwrap_err();
        assert!(e.contains("larger than 4 MiB"), "{e}");
    }
}
