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
    /// Whether the root element is a WSDL 2.0 `<description>`.
    pub is_wsdl20: bool,
    /// A WSDL 1.1 document's `<wsdl:import location>`s, or a WSDL 2.0 document's
    /// `<import location>`s and `<include location>`s, in document order (the `location`
    /// unescaped and trimmed, where its value is written; an empty one reads nothing and is
    /// left out).
    pub imports: Vec<External>,
    /// A WSDL document's port addresses, in document order: of a WSDL 1.1 service's ports,
    /// the `location` of `soap:address`, `soap12:address` and `http:address` and the
    /// `Address` of a WS-Addressing `EndpointReference`; of a WSDL 2.0 service's endpoints,
    /// the `address` and an `EndpointReference`'s `Address`.
    pub ports: Vec<PortAddress>,
    /// A WSDL document's schemas (the `xsd:schema`s of its types), each as written with the
    /// namespaces in scope declared on it (a document of its own).
    pub schemas: Vec<String>,
}

/// The address of a WSDL port (a WSDL 2.0 endpoint).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortAddress {
    /// The port's name.
    pub port: String,
    /// The address, unescaped and trimmed.
    pub location: String,
    /// Where the address is written: an attribute's raw value, or an `Address` element's
    /// text.
    pub at: Range<usize>,
}

const WSDL11_BINDINGS: [&str; 3] = [
    "http://schemas.xmlsoap.org/wsdl/soap/",
    "http://schemas.xmlsoap.org/wsdl/soap12/",
    "http://schemas.xmlsoap.org/wsdl/http/",
];

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
    let is_wsdl20 = root.ns == crate::wsdl::WSDL20_NS && root.local() == "description";
    let wsdl_ns = if is_wsdl11 {
        crate::wsdl::WSDL11_NS
    } else {
        crate::wsdl::WSDL20_NS
    };
    let wsdl = |e: &Element<'_>, local: &str| e.ns == wsdl_ns && e.local() == local;
    let imports = root
        .elements()
        .filter(|c| {
            (is_wsdl11 && wsdl(c, "import"))
                || (is_wsdl20 && (wsdl(c, "import") || wsdl(c, "include")))
        })
        .filter_map(|c| c.attr("location"))
        .filter(|a| !a.value.trim().is_empty())
        .map(|a| External {
            location: a.value.trim().to_string(),
            at: span_of(a.value_span),
        })
        .collect();
    let mut ports = Vec::new();
    let mut schemas = Vec::new();
    if is_wsdl11 || is_wsdl20 {
        let port = if is_wsdl11 { "port" } else { "endpoint" };
        for p in root
            .elements()
            .filter(|c| wsdl(c, "service"))
            .flat_map(|s| s.elements().filter(|c| wsdl(c, port)))
        {
            let name = p.attr("name").map_or("", |a| a.value.trim());
            let mut push = |location: &str, at: Range<usize>| {
                ports.push(PortAddress {
                    port: name.to_string(),
                    location: location.trim().to_string(),
                    at,
                })
            };
            if is_wsdl20 {
                if let Some(a) = p.attr("address") {
                    push(&a.value, span_of(a.value_span));
                }
            }
            for c in p.elements() {
                if is_wsdl11 && c.local() == "address" && WSDL11_BINDINGS.contains(&c.ns.as_ref()) {
                    if let Some(l) = c.attr("location") {
                        push(&l.value, span_of(l.value_span));
                    }
                } else if c.local() == "EndpointReference" {
                    // as Axis2 finds it: by the local names, whatever their namespace
                    for a in c.elements().filter(|a| a.local() == "Address") {
                        if let Some((location, at)) = text_of(a) {
                            push(&location, at);
                        }
                    }
                }
            }
        }
        for schema in root.elements().filter(|c| wsdl(c, "types")).flat_map(|t| {
            t.elements()
                .filter(|c| c.ns == XSD_NS && c.local() == "schema")
        }) {
            schemas.push(standalone(text, &doc, schema));
        }
    }
    Ok(Externals {
        is_schema: root.ns == XSD_NS && root.local() == "schema",
        externals: out,
        is_wsdl11,
        is_wsdl20,
        imports,
        ports,
        schemas,
    })
}

fn span_of(s: synaptic_diag::Span) -> Range<usize> {
    s.start as usize..s.end as usize
}

