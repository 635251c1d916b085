//! The f64 backend: IEEE double, fixed evaluation order, pure-Rust `libm` functions.

use super::{Backend, BackendError, ErasedBackend, ErasedReals, OwnedReals, Real};
use crate::grid::{round_half_even_f64, Dyadic, GridError};

/// IEEE-754 double arithmetic. Fast, and reproducible on IEEE-754 hosts because every
/// transcendental function comes from `libm` (a pure-Rust port), not from the platform.
#[derive(Debug, Clone, Copy, Default)]
pub struct F64;

impl Real for f64 {
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
        self / n as f64
    }
    fn exp(&self) -> Result<Self, BackendError> {
        Ok(libm::exp(*self))
    }
    fn tanh(&self) -> Result<Self, BackendError> {
        Ok(libm::tanh(*self))
    }
    fn erf(&self) -> Result<Self, BackendError> {
        Ok(libm::erf(*self))
    }
    fn sqrt(&self) -> Result<Self, BackendError> {
        Ok(libm::sqrt(*self))
    }
    fn is_positive(&self) -> bool {
        *self > 0.0
    }
    fn gt(&self, o: &Self) -> bool {
        self > o
    }
    fn to_f64(&self) -> f64 {
        *self
    }
}

impl Backend for F64 {
    type R = f64;

    fn name(&self) -> &'static str {
        "f64"
    }

    fn raw(&self, raw: i64, frac_bits: u32) -> f64 {
        // Exact when |raw| < 2^53; beyond that the conversion rounds, which is part of the
        // f64 backend's documented evaluation error. Scaling by 2^-p (p ≤ 1022, the result
        // normal) is exact, as ldexp's is, and costs one multiplication.
        if frac_bits <= 1022 {
            raw as f64 * f64::from_bits(u64::from(1023 - frac_bits) << 52)
        } else {
            libm::ldexp(raw as f64, -(frac_bits as i32))
        }
    }

    fn int(&self, v: i64) -> f64 {
        v as f64
    }

    fn pi(&self) -> Result<f64, BackendError> {
        Ok(std::f64::consts::PI)
    }

    fn round_step_residual(
        &self,
        v: &f64,
        alpha: Dyadic,
        frac_bits: u32,
    ) -> Result<(i64, f64), GridError> {
        let scaled = libm::ldexp(
            v * alpha.num() as f64,
            frac_bits as i32 - alpha.shift() as i32,
        );
        let s = round_half_even_f64(scaled, "a step increment")?;
        Ok((s, scaled - s as f64))
    }

    fn unit_roundoff(&self) -> f64 {
        f64::EPSILON / 2.0
    }

    fn erase<'a>(&'a self, w: &'a [f64]) -> ErasedReals<'a> {
        ErasedReals::F64(self, w)
    }

    fn erase_backend(&self) -> ErasedBackend<'_> {
        ErasedBackend::F64(self)
    }

    fn unerase(v: OwnedReals) -> Option<Vec<f64>> {
        match v {
            OwnedReals::F64(v) => Some(v),
            _ => None,
        }
    }
}
