//! End-to-end tests of `<callout>` over real HTTP on 127.0.0.1: a SOAP request whose body
//! element is sent to a backend with its SOAP action, the answer put back where the `<target>`
//! says (in place of a node, in a property, or as the whole message); a JSON message sent whole;
//! a backend that is down runs the fault sequence.

use synaptic_tests::gateway::{start_gateway, TestGateway};
use synaptic_tests::http::post_body;
use synaptic_tests::origin::{MockOrigin, MockResponse};

const NS: &str = r#"xmlns="http://ws.apache.org/ns/synapse""#;
const S11: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// A SOAP service answering `<m:getQuoteResponse><m:symbol>…</m:symbol></m:getQuoteResponse>`
/// with the symbol of the request's `<m:symbol>`.
async fn quote_service() -> MockOrigin {
    MockOrigin::start(|r| {
        let body = r.body_str();
        let symbol = body
            .split("<m:symbol>")
            .nth(1)
            .and_then(|s| s.split("</m:symbol>").next())
            .unwrap_or("?")
            .to_string();
        MockResponse::new(200)
            .header("content-type", "text/xml; charset=UTF-8")
            .body(format!(
                r#"<soapenv:Envelope xmlns:soapenv="{S11}"><soapenv:Body><m:getQuoteResponse xmlns:m="urn:m"><m:symbol>{symbol}</m:symbol><m:last>42</m:last></m:getQuoteResponse></soapenv:Body></soapenv:Envelope>"#
            ))
    })
    .await
}

fn api(backend: &str, callout_children: &str, after: &str) -> String {
    format!(
        r#"<api {NS} name="Quotes" context="/quotes">
  <resource methods="POST" uri-template="/q">
    <inSequence>
      <callout serviceURL="{backend}/services/Quote" action="urn:getQuote">
        {callout_children}
      </callout>
      {after}
      <respond/>
    </inSequence>
    <faultSequence>
      <payloadFactory media-type="json"><format>{{"failed":"$1"}}</format>
        <args><arg expression="get-property('ERROR_MESSAGE')"/></args></payloadFactory>
      <respond/>
    </faultSequence>
  </resource>
</api>"#
    )
}

const SOURCE_TARGET: &str = r#"<source xmlns:s12="http://www.w3.org/2003/05/soap-envelope" xmlns:s11="http://schemas.xmlsoap.org/soap/envelope/" xpath="s11:Body/child::*[fn:position()=1] | s12:Body/child::*[fn:position()=1]"/>
        <target xmlns:s12="http://www.w3.org/2003/05/soap-envelope" xmlns:s11="http://schemas.xmlsoap.org/soap/envelope/" xpath="s11:Body/child::*[fn:position()=1] | s12:Body/child::*[fn:position()=1]"/>"#;

/// The answer of the API at `/quotes/q` to a `POST` of `body`, of `content_type`.
async fn ask(
    gw: &TestGateway,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    post_body(
        &reqwest::Client::new(),
        &gw.url("/quotes/q"),
        content_type,
        body,
    )
    .await
}

fn soap_request(symbol: &str) -> String {
    format!(
        r#"<soapenv:Envelope xmlns:soapenv="{S11}"><soapenv:Header><h:trace xmlns:h="urn:h">t1</h:trace></soapenv:Header><soapenv:Body><m:getQuote xmlns:m="urn:m"><m:symbol>{symbol}</m:symbol></m:getQuote></soapenv:Body></soapenv:Envelope>"#
    )
}

#[tokio::test]
async fn the_body_element_goes_out_with_its_action_and_the_answer_replaces_it() {
    let backend = quote_service().await;
    let gw = start_gateway(
        "",
        &[(
            "sequences/Quotes.xml",
            &api(&backend.url(), SOURCE_TARGET, ""),
        )],
    )
    .await;
    let r = ask(&gw, "text/xml", soap_request("WSO2")).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    // the answer's body element took the place of the request's; the header stayed
    assert!(text.contains("getQuoteResponse"), "{text}");
    assert!(text.contains("<m:symbol>WSO2</m:symbol>"), "{text}");
    assert!(!text.contains("<m:getQuote "), "{text}");
    assert!(text.contains("t1"), "{text}");
    let sent = backend.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].method, http::Method::POST);
    // as with a blocking `<call>`, the resource's path after the API context (REST_URL_POSTFIX)
    // is appended to an address
    assert_eq!(sent[0].path(), "/services/Quote/q");
    assert_eq!(sent[0].header("soapaction"), Some("\"urn:getQuote\""));
    assert!(
        sent[0].body_str().contains("<m:getQuote"),
        "{}",
        sent[0].body_str()
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn a_keyed_target_keeps_the_message_and_stores_the_answer() {
    let backend = quote_service().await;
    let source = r#"<source key="req"/><target key="answer"/>"#;
    let before = r#"<property name="req" type="OM"><m:getQuote xmlns:m="urn:m"><m:symbol>KEYED</m:symbol></m:getQuote></property>"#;
    // the message is still the client's until the stored answer is put in its body
    let after = r#"<filter xmlns:m="urn:m" xpath="//m:getQuoteResponse"><then><drop/></then></filter>
      <enrich><source type="property" property="answer"/><target type="body"/></enrich>"#;
    let seq = api(&backend.url(), source, after)
        .replace("<callout ", &format!("{before}\n      <callout "));
    let gw = start_gateway("", &[("sequences/Quotes.xml", &seq)]).await;
    let r = ask(&gw, "application/xml", "<ignored/>").await;
    let text = r.text().await.unwrap();
    assert!(text.contains("getQuoteResponse"), "{text}");
    assert!(text.contains("<m:symbol>KEYED</m:symbol>"), "{text}");
    assert!(backend.requests()[0].body_str().contains("KEYED"));
    gw.shutdown().await;
}

#[tokio::test]
async fn a_json_message_is_sent_whole_and_a_json_answer_replaces_it() {
    let backend = MockOrigin::start(|r| {
        let v: serde_json::Value = serde_json::from_str(&r.body_str()).unwrap_or_default();
        MockResponse::json(200, &serde_json::json!({ "echoed": v }))
    })
    .await;
    let gw = start_gateway(
        "",
        &[(
            "sequences/Quotes.xml",
            &api(&backend.url(), SOURCE_TARGET, ""),
        )],
    )
    .await;
    let r = ask(&gw, "application/json", r#"{"symbol":"J"}"#).await;
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["echoed"]["symbol"], "J", "{v}");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_backend_that_is_down_runs_the_fault_sequence() {
    let backend = quote_service().await;
    let url = backend.url();
    backend.stop();
    let gw = start_gateway(
        "",
        &[("sequences/Quotes.xml", &api(&url, SOURCE_TARGET, ""))],
    )
    .await;
    let r = ask(&gw, "text/xml", soap_request("DOWN")).await;
    let text = r.text().await.unwrap();
    assert!(text.contains("failed"), "{text}");
    gw.shutdown().await;
}
