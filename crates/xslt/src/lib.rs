//! XSLT 1.0 (with EXSLT) through the system's libxslt, behind a small safe API: [`compile`] a
//! stylesheet, [`Stylesheet::transform`] an XML text with string parameters.
//!
//! Every transformation runs without file or network access: libxslt's security preferences
//! forbid reading and writing files, creating directories and reading or writing over the
//! network, for `document()`, `xsl:import`/`xsl:include` and output documents alike, and
//! documents are parsed without network access. libxslt's and libxml2's error messages are not
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
            let sec = ffi::xsltNewSecurityPrefs();
            if !sec.is_null() {
                for opt in [
                    ffi::XSLT_SECPREF_READ_FILE,
                    ffi::XSLT_SECPREF_WRITE_FILE,
                    ffi::XSLT_SECPREF_CREATE_DIRECTORY,
                    ffi::XSLT_SECPREF_READ_NETWORK,
                    ffi::XSLT_SECPREF_WRITE_NETWORK,
                ] {
                    ffi::xsltSetSecurityPrefs(sec, opt, Some(ffi::xsltSecurityForbid));
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

/// Compile a stylesheet (XSLT 1.0, EXSLT functions available).
pub fn compile(text: &str) -> Result<Stylesheet, Error> {
    init();
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
            Ok(Stylesheet { ptr })
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
}
