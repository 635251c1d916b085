//! `rewind claims` as a library: the paper's statements about the accuracy discrepancy checked
//! on sweep results, each judged against the null model of [`crate::steps::null`] (what a batch drawn
//! independently of correctness gives by itself), with a verdict computed from the numbers
//! (never hard-coded) and the numbers it rests on.
//!
//! The statements, from Section 3 ("The case for weak models") and Appendix B, and a fourth of
//! this project's:
//!
//! 1. **Inverse-quadratic dependence on batch size** ([`batch`]): the exponent of b fitted to
//!    the running average ρ̄, to its null and to the excess ρ̄ − null.
//! 2. **Random labels: a width-independent threshold** ([`width`]): judged on the excess, with
//!    tolerances from the null's standard deviation.
//! 3. **Theorem 3.2** ([`theorem`]): ρ̄ ≤ β(n, b) while SGD has not reached 100% accuracy, with
//!    the null's own ρ̄/β beside it.
//! 4. **A batch-fitting signal** ([`learning`]): which runs fit the batch just used beyond
//!    sampling noise, by the signed fit statistic's permutation p-value, Holm-corrected across
//!    the runs tested.
//! 5. **Theorem 4.3** ([`section4`]): whether these SGD′ runs can test it at all (its hypothesis
//!    ℓ = o(m), and T ≥ 2^b for Ω(2^m) steps to show), with the ℓ·m trend beside it; present only
//!    when the results hold SGD′ runs.
//! 6. **Momentum** ([`momentum`]): whether rewinding heavy-ball SGD costs d·log₂(1/β) bits a
//!    step, per rounding, beside plain SGD's hints; present only when the results hold
//!    momentum runs.
//!
//! Claims 1–4 are about plain SGD (Algorithm 1, β = 0 included) and read its runs only; claim
//! 5 reads the SGD′ runs, claim 6 the momentum runs.
//! Every run is judged with its own n, b and epochs (its report's null sums).
//! [`crate::experiments::selection`] groups and names runs, [`statistics`] holds the fits, [`mod@render`] the
//! text. Error lines and lines without a report are skipped and counted.

pub mod batch;
pub mod learning;
pub mod momentum;
pub mod render;
pub mod section4;
pub mod statistics;
pub mod theorem;
pub mod width;

pub use batch::{BatchDependence, BatchFit, BatchGroup, LabelGroups, Point};
pub use learning::{holm, normal_upper_tail, LearningSignal, SignalRun};
pub use render::{num, render};
pub use statistics::{fit_slope, mean_and_t_half_width, t_quantile_975, SlopeFit};
pub use theorem::{Theorem32, WorstRun};
pub use width::{WidthGroup, WidthIndependence, WidthValue};

use crate::experiments::selection::{runs, Run};
use crate::experiments::sweep::ResultLine;
use crate::Error;
use serde::Serialize;

/// A running excess z above this marks a run as above its null in claim 1. The normal tail
/// beyond 3 is 0.13%, but the z's are only approximately normal ([`crate::steps::tails`]), which is
/// why claim 4 reads permutation p-values instead.
pub const Z_SIGNAL: f64 = 3.0;

/// The outcome of checking a claim on the results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The claim holds, and the measurement is not what sampling noise alone gives.
    Holds,
    /// The claim holds, but the null model (no learning) gives the same: the data cannot tell
    /// SGD's discrepancy from a batch's sampling noise here.
    HoldsAsNoise,
    /// The numbers contradict the claim.
    DoesNotHold,
    /// The numbers contradict the claim at these sizes, and the null model (no learning) gives
    /// the same: what is measured is the null's own behaviour at this n/b.
    DoesNotHoldAsNoise,
    /// The runs lie outside the statement's hypothesis, or cannot show its conclusion.
    NotTestable,
    /// The numbers cannot decide (too few runs or points, or an interval too wide).
    Inconclusive,
}

