//! The linear models: z = Wx with one row of d weights per output, and a link that turns the
//! logits z into the loss (paper Section 2; docs/design.md §2.5). One type serves all three:
//! - identity, least squares with ±1 labels: f_x = ½(z − y)², r = z − y, H = xxᵀ;
//! - logistic, f_x = log(1 + e^{−ỹz}), r = σ(z) − y, H = σ(1 − σ)·xxᵀ ≤ xxᵀ/4;
//! - softmax over c classes, f_x = −log softmax(z)_y, r_c = p_c − [c = y],
//!   H = (diag p − ppᵀ) ⊗ xxᵀ, whose link part has λ_max and ∞-norm at most 1/2.
//!
//! ∇f_x = r ⊗ x in every case, so the batch gradient, the accuracy rule, the Hessian and the
//! certified bounds are written once here; only r, the link's curvature and its bound differ.
//! The least-squares gradient is a polynomial in W and x, so the exact backend evaluates it with
//! no rounding.

use super::backend::{Backend, BackendError, Real, F64};
use super::{
    certified_linear_bound, certified_linf_bound, dot_exact, dot_exact_sign, error_box,
    eval_error_weight, exact_sign, finish_eval_error, kernels, largest_weighted_l1,
    linear_eval_error, logit_reach, raw_to_f64, reach_of_l1, sums_by_example, uniform_init, Around,
    CertifiedBounds, Model, ModelKind, RowBound, Smoothness, StepBounds,
};
use crate::data::Dataset;
use num_bigint::{BigInt, Sign};
use num_rational::BigRational;
use rand_core::RngCore;

/// How the per-example residual r = ∂f_x/∂z depends on the logits z.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// r = z − y with y = ±1 (least squares).
    Identity,
    /// r = σ(z) − y, σ' ≤ 1/4 (logistic regression).
    Logistic,
    /// r_c = softmax(z)_c − [c = y]; the link's Hessian has λ_max and ∞-norm ≤ 1/2.
    Softmax,
}

impl Link {
    /// The bound on the link's curvature that scales xxᵀ in L_B and L_∞: 1, 1/4 or 1/2.
    fn curvature_bound(self) -> BigRational {
        let q = match self {
            Link::Identity => 1,
            Link::Logistic => 4,
            Link::Softmax => 2,
        };
        BigRational::new(BigInt::from(1), BigInt::from(q))
    }
}

/// A linear model with its link: least squares, logistic or softmax regression.
#[derive(Debug, Clone)]
pub struct Linear {
    d: usize,
    outputs: usize,
    link: Link,
}

impl Linear {
    /// Whether the link is binary (identity or logistic): one output whose sign decides.
    pub(crate) fn is_binary(&self) -> bool {
        self.link != Link::Softmax
    }

    /// The weights in f64 for [`Linear::correct_binary_filtered`], padded to whole chunks of
    /// [`kernels::LANES`] features; converted once per accuracy pass.
    pub(crate) fn weights_f64(&self, w: &[i64], frac_bits: u32) -> Vec<f64> {
        let mut wf = vec![0.0; self.d.div_ceil(kernels::LANES) * kernels::LANES];
        for (slot, &k) in wf.iter_mut().zip(w) {
            *slot = F64.raw(k, frac_bits);
        }
        wf
    }

    /// acc(W, x) of a binary link for each of `indices`, from f64 dots over the examples'
    /// non-zero chunks (`rows`, all of `data`'s examples; `wf` from
    /// [`Linear::weights_f64`]) whose sign the error bound proves, and the exact sum where it
    /// does not: the answers are [`Model::correct`]'s, bit for bit, on any backend.
    pub(crate) fn correct_binary_filtered(
        &self,
        w: &[i64],
        wf: &[f64],
        data: &Dataset,
        rows: &kernels::ChunkRows,
        indices: &[usize],
    ) -> Vec<bool> {
        let answers = indices.iter().map(|&i| {
            let (sum, abs) = kernels::dot_and_abs(rows.row(i), wf);
            let sign = super::sign_if_certain(sum, abs, wf.len())
                .unwrap_or_else(|| exact_sign(&data.features[i], w));
            match sign {
                Sign::Plus => data.labels[i] == 1,
                Sign::Minus => data.labels[i] == 0,
                Sign::NoSign => false,
            }
        });
        answers.collect()
    }

