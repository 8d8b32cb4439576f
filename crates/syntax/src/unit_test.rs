//! WSO2 Micro Integrator unit-test suites (`<unit-test>` files of a project's `test/` or
//! `src/test/wso2mi/` folder, and the mock-service files they name) → a typed tree with spans.
//!
//! The format is the one the Micro Integrator unit-testing framework reads: `<artifacts>` with
//! the `<test-artifact>` under test, `<supportive-artifacts>`, `<registry-resources>` and
//! `<connector-resources>`; `<test-cases>`, each with an `<input>` (request path and method,
//! payload, properties) and `<assertions>` (`<assertEquals>`, `<assertNotNull>`); and
//! `<mock-services>`, each naming a mock-service file. Artifacts and mock services are file
//! paths relative to the project root. Like the artifact parser this never fails: every
//! mistake is a diagnostic (E0130 structure, E0101 malformed XML) and the tree holds what
//! could be read.

use crate::xml::{self, Element, Node};
use crate::Parse;
use synaptic_diag::suggest::did_you_mean;
use synaptic_diag::{codes, Diagnostic, SourceId, Span, Spanned};

/// A `<unit-test>` suite.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Suite {
    /// The `<test-artifact>`'s `<artifact>` (a path relative to the project root).
    pub test_artifact: Option<Spanned<String>>,
    pub supportive: Vec<Spanned<String>>,
    pub registry: Vec<RegistryResource>,
    /// `<connector-resources>` entries (not run by synaptic; reported).
    pub connectors: Vec<Span>,
    pub cases: Vec<TestCase>,
    /// `<mock-service>` file paths.
    pub mocks: Vec<Spanned<String>>,
}

/// One `<registry-resource>`.
#[derive(Clone, Debug, PartialEq)]
pub struct RegistryResource {
    pub span: Span,
    pub file_name: Spanned<String>,
    /// The resource file (a path relative to the project root).
    pub artifact: Spanned<String>,
    /// `/_system/config/...`, `/_system/governance/...` or `/_system/local/...`.
    pub registry_path: Spanned<String>,
    pub media_type: Option<String>,
}

/// One `<test-case>`.
#[derive(Clone, Debug, PartialEq)]
pub struct TestCase {
    pub span: Span,
    /// The `name` attribute (`test-case-N` when absent).
    pub name: String,
    pub request_path: Option<Spanned<String>>,
    pub request_method: Option<Spanned<String>>,
    pub request_protocol: Option<Spanned<String>>,
    pub payload: Option<String>,
    pub properties: Vec<InputProperty>,
    pub assertions: Vec<Assertion>,
}

/// Where an input property goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PropertyScope {
    Default,
    Axis2,
    Transport,
}

/// One `<property name value scope>` of a test case's input.
#[derive(Clone, Debug, PartialEq)]
pub struct InputProperty {
    pub span: Span,
    pub name: String,
    pub value: String,
    pub scope: PropertyScope,
}

/// `assertEquals` (with its expected value) or `assertNotNull`.
#[derive(Clone, Debug, PartialEq)]
pub enum AssertionKind {
    Equals { expected: String },
    NotNull,
}

/// One assertion: `<actual>` is `$body`, `$statusCode`, `$httpVersion`, `$ctx:name`,
/// `$axis2:name`, `$trp:name` or a `${…}` expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Assertion {
    pub span: Span,
    pub kind: AssertionKind,
    pub actual: Spanned<String>,
    pub message: String,
}

/// A `<mock-service>` file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MockService {
    /// The name of the endpoint it replaces.
    pub service_name: Option<Spanned<String>>,
    /// The port it names (synaptic starts mock services on ephemeral ports instead).
    pub port: Option<Spanned<String>>,
    pub context: Option<Spanned<String>>,
    pub resources: Vec<MockResource>,
}

