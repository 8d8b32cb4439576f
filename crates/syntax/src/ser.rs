//! Serialize an inline XML fragment (a `payloadFactory` `<format>` child, an inline property
//! value) the way Synapse hands it on: the element with the namespace bindings it uses made
//! explicit (as Axiom writes an element of a larger document on its own; an unused binding of an
//! ancestor, such as the configuration's default Synapse namespace, is left out), whitespace-only
//! text dropped, comments and processing instructions gone. Whitespace-only text is kept where
//! it means something: inside `xsl:text` (an XSLT stylesheet's literal text, the only
//! whitespace-only text XSLT does not strip from a stylesheet) and under `xml:space="preserve"`.

use crate::xml::{Document, Element, Node};

pub(crate) fn element(doc: &Document<'_>, el: &Element<'_>) -> String {
    let mut out = String::new();
    write_element(doc, el, true, false, &mut out);
    out
}

const XSLT_NS: &str = "http://www.w3.org/1999/XSL/Transform";

/// Whether whitespace-only text inside `el` is kept: `xsl:text`, or `xml:space="preserve"` on
/// it or inherited (`"default"` ends it).
fn preserves(el: &Element<'_>, inherited: bool) -> bool {
    if el.ns == XSLT_NS && &el.qname[el.local_at..] == "text" {
        return true;
    }
    match el.attrs.iter().find(|a| a.qname == "xml:space") {
        Some(a) => a.value == "preserve",
        None => inherited,
    }
}

fn write_element(
    doc: &Document<'_>,
    el: &Element<'_>,
    top: bool,
    inherited: bool,
    out: &mut String,
) {
    let keep_space = preserves(el, inherited);
    out.push('<');
    out.push_str(&el.qname);
    for a in &el.attrs {
        out.push(' ');
        out.push_str(&a.qname);
        out.push_str("=\"");
        escape_attr(&a.value, out);
        out.push('"');
    }
    if top {
        for (prefix, uri) in doc.in_scope(el.scope) {
            // as Axiom writes an element on its own: only the bindings the fragment uses
            if !uses_prefix(el, &prefix) {
                continue;
            }
            let declared_here = el.attrs.iter().any(|a| {
                if prefix.is_empty() {
                    a.qname == "xmlns"
                } else {
                    a.qname.strip_prefix("xmlns:") == Some(prefix.as_str())
                }
            });
            if declared_here || uri.is_empty() {
                continue;
            }
            if prefix.is_empty() {
                out.push_str(" xmlns=\"");
            } else {
                out.push_str(" xmlns:");
                out.push_str(&prefix);
                out.push_str("=\"");
            }
            escape_attr(&uri, out);
            out.push('"');
        }
    }
    let has_content = el.children.iter().any(|c| match c {
        Node::Element(_) | Node::Pi(_) => true,
        Node::Text { text, cdata, .. } => {
            *cdata || !text.trim().is_empty() || (keep_space && !text.is_empty())
        }
    });
    if !has_content {
        out.push_str("/>");
        return;
    }
    out.push('>');
    for c in &el.children {
        match c {
            Node::Element(e) => write_element(doc, e, false, keep_space, out),
            Node::Pi(p) => {
                out.push_str("<?");
                out.push_str(p);
                out.push_str("?>");
            }
            Node::Text {
                text, cdata: true, ..
            } => {
                out.push_str("<![CDATA[");
                out.push_str(text);
                out.push_str("]]>");
            }
            Node::Text { text, .. } => {
                if keep_space || !text.trim().is_empty() {
                    escape_text(text, out);
                }
            }
        }
    }
    out.push_str("</");
    out.push_str(&el.qname);
    out.push('>');
}

/// Whether the fragment needs the binding of `prefix` (`""` = the default namespace): an element
/// or attribute name uses it, or, for a prefix, `prefix:` appears in an attribute value or text
/// (a QName or an XPath inside the fragment).
fn uses_prefix(el: &Element<'_>, prefix: &str) -> bool {
    let name_uses = |qname: &str| match qname.split_once(':') {
        Some((p, _)) => p == prefix,
        None => prefix.is_empty(),
    };
    let mentions = |text: &str| {
        !prefix.is_empty()
            && text.match_indices(prefix).any(|(i, _)| {
                text[i + prefix.len()..].starts_with(':')
                    && !text[..i]
                        .chars()
                        .next_back()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '.')
            })
    };
    if name_uses(&el.qname) {
        return true;
    }
    for a in &el.attrs {
        if a.qname == "xmlns" || a.qname.starts_with("xmlns:") {
            continue;
        }
        if (a.qname.contains(':') && name_uses(&a.qname)) || mentions(&a.value) {
            return true;
        }
    }
    el.children.iter().any(|c| match c {
        Node::Element(e) => uses_prefix(e, prefix),
        Node::Text { text, .. } => mentions(text),
        Node::Pi(_) => false,
    })
}

fn escape_text(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
}

fn escape_attr(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}
