//! `<rewrite>`: Synapse's URL rewrite mediator. The URL (the `To` address, or the default-scope
//! property `inProperty`) is split into fragments the way `java.net.URI` splits it; each rule
//! whose condition holds (or that has none) applies its actions in order (set, append, prepend,
//! replace, remove, remove-query-param on one fragment or the whole URL); the URL rebuilt from
//! the fragments, quoted as `java.net.URI` quotes them, becomes the `To` address or the
//! property `outProperty`.

use crate::compiler::Compiler;
use crate::convert::value_string;
use crate::eval::eval;
use crate::{Engine, ErrorKind, MediationError, MessageContext};
use synaptic_expr::{CompiledExpr, Dialect, Value};
use synaptic_syntax::ast::{self, RewriteActionType, UrlFragment};

#[derive(Debug)]
pub(crate) struct RewriteOp {
    in_property: Option<String>,
    out_property: Option<String>,
    rules: Vec<Rule>,
}

#[derive(Debug)]
struct Rule {
    cond: Option<Cond>,
    actions: Vec<Action>,
}

#[derive(Debug)]
enum Cond {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Equal(Src, String),
    Match(Src, regex::Regex),
}

#[derive(Debug)]
enum Src {
    Url(Option<UrlFragment>),
    Header(String),
    Param(String),
    Property(String),
    Soap(CompiledExpr),
}

#[derive(Debug)]
struct Action {
    action: RewriteActionType,
    fragment: UrlFragment,
    value: Option<String>,
    xpath: Option<CompiledExpr>,
    regex: Option<regex::Regex>,
    resolve: bool,
}

pub(crate) fn compile(c: &mut Compiler<'_>, r: &ast::Rewrite) -> Option<RewriteOp> {
    let mut rules = Vec::new();
    let mut ok = true;
    for rule in &r.rules {
        let cond = match &rule.condition {
            Some(cd) => match cond(c, cd) {
                Some(x) => Some(x),
                None => {
                    ok = false;
                    None
                }
            },
            None => None,
        };
        let mut actions = Vec::new();
        for a in &rule.actions {
            let xpath = match &a.xpath {
                Some(e) => match c.expr(e, Dialect::XPath) {
                    Some(x) => Some(x),
                    None => {
                        ok = false;
                        None
                    }
                },
                None => None,
            };
            let regex = match &a.regex {
                Some(re) if a.action == RewriteActionType::Replace => match c.regex(re) {
                    // Java's replaceAll finds matches anywhere
                    Some(x) => Some(unanchored(&x)),
                    None => {
                        ok = false;
                        None
                    }
                },
                _ => None,
            };
            actions.push(Action {
                action: a.action,
                fragment: a.fragment,
                value: a.value.as_ref().map(|v| v.value.clone()),
                xpath,
                regex,
                resolve: a.resolve,
            });
        }
        rules.push(Rule { cond, actions });
    }
    ok.then(|| RewriteOp {
        in_property: r.in_property.as_ref().map(|p| p.value.clone()),
        out_property: r.out_property.as_ref().map(|p| p.value.clone()),
        rules,
    })
}

fn cond(c: &mut Compiler<'_>, cd: &ast::RewriteCondition) -> Option<Cond> {
    use ast::RewriteCondition as C;
    Some(match cd {
        C::And(v) => Cond::And(v.iter().map(|x| cond(c, x)).collect::<Option<_>>()?),
        C::Or(v) => Cond::Or(v.iter().map(|x| cond(c, x)).collect::<Option<_>>()?),
        C::Not(x) => Cond::Not(Box::new(cond(c, x)?)),
        C::Equal { source, value } => Cond::Equal(src(c, source)?, value.clone()),
        C::Match { source, regex } => {
            let s = src(c, source);
            // Synapse's matcher takes the whole text (`matches()`)
            let anchored =
                synaptic_diag::Spanned::new(format!("^(?:{})$", regex.value), regex.span);
            let re = c.regex(&anchored);
            Cond::Match(s?, re?)
        }
    })
}

fn src(c: &mut Compiler<'_>, s: &ast::ConditionSource) -> Option<Src> {
    use ast::ConditionSource as S;
    Some(match s {
        S::Url(f) => Src::Url(*f),
        S::Header(h) => Src::Header(h.clone()),
        S::Param(p) => Src::Param(p.clone()),
        S::Property(p) => Src::Property(p.clone()),
        S::Soap(e) => Src::Soap(c.expr(e, Dialect::XPath)?),
    })
}

