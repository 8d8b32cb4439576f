//! RFC 6570 `uri-template` expansion (the `<http>` endpoint) and the `REST_URL_POSTFIX` join of
//! address endpoints.

/// One `{…}` expression of a template: its byte range (braces included), operator and variables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TemplateExpr {
    pub start: usize,
    pub end: usize,
    pub op: Option<char>,
    pub vars: Vec<VarSpec>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct VarSpec {
    pub name: String,
    pub prefix: Option<usize>,
}

/// Split a template into its expressions. `Err((offset, message))` on an unclosed brace.
pub(crate) fn parse_template(t: &str) -> Result<Vec<TemplateExpr>, (usize, String)> {
    let mut out = Vec::new();
    let mut i = 0;
    let b = t.as_bytes();
    while i < b.len() {
        if b[i] == b'{' {
            let Some(close) = t[i..].find('}') else {
                return Err((i, "unclosed `{` in uri-template".into()));
            };
            let inner = &t[i + 1..i + close];
            let (op, list) = match inner.chars().next() {
                Some(c @ ('+' | '#' | '.' | '/' | ';' | '?' | '&')) => (Some(c), &inner[1..]),
                _ => (None, inner),
            };
            let vars = list
                .split(',')
                .map(|v| {
                    let v = v.trim_end_matches('*');
                    match v.split_once(':') {
                        Some((n, p)) if p.bytes().all(|c| c.is_ascii_digit()) && !p.is_empty() => {
                            VarSpec {
                                name: n.to_string(),
                                prefix: p.parse().ok(),
                            }
                        }
                        _ => VarSpec {
                            name: v.to_string(),
                            prefix: None,
                        },
                    }
                })
                .collect();
            out.push(TemplateExpr {
                start: i,
                end: i + close + 1,
                op,
                vars,
            });
            i += close + 1;
        } else {
            i += 1;
        }
    }
    Ok(out)
}

fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}
fn is_reserved(c: u8) -> bool {
    matches!(
        c,
        b':' | b'/'
            | b'?'
            | b'#'
            | b'['
            | b']'
            | b'@'
            | b'!'
            | b'$'
            | b'&'
            | b'\''
            | b'('
            | b')'
            | b'*'
            | b'+'
            | b','
            | b';'
            | b'='
    )
}

fn encode(s: &str, allow_reserved: bool, out: &mut String) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if is_unreserved(c) || (allow_reserved && is_reserved(c)) {
            out.push(c as char);
        } else if allow_reserved
            && c == b'%'
            && i + 2 < b.len()
            && b[i + 1].is_ascii_hexdigit()
            && b[i + 2].is_ascii_hexdigit()
        {
            out.push('%');
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
        i += 1;
    }
}

/// Expand an RFC 6570 (level 3) template; `lookup` gives a variable's value (undefined → skipped).
/// As in Synapse, a template that starts with `{` treats its first expression as `{+…}`.
pub fn expand_uri_template(t: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let exprs = match parse_template(t) {
        Ok(e) => e,
        Err(_) => return t.to_string(),
    };
    let mut out = String::with_capacity(t.len() + 32);
    let mut last = 0;
    for (idx, e) in exprs.iter().enumerate() {
        out.push_str(&t[last..e.start]);
        last = e.end;
        let op = if idx == 0 && e.start == 0 && e.op.is_none() {
            Some('+')
        } else {
            e.op
        };
        let (first, sep, named, ifemp, allow) = match op {
            None => ("", ",", false, "", false),
            Some('+') => ("", ",", false, "", true),
            Some('#') => ("#", ",", false, "", true),
            Some('.') => (".", ".", false, "", false),
            Some('/') => ("/", "/", false, "", false),
            Some(';') => (";", ";", true, "", false),
            Some('?') => ("?", "&", true, "=", false),
            Some('&') => ("&", "&", true, "=", false),
            Some(_) => ("", ",", false, "", false),
        };
        let mut any = false;
        for v in &e.vars {
            let Some(mut val) = lookup(&v.name) else {
                continue;
            };
            if let Some(p) = v.prefix {
                val = val.chars().take(p).collect();
            }
            out.push_str(if any { sep } else { first });
            any = true;
            if named {
                out.push_str(&v.name);
                if val.is_empty() {
                    out.push_str(ifemp);
                    continue;
                }
                out.push('=');
            }
            encode(&val, allow, &mut out);
        }
    }
    out.push_str(&t[last..]);
    out
}

/// Join an address and `REST_URL_POSTFIX` the Synapse way.
pub fn join_rest_postfix(address: &str, postfix: &str) -> String {
    if postfix.is_empty() {
        return address.to_string();
    }
    // an address that carries its own query: the postfix path goes before it, queries merge
    if let Some((a_path, a_query)) = address.split_once('?') {
        let (p_path, p_query) = match postfix.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (postfix, None),
        };
        let mut out = if p_path.is_empty() {
            a_path.to_string()
        } else {
            join_rest_postfix(a_path, p_path)
        };
        out.push('?');
        out.push_str(a_query);
        if let Some(q) = p_query.filter(|q| !q.is_empty()) {
            if !a_query.is_empty() {
                out.push('&');
            }
            out.push_str(q);
        }
        return out;
    }
    let (a, sep, p) = if postfix.starts_with('?') {
        (address.strip_suffix('/').unwrap_or(address), "", postfix)
    } else {
        match (address.ends_with('/'), postfix.starts_with('/')) {
            (true, true) => (address, "", &postfix[1..]),
            (false, false) => (address, "/", postfix),
            _ => (address, "", postfix),
        }
    };
    // per request: one allocation, no formatting machinery
    let mut out = String::with_capacity(a.len() + sep.len() + p.len());
    out.push_str(a);
    out.push_str(sep);
    out.push_str(p);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(n: &str) -> Option<String> {
        match n {
            "uri.var.id" => Some("a b/c".into()),
            "uri.var.host" => Some("http://127.0.0.1:9/x".into()),
            "query.param.q" => Some("x&y".into()),
            "query.param.e" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expansion() {
        let cases = [
            ("http://h/orders/{uri.var.id}", "http://h/orders/a%20b%2Fc"),
            ("http://h/o/{+uri.var.id}", "http://h/o/a%20b/c"),
            ("{uri.var.host}/t", "http://127.0.0.1:9/x/t"),
            (
                "http://h/s{?query.param.q,query.param.e}",
                "http://h/s?query.param.q=x%26y&query.param.e=",
            ),
            ("http://h/{uri.var.missing}x", "http://h/x"),
            ("http://h/{/uri.var.id}", "http://h//a%20b%2Fc"),
            (
                "http://127.0.0.1:8280/oauth2/token",
                "http://127.0.0.1:8280/oauth2/token",
            ),
        ];
        for (t, want) in cases {
            assert_eq!(expand_uri_template(t, &lookup), want, "{t}");
        }
    }

    #[test]
    fn postfix_join() {
        assert_eq!(
            join_rest_postfix("http://b/api", "/menu?x=1"),
            "http://b/api/menu?x=1"
        );
        assert_eq!(
            join_rest_postfix("http://b/api/", "/menu"),
            "http://b/api/menu"
        );
        assert_eq!(
            join_rest_postfix("http://b/api", "menu"),
            "http://b/api/menu"
        );
        assert_eq!(
            join_rest_postfix("http://b/api/", "?x=1"),
            "http://b/api?x=1"
        );
        assert_eq!(join_rest_postfix("http://b/api", ""), "http://b/api");
        assert_eq!(
            join_rest_postfix("http://b/api/", "menu"),
            "http://b/api/menu"
        );
    }
}
