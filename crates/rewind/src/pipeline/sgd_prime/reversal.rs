//! A whole SGD′ run reversed: every inner step inverted, the hints, the walk back with the z's.

use super::*;

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
