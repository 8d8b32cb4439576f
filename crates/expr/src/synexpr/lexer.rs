//! Tokens of a Synapse Expression (the text inside `${…}`).

/// A token kind. Offsets are byte offsets into the expression text.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// A number literal as written (sign is a separate `Minus`).
    Number(String),
    /// A string literal, escapes already decoded.
    Str(String),
    /// An identifier (keywords such as `payload`, `vars`, `and` are identifiers here).
    Ident(String),
    /// `$`
    Dollar,
    /// `@`
    At,
    Dot,
    DotDot,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Colon,
    Question,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    AndAnd,
    OrOr,
    Not,
    /// `=~` (regex match in JSONPath filters)
    Match,
    /// A `/pattern/flags` regex literal (only right after `=~`).
    Regex(String, String),
    Eof,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

/// A lexical error: message and byte range.
#[derive(Debug)]
pub struct LexError {
    pub message: String,
    pub start: usize,
    pub end: usize,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Split an expression into tokens.
pub fn lex(text: &str) -> Result<Vec<Token>, LexError> {
    let bytes = text.as_bytes();
    let mut out: Vec<Token> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = text[i..].chars().next().unwrap_or(' ');
        let start = i;
        if c.is_whitespace() {
            i += c.len_utf8();
            continue;
        }
        let two = text.get(i..i + 2).unwrap_or("");
        let simple2 = match two {
            ".." => Some(Tok::DotDot),
            "==" => Some(Tok::Eq),
            "!=" => Some(Tok::Ne),
            "<=" => Some(Tok::Le),
            ">=" => Some(Tok::Ge),
            "&&" => Some(Tok::AndAnd),
            "||" => Some(Tok::OrOr),
            "=~" => Some(Tok::Match),
            _ => None,
        };
        if let Some(t) = simple2 {
            let is_match = t == Tok::Match;
            out.push(Token {
                tok: t,
                start,
                end: i + 2,
            });
            i += 2;
            if is_match {
                // a regex literal may follow: /…/flags
                while i < bytes.len() && (bytes[i] as char).is_ascii_whitespace() {
                    i += 1;
                }
                if i < bytes.len() && bytes[i] == b'/' {
                    let rs = i;
                    i += 1;
                    let mut pat = String::new();
                    let mut closed = false;
                    while i < bytes.len() {
                        let ch = text[i..].chars().next().unwrap_or(' ');
                        if ch == '\\' && i + 1 < bytes.len() && bytes[i + 1] == b'/' {
                            pat.push('/');
                            i += 2;
                            continue;
                        }
                        if ch == '/' {
                            closed = true;
                            i += 1;
                            break;
                        }
                        pat.push(ch);
                        i += ch.len_utf8();
                    }
                    if !closed {
                        return Err(LexError {
                            message: "unterminated regular expression".into(),
                            start: rs,
                            end: text.len(),
                        });
                    }
                    let fs = i;
                    while i < bytes.len() && (bytes[i] as char).is_ascii_alphabetic() {
                        i += 1;
                    }
                    out.push(Token {
                        tok: Tok::Regex(pat, text[fs..i].to_string()),
                        start: rs,
                        end: i,
                    });
                }
            }
            continue;
        }
        let simple = match c {
            '$' => Some(Tok::Dollar),
            '@' => Some(Tok::At),
            '.' => Some(Tok::Dot),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '[' => Some(Tok::LBracket),
            ']' => Some(Tok::RBracket),
            ',' => Some(Tok::Comma),
            ':' => Some(Tok::Colon),
            '?' => Some(Tok::Question),
            '+' => Some(Tok::Plus),
            '-' => Some(Tok::Minus),
            '*' => Some(Tok::Star),
            '/' => Some(Tok::Slash),
            '%' => Some(Tok::Percent),
            '<' => Some(Tok::Lt),
            '>' => Some(Tok::Gt),
            '!' => Some(Tok::Not),
            _ => None,
        };
        if let Some(t) = simple {
            // `.5` is not a number in Synapse Expressions; `.` stays a separator.
            out.push(Token {
                tok: t,
                start,
                end: i + 1,
            });
            i += 1;
            continue;
        }
        if c.is_ascii_digit() {
            let mut j = i;
            while j < bytes.len() && bytes[j].is_ascii_digit() {
                j += 1;
            }
            if j + 1 < bytes.len() && bytes[j] == b'.' && bytes[j + 1].is_ascii_digit() {
                j += 1;
                while j < bytes.len() && bytes[j].is_ascii_digit() {
                    j += 1;
                }
            }
            out.push(Token {
                tok: Tok::Number(text[i..j].to_string()),
                start,
                end: j,
            });
            i = j;
            continue;
        }
        if c == '"' || c == '\'' {
            let (s, end) = string_literal(text, i, c)?;
            out.push(Token {
                tok: Tok::Str(s),
                start,
                end,
            });
            i = end;
            continue;
        }
        if is_ident_start(c) {
            let mut j = i;
            while j < bytes.len() && is_ident_char(bytes[j] as char) {
                j += 1;
            }
            // a trailing `-` belongs to an operator, not to the name (`a-1` is `a - 1`)
            while j > i + 1 && bytes[j - 1] == b'-' {
                j -= 1;
            }
            out.push(Token {
                tok: Tok::Ident(text[i..j].to_string()),
                start,
                end: j,
            });
            i = j;
            continue;
        }
        return Err(LexError {
            message: format!("unexpected character `{c}`"),
            start,
            end: start + c.len_utf8(),
        });
    }
    out.push(Token {
        tok: Tok::Eof,
        start: text.len(),
        end: text.len(),
    });
    Ok(out)
}

