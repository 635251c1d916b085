//! A one-hidden-layer perceptron with a smooth activation and cross-entropy, as in the
//! paper's Appendix B: a = W₁x, h = act(a), z = W₂[h; 1], f_x = −log softmax(z)_y.
//!
//! Parameters, in order: W₁ (hidden × d, row-major; x carries the data set's bias column),
//! then W₂ (classes × (hidden + 1), row-major; the last column is the output bias).
//! Its smoothness constant has no global bound: [`Model::smoothness`] returns a power-iteration
//! estimate of λ_max of the full-data Hessian at the given model, labelled as an estimate.

use super::backend::{Backend, BackendError, Real, F64};
use super::linear::{softmax, sparse_row};
use super::{kernels, raw_to_f64, uniform_init, Model, Smoothness};
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
        let zero = be.int(0);
        let pre: Vec<B::R> = w[..self.w2_offset()]
            .chunks_exact(self.d)
            .map(|row| kernels::dot(x, row, &zero))
            .collect();
        let act = pre
            .iter()
            .map(|a| self.activate(be, a))
            .collect::<Result<Vec<_>, _>>()?;
        let logits = self.logits(&w[self.w2_offset()..], &act);
        Ok(Forward { pre, act, logits })
    }

    /// z = W₂[h; 1]: each logit starts from its bias and adds the hidden units in index order.
    fn logits<R: Real>(&self, w2: &[R], act: &[R]) -> Vec<R> {
        w2.chunks_exact(self.hidden + 1)
            .take(self.classes)
            .map(|row| {
                act.iter()
                    .zip(row)
                    .fold(row[self.hidden].clone(), |acc, (h, v)| acc.add(&h.mul(v)))
            })
            .collect()
    }

    /// Φ(a) = (1 + erf(a/√2))/2, GELU's gate.
    fn gelu_gate<B: Backend>(be: &B, a: &B::R) -> Result<B::R, BackendError> {
        let two = be.int(2);
        Ok(be.int(1).add(&a.div(&two.sqrt()?).erf()?).div(&two))
    }

    /// The activation at `a`.
    fn activate<B: Backend>(&self, be: &B, a: &B::R) -> Result<B::R, BackendError> {
        match self.activation {
            Activation::Tanh => a.tanh(),
            Activation::Gelu => Ok(a.mul(&Self::gelu_gate(be, a)?)),
        }
    }

    /// The activation's derivative at `a`.
    fn slope<B: Backend>(&self, be: &B, a: &B::R) -> Result<B::R, BackendError> {
        match self.activation {
            Activation::Tanh => {
                let t = a.tanh()?;
                Ok(be.int(1).sub(&t.mul(&t)))
            }
            Activation::Gelu => {
                let two = be.int(2);
                let sqrt_2pi = two.mul(&be.pi()?).sqrt()?;
                let pdf = a.mul(a).div(&two).neg().exp()?.div(&sqrt_2pi);
                Ok(Self::gelu_gate(be, a)?.add(&a.mul(&pdf)))
            }
        }
    }

    /// The weights in f64 for [`Mlp::correct_many_f64`], converted once per accuracy pass.
    pub(crate) fn weights_f64(&self, w: &[i64], frac_bits: u32) -> WeightsF64 {
        let wr: Vec<f64> = w.iter().map(|&k| F64.raw(k, frac_bits)).collect();
        let (w1, w2) = wr.split_at(self.w2_offset());
        WeightsF64 {
            w1: kernels::Rows::new(w1, self.d),
            w2: w2.to_vec(),
        }
    }

    /// acc(W, x) on the f64 backend through [`kernels::Rows::dots`]: the hidden units'
    /// pre-activations in passes over the example's non-zero chunks of features (`rows`, all of
    /// `data`'s examples), in the lane order of [`Mlp::forward`], so the answers are those of
    /// [`Model::correct_many`] on [`F64`] bit for bit.
    pub(crate) fn correct_many_f64(
        &self,
        w: &WeightsF64,
        data: &Dataset,
        rows: &kernels::ChunkRows,
        indices: &[usize],
    ) -> Result<Vec<bool>, BackendError> {
        let mut pre = vec![0.0; self.hidden];
        let mut act = vec![0.0; self.hidden];
        indices
            .iter()
            .map(|&i| {
                w.w1.dots(rows.row(i), &mut pre);
                for (h, a) in act.iter_mut().zip(&pre) {
                    *h = self.activate(&F64, a)?;
                }
                Ok(wins(&self.logits(&w.w2, &act), data.labels[i] as usize))
            })
            .collect()
    }
}

