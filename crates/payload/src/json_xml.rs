//! JSON ⇄ XML the way Synapse's JSON builders and formatters do it (`JsonUtil` with its staxon
//! configuration, as WSO2 ships it).
//!
//! # JSON → XML (the XML view of a JSON body)
//!
//! - An object is `<jsonObject>` with one child per key, an array at the top is `<jsonArray>`
//!   with one `<jsonElement>` per item, a scalar at the top is `<jsonValue>` holding the JSON
//!   text as written (a string keeps its quotes).
//! - An array value repeats the element named by its key; an array inside an array is a
//!   `<jsonArray>` in the item's element (`{"a":[[1,2]]}` →
//!   `<a><jsonArray><jsonElement>1</jsonElement><jsonElement>2</jsonElement></jsonArray></a>`).
//!   An empty array has no element. With [`BuildOptions::processing_instructions`] (Synapse's
//!   `synapse.json.to.xml.processing.instruction.enabled`, off by default) every array is
//!   announced by `<?xml-multiple key?>`, so formatting the XML back keeps one-element and
//!   empty arrays.
//! - `null`, `{}` and `""` are an empty element; numbers keep their spelling (`4.00`).
//! - A key starting with `@` is an attribute (an object under it gives several), the key `$` is
//!   the element's text; any other key is an element name: a leading digit gets the prefix
//!   `_JsonReader_PD_`, a leading `$` becomes `_JsonReader_PS_`, and every character that cannot
//!   be in an XML name becomes `_JsonReader_<code point>_` (Synapse does this only with
//!   `synapse.commons.json.buildValidNCNames`; synaptic never builds a name that is not
//!   well-formed).
//!
//! # XML → JSON (the JSON formatter)
//!
//! - The root element is a key (`{"root":…}`) unless it is `jsonObject`, `jsonArray` or
//!   `jsonElement`: an object whose first key is one of these is replaced by that key's value,
//!   which is how `<jsonArray>` with `<jsonElement>` children becomes an array (and a single
//!   `<jsonElement>` a single value). `<jsonValue>` writes its text as is.
//! - Namespaces are dropped (local names), whitespace-only text is dropped, comments and other
//!   processing instructions are ignored; text beside child elements is an error (mixed content).
//! - Consecutive siblings of the same name become an array; `<?xml-multiple name?>` starts an
//!   array of that name even for one or no element, `<?xml-multiple?>` makes the next element
//!   an array.
//! - Attributes are `"@name"` strings; an element with attributes or children writes its text
//!   under `"$"`; an empty element is `null`.
//! - Text `true`/`false`/`null` and text that is a JSON number become those values, the number
//!   spelled as Java's `BigDecimal` spells it (`4.00` stays `4.00`, `1e5` is `1E+5`).
//! - Names lose the `_JsonReader_PD_` / `_JsonReader_PS_` prefixes and their
//!   `_JsonReader_<code point>_` escapes.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::xml::{Attribute, Element, Node, QName};

pub const JSON_OBJECT: &str = "jsonObject";
pub const JSON_ARRAY: &str = "jsonArray";
pub const JSON_ELEMENT: &str = "jsonElement";
pub const JSON_VALUE: &str = "jsonValue";
/// The processing-instruction target that marks an array.
pub const MULTIPLE_PI: &str = "xml-multiple";
const PD: &str = "_JsonReader_PD_";
const PS: &str = "_JsonReader_PS_";
const ESCAPE: &str = "_JsonReader_";
/// Nesting cut-off of both directions: the XML parser's default depth limit, which no body
/// built from the wire exceeds (deeper content becomes an empty element / `null`).
const MAX_DEPTH: usize = 256;
/// Element depth of the JSON view of XML: each element adds at most two JSON levels (object,
/// array), which keeps the text within serde_json's nesting limit of 128.
const LENIENT_MAX_DEPTH: usize = 60;

/// How JSON is built into XML.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BuildOptions {
    /// Announce every array with `<?xml-multiple name?>`.
    pub processing_instructions: bool,
}

