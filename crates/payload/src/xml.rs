//! A small owned XML DOM (quick-xml based), `Send + Sync`.
//!
//! [`parse`] refuses DOCTYPEs (so no entity declarations and no entity expansion, ever), rejects
//! unknown entity references, enforces a depth limit and resolves namespaces itself.
//! [`Element::to_xml`] serializes with the namespace declarations needed to make the fragment
//! stand alone.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// The `xml` prefix's fixed namespace.
pub const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// A qualified name: namespace URI (empty for none), prefix as written, local name.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct QName {
    pub ns: String,
    pub prefix: String,
    pub local: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    pub name: QName,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    Text(String),
    Comment(String),
    /// A processing instruction inside an element (`<?target data?>`), such as the
    /// `<?xml-multiple?>` array marker of the JSON conversion.
    Pi {
        target: String,
        data: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Element {
    pub name: QName,
    pub attributes: Vec<Attribute>,
    /// Namespace declarations written on this element (`prefix`, `uri`; `""` = default).
    pub namespaces: Vec<(String, String)>,
    pub children: Vec<Node>,
}

/// Limits applied while parsing untrusted XML.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XmlLimits {
    /// Maximum element nesting depth.
    pub max_depth: usize,
    /// Maximum input size in bytes.
    pub max_bytes: usize,
    /// Maximum attributes (namespace declarations included) on one element. Keeps every
    /// per-element cost (duplicate checks, the XPath view's attribute lists) bounded, so that
    /// building a tree stays linear in the size of the document.
    pub max_attributes: usize,
    /// Most memory the built tree may take, as [`crate::TreeCost`] estimates it while
    /// building (the XPath view over it included). Over it the parse stops with
    /// [`XmlError::TreeTooLarge`] before allocating more.
    pub max_tree_bytes: usize,
}

impl Default for XmlLimits {
    fn default() -> Self {
        XmlLimits {
            max_depth: 256,
            max_bytes: 64 * 1024 * 1024,
            max_attributes: DEFAULT_MAX_ATTRIBUTES,
            max_tree_bytes: usize::MAX,
        }
    }
}

/// Default of [`XmlLimits::max_attributes`].
pub const DEFAULT_MAX_ATTRIBUTES: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("{message} at byte {position}")]
    Syntax { message: String, position: usize },
    #[error("DOCTYPE declarations are not allowed")]
    Doctype,
    #[error("unknown entity reference &{0};")]
    UnknownEntity(String),
    #[error("undeclared namespace prefix {0:?}")]
    UndeclaredPrefix(String),
    #[error("document nested deeper than {0} elements")]
    TooDeep(usize),
    #[error("document larger than {0} bytes")]
    TooLarge(usize),
    #[error("an element with more than {0} attributes")]
    TooManyAttributes(usize),
    #[error("document's tree would take more than {0} bytes of memory")]
    TreeTooLarge(usize),
    #[error("no root element")]
    NoRoot,
    #[error("content after the root element")]
    TrailingContent,
}

// === impl QName ===

impl QName {
    pub fn new(ns: impl Into<String>, prefix: impl Into<String>, local: impl Into<String>) -> Self {
        QName {
            ns: ns.into(),
            prefix: prefix.into(),
            local: local.into(),
        }
    }
    /// A name in no namespace.
    pub fn local(local: impl Into<String>) -> Self {
        QName::new("", "", local)
    }
    /// `prefix:local` or `local`.
    pub fn qualified(&self) -> String {
        if self.prefix.is_empty() {
            self.local.clone()
        } else {
            format!("{}:{}", self.prefix, self.local)
        }
    }
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.ns == ns && self.local == local
    }
}

// === impl Element ===

