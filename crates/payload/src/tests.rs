use super::*;

fn ser(payload: &Payload, mt: &str) -> (String, String) {
    let (b, ct) = serialize(payload, mt).unwrap();
    (String::from_utf8(b.to_vec()).unwrap(), ct)
}

const TOKEN_REQUEST_SOAP: &str = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
    <soapenv:Header/>
    <soapenv:Body>
        <root xmlns=""><grant_type>client_credentials</grant_type></root>
    </soapenv:Body>
</soapenv:Envelope>"#;

#[test]
fn token_request_soap_payload_formats_as_form() {
    let p = build(TOKEN_REQUEST_SOAP.as_bytes(), Some("text/xml")).unwrap();
    let (body, ct) = ser(&p, "application/x-www-form-urlencoded");
    assert_eq!(body, "grant_type=client_credentials");
    assert_eq!(ct, "application/x-www-form-urlencoded; charset=UTF-8");
}

#[test]
fn build_by_content_type() {
    let cases: &[(&[u8], Option<&str>, &str)] = &[
        (b"", Some("application/json"), "Empty"),
        (b"{\"a\":1}", Some("application/json; charset=UTF-8"), "Json"),
        (b"{\"a\":1}", Some("application/vnd.api+json"), "Json"),
        (b"<a/>", Some("application/xml"), "Pox"),
        (b"<a/>", Some("text/xml"), "Pox"),
        (TOKEN_REQUEST_SOAP.as_bytes(), Some("text/xml"), "Soap11"),
        (
            b"<e:Envelope xmlns:e='http://www.w3.org/2003/05/soap-envelope'><e:Body><x/></e:Body></e:Envelope>",
            Some("application/soap+xml"),
            "Soap12",
        ),
        (b"a=1&b=2", Some("application/x-www-form-urlencoded"), "Pox"),
        (b"hello", Some("text/plain"), "Text"),
        (b"hello", Some("text/csv"), "Text"),
        (b"\x00\x01", Some("application/octet-stream"), "Binary"),
        (b"{}", None, "Json"),
        (b"\xEF\xBB\xBF{\"a\":1}", Some("application/json"), "Json"),
        (b"  \n", Some("application/json"), "Empty"),
        (b"  \n", Some("application/xml"), "Empty"),
        (b"<a/>", None, "Pox"),
    ];
    for (bytes, ct, want) in cases {
        let p = build(bytes, *ct).unwrap();
        let got = match &p {
            Payload::Empty => "Empty",
            Payload::Json(_) => "Json",
            Payload::Xml(e) => match e.version {
                SoapVersion::Pox => "Pox",
                SoapVersion::Soap11 => "Soap11",
                SoapVersion::Soap12 => "Soap12",
            },
            Payload::Text(_) => "Text",
            Payload::Binary(_) => "Binary",
            Payload::Raw(_) => "Raw",
        };
        assert_eq!(got, *want, "{ct:?}");
    }
}

#[test]
fn build_errors() {
    for (bytes, ct, want) in [
        (&b"{"[..], "application/json", "malformed JSON"),
        (b"<a>", "application/xml", "malformed XML"),
        (b"<!DOCTYPE a><a/>", "text/xml", "DOCTYPE"),
        (b"<a>&x;</a>", "text/xml", "unknown entity"),
        (b"\xff", "text/plain", "UTF-8"),
    ] {
        let e = build(bytes, Some(ct)).unwrap_err().to_string();
        assert!(e.contains(want), "{ct}: {e}");
    }
    let deep = "<a>".repeat(1000) + &"</a>".repeat(1000);
    assert!(matches!(
        build(deep.as_bytes(), Some("application/xml")),
        Err(PayloadError::TooDeep)
    ));
}

#[test]
fn form_body_is_xform_values() {
    let p = build(
        b"grant_type=client_credentials",
        Some("application/x-www-form-urlencoded"),
    )
    .unwrap();
    assert_eq!(
        ser(&p, "application/xml").0,
        "<xformValues><grant_type>client_credentials</grant_type></xformValues>"
    );
    assert_eq!(
        ser(&p, "application/x-www-form-urlencoded").0,
        "grant_type=client_credentials"
    );
}

