//! Softmax regression over c classes: W is c rows of d weights, z = Wx, p = softmax(z),
//! f_x = −log p_y, ∇_{W_c} f_x = (p_c − [c = y])·x, H = (diag p − ppᵀ) ⊗ xxᵀ.

use super::backend::{Backend, BackendError, Real};
use super::least_squares::sparse_row;
use super::{certified_linear_bound, dot_exact, uniform_init, Model, Smoothness};
use crate::data::Dataset;
use num_bigint::BigInt;
use num_rational::BigRational;
use rand_core::RngCore;

/// Multinomial logistic regression on all classes of the data set.
#[derive(Debug, Clone)]
pub struct Softmax {
    d: usize,
    classes: usize,
}

impl Softmax {
    /// One block of `data.d()` weights per class of `data` (bias included): d = classes·`data.d()`,
    /// class blocks in class order.
    pub fn new(data: &Dataset) -> Self {
        Softmax {
            d: data.d(),
            classes: data.classes as usize,
        }
    }
}

/// softmax(z) with the maximum subtracted first so that no exponential overflows.
pub(crate) fn softmax<R: Real>(z: &[R]) -> Result<Vec<R>, BackendError> {
    let mut m = z[0].clone();
    for v in &z[1..] {
        if v.gt(&m) {
            m = v.clone();
        }
    }
    let e: Vec<R> = z
        .iter()
        .map(|v| v.sub(&m).exp())
        .collect::<Result<_, _>>()?;
    let mut s = e[0].clone();
    for v in &e[1..] {
        s = s.add(v);
    }
    Ok(e.iter().map(|v| v.div(&s)).collect())
}

/// acc for a multi-logit model: the true class's logit beats every other one strictly.
pub(crate) fn argmax_is<T: PartialOrd>(z: &[T], class: usize) -> bool {
    z.iter()
        .enumerate()
        .all(|(c, v)| c == class || z[class] > *v)
}

impl Model for Softmax {
    fn name(&self) -> &'static str {
        "softmax"
    }

    fn dim(&self) -> usize {
        self.d * self.classes
    }

    fn batch_gradient<B: Backend>(
        &self,
        be: &B,
        w: &[B::R],
        data: &Dataset,
        batch: &[usize],
    ) -> Result<Vec<B::R>, BackendError> {
        let p = data.grid.frac_bits();
        let mut g = vec![be.int(0); self.dim()];
        for &i in batch {
            let x = sparse_row(be, &data.features[i], p);
            let z: Vec<B::R> = (0..self.classes)
                .map(|c| {
                    let row = &w[c * self.d..(c + 1) * self.d];
                    x.iter()
                        .fold(be.int(0), |acc, (k, xk)| acc.add(&xk.mul(&row[*k])))
                })
                .collect();
            let probs = softmax(&z)?;
            for (c, pc) in probs.iter().enumerate() {
                let r = if c as u32 == data.labels[i] {
                    pc.sub(&be.int(1))
                } else {
                    pc.clone()
                };
                for (k, xk) in &x {
                    let idx = c * self.d + k;
                    g[idx] = g[idx].add(&r.mul(xk));
                }
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
        let x = &data.features[i];
        let z: Vec<BigInt> = w.chunks(self.d).map(|row| dot_exact(x, row)).collect();
        Ok(argmax_is(&z, data.labels[i] as usize))
    }

    fn smoothness(&self, data: &Dataset, batch: usize, _w: &[i64]) -> Smoothness {
        certified_linear_bound(
            data,
            batch,
            BigRational::new(BigInt::from(1), BigInt::from(2)),
        )
    }

    fn hessian(&self, w: &[f64], data: &Dataset, batch: &[usize]) -> Option<Vec<f64>> {
        let (d, c) = (self.d, self.classes);
        let dim = d * c;
        let p = data.grid.frac_bits();
        let mut h = vec![0.0; dim * dim];
        for &i in batch {
            let x = super::raw_to_f64(&data.features[i], p);
            let z: Vec<f64> = w
                .chunks(d)
                .map(|row| row.iter().zip(&x).map(|(a, b)| a * b).sum())
                .collect();
            let probs = softmax(&z).ok()?;
            for c1 in 0..c {
                for c2 in 0..c {
                    let a = if c1 == c2 { probs[c1] } else { 0.0 } - probs[c1] * probs[c2];
                    let a = a / batch.len() as f64;
                    for k1 in 0..d {
                        if x[k1] == 0.0 {
                            continue;
                        }
                        let row = (c1 * d + k1) * dim + c2 * d;
                        for k2 in 0..d {
                            h[row + k2] += a * x[k1] * x[k2];
                        }
                    }
                }
            }
        }
        Some(h)
    }

    fn linf_bound(&self, data: &Dataset, batch: usize) -> Option<BigRational> {
        let factor = BigRational::new(num_bigint::BigInt::from(1), num_bigint::BigInt::from(2));
        Some(super::certified_linf_bound(data, batch, &factor))
    }

    fn row_bound<'d>(
        &self,
        data: &'d Dataset,
        batch: &[usize],
        around: Option<super::Around>,
    ) -> Option<super::RowBound<'d>> {
        // Row c of diag(p) − ppᵀ sums to 2p_c(1 − p_c) ≤ min(1/2, 2p_c), and over a box every
        // p_c grows by at most e^{2·reach}.
        let p = data.grid.frac_bits();
        let w = around.map(|a| super::raw_to_f64(a.center, p));
        let probs = |i: usize| -> Option<Vec<f64>> {
            let (a, w) = (around?, w.as_ref()?);
            let x = &data.features[i];
            let z: Vec<f64> = w
                .chunks(self.d)
                .map(|row| {
                    let dot: f64 = row
                        .iter()
                        .zip(x)
                        .filter(|(_, &v)| v != 0)
                        .map(|(u, &v)| u * v as f64)
                        .sum();
                    libm::ldexp(dot, -(p as i32))
                })
                .collect();
            let grow = libm::exp(2.0 * super::logit_reach(data, i, a.radius)) * (1.0 + 1e-6);
            Some(
                softmax(&z)
                    .ok()?
                    .iter()
                    .map(|v| (v * grow).min(1.0))
                    .collect(),
            )
        };
        let cache: std::collections::HashMap<usize, Option<Vec<f64>>> =
            batch.iter().map(|&i| (i, probs(i))).collect();
        Some(super::RowBound::new(data, batch, self.classes, |i, c| {
            cache
                .get(&i)
                .and_then(|pr| pr.as_ref())
                .map_or(0.5, |pr| (2.0 * pr[c]).min(0.5))
        }))
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
            super::Link::Softmax,
        ))
    }

    fn init(&self, rng: &mut dyn RngCore, data: &Dataset) -> Vec<i64> {
        uniform_init(rng, data, self.d, self.dim())
    }
}
