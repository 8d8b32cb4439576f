//! `<wsdl>` endpoints as the compiler resolves them (inline, through the host's reader, with
//! imports, inside endpoint templates), and the deploy-time parameters of the attributes
//! Micro Integrator resolves: a WSDL endpoint's `service`/`port`, a template instance's
//! attributes and parameters, a message store's parameters.

use crate::ir::EndpointIr;
use crate::*;
use std::collections::HashMap;
use std::sync::Mutex;
use synaptic_diag::SourceId;
use synaptic_syntax::ast::WsdlFormat;

const NS: &str = r#"xmlns="http://ws.apache.org/ns/synapse""#;

/// A WSDL 1.1 document of the service `Stock` (target namespace `urn:stock`) with `ports`.
fn wsdl(ports: &str) -> String {
    format!(
        r#"<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
             xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
             xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/"
             xmlns:tns="urn:stock" targetNamespace="urn:stock">
           <wsdl:service name="Stock">{ports}</wsdl:service>
         </wsdl:definitions>"#
    )
}

const PORTS: &str = r#"<wsdl:port name="Soap11" binding="tns:B11"><soap:address location="http://h:1/s11"/></wsdl:port>
    <wsdl:port name="Soap12" binding="tns:B12"><soap12:address location="http://h:1/s12"/></wsdl:port>"#;

/// Files by name, as a host reads them (imports relative to nothing: names are flat).
#[derive(Default)]
struct Files {
    files: HashMap<String, String>,
    asked: Mutex<Vec<(String, Option<String>)>>,
}

impl Files {
    fn of(files: &[(&str, &str)]) -> Arc<Files> {
        Arc::new(Files {
            files: files
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect(),
            asked: Mutex::default(),
        })
    }
}

impl WsdlReader for Files {
    fn read(&self, location: &str, from: Option<&str>) -> Result<WsdlText, String> {
        self.asked
            .lock()
            .unwrap()
            .push((location.to_string(), from.map(str::to_string)));
        self.files
            .get(location)
            .map(|t| WsdlText {
                id: location.to_string(),
                text: Arc::from(t.as_str()),
            })
            .ok_or_else(|| format!("no file {location}"))
    }
}

/// Values of deploy-time parameters.
struct Values;

impl Configurables for Values {
    fn config(&self, name: &str) -> Option<String> {
        (name == "stock_port").then(|| "Soap12".into())
    }
    fn secret(&self, _: &str) -> Option<String> {
        None
    }
    fn env(&self, name: &str) -> Option<String> {
        match name {
            "STOCK_SERVICE" => Some("Stock".into()),
            "STOCK_WSDL" => Some("stock.wsdl".into()),
            "EP_TIMEOUT" => Some("2500".into()),
            "STORE_MAX" => Some("7".into()),
            "EP_TEMPLATE" => Some("T".into()),
            _ => None,
        }
    }
}

fn opts(files: &Arc<Files>, deploy: bool) -> CompileOptions {
    CompileOptions {
        wsdl: Some(WsdlSource(files.clone())),
        deploy: deploy.then(|| DeployValues(Arc::new(Values))),
        ..Default::default()
    }
}

fn compile_with(xml: &str, opts: &CompileOptions) -> (Option<Program>, Vec<Diagnostic>) {
    let p = synaptic_syntax::parse_artifact(SourceId(0), xml);
    assert!(p.is_ok(), "{:?}", p.diagnostics);
    compile(std::slice::from_ref(&p.tree), opts)
}

/// The address and format the endpoint `name` of `prog` compiled to.
fn address(prog: &Program, name: &str) -> (String, Option<WsdlFormat>, Option<u64>) {
    let mut ir = &prog.ir.endpoints[name];
    if let EndpointIr::Tracked(t) = ir {
        ir = &t.leaf;
    }
    match ir {
        EndpointIr::Address {
            uri,
            format,
            timeout_ms,
        } => (uri.clone(), *format, *timeout_ms),
        other => panic!("{other:?}"),
    }
}

fn text_at(src: &str, d: &Diagnostic) -> String {
    let s = d.primary_span();
    src[s.start as usize..s.end as usize].to_string()
}

fn errors(diags: &[Diagnostic]) -> Vec<&Diagnostic> {
    diags.iter().filter(|d| d.is_error()).collect()
}

