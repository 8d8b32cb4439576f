//! Number conversions the Java way (`Double.parseDouble`, `Double.toString`).

/// `Double.parseDouble` after `String.trim()`, as Jaxen's `number()` does for strings: decimal
/// with optional exponent and a trailing `d`/`f`, `NaN`, `Infinity`; anything else is NaN.
/// (Hexadecimal floating literals, which Java also accepts, give NaN here.)
pub fn java_parse_double(s: &str) -> f64 {
    let t = s.trim_matches(|c: char| c <= ' ');
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let v = match body {
        "NaN" => return f64::NAN,
        "Infinity" => f64::INFINITY,
        _ => {
            let body = body.strip_suffix(['d', 'D', 'f', 'F']).unwrap_or(body);
            if !is_java_decimal(body) {
                return f64::NAN;
            }
            match body.parse::<f64>() {
                Ok(v) => v,
                Err(_) => return f64::NAN,
            }
        }
    };
    if neg {
        -v
    } else {
        v
    }
}

/// digits [. digits] | . digits, then optional exponent.
fn is_java_decimal(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i > int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let f = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        digits |= i > f;
    }
    if !digits {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let e = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == e {
            return false;
        }
    }
    i == b.len()
}

/// A number as XPath's `string()` writes it: `NaN`, `Infinity`, `-Infinity`, `0` for ±0,
/// integral values without a decimal point, others in plain decimal notation.
pub fn xpath_number_string(n: f64) -> String {
    if n.is_nan() {
        "NaN".into()
    } else if n.is_infinite() {
        if n > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        }
    } else if n == 0.0 {
        "0".into()
    } else {
        // Rust's Display for f64 is the shortest round-trip representation, never exponential
        format!("{n}")
    }
}

/// Java's `Double.toString`: `NaN`, `Infinity`, `0.0`, `-0.0`; plain decimal with at least one
/// fractional digit for 10^-3 <= |n| < 10^7, else computerized scientific notation (`1.0E7`).
pub fn java_double_to_string(n: f64) -> String {
    if n.is_nan() {
        return "NaN".into();
    }
    if n.is_infinite() {
        return if n > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if n == 0.0 {
        return if n.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let abs = n.abs();
    if abs == f64::from_bits(1) {
        // `Double.MIN_VALUE`: Java writes two digits, the closer to its value (4.94…E-324)
        return if n > 0.0 { "4.9E-324" } else { "-4.9E-324" }.into();
    }
    if (1e-3..1e7).contains(&abs) {
        let s = format!("{n}");
        if s.contains('.') {
            s
        } else {
            s + ".0"
        }
    } else {
        // shortest round-trip digits and exponent
        let e = format!("{n:e}");
        let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
        let mantissa = if mantissa.contains('.') {
            mantissa.to_string()
        } else {
            format!("{mantissa}.0")
        };
        format!("{mantissa}E{exp}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_like_java() {
        let cases: &[(&str, f64)] = &[
            ("12", 12.0),
            (" 12 ", 12.0),
            ("\t-1.5\n", -1.5),
            ("1e3", 1000.0),
            ("1E-2", 0.01),
            ("+4", 4.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("1d", 1.0),
            ("2.5F", 2.5),
            ("Infinity", f64::INFINITY),
            ("-Infinity", f64::NEG_INFINITY),
            ("1700000000000", 1.7e12),
        ];
        for (s, want) in cases {
            assert_eq!(java_parse_double(s), *want, "{s:?}");
        }
        for s in [
            "", "inf", "infinity", "abc", "1e", "e3", ".", "1.2.3", "0x10", "1_000", "NaN",
        ] {
            assert!(java_parse_double(s).is_nan(), "{s:?}");
        }
    }

    #[test]
    fn xpath_form() {
        let cases: &[(f64, &str)] = &[
            (3.0, "3"),
            (-0.0, "0"),
            (0.0, "0"),
            (3.5, "3.5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e21, "1000000000000000000000"),
            (1e-7, "0.0000001"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (1700003600001.0, "1700003600001"),
        ];
        for (n, want) in cases {
            assert_eq!(xpath_number_string(*n), *want);
        }
    }

    #[test]
    fn java_form() {
        let cases: &[(f64, &str)] = &[
            (6.0, "6.0"),
            (3.5, "3.5"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (0.001, "0.001"),
            (1234567.0, "1234567.0"),
            (1e7, "1.0E7"),
            (1700003600001.0, "1.700003600001E12"),
            (1e-4, "1.0E-4"),
            (-2.5e-5, "-2.5E-5"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (100.0, "100.0"),
            (-42.25, "-42.25"),
        ];
        for (n, want) in cases {
            assert_eq!(java_double_to_string(*n), *want);
        }
    }
}
