//! A proxy service's `<publishWSDL>`, resolved when the artifacts are compiled, as Synapse's
//! `ProxyService.buildAxisService` reads it when it deploys the proxy: an inline document, a
//! local entry or a registry resource (`key`), a file (`uri`, read through the host's
//! [`crate::WsdlReader`], as `<wsdl>` endpoints' documents are), an `http(s)` `uri` or the
//! address of an `endpoint` (with `?wsdl`), fetched by the host, with the schemas its types
//! import, include or redefine (through the `<resource location key>`s, or relative to the
//! document), named and pointed at as Axis2 serves them (`crate::publish_schemas`). The
//! document's operations are what requests to the proxy are dispatched to (`OperationName`,
//! `OperationNamespace`).
//!
//! As in Synapse, a `key` or `endpoint` naming nothing, a document that is not XML, or one
//! that is neither WSDL 1.1 nor WSDL 2.0 fails the proxy's deployment (E0123); a `uri` (or
//! an endpoint's WSDL) that cannot be read or fetched does too, unless the proxy's
//! `enablePublishWSDLSafeMode` parameter is `true`: then the proxy is not started (W0123), as
//! Synapse skips it. Where the host reads no registry and fetches nothing (`synaptic lint`), a
//! key or endpoint the linted files do not define is a warning (W0124).

use std::collections::HashMap;
use std::sync::Arc;

use synaptic_diag::{codes, Diagnostic, Spanned};
use synaptic_syntax::ast;
use synaptic_syntax::wsdl::{document_version, WsdlOperation, WsdlVersion};

use crate::compiler::Compiler;
use crate::proxy_wsdl::{is_true, parameter, GeneratedWsdl};
use crate::publish_schemas::{
    self, is_http, Base, Resources, SchemaPrefix, ServedDoc, ServiceAddresses, Style,
};

/// What a proxy publishes.
#[derive(Clone, Debug, Default)]
pub struct PublishedWsdl {
    /// The document, answered to `GET /services/{name}?wsdl`, its schemas' locations
    /// pointing at `{name}?xsd=…`.
    pub text: ServedDoc,
    /// The schemas it imports, includes or redefines, and theirs, by Axis2's name for them
    /// (`common`, `xsd0`, or a URL), their own locations pointing at `{name}?xsd=…`: the
    /// answers to `GET /services/{name}?xsd=…` (looked up with [`crate::find_schema`]).
    pub schemas: Vec<(String, ServedDoc)>,
    /// The documents its `wsdl:import`s (WSDL 2.0: `import`s and `include`s) read, and
    /// theirs, their own locations rewritten alike, by the import's `location` as written: the answers to `GET …?wsdl=NAME`
    /// (looked up with [`crate::find_import`]).
    pub imports: Vec<(String, ServedDoc)>,
}

impl PublishedWsdl {
    /// The schemas of the service as Axis2 lists them (`AxisService.getSchema()`), as the
    /// request that reached it at `at` is answered: the `xsd:schema`s of the published
    /// document's types, then those of the documents it imports (or includes), each a
    /// document of its own.
    pub fn service_schemas(&self, at: &ServiceAddresses) -> Vec<String> {
        let mut docs: Vec<&ServedDoc> = vec![&self.text];
        for (_, d) in &self.imports {
            if !docs.iter().any(|x| Arc::ptr_eq(&x.text, &d.text)) {
                docs.push(d);
            }
        }
        docs.into_iter()
            .filter_map(|d| synaptic_syntax::xsd::externals(&d.render(at)).ok())
            .flat_map(|e| e.schemas)
            .collect()
    }
}

/// A proxy's `<publishWSDL>` compiled.
pub(crate) enum Outcome {
    /// The document and its operations.
    Published(PublishedWsdl, Vec<WsdlOperation>),
    /// Nothing published (no `<publishWSDL>`, `endpoint=`, a key left for deployment).
    Nothing,
    /// Synapse does not start the proxy (`enablePublishWSDLSafeMode` and a `uri` that cannot
    /// be read).
    NotStarted,
    /// An error was reported: the proxy is not deployed.
    Failed,
}

