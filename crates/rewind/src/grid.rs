//! The fixed-point grid 𝔽 = 2^-p·ℤ on which every model lives, and the dyadic step size α.
//!
//! A weight is an `i64` raw integer `k` meaning `k·2^-p` (docs/design.md §2.1).
//! This module owns the only rounding rule of the project, round-half-to-even, and every
//! checked conversion onto the grid: a value that does not fit in `i64` is a [`GridError`],
//! never a wrap. It implements the paper's finite-precision setting 𝔽 ⊂ ℝ (Section 2, before
//! Theorem 2.2).

use num_bigint::{BigInt, Sign};
use num_integer::Integer;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};
use std::fmt;
use std::str::FromStr;

/// Smallest accepted number of fractional bits.
pub const MIN_FRAC_BITS: u32 = 1;
/// Largest accepted number of fractional bits: one unit (2^p) must still leave room in `i64`
/// for weights of a few units.
pub const MAX_FRAC_BITS: u32 = 56;

/// Errors of grid arithmetic and of parsing step sizes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GridError {
    /// p outside [`MIN_FRAC_BITS`]..=[`MAX_FRAC_BITS`] (docs/design.md §2.1).
    #[error(
        "--frac-bits {got} is out of range: use a value from {MIN_FRAC_BITS} to {MAX_FRAC_BITS}"
    )]
    FracBitsOutOfRange {
        /// The p that was asked for.
        got: u32,
    },
    /// A value left the `i64` range of raw integers; never a wrap (docs/design.md §2.1).
    #[error("{what} overflows the grid's i64 range (value ≈ {approx}); lower --frac-bits or the step size")]
    Overflow {
        /// What was being computed, e.g. "a step increment".
        what: &'static str,
        /// The value that did not fit, approximately (for the message only).
        approx: String,
    },
    /// A NaN or an infinity was about to be put on the grid.
    #[error("{what} is not a finite number; the gradient or the data produced NaN or infinity")]
    NotFinite {
        /// What was being computed.
        what: &'static str,
    },
    /// A step size that is not a positive dyadic rational m·2^-k (docs/design.md §2.3).
    #[error("step size '{input}' is not a positive dyadic rational: {why} (write it as m/2^k, e.g. 1/1024 or 0.0009765625)")]
    BadStepSize {
        /// The step size as written.
        input: String,
        /// Why it was refused.
        why: String,
    },
}

/// The grid 2^-p·ℤ with `p = frac_bits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Grid {
    frac_bits: u32,
}

impl Grid {
    /// A grid with `frac_bits` fractional bits, checked against the supported range.
    pub fn new(frac_bits: u32) -> Result<Self, GridError> {
        if !(MIN_FRAC_BITS..=MAX_FRAC_BITS).contains(&frac_bits) {
            return Err(GridError::FracBitsOutOfRange { got: frac_bits });
        }
        Ok(Grid { frac_bits })
    }

    /// p, the number of fractional bits: one ulp is 2^-p.
    pub fn frac_bits(&self) -> u32 {
        self.frac_bits
    }

    /// The raw integer of 1.0, i.e. 2^p.
    pub fn one(&self) -> i64 {
        1i64 << self.frac_bits
    }

    /// The grid point nearest to `v` (ties to even), checked.
    pub fn quantize_f64(&self, v: f64) -> Result<i64, GridError> {
        round_half_even_f64(v * (self.one() as f64), "a quantised value")
    }

    /// The real number a raw integer stands for, rounded to f64 (for display only).
    pub fn to_f64(&self, raw: i64) -> f64 {
        raw as f64 / self.one() as f64
    }
}

/// Rounds `v` to the nearest integer, ties to even, and checks that it fits in `i64`.
pub fn round_half_even_f64(v: f64, what: &'static str) -> Result<i64, GridError> {
    if !v.is_finite() {
        return Err(GridError::NotFinite { what });
    }
    let r = v.round_ties_even();
    // 2^63 is exactly representable; every f64 strictly below it in magnitude fits in i64.
    if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&r) {
        return Err(GridError::Overflow {
            what,
            approx: format!("{v:.3e}"),
        });
    }
    Ok(r as i64)
}

/// Rounds `num/den` to the nearest integer, ties to even. `den` must be non-zero.
pub fn round_half_even_ratio(num: &BigInt, den: &BigInt) -> BigInt {
    let (num, den) = if den.is_negative() {
        (-num, -den)
    } else {
        (num.clone(), den.clone())
    };
    let (q, r) = num.div_mod_floor(&den);
    let twice = &r * 2u32;
    match twice.cmp(&den) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1u32,
        std::cmp::Ordering::Equal => {
            if q.is_even() {
                q
            } else {
                q + 1u32
            }
        }
    }
}