/// How XML is formatted as JSON (Synapse's `synapse.commons.json.output.*` settings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FormatOptions {
    /// `autoPrimitive`: text that is a number, `true`, `false` or `null` becomes that value.
    pub auto_primitive: bool,
    /// `jsonoutAutoArray`: consecutive siblings of one name become an array.
    pub auto_array: bool,
    /// `jsonoutMultiplePI`: honour `<?xml-multiple?>`.
    pub multiple_pi: bool,
    /// `enableXmlNullForEmptyElement`: an empty element is `null` (else `""`).
    pub null_for_empty_element: bool,
}

impl Default for FormatOptions {
    fn default() -> Self {
        FormatOptions {
            auto_primitive: true,
            auto_array: true,
            multiple_pi: true,
            null_for_empty_element: true,
        }
    }
}

// === names ===

/// XML 1.0 (fifth edition) `NameStartChar`, without `:`.
fn is_name_start(c: char) -> bool {
    matches!(c,
        'A'..='Z' | '_' | 'a'..='z'
        | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
        | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}'
        | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}'
        | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}' | '\u{10000}'..='\u{EFFFF}')
}

/// XML 1.0 (fifth edition) `NameChar`, without `:`.
fn is_name_char(c: char) -> bool {
    is_name_start(c)
        || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

fn push_escaped_char(out: &mut String, c: char) {
    use std::fmt::Write as _;
    let _ = write!(out, "{ESCAPE}{}_", c as u32);
}

/// The XML element name for a JSON key (always a well-formed name).
pub fn key_to_name(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + PD.len());
    let mut chars = key.chars();
    match chars.clone().next() {
        Some(c) if c.is_ascii_digit() => out.push_str(PD),
        Some('$') => {
            out.push_str(PS);
            chars.next();
        }
        Some(c) if !is_name_start(c) => {
            push_escaped_char(&mut out, c);
            chars.next();
        }
        Some(_) => {}
        // an empty key has no XML name
        None => out.push('_'),
    }
    for c in chars {
        if is_name_char(c) {
            out.push(c);
        } else {
            push_escaped_char(&mut out, c);
        }
    }
    out
}

/// The JSON key for an XML element name (inverse of [`key_to_name`]).
pub fn name_to_key(name: &str) -> Cow<'_, str> {
    let (dollar, rest) = if let Some(r) = name.strip_prefix(PD) {
        (false, r)
    } else if let Some(r) = name.strip_prefix(PS) {
        (true, r)
    } else {
        (false, name)
    };
    if !rest.contains(ESCAPE) {
        return match (dollar, rest.len() == name.len()) {
            (false, true) => Cow::Borrowed(name),
            (false, false) => Cow::Borrowed(rest),
            (true, _) => Cow::Owned(format!("${rest}")),
        };
    }
    let mut out = String::with_capacity(rest.len() + 1);
    if dollar {
        out.push('$');
    }
    let mut s = rest;
    while let Some(i) = s.find(ESCAPE) {
        out.push_str(&s[..i]);
        let after = &s[i + ESCAPE.len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let decoded = (digits > 0 && after.as_bytes().get(digits) == Some(&b'_'))
            .then(|| after[..digits].parse::<u32>().ok())
            .flatten()
            .filter(|&n| n > 0)
            .and_then(char::from_u32);
        match decoded {
            Some(c) => {
                out.push(c);
                s = &after[digits + 1..];
            }
            None => {
                out.push_str(ESCAPE);
                s = after;
            }
        }
    }
    out.push_str(s);
    Cow::Owned(out)
}

// === JSON → XML ===

/// The XML view of a JSON document, built as Synapse's streaming JSON builder builds it (no
/// processing instructions).
pub fn json_to_xml(value: &Value) -> Element {
    json_to_xml_with(value, BuildOptions::default())
}

