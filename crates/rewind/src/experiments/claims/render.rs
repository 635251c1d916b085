//! The verdicts as text: per claim, the claim, its rule, the measured numbers beside the
//! null's, and a line `verdict: …`.

use super::batch::{BatchDependence, Exponent};
use super::learning::LearningSignal;
use super::momentum::Momentum;
use super::section4::Section4;
use super::theorem::Theorem32;
use super::width::WidthIndependence;
use super::Claims;
use crate::experiments::selection::labels_name;
use std::fmt::Write;

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

/// A value and its null standard deviation as "x (y sd)".
fn sds(x: f64, sd: f64) -> String {
    if sd > 0.0 {
        format!("{} ({:+.1} sd)", num(x), x / sd)
    } else {
        num(x)
    }
}

/// The verdicts as text: one block per claim (the claim, the rule, the numbers, and a line
/// `verdict: …`).
pub fn render(c: &Claims) -> String {
    let mut s = format!(
        "rewind claims: {}: {} runs with a report ({} of {} lines skipped: {} errors, {} without a report)\n",
        c.source,
        c.runs,
        c.error_lines + c.without_report,
        c.lines,
        c.error_lines,
        c.without_report
    );
    let prime = c.section_4.as_ref().map_or(0, |p| p.runs);
    let momentum_runs = c.momentum.as_ref().map_or(0, |m| m.runs);
    if prime + momentum_runs < c.runs {
        batch(&mut s, &c.batch_dependence);
        width(&mut s, &c.width_independence);
        theorem(&mut s, &c.theorem_3_2);
        learning(&mut s, &c.learning_signal);
    } else {
        let only = match (prime, momentum_runs) {
            (_, 0) => "every run here is SGD′, so only (v) is checked",
            (0, _) => "every run here is momentum, so only (vi) is checked",
            _ => "every run here is SGD′ or momentum, so only (v) and (vi) are checked",
        };
        let _ = writeln!(s, "(i)–(iv) concern SGD (Algorithm 1); {only}");
    }
    if let Some(p) = &c.section_4 {
        section4(&mut s, p);
    }
    if let Some(m) = &c.momentum {
        momentum(&mut s, m);
    }
    s
}

fn momentum(s: &mut String, m: &Momentum) {
    let _ = writeln!(s, "\n(vi) {}", m.claim);
    let _ = writeln!(s, "  rule: {}", m.rule);
    let _ = writeln!(
        s,
        "  {} momentum runs with β > 0 ({} not rewound bit for bit), {} at β = 0 (plain SGD, not judged)",
        m.runs, m.not_bit_exact, m.beta_zero_runs
    );
    for g in &m.groups {
        let interval = g.interval.map_or("one seed".to_string(), |(lo, hi)| {
            format!("95% interval {}–{}", num(lo), num(hi))
        });
        let _ = writeln!(
            s,
            "  {} (d = {}), β = {}, {}: {} bits/step against d·log₂(1/β) {}, ratio {} ({}, {} seeds); nearest loss {}; plain SGD's hints {} bits/step: {}",
            g.setting,
            g.d,
            g.beta,
            g.rounding,
            num(g.bits_per_step),
            num(g.d_log2_inv_beta),
            num(g.ratio),
            interval,
            g.runs,
            num(g.nearest_loss),
            opt(g.plain_sgd_hint_bits_per_step),
            g.verdict
        );
    }
    let _ = writeln!(
        s,
        "verdict: with bits-back, {}; with nearest rounding, {} ({})",
        m.bits_back, m.nearest, m.why
    );
}

fn opt(x: Option<f64>) -> String {
    x.map_or("—".to_string(), num)
}

