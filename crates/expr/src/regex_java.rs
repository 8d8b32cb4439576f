//! Java regular expressions (`filter regex=`, `switch case regex=`, `property pattern=`)
//! translated to the `regex` crate, anchored for whole-string matching (`Matcher.matches()`).
//!
//! Translated: `\d \w \s` (and negations) as ASCII classes like Java's defaults, POSIX classes
//! `\p{Alpha}` …, `\Q…\E`, `\h`, `\e`, `\a`, `\cX`, `\z`/`\Z`. Rejected with a message:
//! back-references, lookahead/lookbehind, atomic groups, possessive quantifiers, octal escapes,
//! and the `d`/`u` flags. Matching is linear-time (no backtracking), so results differ from Java
//! only for the rejected constructs and Unicode line terminators for `.` (Java excludes
//! `\r`, `\u0085`, `\u2028`, `\u2029` too; here only `\n`).

const MAX_REGEX_SIZE: usize = 1 << 20;

pub(crate) fn compile(pattern: &str) -> Result<regex::Regex, String> {
    let translated = translate(pattern)?;
    regex::RegexBuilder::new(&format!("^(?:{translated})$"))
        .size_limit(MAX_REGEX_SIZE)
        .dfa_size_limit(MAX_REGEX_SIZE)
        .build()
        .map_err(|e| match e {
            regex::Error::Syntax(s) => format!("invalid regular expression: {}", last_line(&s)),
            regex::Error::CompiledTooBig(_) => "regular expression too large".into(),
            other => format!("invalid regular expression: {other}"),
        })
}

fn last_line(s: &str) -> &str {
    s.lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .map(|l| l.trim_start_matches("error:").trim())
        .unwrap_or(s)
}

fn unsupported(what: &str) -> Result<String, String> {
    Err(format!(
        "{what} is not supported (synaptic matches regular expressions without backtracking)"
    ))
}

fn posix(name: &str) -> Option<&'static str> {
    Some(match name {
        "Lower" => "a-z",
        "Upper" => "A-Z",
        "ASCII" => "\\x00-\\x7F",
        "Alpha" => "a-zA-Z",
        "Digit" => "0-9",
        "Alnum" => "a-zA-Z0-9",
        "Punct" => "!-/:-@\\[-`{-~",
        "Graph" => "!-~",
        "Print" => " -~",
        "Blank" => " \\t",
        "Cntrl" => "\\x00-\\x1F\\x7F",
        "XDigit" => "0-9a-fA-F",
        "Space" => " \\t\\n\\x0B\\x0C\\r",
        "javaLowerCase" => "\\p{Lowercase}",
        "javaUpperCase" => "\\p{Uppercase}",
        "javaWhitespace" => "\\s",
        _ => return None,
    })
}

