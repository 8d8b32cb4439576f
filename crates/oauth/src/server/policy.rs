//! Scope → (method, uri-template) policy of a protected API, default deny.
//!
//! The path given to [`ApiPolicy::decide`] must be the gateway's one normalised path relative to
//! the API context. As a second line of defence, paths that still contain encoded slashes or
//! dots, backslashes, `;` parameters, empty or dot segments never match any resource.

/// One `[[api.resource]]`: methods + uri-template → scopes (any one of them suffices; none =
/// any valid token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceRule {
    /// Upper-case method names; empty = every method.
    pub methods: Vec<String>,
    pub template: UriTemplate,
    pub scopes: Vec<String>,
}

/// The resources of one API.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApiPolicy {
    pub rules: Vec<ResourceRule>,
}

/// Outcome of a policy decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// No resource maps this method and path: denied.
    NoResource,
    /// The resource needs one of these scopes.
    MissingScope(Vec<String>),
}

/// A parsed uri-template: literal segments, `{var}` (one non-empty segment), and a trailing `*`
/// (any remainder, including nothing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UriTemplate {
    pub source: String,
    segments: Vec<Seg>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Literal(String),
    Var,
    Rest,
}

/// A uri-template that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid uri-template `{template}`: {reason}")]
pub struct TemplateError {
    pub template: String,
    pub reason: &'static str,
}

impl UriTemplate {
    pub fn parse(src: &str) -> Result<UriTemplate, TemplateError> {
        let err = |reason| TemplateError {
            template: src.to_string(),
            reason,
        };
        let path = src.split('?').next().unwrap_or("");
        if !path.starts_with('/') {
            return Err(err("must start with `/`"));
        }
        let mut segments = Vec::new();
        let parts: Vec<&str> = path[1..].split('/').collect();
        for (i, p) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            if *p == "*" {
                if !last {
                    return Err(err("`*` must be the last segment"));
                }
                segments.push(Seg::Rest);
            } else if p.starts_with('{') && p.ends_with('}') && p.len() > 2 {
                segments.push(Seg::Var);
            } else if p.is_empty() {
                if !(last && i == 0) {
                    return Err(err("empty segment"));
                }
            } else if p.contains(['{', '}', '*', '%', ';', '\\']) || *p == "." || *p == ".." {
                return Err(err("unsupported characters in a segment"));
            } else {
                segments.push(Seg::Literal((*p).to_string()));
            }
        }
        Ok(UriTemplate {
            source: src.to_string(),
            segments,
        })
    }

    /// Whether the (already safe) path matches.
    pub fn matches(&self, path: &str) -> bool {
        let rest = path.strip_prefix('/').unwrap_or(path);
        let parts: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        let mut i = 0;
        for seg in &self.segments {
            match seg {
                Seg::Rest => return true,
                Seg::Var => match parts.get(i) {
                    Some(p) if !p.is_empty() => i += 1,
                    _ => return false,
                },
                Seg::Literal(l) => match parts.get(i) {
                    Some(p) if p == l => i += 1,
                    _ => return false,
                },
            }
        }
        i == parts.len()
    }
}

/// Whether `path` is in the canonical form the policy accepts.
pub fn is_canonical_path(path: &str) -> bool {
    if !path.starts_with('/') || path.starts_with("//") {
        return false;
    }
    let lower = path.to_ascii_lowercase();
    if lower.contains("%2f")
        || lower.contains("%2e")
        || lower.contains("%5c")
        || lower.contains("%25")
        || lower.contains("%00")
        || path.contains(['\\', ';', '?', '#', '\0'])
    {
        return false;
    }
    let body = &path[1..];
    if body.is_empty() {
        return true;
    }
    body.split('/')
        .all(|s| !s.is_empty() && s != "." && s != "..")
}

