//! What `<dblookup>` and `<dbreport>` share: the `<connection><pool>` (a pool of its own or a
//! named data source) and the `<statement>`s with their `<parameter>`s and `<result>`s, read as
//! Synapse's `AbstractDBMediatorFactory` reads them. Whether synaptic has a client for the
//! database, and the JDBC types, are checked by `engine::compile`.

use synaptic_diag::{codes, Diagnostic, Spanned};

use crate::ast::*;
use crate::parse::{Cx, El};

impl<'d, 'a> Cx<'d, 'a> {
    /// The content of a `<dblookup>` (`report` false) or `<dbreport>` element. `None` when a
    /// required part is missing (reported).
    pub(crate) fn db_mediator(&mut self, el: El<'d, 'a>, report: bool) -> Option<DbMediator> {
        let allowed: &[&str] = if report {
            &["useTransaction", "description"]
        } else {
            &["description"]
        };
        self.check_attrs(el, allowed);
        // Synapse: "true" turns it on, any other value leaves it off
        let use_transaction =
            report && el.attr("useTransaction").is_some_and(|a| a.value == "true");
        let mut connection = None;
        let mut seen_connection = false;
        let mut statements = Vec::new();
        let mut complete = true;
        for child in self.children(el) {
            match self.syn_name(child) {
                Some("connection") if !seen_connection => {
                    seen_connection = true;
                    connection = self.db_connection(child);
                    complete &= connection.is_some();
                }
                Some("connection") => self.dup_element(child),
                Some("statement") => match self.db_statement(child, report) {
                    Some(s) => statements.push(s),
                    None => complete = false,
                },
                Some("description") => {}
                _ => self.unknown_element(child, el),
            }
        }
        if !seen_connection {
            self.err(
                codes::E0114,
                el.name_span,
                format!(
                    "<{}> has no <connection>: give it a <connection><pool> with a <driver> \
                     (a pool of its own) or a <dsName> (a data source)",
                    el.qname
                ),
            );
            return None;
        }
        if !complete {
            return None;
        }
        Some(DbMediator {
            connection: connection?,
            statements,
            use_transaction,
        })
    }

    fn db_connection(&mut self, el: El<'d, 'a>) -> Option<DbConnection> {
        self.check_attrs(el, &[]);
        let mut pool = None;
        for child in self.children(el) {
            match self.syn_name(child) {
                Some("pool") if pool.is_none() => pool = Some(child),
                Some("pool") => self.dup_element(child),
                _ => self.unknown_element(child, el),
            }
        }
        let Some(pool) = pool else {
            self.err(
                codes::E0114,
                el.name_span,
                "<connection> has no <pool>: Synapse reads the connection from \
                 <connection><pool>",
            );
            return None;
        };
        self.db_pool(pool)
    }

    fn db_pool(&mut self, el: El<'d, 'a>) -> Option<DbConnection> {
        self.check_attrs(el, &[]);
        let mut values: Vec<(&'static str, DbValue, El<'d, 'a>)> = Vec::new();
        let mut properties = Vec::new();
        for child in self.children(el) {
            let name = match self.syn_name(child) {
                Some(n @ ("driver" | "url" | "user" | "password" | "dsName" | "icClass")) => n,
                Some("property") => {
                    self.check_attrs(child, &["name", "value"]);
                    self.no_children(child);
                    let name = self.required(child, "name");
                    let value = self.required(child, "value");
                    if let (Some(n), Some(v)) = (name, value) {
                        properties.push((n, v));
                    }
                    continue;
                }
                _ => {
                    self.unknown_element(child, el);
                    continue;
                }
            };
            let name: &'static str = match name {
                "driver" => "driver",
                "url" => "url",
                "user" => "user",
                "password" => "password",
                "dsName" => "dsName",
                _ => "icClass",
            };
            if values.iter().any(|(n, _, _)| *n == name) {
                self.dup_element(child);
                continue;
            }
            self.check_attrs(child, &["key"]);
            let v = match child.attr("key") {
                Some(a) => DbValue {
                    value: self.spanned(a),
                    registry_key: true,
                },
                None => {
                    let (text, span) = self.text_of(child);
                    DbValue {
                        value: Spanned::new(text.trim().to_string(), span),
                        registry_key: false,
                    }
                }
            };
            values.push((name, v, child));
        }
        let take = |values: &mut Vec<(&'static str, DbValue, El<'d, 'a>)>, n: &str| {
            let i = values.iter().position(|(m, _, _)| *m == n)?;
            Some(values.remove(i).1)
        };
        if let Some(name) = take(&mut values, "dsName") {
            // with `<icClass>`, a JNDI look-up that also takes `<url>`, `<user>`, `<password>`
            if values.iter().any(|(n, _, _)| *n == "icClass") {
                for need in ["url", "user", "password"] {
                    if !values.iter().any(|(n, _, _)| *n == need) {
                        self.err(
                            codes::E0114,
                            el.name_span,
                            format!(
                                "<pool> with <icClass> has no <{need}>: Synapse needs the \
                                 JNDI provider's <url>, <user> and <password>"
                            ),
                        );
                        return None;
                    }
                }
            }
            if !properties.is_empty() || values.iter().any(|(n, _, _)| *n == "driver") {
                self.diags.push(Diagnostic::warning(
                    codes::W0101,
                    el.name_span,
                    "<pool> with a <dsName> uses the data source: its <driver> and <property>s \
                     are ignored",
                ));
            }
            return Some(DbConnection::DataSource {
                name: name.value,
                span: el.span,
            });
        }
        let Some(driver) = take(&mut values, "driver") else {
            self.err(
                codes::E0114,
                el.name_span,
                "<pool> has neither <driver> nor <dsName>: Synapse needs the connection \
                 information for a pool of its own (<driver>, <url>, <user>, <password>) or \
                 a data source name",
            );
            return None;
        };
        let mut get = |this: &mut Self, n: &str| {
            let v = take(&mut values, n);
            if v.is_none() {
                this.err(
                    codes::E0114,
                    el.name_span,
                    format!(
                        "<pool> has no <{n}>: Synapse needs <driver>, <url>, <user> and \
                         <password> (they may be empty)"
                    ),
                );
            }
            v
        };
        let url = get(self, "url");
        let user = get(self, "user");
        let password = get(self, "password");
        if let Some((_, _, ic)) = values.iter().find(|(n, _, _)| *n == "icClass") {
            self.diags.push(Diagnostic::warning(
                codes::W0101,
                ic.name_span,
                "<icClass> is used only with a <dsName>: it is ignored",
            ));
        }
        Some(DbConnection::Pool {
            driver,
            url: url?,
            user: user?,
            password: password?,
            properties,
            span: el.span,
        })
    }

