//! Successful runs of the real `rewind` binary: the summary, the JSON report and its
//! determinism, and the trajectory and data dumps checked by an independent recomputation.

use super::common::{rewind, snapshots};
use num_bigint::BigInt;
use num_integer::Integer;
use num_traits::Zero;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use tempfile::TempDir;

#[track_caller]
fn assert_success(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit code {:?}; stderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

fn verify(args: &[&str]) -> Output {
    let mut all = vec!["verify"];
    all.extend_from_slice(args);
    rewind(&all)
}

fn verify_with_threads(threads: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rewind"))
        .arg("verify")
        .args(args)
        .env("RAYON_NUM_THREADS", threads)
        .output()
        .expect("the rewind binary runs")
}

/// `v[path]` for a dotted path, failing with the path's name rather than a bare `None`.
#[track_caller]
fn field<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, key| {
        v.get(key)
            .unwrap_or_else(|| panic!("the report has no field {path} (stopped at {key})"))
    })
}

#[track_caller]
fn uint(v: &Value, path: &str) -> u64 {
    field(v, path)
        .as_u64()
        .unwrap_or_else(|| panic!("{path} is not a non-negative integer: {}", field(v, path)))
}

#[test]
fn default_verify_summary() {
    let stdout = assert_success(&rewind(&["verify"]));
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("initial_model_bit_exact: true (")),
        "{stdout}"
    );
    // The answer comes first: the steps inverted without help and the side information.
    let first = stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("invertible without help: ") && first.contains("of storing W₁,₁"),
        "{stdout}"
    );
    // The point of the report is the comparison, so both shares must sit on one line.
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("(observed)") && l.contains("(predicted)")),
        "{stdout}"
    );
    snapshots().bind(|| insta::assert_snapshot!("verify_default_summary", stdout));
}

#[test]
fn json_report_is_deterministic() {
    let first = assert_success(&verify(&["--json"]));
    let second = assert_success(&verify(&["--json"]));
    assert_eq!(first, second, "two identical runs gave different reports");
}

#[test]
fn json_report_does_not_depend_on_the_thread_count() {
    // Inversion runs in parallel; the report must not show how the work was split.
    let one = assert_success(&verify_with_threads("1", &["--json"]));
    let two = assert_success(&verify_with_threads("2", &["--json"]));
    assert_eq!(one, two, "RAYON_NUM_THREADS changed the report");
}

#[test]
fn json_report_has_its_fields_and_they_agree() {
    let dir = TempDir::new().unwrap();
    let out_path = dir.path().join("report.json");
    let stdout = assert_success(&verify(&["--json", "--out", out_path.to_str().unwrap()]));
    let written = std::fs::read(&out_path).expect("--out wrote the report");
    assert_eq!(written, stdout.as_bytes(), "--out differs from --json");

    let r: Value = serde_json::from_str(&stdout).expect("--json prints JSON");
    assert_eq!(r["format"], 1);
    let n = uint(&r, "config.n");
    let batch = uint(&r, "config.batch");
    let steps = uint(&r, "steps");
    let recovered = uint(&r, "inversion.recovered");
    let other = uint(&r, "inversion.other_preimage");
    let none = uint(&r, "inversion.no_preimage");
    let hinted = uint(&r, "hints.steps");
    uint(&r, "hints.bits");
    uint(&r, "inversion.gradient_evaluations");
    assert!(field(&r, "inversion.mean_iterations").is_f64());
    // Logistic regression has a Hessian, so the prediction is computed, not null.
    assert!(field(&r, "inversion.predicted_many_to_one").is_f64());
    assert_eq!(field(&r, "reconstruction.initial_model_bit_exact"), true);
    let sha = field(&r, "reconstruction.final_model_sha256")
        .as_str()
        .unwrap();
    assert!(
        sha.len() == 64 && sha.bytes().all(|c| c.is_ascii_hexdigit()),
        "{sha}"
    );

    // Every step is inverted and classified once; hinted steps are exactly the unrecovered
    // ones (the independent recount is in tests/cases/reconstruction.rs).
    assert!(recovered <= steps && hinted <= steps, "{r}");
    assert_eq!(hinted, other + none);
    let full = n / batch * uint(&r, "run.epochs_run");
    if field(&r, "run.stopped_at_full_accuracy") == true {
        assert!(steps < full, "{steps} steps, {full} without the stop");
    } else {
        assert_eq!(steps, full);
    }
}

/// round_half_even(num / den) for den > 0, written out here so the test does not borrow the
/// crate's rounding.
fn round_half_even(num: &BigInt, den: &BigInt) -> BigInt {
    let (q, r) = num.div_mod_floor(den);
    let twice: BigInt = r * 2;
    if twice > *den || (twice == *den && q.is_odd()) {
        q + 1
    } else {
        q
    }
}