impl Element {
    pub fn new(name: QName) -> Self {
        Element {
            name,
            ..Default::default()
        }
    }
    /// An element in no namespace.
    pub fn local(local: impl Into<String>) -> Self {
        Element::new(QName::local(local))
    }
    /// An element with a single text child.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        let text = text.into();
        if !text.is_empty() {
            self.children.push(Node::Text(text));
        }
        self
    }
    pub fn push(&mut self, child: Element) {
        self.children.push(Node::Element(child));
    }
    pub fn child_elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }
    pub fn first_child_element(&self) -> Option<&Element> {
        self.child_elements().next()
    }
    /// The first child element with this namespace and local name.
    pub fn find(&self, ns: &str, local: &str) -> Option<&Element> {
        self.child_elements().find(|e| e.name.is(ns, local))
    }
    pub fn attribute(&self, local: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.name.ns.is_empty() && a.name.local == local)
            .map(|a| a.value.as_str())
    }
    /// The concatenated direct text children.
    pub fn direct_text(&self) -> String {
        let mut s = String::new();
        for n in &self.children {
            if let Node::Text(t) = n {
                s.push_str(t);
            }
        }
        s
    }
    /// The XPath string value: all descendant text.
    pub fn string_value(&self) -> String {
        fn walk(e: &Element, out: &mut String) {
            for n in &e.children {
                match n {
                    Node::Text(t) => out.push_str(t),
                    Node::Element(c) => walk(c, out),
                    Node::Comment(_) | Node::Pi { .. } => {}
                }
            }
        }
        let mut s = String::new();
        walk(self, &mut s);
        s
    }
    pub fn has_child_elements(&self) -> bool {
        self.children.iter().any(|n| matches!(n, Node::Element(_)))
    }

    /// Serialize as a standalone fragment: the namespace declarations the element carries plus
    /// any needed for the names used in it.
    pub fn to_xml(&self) -> String {
        let mut out = String::new();
        self.write_xml(&mut out, &mut NsScope::default());
        out
    }

    /// Serialize inside an already written context whose bindings are `scope`.
    pub fn write_xml(&self, out: &mut String, scope: &mut NsScope) {
        let mark = scope.bindings.len();
        out.push('<');
        let qn = self.name.qualified();
        out.push_str(&qn);
        for (p, u) in &self.namespaces {
            let bound = scope
                .lookup(p)
                .or(if p.is_empty() { Some("") } else { None });
            if bound != Some(u.as_str()) {
                write_ns_decl(out, p, u);
                scope.bindings.push((p.clone(), u.clone()));
            }
        }
        if self.name.prefix != "xml" && scope.lookup(&self.name.prefix) != Some(&self.name.ns) {
            // the default namespace is "" when nothing is bound
            if !(self.name.prefix.is_empty()
                && self.name.ns.is_empty()
                && scope.lookup("").is_none())
            {
                write_ns_decl(out, &self.name.prefix, &self.name.ns);
                scope
                    .bindings
                    .push((self.name.prefix.clone(), self.name.ns.clone()));
            }
        }
        for a in &self.attributes {
            if !a.name.prefix.is_empty()
                && a.name.prefix != "xml"
                && scope.lookup(&a.name.prefix) != Some(&a.name.ns)
            {
                write_ns_decl(out, &a.name.prefix, &a.name.ns);
                scope
                    .bindings
                    .push((a.name.prefix.clone(), a.name.ns.clone()));
            }
        }
        for a in &self.attributes {
            out.push(' ');
            out.push_str(&a.name.qualified());
            out.push_str("=\"");
            escape_attr_into(out, &a.value);
            out.push('"');
        }
        if self.children.is_empty() {
            out.push_str("/>");
        } else {
            out.push('>');
            for c in &self.children {
                match c {
                    Node::Element(e) => e.write_xml(out, scope),
                    Node::Text(t) => escape_text_into(out, t),
                    Node::Comment(t) => {
                        out.push_str("<!--");
                        out.push_str(t);
                        out.push_str("-->");
                    }
                    Node::Pi { target, data } => {
                        out.push_str("<?");
                        out.push_str(target);
                        if !data.is_empty() {
                            out.push(' ');
                            out.push_str(data);
                        }
                        out.push_str("?>");
                    }
                }
            }
            out.push_str("</");
            out.push_str(&qn);
            out.push('>');
        }
        scope.bindings.truncate(mark);
    }
}

/// The namespace bindings in scope while serializing.
#[derive(Clone, Debug, Default)]
pub struct NsScope {
    bindings: Vec<(String, String)>,
}

impl NsScope {
    pub fn lookup(&self, prefix: &str) -> Option<&str> {
        if prefix == "xml" {
            return Some(XML_NS);
        }
        self.bindings
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, u)| u.as_str())
    }
    pub fn push(&mut self, prefix: impl Into<String>, uri: impl Into<String>) {
        self.bindings.push((prefix.into(), uri.into()));
    }
}

fn write_ns_decl(out: &mut String, prefix: &str, uri: &str) {
    if prefix.is_empty() {
        out.push_str(" xmlns=\"");
    } else {
        let _ = write!(out, " xmlns:{prefix}=\"");
    }
    escape_attr_into(out, uri);
    out.push('"');
}

