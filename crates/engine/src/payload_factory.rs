//! payloadFactory templates : `$n` substitution with Synapse's
//! escaping and raw-insertion rules.

use synaptic_payload::{Envelope, Payload, SoapVersion};

/// An evaluated argument.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Arg {
    /// Well-formed XML markup.
    Xml(String),
    /// JSON text (a JSONPath result that is an object or array).
    Json(String),
    /// A string. `xml_escape_for_json`: a `value=` literal (XML-escaped even in JSON output).
    /// `literal`: never inserted raw.
    Str {
        s: String,
        from_value: bool,
        literal: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Out {
    Xml,
    Json,
    Text,
}

pub(crate) fn xml_escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

/// JSON string escaping without the surrounding quotes.
pub(crate) fn json_escape(s: &str, out: &mut String) {
    let q = serde_json::Value::String(s.to_string()).to_string();
    out.push_str(&q[1..q.len() - 1]);
}

/// Whether `s` is a well-formed XML element (arguments that "parse as XML").
pub(crate) fn is_xml(s: &str) -> bool {
    let t = s.trim();
    t.starts_with('<')
        && t.ends_with('>')
        && matches!(
            synaptic_payload::build(t.as_bytes(), Some("application/xml")),
            Ok(Payload::Xml(_))
        )
}

fn strip_decl(s: &str) -> &str {
    let t = s.trim();
    if t.starts_with("<?xml") {
        if let Some(i) = t.find("?>") {
            return t[i + 2..].trim_start();
        }
    }
    t
}

pub(crate) fn json_to_xml(text: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
        let mut o = String::new();
        xml_escape(text, &mut o);
        return o;
    };
    let env = synaptic_payload::to_envelope(&Payload::Json(v));
    // insert the children of the jsonObject/jsonArray wrapper
    let mut body = Vec::new();
    for el in env.body {
        if el.name.local == "jsonObject" || el.name.local == "jsonArray" {
            for c in el.children {
                if let synaptic_payload::Node::Element(e) = c {
                    body.push(e);
                }
            }
        } else {
            body.push(el);
        }
    }
    let mut out = String::new();
    for el in body {
        let p = Payload::Xml(Envelope {
            version: SoapVersion::Pox,
            header: Vec::new(),
            body: vec![el],
        });
        if let Ok((b, _)) = synaptic_payload::serialize(&p, "application/xml") {
            out.push_str(strip_decl(&String::from_utf8_lossy(&b)));
        }
    }
    out
}

fn xml_to_json(text: &str) -> String {
    match synaptic_payload::build(text.trim().as_bytes(), Some("application/xml")) {
        Ok(p) => synaptic_payload::to_json(&p)
            .map(|v| v.to_string())
            .unwrap_or_default(),
        Err(_) => {
            let mut o = String::new();
            json_escape(text, &mut o);
            o
        }
    }
}

/// Substitute `$n` (1-based) in `template`. A `$n` naming no argument is left as written.
pub(crate) fn render(template: &str, args: &[Arg], out_kind: Out) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let b = template.as_bytes();
    let mut i = 0;
    let mut last = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() && b[i + 1].is_ascii_digit() {
            let mut j = i + 1;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let n: usize = template[i + 1..j].parse().unwrap_or(0);
            if n >= 1 && n <= args.len() {
                out.push_str(&template[last..i]);
                insert(&args[n - 1], out_kind, &mut out);
                last = j;
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out.push_str(&template[last..]);
    out
}

fn insert(a: &Arg, kind: Out, out: &mut String) {
    match (kind, a) {
        (Out::Xml, Arg::Xml(s)) => out.push_str(strip_decl(s)),
        (Out::Xml, Arg::Json(s)) => out.push_str(&json_to_xml(s)),
        (Out::Xml, Arg::Str { s, .. }) => xml_escape(s, out),
        (Out::Json, Arg::Xml(s)) => out.push_str(&xml_to_json(s)),
        (Out::Json, Arg::Json(s)) => out.push_str(s.trim()),
        (
            Out::Json,
            Arg::Str {
                s,
                from_value,
                literal,
            },
        ) => {
            let t = s.trim_start();
            if !*literal && (t.starts_with('{') || t.starts_with('[')) {
                out.push_str(s);
            } else if *from_value {
                let mut esc = String::new();
                xml_escape(s, &mut esc);
                json_escape(&esc, out);
            } else {
                json_escape(s, out);
            }
        }
        (Out::Text, Arg::Xml(s) | Arg::Json(s) | Arg::Str { s, .. }) => out.push_str(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Arg {
        Arg::Str {
            s: x.into(),
            from_value: false,
            literal: false,
        }
    }

    #[test]
    fn substitution() {
        assert_eq!(
            render("\n  $1\n", &[s("{\"a\":1}")], Out::Json),
            "\n  {\"a\":1}\n"
        );
        assert_eq!(
            render(r#"{"name":"$1","id":$2}"#, &[s("a\"b"), s("7")], Out::Json),
            r#"{"name":"a\"b","id":7}"#
        );
        assert_eq!(render("<a>$1</a>", &[s("x<y")], Out::Xml), "<a>x&lt;y</a>");
        assert_eq!(
            render("<a>$1</a>", &[Arg::Xml("<b>1</b>".into())], Out::Xml),
            "<a><b>1</b></a>"
        );
        assert_eq!(render("$2 $1 $3", &[s("a"), s("b")], Out::Text), "b a $3");
        assert_eq!(
            render(
                "{\"v\":\"$1\"}",
                &[Arg::Str {
                    s: "a&b".into(),
                    from_value: true,
                    literal: false
                }],
                Out::Json
            ),
            "{\"v\":\"a&amp;b\"}"
        );
        assert_eq!(
            render(
                "{\"v\":\"$1\"}",
                &[Arg::Str {
                    s: "{x}".into(),
                    from_value: false,
                    literal: true
                }],
                Out::Json
            ),
            "{\"v\":\"{x}\"}"
        );
    }
}