impl Compiler<'_> {
    /// Resolve `p`'s `<publishWSDL>`; `endpoints`: the named endpoints of the artifacts.
    pub(crate) fn publish_wsdl(
        &mut self,
        p: &ast::Proxy,
        endpoints: &HashMap<&str, &ast::Endpoint>,
    ) -> Outcome {
        let Some(w) = &p.publish_wsdl else {
            return Outcome::Nothing;
        };
        let name = &p.name.value;
        let (text, at, base) = match &w.from {
            ast::WsdlFrom::Nothing => return Outcome::Nothing,
            ast::WsdlFrom::Inline(t) => (Arc::<str>::from(t.value.as_str()), t.span, Base::Project),
            ast::WsdlFrom::Key(k) => {
                let Some(k) = self.deployed(k) else {
                    return Outcome::Failed;
                };
                let Some(k) = k else {
                    return Outcome::Nothing;
                };
                match self.keyed_document(&k, name, true) {
                    Keyed::Found(t) => (t, k.span, Base::Project),
                    Keyed::Unchecked => {
                        // its resources are still looked at (lint: W0124)
                        return match self.resources(w, name) {
                            Some(_) => Outcome::Nothing,
                            None => Outcome::Failed,
                        };
                    }
                    Keyed::Failed => return Outcome::Failed,
                }
            }
            ast::WsdlFrom::Uri(u) => {
                let Some(u) = self.deployed(u) else {
                    return Outcome::Failed;
                };
                let Some(u) = u else {
                    return Outcome::Nothing;
                };
                match self.wsdl_at(p, u.value.trim(), u.span) {
                    Ok((t, base)) => (t, u.span, base),
                    Err(o) => return o,
                }
            }
            ast::WsdlFrom::Endpoint(e) => {
                let location = match self.endpoint_wsdl(p, e, endpoints) {
                    Ok(Some(l)) => l,
                    Ok(None) => return Outcome::Nothing,
                    Err(o) => return o,
                };
                // Synapse's base URI for the WSDL's imports is the proxy's `uri`, and its
                // home without one: an endpoint's WSDL imports resolve against the project
                match self.wsdl_at(p, &location, e.span) {
                    Ok((t, _)) => (t, e.span, Base::Project),
                    Err(o) => return o,
                }
            }
        };
        let wsdl11 = match document_version(&text) {
            Ok(v) => v == WsdlVersion::Wsdl11,
            Err(why) => {
                self.err(codes::E0123, at, format!("proxy `{name}`: {why}"));
                return Outcome::Failed;
            }
        };
        let Some(resources) = self.resources(w, name) else {
            return Outcome::Failed;
        };
        let reader = self.opts.wsdl.clone();
        let served = publish_schemas::serve(
            reader.as_ref().map(|r| &*r.0),
            &resources,
            &text,
            base,
            name,
            &style_of(p),
        );
        match served {
            Ok(s) => {
                // the operations of its port types and of those of the documents it imports;
                // of a WSDL 2.0 description, those of its first service's interface, wherever
                // the description or the ones it imports or includes declare it
                let imported: Vec<&str> = s.imports.iter().map(|(_, t)| &*t.text).collect();
                let ops = if wsdl11 {
                    synaptic_syntax::wsdl::operations_of_documents(&s.wsdl.text, &imported)
                        .unwrap_or_default()
                } else {
                    match synaptic_syntax::wsdl::operations_of_wsdl20(&s.wsdl.text, &imported) {
                        Ok(ops) => ops,
                        Err(why) => {
                            // no service can be built from it: the proxy is not deployed,
                            // safe mode or not
                            self.err(codes::E0123, at, format!("proxy `{name}`: {why}"));
                            return Outcome::Failed;
                        }
                    }
                };
                Outcome::Published(
                    PublishedWsdl {
                        text: s.wsdl,
                        schemas: s.schemas,
                        imports: s.imports,
                    },
                    ops,
                )
            }
            Err(why) => {
                // Axis2 cannot build the service: the proxy is not deployed, safe mode or not
                self.err(codes::E0123, at, format!("proxy `{name}`: {why}"));
                Outcome::Failed
            }
        }
    }

    /// The keys and documents of `w`'s `<resource location key>`s, by location as written;
    /// `None` when one fails the proxy (E0123, reported).
    fn resources(&mut self, w: &ast::PublishWsdl, proxy: &str) -> Option<Resources> {
        let mut resources = Resources::new();
        let mut failed = false;
        for (location, key) in &w.resources {
            let text = match self.keyed_document(key, proxy, false) {
                Keyed::Found(t) => Some(t),
                Keyed::Unchecked => None,
                Keyed::Failed => {
                    failed = true;
                    continue;
                }
            };
            // a location given twice: the later key, as Synapse's resource map keeps it
            resources.insert(location.value.clone(), (key.value.trim().to_string(), text));
        }
        (!failed).then_some(resources)
    }

    /// The document at `location` (a proxy's `uri`, or what its `endpoint` gives): an
    /// `http(s)` URL fetched through the host (left for deployment when the host fetches
    /// nothing), else a file read through the host. A document that cannot be read fails the
    /// proxy's deployment (E0123), or leaves the proxy unstarted in safe mode (W0123), as
    /// `ProxyService.buildAxisService` handles the `IOException` of reading it.
    fn wsdl_at(
        &mut self,
        p: &ast::Proxy,
        location: &str,
        at: synaptic_diag::Span,
    ) -> Result<(Arc<str>, Base), Outcome> {
        let name = &p.name.value;
        let location = location.trim();
        let read = match &self.opts.wsdl {
            _ if location.starts_with('{') => Err(format!(
                "`{location}` is evaluated per message, but a published WSDL is read when the \
                 project is loaded"
            )),
            Some(r) if is_http(location) => {
                if !r.0.fetches() {
                    return Err(Outcome::Nothing);
                }
                r.0.fetch(location)
                    .map(|t| (t.text, Base::Http(location.to_string())))
            }
            Some(r) => r.0.read(location, None).map(|t| (t.text, Base::File(t.id))),
            None if is_http(location) => return Err(Outcome::Nothing),
            None => Err(format!(
                "the WSDL `{location}` is not read here (no project folder)"
            )),
        };
        match read {
            Ok(t) => Ok(t),
            Err(why) if p.wsdl_safe_mode => {
                self.diags.push(Diagnostic::warning(
                    codes::W0123,
                    at,
                    format!(
                        "proxy `{name}` is not started: {why} \
                         (enablePublishWSDLSafeMode is true)"
                    ),
                ));
                Err(Outcome::NotStarted)
            }
            Err(why) => {
                self.err(codes::E0123, at, format!("proxy `{name}`: {why}"));
                Err(Outcome::Failed)
            }
        }
    }

    /// Where `<publishWSDL endpoint="e">` reads the WSDL, as `ProxyService.buildAxisService`
    /// takes it: an address endpoint's address with `?wsdl` appended, a `<wsdl>` endpoint's
    /// `uri`. Any other endpoint, or a name no artifact defines, fails the proxy's
    /// deployment (E0123); `synaptic lint`, which fetches nothing, warns (W0124) of a name the
    /// linted files do not define, since Synapse may find the endpoint in the registry.
    /// `Ok(None)`: left for deployment (a deploy-time parameter `lint` does not resolve).
    fn endpoint_wsdl(
        &mut self,
        p: &ast::Proxy,
        e: &Spanned<String>,
        endpoints: &HashMap<&str, &ast::Endpoint>,
    ) -> Result<Option<String>, Outcome> {
        let proxy = &p.name.value;
        // the name takes deploy-time parameters, as Micro Integrator resolves it
        let Some(e) = self.deployed(e) else {
            return Err(Outcome::Failed);
        };
        let Some(e) = e else {
            return Ok(None);
        };
        let k = e.value.trim();
        let Some(ep) = endpoints.get(k) else {
            let fetches = self.opts.wsdl.as_ref().is_some_and(|r| r.0.fetches());
            if fetches || self.opts.unavailable.iter().any(|u| u == k) {
                self.err(
                    codes::E0123,
                    e.span,
                    format!("proxy `{proxy}`: the WSDL endpoint `{k}` names no deployed endpoint"),
                );
                return Err(Outcome::Failed);
            }
            self.warn(
                codes::W0124,
                e.span,
                format!(
                    "proxy `{proxy}`: no endpoint named `{k}` in the linted files; the proxy \
                     deploys only if the endpoint is found where it deploys (Synapse also looks \
                     in the registry)"
                ),
            );
            return Ok(None);
        };
        let at = match &ep.kind {
            ast::EndpointKind::Address { uri } => uri,
            ast::EndpointKind::Wsdl(w) => match &w.uri {
                Some(u) => u,
                None => {
                    self.err(
                        codes::E0123,
                        e.span,
                        format!(
                            "proxy `{proxy}`: the WSDL endpoint `{k}` holds its WSDL inline: \
                             Synapse reads a published WSDL from a <wsdl> endpoint's uri only"
                        ),
                    );
                    return Err(Outcome::Failed);
                }
            },
            _ => {
                self.err(
                    codes::E0123,
                    e.span,
                    format!(
                        "proxy `{proxy}`: the WSDL endpoint `{k}` is neither an <address> nor \
                         a <wsdl> endpoint (Synapse reads the WSDL of those only)"
                    ),
                );
                return Err(Outcome::Failed);
            }
        };
        let Some(at) = self.deployed(at) else {
            return Err(Outcome::Failed);
        };
        Ok(at.map(|u| match &ep.kind {
            ast::EndpointKind::Address { .. } => format!("{}?wsdl", u.value.trim()),
            _ => u.value.trim().to_string(),
        }))
    }

    /// The document a key names: a local entry, else a registry resource read through the
    /// host (E0123 when neither has it; `wsdl`: the key of the WSDL itself, which must be an
    /// XML local entry).
    fn keyed_document(&mut self, key: &Spanned<String>, proxy: &str, wsdl: bool) -> Keyed {
        let k = key.value.trim();
        let what = if wsdl { "WSDL" } else { "resource" };
        if let Some(t) = self.local_entries.get(k) {
            if wsdl && !self.local_xml.contains(k) {
                self.err(
                    codes::E0123,
                    key.span,
                    format!(
                        "proxy `{proxy}`: the local entry `{k}` holds text, not a WSDL document \
                         (Synapse publishes a local entry only when it is XML)"
                    ),
                );
                return Keyed::Failed;
            }
            return Keyed::Found(Arc::from(t.as_str()));
        }
        let unchecked = |c: &mut Self| {
            c.warn(
                codes::W0124,
                key.span,
                format!(
                    "proxy `{proxy}`: the {what} key `{k}` names no local entry of the linted \
                     files; it must be a registry resource where the proxy deploys, or the \
                     proxy is not deployed"
                ),
            );
            Keyed::Unchecked
        };
        let Some(reader) = &self.opts.wsdl else {
            return unchecked(self);
        };
        match reader.0.registry(k) {
            Ok(Some(t)) => Keyed::Found(t.text),
            Ok(None) => unchecked(self),
            Err(why) => {
                self.err(
                    codes::E0123,
                    key.span,
                    format!(
                        "proxy `{proxy}`: the {what} key `{k}` names no local entry and no \
                         registry resource ({why})"
                    ),
                );
                Keyed::Failed
            }
        }
    }
}