pub(crate) fn exprs(r: &RewriteOp, visit: &mut dyn FnMut(&CompiledExpr)) {
    fn in_cond(cd: &Cond, visit: &mut dyn FnMut(&CompiledExpr)) {
        match cd {
            Cond::And(v) | Cond::Or(v) => v.iter().for_each(|x| in_cond(x, visit)),
            Cond::Not(x) => in_cond(x, visit),
            Cond::Equal(Src::Soap(e), _) | Cond::Match(Src::Soap(e), _) => visit(e),
            Cond::Equal(..) | Cond::Match(..) => {}
        }
    }
    for rule in &r.rules {
        if let Some(cd) = &rule.cond {
            in_cond(cd, visit);
        }
        for a in &rule.actions {
            if let Some(e) = &a.xpath {
                visit(e);
            }
        }
    }
}

/// The same expression matching anywhere (the Java regular expressions are compiled to match
/// the whole text, `^(?:…)$`).
fn unanchored(re: &regex::Regex) -> regex::Regex {
    let s = re.as_str();
    s.strip_prefix("^(?:")
        .and_then(|r| r.strip_suffix(")$"))
        .and_then(|inner| regex::Regex::new(inner).ok())
        .unwrap_or_else(|| re.clone())
}

fn fail(msg: impl Into<String>) -> MediationError {
    MediationError::internal(ErrorKind::Expression, msg)
}

pub(crate) fn run(
    engine: &Engine,
    r: &RewriteOp,
    ctx: &mut MessageContext,
) -> Result<(), MediationError> {
    let input = match &r.in_property {
        Some(p) => match ctx.properties.default.get(p) {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        },
        None => ctx.st.addressing.get("To").cloned(),
    };
    let mut uri = match &input {
        Some(s) => {
            Uri::parse(s).map_err(|e| fail(format!("rewrite: malformed input URI `{s}`: {e}")))?
        }
        None => Uri::default(),
    };
    for rule in &r.rules {
        if let Some(cd) = &rule.cond {
            // a condition that cannot be evaluated skips its rule, as in Synapse
            match holds(engine, ctx, cd, &uri) {
                Ok(true) => {}
                Ok(false) | Err(_) => continue,
            }
        }
        for a in &rule.actions {
            apply(engine, ctx, a, &mut uri)?;
        }
    }
    let out = uri.to_uri_string().map_err(|e| {
        fail(format!(
            "rewrite: cannot build a URI from the fragments: {e}"
        ))
    })?;
    match &r.out_property {
        Some(p) => {
            ctx.properties.default.insert(p.clone(), Value::String(out));
        }
        None => {
            ctx.st.inbound.remove("To");
            ctx.st.addressing.insert("To".into(), out);
        }
    }
    Ok(())
}

fn source_text(
    engine: &Engine,
    ctx: &MessageContext,
    s: &Src,
    uri: &Uri,
) -> Result<Option<String>, String> {
    let url = uri.to_uri_string()?;
    Ok(match s {
        Src::Url(None) => Some(url),
        Src::Url(Some(f)) => {
            let u = Uri::parse(&url)?;
            match f {
                UrlFragment::Port => Some(u.port.to_string()),
                f => u.get(*f).map(str::to_string),
            }
        }
        Src::Header(h) => ctx
            .headers
            .get(h.as_str())
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        Src::Param(p) => {
            let q = url.split_once('?').map(|(_, q)| q).unwrap_or("");
            let q = q.split('#').next().unwrap_or("");
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == p)
                .map(|(_, v)| v.into_owned())
        }
        Src::Property(p) => ctx.properties.default.get(p).and_then(value_string),
        Src::Soap(e) => eval(engine, ctx, e).map_err(|e| e.message)?.pipe_string(),
    })
}

trait PipeString {
    fn pipe_string(self) -> Option<String>;
}
impl PipeString for Value {
    fn pipe_string(self) -> Option<String> {
        value_string(&self)
    }
}

fn holds(engine: &Engine, ctx: &MessageContext, cd: &Cond, uri: &Uri) -> Result<bool, String> {
    Ok(match cd {
        Cond::And(v) => {
            for x in v {
                if !holds(engine, ctx, x, uri)? {
                    return Ok(false);
                }
            }
            true
        }
        Cond::Or(v) => {
            for x in v {
                if holds(engine, ctx, x, uri)? {
                    return Ok(true);
                }
            }
            false
        }
        Cond::Not(x) => !holds(engine, ctx, x, uri)?,
        Cond::Equal(s, value) => source_text(engine, ctx, s, uri)?
            .is_some_and(|t| t.to_lowercase() == value.to_lowercase()),
        Cond::Match(s, re) => source_text(engine, ctx, s, uri)?.is_some_and(|t| re.is_match(&t)),
    })
}