#[test]
fn an_inline_document_is_resolved_and_its_mistakes_are_where_they_are_written() {
    let files = Files::of(&[]);
    let xml = format!(
        r#"<endpoint {NS} name="E"><wsdl service="Stock" port="Soap12">{}</wsdl></endpoint>"#,
        wsdl(PORTS)
    );
    let (prog, diags) = compile_with(&xml, &opts(&files, false));
    let prog = prog.unwrap_or_else(|| panic!("{diags:?}"));
    assert_eq!(
        address(&prog, "E"),
        ("http://h:1/s12".into(), Some(WsdlFormat::Soap12), None)
    );
    // an inline document's imports are read relative to the project (no document `from`)
    let files = Files::of(&[("service.wsdl", &wsdl(PORTS))]);
    let xml = format!(
        r#"<endpoint {NS} name="E"><wsdl service="Stock" port="Soap11"><wsdl:definitions
             xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" targetNamespace="urn:stock">
             <wsdl:import namespace="urn:stock" location="service.wsdl"/></wsdl:definitions></wsdl></endpoint>"#
    );
    let (prog, diags) = compile_with(&xml, &opts(&files, false));
    let prog = prog.unwrap_or_else(|| panic!("{diags:?}"));
    assert_eq!(address(&prog, "E").0, "http://h:1/s11");
    assert_eq!(
        *files.asked.lock().unwrap(),
        [("service.wsdl".to_string(), None)]
    );
    for (service, port, at, says) in [
        ("Stock", "Soap9", "Soap9", "no port `Soap9`"),
        ("Stok", "Soap11", "Stok", "no service `Stok`"),
    ] {
        let xml = format!(
            r#"<endpoint {NS} name="E"><wsdl service="{service}" port="{port}">{}</wsdl></endpoint>"#,
            wsdl(PORTS)
        );
        let (prog, diags) = compile_with(&xml, &opts(&files, false));
        assert!(prog.is_none());
        let e = errors(&diags);
        assert_eq!(e.len(), 1, "{diags:?}");
        assert_eq!(e[0].code.id, "E0122");
        assert_eq!(text_at(&xml, e[0]), at);
        assert!(e[0].message.contains(says), "{}", e[0].message);
    }
}

#[test]
fn a_uri_document_and_its_imports_are_read_through_the_host() {
    // the service in an imported document of the same namespace
    let main = r#"<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" targetNamespace="urn:stock">
        <wsdl:import namespace="urn:stock" location="service.wsdl"/></wsdl:definitions>"#;
    let service = wsdl(PORTS);
    let files = Files::of(&[("main.wsdl", main), ("service.wsdl", &service)]);
    let xml = format!(
        r#"<endpoint {NS} name="E"><wsdl uri="main.wsdl" service="Stock" port="Soap11"/></endpoint>"#
    );
    let (prog, diags) = compile_with(&xml, &opts(&files, false));
    let prog = prog.unwrap_or_else(|| panic!("{diags:?}"));
    assert_eq!(
        address(&prog, "E"),
        ("http://h:1/s11".into(), Some(WsdlFormat::Soap11), None)
    );
    assert_eq!(
        *files.asked.lock().unwrap(),
        [
            ("main.wsdl".to_string(), None),
            ("service.wsdl".to_string(), Some("main.wsdl".to_string()))
        ]
    );
    // an import that cannot be read: at the uri, naming the import
    let files = Files::of(&[("main.wsdl", main)]);
    let (prog, diags) = compile_with(&xml, &opts(&files, false));
    assert!(prog.is_none());
    let e = errors(&diags);
    assert_eq!(text_at(&xml, e[0]), "main.wsdl");
    assert_eq!(
        e[0].message,
        "the WSDL imports `service.wsdl`: no file service.wsdl (in `main.wsdl`)"
    );
    // without a reader, or with a uri known only per message
    let (_, diags) = compile_with(&xml, &CompileOptions::default());
    assert!(
        errors(&diags)[0].message.contains("is not read here"),
        "{diags:?}"
    );
    let dynamic = xml.replace("main.wsdl", "{$ctx:wsdl}");
    let (_, diags) = compile_with(&dynamic, &opts(&files, false));
    assert!(
        errors(&diags)[0]
            .message
            .contains("a WSDL is read when the project is loaded"),
        "{diags:?}"
    );
}

