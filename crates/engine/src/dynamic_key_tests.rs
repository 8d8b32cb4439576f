//! Dynamic keys (`key="{…}"`) of `<sequence>` and `<xslt>`: compiled at load (errors inside
//! the expression), evaluated on each message, the named sequence or stylesheet looked up
//! then; a name that names nothing faults with Synapse's message. And the registry lookup of
//! the sequence references no artifact defines, static keys and those with a fallback
//! (`onError`, `faultSequence`, `receive`, `<store sequence>`).

use crate::*;

use crate::test_support::{compiled, engine_of, request};

fn engine_with(xml: &str, registry: synaptic_registry::MemoryRegistry) -> Engine {
    Engine {
        registry: Arc::new(registry),
        ..engine_of(xml)
    }
}

fn engine(xml: &str) -> Engine {
    engine_of(xml)
}

fn rt() -> tokio::runtime::Runtime {
    crate::test_support::rt()
}

fn prop(ctx: &MessageContext, name: &str) -> Option<String> {
    match ctx.properties.default.get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(format!("{other:?}")),
        None => None,
    }
}

/// Two sequences a dynamic key chooses between, each marking the message.
const TARGETS: &str = r#"
  <sequence name="seq-a"><property name="RAN" value="a"/></sequence>
  <sequence name="seq-b"><property name="RAN" value="b"/></sequence>"#;

fn defs(main: &str) -> String {
    format!(
        r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
  <sequence name="main">{main}<property name="AFTER" value="yes"/></sequence>{TARGETS}
</definitions>"#
    )
}

fn run_main(e: &Engine, ctx: &mut MessageContext) -> Result<Flow, MediationError> {
    rt().block_on(e.mediate("main", None, ctx))
}

