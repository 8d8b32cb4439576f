//! `<clone>`: one copy of the message per `<target>`.
//!
//! ```xml
//! <clone id="c" continueParent="false">
//!   <target><endpoint><address uri="http://a/"/></endpoint></target>
//!   <target sequence="toB"/>
//! </clone>
//! ```

use synaptic_diag::codes;

use crate::ast::CloneM;
use crate::parse::{Cx, El};

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn clone_m(&mut self, el: El<'d, 'a>) -> Option<CloneM> {
        self.check_attrs(el, &["id", "sequential", "continueParent", "description"]);
        let id = self.attr_s(el, "id");
        let sequential = self.bool_attr(el, "sequential").unwrap_or(false);
        let continue_parent = self.bool_attr(el, "continueParent").unwrap_or(false);
        let targets = self.eip_targets(el, "clone");
        if targets.is_empty() {
            self.err(
                codes::E0114,
                el.name_span,
                "<clone> needs at least one <target>",
            );
            return None;
        }
        Some(CloneM {
            id,
            sequential,
            continue_parent,
            targets,
        })
    }
}
