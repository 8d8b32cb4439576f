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
        MediatorKind::DbLookup(m) | MediatorKind::DbReport(m) => {
            let conn = match &m.connection {
                DbConnection::Pool {
                    driver,
                    url,
                    properties,
                    ..
                } => format!(
                    "pool {:?} {:?} key={} props={:?}",
                    driver.value.value,
                    url.value.value,
                    driver.registry_key,
                    properties
                        .iter()
                        .map(|(n, v)| format!("{}={}", n.value, v.value))
                        .collect::<Vec<_>>()
                ),
                DbConnection::DataSource { name, .. } => format!("dsName {:?}", name.value),
            };
            let stmts: Vec<String> = m
                .statements
                .iter()
                .map(|s| {
                    let params: Vec<String> = s
                        .parameters
                        .iter()
                        .map(|p| match (&p.value, &p.expression) {
                            (Some(v), _) => format!("{}={:?}", p.ty.value, v.value),
                            (None, Some(e)) => format!("{}=expr {:?}", p.ty.value, e.text),
                            (None, None) => p.ty.value.clone(),
                        })
                        .collect();
                    let results: Vec<String> = s
                        .results
                        .iter()
                        .map(|r| format!("{}<-{}", r.name.value, r.column.value))
                        .collect();
                    format!("[{:?} {params:?} {results:?}]", s.sql.value)
                })
                .collect();
            format!("db tx={} {conn} {}", m.use_transaction, stmts.join(" "))
        }
        MediatorKind::SequenceRef(SequenceKey::Static(k)) => format!("sequence {:?}", k.value),
        MediatorKind::SequenceRef(SequenceKey::Dynamic(e)) => {
            format!("sequence dynamic {:?} ns={:?}", e.text, e.namespaces)
        }
        MediatorKind::Xslt(x) => format!(
            "xslt {:?} dynamic={:?}",
            x.key.value,
            x.dynamic_key.as_ref().map(|e| &e.text)
        ),
        other => format!("{other:?}"),
    }
}

