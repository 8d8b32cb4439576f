//! Routing: the API with the longest context that is a segment prefix of the normalised path,
//! then the first resource whose methods and `uri_template`/`url_mapping` match the rest.
//!
//! The path is always the one from [`crate::path::normalize`]; H-authserver's scope checks use
//! [`ResourceTable`] over the same path, so routing and authorization cannot disagree.

use crate::config::{ApiConfig, ResourceConfig};
pub use crate::path::context_key;
pub use crate::uri_template::UriTemplate;
use http::Method;

/// APIs by context, longest first.
#[derive(Clone, Debug, Default)]
pub struct Router {
    /// (context key, API index)
    entries: Vec<(String, usize)>,
}

impl Router {
    pub fn new(apis: &[ApiConfig]) -> Router {
        let mut entries: Vec<(String, usize)> = apis
            .iter()
            .enumerate()
            .map(|(i, a)| (context_key(&a.context).to_string(), i))
            .collect();
        entries.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        Router { entries }
    }

    /// The API for a normalised path, and the path relative to its context (`""` at the root
    /// of the context, else starting with `/`).
    pub fn route<'p>(&self, path: &'p str) -> Option<(usize, &'p str)> {
        for (ctx, i) in &self.entries {
            if let Some(rest) = path.strip_prefix(ctx.as_str()) {
                if rest.is_empty() || rest.starts_with('/') {
                    return Some((*i, rest));
                }
            }
        }
        None
    }
}

// === resources ===

/// The outcome of resource matching.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResourceMatch {
    /// Resource index and the `uri.var.*` bindings of its template.
    Found(usize, Vec<(String, String)>),
    /// A resource matches the path but not the method (405); the allowed methods.
    MethodNotAllowed(Vec<String>),
    NotFound,
}

/// The compiled resources of one API.
#[derive(Clone, Debug, Default)]
pub struct ResourceTable {
    resources: Vec<Resource>,
}

#[derive(Clone, Debug)]
struct Resource {
    /// Upper-case; empty = any.
    methods: Vec<Method>,
    matcher: Matcher,
}

#[derive(Clone, Debug)]
enum Matcher {
    Any,
    Template(UriTemplate),
    Exact(String),
    Prefix(String),
    Extension(String),
}

impl ResourceTable {
    pub fn new(resources: &[ResourceConfig]) -> ResourceTable {
        let resources = resources
            .iter()
            .map(|r| Resource {
                methods: r
                    .methods
                    .iter()
                    .filter_map(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok())
                    .collect(),
                matcher: match (&r.uri_template, &r.url_mapping) {
                    (Some(t), _) => UriTemplate::parse(t)
                        .map(Matcher::Template)
                        // invalid templates are rejected by config validation; never match here
                        .unwrap_or(Matcher::Exact("\u{0}".into())),
                    (None, Some(m)) => url_mapping(m),
                    (None, None) => Matcher::Any,
                },
            })
            .collect();
        ResourceTable { resources }
    }

    pub fn for_api(api: &ApiConfig) -> ResourceTable {
        ResourceTable::new(&api.resource)
    }

    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    /// Match a request. `rel_path` is the normalised path after the API context (`""` or
    /// `/…`, no query). `HEAD` matches resources that allow `GET`. An API without resources
    /// matches everything (index `usize::MAX` is never returned: `Found(0, …)` is not used
    /// either; callers check [`ResourceTable::is_empty`] first).
    pub fn find(&self, method: &Method, rel_path: &str) -> ResourceMatch {
        let path = if rel_path.is_empty() { "/" } else { rel_path };
        let mut allowed: Vec<String> = Vec::new();
        for (i, r) in self.resources.iter().enumerate() {
            let Some(vars) = r.matcher.matches(path) else {
                continue;
            };
            let method_ok = r.methods.is_empty()
                || r.methods.contains(method)
                || (method == Method::HEAD && r.methods.contains(&Method::GET));
            if method_ok {
                return ResourceMatch::Found(i, vars);
            }
            for m in &r.methods {
                if !allowed.iter().any(|a| a == m.as_str()) {
                    allowed.push(m.as_str().to_string());
                }
            }
        }
        if allowed.is_empty() {
            ResourceMatch::NotFound
        } else {
            ResourceMatch::MethodNotAllowed(allowed)
        }
    }
}

fn url_mapping(m: &str) -> Matcher {
    if m == "/*" {
        Matcher::Any
    } else if let Some(p) = m.strip_suffix("/*") {
        Matcher::Prefix(p.to_string())
    } else if let Some(ext) = m.strip_prefix("*.") {
        Matcher::Extension(format!(".{ext}"))
    } else {
        Matcher::Exact(m.to_string())
    }
}

fn trim_trailing(p: &str) -> &str {
    if p.len() > 1 {
        p.strip_suffix('/').unwrap_or(p)
    } else {
        p
    }
}

