//! Least squares with ±1 labels: f_x(W) = ½(xᵀW − y)², ∇f_x = (xᵀW − y)·x, H = xxᵀ.
//! Its gradient is a polynomial in W and x, so the exact backend evaluates it with no rounding.

use super::backend::{Backend, BackendError, Real};
use super::{certified_linear_bound, dot_exact, uniform_init, Model, Smoothness};
use crate::data::Dataset;
use num_bigint::Sign;
use num_rational::BigRational;
use num_traits::One;
use rand_core::RngCore;

/// Least-squares regression on a binary task; class 1 is y = +1, class 0 is y = −1.
#[derive(Debug, Clone)]
pub struct LeastSquares {
    d: usize,
}

impl LeastSquares {
    /// One weight per column of `data` (bias included): d = `data.d()`.
    pub fn new(data: &Dataset) -> Self {
        LeastSquares { d: data.d() }
    }
}

impl Model for LeastSquares {
    fn name(&self) -> &'static str {
        "least-squares"
    }

    fn dim(&self) -> usize {
        self.d
    }

    fn batch_gradient<B: Backend>(
        &self,
        be: &B,
        w: &[B::R],
        data: &Dataset,
        batch: &[usize],
    ) -> Result<Vec<B::R>, BackendError> {
        let p = data.grid.frac_bits();
        let mut g = vec![be.int(0); self.d];
        for &i in batch {
            let x: Vec<(usize, B::R)> = sparse_row(be, &data.features[i], p);
            let mut z = be.int(0);
            for (k, xk) in &x {
                z = z.add(&xk.mul(&w[*k]));
            }
            let r = z.sub(&be.int(self.loss_label(data.labels[i])));
            for (k, xk) in &x {
                g[*k] = g[*k].add(&r.mul(xk));
            }
        }
        Ok(g.iter().map(|v| v.div_int(batch.len() as u64)).collect())
    }

    fn correct<B: Backend>(
        &self,
        _be: &B,
        w: &[i64],
        data: &Dataset,
        i: usize,
    ) -> Result<bool, BackendError> {
        Ok(sign_matches(&data.features[i], w, data.labels[i]))
    }

    fn smoothness(&self, data: &Dataset, batch: usize, _w: &[i64]) -> Smoothness {
        certified_linear_bound(data, batch, BigRational::one())
    }

    fn hessian(&self, _w: &[f64], data: &Dataset, batch: &[usize]) -> Option<Vec<f64>> {
        Some(weighted_outer(data, batch, |_| 1.0))
    }

    fn loss_label(&self, class: u32) -> i64 {
        if class == 1 {
            1
        } else {
            -1
        }
    }

    fn linf_bound(&self, data: &Dataset, batch: usize) -> Option<BigRational> {
        let factor = BigRational::new(num_bigint::BigInt::from(1), num_bigint::BigInt::from(1));
        Some(super::certified_linf_bound(data, batch, &factor))
    }

    fn row_bound<'d>(
        &self,
        data: &'d Dataset,
        batch: &[usize],
        _around: Option<super::Around>,
    ) -> Option<super::RowBound<'d>> {
        Some(super::RowBound::new(data, batch, 1, |_, _| 1.0))
    }

    fn evaluation_error(
        &self,
        data: &Dataset,
        batch: &[usize],
        w: &[i64],
        slack: i64,
        u: f64,
    ) -> Option<Vec<f64>> {
        Some(super::linear_eval_error(
            data,
            batch,
            w,
            slack,
            u,
            super::Link::Identity,
        ))
    }

    fn init(&self, rng: &mut dyn RngCore, data: &Dataset) -> Vec<i64> {
        uniform_init(rng, data, self.d, self.d)
    }
}

/// The non-zero entries of a raw feature row, converted once into the backend's numbers.
pub(crate) fn sparse_row<B: Backend>(be: &B, x: &[i64], p: u32) -> Vec<(usize, B::R)> {
    x.iter()
        .enumerate()
        .filter(|(_, &v)| v != 0)
        .map(|(k, &v)| (k, be.raw(v, p)))
        .collect()
}

/// acc for a one-logit model: class 1 needs xᵀW > 0, class 0 needs xᵀW < 0 (exact integers).
pub(crate) fn sign_matches(x: &[i64], w: &[i64], class: u32) -> bool {
    match dot_exact(x, w).sign() {
        Sign::Plus => class == 1,
        Sign::Minus => class == 0,
        Sign::NoSign => false,
    }
}

/// (1/b)Σ_{x∈B} c(x)·xxᵀ in f64, row-major.
pub(crate) fn weighted_outer(
    data: &Dataset,
    batch: &[usize],
    c: impl Fn(usize) -> f64,
) -> Vec<f64> {
    let d = data.d();
    let p = data.grid.frac_bits();
    let mut h = vec![0.0; d * d];
    for &i in batch {
        let x = super::raw_to_f64(&data.features[i], p);
        let ci = c(i) / batch.len() as f64;
        for a in 0..d {
            if x[a] == 0.0 {
                continue;
            }
            for b in 0..d {
                h[a * d + b] += ci * x[a] * x[b];
            }
        }
    }
    h
}
