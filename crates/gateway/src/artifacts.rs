//! The Synapse artifacts of the sequences folder that the gateway serves besides sequences,
//! recognised by their root element wherever they are in the folder (an MI project's
//! `src/main/synapse-config/` with `api/`, `endpoints/`, `local-entries/`, `sequences/` works as
//! it is):
//!
//! - `<api name context [version version-type]>`: served at its context (`version-type="context"`
//!   puts the version in place of `{version}`, `"url"` serves at `context/version`), its
//!   resources dispatched by Synapse's REST rules ([`crate::routing::ResourceTable::synapse`]),
//!   its inline or referenced `inSequence` / `outSequence` / `faultSequence` run by the one
//!   request pipeline;
//! - `<proxy name>`: served at `/services/{name}` and every path below it, for every method (SOAP
//!   and REST clients alike), its target's in-sequence (then the target endpoint, when it has
//!   one), out-sequence and fault sequence run by the same pipeline as an API resource's; an
//!   `<publishWSDL>` (resolved by the compiler) answers `GET /services/{name}?wsdl`;
//! - `<endpoint name>`, `<localEntry key>` and `<sequence name>`: compiled into the program
//!   (`engine::compile`), used by `<send>`, `<call>`, `payloadFactory` and sequence references.
//!
//! [`check`] reports what synaptic does not serve (templates, attributes that would
//! change which requests an API takes) where it is written, so that a project never lints
//! clean and then answers 404. `synaptic lint` and the gateway's loader both call it.

use crate::config::ResourceConfig;
use crate::plan::Flows;
use crate::routing::{ApiFilter, ResourceFilter, Scheme};
use std::collections::HashMap;
use std::sync::Arc;
use synaptic_diag::{codes, Diagnostic, SourceMap, Span, Spanned};
use synaptic_syntax::ast::{self, Artifact, FlowRef};

/// An `<api>` ready for the plan.
#[derive(Clone, Debug)]
pub struct XmlApi {
    pub name: String,
    /// The context it is served at (version applied, no trailing `/`; `/` stays).
    pub context: String,
    /// Where the `<api>` is written (`file:line:col`), for messages naming both sides of a
    /// conflict with `synaptic.toml`.
    pub location: String,
    pub resources: Vec<XmlResource>,
    /// An `<api>`'s `hostname`, `port` and `transports`.
    pub filter: crate::routing::ApiFilter,
    /// A `<proxy>`'s published WSDL: the answer to `GET …?wsdl` (empty for a proxy without
    /// one: 404), filled from the compiled program by [`publish`]; `None` for an `<api>`.
    pub wsdl: Option<String>,
    /// A `<proxy>` as Axis2 describes it: the WSDL it generates at `?wsdl` when the proxy
    /// publishes none, the transports and endpoints its published documents' ports name.
    pub wsdl_generated: Option<Arc<synaptic_engine::GeneratedWsdl>>,
    /// A `<proxy>`'s published WSDL, its schemas and the documents it imports, as the
    /// compiled program publishes them: the answers to `?wsdl`, `?wsdl=NAME` and `?xsd=NAME`.
    pub wsdl_published: Option<Arc<synaptic_engine::PublishedWsdl>>,
    /// A `<proxy>`'s endpoint names as Axis2 gives them: it is also served at
    /// `{context}.{endpoint}` (`/services/P.PHttpSoap11Endpoint`).
    pub endpoints: Vec<String>,
}

/// A `<resource>` of an [`XmlApi`].
#[derive(Clone, Debug)]
pub struct XmlResource {
    /// Methods, `uri_template` / `url_mapping` (no scopes, no sequences).
    pub matcher: ResourceConfig,
    pub flows: Flows,
    /// `protocol`, `content-type`, `user-agent`.
    pub filter: crate::routing::ResourceFilter,
}

