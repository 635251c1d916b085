//! `rewind audit`: a clean log verifies; each tampering is found at its step; verdicts do not
//! depend on threads or shards; bad logs are one-line errors with exit code 2; a log written by
//! the numpy producer of examples/python verifies.

use super::common::{assert_error, rewind};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A small data set in a CSV file, so that the seed moves only the initial model and the
/// permutations (synthetic data would change with it).
fn data_csv(dir: &Path) -> PathBuf {
    let path = dir.join("data.csv");
    let rows: String = (0..24)
        .map(|i| {
            format!(
                "{},{},{}\n",
                (i * 7) % 11,
                (i * 5) % 13,
                (i * 3 + i / 5) % 2
            )
        })
        .collect();
    std::fs::write(&path, rows).unwrap();
    path
}

/// Runs `rewind verify` on the CSV and returns its log's lines.
fn clean_log(dir: &Path, seed: &str, extra: &[&str]) -> Vec<Value> {
    clean_log_at(dir, seed, "12", extra)
}

/// [`clean_log`] on a grid of `p` fractional bits.
fn clean_log_at(dir: &Path, seed: &str, p: &str, extra: &[&str]) -> Vec<Value> {
    let data = data_csv(dir);
    let log = dir.join(format!("clean-{seed}.jsonl"));
    let mut args = vec![
        "verify",
        "--data",
        data.to_str().unwrap(),
        "--seed",
        seed,
        "--model",
        "least-squares",
        "--backend",
        "exact",
        "--frac-bits",
        p,
        "--batch",
        "4",
        "--epochs",
        "3",
        "--q",
        "0.45",
        "--no-early-stop",
        "--no-code",
        "--dump-trajectory",
        log.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = rewind(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lines(&log)
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Writes `log` and audits it with the CSV's data flags; returns the exit code and the JSON
/// verdict (Null when the audit printed none).
fn audit(dir: &Path, log: &[Value], extra: &[&str]) -> (i32, Value) {
    let path = dir.join("audited.jsonl");
    let text: String = log.iter().map(|v| v.to_string() + "\n").collect();
    std::fs::write(&path, text).unwrap();
    let data = dir.join("data.csv");
    let mut args = vec![
        "audit",
        path.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--json",
    ];
    args.extend_from_slice(extra);
    let out = rewind(&args);
    let code = out.status.code().expect("an exit code, not a signal");
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (code, json)
}

/// The (index, against_epoch, against_step) of the first divergence.
fn first(v: &Value) -> (u64, Value, Value) {
    let d = &v["first_divergence"];
    assert!(d.is_object(), "a divergence is reported: {v}");
    (
        d["index"].as_u64().unwrap(),
        d["against_epoch"].clone(),
        d["against_step"].clone(),
    )
}

#[test]
fn a_clean_log_verifies_and_every_step_is_labelled() {
    let dir = tempfile::tempdir().unwrap();
    let log = clean_log(dir.path(), "1", &[]);
    let (code, v) = audit(dir.path(), &log, &["--certify"]);
    assert_eq!(code, 0, "{v}");
    assert!(v["first_divergence"].is_null());
    assert_eq!(v["counts"]["verified"], 18);
    let c = &v["counts"];
    assert_eq!(
        c["unique"].as_u64().unwrap()
            + c["ambiguous"].as_u64().unwrap()
            + c["unknown"].as_u64().unwrap(),
        18
    );
    // An ambiguous step lists its preimages, the logged one (no differences) among them.
    for s in v["steps"].as_array().unwrap() {
        if s["certificate"]["kind"] == "ambiguous" {
            let listed = s["certificate"]["listed"].as_array().unwrap();
            assert_eq!(
                listed.len() as u64,
                s["certificate"]["preimages"].as_u64().unwrap()
            );
            assert!(listed.iter().any(|p| p.as_array().unwrap().is_empty()));
        }
    }
}

#[test]
fn one_bit_of_one_coordinate_is_found_at_its_step() {
    use rand_core::{RngCore, SeedableRng};
    let dir = tempfile::tempdir().unwrap();
    let clean = clean_log(dir.path(), "1", &[]);
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(22);
    for _ in 0..3 {
        // Line 0 is the header; steps are lines 1..=18; a step j ≥ 2 so that a step precedes it.
        let j = 2 + (rng.next_u32() % 17) as usize;
        let c = (rng.next_u32() % 3) as usize;
        let mut log = clean.clone();
        let w = log[j]["w"][c].as_i64().unwrap();
        log[j]["w"][c] = (w ^ 1).into();
        let (code, v) = audit(dir.path(), &log, &[]);
        assert_eq!(code, 1, "{v}");
        let (index, e, s) = first(&v);
        assert_eq!(index as usize, j - 2, "the step before the tampered model");
        assert_eq!((e, s), (log[j]["epoch"].clone(), log[j]["step"].clone()));
        assert_eq!(v["first_divergence"]["coordinates"], 1);
        assert_eq!(v["first_divergence"]["max_distance_ulps"], 1);
        // At δ = 1 ulp that step is accepted and the replay goes on from the logged model.
        let (_, v) = audit(dir.path(), &log, &["--tolerance", "1"]);
        assert_eq!(v["steps"][j - 2]["forward"], "within_tolerance", "{v}");
        assert_eq!(v["steps"][j - 2]["distance_ulps"], 1);
    }
}

#[test]
fn a_swapped_batch_index_is_found_at_its_step() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = clean_log(dir.path(), "1", &[]);
    // Step 5 (line 5) trades its first example for step 6's first.
    let (a, b) = (log[5]["batch"][0].clone(), log[6]["batch"][0].clone());
    log[5]["batch"][0] = b;
    let (code, v) = audit(dir.path(), &log, &[]);
    assert_eq!(code, 1);
    assert_eq!(first(&v).0, 4);
    // Swapping the two examples between the steps: the first of them diverges.
    log[6]["batch"][0] = a;
    assert_eq!(first(&audit(dir.path(), &log, &[]).1).0, 4);
}

#[test]
fn a_dropped_step_and_two_swapped_steps_are_found_where_the_log_breaks() {
    let dir = tempfile::tempdir().unwrap();
    let clean = clean_log(dir.path(), "1", &[]);
    let mut dropped = clean.clone();
    dropped.remove(9);
    let (code, v) = audit(dir.path(), &dropped, &[]);
    assert_eq!(code, 1);
    // Step 8 (index 7) replays to the model that the dropped line held, not the next one's.
    assert_eq!(
        first(&v),
        (7, clean[10]["epoch"].clone(), clean[10]["step"].clone())
    );

    let mut swapped = clean.clone();
    swapped.swap(12, 13);
    assert_eq!(first(&audit(dir.path(), &swapped, &[]).1).0, 10);
    // Swapping only the batches of two steps: the first of them diverges.
    let mut batches = clean.clone();
    let b = batches[12]["batch"].clone();
    batches[12]["batch"] = batches[13]["batch"].clone();
    batches[13]["batch"] = b;
    assert_eq!(first(&audit(dir.path(), &batches, &[]).1).0, 11);
}

#[test]
fn a_checkpoint_from_another_seed_is_found_at_its_step() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = clean_log(dir.path(), "1", &["--checkpoint-every", "4"]);
    let other = clean_log(dir.path(), "2", &["--checkpoint-every", "4"]);
    // Steps 1, 5, 9, 13, 17 carry models; the others their hashes.
    assert!(log[9]["w"].is_array() && log[8]["w"].is_null() && log[8]["w_sha256"].is_string());
    let (code, v) = audit(dir.path(), &log, &[]);
    assert_eq!((code, v["segments"].as_u64()), (0, Some(5)), "{v}");
    log[9]["w"] = other[9]["w"].clone();
    let (code, v) = audit(dir.path(), &log, &[]);
    assert_eq!(code, 1);
    assert_eq!(first(&v).0, 7);
    // The forged checkpoint's own segment, replayed from it, misses the next step's hash.
    assert_eq!(v["steps"][8]["forward"], "diverged", "{v}");
}

#[test]
fn a_header_alpha_differing_in_its_last_bit_diverges_at_the_first_step() {
    let dir = tempfile::tempdir().unwrap();
    let flip = |log: &mut Vec<Value>| {
        let a = log[0]["alpha_num"].as_u64().unwrap();
        log[0]["alpha_num"] = (a ^ 1).into();
    };
    // On p = 32 the increments are large enough that α's last bit moves them (on a coarse grid
    // it may move none: then both step sizes give the very same log).
    let mut log = clean_log_at(dir.path(), "1", "32", &[]);
    flip(&mut log);
    let (code, v) = audit(dir.path(), &log, &[]);
    assert_eq!(code, 1);
    assert_eq!(first(&v).0, 0);
}

#[test]
fn verdicts_are_the_same_on_one_and_two_threads_and_as_shards() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = clean_log(dir.path(), "1", &["--checkpoint-every", "3"]);
    log[14]["batch"][1] = log[2]["batch"][1].clone();
    let (c1, one) = audit(dir.path(), &log, &["--threads", "1", "--certify"]);
    let (c2, two) = audit(dir.path(), &log, &["--threads", "2", "--certify"]);
    assert_eq!((c1, &one), (c2, &two));
    assert_eq!(first(&one).0, 13);
    let (_, s1) = audit(dir.path(), &log, &["--shard", "1/2", "--certify"]);
    let (_, s2) = audit(dir.path(), &log, &["--shard", "2/2", "--certify"]);
    let mut steps: Vec<Value> = [&s1, &s2]
        .iter()
        .flat_map(|s| s["steps"].as_array().unwrap().clone())
        .collect();
    steps.sort_by_key(|s| s["index"].as_u64());
    assert_eq!(&Value::Array(steps), &one["steps"]);
    let firsts: Vec<u64> = [&s1, &s2]
        .iter()
        .filter(|s| s["first_divergence"].is_object())
        .map(|s| first(s).0)
        .collect();
    assert_eq!(firsts.iter().min(), Some(&13));
}

