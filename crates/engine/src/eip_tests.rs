//! Fan-out (`iterate`, `clone`) and `aggregate` through the whole engine: branches on their
//! own messages, concurrency bounded by `Limits::branches_in_flight`, the out-flow pattern
//! (branch `<send>` → out-sequence `<aggregate>` → answer), timeouts and faulty branches.

use crate::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use synaptic_diag::SourceId;

/// Echoes each request body inside `<echo>` after `delay_ms` (per URL path `/slow`: `slow_ms`);
/// counts requests and the most in flight at once; `/down` fails to connect.
#[derive(Default)]
pub(crate) struct Echo {
    pub(crate) delay_ms: u64,
    pub(crate) slow_ms: u64,
    pub(crate) in_flight: AtomicUsize,
    pub(crate) max_in_flight: AtomicUsize,
    pub(crate) seen: Mutex<Vec<String>>,
}

#[async_trait]
impl Invoker for Echo {
    async fn invoke(&self, req: OutboundRequest) -> Result<InboundResponse, InvokeError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        self.seen
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(&req.body).into_owned());
        let delay = if req.url.contains("/slow") {
            self.slow_ms
        } else {
            self.delay_ms
        };
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if req.url.contains("/down") {
            return Err(InvokeError::Connect("refused".into()));
        }
        let ct = req
            .headers
            .get("content-type")
            .map(|v| v.to_str().unwrap_or("").to_string())
            .unwrap_or_default();
        let mut headers = http::HeaderMap::new();
        let body = if ct.contains("json") {
            headers.insert("content-type", "application/json".parse().unwrap());
            format!(
                r#"{{"echo":{}}}"#,
                String::from_utf8_lossy(&req.body).trim()
            )
        } else {
            headers.insert("content-type", "application/xml".parse().unwrap());
            format!("<echo>{}</echo>", String::from_utf8_lossy(&req.body))
        };
        Ok(InboundResponse {
            status: 200,
            headers,
            body: Bytes::from(body),
        })
    }

    async fn sleep(&self, d: std::time::Duration) {
        tokio::time::sleep(d).await
    }
}

/// The clock of the runtime's timers (paused in the tests that measure waiting), so that
/// aggregate deadlines and the timers that wait for them agree.
#[derive(Default)]
struct TimerClock(std::sync::OnceLock<tokio::time::Instant>);

impl crate::Clock for TimerClock {
    fn now_ms(&self) -> i64 {
        let since = self.0.get_or_init(tokio::time::Instant::now).elapsed();
        1_700_000_000_000 + since.as_millis() as i64
    }
}

pub(crate) fn engine(xml: &str, echo: Arc<Echo>) -> Engine {
    let p = synaptic_syntax::parse_artifact(SourceId(0), xml);
    assert!(
        p.diagnostics.iter().all(|d| !d.is_error()),
        "{:?}",
        p.diagnostics
    );
    let (prog, diags) = compile(std::slice::from_ref(&p.tree), &CompileOptions::default());
    let prog = prog.unwrap_or_else(|| panic!("{diags:?}"));
    Engine {
        configurables: std::sync::Arc::new(crate::NoConfigurables),
        program: Arc::new(prog),
        invoker: echo,
        registry: Arc::new(synaptic_registry::MemoryRegistry::new()),
        clock: Arc::new(TimerClock::default()),
        state: Arc::new(crate::MemoryState::default()),
        db: std::sync::Arc::new(crate::NoDatabase),
        limits: Limits::default(),
    }
}

/// A host that holds detached work until the test runs it: the flow that made it must not
/// wait for it.
#[derive(Default)]
pub(crate) struct Holding {
    pub(crate) echo: Echo,
    pub(crate) held: std::sync::Mutex<Vec<DetachedWork>>,
    pub(crate) refuse: bool,
}

#[async_trait::async_trait]
impl Invoker for Holding {
    async fn invoke(&self, req: OutboundRequest) -> Result<InboundResponse, InvokeError> {
        self.echo.invoke(req).await
    }
    fn detach(&self, work: DetachedWork) -> Result<(), DetachedWork> {
        if self.refuse {
            return Err(work);
        }
        self.held.lock().unwrap().push(work);
        Ok(())
    }
}

impl Holding {
    /// Run what was detached so far, one work after another.
    pub(crate) fn release(&self) -> usize {
        let works: Vec<DetachedWork> = std::mem::take(&mut *self.held.lock().unwrap());
        let n = works.len();
        for w in works {
            rt().block_on(w);
        }
        n
    }
}

