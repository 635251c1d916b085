//! Claim 4, this project's: which runs show a batch-fitting signal, i.e. after its step the
//! model classifies the batch just used better than the examples seen so far in the epoch,
//! beyond what sampling noise gives.
//!
//! Per run, the statistic is `running_fit_z` at its last epoch, Σ(k − E)/√(Σ Var) over every
//! step ([`crate::steps::discrepancy::fit_moments`]): the signed count of batch examples right above
//! their hypergeometric expectation. Its p-value is the exact permutation tail of
//! [`crate::steps::tails`] (the run's correctness vectors fixed, the permutations redrawn). Results
//! written before that statistic existed carry neither; for them the p-value is the normal
//! tail of ρ_code's running excess z, printed as such: it understates the true tail (the z's are
//! only approximately normal) and ρ measures surprise, not fitting (docs/design.md §8.4).
//!
//! Many runs are tested at once, so the p-values are corrected by Holm's step-down method
//! (family-wise error rate across the runs tested). A run whose corrected p is below [`LEVEL`]
//! shows a **batch-fitting signal**; no such run: **no batch-fitting signal beyond sampling
//! noise**; no run with an epoch: **inconclusive**. Per setting (all fields but the seed) the
//! share of seeds with a signal is printed, and runs that ended at chance accuracy (a model
//! that diverged, or random labels never fitted) are flagged.

use crate::experiments::selection::{key, Field, Rho, Run};
use serde::Serialize;
use std::collections::BTreeMap;

/// A corrected p-value below this is a batch-fitting signal.
pub const LEVEL: f64 = 0.01;

/// Where a run's p-value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PSource {
    /// The permutation tail of `running_fit_z` ([`crate::steps::tails`]).
    FitPermutation,
    /// The normal tail of ρ_code's running excess z: results without the fit statistic.
    RhoNormal,
}

/// A run of claim 4.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignalRun {
    /// The run's id ([`crate::experiments::sweep::RunSpec::id`]).
    pub id: String,
    /// The run's setting without its seed, for the per-setting shares.
    pub setting: String,
    /// The run's last epoch, where the statistics are read.
    pub epoch: usize,
    /// running_fit_z at the last epoch (0 in results without the statistic).
    pub fit_z: f64,
    /// The running excess z of ρ_code.
    pub z_code: f64,
    /// The running excess z in the paper's direction.
    pub z_paper: f64,
    /// ρ̄_code − null at the last epoch.
    pub excess_code: f64,
    /// The one-sided p-value before correction.
    pub p: f64,
    /// Holm's corrected p-value across the runs tested.
    pub p_holm: f64,
    /// Where `p` comes from.
    pub source: PSource,
    /// Final accuracy over the whole data set.
    pub final_accuracy: f64,
    /// The final accuracy is within 3 binomial standard deviations of chance (1/classes), or
    /// below it.
    pub at_chance: bool,
}

/// One setting's seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeedShare {
    /// The setting (all fields but the seed).
    pub setting: String,
    /// Runs (seeds) of the setting.
    pub seeds: usize,
    /// Those with a corrected p below [`LEVEL`].
    pub signal: usize,
    /// Those that ended at chance accuracy.
    pub at_chance: usize,
}

/// The outcome of claim 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// Some run has a corrected p-value below [`LEVEL`].
    BatchFitting,
    /// No run has.
    NoiseOnly,
    /// No run with an epoch.
    Inconclusive,
}

impl Signal {
    /// The outcome as it is printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::BatchFitting => "batch-fitting signal",
            Signal::NoiseOnly => "no batch-fitting signal beyond sampling noise",
            Signal::Inconclusive => "inconclusive",
        }
    }
}

/// Claim 4.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LearningSignal {
    /// The claim as this project states it.
    pub claim: &'static str,
    /// How the outcome is decided, in words.
    pub rule: String,
    /// Runs with at least one epoch: the runs tested.
    pub runs: usize,
    /// Runs whose p-values are permutation tails of the fit statistic.
    pub permutation_runs: usize,
    /// Every run tested, smallest corrected p first.
    pub all: Vec<SignalRun>,
    /// Runs whose corrected p is below [`LEVEL`], smallest first.
    pub signal: Vec<SignalRun>,
    /// Per setting, the share of seeds with a signal.
    pub shares: Vec<SeedShare>,
    /// The run with the smallest corrected p, whether or not it is below [`LEVEL`].
    pub highest: Option<SignalRun>,
    /// Whether some run shows a batch-fitting signal, none does, or there is nothing to judge.
    pub verdict: Signal,
    /// The reason for the outcome, in one line.
    pub why: String,
}

/// The upper tail P(Z ≥ z) of the standard normal, from the complementary error function
/// (Numerical Recipes' Chebyshev fit, relative error below 1.2·10⁻⁷).
pub fn normal_upper_tail(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * x.abs());
    let poly = -x * x - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    let erfc = if x >= 0.0 { erfc } else { 2.0 - erfc };
    erfc / 2.0
}

