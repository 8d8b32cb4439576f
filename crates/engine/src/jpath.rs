//! Definite JSONPaths (`$`, `$.`, `$.a.b`, `$['a']`, `$.a[0]`, `$.a[-1]`) for `enrich`: read,
//! set, and delete one location of a `serde_json::Value`, with Jayway's outcomes (a missing
//! leaf is not an error for `set`; a missing intermediate member is).

use serde_json::Value as Json;

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Seg {
    Key(String),
    Index(i64),
    /// `[*]` / `.*`: every member or element (only in `enrich` remove paths).
    Any,
}

/// A parsed definite path; empty = the root.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct JPath {
    pub segs: Vec<Seg>,
}

/// Outcome of a lookup that found nothing.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Missing {
    /// The last segment is absent.
    Leaf,
    /// A segment before the last is absent or not a container.
    Intermediate,
}

/// The text inside `json-eval(…)`, if `text` is one.
pub(crate) fn json_eval_inner(text: &str) -> Option<&str> {
    let t = text.trim();
    let inner = t.strip_prefix("json-eval(")?.strip_suffix(')')?;
    Some(inner.trim())
}

/// Parse a definite path; `Err` for anything else (wildcards, filters, deep scans, unions).
pub(crate) fn parse(text: &str) -> Result<JPath, String> {
    parse_with(text, false)
}

/// Parse a path of names, indexes and wildcards (`[*]`, `.*`), as `enrich` remove takes them.
pub(crate) fn parse_wildcards(text: &str) -> Result<JPath, String> {
    parse_with(text, true)
}

fn parse_with(text: &str, wildcards: bool) -> Result<JPath, String> {
    let t = text.trim();
    let rest = t
        .strip_prefix('$')
        .ok_or_else(|| format!("`{t}` does not start with `$`"))?;
    let b = rest.as_bytes();
    let mut i = 0;
    let mut segs = Vec::new();
    if rest == "." {
        return Ok(JPath { segs });
    }
    while i < b.len() {
        match b[i] {
            b'.' => {
                if b.get(i + 1) == Some(&b'.') {
                    return Err("deep scan `..` is not a definite path".into());
                }
                let start = i + 1;
                let mut j = start;
                while j < b.len() && b[j] != b'.' && b[j] != b'[' {
                    j += 1;
                }
                let name = &rest[start..j];
                if wildcards && name == "*" {
                    segs.push(Seg::Any);
                    i = j;
                    continue;
                }
                if name.is_empty() || name == "*" || name.contains('(') {
                    return Err(format!("`.{name}` is not a member name"));
                }
                segs.push(Seg::Key(name.to_string()));
                i = j;
            }
            b'[' => {
                let close = rest[i..].find(']').map(|k| i + k).ok_or("missing `]`")?;
                let inner = rest[i + 1..close].trim();
                if wildcards && inner == "*" {
                    segs.push(Seg::Any);
                } else if let Some(q) = inner.chars().next().filter(|c| *c == '\'' || *c == '"') {
                    let name = inner
                        .strip_prefix(q)
                        .and_then(|s| s.strip_suffix(q))
                        .ok_or("unterminated quoted member name")?;
                    if name.contains(q) {
                        return Err("a union of names is not a definite path".into());
                    }
                    segs.push(Seg::Key(name.to_string()));
                } else {
                    let n: i64 = inner
                        .parse()
                        .map_err(|_| format!("`[{inner}]` is not a definite index"))?;
                    segs.push(Seg::Index(n));
                }
                i = close + 1;
            }
            _ => return Err(format!("unexpected `{}`", &rest[i..])),
        }
    }
    Ok(JPath { segs })
}

fn index(len: usize, n: i64) -> Option<usize> {
    let len = len as i64;
    let k = if n < 0 { len + n } else { n };
    (0..len).contains(&k).then_some(k as usize)
}

fn child<'v>(v: &'v Json, s: &Seg) -> Option<&'v Json> {
    match (v, s) {
        (Json::Object(m), Seg::Key(k)) => m.get(k),
        (Json::Array(a), Seg::Index(n)) => index(a.len(), *n).and_then(|i| a.get(i)),
        _ => None,
    }
}

/// Every definite path a path with wildcards matches in `root`, in document order.
fn expand(segs: &[Seg], v: &Json, prefix: &mut Vec<Seg>, out: &mut Vec<JPath>) {
    let Some((first, rest)) = segs.split_first() else {
        out.push(JPath {
            segs: prefix.clone(),
        });
        return;
    };
    let mut descend = |seg: Seg, c: &Json, prefix: &mut Vec<Seg>| {
        prefix.push(seg);
        expand(rest, c, prefix, out);
        prefix.pop();
    };
    match (first, v) {
        (Seg::Any, Json::Object(m)) => {
            for (k, c) in m {
                descend(Seg::Key(k.clone()), c, prefix);
            }
        }
        (Seg::Any, Json::Array(a)) => {
            for (i, c) in a.iter().enumerate() {
                descend(Seg::Index(i as i64), c, prefix);
            }
        }
        (Seg::Any, _) => {}
        (s, v) => {
            if let Some(c) = child(v, s) {
                descend(s.clone(), c, prefix);
            }
        }
    }
}

fn child_mut<'v>(v: &'v mut Json, s: &Seg) -> Option<&'v mut Json> {
    match (v, s) {
        (Json::Object(m), Seg::Key(k)) => m.get_mut(k),
        (Json::Array(a), Seg::Index(n)) => index(a.len(), *n).and_then(|i| a.get_mut(i)),
        _ => None,
    }
}

