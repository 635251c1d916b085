//! Claim 1, "the scale of the accuracy discrepancy is inversely quadratic in the batch size"
//! (Appendix B; the b⁻² of β(n, b) in Theorem 3.2), judged against the null model.
//!
//! Runs are grouped by labels (true / random) and by everything but batch size and seed (for
//! the Appendix B grid: by hidden width). Within each group with at least two batch sizes, the
//! running averages are taken at the group's last common epoch t, and log y = a_group + s·log b
//! is fitted by least squares with one intercept per group, for three quantities y: the
//! measured ρ̄, the null's ρ̄ (what a batch drawn independently of correctness gives, for each
//! run's own n, b and epochs) and the excess ρ̄ − null (points with excess ≤ 0 left out; when
//! they are most of the points there is no fit). The 95% interval of s uses the t distribution
//! on the residuals.
//!
//! The verdict, on the measured ρ̄_code of each labels setting: **does not hold** if the
//! interval excludes −2 and is narrower than [`MAX_CI_WIDTH`], and **does not hold at this n/b,
//! and sampling noise alone gives the same exponent** when the null's own exponent lies in the
//! interval (the null's exponent tends to −2 only as n/b grows, docs/design.md §8.4); **inconclusive** if it is wider,
//! or with fewer than 3 points or no residual degree of freedom; if it contains −2, **holds,
//! and sampling noise alone gives the same** when no run of the fit has a running excess z
//! above [`Z_SIGNAL`] (ρ̄ is then indistinguishable from its null, whose own b-dependence is
//! ≈ b⁻² by construction), and **holds** when some run does. The null's and the excess's
//! exponents are printed beside it; ρ_paper is fitted and reported too.

use super::statistics::{fit_slope, t_quantile_975};
use super::{Verdict, Z_SIGNAL};
use crate::experiments::selection::{key, labels_name, names, Field, Rho, Run};
use crate::experiments::sweep::RunSpec;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// An interval wider than this cannot separate b⁻² from b⁻¹ or b⁻³, so it decides nothing
/// either way.
pub const MAX_CI_WIDTH: f64 = 2.0;
/// The half-width of the interval is at least this, so that an exact fit whose slope is −2 up
/// to floating-point rounding still "contains" −2.
pub const MIN_HALF_WIDTH: f64 = 1e-9;

/// One run's running averages at the epoch the claim compares.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// The run's id ([`RunSpec::id`]).
    pub id: String,
    /// Batch size b.
    pub batch: usize,
    /// The run's seed.
    pub seed: u64,
    /// The run's own n (after the tail is dropped).
    pub n: usize,
    /// Running average ρ̄_code at the compared epoch, in bits.
    pub rho_code: f64,
    /// Running average ρ̄_paper at the compared epoch, in bits.
    pub rho_paper: f64,
    /// The null's running average for this run.
    pub null_code: f64,
    /// The null's running average in the paper's direction.
    pub null_paper: f64,
    /// The running excess z.
    pub z_code: f64,
    /// The running excess z in the paper's direction.
    pub z_paper: f64,
}

/// What a fit is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quantity {
    /// The measured running average ρ̄.
    Measured,
    /// The null's running average.
    Null,
    /// ρ̄ − null.
    Excess,
}

impl Quantity {
    /// The quantity's printed name.
    pub fn name(self) -> &'static str {
        match self {
            Quantity::Measured => "measured ρ̄",
            Quantity::Null => "null",
            Quantity::Excess => "excess ρ̄ − null",
        }
    }
}

impl Point {
    fn value(&self, rho: Rho, q: Quantity) -> f64 {
        let (measured, null) = match rho {
            Rho::Code => (self.rho_code, self.null_code),
            Rho::Paper => (self.rho_paper, self.null_paper),
        };
        match q {
            Quantity::Measured => measured,
            Quantity::Null => null,
            Quantity::Excess => measured - null,
        }
    }

    fn z(&self, rho: Rho) -> f64 {
        match rho {
            Rho::Code => self.z_code,
            Rho::Paper => self.z_paper,
        }
    }
}

/// A group of claim 1: runs that differ only in batch size and seed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchGroup {
    /// The group's name among the groups of its labels setting ("width 2").
    pub name: String,
    /// What the group's runs share: [`key`] without batch size and seed.
    pub key: String,
    /// The last epoch every run of the group reached.
    pub epoch: usize,
    /// The group's runs, one point each.
    pub points: Vec<Point>,
}

/// The groups of claim 1 of one labels setting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelGroups {
    /// Whether these groups have random labels.
    pub random_labels: bool,
    /// The groups of this labels setting with at least two batch sizes.
    pub groups: Vec<BatchGroup>,
}

