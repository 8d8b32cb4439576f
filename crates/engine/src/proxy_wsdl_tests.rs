//! The WSDL generated for a proxy without `<publishWSDL>`, parsed back as XML: its port type,
//! bindings and ports as Axis2's `AxisService2WSDL11` prints them for a Synapse proxy, and the
//! parameters that drop or rename them.

use crate::*;
use synaptic_diag::SourceId;
use synaptic_payload::xml::{parse, Element};

const WSDL: &str = "http://schemas.xmlsoap.org/wsdl/";
const SOAP: &str = "http://schemas.xmlsoap.org/wsdl/soap/";
const SOAP12: &str = "http://schemas.xmlsoap.org/wsdl/soap12/";
const HTTP: &str = "http://schemas.xmlsoap.org/wsdl/http/";
const MIME: &str = "http://schemas.xmlsoap.org/wsdl/mime/";
const WSAW: &str = "http://www.w3.org/2006/05/addressing/wsdl";

/// The generated WSDL of the only proxy of `xml`.
fn generated(xml: &str) -> GeneratedWsdl {
    let p = synaptic_syntax::parse_artifact(SourceId(0), xml);
    assert!(
        !p.diagnostics.iter().any(|d| d.is_error()),
        "{:?}",
        p.diagnostics
    );
    GeneratedWsdl::of(&p.tree.proxies[0])
}

fn proxy(attrs: &str, inner: &str) -> String {
    format!(
        r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
        <proxy name="Quotes"{attrs}><target><inSequence><respond/></inSequence></target>{inner}</proxy>
        </definitions>"#
    )
}

fn both() -> Listeners {
    Listeners {
        http: Some("gw.example:8290".into()),
        https: Some("gw.example:8253".into()),
    }
}

fn children<'e>(e: &'e Element, ns: &'e str, local: &'e str) -> Vec<&'e Element> {
    e.child_elements()
        .filter(|c| c.name.is(ns, local))
        .collect()
}

fn attr<'e>(e: &'e Element, name: &str) -> &'e str {
    e.attribute(name)
        .unwrap_or_else(|| panic!("no {name} on {:?}", e.name))
}

/// The service's ports: name, binding, the address element's name and its location.
fn ports(doc: &Element) -> Vec<(String, String, String, String)> {
    let service = doc.find(WSDL, "service").expect("a service");
    children(service, WSDL, "port")
        .into_iter()
        .map(|p| {
            let a = p.first_child_element().expect("an address");
            assert_eq!(a.name.local, "address");
            (
                attr(p, "name").to_string(),
                attr(p, "binding").to_string(),
                a.name.ns.clone(),
                attr(a, "location").to_string(),
            )
        })
        .collect()
}

