//! The message body model. A body stays raw bytes until a content-aware mediator needs it;
//! [`build`] turns bytes plus a content type into a [`Payload`], [`serialize`] formats a payload
//! by the axis2 `messageType`.
//!
//! XML is held as an owned, `Send` DOM ([`xml::Element`]). Like Synapse, every XML message is a
//! SOAP envelope inside: plain XML (POX) sits alone in the body of an implicit SOAP 1.1 envelope.
//! JSON is visible to XPath the Synapse way (`<jsonObject>`, see [`json_xml`]).

pub mod form;
pub mod json_xml;
pub mod xml;

use bytes::Bytes;

pub use xml::{Element, Node};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SoapVersion {
    /// Plain XML: written without the envelope.
    Pox,
    Soap11,
    Soap12,
}

/// A SOAP envelope (or the implicit envelope of a POX message).
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    pub version: SoapVersion,
    pub header: Vec<Element>,
    pub body: Vec<Element>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    Empty,
    /// Not built yet (the content type lives in the message context).
    Raw(Bytes),
    Json(serde_json::Value),
    Xml(Envelope),
    Text(String),
    Binary(Bytes),
}

#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("malformed JSON body: {0}")]
    Json(String),
    #[error("malformed XML body: {0}")]
    Xml(String),
    #[error("body is not valid UTF-8")]
    Utf8,
    #[error("body too deeply nested")]
    TooDeep,
}

/// Build a payload from bytes by content type (JSON, XML, SOAP 1.1/1.2, form, text; anything
/// else binary). An empty body is `Payload::Empty`. DOCTYPEs and entity declarations are refused.
pub fn build(bytes: &[u8], content_type: Option<&str>) -> Result<Payload, PayloadError> {
    let _ = (bytes, content_type);
    unimplemented!()
}

/// Format a payload for the wire by `messageType` (`application/json`, `application/xml`,
/// `text/xml`, `application/soap+xml`, `application/x-www-form-urlencoded`, `text/plain`, …).
/// Returns the bytes and the Content-Type to send.
pub fn serialize(payload: &Payload, message_type: &str) -> Result<(Bytes, String), PayloadError> {
    let _ = (payload, message_type);
    unimplemented!()
}

/// The XML view of a payload as XPath sees it: the SOAP envelope (JSON as `jsonObject`, text as
/// `<text xmlns="http://ws.apache.org/commons/ns/payload">`).
pub fn to_envelope(payload: &Payload) -> Envelope {
    let _ = payload;
    unimplemented!()
}

/// The JSON view of a payload as `json-eval` sees it (XML converted; `None` when empty).
pub fn to_json(payload: &Payload) -> Option<serde_json::Value> {
    let _ = payload;
    unimplemented!()
}
