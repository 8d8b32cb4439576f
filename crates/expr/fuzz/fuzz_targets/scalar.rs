#![no_main]
//! Differential: every expression the scalar evaluator runs must give exactly what sxd-xpath
//! gives (value and condition), against properties of every type. Input: the expression text.

use libfuzzer_sys::fuzz_target;
use synaptic_diag::Span;
use synaptic_expr::{compile, eval, eval_bool, eval_bool_reference, eval_reference, is_scalar, Dialect, Value};

#[path = "common.rs"]
mod common;

fn show(v: Result<Value, synaptic_expr::EvalError>) -> String {
    match v {
        Ok(v) => format!("{:?}:{}", std::mem::discriminant(&v), v.to_synapse_string().unwrap_or_default()),
        Err(e) => format!("error {e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(c) = compile(text, Span::detached(), &common::namespaces(), Dialect::XPath) else { return };
    if !is_scalar(&c) {
        return;
    }
    let env = common::Env { payload: synaptic_payload::Payload::Empty, raw: None };
    assert_eq!(show(eval(&c, &env)), show(eval_reference(&c, &env)), "{text}");
    assert_eq!(eval_bool(&c, &env).ok(), eval_bool_reference(&c, &env).ok(), "{text}");
});
