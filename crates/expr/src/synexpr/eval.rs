//! Evaluation of a Synapse Expression AST, with MI's typing rules and a JSONPath evaluator.

use std::cell::OnceCell;

use serde_json::Value as Json;
use synaptic_payload::Payload;

use super::decimal::Dec;
use super::parser::{Lit, Node, Op, PathFn, Seg, Sel, Source};
use super::{functions, Func, SynEnv};
use crate::{Scope, Value};

/// A typed result: Java's `Integer`, `Long`, `Double`, `Boolean`, `String`, a JSON object or
/// array, serialized XML, or null.
#[derive(Clone, Debug, PartialEq)]
pub enum SynValue {
    Null,
    Int(i32),
    Long(i64),
    Double(f64),
    Bool(bool),
    Str(String),
    /// A JSON object or array.
    Json(Json),
    Xml(String),
}

pub type R<T> = Result<T, String>;

impl SynValue {
    /// The text an attribute gets (`None` for null): numbers as Java prints them, JSON compact.
    pub fn to_text(&self) -> Option<String> {
        Some(match self {
            SynValue::Null => return None,
            SynValue::Int(i) => i.to_string(),
            SynValue::Long(i) => i.to_string(),
            SynValue::Double(d) => crate::java_double_to_string(*d),
            SynValue::Bool(b) => b.to_string(),
            SynValue::Str(s) | SynValue::Xml(s) => s.clone(),
            SynValue::Json(Json::String(s)) => s.clone(),
            SynValue::Json(j) => j.to_string(),
        })
    }

    /// `asString()`, with null as an error.
    pub fn text(&self) -> R<String> {
        self.to_text().ok_or_else(|| "null value".to_string())
    }

    /// The engine's value.
    pub fn into_value(self) -> Value {
        match self {
            SynValue::Null => Value::Null,
            SynValue::Int(i) => Value::Integer(i as i64),
            SynValue::Long(i) => Value::Integer(i),
            SynValue::Double(d) => Value::Number(d),
            SynValue::Bool(b) => Value::Boolean(b),
            SynValue::Str(s) => Value::String(s),
            SynValue::Json(j) => Value::Json(j),
            SynValue::Xml(s) => Value::Xml(s),
        }
    }

    /// A JSON value as Jayway unwraps it: strings, booleans, `int`/`long`/`double`, null;
    /// objects and arrays stay JSON.
    pub fn from_json(j: &Json) -> SynValue {
        match j {
            Json::Null => SynValue::Null,
            Json::Bool(b) => SynValue::Bool(*b),
            Json::String(s) => SynValue::Str(s.clone()),
            Json::Number(n) => {
                if let Some(i) = n.as_i64() {
                    int_or_long(i)
                } else if let Some(f) = n.as_f64() {
                    SynValue::Double(f)
                } else {
                    SynValue::Str(n.to_string())
                }
            }
            other => SynValue::Json(other.clone()),
        }
    }

    /// A stored value (variable, function parameter).
    pub fn from_value(v: Value) -> SynValue {
        match v {
            Value::Null => SynValue::Null,
            Value::String(s) => SynValue::Str(s),
            Value::Number(n) => SynValue::Double(n),
            Value::Integer(i) => int_or_long(i),
            Value::Boolean(b) => SynValue::Bool(b),
            Value::Xml(s) => SynValue::Xml(s),
            Value::Json(j) => SynValue::from_json(&j),
        }
    }

    pub fn is_int(&self) -> bool {
        matches!(self, SynValue::Int(_))
    }
    pub fn is_number(&self) -> bool {
        matches!(
            self,
            SynValue::Int(_) | SynValue::Long(_) | SynValue::Double(_)
        )
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            SynValue::Int(i) => Some(*i as f64),
            SynValue::Long(i) => Some(*i as f64),
            SynValue::Double(d) => Some(*d),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            SynValue::Int(i) => Some(*i as i64),
            SynValue::Long(i) => Some(*i),
            _ => None,
        }
    }
    /// The value as JSON (for arrays built from literals, comparisons in filters).
    pub fn to_json(&self) -> Json {
        match self {
            SynValue::Null => Json::Null,
            SynValue::Int(i) => Json::from(*i),
            SynValue::Long(i) => Json::from(*i),
            SynValue::Double(d) => serde_json::Number::from_f64(*d)
                .map(Json::Number)
                .unwrap_or(Json::Null),
            SynValue::Bool(b) => Json::Bool(*b),
            SynValue::Str(s) | SynValue::Xml(s) => Json::String(s.clone()),
            SynValue::Json(j) => j.clone(),
        }
    }
}

