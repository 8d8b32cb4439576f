//! `<variable>` (Micro Integrator 4.4): set or remove a typed variable.
//!
//! Variables live with the message (`${vars.name}`), apart from properties: `get-property`
//! never sees them. A variable holds a typed value: `STRING` (the default for a `value=`),
//! `BOOLEAN`, `INTEGER`, `DOUBLE`, `LONG`, `XML` or `JSON`; an `expression=` without a type keeps
//! the expression's own type (a number stays a number, a JSON object stays JSON).

use synaptic_diag::{codes, Diagnostic, Spanned};
use synaptic_expr::synexpr::{self, SynExpr};
use synaptic_expr::{CompiledExpr, Value};
use synaptic_syntax::ast;

use crate::context::Env;
use crate::eval::{compile_syn, is_syn};
use crate::{Engine, ErrorKind, MediationError, MessageContext};

/// A variable's declared type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VarType {
    String,
    Boolean,
    Integer,
    Double,
    Long,
    Xml,
    Json,
}

impl VarType {
    fn parse(s: &str) -> Option<VarType> {
        Some(match s {
            "STRING" => VarType::String,
            "BOOLEAN" => VarType::Boolean,
            "INTEGER" => VarType::Integer,
            "DOUBLE" => VarType::Double,
            "LONG" => VarType::Long,
            "XML" => VarType::Xml,
            "JSON" => VarType::Json,
            _ => return None,
        })
    }
    fn as_str(self) -> &'static str {
        match self {
            VarType::String => "STRING",
            VarType::Boolean => "BOOLEAN",
            VarType::Integer => "INTEGER",
            VarType::Double => "DOUBLE",
            VarType::Long => "LONG",
            VarType::Xml => "XML",
            VarType::Json => "JSON",
        }
    }
}

#[derive(Debug)]
pub(crate) enum VarSrc {
    /// Converted at load.
    Literal(Value),
    Syn(SynExpr),
    XPath(CompiledExpr),
    None,
}

#[derive(Debug)]
pub(crate) struct VariableOp {
    pub name: String,
    pub remove: bool,
    pub ty: Option<VarType>,
    pub value: VarSrc,
}

/// Compile a `<variable>`. `xpath` compiles a classic (XPath / `json-eval`) expression.
pub(crate) fn compile(
    v: &ast::Variable,
    diags: &mut Vec<Diagnostic>,
    xpath: &mut dyn FnMut(&ast::Expr) -> Option<CompiledExpr>,
) -> Option<VariableOp> {
    let (ty, value) = if v.remove {
        (parse_type(v.ty.as_ref(), diags)?, VarSrc::None)
    } else {
        compile_typed(&v.value, v.ty.as_ref(), diags, xpath)?
    };
    Some(VariableOp {
        name: v.name.value.clone(),
        remove: v.remove,
        ty,
        value,
    })
}

fn parse_type(
    ty: Option<&Spanned<String>>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Option<VarType>> {
    match ty {
        None => Some(None),
        Some(t) => match VarType::parse(&t.value) {
            Some(t) => Some(Some(t)),
            None => {
                diags.push(Diagnostic::error(
                    codes::E0302,
                    t.span,
                    format!("unknown variable type `{}`", t.value),
                ));
                None
            }
        },
    }
}

/// A typed value (a `<variable>`'s, a script `<argument>`'s), as Micro Integrator reads one:
/// `value=` converted to its `type=` at load (E0303 when it does not convert), an expression
/// compiled.
pub(crate) fn compile_typed(
    value: &ast::PropertyValue,
    ty: Option<&Spanned<String>>,
    diags: &mut Vec<Diagnostic>,
    xpath: &mut dyn FnMut(&ast::Expr) -> Option<CompiledExpr>,
) -> Option<(Option<VarType>, VarSrc)> {
    let ty = parse_type(ty, diags)?;
    let src = match value {
        ast::PropertyValue::Literal(l) => match convert_literal(&l.value, ty) {
            Ok(v) => VarSrc::Literal(v),
            Err(msg) => {
                diags.push(Diagnostic::error(
                    codes::E0303,
                    l.span,
                    format!("value `{}` does not convert: {msg}", l.value),
                ));
                return None;
            }
        },
        ast::PropertyValue::Expression(e) if is_syn(e) => VarSrc::Syn(compile_syn(e, diags)?),
        ast::PropertyValue::Expression(e) => VarSrc::XPath(xpath(e)?),
        ast::PropertyValue::Inline(x) => VarSrc::Literal(Value::Xml(x.value.clone())),
        ast::PropertyValue::None => VarSrc::None,
    };
    Some((ty, src))
}

/// A `value=` converted by type, as Micro Integrator does at load.
fn convert_literal(s: &str, ty: Option<VarType>) -> Result<Value, String> {
    Ok(match ty {
        None | Some(VarType::String) => Value::String(s.to_string()),
        Some(VarType::Boolean) => Value::Boolean(matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "yes" | "1" | "on"
        )),
        Some(VarType::Integer) => {
            Value::Integer(s.parse::<i32>().map_err(|_| "not an INTEGER".to_string())? as i64)
        }
        Some(VarType::Long) => {
            Value::Integer(s.parse::<i64>().map_err(|_| "not a LONG".to_string())?)
        }
        Some(VarType::Double) => {
            let d = synaptic_expr::java_parse_double(s);
            if d.is_nan() && s.trim() != "NaN" {
                return Err("not a DOUBLE".into());
            }
            Value::Number(d)
        }
        Some(VarType::Xml) => {
            synaptic_payload::xml::parse(s).map_err(|e| format!("not XML: {e}"))?;
            Value::Xml(s.to_string())
        }
        Some(VarType::Json) => match serde_json::from_str(s) {
            Ok(j) => Value::Json(j),
            Err(_) => Value::Json(serde_json::Value::String(s.to_string())),
        },
    })
}

