//! The schemas of a published WSDL, served as Axis2 serves those of a Synapse proxy (see
//! docs/adr/0512-published-wsdl-schemas-named-as-axis2-names-them.md): every schema its
//! types import, include or redefine, and theirs in turn, read when the project is loaded,
//! each named once by where it was read from (`AxisService.populateSchemaMappings`): the last
//! segment of its source without `.xsd` (`xsd0`, `xsd1`, … when it does not end in `.xsd`;
//! a counter appended to a name already taken), or the whole URL of one fetched over http(s).
//! The `schemaLocation`s of the published WSDL and of every schema point at
//! `{proxy}?xsd={name}.xsd`, so that a client following them fetches everything through the
//! proxy. A WSDL 1.1 document's `wsdl:import`s, and a WSDL 2.0 document's `import`s and
//! `include`s, are read with their schemas and served at `?wsdl=` (ADR 0515).
//!
//! A location resolves as Synapse's `CustomXmlSchemaURIResolver` resolves it: a `<resource
//! location key>` with that location as written (the schema's source is
//! `synapse-reg:///{key}`), else relative to the document that names it: a file relative to
//! the file, a URL relative to the URL, the imports of an inline or keyed WSDL, or of an
//! `endpoint`'s, relative to the project (Synapse's base is the proxy's `uri`, else its home). A schema read from a `<resource>` has no location its own
//! relative imports resolve against: they must be `<resource>`s too.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use synaptic_syntax::xsd;

use crate::WsdlReader;

/// The schemas of one published WSDL, at most.
pub const MAX_SCHEMAS: usize = 100;
/// How deep imports go below the WSDL, at most.
pub const MAX_SCHEMA_DEPTH: usize = 16;
/// The schemas' text, all together, at most (each file or fetched document is also bounded
/// by the host, 4 MiB).
pub const MAX_SCHEMA_BYTES: usize = 16 * 1024 * 1024;

/// What a document's relative locations resolve against.
#[derive(Clone, Debug)]
pub(crate) enum Base {
    /// An inline WSDL or one of a key: the project.
    Project,
    /// A file read through the host (its id).
    File(String),
    /// A document fetched over http(s) (its URL).
    Http(String),
    /// A `<resource>`'s document (its key).
    Resource(String),
}

/// A proxy's `<resource>`s by location as written: the key, and its document (`None`: not
/// read here, as `synaptic lint` leaves a registry key).
pub(crate) type Resources = HashMap<String, (String, Option<Arc<str>>)>;

/// The published WSDL with its locations rewritten, the schemas served at `?xsd=`, by name
/// (without the `.xsd` Axis2 adds to a name that has no dot), and the documents it imports.
pub(crate) struct Served {
    pub wsdl: ServedDoc,
    pub schemas: Vec<(String, ServedDoc)>,
    /// The documents its `wsdl:import`s (WSDL 2.0: `import`s and `include`s) read, and
    /// theirs, with their locations rewritten alike,
    /// each by the `location` as written of the import that names it, in the order
    /// `AxisService.printUserWSDL` looks an import up for `?wsdl=NAME`: depth first, each
    /// import before those of the document it reads.
    pub imports: Vec<(String, ServedDoc)>,
}

/// The documents the `wsdl:import`s of one published WSDL may read, at most (as a `<wsdl>`
/// endpoint's).
pub const MAX_WSDL_IMPORTS: usize = synaptic_syntax::wsdl::MAX_IMPORTED;
/// How deep `wsdl:import`s may nest below the published WSDL.
pub const MAX_WSDL_IMPORT_DEPTH: usize = synaptic_syntax::wsdl::MAX_IMPORT_DEPTH;

/// The schema links of a WSDL document, each with its location as written.
type WsdlLinks = Vec<(Link, String)>;

/// A `wsdl:import`'s (WSDL 2.0: `import`'s or `include`'s) `location`: where it is written,
/// and as written.
struct Import {
    at: Range<usize>,
    location: String,
}

