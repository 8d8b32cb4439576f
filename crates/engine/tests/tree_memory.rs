//! A body's tree stays within `Limits::tree_factor` times the body's size, measured: a counting
//! allocator records the peak of the heap while a sequence builds the body and runs XPaths and
//! a JSONPath over it. The bodies are the densest of their kind (the most nodes per byte, the
//! longest names repeated), where the tree outgrows the text the most.
//!
//! Each body is run twice: with a factor large enough to build it (the peak must stay within
//! that factor: the estimate is never below the truth), and with a factor it exceeds (refused
//! with fault code 413002 before the tree outgrows the budget).

use std::sync::Arc;

use bytes::Bytes;
use peak_alloc::PeakAlloc;
use synaptic_diag::SourceId;
use synaptic_engine::*;

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

struct NoNet;

#[async_trait::async_trait]
impl Invoker for NoNet {
    async fn invoke(&self, _: OutboundRequest) -> Result<InboundResponse, InvokeError> {
        Err(InvokeError::Connect("no network here".into()))
    }
}

/// XPaths over the whole body, and its JSON form.
const XPATHS: &str = r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="s">
    <property name="n" expression="count(//*)"/>
    <property name="first" expression="string(//*[1])"/>
    <property name="j" expression="json-eval($)"/>
</sequence>"#;

/// JSONPath only: the XPath view is never built.
const JSONPATH: &str = r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="s">
    <property name="n" expression="json-eval($..id)"/>
    <property name="first" expression="json-eval($[0].id)"/>
</sequence>"#;

fn engine(sequence: &str, tree_factor: usize) -> Engine {
    let p = synaptic_syntax::parse_artifact(SourceId(0), sequence);
    let (prog, diags) = compile(std::slice::from_ref(&p.tree), &CompileOptions::default());
    let prog = prog.unwrap_or_else(|| panic!("{diags:?}"));
    Engine {
        configurables: std::sync::Arc::new(synaptic_engine::NoConfigurables),
        program: Arc::new(prog),
        invoker: Arc::new(NoNet),
        registry: Arc::new(synaptic_registry::MemoryRegistry::new()),
        state: Arc::new(synaptic_engine::MemoryState::default()),
        clock: Arc::new(FixedClock(1_700_000_000_000)),
        db: std::sync::Arc::new(synaptic_engine::NoDatabase),
        limits: Limits {
            tree_factor,
            ..Limits::default()
        },
    }
}

/// Run the sequence on `body`; the heap's peak above what it held before, and the outcome.
fn run(
    sequence: &str,
    body: &Bytes,
    content_type: &str,
    tree_factor: usize,
) -> (usize, Result<Flow, MediationError>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let e = engine(sequence, tree_factor);
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", content_type.parse().unwrap());
    let mut ctx =
        MessageContext::from_request(http::Method::POST, "/x", headers, body.clone(), None);
    let base = HEAP.current_usage();
    HEAP.reset_peak_usage();
    let r = rt.block_on(e.mediate("s", None, &mut ctx));
    let peak = HEAP.peak_usage().saturating_sub(base);
    drop(ctx);
    (peak, r)
}

