//! `kind = "json-to-xml" | "xml-to-json" | "json-roundtrip"`: the JSON ⇄ XML conversion of the
//! message builders and formatters.

use super::field;

pub fn run(kind: &str, case: &toml::Table) -> Result<(), String> {
    match kind {
        "json-to-xml" => {
            let json = field(case, "json")?;
            let want = field(case, "xml")?;
            let value: serde_json::Value =
                serde_json::from_str(json).map_err(|e| format!("bad json in case: {e}"))?;
            let got = synaptic_payload::json_xml::json_to_xml(&value).to_xml();
            compare_xml(&got, want)
        }
        "xml-to-json" => {
            let xml = field(case, "xml")?;
            let want = field(case, "json")?;
            let root = synaptic_payload::xml::parse(xml).map_err(|e| format!("bad xml: {e}"))?;
            let got = synaptic_payload::json_xml::xml_to_json(&root).to_string();
            compare_text(&got, want)
        }
        "json-roundtrip" => {
            let json = field(case, "json")?;
            let want = case.get("expect").and_then(|v| v.as_str()).unwrap_or(json);
            let value: serde_json::Value =
                serde_json::from_str(json).map_err(|e| format!("bad json in case: {e}"))?;
            let xml = synaptic_payload::json_xml::json_to_xml(&value);
            let got = synaptic_payload::json_xml::xml_to_json(&xml).to_string();
            compare_text(&got, want)
        }
        other => Err(format!("unknown kind `{other}`")),
    }
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
