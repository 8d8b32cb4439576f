//! `<script>`: JavaScript run on the message through the `mc` object.
//!
//! ```xml
//! <script language="js"><![CDATA[ mc.setProperty("n", mc.getPayloadJSON().n); ]]></script>
//! <script language="js" key="transform.js" function="transform">
//!   <include key="helpers.js"/>
//! </script>
//! ```

use synaptic_diag::codes;

use crate::ast::{Script, ScriptSource};
use crate::parse::{Cx, El};
use crate::xml::Node;

/// The `language=` values that name JavaScript (Synapse's GraalJS default and its older
/// engines).
pub(crate) const JS_LANGUAGES: &[&str] = &["js", "graalJs", "nashornJs", "rhinoJs"];

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn script(&mut self, el: El<'d, 'a>) -> Option<Script> {
        self.check_attrs(el, &["language", "key", "function", "description"]);
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
        let source = match key {
            Some(k) => {
                for child in self.children(el) {
                    match self.syn_name(child) {
                        Some("include") => {
                            self.check_attrs(child, &["key"]);
                            if let Some(k) = self.required(child, "key") {
                                includes.push(k);
                            }
                        }
                        Some("description") => {}
                        _ => self.unknown_element(child, el),
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
                            if self.syn_name_quiet(e) == Some("include") {
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
        })
    }
}