/// A quoted string starting at `start` (the quote); returns the decoded text and the end offset.
fn string_literal(text: &str, start: usize, quote: char) -> Result<(String, usize), LexError> {
    let mut out = String::new();
    let mut it = text[start + 1..].char_indices().peekable();
    while let Some((off, ch)) = it.next() {
        let pos = start + 1 + off;
        if ch == quote {
            return Ok((out, pos + 1));
        }
        if ch != '\\' {
            out.push(ch);
            continue;
        }
        let Some((_, e)) = it.next() else { break };
        match e {
            'b' => out.push('\u{8}'),
            't' => out.push('\t'),
            'n' => out.push('\n'),
            'f' => out.push('\u{c}'),
            'r' => out.push('\r'),
            '"' | '\'' | '\\' | '/' => out.push(e),
            'u' => {
                let mut code = String::new();
                for _ in 0..4 {
                    match it.next() {
                        Some((_, h)) if h.is_ascii_hexdigit() => code.push(h),
                        _ => {
                            return Err(LexError {
                                message: "invalid \\u escape in string".into(),
                                start: pos,
                                end: pos + 2,
                            })
                        }
                    }
                }
                let v = u32::from_str_radix(&code, 16).unwrap_or(0xFFFD);
                out.push(char::from_u32(v).unwrap_or('\u{FFFD}'));
            }
            // any other escape is kept as written (regular expressions in `split`, `=~`)
            other => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    Err(LexError {
        message: "unterminated string literal".into(),
        start,
        end: text.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn numbers_strings_and_operators() {
        assert_eq!(
            kinds("5.5 >= 'a\\'b' && x-y"),
            vec![
                Tok::Number("5.5".into()),
                Tok::Ge,
                Tok::Str("a'b".into()),
                Tok::AndAnd,
                Tok::Ident("x-y".into()),
                Tok::Eof
            ]
        );
        assert_eq!(
            kinds("@.a =~ /.*T\\/x/i"),
            vec![
                Tok::At,
                Tok::Dot,
                Tok::Ident("a".into()),
                Tok::Match,
                Tok::Regex(".*T/x".into(), "i".into()),
                Tok::Eof
            ]
        );
        assert!(lex("'open").is_err());
        assert!(lex("a # b").is_err());
    }
}