pub(crate) fn holding_engine(xml: &str, host: Arc<Holding>) -> Engine {
    let mut e = engine(xml, Arc::new(Echo::default()));
    e.invoker = host;
    e
}

pub(crate) fn request(ct: &str, body: &str) -> MessageContext {
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", ct.parse().unwrap());
    MessageContext::from_request(
        http::Method::POST,
        "/orders",
        headers,
        Bytes::from(body.to_string()),
        None,
    )
}

pub(crate) fn rt() -> tokio::runtime::Runtime {
    crate::test_support::rt()
}

pub(crate) fn body(ctx: &mut MessageContext) -> String {
    String::from_utf8_lossy(&ctx.body_bytes().unwrap().0).into_owned()
}

const ITEMS: &str = "<order><item>a</item><item>b</item><item>c</item></order>";

fn flow(in_seq: &str, out_seq: &str) -> String {
    format!(
        r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
        <sequence name="in">{in_seq}</sequence>
        <sequence name="out">{out_seq}</sequence>
        <sequence name="fault"><property name="FAULTED" value="yes"/><respond/></sequence>
        </definitions>"#
    )
}

const SEND_EACH: &str = r#"<iterate expression="//item" id="it">
    <target><sequence><send><endpoint><address uri="http://backend.test/item"/></endpoint></send></sequence></target>
</iterate>"#;

const GATHER: &str = r#"<aggregate id="it">
    <completeCondition><messageCount min="-1" max="-1"/></completeCondition>
    <onComplete expression="//echo" enclosingElementProperty="WRAP"><send/></onComplete>
</aggregate>"#;

#[test]
fn iterate_send_and_aggregate_in_the_out_flow_answer_once_with_every_part() {
    let echo = Arc::new(Echo {
        delay_ms: 20,
        ..Echo::default()
    });
    let in_seq =
        format!(r#"<property name="WRAP" type="OM"><all xmlns=""/></property>{SEND_EACH}"#);
    let e = engine(&flow(&in_seq, GATHER), echo.clone());
    let mut ctx = request("application/xml", ITEMS);
    let flow = rt()
        .block_on(e.mediate_flow("in", Some("out"), Some("fault"), &mut ctx))
        .unwrap();
    assert_eq!(flow, Flow::Respond);
    let out = body(&mut ctx);
    assert!(out.starts_with("<all>"), "{out}");
    for p in ["<item>a</item>", "<item>b</item>", "<item>c</item>"] {
        assert!(out.contains(&format!("<echo>{p}</echo>")), "{out}");
    }
    assert_eq!(out.matches("<echo>").count(), 3, "{out}");
    // each backend saw one part alone
    let mut seen = echo.seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, ["<item>a</item>", "<item>b</item>", "<item>c</item>"]);
    // parallel: all three in flight together
    assert_eq!(echo.max_in_flight.load(Ordering::SeqCst), 3);
}

#[test]
fn branches_in_flight_are_capped_and_sequential_runs_one_at_a_time() {
    let many = format!(
        "<order>{}</order>",
        (0..9)
            .map(|i| format!("<item>{i}</item>"))
            .collect::<String>()
    );
    for (sequential, cap, expect) in [(false, 4, 4), (true, 20, 1)] {
        let echo = Arc::new(Echo {
            delay_ms: 15,
            ..Echo::default()
        });
        let in_seq = format!(
            r#"<property name="WRAP" type="OM"><all xmlns=""/></property>
            <iterate expression="//item" id="it" sequential="{sequential}">
              <target><sequence><send><endpoint><address uri="http://backend.test/item"/></endpoint></send></sequence></target>
            </iterate>"#
        );
        let mut e = engine(&flow(&in_seq, GATHER), echo.clone());
        e.limits.branches_in_flight = cap;
        let mut ctx = request("application/xml", &many);
        rt().block_on(e.mediate_flow("in", Some("out"), None, &mut ctx))
            .unwrap();
        assert_eq!(body(&mut ctx).matches("<echo>").count(), 9);
        assert_eq!(echo.max_in_flight.load(Ordering::SeqCst), expect);
    }
}

