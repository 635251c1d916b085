//! Section 4 of the paper, exactly on the grid: perturbed gradient descent GD(W, Y, δ)
//! (Algorithm 2), the SGD variant SGD′ that calls it once per batch (Algorithm 3), and the
//! exact reversal of a whole SGD′ run (the reversibility argument before Lemma 4.1).
//!
//! Every inner GD step is the crate's one step function ([`StepFunction::step`]) on the batch,
//! so each is inverted, hinted and certified exactly like an SGD step (docs/design.md §4); the
//! perturbation ψ_z that starts each GD call is undone with its z ([`crate::perturb`]).
//!
//! Conventions the paper leaves open, stated once:
//! - GD stops as soon as acc(W, Y) ≥ δ, checked before every step, or after T steps; so
//!   T_{i,j} ∈ [0, T] and T_{i,j} = 0 when the perturbed model already meets δ.
//! - SGD′ returns W_{i,j} as soon as acc(W_{i,j}, X) ≥ 1/(2(1 − ε)) (line 6, skipped with
//!   `stop_at_full_accuracy` off) and otherwise runs at most `epochs` epochs: without the cap a
//!   run that never terminates would never end.
//! - The thresholds are compared exactly: c correct of |Y| meets δ = 1/(2(1 − 2ε)) iff
//!   2c(1 − 2ε) ≥ |Y|.

use crate::codec::entropy::{decode_gd, encode_gd, CodeOptions, GdCode, KnownCall, RunShape};
use crate::codec::hint::{HintSet, StepRecord};
use crate::config::Setup;
use crate::discrepancy::{beta_leading, EpochDiscrepancy};
use crate::grid::parse_rational;
use crate::invert::{Outcome, Termination};
use crate::perturb::Perturbation;
use crate::reconstruct::{analyse, hints_of, rewind};
use crate::report::{
    model_sha256, AlgorithmReport, CertificationReport, CodeReport, EpochGdSteps,
    EpochPerturbation, GdStepsReport, HintReport, InversionReport, Lemma41Epoch,
    PerturbationReport, ReconstructionReport,
};
use crate::rng::{permutation, stream, Stream};
use crate::sgd::{LoggedStep, SgdConfig, StepFunction, Trajectory};
use crate::Error;
use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive};
use rayon::prelude::*;

/// ℓ when none is given (`--perturbation-length`, a plan's `perturbation_length`).
pub const DEFAULT_LENGTH: usize = 4;
/// m when none is given.
pub const DEFAULT_BITS: u32 = 8;
/// s when none is given.
pub const DEFAULT_SCALE: u32 = 16;
/// ε when none is given.
pub const DEFAULT_EPSILON: &str = "0.1";
/// T when none is given.
pub const DEFAULT_MAX_GD_STEPS: usize = 100;

/// The largest T accepted, at encoding as at decoding: a code file's header names T, and the
/// decoder's work per GD call is bounded by it (docs/design.md §5.5).
pub const MAX_GD_STEPS: usize = 16_384;

/// The parameters of Algorithms 2 and 3 beyond those of Algorithm 1.
#[derive(Debug, Clone, PartialEq)]
pub struct SgdPrimeConfig {
    /// Ψ_ℓ: ℓ, m and the scale of each GD call's perturbation.
    pub perturbation: Perturbation,
    /// ε ∈ [0, 1/4]: SGD′ stops at acc(W, X) ≥ 1/(2(1 − ε)); GD aims at 1/(2(1 − 2ε)).
    pub epsilon: BigRational,
    /// T: the most GD steps one call may take.
    pub max_gd_steps: usize,
}

impl SgdPrimeConfig {
    /// Parses ε (a decimal or a fraction) and checks every parameter.
    pub fn new(
        perturbation: Perturbation,
        epsilon: &str,
        max_gd_steps: usize,
    ) -> Result<Self, Error> {
        if max_gd_steps > MAX_GD_STEPS {
            return Err(Error::Config(format!(
                "--max-gd-steps {max_gd_steps} is above {MAX_GD_STEPS}; use at most {MAX_GD_STEPS}"
            )));
        }
        // A fraction of two small integers: a longer text is no ε a run was given.
        let eps = (epsilon.len() <= 64)
            .then(|| parse_rational(epsilon.trim()))
            .flatten()
            .filter(|e| !e.is_negative() && *e <= BigRational::new(1.into(), 4.into()))
            .ok_or_else(|| {
                Error::Config(format!(
                    "--epsilon {epsilon} must be a number from 0 to 1/4 (so that GD's target 1/(2(1 − 2ε)) is at most 1), e.g. --epsilon 0.1"
                ))
            })?;
        Ok(SgdPrimeConfig {
            perturbation,
            epsilon: eps,
            max_gd_steps,
        })
    }