#[test]
fn a_proxy_without_a_wsdl_gets_axis2s_mediate_service() {
    let g = generated(&proxy("", ""));
    let text = g.wsdl11(&both());
    let doc = parse(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
    assert!(doc.name.is(WSDL, "definitions"), "{text}");
    assert_eq!(attr(&doc, "targetNamespace"), "http://ws.apache.org/axis2");
    assert!(doc.find(WSDL, "documentation").is_none());
    assert!(doc.find(WSDL, "types").is_some());
    // the messages Synapse names, without parts
    let messages: Vec<_> = children(&doc, WSDL, "message")
        .into_iter()
        .map(|m| {
            assert!(m.first_child_element().is_none());
            attr(m, "name")
        })
        .collect();
    assert_eq!(messages, ["in", "out"]);
    // one port type, one in-out operation, the actions Axis2 gives it
    let pts = children(&doc, WSDL, "portType");
    assert_eq!(pts.len(), 1);
    assert_eq!(attr(pts[0], "name"), "QuotesPortType");
    let ops = children(pts[0], WSDL, "operation");
    assert_eq!(ops.len(), 1);
    assert_eq!(attr(ops[0], "name"), "mediate");
    let action = |e: &Element| {
        e.attributes
            .iter()
            .find(|a| a.name.is(WSAW, "Action"))
            .map(|a| a.value.clone())
    };
    let input = ops[0].find(WSDL, "input").unwrap();
    let output = ops[0].find(WSDL, "output").unwrap();
    assert_eq!(attr(input, "message"), "tns:in");
    assert_eq!(action(input).as_deref(), Some("urn:mediate"));
    assert_eq!(attr(output, "message"), "tns:out");
    assert_eq!(action(output).as_deref(), Some("urn:mediateResponse"));
    // three bindings of the port type
    let bindings = children(&doc, WSDL, "binding");
    let names: Vec<_> = bindings.iter().map(|b| attr(b, "name")).collect();
    assert_eq!(
        names,
        [
            "QuotesSoap11Binding",
            "QuotesSoap12Binding",
            "QuotesHttpBinding"
        ]
    );
    for b in &bindings {
        assert_eq!(attr(b, "type"), "tns:QuotesPortType");
    }
    for (b, ns) in [(bindings[0], SOAP), (bindings[1], SOAP12)] {
        let sb = b.find(ns, "binding").expect("a SOAP binding");
        assert_eq!(
            attr(sb, "transport"),
            "http://schemas.xmlsoap.org/soap/http"
        );
        assert_eq!(attr(sb, "style"), "document");
        let op = b.find(WSDL, "operation").unwrap();
        assert_eq!(attr(op, "name"), "mediate");
        assert_eq!(
            attr(op.find(ns, "operation").unwrap(), "soapAction"),
            "urn:mediate"
        );
        for d in ["input", "output"] {
            let body = op.find(WSDL, d).unwrap().find(ns, "body").unwrap();
            assert_eq!(attr(body, "use"), "literal");
        }
    }
    let hb = bindings[2].find(HTTP, "binding").unwrap();
    assert_eq!(attr(hb, "verb"), "POST");
    let op = bindings[2].find(WSDL, "operation").unwrap();
    assert_eq!(
        attr(op.find(HTTP, "operation").unwrap(), "location"),
        "mediate"
    );
    for d in ["input", "output"] {
        let c = op.find(WSDL, d).unwrap().find(MIME, "content").unwrap();
        assert_eq!(attr(c, "type"), "text/xml");
        assert_eq!(attr(c, "part"), "parameters");
    }
    // the service: one port per binding and transport, at the listeners' addresses
    let service = doc.find(WSDL, "service").unwrap();
    assert_eq!(attr(service, "name"), "Quotes");
    let at = "services/Quotes.Quotes";
    assert_eq!(
        ports(&doc),
        [
            (
                "QuotesHttpSoap11Endpoint",
                "tns:QuotesSoap11Binding",
                SOAP,
                format!("http://gw.example:8290/{at}HttpSoap11Endpoint")
            ),
            (
                "QuotesHttpsSoap11Endpoint",
                "tns:QuotesSoap11Binding",
                SOAP,
                format!("https://gw.example:8253/{at}HttpsSoap11Endpoint")
            ),
            (
                "QuotesHttpSoap12Endpoint",
                "tns:QuotesSoap12Binding",
                SOAP12,
                format!("http://gw.example:8290/{at}HttpSoap12Endpoint")
            ),
            (
                "QuotesHttpsSoap12Endpoint",
                "tns:QuotesSoap12Binding",
                SOAP12,
                format!("https://gw.example:8253/{at}HttpsSoap12Endpoint")
            ),
            (
                "QuotesHttpEndpoint",
                "tns:QuotesHttpBinding",
                HTTP,
                format!("http://gw.example:8290/{at}HttpEndpoint")
            ),
            (
                "QuotesHttpsEndpoint",
                "tns:QuotesHttpBinding",
                HTTP,
                format!("https://gw.example:8253/{at}HttpsEndpoint")
            ),
        ]
        .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d))
    );
    // what dispatch reads from it: `mediate`, by its SOAP action
    let ops = synaptic_syntax::wsdl::operations_of_document(&text).unwrap();
    assert_eq!(ops.len(), 1);
    assert_eq!(&*ops[0].name, "mediate");
    assert_eq!(ops[0].actions, ["urn:mediate"]);
}

