//! A one-hidden-layer perceptron with a smooth activation and cross-entropy, as in the
//! paper's Appendix B: a = W₁x, h = act(a), z = W₂[h; 1], f_x = −log softmax(z)_y.
//!
//! Parameters, in order: W₁ (hidden × d, row-major; x carries the data set's bias column),
//! then W₂ (classes × (hidden + 1), row-major; the last column is the output bias).
//! Its smoothness constant has no global bound: [`Model::smoothness`] returns a power-iteration
//! estimate of λ_max of the full-data Hessian at the given model, labelled as an estimate.

use super::backend::{Backend, BackendError, Real, F64};
use super::linear::{softmax, sparse_row};
use super::{raw_to_f64, uniform_init, Model, Smoothness};
use crate::data::Dataset;
use rand_core::RngCore;

/// The hidden layer's activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// GELU, a·Φ(a) with Φ the standard normal CDF (via erf).
    Gelu,
    /// tanh(a).
    Tanh,
}

crate::named_enum!(Activation, "activation", { Gelu => "gelu", Tanh => "tanh" });

/// One hidden layer of `hidden` units.
#[derive(Debug, Clone)]
pub struct Mlp {
    d: usize,
    hidden: usize,
    classes: usize,
    activation: Activation,
}

/// Per-example forward values kept for the backward pass.
struct Forward<R> {
    pre: Vec<R>,
    act: Vec<R>,
    logits: Vec<R>,
}

impl Mlp {
    /// `hidden` units with `activation` on `data.d()` inputs (bias included) and one output per
    /// class: d = hidden·`data.d()` + classes·(hidden + 1) parameters.
    pub fn new(data: &Dataset, hidden: usize, activation: Activation) -> Self {
        Mlp {
            d: data.d(),
            hidden,
            classes: data.classes as usize,
            activation,
        }
    }

    /// The number of hidden units.
    pub fn hidden(&self) -> usize {
        self.hidden
    }

    /// The hidden layer's activation.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    fn w2_offset(&self) -> usize {
        self.hidden * self.d
    }

    fn forward<B: Backend>(
        &self,
        be: &B,
        w: &[B::R],
        x: &[(usize, B::R)],
    ) -> Result<Forward<B::R>, BackendError> {
        let mut pre = Vec::with_capacity(self.hidden);
        let mut act = Vec::with_capacity(self.hidden);
        for j in 0..self.hidden {
            let row = &w[j * self.d..(j + 1) * self.d];
            let a = x
                .iter()
                .fold(be.int(0), |acc, (k, xk)| acc.add(&xk.mul(&row[*k])));
            act.push(self.activate(be, &a)?.0);
            pre.push(a);
        }
        let h1 = self.hidden + 1;
        let logits = (0..self.classes)
            .map(|c| {
                let row = &w[self.w2_offset() + c * h1..self.w2_offset() + (c + 1) * h1];
                act.iter()
                    .zip(row)
                    .fold(row[self.hidden].clone(), |acc, (h, v)| acc.add(&h.mul(v)))
            })
            .collect();
        Ok(Forward { pre, act, logits })
    }

    /// The activation and its derivative at `a`.
    fn activate<B: Backend>(&self, be: &B, a: &B::R) -> Result<(B::R, B::R), BackendError> {
        let one = be.int(1);
        match self.activation {
            Activation::Tanh => {
                let t = a.tanh()?;
                let dt = one.sub(&t.mul(&t));
                Ok((t, dt))
            }
            Activation::Gelu => {
                let two = be.int(2);
                let sqrt2 = two.sqrt()?;
                let cdf = one.add(&a.div(&sqrt2).erf()?).div(&two);
                let sqrt_2pi = two.mul(&be.pi()?).sqrt()?;
                let pdf = a.mul(a).div(&two).neg().exp()?.div(&sqrt_2pi);
                Ok((a.mul(&cdf), cdf.add(&a.mul(&pdf))))
            }
        }
    }
}

