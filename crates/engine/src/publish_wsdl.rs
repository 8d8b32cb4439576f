//! A proxy service's `<publishWSDL>`, resolved when the artifacts are compiled, as Synapse's
//! `ProxyService.buildAxisService` reads it when it deploys the proxy: an inline document, a
//! local entry or a registry resource (`key`), or a file (`uri`, read through the host's
//! [`crate::WsdlReader`], as `<wsdl>` endpoints' documents are), with the `<resource location
//! key>`s its imports map to. The document's operations are what requests to the proxy are
//! dispatched to (`OperationName`, `OperationNamespace`).
//!
//! As in Synapse, a `key` naming nothing, a document that is not XML, or one that is neither
//! WSDL 1.1 nor WSDL 2.0 fails the proxy's deployment (E0123); a `uri` that cannot be read
//! does too, unless the proxy's `enablePublishWSDLSafeMode` parameter is `true`: then the
//! proxy is not started (W0123), as Synapse skips it.

use std::sync::Arc;

use synaptic_diag::{codes, Diagnostic, Spanned};
use synaptic_syntax::ast;
use synaptic_syntax::wsdl::{document_version, WsdlOperation, WsdlVersion};

use crate::compiler::Compiler;

/// What a proxy publishes.
#[derive(Clone, Debug, Default)]
pub struct PublishedWsdl {
    /// The document, answered to `GET /services/{name}?wsdl`.
    pub text: Arc<str>,
    /// Each `<resource location key>`: the location as written and the resource's text.
    pub resources: Vec<(String, Arc<str>)>,
}

/// A proxy's `<publishWSDL>` compiled.
pub(crate) enum Outcome {
    /// The document (and its operations: empty for WSDL 2.0, whose requests go to `mediate`).
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
    /// Resolve `p`'s `<publishWSDL>`.
    pub(crate) fn publish_wsdl(&mut self, p: &ast::Proxy) -> Outcome {
        let Some(w) = &p.publish_wsdl else {
            return Outcome::Nothing;
        };
        let name = &p.name.value;
        let (text, at) = match &w.from {
            ast::WsdlFrom::Nothing | ast::WsdlFrom::Endpoint(_) => return Outcome::Nothing,
            ast::WsdlFrom::Inline(t) => (Arc::<str>::from(t.value.as_str()), t.span),
            ast::WsdlFrom::Key(k) => {
                let Some(k) = self.deployed(k) else {
                    return Outcome::Failed;
                };
                let Some(k) = k else {
                    return Outcome::Nothing;
                };
                match self.keyed_document(&k, name, true) {
                    Keyed::Found(t) => (t, k.span),
                    Keyed::Unchecked => return Outcome::Nothing,
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
                // not fetched (ADR 0501), where Synapse would fetch it: the proxy is served
                // without a published WSDL
                let scheme = u.value.trim().split_once(':').map(|(s, _)| s);
                if scheme.is_some_and(|s| {
                    s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https")
                }) {
                    self.diags.push(Diagnostic::warning(
                        codes::W0101,
                        u.span,
                        format!(
                            "proxy `{name}`: the WSDL `{}` is not fetched over the network: save \
                             it in the project and point uri at the file; \
                             /services/{name}?wsdl answers 404",
                            u.value.trim()
                        ),
                    ));
                    return Outcome::Nothing;
                }
                let read = match &self.opts.wsdl {
                    _ if u.value.trim().starts_with('{') => Err(format!(
                        "`{}` is evaluated per message, but a published WSDL is read when the \
                         project is loaded",
                        u.value.trim()
                    )),
                    Some(r) => r.0.read(u.value.trim(), None).map(|t| t.text),
                    None => Err(format!(
                        "the WSDL `{}` is not read here (no project folder)",
                        u.value.trim()
                    )),
                };
                match read {
                    Ok(t) => (t, u.span),
                    Err(why) if p.wsdl_safe_mode => {
                        self.diags.push(Diagnostic::warning(
                            codes::W0123,
                            u.span,
                            format!(
                                "proxy `{name}` is not started: {why} \
                                 (enablePublishWSDLSafeMode is true)"
                            ),
                        ));
                        return Outcome::NotStarted;
                    }
                    Err(why) => {
                        self.err(codes::E0123, u.span, format!("proxy `{name}`: {why}"));
                        return Outcome::Failed;
                    }
                }
            }
        };
        let ops = match document_version(&text) {
            Ok(WsdlVersion::Wsdl11) => {
                synaptic_syntax::wsdl::operations_of_document(&text).unwrap_or_default()
            }
            Ok(WsdlVersion::Wsdl20) => Vec::new(),
            Err(why) => {
                self.err(codes::E0123, at, format!("proxy `{name}`: {why}"));
                return Outcome::Failed;
            }
        };
        let mut resources: Vec<(String, Arc<str>)> = Vec::new();
        let mut failed = false;
        for (location, key) in &w.resources {
            match self.keyed_document(key, name, false) {
                Keyed::Found(t) => {
                    // a location given twice: the later key, as Synapse's resource map keeps it
                    resources.retain(|(l, _)| *l != location.value);
                    resources.push((location.value.clone(), t));
                }
                Keyed::Unchecked => {}
                Keyed::Failed => failed = true,
            }
        }
        if failed {
            return Outcome::Failed;
        }
        Outcome::Published(PublishedWsdl { text, resources }, ops)
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
        let Some(reader) = &self.opts.wsdl else {
            return Keyed::Unchecked;
        };
        match reader.0.registry(k) {
            Ok(Some(t)) => Keyed::Found(t.text),
            Ok(None) => Keyed::Unchecked,
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

enum Keyed {
    Found(Arc<str>),
    /// Not a local entry, and the registry is not read here (`synaptic lint`).
    Unchecked,
    Failed,
}
