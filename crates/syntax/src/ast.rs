//! The typed tree of a Synapse artifact. Plain data: every element and attribute value carries
//! its span; expression text is kept verbatim with the namespace bindings in scope where it was
//! written (checked later by `engine::compile` through `expr`).

use synaptic_diag::{Span, Spanned};

/// `prefix -> namespace URI` bindings in scope at an element (innermost last; `""` = default).
pub type Namespaces = Vec<(String, String)>;

/// An expression-bearing attribute: `expression="…"`, `xpath="…"`, `source="…"`.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub text: String,
    pub span: Span,
    pub namespaces: Namespaces,
}

/// A parsed file. A file may hold one `<sequence>`, or a `<definitions>`/`<api>`/`<proxy>`/
/// `<template>` root holding several sequences (named, or anonymous in/out/fault flows).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Artifact {
    /// The root element's local name (`sequence`, `definitions`, `api`, …); empty if none.
    pub root: String,
    pub sequences: Vec<Sequence>,
    /// Named endpoints declared at top level (`<endpoint name="…">` in `<definitions>`).
    pub endpoints: Vec<Endpoint>,
    /// The root element (whole element); detached when there is none.
    pub root_span: Span,
    /// `<api>` artifacts (root or inside `<definitions>`); their inline flows are anonymous
    /// entries of `sequences`, referenced by name from [`FlowRef::Inline`].
    pub apis: Vec<Api>,
    /// `<proxy>` artifacts; inline flows as for APIs.
    pub proxies: Vec<Proxy>,
    /// `<localEntry key="…">` values. A local entry holding a `<sequence>` also adds that
    /// sequence to `sequences` under the entry's key.
    pub local_entries: Vec<LocalEntry>,
    /// Sequence `<template>`s (their body is the anonymous sequence `template:{name}`).
    pub templates: Vec<Template>,
    /// `<messageStore name [class]>` definitions (root, or in `<definitions>`).
    pub message_stores: Vec<MessageStore>,
    /// `<messageProcessor name class messageStore [targetEndpoint]>` definitions.
    pub message_processors: Vec<MessageProcessor>,
}

/// `<parameter name="…">value</parameter>` of a message store or a message processor.
#[derive(Clone, Debug, PartialEq)]
pub struct StoreParam {
    pub name: Spanned<String>,
    /// The text content (trimmed), or `value=`.
    pub value: Spanned<String>,
}

/// `<messageStore name [class]>` with its parameters (the class and its parameters are checked
/// by `engine::compile`).
#[derive(Clone, Debug, PartialEq)]
pub struct MessageStore {
    pub span: Span,
    pub name: Spanned<String>,
    pub class: Option<Spanned<String>>,
    pub params: Vec<StoreParam>,
}

/// `<messageProcessor name class messageStore [targetEndpoint]>` with its parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageProcessor {
    pub span: Span,
    pub name: Spanned<String>,
    pub class: Spanned<String>,
    pub store: Spanned<String>,
    pub target_endpoint: Option<Spanned<String>>,
    pub params: Vec<StoreParam>,
}

/// `<store messageStore="name" [sequence="key"]/>`: store a copy of the message.
#[derive(Clone, Debug, PartialEq)]
pub struct Store {
    /// `messageStore=` as written.
    pub store: Spanned<String>,
    /// `messageStore="{xpath}"`: the XPath (without its braces) naming the store per message.
    pub dynamic: Option<Expr>,
    /// The sequence run on the message before it is stored.
    pub sequence: Option<Spanned<String>>,
}

/// `<dblookup>` / `<dbreport>`: SQL statements run against a database, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct DbMediator {
    pub connection: DbConnection,
    pub statements: Vec<DbStatement>,
    /// `<dbreport useTransaction="true">`: every statement in one transaction.
    pub use_transaction: bool,
}

/// `<connection><pool>`: a pool of its own, or a named data source.
#[derive(Clone, Debug, PartialEq)]
pub enum DbConnection {
    /// `<driver>`, `<url>`, `<user>`, `<password>` and `<property name value>`s.
    Pool {
        driver: DbValue,
        url: DbValue,
        user: DbValue,
        password: DbValue,
        properties: Vec<(Spanned<String>, Spanned<String>)>,
        span: Span,
    },
    /// `<dsName>` (with `<icClass>`, `<url>`, `<user>`, `<password>` for a JNDI look-up).
    DataSource { name: Spanned<String>, span: Span },
}

/// A `<driver>`, `<url>`, `<user>` or `<password>`: its text, or a registry key (`key=`).
#[derive(Clone, Debug, PartialEq)]
pub struct DbValue {
    pub value: Spanned<String>,
    pub registry_key: bool,
}

/// `<statement><sql>…</sql><parameter …/>*<result …/>*</statement>`.
#[derive(Clone, Debug, PartialEq)]
pub struct DbStatement {
    pub sql: Spanned<String>,
    pub parameters: Vec<DbParameter>,
    pub results: Vec<DbResult>,
    pub span: Span,
}

/// `<parameter value|expression type>`: one `?` of the statement, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct DbParameter {
    pub value: Option<Spanned<String>>,
    pub expression: Option<Expr>,
    /// The JDBC type name (`VARCHAR`, `INTEGER`, …).
    pub ty: Spanned<String>,
    pub span: Span,
}

/// `<result name column>`: a message property set from a column of the first row.
#[derive(Clone, Debug, PartialEq)]
pub struct DbResult {
    pub name: Spanned<String>,
    /// A column name, or its number from 1.
    pub column: Spanned<String>,
}

