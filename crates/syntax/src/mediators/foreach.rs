//! `<foreach>`: run a sequence on each element of a collection. Synapse's form splits by an XPath
//! or `json-eval(…)` path and mediates each element in turn in the same message:
//!
//! ```xml
//! <foreach id="f" expression="//m0:getQuote/m0:request">
//!   <sequence><payloadFactory>…</payloadFactory></sequence>
//! </foreach>
//! ```
//!
//! Micro Integrator 4.4's form runs the sequence on a copy of the message per element of a
//! `${…}` collection and aggregates the results:
//!
//! ```xml
//! <foreach collection="${payload.items}" parallel-execution="false" update-original="false"
//!          target-variable="out" result-content-type="JSON" counter-variable="i">
//!   <sequence>…</sequence>
//! </foreach>
//! ```

use synaptic_diag::codes;

use crate::ast::{Foreach, Mediator};
use crate::parse::{Cx, El};
use crate::xml::Node;
use synaptic_diag::Spanned;

/// The mediators that leave the flow, which Synapse refuses in a `<foreach>` sequence.
const LEAVES_FLOW: &[&str] = &["call", "send", "callout"];

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn foreach(&mut self, el: El<'d, 'a>) -> Option<Foreach> {
        self.check_attrs(
            el,
            &[
                "id",
                "expression",
                "sequence",
                "continueLoopOnFailure",
                "collection",
                "parallel-execution",
                "continue-without-aggregation",
                "update-original",
                "target-variable",
                "result-content-type",
                "result-enclosing-element",
                "counter-variable",
                "description",
            ],
        );
        let id = self.attr_s(el, "id");
        let expression = el.attr("expression").map(|a| self.expr(el, a));
        let collection = el.attr("collection").map(|a| self.expr(el, a));
        match (&expression, &collection) {
            (None, None) => {
                self.err(
                    codes::E0105,
                    el.name_span,
                    "<foreach> needs `expression=` (Synapse: the XPath or json-eval path of the \
                     elements) or `collection=` (Micro Integrator 4.4: a ${…} expression)",
                );
                return None;
            }
            (Some(_), Some(c)) => {
                self.err(
                    codes::E0115,
                    c.span,
                    "<foreach> takes `expression=` (Synapse's form) or `collection=` (Micro \
                     Integrator 4.4's form), not both",
                );
            }
            _ => {}
        }
        let v2 = collection.is_some();
        let sequence_key = self.attr_s(el, "sequence");
        let mut sequence: Option<Vec<Mediator>> = None;
        for child in self.children(el) {
            match self.syn_name(child) {
                Some("sequence") => {
                    self.check_attrs(
                        child,
                        &["name", "description", "onError", "trace", "statistics"],
                    );
                    let ms = self.mediators(child);
                    if sequence.is_some() {
                        self.dup_element(child);
                        continue;
                    }
                    if !v2 {
                        self.leaves_flow(child);
                    }
                    sequence = Some(ms);
                }
                Some("description") => {}
                _ => self.unknown_element(child, el),
            }
        }
        let mut sequence_key = sequence_key;
        if v2 {
            // Micro Integrator's form runs only the inline sequence
            if let Some(k) = sequence_key.take() {
                self.err(
                    codes::W0101,
                    k.span,
                    "`sequence=` is ignored by <foreach collection> (Micro Integrator 4.4 runs \
                     the inline <sequence>)",
                );
            }
        } else if let (Some(k), Some(_)) = (&sequence_key, &sequence) {
            self.err(
                codes::W0101,
                k.span,
                "the inline <sequence> is ignored: Synapse runs the one `sequence=` names",
            );
            sequence = None;
        }
        if sequence_key.is_none() && sequence.is_none() {
            self.err(
                codes::E0114,
                el.name_span,
                "<foreach> needs a <sequence> (or, in Synapse's form, `sequence=\"key\"`)",
            );
            return None;
        }
        let continue_on_failure = self.bool_attr(el, "continueLoopOnFailure").unwrap_or(false);
        let parallel = self.bool_attr(el, "parallel-execution").unwrap_or(true);
        let continue_without_aggregation = self
            .bool_attr(el, "continue-without-aggregation")
            .unwrap_or(false);
        let update_original = self.bool_attr(el, "update-original").unwrap_or(true);
        let target_variable = self.attr_s(el, "target-variable");
        let result_content_type = self.attr_s(el, "result-content-type");
        let result_enclosing_element = self.attr_s(el, "result-enclosing-element");
        let counter_variable = self.attr_s(el, "counter-variable");
        if v2 {
            if let Some(a) = el.attr("continueLoopOnFailure") {
                self.err(
                    codes::W0101,
                    a.name_span,
                    "`continueLoopOnFailure` belongs to Synapse's <foreach expression>; <foreach \
                     collection> ignores it",
                );
            }
            self.foreach_result_checks(
                el,
                update_original,
                continue_without_aggregation,
                &target_variable,
                &result_content_type,
                &result_enclosing_element,
            );
            if let (Some(c), true) = (&counter_variable, parallel) {
                self.err(
                    codes::E0354,
                    c.span,
                    "`counter-variable` needs parallel-execution=\"false\" (Micro Integrator \
                     refuses it on parallel runs)",
                );
            }
        } else {
            for name in [
                "parallel-execution",
                "continue-without-aggregation",
                "update-original",
                "target-variable",
                "result-content-type",
                "result-enclosing-element",
                "counter-variable",
            ] {
                if let Some(a) = el.attr(name) {
                    self.err(
                        codes::W0101,
                        a.name_span,
                        format!(
                            "`{name}` belongs to Micro Integrator's <foreach collection>; \
                             Synapse's <foreach expression> ignores it"
                        ),
                    );
                }
            }
        }
        Some(Foreach {
            id,
            expression,
            collection,
            sequence_key,
            sequence,
            continue_on_failure,
            parallel,
            continue_without_aggregation,
            update_original,
            target_variable,
            result_content_type,
            result_enclosing_element,
            counter_variable,
        })
    }

    /// E0353: a mediator of a Synapse `<foreach>` sequence that leaves the flow (Synapse checks
    /// the sequence's own mediators, not those nested in them).
    fn leaves_flow(&mut self, seq: El<'d, 'a>) {
        for node in &seq.children {
            let Node::Element(m) = node else { continue };
            if let Some(name) = self.syn_name_quiet(m).filter(|n| LEAVES_FLOW.contains(n)) {
                self.err(
                    codes::E0353,
                    m.name_span,
                    format!(
                        "<{name}> in a <foreach> sequence: Synapse refuses call, send and \
                         callout there (the elements are mediated in place, in the same message); \
                         use <foreach collection> (Micro Integrator 4.4) or <iterate> to call out \
                         per element"
                    ),
                );
            }
        }
    }

    /// E0354: where Micro Integrator's `<foreach collection>` puts its results.
    fn foreach_result_checks(
        &mut self,
        el: El<'d, 'a>,
        update_original: bool,
        continue_without_aggregation: bool,
        target_variable: &Option<Spanned<String>>,
        content_type: &Option<Spanned<String>>,
        enclosing: &Option<Spanned<String>>,
    ) {
        if continue_without_aggregation {
            return;
        }
        if update_original {
            if let Some(t) = target_variable {
                self.err(
                    codes::W0101,
                    t.span,
                    "`target-variable` is ignored with update-original=\"true\" (the results \
                     replace the collection)",
                );
            }
            return;
        }
        if target_variable
            .as_ref()
            .is_none_or(|t| t.value.trim().is_empty())
        {
            self.err(
                codes::E0354,
                el.name_span,
                "<foreach update-original=\"false\"> needs `target-variable=` (the variable the \
                 results go to)",
            );
        }
        match content_type
            .as_ref()
            .map(|c| (c, c.value.trim().to_string()))
        {
            None => self.err(
                codes::E0354,
                el.name_span,
                "<foreach update-original=\"false\"> needs `result-content-type=\"JSON\"` or \
                 `\"XML\"` (how the results are gathered)",
            ),
            Some((_, t)) if t == "JSON" => {}
            Some((_, t)) if t == "XML" => {
                if enclosing.as_ref().is_none_or(|e| e.value.trim().is_empty()) {
                    self.err(
                        codes::E0354,
                        el.name_span,
                        "<foreach result-content-type=\"XML\"> needs `result-enclosing-element=` \
                         (the element holding the results)",
                    );
                }
            }
            Some((c, _)) => self.err(
                codes::E0354,
                c.span,
                format!(
                    "`result-content-type=\"{}\"`: Micro Integrator gathers results as JSON or \
                     XML",
                    c.value
                ),
            ),
        }
    }
}
