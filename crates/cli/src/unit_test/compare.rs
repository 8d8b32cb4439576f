//! How the unit-testing framework compares an `assertEquals`: both sides are normalised the
//! same way, then compared as strings.
//!
//! Normalising: trim; drop a surrounding `<![CDATA[ … ]]>`; a well-formed XML document is
//! re-serialised (no XML declaration, attributes and namespace declarations in name order,
//! `xmlns=""` dropped, entities resolved and re-escaped the one way); otherwise a JSON object is
//! re-serialised with its keys in order at every level, numbers as numbers (`22` = `22.0`) and
//! `null` members dropped; then every whitespace character is removed (inside text too, as
//! the framework does).

use quick_xml::events::Event;
use quick_xml::Reader;

/// The normal form of an expected or actual value.
pub fn normalise(value: &str) -> String {
    let mut t = value.trim();
    if let Some(rest) = t.strip_prefix("<![CDATA[") {
        t = match rest.find("]]>") {
            Some(i) => &rest[..i],
            None => rest,
        };
    }
    let canonical = xml_canonical(t)
        .or_else(|| json_canonical(t))
        .unwrap_or_else(|| t.to_string());
    canonical.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Whether two values are equal the framework's way.
pub fn equal(expected: &str, actual: &str) -> bool {
    normalise(expected) == normalise(actual)
}

fn escape(out: &mut String, s: &str, attr: bool) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attr => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

/// One document element, re-serialised; `None` when `text` is not well-formed XML.
fn xml_canonical(text: &str) -> Option<String> {
    if !text.starts_with('<') {
        return None;
    }
    let mut r = Reader::from_str(text);
    r.config_mut().check_end_names = true;
    r.config_mut().trim_text(false);
    let mut out = String::with_capacity(text.len());
    let mut depth = 0usize;
    let mut roots = 0usize;
    // the start tag written last has no content yet (`<a></a>` is written `<a/>`)
    let mut open_empty = false;
    let close_open = |out: &mut String, open_empty: &mut bool| {
        if *open_empty {
            out.push('>');
            *open_empty = false;
        }
    };
    loop {
        match r.read_event().ok()? {
            Event::Start(e) | Event::Empty(e) if depth == 0 && roots > 0 => {
                let _ = e;
                return None;
            }
            Event::Start(e) => {
                close_open(&mut out, &mut open_empty);
                start_tag(&mut out, &e)?;
                open_empty = true;
                if depth == 0 {
                    roots += 1;
                }
                depth += 1;
            }
            Event::Empty(e) => {
                close_open(&mut out, &mut open_empty);
                start_tag(&mut out, &e)?;
                out.push_str("/>");
                if depth == 0 {
                    roots += 1;
                }
            }
            Event::End(e) => {
                if open_empty {
                    out.push_str("/>");
                    open_empty = false;
                } else {
                    out.push_str("</");
                    out.push_str(e.name().into_inner());
                    out.push('>');
                }
                depth = depth.checked_sub(1)?;
            }
            Event::Text(t) => {
                let raw: &str = &t;
                let s = quick_xml::escape::unescape(raw).ok()?;
                if depth == 0 {
                    if !s.trim().is_empty() {
                        return None;
                    }
                    continue;
                }
                close_open(&mut out, &mut open_empty);
                escape(&mut out, &s, false);
            }
            Event::CData(c) => {
                if depth == 0 {
                    return None;
                }
                close_open(&mut out, &mut open_empty);
                let s: &str = &c;
                escape(&mut out, s, false);
            }
            Event::GeneralRef(g) => {
                if depth == 0 {
                    return None;
                }
                close_open(&mut out, &mut open_empty);
                let resolved = if let Some(ch) = g.resolve_char_ref().ok()? {
                    ch.to_string()
                } else {
                    let name: &str = &g;
                    quick_xml::escape::resolve_predefined_entity(name)?.to_string()
                };
                escape(&mut out, &resolved, false);
            }
            Event::Comment(c) => {
                if depth > 0 {
                    close_open(&mut out, &mut open_empty);
                    out.push_str("<!--");
                    let c: &str = &c;
                    out.push_str(c);
                    out.push_str("-->");
                }
            }
            Event::PI(p) => {
                if depth > 0 {
                    close_open(&mut out, &mut open_empty);
                    out.push_str("<?");
                    let p: &str = &p;
                    out.push_str(p);
                    out.push_str("?>");
                }
            }
            Event::Decl(_) | Event::DocType(_) => {}
            Event::Eof => break,
        }
    }
    (depth == 0 && roots == 1).then_some(out)
}

fn start_tag(out: &mut String, e: &quick_xml::events::BytesStart<'_>) -> Option<()> {
    out.push('<');
    out.push_str(e.name().into_inner());
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.ok()?;
        let name = a.key.into_inner().to_string();
        #[allow(deprecated)]
        let value = a.unescape_value().ok()?.into_owned();
        if name == "xmlns" && value.is_empty() {
            continue;
        }
        attrs.push((name, value));
    }
    attrs.sort();
    for (n, v) in attrs {
        out.push(' ');
        out.push_str(&n);
        out.push_str("=\"");
        escape(out, &v, true);
        out.push('"');
    }
    Some(())
}

