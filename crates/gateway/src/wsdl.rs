//! The documents of `<wsdl uri=…>` endpoints, read when the project is loaded (the engine does
//! no I/O): a `file:` URL, or a path relative to the project folder. An `http(s)` WSDL is not
//! fetched (docs/adr/0501-wsdl-endpoints-resolved-at-load.md): the endpoint is an error that
//! says to keep the document in the project.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use synaptic_syntax::ast::Artifact;

/// A WSDL larger than this is refused (a service description, not a data set).
pub const MAX_WSDL_BYTES: u64 = 4 * 1024 * 1024;

/// Every `<wsdl uri=…>` document of `artifacts`, read relative to `base` (the project folder):
/// by `uri` as written (trimmed), its text or why it could not be read. A `uri` that is a
/// deploy-time parameter (`$SYSTEM:NAME`, …) names the file its value from `deploy` names
/// (without `deploy`, it is not read). For `engine::CompileOptions::wsdl_documents`.
pub fn load<'a>(
    artifacts: impl IntoIterator<Item = &'a Artifact>,
    base: &Path,
    deploy: Option<&dyn synaptic_engine::Configurables>,
) -> HashMap<String, Result<String, String>> {
    let mut out = HashMap::new();
    for a in artifacts {
        for u in &a.wsdl_uris {
            let uri = u.value.trim();
            if out.contains_key(uri) {
                continue;
            }
            let read = match synaptic_engine::deploy_param(uri) {
                None => read(uri, base),
                Some(param) => match (param, deploy) {
                    (Ok(p), Some(values)) => p.resolve(values).and_then(|v| read(&v, base)),
                    (Err(why), _) => Err(why),
                    (Ok(_), None) => continue,
                },
            };
            out.insert(uri.to_string(), read);
        }
    }
    out
}

/// The file a `uri` names: `file:/abs`, `file:///abs`, `file:rel` (relative to `base`, as
/// Synapse reads `file:` URLs relative to its home), or a plain path.
fn path_of(uri: &str, base: &Path) -> Result<PathBuf, String> {
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
                     uri at the file (a file: URL or a path relative to the project)",
                    scheme.to_ascii_lowercase()
                ))
            } else {
                Err(format!(
                    "the WSDL `{uri}` is not a file: only file: URLs and paths relative to the \
                     project are read"
                ))
            }
        }
        _ => Ok(base.join(uri)),
    }
}

fn read(uri: &str, base: &Path) -> Result<String, String> {
    let path = path_of(uri, base)?;
    let shown = path.display();
    let meta =
        std::fs::metadata(&path).map_err(|e| format!("cannot read the WSDL {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("the WSDL {shown} is not a file"));
    }
    if meta.len() > MAX_WSDL_BYTES {
        return Err(format!(
            "the WSDL {shown} is larger than {} MiB",
            MAX_WSDL_BYTES / (1024 * 1024)
        ));
    }
    let bytes = std::fs::read(&path).map_err(|e| format!("cannot read the WSDL {shown}: {e}"))?;
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
        let base = dir.path();
        assert_eq!(read("wsdl/a.wsdl", base).unwrap(), "<a/>");
        assert_eq!(read("file:wsdl/a.wsdl", base).unwrap(), "<a/>");
        let url = url::Url::from_file_path(&abs).unwrap().to_string();
        assert_eq!(read(&url, Path::new("/nowhere")).unwrap(), "<a/>");
        let e = read("http://127.0.0.1:1/a?wsdl", base).unwrap_err();
        assert!(e.contains("not fetched over http"), "{e}");
        let e = read("gov:/wsdl/a.wsdl", base).unwrap_err();
        assert!(e.contains("only file: URLs"), "{e}");
        let e = read("wsdl/missing.wsdl", base).unwrap_err();
        assert!(e.contains("cannot read the WSDL"), "{e}");
        let e = read("wsdl", base).unwrap_err();
        assert!(e.contains("is not a file"), "{e}");
    }

    #[test]
    fn an_oversized_wsdl_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = std::fs::File::create(dir.path().join("big.wsdl")).unwrap();
        f.set_len(MAX_WSDL_BYTES + 1).unwrap();
        let e = read("big.wsdl", dir.path()).unwrap_err();
        assert!(e.contains("larger than 4 MiB"), "{e}");
    }
}
