//! Models: the per-example losses f_x whose batch gradients drive SGD (paper Section 2).
//!
//! One trait, [`Model`], per mathematical concept as in argmin's `Gradient`: a model knows its
//! dimension, its batch gradient ĝ_B (written once, generically over a [`Backend`]), whether
//! it classifies an example correctly (`acc(W, x)`), its smoothness bound L_B, and — where it
//! is cheap and exact — its batch Hessian, from which the predicted share of many-to-one steps
//! 1 − det(I − αH_B) is computed (docs/design.md §3.3).
//!
//! Smoothness bounds (all on the batch mean of the per-example losses, for every batch of
//! `b` examples of the data set, so one α serves the whole run):
//! - least squares: L_B = λ_max((1/b)Σ xxᵀ) ≤ min(max_B (1/b)Σ‖x‖², max_B max_k (1/b)Σ|x_k|‖x‖₁)
//!   — the trace bound and the Gershgorin (∞-norm) bound, both certified;
//! - logistic regression: the same times 1/4 (σ' ≤ 1/4);
//! - softmax regression: the same times 1/2 (λ_max(diag p − ppᵀ) ≤ max_c 2p_c(1−p_c) ≤ 1/2);
//! - MLP: no global bound; a local estimate by power iteration, labelled as an estimate.

pub mod backend;
pub mod custom;
pub mod kernels;
mod linear;
mod mlp;

pub use custom::{CustomModel, DynModel};
pub use linear::{Linear, Link, LowRankHessian};
pub use mlp::{power_iteration, Activation, Mlp};

use crate::data::Dataset;
use backend::{Backend, BackendError};
use num_bigint::{BigInt, Sign};
use num_rational::BigRational;
use num_traits::{One, ToPrimitive};
use rand_core::RngCore;

/// The model family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// Binary least squares on labels ±1.
    LeastSquares,
    /// Binary logistic regression.
    Logistic,
    /// Multi-class softmax regression.
    Softmax,
    /// One-hidden-layer perceptron with softmax output.
    Mlp,
}

crate::named_enum!(ModelKind, "model", {
    LeastSquares => "least-squares",
    Logistic => "logistic",
    Softmax => "softmax",
    Mlp => "mlp",
});

impl ModelKind {
    /// Whether the model takes exactly two classes.
    pub fn binary(self) -> bool {
        matches!(self, ModelKind::LeastSquares | ModelKind::Logistic)
    }
}

/// A smoothness constant of the batch loss, with its status.
#[derive(Debug, Clone, PartialEq)]
pub enum Smoothness {
    /// A proven upper bound on L_B for every batch of the run (docs/design.md §2.5).
    Certified {
        /// The bound, exactly, in real (not raw) units: L_B ≤ `bound`.
        bound: BigRational,
        /// Which bound won and with which factor, for the report.
        how: String,
    },
    /// A numerical estimate (the MLP's power iteration): not a certificate, and reported as one.
    Estimate {
        /// The estimated λ_max of the Hessian, in real units.
        value: f64,
        /// How the estimate was made, for the report.
        how: String,
    },
}

impl Smoothness {
    /// The bound or estimate as f64 (+∞ if a certified bound does not fit), for display and for
    /// the ratio α·L_B.
    pub fn to_f64(&self) -> f64 {
        match self {
            Smoothness::Certified { bound, .. } => {
                ToPrimitive::to_f64(bound).unwrap_or(f64::INFINITY)
            }
            Smoothness::Estimate { value, .. } => *value,
        }
    }

    /// True for a proven bound, false for an estimate; the report labels the bound with it, and
    /// only a proven bound refuses an `--alpha` with α·L_B ≥ 1 (docs/design.md §2.3).
    pub fn is_certified(&self) -> bool {
        matches!(self, Smoothness::Certified { .. })
    }

    /// The description of how the bound or estimate was obtained.
    pub fn how(&self) -> &str {
        match self {
            Smoothness::Certified { how, .. } | Smoothness::Estimate { how, .. } => how,
        }
    }
}

