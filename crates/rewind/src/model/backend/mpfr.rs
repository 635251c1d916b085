//! The MPFR backend: `rug` floats at a fixed working precision, correctly rounded.

use super::{Backend, BackendError, ErasedBackend, ErasedReals, OwnedReals, Real};
use crate::grid::{Dyadic, GridError};
use rug::float::{Constant, Round};
use rug::Float;

/// MPFR arithmetic at `precision` bits (default 128). Every operation is correctly rounded,
/// so results are identical on every platform.
#[derive(Debug, Clone, Copy)]
pub struct Mpfr {
    precision: u32,
}

impl Mpfr {
    /// The smallest precision that still holds every raw `i64` grid value exactly.
    pub const MIN_PRECISION: u32 = 64;
    /// The working precision in bits when `--mpfr-precision` is not given.
    pub const DEFAULT_PRECISION: u32 = 128;

    /// A backend at `precision` bits; precisions below [`Self::MIN_PRECISION`] are raised to it
    /// so that grid values stay exact (never a panic).
    pub fn new(precision: u32) -> Self {
        Mpfr {
            precision: precision.max(Self::MIN_PRECISION),
        }
    }

    /// The working precision in bits; the unit roundoff is 2^-precision (docs/design.md §2.4).
    pub fn precision(&self) -> u32 {
        self.precision
    }
}

/// An MPFR float; the result of an operation has the precision of its left operand.
#[derive(Debug, Clone, PartialEq)]
pub struct MpFloat(pub Float);

impl MpFloat {
    fn prec(&self) -> u32 {
        self.0.prec()
    }
}

impl Real for MpFloat {
    fn add(&self, o: &Self) -> Self {
        MpFloat(Float::with_val(self.prec(), &self.0 + &o.0))
    }
    fn sub(&self, o: &Self) -> Self {
        MpFloat(Float::with_val(self.prec(), &self.0 - &o.0))
    }
    fn mul(&self, o: &Self) -> Self {
        MpFloat(Float::with_val(self.prec(), &self.0 * &o.0))
    }
    fn div(&self, o: &Self) -> Self {
        MpFloat(Float::with_val(self.prec(), &self.0 / &o.0))
    }
    fn neg(&self) -> Self {
        MpFloat(Float::with_val(self.prec(), -&self.0))
    }
    fn div_int(&self, n: u64) -> Self {
        MpFloat(Float::with_val(self.prec(), &self.0 / n))
    }
    fn exp(&self) -> Result<Self, BackendError> {
        Ok(MpFloat(Float::with_val(self.prec(), self.0.exp_ref())))
    }
    fn tanh(&self) -> Result<Self, BackendError> {
        Ok(MpFloat(Float::with_val(self.prec(), self.0.tanh_ref())))
    }
    fn erf(&self) -> Result<Self, BackendError> {
        Ok(MpFloat(Float::with_val(self.prec(), self.0.erf_ref())))
    }
    fn sqrt(&self) -> Result<Self, BackendError> {
        Ok(MpFloat(Float::with_val(self.prec(), self.0.sqrt_ref())))
    }
    fn is_positive(&self) -> bool {
        self.0.is_sign_positive() && !self.0.is_zero() && !self.0.is_nan()
    }
    fn gt(&self, o: &Self) -> bool {
        self.0 > o.0
    }
    fn to_f64(&self) -> f64 {
        self.0.to_f64()
    }
}

impl Backend for Mpfr {
    type R = MpFloat;

    fn name(&self) -> &'static str {
        "mpfr"
    }

    fn raw(&self, raw: i64, frac_bits: u32) -> MpFloat {
        // precision ≥ 64 holds any i64 exactly, and the shift only moves the exponent.
        MpFloat(Float::with_val(self.precision, raw) >> frac_bits)
    }

    fn int(&self, v: i64) -> MpFloat {
        MpFloat(Float::with_val(self.precision, v))
    }

    fn pi(&self) -> Result<MpFloat, BackendError> {
        Ok(MpFloat(Float::with_val(self.precision, Constant::Pi)))
    }

    fn round_step_residual(
        &self,
        v: &MpFloat,
        alpha: Dyadic,
        frac_bits: u32,
    ) -> Result<(i64, f64), GridError> {
        if !v.0.is_finite() {
            return Err(GridError::NotFinite {
                what: "a gradient coordinate",
            });
        }
        let scaled = Float::with_val(v.prec(), &v.0 * alpha.num());
        let scaled = if frac_bits >= alpha.shift() {
            scaled << (frac_bits - alpha.shift())
        } else {
            scaled >> (alpha.shift() - frac_bits)
        };
        // Round::Nearest is MPFR's round-to-nearest, ties to even.
        let (int, _) = scaled
            .to_integer_round(Round::Nearest)
            .ok_or(GridError::NotFinite {
                what: "a step increment",
            })?;
        let residual = Float::with_val(v.prec(), &scaled - &int).to_f64();
        let s = int.to_i64().ok_or_else(|| GridError::Overflow {
            what: "a step increment",
            approx: format!("{:.3e}", scaled.to_f64()),
        })?;
        Ok((s, residual))
    }

    fn unit_roundoff(&self) -> f64 {
        libm::ldexp(1.0, -(self.precision as i32))
    }

    fn erase<'a>(&'a self, w: &'a [MpFloat]) -> ErasedReals<'a> {
        ErasedReals::Mpfr(self, w)
    }

    fn erase_backend(&self) -> ErasedBackend<'_> {
        ErasedBackend::Mpfr(self)
    }

    fn unerase(v: OwnedReals) -> Option<Vec<MpFloat>> {
        match v {
            OwnedReals::Mpfr(v) => Some(v),
            _ => None,
        }
    }
}