    /// δ = 1/(2(1 − 2ε)), GD's target accuracy on its batch.
    pub fn batch_target(&self) -> BigRational {
        target(&self.epsilon, 2)
    }

    /// 1/(2(1 − ε)), the accuracy on X at which SGD′ returns.
    pub fn stop_target(&self) -> BigRational {
        target(&self.epsilon, 1)
    }

    /// Checks the parameters against the setup: a binary task, and ℓ at most the model's d
    /// (`W_z[i] = z[i mod ℓ]` never reads a value beyond the d-th, so its bits would be spent for
    /// nothing).
    pub fn check_setup(&self, setup: &Setup) -> Result<(), Error> {
        if setup.data.classes != 2 {
            return Err(Error::Config(format!(
                "--algorithm sgd-prime needs a binary task but the data has {} classes; choose two with --classes A,B",
                setup.data.classes
            )));
        }
        let d = crate::model::Model::dim(&setup.model);
        if self.perturbation.length > d {
            return Err(Error::Config(format!(
                "--perturbation-length {} is above the model's {d} parameters (W_z[i] = z[i mod ℓ] would never use the rest); use at most {d}",
                self.perturbation.length
            )));
        }
        Ok(())
    }
}

fn target(eps: &BigRational, k: i64) -> BigRational {
    let two = BigRational::from_integer(BigInt::from(2));
    let denom = &two * (BigRational::one() - BigRational::from_integer(k.into()) * eps);
    BigRational::one() / denom
}

/// Whether `correct` of `total` meets the accuracy `target`, exactly.
fn meets(correct: usize, total: usize, target: &BigRational) -> bool {
    total > 0 && BigRational::new(BigInt::from(correct), BigInt::from(total)) >= *target
}

/// One GD call of SGD′: the batch, W_{i,j}, its perturbation and every inner model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GdCall {
    /// Epoch i, from 1.
    pub epoch: usize,
    /// Batch j within the epoch, from 1.
    pub step: usize,
    /// B_{i,j} in permutation order.
    pub batch: Vec<usize>,
    /// W_{i,j}: the model before the call (before its perturbation).
    pub w: Vec<i64>,
    /// z: the perturbation's ℓ values.
    pub z: Vec<i64>,
    /// The model before each inner step; the first is ψ_z(W_{i,j}). Its length is T_{i,j}.
    pub inner: Vec<Vec<i64>>,
    /// Whether the call met δ (otherwise it stopped after T steps).
    pub reached: bool,
}

impl GdCall {
    /// T_{i,j}, the GD steps this call took.
    pub fn gd_steps(&self) -> usize {
        self.inner.len()
    }
}

/// Everything Algorithm 3 did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SgdPrimeRun {
    /// Every GD call, in run order.
    pub calls: Vec<GdCall>,
    /// The model SGD′ returned, or the model after its last epoch.
    pub final_model: Vec<i64>,
    /// Every epoch's permutation that was started.
    pub permutations: Vec<Vec<usize>>,
    /// `Some((epoch, j))` when SGD′ returned before batch j of that epoch.
    pub stopped_at: Option<(usize, usize)>,
    /// acc(W_{i,j}, x) before every call, for every example (line 6's check).
    pub correct: Vec<Vec<bool>>,
}

impl SgdPrimeRun {
    /// The model after call `k` (W_{i,j+1}).
    pub fn after(&self, k: usize) -> &[i64] {
        self.calls.get(k + 1).map_or(&self.final_model, |c| &c.w)
    }

    /// The run as Algorithm 1 sees it: one "step" per GD call, W_{i,j} before it. This is the
    /// view the accuracy discrepancy and the batch code of Lemma 3.1 work on.
    pub fn outer(&self) -> Trajectory {
        Trajectory {
            steps: self
                .calls
                .iter()
                .map(|c| LoggedStep {
                    epoch: c.epoch,
                    step: c.step,
                    batch: c.batch.clone(),
                    w: c.w.clone(),
                })
                .collect(),
            final_model: self.final_model.clone(),
            permutations: self.permutations.clone(),
            stopped_at: self.stopped_at,
            correct: self.correct.clone(),
        }
    }