impl Matcher {
    fn matches(&self, path: &str) -> Option<Vec<(String, String)>> {
        match self {
            Matcher::Any => Some(Vec::new()),
            Matcher::Template(t) => t.matches(path),
            Matcher::Exact(e) => (trim_trailing(path) == trim_trailing(e)).then(Vec::new),
            Matcher::Prefix(p) => {
                let rest = path.strip_prefix(p.as_str())?;
                (rest.is_empty() || rest.starts_with('/') || p.is_empty()).then(Vec::new)
            }
            Matcher::Extension(ext) => {
                let last = path.rsplit('/').next().unwrap_or("");
                (last.len() > ext.len() && last.ends_with(ext.as_str())).then(Vec::new)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(name: &str, context: &str) -> ApiConfig {
        ApiConfig {
            name: name.into(),
            context: context.into(),
            endpoint: None,
            in_sequence: None,
            out_sequence: None,
            fault_sequence: None,
            timeout: None,
            security: None,
            resource: Vec::new(),
            endpoint_security: None,
        }
    }

    fn res(methods: &[&str], tpl: Option<&str>, map: Option<&str>) -> ResourceConfig {
        ResourceConfig {
            methods: methods.iter().map(|s| s.to_string()).collect(),
            uri_template: tpl.map(Into::into),
            url_mapping: map.map(Into::into),
            scopes: Vec::new(),
            in_sequence: None,
            out_sequence: None,
            fault_sequence: None,
        }
    }

    #[test]
    fn longest_context_wins_on_segment_boundaries() {
        let r = Router::new(&[
            api("a", "/pizza"),
            api("b", "/pizza/1.0"),
            api("c", "/pizzashack/1.0.0"),
        ]);
        assert_eq!(r.route("/pizza/1.0/menu"), Some((1, "/menu")));
        assert_eq!(r.route("/pizza/1.0"), Some((1, "")));
        assert_eq!(r.route("/pizza/1.05"), Some((0, "/1.05")));
        assert_eq!(r.route("/pizzashack/1.0.0/menu"), Some((2, "/menu")));
        assert_eq!(r.route("/pizzas"), None);
        assert_eq!(r.route("/other"), None);
        let root = Router::new(&[api("root", "/"), api("x", "/x")]);
        assert_eq!(root.route("/x/y"), Some((1, "/y")));
        assert_eq!(root.route("/y"), Some((0, "/y")));
    }

    #[test]
    fn resources() {
        let t = ResourceTable::new(&[
            res(&["GET"], Some("/bookings"), None),
            res(&["POST"], Some("/bookings"), None),
            res(&["GET", "PUT"], Some("/bookings/{id}"), None),
            res(&[], None, Some("/files/*")),
            res(&["GET"], None, Some("*.png")),
        ]);
        assert_eq!(
            t.find(&Method::GET, "/bookings"),
            ResourceMatch::Found(0, vec![])
        );
        assert_eq!(
            t.find(&Method::HEAD, "/bookings/"),
            ResourceMatch::Found(0, vec![])
        );
        assert_eq!(
            t.find(&Method::POST, "/bookings"),
            ResourceMatch::Found(1, vec![])
        );
        assert_eq!(
            t.find(&Method::PUT, "/bookings/42"),
            ResourceMatch::Found(2, vec![("id".into(), "42".into())])
        );
        assert_eq!(
            t.find(&Method::DELETE, "/bookings/42"),
            ResourceMatch::MethodNotAllowed(vec!["GET".into(), "PUT".into()])
        );
        assert_eq!(
            t.find(&Method::DELETE, "/files"),
            ResourceMatch::Found(3, vec![])
        );
        assert_eq!(
            t.find(&Method::GET, "/files/a/b"),
            ResourceMatch::Found(3, vec![])
        );
        assert_eq!(t.find(&Method::GET, "/filesx"), ResourceMatch::NotFound);
        assert_eq!(
            t.find(&Method::GET, "/img/a.png"),
            ResourceMatch::Found(4, vec![])
        );
        assert_eq!(
            t.find(&Method::GET, "/bookings/42/x"),
            ResourceMatch::NotFound
        );
        assert_eq!(t.find(&Method::GET, ""), ResourceMatch::NotFound);
    }

    #[test]
    fn templates() {
        let t = UriTemplate::parse("/a/{x}/{+rest}").unwrap();
        assert_eq!(
            t.matches("/a/1/b/c"),
            Some(vec![
                ("x".into(), "1".into()),
                ("rest".into(), "b/c".into())
            ])
        );
        let q = UriTemplate::parse("/menu?size={size}").unwrap();
        assert_eq!(q.matches("/menu"), Some(vec![]));
        let star = UriTemplate::parse("/*").unwrap();
        assert_eq!(star.matches("/anything/at/all"), Some(vec![]));
        assert!(UriTemplate::parse("menu").is_err());
        assert!(UriTemplate::parse("/{a b}").is_err());
        assert!(UriTemplate::parse("/*/x").is_err());
    }
}