/// A `<template name>` with a `<sequence>` body, called by `<call-template>`.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    pub span: Span,
    pub name: Spanned<String>,
    pub params: Vec<TemplateParam>,
    /// The anonymous sequence of its body; `None` for an endpoint template.
    pub sequence: Option<String>,
    /// The `<endpoint>` of an endpoint template as XML text (its `$parameter`s are replaced
    /// in the text, as Synapse does, before an instance is parsed).
    pub endpoint: Option<Spanned<String>>,
}

/// `<parameter name [defaultValue] [isMandatory]/>` of a template.
#[derive(Clone, Debug, PartialEq)]
pub struct TemplateParam {
    pub name: Spanned<String>,
    pub default: Option<Spanned<String>>,
    pub mandatory: bool,
}

/// `<call-template target>` with its `<with-param>`s.
#[derive(Clone, Debug, PartialEq)]
pub struct CallTemplate {
    pub target: Spanned<String>,
    pub params: Vec<WithParam>,
}

/// `<with-param name value|expression/>`: `value="{xpath}"` is an expression, as in Synapse.
#[derive(Clone, Debug, PartialEq)]
pub struct WithParam {
    pub name: Spanned<String>,
    pub value: PropertyValue,
}

/// Where an API resource or proxy flow comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum FlowRef {
    /// An inline `<inSequence>`…: the name of the anonymous entry in `Artifact::sequences`.
    Inline(String),
    /// `inSequence="name"` attribute: a named sequence defined elsewhere.
    Key(Spanned<String>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Api {
    pub span: Span,
    pub name: Spanned<String>,
    pub context: Spanned<String>,
    /// `version="1.0.0"`.
    pub version: Option<Spanned<String>>,
    /// `version-type="context|url"`.
    pub version_type: Option<Spanned<String>>,
    pub resources: Vec<Resource>,
    /// `hostname="api.example.com"`: the API takes requests whose `Host` names it.
    pub hostname: Option<Spanned<String>>,
    /// `port="8280"`: the API takes requests whose `Host` names this port.
    pub port: Option<Spanned<String>>,
    /// `transports="http|https"`: the API takes requests of that scheme only.
    pub transports: Option<Spanned<String>>,
    /// Attributes and child elements that change how Synapse handles the API and synaptic
    /// does not (`binds-to`, `<handlers>`), by name, where they are written.
    pub other: Vec<Spanned<String>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    pub span: Span,
    /// `methods="GET POST"` as written.
    pub methods: Option<Spanned<String>>,
    pub uri_template: Option<Spanned<String>>,
    pub url_mapping: Option<Spanned<String>>,
    pub in_sequence: Option<FlowRef>,
    pub out_sequence: Option<FlowRef>,
    pub fault_sequence: Option<FlowRef>,
    /// `protocol="http|https"`: the resource takes requests of that scheme only.
    pub protocol: Option<Spanned<String>>,
    /// `content-type="application/json"`: a request with a body must have exactly this
    /// `Content-Type`.
    pub content_type: Option<Spanned<String>>,
    /// `user-agent="curl.*"`: a regular expression the whole `User-Agent` must match.
    pub user_agent: Option<Spanned<String>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Proxy {
    pub span: Span,
    pub name: Spanned<String>,
    pub in_sequence: Option<FlowRef>,
    pub out_sequence: Option<FlowRef>,
    pub fault_sequence: Option<FlowRef>,
    /// `<target endpoint="name">` (as `EndpointKind::Key`) or an inline `<endpoint>`.
    pub endpoint: Option<Endpoint>,
    /// With an endpoint: the anonymous sequence (in `Artifact::sequences`) that runs the
    /// in-sequence, then sends to the endpoint; the proxy's in-flow.
    pub target: Option<String>,
    /// `<publishWSDL>`: the WSDL published at `?wsdl` and whose operations requests are
    /// dispatched to.
    pub publish_wsdl: Option<PublishWsdl>,
    /// `<parameter name="enablePublishWSDLSafeMode">true</parameter>`: a `uri` that cannot be
    /// read leaves the proxy unstarted (a warning) instead of failing its deployment.
    pub wsdl_safe_mode: bool,
    /// `<parameter name="useOriginalwsdl">true</parameter>` (`true` in lower case, as Axis2
    /// reads it; white space around it aside): the published WSDL's relative schema locations
    /// point at `?xsd=` and the location as written, instead of Axis2's names.
    pub use_original_wsdl: bool,
    /// `pinnedServers`: the servers the proxy is deployed on (names separated by spaces or
    /// commas, as Synapse's `ProxyServiceFactory` splits them); `None`: every server.
    pub pinned_servers: Option<Spanned<String>>,
    /// `transports`: the transports the proxy is exposed on, as written (`None`: all).
    pub transports: Option<Spanned<String>>,
    /// `<description>`: the text Axis2 prints as the generated WSDL's documentation.
    pub description: Option<String>,
    /// Every `<parameter name>` with its text (trimmed), in order, as Synapse copies them to
    /// the Axis2 service (those read above included).
    pub parameters: Vec<ProxyParameter>,
}

/// A proxy's `<parameter name="…">text</parameter>`.
#[derive(Clone, Debug, PartialEq)]
pub struct ProxyParameter {
    /// The `name` attribute's value, where it is written.
    pub name: Spanned<String>,
    /// The text, trimmed.
    pub value: String,
}

/// A proxy's `<publishWSDL>`, as Synapse's `ProxyServiceFactory` reads it: `endpoint`, else
/// `key`, else `uri`, else an inline WSDL 1.1 `<definitions>` or WSDL 2.0 `<description>`.
#[derive(Clone, Debug, PartialEq)]
pub struct PublishWsdl {
    /// The `<publishWSDL>` element's name.
    pub span: Span,
    pub from: WsdlFrom,
    /// `<resource location="…" key="…"/>`: the document an import's `location` stands for.
    pub resources: Vec<(Spanned<String>, Spanned<String>)>,
}

/// Where a published WSDL comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum WsdlFrom {
    /// The document, serialized.
    Inline(Spanned<String>),
    /// A local entry or a registry resource.
    Key(Spanned<String>),
    /// A file (`file:` URL or a path relative to the project).
    Uri(Spanned<String>),
    /// `endpoint=`: fetched from the endpoint's address with `?wsdl` appended (a `<wsdl>`
    /// endpoint: from its `uri`) when the proxy deploys.
    Endpoint(Spanned<String>),
    /// No WSDL (an empty `<publishWSDL/>`, or one holding no WSDL document).
    Nothing,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LocalEntry {
    pub span: Span,
    pub key: Spanned<String>,
    pub value: LocalEntryValue,
}

#[derive(Clone, Debug, PartialEq)]
pub enum LocalEntryValue {
    /// Text content (entities resolved, not trimmed).
    Text(Spanned<String>),
    /// An inline XML element, serialized as for `payloadFactory` formats.
    Xml(Spanned<String>),
    /// `src="…"`: a URL we do not fetch.
    Src(Spanned<String>),
    /// A `<sequence>`: added to `Artifact::sequences` under this name.
    Sequence(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Sequence {
    /// `name=`; for anonymous flows (an API resource's `inSequence`, …) a synthetic name such as
    /// `api:Foo/resource[0]/inSequence` and `anonymous = true`.
    pub name: Spanned<String>,
    pub anonymous: bool,
    pub on_error: Option<Spanned<String>>,
    pub span: Span,
    pub mediators: Vec<Mediator>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Mediator {
    /// The whole element.
    pub span: Span,
    pub kind: MediatorKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum MediatorKind {
    Property(Property),
    Filter(Filter),
    PayloadFactory(PayloadFactory),
    Header(Header),
    Call(Call),
    /// `<callout>`: a blocking request with a source payload and a target for the answer.
    Callout(Box<Callout>),
    Send(Send),
    Log(Log),
    Respond,
    Drop,
    Loopback,
    /// `<sequence key="…"/>`
    SequenceRef(SequenceKey),
    Switch(Switch),
    Enrich(Enrich),
    MakeFault(MakeFault),
    /// `<variable>` (Micro Integrator 4.4)
    Variable(Variable),
    Validate(Validate),
    /// `<rewrite>` (Synapse's URL rewrite mediator)
    Rewrite(Rewrite),
    /// `<script language="js">` (inline or `key=`)
    Script(Box<Script>),
    /// `<xslt key="…">`
    Xslt(Box<Xslt>),
    /// `<throttle>` (Synapse's throttle mediator with its WS-Policy)
    Throttle(Box<Throttle>),
    /// `<cache>` (Micro Integrator's cache mediator, and the older form)
    Cache(Box<Cache>),
    /// `<call-template target>`
    CallTemplate(CallTemplate),
    /// `<iterate>`: split the message, one branch per part.
    Iterate(Box<Iterate>),
    /// `<clone>`: one branch per `<target>`, each on a copy of the message.
    Clone(Box<CloneM>),
    /// `<aggregate>`: collect the branches' messages into one.
    Aggregate(Box<Aggregate>),
    /// `<store messageStore>`: a copy of the message into a message store.
    Store(Store),
    /// `<dblookup>`: message properties from the first row of SQL queries.
    DbLookup(Box<DbMediator>),
    /// `<dbreport>`: SQL statements that change a database.
    DbReport(Box<DbMediator>),
    /// `<foreach>`: run a sequence on each element of a collection and merge the results.
    Foreach(Box<Foreach>),
    /// `<scatter-gather>` (Micro Integrator 4.4): each sequence on a copy, results gathered.
    ScatterGather(Box<ScatterGather>),
    /// `<in>` / `<out>` (legacy proxy flows): children run only in that direction.
    Direction {
        dir: Dir,
        mediators: Vec<Mediator>,
    },
    /// A mediator the parser recognised by name but synaptic does not run yet (`enrich`,
    /// `iterate`, …). Lint reports E0108; the engine refuses to compile it.
    Unsupported {
        name: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    In,
    Out,
}

#[derive(Clone, Debug, PartialEq)]
pub enum PropertyAction {
    Set,
    Remove,
}

#[derive(Clone, Debug, PartialEq)]
pub enum PropertyValue {
    Literal(Spanned<String>),
    Expression(Expr),
    /// Inline XML child (for type OM), serialized.
    Inline(Spanned<String>),
    None,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Property {
    /// `name=` (may itself be `{xpath}` in Synapse; kept as written).
    pub name: Spanned<String>,
    pub action: PropertyAction,
    /// As written (`default` when absent, with the span of the element).
    pub scope: Option<Spanned<String>>,
    pub ty: Option<Spanned<String>>,
    pub value: PropertyValue,
    pub pattern: Option<Spanned<String>>,
    pub group: Option<Spanned<String>>,
    pub description: Option<String>,
}

/// `<variable name=… value=…|expression=… type=… action=…>`: a typed value visible as
/// `${vars.name}` and to XPath as `$var:name`.
#[derive(Clone, Debug, PartialEq)]
pub struct Variable {
    pub name: Spanned<String>,
    pub remove: bool,
    /// `STRING`, `BOOLEAN`, `INTEGER`, `DOUBLE`, `LONG`, `XML` or `JSON` as written (checked).
    pub ty: Option<Spanned<String>>,
    pub value: PropertyValue,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    XPath(Expr),
    /// `source=` + `regex=` (regex must match the whole string).
    Regex {
        source: Expr,
        regex: Spanned<String>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    pub condition: Condition,
    pub then: Vec<Mediator>,
    pub otherwise: Option<Vec<Mediator>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaType {
    Xml,
    Json,
    Text,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ArgKind {
    Value(Spanned<String>),
    /// `evaluator` is `xml` (XPath, default) or `json` (JSONPath), as written.
    Expression {
        expr: Expr,
        evaluator: Option<Spanned<String>>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub span: Span,
    pub kind: ArgKind,
    /// `literal="true"`: the value is inserted as a string even if it parses as XML/JSON.
    pub literal: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Format {
    /// Inline `<format>`: for xml the serialized first child element (with the in-scope namespace
    /// declarations it uses made explicit); for json/text its text (CDATA included).
    Inline(Spanned<String>),
    /// `<format key="…"/>`
    Key(Spanned<String>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct PayloadFactory {
    pub media_type: MediaType,
    pub media_type_span: Option<Span>,
    pub format: Format,
    pub args: Vec<Arg>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderScope {
    Transport,
    /// `scope="default"` (or absent): SOAP headers.
    Soap,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    /// `name=` as written (a QName for SOAP headers; its namespace resolved in `namespace`).
    /// Empty for an embedded header block (no `name=`, the XML child in `value` as
    /// [`PropertyValue::Inline`]).
    pub name: Spanned<String>,
    pub namespace: Option<String>,
    pub scope: HeaderScope,
    pub action: PropertyAction,
    pub value: PropertyValue,
}

#[derive(Clone, Debug, PartialEq)]
pub enum EndpointKind {
    /// `<http method="…" uri-template="…"/>`
    Http {
        method: Option<Spanned<String>>,
        uri_template: Spanned<String>,
    },
    /// `<address uri="…"/>`
    Address { uri: Spanned<String> },
    /// `<endpoint key="…"/>` (named endpoint defined elsewhere).
    Key(Spanned<String>),
    /// `<endpoint key-expression="xpath"/>`: the XPath, evaluated on each message, gives the
    /// key of the endpoint the message goes to.
    KeyExpression(Expr),
    /// `<default/>`: the message's own `To`.
    Default,
    /// `<failover [dynamic] [buildMessage]>`: the next ready child when one fails.
    Failover {
        children: Vec<Endpoint>,
        /// `dynamic="true"` (the default): always the first ready child; `false`: stay on the
        /// child that last worked.
        dynamic: bool,
    },
    /// `<loadbalance [algorithm] [failover]>`: round robin over the ready children.
    Loadbalance {
        children: Vec<Endpoint>,
        /// `failover="true"` (the default): a failed child's message goes to the next one.
        failover: bool,
    },
    /// `<loadbalance>` over `<member hostName httpPort httpsPort/>`s: round robin over the
    /// members, each sent the path of the message's `To`.
    MemberLoadbalance {
        members: Vec<Member>,
        /// `failover="true"` (the default): a member that fails is left out and the message
        /// goes to the next one.
        failover: bool,
    },
    /// `<recipientlist>`: a copy of the message to every ready child.
    RecipientList { children: Vec<Endpoint> },
    /// `<recipientlist>` over `<member hostName httpPort httpsPort/>`s: a copy of the message
    /// to every member, each sent the path of the message's `To`.
    MemberRecipientList { members: Vec<Member> },
    /// `<recipientlist><endpoints value="{expression}"/></recipientlist>`: a copy of the
    /// message to each address of the comma-separated list the value gives (a literal list, or
    /// an XPath in braces evaluated per message).
    DynamicRecipientList {
        /// A literal list, or the expression (braces removed).
        value: PropertyValue,
        span: Span,
    },
    /// `<endpoint template="…" [uri="…"]>` with its `<parameter>`s.
    Template {
        target: Spanned<String>,
        uri: Option<Spanned<String>>,
        params: Vec<(Spanned<String>, Spanned<String>)>,
    },
    /// `<wsdl service port (uri=… | <wsdl:definitions>)>`: an address endpoint whose address
    /// and message format are those of a port of a WSDL 1.1 service.
    Wsdl(WsdlEndpoint),
    /// An endpoint type synaptic does not run yet (`dynamicLoadbalance`…). Accepted by the
    /// parser without a diagnostic; the engine reports it if a flow actually uses it.
    Unsupported { kind: String },
}

/// `<member hostName="…" httpPort="…" httpsPort="…"/>` of a load balancer.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    pub span: Span,
    pub host: Spanned<String>,
    /// The port for a message received over http, as written: a port number, or a
    /// deploy-time parameter the compiler resolves (and checks).
    pub http_port: Option<Spanned<String>>,
    /// The port for a message received over https, as written.
    pub https_port: Option<Spanned<String>>,
}

/// `<wsdl service="…" port="…" [uri="…"]>` with its inline `<wsdl:definitions>` or a `uri`.
#[derive(Clone, Debug, PartialEq)]
pub struct WsdlEndpoint {
    pub service: Spanned<String>,
    pub port: Spanned<String>,
    /// `uri=` as written (a `file:` URL or a path relative to the project, or a deploy-time
    /// parameter naming one): the compiler reads the document through the host
    /// (`engine::CompileOptions::wsdl`).
    pub uri: Option<Spanned<String>>,
    /// The inline `<wsdl:definitions>`, written out on its own with the namespace bindings it
    /// uses (at the element's name); the compiler resolves the port.
    pub inline: Option<Spanned<String>>,
}

/// What a WSDL port says about sending to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsdlPort {
    /// The `location` of its `soap:address`, `soap12:address` or `http:address`.
    pub address: String,
    pub format: WsdlFormat,
}

/// The message format a port's address element (and binding) asks for, as Synapse's
/// `format` of the endpoint: `soap11`, `soap12`, `rest` or `get`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WsdlFormat {
    Soap11,
    Soap12,
    Rest,
    Get,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Endpoint {
    pub span: Span,
    pub name: Option<Spanned<String>>,
    pub kind: EndpointKind,
    /// `<timeout><duration>ms</duration>…` if given.
    pub timeout_ms: Option<Spanned<u64>>,
    /// `<suspendOnFailure>`, `<markForSuspension>`, `<timeout><responseAction>`.
    pub qos: EndpointQos,
}

/// How an endpoint reacts to failures (Synapse's `EndpointDefinition`).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct EndpointQos {
    /// `<suspendOnFailure><errorCodes>`: empty = every error suspends.
    pub suspend_codes: Vec<i64>,
    /// `<initialDuration>` ms (Synapse's default: -1, read as 30 s).
    pub initial_ms: Option<i64>,
    /// `<progressionFactor>` (default 1).
    pub progression: Option<f64>,
    /// `<maximumDuration>` ms (default: unbounded).
    pub maximum_ms: Option<i64>,
    /// `<markForSuspension><errorCodes>`: empty = 101504 and 101505.
    pub timeout_codes: Vec<i64>,
    /// `<retriesBeforeSuspension>` (default 0).
    pub retries: Option<u32>,
    /// `<retryDelay>` ms (default 0).
    pub retry_delay_ms: Option<u64>,
    /// `<timeout><responseAction>discard</responseAction>`: a timed-out message is dropped
    /// instead of running the fault handler.
    pub discard_on_timeout: bool,
    /// Whether any of the above is written (the endpoint then keeps a state even alone).
    pub configured: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub blocking: bool,
    /// None = the message's `To` / API endpoint.
    pub endpoint: Option<Endpoint>,
}

/// `<callout>`: `serviceURL`/`endpointKey`/`<endpoint>` folded into `endpoint` (`None`: the
/// message's `To`), `action` (the SOAP action), what is sent and where the answer goes.
#[derive(Clone, Debug, PartialEq)]
pub struct Callout {
    pub endpoint: Option<Endpoint>,
    pub action: Option<Spanned<String>>,
    pub source: CalloutSource,
    pub target: CalloutTarget,
}

/// `<source>` of a `<callout>`: the message as it is (no `<source>`, `type="envelope"`, or any
/// JSON message), the first element an XPath selects, or a property (or local entry) holding
/// XML.
#[derive(Clone, Debug, PartialEq)]
pub enum CalloutSource {
    Envelope,
    XPath(Expr),
    Key(Spanned<String>),
}

/// `<target>` of a `<callout>`: the whole message replaced by the answer (no `<target>`), the
/// first node an XPath selects replaced by the answer's first body element, or a property set
/// to that element.
#[derive(Clone, Debug, PartialEq)]
pub enum CalloutTarget {
    Envelope,
    XPath(Expr),
    Key(Spanned<String>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Send {
    pub endpoint: Option<Endpoint>,
    pub receive: Option<Spanned<String>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogLevel {
    Simple,
    Headers,
    Full,
    Custom,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LogProperty {
    pub name: Spanned<String>,
    pub value: PropertyValue,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Log {
    pub level: LogLevel,
    pub category: Option<String>,
    pub separator: Option<String>,
    pub properties: Vec<LogProperty>,
    /// `<message>` (Micro Integrator 4.4): text with `${…}` expressions inside.
    pub message: Option<Spanned<String>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    pub regex: Spanned<String>,
    pub mediators: Vec<Mediator>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Switch {
    pub source: Expr,
    pub cases: Vec<Case>,
    pub default: Option<Vec<Mediator>>,
}

// === enrich ===

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnrichSourceType {
    /// `xpath=` (XPath, or JSONPath as `json-eval(…)`); the default when `type=` is absent.
    Custom,
    Envelope,
    Body,
    Property,
    Inline,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnrichTargetType {
    /// `xpath=`; the default when `type=` is absent.
    Custom,
    Envelope,
    Body,
    Property,
    /// `type="key"`: rename the JSON member named by `xpath=` to the source's string.
    Key,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnrichAction {
    Replace,
    Child,
    Sibling,
    /// Delete the JSON paths of the (custom) source from the body or a property.
    Remove,
}

/// The content of `<source type="inline">`.
#[derive(Clone, Debug, PartialEq)]
pub enum InlineSource {
    /// The first child element, serialized as for `payloadFactory` formats.
    Xml(Spanned<String>),
    /// Non-blank text (JSON or plain text), as written (entities resolved).
    Text(Spanned<String>),
    /// `key="…"`: a local entry or registry resource.
    Key(Spanned<String>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct EnrichSource {
    pub span: Span,
    pub ty: EnrichSourceType,
    /// `clone=` (default true).
    pub clone: bool,
    /// `xpath=` for `custom`.
    pub xpath: Option<Expr>,
    /// `property=` for `property`.
    pub property: Option<Spanned<String>>,
    /// Content for `inline`.
    pub inline: Option<InlineSource>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EnrichTarget {
    pub span: Span,
    pub ty: EnrichTargetType,
    pub action: EnrichAction,
    /// `xpath=` for `custom`.
    pub xpath: Option<Expr>,
    /// `property=` for `property`.
    pub property: Option<Spanned<String>>,
}

/// `<enrich>`: copy (or move) a source into a target. The parser has already refused the
/// source/target/action combinations Synapse refuses at load time.
#[derive(Clone, Debug, PartialEq)]
pub struct Enrich {
    pub source: EnrichSource,
    pub target: EnrichTarget,
}

// === makefault ===

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultVersion {
    Soap11,
    Soap12,
    Pox,
}

/// A literal or an XPath expression (`<reason value=…|expression=…>`).
#[derive(Clone, Debug, PartialEq)]
pub enum FaultText {
    Value(Spanned<String>),
    Expression(Expr),
}

/// `<code value="prefix:local">` with its namespace resolved, or `expression=`.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultCode {
    Value {
        ns: String,
        prefix: String,
        local: String,
        span: Span,
    },
    Expression(Expr),
}

#[derive(Clone, Debug, PartialEq)]
pub enum FaultDetail {
    /// Text content (possibly empty).
    Text(Spanned<String>),
    /// `expression=`: nodes are copied into the detail, anything else becomes its text.
    Expression(Expr),
    /// Child elements, each serialized as for `payloadFactory` formats.
    Elements(Vec<Spanned<String>>),
}

/// `<makefault>`: replace the message with a SOAP 1.1/1.2 fault or a POX `<Exception>`.
#[derive(Clone, Debug, PartialEq)]
pub struct MakeFault {
    pub version: FaultVersion,
    /// `response="true"`: mark the message as a response.
    pub response: bool,
    /// Required unless `version="pox"`.
    pub code: Option<FaultCode>,
    /// Required unless `version="pox"`.
    pub reason: Option<FaultText>,
    /// SOAP 1.2 only (ignored for 1.1 as in Synapse).
    pub node: Option<Spanned<String>>,
    pub role: Option<Spanned<String>>,
    pub detail: Option<FaultDetail>,
}

// === validate ===

/// `<validate>`: check the message (or what `source=` selects) against a schema; `<on-fail>`
/// runs when it does not conform.
#[derive(Clone, Debug, PartialEq)]
pub struct Validate {
    /// `source=`: a JSONPath (`json-eval(…)`), `${…}` or XPath selecting what is validated;
    /// the whole payload when absent.
    pub source: Option<Expr>,
    /// `<schema key="…">`, at least one (a local entry or a registry key); XML Schemas are
    /// combined, JSON uses the last.
    pub schemas: Vec<Spanned<String>>,
    /// For each of `schemas`, the expression of a dynamic key (`key="{…}"`), evaluated on each
    /// message to the key of a local entry or registry resource.
    pub dynamic_keys: Vec<Option<Expr>>,
    /// `cache-schema=` (default true).
    pub cache_schema: bool,
    /// `json-source=` (default false): validate as JSON whatever the payload is.
    pub json_source: bool,
    /// `<feature name=… value=…>` as written (XML Schema parser features).
    pub features: Vec<(Spanned<String>, bool)>,
    /// `<resource location=… key=…>` (imports of an XML Schema).
    pub resources: Vec<(Spanned<String>, Spanned<String>)>,
    /// `<on-fail>` (required, not empty).
    pub on_fail: Vec<Mediator>,
}

/// `<rewrite inProperty outProperty>`: rules applied in order to a URL (the `To` address or
/// the `inProperty`), the result written to the `To` address or the `outProperty`.
#[derive(Clone, Debug, PartialEq)]
pub struct Rewrite {
    pub in_property: Option<Spanned<String>>,
    pub out_property: Option<Spanned<String>>,
    pub rules: Vec<RewriteRule>,
}

/// `<rewriterule>`: a `<condition>` (optional) and its `<action>`s.
#[derive(Clone, Debug, PartialEq)]
pub struct RewriteRule {
    pub span: Span,
    pub condition: Option<RewriteCondition>,
    pub actions: Vec<RewriteAction>,
}

/// A rule's condition (Synapse's evaluators).
#[derive(Clone, Debug, PartialEq)]
pub enum RewriteCondition {
    And(Vec<RewriteCondition>),
    Or(Vec<RewriteCondition>),
    Not(Box<RewriteCondition>),
    /// `<equal type source value>`: the source's text equals `value`, ignoring case.
    Equal {
        source: ConditionSource,
        value: String,
    },
    /// `<match type source regex>`: the whole of the source's text matches.
    Match {
        source: ConditionSource,
        regex: Spanned<String>,
    },
}

/// Where a condition reads its text (`type`, `source`).
#[derive(Clone, Debug, PartialEq)]
pub enum ConditionSource {
    /// `type="url"`: the URL being rewritten, or one fragment of it (`protocol`, `user`,
    /// `host`, `port`, `path`, `query`, `ref`).
    Url(Option<UrlFragment>),
    /// `type="header"` (the default): a transport header.
    Header(String),
    /// `type="param"`: a query parameter of the URL.
    Param(String),
    /// `type="property"`: a default-scope property.
    Property(String),
    /// `type="soap"`: an XPath over the message.
    Soap(Expr),
}

/// A part of a URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrlFragment {
    Full,
    Protocol,
    User,
    Host,
    Port,
    Path,
    Query,
    Ref,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RewriteActionType {
    Set,
    Append,
    Prepend,
    Replace,
    Remove,
    RemoveQueryParam,
}

/// `<action type fragment value|xpath regex resolve>`.
#[derive(Clone, Debug, PartialEq)]
pub struct RewriteAction {
    pub span: Span,
    pub action: RewriteActionType,
    pub fragment: UrlFragment,
    pub value: Option<Spanned<String>>,
    pub xpath: Option<Expr>,
    /// `type="replace"`: the Java regular expression replaced (every match).
    pub regex: Option<Spanned<String>>,
    /// `{name}` in the result replaced by the default-scope property `name`.
    pub resolve: bool,
}

/// `<script language="js">`: JavaScript, inline or from a local entry / registry key.
#[derive(Clone, Debug, PartialEq)]
pub struct Script {
    /// `language=` as written (`js`, `graalJs`, `nashornJs`, `rhinoJs`).
    pub language: Spanned<String>,
    pub source: ScriptSource,
    /// `function=` (with `key=`; Synapse's default is `mediate`).
    pub function: Option<Spanned<String>>,
    /// `<include key>`: scripts evaluated before the keyed one.
    pub includes: Vec<Spanned<String>>,
    /// `target=` (Micro Integrator 4.4, with `key=`): where the function's return value goes.
    /// `None` without `target=`: the function's `false` stops the mediation, as before 4.4.
    pub target: Option<ScriptTarget>,
    /// `<inputs><argument …/></inputs>` (with `target=`): the function's arguments after `mc`,
    /// in order.
    pub inputs: Vec<ScriptArgument>,
}

/// `<script target=…>`: where the keyed function's return value goes.
#[derive(Clone, Debug, PartialEq)]
pub enum ScriptTarget {
    /// `target="body"`: the value becomes the JSON body.
    Body,
    /// `target="variable" target-variable="name"`.
    Variable(Spanned<String>),
    /// `target="none"`: the value is dropped (and the mediation goes on).
    None,
}

/// `<argument name type value|expression/>` of a script's `<inputs>`.
#[derive(Clone, Debug, PartialEq)]
pub struct ScriptArgument {
    pub name: Spanned<String>,
    /// `type=` (`STRING`, `BOOLEAN`, `INTEGER`, `LONG`, `DOUBLE`, `JSON`, `XML`), as a
    /// `<variable>`'s.
    pub ty: Option<Spanned<String>>,
    /// `value=` (a literal) or `expression=` (`${…}`, XPath or `json-eval`).
    pub value: PropertyValue,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ScriptSource {
    /// The element's text (CDATA or text).
    Inline {
        text: String,
        /// The element's span (where a diagnostic goes when no position is known).
        span: Span,
        /// `(offset in text, byte offset in the file)` where each text or CDATA piece starts,
        /// so a position inside the script maps back to the file.
        anchors: Vec<(u32, u32)>,
    },
    /// `key=`: a local entry or a registry resource holding the script.
    Key(Spanned<String>),
}

/// `<xslt key="…" source="…">`: an XSLT 1.0 transformation of the message (or of the node
/// `source=` selects).
/// The key of a `<sequence key="…"/>`.
#[derive(Clone, Debug, PartialEq)]
pub enum SequenceKey {
    /// A sequence's name.
    Static(Spanned<String>),
    /// `key="{…}"`: a dynamic key, the expression (without its braces) whose text names the
    /// sequence when a message gets there.
    Dynamic(Expr),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Xslt {
    /// `key=`: the local entry or registry resource holding the stylesheet.
    pub key: Spanned<String>,
    /// `key="{…}"`: a dynamic key, the expression (without its braces) whose text is the key
    /// when a message gets there (`key` then holds the attribute as written).
    pub dynamic_key: Option<Expr>,
    /// `source=`: an XPath selecting the element transformed (the first body element when
    /// absent).
    pub source: Option<Expr>,
    /// `<property name value|expression>`: stylesheet parameters.
    pub params: Vec<(Spanned<String>, PropertyValue)>,
    /// `<feature name value>` as written.
    pub features: Vec<(Spanned<String>, bool)>,
    /// `<attribute name value>` as written (transformer factory attributes).
    pub attributes: Vec<Spanned<String>>,
    /// `<resource location key>`.
    pub resources: Vec<(Spanned<String>, Spanned<String>)>,
}

/// A branch a mediator runs: inline mediators, or a named sequence.
#[derive(Clone, Debug, PartialEq)]
pub enum SeqBranch {
    Inline(Vec<Mediator>),
    Key(Spanned<String>),
}

/// `<throttle id>`: admit or refuse a message by its caller's rate (a WS-Policy throttle
/// assertion) and by the messages in flight (`MaximumConcurrentAccess`).
#[derive(Clone, Debug, PartialEq)]
pub struct Throttle {
    /// `id=` (required): the counters' name, shared by `<throttle>`s with the same id.
    pub id: Spanned<String>,
    /// `<policy>` with the policy inline: the `wsp:Policy` element as XML text.
    pub policy: Option<Spanned<String>>,
    /// `<policy key="…"/>`: a local entry or registry key holding the policy.
    pub policy_key: Option<Spanned<String>>,
    /// `<onAccept>` or `onAccept="seq"`.
    pub on_accept: Option<SeqBranch>,
    /// `<onReject>` or `onReject="seq"`.
    pub on_reject: Option<SeqBranch>,
}

/// `<cache>`: answer a request from a stored response (`collector="false"`, in the request
/// flow), or store the response (`collector="true"`, in the response flow).
#[derive(Clone, Debug, PartialEq)]
pub struct Cache {
    pub collector: bool,
    /// `id=` (older form): the name of the cache a collector stores into.
    pub id: Option<Spanned<String>>,
    /// `timeout=` seconds an entry lives (default 5000).
    pub timeout_secs: u64,
    /// `maxMessageSize=` bytes: larger responses are not stored (none: no limit).
    pub max_message_size: Option<u64>,
    /// `hashGenerator=` or `<protocol><hashGenerator>`: a Java class name, as written.
    pub hash_generator: Option<Spanned<String>>,
    /// `<protocol><methods>`: methods whose responses are stored (`*`: all).
    pub methods: Vec<String>,
    /// `<headersToIncludeInHash>`: only these headers go into the hash (empty: all).
    pub headers_to_include: Vec<String>,
    /// `<headersToExcludeInHash>`: these headers stay out of the hash.
    pub headers_to_exclude: Vec<String>,
    /// `<responseCodes>`: a regular expression the status must match to be stored.
    pub response_codes: Option<Spanned<String>>,
    /// `<enableCacheControl>`: honour `no-store`, `no-cache` and `max-age`.
    pub cache_control: bool,
    /// `<includeAgeHeader>`: an `Age` header on answers from the cache.
    pub age_header: bool,
    /// `<implementation maxSize>`: entries kept at most (older form).
    pub max_entries: Option<u64>,
    /// `<onCacheHit>`: inline mediators or `sequence="…"`.
    pub on_cache_hit: Option<SeqBranch>,
    /// Attributes and elements read but without effect in synaptic (`scope`, `implementation type`).
    pub ignored: Vec<Spanned<String>>,
}

// === iterate, clone, aggregate (EIP) ===

/// A branch of `<iterate>` or `<clone>`: `<target sequence="key" endpoint="key">` or an inline
/// `<sequence>` / `<endpoint>` child.
#[derive(Clone, Debug, PartialEq)]
pub struct EipTarget {
    pub span: Span,
    /// `sequence="key"`.
    pub sequence_key: Option<Spanned<String>>,
    /// `endpoint="key"`.
    pub endpoint_key: Option<Spanned<String>>,
    /// An inline `<sequence>`.
    pub sequence: Option<Vec<Mediator>>,
    /// An inline `<endpoint>`.
    pub endpoint: Option<Endpoint>,
    /// `to=`: the address a bare `<send/>` in the branch goes to.
    pub to: Option<Spanned<String>>,
    /// `soapAction=`: the branch message's SOAP action.
    pub soap_action: Option<Spanned<String>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Iterate {
    pub id: Option<Spanned<String>>,
    /// `expression=`: XPath selecting the elements, or `json-eval(…)` selecting a JSON array.
    pub expression: Expr,
    /// `attachPath=` (with `preservePayload="true"`).
    pub attach_path: Option<Expr>,
    pub preserve_payload: bool,
    /// `sequential=` (default false: branches run in parallel).
    pub sequential: bool,
    pub continue_parent: bool,
    pub target: EipTarget,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CloneM {
    pub id: Option<Spanned<String>>,
    pub sequential: bool,
    pub continue_parent: bool,
    pub targets: Vec<EipTarget>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Aggregate {
    pub id: Option<Spanned<String>>,
    /// `<correlateOn expression>`.
    pub correlate: Option<Expr>,
    /// `<completeCondition timeout="seconds">`.
    pub timeout_s: Option<Spanned<String>>,
    /// `<messageCount min max>` as written (`-1` = unset).
    pub min: Option<Spanned<String>>,
    pub max: Option<Spanned<String>>,
    /// `<onComplete expression>` (XPath, or `json-eval(…)`).
    pub expression: Expr,
    /// `enclosingElementProperty=`.
    pub enclosing_property: Option<Spanned<String>>,
    /// `aggregateElementType="root|child"` (JSON aggregation).
    pub element_type: Option<Spanned<String>>,
    /// `sequence="key"` of `<onComplete>`.
    pub sequence_key: Option<Spanned<String>>,
    /// The inline mediators of `<onComplete>`.
    pub on_complete: Vec<Mediator>,
}

// === foreach ===

/// `<foreach>`, in Synapse's form (`expression=`: each element mediated in turn, in the same
/// message, and written back) or Micro Integrator 4.4's (`collection=`: each element in its own
/// copy of the message, the results aggregated into the payload or a variable).
#[derive(Clone, Debug, PartialEq)]
pub struct Foreach {
    pub id: Option<Spanned<String>>,
    /// `expression=` (Synapse's form): an XPath or `json-eval(…)` path.
    pub expression: Option<Expr>,
    /// `collection=` (Micro Integrator 4.4's form): a `${…}` expression.
    pub collection: Option<Expr>,
    /// `sequence="key"`: a named sequence instead of the inline one.
    pub sequence_key: Option<Spanned<String>>,
    /// The inline `<sequence>`.
    pub sequence: Option<Vec<Mediator>>,
    /// `continueLoopOnFailure=` (Synapse's form): a fault in the sequence skips to the next
    /// element instead of failing the flow.
    pub continue_on_failure: bool,
    /// `parallel-execution=` (default true).
    pub parallel: bool,
    /// `continue-without-aggregation=` (default false).
    pub continue_without_aggregation: bool,
    /// `update-original=` (default true).
    pub update_original: bool,
    /// `target-variable=`: where the results go when the original is not updated.
    pub target_variable: Option<Spanned<String>>,
    /// `result-content-type="JSON|XML"`.
    pub result_content_type: Option<Spanned<String>>,
    /// `result-enclosing-element=`: the element enclosing XML results.
    pub result_enclosing_element: Option<Spanned<String>>,
    /// `counter-variable=`: the variable holding the element's index (sequential runs only).
    pub counter_variable: Option<Spanned<String>>,
}

// === scatter-gather ===

/// `<scatter-gather>` (Micro Integrator 4.4): a copy of the message into each `<sequence>`,
/// the results gathered by `<aggregation>` into the body or a variable.
#[derive(Clone, Debug, PartialEq)]
pub struct ScatterGather {
    /// `parallel-execution=` (default true).
    pub parallel: bool,
    /// `target="body|variable"`.
    pub target: Option<Spanned<String>>,
    /// `target-variable=` (with `target="variable"`).
    pub target_variable: Option<Spanned<String>>,
    /// `result-content-type="JSON|XML"`.
    pub result_content_type: Option<Spanned<String>>,
    /// `result-enclosing-element=` (XML results).
    pub result_enclosing_element: Option<Spanned<String>>,
    /// `<aggregation expression>`: what is taken from each copy.
    pub expression: Expr,
    /// `<aggregation condition>`: a copy is gathered only when this reads `true`.
    pub condition: Option<Expr>,
    /// `<aggregation timeout>` (milliseconds), as written.
    pub timeout: Option<Spanned<String>>,
    /// `<aggregation min-messages max-messages>`, as written (`None` when written `{…}`).
    pub min: Option<Spanned<String>>,
    pub max: Option<Spanned<String>>,
    /// `min-messages="{…}"`/`max-messages="{…}"` (Synapse's `ValueFactory`: `{xpath}`,
    /// `{json-eval(…)}` or `{${…}}`): the expression without its braces, read per message.
    pub min_expr: Option<Expr>,
    pub max_expr: Option<Expr>,
    /// The `<sequence>`s, one copy each.
    pub sequences: Vec<Vec<Mediator>>,
}
