//! Resource `uri_template`s: parsed once (configuration validation and the plan), matched per
//! request against the normalised path.

/// A resource `uri_template`: literal segments, `{var}` (one segment), `{+var}` or a final `*`
/// (the rest of the path). A `?query` part is accepted and ignored for matching (query
/// parameters are bound as `query.param.*` for every request).
#[derive(Clone, Debug)]
pub struct UriTemplate {
    segments: Vec<Seg>,
}

/// A template variable's name, held as the property name it binds (`uri.var.<name>`), shared by
/// every request that matches: binding it allocates no name.
#[derive(Clone, PartialEq, Eq)]
pub struct VarName(std::sync::Arc<str>);

const VAR_PREFIX: &str = "uri.var.";

impl VarName {
    fn new(name: &str) -> VarName {
        VarName(format!("{VAR_PREFIX}{name}").into())
    }
    /// The name as the template writes it.
    pub fn name(&self) -> &str {
        &self.0[VAR_PREFIX.len()..]
    }
    /// `uri.var.<name>`.
    pub fn property(&self) -> &std::sync::Arc<str> {
        &self.0
    }
}

impl From<&str> for VarName {
    fn from(name: &str) -> VarName {
        VarName::new(name)
    }
}

impl std::fmt::Debug for VarName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.name(), f)
    }
}

/// The variables a matched template binds: names and percent-decoded values, in order.
pub type Vars = Vec<(VarName, String)>;

#[derive(Clone, Debug)]
enum Seg {
    Literal(String),
    Var(VarName),
    Rest(Option<VarName>),
    /// Text and variables within one segment (`~{user}`, `{id}.json`).
    Mixed(Vec<Piece>),
}

#[derive(Clone, Debug)]
enum Piece {
    Text(String),
    Var(VarName),
}

/// `~{user}` → [Text("~"), Var("user")]; two variables in a row cannot be told apart.
fn mixed_segment(p: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = p;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('{') {
            let Some(end) = after.find('}') else {
                return Err(format!("unclosed `{{` in template segment {p:?}"));
            };
            let name = &after[..end];
            check_var(name)?;
            if matches!(pieces.last(), Some(Piece::Var(_))) {
                return Err(format!("two variables without text between them in {p:?}"));
            }
            pieces.push(Piece::Var(VarName::new(name)));
            rest = &after[end + 1..];
        } else {
            let end = rest.find('{').unwrap_or(rest.len());
            let text = &rest[..end];
            if text.contains('}') {
                return Err(format!("unsupported template segment {p:?}"));
            }
            pieces.push(Piece::Text(text.to_string()));
            rest = &rest[end..];
        }
    }
    Ok(pieces)
}

/// Match one path segment against its pieces; each variable takes at least one character.
fn match_pieces(pieces: &[Piece], s: &str, vars: &mut Vars) -> bool {
    match pieces.split_first() {
        None => s.is_empty(),
        Some((Piece::Text(t), rest)) => s
            .strip_prefix(t.as_str())
            .is_some_and(|s| match_pieces(rest, s, vars)),
        Some((Piece::Var(n), rest)) => {
            let n0 = vars.len();
            let ends = s.char_indices().map(|(i, _)| i).chain([s.len()]);
            for i in ends.filter(|&i| i > 0) {
                if match_pieces(rest, &s[i..], vars) {
                    vars.insert(n0, (n.clone(), decode(&s[..i])));
                    return true;
                }
                vars.truncate(n0);
            }
            false
        }
    }
}

impl UriTemplate {
    pub fn parse(t: &str) -> Result<UriTemplate, String> {
        let path = t.split('?').next().unwrap_or("");
        if !path.starts_with('/') {
            return Err("must start with `/`".into());
        }
        let mut segments = Vec::new();
        let parts: Vec<&str> = path[1..].split('/').collect();
        let n = parts.len();
        for (i, p) in parts.into_iter().enumerate() {
            let last = i + 1 == n;
            if p.is_empty() {
                if last {
                    continue;
                }
                return Err("empty segment".into());
            }
            if p == "*" {
                if !last {
                    return Err("`*` must be the last segment".into());
                }
                segments.push(Seg::Rest(None));
            } else if let Some(inner) = p.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
                if let Some(v) = inner.strip_prefix('+') {
                    if !last {
                        return Err("`{+var}` must be the last segment".into());
                    }
                    check_var(v)?;
                    segments.push(Seg::Rest(Some(VarName::new(v))));
                } else {
                    check_var(inner)?;
                    segments.push(Seg::Var(VarName::new(inner)));
                }
            } else if p.contains('{') || p.contains('}') {
                segments.push(Seg::Mixed(mixed_segment(p)?));
            } else {
                segments.push(Seg::Literal(p.to_string()));
            }
        }
        Ok(UriTemplate { segments })
    }

    /// Bindings when `path` (normalised, starting with `/`) matches.
    pub fn matches(&self, path: &str) -> Option<Vars> {
        let mut parts = path[1.min(path.len())..].split('/').peekable();
        let mut vars = Vec::new();
        for seg in &self.segments {
            match seg {
                Seg::Rest(name) => {
                    let rest: Vec<&str> = parts.by_ref().collect();
                    if let Some(n) = name {
                        vars.push((n.clone(), decode(&rest.join("/"))));
                    }
                    return Some(vars);
                }
                Seg::Literal(l) => {
                    if parts.next()? != l {
                        return None;
                    }
                }
                Seg::Var(n) => {
                    let p = parts.next()?;
                    if p.is_empty() {
                        return None;
                    }
                    vars.push((n.clone(), decode(p)));
                }
                Seg::Mixed(pieces) => {
                    let p = parts.next()?;
                    if !match_pieces(pieces, p, &mut vars) {
                        return None;
                    }
                }
            }
        }
        // allow one trailing slash
        match (parts.next(), parts.next()) {
            (None, _) => Some(vars),
            (Some(""), None) => Some(vars),
            _ => None,
        }
    }
}

fn check_var(v: &str) -> Result<(), String> {
    if v.is_empty()
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(format!("invalid variable name {v:?}"));
    }
    Ok(())
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}
