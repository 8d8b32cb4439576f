//! Definite JSONPaths (`$`, `$.`, `$.a.b`, `$['a']`, `$.a[0]`, `$.a[-1]`) for `enrich`: read,
//! set, and delete one location of a `serde_json::Value`, with Jayway's outcomes (a missing
//! leaf is not an error for `set`; a missing intermediate member is). The text is read as
//! Jayway reads it ([`synaptic_expr::jayway`]): `a.b` is `$.a.b`, `$.a[0]b` is `$.a[0].b`.

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
    use synaptic_expr::jayway::Step;
    let t = text.trim();
    // Synapse drops one trailing `.` before Jayway reads the path (`$.` is the root)
    let t = t.strip_suffix('.').unwrap_or(t);
    if t.is_empty() {
        return Err("the path is empty".into());
    }
    let p = synaptic_expr::jayway::parse(t).map_err(|e| e.message)?;
    let mut segs = Vec::with_capacity(p.steps.len());
    for (step, _) in p.steps {
        segs.push(match step {
            Step::Names(mut n) if n.len() == 1 => Seg::Key(n.remove(0)),
            Step::Names(_) => return Err("a union of names is not a definite path".into()),
            Step::Indexes(v) if v.len() == 1 => Seg::Index(v[0]),
            Step::Indexes(_) => return Err("a union of indexes is not a definite path".into()),
            Step::Wildcard if wildcards => Seg::Any,
            Step::Wildcard => return Err("`*` is not a definite path".into()),
            Step::Scan => return Err("deep scan `..` is not a definite path".into()),
            Step::Slice(..) => return Err("a slice is not a definite path".into()),
            Step::Filter(f) => return Err(format!("the filter `[{f}]` is not a definite path")),
            Step::Function(f) => {
                return Err(format!("`{}()` is a function, not a member name", f.name))
            }
        });
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
            "$.a['x','y']",
            "$.a[0,1]",
            "$.a[1:]",
            "$.a.length()",
            "$.a b",
            "",
        ] {
            assert!(parse(bad).is_err(), "{bad} should be refused");
        }
        // as Jayway reads them: without `$`, a member right after a bracket, a dot before
        // one, a last character after a complete step not read
        let keys = |p: &str| {
            parse(p)
                .map(|p| p.segs)
                .unwrap_or_else(|e| panic!("{p}: {e}"))
        };
        let abc = vec![Seg::Key("a".into()), Seg::Index(0), Seg::Key("bc".into())];
        for p in [
            "a[0]bc",
            "$.a[0]bc",
            "$.a.[0].bc",
            "a[0].bc",
            "@.a[0]['bc']",
            "$.a[0].bc.",
        ] {
            assert_eq!(keys(p), abc, "{p}");
        }
        // one character alone after a bracket is that last character
        assert_eq!(keys("$.a[0]b"), keys("$.a[0]"));
        assert_eq!(keys("$.a[0])"), keys("$.a[0]"));
        assert_eq!(
            keys("$.a-b.'c'"),
            vec![Seg::Key("a-b".into()), Seg::Key("'c'".into())]
        );
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
