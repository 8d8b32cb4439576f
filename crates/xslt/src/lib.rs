//! XSLT 1.0 (with EXSLT) through the system's libxslt, behind a small safe API: [`compile`] a
//! stylesheet (or [`compile_with_imports`], its `xsl:import`/`xsl:include`s served from texts
//! the caller gives), [`Stylesheet::transform`] an XML text with string parameters.
//!
//! Every transformation runs without file or network access: libxslt's security preferences
//! forbid reading and writing files, creating directories and reading or writing over the
//! network, for `document()`, `xsl:import`/`xsl:include` and output documents alike, and
//! documents are parsed without network access. The one exception is an import or include
//! while [`compile_with_imports`] runs: it is let through to libxslt's loader, and every
//! document libxml2 opens on that thread meanwhile comes from the texts given (an href without
//! one fails), never from a file or URL. libxslt's and libxml2's error messages are not
//! printed; an [`Error`] says how many problems they reported (their text is passed to the
//! error callback variadically, which Rust cannot read).
//!
//! A [`Stylesheet`] is neither `Send` nor `Sync`: keep compiled stylesheets per thread.

mod ffi;

use std::ffi::CString;
use std::fmt;
use std::ptr::{self, NonNull};
use std::sync::Once;

use libc::{c_char, c_int, c_void};

/// Why a stylesheet did not compile or a transformation failed, with libxslt's messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// What a transformation produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// A document with an element (serialized per `xsl:output`, with its XML declaration
    /// unless `omit-xml-declaration="yes"`).
    Xml(String),
    /// Text only (`xsl:output method="text"`, or no element produced).
    Text(String),
}

/// A compiled stylesheet.
pub struct Stylesheet {
    ptr: NonNull<ffi::XsltStylesheet>,
    /// The hrefs of the imports and includes it read (as libxslt resolved them).
    imported: Vec<String>,
}

impl Drop for Stylesheet {
    fn drop(&mut self) {
        // SAFETY: the pointer came from xsltParseStylesheetDoc and is freed once, here (the
        // stylesheet owns its document).
        unsafe { ffi::xsltFreeStylesheet(self.ptr.as_ptr()) }
    }
}

impl fmt::Debug for Stylesheet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Stylesheet")
    }
}

