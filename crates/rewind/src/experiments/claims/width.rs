//! Claim 2, "for MNIST-RAND the average accuracy discrepancy tends below a certain threshold
//! over time, where the threshold appears to be independent of the number of model
//! parameters" (Appendix B), judged on the excess over the null model.
//!
//! Among random-label MLP runs, per batch size (and setting), at the last common epoch T: each
//! width's running excess e_w = ρ̄_code − null (the mean over its seeds) and its null standard
//! deviation σ_w; and the change of e_w since the start of the last quarter of epochs, T₀,
//! against the null standard deviation of that change. With V_t = Σ_{i≤t} Var_i the null
//! variance of the summed ρ_i (epochs independent), the running average A_t = S_t/t satisfies
//! Var(A_T − A_T₀) = V_T₀·(1/T − 1/T₀)² + (V_T − V_T₀)/T², so both tolerances are exact
//! consequences of the null, not fixed percentages. Per batch size: **does not hold** if two
//! widths' excesses differ by more than [`TOLERANCE_SD`] combined standard deviations;
//! **inconclusive** if some width's excess rises by more than [`TOLERANCE_SD`] standard
//! deviations of its change over the last quarter; otherwise **holds, and sampling noise alone
//! gives the same** when every width's excess is within [`TOLERANCE_SD`] σ_w of 0 (the
//! threshold is then the null's own, width-independent by construction), and **holds** when
//! some width has a real excess. No batch size with two widths: inconclusive. The relative
//! spread of ρ̄ across widths is reported for information.

use super::statistics::spread;
use super::Verdict;
use crate::experiments::selection::{key, Field, Rho, Run};
use serde::Serialize;
use std::collections::BTreeMap;

/// Differences within this many null standard deviations are sampling noise.
pub const TOLERANCE_SD: f64 = 3.0;

/// One width of claim 2 at the compared epoch, averaged over its runs (seeds).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WidthValue {
    /// The MLP's hidden width.
    pub width: usize,
    /// Runs (seeds) averaged.
    pub runs: usize,
    /// Mean running average ρ̄_code, in bits.
    pub rho_code: f64,
    /// Mean running average ρ̄_paper, in bits.
    pub rho_paper: f64,
    /// Mean null running average, code direction.
    pub null_code: f64,
    /// ρ̄_code − null.
    pub excess_code: f64,
    /// The null standard deviation of `excess_code`.
    pub sd_code: f64,
    /// Change of the running excess over the last quarter of epochs; `None` with one epoch.
    pub trend: Option<f64>,
    /// The null standard deviation of that change.
    pub trend_sd: Option<f64>,
}

/// A batch size of claim 2.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WidthGroup {
    /// The batch size b.
    pub batch: usize,
    /// What the group's runs share: [`key`] without width, batch size and seed.
    pub key: String,
    /// The last epoch every run of the group reached, where widths are compared.
    pub epoch: usize,
    /// The epoch the last quarter starts from.
    pub trend_from: usize,
    /// One entry per width, averaged over seeds.
    pub widths: Vec<WidthValue>,
    /// Informational: (max − min)/mean of ρ̄ across widths.
    pub spread_code: f64,
    /// Informational: the same for ρ̄_paper.
    pub spread_paper: f64,
    /// The largest |e_w − e_w'| / √(σ_w² + σ_w'²) over pairs of widths.
    pub max_pair_sd: f64,
    /// The largest rise of a width's excess, in standard deviations of the change.
    pub max_rise_sd: Option<f64>,
    /// The verdict for this batch size.
    pub verdict: Verdict,
}

/// Claim 2.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WidthIndependence {
    /// The claim as the paper states it.
    pub claim: &'static str,
    /// How the verdict is decided, in words.
    pub rule: String,
    /// Random-label runs read.
    pub random_label_runs: usize,
    /// One group per batch size (and setting) with at least two widths.
    pub groups: Vec<WidthGroup>,
    /// Batch sizes (per setting) with a single width, which cannot show independence.
    pub single_width_groups: usize,
    /// Random-label runs of models without a hidden layer.
    pub without_width: usize,
    /// The verdict over every group (the weakest decides).
    pub verdict: Verdict,
    /// The reason for the verdict, in one line.
    pub why: String,
}

/// Σ_{i≤t} null variance of ρ_i (code direction), the running sum's null variance.
fn summed_var(r: &Run, t: usize) -> f64 {
    r.epochs()[..t].iter().map(|e| Rho::Code.null_var(e)).sum()
}

fn width_value(width: usize, rs: &[&Run], epoch: usize, trend_from: usize) -> WidthValue {
    let k = rs.len() as f64;
    let mean = |f: &dyn Fn(&Run) -> f64| rs.iter().map(|r| f(r)).sum::<f64>() / k;
    let at = |t: usize, rho: Rho, null: bool| {
        mean(&|r: &Run| {
            let e = &r.epochs()[t - 1];
            if null {
                rho.running_null(e)
            } else {
                rho.running(e)
            }
        })
    };
    let excess = |t: usize| at(t, Rho::Code, false) - at(t, Rho::Code, true);
    // A mean of k independent runs: variances add and divide by k².
    let var_of_mean = |f: &dyn Fn(&Run) -> f64| rs.iter().map(|r| f(r)).sum::<f64>() / (k * k);
    let (big_t, t0) = (epoch as f64, trend_from as f64);
    let sd = var_of_mean(&|r: &Run| summed_var(r, epoch) / (big_t * big_t)).sqrt();
    let has_trend = trend_from < epoch;
    let trend_sd = has_trend.then(|| {
        var_of_mean(&|r: &Run| {
            let (v0, v) = (summed_var(r, trend_from), summed_var(r, epoch));
            v0 * (1.0 / big_t - 1.0 / t0).powi(2) + (v - v0) / (big_t * big_t)
        })
        .sqrt()
    });
    WidthValue {
        width,
        runs: rs.len(),
        rho_code: at(epoch, Rho::Code, false),
        rho_paper: at(epoch, Rho::Paper, false),
        null_code: at(epoch, Rho::Code, true),
        excess_code: excess(epoch),
        sd_code: sd,
        trend: has_trend.then(|| excess(epoch) - excess(trend_from)),
        trend_sd,
    }
}

