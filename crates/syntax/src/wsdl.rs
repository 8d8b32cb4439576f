//! WSDL 1.1 documents of `<endpoint><wsdl …/></endpoint>`: the address of a named port of a
//! named service, and the message format its address element asks for — as Synapse's
//! `WSDL11EndpointBuilder` reads them (`soap:address` → SOAP 1.1, `soap12:address` → SOAP 1.2,
//! `http:address` → REST, or a GET when the port's `http:binding` says `verb="GET"`).
//! WSDL 2.0 descriptions are refused, as Synapse refuses them.

use crate::ast::{WsdlFormat, WsdlPort};
use crate::xml::Element;
use synaptic_diag::SourceId;

/// WSDL 1.1.
pub const WSDL11_NS: &str = "http://schemas.xmlsoap.org/wsdl/";
/// WSDL 2.0.
pub const WSDL20_NS: &str = "http://www.w3.org/ns/wsdl";
const SOAP11_BINDING_NS: &str = "http://schemas.xmlsoap.org/wsdl/soap/";
const SOAP12_BINDING_NS: &str = "http://schemas.xmlsoap.org/wsdl/soap12/";
const HTTP_BINDING_NS: &str = "http://schemas.xmlsoap.org/wsdl/http/";

/// Why a port could not be resolved, by what it is about (so that a diagnostic points at the
/// `service=`, the `port=`, or the document).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WsdlProblem {
    /// The document is not a readable WSDL 1.1 document.
    Document(String),
    /// No service of that name.
    Service(String),
    /// No port of that name, or a port without an address.
    Port(String),
}

impl std::fmt::Display for WsdlProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WsdlProblem::Document(m) | WsdlProblem::Service(m) | WsdlProblem::Port(m) => {
                f.write_str(m)
            }
        }
    }
}

/// The port `port` of the service `service` of the WSDL document `text`.
pub fn port_of_document(text: &str, service: &str, port: &str) -> Result<WsdlPort, WsdlProblem> {
    let (doc, diags) = crate::xml::read(SourceId(u32::MAX), text);
    if let Some(d) = diags.iter().find(|d| d.is_error()) {
        return Err(WsdlProblem::Document(format!(
            "the WSDL document is not well-formed XML: {}",
            d.message
        )));
    }
    let Some(root) = &doc.root else {
        return Err(WsdlProblem::Document("the WSDL document is empty".into()));
    };
    match (root.ns.as_ref(), root.local()) {
        (WSDL11_NS, "definitions") => port_in(root, service, port),
        (WSDL20_NS, "description") => Err(WsdlProblem::Document(
            "WSDL 2.0 endpoints are not supported (as in Synapse): describe the service in \
             WSDL 1.1"
                .into(),
        )),
        _ => Err(WsdlProblem::Document(format!(
            "the document is not a WSDL 1.1 <wsdl:definitions> (its root is <{}>)",
            root.qname
        ))),
    }
}

/// An operation of a WSDL 1.1 description, as Axis2 dispatches a request to it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WsdlOperation {
    /// The operation's name (its port type's `<operation name>`).
    pub name: String,
    /// The actions that name it: the `soapAction` of its binding operations (SOAP 1.1 and 1.2)
    /// and the WS-Addressing `Action` of its input, when written.
    pub actions: Vec<String>,
}

/// WS-Addressing's WSDL binding and metadata namespaces (`wsaw:Action`, `wsam:Action`).
const WSA_ACTION_NS: &[&str] = &[
    "http://www.w3.org/2006/05/addressing/wsdl",
    "http://www.w3.org/2007/05/addressing/metadata",
    "http://www.w3.org/2006/02/addressing/wsdl",
];

