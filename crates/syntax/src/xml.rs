//! Phase 1: quick-xml events → a small, owned-or-borrowed element tree with byte spans and
//! namespace scopes. Well-formedness problems become diagnostics here; the typed AST is built
//! from this tree by `parse.rs`.
//!
//! Why not `NsReader`: a namespace error in `NsReader` swallows the event it belongs to, and we
//! need our own stack of bindings anyway (expressions keep a snapshot of the prefixes in scope).
//! We read with `Reader::from_str` and resolve prefixes ourselves.

use std::borrow::Cow;
use std::collections::HashMap;

use quick_xml::events::Event;
use quick_xml::Reader;
use synaptic_diag::{codes, Diagnostic, SourceId, Span};

/// Elements nested deeper than this stop the parse with E0113 (bounds recursion later on).
pub(crate) const MAX_DEPTH: usize = 200;
/// More namespace declarations than this in one document stop the parse with E0113 (bounds
/// prefix resolution, which walks the bindings in scope).
pub(crate) const MAX_NS_BINDINGS: usize = 1024;

pub(crate) const XML_URI: &str = "http://www.w3.org/XML/1998/namespace";

#[derive(Debug)]
pub(crate) struct Element<'a> {
    /// The name as written (`soapenv:Envelope`).
    pub qname: Cow<'a, str>,
    /// Byte offset where the local part starts inside `qname`.
    pub local_at: usize,
    /// Resolved namespace URI (`""` = none).
    pub ns: Cow<'a, str>,
    /// `<` up to the end of the end tag (or of the empty tag).
    pub span: Span,
    /// The name in the start tag.
    pub name_span: Span,
    pub attrs: Vec<Attr<'a>>,
    pub children: Vec<Node<'a>>,
    /// Index into [`Document::scopes`]: the bindings in scope at this element.
    pub scope: usize,
}

#[derive(Debug)]
pub(crate) enum Node<'a> {
    Element(Element<'a>),
    Text {
        text: Cow<'a, str>,
        span: Span,
        cdata: bool,
    },
    /// A processing instruction inside an element, as written between `<?` and `?>` (kept for
    /// templates: `<?xml-multiple?>` steers the JSON formatter).
    Pi(Cow<'a, str>),
}

#[derive(Debug)]
pub(crate) struct Attr<'a> {
    pub qname: Cow<'a, str>,
    pub name_span: Span,
    /// Unescaped and normalized value.
    pub value: Cow<'a, str>,
    /// The raw value between the quotes.
    pub value_span: Span,
}

/// Namespace bindings declared on one element, linked to the enclosing scope.
#[derive(Debug)]
pub(crate) struct Scope<'a> {
    pub parent: Option<usize>,
    pub bindings: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

#[derive(Debug, Default)]
pub(crate) struct Document<'a> {
    pub root: Option<Element<'a>>,
    pub scopes: Vec<Scope<'a>>,
}

impl<'a> Element<'a> {
    pub fn local(&self) -> &str {
        self.qname.get(self.local_at..).unwrap_or("")
    }
    pub fn elements(&self) -> impl Iterator<Item = &Element<'a>> {
        self.children.iter().filter_map(|c| match c {
            Node::Element(e) => Some(e),
            Node::Text { .. } | Node::Pi(_) => None,
        })
    }
    pub fn attr(&self, name: &str) -> Option<&Attr<'a>> {
        self.attrs.iter().find(|a| a.qname == name)
    }
}

impl<'a> Attr<'a> {
    pub fn is_xmlns(&self) -> bool {
        self.qname == "xmlns" || self.qname.starts_with("xmlns:")
    }
    pub fn prefix(&self) -> Option<&str> {
        self.qname.split_once(':').map(|(p, _)| p)
    }
}

impl<'a> Document<'a> {
    /// The URI bound to `prefix` (`""` = default namespace) at `scope`.
    pub fn resolve(&self, mut scope: usize, prefix: &str) -> Option<&str> {
        if prefix == "xml" {
            return Some(XML_URI);
        }
        loop {
            let s = self.scopes.get(scope)?;
            if let Some((_, uri)) = s.bindings.iter().rev().find(|(p, _)| p == prefix) {
                return Some(uri);
            }
            scope = s.parent?;
        }
    }