/// A smooth per-example loss with a classification rule.
pub trait Model: Send + Sync {
    /// The name used on the command line and in reports.
    fn name(&self) -> &'static str;
    /// Number of parameters d.
    fn dim(&self) -> usize;
    /// ĝ_B(W) = (1/|B|) Σ_{x∈B} ∇f_x(W) in the backend's arithmetic, summing over the batch in
    /// its given order and over coordinates in index order (no reordering, no parallelism).
    fn batch_gradient<B: Backend>(
        &self,
        be: &B,
        w: &[B::R],
        data: &Dataset,
        batch: &[usize],
    ) -> Result<Vec<B::R>, BackendError>;
    /// acc(W, x) for example `i`: true when it is classified correctly.
    fn correct<B: Backend>(
        &self,
        be: &B,
        w: &[i64],
        data: &Dataset,
        i: usize,
    ) -> Result<bool, BackendError>;
    /// acc(W, x) for many examples; models override it to share work across examples.
    fn correct_many<B: Backend>(
        &self,
        be: &B,
        w: &[i64],
        data: &Dataset,
        indices: &[usize],
    ) -> Result<Vec<bool>, BackendError> {
        indices
            .iter()
            .map(|&i| self.correct(be, w, data, i))
            .collect()
    }
    /// A bound (or an estimate) on L_B valid for every batch of `batch` examples of `data`.
    fn smoothness(&self, data: &Dataset, batch: usize, w: &[i64]) -> Smoothness;
    /// The batch Hessian at `w` in f64, row-major d×d, where it has a closed form.
    fn hessian(&self, w: &[f64], data: &Dataset, batch: &[usize]) -> Option<Vec<f64>>;
    /// The label as the loss uses it (±1 for least squares, the class index otherwise).
    fn loss_label(&self, class: u32) -> i64 {
        class as i64
    }
    /// A random initial model W₁,₁ on the grid of `data`.
    fn init(&self, rng: &mut dyn RngCore, data: &Dataset) -> Vec<i64>;
    /// The model's certified bounds, which certification and `--q-inf` need; `None` when it
    /// has none (the MLP).
    fn bounds(&self) -> Option<&dyn CertifiedBounds> {
        None
    }
}

/// What a model can prove about its batch Hessian and its evaluation error: the bounds behind
/// `--q-inf` and certification (docs/design.md §4.3), kept apart from [`Model`] so that a model
/// without them is a complete model.
pub trait CertifiedBounds {
    /// A certified bound L_∞ on the row sums of |H_B| (the ∞-norm Lipschitz constant of the
    /// gradient) valid for every batch of `batch` examples.
    fn linf_bound(&self, data: &Dataset, batch: usize) -> BigRational;
    /// The certified structure of the batch Hessian's absolute row sums, from which
    /// Σ_j sup|H_kj|·r_j is bounded for any radii r ([`RowBound::rows`]): over every U when
    /// `around` is `None`, or over the box of `around.radius` ulps around `around.center`, where
    /// the loss's curvature can be bounded more tightly.
    fn row_bound<'d>(
        &self,
        data: &'d Dataset,
        batch: &[usize],
        around: Option<Around>,
    ) -> RowBound<'d>;
    /// A rigorous bound, per coordinate and in real units, on |ĝ_k(U) − ∇f_B(U)_k| for a backend
    /// with unit roundoff `u`, valid for every U within `slack` ulps of `w`; `None` when the
    /// model has no such bound for this backend.
    fn evaluation_error(
        &self,
        data: &Dataset,
        batch: &[usize],
        w: &[i64],
        slack: i64,
        u: f64,
    ) -> Option<Vec<f64>>;
    /// Everything certification asks of one step at `w` ([`StepBounds`]): the values of
    /// [`evaluation_error`](Self::evaluation_error), of [`row_bound`](Self::row_bound) over
    /// every U and of its rows at radius 1 in every coordinate, and the box-restricted row
    /// bound on demand. A model may share its passes over the batch between them; the default
    /// calls the methods above one by one.
    fn step_bounds<'d>(
        &'d self,
        data: &'d Dataset,
        batch: &[usize],
        w: &[i64],
        slack: i64,
        u: f64,
    ) -> Option<StepBounds<'d>> {
        let error = self.evaluation_error(data, batch, w, slack, u)?;
        let rows = self.row_bound(data, batch, None);
        let unit = rows.rows(&vec![1; w.len()]);
        let (batch, center) = (batch.to_vec(), w.to_vec());
        Some(StepBounds::new(error, rows, unit, move |radius| {
            let around = Around {
                center: &center,
                radius,
            };
            self.row_bound(data, &batch, Some(around))
        }))
    }
}