pub fn int_or_long(i: i64) -> SynValue {
    match i32::try_from(i) {
        Ok(v) => SynValue::Int(v),
        Err(_) => SynValue::Long(i),
    }
}

/// `Integer.parseInt`, then `Long.parseLong`, then `Double.parseDouble`, else the string
/// (how MI types headers, properties and parameters).
pub fn parse_number_or_string(s: String) -> SynValue {
    if let Some(v) = parse_java_integral(&s) {
        return v;
    }
    if looks_like_java_double(&s) {
        let d = crate::java_parse_double(&s);
        if !d.is_nan() {
            return SynValue::Double(d);
        }
    }
    SynValue::Str(s)
}

fn parse_java_integral(s: &str) -> Option<SynValue> {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok().map(int_or_long)
}

fn looks_like_java_double(s: &str) -> bool {
    let t = s.trim();
    !t.is_empty()
        && t.bytes().any(|b| b.is_ascii_digit())
        && t.bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eEdDfF".contains(&b))
}

/// A number literal: `int`, else `long`, else `double`.
pub fn number_literal(s: &str) -> R<SynValue> {
    if let Some(v) = parse_java_integral(s) {
        return Ok(v);
    }
    s.parse::<f64>()
        .map(SynValue::Double)
        .map_err(|_| format!("`{s}` is not a number"))
}

pub struct Evaluator<'a> {
    pub env: &'a dyn SynEnv,
    converted: OnceCell<Option<Json>>,
    steps: std::cell::Cell<usize>,
}

/// Most JSON values a single evaluation may visit (deep scans, filters) before it fails.
pub const MAX_STEPS: usize = 1_000_000;

impl<'a> Evaluator<'a> {
    pub fn new(env: &'a dyn SynEnv) -> Self {
        Evaluator {
            env,
            converted: OnceCell::new(),
            steps: std::cell::Cell::new(0),
        }
    }

    fn step(&self, n: usize) -> R<()> {
        let s = self.steps.get() + n;
        self.steps.set(s);
        if s > MAX_STEPS {
            return Err("expression visits too many values".into());
        }
        Ok(())
    }

    /// The payload as JSON (an XML body through its JSON conversion).
    pub fn payload_json(&self) -> R<&Json> {
        let p = self.env.as_expr().payload();
        let j = match p {
            Payload::Json(v) => Some(v),
            _ => self
                .converted
                .get_or_init(|| synaptic_payload::to_json(p))
                .as_ref(),
        };
        j.ok_or_else(|| "the payload is empty or not JSON".to_string())
    }

    pub fn eval(&self, n: &Node) -> R<SynValue> {
        self.eval_at(n, None)
    }