    /// One row of `data.d()` weights (bias included) per output: one output for the binary
    /// links (identity, logistic), one per class of `data` for softmax, class rows in class
    /// order.
    pub fn new(data: &Dataset, link: Link) -> Self {
        let outputs = match link {
            Link::Identity | Link::Logistic => 1,
            Link::Softmax => data.classes as usize,
        };
        Linear {
            d: data.d(),
            outputs,
            link,
        }
    }

    /// Least squares on a binary task; class 1 is y = +1, class 0 is y = −1.
    pub fn least_squares(data: &Dataset) -> Self {
        Self::new(data, Link::Identity)
    }

    /// Binary logistic regression; the label is the class index 0 or 1.
    pub fn logistic(data: &Dataset) -> Self {
        Self::new(data, Link::Logistic)
    }

    /// Multinomial logistic regression on all classes of the data set.
    pub fn softmax(data: &Dataset) -> Self {
        Self::new(data, Link::Softmax)
    }

    /// The link.
    pub fn link(&self) -> Link {
        self.link
    }

    /// r = ∂f_x/∂z for the logits `z` of an example of class `class`, into `r` (cleared first:
    /// the batch loop reuses one buffer rather than allocating per example).
    fn residuals_into<B: Backend>(
        &self,
        be: &B,
        z: &[B::R],
        class: u32,
        r: &mut Vec<B::R>,
    ) -> Result<(), BackendError> {
        r.clear();
        match self.link {
            Link::Identity => r.push(z[0].sub(&be.int(self.loss_label(class)))),
            Link::Logistic => r.push(sigmoid(&z[0], &be.int(1))?.sub(&be.int(class as i64))),
            Link::Softmax => r.extend(softmax(z)?.into_iter().enumerate().map(|(c, pc)| {
                if c as u32 == class {
                    pc.sub(&be.int(1))
                } else {
                    pc
                }
            })),
        }
        Ok(())
    }

    /// The batch Hessian as a sum of rank-one terms, H_B = (1/b)Σ_x Σ_j (l_xj ⊗ x)(l_xj ⊗ x)ᵀ
    /// with A_x = Σ_j l_xj l_xjᵀ: at most b·outputs terms whatever d, so the many-to-one share
    /// can be computed from a small Gram matrix (docs/design.md §3.3).
    pub fn hessian_factor(
        &self,
        w: &[f64],
        data: &Dataset,
        batch: &[usize],
    ) -> Option<LowRankHessian> {
        let p = data.grid.frac_bits();
        let mut examples = Vec::with_capacity(batch.len());
        let mut factors = Vec::with_capacity(batch.len());
        for &i in batch {
            let x = raw_to_f64(&data.features[i], p);
            let a = self.link_hessian(&self.logits_f64(w, &x))?;
            factors.push(psd_factor(&a, self.outputs));
            examples.push(x);
        }
        Some(LowRankHessian {
            examples,
            factors,
            scale: 1.0 / batch.len() as f64,
        })
    }

    /// ∂²f_x/∂z² at the logits `z` in f64, row-major outputs × outputs.
    fn link_hessian(&self, z: &[f64]) -> Option<Vec<f64>> {
        Some(match self.link {
            Link::Identity => vec![1.0],
            Link::Logistic => {
                let s = 1.0 / (1.0 + libm::exp(-z[0]));
                vec![s * (1.0 - s)]
            }
            Link::Softmax => {
                let p = softmax(z).ok()?;
                let c = p.len();
                (0..c * c)
                    .map(|k| {
                        let (c1, c2) = (k / c, k % c);
                        let diagonal = if c1 == c2 { p[c1] } else { 0.0 };
                        diagonal - p[c1] * p[c2]
                    })
                    .collect()
            }
        })
    }

    /// The logits of raw example `x` under f64 weights `w`, summed in index order.
    fn logits_f64(&self, w: &[f64], x: &[f64]) -> Vec<f64> {
        w.chunks(self.d)
            .map(|row| row.iter().zip(x).map(|(a, b)| a * b).sum())
            .collect()
    }
}