/// A WSDL document (the published one, or one an import read): its text, the links of
/// its schemas and of its imports, its ports' addresses and its schemas.
struct WsdlDoc {
    text: Arc<str>,
    /// Each external of its types' schemas (of its own, when it is a schema), with its
    /// location as written (`useOriginalwsdl` rewrites the relative ones).
    links: WsdlLinks,
    imports: Vec<Import>,
    ports: Vec<xsd::PortAddress>,
}

/// Where an external's `schemaLocation` is written, and the document it resolved to (`None`:
/// not read here).
type Link = (Range<usize>, Option<usize>);

/// A document found: where it was read, what it resolves against, its text.
type Found = Option<(String, Base, Arc<str>)>;

struct Doc {
    name: String,
    text: Arc<str>,
    /// Each external with a `schemaLocation`.
    links: Vec<Link>,
}

struct Walk<'a> {
    reader: Option<&'a dyn WsdlReader>,
    resources: &'a Resources,
    docs: Vec<Doc>,
    by_source: HashMap<String, usize>,
    /// Axis2's counter of generated names.
    count: usize,
    bytes: usize,
    /// The documents `wsdl:import`s read, by source.
    wsdl_docs: Vec<WsdlDoc>,
    wsdl_by_source: HashMap<String, usize>,
    wsdl_bytes: usize,
    /// Every import read, in Axis2's lookup order: its location as written, its document.
    imports: Vec<(String, usize)>,
}

/// How a proxy's parameters have its published documents' locations written.
#[derive(Clone, Debug, Default)]
pub(crate) struct Style {
    /// `useOriginalwsdl`: the WSDL's relative schema locations point at
    /// `{proxy}?xsd={location as written}`, as `AxisService.printUserWSDL` writes them.
    pub original: bool,
    /// `generateAbsoluteLocationURIs`: the service's HTTP address stands for `{proxy}`.
    pub absolute: bool,
    /// Where Axis2's schema names are written after (`showAbsoluteSchemaURL`,
    /// `showProxySchemaURL`).
    pub schema_prefix: SchemaPrefix,
    /// The ports' addresses are set to the proxy's (Axis2 prints the proxy's ports; with
    /// `useOriginalwsdl`, unless `modifyUserWSDLPortAddress` is `false`).
    pub ports: bool,
    /// The proxy's endpoint names (a port of one of them gets that endpoint's address).
    pub endpoints: Vec<String>,
}

/// What a schema's name is written after in the locations that point at it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum SchemaPrefix {
    /// `{proxy}?xsd=` (Axis2's default).
    #[default]
    Service,
    /// Nothing (`showAbsoluteSchemaURL`): the name alone, a fetched schema's URL.
    Nothing,
    /// The address the request reached the proxy at, and `?xsd=` (`showProxySchemaURL`).
    Request,
}

/// A location's value: the text written, and what a request puts before it.
type Value = (String, Option<Fill>);

impl Style {
    /// `rest` after the service's address (`{proxy}`, or with `generateAbsoluteLocationURIs`
    /// the service's HTTP address).
    fn service(&self, proxy: &str, rest: String) -> Value {
        if self.absolute {
            (rest, Some(Fill::ServiceAddress))
        } else {
            (format!("{proxy}{rest}"), None)
        }
    }

    /// Where a schema named `name` is pointed at.
    fn schema(&self, proxy: &str, name: &str) -> Value {
        let named = with_dot(name);
        match self.schema_prefix {
            SchemaPrefix::Service => self.service(proxy, format!("?xsd={named}")),
            SchemaPrefix::Nothing => (named, None),
            SchemaPrefix::Request => (format!("?xsd={named}"), Some(Fill::RequestAddress)),
        }
    }

    /// The address a port is given, by its name and its location as written.
    fn port(&self, port: &xsd::PortAddress) -> Fill {
        let scheme = |s: &str| {
            s.split_once("://")
                .map(|(s, _)| s.to_ascii_lowercase())
                .filter(|s| s == "http" || s == "https")
        };
        let endpoint = self.endpoints.iter().find(|e| **e == port.port).map(|e| {
            let s = if e.contains("Https") { "https" } else { "http" };
            (s.to_string(), e.clone())
        });
        Fill::Port {
            endpoint,
            scheme: if port.location == "REPLACE_WITH_ACTUAL_URL" {
                None
            } else {
                scheme(&port.location)
            },
            original: port.location.clone(),
        }
    }
}

