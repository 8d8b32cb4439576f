//! The message body model. A body stays raw bytes until a content-aware mediator needs it;
//! [`build`] turns bytes plus a content type into a [`Payload`], [`serialize`] formats a payload
//! by the axis2 `messageType`.
//!
//! XML is held as an owned, `Send` DOM ([`xml::Element`]). Like Synapse, every XML message is a
//! SOAP envelope inside: plain XML (POX) sits alone in the body of an implicit SOAP 1.1 envelope.
//! JSON is visible to XPath the Synapse way (`<jsonObject>`, see [`json_xml`]).
//!
//! # Differences from Synapse (Axis2/Axiom)
//!
//! - XML bodies must be UTF-8 (an `encoding="ISO-8859-1"` declaration is not honoured: non-UTF-8 bytes are an error); DOCTYPE is refused, unknown entities are errors, nesting is limited to 256 elements.
//! - Form bodies build `<xformValues>` (no namespace) with one child per parameter; parameters whose names are not XML names are dropped.
//! - JSON ⇄ XML follows Synapse's streaming JSON builder and its JSON formatter (see [`json_xml`]); the only difference is that a JSON key that is not an XML name is escaped (Synapse does that only with `synapse.commons.json.buildValidNCNames`).
//! - Serialization writes no XML declaration; the Content-Type returned is the messageType as given (form: `application/x-www-form-urlencoded; charset=UTF-8`).

pub mod form;
pub mod json_xml;
pub mod xml;

use base64::Engine as _;
use bytes::Bytes;

pub use xml::{Element, Node, QName};

/// SOAP 1.1 envelope namespace.
pub const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// SOAP 1.2 envelope namespace.
pub const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
/// Namespace of the `<text>` and `<binary>` wrappers (Axis2 `BaseConstants`).
pub const PAYLOAD_NS: &str = "http://ws.apache.org/commons/ns/payload";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SoapVersion {
    /// Plain XML: written without the envelope.
    Pox,
    Soap11,
    Soap12,
}

/// A SOAP envelope (or the implicit envelope of a POX message).
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    pub version: SoapVersion,
    pub header: Vec<Element>,
    pub body: Vec<Element>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    Empty,
    /// Not built yet (the content type lives in the message context).
    Raw(Bytes),
    Json(serde_json::Value),
    Xml(Envelope),
    Text(String),
    Binary(Bytes),
}

#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("malformed JSON body: {0}")]
    Json(String),
    #[error("malformed XML body: {0}")]
    Xml(String),
    #[error("body is not valid UTF-8")]
    Utf8,
    #[error("body too deeply nested")]
    TooDeep,
    /// Building the body would take more memory than its size allows (see [`TreeCost`]).
    #[error("body's tree would take more than {0} bytes of memory")]
    TreeTooLarge(usize),
    #[error("cannot format the XML body as JSON: {0}")]
    NotJson(#[from] json_xml::FormatError),
}

impl From<xml::XmlError> for PayloadError {
    fn from(e: xml::XmlError) -> Self {
        match e {
            xml::XmlError::TooDeep(_) => PayloadError::TooDeep,
            xml::XmlError::TreeTooLarge(n) => PayloadError::TreeTooLarge(n),
            other => PayloadError::Xml(other.to_string()),
        }
    }
}

/// What kind of body a media type announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaKind {
    Json,
    /// `application/xml`, `text/xml`, `+xml`.
    Xml,
    /// `application/soap+xml`.
    Soap12,
    Form,
    Text,
    Binary,
}

/// The media type without parameters, lower-cased (`"Application/JSON; charset=x"` →
/// `"application/json"`).
pub fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Classify a content type.
pub fn media_kind(content_type: &str) -> MediaKind {
    let mt = media_type(content_type);
    match mt.as_str() {
        "application/json" | "text/json" | "application/javascript" => MediaKind::Json,
        "application/xml" | "text/xml" => MediaKind::Xml,
        "application/soap+xml" => MediaKind::Soap12,
        "application/x-www-form-urlencoded" => MediaKind::Form,
        m if m.ends_with("+json") => MediaKind::Json,
        m if m.ends_with("+xml") => MediaKind::Xml,
        m if m.starts_with("text/") => MediaKind::Text,
        _ => MediaKind::Binary,
    }
}