/// Converts a big integer to `i64`, or reports an overflow of `what`.
pub fn bigint_to_i64(v: &BigInt, what: &'static str) -> Result<i64, GridError> {
    v.to_i64().ok_or_else(|| GridError::Overflow {
        what,
        approx: approx_bigint(v),
    })
}

fn approx_bigint(v: &BigInt) -> String {
    let bits = v.bits();
    let sign = if v.sign() == Sign::Minus { "-" } else { "" };
    format!("{sign}2^{bits}")
}

/// `w - s`, coordinate by coordinate, with every subtraction checked.
pub fn checked_sub(w: &[i64], s: &[i64], what: &'static str) -> Result<Vec<i64>, GridError> {
    w.iter()
        .zip(s)
        .map(|(&a, &b)| {
            a.checked_sub(b).ok_or_else(|| GridError::Overflow {
                what,
                approx: format!("{:.3e}", a as f64 - b as f64),
            })
        })
        .collect()
}

/// `w + s`, coordinate by coordinate, with every addition checked.
pub fn checked_add(w: &[i64], s: &[i64], what: &'static str) -> Result<Vec<i64>, GridError> {
    w.iter()
        .zip(s)
        .map(|(&a, &b)| {
            a.checked_add(b).ok_or_else(|| GridError::Overflow {
                what,
                approx: format!("{:.3e}", a as f64 + b as f64),
            })
        })
        .collect()
}

/// A positive dyadic rational `num·2^-shift`, kept reduced (`num` odd unless `shift` is 0).
///
/// The step size is dyadic so that α·ĝ·2^p is exact before the final rounding in the exact
/// backend (docs/design.md §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Dyadic {
    num: u64,
    shift: u32,
}

impl Dyadic {
    /// `num·2^-shift`, reduced. `num` must be positive.
    pub fn new(num: u64, shift: u32) -> Result<Self, GridError> {
        if num == 0 {
            return Err(GridError::BadStepSize {
                input: format!("{num}/2^{shift}"),
                why: "it is zero".into(),
            });
        }
        let tz = num.trailing_zeros().min(shift);
        Ok(Dyadic {
            num: num >> tz,
            shift: shift - tz,
        })
    }

    /// The numerator m of α = m·2^-k (odd unless k = 0).
    pub fn num(&self) -> u64 {
        self.num
    }

    /// The exponent k of α = m·2^-k.
    pub fn shift(&self) -> u32 {
        self.shift
    }

    /// The denominator 2^shift as a big integer.
    pub fn den_big(&self) -> BigInt {
        BigInt::one() << self.shift
    }

    /// The exact value as a rational.
    pub fn to_rational(&self) -> BigRational {
        BigRational::new(BigInt::from(self.num), self.den_big())
    }

    /// The value m·2^-k rounded to f64 (exact when m < 2^53), for display and f64 estimates.
    pub fn to_f64(&self) -> f64 {
        self.num as f64 * (-(self.shift as f64)).exp2()
    }

    /// The largest `m·2^-k` with `m < 2^16` (16 significant bits) not above `bound`.
    /// Returns `None` when `bound` is not positive or is below 2^-200.
    pub fn largest_at_most(bound: &BigRational) -> Option<Self> {
        if !bound.is_positive() {
            return None;
        }
        for shift in 0..=200u32 {
            let scaled = bound * BigRational::from_integer(BigInt::one() << shift);
            let m = scaled.floor().to_integer();
            if m >= BigInt::from(1u32 << 15) {
                let m = m.min(BigInt::from((1u32 << 16) - 1)).to_u64()?;
                return Dyadic::new(m, shift).ok();
            }
        }
        None
    }
}

impl fmt::Display for Dyadic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.shift == 0 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/2^{}", self.num, self.shift)
        }
    }
}

impl FromStr for Dyadic {
    type Err = GridError;

    /// Accepts `m/2^k`, `m/D` (D a power of two), a decimal such as `0.0625`, or an integer.
    fn from_str(input: &str) -> Result<Self, GridError> {
        let bad = |why: &str| GridError::BadStepSize {
            input: input.to_string(),
            why: why.to_string(),
        };
        let value = parse_rational(input.trim())
            .ok_or_else(|| bad("it is not a number, or its exponent exceeds 4096"))?;
        if !value.is_positive() {
            return Err(bad("it must be positive"));
        }
        let den = value.denom();
        if den.magnitude().count_ones() != 1 {
            return Err(bad(&format!(
                "its denominator is not a power of two; the nearest dyadic with a 16-bit numerator is {}",
                nearest_16_bit(&value).map_or("out of range".into(), |d| format!("{d} = {:.6e}", d.to_f64()))
            )));
        }
        let shift = den.trailing_zeros().unwrap_or(0);
        let shift = u32::try_from(shift).map_err(|_| bad("its denominator is too large"))?;
        let num = value
            .numer()
            .to_u64()
            .ok_or_else(|| bad("its numerator does not fit in 64 bits"))?;
        Dyadic::new(num, shift)
    }
}