#[test]
fn only_the_listeners_served_and_the_transports_exposed_get_ports() {
    let g = generated(&proxy("", ""));
    let http_only = Listeners {
        http: Some("127.0.0.1:8290".into()),
        https: None,
    };
    let names: Vec<_> = ports(&parse(&g.wsdl11(&http_only)).unwrap())
        .into_iter()
        .map(|p| p.0)
        .collect();
    assert_eq!(
        names,
        [
            "QuotesHttpSoap11Endpoint",
            "QuotesHttpSoap12Endpoint",
            "QuotesHttpEndpoint"
        ]
    );
    let g = generated(&proxy(r#" transports="https""#, ""));
    let p = ports(&parse(&g.wsdl11(&both())).unwrap());
    assert!(
        p.iter()
            .all(|p| p.3.starts_with("https://gw.example:8253/")),
        "{p:?}"
    );
    assert_eq!(p.len(), 3);
    // transports synaptic does not serve: served over both (W0342)
    let g = generated(&proxy(r#" transports="jms""#, ""));
    assert_eq!(ports(&parse(&g.wsdl11(&both())).unwrap()).len(), 6);
    // nothing reachable: no ports, and no bindings printed for them
    let doc = parse(&g.wsdl11(&Listeners::default())).unwrap();
    assert!(ports(&doc).is_empty());
    assert!(children(&doc, WSDL, "binding").is_empty());
    assert_eq!(children(&doc, WSDL, "portType").len(), 1);
}

#[test]
fn disabled_bindings_and_their_ports_are_left_out() {
    let params = r#"<parameter name="disableSOAP12">true</parameter>
        <parameter name="disableREST">yes</parameter><parameter name="disableSOAP11">no</parameter>"#;
    let g = generated(&proxy("", params));
    let doc = parse(&g.wsdl11(&both())).unwrap();
    let bindings: Vec<_> = children(&doc, WSDL, "binding")
        .into_iter()
        .map(|b| attr(b, "name").to_string())
        .collect();
    assert_eq!(bindings, ["QuotesSoap11Binding"]);
    let names: Vec<_> = ports(&doc).into_iter().map(|p| p.0).collect();
    assert_eq!(
        names,
        ["QuotesHttpSoap11Endpoint", "QuotesHttpsSoap11Endpoint"]
    );
    let g = generated(&proxy(
        "",
        r#"<parameter name="disableSOAP11">1</parameter>"#,
    ));
    let doc = parse(&g.wsdl11(&both())).unwrap();
    assert!(ports(&doc).iter().all(|p| !p.0.contains("Soap11")));
    assert_eq!(ports(&doc).len(), 4);
}

#[test]
fn names_and_documentation_come_from_the_proxy() {
    let inner = r#"<description>Quotes &amp; orders</description>
        <parameter name="portTypeName">QuotePT</parameter>
        <parameter name="soap11BindingName">Q11</parameter>
        <parameter name="soap12BindingName">Q12</parameter>
        <parameter name="restBindingName">QRest</parameter>"#;
    let g = generated(&proxy("", inner));
    let text = g.wsdl11(&both());
    let doc = parse(&text).unwrap();
    assert_eq!(
        doc.find(WSDL, "documentation").unwrap().direct_text(),
        "Quotes & orders"
    );
    assert_eq!(attr(doc.find(WSDL, "portType").unwrap(), "name"), "QuotePT");
    let bindings: Vec<_> = children(&doc, WSDL, "binding")
        .into_iter()
        .map(|b| (attr(b, "name").to_string(), attr(b, "type").to_string()))
        .collect();
    assert_eq!(
        bindings,
        ["Q11", "Q12", "QRest"].map(|b| (b.to_string(), "tns:QuotePT".to_string()))
    );
    let p = ports(&doc);
    assert_eq!(p[0].1, "tns:Q11");
    // the port names stay Axis2's endpoint names
    assert_eq!(p[0].0, "QuotesHttpSoap11Endpoint");
}

#[test]
fn a_name_that_needs_escaping_stays_well_formed() {
    let g = generated(&proxy("", "").replace("Quotes", "A&amp;B"));
    assert_eq!(g.name, "A&B");
    let doc = parse(&g.wsdl11(&both())).unwrap();
    assert_eq!(attr(doc.find(WSDL, "service").unwrap(), "name"), "A&B");
    assert_eq!(ports(&doc)[0].0, "A&BHttpSoap11Endpoint");
}

#[test]
fn the_endpoint_names_are_those_of_the_bindings_and_transports_kept() {
    let g = generated(&proxy(r#" transports="https""#, ""));
    assert_eq!(
        g.endpoint_names(),
        [
            "QuotesHttpsSoap11Endpoint",
            "QuotesHttpsSoap12Endpoint",
            "QuotesHttpsEndpoint"
        ]
    );
    let g = generated(&proxy(
        "",
        r#"<parameter name="disableSOAP12">true</parameter>"#,
    ));
    assert_eq!(
        g.endpoint_names(),
        [
            "QuotesHttpSoap11Endpoint",
            "QuotesHttpsSoap11Endpoint",
            "QuotesHttpEndpoint",
            "QuotesHttpsEndpoint"
        ]
    );
}

const WSDL2: &str = "http://www.w3.org/ns/wsdl";
const WSOAP: &str = "http://www.w3.org/ns/wsdl/soap";
const WHTTP: &str = "http://www.w3.org/ns/wsdl/http";

/// The value of the attribute `local` in the namespace `ns` of `e`.
fn ns_attr<'e>(e: &'e Element, ns: &str, local: &str) -> Option<&'e str> {
    e.attributes
        .iter()
        .find(|a| a.name.is(ns, local))
        .map(|a| a.value.as_str())
}

#[test]
fn the_wsdl_2_0_axis2_generates_has_the_same_service() {
    let g = generated(&proxy("", "<description>quotes</description>"));
    let text = g.wsdl20(&both());
    let doc = parse(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
    assert!(doc.name.is(WSDL2, "description"), "{text}");
    assert_eq!(attr(&doc, "targetNamespace"), "http://ws.apache.org/axis2");
    assert_eq!(
        doc.find(WSDL2, "documentation").unwrap().direct_text(),
        "quotes"
    );
    assert!(doc.find(WSDL2, "types").is_some());
    // the interface: `mediate`, in-out, messages without an element, Axis2's actions
    let i = doc.find(WSDL2, "interface").unwrap();
    assert_eq!(attr(i, "name"), "ServiceInterface");
    let op = i.find(WSDL2, "operation").unwrap();
    assert_eq!(attr(op, "name"), "mediate");
    assert_eq!(attr(op, "pattern"), "http://www.w3.org/ns/wsdl/in-out");
    for (d, action) in [("input", "urn:mediate"), ("output", "urn:mediateResponse")] {
        let m = op.find(WSDL2, d).unwrap();
        assert_eq!(attr(m, "element"), "#none");
        assert_eq!(ns_attr(m, WSAW, "Action"), Some(action));
    }
    // the bindings of the interface
    let bindings = children(&doc, WSDL2, "binding");
    let b: Vec<_> = bindings
        .iter()
        .map(|b| {
            assert_eq!(attr(b, "interface"), "tns:ServiceInterface");
            let op = b.find(WSDL2, "operation").unwrap();
            assert_eq!(attr(op, "ref"), "tns:mediate");
            assert!(op.find(WSDL2, "input").is_some() && op.find(WSDL2, "output").is_some());
            (
                attr(b, "name"),
                attr(b, "type"),
                ns_attr(b, WSOAP, "version").or(ns_attr(b, WHTTP, "methodDefault")),
                ns_attr(op, WSOAP, "action").or(ns_attr(op, WHTTP, "location")),
            )
        })
        .collect();
    assert_eq!(
        b,
        [
            (
                "QuotesSoap11Binding",
                WSOAP,
                Some("1.1"),
                Some("urn:mediate")
            ),
            (
                "QuotesSoap12Binding",
                WSOAP,
                Some("1.2"),
                Some("urn:mediate")
            ),
            ("QuotesHttpBinding", WHTTP, Some("POST"), Some("mediate")),
        ]
    );
    // the endpoints are the WSDL 1.1 ports
    let service = doc.find(WSDL2, "service").unwrap();
    assert_eq!(attr(service, "name"), "Quotes");
    assert_eq!(attr(service, "interface"), "tns:ServiceInterface");
    let endpoints: Vec<(String, String)> = children(service, WSDL2, "endpoint")
        .into_iter()
        .map(|e| (attr(e, "name").to_string(), attr(e, "address").to_string()))
        .collect();
    let wsdl11 = ports(&parse(&g.wsdl11(&both())).unwrap());
    let expected: Vec<(String, String)> = wsdl11.into_iter().map(|p| (p.0, p.3)).collect();
    assert_eq!(endpoints, expected);
    // a binding disabled has neither a binding nor endpoints
    let g = generated(&proxy(
        "",
        r#"<parameter name="disableSOAP11">true</parameter>"#,
    ));
    let doc = parse(&g.wsdl20(&both())).unwrap();
    assert_eq!(children(&doc, WSDL2, "binding").len(), 2);
    let service = doc.find(WSDL2, "service").unwrap();
    assert_eq!(children(service, WSDL2, "endpoint").len(), 4);
}
