//! The code file of `rewind encode` / `rewind decode`: a corrupted file never panics and never
//! decodes to a different run, a file read against the wrong data or final model is refused,
//! and the command-line round trip gives back exactly the run `rewind verify` logs.

use super::common::{rewind, snapshots};
use rewind::config::{DataSource, ModelKind, Setup, StepSize, VerifyConfig};
use rewind::encode::{decode_run, encode_run, EncodedRun};
use rewind::rng::{stream, uniform_in, Stream};
use rewind::sgd::BackendChoice;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::process::Output;
use std::time::Instant;
use tempfile::TempDir;

/// Mutations per file and mode; the brief asks for at least 2,000.
const MUTATIONS: usize = 2_000;

/// A run small enough to decode thousands of times: n = 12, d = 3, 8 steps. p = 8 and
/// q = 0.9 make the grid coarse enough for many-to-one steps, so hints are exercised.
pub(super) fn tiny(seed: u64, certify: Option<u64>) -> VerifyConfig {
    VerifyConfig {
        data: DataSource::Synthetic {
            n: 12,
            features: 2,
            classes: 2,
        },
        model: ModelKind::LeastSquares,
        backend: BackendChoice::Exact,
        frac_bits: 8,
        step_size: StepSize::Q("0.9".into()),
        batch: 3,
        epochs: 2,
        seed,
        stop_at_full_accuracy: false,
        certify,
        ..VerifyConfig::default()
    }
}

pub(super) fn encode_config(c: &VerifyConfig) -> EncodedRun {
    encode_run(&Setup::new(c).expect("a valid configuration")).expect("the run encodes")
}

pub(super) fn has_hints(e: &EncodedRun) -> bool {
    e.encoded.epochs.iter().any(|c| c.hint_bits > 0)
}

/// The first seed whose tiny run needs a hint: a corrupted hint must be caught too.
pub(super) fn hinted_seed() -> u64 {
    (0..64)
        .find(|&s| has_hints(&encode_config(&tiny(s, None))))
        .expect("some seed below 64 gives a hinted step")
}

/// Where the code starts (its bit count, then its bytes) in a well-formed file.
pub(super) fn code_region(bytes: &[u8]) -> Range<usize> {
    let len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    16 + len..bytes.len() - 32
}

pub(super) fn reseal(mut body: Vec<u8>) -> Vec<u8> {
    let sum = Sha256::digest(&body);
    body.extend_from_slice(&sum);
    body
}

/// One random edit of `bytes`, always a real change; positions come from `at` (a non-empty
/// range). Returns the edited bytes and a description for failure messages.
pub(super) fn mutate(
    rng: &mut impl rand_core::RngCore,
    bytes: &[u8],
    at: Range<usize>,
) -> (Vec<u8>, String) {
    let mut out = bytes.to_vec();
    let pos = uniform_in(rng, at.start as i64, at.end as i64 - 1) as usize;
    let what = match uniform_in(rng, 0, 4) {
        0 => {
            let bit = uniform_in(rng, 0, 7);
            out[pos] ^= 1 << bit;
            format!("flip bit {bit} of byte {pos}")
        }
        1 => {
            out[pos] ^= uniform_in(rng, 1, 255) as u8;
            format!("overwrite byte {pos} with {:#04x}", out[pos])
        }
        2 => {
            out.truncate(pos);
            format!("truncate to {pos} bytes")
        }
        3 => {
            let byte = uniform_in(rng, 0, 255) as u8;
            out.insert(pos, byte);
            format!("insert {byte:#04x} at {pos}")
        }
        _ => {
            out.remove(pos);
            format!("delete byte {pos}")
        }
    };
    (out, what)
}

/// The error kinds a decoder can end in, by their messages.
fn kind(msg: &str) -> &'static str {
    const KINDS: [(&str, &str); 14] = [
        ("checksum", "checksum"),
        ("bad magic", "magic"),
        ("is not supported", "version"),
        ("code file is truncated", "truncated"),
        ("header is invalid", "header"),
        ("names an unknown", "header-names"),
        ("another data set", "data-fingerprint"),
        ("final model does not match", "model-fingerprint"),
        ("run shape", "shape"),
        ("does not replay", "replay"),
        ("rank is out of range", "rank"),
        ("the code ends before", "coder-exhausted"),
        ("frequency table", "coder-empty"),
        ("α·L_B", "step-size-check"),
    ];
    if msg.contains("code is corrupted or does not belong") {
        return "decoder-corrupt";
    }
    KINDS
        .iter()
        .find(|(needle, _)| msg.contains(needle))
        .map_or("other", |(_, k)| k)
}