fn section4(s: &mut String, p: &Section4) {
    let _ = writeln!(s, "\n(v) {}", p.claim);
    let _ = writeln!(s, "  rule: {}", p.rule);
    let _ = writeln!(
        s,
        "  {} SGD′ runs ({} with a GD call); per level: runs, mean GD steps per call, median T_ij, p90, share of calls at T, runs returned (mean epoch), code/⌈log₂ n!⌉, discrepancy z",
        p.runs, p.used
    );
    for l in &p.levels {
        let _ = writeln!(
            s,
            "  {}, ℓ·m = {}: {} runs, mean {}, median {}, p90 {}, at T {}, returned {}/{} ({}), code ×{}, z {}",
            l.name,
            l.random_bits,
            l.runs,
            num(l.mean_steps),
            num(l.median_steps),
            num(l.p90_steps),
            num(l.share_at_cap),
            l.terminated,
            l.runs,
            l.mean_terminated_epoch
                .map_or("—".to_string(), |e| format!("epoch {}", num(e))),
            opt(l.code_ratio),
            l.excess_z.map_or("—".to_string(), |z| format!("{z:+.2}")),
        );
    }
    for g in &p.groups {
        let _ = writeln!(
            s,
            "  {}: ρ_s(ℓ·m, mean steps) = {} over {} runs at {} levels of ℓ·m",
            g.name,
            g.spearman
                .map_or("— (constant)".to_string(), |r| format!("{r:+.3}")),
            g.runs,
            g.levels
        );
    }
    if let (Some(o), Some([lo, hi])) = (p.pooled, p.null_interval) {
        let _ = writeln!(
            s,
            "  pooled ρ_s {o:+.3}; permutation null ({} permutations) 95% [{lo:+.3}, {hi:+.3}]; p(≤) {}, p(≥) {}",
            p.permutations,
            opt(p.p_less),
            opt(p.p_greater)
        );
    }
    if let Some([o, pl, pg]) = p.pooled_perturbed {
        let _ = writeln!(
            s,
            "  without ℓ·m = 0: pooled ρ_s {o:+.3}, p(≤) {}, p(≥) {}",
            num(pl),
            num(pg)
        );
    }
    if let Some([zero, small, nz, ns]) = p.jump {
        let _ = writeln!(
            s,
            "  the perturbation's size: mean GD steps per call {} at ℓ·m = 0 ({nz} runs) against {} at the smallest ℓ·m > 0 ({ns} runs)",
            num(zero),
            num(small)
        );
    }
    let _ = writeln!(
        s,
        "  hypothesis: {} of {} perturbed runs have ℓ·m ≥ b; {} of {} runs have T < 2^b",
        p.outside_hypothesis, p.perturbed, p.t_below_2_to_b, p.used
    );
    let _ = writeln!(s, "verdict: {} ({})", p.verdict, p.why);
}

fn exponent(e: &Exponent) -> String {
    let left = if e.left_out > 0 {
        format!(", {} left out", e.left_out)
    } else {
        String::new()
    };
    if e.slope.is_none() && 2 * e.not_positive > e.points + e.left_out {
        return format!(
            "{} no fit ({} of {} points not positive)",
            e.quantity.name(),
            e.not_positive,
            e.points + e.left_out
        );
    }
    let fit = match (e.slope, e.ci95) {
        (Some(sl), Some([lo, hi])) => format!("{} [{}, {}]", num(sl), num(lo), num(hi)),
        (Some(sl), None) => format!("{} (no interval)", num(sl)),
        _ => "no fit".to_string(),
    };
    format!("{} {fit}{left}", e.quantity.name())
}