/// An MLP's weights in f64, laid out for the kernels: W₁ as [`kernels::Rows`], W₂ as is.
pub(crate) struct WeightsF64 {
    w1: kernels::Rows,
    w2: Vec<f64>,
}

/// acc for a multi-logit model in the backend's own numbers (never through a lossy
/// conversion): the true class's logit beats every other one strictly.
fn wins<R: Real>(z: &[R], class: usize) -> bool {
    z.iter()
        .enumerate()
        .all(|(c, v)| c == class || z[class].gt(v))
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
                let da = dh.mul(&self.slope(be, &f.pre[j])?);
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
                Ok(wins(&f.logits, data.labels[i] as usize))
            })
            .collect()
    }

    fn smoothness(&self, data: &Dataset, _batch: usize, w: &[i64]) -> Smoothness {
        let all: Vec<usize> = (0..data.n()).collect();
        let grad = |v: &[f64]| self.batch_gradient(&F64, v, data, &all).unwrap_or_default();
        // The two gradients of a central difference are independent: evaluated side by side,
        // each exactly as in series, so the estimate is the same at any thread count.
        let value = power_iteration_with(
            &|plus, minus| rayon::join(|| grad(plus), || grad(minus)),
            &raw_to_f64(w, data.grid.frac_bits()),
        );
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

/// λ_max of the Hessian at `w0` by 30 rounds of power iteration on central-difference
/// Hessian-vector products of `grad` (an empty gradient, a failed evaluation, gives NaN): the
/// smoothness estimate of models without a certified bound.
pub fn power_iteration(grad: &dyn Fn(&[f64]) -> Vec<f64>, w0: &[f64]) -> f64 {
    power_iteration_with(&|plus, minus| (grad(plus), grad(minus)), w0)
}

/// The gradients at w0 + εv and w0 − εv, as a pair.
type GradientPair<'a> = dyn Fn(&[f64], &[f64]) -> (Vec<f64>, Vec<f64>) + 'a;

/// [`power_iteration`] with each round's two gradients evaluated by `pair`.
fn power_iteration_with(pair: &GradientPair, w0: &[f64]) -> f64 {
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
        let (gp, gm) = pair(&plus, &minus);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::Dyadic;
    use crate::model::AnyModel;
    use crate::pipeline::config::{ModelKind, Setup, StepSize, VerifyConfig};
    use crate::rng::{stream, Stream};

    #[test]
    fn the_f64_accuracy_kernel_answers_as_the_generic_path() {
        // All ten digits: 8×8 images whose blank rows make whole chunks of zero features.
        let s = Setup::new(&VerifyConfig {
            model: ModelKind::Mlp,
            hidden: 5,
            step_size: StepSize::Alpha(Dyadic::new(1, 10).unwrap()),
            ..VerifyConfig::default()
        })
        .unwrap();
        let AnyModel::Mlp(m) = &s.model else {
            panic!("an MLP was asked for");
        };
        let p = s.data.grid.frac_bits();
        let rows = kernels::ChunkRows::new(&s.data.features, p);
        // Every example, in reverse order, so that a row read for the wrong example shows.
        let indices: Vec<usize> = (0..s.data.n()).rev().collect();
        for seed in 0..3 {
            // Weights 8 times the initial scale, so that the hidden units leave GELU's linear part.
            let w: Vec<i64> = m
                .init(&mut stream(seed, Stream::Init), &s.data)
                .iter()
                .map(|v| v * 8)
                .collect();
            let fast = m
                .correct_many_f64(&m.weights_f64(&w, p), &s.data, &rows, &indices)
                .unwrap();
            let generic = m.correct_many(&F64, &w, &s.data, &indices).unwrap();
            assert_eq!(fast, generic, "seed {seed}");
            assert!(fast.iter().any(|&c| c) && fast.iter().any(|&c| !c));
        }
    }
}
