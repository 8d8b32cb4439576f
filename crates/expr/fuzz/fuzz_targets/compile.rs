#![no_main]
//! Compile arbitrary text as XPath and as JSONPath (and read it as Jayway reads a path): never
//! panics; what compiles also evaluates (against a JSON and an XML body) without panicking.

use libfuzzer_sys::fuzz_target;
use synaptic_diag::Span;
use synaptic_expr::{compile, eval, Dialect};

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let ns = common::namespaces();
    for dialect in [Dialect::XPath, Dialect::JsonPath] {
        if let Ok(c) = compile(text, Span::detached(), &ns, dialect) {
            let _ = c.registry_keys();
            let _ = c.numeric_property_uses();
            for env in [common::json_env(), common::xml_env()] {
                if let Ok(v) = eval(&c, &env) {
                    let _ = v.to_synapse_string();
                }
            }
        }
    }
    let _ = synaptic_expr::compile_java_regex(text);
    let _ = synaptic_expr::jayway::parse(text.trim());
    let _ = synaptic_expr::jsonpath_warnings(text, Span::detached());
});
