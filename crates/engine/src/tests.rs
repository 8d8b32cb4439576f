//! Engine unit tests that need the whole pipeline (parse → compile → mediate).

use crate::*;
use std::sync::Mutex;
use synaptic_diag::SourceId;

use crate::test_support::{engine_of as engine, NoNet};

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::ErrorKind::Other)?
            .extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn log_mediator_redacts_credentials() {
    let e = engine(
        r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="s">
            <log level="full">
                <property name="auth" expression="$trp:Authorization"/>
                <property name="client_secret" value="s3cr3t-value"/>
                <property name="plain" value="visible-value"/>
            </log>
        </sequence>"#,
    );
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "authorization",
        "Bearer eyJhbGciOi.payload.sig".parse().unwrap(),
    );
    headers.insert("x-api-key", "k-123456".parse().unwrap());
    headers.insert("content-type", "application/json".parse().unwrap());
    let mut ctx = MessageContext::from_request(
        http::Method::POST,
        "/x",
        headers,
        Bytes::from_static(br#"{"access_token":"tok-abcdef","n":1}"#),
        None,
    );
    tracing::subscriber::with_default(subscriber, || {
        let rt = crate::test_support::rt();
        rt.block_on(e.mediate("s", None, &mut ctx)).unwrap();
    });
    let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(out.contains("visible-value"), "{out}");
    assert!(out.contains("Bearer ***"), "{out}");
    for secret in ["eyJhbGciOi", "s3cr3t-value", "k-123456", "tok-abcdef"] {
        assert!(!out.contains(secret), "{secret} leaked: {out}");
    }
    assert!(out.contains(r#""n":1"#), "{out}");
}

#[test]
fn limits_stop_runaway_recursion() {
    let e = engine(
        r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
            <sequence name="a"><sequence key="a"/></sequence>
        </definitions>"#,
    );
    let mut ctx = MessageContext::from_request(
        http::Method::GET,
        "/",
        http::HeaderMap::new(),
        Bytes::new(),
        None,
    );
    let rt = crate::test_support::rt();
    let err = rt.block_on(e.mediate("a", None, &mut ctx)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Limit);
}

#[test]
fn malformed_json_body_is_a_client_error_only_when_read() {
    let e = engine(
        r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="s">
            <property name="a" value="1"/>
        </sequence>"#,
    );
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());
    let mut ctx = MessageContext::from_request(
        http::Method::POST,
        "/",
        headers.clone(),
        Bytes::from_static(b"{not json"),
        None,
    );
    let rt = crate::test_support::rt();
    assert_eq!(
        rt.block_on(e.mediate("s", None, &mut ctx)).unwrap(),
        Flow::Continue
    );
    // untouched: passed through byte for byte
    assert_eq!(&ctx.body_bytes().unwrap().0[..], b"{not json");

    let e = engine(
        r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="s">
            <property name="a" expression="json-eval($.a)"/>
        </sequence>"#,
    );
    let mut ctx = MessageContext::from_request(
        http::Method::POST,
        "/",
        headers,
        Bytes::from_static(b"{not json"),
        None,
    );
    let err = rt.block_on(e.mediate("s", None, &mut ctx)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadBody);
    assert_eq!(err.origin, Origin::Downstream);
}

#[test]
fn program_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Program>();
    check::<Engine>();
    check::<MessageContext>();
}

#[test]
fn json_eval_whole_body_keeps_the_body_unbuilt() {
    let e = engine(
        r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="s">
            <property name="message-body" expression="json-eval($)"/>
        </sequence>"#,
    );
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());
    let body = Bytes::from_static(br#"{ "a" : [1, 2.50, "x"] }"#);
    let mut ctx =
        MessageContext::from_request(http::Method::POST, "/", headers, body.clone(), None);
    let rt = crate::test_support::rt();
    rt.block_on(e.mediate("s", None, &mut ctx)).unwrap();
    assert!(matches!(ctx.payload, Payload::Raw(_)), "no DOM was built");
    assert_eq!(
        ctx.properties.default.get("message-body"),
        Some(&Value::String(r#"{ "a" : [1, 2.50, "x"] }"#.into()))
    );
    assert_eq!(ctx.body_bytes().unwrap().0, body);
}

#[test]
fn debug_output_has_no_secrets() {
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", "Bearer tok-secret-1".parse().unwrap());
    let mut ctx = MessageContext::from_request(
        http::Method::GET,
        "/x?access_token=abc",
        headers,
        Bytes::new(),
        None,
    );
    ctx.properties.default.insert(
        "generated-access-token",
        Value::String("tok-secret-2".into()),
    );
    ctx.st
        .registry
        .insert("local:/t".into(), Some("tok-secret-3".into()));
    let d = format!("{ctx:?}");
    for s in ["tok-secret-1", "tok-secret-2", "tok-secret-3", "abc"] {
        assert!(!d.contains(s), "{s} in {d}");
    }
    assert!(d.contains("generated-access-token"));
}

/// Every truncation of a file full of enrich/makefault shapes parses and compiles without
/// panicking, and whatever compiles runs over a JSON, an XML and a SOAP body without panicking.
#[test]
fn enrich_and_makefault_never_panic_on_damaged_input() {
    let doc = r#"<sequence xmlns="http://ws.apache.org/ns/synapse" xmlns:m="urn:m" xmlns:e="http://schemas.xmlsoap.org/soap/envelope/" name="s">
<enrich><source type="body" clone="false"/><target type="property" property="B"/></enrich>
<enrich><source type="property" property="B"/><target xpath="//m:a/text()"/></enrich>
<enrich><source clone="false" xpath="//m:a"/><target action="sibling" xpath="//b[1]/@x"/></enrich>
<enrich><source type="inline">{"k": {$ctx:B}, "j": "{json-eval($.a)}"}</source><target action="child" xpath="json-eval($.a[0])"/></enrich>
<enrich><source type="envelope"/><target type="property" property="E" action="child"/></enrich>
<enrich><source type="property" property="E"/><target type="envelope"/></enrich>
<enrich><source xpath="json-eval($..a)"/><target type="body"/></enrich>
<enrich><source type="inline"><m:x>é</m:x></source><target xpath="$body/*[last()]" action="child"/></enrich>
<makefault version="soap12" response="true"><code expression="concat('Rec', 'eiver')"/><reason expression="//m:a"/><node>n</node><detail expression="$body/*"/></makefault>
<makefault version="pox"><detail><m:d/></detail></makefault>
<makefault><code value="e:Server"/><reason value="r"/><role>r</role><detail>d</detail></makefault>
</sequence>"#;
    damaged_input_never_panics(doc);
}

/// Every truncation of a file full of foreach and scatter-gather shapes parses and compiles
/// without panicking, and whatever compiles runs without panicking.
#[test]
fn foreach_and_scatter_gather_never_panic_on_damaged_input() {
    let doc = r#"<sequence xmlns="http://ws.apache.org/ns/synapse" xmlns:m="urn:m" name="s">
<foreach id="f" expression="//m:a/b" continueLoopOnFailure="true"><sequence><payloadFactory media-type="xml"><format><c xmlns="">$1</c></format><args><arg expression="get-property('f_FOREACH_COUNTER')"/></args></payloadFactory></sequence></foreach>
<foreach expression="json-eval($.a)"><sequence><filter xpath="//b = 1"><then><drop/></then></filter></sequence></foreach>
<foreach expression="json-eval($)"><sequence><log/></sequence></foreach>
<foreach collection="${payload.a}" parallel-execution="false" counter-variable="i" update-original="false" target-variable="v" result-content-type="JSON"><sequence><call><endpoint><address uri="http://127.0.0.1:9/x"/></endpoint></call></sequence></foreach>
<foreach collection="${xpath('//b')}" update-original="false" target-variable="x" result-content-type="XML" result-enclosing-element="r"><sequence><log/></sequence></foreach>
<foreach collection="${vars.v}"><sequence><foreach expression="//c"><sequence><log/></sequence></foreach></sequence></foreach>
<scatter-gather target="body" result-content-type="JSON"><aggregation expression="${payload}" condition="${payload.ok}" timeout="10" max-messages="1"/><sequence><log/></sequence><sequence><drop/></sequence></scatter-gather>
<scatter-gather target="variable" target-variable="s" result-content-type="XML" result-enclosing-element="all"><aggregation expression="$body/*"/><sequence><log/></sequence></scatter-gather>
</sequence>"#;
    damaged_input_never_panics(doc);
}

/// Parse and compile every truncation of `doc` (the whole of it must compile) and run what
/// compiles over a JSON, an XML, a SOAP and a text body.
fn damaged_input_never_panics(doc: &str) {
    let bodies: [(&str, &str); 4] = [
        ("application/json", r#"{"a":[{"b":1},2],"m":"é"}"#),
        (
            "application/xml",
            r#"<m:a xmlns:m="urn:m" x="1"><b x="2">t</b></m:a>"#,
        ),
        (
            "text/xml",
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><h/></s:Header><s:Body><m:a xmlns:m="urn:m">1</m:a></s:Body></s:Envelope>"#,
        ),
        ("text/plain", "plain"),
    ];
    let rt = crate::test_support::rt();
    let mut compiled = 0;
    let cuts: Vec<usize> = doc.char_indices().map(|(i, _)| i).step_by(7).collect();
    for end in cuts.into_iter().chain([doc.len()]) {
        let text = &doc[..end];
        let p = synaptic_syntax::parse_artifact(SourceId(0), text);
        let (prog, diags) = compile(std::slice::from_ref(&p.tree), &CompileOptions::default());
        assert!(
            end < doc.len() || prog.is_some(),
            "{:?} {diags:?}",
            p.diagnostics
        );
        let Some(prog) = prog else { continue };
        if !prog.has_sequence("s") || !p.is_ok() {
            continue;
        }
        compiled += 1;
        let e = Engine {
            configurables: std::sync::Arc::new(crate::NoConfigurables),
            program: Arc::new(prog),
            invoker: Arc::new(NoNet),
            registry: Arc::new(synaptic_registry::MemoryRegistry::new()),
            clock: Arc::new(FixedClock(0)),
            state: Arc::new(crate::MemoryState::default()),
            db: std::sync::Arc::new(crate::NoDatabase),
            limits: Limits::default(),
        };
        for (ct, body) in bodies {
            let mut h = http::HeaderMap::new();
            h.insert(http::header::CONTENT_TYPE, ct.parse().unwrap());
            let mut ctx =
                MessageContext::from_request(http::Method::POST, "/x", h, Bytes::from(body), None);
            let _ = rt.block_on(e.mediate("s", None, &mut ctx));
            let _ = ctx.body_bytes();
        }
    }
    assert!(compiled > 0, "the whole document must compile");
}

/// The names of `dir`'s modules (`mod.rs` aside), sorted.
fn module_files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".rs").map(str::to_string))
        .filter(|n| n != "mod")
        .collect();
    names.sort();
    names
}

