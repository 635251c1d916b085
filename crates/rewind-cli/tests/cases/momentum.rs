//! Heavy-ball SGD through the real program (docs/design.md §2.9): the walk back from (W, u)
//! and the decoded buffer returns (W₁,₁, u₁) bit for bit, bits-back costs d·log₂(1/β) a step,
//! and β = 0 is plain SGD byte for byte.

use super::common::{assert_error, rewind};
use serde_json::Value;

fn json(args: &[&str]) -> Value {
    let mut all = vec!["verify", "--json", "--quiet"];
    all.extend_from_slice(args);
    let out = rewind(&all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

#[test]
fn seven_eighths_rewinds_bit_exact_beside_both_bounds_and_plain_sgd() {
    let out = rewind(&[
        "verify",
        "--optimizer",
        "momentum",
        "--beta",
        "7/8",
        "--quiet",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("initial_model_bit_exact: true"), "{text}");
    assert!(text.contains("d·log₂(1/β) = 12.522"), "{text}");
    let r = json(&["--optimizer", "momentum", "--beta", "7/8"]);
    let m = &r["momentum"];
    let d = f(&r["config"]["d"]);
    assert_eq!(m["rounding"], "nearest");
    assert!((f(&m["d_log2_inv_beta_per_step"]) - d * (8.0f64 / 7.0).log2()).abs() < 1e-9);
    // Four of every sixteen velocities share their rounded value with a neighbour.
    assert_eq!(f(&m["nearest_loss_per_step"]), d * 0.25);
    assert_eq!(m["initial_velocity_bit_exact"], true);
    assert_eq!(r["reconstruction"]["all_models_bit_exact"], true);
    // The code holds at least what the preimage sets hold, and at most a bit more.
    let (bits, content) = (f(&m["buffer_bits"]), f(&m["buffer_content_bits"]));
    assert!(bits >= content && bits <= content + 2.0, "{bits} {content}");
    let plain = json(&[]);
    assert_eq!(m["plain_sgd_hint_bits"], plain["hints"]["bits"]);
    assert_eq!(m["epochs"].as_array().unwrap().len(), 3);
}

#[test]
fn bits_back_costs_d_log2_inv_beta_a_step_within_a_few_percent() {
    for beta in ["1/2", "3/4", "7/8", "15/16"] {
        let r = json(&[
            "--optimizer",
            "momentum",
            "--beta",
            beta,
            "--momentum-rounding",
            "bits-back",
            "--epochs",
            "6",
            "--no-early-stop",
            "--no-code",
        ]);
        let m = &r["momentum"];
        let target = f(&m["d_log2_inv_beta_per_step"]);
        let steps = f(&r["steps"]);
        for (what, per_step) in [
            ("code", f(&m["buffer_bits_per_step"])),
            ("content", f(&m["buffer_content_bits"]) / steps),
        ] {
            let ratio = per_step / target;
            assert!(
                (0.97..1.03).contains(&ratio),
                "β = {beta}: {what} {per_step} bits a step against {target}"
            );
        }
        assert_eq!(
            r["reconstruction"]["initial_model_bit_exact"], true,
            "β = {beta}"
        );
        assert_eq!(m["initial_velocity_bit_exact"], true, "β = {beta}");
    }
}

#[test]
fn momentum_rewinds_least_squares_and_the_mlp_on_synthetic_data() {
    for model in ["least-squares", "mlp"] {
        for rounding in ["nearest", "bits-back"] {
            let r = json(&[
                "--data",
                "synthetic",
                "--model",
                model,
                "--optimizer",
                "momentum",
                "--beta",
                "3/4",
                "--momentum-rounding",
                rounding,
                "--no-code",
            ]);
            let rec = &r["reconstruction"];
            assert_eq!(rec["initial_model_bit_exact"], true, "{model} {rounding}");
            assert_eq!(rec["all_models_bit_exact"], true, "{model} {rounding}");
        }
    }
}

#[test]
fn beta_zero_is_plain_sgd_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("m.jsonl"), dir.path().join("p.jsonl"));
    let mut m = json(&[
        "--optimizer",
        "momentum",
        "--beta",
        "0",
        "--dump-trajectory",
        a.to_str().unwrap(),
    ]);
    let p = json(&["--dump-trajectory", b.to_str().unwrap()]);
    let section = m.as_object_mut().unwrap().remove("momentum").unwrap();
    assert_eq!(m, p);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(section["buffer_bits"], 0);
    assert_eq!(section["plain_sgd_hint_bits"], p["hints"]["bits"]);
}

#[test]
fn momentum_flags_are_checked() {
    let v = |args: &[&str]| {
        let mut all = vec!["verify"];
        all.extend_from_slice(args);
        rewind(&all)
    };
    assert_error(&v(&["--beta", "7/8"]), &["--optimizer momentum"]);
    assert_error(&v(&["--optimizer", "momentum"]), &["needs --beta"]);
    assert_error(
        &v(&["--optimizer", "momentum", "--beta", "9/8"]),
        &["[0, 1)"],
    );
    assert_error(
        &v(&["--optimizer", "momentum", "--beta", "0.9"]),
        &["dyadic"],
    );
    assert_error(
        &v(&[
            "--optimizer",
            "momentum",
            "--beta",
            "1/2",
            "--algorithm",
            "sgd-prime",
        ]),
        &["sgd-prime"],
    );
}

#[test]
fn momentum_summaries_snapshot() {
    for (name, rounding) in [
        ("verify_momentum_nearest_summary", "nearest"),
        ("verify_momentum_bits_back_summary", "bits-back"),
    ] {
        let out = rewind(&[
            "verify",
            "--optimizer",
            "momentum",
            "--beta",
            "7/8",
            "--momentum-rounding",
            rounding,
            "--quiet",
        ]);
        assert!(out.status.success());
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        super::common::snapshots().bind(|| insta::assert_snapshot!(name, stdout));
    }
}

/// A small momentum plan through `sweep`, `claims` and `figures`: claim (vi) judges bits-back
/// against d·log₂(1/β) per group of seeds, β = 0 is counted as plain SGD, and the figure of
/// bits per step against β is drawn.
#[test]
fn claims_and_figures_judge_a_momentum_sweep() {
    let dir = tempfile::TempDir::new().unwrap();
    let plan = dir.path().join("m.toml");
    std::fs::write(
        &plan,
        "name = \"m\"\n[axes]\ndata = [\"synthetic\"]\nmodel = [\"least-squares\"]\noptimizer = [\"momentum\"]\n\
         beta = [\"0\", \"1/2\", \"7/8\"]\nmomentum_rounding = [\"nearest\", \"bits-back\"]\nepochs = [12]\nseed = [0, 1, 2]\n\
         [phases]\ninversion = true\ncode = true\n",
    )
    .unwrap();
    let results = dir.path().join("r.jsonl");
    let p = |x: &std::path::Path| x.to_str().unwrap().to_string();
    let out = rewind(&["sweep", &p(&plan), "--out", &p(&results), "--quiet"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = rewind(&["claims", &p(&results), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c: Value = serde_json::from_slice(&out.stdout).unwrap();
    let m = &c["momentum"];
    assert_eq!(m["runs"], 12, "{m}");
    assert_eq!(m["not_bit_exact"], 0, "{m}");
    let groups = m["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 4, "{m}");
    for g in groups {
        assert_eq!(g["runs"], 3, "{g}");
        let ratio = f(&g["bits_per_step"]) / f(&g["d_log2_inv_beta"]);
        assert!((ratio - f(&g["ratio"])).abs() < 0.05, "{g}");
        if g["rounding"] == "bits-back" {
            // Hypergrad's multiply: within a few percent of d·log₂(1/β), amortised.
            assert!((0.99..1.05).contains(&ratio), "{g}");
            assert_eq!(g["verdict"], "holds", "{g}");
        }
    }
    // The verdicts are computed from the groups, not fixed.
    let all_hold = |r: &str| {
        groups
            .iter()
            .filter(|g| g["rounding"] == r)
            .all(|g| g["verdict"] == "holds")
    };
    assert_eq!(m["bits_back"] == "holds", all_hold("bits-back"), "{m}");
    assert_eq!(m["nearest"] == "holds", all_hold("nearest"), "{m}");
    let out = rewind(&["claims", &p(&results)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("(vi) rewinding heavy-ball SGD"), "{text}");
    assert!(text.contains("6 at β = 0"), "{text}");

    let figs = dir.path().join("figs");
    let out = rewind(&["figures", &p(&results), "--out", &p(&figs)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svg = std::fs::read_to_string(figs.join("momentum-bits.svg")).unwrap();
    assert!(svg.contains("d·log₂(1/β)") && svg.contains("bits-back, measured (6 runs)"));
}