/// A batch Hessian H = scale·Σ_i Σ_j (l_ij ⊗ x_i)(l_ij ⊗ x_i)ᵀ, where (l ⊗ x)[c·d + k] =
/// l\[c\]·x\[k\] (the parameter order of [`Linear`]): the examples x_i of the batch and, per example,
/// the vectors l_ij whose outer products sum to the link's Hessian.
#[derive(Debug, Clone)]
pub struct LowRankHessian {
    /// The batch's examples in real units, each of length d.
    pub examples: Vec<Vec<f64>>,
    /// Per example, the link-Hessian factors l_ij, each of length `outputs`.
    pub factors: Vec<Vec<Vec<f64>>>,
    /// The factor in front of the sum, 1/b.
    pub scale: f64,
}

impl LowRankHessian {
    /// The Gram matrix G of the rank-one terms' vectors, scaled: G[(i,j),(i',j')] =
    /// scale·⟨x_i, x_i'⟩·⟨l_ij, l_i'j'⟩, whose nonzero eigenvalues are those of H.
    pub fn gram(&self) -> (Vec<f64>, usize) {
        let terms: Vec<(usize, &[f64])> = self
            .factors
            .iter()
            .enumerate()
            .flat_map(|(i, ls)| ls.iter().map(move |l| (i, l.as_slice())))
            .collect();
        let n = self.examples.len();
        let mut xx = vec![0.0; n * n];
        for (a, xa) in self.examples.iter().enumerate() {
            for (b, xb) in self.examples.iter().enumerate().skip(a) {
                let v: f64 = xa.iter().zip(xb).map(|(u, v)| u * v).sum();
                xx[a * n + b] = v;
                xx[b * n + a] = v;
            }
        }
        let m = terms.len();
        let mut g = vec![0.0; m * m];
        for (r, &(i, li)) in terms.iter().enumerate() {
            for (c, &(k, lk)) in terms.iter().enumerate() {
                let ll: f64 = li.iter().zip(lk).map(|(u, v)| u * v).sum();
                g[r * m + c] = self.scale * xx[i * n + k] * ll;
            }
        }
        (g, m)
    }
}

