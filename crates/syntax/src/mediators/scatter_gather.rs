//! `<scatter-gather>` (Micro Integrator 4.4): a copy of the message into each `<sequence>`, in
//! parallel or one after another; `<aggregation>` gathers what `expression` reads on each copy
//! into a JSON array or an XML element, which becomes the body or a variable.
//!
//! ```xml
//! <scatter-gather parallel-execution="true" target="body" result-content-type="JSON">
//!   <aggregation expression="${payload}" timeout="5000"/>
//!   <sequence><call>…</call></sequence>
//!   <sequence><call>…</call></sequence>
//! </scatter-gather>
//! ```

use synaptic_diag::codes;

use crate::ast::{Expr, Mediator, ScatterGather};
use crate::parse::{Cx, El};

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn scatter_gather(&mut self, el: El<'d, 'a>) -> Option<ScatterGather> {
        self.check_attrs(
            el,
            &[
                "parallel-execution",
                "target",
                "target-variable",
                "result-content-type",
                "result-enclosing-element",
                "description",
            ],
        );
        let parallel = self.bool_attr(el, "parallel-execution").unwrap_or(true);
        let target = self.attr_s(el, "target");
        let target_variable = self.attr_s(el, "target-variable");
        let result_content_type = self.attr_s(el, "result-content-type");
        let result_enclosing_element = self.attr_s(el, "result-enclosing-element");
        let mut aggregation: Option<(Option<Expr>, Option<Expr>)> = None;
        let mut timeout = None;
        let mut min = None;
        let mut max = None;
        let mut min_expr = None;
        let mut max_expr = None;
        let mut sequences: Vec<Vec<Mediator>> = Vec::new();
        for child in self.children(el) {
            match self.syn_name(child) {
                Some("aggregation") => {
                    if aggregation.is_some() {
                        self.dup_element(child);
                        continue;
                    }
                    self.check_attrs(
                        child,
                        &[
                            "expression",
                            "condition",
                            "timeout",
                            "min-messages",
                            "max-messages",
                        ],
                    );
                    self.no_children(child);
                    let expression = self.required_expr(
                        child,
                        "expression",
                        "<aggregation> needs `expression=` (what is taken from each copy)",
                    );
                    let condition = child.attr("condition").map(|a| self.expr(child, a));
                    timeout = self.attr_s(child, "timeout");
                    // `ValueFactory`: `{…}` is an expression read on each message
                    min_expr = child
                        .attr("min-messages")
                        .and_then(|a| self.dynamic_key(child, a));
                    max_expr = child
                        .attr("max-messages")
                        .and_then(|a| self.dynamic_key(child, a));
                    if min_expr.is_none() {
                        min = self.attr_s(child, "min-messages");
                    }
                    if max_expr.is_none() {
                        max = self.attr_s(child, "max-messages");
                    }
                    aggregation = Some((expression, condition));
                }
                Some("sequence") => {
                    self.check_attrs(
                        child,
                        &["name", "description", "onError", "trace", "statistics"],
                    );
                    sequences.push(self.mediators(child));
                }
                Some("description") => {}
                _ => self.unknown_element(child, el),
            }
        }
        for (what, v) in [
            ("timeout", &timeout),
            ("min-messages", &min),
            ("max-messages", &max),
        ] {
            if let Some(v) = v {
                if v.value.trim().parse::<i64>().is_err() {
                    let hint = if what != "timeout" && v.value.trim().starts_with("${") {
                        " (an expression is written in braces: `{${…}}`, `{xpath}` or \
                         `{json-eval(…)}`)"
                    } else {
                        ""
                    };
                    self.err(
                        codes::E0352,
                        v.span,
                        format!(
                            "<aggregation {what}=\"{}\">: synaptic takes a whole number here{hint}",
                            v.value
                        ),
                    );
                }
            }
        }
        self.result_checks(
            el,
            &target,
            &target_variable,
            &result_content_type,
            &result_enclosing_element,
        );
        if sequences.is_empty() {
            self.err(
                codes::E0114,
                el.name_span,
                "<scatter-gather> needs at least one <sequence>",
            );
        }
        let Some((expression, condition)) = aggregation else {
            self.err(
                codes::E0114,
                el.name_span,
                "<scatter-gather> needs an <aggregation expression=\"…\">",
            );
            return None;
        };
        if sequences.is_empty() {
            return None;
        }
        Some(ScatterGather {
            parallel,
            target,
            target_variable,
            result_content_type,
            result_enclosing_element,
            expression: expression?,
            condition,
            timeout,
            min,
            max,
            min_expr,
            max_expr,
            sequences,
        })
    }

    /// E0355: where the gathered result goes, as Micro Integrator checks it when it loads.
    fn result_checks(
        &mut self,
        el: El<'d, 'a>,
        target: &Option<synaptic_diag::Spanned<String>>,
        target_variable: &Option<synaptic_diag::Spanned<String>>,
        content_type: &Option<synaptic_diag::Spanned<String>>,
        enclosing: &Option<synaptic_diag::Spanned<String>>,
    ) {
        match content_type.as_ref().map(|c| (c, c.value.as_str())) {
            None => self.err(
                codes::E0355,
                el.name_span,
                "<scatter-gather> needs `result-content-type=\"JSON\"` or `\"XML\"`",
            ),
            Some((_, "JSON")) => {}
            Some((_, "XML")) => {
                if enclosing.as_ref().is_none_or(|e| e.value.trim().is_empty()) {
                    self.err(
                        codes::E0355,
                        el.name_span,
                        "<scatter-gather result-content-type=\"XML\"> needs \
                         `result-enclosing-element=` (the element holding the results)",
                    );
                }
            }
            Some((c, _)) => self.err(
                codes::E0355,
                c.span,
                format!(
                    "`result-content-type=\"{}\"`: Micro Integrator gathers results as JSON or XML",
                    c.value
                ),
            ),
        }
        match target.as_ref() {
            None => self.err(
                codes::E0355,
                el.name_span,
                "<scatter-gather> needs `target=\"body\"` or `target=\"variable\"`",
            ),
            Some(t) if t.value.eq_ignore_ascii_case("body") => {}
            Some(t) if t.value.eq_ignore_ascii_case("variable") => {
                if target_variable
                    .as_ref()
                    .is_none_or(|v| v.value.trim().is_empty())
                {
                    self.err(
                        codes::E0355,
                        el.name_span,
                        "<scatter-gather target=\"variable\"> needs `target-variable=`",
                    );
                }
            }
            Some(t) => self.err(
                codes::E0355,
                t.span,
                format!(
                    "`target=\"{}\"`: the results go to the body or a variable",
                    t.value
                ),
            ),
        }
    }
}
