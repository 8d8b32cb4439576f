//! Backend responses, as a backend sends them before closing the connection, through the
//! cleartext HTTP/1.1 client's head parser and body decoder (`pool::decode_response`): nothing
//! panics, and what is decoded holds to its framing — a `Content-Length` passed on is exactly
//! the body's length, a response to `HEAD`, a `204` or a `304` has no body, no hop-by-hop field
//! is passed on, and a connection is only reusable after a response whose body had its own
//! delimiter.
#![no_main]

use http::{header, StatusCode};
use libfuzzer_sys::fuzz_target;
use synaptic_gateway::pool::decode_response;

fuzz_target!(|data: &[u8]| {
    let (head_only, bytes) = match data.split_first() {
        Some((b, rest)) => (b & 1 == 1, rest),
        None => return,
    };
    let Ok((resp, body, reusable)) = decode_response(bytes, head_only) else {
        return;
    };
    let bodiless = head_only
        || resp.status() == StatusCode::NO_CONTENT
        || resp.status() == StatusCode::NOT_MODIFIED
        || resp.status() == StatusCode::SWITCHING_PROTOCOLS;
    if bodiless {
        assert!(body.is_empty());
        return;
    }
    // the head passed on: hop-by-hop fields gone, and a Content-Length only when it framed the
    // body
    let h = resp.headers();
    assert!(!h.contains_key(header::TRANSFER_ENCODING) && !h.contains_key(header::CONNECTION));
    match h.get(header::CONTENT_LENGTH) {
        Some(v) => {
            let n: usize = v
                .to_str()
                .unwrap()
                .split(',')
                .next()
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            assert_eq!(body.len(), n);
        }
        // delimited by the close unless chunked: reusable only after a chunked body
        None if reusable => {
            let lower = bytes.to_ascii_lowercase();
            assert!(lower.windows(7).any(|w| w == b"chunked"));
        }
        None => {}
    }
});