/// Vectors l_j with Σ_j l_j l_jᵀ = A for the positive semidefinite c×c matrix `a` (row-major),
/// by a Cholesky that drops the columns a rank deficiency leaves empty (softmax's link Hessian
/// diag p − ppᵀ has rank c − 1).
fn psd_factor(a: &[f64], c: usize) -> Vec<Vec<f64>> {
    let tol = 1e-14 * (0..c).map(|k| a[k * c + k].abs()).sum::<f64>();
    let mut cols: Vec<Vec<f64>> = Vec::with_capacity(c);
    for j in 0..c {
        let diag = a[j * c + j] - cols.iter().map(|l| l[j] * l[j]).sum::<f64>();
        if diag <= tol {
            continue;
        }
        let s = diag.sqrt();
        let col = (0..c)
            .map(|i| {
                if i < j {
                    0.0
                } else if i == j {
                    s
                } else {
                    (a[i * c + j] - cols.iter().map(|l| l[i] * l[j]).sum::<f64>()) / s
                }
            })
            .collect();
        cols.push(col);
    }
    cols
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

/// The non-zero entries of a raw feature row, converted once into the backend's numbers.
pub(crate) fn sparse_row<B: Backend>(be: &B, x: &[i64], p: u32) -> Vec<(usize, B::R)> {
    let mut row = Vec::new();
    sparse_row_into(be, x, p, &mut row);
    row
}

/// [`sparse_row`] into a reused buffer.
fn sparse_row_into<B: Backend>(be: &B, x: &[i64], p: u32, row: &mut Vec<(usize, B::R)>) {
    row.clear();
    row.extend(
        x.iter()
            .enumerate()
            .filter(|(_, &v)| v != 0)
            .map(|(k, &v)| (k, be.raw(v, p))),
    );
}

impl Model for Linear {
    fn name(&self) -> &'static str {
        match self.link {
            Link::Identity => ModelKind::LeastSquares,
            Link::Logistic => ModelKind::Logistic,
            Link::Softmax => ModelKind::Softmax,
        }
        .name()
    }

    fn dim(&self) -> usize {
        self.d * self.outputs
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
        let zero = be.int(0);
        // Three buffers for the whole batch: on f64 the arithmetic is a few thousand flops and
        // per-example allocations would cost more than it does.
        let (mut x, mut z, mut r) = (Vec::new(), Vec::new(), Vec::new());
        for &i in batch {
            sparse_row_into(be, &data.features[i], p, &mut x);
            z.clear();
            z.extend(w.chunks(self.d).map(|row| kernels::dot(&x, row, &zero)));
            self.residuals_into(be, &z, data.labels[i], &mut r)?;
            for (c, r) in r.iter().enumerate() {
                for (k, xk) in &x {
                    let idx = c * self.d + k;
                    g[idx] = g[idx].add(&r.mul(xk));
                }
            }
        }
        Ok(g.iter().map(|v| v.div_int(batch.len() as u64)).collect())
    }

    /// Decided on exact integers: one logit must have the label's sign (zero is wrong), several
    /// must have the label's logit strictly largest.
    fn correct<B: Backend>(
        &self,
        _be: &B,
        w: &[i64],
        data: &Dataset,
        i: usize,
    ) -> Result<bool, BackendError> {
        let x = &data.features[i];
        let class = data.labels[i];
        Ok(match self.link {
            Link::Identity | Link::Logistic => match dot_exact_sign(x, w) {
                Sign::Plus => class == 1,
                Sign::Minus => class == 0,
                Sign::NoSign => false,
            },
            Link::Softmax => {
                let z: Vec<BigInt> = w.chunks(self.d).map(|row| dot_exact(x, row)).collect();
                argmax_is(&z, class as usize)
            }
        })
    }

    fn smoothness(&self, data: &Dataset, batch: usize, _w: &[i64]) -> Smoothness {
        certified_linear_bound(data, batch, self.link.curvature_bound())
    }

    /// (1/b)Σ_{x∈B} A_x ⊗ xxᵀ with A_x the link's Hessian at x's logits.
    fn hessian(&self, w: &[f64], data: &Dataset, batch: &[usize]) -> Option<Vec<f64>> {
        let (d, c) = (self.d, self.outputs);
        let dim = d * c;
        let p = data.grid.frac_bits();
        let mut h = vec![0.0; dim * dim];
        for &i in batch {
            let x = raw_to_f64(&data.features[i], p);
            let a = self.link_hessian(&self.logits_f64(w, &x))?;
            for c1 in 0..c {
                for c2 in 0..c {
                    let a = a[c1 * c + c2] / batch.len() as f64;
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

    fn loss_label(&self, class: u32) -> i64 {
        match (self.link, class) {
            (Link::Identity, 1) => 1,
            (Link::Identity, _) => -1,
            _ => class as i64,
        }
    }

    fn init(&self, rng: &mut dyn RngCore, data: &Dataset) -> Vec<i64> {
        uniform_init(rng, data, self.d, self.dim())
    }

    fn bounds(&self) -> Option<&dyn CertifiedBounds> {
        Some(self)
    }
}

impl CertifiedBounds for Linear {
    fn linf_bound(&self, data: &Dataset, batch: usize) -> BigRational {
        certified_linf_bound(data, batch, &self.link.curvature_bound())
    }

    fn row_bound<'d>(
        &self,
        data: &'d Dataset,
        batch: &[usize],
        around: Option<Around>,
    ) -> RowBound<'d> {
        match (self.link, around) {
            (Link::Identity, _) => RowBound::new(data, batch, 1, |_, _| 1.0),
            (Link::Logistic, None) => RowBound::new(data, batch, 1, |_, _| 0.25),
            (Link::Logistic, Some(a)) => logistic_rows(self.d, data, batch, a),
            (Link::Softmax, _) => self.softmax_rows(data, batch, around),
        }
    }

    fn evaluation_error(
        &self,
        data: &Dataset,
        batch: &[usize],
        w: &[i64],
        slack: i64,
        u: f64,
    ) -> Option<Vec<f64>> {
        Some(linear_eval_error(data, batch, w, slack, u, self.link))
    }

    /// The same values as the three methods, from two passes over the batch: one per example
    /// for ‖x‖₁, Σ_k |x_k|·(|w_k| + slack) and the logistic link's z and Σ|x_k·w_k|, and one
    /// per feature for the error bound and the rows at radius 1 together.
    fn step_bounds<'d>(
        &'d self,
        data: &'d Dataset,
        batch: &[usize],
        w: &[i64],
        slack: i64,
        u: f64,
    ) -> Option<StepBounds<'d>> {
        let d = self.d;
        let wabs = error_box(data, w, slack);
        let all: Vec<usize> = (0..d).collect();
        // The terms of largest_weighted_l1 (with the bound's weights, and with weights 1 for
        // ‖x‖₁) and of logistic_rows, each sum in index order as those add it.
        let sums = sums_by_example(data, batch, &all, |k, x| {
            let a = x.abs();
            let t = x * w[k] as f64;
            [a, a * wabs[k], t, t.abs()]
        });
        let rows = self.row_bound(data, batch, None);
        let l1: Vec<f64> = sums.iter().map(|s| s[0]).collect();
        let per: Vec<f64> = if u == 0.0 {
            Vec::new()
        } else {
            let other_blocks = largest_weighted_l1(data, batch, wabs.get(d..).unwrap_or(&[]));
            sums.iter()
                .zip(&other_blocks)
                .map(|(s, &o)| f64::max(s[1], o))
                .map(|reach| eval_error_weight(data, reach, batch.len(), w.len(), u, self.link))
                .collect()
        };
        let (unit, eps) = rows.unit_rows_with(&l1, &per);
        let error = if u == 0.0 {
            vec![0.0; w.len()]
        } else {
            finish_eval_error(&eps, batch.len(), w.len())
        };
        let batch = batch.to_vec();
        let localise: Box<dyn Fn(i64) -> RowBound<'d> + 'd> = match self.link {
            Link::Identity => Box::new(move |_| RowBound::new(data, &batch, 1, |_, _| 1.0)),
            Link::Logistic => Box::new(move |radius| {
                let curvature = sums
                    .iter()
                    .map(|&[l1, _, z, size]| logistic_curvature(data, z, size, l1, radius))
                    .collect();
                RowBound::from_curvature(data, &batch, 1, curvature)
            }),
            Link::Softmax => {
                let center = w.to_vec();
                Box::new(move |radius| {
                    let around = Around {
                        center: &center,
                        radius,
                    };
                    self.softmax_rows(data, &batch, Some(around))
                })
            }
        };
        Some(StepBounds::new(error, rows, unit, localise))
    }
}