fn batch(s: &mut String, b: &BatchDependence) {
    let _ = writeln!(s, "\n(i) {}", b.claim);
    let _ = writeln!(s, "  rule: {}", b.rule);
    for l in &b.labels {
        for g in &l.groups {
            let pts: Vec<String> = g
                .points
                .iter()
                .map(|p| {
                    format!(
                        "b={} n={} {} vs null {} (z {:+.2})",
                        p.batch,
                        p.n,
                        num(p.rho_code),
                        num(p.null_code),
                        p.z_code
                    )
                })
                .collect();
            let _ = writeln!(
                s,
                "  {}, {}, epoch {} (ρ̄_code): {}",
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
        let df = f.measured.t.map_or(String::new(), |t| {
            format!(" (df {}, t {t:.3})", f.measured.df)
        });
        let _ = writeln!(
            s,
            "  {}, {} exponents, 95% CI{df}: {}; {}; {}; points {}, groups {}, {} with z > 3: {} ({})",
            labels_name(f.random_labels),
            f.rho.name(),
            exponent(&f.measured),
            exponent(&f.null),
            exponent(&f.excess),
            f.measured.points,
            f.measured.groups,
            f.signal_points,
            f.verdict,
            f.why
        );
    }
    let _ = writeln!(s, "verdict: {} ({})", b.verdict, b.why);
}

fn width(s: &mut String, w: &WidthIndependence) {
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
                let trend = match (v.trend, v.trend_sd) {
                    (Some(t), Some(sd)) => sds(t, sd),
                    _ => "no trend".to_string(),
                };
                format!(
                    "width {} ρ̄ {} null {} excess {}, change {trend}",
                    v.width,
                    num(v.rho_code),
                    num(v.null_code),
                    sds(v.excess_code, v.sd_code)
                )
            })
            .collect();
        let _ = writeln!(
            s,
            "  b = {}, epoch {} (change since epoch {}): {}; widths differ by at most {} sd, rise at most {} sd; spread of ρ̄ {}: {}",
            g.batch,
            g.epoch,
            g.trend_from,
            widths.join("; "),
            num(g.max_pair_sd),
            g.max_rise_sd.map_or("—".to_string(), num),
            num(g.spread_code),
            g.verdict
        );
    }
    let _ = writeln!(s, "verdict: {} ({})", w.verdict, w.why);
}

fn theorem(s: &mut String, t: &Theorem32) {
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
            "  largest ρ̄_code/β = {} ({} at epoch {} vs β {}; null {}, null/β = {}; {})",
            num(worst.ratio),
            num(worst.rho_code),
            worst.epoch,
            num(worst.beta),
            num(worst.null_code),
            num(worst.null_ratio),
            worst.id
        );
        let _ = writeln!(
            s,
            "  largest null/β over the runs: {}; informational: ρ̄_paper at or below β: {}; above β at some epoch: {}",
            t.max_null_ratio.map_or("—".to_string(), num),
            t.paper_below,
            t.above_at_some_epoch
        );
    }
    let _ = writeln!(s, "verdict: {} ({})", t.verdict, t.why);
}

fn signal_line(r: &super::learning::SignalRun) -> String {
    use super::learning::PSource;
    let stat = match r.source {
        PSource::FitPermutation => format!("fit z {:+.2}, permutation", r.fit_z),
        PSource::RhoNormal => format!("ρ_code z {:+.2}, normal approximation", r.z_code),
    };
    let chance = if r.at_chance {
        ", final accuracy at chance"
    } else {
        ""
    };
    format!(
        "  {stat} p {}, Holm p {} (ρ_code z {:+.2}, paper {:+.2}; accuracy {}{chance}) at epoch {}; {}",
        num(r.p),
        num(r.p_holm),
        r.z_code,
        r.z_paper,
        num(r.final_accuracy),
        r.epoch,
        r.id
    )
}

fn learning(s: &mut String, l: &LearningSignal) {
    let _ = writeln!(s, "\n(iv) {}", l.claim);
    let _ = writeln!(s, "  rule: {}", l.rule);
    let _ = writeln!(
        s,
        "  {} runs tested; {} with the permutation tail of the fit statistic, {} with the normal tail of ρ_code's z (results written before the fit statistic: rerun the sweep for the exact tail)",
        l.runs,
        l.permutation_runs,
        l.runs - l.permutation_runs
    );
    for r in &l.signal {
        let _ = writeln!(s, "{}", signal_line(r));
    }
    if let (true, Some(h)) = (l.signal.is_empty(), &l.highest) {
        let _ = writeln!(s, "  smallest corrected p:");
        let _ = writeln!(s, "{}", signal_line(h));
    }
    let multi = l.shares.iter().any(|g| g.seeds > 1);
    if multi {
        for g in &l.shares {
            let _ = writeln!(
                s,
                "  share of seeds with Holm p < {}: {}/{} ({} at chance accuracy); {}",
                super::learning::LEVEL,
                g.signal,
                g.seeds,
                g.at_chance,
                g.setting
            );
        }
    }
    let _ = writeln!(s, "verdict: {} ({})", l.verdict.as_str(), l.why);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_four_significant_digits() {
        assert_eq!(num(0.012345), "0.01235");
        assert_eq!(num(-2.0), "-2.000");
        assert_eq!(sds(1.0, 0.5), "1.000 (+2.0 sd)");
    }
}
