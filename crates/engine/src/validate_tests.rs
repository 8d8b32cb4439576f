//! `<validate>` against XML Schema through the whole pipeline: the element validated (the first
//! of a SOAP 1.1 / 1.2 body, the document element of plain XML, or the one `source=` selects),
//! several schemas combined, `<resource>` documents for imports, local entries checked at load
//! (a broken schema is an error at its key), registry schemas compiled at first use and
//! recompiled when they change, and what happens when the message and schema kinds differ.

use crate::*;
use synaptic_registry::Registry as _;

use crate::test_support::{compiled, engine_of, request};

fn engine_with(xml: &str, registry: Arc<synaptic_registry::MemoryRegistry>) -> Engine {
    Engine {
        registry,
        ..engine_of(xml)
    }
}

fn engine(xml: &str) -> Engine {
    engine_of(xml)
}

fn soap11(body: &str) -> MessageContext {
    request(
        "text/xml",
        &format!(
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>{body}</s:Body></s:Envelope>"#
        ),
    )
}

fn soap12(body: &str) -> MessageContext {
    request(
        "application/soap+xml",
        &format!(
            r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>{body}</s:Body></s:Envelope>"#
        ),
    )
}

fn run(e: &Engine, ctx: &mut MessageContext) -> Result<Flow, MediationError> {
    crate::test_support::rt().block_on(e.mediate("main", None, ctx))
}

/// `body` of content type `ct` passes validation: `<on-fail>` does not run.
fn assert_passes(e: &Engine, ct: &str, body: &str) {
    let mut ctx = request(ct, body);
    run(e, &mut ctx).unwrap();
    assert_eq!(
        prop(&ctx, "FAILED"),
        None,
        "{:?}",
        prop(&ctx, "ERROR_MESSAGE")
    );
}

/// `body` of content type `ct` fails validation: `<on-fail>` runs; the message after it.
fn assert_fails(e: &Engine, ct: &str, body: &str) -> MessageContext {
    let mut ctx = request(ct, body);
    run(e, &mut ctx).unwrap();
    assert_eq!(prop(&ctx, "FAILED").as_deref(), Some("yes"));
    ctx
}

fn prop(ctx: &MessageContext, name: &str) -> Option<String> {
    match ctx.properties.default.get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(format!("{other:?}")),
        None => None,
    }
}

const M0: &str = "http://services.samples/xsd";

/// The schema of Synapse's validate samples: `CheckPriceRequest` holds one `Code`.
fn price_xsd() -> String {
    format!(
        r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns="{M0}" elementFormDefault="qualified" attributeFormDefault="unqualified" targetNamespace="{M0}"><xs:element name="CheckPriceRequest"><xs:complexType><xs:sequence><xs:element name="Code" type="xs:string"/></xs:sequence></xs:complexType></xs:element></xs:schema>"#
    )
}

/// A second schema importing the first: `Outer` holds a `CheckPriceRequest` then a
/// `CheckPriceRequest2`.
fn outer_xsd() -> String {
    format!(
        r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:m1="{M0}" xmlns:m2="http://services.samples/xsd2" targetNamespace="http://services.samples/xsd2" elementFormDefault="qualified" attributeFormDefault="unqualified"><xs:import namespace="{M0}" schemaLocation="validate.xsd"/><xs:element name="CheckPriceRequest2"><xs:complexType><xs:sequence><xs:element name="Code2" type="xs:string"/></xs:sequence></xs:complexType></xs:element><xs:element name="Outer"><xs:complexType><xs:sequence><xs:element ref="m1:CheckPriceRequest"/><xs:element ref="m2:CheckPriceRequest2"/></xs:sequence></xs:complexType></xs:element></xs:schema>"#
    )
}