/// What a request fills in a served document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fill {
    /// The service's HTTP address (else its HTTPS one): `generateAbsoluteLocationURIs`.
    ServiceAddress,
    /// The address the request reached the service at: `showProxySchemaURL`.
    RequestAddress,
    /// A port's address: the proxy's endpoint of that name (scheme, name), else the proxy's
    /// address with the scheme of the location as written (`None`: the first address), else
    /// the location as written.
    Port {
        endpoint: Option<(String, String)>,
        scheme: Option<String>,
        original: String,
    },
}

/// Where a request reaches a proxy service: `{scheme}://{host}:{port}/services/{name}` for each
/// listener it is exposed on and the gateway serves, and the one the request came through.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceAddresses {
    pub http: Option<String>,
    pub https: Option<String>,
    pub request: String,
}

/// A document served at `?wsdl`, `?wsdl=` or `?xsd=`: its text, and the addresses a request
/// writes into it (at byte offsets of the text, in order).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServedDoc {
    pub text: Arc<str>,
    pub fills: Vec<(usize, Fill)>,
}

impl std::ops::Deref for ServedDoc {
    type Target = str;
    /// The text, before a request fills it.
    fn deref(&self) -> &str {
        &self.text
    }
}

impl std::fmt::Display for ServedDoc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl ServedDoc {
    fn plain(text: Arc<str>) -> ServedDoc {
        ServedDoc {
            text,
            fills: Vec::new(),
        }
    }

    /// The document as the request that reached the service at `at` is answered.
    pub fn render(&self, at: &ServiceAddresses) -> String {
        let mut out = String::with_capacity(self.text.len() + self.fills.len() * 64);
        let mut from = 0;
        for (i, fill) in &self.fills {
            out.push_str(&self.text[from..*i]);
            from = *i;
            let value = match fill {
                Fill::ServiceAddress => at.http.clone().or_else(|| at.https.clone()),
                Fill::RequestAddress => Some(at.request.clone()),
                Fill::Port {
                    endpoint,
                    scheme,
                    original,
                } => {
                    let of = |s: &str| match s {
                        "https" => at.https.clone(),
                        _ => at.http.clone(),
                    };
                    endpoint
                        .as_ref()
                        .and_then(|(s, e)| of(s).map(|a| format!("{a}.{e}")))
                        .or_else(|| match scheme {
                            Some(s) => of(s),
                            None => at.http.clone().or_else(|| at.https.clone()),
                        })
                        .or_else(|| Some(original.clone()))
                }
            };
            if let Some(v) = value {
                synaptic_payload::xml::escape_attr_into(&mut out, &v);
            }
        }
        out.push_str(&self.text[from..]);
        out
    }
}

/// `text` with `changes` (ranges of raw attribute values, any order) written, and the fills of
/// their values.
fn written(text: &Arc<str>, mut changes: Vec<(Range<usize>, Value)>) -> ServedDoc {
    if changes.is_empty() {
        return ServedDoc::plain(text.clone());
    }
    changes.sort_by_key(|(r, _)| r.start);
    let plain: Vec<(Range<usize>, String)> = changes
        .iter()
        .map(|(r, (v, _))| (r.clone(), v.clone()))
        .collect();
    let (out, spans) = xsd::rewrite_spans(text, &plain);
    let fills = changes
        .into_iter()
        .zip(spans)
        .filter_map(|((_, (_, f)), span)| f.map(|f| (span.start, f)))
        .collect();
    ServedDoc {
        text: Arc::from(out),
        fills,
    }
}

