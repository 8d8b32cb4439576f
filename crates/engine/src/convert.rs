//! Property `type` conversions, and the empty-value rule of a numeric type (COMPATIBILITY.md D1).

use synaptic_expr::Value;

/// The `type=` of a property mediator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PropertyType {
    String,
    Boolean,
    Integer,
    Long,
    Short,
    Float,
    Double,
    Om,
    Json,
}

impl PropertyType {
    pub fn parse(s: &str) -> Option<PropertyType> {
        Some(match s {
            "STRING" => PropertyType::String,
            "BOOLEAN" => PropertyType::Boolean,
            "INTEGER" => PropertyType::Integer,
            "LONG" => PropertyType::Long,
            "SHORT" => PropertyType::Short,
            "FLOAT" => PropertyType::Float,
            "DOUBLE" => PropertyType::Double,
            "OM" => PropertyType::Om,
            "JSON" => PropertyType::Json,
            _ => return None,
        })
    }
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            PropertyType::Integer
                | PropertyType::Long
                | PropertyType::Short
                | PropertyType::Float
                | PropertyType::Double
        )
    }
    pub fn as_str(self) -> &'static str {
        match self {
            PropertyType::String => "STRING",
            PropertyType::Boolean => "BOOLEAN",
            PropertyType::Integer => "INTEGER",
            PropertyType::Long => "LONG",
            PropertyType::Short => "SHORT",
            PropertyType::Float => "FLOAT",
            PropertyType::Double => "DOUBLE",
            PropertyType::Om => "OM",
            PropertyType::Json => "JSON",
        }
    }
}

/// The outcome of converting a value for a property mediator.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Converted {
    /// Assign this value (`Value::Null` = a null assignment).
    Set(Value),
    /// Empty or missing under a numeric type: leave the property as it is (COMPATIBILITY.md D1).
    Unset,
}

/// The string of a value at the top level, as Synapse stringifies it; `None` for null.
pub(crate) fn value_string(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Boolean(b) => Some(b.to_string()),
        Value::Number(n) => Some(java_double_to_string(*n)),
        Value::Xml(s) => Some(s.clone()),
        Value::Json(j) => Some(match j {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }),
    }
}

/// [`value_string`] of a value the caller no longer needs: its text moved out, not copied.
pub(crate) fn into_value_string(v: Value) -> Option<String> {
    match v {
        Value::String(s) | Value::Xml(s) => Some(s),
        Value::Json(serde_json::Value::String(s)) => Some(s),
        other => value_string(&other),
    }
}