/// The text a dynamic key's span covers.
fn dynamic_key_text(body: &str) -> String {
    let text =
        format!(r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="t">{body}</sequence>"#);
    let parse = parse_artifact(synaptic_diag::SourceId(0), &text);
    match &parse.tree.sequences[0].mediators[0].kind {
        MediatorKind::SequenceRef(SequenceKey::Dynamic(e)) => text[e.span.range()].to_string(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn sequence_and_xslt_keys_written_in_braces_are_dynamic() {
    check(
        r#"<sequence key="plain"/>
           <sequence key="{get-property('X')}"/>
           <sequence key="{//a:route}"/>
           <sequence key="{{escaped}}"/>
           <sequence key="{${vars.next}}"/>
           <xslt key="{$ctx:sheet}"/>
           <xslt key="static.xsl"/>"#,
        expect![[r#"
            sequence "plain"
            sequence dynamic "get-property('X')" ns=[("", "http://ws.apache.org/ns/synapse"), ("a", "urn:a")]
            sequence dynamic "//a:route" ns=[("", "http://ws.apache.org/ns/synapse"), ("a", "urn:a")]
            sequence "{escaped}"
            sequence dynamic "${vars.next}" ns=[("", "http://ws.apache.org/ns/synapse"), ("a", "urn:a")]
            xslt "{$ctx:sheet}" dynamic=Some("$ctx:sheet")
            xslt "static.xsl" dynamic=None
        "#]],
    );
    // the expression's span is inside the braces (the whole value when it has references)
    assert_eq!(
        dynamic_key_text(r#"<sequence key="{get-property('X')}"/>"#),
        "get-property('X')"
    );
    assert_eq!(
        dynamic_key_text(r#"<sequence key="{concat('a','&amp;')}"/>"#),
        "{concat('a','&amp;')}"
    );
}

#[test]
fn db_mediators_read_their_pool_statements_parameters_and_results() {
    check(
        r#"<dblookup><connection><pool><driver>org.sqlite.JDBC</driver>
             <url> jdbc:sqlite:/tmp/a.db </url><user>u</user><password>p</password>
             <property name="maxactive" value="3"/></pool></connection>
           <statement><sql><![CDATA[select * from t where a = ? and b < ?]]></sql>
             <parameter expression="//a:x" type="VARCHAR"/>
             <parameter value="5" type="INTEGER"/>
             <result name="p" column="name"/><result name="q" column="2"/></statement>
           <statement><sql>select 1</sql></statement></dblookup>
           <dbreport useTransaction="true"><connection><pool><dsName>jdbc/Shop</dsName></pool></connection>
           <statement><sql>delete from t</sql><result name="r" column="1"/></statement></dbreport>"#,
        expect![[r#"
            db tx=false pool "org.sqlite.JDBC" "jdbc:sqlite:/tmp/a.db" key=false props=["maxactive=3"] ["select * from t where a = ? and b < ?" ["VARCHAR=expr \"//a:x\"", "INTEGER=\"5\""] ["p<-name", "q<-2"]] ["select 1" [] []]
            db tx=true dsName "jdbc/Shop" ["delete from t" [] []]
            warning[W0301] "result": <result> in a <dbreport> does nothing: only <dblookup> sets properties from a row
        "#]],
    );
}

#[test]
fn db_mediator_mistakes_are_reported_where_they_are() {
    check(
        r#"<dblookup useTransaction="true"><statement><sql>select 1</sql></statement></dblookup>
           <dblookup><connection><pool><driver>d</driver><url>u</url></pool></connection></dblookup>
           <dblookup><connection><pool><user>u</user></pool></connection></dblookup>
           <dbreport><connection><pool><driver key="conf:/driver"/><url>u</url><user/><password/>
             <property name="maxactive"/></pool></connection>
             <statement><parameter value="1" type="INTEGER"/></statement>
             <statement><sql>x</sql><parameter type="VARCHAR"/><parameter value="a"/>
               <parameter value="a" expression="//b" type="CHAR"/></statement></dbreport>
           <dblookup><connection><pool><dsName>x</dsName></pool></connection>
             <statement><sql>x</sql><result name="n"/><colour/></statement></dblookup>"#,
        expect![[r#"
            db tx=false dsName "x" ["x" [] []]
            error[E0114] "dblookup": <dblookup> has no <connection>: give it a <connection><pool> with a <driver> (a pool of its own) or a <dsName> (a data source)
            error[E0104] "useTransaction": unknown attribute `useTransaction` on <dblookup> (expected one of: description)
            error[E0114] "pool": <pool> has no <user>: Synapse needs <driver>, <url>, <user> and <password> (they may be empty)
            error[E0114] "pool": <pool> has no <password>: Synapse needs <driver>, <url>, <user> and <password> (they may be empty)
            error[E0114] "pool": <pool> has neither <driver> nor <dsName>: Synapse needs the connection information for a pool of its own (<driver>, <url>, <user>, <password>) or a data source name
            error[E0105] "property": <property> is missing the required attribute `value`
            error[E0114] "statement": <statement> has no <sql>: write the SQL, with `?` for each <parameter>
            warning[W0301] "parameter": <parameter> without value= or expression= is skipped (as in Synapse): the statement's `?`s are bound to the other parameters
            error[E0105] "parameter": <parameter> has no type=: give its JDBC type (VARCHAR, INTEGER, DOUBLE, …)
            warning[W0101] "expression": expression= is ignored: the parameter has a value= (Synapse binds the value)
            error[E0105] "result": <result> is missing the required attribute `column`
            error[E0103] "colour": unknown element <colour> in <statement>
        "#]],
    );
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

#[test]
fn validate_schema_keys_in_braces_are_dynamic_and_json_source_is_read() {
    let text = r#"<sequence xmlns="http://ws.apache.org/ns/synapse" xmlns:m="urn:m" name="t"><validate json-source="true"><schema key="plain"/><schema key="{//m:key}"/><schema key="{{escaped}}"/><on-fail><drop/></on-fail></validate></sequence>"#;
    let parse = parse_artifact(synaptic_diag::SourceId(0), text);
    assert!(parse.diagnostics.is_empty(), "{:?}", parse.diagnostics);
    let MediatorKind::Validate(v) = &parse.tree.sequences[0].mediators[0].kind else {
        panic!("not a validate");
    };
    assert!(v.json_source);
    let keys: Vec<&str> = v.schemas.iter().map(|k| k.value.as_str()).collect();
    assert_eq!(keys, ["plain", "{//m:key}", "{escaped}"]);
    let dynamic: Vec<Option<&str>> = v
        .dynamic_keys
        .iter()
        .map(|e| e.as_ref().map(|e| e.text.as_str()))
        .collect();
    assert_eq!(dynamic, [None, Some("//m:key"), None]);
    let e = v.dynamic_keys[1].as_ref().unwrap();
    assert!(e.namespaces.iter().any(|(p, u)| p == "m" && u == "urn:m"));
    // a json-source that is not a boolean is refused
    let bad = text.replace(r#"json-source="true""#, r#"json-source="yes""#);
    let parse = parse_artifact(synaptic_diag::SourceId(0), &bad);
    assert!(parse.diagnostics.iter().any(|d| d.is_error()));
}
