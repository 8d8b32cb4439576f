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

use jsonpath_rust::parser::model::{JpQuery, Segment, Selector};
use serde_json::Value as Json;

use crate::jayway::{Arg, Function, Step};
use crate::num::java_double_to_string;

/// A path as Jayway evaluates it: the steps before a function, and the function.
#[derive(Clone, Debug)]
pub(crate) struct JwPath {
    query: Arc<[Piece]>,
    definite: bool,
    call: Option<Call>,
    /// The path with `[*]` after it: `length`'s path argument is read so.
    wild: Option<Arc<[Piece]>>,
}

/// A part of a path: steps jsonpath-rust runs, or a filter with functions in its condition.
#[derive(Clone, Debug)]
enum Piece {
    /// The RFC 9535 text of the steps (after `$`), and the query it is from the document.
    Segments(String, Arc<JpQuery>),
    Filter(FnFilter),
}

/// `[?(@.authors.length() > 1)]`: the condition is run by jsonpath-rust on each candidate once
/// the function operands are replaced by their values there.
#[derive(Clone, Debug)]
struct FnFilter {
    /// After `..`: the candidates are the children of every node below too.
    descendant: bool,
    /// The condition (`?(…)`), cut around the operands: `parts[i]`, operand `i`, …
    parts: Vec<String>,
    /// Each operand, and whether it reads the candidate (`@`) rather than the document (`$`).
    operands: Vec<(JwPath, bool)>,
    /// The condition reads the document (`$`) outside the operands.
    reads_root: bool,
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

fn parse_query(text: &str) -> Result<JpQuery, String> {
    jsonpath_rust::parser::parse_json_path(text)
        .map_err(|e| format!("{text:?}: {}", crate::json::one_line(&e.to_string())))
}

/// The operands of a filter's condition that call a function (`@.a.length()`, `$.b.max()`):
/// each byte range, as Jayway's `FilterCompiler.readPath` delimits a path (up to a relational
/// operator, a space, or a `)` it did not open), outside strings and regular expressions.
pub(crate) fn function_operands(cond: &str) -> Vec<std::ops::Range<usize>> {
    let b = cond.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let skip_quoted = |i: usize, q: u8| -> usize {
        let mut j = i + 1;
        while j < b.len() && b[j] != q {
            j += if b[j] == b'\\' { 2 } else { 1 };
        }
        j + 1
    };
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"' | b'/') => i = skip_quoted(i, q),
            b'@' | b'$' => {
                let start = i;
                let mut depth = 0i32;
                let mut j = i + 1;
                let mut call = false;
                while j < b.len() {
                    match b[j] {
                        b'[' => {
                            let mut d = 0;
                            while j < b.len() {
                                match b[j] {
                                    q @ (b'\'' | b'"') => {
                                        j = skip_quoted(j, q);
                                        continue;
                                    }
                                    b'[' => d += 1,
                                    b']' => {
                                        d -= 1;
                                        if d == 0 {
                                            break;
                                        }
                                    }
                                    _ => {}
                                }
                                j += 1;
                            }
                        }
                        b'(' => {
                            depth += 1;
                            call = true;
                        }
                        b')' if depth > 0 => depth -= 1,
                        b')' | b' ' | b'<' | b'>' | b'=' | b'!' | b'~' => break,
                        _ => {}
                    }
                    j += 1;
                }
                let end = j.min(b.len());
                if call {
                    out.push(start..end);
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    out
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
    let query = pieces(jw, body, at, false)?;
    let definite = body.iter().all(|(s, _)| definite_step(s));
    let wild = if body.is_empty() {
        None
    } else {
        Some(pieces(jw, body, at, true)?)
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
            query: Arc::from(vec![]),
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

/// The first function operand of a filter that Jayway refuses: the byte offset in the user's
/// path (through `at`) and why.
pub(crate) fn operand_error(
    jw: &str,
    steps: &[(Step, std::ops::Range<usize>)],
    at: &dyn Fn(usize) -> usize,
) -> Option<(usize, String)> {
    for (step, range) in steps {
        let Step::Filter(cond) = step else { continue };
        let inner = range.start
            + jw.get(range.clone())
                .and_then(|r| r.find('['))
                .map_or(0, |b| b + 1);
        for op in function_operands(cond) {
            if let Err(e) = crate::jayway::parse(&cond[op.clone()]) {
                return Some((at(inner + op.start + e.at), e.message));
            }
        }
    }
    None
}

/// The steps as pieces: runs of steps for jsonpath-rust, and filters with functions (`wild`:
/// with `[*]` after them).
fn pieces(
    jw: &str,
    steps: &[(Step, std::ops::Range<usize>)],
    at: &dyn Fn(usize) -> usize,
    wild: bool,
) -> Result<Arc<[Piece]>, String> {
    let mut out = Vec::new();
    let mut run: Vec<(Step, std::ops::Range<usize>)> = Vec::new();
    let flush = |run: &mut Vec<(Step, std::ops::Range<usize>)>,
                 out: &mut Vec<Piece>|
     -> Result<(), String> {
        if !run.is_empty() {
            let mut text = String::from("$");
            let mut map = vec![0];
            crate::json::render(jw, run, at, &mut text, &mut map);
            let q = parse_query(&text)?;
            out.push(Piece::Segments(text[1..].to_string(), Arc::new(q)));
            run.clear();
        }
        Ok(())
    };
    for (step, range) in steps {
        let ops = match step {
            Step::Filter(cond) => function_operands(cond),
            _ => Vec::new(),
        };
        let Step::Filter(cond) = step else {
            run.push((step.clone(), range.clone()));
            continue;
        };
        if ops.is_empty() {
            run.push((step.clone(), range.clone()));
            continue;
        }
        let descendant = matches!(run.last(), Some((Step::Scan, _)));
        if descendant {
            run.pop();
        }
        flush(&mut run, &mut out)?;
        // where the condition starts in `jw` (after the `[`)
        let inner = range.start
            + jw.get(range.clone())
                .and_then(|r| r.find('['))
                .map_or(0, |b| b + 1);
        let mut parts = Vec::with_capacity(ops.len() + 1);
        let mut operands = Vec::with_capacity(ops.len());
        let mut last = 0;
        for op in ops {
            parts.push(cond[last..op.start].to_string());
            let text = &cond[op.clone()];
            let parsed = crate::jayway::parse(text)
                .map_err(|e| format!("the filter operand `{text}`: {}", e.message))?;
            if !matches!(parsed.steps.last(), Some((Step::Function(_), _))) {
                return Err(format!(
                    "the filter operand `{text}`: a function ends the path"
                ));
            }
            // the operand's ranges are in `text`: read it as its own path
            operands.push((
                compile(text, &parsed.steps, &|o| at(inner + op.start + o))?,
                text.starts_with('@'),
            ));
            last = op.end;
        }
        parts.push(cond[last..].to_string());
        let reads_root = parts.iter().any(|p| p.contains('$'));
        let f = FnFilter {
            descendant,
            parts,
            operands,
            reads_root,
        };
        // the condition must read once the operands are values
        let probe = f.condition(&vec!["null".to_string(); f.operands.len()]);
        filter_of(&probe)?;
        out.push(Piece::Filter(f));
    }
    if wild {
        run.push((Step::Wildcard, 0..0));
    }
    flush(&mut run, &mut out)?;
    Ok(Arc::from(out))
}

impl FnFilter {
    /// The condition with each operand replaced by `values[i]` (RFC 9535 literals or paths).
    fn condition(&self, values: &[String]) -> String {
        let mut out = String::new();
        for (i, p) in self.parts.iter().enumerate() {
            out.push_str(p);
            if let Some(v) = values.get(i) {
                out.push_str(v);
            }
        }
        out
    }
}

/// The filter of `[cond]` (`cond` is `?(…)`), read by jsonpath-rust.
fn filter_of(cond: &str) -> Result<jsonpath_rust::parser::model::Filter, String> {
    let text: String = crate::json::jayway_forms(cond)
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    let q = parse_query(&format!("$[{text}]"))?;
    match q.segments.into_iter().next() {
        Some(Segment::Selector(Selector::Filter(f))) => Ok(f),
        _ => Err(format!("`[{cond}]` is not a filter")),
    }
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

/// The evaluation failed (Jayway threw); Synapse gives the empty string. In a filter, a path
/// that finds nothing is undefined (its comparisons are false); other failures fail the path.
#[derive(Debug)]
struct Fail {
    missing: bool,
}

const MISSING: Fail = Fail { missing: true };
const ERROR: Fail = Fail { missing: false };

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

/// A value found, with its normalized path in the document (`$['a'][0]`).
type Found = (String, Json);

/// Run `query` (RFC 9535 text) on `doc`.
fn query(text: &str, doc: &Json) -> R<Vec<Found>> {
    let q = parse_query(text).map_err(|_| ERROR)?;
    query_with(&q, doc)
}

fn query_with(q: &JpQuery, doc: &Json) -> R<Vec<Found>> {
    jsonpath_rust::query::js_path_process(q, doc)
        .map(|refs| {
            refs.into_iter()
                .map(|r| {
                    let v = r.clone().val().clone();
                    (r.path(), v)
                })
                .collect()
        })
        .map_err(|_| ERROR)
}

/// The values the pieces find from the value at `from` (a normalized path) in `doc`.
fn run(pieces: &[Piece], from: &str, doc: &Json) -> R<Vec<Found>> {
    let mut current: Vec<Found> = Vec::new();
    let mut first = true;
    for piece in pieces {
        let starts: Vec<String> = if first {
            vec![from.to_string()]
        } else {
            current.iter().map(|(p, _)| p.clone()).collect()
        };
        first = false;
        current = match piece {
            Piece::Segments(text, q) => {
                let mut out = Vec::new();
                for start in &starts {
                    if start == "$" {
                        out.extend(query_with(q, doc)?);
                    } else {
                        out.extend(query(&format!("{start}{text}"), doc)?);
                    }
                }
                out
            }
            Piece::Filter(f) => {
                let mut out = Vec::new();
                for start in &starts {
                    out.extend(f.apply(start, doc)?);
                }
                out
            }
        };
    }
    if first {
        // no step: the value itself
        return Ok(query(from, doc)?.into_iter().take(1).collect());
    }
    Ok(current)
}

/// A value as a literal of an RFC 9535 condition; what has none (an object, an array, a path
/// that found nothing) is a path that finds nothing, so its comparisons are false.
fn literal(v: R<Java>) -> R<String> {
    let nothing = || format!("@[{}]", crate::json::quote("\u{1}"));
    Ok(match v {
        Err(Fail { missing: true }) => nothing(),
        Err(e) => return Err(e),
        Ok(Java::Null) => "null".into(),
        Ok(Java::Bool(b)) => b.to_string(),
        Ok(Java::Int(i)) => i.to_string(),
        Ok(Java::Double(d)) if d.is_finite() => java_double_to_string(d).to_lowercase(),
        Ok(Java::Big(t)) => t.to_lowercase(),
        Ok(Java::Str(s)) => crate::json::quote(&s),
        Ok(_) => nothing(),
    })
}

impl FnFilter {
    /// The children of the value at `at` (after `..`, every value below it) that pass the
    /// condition.
    fn apply(&self, at: &str, doc: &Json) -> R<Vec<Found>> {
        let all = if self.descendant { "..[*]" } else { "[*]" };
        let candidates = query(&format!("{at}{all}"), doc)?;
        let mut of_root: Vec<Option<String>> = vec![None; self.operands.len()];
        // a condition that reads `$` is tested among the siblings: the paths that pass, by
        // condition
        let mut among: Vec<(String, Vec<String>)> = Vec::new();
        let mut kept = Vec::new();
        for (path, value) in candidates {
            let mut values = Vec::with_capacity(self.operands.len());
            for (i, (op, relative)) in self.operands.iter().enumerate() {
                if *relative {
                    values.push(literal(evaluate(op, &path, doc))?);
                } else {
                    if of_root[i].is_none() {
                        of_root[i] = Some(literal(evaluate(op, "$", doc))?);
                    }
                    values.push(of_root[i].clone().unwrap_or_default());
                }
            }
            let cond: String = crate::json::jayway_forms(&self.condition(&values))
                .into_iter()
                .map(|(_, c)| c)
                .collect();
            let pass = if self.reads_root && !self.descendant {
                let hit = match among.iter().position(|(c, _)| *c == cond) {
                    Some(i) => i,
                    None => {
                        let found = query(&format!("{at}[{cond}]"), doc)?;
                        among.push((cond.clone(), found.into_iter().map(|f| f.0).collect()));
                        among.len() - 1
                    }
                };
                among[hit].1.contains(&path)
            } else {
                // the candidate alone, in an array the condition filters
                !query(&format!("$[{cond}]"), &Json::Array(vec![value.clone()]))?.is_empty()
            };
            if pass {
                kept.push((path, value));
            }
        }
        Ok(kept)
    }
}

/// Jayway's `path.evaluate(model, root).getValue()`: a definite path's one value (failing when
/// there is none), an indefinite path's list of values.
fn evaluate(p: &JwPath, from: &str, doc: &Json) -> R<Java> {
    let found = run(&p.query, from, doc)?;
    match &p.call {
        None if p.definite => found.first().map(|f| unwrap(&f.1)).ok_or(MISSING),
        None => Ok(Java::Elem(Json::Array(
            found.into_iter().map(|f| f.1).collect(),
        ))),
        Some(call) if p.definite => {
            let m = found.first().ok_or(MISSING)?;
            invoke(call, &m.1, doc)
        }
        Some(call) => {
            let mut out = Vec::with_capacity(found.len());
            for m in &found {
                out.push(tree(invoke(call, &m.1, doc)?));
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
            CArg::Path(p) => Some(evaluate(p, "$", root)?),
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
                    .map_err(|_| ERROR),
                (CArg::Path(_), None) => Err(ERROR),
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
                return Err(ERROR);
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
                    return Err(ERROR);
                };
                let inner = match (&p.call, &p.wild) {
                    (None, Some(w)) => Java::Elem(Json::Array(
                        run(w, "$", model)?.into_iter().map(|f| f.1).collect(),
                    )),
                    _ => evaluate(p, "$", model)?,
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
            let items = items.ok_or(ERROR)?;
            let target: i64 = match call.name {
                Name::First => 0,
                Name::Last => -1,
                _ => {
                    let n = *numbers(&params()?).first().ok_or(ERROR)?;
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
                    return Err(ERROR);
                }
                real
            };
            items.get(at as usize).cloned().ok_or(ERROR)
        }
    }
}

/// The text `SynapseJsonPath.stringValueOf` gives for the path on `doc`.
pub(crate) fn print(p: &JwPath, doc: &Json) -> String {
    if p.call.is_none() {
        // no function at the end (one in a filter): printed as any path is
        return match run(&p.query, "$", doc) {
            Err(_) => String::new(),
            Ok(found) if p.definite => found
                .first()
                .map(|f| crate::json::scalar_text(&f.1))
                .unwrap_or_default(),
            Ok(found) => Json::Array(found.into_iter().map(|f| f.1).collect()).to_string(),
        };
    }
    match evaluate(p, "$", doc) {
        Err(_) => String::new(),
        Ok(v) => match v {
            Java::Int(_) | Java::Double(_) | Java::Big(_) => java_string(&v),
            Java::Elem(e) => e.to_string(),
            // `formatJsonPathResponse` casts a result that is not a number to a Gson element:
            // a string, boolean or null fails, and Synapse gives the empty string
            Java::Str(_) | Java::Bool(_) | Java::Null => String::new(),
        },
    }
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
