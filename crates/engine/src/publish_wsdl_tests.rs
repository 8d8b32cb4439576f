//! A proxy's `<publishWSDL key|uri>` as the compiler resolves it: the document published,
//! its operations (with their namespaces) for dispatch, its `<resource>`s, and the mistakes
//! Synapse refuses to deploy, where they are written.

use crate::*;
use std::collections::HashMap;
use synaptic_diag::SourceId;

const WSDL: &str = r#"<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
    xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:tns="urn:quotes" targetNamespace="urn:quotes">
  <wsdl:types><xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema"><xsd:import namespace="urn:c" schemaLocation="common.xsd"/></xsd:schema></wsdl:types>
  <wsdl:portType name="PT"><wsdl:operation name="getQuote"/><wsdl:operation name="placeOrder"/></wsdl:portType>
  <wsdl:binding name="B" type="tns:PT">
    <wsdl:operation name="getQuote"><soap:operation soapAction="urn:getQuote"/></wsdl:operation>
  </wsdl:binding>
</wsdl:definitions>"#;

/// Project files and registry resources, by name; `registry: false` reads no registry (lint).
struct Host {
    files: HashMap<String, String>,
    registry: Option<HashMap<String, String>>,
}

impl WsdlReader for Host {
    fn read(&self, location: &str, _from: Option<&str>) -> Result<WsdlText, String> {
        self.files
            .get(location)
            .map(|t| WsdlText {
                id: location.to_string(),
                text: Arc::from(t.as_str()),
            })
            .ok_or_else(|| format!("cannot read the WSDL {location}"))
    }
    fn registry(&self, key: &str) -> Result<Option<WsdlText>, String> {
        let Some(r) = &self.registry else {
            return Ok(None);
        };
        match r.get(key) {
            Some(t) => Ok(Some(WsdlText {
                id: key.to_string(),
                text: Arc::from(t.as_str()),
            })),
            None => Err("not in the registry".into()),
        }
    }
}

fn compile_in(
    xml: &str,
    files: &[(&str, &str)],
    registry: Option<&[(&str, &str)]>,
) -> (Option<Program>, Vec<Diagnostic>) {
    let map = |v: &[(&str, &str)]| {
        v.iter()
            .map(|(k, t)| (k.to_string(), t.to_string()))
            .collect::<HashMap<_, _>>()
    };
    let host = Host {
        files: map(files),
        registry: registry.map(map),
    };
    let opts = CompileOptions {
        wsdl: Some(WsdlSource(Arc::new(host))),
        ..Default::default()
    };
    let p = synaptic_syntax::parse_artifact(SourceId(0), xml);
    assert!(
        !p.diagnostics.iter().any(|d| d.is_error()),
        "{:?}",
        p.diagnostics
    );
    compile(std::slice::from_ref(&p.tree), &opts)
}

fn proxy(publish: &str, extra: &str) -> String {
    format!(
        r#"<definitions xmlns="http://ws.apache.org/ns/synapse">{extra}
        <proxy name="Q"><target><inSequence><respond/></inSequence></target>{publish}</proxy>
        </definitions>"#
    )
}

fn text_at(src: &str, d: &Diagnostic) -> String {
    let s = d.primary_span();
    src[s.start as usize..s.end as usize].to_string()
}

/// The operation name and namespace a request with `action` is dispatched to.
fn dispatched(p: &Program, action: &str) -> (String, String) {
    let mut headers = http::HeaderMap::new();
    headers.insert("soapaction", action.parse().unwrap());
    let mut ctx = MessageContext::from_request(
        http::Method::POST,
        "/services/Q",
        headers,
        bytes::Bytes::new(),
        None,
    );
    p.receive(&mut ctx, Service::Proxy("Q"), "http");
    let s = |v: Option<Value>| match v {
        Some(Value::String(s)) => s,
        other => panic!("{other:?}"),
    };
    (
        s(ctx.read_property(Scope::Default, "OperationName", 0)),
        s(ctx.read_property(Scope::Default, "OperationNamespace", 0)),
    )
}