/// Run a `<variable>`.
pub(crate) fn run(
    engine: &Engine,
    op: &VariableOp,
    ctx: &mut MessageContext,
) -> Result<(), MediationError> {
    if op.remove {
        ctx.st.variables.remove(&op.name);
        return Ok(());
    }
    let v = resolve(engine, ctx, op.ty, &op.value).map_err(|e| match e {
        ResolveError::Mediation(e) => e,
        ResolveError::Type(msg) => MediationError::internal(
            ErrorKind::Conversion,
            format!("variable `{}`: {msg}", op.name),
        ),
    })?;
    if v == Value::Null {
        // MI stores null; reading it back is the same as an unset variable
        ctx.st.variables.remove(&op.name);
    } else {
        ctx.st.variables.insert(op.name.clone(), v);
    }
    Ok(())
}

/// The value of a typed source on this message: a literal as converted at load, an expression's
/// result converted to (or checked against) the type as Micro Integrator does. An evaluation
/// error is a mediation error; a value that does not fit the type is `Err(message)`.
pub(crate) fn resolve(
    engine: &Engine,
    ctx: &MessageContext,
    ty: Option<VarType>,
    src: &VarSrc,
) -> Result<Value, ResolveError> {
    Ok(match src {
        VarSrc::Literal(v) => v.clone(),
        VarSrc::None => Value::Null,
        VarSrc::XPath(e) => {
            let v = crate::eval::eval(engine, ctx, e).map_err(ResolveError::Mediation)?;
            typed_from_text(v, ty).map_err(ResolveError::Type)?
        }
        VarSrc::Syn(e) => {
            let env = Env::of(engine, ctx);
            match ty {
                Some(VarType::String) => Value::String(synexpr::string_value_of(e, &env)),
                Some(VarType::Xml) => {
                    let s = synexpr::string_value_of(e, &env);
                    synaptic_payload::xml::parse(&s)
                        .map_err(|e| ResolveError::Type(format!("not XML: {e}")))?;
                    Value::Xml(s)
                }
                ty => {
                    check_type(synexpr::object_value_of(e, &env), ty).map_err(ResolveError::Type)?
                }
            }
        }
    })
}

/// Why a typed value could not be had.
pub(crate) enum ResolveError {
    /// The expression's evaluation failed.
    Mediation(MediationError),
    /// The value does not fit the declared type.
    Type(String),
}

/// An expression result checked against the declared type (MI faults on a mismatch).
fn check_type(v: Value, ty: Option<VarType>) -> Result<Value, String> {
    let Some(t) = ty else { return Ok(v) };
    let ok = match (t, &v) {
        (_, Value::Null) => true,
        (VarType::Boolean, Value::Boolean(_)) => true,
        (VarType::Double, Value::Number(_)) => true,
        (VarType::Double, Value::Integer(i)) => return Ok(Value::Number(*i as f64)),
        (VarType::Integer, Value::Integer(i)) => i32::try_from(*i).is_ok(),
        (VarType::Long, Value::Integer(_)) => true,
        (VarType::Json, Value::Json(_)) => true,
        (VarType::Json, Value::String(s)) => {
            return Ok(Value::Json(serde_json::Value::String(s.clone())))
        }
        (VarType::Json, Value::Integer(i)) => return Ok(Value::Json((*i).into())),
        (VarType::Json, Value::Boolean(b)) => return Ok(Value::Json((*b).into())),
        _ => false,
    };
    if ok {
        Ok(v)
    } else {
        Err(format!(
            "the expression's value is not of type {}",
            t.as_str()
        ))
    }
}

/// A classic expression's result (usually text) converted to the declared type.
fn typed_from_text(v: Value, ty: Option<VarType>) -> Result<Value, String> {
    match (ty, v.to_synapse_string()) {
        (None, _) | (_, None) => Ok(v),
        (Some(t), Some(s)) => convert_literal(&s, Some(t)),
    }
}

pub(crate) fn exprs(v: &VariableOp, visit: &mut dyn FnMut(&CompiledExpr)) {
    if let VarSrc::XPath(e) = &v.value {
        visit(e);
    }
}

pub(crate) fn syn_exprs<'a>(v: &'a VariableOp, out: &mut Vec<&'a SynExpr>) {
    if let VarSrc::Syn(e) = &v.value {
        out.push(e);
    }
}