#[test]
fn serialize_by_message_type() {
    let json = build(br#"{"a":1,"b":["x","y"]}"#, Some("application/json")).unwrap();
    let pox = build(b"<r xmlns='urn:r'><a>1</a></r>", Some("application/xml")).unwrap();
    let soap = build(TOKEN_REQUEST_SOAP.as_bytes(), Some("text/xml")).unwrap();
    let text = Payload::Text("hi <there>".into());
    let cases: Vec<(&Payload, &str, &str, &str)> = vec![
        (
            &json,
            "application/json",
            r#"{"a":1,"b":["x","y"]}"#,
            "application/json",
        ),
        (
            &json,
            "application/xml",
            "<jsonObject><a>1</a><b>x</b><b>y</b></jsonObject>",
            "application/xml",
        ),
        (
            &pox,
            "application/json",
            r#"{"r":{"a":1}}"#,
            "application/json",
        ),
        (
            &pox,
            "application/xml",
            r#"<r xmlns="urn:r"><a>1</a></r>"#,
            "application/xml",
        ),
        (
            &pox,
            "text/xml",
            r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><r xmlns="urn:r"><a>1</a></r></soapenv:Body></soapenv:Envelope>"#,
            "text/xml",
        ),
        (
            &pox,
            "application/soap+xml",
            r#"<soapenv:Envelope xmlns:soapenv="http://www.w3.org/2003/05/soap-envelope"><soapenv:Body><r xmlns="urn:r"><a>1</a></r></soapenv:Body></soapenv:Envelope>"#,
            "application/soap+xml",
        ),
        (
            &soap,
            "application/xml",
            r#"<root><grant_type>client_credentials</grant_type></root>"#,
            "application/xml",
        ),
        (
            &soap,
            "application/json",
            r#"{"root":{"grant_type":"client_credentials"}}"#,
            "application/json",
        ),
        (&text, "text/plain", "hi <there>", "text/plain"),
        (
            &text,
            "application/xml",
            r#"<text xmlns="http://ws.apache.org/commons/ns/payload">hi &lt;there&gt;</text>"#,
            "application/xml",
        ),
        (&Payload::Empty, "application/json", "", "application/json"),
        (&json, "", r#"{"a":1,"b":["x","y"]}"#, "application/json"),
    ];
    for (p, mt, body, ct) in cases {
        assert_eq!(ser(p, mt), (body.to_string(), ct.to_string()), "{mt} {p:?}");
    }
}

#[test]
fn envelope_children_keep_outer_namespaces() {
    let p = build(
        b"<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/' xmlns:m='urn:m'><s:Body><m:op><m:a>1</m:a></m:op></s:Body></s:Envelope>",
        Some("text/xml"),
    )
    .unwrap();
    assert_eq!(
        ser(&p, "application/xml").0,
        r#"<m:op xmlns:m="urn:m"><m:a>1</m:a></m:op>"#
    );
}

#[test]
fn views() {
    let json = Payload::Json(serde_json::json!({"a": 1}));
    assert_eq!(
        to_envelope(&json).body[0].to_xml(),
        "<jsonObject><a>1</a></jsonObject>"
    );
    assert_eq!(to_json(&json), Some(serde_json::json!({"a": 1})));
    assert_eq!(to_json(&Payload::Empty), None);
    assert!(to_envelope(&Payload::Empty).body.is_empty());
    let raw = Payload::Raw(Bytes::from_static(b"{\"x\":true}"));
    assert_eq!(to_json(&raw), Some(serde_json::json!({"x": true})));
}

#[test]
fn xml_with_mixed_content_cannot_be_json() {
    let p = build(b"<a>text<b/></a>", Some("application/xml")).unwrap();
    let err = serialize(&p, "application/json").unwrap_err().to_string();
    assert_eq!(
        err,
        "cannot format the XML body as JSON: mixed content is not supported: \"text\""
    );
    // the JSON view ignores the text instead
    assert_eq!(to_json(&p), Some(serde_json::json!({"a": {"b": null}})));
}

#[test]
fn json_numbers_keep_their_spelling() {
    let p = build(
        br#"{"a":4.00,"b":1e2,"c":123456789012345678901234567890}"#,
        Some("application/json"),
    )
    .unwrap();
    // (an exponent without a sign gains `+`: serde_json writes it so)
    let (b, _) = serialize(&p, "application/json").unwrap();
    assert_eq!(
        &b[..],
        br#"{"a":4.00,"b":1e+2,"c":123456789012345678901234567890}"#
    );
    assert_eq!(
        to_envelope(&p).body[0].to_xml(),
        "<jsonObject><a>4.00</a><b>1e+2</b><c>123456789012345678901234567890</c></jsonObject>"
    );
    // formatted back from XML, numbers are spelled as Java's BigDecimal
    let x = Payload::Xml(to_envelope(&p));
    let (b, _) = serialize(&x, "application/json").unwrap();
    assert_eq!(
        &b[..],
        br#"{"a":4.00,"b":1E+2,"c":123456789012345678901234567890}"#
    );
}