/// The certified bounds of one step at a point V, as [`CertifiedBounds::step_bounds`] gives
/// them (docs/design.md §4.3).
pub struct StepBounds<'d> {
    /// Per coordinate, the bound of [`CertifiedBounds::evaluation_error`] at V.
    pub error: Vec<f64>,
    /// The row-sum structure valid over every U ([`CertifiedBounds::row_bound`] with `None`).
    pub rows: RowBound<'d>,
    /// `rows.rows(&[1; dim])`, bit for bit: Σ_j sup|H_kj| for every row k.
    pub unit: Vec<f64>,
    /// The row-sum structure over the box of a given radius around V.
    localise: Box<dyn Fn(i64) -> RowBound<'d> + 'd>,
}

impl<'d> StepBounds<'d> {
    /// Collects the bounds; `localise(radius)` must give [`CertifiedBounds::row_bound`] on the
    /// box of `radius` ulps around V.
    pub fn new(
        error: Vec<f64>,
        rows: RowBound<'d>,
        unit: Vec<f64>,
        localise: impl Fn(i64) -> RowBound<'d> + 'd,
    ) -> Self {
        StepBounds {
            error,
            rows,
            unit,
            localise: Box::new(localise),
        }
    }

    /// The row-sum structure over the box of `radius` ulps around V.
    pub fn localise(&self, radius: i64) -> RowBound<'d> {
        (self.localise)(radius)
    }
}

/// The models of a run, behind one enum so that runs can pick one at run time: the four of the
/// command line and any user's own ([`AnyModel::custom`]).
#[derive(Debug, Clone)]
pub enum AnyModel {
    /// Least squares, logistic or softmax regression.
    Linear(Linear),
    /// The one-hidden-layer MLP.
    Mlp(Mlp),
    /// A model defined outside rewind.
    Custom(CustomModel),
}

/// The pipeline reaches every model through its object-safe form ([`DynModel`]), so the enum
/// needs no [`Model`] implementation of its own that would forward each method three ways; the
/// variants stay apart for the built-in models' batched shortcuts (docs/design.md §2.5).
impl AnyModel {
    /// A user's own model, run by the same pipeline as the built-in ones.
    pub fn custom<M: Model + std::fmt::Debug + 'static>(model: M) -> Self {
        AnyModel::Custom(CustomModel::new(model))
    }

    /// The model as the pipeline calls it: gradients and acc(W, x) on an erased backend
    /// ([`DynModel::dyn_gradient`], [`DynModel::dyn_correct_many`]).
    pub fn as_dyn(&self) -> &dyn DynModel {
        match self {
            AnyModel::Linear(m) => m,
            AnyModel::Mlp(m) => m,
            AnyModel::Custom(m) => m.inner(),
        }
    }

    /// [`Model::name`].
    pub fn name(&self) -> &'static str {
        self.as_dyn().dyn_name()
    }

    /// [`Model::dim`].
    pub fn dim(&self) -> usize {
        self.as_dyn().dyn_dim()
    }

    /// [`Model::smoothness`].
    pub fn smoothness(&self, data: &Dataset, batch: usize, w: &[i64]) -> Smoothness {
        self.as_dyn().dyn_smoothness(data, batch, w)
    }

    /// [`Model::hessian`].
    pub fn hessian(&self, w: &[f64], data: &Dataset, batch: &[usize]) -> Option<Vec<f64>> {
        self.as_dyn().dyn_hessian(w, data, batch)
    }

    /// [`Model::loss_label`].
    pub fn loss_label(&self, class: u32) -> i64 {
        self.as_dyn().dyn_loss_label(class)
    }

    /// [`Model::init`].
    pub fn init(&self, rng: &mut dyn RngCore, data: &Dataset) -> Vec<i64> {
        self.as_dyn().dyn_init(rng, data)
    }

    /// [`Model::bounds`].
    pub fn bounds(&self) -> Option<&dyn CertifiedBounds> {
        self.as_dyn().dyn_bounds()
    }
}

/// The exact integer ⟨x, w⟩ of two raw vectors (a value of scale 2^-2p).
pub(crate) fn dot_exact(x: &[i64], w: &[i64]) -> BigInt {
    dot_i128(x, w).map_or_else(|| dot_big(x, w), BigInt::from)
}

/// The sign of [`dot_exact`], without building a big integer unless the i128 sum overflows:
/// the accuracy pass of a binary linear model asks only this, once per example.
pub(crate) fn dot_exact_sign(x: &[i64], w: &[i64]) -> Sign {
    dot_sign_f64(x, w).unwrap_or_else(|| exact_sign(x, w))
}