    /// Evaluate with `cur` bound to `@` (inside filters).
    pub fn eval_at(&self, n: &Node, cur: Option<&Json>) -> R<SynValue> {
        match n {
            Node::Lit(l) => Ok(match l {
                Lit::Null => SynValue::Null,
                Lit::Bool(b) => SynValue::Bool(*b),
                Lit::Num(v) => v.clone(),
                Lit::Str(s) => SynValue::Str(s.clone()),
            }),
            Node::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(self.eval_at(i, cur)?.to_json());
                }
                Ok(SynValue::Json(Json::Array(out)))
            }
            Node::Neg(x) => match self.eval_at(x, cur)? {
                SynValue::Int(i) => Ok(match i.checked_neg() {
                    Some(v) => SynValue::Int(v),
                    None => SynValue::Long(-(i as i64)),
                }),
                SynValue::Long(i) => i
                    .checked_neg()
                    .map(SynValue::Long)
                    .ok_or_else(|| "overflow".to_string()),
                SynValue::Double(d) => Ok(SynValue::Double(-d)),
                other => Err(format!("cannot negate {other:?}")),
            },
            Node::Not(x) => {
                if cur.is_some() {
                    return Ok(SynValue::Bool(!self.filter_truth(x, cur)));
                }
                match self.eval_at(x, cur)? {
                    SynValue::Bool(b) => Ok(SynValue::Bool(!b)),
                    _ => Err("`!` needs a boolean".into()),
                }
            }
            Node::Cond(c, a, b) => match self.eval_at(c, cur)? {
                SynValue::Bool(true) => self.eval_at(a, cur),
                SynValue::Bool(false) => self.eval_at(b, cur),
                SynValue::Null => Err("condition is null".into()),
                _ => Err("condition is not a boolean".into()),
            },
            Node::Bin(op, l, r) => {
                if cur.is_some() {
                    return self.filter_bin(*op, l, r, cur);
                }
                let lv = self.eval_at(l, cur)?;
                let rv = self.eval_at(r, cur)?;
                binary(*op, lv, rv)
            }
            Node::Regex(l, re) => {
                let v = self.eval_at(l, cur);
                Ok(SynValue::Bool(match v {
                    Ok(SynValue::Str(s)) => re.is_match(&s),
                    _ => false,
                }))
            }
            Node::Payload(segs) => {
                if segs.is_empty() {
                    if let Payload::Xml(env) = self.env.as_expr().payload() {
                        return Ok(match env.body.first() {
                            Some(e) => SynValue::Xml(e.to_xml()),
                            None => SynValue::Null,
                        });
                    }
                }
                let root = self.payload_json()?;
                self.apply_path(root, segs)
            }
            Node::Current(segs) => {
                let c = cur.ok_or("`@` outside a filter")?;
                self.apply_path(c, segs)
            }
            Node::Var(name, segs) => {
                let v = self
                    .env
                    .variable(name)
                    .ok_or_else(|| format!("variable {name} is not defined"))?;
                if segs.is_empty() {
                    return Ok(SynValue::from_value(v));
                }
                let base = match v {
                    Value::Json(j) => j,
                    Value::String(s) => serde_json::from_str(&s)
                        .map_err(|_| format!("variable {name} does not hold JSON"))?,
                    Value::Integer(i) => Json::from(i),
                    Value::Number(n) => serde_json::Number::from_f64(n)
                        .map(Json::Number)
                        .unwrap_or(Json::Null),
                    Value::Boolean(b) => Json::Bool(b),
                    Value::Xml(_) => {
                        return Err(format!("JSONPath on the XML variable {name}"));
                    }
                    Value::Null => return Err(format!("variable {name} is null")),
                };
                self.apply_path(&base, segs)
            }
            Node::Read(src, name) => self.read(*src, name),
            Node::Call(f, args, segs) => {
                let v = functions::call(self, *f, args, cur)?;
                if segs.is_empty() {
                    return Ok(v);
                }
                let base = match v {
                    SynValue::Json(j) => j,
                    SynValue::Str(s) if *f == Func::Registry => serde_json::from_str(&s)
                        .map_err(|_| "registry resource is not JSON".to_string())?,
                    _ => return Err("JSONPath on a value that is not JSON".into()),
                };
                self.apply_path(&base, segs)
            }
            Node::RegistryProp(k, p) => {
                let key = self.eval_at(k, cur)?.text()?;
                let prop = self.eval_at(p, cur)?.text()?;
                self.env
                    .registry_property(&key, &prop)
                    .map(SynValue::Str)
                    .ok_or_else(|| format!("no property {prop} on registry resource {key}"))
            }
            Node::XPath(x, compiled, var) => {
                functions::xpath(self, x, compiled.as_deref(), var.as_deref(), cur)
            }
        }
    }

    fn read(&self, src: Source, name: &str) -> R<SynValue> {
        let env = self.env.as_expr();
        let v: Option<Value> = match src {
            Source::Header => env.property(Scope::Transport, name),
            Source::Synapse => env.property(Scope::Default, name),
            Source::Axis2 => env.property(Scope::Axis2, name),
            Source::Query => env.url_param(name).map(Value::String),
            Source::Path => env.property(Scope::Default, &format!("uri.var.{name}")),
            Source::Function => self.env.function_param(name),
            Source::Config => self.env.config(name).map(Value::String),
        };
        match v.and_then(|v| v.to_synapse_string()) {
            Some(s) => Ok(parse_number_or_string(s)),
            None => Err(format!("could not fetch the value of the key: {name}")),
        }
    }

    /// Jayway's truth of a filter: a bare path is an existence test.
    pub fn filter_truth(&self, n: &Node, cur: Option<&Json>) -> bool {
        match n {
            Node::Current(_) | Node::Payload(_) | Node::Var(..) => self.eval_at(n, cur).is_ok(),
            Node::Bin(Op::And, l, r) => self.filter_truth(l, cur) && self.filter_truth(r, cur),
            Node::Bin(Op::Or, l, r) => self.filter_truth(l, cur) || self.filter_truth(r, cur),
            Node::Not(x) => !self.filter_truth(x, cur),
            _ => matches!(self.eval_at(n, cur), Ok(SynValue::Bool(true))),
        }
    }

    /// Binary operators inside a filter (Jayway's comparisons; a failed operand is false).
    fn filter_bin(&self, op: Op, l: &Node, r: &Node, cur: Option<&Json>) -> R<SynValue> {
        match op {
            Op::And | Op::Or => {
                return Ok(SynValue::Bool(self.filter_truth(
                    &Node::Bin(op, Box::new(l.clone()), Box::new(r.clone())),
                    cur,
                )))
            }
            Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Mod => {
                let lv = self.eval_at(l, cur)?;
                let rv = self.eval_at(r, cur)?;
                return binary(op, lv, rv);
            }
            _ => {}
        }
        let (Ok(lv), Ok(rv)) = (self.eval_at(l, cur), self.eval_at(r, cur)) else {
            return Ok(SynValue::Bool(false));
        };
        let lj = lv.to_json();
        let rj = rv.to_json();
        let b = match op {
            Op::Eq => json_eq(&lj, &rj),
            Op::Ne => !json_eq(&lj, &rj),
            Op::Lt | Op::Le | Op::Gt | Op::Ge => match json_cmp(&lj, &rj) {
                Some(o) => match op {
                    Op::Lt => o.is_lt(),
                    Op::Le => o.is_le(),
                    Op::Gt => o.is_gt(),
                    _ => o.is_ge(),
                },
                None => false,
            },
            Op::In | Op::Nin => {
                let found = match &rj {
                    Json::Array(a) => a.iter().any(|x| json_eq(&lj, x)),
                    _ => false,
                };
                (op == Op::In) == found
            }
            Op::SubsetOf | Op::AnyOf | Op::NoneOf => match (&lj, &rj) {
                (Json::Array(a), Json::Array(b)) => match op {
                    Op::SubsetOf => a.iter().all(|x| b.iter().any(|y| json_eq(x, y))),
                    Op::AnyOf => a.iter().any(|x| b.iter().any(|y| json_eq(x, y))),
                    _ => !a.iter().any(|x| b.iter().any(|y| json_eq(x, y))),
                },
                _ => false,
            },
            Op::Size => {
                let len = match &lj {
                    Json::Array(a) => Some(a.len()),
                    Json::String(s) => Some(s.chars().count()),
                    _ => None,
                };
                matches!((len, rj.as_f64()), (Some(n), Some(m)) if n as f64 == m)
            }
            Op::Empty => {
                let empty = match &lj {
                    Json::Array(a) => Some(a.is_empty()),
                    Json::String(s) => Some(s.is_empty()),
                    _ => None,
                };
                matches!((empty, rj.as_bool()), (Some(e), Some(w)) if e == w)
            }
            _ => false,
        };
        Ok(SynValue::Bool(b))
    }

    /// Apply JSONPath segments to a value: one value for a definite path (missing → error),
    /// an array of the matches otherwise.
    pub fn apply_path(&self, root: &Json, segs: &[Seg]) -> R<SynValue> {
        let (segs, func) = match segs.last() {
            Some(Seg::Func(f)) => (&segs[..segs.len() - 1], Some(*f)),
            _ => (segs, None),
        };
        let definite = segs.iter().all(|s| match s {
            Seg::Name(_) => true,
            Seg::Sel(Sel::Keys(k)) => k.len() == 1,
            Seg::Sel(Sel::Exprs(e)) => e.len() == 1,
            Seg::Sel(Sel::Script(_)) => true,
            _ => false,
        });
        let mut cur: Vec<&Json> = vec![root];
        for seg in segs {
            let mut next = Vec::new();
            for v in &cur {
                self.apply_seg(v, seg, definite, &mut next)?;
            }
            self.step(next.len() + 1)?;
            if definite && next.is_empty() {
                return Err("no results for the path".into());
            }
            cur = next;
        }
        if let Some(f) = func {
            let items: Vec<&Json> = if definite {
                match cur.first() {
                    Some(Json::Array(a)) => a.iter().collect(),
                    Some(Json::Object(o)) if f == PathFn::Keys => {
                        return Ok(SynValue::Json(Json::Array(
                            o.keys().map(|k| Json::String(k.clone())).collect(),
                        )))
                    }
                    Some(Json::String(s)) if f == PathFn::Length => {
                        return Ok(int_or_long(s.chars().count() as i64))
                    }
                    _ => return Err("JSONPath function on a value that is not an array".into()),
                }
            } else {
                cur
            };
            return path_fn(f, &items);
        }
        if definite {
            Ok(cur
                .first()
                .map(|v| SynValue::from_json(v))
                .unwrap_or(SynValue::Null))
        } else {
            Ok(SynValue::Json(Json::Array(
                cur.into_iter().cloned().collect(),
            )))
        }
    }

    fn apply_seg<'j>(
        &self,
        v: &'j Json,
        seg: &Seg,
        definite: bool,
        out: &mut Vec<&'j Json>,
    ) -> R<()> {
        match seg {
            Seg::Name(n) => match v {
                Json::Object(o) => {
                    if let Some(x) = o.get(n) {
                        out.push(x)
                    }
                }
                _ if definite => return Err(format!("expected an object with property {n}")),
                _ => {}
            },
            Seg::Wild => children(v, out),
            Seg::DeepName(n) => self.deep(
                v,
                &mut |x, out| {
                    if let Json::Object(o) = x {
                        if let Some(c) = o.get(n) {
                            out.push(c);
                        }
                    }
                    Ok(())
                },
                out,
            )?,
            Seg::DeepWild => self.deep(
                v,
                &mut |x, out| {
                    children(x, out);
                    Ok(())
                },
                out,
            )?,
            Seg::DeepSel(sel) => self.deep(
                v,
                &mut |x, out| {
                    if x.is_array() {
                        self.apply_sel(x, sel, false, out)?;
                    }
                    Ok(())
                },
                out,
            )?,
            Seg::Sel(sel) => self.apply_sel(v, sel, definite, out)?,
            Seg::Func(_) => return Err("a JSONPath function must end the path".into()),
        }
        Ok(())
    }

    /// Apply `f` at `v` and every descendant (pre-order, object members and array items).
    fn deep<'j>(
        &self,
        v: &'j Json,
        f: &mut dyn FnMut(&'j Json, &mut Vec<&'j Json>) -> R<()>,
        out: &mut Vec<&'j Json>,
    ) -> R<()> {
        let mut stack = vec![v];
        // pre-order with children in document order
        while let Some(x) = stack.pop() {
            self.step(1)?;
            f(x, out)?;
            match x {
                Json::Object(o) => stack.extend(o.values().rev()),
                Json::Array(a) => stack.extend(a.iter().rev()),
                _ => {}
            }
        }
        Ok(())
    }

    fn apply_sel<'j>(
        &self,
        v: &'j Json,
        sel: &Sel,
        definite: bool,
        out: &mut Vec<&'j Json>,
    ) -> R<()> {
        match sel {
            Sel::Wild => children(v, out),
            Sel::Keys(keys) => match v {
                Json::Object(o) => out.extend(keys.iter().filter_map(|k| o.get(k))),
                _ if definite => return Err("expected an object".into()),
                _ => {}
            },
            Sel::Exprs(items) => {
                for i in items {
                    match self.eval(i)? {
                        SynValue::Str(k) => {
                            if let Json::Object(o) = v {
                                if let Some(x) = o.get(&k) {
                                    out.push(x);
                                }
                            } else if definite {
                                return Err("expected an object".into());
                            }
                        }
                        n => {
                            let idx = n.as_i64().ok_or("array index is not an integer")?;
                            match v {
                                Json::Array(a) => {
                                    if let Some(x) = index(a, idx) {
                                        out.push(x);
                                    }
                                }
                                _ if definite => return Err("expected an array".into()),
                                _ => {}
                            }
                        }
                    }
                }
            }
            Sel::Slice(from, to) => {
                let Json::Array(a) = v else { return Ok(()) };
                let len = a.len() as i64;
                let bound = |n: &Option<Box<Node>>| -> R<Option<i64>> {
                    match n {
                        None => Ok(None),
                        Some(n) => self
                            .eval(n)?
                            .as_i64()
                            .map(Some)
                            .ok_or_else(|| "slice bound is not an integer".to_string()),
                    }
                };
                let norm = |i: i64| if i < 0 { (len + i).max(0) } else { i.min(len) };
                let s = bound(from)?.map(norm).unwrap_or(0);
                let e = bound(to)?.map(norm).unwrap_or(len);
                if s < e {
                    out.extend(&a[s as usize..e as usize]);
                }
            }
            Sel::Filter(f) => match v {
                Json::Array(a) => {
                    self.step(a.len())?;
                    for x in a {
                        if self.filter_truth(f, Some(x)) {
                            out.push(x);
                        }
                    }
                }
                Json::Object(_) if self.filter_truth(f, Some(v)) => out.push(v),
                _ => {}
            },
            Sel::Script(e) => {
                let Json::Array(a) = v else {
                    return Err("an index expression needs an array".into());
                };
                let idx = self
                    .eval_at(e, Some(v))?
                    .as_i64()
                    .ok_or("index expression is not an integer")?;
                if let Some(x) = index(a, idx) {
                    out.push(x);
                }
                let _ = a;
            }
        }
        Ok(())
    }
}

