//! `<throttle>`: Synapse's throttle mediator. The policy is a WS-Policy throttle assertion,
//! inline or named by `key`; it is kept here as XML text and read by the engine (which reads a
//! policy from a local entry the same way).
//!
//! ```xml
//! <throttle id="A" onReject="rejected">
//!   <policy>
//!     <wsp:Policy xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy"
//!                 xmlns:throttle="http://www.wso2.org/products/wso2commons/throttle">
//!       <throttle:MediatorThrottleAssertion>…</throttle:MediatorThrottleAssertion>
//!     </wsp:Policy>
//!   </policy>
//!   <onAccept><call>…</call></onAccept>
//! </throttle>
//! ```

use synaptic_diag::{codes, Spanned};

use crate::ast::{SeqBranch, Throttle};
use crate::parse::{Cx, El};
use crate::ser;
use crate::xml::Node;

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn throttle(&mut self, el: El<'d, 'a>) -> Option<Throttle> {
        self.check_attrs(el, &["id", "onAccept", "onReject", "description"]);
        let id = self.required(el, "id");
        let mut on_accept = el.attr("onAccept").map(|a| SeqBranch::Key(self.spanned(a)));
        let mut on_reject = el.attr("onReject").map(|a| SeqBranch::Key(self.spanned(a)));
        let mut policy = None;
        let mut policy_key = None;
        let mut seen_policy = false;
        for child in self.children(el) {
            match self.syn_name(child) {
                Some("policy") => {
                    if seen_policy {
                        self.dup_element(child);
                        continue;
                    }
                    seen_policy = true;
                    self.check_attrs(child, &["key"]);
                    match child.attr("key") {
                        Some(k) if k.value.trim().is_empty() => {
                            self.err(
                                codes::E0106,
                                k.value_span,
                                "<policy key> must name a local entry or registry key",
                            );
                        }
                        Some(k) => policy_key = Some(self.spanned(k)),
                        None => {
                            let inline = child.children.iter().find_map(|n| match n {
                                Node::Element(e) => Some(e),
                                _ => None,
                            });
                            match inline {
                                Some(e) => {
                                    policy = Some(Spanned::new(ser::element(self.doc, e), e.span))
                                }
                                None => self.err(
                                    codes::E0114,
                                    child.name_span,
                                    "<policy> needs key=\"…\" or an inline wsp:Policy",
                                ),
                            }
                        }
                    }
                }
                Some(name @ ("onAccept" | "onReject")) => {
                    self.check_attrs(child, &["description"]);
                    let slot = if name == "onAccept" {
                        &mut on_accept
                    } else {
                        &mut on_reject
                    };
                    let ms = self.mediators(child);
                    match slot {
                        Some(SeqBranch::Key(k)) => {
                            let k = k.value.clone();
                            self.err(
                                codes::E0115,
                                child.name_span,
                                format!(
                                    "<{name}> and {name}=\"{k}\" both given: Synapse uses the \
                                     attribute; remove one"
                                ),
                            );
                        }
                        Some(SeqBranch::Inline(_)) => self.dup_element(child),
                        None => *slot = Some(SeqBranch::Inline(ms)),
                    }
                }
                Some("description") => {}
                _ => self.unknown_element(child, el),
            }
        }
        Some(Throttle {
            id: id?,
            policy,
            policy_key,
            on_accept,
            on_reject,
        })
    }
}