/// The operations of the WSDL 1.1 document `text` (a proxy service's `<publishWSDL>`), in the
/// order their port types declare them, each once.
pub fn operations_of_document(text: &str) -> Result<Vec<WsdlOperation>, WsdlProblem> {
    let (doc, diags) = crate::xml::read(SourceId(u32::MAX), text);
    if let Some(d) = diags.iter().find(|d| d.is_error()) {
        return Err(WsdlProblem::Document(format!(
            "the WSDL document is not well-formed XML: {}",
            d.message
        )));
    }
    let Some(root) = &doc.root else {
        return Err(WsdlProblem::Document("the WSDL document is empty".into()));
    };
    if (root.ns.as_ref(), root.local()) != (WSDL11_NS, "definitions") {
        return Err(WsdlProblem::Document(format!(
            "the document is not a WSDL 1.1 <wsdl:definitions> (its root is <{}>)",
            root.qname
        )));
    }
    let mut ops: Vec<WsdlOperation> = Vec::new();
    for pt in wsdl_children(root, "portType") {
        for op in wsdl_children(pt, "operation") {
            let name = named(op).trim();
            if name.is_empty() {
                continue;
            }
            let i = match ops.iter().position(|o| o.name == name) {
                Some(i) => i,
                None => {
                    ops.push(WsdlOperation {
                        name: name.to_string(),
                        actions: Vec::new(),
                    });
                    ops.len() - 1
                }
            };
            let wsa = wsdl_children(op, "input").flat_map(|input| {
                input.attrs.iter().filter(|a| {
                    a.prefix().is_some_and(|p| {
                        doc.resolve(input.scope, p)
                            .is_some_and(|ns| WSA_ACTION_NS.contains(&ns))
                    }) && a.qname.ends_with(":Action")
                })
            });
            for a in wsa {
                push_action(&mut ops[i].actions, &a.value);
            }
        }
    }
    for b in wsdl_children(root, "binding") {
        for bop in wsdl_children(b, "operation") {
            let Some(o) = ops.iter_mut().find(|o| o.name == named(bop).trim()) else {
                continue;
            };
            for s in bop.elements().filter(|e| {
                (e.ns == SOAP11_BINDING_NS || e.ns == SOAP12_BINDING_NS) && e.local() == "operation"
            }) {
                if let Some(a) = s.attr("soapAction") {
                    push_action(&mut o.actions, &a.value);
                }
            }
        }
    }
    Ok(ops)
}

fn push_action(actions: &mut Vec<String>, a: &str) {
    let a = a.trim();
    if !a.is_empty() && !actions.iter().any(|x| x == a) {
        actions.push(a.to_string());
    }
}

fn wsdl_children<'e, 'a>(
    el: &'e Element<'a>,
    local: &'static str,
) -> impl Iterator<Item = &'e Element<'a>> {
    el.elements()
        .filter(move |c| c.ns == WSDL11_NS && c.local() == local)
}

fn named<'e>(el: &'e Element<'_>) -> &'e str {
    el.attr("name").map(|a| a.value.as_ref()).unwrap_or("")
}

fn names_of<'e, 'a: 'e>(els: impl Iterator<Item = &'e Element<'a>>) -> String {
    let names: Vec<String> = els.map(|e| format!("`{}`", named(e))).collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// The port in a `<wsdl:definitions>` element.
pub(crate) fn port_in(
    defs: &Element<'_>,
    service: &str,
    port: &str,
) -> Result<WsdlPort, WsdlProblem> {
    let service = service.trim();
    let port = port.trim();
    let Some(svc) = wsdl_children(defs, "service").find(|s| named(s) == service) else {
        return Err(WsdlProblem::Service(format!(
            "the WSDL has no service `{service}` (its services: {})",
            names_of(wsdl_children(defs, "service"))
        )));
    };
    let Some(p) = wsdl_children(svc, "port").find(|p| named(p) == port) else {
        return Err(WsdlProblem::Port(format!(
            "service `{service}` of the WSDL has no port `{port}` (its ports: {})",
            names_of(wsdl_children(svc, "port"))
        )));
    };
    for a in p.elements() {
        let format = match (a.ns.as_ref(), a.local()) {
            (SOAP11_BINDING_NS, "address") => WsdlFormat::Soap11,
            (SOAP12_BINDING_NS, "address") => WsdlFormat::Soap12,
            (HTTP_BINDING_NS, "address") => http_format(defs, p),
            _ => continue,
        };
        let location = a
            .attr("location")
            .map(|l| l.value.trim().to_string())
            .unwrap_or_default();
        if location.is_empty() {
            return Err(WsdlProblem::Port(format!(
                "port `{port}` of service `{service}` has an <{}> without a location",
                a.qname
            )));
        }
        return Ok(WsdlPort {
            address: location,
            format,
        });
    }
    Err(WsdlProblem::Port(format!(
        "port `{port}` of service `{service}` has no soap:address, soap12:address or \
         http:address"
    )))
}