#[test]
fn call_in_branches_then_aggregate_in_the_target() {
    let echo = Arc::new(Echo::default());
    let in_seq = r#"<iterate expression="//item" sequential="true">
        <target><sequence>
          <call><endpoint><address uri="http://backend.test/item"/></endpoint></call>
          <aggregate>
            <onComplete expression="//echo"><respond/></onComplete>
          </aggregate>
        </sequence></target>
      </iterate>"#;
    let e = engine(&flow(in_seq, ""), echo);
    let mut ctx = request("application/xml", ITEMS);
    let flow = rt()
        .block_on(e.mediate_flow("in", None, None, &mut ctx))
        .unwrap();
    assert_eq!(flow, Flow::Respond);
    // no enclosing element: the echoes are the body's children, in order (sequential); as
    // plain XML only the first is written (Axis2's POX formatter writes the first element)
    let Payload::Xml(env) = &ctx.payload else {
        panic!("not XML")
    };
    let parts: Vec<String> = env.body.iter().map(|e| e.to_xml()).collect();
    assert_eq!(
        parts,
        [
            "<echo><item>a</item></echo>",
            "<echo><item>b</item></echo>",
            "<echo><item>c</item></echo>"
        ]
    );
    assert_eq!(body(&mut ctx), "<echo><item>a</item></echo>");
}

#[test]
fn clone_to_endpoints_and_aggregate_in_the_out_flow() {
    let echo = Arc::new(Echo::default());
    let in_seq = r#"<property name="WRAP" type="OM"><all xmlns=""/></property>
      <clone id="it">
        <target><endpoint><address uri="http://backend.test/a"/></endpoint></target>
        <target><sequence><payloadFactory media-type="xml"><format><other xmlns="">x</other></format><args/></payloadFactory>
          <send><endpoint><address uri="http://backend.test/b"/></endpoint></send></sequence></target>
      </clone>"#;
    let e = engine(&flow(in_seq, GATHER), echo.clone());
    let mut ctx = request("application/xml", "<q>1</q>");
    rt().block_on(e.mediate_flow("in", Some("out"), None, &mut ctx))
        .unwrap();
    let out = body(&mut ctx);
    assert!(out.contains("<echo><q>1</q></echo>"), "{out}");
    assert!(out.contains("<echo><other>x</other></echo>"), "{out}");
    assert_eq!(echo.seen.lock().unwrap().len(), 2);
}

#[test]
fn a_slow_branch_past_the_timeout_is_left_out() {
    let echo = Arc::new(Echo {
        delay_ms: 5,
        slow_ms: 3_000,
        ..Echo::default()
    });
    let in_seq = r#"<property name="WRAP" type="OM"><all xmlns=""/></property>
      <clone id="it">
        <target><endpoint><address uri="http://backend.test/a"/></endpoint></target>
        <target><endpoint><address uri="http://backend.test/slow"/></endpoint></target>
        <target><endpoint><address uri="http://backend.test/b"/></endpoint></target>
      </clone>"#;
    let out_seq = r#"<aggregate id="it">
        <completeCondition timeout="0.3"/>
        <onComplete expression="//echo" enclosingElementProperty="WRAP"><send/></onComplete>
      </aggregate>"#;
    let e = engine(&flow(in_seq, out_seq), echo);
    let mut ctx = request("application/xml", "<q>1</q>");
    // on a paused clock: the time measured is the timers', not the machine's
    let paused = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let waited = paused.block_on(async {
        let started = tokio::time::Instant::now();
        e.mediate_flow("in", Some("out"), None, &mut ctx)
            .await
            .unwrap();
        started.elapsed()
    });
    // answered at the timeout, not when the slow backend would have answered
    assert!(
        waited >= std::time::Duration::from_millis(300),
        "{waited:?}"
    );
    assert!(
        waited < std::time::Duration::from_millis(3_000),
        "{waited:?}"
    );
    assert_eq!(body(&mut ctx).matches("<echo>").count(), 2);
}

#[test]
fn a_failed_branch_runs_the_fault_sequence_and_its_answer_wins() {
    let echo = Arc::new(Echo {
        delay_ms: 50,
        ..Echo::default()
    });
    let in_seq = r#"<clone id="it">
        <target><endpoint><address uri="http://backend.test/down"/></endpoint></target>
        <target><endpoint><address uri="http://backend.test/a"/></endpoint></target>
      </clone>"#;
    let out_seq =
        r#"<aggregate id="it"><onComplete expression="//echo"><send/></onComplete></aggregate>"#;
    let e = engine(&flow(in_seq, out_seq), echo);
    let mut ctx = request("application/xml", "<q>1</q>");
    let flow = rt()
        .block_on(e.mediate_flow("in", Some("out"), Some("fault"), &mut ctx))
        .unwrap();
    assert_eq!(flow, Flow::Respond);
    // the fault sequence answered first (the failed branch's own copy of the message)
    assert_eq!(
        ctx.properties.default.get("FAULTED"),
        Some(&Value::String("yes".into()))
    );
    assert_eq!(
        ctx.properties.default.get("ERROR_CODE"),
        Some(&Value::Integer(error_codes::CONNECTION_FAILED))
    );
}

