//! Claim 3, Theorem 3.2: "if the algorithm does not terminate by the t-th iteration, then
//! w.h.p. (1/t)Σρ_i ≤ O(n log n / b²)".
//!
//! For every run that never reached 100% accuracy, the running average at its last epoch
//! against β(n, b) = n·log₂ n / b² (`beta_leading`: the leading term with constant 1, since the
//! paper leaves the constant open), each run with its own n. **Holds** if every such run is at
//! or below β, **does not hold** if any is above, **inconclusive** without such runs; **holds,
//! and sampling noise alone gives the same** when every run's null running average is at or
//! below β too, so that a model that fits nothing would pass the same test. Beside
//! each ratio ρ̄/β the null's ratio null/β: how much room the test had, since a batch drawn
//! independently of correctness already gives ρ̄ ≈ null. ρ_paper is reported for information.

use super::Verdict;
use crate::experiments::selection::Run;
use serde::Serialize;

/// The run of claim 3 closest to (or furthest over) its threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorstRun {
    /// The run's id ([`crate::experiments::sweep::RunSpec::id`]).
    pub id: String,
    /// The run's last epoch, where ρ̄ is compared.
    pub epoch: usize,
    /// Running average ρ̄_code at that epoch, in bits.
    pub rho_code: f64,
    /// The null's running average for this run.
    pub null_code: f64,
    /// β(n, b) = n·log₂ n / b² for the run's own n and b.
    pub beta: f64,
    /// ρ̄_code / β.
    pub ratio: f64,
    /// null / β.
    pub null_ratio: f64,
}

/// Claim 3.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Theorem32 {
    /// The theorem as the paper states it.
    pub claim: &'static str,
    /// How the verdict is decided, in words.
    pub rule: String,
    /// Runs that never reached 100% accuracy and made at least one epoch.
    pub runs: usize,
    /// Runs that stopped at 100% accuracy, which the theorem does not cover.
    pub stopped_at_full_accuracy: usize,
    /// Runs that made no step (they started at full accuracy).
    pub without_epochs: usize,
    /// ρ̄_code ≤ β at the last epoch.
    pub below: usize,
    /// Runs with ρ̄_code > β at the last epoch; each one contradicts the theorem.
    pub above: usize,
    /// The largest null/β over the runs: the null alone uses this share of β.
    pub max_null_ratio: Option<f64>,
    /// Informational: ρ̄_paper ≤ β.
    pub paper_below: usize,
    /// Informational: runs whose ρ̄_code exceeded β at some epoch (the theorem says ∀t).
    pub above_at_some_epoch: usize,
    /// The run with the largest ratio ρ̄_code/β.
    pub worst: Option<WorstRun>,
    /// The verdict of claim 3.
    pub verdict: Verdict,
    /// The reason for the verdict, in one line.
    pub why: String,
}

/// Checks claim 3.
pub fn check(runs: &[Run]) -> Theorem32 {
    let mut t = Theorem32 {
        claim: "Theorem 3.2: while SGD has not reached 100% accuracy, the running average (1/t)Σρ_i stays below β(n,b) = O(n log n / b²)",
        rule: "for each run that never reached 100% accuracy, ρ̄_code at its last epoch against β = n·log₂ n / b² \
               (the leading term with constant 1, each run's own n); holds if all are at or below β, does not hold if any \
               is above, inconclusive without such runs; holds, and sampling noise alone gives the same, when every run's null \
               is at or below β too; the null's ratio null/β shows the room the test had"
            .into(),
        runs: 0,
        stopped_at_full_accuracy: 0,
        without_epochs: 0,
        below: 0,
        above: 0,
        max_null_ratio: None,
        paper_below: 0,
        above_at_some_epoch: 0,
        worst: None,
        verdict: Verdict::Inconclusive,
        why: String::new(),
    };
    for r in runs {
        tally(&mut t, r);
    }
    (t.verdict, t.why) = verdict(&t);
    t
}

/// Counts one run into `t`: where it ended against β, and whether it is the worst so far.
fn tally(t: &mut Theorem32, r: &Run) {
    if r.report.run.stopped_at_full_accuracy {
        t.stopped_at_full_accuracy += 1;
        return;
    }
    let Some(last) = r.epochs().last() else {
        t.without_epochs += 1;
        return;
    };
    let d = &r.report.discrepancy;
    t.runs += 1;
    if last.running_rho_code <= d.beta_leading {
        t.below += 1;
    } else {
        t.above += 1;
    }
    t.paper_below += usize::from(last.running_rho_paper <= d.beta_leading);
    t.above_at_some_epoch += usize::from(
        r.epochs()
            .iter()
            .any(|e| e.running_rho_code > d.beta_leading),
    );
    let over_beta = |v: f64| {
        if d.beta_leading > 0.0 {
            v / d.beta_leading
        } else {
            f64::INFINITY
        }
    };
    let ratio = over_beta(last.running_rho_code);
    let null_ratio = over_beta(last.running_null_rho_code);
    t.max_null_ratio = Some(t.max_null_ratio.map_or(null_ratio, |m| m.max(null_ratio)));
    if t.worst.as_ref().is_none_or(|w| ratio > w.ratio) {
        t.worst = Some(WorstRun {
            id: r.id.to_string(),
            epoch: last.epoch,
            rho_code: last.running_rho_code,
            null_code: last.running_null_rho_code,
            beta: d.beta_leading,
            ratio,
            null_ratio,
        });
    }
}

/// The verdict of claim 3 on the counted runs, and its reason.
fn verdict(t: &Theorem32) -> (Verdict, String) {
    if t.runs == 0 {
        (
            Verdict::Inconclusive,
            "no run ended below 100% accuracy".into(),
        )
    } else if t.above > 0 {
        (
            Verdict::DoesNotHold,
            format!("{} of {} runs end above β", t.above, t.runs),
        )
    } else if t.max_null_ratio.is_some_and(|m| m <= 1.0) {
        (
            Verdict::HoldsAsNoise,
            format!(
                "all {} runs end at or below β, and so does every run's null (largest null/β {})",
                t.runs,
                super::num(t.max_null_ratio.unwrap_or(0.0))
            ),
        )
    } else {
        (
            Verdict::Holds,
            format!("all {} runs end at or below β", t.runs),
        )
    }
}