/// An `http:address` port: `get` when its binding's `http:binding` says `verb="GET"`, else
/// `rest`.
fn http_format(defs: &Element<'_>, port: &Element<'_>) -> WsdlFormat {
    let binding = port
        .attr("binding")
        .map(|b| b.value.rsplit(':').next().unwrap_or("").trim().to_string())
        .unwrap_or_default();
    let verb = wsdl_children(defs, "binding")
        .find(|b| named(b) == binding)
        .and_then(|b| {
            b.elements()
                .find(|e| e.ns == HTTP_BINDING_NS && e.local() == "binding")
        })
        .and_then(|h| h.attr("verb"))
        .map(|v| v.value.trim().to_ascii_uppercase());
    if verb.as_deref() == Some("GET") {
        WsdlFormat::Get
    } else {
        WsdlFormat::Rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::EndpointKind;
    use synaptic_diag::SourceId;

    /// A WSDL 1.1 document with a SOAP 1.1, a SOAP 1.2 and an HTTP GET port, and a port
    /// without an address.
    pub(crate) const STOCK: &str = r#"<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
        xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
        xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/"
        xmlns:http="http://schemas.xmlsoap.org/wsdl/http/"
        xmlns:tns="http://services.samples" targetNamespace="http://services.samples">
      <wsdl:binding name="StockHttpBinding" type="tns:StockPortType">
        <http:binding verb="GET"/>
      </wsdl:binding>
      <wsdl:service name="StockQuote">
        <wsdl:port name="Soap11" binding="tns:Soap11Binding">
          <soap:address location="http://127.0.0.1:9000/services/Stock11"/>
        </wsdl:port>
        <wsdl:port name="Soap12" binding="tns:Soap12Binding">
          <soap12:address location=" http://127.0.0.1:9000/services/Stock12 "/>
        </wsdl:port>
        <wsdl:port name="Http" binding="tns:StockHttpBinding">
          <http:address location="http://127.0.0.1:9000/rest/stock"/>
        </wsdl:port>
        <wsdl:port name="Bare" binding="tns:Soap11Binding"/>
      </wsdl:service>
    </wsdl:definitions>"#;

    fn port(service: &str, port: &str) -> Result<WsdlPort, WsdlProblem> {
        port_of_document(STOCK, service, port)
    }

    #[test]
    fn the_address_element_of_the_port_gives_the_address_and_the_format() {
        assert_eq!(
            port("StockQuote", "Soap11"),
            Ok(WsdlPort {
                address: "http://127.0.0.1:9000/services/Stock11".into(),
                format: WsdlFormat::Soap11
            })
        );
        assert_eq!(
            port("StockQuote", "Soap12"),
            Ok(WsdlPort {
                address: "http://127.0.0.1:9000/services/Stock12".into(),
                format: WsdlFormat::Soap12
            })
        );
        assert_eq!(port("StockQuote", "Http").unwrap().format, WsdlFormat::Get);
    }

    #[test]
    fn a_missing_service_or_port_or_address_says_what_there_is() {
        let e = port("Nope", "Soap11").unwrap_err();
        assert!(
            matches!(&e, WsdlProblem::Service(m) if m.contains("`StockQuote`")),
            "{e:?}"
        );
        let e = port("StockQuote", "Soap13").unwrap_err();
        assert!(
            matches!(&e, WsdlProblem::Port(m) if m.contains("`Soap11`, `Soap12`, `Http`, `Bare`")),
            "{e:?}"
        );
        let e = port("StockQuote", "Bare").unwrap_err();
        assert!(
            matches!(&e, WsdlProblem::Port(m) if m.contains("no soap:address")),
            "{e:?}"
        );
    }

    #[test]
    fn operations_carry_their_soap_actions_and_input_actions() {
        let doc = r#"<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
            xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
            xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/"
            xmlns:wsaw="http://www.w3.org/2006/05/addressing/wsdl"
            xmlns:tns="http://services.samples" targetNamespace="http://services.samples">
          <wsdl:portType name="StockPortType">
            <wsdl:operation name="getQuote">
              <wsdl:input message="tns:getQuoteRequest" wsaw:Action="urn:getQuoteInput"/>
            </wsdl:operation>
            <wsdl:operation name="placeOrder"><wsdl:input message="tns:placeOrderRequest"/></wsdl:operation>
            <wsdl:operation name=""/>
          </wsdl:portType>
          <wsdl:binding name="Soap11" type="tns:StockPortType">
            <wsdl:operation name="getQuote"><soap:operation soapAction="urn:getQuote"/></wsdl:operation>
            <wsdl:operation name="placeOrder"><soap:operation soapAction=""/></wsdl:operation>
          </wsdl:binding>
          <wsdl:binding name="Soap12" type="tns:StockPortType">
            <wsdl:operation name="getQuote"><soap12:operation soapAction="urn:getQuote"/></wsdl:operation>
            <wsdl:operation name="placeOrder"><soap12:operation soapAction="urn:placeOrder12"/></wsdl:operation>
          </wsdl:binding>
        </wsdl:definitions>"#;
        assert_eq!(
            operations_of_document(doc),
            Ok(vec![
                WsdlOperation {
                    name: "getQuote".into(),
                    actions: vec!["urn:getQuoteInput".into(), "urn:getQuote".into()],
                },
                WsdlOperation {
                    name: "placeOrder".into(),
                    actions: vec!["urn:placeOrder12".into()],
                },
            ])
        );
        assert!(operations_of_document("<definitions/>").is_err());
        assert!(operations_of_document("<wsdl:definitions").is_err());
    }

    #[test]
    fn documents_that_are_not_wsdl_11_are_refused() {
        let e = port_of_document("<definitions/>", "S", "P").unwrap_err();
        assert!(matches!(&e, WsdlProblem::Document(m) if m.contains("not a WSDL 1.1")));
        let e = port_of_document(
            r#"<description xmlns="http://www.w3.org/ns/wsdl"/>"#,
            "S",
            "P",
        )
        .unwrap_err();
        assert!(matches!(&e, WsdlProblem::Document(m) if m.contains("WSDL 2.0")));
        let e = port_of_document("<wsdl:definitions", "S", "P").unwrap_err();
        assert!(matches!(&e, WsdlProblem::Document(m) if m.contains("not well-formed")));
    }

    fn parse(endpoint_body: &str) -> crate::Parse<crate::ast::Artifact> {
        let text = format!(
            r#"<endpoint xmlns="http://ws.apache.org/ns/synapse" name="E">{endpoint_body}</endpoint>"#
        );
        crate::parse_artifact(SourceId(0), &text)
    }

    fn span_text(src: &str, span: synaptic_diag::Span) -> String {
        src[span.start as usize..span.end as usize].to_string()
    }

    #[test]
    fn an_inline_document_is_resolved_by_the_parser() {
        let p = parse(&format!(
            r#"<wsdl service="StockQuote" port="Soap12">{STOCK}<timeout><duration>1500</duration></timeout></wsdl>"#
        ));
        assert!(p.is_ok(), "{:?}", p.diagnostics);
        let e = &p.tree.endpoints[0];
        assert_eq!(e.timeout_ms.as_ref().map(|t| t.value), Some(1500));
        let EndpointKind::Wsdl(w) = &e.kind else {
            panic!("{:?}", e.kind)
        };
        assert_eq!(w.resolved.as_ref().unwrap().format, WsdlFormat::Soap12);
        assert!(p.tree.wsdl_uris.is_empty());
    }

    #[test]
    fn a_uri_is_recorded_for_the_loader() {
        let p = parse(r#"<wsdl uri="file:wsdl/stock.wsdl" service="S" port="P"/>"#);
        assert!(p.is_ok(), "{:?}", p.diagnostics);
        assert_eq!(p.tree.wsdl_uris.len(), 1);
        assert_eq!(p.tree.wsdl_uris[0].value, "file:wsdl/stock.wsdl");
        let EndpointKind::Wsdl(w) = &p.tree.endpoints[0].kind else {
            panic!()
        };
        assert!(w.resolved.is_none());
    }

    #[test]
    fn inline_mistakes_are_errors_where_they_are_written() {
        let body = format!(r#"<wsdl service="StockQuote" port="Soap9">{STOCK}</wsdl>"#);
        let src = format!(
            r#"<endpoint xmlns="http://ws.apache.org/ns/synapse" name="E">{body}</endpoint>"#
        );
        let p = parse(&body);
        let d = p.diagnostics.iter().find(|d| d.is_error()).unwrap();
        assert_eq!(d.code.id, "E0122");
        assert_eq!(span_text(&src, d.primary_span()), "Soap9");
        assert!(d.message.contains("no port `Soap9`"), "{}", d.message);

        let body = format!(r#"<wsdl service="Stock" port="Soap11">{STOCK}</wsdl>"#);
        let src = format!(
            r#"<endpoint xmlns="http://ws.apache.org/ns/synapse" name="E">{body}</endpoint>"#
        );
        let d = parse(&body)
            .diagnostics
            .into_iter()
            .find(|d| d.is_error())
            .unwrap();
        assert_eq!(d.code.id, "E0122");
        assert_eq!(span_text(&src, d.primary_span()), "Stock");

        let codes = |body: &str| -> Vec<&'static str> {
            parse(body)
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(|d| d.code.id)
                .collect()
        };
        assert_eq!(codes(r#"<wsdl service="S" port="P"/>"#), ["E0114"]);
        assert_eq!(codes(r#"<wsdl uri="a.wsdl" port="P"/>"#), ["E0105"]);
        assert_eq!(
            codes(&format!(
                r#"<wsdl uri="a.wsdl" service="S" port="P">{STOCK}</wsdl>"#
            )),
            ["E0115"]
        );
        assert_eq!(
            codes(
                r#"<wsdl service="S" port="P"><description xmlns="http://www.w3.org/ns/wsdl"/></wsdl>"#
            ),
            ["E0108"]
        );
    }
}