/// The sign of ⟨x, w⟩ from the integers alone: for the sums an f64 filter cannot decide.
pub(crate) fn exact_sign(x: &[i64], w: &[i64]) -> Sign {
    match dot_i128(x, w).map(|v| v.cmp(&0)) {
        Some(std::cmp::Ordering::Greater) => Sign::Plus,
        Some(std::cmp::Ordering::Less) => Sign::Minus,
        Some(std::cmp::Ordering::Equal) => Sign::NoSign,
        None => dot_big(x, w).sign(),
    }
}

/// The sign of ⟨x, w⟩ from an f64 evaluation, where its error bound proves it; `None` near
/// zero, where only the exact sum can tell (docs/design.md §2.5).
///
/// Each term fl(fl(x)·fl(w)) is within 3.01u of x·w (u = 2⁻⁵³: two conversions and a product)
/// and any order of summing n terms adds at most (n − 1)u·Σ|terms|, so the computed sum is
/// within (n + 3)u·Σ|x·w|(1 + O(u)) of the exact one. The test allows 4(n + 4)u times the
/// computed Σ|terms|, more than twice that, so a sum beyond it has the exact sum's sign. Four
/// accumulators let the loop run at the machine's width; the bound holds for any order.
fn dot_sign_f64(x: &[i64], w: &[i64]) -> Option<Sign> {
    let (mut s, mut a) = ([0.0f64; 4], [0.0f64; 4]);
    let (xc, wc) = (x.chunks_exact(4), w.chunks_exact(4));
    let tail = xc.remainder().iter().zip(wc.remainder());
    for (xs, ws) in xc.zip(wc) {
        for k in 0..4 {
            let p = xs[k] as f64 * ws[k] as f64;
            s[k] += p;
            a[k] += p.abs();
        }
    }
    for (&xi, &wi) in tail {
        let p = xi as f64 * wi as f64;
        s[0] += p;
        a[0] += p.abs();
    }
    let sum = (s[0] + s[1]) + (s[2] + s[3]);
    let abs = (a[0] + a[1]) + (a[2] + a[3]);
    sign_if_certain(sum, abs, x.len().min(w.len()))
}

/// The sign of a sum of `terms` products evaluated in f64 as `sum`, with `abs` the computed
/// sum of their magnitudes, where the error bound of [`dot_sign_f64`] proves it. Scaling both
/// factors by powers of two (the grid's 2^-p) changes neither the sign nor the bound.
pub(crate) fn sign_if_certain(sum: f64, abs: f64, terms: usize) -> Option<Sign> {
    let bound = 4.0 * (terms as f64 + 4.0) * (f64::EPSILON / 2.0) * abs;
    if sum > bound {
        Some(Sign::Plus)
    } else if sum < -bound {
        Some(Sign::Minus)
    } else {
        None
    }
}

/// ⟨x, w⟩ in i128, or `None` when a partial sum overflows (each product of two i64 fits).
fn dot_i128(x: &[i64], w: &[i64]) -> Option<i128> {
    x.iter().zip(w).try_fold(0i128, |acc, (&a, &b)| {
        acc.checked_add(a as i128 * b as i128)
    })
}

fn dot_big(x: &[i64], w: &[i64]) -> BigInt {
    x.iter()
        .zip(w)
        .map(|(&a, &b)| BigInt::from(a) * BigInt::from(b))
        .sum()
}

/// The certified bound c·min(trace bound, Gershgorin bound) of a model whose batch Hessian is
/// (1/b)Σ A_x ⊗ xxᵀ with λ_max(A_x) and its ∞-norm both at most `factor` (docs/design.md §2.5).
/// Public so that a user's own linear model can reuse it.
pub fn certified_linear_bound(data: &Dataset, batch: usize, factor: BigRational) -> Smoothness {
    let sq: Vec<BigInt> = data.features.iter().map(|x| dot_exact(x, x)).collect();
    let trace = per_batch(data, batch, top_sum(sq, batch));
    let gersh = certified_linf_bound(data, batch, &BigRational::one());
    let (best, which) = if gersh < trace {
        (gersh, "Gershgorin row-sum bound")
    } else {
        (trace, "trace bound (1/b)Σ‖x‖²")
    };
    Smoothness::Certified {
        bound: best * factor.clone(),
        how: format!("{which} × {factor}, maximised over all batches of {batch} examples"),
    }
}