fn index(a: &[Json], idx: i64) -> Option<&Json> {
    let i = if idx < 0 { a.len() as i64 + idx } else { idx };
    if i < 0 {
        return None;
    }
    a.get(i as usize)
}

fn children<'j>(v: &'j Json, out: &mut Vec<&'j Json>) {
    match v {
        Json::Object(o) => out.extend(o.values()),
        Json::Array(a) => out.extend(a.iter()),
        _ => {}
    }
}

/// JSON equality with numbers compared by value (`1 == 1.0`).
fn json_eq(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        (Json::Number(x), Json::String(s)) | (Json::String(s), Json::Number(x)) => {
            s.trim().parse::<f64>().ok() == x.as_f64()
        }
        _ => a == b,
    }
}

fn json_cmp(a: &Json, b: &Json) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Json::String(x), Json::String(y)) => Some(x.cmp(y)),
        (Json::Number(x), Json::String(s)) => x.as_f64()?.partial_cmp(&s.trim().parse().ok()?),
        (Json::String(s), Json::Number(y)) => {
            s.trim().parse::<f64>().ok()?.partial_cmp(&y.as_f64()?)
        }
        _ => None,
    }
}

fn path_fn(f: PathFn, items: &[&Json]) -> R<SynValue> {
    let nums = || -> R<Vec<f64>> {
        let v: Vec<f64> = items.iter().filter_map(|x| x.as_f64()).collect();
        if v.is_empty() {
            return Err("aggregation over no numbers".into());
        }
        Ok(v)
    };
    Ok(match f {
        PathFn::Length => int_or_long(items.len() as i64),
        PathFn::Min => SynValue::Double(nums()?.into_iter().fold(f64::INFINITY, f64::min)),
        PathFn::Max => SynValue::Double(nums()?.into_iter().fold(f64::NEG_INFINITY, f64::max)),
        PathFn::Sum => SynValue::Double(nums()?.into_iter().sum()),
        PathFn::Avg => {
            let v = nums()?;
            SynValue::Double(v.iter().sum::<f64>() / v.len() as f64)
        }
        PathFn::Stddev => {
            let v = nums()?;
            let n = v.len() as f64;
            let mean = v.iter().sum::<f64>() / n;
            let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
            SynValue::Double(var.sqrt())
        }
        PathFn::First => items
            .first()
            .map(|x| SynValue::from_json(x))
            .ok_or("first() of an empty array")?,
        PathFn::Last => items
            .last()
            .map(|x| SynValue::from_json(x))
            .ok_or("last() of an empty array")?,
        PathFn::Keys => match items.first() {
            Some(Json::Object(o)) => SynValue::Json(Json::Array(
                o.keys().map(|k| Json::String(k.clone())).collect(),
            )),
            _ => return Err("keys() of a value that is not an object".into()),
        },
    })
}