/// Escape character data (`&`, `<`, `>`).
pub fn escape_text_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

/// Escape an attribute value (double-quoted).
pub fn escape_attr_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
}

/// Escape text for XML content.
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_text_into(&mut out, s);
    out
}

// === parse ===

/// Parse a document and return its root element.
pub fn parse(text: &str) -> Result<Element, XmlError> {
    parse_with(text, XmlLimits::default())
}

/// Parse with explicit limits.
pub fn parse_with(text: &str, limits: XmlLimits) -> Result<Element, XmlError> {
    if text.len() > limits.max_bytes {
        return Err(XmlError::TooLarge(limits.max_bytes));
    }
    Parser::new(text, limits).run()
}

/// Parse a fragment: a sequence of elements and text (e.g. a payloadFactory argument), with
/// extra in-scope namespace bindings. Returns the top-level nodes.
pub fn parse_fragment(text: &str, namespaces: &[(String, String)]) -> Result<Vec<Node>, XmlError> {
    let mut p = Parser::new(text, XmlLimits::default());
    p.fragment = true;
    for (pfx, uri) in namespaces {
        p.push_ns(pfx.clone(), uri.clone());
    }
    p.base_ns = p.ns.len();
    p.run_fragment()
}

struct Parser<'a> {
    reader: Reader<&'a [u8]>,
    text: &'a str,
    limits: XmlLimits,
    /// In-scope bindings (prefix, uri); the element stack records how many each pushed.
    ns: Vec<(String, String)>,
    /// Per prefix, the positions in `ns` binding it (innermost last): lookups cost the same
    /// however many bindings are in scope.
    ns_index: HashMap<String, Vec<usize>>,
    base_ns: usize,
    /// Open elements (with the ns stack length before their declarations).
    stack: Vec<(Element, usize)>,
    fragment: bool,
    /// Estimated memory of what has been built so far (see [`crate::TreeCost`]).
    tree_bytes: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str, limits: XmlLimits) -> Self {
        let mut reader = Reader::from_str(text);
        let cfg = reader.config_mut();
        cfg.check_end_names = true;
        cfg.expand_empty_elements = false;
        cfg.trim_text(false);
        Parser {
            reader,
            text,
            limits,
            ns: Vec::new(),
            ns_index: HashMap::new(),
            base_ns: 0,
            stack: Vec::new(),
            fragment: false,
            tree_bytes: 0,
        }
    }

    /// Account for `bytes` more of tree; fail once over the budget.
    fn grow(&mut self, bytes: usize) -> Result<(), XmlError> {
        self.tree_bytes = self.tree_bytes.saturating_add(bytes);
        if self.tree_bytes > self.limits.max_tree_bytes {
            return Err(XmlError::TreeTooLarge(self.limits.max_tree_bytes));
        }
        Ok(())
    }

    fn syntax(&self, message: impl Into<String>) -> XmlError {
        XmlError::Syntax {
            message: message.into(),
            position: self.reader.buffer_position() as usize,
        }
    }

    fn run(mut self) -> Result<Element, XmlError> {
        let mut root: Option<Element> = None;
        loop {
            let ev = self.next_event()?;
            match ev {
                Step::Eof => break,
                Step::Closed(e) => {
                    if root.is_some() {
                        return Err(XmlError::TrailingContent);
                    }
                    root = Some(e);
                }
                Step::TopText(t) => {
                    if !t.trim().is_empty() {
                        return Err(self.syntax("text outside the root element"));
                    }
                }
                Step::Nothing => {}
            }
        }
        if !self.stack.is_empty() {
            return Err(self.syntax("unclosed element at end of input"));
        }
        root.ok_or(XmlError::NoRoot)
    }

    fn run_fragment(mut self) -> Result<Vec<Node>, XmlError> {
        let mut nodes = Vec::new();
        loop {
            match self.next_event()? {
                Step::Eof => break,
                Step::Closed(e) => nodes.push(Node::Element(e)),
                Step::TopText(t) => match nodes.last_mut() {
                    Some(Node::Text(prev)) => prev.push_str(&t),
                    _ => nodes.push(Node::Text(t)),
                },
                Step::Nothing => {}
            }
        }
        if !self.stack.is_empty() {
            return Err(self.syntax("unclosed element at end of input"));
        }
        Ok(nodes)
    }

    fn add_text(&mut self, t: &str) -> Result<Step, XmlError> {
        if t.is_empty() {
            return Ok(Step::Nothing);
        }
        let joins = matches!(
            self.stack.last().and_then(|(el, _)| el.children.last()),
            Some(Node::Text(_))
        );
        let node = if joins { 0 } else { crate::TreeCost::XML_NODE };
        self.grow(node + crate::TreeCost::text(t.len()))?;
        Ok(match self.stack.last_mut() {
            Some((el, _)) => {
                match el.children.last_mut() {
                    Some(Node::Text(prev)) => prev.push_str(t),
                    _ => el.children.push(Node::Text(t.to_string())),
                }
                Step::Nothing
            }
            None => Step::TopText(t.to_string()),
        })
    }

    fn next_event(&mut self) -> Result<Step, XmlError> {
        let ev = self.reader.read_event().map_err(|e| XmlError::Syntax {
            message: e.to_string(),
            position: self.reader.error_position() as usize,
        })?;
        match ev {
            Event::Eof => Ok(Step::Eof),
            Event::DocType(_) => Err(XmlError::Doctype),
            Event::Decl(_) => Ok(Step::Nothing),
            Event::PI(p) => {
                // kept inside elements (the JSON formatter reads `<?xml-multiple?>`); a PI
                // outside the root element is dropped
                if !self.stack.is_empty() {
                    let len = p.target().len() + p.content().len();
                    self.grow(crate::TreeCost::XML_NODE + crate::TreeCost::text(len))?;
                }
                if let Some((el, _)) = self.stack.last_mut() {
                    el.children.push(Node::Pi {
                        target: p.target().to_string(),
                        data: p.content().trim().to_string(),
                    });
                }
                Ok(Step::Nothing)
            }
            Event::Start(s) => {
                let el = self.open(&s)?;
                if self.stack.len() >= self.limits.max_depth {
                    return Err(XmlError::TooDeep(self.limits.max_depth));
                }
                self.stack.push(el);
                Ok(Step::Nothing)
            }
            Event::Empty(s) => {
                let (el, mark) = self.open(&s)?;
                if self.stack.len() >= self.limits.max_depth {
                    return Err(XmlError::TooDeep(self.limits.max_depth));
                }
                self.truncate_ns(mark);
                Ok(self.close(el))
            }
            Event::End(_) => match self.stack.pop() {
                Some((el, mark)) => {
                    self.truncate_ns(mark);
                    Ok(self.close(el))
                }
                None => Err(self.syntax("unexpected end tag")),
            },
            Event::Text(t) => {
                let s = t.xml10_content();
                self.add_text(&s)
            }
            Event::CData(c) => {
                let s = c.xml10_content();
                let s = s.into_owned();
                if self.stack.is_empty() && !self.fragment {
                    return Err(self.syntax("CDATA outside the root element"));
                }
                self.add_text(&s)
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => {
                        let name = r.xml10_content();
                        match &*name {
                            "lt" => "<".to_string(),
                            "gt" => ">".to_string(),
                            "amp" => "&".to_string(),
                            "apos" => "'".to_string(),
                            "quot" => "\"".to_string(),
                            other => return Err(XmlError::UnknownEntity(other.to_string())),
                        }
                    }
                    Err(e) => return Err(self.syntax(e.to_string())),
                };
                self.add_text(&resolved)
            }
            Event::Comment(c) => {
                if !self.stack.is_empty() {
                    self.grow(crate::TreeCost::XML_NODE + crate::TreeCost::text(c.len()))?;
                }
                if let Some((el, _)) = self.stack.last_mut() {
                    el.children
                        .push(Node::Comment(c.xml10_content().into_owned()));
                }
                Ok(Step::Nothing)
            }
        }
    }

    fn close(&mut self, el: Element) -> Step {
        match self.stack.last_mut() {
            Some((parent, _)) => {
                parent.children.push(Node::Element(el));
                Step::Nothing
            }
            None => Step::Closed(el),
        }
    }

    fn lookup(&self, prefix: &str) -> Option<&str> {
        if prefix == "xml" {
            return Some(XML_NS);
        }
        let i = *self.ns_index.get(prefix)?.last()?;
        self.ns.get(i).map(|(_, u)| u.as_str())
    }

    fn push_ns(&mut self, prefix: String, uri: String) {
        self.ns_index
            .entry(prefix.clone())
            .or_default()
            .push(self.ns.len());
        self.ns.push((prefix, uri));
    }

    /// Drop the bindings from position `mark` on.
    fn truncate_ns(&mut self, mark: usize) {
        while self.ns.len() > mark {
            let Some((p, _)) = self.ns.pop() else { break };
            if let Some(v) = self.ns_index.get_mut(&p) {
                v.pop();
                if v.is_empty() {
                    self.ns_index.remove(&p);
                }
            }
        }
    }

    /// Open an element: read its namespace declarations and attributes.
    fn open(&mut self, s: &BytesStart<'_>) -> Result<(Element, usize), XmlError> {
        let _ = self.text;
        let mark = self.ns.len();
        let raw_name = s.name().into_inner().to_string();
        let mut decls = Vec::new();
        let mut attrs: Vec<(String, String)> = Vec::new();
        // duplicate names are found with a set (quick-xml's own check compares every pair)
        let mut seen: HashSet<&str> = HashSet::new();
        let max = self.limits.max_attributes;
        for a in s.attributes().with_checks(false) {
            let a = a.map_err(|e| self.syntax(e.to_string()))?;
            if seen.len() >= max {
                return Err(XmlError::TooManyAttributes(max));
            }
            let raw_key = a.key.into_inner();
            if !seen.insert(raw_key) {
                return Err(self.syntax(format!("duplicate attribute {raw_key:?}")));
            }
            let key = raw_key;
            let value = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| match e {
                    quick_xml::Error::Escape(
                        quick_xml::escape::EscapeError::UnrecognizedEntity(_, name),
                    ) => XmlError::UnknownEntity(name),
                    other => self.syntax(other.to_string()),
                })?;
            if key == "xmlns" {
                decls.push((String::new(), value.into_owned()));
            } else if let Some(p) = key.strip_prefix("xmlns:") {
                if value.is_empty() {
                    return Err(self.syntax(format!("empty namespace for prefix {p:?}")));
                }
                decls.push((p.to_string(), value.into_owned()));
            } else {
                attrs.push((key.to_string(), value.into_owned()));
            }
        }
        for (p, u) in &decls {
            self.push_ns(p.clone(), u.clone());
        }
        let name = self.resolve(&raw_name, true)?;
        let mut cost = crate::TreeCost::XML_NODE + crate::TreeCost::name(&name);
        for (p, u) in &decls {
            cost += crate::TreeCost::XML_NODE + crate::TreeCost::text(p.len() + u.len());
        }
        let mut attributes = Vec::with_capacity(attrs.len());
        for (k, v) in attrs {
            let name = self.resolve(&k, false)?;
            cost += crate::TreeCost::XML_NODE
                + crate::TreeCost::name(&name)
                + crate::TreeCost::text(v.len());
            attributes.push(Attribute { name, value: v });
        }
        self.grow(cost)?;
        Ok((
            Element {
                name,
                attributes,
                namespaces: decls,
                children: Vec::new(),
            },
            mark,
        ))
    }

    fn resolve(&self, raw: &str, element: bool) -> Result<QName, XmlError> {
        match raw.split_once(':') {
            Some((p, l)) => {
                if p.is_empty() || l.is_empty() || l.contains(':') {
                    return Err(self.syntax(format!("invalid name {raw:?}")));
                }
                let ns = self
                    .lookup(p)
                    .ok_or_else(|| XmlError::UndeclaredPrefix(p.to_string()))?;
                Ok(QName::new(ns, p, l))
            }
            None => {
                if raw.is_empty() {
                    return Err(self.syntax("empty name"));
                }
                let ns = if element {
                    self.lookup("").unwrap_or("")
                } else {
                    ""
                };
                Ok(QName::new(ns, "", raw))
            }
        }
    }
}

