//! The few functions of libxml2, libxslt and libexslt this crate calls (their C declarations,
//! libxml2 ≥ 2.9 and libxslt ≥ 1.1.34). Pointers to their structures are opaque here.

use libc::{c_char, c_int, c_void};

#[repr(C)]
pub struct XmlDoc {
    _private: [u8; 0],
}
#[repr(C)]
pub struct XmlNode {
    _private: [u8; 0],
}
#[repr(C)]
pub struct XsltStylesheet {
    _private: [u8; 0],
}
#[repr(C)]
pub struct XsltTransformContext {
    _private: [u8; 0],
}
#[repr(C)]
pub struct XsltSecurityPrefs {
    _private: [u8; 0],
}

/// `xmlGenericErrorFunc` is variadic in C (`void (*)(void *ctx, const char *msg, ...)`); the
/// handler given here reads only the two named arguments, which the platform ABIs pass the same
/// way to a variadic and a non-variadic callee.
pub type GenericErrorFunc = Option<unsafe extern "C" fn(ctx: *mut c_void, msg: *const c_char)>;

pub type SecurityCheck = Option<
    unsafe extern "C" fn(
        sec: *mut XsltSecurityPrefs,
        ctxt: *mut XsltTransformContext,
        value: *const c_char,
    ) -> c_int,
>;

/// `xsltSecurityOption`
pub const XSLT_SECPREF_READ_FILE: c_int = 1;
pub const XSLT_SECPREF_WRITE_FILE: c_int = 2;
pub const XSLT_SECPREF_CREATE_DIRECTORY: c_int = 3;
pub const XSLT_SECPREF_READ_NETWORK: c_int = 4;
pub const XSLT_SECPREF_WRITE_NETWORK: c_int = 5;

/// `xmlParserOption`: no network access while parsing.
pub const XML_PARSE_NONET: c_int = 1 << 11;
/// `xmlParserOption`: substitute entities.
pub const XML_PARSE_NOENT: c_int = 1 << 1;
/// `xmlParserOption`: load the external subset.
pub const XML_PARSE_DTDLOAD: c_int = 1 << 2;
/// `xmlParserOption`: default DTD attributes.
pub const XML_PARSE_DTDATTR: c_int = 1 << 3;

/// `xsltLoadType`: a document loaded for an `xsl:import` or `xsl:include`.
pub const XSLT_LOAD_STYLESHEET: c_int = 1;

/// `xsltDocLoaderFunc` (`URI` is an `xmlChar *`, `dict` an `xmlDictPtr`).
pub type DocLoaderFunc = Option<
    unsafe extern "C" fn(
        uri: *const c_char,
        dict: *mut c_void,
        options: c_int,
        ctxt: *mut c_void,
        kind: c_int,
    ) -> *mut XmlDoc,
>;

/// libxml2's I/O callbacks (`xmlInputMatchCallback`, `xmlInputOpenCallback`,
/// `xmlInputReadCallback`, `xmlInputCloseCallback`).
pub type InputMatch = Option<unsafe extern "C" fn(filename: *const c_char) -> c_int>;
pub type InputOpen = Option<unsafe extern "C" fn(filename: *const c_char) -> *mut c_void>;
pub type InputRead =
    Option<unsafe extern "C" fn(context: *mut c_void, buffer: *mut c_char, len: c_int) -> c_int>;
pub type InputClose = Option<unsafe extern "C" fn(context: *mut c_void) -> c_int>;

extern "C" {
    pub fn xmlInitParser();
    pub fn xmlReadMemory(
        buffer: *const c_char,
        size: c_int,
        url: *const c_char,
        encoding: *const c_char,
        options: c_int,
    ) -> *mut XmlDoc;
    pub fn xmlFreeDoc(doc: *mut XmlDoc);
    pub fn xmlDocGetRootElement(doc: *const XmlDoc) -> *mut XmlNode;
    pub fn xmlSetGenericErrorFunc(ctx: *mut c_void, handler: GenericErrorFunc);
    /// libxml2's deallocator (a global function pointer).
    pub static xmlFree: unsafe extern "C" fn(ptr: *mut c_void);
    /// `xmlCatalogAllow`: `XML_CATA_ALLOW_NONE` (0) turns catalog resolution off.
    pub fn xmlCatalogSetDefaults(allow: c_int);
    pub fn xmlRegisterInputCallbacks(
        match_func: InputMatch,
        open_func: InputOpen,
        read_func: InputRead,
        close_func: InputClose,
    ) -> c_int;

    pub fn xsltInit();
    pub fn xsltParseStylesheetDoc(doc: *mut XmlDoc) -> *mut XsltStylesheet;
    pub fn xsltFreeStylesheet(style: *mut XsltStylesheet);
    pub fn xsltNewTransformContext(
        style: *mut XsltStylesheet,
        doc: *mut XmlDoc,
    ) -> *mut XsltTransformContext;
    pub fn xsltFreeTransformContext(ctxt: *mut XsltTransformContext);
    pub fn xsltApplyStylesheetUser(
        style: *mut XsltStylesheet,
        doc: *mut XmlDoc,
        params: *mut *const c_char,
        output: *const c_char,
        profile: *mut c_void,
        user_ctxt: *mut XsltTransformContext,
    ) -> *mut XmlDoc;
    pub fn xsltSaveResultToString(
        doc_txt_ptr: *mut *mut u8,
        doc_txt_len: *mut c_int,
        result: *mut XmlDoc,
        style: *mut XsltStylesheet,
    ) -> c_int;
    pub fn xsltSetGenericErrorFunc(ctx: *mut c_void, handler: GenericErrorFunc);
    pub fn xsltNewSecurityPrefs() -> *mut XsltSecurityPrefs;
    pub fn xsltSetSecurityPrefs(
        sec: *mut XsltSecurityPrefs,
        option: c_int,
        func: SecurityCheck,
    ) -> c_int;
    pub fn xsltSetDefaultSecurityPrefs(sec: *mut XsltSecurityPrefs);
    pub fn xsltSetCtxtSecurityPrefs(
        sec: *mut XsltSecurityPrefs,
        ctxt: *mut XsltTransformContext,
    ) -> c_int;
    pub fn xsltSecurityForbid(
        sec: *mut XsltSecurityPrefs,
        ctxt: *mut XsltTransformContext,
        value: *const c_char,
    ) -> c_int;

    /// The loader libxslt calls for imports, includes and `document()` (a global variable).
    pub static xsltDocDefaultLoader: DocLoaderFunc;
    pub fn xsltSetLoaderFunc(f: DocLoaderFunc);

    pub fn exsltRegisterAll();
}