impl ApiPolicy {
    /// Decide a request. `HEAD` is checked as `GET` unless a rule names `HEAD`; method-override
    /// headers are the caller's business (they must be refused before this).
    pub fn decide(&self, method: &str, path: &str, token_scopes: &[String]) -> Decision {
        if !is_canonical_path(path) {
            return Decision::NoResource;
        }
        let method = method.to_ascii_uppercase();
        let rule = self
            .find(&method, path)
            .or_else(|| (method == "HEAD").then(|| self.find("GET", path)).flatten());
        match rule {
            None => Decision::NoResource,
            Some(r) if r.scopes.is_empty() => Decision::Allow,
            Some(r) if r.scopes.iter().any(|s| token_scopes.contains(s)) => Decision::Allow,
            Some(r) => Decision::MissingScope(r.scopes.clone()),
        }
    }

    fn find(&self, method: &str, path: &str) -> Option<&ResourceRule> {
        self.rules.iter().find(|r| {
            (r.methods.is_empty() || r.methods.iter().any(|m| m == method))
                && r.template.matches(path)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ApiPolicy {
        let rule = |m: &[&str], t: &str, s: &[&str]| ResourceRule {
            methods: m.iter().map(|x| x.to_string()).collect(),
            template: UriTemplate::parse(t).unwrap(),
            scopes: s.iter().map(|x| x.to_string()).collect(),
        };
        ApiPolicy {
            rules: vec![
                rule(&["GET"], "/bookings", &["view"]),
                rule(&["GET"], "/bookings/{id}", &["view"]),
                rule(&["POST"], "/bookings", &["book"]),
                rule(&["DELETE"], "/bookings/{id}", &["cancel"]),
                rule(&["GET"], "/public/*", &[]),
            ],
        }
    }

    fn view() -> Vec<String> {
        vec!["view".to_string()]
    }

    #[test]
    fn timetravels_view_scope_matrix() {
        let p = policy();
        assert_eq!(p.decide("GET", "/bookings", &view()), Decision::Allow);
        assert_eq!(p.decide("GET", "/bookings/7", &view()), Decision::Allow);
        assert_eq!(
            p.decide("POST", "/bookings", &view()),
            Decision::MissingScope(vec!["book".into()])
        );
        assert_eq!(p.decide("HEAD", "/bookings", &view()), Decision::Allow);
        assert_eq!(
            p.decide("HEAD", "/bookings", &[]),
            Decision::MissingScope(vec!["view".into()])
        );
        assert_eq!(
            p.decide("OPTIONS", "/bookings", &view()),
            Decision::NoResource
        );
        assert_eq!(p.decide("GET", "/public/a/b", &[]), Decision::Allow);
        assert_eq!(p.decide("GET", "/other", &view()), Decision::NoResource);
    }

    #[test]
    fn path_games_are_denied() {
        let p = policy();
        let all = vec!["view".into(), "book".into(), "cancel".into()];
        for path in [
            "/bookings/",
            "/Bookings",
            "//bookings",
            "/bookings%2F1",
            "/x/..%2fbookings",
            "/x/../bookings",
            "/./bookings",
            "/bookings;param=x",
            "/bookings\\1",
            "/bookings/%2e%2e/x",
            "bookings",
            "/bookings?x=1",
        ] {
            assert_eq!(p.decide("GET", path, &all), Decision::NoResource, "{path}");
        }
    }

    #[test]
    fn templates() {
        assert!(UriTemplate::parse("bookings").is_err());
        assert!(UriTemplate::parse("/a/*/b").is_err());
        assert!(UriTemplate::parse("/a//b").is_err());
        let t = UriTemplate::parse("/").unwrap();
        assert!(t.matches("/"));
        assert!(!t.matches("/a"));
        let t = UriTemplate::parse("/*").unwrap();
        assert!(t.matches("/"));
        assert!(t.matches("/a/b"));
        let t = UriTemplate::parse("/menu?{q}").unwrap();
        assert!(t.matches("/menu"));
    }
}
