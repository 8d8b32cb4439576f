//! A proxy's `<publishWSDL key|uri>` as the compiler resolves it: the document published,
//! its operations (with their namespaces) for dispatch, its `<resource>`s, and the mistakes
//! Synapse refuses to deploy, where they are written.

use crate::*;
use std::collections::HashMap;
use synaptic_diag::SourceId;

const WSDL: &str = r#"<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
    xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:tns="urn:quotes" targetNamespace="urn:quotes">
  <wsdl:types><xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:quotes"/></wsdl:types>
  <wsdl:portType name="PT"><wsdl:operation name="getQuote"/><wsdl:operation name="placeOrder"/></wsdl:portType>
  <wsdl:binding name="B" type="tns:PT">
    <wsdl:operation name="getQuote"><soap:operation soapAction="urn:getQuote"/></wsdl:operation>
  </wsdl:binding>
</wsdl:definitions>"#;

/// Project files and registry resources, by name; `registry: None` reads no registry (lint).
/// `fetched`: the documents at `http(s)` URLs (`Err`: why one cannot be fetched); `None`
/// fetches nothing (lint).
struct Host {
    files: HashMap<String, String>,
    registry: Option<HashMap<String, String>>,
    fetched: Option<HashMap<String, Result<String, String>>>,
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
    fn fetches(&self) -> bool {
        self.fetched.is_some()
    }
    fn fetch(&self, url: &str) -> Result<WsdlText, String> {
        match self.fetched.as_ref().and_then(|f| f.get(url)) {
            Some(Ok(t)) => Ok(WsdlText {
                id: url.to_string(),
                text: Arc::from(t.as_str()),
            }),
            Some(Err(why)) => Err(why.clone()),
            None => Err(format!("cannot fetch the WSDL {url}: connection refused")),
        }
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
    compile_with(xml, files, registry, None, None)
}

/// As [`compile_in`], with documents at `http(s)` URLs (`None`: nothing fetched) and this
/// server's name (`None`: every proxy deployed).
fn compile_with(
    xml: &str,
    files: &[(&str, &str)],
    registry: Option<&[(&str, &str)]>,
    fetched: Option<&[(&str, Result<&str, &str>)]>,
    server: Option<&str>,
) -> (Option<Program>, Vec<Diagnostic>) {
    let map = |v: &[(&str, &str)]| {
        v.iter()
            .map(|(k, t)| (k.to_string(), t.to_string()))
            .collect::<HashMap<_, _>>()
    };
    let host = Host {
        files: map(files),
        registry: registry.map(map),
        fetched: fetched.map(|f| {
            f.iter()
                .map(|(u, r)| (u.to_string(), r.map(str::to_string).map_err(str::to_string)))
                .collect()
        }),
    };
    let opts = CompileOptions {
        wsdl: Some(WsdlSource(Arc::new(host))),
        server_name: server.map(str::to_string),
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
        s(ctx.read_property(Scope::Default, "OperationName", &|| 0)),
        s(ctx.read_property(Scope::Default, "OperationNamespace", &|| 0)),
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
    // without a registry to read (lint), the key is left for deployment, with a warning
    // where it is written
    let (p, d) = compile_in(&xml, &[], None);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].code, synaptic_diag::codes::W0124);
    assert_eq!(text_at(&xml, &d[0]), "nothing");
    assert!(
        d[0].message.contains("names no local entry"),
        "{}",
        d[0].message
    );
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
    // a WSDL 2.0 description is published; its requests go to its service's operations, and
    // to `mediate` when no action names one
    let wsdl2 = r#"<description xmlns="http://www.w3.org/ns/wsdl" xmlns:w="urn:w2" targetNamespace="urn:w2"><interface name="I"><operation name="getQuote"/></interface><service name="S" interface="w:I"/></description>"#;
    let (p, d) = compile_in(&xml, &[("file:wsdl/quotes.wsdl", wsdl2)], None);
    let p = p.unwrap_or_else(|| panic!("{d:?}"));
    assert_eq!(&*p.published_wsdl("Q").unwrap().text, wsdl2);
    assert_eq!(dispatched(&p, "urn:getQuote").0, "getQuote");
    assert_eq!(dispatched(&p, "urn:other").0, "mediate");
    // without a service, or with one whose interface is nowhere, no service can be built from
    // it: the proxy is not deployed, safe mode or not
    let safe = proxy(
        r#"<publishWSDL uri="file:wsdl/quotes.wsdl"/>
           <parameter name="enablePublishWSDLSafeMode">true</parameter>"#,
        "",
    );
    for (doc, says) in [
        (
            r#"<description xmlns="http://www.w3.org/ns/wsdl" targetNamespace="urn:w2"/>"#,
            "declares no service",
        ),
        (
            r#"<description xmlns="http://www.w3.org/ns/wsdl" xmlns:w="urn:w2" targetNamespace="urn:w2"><service name="S" interface="w:Gone"/></description>"#,
            "interface `Gone` of the WSDL 2.0 service `S` is declared nowhere",
        ),
    ] {
        for xml in [&xml, &safe] {
            let (p, d) = compile_in(xml, &[("file:wsdl/quotes.wsdl", doc)], None);
            assert!(p.is_none(), "{doc}");
            assert_eq!(d[0].code, synaptic_diag::codes::E0123);
            assert!(d[0].message.contains(says), "{doc}: {}", d[0].message);
            assert_eq!(text_at(xml, &d[0]), "file:wsdl/quotes.wsdl");
        }
    }
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
fn an_http_uri_is_fetched_by_the_host_that_fetches() {
    let url = "http://127.0.0.1:1/Q?wsdl";
    let xml = proxy(&format!(r#"<publishWSDL uri="{url}"/>"#), "");
    let (p, d) = compile_with(&xml, &[], Some(&[]), Some(&[(url, Ok(WSDL))]), None);
    let p = p.unwrap_or_else(|| panic!("{d:?}"));
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(&*p.published_wsdl("Q").unwrap().text, WSDL);
    assert_eq!(dispatched(&p, "urn:getQuote").0, "getQuote");
    // a host that fetches nothing (lint) leaves it for deployment, silently
    let (p, d) = compile_in(&xml, &[], None);
    let p = p.unwrap_or_else(|| panic!("{d:?}"));
    assert!(d.is_empty(), "{d:?}");
    assert!(p.published_wsdl("Q").is_none());
    assert!(p.proxy_started("Q"));
}

#[test]
fn a_wsdl_that_cannot_be_fetched_fails_the_proxy_unless_in_safe_mode() {
    let url = "https://127.0.0.1:1/Q?wsdl";
    let xml = proxy(&format!(r#"<publishWSDL uri="{url}"/>"#), "");
    let failed = Err("cannot fetch the WSDL https://127.0.0.1:1/Q?wsdl: the server answered 500");
    let (p, d) = compile_with(&xml, &[], Some(&[]), Some(&[(url, failed)]), None);
    assert!(p.is_none());
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].code, synaptic_diag::codes::E0123);
    assert_eq!(text_at(&xml, &d[0]), url);
    assert!(d[0].message.contains("answered 500"), "{}", d[0].message);
    // safe mode: not started
    let safe = proxy(
        &format!(
            r#"<publishWSDL uri="{url}"/><parameter name="enablePublishWSDLSafeMode">true</parameter>"#
        ),
        "",
    );
    let (p, d) = compile_with(&safe, &[], Some(&[]), Some(&[(url, failed)]), None);
    let p = p.unwrap_or_else(|| panic!("{d:?}"));
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].code, synaptic_diag::codes::W0123);
    assert!(!p.proxy_started("Q"));
    assert!(!p.proxy_deployed("Q"));
    // fetched but not XML: Synapse cannot build the service, safe mode or not
    let (p, d) = compile_with(&safe, &[], Some(&[]), Some(&[(url, Ok("<html"))]), None);
    assert!(p.is_none());
    assert_eq!(d[0].code, synaptic_diag::codes::E0123);
    assert!(d[0].message.contains("not well-formed"), "{}", d[0].message);
}

/// A WSDL 1.1 document with the service `S` and its SOAP 1.1 port `P`.
const SERVICE_WSDL: &str = r#"<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
    xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:tns="urn:svc" targetNamespace="urn:svc">
  <wsdl:portType name="PT"><wsdl:operation name="ping"/></wsdl:portType>
  <wsdl:binding name="B" type="tns:PT"><soap:binding transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="ping"><soap:operation soapAction="urn:ping"/></wsdl:operation></wsdl:binding>
  <wsdl:service name="S"><wsdl:port name="P" binding="tns:B"><soap:address location="http://127.0.0.1:9/services/S"/></wsdl:port></wsdl:service>
</wsdl:definitions>"#;

#[test]
fn an_endpoint_gives_its_address_with_wsdl_or_its_wsdl_uri() {
    let endpoints =
        r#"<endpoint name="Addr"><address uri="http://127.0.0.1:9/services/S"/></endpoint>
        <endpoint name="Wsdl"><wsdl uri="file:w.wsdl" service="S" port="P"/></endpoint>
        <endpoint name="Http"><http method="get" uri-template="http://127.0.0.1:9/x"/></endpoint>
        <endpoint name="Inline"><wsdl service="S" port="P">"#
            .to_string()
            + SERVICE_WSDL
            + "</wsdl></endpoint>";
    let files = [("file:w.wsdl", SERVICE_WSDL)];
    let fetched: &[(&str, Result<&str, &str>)] =
        &[("http://127.0.0.1:9/services/S?wsdl", Ok(WSDL))];
    // an address endpoint: its address with `?wsdl`, fetched
    let xml = proxy(r#"<publishWSDL endpoint="Addr"/>"#, &endpoints);
    let (p, d) = compile_with(&xml, &files, Some(&[]), Some(fetched), None);
    let p = p.unwrap_or_else(|| panic!("{d:?}"));
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(&*p.published_wsdl("Q").unwrap().text, WSDL);
    assert_eq!(dispatched(&p, "urn:getQuote").1, "urn:quotes");
    // a `<wsdl>` endpoint: its own document (here a project file)
    let xml = proxy(r#"<publishWSDL endpoint="Wsdl"/>"#, &endpoints);
    let (p, d) = compile_with(&xml, &files, Some(&[]), Some(fetched), None);
    let p = p.unwrap_or_else(|| panic!("{d:?}"));
    // its port's address is the proxy's, as Axis2 prints the proxy's ports
    let at = ServiceAddresses {
        http: Some("http://gw:8290/services/Q".into()),
        https: None,
        request: "http://gw:8290/services/Q".into(),
    };
    assert_eq!(
        p.published_wsdl("Q").unwrap().text.render(&at),
        SERVICE_WSDL.replace("http://127.0.0.1:9/services/S", "http://gw:8290/services/Q")
    );
    assert_eq!(dispatched(&p, "urn:ping").0, "ping");
    // lint fetches nothing: the address endpoint's WSDL is left for deployment
    let xml = proxy(r#"<publishWSDL endpoint="Addr"/>"#, &endpoints);
    let (p, d) = compile_in(&xml, &files, None);
    assert!(d.is_empty(), "{d:?}");
    assert!(p.unwrap().published_wsdl("Q").is_none());
    // other endpoints, an inline WSDL, or a name no artifact defines: not deployed
    for (ep, says) in [
        ("Http", "neither an <address> nor a <wsdl> endpoint"),
        ("Inline", "holds its WSDL inline"),
        ("None", "names no deployed endpoint"),
    ] {
        let xml = proxy(&format!(r#"<publishWSDL endpoint="{ep}"/>"#), &endpoints);
        let (p, d) = compile_with(&xml, &files, Some(&[]), Some(fetched), None);
        assert!(p.is_none(), "{ep}");
        let d: Vec<_> = d
            .iter()
            .filter(|d| d.code == synaptic_diag::codes::E0123)
            .collect();
        assert_eq!(d.len(), 1, "{ep}: {d:?}");
        assert_eq!(text_at(&xml, d[0]), ep);
        assert!(d[0].message.contains(says), "{ep}: {}", d[0].message);
    }
    // lint (nothing fetched): a name the linted files do not define is a warning
    let xml = proxy(r#"<publishWSDL endpoint="None"/>"#, "");
    let (p, d) = compile_in(&xml, &[], None);
    assert!(p.is_some(), "{d:?}");
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].code, synaptic_diag::codes::W0124);
    assert_eq!(text_at(&xml, &d[0]), "None");
}

#[test]
fn a_proxy_pinned_to_other_servers_is_not_deployed_and_its_wsdl_not_read() {
    let xml = |pinned: &str| {
        format!(
            r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
            <proxy name="Q" pinnedServers="{pinned}"><target><inSequence><respond/></inSequence></target>
            <publishWSDL uri="http://127.0.0.1:1/none?wsdl"/></proxy></definitions>"#
        )
    };
    let fetched: &[(&str, Result<&str, &str>)] = &[("http://127.0.0.1:1/none?wsdl", Ok(WSDL))];
    // pinned elsewhere: nothing fetched (the host would refuse), no diagnostic
    let (p, d) = compile_with(&xml("a, b"), &[], Some(&[]), Some(&[]), Some("gw1"));
    let p = p.unwrap_or_else(|| panic!("{d:?}"));
    assert!(d.is_empty(), "{d:?}");
    assert!(!p.proxy_deployed("Q"));
    assert_eq!(
        p.proxies_pinned_elsewhere(),
        &[("Q".to_string(), vec!["a".to_string(), "b".to_string()])]
    );
    // pinned here (spaces or commas between names), or an empty list: deployed
    for pinned in ["gw1", "a gw1", "a,gw1", " ,gw1, ", ""] {
        let (p, d) = compile_with(&xml(pinned), &[], Some(&[]), Some(fetched), Some("gw1"));
        let p = p.unwrap_or_else(|| panic!("{pinned}: {d:?}"));
        assert!(p.proxy_deployed("Q"), "{pinned}");
        assert!(p.published_wsdl("Q").is_some(), "{pinned}");
    }
    // no server name (lint): every proxy is deployed
    let (p, _) = compile_with(&xml("a"), &[], Some(&[]), Some(fetched), None);
    assert!(p.unwrap().proxy_deployed("Q"));
    assert_eq!(crate::pinned_servers(" a,,b  c "), ["a", "b", "c"]);
}

/// A WSDL whose types import each of `locations`.
fn importing(locations: &[&str]) -> String {
    let imports: String = locations
        .iter()
        .map(|l| format!(r#"<xsd:import namespace="urn:x" schemaLocation="{l}"/>"#))
        .collect();
    WSDL.replace(
        r#"targetNamespace="urn:quotes"/>"#,
        &format!(r#"targetNamespace="urn:quotes">{imports}</xsd:schema>"#),
    )
}

/// A schema importing or including each of `locations`.
fn schema(tns: &str, body: &[(&str, &str)]) -> String {
    let refs: String = body
        .iter()
        .map(|(how, l)| format!(r#"<xs:{how} schemaLocation="{l}"/>"#))
        .collect();
    format!(
        r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="{tns}">{refs}<xs:element name="e"/></xs:schema>"#
    )
}

#[test]
fn schemas_are_named_and_pointed_at_as_axis2_serves_them() {
    let entries = format!(
        r#"<localEntry key="w">{}</localEntry><localEntry key="c">{}</localEntry>"#,
        importing(&["common.xsd", "types/order.xsd"]),
        schema("urn:c", &[])
    );
    let xml = proxy(
        r#"<publishWSDL key="w"><resource location="common.xsd" key="c"/></publishWSDL>"#,
        &entries,
    );
    let order = schema(
        "urn:o",
        &[
            ("include", "order-parts.xsd"),
            ("import", "common.xsd"),
            ("import", "other/order.xsd"),
        ],
    );
    let parts = schema("urn:o", &[]);
    let other = schema("urn:p", &[("import", "types/order.xsd")]);
    let files = [
        ("types/order.xsd", order.as_str()),
        ("order-parts.xsd", parts.as_str()),
        ("other/order.xsd", other.as_str()),
    ];
    let (p, d) = compile_in(&xml, &files, Some(&[]));
    let p = p.unwrap_or_else(|| panic!("{d:?}"));
    let w = p.published_wsdl("Q").unwrap();
    // a resource of a key without `.xsd` is `xsd0`; a file is named by its name; a name
    // taken gets the counter; each document is named once, depth first
    let names: Vec<&str> = w.schemas.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["xsd0", "order", "order-parts", "order1"]);
    assert!(
        w.text
            .contains(r#"schemaLocation="Q?xsd=xsd0.xsd"/><xsd:import namespace="urn:x" schemaLocation="Q?xsd=order.xsd"/>"#),
        "{}",
        w.text
    );
    let o = find_schema(&w.schemas, "order.xsd").unwrap();
    assert!(
        o.contains(r#"<xs:include schemaLocation="Q?xsd=order-parts.xsd"/><xs:import schemaLocation="Q?xsd=xsd0.xsd"/><xs:import schemaLocation="Q?xsd=order1.xsd"/>"#),
        "{o}"
    );
    let o1 = find_schema(&w.schemas, "order1.xsd").unwrap();
    assert!(o1.contains(r#"schemaLocation="Q?xsd=order.xsd""#), "{o1}");
    // as `printXSD` looks names up: exactly, else without the extension (and `./`)
    assert!(find_schema(&w.schemas, "xsd0").is_some());
    assert!(find_schema(&w.schemas, "./order-parts.xsd").is_some());
    assert!(find_schema(&w.schemas, "order.txt").is_some());
    assert!(find_schema(&w.schemas, "types/order.xsd").is_none());
    assert!(find_schema(&w.schemas, "common.xsd").is_none());

    // `useOriginalwsdl`: the WSDL's relative locations as written, behind `?xsd=`
    let xml = xml.replace(
        "</publishWSDL>",
        r#"</publishWSDL><parameter name="useOriginalwsdl">true</parameter>"#,
    );
    let (p, d) = compile_in(&xml, &files, Some(&[]));
    let p = p.unwrap_or_else(|| panic!("{d:?}"));
    let w = p.published_wsdl("Q").unwrap();
    assert!(
        w.text.contains(r#"schemaLocation="Q?xsd=common.xsd""#)
            && w.text.contains(r#"schemaLocation="Q?xsd=types/order.xsd""#),
        "{}",
        w.text
    );
    assert_eq!(w.schemas.len(), 4);
}

#[test]
fn a_registry_key_ending_in_xsd_and_a_fetched_schema_keep_their_names() {
    let xml = proxy(
        r#"<publishWSDL uri="http://h/svc?wsdl"><resource location="common.xsd" key="gov:/schemas/common.xsd"/></publishWSDL>"#,
        "",
    );
    let wsdl = importing(&["common.xsd", "x/a.xsd"]);
    let a = schema("urn:a", &[("import", "../b.xsd")]);
    let b = schema("urn:b", &[]);
    let fetched = [
        ("http://h/svc?wsdl", Ok(wsdl.as_str())),
        ("http://h/x/a.xsd", Ok(a.as_str())),
        ("http://h/b.xsd", Ok(b.as_str())),
    ];
    let c = schema("urn:c", &[]);
    let (p, d) = compile_with(
        &xml,
        &[],
        Some(&[("gov:/schemas/common.xsd", &c)]),
        Some(&fetched),
        None,
    );
    let p = p.unwrap_or_else(|| panic!("{d:?}"));
    let w = p.published_wsdl("Q").unwrap();
    let names: Vec<&str> = w.schemas.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["common", "http://h/x/a.xsd", "http://h/b.xsd"]);
    assert!(
        w.text
            .contains(r#"schemaLocation="Q?xsd=http://h/x/a.xsd""#),
        "{}",
        w.text
    );
    let a = find_schema(&w.schemas, "http://h/x/a.xsd").unwrap();
    assert!(
        a.contains(r#"schemaLocation="Q?xsd=http://h/b.xsd""#),
        "{a}"
    );
}

#[test]
fn an_endpoints_wsdl_resolves_its_imports_against_the_project_as_synapse_does() {
    // Synapse's base URI is the proxy's `uri`, its home without one: not the endpoint's URL
    let endpoints =
        r#"<endpoint name="Addr"><address uri="http://127.0.0.1:9/services/S"/></endpoint>"#;
    let wsdl = importing(&["a.xsd"]);
    let project = schema("urn:project", &[]);
    let remote = schema("urn:remote", &[]);
    let fetched: &[(&str, Result<&str, &str>)] = &[
        ("http://127.0.0.1:9/services/S?wsdl", Ok(wsdl.as_str())),
        ("http://127.0.0.1:9/services/a.xsd", Ok(remote.as_str())),
    ];
    let xml = proxy(r#"<publishWSDL endpoint="Addr"/>"#, endpoints);
    let (p, d) = compile_with(&xml, &[("a.xsd", &project)], Some(&[]), Some(fetched), None);
    let p = p.unwrap_or_else(|| panic!("{d:?}"));
    let w = p.published_wsdl("Q").unwrap();
    assert_eq!(w.schemas.len(), 1);
    assert_eq!(w.schemas[0].0, "a");
    assert!(w.schemas[0].1.contains("urn:project"));
    // the same document by `uri`: relative to its URL
    let xml = proxy(
        r#"<publishWSDL uri="http://127.0.0.1:9/services/S?wsdl"/>"#,
        endpoints,
    );
    let (p, d) = compile_with(&xml, &[("a.xsd", &project)], Some(&[]), Some(fetched), None);
    let p = p.unwrap_or_else(|| panic!("{d:?}"));
    let w = p.published_wsdl("Q").unwrap();
    assert_eq!(w.schemas[0].0, "http://127.0.0.1:9/services/a.xsd");
    assert!(w.schemas[0].1.contains("urn:remote"));
}

#[test]
fn a_schema_that_cannot_be_served_fails_the_proxy_where_the_wsdl_is_named() {
    type Files<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Files, &str, &str); 3] = [
        // a file that is not there
        (
            &[],
            "missing.xsd",
            "`missing.xsd` of the WSDL cannot be read",
        ),
        // not a schema
        (
            &[("missing.xsd", "<x/>")],
            "missing.xsd",
            "not an XML schema",
        ),
        // a resource's relative import that is not a resource
        (
            &[],
            "common.xsd",
            "`b.xsd` of `common.xsd` cannot be read: it is no <resource>",
        ),
    ];
    for (files, import, why) in cases {
        let entries = format!(
            r#"<localEntry key="w">{}</localEntry><localEntry key="c">{}</localEntry>"#,
            importing(&[import]),
            schema("urn:c", &[("import", "b.xsd")])
        );
        let xml = proxy(
            r#"<publishWSDL key="w"><resource location="common.xsd" key="c"/></publishWSDL>"#,
            &entries,
        );
        assert_not_deployed(&xml, files, "w", why);
    }
}

/// `xml` with the project's `files` does not deploy the proxy: E0123 at `at`, saying `why`.
/// The program of the proxy `Q` publishing `publish`, with the project's `files`, the
/// registry's resources and the documents at `http(s)` URLs; it deploys without a word.
fn deployed_with(
    publish: &str,
    files: &[(&str, &str)],
    registry: &[(&str, &str)],
    fetched: &[(&str, Result<&str, &str>)],
) -> Program {
    let xml = proxy(publish, "");
    let (p, d) = compile_with(&xml, files, Some(registry), Some(fetched), None);
    assert!(d.is_empty(), "{d:?}");
    p.unwrap_or_else(|| panic!("{d:?}"))
}

/// The proxy publishing the file `main.wsdl` (`main`, beside `docs`) is not deployed, the
/// diagnostic saying `why` at its `uri`.
fn assert_main_not_deployed(main: &str, docs: &[(&str, String)], why: &str) {
    let mut files: Vec<(&str, &str)> = vec![("main.wsdl", main)];
    files.extend(docs.iter().map(|(n, t)| (*n, t.as_str())));
    let xml = proxy(r#"<publishWSDL uri="main.wsdl"/>"#, "");
    assert_not_deployed(&xml, &files, "main.wsdl", why);
}

fn assert_not_deployed(xml: &str, files: &[(&str, &str)], at: &str, why: &str) {
    let (p, d) = compile_in(xml, files, Some(&[]));
    assert!(p.is_none(), "{why}");
    assert_eq!(d[0].code, synaptic_diag::codes::E0123);
    assert_eq!(text_at(xml, &d[0]), at);
    assert!(d[0].message.contains(why), "{}", d[0].message);
}

#[test]
fn imports_are_bounded_in_depth_and_a_cycle_is_read_once() {
    // a.xsd ⇄ b.xsd
    let entries = format!(
        r#"<localEntry key="w">{}</localEntry>"#,
        importing(&["a.xsd"])
    );
    let xml = proxy(r#"<publishWSDL key="w"/>"#, &entries);
    let a = schema("urn:a", &[("import", "b.xsd")]);
    let b = schema("urn:b", &[("import", "a.xsd")]);
    let (p, d) = compile_in(&xml, &[("a.xsd", &a), ("b.xsd", &b)], Some(&[]));
    let p = p.unwrap_or_else(|| panic!("{d:?}"));
    assert_eq!(p.published_wsdl("Q").unwrap().schemas.len(), 2);
    // s0.xsd → s1.xsd → … deeper than allowed
    let chain: Vec<(String, String)> = (0..=MAX_SCHEMA_DEPTH)
        .map(|i| {
            (
                format!("s{i}.xsd"),
                schema("urn:s", &[("include", &format!("s{}.xsd", i + 1))]),
            )
        })
        .collect();
    let mut files: Vec<(&str, &str)> = chain
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let last = schema("urn:s", &[]);
    let end = format!("s{}.xsd", MAX_SCHEMA_DEPTH + 1);
    files.push((&end, &last));
    let entries = format!(
        r#"<localEntry key="w">{}</localEntry>"#,
        importing(&["s0.xsd"])
    );
    let xml = proxy(r#"<publishWSDL key="w"/>"#, &entries);
    let (p, d) = compile_in(&xml, &files, Some(&[]));
    assert!(p.is_none());
    assert!(
        d[0].message.contains("levels below the WSDL"),
        "{}",
        d[0].message
    );
}

#[test]
fn resources_map_import_locations_to_keyed_documents() {
    let entries = format!(
        r#"<localEntry key="w">{}</localEntry>
        <localEntry key="c"><xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:c"/></localEntry>"#,
        importing(&["common.xsd"])
    );
    let xml = proxy(
        r#"<publishWSDL key="w"><resource location="common.xsd" key="c"/><resource location="other.xsd" key="gov:/x.xsd"/></publishWSDL>"#,
        &entries,
    );
    let (p, d) = compile_in(&xml, &[], Some(&[("gov:/x.xsd", "<x/>")]));
    let p = p.unwrap_or_else(|| panic!("{d:?}"));
    let w = p.published_wsdl("Q").unwrap();
    // only what the WSDL's schemas reach is served, by Axis2's name
    let r: Vec<(&str, &str)> = w.schemas.iter().map(|(l, t)| (l.as_str(), &**t)).collect();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].0, "xsd0");
    assert!(r[0].1.contains("targetNamespace=\"urn:c\""), "{}", r[0].1);
    // a resource key naming nothing
    let (p, d) = compile_in(&xml, &[], Some(&[]));
    assert!(p.is_none());
    assert_eq!(text_at(&xml, &d[0]), "gov:/x.xsd");
    assert!(d[0].message.contains("resource key"), "{}", d[0].message);
}

/// A WSDL 1.1 document in the namespace `tns` importing the WSDL `imports` (location,
/// namespace), with a port type of the operations `ops` (name, WS-Addressing action) whose
/// types import the schemas `schemas`, and a SOAP binding of `bound` (operation, action).
fn wsdl_doc(
    tns: &str,
    imports: &[&str],
    ops: &[(&str, &str)],
    schemas: &[&str],
    bound: &[(&str, &str)],
) -> String {
    let imports: String = imports
        .iter()
        .map(|l| format!(r#"<wsdl:import namespace="urn:i" location="{l}"/>"#))
        .collect();
    let schemas: String = schemas
        .iter()
        .map(|l| format!(r#"<xsd:import namespace="urn:x" schemaLocation="{l}"/>"#))
        .collect();
    let ops: String = ops
        .iter()
        .map(|(o, a)| {
            format!(r#"<wsdl:operation name="{o}"><wsdl:input message="m" wsaw:Action="{a}"/></wsdl:operation>"#)
        })
        .collect();
    let bound: String = bound
        .iter()
        .map(|(o, a)| {
            format!(
                r#"<wsdl:operation name="{o}"><soap:operation soapAction="{a}"/></wsdl:operation>"#
            )
        })
        .collect();
    format!(
        r#"<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:wsaw="http://www.w3.org/2006/05/addressing/wsdl" targetNamespace="{tns}">{imports}
  <wsdl:types><xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema">{schemas}</xsd:schema></wsdl:types>
  <wsdl:portType name="PT">{ops}</wsdl:portType>
  <wsdl:binding name="B" type="PT">{bound}</wsdl:binding>
</wsdl:definitions>"#
    )
}

#[test]
fn wsdl_imports_are_read_rewritten_served_and_dispatched_to() {
    // the published WSDL binds the operations of the port type it imports
    let main = wsdl_doc(
        "urn:main",
        &["abstract.wsdl", "http://h.example/remote.wsdl"],
        &[],
        &[],
        &[("getQuote", "urn:getQuote")],
    );
    let abs = wsdl_doc(
        "urn:abs",
        &["more/deeper.wsdl"],
        &[("getQuote", ""), ("placeOrder", "urn:abs:place")],
        &["common.xsd"],
        &[],
    );
    // back to the first: a cycle, read once
    let deeper = wsdl_doc(
        "urn:deep",
        &["abstract.wsdl"],
        &[("cancel", "urn:cancel")],
        &[],
        &[],
    );
    let remote = wsdl_doc("urn:remote", &[], &[("ping", "urn:ping")], &[], &[]);
    let common = schema("urn:c", &[]);
    let files = [
        ("main.wsdl", main.as_str()),
        ("abstract.wsdl", abs.as_str()),
        ("more/deeper.wsdl", deeper.as_str()),
        ("common.xsd", common.as_str()),
    ];
    let fetched = [("http://h.example/remote.wsdl", Ok(remote.as_str()))];
    let p = deployed_with(r#"<publishWSDL uri="main.wsdl"/>"#, &files, &[], &fetched);
    let w = p.published_wsdl("Q").unwrap();
    // relative imports point at `?wsdl=` and the location as written; absolute ones stay
    assert!(
        w.text.contains(r#"location="Q?wsdl=abstract.wsdl""#),
        "{}",
        w.text
    );
    assert!(
        w.text
            .contains(r#"location="http://h.example/remote.wsdl""#),
        "{}",
        w.text
    );
    // every document read, depth first, each import before those of its document
    let order: Vec<&str> = w.imports.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        order,
        [
            "abstract.wsdl",
            "more/deeper.wsdl",
            "abstract.wsdl",
            "http://h.example/remote.wsdl"
        ]
    );
    let a = find_import(&w.imports, "abstract.wsdl").unwrap();
    assert!(a.contains(r#"location="Q?wsdl=more/deeper.wsdl""#), "{a}");
    // an imported document's schemas are served like the published one's
    assert!(a.contains(r#"schemaLocation="Q?xsd=common.xsd""#), "{a}");
    assert_eq!(w.schemas.len(), 1);
    assert!(find_schema(&w.schemas, "common.xsd").is_some());
    // looked up as `printUserWSDL` does: the first location ending with the name
    let deep = find_import(&w.imports, "deeper.wsdl").unwrap();
    assert!(deep.contains("urn:deep"), "{deep}");
    assert!(
        deep.contains(r#"location="Q?wsdl=abstract.wsdl""#),
        "{deep}"
    );
    assert!(find_import(&w.imports, "nothing.wsdl").is_none());
    // dispatch knows the operations of every document, each in its own namespace
    assert_eq!(
        dispatched(&p, "urn:getQuote"),
        ("getQuote".into(), "urn:abs".into())
    );
    assert_eq!(
        dispatched(&p, "urn:abs:place"),
        ("placeOrder".into(), "urn:abs".into())
    );
    assert_eq!(
        dispatched(&p, "urn:cancel"),
        ("cancel".into(), "urn:deep".into())
    );
    assert_eq!(
        dispatched(&p, "urn:ping"),
        ("ping".into(), "urn:remote".into())
    );
    // `useOriginalwsdl` rewrites the imports alike
    let xml = proxy(
        r#"<publishWSDL uri="main.wsdl"/><parameter name="useOriginalwsdl">true</parameter>"#,
        "",
    );
    let (p, d) = compile_with(&xml, &files, Some(&[]), Some(&fetched), None);
    let p = p.unwrap_or_else(|| panic!("{d:?}"));
    let w = p.published_wsdl("Q").unwrap();
    assert!(
        w.text.contains(r#"location="Q?wsdl=abstract.wsdl""#),
        "{}",
        w.text
    );
    let a = find_import(&w.imports, "abstract.wsdl").unwrap();
    assert!(a.contains(r#"schemaLocation="Q?xsd=common.xsd""#), "{a}");
}

#[test]
fn a_wsdl_import_that_cannot_be_served_fails_the_proxy() {
    let main = |l: &str| wsdl_doc("urn:main", &[l], &[], &[], &[]);
    let cases = [
        (
            "missing.wsdl",
            vec![],
            "`missing.wsdl` that the WSDL imports cannot be read",
        ),
        (
            "bad.wsdl",
            vec![("bad.wsdl", "<x>".to_string())],
            "is not XML",
        ),
        (
            "other.wsdl",
            vec![("other.wsdl", "<x/>".to_string())],
            "neither a WSDL 1.1 <definitions> nor a schema",
        ),
        (
            "a.wsdl",
            vec![("a.wsdl", wsdl_doc("urn:a", &[], &[], &["nowhere.xsd"], &[]))],
            "`nowhere.xsd` of `a.wsdl` cannot be read",
        ),
    ];
    for (import, docs, why) in cases {
        assert_main_not_deployed(&main(import), &docs, why);
    }
}

#[test]
fn wsdl_imports_are_bounded_in_depth_and_number() {
    // w0.wsdl → w1.wsdl → … one level deeper than allowed
    let chain: Vec<(String, String)> = (0..=MAX_WSDL_IMPORT_DEPTH + 1)
        .map(|i| {
            let next = format!("w{}.wsdl", i + 1);
            let imports: &[&str] = if i <= MAX_WSDL_IMPORT_DEPTH {
                &[&next]
            } else {
                &[]
            };
            (
                format!("w{i}.wsdl"),
                wsdl_doc("urn:w", imports, &[], &[], &[]),
            )
        })
        .collect();
    let files: Vec<(&str, &str)> = chain
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let xml = proxy(r#"<publishWSDL uri="w0.wsdl"/>"#, "");
    let (p, d) = compile_in(&xml, &files, Some(&[]));
    assert!(p.is_none());
    assert!(
        d[0].message.contains("levels of imports"),
        "{}",
        d[0].message
    );
    // as deep as allowed: served
    let xml = proxy(r#"<publishWSDL uri="w1.wsdl"/>"#, "");
    let (p, d) = compile_in(&xml, &files, Some(&[]));
    let p = p.unwrap_or_else(|| panic!("{d:?}"));
    assert_eq!(
        p.published_wsdl("Q").unwrap().imports.len(),
        MAX_WSDL_IMPORT_DEPTH
    );
    // more documents than allowed, side by side
    let names: Vec<String> = (0..=MAX_WSDL_IMPORTS)
        .map(|i| format!("s{i}.wsdl"))
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let main = wsdl_doc("urn:main", &refs, &[], &[], &[]);
    let leaf = wsdl_doc("urn:leaf", &[], &[], &[], &[]);
    let mut files: Vec<(&str, &str)> = vec![("main.wsdl", main.as_str())];
    files.extend(refs.iter().map(|n| (*n, leaf.as_str())));
    let xml = proxy(r#"<publishWSDL uri="main.wsdl"/>"#, "");
    let (p, d) = compile_in(&xml, &files, Some(&[]));
    assert!(p.is_none());
    assert!(
        d[0].message
            .contains(&format!("the {MAX_WSDL_IMPORTS} documents")),
        "{}",
        d[0].message
    );
}

/// The proxy `Q`'s addresses over both listeners, the request over HTTP.
fn gateway_addresses() -> ServiceAddresses {
    ServiceAddresses {
        http: Some("http://gw:8290/services/Q".into()),
        https: Some("https://gw:8253/services/Q".into()),
        request: "http://gw:8290/services/Q".into(),
    }
}

/// A published WSDL (a file) with the parameters `params`, and the project's `files`.
fn published_with(params: &str, files: &[(&str, &str)]) -> PublishedWsdl {
    let xml = proxy(&format!(r#"<publishWSDL uri="main.wsdl"/>{params}"#), "");
    let (p, d) = compile_in(&xml, files, Some(&[]));
    let p = p.unwrap_or_else(|| panic!("{d:?}"));
    p.published_wsdl("Q").unwrap().clone()
}

#[test]
fn ports_get_the_proxys_addresses_unless_the_original_wsdl_keeps_them() {
    let main = WSDL.replace(
        "</wsdl:definitions>",
        r#"<wsdl:service name="S">
    <wsdl:port name="P1" binding="tns:B"><soap:address location="http://backend:9000/q"/></wsdl:port>
    <wsdl:port name="P2" binding="tns:B"><soap12:address xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/" location="https://backend:9443/q"/></wsdl:port>
    <wsdl:port name="QHttpsSoap11Endpoint" binding="tns:B"><soap:address location="http://elsewhere/q"/></wsdl:port>
    <wsdl:port name="P3" binding="tns:B"><http:address xmlns:http="http://schemas.xmlsoap.org/wsdl/http/" location="REPLACE_WITH_ACTUAL_URL"/></wsdl:port>
  </wsdl:service>
</wsdl:definitions>"#,
    );
    let files = [("main.wsdl", main.as_str())];
    let locations = |doc: &str| -> Vec<String> {
        doc.split("location=\"")
            .skip(1)
            .map(|r| r[..r.find('"').unwrap()].to_string())
            .collect()
    };
    // by the scheme of the address as written; an endpoint of the proxy by its own name;
    // no address yet: the first of the proxy's
    let w = published_with("", &files);
    assert_eq!(
        locations(&w.text.render(&gateway_addresses())),
        [
            "http://gw:8290/services/Q",
            "https://gw:8253/services/Q",
            "https://gw:8253/services/Q.QHttpsSoap11Endpoint",
            "http://gw:8290/services/Q",
        ]
    );
    // a listener the proxy is not reached over: the address as written (an endpoint's
    // port then goes by the scheme it is written with)
    let http_only = ServiceAddresses {
        https: None,
        ..gateway_addresses()
    };
    assert_eq!(
        locations(&w.text.render(&http_only))[1..3],
        ["https://backend:9443/q", "http://gw:8290/services/Q"]
    );
    // the original WSDL: the same, unless `modifyUserWSDLPortAddress` is `false`
    let original = r#"<parameter name="useOriginalwsdl">true</parameter>"#;
    let w = published_with(original, &files);
    assert_eq!(
        locations(&w.text.render(&gateway_addresses()))[0],
        "http://gw:8290/services/Q"
    );
    let kept =
        format!(r#"{original}<parameter name="modifyUserWSDLPortAddress">false</parameter>"#);
    let w = published_with(&kept, &files);
    assert_eq!(
        locations(&w.text.render(&gateway_addresses())),
        [
            "http://backend:9000/q",
            "https://backend:9443/q",
            "http://elsewhere/q",
            "REPLACE_WITH_ACTUAL_URL"
        ]
    );
    assert_eq!(&*w.text, main);
}

#[test]
fn schema_and_import_locations_follow_the_proxys_parameters() {
    let main = wsdl_doc("urn:main", &["abstract.wsdl"], &[], &["common.xsd"], &[]);
    let abs = wsdl_doc("urn:abs", &[], &[], &["common.xsd"], &[]);
    let common = schema("urn:c", &[("import", "other.xsd")]);
    let other = schema("urn:o", &[]);
    let files = [
        ("main.wsdl", main.as_str()),
        ("abstract.wsdl", abs.as_str()),
        ("common.xsd", common.as_str()),
        ("other.xsd", other.as_str()),
    ];
    let at = gateway_addresses();
    let render = |params: &str| {
        let w = published_with(params, &files);
        let schema = find_schema(&w.schemas, "common.xsd").unwrap().render(&at);
        let import = find_import(&w.imports, "abstract.wsdl")
            .unwrap()
            .render(&at);
        (w.text.render(&at), schema, import)
    };
    let param = |n: &str| format!(r#"<parameter name="{n}">true</parameter>"#);
    // generateAbsoluteLocationURIs: the service's HTTP address for `{proxy}`
    let (wsdl, schema, import) = render(&param("generateAbsoluteLocationURIs"));
    assert!(
        wsdl.contains(r#"location="http://gw:8290/services/Q?wsdl=abstract.wsdl""#),
        "{wsdl}"
    );
    assert!(
        wsdl.contains(r#"schemaLocation="http://gw:8290/services/Q?xsd=common.xsd""#),
        "{wsdl}"
    );
    assert!(
        schema.contains(r#"schemaLocation="http://gw:8290/services/Q?xsd=other.xsd""#),
        "{schema}"
    );
    assert!(
        import.contains(r#"schemaLocation="http://gw:8290/services/Q?xsd=common.xsd""#),
        "{import}"
    );
    // …its HTTPS address when it is reached over HTTPS only
    let w = published_with(&param("generateAbsoluteLocationURIs"), &files);
    let https_only = ServiceAddresses {
        http: None,
        ..gateway_addresses()
    };
    assert!(w
        .text
        .render(&https_only)
        .contains(r#"location="https://gw:8253/services/Q?wsdl=abstract.wsdl""#));
    // showAbsoluteSchemaURL: the schema's name alone; imports keep `{proxy}?wsdl=`
    let (wsdl, schema, _) = render(&param("showAbsoluteSchemaURL"));
    assert!(wsdl.contains(r#"schemaLocation="common.xsd""#), "{wsdl}");
    assert!(
        wsdl.contains(r#"location="Q?wsdl=abstract.wsdl""#),
        "{wsdl}"
    );
    assert!(schema.contains(r#"schemaLocation="other.xsd""#), "{schema}");
    // showProxySchemaURL: the address the request reached, and it wins over the other
    let both = param("showAbsoluteSchemaURL") + &param("showProxySchemaURL");
    let (wsdl, schema, _) = render(&both);
    assert!(
        wsdl.contains(r#"schemaLocation="http://gw:8290/services/Q?xsd=common.xsd""#),
        "{wsdl}"
    );
    assert!(
        schema.contains(r#"schemaLocation="http://gw:8290/services/Q?xsd=other.xsd""#),
        "{schema}"
    );
    // `useOriginalwsdl` with generateAbsoluteLocationURIs: locations as written, absolute
    let (wsdl, _, _) = render(
        &(param("generateAbsoluteLocationURIs")
            + r#"<parameter name="useOriginalwsdl">true</parameter>"#),
    );
    assert!(
        wsdl.contains(r#"schemaLocation="http://gw:8290/services/Q?xsd=common.xsd""#),
        "{wsdl}"
    );
    // without a parameter: relative, as before
    let (wsdl, _, _) = render("");
    assert!(
        wsdl.contains(r#"schemaLocation="Q?xsd=common.xsd""#),
        "{wsdl}"
    );
    // `false`, `no`, `0` are not true
    let (wsdl, _, _) = render(r#"<parameter name="generateAbsoluteLocationURIs">no</parameter>"#);
    assert!(
        wsdl.contains(r#"location="Q?wsdl=abstract.wsdl""#),
        "{wsdl}"
    );
}

#[test]
fn the_services_schemas_are_those_of_every_documents_types() {
    let main = wsdl_doc("urn:main", &["abstract.wsdl"], &[], &["common.xsd"], &[]);
    let abs = wsdl_doc("urn:abs", &[], &[], &[], &[]);
    let common = schema("urn:c", &[]);
    let files = [
        ("main.wsdl", main.as_str()),
        ("abstract.wsdl", abs.as_str()),
        ("common.xsd", common.as_str()),
    ];
    let w = published_with("", &files);
    let s = w.service_schemas(&gateway_addresses());
    assert_eq!(s.len(), 2);
    // a document of its own, its locations as served, the WSDL's namespaces declared
    assert!(s[0].starts_with("<xsd:schema xmlns:wsdl="), "{}", s[0]);
    assert!(
        s[0].contains(r#"schemaLocation="Q?xsd=common.xsd""#),
        "{}",
        s[0]
    );
    assert!(synaptic_syntax::xsd::externals(&s[1]).unwrap().is_schema);
    // one document: one schema
    let files = [("main.wsdl", WSDL), ("common.xsd", common.as_str())];
    assert_eq!(
        published_with("", &files)
            .service_schemas(&gateway_addresses())
            .len(),
        1
    );
}

/// A WSDL 2.0 description of the namespace `tns` (prefix `tns`; `q` is `urn:q`, `base` is
/// `urn:base`): its `import`s and `include`s, the schemas its types import, an interface `I`
/// extending `extends` (when not empty) with the operations `ops` (name, the input's
/// `wsaw:Action` or none), and `service`: a service of that interface with an endpoint at
/// that address.
fn wsdl20_doc(
    tns: &str,
    imports: &[&str],
    includes: &[&str],
    schemas: &[&str],
    ops: &[(&str, &str)],
    extends: &str,
    service: Option<(&str, &str)>,
) -> String {
    let mut links: String = imports
        .iter()
        .map(|l| format!(r#"<import namespace="urn:i" location="{l}"/>"#))
        .collect();
    links.extend(
        includes
            .iter()
            .map(|l| format!(r#"<include location="{l}"/>"#)),
    );
    let schemas: String = schemas
        .iter()
        .map(|l| format!(r#"<xsd:import namespace="urn:x" schemaLocation="{l}"/>"#))
        .collect();
    let ops: String = ops
        .iter()
        .map(|(o, a)| match *a {
            "" => format!(r##"<operation name="{o}"><input element="#any"/></operation>"##),
            a => format!(
                r##"<operation name="{o}"><input element="#any" wsaw:Action="{a}"/></operation>"##
            ),
        })
        .collect();
    let extends = match extends {
        "" => String::new(),
        e => format!(r#" extends="{e}""#),
    };
    let service = service.map_or(String::new(), |(iface, address)| {
        format!(
            r#"<binding name="B" interface="{iface}" type="http://www.w3.org/ns/wsdl/soap"/>
  <service name="S" interface="{iface}"><endpoint name="E" binding="tns:B" address="{address}"/></service>"#
        )
    });
    format!(
        r#"<description xmlns="http://www.w3.org/ns/wsdl" xmlns:tns="{tns}" xmlns:q="urn:q" xmlns:base="urn:base"
    xmlns:wsaw="http://www.w3.org/2006/05/addressing/wsdl" targetNamespace="{tns}">{links}
  <types><xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema">{schemas}</xsd:schema></types>
  <interface name="I"{extends}>{ops}</interface>
  {service}
</description>"#
    )
}

#[test]
fn wsdl20_imports_and_includes_are_read_rewritten_served_and_dispatched_to() {
    // the published description's service uses the interface of the description it imports,
    // which extends one fetched over http; an included one brings a schema and includes
    // itself (a cycle, read once)
    let main = wsdl20_doc(
        "urn:main",
        &["interfaces/quotes.wsdl"],
        &["parts.wsdl"],
        &[],
        &[],
        "",
        Some(("q:I", "http://backend:9000/q")),
    );
    let quotes = wsdl20_doc(
        "urn:q",
        &["http://h.example/base.wsdl"],
        &[],
        &[],
        &[("getQuote", "urn:getQuoteIn"), ("placeOrder", "")],
        "base:I",
        None,
    );
    let base = wsdl20_doc("urn:base", &[], &[], &[], &[("ping", "")], "", None);
    let parts = wsdl20_doc(
        "urn:main",
        &[],
        &["parts.wsdl"],
        &["common.xsd"],
        &[],
        "",
        None,
    );
    let common = schema("urn:c", &[]);
    let files = [
        ("main.wsdl", main.as_str()),
        ("interfaces/quotes.wsdl", quotes.as_str()),
        ("parts.wsdl", parts.as_str()),
        ("common.xsd", common.as_str()),
    ];
    let fetched = [("http://h.example/base.wsdl", Ok(base.as_str()))];
    let p = deployed_with(r#"<publishWSDL uri="main.wsdl"/>"#, &files, &[], &fetched);
    let w = p.published_wsdl("Q").unwrap();
    // relative locations point at `?wsdl=` and the location as written, absolute ones stay
    assert!(
        w.text
            .contains(r#"<import namespace="urn:i" location="Q?wsdl=interfaces/quotes.wsdl"/>"#),
        "{}",
        w.text
    );
    assert!(
        w.text
            .contains(r#"<include location="Q?wsdl=parts.wsdl"/>"#),
        "{}",
        w.text
    );
    let order: Vec<&str> = w.imports.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        order,
        [
            "interfaces/quotes.wsdl",
            "http://h.example/base.wsdl",
            "parts.wsdl",
            "parts.wsdl"
        ]
    );
    let q = find_import(&w.imports, "quotes.wsdl").unwrap();
    assert!(
        q.contains(r#"location="http://h.example/base.wsdl""#),
        "{q}"
    );
    // an included description's schemas are served and pointed at like the published one's
    let served = find_import(&w.imports, "parts.wsdl").unwrap();
    assert!(
        served.contains(r#"schemaLocation="Q?xsd=common.xsd""#),
        "{served}"
    );
    assert!(
        served.contains(r#"location="Q?wsdl=parts.wsdl""#),
        "{served}"
    );
    assert_eq!(w.schemas.len(), 1);
    assert!(find_schema(&w.schemas, "common.xsd").is_some());
    // the service's schemas: those of every description's types, in the order read
    let s = w.service_schemas(&gateway_addresses());
    assert_eq!(s.len(), 4, "{s:?}");
    assert!(s[1].contains(r#"xmlns:tns="urn:q""#), "{}", s[1]);
    assert!(
        s[3].contains(r#"schemaLocation="Q?xsd=common.xsd""#),
        "{}",
        s[3]
    );
    // requests are dispatched to the operations of the service's interface, wherever it is
    // declared, and of the one it extends, each in its description's namespace
    for (action, op, ns) in [
        ("urn:getQuoteIn", "getQuote", "urn:q"),
        ("urn:placeOrder", "placeOrder", "urn:q"),
        ("ping", "ping", "urn:base"),
        ("urn:getQuote", "mediate", ""),
    ] {
        assert_eq!(dispatched(&p, action), (op.into(), ns.into()), "{action}");
    }
    // a `<resource>` answers for a location as written
    let files = [
        ("main.wsdl", main.as_str()),
        ("parts.wsdl", parts.as_str()),
        ("common.xsd", common.as_str()),
    ];
    let p = deployed_with(
        r#"<publishWSDL uri="main.wsdl"><resource location="interfaces/quotes.wsdl" key="gov:/q.wsdl"/></publishWSDL>"#,
        &files,
        &[("gov:/q.wsdl", quotes.as_str())],
        &fetched,
    );
    assert_eq!(dispatched(&p, "urn:getQuoteIn").0, "getQuote");
}

#[test]
fn a_wsdl20_import_or_include_that_cannot_be_served_fails_the_proxy() {
    let main = |l: &str| wsdl20_doc("urn:main", &[l], &[], &[], &[], "", None);
    let included = |l: &str| wsdl20_doc("urn:main", &[], &[l], &[], &[], "", None);
    let cases = [
        (
            main("missing.wsdl"),
            vec![],
            "`missing.wsdl` that the WSDL imports cannot be read",
        ),
        (
            included("bad.wsdl"),
            vec![("bad.wsdl", "<x>".to_string())],
            "is not XML",
        ),
        (
            main("w11.wsdl"),
            vec![("w11.wsdl", WSDL.to_string())],
            "`w11.wsdl` that the WSDL imports or includes is not a WSDL 2.0 <description>",
        ),
        (
            included("s.xsd"),
            vec![("s.xsd", schema("urn:s", &[]))],
            "is not a WSDL 2.0 <description>",
        ),
        (
            main("a.wsdl"),
            vec![(
                "a.wsdl",
                wsdl20_doc("urn:a", &[], &[], &["nowhere.xsd"], &[], "", None),
            )],
            "`nowhere.xsd` of `a.wsdl` cannot be read",
        ),
    ];
    for (m, docs, why) in cases {
        assert_main_not_deployed(&m, &docs, why);
    }
    // a WSDL 1.1 document's import of a WSDL 2.0 description is refused as before
    assert_main_not_deployed(
        &wsdl_doc("urn:main", &["w20.wsdl"], &[], &[], &[]),
        &[("w20.wsdl", main("x.wsdl"))],
        "neither a WSDL 1.1 <definitions> nor a schema",
    );
}

#[test]
fn endpoint_references_and_wsdl20_endpoints_get_the_proxys_addresses() {
    let epr = |a: &str| {
        format!(
            r#"<wsa:EndpointReference xmlns:wsa="http://www.w3.org/2005/08/addressing"><wsa:Address>{a}</wsa:Address></wsa:EndpointReference>"#
        )
    };
    // the text of every `Address` element, and every `location`/`address` attribute
    let addresses = |doc: &str| -> Vec<String> {
        let texts = doc
            .split("Address>")
            .skip(1)
            .step_by(2)
            .map(|r| r[..r.find('<').unwrap()].to_string());
        let attrs = doc
            .split(" location=\"")
            .chain(doc.split(" address=\"").skip(1))
            .skip(1)
            .map(|r| r[..r.find('"').unwrap()].to_string());
        attrs.chain(texts).collect()
    };
    // WSDL 1.1: an EndpointReference's Address beside a soap:address, and in a port named
    // like one of the proxy's endpoints
    let main = WSDL.replace(
        "</wsdl:definitions>",
        &format!(
            r#"<wsdl:service name="S">
    <wsdl:port name="P1" binding="tns:B"><soap:address location="http://backend:9000/q"/>{}</wsdl:port>
    <wsdl:port name="QHttpSoap11Endpoint" binding="tns:B">{}</wsdl:port>
  </wsdl:service>
</wsdl:definitions>"#,
            epr(" https://backend:9443/q?a=1&amp;b=2 "),
            epr("http://elsewhere/q")
        ),
    );
    let files = [("main.wsdl", main.as_str())];
    let w = published_with("", &files);
    let rendered = |w: &PublishedWsdl| addresses(&w.text.render(&gateway_addresses()));
    assert_eq!(
        rendered(&w),
        [
            "http://gw:8290/services/Q",
            "https://gw:8253/services/Q",
            "http://gw:8290/services/Q.QHttpSoap11Endpoint"
        ]
    );
    // a scheme the proxy is not reached over: the address as written, escaped again
    let http_only = ServiceAddresses {
        https: None,
        ..gateway_addresses()
    };
    assert_eq!(
        addresses(&w.text.render(&http_only))[1],
        "https://backend:9443/q?a=1&amp;b=2"
    );
    // kept as written with the original WSDL and modifyUserWSDLPortAddress=false
    let kept = r#"<parameter name="useOriginalwsdl">true</parameter><parameter name="modifyUserWSDLPortAddress">false</parameter>"#;
    assert_eq!(&*published_with(kept, &files).text, main);

    // WSDL 2.0: an endpoint's address, and an EndpointReference in an endpoint named like
    // one of the proxy's
    let main = wsdl20_doc(
        "urn:main",
        &[],
        &[],
        &[],
        &[("ping", "")],
        "",
        Some(("tns:I", "https://backend:9443/q")),
    )
    .replace(
        "</service>",
        &format!(
            r#"<endpoint name="QHttpEndpoint" binding="tns:B">{}</endpoint></service>"#,
            epr("http://backend:9000/rest")
        ),
    );
    let files = [("main.wsdl", main.as_str())];
    assert_eq!(
        rendered(&published_with("", &files)),
        [
            "https://gw:8253/services/Q",
            "http://gw:8290/services/Q.QHttpEndpoint"
        ]
    );
    assert_eq!(&*published_with(kept, &files).text, main);
}

#[test]
fn an_import_without_a_schema_location_is_served_as_written_and_reads_nothing() {
    // the namespace of a sibling schema of the same types, imported without a location (or
    // with an empty one), beside one that has a location
    let main = WSDL.replace(
        r#"<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:quotes"/>"#,
        r#"<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:quotes"><xsd:import namespace="urn:types"/><xsd:import namespace="urn:more" schemaLocation=""/><xsd:import namespace="urn:c" schemaLocation="common.xsd"/></xsd:schema>
  <xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:types"/>"#,
    );
    let common = schema("urn:c", &[]);
    let files = [
        ("main.wsdl", main.as_str()),
        ("common.xsd", common.as_str()),
    ];
    let w = published_with("", &files);
    assert!(
        w.text.contains(
            r#"<xsd:import namespace="urn:types"/><xsd:import namespace="urn:more" schemaLocation=""/><xsd:import namespace="urn:c" schemaLocation="Q?xsd=common.xsd"/>"#
        ),
        "{}",
        w.text
    );
    // only the schema with a location is read and named
    let names: Vec<&str> = w.schemas.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["common"]);
    assert_eq!(w.service_schemas(&gateway_addresses()).len(), 2);
    // useOriginalwsdl leaves them too
    let w = published_with(
        r#"<parameter name="useOriginalwsdl">true</parameter>"#,
        &files,
    );
    assert!(
        w.text
            .contains(r#"<xsd:import namespace="urn:more" schemaLocation=""/>"#),
        "{}",
        w.text
    );
}
