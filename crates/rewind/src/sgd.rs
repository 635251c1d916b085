//! Algorithm 1 of the paper, exactly on the grid: the one step function, per-epoch
//! permutations, batches, the optional stop at full accuracy, and the logged [`Trajectory`].
//!
//! The step (docs/design.md §2.2) is `W' = W − s_B(W)` with `s_B(W) = round_half_even(α·ĝ_B(W)·2^p)`.
//! [`StepFunction::increment`] computes s_B and [`StepFunction::step`] applies it; forward runs,
//! inversion and every check in the crate go through these two functions and nothing else.

use crate::data::Dataset;
use crate::grid::{checked_sub, Dyadic};
#[cfg(not(feature = "mpfr"))]
use crate::model::backend::BackendError;
#[cfg(feature = "mpfr")]
use crate::model::backend::Mpfr;
use crate::model::backend::{Backend, ErasedBackend, Exact, F64};
use crate::model::custom::{check_len, unerased};
use crate::model::kernels::ChunkRows;
use crate::model::AnyModel;
use crate::progress::{NoProgress, Phase, Progress};
use crate::rng::{permutation, stream, Stream};
use crate::Error;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Which backend evaluates the gradient. `Mpfr` is always a valid choice to name (configs,
/// reports and code files mention it), but evaluating with it needs the `mpfr` cargo feature;
/// without it every evaluation is `BackendError::MpfrNotBuilt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendChoice {
    /// Big rationals, no rounding before the step's (least squares only).
    Exact,
    /// MPFR at a working precision in bits.
    Mpfr {
        /// Working precision in bits.
        precision: u32,
    },
    /// IEEE double in a fixed evaluation order.
    F64,
}

/// A backend's family, without its parameters: what the command line, plans and code files
/// name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// [`BackendChoice::Exact`].
    Exact,
    /// [`BackendChoice::Mpfr`].
    Mpfr,
    /// [`BackendChoice::F64`].
    F64,
}

crate::named_enum!(BackendKind, "backend", { Exact => "exact", Mpfr => "mpfr", F64 => "f64" });

impl BackendKind {
    /// The backend of this family; `mpfr_precision` is used by MPFR only.
    pub fn choice(self, mpfr_precision: u32) -> BackendChoice {
        match self {
            BackendKind::Exact => BackendChoice::Exact,
            BackendKind::Mpfr => BackendChoice::Mpfr {
                precision: mpfr_precision,
            },
            BackendKind::F64 => BackendChoice::F64,
        }
    }
}

/// Runs `$e` with `$be` bound to the backend `$choice` names: the one place that maps a
/// [`BackendChoice`] to a backend value, and where a build without MPFR says so.
macro_rules! with_backend {
    ($choice:expr, $be:ident => $e:expr) => {
        match $choice {
            BackendChoice::Exact => {
                let $be = &Exact;
                $e
            }
            #[cfg(feature = "mpfr")]
            BackendChoice::Mpfr { precision } => {
                let $be = &Mpfr::new(precision);
                $e
            }
            #[cfg(not(feature = "mpfr"))]
            BackendChoice::Mpfr { .. } => Err(BackendError::MpfrNotBuilt.into()),
            BackendChoice::F64 => {
                let $be = &F64;
                $e
            }
        }
    };
}

impl BackendChoice {
    /// Whether this build can evaluate with the backend (MPFR needs the `mpfr` feature).
    pub fn is_available(&self) -> bool {
        cfg!(feature = "mpfr") || !matches!(self, BackendChoice::Mpfr { .. })
    }

    /// The unit roundoff u of the backend's arithmetic (0 for exact), known without building it.
    pub fn unit_roundoff(&self) -> f64 {
        match self {
            BackendChoice::Exact => Exact.unit_roundoff(),
            BackendChoice::Mpfr { precision } => libm::ldexp(1.0, -(*precision as i32)),
            BackendChoice::F64 => F64.unit_roundoff(),
        }
    }