impl Verdict {
    /// The verdict as it is printed ("holds", "does not hold", …).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::HoldsAsNoise => "holds, and sampling noise alone gives the same",
            Verdict::DoesNotHold => "does not hold",
            Verdict::DoesNotHoldAsNoise => {
                "does not hold at this n/b, and sampling noise alone gives the same exponent"
            }
            Verdict::NotTestable => "not testable by these runs",
            Verdict::Inconclusive => "inconclusive",
        }
    }

    /// The weakest part decides: one contradiction refutes, any undecided part leaves the whole
    /// undecided, a part that noise explains makes the whole explained by noise; no part at
    /// all is no evidence.
    fn all(parts: impl IntoIterator<Item = Verdict>) -> Verdict {
        let rank = |v: Verdict| match v {
            Verdict::DoesNotHold => 0,
            Verdict::DoesNotHoldAsNoise => 1,
            Verdict::Inconclusive | Verdict::NotTestable => 2,
            Verdict::HoldsAsNoise => 3,
            Verdict::Holds => 4,
        };
        parts
            .into_iter()
            .min_by_key(|&v| rank(v))
            .unwrap_or(Verdict::Inconclusive)
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The four claims checked on a results file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Claims {
    /// The results file the claims were checked on, as named on the command line.
    pub source: String,
    /// Result lines read.
    pub lines: usize,
    /// Lines with a report, the runs every claim reads.
    pub runs: usize,
    /// Lines whose run could not be set up or failed (skipped).
    pub error_lines: usize,
    /// Lines with neither a report nor an error (skipped).
    pub without_report: usize,
    /// Claim 1: ρ̄ scales as b⁻² (Appendix B, [`batch`]).
    pub batch_dependence: BatchDependence,
    /// Claim 2: with random labels, a threshold independent of the width ([`width`]).
    pub width_independence: WidthIndependence,
    /// Claim 3: ρ̄ ≤ β(n, b) while accuracy is below 100% ([`theorem`]).
    pub theorem_3_2: Theorem32,
    /// Claim 4: which runs fit their batch beyond sampling noise ([`learning`]).
    pub learning_signal: LearningSignal,
    /// Claim 5: Theorem 4.3's direction on the SGD′ runs ([`section4`]); absent without them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub section_4: Option<section4::Section4>,
    /// Claim 6: what rewinding momentum costs ([`momentum`]); absent without momentum runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub momentum: Option<momentum::Momentum>,
}

/// Checks the four claims on the result lines of `source`.
pub fn check(lines: &[ResultLine], source: &str) -> Result<Claims, Error> {
    if lines.is_empty() {
        return Err(Error::Config(format!(
            "{source} holds no result lines; pass a results file written by `rewind sweep`"
        )));
    }
    let r = runs(lines);
    let sgd: Vec<Run> = r
        .runs
        .iter()
        .filter(|x| x.spec.sgd_prime.is_none() && is_plain(x))
        .copied()
        .collect();
    Ok(Claims {
        source: source.to_string(),
        lines: lines.len(),
        runs: r.runs.len(),
        error_lines: r.error_lines,
        without_report: r.without_report,
        batch_dependence: batch::check(&sgd),
        width_independence: width::check(&sgd),
        theorem_3_2: theorem::check(&sgd),
        learning_signal: learning::check(&sgd),
        section_4: section4::check(&r.runs),
        momentum: momentum::check(&r.runs),
    })
}

/// Whether a run steps plain SGD: no momentum, or momentum with β = 0 (byte for byte the same).
pub fn is_plain(r: &Run) -> bool {
    r.spec
        .momentum
        .as_ref()
        .is_none_or(|m| m.config().is_ok_and(|c| c.beta.is_zero()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_combine() {
        use Verdict::*;
        assert_eq!(Verdict::all([Holds, Holds]), Holds);
        assert_eq!(Verdict::all([Holds, HoldsAsNoise]), HoldsAsNoise);
        assert_eq!(Verdict::all([HoldsAsNoise, Inconclusive]), Inconclusive);
        assert_eq!(Verdict::all([Holds, Inconclusive]), Inconclusive);
        assert_eq!(Verdict::all([Inconclusive, DoesNotHold]), DoesNotHold);
        assert_eq!(
            Verdict::all([HoldsAsNoise, DoesNotHoldAsNoise]),
            DoesNotHoldAsNoise
        );
        assert_eq!(Verdict::all([DoesNotHoldAsNoise, DoesNotHold]), DoesNotHold);
        assert_eq!(Verdict::all([]), Inconclusive);
    }
}
