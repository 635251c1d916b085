//! `rewind claims`: the verdict logic on result lines whose answer is known (real runs of a
//! tiny sweep whose running averages are overwritten with values ∝ b⁻², ∝ b⁻¹, …), and the
//! command's output and errors.

use super::common::{proptest_config, rewind};
use proptest::prelude::*;
use rewind::claims::{check, fit_slope, Claims, Verdict};
use rewind::sweep::{run_one, to_jsonl, Plan, ResultLine, RunSpec};
use std::sync::OnceLock;
use tempfile::TempDir;

/// The tiny sweep, run once for the module: 2 widths × 2 batch sizes × true/random labels.
fn base() -> &'static [ResultLine] {
    static LINES: OnceLock<Vec<ResultLine>> = OnceLock::new();
    LINES.get_or_init(|| {
        let plan = Plan::parse(super::common::TINY_MLP_PLAN, "claims plan").unwrap();
        let lines: Vec<ResultLine> = plan.runs().iter().map(|s| run_one(&plan, s)).collect();
        assert!(lines.iter().all(|l| l.report.is_some()), "{lines:?}");
        lines
    })
}

/// The sweep with two more batch sizes (16 and 32), made by relabelling copies of the b = 4
/// runs: the claims read the batch size from the spec, and every ρ is overwritten anyway.
fn four_batches() -> Vec<ResultLine> {
    let mut out = base().to_vec();
    for b in [16, 32] {
        for l in base().iter().filter(|l| l.spec.batch == 4) {
            let mut c = l.clone();
            c.spec.batch = b;
            c.id = c.spec.id();
            out.push(c);
        }
    }
    out
}

/// Overwrites every running average with `f(spec, epoch)` (ρ_paper 10% above ρ_code), and
/// marks every run as not having reached full accuracy.
fn set_running(lines: &mut [ResultLine], f: impl Fn(&RunSpec, usize) -> f64) {
    for l in lines {
        let spec = l.spec.clone();
        let report = l.report.as_mut().unwrap();
        report.run.stopped_at_full_accuracy = false;
        for e in &mut report.discrepancy.epochs {
            let v = f(&spec, e.epoch);
            e.running_rho_code = v;
            e.running_rho_paper = 1.1 * v;
        }
    }
}

/// A factor e^(±size) with signs (+, −, −, +) over the batch sizes 4, 8, 16, 32, flipped for
/// odd widths: noise the fit must see through, orthogonal to log b within each width, so the
/// true slope is recovered exactly and the interval has an honest non-zero width.
fn wobble(s: &RunSpec, size: f64) -> f64 {
    let k = (s.batch.trailing_zeros() as usize).clamp(2, 5) - 2;
    let sign = [1.0, -1.0, -1.0, 1.0][k] * if s.hidden % 2 == 0 { 1.0 } else { -1.0 };
    (sign * size).exp()
}

fn claims(lines: &[ResultLine]) -> Claims {
    check(lines, "test").unwrap()
}

#[test]
fn rho_proportional_to_inverse_square_batch_holds_with_slope_minus_two() {
    let mut lines = four_batches();
    set_running(&mut lines, |s, e| {
        50.0 * s.hidden as f64 / (s.batch * s.batch) as f64 * wobble(s, 0.05) / e as f64
    });
    let c = claims(&lines);
    let b = &c.batch_dependence;
    assert_eq!(b.fits.len(), 4, "{b:?}");
    for f in &b.fits {
        // 2 widths × 4 batch sizes; one intercept per width.
        assert_eq!((f.points, f.groups, f.df), (8, 2, 5), "{f:?}");
        let s = f.slope.unwrap();
        assert!((s + 2.0).abs() < 1e-9, "slope {s}");
        let [lo, hi] = f.ci95.unwrap();
        assert!(lo < -2.05 && -1.95 < hi && hi - lo < 2.0, "{f:?}");
        assert_eq!(f.verdict, Verdict::Holds, "{f:?}");
    }
    assert_eq!(b.verdict, Verdict::Holds);
    // Exact data: the interval collapses, and still contains −2.
    set_running(&mut lines, |s, _| 3.0 / (s.batch * s.batch) as f64);
    assert_eq!(claims(&lines).batch_dependence.verdict, Verdict::Holds);
}