/// MI's binary operators outside filters.
pub fn binary(op: Op, l: SynValue, r: SynValue) -> R<SynValue> {
    use SynValue::*;
    match op {
        Op::Eq | Op::Ne => {
            let eq = match (l.to_text(), r.to_text()) {
                (Some(a), Some(b)) => a == b,
                (None, None) => true,
                _ => false,
            };
            return Ok(Bool((op == Op::Eq) == eq));
        }
        _ => {}
    }
    if matches!(l, Null) || matches!(r, Null) {
        return Err("null operand".into());
    }
    match op {
        Op::Lt | Op::Le | Op::Gt | Op::Ge => {
            let (Some(a), Some(b)) = (l.as_f64(), r.as_f64()) else {
                return Err("comparison between non-numeric values".into());
            };
            Ok(Bool(match op {
                Op::Lt => a < b,
                Op::Le => a <= b,
                Op::Gt => a > b,
                _ => a >= b,
            }))
        }
        Op::And | Op::Or => match (l, r) {
            (Bool(a), Bool(b)) => Ok(Bool(if op == Op::And { a && b } else { a || b })),
            _ => Err("logical operation between non-boolean values".into()),
        },
        Op::Add => match (&l, &r) {
            (Str(a), Str(b)) => Ok(Str(format!("{a}{b}"))),
            _ if l.is_number() && r.is_number() => arith(op, l, r),
            _ => Err("addition between non-numeric values".into()),
        },
        Op::Sub | Op::Mul | Op::Div | Op::Mod => {
            if !(l.is_number() && r.is_number()) {
                return Err("arithmetic between non-numeric values".into());
            }
            arith(op, l, r)
        }
        _ => Err("operator not allowed outside a JSONPath filter".into()),
    }
}

