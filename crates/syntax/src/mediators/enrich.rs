//! `<enrich>`: a `<source>` and a `<target>`; the combinations Synapse refuses at load time are refused here.

use synaptic_diag::{codes, Diagnostic, Spanned};

use crate::ast::*;
use crate::parse::{Cx, El};
use crate::ser;
use crate::SYNAPSE_NS;

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn enrich(&mut self, el: El<'d, 'a>) -> Option<Enrich> {
        self.check_attrs(el, &["description"]);
        let mut source_el: Option<El<'d, 'a>> = None;
        let mut target_el: Option<El<'d, 'a>> = None;
        for child in self.children(el) {
            match self.syn_name(child) {
                Some("source") if source_el.is_some() => self.dup_element(child),
                Some("source") => source_el = Some(child),
                Some("target") if target_el.is_some() => self.dup_element(child),
                Some("target") => target_el = Some(child),
                Some("description") => {}
                _ => self.unknown_element(child, el),
            }
        }
        for (name, found) in [
            ("source", source_el.is_some()),
            ("target", target_el.is_some()),
        ] {
            if !found {
                self.err(
                    codes::E0114,
                    el.name_span,
                    format!("<enrich> needs a <{name}> child"),
                );
            }
        }
        let source = source_el.and_then(|s| self.enrich_source(s));
        let target = target_el.and_then(|t| self.enrich_target(t));
        let (source, target) = (source?, target?);
        self.enrich_combination(&source, &target)?;
        Some(Enrich { source, target })
    }

    pub(crate) fn enrich_source(&mut self, el: El<'d, 'a>) -> Option<EnrichSource> {
        self.check_attrs(
            el,
            &["type", "clone", "xpath", "property", "key", "description"],
        );
        let ty = match el.attr("type") {
            None => Some(EnrichSourceType::Custom),
            Some(a) => match &*a.value {
                "custom" => Some(EnrichSourceType::Custom),
                "envelope" => Some(EnrichSourceType::Envelope),
                "body" => Some(EnrichSourceType::Body),
                "property" => Some(EnrichSourceType::Property),
                "inline" => Some(EnrichSourceType::Inline),
                "variable" => {
                    self.err(
                        codes::E0108,
                        a.value_span,
                        "`enrich` source type=\"variable\" is not supported yet",
                    );
                    None
                }
                other => {
                    self.err(
                        codes::E0106,
                        a.value_span,
                        format!(
                            "enrich source type=\"{other}\": expected custom, envelope, body, \
                             property or inline"
                        ),
                    );
                    None
                }
            },
        };
        // Synapse reads clone= with Boolean.parseBoolean (case-insensitive)
        let clone = match el.attr("clone") {
            Some(a) if a.value.eq_ignore_ascii_case("true") => true,
            Some(a) if a.value.eq_ignore_ascii_case("false") => false,
            Some(a) => self.bool_value(a).unwrap_or(true),
            None => true,
        };
        let ty = ty?;
        let mut src = EnrichSource {
            span: el.span,
            ty,
            clone,
            xpath: None,
            property: None,
            inline: None,
        };
        let used: &[&str] = match ty {
            EnrichSourceType::Custom => {
                let msg = "an enrich <source> of type custom needs xpath=";
                src.xpath = Some(self.required_expr(el, "xpath", msg)?);
                self.no_children(el);
                &["xpath"]
            }
            EnrichSourceType::Property => {
                let msg = "an enrich <source> of type property needs property=";
                src.property = Some(self.required_because(el, "property", msg)?);
                self.no_children(el);
                &["property"]
            }
            EnrichSourceType::Inline => {
                let first = el
                    .elements()
                    .find(|e| !(e.ns == SYNAPSE_NS && e.local() == "description"));
                if let Some(first) = first {
                    src.inline = Some(InlineSource::Xml(Spanned::new(
                        ser::element(self.doc, first),
                        first.span,
                    )));
                } else {
                    let (text, span) = self.raw_content(el);
                    if !text.trim().is_empty() {
                        src.inline = Some(InlineSource::Text(Spanned::new(text, span)));
                    } else if let Some(k) = self.attr_s(el, "key") {
                        src.inline = Some(InlineSource::Key(k));
                    } else {
                        self.err(
                            codes::E0114,
                            el.name_span,
                            "an inline enrich <source> needs an XML element, text (JSON) or key=",
                        );
                        return None;
                    }
                }
                &["key"]
            }
            EnrichSourceType::Envelope | EnrichSourceType::Body => {
                self.no_children(el);
                &[]
            }
        };
        self.ignored_attrs(el, &["xpath", "property", "key"], used);
        Some(src)
    }

    pub(crate) fn enrich_target(&mut self, el: El<'d, 'a>) -> Option<EnrichTarget> {
        self.check_attrs(el, &["type", "action", "xpath", "property", "description"]);
        self.no_children(el);
        let ty = match el.attr("type") {
            None => Some(EnrichTargetType::Custom),
            Some(a) => match &*a.value {
                "custom" => Some(EnrichTargetType::Custom),
                "envelope" => Some(EnrichTargetType::Envelope),
                "body" => Some(EnrichTargetType::Body),
                "property" => Some(EnrichTargetType::Property),
                "key" => Some(EnrichTargetType::Key),
                "variable" => {
                    self.err(
                        codes::E0108,
                        a.value_span,
                        "`enrich` target type=\"variable\" is not supported yet",
                    );
                    None
                }
                "inline" => {
                    self.err(
                        codes::E0106,
                        a.value_span,
                        "inline is a source type only: a target cannot be inline",
                    );
                    None
                }
                other => {
                    self.err(
                        codes::E0106,
                        a.value_span,
                        format!(
                            "enrich target type=\"{other}\": expected custom, envelope, body or \
                             property"
                        ),
                    );
                    None
                }
            },
        };
        let action = match el.attr("action") {
            None => Some(EnrichAction::Replace),
            Some(a) => match &*a.value {
                "replace" => Some(EnrichAction::Replace),
                "child" => Some(EnrichAction::Child),
                "sibling" => Some(EnrichAction::Sibling),
                "remove" => Some(EnrichAction::Remove),
                other => {
                    self.err(
                        codes::E0106,
                        a.value_span,
                        format!(
                            "enrich target action=\"{other}\": expected replace, child, sibling or \
                             remove"
                        ),
                    );
                    None
                }
            },
        };
        let (ty, action) = (ty?, action?);
        let mut t = EnrichTarget {
            span: el.span,
            ty,
            action,
            xpath: None,
            property: None,
        };
        let used: &[&str] = match ty {
            EnrichTargetType::Custom => {
                let msg = "an enrich <target> of type custom needs xpath=";
                let x = t.xpath.insert(self.required_expr(el, "xpath", msg)?);
                if action == EnrichAction::Replace && is_json_root(&x.text) {
                    self.err(
                        codes::E0116,
                        x.span,
                        "action replace on the JSON root: use <target type=\"body\"/> instead",
                    );
                    return None;
                }
                &["xpath"]
            }
            EnrichTargetType::Key => {
                let msg = "an enrich <target> of type key needs xpath= (the JSON member to rename)";
                t.xpath = Some(self.required_expr(el, "xpath", msg)?);
                &["xpath"]
            }
            EnrichTargetType::Property => {
                let msg = "an enrich <target> of type property needs property=";
                t.property = Some(self.required_because(el, "property", msg)?);
                &["property"]
            }
            EnrichTargetType::Envelope | EnrichTargetType::Body => &[],
        };
        self.ignored_attrs(el, &["xpath", "property"], used);
        Some(t)
    }

    /// The source/target/action combinations Synapse refuses when it loads the mediator.
    pub(crate) fn enrich_combination(&mut self, s: &EnrichSource, t: &EnrichTarget) -> Option<()> {
        use EnrichSourceType as S;
        use EnrichTargetType as T;
        let bad = matches!(
            (s.ty, t.ty),
            (S::Envelope, T::Custom | T::Envelope | T::Body)
                | (S::Body, T::Envelope | T::Body)
                | (S::Custom, T::Envelope)
        );
        if bad {
            self.diags.push(
                Diagnostic::at(
                    codes::E0116,
                    t.span,
                    format!(
                        "enrich cannot copy a source of type {} into a target of type {}",
                        source_type_name(s.ty),
                        target_type_name(t.ty)
                    ),
                )
                .with_label(s.span, "source")
                .with_note(
                    "Synapse accepts an envelope target only from an inline or property \
                     envelope, and a body source only into a custom or property target",
                ),
            );
            return None;
        }
        if t.action == EnrichAction::Remove {
            let msg = if s.ty != S::Custom {
                Some("action=\"remove\" deletes the source's JSON paths: the source must be custom (xpath=)")
            } else if !matches!(t.ty, T::Body | T::Property) {
                Some("action=\"remove\" works on a body or property target only")
            } else {
                None
            };
            if let Some(msg) = msg {
                self.diags
                    .push(Diagnostic::at(codes::E0116, t.span, msg).with_label(s.span, "source"));
                return None;
            }
        }
        if t.ty == T::Key {
            if s.ty == S::Body {
                self.diags.push(
                    Diagnostic::at(
                        codes::E0116,
                        t.span,
                        "enrich cannot copy a source of type body into a target of type key",
                    )
                    .with_label(s.span, "source"),
                );
                return None;
            }
            if t.action != EnrichAction::Replace {
                self.err(
                    codes::E0116,
                    t.span,
                    "a key target only takes action=\"replace\"",
                );
                return None;
            }
        }
        if t.ty == T::Envelope && t.action != EnrichAction::Replace {
            self.err(
                codes::E0116,
                t.span,
                "an envelope target only takes action=\"replace\"",
            );
            return None;
        }
        Some(())
    }
}

/// `json-eval($)` / `json-eval($.)` (whitespace ignored).
fn is_json_root(text: &str) -> bool {
    let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    t == "json-eval($)" || t == "json-eval($.)"
}

fn source_type_name(t: EnrichSourceType) -> &'static str {
    match t {
        EnrichSourceType::Custom => "custom",
        EnrichSourceType::Envelope => "envelope",
        EnrichSourceType::Body => "body",
        EnrichSourceType::Property => "property",
        EnrichSourceType::Inline => "inline",
    }
}

fn target_type_name(t: EnrichTargetType) -> &'static str {
    match t {
        EnrichTargetType::Custom => "custom",
        EnrichTargetType::Envelope => "envelope",
        EnrichTargetType::Body => "body",
        EnrichTargetType::Property => "property",
        EnrichTargetType::Key => "key",
    }
}