impl JPath {
    /// Whether the path holds a wildcard.
    pub(crate) fn has_wildcard(&self) -> bool {
        self.segs.contains(&Seg::Any)
    }

    /// The definite paths this path matches in `root` (itself when it has no wildcard).
    pub(crate) fn matches(&self, root: &Json) -> Vec<JPath> {
        let mut out = Vec::new();
        expand(
            &self.segs,
            root,
            &mut Vec::with_capacity(self.segs.len()),
            &mut out,
        );
        out
    }

    pub(crate) fn read<'v>(&self, root: &'v Json) -> Result<&'v Json, Missing> {
        let mut v = root;
        for (i, s) in self.segs.iter().enumerate() {
            v = child(v, s).ok_or(if i + 1 == self.segs.len() {
                Missing::Leaf
            } else {
                Missing::Intermediate
            })?;
        }
        Ok(v)
    }

    pub(crate) fn read_mut<'v>(&self, root: &'v mut Json) -> Result<&'v mut Json, Missing> {
        let n = self.segs.len();
        let mut v = root;
        for (i, s) in self.segs.iter().enumerate() {
            v = child_mut(v, s).ok_or(if i + 1 == n {
                Missing::Leaf
            } else {
                Missing::Intermediate
            })?;
        }
        Ok(v)
    }

    /// Replace the value at the path. A missing leaf leaves the document unchanged (`Ok(false)`).
    pub(crate) fn set(&self, root: &mut Json, value: Json) -> Result<bool, Missing> {
        match self.read_mut(root) {
            Ok(slot) => {
                *slot = value;
                Ok(true)
            }
            Err(Missing::Leaf) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Remove the value at the path (no-op when absent).
    pub(crate) fn delete(&self, root: &mut Json) {
        let Some((last, parent)) = self.segs.split_last() else {
            *root = Json::Null;
            return;
        };
        let parent = JPath {
            segs: parent.to_vec(),
        };
        match (parent.read_mut(root), last) {
            (Ok(Json::Object(m)), Seg::Key(k)) => {
                m.shift_remove(k);
            }
            (Ok(Json::Array(a)), Seg::Index(n)) => {
                if let Some(i) = index(a.len(), *n) {
                    a.remove(i);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wildcard_paths_expand_to_matches() {
        let doc = json!({"a": [{"x": 1, "y": 2}, {"x": 3}], "b": {"p": 1, "q": 2}});
        let texts = |p: &str| -> Vec<String> {
            parse_wildcards(p)
                .unwrap()
                .matches(&doc)
                .iter()
                .map(|m| format!("{:?}", m.segs))
                .collect()
        };
        assert_eq!(
            texts("$.a[*].x"),
            vec![
                r#"[Key("a"), Index(0), Key("x")]"#,
                r#"[Key("a"), Index(1), Key("x")]"#
            ]
        );
        assert_eq!(texts("$.b.*").len(), 2);
        assert!(texts("$.a[*].z").is_empty());
        assert!(parse("$.a[*]").is_err());
        let mut d = doc.clone();
        for m in parse_wildcards("$.a[*].x")
            .unwrap()
            .matches(&doc)
            .iter()
            .rev()
        {
            m.delete(&mut d);
        }
        assert_eq!(d, json!({"a": [{"y": 2}, {}], "b": {"p": 1, "q": 2}}));
    }

    #[test]
    fn parse_definite_paths() {
        assert_eq!(parse("$").map(|p| p.segs.len()), Ok(0));
        assert_eq!(parse("$.").map(|p| p.segs.len()), Ok(0));
        assert_eq!(
            parse("$.a['b c'][-1]").map(|p| p.segs),
            Ok(vec![
                Seg::Key("a".into()),
                Seg::Key("b c".into()),
                Seg::Index(-1)
            ])
        );
        for bad in [
            "$..a",
            "$.a[*]",
            "$.*",
            "$.a[?(@.x)]",
            "a.b",
            "$.a['x','y']",
            "$.a.length()",
        ] {
            assert!(parse(bad).is_err(), "{bad} should be refused");
        }
        assert_eq!(json_eval_inner(" json-eval( $.a ) "), Some("$.a"));
        assert_eq!(json_eval_inner("//a"), None);
    }

    #[test]
    fn read_set_delete_follow_jayway() {
        let mut doc = json!({"a": {"b": [1, 2, 3]}, "n": null});
        let p = |s: &str| parse(s).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p("$.a.b[-1]").read(&doc), Ok(&json!(3)));
        assert_eq!(p("$.a.x").read(&doc), Err(Missing::Leaf));
        assert_eq!(p("$.x.y").read(&doc), Err(Missing::Intermediate));
        // a missing leaf is left alone, an existing null is replaced
        assert_eq!(p("$.a.x").set(&mut doc, json!(1)), Ok(false));
        assert_eq!(p("$.n").set(&mut doc, json!("v")), Ok(true));
        assert_eq!(
            p("$.x.y").set(&mut doc, json!(1)),
            Err(Missing::Intermediate)
        );
        p("$.a.b[0]").delete(&mut doc);
        assert_eq!(doc, json!({"a": {"b": [2, 3]}, "n": "v"}));
        p("$.a").delete(&mut doc);
        assert_eq!(doc, json!({"n": "v"}));
    }
}
