//! The functions of Jayway JsonPath 2.x at the end of a path (`$.items.length()`,
//! `$..price.sum()`, `$.a.concat("-", $.b)`), evaluated as Jayway evaluates them with the Gson
//! provider Synapse configures, and printed as `SynapseJsonPath` prints the result.
//!
//! - The steps before the function are run by jsonpath-rust. A definite path (names and
//!   indexes) hands the function its one value; an indefinite one calls the function on each of
//!   its values and gives the list of results (`[2,3]`). A path starting with `..` is turned
//!   round as Jayway's `CompiledPath` turns it: `$..price.sum()` is `$.sum($..price)`.
//! - Path arguments are evaluated on the whole document first (a definite one that finds
//!   nothing fails the evaluation); JSON arguments are parsed when a function reads them.
//! - As with Gson, a number read from the document is unwrapped as `GsonJsonProvider` unwraps it
//!   (an `Integer`, `Long`, `Double` or `BigDecimal`), and the numeric functions give a `Double`
//!   (`avg` of `[1,2,3]` prints `2.0`); JSON arguments stay Gson elements, so a number or string
//!   written as an argument is not counted by `sum`/`min`/… or `index`, and `concat` appends
//!   its JSON text (`"-"` with its quotes).
//! - `SynapseJsonPath` prints a number result (`3`, `2.0`), an object or array as JSON, and
//!   fails (the empty string) on a string, boolean or null result of a definite path; a failed
//!   evaluation is the empty string too.

use std::sync::Arc;

use jsonpath_rust::parser::model::JpQuery;
use serde_json::Value as Json;

use crate::jayway::{Arg, Function, Step};
use crate::num::java_double_to_string;

/// A path as Jayway evaluates it: the steps before a function, and the function.
#[derive(Clone, Debug)]
pub(crate) struct JwPath {
    query: Arc<JpQuery>,
    definite: bool,
    call: Option<Call>,
    /// The path with `[*]` after it: `length`'s path argument is read so.
    wild: Option<Arc<JpQuery>>,
}

#[derive(Clone, Debug)]
struct Call {
    name: Name,
    args: Vec<CArg>,
}

