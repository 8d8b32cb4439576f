//! `scatter-gather` through the whole engine: copies into each sequence (calling out), the
//! results gathered in the order the copies finish (in sequence order when not parallel), into
//! the body or a variable, as JSON or XML; `condition`, `max-messages` and `timeout`.

use crate::eip_tests::{body, engine, request, rt, Echo};
use crate::*;
use std::sync::atomic::Ordering;

fn seq(inner: &str) -> String {
    format!(
        r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
        <sequence name="in">{inner}</sequence>
        </definitions>"#
    )
}

const CALL_SLOW: &str = r#"<sequence><call><endpoint><address uri="http://backend.test/slow"/></endpoint></call></sequence>"#;
const CALL_FAST: &str = r#"<sequence><call><endpoint><address uri="http://backend.test/fast"/></endpoint></call></sequence>"#;

fn echo(slow_ms: u64) -> Arc<Echo> {
    Arc::new(Echo {
        delay_ms: 5,
        slow_ms,
        ..Echo::default()
    })
}

#[test]
fn copies_run_in_parallel_and_are_gathered_as_they_finish_into_the_body() {
    for (parallel, order, most) in [(true, ["fast", "slow"], 2), (false, ["slow", "fast"], 1)] {
        let backend = echo(60);
        let e = engine(
            &seq(&format!(
                r#"<property name="BEFORE" value="kept"/>
                <scatter-gather parallel-execution="{parallel}" target="body" result-content-type="JSON">
                  <aggregation expression="${{payload}}"/>
                  <sequence>
                    <payloadFactory media-type="json"><format>{{"who":"slow"}}</format><args/></payloadFactory>
                    <call><endpoint><address uri="http://backend.test/slow"/></endpoint></call>
                  </sequence>
                  <sequence>
                    <payloadFactory media-type="json"><format>{{"who":"fast"}}</format><args/></payloadFactory>
                    <call><endpoint><address uri="http://backend.test/fast"/></endpoint></call>
                  </sequence>
                </scatter-gather>
                <respond/>"#
            )),
            backend.clone(),
        );
        let mut ctx = request("application/json", r#"{"q":1}"#);
        rt().block_on(e.mediate("in", None, &mut ctx)).unwrap();
        let out: serde_json::Value = serde_json::from_str(&body(&mut ctx)).unwrap();
        let want: Vec<serde_json::Value> = order
            .iter()
            .map(|w| serde_json::json!({"echo":{"who":w}}))
            .collect();
        assert_eq!(out, serde_json::Value::Array(want), "parallel={parallel}");
        assert_eq!(backend.max_in_flight.load(Ordering::SeqCst), most);
        assert_eq!(
            ctx.properties.default.get("BEFORE"),
            Some(&Value::String("kept".into()))
        );
    }
}

#[test]
fn xml_results_go_to_a_variable_and_the_body_stays() {
    let e = engine(
        &seq(&format!(
            r#"<scatter-gather target="variable" target-variable="all" result-content-type="XML"
                    result-enclosing-element="results">
              <aggregation expression="$body/*"/>
              {CALL_FAST}
              {CALL_FAST}
            </scatter-gather>
            <respond/>"#
        )),
        echo(0),
    );
    let mut ctx = request("application/xml", "<q>1</q>");
    rt().block_on(e.mediate("in", None, &mut ctx)).unwrap();
    assert_eq!(
        ctx.st.variables.get("all"),
        Some(&Value::Xml(
            "<results><echo><q>1</q></echo><echo><q>1</q></echo></results>".into()
        ))
    );
    assert_eq!(body(&mut ctx), "<q>1</q>");
}

#[test]
fn only_copies_meeting_the_condition_are_gathered() {
    let e = engine(
        &seq(r#"<scatter-gather target="body" result-content-type="JSON">
              <aggregation expression="${payload.n}" condition="${payload.ok}"/>
              <sequence><payloadFactory media-type="json"><format>{"ok":true,"n":1}</format><args/></payloadFactory></sequence>
              <sequence><payloadFactory media-type="json"><format>{"ok":false,"n":2}</format><args/></payloadFactory></sequence>
              <sequence><payloadFactory media-type="json"><format>{"ok":"TRUE","n":3}</format><args/></payloadFactory></sequence>
            </scatter-gather>
            <respond/>"#),
        echo(0),
    );
    let mut ctx = request("application/json", "{}");
    rt().block_on(e.mediate("in", None, &mut ctx)).unwrap();
    let out: serde_json::Value = serde_json::from_str(&body(&mut ctx)).unwrap();
    assert_eq!(out, serde_json::json!([1, 3]));
}

#[test]
fn max_messages_and_timeout_complete_with_what_has_arrived() {
    for agg in [
        r#"<aggregation expression="${payload}" max-messages="1"/>"#,
        r#"<aggregation expression="${payload}" timeout="150"/>"#,
    ] {
        let backend = echo(2_000);
        let e = engine(
            &seq(&format!(
                r#"<scatter-gather target="body" result-content-type="JSON">
                  {agg}
                  {CALL_SLOW}
                  {CALL_FAST}
                </scatter-gather>
                <respond/>"#
            )),
            backend.clone(),
        );
        let mut ctx = request("application/json", r#"{"q":1}"#);
        rt().block_on(e.mediate("in", None, &mut ctx)).unwrap();
        let out: serde_json::Value = serde_json::from_str(&body(&mut ctx)).unwrap();
        assert_eq!(out, serde_json::json!([{"echo":{"q":1}}]), "{agg}");
        // the slow copy was cancelled, not waited for
        assert_eq!(backend.seen.lock().unwrap().len(), 2);
    }
}

#[test]
fn a_fault_in_a_copy_is_the_flows_fault() {
    let e = engine(
        &seq(&format!(
            r#"<scatter-gather target="body" result-content-type="JSON">
              <aggregation expression="${{payload}}"/>
              <sequence><call><endpoint><address uri="http://backend.test/down"/></endpoint></call></sequence>
              {CALL_FAST}
            </scatter-gather>
            <respond/>"#
        )),
        echo(0),
    );
    let mut ctx = request("application/json", r#"{"q":1}"#);
    assert!(rt().block_on(e.mediate("in", None, &mut ctx)).is_err());
}

#[test]
fn the_flow_goes_on_with_the_last_gathered_copy_and_a_dropped_copy_is_left_out() {
    let e = engine(
        &seq(
            r#"<scatter-gather parallel-execution="false" target="body" result-content-type="JSON">
              <aggregation expression="${payload.n}"/>
              <sequence><property name="WHO" value="first"/><payloadFactory media-type="json"><format>{"n":1}</format><args/></payloadFactory></sequence>
              <sequence><property name="WHO" value="second"/><drop/></sequence>
              <sequence><property name="WHO" value="third"/><payloadFactory media-type="json"><format>{"n":3}</format><args/></payloadFactory></sequence>
            </scatter-gather>
            <respond/>"#,
        ),
        echo(0),
    );
    let mut ctx = request("application/json", "{}");
    rt().block_on(e.mediate("in", None, &mut ctx)).unwrap();
    let out: serde_json::Value = serde_json::from_str(&body(&mut ctx)).unwrap();
    assert_eq!(out, serde_json::json!([1, 3]));
    assert_eq!(
        ctx.properties.default.get("WHO"),
        Some(&Value::String("third".into()))
    );
}

/// Run a scatter-gather of a slow and a fast copy with `agg` as its `<aggregation>`, after
/// `before` (mediators setting what the bounds read).
fn gather_with(before: &str, agg: &str, slow_ms: u64) -> (Result<Flow, MediationError>, String) {
    let backend = echo(slow_ms);
    let e = engine(
        &seq(&format!(
            r#"{before}
            <scatter-gather target="body" result-content-type="JSON">
              {agg}
              {CALL_SLOW}
              {CALL_FAST}
            </scatter-gather>
            <respond/>"#
        )),
        backend,
    );
    let mut ctx = request("application/json", r#"{"q":1,"n":"1"}"#);
    let r = rt().block_on(e.mediate("in", None, &mut ctx));
    let out = if r.is_ok() {
        body(&mut ctx)
    } else {
        String::new()
    };
    (r, out)
}

#[test]
fn min_and_max_messages_written_as_expressions_are_read_on_the_first_copy_gathered() {
    for (before, agg) in [
        (
            r#"<variable name="n" type="INTEGER" value="1"/>"#,
            r#"<aggregation expression="${payload}" max-messages="{${vars.n}}"/>"#,
        ),
        (
            r#"<property name="n" value=" 1.9 "/>"#,
            r#"<aggregation expression="${payload}" min-messages="{get-property('n')}"/>"#,
        ),
        // read on the copy: its answer echoes the request, `{"echo":{"q":1,"n":"1"}}`
        (
            "",
            r#"<aggregation expression="${payload}" max-messages="{json-eval($.echo.n)}"/>"#,
        ),
    ] {
        let (r, out) = gather_with(before, agg, 2_000);
        assert_eq!(r.unwrap(), Flow::Respond, "{agg}");
        let out: serde_json::Value = serde_json::from_str(&out).unwrap();
        // one copy completed the aggregation: the slow one was not waited for
        assert_eq!(out, serde_json::json!([{"echo":{"q":1,"n":"1"}}]), "{agg}");
    }
}

#[test]
fn a_bound_of_zero_or_less_is_no_bound_and_one_not_a_number_faults() {
    for n in ["-1", "0"] {
        let (r, out) = gather_with(
            &format!(r#"<property name="n" value="{n}"/>"#),
            r#"<aggregation expression="${payload}" max-messages="{get-property('n')}"/>"#,
            60,
        );
        assert_eq!(r.unwrap(), Flow::Respond);
        let out: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(out.as_array().map(Vec::len), Some(2), "n={n}: {out}");
    }
    for before in [r#"<property name="n" value="many"/>"#, ""] {
        let (r, _) = gather_with(
            before,
            r#"<aggregation expression="${payload}" min-messages="{get-property('n')}"/>"#,
            60,
        );
        let err = r.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Fault);
        assert!(
            err.message
                .contains(r#"<aggregation min-messages="{get-property('n')}"> gave"#)
                && err.message.contains("not a number"),
            "{}",
            err.message
        );
    }
}

#[test]
fn a_bound_expression_is_compiled_when_loaded() {
    for (agg, code) in [
        (r#"max-messages="{${vars.}}""#, "E0230"),
        (r#"min-messages="{count(}""#, "E0201"),
        (r#"min-messages="${vars.n}""#, "E0352"),
    ] {
        let text = seq(&format!(
            r#"<scatter-gather target="body" result-content-type="JSON">
              <aggregation expression="${{payload}}" {agg}/>
              {CALL_FAST}
            </scatter-gather>"#
        ));
        let p = synaptic_syntax::parse_artifact(synaptic_diag::SourceId(0), &text);
        let (_, diags) = compile(std::slice::from_ref(&p.tree), &CompileOptions::default());
        let codes: Vec<&str> = p
            .diagnostics
            .iter()
            .chain(&diags)
            .map(|d| d.code.id)
            .collect();
        assert_eq!(codes, vec![code], "{agg}");
    }
}