    fn resolve_cow(&self, mut scope: usize, prefix: &str) -> Option<&Cow<'a, str>> {
        loop {
            let s = self.scopes.get(scope)?;
            if let Some((_, uri)) = s.bindings.iter().rev().find(|(p, _)| p == prefix) {
                return Some(uri);
            }
            scope = s.parent?;
        }
    }

    /// Every binding in scope, outermost first, innermost last, each prefix once (innermost wins).
    pub fn in_scope(&self, scope: usize) -> Vec<(String, String)> {
        let mut chain = Vec::new();
        let mut cur = Some(scope);
        while let Some(i) = cur {
            match self.scopes.get(i) {
                Some(s) => {
                    chain.push(i);
                    cur = s.parent;
                }
                None => break,
            }
        }
        // innermost first, keeping the first binding of each prefix, then outermost first
        let mut seen = std::collections::HashSet::new();
        let mut out: Vec<(String, String)> = Vec::new();
        for &i in &chain {
            for (p, u) in self.scopes[i].bindings.iter().rev() {
                if seen.insert(p.as_ref()) {
                    out.push((p.to_string(), u.to_string()));
                }
            }
        }
        out.reverse();
        out
    }
}

// === reading ===

struct Open<'a> {
    el: Element<'a>,
}

struct Builder<'a> {
    src: SourceId,
    text: &'a str,
    diags: Vec<Diagnostic>,
    doc: Document<'a>,
    stack: Vec<Open<'a>>,
    ns_bindings: usize,
}

/// Read `text` into a [`Document`]. Stops at the first well-formedness error (one diagnostic at
/// its position, whatever was built so far is kept).
pub(crate) fn read(src: SourceId, text: &str) -> (Document<'_>, Vec<Diagnostic>) {
    let base = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let body = &text[base..];
    let mut b = Builder {
        src,
        text,
        diags: Vec::new(),
        doc: Document::default(),
        stack: Vec::new(),
        ns_bindings: 0,
    };
    let mut reader = Reader::from_str(body);
    {
        let cfg = reader.config_mut();
        cfg.check_end_names = true;
        cfg.allow_unmatched_ends = false;
        cfg.expand_empty_elements = false;
        cfg.trim_text(false);
    }
    let mut root_done = false;
    loop {
        let before = reader.buffer_position() as usize + base;
        let ev = match reader.read_event() {
            Ok(ev) => ev,
            Err(e) => {
                let at = reader.error_position() as usize + base;
                let msg = xml_error_message(&e);
                b.diags.push(Diagnostic::error(
                    codes::E0101,
                    b.span(at, (at + 1).min(text.len())),
                    format!("malformed XML: {msg}"),
                ));
                b.unwind();
                break;
            }
        };
        let after = reader.buffer_position() as usize + base;
        match ev {
            Event::Start(e) | Event::Empty(e) if root_done && b.stack.is_empty() => {
                let _ = e;
                b.diags.push(Diagnostic::error(
                    codes::E0101,
                    b.span(before, after),
                    "malformed XML: a second root element (a document has exactly one)",
                ));
                break;
            }
            Event::Start(e) => {
                if b.stack.len() >= MAX_DEPTH {
                    b.diags.push(Diagnostic::error(
                        codes::E0113,
                        b.span(before, after),
                        format!("elements nested deeper than {MAX_DEPTH} levels"),
                    ));
                    b.unwind();
                    break;
                }
                let el = b.start(&e, before, after);
                b.stack.push(Open { el });
                if b.too_many_bindings(before, after) {
                    break;
                }
            }
            Event::Empty(e) => {
                if b.stack.len() >= MAX_DEPTH {
                    b.diags.push(Diagnostic::error(
                        codes::E0113,
                        b.span(before, after),
                        format!("elements nested deeper than {MAX_DEPTH} levels"),
                    ));
                    b.unwind();
                    break;
                }
                let el = b.start(&e, before, after);
                root_done |= b.close(el);
                if b.too_many_bindings(before, after) {
                    break;
                }
            }
            Event::End(_) => {
                if let Some(open) = b.stack.pop() {
                    let mut el = open.el;
                    el.span.end = after as u32;
                    root_done |= b.close(el);
                }
            }
            Event::Text(t) => {
                let raw_start = b.offset_of(&t).unwrap_or(before);
                let raw = b.reborrow(&t);
                let value = b.unescape(raw, raw_start);
                b.text_node(value, before, after, false);
            }
            Event::CData(t) => {
                let value = b.reborrow(&t.into_inner());
                b.text_node(value, before, after, true);
            }
            Event::GeneralRef(r) => {
                let name: &str = &r;
                let value = match resolve_ref(name) {
                    Some(c) => c,
                    None => {
                        b.diags.push(Diagnostic::error(
                            codes::E0102,
                            b.span(before, after),
                            format!(
                                "unknown entity `&{name};`: entities are never expanded (only \
                                 the five predefined ones and character references are allowed)"
                            ),
                        ));
                        String::new()
                    }
                };
                b.text_node(Cow::Owned(value), before, after, false);
            }
            Event::DocType(_) => {
                b.diags.push(Diagnostic::error(
                    codes::E0102,
                    b.span(before, after),
                    "DOCTYPE declarations are not allowed (no DTDs, no entity declarations, \
                     no entity expansion)",
                ));
            }
            Event::PI(p) => {
                if let Some(open) = b.stack.last_mut() {
                    open.el
                        .children
                        .push(Node::Pi(Cow::Owned(p.into_inner().into_owned())));
                }
            }
            Event::Decl(_) | Event::Comment(_) => {}
            Event::Eof => {
                if let Some(open) = b.stack.last() {
                    let name = open.el.qname.to_string();
                    let span = open.el.name_span;
                    b.diags.push(Diagnostic::error(
                        codes::E0101,
                        span,
                        format!("malformed XML: element <{name}> is never closed"),
                    ));
                    b.unwind();
                } else if b.doc.root.is_none() {
                    b.diags.push(Diagnostic::error(
                        codes::E0101,
                        b.span(after, after),
                        "malformed XML: no root element",
                    ));
                }
                break;
            }
        }
    }
    (b.doc, b.diags)
}

