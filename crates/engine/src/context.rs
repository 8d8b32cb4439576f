//! `MessageContext`: construction from a request, lazy body building, formatting by
//! `messageType`, outbound requests and responses, and the `ExprEnv` view expressions read.

use crate::convert::value_string;
use crate::uri::join_rest_postfix;
use crate::{
    ErrorKind, InboundResponse, MediationError, MessageContext, Origin, OutboundRequest, Properties,
};
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::HeaderMap;
use std::collections::{BTreeMap, HashMap};
use std::sync::{OnceLock, RwLock};
use synaptic_expr::{ExprEnv, Scope, Value};
use synaptic_payload::Payload;

/// Engine-private per-message state.
#[derive(Default)]
pub(crate) struct State {
    /// The body's bytes as received while the payload is unmodified (for `json-eval($)` and
    /// pass-through formatting).
    pub original: Option<Bytes>,
    /// Whether the current body came from a backend (blame for a malformed body).
    pub body_upstream: bool,
    /// Registry values prefetched for the running mediator (`None` = missing).
    pub registry: HashMap<String, Option<String>, foldhash::fast::RandomState>,
    /// WS-Addressing fields set by `header` in SOAP scope (`To`, `Action`, …).
    pub addressing: BTreeMap<String, String>,
    pub axis2_client: BTreeMap<String, Value>,
    /// Set while a fault handler runs (`get-property('FAULT')`).
    pub fault: bool,
    /// A POX fault was built by `makefault` (Axis2 `processingFault`: answered with 500 unless
    /// `HTTP_SC` or `FAULTS_AS_HTTP_200` say otherwise).
    pub fault_response: bool,
    /// Who watches this message's mediation (`synaptic run`).
    pub observer: Option<std::sync::Arc<dyn crate::MediationObserver>>,
    /// Variables set by the `variable` mediator (`${vars.x}`).
    pub variables: HashMap<String, Value>,
    /// A `<send>` to an endpoint (without `receive`) answered the message, or `<loopback/>`
    /// turned it around: the flow's out-sequence is to run on it (`Engine::mediate_flow`).
    pub sent: bool,
    /// The `addressing` fields that hold what the client wrote (read from the request's SOAP
    /// header, or copied from such a field by `makefault`): a bare `<send/>` and `<default/>`
    /// never go to a client's `To`.
    pub inbound: std::collections::BTreeSet<String>,
    /// The program's `<localEntry>` texts (default-scope reads fall back to them).
    pub local_entries: Option<std::sync::Arc<HashMap<String, String>>>,
    /// [`crate::Limits::tree_factor`] of the engine running this message (`None`: the default).
    pub tree_factor: Option<usize>,
    /// The memory budget of the body's tree, from the size of the body first built.
    pub tree_budget: Option<usize>,
    /// Places taken in `<throttle>` concurrency gates, freed when the message is dropped.
    pub permits: Vec<crate::shared::Permit>,
    /// A response to store by a collector `<cache>`.
    pub cache_pending: Option<crate::shared::PendingStore>,
    /// The parameters of the templates being run, innermost last (`$func:x`).
    pub func_params: Vec<std::sync::Arc<HashMap<String, Value>>>,
    /// Beside each of `func_params`: the parameters passed as `{{xpath}}` (the XPath itself, as
    /// Synapse passes a `SynapseXPath`), which `<iterate>`/`<aggregate>` expressions written
    /// `$func:name` select with.
    pub func_paths: Vec<crate::mediators::FuncPaths>,
    /// The aggregates of this request's `iterate`/`clone` branches (shared by the branches).
    pub eip: Option<std::sync::Arc<crate::eip::Store>>,
    /// The fan-out this message is a branch of (0: the request itself).
    pub fork: u64,
    /// How many fan-outs this message is nested in.
    pub fork_depth: u32,
    /// How many registry sequences (run by a dynamic `<sequence key>`) this message is in.
    pub registry_depth: u32,
    /// A non-blocking `call` answered: a branch whose target ends normally then goes on after
    /// the `iterate`/`clone` in the parent's sequence, as Synapse's continuation does.
    pub resumed: bool,
    /// A branch's message that answered the client while the parent went on
    /// (`continueParent="true"`): the first answer wins.
    pub branch_response: Option<Box<MessageContext>>,
    /// The stores chosen by `<store messageStore="{xpath}" sequence>`s whose sequence runs,
    /// innermost last (name, `max.messages`).
    pub stores_chosen: Vec<(String, u64)>,
    /// The host goes on with this message when the next mediation ends normally
    /// ([`MessageContext::set_host_goes_on`]).
    pub host_goes_on: bool,
    /// The Axis2 operation the request was dispatched to, set by [`crate::Program::receive`].
    pub operation: Option<Operation>,
    /// Headers every backend response to this message gets as it comes back, before its
    /// out-flow (an `<api>` resource's CORS headers): [`MessageContext::set_response_headers`].
    pub response_headers: Option<std::sync::Arc<http::HeaderMap>>,
}