/// The schemas of `wsdl` (read from `base`) for the proxy `proxy`, and the documents its
/// `wsdl:import`s read, their locations written as `style` has them. `Err` says which
/// document cannot be served and why (the proxy is not deployed, as Axis2 fails to build its
/// service).
pub(crate) fn serve(
    reader: Option<&dyn WsdlReader>,
    resources: &Resources,
    wsdl: &Arc<str>,
    base: Base,
    proxy: &str,
    style: &Style,
) -> Result<Served, String> {
    let Ok(root) = xsd::externals(wsdl) else {
        // not XML: reported as such by the caller
        return Ok(Served {
            wsdl: ServedDoc::plain(wsdl.clone()),
            schemas: Vec::new(),
            imports: Vec::new(),
        });
    };
    let mut w = Walk {
        reader,
        resources,
        docs: Vec::new(),
        by_source: HashMap::new(),
        count: 0,
        bytes: 0,
        wsdl_docs: Vec::new(),
        wsdl_by_source: HashMap::new(),
        wsdl_bytes: 0,
        imports: Vec::new(),
    };
    let main = w.visit_wsdl(wsdl.clone(), &root, &base, "the WSDL", 1)?;
    let link =
        |(r, i): &Link, docs: &[Doc]| i.map(|i| (r.clone(), style.schema(proxy, &docs[i].name)));
    // the locations of a WSDL document (the published one or one it imports), as Axis2
    // writes them: its schemas' by Axis2's names (`useOriginalwsdl`: each relative one as
    // written), its relative imports' at `?wsdl=` and the location as written, its ports'
    // addresses the proxy's
    let rewritten = |d: &WsdlDoc| {
        let mut changes: Vec<(Range<usize>, Value)> = if style.original {
            d.links
                .iter()
                .filter(|(_, l)| !l.contains("://") && !l.contains("?xsd="))
                .map(|((r, _), l)| (r.clone(), style.service(proxy, format!("?xsd={l}"))))
                .collect()
        } else {
            d.links
                .iter()
                .filter_map(|(l, _)| link(l, &w.docs))
                .collect()
        };
        changes.extend(
            d.imports
                .iter()
                .filter(|m| !m.location.contains("://") && !m.location.contains("?wsdl="))
                .map(|m| {
                    (
                        m.at.clone(),
                        style.service(proxy, format!("?wsdl={}", m.location)),
                    )
                }),
        );
        if style.ports {
            changes.extend(
                d.ports
                    .iter()
                    .map(|p| (p.at.clone(), (String::new(), Some(style.port(p))))),
            );
        }
        written(&d.text, changes)
    };
    let text = rewritten(&main);
    let served: Vec<ServedDoc> = w.wsdl_docs.iter().map(rewritten).collect();
    let imports = w
        .imports
        .iter()
        .map(|(l, i)| (l.clone(), served[*i].clone()))
        .collect();
    let schemas = w
        .docs
        .iter()
        .map(|d| {
            let changes: Vec<_> = d.links.iter().filter_map(|l| link(l, &w.docs)).collect();
            (d.name.clone(), written(&d.text, changes))
        })
        .collect();
    Ok(Served {
        wsdl: text,
        schemas,
        imports,
    })
}

/// The document served for `?wsdl={asked}`, as `AxisService.printUserWSDL` finds it: the
/// first import, in [`Served::imports`]'s order, whose location as written ends with `asked`.
pub fn find_import<'s, T>(imports: &'s [(String, T)], asked: &str) -> Option<&'s T> {
    imports
        .iter()
        .find(|(l, _)| l.ends_with(asked))
        .map(|(_, t)| t)
}

/// The schema served for `?xsd={asked}`, as `AxisService.printXSD` looks it up: by name,
/// else by the name without its extension (and without `./`).
pub fn find_schema<'s, T>(schemas: &'s [(String, T)], asked: &str) -> Option<&'s T> {
    if let Some((_, t)) = schemas.iter().find(|(n, _)| n == asked) {
        return Some(t);
    }
    let dot = asked.rfind('.').filter(|&d| d > 0)?;
    let key = asked[..dot].replace("./", "");
    schemas.iter().find(|(n, _)| *n == key).map(|(_, t)| t)
}

/// A name as it appears in a location: with `.xsd` when it has no dot.
fn with_dot(name: &str) -> String {
    if name.contains('.') {
        name.to_string()
    } else {
        format!("{name}.xsd")
    }
}

