//! WSDL 1.1 documents of `<endpoint><wsdl …/></endpoint>`: the address of a named port of a
//! named service, and the message format its address element asks for — as Synapse's
//! `WSDL11EndpointBuilder` reads them (`soap:address` → SOAP 1.1, `soap12:address` → SOAP 1.2,
//! `http:address` → REST, or a GET when the port's `http:binding` says `verb="GET"`).
//! WSDL 2.0 descriptions are refused, as Synapse refuses them.
//!
//! The `<wsdl:import location>`s of a document are followed as WSDL4J follows them for Synapse:
//! every imported document is read (through the caller, which does the I/O), a service is looked
//! up in the document the endpoint names and in the imported documents of the same target
//! namespace, and a port's binding wherever it is defined. A document imported twice, or again
//! through a cycle, is read once. Imports nest at most [`MAX_IMPORT_DEPTH`] deep, at most
//! [`MAX_IMPORTED`] documents and [`MAX_TOTAL_BYTES`] in all.

use crate::ast::{WsdlFormat, WsdlPort};
use crate::xml::{Document, Element};
use std::sync::Arc;
use synaptic_diag::SourceId;

/// WSDL 1.1.
pub const WSDL11_NS: &str = "http://schemas.xmlsoap.org/wsdl/";
/// WSDL 2.0.
pub const WSDL20_NS: &str = "http://www.w3.org/ns/wsdl";
const SOAP11_BINDING_NS: &str = "http://schemas.xmlsoap.org/wsdl/soap/";
const SOAP12_BINDING_NS: &str = "http://schemas.xmlsoap.org/wsdl/soap12/";
const HTTP_BINDING_NS: &str = "http://schemas.xmlsoap.org/wsdl/http/";

/// How deep `wsdl:import`s may nest (the document the endpoint names imports at depth 1).
pub const MAX_IMPORT_DEPTH: usize = 8;
/// How many documents the imports of one endpoint's document may bring in.
pub const MAX_IMPORTED: usize = 32;
/// How many `wsdl:import` elements are followed for one endpoint, in all its documents.
pub const MAX_IMPORT_ELEMENTS: usize = 256;
/// The size of one endpoint's documents together.
pub const MAX_TOTAL_BYTES: usize = 16 * 1024 * 1024;

/// A WSDL document the caller read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsdlText {
    /// Where the document is (a path): its imports are read relative to it, and two imports
    /// that come to the same `id` read the document once.
    pub id: String,
    pub text: Arc<str>,
}

/// Reads the document at `location` (as written in a `uri` or an import), relative to the
/// document `from` (an [`WsdlText::id`] it returned), or to the project when `from` is `None`
/// (an endpoint's `uri`, and the imports of an inline document). `Err` says why it cannot.
pub type ReadWsdl<'r> = dyn FnMut(&str, Option<&str>) -> Result<WsdlText, String> + 'r;

/// Why a port could not be resolved, by what it is about (so that a diagnostic points at the
/// `service=`, the `port=`, or the document).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WsdlProblem {
    /// The document (or one it imports) is not a readable WSDL 1.1 document.
    Document(String),
    /// No service of that name.
    Service(String),
    /// No port of that name, or a port without an address.
    Port(String),
}

impl std::fmt::Display for WsdlProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WsdlProblem::Document(m) | WsdlProblem::Service(m) | WsdlProblem::Port(m) => {
                f.write_str(m)
            }
        }
    }
}

/// One document of an endpoint: the root (`location` empty) or an imported one.
struct Read {
    id: Option<String>,
    text: Arc<str>,
    depth: usize,
    /// The import's `location` as written.
    location: String,
}

impl Read {
    /// How messages name it.
    fn shown(&self) -> String {
        if self.location.is_empty() {
            "the WSDL".to_string()
        } else {
            format!("`{}`", self.location)
        }
    }
}

fn parse(text: &str) -> Result<Document<'_>, String> {
    let (doc, diags) = crate::xml::read(SourceId(u32::MAX), text);
    match diags.iter().find(|d| d.is_error()) {
        Some(d) => Err(d.message.clone()),
        None => Ok(doc),
    }
}

fn is_definitions(el: &Element<'_>) -> bool {
    el.ns == WSDL11_NS && el.local() == "definitions"
}

