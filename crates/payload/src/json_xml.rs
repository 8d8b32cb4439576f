//! JSON ⇄ XML the Synapse way (synapse-semantics.md §6; `JsonUtil`, `JsonReaderDelegate`).
//!
//! JSON → XML: an object becomes `<jsonObject>` with one child per key; an array value becomes
//! repeated elements named by its key; a top-level array is `<jsonArray>` with `<jsonElement>`
//! children; a top-level scalar is `<jsonValue>`. Keys starting with a digit get the prefix
//! `_JsonReader_PD_`; a `$` in a key becomes `_JsonReader_PS_`.
//!
//! XML → JSON: the root is kept as a key unless it is `jsonObject`/`jsonArray`; namespaces are
//! dropped; text that is a JSON number or `true`/`false` becomes that value; repeated siblings
//! become an array; an empty element is `null`; attributes become `@name` keys.

use serde_json::{Map, Value};

use crate::xml::{Element, Node};

pub const JSON_OBJECT: &str = "jsonObject";
pub const JSON_ARRAY: &str = "jsonArray";
pub const JSON_ELEMENT: &str = "jsonElement";
pub const JSON_VALUE: &str = "jsonValue";
const PD: &str = "_JsonReader_PD_";
const PS: &str = "_JsonReader_PS_";

/// The XML element name for a JSON key.
pub fn key_to_name(key: &str) -> String {
    let mut s = String::with_capacity(key.len());
    if key.starts_with(|c: char| c.is_ascii_digit()) {
        s.push_str(PD);
    }
    for c in key.chars() {
        if c == '$' {
            s.push_str(PS);
        } else {
            s.push(c);
        }
    }
    if s.is_empty() {
        // an empty key has no XML name; Synapse fails here, we keep a placeholder
        s.push('_');
    }
    s
}

/// The JSON key for an XML element name (inverse of [`key_to_name`]).
pub fn name_to_key(name: &str) -> String {
    let name = name.strip_prefix(PD).unwrap_or(name);
    name.replace(PS, "$")
}

/// Convert a JSON document to its XML view.
pub fn json_to_xml(value: &Value) -> Element {
    match value {
        Value::Object(map) => {
            let mut root = Element::local(JSON_OBJECT);
            fill_object(&mut root, map, 0);
            root
        }
        Value::Array(items) => {
            let mut root = Element::local(JSON_ARRAY);
            for it in items {
                root.push(value_element(JSON_ELEMENT, it, 0));
            }
            root
        }
        scalar => {
            let mut e = Element::local(JSON_VALUE);
            push_scalar(&mut e, scalar);
            e
        }
    }
}

const MAX_DEPTH: usize = 512;

fn fill_object(el: &mut Element, map: &Map<String, Value>, depth: usize) {
    for (k, v) in map {
        let name = key_to_name(k);
        match v {
            Value::Array(items) => {
                for it in items {
                    el.push(value_element(&name, it, depth + 1));
                }
            }
            other => el.push(value_element(&name, other, depth + 1)),
        }
    }
}

fn value_element(name: &str, v: &Value, depth: usize) -> Element {
    let mut e = Element::local(name);
    if depth > MAX_DEPTH {
        return e;
    }
    match v {
        Value::Object(map) => fill_object(&mut e, map, depth),
        Value::Array(items) => {
            for it in items {
                e.push(value_element(JSON_ELEMENT, it, depth + 1));
            }
        }
        scalar => push_scalar(&mut e, scalar),
    }
    e
}

fn push_scalar(e: &mut Element, v: &Value) {
    let text = match v {
        Value::Null => return,
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(_) | Value::Object(_) => return,
    };
    if !text.is_empty() {
        e.children.push(Node::Text(text));
    }
}

/// Convert an XML element to JSON.
pub fn xml_to_json(root: &Element) -> Value {
    match root.name.local.as_str() {
        JSON_OBJECT => element_content(root, 0),
        JSON_ARRAY => Value::Array(
            root.child_elements()
                .map(|c| element_content(c, 1))
                .collect(),
        ),
        JSON_VALUE => element_content(root, 0),
        _ => {
            let mut m = Map::new();
            m.insert(name_to_key(&root.name.local), element_content(root, 0));
            Value::Object(m)
        }
    }
}

