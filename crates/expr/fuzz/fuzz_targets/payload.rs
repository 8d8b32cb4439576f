#![no_main]
//! Build any bytes as every content type and format the result as every message type; XML
//! serialization is stable (serialize → parse → serialize gives the same text).

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;
use common::TYPES;

fuzz_target!(|data: &[u8]| {
    for ct in TYPES.iter().map(Some).chain([None]) {
        if let Ok(p) = synaptic_payload::build(data, ct.copied()) {
            let _ = synaptic_payload::to_json(&p);
            let _ = synaptic_payload::to_envelope(&p);
            for mt in TYPES {
                let _ = synaptic_payload::serialize(&p, mt);
            }
            if let synaptic_payload::Payload::Xml(env) = &p {
                for e in env.body.iter().chain(env.header.iter()) {
                    let text = e.to_xml();
                    let again = synaptic_payload::xml::parse(&text)
                        .unwrap_or_else(|err| panic!("reparse failed: {err}: {text}"));
                    assert_eq!(again.to_xml(), text);
                }
            }
        }
    }
});
