//! The message builders and formatters: JSON ⇄ XML and the wire formats.
//!
//! | kind | fields | passes when |
//! |---|---|---|
//! | `json-to-xml` | `json`, `xml`, optional `processing_instructions` | the JSON builds the XML `xml` (compared as canonical XML); with `processing_instructions = true` arrays are announced by `<?xml-multiple?>` (Synapse's `JsonBuilder`) |
//! | `xml-to-json` | `xml`, `json` | the XML formats as the JSON text `json` |
//! | `json-roundtrip` | `json`, optional `expect`, `processing_instructions` | JSON → XML → JSON text gives `expect` (default: `json`) |
//! | `build-format` | `body`, `content_type`, `message_type`, optional `expect`, `expect_contains`, `xml`, `expect_content_type`, `unbuilt` | the body built by its content type has the XML view `xml` and formats by `message_type` as `expect` (with `unbuilt = true` no mediator read the body) |
//! | `format` | `xml`, `message_type`, optional `expect`, `expect_contains`, `expect_content_type` | the XML body formats by `message_type` as `expect` with Content-Type `expect_content_type` |
//! | `build-error` | `body`, `content_type` | building the body fails |

use synaptic_payload::json_xml::{self, BuildOptions};
use synaptic_payload::{Envelope, Payload};

use super::field;

pub const KINDS: &[&str] = &[
    "json-to-xml",
    "xml-to-json",
    "json-roundtrip",
    "build-format",
    "format",
    "build-error",
];

fn flag(case: &toml::Table, name: &str) -> bool {
    case.get(name).and_then(|v| v.as_bool()).unwrap_or(false)
}

fn build_options(case: &toml::Table) -> BuildOptions {
    BuildOptions {
        processing_instructions: flag(case, "processing_instructions"),
    }
}

fn parse_json(text: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(text).map_err(|e| format!("bad json in case: {e}"))
}

fn format_xml_as_json(root: &synaptic_payload::Element) -> Result<String, String> {
    json_xml::xml_to_json_string(root).map_err(|e| format!("formatting failed: {e}"))
}

pub fn run(kind: &str, case: &toml::Table) -> Result<(), String> {
    match kind {
        "json-to-xml" => {
            let value = parse_json(field(case, "json")?)?;
            let got = json_xml::json_to_xml_with(&value, build_options(case)).to_xml();
            compare_xml(&got, field(case, "xml")?)
        }
        "xml-to-json" => {
            let root = synaptic_payload::xml::parse(field(case, "xml")?)
                .map_err(|e| format!("bad xml: {e}"))?;
            compare_text(&format_xml_as_json(&root)?, field(case, "json")?)
        }
        "json-roundtrip" => {
            let json = field(case, "json")?;
            let want = case.get("expect").and_then(|v| v.as_str()).unwrap_or(json);
            let xml = json_xml::json_to_xml_with(&parse_json(json)?, build_options(case));
            compare_text(&format_xml_as_json(&xml)?, want)
        }
        "build-format" => {
            let body = field(case, "body")?;
            let ct = field(case, "content_type")?;
            let payload = if flag(case, "unbuilt") {
                Payload::Raw(bytes::Bytes::copy_from_slice(body.as_bytes()))
            } else {
                let p = synaptic_payload::build(body.as_bytes(), Some(ct))
                    .map_err(|e| format!("build failed: {e}"))?;
                if let Some(want) = case.get("xml").and_then(|v| v.as_str()) {
                    let env = synaptic_payload::to_envelope(&p);
                    let got = env.body.first().map(|e| e.to_xml()).unwrap_or_default();
                    compare_xml(&got, want)?;
                }
                p
            };
            format_and_compare(&payload, case)
        }
        "format" => {
            let root = synaptic_payload::xml::parse(field(case, "xml")?)
                .map_err(|e| format!("bad xml: {e}"))?;
            format_and_compare(&Payload::Xml(Envelope::pox(root)), case)
        }
        "build-error" => {
            let body = field(case, "body")?;
            match synaptic_payload::build(body.as_bytes(), Some(field(case, "content_type")?)) {
                Err(_) => Ok(()),
                Ok(p) => Err(format!("expected a build error, built {p:?}")),
            }
        }
        other => Err(format!("unknown kind `{other}`")),
    }
}

fn format_and_compare(payload: &Payload, case: &toml::Table) -> Result<(), String> {
    let mt = field(case, "message_type")?;
    let (bytes, mut ct) =
        synaptic_payload::serialize(payload, mt).map_err(|e| format!("format failed: {e}"))?;
    // the SOAP action the formatter is given: a form names it in its Content-Type
    if let Some(action) = case.get("soap_action").and_then(|v| v.as_str()) {
        if mt == synaptic_payload::form::MEDIA_TYPE {
            ct = synaptic_payload::form::content_type_with_action(Some(action));
        }
    }
    if let Some(want) = case.get("expect").and_then(|v| v.as_str()) {
        let got = String::from_utf8_lossy(&bytes);
        if got != want {
            return Err(format!("expected\n  {want:?}\ngot\n  {got:?}"));
        }
    }
    if let Some(want) = case.get("expect_contains").and_then(|v| v.as_str()) {
        let got = String::from_utf8_lossy(&bytes);
        if !got.contains(want) {
            return Err(format!(
                "expected a body containing\n  {want:?}\ngot\n  {got:?}"
            ));
        }
    }
    if let Some(want) = case.get("expect_content_type").and_then(|v| v.as_str()) {
        if ct != want {
            return Err(format!("expected Content-Type {want:?}, got {ct:?}"));
        }
    }
    Ok(())
}

fn compare_text(got: &str, want: &str) -> Result<(), String> {
    if got.trim() == want.trim() {
        Ok(())
    } else {
        Err(format!(
            "expected\n  {}\ngot\n  {}",
            want.trim(),
            got.trim()
        ))
    }
}

fn compare_xml(got: &str, want: &str) -> Result<(), String> {
    let canon = |s: &str| -> Result<String, String> {
        synaptic_payload::xml::parse(s)
            .map(|e| e.to_xml())
            .map_err(|e| format!("not well-formed XML ({e}): {s}"))
    };
    let (g, w) = (canon(got)?, canon(want)?);
    compare_text(&g, &w)
}