/// |a| / sd, with 0/0 = 0 and a non-zero difference over a zero sd infinite.
fn in_sd(a: f64, sd: f64) -> f64 {
    if sd > 0.0 {
        a / sd
    } else if a == 0.0 {
        0.0
    } else {
        a.signum() * f64::INFINITY
    }
}

fn judge(widths: &[WidthValue]) -> (f64, Option<f64>, Verdict) {
    let mut max_pair: f64 = 0.0;
    for (i, a) in widths.iter().enumerate() {
        for b in &widths[i + 1..] {
            let sd = (a.sd_code * a.sd_code + b.sd_code * b.sd_code).sqrt();
            max_pair = max_pair.max(in_sd(a.excess_code - b.excess_code, sd).abs());
        }
    }
    let rises: Option<Vec<f64>> = widths
        .iter()
        .map(|w| Some(in_sd(w.trend?, w.trend_sd?)))
        .collect();
    let max_rise = rises.map(|r| r.into_iter().fold(f64::NEG_INFINITY, f64::max));
    let noise = widths
        .iter()
        .all(|w| in_sd(w.excess_code, w.sd_code).abs() <= TOLERANCE_SD);
    let verdict = if max_pair > TOLERANCE_SD {
        Verdict::DoesNotHold
    } else if max_rise.is_none_or(|r| r > TOLERANCE_SD) {
        Verdict::Inconclusive
    } else if noise {
        Verdict::HoldsAsNoise
    } else {
        Verdict::Holds
    };
    (max_pair, max_rise, verdict)
}

/// Checks claim 2.
pub fn check(runs: &[Run]) -> WidthIndependence {
    let random: Vec<&Run> = runs
        .iter()
        .filter(|r| r.spec.random_labels && !r.epochs().is_empty())
        .collect();
    let without_width = random.iter().filter(|r| r.width().is_none()).count();
    let mut by_key: BTreeMap<(usize, String), Vec<&Run>> = BTreeMap::new();
    for r in random.iter().filter(|r| r.width().is_some()) {
        by_key
            .entry((
                r.spec.batch,
                key(r.spec, &[Field::Width, Field::Batch, Field::Seed]),
            ))
            .or_default()
            .push(r);
    }
    let mut groups = Vec::new();
    let mut single = 0;
    for ((batch, k), members) in by_key {
        let mut by_width: BTreeMap<usize, Vec<&Run>> = BTreeMap::new();
        for r in members.iter().copied() {
            by_width.entry(r.spec.hidden).or_default().push(r);
        }
        if by_width.len() < 2 {
            single += 1;
            continue;
        }
        let epoch = members.iter().map(|r| r.epochs().len()).min().unwrap_or(0);
        // The last quarter: at least one epoch back from the last.
        let trend_from = epoch - epoch.div_ceil(4).max(1).min(epoch - 1);
        let widths: Vec<WidthValue> = by_width
            .iter()
            .map(|(&width, rs)| width_value(width, rs, epoch, trend_from))
            .collect();
        let code: Vec<f64> = widths.iter().map(|w| w.rho_code).collect();
        let paper: Vec<f64> = widths.iter().map(|w| w.rho_paper).collect();
        let (max_pair_sd, max_rise_sd, verdict) = judge(&widths);
        groups.push(WidthGroup {
            batch,
            key: k,
            epoch,
            trend_from,
            spread_code: spread(&code),
            spread_paper: spread(&paper),
            widths,
            max_pair_sd,
            max_rise_sd,
            verdict,
        });
    }
    let verdict = Verdict::all(groups.iter().map(|g| g.verdict));
    let why = if groups.is_empty() {
        "no batch size has random-label runs at two or more widths".to_string()
    } else {
        groups
            .iter()
            .map(|g| format!("b = {}: {}", g.batch, g.verdict))
            .collect::<Vec<_>>()
            .join("; ")
    };
    WidthIndependence {
        claim: "with random labels the running-average discrepancy tends below a threshold independent of the width (Appendix B)",
        rule: format!(
            "per batch size, random-label MLP runs at their last common epoch, on the excess e = ρ̄_code − null with the null's standard \
             deviations: does not hold if two widths' excesses differ by more than {TOLERANCE_SD} combined sd, inconclusive if a width's \
             excess rises by more than {TOLERANCE_SD} sd of its change over the last quarter of epochs (or without two widths); \
             otherwise holds, and sampling noise alone gives the same if every width's excess is within {TOLERANCE_SD} sd of 0, \
             else holds"
        ),
        random_label_runs: random.len(),
        groups,
        single_width_groups: single,
        without_width,
        verdict,
        why,
    }
}
