//! `rewind claims`: the verdict logic on result lines whose answer is known (real runs of a
//! tiny sweep whose per-epoch discrepancies and nulls are overwritten with values ∝ b⁻², ∝ b⁻¹,
//! noise only, noise plus an injected excess, …), and the command's output and errors.

use super::common::{proptest_config, rewind};
use proptest::prelude::*;
use rewind::claims::learning::Signal;
use rewind::claims::{check, fit_slope, Claims, Verdict};
use rewind::null::z_score;
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

/// One epoch of a synthetic run: the measured ρ_i (code direction), its null expectation and
/// its null variance.
#[derive(Clone, Copy)]
struct Epoch {
    rho: f64,
    null: f64,
    var: f64,
}

/// Overwrites every epoch's discrepancy with `f(spec, epoch)` and recomputes the running fields
/// from the per-epoch values (running means, summed variances), as a report holds them; the
/// paper direction is 10% above the code direction. Marks every run as not having reached full
/// accuracy, and drops the run's permutation tails.
fn set_epochs(lines: &mut [ResultLine], f: impl Fn(&RunSpec, usize) -> Epoch) {
    for l in lines {
        let spec = l.spec.clone();
        let report = l.report.as_mut().unwrap();
        report.run.stopped_at_full_accuracy = false;
        // The permutation tails belong to the real run, not to the ρ written here: claim (iv)
        // reads these lines as results written before the fit statistic.
        report.discrepancy.tails = None;
        let (mut rho, mut null, mut var) = (0.0, 0.0, 0.0);
        for e in &mut report.discrepancy.epochs {
            let v = f(&spec, e.epoch);
            let t = e.epoch as f64;
            (rho, null, var) = (rho + v.rho, null + v.null, var + v.var);
            e.rho_code = v.rho;
            e.rho_paper = 1.1 * v.rho;
            e.null_rho_code = v.null;
            e.null_rho_paper = 1.1 * v.null;
            e.null_var_code = v.var;
            e.null_var_paper = 1.21 * v.var;
            e.excess_z_code = z_score(v.rho - v.null, v.var);
            e.excess_z_paper = e.excess_z_code;
            e.running_rho_code = rho / t;
            e.running_rho_paper = 1.1 * rho / t;
            e.running_null_rho_code = null / t;
            e.running_null_rho_paper = 1.1 * null / t;
            e.running_excess_z_code = z_score(rho - null, var);
            e.running_excess_z_paper = e.running_excess_z_code;
        }
    }
}

/// Every epoch measures exactly `rho`, with a null of `rho` and a tiny variance: the claims on
/// the measured ρ̄ alone, with a batch-fitting signal (by the normal tail of ρ's z) in every
/// run when `rho` exceeds the null.
fn measured(rho: f64, null: f64) -> Epoch {
    Epoch {
        rho,
        null,
        var: (1e-3 * null).powi(2),
    }
}

/// A factor e^(±size) with signs (+, −, −, +) over the batch sizes 4, 8, 16, 32, flipped for
/// odd widths: noise the fit must see through, orthogonal to log b within each width, so the
/// true slope is recovered exactly and the interval has an honest non-zero width.
fn wobble(s: &RunSpec, size: f64) -> f64 {
    let k = (s.batch.trailing_zeros() as usize).clamp(2, 5) - 2;
    let sign = [1.0, -1.0, -1.0, 1.0][k]
        * if s.hidden.is_multiple_of(2) {
            1.0
        } else {
            -1.0
        };
    (sign * size).exp()
}

/// ±1 alternating over epochs and seeds: sampling noise that averages out.
fn alternate(s: &RunSpec, epoch: usize) -> f64 {
    if (epoch + s.seed as usize + s.hidden).is_multiple_of(2) {
        1.0
    } else {
        -1.0
    }
}

/// A synthetic Appendix B: the null ∝ b⁻² (with the wobble), a null standard deviation of 10%
/// of it per epoch, measured = null + half a standard deviation of alternating noise +
/// `excess(spec)` ∝ b⁻².
fn synthetic(lines: &mut [ResultLine], excess: impl Fn(&RunSpec) -> f64) {
    set_epochs(lines, |s, e| {
        let b2 = (s.batch * s.batch) as f64;
        let null = 50.0 / b2 * wobble(s, 0.05);
        let sd = 0.1 * null;
        Epoch {
            rho: null + 0.5 * sd * alternate(s, e) + excess(s) / b2,
            null,
            var: sd * sd,
        }
    });
}