#[test]
fn a_key_names_an_xml_local_entry_or_a_registry_resource() {
    let entry = format!(r#"<localEntry key="quotes.wsdl">{WSDL}</localEntry>"#);
    let xml = proxy(r#"<publishWSDL key="quotes.wsdl"/>"#, &entry);
    let (p, d) = compile_in(&xml, &[], Some(&[]));
    let p = p.unwrap_or_else(|| panic!("{d:?}"));
    let w = p.published_wsdl("Q").unwrap();
    assert!(
        w.text.contains("targetNamespace=\"urn:quotes\""),
        "{}",
        w.text
    );
    assert_eq!(
        dispatched(&p, "urn:getQuote"),
        ("getQuote".into(), "urn:quotes".into())
    );
    assert_eq!(
        dispatched(&p, "placeOrder"),
        ("placeOrder".into(), "urn:quotes".into())
    );
    // no operation: Synapse's `mediate`, whose QName has no namespace
    assert_eq!(dispatched(&p, "urn:other"), ("mediate".into(), "".into()));

    let xml = proxy(r#"<publishWSDL key="gov:/wsdl/quotes.wsdl"/>"#, "");
    let (p, d) = compile_in(&xml, &[], Some(&[("gov:/wsdl/quotes.wsdl", WSDL)]));
    let p = p.unwrap_or_else(|| panic!("{d:?}"));
    assert_eq!(&*p.published_wsdl("Q").unwrap().text, WSDL);
    assert_eq!(dispatched(&p, "urn:getQuote").0, "getQuote");
}

#[test]
fn a_key_naming_nothing_or_text_fails_the_proxy_where_it_is_written() {
    let xml = proxy(r#"<publishWSDL key="nothing"/>"#, "");
    let (p, d) = compile_in(&xml, &[], Some(&[]));
    assert!(p.is_none());
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].code, synaptic_diag::codes::E0123);
    assert_eq!(text_at(&xml, &d[0]), "nothing");
    assert!(d[0]
        .message
        .contains("names no local entry and no registry resource"));
    // without a registry to read (lint), the key is left for deployment
    let (p, d) = compile_in(&xml, &[], None);
    assert!(d.is_empty(), "{d:?}");
    assert!(p.unwrap().published_wsdl("Q").is_none());
    // a text local entry is not a WSDL for Synapse
    let xml = proxy(
        r#"<publishWSDL key="t"/>"#,
        r#"<localEntry key="t">just text</localEntry>"#,
    );
    let (p, d) = compile_in(&xml, &[], Some(&[]));
    assert!(p.is_none());
    assert_eq!(text_at(&xml, &d[0]), "t");
    assert!(d[0].message.contains("holds text"), "{}", d[0].message);
}

#[test]
fn a_uri_is_read_through_the_host_and_must_be_a_wsdl() {
    let xml = proxy(r#"<publishWSDL uri="file:wsdl/quotes.wsdl"/>"#, "");
    let (p, d) = compile_in(&xml, &[("file:wsdl/quotes.wsdl", WSDL)], None);
    let p = p.unwrap_or_else(|| panic!("{d:?}"));
    assert_eq!(&*p.published_wsdl("Q").unwrap().text, WSDL);
    assert_eq!(dispatched(&p, "urn:getQuote").1, "urn:quotes");
    // unreadable: the proxy is not deployed
    let (p, d) = compile_in(&xml, &[], None);
    assert!(p.is_none());
    assert_eq!(d[0].code, synaptic_diag::codes::E0123);
    assert_eq!(text_at(&xml, &d[0]), "file:wsdl/quotes.wsdl");
    // not XML, or XML that is no WSDL
    for (doc, says) in [
        ("not xml at all", "not well-formed"),
        ("", "no root element"),
        ("<a><b></a>", "not well-formed"),
        ("<schema/>", "unknown WSDL format"),
    ] {
        let (p, d) = compile_in(&xml, &[("file:wsdl/quotes.wsdl", doc)], None);
        assert!(p.is_none(), "{doc}");
        assert!(d[0].message.contains(says), "{doc}: {}", d[0].message);
        assert_eq!(text_at(&xml, &d[0]), "file:wsdl/quotes.wsdl");
    }
    // a WSDL 2.0 description is published; its requests go to `mediate`
    let wsdl2 = r#"<description xmlns="http://www.w3.org/ns/wsdl" targetNamespace="urn:w2"/>"#;
    let (p, d) = compile_in(&xml, &[("file:wsdl/quotes.wsdl", wsdl2)], None);
    let p = p.unwrap_or_else(|| panic!("{d:?}"));
    assert_eq!(&*p.published_wsdl("Q").unwrap().text, wsdl2);
    assert_eq!(dispatched(&p, "urn:getQuote").0, "mediate");
}

#[test]
fn in_safe_mode_an_unreadable_uri_leaves_the_proxy_unstarted() {
    let xml = proxy(
        r#"<publishWSDL uri="missing.wsdl"/>
           <parameter name="enablePublishWSDLSafeMode">true</parameter>"#,
        "",
    );
    let (p, d) = compile_in(&xml, &[], None);
    let p = p.unwrap_or_else(|| panic!("{d:?}"));
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].code, synaptic_diag::codes::W0123);
    assert_eq!(text_at(&xml, &d[0]), "missing.wsdl");
    assert!(!p.proxy_started("Q"));
    // false: an error, as without the parameter
    let xml = xml.replace(">true<", ">false<");
    let (p, d) = compile_in(&xml, &[], None);
    assert!(p.is_none());
    assert_eq!(d[0].code, synaptic_diag::codes::E0123);
}

#[test]
fn an_http_uri_is_not_fetched_and_the_proxy_is_served_without_a_wsdl() {
    let xml = proxy(r#"<publishWSDL uri="http://127.0.0.1:1/Q?wsdl"/>"#, "");
    let (p, d) = compile_in(&xml, &[], None);
    let p = p.unwrap_or_else(|| panic!("{d:?}"));
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].code, synaptic_diag::codes::W0101);
    assert_eq!(text_at(&xml, &d[0]), "http://127.0.0.1:1/Q?wsdl");
    assert!(p.published_wsdl("Q").is_none());
    assert!(p.proxy_started("Q"));
    assert_eq!(dispatched(&p, "urn:getQuote").0, "mediate");
}

