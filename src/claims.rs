//! `rewind claims` as a library: the paper's three statements about the accuracy discrepancy,
//! checked on sweep results, each with a verdict computed from the numbers (never hard-coded)
//! and the numbers it rests on.
//!
//! The statements, from Section 3 ("The case for weak models") and Appendix B:
//!
//! 1. **Inverse-quadratic dependence on batch size** (Appendix B: "the scale of the accuracy
//!    discrepancy is inversely quadratic in the batch size", the b⁻² of β(n, b) in Theorem 3.2).
//!    Runs are grouped by labels (true / random) and by everything but batch size and seed
//!    (for the Appendix B grid: by hidden width). Within each group with at least two batch
//!    sizes, the running average ρ̄ = (1/t)Σρ_i is taken at the group's last common epoch t, and
//!    log ρ̄ = a_group + s·log b is fitted by least squares with one intercept per group (so
//!    that widths at different levels do not bias the slope). The 95% interval of s uses the
//!    t distribution on the residuals ([`t_quantile_975`]). **Holds** if the interval contains
//!    −2 and is narrower than [`MAX_CI_WIDTH`]; **does not hold** if it excludes −2 and is
//!    narrower than [`MAX_CI_WIDTH`]; **inconclusive** otherwise (fewer than 3 points, no
//!    residual degree of freedom, or a wider interval, which cannot tell b⁻² from b⁻¹ or b⁻³).
//!    The verdict uses ρ_code (`running_rho_code`); ρ_paper is fitted and reported beside it.
//! 2. **Random labels: the running average tends below a width-independent threshold**
//!    (Appendix B, MNIST-RAND). Among random-label MLP runs, per batch size (and setting), the
//!    running average of each width at the last common epoch; relative spread
//!    (max − min)/mean across widths; and the trend of each width's running average over the
//!    last quarter of epochs. **Holds** if every batch size has spread ≤ [`SPREAD_HOLDS`] and
//!    no width's running average rises by more than [`TREND_TOLERANCE`] (relative) over the
//!    last quarter; **does not hold** if some spread > [`SPREAD_FAILS`]; **inconclusive**
//!    otherwise, or when no batch size has two widths.
//! 3. **Theorem 3.2**: "if the algorithm does not terminate by the t-th iteration, then w.h.p.
//!    (1/t)Σρ_i ≤ O(n log n / b²)". For every run that never reached 100% accuracy, the running
//!    average at its last epoch against β(n, b) = n·log₂ n / b² (`beta_leading`: the leading
//!    term with constant 1, since the paper leaves the constant open). **Holds** if every such
//!    run is at or below β, **does not hold** if any is above, **inconclusive** without such
//!    runs. The code's own threshold `beta_code` and ρ_paper are reported for information.
//!
//! Runs are described by their [`RunSpec`] (model, width, batch, …); n and β come from the
//! report. Error lines and lines without a report are skipped and counted.

use crate::discrepancy::EpochDiscrepancy;
use crate::report::VerifyReport;
use crate::sweep::{ResultLine, RunSpec};
use crate::Error;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// Claim 1: an interval wider than this cannot separate b⁻² from b⁻¹ or b⁻³, so it decides
/// nothing either way.
pub const MAX_CI_WIDTH: f64 = 2.0;
/// Claim 1: the half-width of the interval is at least this, so that an exact fit whose slope
/// is −2 up to floating-point rounding still "contains" −2.
pub const MIN_HALF_WIDTH: f64 = 1e-9;
/// Claim 2: at most this relative spread across widths counts as width-independent.
pub const SPREAD_HOLDS: f64 = 0.5;
/// Claim 2: a relative spread above this contradicts width independence.
pub const SPREAD_FAILS: f64 = 1.0;
/// Claim 2: a running average that rises by at most this fraction over the last quarter of
/// epochs counts as non-increasing; a converged average is flat up to noise of order 1/t.
pub const TREND_TOLERANCE: f64 = 0.01;

