//! The one normalised request path. Routing, resource matching and the authorization server's
//! scope checks all see the path this module produces, and the backend receives it too, so no
//! encoding trick can make them disagree.
//!
//! Rules, in order:
//! * the path must start with `/`; raw `\`, control characters and NUL are refused;
//! * `%XX` escapes of unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded, other escapes
//!   are kept with upper-case hex; `%2F` (`/`), `%5C` (`\`), `%00` and malformed escapes are
//!   refused, because backends disagree about them;
//! * `;params` are removed from every segment (`/a;x=1/b` → `/a/b`);
//! * empty segments (`//`) and `.` are dropped, `..` removes the previous segment (never above
//!   the root);
//! * a trailing `/` is kept.

use std::fmt;

/// The context without a trailing `/` (`"/"` becomes `""`, which matches every path).
pub fn context_key(context: &str) -> &str {
    context.trim_end_matches('/')
}

/// Why a path was refused (the client gets 400).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the path must start with '/'")]
    NotAbsolute,
    #[error("encoded '/' or '\\' in the path")]
    EncodedSeparator,
    #[error("malformed percent-encoding in the path")]
    BadEscape,
    #[error("forbidden character in the path")]
    ForbiddenChar,
}

/// A normalised path (no query).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NormalizedPath(String);

impl NormalizedPath {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for NormalizedPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for NormalizedPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// True when `raw` is already in normal form (the common case: no allocation needed).
fn is_normal(raw: &str) -> bool {
    let b = raw.as_bytes();
    if b.first() != Some(&b'/') {
        return false;
    }
    let mut prev_slash = false;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'/' => {
                if prev_slash {
                    return false;
                }
                prev_slash = true;
                continue;
            }
            b'%' | b';' | b'\\' => return false,
            c if c < 0x20 || c == 0x7f => return false,
            b'.' if prev_slash => {
                // `.` or `..` as a whole segment
                let rest = &b[i..];
                let seg_end = rest.iter().position(|&x| x == b'/').unwrap_or(rest.len());
                let seg = &rest[..seg_end];
                if seg == b"." || seg == b".." {
                    return false;
                }
            }
            _ => {}
        }
        prev_slash = false;
    }
    true
}

/// Normalise a request path (without its query string).
pub fn normalize(raw: &str) -> Result<NormalizedPath, PathError> {
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if is_normal(raw) {
        return Ok(NormalizedPath(raw.to_string()));
    }
    // 1. decode unreserved escapes, validate the rest
    let bytes = raw.as_bytes();
    let mut decoded = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'%' => {
                let (Some(h), Some(l)) = (
                    bytes.get(i + 1).copied().and_then(hex),
                    bytes.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err(PathError::BadEscape);
                };
                let v = h * 16 + l;
                match v {
                    b'/' | b'\\' => return Err(PathError::EncodedSeparator),
                    0 => return Err(PathError::ForbiddenChar),
                    v if is_unreserved(v) => decoded.push(v as char),
                    v => {
                        decoded.push('%');
                        decoded.push(char::from(b"0123456789ABCDEF"[(v >> 4) as usize]));
                        decoded.push(char::from(b"0123456789ABCDEF"[(v & 15) as usize]));
                    }
                }
                i += 3;
                continue;
            }
            b'\\' => return Err(PathError::ForbiddenChar),
            c if c < 0x20 || c == 0x7f => return Err(PathError::ForbiddenChar),
            _ => {}
        }
        // copy one UTF-8 character (the input is a &str, so boundaries are valid)
        let len = utf8_len(c);
        let end = (i + len).min(bytes.len());
        decoded.push_str(&raw[i..end]);
        i = end;
    }
    // 2. segments: strip ;params, drop empty and `.`, resolve `..`
    let mut out: Vec<&str> = Vec::new();
    let mut trailing = false;
    let raw_segments: Vec<&str> = decoded[1..].split('/').collect();
    let n = raw_segments.len();
    for (k, seg) in raw_segments.into_iter().enumerate() {
        let seg = match seg.find(';') {
            Some(p) => &seg[..p],
            None => seg,
        };
        let last = k + 1 == n;
        match seg {
            "" | "." => {
                if last {
                    trailing = true;
                }
            }
            ".." => {
                out.pop();
                if last {
                    trailing = true;
                }
            }
            s => out.push(s),
        }
    }
    let mut path = String::with_capacity(decoded.len());
    for s in &out {
        path.push('/');
        path.push_str(s);
    }
    if path.is_empty() || trailing {
        path.push('/');
    }
    Ok(NormalizedPath(path))
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: &str) {
        let got = match normalize(input) {
            Ok(p) => p.into_string(),
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, expect, "input {input:?}");
    }

    #[test]
    fn normal_paths_are_unchanged() {
        check("/", "/");
        check("/pizza/1.0/menu", "/pizza/1.0/menu");
        check("/pizza/1.0/menu/", "/pizza/1.0/menu/");
        check("/a.b/c..d/.e", "/a.b/c..d/.e");
        check("/ünïcode/ok", "/ünïcode/ok");
    }

    #[test]
    fn slashes_and_dots() {
        check("//pizza///1.0//menu", "/pizza/1.0/menu");
        check("/pizza/./1.0/menu", "/pizza/1.0/menu");
        check("/pizza/x/../1.0/menu", "/pizza/1.0/menu");
        check("/../../etc/passwd", "/etc/passwd");
        check("/a/b/..", "/a/");
        check("/a/b/.", "/a/b/");
        check("/..", "/");
    }

    #[test]
    fn escapes() {
        check("/%70izza/1%2E0/%7euser", "/pizza/1.0/~user");
        check("/a/%2e%2e/b", "/b");
        check("/a%20b/%c3%a9", "/a%20b/%C3%A9");
        check("/a%2Fb", "error: encoded '/' or '\\' in the path");
        check("/a%2fb", "error: encoded '/' or '\\' in the path");
        check("/a%5Cb", "error: encoded '/' or '\\' in the path");
        check("/a%00b", "error: forbidden character in the path");
        check("/a%zz", "error: malformed percent-encoding in the path");
        check("/a%4", "error: malformed percent-encoding in the path");
        check("/a\\b", "error: forbidden character in the path");
        check("a/b", "error: the path must start with '/'");
    }

    #[test]
    fn matrix_params() {
        check("/bookings;x=1", "/bookings");
        check("/a;jsessionid=1/b;v=2/", "/a/b/");
        check("/a/..;/b", "/b");
        check("/;x/a", "/a");
    }
}