fn scalar_of(text: &str) -> Value {
    if text.is_empty() {
        return Value::Null;
    }
    match text {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    if looks_like_json_number(text) {
        if let Ok(n) = serde_json::from_str::<serde_json::Number>(text) {
            return Value::Number(n);
        }
    }
    Value::String(text.to_string())
}

fn looks_like_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if b.first() == Some(&b'-') {
        i = 1;
    }
    match b.get(i) {
        Some(b'0') => {
            i += 1;
        }
        Some(c) if c.is_ascii_digit() => {
            while b.get(i).is_some_and(|c| c.is_ascii_digit()) {
                i += 1;
            }
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(|c| c.is_ascii_digit()) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let start = i;
        while b.get(i).is_some_and(|c| c.is_ascii_digit()) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    i == b.len()
}

fn element_content(e: &Element, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    let has_children = e.has_child_elements();
    if !has_children && e.attributes.is_empty() {
        return scalar_of(&e.direct_text());
    }
    if has_children
        && e.attributes.is_empty()
        && e.child_elements().all(|c| c.name.local == JSON_ELEMENT)
    {
        return Value::Array(
            e.child_elements()
                .map(|c| element_content(c, depth + 1))
                .collect(),
        );
    }
    let mut m = Map::new();
    for a in &e.attributes {
        m.insert(format!("@{}", a.name.local), Value::String(a.value.clone()));
    }
    // group children by local name, keeping first-appearance order
    let mut order: Vec<(&str, Vec<&Element>)> = Vec::new();
    for c in e.child_elements() {
        match order.iter_mut().find(|(n, _)| *n == c.name.local) {
            Some((_, v)) => v.push(c),
            None => order.push((&c.name.local, vec![c])),
        }
    }
    for (name, els) in order {
        let key = name_to_key(name);
        let v = if els.len() == 1 {
            element_content(els[0], depth + 1)
        } else {
            Value::Array(els.iter().map(|c| element_content(c, depth + 1)).collect())
        };
        m.insert(key, v);
    }
    if !has_children {
        let t = e.direct_text();
        if !t.is_empty() {
            m.insert("$".into(), scalar_of(&t));
        }
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml;

    fn to_xml(json: &str) -> String {
        let v: Value = serde_json::from_str(json).unwrap();
        json_to_xml(&v).to_xml()
    }
    fn to_json(xml_text: &str) -> String {
        let e = xml::parse(xml_text).unwrap();
        xml_to_json(&e).to_string()
    }

    #[test]
    fn json_as_xml() {
        let cases = [
            (r#"{"a":1}"#, "<jsonObject><a>1</a></jsonObject>"),
            (
                r#"{"name":"x","tags":["a","b"],"o":{"k":true},"n":null}"#,
                "<jsonObject><name>x</name><tags>a</tags><tags>b</tags><o><k>true</k></o><n/></jsonObject>",
            ),
            (
                r#"[1,{"a":2}]"#,
                "<jsonArray><jsonElement>1</jsonElement><jsonElement><a>2</a></jsonElement></jsonArray>",
            ),
            (r#""s""#, "<jsonValue>s</jsonValue>"),
            (
                r#"{"1a":1,"$b":2,"x<y":"<&>"}"#,
                "<jsonObject><_JsonReader_PD_1a>1</_JsonReader_PD_1a><_JsonReader_PS_b>2</_JsonReader_PS_b><x<y>&lt;&amp;&gt;</x<y></jsonObject>",
            ),
        ];
        for (i, o) in cases {
            assert_eq!(to_xml(i), o, "{i}");
        }
    }

    #[test]
    fn xml_as_json() {
        let cases = [
            ("<jsonObject><a>1</a></jsonObject>", r#"{"a":1}"#),
            (
                "<r xmlns='urn:x'><a>123</a><b>true</b><c/><d>x</d><d>y</d><e>1.5</e><f>012</f></r>",
                r#"{"r":{"a":123,"b":true,"c":null,"d":["x","y"],"e":1.5,"f":"012"}}"#,
            ),
            ("<r id='7'><a>t</a></r>", r#"{"r":{"@id":"7","a":"t"}}"#),
            (
                "<jsonArray><jsonElement>1</jsonElement><jsonElement>a</jsonElement></jsonArray>",
                r#"[1,"a"]"#,
            ),
            (
                "<jsonObject><_JsonReader_PD_1a>1</_JsonReader_PD_1a><_JsonReader_PS_b>2</_JsonReader_PS_b></jsonObject>",
                r#"{"1a":1,"$b":2}"#,
            ),
            (
                "<root><grant_type>client_credentials</grant_type></root>",
                r#"{"root":{"grant_type":"client_credentials"}}"#,
            ),
        ];
        for (i, o) in cases {
            assert_eq!(to_json(i), o, "{i}");
        }
    }

    #[test]
    fn json_roundtrip() {
        for j in [
            r#"{"a":1,"b":"x","c":[1,2],"d":{"e":false}}"#,
            r#"{"access_token":"abc","expires_in":3600}"#,
        ] {
            let v: Value = serde_json::from_str(j).unwrap();
            assert_eq!(xml_to_json(&json_to_xml(&v)).to_string(), j);
        }
    }
}
