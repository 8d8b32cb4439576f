//! `<header name=… value=…|expression=… scope=… action=…>`, or an embedded SOAP header block.

use synaptic_diag::{codes, Spanned};

use crate::ast::*;
use crate::parse::{Cx, El};

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn header(&mut self, el: El<'d, 'a>) -> Option<Header> {
        self.check_attrs(
            el,
            &[
                "name",
                "value",
                "expression",
                "scope",
                "action",
                "description",
            ],
        );
        // without name=, an embedded XML child is a whole SOAP header block
        let embedded = el.attr("name").is_none() && el.elements().next().is_some();
        let name = if embedded {
            Some(Spanned {
                value: String::new(),
                span: el.name_span,
            })
        } else {
            self.required(el, "name")
        };
        let scope = match el.attr("scope") {
            None => Some(HeaderScope::Soap),
            Some(a) if a.value == "default" => Some(HeaderScope::Soap),
            Some(a) if a.value == "transport" => Some(HeaderScope::Transport),
            Some(a) => {
                self.err(
                    codes::E0106,
                    a.value_span,
                    format!(
                        "header scope=\"{}\": expected transport or default",
                        a.value
                    ),
                );
                None
            }
        };
        let action = self.action(el);
        let value = self.value_or_expression(el, action == PropertyAction::Set || embedded, true);
        if let Some(v) = self.attr_s(el, "value") {
            self.placeholder(&v);
        }
        let name = name?;
        let mut namespace = None;
        if let Some((prefix, _)) = name.value.split_once(':') {
            match self.doc.resolve(el.scope, prefix) {
                Some(uri) if !uri.is_empty() => namespace = Some(uri.to_string()),
                _ => {
                    self.err(
                        codes::E0106,
                        name.span,
                        format!(
                            "header name `{}`: namespace prefix `{prefix}` is not declared",
                            name.value
                        ),
                    );
                }
            }
        }
        Some(Header {
            name,
            namespace,
            scope: scope?,
            action,
            value: value?,
        })
    }
}