/// The outcome of checking a claim on the results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Holds,
    DoesNotHold,
    Inconclusive,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::DoesNotHold => "does not hold",
            Verdict::Inconclusive => "inconclusive",
        }
    }

    /// One contradiction refutes; every part must hold for the whole to hold; no part at all is
    /// no evidence.
    fn all(parts: impl IntoIterator<Item = Verdict>) -> Verdict {
        let mut any = false;
        let mut all_hold = true;
        for v in parts {
            any = true;
            match v {
                Verdict::DoesNotHold => return Verdict::DoesNotHold,
                Verdict::Inconclusive => all_hold = false,
                Verdict::Holds => {}
            }
        }
        if any && all_hold {
            Verdict::Holds
        } else {
            Verdict::Inconclusive
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which direction of the discrepancy (see [`crate::discrepancy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rho {
    /// D(φ‖λ'), the direction the code (and the paper's own proof) bounds.
    Code,
    /// D(λ'‖φ), as the paper writes ρ.
    Paper,
}

impl Rho {
    pub fn name(self) -> &'static str {
        match self {
            Rho::Code => "ρ_code",
            Rho::Paper => "ρ_paper",
        }
    }

    /// The running average (1/t)Σ_{i≤t} ρ_i of this direction.
    pub fn running(self, e: &EpochDiscrepancy) -> f64 {
        match self {
            Rho::Code => e.running_rho_code,
            Rho::Paper => e.running_rho_paper,
        }
    }
}

/// One result line that has a report.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    pub id: &'a str,
    pub spec: &'a RunSpec,
    pub report: &'a VerifyReport,
}

impl Run<'_> {
    /// The hidden width, for the MLP (other models ignore the `hidden` axis).
    pub fn width(&self) -> Option<usize> {
        (self.spec.model == "mlp").then_some(self.spec.hidden)
    }

    /// ρ per epoch.
    pub fn epochs(&self) -> &[EpochDiscrepancy] {
        &self.report.discrepancy.epochs
    }
}

/// The usable runs of a results file and what was skipped.
#[derive(Debug, Clone)]
pub struct Runs<'a> {
    pub runs: Vec<Run<'a>>,
    /// Lines whose run could not be set up or failed (`"error"`).
    pub error_lines: usize,
    /// Lines with neither a report nor an error.
    pub without_report: usize,
}

/// Splits result lines into runs with a report and counts the rest.
pub fn runs(lines: &[ResultLine]) -> Runs<'_> {
    let mut out = Runs {
        runs: Vec::new(),
        error_lines: 0,
        without_report: 0,
    };
    for l in lines {
        match (&l.error, &l.report) {
            (Some(_), _) => out.error_lines += 1,
            (None, None) => out.without_report += 1,
            (None, Some(report)) => out.runs.push(Run {
                id: &l.id,
                spec: &l.spec,
                report,
            }),
        }
    }
    out
}

/// A field of the run specification, for grouping runs and for naming them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Width,
    Model,
    Data,
    Activation,
    Step,
    Backend,
    FracBits,
    Epochs,
    Classes,
    Labels,
    Batch,
    Seed,
}

impl Field {
    /// In the order names are written: the width first, as in the paper's legends.
    pub const ALL: [Field; 12] = [
        Field::Width,
        Field::Model,
        Field::Data,
        Field::Activation,
        Field::Step,
        Field::Backend,
        Field::FracBits,
        Field::Epochs,
        Field::Classes,
        Field::Labels,
        Field::Batch,
        Field::Seed,
    ];

    /// The field of a spec as a short human phrase ("width 2", "b = 50", "seed 1"); empty
    /// where it does not apply (the width of a model without a hidden layer).
    pub fn describe(self, s: &RunSpec) -> String {
        match self {
            Field::Width => {
                if s.model == "mlp" {
                    format!("width {}", s.hidden)
                } else {
                    String::new()
                }
            }
            Field::Model => s.model.clone(),
            Field::Data => s.data.clone(),
            Field::Activation => {
                if s.model == "mlp" {
                    s.activation.clone()
                } else {
                    String::new()
                }
            }
            Field::Step => s.step.clone(),
            Field::Backend => s.backend.clone(),
            Field::FracBits => format!("p = {}", s.frac_bits),
            Field::Epochs => format!("{} epochs", s.epochs),
            Field::Classes => match &s.classes {
                Some(c) => format!(
                    "classes {}",
                    c.iter().map(u32::to_string).collect::<Vec<_>>().join("+")
                ),
                None => String::new(),
            },
            Field::Labels => labels_name(s.random_labels).to_string(),
            Field::Batch => format!("b = {}", s.batch),
            Field::Seed => format!("seed {}", s.seed),
        }
    }
}

/// "true labels" or "random labels".
pub fn labels_name(random: bool) -> &'static str {
    if random {
        "random labels"
    } else {
        "true labels"
    }
}

/// Everything that identifies a setting except the fields in `except`: runs with equal keys
/// differ only in those fields.
pub fn key(s: &RunSpec, except: &[Field]) -> String {
    Field::ALL
        .iter()
        .filter(|f| !except.contains(f))
        .map(|f| f.describe(s))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A name for each spec made of the fields (outside `ignore`) that differ among them, the
/// width first; a spec set where nothing differs is named by its width, or else its model.
pub fn names(specs: &[&RunSpec], ignore: &[Field]) -> Vec<String> {
    let varying: Vec<Field> = Field::ALL
        .iter()
        .copied()
        .filter(|f| !ignore.contains(f))
        .filter(|f| {
            let values: BTreeSet<String> = specs.iter().map(|s| f.describe(s)).collect();
            values.len() > 1
        })
        .collect();
    specs
        .iter()
        .map(|s| {
            let parts: Vec<String> = varying
                .iter()
                .map(|f| f.describe(s))
                .filter(|d| !d.is_empty())
                .collect();
            if !parts.is_empty() {
                parts.join(", ")
            } else if s.model == "mlp" {
                Field::Width.describe(s)
            } else {
                s.model.clone()
            }
        })
        .collect()
}

/// The 0.975 quantile of Student's t distribution with `df` degrees of freedom: a table for
/// df 1–30 (4 decimals), and beyond it the Cornish–Fisher expansion around the normal
/// quantile 1.959964, which is within 1e-4 of the exact value there.
pub fn t_quantile_975(df: usize) -> Option<f64> {
    const TABLE: [f64; 30] = [
        12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010,
        2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739,
        2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
    ];
    match df {
        0 => None,
        1..=30 => Some(TABLE[df - 1]),
        _ => {
            let z = 1.959_963_985_f64;
            let v = df as f64;
            let g1 = (z.powi(3) + z) / 4.0;
            let g2 = (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / 96.0;
            let g3 = (3.0 * z.powi(7) + 19.0 * z.powi(5) + 17.0 * z.powi(3) - 15.0 * z) / 384.0;
            Some(z + g1 / v + g2 / (v * v) + g3 / (v * v * v))
        }
    }
}

/// A least-squares slope with one intercept per group.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SlopeFit {
    pub slope: f64,
    /// Standard error of the slope; `None` without a residual degree of freedom.
    pub std_error: Option<f64>,
    /// Points − groups − 1.
    pub df: usize,
}

/// Fits y = a_g + s·x over groups of (x, y) points. Groups whose x are all equal carry no
/// information about s and are left out by the caller; `None` when no x varies.
pub fn fit_slope(groups: &[Vec<(f64, f64)>]) -> Option<SlopeFit> {
    let mean = |g: &[(f64, f64)]| {
        let n = g.len() as f64;
        (
            g.iter().map(|p| p.0).sum::<f64>() / n,
            g.iter().map(|p| p.1).sum::<f64>() / n,
        )
    };
    let groups: Vec<&Vec<(f64, f64)>> = groups.iter().filter(|g| !g.is_empty()).collect();
    let (mut sxx, mut sxy, mut points) = (0.0, 0.0, 0usize);
    for g in &groups {
        let (mx, my) = mean(g);
        for &(x, y) in g.iter() {
            sxx += (x - mx) * (x - mx);
            sxy += (x - mx) * (y - my);
        }
        points += g.len();
    }
    if sxx <= 0.0 || !sxx.is_finite() {
        return None;
    }
    let slope = sxy / sxx;
    let mut ssr = 0.0;
    for g in &groups {
        let (mx, my) = mean(g);
        for &(x, y) in g.iter() {
            let r = (y - my) - slope * (x - mx);
            ssr += r * r;
        }
    }
    let df = points.saturating_sub(groups.len() + 1);
    let std_error = (df > 0).then(|| (ssr / df as f64 / sxx).sqrt());
    Some(SlopeFit {
        slope,
        std_error,
        df,
    })
}

/// One run's running averages at the epoch a claim compares.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    pub id: String,
    pub batch: usize,
    pub seed: u64,
    pub rho_code: f64,
    pub rho_paper: f64,
}

impl Point {
    fn rho(&self, rho: Rho) -> f64 {
        match rho {
            Rho::Code => self.rho_code,
            Rho::Paper => self.rho_paper,
        }
    }
}

/// A group of claim 1: runs that differ only in batch size and seed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchGroup {
    /// The group's name among the groups of its labels setting ("width 2").
    pub name: String,
    pub key: String,
    /// The last epoch every run of the group reached.
    pub epoch: usize,
    pub points: Vec<Point>,
}

/// The groups of claim 1 of one labels setting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelGroups {
    pub random_labels: bool,
    pub groups: Vec<BatchGroup>,
}

/// One fit of claim 1: one labels setting, one direction of ρ.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchFit {
    pub random_labels: bool,
    pub rho: Rho,
    /// Points in the fit.
    pub points: usize,
    /// Groups in the fit.
    pub groups: usize,
    /// Points left out because ρ̄ ≤ 0 (no logarithm), with the groups they emptied.
    pub left_out: usize,
    pub slope: Option<f64>,
    pub ci95: Option<[f64; 2]>,
    pub df: usize,
    pub t: Option<f64>,
    pub verdict: Verdict,
    pub why: String,
}

/// Claim 1.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchDependence {
    pub claim: &'static str,
    pub rule: String,
    /// Groups with at least two batch sizes, per labels setting (true labels first).
    pub labels: Vec<LabelGroups>,
    /// Groups with a single batch size, which say nothing about the slope.
    pub single_batch_groups: usize,
    pub fits: Vec<BatchFit>,
    pub verdict: Verdict,
    pub why: String,
}

fn fit_verdict(random_labels: bool, rho: Rho, groups: &[BatchGroup]) -> BatchFit {
    let mut left_out = 0;
    let mut data: Vec<Vec<(f64, f64)>> = Vec::new();
    for g in groups {
        let usable: Vec<(f64, f64)> = g
            .points
            .iter()
            .map(|p| (p.batch as f64, p.rho(rho)))
            .filter(|&(_, r)| r > 0.0 && r.is_finite())
            .map(|(b, r)| (b.ln(), r.ln()))
            .collect();
        left_out += g.points.len() - usable.len();
        let distinct: BTreeSet<u64> = usable.iter().map(|p| p.0.to_bits()).collect();
        if distinct.len() >= 2 {
            data.push(usable);
        } else {
            left_out += usable.len();
        }
    }
    let points: usize = data.iter().map(Vec::len).sum();
    let mut out = BatchFit {
        random_labels,
        rho,
        points,
        groups: data.len(),
        left_out,
        slope: None,
        ci95: None,
        df: 0,
        t: None,
        verdict: Verdict::Inconclusive,
        why: String::new(),
    };
    let Some(fit) = fit_slope(&data) else {
        out.why = "no group has ρ̄ > 0 at two batch sizes".into();
        return out;
    };
    out.slope = Some(fit.slope);
    out.df = fit.df;
    if points < 3 {
        out.why = format!("{points} points, fewer than 3");
        return out;
    }
    let (Some(se), Some(t)) = (fit.std_error, t_quantile_975(fit.df)) else {
        out.why = "no residual degree of freedom (points = groups + 1)".into();
        return out;
    };
    let half = (t * se).max(MIN_HALF_WIDTH);
    let (lo, hi) = (fit.slope - half, fit.slope + half);
    out.t = Some(t);
    out.ci95 = Some([lo, hi]);
    let contains = lo <= -2.0 && -2.0 <= hi;
    let narrow = hi - lo < MAX_CI_WIDTH;
    (out.verdict, out.why) = match (contains, narrow) {
        (true, true) => (Verdict::Holds, "the interval contains -2".into()),
        (false, true) => (Verdict::DoesNotHold, "the interval excludes -2".into()),
        (_, false) => (
            Verdict::Inconclusive,
            format!(
                "the interval is {:.3} wide, not narrower than {MAX_CI_WIDTH}",
                hi - lo
            ),
        ),
    };
    out
}

fn batch_dependence(runs: &[Run]) -> BatchDependence {
    let mut labels = Vec::new();
    let mut single = 0;
    for random in [false, true] {
        // Keyed by the setting, then the width as a number, so that width 10 follows width 5.
        let mut by_key: BTreeMap<(String, Option<usize>), Vec<&Run>> = BTreeMap::new();
        for r in runs
            .iter()
            .filter(|r| r.spec.random_labels == random && !r.epochs().is_empty())
        {
            by_key
                .entry((
                    key(r.spec, &[Field::Width, Field::Batch, Field::Seed]),
                    r.width(),
                ))
                .or_default()
                .push(r);
        }
        let mut kept: Vec<(String, Vec<&Run>)> = Vec::new();
        for (_, members) in by_key {
            let batches: BTreeSet<usize> = members.iter().map(|r| r.spec.batch).collect();
            if batches.len() >= 2 {
                kept.push((key(members[0].spec, &[Field::Batch, Field::Seed]), members));
            } else {
                single += 1;
            }
        }
        let specs: Vec<&RunSpec> = kept.iter().map(|(_, m)| m[0].spec).collect();
        let group_names = names(&specs, &[Field::Batch, Field::Seed, Field::Labels]);
        let mut out = Vec::new();
        for ((k, members), name) in kept.into_iter().zip(group_names) {
            // Early stopping ends runs at different epochs; compare them at the same time t.
            let epoch = members.iter().map(|r| r.epochs().len()).min().unwrap_or(0);
            let mut points: Vec<Point> = members
                .iter()
                .map(|r| {
                    let e = &r.epochs()[epoch - 1];
                    Point {
                        id: r.id.to_string(),
                        batch: r.spec.batch,
                        seed: r.spec.seed,
                        rho_code: e.running_rho_code,
                        rho_paper: e.running_rho_paper,
                    }
                })
                .collect();
            points.sort_by_key(|p| (p.batch, p.seed));
            out.push(BatchGroup {
                name,
                key: k,
                epoch,
                points,
            });
        }
        labels.push(LabelGroups {
            random_labels: random,
            groups: out,
        });
    }
    let mut fits = Vec::new();
    for l in &labels {
        for rho in [Rho::Code, Rho::Paper] {
            fits.push(fit_verdict(l.random_labels, rho, &l.groups));
        }
    }
    // The verdict rests on ρ_code for each labels setting that has data; ρ_paper is reported.
    let deciding: Vec<&BatchFit> = fits
        .iter()
        .filter(|f| f.rho == Rho::Code && f.groups > 0)
        .collect();
    let verdict = Verdict::all(deciding.iter().map(|f| f.verdict));
    let why = if deciding.is_empty() {
        "no (labels, width) group has runs at two or more batch sizes".to_string()
    } else {
        "on ρ_code: ".to_string()
            + &deciding
                .iter()
                .map(|f| format!("{} {}", labels_name(f.random_labels), f.verdict))
                .collect::<Vec<_>>()
                .join(", ")
    };
    BatchDependence {
        claim: "the running-average discrepancy scales as b^-2 with the batch size b (Appendix B)",
        rule: format!(
            "fit log ρ̄ = a_group + s·log b, one intercept per (labels, width) group, ρ̄ at the group's last common epoch; \
             holds if the 95% t-interval of s contains -2 and is narrower than {MAX_CI_WIDTH}, \
             does not hold if it excludes -2 and is narrower than {MAX_CI_WIDTH}, inconclusive otherwise \
             (fewer than 3 points, no residual degree of freedom, or a wider interval); verdict on ρ_code"
        ),
        labels,
        single_batch_groups: single,
        fits,
        verdict,
        why,
    }
}

/// One width of claim 2: its running average (mean over its runs) at the compared epoch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WidthValue {
    pub width: usize,
    pub runs: usize,
    pub rho_code: f64,
    pub rho_paper: f64,
    /// Relative change of the running ρ_code over the last quarter of epochs; `None` with a
    /// single epoch.
    pub trend: Option<f64>,
}

/// A batch size of claim 2.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WidthGroup {
    pub batch: usize,
    pub key: String,
    pub epoch: usize,
    /// The epoch the last quarter starts from.
    pub trend_from: usize,
    pub widths: Vec<WidthValue>,
    /// (max − min)/mean of ρ_code across widths.
    pub spread_code: f64,
    pub spread_paper: f64,
    pub non_increasing: Option<bool>,
    pub verdict: Verdict,
}

/// Claim 2.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WidthIndependence {
    pub claim: &'static str,
    pub rule: String,
    pub random_label_runs: usize,
    pub groups: Vec<WidthGroup>,
    /// Batch sizes (per setting) with a single width, which cannot show independence.
    pub single_width_groups: usize,
    /// Random-label runs of models without a hidden layer.
    pub without_width: usize,
    pub verdict: Verdict,
    pub why: String,
}

fn spread(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    if max == min {
        0.0
    } else if mean > 0.0 {
        (max - min) / mean
    } else {
        f64::INFINITY
    }
}

fn width_independence(runs: &[Run]) -> WidthIndependence {
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
            .map(|(&width, rs)| {
                let mean_at = |rho: Rho, t: usize| {
                    rs.iter()
                        .map(|r| rho.running(&r.epochs()[t - 1]))
                        .sum::<f64>()
                        / rs.len() as f64
                };
                let (end, start) = (mean_at(Rho::Code, epoch), mean_at(Rho::Code, trend_from));
                let trend = (trend_from < epoch).then(|| {
                    if start > 0.0 {
                        (end - start) / start
                    } else if end > start {
                        f64::INFINITY
                    } else {
                        0.0
                    }
                });
                WidthValue {
                    width,
                    runs: rs.len(),
                    rho_code: end,
                    rho_paper: mean_at(Rho::Paper, epoch),
                    trend,
                }
            })
            .collect();
        let code: Vec<f64> = widths.iter().map(|w| w.rho_code).collect();
        let paper: Vec<f64> = widths.iter().map(|w| w.rho_paper).collect();
        let (spread_code, spread_paper) = (spread(&code), spread(&paper));
        let non_increasing = widths
            .iter()
            .map(|w| w.trend.map(|t| t <= TREND_TOLERANCE))
            .collect::<Option<Vec<bool>>>()
            .map(|v| v.iter().all(|&b| b));
        let verdict = if spread_code > SPREAD_FAILS {
            Verdict::DoesNotHold
        } else if spread_code <= SPREAD_HOLDS && non_increasing == Some(true) {
            Verdict::Holds
        } else {
            Verdict::Inconclusive
        };
        groups.push(WidthGroup {
            batch,
            key: k,
            epoch,
            trend_from,
            widths,
            spread_code,
            spread_paper,
            non_increasing,
            verdict,
        });
    }
    let verdict = Verdict::all(groups.iter().map(|g| g.verdict));
    let why = if groups.is_empty() {
        "no batch size has random-label runs at two or more widths".to_string()
    } else {
        let count = |v: Verdict| groups.iter().filter(|g| g.verdict == v).count();
        format!(
            "{} of {} batch sizes hold, {} do not, {} inconclusive",
            count(Verdict::Holds),
            groups.len(),
            count(Verdict::DoesNotHold),
            count(Verdict::Inconclusive)
        )
    };
    WidthIndependence {
        claim: "with random labels the running-average discrepancy tends below a threshold independent of the width (Appendix B)",
        rule: format!(
            "per batch size, random-label MLP runs at their last common epoch: relative spread (max - min)/mean of ρ̄_code across widths, \
             and each width's change of ρ̄_code over the last quarter of epochs; holds if every spread ≤ {SPREAD_HOLDS} \
             and no width rises by more than {:.0}%, does not hold if some spread > {SPREAD_FAILS}, inconclusive otherwise \
             or without two widths",
            TREND_TOLERANCE * 100.0
        ),
        random_label_runs: random.len(),
        groups,
        single_width_groups: single,
        without_width,
        verdict,
        why,
    }
}

/// The run of claim 3 closest to (or furthest over) its threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorstRun {
    pub id: String,
    pub epoch: usize,
    pub rho_code: f64,
    pub beta: f64,
    /// ρ̄_code / β.
    pub ratio: f64,
}

/// Claim 3.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Theorem32 {
    pub claim: &'static str,
    pub rule: String,
    /// Runs that never reached 100% accuracy and made at least one epoch.
    pub runs: usize,
    pub stopped_at_full_accuracy: usize,
    /// Runs that made no step (they started at full accuracy).
    pub without_epochs: usize,
    /// ρ̄_code ≤ β at the last epoch.
    pub below: usize,
    pub above: usize,
    /// Informational: ρ̄_code ≤ the code's threshold `beta_code`.
    pub below_beta_code: usize,
    /// Informational: ρ̄_paper ≤ β.
    pub paper_below: usize,
    /// Informational: runs whose ρ̄_code exceeded β at some epoch (the theorem says ∀t).
    pub above_at_some_epoch: usize,
    pub worst: Option<WorstRun>,
    pub verdict: Verdict,
    pub why: String,
}

fn theorem_3_2(runs: &[Run]) -> Theorem32 {
    let mut t = Theorem32 {
        claim: "Theorem 3.2: while SGD has not reached 100% accuracy, the running average (1/t)Σρ_i stays below β(n,b) = O(n log n / b²)",
        rule: "for each run that never reached 100% accuracy, ρ̄_code at its last epoch against β = n·log₂ n / b² \
               (the leading term with constant 1); holds if all are at or below β, does not hold if any is above, \
               inconclusive without such runs"
            .into(),
        runs: 0,
        stopped_at_full_accuracy: 0,
        without_epochs: 0,
        below: 0,
        above: 0,
        below_beta_code: 0,
        paper_below: 0,
        above_at_some_epoch: 0,
        worst: None,
        verdict: Verdict::Inconclusive,
        why: String::new(),
    };
    for r in runs {
        if r.report.run.stopped_at_full_accuracy {
            t.stopped_at_full_accuracy += 1;
            continue;
        }
        let Some(last) = r.epochs().last() else {
            t.without_epochs += 1;
            continue;
        };
        let d = &r.report.discrepancy;
        t.runs += 1;
        if last.running_rho_code <= d.beta_leading {
            t.below += 1;
        } else {
            t.above += 1;
        }
        t.below_beta_code += usize::from(last.running_rho_code <= d.beta_code);
        t.paper_below += usize::from(last.running_rho_paper <= d.beta_leading);
        t.above_at_some_epoch += usize::from(
            r.epochs()
                .iter()
                .any(|e| e.running_rho_code > d.beta_leading),
        );
        let ratio = if d.beta_leading > 0.0 {
            last.running_rho_code / d.beta_leading
        } else {
            f64::INFINITY
        };
        if t.worst.as_ref().map_or(true, |w| ratio > w.ratio) {
            t.worst = Some(WorstRun {
                id: r.id.to_string(),
                epoch: last.epoch,
                rho_code: last.running_rho_code,
                beta: d.beta_leading,
                ratio,
            });
        }
    }
    (t.verdict, t.why) = if t.runs == 0 {
        (
            Verdict::Inconclusive,
            "no run ended below 100% accuracy".into(),
        )
    } else if t.above > 0 {
        (
            Verdict::DoesNotHold,
            format!("{} of {} runs end above β", t.above, t.runs),
        )
    } else {
        (
            Verdict::Holds,
            format!("all {} runs end at or below β", t.runs),
        )
    };
    t
}

/// The three claims checked on a results file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Claims {
    pub source: String,
    pub lines: usize,
    pub runs: usize,
    pub error_lines: usize,
    pub without_report: usize,
    pub batch_dependence: BatchDependence,
    pub width_independence: WidthIndependence,
    pub theorem_3_2: Theorem32,
}

/// Checks the three claims on the result lines of `source`.
pub fn check(lines: &[ResultLine], source: &str) -> Result<Claims, Error> {
    if lines.is_empty() {
        return Err(Error::Config(format!(
            "{source} holds no result lines; pass a results file written by `rewind sweep`"
        )));
    }
    let r = runs(lines);
    Ok(Claims {
        source: source.to_string(),
        lines: lines.len(),
        runs: r.runs.len(),
        error_lines: r.error_lines,
        without_report: r.without_report,
        batch_dependence: batch_dependence(&r.runs),
        width_independence: width_independence(&r.runs),
        theorem_3_2: theorem_3_2(&r.runs),
    })
}

/// A number with four significant digits, in scientific notation when very large or small.
pub fn num(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() { "NaN" } else { "inf" }.to_string();
    }
    let a = x.abs();
    if a == 0.0 {
        "0".to_string()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{x:.3e}")
    } else {
        let decimals = (3 - a.log10().floor() as i32).max(0) as usize;
        format!("{x:.decimals$}")
    }
}

fn percent(x: f64) -> String {
    if x.is_finite() {
        format!("{:+.1}%", 100.0 * x)
    } else {
        "rises from 0".to_string()
    }
}

/// The verdicts as text: one block per claim (the claim, the rule, the numbers, and a line
/// `verdict: …`).
pub fn render(c: &Claims) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "rewind claims: {}: {} runs with a report ({} of {} lines skipped: {} errors, {} without a report)",
        c.source,
        c.runs,
        c.error_lines + c.without_report,
        c.lines,
        c.error_lines,
        c.without_report
    );
    let b = &c.batch_dependence;
    let _ = writeln!(s, "\n(i) {}", b.claim);
    let _ = writeln!(s, "  rule: {}", b.rule);
    for l in &b.labels {
        for g in &l.groups {
            let pts: Vec<String> = g
                .points
                .iter()
                .map(|p| format!("b={} {}/{}", p.batch, num(p.rho_code), num(p.rho_paper)))
                .collect();
            let _ = writeln!(
                s,
                "  {}, {}, epoch {} (ρ̄_code/ρ̄_paper): {}",
                labels_name(l.random_labels),
                g.name,
                g.epoch,
                pts.join(", ")
            );
        }
    }
    if b.single_batch_groups > 0 {
        let _ = writeln!(
            s,
            "  {} groups with a single batch size left out",
            b.single_batch_groups
        );
    }
    for f in &b.fits {
        let slope = match (f.slope, f.ci95, f.t) {
            (Some(sl), Some([lo, hi]), Some(t)) => format!(
                "s = {}, 95% CI [{}, {}] (df {}, t {t:.3})",
                num(sl),
                num(lo),
                num(hi),
                f.df
            ),
            (Some(sl), _, _) => format!("s = {} (no interval)", num(sl)),
            _ => "no fit".to_string(),
        };
        let left = if f.left_out > 0 {
            format!(", {} points left out (ρ̄ ≤ 0 or one batch size)", f.left_out)
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "  {}, {}: {slope}; points {}, groups {}{left}: {} ({})",
            labels_name(f.random_labels),
            f.rho.name(),
            f.points,
            f.groups,
            f.verdict,
            f.why
        );
    }
    let _ = writeln!(s, "verdict: {} ({})", b.verdict, b.why);

    let w = &c.width_independence;
    let _ = writeln!(s, "\n(ii) {}", w.claim);
    let _ = writeln!(s, "  rule: {}", w.rule);
    let _ = writeln!(
        s,
        "  {} random-label runs; {} batch sizes with a single width and {} runs without a hidden layer left out",
        w.random_label_runs, w.single_width_groups, w.without_width
    );
    for g in &w.groups {
        let widths: Vec<String> = g
            .widths
            .iter()
            .map(|v| {
                format!(
                    "width {} {} ({})",
                    v.width,
                    num(v.rho_code),
                    v.trend.map_or("no trend".to_string(), percent)
                )
            })
            .collect();
        let _ = writeln!(
            s,
            "  b = {}, epoch {} (ρ̄_code, change since epoch {}): {}; spread ρ_code {}, ρ_paper {}: {}",
            g.batch,
            g.epoch,
            g.trend_from,
            widths.join(", "),
            num(g.spread_code),
            num(g.spread_paper),
            g.verdict
        );
    }
    let _ = writeln!(s, "verdict: {} ({})", w.verdict, w.why);

    let t = &c.theorem_3_2;
    let _ = writeln!(s, "\n(iii) {}", t.claim);
    let _ = writeln!(s, "  rule: {}", t.rule);
    let _ = writeln!(
        s,
        "  {} runs never reached 100% accuracy ({} stopped at full accuracy, {} made no step): {} at or below β, {} above",
        t.runs, t.stopped_at_full_accuracy, t.without_epochs, t.below, t.above
    );
    if let Some(worst) = &t.worst {
        let _ = writeln!(
            s,
            "  largest ρ̄_code/β = {} ({} at epoch {} vs β {}; {})",
            num(worst.ratio),
            num(worst.rho_code),
            worst.epoch,
            num(worst.beta),
            worst.id
        );
        let _ = writeln!(
            s,
            "  informational: {} of {} at or below the code's threshold β_code = (header + log₂ n)/b; ρ̄_paper at or below β: {}; above β at some epoch: {}",
            t.below_beta_code, t.runs, t.paper_below, t.above_at_some_epoch
        );
    }
    let _ = writeln!(s, "verdict: {} ({})", t.verdict, t.why);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_tables() {
        assert_eq!(t_quantile_975(0), None);
        assert_eq!(t_quantile_975(1), Some(12.7062));
        // Beyond the table: published values 2.0395 (31), 2.0211 (40), 2.0003 (60), 1.9799 (120).
        for (df, t) in [(31, 2.0395), (40, 2.0211), (60, 2.0003), (120, 1.9799)] {
            let got = t_quantile_975(df).unwrap();
            assert!((got - t).abs() < 2e-4, "df {df}: {got}");
        }
    }

    #[test]
    fn fixed_effects_slope_ignores_group_levels() {
        // Two groups on parallel lines of slope -2 at very different levels.
        let g = |a: f64| (1..=3).map(|x| (x as f64, a - 2.0 * x as f64)).collect();
        let fit = fit_slope(&[g(0.0), g(10.0)]).unwrap();
        assert!((fit.slope + 2.0).abs() < 1e-12);
        assert_eq!(fit.df, 3);
        assert!(fit.std_error.unwrap() < 1e-9);
        assert!(fit_slope(&[vec![(1.0, 2.0), (1.0, 3.0)]]).is_none());
    }

    #[test]
    fn verdicts_combine() {
        use Verdict::*;
        assert_eq!(Verdict::all([Holds, Holds]), Holds);
        assert_eq!(Verdict::all([Holds, Inconclusive]), Inconclusive);
        assert_eq!(Verdict::all([Inconclusive, DoesNotHold]), DoesNotHold);
        assert_eq!(Verdict::all([]), Inconclusive);
        assert_eq!(num(0.012345), "0.01235");
        assert_eq!(num(-2.0), "-2.000");
    }
}
