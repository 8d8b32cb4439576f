//! `application/x-www-form-urlencoded`, as Synapse's form formatter writes it.
//!
//! **Formatter** (`XFormURLEncodedFormatter`): take the body's first element; for each child
//! element in order emit `localName=` + URL-encode(its direct text) with space as `%20`; join
//! with `&`. The root name, nested elements and attributes are ignored; names are not encoded;
//! repeats repeat; an empty child gives `name=`; no element gives an empty body.
//!
//! **Builder** (axis2 `XFormURLEncodedBuilder` + `BuilderUtil.buildsoapMessage`, as WSO2 runs
//! it): the body holds one element — `<xformValues>` when no service operation schema applies,
//! which is the case for Synapse APIs and proxies (Synapse's own code reads the parameters back
//! as the children of the body's first element) — with one child per parameter, named by the
//! parameter and holding its decoded value (`%XX` and `+` → space). Differences: synaptic keeps
//! the parameters in request order (axis2 collects them in a hash map first), decodes names too,
//! does not add the request URL's query parameters (axis2 adds them before the body's), keeps a
//! parameter without `=` as an empty element (axis2 fails on it), and drops parameters whose name
//! is not an XML name (axis2 would build an invalid element).

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::xml::Element;

/// The form media type.
pub const MEDIA_TYPE: &str = "application/x-www-form-urlencoded";
/// Content-Type written by the formatter.
pub const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=UTF-8";
/// The formatter's Content-Type for a message that carries a SOAP action: Synapse's form
/// formatter appends `;action="…";` to it (so a SOAP client's request sent on as a form still
/// names its action); no action, a blank one or `""` adds nothing.
pub fn content_type_with_action(action: Option<&str>) -> String {
    match action.map(str::trim) {
        Some(a) if !a.is_empty() && a != "\"\"" => format!("{CONTENT_TYPE};action=\"{a}\";"),
        _ => CONTENT_TYPE.to_string(),
    }
}

/// The root element built for a form body.
pub const XFORM_VALUES: &str = "xformValues";

/// `java.net.URLEncoder` keeps `*-._` and alphanumerics; the formatter then turns `+` into
/// `%20`, so a space is `%20`.
const JAVA_URLENCODER: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'*')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_');

/// URL-encode like `URLEncoder.encode(s, "UTF-8")` with `+` replaced by `%20`.
pub fn encode_value(s: &str) -> String {
    utf8_percent_encode(s, JAVA_URLENCODER).to_string()
}

/// Format the first body element as a form body.
pub fn format(first: Option<&Element>) -> String {
    let Some(root) = first else {
        return String::new();
    };
    let mut out = String::new();
    for (i, c) in root.child_elements().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&c.name.local);
        out.push('=');
        out.push_str(&encode_value(&c.direct_text()));
    }
    out
}

/// Build the `<xformValues>` element of a form body.
pub fn build(body: &[u8]) -> Element {
    let mut root = Element::local(XFORM_VALUES);
    for (k, v) in form_urlencoded::parse(body) {
        if is_xml_name(&k) {
            root.push(Element::local(k.into_owned()).with_text(v.into_owned()));
        }
    }
    root
}

/// Whether `s` is an XML NCName (a conservative check).
pub fn is_xml_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml;

    #[test]
    fn formats_children_of_first_element() {
        let cases = [
            (
                "<root xmlns=\"\"><grant_type>client_credentials</grant_type></root>",
                "grant_type=client_credentials",
            ),
            (
                "<r a='x'><a>1 2</a><b/><a>x+y&amp;z=/é</a><n><deep>q</deep>t</n></r>",
                "a=1%202&b=&a=x%2By%26z%3D%2F%C3%A9&n=t",
            ),
            ("<r/>", ""),
            ("<r><k>*-._~</k></r>", "k=*-._%7E"),
        ];
        for (i, o) in cases {
            let e = xml::parse(i).unwrap();
            assert_eq!(format(Some(&e)), o, "{i}");
        }
        assert_eq!(format(None), "");
    }

    #[test]
    fn builds_xform_values() {
        let e = build(b"grant_type=client_credentials&scope=a+b&bad%20name=1&x=%C3%A9");
        assert_eq!(
            e.to_xml(),
            "<xformValues><grant_type>client_credentials</grant_type><scope>a b</scope><x>é</x></xformValues>"
        );
    }
}