#[test]
fn a_property_names_the_sequence_on_each_message() {
    let e = engine(&defs(r#"<sequence key="{get-property('TARGET')}"/>"#));
    for (target, ran) in [("seq-a", "a"), ("seq-b", "b")] {
        let mut ctx = request("application/xml", "<x/>");
        ctx.properties
            .default
            .insert("TARGET", Value::String(target.into()));
        assert_eq!(run_main(&e, &mut ctx).unwrap(), Flow::Continue);
        // the named sequence ran, and the flow went on after the mediator
        assert_eq!(prop(&ctx, "RAN").as_deref(), Some(ran));
        assert_eq!(prop(&ctx, "AFTER").as_deref(), Some("yes"));
    }
}

#[test]
fn xpath_json_eval_synapse_expressions_and_concat_name_the_sequence() {
    let cases = [
        (
            r#"<sequence xmlns:m="urn:m" key="{//m:route}"/>"#,
            "application/xml",
            r#"<m:order xmlns:m="urn:m"><m:route>seq-b</m:route></m:order>"#,
            "b",
        ),
        (
            r#"<sequence key="{json-eval($.route)}"/>"#,
            "application/json",
            r#"{"route":"seq-a"}"#,
            "a",
        ),
        (
            r#"<variable name="r" value="seq-b"/><sequence key="{${vars.r}}"/>"#,
            "application/json",
            "{}",
            "b",
        ),
        (
            r#"<property name="n" value="a"/><sequence key="{fn:concat('seq-', get-property('n'))}"/>"#,
            "application/xml",
            "<x/>",
            "a",
        ),
        (
            r#"<property name="n" value="seq-b"/><sequence key="{$ctx:n}"/>"#,
            "application/xml",
            "<x/>",
            "b",
        ),
    ];
    for (i, (main, ct, body, ran)) in cases.into_iter().enumerate() {
        let e = engine(&defs(main));
        let mut ctx = request(ct, body);
        run_main(&e, &mut ctx).unwrap_or_else(|err| panic!("case {i}: {err}"));
        assert_eq!(prop(&ctx, "RAN").as_deref(), Some(ran), "case {i}");
        assert_eq!(prop(&ctx, "AFTER").as_deref(), Some("yes"), "case {i}");
    }
}

#[test]
fn a_template_parameter_names_the_sequence() {
    let e = engine(&format!(
        r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
  <template name="route"><parameter name="target"/>
    <sequence><sequence key="{{$func:target}}"/></sequence>
  </template>
  <sequence name="main"><call-template target="route"><with-param name="target" value="seq-b"/></call-template></sequence>{TARGETS}
</definitions>"#
    ));
    let mut ctx = request("application/xml", "<x/>");
    run_main(&e, &mut ctx).unwrap();
    assert_eq!(prop(&ctx, "RAN").as_deref(), Some("b"));
}

#[test]
fn a_name_that_names_no_sequence_faults_with_synapses_message() {
    let e = engine(
        r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
  <sequence name="main" onError="err"><sequence key="{get-property('TARGET')}"/><property name="AFTER" value="yes"/></sequence>
  <sequence name="err"><property name="SEEN" expression="get-property('ERROR_MESSAGE')"/><drop/></sequence>
</definitions>"#,
    );
    for target in [Some("nowhere"), None] {
        let mut ctx = request("application/xml", "<x/>");
        if let Some(t) = target {
            ctx.properties
                .default
                .insert("TARGET", Value::String(t.into()));
        }
        assert_eq!(run_main(&e, &mut ctx).unwrap(), Flow::Drop);
        assert_eq!(
            prop(&ctx, "SEEN").as_deref(),
            Some("Sequence named Value {name ='null', expression =get-property('TARGET')} cannot be found")
        );
        assert_eq!(prop(&ctx, "AFTER"), None);
    }
}

#[test]
fn an_apis_own_flow_is_not_a_sequence_a_key_names() {
    let e = engine(
        r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
  <api name="A" context="/a"><resource methods="GET"><inSequence><property name="RAN" value="api"/></inSequence></resource></api>
  <sequence name="main"><sequence key="{get-property('TARGET')}"/></sequence>
</definitions>"#,
    );
    let name = e
        .program
        .ir
        .seqs
        .iter()
        .find(|s| s.anonymous && s.name.starts_with("api:"))
        .map(|s| s.name.clone())
        .expect("the API's in-sequence");
    let mut ctx = request("application/xml", "<x/>");
    ctx.properties.default.insert("TARGET", Value::String(name));
    let err = run_main(&e, &mut ctx).unwrap_err();
    assert!(err.message.contains("cannot be found"), "{err}");
    assert_eq!(prop(&ctx, "RAN"), None);
}

#[test]
fn a_local_entry_sequence_is_found() {
    let e = engine(
        r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
  <localEntry key="le-seq"><sequence xmlns="http://ws.apache.org/ns/synapse"><property name="RAN" value="le"/></sequence></localEntry>
  <sequence name="main"><sequence key="{'le-seq'}"/></sequence>
</definitions>"#,
    );
    let mut ctx = request("application/xml", "<x/>");
    run_main(&e, &mut ctx).unwrap();
    assert_eq!(prop(&ctx, "RAN").as_deref(), Some("le"));
}

#[test]
fn a_bad_expression_is_an_error_inside_it_and_an_escaped_key_is_static() {
    let xml = defs(r#"<sequence key="{get-property('X'}"/>"#);
    let (prog, diags) = compiled(&xml);
    assert!(prog.is_none());
    let err = diags
        .iter()
        .find(|d| d.is_error())
        .unwrap_or_else(|| panic!("{diags:?}"));
    // the error points inside the braces
    let open = xml.find("{get-property").unwrap();
    assert!(
        err.primary_span().start as usize > open && (err.primary_span().end as usize) <= open + 17,
        "{err:?} (expression at {open})"
    );
    // `{{…}}` is Synapse's escaped form: the static key `{…}`, resolved when reached
    let (prog, diags) = compiled(&defs(r#"<sequence key="{{seq-a}}"/>"#));
    assert!(prog.is_some(), "{diags:?}");
    assert!(
        diags
            .iter()
            .any(|d| d.code.id == "W0304" && d.message.contains("`{seq-a}`")),
        "{diags:?}"
    );
}

const SHEET: &str = r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"><xsl:template match="/"><NAME xmlns=""><xsl:value-of select="//v"/></NAME></xsl:template></xsl:stylesheet>"#;

#[test]
fn a_dynamic_xslt_key_names_a_local_entry_or_a_registry_resource() {
    let registry = synaptic_registry::MemoryRegistry::new();
    rt().block_on(synaptic_registry::Registry::put(
        &registry,
        "conf:/xslt/reg.xsl",
        &SHEET.replace("NAME", "from-registry"),
    ))
    .unwrap();
    let e = engine_with(
        &format!(
            r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
  <localEntry key="local.xsl">{}</localEntry>
  <sequence name="main"><xslt key="{{get-property('SHEET')}}"/></sequence>
</definitions>"#,
            SHEET.replace("NAME", "from-local")
        ),
        registry,
    );
    for (sheet, out) in [
        ("local.xsl", "<from-local>7</from-local>"),
        ("conf:/xslt/reg.xsl", "<from-registry>7</from-registry>"),
    ] {
        let mut ctx = request("application/xml", "<in><v>7</v></in>");
        ctx.properties
            .default
            .insert("SHEET", Value::String(sheet.into()));
        run_main(&e, &mut ctx).unwrap();
        let (body, _) = ctx.body_bytes().unwrap();
        assert_eq!(String::from_utf8_lossy(&body), out, "{sheet}");
    }
    let mut ctx = request("application/xml", "<in><v>7</v></in>");
    ctx.properties
        .default
        .insert("SHEET", Value::String("missing.xsl".into()));
    let err = run_main(&e, &mut ctx).unwrap_err();
    assert!(err.message.contains("`missing.xsl`"), "{err}");
}

fn put(registry: &synaptic_registry::MemoryRegistry, key: &str, value: &str) {
    rt().block_on(synaptic_registry::Registry::put(registry, key, value))
        .unwrap();
}

/// `main` runs the sequence its `TARGET` property names, then marks the message; `err`
/// keeps the fault's message.
const REGISTRY_MAIN: &str = r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
  <sequence name="main" onError="err"><sequence key="{get-property('TARGET')}"/><property name="AFTER" value="yes"/></sequence>
  <sequence name="err"><property name="SEEN" expression="get-property('ERROR_MESSAGE')"/><property name="DETAIL" expression="get-property('ERROR_DETAIL')"/><drop/></sequence>
  <sequence name="seq-a"><property name="RAN" value="deployed"/></sequence>
</definitions>"#;

fn targeting(target: &str) -> MessageContext {
    let mut ctx = request("application/xml", "<x/>");
    ctx.properties
        .default
        .insert("TARGET", Value::String(target.into()));
    ctx
}

#[test]
fn a_key_naming_a_registry_sequence_runs_it_and_a_change_is_compiled_again() {
    let registry = synaptic_registry::MemoryRegistry::new();
    put(
        &registry,
        "gov:/sequences/reg.xml",
        r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="reg"><property name="RAN" expression="fn:concat('registry-', get-property('TARGET'))"/></sequence>"#,
    );
    let e = engine_with(REGISTRY_MAIN, registry);
    for _ in 0..2 {
        let mut ctx = targeting("gov:/sequences/reg.xml");
        assert_eq!(run_main(&e, &mut ctx).unwrap(), Flow::Continue);
        assert_eq!(
            prop(&ctx, "RAN").as_deref(),
            Some("registry-gov:/sequences/reg.xml")
        );
        assert_eq!(prop(&ctx, "AFTER").as_deref(), Some("yes"));
    }
    // a deployed sequence of the name still wins
    let mut ctx = targeting("seq-a");
    run_main(&e, &mut ctx).unwrap();
    assert_eq!(prop(&ctx, "RAN").as_deref(), Some("deployed"));

    // the resource changes: the new text runs
    rt().block_on(e.registry.put(
        "gov:/sequences/reg.xml",
        r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="reg"><property name="RAN" value="v2"/><drop/></sequence>"#,
    ))
    .unwrap();
    let mut ctx = targeting("gov:/sequences/reg.xml");
    assert_eq!(run_main(&e, &mut ctx).unwrap(), Flow::Drop);
    assert_eq!(prop(&ctx, "RAN").as_deref(), Some("v2"));
    assert_eq!(prop(&ctx, "AFTER"), None);
}

#[test]
fn a_fault_in_a_registry_sequence_goes_to_the_callers_handler() {
    let registry = synaptic_registry::MemoryRegistry::new();
    put(
        &registry,
        "conf:/seq/bare.xml",
        r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="bare"><sequence key="nowhere"/></sequence>"#,
    );
    let e = engine_with(REGISTRY_MAIN, registry);
    let mut ctx = targeting("conf:/seq/bare.xml");
    assert_eq!(run_main(&e, &mut ctx).unwrap(), Flow::Drop);
    assert!(
        prop(&ctx, "SEEN").unwrap().contains("keyValue ='nowhere'"),
        "{:?}",
        prop(&ctx, "SEEN")
    );
}

#[test]
fn a_registry_resource_that_is_not_a_sequence_faults_with_the_reason() {
    let registry = synaptic_registry::MemoryRegistry::new();
    put(&registry, "gov:/text.txt", "just text");
    put(
        &registry,
        "gov:/api.xml",
        r#"<api xmlns="http://ws.apache.org/ns/synapse" name="A" context="/a"/>"#,
    );
    put(
        &registry,
        "gov:/broken.xml",
        r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="b"><property name="x" expression="fn:nope("/></sequence>"#,
    );
    put(
        &registry,
        "gov:/self.xml",
        r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="s"><sequence key="{'gov:/self.xml'}"/></sequence>"#,
    );
    let e = engine_with(REGISTRY_MAIN, registry);
    for (key, why) in [
        (
            "gov:/text.txt",
            "registry resource `gov:/text.txt` is not a valid sequence",
        ),
        ("gov:/api.xml", "its root is <api>, not <sequence>"),
        (
            "gov:/broken.xml",
            "registry resource `gov:/broken.xml` is not a valid sequence",
        ),
    ] {
        let mut ctx = targeting(key);
        assert_eq!(run_main(&e, &mut ctx).unwrap(), Flow::Drop, "{key}");
        assert_eq!(
            prop(&ctx, "SEEN").as_deref(),
            Some("Sequence named Value {name ='null', expression =get-property('TARGET')} cannot be found"),
            "{key}"
        );
        let detail = prop(&ctx, "DETAIL").unwrap_or_default();
        assert!(detail.contains(why), "{key}: {detail}");
    }
    // a sequence naming itself: a limit, not a stack overflow
    let mut ctx = targeting("gov:/self.xml");
    let err = run_main(&e, &mut ctx).unwrap_err();
    assert!(
        err.message.contains("nested deeper than"),
        "{}",
        err.message
    );
}

#[test]
fn a_static_key_no_artifact_defines_runs_the_registry_sequence_of_that_key() {
    let registry = synaptic_registry::MemoryRegistry::new();
    put(
        &registry,
        "conf:/sequences/s.xml",
        r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="s"><property name="RAN" value="registry"/></sequence>"#,
    );
    let xml = r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
  <sequence name="main" onError="err"><sequence key="conf:/sequences/s.xml"/><property name="AFTER" value="yes"/></sequence>
  <sequence name="err"><property name="SEEN" expression="get-property('ERROR_MESSAGE')"/><property name="DETAIL" expression="get-property('ERROR_DETAIL')"/><drop/></sequence>
  <sequence name="tpl" onError="err"><call-template target="conf:/sequences/s.xml"/></sequence>
</definitions>"#;
    // still W0304 at load: the registry is read only when a message gets there
    let (_, diags) = compiled(xml);
    assert!(
        diags.iter().any(|d| d.code.id == "W0304"
            && d.message.contains("`conf:/sequences/s.xml`")
            && d.message.contains("registry")),
        "{diags:?}"
    );
    let e = engine_with(xml, registry);
    for _ in 0..2 {
        let mut ctx = request("application/xml", "<x/>");
        assert_eq!(run_main(&e, &mut ctx).unwrap(), Flow::Continue);
        assert_eq!(prop(&ctx, "RAN").as_deref(), Some("registry"));
        assert_eq!(prop(&ctx, "AFTER").as_deref(), Some("yes"));
    }
    // a sequence is no template: <call-template> of that key still faults
    let mut ctx = request("application/xml", "<x/>");
    assert_eq!(
        rt().block_on(e.mediate("tpl", None, &mut ctx)).unwrap(),
        Flow::Drop
    );
    assert_eq!(
        prop(&ctx, "SEEN").as_deref(),
        Some("Sequence template conf:/sequences/s.xml cannot be found")
    );
    assert_eq!(prop(&ctx, "RAN"), None);

    // the resource changes: the new text runs; a resource that is not a sequence faults
    // with Synapse's message, the reason in the detail
    rt().block_on(e.registry.put(
        "conf:/sequences/s.xml",
        r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="s"><property name="RAN" value="v2"/></sequence>"#,
    ))
    .unwrap();
    let mut ctx = request("application/xml", "<x/>");
    run_main(&e, &mut ctx).unwrap();
    assert_eq!(prop(&ctx, "RAN").as_deref(), Some("v2"));
    rt().block_on(e.registry.put("conf:/sequences/s.xml", "not xml"))
        .unwrap();
    let mut ctx = request("application/xml", "<x/>");
    assert_eq!(run_main(&e, &mut ctx).unwrap(), Flow::Drop);
    assert_eq!(
        prop(&ctx, "SEEN").as_deref(),
        Some("Sequence named Value {name ='null', keyValue ='conf:/sequences/s.xml'} cannot be found")
    );
    assert!(prop(&ctx, "DETAIL")
        .unwrap_or_default()
        .contains("is not a valid sequence"));
    // without the resource: the fault it always was
    let e = engine(xml);
    let mut ctx = request("application/xml", "<x/>");
    assert_eq!(run_main(&e, &mut ctx).unwrap(), Flow::Drop);
    assert_eq!(prop(&ctx, "DETAIL"), prop(&ctx, "SEEN"));
}

/// Registry sequences for the references with a fallback: each marks the message.
fn handlers() -> synaptic_registry::MemoryRegistry {
    let registry = synaptic_registry::MemoryRegistry::new();
    put(
        &registry,
        "gov:/h/err.xml",
        r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="err"><property name="HANDLED" value="registry"/><property name="SEEN" expression="get-property('ERROR_MESSAGE')"/><drop/></sequence>"#,
    );
    put(
        &registry,
        "gov:/h/recv.xml",
        r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="recv"><property name="RECEIVED" value="registry"/></sequence>"#,
    );
    put(
        &registry,
        "gov:/h/mark.xml",
        r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="mark"><property name="MARKED" value="registry"/></sequence>"#,
    );
    registry
}

/// `inner`'s `onError`, the proxy's `faultSequence`, a `receive` and a `<store sequence>`, all
/// naming registry keys no artifact defines; `outer` handles what `inner` does not.
const FALLBACKS: &str = r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
  <sequence name="outer" onError="outer-err"><sequence key="inner"/><property name="AFTER" value="yes"/></sequence>
  <sequence name="inner" onError="gov:/h/err.xml"><sequence key="nowhere"/></sequence>
  <sequence name="outer-err"><property name="HANDLED" value="outer"/><property name="SEEN" expression="get-property('ERROR_MESSAGE')"/><property name="DETAIL" expression="get-property('ERROR_DETAIL')"/><drop/></sequence>
  <proxy name="p"><target faultSequence="gov:/h/err.xml"><inSequence><sequence key="nowhere"/></inSequence></target></proxy>
  <proxy name="recv"><target><inSequence><send receive="gov:/h/recv.xml"><endpoint><address uri="http://backend.test/q"/></endpoint></send></inSequence></target></proxy>
  <messageStore name="S"/>
  <sequence name="st"><store messageStore="S" sequence="gov:/h/mark.xml"/></sequence>
</definitions>"#;

/// `FALLBACKS` with Synapse's `fault` sequence, which marks the message.
fn with_fault_sequence() -> String {
    FALLBACKS.replace(
        "</definitions>",
        r#"<sequence name="fault"><property name="HANDLED" value="fault"/><drop/></sequence></definitions>"#,
    )
}

#[test]
fn the_references_with_a_fallback_warn_that_the_registry_is_read_first() {
    let (_, diags) = compiled(FALLBACKS);
    for key in ["gov:/h/err.xml", "gov:/h/recv.xml", "gov:/h/mark.xml"] {
        assert!(
            diags.iter().any(|d| d.code.id == "W0304"
                && d.message.contains(&format!("`{key}`"))
                && d.message
                    .contains("a registry resource of that key holding a sequence runs")),
            "{key}: {diags:?}"
        );
    }
}

#[test]
fn an_on_error_no_artifact_defines_is_the_registry_sequence_else_the_fault_goes_on() {
    let e = engine_with(FALLBACKS, handlers());
    let mut ctx = request("application/xml", "<x/>");
    assert_eq!(
        rt().block_on(e.mediate("outer", None, &mut ctx)).unwrap(),
        Flow::Drop
    );
    assert_eq!(prop(&ctx, "HANDLED").as_deref(), Some("registry"));
    assert!(
        prop(&ctx, "SEEN").unwrap().contains("keyValue ='nowhere'"),
        "{:?}",
        prop(&ctx, "SEEN")
    );
    // without the resource, `inner` has no handler: the fault goes to `outer`'s
    let e = engine(FALLBACKS);
    let mut ctx = request("application/xml", "<x/>");
    assert_eq!(
        rt().block_on(e.mediate("outer", None, &mut ctx)).unwrap(),
        Flow::Drop
    );
    assert_eq!(prop(&ctx, "HANDLED").as_deref(), Some("outer"));
    assert!(prop(&ctx, "SEEN").unwrap().contains("keyValue ='nowhere'"));
    // a resource that is no sequence: the handler faults with the reason
    let registry = handlers();
    put(&registry, "gov:/h/err.xml", "not a sequence");
    let e = engine_with(FALLBACKS, registry);
    let mut ctx = request("application/xml", "<x/>");
    let err = rt()
        .block_on(e.mediate("inner", None, &mut ctx))
        .unwrap_err();
    assert!(
        err.message
            .starts_with("onError handler : gov:/h/err.xml for sequence : inner cannot be found\n"),
        "{}",
        err.message
    );
    assert!(
        err.message
            .contains("registry resource `gov:/h/err.xml` is not a valid sequence"),
        "{}",
        err.message
    );
    // which `outer`'s handler takes (the message keeps the first fault's properties)
    let mut ctx = request("application/xml", "<x/>");
    assert_eq!(
        rt().block_on(e.mediate("outer", None, &mut ctx)).unwrap(),
        Flow::Drop
    );
    assert_eq!(prop(&ctx, "HANDLED").as_deref(), Some("outer"));
}

#[test]
fn a_fault_sequence_no_artifact_defines_is_the_registry_sequence_else_the_fault_sequence() {
    let flow = "proxy:p/inSequence";
    let fault = "gov:/h/err.xml";
    let xml = with_fault_sequence();
    let e = engine_with(&xml, handlers());
    assert!(e.program.has_fault_sequence(fault));
    assert!(!e.program.has_sequence(fault));
    let mut ctx = request("application/xml", "<x/>");
    assert_eq!(
        rt().block_on(e.mediate(flow, Some(fault), &mut ctx))
            .unwrap(),
        Flow::Drop
    );
    assert_eq!(prop(&ctx, "HANDLED").as_deref(), Some("registry"));
    // run on its own (as the gateway runs it on a backend's failure)
    let mut ctx = request("application/xml", "<x/>");
    assert_eq!(
        rt().block_on(e.mediate(fault, None, &mut ctx)).unwrap(),
        Flow::Drop
    );
    assert_eq!(prop(&ctx, "HANDLED").as_deref(), Some("registry"));
    // without the resource: the `fault` sequence, either way
    let e = engine(&xml);
    for (seq, fault_seq) in [(flow, Some(fault)), (fault, None)] {
        let mut ctx = request("application/xml", "<x/>");
        assert_eq!(
            rt().block_on(e.mediate(seq, fault_seq, &mut ctx)).unwrap(),
            Flow::Drop
        );
        assert_eq!(prop(&ctx, "HANDLED").as_deref(), Some("fault"), "{seq}");
    }
    // and without a `fault` sequence either, the fault is the flow's
    let e = engine(FALLBACKS);
    let mut ctx = request("application/xml", "<x/>");
    let err = rt()
        .block_on(e.mediate(flow, Some(fault), &mut ctx))
        .unwrap_err();
    assert!(
        err.message.contains("keyValue ='nowhere'"),
        "{}",
        err.message
    );
    assert_eq!(prop(&ctx, "HANDLED"), None);
}

#[test]
fn a_receive_no_artifact_defines_is_the_registry_sequence_else_the_response_is_dropped() {
    let answer = || {
        Arc::new(crate::tests::Answer {
            body: r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><r/></s:Body></s:Envelope>"#,
            ..Default::default()
        })
    };
    let flow = "proxy:recv/inSequence";
    let e = Engine {
        invoker: answer(),
        ..engine_with(FALLBACKS, handlers())
    };
    let mut ctx = request("application/xml", "<x/>");
    assert_eq!(
        rt().block_on(e.mediate(flow, None, &mut ctx)).unwrap(),
        Flow::Respond
    );
    assert_eq!(prop(&ctx, "RECEIVED").as_deref(), Some("registry"));
    let sent = answer();
    let e = Engine {
        invoker: sent.clone(),
        ..engine(FALLBACKS)
    };
    let mut ctx = request("application/xml", "<x/>");
    assert_eq!(
        rt().block_on(e.mediate(flow, None, &mut ctx)).unwrap(),
        Flow::Drop
    );
    assert_eq!(prop(&ctx, "RECEIVED"), None);
    assert_eq!(sent.seen.lock().unwrap().len(), 1);
}

#[test]
fn a_store_sequence_no_artifact_defines_is_the_registry_sequence_else_the_message_is_stored() {
    for (e, marked) in [
        (engine_with(FALLBACKS, handlers()), Some("registry")),
        (engine(FALLBACKS), None),
    ] {
        let mut ctx = request("application/xml", "<x/>");
        assert_eq!(
            rt().block_on(e.mediate("st", None, &mut ctx)).unwrap(),
            Flow::Continue
        );
        assert_eq!(prop(&ctx, "MARKED").as_deref(), marked);
        let raw = rt().block_on(e.state.queue_pop("S")).unwrap().unwrap();
        let stored = decode_stored_message(&raw).unwrap();
        assert_eq!(
            stored
                .scope_strings(Scope::Default)
                .get("MARKED")
                .map(String::as_str),
            marked
        );
    }
}
