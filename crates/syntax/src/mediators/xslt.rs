//! `<xslt>`: transform the message (or the node `source=` selects) with an XSLT stylesheet.
//!
//! ```xml
//! <xslt key="transform.xsl" source="//m0:order" xmlns:m0="urn:orders">
//!   <property name="currency" value="EUR"/>
//!   <property name="id" expression="$ctx:orderId"/>
//! </xslt>
//! ```

use crate::ast::Xslt;
use crate::parse::{Cx, El};

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn xslt(&mut self, el: El<'d, 'a>) -> Option<Xslt> {
        self.check_attrs(el, &["key", "source", "description"]);
        let key = self.required(el, "key");
        let dynamic_key = el.attr("key").and_then(|a| self.dynamic_key(el, a));
        let source = el.attr("source").map(|a| self.expr(el, a));
        let mut params = Vec::new();
        let mut features = Vec::new();
        let mut attributes = Vec::new();
        let mut resources = Vec::new();
        for child in self.children(el) {
            match self.syn_name(child) {
                Some("property") => {
                    self.check_attrs(child, &["name", "value", "expression"]);
                    let name = self.required(child, "name");
                    let value = self.value_or_expression(child, true, false);
                    if let (Some(n), Some(v)) = (name, value) {
                        params.push((n, v));
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
                Some("attribute") => {
                    self.check_attrs(child, &["name", "value"]);
                    if let Some(n) = self.required(child, "name") {
                        attributes.push(n);
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
                Some("description") => {}
                _ => self.unknown_element(child, el),
            }
        }
        Some(Xslt {
            key: key?,
            dynamic_key,
            source,
            params,
            features,
            attributes,
            resources,
        })
    }
}
