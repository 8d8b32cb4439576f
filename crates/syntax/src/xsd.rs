//! The schema documents a WSDL or a schema points at: the `schemaLocation` of each XML Schema
//! `<import>`, `<include>` and `<redefine>` (what Apache XmlSchema calls a schema's externals),
//! with where its value is written, so that a published WSDL and the schemas it imports can be
//! served with their locations rewritten (see `synaptic_engine`'s published WSDLs).

use std::ops::Range;

use synaptic_diag::SourceId;

use crate::xml::{Element, Node};

/// The XML Schema namespace.
pub const XSD_NS: &str = "http://www.w3.org/2001/XMLSchema";

/// One `<xsd:import>`, `<xsd:include>` or `<xsd:redefine>` with a `schemaLocation`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct External {
    /// The location, unescaped and trimmed.
    pub location: String,
    /// The raw value between the quotes, in bytes of the document.
    pub at: Range<usize>,
}

/// A document read for its externals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Externals {
    /// Whether the root element is an `<xsd:schema>`.
    pub is_schema: bool,
    /// The externals in document order.
    pub externals: Vec<External>,
    /// Whether the root element is a WSDL 1.1 `<definitions>`.
    pub is_wsdl11: bool,
    /// A WSDL 1.1 document's `<wsdl:import location>`s, in document order (the `location`
    /// unescaped and trimmed, where its value is written).
    pub imports: Vec<External>,
}

/// The externals of `text` (a WSDL document: those of the schemas of its types; a schema:
/// its own), in document order. `Err`: the text is not well-formed XML.
pub fn externals(text: &str) -> Result<Externals, String> {
    let (doc, diags) = crate::xml::read(SourceId(u32::MAX), text);
    if let Some(d) = diags.iter().find(|d| d.is_error()) {
        return Err(d.message.clone());
    }
    let Some(root) = &doc.root else {
        return Err("the document has no root element".to_string());
    };
    let mut out = Vec::new();
    walk(root, &mut out);
    let is_wsdl11 = root.ns == crate::wsdl::WSDL11_NS && root.local() == "definitions";
    let imports = root
        .elements()
        .filter(|c| is_wsdl11 && c.ns == crate::wsdl::WSDL11_NS && c.local() == "import")
        .filter_map(|c| c.attr("location"))
        .map(|a| External {
            location: a.value.trim().to_string(),
            at: a.value_span.start as usize..a.value_span.end as usize,
        })
        .collect();
    Ok(Externals {
        is_schema: root.ns == XSD_NS && root.local() == "schema",
        externals: out,
        is_wsdl11,
        imports,
    })
}

fn walk(el: &Element<'_>, out: &mut Vec<External>) {
    let is_schema = el.ns == XSD_NS && el.local() == "schema";
    for c in &el.children {
        let Node::Element(c) = c else { continue };
        if is_schema && c.ns == XSD_NS && matches!(c.local(), "import" | "include" | "redefine") {
            if let Some(a) = c.attr("schemaLocation") {
                out.push(External {
                    location: a.value.trim().to_string(),
                    at: a.value_span.start as usize..a.value_span.end as usize,
                });
            }
            continue;
        }
        walk(c, out);
    }
}

/// `text` with the raw values at the given ranges (in order, not overlapping) replaced by
/// the given locations, escaped for either quote.
pub fn rewrite(text: &str, changes: &[(Range<usize>, String)]) -> String {
    let mut out = String::with_capacity(text.len() + changes.len() * 16);
    let mut at = 0;
    for (r, v) in changes {
        out.push_str(&text[at..r.start]);
        for ch in v.chars() {
            match ch {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&apos;"),
                c => out.push(c),
            }
        }
        at = r.end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_externals_of_the_schemas_of_a_wsdl_in_order() {
        let w = r#"<w:definitions xmlns:w="http://schemas.xmlsoap.org/wsdl/" xmlns:x="http://www.w3.org/2001/XMLSchema">
  <w:import namespace="urn:w" location="other.wsdl"/>
  <w:types><x:schema><x:import namespace="urn:a" schemaLocation=" a.xsd "/><x:include schemaLocation='b&amp;c.xsd'/><x:import namespace="urn:n"/></x:schema>
  <schema xmlns="http://www.w3.org/2001/XMLSchema"><redefine schemaLocation="d.xsd"/><element name="import"/></schema></w:types>
</w:definitions>"#;
        let e = externals(w).unwrap();
        assert!(!e.is_schema);
        assert!(e.is_wsdl11);
        assert_eq!(e.imports.len(), 1);
        assert_eq!(e.imports[0].location, "other.wsdl");
        assert_eq!(&w[e.imports[0].at.clone()], "other.wsdl");
        let locs: Vec<_> = e.externals.iter().map(|x| x.location.as_str()).collect();
        assert_eq!(locs, ["a.xsd", "b&c.xsd", "d.xsd"]);
        assert_eq!(&w[e.externals[1].at.clone()], "b&amp;c.xsd");
        let changed = rewrite(
            w,
            &[
                (e.externals[0].at.clone(), "P?xsd=a.xsd".into()),
                (e.externals[1].at.clone(), "P?xsd=b&c.xsd".into()),
            ],
        );
        assert!(
            changed.contains(r#"schemaLocation="P?xsd=a.xsd""#),
            "{changed}"
        );
        assert!(
            changed.contains("schemaLocation='P?xsd=b&amp;c.xsd'"),
            "{changed}"
        );
        assert!(changed.contains(r#"location="other.wsdl""#));
    }

    #[test]
    fn a_schema_is_told_from_other_documents() {
        let s = r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:include schemaLocation="b.xsd"/></xs:schema>"#;
        let e = externals(s).unwrap();
        assert!(e.is_schema);
        assert!(!e.is_wsdl11 && e.imports.is_empty());
        assert_eq!(e.externals.len(), 1);
        assert!(!externals("<schema/>").unwrap().is_schema);
        assert!(externals("<a>").is_err());
    }
}
