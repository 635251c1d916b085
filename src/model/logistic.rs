//! Logistic regression: f_x(W) = log(1 + e^{−ỹ xᵀW}) with ỹ = 2y − 1, ∇f_x = (σ(xᵀW) − y)·x,
//! H = σ(1−σ)·xxᵀ ≤ xxᵀ/4.

use super::backend::{Backend, BackendError, Real};
use super::least_squares::{sign_matches, sparse_row, weighted_outer};
use super::{certified_linear_bound, uniform_init, Model, Smoothness};
use crate::data::Dataset;
use num_bigint::BigInt;
use num_rational::BigRational;
use rand_core::RngCore;

/// Binary logistic regression; the label is the class index 0 or 1.
#[derive(Debug, Clone)]
pub struct Logistic {
    d: usize,
}

impl Logistic {
    /// One weight per column of `data` (bias included): d = `data.d()`.
    pub fn new(data: &Dataset) -> Self {
        Logistic { d: data.d() }
    }
}

/// σ(z), evaluated on the branch where the exponential cannot overflow.
pub(crate) fn sigmoid<R: Real>(z: &R, one: &R) -> Result<R, BackendError> {
    if z.is_positive() {
        let e = z.neg().exp()?;
        Ok(one.div(&one.add(&e)))
    } else {
        let e = z.exp()?;
        Ok(e.div(&one.add(&e)))
    }
}

impl Model for Logistic {
    fn name(&self) -> &'static str {
        "logistic"
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
        let one = be.int(1);
        let mut g = vec![be.int(0); self.d];
        for &i in batch {
            let x = sparse_row(be, &data.features[i], p);
            let mut z = be.int(0);
            for (k, xk) in &x {
                z = z.add(&xk.mul(&w[*k]));
            }
            let r = sigmoid(&z, &one)?.sub(&be.int(data.labels[i] as i64));
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
        certified_linear_bound(
            data,
            batch,
            BigRational::new(BigInt::from(1), BigInt::from(4)),
        )
    }

    fn hessian(&self, w: &[f64], data: &Dataset, batch: &[usize]) -> Option<Vec<f64>> {
        let p = data.grid.frac_bits();
        Some(weighted_outer(data, batch, |i| {
            let x = super::raw_to_f64(&data.features[i], p);
            let z: f64 = x.iter().zip(w).map(|(a, b)| a * b).sum();
            let s = 1.0 / (1.0 + libm::exp(-z));
            s * (1.0 - s)
        }))
    }

    fn linf_bound(&self, data: &Dataset, batch: usize) -> Option<BigRational> {
        let factor = BigRational::new(num_bigint::BigInt::from(1), num_bigint::BigInt::from(4));
        Some(super::certified_linf_bound(data, batch, &factor))
    }

    fn row_bound<'d>(
        &self,
        data: &'d Dataset,
        batch: &[usize],
        around: Option<super::Around>,
    ) -> Option<super::RowBound<'d>> {
        // σ'(z) = σ(1 − σ) ≤ 1/4 everywhere, and it decreases in |z|: over a box, |z| is at
        // least |z(center)| − reach.
        let p = data.grid.frac_bits();
        let Some(a) = around else {
            return Some(super::RowBound::new(data, batch, 1, |_, _| 0.25));
        };
        // z = ⟨x, w⟩, Σ|x·w| and ‖x‖₁ (for the reach) of every example, in one pass.
        let all: Vec<usize> = (0..self.d).collect();
        let sums = super::sums_by_example(data, batch, &all, |k, x| {
            let t = x as f64 * a.center[k] as f64;
            [t, t.abs(), (x as f64).abs()]
        });
        let curvature: Vec<f64> = sums
            .iter()
            .map(|&[z, size, l1]| {
                // z summed in f64 is off by at most γ_{d+2}·Σ|x·w| < 1e-12·Σ|x·w| for any d
                // below 10⁴; that much is subtracted with the reach.
                let z = libm::ldexp(z.abs() - 1e-12 * size, -2 * p as i32)
                    - super::reach_of_l1(data, l1, a.radius);
                let s = 1.0 / (1.0 + libm::exp(-z.max(0.0)));
                (s * (1.0 - s) * (1.0 + 1e-6)).min(0.25)
            })
            .collect();
        Some(super::RowBound::from_curvature(data, batch, 1, curvature))
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
            super::Link::Sigmoid,
        ))
    }

    fn init(&self, rng: &mut dyn RngCore, data: &Dataset) -> Vec<i64> {
        uniform_init(rng, data, self.d, self.d)
    }
}