/// Java `Double.toString`.
pub(crate) fn java_double_to_string(n: f64) -> String {
    if n.is_nan() {
        return "NaN".into();
    }
    if n.is_infinite() {
        return if n > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    if n == 0.0 {
        return if n.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    // shortest round-trip digits and exponent
    let sci = format!("{:e}", n); // e.g. "-1.700003600001e12"
    let (mant, exp) = match sci.split_once('e') {
        Some((m, e)) => (m.to_string(), e.parse::<i32>().unwrap_or(0)),
        None => (sci.clone(), 0),
    };
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if neg { "-" } else { "" };
    if (-3..7).contains(&exp) {
        // plain decimal with at least one fractional digit
        let mut s = String::new();
        if exp >= 0 {
            let int_len = (exp + 1) as usize;
            let (ip, fp) = if digits.len() > int_len {
                (digits[..int_len].to_string(), digits[int_len..].to_string())
            } else {
                (
                    format!("{}{}", digits, "0".repeat(int_len - digits.len())),
                    String::new(),
                )
            };
            s.push_str(&ip);
            s.push('.');
            s.push_str(if fp.is_empty() { "0" } else { &fp });
        } else {
            s.push_str("0.");
            s.push_str(&"0".repeat((-exp - 1) as usize));
            s.push_str(&digits);
        }
        format!("{sign}{s}")
    } else {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        let rest = if rest.is_empty() { "0" } else { rest };
        format!("{sign}{first}.{rest}E{exp}")
    }
}

/// A `FLOAT` value: rounded to single precision, then held as the double whose shortest digits
/// are the float's, so that it prints as Java's `Float.toString` does (`123.456`, not the
/// widened `123.45600128173828`).
fn float_as_double(d: f64) -> f64 {
    let f = d as f32;
    if !f.is_finite() {
        return f as f64;
    }
    f.to_string().parse::<f64>().unwrap_or(f as f64)
}

/// Java `Double.parseDouble` syntax: trims, optional trailing `d`/`f`, `NaN`, `Infinity`.
pub(crate) fn java_parse_double(s: &str) -> Option<f64> {
    let t = s.trim_matches(|c: char| c <= ' ');
    if t.is_empty() {
        return None;
    }
    let (sign, body) = match t.as_bytes()[0] {
        b'-' => (-1.0, &t[1..]),
        b'+' => (1.0, &t[1..]),
        _ => (1.0, t),
    };
    match body {
        "NaN" => return Some(f64::NAN),
        "Infinity" => return Some(sign * f64::INFINITY),
        _ => {}
    }
    let body = body.strip_suffix(['d', 'D', 'f', 'F']).unwrap_or(body);
    if body.is_empty()
        || !body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
        || !body.chars().any(|c| c.is_ascii_digit())
    {
        return None;
    }
    body.parse::<f64>().ok().map(|v| sign * v)
}

fn java_parse_long(s: &str, min: i64, max: i64) -> Option<i64> {
    // Java Integer/Long.parseLong: optional sign, digits only, no whitespace
    let b = s.as_bytes();
    if b.is_empty() {
        return None;
    }
    let digits = match b[0] {
        b'+' | b'-' => &s[1..],
        _ => s,
    };
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let v: i64 = s.parse().ok()?;
    (min..=max).contains(&v).then_some(v)
}

fn bounds(ty: PropertyType) -> (i64, i64) {
    match ty {
        PropertyType::Short => (i16::MIN as i64, i16::MAX as i64),
        PropertyType::Integer => (i32::MIN as i64, i32::MAX as i64),
        _ => (i64::MIN, i64::MAX),
    }
}

/// Convert an expression result (or a literal) to `ty`. `Err` is the conversion failure message
/// (the value itself is not included: it may be a secret).
pub(crate) fn convert(v: Value, ty: Option<PropertyType>) -> Result<Converted, String> {
    let ty = match ty {
        None | Some(PropertyType::String) => {
            return Ok(Converted::Set(match into_value_string(v) {
                None => Value::Null,
                Some(s) => Value::String(s),
            }))
        }
        Some(t) => t,
    };
    let fail = || {
        format!(
            "the property value cannot be converted to type {}",
            ty.as_str()
        )
    };
    if ty.is_numeric() {
        match &v {
            Value::Integer(i) => {
                return match ty {
                    PropertyType::Float | PropertyType::Double => {
                        Ok(Converted::Set(Value::Number(*i as f64)))
                    }
                    _ => {
                        let (lo, hi) = bounds(ty);
                        if (lo..=hi).contains(i) {
                            Ok(Converted::Set(Value::Integer(*i)))
                        } else {
                            Err(fail())
                        }
                    }
                }
            }
            Value::Number(n) if matches!(ty, PropertyType::Float | PropertyType::Double) => {
                return Ok(Converted::Set(Value::Number(*n)))
            }
            _ => {}
        }
        // a string's text read in place
        let s: std::borrow::Cow<'_, str> = match &v {
            Value::String(s) => std::borrow::Cow::Borrowed(s),
            other => match value_string(other) {
                None => return Ok(Converted::Unset),
                Some(s) => std::borrow::Cow::Owned(s),
            },
        };
        if s.trim().is_empty() {
            return Ok(Converted::Unset);
        }
        return match ty {
            PropertyType::Integer | PropertyType::Short => {
                let (lo, hi) = bounds(ty);
                if s.contains('.') {
                    let d = java_parse_double(&s).ok_or_else(fail)?;
                    if d.is_nan() {
                        return Err(fail());
                    }
                    let t = d.trunc();
                    if t < lo as f64 || t > hi as f64 {
                        return Err(fail());
                    }
                    Ok(Converted::Set(Value::Integer(t as i64)))
                } else {
                    java_parse_long(&s, lo, hi)
                        .map(|i| Converted::Set(Value::Integer(i)))
                        .ok_or_else(fail)
                }
            }
            PropertyType::Long => java_parse_long(&s, i64::MIN, i64::MAX)
                .map(|i| Converted::Set(Value::Integer(i)))
                .ok_or_else(fail),
            _ => java_parse_double(&s)
                .map(|d| {
                    let d = if ty == PropertyType::Float {
                        float_as_double(d)
                    } else {
                        d
                    };
                    Converted::Set(Value::Number(d))
                })
                .ok_or_else(fail),
        };
    }
    match ty {
        PropertyType::Boolean => {
            let b = match &v {
                Value::Boolean(b) => *b,
                other => match value_string(other) {
                    None => false,
                    Some(s) => {
                        let s = s.trim();
                        s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("yes") || s == "1"
                    }
                },
            };
            Ok(Converted::Set(Value::Boolean(b)))
        }
        PropertyType::Om => match v {
            Value::Xml(s) => Ok(Converted::Set(Value::Xml(s))),
            Value::Null => Ok(Converted::Set(Value::Null)),
            other => {
                let s = value_string(&other).unwrap_or_default();
                let t = s.trim();
                if t.starts_with('<')
                    && matches!(
                        synaptic_payload::build(t.as_bytes(), Some("application/xml")),
                        Ok(synaptic_payload::Payload::Xml(_))
                    )
                {
                    Ok(Converted::Set(Value::Xml(t.to_string())))
                } else {
                    Err(fail())
                }
            }
        },
        PropertyType::Json => match v {
            Value::Json(j) => Ok(Converted::Set(Value::Json(j))),
            Value::Null => Ok(Converted::Set(Value::Null)),
            other => {
                let s = value_string(&other).unwrap_or_default();
                match serde_json::from_str::<serde_json::Value>(&s) {
                    Ok(j) => Ok(Converted::Set(Value::Json(j))),
                    Err(_) => Ok(Converted::Set(Value::Json(serde_json::Value::String(s)))),
                }
            }
        },
        // handled above
        PropertyType::String
        | PropertyType::Integer
        | PropertyType::Long
        | PropertyType::Short
        | PropertyType::Float
        | PropertyType::Double => Err(fail()),
    }
}

/// Convert a `value=` literal at compile time. Unlike run time, an empty literal under a numeric
/// type is an error (Synapse refuses to deploy it).
pub(crate) fn convert_literal(s: &str, ty: Option<PropertyType>) -> Result<Value, String> {
    if let Some(t) = ty {
        if t.is_numeric() && s.trim().is_empty() {
            return Err(format!("an empty value is not a valid {}", t.as_str()));
        }
    }
    match convert(Value::String(s.to_string()), ty)? {
        Converted::Set(v) => Ok(v),
        Converted::Unset => Err("empty value".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(v: Value, ty: &str, expect: &str) {
        let got = match convert(v, PropertyType::parse(ty)) {
            Ok(Converted::Set(v)) => format!("{v:?}"),
            Ok(Converted::Unset) => "unset".into(),
            Err(_) => "error".into(),
        };
        assert_eq!(got, expect, "type {ty}");
    }

    #[test]
    fn conversions() {
        let s = |x: &str| Value::String(x.into());
        check(s("1700003600001"), "LONG", "Integer(1700003600001)");
        check(s(""), "LONG", "unset");
        check(Value::Null, "LONG", "unset");
        check(s("  "), "INTEGER", "unset");
        check(s("abc"), "LONG", "error");
        check(s("1.7E12"), "LONG", "error");
        check(s("3.0"), "INTEGER", "Integer(3)");
        check(s("3.9"), "SHORT", "Integer(3)");
        check(s("70000"), "SHORT", "error");
        check(s("1e3"), "DOUBLE", "Number(1000.0)");
        check(s("2.5d"), "DOUBLE", "Number(2.5)");
        check(s("123.456"), "FLOAT", "Number(123.456)");
        check(s("3.4028235E38"), "FLOAT", "Number(3.4028235e38)");
        check(s("123.456"), "DOUBLE", "Number(123.456)");
        check(s("Infinity"), "DOUBLE", "Number(inf)");
        check(s("inf"), "DOUBLE", "error");
        check(s("YES"), "BOOLEAN", "Boolean(true)");
        check(s("1"), "BOOLEAN", "Boolean(true)");
        check(Value::Null, "BOOLEAN", "Boolean(false)");
        check(Value::Null, "STRING", "Null");
        check(Value::Integer(5), "STRING", "String(\"5\")");
        check(s("{\"a\":1}"), "JSON", "Json(Object {\"a\": Number(1)})");
        check(s("plain"), "JSON", "Json(String(\"plain\"))");
    }

    #[test]
    fn java_doubles() {
        for (n, s) in [
            (6.0, "6.0"),
            (3.5, "3.5"),
            (0.001, "0.001"),
            (1234567.0, "1234567.0"),
            (1.0e7, "1.0E7"),
            (1.700003600001e12, "1.700003600001E12"),
            (1.0e-4, "1.0E-4"),
            (-0.0, "-0.0"),
            (f64::NAN, "NaN"),
            (-2.5, "-2.5"),
            (100.0, "100.0"),
        ] {
            assert_eq!(java_double_to_string(n), s);
        }
    }

    #[test]
    fn literals() {
        assert!(convert_literal("abc", Some(PropertyType::Long)).is_err());
        assert!(convert_literal("", Some(PropertyType::Long)).is_err());
        assert_eq!(
            convert_literal("42", Some(PropertyType::Integer)),
            Ok(Value::Integer(42))
        );
    }
}