#[derive(Clone, Debug)]
enum CArg {
    Json(String),
    Path(Box<JwPath>),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Name {
    Avg,
    Stddev,
    Sum,
    Min,
    Max,
    Concat,
    Length,
    Append,
    Keys,
    First,
    Last,
    Index,
}

fn name(n: &str) -> Option<Name> {
    Some(match n {
        "avg" => Name::Avg,
        "stddev" => Name::Stddev,
        "sum" => Name::Sum,
        "min" => Name::Min,
        "max" => Name::Max,
        "concat" => Name::Concat,
        "length" | "size" => Name::Length,
        "append" => Name::Append,
        "keys" => Name::Keys,
        "first" => Name::First,
        "last" => Name::Last,
        "index" => Name::Index,
        _ => return None,
    })
}

fn parse_query(text: &str) -> Result<Arc<JpQuery>, String> {
    jsonpath_rust::parser::parse_json_path(text)
        .map(Arc::new)
        .map_err(|e| format!("{text:?}: {}", crate::json::one_line(&e.to_string())))
}

fn definite_step(s: &Step) -> bool {
    match s {
        Step::Names(n) => n.len() == 1,
        Step::Indexes(v) => v.len() == 1,
        Step::Function(_) => true,
        _ => false,
    }
}

/// Compile the steps of a path read from `jw` (`at` maps its offsets to the user's path).
pub(crate) fn compile(
    jw: &str,
    steps: &[(Step, std::ops::Range<usize>)],
    at: &dyn Fn(usize) -> usize,
) -> Result<JwPath, String> {
    let (body, function): (&[_], Option<&Function>) = match steps.split_last() {
        Some(((Step::Function(f), _), body)) => (body, Some(f)),
        _ => (steps, None),
    };
    let mut text = String::from("$");
    let mut map = vec![0];
    crate::json::render(jw, body, at, &mut text, &mut map);
    let query = parse_query(&text)?;
    let definite = body.iter().all(|(s, _)| definite_step(s));
    let wild = if body.is_empty() {
        None
    } else {
        Some(parse_query(&format!("{text}[*]"))?)
    };
    let Some(f) = function else {
        return Ok(JwPath {
            query,
            definite,
            call: None,
            wild,
        });
    };
    let name = name(&f.name).ok_or_else(|| format!("`{}` is not a function", f.name))?;
    if matches!(body.first(), Some((Step::Scan, _))) {
        // `$..a.fn()` is `$.fn($..a)` (the arguments written are dropped, as Jayway drops them)
        let inner = JwPath {
            query,
            definite: false,
            call: None,
            wild,
        };
        return Ok(JwPath {
            query: parse_query("$")?,
            definite: true,
            call: Some(Call {
                name,
                args: vec![CArg::Path(Box::new(inner))],
            }),
            wild: None,
        });
    }
    let mut args = Vec::with_capacity(f.args.len());
    for (a, _) in &f.args {
        args.push(match a {
            Arg::Json(t) => CArg::Json(t.clone()),
            Arg::Path(p) => CArg::Path(Box::new(compile(jw, &p.steps, at)?)),
        });
    }
    Ok(JwPath {
        query,
        definite,
        call: Some(Call { name, args }),
        wild,
    })
}

/// A value as Jayway's functions see it: a Java object, or a Gson element (object, array).
#[derive(Clone, Debug, PartialEq)]
enum Java {
    Null,
    Bool(bool),
    /// `Integer` or `Long`.
    Int(i64),
    Double(f64),
    /// `BigDecimal` or `BigInteger`, as its `toString` prints it.
    Big(String),
    Str(String),
    /// A `JsonObject` or `JsonArray`.
    Elem(Json),
}

/// The evaluation failed (Jayway threw); Synapse gives the empty string.
struct Fail;

type R<T> = Result<T, Fail>;

/// `GsonJsonProvider.unwrap`.
fn unwrap(v: &Json) -> Java {
    match v {
        Json::Null => Java::Null,
        Json::Bool(b) => Java::Bool(*b),
        Json::String(s) => Java::Str(s.clone()),
        Json::Number(n) => unwrap_number(&n.to_string()),
        other => Java::Elem(other.clone()),
    }
}

/// `GsonJsonProvider.unwrapNumber` of a number Gson read lazily (its text).
fn unwrap_number(text: &str) -> Java {
    let Some(d) = Decimal::parse(text) else {
        return Java::Big(text.to_string());
    };
    if d.scale <= 0 {
        // an integer: `Integer` or `Long` when it fits, else a `BigDecimal`
        let digits = d.integer_digits();
        if let Ok(v) = digits.parse::<i64>() {
            let v = if d.negative { -v } else { v };
            return Java::Int(v);
        }
        return Java::Big(d.java_string());
    }
    let f = crate::num::java_parse_double(text);
    // `BigDecimal.valueOf(double)` compared with the number: equal when the double is exact
    match Decimal::parse(&java_double_to_string(f)) {
        Some(back) if f.is_finite() && back.same_value(&d) => Java::Double(f),
        _ => Java::Big(d.java_string()),
    }
}

/// A decimal number: sign, digits (no leading zeros) and scale (`unscaled × 10^-scale`).
struct Decimal {
    negative: bool,
    digits: String,
    scale: i64,
}

impl Decimal {
    fn parse(text: &str) -> Option<Decimal> {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (mantissa, exp) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().ok()?),
            None => (rest, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if int.is_empty() && frac.is_empty()
            || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let all = format!("{int}{frac}");
        let trimmed = all.trim_start_matches('0');
        Some(Decimal {
            negative,
            digits: if trimmed.is_empty() {
                "0".into()
            } else {
                trimmed.into()
            },
            scale: frac.len() as i64 - exp,
        })
    }

