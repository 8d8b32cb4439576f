//! The scalar evaluator: XPath expressions that never touch a node — literals, literal property
//! reads, arithmetic, comparisons, `and`/`or` and a handful of functions — evaluated directly,
//! without sxd-xpath. Filters such as the `simple-token-gen` sequence's
//! `get-property('SYSTEM_TIME') - get-property('generated-time') > 3600000 or
//! get-property('access_token') = ''` run here on every request.
//!
//! The semantics are exactly those of the sxd-xpath path (the rewritten expression with our
//! `_eq`/`number()`/`string()`/`concat()`; see `xpath.rs`): a missing property is an empty
//! node-set, typed numeric properties are numbers, strings become numbers the Java way, `=`/`!=`
//! with a direct property read that is missing are false. Tests compare both evaluators
//! ([`crate::eval_reference`]) over a table of expressions and values; anything outside the
//! subset is left to sxd-xpath.

use crate::functions::{bare_read, resolve_call, strip_groups};
use crate::num::{java_parse_double, xpath_number_string};
use crate::props::{self, EnvSource, Read};
use crate::syntax::{BinOp, Expr};
use crate::{ExprEnv, Value};

/// A compiled scalar expression.
#[derive(Clone, Debug)]
pub(crate) enum Scalar {
    Lit(String),
    Num(f64),
    Read(Read),
    /// `-(number(x))`
    Neg(Box<Scalar>),
    /// `number(l) op number(r)` for `+ - * div mod`.
    Arith(BinOp, Box<Scalar>, Box<Scalar>),
    /// A comparison; the flags say which sides are direct property reads (`=`/`!=` only).
    Cmp(CmpOp, Box<Scalar>, Box<Scalar>, bool, bool),
    And(Box<Scalar>, Box<Scalar>),
    Or(Box<Scalar>, Box<Scalar>),
    Not(Box<Scalar>),
    Bool(bool),
    Boolean(Box<Scalar>),
    String(Box<Scalar>),
    Number(Box<Scalar>),
    Concat(Vec<Scalar>),
}

/// A comparison operator with XPath 1.0 §3.4 semantics and Java number parsing (shared with
/// the sxd-xpath path's `_eq`… functions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn of(op: BinOp) -> Option<CmpOp> {
        Some(match op {
            BinOp::Eq => CmpOp::Eq,
            BinOp::Ne => CmpOp::Ne,
            BinOp::Lt => CmpOp::Lt,
            BinOp::Le => CmpOp::Le,
            BinOp::Gt => CmpOp::Gt,
            BinOp::Ge => CmpOp::Ge,
            _ => return None,
        })
    }
    pub(crate) fn num(self, a: f64, b: f64) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
        }
    }
    pub(crate) fn is_equality(self) -> bool {
        matches!(self, CmpOp::Eq | CmpOp::Ne)
    }
    pub(crate) fn flip(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            other => other,
        }
    }
    pub(crate) fn strings(self, a: &str, b: &str) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            _ => self.num(java_parse_double(a), java_parse_double(b)),
        }
    }
    pub(crate) fn bools(self, a: bool, b: bool) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            _ => self.num(f64::from(u8::from(a)), f64::from(u8::from(b))),
        }
    }
}

/// The scalar form of an expression, when every part of it is in the subset.
pub(crate) fn build(e: &Expr, ns: &[(String, String)]) -> Option<Scalar> {
    let e = strip_groups(e);
    if let Some(read) = bare_read(e, ns) {
        return Some(Scalar::Read(read));
    }
    Some(match e {
        Expr::Literal(s) => Scalar::Lit(s.clone()),
        Expr::Number(v, _) => Scalar::Num(*v),
        Expr::Neg(x) => Scalar::Neg(Box::new(build(x, ns)?)),
        Expr::Binary(op, l, r) => {
            let (a, b) = (Box::new(build(l, ns)?), Box::new(build(r, ns)?));
            match op {
                BinOp::Or => Scalar::Or(a, b),
                BinOp::And => Scalar::And(a, b),
                BinOp::Union => return None,
                op if op.is_arith() => Scalar::Arith(*op, a, b),
                op => {
                    let cmp = CmpOp::of(*op)?;
                    let flag =
                        |x: &Expr| cmp.is_equality() && bare_read(strip_groups(x), ns).is_some();
                    Scalar::Cmp(cmp, a, b, flag(l), flag(r))
                }
            }
        }
        Expr::Call {
            prefix, name, args, ..
        } => {
            let spec = resolve_call(prefix.as_deref(), name, ns).ok()?;
            let one = |args: &[Expr]| match args {
                [x] => build(x, ns).map(Box::new),
                _ => None,
            };
            match (spec.name, args.len()) {
                ("true", 0) => Scalar::Bool(true),
                ("false", 0) => Scalar::Bool(false),
                ("not", 1) => Scalar::Not(one(args)?),
                ("boolean", 1) => Scalar::Boolean(one(args)?),
                ("string", 1) => Scalar::String(one(args)?),
                ("number", 1) => Scalar::Number(one(args)?),
                ("concat", n) if n >= 2 => Scalar::Concat(
                    args.iter()
                        .map(|a| build(a, ns))
                        .collect::<Option<Vec<_>>>()?,
                ),
                _ => return None,
            }
        }
        _ => return None,
    })
}