    /// Its family.
    pub fn kind(&self) -> BackendKind {
        match self {
            BackendChoice::Exact => BackendKind::Exact,
            BackendChoice::Mpfr { .. } => BackendKind::Mpfr,
            BackendChoice::F64 => BackendKind::F64,
        }
    }

    /// The name used on the command line and in reports.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }
}

/// s_B and the step W ↦ W − s_B(W) for one model, data set, step size and backend.
#[derive(Debug)]
pub struct StepFunction<'a> {
    model: &'a AnyModel,
    data: &'a Dataset,
    alpha: Dyadic,
    backend: BackendChoice,
    /// Whether inversion may use the f64 predictor (docs/design.md §4.1).
    predictor: bool,
    evaluations: AtomicU64,
    predictor_evaluations: AtomicU64,
    progress: &'a dyn Progress,
    /// The data's non-zero features in f64, built on the first accuracy pass that uses them;
    /// `data` is borrowed for the step function's lifetime, so they cannot go stale.
    rows: OnceLock<ChunkRows>,
}

impl<'a> StepFunction<'a> {
    /// The step of `model` on `data` with step size α, gradients evaluated by `backend`; the
    /// f64 predictor is on and progress goes nowhere.
    pub fn new(
        model: &'a AnyModel,
        data: &'a Dataset,
        alpha: Dyadic,
        backend: BackendChoice,
    ) -> Self {
        StepFunction {
            model,
            data,
            alpha,
            backend,
            predictor: true,
            evaluations: AtomicU64::new(0),
            predictor_evaluations: AtomicU64::new(0),
            progress: &NoProgress,
            rows: OnceLock::new(),
        }
    }

    /// The same step function, reporting every phase that uses it to `progress`.
    pub fn with_progress(self, progress: &'a dyn Progress) -> Self {
        StepFunction { progress, ..self }
    }

    /// Where the phases using this step function report their progress.
    pub fn progress(&self) -> &dyn Progress {
        self.progress
    }

    /// The same step function with the f64 predictor of inversion switched on or off. The
    /// results of a run's inversions are deterministic either way, but the preimage found can
    /// differ between the two settings, so every side of a code or a walk back must use the
    /// same one.
    pub fn with_predictor(mut self, on: bool) -> Self {
        self.predictor = on;
        self
    }

    /// Whether inversion runs the f64 predictor first: only when it is switched on and the own
    /// backend is not f64 itself (then the predictor would be the same evaluation).
    pub fn has_predictor(&self) -> bool {
        self.predictor && self.backend != BackendChoice::F64
    }

    /// The model whose gradient is stepped.
    pub fn model(&self) -> &AnyModel {
        self.model
    }

    /// The quantised data set the batches index.
    pub fn data(&self) -> &Dataset {
        self.data
    }

    /// The step size α.
    pub fn alpha(&self) -> Dyadic {
        self.alpha
    }

    /// The backend that evaluates ĝ_B (docs/design.md §2.4).
    pub fn backend(&self) -> BackendChoice {
        self.backend
    }

    /// d, the number of weights of a model.
    pub fn dim(&self) -> usize {
        self.model.dim()
    }

    /// Gradient evaluations so far: those of the own backend plus those of the predictor.
    pub fn gradient_evaluations(&self) -> u64 {
        self.own_evaluations() + self.predictor_evaluations()
    }

    /// Evaluations by the run's own backend so far (one per call of
    /// [`increment`](Self::increment) or [`increment_with_residual`](Self::increment_with_residual)).
    pub fn own_evaluations(&self) -> u64 {
        self.evaluations.load(Ordering::Relaxed)
    }

    /// Evaluations by the f64 predictor so far (one per call of
    /// [`predict_increment`](Self::predict_increment)).
    pub fn predictor_evaluations(&self) -> u64 {
        self.predictor_evaluations.load(Ordering::Relaxed)
    }

