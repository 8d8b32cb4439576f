//! `<script>`: JavaScript run on the message through the `mc` object.
//!
//! ```xml
//! <script language="js"><![CDATA[ mc.setProperty("n", mc.getPayloadJSON().n); ]]></script>
//! <script language="js" key="transform.js" function="transform">
//!   <include key="helpers.js"/>
//! </script>
//! <!-- Micro Integrator 4.4: arguments after `mc`, and where the return value goes -->
//! <script language="js" key="math.js" function="sum" target="variable" target-variable="total">
//!   <inputs>
//!     <argument name="a" type="INTEGER" expression="${payload.a}"/>
//!     <argument name="b" type="INTEGER" value="20"/>
//!   </inputs>
//! </script>
//! ```

use synaptic_diag::codes;

use synaptic_diag::Diagnostic;

use super::variable::VARIABLE_TYPES;
use crate::ast::{PropertyValue, Script, ScriptArgument, ScriptSource, ScriptTarget};
use crate::parse::{Cx, El};
use crate::xml::Node;

/// The `language=` values that name JavaScript (Synapse's GraalJS default and its older
/// engines).
pub(crate) const JS_LANGUAGES: &[&str] = &["js", "graalJs", "nashornJs", "rhinoJs"];

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn script(&mut self, el: El<'d, 'a>) -> Option<Script> {
        self.check_attrs(
            el,
            &[
                "language",
                "key",
                "function",
                "description",
                "target",
                "target-variable",
            ],
        );
        let language = self.required(el, "language")?;
        let key = el.attr("key").map(|a| self.spanned(a));
        let function = el.attr("function").map(|a| self.spanned(a));
        if !JS_LANGUAGES.contains(&language.value.as_str()) {
            self.err(
                codes::E0330,
                language.span,
                format!(
                    "script language `{}` is not supported: synaptic runs JavaScript (`js`) only",
                    language.value
                ),
            );
            return None;
        }
        if key.is_none() {
            if let Some(f) = &function {
                self.err(
                    codes::E0115,
                    f.span,
                    "function= needs key= (an inline script runs as a whole)",
                );
            }
        }
        let mut includes = Vec::new();
        let mut target = None;
        let mut inputs = Vec::new();
        let source = match key {
            Some(k) => {
                let mut inputs_el = None;
                for child in self.children(el) {
                    match self.syn_name(child) {
                        Some("include") => {
                            self.check_attrs(child, &["key"]);
                            if let Some(k) = self.required(child, "key") {
                                includes.push(k);
                            }
                        }
                        Some("inputs") => {
                            self.check_attrs(child, &[]);
                            if inputs_el.is_none() {
                                inputs = self.script_inputs(child);
                                inputs_el = Some(child);
                            } else {
                                self.diags.push(Diagnostic::warning(
                                    codes::W0301,
                                    child.name_span,
                                    "a second <inputs> does nothing: Micro Integrator reads the \
                                     first",
                                ));
                            }
                        }
                        Some("description") => {}
                        _ => self.unknown_element(child, el),
                    }
                }
                target = self.script_target(el);
                if target.is_none() {
                    if let Some(i) = inputs_el {
                        self.diags.push(Diagnostic::warning(
                            codes::W0301,
                            i.name_span,
                            "<inputs> does nothing without target= (Micro Integrator passes \
                             arguments only to a script whose result has a target)",
                        ));
                        inputs.clear();
                    }
                }
                ScriptSource::Key(k)
            }
            None => {
                let mut text = String::new();
                let mut anchors = Vec::new();
                for c in &el.children {
                    match c {
                        Node::Text {
                            text: t,
                            span,
                            cdata,
                        } => {
                            // a CDATA section's text starts after `<![CDATA[`; other text is
                            // exact when no entity changed its length
                            let start = if *cdata {
                                Some(span.start + 9)
                            } else if (span.end - span.start) as usize == t.len() {
                                Some(span.start)
                            } else {
                                None
                            };
                            if let Some(s) = start {
                                anchors.push((text.len() as u32, s));
                            }
                            text.push_str(t);
                        }
                        Node::Element(e) => {
                            if self.syn_name_quiet(e) == Some("inputs") {
                                self.diags.push(Diagnostic::warning(
                                    codes::W0301,
                                    e.name_span,
                                    "<inputs> does nothing in an inline <script> (arguments go to \
                                     the function= of a script named by key=)",
                                ));
                            } else if self.syn_name_quiet(e) == Some("include") {
                                self.err(
                                    codes::E0105,
                                    e.name_span,
                                    "<include> needs key= on its <script> (an inline script \
                                     includes nothing)",
                                );
                            } else {
                                self.err(
                                    codes::E0110,
                                    e.name_span,
                                    format!(
                                        "unexpected element <{}> in an inline <script>: the \
                                         script text goes here (in a CDATA section)",
                                        e.qname
                                    ),
                                );
                            }
                        }
                        Node::Pi(_) => {}
                    }
                }
                for a in ["target", "target-variable"] {
                    if let Some(at) = el.attr(a) {
                        self.diags.push(Diagnostic::warning(
                            codes::W0301,
                            at.name_span,
                            format!(
                                "{a}= does nothing on an inline <script> (the result of the \
                                 function= of a script named by key= has a target)"
                            ),
                        ));
                    }
                }
                if text.trim().is_empty() {
                    self.err(
                        codes::E0105,
                        el.name_span,
                        "<script> needs key= or the script as its text",
                    );
                    return None;
                }
                ScriptSource::Inline {
                    text,
                    span: el.span,
                    anchors,
                }
            }
        };
        Some(Script {
            language,
            source,
            function,
            includes,
            target,
            inputs,
        })
    }

    /// `target=` and `target-variable=` of a keyed script, as Micro Integrator reads them: a
    /// blank `target=` is none (E0333 for a value other than `body`, `variable` or `none`, or
    /// `variable` without `target-variable=`).
    fn script_target(&mut self, el: El<'d, 'a>) -> Option<ScriptTarget> {
        let t = self.attr_s(el, "target");
        let var = self.attr_s(el, "target-variable");
        let t = t.filter(|t| !t.value.trim().is_empty());
        let target = match &t {
            None => None,
            Some(t) if t.value.eq_ignore_ascii_case("body") => Some(ScriptTarget::Body),
            Some(t) if t.value.eq_ignore_ascii_case("none") => Some(ScriptTarget::None),
            Some(t) if t.value.eq_ignore_ascii_case("variable") => {
                match var.clone().filter(|v| !v.value.trim().is_empty()) {
                    Some(v) => return Some(ScriptTarget::Variable(v)),
                    None => {
                        self.err(
                            codes::E0333,
                            t.span,
                            "<script target=\"variable\"> needs `target-variable=` (the variable \
                             the function's result goes to)",
                        );
                        return None;
                    }
                }
            }
            Some(t) => {
                self.err(
                    codes::E0333,
                    t.span,
                    format!(
                        "`target=\"{}\"`: a script's result goes to `body`, a `variable` or \
                         `none`",
                        t.value
                    ),
                );
                return None;
            }
        };
        if let Some(v) = var {
            self.diags.push(Diagnostic::warning(
                codes::W0301,
                v.span,
                "target-variable= does nothing without target=\"variable\"",
            ));
        }
        target
    }

    /// The `<argument>`s of `<inputs>`. Arguments are keyed by name, as in Micro Integrator:
    /// a second argument of a name replaces the first one's value, in the first one's place.
    fn script_inputs(&mut self, inputs: El<'d, 'a>) -> Vec<ScriptArgument> {
        let mut out: Vec<ScriptArgument> = Vec::new();
        for arg in self.children(inputs) {
            if self.syn_name(arg) != Some("argument") {
                self.unknown_element(arg, inputs);
                continue;
            }
            self.check_attrs(arg, &["name", "type", "value", "expression"]);
            let name = self.required(arg, "name");
            let value = self.value_or_expression(arg, true, false);
            let ty = self.attr_s(arg, "type");
            if let Some(t) = &ty {
                if !VARIABLE_TYPES.contains(&t.value.as_str()) {
                    self.err(
                        codes::E0302,
                        t.span,
                        format!(
                            "unknown argument type `{}`: expected one of {}",
                            t.value,
                            VARIABLE_TYPES.join(", ")
                        ),
                    );
                    continue;
                }
            }
            let (Some(name), Some(value)) = (name, value) else {
                continue;
            };
            let value = match value {
                PropertyValue::None => continue,
                v => v,
            };
            let a = ScriptArgument { name, ty, value };
            match out.iter_mut().find(|o| o.name.value == a.name.value) {
                Some(first) => {
                    self.diags.push(Diagnostic::warning(
                        codes::W0301,
                        first.name.span,
                        format!(
                            "argument `{}` is given again below: the later value is passed in \
                             this place",
                            a.name.value
                        ),
                    ));
                    first.ty = a.ty;
                    first.value = a.value;
                }
                None => out.push(a),
            }
        }
        out
    }
}