/// An Axis2 operation a request was dispatched to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// Its name (`get-property('OperationName')`).
    pub name: std::sync::Arc<str>,
    /// The namespace of its name (`get-property('OperationNamespace')`): the target namespace
    /// of the WSDL port type it comes from, empty for `mediate`.
    pub namespace: std::sync::Arc<str>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("original_len", &self.original.as_ref().map(|b| b.len()))
            .field("registry_keys", &self.registry.keys().collect::<Vec<_>>())
            .field("addressing", &self.addressing.keys().collect::<Vec<_>>())
            .field("fault", &self.fault)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for MessageContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}: {}",
                    crate::redact::redact_header_value(
                        k.as_str(),
                        &String::from_utf8_lossy(v.as_bytes())
                    )
                )
            })
            .collect();
        let payload = match &self.payload {
            Payload::Empty => "empty".to_string(),
            Payload::Raw(b) => format!("raw ({} bytes)", b.len()),
            Payload::Json(_) => "json".to_string(),
            Payload::Xml(_) => "xml".to_string(),
            Payload::Text(t) => format!("text ({} bytes)", t.len()),
            Payload::Binary(b) => format!("binary ({} bytes)", b.len()),
        };
        f.debug_struct("MessageContext")
            .field("method", &self.method)
            .field("uri", &crate::redact::redact_text(&self.uri))
            .field("headers", &headers)
            .field("payload", &payload)
            .field("content_type", &self.content_type)
            .field(
                "default",
                &self.properties.default.keys().collect::<Vec<_>>(),
            )
            .field("axis2", &self.properties.axis2.keys().collect::<Vec<_>>())
            .field(
                "operation",
                &self.properties.operation.keys().collect::<Vec<_>>(),
            )
            .field("status", &self.status)
            .field("response", &self.response)
            .field("state", &self.st)
            .finish()
    }
}

/// Process-wide `system` scope (synaptic's own map, never the OS environment).
pub(crate) fn system_props() -> &'static RwLock<HashMap<String, String>> {
    static S: OnceLock<RwLock<HashMap<String, String>>> = OnceLock::new();
    S.get_or_init(|| RwLock::new(HashMap::new()))
}

/// Headers never forwarded to another hop (RFC 9110 §7.6.1), plus `Host` and `Content-Length`
/// which the client computes for the target.
pub fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "trailers"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

pub(crate) fn mime_of(ct: &str) -> &str {
    ct.split(';').next().unwrap_or("").trim()
}