fn read_json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("the trajectory was written")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[track_caller]
fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_i64().unwrap_or_else(|| panic!("not an i64: {x}")))
        .collect()
}

#[test]
fn dumps_suffice_to_recompute_every_step() {
    let dir = TempDir::new().unwrap();
    let traj_path = dir.path().join("trajectory.jsonl");
    let data_path = dir.path().join("data.json");
    assert_success(&verify(&[
        "--model",
        "least-squares",
        "--backend",
        "exact",
        "--data",
        "synthetic",
        "--synthetic-n",
        "12",
        "--synthetic-features",
        "2",
        "--batch",
        "3",
        "--epochs",
        "2",
        "--frac-bits",
        "12",
        "--q",
        "0.45",
        "--no-early-stop",
        "--dump-trajectory",
        traj_path.to_str().unwrap(),
        "--dump-data",
        data_path.to_str().unwrap(),
    ]));

    let lines = read_json_lines(&traj_path);
    let header = &lines[0];
    // Format 2 (docs/log-format.md): format 1 plus the data hash; every step still has `w`.
    assert_eq!(header["format"], 2);
    assert_eq!(header["model"], "least-squares");
    assert_eq!(header["backend"], "exact");
    assert_eq!(uint(header, "n"), 12);
    assert_eq!(uint(header, "batch"), 3);
    // Two features plus the bias column.
    assert_eq!(uint(header, "d"), 3);
    let p = uint(header, "p");
    assert_eq!(p, 12);
    let alpha_num = BigInt::from(uint(header, "alpha_num"));
    let alpha_den = uint(header, "alpha_den");
    assert!(alpha_den.is_power_of_two(), "{alpha_den}");
    let (n, d, b) = (12usize, 3usize, 3usize);

    let data: Value = serde_json::from_str(&std::fs::read_to_string(&data_path).unwrap()).unwrap();
    assert_eq!(uint(&data, "frac_bits"), p);
    assert_eq!(uint(&data, "n") as usize, n);
    assert_eq!(uint(&data, "d") as usize, d);
    let features: Vec<Vec<i64>> = field(&data, "features")
        .as_array()
        .unwrap()
        .iter()
        .map(ints)
        .collect();
    let labels = ints(field(&data, "labels"));
    assert_eq!(features.len(), n);
    assert!(features.iter().all(|x| x.len() == d));
    assert_eq!(labels.len(), n);
    assert!(labels.iter().all(|&y| y == 1 || y == -1), "{labels:?}");

    let (steps, last) = lines[1..].split_at(lines.len() - 2);
    let final_w = ints(&last[0]["final"]);
    assert_eq!(last[0].as_object().unwrap().len(), 1, "{}", last[0]);
    // 12 examples in batches of 3 for 2 epochs, with no early stop.
    assert_eq!(steps.len(), 2 * n / b);

    let scale = BigInt::from(1u8) << (2 * p);
    let den = BigInt::from(b) * BigInt::from(alpha_den) * &scale;
    let mut seen_in_epoch = vec![false; n];
    for (k, line) in steps.iter().enumerate() {
        let (epoch, step) = (uint(line, "epoch") as usize, uint(line, "step") as usize);
        assert_eq!((epoch, step), (k / (n / b) + 1, k % (n / b) + 1), "{line}");
        let batch: Vec<usize> = ints(&line["batch"])
            .into_iter()
            .map(|i| usize::try_from(i).unwrap())
            .collect();
        assert_eq!(batch.len(), b, "{line}");
        assert!(batch.iter().all(|&i| i < n), "{line}");
        // Each epoch draws a permutation, so its batches cover every example once.
        if step == 1 {
            seen_in_epoch = vec![false; n];
        }
        for &i in &batch {
            assert!(!seen_in_epoch[i], "example {i} twice in epoch {epoch}");
            seen_in_epoch[i] = true;
        }
        let w = ints(&line["w"]);
        assert_eq!(w.len(), d, "{line}");

        // In raw units (value·2^p): xᵀW − y is (X·K − y·2^2p)/2^2p, and
        // s_k = round(α·(1/b)·Σ(xᵀW − y)·x_k·2^p) = round(α_num·Σ(X·K − y·2^2p)·X_k / den).
        let mut sums = vec![BigInt::zero(); d];
        for &i in &batch {
            let x = &features[i];
            let dot: BigInt = x
                .iter()
                .zip(&w)
                .map(|(&xj, &wj)| BigInt::from(xj) * wj)
                .sum();
            let residual = dot - BigInt::from(labels[i]) * &scale;
            for (sum, &xk) in sums.iter_mut().zip(x) {
                *sum += &residual * xk;
            }
        }
        let next: Vec<i64> = w
            .iter()
            .zip(&sums)
            .map(|(&wk, sum)| {
                let s = round_half_even(&(&alpha_num * sum), &den);
                i64::try_from(BigInt::from(wk) - s).expect("the model stays in i64")
            })
            .collect();
        let expected = match steps.get(k + 1) {
            Some(next_line) => ints(&next_line["w"]),
            None => final_w.clone(),
        };
        assert_eq!(next, expected, "step {k} (epoch {epoch}, step {step})");
    }
}

