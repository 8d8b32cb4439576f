#![no_main]
//! Build any bytes as every content type and format the result as every message type.

use libfuzzer_sys::fuzz_target;

const TYPES: &[&str] = &[
    "application/json",
    "text/xml",
    "application/xml",
    "application/soap+xml",
    "application/x-www-form-urlencoded",
    "text/plain",
    "application/octet-stream",
];

fuzz_target!(|data: &[u8]| {
    for ct in TYPES.iter().map(Some).chain([None]) {
        if let Ok(p) = synaptic_payload::build(data, ct.copied()) {
            let _ = synaptic_payload::to_json(&p);
            let _ = synaptic_payload::to_envelope(&p);
            for mt in TYPES {
                let _ = synaptic_payload::serialize(&p, mt);
            }
        }
    }
});
