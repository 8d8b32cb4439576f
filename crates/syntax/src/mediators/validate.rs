//! `<validate>`: check the message (or the part `source=` selects) against a schema (JSON Schema
//! or XML Schema) and run `<on-fail>` when it does not conform.
//!
//! ```xml
//! <validate source="json-eval($.order)" cache-schema="true">
//!   <schema key="orderSchema"/>
//!   <on-fail><respond/></on-fail>
//! </validate>
//! ```

use synaptic_diag::codes;

use crate::ast::{Mediator, Validate};
use crate::parse::{Cx, El};

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn validate(&mut self, el: El<'d, 'a>) -> Option<Validate> {
        self.check_attrs(
            el,
            &["source", "cache-schema", "json-source", "description"],
        );
        let source = el.attr("source").map(|a| self.expr(el, a));
        let cache_schema = self.bool_attr(el, "cache-schema").unwrap_or(true);
        let json_source = self.bool_attr(el, "json-source").unwrap_or(false);
        let mut schemas = Vec::new();
        let mut dynamic_keys = Vec::new();
        let mut features = Vec::new();
        let mut resources = Vec::new();
        let mut on_fail: Option<Vec<Mediator>> = None;
        for child in self.children(el) {
            match self.syn_name(child) {
                Some("schema") => {
                    self.check_attrs(child, &["key"]);
                    if self.required(child, "key").is_some() {
                        if let Some(a) = child.attr("key") {
                            schemas.push(self.static_key(a));
                            dynamic_keys.push(self.dynamic_key(child, a));
                        }
                    }
                }
                Some("feature") => {
                    self.check_attrs(child, &["name", "value"]);
                    let name = self.required(child, "name");
                    let value = match child.attr("value") {
                        Some(a) => self.bool_value(a),
                        None => {
                            self.missing_attr(child, "value");
                            None
                        }
                    };
                    if let (Some(n), Some(v)) = (name, value) {
                        features.push((n, v));
                    }
                }
                Some("resource") => {
                    self.check_attrs(child, &["location", "key"]);
                    let location = self.required(child, "location");
                    let key = self.required(child, "key");
                    if let (Some(l), Some(k)) = (location, key) {
                        resources.push((l, k));
                    }
                }
                Some("on-fail") => {
                    self.check_attrs(child, &["description"]);
                    let ms = self.mediators(child);
                    if on_fail.is_some() {
                        self.dup_element(child);
                    } else {
                        on_fail = Some(ms);
                    }
                }
                Some("description") => {}
                _ => self.unknown_element(child, el),
            }
        }
        if schemas.is_empty() {
            self.err(
                codes::E0114,
                el.name_span,
                "<validate> needs at least one <schema key=\"…\"/>",
            );
        }
        let on_fail = match on_fail {
            Some(ms) if !ms.is_empty() => ms,
            _ => {
                self.err(
                    codes::E0114,
                    el.name_span,
                    "<validate> needs a non-empty <on-fail> (the mediators run when the message \
                     does not conform)",
                );
                return None;
            }
        };
        if schemas.is_empty() {
            return None;
        }
        Some(Validate {
            source,
            schemas,
            dynamic_keys,
            cache_schema,
            json_source,
            features,
            resources,
            on_fail,
        })
    }
}