fn xml_error_message(e: &quick_xml::Error) -> String {
    let s = e.to_string();
    // quick-xml messages are lower-case already; drop a trailing period if any.
    s.trim_end_matches('.').to_string()
}

fn resolve_ref(name: &str) -> Option<String> {
    let c = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => {
            let num = name.strip_prefix('#')?;
            let code = if let Some(hex) = num.strip_prefix('x') {
                u32::from_str_radix(hex, 16).ok()?
            } else {
                num.parse::<u32>().ok()?
            };
            let c = char::from_u32(code)?;
            if c == '\0' {
                return None;
            }
            c
        }
    };
    Some(c.to_string())
}

impl<'a> Builder<'a> {
    /// A span clamped to the input and widened to character boundaries.
    fn span(&self, start: usize, end: usize) -> Span {
        let len = self.text.len();
        let mut start = start.min(len);
        while start > 0 && !self.text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = end.clamp(start, len);
        while end < len && !self.text.is_char_boundary(end) {
            end += 1;
        }
        Span::new(self.src, start, end)
    }

    /// Byte offset of a borrowed sub-slice of the input.
    fn offset_of(&self, s: &str) -> Option<usize> {
        let base = self.text.as_ptr() as usize;
        let p = s.as_ptr() as usize;
        if p >= base && p + s.len() <= base + self.text.len() {
            Some(p - base)
        } else {
            None
        }
    }