/// The certified ∞-norm bound L_∞ = c·max_B max_k (1/b)Σ_{x∈B}|x_k|‖x‖₁ on the row sums of
/// |H_B| (the Gershgorin bound), for the models of [`certified_linear_bound`].
pub fn certified_linf_bound(data: &Dataset, batch: usize, factor: &BigRational) -> BigRational {
    let l1: Vec<BigInt> = data
        .features
        .iter()
        .map(|x| x.iter().map(|&v| BigInt::from(v.unsigned_abs())).sum())
        .collect();
    let best = (0..data.d())
        .map(|k| {
            let col: Vec<BigInt> = data
                .features
                .iter()
                .zip(&l1)
                .map(|(x, s)| BigInt::from(x[k].unsigned_abs()) * s)
                .collect();
            top_sum(col, batch)
        })
        .max()
        .unwrap_or_default();
    per_batch(data, batch, best) * factor
}

/// A sum of `batch` products of raw features as a batch mean in real units.
fn per_batch(data: &Dataset, batch: usize, sum: BigInt) -> BigRational {
    let p2 = BigInt::one() << (2 * data.grid.frac_bits());
    BigRational::new(sum, p2 * BigInt::from(batch as u64))
}

/// The sum of the `k` largest values: the worst batch of `k` examples.
fn top_sum(mut v: Vec<BigInt>, k: usize) -> BigInt {
    v.sort_unstable_by(|a, b| b.cmp(a));
    v.into_iter().take(k).sum()
}

/// Uniform initial weights in ±2^p/⌈√fan_in⌉ raw units, row by row (drawn from `rng`, the
/// run's initial-model stream).
pub fn uniform_init(
    rng: &mut dyn RngCore,
    data: &Dataset,
    fan_in: usize,
    count: usize,
) -> Vec<i64> {
    let root = (1..).find(|r: &i64| r * r >= fan_in as i64).unwrap_or(1);
    let bound = data.grid.one() / root;
    (0..count)
        .map(|_| crate::rng::uniform_in(rng, -bound, bound))
        .collect()
}

/// The f64 value of raw grid integers.
pub(crate) fn raw_to_f64(raw: &[i64], frac_bits: u32) -> Vec<f64> {
    // Scaling by a power of two is exact (the result is far from subnormal), as ldexp is.
    let unit = libm::ldexp(1.0, -(frac_bits as i32));
    raw.iter().map(|&k| k as f64 * unit).collect()
}

/// Relative slack added to bounds computed in f64, far above their own rounding error.
const BOUND_SLACK: f64 = 1.0 + 1e-9;

/// A box of the grid: every U with |U_k − center_k| ≤ radius ulps.
#[derive(Debug, Clone, Copy)]
pub struct Around<'a> {
    /// The centre of the box, raw grid integers (a verified preimage V, docs/design.md §4.3).
    pub center: &'a [i64],
    /// The half-width of the box in ulps, the same in every coordinate.
    pub radius: i64,
}

/// The absolute row sums of a batch Hessian of the form (1/b)Σ_x A_x ⊗ xxᵀ (the weights are
/// blocks of d feature weights, one block per class for softmax), where the rows of A_x for
/// block c sum in absolute value to at most `curvature[x][c]`. Then
/// Σ_j |H_kj| r_j ≤ (1/b)Σ_x |x_k|·`curvature[x][c]`·max_c' Σ_k' |x_k'| r_(c',k') for k in
/// block c.
#[derive(Debug, Clone, PartialEq)]
pub struct RowBound<'a> {
    data: &'a Dataset,
    batch: Vec<usize>,
    blocks: usize,
    /// Curvature bound of each batch example and block, `blocks` values per example.
    curvature: Vec<f64>,
}

impl<'a> RowBound<'a> {
    /// Builds the bound for `batch` with `curvature(i, c)` for example i and block c.
    pub fn new(
        data: &'a Dataset,
        batch: &[usize],
        blocks: usize,
        curvature: impl Fn(usize, usize) -> f64,
    ) -> Self {
        RowBound {
            data,
            batch: batch.to_vec(),
            blocks,
            curvature: batch
                .iter()
                .flat_map(|&i| (0..blocks).map(move |c| (i, c)))
                .map(|(i, c)| curvature(i, c))
                .collect(),
        }
    }

    /// The same from the curvature bounds already computed: `blocks` values per example of
    /// `batch`, in batch order.
    pub(crate) fn from_curvature(
        data: &'a Dataset,
        batch: &[usize],
        blocks: usize,
        curvature: Vec<f64>,
    ) -> Self {
        debug_assert_eq!(curvature.len(), batch.len() * blocks);
        RowBound {
            data,
            batch: batch.to_vec(),
            blocks,
            curvature,
        }
    }