/// One slope fit: log y = a_group + s·log b.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exponent {
    /// What was fitted: the measured ρ̄, its null or the excess.
    pub quantity: Quantity,
    /// Points in the fit.
    pub points: usize,
    /// Groups in the fit.
    pub groups: usize,
    /// Points left out because y ≤ 0 (no logarithm), or their group kept one batch size.
    pub left_out: usize,
    /// Points with y ≤ 0 (or not finite); when they are most of the points there is no fit.
    pub not_positive: usize,
    /// The fitted exponent s of b; `None` when no group has y > 0 at two batch sizes, or most
    /// points are not positive.
    pub slope: Option<f64>,
    /// The 95% confidence interval of s; `None` with fewer than 3 points or no residual degree of
    /// freedom.
    pub ci95: Option<[f64; 2]>,
    /// Residual degrees of freedom: points − groups − 1.
    pub df: usize,
    /// The 0.975 quantile of Student's t with `df` degrees of freedom; `None` without an
    /// interval.
    pub t: Option<f64>,
}

/// The fits of one labels setting and one direction of ρ, and their verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchFit {
    /// Whether the fit is over random-label runs.
    pub random_labels: bool,
    /// Which direction of ρ was fitted.
    pub rho: Rho,
    /// The exponent of the measured ρ̄; the verdict rests on it.
    pub measured: Exponent,
    /// The exponent of the null's running average (≈ −2 by construction, docs/design.md §8.4).
    pub null: Exponent,
    /// The exponent of the excess ρ̄ − null.
    pub excess: Exponent,
    /// Points whose running excess z is above [`Z_SIGNAL`].
    pub signal_points: usize,
    /// The verdict for this labels setting and direction.
    pub verdict: Verdict,
    /// The reason for the verdict, in one line.
    pub why: String,
}

/// Claim 1.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchDependence {
    /// The claim as the paper states it.
    pub claim: &'static str,
    /// How the verdict is decided, in words.
    pub rule: String,
    /// Groups with at least two batch sizes, per labels setting (true labels first).
    pub labels: Vec<LabelGroups>,
    /// Groups with a single batch size, which say nothing about the slope.
    pub single_batch_groups: usize,
    /// One fit per labels setting and direction of ρ.
    pub fits: Vec<BatchFit>,
    /// The verdict on ρ_code over every labels setting (the weakest decides).
    pub verdict: Verdict,
    /// The reason for the verdict, in one line.
    pub why: String,
}

fn exponent(rho: Rho, quantity: Quantity, groups: &[BatchGroup]) -> Exponent {
    let (mut left_out, mut not_positive, mut total) = (0, 0, 0);
    let mut data: Vec<Vec<(f64, f64)>> = Vec::new();
    for g in groups {
        let usable: Vec<(f64, f64)> = g
            .points
            .iter()
            .map(|p| (p.batch as f64, p.value(rho, quantity)))
            .filter(|&(_, r)| r > 0.0 && r.is_finite())
            .map(|(b, r)| (b.ln(), r.ln()))
            .collect();
        left_out += g.points.len() - usable.len();
        not_positive += g.points.len() - usable.len();
        total += g.points.len();
        let distinct: BTreeSet<u64> = usable.iter().map(|p| p.0.to_bits()).collect();
        if distinct.len() >= 2 {
            data.push(usable);
        } else {
            left_out += usable.len();
        }
    }
    let mut out = Exponent {
        quantity,
        points: data.iter().map(Vec::len).sum(),
        groups: data.len(),
        left_out,
        not_positive: 0,
        slope: None,
        ci95: None,
        df: 0,
        t: None,
    };
    out.not_positive = not_positive;
    // A fit of the few points that happen to be positive describes noise, not the quantity.
    if 2 * not_positive > total {
        return out;
    }
    let Some(fit) = fit_slope(&data) else {
        return out;
    };
    out.slope = Some(fit.slope);
    out.df = fit.df;
    if let (Some(se), Some(t), true) = (fit.std_error, t_quantile_975(fit.df), out.points >= 3) {
        let half = (t * se).max(MIN_HALF_WIDTH);
        out.t = Some(t);
        out.ci95 = Some([fit.slope - half, fit.slope + half]);
    }
    out
}

fn fit_verdict(random_labels: bool, rho: Rho, groups: &[BatchGroup]) -> BatchFit {
    let measured = exponent(rho, Quantity::Measured, groups);
    let null = exponent(rho, Quantity::Null, groups);
    let excess = exponent(rho, Quantity::Excess, groups);
    let signal_points = groups
        .iter()
        .flat_map(|g| &g.points)
        .filter(|p| p.z(rho) > Z_SIGNAL)
        .count();
    let (verdict, why) = judge(&measured, &null, signal_points);
    BatchFit {
        random_labels,
        rho,
        measured,
        null,
        excess,
        signal_points,
        verdict,
        why,
    }
}

