//! Java `SimpleDateFormat` patterns for `get-property('SYSTEM_DATE', pattern)`, always in UTC
//! with English names (Synapse uses the JVM's default time zone and locale).

use chrono::{DateTime, Datelike, Timelike, Utc};

/// The pattern used when none is given. Java's `new SimpleDateFormat()` is locale dependent;
/// synaptic fixes the `en_US` SHORT/SHORT form.
pub const DEFAULT_PATTERN: &str = "M/d/yy h:mm a";

pub(crate) const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
pub(crate) const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// Whether a pattern only uses letters this formatter knows (for lint).
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    for (_, c, _) in tokens(pattern) {
        if let Some(c) = c {
            if !"GyYMLdHhkKmsSEuaDFwWzZX".contains(c) {
                return Err(format!("illegal pattern character '{c}'"));
            }
        }
    }
    Ok(())
}

/// Tokens: (literal text, pattern letter, count).
fn tokens(pattern: &str) -> Vec<(String, Option<char>, usize)> {
    let mut out = Vec::new();
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // quoted text; '' is a quote
            if chars.get(i + 1) == Some(&'\'') {
                out.push(("'".to_string(), None, 0));
                i += 2;
                continue;
            }
            let mut lit = String::new();
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        lit.push('\'');
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                lit.push(chars[i]);
                i += 1;
            }
            out.push((lit, None, 0));
        } else if c.is_ascii_alphabetic() {
            let mut n = 1;
            while chars.get(i + n) == Some(&c) {
                n += 1;
            }
            out.push((String::new(), Some(c), n));
            i += n;
        } else {
            out.push((c.to_string(), None, 0));
            i += 1;
        }
    }
    out
}

fn pad(out: &mut String, v: i64, width: usize) {
    let s = v.abs().to_string();
    if v < 0 {
        out.push('-');
    }
    for _ in s.len()..width {
        out.push('0');
    }
    out.push_str(&s);
}

/// Format epoch milliseconds with a Java `SimpleDateFormat` pattern (UTC). Unknown letters are
/// written as is.
pub fn format_simple_date(pattern: &str, epoch_ms: i64) -> String {
    let dt: DateTime<Utc> = DateTime::from_timestamp_millis(epoch_ms).unwrap_or_default();
    let mut out = String::new();
    for (lit, letter, n) in tokens(pattern) {
        let Some(c) = letter else {
            out.push_str(&lit);
            continue;
        };
        match c {
            'G' => out.push_str(if dt.year() > 0 { "AD" } else { "BC" }),
            'u' => pad(&mut out, dt.weekday().number_from_monday() as i64, n),
            'y' | 'Y' => {
                let y = if c == 'Y' {
                    dt.iso_week().year() as i64
                } else {
                    dt.year() as i64
                };
                if n == 2 {
                    pad(&mut out, y.rem_euclid(100), 2);
                } else {
                    pad(&mut out, y, n);
                }
            }
            'M' | 'L' => {
                let m = dt.month() as usize;
                match n {
                    1 | 2 => pad(&mut out, m as i64, n),
                    3 => out.push_str(&MONTHS[m - 1][..3]),
                    _ => out.push_str(MONTHS[m - 1]),
                }
            }
            'd' => pad(&mut out, dt.day() as i64, n),
            'D' => pad(&mut out, dt.ordinal() as i64, n),
            'F' => pad(&mut out, ((dt.day() - 1) / 7 + 1) as i64, n),
            'w' => pad(&mut out, dt.iso_week().week() as i64, n),
            'W' => {
                let first = dt
                    .with_day(1)
                    .map(|d| d.weekday().num_days_from_sunday())
                    .unwrap_or(0);
                pad(&mut out, ((dt.day() + first - 1) / 7 + 1) as i64, n)
            }
            'E' => {
                let d = dt.weekday().num_days_from_monday() as usize;
                if n >= 4 {
                    out.push_str(DAYS[d]);
                } else {
                    out.push_str(&DAYS[d][..3]);
                }
            }
            'a' => out.push_str(if dt.hour() < 12 { "AM" } else { "PM" }),
            'H' => pad(&mut out, dt.hour() as i64, n),
            'k' => pad(
                &mut out,
                if dt.hour() == 0 { 24 } else { dt.hour() as i64 },
                n,
            ),
            'K' => pad(&mut out, (dt.hour() % 12) as i64, n),
            'h' => {
                let h = dt.hour() % 12;
                pad(&mut out, if h == 0 { 12 } else { h as i64 }, n)
            }
            'm' => pad(&mut out, dt.minute() as i64, n),
            's' => pad(&mut out, dt.second() as i64, n),
            'S' => pad(&mut out, (dt.nanosecond() / 1_000_000) as i64 % 1000, n),
            'z' => out.push_str(if n >= 4 {
                "Coordinated Universal Time"
            } else {
                "UTC"
            }),
            'Z' => out.push_str("+0000"),
            'X' => out.push('Z'),
            other => {
                for _ in 0..n {
                    out.push(other);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2023-11-14T22:13:20.001Z (a Tuesday)
    const T: i64 = 1_700_000_000_001;

    #[test]
    fn formats() {
        let cases = [
            ("yyyy-MM-dd'T'HH:mm:ss.SSSZ", "2023-11-14T22:13:20.001+0000"),
            ("yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "2023-11-14T22:13:20.001Z"),
            ("yy/M/d h:mm a", "23/11/14 10:13 PM"),
            (
                "EEE, dd MMM yyyy HH:mm:ss z",
                "Tue, 14 Nov 2023 22:13:20 UTC",
            ),
            ("EEEE MMMM", "Tuesday November"),
            ("'It''s' D", "It's 318"),
            ("yyyyMMddHHmmssSSS", "20231114221320001"),
            (DEFAULT_PATTERN, "11/14/23 10:13 PM"),
            ("k K", "22 10"),
        ];
        for (p, want) in cases {
            assert_eq!(format_simple_date(p, T), want, "{p}");
        }
        assert!(check_pattern("yyyy-MM-dd").is_ok());
        assert!(check_pattern("yyyy-qq").is_err());
    }
}