enum Step {
    Eof,
    Nothing,
    Closed(Element),
    TopText(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(input: &str, expect: &str) {
        let e = parse(input).unwrap_or_else(|err| panic!("{input}: {err}"));
        assert_eq!(e.to_xml(), expect, "input: {input}");
    }

    #[test]
    fn parses_and_serializes() {
        for (i, o) in [
            ("<a/>", "<a/>"),
            ("<a>x &amp; &lt;y&gt; &#65;&#x42;</a>", "<a>x &amp; &lt;y&gt; AB</a>"),
            (
                "<?xml version='1.0'?><p:a xmlns:p='urn:p' p:at='1' b=\"&quot;\"><p:b/><c xmlns='urn:d'/></p:a>",
                "<p:a xmlns:p=\"urn:p\" p:at=\"1\" b=\"&quot;\"><p:b/><c xmlns=\"urn:d\"/></p:a>",
            ),
            ("<a><![CDATA[<x>]]></a>", "<a>&lt;x&gt;</a>"),
            ("<a><!--c--> t </a>", "<a><!--c--> t </a>"),
            ("<r xmlns=''><g>x</g></r>", "<r><g>x</g></r>"),
        ] {
            roundtrip(i, o);
        }
    }

    #[test]
    fn subtree_serialization_declares_namespaces() {
        let e = parse("<s:E xmlns:s='urn:s'><s:B><s:x a='1'/></s:B></s:E>").unwrap();
        let body = e.first_child_element().unwrap();
        assert_eq!(body.to_xml(), "<s:B xmlns:s=\"urn:s\"><s:x a=\"1\"/></s:B>");
    }

    #[test]
    fn refuses_bad_input() {
        let cases: &[(&str, &str)] = &[
            ("<!DOCTYPE a [<!ENTITY x 'y'>]><a>&x;</a>", "DOCTYPE"),
            ("<a>&lol;</a>", "unknown entity"),
            ("<a b='&lol;'/>", "unknown entity"),
            ("<a><b></a>", "at byte"),
            ("<a>", "unclosed"),
            ("", "no root"),
            ("<a/><b/>", "after the root"),
            ("<p:a/>", "undeclared"),
            ("<a x='1' x='2'/>", "at byte"),
            ("text", "outside"),
        ];
        for (input, want) in cases {
            let err = parse(input).expect_err(input).to_string();
            assert!(err.contains(want), "{input}: {err}");
        }
    }

    #[test]
    fn depth_limit() {
        let deep = "<a>".repeat(300) + &"</a>".repeat(300);
        assert_eq!(parse(&deep), Err(XmlError::TooDeep(256)));
        let ok = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn size_limit() {
        let limits = XmlLimits {
            max_depth: 10,
            max_bytes: 16,
            max_attributes: 4,
            max_tree_bytes: usize::MAX,
        };
        assert_eq!(
            parse_with("<a>0123456789abcdef</a>", limits),
            Err(XmlError::TooLarge(16))
        );
        assert!(parse_with("<a>0123</a>", limits).is_ok());
    }

    #[test]
    fn attribute_limit_and_duplicates() {
        let attrs = |n: usize| (0..n).map(|i| format!(" a{i}='v'")).collect::<String>();
        let at_limit = format!("<r{}/>", attrs(DEFAULT_MAX_ATTRIBUTES));
        assert_eq!(parse(&at_limit).unwrap().attributes.len(), 256);
        let over = format!("<r{}/>", attrs(60_000));
        assert_eq!(parse(&over), Err(XmlError::TooManyAttributes(256)));
        // namespace declarations count too
        let decls: String = (0..300).map(|i| format!(" xmlns:p{i}='urn:{i}'")).collect();
        assert_eq!(
            parse(&format!("<r{decls}/>")),
            Err(XmlError::TooManyAttributes(256))
        );
        let dup = format!("<r{} a3='w'/>", attrs(100));
        let err = parse(&dup).unwrap_err().to_string();
        assert!(err.contains("duplicate attribute \"a3\""), "{err}");
    }

    #[test]
    fn namespace_bindings_are_scoped() {
        // an inner binding shadows an outer one and ends with its element
        let e =
            parse("<r xmlns:p='urn:outer'><p:a xmlns:p='urn:inner' p:x='1'/><p:b p:y='2'/></r>")
                .unwrap();
        let kids: Vec<&Element> = e.child_elements().collect();
        assert_eq!(kids[0].name.ns, "urn:inner");
        assert_eq!(kids[0].attributes[0].name.ns, "urn:inner");
        assert_eq!(kids[1].name.ns, "urn:outer");
        assert_eq!(kids[1].attributes[0].name.ns, "urn:outer");
        assert!(matches!(
            parse("<r><a xmlns:q='urn:q'/><q:b/></r>"),
            Err(XmlError::UndeclaredPrefix(_))
        ));
    }

    #[test]
    fn fragment() {
        let nodes = parse_fragment("x<p:a/>y", &[("p".into(), "urn:p".into())]).unwrap();
        assert_eq!(nodes.len(), 3);
    }
}