impl Model for Mlp {
    fn name(&self) -> &'static str {
        super::ModelKind::Mlp.name()
    }

    fn dim(&self) -> usize {
        self.hidden * self.d + self.classes * (self.hidden + 1)
    }

    fn batch_gradient<B: Backend>(
        &self,
        be: &B,
        w: &[B::R],
        data: &Dataset,
        batch: &[usize],
    ) -> Result<Vec<B::R>, BackendError> {
        let p = data.grid.frac_bits();
        let h1 = self.hidden + 1;
        let off = self.w2_offset();
        let mut g = vec![be.int(0); self.dim()];
        for &i in batch {
            let x = sparse_row(be, &data.features[i], p);
            let f = self.forward(be, w, &x)?;
            let probs = softmax(&f.logits)?;
            let dz: Vec<B::R> = probs
                .iter()
                .enumerate()
                .map(|(c, pc)| {
                    if c as u32 == data.labels[i] {
                        pc.sub(&be.int(1))
                    } else {
                        pc.clone()
                    }
                })
                .collect();
            for (c, dzc) in dz.iter().enumerate() {
                for (j, hj) in f.act.iter().enumerate() {
                    let idx = off + c * h1 + j;
                    g[idx] = g[idx].add(&dzc.mul(hj));
                }
                let idx = off + c * h1 + self.hidden;
                g[idx] = g[idx].add(dzc);
            }
            for j in 0..self.hidden {
                let mut dh = be.int(0);
                for (c, dzc) in dz.iter().enumerate() {
                    dh = dh.add(&w[off + c * h1 + j].mul(dzc));
                }
                let da = dh.mul(&self.activate(be, &f.pre[j])?.1);
                for (k, xk) in &x {
                    let idx = j * self.d + k;
                    g[idx] = g[idx].add(&da.mul(xk));
                }
            }
        }
        Ok(g.iter().map(|v| v.div_int(batch.len() as u64)).collect())
    }

    fn correct<B: Backend>(
        &self,
        be: &B,
        w: &[i64],
        data: &Dataset,
        i: usize,
    ) -> Result<bool, BackendError> {
        Ok(self.correct_many(be, w, data, &[i])?[0])
    }

    fn correct_many<B: Backend>(
        &self,
        be: &B,
        w: &[i64],
        data: &Dataset,
        indices: &[usize],
    ) -> Result<Vec<bool>, BackendError> {
        let p = data.grid.frac_bits();
        let wr: Vec<B::R> = w.iter().map(|&k| be.raw(k, p)).collect();
        indices
            .iter()
            .map(|&i| {
                let x = sparse_row(be, &data.features[i], p);
                let f = self.forward(be, &wr, &x)?;
                let class = data.labels[i] as usize;
                // Compared in the backend's own numbers, never through a lossy conversion.
                Ok(f.logits
                    .iter()
                    .enumerate()
                    .all(|(c, v)| c == class || f.logits[class].gt(v)))
            })
            .collect()
    }

    fn smoothness(&self, data: &Dataset, _batch: usize, w: &[i64]) -> Smoothness {
        let value = power_iteration(self, data, w);
        Smoothness::Estimate {
            value,
            how: "power iteration (30 rounds, central-difference Hessian-vector products in f64) \
                  on the full data set at the initial model; an estimate, not a certificate"
                .to_string(),
        }
    }

    fn hessian(&self, _w: &[f64], _data: &Dataset, _batch: &[usize]) -> Option<Vec<f64>> {
        None
    }

    fn init(&self, rng: &mut dyn RngCore, data: &Dataset) -> Vec<i64> {
        let mut w = uniform_init(rng, data, self.d, self.hidden * self.d);
        w.extend(uniform_init(
            rng,
            data,
            self.hidden + 1,
            self.classes * (self.hidden + 1),
        ));
        w
    }
}

/// λ_max of the full-data Hessian at `w`, by power iteration on finite-difference
/// Hessian-vector products of the f64 gradient.
fn power_iteration(m: &Mlp, data: &Dataset, w: &[i64]) -> f64 {
    let all: Vec<usize> = (0..data.n()).collect();
    let w0 = raw_to_f64(w, data.grid.frac_bits());
    let grad = |v: &[f64]| m.batch_gradient(&F64, v, data, &all).unwrap_or_default();
    let mut v: Vec<f64> = (0..w0.len()).map(|k| 1.0 + (k % 7) as f64 * 0.1).collect();
    let mut lambda = 0.0;
    for _ in 0..30 {
        let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        if norm == 0.0 || !norm.is_finite() {
            return f64::NAN;
        }
        v.iter_mut().for_each(|a| *a /= norm);
        let eps = 1e-4;
        let plus: Vec<f64> = w0.iter().zip(&v).map(|(a, b)| a + eps * b).collect();
        let minus: Vec<f64> = w0.iter().zip(&v).map(|(a, b)| a - eps * b).collect();
        let (gp, gm) = (grad(&plus), grad(&minus));
        let hv: Vec<f64> = gp
            .iter()
            .zip(&gm)
            .map(|(a, b)| (a - b) / (2.0 * eps))
            .collect();
        lambda = hv.iter().zip(&v).map(|(a, b)| a * b).sum::<f64>();
        v = hv;
    }
    lambda.abs()
}
