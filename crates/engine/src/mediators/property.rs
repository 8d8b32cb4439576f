//! `<property>`: set or remove a property in a scope (default, transport, axis2, axis2-client,
//! operation, registry, system), with a type, a `pattern`/`group`, and a name that may itself
//! be an expression (`{…}`).

use crate::compiler::Compiler;
use crate::context::system_props;
use crate::convert::{convert, convert_literal, value_string, Converted, PropertyType};
use crate::eval::{eval, eval_src};
use crate::ir::ValueSrc;
use crate::{Engine, ErrorKind, MediationError, MessageContext};
use http::header::HeaderValue;
use synaptic_diag::{codes, Diagnostic, Span};
use synaptic_expr::synexpr::SynExpr;
use synaptic_expr::{CompiledExpr, Dialect, Scope, Value};
use synaptic_syntax::ast;

/// The scopes a property mediator knows (`env`, `file` and `func` are read-only).
const PROPERTY_SCOPES: &[&str] = &[
    "default",
    "transport",
    "axis2",
    "axis2-client",
    "operation",
    "registry",
    "system",
    "env",
    "file",
    "func",
    "trace",
    "analytics",
];

/// The property `type` values Synapse has.
const PROPERTY_TYPES: &[&str] = &[
    "STRING", "BOOLEAN", "INTEGER", "LONG", "SHORT", "FLOAT", "DOUBLE", "OM", "JSON",
];

#[derive(Debug)]
pub(crate) enum PropName {
    /// Shared with every message that sets it: setting it allocates no name.
    Literal(std::sync::Arc<str>),
    Dynamic(CompiledExpr),
}

#[derive(Debug)]
pub(crate) struct PropertyOp {
    pub name: PropName,
    pub remove: bool,
    pub scope: Scope,
    pub ty: Option<PropertyType>,
    pub value: ValueSrc,
    pub pattern: Option<(regex::Regex, usize)>,
}

