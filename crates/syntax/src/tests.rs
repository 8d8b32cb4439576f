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
            Send(Send { endpoint: None, receive: None })
            error[E0105] "property": <property> is missing the required attribute `name`
            error[E0105] "property": <property> needs value= or expression= (or an inline XML child)
            error[E0105] "filter": <filter> needs xpath= or source= with regex=
            error[E0114] "endpoint": <endpoint> needs key= or a definition such as <address uri=…/> or <http uri-template=…/>
        "#]],
    );
}