    /// Call `k`'s inner GD steps as a trajectory of their own, from ψ_z(W_{i,j}) to W_{i,j+1}.
    pub fn inner(&self, k: usize) -> Trajectory {
        let c = &self.calls[k];
        Trajectory {
            steps: c
                .inner
                .iter()
                .map(|w| LoggedStep {
                    epoch: c.epoch,
                    step: c.step,
                    batch: c.batch.clone(),
                    w: w.clone(),
                })
                .collect(),
            final_model: self.after(k).to_vec(),
            permutations: Vec::new(),
            stopped_at: None,
            correct: Vec::new(),
        }
    }

    /// Σ T_{i,j}: every inner step of the run.
    pub fn inner_steps(&self) -> usize {
        self.calls.iter().map(GdCall::gd_steps).sum()
    }

    /// Where call `k`'s inner steps start in the run's order of inner steps.
    pub fn offsets(&self) -> Vec<usize> {
        self.calls
            .iter()
            .scan(0, |acc, c| {
                let at = *acc;
                *acc += c.gd_steps();
                Some(at)
            })
            .collect()
    }
}

/// What one GD call returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GdResult {
    /// The model GD returned.
    pub model: Vec<i64>,
    /// The model before each of its steps, ψ_z(W) first.
    pub inner: Vec<Vec<i64>>,
    /// Whether it met its target (otherwise it stopped after T steps).
    pub reached: bool,
}

/// A call walked back: W_{i,j} and the model before each inner step.
pub type WalkedCall = (Vec<i64>, Vec<Vec<i64>>);

/// Algorithm 2, GD(W, Y, δ) with the perturbation z already drawn: ψ_z(W), then full-batch
/// steps on `batch` until acc ≥ `target` or `max_steps` steps. Returns the final model, the
/// model before each step, and whether the target was met.
pub fn gd(
    f: &StepFunction,
    w: &[i64],
    batch: &[usize],
    target: &BigRational,
    max_steps: usize,
    perturbation: &Perturbation,
    z: &[i64],
) -> Result<GdResult, Error> {
    let mut v = perturbation.apply(w, z)?;
    let mut inner = Vec::new();
    loop {
        let correct = f.correct_many(&v, batch)?;
        let reached = meets(correct.iter().filter(|&&c| c).count(), batch.len(), target);
        if reached || inner.len() >= max_steps {
            return Ok(GdResult {
                model: v,
                inner,
                reached,
            });
        }
        let next = f.step(&v, batch)?;
        inner.push(std::mem::replace(&mut v, next));
    }
}

/// Whether a decoded GD call is what Algorithm 2 does: from W = `w`, ψ_z(W) is `inner[0]`, each
/// inner model steps to the next (the last to `next`), the target is not met before any of
/// them, and GD stops where it did (target met, or `max_steps` steps). The work is bounded by
/// the decoded steps, not by T.
pub fn replays(
    f: &StepFunction,
    p: &SgdPrimeConfig,
    w: &[i64],
    batch: &[usize],
    z: &[i64],
    inner: &[Vec<i64>],
    next: &[i64],
) -> Result<bool, Error> {
    let delta = p.batch_target();
    let reached = |v: &[i64]| -> Result<bool, Error> {
        let correct = f.correct_many(v, batch)?;
        Ok(meets(
            correct.iter().filter(|&&c| c).count(),
            batch.len(),
            &delta,
        ))
    };
    if inner.len() > p.max_gd_steps {
        return Ok(false);
    }
    let mut v = p.perturbation.apply(w, z)?;
    for logged in inner {
        if v != *logged || reached(&v)? {
            return Ok(false);
        }
        v = f.step(&v, batch)?;
    }
    Ok(v == next && (inner.len() == p.max_gd_steps || reached(&v)?))
}