fn translate(p: &str) -> Result<String, String> {
    let chars: Vec<char> = p.chars().collect();
    let mut out = String::with_capacity(p.len() + 8);
    let mut i = 0;
    let mut class_depth = 0usize;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                let Some(&n) = chars.get(i + 1) else {
                    return Err("trailing backslash".into());
                };
                i += 2;
                let in_class = class_depth > 0;
                let class = |inner: &str, neg: bool| -> String {
                    if in_class && !neg {
                        inner.to_string()
                    } else if neg {
                        format!("[^{inner}]")
                    } else {
                        format!("[{inner}]")
                    }
                };
                match n {
                    'd' => out.push_str(&class("0-9", false)),
                    'D' => out.push_str(&class("0-9", true)),
                    'w' => out.push_str(&class("a-zA-Z_0-9", false)),
                    'W' => out.push_str(&class("a-zA-Z_0-9", true)),
                    's' => out.push_str(&class(" \\t\\n\\x0B\\x0C\\r", false)),
                    'S' => out.push_str(&class(" \\t\\n\\x0B\\x0C\\r", true)),
                    'h' => out.push_str(&class(
                        " \\t\\xA0\\x{1680}\\x{180e}\\x{2000}-\\x{200a}\\x{202f}\\x{205f}\\x{3000}",
                        false,
                    )),
                    'H' => out.push_str(&class(
                        " \\t\\xA0\\x{1680}\\x{180e}\\x{2000}-\\x{200a}\\x{202f}\\x{205f}\\x{3000}",
                        true,
                    )),
                    'e' => out.push_str("\\x1B"),
                    'a' => out.push_str("\\x07"),
                    'z' | 'Z' if !in_class => out.push_str("\\z"),
                    'A' if !in_class => out.push_str("\\A"),
                    'G' => return unsupported("\\G"),
                    'R' => return unsupported("\\R"),
                    'c' => {
                        let Some(&x) = chars.get(i) else {
                            return Err("\\c needs a control letter".into());
                        };
                        i += 1;
                        out.push_str(&format!("\\x{{{:x}}}", (x as u32) ^ 64));
                    }
                    '1'..='9' => return unsupported("a back-reference"),
                    'k' => return unsupported("a named back-reference"),
                    '0' => return unsupported("an octal escape"),
                    'p' | 'P' if chars.get(i) == Some(&'{') => {
                        let end = chars[i..]
                            .iter()
                            .position(|&c| c == '}')
                            .ok_or("unclosed \\p{")?;
                        let name: String = chars[i + 1..i + end].iter().collect();
                        i += end + 1;
                        let name = name.strip_prefix("Is").unwrap_or(&name).to_string();
                        match posix(&name) {
                            Some(inner) => out.push_str(&class(inner, n == 'P')),
                            None => {
                                out.push('\\');
                                out.push(n);
                                out.push('{');
                                out.push_str(&name);
                                out.push('}');
                            }
                        }
                    }
                    'Q' => {
                        // literal until \E
                        while i < chars.len() {
                            if chars[i] == '\\' && chars.get(i + 1) == Some(&'E') {
                                i += 2;
                                break;
                            }
                            push_literal(&mut out, chars[i]);
                            i += 1;
                        }
                    }
                    'E' => {}
                    other => {
                        out.push('\\');
                        out.push(other);
                    }
                }
                continue;
            }
            '[' => {
                class_depth += 1;
                out.push('[');
                // a leading ']' or '^]' is literal in Java
                if chars.get(i + 1) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                if chars.get(i + 1) == Some(&']') {
                    out.push_str("\\]");
                    i += 1;
                }
            }
            ']' if class_depth > 0 => {
                class_depth -= 1;
                out.push(']');
            }
            '(' if class_depth == 0 && chars.get(i + 1) == Some(&'?') => {
                let rest: String = chars[i + 2..chars.len().min(i + 5)].iter().collect();
                if rest.starts_with('=') || rest.starts_with('!') {
                    return unsupported("lookahead");
                }
                if rest.starts_with("<=") || rest.starts_with("<!") {
                    return unsupported("lookbehind");
                }
                if rest.starts_with('>') {
                    return unsupported("an atomic group");
                }
                // inline flags: reject Java-only ones
                let flags: String = chars[i + 2..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphabetic() || **c == '-')
                    .collect();
                if flags.contains('d') || flags.contains('u') || flags.contains('c') {
                    return unsupported("the d, u and c flags");
                }
                out.push('(');
            }
            '*' | '+' | '?' | '}' if class_depth == 0 => {
                out.push(c);
                if chars.get(i + 1) == Some(&'+') {
                    return unsupported("a possessive quantifier");
                }
            }
            _ => out.push(c),
        }
        i += 1;
    }
    Ok(out)
}

fn push_literal(out: &mut String, c: char) {
    if regex_syntax_meta(c) {
        out.push('\\');
    }
    out.push(c);
}

fn regex_syntax_meta(c: char) -> bool {
    matches!(
        c,
        '\\' | '.'
            | '+'
            | '*'
            | '?'
            | '('
            | ')'
            | '|'
            | '['
            | ']'
            | '{'
            | '}'
            | '^'
            | '$'
            | '#'
            | '&'
            | '-'
            | '~'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pattern: &str, yes: &[&str], no: &[&str]) {
        let re = compile(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
        for s in yes {
            assert!(re.is_match(s), "{pattern} should match {s:?}");
        }
        for s in no {
            assert!(!re.is_match(s), "{pattern} should not match {s:?}");
        }
    }

    #[test]
    fn whole_string_semantics() {
        check("gol", &["gol"], &["gold", "agol"]);
        check("gol|gold", &["gol", "gold"], &["golds"]);
        check("a.*", &["a", "abc"], &["ba"]);
        check("\\d+", &["123"], &["12a", "١٢"]);
        check("\\w+", &["a_1"], &["é"]);
        check("[\\d.]+", &["1.5"], &["a"]);
        check("\\p{Alpha}+", &["abc"], &["ab1"]);
        check("\\p{IsAlpha}\\P{Digit}", &["ab"], &["a1"]);
        check("\\Qa.b\\E", &["a.b"], &["axb"]);
        check("(?i)abc", &["ABC"], &["ab"]);
        check("[]a]", &["]", "a"], &["b"]);
        check("[^]a]", &["b"], &["]"]);
        check(
            "application/json.*",
            &["application/json; charset=UTF-8"],
            &["text/json"],
        );
        check("(?<name>a)b", &["ab"], &["a"]);
        check("\\/api\\/.*", &["/api/x"], &["/x"]);
    }

    #[test]
    fn unsupported_constructs() {
        for (p, want) in [
            ("(a)\\1", "back-reference"),
            ("a(?=b)", "lookahead"),
            ("(?<!a)b", "lookbehind"),
            ("(?>a)", "atomic"),
            ("a*+", "possessive"),
            ("\\0101", "octal"),
            ("(a", "invalid regular expression"),
            ("\\", "trailing backslash"),
        ] {
            let e = compile(p).unwrap_err();
            assert!(e.contains(want), "{p}: {e}");
        }
    }
}