/// The port `port` of the service `service` of the WSDL document `root_text` (read from
/// `root_id`, or inline when `None`), with the documents it imports read through `read`.
pub fn resolve_port(
    root_id: Option<&str>,
    root_text: &str,
    service: &str,
    port: &str,
    read: &mut ReadWsdl<'_>,
) -> Result<WsdlPort, WsdlProblem> {
    let docs = read_imports(root_id, root_text, read)?;
    // every document parsed again, now that none is added (each parsed cleanly above)
    let parsed: Vec<(Document<'_>, &Read)> = docs
        .iter()
        .filter_map(|d| parse(&d.text).ok().map(|doc| (doc, d)))
        .collect();
    let defs: Vec<Defs<'_, '_>> = parsed
        .iter()
        .filter_map(|(doc, read)| {
            let root = doc.root.as_ref().filter(|r| is_definitions(r))?;
            Some(Defs {
                doc,
                root,
                tns: root
                    .attr("targetNamespace")
                    .map(|a| a.value.trim())
                    .unwrap_or(""),
                read,
            })
        })
        .collect();
    port_in(&defs, service, port)
}

/// The document and, breadth first, every document its imports bring in.
fn read_imports(
    root_id: Option<&str>,
    root_text: &str,
    read: &mut ReadWsdl<'_>,
) -> Result<Vec<Read>, WsdlProblem> {
    let mut docs = vec![Read {
        id: root_id.map(str::to_string),
        text: Arc::from(root_text),
        depth: 0,
        location: String::new(),
    }];
    let mut total = root_text.len();
    let mut followed = 0usize;
    let mut i = 0;
    while i < docs.len() {
        let locations: Vec<String> = {
            let d = &docs[i];
            let doc = parse(&d.text).map_err(|m| {
                WsdlProblem::Document(if i == 0 {
                    format!("the WSDL document is not well-formed XML: {m}")
                } else {
                    format!(
                        "the imported WSDL {} is not well-formed XML: {m}",
                        d.shown()
                    )
                })
            })?;
            let Some(root) = &doc.root else {
                return Err(WsdlProblem::Document(format!(
                    "{} document is empty",
                    if i == 0 {
                        "the WSDL".to_string()
                    } else {
                        format!("the imported WSDL {}", d.shown())
                    }
                )));
            };
            if !is_definitions(root) {
                if i == 0 {
                    return Err(not_wsdl11(root));
                }
                // an imported schema (or WSDL 2.0): it has no service, port or binding
                i += 1;
                continue;
            }
            wsdl_children(root, "import")
                .filter_map(|im| im.attr("location"))
                .map(|l| l.value.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect()
        };
        let (from, depth) = (docs[i].id.clone(), docs[i].depth);
        let importer = docs[i].shown();
        for location in locations {
            followed += 1;
            if followed > MAX_IMPORT_ELEMENTS {
                return Err(WsdlProblem::Document(format!(
                    "the WSDL's documents hold more than {MAX_IMPORT_ELEMENTS} imports"
                )));
            }
            if depth + 1 > MAX_IMPORT_DEPTH {
                return Err(WsdlProblem::Document(format!(
                    "the WSDL's imports nest more than {MAX_IMPORT_DEPTH} deep ({importer} \
                     imports `{location}`)"
                )));
            }
            let text = read(&location, from.as_deref()).map_err(|why| {
                WsdlProblem::Document(format!("{importer} imports `{location}`: {why}"))
            })?;
            // read already: a second import of it, or a cycle
            if docs
                .iter()
                .any(|d| d.id.as_deref() == Some(text.id.as_str()))
            {
                continue;
            }
            if docs.len() > MAX_IMPORTED {
                return Err(WsdlProblem::Document(format!(
                    "the WSDL imports more than {MAX_IMPORTED} documents"
                )));
            }
            total += text.text.len();
            if total > MAX_TOTAL_BYTES {
                return Err(WsdlProblem::Document(format!(
                    "the WSDL and the documents it imports are larger than {} MiB together",
                    MAX_TOTAL_BYTES / (1024 * 1024)
                )));
            }
            docs.push(Read {
                id: Some(text.id),
                text: text.text,
                depth: depth + 1,
                location,
            });
        }
        i += 1;
    }
    Ok(docs)
}

fn not_wsdl11(root: &Element<'_>) -> WsdlProblem {
    if root.ns == WSDL20_NS && root.local() == "description" {
        WsdlProblem::Document(
            "WSDL 2.0 endpoints are not supported (as in Synapse): describe the service in \
             WSDL 1.1"
                .into(),
        )
    } else {
        WsdlProblem::Document(format!(
            "the document is not a WSDL 1.1 <wsdl:definitions> (its root is <{}>)",
            root.qname
        ))
    }
}

/// A `<wsdl:definitions>` of an endpoint's documents.
struct Defs<'d, 'a> {
    doc: &'d Document<'a>,
    root: &'d Element<'a>,
    tns: &'d str,
    read: &'d Read,
}

/// An operation of a WSDL 1.1 description, as Axis2 dispatches a request to it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WsdlOperation {
    /// The operation's name (its port type's `<operation name>`), shared with every message
    /// dispatched to it.
    pub name: std::sync::Arc<str>,
    /// The actions that name it: the `soapAction` of its binding operations (SOAP 1.1 and 1.2)
    /// and the WS-Addressing `Action` of its input, when written.
    pub actions: Vec<String>,
    /// The namespace of its name (`get-property('OperationNamespace')`): the target namespace
    /// of the document that declares its port type, as Axis2's `WSDL11ToAxisServiceBuilder`
    /// names an operation after its port type's namespace (empty without one); shared like
    /// the name.
    pub namespace: std::sync::Arc<str>,
}

/// WS-Addressing's WSDL binding and metadata namespaces (`wsaw:Action`, `wsam:Action`).
const WSA_ACTION_NS: &[&str] = &[
    "http://www.w3.org/2006/05/addressing/wsdl",
    "http://www.w3.org/2007/05/addressing/metadata",
    "http://www.w3.org/2006/02/addressing/wsdl",
];

/// The WSDL version of a published document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WsdlVersion {
    Wsdl11,
    Wsdl20,
}

/// Whether `text` is a WSDL document Synapse's `ProxyService` builds a service from: XML whose
/// root is a WSDL 1.1 `<definitions>` or a WSDL 2.0 `<description>` (`Err` says why not).
pub fn document_version(text: &str) -> Result<WsdlVersion, String> {
    let (doc, diags) = crate::xml::read(SourceId(u32::MAX), text);
    if let Some(d) = diags.iter().find(|d| d.is_error()) {
        return Err(format!("the WSDL is not well-formed XML: {}", d.message));
    }
    let Some(root) = &doc.root else {
        return Err("the WSDL is not XML: it has no element".into());
    };
    match (root.ns.as_ref(), root.local()) {
        (WSDL11_NS, "definitions") => Ok(WsdlVersion::Wsdl11),
        (WSDL20_NS, "description") => Ok(WsdlVersion::Wsdl20),
        _ => Err(format!(
            "the WSDL's root <{}> is neither a WSDL 1.1 <definitions> nor a WSDL 2.0 \
             <description> (Synapse: unknown WSDL format)",
            root.qname
        )),
    }
}

/// The operations of the WSDL 1.1 document `text` (a proxy service's `<publishWSDL>`), in the
/// order their port types declare them, each once.
pub fn operations_of_document(text: &str) -> Result<Vec<WsdlOperation>, WsdlProblem> {
    operations_of_documents(text, &[])
}