#[test]
fn rho_proportional_to_inverse_batch_does_not_hold() {
    let mut lines = four_batches();
    set_running(&mut lines, |s, e| {
        5.0 * s.hidden as f64 / s.batch as f64 * wobble(s, 0.05) / e as f64
    });
    let b = claims(&lines).batch_dependence;
    for f in &b.fits {
        let s = f.slope.unwrap();
        assert!((s + 1.0).abs() < 1e-9, "slope {s}");
        assert_eq!(f.verdict, Verdict::DoesNotHold, "{f:?}");
    }
    assert_eq!(b.verdict, Verdict::DoesNotHold);
}

#[test]
fn two_points_or_a_wide_interval_are_inconclusive() {
    // One width, true labels, batches 4 and 8: two points, no residual degree of freedom.
    let mut lines: Vec<ResultLine> = base()
        .iter()
        .filter(|l| l.spec.hidden == 2 && !l.spec.random_labels)
        .cloned()
        .collect();
    assert_eq!(lines.len(), 2);
    set_running(&mut lines, |s, _| 1.0 / (s.batch * s.batch) as f64);
    let b = claims(&lines).batch_dependence;
    let f = &b.fits[0];
    assert_eq!((f.points, f.random_labels), (2, false));
    assert!((f.slope.unwrap() + 2.0).abs() < 1e-9);
    assert_eq!(f.ci95, None);
    assert_eq!(f.verdict, Verdict::Inconclusive);
    assert_eq!(b.verdict, Verdict::Inconclusive);

    // Four points where width 3 alone gains a factor e at b = 8: its own slope is
    // −2 + 1/ln 2 ≈ −0.56, so with df 1 (t = 12.7) the interval is far wider than 2.
    let mut lines: Vec<ResultLine> = base()
        .iter()
        .filter(|l| !l.spec.random_labels)
        .cloned()
        .collect();
    set_running(&mut lines, |s, _| {
        let bump = if s.hidden == 3 && s.batch == 8 {
            1f64.exp()
        } else {
            1.0
        };
        bump / (s.batch * s.batch) as f64
    });
    let f = &claims(&lines).batch_dependence.fits[0];
    assert_eq!((f.points, f.df), (4, 1));
    let [lo, hi] = f.ci95.unwrap();
    assert!(hi - lo > 2.0, "{f:?}");
    assert_eq!(f.verdict, Verdict::Inconclusive);
}

#[test]
fn width_independence_holds_fails_or_is_inconclusive_by_its_thresholds() {
    let mut lines = base().to_vec();
    // The same decreasing average at every width.
    set_running(&mut lines, |_, e| 0.5 + 1.0 / e as f64);
    let w = claims(&lines).width_independence;
    assert_eq!(w.groups.len(), 2, "{w:?}");
    assert!(w.groups.iter().all(|g| g.spread_code == 0.0));
    assert_eq!(w.verdict, Verdict::Holds, "{w:?}");

    // ∝ width⁴: widths 2 and 3 give 16 and 81, a spread of 1.34.
    set_running(&mut lines, |s, _| (s.hidden as f64).powi(4));
    let w = claims(&lines).width_independence;
    assert!(w.groups.iter().all(|g| g.spread_code > 1.0), "{w:?}");
    assert_eq!(w.verdict, Verdict::DoesNotHold);

    // Width-independent but rising over the last quarter: not shown to tend below anything.
    set_running(&mut lines, |_, e| e as f64);
    let w = claims(&lines).width_independence;
    assert!(w.groups.iter().all(|g| g.non_increasing == Some(false)));
    assert_eq!(w.verdict, Verdict::Inconclusive);

    // A single width: nothing to compare.
    let one: Vec<ResultLine> = lines
        .iter()
        .filter(|l| l.spec.hidden == 2)
        .cloned()
        .collect();
    let w = claims(&one).width_independence;
    assert_eq!((w.groups.len(), w.single_width_groups), (0, 2));
    assert_eq!(w.verdict, Verdict::Inconclusive);
}

#[test]
fn theorem_3_2_fails_when_a_running_average_ends_above_beta() {
    let mut lines = base().to_vec();
    // β = n·log₂ n / b² = 32·5/16 = 10 at b = 4 and 2.5 at b = 8.
    set_running(&mut lines, |_, _| 1.0);
    let t = claims(&lines).theorem_3_2;
    assert_eq!((t.runs, t.below, t.above), (8, 8, 0));
    assert_eq!(t.verdict, Verdict::Holds);

    set_running(&mut lines, |s, _| if s.batch == 8 { 3.0 } else { 1.0 });
    let t = claims(&lines).theorem_3_2;
    assert_eq!((t.below, t.above), (4, 4));
    assert_eq!(t.verdict, Verdict::DoesNotHold);
    let worst = t.worst.unwrap();
    assert!((worst.ratio - 3.0 / 2.5).abs() < 1e-12, "{worst:?}");

    // Runs that reached 100% accuracy are outside the theorem.
    for l in &mut lines {
        l.report.as_mut().unwrap().run.stopped_at_full_accuracy = true;
    }
    let t = claims(&lines).theorem_3_2;
    assert_eq!((t.runs, t.stopped_at_full_accuracy), (0, 8));
    assert_eq!(t.verdict, Verdict::Inconclusive);
}

