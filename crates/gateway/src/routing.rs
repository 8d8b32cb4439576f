//! Routing: the API with the longest context that is a segment prefix of the normalised path,
//! then the first resource whose methods and `uri_template`/`url_mapping` match the rest.
//!
//! The path is always the one from [`crate::path::normalize`]; H-authserver's scope checks use
//! [`ResourceTable`] over the same path, so routing and authorization cannot disagree.

use crate::config::{ApiConfig, ResourceConfig};
pub use crate::path::context_key;
pub use crate::uri_template::{UriTemplate, VarName, Vars};
use http::{HeaderMap, Method};

/// APIs by context, longest first.
#[derive(Clone, Debug, Default)]
pub struct Router {
    /// (context key, API index)
    entries: Vec<(String, usize)>,
}

impl Router {
    pub fn new(apis: &[ApiConfig]) -> Router {
        Router::from_contexts(apis.iter().map(|a| a.context.as_str()))
    }

    /// A router over `(context, API index)` pairs: an API may be served at several contexts.
    pub fn from_entries(contexts: impl IntoIterator<Item = (String, usize)>) -> Router {
        let mut entries: Vec<(String, usize)> = contexts
            .into_iter()
            .map(|(c, i)| (context_key(&c).to_string(), i))
            .collect();
        entries.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        Router { entries }
    }

    /// A router over contexts; an API's index is its position in `contexts`.
    pub fn from_contexts<'c>(contexts: impl IntoIterator<Item = &'c str>) -> Router {
        let mut entries: Vec<(String, usize)> = contexts
            .into_iter()
            .enumerate()
            .map(|(i, c)| (context_key(c).to_string(), i))
            .collect();
        entries.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        Router { entries }
    }

    /// The API for a normalised path, and the path relative to its context (`""` at the root
    /// of the context, else starting with `/`).
    pub fn route<'p>(&self, path: &'p str) -> Option<(usize, &'p str)> {
        self.candidates(path).next()
    }

    /// Every API whose context the path is in, longest context first.
    pub fn candidates<'r, 'p>(
        &'r self,
        path: &'p str,
    ) -> impl Iterator<Item = (usize, &'p str)> + use<'r, 'p> {
        self.entries.iter().filter_map(move |(ctx, i)| {
            let rest = path.strip_prefix(ctx.as_str())?;
            (rest.is_empty() || rest.starts_with('/')).then_some((*i, rest))
        })
    }
}

/// The request as Synapse's API and resource checks read it (`hostname`, `port`,
/// `transports`, `protocol`, `content-type`, `user-agent`).
#[derive(Clone, Copy, Debug)]
pub struct Head<'a> {
    pub headers: &'a HeaderMap,
    /// The URI's authority (an HTTP/2 request's `:authority`), when it has one.
    pub authority: Option<&'a str>,
    /// It came in over TLS.
    pub https: bool,
}

impl Head<'_> {
    fn header(&self, name: http::header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `Host`, else the URI's authority.
    fn host(&self) -> Option<&str> {
        self.header(http::header::HOST).or(self.authority)
    }

    /// The request has an entity (a `Content-Length` or a `Transfer-Encoding`), as the HTTP
    /// transport Synapse runs on decides it.
    fn has_body(&self) -> bool {
        self.headers.contains_key(http::header::CONTENT_LENGTH)
            || self.headers.contains_key(http::header::TRANSFER_ENCODING)
    }
}

/// `http` or `https` only (an `<api>`'s `transports`, a `<resource>`'s `protocol`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// A `transports` or `protocol` value that is neither `http` nor `https`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotAScheme;

impl Scheme {
    /// `http` or `https`; `""` is both (`None`); anything else is not a scheme.
    pub fn parse(s: &str) -> Result<Option<Scheme>, NotAScheme> {
        match s {
            "" => Ok(None),
            "http" => Ok(Some(Scheme::Http)),
            "https" => Ok(Some(Scheme::Https)),
            _ => Err(NotAScheme),
        }
    }

    fn takes(self, head: &Head<'_>) -> bool {
        head.https == (self == Scheme::Https)
    }
}

/// What an `<api>`'s `hostname`, `port` and `transports` require of a request.
#[derive(Clone, Debug, Default)]
pub struct ApiFilter {
    pub hostname: Option<String>,
    pub port: Option<u16>,
    pub scheme: Option<Scheme>,
}

