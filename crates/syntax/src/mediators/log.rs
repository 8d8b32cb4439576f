//! `<log level=… category=… separator=…>` with `<property>` children and a `<message>`.

use synaptic_diag::{codes, Spanned};

use crate::ast::*;
use crate::parse::{Cx, El};

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn log(&mut self, el: El<'d, 'a>) -> Log {
        self.check_attrs(
            el,
            &[
                "level",
                "category",
                "separator",
                "description",
                "name",
                "logMessageID",
                "logFullPayload",
            ],
        );
        let level = match el.attr("level") {
            None => LogLevel::Simple,
            Some(a) => match &*a.value {
                "simple" => LogLevel::Simple,
                "headers" => LogLevel::Headers,
                "full" => LogLevel::Full,
                "custom" => LogLevel::Custom,
                other => {
                    self.err(
                        codes::E0106,
                        a.value_span,
                        format!("log level=\"{other}\": expected simple, headers, full or custom"),
                    );
                    LogLevel::Simple
                }
            },
        };
        let category = el.attr("category").map(|a| {
            const CATS: &[&str] = &["INFO", "DEBUG", "WARN", "ERROR", "TRACE", "FATAL"];
            if !CATS.contains(&&*a.value) {
                self.err(
                    codes::E0106,
                    a.value_span,
                    format!(
                        "log category=\"{}\": expected INFO, DEBUG, WARN, ERROR, TRACE or FATAL",
                        a.value
                    ),
                );
            }
            a.value.to_string()
        });
        let separator = el.attr("separator").map(|a| a.value.to_string());
        let mut properties = Vec::new();
        let mut message = None;
        for child in self.children(el) {
            match self.syn_name(child) {
                Some("message") => {
                    self.check_attrs(child, &[]);
                    let (text, span) = self.text_of(child);
                    message = Some(Spanned::new(text, span));
                }
                Some("property") => {
                    self.check_attrs(child, &["name", "value", "expression", "description"]);
                    let name = self.required(child, "name");
                    let value = self.value_or_expression(child, true, true);
                    if let (Some(name), Some(value)) = (name, value) {
                        properties.push(LogProperty { name, value });
                    }
                }
                Some("description") => {}
                _ => self.unknown_element(child, el),
            }
        }
        Log {
            level,
            category,
            separator,
            properties,
            message,
        }
    }
}