/// How the proxy's parameters have its documents' locations written, as Synapse hands them
/// to Axis2: `useOriginalwsdl`, `generateAbsoluteLocationURIs`, `showAbsoluteSchemaURL` and
/// `showProxySchemaURL` (the latter wins, as `buildAxisService` sets it last), and
/// `modifyUserWSDLPortAddress` (only `false` keeps the ports' addresses, and only with
/// `useOriginalwsdl`: otherwise Axis2 prints the proxy's own ports).
fn style_of(p: &ast::Proxy) -> Style {
    let flag = |n: &str| parameter(p, n).is_some_and(is_true);
    Style {
        original: p.use_original_wsdl,
        absolute: flag("generateAbsoluteLocationURIs"),
        schema_prefix: if flag("showProxySchemaURL") {
            SchemaPrefix::Request
        } else if flag("showAbsoluteSchemaURL") {
            SchemaPrefix::Nothing
        } else {
            SchemaPrefix::Service
        },
        ports: !p.use_original_wsdl || parameter(p, "modifyUserWSDLPortAddress") != Some("false"),
        endpoints: GeneratedWsdl::of(p).endpoint_names(),
    }
}

enum Keyed {
    Found(Arc<str>),
    /// Not a local entry, and the registry is not read here (`synaptic lint`: W0124).
    Unchecked,
    Failed,
}