    /// The predictor's s_B(W): the same model, data, α and evaluation order in f64. Nothing is
    /// ever concluded from it alone; inversion confirms its result with
    /// [`increment`](Self::increment).
    pub fn predict_increment(&self, w: &[i64], batch: &[usize]) -> Result<Vec<i64>, Error> {
        self.check_cancelled()?;
        self.predictor_evaluations.fetch_add(1, Ordering::Relaxed);
        Ok(self.increment_with(&F64, w, batch)?.0)
    }

    /// The step increment s_B(W) = round_half_even(α·ĝ_B(W)·2^p), as raw integers.
    pub fn increment(&self, w: &[i64], batch: &[usize]) -> Result<Vec<i64>, Error> {
        Ok(self.increment_with_residual(w, batch)?.0)
    }

    /// s_B(W) and, per coordinate, the residual a − s ∈ [−½, ½] of the unrounded
    /// a = α·ĝ_B(W)·2^p: how close each coordinate came to rounding the other way.
    pub fn increment_with_residual(
        &self,
        w: &[i64],
        batch: &[usize],
    ) -> Result<(Vec<i64>, Vec<f64>), Error> {
        self.check_cancelled()?;
        self.evaluations.fetch_add(1, Ordering::Relaxed);
        with_backend!(self.backend, be => self.increment_with(be, w, batch))
    }

    /// Every phase evaluates gradients through this step function, so a stop asked for by the
    /// front end is seen within one evaluation, whichever phase is running.
    fn check_cancelled(&self) -> Result<(), Error> {
        if self.progress.cancelled() {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    }

    /// The unit roundoff of the backend's arithmetic (0 for exact).
    pub fn unit_roundoff(&self) -> f64 {
        self.backend.unit_roundoff()
    }

    fn increment_with<B: Backend>(
        &self,
        be: &B,
        w: &[i64],
        batch: &[usize],
    ) -> Result<(Vec<i64>, Vec<f64>), Error> {
        let p = self.data.grid.frac_bits();
        let wr: Vec<B::R> = w.iter().map(|&k| be.raw(k, p)).collect();
        let m = self.model.as_dyn();
        let g = unerased(m, be, m.dyn_gradient(be.erase(&wr), self.data, batch)?)?;
        let mut s = Vec::with_capacity(g.len());
        let mut residual = Vec::with_capacity(g.len());
        for gk in &g {
            let (sk, rk) = be.round_step_residual(gk, self.alpha, p)?;
            s.push(sk);
            residual.push(rk);
        }
        Ok((s, residual))
    }

    /// One SGD step W' = W − s_B(W), with every subtraction checked.
    pub fn step(&self, w: &[i64], batch: &[usize]) -> Result<Vec<i64>, Error> {
        let s = self.increment(w, batch)?;
        Self::apply(w, &s)
    }

    /// W − s for an increment already computed: the second half of [`step`](Self::step).
    pub fn apply(w: &[i64], s: &[i64]) -> Result<Vec<i64>, Error> {
        Ok(checked_sub(w, s, "a model after a step")?)
    }

    /// acc(W, x_i).
    pub fn correct(&self, w: &[i64], i: usize) -> Result<bool, Error> {
        Ok(with_backend!(self.backend, be => self.correct_erased(be.erase_backend(), w, &[i]))?[0])
    }

    /// acc(W, x) for each of `indices`, in parallel over fixed chunks of examples: each answer
    /// is one example's own boolean, so the result cannot depend on the thread count.
    pub fn correct_many(&self, w: &[i64], indices: &[usize]) -> Result<Vec<bool>, Error> {
        if let (BackendChoice::F64, AnyModel::Mlp(m)) = (self.backend, self.model) {
            let p = self.data.grid.frac_bits();
            let rows = self
                .rows
                .get_or_init(|| ChunkRows::new(&self.data.features, p));
            let wf = m.weights_f64(w, p);
            return in_chunks(indices, |part| {
                Ok(m.correct_many_f64(&wf, self.data, rows, part)?)
            });
        }
        if let AnyModel::Linear(m) = self.model {
            if m.is_binary() {
                let rows = self.rows.get_or_init(|| {
                    ChunkRows::new(&self.data.features, self.data.grid.frac_bits())
                });
                let wf = m.weights_f64(w, self.data.grid.frac_bits());
                return in_chunks(indices, |part| {
                    Ok(m.correct_binary_filtered(w, &wf, self.data, rows, part))
                });
            }
        }
        in_chunks(
            indices,
            |part| with_backend!(self.backend, be => self.correct_erased(be.erase_backend(), w, part)),
        )
    }

    /// acc(W, x) for `indices` from the model's own answers, which a user's model may get wrong
    /// in length.
    fn correct_erased(
        &self,
        be: ErasedBackend<'_>,
        w: &[i64],
        indices: &[usize],
    ) -> Result<Vec<bool>, Error> {
        let m = self.model.as_dyn();
        let c = m.dyn_correct_many(be, w, self.data, indices)?;
        check_len(m.dyn_name(), "correct_many", c.len(), indices.len())?;
        Ok(c)
    }
}

/// `f` over fixed chunks of `indices` in parallel, the answers concatenated in order.
fn in_chunks(
    indices: &[usize],
    f: impl Fn(&[usize]) -> Result<Vec<bool>, Error> + Sync,
) -> Result<Vec<bool>, Error> {
    use rayon::prelude::*;
    if indices.len() <= ACCURACY_CHUNK {
        return f(indices);
    }
    let parts = indices
        .par_chunks(ACCURACY_CHUNK)
        .map(&f)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(parts.concat())
}

/// Examples per parallel task of the accuracy pass: enough that scheduling a task costs little
/// beside its work.
const ACCURACY_CHUNK: usize = 256;

/// The parameters of Algorithm 1 itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SgdConfig {
    /// Batch size b.
    pub batch: usize,
    /// Number of epochs t.
    pub epochs: usize,
    /// Seed of the permutation stream.
    pub seed: u64,
    /// Line 6 of Algorithm 1: return as soon as acc(W, X) = 1.
    pub stop_at_full_accuracy: bool,
    /// Examples used: the first ⌊n/b⌋·b of the data set (the tail is dropped so that every
    /// batch has b examples, as the paper assumes b | n).
    pub n_used: usize,
}