#[test]
fn bad_logs_are_one_line_errors_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let clean = clean_log(dir.path(), "1", &[]);
    let data = dir.path().join("data.csv");
    let path = dir.path().join("bad.jsonl");
    let run = |text: &str, extra: &[&str]| {
        std::fs::write(&path, text).unwrap();
        let mut args = vec![
            "audit",
            path.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        rewind(&args)
    };
    let text: String = clean.iter().map(|v| v.to_string() + "\n").collect();
    let cut = &text[..text.len() - 8];
    let mut future = clean[0].clone();
    future["format"] = 9.into();
    let cases: Vec<(String, Vec<&str>, Vec<&str>)> = vec![
        (cut.to_string(), vec![], vec!["line 20"]),
        (future.to_string() + "\n", vec![], vec!["format 9"]),
        (String::new(), vec![], vec!["empty"]),
        (text.clone(), vec!["--classes", "1,0"], vec!["data_sha256"]),
        (text.clone(), vec!["--shard", "3/2"], vec!["--shard"]),
        (
            text.replace("\"batch\":4", "\"batch\":5"),
            vec![],
            vec!["n ="],
        ),
    ];
    for (text, extra, needles) in cases {
        let out = run(&text, &extra);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_error(&out, &needles);
    }
}

/// The numpy producer writes logs for least squares (exact backend) and logistic regression
/// (f64 backend) that rewind audits clean, bit for bit. Needs python3 with numpy.
#[test]
fn the_numpy_producer_writes_logs_that_verify() {
    let has_numpy = std::process::Command::new("python3")
        .args(["-c", "import numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_numpy {
        // CI installs numpy and sets REWIND_REQUIRE_NUMPY, so there the producer always runs.
        assert!(
            std::env::var_os("REWIND_REQUIRE_NUMPY").is_none(),
            "python3 with numpy is required (REWIND_REQUIRE_NUMPY is set): pip install numpy"
        );
        eprintln!("python3 with numpy is not available: the numpy producer was not run");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/python/train_and_log.py"
    );
    let out = std::process::Command::new("python3")
        .args([
            script,
            "--out",
            dir.path().to_str().unwrap(),
            "--steps",
            "60",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for model in ["least-squares", "logistic"] {
        let log = dir.path().join(format!("{model}.jsonl"));
        let data = dir.path().join("data.csv");
        let out = rewind(&[
            "audit",
            log.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--json",
        ]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{model}: {v} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(v["counts"]["verified"], 60, "{model}: {v}");
        // And a bit flipped in the producer's log is found.
        let mut lines = lines(&log);
        let w = lines[30]["w"][0].as_i64().unwrap();
        lines[30]["w"][0] = (w ^ 1).into();
        let text: String = lines.iter().map(|v| v.to_string() + "\n").collect();
        std::fs::write(&log, text).unwrap();
        let out = rewind(&[
            "audit",
            log.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--json",
        ]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(first(&v).0, 28, "{model}");
    }
}

/// The summary of a log with a checkpoint every 4 steps and one batch tampered, pinned: the
/// counts, the steps that need side information, the certificates and the divergence line.
#[test]
fn the_audit_summary_is_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = clean_log(dir.path(), "1", &["--checkpoint-every", "4"]);
    log[11]["batch"][2] = log[3]["batch"][0].clone();
    let path = dir.path().join("audited.jsonl");
    let text: String = log.iter().map(|v| v.to_string() + "\n").collect();
    std::fs::write(&path, text).unwrap();
    let data = dir.path().join("data.csv");
    let out = rewind(&[
        "audit",
        path.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--certify",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout).replace(path.to_str().unwrap(), "LOG");
    super::common::snapshots().bind(|| insta::assert_snapshot!("audit_summary", stdout));
}