thread_local! {
    /// Problems libxml2 and libxslt reported on this thread since the operation began.
    static REPORTED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// libxml2's and libxslt's error callback. Their messages reach it as a format string whose
/// arguments (passed variadically) cannot be read from Rust, so only their number is kept.
unsafe extern "C" fn on_error(_ctx: *mut c_void, _msg: *const c_char) {
    let _ = REPORTED.try_with(|r| r.set(r.get().saturating_add(1)));
}

fn take_reported() -> usize {
    REPORTED.with(|r| r.replace(0))
}

/// While [`compile_with_imports`] runs on this thread: the texts its imports may read, and what
/// was asked for.
struct Imports {
    texts: Vec<(String, String)>,
    loaded: Vec<String>,
    missing: Vec<String>,
}

thread_local! {
    static IMPORTS: std::cell::RefCell<Option<Imports>> = const { std::cell::RefCell::new(None) };
}

fn importing() -> bool {
    IMPORTS
        .try_with(|i| i.try_borrow().map(|i| i.is_some()).unwrap_or(false))
        .unwrap_or(false)
}

/// `%XX` escapes decoded (libxml2 escapes an href it resolves, a space as `%20`).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A document libxml2 reads from memory: an import's text, or nothing (`fail`).
struct Source {
    data: Vec<u8>,
    pos: usize,
    fail: bool,
}

/// libxml2's input callbacks: while an import-aware compilation runs on this thread, every
/// document libxml2 opens is one of its texts (so no file or URL is read); otherwise they stand
/// aside for libxml2's own.
unsafe extern "C" fn input_match(_filename: *const c_char) -> c_int {
    c_int::from(importing())
}

unsafe extern "C" fn input_open(filename: *const c_char) -> *mut c_void {
    let name = if filename.is_null() {
        String::new()
    } else {
        // SAFETY: libxml2 passes a NUL-terminated name.
        unsafe { std::ffi::CStr::from_ptr(filename) }
            .to_string_lossy()
            .into_owned()
    };
    let text = IMPORTS
        .try_with(|i| {
            let mut i = i.try_borrow_mut().ok()?;
            let i = i.as_mut()?;
            let plain = unescape(&name);
            let found = i
                .texts
                .iter()
                .find(|(k, _)| *k == name)
                .or_else(|| i.texts.iter().find(|(k, _)| *k == plain))
                .map(|(_, t)| t.clone());
            match &found {
                Some(_) => i.loaded.push(name.clone()),
                None => i.missing.push(name.clone()),
            }
            found
        })
        .ok()
        .flatten();
    let src = match text {
        Some(t) => Source {
            data: t.into_bytes(),
            pos: 0,
            fail: false,
        },
        None => Source {
            data: Vec::new(),
            pos: 0,
            fail: true,
        },
    };
    Box::into_raw(Box::new(src)).cast()
}

unsafe extern "C" fn input_read(context: *mut c_void, buffer: *mut c_char, len: c_int) -> c_int {
    if context.is_null() || buffer.is_null() || len < 0 {
        return -1;
    }
    // SAFETY: `context` is a `Source` made by `input_open` and not yet closed; libxml2 uses a
    // context from one thread at a time.
    let src = unsafe { &mut *context.cast::<Source>() };
    if src.fail {
        return -1;
    }
    let n = (src.data.len() - src.pos).min(len as usize);
    // SAFETY: `buffer` has room for `len` bytes; `n` ≤ `len` and ≤ what is left of `data`.
    unsafe { ptr::copy_nonoverlapping(src.data.as_ptr().add(src.pos), buffer.cast::<u8>(), n) };
    src.pos += n;
    n as c_int
}

unsafe extern "C" fn input_close(context: *mut c_void) -> c_int {
    if !context.is_null() {
        // SAFETY: made by `input_open` with `Box::into_raw`, closed once.
        drop(unsafe { Box::from_raw(context.cast::<Source>()) });
    }
    0
}

/// libxslt's document loader: libxslt's own, with entity substitution and DTD loading turned
/// off for imports and includes (documents are parsed as the main stylesheet is).
unsafe extern "C" fn load(
    uri: *const c_char,
    dict: *mut c_void,
    options: c_int,
    ctxt: *mut c_void,
    kind: c_int,
) -> *mut ffi::XmlDoc {
    let Some(default) = DEFAULT_LOADER.get() else {
        return ptr::null_mut();
    };
    let options = if kind == ffi::XSLT_LOAD_STYLESHEET {
        options & !(ffi::XML_PARSE_NOENT | ffi::XML_PARSE_DTDLOAD | ffi::XML_PARSE_DTDATTR)
    } else {
        options
    };
    // SAFETY: libxslt's own loader, called with the arguments libxslt gave this one.
    unsafe { (default.0)(uri, dict, options, ctxt, kind) }
}

/// The read check of the security preferences: an import or include while an import-aware
/// compilation runs goes through (the input callbacks serve it from memory); any other read of
/// a file or URL is refused.
unsafe extern "C" fn read_check(
    _sec: *mut ffi::XsltSecurityPrefs,
    ctxt: *mut ffi::XsltTransformContext,
    _value: *const c_char,
) -> c_int {
    c_int::from(ctxt.is_null() && importing())
}

type LoaderFn =
    unsafe extern "C" fn(*const c_char, *mut c_void, c_int, *mut c_void, c_int) -> *mut ffi::XmlDoc;
struct Loader(LoaderFn);
static DEFAULT_LOADER: std::sync::OnceLock<Loader> = std::sync::OnceLock::new();

fn problems(n: usize) -> String {
    format!(
        "libxslt reported {n} problem{}",
        if n == 1 { "" } else { "s" }
    )
}

static INIT: Once = Once::new();
/// The security preferences every transformation runs with (process-wide, never freed).
struct Prefs(*mut ffi::XsltSecurityPrefs);
// SAFETY: the preferences are written once under `INIT` and only read afterwards.
unsafe impl Send for Prefs {}
unsafe impl Sync for Prefs {}
static PREFS: std::sync::OnceLock<Prefs> = std::sync::OnceLock::new();

fn init() {
    INIT.call_once(|| {
        // SAFETY: the library initialisers are called once, before any other use; the
        // preferences object lives for the rest of the process.
        unsafe {
            ffi::xmlInitParser();
            ffi::xsltInit();
            ffi::exsltRegisterAll();
            ffi::xsltSetGenericErrorFunc(ptr::null_mut(), Some(on_error));
            // libxslt's loader, wrapped; ours answers only while libxslt's is known
            if let Some(f) = ffi::xsltDocDefaultLoader {
                let _ = DEFAULT_LOADER.set(Loader(f));
                ffi::xsltSetLoaderFunc(Some(load));
            }
            // no catalog lookups (they would read the system's catalog files and probe for
            // files named like the document asked for)
            ffi::xmlCatalogSetDefaults(0);
            // registered after libxml2's own, so consulted first
            ffi::xmlRegisterInputCallbacks(
                Some(input_match),
                Some(input_open),
                Some(input_read),
                Some(input_close),
            );
            let sec = ffi::xsltNewSecurityPrefs();
            if !sec.is_null() {
                for opt in [
                    ffi::XSLT_SECPREF_WRITE_FILE,
                    ffi::XSLT_SECPREF_CREATE_DIRECTORY,
                    ffi::XSLT_SECPREF_WRITE_NETWORK,
                ] {
                    ffi::xsltSetSecurityPrefs(sec, opt, Some(ffi::xsltSecurityForbid));
                }
                for opt in [ffi::XSLT_SECPREF_READ_FILE, ffi::XSLT_SECPREF_READ_NETWORK] {
                    ffi::xsltSetSecurityPrefs(sec, opt, Some(read_check));
                }
                ffi::xsltSetDefaultSecurityPrefs(sec);
            }
            let _ = PREFS.set(Prefs(sec));
        }
    });
    // libxml2's error handler is per thread
    // SAFETY: sets this thread's handler to a function valid for the whole process.
    unsafe { ffi::xmlSetGenericErrorFunc(ptr::null_mut(), Some(on_error)) };
    take_reported();
}

fn error(what: &str) -> Error {
    let n = take_reported();
    let message = if n == 0 {
        what.to_string()
    } else {
        format!("{what} ({})", problems(n))
    };
    Error { message }
}

/// Parse a document without network access; `None` when it is not well-formed.
fn read(text: &str) -> Result<NonNull<ffi::XmlDoc>, Error> {
    let len = c_int::try_from(text.len()).map_err(|_| Error {
        message: "the document is too large".into(),
    })?;
    // SAFETY: the buffer and its length describe `text`, which outlives the call; a null URL
    // and encoding are allowed.
    let doc = unsafe {
        ffi::xmlReadMemory(
            text.as_ptr().cast(),
            len,
            ptr::null(),
            ptr::null(),
            ffi::XML_PARSE_NONET,
        )
    };
    NonNull::new(doc).ok_or_else(|| error("not well-formed XML"))
}

/// Compile a stylesheet (XSLT 1.0, EXSLT functions available). Its `xsl:import`s and
/// `xsl:include`s fail.
pub fn compile(text: &str) -> Result<Stylesheet, Error> {
    init();
    parse_stylesheet(text)
}

/// Compile a stylesheet whose `xsl:import`s and `xsl:include`s (the main stylesheet's and
/// theirs) read the texts of `imports` (`href` → stylesheet text). An href is looked up as
/// libxslt resolves it against the location of the stylesheet naming it (the main stylesheet
/// has none, so there the href as written); one that `imports` does not hold fails, and
/// nothing is read from a file or URL. [`Stylesheet::imported`] tells which were read.
pub fn compile_with_imports(text: &str, imports: &[(&str, &str)]) -> Result<Stylesheet, Error> {
    init();
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            let _ = IMPORTS.try_with(|i| i.borrow_mut().take());
        }
    }
    IMPORTS.with(|i| {
        *i.borrow_mut() = Some(Imports {
            texts: imports
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            loaded: Vec::new(),
            missing: Vec::new(),
        })
    });
    let reset = Reset;
    let r = parse_stylesheet(text);
    let state = IMPORTS.with(|i| i.borrow_mut().take());
    drop(reset);
    let state = state.unwrap_or(Imports {
        texts: Vec::new(),
        loaded: Vec::new(),
        missing: Vec::new(),
    });
    match r {
        Ok(mut s) => {
            let mut loaded = state.loaded;
            loaded.dedup();
            s.imported = loaded;
            Ok(s)
        }
        Err(mut e) if !state.missing.is_empty() => {
            let mut missing = state.missing;
            missing.dedup();
            let names: Vec<String> = missing.iter().map(|m| format!("`{m}`")).collect();
            e.message = format!(
                "{}: no stylesheet is given for the import or include of {}",
                e.message,
                names.join(", ")
            );
            Err(e)
        }
        Err(e) => Err(e),
    }
}