/// Build a payload from bytes by content type (JSON, XML, SOAP 1.1/1.2, form, text; anything
/// else binary). An empty body is `Payload::Empty`. DOCTYPEs and entity declarations are refused.
///
/// Without a content type the body is sniffed: `{`/`[` → JSON, `<` → XML, else binary.
pub fn build(bytes: &[u8], content_type: Option<&str>) -> Result<Payload, PayloadError> {
    build_with(bytes, content_type, xml::XmlLimits::default())
}

/// [`build`] with explicit XML limits.
pub fn build_with(
    bytes: &[u8],
    content_type: Option<&str>,
    limits: xml::XmlLimits,
) -> Result<Payload, PayloadError> {
    if bytes.is_empty() {
        return Ok(Payload::Empty);
    }
    let kind = match content_type {
        Some(ct) => media_kind(ct),
        None => sniff(bytes),
    };
    match kind {
        MediaKind::Json => {
            let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(Payload::Empty);
            }
            if TreeCost::json(bytes) > limits.max_tree_bytes {
                return Err(PayloadError::TreeTooLarge(limits.max_tree_bytes));
            }
            let v: serde_json::Value =
                serde_json::from_slice(bytes).map_err(|e| PayloadError::Json(e.to_string()))?;
            Ok(Payload::Json(v))
        }
        MediaKind::Xml | MediaKind::Soap12 => {
            let text = std::str::from_utf8(bytes).map_err(|_| PayloadError::Utf8)?;
            let text = text.strip_prefix('\u{feff}').unwrap_or(text);
            if text.trim().is_empty() {
                return Ok(Payload::Empty);
            }
            let root = xml::parse_with(text, limits)?;
            Ok(Payload::Xml(Envelope::from_root(root)))
        }
        MediaKind::Form => Ok(Payload::Xml(Envelope::pox(form::build(bytes)))),
        MediaKind::Text => {
            let text = std::str::from_utf8(bytes).map_err(|_| PayloadError::Utf8)?;
            Ok(Payload::Text(text.to_string()))
        }
        MediaKind::Binary => Ok(Payload::Binary(Bytes::copy_from_slice(bytes))),
    }
}

/// The memory a body's tree costs, estimated so that a body can be refused before its tree
/// outgrows a budget proportional to its size.
///
/// Two forms are counted. The built payload (an XML tree, or a JSON value) is estimated while
/// it is built, and building stops once over the budget. The XPath view (a document built over
/// the payload whenever an XPath reads the body, with, for JSON, the body's XML form besides)
/// is estimated from the built payload before it is made, and must fit beside it. The
/// constants are calibrated against real allocations, peaks included: a test measures the heap
/// while a sequence builds the densest bodies there are (`[1,1,…]`, `<a/><a/>…`, attributes,
/// long namespace names) and runs XPaths over them, and checks that what is accepted stays
/// within its budget.
#[derive(Clone, Copy, Debug)]
pub struct TreeCost;

impl TreeCost {
    /// One JSON value as built (the value, its slot in its parent, a number's digits).
    pub const JSON_VALUE: usize = 192;
    /// One element, attribute, text, comment or namespace declaration of an XML tree.
    pub const XML_NODE: usize = 384;
    /// One node of the XPath view.
    pub const VIEW_NODE: usize = 512;
    /// One JSON value in the XPath view: its XML element and text in the body's XML form, and
    /// both again in the view.
    pub const JSON_VIEW_VALUE: usize = 2 * Self::XML_NODE + 2 * Self::VIEW_NODE;
    /// Smallest budget of any body.
    pub const FLOOR: usize = 8 * 1024 * 1024;