impl Compiler<'_> {
    pub(crate) fn property(&mut self, p: &ast::Property, span: Span) -> Option<PropertyOp> {
        let remove = p.action == ast::PropertyAction::Remove;
        // every mistake on the element is reported: the scope, then the type, before giving up
        let scope = match &p.scope {
            None => Some(Scope::Default),
            Some(s) => {
                let sc = Scope::parse(&s.value);
                if sc.is_none() {
                    self.err(
                        codes::E0301,
                        s.span,
                        format!(
                            "unknown property scope `{}`{} (the scopes are: {})",
                            s.value,
                            synaptic_diag::suggest::did_you_mean(&s.value, PROPERTY_SCOPES),
                            PROPERTY_SCOPES.join(", ")
                        ),
                    );
                }
                sc
            }
        };
        let ty = match &p.ty {
            None => Some(None),
            Some(t) => match PropertyType::parse(&t.value) {
                Some(t) => Some(Some(t)),
                None => {
                    self.err(
                        codes::E0302,
                        t.span,
                        format!(
                            "unknown property type `{}`{} (the types are: {})",
                            t.value,
                            synaptic_diag::suggest::did_you_mean(&t.value, PROPERTY_TYPES),
                            PROPERTY_TYPES.join(", ")
                        ),
                    );
                    None
                }
            },
        };
        let scope_span = p.scope.as_ref().map(|s| s.span).unwrap_or(span);
        let scope = match (scope, ty) {
            (Some(sc), Some(_)) => sc,
            (Some(sc @ (Scope::Env | Scope::File | Scope::Func)), None) => {
                self.err(
                    codes::E0306,
                    scope_span,
                    format!("scope `{}` is read-only", sc.as_str()),
                );
                return None;
            }
            _ => return None,
        };
        let ty = ty?;
        match scope {
            Scope::Env | Scope::File | Scope::Func => {
                self.err(
                    codes::E0306,
                    scope_span,
                    format!("scope `{}` is read-only", scope.as_str()),
                );
                return None;
            }
            Scope::Registry | Scope::System if remove => {
                self.warn(
                    codes::W0301,
                    span,
                    format!(
                        "`action=\"remove\"` has no effect in scope `{}`",
                        scope.as_str()
                    ),
                );
            }
            _ => {}
        }
        let name = if p.name.value.len() > 2
            && p.name.value.starts_with('{')
            && p.name.value.ends_with('}')
        {
            let inner = &p.name.value[1..p.name.value.len() - 1];
            let e = ast::Expr {
                text: inner.to_string(),
                span: p.name.span,
                namespaces: Vec::new(),
            };
            self.dynamic_set = true;
            PropName::Dynamic(self.expr(&e, Dialect::XPath)?)
        } else {
            if matches!(scope, Scope::Default) && !remove {
                self.set_names.insert(p.name.value.clone());
                if ty.is_some_and(|t| t.is_numeric()) {
                    self.numeric_names.insert(p.name.value.clone());
                }
            }
            PropName::Literal(p.name.value.as_str().into())
        };
        if scope == Scope::Transport && !remove {
            if let PropName::Literal(n) = &name {
                if http::HeaderName::from_bytes(n.as_bytes()).is_err() {
                    self.err(
                        codes::E0106,
                        p.name.span,
                        format!("`{n}` is not a valid HTTP header name"),
                    );
                }
            }
        }
        let value = match &p.value {
            _ if remove => ValueSrc::None,
            ast::PropertyValue::Literal(l) => {
                self.placeholder_check(l);
                match convert_literal(&l.value, ty) {
                    Ok(v) => ValueSrc::Literal(v),
                    Err(msg) => {
                        self.err(
                            codes::E0303,
                            l.span,
                            format!("value `{}` does not convert: {msg}", l.value),
                        );
                        return None;
                    }
                }
            }
            ast::PropertyValue::Expression(e) if crate::eval::is_syn(e) => {
                ValueSrc::Syn(crate::eval::compile_syn(e, &mut self.diags)?)
            }
            ast::PropertyValue::Expression(e) => {
                let c = self.expr(e, Dialect::XPath)?;
                let compact: String = e.text.chars().filter(|c| !c.is_whitespace()).collect();
                let never_empty = compact == "get-property('SYSTEM_TIME')"
                    || compact == "get-property(\"SYSTEM_TIME\")";
                if ty.is_some_and(|t| t.is_numeric()) && c.may_be_empty() && !never_empty {
                    self.diags.push(
                        Diagnostic::warning(
                            codes::W0901,
                            e.span,
                            format!(
                                "numeric type {} on a value that can be empty or missing: Synapse faults on an empty value here (e.g. the first run of a registry cache); synaptic leaves the property unset",
                                ty.map(|t| t.as_str()).unwrap_or("")
                            ),
                        ),
                    );
                }
                ValueSrc::Expr(c)
            }
            ast::PropertyValue::Inline(x) => match ty {
                Some(PropertyType::Json) => match serde_json::from_str(&x.value) {
                    Ok(j) => ValueSrc::Literal(Value::Json(j)),
                    Err(_) => {
                        ValueSrc::Literal(Value::Json(serde_json::Value::String(x.value.clone())))
                    }
                },
                _ => ValueSrc::Literal(Value::Xml(x.value.clone())),
            },
            ast::PropertyValue::None => ValueSrc::None,
        };
        let pattern = match (&p.pattern, &p.group) {
            (Some(pat), g) => {
                let re = self.regex(pat)?;
                let group = match g {
                    None => 0,
                    Some(g) => match g.value.trim().parse::<usize>() {
                        Ok(n) => n,
                        Err(_) => {
                            self.err(
                                codes::E0106,
                                g.span,
                                format!("group `{}` is not a number ≥ 0", g.value),
                            );
                            return None;
                        }
                    },
                };
                Some((re, group))
            }
            (None, Some(g)) => {
                self.err(codes::E0105, g.span, "`group` needs a `pattern`");
                return None;
            }
            (None, None) => None,
        };
        Some(PropertyOp {
            name,
            remove,
            scope,
            ty,
            value,
            pattern,
        })
    }
}

/// Whether the mediator never waits: every scope but the registry's (a write there goes
/// through the registry).
pub(crate) fn is_sync(p: &PropertyOp) -> bool {
    p.scope != Scope::Registry
}

pub(crate) async fn property(
    engine: &Engine,
    p: &PropertyOp,
    ctx: &mut MessageContext,
) -> Result<(), MediationError> {
    let Some((name, s)) = property_now(engine, p, ctx)? else {
        return Ok(());
    };
    engine.registry.put(&name, &s).await.map_err(|e| {
        MediationError::internal(ErrorKind::Registry, format!("registry write failed: {e}"))
    })?;
    ctx.st.registry.insert(name, Some(s));
    Ok(())
}