#[test]
fn round_half_even_helper_is_right() {
    // The recomputation above is only as good as this helper; pin its tie and sign cases.
    let r = |n: i64, d: i64| round_half_even(&BigInt::from(n), &BigInt::from(d));
    for (n, d, want) in [
        (5, 2, 2),
        (7, 2, 4),
        (-5, 2, -2),
        (-7, 2, -4),
        (1, 2, 0),
        (-1, 2, 0),
        (7, 3, 2),
        (-8, 3, -3),
        (0, 9, 0),
    ] {
        assert_eq!(r(n, d), BigInt::from(want), "{n}/{d}");
    }
}

#[test]
fn softmax_run_reconstructs_exactly() {
    let stdout = assert_success(&verify(&[
        "--model",
        "softmax",
        "--classes",
        "0,1,2",
        "--epochs",
        "1",
        "--backend",
        "f64",
    ]));
    assert!(stdout.contains("initial_model_bit_exact: true"), "{stdout}");
}

#[test]
fn mlp_run_reconstructs_exactly() {
    let stdout = assert_success(&verify(&[
        "--model",
        "mlp",
        "--hidden",
        "3",
        "--classes",
        "0,1",
        "--epochs",
        "1",
        "--backend",
        "f64",
        "--alpha",
        "1/64",
    ]));
    assert!(stdout.contains("initial_model_bit_exact: true"), "{stdout}");
}

#[test]
fn help_exits_zero() {
    let top = assert_success(&rewind(&["--help"]));
    assert!(top.contains("verify"), "{top}");
    let sub = assert_success(&rewind(&["verify", "--help"]));
    assert!(sub.contains("--frac-bits"), "{sub}");
}

#[test]
fn collisions_writes_its_map_and_prints_the_shares() {
    let dir = tempfile::TempDir::new().unwrap();
    let svg = dir.path().join("map.svg");
    let out = super::common::rewind(&[
        "collisions",
        "--half-width",
        "40",
        "--svg",
        svg.to_str().unwrap(),
    ]);
    let stdout = assert_success(&out);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("many-to-one:"))
        .expect("a many-to-one line");
    let numbers: Vec<f64> = line
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter_map(|t| t.parse().ok())
        .filter(|v: &f64| *v < 1.0)
        .collect();
    assert!(numbers.len() >= 2, "{line}");
    let (measured, predicted) = (numbers[0], numbers[numbers.len() - 1]);
    assert!((measured - predicted).abs() < 0.02, "{line}");
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") && text.trim_end().ends_with("</svg>"));
    assert!(text.contains("id=\"trajectory\"") && text.contains("2 preimages"));
    // Every element that opens is closed: a cheap well-formedness check.
    assert_eq!(text.matches("<svg").count(), text.matches("</svg>").count());
    assert_eq!(text.matches("<g ").count(), text.matches("</g>").count());
}

/// A plan's relative data path names a file beside the plan, whatever the working directory,
/// and its results name the data as the plan does.
#[test]
fn a_plan_reads_its_data_from_its_own_folder() {
    let dir = TempDir::new().unwrap();
    std::fs::create_dir_all(dir.path().join("plans")).unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
    let rows: String = (0..24)
        .map(|i| format!("{},{},{}\n", i % 5, (i * 7) % 11, i % 2))
        .collect();
    std::fs::write(dir.path().join("data/d.csv"), rows).unwrap();
    let plan = dir.path().join("plans/p.toml");
    let text = "name = \"p\"\n[axes]\ndata = [\"../data/d.csv\"]\nmodel = [\"least-squares\"]\nbatch = [4]\nepochs = [1]\n[phases]\ncode = false\n";
    std::fs::write(&plan, text).unwrap();
    let out_file = dir.path().join("r.jsonl");
    let sweep_from = |cwd: &Path| {
        Command::new(env!("CARGO_BIN_EXE_rewind"))
            .current_dir(cwd)
            .args(["sweep", plan.to_str().unwrap(), "--out"])
            .arg(&out_file)
            .args(["--threads", "1"])
            .output()
            .unwrap()
    };
    assert_success(&sweep_from(&dir.path().join("a/b")));
    let first = std::fs::read(&out_file).unwrap();
    let line: Value = serde_json::from_slice(first.split(|&b| b == b'\n').next().unwrap()).unwrap();
    assert!(line["error"].is_null(), "{line}");
    assert_eq!(line["report"]["config"]["data"], "../data/d.csv");
    std::fs::remove_file(&out_file).unwrap();
    assert_success(&sweep_from(dir.path()));
    assert_eq!(std::fs::read(&out_file).unwrap(), first);
}