fn header_str(h: &HeaderMap, n: &HeaderName) -> Option<String> {
    h.get(n)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

// === impl MessageContext ===

impl MessageContext {
    /// A copy of this message for an `iterate`/`clone` branch (Synapse's
    /// `MessageHelper.cloneMessageContext`): headers, properties, variables and the body; not
    /// the registry prefetch, a fault in progress or an answer already chosen.
    pub(crate) fn fork_child(&self) -> MessageContext {
        MessageContext {
            method: self.method.clone(),
            uri: self.uri.clone(),
            headers: self.headers.clone(),
            payload: self.payload.clone(),
            content_type: self.content_type.clone(),
            properties: self.properties.clone(),
            status: self.status,
            response: self.response,
            st: State {
                original: self.st.original.clone(),
                body_upstream: self.st.body_upstream,
                registry: HashMap::default(),
                addressing: self.st.addressing.clone(),
                axis2_client: self.st.axis2_client.clone(),
                fault: false,
                fault_response: self.st.fault_response,
                observer: self.st.observer.clone(),
                variables: self.st.variables.clone(),
                sent: false,
                inbound: self.st.inbound.clone(),
                local_entries: self.st.local_entries.clone(),
                eip: self.st.eip.clone(),
                fork: self.st.fork,
                fork_depth: self.st.fork_depth,
                registry_depth: self.st.registry_depth,
                resumed: false,
                branch_response: None,
                host_goes_on: false,
                tree_factor: self.st.tree_factor,
                tree_budget: self.st.tree_budget,
                // the `<throttle>` places stay the request's; a branch stores no response
                permits: Vec::new(),
                cache_pending: None,
                func_params: self.st.func_params.clone(),
                func_paths: self.st.func_paths.clone(),
                stores_chosen: Vec::new(),
                operation: self.st.operation.clone(),
                response_headers: self.st.response_headers.clone(),
            },
        }
    }

    /// A request entering the engine. `api_context` sets `REST_URL_POSTFIX` to the path and
    /// query after it (the whole path when `None`). Query parameters become default-scope
    /// `query.param.<name>` properties; `HTTP_METHOD`, `messageType` and `ContentType` are set
    /// in the axis2 scope.
    pub fn from_request(
        method: http::Method,
        uri: impl Into<String>,
        headers: http::HeaderMap,
        body: Bytes,
        api_context: Option<&str>,
    ) -> MessageContext {
        // a `String` the caller made is kept as is
        let uri: String = uri.into();
        let content_type = header_str(&headers, &CONTENT_TYPE);
        let mut props = Properties {
            default: crate::PropMap::with_capacity(16),
            axis2: crate::PropMap::with_capacity(8),
            ..Properties::default()
        };
        let postfix = match api_context {
            None => uri.to_string(),
            Some(ctx) => {
                let ctx = ctx.trim_end_matches('/');
                match uri.strip_prefix(ctx) {
                    Some(rest)
                        if rest.is_empty() || rest.starts_with('/') || rest.starts_with('?') =>
                    {
                        rest.to_string()
                    }
                    _ => uri.to_string(),
                }
            }
        };
        props
            .axis2
            .insert("REST_URL_POSTFIX", Value::String(postfix));
        props
            .axis2
            .insert("HTTP_METHOD", Value::String(method.as_str().to_string()));
        if let Some(ct) = &content_type {
            props
                .axis2
                .insert("messageType", Value::String(mime_of(ct).to_string()));
            props.axis2.insert("ContentType", Value::String(ct.clone()));
        }
        if let Some(ctx) = api_context {
            props
                .default
                .insert("REST_API_CONTEXT", Value::String(ctx.to_string()));
        }
        props
            .default
            .insert("REST_FULL_REQUEST_PATH", Value::String(uri.to_string()));
        if let Some((_, q)) = uri.split_once('?') {
            for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
                props
                    .default
                    .get_or_insert_with(format!("query.param.{k}"), || {
                        Value::String(v.into_owned())
                    });
            }
        }
        let (payload, original) = if body.is_empty() {
            (Payload::Empty, None)
        } else {
            (Payload::Raw(body.clone()), Some(body))
        };
        MessageContext {
            method,
            uri,
            headers,
            payload,
            content_type,
            properties: props,
            status: None,
            response: false,
            st: State {
                original,
                ..State::default()
            },
        }
    }

    /// The outgoing request to `address` as the `send`/`call` to an address endpoint would make
    /// it: body formatted by `messageType`, headers minus hop-by-hop, `REST_URL_POSTFIX`
    /// appended the Synapse way.
    pub fn to_outbound(&mut self, address: &str) -> Result<OutboundRequest, MediationError> {
        let url = match self.properties.axis2.get("REST_URL_POSTFIX") {
            Some(Value::String(postfix)) => join_rest_postfix(address, postfix),
            _ => join_rest_postfix(
                address,
                &self.axis2_string("REST_URL_POSTFIX").unwrap_or_default(),
            ),
        };
        let method = self.http_method(None);
        self.outbound(method, url, None)
    }

    /// The host goes on with this message when the next mediation (one `Engine::mediate` or
    /// `Engine::mediate_flow`) ends normally (`Flow::Continue`): it sends it to an endpoint (a
    /// proxy's target) or answers the client with it (an out-flow). A `continueParent` fan-out
    /// still running beside the flow then is handed off as detached work instead of being
    /// waited for, as when the flow answers (ADR 0502).
    pub fn set_host_goes_on(&mut self) {
        self.st.host_goes_on = true;
    }

    /// Headers set (replacing the backend's) on every response this message gets from a
    /// backend, before the out-flow sees it, as Synapse's resource sets its CORS headers.
    pub fn set_response_headers(&mut self, headers: http::HeaderMap) {
        self.st.response_headers = (!headers.is_empty()).then(|| std::sync::Arc::new(headers));
    }

    /// Replace this context's message with a backend response (for the out-flow): default
    /// properties carry over, axis2 properties and headers are the response's.
    pub fn set_response(&mut self, resp: InboundResponse) {
        let ct = header_str(&resp.headers, &CONTENT_TYPE);
        self.properties.axis2.clear();
        self.properties
            .axis2
            .insert("HTTP_SC", Value::Integer(resp.status as i64));
        if let Some(ct) = &ct {
            self.properties
                .axis2
                .insert("messageType", Value::String(mime_of(ct).to_string()));
            self.properties
                .axis2
                .insert("ContentType", Value::String(ct.clone()));
        }
        self.headers = resp.headers;
        if let Some(h) = &self.st.response_headers {
            for (name, value) in h.iter() {
                self.headers.insert(name, value.clone());
            }
        }
        self.status = Some(resp.status);
        self.response = true;
        self.set_body_raw(resp.body, ct, true);
    }

    /// The body as it would be sent now (formatted by `messageType`), and its Content-Type;
    /// none under axis2 `NO_ENTITY_BODY` = `true`.
    pub fn body_bytes(&mut self) -> Result<(Bytes, Option<String>), MediationError> {
        if self.no_entity_body() {
            return Ok((Bytes::new(), None));
        }
        let mt = self.axis2_string("messageType");
        if let Payload::Raw(b) = &self.payload {
            let same = match (&mt, &self.content_type) {
                (None, _) => true,
                (Some(m), Some(ct)) => m.eq_ignore_ascii_case(mime_of(ct)),
                (Some(_), None) => false,
            };
            if same {
                return Ok((b.clone(), self.content_type.clone()));
            }
            self.ensure_built()?;
        }
        if let Payload::Empty = self.payload {
            return Ok((Bytes::new(), None));
        }
        let mt = mt.unwrap_or_else(|| self.default_message_type().to_string());
        // a REST message (not received or built as SOAP) formatted as text/xml is plain XML,
        // as Axis2 picks its formatter for REST messages: no SOAP envelope is added
        let rest = !matches!(&self.payload, Payload::Xml(env) if env.version != synaptic_payload::SoapVersion::Pox);
        let as_plain = rest && mime_of(&mt).eq_ignore_ascii_case("text/xml");
        let format_as = if as_plain {
            "application/xml"
        } else {
            mt.as_str()
        };
        match synaptic_payload::serialize(&self.payload, format_as) {
            Ok((b, _)) if as_plain => Ok((b, Some(mt))),
            Ok((b, ct)) => Ok((b, Some(ct))),
            Err(e) => Err(MediationError::internal(
                ErrorKind::BadBody,
                format!("cannot format the body as {mt}: {e}"),
            )),
        }
    }

    /// The properties of a scope as strings (for `synaptic run` and logs).
    pub fn scope_strings(&self, scope: Scope) -> BTreeMap<String, String> {
        let strings = |(k, v): (&str, &Value)| value_string(v).map(|s| (k.to_string(), s));
        let map = match scope {
            Scope::Default => &self.properties.default,
            Scope::Axis2 => &self.properties.axis2,
            Scope::Operation => &self.properties.operation,
            Scope::Axis2Client => {
                return self
                    .st
                    .axis2_client
                    .iter()
                    .filter_map(|(k, v)| strings((k, v)))
                    .collect()
            }
            _ => return BTreeMap::new(),
        };
        map.iter().filter_map(strings).collect()
    }

    /// Whether the message is a response, as Synapse's `isResponse()` answers: a default-scope
    /// `RESPONSE` property holding a string decides (`"true"`, any case), else the direction.
    pub fn is_response(&self) -> bool {
        match self.properties.default.get("RESPONSE") {
            Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
            _ => self.response,
        }
    }

    // --- crate-internal helpers ---

    pub(crate) fn default_message_type(&self) -> &'static str {
        match &self.payload {
            Payload::Json(_) => "application/json",
            Payload::Xml(env) => match env.version {
                synaptic_payload::SoapVersion::Soap11 => "text/xml",
                synaptic_payload::SoapVersion::Soap12 => "application/soap+xml",
                synaptic_payload::SoapVersion::Pox => "application/xml",
            },
            Payload::Text(_) => "text/plain",
            Payload::Empty | Payload::Raw(_) | Payload::Binary(_) => "application/octet-stream",
        }
    }

    pub(crate) fn axis2_string(&self, name: &str) -> Option<String> {
        self.properties.axis2.get(name).and_then(value_string)
    }

    pub(crate) fn http_method(&self, endpoint_method: Option<&http::Method>) -> http::Method {
        if let Some(m) = endpoint_method {
            return m.clone();
        }
        let parse = |m: &str| {
            // the request's own method, as the gateway set it: nothing to parse
            if m == self.method.as_str() {
                return Some(self.method.clone());
            }
            http::Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok()
        };
        let set = match self.properties.axis2.get("HTTP_METHOD") {
            Some(Value::String(m)) => parse(m),
            Some(v) => value_string(v).and_then(|m| parse(&m)),
            None => None,
        };
        set.unwrap_or_else(|| self.method.clone())
    }

    /// axis2 `NO_ENTITY_BODY` is `true`: the message is sent without a body.
    fn no_entity_body(&self) -> bool {
        self.properties
            .axis2
            .get("NO_ENTITY_BODY")
            .and_then(value_string)
            .is_some_and(|s| s.eq_ignore_ascii_case("true"))
    }

    /// Build an outbound request: formatted body (none for GET/HEAD, an empty DELETE or
    /// `NO_ENTITY_BODY`), the header map minus hop-by-hop headers.
    pub(crate) fn outbound(
        &mut self,
        method: http::Method,
        url: String,
        timeout: Option<std::time::Duration>,
    ) -> Result<OutboundRequest, MediationError> {
        let no_body_prop = self.no_entity_body();
        let mut headers = self.outbound_headers();
        let (body, ct) =
            if method == http::Method::GET || method == http::Method::HEAD || no_body_prop {
                (Bytes::new(), None)
            } else {
                let (b, ct) = self.body_bytes()?;
                if method == http::Method::DELETE && b.is_empty() {
                    (Bytes::new(), None)
                } else {
                    (b, ct)
                }
            };
        if let Some(mut ct) = ct {
            if mime_of(&ct).eq_ignore_ascii_case(synaptic_payload::form::MEDIA_TYPE) {
                ct = synaptic_payload::form::content_type_with_action(self.action().as_deref());
            }
            if let Ok(v) = HeaderValue::from_str(&ct) {
                headers.insert(CONTENT_TYPE, v);
            }
        }
        Ok(OutboundRequest {
            method,
            url,
            headers,
            body,
            timeout,
        })
    }

    /// The message's headers for an outbound request: hop-by-hop headers, those `Connection`
    /// names and `Content-Type` left out.
    fn outbound_headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::with_capacity(self.headers.len() + 1);
        let connection_named: Vec<String> = self
            .headers
            .get_all(http::header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(',').map(|s| s.trim().to_ascii_lowercase()))
            .collect();
        for (k, v) in &self.headers {
            if hop_by_hop(k)
                || *k == CONTENT_TYPE
                || connection_named.iter().any(|c| c == k.as_str())
            {
                continue;
            }
            headers.append(k.clone(), v.clone());
        }
        headers
    }

    /// An outbound POST of the message as a SOAP envelope of `version`, whatever its own
    /// format (a `<wsdl>` endpoint whose port is SOAP 1.1 or 1.2, as Synapse's `format`): the
    /// body is wrapped or converted, the content type is the version's, and the SOAP action
    /// travels as SOAP 1.1's `SOAPAction` header or SOAP 1.2's `action` parameter.
    pub(crate) fn outbound_soap(
        &mut self,
        version: synaptic_payload::SoapVersion,
        url: String,
        timeout: Option<std::time::Duration>,
    ) -> Result<OutboundRequest, MediationError> {
        if !matches!(self.payload, Payload::Empty) {
            self.ensure_built()?;
        }
        let action = self.action();
        let mut headers = self.outbound_headers();
        let mut env = synaptic_payload::to_envelope(&self.payload);
        env.version = version;
        let body = Bytes::from(env.to_xml_as(version));
        let ct = match version {
            synaptic_payload::SoapVersion::Soap12 => {
                headers.remove("soapaction");
                match &action {
                    Some(a) => format!("application/soap+xml; action=\"{a}\""),
                    None => "application/soap+xml".to_string(),
                }
            }
            _ => {
                if let Some(a) = &action {
                    if let Ok(v) = HeaderValue::from_str(&format!("\"{a}\"")) {
                        headers.insert(HeaderName::from_static("soapaction"), v);
                    }
                }
                "text/xml".to_string()
            }
        };
        if let Ok(v) = HeaderValue::from_str(&ct) {
            headers.insert(CONTENT_TYPE, v);
        }
        Ok(OutboundRequest {
            method: http::Method::POST,
            url,
            headers,
            body,
            timeout,
        })
    }

    /// The body is unbuilt JSON whose original text `json-eval($)` can return as is.
    pub(crate) fn has_raw_json(&self) -> bool {
        matches!(self.payload, Payload::Raw(_))
            && self.st.original.is_some()
            && self
                .content_type
                .as_deref()
                .is_some_and(|c| mime_of(c).to_ascii_lowercase().contains("json"))
    }

    /// Who is to blame for the current body: the backend that sent it, or the client.
    pub(crate) fn body_origin(&self) -> Origin {
        if self.st.body_upstream {
            Origin::Upstream
        } else {
            Origin::Downstream
        }
    }

    /// Build the payload from raw bytes if it is not built yet.
    pub(crate) fn ensure_built(&mut self) -> Result<(), MediationError> {
        if let Payload::Raw(b) = &self.payload {
            let factor = self
                .st
                .tree_factor
                .unwrap_or(crate::Limits::DEFAULT_TREE_FACTOR);
            let budget = *self
                .st
                .tree_budget
                .get_or_insert(synaptic_payload::TreeCost::budget(b.len(), factor));
            let limits = synaptic_payload::xml::XmlLimits {
                max_tree_bytes: budget,
                ..Default::default()
            };
            match synaptic_payload::build_with(b, self.content_type.as_deref(), limits) {
                Ok(p) => {
                    self.payload = p;
                    if !self.st.body_upstream && !self.response {
                        self.read_inbound_addressing();
                    }
                }
                Err(e) => {
                    let origin = self.body_origin();
                    let (kind, code) = match e {
                        synaptic_payload::PayloadError::TreeTooLarge(_) => {
                            (ErrorKind::BodyTooLarge, crate::error_codes::TREE_TOO_LARGE)
                        }
                        _ => (ErrorKind::BadBody, 0),
                    };
                    return Err(MediationError::new(kind, origin, code, e.to_string()));
                }
            }
        }
        Ok(())
    }

    /// Build a client's SOAP request (`text/xml`, `application/soap+xml`) that is still raw, so
    /// its WS-Addressing headers are known; any other message is left as it is.
    pub(crate) fn ensure_soap_request_built(&mut self) -> Result<(), MediationError> {
        if self.st.body_upstream || self.response || !matches!(self.payload, Payload::Raw(_)) {
            return Ok(());
        }
        let soap = self.content_type.as_deref().map(mime_of).is_some_and(|m| {
            m.eq_ignore_ascii_case("text/xml") || m.eq_ignore_ascii_case("application/soap+xml")
        });
        if soap {
            self.ensure_built()?;
        }
        Ok(())
    }

    /// The WS-Addressing headers of the client's SOAP request (`wsa:To`, `wsa:Action`,
    /// `wsa:MessageID`, and the `Address` of `wsa:ReplyTo`/`FaultTo`/`From`), as Axis2's
    /// addressing module reads them: `get-property('To')`, the log's `To:` and makefault's
    /// `RelatesTo` see them. Fields a `<header>` already set are kept.
    fn read_inbound_addressing(&mut self) {
        const WSA: [&str; 2] = [
            "http://www.w3.org/2005/08/addressing",
            "http://schemas.xmlsoap.org/ws/2004/08/addressing",
        ];
        let Payload::Xml(env) = &self.payload else {
            return;
        };
        if env.version == synaptic_payload::SoapVersion::Pox {
            return;
        }
        for h in env
            .header
            .iter()
            .filter(|h| WSA.contains(&h.name.ns.as_str()))
        {
            let name = h.name.local.as_str();
            let value = match name {
                "To" | "Action" | "MessageID" => h.string_value(),
                "ReplyTo" | "FaultTo" | "From" => h
                    .children
                    .iter()
                    .find_map(|c| match c {
                        synaptic_payload::Node::Element(a) if a.name.local == "Address" => {
                            Some(a.string_value())
                        }
                        _ => None,
                    })
                    .unwrap_or_default(),
                _ => continue,
            };
            let value = value.trim().to_string();
            if value.is_empty() || self.st.addressing.contains_key(name) {
                continue;
            }
            self.st.inbound.insert(name.to_string());
            self.st.addressing.insert(name.to_string(), value);
        }
    }

    /// Replace the body with raw bytes of a content type.
    pub(crate) fn set_body_raw(&mut self, body: Bytes, ct: Option<String>, upstream: bool) {
        if body.is_empty() {
            self.payload = Payload::Empty;
            self.st.original = None;
        } else {
            self.payload = Payload::Raw(body.clone());
            self.st.original = Some(body);
        }
        self.content_type = ct;
        self.st.body_upstream = upstream;
    }

    /// Replace the body with a built payload (the original bytes no longer apply).
    pub(crate) fn set_payload(&mut self, p: Payload, ct: Option<String>) {
        self.payload = p;
        self.st.original = None;
        self.content_type = ct;
        self.st.body_upstream = false;
    }

    /// Set `messageType` (and, as Synapse does, `ContentType` and the Content-Type header).
    pub(crate) fn set_message_type(&mut self, mt: &str) {
        self.properties
            .axis2
            .insert("messageType", Value::String(mt.to_string()));
        self.properties
            .axis2
            .insert("ContentType", Value::String(mt.to_string()));
        if let Ok(v) = HeaderValue::from_str(mt) {
            self.headers.insert(CONTENT_TYPE, v);
        }
    }

    fn message_format(&self) -> &'static str {
        let mt = self
            .axis2_string("messageType")
            .or_else(|| self.content_type.as_deref().map(|c| mime_of(c).to_string()))
            .unwrap_or_default();
        // Synapse asks "doing POX?" before "doing GET?", and a REST GET is doing POX
        match mt.as_str() {
            "text/xml" => "soap11",
            "application/soap+xml" => "soap12",
            _ => "pox",
        }
    }

    /// The `SOAPAction` header (quotes removed), or the `action` parameter of a SOAP 1.2
    /// content type; `None` when empty.
    /// The action an outbound message carries: the SOAP action, else the WS-Addressing
    /// action, as Synapse passes it to the formatter.
    fn action(&self) -> Option<String> {
        self.soap_action()
            .or_else(|| self.st.addressing.get("Action").cloned())
            .filter(|a| !a.is_empty())
    }

    pub(crate) fn soap_action(&self) -> Option<String> {
        let header = self
            .headers
            .get("soapaction")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().trim_matches('"').to_string());
        let param = || {
            let ct = self.headers.get(CONTENT_TYPE)?.to_str().ok()?;
            ct.split(';').skip(1).find_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("action")
                    .then(|| v.trim().trim_matches('"').to_string())
            })
        };
        header.or_else(param).filter(|a| !a.is_empty())
    }

    fn default_property(&self, name: &str, now_ms: &dyn Fn() -> i64) -> Option<Value> {
        if let Some(v) = self.properties.default.get(name) {
            return Some(v.clone());
        }
        match name {
            "SYSTEM_TIME" => Some(Value::String(now_ms().to_string())),
            // a SOAP client's action: WS-Addressing's, else the `SOAPAction` header (SOAP 1.1)
            // or the content type's `action` parameter (SOAP 1.2), as Axis2 reads it
            "Action" => self
                .st
                .addressing
                .get(name)
                .cloned()
                .or_else(|| self.soap_action())
                .map(Value::String),
            "To" | "From" | "FaultTo" | "ReplyTo" | "RelatesTo" => self
                .st
                .addressing
                .get(name)
                .map(|s| Value::String(s.clone())),
            "MessageID" => Some(Value::String(
                self.st.addressing.get(name).cloned().unwrap_or_default(),
            )),
            "FAULT" => Some(Value::String(
                if self.st.fault { "TRUE" } else { "" }.to_string(),
            )),
            "MESSAGE_FORMAT" => Some(Value::String(self.message_format().to_string())),
            // the Axis2 operation the request was dispatched to, as Synapse reads it
            "OperationName" => self
                .st
                .operation
                .as_ref()
                .map(|o| Value::String(o.name.to_string())),
            "OperationNamespace" => self
                .st
                .operation
                .as_ref()
                .map(|o| Value::String(o.namespace.to_string())),
            _ => None,
        }
    }

    /// A property of a scope as expressions see it; `now_ms` is the time `SYSTEM_TIME` reads
    /// (asked only then).
    pub(crate) fn read_property(
        &self,
        scope: Scope,
        name: &str,
        now_ms: &dyn Fn() -> i64,
    ) -> Option<Value> {
        match scope {
            Scope::Default => self.default_property(name, now_ms).or_else(|| {
                // Synapse: a name no property holds is looked up among the local entries
                let entries = self.st.local_entries.as_ref()?;
                entries.get(name).map(|v| Value::String(v.clone()))
            }),
            // Axis2 falls back to the client options (`axis2-client`)
            Scope::Axis2 => self
                .properties
                .axis2
                .get(name)
                .or_else(|| self.st.axis2_client.get(name))
                .cloned(),
            Scope::Axis2Client => self.st.axis2_client.get(name).cloned(),
            Scope::Operation => self.properties.operation.get(name).cloned(),
            Scope::Transport => self
                .headers
                .get(name)
                .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned())),
            Scope::System => Some(Value::String(
                system_props()
                    .read()
                    .ok()
                    .and_then(|m| m.get(name).cloned())
                    .unwrap_or_default(),
            )),
            // the environment is the host's (`Configurables::env`), read by `Env::property`
            Scope::Env => None,
            Scope::Registry => Some(Value::String(self.registry_value(name).unwrap_or_default())),
            Scope::Func => self.st.func_params.last()?.get(name).cloned(),
            Scope::File | Scope::Trace | Scope::Analytics => None,
        }
    }

    pub(crate) fn registry_value(&self, key: &str) -> Option<String> {
        self.st.registry.get(key).cloned().flatten()
    }
}