/// The variant names of `enum <name>` in a source text, lower case without underscores.
fn enum_variants(src: &str, name: &str) -> Vec<String> {
    let start = src
        .find(&format!("enum {name} {{"))
        .unwrap_or_else(|| panic!("no enum {name}"));
    let body = &src[start..];
    let body = &body[body.find('{').unwrap() + 1..body.find("\n}").unwrap()];
    let mut out: Vec<String> = body
        .lines()
        .filter(|l| l.starts_with("    ") && !l.starts_with("     "))
        .map(str::trim)
        .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
        .map(|l| {
            l.split(|c: char| !c.is_ascii_alphanumeric())
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase()
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_mediator_has_one_module_per_crate_and_one_variant() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let engine_dir = root.join("src/mediators");
    let syntax_dir = root.join("../syntax/src/mediators");
    let engine = module_files(&engine_dir);
    let syntax = module_files(&syntax_dir);
    assert_eq!(
        engine, syntax,
        "crates/engine/src/mediators and crates/syntax/src/mediators hold the same modules"
    );
    for (dir, names) in [(&engine_dir, &engine), (&syntax_dir, &syntax)] {
        let mod_rs = std::fs::read_to_string(dir.join("mod.rs")).unwrap();
        for n in names.iter() {
            assert!(
                mod_rs.contains(&format!("\nmod {n};")),
                "{}/mod.rs declares `mod {n};`",
                dir.display()
            );
        }
    }
    let squash = |names: &[String]| -> Vec<String> {
        let mut v: Vec<String> = names.iter().map(|n| n.replace('_', "")).collect();
        v.sort();
        v
    };
    let ops = std::fs::read_to_string(engine_dir.join("mod.rs")).unwrap();
    assert_eq!(
        enum_variants(&ops, "Op"),
        squash(&engine),
        "one `Op` variant per engine mediator module"
    );
    let ast = std::fs::read_to_string(root.join("../syntax/src/ast.rs")).unwrap();
    let kinds: Vec<String> = enum_variants(&ast, "MediatorKind")
        .into_iter()
        .filter(|k| k != "unsupported")
        .map(|k| {
            if k == "sequenceref" {
                "sequence".into()
            } else {
                k
            }
        })
        .collect();
    let mut kinds = kinds;
    kinds.sort();
    assert_eq!(
        kinds,
        squash(&syntax),
        "one `MediatorKind` variant per syntax mediator module"
    );
}

/// Answers every request with a fixed SOAP body (a fault when asked) and counts the requests.
#[derive(Default)]
pub(crate) struct Answer {
    pub(crate) body: &'static str,
    pub(crate) seen: Mutex<Vec<String>>,
    /// The Content-Type of each request, in order.
    pub(crate) content_types: Mutex<Vec<Option<String>>>,
}

#[async_trait]
impl Invoker for Answer {
    async fn invoke(&self, req: OutboundRequest) -> Result<InboundResponse, InvokeError> {
        self.seen.lock().unwrap().push(req.url);
        let ct = req.headers.get(http::header::CONTENT_TYPE);
        let ct = ct.and_then(|v| v.to_str().ok()).map(str::to_string);
        self.content_types.lock().unwrap().push(ct);
        let mut headers = http::HeaderMap::new();
        headers.insert("content-type", "text/xml".parse().unwrap());
        Ok(InboundResponse {
            status: 200,
            headers,
            body: Bytes::from_static(self.body.as_bytes()),
        })
    }
}

fn soap_request(header: &str, body: &str) -> MessageContext {
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", "text/xml".parse().unwrap());
    let env = format!(
        r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header>{header}</s:Header><s:Body>{body}</s:Body></s:Envelope>"#
    );
    MessageContext::from_request(http::Method::POST, "/", headers, Bytes::from(env), None)
}

const FLOWS: &str = r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
    <proxy name="p"><target>
        <inSequence><send><endpoint><address uri="http://backend.test/q"/></endpoint></send></inSequence>
        <outSequence><property name="out" value="ran"/><send/></outSequence>
    </target></proxy>
    <proxy name="loop"><target>
        <inSequence><loopback/></inSequence>
        <outSequence><property name="out" value="ran"/></outSequence>
    </target></proxy>
    <proxy name="answer"><target>
        <inSequence><respond/></inSequence>
        <outSequence><property name="out" value="ran"/></outSequence>
    </target></proxy>
    <proxy name="recv"><target>
        <inSequence><send receive="r"><endpoint><address uri="http://backend.test/q"/></endpoint></send></inSequence>
        <outSequence><property name="out" value="ran"/></outSequence>
    </target></proxy>
    <sequence name="r"><property name="receive" value="ran"/></sequence>
</definitions>"#;

#[test]
fn a_send_or_loopback_continues_in_the_out_sequence() {
    let mut e = engine(FLOWS);
    let answer = Arc::new(Answer {
        body: r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><r/></s:Body></s:Envelope>"#,
        ..Answer::default()
    });
    e.invoker = answer.clone();
    let rt = crate::test_support::rt();
    let out_of = |e: &Engine, inseq: &str| -> (Flow, Option<String>, Option<String>) {
        let mut ctx = soap_request("", "<q/>");
        let out = e.program.out_flow_of(inseq);
        let flow = rt
            .block_on(e.mediate_flow(inseq, out, None, &mut ctx))
            .unwrap();
        let props = ctx.scope_strings(Scope::Default);
        (
            flow,
            props.get("out").cloned(),
            props.get("receive").cloned(),
        )
    };
    assert_eq!(
        e.program.out_flow_of("proxy:p/inSequence"),
        Some("proxy:p/outSequence")
    );
    let ran = Some("ran".to_string());
    assert_eq!(
        out_of(&e, "proxy:p/inSequence"),
        (Flow::Respond, ran.clone(), None)
    );
    assert_eq!(answer.seen.lock().unwrap().len(), 1);
    // an out-sequence that ends without <send/> still answers with its message
    assert_eq!(
        out_of(&e, "proxy:loop/inSequence"),
        (Flow::Respond, ran.clone(), None)
    );
    assert_eq!(
        out_of(&e, "proxy:answer/inSequence"),
        (Flow::Respond, None, None)
    );
    assert_eq!(
        out_of(&e, "proxy:recv/inSequence"),
        (Flow::Respond, None, ran)
    );
    // without an out-sequence, mediate_flow is mediate
    let mut ctx = soap_request("", "<q/>");
    let flow = rt
        .block_on(e.mediate_flow("proxy:p/inSequence", None, None, &mut ctx))
        .unwrap();
    assert_eq!(flow, Flow::Respond);
    assert!(!ctx.scope_strings(Scope::Default).contains_key("out"));
}

#[test]
fn force_error_on_soap_fault_fails_the_send() {
    let mut e = engine(
        r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="s">
            <property name="FORCE_ERROR_ON_SOAP_FAULT" value="true"/>
            <call><endpoint><address uri="http://backend.test/q"/></endpoint></call>
        </sequence>"#,
    );
    e.invoker = Arc::new(Answer {
        body: r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Server</faultcode><faultstring>no</faultstring></s:Fault></s:Body></s:Envelope>"#,
        ..Answer::default()
    });
    let rt = crate::test_support::rt();
    let mut ctx = soap_request("", "<q/>");
    let err = rt.block_on(e.mediate("s", None, &mut ctx)).unwrap_err();
    assert_eq!(err.code, error_codes::ENDPOINT_CUSTOM_ERROR);
    assert_eq!(err.origin, Origin::Upstream);
}

#[test]
fn inbound_ws_addressing_is_read_but_a_client_to_is_never_followed() {
    let mut e = engine(
        r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
            <sequence name="s">
                <property name="to" expression="get-property('To')"/>
                <property name="action" expression="get-property('Action')"/>
                <property name="reply" expression="get-property('ReplyTo')"/>
                <send/>
            </sequence>
            <sequence name="d">
                <property name="body" expression="$body/*"/>
                <call><endpoint><default/></endpoint></call>
            </sequence>
            <sequence name="f">
                <property name="body" expression="$body/*"/>
                <makefault version="soap11">
                    <code xmlns:soap11Env="http://schemas.xmlsoap.org/soap/envelope/" value="soap11Env:Server"/>
                    <reason value="refused"/>
                </makefault>
                <send/>
            </sequence>
            <sequence name="h">
                <property name="body" expression="$body/*"/>
                <header name="To" value="http://configured.test/q"/>
                <send/>
            </sequence>
        </definitions>"#,
    );
    let answer = Arc::new(Answer {
        body: r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><r/></s:Body></s:Envelope>"#,
        ..Answer::default()
    });
    e.invoker = answer.clone();
    let wsa = r#"<wsa:To xmlns:wsa="http://www.w3.org/2005/08/addressing">http://internal.test/admin</wsa:To><wsa:Action xmlns:wsa="http://www.w3.org/2005/08/addressing">urn:getQuote</wsa:Action><wsa:ReplyTo xmlns:wsa="http://www.w3.org/2005/08/addressing"><wsa:Address>http://www.w3.org/2005/08/addressing/anonymous</wsa:Address></wsa:ReplyTo>"#;
    let rt = crate::test_support::rt();
    // get-property('To') alone builds the SOAP request to read its headers
    let mut ctx = soap_request(wsa, "<q/>");
    let flow = rt.block_on(e.mediate("s", None, &mut ctx)).unwrap();
    let props = ctx.scope_strings(Scope::Default);
    assert_eq!(
        props.get("to").map(String::as_str),
        Some("http://internal.test/admin")
    );
    assert_eq!(
        props.get("action").map(String::as_str),
        Some("urn:getQuote")
    );
    assert_eq!(
        props.get("reply").map(String::as_str),
        Some("http://www.w3.org/2005/08/addressing/anonymous")
    );
    // the bare <send/> hands the message on instead of sending it where the client said
    assert_eq!(flow, Flow::Continue);
    // <default/> does not go there either
    let mut ctx = soap_request(wsa, "<q/>");
    let err = rt.block_on(e.mediate("d", None, &mut ctx)).unwrap_err();
    assert_eq!(err.code, error_codes::ENDPOINT_NOT_READY);
    // nor a fault addressed to the client's ReplyTo
    let mut ctx = soap_request(wsa, "<q/>");
    let flow = rt.block_on(e.mediate("f", None, &mut ctx)).unwrap();
    assert_eq!(flow, Flow::Continue);
    assert!(answer.seen.lock().unwrap().is_empty());
    // an address the configuration sets is followed
    let mut ctx = soap_request(wsa, "<q/>");
    let flow = rt.block_on(e.mediate("h", None, &mut ctx)).unwrap();
    assert_eq!(flow, Flow::Respond);
    assert_eq!(
        *answer.seen.lock().unwrap(),
        vec!["http://configured.test/q".to_string()]
    );
}

#[test]
fn a_form_sent_on_names_the_messages_soap_action_in_its_content_type() {
    let mut e = engine(
        r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="s">
            <property name="messageType" value="application/x-www-form-urlencoded" scope="axis2"/>
            <call><endpoint><address uri="http://backend.test/form"/></endpoint></call>
        </sequence>"#,
    );
    let answer = Arc::new(Answer {
        body: "<r/>",
        ..Answer::default()
    });
    e.invoker = answer.clone();
    let rt = crate::test_support::rt();
    let send = |action: Option<&str>| {
        let mut ctx = soap_request("", "<q><a>1 2</a></q>");
        if let Some(a) = action {
            ctx.headers.insert("soapaction", a.parse().unwrap());
        }
        rt.block_on(e.mediate("s", None, &mut ctx)).unwrap();
    };
    send(Some("\"urn:order\""));
    send(None);
    send(Some("\"\""));
    assert_eq!(
        *answer.content_types.lock().unwrap(),
        vec![
            Some("application/x-www-form-urlencoded; charset=UTF-8;action=\"urn:order\";".into()),
            Some("application/x-www-form-urlencoded; charset=UTF-8".into()),
            Some("application/x-www-form-urlencoded; charset=UTF-8".into()),
        ]
    );
}

#[tokio::test]
async fn validate_recompiles_a_changed_registry_schema() {
    use synaptic_registry::Registry as _;
    let mut e = engine(
        r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="s">
            <validate>
                <schema key="conf:/s.json"/>
                <on-fail><property name="failed" expression="get-property('ERROR_DETAIL')"/></on-fail>
            </validate>
        </sequence>"#,
    );
    let reg = Arc::new(synaptic_registry::MemoryRegistry::new());
    e.registry = reg.clone();
    let run = |e: Engine, body: &'static str| async move {
        let mut headers = http::HeaderMap::new();
        headers.insert("content-type", "application/json".parse().unwrap());
        let mut ctx = MessageContext::from_request(
            http::Method::POST,
            "/x",
            headers,
            Bytes::from_static(body.as_bytes()),
            None,
        );
        let r = e.mediate("s", None, &mut ctx).await;
        (r, ctx.properties.default.get("failed").cloned())
    };
    // no schema: a fault naming the key
    let (r, _) = run(e.clone(), r#"{"n":1}"#).await;
    assert!(r.unwrap_err().message.contains("conf:/s.json"));
    reg.put("conf:/s.json", r#"{"properties":{"n":{"type":"integer"}}}"#)
        .await
        .unwrap();
    let (r, failed) = run(e.clone(), r#"{"n":1}"#).await;
    assert_eq!(r.unwrap(), Flow::Continue);
    assert_eq!(failed, None);
    let (_, failed) = run(e.clone(), r#"{"n":"one"}"#).await;
    let detail = failed.unwrap().to_synapse_string().unwrap();
    assert!(
        detail.starts_with("Error while validating Json message ") && detail.contains("/n"),
        "{detail}"
    );
    // the resource changes: the cached validator is replaced
    reg.put("conf:/s.json", r#"{"properties":{"n":{"type":"string"}}}"#)
        .await
        .unwrap();
    let (_, failed) = run(e.clone(), r#"{"n":"one"}"#).await;
    assert_eq!(failed, None);
    let (_, failed) = run(e, r#"{"n":1}"#).await;
    assert!(failed.is_some());
}

// ===== <rewrite>: Synapse's URLRewriteMediatorTest, translated =====

const TARGET: &str = "http://localhost:9000/services/SimpleStockQuoteService";

async fn rewrite_run(body: &str, to: Option<&str>, props: &[(&str, Value)]) -> MessageContext {
    let xml = format!(
        "<sequence xmlns=\"http://ws.apache.org/ns/synapse\" name=\"main\">{body}</sequence>"
    );
    let e = engine(&xml);
    let mut ctx = MessageContext::from_request(
        http::Method::POST,
        "/",
        http::HeaderMap::new(),
        bytes::Bytes::new(),
        None,
    );
    if let Some(t) = to {
        ctx.st.addressing.insert("To".into(), t.into());
    }
    for (k, v) in props {
        ctx.properties.default.insert(k.to_string(), v.clone());
    }
    e.mediate("main", None, &mut ctx).await.expect("mediates");
    ctx
}

fn out_url(ctx: &MessageContext) -> Option<String> {
    match ctx.properties.default.get("outURL") {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    }
}

#[tokio::test]
async fn rewrite_unconditional_scenarios() {
    // 1: the whole URL set, into the To address
    let ctx = rewrite_run(
        &format!("<rewrite><rewriterule><action value=\"{TARGET}\"/></rewriterule></rewrite>"),
        None,
        &[],
    )
    .await;
    assert_eq!(
        ctx.st.addressing.get("To").map(String::as_str),
        Some(TARGET)
    );
    // 2: into a property
    let ctx = rewrite_run(
        &format!("<rewrite outProperty=\"outURL\"><rewriterule><action value=\"{TARGET}\"/></rewriterule></rewrite>"),
        None,
        &[],
    )
    .await;
    assert_eq!(out_url(&ctx).as_deref(), Some(TARGET));
    // 3: a path and a port from an expression on top of the To address
    let ctx = rewrite_run(
        "<rewrite outProperty=\"outURL\"><rewriterule><action value=\"/services/SimpleStockQuoteService\" fragment=\"path\"/><action xpath=\"get-property('port')\" fragment=\"port\"/></rewriterule></rewrite>",
        Some("http://localhost:8280"),
        &[("port", Value::Integer(9000))],
    )
    .await;
    assert_eq!(out_url(&ctx).as_deref(), Some(TARGET));
}

#[tokio::test]
async fn rewrite_conditional_scenarios() {
    // the port of the URL decides
    let ctx = rewrite_run(
        &format!("<rewrite outProperty=\"outURL\"><rewriterule><condition><equal type=\"url\" source=\"port\" value=\"8280\"/></condition><action value=\"{TARGET}\"/></rewriterule></rewrite>"),
        Some("http://localhost:8280"),
        &[],
    )
    .await;
    assert_eq!(out_url(&ctx).as_deref(), Some(TARGET));
    // a host that does not match skips the first rule; a path match runs the second
    let ctx = rewrite_run(
        "<rewrite outProperty=\"outURL\"><rewriterule><condition><equal type=\"url\" source=\"host\" value=\"myhost\"/></condition><action value=\"localhost\" fragment=\"host\"/></rewriterule><rewriterule><condition><match type=\"url\" source=\"path\" regex=\".*/MyService\"/></condition><action value=\"/services/SimpleStockQuoteService\" fragment=\"path\"/><action xpath=\"get-property('port')\" fragment=\"port\"/></rewriterule></rewrite>",
        Some("http://myhost:8280/MyService"),
        &[("port", Value::Integer(9000))],
    )
    .await;
    assert_eq!(out_url(&ctx).as_deref(), Some(TARGET));
    // an unmet condition leaves the URL as it was
    let ctx = rewrite_run(
        &format!("<rewrite outProperty=\"outURL\"><rewriterule><condition><equal type=\"url\" source=\"port\" value=\"8281\"/></condition><action value=\"{TARGET}\"/></rewriterule></rewrite>"),
        Some("http://localhost:8280"),
        &[],
    )
    .await;
    assert_eq!(out_url(&ctx).as_deref(), Some("http://localhost:8280"));
}

#[tokio::test]
async fn rewrite_full_scenario_with_and_not_and_property() {
    let ctx = rewrite_run(
        r#"<rewrite>
    <rewriterule>
        <condition><and>
            <equal type="url" source="protocol" value="http"/>
            <equal type="url" source="host" value="test.org"/>
        </and></condition>
        <action value="https" fragment="protocol"/>
        <action value="test.com" fragment="host"/>
        <action value="9443" fragment="port"/>
    </rewriterule>
    <rewriterule>
        <condition><not><match type="url" source="path" regex="/services/.*"/></not></condition>
        <action value="/services" type="prepend" fragment="path"/>
    </rewriterule>
    <rewriterule>
        <condition><and>
           <match type="url" source="path" regex=".*/MyService"/>
           <equal type="property" source="prop1" value="value1"/>
        </and></condition>
        <action fragment="path" value="StockQuoteService" regex="MyService" type="replace"/>
        <action fragment="ref" value="id"/>
    </rewriterule>
</rewrite>"#,
        Some("http://test.org:9763/MyService"),
        &[("prop1", Value::String("value1".into()))],
    )
    .await;
    assert_eq!(
        ctx.st.addressing.get("To").map(String::as_str),
        Some("https://test.com:9443/services/StockQuoteService#id")
    );
}

#[tokio::test]
async fn rewrite_query_parameters_and_resolved_path_parameters() {
    let base = "https://test.com:9443/services/StockQuoteService";
    let case = |action: &str, start: &str| {
        format!("<rewrite outProperty=\"outURL\"><rewriterule><action value=\"{start}\"/></rewriterule><rewriterule>{action}</rewriterule></rewrite>")
    };
    let ctx = rewrite_run(
        &case(
            "<action type=\"append\" fragment=\"query\" value=\"price=10\"/>",
            &format!("{base}?symbol=IBM"),
        ),
        None,
        &[],
    )
    .await;
    assert_eq!(
        out_url(&ctx),
        Some(format!("{base}?symbol=IBM&amp;price=10").replace("&amp;", "&"))
    );
    let ctx = rewrite_run(
        &case(
            "<action type=\"prepend\" fragment=\"query\" value=\"price=10\"/>",
            &format!("{base}?symbol=IBM"),
        ),
        None,
        &[],
    )
    .await;
    assert_eq!(out_url(&ctx), Some(format!("{base}?price=10&symbol=IBM")));
    let ctx = rewrite_run(
        &case(
            "<action type=\"remove-query-param\" fragment=\"query\" value=\"price\"/>",
            &format!("{base}?symbol=IBM&amp;price=10"),
        ),
        None,
        &[],
    )
    .await;
    assert_eq!(out_url(&ctx), Some(format!("{base}?symbol=IBM")));
    let ctx = rewrite_run(
        &case(
            "<action type=\"set\" fragment=\"path\" resolve=\"true\" value=\"/services/StockQuoteService/{uri.var.symbol}\"/>",
            base,
        ),
        None,
        &[("uri.var.symbol", Value::String("IBM".into()))],
    )
    .await;
    assert_eq!(out_url(&ctx), Some(format!("{base}/IBM")));
}

#[test]
fn rewrite_mistakes_are_diagnostics() {
    let xml = "<sequence xmlns=\"http://ws.apache.org/ns/synapse\" name=\"s\"><rewrite><rewriterule><action type=\"replace\" fragment=\"paht\" value=\"x\"/><action type=\"remove-query-param\" fragment=\"path\" value=\"p\"/></rewriterule><rewriterule><condition><equals source=\"a\" value=\"b\"/></condition></rewriterule></rewrite></sequence>";
    let p = synaptic_syntax::parse_artifact(SourceId(0), xml);
    let msgs: Vec<String> = p
        .diagnostics
        .iter()
        .map(|d| format!("{} {}", d.code.id, d.message))
        .collect();
    let has = |s: &str| msgs.iter().any(|m| m.contains(s));
    assert!(has("E0106 fragment=\"paht\""), "{msgs:?}");
    assert!(
        has("E0105 <action type=\"replace\"> needs `regex`"),
        "{msgs:?}"
    );
    assert!(has("E0116"), "{msgs:?}");
    assert!(has("E0103 unknown evaluator <equals>"), "{msgs:?}");
    assert!(
        has("E0114 <rewriterule> needs at least one <action>"),
        "{msgs:?}"
    );
}

/// Sequence templates: each call passes its own parameters (Synapse's sample 750 calls one
/// template from the in- and the out-sequence with different values), defaults fill what is
/// not passed, a nested call sees only its own, and the caller sees none after the call.
#[test]
fn call_template_passes_parameters_each_call_its_own() {
    let e = engine(
        r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
            <template name="tag">
              <parameter name="key"/>
              <parameter name="suffix" defaultValue="-d" isMandatory="false"/>
              <sequence>
                <property name="{$func:key}" expression="concat($func:key, get-property('func', 'suffix'))"/>
                <property name="last" expression="$func:key"/>
                <property name="syn" expression="${params.functionParams.suffix}"/>
              </sequence>
            </template>
            <template name="outer">
              <parameter name="key" isMandatory="true"/>
              <sequence>
                <call-template target="tag">
                  <with-param name="key" value="{concat('in-', $func:key)}"/>
                  <with-param name="suffix" value="!"/>
                </call-template>
                <property name="after-inner" expression="$func:key"/>
              </sequence>
            </template>
            <sequence name="s">
              <property name="k" value="b"/>
              <call-template target="tag"><with-param name="key" value="a"/></call-template>
              <call-template target="tag">
                <with-param name="key" value="{get-property('k')}"/>
                <with-param name="suffix" value="-x"/>
              </call-template>
              <call-template target="outer"><with-param name="key" value="o"/></call-template>
              <property name="after" expression="get-property('func', 'key')"/>
            </sequence>
        </definitions>"#,
    );
    let rt = crate::test_support::rt();
    let mut ctx = MessageContext::from_request(
        http::Method::POST,
        "/x",
        http::HeaderMap::new(),
        Bytes::new(),
        None,
    );
    rt.block_on(e.mediate("s", None, &mut ctx)).unwrap();
    let p = ctx.scope_strings(Scope::Default);
    assert_eq!(p.get("a").map(String::as_str), Some("a-d"));
    assert_eq!(p.get("b").map(String::as_str), Some("b-x"));
    assert_eq!(p.get("in-o").map(String::as_str), Some("in-o!"));
    assert_eq!(p.get("last").map(String::as_str), Some("in-o"));
    assert_eq!(p.get("syn").map(String::as_str), Some("!"));
    assert_eq!(p.get("after-inner").map(String::as_str), Some("o"));
    assert!(p.get("after").is_none_or(|v| v.is_empty()), "{p:?}");
}

#[test]
fn call_template_mistakes_are_reported_where_written() {
    let xml = r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
        <template name="t"><parameter name="x" isMandatory="true"/><sequence><log/></sequence></template>
        <sequence name="s">
          <call-template target="t"><with-param name="y" value="1"/></call-template>
          <call-template target="missing"/>
        </sequence></definitions>"#;
    let p = synaptic_syntax::parse_artifact(SourceId(0), xml);
    assert!(p.is_ok(), "{:?}", p.diagnostics);
    let (prog, diags) = compile(std::slice::from_ref(&p.tree), &CompileOptions::default());
    assert!(prog.is_none());
    let codes: Vec<&str> = diags.iter().map(|d| d.code.id).collect();
    assert_eq!(codes, ["E0341", "W0341", "W0343"], "{diags:?}");
}

/// Mediators nested as deep as the parser allows are parsed and compiled on a thread with a
/// small stack: both grow their stack on the heap instead of overflowing it.
#[test]
fn mediators_nested_to_the_depth_limit_compile_on_a_small_stack() {
    // each level is two elements deep (`<filter>`, `<then>`)
    let depth = synaptic_syntax::MAX_DEPTH / 2 - 2;
    let mut text = String::from(r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="s">"#);
    for _ in 0..depth {
        text.push_str(r#"<filter xpath="true()"><then>"#);
    }
    text.push_str(r#"<property name="deep" value="yes"/>"#);
    for _ in 0..depth {
        text.push_str("</then></filter>");
    }
    text.push_str("</sequence>");
    let compiled = std::thread::Builder::new()
        .stack_size(128 * 1024)
        .spawn(move || {
            let p = synaptic_syntax::parse_artifact(SourceId(0), &text);
            let (prog, diags) = compile(std::slice::from_ref(&p.tree), &CompileOptions::default());
            let codes: Vec<&str> = p
                .diagnostics
                .iter()
                .chain(&diags)
                .map(|d| d.code.id)
                .collect();
            (prog.is_some(), codes)
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(compiled, (true, vec![]));
}

// ===== store mediator, message stores and processors =====

const STORE_DEFS: &str = r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
  <messageStore name="S"><parameter name="max.messages">2</parameter></messageStore>
  <sequence name="mark"><property name="marked" value="yes"/></sequence>
  <sequence name="main">
    <property name="before" value="1"/>
    <store messageStore="S"/>
    <property name="after" value="2"/>
  </sequence>
  <sequence name="withSeq"><store messageStore="S" sequence="mark"/></sequence>
</definitions>"#;

fn json_request(body: &str) -> MessageContext {
    let mut h = http::HeaderMap::new();
    h.insert("content-type", "application/json".parse().unwrap());
    h.insert("x-trace", "abc".parse().unwrap());
    MessageContext::from_request(
        http::Method::PUT,
        "/orders/7?x=1",
        h,
        Bytes::from(body.to_string()),
        Some("/orders"),
    )
}

#[tokio::test]
async fn store_keeps_a_copy_and_the_flow_goes_on() {
    let e = engine(STORE_DEFS);
    let mut ctx = json_request(r#"{"id":7}"#);
    assert_eq!(
        e.mediate("main", None, &mut ctx).await.unwrap(),
        Flow::Continue
    );
    // the flow went on after <store>
    assert!(ctx.properties.default.contains_key("after"));
    assert_eq!(e.state.queue_len("S").await.unwrap(), 1);
    let raw = e.state.queue_pop("S").await.unwrap().unwrap();
    let mut got = decode_stored_message(&raw).unwrap();
    assert_eq!(got.method, http::Method::PUT);
    assert_eq!(got.uri, "/orders/7?x=1");
    assert_eq!(got.headers.get("x-trace").unwrap(), "abc");
    let (body, ct) = got.body_bytes().unwrap();
    assert_eq!(&body[..], br#"{"id":7}"#);
    assert_eq!(ct.as_deref(), Some("application/json"));
    let props = got.scope_strings(Scope::Default);
    assert_eq!(props.get("before").map(String::as_str), Some("1"));
    // a copy as it was at the <store>
    assert!(!props.contains_key("after"));
    assert_eq!(
        got.scope_strings(Scope::Axis2)
            .get("REST_URL_POSTFIX")
            .map(String::as_str),
        Some("/7?x=1")
    );
}

#[tokio::test]
async fn store_runs_its_sequence_first_and_a_full_store_faults() {
    let e = engine(STORE_DEFS);
    let mut ctx = json_request("{}");
    e.mediate("withSeq", None, &mut ctx).await.unwrap();
    let raw = e.state.queue_peek("S").await.unwrap().unwrap();
    let got = decode_stored_message(&raw).unwrap();
    assert_eq!(
        got.scope_strings(Scope::Default)
            .get("marked")
            .map(String::as_str),
        Some("yes")
    );
    e.mediate("main", None, &mut json_request("{}"))
        .await
        .unwrap();
    // max.messages = 2: the third is refused
    let err = e
        .mediate("main", None, &mut json_request("{}"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::SharedState);
    assert!(
        err.message.contains("`S` is full (2 messages)"),
        "{}",
        err.message
    );
    assert_eq!(e.state.queue_len("S").await.unwrap(), 2);
}

const DYNAMIC_STORE_DEFS: &str = r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
  <messageStore name="A"><parameter name="max.messages">1</parameter></messageStore>
  <messageStore name="B"/>
  <sequence name="pick">
    <property name="marked" value="yes"/>
    <property name="to" value="B"/>
  </sequence>
  <sequence name="plain"><store messageStore="{$ctx:to}"/></sequence>
  <sequence name="withSeq"><store messageStore="{get-property('to')}" sequence="pick"/></sequence>
</definitions>"#;

#[tokio::test]
async fn a_store_named_by_an_expression_is_chosen_per_message() {
    let e = engine(DYNAMIC_STORE_DEFS);
    let to = |name: &str| {
        let mut ctx = json_request("{}");
        ctx.properties
            .default
            .insert("to", Value::String(name.into()));
        ctx
    };
    e.mediate("plain", None, &mut to("B")).await.unwrap();
    assert_eq!(e.state.queue_len("B").await.unwrap(), 1);
    assert_eq!(e.state.queue_len("A").await.unwrap(), 0);
    // the store is chosen before its sequence runs (which names another one here), as
    // Synapse looks it up first
    e.mediate("withSeq", None, &mut to("A")).await.unwrap();
    assert_eq!(e.state.queue_len("A").await.unwrap(), 1);
    let raw = e.state.queue_peek("A").await.unwrap().unwrap();
    let got = decode_stored_message(&raw).unwrap();
    assert_eq!(
        got.scope_strings(Scope::Default)
            .get("marked")
            .map(String::as_str),
        Some("yes")
    );
    // the chosen store's own bound applies
    let err = e.mediate("plain", None, &mut to("A")).await.unwrap_err();
    assert!(
        err.message.contains("`A` is full (1 messages)"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_name_no_store_has_faults_as_synapse_does_without_running_the_sequence() {
    let e = engine(DYNAMIC_STORE_DEFS);
    for name in ["C", ""] {
        let mut ctx = json_request("{}");
        if !name.is_empty() {
            ctx.properties
                .default
                .insert("to", Value::String(name.into()));
        }
        let err = e.mediate("withSeq", None, &mut ctx).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Fault);
        assert_eq!(err.message, "Message Store does not exist.");
        assert!(!ctx.properties.default.contains_key("marked"));
    }
    assert_eq!(e.state.queue_len("A").await.unwrap(), 0);
    assert_eq!(e.state.queue_len("B").await.unwrap(), 0);
}

#[test]
fn a_dynamic_store_name_is_an_xpath_compiled_when_loaded() {
    for (store, code) in [
        ("{get-property('to'}", Some("E0201")),
        ("{${vars.to}}", Some("E0201")),
        ("{}", Some("E0106")),
        ("{$ctx:to}", None),
    ] {
        let (prog, diags) = store_diags(&format!(
            r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
  <messageStore name="A"/>
  <sequence name="s"><store messageStore="{store}"/></sequence>
</definitions>"#
        ));
        let codes: Vec<&str> = diags
            .iter()
            .map(|d| &d[..5])
            .filter(|c| c.starts_with('E'))
            .collect();
        assert_eq!(
            codes,
            code.into_iter().collect::<Vec<_>>(),
            "{store}: {diags:?}"
        );
        if code.is_none() {
            assert!(prog.is_some(), "{store}");
        }
    }
}

fn store_diags(xml: &str) -> (Option<Program>, Vec<String>) {
    let p = synaptic_syntax::parse_artifact(SourceId(0), xml);
    let (prog, diags) = compile(std::slice::from_ref(&p.tree), &CompileOptions::default());
    let codes = p
        .diagnostics
        .iter()
        .chain(&diags)
        .map(|d| format!("{}: {}", d.code.id, d.message))
        .collect();
    (prog, codes)
}

#[test]
fn processors_compile_with_synapse_defaults() {
    let (prog, diags) = store_diags(
        r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
  <endpoint name="EP"><address uri="http://127.0.0.1:9/x"/></endpoint>
  <sequence name="reply"><log/></sequence>
  <messageStore name="S"/>
  <messageProcessor name="F" messageStore="S" targetEndpoint="EP"
      class="org.apache.synapse.message.processor.impl.forwarder.ScheduledMessageForwardingProcessor">
    <parameter name="message.processor.reply.sequence">reply</parameter>
    <parameter name="non.retry.status.codes">400, 404</parameter>
  </messageProcessor>
  <messageProcessor name="P" messageStore="S"
      class="org.apache.synapse.message.processor.impl.sampler.SamplingProcessor">
    <parameter name="sequence">reply</parameter>
    <parameter name="interval">250</parameter>
    <parameter name="concurrency">3</parameter>
  </messageProcessor>
</definitions>"#,
    );
    assert!(diags.is_empty(), "{diags:?}");
    let prog = prog.unwrap();
    assert_eq!(prog.message_stores()[0].max_messages, DEFAULT_MAX_MESSAGES);
    let ps = prog.message_processors();
    assert_eq!(ps.len(), 2);
    assert_eq!((ps[0].interval_ms, ps[0].active), (1000, true));
    let ProcessorKind::Forward(f) = &ps[0].kind else {
        panic!("a forwarder")
    };
    assert_eq!(f.endpoint.as_deref(), Some("EP"));
    assert_eq!(
        (f.retry_interval_ms, f.max_attempts, f.drop_on_max),
        (1000, Some(4), false)
    );
    assert_eq!(f.reply_sequence.as_deref(), Some("reply"));
    assert_eq!(f.non_retry_codes, [400, 404]);
    assert_eq!(
        ps[1].kind,
        ProcessorKind::Sample(SampleDef {
            sequence: "reply".into(),
            concurrency: 3
        })
    );
    assert_eq!(ps[1].interval_ms, 250);
}

/// `cronExpression` in Quartz's syntax: seconds first, `?`, `0/15` steps, days of the week
/// numbered from Sunday (1) as Quartz numbers them, an optional year.
#[test]
fn cron_expressions_read_as_quartz_reads_them() {
    use chrono::{Datelike, TimeZone, Timelike};
    let at = chrono::Utc
        .with_ymd_and_hms(2026, 3, 4, 10, 20, 30)
        .unwrap(); // a Wednesday
    let next = |e: &str| {
        crate::CronSchedule::parse(e)
            .unwrap_or_else(|err| panic!("{e}: {err}"))
            .next_after(&at)
            .unwrap()
    };
    assert_eq!(next("* * * * * ?"), at + chrono::Duration::seconds(1));
    assert_eq!(next("0/15 * * * * ?").second(), 45);
    assert_eq!(next("0 0 12 * * ?").hour(), 12);
    // 2 is Monday in Quartz
    let monday = next("0 0 12 ? * 2");
    assert_eq!(monday.weekday(), chrono::Weekday::Mon);
    assert_eq!(next("0 0 12 ? * MON"), monday);
    assert_eq!(next("0 0 0 1 1 ? 2030").year(), 2030);
    for bad in [
        "",
        "0 * * * ?",
        "61 * * * * ?",
        "* * * * * * * *",
        "every second",
    ] {
        assert!(crate::CronSchedule::parse(bad).is_err(), "{bad}");
    }
}

/// `message.processor.failMessagesStore` names a store of the program (else E0370 at the
/// value); with `max.delivery.drop` enabled it is never used (W0301), as Synapse drops first.
#[test]
fn fail_messages_store_is_resolved_and_drop_takes_precedence() {
    let xml = |params: &str| {
        format!(
            r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
  <endpoint name="E"><address uri="http://127.0.0.1:9/"/></endpoint>
  <messageStore name="S"/>
  <messageStore name="Failed"><parameter name="max.messages">7</parameter></messageStore>
  <messageProcessor name="F" messageStore="S" targetEndpoint="E"
      class="org.apache.synapse.message.processor.impl.forwarder.ScheduledMessageForwardingProcessor">
    {params}
  </messageProcessor>
</definitions>"#
        )
    };
    let (prog, diags) = store_diags(&xml(
        r#"<parameter name="message.processor.failMessagesStore">Failed</parameter>"#,
    ));
    assert!(diags.is_empty(), "{diags:#?}");
    let prog = prog.unwrap();
    let ProcessorKind::Forward(f) = &prog.message_processors()[0].kind else {
        panic!("a forwarder")
    };
    assert_eq!(
        f.fail_store,
        Some(crate::StoreDef {
            name: "Failed".into(),
            max_messages: 7
        })
    );
    let (prog, diags) = store_diags(&xml(
        r#"<parameter name="message.processor.failMessagesStore">Faild</parameter>"#,
    ));
    assert!(prog.is_none());
    assert!(
        diags.iter().any(|d| d.starts_with("E0370")
            && d.contains(
                "failMessagesStore: no message store named `Faild`; did you mean `Failed`?"
            )),
        "{diags:#?}"
    );
    let (prog, diags) = store_diags(&xml(
        r#"<parameter name="max.delivery.drop">Enabled</parameter>
    <parameter name="message.processor.failMessagesStore">Failed</parameter>"#,
    ));
    assert!(prog.is_some());
    assert!(
        diags
            .iter()
            .any(|d| d.starts_with("W0301") && d.contains("`Failed` is never used")),
        "{diags:#?}"
    );
}

/// A forwarder's `throttle`: true or false (anything else is E0371); `interval` is kept as
/// written, and the task fires at most once a second, as Synapse's task manager fires it.
#[test]
fn forwarder_throttle_is_true_or_false() {
    let xml = |throttle: &str, interval: &str| {
        format!(
            r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
  <endpoint name="E"><address uri="http://127.0.0.1:9/"/></endpoint>
  <messageStore name="S"/>
  <messageProcessor name="F" messageStore="S" targetEndpoint="E"
      class="org.apache.synapse.message.processor.impl.forwarder.ScheduledMessageForwardingProcessor">
    <parameter name="throttle">{throttle}</parameter>
    <parameter name="interval">{interval}</parameter>
  </messageProcessor>
</definitions>"#
        )
    };
    for (throttle, interval, expect, period) in [
        ("true", "200", true, 1000),
        ("TRUE", "200", true, 1000),
        ("false", "200", false, 1000),
        ("false", "5000", false, 5000),
    ] {
        let (prog, diags) = store_diags(&xml(throttle, interval));
        assert!(diags.is_empty(), "{diags:#?}");
        let prog = prog.unwrap();
        let p = &prog.message_processors()[0];
        let ProcessorKind::Forward(f) = &p.kind else {
            panic!("a forwarder")
        };
        assert_eq!(
            (f.throttle, p.firing_period_ms(), f.drain_pause_ms),
            (expect, period, None),
            "throttle={throttle} interval={interval}"
        );
        assert_eq!(p.interval_ms.to_string(), interval);
    }
    let (prog, diags) = store_diags(&xml("Enabled", "200"));
    assert!(prog.is_none());
    assert!(
        diags.iter().any(|d| d.starts_with("E0371")
            && d.contains("parameter `throttle` = `Enabled`: expected true or false")),
        "{diags:#?}"
    );
}

/// `member.count`, the store connection retries and `throttle.interval` (read, as Synapse's
/// forwarder reads it, only with `cron.expression`).
#[test]
fn members_store_retries_and_throttle_interval_are_read() {
    let xml = |kind: &str, params: &str| {
        let (class, extra, seq) = if kind == "forward" {
            (
                "org.apache.synapse.message.processor.impl.forwarder.ScheduledMessageForwardingProcessor",
                r#"targetEndpoint="E""#,
                "",
            )
        } else {
            (
                "org.apache.synapse.message.processor.impl.sampler.SamplingProcessor",
                "",
                r#"<parameter name="sequence">q</parameter>"#,
            )
        };
        format!(
            r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
  <endpoint name="E"><address uri="http://127.0.0.1:9/"/></endpoint>
  <sequence name="q"><log/></sequence>
  <messageStore name="S"/>
  <messageProcessor name="F" messageStore="S" {extra} class="{class}">
    {seq}
    {params}
  </messageProcessor>
</definitions>"#
        )
    };
    // defaults: one member, store connection attempts without end, one second apart
    let (prog, _) = store_diags(&xml("forward", ""));
    let prog = prog.unwrap();
    let p = &prog.message_processors()[0];
    assert_eq!(p.members, 1);
    assert_eq!(p.store_retry, crate::StoreRetry::default());
    assert_eq!(p.store_retry.attempts, None);
    assert_eq!(p.store_retry.interval_ms, 1000);
    for kind in ["forward", "sample"] {
        let (prog, diags) = store_diags(&xml(
            kind,
            r#"<parameter name="member.count">3</parameter>
    <parameter name="max.store.connection.attempts">5</parameter>
    <parameter name="store.connection.retry.interval">250</parameter>"#,
        ));
        let prog = prog.unwrap();
        let p = &prog.message_processors()[0];
        assert!(
            !diags
                .iter()
                .any(|d| d.starts_with('W') || d.starts_with('E')),
            "{kind}: {diags:#?}"
        );
        assert_eq!(p.members, 3);
        assert_eq!(
            p.store_retry,
            crate::StoreRetry {
                attempts: Some(5),
                interval_ms: 250
            }
        );
    }
    // a cron-driven forwarder that drains the store, pausing between messages
    let (prog, diags) = store_diags(&xml(
        "forward",
        r#"<parameter name="cronExpression">0/5 * * * * ?</parameter>
    <parameter name="cron.expression">yes</parameter>
    <parameter name="throttle.interval">20</parameter>"#,
    ));
    assert!(diags.is_empty(), "{diags:#?}");
    let prog = prog.unwrap();
    let ProcessorKind::Forward(f) = &prog.message_processors()[0].kind else {
        panic!("a forwarder")
    };
    assert_eq!(f.drain_pause_ms, Some(20));
    // each without the other does nothing (W0301); -1 is "not under a cron expression"
    for (params, warning) in [
        (
            r#"<parameter name="throttle.interval">20</parameter>"#,
            "`throttle.interval` is not read without the parameter `cron.expression`",
        ),
        (
            r#"<parameter name="cron.expression">x</parameter>"#,
            "`cron.expression` has no effect without `throttle.interval`",
        ),
    ] {
        let (prog, diags) = store_diags(&xml("forward", params));
        assert!(
            diags
                .iter()
                .any(|d| d.starts_with("W0301") && d.contains(warning)),
            "{diags:#?}"
        );
        let prog = prog.unwrap();
        let ProcessorKind::Forward(f) = &prog.message_processors()[0].kind else {
            panic!("a forwarder")
        };
        assert_eq!(f.drain_pause_ms, None);
    }
    let (prog, _) = store_diags(&xml(
        "forward",
        r#"<parameter name="cron.expression">x</parameter>
    <parameter name="throttle.interval">-1</parameter>"#,
    ));
    let prog = prog.unwrap();
    let ProcessorKind::Forward(f) = &prog.message_processors()[0].kind else {
        panic!("a forwarder")
    };
    assert_eq!(f.drain_pause_ms, None);
    // 0 attempts: Synapse's loop never reads the store (W0301); mistakes are E0371
    let (prog, diags) = store_diags(&xml(
        "sample",
        r#"<parameter name="max.store.connection.attempts">0</parameter>"#,
    ));
    assert_eq!(
        prog.unwrap().message_processors()[0].store_retry.attempts,
        Some(0)
    );
    assert!(
        diags
            .iter()
            .any(|d| d.starts_with("W0301") && d.contains("never reads its store")),
        "{diags:#?}"
    );
    for (params, error) in [
        (
            r#"<parameter name="member.count">0</parameter>"#,
            "`member.count` = `0`: expected a number greater than 0",
        ),
        (
            r#"<parameter name="member.count">65</parameter>"#,
            "at most 64 consumers",
        ),
        (
            r#"<parameter name="store.connection.retry.interval">-5</parameter>"#,
            "expected 0 or more milliseconds",
        ),
        (
            r#"<parameter name="max.store.connection.attempts">many</parameter>"#,
            "expected a whole number",
        ),
        (
            r#"<parameter name="cron.expression">x</parameter><parameter name="throttle.interval">soon</parameter>"#,
            "`throttle.interval` = `soon`",
        ),
    ] {
        let (prog, diags) = store_diags(&xml("forward", params));
        assert!(prog.is_none(), "{params}");
        assert!(
            diags
                .iter()
                .any(|d| d.starts_with("E0371") && d.contains(error)),
            "{params}: {diags:#?}"
        );
    }
}

#[test]
fn store_and_processor_mistakes_are_diagnostics() {
    let (prog, diags) = store_diags(
        r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
  <messageStore name="J" class="org.apache.synapse.message.store.impl.jms.JmsStore">
    <parameter name="store.jms.destination">q</parameter>
  </messageStore>
  <messageStore name="J"/>
  <messageStore name="M"><parameter name="colour">red</parameter></messageStore>
  <sequence name="main"><store messageStore="nope"/></sequence>
  <messageProcessor name="A" messageStore="gone" targetEndpoint="nowhere"
      class="org.apache.synapse.message.processor.impl.forwarder.ScheduledMessageForwardingProcessor">
    <parameter name="interval">soon</parameter>
    <parameter name="cronExpression">0 * * * ?</parameter>
    <parameter name="quartz.conf">q.properties</parameter>
    <parameter name="wibble">1</parameter>
  </messageProcessor>
  <messageProcessor name="R" messageStore="J"
      class="org.apache.synapse.message.processors.resequence.ResequencingProcessor"/>
  <messageProcessor name="P" messageStore="J"
      class="org.apache.synapse.message.processor.impl.sampler.SamplingProcessor"/>
</definitions>"#,
    );
    assert!(prog.is_none());
    let has = |code: &str, text: &str| {
        assert!(
            diags
                .iter()
                .any(|d| d.starts_with(code) && d.contains(text)),
            "{code} {text}: {diags:#?}"
        )
    };
    has("W0370", "served by synaptic's own store");
    has("E0374", "message store `J` is defined more than once");
    has("W0371", "unknown parameter `colour`");
    has("E0370", "no message store named `nope`");
    has("E0370", "no message store named `gone`");
    has("E0373", "`nowhere`, which is not a named endpoint");
    has("E0371", "parameter `interval` = `soon`");
    has(
        "E0375",
        "cronExpression `0 * * * ?` is not a Quartz cron expression",
    );
    has("W0372", "`quartz.conf`");
    has("W0371", "unknown parameter `wibble`");
    has("E0372", "ResequencingProcessor");
    has("E0373", "needs a `sequence` parameter");
    // the JMS store's own settings are not reported one by one
    assert!(
        !diags.iter().any(|d| d.contains("store.jms.destination")),
        "{diags:#?}"
    );
}

fn compile_xml(xml: &str, opts: &CompileOptions) -> (Option<Program>, Vec<Diagnostic>) {
    let p = synaptic_syntax::parse_artifact(SourceId(0), xml);
    assert!(p.is_ok(), "{:?}", p.diagnostics);
    compile(std::slice::from_ref(&p.tree), opts)
}

fn get_request() -> MessageContext {
    MessageContext::from_request(
        http::Method::GET,
        "/",
        http::HeaderMap::new(),
        Bytes::new(),
        None,
    )
}

#[test]
fn references_no_artifact_defines_warn_and_fault_as_synapse_does() {
    let xml = r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
        <sequence name="handler"><property name="handled" value="yes"/><respond/></sequence>
        <sequence name="s" onError="handler">
          <property name="before" value="1"/>
          <sequence key="later"/>
          <property name="after" value="1"/>
        </sequence>
        <sequence name="t" onError="gone"><call-template target="lib.tpl"/></sequence>
        <sequence name="u"><iterate expression="//a"><target sequence="each"/></iterate></sequence>
      </definitions>"#;
    let (prog, diags) = compile_xml(xml, &CompileOptions::default());
    let got: Vec<(&str, &str)> = diags
        .iter()
        .map(|d| (d.code.id, d.message.as_str()))
        .collect();
    assert!(diags.iter().all(|d| !d.is_error()), "{got:?}");
    let has = |code: &str, text: &str| got.iter().any(|(c, m)| *c == code && m.contains(text));
    assert!(has("W0304", "`later`"), "{got:?}");
    assert!(has("W0304", "`gone`"), "{got:?}");
    assert!(has("W0304", "`each`"), "{got:?}");
    assert!(has("W0343", "`lib.tpl`"), "{got:?}");
    let prog = prog.expect("deployed");
    // stand-ins are not sequences of the program
    assert!(!prog.has_sequence("later"));
    assert!(!prog.sequence_names().iter().any(|n| n == "each"));
    let e = engine(xml);
    let rt = crate::test_support::rt();
    // the fault is handled by the sequence's onError, with Synapse's message
    let mut ctx = get_request();
    let flow = rt.block_on(e.mediate("s", None, &mut ctx)).unwrap();
    assert_eq!(flow, Flow::Respond);
    let props = ctx.scope_strings(Scope::Default);
    assert_eq!(props.get("handled").map(String::as_str), Some("yes"));
    assert_eq!(props.get("before").map(String::as_str), Some("1"));
    assert!(!props.contains_key("after"), "{props:?}");
    assert_eq!(
        props.get("ERROR_MESSAGE").map(String::as_str),
        Some("Sequence named Value {name ='null', keyValue ='later'} cannot be found")
    );
    assert_eq!(props.get("ERROR_CODE").map(String::as_str), Some("0"));
    // an onError no artifact defines: no handler, the fault is the caller's
    let mut ctx = get_request();
    let err = rt.block_on(e.mediate("t", None, &mut ctx)).unwrap_err();
    assert_eq!(err.message, "Sequence template lib.tpl cannot be found");
    // an iterate target: each branch faults into the handler in force
    let mut ctx = soap_request("", "<r><a/></r>");
    let flow = rt.block_on(e.mediate("u", Some("handler"), &mut ctx));
    assert_eq!(flow.ok(), Some(Flow::Respond));
    assert_eq!(
        ctx.scope_strings(Scope::Default)
            .get("ERROR_MESSAGE")
            .map(String::as_str),
        Some("Couldn't find the sequence named : each")
    );
}

#[test]
fn references_to_a_left_out_artifact_stay_errors() {
    let xml = r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
        <sequence name="s" onError="broken"><sequence key="broken"/>
          <call-template target="brokenTpl"/></sequence>
      </definitions>"#;
    let opts = CompileOptions {
        unavailable: vec!["broken".into(), "brokenTpl".into()],
        ..CompileOptions::default()
    };
    let (prog, diags) = compile_xml(xml, &opts);
    assert!(prog.is_none());
    let codes: Vec<&str> = diags.iter().map(|d| d.code.id).collect();
    assert_eq!(codes, ["E0304", "E0304", "E0340"], "{diags:?}");
    assert!(diags[0].message.contains("has errors"), "{diags:?}");
}

#[test]
fn unresolved_flows_of_apis_and_proxies_fault_with_synapses_messages() {
    let xml = r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
        <api name="A" context="/a">
          <resource methods="GET" inSequence="apiIn" faultSequence="noFault"/>
        </api>
        <proxy name="P"><target inSequence="proxyIn"/></proxy>
        <proxy name="Q"><target inSequence="qIn"><endpoint><address uri="http://127.0.0.1:9/"/></endpoint></target></proxy>
        <sequence name="fault"><property name="in_fault" value="yes"/></sequence>
      </definitions>"#;
    let (prog, diags) = compile_xml(xml, &CompileOptions::default());
    let w: Vec<&str> = diags.iter().map(|d| d.code.id).collect();
    assert_eq!(w, ["W0304", "W0304", "W0304", "W0304"], "{diags:?}");
    assert!(prog.is_some());
    let e = engine(xml);
    let rt = crate::test_support::rt();
    for (flow, message) in [
        ("apiIn", "Specified sequence: apiIn cannot be found"),
        ("proxyIn", "Unable to find in-sequence : proxyIn"),
        ("proxy:Q/target", "Unable to find in-sequence : qIn"),
    ] {
        let mut ctx = get_request();
        let err = rt
            .block_on(e.mediate_flow(flow, None, Some("fault"), &mut ctx))
            .unwrap_err();
        assert_eq!(err.message, message);
        let props = ctx.scope_strings(Scope::Default);
        assert_eq!(props.get("in_fault").map(String::as_str), Some("yes"));
        assert_eq!(
            props.get("ERROR_MESSAGE").map(String::as_str),
            Some(message)
        );
    }
}

/// Records the URL of each request and answers 200.
#[derive(Default)]
struct Urls(Mutex<Vec<String>>);

#[async_trait]
impl Invoker for Urls {
    async fn invoke(&self, req: OutboundRequest) -> Result<InboundResponse, InvokeError> {
        self.0.lock().unwrap().push(req.url);
        Ok(InboundResponse {
            status: 200,
            headers: http::HeaderMap::new(),
            body: Bytes::new(),
        })
    }
}

#[test]
fn uri_template_variables_bind_as_synapses_http_endpoint_binds_them() {
    let xml = r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
        <sequence name="none"><call><endpoint><http method="get"
            uri-template="http://b.example/n/{invocation.uuid}-x"/></endpoint></call></sequence>
        <sequence name="some"><property name="uri.var.id" value="7"/>
          <property name="invocation.uuid" value="never"/>
          <call><endpoint><http method="get"
            uri-template="http://b.example/n/{uri.var.id}/{invocation.uuid}-x"/></endpoint></call></sequence>
      </definitions>"#;
    let (_, diags) = compile_xml(xml, &CompileOptions::default());
    let codes: Vec<&str> = diags.iter().map(|d| d.code.id).collect();
    assert_eq!(codes, ["W0305", "W0305"], "{diags:?}");
    let urls = Arc::new(Urls::default());
    let mut e = engine(xml);
    e.invoker = urls.clone();
    let rt = crate::test_support::rt();
    for s in ["none", "some"] {
        let mut ctx = get_request();
        rt.block_on(e.mediate(s, None, &mut ctx)).unwrap();
    }
    let got = urls.0.lock().unwrap().clone();
    // nothing to bind: the template as written; otherwise only `uri.var.*` binds
    assert_eq!(
        got,
        [
            "http://b.example/n/{invocation.uuid}-x",
            "http://b.example/n/7/-x"
        ]
    );
}

#[test]
fn names_jaxen_resolves_when_it_evaluates_fault_only_when_reached() {
    let xml = r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
        <sequence name="handler"><respond/></sequence>
        <sequence name="s" onError="handler">
          <property name="which" expression="get-property('w')"/>
          <filter source="get-property('w')" regex="bad">
            <then><property name="symbol" expression="fn:concatXXX()"/></then>
            <else><property name="symbol" value="fine"/></else>
          </filter>
        </sequence>
        <sequence name="v" onError="handler">
          <switch source="$bodym:Item" xmlns:m="urn:m"><case regex="x"><drop/></case></switch>
        </sequence>
      </definitions>"#;
    let (_, diags) = compile_xml(xml, &CompileOptions::default());
    let codes: Vec<&str> = diags.iter().map(|d| d.code.id).collect();
    assert!(
        codes.contains(&"W0204") && codes.contains(&"W0209"),
        "{diags:?}"
    );
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
    let e = engine(xml);
    let rt = crate::test_support::rt();
    // the branch that does not evaluate it runs as usual
    let mut ctx = get_request();
    ctx.properties
        .default
        .insert("w", Value::String("good".into()));
    assert_eq!(
        rt.block_on(e.mediate("s", None, &mut ctx)).unwrap(),
        Flow::Continue
    );
    assert_eq!(
        ctx.scope_strings(Scope::Default)
            .get("symbol")
            .map(String::as_str),
        Some("fine")
    );
    // the one that does faults with Synapse's message
    for (seq, w, text) in [("s", "bad", "fn:concatXXX()"), ("v", "", "$bodym:Item")] {
        let mut ctx = soap_request("", "<m:Item xmlns:m=\"urn:m\">x</m:Item>");
        ctx.properties.default.insert("w", Value::String(w.into()));
        assert_eq!(
            rt.block_on(e.mediate(seq, None, &mut ctx)).unwrap(),
            Flow::Respond
        );
        assert_eq!(
            ctx.scope_strings(Scope::Default)
                .get("ERROR_MESSAGE")
                .cloned(),
            Some(format!(
                "Evaluation of the XPath expression {text} resulted in an error"
            ))
        );
    }
}

/// Configurable values and secrets of a test host.
struct Values;

impl Configurables for Values {
    fn config(&self, name: &str) -> Option<String> {
        match name {
            "backend" => Some("http://orders:9000".into()),
            "port" => Some("8080".into()),
            _ => None,
        }
    }
    fn secret(&self, alias: &str) -> Option<String> {
        match alias {
            "db" => Some("db-pw".into()),
            "api" => Some("k\"1".into()),
            _ => None,
        }
    }
    fn env(&self, name: &str) -> Option<String> {
        match name {
            "REGION" => Some("eu-west".into()),
            "ORDERS_EP" => Some("http://env-orders:9001/o".into()),
            _ => None,
        }
    }
    fn file_property(&self, key: &str) -> Option<String> {
        (key == "ep_url").then(|| "http://file-orders:9002/f/{uri.var.id}".into())
    }
}

/// Records the URL of every request and fails it.
#[derive(Default)]
struct UrlRecorder(Mutex<Vec<String>>);

#[async_trait]
impl Invoker for UrlRecorder {
    async fn invoke(&self, r: OutboundRequest) -> Result<InboundResponse, InvokeError> {
        self.0.lock().unwrap().push(r.url.clone());
        Err(InvokeError::Connect("recorded".into()))
    }
}

/// Deploy-time parameters in endpoint addresses take the host's values when the artifacts
/// are compiled for serving; lint leaves them for deployment; one without a value is E0403.
#[test]
fn deploy_time_parameters_in_endpoints() {
    let xml = r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="s">
        <switch source="$ctx:which">
            <case regex="env"><call><endpoint><address uri="$SYSTEM:ORDERS_EP"/></endpoint></call></case>
            <case regex="cfg"><call><endpoint><address uri="${configs.backend}"/></endpoint></call></case>
            <case regex="file"><call><endpoint><http method="get" uri-template="$FILE:ep_url"/></endpoint></call></case>
        </switch>
    </sequence>"#;
    let p = synaptic_syntax::parse_artifact(SourceId(0), xml);
    let trees = std::slice::from_ref(&p.tree);
    // (W0201: `which` is set by the test, not by the sequence)
    let codes = |diags: &[Diagnostic]| {
        diags
            .iter()
            .map(|d| d.code.id)
            .filter(|c| *c != "W0201")
            .collect::<Vec<_>>()
    };
    // lint: nothing to resolve against, nothing reported
    let (prog, diags) = compile(trees, &CompileOptions::default());
    assert!(
        prog.is_some() && !diags.iter().any(|d| d.is_error()),
        "{diags:?}"
    );
    // serving
    let values: Arc<dyn Configurables> = Arc::new(Values);
    let opts = CompileOptions {
        deploy: Some(crate::DeployValues(values.clone())),
        ..Default::default()
    };
    let (prog, diags) = compile(trees, &opts);
    let prog = prog.unwrap_or_else(|| panic!("{diags:?}"));
    let rec = Arc::new(UrlRecorder::default());
    let mut e = engine(xml);
    e.program = Arc::new(prog);
    e.invoker = rec.clone();
    e.configurables = values;
    let rt = crate::test_support::rt();
    for which in ["env", "cfg", "file"] {
        let mut ctx = MessageContext::from_request(
            http::Method::GET,
            "/x",
            Default::default(),
            Bytes::new(),
            None,
        );
        ctx.properties
            .default
            .insert("which", Value::String(which.into()));
        ctx.properties
            .default
            .insert("uri.var.id", Value::String("42".into()));
        let _ = rt.block_on(e.mediate("s", None, &mut ctx));
    }
    assert_eq!(
        *rec.0.lock().unwrap(),
        // an address endpoint appends the request's path (`REST_URL_POSTFIX`), as Synapse does
        [
            "http://env-orders:9001/o/x",
            "http://orders:9000/x",
            "http://file-orders:9002/f/42"
        ]
    );
    // a parameter without a value: the artifact does not deploy, the span is the attribute's
    let missing = xml.replace("$SYSTEM:ORDERS_EP", "$SYSTEM:NOT_SET_ANYWHERE");
    let p = synaptic_syntax::parse_artifact(SourceId(0), &missing);
    let (prog, diags) = compile(std::slice::from_ref(&p.tree), &opts);
    assert!(prog.is_none());
    assert_eq!(codes(&diags), ["E0403"], "{diags:?}");
    let e0403 = diags.iter().find(|d| d.code.id == "E0403").unwrap();
    assert!(e0403.message.contains("NOT_SET_ANYWHERE"), "{diags:?}");
    let at = e0403.primary_span();
    assert_eq!(
        &missing[at.start as usize..at.end as usize],
        "$SYSTEM:NOT_SET_ANYWHERE"
    );
    // something after the parameter is dropped, with a warning
    let suffixed = xml.replace("$SYSTEM:ORDERS_EP", "$SYSTEM:ORDERS_EP/extra");
    let p = synaptic_syntax::parse_artifact(SourceId(0), &suffixed);
    let (prog, diags) = compile(std::slice::from_ref(&p.tree), &opts);
    assert!(prog.is_some());
    assert_eq!(codes(&diags), ["W0403"], "{diags:?}");
}

/// `get-property('env', …)` reads the host's environment, never the process's directly.
#[test]
fn env_scope_is_the_hosts() {
    let mut e = engine(
        r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="s">
            <property name="region" expression="get-property('env', 'REGION')"/>
            <property name="path" expression="get-property('env', 'PATH')"/>
        </sequence>"#,
    );
    let rt = crate::test_support::rt();
    let run = |e: &Engine| {
        let mut ctx = MessageContext::from_request(
            http::Method::GET,
            "/x",
            Default::default(),
            Bytes::new(),
            None,
        );
        rt.block_on(e.mediate("s", None, &mut ctx)).unwrap();
        let p = ctx.scope_strings(Scope::Default);
        (p.get("region").cloned(), p.get("path").cloned())
    };
    // a host that exposes no environment: empty, even for a variable the process has
    assert!(std::env::var_os("PATH").is_some());
    assert_eq!(run(&e), (Some(String::new()), Some(String::new())));
    e.configurables = Arc::new(Values);
    assert_eq!(run(&e), (Some("eu-west".into()), Some(String::new())));
}

#[test]
fn configs_and_secrets_come_from_the_host() {
    let mut e = engine(
        r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="s">
            <property name="pw" expression="wso2:vault-lookup('db')"/>
            <property name="none" expression="wso2:vault-lookup('nope')"/>
            <property name="url" expression="${configs.backend}"/>
            <property name="missing" expression="${configs.nope}"/>
            <payloadFactory media-type="json">
                <format>{"url":"$1","pw":"$2","key":"${wso2-vault('api')}","n":${configs.port + 1},"missing":"$3","none":"$4","novault":"${wso2-vault('nope')}"}</format>
                <args>
                    <arg expression="$ctx:url"/>
                    <arg expression="$ctx:pw"/>
                    <arg expression="$ctx:missing"/>
                    <arg expression="$ctx:none"/>
                </args>
            </payloadFactory>
        </sequence>"#,
    );
    let rt = crate::test_support::rt();
    let text = |e: &Engine| {
        let mut ctx = MessageContext::from_request(
            http::Method::GET,
            "/x",
            Default::default(),
            Bytes::new(),
            None,
        );
        rt.block_on(e.mediate("s", None, &mut ctx)).unwrap();
        let (body, _) = ctx.body_bytes().unwrap();
        String::from_utf8(body.to_vec()).unwrap()
    };
    let run = |e: &Engine| serde_json::from_str::<serde_json::Value>(&text(e)).unwrap();
    // without a host's values every configurable and secret reads as "" (a bare `${…}` too)
    let bare = text(&e);
    for part in [r#""url":"""#, r#""pw":"""#, r#""key":"""#, r#""n":,"#] {
        assert!(bare.contains(part), "{part} in {bare}");
    }
    e.configurables = Arc::new(Values);
    let v = run(&e);
    assert_eq!(v["url"], "http://orders:9000");
    assert_eq!(v["pw"], "db-pw");
    // escaped for JSON where it is quoted
    assert_eq!(v["key"], "k\"1");
    // a configurable that looks like a number is a number (MI's tryParseNumber)
    assert_eq!(v["n"], 8081);
    // MI: a configurable without a value fails the expression: the property gets no value
    assert_eq!(v["missing"], "");
    assert_eq!(v["none"], "");
    assert_eq!(v["novault"], "");
}

const DISPATCHED: &str = r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
    <proxy name="Stock"><target><inSequence>
        <property name="op" expression="get-property('OperationName')"/>
        <property name="t" expression="get-property('TRANSPORT_IN_NAME')"/>
        <property name="tc" expression="$ctx:TRANSPORT_IN_NAME"/>
        <respond/>
    </inSequence></target>
    <publishWSDL><wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
        xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:tns="urn:s" targetNamespace="urn:s">
      <wsdl:portType name="PT">
        <wsdl:operation name="getQuote"/><wsdl:operation name="placeOrder"/>
      </wsdl:portType>
      <wsdl:binding name="B" type="tns:PT">
        <wsdl:operation name="getQuote"><soap:operation soapAction="urn:getQuote"/></wsdl:operation>
        <wsdl:operation name="placeOrder"><soap:operation soapAction="urn:placeOrder"/></wsdl:operation>
      </wsdl:binding>
    </wsdl:definitions></publishWSDL></proxy>
    <proxy name="Plain"><target><inSequence>
        <property name="op" expression="get-property('OperationName')"/>
        <respond/>
    </inSequence></target></proxy>
    <sequence name="s">
        <property name="op" expression="get-property('OperationName')"/>
        <property name="t" expression="get-property('TRANSPORT_IN_NAME')"/>
    </sequence>
</definitions>"#;

/// `TRANSPORT_IN_NAME` and `OperationName`, as Synapse's transport and Axis2's dispatch set
/// them before a sequence runs: `mediate` for Synapse's own service and a proxy without a
/// WSDL, a published WSDL's operation by SOAP action or path.
#[test]
fn a_received_request_knows_its_transport_and_its_operation() {
    let e = engine(DISPATCHED);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let run = |seq: &str, service: Service<'_>, uri: &str, action: Option<&str>, tls: bool| {
        let mut headers = http::HeaderMap::new();
        headers.insert("content-type", "text/xml".parse().unwrap());
        if let Some(a) = action {
            headers.insert("soapaction", a.parse().unwrap());
        }
        let body = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><placeOrder/></s:Body></s:Envelope>"#;
        let mut ctx =
            MessageContext::from_request(http::Method::POST, uri, headers, Bytes::from(body), None);
        e.program
            .receive(&mut ctx, service, if tls { "https" } else { "http" });
        rt.block_on(e.mediate(seq, None, &mut ctx)).unwrap();
        ctx.scope_strings(Scope::Default)
    };
    let stock = "proxy:Stock/inSequence";
    let p = run(
        stock,
        Service::Proxy("Stock"),
        "/services/Stock",
        Some("\"urn:getQuote\""),
        true,
    );
    assert_eq!(p.get("op").map(String::as_str), Some("getQuote"));
    assert_eq!(p.get("t").map(String::as_str), Some("https"));
    assert_eq!(p.get("tc").map(String::as_str), Some("https"));
    let p = run(
        stock,
        Service::Proxy("Stock"),
        "/services/Stock/placeOrder",
        None,
        false,
    );
    assert_eq!(p.get("op").map(String::as_str), Some("placeOrder"));
    assert_eq!(p.get("t").map(String::as_str), Some("http"));
    // the body's first element does not choose (no envelope is built before dispatch)
    let p = run(
        stock,
        Service::Proxy("Stock"),
        "/services/Stock",
        Some("urn:x"),
        false,
    );
    assert_eq!(p.get("op").map(String::as_str), Some("mediate"));
    let p = run(
        "proxy:Plain/inSequence",
        Service::Proxy("Plain"),
        "/services/Plain/getQuote",
        Some("urn:getQuote"),
        false,
    );
    assert_eq!(p.get("op").map(String::as_str), Some("mediate"));
    let p = run(
        "s",
        Service::Synapse,
        "/api/getQuote",
        Some("urn:getQuote"),
        false,
    );
    assert_eq!(p.get("op").map(String::as_str), Some("mediate"));
    // a request nothing received (a message store's, a task's) has neither
    let mut ctx = crate::test_support::request("text/xml", "<a/>");
    rt.block_on(e.mediate("s", None, &mut ctx)).unwrap();
    let p = ctx.scope_strings(Scope::Default);
    assert_eq!((p.get("op"), p.get("t")), (None, None));
}

/// A JSONPath that `enrich` or `foreach` reads itself ends with a character Jayway never
/// reads: a warning at that character.
#[test]
fn an_unread_last_character_of_a_json_path_is_a_warning_at_it() {
    let xml = r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="s">
        <enrich><source type="property" property="p"/><target xpath="json-eval(a.b[0]c)"/></enrich>
        <foreach expression="json-eval($.items[0]])"><sequence><log/></sequence></foreach>
    </sequence>"#;
    let (prog, diags) = crate::test_support::compiled(xml);
    assert!(prog.is_some(), "{diags:?}");
    let w: Vec<(&str, String)> = diags
        .iter()
        .filter(|d| d.code.id == "W0210")
        .map(|d| {
            let s = d.primary_span();
            (d.code.id, xml[s.start as usize..s.end as usize].to_string())
        })
        .collect();
    assert_eq!(w, [("W0210", "c".to_string()), ("W0210", "]".to_string())]);
}
