//! `<rewrite inProperty outProperty>` with `<rewriterule>`s: an optional `<condition>` (the
//! evaluators `and`, `or`, `not`, `equal`, `match` over `url`, `header`, `param`, `property`
//! or `soap` sources) and `<action type fragment value|xpath regex resolve>`s.

use synaptic_diag::codes;
use synaptic_diag::suggest::did_you_mean;

use crate::ast::*;
use crate::parse::{Cx, El};

const ACTIONS: &[&str] = &[
    "set",
    "append",
    "prepend",
    "replace",
    "remove",
    "remove-query-param",
];
const FRAGMENTS: &[&str] = &[
    "full", "protocol", "user", "host", "port", "path", "query", "ref",
];
const SOURCE_TYPES: &[&str] = &["url", "header", "param", "property", "soap"];

fn fragment_of(name: &str) -> Option<UrlFragment> {
    Some(match name {
        "full" => UrlFragment::Full,
        "protocol" => UrlFragment::Protocol,
        "user" => UrlFragment::User,
        "host" => UrlFragment::Host,
        "port" => UrlFragment::Port,
        "path" => UrlFragment::Path,
        "query" => UrlFragment::Query,
        "ref" => UrlFragment::Ref,
        _ => return None,
    })
}

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn rewrite(&mut self, el: El<'d, 'a>) -> Option<Rewrite> {
        self.check_attrs(el, &["inProperty", "outProperty", "description"]);
        let mut rules = Vec::new();
        for c in self.children(el) {
            match self.syn_name_quiet(c) {
                Some("rewriterule") => {
                    if let Some(r) = self.rewrite_rule(c) {
                        rules.push(r);
                    }
                }
                Some("description") => {}
                _ => self.unknown_element(c, el),
            }
        }
        Some(Rewrite {
            in_property: self.attr_s(el, "inProperty"),
            out_property: self.attr_s(el, "outProperty"),
            rules,
        })
    }

    fn rewrite_rule(&mut self, el: El<'d, 'a>) -> Option<RewriteRule> {
        self.check_attrs(el, &[]);
        let mut condition = None;
        let mut seen_condition = false;
        let mut actions = Vec::new();
        for c in self.children(el) {
            match self.syn_name_quiet(c) {
                Some("condition") => {
                    if seen_condition {
                        self.dup_element(c);
                        continue;
                    }
                    seen_condition = true;
                    self.check_attrs(c, &[]);
                    let kids = self.children(c);
                    match kids.as_slice() {
                        [] => {}
                        [one] => condition = self.rewrite_condition(one),
                        [_, extra, ..] => {
                            self.err(
                                codes::E0111,
                                extra.name_span,
                                "a <condition> holds one evaluator (combine them with <and> or <or>)",
                            );
                            condition = self.rewrite_condition(kids[0]);
                        }
                    }
                }
                Some("action") => {
                    if let Some(a) = self.rewrite_action(c) {
                        actions.push(a);
                    }
                }
                _ => self.unknown_element(c, el),
            }
        }
        if actions.is_empty() {
            self.err(
                codes::E0114,
                el.name_span,
                "<rewriterule> needs at least one <action>",
            );
        }
        Some(RewriteRule {
            span: el.span,
            condition,
            actions,
        })
    }

    fn rewrite_condition(&mut self, el: El<'d, 'a>) -> Option<RewriteCondition> {
        let name = el.local();
        match name {
            "and" | "or" => {
                self.check_attrs(el, &[]);
                let mut parts = Vec::new();
                for c in self.children(el) {
                    if let Some(p) = self.rewrite_condition(c) {
                        parts.push(p);
                    }
                }
                Some(if name == "and" {
                    RewriteCondition::And(parts)
                } else {
                    RewriteCondition::Or(parts)
                })
            }
            "not" => {
                self.check_attrs(el, &[]);
                let kids = self.children(el);
                match kids.first() {
                    Some(c) => {
                        for extra in kids.iter().skip(1) {
                            self.dup_element(extra);
                        }
                        Some(RewriteCondition::Not(Box::new(self.rewrite_condition(c)?)))
                    }
                    None => {
                        self.err(codes::E0114, el.name_span, "<not> needs an evaluator");
                        None
                    }
                }
            }
            "equal" | "match" => {
                let equal = name == "equal";
                self.check_attrs(
                    el,
                    if equal {
                        &["type", "source", "value"]
                    } else {
                        &["type", "source", "regex"]
                    },
                );
                self.no_children(el);
                let source = self.condition_source(el);
                if equal {
                    let value = self.required(el, "value");
                    Some(RewriteCondition::Equal {
                        source: source?,
                        value: value?.value,
                    })
                } else {
                    let regex = self.required(el, "regex");
                    Some(RewriteCondition::Match {
                        source: source?,
                        regex: regex?,
                    })
                }
            }
            other => {
                self.err(
                    codes::E0103,
                    el.name_span,
                    format!(
                        "unknown evaluator <{other}> in a rewrite condition{}",
                        did_you_mean(other, &["and", "or", "not", "equal", "match"])
                    ),
                );
                None
            }
        }
    }

    fn condition_source(&mut self, el: El<'d, 'a>) -> Option<ConditionSource> {
        let source = el.attr("source");
        let ty = el.attr("type");
        let need_source = |cx: &mut Self| {
            if source.is_none() {
                cx.missing_attr(el, "source");
            }
            source.map(|s| s.value.to_string())
        };
        match ty.map(|t| &*t.value) {
            None | Some("header") => Some(ConditionSource::Header(need_source(self)?)),
            Some("param") => Some(ConditionSource::Param(need_source(self)?)),
            Some("property") => Some(ConditionSource::Property(need_source(self)?)),
            Some("soap") => {
                need_source(self)?;
                let a = source?;
                Some(ConditionSource::Soap(self.expr(el, a)))
            }
            Some("url") => match source {
                None => Some(ConditionSource::Url(None)),
                Some(s) => match fragment_of(&s.value).filter(|f| *f != UrlFragment::Full) {
                    Some(f) => Some(ConditionSource::Url(Some(f))),
                    None => {
                        self.err(
                            codes::E0106,
                            s.value_span,
                            format!(
                                "source=\"{}\": a url source is protocol, user, host, port, path, query or ref{}",
                                s.value,
                                did_you_mean(&s.value, FRAGMENTS)
                            ),
                        );
                        None
                    }
                },
            },
            Some(other) => {
                let t = ty?;
                self.err(
                    codes::E0106,
                    t.value_span,
                    format!(
                        "type=\"{other}\": expected url, header, param, property or soap{}",
                        did_you_mean(other, SOURCE_TYPES)
                    ),
                );
                None
            }
        }
    }

    fn rewrite_action(&mut self, el: El<'d, 'a>) -> Option<RewriteAction> {
        self.check_attrs(
            el,
            &["type", "fragment", "value", "xpath", "regex", "resolve"],
        );
        self.no_children(el);
        let mut ok = true;
        let action = match el.attr("type") {
            None => RewriteActionType::Set,
            Some(a) => match &*a.value {
                "set" => RewriteActionType::Set,
                "append" => RewriteActionType::Append,
                "prepend" => RewriteActionType::Prepend,
                "replace" => RewriteActionType::Replace,
                "remove" => RewriteActionType::Remove,
                "remove-query-param" => RewriteActionType::RemoveQueryParam,
                other => {
                    self.err(
                        codes::E0106,
                        a.value_span,
                        format!(
                            "type=\"{other}\": expected {}{}",
                            ACTIONS.join(", "),
                            did_you_mean(other, ACTIONS)
                        ),
                    );
                    ok = false;
                    RewriteActionType::Set
                }
            },
        };
        let fragment = match el.attr("fragment") {
            None => UrlFragment::Full,
            Some(a) => match fragment_of(&a.value) {
                Some(f) => f,
                None => {
                    self.err(
                        codes::E0106,
                        a.value_span,
                        format!(
                            "fragment=\"{}\": expected {}{}",
                            a.value,
                            FRAGMENTS.join(", "),
                            did_you_mean(&a.value, FRAGMENTS)
                        ),
                    );
                    ok = false;
                    UrlFragment::Full
                }
            },
        };
        let value = self.attr_s(el, "value");
        let xpath = el.attr("xpath").map(|a| self.expr(el, a));
        if value.is_some() && xpath.is_some() {
            self.err(
                codes::E0115,
                el.name_span,
                "<action> takes `value` or `xpath`, not both (the xpath is used)",
            );
        }
        if value.is_none() && xpath.is_none() && action != RewriteActionType::Remove {
            self.err(
                codes::E0105,
                el.name_span,
                "<action> needs `value` or `xpath` (only type=\"remove\" takes neither)",
            );
            ok = false;
        }
        let regex = self.attr_s(el, "regex");
        if action == RewriteActionType::Replace && regex.is_none() {
            self.err(
                codes::E0105,
                el.name_span,
                "<action type=\"replace\"> needs `regex`",
            );
            ok = false;
        }
        if action == RewriteActionType::RemoveQueryParam && fragment != UrlFragment::Query {
            self.err(
                codes::E0116,
                el.name_span,
                "type=\"remove-query-param\" is only allowed with fragment=\"query\"",
            );
            ok = false;
        }
        let resolve = match el.attr("resolve") {
            // Synapse reads it with Boolean.parseBoolean: anything but `true` is false
            Some(a) => a.value.eq_ignore_ascii_case("true"),
            None => false,
        };
        ok.then_some(RewriteAction {
            span: el.span,
            action,
            fragment,
            value,
            xpath,
            regex,
            resolve,
        })
    }
}