/// One `<resource>` of a mock service.
#[derive(Clone, Debug, PartialEq)]
pub struct MockResource {
    pub span: Span,
    /// Path below the context, with an optional query (`/orders?id=1`).
    pub sub_context: String,
    /// `GET` when absent.
    pub method: String,
    pub request_payload: Option<String>,
    pub request_headers: Vec<(String, String)>,
    /// 200 when absent.
    pub status: u16,
    pub response_payload: String,
    pub response_headers: Vec<(String, String)>,
}

/// Whether `text` is a unit-test suite (its root element is `<unit-test>`), without building
/// the tree.
pub fn is_suite(text: &str) -> bool {
    root_name(text).as_deref() == Some("unit-test")
}

/// The local name of the root element, read with a small scan (declarations, comments and
/// processing instructions skipped).
pub fn root_name(text: &str) -> Option<String> {
    let mut rest = text.trim_start_matches('\u{feff}');
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("<?") {
            rest = &r[r.find("?>")? + 2..];
        } else if let Some(r) = rest.strip_prefix("<!--") {
            rest = &r[r.find("-->")? + 3..];
        } else if let Some(r) = rest.strip_prefix("<!") {
            rest = &r[r.find('>')? + 1..];
        } else if let Some(r) = rest.strip_prefix('<') {
            let end = r
                .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
                .unwrap_or(r.len());
            let qname = &r[..end];
            return Some(qname.rsplit(':').next().unwrap_or(qname).to_string());
        } else {
            return None;
        }
    }
}

/// Parse a `<unit-test>` suite.
pub fn parse_suite(source: SourceId, text: &str) -> Parse<Suite> {
    let (doc, mut diags) = xml::read(source, text);
    let mut suite = Suite::default();
    let mut cx = Cx { diags: &mut diags };
    match &doc.root {
        Some(root) if root.local() == "unit-test" || root.local() == "synapse-unit-test" => {
            cx.suite(root, &mut suite)
        }
        Some(root) => cx.err(
            root.name_span,
            format!(
                "a unit-test suite's root element is <unit-test>, not <{}>",
                root.local()
            ),
        ),
        None => {}
    }
    synaptic_diag::sort(&mut diags);
    Parse {
        tree: suite,
        diagnostics: diags,
    }
}

/// Parse a `<mock-service>` file.
pub fn parse_mock_service(source: SourceId, text: &str) -> Parse<MockService> {
    let (doc, mut diags) = xml::read(source, text);
    let mut mock = MockService::default();
    let mut cx = Cx { diags: &mut diags };
    match &doc.root {
        Some(root) if root.local() == "mock-service" => cx.mock(root, &mut mock),
        Some(root) => cx.err(
            root.name_span,
            format!(
                "a mock-service file's root element is <mock-service>, not <{}>",
                root.local()
            ),
        ),
        None => {}
    }
    synaptic_diag::sort(&mut diags);
    Parse {
        tree: mock,
        diagnostics: diags,
    }
}

struct Cx<'d> {
    diags: &'d mut Vec<Diagnostic>,
}

/// The text of an element: its text and CDATA children, concatenated (entities resolved).
fn text_of(el: &Element<'_>) -> String {
    let mut s = String::new();
    for c in &el.children {
        if let Node::Text { text, .. } = c {
            s.push_str(text);
        }
    }
    s
}

fn spanned_text(el: &Element<'_>) -> Spanned<String> {
    Spanned::new(text_of(el).trim().to_string(), el.span)
}

