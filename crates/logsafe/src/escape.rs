//! Escaping of request-derived text for log lines.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

/// Displays a string with control characters, `\` and `"` escaped (`\n`, `\r`, `\t`, `\"`,
/// `\\`, `\u{…}`); line and paragraph separators (U+2028, U+2029) and other control characters
/// included. Formatting allocates nothing.
#[derive(Clone, Copy, Debug)]
pub struct Escaped<'a>(pub &'a str);

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\\' | '"' | '\u{2028}' | '\u{2029}')
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let mut from = 0;
        for (i, c) in s.char_indices() {
            if !needs_escape(c) {
                continue;
            }
            f.write_str(&s[from..i])?;
            match c {
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                '\\' => f.write_str("\\\\")?,
                '"' => f.write_str("\\\"")?,
                c => write!(f, "\\u{{{:x}}}", c as u32)?,
            }
            from = i + c.len_utf8();
        }
        f.write_str(&s[from..])
    }
}

/// [`Escaped`] as a string; borrowed when nothing needed escaping.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    let _ = write!(out, "{}", Escaped(s));
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlines_cannot_forge_lines() {
        let forged =
            "bob\n2026-12-02T10:00:00Z  INFO synaptic: admin logged in\r\u{2028}\u{1b}[31m";
        let e = escape(forged);
        assert!(!e.contains('\n') && !e.contains('\r') && !e.contains('\u{2028}'));
        assert!(!e.contains('\u{1b}'));
        assert_eq!(
            e,
            "bob\\n2026-12-02T10:00:00Z  INFO synaptic: admin logged in\\r\\u{2028}\\u{1b}[31m"
        );
        assert_eq!(Escaped("a\"b\\c\td").to_string(), "a\\\"b\\\\c\\td");
        assert!(matches!(escape("plain text ünïcode"), Cow::Borrowed(_)));
    }
}