fn judge(measured: &Exponent, null: &Exponent, signal_points: usize) -> (Verdict, String) {
    if measured.slope.is_none() {
        return (
            Verdict::Inconclusive,
            "no group has ρ̄ > 0 at two batch sizes".into(),
        );
    }
    if measured.points < 3 {
        return (
            Verdict::Inconclusive,
            format!("{} points, fewer than 3", measured.points),
        );
    }
    let Some([lo, hi]) = measured.ci95 else {
        return (
            Verdict::Inconclusive,
            "no residual degree of freedom (points = groups + 1)".into(),
        );
    };
    if hi - lo >= MAX_CI_WIDTH {
        return (
            Verdict::Inconclusive,
            format!(
                "the interval is {:.3} wide, not narrower than {MAX_CI_WIDTH}",
                hi - lo
            ),
        );
    }
    let null_note = match null.slope {
        Some(s) if lo <= s && s <= hi => format!("; the null's exponent {s:.3} is inside it"),
        Some(s) => format!("; the null's exponent {s:.3} is outside it"),
        None => String::new(),
    };
    if !(lo <= -2.0 && -2.0 <= hi) {
        let noise = null.slope.is_some_and(|s| lo <= s && s <= hi);
        let verdict = if noise {
            Verdict::DoesNotHoldAsNoise
        } else {
            Verdict::DoesNotHold
        };
        return (verdict, format!("the interval excludes -2{null_note}"));
    }
    if signal_points == 0 {
        (
            Verdict::HoldsAsNoise,
            format!("the interval contains -2, and no run's running excess z exceeds {Z_SIGNAL}{null_note}"),
        )
    } else {
        (
            Verdict::Holds,
            format!("the interval contains -2, and {signal_points} runs have a running excess z above {Z_SIGNAL}{null_note}"),
        )
    }
}

/// Checks claim 1.
pub fn check(runs: &[Run]) -> BatchDependence {
    let mut labels = Vec::new();
    let mut single = 0;
    for random in [false, true] {
        let (kept, singles) = multi_batch_groups(runs, random);
        single += singles;
        let specs: Vec<&RunSpec> = kept.iter().map(|(_, m)| m[0].spec).collect();
        let group_names = names(&specs, &[Field::Batch, Field::Seed, Field::Labels]);
        let out = kept
            .into_iter()
            .zip(group_names)
            .map(|((k, members), name)| batch_group(k, &members, name))
            .collect();
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
        .filter(|f| f.rho == Rho::Code && f.measured.groups > 0)
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
                .join("; ")
    };
    BatchDependence {
        claim: "the running-average discrepancy scales as b^-2 with the batch size b (Appendix B)",
        rule: format!(
            "fit log y = a_group + s·log b, one intercept per (labels, width) group, at the group's last common epoch, \
             for y = measured ρ̄, its null (each run's own n, b, epochs) and the excess ρ̄ − null; on the measured ρ̄_code: \
             does not hold if the 95% t-interval of s excludes -2 and is narrower than {MAX_CI_WIDTH} (and sampling noise alone gives the same \
             exponent when the null's exponent is inside the interval), inconclusive if it is wider \
             (or fewer than 3 points, or no residual degree of freedom); if it contains -2: holds when some run's running \
             excess z exceeds {Z_SIGNAL}, else holds, and sampling noise alone gives the same"
        ),
        labels,
        single_batch_groups: single,
        fits,
        verdict,
        why,
    }
}

/// The runs with the given labels setting grouped by everything but batch and seed, keeping
/// the groups with two or more batch sizes (with their key); also the count of the others.
fn multi_batch_groups<'a, 'r>(
    runs: &'a [Run<'r>],
    random: bool,
) -> (Vec<(String, Vec<&'a Run<'r>>)>, usize) {
    // Keyed by the setting, then the width as a number, so that width 10 follows width 5.
    let mut by_key: BTreeMap<(String, Option<usize>), Vec<&'a Run<'r>>> = BTreeMap::new();
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
    let mut kept: Vec<(String, Vec<&'a Run<'r>>)> = Vec::new();
    let mut single = 0;
    for (_, members) in by_key {
        let batches: BTreeSet<usize> = members.iter().map(|r| r.spec.batch).collect();
        if batches.len() >= 2 {
            kept.push((key(members[0].spec, &[Field::Batch, Field::Seed]), members));
        } else {
            single += 1;
        }
    }
    (kept, single)
}

/// One group's points at its last common epoch, sorted by batch and seed.
fn batch_group(k: String, members: &[&Run], name: String) -> BatchGroup {
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
                n: r.report.config.n,
                rho_code: e.running_rho_code,
                rho_paper: e.running_rho_paper,
                null_code: e.running_null_rho_code,
                null_paper: e.running_null_rho_paper,
                z_code: e.running_excess_z_code,
                z_paper: e.running_excess_z_paper,
            }
        })
        .collect();
    points.sort_by_key(|p| (p.batch, p.seed));
    BatchGroup {
        name,
        key: k,
        epoch,
        points,
    }
}