    fn db_statement(&mut self, el: El<'d, 'a>, report: bool) -> Option<DbStatement> {
        self.check_attrs(el, &[]);
        let mut sql = None;
        let mut parameters = Vec::new();
        let mut results = Vec::new();
        for child in self.children(el) {
            match self.syn_name(child) {
                Some("sql") if sql.is_none() => {
                    self.check_attrs(child, &[]);
                    let (text, span) = self.text_of(child);
                    sql = Some(Spanned::new(text.trim().to_string(), span));
                }
                Some("sql") => self.dup_element(child),
                Some("parameter") => {
                    if let Some(p) = self.db_parameter(child) {
                        parameters.push(p);
                    }
                }
                Some("result") => {
                    self.check_attrs(child, &["name", "column"]);
                    self.no_children(child);
                    let name = self.required(child, "name");
                    let column = self.required(child, "column");
                    if report {
                        self.diags.push(Diagnostic::warning(
                            codes::W0301,
                            child.name_span,
                            "<result> in a <dbreport> does nothing: only <dblookup> sets \
                             properties from a row",
                        ));
                    } else if let (Some(name), Some(column)) = (name, column) {
                        results.push(DbResult { name, column });
                    }
                }
                _ => self.unknown_element(child, el),
            }
        }
        let Some(sql) = sql else {
            self.err(
                codes::E0114,
                el.name_span,
                "<statement> has no <sql>: write the SQL, with `?` for each <parameter>",
            );
            return None;
        };
        if sql.value.is_empty() {
            self.err(
                codes::E0106,
                sql.span,
                "<sql> is empty: write the statement",
            );
            return None;
        }
        Some(DbStatement {
            sql,
            parameters,
            results,
            span: el.span,
        })
    }

    fn db_parameter(&mut self, el: El<'d, 'a>) -> Option<DbParameter> {
        self.check_attrs(el, &["value", "expression", "type"]);
        self.no_children(el);
        let value = self.attr_s(el, "value");
        let expression = el.attr("expression").map(|a| self.expr(el, a));
        if value.is_none() && expression.is_none() {
            self.diags.push(Diagnostic::warning(
                codes::W0301,
                el.name_span,
                "<parameter> without value= or expression= is skipped (as in Synapse): the \
                 statement's `?`s are bound to the other parameters",
            ));
            return None;
        }
        if let (Some(_), Some(a)) = (&value, el.attr("expression")) {
            self.diags.push(Diagnostic::warning(
                codes::W0101,
                a.name_span,
                "expression= is ignored: the parameter has a value= (Synapse binds the value)",
            ));
        }
        let ty = self.required_because(
            el,
            "type",
            "<parameter> has no type=: give its JDBC type (VARCHAR, INTEGER, DOUBLE, …)",
        )?;
        Some(DbParameter {
            value,
            expression: if el.attr("value").is_some() {
                None
            } else {
                expression
            },
            ty,
            span: el.span,
        })
    }
}