#[test]
fn without_a_fault_handler_the_others_are_aggregated_when_the_fan_out_ends() {
    let echo = Arc::new(Echo::default());
    let in_seq = r#"<property name="WRAP" type="OM"><all xmlns=""/></property>
      <clone id="it">
        <target><endpoint><address uri="http://backend.test/down"/></endpoint></target>
        <target><endpoint><address uri="http://backend.test/a"/></endpoint></target>
        <target><endpoint><address uri="http://backend.test/b"/></endpoint></target>
      </clone>"#;
    let out_seq = r#"<aggregate id="it"><onComplete expression="//echo" enclosingElementProperty="WRAP"><send/></onComplete></aggregate>"#;
    let e = engine(&flow(in_seq, out_seq), echo);
    let mut ctx = request("application/xml", "<q>1</q>");
    let flow = rt()
        .block_on(e.mediate_flow("in", Some("out"), None, &mut ctx))
        .unwrap();
    assert_eq!(flow, Flow::Respond);
    assert_eq!(body(&mut ctx).matches("<echo>").count(), 2);
}

#[test]
fn json_iterate_and_json_aggregate() {
    let echo = Arc::new(Echo::default());
    let in_seq = r#"<iterate expression="json-eval($.items)" id="j">
        <target><sequence><send><endpoint><address uri="http://backend.test/j"/></endpoint></send></sequence></target>
      </iterate>"#;
    let out_seq = r#"<aggregate id="j"><onComplete expression="json-eval($.echo)"><send/></onComplete></aggregate>"#;
    let e = engine(&flow(in_seq, out_seq), echo);
    let mut ctx = request("application/json", r#"{"items":[{"n":1},{"n":2},{"n":3}]}"#);
    rt().block_on(e.mediate_flow("in", Some("out"), None, &mut ctx))
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&body(&mut ctx)).unwrap();
    let mut ns: Vec<i64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["n"].as_i64().unwrap())
        .collect();
    ns.sort();
    assert_eq!(ns, [1, 2, 3]);
}

#[test]
fn preserve_payload_attaches_each_part_and_continue_parent_goes_on() {
    let echo = Arc::new(Echo::default());
    let in_seq = r#"<iterate expression="//item" preservePayload="true" attachPath="//order" continueParent="true" sequential="true">
        <target><sequence><call><endpoint><address uri="http://backend.test/x"/></endpoint></call></sequence></target>
      </iterate>
      <property name="parent" value="went-on"/>"#;
    let e = engine(&flow(in_seq, ""), echo.clone());
    let mut ctx = request(
        "application/xml",
        r#"<order id="7"><item>a</item><note/><item>b</item></order>"#,
    );
    let flow = rt()
        .block_on(e.mediate_flow("in", None, None, &mut ctx))
        .unwrap();
    assert_eq!(flow, Flow::Continue);
    assert_eq!(
        ctx.properties.default.get("parent"),
        Some(&Value::String("went-on".into()))
    );
    let seen = echo.seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            r#"<order id="7"><note/><item>a</item></order>"#,
            r#"<order id="7"><note/><item>b</item></order>"#
        ]
    );
}

#[test]
fn too_many_branches_fail_before_any_runs() {
    let echo = Arc::new(Echo::default());
    let e = {
        let mut e = engine(&flow(SEND_EACH, GATHER), echo.clone());
        e.limits.max_branches = 2;
        e
    };
    let mut ctx = request("application/xml", ITEMS);
    let err = rt()
        .block_on(e.mediate_flow("in", Some("out"), None, &mut ctx))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Limit);
    assert!(echo.seen.lock().unwrap().is_empty());
}

