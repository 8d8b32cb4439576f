//! Words for expression mistakes: where in the expression a syntax error is (a character
//! position, and the file position through the span), what was expected in plain words rather
//! than the JSONPath grammar's rule names, and the supported way to write a `json-eval(…)` that
//! is part of a larger XPath.

use jsonpath_rust::parser::errors::JsonPathError;

/// 1-based character position of byte offset `at` in `text`, and what is found there.
pub(crate) fn position(text: &str, at: usize) -> (usize, String) {
    let at = at.min(text.len());
    let mut start = at;
    while start > 0 && !text.is_char_boundary(start) {
        start -= 1;
    }
    let n = text[..start].chars().count() + 1;
    let found = match text[start..].chars().next() {
        None => "the end of the expression".to_string(),
        Some(c) => format!("`{c}`"),
    };
    (n, found)
}

/// The message of an XPath syntax error at byte `at` of `text`.
pub(crate) fn xpath_error(text: &str, at: usize, message: &str) -> String {
    if text.starts_with("$.") || text.starts_with("$[") {
        return format!("`{text}` is a JSONPath, not XPath: write it as `json-eval({text})`");
    }
    let (n, found) = position(text, at);
    let found = if message.starts_with("expected") {
        format!(", found {found}")
    } else {
        String::new()
    };
    format!("XPath syntax error at character {n} of `{text}`: {message}{found}")
}

/// A JSONPath syntax error in `path` (the text between `json-eval(` and `)`, or an
/// `evaluator="json"` argument): the byte offset in `path`, and the message.
pub(crate) fn jsonpath_error(path: &str) -> Option<(usize, String)> {
    let rfc = crate::json::to_rfc(path);
    if let Ok(r) = &rfc {
        if let Some(f) = &r.function {
            // a path that calls a function is not read by jsonpath-rust as a whole: a function
            // operand of a filter Jayway refuses, where it is
            let (at, what) = crate::jwfn::operand_error(&r.jw, &f.steps, &|o| r.at(o))?;
            let (n, _) = position(path, at);
            return Some((
                at,
                format!("JSONPath syntax error at character {n} of `{path}`: {what}"),
            ));
        }
    }
    let failed = match &rfc {
        Ok(r) => jsonpath_rust::parser::parse_json_path(&r.text).is_err(),
        Err(_) => true,
    };
    if failed {
        if let Some((at, what)) = unbalanced(path) {
            let (n, _) = position(path, at);
            return Some((
                at,
                format!("JSONPath syntax error at character {n} of `{path}`: {what}"),
            ));
        }
    }
    let rfc = match rfc {
        Ok(r) => r,
        Err((at, what)) => {
            let at = at.min(path.len());
            let (n, _) = position(path, at);
            return Some((
                at,
                format!("JSONPath syntax error at character {n} of `{path}`: {what}"),
            ));
        }
    };
    let err = match jsonpath_rust::parser::parse_json_path(&rfc.text) {
        Ok(_) => return None,
        Err(e) => e,
    };
    let JsonPathError::PestError(pe) = &err else {
        return Some((0, format!("JSONPath syntax error in `{path}`: {err}")));
    };
    let pos = match pe.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((p, _)) => p,
    };
    let at = rfc
        .map
        .get(pos)
        .copied()
        .unwrap_or(path.len())
        .min(path.len());
    let (n, found) = position(path, at);
    let found = found.replace("the expression", "the path");
    let expected = match &pe.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => {
            let mut words: Vec<&str> = Vec::new();
            for r in positives {
                let w = rule_words(&format!("{r:?}"));
                if !words.contains(&w) {
                    words.push(w);
                }
            }
            match words.split_last() {
                None => String::new(),
                Some((last, [])) => last.to_string(),
                Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            }
        }
        pest::error::ErrorVariant::CustomError { message } => message.clone(),
    };
    let hint = if found == "`=`" && expected.contains("comparison") {
        " (equality is `==`)"
    } else {
        ""
    };
    let expected = if expected.is_empty() {
        String::new()
    } else {
        format!("expected {expected}, ")
    };
    Some((
        at,
        format!(
            "JSONPath syntax error at character {n} of `{path}`: {expected}found {found}{hint}"
        ),
    ))
}

/// An unterminated string or an unclosed or unopened bracket: where, and what.
fn unbalanced(path: &str) -> Option<(usize, String)> {
    let mut open: Vec<(usize, char)> = Vec::new();
    let mut quote: Option<(usize, char)> = None;
    for (i, c) in path.char_indices() {
        match quote {
            Some((_, q)) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' => quote = Some((i, c)),
                '[' | '(' => open.push((i, c)),
                ']' | ')' => {
                    let want = if c == ']' { '[' } else { '(' };
                    match open.pop() {
                        Some((_, o)) if o == want => {}
                        _ => return Some((i, format!("`{c}` closes nothing"))),
                    }
                }
                _ => {}
            },
        }
    }
    if let Some((i, q)) = quote {
        return Some((i, format!("the string started by {q} is never closed")));
    }
    open.pop()
        .map(|(i, c)| (i, format!("`{c}` is never closed")))
}

/// Plain words for a rule of the JSONPath grammar.
fn rule_words(rule: &str) -> &'static str {
    match rule {
        "EOI"
        | "segment"
        | "segments"
        | "child_segment"
        | "descendant_segment"
        | "name_segment"
        | "index_segment"
        | "singular_query_segments" => "`.name`, `[…]` or the end of the path",
        "wildcard_selector"
        | "member_name_shorthand"
        | "ALPHA"
        | "name_first"
        | "name_char"
        | "DIGIT" => "a member name or `*`",
        "selector" | "bracketed_selection" => {
            "a selector (a quoted name, an index, `*`, a slice or a filter `?(…)`)"
        }
        "string" | "name_selector" => "a quoted name",
        "int" | "index_selector" | "slice_selector" | "start" | "end" | "step" | "number" => {
            "an index or a slice"
        }
        "comp_op" => "a comparison (`==`, `!=`, `<`, `<=`, `>`, `>=`)",
        "root" | "jp_query" => "`$`",
        _ => "a filter condition",
    }
}