#[test]
fn resources_map_import_locations_to_keyed_documents() {
    let entries = format!(
        r#"<localEntry key="w">{WSDL}</localEntry>
        <localEntry key="c"><xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:c"/></localEntry>"#
    );
    let xml = proxy(
        r#"<publishWSDL key="w"><resource location="common.xsd" key="c"/><resource location="other.xsd" key="gov:/x.xsd"/></publishWSDL>"#,
        &entries,
    );
    let (p, d) = compile_in(&xml, &[], Some(&[("gov:/x.xsd", "<x/>")]));
    let p = p.unwrap_or_else(|| panic!("{d:?}"));
    let w = p.published_wsdl("Q").unwrap();
    let r: Vec<(&str, &str)> = w
        .resources
        .iter()
        .map(|(l, t)| (l.as_str(), &**t))
        .collect();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].0, "common.xsd");
    assert!(r[0].1.contains("targetNamespace=\"urn:c\""), "{}", r[0].1);
    assert_eq!(r[1], ("other.xsd", "<x/>"));
    // a resource key naming nothing
    let (p, d) = compile_in(&xml, &[], Some(&[]));
    assert!(p.is_none());
    assert_eq!(text_at(&xml, &d[0]), "gov:/x.xsd");
    assert!(d[0].message.contains("resource key"), "{}", d[0].message);
}