    /// The digits of an integer (`scale <= 0`).
    fn integer_digits(&self) -> String {
        if self.digits == "0" {
            return "0".into();
        }
        let zeros = (-self.scale).clamp(0, 400) as usize;
        format!("{}{}", self.digits, "0".repeat(zeros))
    }

    /// Equal in value (whatever the scale), as `BigDecimal.compareTo` compares.
    fn same_value(&self, other: &Decimal) -> bool {
        let norm = |d: &Decimal| -> (bool, String, i64) {
            if d.digits == "0" {
                return (false, "0".into(), 0);
            }
            let t = d.digits.trim_end_matches('0');
            let removed = (d.digits.len() - t.len()) as i64;
            (d.negative, t.to_string(), d.scale - removed)
        };
        norm(self) == norm(other)
    }

    /// `BigDecimal.toString()`.
    fn java_string(&self) -> String {
        let sign = if self.negative && self.digits != "0" {
            "-"
        } else {
            ""
        };
        let n = self.digits.len() as i64;
        let adjusted = (n - 1) - self.scale;
        if self.scale >= 0 && adjusted >= -6 {
            if self.scale == 0 {
                return format!("{sign}{}", self.digits);
            }
            let point = n - self.scale;
            return if point > 0 {
                let (a, b) = self.digits.split_at(point as usize);
                format!("{sign}{a}.{b}")
            } else {
                format!("{sign}0.{}{}", "0".repeat((-point) as usize), self.digits)
            };
        }
        let (a, b) = self.digits.split_at(1);
        let mantissa = if b.is_empty() {
            a.to_string()
        } else {
            format!("{a}.{b}")
        };
        let e = if adjusted >= 0 {
            format!("+{adjusted}")
        } else {
            adjusted.to_string()
        };
        format!("{sign}{mantissa}E{e}")
    }
}

/// Gson's `toJsonTree` of a Java value (a `Double` keeps Java's spelling).
fn tree(j: Java) -> Json {
    let number = |t: &str| serde_json::from_str::<Json>(t).unwrap_or(Json::Null);
    match j {
        Java::Null => Json::Null,
        Java::Bool(b) => Json::Bool(b),
        Java::Int(i) => Json::from(i),
        Java::Double(d) => number(&java_double_to_string(d)),
        Java::Big(t) => number(&t),
        Java::Str(s) => Json::String(s),
        Java::Elem(e) => e,
    }
}

/// `toString()` of a Java value (as `Parameter.consume` makes strings of values).
fn java_string(j: &Java) -> String {
    match j {
        Java::Null => "null".into(),
        Java::Bool(b) => b.to_string(),
        Java::Int(i) => i.to_string(),
        Java::Double(d) => java_double_to_string(*d),
        Java::Big(t) => t.clone(),
        Java::Str(s) => s.clone(),
        Java::Elem(e) => e.to_string(),
    }
}

fn number(j: &Java) -> Option<f64> {
    match j {
        Java::Int(i) => Some(*i as f64),
        Java::Double(d) => Some(*d),
        Java::Big(t) => Some(crate::num::java_parse_double(t)),
        _ => None,
    }
}

/// The value of an argument: a Java value (a path's), or a Gson element (JSON text's).
enum Param {
    Java(Java),
    Gson(Json),
}

fn run(q: &JpQuery, doc: &Json) -> R<Vec<Json>> {
    jsonpath_rust::query::js_path_process(q, doc)
        .map(|refs| refs.into_iter().map(|r| r.val().clone()).collect())
        .map_err(|_| Fail)
}

/// Jayway's `path.evaluate(model, root).getValue()`: a definite path's one value (failing when
/// there is none), an indefinite path's list of values.
fn evaluate(p: &JwPath, model: &Json, root: &Json) -> R<Java> {
    let found = run(&p.query, model)?;
    match &p.call {
        None if p.definite => found.first().map(unwrap).ok_or(Fail),
        None => Ok(Java::Elem(Json::Array(found))),
        Some(call) if p.definite => {
            let m = found.first().ok_or(Fail)?;
            invoke(call, m, root)
        }
        Some(call) => {
            let mut out = Vec::with_capacity(found.len());
            for m in &found {
                out.push(tree(invoke(call, m, root)?));
            }
            Ok(Java::Elem(Json::Array(out)))
        }
    }
}

/// `Parameter.toList(Number.class, …)`.
fn numbers(params: &[Param]) -> Vec<f64> {
    let mut out = Vec::new();
    for p in params {
        match p {
            Param::Java(Java::Elem(Json::Array(a))) | Param::Gson(Json::Array(a)) => {
                out.extend(a.iter().filter_map(|v| number(&unwrap(v))));
            }
            Param::Java(j) => out.extend(number(j)),
            Param::Gson(_) => {}
        }
    }
    out
}

/// `Parameter.toList(String.class, …)`.
fn strings(params: &[Param]) -> Vec<String> {
    let mut out = Vec::new();
    for p in params {
        match p {
            Param::Java(Java::Elem(Json::Array(a))) | Param::Gson(Json::Array(a)) => {
                for v in a {
                    let j = unwrap(v);
                    if j != Java::Null {
                        out.push(java_string(&j));
                    }
                }
            }
            Param::Java(Java::Null) => {}
            Param::Java(j) => out.push(java_string(j)),
            // a Gson element's `toString()`: its JSON text (a string keeps its quotes)
            Param::Gson(e) => out.push(e.to_string()),
        }
    }
    out
}

fn invoke(call: &Call, model: &Json, root: &Json) -> R<Java> {
    // `FunctionPathToken.evaluateParameters`: path arguments first, on the whole document
    let mut path_values = Vec::with_capacity(call.args.len());
    for a in &call.args {
        path_values.push(match a {
            CArg::Path(p) => Some(evaluate(p, root, root)?),
            CArg::Json(_) => None,
        });
    }
    // the values of the arguments, JSON parsed now (a parse error fails the evaluation)
    let params = || -> R<Vec<Param>> {
        call.args
            .iter()
            .zip(&path_values)
            .map(|(a, v)| match (a, v) {
                (_, Some(v)) => Ok(Param::Java(v.clone())),
                (CArg::Json(t), None) => serde_json::from_str::<Json>(t.trim())
                    .map(Param::Gson)
                    .map_err(|_| Fail),
                (CArg::Path(_), None) => Err(Fail),
            })
            .collect()
    };
    let items: Option<Vec<Java>> = match model {
        Json::Array(a) => Some(a.iter().map(unwrap).collect()),
        _ => None,
    };
    match call.name {
        Name::Avg | Name::Stddev | Name::Sum | Name::Min | Name::Max => {
            let mut values: Vec<f64> = items.iter().flatten().filter_map(number).collect();
            values.extend(numbers(&params()?));
            if values.is_empty() {
                // "Aggregation function attempted to calculate value using empty array"
                return Err(Fail);
            }
            let n = values.len() as f64;
            let sum = values.iter().fold(0.0, |s, v| s + v);
            Ok(Java::Double(match call.name {
                Name::Sum => sum,
                Name::Avg => sum / n,
                // Jayway starts from `Double.MAX_VALUE` and `Double.MIN_VALUE` (the smallest
                // positive double), so the `max` of negative numbers is 4.9E-324
                Name::Min => values
                    .iter()
                    .fold(f64::MAX, |m, v| if m > *v { *v } else { m }),
                Name::Max => values
                    .iter()
                    .fold(f64::from_bits(1), |m, v| if m < *v { *v } else { m }),
                _ => {
                    let sq = values.iter().fold(0.0, |s, v| s + v * v);
                    (sq / n - sum * sum / n / n).sqrt()
                }
            }))
        }
        Name::Concat => {
            let mut out = String::new();
            for j in items.iter().flatten() {
                if let Java::Str(s) = j {
                    out.push_str(s);
                }
            }
            for s in strings(&params()?) {
                out.push_str(&s);
            }
            Ok(Java::Str(out))
        }
        Name::Length => {
            if let Some(first) = call.args.first() {
                let CArg::Path(p) = first else {
                    // Jayway reads the argument's path, which JSON has not
                    return Err(Fail);
                };
                let inner = match (&p.call, &p.wild) {
                    (None, Some(w)) => Java::Elem(Json::Array(run(w, model)?)),
                    _ => evaluate(p, model, model)?,
                };
                if let Java::Elem(Json::Array(a)) = inner {
                    return Ok(Java::Int(a.len() as i64));
                }
            }
            Ok(match model {
                Json::Array(a) => Java::Int(a.len() as i64),
                Json::Object(o) => Java::Int(o.len() as i64),
                _ => Java::Null,
            })
        }
        Name::Append => match model {
            Json::Array(a) => {
                let mut a = a.clone();
                for p in params()? {
                    a.push(match p {
                        Param::Java(j) => tree(j),
                        Param::Gson(e) => e,
                    });
                }
                Ok(Java::Elem(Json::Array(a)))
            }
            other => Ok(unwrap(other)),
        },
        Name::Keys => Ok(match model {
            Json::Object(o) => Java::Elem(Json::Array(
                o.keys().map(|k| Json::String(k.clone())).collect(),
            )),
            _ => Java::Null,
        }),
        Name::First | Name::Last | Name::Index => {
            let items = items.ok_or(Fail)?;
            let target: i64 = match call.name {
                Name::First => 0,
                Name::Last => -1,
                _ => {
                    let n = *numbers(&params()?).first().ok_or(Fail)?;
                    // `Number.intValue()`
                    n as i32 as i64
                }
            };
            let at = if target >= 0 {
                target
            } else {
                // Jayway takes a position from the end only when it is above 0
                let real = items.len() as i64 + target;
                if real <= 0 {
                    return Err(Fail);
                }
                real
            };
            items.get(at as usize).cloned().ok_or(Fail)
        }
    }
}

/// The text `SynapseJsonPath.stringValueOf` gives for the path on `doc`.
pub(crate) fn print(p: &JwPath, doc: &Json) -> String {
    match evaluate(p, doc, doc) {
        Err(Fail) => String::new(),
        Ok(v) => match v {
            Java::Int(_) | Java::Double(_) | Java::Big(_) => java_string(&v),
            Java::Elem(e) => e.to_string(),
            // `formatJsonPathResponse` casts a result that is not a number to a Gson element:
            // a string, boolean or null fails, and Synapse gives the empty string
            Java::Str(_) | Java::Bool(_) | Java::Null => String::new(),
        },
    }
}

/// The value of the path on `doc` as a filter compares it: a number, string, boolean, null,
/// or JSON (`None`: the evaluation failed).
pub(crate) fn value(p: &JwPath, doc: &Json) -> Option<Json> {
    evaluate(p, doc, doc).ok().map(tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_unwrap_as_gson_unwraps_them() {
        assert_eq!(unwrap_number("3"), Java::Int(3));
        assert_eq!(unwrap_number("1e2"), Java::Int(100));
        assert_eq!(unwrap_number("1.5e3"), Java::Int(1500));
        assert_eq!(unwrap_number("4000000000"), Java::Int(4_000_000_000));
        assert_eq!(unwrap_number("2.50"), Java::Double(2.5));
        assert_eq!(unwrap_number("1.0"), Java::Double(1.0));
        assert_eq!(
            unwrap_number("1.23456789012345678"),
            Java::Big("1.23456789012345678".into())
        );
        assert_eq!(
            unwrap_number("123456789012345678901234"),
            Java::Big("123456789012345678901234".into())
        );
        assert_eq!(unwrap_number("1e30"), Java::Big("1E+30".into()));
        assert_eq!(java_string(&unwrap_number("-0.5")), "-0.5");
    }
}
