//! The plan: `synaptic.toml` and the sequences program compiled once into everything a request
//! needs — routes, resources with their flows and scopes, parsed endpoints, endpoint security
//! handles, per-API metrics — and, per API and resource, the pure decision of which phases a
//! request runs ([`decide`]), among them whether it is a plain pass-through.
//!
//! [`compile`] returns the plan plus diagnostics the way `engine::compile` does: a plan with
//! errors is `None`. Nothing is parsed or validated at request time that could be decided here:
//! an endpoint URL that does not parse is a load-time error, never a silent 202.

use crate::config::{api_at, resource_at, span_of, At, Config};
use crate::hooks::UpstreamAuth;
use crate::metrics;
use crate::proxy::Endpoint;
use crate::reload::Loaded;
use crate::routing::{ResourceMatch, ResourceTable, Router};
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use synaptic_diag::{codes, Diagnostic, SourceId, Span};

/// One immutable generation of the gateway's configuration, swapped atomically on reload.
#[derive(Debug)]
pub struct Plan {
    pub generation: u64,
    pub config: Arc<Config>,
    /// The sequences this plan runs.
    pub program: Arc<Loaded>,
    pub router: Router,
    pub apis: Vec<ApiPlan>,
    /// Largest request body accepted.
    pub max_body: u64,
    /// Largest body kept to replay a request once after a backend's 401.
    pub replay_max_body: usize,
    /// Longest wait for a client's request body.
    pub body_timeout: Duration,
    /// Largest backend response body read (out-flow, `<call>`).
    pub max_response: usize,
    /// The configuration's text, when read from a file (to tell what a reload changed).
    pub config_text: Option<String>,
    /// One access-log line per request.
    pub access_log: bool,
    /// `[cors]` when enabled.
    pub cors: Option<Arc<crate::cors::Cors>>,
    /// An `<api>` or one of its resources checks the request's host, scheme, content type or
    /// user agent ([`Plan::route_for`]).
    pub filtered: bool,
    /// The engine's limits (`<call>` timeout when the request names none).
    pub limits: synaptic_engine::Limits,
    /// The connection pools of the program's `<dblookup>`/`<dbreport>` data sources.
    pub db: Arc<crate::database::Databases>,
    /// `[configs]` values and `[secrets]`, as loaded with the configuration.
    pub configurables: Arc<crate::configurables::Configurables>,
}

/// One API, ready to serve.
pub struct ApiPlan {
    pub index: usize,
    pub name: Arc<str>,
    /// The context key (no trailing `/`).
    pub context: String,
    pub endpoint: Option<Endpoint>,
    pub timeout: Duration,
    pub resources: ResourceTable,
    /// `security = "oauth2"`: the gateway's own authorization server checks every request.
    pub secured: bool,
    /// The API's own flows (used when it has no resources).
    pub flows: Flows,
    /// Per resource: its flows (merged with the API's) and scopes.
    pub resource: Vec<ResourcePlan>,
    /// `[api.endpoint_security]`.
    pub upstream: Option<Arc<dyn UpstreamAuth>>,
    pub stats: ApiStats,
    /// `rate_limit` of the `[[api]]`: one counter for the whole API.
    pub rate_limit: Option<Arc<crate::rate_limit::RateLimit>>,
    /// What a request needs on this API's own flows (without resources); `is_plain`: a plain
    /// pass-through.
    pub needs: Needs,
    /// `protocol`: every request is a gRPC call (`grpc`), or only those with a gRPC content
    /// type (`http`).
    pub protocol: crate::config::ApiProtocol,
    /// `backend_protocol`: which client speaks to the backend.
    pub backend_protocol: crate::config::BackendProtocol,
    /// An `<api>` of the sequences folder: a `<send>` (or `<loopback>`) in the in-flow hands
    /// the response to the resource's out-flow, as in Synapse.
    pub xml: bool,
    /// An `<api>`'s `hostname`, `port` and `transports` (none: every request).
    pub filter: Option<Arc<crate::routing::ApiFilter>>,
    /// A `<proxy>`'s published WSDL: the answer to `GET …?wsdl` (empty: the proxy publishes
    /// none, 404); `None` for an API.
    pub wsdl: Option<Bytes>,
    /// A `<proxy>` as Axis2 describes it: the WSDL it generates at `?wsdl` (its ports at the
    /// addresses the request reached) when it publishes none, and its transports.
    pub wsdl_generated: Option<Arc<synaptic_engine::GeneratedWsdl>>,
    /// A `<proxy>`'s published WSDL, its schemas and the documents it imports: the answers
    /// to `?wsdl`, `?wsdl=NAME` and `?xsd=NAME`, filled per request.
    pub wsdl_published: Option<Arc<synaptic_engine::PublishedWsdl>>,
    /// A `<proxy>`'s endpoint names: it is also routed at `{context}.{endpoint}`.
    pub endpoints: Vec<String>,
}