impl Walk<'_> {
    /// Resolve the schemas and the imports of a WSDL document (`read`, from `base`,
    /// named `shown` in messages; `depth`: 1 for the published one), and those of the
    /// documents it imports, depth first. Returns its schemas' links, with each location as
    /// written, and its imports.
    fn visit_wsdl(
        &mut self,
        text: Arc<str>,
        read: &xsd::Externals,
        base: &Base,
        shown: &str,
        depth: usize,
    ) -> Result<WsdlDoc, String> {
        let links = self.visit(&read.externals, base, shown, 1)?;
        let links = links
            .into_iter()
            .zip(read.externals.iter().map(|e| e.location.clone()))
            .collect();
        let mut imports = Vec::with_capacity(read.imports.len());
        for e in &read.imports {
            let loc = e.location.as_str();
            let found = self.resolve(loc, base).map_err(|why| {
                format!("the WSDL `{loc}` that {shown} imports cannot be read: {why}")
            })?;
            let Some((source, doc_base, text)) = found else {
                imports.push(Import {
                    at: e.at.clone(),
                    location: loc.to_string(),
                });
                continue;
            };
            if let Some(&i) = self.wsdl_by_source.get(&source) {
                self.imports.push((loc.to_string(), i));
                imports.push(Import {
                    at: e.at.clone(),
                    location: loc.to_string(),
                });
                continue;
            }
            if depth > MAX_WSDL_IMPORT_DEPTH {
                return Err(format!(
                    "the WSDL `{loc}` that {shown} imports is more than \
                     {MAX_WSDL_IMPORT_DEPTH} levels of imports below the published WSDL"
                ));
            }
            if self.wsdl_docs.len() >= MAX_WSDL_IMPORTS {
                return Err(format!(
                    "the WSDL `{loc}` that {shown} imports is one more than the \
                     {MAX_WSDL_IMPORTS} documents a published WSDL may import"
                ));
            }
            self.wsdl_bytes += text.len();
            if self.wsdl_bytes > synaptic_syntax::wsdl::MAX_TOTAL_BYTES {
                return Err(format!(
                    "the documents the WSDL imports, up to `{loc}`, are larger than {} MiB \
                     together",
                    synaptic_syntax::wsdl::MAX_TOTAL_BYTES / (1024 * 1024)
                ));
            }
            let parsed = match xsd::externals(&text) {
                // a WSDL 2.0 description imports and includes WSDL 2.0 descriptions only, as
                // Woden reads them
                Ok(r) if read.is_wsdl20 && r.is_wsdl20 => r,
                Ok(_) if read.is_wsdl20 => {
                    return Err(format!(
                        "the document `{loc}` that {shown} imports or includes is not a WSDL \
                         2.0 <description>"
                    ))
                }
                Ok(r) if r.is_wsdl11 || r.is_schema => r,
                Ok(_) => {
                    return Err(format!(
                        "the document `{loc}` that {shown} imports is neither a WSDL 1.1 \
                         <definitions> nor a schema"
                    ))
                }
                Err(why) => {
                    return Err(format!(
                        "the WSDL `{loc}` that {shown} imports is not XML: {why}"
                    ))
                }
            };
            let i = self.wsdl_docs.len();
            self.wsdl_by_source.insert(source, i);
            // a placeholder until its own imports are read (a cycle finds it here)
            self.wsdl_docs.push(WsdlDoc {
                text: text.clone(),
                links: Vec::new(),
                imports: Vec::new(),
                ports: Vec::new(),
            });
            self.imports.push((loc.to_string(), i));
            imports.push(Import {
                at: e.at.clone(),
                location: loc.to_string(),
            });
            let doc = self.visit_wsdl(text, &parsed, &doc_base, &format!("`{loc}`"), depth + 1)?;
            self.wsdl_docs[i] = doc;
        }
        Ok(WsdlDoc {
            text,
            links,
            imports,
            ports: read.ports.clone(),
        })
    }

    /// Resolve `externals` (of a document read from `base`, named `shown` in messages), and
    /// theirs, depth first, naming each new schema before its own imports, as
    /// `AxisService.calculateSchemaNames` does.
    fn visit(
        &mut self,
        externals: &[xsd::External],
        base: &Base,
        shown: &str,
        depth: usize,
    ) -> Result<Vec<Link>, String> {
        let mut links = Vec::with_capacity(externals.len());
        for e in externals {
            let loc = e.location.as_str();
            let found = self
                .resolve(loc, base)
                .map_err(|why| format!("the schema `{loc}` of {shown} cannot be read: {why}"))?;
            let Some((source, base, text)) = found else {
                links.push((e.at.clone(), None));
                continue;
            };
            if let Some(&i) = self.by_source.get(&source) {
                links.push((e.at.clone(), Some(i)));
                continue;
            }
            if depth > MAX_SCHEMA_DEPTH {
                return Err(format!(
                    "the schema `{loc}` of {shown} is imported more than {MAX_SCHEMA_DEPTH} \
                     levels below the WSDL"
                ));
            }
            if self.docs.len() >= MAX_SCHEMAS {
                return Err(format!(
                    "the schema `{loc}` of {shown} is one more than the {MAX_SCHEMAS} schemas \
                     a published WSDL may import"
                ));
            }
            self.bytes += text.len();
            if self.bytes > MAX_SCHEMA_BYTES {
                return Err(format!(
                    "the schemas of the WSDL, up to `{loc}`, are larger than {} MiB together",
                    MAX_SCHEMA_BYTES / (1024 * 1024)
                ));
            }
            let read = match xsd::externals(&text) {
                Ok(r) if r.is_schema => r,
                Ok(_) => {
                    return Err(format!(
                        "the schema `{loc}` of {shown} is not an XML schema (its root is not \
                         xsd:schema)"
                    ))
                }
                Err(why) => return Err(format!("the schema `{loc}` of {shown} is not XML: {why}")),
            };
            let i = self.docs.len();
            let name = self.name_of(&source);
            self.by_source.insert(source, i);
            self.docs.push(Doc {
                name,
                text,
                links: Vec::new(),
            });
            links.push((e.at.clone(), Some(i)));
            let own = self.visit(&read.externals, &base, &format!("`{loc}`"), depth + 1)?;
            self.docs[i].links = own;
        }
        Ok(links)
    }

    /// Where `loc` (named by a document read from `base`) is: its source (what names it),
    /// what its own locations resolve against, and its text. `Ok(None)`: not read here (a
    /// registry key lint does not read, a URL a host that fetches nothing leaves).
    fn resolve(&self, loc: &str, base: &Base) -> Result<Found, String> {
        if let Some((key, text)) = self.resources.get(loc) {
            return Ok(text.as_ref().map(|t| {
                (
                    format!("synapse-reg:///{key}"),
                    Base::Resource(key.clone()),
                    t.clone(),
                )
            }));
        }
        let Some(reader) = self.reader else {
            return Ok(None);
        };
        if is_http(loc) {
            return fetch(reader, loc);
        }
        match base {
            Base::Http(u) => {
                let joined = url::Url::parse(u)
                    .and_then(|u| u.join(loc))
                    .map_err(|e| format!("not a URL relative to the document ({e})"))?;
                if !is_http(joined.as_str()) {
                    return Err("a document fetched over http(s) imports only http(s) URLs".into());
                }
                fetch(reader, joined.as_str())
            }
            Base::File(id) => read(reader, loc, Some(id)),
            Base::Project => read(reader, loc, None),
            // an absolute URL (a `file:` one: other schemes are not read)
            Base::Resource(_) if has_scheme(loc) => read(reader, loc, None),
            Base::Resource(key) => Err(format!(
                "it is no <resource> location of the proxy, and the resource `{key}` it is \
                 imported from has no location of its own to resolve it against"
            )),
        }
    }

    /// Axis2's name for the schema read from `source` (`AxisService.insertIntoNameTable`).
    fn name_of(&mut self, source: &str) -> String {
        if source.starts_with("http") {
            return source.to_string();
        }
        let last = &source[source.rfind(['/', '\\']).map_or(0, |i| i + 1)..];
        let mut name = match last.strip_suffix(".xsd") {
            Some(stem) => stem.to_string(),
            None => {
                let n = format!("xsd{}", self.count);
                self.count += 1;
                n
            }
        };
        while self.docs.iter().any(|d| d.name == name) {
            name = format!("{name}{}", self.count);
            self.count += 1;
        }
        name
    }
}