/// The APIs of `artifacts` and the diagnostics of the checks. An API with an error (a bad
/// version, a context another API serves too) is left out.
pub fn apis(artifacts: &[Artifact], sources: &SourceMap) -> (Vec<XmlApi>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut out: Vec<XmlApi> = Vec::new();
    let mut by_context: HashMap<String, Span> = HashMap::new();
    let mut by_name: HashMap<String, Span> = HashMap::new();
    for a in artifacts {
        for api in &a.apis {
            let Some(context) = served_context(api, &mut diags) else {
                continue;
            };
            if let Some(prev) = by_name.get(&api.name.value) {
                diags.push(
                    Diagnostic::error(
                        codes::E0117,
                        api.name.span,
                        format!("API `{}` is defined more than once", api.name.value),
                    )
                    .with_label(*prev, "first defined here"),
                );
                continue;
            }
            if let Some(prev) = by_context.get(&context) {
                diags.push(
                    Diagnostic::error(
                        codes::E0117,
                        api.context.span,
                        format!(
                            "context `{context}` of API `{}` is already served by another API",
                            api.name.value
                        ),
                    )
                    .with_label(*prev, "served here first"),
                );
                continue;
            }
            let mut bad = false;
            let filter = api_filter(api, &mut diags, &mut bad);
            let resources = api
                .resources
                .iter()
                .map(|r| {
                    let filter = resource_filter(r, &mut diags, &mut bad);
                    if let Some(t) = &r.uri_template {
                        if let Err(m) = crate::routing::UriTemplate::parse(&t.value) {
                            bad = true;
                            diags.push(Diagnostic::error(
                                codes::E0106,
                                t.span,
                                format!("invalid uri-template `{}`: {m}", t.value),
                            ));
                        }
                    }
                    XmlResource {
                        matcher: ResourceConfig {
                            rate_limit: None,
                            methods: r
                                .methods
                                .as_ref()
                                .map(|m| m.value.split_whitespace().map(str::to_string).collect())
                                .unwrap_or_default(),
                            uri_template: r.uri_template.as_ref().map(|t| t.value.clone()),
                            url_mapping: r.url_mapping.as_ref().map(|m| m.value.clone()),
                            scopes: Vec::new(),
                            in_sequence: None,
                            out_sequence: None,
                            fault_sequence: None,
                        },
                        flows: Flows {
                            inflow: flow_name(&r.in_sequence),
                            outflow: flow_name(&r.out_sequence),
                            fault: flow_name(&r.fault_sequence),
                        },
                        filter,
                    }
                })
                .collect();
            if bad {
                continue;
            }
            by_name.insert(api.name.value.clone(), api.name.span);
            by_context.insert(context.clone(), api.context.span);
            let (line, col) = sources.line_col(api.name.span);
            out.push(XmlApi {
                name: api.name.value.clone(),
                context,
                location: format!("{}:{line}:{col}", sources.name(api.name.span.source)),
                resources,
                filter,
                wsdl: None,
                wsdl_generated: None,
                wsdl_published: None,
                endpoints: Vec::new(),
            });
        }
    }
    // proxy services: served at `/services/{name}` and below, every method, their target's
    // flows run by the same pipeline as an API resource's
    let mut proxies: HashMap<String, Span> = HashMap::new();
    for a in artifacts {
        for p in &a.proxies {
            let name = &p.name.value;
            if name.is_empty() {
                continue;
            }
            let context = format!("/services/{name}");
            let clash = proxies.get(name).or_else(|| by_context.get(&context));
            if let Some(prev) = clash {
                diags.push(
                    Diagnostic::error(
                        codes::E0342,
                        p.name.span,
                        format!("proxy `{name}`: /services/{name} is already served"),
                    )
                    .with_label(*prev, "served here first"),
                );
                continue;
            }
            proxies.insert(name.clone(), p.name.span);
            let inflow = p
                .target
                .as_deref()
                .map(Arc::from)
                .or_else(|| flow_name(&p.in_sequence));
            let (line, col) = sources.line_col(p.name.span);
            let generated = synaptic_engine::GeneratedWsdl::of(p);
            out.push(XmlApi {
                name: name.clone(),
                context,
                location: format!("{}:{line}:{col}", sources.name(p.name.span.source)),
                resources: vec![XmlResource {
                    matcher: ResourceConfig {
                        methods: Vec::new(),
                        uri_template: None,
                        url_mapping: Some("/*".into()),
                        scopes: Vec::new(),
                        in_sequence: None,
                        out_sequence: None,
                        fault_sequence: None,
                        rate_limit: None,
                    },
                    flows: Flows {
                        inflow,
                        outflow: flow_name(&p.out_sequence),
                        fault: flow_name(&p.fault_sequence),
                    },
                    filter: Default::default(),
                }],
                filter: Default::default(),
                wsdl: Some(String::new()),
                wsdl_published: None,
                endpoints: generated.endpoint_names(),
                wsdl_generated: Some(Arc::new(generated)),
            });
        }
    }
    (out, diags)
}

