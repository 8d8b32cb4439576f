//! `<variable>` (Micro Integrator 4.4): `name`, `value` or `expression`, `type`, `action`.

use synaptic_diag::codes;

use crate::ast::{PropertyAction, PropertyValue, Variable};
use crate::parse::{Cx, El};

/// The types a variable may declare.
pub const VARIABLE_TYPES: &[&str] = &[
    "STRING", "BOOLEAN", "INTEGER", "DOUBLE", "LONG", "XML", "JSON",
];

impl<'d, 'a> Cx<'d, 'a> {
    pub(super) fn variable(&mut self, el: El<'d, 'a>) -> Option<Variable> {
        self.check_attrs(
            el,
            &[
                "name",
                "value",
                "expression",
                "type",
                "action",
                "description",
            ],
        );
        let name = self.required(el, "name");
        let action = self.action(el);
        let remove = action == PropertyAction::Remove;
        let value = self.value_or_expression(el, !remove, false);
        let ty = self.attr_s(el, "type");
        if let Some(t) = &ty {
            if !VARIABLE_TYPES.contains(&t.value.as_str()) {
                self.err(
                    codes::E0302,
                    t.span,
                    format!(
                        "unknown variable type `{}`: expected one of {}",
                        t.value,
                        VARIABLE_TYPES.join(", ")
                    ),
                );
                return None;
            }
        }
        if let Some(n) = &name {
            if n.value.is_empty() {
                self.err(codes::E0106, n.span, "a variable needs a non-empty name");
                return None;
            }
        }
        Some(Variable {
            name: name?,
            remove,
            ty,
            value: value.unwrap_or(PropertyValue::None),
        })
    }
}