/// Algorithm 3, SGD′, from `init`: per epoch a permutation (the same stream as Algorithm 1)
/// cut into batches, a stop check before every batch, and one GD call per batch with a fresh z
/// from the perturbation stream.
pub fn run(
    f: &StepFunction,
    cfg: &SgdConfig,
    p: &SgdPrimeConfig,
    init: Vec<i64>,
) -> Result<SgdPrimeRun, Error> {
    let mut perms = stream(cfg.seed, Stream::Permutation);
    let mut zs = stream(cfg.seed, Stream::Perturbation);
    let (delta, stop) = (p.batch_target(), p.stop_target());
    let all: Vec<usize> = (0..cfg.n_used).collect();
    let mut out = SgdPrimeRun {
        calls: Vec::new(),
        final_model: Vec::new(),
        permutations: Vec::new(),
        stopped_at: None,
        correct: Vec::new(),
    };
    let mut w = init;
    'epochs: for epoch in 1..=cfg.epochs {
        let perm = permutation(&mut perms, cfg.n_used);
        for (j, batch) in perm.chunks(cfg.batch).enumerate() {
            let correct = f.correct_many(&w, &all)?;
            let c = correct.iter().filter(|&&c| c).count();
            if cfg.stop_at_full_accuracy && meets(c, all.len(), &stop) {
                out.stopped_at = Some((epoch, j + 1));
                out.permutations.push(perm.clone());
                break 'epochs;
            }
            out.correct.push(correct);
            let z = p.perturbation.draw(&mut zs);
            let GdResult {
                model: next,
                inner,
                reached,
            } = gd(f, &w, batch, &delta, p.max_gd_steps, &p.perturbation, &z)?;
            out.calls.push(GdCall {
                epoch,
                step: j + 1,
                batch: batch.to_vec(),
                w,
                z,
                inner,
                reached,
            });
            w = next;
        }
        out.permutations.push(perm);
    }
    out.final_model = w;
    Ok(out)
}

/// Inverts every inner step of every call from the logged model after it (calls in parallel;
/// the result does not depend on the thread count).
pub fn analyse_run(
    f: &StepFunction,
    run: &SgdPrimeRun,
    max_iterations: u32,
) -> Result<Vec<Vec<StepRecord>>, Error> {
    (0..run.calls.len())
        .into_par_iter()
        .map(|k| analyse(f, &run.inner(k), max_iterations))
        .collect()
}

/// The hints of a whole run, keyed by the inner step's index in run order.
pub fn hints_of_run(records: &[Vec<StepRecord>]) -> HintSet {
    let flat: Vec<StepRecord> = records.iter().flatten().cloned().collect();
    hints_of(&flat)
}

/// What the decoder of a GD call knows: its batch, its z and T_{i,j}.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallShape {
    /// B_{i,j} in permutation order.
    pub batch: Vec<usize>,
    /// z: the perturbation's ℓ values.
    pub z: Vec<i64>,
    /// T_{i,j}, the inner steps to invert.
    pub gd_steps: usize,
}

/// Walks back from `final_model` through the calls (in run order) with the hints alone: per
/// call, T_{i,j} inner steps inverted with the batch (Lemma 2.1 applied T_{i,j} times), then
/// ψ_z undone. Returns, per call, W_{i,j} and the inner models, W₁,₁ first.
pub fn rewind_run(
    f: &StepFunction,
    final_model: &[i64],
    calls: &[CallShape],
    perturbation: &Perturbation,
    hints: &HintSet,
    max_iterations: u32,
) -> Result<Vec<WalkedCall>, Error> {
    let mut out = vec![(Vec::new(), Vec::new()); calls.len()];
    let mut end: usize = calls.iter().map(|c| c.gd_steps).sum();
    let mut w = final_model.to_vec();
    for k in (0..calls.len()).rev() {
        let c = &calls[k];
        let start = end - c.gd_steps;
        let local = HintSet {
            hints: hints
                .hints
                .range(start..end)
                .map(|(&i, h)| (i - start, h.clone()))
                .collect(),
        };
        let batches = vec![c.batch.clone(); c.gd_steps];
        let inner = rewind(f, &w, &batches, &local, max_iterations).map_err(|e| match e {
            Error::Reconstruction { step } => Error::Reconstruction { step: start + step },
            e => e,
        })?;
        let perturbed = inner.first().map_or(w.as_slice(), Vec::as_slice);
        w = perturbation.undo(perturbed, &c.z)?;
        out[k] = (w.clone(), inner);
        end = start;
    }
    Ok(out)
}

/// The shapes the decoder of a run needs, from the logged run.
pub fn call_shapes(run: &SgdPrimeRun) -> Vec<CallShape> {
    run.calls
        .iter()
        .map(|c| CallShape {
            batch: c.batch.clone(),
            z: c.z.clone(),
            gd_steps: c.gd_steps(),
        })
        .collect()
}