/// The operations of the WSDL 1.1 document `text` and of the documents it imports
/// (`imported`, any order; those that are not WSDL 1.1 documents are passed over), as Axis2
/// builds one service from them all: the operations of every port type, in the order the
/// documents and their port types declare them, each once and named in the namespace of the
/// document that declares it; their actions from the bindings of every document.
pub fn operations_of_documents(
    text: &str,
    imported: &[&str],
) -> Result<Vec<WsdlOperation>, WsdlProblem> {
    let (doc, diags) = crate::xml::read(SourceId(u32::MAX), text);
    if let Some(d) = diags.iter().find(|d| d.is_error()) {
        return Err(WsdlProblem::Document(format!(
            "the WSDL document is not well-formed XML: {}",
            d.message
        )));
    }
    let Some(root) = &doc.root else {
        return Err(WsdlProblem::Document("the WSDL document is empty".into()));
    };
    if !is_definitions(root) {
        return Err(WsdlProblem::Document(format!(
            "the document is not a WSDL 1.1 <wsdl:definitions> (its root is <{}>)",
            root.qname
        )));
    }
    let others: Vec<Document<'_>> = imported
        .iter()
        .filter_map(|t| {
            let (d, diags) = crate::xml::read(SourceId(u32::MAX), t);
            let ok = !diags.iter().any(|d| d.is_error())
                && d.root.as_ref().is_some_and(|r| is_definitions(r));
            ok.then_some(d)
        })
        .collect();
    let docs: Vec<(&Document<'_>, &Element<'_>)> = std::iter::once((&doc, root))
        .chain(
            others
                .iter()
                .filter_map(|d| d.root.as_ref().map(|r| (d, r))),
        )
        .collect();
    let mut ops: Vec<WsdlOperation> = Vec::new();
    for (doc, root) in &docs {
        let tns: std::sync::Arc<str> = root
            .attr("targetNamespace")
            .map_or("", |a| a.value.trim())
            .into();
        for pt in wsdl_children(root, "portType") {
            for op in wsdl_children(pt, "operation") {
                let name = named(op).trim();
                if name.is_empty() {
                    continue;
                }
                let i = match ops.iter().position(|o| &*o.name == name) {
                    Some(i) => i,
                    None => {
                        ops.push(WsdlOperation {
                            name: name.into(),
                            actions: Vec::new(),
                            namespace: tns.clone(),
                        });
                        ops.len() - 1
                    }
                };
                let wsa = wsdl_children(op, "input").flat_map(|input| {
                    input.attrs.iter().filter(|a| {
                        a.prefix().is_some_and(|p| {
                            doc.resolve(input.scope, p)
                                .is_some_and(|ns| WSA_ACTION_NS.contains(&ns))
                        }) && a.qname.ends_with(":Action")
                    })
                });
                for a in wsa {
                    push_action(&mut ops[i].actions, &a.value);
                }
            }
        }
    }
    for (_, root) in &docs {
        for b in wsdl_children(root, "binding") {
            for bop in wsdl_children(b, "operation") {
                let Some(o) = ops.iter_mut().find(|o| &*o.name == named(bop).trim()) else {
                    continue;
                };
                for s in bop.elements().filter(|e| {
                    (e.ns == SOAP11_BINDING_NS || e.ns == SOAP12_BINDING_NS)
                        && e.local() == "operation"
                }) {
                    if let Some(a) = s.attr("soapAction") {
                        push_action(&mut o.actions, &a.value);
                    }
                }
            }
        }
    }
    Ok(ops)
}

/// WS-Addressing's WSDL binding namespace, whose `Action` on a WSDL 2.0 input Axis2 reads.
const WSAW_NS: &str = "http://www.w3.org/2006/05/addressing/wsdl";