fn claims(lines: &[ResultLine]) -> Claims {
    check(lines, "test").unwrap()
}

#[test]
fn noise_only_results_hold_as_noise_and_show_no_learning() {
    let mut lines = four_batches();
    synthetic(&mut lines, |_| 0.0);
    let c = claims(&lines);
    let b = &c.batch_dependence;
    for f in &b.fits {
        assert_eq!(f.signal_points, 0, "{f:?}");
        let null = f.null.slope.unwrap();
        assert!((null + 2.0).abs() < 1e-9, "null exponent {null}");
        assert_eq!(f.verdict, Verdict::HoldsAsNoise, "{f:?}");
    }
    assert_eq!(b.verdict, Verdict::HoldsAsNoise);
    assert_eq!(
        b.verdict.as_str(),
        "holds, and sampling noise alone gives the same"
    );
    let w = &c.width_independence;
    assert_eq!(w.groups.len(), 4, "{w:?}");
    assert_eq!(w.verdict, Verdict::HoldsAsNoise, "{w:?}");
    let l = &c.learning_signal;
    assert_eq!((l.runs, l.signal.len()), (16, 0), "{l:?}");
    assert_eq!(l.verdict, Signal::NoiseOnly);
    assert!(l.highest.as_ref().unwrap().z_code.abs() < 1.0, "{l:?}");
    let stdout = claims_command(&lines);
    assert!(
        stdout.contains("verdict: holds, and sampling noise alone gives the same"),
        "{stdout}"
    );
    assert!(
        stdout.contains("verdict: no batch-fitting signal beyond sampling noise"),
        "{stdout}"
    );
}