fn apply(
    engine: &Engine,
    ctx: &MessageContext,
    a: &Action,
    uri: &mut Uri,
) -> Result<(), MediationError> {
    let result = match &a.xpath {
        Some(e) => value_string(&eval(engine, ctx, e)?),
        None => a.value.clone(),
    };
    match a.fragment {
        UrlFragment::Full => {
            let s = result.unwrap_or_default();
            *uri =
                Uri::parse(&s).map_err(|e| fail(format!("rewrite: malformed URI `{s}`: {e}")))?;
        }
        UrlFragment::Port => {
            uri.port = match result {
                Some(s) => s
                    .trim()
                    .parse::<i32>()
                    .map_err(|_| fail(format!("rewrite: port `{s}` is not a number")))?,
                None => -1,
            };
        }
        f => {
            let current = uri.get(f).unwrap_or("").to_string();
            let query = f == UrlFragment::Query;
            let mut s: Option<String> = match a.action {
                RewriteActionType::Set => result,
                RewriteActionType::Prepend => Some(match result {
                    Some(r) if query && !current.is_empty() => format!("{r}&{current}"),
                    Some(r) => format!("{r}{current}"),
                    None => String::new(),
                }),
                RewriteActionType::Append => Some(match result {
                    Some(r) if query && !current.is_empty() => format!("{current}&{r}"),
                    Some(r) => format!("{current}{r}"),
                    None => String::new(),
                }),
                RewriteActionType::Replace => Some(match (result, &a.regex) {
                    (Some(r), Some(re)) => re.replace_all(&current, r.as_str()).into_owned(),
                    _ => String::new(),
                }),
                RewriteActionType::Remove => None,
                RewriteActionType::RemoveQueryParam => Some(if current.is_empty() {
                    String::new()
                } else {
                    let name = result.unwrap_or_default();
                    let re = synaptic_expr::compile_java_regex(&format!("{name}=.*"))
                        .map(|r| unanchored(&r))
                        .map_err(|e| fail(format!("rewrite: `{name}`: {e}")))?;
                    let mut params: Vec<&str> = current.split('&').collect();
                    if let Some(i) = params.iter().position(|p| re.is_match(p)) {
                        params.remove(i);
                    }
                    params.join("&")
                }),
            };
            if a.resolve {
                if let Some(text) = &s {
                    s = Some(resolve(ctx, text));
                }
            }
            uri.set(f, s);
        }
    }
    Ok(())
}

/// `{name}` replaced by the default-scope property `name`; the whole value is empty when one
/// is missing (as Synapse does).
fn resolve(ctx: &MessageContext, text: &str) -> String {
    let mut out = text.to_string();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        let name = &after[..close];
        if name.contains('{') {
            rest = after;
            continue;
        }
        match ctx.properties.default.get(name).and_then(value_string) {
            Some(v) if !v.is_empty() => out = out.replace(&format!("{{{name}}}"), &v),
            _ => return String::new(),
        }
        rest = &after[close + 1..];
    }
    out
}

/// A URI split the way `java.net.URI` splits it (components decoded).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Uri {
    scheme: Option<String>,
    user: Option<String>,
    host: Option<String>,
    port: i32,
    path: Option<String>,
    query: Option<String>,
    fragment: Option<String>,
}

