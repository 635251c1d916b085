//! Reconstruction (Theorem 2.2): walk back from the final model with the logged batches to
//! W₁,₁, bit for bit, and count what finite precision costs.
//!
//! The paper's proof inverts each step uniquely. On the grid the inverter may return another
//! preimage or none (see [`crate::steps::invert`]); then a *hint* — the sparse integer correction
//! Δ = W_logged − V — is recorded and the walk goes on from the corrected model. The walk back
//! ([`rewind`]) sees only the final model, the batches and the hints; [`analyse`] derives the
//! hints from the logged run. Comparing the two is the bit-for-bit check. The hint itself, its
//! length and its code are [`crate::steps::codec::hint`]'s.

use crate::progress::Phase;
use crate::sgd::{StepFunction, Trajectory};
use crate::steps::codec::hint::{HintSet, StepRecord};
use crate::steps::invert::invert;
use crate::Error;
use rayon::prelude::*;

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
            Ok(StepRecord::new(&inv, &logged.w))
        })
        .collect()
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
            Some(h) => h.apply(&inv.point, k + 1)?,
            None if inv.preimage().is_some() => inv.point,
            None => return Err(Error::Reconstruction { step: k + 1 }),
        };
        models[k] = w.clone();
        f.progress().advance(1);
    }
    Ok(models)
}