/// A value inside the evaluation, as sxd-xpath would hold it.
#[derive(Debug)]
enum V {
    /// An empty node-set: a missing property (Java null).
    Empty,
    Str(String),
    Num(f64),
    Bool(bool),
}

impl V {
    fn of(v: Value) -> V {
        match v {
            Value::Null => V::Empty,
            Value::String(s) | Value::Xml(s) => V::Str(s),
            Value::Number(n) => V::Num(n),
            Value::Integer(i) => V::Num(i as f64),
            Value::Boolean(b) => V::Bool(b),
            Value::Json(j) => V::Str(j.to_string()),
        }
    }
    fn string(self) -> String {
        match self {
            V::Empty => String::new(),
            V::Str(s) => s,
            V::Num(n) => xpath_number_string(n),
            V::Bool(b) => b.to_string(),
        }
    }
    fn number(&self) -> f64 {
        match self {
            V::Empty => java_parse_double(""),
            V::Str(s) => java_parse_double(s),
            V::Num(n) => *n,
            V::Bool(b) => f64::from(u8::from(*b)),
        }
    }
    fn boolean(&self) -> bool {
        match self {
            V::Empty => false,
            V::Str(s) => !s.is_empty(),
            V::Num(n) => *n != 0.0 && !n.is_nan(),
            V::Bool(b) => *b,
        }
    }
}

/// XPath 1.0 §3.4 comparison (an empty node-set has no node to compare).
fn compare(op: CmpOp, a: &V, b: &V) -> bool {
    match (a, b) {
        (V::Empty, V::Empty) => false,
        (V::Empty, other) => compare_empty(op, other),
        (other, V::Empty) => compare_empty(op.flip(), other),
        _ if op.is_equality() => match (a, b) {
            (V::Bool(_), _) | (_, V::Bool(_)) => op.bools(a.boolean(), b.boolean()),
            (V::Num(_), _) | (_, V::Num(_)) => op.num(a.number(), b.number()),
            (V::Str(x), V::Str(y)) => op.strings(x, y),
            _ => false,
        },
        _ => op.num(a.number(), b.number()),
    }
}

/// An empty node-set against a value: only a boolean comparison can hold.
fn compare_empty(op: CmpOp, other: &V) -> bool {
    match other {
        V::Bool(b) => op.bools(false, *b),
        _ => false,
    }
}

fn eval_v(s: &Scalar, env: &dyn ExprEnv) -> V {
    match s {
        Scalar::Lit(t) => V::Str(t.clone()),
        Scalar::Num(n) => V::Num(*n),
        Scalar::Read(r) => V::of(props::read(r, &EnvSource(env))),
        Scalar::Neg(x) => V::Num(-eval_v(x, env).number()),
        Scalar::Arith(op, l, r) => {
            let (a, b) = (eval_v(l, env).number(), eval_v(r, env).number());
            V::Num(match op {
                BinOp::Add => a + b,
                BinOp::Sub => a - b,
                BinOp::Mul => a * b,
                BinOp::Div => a / b,
                _ => a % b,
            })
        }
        Scalar::Cmp(op, l, r, null_l, null_r) => {
            let (a, b) = (eval_v(l, env), eval_v(r, env));
            // Jaxen: `=`/`!=` with a missing (null) property read as an operand are false
            if (*null_l && matches!(a, V::Empty)) || (*null_r && matches!(b, V::Empty)) {
                return V::Bool(false);
            }
            V::Bool(compare(*op, &a, &b))
        }
        Scalar::And(l, r) => V::Bool(eval_v(l, env).boolean() && eval_v(r, env).boolean()),
        Scalar::Or(l, r) => V::Bool(eval_v(l, env).boolean() || eval_v(r, env).boolean()),
        Scalar::Not(x) => V::Bool(!eval_v(x, env).boolean()),
        Scalar::Bool(b) => V::Bool(*b),
        Scalar::Boolean(x) => V::Bool(eval_v(x, env).boolean()),
        Scalar::String(x) => V::Str(eval_v(x, env).string()),
        Scalar::Number(x) => V::Num(eval_v(x, env).number()),
        Scalar::Concat(parts) => {
            let mut out = String::new();
            for p in parts {
                match eval_v(p, env) {
                    V::Str(t) => out.push_str(&t),
                    other => out.push_str(&other.string()),
                }
            }
            V::Str(out)
        }
    }
}

/// The expression's value, as the sxd-xpath path converts its result.
pub(crate) fn eval(s: &Scalar, env: &dyn ExprEnv) -> Value {
    match eval_v(s, env) {
        V::Empty => Value::String(String::new()),
        V::Str(t) => Value::String(t),
        V::Num(n) => Value::Number(n),
        V::Bool(b) => Value::Boolean(b),
    }
}

/// XPath's `boolean()` of the expression.
pub(crate) fn eval_bool(s: &Scalar, env: &dyn ExprEnv) -> bool {
    eval_v(s, env).boolean()
}