fn arith(op: Op, l: SynValue, r: SynValue) -> R<SynValue> {
    use SynValue::*;
    match (&l, &r) {
        (Double(_), _) | (_, Double(_)) => {
            let a = l.as_f64().unwrap_or(f64::NAN);
            let b = r.as_f64().unwrap_or(f64::NAN);
            if matches!(op, Op::Div | Op::Mod) && b == 0.0 {
                return Err("division by zero".into());
            }
            // addition reads the operands' own text (`5` stays `5`), the others their double
            // text (`5` becomes `5.0`, which sets the scale of a quotient)
            let (ta, tb) = if op == Op::Add {
                (l.to_text(), r.to_text())
            } else {
                (
                    Some(crate::java_double_to_string(a)),
                    Some(crate::java_double_to_string(b)),
                )
            };
            let dec = ta
                .as_deref()
                .and_then(Dec::parse)
                .zip(tb.as_deref().and_then(Dec::parse))
                .and_then(|(x, y)| match op {
                    Op::Add => x.add(y),
                    Op::Sub => x.sub(y),
                    Op::Mul => x.mul(y),
                    Op::Div => x.div_half_up(y),
                    _ => x.rem(y),
                });
            Ok(Double(match dec {
                Some(d) => d.to_f64(),
                None => match op {
                    Op::Add => a + b,
                    Op::Sub => a - b,
                    Op::Mul => a * b,
                    Op::Div => a / b,
                    _ => a % b,
                },
            }))
        }
        (Long(_), _) | (_, Long(_)) => {
            let a = l.as_i64().unwrap_or(0);
            let b = r.as_i64().unwrap_or(0);
            let wide = |x: Option<i64>, f: f64| x.map(Long).unwrap_or(Double(f));
            Ok(match op {
                Op::Add => wide(a.checked_add(b), a as f64 + b as f64),
                Op::Sub => wide(a.checked_sub(b), a as f64 - b as f64),
                Op::Mul => wide(a.checked_mul(b), a as f64 * b as f64),
                Op::Div => {
                    if b == 0 {
                        return Err("division by zero".into());
                    }
                    Double(a as f64 / b as f64)
                }
                _ => {
                    if b == 0 {
                        return Err("modulo by zero".into());
                    }
                    Long(a.wrapping_rem(b))
                }
            })
        }
        (Int(a), Int(b)) => {
            let (a, b) = (*a, *b);
            Ok(match op {
                Op::Add => a
                    .checked_add(b)
                    .map(Int)
                    .unwrap_or(Long(a as i64 + b as i64)),
                Op::Sub => a
                    .checked_sub(b)
                    .map(Int)
                    .unwrap_or(Long(a as i64 - b as i64)),
                Op::Mul => a
                    .checked_mul(b)
                    .map(Int)
                    .unwrap_or(Long(a as i64 * b as i64)),
                Op::Div => {
                    if b == 0 {
                        return Err("division by zero".into());
                    }
                    if a.wrapping_rem(b) == 0 {
                        a.checked_div(b).map(Int).unwrap_or(Long(-(a as i64)))
                    } else {
                        Double(a as f64 / b as f64)
                    }
                }
                _ => {
                    if b == 0 {
                        return Err("modulo by zero".into());
                    }
                    Int(a.wrapping_rem(b))
                }
            })
        }
        _ => Err("arithmetic between non-numeric values".into()),
    }
}

