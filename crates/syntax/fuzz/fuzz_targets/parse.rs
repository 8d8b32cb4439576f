//! `parse_artifact` never panics, and every diagnostic span lies inside the input on character
//! boundaries.
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
            // renderers slice the source with these spans
            assert!(text.is_char_boundary(l.span.start as usize), "{d:?}");
            assert!(text.is_char_boundary(l.span.end as usize), "{d:?}");
        }
    }
    for s in &parse.tree.sequences {
        assert!(s.span.end as usize <= text.len());
    }
});