/// [`json_to_xml`] with explicit options.
pub fn json_to_xml_with(value: &Value, opts: BuildOptions) -> Element {
    let b = Builder { opts };
    match value {
        Value::Object(map) => {
            let mut root = Element::local(JSON_OBJECT);
            b.fill_object(&mut root, map, 0);
            root
        }
        Value::Array(items) => {
            let mut root = Element::local(JSON_ARRAY);
            b.fill_array(&mut root, items, 0);
            root
        }
        scalar => Element::local(JSON_VALUE).with_text(scalar.to_string()),
    }
}

struct Builder {
    opts: BuildOptions,
}

fn multiple_pi(name: &str) -> Node {
    Node::Pi {
        target: MULTIPLE_PI.into(),
        data: name.into(),
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// Set an attribute; past [`crate::xml::DEFAULT_MAX_ATTRIBUTES`] on one element the rest are
/// not converted (as content nested too deep is not), which keeps each element's cost bounded.
fn set_attribute(el: &mut Element, key: &str, value: String) {
    if el.attributes.len() >= crate::xml::DEFAULT_MAX_ATTRIBUTES {
        return;
    }
    let name = QName::local(key_to_name(key));
    match el.attributes.iter_mut().find(|a| a.name == name) {
        Some(a) => a.value = value,
        None => el.attributes.push(Attribute { name, value }),
    }
}

impl Builder {
    fn fill_array(&self, el: &mut Element, items: &[Value], depth: usize) {
        if self.opts.processing_instructions {
            el.children.push(multiple_pi(JSON_ELEMENT));
        }
        el.children.reserve(items.len());
        for it in items {
            el.push(self.item(JSON_ELEMENT.into(), it, depth + 1));
        }
    }

    fn fill_object(&self, el: &mut Element, map: &Map<String, Value>, depth: usize) {
        for (k, v) in map {
            if let Some(attr) = k.strip_prefix('@').filter(|a| !a.is_empty()) {
                match v {
                    Value::Object(attrs) => {
                        for (ak, av) in attrs {
                            if let Some(t) = scalar_text(av) {
                                set_attribute(el, ak, t);
                            }
                        }
                        continue;
                    }
                    Value::Array(_) => {}
                    Value::Null => continue,
                    scalar => {
                        if let Some(t) = scalar_text(scalar) {
                            set_attribute(el, attr, t);
                        }
                        continue;
                    }
                }
            }
            if k == "$" && !matches!(v, Value::Array(_) | Value::Object(_)) {
                if let Some(t) = scalar_text(v).filter(|t| !t.is_empty()) {
                    el.children.push(Node::Text(t));
                }
                continue;
            }
            let name = key_to_name(k);
            match v {
                Value::Array(items) => {
                    if self.opts.processing_instructions {
                        // Synapse names the array by its JSON key
                        el.children
                            .push(multiple_pi(if k.contains("?>") { &name } else { k }));
                    }
                    for it in items {
                        el.push(self.item(name.clone(), it, depth + 1));
                    }
                }
                other => el.push(self.item(name, other, depth + 1)),
            }
        }
    }

    fn item(&self, name: String, v: &Value, depth: usize) -> Element {
        let mut e = Element::local(name);
        if depth > MAX_DEPTH {
            return e;
        }
        match v {
            Value::Object(map) => self.fill_object(&mut e, map, depth),
            Value::Array(items) => {
                let mut a = Element::local(JSON_ARRAY);
                self.fill_array(&mut a, items, depth + 1);
                e.push(a);
            }
            scalar => {
                if let Some(t) = scalar_text(scalar).filter(|t| !t.is_empty()) {
                    e.children.push(Node::Text(t));
                }
            }
        }
        e
    }
}

// === XML → JSON ===

/// A reason the XML cannot be written as JSON.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("mixed content is not supported: {0:?}")]
    MixedContent(String),
}

/// Format an element as JSON text, as Synapse's JSON formatter does.
pub fn xml_to_json_string(root: &Element) -> Result<String, FormatError> {
    xml_to_json_string_with(root, FormatOptions::default())
}

/// [`xml_to_json_string`] with explicit options.
pub fn xml_to_json_string_with(root: &Element, opts: FormatOptions) -> Result<String, FormatError> {
    let mut w = Writer {
        out: String::new(),
        opts,
        strict: true,
        max_depth: MAX_DEPTH,
    };
    w.document(root)?;
    Ok(w.out)
}

/// The JSON value of an element (as [`xml_to_json_string`] writes it; text beside child elements
/// is ignored). `Null` when the text written is not JSON (a `<jsonValue>` holding something
/// else).
pub fn xml_to_json(root: &Element) -> Value {
    let mut w = Writer {
        out: String::new(),
        opts: FormatOptions::default(),
        strict: false,
        max_depth: LENIENT_MAX_DEPTH,
    };
    if w.document(root).is_err() {
        return Value::Null;
    }
    serde_json::from_str(&w.out).unwrap_or(Value::Null)
}

fn is_wrapper(key: &str) -> bool {
    matches!(key, JSON_OBJECT | JSON_ARRAY | JSON_ELEMENT)
}

fn is_blank(s: &str) -> bool {
    s.chars().all(char::is_whitespace)
}

/// One key of an object being written: its elements, and whether it is an array.
struct Member<'e> {
    key: Cow<'e, str>,
    items: Vec<&'e Element>,
    array: bool,
    /// Opened by `<?xml-multiple?>`: takes every following sibling of its name.
    marked: bool,
}

