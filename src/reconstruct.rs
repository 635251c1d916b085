//! Reconstruction (Theorem 2.2): walk back from the final model with the logged batches to
//! W₁,₁, bit for bit, and count what finite precision costs.
//!
//! The paper's proof inverts each step uniquely. On the grid the inverter may return another
//! preimage or none (see [`crate::invert`]); then a *hint* — the sparse integer correction
//! Δ = W_logged − V — is recorded and the walk goes on from the corrected model. The walk back
//! ([`rewind`]) sees only the final model, the batches and the hints; [`analyse`] derives the
//! hints from the logged run. Comparing the two is the bit-for-bit check.
//!
//! Hint code (its length is what [`HintSet::bits`] reports): the number of hinted steps
//! (⌈log₂(T+1)⌉ bits for T steps) and which ones (a subset rank, ⌈log₂ C(T, h)⌉); per hint the
//! number of non-zero coordinates minus one (⌈log₂ d⌉), their positions (⌈log₂ C(d, nnz)⌉) and
//! each value as a sign bit plus the Elias-γ code of its magnitude.

use crate::codec::{binomial, ceil_log2, elias_gamma_bits};
use crate::grid::checked_add;
use crate::invert::{invert, Inversion, Outcome, Termination};
use crate::progress::Phase;
use crate::sgd::{StepFunction, Trajectory};
use crate::Error;
use rayon::prelude::*;
use std::collections::BTreeMap;

/// A sparse correction Δ = W_logged − V: (coordinate, value) pairs with non-zero values.
pub type Hint = Vec<(usize, i64)>;

/// The hints of a run, keyed by the 0-based step index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HintSet {
    /// Step index → the correction that turns the inverter's point into the logged model.
    pub hints: BTreeMap<usize, Hint>,
}

impl HintSet {
    /// The length of the hint code for a run of `steps` steps in dimension `d`.
    pub fn bits(&self, steps: usize, d: usize) -> u64 {
        let header = ceil_log2(&(steps as u64 + 1).into())
            + ceil_log2(&binomial(steps as u64, self.hints.len() as u64));
        header + self.hints.values().map(|h| hint_bits(h, d)).sum::<u64>()
    }
}

/// Bits of one hint in dimension `d`.
pub fn hint_bits(h: &Hint, d: usize) -> u64 {
    let nnz = h.len() as u64;
    let count = ceil_log2(&(d as u64).into());
    let positions = ceil_log2(&binomial(d as u64, nnz));
    let values: u64 = h
        .iter()
        .map(|(_, v)| 1 + elias_gamma_bits(v.unsigned_abs()))
        .sum();
    count + positions + values
}

/// What inverting one logged step gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRecord {
    /// The inverter's fixed point, or its last iterate.
    pub point: Vec<i64>,
    /// The point compared with the logged model (docs/design.md §4.1).
    pub outcome: Outcome,
    /// Why the iteration stopped.
    pub termination: Termination,
    /// Iterations V ← W' + s_B(V) taken.
    pub iterations: u32,
    /// The correction Δ = W_logged − point, when the step is not recovered (docs/design.md
    /// §4.2).
    pub hint: Option<Hint>,
}

/// Inverts every logged step from the logged next model (independently, in parallel; the
/// result does not depend on the thread count) and derives the hints.
pub fn analyse(
    f: &StepFunction,
    traj: &Trajectory,
    max_iterations: u32,
) -> Result<Vec<StepRecord>, Error> {
    f.progress().begin(Phase::Invert, traj.steps.len() as u64);
    (0..traj.steps.len())
        .into_par_iter()
        .map(|k| {
            let logged = &traj.steps[k];
            let inv = invert(f, traj.model_after(k), &logged.batch, max_iterations)?;
            f.progress().advance(1);
            Ok(record(&inv, &logged.w))
        })
        .collect()
}

fn record(inv: &Inversion, logged: &[i64]) -> StepRecord {
    let outcome = inv.outcome(logged);
    let hint = (outcome != Outcome::Recovered).then(|| {
        logged
            .iter()
            .zip(&inv.point)
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(k, (a, b))| (k, a - b))
            .collect()
    });
    StepRecord {
        point: inv.point.clone(),
        outcome,
        termination: inv.termination,
        iterations: inv.iterations,
        hint,
    }
}

/// The hint set of analysed steps.
pub fn hints_of(records: &[StepRecord]) -> HintSet {
    HintSet {
        hints: records
            .iter()
            .enumerate()
            .filter_map(|(k, r)| r.hint.clone().map(|h| (k, h)))
            .collect(),
    }
}

