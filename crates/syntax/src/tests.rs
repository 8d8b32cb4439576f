//! Focused checks: `check(input, expect)` parses a sequence body and prints one line per
//! mediator of interest plus the diagnostics.

use expect_test::{expect, Expect};

use crate::ast::*;
use crate::parse_artifact;

fn check(body: &str, expect: Expect) {
    let text = format!(
        r#"<sequence xmlns="http://ws.apache.org/ns/synapse" xmlns:a="urn:a" name="t">{body}</sequence>"#
    );
    let parse = parse_artifact(synaptic_diag::SourceId(0), &text);
    let mut out = String::new();
    for seq in &parse.tree.sequences {
        for m in &seq.mediators {
            out.push_str(&describe(&m.kind));
            out.push('\n');
        }
    }
    for d in &parse.diagnostics {
        out.push_str(&format!(
            "{}[{}] {:?}: {}\n",
            d.severity,
            d.code.id,
            &text[d.primary_span().range()],
            d.message
        ));
    }
    expect.assert_eq(&out);
}

fn describe(k: &MediatorKind) -> String {
    match k {
        MediatorKind::PayloadFactory(p) => match &p.format {
            Format::Inline(s) => format!("format {:?}", s.value),
            Format::Key(k) => format!("format key {:?}", k.value),
        },
        MediatorKind::Property(p) => match &p.value {
            PropertyValue::Expression(e) => format!("expr {:?} ns={:?}", e.text, e.namespaces),
            PropertyValue::Literal(l) => format!("literal {:?}", l.value),
            PropertyValue::Inline(x) => format!("inline {:?}", x.value),
            PropertyValue::None => "none".into(),
        },
        MediatorKind::Header(h) => format!("header {:?} ns={:?}", h.name.value, h.namespace),
        other => format!("{other:?}"),
    }
}

