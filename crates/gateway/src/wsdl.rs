//! The documents of `<wsdl uri=…>` endpoints and the documents they import, read for
//! `engine::compile` when the project is loaded (the engine does no I/O): a `file:` URL, or a
//! path relative to the project folder (an import: relative to the document that imports it).
//! A proxy's `<publishWSDL uri="http…">` or `<publishWSDL endpoint>`, an `http(s)` WSDL
//! endpoint and an `http(s)` import are fetched once per load when the loader was given
//! [`WsdlFetch`] bounds (`serve`), as Synapse fetches them when it deploys the artifact
//! (docs/adr/0507-published-wsdl-fetched-at-load.md,
//! docs/adr/0513-wsdl-endpoints-fetched-at-load.md); an import of a fetched document is
//! resolved against its URL and fetched too, never read from a local file.

use crate::reload::{file_fingerprint, Fingerprint};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use synaptic_engine::{WsdlReader, WsdlSource, WsdlText};

/// A WSDL larger than this is refused (a service description, not a data set).
pub const MAX_WSDL_BYTES: u64 = 4 * 1024 * 1024;

/// The bounds of fetching a published WSDL over `http(s)` when the project is loaded
/// (`[limits] wsdl_fetch_timeout`, `wsdl_fetch_max_size`).
#[derive(Clone)]
pub struct WsdlFetch {
    /// The whole fetch: connecting, the answer's head and its body, redirects included.
    pub timeout: std::time::Duration,
    /// The largest document accepted, in bytes.
    pub max_bytes: u64,
    /// Certificates (PEM) trusted besides the built-in roots (`[server] ca_file`).
    pub extra_ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for WsdlFetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsdlFetch")
            .field("timeout", &self.timeout)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

/// Redirects followed when fetching a WSDL (Java's `HttpURLConnection` follows them too).
const MAX_REDIRECTS: usize = 5;

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
    /// The bounds of fetching `http(s)` documents; `None`: nothing is fetched.
    fetch: Option<WsdlFetch>,
    /// The documents fetched by this load, by URL as named.
    fetched: Mutex<HashMap<String, Result<WsdlText, String>>>,
    /// The URL each fetched document came from, by its id (the URL as shown): its imports
    /// are resolved against it.
    origins: Mutex<HashMap<String, String>>,
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
            fetch: None,
            fetched: Mutex::new(HashMap::new()),
            origins: Mutex::new(HashMap::new()),
        })
    }

    /// Reads relative to `base`, and registry resources from the file registry at `registry`.
    pub fn with_registry(base: &Path, registry: &Path) -> Arc<ProjectWsdl> {
        Arc::new(ProjectWsdl {
            base: base.to_path_buf(),
            registry: Some(registry.to_path_buf()),
            read: Mutex::new(HashMap::new()),
            fetch: None,
            fetched: Mutex::new(HashMap::new()),
            origins: Mutex::new(HashMap::new()),
        })
    }

    /// What a gateway's load reads: files relative to `base`, registry resources from the
    /// file registry at `registry`, and `http(s)` documents fetched within `fetch`.
    pub fn for_load(base: &Path, registry: Option<&Path>, fetch: Option<WsdlFetch>) -> Arc<Self> {
        Arc::new(ProjectWsdl {
            base: base.to_path_buf(),
            registry: registry.map(Path::to_path_buf),
            read: Mutex::new(HashMap::new()),
            fetch,
            fetched: Mutex::new(HashMap::new()),
            origins: Mutex::new(HashMap::new()),
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

impl ProjectWsdl {
    /// The URL of the fetched document `id`, if it is one.
    fn origin(&self, id: &str) -> Option<String> {
        let origins = self.origins.lock().unwrap_or_else(|e| e.into_inner());
        origins.get(id).cloned()
    }

    /// An import of the document fetched from `base`: its location resolved against the URL
    /// (as Java resolves it) and fetched; a `file:` location is refused, since a remote
    /// document must not read the gateway's files.
    fn read_remote(&self, location: &str, base: &str) -> Result<WsdlText, String> {
        let url = url::Url::parse(base)
            .and_then(|b| b.join(location))
            .map_err(|e| {
                format!(
                    "the import's location `{}` is not a URL relative to {} ({e})",
                    shown(location),
                    shown(base)
                )
            })?;
        match url.scheme() {
            "http" | "https" => self.fetch(url.as_str()),
            "file" => Err(format!(
                "`{}` is a local file, and a document fetched over http(s) ({}) must not read \
                 local files",
                shown(location),
                shown(base)
            )),
            other => Err(format!(
                "`{}` is a {other}: URL: only http(s) locations are read from a fetched document",
                shown(location)
            )),
        }
    }
}

impl WsdlReader for ProjectWsdl {
    fn read(&self, location: &str, from: Option<&str>) -> Result<WsdlText, String> {
        let location = location.trim();
        if let Some(base) = from.and_then(|id| self.origin(id)) {
            return self.read_remote(location, &base);
        }
        if is_http(location) {
            return match self.fetch {
                Some(_) => self.fetch(location),
                None => Err(format!(
                    "the WSDL {} is fetched over http(s) only when the project is served \
                     (`synaptic serve`)",
                    shown(location)
                )),
            };
        }
        let base = match from {
            None => self.base.clone(),
            Some(doc) => Path::new(doc)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| self.base.clone()),
        };
        let path = path_of(location, &base)?;
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

    fn fetches(&self) -> bool {
        self.fetch.is_some()
    }

    fn fetch(&self, url: &str) -> Result<WsdlText, String> {
        let Some(bounds) = &self.fetch else {
            return Err("documents are not fetched here".to_string());
        };
        let url = url.trim();
        let mut cache = self.fetched.lock().unwrap_or_else(|e| e.into_inner());
        // once per load, however many proxies and compile rounds name it
        let got = cache
            .entry(url.to_string())
            .or_insert_with(|| {
                fetch(url, bounds).map(|text| WsdlText {
                    id: shown(url),
                    text: Arc::from(text),
                })
            })
            .clone();
        if let Ok(t) = &got {
            let mut origins = self.origins.lock().unwrap_or_else(|e| e.into_inner());
            origins
                .entry(t.id.clone())
                .or_insert_with(|| url.to_string());
        }
        got
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
            Err(format!(
                "the WSDL `{uri}` is not a file: only file: URLs, relative paths and http(s) \
                 URLs are read"
            ))
        }
        _ => Ok(base.join(uri)),
    }
}

/// Whether `location` is an `http:` or `https:` URL.
fn is_http(location: &str) -> bool {
    location
        .split_once(':')
        .is_some_and(|(s, _)| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https"))
}

/// `url` fit for a message: its password and secret query parameters replaced by `***`.
pub(crate) fn shown(url: &str) -> String {
    let mut out = url.to_string();
    if let Ok(mut u) = url::Url::parse(url) {
        if u.password().is_some() && u.set_password(Some("***")).is_ok() {
            out = u.to_string();
        }
    }
    synaptic_logsafe::redact_url(&out)
}

/// Fetch the document at `url` within `bounds`, on a thread of its own (the load is
/// synchronous, and may run inside or outside the gateway's runtime).
fn fetch(url: &str, bounds: &WsdlFetch) -> Result<String, String> {
    let shown = shown(url);
    let parsed = url::Url::parse(url).map_err(|e| format!("`{shown}` is not a URL ({e})"))?;
    let bounds = bounds.clone();
    let limit = bounds.timeout;
    let worker = std::thread::Builder::new()
        .name("wsdl-fetch".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            let got = rt.block_on(async {
                match tokio::time::timeout(bounds.timeout, get(parsed, &bounds)).await {
                    Ok(r) => r,
                    Err(_) => Err(format!(
                        "no complete answer within {} s ([limits] wsdl_fetch_timeout)",
                        limit.as_secs_f64()
                    )),
                }
            });
            // a name lookup still running on the runtime's blocking pool is not waited for
            rt.shutdown_background();
            got
        })
        .map_err(|e| format!("cannot fetch the WSDL {shown}: {e}"))?;
    worker
        .join()
        .unwrap_or_else(|_| Err("the fetch stopped".to_string()))
        .map_err(|why| format!("cannot fetch the WSDL {shown}: {why}"))
}

async fn get(url: url::Url, bounds: &WsdlFetch) -> Result<String, String> {
    let mut client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
        .connect_timeout(bounds.timeout);
    if let Some(pem) = &bounds.extra_ca_pem {
        for c in reqwest::Certificate::from_pem_bundle(pem).map_err(described)? {
            client = client.add_root_certificate(c);
        }
    }
    let client = client.build().map_err(described)?;
    // user information in the URL is sent as Basic authentication, as Synapse sends it
    let mut resp = client
        .get(url)
        .header(
            http::header::ACCEPT,
            "application/wsdl+xml, text/xml, application/xml, */*",
        )
        .send()
        .await
        .map_err(described)?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("the server answered {status}"));
    }
    let too_large = || {
        format!(
            "the document is larger than {} bytes ([limits] wsdl_fetch_max_size)",
            bounds.max_bytes
        )
    };
    if resp.content_length().is_some_and(|n| n > bounds.max_bytes) {
        return Err(too_large());
    }
    let mut body: Vec<u8> = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(described)? {
        if (body.len() + chunk.len()) as u64 > bounds.max_bytes {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| "the document is not UTF-8 text".to_string())
}

/// A client error without its URL (which may hold credentials), with its causes.
fn described(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut out = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        let c_text = c.to_string();
        if !out.contains(&c_text) {
            out.push_str(": ");
            out.push_str(&c_text);
        }
        cause = c.source();
    }
    out
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
        // a reader that does not fetch (`synaptic run`) says where it would be fetched
        let e = files
            .read("http://u:s3cret@127.0.0.1:1/a?wsdl", None)
            .unwrap_err();
        assert!(
            e.contains("is fetched over http(s) only when the project is served"),
            "{e}"
        );
        assert!(!e.contains("s3cret"), "{e}");
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
        assert!(e.contains("only when the project is served"), "{e}");
    }

    #[test]
    fn an_import_of_a_fetched_document_is_fetched_relative_to_its_url_never_read_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("local.wsdl"), "<local/>").unwrap();
        let (base, seen) = serve(http("200 OK", "content-type: text/xml\r\n", b"<w/>"));
        let f = ProjectWsdl::for_load(
            dir.path(),
            None,
            Some(WsdlFetch {
                timeout: std::time::Duration::from_secs(5),
                max_bytes: 1024,
                extra_ca_pem: None,
            }),
        );
        let root_url = base.replace("http://", "http://user:s3cret@") + "/ws/main.wsdl";
        // an endpoint's uri over http is fetched
        let root = f.read(&root_url, None).unwrap();
        assert!(!root.id.contains("s3cret"), "{}", root.id);
        // its relative import: against its URL, with the same credentials
        let part = f.read("parts/b.wsdl?v=1", Some(&root.id)).unwrap();
        assert_eq!(&*part.text, "<w/>");
        // an import of that one: against its own URL
        f.read("../c.wsdl", Some(&part.id)).unwrap();
        let heads = seen.lock().unwrap().clone();
        let lines: Vec<&str> = heads.iter().map(|h| h.lines().next().unwrap()).collect();
        assert_eq!(
            lines,
            [
                "GET /ws/main.wsdl HTTP/1.1",
                "GET /ws/parts/b.wsdl?v=1 HTTP/1.1",
                "GET /ws/c.wsdl HTTP/1.1"
            ]
        );
        for h in &heads {
            assert!(
                h.to_ascii_lowercase()
                    .contains("authorization: basic dxnlcjpzm2nyzxq="),
                "{h}"
            );
        }
        // a remote document naming a local file is refused, however it names it
        let file_url = url::Url::from_file_path(dir.path().join("local.wsdl"))
            .unwrap()
            .to_string();
        for location in [file_url.as_str(), "file:local.wsdl"] {
            let e = f.read(location, Some(&root.id)).unwrap_err();
            assert!(e.contains("must not read local files"), "{location}: {e}");
            assert!(!e.contains("s3cret"), "{e}");
        }
        // a local document's http import is fetched by a reader that fetches
        let local = f.read("local.wsdl", None).unwrap();
        f.read(&format!("{base}/other.wsdl"), Some(&local.id))
            .unwrap();
        assert_eq!(seen.lock().unwrap().len(), 4);
    }

    /// A server on 127.0.0.1 answering every connection with `answer` (raw HTTP; `None`:
    /// never answers), recording each request head; its base URL.
    fn serve(answer: Option<Vec<u8>>) -> (String, Arc<Mutex<Vec<String>>>) {
        use std::io::{Read as _, Write as _};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", l.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let heads = seen.clone();
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(mut c) = c else { break };
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && c.read(&mut b).unwrap_or(0) == 1 {
                    head.push(b[0]);
                }
                heads
                    .lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&head).into_owned());
                match &answer {
                    Some(a) => {
                        let _ = c.write_all(a);
                    }
                    None => {
                        std::thread::spawn(move || {
                            std::thread::sleep(std::time::Duration::from_secs(5));
                            drop(c);
                        });
                    }
                }
            }
        });
        (base, seen)
    }

    fn fetcher(timeout_ms: u64, max_bytes: u64) -> Arc<ProjectWsdl> {
        ProjectWsdl::for_load(
            Path::new("/nowhere"),
            None,
            Some(WsdlFetch {
                timeout: std::time::Duration::from_millis(timeout_ms),
                max_bytes,
                extra_ca_pem: None,
            }),
        )
    }

    fn http(status: &str, headers: &str, body: &[u8]) -> Option<Vec<u8>> {
        let mut a = format!(
            "HTTP/1.1 {status}\r\nconnection: close\r\n{headers}content-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        a.extend_from_slice(body);
        Some(a)
    }

    #[test]
    fn a_published_wsdl_is_fetched_once_per_load_with_its_credentials_sent_not_shown() {
        let (base, seen) = serve(http("200 OK", "content-type: text/xml\r\n", b"<w/>"));
        let f = fetcher(5000, 1024);
        assert!(f.fetches());
        let url = base.replace("http://", "http://user:s3cret@") + "/services/S?wsdl";
        let t = f.fetch(&url).unwrap();
        assert_eq!(&*t.text, "<w/>");
        assert!(!t.id.contains("s3cret"), "{}", t.id);
        // the same URL again: the document this load already has
        assert_eq!(&*f.fetch(&url).unwrap().text, "<w/>");
        let heads = seen.lock().unwrap().clone();
        assert_eq!(heads.len(), 1, "{heads:?}");
        assert!(
            heads[0].starts_with("GET /services/S?wsdl HTTP/1.1"),
            "{}",
            heads[0]
        );
        // user information goes as Basic authentication (user:s3cret)
        assert!(
            heads[0]
                .to_ascii_lowercase()
                .contains("authorization: basic dxnlcjpzm2nyzxq="),
            "{}",
            heads[0]
        );
        // a reader without bounds fetches nothing
        assert!(!ProjectWsdl::new(Path::new("/nowhere")).fetches());
    }

    #[test]
    fn a_wsdl_that_cannot_be_fetched_says_why_without_the_password() {
        let cases: Vec<(Option<Vec<u8>>, &str)> = vec![
            (
                http("404 Not Found", "", b"gone"),
                "the server answered 404 Not Found",
            ),
            (http("200 OK", "", &[b'x'; 2000]), "larger than 1024 bytes"),
            (
                // no length: counted as it comes
                Some(
                    [
                        &b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n"[..],
                        &[b'y'; 3000][..],
                    ]
                    .concat(),
                ),
                "larger than 1024 bytes",
            ),
            (http("200 OK", "", &[0xff, 0xfe, b'<']), "not UTF-8 text"),
            (None, "no complete answer within 0.3 s"),
        ];
        for (answer, says) in cases {
            let (base, _) = serve(answer);
            let url = base.replace("http://", "http://user:s3cret@") + "/w?wsdl";
            let e = fetcher(300, 1024).fetch(&url).unwrap_err();
            assert!(e.contains(says), "{says}: {e}");
            assert!(
                e.starts_with("cannot fetch the WSDL http://user:***@"),
                "{e}"
            );
            assert!(!e.contains("s3cret"), "{e}");
        }
        // nobody listening
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = fetcher(2000, 1024)
            .fetch(&format!("http://127.0.0.1:{port}/w?wsdl&password=p4ss"))
            .unwrap_err();
        assert!(e.contains("cannot fetch the WSDL"), "{e}");
        assert!(!e.contains("p4ss"), "{e}");
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
