//! `parse_artifact` never panics, and every diagnostic span lies inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synaptic_diag::SourceId;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parse = synaptic_syntax::parse_artifact(SourceId(0), text);
    for d in &parse.diagnostics {
        for l in &d.labels {
            assert!(l.span.start <= l.span.end, "{d:?}");
            assert!(l.span.end as usize <= text.len(), "{d:?}");
        }
    }
    for s in &parse.tree.sequences {
        assert!(s.span.end as usize <= text.len());
    }
});