#[test]
fn xml_format_makes_namespaces_explicit() {
    check(
        r#"<payloadFactory><format>
             <a:x b="1 &amp; 2">  <y>t &lt; u</y> <z xmlns=""/> <!-- gone --> </a:x>
           </format></payloadFactory>"#,
        expect![[r#"
            format "<a:x b=\"1 &amp; 2\" xmlns=\"http://ws.apache.org/ns/synapse\" xmlns:a=\"urn:a\"><y>t &lt; u</y><z xmlns=\"\"/></a:x>"
        "#]],
    );
}

#[test]
fn xml_format_keeps_processing_instructions() {
    check(
        r#"<payloadFactory><format><r xmlns=""><?xml-multiple?><i>$1</i><?xml-multiple  tags ?></r></format></payloadFactory>"#,
        expect![[r#"
            format "<r xmlns=\"\"><?xml-multiple?><i>$1</i><?xml-multiple  tags ?></r>"
        "#]],
    );
}

#[test]
fn json_format_keeps_text_and_cdata() {
    check(
        r#"<payloadFactory media-type="json"><format>
  {"a": "$1", <![CDATA["b": "<$2>"]]>}
</format></payloadFactory>"#,
        expect![[r#"
            format "\n  {\"a\": \"$1\", \"b\": \"<$2>\"}\n"
        "#]],
    );
}

#[test]
fn expression_namespaces_innermost_last() {
    check(
        r#"<property xmlns:a="urn:inner" xmlns:m0="urn:m0" name="p" expression="//a:x"/>"#,
        expect![[r#"
            expr "//a:x" ns=[("", "http://ws.apache.org/ns/synapse"), ("a", "urn:inner"), ("m0", "urn:m0")]
        "#]],
    );
}

#[test]
fn attribute_values_are_unescaped_and_normalized() {
    check(
        "<property name=\"p\" value=\"a&#9;b&#x41;&quot;\n c\"/>",
        expect![[r#"
            literal "a\tbA\"  c"
        "#]],
    );
}

#[test]
fn header_qname_namespace() {
    check(
        r#"<header name="a:Tenant" value="x"/><header name="Plain" scope="transport" value="x"/>"#,
        expect![[r#"
            header "a:Tenant" ns=Some("urn:a")
            header "Plain" ns=None
        "#]],
    );
}

#[test]
fn one_error_per_problem() {
    check(
        r#"<property/><filter><log/></filter><send><endpoint/></send>"#,
        expect![[r#"
            none
            Send(Send { endpoint: None, receive: None })
            error[E0105] "property": <property> is missing the required attribute `name`
            error[E0105] "property": <property> needs value= or expression= (or an inline XML child)
            error[E0105] "filter": <filter> needs xpath= or source= with regex=
            error[E0114] "endpoint": <endpoint> needs key= or a definition such as <address uri=…/> or <http uri-template=…/>
        "#]],
    );
}

#[test]
fn enrich_shapes() {
    check(
        r#"<enrich><source type="inline" clone="false">{"a": 1}</source><target type="property" property="p" action="child"/></enrich>
           <enrich><source xpath="//a:x"/><target type="body" action="sibling"/></enrich>
           <enrich><source type="inline" key="conf:x"/><target xpath="json-eval($.a)"/></enrich>"#,
        expect![[r#"
            Enrich(Enrich { source: EnrichSource { span: Span { source: SourceId(0), start: 83, end: 136 }, ty: Inline, clone: false, xpath: None, property: None, inline: Some(Text(Spanned { value: "{\"a\": 1}", span: Span { source: SourceId(0), start: 119, end: 127 } })) }, target: EnrichTarget { span: Span { source: SourceId(0), start: 136, end: 189 }, ty: Property, action: Child, xpath: None, property: Some(Spanned { value: "p", span: Span { source: SourceId(0), start: 170, end: 171 } }) } })
            Enrich(Enrich { source: EnrichSource { span: Span { source: SourceId(0), start: 218, end: 241 }, ty: Custom, clone: true, xpath: Some(Expr { text: "//a:x", span: Span { source: SourceId(0), start: 233, end: 238 }, namespaces: [("", "http://ws.apache.org/ns/synapse"), ("a", "urn:a")] }), property: None, inline: None }, target: EnrichTarget { span: Span { source: SourceId(0), start: 241, end: 279 }, ty: Body, action: Sibling, xpath: None, property: None } })
            Enrich(Enrich { source: EnrichSource { span: Span { source: SourceId(0), start: 308, end: 344 }, ty: Inline, clone: true, xpath: None, property: None, inline: Some(Key(Spanned { value: "conf:x", span: Span { source: SourceId(0), start: 335, end: 341 } })) }, target: EnrichTarget { span: Span { source: SourceId(0), start: 344, end: 376 }, ty: Custom, action: Replace, xpath: Some(Expr { text: "json-eval($.a)", span: Span { source: SourceId(0), start: 359, end: 373 }, namespaces: [("", "http://ws.apache.org/ns/synapse"), ("a", "urn:a")] }), property: None } })
        "#]],
    );
}

#[test]
fn makefault_code_resolves_its_prefix() {
    check(
        r#"<makefault version="soap12" response="true"><code xmlns:e="http://www.w3.org/2003/05/soap-envelope" value="e:Receiver"/><reason value="r"/><detail><a:d/></detail></makefault>
           <makefault version="pox"/>"#,
        expect![[r#"
            MakeFault(MakeFault { version: Soap12, response: true, code: Some(Value { ns: "http://www.w3.org/2003/05/soap-envelope", prefix: "e", local: "Receiver", span: Span { source: SourceId(0), start: 182, end: 192 } }), reason: Some(Value(Spanned { value: "r", span: Span { source: SourceId(0), start: 210, end: 211 } })), node: None, role: None, detail: Some(Elements([Spanned { value: "<a:d xmlns:a=\"urn:a\"/>", span: Span { source: SourceId(0), start: 222, end: 228 } }])) })
            MakeFault(MakeFault { version: Pox, response: false, code: None, reason: None, node: None, role: None, detail: None })
        "#]],
    );
}

#[test]
fn enrich_clone_is_case_insensitive_like_parse_boolean() {
    check(
        r#"<enrich><source type="body" clone="FALSE"/><target type="property" property="p"/></enrich>
           <enrich><source type="body" clone="no"/><target type="property" property="p"/></enrich>"#,
        expect![[r#"
            Enrich(Enrich { source: EnrichSource { span: Span { source: SourceId(0), start: 83, end: 118 }, ty: Body, clone: false, xpath: None, property: None, inline: None }, target: EnrichTarget { span: Span { source: SourceId(0), start: 118, end: 156 }, ty: Property, action: Replace, xpath: None, property: Some(Spanned { value: "p", span: Span { source: SourceId(0), start: 152, end: 153 } }) } })
            Enrich(Enrich { source: EnrichSource { span: Span { source: SourceId(0), start: 185, end: 217 }, ty: Body, clone: true, xpath: None, property: None, inline: None }, target: EnrichTarget { span: Span { source: SourceId(0), start: 217, end: 255 }, ty: Property, action: Replace, xpath: None, property: Some(Spanned { value: "p", span: Span { source: SourceId(0), start: 251, end: 252 } }) } })
            error[E0106] "no": clone="no": expected true or false
        "#]],
    );
}