struct Writer {
    out: String,
    opts: FormatOptions,
    strict: bool,
    /// Elements deeper than this are written as `null`.
    max_depth: usize,
}

impl Writer {
    fn document(&mut self, root: &Element) -> Result<(), FormatError> {
        if root.name.local == JSON_VALUE {
            self.out.push_str(&root.string_value());
            return Ok(());
        }
        let key = name_to_key(&root.name.local);
        if is_wrapper(&key) {
            self.content(root, 0)
        } else {
            self.out.push('{');
            self.key(&key);
            self.content(root, 0)?;
            self.out.push('}');
            Ok(())
        }
    }

    fn key(&mut self, k: &str) {
        self.string(k);
        self.out.push(':');
    }

    /// A JSON string, escaped as Synapse's JSON writer escapes it.
    fn string(&mut self, s: &str) {
        self.out.reserve(s.len() + 2);
        self.out.push('"');
        self.escaped(s);
        self.out.push('"');
    }

    fn escaped(&mut self, s: &str) {
        use std::fmt::Write as _;
        for c in s.chars() {
            match c {
                '"' => self.out.push_str("\\\""),
                '\\' => self.out.push_str("\\\\"),
                '\u{8}' => self.out.push_str("\\b"),
                '\u{c}' => self.out.push_str("\\f"),
                '\n' => self.out.push_str("\\n"),
                '\r' => self.out.push_str("\\r"),
                '\t' => self.out.push_str("\\t"),
                c if c < ' ' => {
                    let _ = write!(self.out, "\\u{:04X}", c as u32);
                }
                c => self.out.push(c),
            }
        }
    }

    /// Text as a value: a primitive when it reads as one.
    fn text_value(&mut self, t: &str) {
        if self.opts.auto_primitive {
            match t {
                "true" | "false" | "null" => {
                    self.out.push_str(t);
                    return;
                }
                _ if looks_like_json_number(t) && push_big_decimal(&mut self.out, t) => return,
                _ => {}
            }
        }
        self.string(t);
    }