    /// Bytes of names and text (held in the tree and again in the view).
    pub fn text(len: usize) -> usize {
        len.saturating_mul(2)
    }
    /// A name: namespace URI, prefix and local name.
    pub fn name(q: &xml::QName) -> usize {
        Self::text(q.ns.len() + q.prefix.len() + q.local.len())
    }
    /// The budget of a body of `len` bytes: `factor` times its size, and never less than
    /// [`TreeCost::FLOOR`] (small bodies are always built).
    pub fn budget(len: usize, factor: usize) -> usize {
        len.saturating_mul(factor).max(Self::FLOOR)
    }
    /// The values of a JSON text, counted in one pass without building anything (each `[`,
    /// `{`, `,` and `:` outside strings starts one).
    fn json_values(bytes: &[u8]) -> usize {
        let mut n = 1usize;
        let mut in_str = false;
        let mut esc = false;
        for &b in bytes {
            if in_str {
                if esc {
                    esc = false;
                } else if b == b'\\' {
                    esc = true;
                } else if b == b'"' {
                    in_str = false;
                }
            } else {
                match b {
                    b'"' => in_str = true,
                    b'[' | b'{' | b',' | b':' => n += 1,
                    _ => {}
                }
            }
        }
        n
    }
    /// Estimate of a JSON text once built.
    pub fn json(bytes: &[u8]) -> usize {
        Self::json_values(bytes)
            .saturating_mul(Self::JSON_VALUE)
            .saturating_add(Self::text(bytes.len()))
    }
    /// Estimate of the built payload and the XPath view over it, together.
    pub fn with_view(payload: &Payload) -> usize {
        match payload {
            Payload::Json(v) => {
                let (values, text) = json_size(v);
                values
                    .saturating_mul(Self::JSON_VALUE + Self::JSON_VIEW_VALUE)
                    .saturating_add(Self::text(text).saturating_mul(3))
            }
            Payload::Xml(env) => {
                let (nodes, text) = env
                    .header
                    .iter()
                    .chain(env.body.iter())
                    .map(xml_size)
                    .fold((0usize, 0usize), |(n, t), (a, b)| {
                        (n.saturating_add(a), t.saturating_add(b))
                    });
                nodes
                    .saturating_mul(Self::XML_NODE + Self::VIEW_NODE)
                    .saturating_add(Self::text(text).saturating_mul(2))
            }
            Payload::Text(t) => Self::text(t.len()).saturating_mul(2),
            Payload::Binary(b) | Payload::Raw(b) => b.len().saturating_mul(4),
            Payload::Empty => 0,
        }
    }
}

/// Values and bytes of text (keys, strings, numbers) of a JSON value, without recursion.
fn json_size(v: &serde_json::Value) -> (usize, usize) {
    let (mut values, mut text) = (0usize, 0usize);
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        values += 1;
        match v {
            serde_json::Value::Array(a) => stack.extend(a.iter()),
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    text += k.len();
                    stack.push(v);
                }
            }
            serde_json::Value::String(s) => text += s.len(),
            serde_json::Value::Number(n) => text += n.as_str().len(),
            _ => text += 5,
        }
    }
    (values, text)
}

/// Nodes (elements, attributes, namespace declarations, texts) and bytes of names and text of
/// an XML element, without recursion.
fn xml_size(e: &Element) -> (usize, usize) {
    let (mut nodes, mut text) = (0usize, 0usize);
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        nodes += 1 + e.attributes.len() + e.namespaces.len();
        text += e.name.ns.len() + e.name.prefix.len() + e.name.local.len();
        for a in &e.attributes {
            text += a.name.ns.len() + a.name.local.len() + a.value.len();
        }
        for c in &e.children {
            match c {
                xml::Node::Element(c) => stack.push(c),
                xml::Node::Text(t) | xml::Node::Comment(t) => {
                    nodes += 1;
                    text += t.len();
                }
                xml::Node::Pi { target, data } => {
                    nodes += 1;
                    text += target.len() + data.len();
                }
            }
        }
    }
    (nodes, text)
}