/// Record literal registry keys (`registry("…")`).
pub fn registry_literals(n: &Node, out: &mut Vec<String>) {
    walk(n, &mut |n| {
        let key = match n {
            Node::Call(Func::Registry, args, _) => args.first(),
            Node::RegistryProp(k, _) => Some(k.as_ref()),
            _ => None,
        };
        {
            if let Some(Node::Lit(Lit::Str(k))) = key {
                if !out.contains(k) {
                    out.push(k.clone());
                }
            }
        }
    });
}

/// Whether the expression reads the body.
pub fn content_aware(n: &Node) -> bool {
    let mut aware = false;
    walk(n, &mut |n| match n {
        Node::Payload(_) => aware = true,
        Node::XPath(_, Some(c), None) if c.touches_body() => aware = true,
        Node::XPath(_, None, None) => aware = true,
        _ => {}
    });
    aware
}

fn walk(n: &Node, f: &mut dyn FnMut(&Node)) {
    f(n);
    let segs_walk = |segs: &[Seg], f: &mut dyn FnMut(&Node)| {
        for s in segs {
            let sel = match s {
                Seg::Sel(s) | Seg::DeepSel(s) => s,
                _ => continue,
            };
            match sel {
                Sel::Exprs(e) => e.iter().for_each(|x| walk(x, f)),
                Sel::Slice(a, b) => {
                    a.iter().for_each(|x| walk(x, f));
                    b.iter().for_each(|x| walk(x, f));
                }
                Sel::Filter(x) | Sel::Script(x) => walk(x, f),
                Sel::Keys(_) | Sel::Wild => {}
            }
        }
    };
    match n {
        Node::Lit(_) | Node::Read(..) => {}
        Node::Array(items) => items.iter().for_each(|x| walk(x, f)),
        Node::Neg(x) | Node::Not(x) | Node::Regex(x, _) => walk(x, f),
        Node::Bin(_, a, b) | Node::RegistryProp(a, b) => {
            walk(a, f);
            walk(b, f);
        }
        Node::Cond(a, b, c) => {
            walk(a, f);
            walk(b, f);
            walk(c, f);
        }
        Node::Payload(s) | Node::Var(_, s) | Node::Current(s) => segs_walk(s, f),
        Node::Call(_, args, s) => {
            args.iter().for_each(|x| walk(x, f));
            segs_walk(s, f);
        }
        Node::XPath(a, _, b) => {
            walk(a, f);
            if let Some(b) = b {
                walk(b, f);
            }
        }
    }
}