/// A JSON object, re-serialised with sorted keys; `None` for anything else.
fn json_canonical(text: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    if !v.is_object() {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    write_json(&mut out, &v);
    Some(out)
}

fn write_json(out: &mut String, v: &serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.is_finite() => out.push_str(&format!("{f:?}")),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => out.push_str(&serde_json::to_string(s).unwrap_or_default()),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, x);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, _)| k)
                .collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push(':');
                write_json(out, &m[k.as_str()]);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keys_in_any_order_and_numbers_as_numbers() {
        assert!(equal(
            r#"{"fname":"Peter","lname":"Stallone", "age":22,"address":{"line":"20 Palm Grove","city":"Colombo 03"}}"#,
            r#"{"address":{"city":"Colombo 03","line":"20 Palm Grove"},"age":22.0,"lname":"Stallone","fname":"Peter"}"#,
        ));
        assert!(!equal(r#"{"a":1}"#, r#"{"a":2}"#));
        assert!(!equal(r#"{"a":"1"}"#, r#"{"a":1}"#));
        // a null member is not written, as the framework's serialiser does
        assert!(equal(r#"{"a":1,"b":null}"#, r#"{"a":1}"#));
        // array order matters
        assert!(!equal(r#"{"a":[1,2]}"#, r#"{"a":[2,1]}"#));
    }

    #[test]
    fn cdata_and_whitespace_do_not_count() {
        assert!(equal("<![CDATA[ {\"a\": 1} ]]>", "{\"a\":1}"));
        assert!(equal("  responsePayload_1\n", "responsePayload_1"));
        // whitespace inside text is removed too
        assert!(equal("hello world", "helloworld"));
        assert!(!equal("hello", "Hello"));
    }

    #[test]
    fn xml_the_framework_way() {
        // declaration dropped, attributes in name order, indentation ignored, entities resolved
        assert!(equal(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<a y=\"2\" x=\"1\">\n  <b>x &amp; y</b>\n  <c/>\n</a>",
            "<a x=\"1\" y=\"2\"><b>x &#38; y</b><c></c></a>",
        ));
        assert!(!equal(
            "&lt;Message&gt;Invalid&lt;/Message&gt;",
            "<Message>Invalid</Message>"
        ));
        assert!(equal(
            "<Message>Invalid</Message>",
            "<Message>Invalid</Message>"
        ));
        assert!(!equal("<a><b>1</b></a>", "<a><b>2</b></a>"));
        // prefixes are compared as written
        assert!(!equal("<p:a xmlns:p=\"urn:x\"/>", "<a xmlns=\"urn:x\"/>"));
        // not one document: compared as text
        assert!(!equal("<a/><b/>", "<a/>"));
        assert_eq!(normalise("<a/><b/>"), "<a/><b/>");
    }
}