#[test]
fn an_aggregate_outside_a_fan_out_lets_the_message_through() {
    let echo = Arc::new(Echo::default());
    let in_seq = r#"<aggregate><onComplete expression="//x"><property name="done" value="1"/></onComplete></aggregate>
        <property name="after" value="1"/>"#;
    let e = engine(&flow(in_seq, ""), echo);
    let mut ctx = request("application/xml", "<x/>");
    rt().block_on(e.mediate_flow("in", None, None, &mut ctx))
        .unwrap();
    assert!(ctx.properties.default.contains_key("after"));
    assert!(!ctx.properties.default.contains_key("done"));
}

#[test]
fn after_a_non_blocking_call_a_branch_goes_on_after_the_iterate() {
    // Micro Integrator's usual shape: iterate { call } then aggregate in the same sequence
    let echo = Arc::new(Echo::default());
    let in_seq = r#"<iterate id="j" preservePayload="true" attachPath="json-eval($.list)" expression="json-eval($.list)">
          <target><sequence><call><endpoint><address uri="http://backend.test/j"/></endpoint></call></sequence></target>
        </iterate>
        <aggregate>
          <completeCondition><messageCount min="3" max="-1"/></completeCondition>
          <onComplete expression="json-eval($)"><respond/></onComplete>
        </aggregate>
        <property name="not-reached" value="1"/>"#;
    let e = engine(&flow(in_seq, ""), echo.clone());
    let mut ctx = request("application/json", r#"{"list":[{"n":1},{"n":2},{"n":3}]}"#);
    let flow = rt()
        .block_on(e.mediate_flow("in", None, None, &mut ctx))
        .unwrap();
    assert_eq!(flow, Flow::Respond);
    assert!(!ctx.properties.default.contains_key("not-reached"));
    let v: serde_json::Value = serde_json::from_str(&body(&mut ctx)).unwrap();
    let mut ns: Vec<i64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["echo"]["list"]["n"].as_i64().unwrap())
        .collect();
    ns.sort();
    assert_eq!(ns, [1, 2, 3]);
}

/// Synapse's EIP library templates: `<iterate expression="$func:…">` and `<onComplete
/// expression="$func:…">` select with the XPath the caller passes as `{{xpath}}`; a parameter
/// passed as a plain value selects nothing.
#[test]
fn template_parameters_passed_as_xpath_select_the_parts() {
    let echo = Arc::new(Echo::default());
    let xml = r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
        <template name="splitter">
          <parameter name="iterate_exp"/><parameter name="aggregate_exp"/>
          <sequence>
            <iterate expression="$func:iterate_exp" sequential="true">
              <target><sequence>
                <call><endpoint><address uri="http://backend.test/item"/></endpoint></call>
                <aggregate><onComplete expression="$func:aggregate_exp"><respond/></onComplete></aggregate>
              </sequence></target>
            </iterate>
          </sequence>
        </template>
        <sequence name="in">
          <call-template target="splitter">
            <with-param name="iterate_exp" xmlns:o="urn:o" value="{{//o:order/o:item}}"/>
            <with-param name="aggregate_exp" value="{{//echo}}"/>
          </call-template>
        </sequence>
        <sequence name="plain">
          <call-template target="splitter">
            <with-param name="iterate_exp" value="//item"/>
            <with-param name="aggregate_exp" value="{{//echo}}"/>
          </call-template>
        </sequence>
      </definitions>"#;
    let e = engine(xml, echo);
    let items = r#"<o:order xmlns:o="urn:o"><o:item>a</o:item><o:item>b</o:item></o:order>"#;
    let mut ctx = request("application/xml", items);
    let flow = rt()
        .block_on(e.mediate_flow("in", None, None, &mut ctx))
        .unwrap();
    assert_eq!(flow, Flow::Respond);
    let Payload::Xml(env) = &ctx.payload else {
        panic!("not XML")
    };
    let parts: Vec<String> = env.body.iter().map(|e| e.to_xml()).collect();
    assert_eq!(parts.len(), 2, "{parts:?}");
    assert!(
        parts[0].starts_with("<echo><o:item") && parts[0].contains(">a</o:item>"),
        "{parts:?}"
    );
    assert!(parts[1].contains(">b</o:item>"), "{parts:?}");
    // a plain value is no node set: nothing to split (and, without continueParent, the flow
    // ends there)
    let mut ctx = request("application/xml", "<order><item>a</item></order>");
    let flow = rt()
        .block_on(e.mediate_flow("plain", None, None, &mut ctx))
        .unwrap();
    assert_eq!(flow, Flow::Drop);
}