/// The q-quantile (nearest rank) of sorted values; 0 for none.
fn quantile(sorted: &[usize], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1] as f64
}

/// The median (mean of the two middle values for an even count).
fn median(sorted: &[usize]) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2] as f64,
        n => (sorted[n / 2 - 1] + sorted[n / 2]) as f64 / 2.0,
    }
}

/// The `gd_steps` section from the run and its inner inversions.
pub fn gd_steps_report(
    run: &SgdPrimeRun,
    records: &[Vec<StepRecord>],
    max_gd_steps: usize,
    d: usize,
) -> GdStepsReport {
    let sorted = |calls: &[&GdCall]| {
        let mut v: Vec<usize> = calls.iter().map(|c| c.gd_steps()).collect();
        v.sort_unstable();
        v
    };
    let at_cap = |c: &&&GdCall| !c.reached && c.gd_steps() >= max_gd_steps;
    let all: Vec<&GdCall> = run.calls.iter().collect();
    let all_sorted = sorted(&all);
    let epochs = run
        .permutations
        .iter()
        .enumerate()
        .map(|(e, _)| {
            let idx: Vec<usize> = (0..run.calls.len())
                .filter(|&k| run.calls[k].epoch == e + 1)
                .collect();
            let calls: Vec<&GdCall> = idx.iter().map(|&k| &run.calls[k]).collect();
            let recs: Vec<&StepRecord> = idx.iter().flat_map(|&k| &records[k]).collect();
            let count = |o: Outcome| recs.iter().filter(|r| r.outcome == o).count();
            let s = sorted(&calls);
            EpochGdSteps {
                epoch: e + 1,
                calls: calls.len(),
                total: s.iter().sum(),
                median: median(&s),
                p90: quantile(&s, 0.9),
                max: s.last().copied().unwrap_or(0),
                at_cap: calls.iter().filter(at_cap).count(),
                recovered: count(Outcome::Recovered),
                other_preimage: count(Outcome::OtherPreimage),
                no_preimage: count(Outcome::NoPreimage),
                hinted: recs.iter().filter(|r| r.hint.is_some()).count(),
                hint_bits: recs
                    .iter()
                    .filter_map(|r| r.hint.as_ref())
                    .map(|h| h.bits(d))
                    .sum(),
            }
        })
        .collect();
    GdStepsReport {
        total: all_sorted.iter().sum(),
        median: median(&all_sorted),
        p90: quantile(&all_sorted, 0.9),
        max: all_sorted.last().copied().unwrap_or(0),
        share_at_cap: if all.is_empty() {
            0.0
        } else {
            all.iter().filter(at_cap).count() as f64 / all.len() as f64
        },
        epochs,
    }
}

/// The `perturbation` section.
pub fn perturbation_report(run: &SgdPrimeRun, p: &Perturbation) -> PerturbationReport {
    let per = p.random_bits();
    PerturbationReport {
        length: p.length,
        bits: p.bits,
        scale_shift: p.shift,
        bits_per_call: per,
        total_bits: per * run.calls.len() as u64,
        epochs: (1..=run.permutations.len())
            .map(|e| {
                let calls = run.calls.iter().filter(|c| c.epoch == e).count();
                EpochPerturbation {
                    epoch: e,
                    calls,
                    bits: per * calls as u64,
                }
            })
            .collect(),
    }
}

/// The `algorithm` section (without the code's epochs).
pub fn algorithm_report(run: &SgdPrimeRun, p: &SgdPrimeConfig) -> AlgorithmReport {
    AlgorithmReport {
        name: "sgd-prime".into(),
        epsilon: p.epsilon.to_string(),
        batch_target: p.batch_target().to_f64().unwrap_or(f64::NAN),
        stop_target: p.stop_target().to_f64().unwrap_or(f64::NAN),
        max_gd_steps: p.max_gd_steps,
        terminated: run.stopped_at.is_some(),
        terminated_in_epoch: run.stopped_at.map(|(e, _)| e),
        calls: run.calls.len(),
        code_epochs: Vec::new(),
    }
}

/// Counts over every inner step's inversion, as the `inversion` section reports them.
pub fn termination_counts(records: &[Vec<StepRecord>]) -> (usize, usize) {
    let flat = records.iter().flatten();
    let cycles = flat
        .clone()
        .filter(|r| matches!(r.termination, Termination::Cycle { .. }))
        .count();
    let caps = flat.filter(|r| r.termination == Termination::Cap).count();
    (cycles, caps)
}

