//! The WSDL Axis2 generates for a proxy service that publishes none (no `<publishWSDL>`),
//! answered to `GET /services/{name}?wsdl` (WSDL 1.1) and `?wsdl2` (WSDL 2.0).
//!
//! Synapse's `ProxyService.buildAxisService` gives such a proxy one in-out operation,
//! `mediate`, whose messages are named `in` and `out` and carry no element; Axis2 names the
//! operation's SOAP action `urn:mediate` and its output action `urn:mediateResponse`, gives the
//! service its default target namespace (`http://ws.apache.org/axis2`, prefix `tns`) and, when
//! the service is deployed, one endpoint per transport and binding: `{name}HttpSoap11Endpoint`
//! (binding `{name}Soap11Binding`), `{name}HttpSoap12Endpoint` (`{name}Soap12Binding`) and
//! `{name}HttpEndpoint` (`{name}HttpBinding`, an HTTP `POST` binding), the same with `Https`
//! for HTTPS. `AxisService2WSDL11` prints them: the port type `{name}PortType`, the bindings
//! (document/literal), and a service whose ports are the endpoints of the transports the proxy
//! is exposed on, each at `{scheme}://{host}:{port}/services/{name}.{endpoint}`.
//!
//! The proxy's parameters Axis2 reads for it are honoured: `disableSOAP11`, `disableSOAP12`
//! and `disableREST` (`true`, `yes` or `1`: the binding and its ports are left out),
//! `portTypeName`, `soap11BindingName`, `soap12BindingName` and `restBindingName` (the names).

use synaptic_payload::xml::{escape_attr_into, escape_text_into};
use synaptic_syntax::ast;

/// The target namespace Axis2 gives a service built without a WSDL.
pub const AXIS2_NAMESPACE: &str = "http://ws.apache.org/axis2";

/// What Axis2 prints for a proxy service without a published WSDL: its names, bindings and
/// transports, fixed when the proxy is compiled; the addresses come with each request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedWsdl {
    /// The service (the proxy's name).
    pub name: String,
    /// `<description>`: the WSDL's documentation.
    pub description: Option<String>,
    /// `{name}PortType`, or `portTypeName`.
    pub port_type: String,
    /// The SOAP 1.1 binding's name (`None`: `disableSOAP11`).
    pub soap11: Option<String>,
    /// The SOAP 1.2 binding's name (`None`: `disableSOAP12`).
    pub soap12: Option<String>,
    /// The HTTP binding's name (`None`: `disableREST`).
    pub http: Option<String>,
    /// The proxy is exposed over HTTP (its `transports` name `http`, or none of the two).
    pub over_http: bool,
    /// The proxy is exposed over HTTPS (its `transports` name `https`, or none of the two).
    pub over_https: bool,
}

/// Where the gateway is reached, as a request sees it: the authority (`host` or `host:port`)
/// of its HTTP and HTTPS listeners (`None`: not served).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listeners {
    pub http: Option<String>,
    pub https: Option<String>,
}

/// Whether Axis2 takes a parameter's value as true (`JavaUtils.isTrueExplicitly`).
pub(crate) fn is_true(value: &str) -> bool {
    let v = value.trim();
    v.eq_ignore_ascii_case("true") || v == "1" || v.eq_ignore_ascii_case("yes")
}

/// The value of `p`'s parameter `name` (the last one written, as Axis2 keeps it).
pub(crate) fn parameter<'p>(p: &'p ast::Proxy, name: &str) -> Option<&'p str> {
    p.parameters
        .iter()
        .rev()
        .find(|x| x.name.value == name)
        .map(|x| x.value.as_str())
}

