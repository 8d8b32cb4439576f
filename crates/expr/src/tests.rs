//! Data-driven tests: compile + eval against an in-memory environment.

use std::collections::HashMap;

use synaptic_diag::Span;
use synaptic_payload::Payload;

use crate::{compile, eval, Dialect, ExprEnv, Scope, Value};

/// SYSTEM_TIME in the reference table (Synapse's results, and synaptic's where they differ).
const NOW: i64 = 1_700_003_600_001;

#[derive(Default)]
struct Env {
    props: HashMap<(Scope, String), Value>,
    registry: HashMap<String, String>,
    url: HashMap<String, String>,
    vars: HashMap<String, Value>,
    payload: Option<Payload>,
    raw_json: Option<String>,
    secrets: HashMap<String, String>,
}

impl Env {
    fn new() -> Self {
        Env::default()
    }
    fn prop(mut self, name: &str, v: Value) -> Self {
        self.props.insert((Scope::Default, name.into()), v);
        self
    }
    fn scoped(mut self, scope: Scope, name: &str, v: Value) -> Self {
        self.props.insert((scope, name.into()), v);
        self
    }
    fn var(mut self, name: &str, v: Value) -> Self {
        self.vars.insert(name.into(), v);
        self
    }
    fn reg(mut self, k: &str, v: &str) -> Self {
        self.registry.insert(k.into(), v.into());
        self
    }
    fn json(mut self, text: &str) -> Self {
        self.payload =
            Some(synaptic_payload::build(text.as_bytes(), Some("application/json")).unwrap());
        self.raw_json = Some(text.into());
        self
    }
    fn xml(mut self, text: &str) -> Self {
        self.payload = Some(synaptic_payload::build(text.as_bytes(), Some("text/xml")).unwrap());
        self
    }
}

static EMPTY: Payload = Payload::Empty;

impl ExprEnv for Env {
    fn property(&self, scope: Scope, name: &str) -> Option<Value> {
        self.props.get(&(scope, name.to_string())).cloned()
    }
    fn registry(&self, key: &str) -> Option<String> {
        self.registry.get(key).cloned()
    }
    fn payload(&self) -> &Payload {
        self.payload.as_ref().unwrap_or(&EMPTY)
    }
    fn raw_json(&self) -> Option<&str> {
        self.raw_json.as_deref()
    }
    fn url_param(&self, name: &str) -> Option<String> {
        self.url.get(name).cloned()
    }
    fn now_ms(&self) -> i64 {
        NOW
    }
    fn xpath_variable(&self, name: &str) -> Option<Value> {
        self.vars.get(name).cloned()
    }
    fn secret(&self, alias: &str) -> Option<String> {
        self.secrets.get(alias).cloned()
    }
}

fn s(x: &str) -> Value {
    Value::String(x.into())
}