/// The operations of the WSDL 2.0 description `text` and of the descriptions it imports or
/// includes (`imported`, any order; those that are not WSDL 2.0 descriptions are passed over),
/// as Axis2's `WSDL20ToAxisServiceBuilder` builds the service of a Synapse proxy from them:
/// the operations of the interface of the first service (of the description, else of the
/// documents it reads), and of the interfaces it extends, in the order they are declared, each
/// once and named in the target namespace of the description declaring its interface. Their
/// actions, as `AxisService.addOperation` maps them: the input's `wsaw:Action`, else
/// `urn:{name}` (a binding's `wsoap:action` is kept on the binding and names no operation).
/// `Err` says why no service can be built, as the builder fails: no service is declared, or
/// the first one names no interface or one that is nowhere (an interface it extends that is
/// nowhere only adds nothing).
pub fn operations_of_wsdl20(text: &str, imported: &[&str]) -> Result<Vec<WsdlOperation>, String> {
    let docs: Vec<Document<'_>> = std::iter::once(text)
        .chain(imported.iter().copied())
        .filter_map(|t| parse(t).ok())
        .filter(|d| {
            d.root
                .as_ref()
                .is_some_and(|r| r.ns == WSDL20_NS && r.local() == "description")
        })
        .collect();
    let roots: Vec<(&Document<'_>, &Element<'_>, &str)> = docs
        .iter()
        .filter_map(|d| {
            let r = d.root.as_ref()?;
            let tns = r.attr("targetNamespace").map_or("", |a| a.value.trim());
            Some((d, r, tns))
        })
        .collect();
    let wsdl20 = |el: &Element<'_>, local: &str| el.ns == WSDL20_NS && el.local() == local;
    // a QName written in `el`'s scope: (namespace, local name)
    let qname = |doc: &Document<'_>, el: &Element<'_>, v: &str| -> (String, String) {
        let (prefix, local) = v.split_once(':').unwrap_or(("", v));
        let ns = doc.resolve(el.scope, prefix).unwrap_or("");
        (ns.to_string(), local.to_string())
    };
    let Some((doc, service)) = roots
        .iter()
        .find_map(|(d, r, _)| r.elements().find(|c| wsdl20(c, "service")).map(|s| (*d, s)))
    else {
        return Err(
            "the WSDL 2.0 description declares no service to build the proxy's \
                    service from"
                .into(),
        );
    };
    let service_name = named(service).trim().to_string();
    let Some(first) = service.attr("interface") else {
        return Err(format!(
            "the WSDL 2.0 service `{service_name}` names no interface"
        ));
    };
    let first_interface = qname(doc, service, first.value.trim());
    let mut ops: Vec<WsdlOperation> = Vec::new();
    let mut todo = vec![first_interface.clone()];
    let mut seen: Vec<(String, String)> = Vec::new();
    while let Some(want) = todo.pop() {
        if seen.contains(&want) {
            continue;
        }
        seen.push(want.clone());
        let found = roots.iter().find_map(|(d, r, tns)| {
            (*tns == want.0)
                .then(|| {
                    r.elements()
                        .find(|c| wsdl20(c, "interface") && named(c).trim() == want.1)
                })
                .flatten()
                .map(|i| (*d, i, *tns))
        });
        let Some((doc, interface, tns)) = found else {
            if want == first_interface {
                return Err(format!(
                    "the interface `{}` of the WSDL 2.0 service `{service_name}` is declared \
                     nowhere (namespace `{}`)",
                    want.1, want.0
                ));
            }
            continue;
        };
        let namespace: std::sync::Arc<str> = tns.into();
        for op in interface.elements().filter(|c| wsdl20(c, "operation")) {
            let name = named(op).trim();
            if name.is_empty() || ops.iter().any(|o| &*o.name == name) {
                continue;
            }
            let mut actions = Vec::new();
            for input in op.elements().filter(|c| wsdl20(c, "input")) {
                for a in input.attrs.iter().filter(|a| {
                    a.qname.ends_with(":Action")
                        && a.prefix()
                            .is_some_and(|p| doc.resolve(input.scope, p) == Some(WSAW_NS))
                }) {
                    push_action(&mut actions, &a.value);
                }
            }
            if actions.is_empty() {
                actions.push(format!("urn:{name}"));
            }
            ops.push(WsdlOperation {
                name: name.into(),
                actions,
                namespace: namespace.clone(),
            });
        }
        // the interfaces it extends, in the order written, after its own operations
        if let Some(ext) = interface.attr("extends") {
            let mut more: Vec<_> = ext
                .value
                .split_whitespace()
                .map(|q| qname(doc, interface, q))
                .collect();
            more.reverse();
            todo.extend(more);
        }
    }
    Ok(ops)
}

fn push_action(actions: &mut Vec<String>, a: &str) {
    let a = a.trim();
    if !a.is_empty() && !actions.iter().any(|x| x == a) {
        actions.push(a.to_string());
    }
}

fn wsdl_children<'e, 'a>(
    el: &'e Element<'a>,
    local: &'static str,
) -> impl Iterator<Item = &'e Element<'a>> {
    el.elements()
        .filter(move |c| c.ns == WSDL11_NS && c.local() == local)
}

fn named<'e>(el: &'e Element<'_>) -> &'e str {
    el.attr("name").map(|a| a.value.as_ref()).unwrap_or("")
}

fn names_of<'e, 'a: 'e>(els: impl Iterator<Item = &'e Element<'a>>) -> String {
    let names: Vec<String> = els.map(|e| format!("`{}`", named(e))).collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// The port in the documents (`defs[0]` is the one the endpoint names). The service is looked
/// up as WSDL4J's `getService(QName)` does: by name in the target namespace of the first
/// document, in it and in the imported documents of that namespace.
fn port_in(defs: &[Defs<'_, '_>], service: &str, port: &str) -> Result<WsdlPort, WsdlProblem> {
    let service = service.trim();
    let port = port.trim();
    let Some(first) = defs.first() else {
        return Err(WsdlProblem::Document("the WSDL document is empty".into()));
    };
    let in_ns = || defs.iter().filter(|d| d.tns == first.tns);
    let Some((at, svc)) = in_ns().find_map(|d| {
        wsdl_children(d.root, "service")
            .find(|s| named(s) == service)
            .map(|s| (d, s))
    }) else {
        let mut m = format!(
            "the WSDL has no service `{service}` (its services: {})",
            names_of(in_ns().flat_map(|d| wsdl_children(d.root, "service")))
        );
        if let Some(other) = defs.iter().find(|d| {
            d.tns != first.tns && wsdl_children(d.root, "service").any(|s| named(s) == service)
        }) {
            m.push_str(&format!(
                "; the imported {} has one in the namespace `{}`, but a service is looked up in \
                 the target namespace of the document the endpoint names (`{}`), as Synapse \
                 does",
                other.read.shown(),
                other.tns,
                first.tns
            ));
        }
        return Err(WsdlProblem::Service(m));
    };
    let Some(p) = wsdl_children(svc, "port").find(|p| named(p) == port) else {
        return Err(WsdlProblem::Port(format!(
            "service `{service}` of the WSDL has no port `{port}` (its ports: {})",
            names_of(wsdl_children(svc, "port"))
        )));
    };
    for a in p.elements() {
        let format = match (a.ns.as_ref(), a.local()) {
            (SOAP11_BINDING_NS, "address") => WsdlFormat::Soap11,
            (SOAP12_BINDING_NS, "address") => WsdlFormat::Soap12,
            (HTTP_BINDING_NS, "address") => http_format(defs, at, p),
            _ => continue,
        };
        let location = a
            .attr("location")
            .map(|l| l.value.trim().to_string())
            .unwrap_or_default();
        if location.is_empty() {
            return Err(WsdlProblem::Port(format!(
                "port `{port}` of service `{service}` has an <{}> without a location",
                a.qname
            )));
        }
        return Ok(WsdlPort {
            address: location,
            format,
        });
    }
    Err(WsdlProblem::Port(format!(
        "port `{port}` of service `{service}` has no soap:address, soap12:address or \
         http:address"
    )))
}