impl GeneratedWsdl {
    /// What Axis2 generates for the proxy `p`.
    pub fn of(p: &ast::Proxy) -> GeneratedWsdl {
        let name = p.name.value.clone();
        let flag = |n: &str| parameter(p, n).is_some_and(is_true);
        let named = |n: &str, default: String| match parameter(p, n) {
            Some(v) if !v.is_empty() => v.to_string(),
            _ => default,
        };
        let (mut over_http, mut over_https) = (false, false);
        if let Some(t) = &p.transports {
            for x in t.value.split([' ', ',']).map(str::trim) {
                match x {
                    "http" => over_http = true,
                    "https" => over_https = true,
                    "all" => (over_http, over_https) = (true, true),
                    _ => {}
                }
            }
        }
        if !over_http && !over_https {
            // no transports, or none synaptic serves (W0342): served over both
            (over_http, over_https) = (true, true);
        }
        GeneratedWsdl {
            description: p.description.clone().filter(|d| !d.is_empty()),
            port_type: named("portTypeName", format!("{name}PortType")),
            soap11: (!flag("disableSOAP11"))
                .then(|| named("soap11BindingName", format!("{name}Soap11Binding"))),
            soap12: (!flag("disableSOAP12"))
                .then(|| named("soap12BindingName", format!("{name}Soap12Binding"))),
            http: (!flag("disableREST"))
                .then(|| named("restBindingName", format!("{name}HttpBinding"))),
            over_http,
            over_https,
            name,
        }
    }

    /// The names of the service's endpoints (`{name}HttpSoap11Endpoint`, …) for the transports
    /// it is exposed on: Axis2 also dispatches `/services/{name}.{endpoint}` to the service.
    pub fn endpoint_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (binding, suffix) in [
            (&self.soap11, "Soap11"),
            (&self.soap12, "Soap12"),
            (&self.http, ""),
        ] {
            if binding.is_none() {
                continue;
            }
            for (on, protocol) in [(self.over_http, "Http"), (self.over_https, "Https")] {
                if on {
                    out.push(format!("{}{protocol}{suffix}Endpoint", self.name));
                }
            }
        }
        out
    }

    /// The transports the ports are printed for: each exposed one the gateway serves, with
    /// its scheme, Axis2's protocol name and where it is reached.
    fn transports<'l>(&self, at: &'l Listeners) -> Vec<(&'static str, &'static str, &'l str)> {
        let mut out = Vec::new();
        if let (true, Some(a)) = (self.over_http, &at.http) {
            out.push(("http", "Http", a.as_str()));
        }
        if let (true, Some(a)) = (self.over_https, &at.https) {
            out.push(("https", "Https", a.as_str()));
        }
        out
    }

    /// The WSDL 1.1 document, its ports at the addresses of `at`.
    pub fn wsdl11(&self, at: &Listeners) -> String {
        let mut w = Xml(String::with_capacity(4096));
        let tns = AXIS2_NAMESPACE;
        w.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        w.raw("<wsdl:definitions xmlns:wsdl=\"http://schemas.xmlsoap.org/wsdl/\"");
        w.raw(" xmlns:soap=\"http://schemas.xmlsoap.org/wsdl/soap/\"");
        w.raw(" xmlns:soap12=\"http://schemas.xmlsoap.org/wsdl/soap12/\"");
        w.raw(" xmlns:http=\"http://schemas.xmlsoap.org/wsdl/http/\"");
        w.raw(" xmlns:mime=\"http://schemas.xmlsoap.org/wsdl/mime/\"");
        w.raw(" xmlns:wsaw=\"http://www.w3.org/2006/05/addressing/wsdl\"");
        w.raw(&format!(
            " xmlns:tns=\"{tns}\" targetNamespace=\"{tns}\">\n"
        ));
        if let Some(d) = &self.description {
            w.raw("  <wsdl:documentation>");
            w.text(d);
            w.raw("</wsdl:documentation>\n");
        }
        w.raw("  <wsdl:types/>\n");
        w.raw("  <wsdl:message name=\"in\"/>\n");
        w.raw("  <wsdl:message name=\"out\"/>\n");
        w.open("  <wsdl:portType", &[("name", &self.port_type)]);
        w.raw("    <wsdl:operation name=\"mediate\">\n");
        w.raw("      <wsdl:input message=\"tns:in\" wsaw:Action=\"urn:mediate\"/>\n");
        w.raw("      <wsdl:output message=\"tns:out\" wsaw:Action=\"urn:mediateResponse\"/>\n");
        w.raw("    </wsdl:operation>\n");
        w.raw("  </wsdl:portType>\n");
        let transports = self.transports(at);
        let used = !transports.is_empty();
        let type_ = format!("tns:{}", self.port_type);
        // a binding is printed with its first port, as AxisService2WSDL11 prints them
        for (binding, soap) in [(&self.soap11, "soap"), (&self.soap12, "soap12")] {
            let Some(b) = binding.as_ref().filter(|_| used) else {
                continue;
            };
            w.open("  <wsdl:binding", &[("name", b), ("type", &type_)]);
            w.raw(&format!(
                "    <{soap}:binding transport=\"http://schemas.xmlsoap.org/soap/http\" \
                 style=\"document\"/>\n"
            ));
            w.raw("    <wsdl:operation name=\"mediate\">\n");
            w.raw(&format!(
                "      <{soap}:operation soapAction=\"urn:mediate\" style=\"document\"/>\n"
            ));
            for d in ["input", "output"] {
                w.raw(&format!(
                    "      <wsdl:{d}>\n        <{soap}:body use=\"literal\"/>\n      </wsdl:{d}>\n"
                ));
            }
            w.raw("    </wsdl:operation>\n");
            w.raw("  </wsdl:binding>\n");
        }
        if let Some(b) = self.http.as_ref().filter(|_| used) {
            w.open("  <wsdl:binding", &[("name", b), ("type", &type_)]);
            w.raw("    <http:binding verb=\"POST\"/>\n");
            w.raw("    <wsdl:operation name=\"mediate\">\n");
            w.raw("      <http:operation location=\"mediate\"/>\n");
            for d in ["input", "output"] {
                w.raw(&format!(
                    "      <wsdl:{d}>\n        <mime:content type=\"text/xml\" \
                     part=\"parameters\"/>\n      </wsdl:{d}>\n"
                ));
            }
            w.raw("    </wsdl:operation>\n");
            w.raw("  </wsdl:binding>\n");
        }
        w.open("  <wsdl:service", &[("name", &self.name)]);
        for (port, binding, kind, location) in self.ports(at) {
            let address = match kind {
                "Soap11" => "soap:address",
                "Soap12" => "soap12:address",
                _ => "http:address",
            };
            w.open(
                "    <wsdl:port",
                &[("name", &port), ("binding", &format!("tns:{binding}"))],
            );
            w.empty(&format!("      <{address}"), &[("location", &location)]);
            w.raw("    </wsdl:port>\n");
        }
        w.raw("  </wsdl:service>\n");
        w.raw("</wsdl:definitions>\n");
        w.0
    }
}