/// Kinds that only the run-shape check, the arithmetic decoder and its unranking, or the replay
/// can produce: proof that re-sealed mutations get past every check of the container.
const INNER: [&str; 6] = [
    "shape",
    "replay",
    "rank",
    "coder-exhausted",
    "coder-empty",
    "decoder-corrupt",
];

#[derive(Default)]
struct Tally {
    kinds: BTreeMap<String, usize>,
    failures: Vec<String>,
}

impl Tally {
    /// Decodes one mutated file and checks the contract: no panic; an error of one non-empty
    /// line, or exactly the original run.
    fn check(&mut self, bytes: &[u8], what: &str, orig: &EncodedRun, config: &VerifyConfig) {
        let traj = &orig.trajectory;
        let result = catch_unwind(AssertUnwindSafe(|| {
            decode_run(bytes, &traj.final_model, config)
        }));
        let kind = match result {
            Err(_) => {
                self.failures.push(format!("{what}: panicked"));
                "panic".to_string()
            }
            Ok(Err(e)) => {
                let msg = e.to_string();
                if msg.trim().is_empty() || msg.contains('\n') {
                    self.failures
                        .push(format!("{what}: error is not one line: {msg:?}"));
                }
                let k = kind(&msg);
                if k == "other" {
                    format!("other: {msg}")
                } else {
                    k.to_string()
                }
            }
            Ok(Ok(run)) => {
                let d = &run.decoded;
                let batches: Vec<&Vec<usize>> = traj.steps.iter().map(|s| &s.batch).collect();
                let models: Vec<&Vec<i64>> = traj.steps.iter().map(|s| &s.w).collect();
                let same = d.permutations == traj.permutations
                    && d.batches.iter().collect::<Vec<_>>() == batches
                    && d.models.iter().collect::<Vec<_>>() == models;
                if same {
                    "ok-identical".to_string()
                } else {
                    self.failures.push(format!(
                        "{what}: decoded a DIFFERENT run without error (permutations {:?} instead of {:?})",
                        d.permutations, traj.permutations
                    ));
                    "ok-DIFFERENT".to_string()
                }
            }
        };
        *self.kinds.entry(kind).or_default() += 1;
    }

    fn inner(&self) -> usize {
        self.kinds
            .iter()
            .filter(|(k, _)| INNER.contains(&k.as_str()))
            .map(|(_, v)| v)
            .sum()
    }
}

/// Mode (a): raw mutations of the whole file. Mode (b): mutations of everything before the
/// checksum, then a fresh checksum, so the header parser and the decoder see the damage; one
/// in `aim` of them hits the code section, which is small next to the JSON header. Returns
/// the contract violations; the statistics go to stderr.
fn mutation_campaign(label: &str, config: &VerifyConfig, seed: u64, aim: i64) -> Vec<String> {
    let start = Instant::now();
    let orig = encode_config(config);
    let bytes = &orig.bytes;
    let body_len = bytes.len() - 32;
    let code = code_region(bytes);
    let mut rng = stream(seed, Stream::Init);
    let (mut raw, mut sealed) = (Tally::default(), Tally::default());
    for i in 0..MUTATIONS {
        let (m, what) = mutate(&mut rng, bytes, 0..bytes.len());
        raw.check(&m, &format!("{label}: raw #{i} {what}"), &orig, config);
        let at = if uniform_in(&mut rng, 1, aim) > 1 {
            0..body_len
        } else {
            code.clone()
        };
        let (m, what) = mutate(&mut rng, &bytes[..body_len], at);
        let what = format!("{label}: re-sealed #{i} {what}");
        sealed.check(&reseal(m), &what, &orig, config);
    }
    eprintln!(
        "{label}: {} bytes (code section {:?}), {:.1} s; raw: {:?}; re-sealed: {:?}",
        bytes.len(),
        code,
        start.elapsed().as_secs_f64(),
        raw.kinds,
        sealed.kinds
    );
    let reached_decoder = sealed.inner();
    let mut failures = raw.failures;
    failures.extend(sealed.failures);
    if raw.kinds.keys().any(|k| k.starts_with("ok")) {
        failures.push(format!("{label}: a raw mutation passed the checksum"));
    }
    if sealed.kinds.contains_key("checksum") {
        failures.push(format!("{label}: a re-sealed file failed its checksum"));
    }
    if reached_decoder == 0 {
        failures.push(format!(
            "{label}: no re-sealed mutation reached the decoder: {:?}",
            sealed.kinds
        ));
    }
    failures
}