impl std::fmt::Debug for ApiPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiPlan")
            .field("name", &self.name)
            .field("context", &self.context)
            .field("endpoint", &self.endpoint)
            .field("secured", &self.secured)
            .field("upstream", &self.upstream.is_some())
            .finish_non_exhaustive()
    }
}

/// A resource of an API.
#[derive(Clone, Debug)]
pub struct ResourcePlan {
    pub flows: Flows,
    /// Scopes a token needs (any one suffices; none = any valid token).
    pub scopes: Vec<String>,
    /// What a request on this resource needs; `is_plain`: a plain pass-through.
    pub needs: Needs,
    /// Its own `rate_limit`, else the API's.
    pub rate_limit: Option<Arc<crate::rate_limit::RateLimit>>,
    /// The route template requests on it are reported under (`http.route`): the API's
    /// context followed by the resource's `uri-template` or `url-mapping` without its query.
    pub route: Arc<str>,
    /// A resource of an `<api>`: how it takes `OPTIONS` and what its CORS headers name
    /// (`cors.rs`).
    pub options: Option<ResourceOptions>,
}

/// An `<api>` resource's `Allow`, and whether it mediates `OPTIONS` itself.
#[derive(Clone, Debug)]
pub struct ResourceOptions {
    pub allow: http::HeaderValue,
    pub mediates: bool,
}

/// The route template of a resource (see [`ResourcePlan::route`]).
pub(crate) fn route_template(context: &str, r: &crate::config::ResourceConfig) -> Arc<str> {
    let ctx = crate::path::context_key(context);
    let tail = r
        .uri_template
        .as_deref()
        .or(r.url_mapping.as_deref())
        .unwrap_or("");
    let tail = tail.split('?').next().unwrap_or("");
    let route = match (ctx, tail) {
        ("", "") => "/".to_string(),
        (c, "") => c.to_string(),
        (c, t) if t.starts_with('/') => format!("{c}{t}"),
        (c, t) => format!("{c}/{t}"),
    };
    Arc::from(route)
}

/// The sequences of a flow: in, out, fault.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flows {
    pub inflow: Option<Arc<str>>,
    pub outflow: Option<Arc<str>>,
    pub fault: Option<Arc<str>>,
}

/// Metric handles of one API (the same handles across reloads).
#[derive(Clone, Debug)]
pub struct ApiStats {
    /// Responses by status class (1xx … 5xx).
    pub responses: [metrics::Counter; 5],
    /// Seconds from the request head to the response head.
    pub latency: metrics::Histogram,
    /// Seconds spent waiting for the backend.
    pub backend: metrics::Histogram,
}

impl ApiStats {
    pub fn new(metrics: &metrics::Registry, api: &str) -> ApiStats {
        let responses = ["1xx", "2xx", "3xx", "4xx", "5xx"].map(|class| {
            metrics.counter(
                "synaptic_api_responses_total",
                "Responses of each API by status class",
                &[("api", api), ("class", class)],
            )
        });
        ApiStats {
            responses,
            latency: metrics.histogram(
                "synaptic_api_request_duration_seconds",
                "Time from a request's head to its response's head, per API",
                &[("api", api)],
            ),
            backend: metrics.histogram(
                "synaptic_api_backend_duration_seconds",
                "Time spent on the API's backend (until its response head), per API",
                &[("api", api)],
            ),
        }
    }
}

/// The route of one request: the API, its resource's flows and scopes, the `uri.var.*`
/// bindings.
#[derive(Debug)]
pub struct Route<'p> {
    pub api: &'p ApiPlan,
    pub flows: &'p Flows,
    /// The matched resource's scopes (empty without resources).
    pub scopes: &'p [String],
    pub vars: crate::routing::Vars,
    /// The phases a request on this route needs, decided at load time.
    pub needs: Needs,
    /// The limit counting requests on this route.
    pub rate_limit: Option<&'p crate::rate_limit::RateLimit>,
    /// The matched resource's index in its API (`None`: an API without resources).
    pub resource: Option<usize>,
}

/// Why a request has no route.
#[derive(Debug, PartialEq, Eq)]
pub enum NoRoute {
    Api,
    Resource,
    Method(Vec<String>),
    /// The resource takes the method but refuses the request (its scheme, content type or
    /// user agent).
    Refused,
}

impl Plan {
    /// The API and resource for a normalised path, and the path relative to the API context.
    pub fn route<'p, 'a>(
        &'p self,
        method: &http::Method,
        norm: &'a str,
    ) -> Result<(Route<'p>, &'a str), (NoRoute, Option<usize>)> {
        self.route_for(method, norm, None)
    }