/// The text of an element holding text alone (unescaped, with where it is written), `None`
/// when it holds an element or nothing.
fn text_of(el: &Element<'_>) -> Option<(String, Range<usize>)> {
    let mut text = String::new();
    let mut at: Option<Range<usize>> = None;
    for c in &el.children {
        let Node::Text { text: t, span, .. } = c else {
            return None;
        };
        text.push_str(t);
        let r = span_of(*span);
        at = Some(at.map_or(r.clone(), |a| a.start..r.end));
    }
    at.map(|at| (text, at))
}

fn walk(el: &Element<'_>, out: &mut Vec<External>) {
    let is_schema = el.ns == XSD_NS && el.local() == "schema";
    for c in &el.children {
        let Node::Element(c) = c else { continue };
        if is_schema && c.ns == XSD_NS && matches!(c.local(), "import" | "include" | "redefine") {
            // without a `schemaLocation` (or with an empty one) XmlSchema reads nothing: the
            // namespace is one another schema of the document, or the resolver, knows
            if let Some(a) = c
                .attr("schemaLocation")
                .filter(|a| !a.value.trim().is_empty())
            {
                out.push(External {
                    location: a.value.trim().to_string(),
                    at: span_of(a.value_span),
                });
            }
            continue;
        }
        walk(c, out);
    }
}

/// The element `el` of `text` as a document of its own: as written, with the namespace
/// bindings in scope that it does not declare itself declared on its start tag.
fn standalone(text: &str, doc: &crate::xml::Document<'_>, el: &Element<'_>) -> String {
    let span = el.span.start as usize..el.span.end as usize;
    let name_end = el.name_span.end as usize;
    let own: Vec<&str> = el
        .attrs
        .iter()
        .filter(|a| a.is_xmlns())
        .map(|a| a.qname.strip_prefix("xmlns:").unwrap_or(""))
        .collect();
    let mut decls = String::new();
    for (prefix, uri) in doc.in_scope(el.scope) {
        if own.contains(&prefix.as_str()) || prefix == "xml" {
            continue;
        }
        decls.push(' ');
        decls.push_str(if prefix.is_empty() { "xmlns" } else { "xmlns:" });
        decls.push_str(&prefix);
        decls.push_str("=\"");
        for ch in uri.chars() {
            match ch {
                '&' => decls.push_str("&amp;"),
                '<' => decls.push_str("&lt;"),
                '"' => decls.push_str("&quot;"),
                c => decls.push(c),
            }
        }
        decls.push('"');
    }
    format!(
        "{}{decls}{}",
        &text[span.start..name_end],
        &text[name_end..span.end]
    )
}

/// `text` with the raw values at the given ranges (in order, not overlapping) replaced by
/// the given locations, escaped for either quote.
pub fn rewrite(text: &str, changes: &[(Range<usize>, String)]) -> String {
    rewrite_spans(text, changes).0
}