fn run_ns(expr: &str, env: &Env, ns: &[(&str, &str)]) -> String {
    let ns: Vec<(String, String)> = ns
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    match compile(expr, Span::detached(), &ns, Dialect::XPath) {
        Err(d) => format!(
            "error {}",
            d.iter()
                .map(|d| format!("{}: {}", d.code.id, d.message))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        Ok(c) => match eval(&c, env) {
            Ok(Value::Null) => "null".into(),
            Ok(v) => v.to_synapse_string().unwrap_or_default(),
            Err(e) => format!("eval error: {e}"),
        },
    }
}

fn run(expr: &str, env: &Env) -> String {
    run_ns(expr, env, &[])
}

fn check(env: &Env, cases: &[(&str, &str)]) {
    for (expr, want) in cases {
        assert_eq!(run(expr, env), *want, "expression: {expr}");
    }
}

const F: &str = "get-property('SYSTEM_TIME') - get-property('generated-time') > 3600000 or get-property('access_token') = ''";

/// The reference table, synaptic's results.
#[test]
fn reference_table() {
    let long = Env::new()
        .prop("generated-time", Value::Integer(1_700_000_000_000))
        .prop("access_token", s("tok"));
    assert_eq!(run(F, &long), "true");
    let string = Env::new()
        .prop("generated-time", s("1700000000000"))
        .prop("access_token", s("tok"));
    assert_eq!(run(F, &string), "true");
    let empty = Env::new()
        .prop("generated-time", s(""))
        .prop("access_token", s(""));
    assert_eq!(run(F, &empty), "true");
    let missing = Env::new().prop("access_token", s("tok"));
    assert_eq!(run(F, &missing), "false");
    // fresh token (within the hour) → else branch
    let fresh = Env::new()
        .prop("generated-time", Value::Integer(NOW - 10))
        .prop("access_token", s("tok"));
    assert_eq!(run(F, &fresh), "false");

    let e = Env::new();
    check(
        &e,
        &[
            ("get-property('t') = ''", "false"),
            ("get-property('t') != ''", "false"),
            ("string-length(get-property('t')) = 0", "true"),
            ("fn:concat('Bearer ', get-property('x'))", "Bearer "),
        ],
    );
    check(
        &Env::new().prop("x", s("abc")),
        &[("fn:concat('Bearer ', get-property('x'))", "Bearer abc")],
    );
    assert!(run_ns(
        "fn:concat('a', 'b')",
        &e,
        &[("fn", "http://www.w3.org/2005/xpath-functions")]
    )
    .starts_with("error E0205"));

    let long5 = Env::new().prop("l", Value::Integer(5));
    check(
        &long5,
        &[
            ("get-property('l') + 1", "6.0"),
            ("get-property('l') = 5", "true"),
            ("number(get-property('l'))", "5.0"),
            ("string(get-property('l'))", "5"),
            ("get-property('l')", "5"),
            ("get-property('l') > 3", "true"),
        ],
    );
    let d5 = Env::new().prop("d", Value::Number(5.0));
    check(
        &d5,
        &[
            ("get-property('d') + 1", "6.0"),
            ("get-property('d')", "5.0"),
        ],
    );
    check(
        &e,
        &[
            ("get-property('SYSTEM_TIME') - 0", "1.700003600001E12"),
            ("7 div 2", "3.5"),
            ("6 div 2", "3.0"),
            ("' 12 ' + 1", "13.0"),
            ("'1e3' + 1", "1001.0"),
            ("'inf' + 1", "NaN"),
            ("concat('x', 6 div 2)", "x3"),
            ("string(-0)", "0"),
            ("concat(-0, '')", "0"),
            ("string(1 div 0)", "Infinity"),
        ],
    );
    check(
        &Env::new().prop("b", Value::Boolean(true)),
        &[("get-property('b') = 'false'", "true")],
    );
}

#[test]
fn coercions_and_comparisons() {
    let e = Env::new()
        .prop("n", s("10"))
        .prop("e", s(""))
        .prop("i", Value::Integer(10));
    check(
        &e,
        &[
            ("get-property('n') > 9", "true"),
            ("get-property('n') < '9'", "false"),
            ("get-property('missing') < 1", "false"),
            ("get-property('missing') > -1", "false"),
            ("number(get-property('missing'))", "NaN"),
            ("string(get-property('missing'))", ""),
            ("boolean(get-property('missing'))", "false"),
            ("boolean(get-property('e'))", "false"),
            ("get-property('e') = ''", "true"),
            ("get-property('e') != ''", "false"),
            ("get-property('n') != '10'", "false"),
            ("get-property('n') != 'x'", "true"),
            ("get-property('n') = '1e1'", "false"),
            ("get-property('n') = '10d'", "false"),
            ("get-property('i') = '10d'", "true"),
            ("get-property('i') = '1e1'", "true"),
            ("get-property('n') = ' 10 '", "false"),
            ("number(get-property('n')) = ' 10 '", "true"),
            ("get-property('n') * 1 = '10d'", "true"),
            ("true() = 'false'", "true"),
            ("get-property('missing') = false()", "false"),
            ("get-property('missing') != true()", "false"),
            ("false() = $ctx:missing", "false"),
            ("boolean(get-property('missing')) = false()", "true"),
            ("//nothing = false()", "true"),
            ("1 = '1.0'", "true"),
            ("'a' = 'a' and 'b' != 'c'", "true"),
            ("not(1 = 2) or false()", "true"),
            ("2 + 3 * 4 - 1", "13.0"),
            ("5 mod 3", "2.0"),
            ("-'2'", "-2.0"),
            ("(1 + 2) * 2", "6.0"),
            ("floor(2.7) + ceiling(1.1) + round(2.5)", "7.0"),
            ("substring('12345', 2, 3)", "234"),
            ("translate('abc', 'abc', 'ABC')", "ABC"),
            ("normalize-space('  a   b ')", "a b"),
            (
                "contains('abc', 'b') and starts-with('abc', 'a') and ends-with('abc', 'c')",
                "true",
            ),
            ("upper-case('abc')", "ABC"),
            ("lower-case('ABC')", "abc"),
            ("substring-before('a=b', '=')", "a"),
            ("substring-after('a=b', '=')", "b"),
            ("'plain'", "plain"),
            ("42", "42.0"),
            (".5 + 5.", "5.5"),
            ("\"it's\"", "it's"),
            ("concat(\"a'b\", 'c\"d')", "a'bc\"d"),
            ("-(-(1))", "1.0"),
            ("1 div 0", "Infinity"),
            ("0 div 0", "NaN"),
            ("-1 div 0", "-Infinity"),
        ],
    );
}

#[test]
fn get_property_forms() {
    let e = Env::new()
        .prop("p", s("v"))
        .scoped(Scope::Axis2, "REST_URL_POSTFIX", s("/order"))
        .scoped(Scope::Transport, "Content-Type", s("application/json"))
        .scoped(Scope::Operation, "op", s("o"))
        .scoped(Scope::System, "sys", s("y"))
        .reg("conf:/a", "regval")
        .reg("local:/x/access_Token", "tok");
    check(
        &e,
        &[
            ("get-property('p')", "v"),
            ("get-property('default', 'p')", "v"),
            ("get-property('axis2', 'REST_URL_POSTFIX')", "/order"),
            (
                "get-property('transport', 'Content-Type')",
                "application/json",
            ),
            ("get-property('operation', 'op')", "o"),
            ("get-property('system', 'sys')", "y"),
            ("get-property('system', 'nope')", ""),
            ("get-property('env', 'nope')", ""),
            ("get-property('registry', 'conf:/a')", "regval"),
            ("get-property('registry', 'conf:/missing')", ""),
            ("get-property('axis2', 'nope')", "null"),
            ("get-property('nope')", "null"),
            ("get-property()", ""),
            ("get-property('')", ""),
            ("get-property('SYSTEM_TIME')", "1700003600001"),
            ("get-property('SYSTEM_DATE', 'yyyy-MM-dd')", "2023-11-14"),
            ("get-property('default', 'SYSTEM_DATE', 'HH:mm')", "23:13"),
            ("$ctx:p", "v"),
            ("$axis2:REST_URL_POSTFIX", "/order"),
            ("$trp:Content-Type", "application/json"),
            ("$trp:Missing", "null"),
            ("$url:q", ""),
            ("$sys:sys", "y"),
            ("concat($ctx:p, '-', $axis2:REST_URL_POSTFIX)", "v-/order"),
            ("syn:get-property('p')", "v"),
            ("get-property(concat('p', ''))", "v"),
            ("string-length(get-property(concat('p', '')))", "1.0"),
            (
                "concat(get-property('registry', 'local:/x/access_Token'), '!')",
                "tok!",
            ),
            ("get-property('axis2-client', 'x')", "null"),
        ],
    );
    let c = compile(
        "get-property('registry','local:/x/access_Token')",
        Span::detached(),
        &[],
        Dialect::XPath,
    )
    .unwrap();
    assert_eq!(c.registry_keys(), ["local:/x/access_Token"]);
    assert!(c.may_be_empty());
    assert!(!c.touches_body());
    assert!(c.is_bare_read());
}

#[test]
fn synapse_functions() {
    let e = Env::new()
        .prop("auth", s("key:secret"))
        .prop("enc", s("a2V5OnNlY3JldA=="));
    check(
        &e,
        &[
            ("base64Encode(get-property('auth'))", "a2V5OnNlY3JldA=="),
            ("base64Encode('é', 'ISO-8859-1')", "6Q=="),
            ("base64Encode('')", ""),
            ("base64Decode(get-property('enc'))", "key:secret"),
            ("base64Decode('IGEg')", "a"),
            ("base64Decode('')", ""),
            ("base64Decode('a2V5 OnNl\nY3JldA')", "key:secret"),
            ("base64Decode('a2V5OnNlY3JldA=!=')", "key:secret"),
            ("base64Decode('_-8')", "\u{fffd}\u{fffd}"),
            ("url-encode('a b/c?d=e&f:g+h')", "a%20b/c?d=e&f:g%2Bh"),
            ("url-encode('é')", "%C3%A9"),
            (
                "fn:concat('Basic ', base64Encode('id:secret'))",
                "Basic aWQ6c2VjcmV0",
            ),
        ],
    );
}

#[test]
fn body_access() {
    let j = Env::new().json(r#"{"name":"pizza","items":[1,2,3],"o":{"k":"v"}}"#);
    check(
        &j,
        &[
            ("//name", "pizza"),
            ("$body/jsonObject/name", "pizza"),
            ("count(//items)", "3.0"),
            ("sum(//items)", "6.0"),
            ("//items[2]", "2"),
            ("//o", "<o><k>v</k></o>"),
            ("//nope", ""),
            ("boolean(//nope)", "false"),
            ("//name = 'pizza'", "true"),
            ("//items = 2", "true"),
            ("//items != 2", "true"),
            ("//items > 2", "true"),
            ("//items < 1", "false"),
            ("name(/*)", "soapenv:Envelope"),
            ("local-name($body/*)", "jsonObject"),
        ],
    );
    let x = Env::new().xml(
        "<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'><s:Header><h:t xmlns:h='urn:h'>hv</h:t></s:Header><s:Body><m:getQuote xmlns:m='urn:m' id='7'><m:symbol>IBM</m:symbol><m:symbol>SUN</m:symbol></m:getQuote></s:Body></s:Envelope>",
    );
    let ns = [
        ("m", "urn:m"),
        ("soapenv", "http://schemas.xmlsoap.org/soap/envelope/"),
    ];
    let cases = [
        (
            "//m:symbol",
            r#"<m:symbol xmlns:m="urn:m">IBM</m:symbol><m:symbol xmlns:m="urn:m">SUN</m:symbol>"#,
        ),
        ("//m:symbol[1]", "IBM"),
        ("//m:getQuote/@id", "7"),
        (
            "/soapenv:Envelope/soapenv:Body/m:getQuote/m:symbol[2]/text()",
            "SUN",
        ),
        ("$header/*", "hv"),
        ("count($body/*)", "1.0"),
        ("string(//m:getQuote)", "IBMSUN"),
        (
            "//m:getQuote",
            r#"<m:getQuote xmlns:m="urn:m" id="7"><m:symbol>IBM</m:symbol><m:symbol>SUN</m:symbol></m:getQuote>"#,
        ),
    ];
    for (expr, want) in cases {
        assert_eq!(run_ns(expr, &x, &ns), want, "{expr}");
    }
    assert_eq!(
        run("//m:symbol", &x),
        "eval error: Evaluation of the XPath expression //m:symbol resulted in an error"
    );
    // no body: paths are empty
    check(&Env::new(), &[("//a", ""), ("count(//*)", "3.0")]);
}

#[test]
fn json_eval() {
    let j = Env::new()
        .json(r#"{"access_token":"abc","n":1,"o":{"a":[1,2]},"z":null,"t":true}"#)
        .prop("p", s(r#"{"a":{"b":"c"}}"#))
        .prop("path", s("$.o.a"))
        .prop("member", s("o"));
    check(
        &j,
        &[
            (
                "json-eval($)",
                r#"{"access_token":"abc","n":1,"o":{"a":[1,2]},"z":null,"t":true}"#,
            ),
            ("json-eval($.access_token)", "abc"),
            ("json-eval($.n)", "1"),
            ("json-eval($.o)", r#"{"a":[1,2]}"#),
            ("json-eval($.o.a)", "[1,2]"),
            ("json-eval($.o.a[1])", "2"),
            ("json-eval($.z)", "null"),
            ("json-eval($.t)", "true"),
            ("json-eval($.missing)", ""),
            ("json-eval($.o.a[*])", "[1,2]"),
            ("json-eval($..a)", "[[1,2]]"),
            ("json-eval($['access_token'])", "abc"),
            ("json-eval($.o['a'][0])", "1"),
            ("json-eval($.o.a[-1])", "2"),
            ("json-eval($.o.a[0,1])", "[1,2]"),
            ("json-eval($.o.a[?(@ > 1)])", "[2]"),
            ("json-eval($ctx:p.a.b)", "c"),
            ("json-eval($ctx:p)", r#"{"a":{"b":"c"}}"#),
            ("json-eval($ctx:nope.a)", ""),
            // Jayway's dot before a bracket
            ("json-eval($.o.a.[1])", "2"),
            ("json-eval($.o.['a'].[0])", "1"),
            // a path put together from expressions at run time
            ("json-eval({$ctx:path})", "[1,2]"),
            ("json-eval($.{$ctx:member}.a[1])", "2"),
            ("json-eval($.{get-property('member')}['a'])", "[1,2]"),
        ],
    );
    // as Synapse and Jayway read them: one trailing `.` dropped (`$.` is the whole body), a
    // path not starting with `$` put after `$.`, a dot member taken whatever its characters
    let odd = Env::new().json(r#"{"a":{"b-c":1,"x.y":2},"'$'":"q","n":{"'$'":3}}"#);
    check(
        &odd,
        &[
            (
                "json-eval($.)",
                r#"{"a":{"b-c":1,"x.y":2},"'$'":"q","n":{"'$'":3}}"#,
            ),
            ("json-eval($.a.)", r#"{"b-c":1,"x.y":2}"#),
            ("json-eval('$')", "q"),
            ("json-eval($.n.'$')", "3"),
            ("json-eval($..'$')", r#"["q",3]"#),
            ("json-eval($.a.b-c)", "1"),
            ("json-eval(a.b-c)", "1"),
            ("json-eval($.a['x.y'])", "2"),
        ],
    );
    let c = compile("$.", Span::detached(), &[], Dialect::JsonPath).unwrap();
    assert_eq!(
        eval(&c, &odd).unwrap(),
        s(r#"{"a":{"b-c":1,"x.y":2},"'$'":"q","n":{"'$'":3}}"#)
    );
    // raw JSON text is kept byte for byte
    let raw = Env::new().json("{ \"a\" : 1 }");
    assert_eq!(run("json-eval($)", &raw), "{ \"a\" : 1 }");
    // XML body converted; no body → ""
    let x = Env::new().xml("<r><a>1</a></r>");
    check(
        &x,
        &[
            ("json-eval($)", r#"{"r":{"a":1}}"#),
            ("json-eval($.r.a)", "1"),
        ],
    );
    check(&Env::new(), &[("json-eval($)", ""), ("json-eval($.a)", "")]);
    let c = compile("json-eval($.a)", Span::detached(), &[], Dialect::XPath).unwrap();
    assert!(c.touches_body() && c.may_be_empty());
    let c = compile("$.a.b", Span::detached(), &[], Dialect::JsonPath).unwrap();
    let env = Env::new().json(r#"{"a":{"b":5}}"#);
    assert_eq!(eval(&c, &env).unwrap(), s("5"));
}

/// Paths as Synapse's `SynapseJsonPath` and Jayway read them: the property a `$ctx:`/`$trp:`
/// path starts with, `$`-less paths, a member right after a bracket, a last character Jayway
/// never reads (with a warning that points at it), and what Jayway refuses.
#[test]
fn json_paths_as_jayway_reads_them() {
    let store = r#"{"store":{"book":[{"t":"a","price":8.95},{"t":"b","price":12.99},{"t":"c","price":22.99}]}}"#;
    let env = Env::new()
        .json(r#"{"exchange":{"sponsor":{"spo":[{"spo_emad_spo_srs":"a@x; b@y"}]}}}"#)
        .scoped(Scope::Transport, "prop", s(store))
        .prop(
            "original",
            s(r#"[{"t":"b","price":12.99},{"t":"c","price":22.99}]"#),
        )
        .prop("my-p", Value::Json(serde_json::json!({"a": [1, 2]})));
    check(
        &env,
        &[
            (
                "json-eval(exchange.sponsor.spo[0]spo_emad_spo_srs)",
                "a@x; b@y",
            ),
            (
                "json-eval($.exchange.sponsor.spo[0].spo_emad_spo_srs)",
                "a@x; b@y",
            ),
            // `.a` is `$..a`
            ("json-eval(.spo_emad_spo_srs)", r#"["a@x; b@y"]"#),
            (
                "json-eval($trp:prop.store.book[?(@.price > 20)])",
                r#"[{"t":"c","price":22.99}]"#,
            ),
            (
                "json-eval($trp:prop.store.book[?(@.price > 20)]))",
                r#"[{"t":"c","price":22.99}]"#,
            ),
            ("json-eval($ctx:original.[0])", r#"{"t":"b","price":12.99}"#),
            ("json-eval($ctx:original[1].t)", "c"),
            ("json-eval($ctx:my-p.a[1])", "2"),
            ("json-eval($ctx:my-p)", r#"{"a":[1,2]}"#),
            (
                "json-eval($.exchange.sponsor.spo[0]])",
                r#"{"spo_emad_spo_srs":"a@x; b@y"}"#,
            ),
        ],
    );
    // the JSONPath of an `evaluator="json"` argument: the extra `)` is not read, and said so
    let text = "$trp:prop.store.book[?(@.price > 20)])";
    let src = synaptic_diag::SourceId(7);
    let span = Span::new(src, 40, 40 + text.len());
    let c = compile(text, span, &[], Dialect::JsonPath).unwrap();
    assert_eq!(eval(&c, &env).unwrap(), s(r#"[{"t":"c","price":22.99}]"#));
    let w: Vec<_> = c
        .warnings()
        .iter()
        .map(|d| (d.code.id, d.primary_span()))
        .collect();
    assert_eq!(w, [("W0210", Span::new(src, 40 + 37, 40 + 38))]);
    assert!(c.warnings()[0].message.contains("`)` at the end"));
    let c = compile("json-eval($.a[0])", span, &[], Dialect::XPath).unwrap();
    assert!(c.warnings().is_empty());
    // what Jayway refuses, with the position inside the path
    for (expr, at) in [
        ("json-eval($.a b)", 13),
        ("json-eval($ctx:p:x)", 16),
        ("json-eval($ctx:.a)", 15),
        ("json-eval($x)", 11),
        ("json-eval($[?])", 11),
    ] {
        let span = Span::new(src, 0, expr.len());
        let e = compile(expr, span, &[], Dialect::XPath).unwrap_err();
        assert_eq!(e[0].code.id, "E0202", "{expr}");
        assert_eq!(
            e[0].primary_span().start as usize,
            at,
            "{expr}: {}",
            e[0].message
        );
    }
}

#[test]
fn compile_errors() {
    let e = Env::new();
    let cases = [
        ("get-property(", "error E0201"),
        // Jaxen resolves functions and variables when it evaluates: they compile, with a
        // warning, and fault when evaluated
        (
            "foo('x')",
            "eval error: Evaluation of the XPath expression foo('x') resulted in an error",
        ),
        (
            "get-property('a','b','c','d')",
            "error E0204: get-property() takes 0 to 3 arguments, got 4",
        ),
        (
            "concat('a')",
            "error E0204: concat() takes at least 2 arguments, got 1",
        ),
        ("get-property('registry', concat('a', 'b'))", "error E0207"),
        (
            "$foo",
            "eval error: Evaluation of the XPath expression $foo",
        ),
        (
            "$bar:x",
            "eval error: Evaluation of the XPath expression $bar:x",
        ),
        ("json-eval($.[)", "error E0202"),
        ("concat(json-eval($.a), 'x')", "error E0203"),
        (
            "hmac-generate('a', 'b')",
            "error E0203: function hmac-generate is not supported by synaptic",
        ),
        ("${payload.a}", "error E0201"),
        ("x:concat('a', 'b')", "ab"),
        (
            "//p:a",
            "eval error: Evaluation of the XPath expression //p:a",
        ),
    ];
    for (expr, want) in cases {
        let got = run(expr, &e);
        assert!(got.starts_with(want), "{expr}: {got}");
    }
    assert!(run_ns("x:concat('a','b')", &e, &[("x", "urn:other")]).starts_with("eval error"));
    // several are all reported
    let c = compile("foo(1) + bar(2)", Span::detached(), &[], Dialect::XPath).unwrap();
    let codes: Vec<&str> = c.warnings().iter().map(|d| d.code.id).collect();
    assert_eq!(codes, ["W0204", "W0204"]);
    let c = compile("$bodym:Item", Span::detached(), &[], Dialect::XPath).unwrap();
    let codes: Vec<&str> = c.warnings().iter().map(|d| d.code.id).collect();
    assert_eq!(codes, ["W0209"]);
    // an error elsewhere in the expression is still an error
    assert!(run("foo(1) + get-property(", &e).starts_with("error E0201"));
}

#[test]
fn metadata() {
    let c = compile(F, Span::detached(), &[], Dialect::XPath).unwrap();
    assert_eq!(c.numeric_property_uses(), ["generated-time"]);
    assert_eq!(
        c.property_reads(),
        [
            (Scope::Default, "generated-time".to_string()),
            (Scope::Default, "access_token".to_string())
        ]
    );
    assert!(!c.touches_body());
    assert!(!c.may_be_empty());
    assert_eq!(
        c.rewritten(),
        Some("(((number(get-property('SYSTEM_TIME')) - number(get-property('generated-time'))) > 3600000) or (get-property('access_token') = ''))")
    );
    let c = compile(
        "get-property('a') = '1d' or $ctx:b != '' or 'x' < 1",
        Span::detached(),
        &[],
        Dialect::XPath,
    )
    .unwrap();
    assert_eq!(
        c.rewritten(),
        Some("((_eq(get-property('a'), '1d', 'l') or _ne(_var('ctx', 'b'), '', 'l')) or _lt('x', 1))")
    );
    let c = compile(
        "fn:concat('Bearer ', get-property('t'))",
        Span::detached(),
        &[],
        Dialect::XPath,
    )
    .unwrap();
    assert!(c.rewritten().is_none(), "concat fast path");
    let c = compile(
        "$ctx:a * 2 = 4 and get-property('b') = 3",
        Span::detached(),
        &[],
        Dialect::XPath,
    )
    .unwrap();
    assert_eq!(c.numeric_property_uses(), ["a", "b"]);
    let c = compile(
        "get-property('SYSTEM_DATE')",
        Span::detached(),
        &[],
        Dialect::XPath,
    )
    .unwrap();
    assert_eq!(c.warnings().len(), 1);
    assert!(!compile(
        "get-property('SYSTEM_TIME')",
        Span::detached(),
        &[],
        Dialect::XPath
    )
    .unwrap()
    .may_be_empty());
    assert!(compile("name()", Span::detached(), &[], Dialect::XPath)
        .unwrap()
        .touches_body());
    assert!(compile("$body", Span::detached(), &[], Dialect::XPath)
        .unwrap()
        .touches_body());
}

#[test]
fn spans_point_into_the_expression() {
    let src = synaptic_diag::SourceId(3);
    let text = "concat('a', foo())";
    let d = compile(
        text,
        Span::new(src, 100, 100 + text.len()),
        &[],
        Dialect::XPath,
    )
    .unwrap();
    assert_eq!(d.warnings()[0].primary_span(), Span::new(src, 112, 117));
}

#[test]
fn compiled_is_send_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<crate::CompiledExpr>();
}

#[test]
fn top_level_strings() {
    let cases = [
        (Value::Null, None),
        (s("x"), Some("x")),
        (Value::Number(6.0), Some("6.0")),
        (Value::Integer(5), Some("5")),
        (Value::Boolean(false), Some("false")),
        (Value::Json(serde_json::json!({"a": 1})), Some(r#"{"a":1}"#)),
        (Value::Xml("<a/>".into()), Some("<a/>")),
    ];
    for (v, want) in cases {
        assert_eq!(v.to_synapse_string().as_deref(), want);
    }
}

#[test]
fn conditions() {
    let x = Env::new()
        .xml("<r a=''><e/></r>")
        .prop("t", s("x"))
        .prop("z", Value::Integer(0));
    for (expr, want) in [
        ("//@a", true),
        ("//e", true),
        ("//nope", false),
        ("get-property('t')", true),
        ("get-property('missing')", false),
        ("get-property('z')", false),
        ("'x'", true),
        ("''", false),
        ("1 = 1", true),
        ("json-eval($.nope)", false),
    ] {
        let c = compile(expr, Span::detached(), &[], Dialect::XPath).unwrap();
        assert_eq!(crate::eval_bool(&c, &x).unwrap(), want, "{expr}");
    }
}

/// The scalar evaluator gives what sxd-xpath gives, for every expression of its subset against
/// property values of every type (differential test; the fuzz target `eval` does the same on
/// random input).
#[test]
fn scalar_evaluator_matches_sxd() {
    let exprs = [
        F,
        "get-property('a') = get-property('b')",
        "get-property('a') != get-property('b')",
        "get-property('a') < get-property('b')",
        "get-property('a') >= get-property('b')",
        "get-property('a') = ''",
        "get-property('a') != ''",
        "get-property('a') = '10'",
        "get-property('a') = 10",
        "get-property('a') > 9",
        "get-property('a') <= '9'",
        "get-property('a') = true()",
        "get-property('a') != false()",
        "true() = get-property('a')",
        "(get-property('a')) = false()",
        "string(get-property('a')) = ''",
        "get-property('a') + get-property('b')",
        "get-property('a') - 1",
        "get-property('a') * 2 = 20",
        "get-property('a') div get-property('b')",
        "get-property('a') mod 3",
        "-get-property('a')",
        "-(-(get-property('a')))",
        "get-property('a') and get-property('b')",
        "get-property('a') or get-property('b')",
        "not(get-property('a'))",
        "boolean(get-property('a'))",
        "number(get-property('a'))",
        "string(get-property('a'))",
        "concat(get-property('a'), '-', get-property('b'), 1 div 0, -0, true())",
        "fn:concat('Bearer ', get-property('a'), get-property('b') + 0)",
        "$ctx:a = $ctx:b or $trp:h = 'x'",
        "$axis2:REST_URL_POSTFIX != '' and $url:q = '1'",
        "get-property('axis2', 'a') = get-property('transport', 'h')",
        "get-property('registry', 'conf:/k') = 'v'",
        "get-property('registry', 'conf:/k') + 1",
        "get-property('SYSTEM_TIME') > 0",
        "get-property('SYSTEM_DATE', 'yyyy') = '2023'",
        "get-property('env', 'nope') = ''",
        "1 = '1.0' and 'a' < 'b'",
        "'1e3' = 1000 or ' 12 ' < 13",
        "0 div 0 = 0 div 0",
        "0 div 0 != 0 div 0",
        "true() = 'false'",
        "false() = ''",
        "1 = true()",
        "'' or 0 or false()",
        "'x' and 1",
    ];
    let values = [
        None,
        Some(s("")),
        Some(s("10")),
        Some(s(" 10 ")),
        Some(s("1e1")),
        Some(s("10d")),
        Some(s("abc")),
        Some(s("true")),
        Some(s("false")),
        Some(Value::Integer(0)),
        Some(Value::Integer(10)),
        Some(Value::Integer(-3)),
        Some(Value::Number(2.5)),
        Some(Value::Number(-0.0)),
        Some(Value::Number(f64::NAN)),
        Some(Value::Number(f64::INFINITY)),
        Some(Value::Boolean(true)),
        Some(Value::Boolean(false)),
        Some(Value::Json(serde_json::json!({"a": 1}))),
        Some(Value::Xml("<x>1</x>".into())),
    ];
    let show = |r: Result<Value, crate::EvalError>| match r {
        Ok(Value::Null) => "null".to_string(),
        Ok(v) => format!(
            "{}:{}",
            std::mem::discriminant(&v) == std::mem::discriminant(&Value::Boolean(true)),
            v.to_synapse_string().unwrap_or_default()
        ),
        Err(e) => format!("error {e}"),
    };
    let mut compared = 0;
    for expr in exprs {
        let c = compile(expr, Span::detached(), &[], Dialect::XPath).unwrap();
        assert!(
            crate::is_scalar(&c),
            "{expr} should run on the scalar evaluator"
        );
        for a in &values {
            for b in [&values[0], &values[2], &values[6], &values[10], &values[17]] {
                let mut env = Env::new().reg("conf:/k", "v");
                for (name, v) in [("a", a), ("b", b)] {
                    if let Some(v) = v {
                        env = env
                            .prop(name, v.clone())
                            .scoped(Scope::Axis2, name, v.clone())
                            .scoped(Scope::Transport, "h", v.clone())
                            .scoped(Scope::Axis2, "REST_URL_POSTFIX", v.clone());
                    }
                }
                if let Some(Value::String(q)) = a {
                    env.url.insert("q".into(), q.clone());
                }
                let what = format!("{expr} with a = {a:?}, b = {b:?}");
                assert_eq!(
                    show(eval(&c, &env)),
                    show(crate::eval_reference(&c, &env)),
                    "value of {what}"
                );
                assert_eq!(
                    crate::eval_bool(&c, &env).ok(),
                    crate::eval_bool_reference(&c, &env).ok(),
                    "condition {what}"
                );
                compared += 1;
            }
        }
    }
    assert_eq!(compared, exprs.len() * values.len() * 5);
    // outside the subset: node tests, other functions, computed property names
    for expr in [
        "//a = 1",
        "string-length(get-property('a')) = 0",
        "get-property(concat('a', 'b'))",
        "$body",
        "count(//x)",
        "string()",
    ] {
        let c = compile(expr, Span::detached(), &[], Dialect::XPath).unwrap();
        assert!(!crate::is_scalar(&c), "{expr}");
    }
}

/// WSO2's string rule for `node()`: an expression ending in `node()` that selects one text node
/// gives its parent element; one mentioning `node()` gives a lone element as XML.
#[test]
fn node_rule() {
    let x = Env::new().xml("<r><name>Smith</name><a><b>1</b></a></r>");
    check(
        &x,
        &[
            ("//name/node()", "<name>Smith</name>"),
            ("//name/text()", "Smith"),
            ("//name", "Smith"),
            ("//name[node()]", "<name>Smith</name>"),
            ("//a/node()", "<b>1</b>"),
            ("//a/*", "1"),
        ],
    );
}

/// Names in Clark notation (`{uri}local`), as `SynapseXPath.parseXPathString` reads them.
#[test]
fn clark_names() {
    let x = Env::new().xml(
        "<m0:test xmlns:m0=\"http://somens\"><m1:another xmlns:m1=\"http://other\">v</m1:another></m0:test>",
    );
    check(
        &x,
        &[
            ("$body//{http://somens}test/{http://other}another", "v"),
            ("count(//{http://somens}test)", "1.0"),
            (
                "concat('{not a name}', //{http://other}another)",
                "{not a name}v",
            ),
        ],
    );
}

#[test]
fn var_prefix_reads_variables() {
    let env = Env::new()
        .prop("name", s("a property"))
        .var("name", s("a variable"))
        .var("n", Value::Integer(41))
        .var("flag", Value::Boolean(true))
        .var("order", Value::Xml("<order><id>7</id></order>".into()))
        .var("leaf", Value::Xml("<id> 9 </id>".into()))
        .var("doc", Value::Json(serde_json::json!({"a": 1})))
        .json(r#"{"k":"a variable"}"#);
    check(
        &env,
        &[
            ("$var:name", "a variable"),
            ("$ctx:name", "a property"),
            ("get-property('name')", "a property"),
            ("$var:n + 1", "42.0"),
            ("$var:flag", "true"),
            ("$var:leaf", "9"),
            ("$var:missing", "null"),
            ("concat($var:name, '!')", "a variable!"),
            ("$var:name = 'a variable'", "true"),
            ("$var:missing = ''", "false"),
            ("string-length($var:doc)", "7.0"),
            ("//k = $var:name", "true"),
        ],
    );
    // a missing variable is null, as a missing property is
    let c = compile("$var:missing", Span::detached(), &[], Dialect::XPath).unwrap();
    assert_eq!(eval(&c, &env).unwrap(), Value::Null);
}

#[test]
fn vault_lookup_reads_the_hosts_secrets() {
    let mut e = Env::new().prop("alias", s("db"));
    e.secrets.insert("db".into(), "s3cret".into());
    e.secrets.insert("other".into(), "x y".into());
    check(
        &e,
        &[
            // any prefix, declared or not, as Synapse resolves the function by its name
            ("wso2:vault-lookup('db')", "s3cret"),
            ("vault-lookup('db')", "s3cret"),
            ("wso2:vault-lookup('db', 'DOCKER', 'false')", "s3cret"),
            (
                "fn:concat('Basic ', base64Encode(wso2:vault-lookup('other')))",
                "Basic eCB5",
            ),
            // a computed alias
            ("wso2:vault-lookup(get-property('alias'))", "s3cret"),
            ("wso2:vault-lookup('nope')", ""),
            ("string-length(wso2:vault-lookup('db'))", "6.0"),
        ],
    );
    // without a secret store, every alias reads as empty
    assert_eq!(run("wso2:vault-lookup('db')", &Env::new()), "");
    let d = run("wso2:vault-lookup()", &e);
    assert!(d.starts_with("error E0204"), "{d}");
    let d = run("wso2:vault-lookup('a', 'b', 'c', 'd')", &e);
    assert!(d.starts_with("error E0204"), "{d}");
}

/// Jayway's path functions at the end of a `json-eval` path, as Synapse evaluates them (Gson
/// provider) and prints them (`SynapseJsonPath.stringValueOf`).
#[test]
fn json_path_functions_as_jayway_evaluates_them() {
    let doc = r#"{"items":[{"n":"a","tags":["x","y"],"price":8.95},{"n":"b","tags":["z"],"price":12.99}],
        "nums":[1,2,3,4],"neg":[-3,-1],"one":[7],"empty":[],"words":["ab","cd",5],
        "obj":{"k1":1,"k2":"v"},"name":"abc","limits":{"low":2,"hi":[5,9]},"i":1,
        "mixed":[1,"2",3.5,null,true],"big":[2.50,1e2]}"#;
    let env = Env::new().json(doc).prop("p", s(r#"{"a":[10,20]}"#));
    check(
        &env,
        &[
            // length/size: of an array, of an object; a string or number has none
            ("json-eval($.items.length())", "2"),
            ("json-eval($.nums.size())", "4"),
            ("json-eval($.obj.length())", "2"),
            ("json-eval($.name.length())", ""),
            ("json-eval($.length())", "12"),
            // the numeric functions give a Double, printed as Java prints it
            ("json-eval($.nums.sum())", "10.0"),
            ("json-eval($.nums.avg())", "2.5"),
            ("json-eval($.nums.min())", "1.0"),
            ("json-eval($.nums.max())", "4.0"),
            ("json-eval($.nums.stddev())", "1.118033988749895"),
            ("json-eval($.one.avg())", "7.0"),
            // only numbers count; an empty array fails (the empty string)
            ("json-eval($.mixed.sum())", "4.5"),
            ("json-eval($.empty.sum())", ""),
            ("json-eval($.name.sum())", ""),
            // Jayway's max starts from the smallest positive double
            ("json-eval($.neg.max())", "4.9E-324"),
            ("json-eval($.neg.min())", "-3.0"),
            // path arguments add their numbers; JSON numbers are Gson elements, not counted
            ("json-eval($.nums.sum($.limits.low))", "12.0"),
            ("json-eval($.nums.sum($.limits.hi))", "24.0"),
            ("json-eval($.nums.sum(100))", "10.0"),
            ("json-eval($.sum($.nums, $.i))", "11.0"),
            // a deep scan before the function: `$..price.sum()` is `$.sum($..price)`
            // the same double arithmetic as Java
            ("json-eval($..price.sum())", "21.939999999999998"),
            ("json-eval($..tags.length())", "3"),
            // an indefinite path calls the function on each value: the list of results
            ("json-eval($.items[*].tags.length())", "[2,1]"),
            ("json-eval($.items[*].length())", "[3,3]"),
            ("json-eval($.items[*].tags.first())", r#"["x","z"]"#),
            ("json-eval($.items[?(@.price > 10)].tags.length())", "[1]"),
            ("json-eval($.items[?(@.price > 100)].tags.length())", "[]"),
            // a per-value failure fails the whole path
            ("json-eval($.items[*].price.sum())", ""),
            // keys
            ("json-eval($.obj.keys())", r#"["k1","k2"]"#),
            ("json-eval($.nums.keys())", ""),
            // first/last/index: numbers print as Gson unwraps them, other values fail
            ("json-eval($.nums.first())", "1"),
            ("json-eval($.nums.last())", "4"),
            ("json-eval($.big.first())", "2.5"),
            ("json-eval($.big.last())", "100"),
            (
                "json-eval($.items.first())",
                r#"{"n":"a","tags":["x","y"],"price":8.95}"#,
            ),
            ("json-eval($.words.first())", ""),
            ("json-eval($.one.last())", ""),
            ("json-eval($.empty.first())", ""),
            ("json-eval($.nums.index($.i))", "2"),
            ("json-eval($.nums.index(1))", ""),
            // concat: the strings of the array, then the arguments; a string result fails in
            // Synapse's printing, and prints inside a list
            ("json-eval($.words.concat())", ""),
            (
                "json-eval($.items[*].tags.concat(\"-\", $.i))",
                r#"["xy\"-\"1","z\"-\"1"]"#,
            ),
            // append: the array with the arguments after it
            (
                "json-eval($.nums.append(5, \"x\", $.limits.low))",
                r#"[1,2,3,4,5,"x",2]"#,
            ),
            ("json-eval($.obj.append(5))", r#"{"k1":1,"k2":"v"}"#),
            // a missing definite path: nothing
            ("json-eval($.nope.length())", ""),
            ("json-eval($.nums.sum($.nope))", ""),
            // a property's JSON
            ("json-eval($ctx:p.a.avg())", "15.0"),
            ("json-eval($ctx:p.a.length())", "2"),
        ],
    );
}

/// Functions Jayway does not have, wrong argument counts and text after a function are
/// refused at lint (E0202), where they are written.
#[test]
fn json_path_function_errors() {
    let src = synaptic_diag::SourceId(7);
    for (expr, at, says) in [
        ("json-eval($.a.count())", 14, "not a JSONPath function"),
        ("json-eval($.a.first(1))", 14, "takes no argument"),
        ("json-eval($.a.index())", 14, "takes one argument"),
        ("json-eval($.a.length($.b, $.c))", 14, "0 to 1 arguments"),
        ("json-eval($.a.length().b)", 22, "nothing may follow"),
        ("json-eval($.a.sum($.b c))", 21, "['my name']"),
        ("json-eval($.a.sum($.b)", 17, "never closed"),
    ] {
        let span = Span::new(src, 0, expr.len());
        let e = compile(expr, span, &[], Dialect::XPath).unwrap_err();
        assert_eq!(e[0].code.id, "E0202", "{expr}");
        assert_eq!(
            e[0].primary_span().start as usize,
            at,
            "{expr}: {}",
            e[0].message
        );
        assert!(e[0].message.contains(says), "{expr}: {}", e[0].message);
    }
    // in a filter too
    let e = compile(
        "json-eval($.a[?(@.b.count() > 1)])",
        Span::detached(),
        &[],
        Dialect::XPath,
    )
    .unwrap_err();
    assert_eq!(e[0].code.id, "E0202");
    assert!(
        e[0].message.contains("`count` is not a JSONPath function"),
        "{}",
        e[0].message
    );
    // with arguments, one last character is not read, as after any step
    let c = compile(
        "json-eval($.a.sum($.b)))",
        Span::new(src, 0, 24),
        &[],
        Dialect::XPath,
    )
    .unwrap();
    assert_eq!(c.warnings()[0].code.id, "W0210");
}

/// Functions inside filters: `@` operands are evaluated on each candidate, `$` operands on the
/// document, and their values compared by the condition.
#[test]
fn json_path_functions_in_filters() {
    let doc = r#"{"books":[{"t":"A","authors":["x","y"],"price":10,"n":[1,2]},
        {"t":"B","authors":["z"],"price":30,"n":[5,7]},
        {"t":"C","authors":"solo","price":5,"n":[]}],
        "limits":{"max":[8,12],"low":4},"cut":11}"#;
    let env = Env::new().json(doc);
    check(
        &env,
        &[
            (
                "json-eval($.books[?(@.authors.length() > 1)].t)",
                r#"["A"]"#,
            ),
            (
                "json-eval($.books[?(@.authors.length() == 1)].t)",
                r#"["B"]"#,
            ),
            // the length of a string is null: no comparison holds
            ("json-eval($.books[?(@.authors.length() < 1)].t)", "[]"),
            (
                "json-eval($.books[?(@.price > $.limits.max.max())].t)",
                r#"["B"]"#,
            ),
            (
                "json-eval($.books[?(@.price <= $.limits.max.min())].t)",
                r#"["C"]"#,
            ),
            // a plain `$` path beside a function operand
            (
                "json-eval($.books[?(@.authors.length() > 0 && @.price < $.cut)].t)",
                r#"["A"]"#,
            ),
            // a failing function (the sum of an empty array) fails the path
            ("json-eval($.books[?(@.n.sum() > 2)].t)", ""),
            // a missing operand path is undefined
            ("json-eval($.books[?(@.nope.length() > 0)].t)", "[]"),
            // with a function at the end too
            (
                "json-eval($.books[?(@.authors.length() > 0)].price.sum())",
                "",
            ),
            (
                "json-eval($.books[?(@.authors.length() > 0)].length())",
                "[4,4]",
            ),
            ("json-eval($..[?(@.authors.length() > 1)].t)", r#"["A"]"#),
        ],
    );
}