impl GeneratedWsdl {
    /// The ports printed at `at`: for each binding kept and each transport reached, the
    /// endpoint's name, its binding's name, the binding's kind and its address.
    fn ports<'g>(&'g self, at: &Listeners) -> Vec<(String, &'g str, &'static str, String)> {
        let transports = self.transports(at);
        let kinds = [
            (&self.soap11, "Soap11"),
            (&self.soap12, "Soap12"),
            (&self.http, ""),
        ];
        let mut out = Vec::new();
        for (binding, suffix) in kinds {
            let Some(b) = binding else { continue };
            for (scheme, protocol, authority) in &transports {
                let port = format!("{}{protocol}{suffix}Endpoint", self.name);
                let location = format!("{scheme}://{authority}/services/{}.{port}", self.name);
                out.push((port, b.as_str(), suffix, location));
            }
        }
        out
    }

    /// The WSDL 2.0 document `AxisService2WSDL20` prints (`?wsdl2`), its endpoints at the
    /// addresses of `at`: the interface `ServiceInterface` with the in-out operation `mediate`
    /// (its messages carry no element: `#none`), a SOAP 1.1, SOAP 1.2 and HTTP binding of it
    /// (as the parameters keep them), and an endpoint per binding and transport.
    pub fn wsdl20(&self, at: &Listeners) -> String {
        let mut w = Xml(String::with_capacity(4096));
        let tns = AXIS2_NAMESPACE;
        w.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        w.raw("<wsdl2:description xmlns:wsdl2=\"http://www.w3.org/ns/wsdl\"");
        w.raw(&format!(" xmlns:tns=\"{tns}\""));
        w.raw(" xmlns:wsaw=\"http://www.w3.org/2006/05/addressing/wsdl\"");
        w.raw(" xmlns:wsoap=\"http://www.w3.org/ns/wsdl/soap\"");
        w.raw(" xmlns:whttp=\"http://www.w3.org/ns/wsdl/http\"");
        w.raw(" xmlns:wsdlx=\"http://www.w3.org/ns/wsdl-extensions\"");
        w.raw(" xmlns:wrpc=\"http://www.w3.org/ns/wsdl/rpc\"");
        w.raw(&format!(" targetNamespace=\"{tns}\">\n"));
        if let Some(d) = &self.description {
            w.raw("  <wsdl2:documentation>");
            w.text(d);
            w.raw("</wsdl2:documentation>\n");
        }
        w.raw("  <wsdl2:types/>\n");
        w.raw("  <wsdl2:interface name=\"ServiceInterface\">\n");
        w.raw(
            "    <wsdl2:operation name=\"mediate\" pattern=\"http://www.w3.org/ns/wsdl/in-out\">\n",
        );
        w.raw("      <wsdl2:input element=\"#none\" wsaw:Action=\"urn:mediate\"/>\n");
        w.raw("      <wsdl2:output element=\"#none\" wsaw:Action=\"urn:mediateResponse\"/>\n");
        w.raw("    </wsdl2:operation>\n");
        w.raw("  </wsdl2:interface>\n");
        let ports = self.ports(at);
        let used = |b: &&String| ports.iter().any(|p| p.1 == b.as_str());
        let io = "      <wsdl2:input/>\n      <wsdl2:output/>\n    </wsdl2:operation>\n";
        for (binding, version) in [(&self.soap11, "1.1"), (&self.soap12, "1.2")] {
            let Some(b) = binding.as_ref().filter(used) else {
                continue;
            };
            w.open(
                "  <wsdl2:binding",
                &[
                    ("name", b),
                    ("interface", "tns:ServiceInterface"),
                    ("type", "http://www.w3.org/ns/wsdl/soap"),
                    ("wsoap:version", version),
                ],
            );
            w.raw("    <wsdl2:operation ref=\"tns:mediate\" wsoap:action=\"urn:mediate\">\n");
            w.raw(io);
            w.raw("  </wsdl2:binding>\n");
        }
        if let Some(b) = self.http.as_ref().filter(used) {
            w.open(
                "  <wsdl2:binding",
                &[
                    ("name", b),
                    ("interface", "tns:ServiceInterface"),
                    ("whttp:methodDefault", "POST"),
                    ("type", "http://www.w3.org/ns/wsdl/http"),
                ],
            );
            w.raw("    <wsdl2:operation ref=\"tns:mediate\" whttp:location=\"mediate\">\n");
            w.raw(io);
            w.raw("  </wsdl2:binding>\n");
        }
        w.open(
            "  <wsdl2:service",
            &[("name", &self.name), ("interface", "tns:ServiceInterface")],
        );
        for (port, binding, _, location) in &ports {
            w.empty(
                "    <wsdl2:endpoint",
                &[
                    ("name", port),
                    ("binding", &format!("tns:{binding}")),
                    ("address", location),
                ],
            );
        }
        w.raw("  </wsdl2:service>\n");
        w.raw("</wsdl2:description>\n");
        w.0
    }
}

/// A document written as text, values escaped.
struct Xml(String);

impl Xml {
    fn raw(&mut self, s: &str) {
        self.0.push_str(s);
    }
    fn text(&mut self, s: &str) {
        escape_text_into(&mut self.0, s);
    }
    fn attrs(&mut self, attrs: &[(&str, &str)]) {
        for (n, v) in attrs {
            self.0.push(' ');
            self.0.push_str(n);
            self.0.push_str("=\"");
            escape_attr_into(&mut self.0, v);
            self.0.push('"');
        }
    }
    /// `start` (an indented tag name) with `attrs`, left open, and a line break.
    fn open(&mut self, start: &str, attrs: &[(&str, &str)]) {
        self.0.push_str(start);
        self.attrs(attrs);
        self.0.push_str(">\n");
    }
    /// `start` with `attrs`, closed, and a line break.
    fn empty(&mut self, start: &str, attrs: &[(&str, &str)]) {
        self.0.push_str(start);
        self.attrs(attrs);
        self.0.push_str("/>\n");
    }
}