fn decode(s: &str) -> String {
    percent_decode(s)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

const UNRESERVED: &str = "_-!.~'()*";

fn quote(s: &str, extra: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if ch.is_ascii_alphanumeric() || UNRESERVED.contains(ch) || extra.contains(ch) {
            out.push(ch);
        } else {
            let mut buf = [0u8; 4];
            for byte in ch.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    out
}

impl Uri {
    fn get(&self, f: UrlFragment) -> Option<&str> {
        match f {
            UrlFragment::Protocol => self.scheme.as_deref(),
            UrlFragment::User => self.user.as_deref(),
            UrlFragment::Host => self.host.as_deref(),
            UrlFragment::Path => self.path.as_deref(),
            UrlFragment::Query => self.query.as_deref(),
            UrlFragment::Ref => self.fragment.as_deref(),
            UrlFragment::Full | UrlFragment::Port => None,
        }
    }

    fn set(&mut self, f: UrlFragment, v: Option<String>) {
        match f {
            UrlFragment::Protocol => self.scheme = v,
            UrlFragment::User => self.user = v,
            UrlFragment::Host => self.host = v,
            UrlFragment::Path => self.path = v,
            UrlFragment::Query => self.query = v,
            UrlFragment::Ref => self.fragment = v,
            UrlFragment::Full | UrlFragment::Port => {}
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Uri, String> {
        if s.chars().any(|c| c == ' ' || c.is_control()) {
            return Err("illegal character".into());
        }
        let mut u = Uri {
            port: -1,
            ..Uri::default()
        };
        let mut rest = s;
        if let Some((f_rest, frag)) = rest.split_once('#') {
            u.fragment = Some(decode(frag));
            rest = f_rest;
        }
        // a scheme: letters first, then letters, digits, + - ., up to a ':' before / ? #
        if let Some(i) = rest.find(':') {
            let cand = &rest[..i];
            let valid = cand.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && cand
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
            if valid {
                u.scheme = Some(cand.to_string());
                rest = &rest[i + 1..];
            } else if !cand.contains(['/', '?']) {
                return Err(format!("illegal character in scheme name at index {}", 0));
            }
        }
        if let Some((p, q)) = rest.split_once('?') {
            u.query = Some(decode(q));
            rest = p;
        }
        if let Some(after) = rest.strip_prefix("//") {
            let end = after.find('/').unwrap_or(after.len());
            let authority = &after[..end];
            rest = &after[end..];
            let hostport = match authority.rsplit_once('@') {
                Some((ui, hp)) => {
                    u.user = Some(decode(ui));
                    hp
                }
                None => authority,
            };
            let (host, port) = if hostport.starts_with('[') {
                match hostport.find(']') {
                    Some(k) => (&hostport[..=k], hostport[k + 1..].strip_prefix(':')),
                    None => return Err("malformed IPv6 address".into()),
                }
            } else {
                match hostport.rsplit_once(':') {
                    Some((h, p)) => (h, Some(p)),
                    None => (hostport, None),
                }
            };
            if let Some(p) = port.filter(|p| !p.is_empty()) {
                u.port = p
                    .parse::<i32>()
                    .map_err(|_| format!("illegal port `{p}`"))?;
            }
            if !host.is_empty() {
                u.host = Some(host.to_string());
            }
        }
        if !rest.is_empty() {
            u.path = Some(decode(rest));
        }
        Ok(u)
    }

    /// The URI as `new URI(scheme, user, host, port, path, query, fragment).toASCIIString()`.
    pub(crate) fn to_uri_string(&self) -> Result<String, String> {
        let mut out = String::new();
        if let Some(s) = &self.scheme {
            out.push_str(s);
            out.push(':');
        }
        let has_authority = self.user.is_some() || self.host.is_some() || self.port != -1;
        if has_authority {
            out.push_str("//");
            if let Some(u) = &self.user {
                out.push_str(&quote(u, ";:&=+$,"));
                out.push('@');
            }
            if let Some(h) = &self.host {
                out.push_str(h);
            }
            if self.port != -1 {
                out.push(':');
                out.push_str(&self.port.to_string());
            }
        }
        if let Some(p) = &self.path {
            if self.scheme.is_some() && !p.is_empty() && !p.starts_with('/') {
                return Err(format!("relative path `{p}` in an absolute URI"));
            }
            out.push_str(&quote(p, ",;:$&+=/@"));
        }
        if let Some(q) = &self.query {
            out.push('?');
            out.push_str(&quote(q, ";/?:@&=+$,[]"));
        }
        if let Some(f) = &self.fragment {
            out.push('#');
            out.push_str(&quote(f, ";/?:@&=+$,[]"));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_split_and_join_like_java() {
        let u = Uri::parse("http://test.org:9763/MyService").unwrap();
        assert_eq!(u.scheme.as_deref(), Some("http"));
        assert_eq!(u.host.as_deref(), Some("test.org"));
        assert_eq!(u.port, 9763);
        assert_eq!(u.path.as_deref(), Some("/MyService"));
        assert_eq!(u.to_uri_string().unwrap(), "http://test.org:9763/MyService");
        let u = Uri::parse("http://localhost:8280").unwrap();
        assert_eq!(u.path, None);
        assert_eq!(u.to_uri_string().unwrap(), "http://localhost:8280");
        let u = Uri::parse("https://u:p@h/a%20b?x=1&y=%C3%A9#frag").unwrap();
        assert_eq!(u.user.as_deref(), Some("u:p"));
        assert_eq!(u.path.as_deref(), Some("/a b"));
        assert_eq!(u.query.as_deref(), Some("x=1&y=é"));
        assert_eq!(u.fragment.as_deref(), Some("frag"));
        assert_eq!(
            u.to_uri_string().unwrap(),
            "https://u:p@h/a%20b?x=1&y=%C3%A9#frag"
        );
        assert_eq!(Uri::parse("").unwrap().to_uri_string().unwrap(), "");
        assert!(Uri::parse("http://h:abc/").is_err());
        assert!(Uri::parse("http://h/a b").is_err());
    }
}