    fn content(&mut self, e: &Element, depth: usize) -> Result<(), FormatError> {
        if depth > self.max_depth {
            self.out.push_str("null");
            return Ok(());
        }
        let members = self.members(e);
        let has_children = e.has_child_elements();
        // the element's text without whitespace-only nodes (borrowed when there is one node)
        let mut text: Cow<'_, str> = Cow::Borrowed("");
        for n in &e.children {
            if let Node::Text(t) = n {
                if !is_blank(t) {
                    if has_children {
                        if self.strict {
                            return Err(FormatError::MixedContent(t.clone()));
                        }
                        continue;
                    }
                    if text.is_empty() {
                        text = Cow::Borrowed(t);
                    } else {
                        text.to_mut().push_str(t);
                    }
                }
            }
        }
        if e.attributes.is_empty() && members.is_empty() {
            if !text.is_empty() {
                self.text_value(&text);
            } else if self.opts.null_for_empty_element {
                self.out.push_str("null");
            } else {
                self.out.push_str("\"\"");
            }
            return Ok(());
        }
        // an object whose first key is a wrapper name is that key's value
        let unwrap = e.attributes.is_empty() && members.first().is_some_and(|m| is_wrapper(&m.key));
        if !unwrap {
            self.out.push('{');
        }
        let mut first = true;
        for a in &e.attributes {
            if !first {
                self.out.push(',');
            }
            first = false;
            self.out.push_str("\"@");
            self.escaped(&a.name.local);
            self.out.push_str("\":");
            self.string(&a.value);
        }
        for (i, m) in members.iter().enumerate() {
            if !(unwrap && i == 0) {
                if !first {
                    self.out.push(',');
                }
                self.key(&m.key);
            }
            first = false;
            if m.array {
                self.out.push('[');
                for (j, it) in m.items.iter().enumerate() {
                    if j > 0 {
                        self.out.push(',');
                    }
                    self.content(it, depth + 1)?;
                }
                self.out.push(']');
            } else if let Some(it) = m.items.first() {
                self.content(it, depth + 1)?;
            }
        }
        if !text.is_empty() {
            if !first {
                self.out.push(',');
            }
            self.key("$");
            self.text_value(&text);
        }
        if !unwrap {
            self.out.push('}');
        }
        Ok(())
    }

    /// The keys of an element's object, in order: consecutive siblings of one name share a key
    /// (an array), `<?xml-multiple?>` opens an array.
    fn members<'e>(&self, e: &'e Element) -> Vec<Member<'e>> {
        let mut out: Vec<Member<'e>> = Vec::new();
        let mut pending = false;
        for n in &e.children {
            match n {
                Node::Pi { target, data } if self.opts.multiple_pi && target == MULTIPLE_PI => {
                    if data.is_empty() {
                        pending = true;
                    } else {
                        out.push(Member {
                            key: name_to_key(data),
                            items: Vec::new(),
                            array: true,
                            marked: true,
                        });
                        pending = false;
                    }
                }
                Node::Element(c) => {
                    let key = name_to_key(&c.name.local);
                    if pending {
                        pending = false;
                        out.push(Member {
                            key,
                            items: vec![c],
                            array: true,
                            marked: true,
                        });
                        continue;
                    }
                    match out.last_mut() {
                        Some(m) if m.key == key && (m.marked || self.opts.auto_array) => {
                            m.items.push(c);
                            m.array = true;
                        }
                        _ => out.push(Member {
                            key,
                            items: vec![c],
                            array: false,
                            marked: false,
                        }),
                    }
                }
                _ => {}
            }
        }
        out
    }
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
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

