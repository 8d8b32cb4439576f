//! The redaction rule set on any text: never panics, and a value placed under a secret name in
//! every form the rules know (JSON key, XML element, XML attribute, form field, query and
//! fragment parameter, header) never survives. Escaping never leaves a raw CR or LF.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synaptic_logsafe::{escape, redact_header, redact_text};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = redact_text(text);
    let _ = redact_header("Location", text);
    let e = escape(text);
    assert!(!e.contains('\n') && !e.contains('\r'));

    // a value of token characters under secret names
    let (name_sel, rest) = match data.split_first() {
        Some((b, rest)) => (*b, rest),
        None => return,
    };
    let value: String = rest
        .iter()
        .map(|b| *b as char)
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'))
        .take(64)
        .collect();
    if value.is_empty() {
        return;
    }
    // a marker no name or fixed text contains, so a hit can only be the value
    let value = format!("ZQX{value}");
    let names = synaptic_logsafe::redact::PROBE_NAMES;
    let name = names[usize::from(name_sel) % names.len()];
    for f in synaptic_logsafe::redact::probe_forms(name, &value) {
        let out = redact_text(&f);
        assert!(!out.contains(&value), "{f:?} -> {out:?}");
    }
    assert!(!redact_header(name, &value).contains(&value));
});
