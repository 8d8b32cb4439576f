//! `foreach` through the whole engine: Synapse's form (split, mediate in place, merge back;
//! the counter and original-message properties; `drop` ending the loop) and Micro
//! Integrator's (a copy per element, calls out, results in the collection's order or in a
//! variable), and the limits.

use crate::eip_tests::{body, engine, holding_engine, request, rt, Echo, Holding};
use crate::*;
use std::sync::atomic::Ordering;
use synaptic_diag::SourceId;

fn seq(inner: &str) -> String {
    format!(
        r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
        <sequence name="in">{inner}</sequence>
        </definitions>"#
    )
}

fn prop(ctx: &MessageContext, name: &str) -> Option<synaptic_expr::Value> {
    ctx.properties.default.get(name).cloned()
}

#[test]
fn synapse_form_mediates_each_element_in_place_in_the_same_message() {
    let e = engine(
        &seq(r#"<foreach id="f" expression="//item">
              <sequence>
                <property name="LAST" expression="//item"/>
                <payloadFactory media-type="xml">
                  <format><done xmlns="">$1-$2</done></format>
                  <args><arg expression="//item"/><arg expression="get-property('f_FOREACH_COUNTER')"/></args>
                </payloadFactory>
              </sequence>
            </foreach>
            <respond/>"#),
        Arc::new(Echo::default()),
    );
    let mut ctx = request(
        "application/xml",
        "<order><id>7</id><item>a</item><item>b</item><item>c</item></order>",
    );
    let flow = rt().block_on(e.mediate("in", None, &mut ctx)).unwrap();
    assert_eq!(flow, Flow::Respond);
    assert_eq!(
        body(&mut ctx),
        "<order><id>7</id><done>a-0</done><done>b-1</done><done>c-2</done></order>"
    );
    // properties set in the sequence stay on the message; the counter ends at the count
    assert_eq!(prop(&ctx, "LAST"), Some(Value::String("c".into())));
    assert_eq!(prop(&ctx, "f_FOREACH_COUNTER"), Some(Value::Integer(3)));
    match prop(&ctx, "f_FOREACH_ORIGINAL_MESSAGE") {
        Some(Value::Xml(x)) => assert!(x.contains("<item>b</item>"), "{x}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn synapse_form_over_json_replaces_the_array_with_the_results() {
    let e = engine(
        &seq(r#"<foreach expression="json-eval($.items)">
              <sequence>
                <payloadFactory media-type="json">
                  <format>{"m":$1}</format>
                  <args><arg evaluator="json" expression="$.n"/></args>
                </payloadFactory>
              </sequence>
            </foreach>
            <respond/>"#),
        Arc::new(Echo::default()),
    );
    let mut ctx = request("application/json", r#"{"k":"x","items":[{"n":1},{"n":2}]}"#);
    rt().block_on(e.mediate("in", None, &mut ctx)).unwrap();
    let out: serde_json::Value = serde_json::from_str(&body(&mut ctx)).unwrap();
    assert_eq!(out, serde_json::json!({"k":"x","items":[{"m":1},{"m":2}]}));
    assert_eq!(prop(&ctx, "FOREACH_COUNTER"), Some(Value::Integer(2)));
}

#[test]
fn synapse_form_drop_keeps_that_element_and_ends_the_loop_but_not_the_flow() {
    let e = engine(
        &seq(r#"<foreach expression="//item">
              <sequence>
                <filter xpath="//item = 'b'"><then><drop/></then></filter>
                <payloadFactory media-type="xml">
                  <format><done xmlns="">$1</done></format>
                  <args><arg expression="//item"/></args>
                </payloadFactory>
              </sequence>
            </foreach>
            <property name="AFTER" value="yes"/>
            <respond/>"#),
        Arc::new(Echo::default()),
    );
    let mut ctx = request(
        "application/xml",
        "<order><item>a</item><item>b</item><item>c</item></order>",
    );
    rt().block_on(e.mediate("in", None, &mut ctx)).unwrap();
    // as Synapse: the dropped element goes back as it was, the ones after it are not mediated
    // (and, detached, not merged back)
    assert_eq!(
        body(&mut ctx),
        "<order><done>a</done><item>b</item></order>"
    );
    assert_eq!(prop(&ctx, "AFTER"), Some(Value::String("yes".into())));
    assert_eq!(prop(&ctx, "FOREACH_COUNTER"), Some(Value::Integer(2)));
}

#[test]
fn synapse_form_fault_in_the_sequence_goes_to_the_flows_handler() {
    let e = engine(
        r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
        <sequence name="in" onError="err">
          <foreach expression="//item"><sequence><script language="js"><![CDATA[throw new Error('bad item');]]></script></sequence></foreach>
        </sequence>
        <sequence name="err"><property name="HANDLED" value="yes"/><respond/></sequence>
        </definitions>"#,
        Arc::new(Echo::default()),
    );
    let mut ctx = request("application/xml", "<order><item>a</item></order>");
    let flow = rt().block_on(e.mediate("in", None, &mut ctx)).unwrap();
    assert_eq!(flow, Flow::Respond);
    assert_eq!(prop(&ctx, "HANDLED"), Some(Value::String("yes".into())));
}

#[test]
fn collection_form_calls_out_per_element_and_updates_the_original_in_order() {
    for parallel in [true, false] {
        let echo = Arc::new(Echo {
            delay_ms: 10,
            ..Echo::default()
        });
        let e = engine(
            &seq(&format!(
                r#"<foreach collection="${{payload.items}}" parallel-execution="{parallel}">
                  <sequence>
                    <call><endpoint><address uri="http://backend.test/item"/></endpoint></call>
                  </sequence>
                </foreach>
                <respond/>"#
            )),
            echo.clone(),
        );
        let mut ctx = request("application/json", r#"{"k":1,"items":[1,2,3]}"#);
        rt().block_on(e.mediate("in", None, &mut ctx)).unwrap();
        let out: serde_json::Value = serde_json::from_str(&body(&mut ctx)).unwrap();
        assert_eq!(
            out,
            serde_json::json!({"k":1,"items":[{"echo":1},{"echo":2},{"echo":3}]}),
            "parallel={parallel}"
        );
        let most = echo.max_in_flight.load(Ordering::SeqCst);
        assert_eq!(most, if parallel { 3 } else { 1 });
    }
}

#[test]
fn collection_form_gathers_into_a_variable_and_leaves_the_body() {
    let e = engine(
        &seq(
            r#"<foreach collection="${payload.items}" parallel-execution="false"
                 update-original="false" target-variable="out" result-content-type="JSON"
                 counter-variable="i">
              <sequence>
                <payloadFactory media-type="json" template-type="default">
                  <format>{"n":"${payload.n}","at":${vars.i}}</format>
                </payloadFactory>
              </sequence>
            </foreach>
            <respond/>"#,
        ),
        Arc::new(Echo::default()),
    );
    let input = r#"{"items":[{"n":"a"},{"n":"b"}]}"#;
    let mut ctx = request("application/json", input);
    rt().block_on(e.mediate("in", None, &mut ctx)).unwrap();
    assert_eq!(
        ctx.st.variables.get("out"),
        Some(&Value::Json(
            serde_json::json!([{"n":"a","at":0},{"n":"b","at":1}])
        ))
    );
    let out: serde_json::Value = serde_json::from_str(&body(&mut ctx)).unwrap();
    assert_eq!(
        out,
        serde_json::from_str::<serde_json::Value>(input).unwrap()
    );
}

#[test]
fn collection_form_gathers_xml_results_under_the_enclosing_element() {
    let e = engine(
        &seq(
            r#"<foreach collection="${xpath('//item')}" update-original="false"
                 target-variable="out" result-content-type="XML" result-enclosing-element="all">
              <sequence>
                <payloadFactory media-type="xml">
                  <format><r xmlns="">$1</r></format>
                  <args><arg expression="//item"/></args>
                </payloadFactory>
              </sequence>
            </foreach>
            <respond/>"#,
        ),
        Arc::new(Echo::default()),
    );
    let mut ctx = request(
        "application/xml",
        "<order><item>a</item><item>b</item></order>",
    );
    rt().block_on(e.mediate("in", None, &mut ctx)).unwrap();
    assert_eq!(
        ctx.st.variables.get("out"),
        Some(&Value::Xml("<all><r>a</r><r>b</r></all>".into()))
    );
}

#[test]
fn collection_form_over_xml_updates_the_original_elements() {
    let e = engine(
        &seq(
            r#"<foreach collection="${xpath('//item')}" parallel-execution="true">
              <sequence>
                <payloadFactory media-type="xml">
                  <format><r xmlns="">$1</r></format>
                  <args><arg expression="//item"/></args>
                </payloadFactory>
              </sequence>
            </foreach>
            <respond/>"#,
        ),
        Arc::new(Echo::default()),
    );
    let mut ctx = request(
        "application/xml",
        "<order><item>a</item><id>1</id><item>b</item></order>",
    );
    rt().block_on(e.mediate("in", None, &mut ctx)).unwrap();
    assert_eq!(body(&mut ctx), "<order><id>1</id><r>a</r><r>b</r></order>");
}

#[test]
fn more_elements_than_the_branch_limit_is_a_limit_error() {
    for xml in [
        r#"<foreach expression="//item"><sequence><log/></sequence></foreach>"#,
        r#"<foreach collection="${xpath('//item')}"><sequence><log/></sequence></foreach>"#,
    ] {
        let mut e = engine(&seq(xml), Arc::new(Echo::default()));
        e.limits.max_branches = 2;
        let mut ctx = request(
            "application/xml",
            "<order><item>a</item><item>b</item><item>c</item></order>",
        );
        let err = rt().block_on(e.mediate("in", None, &mut ctx)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Limit, "{err:?}");
    }
}

#[test]
fn a_json_path_that_is_not_an_array_faults() {
    let e = engine(
        &seq(r#"<foreach expression="json-eval($.k)"><sequence><log/></sequence></foreach>"#),
        Arc::new(Echo::default()),
    );
    let mut ctx = request("application/json", r#"{"k":1}"#);
    let err = rt().block_on(e.mediate("in", None, &mut ctx)).unwrap_err();
    assert!(err.message.contains("not a valid JSON array"), "{err:?}");
}

#[test]
fn a_referenced_sequence_that_calls_out_is_refused_for_the_synapse_form() {
    let xml = r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
        <sequence name="in"><foreach expression="//item" sequence="each"/></sequence>
        <sequence name="each"><call/></sequence>
        </definitions>"#;
    let p = synaptic_syntax::parse_artifact(SourceId(0), xml);
    let (prog, diags) = compile(std::slice::from_ref(&p.tree), &CompileOptions::default());
    assert!(prog.is_none());
    assert!(diags.iter().any(|d| d.code.id == "E0353"), "{diags:?}");
}

#[test]
fn continue_loop_on_failure_skips_a_failed_json_member_and_keeps_a_failed_xml_element() {
    let script = r#"<script language="js"><![CDATA[
        var p = mc.getPayloadJSON();
        if (p.name == 'bad') { throw new Error('bad member'); }
        mc.setPayloadJSON({"ok": p.name});
      ]]></script>"#;
    let e = engine(
        &seq(&format!(
            r#"<foreach expression="json-eval($.info)" continueLoopOnFailure="true">
              <sequence>{script}</sequence>
            </foreach>
            <respond/>"#
        )),
        Arc::new(Echo::default()),
    );
    let mut ctx = request(
        "application/json",
        r#"{"info":[{"name":"a"},{"name":"bad"},{"name":"c"}]}"#,
    );
    let flow = rt().block_on(e.mediate("in", None, &mut ctx)).unwrap();
    assert_eq!(flow, Flow::Respond);
    let out: serde_json::Value = serde_json::from_str(&body(&mut ctx)).unwrap();
    assert_eq!(out, serde_json::json!({"info":[{"ok":"a"},{"ok":"c"}]}));
    assert_eq!(prop(&ctx, "FOREACH_COUNTER"), Some(Value::Integer(2)));

    // XML: the failed element goes back as it was, and is counted
    let e = engine(
        &seq(
            r#"<foreach expression="//info" continueLoopOnFailure="true">
              <sequence>
                <script language="js"><![CDATA[
                  if (mc.getPayloadXML().indexOf('bad') >= 0) { throw new Error('bad element'); }
                ]]></script>
                <payloadFactory media-type="xml">
                  <format><ok xmlns="">$1</ok></format>
                  <args><arg expression="//name"/></args>
                </payloadFactory>
              </sequence>
            </foreach>
            <respond/>"#,
        ),
        Arc::new(Echo::default()),
    );
    let mut ctx = request(
        "application/xml",
        "<r><info><name>a</name></info><info><name>bad</name></info><info><name>c</name></info></r>",
    );
    rt().block_on(e.mediate("in", None, &mut ctx)).unwrap();
    assert_eq!(
        body(&mut ctx),
        "<r><ok>a</ok><info><name>bad</name></info><ok>c</ok></r>"
    );
    assert_eq!(prop(&ctx, "FOREACH_COUNTER"), Some(Value::Integer(3)));
}

#[test]
fn synapse_form_over_json_takes_members_of_any_type_and_a_root_array() {
    for (expr, input) in [
        (
            "json-eval($.getQuote)",
            r#"{"getQuote":["check",{"hello":"world"},true,1]}"#,
        ),
        ("json-eval($)", r#"[{"a":1},"two",[3],null]"#),
    ] {
        let e = engine(
            &seq(&format!(
                r#"<foreach expression="{expr}"><sequence><log level="full"/></sequence></foreach>
                <respond/>"#
            )),
            Arc::new(Echo::default()),
        );
        let mut ctx = request("application/json", input);
        rt().block_on(e.mediate("in", None, &mut ctx)).unwrap();
        let out: serde_json::Value = serde_json::from_str(&body(&mut ctx)).unwrap();
        let want: serde_json::Value = serde_json::from_str(input).unwrap();
        assert_eq!(out, want, "{expr}");
    }
}

#[test]
fn collection_form_over_an_empty_collection_goes_on_without_a_result() {
    let e = engine(
        &seq(
            r#"<foreach collection="${payload.items}" update-original="false"
                 target-variable="out" result-content-type="JSON">
              <sequence><log/></sequence>
            </foreach>
            <respond/>"#,
        ),
        Arc::new(Echo::default()),
    );
    let mut ctx = request("application/json", r#"{"items":[]}"#);
    let flow = rt().block_on(e.mediate("in", None, &mut ctx)).unwrap();
    assert_eq!(flow, Flow::Respond);
    assert_eq!(ctx.st.variables.get("out"), None);
    // a collection that is not an array faults
    let mut ctx = request("application/json", r#"{"items":{"a":1}}"#);
    let err = rt().block_on(e.mediate("in", None, &mut ctx)).unwrap_err();
    assert!(
        err.message.contains("did not resolve to a valid array"),
        "{err:?}"
    );
}

#[test]
fn a_dropped_copy_gives_no_result_and_respond_in_place_answers_with_the_element() {
    let body_of = |gather: &str, input: &str| {
        let e = engine(
            &seq(&format!(
                r#"<foreach collection="${{payload.items}}" parallel-execution="false" {gather}>
                  <sequence>
                    <filter source="json-eval($.n)" regex="2"><then><drop/></then></filter>
                    <payloadFactory media-type="json"><format>{{"done":$1}}</format>
                      <args><arg evaluator="json" expression="$.n"/></args></payloadFactory>
                  </sequence>
                </foreach>
                <respond/>"#
            )),
            Arc::new(Echo::default()),
        );
        let mut ctx = request("application/json", input);
        rt().block_on(e.mediate("in", None, &mut ctx)).unwrap();
        ctx
    };
    let input = r#"{"items":[{"n":1},{"n":2},{"n":3}]}"#;
    let mut ctx = body_of("", input);
    let out: serde_json::Value = serde_json::from_str(&body(&mut ctx)).unwrap();
    assert_eq!(
        out,
        serde_json::json!({"items":[{"done":1},{"n":2},{"done":3}]})
    );
    let ctx = body_of(
        r#"update-original="false" target-variable="out" result-content-type="JSON""#,
        input,
    );
    assert_eq!(
        ctx.st.variables.get("out"),
        Some(&Value::Json(
            serde_json::json!([{"done":1},null,{"done":3}])
        ))
    );

    // Synapse's form: <respond/> answers with the element being mediated
    let e = engine(
        &seq(r#"<foreach expression="//item">
              <sequence><filter xpath="//item = 'b'"><then><respond/></then></filter></sequence>
            </foreach>
            <property name="AFTER" value="yes"/>"#),
        Arc::new(Echo::default()),
    );
    let mut ctx = request(
        "application/xml",
        "<order><item>a</item><item>b</item><item>c</item></order>",
    );
    let flow = rt().block_on(e.mediate("in", None, &mut ctx)).unwrap();
    assert_eq!(flow, Flow::Respond);
    assert_eq!(body(&mut ctx), "<item>b</item>");
    assert_eq!(prop(&ctx, "AFTER"), None);
}

const DETACHED: &str = r#"<foreach collection="${payload.items}" parallel-execution="PAR" continue-without-aggregation="true">
      <sequence>
        <call><endpoint><address uri="http://backend.test/item"/></endpoint></call>
        <property name="COPY" value="done"/>
      </sequence>
    </foreach>
    <property name="AFTER" value="went-on"/>
    <respond/>"#;

#[test]
fn continue_without_aggregation_goes_on_before_the_copies_run() {
    for parallel in [true, false] {
        let host = Arc::new(Holding::default());
        let e = holding_engine(
            &seq(&DETACHED.replace("PAR", &parallel.to_string())),
            host.clone(),
        );
        let input = r#"{"k":1,"items":[1,2,3]}"#;
        let mut ctx = request("application/json", input);
        let flow = rt().block_on(e.mediate("in", None, &mut ctx)).unwrap();
        // the flow went on and answered with the message as it was; no copy has run
        assert_eq!(flow, Flow::Respond);
        assert_eq!(prop(&ctx, "AFTER"), Some(Value::String("went-on".into())));
        assert_eq!(prop(&ctx, "COPY"), None);
        let out: serde_json::Value = serde_json::from_str(&body(&mut ctx)).unwrap();
        assert_eq!(out, serde_json::json!({"k":1,"items":[1,2,3]}));
        assert!(host.echo.seen.lock().unwrap().is_empty());
        // released, the copies make their calls (all at once when parallel)
        assert_eq!(host.release(), 1);
        let mut seen = host.echo.seen.lock().unwrap().clone();
        seen.sort();
        assert_eq!(seen, ["1", "2", "3"], "parallel={parallel}");
        let most = host.echo.max_in_flight.load(Ordering::SeqCst);
        assert_eq!(most, if parallel { 3 } else { 1 }, "parallel={parallel}");
    }
}

#[test]
fn continue_without_aggregation_runs_in_place_when_the_host_refuses() {
    let host = Arc::new(Holding {
        refuse: true,
        ..Holding::default()
    });
    let e = holding_engine(&seq(&DETACHED.replace("PAR", "true")), host.clone());
    let mut ctx = request("application/json", r#"{"items":[1,2]}"#);
    let flow = rt().block_on(e.mediate("in", None, &mut ctx)).unwrap();
    assert_eq!(flow, Flow::Respond);
    // the copies ran before the flow went on; the message is still the original
    assert_eq!(host.echo.seen.lock().unwrap().len(), 2);
    assert_eq!(prop(&ctx, "COPY"), None);
    let out: serde_json::Value = serde_json::from_str(&body(&mut ctx)).unwrap();
    assert_eq!(out, serde_json::json!({"items":[1,2]}));
}

#[test]
fn a_fault_in_a_detached_copy_goes_to_its_handler_and_never_to_the_flow() {
    let host = Arc::new(Holding::default());
    let e = holding_engine(
        r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
        <sequence name="in" onError="err">
          <foreach collection="${payload.items}" continue-without-aggregation="true">
            <sequence>
              <filter source="${payload}" regex="2"><then><script language="js"><![CDATA[throw new Error('bad item');]]></script></then></filter>
              <call><endpoint><address uri="http://backend.test/item"/></endpoint></call>
            </sequence>
          </foreach>
          <property name="AFTER" value="went-on"/>
          <respond/>
        </sequence>
        <sequence name="err">
          <payloadFactory media-type="json"><format>{"handled":"$1"}</format><args><arg expression="get-property('ERROR_MESSAGE')"/></args></payloadFactory>
          <call><endpoint><address uri="http://backend.test/handled"/></endpoint></call>
          <respond/>
        </sequence>
        </definitions>"#,
        host.clone(),
    );
    let mut ctx = request("application/json", r#"{"items":[1,2,3]}"#);
    let flow = rt().block_on(e.mediate("in", None, &mut ctx)).unwrap();
    assert_eq!(flow, Flow::Respond);
    assert_eq!(prop(&ctx, "AFTER"), Some(Value::String("went-on".into())));
    assert_eq!(prop(&ctx, "ERROR_MESSAGE"), None);
    host.release();
    // copies 1 and 3 called the backend; copy 2 failed and its handler ran on it (its
    // answer goes nowhere)
    let mut seen = host.echo.seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[..2], ["1", "3"]);
    assert!(
        seen[2].contains("handled") && seen[2].contains("bad item"),
        "{seen:?}"
    );
}

#[test]
fn an_empty_collection_detaches_nothing() {
    let host = Arc::new(Holding::default());
    let e = holding_engine(&seq(&DETACHED.replace("PAR", "true")), host.clone());
    let mut ctx = request("application/json", r#"{"items":[]}"#);
    let flow = rt().block_on(e.mediate("in", None, &mut ctx)).unwrap();
    assert_eq!(flow, Flow::Respond);
    assert_eq!(host.release(), 0);
}