/// `json-eval(…)` used inside a larger XPath: the message, with the supported way written out.
/// `text` is the whole expression and `start` the offset of `json-eval(` in it.
pub(crate) fn json_eval_inside_xpath(text: &str, start: usize) -> String {
    let open = start + "json-eval(".len();
    let mut depth = 1usize;
    let mut quote: Option<char> = None;
    let mut close = None;
    for (i, c) in text[open..].char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' => quote = Some(c),
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(open + i);
                        break;
                    }
                }
                _ => {}
            },
        }
    }
    let base =
        "json-eval(…) cannot be part of a larger XPath expression: it is only recognised as \
                the whole expression, in Synapse as in synaptic (Synapse's XPath engine does not \
                know the function)";
    let Some(close) = close else {
        return base.to_string();
    };
    let path = text[open..close].trim();
    let name = property_name(path);
    let rewritten = format!(
        "{}get-property('{name}'){}",
        &text[..start],
        &text[close + 1..]
    );
    format!(
        "{base}; read the value into a property first, \
         <property name=\"{name}\" expression=\"json-eval({path})\"/>, then write `{}`",
        rewritten.trim()
    )
}

/// A property name for the value a JSONPath selects: its last member name.
fn property_name(path: &str) -> String {
    let last = path
        .rsplit(['.', '[', ']', '\'', '"', '$', ':'])
        .find(|s| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
                && !s.chars().all(|c| c.is_ascii_digit())
        })
        .unwrap_or("value");
    last.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonpath_errors_name_the_position_in_plain_words() {
        // one trailing `.` is dropped, as Synapse drops it; two leave one
        assert!(jsonpath_error("$.a.").is_none());
        let (at, m) = jsonpath_error("$.a..").unwrap();
        assert_eq!(at, 3, "{m}");
        assert_eq!(
            m,
            "JSONPath syntax error at character 4 of `$.a..`: a path cannot end with `.` or `..`"
        );
        let (at, m) = jsonpath_error("store.book[0").unwrap();
        assert_eq!(at, 10, "{m}");
        assert!(
            m.ends_with("character 11 of `store.book[0`: `[` is never closed"),
            "{m}"
        );
        let (at, m) = jsonpath_error("$['a]").unwrap();
        assert_eq!(at, 2, "{m}");
        let (at, m) = jsonpath_error("$.a[?(@.x = 1)]").unwrap();
        assert_eq!(at, 10, "{m}");
        assert!(m.ends_with("found `=` (equality is `==`)"), "{m}");
        let (at, m) = jsonpath_error("$.a[?(@.x = 1)].b").unwrap();
        assert_eq!(at, 10, "{m}");
        let (at, m) = jsonpath_error("$ctx:p.a..").unwrap();
        assert_eq!(at, 8, "{m}");
        let (at, m) = jsonpath_error("$.a b").unwrap();
        assert_eq!(at, 3, "{m}");
        assert!(m.contains("['my name']"), "{m}");
        let (at, m) = jsonpath_error("  $ctx:.a").unwrap();
        assert_eq!(
            (at, m.contains("property name after `$ctx:`")),
            (7, true),
            "{m}"
        );
        for ok in [
            "$.a.b",
            "$.[0]",
            "$.a[0]]",
            "$.a[0]x",
            "a[0]b",
            "$ctx:p.[0]",
        ] {
            assert!(jsonpath_error(ok).is_none(), "{ok}: Jayway reads it");
        }
        let (_, m) = jsonpath_error("$.a[0]xy[").unwrap_or((0, String::new()));
        assert!(!m.contains('_'), "no rule names: {m}");
    }

    #[test]
    fn json_eval_inside_xpath_shows_the_supported_way() {
        let m = json_eval_inside_xpath("json-eval($.order.qty) > 100", 0);
        assert!(
            m.ends_with(
                "<property name=\"qty\" expression=\"json-eval($.order.qty)\"/>, then write \
                 `get-property('qty') > 100`"
            ),
            "{m}"
        );
        let m = json_eval_inside_xpath("concat('a', json-eval($.items[0]))", 12);
        assert!(
            m.ends_with("then write `concat('a', get-property('items'))`"),
            "{m}"
        );
        let m = json_eval_inside_xpath("json-eval($.a", 0);
        assert!(m.starts_with("json-eval(…) cannot be part"), "{m}");
    }

    #[test]
    fn xpath_errors_name_the_position() {
        assert_eq!(
            xpath_error("get-property('x'", 16, "expected ')' or ','"),
            "XPath syntax error at character 17 of `get-property('x'`: expected ')' or ',', \
             found the end of the expression"
        );
        assert_eq!(
            xpath_error("a && b", 2, "unexpected character '&'"),
            "XPath syntax error at character 3 of `a && b`: unexpected character '&'"
        );
        assert!(xpath_error("$.a.b", 1, "expected a name").ends_with("`json-eval($.a.b)`"));
    }

    #[test]
    fn positions_count_characters() {
        assert_eq!(position("ab", 1), (2, "`b`".into()));
        assert_eq!(position("çb", 2), (2, "`b`".into()));
        assert_eq!(position("ab", 2), (3, "the end of the expression".into()));
    }
}