#[test]
fn an_http_wsdl_is_left_for_deployment_by_lint_and_its_password_is_never_shown() {
    let main = r#"<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" targetNamespace="urn:stock">
        <wsdl:import namespace="urn:stock" location="http://u:s3cret@h/service.wsdl"/></wsdl:definitions>"#;
    let files = Files::of(&[("main.wsdl", main)]);
    let endpoint = |uri: &str| {
        format!(
            r#"<endpoint {NS} name="E"><wsdl uri="{uri}" service="Stock" port="Soap11"/></endpoint>"#
        )
    };
    // lint (no fetching, no deploy-time values): an http(s) uri, or a document importing
    // one, is left for deployment; the uri is not asked for
    for uri in ["http://u:s3cret@h/stock?wsdl", "main.wsdl"] {
        let (prog, diags) = compile_with(&endpoint(uri), &opts(&files, false));
        assert!(errors(&diags).is_empty(), "{uri}: {diags:?}");
        assert!(prog.is_some(), "{uri}");
    }
    assert_eq!(
        *files.asked.lock().unwrap(),
        [("main.wsdl".to_string(), None)]
    );
    // an inline document importing one: the address is left as the import's location
    let inline = format!(
        r#"<endpoint {NS} name="E"><wsdl service="Stock" port="Soap11">{main}</wsdl></endpoint>"#
    );
    let (prog, diags) = compile_with(&inline, &opts(&files, false));
    assert!(errors(&diags).is_empty(), "{diags:?}");
    assert_eq!(
        address(&prog.unwrap(), "E").0,
        "http://u:s3cret@h/service.wsdl"
    );
    // a host that compiles to run: what the reader says is the endpoint's error, with the
    // URLs' passwords masked
    let xml = endpoint("main.wsdl");
    let (prog, diags) = compile_with(&xml, &opts(&files, true));
    assert!(prog.is_none());
    let e = errors(&diags);
    assert_eq!(e.len(), 1, "{diags:?}");
    assert_eq!(e[0].code.id, "E0122");
    assert_eq!(text_at(&xml, e[0]), "main.wsdl");
    assert_eq!(
        e[0].message,
        "the WSDL imports `http://u:***@h/service.wsdl`: no file http://u:***@h/service.wsdl \
         (in `main.wsdl`)"
    );
    let xml = endpoint("http://u:s3cret@h/stock?wsdl");
    let (_, diags) = compile_with(&xml, &opts(&files, true));
    let e = errors(&diags);
    assert_eq!(text_at(&xml, e[0]), "http://u:s3cret@h/stock?wsdl");
    assert_eq!(e[0].message, "no file http://u:***@h/stock?wsdl");
}

#[test]
fn a_wsdl_endpoint_in_a_template_is_resolved_for_each_instance() {
    let files = Files::of(&[("stock.wsdl", &wsdl(PORTS))]);
    let template = format!(
        r#"<template {NS} name="T">
             <parameter name="port"/>
             <endpoint name="$name"><wsdl uri="$uri" service="Stock" port="$port"/></endpoint>
           </template>"#
    );
    let literal = format!(
        r#"<template {NS} name="L">
             <endpoint name="$name"><wsdl uri="stock.wsdl" service="Stock" port="Soap11"/></endpoint>
           </template>"#
    );
    let instances = format!(
        r#"<definitions {NS}>
             <endpoint name="A" template="T" uri="stock.wsdl"><parameter name="port" value="Soap12"/></endpoint>
             <endpoint name="B" template="L"/>
           </definitions>"#
    );
    let trees: Vec<_> = [&template, &literal, &instances]
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let p = synaptic_syntax::parse_artifact(SourceId(i as u32), x);
            assert!(p.is_ok(), "{:?}", p.diagnostics);
            p.tree
        })
        .collect();
    let (prog, diags) = compile(&trees, &opts(&files, false));
    let prog = prog.unwrap_or_else(|| panic!("{diags:?}"));
    assert_eq!(
        address(&prog, "A"),
        ("http://h:1/s12".into(), Some(WsdlFormat::Soap12), None)
    );
    assert_eq!(
        address(&prog, "B"),
        ("http://h:1/s11".into(), Some(WsdlFormat::Soap11), None)
    );
    // a template whose WSDL uri is a parameter the instance does not give
    let unnamed = format!(
        r#"<template {NS} name="U">
             <parameter name="wsdlFile"/>
             <endpoint name="$name"><wsdl uri="$wsdlFile" service="Stock" port="Soap11"/></endpoint>
           </template>"#
    );
    let instance = format!(r#"<endpoint {NS} name="C" template="U"/>"#);
    let trees: Vec<_> = [&unnamed, &instance]
        .iter()
        .enumerate()
        .map(|(i, x)| synaptic_syntax::parse_artifact(SourceId(i as u32), x).tree)
        .collect();
    let (prog, diags) = compile(&trees, &opts(&files, false));
    assert!(prog.is_none());
    let e = errors(&diags);
    assert_eq!(e.len(), 1, "{diags:?}");
    assert_eq!(e[0].code.id, "E0122");
    assert_eq!(e[0].primary_span().source, SourceId(1), "at the instance");
    assert!(
        e[0].message
            .contains("`$wsdlFile` is a parameter of the template with no value here"),
        "{}",
        e[0].message
    );
}

