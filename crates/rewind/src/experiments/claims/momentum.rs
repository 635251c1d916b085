//! Claim 6, momentum: "rewinding heavy-ball SGD costs d·log₂(1/β) bits a step" (hypergrad's
//! figure, Maclaurin, Duvenaud and Adams 2015), judged on the runs' measured buffers
//! (docs/design.md §2.9).
//!
//! Runs that differ only in their seed form a group (model, data, step, epochs, β, rounding).
//! In each group the statistic is the ratio of the buffer's measured bits per step to
//! d·log₂(1/β), with the 95% t interval of its mean over the seeds. A group **holds** when that
//! interval lies inside 1 ± [`TOLERANCE`], **does not hold** when it lies wholly outside, and is
//! **inconclusive** otherwise or with a single seed. Each rounding gets its own verdict, since
//! the statement is about hypergrad's exact multiply (`bits-back`); under `nearest` rounding the
//! exact information destroyed is the nearest-rounding loss, printed beside. The comparison
//! that makes the cost a finding, rather than a number, is plain SGD's hint bits per step on
//! the same runs: what rewinding costs without a buffer. β = 0 runs are plain SGD and are
//! counted, not judged.

use super::statistics::mean_and_t_half_width;
use super::Verdict;
use crate::experiments::selection::Run;
use serde::Serialize;
use std::collections::BTreeMap;

/// How far from d·log₂(1/β) a group's interval may reach and still agree with it: "within a
/// few percent", as the statement is amortised and a run pays a start-up cost once.
pub const TOLERANCE: f64 = 0.05;

/// The runs of one (model, data, step, epochs, β, rounding), over their seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MomentumGroup {
    /// The runs' common description (model, d, data, step, epochs).
    pub setting: String,
    /// β as the plan writes it.
    pub beta: String,
    /// `nearest` or `bits-back`.
    pub rounding: String,
    /// The number of parameters d.
    pub d: usize,
    /// Runs (seeds) in the group.
    pub runs: usize,
    /// Mean over the runs of the buffer's bits per step.
    pub bits_per_step: f64,
    /// d·log₂(1/β).
    pub d_log2_inv_beta: f64,
    /// The nearest-rounding loss per step (d × the mean log₂ of a preimage set's size).
    pub nearest_loss: f64,
    /// Mean of bits per step / d·log₂(1/β).
    pub ratio: f64,
    /// The 95% t interval of that mean; `None` with a single run.
    pub interval: Option<(f64, f64)>,
    /// Mean over the runs of plain SGD's hint bits per step on the same run.
    pub plain_sgd_hint_bits_per_step: Option<f64>,
    /// Whether every run's walk back returned (W₁,₁, u₁) bit for bit.
    pub all_bit_exact: bool,
    /// The group's verdict.
    pub verdict: Verdict,
}

/// Claim 6.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Momentum {
    /// The statement as it is judged.
    pub claim: &'static str,
    /// How the verdict is decided, in words.
    pub rule: String,
    /// Momentum runs with β > 0 and a momentum section.
    pub runs: usize,
    /// Runs at β = 0 (plain SGD; not judged).
    pub beta_zero_runs: usize,
    /// Runs whose walk back did not return the start bit for bit.
    pub not_bit_exact: usize,
    /// One group per setting, β and rounding.
    pub groups: Vec<MomentumGroup>,
    /// The verdict over the `bits-back` groups (hypergrad's exact multiply).
    pub bits_back: Verdict,
    /// The verdict over the `nearest` groups.
    pub nearest: Verdict,
    /// The reason for the verdicts, in one line.
    pub why: String,
}

/// One run's numbers, or `None` when it has no momentum section or β = 0.
struct Point {
    bits: f64,
    d_log2: f64,
    nearest: f64,
    hints_per_step: Option<f64>,
    exact: bool,
}

fn point(r: &Run) -> Option<Point> {
    let m = r.report.momentum.as_ref()?;
    let d_log2 = m.d_log2_inv_beta_per_step.filter(|x| *x > 0.0)?;
    Some(Point {
        bits: m.buffer_bits_per_step,
        d_log2,
        nearest: m.nearest_loss_per_step.unwrap_or(f64::NAN),
        hints_per_step: m
            .plain_sgd_hint_bits
            .filter(|_| r.report.steps > 0)
            .map(|b| b as f64 / r.report.steps as f64),
        exact: m.initial_velocity_bit_exact
            && r.report
                .reconstruction
                .as_ref()
                .is_some_and(|x| x.initial_model_bit_exact),
    })
}