    /// For every coordinate k, a bound on Σ_j sup|H_kj|·radius_j. Features are read as raw
    /// integers (exact in f64 below 2^53) and scaled once at the end.
    pub fn rows(&self, radius: &[i64]) -> Vec<f64> {
        self.rows_of(radius, None)
    }

    /// The same bound for the coordinates `only` (every coordinate when `None`), 0 for the
    /// others: each value is the one [`rows`](Self::rows) gives, bit for bit, but the work is
    /// proportional to the coordinates asked for and those with a non-zero radius, not to d.
    pub fn rows_of(&self, radius: &[i64], only: Option<&[usize]>) -> Vec<f64> {
        // t = max over blocks of Σ_k |x_k|·r_k per example; its terms that are not +0 have
        // r_k ≠ 0 (and adding +0 to a sum of non-negative terms changes nothing), so a radius
        // that is mostly zero costs little.
        let radius: Vec<f64> = radius.iter().map(|&r| r as f64).collect();
        let reach = largest_weighted_l1(self.data, &self.batch, &radius);
        let scale = self.scale();
        let Some(coords) = only else {
            let weights: Vec<f64> = self
                .curvature
                .chunks(self.blocks)
                .zip(&reach)
                .flat_map(|(curv, &t)| curv.iter().map(move |cv| cv * t))
                .collect();
            let mut row = column_sums(self.data, &self.batch, self.blocks, &weights);
            row.iter_mut().for_each(|v| *v *= scale);
            return row;
        };
        let d = self.data.d();
        let mut row = vec![0.0; self.blocks * d];
        // Each coordinate's feature and block, divided out once rather than per example.
        let split: Vec<(usize, usize, usize)> = coords.iter().map(|&k| (k, k % d, k / d)).collect();
        for ((&i, curv), &t) in self
            .batch
            .iter()
            .zip(self.curvature.chunks(self.blocks))
            .zip(&reach)
        {
            let x = &self.data.features[i];
            if t == 0.0 {
                continue;
            }
            for &(k, feature, block) in &split {
                let v = x[feature];
                if v != 0 {
                    row[k] += (v as f64).abs() * (curv[block] * t);
                }
            }
        }
        coords.iter().for_each(|&k| row[k] *= scale);
        row
    }

    /// The factor from raw Σ|x_k|·curvature·Σ|x_j|·r_j to the bound in real units: the batch
    /// mean, 2^-2p and the slack for f64 rounding.
    fn scale(&self) -> f64 {
        let p = self.data.grid.frac_bits() as i32;
        libm::ldexp(BOUND_SLACK / self.batch.len().max(1) as f64, -2 * p)
    }

    /// [`rows`](Self::rows) at radius 1 in every coordinate, bit for bit, from the raw ‖x‖₁ of
    /// every example of the batch (in batch order, each summed in index order), and in the same
    /// pass over the batch Σ_x |x_k|·extra[x] for every feature k (unscaled; empty when `extra`
    /// is).
    pub(crate) fn unit_rows_with(&self, l1: &[f64], extra: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let with_extra = usize::from(!extra.is_empty());
        let m = self.blocks + with_extra;
        let mut weights = Vec::with_capacity(m * self.batch.len());
        for (n, (curv, &t)) in self.curvature.chunks(self.blocks).zip(l1).enumerate() {
            // At radius 1 everywhere, the largest Σ_k |x_k|·r_k over the blocks is ‖x‖₁.
            weights.extend(curv.iter().map(|cv| cv * t));
            weights.extend(extra.get(n));
        }
        let mut cols = column_sums(self.data, &self.batch, m, &weights);
        let extra_cols = cols.split_off(self.blocks * self.data.d());
        let scale = self.scale();
        cols.iter_mut().for_each(|v| *v *= scale);
        (cols, extra_cols)
    }
}

/// For every column j of `weights` (`m` values per example of `batch`, in batch order) and
/// every feature k, Σ_x |x_k|·weights[x][j], added in batch order: entry j·d + k. Each sum is
/// added in the same order as a loop over the examples that adds |x_k|·w into every slot, so
/// the values are the same bit for bit; an example whose weights are all zero adds ±0 to
/// non-negative sums and is skipped, as is nothing else.
pub(crate) fn column_sums(data: &Dataset, batch: &[usize], m: usize, weights: &[f64]) -> Vec<f64> {
    let d = data.d();
    let mut out = vec![0.0; m * d];
    let mut abs = vec![0.0; d];
    for (&i, w) in batch.iter().zip(weights.chunks(m.max(1))) {
        if w.iter().all(|&v| v == 0.0) {
            continue;
        }
        for (a, &v) in abs.iter_mut().zip(&data.features[i]) {
            *a = (v as f64).abs();
        }
        for (col, &wj) in out.chunks_mut(d.max(1)).zip(w) {
            for (slot, &a) in col.iter_mut().zip(&abs) {
                *slot += a * wj;
            }
        }
    }
    out
}