#[test]
fn deploy_time_parameters_of_wsdl_endpoints_templates_and_stores() {
    let files = Files::of(&[("stock.wsdl", &wsdl(PORTS))]);
    // `service`, `port` and `uri` of a WSDL endpoint
    let xml = format!(
        r#"<endpoint {NS} name="E"><wsdl uri="$SYSTEM:STOCK_WSDL" service="$SYSTEM:STOCK_SERVICE" port="${{configs.stock_port}}"/></endpoint>"#
    );
    let (prog, diags) = compile_with(&xml, &opts(&files, true));
    let prog = prog.unwrap_or_else(|| panic!("{diags:?}"));
    assert_eq!(
        address(&prog, "E"),
        ("http://h:1/s12".into(), Some(WsdlFormat::Soap12), None)
    );
    // lint (no values): left for deployment, nothing read, nothing reported
    let lint = Files::of(&[]);
    let (prog, diags) = compile_with(&xml, &opts(&lint, false));
    assert!(prog.is_some() && errors(&diags).is_empty(), "{diags:?}");
    assert!(lint.asked.lock().unwrap().is_empty());
    // one without a value: E0403 at it
    let missing = xml.replace("STOCK_SERVICE", "NO_SUCH_VARIABLE");
    let (prog, diags) = compile_with(&missing, &opts(&files, true));
    assert!(prog.is_none());
    let e = errors(&diags);
    assert_eq!(e.len(), 1, "{diags:?}");
    assert_eq!(e[0].code.id, "E0403");
    assert_eq!(text_at(&missing, e[0]), "$SYSTEM:NO_SUCH_VARIABLE");

    // a template instance's parameter values, wherever the template puts them
    let template = format!(
        r#"<template {NS} name="T">
             <parameter name="timeout"/>
             <endpoint name="$name"><address uri="$uri"><timeout><duration>$timeout</duration></timeout></address></endpoint>
           </template>"#
    );
    let instance = format!(
        r#"<endpoint {NS} name="I" template="T" uri="http://h:2/i"><parameter name="timeout" value="$SYSTEM:EP_TIMEOUT"/></endpoint>"#
    );
    let trees: Vec<_> = [&template, &instance]
        .iter()
        .enumerate()
        .map(|(i, x)| synaptic_syntax::parse_artifact(SourceId(i as u32), x).tree)
        .collect();
    let (prog, diags) = compile(&trees, &opts(&files, true));
    let prog = prog.unwrap_or_else(|| panic!("{diags:?}"));
    assert_eq!(
        address(&prog, "I"),
        ("http://h:2/i".into(), None, Some(2500))
    );
    // the template itself named by a parameter: resolved when deployed, left alone by lint
    let named = format!(
        r#"<endpoint {NS} name="J" template="$SYSTEM:EP_TEMPLATE" uri="http://h:3/j"><parameter name="timeout" value="100"/></endpoint>"#
    );
    let trees: Vec<_> = [&template, &named]
        .iter()
        .enumerate()
        .map(|(i, x)| synaptic_syntax::parse_artifact(SourceId(i as u32), x).tree)
        .collect();
    let (prog, diags) = compile(&trees, &opts(&files, true));
    let prog = prog.unwrap_or_else(|| panic!("{diags:?}"));
    assert_eq!(address(&prog, "J").0, "http://h:3/j");
    let (prog, diags) = compile(&trees, &opts(&files, false));
    assert!(prog.is_some() && errors(&diags).is_empty(), "{diags:?}");

    // a message store's `max.messages`
    let store = format!(
        r#"<messageStore {NS} name="S"><parameter name="max.messages">$SYSTEM:STORE_MAX</parameter></messageStore>"#
    );
    let (prog, diags) = compile_with(&store, &opts(&files, true));
    let prog = prog.unwrap_or_else(|| panic!("{diags:?}"));
    assert_eq!(prog.message_stores()[0].max_messages, 7);
    let (prog, diags) = compile_with(&store, &opts(&files, false));
    let prog = prog.unwrap_or_else(|| panic!("{diags:?}"));
    assert_eq!(prog.message_stores()[0].max_messages, DEFAULT_MAX_MESSAGES);
}