/// Everything but the registry write itself: a registry-scoped property gives back the key
/// and the text to write.
pub(crate) fn property_now(
    engine: &Engine,
    p: &PropertyOp,
    ctx: &mut MessageContext,
) -> Result<Option<(String, String)>, MediationError> {
    let key: crate::PropName = match &p.name {
        PropName::Literal(n) => n.into(),
        PropName::Dynamic(e) => value_string(&eval(engine, ctx, e)?)
            .unwrap_or_default()
            .into(),
    };
    let name = key.as_str();
    if p.remove {
        match p.scope {
            Scope::Default => {
                ctx.properties.default.remove(name);
            }
            Scope::Axis2 => {
                ctx.properties.axis2.remove(name);
            }
            Scope::Axis2Client => {
                ctx.st.axis2_client.remove(name);
            }
            Scope::Operation => {
                ctx.properties.operation.remove(name);
            }
            Scope::Transport => {
                ctx.headers.remove(name);
            }
            Scope::Registry
            | Scope::System
            | Scope::Env
            | Scope::File
            | Scope::Func
            | Scope::Trace
            | Scope::Analytics => {}
        }
        return Ok(None);
    }
    let literal = matches!(p.value, ValueSrc::Literal(_));
    let mut v = eval_src(engine, ctx, &p.value)?;
    if let Some((re, g)) = &p.pattern {
        let s = value_string(&v).unwrap_or_default();
        v = Value::String(match re.captures(&s) {
            Some(c) => c
                .get(*g)
                .map(|m| m.as_str().to_string())
                .unwrap_or_default(),
            None => String::new(),
        });
    }
    let conv = if literal && p.pattern.is_none() {
        Converted::Set(v)
    } else {
        convert(v, p.ty).map_err(|msg| {
            MediationError::internal(ErrorKind::Conversion, format!("property `{name}`: {msg}"))
        })?
    };
    let v = match conv {
        Converted::Unset => return Ok(None),
        Converted::Set(v) => v,
    };
    match p.scope {
        Scope::Default => {
            if v != Value::Null {
                ctx.properties.default.insert(key.clone(), v);
            }
        }
        Scope::Axis2 => {
            if name == "messageType" {
                match value_string(&v) {
                    Some(mt) => ctx.set_message_type(&mt),
                    None => {
                        ctx.properties.axis2.remove(name);
                    }
                }
            } else if v == Value::Null {
                ctx.properties.axis2.remove(name);
            } else {
                ctx.properties.axis2.insert(key.clone(), v);
            }
        }
        Scope::Axis2Client => {
            if v == Value::Null {
                ctx.st.axis2_client.remove(name);
            } else {
                ctx.st.axis2_client.insert(name.to_string(), v);
            }
        }
        Scope::Operation => {
            if v != Value::Null {
                ctx.properties.operation.insert(key.clone(), v);
            }
        }
        Scope::Transport => {
            let s = value_string(&v).unwrap_or_default();
            set_header(ctx, name, &s)?;
        }
        Scope::Registry => {
            let Some(s) = value_string(&v) else {
                return Err(MediationError::internal(
                    ErrorKind::Registry,
                    format!("cannot write a null value to registry key `{name}`"),
                ));
            };
            return Ok(Some((name.to_string(), s)));
        }
        Scope::System => {
            if let Some(s) = value_string(&v) {
                if let Ok(mut m) = system_props().write() {
                    m.insert(name.to_string(), s);
                }
            }
        }
        // read-only scopes are refused by compile; trace/analytics are not kept
        Scope::Env | Scope::File | Scope::Func | Scope::Trace | Scope::Analytics => {}
    }
    Ok(None)
}

fn set_header(ctx: &mut MessageContext, name: &str, value: &str) -> Result<(), MediationError> {
    let n = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        MediationError::internal(
            ErrorKind::Conversion,
            format!("`{name}` is not a valid header name"),
        )
    })?;
    let v = HeaderValue::from_str(value).map_err(|_| {
        MediationError::internal(
            ErrorKind::Conversion,
            format!("the value for header `{name}` contains characters not allowed in HTTP"),
        )
    })?;
    ctx.headers.insert(n, v);
    Ok(())
}

pub(crate) fn exprs(p: &PropertyOp, visit: &mut dyn FnMut(&CompiledExpr)) {
    if let PropName::Dynamic(e) = &p.name {
        visit(e);
    }
    if let ValueSrc::Expr(e) = &p.value {
        visit(e);
    }
}

pub(crate) fn syn_exprs<'a>(p: &'a PropertyOp, out: &mut Vec<&'a SynExpr>) {
    if let ValueSrc::Syn(e) = &p.value {
        out.push(e);
    }
}
