//! Decimal arithmetic on the decimal text of doubles, as Java's `BigDecimal` does it for Synapse
//! Expressions (`8.95 + 8.99` is `17.94`, not `17.939999999999998`). A value is
//! `mantissa × 10^-scale` in an `i128`; an operation that would overflow it answers `None` and the
//! caller falls back to binary floating point.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dec {
    m: i128,
    scale: i32,
}

const MAX_SCALE: i32 = 400;

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

impl Dec {
    /// Parse decimal text as Java prints numbers (`-12.5`, `1.0E10`, `3`, `2.5E-7`).
    pub fn parse(s: &str) -> Option<Dec> {
        let (mant, exp) = match s.find(['E', 'e']) {
            Some(i) => (&s[..i], s[i + 1..].parse::<i32>().ok()?),
            None => (s, 0),
        };
        let (neg, digits) = match mant.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, mant.strip_prefix('+').unwrap_or(mant)),
        };
        let (int, frac) = match digits.find('.') {
            Some(i) => (&digits[..i], &digits[i + 1..]),
            None => (digits, ""),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut m: i128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            m = m.checked_mul(10)?.checked_add((b - b'0') as i128)?;
        }
        let scale = frac.len() as i32 - exp;
        if scale.abs() > MAX_SCALE {
            return None;
        }
        Some(Dec {
            m: if neg { -m } else { m },
            scale,
        })
    }

    /// Both at the larger scale.
    fn align(a: Dec, b: Dec) -> Option<(i128, i128, i32)> {
        let s = a.scale.max(b.scale);
        let am = a.m.checked_mul(pow10((s - a.scale) as u32)?)?;
        let bm = b.m.checked_mul(pow10((s - b.scale) as u32)?)?;
        Some((am, bm, s))
    }

    pub fn add(self, o: Dec) -> Option<Dec> {
        let (a, b, s) = Dec::align(self, o)?;
        Some(Dec {
            m: a.checked_add(b)?,
            scale: s,
        })
    }

    pub fn sub(self, o: Dec) -> Option<Dec> {
        let (a, b, s) = Dec::align(self, o)?;
        Some(Dec {
            m: a.checked_sub(b)?,
            scale: s,
        })
    }

    pub fn mul(self, o: Dec) -> Option<Dec> {
        let scale = self.scale.checked_add(o.scale)?;
        if scale.abs() > MAX_SCALE {
            return None;
        }
        Some(Dec {
            m: self.m.checked_mul(o.m)?,
            scale,
        })
    }

    /// `this.divide(o, HALF_UP)`: the quotient at this value's scale, ties away from zero.
    /// `None` for a zero divisor or an overflow.
    pub fn div_half_up(self, o: Dec) -> Option<Dec> {
        if o.m == 0 {
            return None;
        }
        // q = m1 * 10^s2 / m2 (at scale s1)
        let (n, d) = if o.scale >= 0 {
            (self.m.checked_mul(pow10(o.scale as u32)?)?, o.m)
        } else {
            (self.m, o.m.checked_mul(pow10((-o.scale) as u32)?)?)
        };
        let q = n / d;
        let r = n % d;
        let q = if r != 0 && r.unsigned_abs() * 2 >= d.unsigned_abs() {
            if (n < 0) != (d < 0) {
                q - 1
            } else {
                q + 1
            }
        } else {
            q
        };
        Some(Dec {
            m: q,
            scale: self.scale,
        })
    }

    /// `this.remainder(o)` (sign of the dividend).
    pub fn rem(self, o: Dec) -> Option<Dec> {
        let (a, b, s) = Dec::align(self, o)?;
        if b == 0 {
            return None;
        }
        Some(Dec { m: a % b, scale: s })
    }

    /// `setScale(n, HALF_UP)`
    pub fn round_half_up(self, n: i32) -> Option<Dec> {
        if n >= self.scale {
            let m = self.m.checked_mul(pow10((n - self.scale) as u32)?)?;
            return Some(Dec { m, scale: n });
        }
        let d = pow10((self.scale - n) as u32)?;
        let q = self.m / d;
        let r = self.m % d;
        let q = if r.unsigned_abs() * 2 >= d.unsigned_abs() {
            if self.m < 0 {
                q - 1
            } else {
                q + 1
            }
        } else {
            q
        };
        Some(Dec { m: q, scale: n })
    }

    /// The nearest double (`BigDecimal.doubleValue`).
    pub fn to_f64(self) -> f64 {
        format!("{}e{}", self.m, -self.scale)
            .parse::<f64>()
            .unwrap_or(f64::NAN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Dec {
        Dec::parse(s).unwrap()
    }

    #[test]
    fn java_bigdecimal_results() {
        assert_eq!(d("8.95").add(d("8.99")).unwrap().to_f64(), 17.94);
        assert_eq!(d("8.9567").sub(d("8.9456")).unwrap().to_f64(), 0.0111);
        assert_eq!(d("72.0").mul(d("1.032145")).unwrap().to_f64(), 74.31444);
        assert_eq!(d("34.45").div_half_up(d("3.44")).unwrap().to_f64(), 10.01);
        assert_eq!(d("34.56").rem(d("3.45")).unwrap().to_f64(), 0.06);
        assert_eq!(d("1.0E10").div_half_up(d("10.0")).unwrap().to_f64(), 1.0e9);
        assert_eq!(d("0.115").round_half_up(2).unwrap().to_f64(), 0.12);
        assert_eq!(d("-2.5").round_half_up(0).unwrap().to_f64(), -3.0);
        assert!(d("1").div_half_up(d("0")).is_none());
        assert!(Dec::parse("NaN").is_none());
        assert!(Dec::parse("1e999").is_none());
    }
}