/// The dyadic m/2^k nearest to `value` with m of 16 bits (2^15 ≤ m < 2^16), the resolution at
/// which `--q` picks α; `None` outside the range of a 64-bit exponent.
fn nearest_16_bit(value: &BigRational) -> Option<Dyadic> {
    let v = value.to_f64().filter(|v| v.is_finite() && *v > 0.0)?;
    let k = 15 - v.log2().floor() as i64;
    let shift = u32::try_from(k).ok()?;
    let m = (v * 2f64.powi(i32::try_from(k).ok()?)).round();
    Dyadic::new(m as u64, shift).ok()
}

/// Parses `a/b`, `a/2^k` or a decimal number exactly.
pub fn parse_rational(s: &str) -> Option<BigRational> {
    if let Some((a, b)) = s.split_once('/') {
        let num = BigInt::from_str(a.trim()).ok()?;
        let b = b.trim();
        let den = if let Some(exp) = b.strip_prefix("2^") {
            BigInt::one() << exp.parse::<u32>().ok().filter(|&e| e <= 4096)?
        } else {
            BigInt::from_str(b).ok()?
        };
        if den.is_zero() {
            return None;
        }
        return Some(BigRational::new(num, den));
    }
    parse_decimal(s)
}

fn parse_decimal(s: &str) -> Option<BigRational> {
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let negative = int_part.starts_with('-');
    let int_digits = int_part.trim_start_matches(['-', '+']);
    if int_digits.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_digits.bytes().all(|c| c.is_ascii_digit())
        || !frac_part.bytes().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let digits = format!("{int_digits}{frac_part}");
    let mut num = BigInt::from_str(if digits.is_empty() { "0" } else { &digits }).ok()?;
    if negative {
        num = -num;
    }
    let scale = exp.checked_sub(i32::try_from(frac_part.len()).ok()?)?;
    if scale.unsigned_abs() > 4096 {
        return None;
    }
    let ten = BigInt::from(10u32);
    Some(if scale >= 0 {
        BigRational::from_integer(num * num_traits::pow(ten, scale as usize))
    } else {
        BigRational::new(num, num_traits::pow(ten, (-scale) as usize))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(n: i64, d: i64) -> BigInt {
        round_half_even_ratio(&BigInt::from(n), &BigInt::from(d))
    }

    #[test]
    fn ratio_rounding_ties_go_to_even_on_both_signs() {
        assert_eq!(r(5, 2), BigInt::from(2));
        assert_eq!(r(7, 2), BigInt::from(4));
        assert_eq!(r(-5, 2), BigInt::from(-2));
        assert_eq!(r(-7, 2), BigInt::from(-4));
        assert_eq!(r(1, 2), BigInt::from(0));
        assert_eq!(r(-1, 2), BigInt::from(0));
        assert_eq!(r(3, 2), BigInt::from(2));
    }

    #[test]
    fn ratio_rounding_off_ties_goes_to_nearest() {
        assert_eq!(r(7, 3), BigInt::from(2));
        assert_eq!(r(8, 3), BigInt::from(3));
        assert_eq!(r(-7, 3), BigInt::from(-2));
        assert_eq!(r(-8, 3), BigInt::from(-3));
        assert_eq!(r(5, -2), BigInt::from(-2));
        assert_eq!(r(0, 5), BigInt::from(0));
    }

    #[test]
    fn f64_rounding_matches_ratio_rounding() {
        for k in -40i64..=40 {
            let v = k as f64 / 4.0;
            assert_eq!(
                BigInt::from(round_half_even_f64(v, "t").unwrap()),
                r(k, 4),
                "k={k}"
            );
        }
    }

    #[test]
    fn f64_rounding_rejects_overflow_and_nan() {
        assert!(matches!(
            round_half_even_f64(9.3e18, "t"),
            Err(GridError::Overflow { .. })
        ));
        assert!(matches!(
            round_half_even_f64(-9.3e18, "t"),
            Err(GridError::Overflow { .. })
        ));
        assert_eq!(
            round_half_even_f64(-9_223_372_036_854_775_808.0, "t").unwrap(),
            i64::MIN
        );
        assert!(round_half_even_f64(9_223_372_036_854_775_808.0, "t").is_err());
        assert_eq!(
            round_half_even_f64(-9.2e18, "t").unwrap(),
            -9_200_000_000_000_000_000
        );
        assert!(matches!(
            round_half_even_f64(f64::NAN, "t"),
            Err(GridError::NotFinite { .. })
        ));
        assert!(matches!(
            round_half_even_f64(f64::INFINITY, "t"),
            Err(GridError::NotFinite { .. })
        ));
    }

    #[test]
    fn bigint_conversion_is_checked_at_the_boundaries() {
        assert_eq!(
            bigint_to_i64(&BigInt::from(i64::MAX), "t").unwrap(),
            i64::MAX
        );
        assert_eq!(
            bigint_to_i64(&BigInt::from(i64::MIN), "t").unwrap(),
            i64::MIN
        );
        assert!(bigint_to_i64(&(BigInt::from(i64::MAX) + 1), "t").is_err());
        assert!(bigint_to_i64(&(BigInt::from(i64::MIN) - 1), "t").is_err());
    }

    #[test]
    fn checked_vector_arithmetic_refuses_to_wrap() {
        assert_eq!(checked_sub(&[5, -3], &[7, -3], "t").unwrap(), vec![-2, 0]);
        assert!(checked_sub(&[i64::MIN], &[1], "t").is_err());
        assert!(checked_add(&[i64::MAX], &[1], "t").is_err());
        assert_eq!(
            checked_add(&[i64::MAX - 1], &[1], "t").unwrap(),
            vec![i64::MAX]
        );
    }

    #[test]
    fn grid_range_is_enforced_and_quantisation_rounds_half_even() {
        assert!(Grid::new(0).is_err());
        assert!(Grid::new(MAX_FRAC_BITS + 1).is_err());
        let g = Grid::new(2).unwrap();
        assert_eq!(g.one(), 4);
        assert_eq!(g.quantize_f64(0.125).unwrap(), 0); // 0.5 ulp → even 0
        assert_eq!(g.quantize_f64(0.375).unwrap(), 2); // 1.5 ulp → even 2
        assert_eq!(g.quantize_f64(-0.375).unwrap(), -2);
        assert_eq!(g.quantize_f64(-0.625).unwrap(), -2); // -2.5 → -2
        assert_eq!(g.to_f64(-6), -1.5);
        let wide = Grid::new(MAX_FRAC_BITS).unwrap();
        assert!(wide.quantize_f64(1000.0).is_err());
    }

    #[test]
    fn a_step_size_off_the_dyadic_set_suggests_the_nearest() {
        let msg = "0.01".parse::<Dyadic>().unwrap_err().to_string();
        assert!(msg.contains("41943/2^22"), "{msg}");
        let d = nearest_16_bit(&parse_rational("1/3").unwrap()).unwrap();
        assert_eq!((d.num(), d.shift()), (43691, 17));
    }

    #[test]
    fn dyadic_parsing_accepts_exact_forms_and_rejects_the_rest() {
        assert_eq!(
            "1/1024".parse::<Dyadic>().unwrap(),
            Dyadic::new(1, 10).unwrap()
        );
        assert_eq!(
            "3/2^5".parse::<Dyadic>().unwrap(),
            Dyadic::new(3, 5).unwrap()
        );
        assert_eq!(
            "0.0625".parse::<Dyadic>().unwrap(),
            Dyadic::new(1, 4).unwrap()
        );
        assert_eq!("2".parse::<Dyadic>().unwrap(), Dyadic::new(2, 0).unwrap());
        assert_eq!("4/8".parse::<Dyadic>().unwrap(), Dyadic::new(1, 1).unwrap());
        assert!("1e-1".parse::<Dyadic>().is_err());
        assert!("0.01".parse::<Dyadic>().is_err());
        assert!("1/3".parse::<Dyadic>().is_err());
        assert!("-1/2".parse::<Dyadic>().is_err());
        assert!("0".parse::<Dyadic>().is_err());
        assert!("abc".parse::<Dyadic>().is_err());
        assert!("1/0".parse::<Dyadic>().is_err());
        assert_eq!(Dyadic::new(12, 4).unwrap().to_string(), "3/2^2");
    }

    #[test]
    fn largest_dyadic_below_a_bound_has_sixteen_bits() {
        let bound = BigRational::new(BigInt::from(1), BigInt::from(10));
        let a = Dyadic::largest_at_most(&bound).unwrap();
        assert!(a.to_rational() <= bound);
        let next = BigRational::new(BigInt::from(a.num() + 1), a.den_big());
        assert!(next > bound, "{a} is not the largest");
        assert!(a.num() < 1 << 16);
        let exact = BigRational::new(BigInt::from(1), BigInt::from(8));
        assert_eq!(
            Dyadic::largest_at_most(&exact).unwrap(),
            Dyadic::new(1, 3).unwrap()
        );
    }
}