/// The runs' common description apart from β, rounding and seed: a claim's group, a figure's
/// panel.
pub fn setting(r: &Run) -> String {
    let s = r.spec;
    let model = if s.model == crate::pipeline::config::ModelKind::Mlp {
        format!("mlp {} width {}", s.activation, s.hidden)
    } else {
        s.model.to_string()
    };
    format!(
        "{model}, {}, {}, b = {}, {} epochs",
        s.data, s.step, s.batch, s.epochs
    )
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// The 95% t interval of the mean of `v`; `None` for fewer than two values.
fn interval(v: &[f64]) -> Option<(f64, f64)> {
    let (m, half) = mean_and_t_half_width(v);
    half.map(|h| (m - h, m + h))
}

fn judge(interval: Option<(f64, f64)>) -> Verdict {
    match interval {
        None => Verdict::Inconclusive,
        Some((lo, hi)) if lo >= 1.0 - TOLERANCE && hi <= 1.0 + TOLERANCE => Verdict::Holds,
        Some((lo, hi)) if hi < 1.0 - TOLERANCE || lo > 1.0 + TOLERANCE => Verdict::DoesNotHold,
        Some(_) => Verdict::Inconclusive,
    }
}

fn group(key: &(String, String, String), points: &[Point]) -> MomentumGroup {
    let ratios: Vec<f64> = points.iter().map(|p| p.bits / p.d_log2).collect();
    let hints: Vec<f64> = points.iter().filter_map(|p| p.hints_per_step).collect();
    let d_log2 = points[0].d_log2;
    let log2_inv_beta = key
        .1
        .parse::<crate::momentum::Beta>()
        .map_or(f64::NAN, |b| {
            (b.den() as f64).log2() - (b.num() as f64).log2()
        });
    let interval = interval(&ratios);
    MomentumGroup {
        setting: key.0.clone(),
        beta: key.1.clone(),
        rounding: key.2.clone(),
        d: (d_log2 / log2_inv_beta).round() as usize,
        runs: points.len(),
        bits_per_step: mean(&points.iter().map(|p| p.bits).collect::<Vec<_>>()),
        d_log2_inv_beta: d_log2,
        nearest_loss: points[0].nearest,
        ratio: mean(&ratios),
        interval,
        plain_sgd_hint_bits_per_step: (!hints.is_empty()).then(|| mean(&hints)),
        all_bit_exact: points.iter().all(|p| p.exact),
        verdict: judge(interval),
    }
}

/// The verdict of one rounding, with its range of ratios for the reason.
fn by_rounding(groups: &[MomentumGroup], rounding: &str) -> (Verdict, String) {
    let mine: Vec<&MomentumGroup> = groups.iter().filter(|g| g.rounding == rounding).collect();
    if mine.is_empty() {
        return (Verdict::Inconclusive, format!("{rounding}: no runs"));
    }
    let verdict = Verdict::all(mine.iter().map(|g| g.verdict));
    let lo = mine.iter().map(|g| g.ratio).fold(f64::INFINITY, f64::min);
    let hi = mine
        .iter()
        .map(|g| g.ratio)
        .fold(f64::NEG_INFINITY, f64::max);
    let agree = mine.iter().filter(|g| g.verdict == Verdict::Holds).count();
    let why = format!(
        "{rounding}: {agree} of {} groups within ±{:.0}% of d·log₂(1/β), mean ratios {}–{}",
        mine.len(),
        TOLERANCE * 100.0,
        super::num(lo),
        super::num(hi)
    );
    (verdict, why)
}

/// Checks claim 6; `None` when the results hold no momentum run.
pub fn check(runs: &[Run]) -> Option<Momentum> {
    let momentum: Vec<&Run> = runs.iter().filter(|r| r.spec.momentum.is_some()).collect();
    if momentum.is_empty() {
        return None;
    }
    let mut by: BTreeMap<(String, String, String), Vec<Point>> = BTreeMap::new();
    let mut beta_zero = 0;
    for r in &momentum {
        let Some(spec) = &r.spec.momentum else {
            continue;
        };
        match point(r) {
            Some(p) => by
                .entry((setting(r), spec.beta.clone(), spec.rounding.clone()))
                .or_default()
                .push(p),
            None => beta_zero += 1,
        }
    }
    let groups: Vec<MomentumGroup> = by.iter().map(|(k, v)| group(k, v)).collect();
    let (bits_back, why_bits_back) = by_rounding(&groups, "bits-back");
    let (nearest, why_nearest) = by_rounding(&groups, "nearest");
    let not_bit_exact = by.values().flatten().filter(|p| !p.exact).count();
    Some(Momentum {
        claim: "rewinding heavy-ball SGD costs d·log₂(1/β) bits a step (hypergrad's exact multiply), against plain SGD's hints",
        rule: format!(
            "per group of seeds, the buffer's bits per step / d·log₂(1/β) with the 95% t interval of its mean; holds if the \
             interval lies within 1 ± {TOLERANCE}, does not hold if it lies wholly outside, inconclusive otherwise or with one \
             seed; judged per rounding (bits-back is hypergrad's multiply, amortised: a run pays a few bits once while its buffer is \
             small, so runs of a few dozen steps read high; nearest loses the nearest-rounding loss, beside); \
             plain SGD's hint bits per step on the same runs are what rewinding costs without a buffer"
        ),
        runs: by.values().map(Vec::len).sum(),
        beta_zero_runs: beta_zero,
        not_bit_exact,
        groups,
        bits_back,
        nearest,
        why: format!("{why_bits_back}; {why_nearest}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interval_inside_the_tolerance_holds_and_one_outside_does_not() {
        assert_eq!(judge(interval(&[1.0, 1.01, 0.99])), Verdict::Holds);
        assert_eq!(judge(interval(&[1.25, 1.26, 1.27])), Verdict::DoesNotHold);
        assert_eq!(judge(interval(&[0.9, 1.1, 1.3])), Verdict::Inconclusive);
        assert_eq!(judge(interval(&[1.0])), Verdict::Inconclusive);
    }

    #[test]
    fn the_interval_is_the_t_interval_of_the_mean() {
        let (lo, hi) = interval(&[1.0, 2.0, 3.0]).unwrap();
        // mean 2, sd 1, t(2) = 4.3027: 2 ± 4.3027/√3.
        assert!((lo - (2.0 - 4.3027 / 3f64.sqrt())).abs() < 1e-12);
        assert!((hi - (2.0 + 4.3027 / 3f64.sqrt())).abs() < 1e-12);
    }
}