    /// Re-borrow a slice of the input with the input's lifetime when possible.
    fn reborrow(&self, s: &str) -> Cow<'a, str> {
        match self.offset_of(s) {
            Some(off) => match self.text.get(off..off + s.len()) {
                Some(t) => Cow::Borrowed(t),
                None => Cow::Owned(s.to_string()),
            },
            None => Cow::Owned(s.to_string()),
        }
    }

    fn text_node(&mut self, value: Cow<'a, str>, start: usize, end: usize, cdata: bool) {
        let span = self.span(start, end);
        match self.stack.last_mut() {
            Some(open) => {
                // merge adjacent text (text, a reference, more text)
                if !cdata {
                    if let Some(Node::Text {
                        text,
                        span: s,
                        cdata: false,
                    }) = open.el.children.last_mut()
                    {
                        if s.end as usize == start {
                            text.to_mut().push_str(&value);
                            s.end = span.end;
                            return;
                        }
                    }
                }
                open.el.children.push(Node::Text {
                    text: value,
                    span,
                    cdata,
                });
            }
            None => {
                if cdata || !value.trim().is_empty() {
                    self.diags.push(Diagnostic::error(
                        codes::E0101,
                        span,
                        "malformed XML: text outside the root element",
                    ));
                }
            }
        }
    }

    /// Attach a finished element to its parent (or make it the root). Returns true for the root.
    fn close(&mut self, el: Element<'a>) -> bool {
        match self.stack.last_mut() {
            Some(parent) => {
                parent.el.children.push(Node::Element(el));
                false
            }
            None => {
                self.doc.root = Some(el);
                true
            }
        }
    }

    fn too_many_bindings(&mut self, before: usize, after: usize) -> bool {
        if self.ns_bindings <= MAX_NS_BINDINGS {
            return false;
        }
        self.diags.push(Diagnostic::error(
            codes::E0113,
            self.span(before, after),
            format!("more than {MAX_NS_BINDINGS} namespace declarations in one document"),
        ));
        self.unwind();
        true
    }

    /// Close every open element (after an error or at EOF) so the partial tree is kept.
    fn unwind(&mut self) {
        while let Some(open) = self.stack.pop() {
            let mut el = open.el;
            el.span.end = self.text.len() as u32;
            self.close(el);
        }
    }

    fn start(
        &mut self,
        e: &quick_xml::events::BytesStart<'_>,
        before: usize,
        after: usize,
    ) -> Element<'a> {
        let qname = self.reborrow(e.name().into_inner());
        let name_start = before + 1;
        let name_span = self.span(name_start, name_start + qname.len());
        let content_start = before + 1;
        let mut attrs: Vec<Attr<'a>> = Vec::new();
        let mut bindings: Vec<(Cow<'a, str>, Cow<'a, str>)> = Vec::new();
        // our own duplicate check (a hash set): quick-xml's is quadratic in the attribute count
        let mut seen: HashMap<Cow<'a, str>, Span> = HashMap::new();
        for a in e.attributes().with_checks(false) {
            match a {
                Ok(a) => {
                    let key = self.reborrow(a.key.into_inner());
                    let (raw, raw_start) = match self.offset_of(&a.value) {
                        Some(off) => (self.reborrow(&a.value), off),
                        None => (Cow::Owned(a.value.to_string()), before),
                    };
                    let name_span = match self.offset_of(a.key.into_inner()) {
                        Some(off) => self.span(off, off + key.len()),
                        None => self.span(before, after),
                    };
                    if let Some(first) = seen.get(&key) {
                        self.diags.push(
                            Diagnostic::error(
                                codes::E0107,
                                name_span,
                                format!("duplicate attribute `{key}` (the first one is used)"),
                            )
                            .with_label(*first, "first given here"),
                        );
                        continue;
                    }
                    seen.insert(key.clone(), name_span);
                    let value_span = self.span(raw_start, raw_start + raw.len());
                    let value = self.attr_value(raw, raw_start);
                    if key == "xmlns" {
                        bindings.push((Cow::Borrowed(""), value.clone()));
                    } else if let Some(p) = key.strip_prefix("xmlns:") {
                        let p: Cow<'a, str> = match &key {
                            Cow::Borrowed(k) => Cow::Borrowed(&k[6..]),
                            Cow::Owned(_) => Cow::Owned(p.to_string()),
                        };
                        bindings.push((p, value.clone()));
                    }
                    attrs.push(Attr {
                        qname: key,
                        name_span,
                        value,
                        value_span,
                    });
                }
                Err(err) => {
                    use quick_xml::events::attributes::AttrError;
                    let (pos, msg) = match &err {
                        AttrError::Duplicated(p, _) => (*p, err.to_string()),
                        AttrError::ExpectedEq(p)
                        | AttrError::ExpectedValue(p)
                        | AttrError::UnquotedValue(p)
                        | AttrError::ExpectedQuote(p, _) => (*p, err.to_string()),
                    };
                    let at = content_start + pos;
                    self.diags.push(Diagnostic::error(
                        codes::E0101,
                        self.span(at, at + 1),
                        format!("malformed XML: {}", msg.trim_end_matches('.')),
                    ));
                    break;
                }
            }
        }
        self.ns_bindings += bindings.len();
        let parent_scope = self.stack.last().map(|o| o.el.scope);
        let scope = if bindings.is_empty() {
            match parent_scope {
                Some(s) => s,
                None => {
                    self.doc.scopes.push(Scope {
                        parent: None,
                        bindings,
                    });
                    self.doc.scopes.len() - 1
                }
            }
        } else {
            self.doc.scopes.push(Scope {
                parent: parent_scope,
                bindings,
            });
            self.doc.scopes.len() - 1
        };
        let local_at = qname.find(':').map(|i| i + 1).unwrap_or(0);
        let prefix = if local_at == 0 {
            ""
        } else {
            &qname[..local_at - 1]
        };
        let ns: Cow<'a, str> = match self.doc.resolve_cow(scope, prefix) {
            Some(u) if u == crate::SYNAPSE_NS => Cow::Borrowed(crate::SYNAPSE_NS),
            Some(u) => u.clone(),
            None if prefix.is_empty() => Cow::Borrowed(""),
            None => {
                self.diags.push(Diagnostic::error(
                    codes::E0101,
                    name_span,
                    format!("malformed XML: undeclared namespace prefix `{prefix}`"),
                ));
                Cow::Borrowed("")
            }
        };
        Element {
            qname,
            local_at,
            ns,
            span: self.span(before, after),
            name_span,
            attrs,
            children: Vec::new(),
            scope,
        }
    }

    /// Unescape an attribute value and apply XML attribute-value normalization (tab, CR, LF →
    /// space). Unknown entities are E0102 and expand to nothing.
    fn attr_value(&mut self, raw: Cow<'a, str>, raw_start: usize) -> Cow<'a, str> {
        self.unescape_with(raw, raw_start, true)
    }

    fn unescape(&mut self, raw: impl Into<Cow<'a, str>>, raw_start: usize) -> Cow<'a, str> {
        self.unescape_with(raw.into(), raw_start, false)
    }

    /// Resolve references; with `normalize`, literal tab/CR/LF (CRLF as one) become spaces
    /// while character references keep the character they name (XML attribute-value
    /// normalization).
    fn unescape_with(
        &mut self,
        raw: Cow<'a, str>,
        raw_start: usize,
        normalize: bool,
    ) -> Cow<'a, str> {
        let normalize = normalize && raw.contains(['\t', '\n', '\r']);
        if !raw.contains('&') && !normalize {
            return raw;
        }
        let push = |out: &mut String, lit: &str| {
            if normalize {
                out.push_str(&lit.replace("\r\n", " ").replace(['\t', '\n', '\r'], " "));
            } else {
                out.push_str(lit);
            }
        };
        let mut out = String::with_capacity(raw.len());
        let mut rest: &str = &raw;
        let mut pos = raw_start;
        while let Some(i) = rest.find('&') {
            push(&mut out, &rest[..i]);
            let after_amp = &rest[i + 1..];
            let end = after_amp.find(';').filter(|&e| e <= 32);
            match end {
                Some(e) => {
                    let name = &after_amp[..e];
                    let at = pos + i;
                    match resolve_ref(name) {
                        Some(c) => out.push_str(&c),
                        None => self.diags.push(Diagnostic::error(
                            codes::E0102,
                            self.span(at, at + e + 2),
                            format!(
                                "unknown entity `&{name};`: entities are never expanded (only \
                                 the five predefined ones and character references are allowed)"
                            ),
                        )),
                    }
                    rest = &after_amp[e + 1..];
                    pos = at + e + 2;
                }
                None => {
                    let at = pos + i;
                    self.diags.push(Diagnostic::error(
                        codes::E0101,
                        self.span(at, at + 1),
                        "malformed XML: `&` must start a reference such as `&amp;`",
                    ));
                    out.push('&');
                    rest = after_amp;
                    pos = at + 1;
                }
            }
        }
        push(&mut out, rest);
        Cow::Owned(out)
    }
}