/// The read-only view expressions evaluate against.
pub(crate) struct Env<'a> {
    pub ctx: &'a MessageContext,
    /// The clock the time is read from, the first time an expression asks for it (most never
    /// do); `None` with a time given.
    clock: Option<&'a dyn crate::Clock>,
    now_ms: std::cell::Cell<Option<i64>>,
    /// `configs.*` and secrets.
    pub values: &'a dyn crate::Configurables,
}

impl<'a> Env<'a> {
    /// The view of `ctx` while `engine` runs it.
    pub fn of(engine: &'a crate::Engine, ctx: &'a MessageContext) -> Env<'a> {
        Env {
            ctx,
            clock: Some(&*engine.clock),
            now_ms: std::cell::Cell::new(None),
            values: &*engine.configurables,
        }
    }

    /// The view of `ctx` at the time `now_ms`.
    pub fn at(
        ctx: &'a MessageContext,
        now_ms: i64,
        values: &'a dyn crate::Configurables,
    ) -> Env<'a> {
        Env {
            ctx,
            clock: None,
            now_ms: std::cell::Cell::new(Some(now_ms)),
            values,
        }
    }

    /// The time of this evaluation: one reading of the clock, whichever expression asks.
    fn now(&self) -> i64 {
        if let Some(t) = self.now_ms.get() {
            return t;
        }
        let t = self.clock.map_or(0, |c| c.now_ms());
        self.now_ms.set(Some(t));
        t
    }
}

