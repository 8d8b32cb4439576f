//! Micro Integrator 4.4's script arguments and results: `<inputs>` evaluated on each message
//! and passed after `mc` (typed as a `<variable>`'s value is), the function's return value
//! written to `target=` (`body`, `variable` with `target-variable=`, `none`).

use crate::*;

use crate::test_support::{compiled, engine_of, request, rt};

const MATH: &str = r#"<localEntry key="math.js"><![CDATA[
function sum(mc, a, b) { return a + b; }
function kinds(mc, s, i, d, b, j, x, n) {
  return [typeof s, typeof i, typeof d, typeof b, typeof j, typeof x, n === null ? 'null' : typeof n];
}
function echo(mc, v) { return v; }
function obj(mc, name, n) { return { name: name, n: n, list: [1, 2.5, 'x'], nested: { ok: true } }; }
function nothing(mc) { }
function no(mc) { return false; }
function text(mc) { return '{"from":"text"}'; }
function notJson(mc) { return 'plain words'; }
function fn(mc) { return function () {}; }
function touch(mc, v) { mc.setProperty('TOUCHED', v); return 'done'; }
]]></localEntry>"#;

fn defs(main: &str) -> String {
    format!(
        r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
  {MATH}
  <sequence name="main" onError="err">{main}<property name="AFTER" value="yes"/></sequence>
  <sequence name="err"><property name="SEEN" expression="get-property('ERROR_MESSAGE')"/><drop/></sequence>
</definitions>"#
    )
}

fn run(main: &str, ct: &str, body: &str) -> MessageContext {
    let e = engine_of(&defs(main));
    let mut ctx = request(ct, body);
    rt().block_on(e.mediate("main", None, &mut ctx)).unwrap();
    ctx
}

fn var(ctx: &MessageContext, name: &str) -> Option<Value> {
    ctx.st.variables.get(name).cloned()
}

fn prop(ctx: &MessageContext, name: &str) -> Option<String> {
    match ctx.properties.default.get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(format!("{other:?}")),
        None => None,
    }
}

#[test]
fn arguments_from_expressions_and_literals_reach_the_function_and_the_result_a_variable() {
    let mut ctx = run(
        r#"<script language="js" key="math.js" function="sum" target="variable" target-variable="total">
             <inputs>
               <argument name="a" type="INTEGER" expression="${payload.a}"/>
               <argument name="b" type="INTEGER" value="20"/>
             </inputs>
           </script>"#,
        "application/json",
        r#"{"a":22}"#,
    );
    assert_eq!(var(&ctx, "total"), Some(Value::Integer(42)));
    assert_eq!(prop(&ctx, "AFTER").as_deref(), Some("yes"));
    // the body is untouched
    let (b, _) = ctx.body_bytes().unwrap();
    assert_eq!(String::from_utf8_lossy(&b), r#"{"a":22}"#);
}

#[test]
fn strings_concatenate_when_no_type_is_given() {
    // `value=` without a type is a string, as in Micro Integrator
    let ctx = run(
        r#"<script language="js" key="math.js" function="sum" target="variable" target-variable="total">
             <inputs><argument name="a" value="1"/><argument name="b" value="2"/></inputs>
           </script>"#,
        "application/json",
        "{}",
    );
    assert_eq!(var(&ctx, "total"), Some(Value::String("12".into())));
}

#[test]
fn each_type_arrives_as_its_javascript_kind() {
    let ctx = run(
        r#"<variable name="v" value='{"k":[1,2]}' type="JSON"/>
           <script language="js" key="math.js" function="kinds" target="variable" target-variable="k">
             <inputs>
               <argument name="s" type="STRING" expression="${payload.n}"/>
               <argument name="i" type="LONG" value="12345678901"/>
               <argument name="d" type="DOUBLE" value="1.5"/>
               <argument name="b" type="BOOLEAN" value="true"/>
               <argument name="j" expression="${vars.v}"/>
               <argument name="x" type="XML" value="&lt;a&gt;1&lt;/a&gt;"/>
               <argument name="n" expression="${payload.missing}"/>
             </inputs>
           </script>"#,
        "application/json",
        r#"{"n":7}"#,
    );
    assert_eq!(
        var(&ctx, "k"),
        Some(Value::Json(serde_json::json!([
            "string", "number", "number", "boolean", "object", "string", "null"
        ])))
    );
}

#[test]
fn json_arguments_are_javascript_values_and_objects_come_back_as_json() {
    let mut ctx = run(
        r#"<script language="js" key="math.js" function="obj" target="body">
             <inputs>
               <argument name="name" expression="${payload.user.name}"/>
               <argument name="n" expression="${payload.user.n * 2}"/>
             </inputs>
           </script>"#,
        "application/json",
        r#"{"user":{"name":"ann","n":4}}"#,
    );
    let (b, ct) = ctx.body_bytes().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&b),
        r#"{"name":"ann","n":8,"list":[1,2.5,"x"],"nested":{"ok":true}}"#
    );
    assert_eq!(ct.as_deref(), Some("application/json"));
    let ctx = run(
        r#"<script language="js" key="math.js" function="echo" target="variable" target-variable="u">
             <inputs><argument name="v" expression="${payload.user}"/></inputs>
           </script>"#,
        "application/json",
        r#"{"user":{"name":"ann","n":4}}"#,
    );
    assert_eq!(
        var(&ctx, "u"),
        Some(Value::Json(serde_json::json!({"name":"ann","n":4})))
    );
}

