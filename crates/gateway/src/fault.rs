//! Fault responses: a JSON body with a stable numeric code, mapped from the error's origin in
//! one place (docs/CONFIG.md lists the codes).
//!
//! `{"fault":{"code":101503,"message":"Backend unreachable","description":"…"}}`

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::Full;
use synaptic_engine::{ErrorKind, MediationError, Origin};

/// Stable fault codes of the gateway itself (mediation faults carry their `ERROR_CODE`).
pub mod code {
    pub const BAD_PATH: i64 = 400_001;
    pub const BAD_BODY: i64 = 400_002;
    /// A bearer token in the query string of a secured API (RFC 6750 §2.3 is not accepted).
    pub const TOKEN_IN_QUERY: i64 = 400_003;
    /// A resource takes the method but not the request's scheme, content type or user agent.
    pub const RESOURCE_REFUSED: i64 = 400_004;
    pub const NO_API: i64 = 404_001;
    pub const BODY_TIMEOUT: i64 = 408_001;
    pub const NO_RESOURCE: i64 = 404_002;
    pub const METHOD_NOT_ALLOWED: i64 = 405_001;
    pub const BODY_TOO_LARGE: i64 = 413_001;
    /// A `rate_limit` is reached.
    pub const TOO_MANY_REQUESTS: i64 = 429_001;
    pub const INTERNAL: i64 = 500_001;
    pub const SEQUENCE_MISSING: i64 = 500_002;
    /// A sequence run took longer than `[limits] mediation_timeout`.
    pub const MEDIATION_BUDGET: i64 = 500_003;
    /// Synapse: connection failed.
    pub const BACKEND_UNREACHABLE: i64 = 101_503;
    /// Synapse: timeout.
    pub const BACKEND_TIMEOUT: i64 = 101_504;
    /// Synapse: connection closed / send failure.
    pub const BACKEND_SEND: i64 = 101_500;
}

/// A complete fault response.
pub fn response(
    status: StatusCode,
    code: i64,
    message: &str,
    description: &str,
) -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "fault": { "code": code, "message": message, "description": description }
    });
    json_response(status, &body)
}

pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = Response::new(Full::new(Bytes::from(bytes)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// HTTP status for an unhandled mediation error, by origin.
pub fn status_for(e: &MediationError) -> StatusCode {
    match (e.origin, e.kind) {
        (Origin::Upstream, ErrorKind::Timeout) => StatusCode::GATEWAY_TIMEOUT,
        // no endpoint of a group is ready, a suspended endpoint, or no endpoint by the key a
        // key expression gives
        (Origin::Upstream, _)
            if e.code == synaptic_engine::error_codes::GROUP_NOT_READY
                || e.code == synaptic_engine::error_codes::ENDPOINT_NOT_READY
                || e.code == synaptic_engine::error_codes::ENDPOINT_KEY_NOT_FOUND =>
        {
            StatusCode::SERVICE_UNAVAILABLE
        }
        (Origin::Upstream, _) => StatusCode::BAD_GATEWAY,
        (Origin::Downstream, ErrorKind::BodyTooLarge) => StatusCode::PAYLOAD_TOO_LARGE,
        (Origin::Downstream, _) => StatusCode::BAD_REQUEST,
        (Origin::Internal, _) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The response for an unhandled mediation error: status by origin, `ERROR_CODE` and
/// `ERROR_MESSAGE` in the body (the engine guarantees the message holds no secrets).
pub fn mediation(e: &MediationError) -> Response<Full<Bytes>> {
    let status = status_for(e);
    let body = serde_json::json!({
        "fault": {
            "code": e.code,
            "message": e.message,
            "description": "mediation fault",
            "ERROR_CODE": e.code,
            "ERROR_MESSAGE": e.message,
        }
    });
    json_response(status, &body)
}

pub fn not_found_api() -> Response<Full<Bytes>> {
    response(
        StatusCode::NOT_FOUND,
        code::NO_API,
        "No matching API",
        "No API matches the request path",
    )
}

pub fn not_found_resource() -> Response<Full<Bytes>> {
    response(
        StatusCode::NOT_FOUND,
        code::NO_RESOURCE,
        "No matching resource",
        "No resource of the API matches the request",
    )
}

pub fn resource_refused() -> Response<Full<Bytes>> {
    response(
        StatusCode::BAD_REQUEST,
        code::RESOURCE_REFUSED,
        "Request not accepted",
        "The resource does not take requests of this scheme, content type or user agent",
    )
}

pub fn method_not_allowed(allowed: &[String]) -> Response<Full<Bytes>> {
    let mut r = response(
        StatusCode::METHOD_NOT_ALLOWED,
        code::METHOD_NOT_ALLOWED,
        "Method not allowed",
        "The resource does not accept this method",
    );
    if let Ok(v) = HeaderValue::from_str(&allowed.join(", ")) {
        r.headers_mut().insert(header::ALLOW, v);
    }
    r
}

pub fn too_large(limit: u64) -> Response<Full<Bytes>> {
    response(
        StatusCode::PAYLOAD_TOO_LARGE,
        code::BODY_TOO_LARGE,
        "Request body too large",
        &format!("The request body exceeds the limit of {limit} bytes"),
    )
}

pub fn bad_path(e: crate::path::PathError) -> Response<Full<Bytes>> {
    response(
        StatusCode::BAD_REQUEST,
        code::BAD_PATH,
        "Bad request path",
        &e.to_string(),
    )
}

/// A secured API refuses `?access_token=`: tokens in URLs leak through logs and `Referer`
/// (RFC 9700 §4.3.2). The token is never logged or forwarded.
pub fn token_in_query() -> Response<Full<Bytes>> {
    let mut resp = response(
        StatusCode::BAD_REQUEST,
        code::TOKEN_IN_QUERY,
        "Token in query string",
        "Send the access token in the Authorization header: \"Authorization: Bearer ACCESS_TOKEN\"",
    );
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(
            "Bearer realm=\"synaptic\", error=\"invalid_request\", error_description=\"access token in the query string\"",
        ),
    );
    resp
}

pub fn body_timeout() -> Response<Full<Bytes>> {
    response(
        StatusCode::REQUEST_TIMEOUT,
        code::BODY_TIMEOUT,
        "Request timeout",
        "The request body did not arrive in time",
    )
}

pub fn bad_body() -> Response<Full<Bytes>> {
    response(
        StatusCode::BAD_REQUEST,
        code::BAD_BODY,
        "Bad request body",
        "The request body could not be read",
    )
}

pub fn backend_unreachable() -> Response<Full<Bytes>> {
    response(
        StatusCode::BAD_GATEWAY,
        code::BACKEND_UNREACHABLE,
        "Backend unreachable",
        "The backend refused the connection or could not be reached",
    )
}

pub fn backend_failed() -> Response<Full<Bytes>> {
    response(
        StatusCode::BAD_GATEWAY,
        code::BACKEND_SEND,
        "Backend failure",
        "The backend closed the connection or sent an invalid response",
    )
}

pub fn backend_timeout() -> Response<Full<Bytes>> {
    response(
        StatusCode::GATEWAY_TIMEOUT,
        code::BACKEND_TIMEOUT,
        "Backend timeout",
        "The backend did not answer in time",
    )
}

pub fn internal(message: &str) -> Response<Full<Bytes>> {
    response(
        StatusCode::INTERNAL_SERVER_ERROR,
        code::INTERNAL,
        "Internal error",
        message,
    )
}

pub fn sequence_missing(name: &str) -> Response<Full<Bytes>> {
    response(
        StatusCode::INTERNAL_SERVER_ERROR,
        code::SEQUENCE_MISSING,
        "Sequence not loaded",
        &format!("The sequence {name:?} is not loaded"),
    )
}