/// One logged step: the batch in order and the model before the step.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LoggedStep {
    /// Epoch i, from 1.
    pub epoch: usize,
    /// Step j within the epoch, from 1.
    pub step: usize,
    /// B_i,j: example indices in the order of the permutation.
    pub batch: Vec<usize>,
    /// W_i,j: the model before the step, raw grid integers.
    pub w: Vec<i64>,
}

/// Everything Algorithm 1 did: every model, batch and permutation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trajectory {
    /// Every step in run order: its epoch, batch and the model before it.
    pub steps: Vec<LoggedStep>,
    /// The model after the last step (W_{t+1,1}, or the model returned by the early stop).
    pub final_model: Vec<i64>,
    /// The permutation of each epoch that was started.
    pub permutations: Vec<Vec<usize>>,
    /// `Some((epoch, step))` when the run stopped because acc(W, X) = 1 before that step.
    pub stopped_at: Option<(usize, usize)>,
    /// acc(W, x) of every model before its step, for every example: the stop check of line 6
    /// computes it anyway, and the discrepancy needs it again. Empty when the stop is off.
    pub correct: Vec<Vec<bool>>,
}

impl Trajectory {
    /// W₁,₁.
    pub fn initial_model(&self) -> &[i64] {
        self.steps.first().map_or(&self.final_model, |s| &s.w)
    }

    /// The model after step `k` (0-based over the whole run).
    pub fn model_after(&self, k: usize) -> &[i64] {
        self.steps.get(k + 1).map_or(&self.final_model, |s| &s.w)
    }
}

/// Receives the run as it happens (e.g. to stream it to a file).
pub trait Observer {
    /// Called after each step is logged; an error stops the run.
    fn on_step(&mut self, step: &LoggedStep) -> Result<(), Error>;
    /// Called once with the final model; an error fails the run.
    fn on_final(&mut self, w: &[i64]) -> Result<(), Error>;
}