#[test]
fn error_lines_and_lines_without_a_report_are_counted_and_skipped() {
    let mut lines = base().to_vec();
    let mut failed = lines[0].clone();
    failed.report = None;
    failed.error = Some("could not set up".into());
    let mut bare = lines[1].clone();
    bare.report = None;
    lines.push(failed);
    lines.push(bare);
    let c = claims(&lines);
    assert_eq!(
        (c.lines, c.runs, c.error_lines, c.without_report),
        (10, 8, 1, 1)
    );
    assert!(check(&[], "empty").is_err());
}

#[test]
fn the_command_prints_three_verdicts_and_json() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("results.jsonl");
    std::fs::write(&path, to_jsonl(base())).unwrap();
    let path = path.to_str().unwrap();
    let out = rewind(&["claims", path]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdicts: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("verdict: "))
        .collect();
    assert_eq!(verdicts.len(), 3, "{stdout}");
    for v in verdicts {
        let word = v.trim_start_matches("verdict: ");
        assert!(
            ["holds", "does not hold", "inconclusive"]
                .iter()
                .any(|w| word.starts_with(w)),
            "{v}"
        );
    }
    for block in ["(i) ", "(ii) ", "(iii) ", "rule: ", "95% CI", "spread", "β"] {
        assert!(stdout.contains(block), "no {block:?} in {stdout}");
    }

    let out = rewind(&["claims", path, "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for claim in ["batch_dependence", "width_independence", "theorem_3_2"] {
        let v = json[claim]["verdict"].as_str().unwrap_or_default();
        assert!(
            ["holds", "does_not_hold", "inconclusive"].contains(&v),
            "{claim}: {v}"
        );
    }
    assert_eq!(json["runs"], 8);
}

#[track_caller]
fn assert_one_line_error(out: &std::process::Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code();
    assert!(
        matches!(code, Some(c) if c != 0 && c != 101),
        "exit code {code:?}; stderr: {stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    assert!(stderr.contains(needle), "stderr: {stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn missing_or_malformed_results_are_one_line_errors() {
    assert_one_line_error(
        &rewind(&["claims", "/nonexistent/results.jsonl"]),
        "cannot read /nonexistent/results.jsonl",
    );
    let dir = TempDir::new().unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"format\": 1, \"id\": 3}\n{\"format\": 1}\n").unwrap();
    assert_one_line_error(&rewind(&["claims", bad.to_str().unwrap()]), "line 1");
    let future = dir.path().join("future.jsonl");
    std::fs::write(&future, "{\"format\": 9}\n\n").unwrap();
    assert_one_line_error(&rewind(&["claims", future.to_str().unwrap()]), "format 9");
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "\n").unwrap();
    assert_one_line_error(
        &rewind(&["claims", empty.to_str().unwrap()]),
        "no result lines",
    );
    let out = rewind(&["claims"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a missing argument is a usage error"
    );
}

proptest! {
    #![proptest_config(proptest_config(64))]

    /// On exact data y = a_g + s·x the fit returns s whatever the groups' levels, and a zero
    /// standard error.
    #[test]
    fn the_fit_recovers_any_slope(
        slope in -4.0f64..1.0,
        levels in proptest::collection::vec(-5.0f64..5.0, 1..4),
        xs in proptest::collection::btree_set(0u32..8, 2..5),
    ) {
        let groups: Vec<Vec<(f64, f64)>> = levels
            .iter()
            .map(|a| xs.iter().map(|&x| (x as f64, a + slope * x as f64)).collect())
            .collect();
        let fit = fit_slope(&groups).unwrap();
        prop_assert!((fit.slope - slope).abs() < 1e-9);
        prop_assert_eq!(fit.df, levels.len() * xs.len() - levels.len() - 1);
        if let Some(se) = fit.std_error {
            prop_assert!(se < 1e-7);
        }
    }
}
