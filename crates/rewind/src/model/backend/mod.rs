//! Gradient backends: the three deterministic ways a model's gradient is evaluated.
//!
//! A [`Backend`] supplies a number type ([`Real`]) and the one conversion that matters,
//! [`Backend::round_step`]: `round_half_even(v · α · 2^p)`, the step increment of docs/design.md §2.2.
//! Models write their gradient once, generically, and each backend runs it:
//!
//! - [`Exact`]: rationals on big integers. Only polynomial gradients (least squares) can be
//!   evaluated; there is no rounding at all before the final round-half-even.
//! - `Mpfr` (cargo feature `mpfr`): MPFR through `rug` at a stated working precision, correctly rounded `exp`,
//!   `tanh`, `erf` — bit-identical on every platform.
//! - [`F64`]: IEEE double in a fixed evaluation order with the pure-Rust `libm` functions —
//!   never the platform's libm, never a parallel reduction inside one gradient.
//!
//! Determinism is the contract: the same inputs give the same bits, run after run.

mod exact;
mod float;
#[cfg(feature = "mpfr")]
mod mpfr;

pub use exact::Exact;
pub use float::F64;
#[cfg(feature = "mpfr")]
pub use mpfr::Mpfr;

use crate::grid::{Dyadic, GridError};
use num_rational::BigRational;

#[cfg(feature = "mpfr")]
use mpfr::MpFloat;

/// Errors a backend can raise while evaluating a gradient.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The exact backend was asked for a non-polynomial function (docs/design.md §2.4).
    #[error("the exact backend cannot evaluate {function} (only polynomial gradients, i.e. least squares, are exact); use --backend f64 (or mpfr)")]
    NotPolynomial {
        /// The function refused: `exp`, `tanh`, `erf`, `sqrt` or `pi`.
        function: &'static str,
    },
    /// The `mpfr` backend was chosen in a build without the cargo feature `mpfr`.
    #[error("this build of rewind has no MPFR backend; rebuild with `cargo build --release --features mpfr` (needs m4: apt-get install m4) or use --backend f64")]
    MpfrNotBuilt,
    /// A user's model (docs/design.md §2.5, `model::custom`) returned a vector of the wrong
    /// length, which would otherwise index out of range later.
    #[error("model {model}: {method} returned {got} values where {expected} were expected; fix the model's implementation")]
    ModelContract {
        /// The model's name, as it reports it.
        model: &'static str,
        /// The method whose result had the wrong length.
        method: &'static str,
        /// The length returned.
        got: usize,
        /// The length required (d parameters, or one entry per example asked about).
        expected: usize,
    },
    /// A model behind a trait object answered a gradient in another backend's numbers (only a
    /// hand-written [`crate::model::custom::DynModel`] can; one derived from `Model` cannot).
    #[error("model {model}: the gradient asked of the {backend} backend came back in another backend's numbers; implement Model and let rewind derive DynModel")]
    OtherBackend {
        /// The model's name, as it reports it.
        model: &'static str,
        /// The backend that asked.
        backend: &'static str,
    },
    /// A user's model refused the backend: it evaluates its gradient in some number types
    /// only (a model written in numpy knows only f64).
    #[error("model {model} evaluates its gradient in f64 only, not on the {backend} backend; use backend='f64'")]
    Unsupported {
        /// The model's name.
        model: String,
        /// The backend refused.
        backend: &'static str,
    },
    /// A user's model failed while evaluating (e.g. raised an exception); the message is its own.
    #[error("model {model}: {message}")]
    ModelFailed {
        /// The model's name.
        model: String,
        /// What went wrong, in the model's words.
        message: String,
    },
    /// A step increment or a grid value did not fit in `i64`, or was not finite.
    #[error(transparent)]
    Grid(#[from] GridError),
}

/// A backend with a vector of its numbers, the type erased: one variant per backend, so that a
/// model behind a trait object has one gradient method for all of them.
#[derive(Debug)]
pub enum ErasedReals<'a> {
    /// The exact backend and rationals.
    Exact(&'a Exact, &'a [BigRational]),
    /// The f64 backend and doubles.
    F64(&'a F64, &'a [f64]),
    /// The MPFR backend and its floats.
    #[cfg(feature = "mpfr")]
    Mpfr(&'a Mpfr, &'a [MpFloat]),
}

