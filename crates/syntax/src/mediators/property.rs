//! `<property name=… value=…|expression=…|inline XML scope=… type=… action=… pattern=… group=…>`.

use synaptic_diag::Spanned;

use crate::ast::*;
use crate::parse::{Cx, El};

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn property(&mut self, el: El<'d, 'a>) -> Option<Property> {
        self.check_attrs(
            el,
            &[
                "name",
                "value",
                "expression",
                "scope",
                "type",
                "action",
                "pattern",
                "group",
                "description",
            ],
        );
        // a missing name is reported; the rest of the element is still checked (under an
        // empty name: a file with errors never runs)
        let name = self
            .required(el, "name")
            .or_else(|| Some(Spanned::new(String::new(), el.name_span)));
        let action = self.action(el);
        let value = self.value_or_expression(el, action == PropertyAction::Set, true);
        let pattern = self.attr_s(el, "pattern");
        let group = self.attr_s(el, "group");
        // `group` without `pattern` and a non-numeric `group` are checked by engine::compile
        if let Some(v) = self.attr_s(el, "value") {
            self.placeholder(&v);
        }
        Some(Property {
            name: name?,
            action,
            scope: self.attr_s(el, "scope"),
            ty: self.attr_s(el, "type"),
            // a missing value is reported; checking goes on as for `action="remove"`
            value: value.unwrap_or(PropertyValue::None),
            pattern,
            group,
            description: el.attr("description").map(|a| a.value.to_string()),
        })
    }
}