/// For every example of `batch`, the sums Σ_k term(k, x_k) over the coordinates `ks`, in their
/// order. Each example's sums are added in the same order as a loop over that example alone,
/// so the values are the same bit for bit; but the loop runs over the coordinates outermost, so
/// the examples' additions proceed side by side instead of waiting for one another. There is
/// no test for zero features (a mispredicted branch costs more than the addition): callers'
/// terms for x_k = 0 add ±0, which leaves their sums unchanged.
pub(crate) fn sums_by_example<const N: usize>(
    data: &Dataset,
    batch: &[usize],
    ks: &[usize],
    term: impl Fn(usize, f64) -> [f64; N],
) -> Vec<[f64; N]> {
    let rows: Vec<&[i64]> = batch.iter().map(|&i| data.features[i].as_slice()).collect();
    // Feature k of every example, as f64 (exact below 2^53), gathered once per k so that the
    // sums below run over contiguous values, one accumulator array per sum.
    let mut column = vec![0.0; rows.len()];
    let mut acc = vec![[0.0; N]; rows.len()];
    for &k in ks {
        for (c, x) in column.iter_mut().zip(&rows) {
            *c = x[k] as f64;
        }
        for (a, &x) in acc.iter_mut().zip(&column) {
            for (slot, tn) in a.iter_mut().zip(term(k, x)) {
                *slot += tn;
            }
        }
    }
    acc
}

/// Σ_k |x_k|·r_k for every example of `batch`, the largest over the blocks of `r` (d values
/// each), as [`sums_by_example`] adds it; terms with r_k = 0 are +0 and skipped. |x_k| is
/// taken as `(x_k as f64).abs()`, the same value as `x_k.unsigned_abs() as f64` (rounding is
/// symmetric) from one instruction instead of an unsigned conversion.
pub(crate) fn largest_weighted_l1(data: &Dataset, batch: &[usize], r: &[f64]) -> Vec<f64> {
    let mut best = vec![0.0; batch.len()];
    for block in r.chunks(data.d().max(1)) {
        let ks: Vec<usize> = (0..block.len()).filter(|&k| block[k] != 0.0).collect();
        let sums = sums_by_example(data, batch, &ks, |k, v| [v.abs() * block[k]]);
        for (b, [s]) in best.iter_mut().zip(sums) {
            *b = f64::max(*b, s);
        }
    }
    best
}

/// The largest change of any logit ⟨w_c, x⟩ over the box: ‖x‖₁·radius·2^-p.
pub(crate) fn logit_reach(data: &Dataset, i: usize, radius: i64) -> f64 {
    let l1: f64 = data.features[i].iter().map(|&v| (v as f64).abs()).sum();
    reach_of_l1(data, l1, radius)
}

/// [`logit_reach`] from the raw ‖x‖₁ summed in index order, for a caller that has it already.
pub(crate) fn reach_of_l1(data: &Dataset, l1: f64, radius: i64) -> f64 {
    let p = data.grid.frac_bits();
    libm::ldexp(l1 * radius as f64, -2 * p as i32) * BOUND_SLACK
}

/// Forward-error bound of ĝ for the linear models: ⟨x, w⟩ summed in order with both factors converted (γ_{d+4}), the link
/// (with libm's or MPFR's exp within 2u), products, the batch sum (γ_b) and the division,
/// following the standard model |fl(a∘b) − a∘b| ≤ u|a∘b|. Inflated by 1% for the box.
pub(crate) fn linear_eval_error(
    data: &Dataset,
    batch: &[usize],
    w: &[i64],
    slack: i64,
    u: f64,
    link: Link,
) -> Vec<f64> {
    if u == 0.0 {
        return vec![0.0; w.len()];
    }
    let reach = largest_weighted_l1(data, batch, &error_box(data, w, slack));
    let per: Vec<f64> = reach
        .iter()
        .map(|&l1| eval_error_weight(data, l1, batch.len(), w.len(), u, link))
        .collect();
    finish_eval_error(&column_sums(data, batch, 1, &per), batch.len(), w.len())
}