impl Cx<'_> {
    fn err(&mut self, span: Span, msg: impl Into<String>) {
        self.diags
            .push(Diagnostic::error(codes::E0130, span, msg.into()));
    }

    /// Report children not in `known`; returns the known ones.
    fn children<'e, 'a>(&mut self, el: &'e Element<'a>, known: &[&str]) -> Vec<&'e Element<'a>> {
        let mut out = Vec::new();
        for c in el.elements() {
            if known.contains(&c.local()) {
                out.push(c);
            } else {
                self.err(
                    c.name_span,
                    format!(
                        "unknown element <{}> in <{}>{}",
                        c.local(),
                        el.local(),
                        did_you_mean(c.local(), known)
                    ),
                );
            }
        }
        out
    }

    fn first<'e, 'a>(&mut self, kids: &[&'e Element<'a>], name: &str) -> Option<&'e Element<'a>> {
        let mut found = None;
        for k in kids.iter().filter(|k| k.local() == name) {
            if found.is_some() {
                self.err(k.name_span, format!("<{name}> given twice"));
            } else {
                found = Some(*k);
            }
        }
        found
    }

    fn required<'e, 'a>(
        &mut self,
        parent: &Element<'a>,
        kids: &[&'e Element<'a>],
        name: &str,
    ) -> Option<&'e Element<'a>> {
        let found = self.first(kids, name);
        if found.is_none() {
            self.err(
                parent.name_span,
                format!("<{}> needs a <{name}>", parent.local()),
            );
        }
        found
    }

    fn suite(&mut self, root: &Element<'_>, suite: &mut Suite) {
        let kids = self.children(root, &["artifacts", "test-cases", "mock-services"]);
        if let Some(arts) = self.required(root, &kids, "artifacts") {
            self.artifacts(arts, suite);
        }
        if let Some(cases) = self.first(&kids, "test-cases") {
            let mut n = 0;
            for c in self.children(cases, &["test-case"]) {
                n += 1;
                if let Some(tc) = self.case(c, n) {
                    suite.cases.push(tc);
                }
            }
        }
        if let Some(mocks) = self.first(&kids, "mock-services") {
            for m in self.children(mocks, &["mock-service"]) {
                if m.elements().next().is_some() {
                    self.err(
                        m.name_span,
                        "an inline <mock-service> is not read: name its file (a path relative to the project)",
                    );
                    continue;
                }
                let t = spanned_text(m);
                if t.value.is_empty() {
                    self.err(m.name_span, "<mock-service> names no file");
                } else {
                    suite.mocks.push(t);
                }
            }
        }
    }

    fn artifact_path(&mut self, el: &Element<'_>) -> Option<Spanned<String>> {
        if el.elements().next().is_some() {
            self.err(
                el.name_span,
                "an inline artifact is not read: name its file (a path relative to the project)",
            );
            return None;
        }
        let t = spanned_text(el);
        if t.value.is_empty() {
            self.err(el.name_span, "<artifact> names no file");
            return None;
        }
        Some(t)
    }

    fn artifacts(&mut self, el: &Element<'_>, suite: &mut Suite) {
        let kids = self.children(
            el,
            &[
                "test-artifact",
                "supportive-artifacts",
                "registry-resources",
                "connector-resources",
            ],
        );
        if let Some(t) = self.required(el, &kids, "test-artifact") {
            let k = self.children(t, &["artifact"]);
            if let Some(a) = self.required(t, &k, "artifact") {
                suite.test_artifact = self.artifact_path(a);
            }
        }
        if let Some(s) = self.first(&kids, "supportive-artifacts") {
            for a in self.children(s, &["artifact"]) {
                if let Some(p) = self.artifact_path(a) {
                    suite.supportive.push(p);
                }
            }
        }
        if let Some(r) = self.first(&kids, "registry-resources") {
            for res in self.children(r, &["registry-resource"]) {
                let k = self.children(
                    res,
                    &["file-name", "artifact", "registry-path", "media-type"],
                );
                let name = self.required(res, &k, "file-name").map(spanned_text);
                let art = self
                    .required(res, &k, "artifact")
                    .and_then(|a| self.artifact_path(a));
                let path = self.required(res, &k, "registry-path").map(spanned_text);
                let media = self
                    .first(&k, "media-type")
                    .map(|m| text_of(m).trim().into());
                if let (Some(file_name), Some(artifact), Some(registry_path)) = (name, art, path) {
                    suite.registry.push(RegistryResource {
                        span: res.span,
                        file_name,
                        artifact,
                        registry_path,
                        media_type: media,
                    });
                }
            }
        }
        if let Some(c) = self.first(&kids, "connector-resources") {
            for r in c.elements() {
                suite.connectors.push(r.span);
            }
        }
    }

    fn case(&mut self, el: &Element<'_>, n: usize) -> Option<TestCase> {
        let name = el
            .attr("name")
            .map(|a| a.value.to_string())
            .unwrap_or_else(|| format!("test-case-{n}"));
        for a in &el.attrs {
            if a.qname != "name" && !a.is_xmlns() {
                self.err(
                    a.name_span,
                    format!("unknown attribute `{}` on <test-case>", a.qname),
                );
            }
        }
        let mut tc = TestCase {
            span: el.span,
            name,
            request_path: None,
            request_method: None,
            request_protocol: None,
            payload: None,
            properties: Vec::new(),
            assertions: Vec::new(),
        };
        let kids = self.children(el, &["input", "assertions"]);
        if let Some(input) = self.first(&kids, "input") {
            let k = self.children(
                input,
                &[
                    "request-path",
                    "request-method",
                    "request-protocol",
                    "payload",
                    "properties",
                ],
            );
            tc.request_path = self.first(&k, "request-path").map(spanned_text);
            tc.request_method = self.first(&k, "request-method").map(spanned_text);
            tc.request_protocol = self.first(&k, "request-protocol").map(spanned_text);
            tc.payload = self.first(&k, "payload").map(text_of);
            if let Some(props) = self.first(&k, "properties") {
                for p in self.children(props, &["property"]) {
                    let get = |n: &str| p.attr(n).map(|a| a.value.to_string());
                    let Some(name) = get("name") else {
                        self.err(p.name_span, "<property> needs a `name`");
                        continue;
                    };
                    let scope = match get("scope").as_deref() {
                        None | Some("default") => PropertyScope::Default,
                        Some("axis2") => PropertyScope::Axis2,
                        Some("transport") => PropertyScope::Transport,
                        Some(other) => {
                            let at = p.attr("scope").map_or(p.name_span, |a| a.value_span);
                            self.err(
                                at,
                                format!(
                                    "unknown property scope `{other}` (default, axis2 or transport){}",
                                    did_you_mean(other, &["default", "axis2", "transport"])
                                ),
                            );
                            continue;
                        }
                    };
                    tc.properties.push(InputProperty {
                        span: p.span,
                        name,
                        value: get("value").unwrap_or_default(),
                        scope,
                    });
                }
            }
        }
        match self.first(&kids, "assertions") {
            Some(asserts) => {
                for a in self.children(asserts, &["assertEquals", "assertNotNull"]) {
                    let equals = a.local() == "assertEquals";
                    let k = if equals {
                        self.children(a, &["actual", "expected", "message"])
                    } else {
                        self.children(a, &["actual", "message"])
                    };
                    let actual = self.required(a, &k, "actual").map(spanned_text);
                    let message = self
                        .first(&k, "message")
                        .map(|m| text_of(m).trim().to_string())
                        .unwrap_or_default();
                    let kind = if equals {
                        match self.required(a, &k, "expected") {
                            Some(e) => AssertionKind::Equals {
                                expected: text_of(e),
                            },
                            None => continue,
                        }
                    } else {
                        AssertionKind::NotNull
                    };
                    let Some(actual) = actual else { continue };
                    if !valid_actual(&actual.value) {
                        self.err(
                            actual.span,
                            format!(
                                "`{}` is not an assertion target ($body, $statusCode, $httpVersion, $ctx:NAME, $axis2:NAME, $trp:NAME or ${{…}})",
                                actual.value
                            ),
                        );
                        continue;
                    }
                    tc.assertions.push(Assertion {
                        span: a.span,
                        kind,
                        actual,
                        message,
                    });
                }
            }
            None => self.err(el.name_span, "<test-case> needs <assertions>"),
        }
        Some(tc)
    }

    fn mock(&mut self, el: &Element<'_>, mock: &mut MockService) {
        let kids = self.children(el, &["service-name", "port", "context", "resources"]);
        mock.service_name = self.required(el, &kids, "service-name").map(spanned_text);
        mock.port = self.first(&kids, "port").map(spanned_text);
        mock.context = self.required(el, &kids, "context").map(spanned_text);
        let Some(resources) = self.required(el, &kids, "resources") else {
            return;
        };
        for r in self.children(resources, &["resource"]) {
            let k = self.children(r, &["sub-context", "method", "request", "response"]);
            let sub = self
                .first(&k, "sub-context")
                .map(|s| text_of(s).trim().to_string())
                .unwrap_or_default();
            let method = match self.first(&k, "method") {
                Some(m) => {
                    let t = text_of(m).trim().to_ascii_uppercase();
                    if http_method(&t) {
                        t
                    } else {
                        self.err(m.span, format!("`{t}` is not an HTTP method"));
                        continue;
                    }
                }
                None => "GET".to_string(),
            };
            let mut res = MockResource {
                span: r.span,
                sub_context: sub,
                method,
                request_payload: None,
                request_headers: Vec::new(),
                status: 200,
                response_payload: String::new(),
                response_headers: Vec::new(),
            };
            if let Some(req) = self.first(&k, "request") {
                let rk = self.children(req, &["payload", "headers"]);
                res.request_payload = self.first(&rk, "payload").map(text_of);
                if let Some(h) = self.first(&rk, "headers") {
                    res.request_headers = self.headers(h);
                }
            }
            if let Some(resp) = self.first(&k, "response") {
                let rk = self.children(resp, &["status-code", "payload", "headers"]);
                if let Some(sc) = self.first(&rk, "status-code") {
                    let t = text_of(sc);
                    match t.trim().parse::<u16>() {
                        Ok(s) if (100..=599).contains(&s) => res.status = s,
                        _ => self.err(
                            sc.span,
                            format!("`{}` is not an HTTP status code", t.trim()),
                        ),
                    }
                }
                res.response_payload = self.first(&rk, "payload").map(text_of).unwrap_or_default();
                if let Some(h) = self.first(&rk, "headers") {
                    res.response_headers = self.headers(h);
                }
            }
            mock.resources.push(res);
        }
    }

    fn headers(&mut self, el: &Element<'_>) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for h in self.children(el, &["header"]) {
            match (h.attr("name"), h.attr("value")) {
                (Some(n), Some(v)) => out.push((n.value.to_string(), v.value.to_string())),
                _ => self.err(h.name_span, "<header> needs `name` and `value`"),
            }
        }
        out
    }
}