/// The proxies of `apis` as the compiled `program` publishes them: their `<publishWSDL>`
/// documents (resolved when the program was compiled), and without the proxies Synapse would
/// not start (`enablePublishWSDLSafeMode` and a WSDL that could not be read).
pub fn publish(apis: &mut Vec<XmlApi>, program: Option<&synaptic_engine::Program>) {
    let Some(program) = program else {
        return;
    };
    // a proxy pinned to other servers, or left unstarted, answers as an unknown service
    apis.retain(|x| x.wsdl.is_none() || program.proxy_deployed(&x.name));
    for x in apis.iter_mut().filter(|x| x.wsdl.is_some()) {
        if let Some(w) = program.published_wsdl(&x.name) {
            x.wsdl = Some(w.text.to_string());
            x.wsdl_published = Some(Arc::new(w.clone()));
        }
    }
}

/// What synaptic does not serve, where it is written (warnings), plus the errors of
/// [`apis`]: `synaptic lint`'s view of the deployment.
pub fn check(artifacts: &[Artifact], sources: &SourceMap) -> Vec<Diagnostic> {
    let (_, mut diags) = apis(artifacts, sources);
    diags.extend(check_unserved(artifacts));
    synaptic_diag::sort(&mut diags);
    diags
}

/// Warnings for what synaptic does not serve (templates, attributes that would change
/// which requests an API takes, local entries read from elsewhere), where it is written.
pub fn check_unserved(artifacts: &[Artifact]) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    for a in artifacts {
        for api in &a.apis {
            for o in &api.other {
                diags.push(unserved_api_part(&api.name.value, o));
            }
        }
        for le in &a.local_entries {
            if let ast::LocalEntryValue::Src(src) = &le.value {
                diags.push(Diagnostic::warning(
                    codes::W0101,
                    src.span,
                    format!(
                        "local entry `{}`: `src` is not fetched by synaptic; the entry is empty",
                        le.key.value
                    ),
                ));
            }
        }
    }
    synaptic_diag::sort(&mut diags);
    diags
}

fn unserved_api_part(api: &str, o: &Spanned<String>) -> Diagnostic {
    let what = match o.value.as_str() {
        "<handlers>" => {
            "API handlers are Java classes synaptic does not run; use `[[api]] xml_api` in \
             synaptic.toml for OAuth2 security"
        }
        _ => "the API is served on every listener",
    };
    Diagnostic::warning(
        codes::W0101,
        o.span,
        format!("API `{api}`: `{}` is ignored by synaptic: {what}", o.value),
    )
}

/// An `<api>`'s `hostname`, `port` and `transports`, as Synapse's API factory reads them: a
/// port that is not a number, or a transport other than `http`/`https`, fails the API.
fn api_filter(api: &ast::Api, diags: &mut Vec<Diagnostic>, bad: &mut bool) -> ApiFilter {
    let mut f = ApiFilter {
        hostname: api.hostname.as_ref().map(|h| h.value.clone()),
        ..ApiFilter::default()
    };
    if let Some(p) = &api.port {
        match p.value.trim().parse::<u16>() {
            Ok(n) => f.port = Some(n),
            Err(_) => {
                *bad = true;
                diags.push(Diagnostic::error(
                    codes::E0106,
                    p.span,
                    format!(
                        "API `{}`: port `{}` is not a port number",
                        api.name.value, p.value
                    ),
                ));
            }
        }
    }
    if let Some(t) = &api.transports {
        f.scheme = scheme(t, "transports", diags, bad);
    }
    f
}

/// A `<resource>`'s `protocol`, `content-type` and `user-agent`; a protocol other than
/// `http`/`https`, or a user agent that is not a regular expression, fails the API.
fn resource_filter(
    r: &ast::Resource,
    diags: &mut Vec<Diagnostic>,
    bad: &mut bool,
) -> ResourceFilter {
    let mut f = ResourceFilter {
        content_type: r
            .content_type
            .as_ref()
            .map(|c| c.value.clone())
            .filter(|c| !c.is_empty()),
        ..ResourceFilter::default()
    };
    if let Some(p) = &r.protocol {
        f.scheme = scheme(p, "protocol", diags, bad);
    }
    if let Some(ua) = r.user_agent.as_ref().filter(|u| !u.value.is_empty()) {
        // Java's `String.matches`: the whole value
        match regex::Regex::new(&format!("^(?:{})$", ua.value)) {
            Ok(re) => f.user_agent = Some(re),
            Err(e) => {
                *bad = true;
                // the regex crate's message ends with the reason, after a picture of the pattern
                let e = e.to_string();
                let why = e
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim_start_matches("error: ");
                diags.push(Diagnostic::error(
                    codes::E0106,
                    ua.span,
                    format!(
                        "user-agent `{}` is not a regular expression synaptic reads: {why}",
                        ua.value
                    ),
                ));
            }
        }
    }
    f
}