/// An observer that does nothing.
pub struct NoObserver;

impl Observer for NoObserver {
    fn on_step(&mut self, _: &LoggedStep) -> Result<(), Error> {
        Ok(())
    }
    fn on_final(&mut self, _: &[i64]) -> Result<(), Error> {
        Ok(())
    }
}

/// How a step turns W into the next model: plain SGD, or an optimizer with state of its own
/// (momentum, [`crate::momentum`]). A step is proposed from W alone and accepted only when
/// Algorithm 1 takes it, so a step computed beside a stop check that says stop leaves no trace.
pub trait Optimizer: Sync {
    /// A proposed step: the next model and whatever state the optimizer would move to.
    type Proposal: Send;
    /// The step from W on `batch`, without changing the optimizer.
    fn propose(&self, w: &[i64], batch: &[usize]) -> Result<Self::Proposal, Error>;
    /// Takes a proposed step and returns the next model.
    fn accept(&mut self, proposal: Self::Proposal) -> Vec<i64>;
}

/// Plain SGD: the step W − s_B(W) of docs/design.md §2.2 and no state.
pub struct Plain<'f, 'a>(pub &'f StepFunction<'a>);

impl Optimizer for Plain<'_, '_> {
    type Proposal = Vec<i64>;
    fn propose(&self, w: &[i64], batch: &[usize]) -> Result<Vec<i64>, Error> {
        self.0.step(w, batch)
    }
    fn accept(&mut self, next: Vec<i64>) -> Vec<i64> {
        next
    }
}

/// Runs Algorithm 1 from `init` and logs every step.
pub fn run(
    f: &StepFunction,
    cfg: &SgdConfig,
    init: Vec<i64>,
    observer: &mut dyn Observer,
) -> Result<Trajectory, Error> {
    run_with(f, cfg, init, observer, &mut Plain(f))
}

/// Algorithm 1 with the step of `opt`: the same permutations, batches and stop as [`run`].
pub fn run_with<O: Optimizer>(
    f: &StepFunction,
    cfg: &SgdConfig,
    init: Vec<i64>,
    observer: &mut dyn Observer,
    opt: &mut O,
) -> Result<Trajectory, Error> {
    let (mut steps, mut correct) = (Vec::new(), Vec::new());
    let end = run_streamed(f, cfg, init, observer, opt, &mut |step, before| {
        steps.push(step);
        correct.extend(before);
        Ok(())
    })?;
    Ok(Trajectory {
        steps,
        final_model: end.final_model,
        permutations: end.permutations,
        stopped_at: end.stopped_at,
        correct,
    })
}

/// What Algorithm 1 leaves besides its steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunEnd {
    /// The model after the last step, as [`Trajectory::final_model`].
    pub final_model: Vec<i64>,
    /// The permutation of each epoch that was started.
    pub permutations: Vec<Vec<usize>>,
    /// As [`Trajectory::stopped_at`].
    pub stopped_at: Option<(usize, usize)>,
}

/// Receives each step of a streamed run with acc(W, x) of its model before it, when the stop
/// check computed that.
pub type StepSink<'s> = dyn FnMut(LoggedStep, Option<Vec<bool>>) -> Result<(), Error> + 's;