/// Everything a verification of SGD′ produced.
#[derive(Debug, Clone)]
pub struct VerifiedSgdPrime {
    /// The report, as `rewind verify --algorithm sgd-prime --json` prints it.
    pub report: crate::report::VerifyReport,
    /// Every call, permutation and inner model of the run.
    pub run: SgdPrimeRun,
    /// Per call, what inverting each inner step gave (empty when `invert` is off).
    pub records: Vec<Vec<StepRecord>>,
}

/// `rewind verify --algorithm sgd-prime`: runs SGD′, inverts every inner step, walks back to
/// W₁,₁ with the hints and the z's alone, and reports (with the Lemma 4.1 code when `code` is
/// on).
pub fn verify(setup: &Setup, p: &SgdPrimeConfig) -> Result<VerifiedSgdPrime, Error> {
    p.check_setup(setup)?;
    let f = setup.step_function();
    let c = &setup.config;
    let run = run(&f, &setup.sgd_config(), p, setup.init.clone())?;
    let outer = run.outer();
    let inverted = if c.invert {
        Some(invert_run(&f, &run, p, c.max_iterations)?)
    } else {
        None
    };
    let records = inverted
        .as_ref()
        .map(|i| i.records.clone())
        .unwrap_or_default();
    let certification = match (c.certify, &inverted) {
        (Some(budget), Some(_)) => Some(certify_run(&f, &run, &records, budget)?),
        _ => None,
    };
    let correct = crate::verify::correctness(&f, &outer)?;
    let discrepancy = crate::verify::discrepancy_report(setup, &outer, &correct);
    let mut algorithm = algorithm_report(&run, p);
    let code = match (c.code, &inverted) {
        (true, Some(_)) => {
            let (code, epochs) = code_report(setup, &f, &run, &records, p, &discrepancy.epochs)?;
            algorithm.code_epochs = epochs;
            Some(code)
        }
        _ => None,
    };
    let n = setup.data.n() as f64;
    let acc = |k: usize| correct[k].iter().filter(|&&c| c).count() as f64 / n;
    let mut warnings = setup.warnings.clone();
    if run.inner_steps() > 0 && !run.calls.iter().any(|c| c.inner.iter().any(|w| *w != c.w)) {
        warnings.extend(crate::verify::run_warnings(setup, &run.inner(0)));
    }
    let report = crate::report::VerifyReport {
        format: crate::report::FORMAT,
        config: crate::verify::config_report(setup),
        run: crate::report::RunReport {
            epochs_run: run.permutations.len(),
            stopped_at_full_accuracy: run.stopped_at.is_some(),
            initial_accuracy: acc(0),
            final_accuracy: acc(run.calls.len()),
            final_model_sha256: model_sha256(&run.final_model),
        },
        steps: run.inner_steps(),
        inversion: inverted.as_ref().map(|i| i.inversion.clone()),
        hints: inverted.as_ref().map(|i| i.hints.clone()),
        reconstruction: inverted.as_ref().map(|i| i.reconstruction.clone()),
        certification,
        discrepancy,
        code,
        algorithm: Some(algorithm),
        perturbation: Some(perturbation_report(&run, &p.perturbation)),
        gd_steps: Some(gd_steps_report(
            &run,
            &records,
            p.max_gd_steps,
            crate::model::Model::dim(&setup.model),
        )),
        momentum: None,
        warnings,
    };
    Ok(VerifiedSgdPrime {
        report,
        run,
        records,
    })
}

/// Every inner step inverted, the hints derived and the walk back checked.
struct InvertedRun {
    records: Vec<Vec<StepRecord>>,
    inversion: InversionReport,
    hints: HintReport,
    reconstruction: ReconstructionReport,
}