/// Holm's step-down correction: p_(i) ↦ max_{j ≤ i} min(1, (m − j + 1)·p_(j)) in increasing
/// order, returned in the input's order.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut idx: Vec<usize> = (0..m).collect();
    idx.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut out = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in idx.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        out[i] = running;
    }
    out
}

fn signal_run(r: &Run) -> Option<SignalRun> {
    let e = r.epochs().last()?;
    let (p, source) = match &r.report.discrepancy.tails {
        Some(t) => (t.fit_p, PSource::FitPermutation),
        None => (
            normal_upper_tail(Rho::Code.running_z(e)),
            PSource::RhoNormal,
        ),
    };
    let c = r.report.config.classes.len().max(2) as f64;
    let n = r.report.config.n.max(1) as f64;
    let chance = 1.0 / c;
    let sd = (chance * (1.0 - chance) / n).sqrt();
    let acc = r.report.run.final_accuracy;
    Some(SignalRun {
        id: r.id.to_string(),
        setting: key(r.spec, &[Field::Seed])
            .split("; ")
            .filter(|f| !f.trim().is_empty())
            .collect::<Vec<_>>()
            .join("; "),
        epoch: e.epoch,
        fit_z: e.running_fit_z,
        z_code: Rho::Code.running_z(e),
        z_paper: Rho::Paper.running_z(e),
        excess_code: Rho::Code.running(e) - Rho::Code.running_null(e),
        p,
        p_holm: p,
        source,
        final_accuracy: acc,
        at_chance: acc <= chance + 3.0 * sd,
    })
}

fn shares(all: &[SignalRun]) -> Vec<SeedShare> {
    let mut by: BTreeMap<&str, SeedShare> = BTreeMap::new();
    for r in all {
        let s = by.entry(&r.setting).or_insert_with(|| SeedShare {
            setting: r.setting.clone(),
            seeds: 0,
            signal: 0,
            at_chance: 0,
        });
        s.seeds += 1;
        s.signal += usize::from(r.p_holm < LEVEL);
        s.at_chance += usize::from(r.at_chance);
    }
    by.into_values().collect()
}

/// Checks claim 4.
pub fn check(runs: &[Run]) -> LearningSignal {
    let mut all: Vec<SignalRun> = runs.iter().filter_map(signal_run).collect();
    let corrected = holm(&all.iter().map(|r| r.p).collect::<Vec<_>>());
    for (r, p) in all.iter_mut().zip(corrected) {
        r.p_holm = p;
    }
    all.sort_by(|a, b| {
        a.p_holm
            .total_cmp(&b.p_holm)
            .then_with(|| b.fit_z.total_cmp(&a.fit_z))
            .then_with(|| b.z_code.total_cmp(&a.z_code))
            .then_with(|| a.id.cmp(&b.id))
    });
    let signal: Vec<SignalRun> = all.iter().filter(|s| s.p_holm < LEVEL).cloned().collect();
    let permutation_runs = all
        .iter()
        .filter(|r| r.source == PSource::FitPermutation)
        .count();
    let diverged = signal.iter().filter(|r| r.at_chance).count();
    let (verdict, why) = if all.is_empty() {
        (Signal::Inconclusive, "no run with an epoch".to_string())
    } else if signal.is_empty() {
        (
            Signal::NoiseOnly,
            format!(
                "no run of {} has a Holm-corrected p below {LEVEL}",
                all.len()
            ),
        )
    } else {
        (
            Signal::BatchFitting,
            format!(
                "{} of {} runs have a Holm-corrected p below {LEVEL} ({} of them end at chance accuracy)",
                signal.len(),
                all.len(),
                diverged
            ),
        )
    };
    LearningSignal {
        claim: "batch-fitting signal: after its step the model gets the batch just used right more often than the examples seen so far, beyond sampling noise (this project's test)",
        rule: format!(
            "per run, running_fit_z = Σ(k − E)/√ΣVar over every step, its one-sided p-value the permutation tail \
             (the run's correctness vectors fixed, the permutations redrawn); results without it fall back to the normal \
             tail of ρ_code's running excess z, which understates the tail; p-values Holm-corrected across the runs tested; \
             batch-fitting signal if some corrected p < {LEVEL}; runs whose final accuracy is within 3 sd of chance are flagged"
        ),
        runs: all.len(),
        permutation_runs,
        highest: all.first().cloned(),
        shares: shares(&all),
        signal,
        all,
        verdict,
        why,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holm_matches_a_hand_computation() {
        // Sorted 0.01, 0.02, 0.03, 0.5 → 0.04, 0.06, 0.06, 0.5.
        let got = holm(&[0.03, 0.01, 0.5, 0.02]);
        let want = [0.06, 0.04, 0.5, 0.06];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{got:?}");
        }
        assert_eq!(holm(&[0.9, 0.9]), [1.0, 1.0]);
    }

    #[test]
    fn the_normal_tail_matches_known_values() {
        assert!((normal_upper_tail(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_upper_tail(3.0) - 1.349_898e-3).abs() < 1e-9);
        assert!((normal_upper_tail(-1.959_964) - 0.975).abs() < 1e-7);
    }
}
