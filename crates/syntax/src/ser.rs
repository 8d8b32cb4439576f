//! Serialize an inline XML fragment (a `payloadFactory` `<format>` child, an inline property
//! value) the way Synapse hands it on: the element with every namespace binding in scope made
//! explicit, whitespace-only text dropped, comments and processing instructions gone.

use crate::xml::{Document, Element, Node};

pub(crate) fn element(doc: &Document<'_>, el: &Element<'_>) -> String {
    let mut out = String::new();
    write_element(doc, el, true, &mut out);
    out
}

fn write_element(doc: &Document<'_>, el: &Element<'_>, top: bool, out: &mut String) {
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
        Node::Text { text, cdata, .. } => *cdata || !text.trim().is_empty(),
    });
    if !has_content {
        out.push_str("/>");
        return;
    }
    out.push('>');
    for c in &el.children {
        match c {
            Node::Element(e) => write_element(doc, e, false, out),
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
                if !text.trim().is_empty() {
                    escape_text(text, out);
                }
            }
        }
    }
    out.push_str("</");
    out.push_str(&el.qname);
    out.push('>');
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