/// A host whose backend holds every call to a `/held` URL until the test opens the gate,
/// recording, for each other call, how many held calls had started and ended by then; it runs
/// detached work on the runtime, as the gateway does.
struct Gated {
    gate: tokio::sync::Semaphore,
    started: AtomicUsize,
    ended: AtomicUsize,
    /// (URL, held calls started, held calls ended) of each call not held.
    others: Mutex<Vec<(String, usize, usize)>>,
    detached: AtomicUsize,
}

#[async_trait]
impl Invoker for Gated {
    async fn invoke(&self, req: OutboundRequest) -> Result<InboundResponse, InvokeError> {
        if req.url.contains("/held") {
            self.started.fetch_add(1, Ordering::SeqCst);
            if let Ok(p) = self.gate.acquire().await {
                p.forget();
            }
            self.ended.fetch_add(1, Ordering::SeqCst);
        } else {
            let (s, e) = (
                self.started.load(Ordering::SeqCst),
                self.ended.load(Ordering::SeqCst),
            );
            self.others.lock().unwrap().push((req.url.clone(), s, e));
        }
        Ok(InboundResponse {
            status: 200,
            headers: http::HeaderMap::new(),
            body: Bytes::from(format!(
                "<echo>{}</echo>",
                String::from_utf8_lossy(&req.body)
            )),
        })
    }
    fn detach(&self, work: DetachedWork) -> Result<(), DetachedWork> {
        self.detached.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(work);
        Ok(())
    }
}

impl Default for Gated {
    fn default() -> Self {
        Gated {
            gate: tokio::sync::Semaphore::new(0),
            started: AtomicUsize::new(0),
            ended: AtomicUsize::new(0),
            others: Mutex::new(Vec::new()),
            detached: AtomicUsize::new(0),
        }
    }
}