fn scheme(
    v: &Spanned<String>,
    attr: &str,
    diags: &mut Vec<Diagnostic>,
    bad: &mut bool,
) -> Option<Scheme> {
    match Scheme::parse(&v.value) {
        Ok(s) => s,
        Err(_) => {
            *bad = true;
            diags.push(Diagnostic::error(
                codes::E0106,
                v.span,
                format!("{attr} `{}` is neither `http` nor `https`", v.value),
            ));
            None
        }
    }
}

/// The context an API is served at, or `None` (with an error) when its version settings are
/// wrong. Synapse's rules: `version` needs `version-type`; `context` puts the version in place
/// of `{version}`; `url` serves at `context/version`; no version type: the context alone.
fn served_context(api: &ast::Api, diags: &mut Vec<Diagnostic>) -> Option<String> {
    let ctx = &api.context;
    if !ctx.value.starts_with('/') {
        diags.push(Diagnostic::error(
            codes::E0106,
            ctx.span,
            format!("API context `{}` must begin with `/`", ctx.value),
        ));
        return None;
    }
    let version = api.version.as_ref().filter(|v| !v.value.is_empty());
    let vtype = api
        .version_type
        .as_ref()
        .filter(|v| !v.value.trim().is_empty());
    let full = match (version, vtype) {
        (None, None) => ctx.value.clone(),
        (Some(v), None) => {
            diags.push(Diagnostic::error(
                codes::E0105,
                v.span,
                format!(
                    "API `{}` has a version but no `version-type` (\"context\" or \"url\")",
                    api.name.value
                ),
            ));
            return None;
        }
        (v, Some(t)) => {
            let version = v.map(|v| v.value.as_str()).unwrap_or("");
            match t.value.trim() {
                "context" => ctx.value.replace("{version}", version),
                "url" => format!("{}/{version}", ctx.value.trim_end_matches('/')),
                other => {
                    diags.push(Diagnostic::error(
                        codes::E0106,
                        t.span,
                        format!("version-type `{other}` is not one of \"context\", \"url\""),
                    ));
                    return None;
                }
            }
        }
    };
    let key = full.trim_end_matches('/');
    Some(if key.is_empty() { "/" } else { key }.to_string())
}