/// `rewind claims` on the lines written as a results file: its standard output.
fn claims_command(lines: &[ResultLine]) -> String {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("synthetic.jsonl");
    std::fs::write(&path, to_jsonl(lines)).unwrap();
    let out = rewind(&["claims", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn injected_excess_is_learning_and_its_scaling_holds() {
    let mut lines = four_batches();
    // An excess of 20/b² per epoch: 4 null standard deviations in one epoch, more in the sum.
    synthetic(&mut lines, |_| 20.0);
    let c = claims(&lines);
    let b = &c.batch_dependence;
    for f in &b.fits {
        assert_eq!(f.signal_points, 8, "{f:?}");
        let excess = f.excess.slope.unwrap();
        assert!((excess + 2.0).abs() < 0.05, "excess exponent {excess}");
        assert_eq!(f.verdict, Verdict::Holds, "{f:?}");
    }
    assert_eq!(b.verdict, Verdict::Holds);
    // The same excess at every width: width-independent, and not noise.
    assert_eq!(c.width_independence.verdict, Verdict::Holds);
    let l = &c.learning_signal;
    // Results without the fit statistic: the normal tail of ρ's z, Holm-corrected over 16 runs,
    // which needs z ≳ 3.4 for a corrected p below 0.01.
    assert_eq!(l.runs, 16);
    assert!(l.signal.len() >= 8, "{l:?}");
    assert!(l.all.iter().all(|r| r.p_holm >= r.p && r.p_holm <= 1.0));
    assert_eq!(l.verdict, Signal::BatchFitting);
    assert!(l
        .signal
        .iter()
        .all(|r| r.z_code > 3.0 && r.excess_code > 0.0));
    let stdout = claims_command(&lines);
    assert!(
        stdout.contains(&format!(
            "verdict: batch-fitting signal ({} of 16 runs",
            l.signal.len()
        )),
        "{stdout}"
    );

    // Learning in the random-label runs only: those, and only those, are listed.
    let mut lines = four_batches();
    synthetic(&mut lines, |s| if s.random_labels { 20.0 } else { 0.0 });
    let l = claims(&lines).learning_signal;
    assert_eq!(l.signal.len(), 8);
    assert!(
        l.signal.iter().all(|r| r.id.contains("random_labels=true")),
        "{l:?}"
    );
}

#[test]
fn rho_proportional_to_inverse_square_batch_holds_with_slope_minus_two() {
    let mut lines = four_batches();
    set_epochs(&mut lines, |s, _| {
        let rho = 50.0 * s.hidden as f64 / (s.batch * s.batch) as f64 * wobble(s, 0.05);
        measured(rho, rho / 2.0)
    });
    let c = claims(&lines);
    let b = &c.batch_dependence;
    assert_eq!(b.fits.len(), 4, "{b:?}");
    for f in &b.fits {
        // 2 widths × 4 batch sizes; one intercept per width.
        let m = &f.measured;
        assert_eq!((m.points, m.groups, m.df), (8, 2, 5), "{f:?}");
        let s = m.slope.unwrap();
        assert!((s + 2.0).abs() < 1e-9, "slope {s}");
        let [lo, hi] = m.ci95.unwrap();
        assert!(lo < -2.05 && -1.95 < hi && hi - lo < 2.0, "{f:?}");
        assert_eq!(f.verdict, Verdict::Holds, "{f:?}");
    }
    assert_eq!(b.verdict, Verdict::Holds);
    // Exact data: the interval collapses, and still contains −2.
    set_epochs(&mut lines, |s, _| {
        let rho = 3.0 / (s.batch * s.batch) as f64;
        measured(rho, rho / 2.0)
    });
    assert_eq!(claims(&lines).batch_dependence.verdict, Verdict::Holds);
}

#[test]
fn rho_proportional_to_inverse_batch_does_not_hold() {
    let mut lines = four_batches();
    set_epochs(&mut lines, |s, _| {
        let rho = 5.0 * s.hidden as f64 / s.batch as f64 * wobble(s, 0.05);
        measured(rho, rho)
    });
    let b = claims(&lines).batch_dependence;
    for f in &b.fits {
        let s = f.measured.slope.unwrap();
        assert!((s + 1.0).abs() < 1e-9, "slope {s}");
        assert_eq!(f.verdict, Verdict::DoesNotHoldAsNoise, "{f:?}");
        assert!(f.why.contains("null's exponent -1.000 is inside"), "{f:?}");
    }
    assert_eq!(b.verdict, Verdict::DoesNotHoldAsNoise);
    // The same measurement against a b⁻² null: the exponent is the run's, not the noise's.
    set_epochs(&mut lines, |s, _| {
        let rho = 5.0 * s.hidden as f64 / s.batch as f64 * wobble(s, 0.05);
        measured(rho, 20.0 / (s.batch * s.batch) as f64)
    });
    let b = claims(&lines).batch_dependence;
    assert_eq!(b.verdict, Verdict::DoesNotHold, "{b:?}");
    assert_eq!(
        b.verdict.as_str(),
        "does not hold",
        "the plain words only without the noise"
    );
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
    set_epochs(&mut lines, |s, _| {
        measured(1.0 / (s.batch * s.batch) as f64, 0.0)
    });
    let b = claims(&lines).batch_dependence;
    let f = &b.fits[0];
    assert_eq!((f.measured.points, f.random_labels), (2, false));
    assert!((f.measured.slope.unwrap() + 2.0).abs() < 1e-9);
    assert_eq!(f.measured.ci95, None);
    assert_eq!(f.verdict, Verdict::Inconclusive);
    assert_eq!(b.verdict, Verdict::Inconclusive);

    // Four points where width 3 alone gains a factor e at b = 8: its own slope is
    // −2 + 1/ln 2 ≈ −0.56, so with df 1 (t = 12.7) the interval is far wider than 2.
    let mut lines: Vec<ResultLine> = base()
        .iter()
        .filter(|l| !l.spec.random_labels)
        .cloned()
        .collect();
    set_epochs(&mut lines, |s, _| {
        let bump = if s.hidden == 3 && s.batch == 8 {
            1f64.exp()
        } else {
            1.0
        };
        measured(bump / (s.batch * s.batch) as f64, 0.0)
    });
    let f = &claims(&lines).batch_dependence.fits[0];
    assert_eq!((f.measured.points, f.measured.df), (4, 1));
    let [lo, hi] = f.measured.ci95.unwrap();
    assert!(hi - lo > 2.0, "{f:?}");
    assert_eq!(f.verdict, Verdict::Inconclusive);
}

#[test]
fn width_independence_is_judged_on_the_excess_with_the_null_sd() {
    let mut lines = base().to_vec();
    // The same excess at every width, 100 sd above the null: holds, and is not noise.
    let at = |excess: f64| Epoch {
        rho: 1.0 + excess,
        null: 1.0,
        var: 1e-4,
    };
    set_epochs(&mut lines, |_, _| at(1.0));
    let w = claims(&lines).width_independence;
    assert_eq!(w.groups.len(), 2, "{w:?}");
    assert!(w.groups.iter().all(|g| g.max_pair_sd == 0.0));
    assert_eq!(w.verdict, Verdict::Holds, "{w:?}");

    // Excesses of 0.16 and 0.81 (∝ width⁴) with an sd of 0.01/√3 per width: far apart.
    set_epochs(&mut lines, |s, _| at((s.hidden as f64).powi(4) / 100.0));
    let w = claims(&lines).width_independence;
    assert!(w.groups.iter().all(|g| g.max_pair_sd > 3.0), "{w:?}");
    assert_eq!(w.verdict, Verdict::DoesNotHold);

    // Width-independent but each epoch's excess growing (0.1·e): the running excess rises
    // over the last quarter by far more than its null sd.
    set_epochs(&mut lines, |_, e| at(0.1 * e as f64));
    let w = claims(&lines).width_independence;
    assert!(
        w.groups.iter().all(|g| g.max_rise_sd.unwrap() > 3.0),
        "{w:?}"
    );
    assert_eq!(w.verdict, Verdict::Inconclusive);

    // The same widths 1% apart: beyond the old fixed 1% rule's resolution, but with a null sd
    // of 10% the difference is noise.
    set_epochs(&mut lines, |s, _| Epoch {
        rho: 1.0 + 0.01 * s.hidden as f64,
        null: 1.0,
        var: 0.01,
    });
    let w = claims(&lines).width_independence;
    assert_eq!(w.verdict, Verdict::HoldsAsNoise, "{w:?}");

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
    set_epochs(&mut lines, |_, _| measured(1.0, 0.5));
    let t = claims(&lines).theorem_3_2;
    assert_eq!((t.runs, t.below, t.above), (8, 8, 0));
    // The null uses 0.5/2.5 of β at b = 8: a model that fits nothing passes too.
    assert_eq!(t.verdict, Verdict::HoldsAsNoise);
    assert!((t.max_null_ratio.unwrap() - 0.2).abs() < 1e-12, "{t:?}");
    // A null above β at b = 8 that the runs stay below: the bound tells them apart.
    set_epochs(&mut lines, |_, _| measured(1.0, 3.0));
    assert_eq!(claims(&lines).theorem_3_2.verdict, Verdict::Holds);

    set_epochs(&mut lines, |s, _| {
        measured(if s.batch == 8 { 3.0 } else { 1.0 }, 0.5)
    });
    let t = claims(&lines).theorem_3_2;
    assert_eq!((t.below, t.above), (4, 4));
    assert_eq!(t.verdict, Verdict::DoesNotHold);
    let worst = t.worst.unwrap();
    assert!((worst.ratio - 3.0 / 2.5).abs() < 1e-12, "{worst:?}");
    assert!((worst.null_ratio - 0.5 / 2.5).abs() < 1e-12, "{worst:?}");

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
fn the_command_prints_four_verdicts_and_json() {
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
    assert_eq!(verdicts.len(), 4, "{stdout}");
    for v in &verdicts[..3] {
        let word = v.trim_start_matches("verdict: ");
        assert!(
            ["holds", "does not hold", "inconclusive"]
                .iter()
                .any(|w| word.starts_with(w)),
            "{v}"
        );
    }
    assert!(
        [
            "batch-fitting signal",
            "no batch-fitting signal beyond sampling noise",
            "inconclusive"
        ]
        .iter()
        .any(|w| verdicts[3].trim_start_matches("verdict: ").starts_with(w)),
        "{}",
        verdicts[3]
    );
    for block in [
        "(i) ", "(ii) ", "(iii) ", "(iv) ", "rule: ", "95% CI", "null", "z ", "sd", "β",
    ] {
        assert!(stdout.contains(block), "no {block:?} in {stdout}");
    }

    let out = rewind(&["claims", path, "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for claim in ["batch_dependence", "width_independence", "theorem_3_2"] {
        let v = json[claim]["verdict"].as_str().unwrap_or_default();
        assert!(
            [
                "holds",
                "holds_as_noise",
                "does_not_hold",
                "does_not_hold_as_noise",
                "inconclusive"
            ]
            .contains(&v),
            "{claim}: {v}"
        );
    }
    let v = json["learning_signal"]["verdict"]
        .as_str()
        .unwrap_or_default();
    assert!(
        ["batch_fitting", "noise_only", "inconclusive"].contains(&v),
        "{v}"
    );
    assert!(json["batch_dependence"]["fits"][0]["null"]["slope"].is_number());
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