impl ApiFilter {
    pub fn is_empty(&self) -> bool {
        self.hostname.is_none() && self.port.is_none() && self.scheme.is_none()
    }

    /// As Synapse's API checks it: the `Host` (host before the first `:`, port after it, else
    /// 80 over HTTP and 443 over HTTPS), then the scheme.
    pub fn takes(&self, head: &Head<'_>) -> bool {
        if self.hostname.is_some() || self.port.is_some() {
            let Some(host) = head.host() else {
                return false;
            };
            let (name, port) = match host.split_once(':') {
                Some((n, p)) => (n, p.parse::<u16>().ok()),
                None => (host, Some(if head.https { 443 } else { 80 })),
            };
            if self.hostname.as_deref().is_some_and(|h| h != name) {
                return false;
            }
            if self.port.is_some_and(|p| Some(p) != port) {
                return false;
            }
        }
        self.scheme.is_none_or(|s| s.takes(head))
    }
}

/// What a `<resource>`'s `protocol`, `content-type` and `user-agent` require of a request.
#[derive(Clone, Debug, Default)]
pub struct ResourceFilter {
    pub scheme: Option<Scheme>,
    pub content_type: Option<String>,
    /// Matched against the whole `User-Agent`.
    pub user_agent: Option<regex::Regex>,
}

impl ResourceFilter {
    pub fn is_empty(&self) -> bool {
        self.scheme.is_none() && self.content_type.is_none() && self.user_agent.is_none()
    }

    /// The checks after the method's: a request with a body has exactly the `content-type`,
    /// the `User-Agent` matches.
    fn takes_rest(&self, head: &Head<'_>) -> bool {
        if let Some(ct) = &self.content_type {
            if head.has_body() && head.header(http::header::CONTENT_TYPE) != Some(ct.as_str()) {
                return false;
            }
        }
        if let Some(ua) = &self.user_agent {
            match head.header(http::header::USER_AGENT) {
                Some(agent) => ua.is_match(agent),
                None => false,
            }
        } else {
            true
        }
    }
}

// === resources ===

/// The outcome of resource matching.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResourceMatch {
    /// Resource index and the `uri.var.*` bindings of its template.
    Found(usize, Vars),
    /// A resource matches the path but not the method (405); the allowed methods.
    MethodNotAllowed(Vec<String>),
    /// A resource of an `<api>` matches the path and takes the method but not the request's
    /// scheme, content type or user agent (400, as Synapse answers it).
    Refused,
    NotFound,
}