fn flow_name(f: &Option<FlowRef>) -> Option<Arc<str>> {
    match f.as_ref()? {
        FlowRef::Inline(n) => Some(Arc::from(n.as_str())),
        FlowRef::Key(k) => Some(Arc::from(k.value.as_str())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(files: &[(&str, &str)]) -> (Vec<XmlApi>, Vec<String>) {
        let mut map = SourceMap::new();
        let mut arts = Vec::new();
        for (name, text) in files {
            let id = map.add(*name, *text);
            let p = synaptic_syntax::parse_artifact(id, text);
            assert!(p.is_ok(), "{:?}", p.diagnostics);
            arts.push(p.tree);
        }
        let (apis, _) = apis(&arts, &map);
        let diags = check(&arts, &map)
            .iter()
            .map(|d| synaptic_diag::render::short(&map, d))
            .collect();
        (apis, diags)
    }

    const NS: &str = "xmlns=\"http://ws.apache.org/ns/synapse\"";

    #[test]
    fn versions_decide_the_context() {
        let a = format!("<api {NS} name=\"A\" context=\"/a/{{version}}/x\" version=\"1.0\" version-type=\"context\"/>");
        let b =
            format!("<api {NS} name=\"B\" context=\"/b/\" version=\"2\" version-type=\"url\"/>");
        let c = format!("<api {NS} name=\"C\" context=\"/c/\"/>");
        let (apis, diags) = load(&[("a.xml", &a), ("b.xml", &b), ("c.xml", &c)]);
        assert!(diags.is_empty(), "{diags:?}");
        let ctx: Vec<&str> = apis.iter().map(|a| a.context.as_str()).collect();
        assert_eq!(ctx, ["/a/1.0/x", "/b/2", "/c"]);
        assert_eq!(apis[0].location, "a.xml:1:52");
    }

    #[test]
    fn version_without_type_and_unknown_types_are_errors() {
        let a = format!("<api {NS} name=\"A\" context=\"/a\" version=\"1.0\"/>");
        let b =
            format!("<api {NS} name=\"B\" context=\"/b\" version=\"1\" version-type=\"header\"/>");
        let (apis, diags) = load(&[("a.xml", &a), ("b.xml", &b)]);
        assert!(apis.is_empty());
        assert_eq!(diags.len(), 2, "{diags:?}");
        assert!(diags[0].starts_with("a.xml:1:"), "{diags:?}");
        assert!(diags[0].contains("error[E0105]"), "{diags:?}");
        assert!(diags[1].contains("version-type `header`"), "{diags:?}");
    }

    #[test]
    fn a_context_served_twice_names_both_places() {
        let a = format!("<api {NS} name=\"A\" context=\"/same\"/>");
        let b = format!("<api {NS} name=\"B\" context=\"/same/\"/>");
        let (apis, diags) = load(&[("a.xml", &a), ("b.xml", &b)]);
        assert_eq!(apis.len(), 1);
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert!(diags[0].starts_with("b.xml:1:"), "{diags:?}");
        assert!(diags[0].contains("error[E0117]"), "{diags:?}");
    }

    #[test]
    fn what_synaptic_does_not_serve_is_reported_where_it_is_written() {
        let a = format!(
            "<api {NS} name=\"A\" context=\"/a\" hostname=\"h\"><resource methods=\"GET\" \
             protocol=\"https\"><inSequence><respond/></inSequence></resource>\
             <handlers><handler class=\"x.Y\"/></handlers></api>"
        );
        let p = format!(
            "<proxy {NS} name=\"P\"><target><inSequence><respond/></inSequence></target></proxy>"
        );
        let l = format!("<localEntry {NS} key=\"k\" src=\"file:x.xml\"/>");
        let (_, diags) = load(&[("a.xml", &a), ("p.xml", &p), ("l.xml", &l)]);
        let codes: Vec<&str> = diags
            .iter()
            .map(|d| d.split(": ").nth(1).unwrap_or_default())
            .collect();
        // the proxy is served, and so are `hostname` and `protocol` (the API's checks)
        assert_eq!(codes, ["warning[W0101]", "warning[W0101]"], "{diags:?}");
        assert!(diags[0].contains("<handlers>"), "{diags:?}");
        assert!(diags[1].starts_with("l.xml:1:"), "{diags:?}");
    }

    #[test]
    fn proxies_are_served_under_services_once() {
        let p = format!(
            "<proxy {NS} name=\"P\" transports=\"http https\"><target endpoint=\"E\">\
             <outSequence><send/></outSequence></target>\
             <publishWSDL><definitions xmlns=\"http://schemas.xmlsoap.org/wsdl/\"/></publishWSDL></proxy>"
        );
        let q = format!(
            "<proxy {NS} name=\"P\"><target><inSequence><respond/></inSequence></target></proxy>"
        );
        let j =
            format!("<proxy {NS} name=\"J\" transports=\"jms\"><target inSequence=\"s\"/></proxy>");
        let (apis, diags) = load(&[("p.xml", &p), ("q.xml", &q), ("j.xml", &j)]);
        let served: Vec<(&str, &str)> = apis
            .iter()
            .map(|a| (a.name.as_str(), a.context.as_str()))
            .collect();
        assert_eq!(served, [("P", "/services/P"), ("J", "/services/J")]);
        let p = &apis[0];
        assert_eq!(p.resources.len(), 1);
        assert_eq!(
            p.resources[0].flows.inflow.as_deref(),
            Some("proxy:P/target")
        );
        assert_eq!(
            p.resources[0].flows.outflow.as_deref(),
            Some("proxy:P/outSequence")
        );
        // a proxy; what it publishes comes from the compiled program (`publish`)
        assert_eq!(p.wsdl.as_deref(), Some(""));
        assert_eq!(apis[1].resources[0].flows.inflow.as_deref(), Some("s"));
        assert_eq!(apis[1].wsdl.as_deref(), Some(""));
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert!(diags[0].starts_with("q.xml:1:"), "{diags:?}");
        assert!(diags[0].contains("error[E0342]"), "{diags:?}");
    }
}