fn sniff(bytes: &[u8]) -> MediaKind {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{' | b'[') => MediaKind::Json,
        Some(b'<') => MediaKind::Xml,
        _ => MediaKind::Binary,
    }
}

/// Format a payload for the wire by `messageType` (`application/json`, `application/xml`,
/// `text/xml`, `application/soap+xml`, `application/x-www-form-urlencoded`, `text/plain`, …).
/// Returns the bytes and the Content-Type to send.
pub fn serialize(payload: &Payload, message_type: &str) -> Result<(Bytes, String), PayloadError> {
    if let Payload::Raw(b) = payload {
        return Ok((b.clone(), message_type.to_string()));
    }
    let mt = media_type(message_type);
    let ct = message_type.trim().to_string();
    let kind = if mt.is_empty() {
        match payload {
            Payload::Json(_) => MediaKind::Json,
            Payload::Xml(e) if e.version == SoapVersion::Soap12 => MediaKind::Soap12,
            Payload::Xml(_) => MediaKind::Xml,
            Payload::Text(_) => MediaKind::Text,
            _ => MediaKind::Binary,
        }
    } else {
        media_kind(&mt)
    };
    let ct_or = |default: &str| {
        if mt.is_empty() {
            default.to_string()
        } else {
            ct.clone()
        }
    };
    if matches!(payload, Payload::Empty) {
        let ct = if kind == MediaKind::Form {
            form::CONTENT_TYPE.to_string()
        } else {
            ct
        };
        return Ok((Bytes::new(), ct));
    }
    let out = match kind {
        MediaKind::Json => {
            let text = match payload {
                Payload::Json(v) => v.to_string(),
                Payload::Text(t) => t.clone(),
                Payload::Binary(b) => return Ok((b.clone(), ct_or("application/json"))),
                Payload::Xml(env) => match env.body.first() {
                    Some(e) => json_xml::xml_to_json_string(e)?,
                    None => String::new(),
                },
                other => match to_json(other) {
                    Some(v) => v.to_string(),
                    None => String::new(),
                },
            };
            (Bytes::from(text), ct_or("application/json"))
        }
        MediaKind::Xml if mt == "text/xml" => {
            let env = to_envelope(payload);
            (
                Bytes::from(env.to_xml_as(SoapVersion::Soap11)),
                ct_or("text/xml"),
            )
        }
        MediaKind::Xml => {
            let env = to_envelope(payload);
            let text = match env.body.first() {
                Some(e) => e.to_xml(),
                None => String::new(),
            };
            (Bytes::from(text), ct_or("application/xml"))
        }
        MediaKind::Soap12 => {
            let env = to_envelope(payload);
            (
                Bytes::from(env.to_xml_as(SoapVersion::Soap12)),
                ct_or("application/soap+xml"),
            )
        }
        MediaKind::Form => {
            let env = to_envelope(payload);
            (
                Bytes::from(form::format(env.body.first())),
                form::CONTENT_TYPE.to_string(),
            )
        }
        MediaKind::Text => {
            let text = match payload {
                Payload::Text(t) => t.clone(),
                Payload::Json(v) => v.to_string(),
                Payload::Binary(b) => return Ok((b.clone(), ct_or("text/plain"))),
                other => {
                    let env = to_envelope(other);
                    match env.body.first() {
                        Some(e) if e.name.is(PAYLOAD_NS, "text") => e.string_value(),
                        Some(e) => e.string_value(),
                        None => String::new(),
                    }
                }
            };
            (Bytes::from(text), ct_or("text/plain"))
        }
        MediaKind::Binary => match payload {
            Payload::Binary(b) => (b.clone(), ct_or("application/octet-stream")),
            Payload::Text(t) => (Bytes::from(t.clone()), ct_or("text/plain")),
            Payload::Json(v) => (Bytes::from(v.to_string()), ct_or("application/json")),
            other => {
                let env = to_envelope(other);
                match env.body.first() {
                    Some(e) if e.name.is(PAYLOAD_NS, "binary") => {
                        let bytes = base64::engine::general_purpose::STANDARD
                            .decode(e.string_value().trim())
                            .unwrap_or_default();
                        (Bytes::from(bytes), ct)
                    }
                    Some(e) => (Bytes::from(e.to_xml()), ct_or("application/xml")),
                    None => (Bytes::new(), ct),
                }
            }
        },
    };
    Ok(out)
}

/// The XML view of a payload as XPath sees it: the SOAP envelope (JSON as `jsonObject`, text as
/// `<text xmlns="http://ws.apache.org/commons/ns/payload">`).
pub fn to_envelope(payload: &Payload) -> Envelope {
    match payload {
        Payload::Empty => Envelope::empty(),
        Payload::Xml(env) => env.clone(),
        Payload::Json(v) => Envelope::pox(json_xml::json_to_xml(v)),
        Payload::Text(t) => {
            Envelope::pox(Element::new(QName::new(PAYLOAD_NS, "", "text")).with_text(t.clone()))
        }
        Payload::Binary(b) => Envelope::pox(
            Element::new(QName::new(PAYLOAD_NS, "", "binary"))
                .with_text(base64::engine::general_purpose::STANDARD.encode(b)),
        ),
        Payload::Raw(b) => match build(b, None) {
            Ok(Payload::Raw(_)) | Err(_) => Envelope::empty(),
            Ok(p) => to_envelope(&p),
        },
    }
}

/// The JSON view of a payload as `json-eval` sees it (XML converted; `None` when empty).
pub fn to_json(payload: &Payload) -> Option<serde_json::Value> {
    match payload {
        Payload::Empty => None,
        Payload::Json(v) => Some(v.clone()),
        Payload::Xml(env) => env.body.first().map(json_xml::xml_to_json),
        Payload::Text(_) | Payload::Binary(_) => None,
        Payload::Raw(b) => match build(b, None) {
            Ok(Payload::Raw(_)) | Err(_) => None,
            Ok(p) => to_json(&p),
        },
    }
}

// === impl Envelope ===

impl Envelope {
    /// An empty POX envelope.
    pub fn empty() -> Self {
        Envelope {
            version: SoapVersion::Pox,
            header: Vec::new(),
            body: Vec::new(),
        }
    }
    /// Plain XML in an implicit envelope.
    pub fn pox(root: Element) -> Self {
        Envelope {
            version: SoapVersion::Pox,
            header: Vec::new(),
            body: vec![root],
        }
    }
    /// A parsed document: a SOAP 1.1/1.2 `Envelope` is taken apart, anything else is POX.
    pub fn from_root(root: Element) -> Self {
        let version = if root.name.is(SOAP11_NS, "Envelope") {
            SoapVersion::Soap11
        } else if root.name.is(SOAP12_NS, "Envelope") {
            SoapVersion::Soap12
        } else {
            return Envelope::pox(root);
        };
        let ns = root.name.ns.clone();
        let mut header = Vec::new();
        let mut body = Vec::new();
        // namespace declarations on the envelope stay in scope for its content
        let outer = root.namespaces.clone();
        for c in root.children {
            if let Node::Element(part) = c {
                let part_ns = part.namespaces.clone();
                let target = if part.name.is(&ns, "Header") {
                    &mut header
                } else if part.name.is(&ns, "Body") {
                    &mut body
                } else {
                    continue;
                };
                for n in part.children {
                    if let Node::Element(mut e) = n {
                        inherit_namespaces(&mut e, &outer, &part_ns);
                        target.push(e);
                    }
                }
            }
        }
        Envelope {
            version,
            header,
            body,
        }
    }
    pub fn namespace(&self) -> &'static str {
        match self.version {
            SoapVersion::Soap12 => SOAP12_NS,
            _ => SOAP11_NS,
        }
    }
    /// The first element of the body.
    pub fn first_body_element(&self) -> Option<&Element> {
        self.body.first()
    }
    /// The whole envelope as a document element (`soapenv:Envelope`, `Header` when non-empty,
    /// `Body`), in this envelope's version (POX → SOAP 1.1).
    pub fn to_element(&self) -> Element {
        let ns = self.namespace();
        let mut env = Element::new(QName::new(ns, "soapenv", "Envelope"));
        env.namespaces.push(("soapenv".into(), ns.into()));
        if !self.header.is_empty() {
            let mut h = Element::new(QName::new(ns, "soapenv", "Header"));
            for e in &self.header {
                h.push(e.clone());
            }
            env.push(h);
        }
        let mut b = Element::new(QName::new(ns, "soapenv", "Body"));
        for e in &self.body {
            b.push(e.clone());
        }
        env.push(b);
        env
    }
    /// Serialize as a SOAP envelope of the given version (`Pox` → SOAP 1.1).
    pub fn to_xml_as(&self, version: SoapVersion) -> String {
        let mut e = self.clone();
        e.version = match version {
            SoapVersion::Soap12 => SoapVersion::Soap12,
            _ => SoapVersion::Soap11,
        };
        e.to_element().to_xml()
    }
}

/// Copy namespace declarations from the envelope and header/body onto an extracted child, for
/// the prefixes it does not itself (re)declare, so it stays self-contained.
fn inherit_namespaces(e: &mut Element, outer: &[(String, String)], part: &[(String, String)]) {
    for (p, u) in outer.iter().chain(part.iter()).rev() {
        if !e.namespaces.iter().any(|(q, _)| q == p) && uses_prefix(e, p) {
            e.namespaces.push((p.clone(), u.clone()));
        }
    }
}

fn uses_prefix(e: &Element, p: &str) -> bool {
    if p.is_empty() {
        return false;
    }
    e.name.prefix == p
        || e.attributes.iter().any(|a| a.name.prefix == p)
        || e.child_elements().any(|c| uses_prefix(c, p))
}

#[cfg(test)]
mod tests;
