//! `<call-template target="…">` with `<with-param name="…" value="…"/>` children (a value
//! written `{xpath}` is an expression, as in Synapse; `expression=` is accepted too; a value
//! written `{{xpath}}` passes the XPath itself, kept as an expression `{xpath}`).

use crate::ast::{CallTemplate, MediatorKind, PropertyValue, WithParam};
use crate::parse::{Cx, El};

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn call_template(&mut self, el: El<'d, 'a>) -> Option<MediatorKind> {
        self.check_attrs(el, &["target", "description", "onError"]);
        let target = self.required(el, "target");
        let mut params = Vec::new();
        for child in self.children(el) {
            match self.syn_name(child) {
                Some("with-param") => {
                    self.check_attrs(child, &["name", "value", "expression"]);
                    let Some(name) = self.required(child, "name") else {
                        continue;
                    };
                    let value = match self.value_or_expression(child, true, false) {
                        Some(PropertyValue::Literal(v))
                            if v.value.trim().starts_with('{')
                                && v.value.trim().ends_with('}')
                                && !v.value.trim().starts_with("{{") =>
                        {
                            // `{get-property('x')}`: an XPath expression
                            let a = child.attr("value")?;
                            let mut e = self.expr(child, a);
                            let t = e.text.trim();
                            e.text = t[1..t.len() - 1].to_string();
                            PropertyValue::Expression(e)
                        }
                        Some(PropertyValue::Literal(v))
                            if v.value.trim().starts_with("{{")
                                && v.value.trim().ends_with("}}") =>
                        {
                            // `{{xpath}}`: the XPath itself is passed (Synapse's escaped
                            // expression), kept as `{xpath}` with its namespaces
                            let a = child.attr("value")?;
                            let mut e = self.expr(child, a);
                            let t = e.text.trim();
                            e.text = t[1..t.len() - 1].to_string();
                            PropertyValue::Expression(e)
                        }
                        Some(v) => v,
                        None => continue,
                    };
                    params.push(WithParam { name, value });
                }
                Some("description") => {}
                _ => self.unknown_element(child, el),
            }
        }
        Some(MediatorKind::CallTemplate(CallTemplate {
            target: target?,
            params,
        }))
    }
}