/// `<definitions>` with the local entries and a `main` sequence running `validate`, marking
/// `FAILED` in `<on-fail>` and `AFTER` after the mediator.
fn defs(entries: &[(&str, &str)], validate: &str) -> String {
    let mut out = String::from(r#"<definitions xmlns="http://ws.apache.org/ns/synapse">"#);
    for (k, v) in entries {
        out.push_str(&format!(r#"<localEntry key="{k}">{v}</localEntry>"#));
    }
    out.push_str(&format!(
        r#"<sequence name="main">{validate}<property name="AFTER" value="yes"/></sequence></definitions>"#
    ));
    out
}

const ON_FAIL: &str = r#"<on-fail><property name="FAILED" value="yes"/></on-fail>"#;

fn price_engine(source: &str) -> Engine {
    engine(&defs(
        &[("xsd-key", &price_xsd())],
        &format!(
            r#"<validate {source} xmlns:m0="{M0}"><schema key="xsd-key"/>{ON_FAIL}</validate>"#
        ),
    ))
}

const VALID: &str = "<m0:CheckPriceRequest xmlns:m0=\"http://services.samples/xsd\">\n\t<m0:Code>String</m0:Code>\n</m0:CheckPriceRequest>";
const INVALID: &str = "<m0:CheckPriceRequest xmlns:m0=\"http://services.samples/xsd\">\n\t<m0:Codes>String</m0:Codes>\n</m0:CheckPriceRequest>";

#[test]
fn the_first_body_element_is_validated_in_soap_11_12_and_plain_xml() {
    let e = price_engine("");
    for ctx in [
        &mut soap11(VALID),
        &mut soap12(VALID),
        &mut request("application/xml", VALID),
    ] {
        assert_eq!(run(&e, ctx).unwrap(), Flow::Continue);
        assert_eq!(prop(ctx, "FAILED"), None);
        assert_eq!(prop(ctx, "AFTER").as_deref(), Some("yes"));
    }
    for ctx in [
        &mut soap11(INVALID),
        &mut soap12(INVALID),
        &mut request("application/xml", INVALID),
    ] {
        assert_eq!(run(&e, ctx).unwrap(), Flow::Continue);
        assert_eq!(prop(ctx, "FAILED").as_deref(), Some("yes"));
        // mediation goes on after the validate once <on-fail> has run
        assert_eq!(prop(ctx, "AFTER").as_deref(), Some("yes"));
        let message = prop(ctx, "ERROR_MESSAGE").unwrap();
        assert!(message.starts_with("cvc-"), "{message}");
        assert!(
            message.contains("Codes") && message.ends_with('\n'),
            "{message}"
        );
        let detail = prop(ctx, "ERROR_DETAIL").unwrap();
        assert!(detail.contains("cvc-"), "{detail}");
    }
}

#[test]
fn a_source_selects_the_element_and_a_missing_one_runs_on_fail() {
    let e = price_engine(r#"source="//m0:CheckPriceRequest""#);
    let wrapped = |inner: &str| format!("<w:wrap xmlns:w=\"urn:w\">{inner}</w:wrap>");
    let mut ctx = soap11(&wrapped(VALID));
    run(&e, &mut ctx).unwrap();
    assert_eq!(prop(&ctx, "FAILED"), None);
    let mut ctx = soap11(&wrapped(INVALID));
    run(&e, &mut ctx).unwrap();
    assert_eq!(prop(&ctx, "FAILED").as_deref(), Some("yes"));
    // the element validated is the one selected, not the body's first
    let mut ctx = soap11(&wrapped(""));
    run(&e, &mut ctx).unwrap();
    assert_eq!(prop(&ctx, "FAILED").as_deref(), Some("yes"));
    assert_eq!(
        prop(&ctx, "ERROR_MESSAGE").as_deref(),
        Some("Error occurred while accessing source element: //m0:CheckPriceRequest")
    );
    // a source selecting a child that is not there (Synapse's invalid-source case)
    let e = price_engine(r#"source="//m0:CheckPriceRequest/m0:price""#);
    let mut ctx = soap11(VALID);
    run(&e, &mut ctx).unwrap();
    assert_eq!(prop(&ctx, "FAILED").as_deref(), Some("yes"));
}

#[test]
fn namespaces_declared_on_ancestors_reach_the_validated_element() {
    // the prefix of the xsi:type value is declared above the selected element only
    let xsd = r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:t="urn:t" targetNamespace="urn:t" elementFormDefault="qualified"><xs:complexType name="base"><xs:sequence><xs:element name="v" type="xs:string"/></xs:sequence></xs:complexType><xs:complexType name="num"><xs:complexContent><xs:extension base="t:base"><xs:sequence><xs:element name="n" type="xs:integer"/></xs:sequence></xs:extension></xs:complexContent></xs:complexType><xs:element name="item" type="t:base"/></xs:schema>"#;
    let e = engine(&defs(
        &[("t", xsd)],
        &format!(
            r#"<validate source="//t:item" xmlns:t="urn:t"><schema key="t"/>{ON_FAIL}</validate>"#
        ),
    ));
    let body = |v: &str| {
        format!(
            r#"<t:list xmlns:t="urn:t" xmlns:u="urn:t" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><t:item xsi:type="u:num"><t:v>a</t:v><t:n>{v}</t:n></t:item></t:list>"#
        )
    };
    let mut ctx = soap11(&body("12"));
    run(&e, &mut ctx).unwrap();
    assert_eq!(
        prop(&ctx, "FAILED"),
        None,
        "{:?}",
        prop(&ctx, "ERROR_MESSAGE")
    );
    let mut ctx = soap11(&body("twelve"));
    run(&e, &mut ctx).unwrap();
    assert_eq!(prop(&ctx, "FAILED").as_deref(), Some("yes"));
}

#[test]
fn several_schemas_are_combined() {
    let e = engine(&defs(
        &[("xsd-key-1", &price_xsd()), ("xsd-key-2", &outer_xsd())],
        &format!(
            r#"<validate source="//m1:Outer" xmlns:m1="http://services.samples/xsd2"><schema key="xsd-key-1"/><schema key="xsd-key-2"/>{ON_FAIL}</validate>"#
        ),
    ));
    let price = "<m0:CheckPriceRequest xmlns:m0=\"http://services.samples/xsd\"><m0:Code>String</m0:Code></m0:CheckPriceRequest>";
    let price2 = "<m1:CheckPriceRequest2 xmlns:m1=\"http://services.samples/xsd2\"><m1:Code2>String</m1:Code2></m1:CheckPriceRequest2>";
    let outer =
        |a: &str, b: &str| format!("<Outer xmlns=\"http://services.samples/xsd2\">{a}{b}</Outer>");
    let mut ctx = soap11(&outer(price, price2));
    run(&e, &mut ctx).unwrap();
    assert_eq!(
        prop(&ctx, "FAILED"),
        None,
        "{:?}",
        prop(&ctx, "ERROR_MESSAGE")
    );
    let mut ctx = soap11(&outer(price2, price));
    run(&e, &mut ctx).unwrap();
    assert_eq!(prop(&ctx, "FAILED").as_deref(), Some("yes"));
}

#[test]
fn resources_supply_included_documents() {
    let common = r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:simpleType name="code"><xs:restriction base="xs:string"><xs:pattern value="[A-Z]{3}"/></xs:restriction></xs:simpleType></xs:schema>"#;
    let main = r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:include schemaLocation="common.xsd"/><xs:element name="currency" type="code"/></xs:schema>"#;
    let e = engine(&defs(
        &[("main", main), ("common", common)],
        &format!(
            r#"<validate><schema key="main"/><resource location="common.xsd" key="common"/>{ON_FAIL}</validate>"#
        ),
    ));
    assert_passes(&e, "application/xml", "<currency>EUR</currency>");
    let ctx = assert_fails(&e, "application/xml", "<currency>euro</currency>");
    assert!(prop(&ctx, "ERROR_MESSAGE")
        .unwrap()
        .contains("cvc-pattern-valid"));
}

fn lint(xml: &str) -> Vec<(String, String)> {
    let (_, diags) = compiled(xml);
    diags
        .iter()
        .map(|d| {
            let s = d.primary_span();
            let at = &xml[s.start as usize..s.end as usize];
            (d.code.id.to_string(), at.to_string())
        })
        .collect()
}

#[test]
fn a_broken_schema_in_a_local_entry_is_an_error_at_its_key() {
    let broken = r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:element name="a"><xs:complexType><xs:sequence><xs:element ref="nosuch"/></xs:sequence></xs:complexType></xs:element></xs:schema>"#;
    let d = lint(&defs(
        &[("good", &price_xsd()), ("bad", broken)],
        &format!(r#"<validate><schema key="good"/><schema key="bad"/>{ON_FAIL}</validate>"#),
    ));
    assert!(d.contains(&("E0106".into(), "bad".into())), "{d:?}");
    // a resource at fault is reported at its key
    let main = r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:include schemaLocation="c.xsd"/><xs:element name="a" type="code"/></xs:schema>"#;
    let bad_common = r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:simpleType name="code"><xs:restriction base="xs:string"><xs:maxLength value="many"/></xs:restriction></xs:simpleType></xs:schema>"#;
    let d = lint(&defs(
        &[("main", main), ("common", bad_common)],
        &format!(
            r#"<validate><schema key="main"/><resource location="c.xsd" key="common"/>{ON_FAIL}</validate>"#
        ),
    ));
    assert!(d.contains(&("E0106".into(), "common".into())), "{d:?}");
    // a valid one lints clean; a known Xerces feature is quiet, an unknown one a warning
    let d = lint(&defs(
        &[("good", &price_xsd())],
        &format!(
            r#"<validate><schema key="good"/><feature name="http://apache.org/xml/features/validation/schema-full-checking" value="false"/><feature name="urn:no-such-feature" value="true"/>{ON_FAIL}</validate>"#
        ),
    ));
    assert_eq!(d, vec![("W0301".into(), "urn:no-such-feature".into())]);
}

#[test]
fn an_element_whose_type_is_undefined_makes_the_schema_refused() {
    // as Xerces refuses it: at load for a local entry, at first use from the registry
    let bad = r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:element name="a" type="xs:nosuch"/><xs:element name="b" type="xs:string"/></xs:schema>"#;
    let d = lint(&defs(
        &[("bad", bad)],
        &format!(r#"<validate><schema key="bad"/>{ON_FAIL}</validate>"#),
    ));
    assert_eq!(d, vec![("E0106".into(), "bad".into())]);
    let (_, diags) = compiled(&defs(
        &[("bad", bad)],
        &format!(r#"<validate><schema key="bad"/>{ON_FAIL}</validate>"#),
    ));
    let text = diags.iter().map(|d| d.message.clone()).collect::<Vec<_>>();
    assert!(
        text.iter()
            .any(|m| m.contains("src-resolve") && m.contains("nosuch")),
        "{text:?}"
    );
    let reg = Arc::new(synaptic_registry::MemoryRegistry::new());
    let e = engine_with(
        &defs(
            &[],
            &format!(r#"<validate><schema key="conf:/bad.xsd"/>{ON_FAIL}</validate>"#),
        ),
        reg.clone(),
    );
    let rt = crate::test_support::rt();
    rt.block_on(reg.put("conf:/bad.xsd", bad)).unwrap();
    let mut ctx = request("application/xml", "<b>x</b>");
    let fault = run(&e, &mut ctx).unwrap_err();
    assert!(fault.to_string().contains("src-resolve"), "{fault}");
}

#[test]
fn registry_schemas_compile_at_first_use_and_follow_changes() {
    let reg = Arc::new(synaptic_registry::MemoryRegistry::new());
    let xml = |cache: &str| {
        defs(
            &[],
            &format!(r#"<validate {cache}><schema key="conf:/price.xsd"/>{ON_FAIL}</validate>"#),
        )
    };
    for cache in ["", r#"cache-schema="false""#] {
        let e = engine_with(&xml(cache), reg.clone());
        let rt = crate::test_support::rt();
        rt.block_on(reg.put("conf:/price.xsd", &price_xsd()))
            .unwrap();
        let mut ctx = soap11(VALID);
        run(&e, &mut ctx).unwrap();
        assert_eq!(prop(&ctx, "FAILED"), None);
        // the resource changes: `Code` becomes `Codes`
        let changed = price_xsd().replace("\"Code\"", "\"Codes\"");
        rt.block_on(reg.put("conf:/price.xsd", &changed)).unwrap();
        let mut ctx = soap11(VALID);
        run(&e, &mut ctx).unwrap();
        assert_eq!(prop(&ctx, "FAILED").as_deref(), Some("yes"), "{cache}");
        let mut ctx = soap11(INVALID);
        run(&e, &mut ctx).unwrap();
        assert_eq!(prop(&ctx, "FAILED"), None, "{cache}");
        // a broken resource faults naming the schemas
        rt.block_on(reg.put("conf:/price.xsd", "<xs:schema"))
            .unwrap();
        let err = run(&e, &mut soap11(VALID)).unwrap_err();
        assert!(
            err.message
                .starts_with("Error creating a new schema objects for schemas"),
            "{}",
            err.message
        );
    }
    // no such resource
    let e = engine_with(
        &defs(
            &[],
            &format!(r#"<validate><schema key="conf:/none.xsd"/>{ON_FAIL}</validate>"#),
        ),
        reg,
    );
    let err = run(&e, &mut soap11(VALID)).unwrap_err();
    assert!(err.message.contains("conf:/none.xsd"), "{}", err.message);
}

#[test]
fn message_and_schema_kinds_that_differ_fault_as_in_synapse() {
    let json_schema = r#"{"type":"object","required":["a"]}"#;
    // a JSON message against an XML Schema
    let e = price_engine("");
    let err = run(&e, &mut request("application/json", r#"{"a":1}"#)).unwrap_err();
    assert!(
        err.message
            .contains("Error while validating the JSON Schema"),
        "{}",
        err.message
    );
    // an XML message against a JSON Schema
    let e = engine(&defs(
        &[("js", json_schema)],
        &format!(r#"<validate><schema key="js"/>{ON_FAIL}</validate>"#),
    ));
    let err = run(&e, &mut soap11(VALID)).unwrap_err();
    assert!(
        err.message.contains("Error creating a new schema objects"),
        "{}",
        err.message
    );
    // json-source="true" validates an XML message's JSON view
    let e = engine(&defs(
        &[("js", json_schema)],
        &format!(
            r#"<validate json-source="true" source="json-eval($.r)"><schema key="js"/>{ON_FAIL}</validate>"#
        ),
    ));
    assert_passes(&e, "application/xml", "<r><a>1</a></r>");
    assert_fails(&e, "application/xml", "<r><b>1</b></r>");
}

#[test]
fn an_unsupported_source_path_is_refused_at_load() {
    let d = lint(&defs(
        &[("xsd-key", &price_xsd())],
        &format!(
            r#"<validate source="count(//a) + 1"><schema key="xsd-key"/>{ON_FAIL}</validate>"#
        ),
    ));
    assert!(
        d.iter().any(|(c, at)| c == "E0106" && at.contains("count")),
        "{d:?}"
    );
}

#[test]
fn a_dynamic_key_names_a_local_entry_or_a_registry_resource_per_message() {
    let reg = Arc::new(synaptic_registry::MemoryRegistry::new());
    let wants_b = r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:element name="r"><xs:complexType><xs:sequence><xs:element name="key" type="xs:string"/><xs:element name="b"/></xs:sequence></xs:complexType></xs:element></xs:schema>"#;
    crate::test_support::rt()
        .block_on(reg.put("conf:/b.xsd", wants_b))
        .unwrap();
    let wants_a = wants_b.replace("\"b\"", "\"a\"");
    let e = engine_with(
        &defs(
            &[("a.xsd", &wants_a)],
            &format!(r#"<validate><schema key="{{//key}}"/>{ON_FAIL}</validate>"#),
        ),
        reg,
    );
    for (key, child, fails) in [
        ("a.xsd", "a", false),
        ("a.xsd", "b", true),
        ("conf:/b.xsd", "b", false),
        ("conf:/b.xsd", "a", true),
    ] {
        let mut ctx = request(
            "application/xml",
            &format!("<r><key>{key}</key><{child}/></r>"),
        );
        run(&e, &mut ctx).unwrap();
        assert_eq!(prop(&ctx, "FAILED").is_some(), fails, "{key} {child}");
    }
    let err = run(
        &e,
        &mut request("application/xml", "<r><key>none.xsd</key><a/></r>"),
    )
    .unwrap_err();
    assert_eq!(
        err.message,
        "No Schema is available with the key  : none.xsd"
    );
}
