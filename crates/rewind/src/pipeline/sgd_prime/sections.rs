//! The report's SGD′ sections (`algorithm`, `perturbation`, `gd_steps`) filled from a run.

use super::*;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_nearest_rank() {
        let v: Vec<usize> = (1..=10).collect();
        assert_eq!(quantile(&v, 0.9), 9.0);
        assert_eq!(median(&v), 5.5);
        assert_eq!(median(&[3]), 3.0);
        assert_eq!(quantile(&[], 0.9), 0.0);
    }
}