/// Write a JSON number (checked by [`looks_like_json_number`]) as Java's `BigDecimal.toString`
/// spells it. `false` (nothing written) when the exponent is out of `BigDecimal`'s range.
fn push_big_decimal(out: &mut String, s: &str) -> bool {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => match body[i + 1..].parse::<i64>() {
            Ok(e) if e.abs() <= i32::MAX as i64 => (&body[..i], e),
            _ => return false,
        },
        None => (body, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let scale = frac_part.len() as i64 - exp;
    let int_digits = int_part.trim_start_matches('0');
    let digits: Cow<'_, str> = if int_digits.is_empty() {
        let f = frac_part.trim_start_matches('0');
        Cow::Borrowed(if f.is_empty() { "0" } else { f })
    } else if frac_part.is_empty() {
        Cow::Borrowed(int_digits)
    } else {
        Cow::Owned(format!("{int_digits}{frac_part}"))
    };
    let zero = digits == "0";
    if neg && !zero {
        out.push('-');
    }
    let n = digits.len() as i64;
    let adjusted = -scale + (n - 1);
    if scale == 0 {
        out.push_str(&digits);
    } else if scale > 0 && adjusted >= -6 {
        if n > scale {
            let cut = (n - scale) as usize;
            out.push_str(&digits[..cut]);
            out.push('.');
            out.push_str(&digits[cut..]);
        } else {
            out.push_str("0.");
            for _ in 0..(scale - n) {
                out.push('0');
            }
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if n > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        if adjusted != 0 {
            out.push('E');
            if adjusted > 0 {
                out.push('+');
            }
            out.push_str(&adjusted.to_string());
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml;

    fn to_xml(json: &str, pis: bool) -> String {
        let v: Value = serde_json::from_str(json).unwrap();
        json_to_xml_with(
            &v,
            BuildOptions {
                processing_instructions: pis,
            },
        )
        .to_xml()
    }
    fn to_json(xml_text: &str) -> String {
        let e = xml::parse(xml_text).unwrap();
        xml_to_json_string(&e).unwrap()
    }

    #[test]
    fn json_as_xml() {
        let cases = [
            (r#"{"a":1}"#, "<jsonObject><a>1</a></jsonObject>"),
            (
                r#"{"name":"x","tags":["a","b"],"o":{"k":true},"n":null,"e":[]}"#,
                "<jsonObject><name>x</name><tags>a</tags><tags>b</tags><o><k>true</k></o><n/></jsonObject>",
            ),
            (
                r#"[1,{"a":2},[3]]"#,
                "<jsonArray><jsonElement>1</jsonElement><jsonElement><a>2</a></jsonElement><jsonElement><jsonArray><jsonElement>3</jsonElement></jsonArray></jsonElement></jsonArray>",
            ),
            (r#""s""#, "<jsonValue>\"s\"</jsonValue>"),
            (r#"4.00"#, "<jsonValue>4.00</jsonValue>"),
            (
                r#"{"1a":1,"$b":2,"x<y":"<&>","a$b":3,"-x":4,"":5}"#,
                "<jsonObject><_JsonReader_PD_1a>1</_JsonReader_PD_1a><_JsonReader_PS_b>2</_JsonReader_PS_b>\
                 <x_JsonReader_60_y>&lt;&amp;&gt;</x_JsonReader_60_y><a_JsonReader_36_b>3</a_JsonReader_36_b>\
                 <_JsonReader_45_x>4</_JsonReader_45_x><_>5</_></jsonObject>",
            ),
            (
                r#"{"p":{"@id":"7","@n":{"x":"1","y":2},"$":"text"},"price":4.00}"#,
                "<jsonObject><p id=\"7\" x=\"1\" y=\"2\">text</p><price>4.00</price></jsonObject>",
            ),
        ];
        for (i, o) in cases {
            assert_eq!(to_xml(i, false), o, "{i}");
        }
        assert_eq!(
            to_xml(r#"{"a":[[1]],"e":[]}"#, true),
            "<jsonObject><?xml-multiple a?><a><jsonArray><?xml-multiple jsonElement?><jsonElement>1</jsonElement></jsonArray></a><?xml-multiple e?></jsonObject>"
        );
    }

    #[test]
    fn xml_as_json() {
        let cases = [
            ("<jsonObject><a>1</a></jsonObject>", r#"{"a":1}"#),
            (
                "<r xmlns='urn:x'><a>123</a><b>true</b><c/><d>x</d><d>y</d><e>1.50</e><f>012</f><g>null</g><h> </h></r>",
                r#"{"r":{"a":123,"b":true,"c":null,"d":["x","y"],"e":1.50,"f":"012","g":null,"h":null}}"#,
            ),
            ("<r id='7'><a>t</a></r>", r#"{"r":{"@id":"7","a":"t"}}"#),
            ("<r id='7'>t</r>", r#"{"r":{"@id":"7","$":"t"}}"#),
            (
                "<jsonArray><jsonElement>1</jsonElement><jsonElement>a</jsonElement></jsonArray>",
                r#"[1,"a"]"#,
            ),
            ("<jsonArray><jsonElement>1</jsonElement></jsonArray>", "1"),
            (
                "<jsonArray><?xml-multiple jsonElement?><jsonElement>1</jsonElement></jsonArray>",
                "[1]",
            ),
            ("<jsonObject><?xml-multiple a?></jsonObject>", r#"{"a":[]}"#),
            (
                "<jsonObject><?xml-multiple?><a>1</a><b>2</b></jsonObject>",
                r#"{"a":[1],"b":2}"#,
            ),
            (
                "<jsonObject><a>1</a><b/><a>2</a></jsonObject>",
                r#"{"a":1,"b":null,"a":2}"#,
            ),
            (
                "<jsonObject><_JsonReader_PD_1a>1</_JsonReader_PD_1a><_JsonReader_PS_b>2</_JsonReader_PS_b><a_JsonReader_32_b>3</a_JsonReader_32_b></jsonObject>",
                r#"{"1a":1,"$b":2,"a b":3}"#,
            ),
            ("<jsonValue>\"s\"</jsonValue>", r#""s""#),
            ("<a>1e5</a>", r#"{"a":1E+5}"#),
            ("<a>x\u{1}\"\\/</a>", r#"{"a":"x\u0001\"\\/"}"#),
        ];
        for (i, o) in cases {
            assert_eq!(to_json(i), o, "{i}");
        }
        let mixed = xml::parse("<a>x<b/></a>").unwrap();
        assert!(xml_to_json_string(&mixed).is_err());
        assert_eq!(xml_to_json(&mixed), serde_json::json!({"a": {"b": null}}));
    }

    #[test]
    fn big_decimal_spelling() {
        for (i, o) in [
            ("0", "0"),
            ("-0", "0"),
            ("-0.0", "0.0"),
            ("4.00", "4.00"),
            ("123", "123"),
            ("1e5", "1E+5"),
            ("1.5e3", "1.5E+3"),
            ("12.5e-1", "1.25"),
            ("1E-7", "1E-7"),
            ("0.0000001", "1E-7"),
            ("0.000001", "0.000001"),
            ("-2.50E+2", "-250"),
            ("0e5", "0E+5"),
        ] {
            let mut s = String::new();
            assert!(push_big_decimal(&mut s, i));
            assert_eq!(s, o, "{i}");
        }
    }

    #[test]
    fn names_round_trip() {
        for k in [
            "a",
            "1a",
            "$a",
            "a b",
            "ns:x",
            "-",
            "ü",
            "a_JsonReader_x",
            "x$",
        ] {
            let n = key_to_name(k);
            assert!(xml::parse(&format!("<{n}/>")).is_ok(), "{k} → {n}");
            assert_eq!(name_to_key(&n), k, "{k} → {n}");
        }
    }

    #[test]
    fn deep_trees_are_cut_not_overflowed() {
        let mut e = Element::local("x");
        for _ in 0..300 {
            let mut p = Element::local("x");
            p.push(e);
            e = p;
        }
        let json = xml_to_json_string(&e).unwrap();
        assert!(json.starts_with(r#"{"x":{"x":"#) && json.contains(":null}"));
        // the JSON view is cut where serde_json's own nesting limit would refuse it
        let mut view = &xml_to_json(&e);
        let mut depth = 0;
        while let Some(inner) = view.get("x") {
            view = inner;
            depth += 1;
        }
        assert_eq!((depth, view), (LENIENT_MAX_DEPTH + 2, &Value::Null));
        let mut v = Value::Null;
        for _ in 0..300 {
            v = serde_json::json!({ "a": [v] });
        }
        let x = json_to_xml(&v);
        assert!(x.has_child_elements());
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

    #[test]
    fn attributes_past_the_per_element_limit_are_not_converted() {
        let mut m = serde_json::Map::new();
        for i in 0..60_000 {
            m.insert(format!("@a{i}"), Value::String("v".into()));
        }
        m.insert("$".into(), Value::String("t".into()));
        let x = json_to_xml(&serde_json::json!({ "r": Value::Object(m) }));
        let r = x.first_child_element().unwrap();
        assert_eq!(r.attributes.len(), xml::DEFAULT_MAX_ATTRIBUTES);
        assert_eq!(r.attributes[255].name.local, "a255");
        assert_eq!(r.direct_text(), "t");
    }
}