fn parse_stylesheet(text: &str) -> Result<Stylesheet, Error> {
    let doc = read(text).map_err(|e| Error {
        message: format!("the stylesheet is {}", e.message),
    })?;
    // SAFETY: `doc` is a valid document; on success the stylesheet owns it, on failure it is
    // still ours to free.
    let style = unsafe { ffi::xsltParseStylesheetDoc(doc.as_ptr()) };
    match NonNull::new(style) {
        Some(ptr) => {
            // what libxslt reported for a stylesheet it compiled were warnings (a version it
            // processes in forwards-compatible mode, an unknown instruction)
            take_reported();
            Ok(Stylesheet {
                ptr,
                imported: Vec::new(),
            })
        }
        None => {
            // SAFETY: the stylesheet did not take the document.
            unsafe { ffi::xmlFreeDoc(doc.as_ptr()) };
            Err(error("not a valid XSLT stylesheet"))
        }
    }
}

/// `value` as an XPath string literal (stylesheet parameters are XPath expressions).
pub fn string_param(value: &str) -> String {
    if !value.contains('\'') {
        format!("'{value}'")
    } else if !value.contains('"') {
        format!("\"{value}\"")
    } else {
        let parts: Vec<String> = value.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}

struct Doc(NonNull<ffi::XmlDoc>);
impl Drop for Doc {
    fn drop(&mut self) {
        // SAFETY: an owned document, freed once.
        unsafe { ffi::xmlFreeDoc(self.0.as_ptr()) }
    }
}

impl Stylesheet {
    /// The hrefs of the imports and includes [`compile_with_imports`] read for it.
    pub fn imported(&self) -> &[String] {
        &self.imported
    }

    /// Transform the XML document `input`. Each parameter's value is an XPath expression (use
    /// [`string_param`] for a string).
    pub fn transform(&self, input: &str, params: &[(&str, &str)]) -> Result<Output, Error> {
        init();
        let doc = Doc(read(input).map_err(|e| Error {
            message: format!("the source is {}", e.message),
        })?);
        let mut owned = Vec::with_capacity(params.len() * 2);
        for (k, v) in params {
            for s in [k, v] {
                owned.push(CString::new(*s).map_err(|_| Error {
                    message: format!("parameter `{k}` holds a NUL character"),
                })?);
            }
        }
        let mut ptrs: Vec<*const c_char> = owned.iter().map(|c| c.as_ptr()).collect();
        ptrs.push(ptr::null());
        // SAFETY: the stylesheet and document are valid; the context is freed below, after
        // the transformation that uses it.
        let ctxt = unsafe { ffi::xsltNewTransformContext(self.ptr.as_ptr(), doc.0.as_ptr()) };
        if ctxt.is_null() {
            return Err(error("the transformation could not start"));
        }
        // SAFETY: `ctxt` is valid; the preferences live for the whole process.
        unsafe {
            if let Some(p) = PREFS.get() {
                if !p.0.is_null() {
                    ffi::xsltSetCtxtSecurityPrefs(p.0, ctxt);
                }
            }
        }
        // SAFETY: every pointer is valid for the call; `ptrs` is NULL-terminated and its
        // strings (`owned`) outlive it.
        let result = unsafe {
            ffi::xsltApplyStylesheetUser(
                self.ptr.as_ptr(),
                doc.0.as_ptr(),
                ptrs.as_mut_ptr(),
                ptr::null(),
                ptr::null_mut(),
                ctxt,
            )
        };
        // SAFETY: created above, freed once.
        unsafe { ffi::xsltFreeTransformContext(ctxt) };
        let Some(result) = NonNull::new(result) else {
            return Err(error("the transformation failed"));
        };
        let result = Doc(result);
        let mut buf: *mut u8 = ptr::null_mut();
        let mut len: c_int = 0;
        // SAFETY: valid result and stylesheet; libxml2 allocates `buf` (or leaves it null).
        let rc = unsafe {
            ffi::xsltSaveResultToString(&mut buf, &mut len, result.0.as_ptr(), self.ptr.as_ptr())
        };
        let text = if buf.is_null() {
            String::new()
        } else {
            // SAFETY: `buf` holds `len` bytes written by libxml2; it is freed with libxml2's
            // deallocator right after the copy.
            let bytes =
                unsafe { std::slice::from_raw_parts(buf, usize::try_from(len).unwrap_or(0)) };
            let s = String::from_utf8_lossy(bytes).into_owned();
            unsafe { (ffi::xmlFree)(buf.cast()) };
            s
        };
        if rc != 0 {
            return Err(error("the result could not be serialized"));
        }
        take_reported();
        // SAFETY: a valid document.
        let root = unsafe { ffi::xmlDocGetRootElement(result.0.as_ptr()) };
        Ok(if root.is_null() {
            Output::Text(text)
        } else {
            Output::Xml(text)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDENTITY: &str = r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:template match="@*|node()"><xsl:copy><xsl:apply-templates select="@*|node()"/></xsl:copy></xsl:template>
</xsl:stylesheet>"#;

    #[test]
    fn identity_and_parameters() {
        let s = compile(IDENTITY).unwrap();
        let Output::Xml(x) = s.transform("<a x='1'><b>t</b></a>", &[]).unwrap() else {
            panic!("xml expected")
        };
        assert!(x.contains(r#"<a x="1"><b>t</b></a>"#), "{x}");
        let p = compile(
            r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output method="text"/><xsl:param name="who"/>
  <xsl:template match="/">hello <xsl:value-of select="$who"/></xsl:template>
</xsl:stylesheet>"#,
        )
        .unwrap();
        let v = string_param("it's \"x\"");
        assert_eq!(
            p.transform("<a/>", &[("who", &v)]).unwrap(),
            Output::Text("hello it's \"x\"".into())
        );
    }

    #[test]
    fn bad_stylesheets_and_sources_are_errors() {
        let e = compile("<xsl:stylesheet").unwrap_err();
        assert!(e.message.contains("not well-formed"), "{e}");
        let e = compile(
            r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"><xsl:template match="/"><xsl:value-of select="(("/></xsl:template></xsl:stylesheet>"#,
        )
        .unwrap_err();
        assert!(e.message.contains("not a valid XSLT stylesheet"), "{e}");
        let s = compile(IDENTITY).unwrap();
        assert!(s.transform("<a>", &[]).is_err());
        let m = compile(
            r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"><xsl:template match="/"><xsl:message terminate="yes">stop</xsl:message></xsl:template></xsl:stylesheet>"#,
        )
        .unwrap();
        assert!(m.transform("<a/>", &[]).is_err());
    }

    #[test]
    fn no_file_or_network_access() {
        let dir = std::env::temp_dir().join(format!("synaptic-xslt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("secret.xml");
        std::fs::write(&secret, "<s>TOPSECRET</s>").unwrap();
        let url = format!("file://{}", secret.display());
        let read = compile(&format!(
            r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:template match="/"><r><xsl:copy-of select="document('{url}')"/></r></xsl:template>
</xsl:stylesheet>"#
        ))
        .unwrap();
        match read.transform("<a/>", &[]) {
            Ok(Output::Xml(x)) | Ok(Output::Text(x)) => assert!(!x.contains("TOPSECRET"), "{x}"),
            Err(_) => {}
        }
        let import = compile(&format!(
            r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:import href="{url}"/><xsl:template match="/"><r/></xsl:template>
</xsl:stylesheet>"#
        ));
        assert!(import.is_err());
        let out = dir.join("written.xml");
        let write = compile(&format!(
            r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" xmlns:exsl="http://exslt.org/common" extension-element-prefixes="exsl">
  <xsl:template match="/"><exsl:document href="{}"><w/></exsl:document><r/></xsl:template>
</xsl:stylesheet>"#,
            out.display()
        ))
        .unwrap();
        let _ = write.transform("<a/>", &[]);
        assert!(!out.exists(), "the stylesheet wrote a file");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_text_result_and_exslt() {
        let s = compile(
            r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" xmlns:str="http://exslt.org/strings">
  <xsl:output method="text"/>
  <xsl:template match="/"><xsl:value-of select="str:padding(3, '-')"/><xsl:value-of select="/a"/></xsl:template>
</xsl:stylesheet>"#,
        )
        .unwrap();
        assert_eq!(
            s.transform("<a>à peine</a>", &[]).unwrap(),
            Output::Text("---à peine".into())
        );
    }
    const MAIN_IMPORTING: &str = r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:import href="common.xsl"/>
  <xsl:include href="parts/extra.xsl"/>
  <xsl:template match="/"><r><xsl:apply-templates select="a/*"/><xsl:call-template name="extra"/></r></xsl:template>
  <xsl:template match="c"><main-c/></xsl:template>
</xsl:stylesheet>"#;

    const COMMON: &str = r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:import href="deeper.xsl"/>
  <xsl:template match="b"><common-b/></xsl:template>
  <xsl:template match="c"><common-c/></xsl:template>
</xsl:stylesheet>"#;

    const DEEPER: &str = r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:template match="d"><deeper-d/></xsl:template>
</xsl:stylesheet>"#;

    const EXTRA: &str = r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:template name="extra"><extra/></xsl:template>
</xsl:stylesheet>"#;

    #[test]
    fn imports_and_includes_read_the_texts_given() {
        let s = compile_with_imports(
            MAIN_IMPORTING,
            &[
                ("common.xsl", COMMON),
                ("deeper.xsl", DEEPER),
                ("parts/extra.xsl", EXTRA),
                ("unused.xsl", DEEPER),
            ],
        )
        .unwrap();
        let Output::Xml(x) = s.transform("<a><b/><c/><d/></a>", &[]).unwrap() else {
            panic!("xml expected")
        };
        // the importing stylesheet's template wins over the imported one (import precedence)
        assert!(
            x.contains("<r><common-b/><main-c/><deeper-d/><extra/></r>"),
            "{x}"
        );
        let mut read = s.imported().to_vec();
        read.sort();
        assert_eq!(read, ["common.xsl", "deeper.xsl", "parts/extra.xsl"]);
        // the same stylesheet without the texts: its imports fail, as with `compile`
        let e = compile_with_imports(MAIN_IMPORTING, &[("common.xsl", COMMON)]).unwrap_err();
        assert!(e.message.contains("`deeper.xsl`"), "{e}");
        assert!(compile(MAIN_IMPORTING).is_err());
        // and many compilations in a row leave nothing behind
        for _ in 0..50 {
            let s = compile_with_imports(
                MAIN_IMPORTING,
                &[
                    ("common.xsl", COMMON),
                    ("deeper.xsl", DEEPER),
                    ("parts/extra.xsl", EXTRA),
                ],
            )
            .unwrap();
            assert!(s.transform("<a><b/></a>", &[]).is_ok());
        }
    }

    #[test]
    fn an_import_cycle_is_an_error() {
        let a = r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"><xsl:import href="b.xsl"/><xsl:template match="/"><r/></xsl:template></xsl:stylesheet>"#;
        let b = r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"><xsl:import href="a.xsl"/></xsl:stylesheet>"#;
        assert!(compile_with_imports(a, &[("a.xsl", a), ("b.xsl", b)]).is_err());
        let inc = r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"><xsl:include href="i.xsl"/><xsl:template match="/"><r/></xsl:template></xsl:stylesheet>"#;
        let i = r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"><xsl:include href="i.xsl"/></xsl:stylesheet>"#;
        assert!(compile_with_imports(inc, &[("i.xsl", i)]).is_err());
    }

    #[test]
    fn imports_read_no_file_even_when_other_texts_are_given() {
        let dir = std::env::temp_dir().join(format!("synaptic-xslt-imp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("secret.xsl");
        std::fs::write(
            &secret,
            r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"><xsl:template match="/"><TOPSECRET/></xsl:template></xsl:stylesheet>"#,
        )
        .unwrap();
        for href in [
            secret.display().to_string(),
            format!("file://{}", secret.display()),
        ] {
            let main = format!(
                r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"><xsl:import href="{href}"/></xsl:stylesheet>"#
            );
            let e = compile_with_imports(&main, &[("common.xsl", COMMON)])
                .map(|s| s.transform("<a/>", &[]))
                .unwrap_err();
            assert!(
                e.message.contains(&href) || e.message.contains("secret.xsl"),
                "{e}"
            );
        }
        // an imported text's external entity is not read either
        let main = r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"><xsl:import href="ent.xsl"/><xsl:template match="/"><r><xsl:call-template name="t"/></r></xsl:template></xsl:stylesheet>"#;
        let ent = format!(
            r#"<!DOCTYPE xsl:stylesheet [<!ENTITY s SYSTEM "file://{}">]><xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"><xsl:template name="t"><v>&s;</v></xsl:template></xsl:stylesheet>"#,
            secret.display()
        );
        if let Ok(s) = compile_with_imports(main, &[("ent.xsl", &ent)]) {
            if let Ok(Output::Xml(x)) = s.transform("<a/>", &[]) {
                assert!(!x.contains("TOPSECRET"), "{x}");
            }
        }
        // document() at transformation time stays refused
        let doc = format!(
            r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"><xsl:import href="common.xsl"/><xsl:template match="/"><r><xsl:copy-of select="document('{}')"/></r></xsl:template></xsl:stylesheet>"#,
            secret.display()
        );
        let s =
            compile_with_imports(&doc, &[("common.xsl", COMMON), ("deeper.xsl", DEEPER)]).unwrap();
        match s.transform("<a/>", &[]) {
            Ok(Output::Xml(x)) | Ok(Output::Text(x)) => assert!(!x.contains("TOPSECRET"), "{x}"),
            Err(_) => {}
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