fn http_method(m: &str) -> bool {
    matches!(
        m,
        "GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "HEAD" | "OPTIONS"
    )
}

fn valid_actual(a: &str) -> bool {
    matches!(a, "$body" | "$statusCode" | "$httpVersion")
        || a.strip_prefix("$ctx:").is_some_and(|n| !n.is_empty())
        || a.strip_prefix("$axis2:").is_some_and(|n| !n.is_empty())
        || a.strip_prefix("$trp:").is_some_and(|n| !n.is_empty())
        || (a.starts_with("${") && a.ends_with('}'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_suite_with_every_part() {
        let text = r#"<unit-test>
  <artifacts>
    <test-artifact><artifact>src/main/wso2mi/artifacts/apis/A.xml</artifact></test-artifact>
    <supportive-artifacts><artifact>src/main/wso2mi/artifacts/endpoints/E.xml</artifact></supportive-artifacts>
    <registry-resources>
      <registry-resource>
        <file-name>t.xsl</file-name>
        <artifact>src/main/wso2mi/resources/t.xsl</artifact>
        <registry-path>/_system/config/xsl</registry-path>
        <media-type>application/xml</media-type>
      </registry-resource>
    </registry-resources>
    <connector-resources></connector-resources>
  </artifacts>
  <test-cases>
    <test-case name="one">
      <input>
        <request-path>/x?a=1</request-path>
        <request-method>POST</request-method>
        <payload><![CDATA[{"a":1}]]></payload>
        <properties><property name="Content-Type" scope="transport" value="application/json"/></properties>
      </input>
      <assertions>
        <assertEquals><actual>$body</actual><expected>&lt;a/&gt;</expected><message>m</message></assertEquals>
        <assertNotNull><actual>$trp:X</actual><message>n</message></assertNotNull>
      </assertions>
    </test-case>
    <test-case><assertions/></test-case>
  </test-cases>
  <mock-services><mock-service>src/test/resources/mock-services/M.xml</mock-service></mock-services>
</unit-test>"#;
        let p = parse_suite(SourceId(0), text);
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        let s = p.tree;
        assert_eq!(
            s.test_artifact.unwrap().value,
            "src/main/wso2mi/artifacts/apis/A.xml"
        );
        assert_eq!(s.supportive.len(), 1);
        assert_eq!(s.registry[0].registry_path.value, "/_system/config/xsl");
        assert_eq!(s.cases.len(), 2);
        assert_eq!(s.cases[1].name, "test-case-2");
        let c = &s.cases[0];
        assert_eq!(c.payload.as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(c.properties[0].scope, PropertyScope::Transport);
        assert_eq!(
            c.assertions[0].kind,
            AssertionKind::Equals {
                expected: "<a/>".into()
            }
        );
        assert_eq!(c.assertions[1].actual.value, "$trp:X");
        assert_eq!(s.mocks[0].value, "src/test/resources/mock-services/M.xml");
        assert!(is_suite(text));
        assert!(!is_suite("<?xml version=\"1.0\"?><!-- c --><api/>"));
    }

    #[test]
    fn mistakes_are_diagnostics_with_positions() {
        let text = "<unit-test>\n  <artifacts/>\n  <test-cases><test-case><assertions><assertEqual/><assertEquals><actual>$foo</actual><expected>1</expected></assertEquals></assertions></test-case></test-cases>\n</unit-test>";
        let p = parse_suite(SourceId(0), text);
        let msgs: Vec<_> = p.diagnostics.iter().map(|d| d.message.as_str()).collect();
        assert!(
            msgs.iter().any(|m| m.contains("needs a <test-artifact>")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.contains("<assertEqual>") && m.contains("assertEquals")),
            "{msgs:?}"
        );
        assert!(msgs.iter().any(|m| m.contains("`$foo`")), "{msgs:?}");
        assert!(p.diagnostics.iter().all(|d| d.code == codes::E0130));
        let wrong = parse_suite(SourceId(0), "<api/>");
        assert_eq!(wrong.diagnostics.len(), 1);
        let broken = parse_suite(SourceId(0), "<unit-test><artifacts>");
        assert!(broken.diagnostics.iter().any(|d| d.code == codes::E0101));
    }

    #[test]
    fn reads_a_mock_service() {
        let text = r#"<mock-service>
  <service-name>EP</service-name><port>9090</port><context>/svc</context>
  <resources>
    <resource><sub-context>/a?x=1&amp;y=2</sub-context><method>post</method>
      <request><payload>{"q":1}</payload><headers><header name="X" value="1"/></headers></request>
      <response><status-code>201</status-code><payload><![CDATA[<ok/>]]></payload>
        <headers><header name="Content-Type" value="application/xml"/></headers></response>
    </resource>
    <resource><sub-context>/b</sub-context></resource>
  </resources>
</mock-service>"#;
        let p = parse_mock_service(SourceId(0), text);
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        let m = p.tree;
        assert_eq!(m.service_name.unwrap().value, "EP");
        assert_eq!(m.resources[0].sub_context, "/a?x=1&y=2");
        assert_eq!(m.resources[0].method, "POST");
        assert_eq!(m.resources[0].status, 201);
        assert_eq!(m.resources[0].response_payload, "<ok/>");
        assert_eq!(m.resources[1].method, "GET");
        assert_eq!(m.resources[1].status, 200);
        let bad = parse_mock_service(
            SourceId(0),
            "<mock-service><service-name>E</service-name><context>/</context><resources><resource><method>FETCH</method></resource><resource><response><status-code>abc</status-code></response></resource></resources></mock-service>",
        );
        assert_eq!(bad.diagnostics.len(), 2, "{:?}", bad.diagnostics);
    }
}