/// Drive `rt` until `done` holds (the detached work runs on it), at most a few seconds.
fn wait_until(rt: &tokio::runtime::Runtime, done: impl Fn() -> bool) {
    rt.block_on(async {
        for _ in 0..500 {
            if done() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    });
    assert!(done(), "not reached in time");
}

fn fan_out(mediator: &str, sequential: bool) -> String {
    if mediator == "clone" {
        format!(
            r#"<clone continueParent="true" sequential="{sequential}">
                 <target><sequence><call><endpoint><address uri="http://backend.test/held/one"/></endpoint></call></sequence></target>
                 <target><sequence><call><endpoint><address uri="http://backend.test/held/two"/></endpoint></call></sequence></target>
               </clone>"#
        )
    } else {
        format!(
            r#"<iterate expression="//item" continueParent="true" sequential="{sequential}">
                 <target><sequence><call><endpoint><address uri="http://backend.test/held/item"/></endpoint></call><respond/></sequence></target>
               </iterate>"#
        )
    }
}

#[test]
fn a_continue_parent_fan_out_runs_beside_the_parent_which_answers_without_waiting() {
    for mediator in ["clone", "iterate"] {
        for sequential in [false, true] {
            let what = format!("{mediator} sequential={sequential}");
            let host = Arc::new(Gated::default());
            let mut e = engine(
                &flow(
                    &format!(
                        r#"{}<call><endpoint><address uri="http://backend.test/parent"/></endpoint></call>
                           <property name="PARENT" value="went-on"/>
                           <payloadFactory media-type="xml"><format><parent-answer xmlns=""/></format><args/></payloadFactory>
                           <respond/>"#,
                        fan_out(mediator, sequential)
                    ),
                    "",
                ),
                Arc::new(Echo::default()),
            );
            e.invoker = host.clone();
            let rt = rt();
            let mut ctx = request(
                "application/xml",
                "<order><item>a</item><item>b</item></order>",
            );
            let flow = rt
                .block_on(async {
                    tokio::time::timeout(
                        std::time::Duration::from_secs(5),
                        e.mediate_flow("in", None, None, &mut ctx),
                    )
                    .await
                })
                .expect("the parent does not wait for the copies' held calls")
                .unwrap();
            // the parent went on, made its own call while a copy's call was held, and
            // answered with its own message
            assert_eq!(flow, Flow::Respond, "{what}");
            assert_eq!(body(&mut ctx), "<parent-answer/>", "{what}");
            assert_eq!(
                ctx.properties.default.get("PARENT"),
                Some(&Value::String("went-on".into())),
                "{what}"
            );
            let others = host.others.lock().unwrap().clone();
            assert_eq!(others.len(), 1, "{what}: {others:?}");
            let (url, started, ended) = &others[0];
            assert!(url.contains("/parent"), "{what}: {url}");
            // the copies started before the parent's next mediator: all of them in parallel,
            // the first when sequential
            assert_eq!(*started, if sequential { 1 } else { 2 }, "{what}");
            assert_eq!(*ended, 0, "{what}");
            assert_eq!(host.ended.load(Ordering::SeqCst), 0, "{what}");
            // what still runs went to the host, and ends once the backend answers
            assert_eq!(host.detached.load(Ordering::SeqCst), 1, "{what}");
            host.gate.add_permits(10);
            wait_until(&rt, || host.ended.load(Ordering::SeqCst) == 2);
            assert_eq!(host.started.load(Ordering::SeqCst), 2, "{what}");
        }
    }
}

#[test]
fn a_held_host_gets_the_copies_once_the_parent_answered() {
    for mediator in ["clone", "iterate"] {
        let host = Arc::new(Holding::default());
        let e = holding_engine(
            &flow(
                &format!(
                    r#"{}<property name="PARENT" value="went-on"/><respond/>"#,
                    fan_out(mediator, false)
                ),
                "",
            ),
            host.clone(),
        );
        let mut ctx = request(
            "application/xml",
            "<order><item>a</item><item>b</item></order>",
        );
        let rt = rt();
        let flow = rt
            .block_on(e.mediate_flow("in", None, None, &mut ctx))
            .unwrap();
        // the parent went on at once and answered with its own message; the copies, started,
        // were handed to the host
        assert_eq!(flow, Flow::Respond, "{mediator}");
        assert_eq!(
            body(&mut ctx),
            "<order><item>a</item><item>b</item></order>",
            "{mediator}"
        );
        let held: Vec<DetachedWork> = std::mem::take(&mut *host.held.lock().unwrap());
        assert_eq!(held.len(), 1, "{mediator}");
        // run (on the runtime their calls started on), the copies end their calls (their
        // answers go nowhere)
        for w in held {
            rt.block_on(w);
        }
        assert_eq!(host.echo.seen.lock().unwrap().len(), 2, "{mediator}");
        assert_eq!(host.echo.in_flight.load(Ordering::SeqCst), 0, "{mediator}");
    }
}

#[test]
fn a_continue_parent_branch_answers_a_parent_that_gave_no_answer() {
    for sequential in [false, true] {
        let host = Arc::new(Holding::default());
        let e = holding_engine(
            &flow(
                &format!(
                    r#"<iterate expression="//item" continueParent="true" sequential="{sequential}">
                     <target><sequence><call><endpoint><address uri="http://backend.test/item"/></endpoint></call><respond/></sequence></target>
                   </iterate>
                   <call><endpoint><address uri="http://backend.test/parent"/></endpoint></call>
                   <drop/>"#
                ),
                "",
            ),
            host.clone(),
        );
        let mut ctx = request("application/xml", ITEMS);
        let flow = rt()
            .block_on(e.mediate_flow("in", None, None, &mut ctx))
            .unwrap();
        // the parent made its own call beside the copies and ended without an answer: the
        // request waited for the copies, and a copy's answer is the answer
        assert_eq!(flow, Flow::Respond, "sequential={sequential}");
        let seen = host.echo.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 4, "{seen:?}");
        assert!(seen.iter().any(|s| s == ITEMS), "{seen:?}");
        assert!(body(&mut ctx).starts_with("<echo><item>"));
        assert_eq!(host.release(), 0);
    }
}

