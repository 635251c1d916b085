//! The exact backend: big rationals, no rounding before the step's round-half-even.

use super::{Backend, BackendError, ErasedBackend, ErasedReals, OwnedReals, Real};
use crate::grid::{bigint_to_i64, round_half_even_ratio, Dyadic, GridError};
use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};

/// Exact rational arithmetic for polynomial gradients.
#[derive(Debug, Clone, Copy, Default)]
pub struct Exact;

impl Real for BigRational {
    fn add(&self, o: &Self) -> Self {
        self + o
    }
    fn sub(&self, o: &Self) -> Self {
        self - o
    }
    fn mul(&self, o: &Self) -> Self {
        self * o
    }
    fn div(&self, o: &Self) -> Self {
        self / o
    }
    fn neg(&self) -> Self {
        -self
    }
    fn div_int(&self, n: u64) -> Self {
        self / BigRational::from_integer(BigInt::from(n))
    }
    fn exp(&self) -> Result<Self, BackendError> {
        Err(BackendError::NotPolynomial { function: "exp" })
    }
    fn tanh(&self) -> Result<Self, BackendError> {
        Err(BackendError::NotPolynomial { function: "tanh" })
    }
    fn erf(&self) -> Result<Self, BackendError> {
        Err(BackendError::NotPolynomial { function: "erf" })
    }
    fn sqrt(&self) -> Result<Self, BackendError> {
        Err(BackendError::NotPolynomial { function: "sqrt" })
    }
    fn is_positive(&self) -> bool {
        Signed::is_positive(self)
    }
    fn gt(&self, o: &Self) -> bool {
        self > o
    }
    fn to_f64(&self) -> f64 {
        ToPrimitive::to_f64(self).unwrap_or(f64::NAN)
    }
}

impl Backend for Exact {
    type R = BigRational;

    fn name(&self) -> &'static str {
        "exact"
    }

    fn raw(&self, raw: i64, frac_bits: u32) -> BigRational {
        BigRational::new(BigInt::from(raw), BigInt::one() << frac_bits)
    }

    fn int(&self, v: i64) -> BigRational {
        BigRational::from_integer(BigInt::from(v))
    }

    fn pi(&self) -> Result<BigRational, BackendError> {
        Err(BackendError::NotPolynomial { function: "pi" })
    }

    fn round_step_residual(
        &self,
        v: &BigRational,
        alpha: Dyadic,
        frac_bits: u32,
    ) -> Result<(i64, f64), GridError> {
        // v·α·2^p = v.num·α.num·2^p / (v.den·2^α.shift): one exact integer division.
        let num = (v.numer() * BigInt::from(alpha.num())) << frac_bits;
        let den = v.denom() << alpha.shift();
        if num.is_zero() {
            return Ok((0, 0.0));
        }
        let s = round_half_even_ratio(&num, &den);
        let residual = BigRational::new(&num - &s * &den, den);
        Ok((
            bigint_to_i64(&s, "a step increment")?,
            ToPrimitive::to_f64(&residual).unwrap_or(0.0),
        ))
    }

    fn unit_roundoff(&self) -> f64 {
        0.0
    }

    fn erase<'a>(&'a self, w: &'a [BigRational]) -> ErasedReals<'a> {
        ErasedReals::Exact(self, w)
    }

    fn erase_backend(&self) -> ErasedBackend<'_> {
        ErasedBackend::Exact(self)
    }

    fn unerase(v: OwnedReals) -> Option<Vec<BigRational>> {
        match v {
            OwnedReals::Exact(v) => Some(v),
            _ => None,
        }
    }
}