#[test]
fn an_xpath_argument_is_its_text_converted_to_the_type() {
    let ctx = run(
        r#"<script language="js" key="math.js" function="sum" target="variable" target-variable="total">
             <inputs>
               <argument name="a" type="DOUBLE" expression="//a"/>
               <argument name="b" type="DOUBLE" expression="count(//a)"/>
             </inputs>
           </script>"#,
        "application/xml",
        "<in><a>1.5</a></in>",
    );
    assert_eq!(var(&ctx, "total"), Some(Value::Number(2.5)));
    let ctx = run(
        r#"<script language="js" key="math.js" function="sum" target="variable" target-variable="total">
             <inputs>
               <argument name="a" type="INTEGER" expression="//a"/>
               <argument name="b" type="INTEGER" expression="//b"/>
             </inputs>
           </script>"#,
        "application/xml",
        "<in><a>3</a><b>4</b></in>",
    );
    assert_eq!(var(&ctx, "total"), Some(Value::Integer(7)));
}

#[test]
fn a_string_result_is_json_text_for_the_body_and_a_string_for_a_variable() {
    let ctx = run(
        r#"<script language="js" key="math.js" function="text" target="body"/>"#,
        "application/xml",
        "<in/>",
    );
    assert_eq!(
        ctx.payload,
        synaptic_payload::Payload::Json(serde_json::json!({"from":"text"}))
    );
    let ctx = run(
        r#"<script language="js" key="math.js" function="text" target="variable" target-variable="t"/>"#,
        "application/json",
        "{}",
    );
    assert_eq!(
        var(&ctx, "t"),
        Some(Value::String(r#"{"from":"text"}"#.into()))
    );
}

#[test]
fn with_a_target_false_does_not_stop_the_flow_and_none_drops_the_result() {
    let ctx = run(
        r#"<script language="js" key="math.js" function="no" target="variable" target-variable="r"/>"#,
        "application/json",
        "{}",
    );
    assert_eq!(var(&ctx, "r"), Some(Value::Boolean(false)));
    assert_eq!(prop(&ctx, "AFTER").as_deref(), Some("yes"));
    // target="none": nothing is written, even for undefined, and mc's changes stay
    let mut ctx = run(
        r#"<script language="js" key="math.js" function="touch" target="none">
             <inputs><argument name="v" value="7" type="INTEGER"/></inputs>
           </script>"#,
        "application/json",
        r#"{"a":1}"#,
    );
    assert_eq!(prop(&ctx, "TOUCHED").as_deref(), Some("Integer(7)"));
    assert_eq!(prop(&ctx, "AFTER").as_deref(), Some("yes"));
    let (b, _) = ctx.body_bytes().unwrap();
    assert_eq!(String::from_utf8_lossy(&b), r#"{"a":1}"#);
    let ctx = run(
        r#"<script language="js" key="math.js" function="nothing" target="none"/>"#,
        "application/json",
        "{}",
    );
    assert_eq!(prop(&ctx, "AFTER").as_deref(), Some("yes"));
    // without a target, false still stops the mediation
    let ctx = run(
        r#"<script language="js" key="math.js" function="no"/>"#,
        "application/json",
        "{}",
    );
    assert_eq!(prop(&ctx, "AFTER"), None);
}

#[test]
fn a_missing_result_a_bad_type_or_a_non_json_body_faults() {
    for (main, want) in [
        (
            r#"<script language="js" key="math.js" function="nothing" target="variable" target-variable="r"/>"#,
            "Return object is null. Cannot set null object to the target : variable",
        ),
        (
            r#"<script language="js" key="math.js" function="nothing" target="body"/>"#,
            "Cannot set null object to the target : body",
        ),
        (
            r#"<script language="js" key="math.js" function="notJson" target="body"/>"#,
            "not JSON text",
        ),
        (
            r#"<script language="js" key="math.js" function="fn" target="variable" target-variable="r"/>"#,
            "Return object type is not supported",
        ),
        (
            r#"<script language="js" key="math.js" function="sum" target="variable" target-variable="r">
                 <inputs><argument name="a" type="INTEGER" expression="${payload.s}"/></inputs>
               </script>"#,
            "script argument `a`: the expression's value is not of type INTEGER",
        ),
    ] {
        let ctx = run(main, "application/json", r#"{"s":"text"}"#);
        let seen = prop(&ctx, "SEEN").unwrap_or_default();
        assert!(seen.contains(want), "{main}: {seen}");
        assert_eq!(prop(&ctx, "AFTER"), None, "{main}");
    }
}

#[test]
fn a_registry_script_takes_arguments_too() {
    let registry = synaptic_registry::MemoryRegistry::new();
    rt().block_on(synaptic_registry::Registry::put(
        &registry,
        "conf:/js/mul.js",
        "function mul(mc, a, b) { return a * b; }",
    ))
    .unwrap();
    let e = Engine {
        registry: Arc::new(registry),
        ..engine_of(&defs(
            r#"<script language="js" key="conf:/js/mul.js" function="mul" target="variable" target-variable="p">
                 <inputs>
                   <argument name="a" type="DOUBLE" expression="${payload.a}"/>
                   <argument name="b" type="DOUBLE" value="0.5"/>
                 </inputs>
               </script>"#,
        ))
    };
    let mut ctx = request("application/json", r#"{"a":3}"#);
    rt().block_on(e.mediate("main", None, &mut ctx)).unwrap();
    assert_eq!(var(&ctx, "p"), Some(Value::Number(1.5)));
}

#[test]
fn bad_arguments_are_load_errors() {
    let (prog, diags) = compiled(&defs(
        r#"<script language="js" key="math.js" function="sum" target="variable" target-variable="r">
             <inputs>
               <argument name="a" type="INTEGER" value="x"/>
               <argument name="b" expression="${payload.a + }"/>
             </inputs>
           </script>"#,
    ));
    assert!(prog.is_none());
    let ids: Vec<_> = diags.iter().map(|d| d.code.id).collect();
    assert!(ids.contains(&"E0303"), "{diags:?}");
    assert!(ids.contains(&"E0230"), "{diags:?}");
}