/// Algorithm 1 handing each step to `sink` as it is taken instead of keeping it: the same
/// permutations, batches, stop and observer calls as [`run_with`], in O(d + n) memory of its
/// own besides the permutations (docs/design.md §7.5).
pub fn run_streamed<O: Optimizer>(
    f: &StepFunction,
    cfg: &SgdConfig,
    init: Vec<i64>,
    observer: &mut dyn Observer,
    opt: &mut O,
    sink: &mut StepSink<'_>,
) -> Result<RunEnd, Error> {
    let mut rng = stream(cfg.seed, Stream::Permutation);
    let mut w = init;
    let (mut permutations, mut stopped_at) = (Vec::new(), None);
    let all: Vec<usize> = (0..cfg.n_used).collect();
    let per_epoch = cfg.n_used.checked_div(cfg.batch).unwrap_or(0);
    f.progress()
        .begin(Phase::Run, (cfg.epochs.saturating_mul(per_epoch)) as u64);
    'epochs: for epoch in 1..=cfg.epochs {
        let perm = permutation(&mut rng, cfg.n_used);
        for (j, batch) in perm.chunks(cfg.batch).enumerate() {
            let (next, before) = if cfg.stop_at_full_accuracy {
                // The stop check and the step read the same W and nothing else, so they run side
                // by side: the step (one batch, serial) hides inside the parallel accuracy pass.
                // A step taken past the stop is dropped unseen, as if never computed.
                let proposer = &*opt;
                let (correct, next) =
                    rayon::join(|| f.correct_many(&w, &all), || proposer.propose(&w, batch));
                let correct = correct?;
                if correct.iter().all(|&c| c) {
                    stopped_at = Some((epoch, j + 1));
                    permutations.push(perm.clone());
                    break 'epochs;
                }
                (opt.accept(next?), Some(correct))
            } else {
                let next = opt.propose(&w, batch)?;
                (opt.accept(next), None)
            };
            let logged = LoggedStep {
                epoch,
                step: j + 1,
                batch: batch.to_vec(),
                w,
            };
            observer.on_step(&logged)?;
            sink(logged, before)?;
            w = next;
            f.progress().advance(1);
        }
        permutations.push(perm);
    }
    observer.on_final(&w)?;
    Ok(RunEnd {
        final_model: w,
        permutations,
        stopped_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;
    use crate::grid::Grid;
    use crate::model::{Linear, Link};
    use num_bigint::BigInt;
    use proptest::prelude::*;

    proptest! {
        /// The accuracy pass of the binary linear models (f64 dots behind a proven sign test)
        /// answers as the models' exact `correct` does, also on dots that are 0 or a few units
        /// from it among products of 2^90.
        #[test]
        fn the_filtered_accuracy_pass_is_the_exact_one(
            rows in proptest::collection::vec((
                proptest::collection::vec(prop_oneof![Just(0i64), -(1i64 << 40)..(1i64 << 40)], 9),
                -3i64..3,
            ), 1..40),
            w in proptest::collection::vec(-(1i64 << 50)..(1i64 << 50), 9),
            small in -3i64..3,
            logistic in any::<bool>(),
        ) {
            // Features and weights in pairs (a, a) and (v, −v): the large products cancel
            // exactly and the dot is the last, small one, often 0 or ±1 unit.
            let features: Vec<Vec<i64>> = rows
                .iter()
                .map(|(r, last)| r.iter().flat_map(|&a| [a, a]).chain([*last]).collect())
                .collect();
            let w: Vec<i64> = w.iter().flat_map(|&v| [v, -v]).chain([small]).collect();
            let labels: Vec<u32> = (0..features.len() as u32).map(|i| i % 2).collect();
            let data = Dataset {
                grid: Grid::new(24).unwrap(),
                features,
                labels,
                classes: 2,
                class_names: vec![0, 1],
                scale_log2: 0,
                has_bias: false,
                source: "test".into(),
            };
            let link = if logistic { Link::Logistic } else { Link::Identity };
            let model = AnyModel::Linear(Linear::new(&data, link));
            let f = StepFunction::new(&model, &data, Dyadic::new(1, 4).unwrap(), BackendChoice::F64);
            let all: Vec<usize> = (0..data.n()).collect();
            let filtered = f.correct_many(&w, &all).unwrap();
            let exact: Vec<bool> = all
                .iter()
                .map(|&i| {
                    let dot: BigInt = data.features[i].iter().zip(&w).map(|(&x, &v)| BigInt::from(x) * v).sum();
                    dot.sign() == num_bigint::Sign::Plus && data.labels[i] == 1
                        || dot.sign() == num_bigint::Sign::Minus && data.labels[i] == 0
                })
                .collect();
            prop_assert_eq!(filtered, exact);
        }
    }
}