/// The compiled resources of one API.
#[derive(Clone, Debug, Default)]
pub struct ResourceTable {
    resources: Vec<Resource>,
    /// Synapse's REST dispatching rules (XML APIs) instead of first match in order.
    synapse: bool,
    /// Per resource (Synapse's rules only; none when no resource has one).
    filters: Vec<ResourceFilter>,
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
        ResourceTable {
            resources,
            synapse: false,
            filters: Vec::new(),
        }
    }

    /// Resources matched by Synapse's REST dispatching rules (see [`ResourceTable::find`]).
    pub fn synapse(resources: &[ResourceConfig]) -> ResourceTable {
        ResourceTable {
            synapse: true,
            ..ResourceTable::new(resources)
        }
    }

    /// [`ResourceTable::synapse`] with each resource's `protocol`, `content-type` and
    /// `user-agent` (one filter per resource).
    pub fn synapse_filtered(
        resources: &[ResourceConfig],
        filters: Vec<ResourceFilter>,
    ) -> ResourceTable {
        let filters = if filters.iter().all(ResourceFilter::is_empty) {
            Vec::new()
        } else {
            filters
        };
        ResourceTable {
            filters,
            ..ResourceTable::synapse(resources)
        }
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
    ///
    /// With Synapse's rules ([`ResourceTable::synapse`]) the resources that take the method
    /// are dispatched in Synapse's order: URL mappings (an exact match, else the longest path
    /// prefix in segments — the first on a tie, `/*` counting one —, else an extension), then
    /// URI templates (the first that matches), then a resource with neither (the first). A
    /// path no resource taking the method matches is 404, even when a resource for another
    /// method matches it; 405 only when no resource takes the method and one matches the path.
    pub fn find(&self, method: &Method, rel_path: &str) -> ResourceMatch {
        self.find_for(method, rel_path, None)
    }

    /// [`ResourceTable::find`] with the resources' `protocol`, `content-type` and
    /// `user-agent` checked against `head` (not checked without one).
    pub fn find_for(
        &self,
        method: &Method,
        rel_path: &str,
        head: Option<&Head<'_>>,
    ) -> ResourceMatch {
        let path = if rel_path.is_empty() { "/" } else { rel_path };
        if self.synapse {
            return self.find_synapse(method, path, head);
        }
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

impl ResourceTable {
    fn find_synapse(&self, method: &Method, path: &str, head: Option<&Head<'_>>) -> ResourceMatch {
        // as Synapse's resource checks a request: its scheme; then OPTIONS, which every
        // resource takes (it answers it unless it lists it: `cors.rs`); the method; the
        // content type and user agent
        let takes = |i: usize| {
            let r = &self.resources[i];
            let f = head.zip(self.filters.get(i));
            if f.is_some_and(|(h, f)| f.scheme.is_some_and(|s| !s.takes(h))) {
                return false;
            }
            if method == Method::OPTIONS {
                return true;
            }
            (r.methods.is_empty() || r.methods.contains(method))
                && f.is_none_or(|(h, f)| f.takes_rest(h))
        };
        let acceptable: Vec<usize> = (0..self.resources.len()).filter(|&i| takes(i)).collect();
        if !acceptable.is_empty() {
            return match self.dispatch_synapse(&acceptable, path) {
                Some((i, vars)) => ResourceMatch::Found(i, vars),
                None => ResourceMatch::NotFound,
            };
        }
        let all: Vec<usize> = (0..self.resources.len()).collect();
        match self.dispatch_synapse(&all, path) {
            // it takes the method: another check refused the request
            Some((i, _))
                if self.resources[i].methods.is_empty()
                    || self.resources[i].methods.contains(method)
                    || method == Method::OPTIONS =>
            {
                ResourceMatch::Refused
            }
            Some((i, _)) => ResourceMatch::MethodNotAllowed(
                self.resources[i]
                    .methods
                    .iter()
                    .map(|m| m.as_str().to_string())
                    .collect(),
            ),
            None => ResourceMatch::NotFound,
        }
    }

    /// Synapse's dispatchers in their order: URL mapping, URI template, default.
    fn dispatch_synapse(&self, candidates: &[usize], path: &str) -> Option<(usize, Vars)> {
        let rs = &self.resources;
        let mapped = || {
            candidates
                .iter()
                .copied()
                .filter(|&i| !matches!(rs[i].matcher, Matcher::Any | Matcher::Template(_)))
        };
        // exact
        for i in mapped() {
            if let Matcher::Exact(e) = &rs[i].matcher {
                if synapse_exact(e, path) {
                    return Some((i, Vec::new()));
                }
            }
        }
        // the longest path prefix, in segments (the first on a tie)
        let mut best: Option<(usize, usize)> = None;
        for i in mapped() {
            if let Matcher::Prefix(p) = &rs[i].matcher {
                let n = synapse_prefix_len(p, path);
                if n > best.map_or(0, |b| b.1) {
                    best = Some((i, n));
                }
            }
        }
        if let Some((i, _)) = best {
            return Some((i, Vec::new()));
        }
        // extension
        for i in mapped() {
            if let Matcher::Extension(ext) = &rs[i].matcher {
                if path.ends_with(ext.as_str()) {
                    return Some((i, Vec::new()));
                }
            }
        }
        for &i in candidates {
            if let Matcher::Template(t) = &rs[i].matcher {
                if let Some(vars) = t.matches(path) {
                    return Some((i, vars));
                }
            }
        }
        candidates
            .iter()
            .copied()
            .find(|&i| matches!(rs[i].matcher, Matcher::Any))
            .map(|i| (i, Vec::new()))
    }
}

/// Synapse's exact URL mapping: trailing slashes of the path are ignored (not of `/`); a
/// mapping written with one trailing slash is the mapping without it.
fn synapse_exact(mapping: &str, path: &str) -> bool {
    let m = if mapping.len() > 1 {
        mapping.strip_suffix('/').unwrap_or(mapping)
    } else {
        mapping
    };
    let p = if path == "/" {
        path
    } else {
        let t = path.trim_end_matches('/');
        if t.is_empty() {
            "/"
        } else {
            t
        }
    };
    m == p
}

/// How many segments of the path a `/a/b/*` mapping matches (all of its segments, else 0);
/// `/*` matches every path with length 1.
fn synapse_prefix_len(prefix: &str, path: &str) -> usize {
    let want: Vec<&str> = prefix
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    if want.is_empty() {
        return 1;
    }
    let have: Vec<&str> = path.trim_matches('/').split('/').collect();
    if have.len() < want.len() || want.iter().zip(&have).any(|(w, h)| w != h) {
        return 0;
    }
    want.len()
}

fn url_mapping(m: &str) -> Matcher {
    if m == "/*" {
        // every path (Synapse counts it as a one-segment prefix)
        Matcher::Prefix(String::new())
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
    fn matches(&self, path: &str) -> Option<Vars> {
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
            request_buffering: false,
            rate_limit: None,
            protocol: Default::default(),
            backend_protocol: Default::default(),
        }
    }

    fn res(methods: &[&str], tpl: Option<&str>, map: Option<&str>) -> ResourceConfig {
        ResourceConfig {
            rate_limit: None,
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

    /// Facts of Synapse's REST dispatch tests (URL mappings, URI templates, the default
    /// resource), each path relative to the API context.
    #[test]
    fn synapse_url_mapping_dispatch() {
        let one = |m: &str| ResourceTable::synapse(&[res(&["GET"], None, Some(m))]);
        let hit =
            |t: &ResourceTable, p: &str| t.find(&Method::GET, p) == ResourceMatch::Found(0, vec![]);
        // "/" exactly: the API's root
        assert!(hit(&one("/"), ""));
        let t = one("/foo/bar/*");
        for p in [
            "/foo/bar",
            "/foo/bar/",
            "/foo/bar/index.jsp",
            "/foo/bar/baz",
        ] {
            assert!(hit(&t, p), "{p}");
        }
        for p in ["/foo/bars", "/foo/"] {
            assert!(!hit(&t, p), "{p}");
        }
        let t = one("*.jsp");
        for p in ["/foo/bar/index.jsp", "/welcome.jsp", "/index.jsp"] {
            assert!(hit(&t, p), "{p}");
        }
        assert!(!hit(&t, "/foo/index.html"));
        let t = one("/foo/bar");
        assert!(hit(&t, "/foo/bar") && hit(&t, "/foo/bar/"));
        assert!(!hit(&t, "/foo") && !hit(&t, "/foo/bar/index.html"));
        // several mappings: an exact match, else the longest prefix, else an extension
        let t = ResourceTable::synapse(&[
            res(&["GET"], None, Some("/foo/*")),
            res(&["GET"], None, Some("/foo/bar/*")),
            res(&["GET"], None, Some("*.jsp")),
        ]);
        let which = |p: &str| match t.find(&Method::GET, p) {
            ResourceMatch::Found(i, _) => Some(i),
            _ => None,
        };
        for (p, want) in [
            ("/foo/", Some(0)),
            ("/foo/index.html", Some(0)),
            ("/foo/bars", Some(0)),
            ("/foo/index.jsp", Some(0)),
            ("/foo/bar/", Some(1)),
            ("/foo/bar/hello", Some(1)),
            ("/foo/bar/index.jsp", Some(1)),
            ("/index.jsp", Some(2)),
            ("/hello/index.jsp", Some(2)),
            ("/foolish/bars/index.jsp", Some(2)),
            ("/foolish/index.html", None),
        ] {
            assert_eq!(which(p), want, "{p}");
        }
        // `/*` counts as a one-segment prefix: on a tie the first resource wins
        let t = ResourceTable::synapse(&[
            res(&["GET"], None, Some("/*")),
            res(&["GET"], None, Some("/a/*")),
            res(&["GET"], None, Some("/a/b/*")),
        ]);
        assert_eq!(
            t.find(&Method::GET, "/a/x"),
            ResourceMatch::Found(0, vec![])
        );
        assert_eq!(
            t.find(&Method::GET, "/a/b/x"),
            ResourceMatch::Found(2, vec![])
        );
    }

    #[test]
    fn synapse_uri_template_and_default_dispatch() {
        let t = ResourceTable::synapse(&[res(&["GET"], Some("/~{user}"), None)]);
        assert_eq!(
            t.find(&Method::GET, "/~foo"),
            ResourceMatch::Found(0, vec![("user".into(), "foo".into())])
        );
        assert_eq!(t.find(&Method::GET, "/foo"), ResourceMatch::NotFound);
        assert_eq!(t.find(&Method::GET, "/~foo/bar"), ResourceMatch::NotFound);
        let t = ResourceTable::synapse(&[
            res(&["GET"], Some("/dictionary/{char}/{word}"), None),
            res(&["GET"], Some("/dictionary/{char}"), None),
        ]);
        let cw = |c: &str, w: &str| vec![("char".into(), c.into()), ("word".into(), w.into())];
        assert_eq!(
            t.find(&Method::GET, "/dictionary/c/cat"),
            ResourceMatch::Found(0, cw("c", "cat"))
        );
        assert_eq!(
            t.find(&Method::GET, "/dictionary/d/dog/"),
            ResourceMatch::Found(0, cw("d", "dog"))
        );
        assert_eq!(
            t.find(&Method::GET, "/dictionary/d"),
            ResourceMatch::Found(1, vec![("char".into(), "d".into())])
        );
        assert_eq!(
            t.find(&Method::GET, "/dictionary/c/cat/test"),
            ResourceMatch::NotFound
        );
        assert_eq!(
            ResourceTable::synapse(&[res(&["GET"], Some("/"), None)]).find(&Method::GET, ""),
            ResourceMatch::Found(0, vec![])
        );
        // URL mappings are dispatched before URI templates, templates before the default
        let t = ResourceTable::synapse(&[
            res(&[], None, None),
            res(&[], Some("/a/{x}"), None),
            res(&[], None, Some("/a/*")),
        ]);
        assert_eq!(
            t.find(&Method::GET, "/a/1"),
            ResourceMatch::Found(2, vec![])
        );
        assert_eq!(t.find(&Method::GET, "/b"), ResourceMatch::Found(0, vec![]));
        let t = ResourceTable::synapse(&[res(&[], None, None), res(&[], Some("/a/{x}"), None)]);
        assert_eq!(
            t.find(&Method::GET, "/a/1"),
            ResourceMatch::Found(1, vec![("x".into(), "1".into())])
        );
    }

    /// Resources are chosen among those that take the method; 405 only when none does and a
    /// resource matches the path; HEAD is a method of its own.
    #[test]
    fn synapse_method_rules() {
        let t = ResourceTable::synapse(&[
            res(&["GET"], Some("/items/{id}"), None),
            res(&["POST"], Some("/items"), None),
        ]);
        assert_eq!(t.find(&Method::POST, "/items/1"), ResourceMatch::NotFound);
        assert_eq!(
            t.find(&Method::DELETE, "/items/1"),
            ResourceMatch::MethodNotAllowed(vec!["GET".into()])
        );
        assert_eq!(t.find(&Method::DELETE, "/nothing"), ResourceMatch::NotFound);
        assert_eq!(
            t.find(&Method::HEAD, "/items/1"),
            ResourceMatch::MethodNotAllowed(vec!["GET".into()])
        );
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

    fn rc(methods: &[&str], template: &str) -> ResourceConfig {
        ResourceConfig {
            methods: methods.iter().map(|m| m.to_string()).collect(),
            uri_template: Some(template.into()),
            url_mapping: None,
            scopes: Vec::new(),
            in_sequence: None,
            out_sequence: None,
            fault_sequence: None,
            rate_limit: None,
        }
    }

    fn head<'a>(h: &'a HeaderMap, https: bool) -> Head<'a> {
        Head {
            headers: h,
            authority: None,
            https,
        }
    }

    fn headers(list: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in list {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn resources_check_scheme_content_type_and_user_agent_as_synapse_does() {
        let t = ResourceTable::synapse_filtered(
            &[
                rc(&["POST"], "/json"),
                rc(&["GET"], "/secure"),
                rc(&["GET"], "/curl"),
            ],
            vec![
                ResourceFilter {
                    content_type: Some("application/json".into()),
                    ..ResourceFilter::default()
                },
                ResourceFilter {
                    scheme: Some(Scheme::Https),
                    ..ResourceFilter::default()
                },
                ResourceFilter {
                    user_agent: Some(regex::Regex::new("^(?:curl/.*)$").unwrap()),
                    ..ResourceFilter::default()
                },
            ],
        );
        let found = |r: ResourceMatch| matches!(r, ResourceMatch::Found(..));
        let json = headers(&[
            ("content-type", "application/json"),
            ("content-length", "2"),
        ]);
        let text = headers(&[("content-type", "text/plain"), ("content-length", "2")]);
        let none = HeaderMap::new();
        assert!(found(t.find_for(
            &Method::POST,
            "/json",
            Some(&head(&json, false))
        )));
        // a body of another type: the resource takes the method, so 400
        assert_eq!(
            t.find_for(&Method::POST, "/json", Some(&head(&text, false))),
            ResourceMatch::Refused
        );
        // no body: the content type is not looked at
        assert!(found(t.find_for(
            &Method::POST,
            "/json",
            Some(&head(&none, false))
        )));
        // HTTPS only
        assert!(found(t.find_for(
            &Method::GET,
            "/secure",
            Some(&head(&none, true))
        )));
        assert_eq!(
            t.find_for(&Method::GET, "/secure", Some(&head(&none, false))),
            ResourceMatch::Refused
        );
        // OPTIONS is taken whatever the other checks, but not over another scheme: the other
        // resources still take it, and none of them matches the path
        assert!(found(t.find_for(
            &Method::OPTIONS,
            "/json",
            Some(&head(&text, false))
        )));
        assert_eq!(
            t.find_for(&Method::OPTIONS, "/secure", Some(&head(&none, false))),
            ResourceMatch::NotFound
        );
        let only = ResourceTable::synapse_filtered(
            &[rc(&["GET"], "/secure")],
            vec![ResourceFilter {
                scheme: Some(Scheme::Https),
                ..ResourceFilter::default()
            }],
        );
        assert_eq!(
            only.find_for(&Method::OPTIONS, "/secure", Some(&head(&none, false))),
            ResourceMatch::Refused
        );
        // the whole user agent matches
        let curl = headers(&[("user-agent", "curl/8.5.0")]);
        let wget = headers(&[("user-agent", "Wget curl/8")]);
        assert!(found(t.find_for(
            &Method::GET,
            "/curl",
            Some(&head(&curl, false))
        )));
        assert_eq!(
            t.find_for(&Method::GET, "/curl", Some(&head(&wget, false))),
            ResourceMatch::Refused
        );
        assert_eq!(
            t.find_for(&Method::GET, "/curl", Some(&head(&none, false))),
            ResourceMatch::Refused
        );
        // the method is refused first
        assert_eq!(
            t.find_for(&Method::GET, "/json", Some(&head(&json, false))),
            ResourceMatch::MethodNotAllowed(vec!["POST".into()])
        );
        // without a head (lint, the authorization server's table) nothing is checked
        assert!(found(t.find(&Method::GET, "/secure")));
    }

    #[test]
    fn apis_check_host_port_and_scheme_as_synapse_does() {
        let f = ApiFilter {
            hostname: Some("api.example".into()),
            port: Some(8280),
            scheme: None,
        };
        let host = |v: &str| headers(&[("host", v)]);
        assert!(f.takes(&head(&host("api.example:8280"), false)));
        assert!(!f.takes(&head(&host("other.example:8280"), false)));
        assert!(!f.takes(&head(&host("api.example:8243"), false)));
        // no port: 80 over HTTP, 443 over HTTPS
        assert!(!f.takes(&head(&host("api.example"), false)));
        let p80 = ApiFilter {
            port: Some(80),
            ..ApiFilter::default()
        };
        assert!(p80.takes(&head(&host("api.example"), false)));
        assert!(!p80.takes(&head(&host("api.example"), true)));
        // no Host at all: the URI's authority (HTTP/2), else refused
        assert!(!f.takes(&head(&HeaderMap::new(), false)));
        let none = HeaderMap::new();
        let h2 = Head {
            headers: &none,
            authority: Some("api.example:8280"),
            https: false,
        };
        assert!(f.takes(&h2));
        let https = ApiFilter {
            scheme: Some(Scheme::Https),
            ..ApiFilter::default()
        };
        assert!(https.takes(&head(&none, true)));
        assert!(!https.takes(&head(&none, false)));
        assert_eq!(Scheme::parse(""), Ok(None));
        assert!(Scheme::parse("jms").is_err());
    }
}