/// Walks back from `final_model` through `batches` (in run order) using only the hints, and
/// returns every model before each step, W₁,₁ first.
pub fn rewind(
    f: &StepFunction,
    final_model: &[i64],
    batches: &[Vec<usize>],
    hints: &HintSet,
    max_iterations: u32,
) -> Result<Vec<Vec<i64>>, Error> {
    let mut models = vec![Vec::new(); batches.len()];
    let mut w = final_model.to_vec();
    f.progress().begin(Phase::WalkBack, batches.len() as u64);
    for k in (0..batches.len()).rev() {
        let inv = invert(f, &w, &batches[k], max_iterations)?;
        w = match hints.hints.get(&k) {
            Some(h) => apply_hint(&inv.point, h, k + 1)?,
            None if inv.preimage().is_some() => inv.point,
            None => return Err(Error::Reconstruction { step: k + 1 }),
        };
        models[k] = w.clone();
        f.progress().advance(1);
    }
    Ok(models)
}

/// V + Δ for the hint of step `step` (1-based, run order); a hint naming a coordinate the
/// model does not have is an error that names both.
fn apply_hint(v: &[i64], h: &Hint, step: usize) -> Result<Vec<i64>, Error> {
    let mut delta = vec![0i64; v.len()];
    for &(k, d) in h {
        if k >= v.len() {
            return Err(Error::HintOutOfRange {
                step,
                coordinate: k,
                dim: v.len(),
            });
        }
        delta[k] = d;
    }
    Ok(checked_add(v, &delta, "a corrected model")?)
}

/// Largest model dimension for which the prediction is computed: it builds and factors a dense
/// d×d Hessian per step, which beyond this would dominate the run (d = 7,850 for softmax on
/// MNIST is 490 MB and 10^11 operations per step).
pub const MAX_PREDICTION_DIM: usize = 1024;

/// The predicted share of many-to-one steps, 1 − det(I − αH_B) at each logged step, averaged;
/// `None` when the model has no closed-form Hessian, d > [`MAX_PREDICTION_DIM`], or I − αH_B is
/// not positive definite.
pub fn predicted_many_to_one(f: &StepFunction, traj: &Trajectory) -> Option<f64> {
    use crate::model::Model;
    if traj.steps.is_empty() || f.dim() > MAX_PREDICTION_DIM {
        return None;
    }
    let p = f.data().grid.frac_bits();
    let alpha = f.alpha().to_f64();
    let shares: Option<Vec<f64>> = traj
        .steps
        .par_iter()
        .map(|s| {
            let w = crate::model::raw_to_f64(&s.w, p);
            let h = f.model().hessian(&w, f.data(), &s.batch)?;
            let logdet = log_det_identity_minus(&h, alpha, f.dim())?;
            Some(1.0 - logdet.exp())
        })
        .collect();
    let shares = shares?;
    Some(shares.iter().sum::<f64>() / shares.len() as f64)
}

/// ln det(I − αH) by Cholesky; `None` if the matrix is not positive definite.
pub(crate) fn log_det_identity_minus(h: &[f64], alpha: f64, d: usize) -> Option<f64> {
    let mut a: Vec<f64> = h.iter().map(|v| -alpha * v).collect();
    for i in 0..d {
        a[i * d + i] += 1.0;
    }
    let mut logdet = 0.0;
    for j in 0..d {
        let mut diag = a[j * d + j];
        for k in 0..j {
            diag -= a[j * d + k] * a[j * d + k];
        }
        if diag <= 0.0 || !diag.is_finite() {
            return None;
        }
        let l = diag.sqrt();
        a[j * d + j] = l;
        logdet += 2.0 * l.ln();
        for i in j + 1..d {
            let mut v = a[i * d + j];
            for k in 0..j {
                v -= a[i * d + k] * a[j * d + k];
            }
            a[i * d + j] = v / l;
        }
    }
    Some(logdet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_det_matches_a_diagonal_matrix() {
        let h = vec![2.0, 0.0, 0.0, 4.0];
        let ld = log_det_identity_minus(&h, 0.1, 2).unwrap();
        assert!((ld - (0.8f64 * 0.6).ln()).abs() < 1e-12);
        assert!(log_det_identity_minus(&h, 0.5, 2).is_none());
    }

    #[test]
    fn a_hint_outside_the_model_names_its_step_and_coordinate() {
        let err = apply_hint(&[5, 6], &vec![(7, 1)], 3).unwrap_err();
        assert!(
            matches!(
                err,
                Error::HintOutOfRange {
                    step: 3,
                    coordinate: 7,
                    dim: 2
                }
            ),
            "{err}"
        );
        assert_eq!(apply_hint(&[5, 6], &vec![(1, -2)], 3).unwrap(), vec![5, 4]);
    }

    #[test]
    fn hint_bits_follow_the_stated_code() {
        // d = 8: nnz-1 in 3 bits, positions C(8,2)=28 → 5 bits, values 1+1 and 1+3.
        assert_eq!(hint_bits(&vec![(1, 1), (5, -2)], 8), 3 + 5 + 2 + 4);
        let mut set = HintSet::default();
        assert_eq!(set.bits(10, 8), 4);
        set.hints.insert(3, vec![(0, 1)]);
        assert_eq!(set.bits(10, 8), 4 + 4 + 3 + 3 + 2);
    }
}