/// A backend, the type erased (what acc(W, x) needs: the weights are grid integers).
#[derive(Debug, Clone, Copy)]
pub enum ErasedBackend<'a> {
    /// The exact backend.
    Exact(&'a Exact),
    /// The f64 backend.
    F64(&'a F64),
    /// The MPFR backend.
    #[cfg(feature = "mpfr")]
    Mpfr(&'a Mpfr),
}

/// A vector of one backend's numbers, the type erased: what a model behind a trait object
/// returns as its gradient.
#[derive(Debug)]
pub enum OwnedReals {
    /// Rationals (the exact backend).
    Exact(Vec<BigRational>),
    /// Doubles (the f64 backend).
    F64(Vec<f64>),
    /// MPFR floats.
    #[cfg(feature = "mpfr")]
    Mpfr(Vec<MpFloat>),
}

/// A number type a model's gradient can be written in.
///
/// Methods rather than operators keep the bounds simple for the three very different types
/// (`f64`, MPFR floats, big rationals).
pub trait Real: Clone + Send + Sync + std::fmt::Debug {
    /// `self + o`, rounded as the backend rounds (exact for rationals, to nearest otherwise).
    fn add(&self, o: &Self) -> Self;
    /// `self − o`, rounded as the backend rounds.
    fn sub(&self, o: &Self) -> Self;
    /// `self · o`, rounded as the backend rounds.
    fn mul(&self, o: &Self) -> Self;
    /// `self / o`, rounded as the backend rounds; `o` must be non-zero.
    fn div(&self, o: &Self) -> Self;
    /// `−self`, always exact.
    fn neg(&self) -> Self;
    /// Division by a positive integer (the 1/|B| of a batch mean).
    fn div_int(&self, n: u64) -> Self;
    /// e^self; [`BackendError::NotPolynomial`] on the exact backend.
    fn exp(&self) -> Result<Self, BackendError>;
    /// tanh(self) (the tanh activation); [`BackendError::NotPolynomial`] on the exact backend.
    fn tanh(&self) -> Result<Self, BackendError>;
    /// The error function (GELU); [`BackendError::NotPolynomial`] on the exact backend.
    fn erf(&self) -> Result<Self, BackendError>;
    /// √self; [`BackendError::NotPolynomial`] on the exact backend.
    fn sqrt(&self) -> Result<Self, BackendError>;
    /// `self > 0`.
    fn is_positive(&self) -> bool;
    /// `self > o`.
    fn gt(&self, o: &Self) -> bool;
    /// The value rounded to f64, for display and estimates only.
    fn to_f64(&self) -> f64;
}

/// A deterministic evaluator: makes numbers and rounds a scaled gradient onto the grid.
pub trait Backend: Send + Sync {
    /// The backend's number type: `BigRational`, an MPFR float or `f64`.
    type R: Real;
    /// The name used on the command line and in reports.
    fn name(&self) -> &'static str;
    /// The grid value `raw·2^-frac_bits` (exact in every backend with at least 64 bits).
    fn raw(&self, raw: i64, frac_bits: u32) -> Self::R;
    /// A small integer constant.
    fn int(&self, v: i64) -> Self::R;
    /// π at the backend's precision (needed by GELU).
    fn pi(&self) -> Result<Self::R, BackendError>;
    /// `round_half_even(v · α · 2^frac_bits)`, checked to fit in `i64`.
    fn round_step(&self, v: &Self::R, alpha: Dyadic, frac_bits: u32) -> Result<i64, GridError> {
        self.round_step_residual(v, alpha, frac_bits)
            .map(|(s, _)| s)
    }
    /// The rounded step and the residual a − s ∈ [−½, ½] of a = v·α·2^p, as f64: how far the
    /// unrounded value sits from its rounding boundaries (what certification needs).
    fn round_step_residual(
        &self,
        v: &Self::R,
        alpha: Dyadic,
        frac_bits: u32,
    ) -> Result<(i64, f64), GridError>;
    /// The unit roundoff u of one arithmetic operation (0 for exact arithmetic), used by the
    /// models' evaluation-error bounds.
    fn unit_roundoff(&self) -> f64;
    /// This backend with a vector of its numbers, as a model behind a trait object receives
    /// them ([`crate::model::custom::DynModel`]).
    fn erase<'a>(&'a self, w: &'a [Self::R]) -> ErasedReals<'a>;
    /// This backend, for a model behind a trait object to evaluate acc(W, x) with.
    fn erase_backend(&self) -> ErasedBackend<'_>;
    /// The backend's own numbers back from a model behind a trait object; `None` if the model
    /// answered in another backend's numbers.
    fn unerase(v: OwnedReals) -> Option<Vec<Self::R>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_round_step<B: Backend>(be: &B) {
        let alpha = Dyadic::new(1, 2).unwrap(); // 1/4
                                                // v = 10 ulps at p = 3 scaled by α = 1/4 → 2.5 → 2 (ties to even)
        let v = be.raw(10, 3);
        assert_eq!(be.round_step(&v, alpha, 3).unwrap(), 2, "{}", be.name());
        let v = be.raw(-10, 3);
        assert_eq!(be.round_step(&v, alpha, 3).unwrap(), -2, "{}", be.name());
        let v = be.raw(14, 3); // 3.5 → 4
        assert_eq!(be.round_step(&v, alpha, 3).unwrap(), 4, "{}", be.name());
        let v = be.raw(13, 3); // 3.25 → 3
        assert_eq!(be.round_step(&v, alpha, 3).unwrap(), 3, "{}", be.name());
        let huge = be.int(1 << 40).mul(&be.int(1 << 40));
        assert!(be.round_step(&huge, Dyadic::new(1, 0).unwrap(), 8).is_err());
    }

    #[test]
    fn every_backend_rounds_half_even_and_checks_range() {
        check_round_step(&Exact);
        #[cfg(feature = "mpfr")]
        check_round_step(&Mpfr::new(128));
        check_round_step(&F64);
    }

    #[test]
    fn exact_backend_refuses_transcendental_functions() {
        let x = Exact.int(1);
        assert!(matches!(x.exp(), Err(BackendError::NotPolynomial { .. })));
        assert!(Exact.pi().is_err());
    }

    #[cfg(feature = "mpfr")]
    #[test]
    fn mpfr_and_f64_agree_on_transcendentals_to_double_precision() {
        let m = Mpfr::new(128);
        for k in [-300i64, -7, 0, 5, 123] {
            let xm = m.raw(k, 6);
            let xf = F64.raw(k, 6);
            for (a, b) in [
                (xm.exp().unwrap().to_f64(), Real::exp(&xf).unwrap()),
                (xm.tanh().unwrap().to_f64(), Real::tanh(&xf).unwrap()),
                (xm.erf().unwrap().to_f64(), Real::erf(&xf).unwrap()),
            ] {
                assert!(
                    (a - b).abs() <= 4.0 * f64::EPSILON * a.abs().max(1e-300),
                    "{a} vs {b}"
                );
            }
        }
        assert_eq!(m.pi().unwrap().to_f64(), std::f64::consts::PI);
    }
}