#[test]
fn mutated_code_files_fail_cleanly_or_decode_the_same_run() {
    let start = Instant::now();
    let seed = hinted_seed();
    let mut failures = mutation_campaign("hints as corrections", &tiny(seed, None), 0xC0DE, 2);
    // A corrupted certified decode can spend its whole enumeration budget on every step (about
    // 70 ms a file in a debug build), so fewer mutations aim at the code to stay near 10 s.
    failures.extend(mutation_campaign(
        "certified hints",
        &tiny(seed, Some(4096)),
        0xC0DF,
        4,
    ));
    eprintln!(
        "mutation campaign (run seed {seed}, {} mutations per file and mode): {:.1} s",
        MUTATIONS,
        start.elapsed().as_secs_f64()
    );
    for f in failures.iter().take(10) {
        eprintln!("  {f}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} mutated files broke the contract (first ones above)",
        failures.len(),
        4 * MUTATIONS
    );
}

#[test]
fn the_wrong_data_set_or_final_model_is_refused() {
    let config = tiny(hinted_seed(), None);
    let orig = encode_config(&config);
    let fin = &orig.trajectory.final_model;
    let decoded = decode_run(&orig.bytes, fin, &config).expect("the right inputs decode");
    assert_eq!(decoded.initial_model(), orig.trajectory.initial_model());

    let data_error = |c: VerifyConfig| {
        let e = decode_run(&orig.bytes, fin, &c).expect_err("another data set must be refused");
        e.to_string()
    };
    let other_seed = VerifyConfig {
        seed: config.seed + 1,
        ..config.clone()
    };
    let swapped = VerifyConfig {
        classes: Some(vec![1, 0]),
        ..config.clone()
    };
    let longer = VerifyConfig {
        data: DataSource::Synthetic {
            n: 15,
            features: 2,
            classes: 2,
        },
        ..config.clone()
    };
    // Every wrong data set is named as such; the cases are collected so one run shows them all.
    let unclear: Vec<(&str, String)> = [
        ("another seed", other_seed),
        ("classes swapped", swapped),
        ("n = 15", longer),
    ]
    .into_iter()
    .map(|(what, c)| (what, data_error(c)))
    .filter(|(_, msg)| !msg.contains("another data set") || msg.contains('\n'))
    .collect();
    // Three classes cannot feed the binary model the header names: refused before any decoding.
    let three = VerifyConfig {
        data: DataSource::Synthetic {
            n: 12,
            features: 2,
            classes: 3,
        },
        ..config.clone()
    };
    let msg = data_error(three);
    assert!(msg.contains("classes"), "{msg}");

    for k in 0..fin.len() {
        for delta in [-1, 1] {
            let mut w = fin.clone();
            w[k] += delta;
            let e = decode_run(&orig.bytes, &w, &config).expect_err("another final model");
            assert!(e.to_string().contains("final model does not match"), "{e}");
        }
    }
    let e = decode_run(&orig.bytes, &fin[1..], &config).expect_err("a shorter final model");
    assert!(e.to_string().contains("final model does not match"), "{e}");
    assert!(
        unclear.is_empty(),
        "a wrong data set gives an unclear error: {unclear:?}"
    );
}

/// The flags of the command-line run; `decode` gets only the data flags.
const DATA_FLAGS: [&str; 6] = [
    "--data",
    "synthetic",
    "--synthetic-n",
    "24",
    "--synthetic-features",
    "3",
];
const RUN_FLAGS: [&str; 13] = [
    "--model",
    "least-squares",
    "--backend",
    "exact",
    "--frac-bits",
    "10",
    "--q",
    "0.8",
    "--batch",
    "4",
    "--epochs",
    "2",
    "--no-early-stop",
];

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

fn run_cli(sub: &str, extra: &[&str], data: &[&str], run: &[&str]) -> Output {
    let mut args = vec![sub];
    args.extend_from_slice(data);
    args.extend_from_slice(run);
    args.extend_from_slice(extra);
    rewind(&args)
}

#[track_caller]
fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}; stderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("the trajectory file exists")
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect()
}