    /// [`Plan::route`] with the checks of `<api>`s (`hostname`, `port`, `transports`) and of
    /// their resources (`protocol`, `content-type`, `user-agent`) made on `head`: an API whose
    /// checks refuse the request gives way to the next whose context the path is in, as
    /// Synapse tries its APIs in turn.
    pub fn route_for<'p, 'a>(
        &'p self,
        method: &http::Method,
        norm: &'a str,
        head: Option<&crate::routing::Head<'_>>,
    ) -> Result<(Route<'p>, &'a str), (NoRoute, Option<usize>)> {
        let found = self.router.candidates(norm).find(|&(i, _)| {
            let f = self.apis[i].filter.as_deref();
            f.is_none_or(|f| head.is_none_or(|h| f.takes(h)))
        });
        let Some((i, rel)) = found else {
            return Err((NoRoute::Api, None));
        };
        let api = &self.apis[i];
        if api.xml && api.resources.is_empty() {
            // an <api> without resources takes no request (as in Synapse)
            return Err((NoRoute::Resource, Some(i)));
        }
        if api.resources.is_empty() {
            let route = Route {
                api,
                flows: &api.flows,
                scopes: &[],
                vars: Vec::new(),
                needs: api.needs,
                rate_limit: api.rate_limit.as_deref(),
                resource: None,
            };
            return Ok((route, rel));
        }
        match api.resources.find_for(method, rel, head) {
            ResourceMatch::Found(r, vars) => {
                let res = &api.resource[r];
                let route = Route {
                    api,
                    flows: &res.flows,
                    scopes: &res.scopes,
                    vars,
                    needs: res.needs,
                    rate_limit: res.rate_limit.as_deref(),
                    resource: Some(r),
                };
                Ok((route, rel))
            }
            ResourceMatch::MethodNotAllowed(m) => Err((NoRoute::Method(m), Some(i))),
            ResourceMatch::Refused => Err((NoRoute::Refused, Some(i))),
            ResourceMatch::NotFound => Err((NoRoute::Resource, Some(i))),
        }
    }
}

/// What [`compile`] needs besides the configuration.
pub struct PlanInput<'a> {
    pub config: Arc<Config>,
    /// The configuration's text and its source id, for the diagnostics' positions.
    pub text: Option<(SourceId, &'a str)>,
    pub program: Arc<Loaded>,
    /// Per API (same order as `config.api`).
    pub upstream: Vec<Option<Arc<dyn UpstreamAuth>>>,
    pub metrics: &'a metrics::Registry,
    pub generation: u64,
    /// The wire log is on (every body is buffered).
    pub wire: bool,
}