/// σ'(z) = σ(1 − σ) ≤ 1/4 everywhere, and it decreases in |z|: over a box, |z| is at least
/// |z(center)| − reach.
fn logistic_rows<'d>(d: usize, data: &'d Dataset, batch: &[usize], a: Around) -> RowBound<'d> {
    // z = ⟨x, w⟩, Σ|x·w| and ‖x‖₁ (for the reach) of every example, in one pass.
    let all: Vec<usize> = (0..d).collect();
    let sums = sums_by_example(data, batch, &all, |k, x| {
        let t = x * a.center[k] as f64;
        [t, t.abs(), x.abs()]
    });
    let curvature: Vec<f64> = sums
        .iter()
        .map(|&[z, size, l1]| logistic_curvature(data, z, size, l1, a.radius))
        .collect();
    RowBound::from_curvature(data, batch, 1, curvature)
}

/// The bound on σ'(z') over the box of `radius` ulps around the centre, for an example with
/// raw logit `z` at the centre summed in f64 in index order, Σ|x_k·w_k| = `size` and raw ‖x‖₁
/// = `l1`.
fn logistic_curvature(data: &Dataset, z: f64, size: f64, l1: f64, radius: i64) -> f64 {
    let p = data.grid.frac_bits();
    // z summed in f64 is off by at most γ_{d+2}·Σ|x·w| < 1e-12·Σ|x·w| for any d below 10⁴;
    // that much is subtracted with the reach.
    let z = libm::ldexp(z.abs() - 1e-12 * size, -2 * p as i32) - reach_of_l1(data, l1, radius);
    let s = 1.0 / (1.0 + libm::exp(-z.max(0.0)));
    (s * (1.0 - s) * (1.0 + 1e-6)).min(0.25)
}

impl Linear {
    /// Row c of diag(p) − ppᵀ sums to 2p_c(1 − p_c) ≤ min(1/2, 2p_c), and over a box every p_c
    /// grows by at most e^{2·reach}.
    fn softmax_rows<'d>(
        &self,
        data: &'d Dataset,
        batch: &[usize],
        around: Option<Around>,
    ) -> RowBound<'d> {
        let p = data.grid.frac_bits();
        let w = around.map(|a| raw_to_f64(a.center, p));
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
            let grow = libm::exp(2.0 * logit_reach(data, i, a.radius)) * (1.0 + 1e-6);
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
        RowBound::new(data, batch, self.outputs, |i, c| {
            cache
                .get(&i)
                .and_then(|pr| pr.as_ref())
                .map_or(0.5, |pr| (2.0 * pr[c]).min(0.5))
        })
    }
}