#[test]
fn a_continue_parent_copy_that_faults_runs_the_handler_and_the_parent_goes_on() {
    // Synapse's copies carry the fault stack, and its Target handles a sequential copy's fault
    // on the copy: the parent goes on either way
    for sequential in [false, true] {
        let echo = Arc::new(Echo::default());
        let e = engine(
            &format!(
                r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
                <sequence name="in" onError="onerr">
                  <clone continueParent="true" sequential="{sequential}">
                    <target><sequence><call><endpoint><address uri="http://backend.test/down"/></endpoint></call></sequence></target>
                    <target><sequence><call><endpoint><address uri="http://backend.test/fine"/></endpoint></call></sequence></target>
                  </clone>
                  <property name="PARENT" value="went-on"/>
                </sequence>
                <sequence name="onerr">
                  <property name="HANDLED" value="yes"/>
                  <payloadFactory media-type="xml"><format><handled xmlns=""/></format><args/></payloadFactory>
                  <call><endpoint><address uri="http://backend.test/handler"/></endpoint></call>
                </sequence>
                </definitions>"#
            ),
            echo.clone(),
        );
        let mut ctx = request("application/xml", ITEMS);
        let r = rt().block_on(e.mediate_flow("in", None, None, &mut ctx));
        let what = format!("sequential={sequential}");
        assert_eq!(r.unwrap(), Flow::Continue, "{what}");
        assert_eq!(
            ctx.properties.default.get("PARENT"),
            Some(&Value::String("went-on".into())),
            "{what}"
        );
        assert!(!ctx.properties.default.contains_key("HANDLED"), "{what}");
        // the handler ran on the faulty copy; the other copy made its call
        let seen = echo.seen.lock().unwrap().clone();
        assert_eq!(
            seen.iter().filter(|s| *s == "<handled/>").count(),
            1,
            "{what}: {seen:?}"
        );
        assert_eq!(
            seen.iter().filter(|s| *s == ITEMS).count(),
            2,
            "{what}: {seen:?}"
        );
    }
}

#[test]
fn an_aggregate_after_a_continue_parent_clone_gathers_the_copies() {
    // Micro Integrator's shape: clone { call } then aggregate in the same sequence; the parent
    // passes the aggregate (it is no copy) and ends without an answer, so the request waits
    // for the copies, which go on after the clone and complete the aggregate
    for sequential in [false, true] {
        let echo = Arc::new(Echo {
            delay_ms: 5,
            ..Echo::default()
        });
        let e = engine(
            &flow(
                &format!(
                    r#"<clone continueParent="true" sequential="{sequential}">
                     <target><sequence><call><endpoint><address uri="http://backend.test/one"/></endpoint></call></sequence></target>
                     <target><sequence><call><endpoint><address uri="http://backend.test/two"/></endpoint></call></sequence></target>
                   </clone>
                   <aggregate>
                     <completeCondition><messageCount min="2" max="-1"/></completeCondition>
                     <onComplete expression="//echo"><respond/></onComplete>
                   </aggregate>
                   <property name="PARENT" value="went-on"/>"#
                ),
                "",
            ),
            echo.clone(),
        );
        let mut ctx = request("application/xml", "<order/>");
        let flow = rt()
            .block_on(e.mediate_flow("in", None, None, &mut ctx))
            .unwrap();
        let what = format!("sequential={sequential}");
        assert_eq!(flow, Flow::Respond, "{what}");
        let Payload::Xml(env) = &ctx.payload else {
            panic!("not XML")
        };
        assert_eq!(env.body.len(), 2, "{what}");
        assert!(env
            .body
            .iter()
            .all(|e| e.to_xml() == "<echo><order/></echo>"));
        assert_eq!(echo.seen.lock().unwrap().len(), 2, "{what}");
    }
}

#[test]
fn a_flow_the_host_goes_on_with_does_not_wait_for_its_copies() {
    // a proxy's in-sequence that ends normally goes on to the proxy's endpoint: the copies
    // beside it are handed off as when it answers
    for sequential in [false, true] {
        let host = Arc::new(Gated::default());
        let mut e = engine(
            &flow(
                &format!(
                    r#"{}<property name="PARENT" value="went-on"/>"#,
                    fan_out("clone", sequential)
                ),
                "",
            ),
            Arc::new(Echo::default()),
        );
        e.invoker = host.clone();
        let rt = rt();
        let mut ctx = request("application/xml", "<order/>");
        ctx.set_host_goes_on();
        let flow = rt
            .block_on(async {
                tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    e.mediate_flow("in", None, None, &mut ctx),
                )
                .await
            })
            .expect("the flow does not wait for the copies' held calls")
            .unwrap();
        let what = format!("sequential={sequential}");
        assert_eq!(flow, Flow::Continue, "{what}");
        assert_eq!(body(&mut ctx), "<order/>", "{what}");
        assert_eq!(
            host.started.load(Ordering::SeqCst),
            1 + usize::from(!sequential)
        );
        assert_eq!(host.detached.load(Ordering::SeqCst), 1, "{what}");
        // it is for that run alone
        assert!(!ctx.st.host_goes_on, "{what}");
        host.gate.add_permits(10);
        wait_until(&rt, || host.ended.load(Ordering::SeqCst) == 2);
    }
}