fn invert_run(
    f: &StepFunction,
    run: &SgdPrimeRun,
    p: &SgdPrimeConfig,
    max_iterations: u32,
) -> Result<InvertedRun, Error> {
    let (own_before, predictor_before) = (f.own_evaluations(), f.predictor_evaluations());
    let records = analyse_run(f, run, max_iterations)?;
    let hints = hints_of_run(&records);
    let walked = rewind_run(
        f,
        &run.final_model,
        &call_shapes(run),
        &p.perturbation,
        &hints,
        max_iterations,
    )?;
    let own = f.own_evaluations() - own_before;
    let predictor = f.predictor_evaluations() - predictor_before;
    let flat: Vec<&StepRecord> = records.iter().flatten().collect();
    let steps = flat.len();
    let count = |o: Outcome| flat.iter().filter(|r| r.outcome == o).count();
    let (cycles, caps) = termination_counts(&records);
    let initial = run.calls.first().map_or(&run.final_model, |c| &c.w);
    let inner_flat = Trajectory {
        steps: (0..run.calls.len())
            .flat_map(|k| run.inner(k).steps)
            .collect(),
        final_model: run.final_model.clone(),
        permutations: Vec::new(),
        stopped_at: None,
        correct: Vec::new(),
    };
    let inversion = InversionReport {
        recovered: count(Outcome::Recovered),
        other_preimage: count(Outcome::OtherPreimage),
        no_preimage: count(Outcome::NoPreimage),
        cycles,
        caps,
        mean_iterations: crate::verify::mean(flat.iter().map(|r| r.iterations as f64)),
        gradient_evaluations: own + predictor,
        own_backend_evaluations: own,
        predictor_evaluations: predictor,
        predicted_many_to_one: crate::many_to_one::predicted_many_to_one(f, &inner_flat),
        observed_many_to_one: if steps == 0 {
            0.0
        } else {
            hints.hints.len() as f64 / steps as f64
        },
    };
    let hint_report = HintReport {
        steps: hints.hints.len(),
        bits: hints.bits(steps, f.dim()),
        coding: "over all inner GD steps: count and subset rank of hinted steps; per hint nnz−1, positions as a subset rank, values as sign + Elias-γ".into(),
    };
    let reconstruction = ReconstructionReport {
        initial_model_bit_exact: walked
            .first()
            .map_or(run.calls.is_empty(), |(w, _)| w == initial),
        all_models_bit_exact: walked
            .iter()
            .zip(&run.calls)
            .all(|((w, inner), c)| *w == c.w && *inner == c.inner),
        final_model_sha256: model_sha256(&run.final_model),
        initial_model_sha256: model_sha256(initial),
    };
    Ok(InvertedRun {
        records,
        inversion,
        hints: hint_report,
        reconstruction,
    })
}

/// Certifies every inner step (per call, with the crate's certifier) and adds up the counts.
fn certify_run(
    f: &StepFunction,
    run: &SgdPrimeRun,
    records: &[Vec<StepRecord>],
    budget: u64,
) -> Result<CertificationReport, Error> {
    let mut total: Option<CertificationReport> = None;
    let mut certified_steps = 0usize;
    for (k, recs) in records.iter().enumerate() {
        if recs.is_empty() {
            continue;
        }
        let r = crate::verify::certify_all(f, &run.inner(k), recs, budget)?;
        let steps = recs.len();
        total = Some(match total {
            None => r,
            Some(t) => CertificationReport {
                unique: t.unique + r.unique,
                ambiguous: t.ambiguous + r.ambiguous,
                unknown: t.unknown + r.unknown,
                unknown_non_contractive: t.unknown_non_contractive + r.unknown_non_contractive,
                unknown_budget: t.unknown_budget + r.unknown_budget,
                unknown_no_certified_bound: t.unknown_no_certified_bound
                    + r.unknown_no_certified_bound,
                unknown_radius_too_large: t.unknown_radius_too_large + r.unknown_radius_too_large,
                optimal_hint_bits: t.optimal_hint_bits + r.optimal_hint_bits,
                gradient_evaluations: t.gradient_evaluations + r.gradient_evaluations,
                budget,
                // Weighted by steps: an approximation where some enumerations failed.
                mean_free_coordinates: (t.mean_free_coordinates * certified_steps as f64
                    + r.mean_free_coordinates * steps as f64)
                    / (certified_steps + steps) as f64,
                max_free_coordinates: t.max_free_coordinates.max(r.max_free_coordinates),
                max_preimages: t.max_preimages.max(r.max_preimages),
                evaluation_error: r.evaluation_error,
            },
        });
        certified_steps += steps;
    }
    match total {
        Some(t) => Ok(t),
        None => crate::verify::certify_all(f, &run.outer(), &[], budget),
    }
}

