#![no_main]
//! Evaluate fixed and fuzzed expressions against fuzzed bodies of every content type.
//! Input: content-type selector byte, then `expression \0 body`.

use libfuzzer_sys::fuzz_target;
use synaptic_diag::Span;
use synaptic_expr::{compile, eval, Dialect};

#[path = "common.rs"]
mod common;
use common::TYPES;

const FIXED: &[&str] = &[
    "json-eval($)",
    "json-eval($.a.b[0])",
    "json-eval($..*)",
    "//*",
    "$body/*",
    "count(//*) + sum(//*)",
    "//*[1] = //*[2] or //* != 1 or //* < 'x'",
    "string(/)",
    "name(//*[last()])",
    "fn:concat(get-property('s'), //*[1], $ctx:i)",
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    let ct = TYPES[sel as usize % TYPES.len()];
    let (expr, body) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (&rest[..0], rest),
    };
    let Ok(payload) = synaptic_payload::build(body, Some(ct)) else { return };
    let raw = (ct == "application/json").then(|| String::from_utf8_lossy(body).into_owned());
    let env = common::Env { payload, raw };
    let ns = common::namespaces();
    let mut exprs: Vec<&str> = FIXED.to_vec();
    if let Ok(e) = std::str::from_utf8(expr) {
        exprs.push(e);
    }
    for e in exprs {
        if let Ok(c) = compile(e, Span::detached(), &ns, Dialect::XPath) {
            let _ = eval(&c, &env);
        }
    }
});