/// |w_k| + slack ulps in real units: the largest |U_k| over the box of [`linear_eval_error`].
pub(crate) fn error_box(data: &Dataset, w: &[i64], slack: i64) -> Vec<f64> {
    let p = data.grid.frac_bits() as i32;
    // The values of raw_to_f64, converted one by one.
    let (unit, slack) = (libm::ldexp(1.0, -p), libm::ldexp(slack as f64, -p));
    w.iter().map(|&k| (k as f64 * unit).abs() + slack).collect()
}

/// Example x's weight in [`linear_eval_error`]: its error adds at most |x_k|·weight to
/// coordinate k's batch sum, given `l1` = max over the classes of Σ_k |x_k|·(|w_k| + slack)
/// (raw features, [`error_box`] weights) and a model of `dim` parameters.
pub(crate) fn eval_error_weight(
    data: &Dataset,
    l1: f64,
    b: usize,
    dim: usize,
    u: f64,
    link: Link,
) -> f64 {
    let d = data.d();
    let gamma = |n: usize| n as f64 * u / (1.0 - n as f64 * u);
    let classes = dim / d.max(1);
    let unit = libm::ldexp(1.0, -(data.grid.frac_bits() as i32));
    let s_max = l1 * unit;
    let e_z = gamma(d + 4) * s_max;
    let (e_r, r_mag) = match link {
        Link::Identity => {
            let e = e_z + 2.0 * u * (s_max + 1.0 + e_z);
            (e, s_max + 1.0 + e)
        }
        Link::Logistic => {
            let e = 0.25 * e_z + 8.0 * u;
            (e, 1.0 + e)
        }
        Link::Softmax => {
            let e = 0.5 * e_z + (classes as f64 + 8.0) * u;
            (e, 1.0 + e)
        }
    };
    (e_r + (b as f64 + 3.0) * u * r_mag) * unit
}

/// The batch mean of the column sums Σ_x |x_k|·weight (d values), inflated by 1%, repeated for
/// every class: [`linear_eval_error`]'s value.
pub(crate) fn finish_eval_error(sums: &[f64], b: usize, dim: usize) -> Vec<f64> {
    let scale = 1.01 / b as f64;
    sums.iter().map(|v| v * scale).cycle().take(dim).collect()
}

#[cfg(test)]
mod tests {
    use super::{dot_big, dot_exact, dot_exact_sign};
    use proptest::prelude::*;

    /// Values near the i64 limits make the i128 sum overflow after a few terms, so both the fast
    /// path and the big-integer fallback are exercised.
    fn entry() -> impl Strategy<Value = i64> {
        prop_oneof![-1000i64..1000, any::<i64>(), Just(i64::MIN), Just(i64::MAX)]
    }

    proptest! {
        #[test]
        fn the_sign_and_the_dot_are_the_big_integer_sum(
            pairs in proptest::collection::vec((entry(), entry()), 0..40)
        ) {
            let (x, w): (Vec<i64>, Vec<i64>) = pairs.into_iter().unzip();
            let exact = dot_big(&x, &w);
            prop_assert_eq!(dot_exact(&x, &w), exact.clone());
            prop_assert_eq!(dot_exact_sign(&x, &w), exact.sign());
        }

        /// Sums that cancel to a few units out of 2^100 or more: the f64 evaluation cannot
        /// see their sign, so the filter must pass them on, and what it decides is exact.
        #[test]
        fn the_f64_filter_never_decides_a_sum_it_cannot_see(
            big in proptest::collection::vec((1i64 << 40..i64::MAX, 1i64 << 40..i64::MAX), 1..30),
            small in proptest::collection::vec((-8i64..8, -8i64..8), 0..4),
            scale in 0u32..20,
        ) {
            // Each large product appears once with each sign, so the sum is the small ones'.
            let mut x = Vec::new();
            let mut w = Vec::new();
            for &(a, b) in &big {
                x.extend([a, a]);
                w.extend([b, -b]);
            }
            for &(a, b) in &small {
                x.push(a << scale);
                w.push(b);
            }
            prop_assert_eq!(dot_exact_sign(&x, &w), dot_big(&x, &w).sign());
            let (xr, wr): (Vec<i64>, Vec<i64>) = (x.iter().rev().copied().collect(), w.iter().rev().copied().collect());
            prop_assert_eq!(dot_exact_sign(&xr, &wr), dot_big(&xr, &wr).sign());
        }
    }
}