/// The Section 4 part of the code for this run (the encoder's view when `known` is given).
pub fn gd_code<'a>(
    run: &SgdPrimeRun,
    p: &SgdPrimeConfig,
    known: Option<(&'a SgdPrimeRun, &'a [Vec<StepRecord>])>,
) -> GdCode<'a> {
    GdCode {
        perturbation: p.perturbation,
        max_gd_steps: p.max_gd_steps,
        inner_steps: run.inner_steps(),
        known: known.map(|(run, records)| {
            run.calls
                .iter()
                .zip(records)
                .map(|(c, r)| KnownCall {
                    z: &c.z,
                    inner: &c.inner,
                    records: r,
                })
                .collect()
        }),
    }
}

/// Encodes the run with the code of Lemma 4.1, decodes it from the final model alone and
/// compares; per epoch the code beside ⌈log₂ n!⌉ and the lemma's bound.
fn code_report(
    setup: &Setup,
    f: &StepFunction,
    run: &SgdPrimeRun,
    records: &[Vec<StepRecord>],
    p: &SgdPrimeConfig,
    rho: &[EpochDiscrepancy],
) -> Result<(CodeReport, Vec<Lemma41Epoch>), Error> {
    let outer = run.outer();
    let (n, b) = (setup.data.n(), setup.config.batch);
    let shape = RunShape::of(&outer, n, b);
    let opts = CodeOptions {
        certify: setup.config.certify.map(crate::certify::certifier),
        max_iterations: setup.config.max_iterations,
    };
    let enc = encode_gd(
        f,
        &outer,
        shape,
        opts,
        gd_code(run, p, Some((run, records))),
    )?;
    let dec = decode_gd(
        f,
        &run.final_model,
        shape,
        &enc.code,
        opts,
        gd_code(run, p, None),
    )?;
    let roundtrip = dec.permutations == run.permutations
        && dec.models.len() == run.calls.len()
        && run.calls.iter().enumerate().all(|(k, c)| {
            dec.batches[k] == c.batch
                && dec.models[k] == c.w
                && dec.gd_calls[k].z == c.z
                && dec.gd_calls[k].inner == c.inner
        });
    let nf = n as f64;
    let lemma_base = nf * (nf / std::f64::consts::E).log2() + beta_leading(n, b);
    let mut epochs = Vec::new();
    let mut lemma = Vec::new();
    for e in &enc.epochs {
        let d = rho.iter().find(|d| d.epoch == e.epoch);
        let report = crate::verify::epoch_code_report(e, d, b as f64);
        let rp = report.b_rho_paper;
        epochs.push(report);
        lemma.push(Lemma41Epoch {
            epoch: e.epoch,
            bits: e.bits,
            baseline_bits: e.baseline_bits,
            lemma_bits: lemma_base - rp,
            gd_steps_bits: e.gd_steps_bits,
            perturbation_bits: e.perturbation_bits,
            hint_bits: e.hint_bits,
        });
    }
    let code = CodeReport {
        roundtrip_bit_exact: roundtrip,
        total_bits: enc.code.bits,
        run_header_bits: enc.run_header_bits,
        baseline_total_bits: epochs.iter().map(|e| e.baseline_bits).sum(),
        certified_hints: opts.certify.is_some(),
        saving_threshold_bits: crate::verify::saving_threshold_bits(n),
        epochs,
    };
    Ok((code, lemma))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_exact() {
        let p = SgdPrimeConfig::new(Perturbation::new(0, 0, 0).unwrap(), "0.1", 5).unwrap();
        // δ = 1/(2·0.8) = 5/8, stop = 1/(2·0.9) = 5/9.
        assert_eq!(p.batch_target(), BigRational::new(5.into(), 8.into()));
        assert_eq!(p.stop_target(), BigRational::new(5.into(), 9.into()));
        assert!(meets(5, 8, &p.batch_target()));
        assert!(!meets(4, 8, &p.batch_target()));
        assert!(SgdPrimeConfig::new(p.perturbation, "0.3", 5).is_err());
        assert!(SgdPrimeConfig::new(p.perturbation, "-0.1", 5).is_err());
        assert!(SgdPrimeConfig::new(p.perturbation, "1/4", 5).is_ok());
    }

    #[test]
    fn quantiles_use_nearest_rank() {
        let v: Vec<usize> = (1..=10).collect();
        assert_eq!(quantile(&v, 0.9), 9.0);
        assert_eq!(median(&v), 5.5);
        assert_eq!(median(&[3]), 3.0);
        assert_eq!(quantile(&[], 0.9), 0.0);
    }
}