#[test]
fn the_command_line_round_trip_gives_back_the_logged_run() {
    let dir = TempDir::new().unwrap();
    let code = dir.path().join("run.rwc");
    let fin = dir.path().join("final.json");
    let decoded = dir.path().join("decoded.jsonl");
    let logged = dir.path().join("logged.jsonl");
    let (code_s, fin_s) = (path_str(&code), path_str(&fin));

    let out = run_cli(
        "encode",
        &["--code", code_s, "--final", fin_s],
        &DATA_FLAGS,
        &RUN_FLAGS,
    );
    assert_success(&out);
    let decode = |extra: &[&str], data: &[&str]| {
        let mut args = vec!["decode", code_s, "--final", fin_s];
        args.extend_from_slice(data);
        args.extend_from_slice(extra);
        rewind(&args)
    };
    let out = decode(&["--out", path_str(&decoded)], &DATA_FLAGS);
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let sha = stdout
        .lines()
        .find_map(|l| l.strip_prefix("initial model sha256: "))
        .unwrap_or_else(|| panic!("decode prints the initial model's sha256: {stdout}"));

    let out = run_cli(
        "verify",
        &["--json", "--dump-trajectory", path_str(&logged)],
        &DATA_FLAGS,
        &RUN_FLAGS,
    );
    assert_success(&out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert_eq!(
        report["reconstruction"]["initial_model_sha256"].as_str(),
        Some(sha),
        "decode and verify disagree on W₁,₁"
    );

    // Same header, same steps (epoch, step, batch in order, model) and same final model.
    let (dec, log) = (json_lines(&decoded), json_lines(&logged));
    assert_eq!(dec.len(), 1 + 12 + 1, "header, 2 × 24/4 steps, final");
    assert_eq!(dec.len(), log.len());
    for (k, (d, l)) in dec.iter().zip(&log).enumerate() {
        assert_eq!(d, l, "line {} of the trajectories", k + 1);
    }

    // The wrong data set.
    let wrong_n = ["--data", "synthetic", "--synthetic-n", "20"];
    let out = decode(&["--synthetic-features", "3"], &wrong_n);
    super::common::assert_error(&out, &["data set"]);

    // A truncated code file.
    let bytes = std::fs::read(&code).unwrap();
    let short = dir.path().join("short.rwc");
    std::fs::write(&short, &bytes[..bytes.len() / 2]).unwrap();
    let mut args = vec!["decode", path_str(&short), "--final", fin_s];
    args.extend_from_slice(&DATA_FLAGS);
    super::common::assert_error(&rewind(&args), &["code file"]);

    // A final model that is not JSON.
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, b"not json at all\n{").unwrap();
    let mut args = vec!["decode", code_s, "--final", path_str(&junk)];
    args.extend_from_slice(&DATA_FLAGS);
    super::common::assert_error(&rewind(&args), &["junk.json", "not a final model file"]);
}

#[test]
fn code_lengths_of_a_small_run() {
    let config = VerifyConfig {
        data: DataSource::Synthetic {
            n: 40,
            features: 3,
            classes: 2,
        },
        model: ModelKind::LeastSquares,
        backend: BackendChoice::Exact,
        frac_bits: 12,
        step_size: StepSize::Q("0.5".into()),
        batch: 4,
        epochs: 3,
        seed: 0,
        stop_at_full_accuracy: false,
        ..VerifyConfig::default()
    };
    let e = encode_config(&config).encoded;
    // The identities the snapshot must respect whatever its numbers: an untilted epoch without
    // hints costs exactly ⌈log₂ n!⌉ plus its header, and the chosen tilt never costs more.
    for c in &e.epochs {
        assert!(
            c.bits <= c.baseline_bits + c.header_bits + c.hint_bits,
            "{c:?}"
        );
        if c.tilt == (1, 1) && c.hint_bits == 0 {
            assert_eq!(c.bits, c.baseline_bits + c.header_bits, "{c:?}");
        }
    }
    let epochs: Vec<serde_json::Value> = e
        .epochs
        .iter()
        .map(|c| {
            serde_json::json!({
                "epoch": c.epoch,
                "baseline_bits": c.baseline_bits,
                "bits": c.bits,
                "hint_bits": c.hint_bits,
                "header_bits": c.header_bits,
                "tilt": format!("{}/{}", c.tilt.0, c.tilt.1),
            })
        })
        .collect();
    let value = serde_json::json!({
        "epochs": epochs,
        "total_code_bits": e.code.bits,
        "run_header_bits": e.run_header_bits,
    });
    snapshots().bind(|| insta::assert_json_snapshot!("code_lengths_small_run", value));
}