fn binding_named<'d, 'a>(d: &Defs<'d, 'a>, local: &str) -> Option<&'d Element<'a>> {
    wsdl_children(d.root, "binding").find(|b| named(b) == local)
}

/// An `http:address` port: `get` when its binding's `http:binding` says `verb="GET"`, else
/// `rest`. The binding is the one its qualified name names (in any of the documents of that
/// target namespace), or, when the prefix is not bound, the first of that name.
fn http_format(defs: &[Defs<'_, '_>], at: &Defs<'_, '_>, port: &Element<'_>) -> WsdlFormat {
    let written = port.attr("binding").map(|b| b.value.trim()).unwrap_or("");
    let (prefix, local) = written.split_once(':').unwrap_or(("", written));
    let ns = at.doc.resolve(port.scope, prefix);
    let binding = ns
        .and_then(|ns| {
            defs.iter()
                .filter(|d| d.tns == ns)
                .find_map(|d| binding_named(d, local))
        })
        .or_else(|| defs.iter().find_map(|d| binding_named(d, local)));
    let verb = binding
        .and_then(|b| {
            b.elements()
                .find(|e| e.ns == HTTP_BINDING_NS && e.local() == "binding")
        })
        .and_then(|h| h.attr("verb"))
        .map(|v| v.value.trim().to_ascii_uppercase());
    if verb.as_deref() == Some("GET") {
        WsdlFormat::Get
    } else {
        WsdlFormat::Rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::EndpointKind;
    use std::collections::HashMap;
    use synaptic_diag::SourceId;

    /// A WSDL 1.1 document with a SOAP 1.1, a SOAP 1.2 and an HTTP GET port, and a port
    /// without an address.
    pub(crate) const STOCK: &str = r#"<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
        xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
        xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/"
        xmlns:http="http://schemas.xmlsoap.org/wsdl/http/"
        xmlns:tns="http://services.samples" targetNamespace="http://services.samples">
      <wsdl:binding name="StockHttpBinding" type="tns:StockPortType">
        <http:binding verb="GET"/>
      </wsdl:binding>
      <wsdl:service name="StockQuote">
        <wsdl:port name="Soap11" binding="tns:Soap11Binding">
          <soap:address location="http://127.0.0.1:9000/services/Stock11"/>
        </wsdl:port>
        <wsdl:port name="Soap12" binding="tns:Soap12Binding">
          <soap12:address location=" http://127.0.0.1:9000/services/Stock12 "/>
        </wsdl:port>
        <wsdl:port name="Http" binding="tns:StockHttpBinding">
          <http:address location="http://127.0.0.1:9000/rest/stock"/>
        </wsdl:port>
        <wsdl:port name="Bare" binding="tns:Soap11Binding"/>
      </wsdl:service>
    </wsdl:definitions>"#;

    /// Resolves a document that imports nothing.
    fn alone(text: &str, service: &str, port: &str) -> Result<WsdlPort, WsdlProblem> {
        resolve_port(None, text, service, port, &mut |l, _| {
            Err(format!("`{l}` is not read here"))
        })
    }

    fn port(service: &str, port: &str) -> Result<WsdlPort, WsdlProblem> {
        alone(STOCK, service, port)
    }

    #[test]
    fn the_address_element_of_the_port_gives_the_address_and_the_format() {
        assert_eq!(
            port("StockQuote", "Soap11"),
            Ok(WsdlPort {
                address: "http://127.0.0.1:9000/services/Stock11".into(),
                format: WsdlFormat::Soap11
            })
        );
        assert_eq!(
            port("StockQuote", "Soap12"),
            Ok(WsdlPort {
                address: "http://127.0.0.1:9000/services/Stock12".into(),
                format: WsdlFormat::Soap12
            })
        );
        assert_eq!(port("StockQuote", "Http").unwrap().format, WsdlFormat::Get);
    }

    #[test]
    fn a_missing_service_or_port_or_address_says_what_there_is() {
        let e = port("Nope", "Soap11").unwrap_err();
        assert!(
            matches!(&e, WsdlProblem::Service(m) if m.contains("`StockQuote`")),
            "{e:?}"
        );
        let e = port("StockQuote", "Soap13").unwrap_err();
        assert!(
            matches!(&e, WsdlProblem::Port(m) if m.contains("`Soap11`, `Soap12`, `Http`, `Bare`")),
            "{e:?}"
        );
        let e = port("StockQuote", "Bare").unwrap_err();
        assert!(
            matches!(&e, WsdlProblem::Port(m) if m.contains("no soap:address")),
            "{e:?}"
        );
    }

    #[test]
    fn operations_carry_their_soap_actions_and_input_actions() {
        let doc = r#"<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
            xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
            xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/"
            xmlns:wsaw="http://www.w3.org/2006/05/addressing/wsdl"
            xmlns:tns="http://services.samples" targetNamespace="http://services.samples">
          <wsdl:portType name="StockPortType">
            <wsdl:operation name="getQuote">
              <wsdl:input message="tns:getQuoteRequest" wsaw:Action="urn:getQuoteInput"/>
            </wsdl:operation>
            <wsdl:operation name="placeOrder"><wsdl:input message="tns:placeOrderRequest"/></wsdl:operation>
            <wsdl:operation name=""/>
          </wsdl:portType>
          <wsdl:binding name="Soap11" type="tns:StockPortType">
            <wsdl:operation name="getQuote"><soap:operation soapAction="urn:getQuote"/></wsdl:operation>
            <wsdl:operation name="placeOrder"><soap:operation soapAction=""/></wsdl:operation>
          </wsdl:binding>
          <wsdl:binding name="Soap12" type="tns:StockPortType">
            <wsdl:operation name="getQuote"><soap12:operation soapAction="urn:getQuote"/></wsdl:operation>
            <wsdl:operation name="placeOrder"><soap12:operation soapAction="urn:placeOrder12"/></wsdl:operation>
          </wsdl:binding>
        </wsdl:definitions>"#;
        assert_eq!(
            operations_of_document(doc),
            Ok(vec![
                WsdlOperation {
                    name: "getQuote".into(),
                    actions: vec!["urn:getQuoteInput".into(), "urn:getQuote".into()],
                    namespace: "http://services.samples".into(),
                },
                WsdlOperation {
                    name: "placeOrder".into(),
                    actions: vec!["urn:placeOrder12".into()],
                    namespace: "http://services.samples".into(),
                },
            ])
        );
        assert!(operations_of_document("<definitions/>").is_err());
        assert!(operations_of_document("<wsdl:definitions").is_err());
    }

    #[test]
    fn wsdl20_operations_are_those_of_the_first_services_interface_and_what_it_extends() {
        // the service and its interface here, the interface it extends in an imported
        // description of another namespace, which extends one of this namespace again
        let main = r#"<description xmlns="http://www.w3.org/ns/wsdl" xmlns:tns="urn:main"
            xmlns:base="urn:base" xmlns:wsaw="http://www.w3.org/2006/05/addressing/wsdl"
            xmlns:wsoap="http://www.w3.org/ns/wsdl/soap" targetNamespace="urn:main">
          <import namespace="urn:base" location="base.wsdl"/>
          <interface name="Other"><operation name="unused"/></interface>
          <interface name="Quotes" extends="base:Base">
            <operation name="getQuote"><input element="tns:q" wsaw:Action="urn:getQuoteIn"/></operation>
            <operation name="placeOrder"><input element="tns:o"/></operation>
          </interface>
          <binding name="B" interface="tns:Quotes" type="http://www.w3.org/ns/wsdl/soap">
            <operation ref="tns:placeOrder" wsoap:action="urn:bindingAction"/>
          </binding>
          <service name="S" interface="tns:Quotes"><endpoint name="E" binding="tns:B"/></service>
          <service name="T" interface="tns:Other"/>
        </description>"#;
        let base = r#"<description xmlns="http://www.w3.org/ns/wsdl" xmlns:m="urn:main" targetNamespace="urn:base">
          <interface name="Base" extends="m:Quotes m:Other"><operation name="ping"/><operation name="getQuote"/></interface>
        </description>"#;
        let ops = operations_of_wsdl20(main, &[base, "<a>", "<definitions/>"]).unwrap();
        let got: Vec<_> = ops
            .iter()
            .map(|o| (&*o.name, &*o.namespace, o.actions.clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("getQuote", "urn:main", vec!["urn:getQuoteIn".to_string()]),
                ("placeOrder", "urn:main", vec!["urn:placeOrder".to_string()]),
                ("ping", "urn:base", vec!["urn:ping".to_string()]),
                ("unused", "urn:main", vec!["urn:unused".to_string()]),
            ]
        );
        // without the imported description, its interface is not found
        assert_eq!(operations_of_wsdl20(main, &[]).unwrap().len(), 2);
        // no service, a service without an interface, or one whose interface is nowhere: no
        // service can be built
        let none = r#"<description xmlns="http://www.w3.org/ns/wsdl" targetNamespace="urn:w"><interface name="I"><operation name="x"/></interface></description>"#;
        let e = operations_of_wsdl20(none, &[]).unwrap_err();
        assert!(e.contains("declares no service"), "{e}");
        let bare = none.replace("</description>", r#"<service name="S"/></description>"#);
        let e = operations_of_wsdl20(&bare, &[]).unwrap_err();
        assert!(e.contains("`S` names no interface"), "{e}");
        let lost = none.replace(
            "</description>",
            r#"<service name="S" interface="I"/></description>"#,
        );
        let e = operations_of_wsdl20(&lost, &[]).unwrap_err();
        assert!(
            e.contains("interface `I` of the WSDL 2.0 service `S`"),
            "{e}"
        );
        // declared in the description's namespace: found
        let found = none.replace(
            "</description>",
            r#"<service xmlns:w="urn:w" name="S" interface="w:I"/></description>"#,
        );
        assert_eq!(operations_of_wsdl20(&found, &[]).unwrap().len(), 1);
        // the service of an included description serves
        let host = r#"<description xmlns="http://www.w3.org/ns/wsdl" xmlns:w="urn:w" targetNamespace="urn:w"><include location="s.wsdl"/><interface name="I"><operation name="x"/></interface></description>"#;
        let svc = r#"<description xmlns="http://www.w3.org/ns/wsdl" xmlns:w="urn:w" targetNamespace="urn:w"><service name="S" interface="w:I"/></description>"#;
        assert_eq!(&*operations_of_wsdl20(host, &[svc]).unwrap()[0].name, "x");
    }

    #[test]
    fn documents_that_are_not_wsdl_11_are_refused() {
        let e = alone("<definitions/>", "S", "P").unwrap_err();
        assert!(matches!(&e, WsdlProblem::Document(m) if m.contains("not a WSDL 1.1")));
        let e = alone(
            r#"<description xmlns="http://www.w3.org/ns/wsdl"/>"#,
            "S",
            "P",
        )
        .unwrap_err();
        assert!(matches!(&e, WsdlProblem::Document(m) if m.contains("WSDL 2.0")));
        let e = alone("<wsdl:definitions", "S", "P").unwrap_err();
        assert!(matches!(&e, WsdlProblem::Document(m) if m.contains("not well-formed")));
    }

    /// Documents by path, read as a loader reads them: a location relative to the folder of
    /// the importing document (or to the root of the map).
    struct Files {
        files: HashMap<String, String>,
        /// (location, from) of every read.
        asked: Vec<(String, Option<String>)>,
    }

    impl Files {
        fn new(files: &[(&str, String)]) -> Files {
            Files {
                files: files
                    .iter()
                    .map(|(p, t)| (p.to_string(), t.clone()))
                    .collect(),
                asked: Vec::new(),
            }
        }
        fn read(&mut self, location: &str, from: Option<&str>) -> Result<WsdlText, String> {
            self.asked
                .push((location.to_string(), from.map(str::to_string)));
            let dir = from
                .and_then(|f| f.rsplit_once('/').map(|(d, _)| format!("{d}/")))
                .unwrap_or_default();
            let mut path: Vec<&str> = Vec::new();
            let joined = format!("{dir}{location}");
            for part in joined.split('/') {
                match part {
                    ".." => {
                        path.pop();
                    }
                    "." | "" => {}
                    p => path.push(p),
                }
            }
            let id = path.join("/");
            match self.files.get(&id) {
                Some(t) => Ok(WsdlText {
                    id,
                    text: Arc::from(t.as_str()),
                }),
                None => Err(format!("no file {id}")),
            }
        }
        fn resolve(
            &mut self,
            root: &str,
            service: &str,
            port: &str,
        ) -> Result<WsdlPort, WsdlProblem> {
            let text = self.files[root].clone();
            resolve_port(Some(root), &text, service, port, &mut |l, f| {
                self.read(l, f)
            })
        }
    }

    const NS: &str = r#"xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
        xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
        xmlns:http="http://schemas.xmlsoap.org/wsdl/http/""#;

    fn defs(tns: &str, body: &str) -> String {
        format!(
            r#"<wsdl:definitions {NS} xmlns:tns="{tns}" targetNamespace="{tns}">{body}</wsdl:definitions>"#
        )
    }

    fn import(location: &str) -> String {
        format!(r#"<wsdl:import namespace="urn:x" location="{location}"/>"#)
    }

    #[test]
    fn a_service_and_a_binding_in_imported_documents_are_found() {
        // the service in an imported document of the same namespace; its binding (a GET) in a
        // document that one imports, from a folder of its own
        let mut files = Files::new(&[
            (
                "wsdl/main.wsdl",
                defs("urn:stock", &import("svc/service.wsdl")),
            ),
            (
                "wsdl/svc/service.wsdl",
                defs(
                    "urn:stock",
                    &format!(
                        r#"{}<wsdl:service name="Stock"><wsdl:port name="Get" binding="b:GetBinding"
                           xmlns:b="urn:bindings"><http:address location="http://h/get"/></wsdl:port></wsdl:service>"#,
                        import("../binding/binding.wsdl")
                    ),
                ),
            ),
            (
                "wsdl/binding/binding.wsdl",
                defs(
                    "urn:bindings",
                    r#"<wsdl:binding name="GetBinding" type="x:T"><http:binding verb="GET"/></wsdl:binding>"#,
                ),
            ),
        ]);
        let p = files.resolve("wsdl/main.wsdl", "Stock", "Get").unwrap();
        assert_eq!(p.address, "http://h/get");
        assert_eq!(p.format, WsdlFormat::Get);
        assert_eq!(
            files.asked,
            [
                (
                    "svc/service.wsdl".to_string(),
                    Some("wsdl/main.wsdl".to_string())
                ),
                (
                    "../binding/binding.wsdl".to_string(),
                    Some("wsdl/svc/service.wsdl".to_string())
                ),
            ]
        );
    }

    #[test]
    fn a_cycle_and_a_second_import_read_a_document_once() {
        let svc = r#"<wsdl:service name="S"><wsdl:port name="P" binding="tns:B"><soap:address location="http://h/s"/></wsdl:port></wsdl:service>"#;
        let mut files = Files::new(&[
            (
                "a.wsdl",
                defs(
                    "urn:a",
                    &format!("{}{}", import("b.wsdl"), import("c.wsdl")),
                ),
            ),
            (
                "b.wsdl",
                defs(
                    "urn:a",
                    &format!("{}{}", import("a.wsdl"), import("c.wsdl")),
                ),
            ),
            (
                "c.wsdl",
                defs("urn:a", &format!("{}{svc}", import("b.wsdl"))),
            ),
        ]);
        let p = files.resolve("a.wsdl", "S", "P").unwrap();
        assert_eq!(p.address, "http://h/s");
        // each import element is followed once; b and c are read, a never again as a new one
        assert_eq!(files.asked.len(), 5, "{:?}", files.asked);
    }

    #[test]
    fn an_import_that_cannot_be_read_is_an_error_naming_it() {
        let mut files = Files::new(&[(
            "main.wsdl",
            defs(
                "urn:a",
                &format!(
                    r#"{}<wsdl:service name="S"><wsdl:port name="P"><soap:address location="http://h/"/></wsdl:port></wsdl:service>"#,
                    import("types.wsdl")
                ),
            ),
        )]);
        let e = files.resolve("main.wsdl", "S", "P").unwrap_err();
        assert_eq!(
            e,
            WsdlProblem::Document("the WSDL imports `types.wsdl`: no file types.wsdl".into())
        );
        // a nested one names the document that imports it; a broken one says so
        let mut files = Files::new(&[
            ("a.wsdl", defs("urn:a", &import("b.wsdl"))),
            ("b.wsdl", defs("urn:a", &import("c.wsdl"))),
            ("c.wsdl", "<wsdl:definitions".to_string()),
        ]);
        let e = files.resolve("a.wsdl", "S", "P").unwrap_err();
        assert!(
            matches!(&e, WsdlProblem::Document(m) if m.contains("imported WSDL `c.wsdl` is not well-formed")),
            "{e:?}"
        );
        files.files.remove("c.wsdl");
        let e = files.resolve("a.wsdl", "S", "P").unwrap_err();
        assert!(
            matches!(&e, WsdlProblem::Document(m) if m.starts_with("`b.wsdl` imports `c.wsdl`: no file")),
            "{e:?}"
        );
    }

    #[test]
    fn imports_are_bounded_in_depth_and_number() {
        // a chain one deeper than allowed
        let chain: Vec<(String, String)> = (0..=MAX_IMPORT_DEPTH + 1)
            .map(|i| {
                (
                    format!("d{i}.wsdl"),
                    defs("urn:a", &import(&format!("d{}.wsdl", i + 1))),
                )
            })
            .collect();
        let refs: Vec<(&str, String)> =
            chain.iter().map(|(p, t)| (p.as_str(), t.clone())).collect();
        let e = Files::new(&refs).resolve("d0.wsdl", "S", "P").unwrap_err();
        assert!(
            matches!(&e, WsdlProblem::Document(m) if m.contains("nest more than 8 deep")),
            "{e:?}"
        );
        // a document importing more documents than allowed
        let many: String = (0..=MAX_IMPORTED)
            .map(|i| import(&format!("m{i}.wsdl")))
            .collect();
        let mut list = vec![("root.wsdl".to_string(), defs("urn:a", &many))];
        list.extend((0..=MAX_IMPORTED).map(|i| (format!("m{i}.wsdl"), defs("urn:a", ""))));
        let refs: Vec<(&str, String)> = list.iter().map(|(p, t)| (p.as_str(), t.clone())).collect();
        let e = Files::new(&refs)
            .resolve("root.wsdl", "S", "P")
            .unwrap_err();
        assert!(
            matches!(&e, WsdlProblem::Document(m) if m.contains("more than 32 documents")),
            "{e:?}"
        );
        // the same import repeated is followed a bounded number of times
        let repeated: String = (0..=MAX_IMPORT_ELEMENTS)
            .map(|_| import("one.wsdl"))
            .collect();
        let mut files = Files::new(&[
            ("root.wsdl", defs("urn:a", &repeated)),
            ("one.wsdl", defs("urn:a", "")),
        ]);
        let e = files.resolve("root.wsdl", "S", "P").unwrap_err();
        assert!(
            matches!(&e, WsdlProblem::Document(m) if m.contains("more than 256 imports")),
            "{e:?}"
        );
        assert_eq!(files.asked.len(), MAX_IMPORT_ELEMENTS);
    }

    #[test]
    fn a_service_is_looked_up_in_the_namespace_of_the_named_document() {
        let svc = r#"<wsdl:service name="S"><wsdl:port name="P"><soap:address location="http://h/"/></wsdl:port></wsdl:service>"#;
        let mut files = Files::new(&[
            (
                "main.wsdl",
                defs(
                    "urn:main",
                    &format!("{}{}", import("other.wsdl"), import("types.xsd")),
                ),
            ),
            ("other.wsdl", defs("urn:other", svc)),
            // an imported schema is read and skipped
            (
                "types.xsd",
                r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"/>"#.to_string(),
            ),
        ]);
        let e = files.resolve("main.wsdl", "S", "P").unwrap_err();
        assert!(
            matches!(&e, WsdlProblem::Service(m) if m.contains("the imported `other.wsdl` has one in the namespace `urn:other`")),
            "{e:?}"
        );
    }

    fn parse(endpoint_body: &str) -> crate::Parse<crate::ast::Artifact> {
        let text = format!(
            r#"<endpoint xmlns="http://ws.apache.org/ns/synapse" name="E">{endpoint_body}</endpoint>"#
        );
        crate::parse_artifact(SourceId(0), &text)
    }

    #[test]
    fn the_parser_keeps_an_inline_document_or_a_uri_for_the_compiler() {
        let p = parse(&format!(
            r#"<wsdl service="StockQuote" port="Soap12">{STOCK}<timeout><duration>1500</duration></timeout></wsdl>"#
        ));
        assert!(p.is_ok(), "{:?}", p.diagnostics);
        let e = &p.tree.endpoints[0];
        assert_eq!(e.timeout_ms.as_ref().map(|t| t.value), Some(1500));
        let EndpointKind::Wsdl(w) = &e.kind else {
            panic!("{:?}", e.kind)
        };
        assert!(w.uri.is_none());
        // the document on its own, with the bindings it uses
        let inline = &w.inline.as_ref().unwrap().value;
        assert_eq!(
            alone(inline, "StockQuote", "Soap12").unwrap().format,
            WsdlFormat::Soap12
        );

        let p = parse(r#"<wsdl uri="file:wsdl/stock.wsdl" service="S" port="P"/>"#);
        assert!(p.is_ok(), "{:?}", p.diagnostics);
        let EndpointKind::Wsdl(w) = &p.tree.endpoints[0].kind else {
            panic!()
        };
        assert_eq!(w.uri.as_ref().unwrap().value, "file:wsdl/stock.wsdl");
        assert!(w.inline.is_none());
    }

    #[test]
    fn structural_mistakes_are_parse_errors() {
        let codes = |body: &str| -> Vec<&'static str> {
            parse(body)
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(|d| d.code.id)
                .collect()
        };
        assert_eq!(codes(r#"<wsdl service="S" port="P"/>"#), ["E0114"]);
        assert_eq!(codes(r#"<wsdl uri="a.wsdl" port="P"/>"#), ["E0105"]);
        assert_eq!(
            codes(&format!(
                r#"<wsdl uri="a.wsdl" service="S" port="P">{STOCK}</wsdl>"#
            )),
            ["E0115"]
        );
        assert_eq!(
            codes(
                r#"<wsdl service="S" port="P"><description xmlns="http://www.w3.org/ns/wsdl"/></wsdl>"#
            ),
            ["E0108"]
        );
        // a service or port an inline document lacks is the compiler's to report
        assert!(codes(&format!(r#"<wsdl service="Nope" port="P">{STOCK}</wsdl>"#)).is_empty());
    }
}