fn bodies() -> Vec<(&'static str, &'static str, Bytes)> {
    let n = 40_000;
    let mut json_numbers = String::from("[1");
    json_numbers.push_str(&",1".repeat(n));
    json_numbers.push(']');
    let mut json_objects = String::from("[");
    json_objects.push_str(&vec![r#"{"a":1,"b":"x"}"#; n / 4].join(","));
    json_objects.push(']');
    let ns = "urn:".to_string() + &"n".repeat(200);
    let xml_empty = format!("<r>{}</r>", "<a/>".repeat(n));
    let xml_long_ns = format!("<r xmlns=\"{ns}\">{}</r>", "<a/>".repeat(n / 4));
    let xml_attrs = format!("<r>{}</r>", "<a b='' c='' d=''/>".repeat(n / 4));
    let xml_mixed = format!("<r>{}</r>", "x<!--c--><?p d?>".repeat(n / 4));
    vec![
        (
            "JSON numbers",
            "application/json",
            Bytes::from(json_numbers),
        ),
        (
            "JSON objects",
            "application/json",
            Bytes::from(json_objects),
        ),
        (
            "XML empty elements",
            "application/xml",
            Bytes::from(xml_empty),
        ),
        (
            "XML long namespace",
            "application/xml",
            Bytes::from(xml_long_ns),
        ),
        ("XML attributes", "application/xml", Bytes::from(xml_attrs)),
        (
            "XML mixed content",
            "application/xml",
            Bytes::from(xml_mixed),
        ),
    ]
}

#[test]
fn a_bodys_tree_stays_within_its_factor_or_is_refused() {
    for (what, ct, body) in bodies() {
        let len = body.len();
        // with no practical bound: what building and querying it really takes
        let (peak, r) = run(XPATHS, &body, ct, 1_000_000);
        assert!(r.is_ok(), "{what}: {r:?}");
        let times = peak / len;
        eprintln!("{what}: {len} bytes, peak {peak} bytes = {times}x the body");
        assert!(
            peak > synaptic_payload::TreeCost::FLOOR,
            "{what}: too small to test the bound"
        );
        // a factor whose budget is below that peak: refused, before the tree outgrows it
        let (refused_peak, r) = run(XPATHS, &body, ct, times);
        let e = r.expect_err(what);
        assert_eq!(e.kind, ErrorKind::BodyTooLarge, "{what}: {e:?}");
        assert_eq!(e.origin, Origin::Downstream, "{what}");
        assert_eq!(e.code, error_codes::TREE_TOO_LARGE, "{what}");
        let budget = synaptic_payload::TreeCost::budget(len, times);
        assert!(
            refused_peak <= budget,
            "{what}: refused at factor {times} after {refused_peak} bytes (budget {budget})"
        );
        // the estimate is not wildly above the truth: four times the real cost is enough
        let (_, r) = run(XPATHS, &body, ct, 4 * times + 4);
        assert!(
            r.is_ok(),
            "{what}: refused at four times its real cost: {r:?}"
        );
    }
}

#[test]
fn the_default_factor_builds_ordinary_bodies() {
    let rec = r#"{"id":12345,"name":"Alice Smith","email":"alice@example.com","active":true,"tags":["a","b"]}"#;
    let json = Bytes::from(format!("[{}]", vec![rec; 12_000].join(",")));
    let xrec = "<rec><id>12345</id><name>Alice Smith</name><email>alice@example.com</email>\
                <active>true</active><tags>a</tags><tags>b</tags></rec>";
    let xml = Bytes::from(format!("<recs>{}</recs>", xrec.repeat(12_000)));
    let factor = Limits::DEFAULT_TREE_FACTOR;
    // a JSON document of records read by JSONPath, an XML one by XPath: well within
    for (what, seq, ct, body) in [
        ("JSON by JSONPath", JSONPATH, "application/json", &json),
        ("XML by XPath", XPATHS, "application/xml", &xml),
    ] {
        assert!(body.len() > 1_000_000);
        let (peak, r) = run(seq, body, ct, factor);
        assert!(r.is_ok(), "{what}: {r:?}");
        assert!(peak <= body.len() * factor, "{what}: peak {peak}");
        eprintln!("{what}: {} bytes, peak {}x", body.len(), peak / body.len());
    }
    // XPath over JSON builds the body's XML form and a view over it: more than the default
    // allows for so large a document, refused before it is built
    let (peak, r) = run(XPATHS, &json, "application/json", factor);
    let e = r.expect_err("XPath over 2 MB of JSON");
    assert_eq!(e.code, error_codes::TREE_TOO_LARGE);
    assert!(e.message.contains("count(//*)"), "{}", e.message);
    assert!(peak <= json.len() * factor, "peak {peak}");
}