impl ExprEnv for Env<'_> {
    fn tree_budget(&self) -> Option<usize> {
        // a body never built from bytes (made by a mediator) has the smallest budget
        Some(
            self.ctx
                .st
                .tree_budget
                .unwrap_or(synaptic_payload::TreeCost::FLOOR),
        )
    }
    fn property(&self, scope: Scope, name: &str) -> Option<Value> {
        if scope == Scope::Env {
            return Some(Value::String(self.values.env(name).unwrap_or_default()));
        }
        self.ctx.read_property(scope, name, &|| self.now())
    }
    fn registry(&self, key: &str) -> Option<String> {
        self.ctx.registry_value(key)
    }
    fn payload(&self) -> &Payload {
        &self.ctx.payload
    }
    fn raw_json(&self) -> Option<&str> {
        let ct = self.ctx.content_type.as_deref()?;
        if !mime_of(ct).to_ascii_lowercase().contains("json") {
            return None;
        }
        let b = self.ctx.st.original.as_ref()?;
        std::str::from_utf8(b).ok()
    }
    fn url_param(&self, name: &str) -> Option<String> {
        let (_, q) = self.ctx.uri.split_once('?')?;
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
    fn now_ms(&self) -> i64 {
        self.now()
    }
    fn xpath_variable(&self, name: &str) -> Option<Value> {
        self.ctx.st.variables.get(name).cloned()
    }
    fn secret(&self, alias: &str) -> Option<String> {
        self.values.secret(alias)
    }
}
