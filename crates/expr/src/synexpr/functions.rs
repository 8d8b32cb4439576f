//! The function library of Synapse Expressions.

use base64::Engine as _;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use serde_json::Value as Json;
use synaptic_payload::{Envelope, Payload};

use super::decimal::Dec;
use super::eval::{int_or_long, Evaluator, SynValue, R};
use super::parser::{Lit, Node};
use super::Func;
use crate::date::{DAYS, MONTHS};
use crate::{ExprEnv, Scope, Value};

fn bad(f: Func) -> String {
    format!("invalid argument for {f:?}")
}

/// UTF-16 length, as Java counts.
fn jlen(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Java `String.substring` on UTF-16 offsets.
fn jsub(s: &str, from: usize, to: usize) -> String {
    let u: Vec<u16> = s.encode_utf16().collect();
    String::from_utf16_lossy(&u[from.min(u.len())..to.min(u.len())])
}

fn charset_bytes(s: &str, charset: &str) -> R<Vec<u8>> {
    crate::xpath::charset_bytes(s, Some(charset))
        .map_err(|_| format!("unsupported charset {charset}"))
}

/// `URLEncoder.encode`: unreserved `A-Z a-z 0-9 . - * _`, space as `+`.
fn url_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `URLDecoder.decode(s, "UTF-8")`.
fn url_decode(s: &str) -> R<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let h = s
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or("malformed %-escape in urlDecode")?;
                out.push(h);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn parse_json_text(s: &str) -> Option<Json> {
    serde_json::from_str(s.trim()).ok()
}

fn is_array(v: &SynValue) -> bool {
    match v {
        SynValue::Json(j) => j.is_array(),
        SynValue::Str(s) => parse_json_text(s).is_some_and(|j| j.is_array()),
        _ => false,
    }
}

fn is_object(v: &SynValue) -> bool {
    match v {
        SynValue::Json(j) => j.is_object(),
        SynValue::Str(s) => parse_json_text(s).is_some_and(|j| j.is_object()),
        _ => false,
    }
}

fn java_parse_int(s: &str) -> Option<i32> {
    let d = s.strip_prefix(['-', '+']).unwrap_or(s);
    if d.is_empty() || !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i32>().ok()
}

fn java_parse_double(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    let d = crate::java_parse_double(t);
    if d.is_nan() && !matches!(t.trim_start_matches(['+', '-']), "NaN") {
        return None;
    }
    Some(d)
}

/// Call a function (arguments evaluated here; `exists` catches errors).
pub fn call(ev: &Evaluator, f: Func, args: &[Node], cur: Option<&Json>) -> R<SynValue> {
    use Func::*;
    if f == Exists {
        return Ok(SynValue::Bool(matches!(
            ev.eval_at(&args[0], cur),
            Ok(v) if v != SynValue::Null
        )));
    }
    if f == Now {
        return Ok(SynValue::Long(ev.env.as_expr().now_ms()));
    }
    let mut vals = Vec::with_capacity(args.len());
    for a in args {
        let v = ev.eval_at(a, cur)?;
        if v == SynValue::Null {
            return Err(format!("null argument for {f:?}"));
        }
        vals.push(v);
    }
    let a0 = &vals[0];
    let s0 = || match a0 {
        SynValue::Str(s) => Ok(s.as_str()),
        _ => Err(bad(f)),
    };
    let s1 = || match vals.get(1) {
        Some(SynValue::Str(s)) => Ok(s.as_str()),
        _ => Err(bad(f)),
    };
    let i_at = |n: usize| match vals.get(n) {
        Some(SynValue::Int(i)) => Ok(*i),
        _ => Err(bad(f)),
    };
    let num0 = || a0.as_f64().ok_or_else(|| bad(f));
    Ok(match f {
        Length => match a0 {
            SynValue::Str(s) => SynValue::Int(jlen(s) as i32),
            SynValue::Json(Json::Array(a)) => int_or_long(a.len() as i64),
            _ => return Err(bad(f)),
        },
        ToUpper => SynValue::Str(s0()?.to_uppercase()),
        ToLower => SynValue::Str(s0()?.to_lowercase()),
        Trim => SynValue::Str(s0()?.trim_matches(|c: char| c <= ' ').to_string()),
        SubString => {
            let s = s0()?;
            let len = jlen(s) as i64;
            let from = i_at(1)? as i64;
            if vals.len() == 2 {
                if from < 0 || from > len {
                    return Err("subString index out of range".into());
                }
                SynValue::Str(jsub(s, from as usize, len as usize))
            } else {
                let to = i_at(2)? as i64;
                if from < 0 || to < 0 || from > to || to > len {
                    return Err("subString indices out of range".into());
                }
                SynValue::Str(jsub(s, from as usize, to as usize))
            }
        }
        StartsWith => SynValue::Bool(s0()?.starts_with(s1()?)),
        EndsWith => SynValue::Bool(s0()?.ends_with(s1()?)),
        Contains => SynValue::Bool(s0()?.contains(s1()?)),
        Replace => {
            let (SynValue::Str(a), SynValue::Str(b)) = (&vals[1], &vals[2]) else {
                return Err(bad(f));
            };
            SynValue::Str(s0()?.replace(a.as_str(), b))
        }
        Split => {
            let re = regex::RegexBuilder::new(s1()?)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("invalid split pattern: {e}"))?;
            let mut parts: Vec<&str> = re.split(s0()?).collect();
            while parts.len() > 1 && parts.last() == Some(&"") {
                parts.pop();
            }
            SynValue::Json(Json::Array(
                parts
                    .into_iter()
                    .map(|p| Json::String(p.to_string()))
                    .collect(),
            ))
        }
        IndexOf => {
            let s = s0()?;
            let needle: Vec<u16> = s1()?.encode_utf16().collect();
            let hay: Vec<u16> = s.encode_utf16().collect();
            let from = if vals.len() == 3 {
                i_at(2)?.max(0) as usize
            } else {
                0
            };
            let found = if from > hay.len() {
                None
            } else if needle.is_empty() {
                Some(from)
            } else {
                hay[from..]
                    .windows(needle.len())
                    .position(|w| w == needle.as_slice())
                    .map(|p| p + from)
            };
            SynValue::Int(found.map(|p| p as i32).unwrap_or(-1))
        }
        CharAt => {
            let s = s0()?;
            let i = i_at(1)?;
            let u: Vec<u16> = s.encode_utf16().collect();
            if i < 0 || i as usize >= u.len() {
                return Err("charAt index out of range".into());
            }
            SynValue::Str(std::string::String::from_utf16_lossy(
                &u[i as usize..i as usize + 1],
            ))
        }
        Abs => match a0 {
            SynValue::Int(i) => int_or_long((*i as i64).abs()),
            SynValue::Long(i) => SynValue::Long(i.wrapping_abs()),
            SynValue::Double(d) => SynValue::Double(d.abs()),
            _ => return Err(bad(f)),
        },
        Ceil | Floor => match a0 {
            SynValue::Int(_) | SynValue::Long(_) => a0.clone(),
            SynValue::Double(d) => SynValue::Double(if f == Ceil { d.ceil() } else { d.floor() }),
            _ => return Err(bad(f)),
        },
        Sqrt => SynValue::Double(num0()?.sqrt()),
        Log => {
            let x = num0()?;
            if vals.len() == 2 {
                let b = vals[1].as_f64().ok_or_else(|| bad(f))?;
                SynValue::Double(x.ln() / b.ln())
            } else {
                SynValue::Double(x.log10())
            }
        }
        Pow => {
            let b = vals[1].as_f64().ok_or_else(|| bad(f))?;
            SynValue::Double(num0()?.powf(b))
        }
        Round => {
            if vals.len() == 1 {
                match a0 {
                    SynValue::Double(d) => SynValue::Int((d + 0.5).floor() as i32),
                    SynValue::Int(_) | SynValue::Long(_) => a0.clone(),
                    _ => return Err(bad(f)),
                }
            } else {
                match (a0, &vals[1]) {
                    (SynValue::Double(d), SynValue::Int(n)) if *n > 0 => {
                        let r = Dec::parse(&crate::java_double_to_string(*d))
                            .and_then(|x| x.round_half_up(*n))
                            .map(|x| x.to_f64())
                            .unwrap_or(*d);
                        SynValue::Double(r)
                    }
                    (SynValue::Int(_) | SynValue::Long(_), _) => a0.clone(),
                    _ => return Err(bad(f)),
                }
            }
        }
        Base64Encode => {
            let s = s0()?;
            let bytes = if vals.len() == 2 {
                charset_bytes(s, s1()?)?
            } else {
                s.as_bytes().to_vec()
            };
            SynValue::Str(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        Base64Decode => {
            let b = base64::engine::general_purpose::STANDARD
                .decode(s0()?)
                .map_err(|e| format!("base64decode: {e}"))?;
            SynValue::Str(std::string::String::from_utf8_lossy(&b).into_owned())
        }
        UrlEncode => {
            let s = s0()?;
            if vals.len() == 2 {
                let cs = s1()?;
                let enc = url_encode(&charset_bytes(s, cs)?);
                if cs == "UTF-8" {
                    SynValue::Str(enc.replace('+', "%20").replace('*', "%2A"))
                } else {
                    SynValue::Str(enc)
                }
            } else {
                SynValue::Str(
                    url_encode(s.as_bytes())
                        .replace('+', "%20")
                        .replace('*', "%2A"),
                )
            }
        }
        UrlDecode => SynValue::Str(url_decode(s0()?)?),
        IsString => SynValue::Bool(matches!(a0, SynValue::Str(_))),
        IsNumber => SynValue::Bool(a0.is_number()),
        IsArray => SynValue::Bool(is_array(a0)),
        IsObject => SynValue::Bool(is_object(a0)),
        String => SynValue::Str(a0.text()?),
        Integer => match a0 {
            SynValue::Int(_) => a0.clone(),
            other => SynValue::Int(java_parse_int(&other.text()?).ok_or_else(|| bad(f))?),
        },
        Float => match a0 {
            SynValue::Double(_) => a0.clone(),
            other => SynValue::Double(java_parse_double(&other.text()?).ok_or_else(|| bad(f))?),
        },
        Boolean => match a0 {
            SynValue::Bool(_) => a0.clone(),
            other => SynValue::Bool(other.text()?.eq_ignore_ascii_case("true")),
        },
        Object => match a0 {
            SynValue::Json(j @ Json::Object(_)) => SynValue::Json(j.clone()),
            SynValue::Str(s) => match parse_json_text(s) {
                Some(j @ Json::Object(_)) => SynValue::Json(j),
                _ => return Err("not a JSON object".into()),
            },
            _ => return Err("not a JSON object".into()),
        },
        Array => match a0 {
            SynValue::Json(j @ Json::Array(_)) => SynValue::Json(j.clone()),
            SynValue::Str(s) => match parse_json_text(s) {
                Some(j @ Json::Array(_)) => SynValue::Json(j),
                _ => return Err("not a JSON array".into()),
            },
            _ => return Err("not a JSON array".into()),
        },
        Not => match a0 {
            SynValue::Bool(b) => SynValue::Bool(!b),
            _ => return Err(bad(f)),
        },
        FormatDateTime => {
            if vals.len() == 2 {
                let ms = a0.as_i64().ok_or_else(|| bad(f))?;
                SynValue::Str(crate::format_simple_date(s1()?, ms))
            } else {
                let SynValue::Str(target) = &vals[2] else {
                    return Err(bad(f));
                };
                let ms = parse_date(s0()?, s1()?)?;
                SynValue::Str(crate::format_simple_date(target, ms))
            }
        }
        Registry => {
            let key = s0()?;
            if vals.len() == 2 {
                let p = s1()?;
                return ev
                    .env
                    .registry_property(key, p)
                    .map(SynValue::Str)
                    .ok_or_else(|| format!("no property {p} on registry resource {key}"));
            }
            SynValue::Str(
                ev.env
                    .as_expr()
                    .registry(key)
                    .ok_or_else(|| format!("registry resource {key} not found"))?,
            )
        }
        Wso2Vault => {
            let alias = s0()?;
            SynValue::Str(
                ev.env
                    .as_expr()
                    .secret(alias)
                    .ok_or_else(|| format!("no secret for alias {alias}"))?,
            )
        }
        HashicorpVault => {
            return Err(
                "hashicorp-vault(…) is not supported: synaptic has no HashiCorp Vault \
                        client; use wso2-vault(alias) with the alias in [secrets]"
                    .into(),
            )
        }
        Exists | Now | XPath => unreachable!("handled before"),
    })
}

/// Parse `s` with a Java date pattern (date and time, date only or time only) to epoch
/// milliseconds (UTC).
fn parse_date(s: &str, pattern: &str) -> R<i64> {
    let mut f = Fields::default();
    let chars: Vec<char> = s.chars().collect();
    let mut pos = 0usize;
    let pat: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let err = || format!("`{s}` does not match the pattern `{pattern}`");
    while i < pat.len() {
        let c = pat[i];
        if c == '\'' {
            let mut j = i + 1;
            while j < pat.len() && pat[j] != '\'' {
                if chars.get(pos) != Some(&pat[j]) {
                    return Err(err());
                }
                pos += 1;
                j += 1;
            }
            i = j + 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            if chars.get(pos) != Some(&c) {
                return Err(err());
            }
            pos += 1;
            i += 1;
            continue;
        }
        let mut n = 1;
        while pat.get(i + n) == Some(&c) {
            n += 1;
        }
        i += n;
        // the next pattern letter follows at once: read exactly `n` digits
        let adjacent = pat.get(i).is_some_and(|x| x.is_ascii_alphabetic());
        let lim = |max: usize| if adjacent { n.max(1) } else { max };
        match c {
            'y' | 'u' => {
                let v = read_num(&chars, &mut pos, lim(9)).ok_or_else(err)?;
                f.year = Some(if n == 2 { 2000 + v } else { v });
            }
            'M' | 'L' if n >= 3 => {
                let rest: String = chars[pos..].iter().collect();
                let mut found = None;
                for (k, m) in MONTHS.iter().enumerate() {
                    let name = if n == 3 { &m[..3] } else { m };
                    if rest.to_lowercase().starts_with(&name.to_lowercase()) {
                        found = Some((k as i64 + 1, name.chars().count()));
                        break;
                    }
                }
                let (m, len) = found.ok_or_else(err)?;
                f.month = Some(m);
                pos += len;
            }
            'M' | 'L' => f.month = Some(read_num(&chars, &mut pos, lim(2)).ok_or_else(err)?),
            'd' => f.day = Some(read_num(&chars, &mut pos, lim(2)).ok_or_else(err)?),
            'H' | 'k' => f.hour = Some(read_num(&chars, &mut pos, lim(2)).ok_or_else(err)?),
            'h' | 'K' => f.hour12 = Some(read_num(&chars, &mut pos, lim(2)).ok_or_else(err)?),
            'm' => f.minute = Some(read_num(&chars, &mut pos, lim(2)).ok_or_else(err)?),
            's' => f.second = Some(read_num(&chars, &mut pos, lim(2)).ok_or_else(err)?),
            'S' => {
                let start = pos;
                let v = read_num(&chars, &mut pos, lim(9)).ok_or_else(err)?;
                let digits = (pos - start) as u32;
                f.milli = Some(if digits >= 3 {
                    v / 10i64.pow(digits - 3)
                } else {
                    v * 10i64.pow(3 - digits)
                });
            }
            'a' => {
                let rest: String = chars[pos..].iter().take(2).collect();
                match rest.to_ascii_uppercase().as_str() {
                    "AM" => f.pm = Some(false),
                    "PM" => f.pm = Some(true),
                    _ => return Err(err()),
                }
                pos += 2;
            }
            'E' => {
                let rest: String = chars[pos..].iter().collect::<String>().to_lowercase();
                let len = DAYS
                    .iter()
                    .find_map(|d| {
                        let name = if n >= 4 { *d } else { &d[..3] };
                        rest.starts_with(&name.to_lowercase()).then_some(name.len())
                    })
                    .ok_or_else(err)?;
                pos += len;
            }
            _ => return Err(format!("unsupported pattern letter `{c}`")),
        }
    }
    if pos != chars.len() {
        return Err(err());
    }
    let hour = match (f.hour, f.hour12, f.pm) {
        (Some(h), _, _) => Some(h),
        (None, Some(h), pm) => Some(h % 12 + if pm == Some(true) { 12 } else { 0 }),
        _ => None,
    };
    let time = match (hour, f.minute) {
        (None, None) if f.second.is_none() => None,
        _ => Some(
            NaiveTime::from_hms_milli_opt(
                hour.unwrap_or(0) as u32,
                f.minute.unwrap_or(0) as u32,
                f.second.unwrap_or(0) as u32,
                f.milli.unwrap_or(0) as u32,
            )
            .ok_or_else(err)?,
        ),
    };
    let date = match (f.year, f.month, f.day) {
        (None, None, None) => None,
        (y, m, d) => Some(
            NaiveDate::from_ymd_opt(
                y.unwrap_or(1970) as i32,
                m.unwrap_or(1) as u32,
                d.unwrap_or(1) as u32,
            )
            .ok_or_else(err)?,
        ),
    };
    if date.is_none() && time.is_none() {
        return Err(err());
    }
    let dt = NaiveDateTime::new(
        date.unwrap_or_else(|| NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date")),
        time.unwrap_or(NaiveTime::MIN),
    );
    Ok(dt.and_utc().timestamp_millis())
}

/// Up to `limit` digits at `pos`.
fn read_num(chars: &[char], pos: &mut usize, limit: usize) -> Option<i64> {
    let start = *pos;
    while *pos < chars.len() && *pos - start < limit && chars[*pos].is_ascii_digit() {
        *pos += 1;
    }
    if *pos == start {
        return None;
    }
    chars[start..*pos].iter().collect::<String>().parse().ok()
}

#[derive(Default)]
struct Fields {
    year: Option<i64>,
    month: Option<i64>,
    day: Option<i64>,
    hour: Option<i64>,
    hour12: Option<i64>,
    minute: Option<i64>,
    second: Option<i64>,
    milli: Option<i64>,
    pm: Option<bool>,
}

/// An environment whose body is an XML value held in a variable.
struct XmlVarEnv<'a> {
    inner: &'a dyn ExprEnv,
    payload: Payload,
    /// A field of a JSON variable (a connector's XML payload): read as a document of its own.
    standalone: bool,
}

impl ExprEnv for XmlVarEnv<'_> {
    fn property(&self, scope: Scope, name: &str) -> Option<Value> {
        self.inner.property(scope, name)
    }
    fn registry(&self, key: &str) -> Option<String> {
        self.inner.registry(key)
    }
    fn payload(&self) -> &Payload {
        &self.payload
    }
    fn raw_json(&self) -> Option<&str> {
        None
    }
    fn url_param(&self, name: &str) -> Option<String> {
        self.inner.url_param(name)
    }
    fn xpath_variable(&self, name: &str) -> Option<Value> {
        self.inner.xpath_variable(name)
    }
    fn now_ms(&self) -> i64 {
        self.inner.now_ms()
    }
    fn standalone_xml(&self) -> bool {
        self.standalone
    }
}

/// `xpath(expr)` on the message, `xpath(expr, "var")` on an XML variable, `xpath(expr,
/// "var.field")` on an XML field of a JSON variable (a connector's response). The field is
/// read as Synapse reads a connector's payload element: a document of its own whose root
/// holds the element (`/order/@id`), the element being the context node (`item/@quantity`);
/// a whole variable is read as the body of a message, as Synapse reads `$var:name` followed by
/// the path.
pub fn xpath(
    ev: &Evaluator,
    x: &Node,
    compiled: Option<&crate::CompiledExpr>,
    var: Option<&Node>,
    cur: Option<&Json>,
) -> R<SynValue> {
    let owned;
    let c = match compiled {
        Some(c) => c,
        None => {
            let text = ev.eval_at(x, cur)?.text()?;
            owned = crate::compile(
                &text,
                synaptic_diag::Span::detached(),
                &[],
                crate::Dialect::XPath,
            )
            .map_err(|d| {
                format!(
                    "invalid XPath expression: {}",
                    d.first().map(|d| d.message.as_str()).unwrap_or("")
                )
            })?;
            &owned
        }
    };
    let result = match var {
        None => crate::eval(c, ev.env.as_expr()),
        Some(v) => {
            let name = match v {
                Node::Lit(Lit::Str(s)) => s.clone(),
                other => ev.eval_at(other, cur)?.text()?,
            };
            if name.is_empty() {
                return Err("xpath(): empty variable name".into());
            }
            let (base, field) = match name.split_once('.') {
                Some((b, f)) => (b, Some(f)),
                None => (name.as_str(), None),
            };
            let value = ev
                .env
                .variable(base)
                .ok_or_else(|| format!("variable {base} is not defined"))?;
            let xml = match (field, value) {
                (None, Value::Xml(s)) | (None, Value::String(s)) => s,
                (Some(f), Value::Json(Json::Object(o))) => match o.get(f) {
                    Some(Json::String(s)) if s.trim_start().starts_with('<') => s.clone(),
                    _ => return Err(format!("field {f} of variable {base} is not XML")),
                },
                _ => return Err(format!("variable {name} is not XML")),
            };
            let root = synaptic_payload::xml::parse(&xml)
                .map_err(|e| format!("variable {name} is not XML: {e}"))?;
            let env = XmlVarEnv {
                inner: ev.env.as_expr(),
                payload: Payload::Xml(Envelope::pox(root)),
                standalone: field.is_some(),
            };
            crate::eval(c, &env)
        }
    };
    let v = result.map_err(|e| e.to_string())?;
    Ok(SynValue::Str(v.to_synapse_string().unwrap_or_default()))
}