fn fetch(reader: &dyn WsdlReader, url: &str) -> Result<Found, String> {
    if !reader.fetches() {
        return Ok(None);
    }
    let t = reader.fetch(url)?;
    Ok(Some((masked(url), Base::Http(url.to_string()), t.text)))
}

fn read(reader: &dyn WsdlReader, loc: &str, from: Option<&str>) -> Result<Found, String> {
    let t = reader.read(loc, from)?;
    // a file URL: Axis2 names the schema by the path's last segment
    let source = match t.id.strip_prefix('/') {
        Some(path) => format!("file:///{path}"),
        None => format!("file:///{}", t.id),
    };
    Ok(Some((source, Base::File(t.id.clone()), t.text)))
}

/// `url` without its password (a schema fetched over http(s) is named by its URL, and the
/// name is written in the documents served).
fn masked(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(None);
            let _ = u.set_username("");
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// Whether `location` is an `http:` or `https:` URL.
pub(crate) fn is_http(location: &str) -> bool {
    location
        .split_once(':')
        .is_some_and(|(s, _)| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https"))
}

/// Whether `location` starts with a URL scheme (not a Windows drive letter).
fn has_scheme(location: &str) -> bool {
    location.split_once(':').is_some_and(|(s, _)| {
        s.len() > 1
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_axis2s_name_table() {
        let resources = Resources::new();
        let mut w = Walk {
            reader: None,
            resources: &resources,
            docs: Vec::new(),
            by_source: HashMap::new(),
            count: 0,
            bytes: 0,
            wsdl_docs: Vec::new(),
            wsdl_by_source: HashMap::new(),
            wsdl_bytes: 0,
            imports: Vec::new(),
        };
        let mut named = |source: &str| {
            let n = w.name_of(source);
            w.docs.push(Doc {
                name: n.clone(),
                text: Arc::from(""),
                links: Vec::new(),
            });
            n
        };
        assert_eq!(named("synapse-reg:///gov:/schemas/a.xsd"), "a");
        assert_eq!(named("synapse-reg:///types"), "xsd0");
        assert_eq!(named("file:///p/b/a.xsd"), "a1");
        assert_eq!(named("file:///p/a.XSD"), "xsd2");
        assert_eq!(named("http://h/s/a.xsd"), "http://h/s/a.xsd");
        assert_eq!(with_dot("xsd0"), "xsd0.xsd");
        assert_eq!(with_dot("http://h.example/s/a"), "http://h.example/s/a");
    }

    #[test]
    fn a_url_names_a_schema_without_its_user_information() {
        assert_eq!(masked("http://u:secret@h/a.xsd"), "http://h/a.xsd");
        assert_eq!(masked("https://h/a.xsd?x=1"), "https://h/a.xsd?x=1");
    }

    #[test]
    fn what_the_host_does_not_read_keeps_its_location() {
        let mut resources = Resources::new();
        resources.insert("c.xsd".into(), ("gov:/c.xsd".into(), None));
        let wsdl: Arc<str> = Arc::from(
            r#"<d xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:schema><xs:import schemaLocation="c.xsd"/><xs:include schemaLocation="http://h/i.xsd"/></xs:schema></d>"#,
        );
        let s = serve(
            None,
            &resources,
            &wsdl,
            Base::Project,
            "P",
            &Style::default(),
        )
        .unwrap();
        assert_eq!(s.wsdl.text, wsdl);
        assert!(s.schemas.is_empty());
        // useOriginalwsdl rewrites the relative ones whatever is read
        let original = Style {
            original: true,
            ..Style::default()
        };
        let s = serve(None, &resources, &wsdl, Base::Project, "P", &original).unwrap();
        assert!(
            s.wsdl.contains(r#"schemaLocation="P?xsd=c.xsd""#),
            "{}",
            s.wsdl
        );
        assert!(
            s.wsdl.contains(r#"schemaLocation="http://h/i.xsd""#),
            "{}",
            s.wsdl
        );
    }
}