/// Compile the configuration and the program into a plan; `None` when there are errors.
pub fn compile(input: PlanInput<'_>) -> (Option<Plan>, Vec<Diagnostic>) {
    let config = &input.config;
    let mut diags = Vec::new();
    let span = |path: &[At<'_>]| match input.text {
        Some((id, text)) => span_of(id, text, path),
        None => Span::new(SourceId(0), 0, 0),
    };
    let known = |n: &str| input.program.has_sequence(n);
    // a name is checked where it is written (a resource inheriting the API's is not)
    let flow = |api: &str,
                name: &Option<String>,
                fallback: &Option<String>,
                path: &[At<'_>],
                diags: &mut Vec<Diagnostic>| {
        let own = name.is_some();
        let name = name.as_ref().or(fallback.as_ref())?;
        if own && !known(name) {
            diags.push(Diagnostic::error(
                codes::E0402,
                span(path),
                format!("API {api:?}: no sequence named {name:?} in the sequences folder"),
            ));
        }
        Some(Arc::<str>::from(name.as_str()))
    };
    let mut apis = Vec::with_capacity(config.api.len());
    for (i, a) in config.api.iter().enumerate() {
        let at = |k: &'static str| api_at(i, k);
        let endpoint = match a.endpoint.as_deref().map(Endpoint::parse) {
            None => None,
            Some(Ok(e)) => Some(e),
            Some(Err(m)) => {
                diags.push(Diagnostic::error(
                    codes::E0402,
                    span(&at("endpoint")),
                    format!(
                        "API {:?}: invalid endpoint {:?}: {m}",
                        a.name,
                        a.endpoint.as_deref().unwrap_or_default()
                    ),
                ));
                None
            }
        };
        let has_upstream = input.upstream.get(i).is_some_and(Option::is_some);
        let facts = |f: &Flows| Facts {
            secured: a.is_oauth2_secured(),
            inflow: f.inflow.is_some(),
            outflow: f.outflow.is_some(),
            fault: f.fault.is_some(),
            endpoint: endpoint.is_some(),
            endpoint_security: has_upstream,
            wire: input.wire,
            buffer: a.request_buffering,
            rate_limit: false,
        };
        let limit = |id: String,
                     c: &crate::rate_limit::RateLimitConfig,
                     path: &[At<'_>],
                     diags: &mut Vec<Diagnostic>| {
            match crate::rate_limit::RateLimit::compile(id, c, a.is_oauth2_secured()) {
                Ok(rl) => Some(Arc::new(rl)),
                Err((field, m)) => {
                    let mut p: Vec<At<'_>> = path.to_vec();
                    p.push(At::Key(field));
                    diags.push(Diagnostic::error(
                        codes::E0402,
                        span(&p),
                        format!("API {:?}: rate_limit: {m}", a.name),
                    ));
                    None
                }
            }
        };
        let api_limit = a
            .rate_limit
            .as_ref()
            .and_then(|c| limit(a.name.clone(), c, &at("rate_limit"), &mut diags));
        let none = None;
        let flows = Flows {
            inflow: flow(
                &a.name,
                &a.in_sequence,
                &none,
                &at("in_sequence"),
                &mut diags,
            ),
            outflow: flow(
                &a.name,
                &a.out_sequence,
                &none,
                &at("out_sequence"),
                &mut diags,
            ),
            fault: flow(
                &a.name,
                &a.fault_sequence,
                &none,
                &at("fault_sequence"),
                &mut diags,
            ),
        };
        let resource = a
            .resource
            .iter()
            .enumerate()
            .map(|(j, r)| {
                let rat = |k: &'static str| resource_at(i, j, k);
                let flows = Flows {
                    inflow: flow(
                        &a.name,
                        &r.in_sequence,
                        &a.in_sequence,
                        &rat("in_sequence"),
                        &mut diags,
                    ),
                    outflow: flow(
                        &a.name,
                        &r.out_sequence,
                        &a.out_sequence,
                        &rat("out_sequence"),
                        &mut diags,
                    ),
                    fault: flow(
                        &a.name,
                        &r.fault_sequence,
                        &a.fault_sequence,
                        &rat("fault_sequence"),
                        &mut diags,
                    ),
                };
                let rate_limit = match &r.rate_limit {
                    Some(c) => limit(format!("{}#{j}", a.name), c, &rat("rate_limit"), &mut diags),
                    None => api_limit.clone(),
                };
                ResourcePlan {
                    needs: decide(Facts {
                        rate_limit: rate_limit.is_some(),
                        ..facts(&flows)
                    }),
                    flows,
                    scopes: r.scopes.clone(),
                    rate_limit,
                    route: route_template(&a.context, r),
                    options: None,
                }
            })
            .collect();
        let upstream = input.upstream.get(i).cloned().flatten();
        apis.push(ApiPlan {
            needs: decide(Facts {
                rate_limit: api_limit.is_some(),
                ..facts(&flows)
            }),
            rate_limit: api_limit,
            index: i,
            name: Arc::from(a.name.as_str()),
            context: crate::path::context_key(&a.context).to_string(),
            endpoint,
            timeout: config.api_timeout(a),
            resources: ResourceTable::for_api(a),
            secured: a.is_oauth2_secured(),
            flows,
            resource,
            upstream,
            stats: ApiStats::new(input.metrics, &a.name),
            protocol: a.protocol,
            backend_protocol: a.backend_protocol,
            xml: false,
            filter: None,
            wsdl: None,
            wsdl_generated: None,
            wsdl_published: None,
            endpoints: Vec::new(),
        });
    }
    xml_apis(&input, &mut apis, &mut diags, &span);
    if diags.iter().any(|d| d.is_error()) {
        return (None, diags);
    }
    let max_body = config.server.max_body_size;
    let plan = Plan {
        generation: input.generation,
        router: Router::from_entries(apis.iter().enumerate().flat_map(|(i, a)| {
            let aliases = a
                .endpoints
                .iter()
                .map(move |e| (format!("{}.{e}", a.context), i));
            std::iter::once((a.context.clone(), i)).chain(aliases)
        })),
        apis,
        max_body,
        replay_max_body: config.oauth.replay_max_body.unwrap_or(1 << 20),
        body_timeout: config.default_timeout(),
        max_response: usize::try_from(max_body).unwrap_or(usize::MAX).max(1 << 20),
        config_text: input.text.map(|(_, t)| t.to_string()),
        access_log: config.server.access_log,
        filtered: input
            .program
            .apis
            .iter()
            .any(|x| !x.filter.is_empty() || x.resources.iter().any(|r| !r.filter.is_empty())),
        cors: crate::cors::Cors::compile(&config.cors)
            .ok()
            .flatten()
            .map(Arc::new),
        limits: synaptic_engine::Limits {
            call_timeout: config.default_timeout(),
            tree_factor: config.limits.max_tree_factor,
            script_timeout: config.limits.script_budget(),
            script_memory: config.limits.script_memory,
            branches_in_flight: config.limits.eip_branches_in_flight,
            max_branches: config.limits.eip_max_branches,
            ..synaptic_engine::Limits::default()
        },
        db: Arc::new(crate::database::Databases::new(
            input
                .program
                .program
                .as_ref()
                .map(|p| p.data_sources())
                .unwrap_or_default(),
            &config.configurables,
            &crate::database::DbFolders {
                config: config.base_dir.clone(),
                project: config.sequences_dir(),
            },
            config.limits.db_max_connections,
            config.limits.db_budget(),
        )),
        configurables: config.configurables.clone(),
        program: input.program,
        config: input.config,
    };
    (Some(plan), diags)
}

/// The `<api>`s of the sequences folder, after the `[[api]]`s: a context or a name both
/// define is an error at the `[[api]]`, naming the `<api>`'s file and position.
fn xml_apis(
    input: &PlanInput<'_>,
    apis: &mut Vec<ApiPlan>,
    diags: &mut Vec<Diagnostic>,
    span: &dyn Fn(&[At<'_>]) -> Span,
) {
    let config = &input.config;
    // Synapse's `fault` sequence handles the faults of a resource without its own
    let default_fault = input
        .program
        .has_sequence("fault")
        .then(|| Arc::<str>::from("fault"));
    for x in &input.program.apis {
        let key = crate::routing::context_key(&x.context);
        let clash = config
            .api
            .iter()
            .enumerate()
            .find(|(_, a)| crate::routing::context_key(&a.context) == key || a.name == x.name);
        if let Some((i, a)) = clash {
            let (what, k) = if a.name == x.name {
                (format!("name {:?}", a.name), "name")
            } else {
                (format!("context {:?}", x.context), "context")
            };
            diags.push(Diagnostic::error(
                codes::E0117,
                span(&api_at(i, k)),
                format!(
                    "API {:?}: {what} is also used by the <api> `{}` at {}",
                    a.name, x.name, x.location
                ),
            ));
            continue;
        }
        let facts = |f: &Flows| Facts {
            inflow: f.inflow.is_some(),
            outflow: f.outflow.is_some(),
            fault: f.fault.is_some(),
            wire: input.wire,
            ..Facts::default()
        };
        let resource = x
            .resources
            .iter()
            .map(|r| {
                let mut flows = r.flows.clone();
                // a `faultSequence` no artifact defines runs the registry's sequence of that
                // key, else the `fault` sequence (W0304); one unknown to the program too
                // gives way to the `fault` sequence
                if flows
                    .fault
                    .as_deref()
                    .is_none_or(|f| !input.program.has_fault_sequence(f))
                {
                    flows.fault = default_fault.clone();
                }
                ResourcePlan {
                    needs: decide(facts(&flows)),
                    flows,
                    scopes: Vec::new(),
                    rate_limit: None,
                    route: route_template(&x.context, &r.matcher),
                    // an `<api>`'s (a proxy takes OPTIONS as any other method)
                    options: x.wsdl.is_none().then(|| ResourceOptions {
                        allow: crate::cors::allow_value(&r.matcher.methods),
                        mediates: r.matcher.methods.iter().any(|m| m == "OPTIONS"),
                    }),
                }
            })
            .collect();
        let matchers: Vec<crate::config::ResourceConfig> =
            x.resources.iter().map(|r| r.matcher.clone()).collect();
        let filters = x.resources.iter().map(|r| r.filter.clone()).collect();
        let index = apis.len();
        apis.push(synapse_api(
            index,
            &x.name,
            key.to_string(),
            config.default_timeout(),
            ResourceTable::synapse_filtered(&matchers, filters),
            decide(facts(&Flows::default())),
            resource,
            ApiStats::new(input.metrics, &x.name),
        ));
        if let Some(a) = apis.last_mut() {
            a.filter = (!x.filter.is_empty()).then(|| Arc::new(x.filter.clone()));
            a.wsdl = x.wsdl.as_ref().map(|w| Bytes::from(w.clone()));
            a.wsdl_generated = x.wsdl_generated.clone();
            a.wsdl_published = x.wsdl_published.clone();
            a.endpoints = x.endpoints.clone();
        }
    }
    // Synapse's `main` sequence takes the requests no API takes (its responses run it again,
    // in the response direction), unless an API is served at `/`
    if input.program.has_sequence(MAIN) && !apis.iter().any(|a| a.context.is_empty()) {
        let main = Some(Arc::<str>::from(MAIN));
        let flows = Flows {
            inflow: main.clone(),
            outflow: main,
            fault: default_fault,
        };
        let facts = Facts {
            inflow: true,
            outflow: true,
            fault: flows.fault.is_some(),
            wire: input.wire,
            ..Facts::default()
        };
        let any = crate::config::ResourceConfig {
            rate_limit: None,
            methods: Vec::new(),
            uri_template: None,
            url_mapping: None,
            scopes: Vec::new(),
            in_sequence: None,
            out_sequence: None,
            fault_sequence: None,
        };
        let index = apis.len();
        apis.push(synapse_api(
            index,
            MAIN,
            String::new(),
            config.default_timeout(),
            ResourceTable::synapse(&[any]),
            decide(facts),
            vec![ResourcePlan {
                flows,
                scopes: Vec::new(),
                needs: decide(facts),
                rate_limit: None,
                // every request no API takes
                route: Arc::from("/*"),
                options: None,
            }],
            ApiStats::new(input.metrics, MAIN),
        ));
    }
}

/// The plan of an `<api>` (or of `main`): its flows are its resources', it has no endpoint of
/// its own, no inbound security and the default protocols.
#[allow(clippy::too_many_arguments)]
fn synapse_api(
    index: usize,
    name: &str,
    context: String,
    timeout: std::time::Duration,
    resources: ResourceTable,
    needs: Needs,
    resource: Vec<ResourcePlan>,
    stats: ApiStats,
) -> ApiPlan {
    ApiPlan {
        index,
        name: Arc::from(name),
        context,
        endpoint: None,
        timeout,
        resources,
        secured: false,
        needs,
        flows: Flows::default(),
        resource,
        upstream: None,
        stats,
        rate_limit: None,
        protocol: Default::default(),
        backend_protocol: Default::default(),
        xml: true,
        filter: None,
        wsdl: None,
        wsdl_generated: None,
        wsdl_published: None,
        endpoints: Vec::new(),
    }
}

/// The sequence Synapse runs for requests no API or proxy takes.
const MAIN: &str = "main";

// ===== the decision =====

/// What the body phase does with the client's request body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyMode {
    /// Streamed to the backend as it arrives (or never read).
    Stream,
    /// Read fully and kept, so the request can be replayed once after a backend's 401, or
    /// because the API asks for `request_buffering` (the backend sees nothing until the body is
    /// complete).
    Keep,
    /// Read fully into the message context (sequences) or for the wire log.
    Buffer,
}

/// What a routed request needs: the phases that have something to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Needs {
    /// Inbound authorization by the gateway's own authorization server.
    pub authorize: bool,
    pub body: BodyMode,
    /// A message context for the in- and out-flow.
    pub context: bool,
    /// A backend to send to (else the in-flow answers, or 202).
    pub upstream: bool,
    /// A fault sequence that may answer failures.
    pub fault: bool,
    /// A `rate_limit` counts the request before anything else is done with it.
    pub rate_limit: bool,
}

/// The facts [`decide`] looks at.
#[derive(Clone, Copy, Debug, Default)]
pub struct Facts {
    pub secured: bool,
    pub inflow: bool,
    pub outflow: bool,
    pub fault: bool,
    pub endpoint: bool,
    pub endpoint_security: bool,
    pub wire: bool,
    /// `request_buffering = true`: the body is read before the backend sees anything.
    pub buffer: bool,
    /// A `rate_limit` applies.
    pub rate_limit: bool,
}

impl Needs {
    /// Nothing but the backend: the request is sent as it arrives and the answer streamed back.
    pub fn is_plain(&self) -> bool {
        !self.authorize
            && self.body == BodyMode::Stream
            && !self.context
            && !self.fault
            && !self.rate_limit
    }

    /// What is left once inbound authorization is done.
    pub fn authorized(self) -> Needs {
        Needs {
            authorize: false,
            ..self
        }
    }

    /// What a request without a body needs: a body kept for a replay or buffered is empty,
    /// so it is sent as it is (endpoint security can still replay it after a 401).
    pub fn bodiless(self) -> Needs {
        Needs {
            body: match self.body {
                BodyMode::Keep => BodyMode::Stream,
                b => b,
            },
            ..self
        }
    }

    /// What a gRPC call on the same route needs (a route with sequences never carries one):
    /// its body streams both ways, whatever endpoint security or the wire log would keep, and
    /// no fault sequence answers it (the gateway answers with a `grpc-status`). With endpoint
    /// security the result may look plain: the pipeline still sends through endpoint security.
    pub fn grpc(self) -> Needs {
        Needs {
            body: BodyMode::Stream,
            fault: false,
            ..self
        }
    }
}

/// The phases a request needs. A pure function of the route's facts.
pub fn decide(f: Facts) -> Needs {
    let context = f.inflow || f.outflow;
    // the in-flow may send even without an endpoint (`<send>` to its own address)
    let upstream = f.endpoint;
    let body = if context || f.wire {
        BodyMode::Buffer
    } else if (f.endpoint_security || f.buffer) && upstream {
        BodyMode::Keep
    } else {
        BodyMode::Stream
    };
    Needs {
        authorize: f.secured,
        body,
        context,
        upstream,
        fault: f.fault,
        rate_limit: f.rate_limit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use BodyMode::*;

    /// Every combination of the facts that change the decision, with its expected phases.
    /// A rate-limited route is never the plain pass-through: the request is counted first.
    #[test]
    fn a_rate_limit_makes_a_route_not_plain() {
        let plain = Facts {
            endpoint: true,
            ..Facts::default()
        };
        assert!(decide(plain).is_plain());
        let limited = decide(Facts {
            rate_limit: true,
            ..plain
        });
        assert!(!limited.is_plain());
        assert_eq!(limited.body, BodyMode::Stream);
        assert!(!limited.grpc().is_plain());
    }

    #[test]
    fn decision_table() {
        type In = (bool, bool, bool, bool, bool, bool, bool);
        type Out = (bool, BodyMode, bool, bool, bool, bool);
        // (secured, in, out, fault, endpoint, endpoint security, wire) → (authorize, body,
        // context, upstream, fault, plain)
        #[rustfmt::skip]
        let table: &[(In, Out)] = &[
            // the plain pass-through
            ((false, false, false, false, true,  false, false), (false, Stream, false, true,  false, true)),
            // no endpoint, nothing else: 202 without reading the body
            ((false, false, false, false, false, false, false), (false, Stream, false, false, false, true)),
            // a fault sequence alone keeps the body streamed
            ((false, false, false, true,  true,  false, false), (false, Stream, false, true,  true,  false)),
            // endpoint security keeps the body for one replay
            ((false, false, false, false, true,  true,  false), (false, Keep,   false, true,  false, false)),
            ((false, false, false, true,  true,  true,  false), (false, Keep,   false, true,  true,  false)),
            // endpoint security without an endpoint has nothing to keep the body for
            ((false, false, false, false, false, true,  false), (false, Stream, false, false, false, true)),
            // inbound authorization streams too
            ((true,  false, false, false, true,  false, false), (true,  Stream, false, true,  false, false)),
            ((true,  false, false, false, true,  true,  false), (true,  Keep,   false, true,  false, false)),
            // sequences buffer the body into a message context
            ((false, true,  false, false, true,  false, false), (false, Buffer, true,  true,  false, false)),
            ((false, false, true,  false, true,  false, false), (false, Buffer, true,  true,  false, false)),
            ((false, true,  false, false, false, false, false), (false, Buffer, true,  false, false, false)),
            ((true,  true,  true,  true,  true,  true,  false), (true,  Buffer, true,  true,  true,  false)),
            // the wire log buffers, without a message context
            ((false, false, false, false, true,  false, true),  (false, Buffer, false, true,  false, false)),
            ((false, false, false, false, true,  true,  true),  (false, Buffer, false, true,  false, false)),
            ((true,  false, false, true,  true,  false, true),  (true,  Buffer, false, true,  true,  false)),
        ];
        for &((secured, inflow, outflow, fault, endpoint, es, wire), expect) in table {
            let facts = Facts {
                secured,
                inflow,
                outflow,
                fault,
                endpoint,
                endpoint_security: es,
                wire,
                buffer: false,
                rate_limit: false,
            };
            let n = decide(facts);
            assert_eq!(
                (
                    n.authorize,
                    n.body,
                    n.context,
                    n.upstream,
                    n.fault,
                    n.is_plain()
                ),
                expect,
                "{facts:?}"
            );
        }
    }

    /// A request without a body has nothing to keep: with endpoint security (or request
    /// buffering) alone it is the plain send; a sequence or the wire log still buffers, and a
    /// fault sequence still makes it not plain.
    #[test]
    fn a_request_without_a_body_keeps_nothing() {
        let es = Facts {
            endpoint: true,
            endpoint_security: true,
            ..Facts::default()
        };
        assert!(!decide(es).is_plain());
        assert!(decide(es).bodiless().is_plain());
        let buffered = Facts {
            endpoint: true,
            buffer: true,
            ..Facts::default()
        };
        assert!(decide(buffered).bodiless().is_plain());
        let secured = decide(Facts {
            secured: true,
            ..es
        })
        .bodiless();
        assert!(!secured.is_plain() && secured.authorized().is_plain());
        let fault = decide(Facts { fault: true, ..es }).bodiless();
        assert_eq!(fault.body, BodyMode::Stream);
        assert!(!fault.is_plain());
        for f in [Facts { inflow: true, ..es }, Facts { wire: true, ..es }] {
            assert_eq!(decide(f).bodiless(), decide(f), "{f:?}");
        }
    }

    #[test]
    fn request_buffering_reads_the_body_first() {
        let plain = Facts {
            endpoint: true,
            ..Facts::default()
        };
        assert!(decide(plain).is_plain());
        let buffered = decide(Facts {
            buffer: true,
            ..plain
        });
        assert_eq!(buffered.body, BodyMode::Keep);
        assert!(!buffered.is_plain());
        // a sequence reads it anyway; without an endpoint there is nothing to hold it for
        let with_flow = decide(Facts {
            buffer: true,
            inflow: true,
            ..plain
        });
        assert_eq!(with_flow.body, BodyMode::Buffer);
        assert_eq!(
            decide(Facts {
                buffer: true,
                ..Facts::default()
            })
            .body,
            BodyMode::Stream
        );
    }

    #[test]
    fn grpc_calls_stream_and_skip_the_fault_sequence() {
        // endpoint security, a fault sequence, inbound authorization and the wire log: a gRPC
        // call on such a route still streams, keeps its authorization, has no fault sequence
        let facts = Facts {
            secured: true,
            fault: true,
            endpoint: true,
            endpoint_security: true,
            wire: true,
            ..Facts::default()
        };
        let n = decide(facts);
        assert_eq!((n.body, n.fault), (Buffer, true));
        let g = n.grpc();
        assert_eq!(
            (g.authorize, g.body, g.context, g.upstream, g.fault),
            (true, Stream, false, true, false)
        );
    }

    fn loaded(names: &[&str]) -> Arc<Loaded> {
        Arc::new(Loaded {
            program: None,
            sources: synaptic_diag::SourceMap::new(),
            generation: 1,
            names: names.iter().map(|s| s.to_string()).collect(),
            apis: Vec::new(),
        })
    }

    fn plan_of(text: &str, names: &[&str]) -> (Option<Plan>, Vec<String>) {
        let mut map = synaptic_diag::SourceMap::new();
        let id = map.add("synaptic.toml", text);
        // parse only: validation would catch the bad endpoint before the plan does
        let mut config: Config = toml::from_str(text).expect("toml");
        config.base_dir = ".".into();
        let metrics = metrics::Registry::new();
        let (plan, diags) = compile(PlanInput {
            config: Arc::new(config),
            text: Some((id, text)),
            program: loaded(names),
            upstream: Vec::new(),
            metrics: &metrics,
            generation: 1,
            wire: false,
        });
        let diags = diags
            .iter()
            .map(|d| synaptic_diag::render::short(&map, d))
            .collect();
        (plan, diags)
    }

    #[test]
    fn a_bad_endpoint_url_is_a_load_time_error() {
        let text = "[[api]]\nname = \"A\"\ncontext = \"/a\"\nendpoint = \"http://exa mple/x\"\n";
        let (plan, diags) = plan_of(text, &[]);
        assert!(plan.is_none());
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert!(
            diags[0].starts_with("synaptic.toml:4:12: error[E0402]: API \"A\": invalid endpoint"),
            "{diags:?}"
        );
    }

    #[test]
    fn missing_sequences_are_errors_with_positions_and_resources_inherit_flows() {
        let text = "[[api]]\nname = \"A\"\ncontext = \"/a\"\nendpoint = \"http://127.0.0.1:1/x\"\nin_sequence = \"in\"\n\
                    [[api.resource]]\nuri_template = \"/r/{id}\"\nscopes = [\"s1\"]\n\
                    [[api.resource]]\nurl_mapping = \"/q\"\nout_sequence = \"nope\"\n";
        let (plan, diags) = plan_of(text, &["in"]);
        assert!(plan.is_none());
        assert_eq!(
            diags,
            vec!["synaptic.toml:11:16: error[E0402]: API \"A\": no sequence named \"nope\" in the sequences folder"]
        );
        let ok = text.replace("\"nope\"", "\"in\"");
        let (plan, diags) = plan_of(&ok, &["in"]);
        assert!(diags.is_empty(), "{diags:?}");
        let plan = plan.expect("plan");
        let (route, rel) = plan.route(&http::Method::GET, "/a/r/7").expect("route");
        assert_eq!(rel, "/r/7");
        assert_eq!(route.flows.inflow.as_deref(), Some("in"));
        assert_eq!(route.scopes, ["s1".to_string()]);
        assert_eq!(route.vars, vec![("id".into(), "7".to_string())]);
        // decided at load time: an in-flow buffers the body into a message context
        assert_eq!(route.needs.body, BodyMode::Buffer);
        assert!(route.needs.context && !route.needs.is_plain());
        let (route, _) = plan.route(&http::Method::GET, "/a/q").expect("route");
        assert_eq!(route.flows.outflow.as_deref(), Some("in"));
        assert!(route.scopes.is_empty());
        assert_eq!(
            plan.route(&http::Method::GET, "/b").err(),
            Some((NoRoute::Api, None))
        );
        assert_eq!(
            plan.route(&http::Method::GET, "/a/zzz").err(),
            Some((NoRoute::Resource, Some(0)))
        );
    }
}
