//! `<makefault version=… response=…>` with `<code>`, `<reason>`, `<node>`, `<role>`, `<detail>`.

use synaptic_diag::{codes, Diagnostic, Spanned};

use crate::ast::*;
use crate::parse::{Cx, El};
use crate::ser;

const SOAP11_ENV_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const SOAP12_ENV_NS: &str = "http://www.w3.org/2003/05/soap-envelope";

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn makefault(&mut self, el: El<'d, 'a>) -> Option<MakeFault> {
        self.check_attrs(el, &["version", "response", "description"]);
        let version = match el.attr("version") {
            None => Some(FaultVersion::Soap11),
            Some(a) => match &*a.value {
                "soap11" => Some(FaultVersion::Soap11),
                "soap12" => Some(FaultVersion::Soap12),
                "pox" => Some(FaultVersion::Pox),
                other => {
                    self.err(
                        codes::E0106,
                        a.value_span,
                        format!("makefault version=\"{other}\": expected soap11, soap12 or pox"),
                    );
                    None
                }
            },
        };
        let response = self.bool_attr(el, "response").unwrap_or(false);
        let mut ok = version.is_some();
        let version = version.unwrap_or(FaultVersion::Soap11);
        let mut seen: Vec<&str> = Vec::new();
        let mut code = None;
        let mut reason = None;
        let mut node = None;
        let mut role = None;
        let mut detail = None;
        for child in self.children(el) {
            let name = self.syn_name(child);
            let Some(n @ ("code" | "reason" | "node" | "role" | "detail")) = name else {
                if name != Some("description") {
                    self.unknown_element(child, el);
                }
                continue;
            };
            if seen.contains(&n) {
                self.dup_element(child);
                continue;
            }
            seen.push(n);
            match n {
                "code" => {
                    code = self.fault_code(child, version);
                    ok &= code.is_some();
                }
                "reason" => {
                    reason = self.fault_text(child);
                    ok &= reason.is_some();
                }
                "node" | "role" => {
                    self.check_attrs(child, &[]);
                    let (text, span) = self.text_of(child);
                    let v = Spanned::new(text.trim().to_string(), span);
                    if n == "role" {
                        role = Some(v);
                    } else if version == FaultVersion::Soap11 {
                        self.diags.push(Diagnostic::warning(
                            codes::W0101,
                            child.name_span,
                            "<node> is ignored in a SOAP 1.1 fault",
                        ));
                    } else {
                        node = Some(v);
                    }
                }
                _ => detail = Some(self.fault_detail(child)),
            }
        }
        if version != FaultVersion::Pox {
            for (n, present) in [
                ("code", seen.contains(&"code")),
                ("reason", seen.contains(&"reason")),
            ] {
                if !present {
                    self.err(
                        codes::E0114,
                        el.name_span,
                        format!("<makefault> needs a <{n}> (only a pox fault may omit it)"),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(MakeFault {
            version,
            response,
            code,
            reason,
            node,
            role,
            detail,
        })
    }

    pub(crate) fn fault_text(&mut self, el: El<'d, 'a>) -> Option<FaultText> {
        self.check_attrs(el, &["value", "expression"]);
        self.no_children(el);
        match (el.attr("value"), el.attr("expression")) {
            (Some(v), None) => Some(FaultText::Value(self.spanned(v))),
            (None, Some(e)) => Some(FaultText::Expression(self.expr(el, e))),
            (Some(_), Some(e)) => {
                self.err(
                    codes::E0115,
                    e.name_span,
                    format!(
                        "<{}> takes either value= or expression=, not both",
                        el.qname
                    ),
                );
                None
            }
            (None, None) => {
                self.err(
                    codes::E0105,
                    el.name_span,
                    format!("<{}> needs value= or expression=", el.qname),
                );
                None
            }
        }
    }

    pub(crate) fn fault_code(
        &mut self,
        el: El<'d, 'a>,
        version: FaultVersion,
    ) -> Option<FaultCode> {
        match self.fault_text(el)? {
            FaultText::Expression(e) => Some(FaultCode::Expression(e)),
            FaultText::Value(v) => {
                let Some((prefix, local)) = v.value.split_once(':') else {
                    self.err(
                        codes::E0106,
                        v.span,
                        format!(
                            "fault code `{}` must be a QName such as soap11Env:Server",
                            v.value
                        ),
                    );
                    return None;
                };
                let Some(ns) = self.doc.resolve(el.scope, prefix).filter(|u| !u.is_empty()) else {
                    self.err(
                        codes::E0106,
                        v.span,
                        format!(
                            "fault code `{}`: namespace prefix `{prefix}` is not declared",
                            v.value
                        ),
                    );
                    return None;
                };
                let ns = ns.to_string();
                let allowed: &[&str] = match version {
                    FaultVersion::Soap11 => {
                        &["VersionMismatch", "MustUnderstand", "Client", "Server"]
                    }
                    FaultVersion::Soap12 => &[
                        "VersionMismatch",
                        "MustUnderstand",
                        "DataEncodingUnknown",
                        "Sender",
                        "Receiver",
                    ],
                    FaultVersion::Pox => &[],
                };
                let env_ns = match version {
                    FaultVersion::Soap11 => SOAP11_ENV_NS,
                    _ => SOAP12_ENV_NS,
                };
                if version != FaultVersion::Pox {
                    if ns != env_ns {
                        self.err(
                            codes::E0106,
                            v.span,
                            format!(
                                "fault code `{}`: its namespace must be the SOAP envelope \
                                 namespace {env_ns}",
                                v.value
                            ),
                        );
                        return None;
                    }
                    if !allowed.contains(&local) {
                        self.err(
                            codes::E0106,
                            v.span,
                            format!(
                                "fault code `{}`: expected one of {}",
                                v.value,
                                allowed.join(", ")
                            ),
                        );
                        return None;
                    }
                }
                Some(FaultCode::Value {
                    ns,
                    prefix: prefix.to_string(),
                    local: local.to_string(),
                    span: v.span,
                })
            }
        }
    }

    pub(crate) fn fault_detail(&mut self, el: El<'d, 'a>) -> FaultDetail {
        self.check_attrs(el, &["expression"]);
        if let Some(e) = el.attr("expression") {
            self.no_children(el);
            return FaultDetail::Expression(self.expr(el, e));
        }
        let elems: Vec<Spanned<String>> = el
            .elements()
            .map(|c| Spanned::new(ser::element(self.doc, c), c.span))
            .collect();
        if !elems.is_empty() {
            return FaultDetail::Elements(elems);
        }
        let (text, span) = self.raw_content(el);
        FaultDetail::Text(Spanned::new(text, span))
    }
}