/// [`rewrite`], with where each new value is written in the result.
pub fn rewrite_spans(
    text: &str,
    changes: &[(Range<usize>, String)],
) -> (String, Vec<Range<usize>>) {
    let mut out = String::with_capacity(text.len() + changes.len() * 16);
    let mut spans = Vec::with_capacity(changes.len());
    let mut at = 0;
    for (r, v) in changes {
        out.push_str(&text[at..r.start]);
        let start = out.len();
        for ch in v.chars() {
            match ch {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&apos;"),
                c => out.push(c),
            }
        }
        spans.push(start..out.len());
        at = r.end;
    }
    out.push_str(&text[at..]);
    (out, spans)
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

    /// Each port of `e`, read from `w`: its name, its address, and where it is written.
    fn ports<'a>(w: &'a str, e: &'a Externals) -> Vec<(&'a str, &'a str, &'a str)> {
        e.ports
            .iter()
            .map(|p| (p.port.as_str(), p.location.as_str(), &w[p.at.clone()]))
            .collect()
    }

    #[test]
    fn the_ports_and_schemas_of_a_wsdl_with_their_namespaces() {
        let w = r#"<w:definitions xmlns:w="http://schemas.xmlsoap.org/wsdl/" xmlns:tns="urn:t" xmlns:s="http://schemas.xmlsoap.org/wsdl/soap/">
  <w:types><x:schema xmlns:x="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:t"><x:element name="e" type="tns:T"/></x:schema></w:types>
  <w:service name="S"><w:port name="P1"><s:address location=" http://backend:9000/q "/></w:port>
    <w:port name="P2"><s12:address xmlns:s12="http://schemas.xmlsoap.org/wsdl/soap12/" location="https://b/q"/><other location="x"/></w:port></w:service>
</w:definitions>"#;
        let e = externals(w).unwrap();
        assert_eq!(
            ports(w, &e),
            [
                ("P1", "http://backend:9000/q", " http://backend:9000/q "),
                ("P2", "https://b/q", "https://b/q")
            ]
        );
        assert_eq!(e.schemas.len(), 1);
        let s = &e.schemas[0];
        assert!(
            s.starts_with("<x:schema xmlns:w=\"http://schemas.xmlsoap.org/wsdl/\""),
            "{s}"
        );
        assert!(
            s.contains(r#"xmlns:tns="urn:t""#) && s.ends_with("</x:schema>"),
            "{s}"
        );
        // a document of its own
        assert!(externals(s).unwrap().is_schema);
        let (out, spans) = rewrite_spans(
            "a=\"x\" b=\"y\"",
            &[(3..4, "<1>".into()), (9..10, "".into())],
        );
        assert_eq!(out, "a=\"&lt;1>\" b=\"\"");
        assert_eq!(spans, [3..9, 14..14]);
    }

    #[test]
    fn a_wsdl20_description_imports_includes_endpoints_and_schemas() {
        let w = r#"<description xmlns="http://www.w3.org/ns/wsdl" xmlns:wsa="http://www.w3.org/2005/08/addressing" targetNamespace="urn:t">
  <import namespace="urn:i" location="interfaces/i.wsdl"/><include location=" more.wsdl "/><import namespace="urn:n"/><include location=""/>
  <types><xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:import namespace="urn:a" schemaLocation="a.xsd"/></xs:schema></types>
  <service name="S" interface="tns:I"><endpoint name="E1" binding="tns:B" address="http://backend/s"/>
    <endpoint name="E2" binding="tns:B"><wsa:EndpointReference><wsa:Address> https://b/e2 </wsa:Address></wsa:EndpointReference></endpoint></service>
</description>"#;
        let e = externals(w).unwrap();
        assert!(e.is_wsdl20 && !e.is_wsdl11 && !e.is_schema);
        let imports: Vec<_> = e
            .imports
            .iter()
            .map(|i| (i.location.as_str(), &w[i.at.clone()]))
            .collect();
        assert_eq!(
            imports,
            [
                ("interfaces/i.wsdl", "interfaces/i.wsdl"),
                ("more.wsdl", " more.wsdl ")
            ]
        );
        assert_eq!(
            ports(w, &e),
            [
                ("E1", "http://backend/s", "http://backend/s"),
                ("E2", "https://b/e2", " https://b/e2 ")
            ]
        );
        assert_eq!(e.externals.len(), 1);
        assert_eq!(e.schemas.len(), 1);
        // a WSDL 1.1 document's WSDL 2.0-like children are not its imports
        let w11 = r#"<w:definitions xmlns:w="http://schemas.xmlsoap.org/wsdl/"><include xmlns="http://www.w3.org/ns/wsdl" location="x.wsdl"/><w:import location="  "/></w:definitions>"#;
        assert!(externals(w11).unwrap().imports.is_empty());
    }

    #[test]
    fn an_endpoint_reference_in_a_wsdl11_port_is_an_address() {
        let w = r#"<w:definitions xmlns:w="http://schemas.xmlsoap.org/wsdl/" xmlns:s="http://schemas.xmlsoap.org/wsdl/soap/">
  <w:service name="S"><w:port name="P"><s:address location="http://b/q"/><a:EndpointReference xmlns:a="http://www.w3.org/2005/08/addressing"><a:Address>http://b/q?a=1&amp;b=2</a:Address><a:ReferenceParameters/></a:EndpointReference></w:port>
    <w:port name="Q"><EndpointReference><Address/></EndpointReference><a:Address xmlns:a="http://www.w3.org/2005/08/addressing">http://no</a:Address></w:port></w:service>
</w:definitions>"#;
        let e = externals(w).unwrap();
        assert_eq!(
            ports(w, &e),
            [
                ("P", "http://b/q", "http://b/q"),
                ("P", "http://b/q?a=1&b=2", "http://b/q?a=1&amp;b=2")
            ]
        );
    }

    #[test]
    fn an_import_without_a_schema_location_names_nothing_to_read() {
        let s = r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:import namespace="urn:a"/><xs:import namespace="urn:b" schemaLocation=" "/><xs:include schemaLocation="c.xsd"/></xs:schema>"#;
        let e = externals(s).unwrap();
        let locs: Vec<_> = e.externals.iter().map(|x| x.location.as_str()).collect();
        assert_eq!(locs, ["c.xsd"]);
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
