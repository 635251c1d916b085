//! Nothing lost, nothing panics: every output kind against a full disk (`/dev/full`) and a
//! directory that disappears mid-run, stdout closed early or full, sweeps that protect their
//! results (resume, shards, merge, failed runs), sizes and values checked up front, and
//! messages in the user's terms.

use super::common::{assert_error, rewind};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rewind"))
}

fn s(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// A quick run: least squares on 24 synthetic examples, f64, no code.
const QUICK: [&str; 12] = [
    "--data",
    "synthetic",
    "--synthetic-n",
    "24",
    "--model",
    "least-squares",
    "--backend",
    "f64",
    "--batch",
    "4",
    "--epochs",
    "2",
];

fn quick(sub: &str, extra: &[&str]) -> Vec<String> {
    let mut v = vec![sub.to_string()];
    v.extend(QUICK.iter().map(|x| x.to_string()));
    v.extend(extra.iter().map(|x| x.to_string()));
    v
}

fn run(args: &[String]) -> Output {
    bin().args(args).output().expect("the rewind binary runs")
}

#[track_caller]
fn assert_ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}; stderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The files in a directory, sorted: no temporary file may be left behind.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A tiny plan: 4 least-squares runs on synthetic data, each a few milliseconds.
fn plan(name: &str, batches: &str) -> String {
    format!(
        "name = \"{name}\"\n[axes]\ndata = [\"synthetic\"]\nmodel = [\"least-squares\"]\nbatch = {batches}\nseed = [0, 1]\nepochs = [2]\n[phases]\ncode = false\n[fixed]\nsynthetic_n = 24\n"
    )
}

fn write_plan(dir: &TempDir, file: &str, text: &str) -> PathBuf {
    let p = dir.path().join(file);
    std::fs::write(&p, text).unwrap();
    p
}

fn sweep(plan: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["sweep", s(plan), "--out", s(out), "--threads", "2"];
    args.extend_from_slice(extra);
    rewind(&args)
}

// ---------------------------------------------------------------- a full disk

/// `/dev/full` behind a name in `dir`: outputs follow the link and write the device directly.
fn full_link(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    std::os::unix::fs::symlink("/dev/full", &p).unwrap();
    p
}

#[test]
fn every_output_kind_fails_cleanly_on_a_full_disk() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let full = "/dev/full";
    for flag in ["--out", "--dump-data", "--dump-trajectory"] {
        let out = run(&quick("verify", &["--no-code", flag, full]));
        assert_error(&out, &["/dev/full", "disk is full"]);
    }
    // encode: the code file and the final model appear together or not at all.
    let code = d.join("run.rwc");
    let fin = d.join("final.json");
    let out = run(&quick("encode", &["--code", full, "--final", s(&fin)]));
    assert_error(&out, &["/dev/full"]);
    let out = run(&quick("encode", &["--code", s(&code), "--final", full]));
    assert_error(&out, &["/dev/full"]);
    assert!(listing(d).is_empty(), "{:?}", listing(d));
    // decode --out
    assert_ok(&run(&quick(
        "encode",
        &["--code", s(&code), "--final", s(&fin)],
    )));
    let out = rewind(&[
        "decode",
        s(&code),
        "--final",
        s(&fin),
        "--data",
        "synthetic",
        "--synthetic-n",
        "24",
        "--out",
        full,
    ]);
    assert_error(&out, &["/dev/full"]);
    for (sub, extra) in [("demo", vec![]), ("collisions", vec!["--half-width", "5"])] {
        let mut args = vec![sub, "--svg", full];
        args.extend(extra);
        assert_error(&rewind(&args), &["/dev/full"]);
    }
    // sweep: results on a full disk leave no CSV; the finished runs wait in the journal.
    let sd = TempDir::new().unwrap();
    let p = write_plan(&sd, "p.toml", &plan("full", "[4]"));
    let results = full_link(sd.path(), "r.jsonl");
    assert_error(
        &sweep(&p, &results, &[]),
        &["r.jsonl", "disk is full", "r.jsonl.partial", "--resume"],
    );
    assert_eq!(
        listing(sd.path()),
        vec!["p.toml", "r.jsonl", "r.jsonl.partial"]
    );
    // The summary CSV on a full disk: the results are not renamed into place either.
    std::fs::remove_file(sd.path().join("r.jsonl")).unwrap();
    std::fs::remove_file(sd.path().join("r.jsonl.partial")).unwrap();
    full_link(sd.path(), "r.csv");
    let results = sd.path().join("r.jsonl");
    assert_error(&sweep(&p, &results, &[]), &["r.csv", "disk is full"]);
    assert_eq!(
        listing(sd.path()),
        vec!["p.toml", "r.csv", "r.jsonl.partial"]
    );
    // figures: one of the SVG files on a full disk.
    let fd = TempDir::new().unwrap();
    let results = fd.path().join("r.jsonl");
    assert_ok(&sweep(
        &write_plan(&fd, "p.toml", &plan("f", "[4]")),
        &results,
        &[],
    ));
    let figs = fd.path().join("figs");
    std::fs::create_dir(&figs).unwrap();
    full_link(&figs, "fig2-true-labels.svg");
    let out = rewind(&["figures", s(&results), "--out", s(&figs)]);
    assert_error(&out, &["fig2-true-labels.svg"]);
}

#[test]
fn a_failed_run_leaves_no_output_and_keeps_the_old_one() {
    let dir = TempDir::new().unwrap();
    let d = |n: &str| s(&dir.path().join(n)).to_string();
    std::fs::write(dir.path().join("r.json"), "old").unwrap();
    // Batch 40 of 24 examples: the run fails after its outputs were opened.
    let too_big = |sub: &str, extra: &[&str]| {
        let mut v = vec![
            sub,
            "--data",
            "synthetic",
            "--synthetic-n",
            "24",
            "--batch",
            "40",
        ];
        v.extend_from_slice(extra);
        rewind(&v)
    };
    let out = too_big(
        "verify",
        &[
            "--out",
            &d("r.json"),
            "--dump-data",
            &d("d.json"),
            "--dump-trajectory",
            &d("t.jsonl"),
        ],
    );
    assert_error(&out, &["--batch 40"]);
    let out = too_big("encode", &["--code", &d("c.rwc"), "--final", &d("f.json")]);
    assert_error(&out, &["--batch 40"]);
    assert_eq!(listing(dir.path()), vec!["r.json"]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("r.json")).unwrap(),
        "old"
    );
}

// ---------------------------------------------------------------- a vanishing directory

/// Starts `args` with its data read from a FIFO, so the program waits (its outputs already
/// opened) until the test has removed the output directory; then feeds the data.
fn with_vanishing_dir(args: &[String], fifo: &Path, out_dir: &Path, data: &[u8]) -> Output {
    let mut child: Child = bin()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The outputs' temporary files show that the program has reached the data.
    let start = Instant::now();
    while listing(out_dir).is_empty() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::fs::remove_dir_all(out_dir).unwrap();
    feed_fifo(fifo, data, &mut child);
    child.wait_with_output().unwrap()
}

/// Writes `data` into the FIFO once the child opens it for reading. A child may end without
/// opening it (it found its output directory gone first); a blocking open would then wait for a
/// reader forever, so the open is non-blocking and retried while the child runs.
fn feed_fifo(fifo: &Path, data: &[u8], child: &mut Child) {
    use std::os::unix::fs::OpenOptionsExt;
    loop {
        let open = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(fifo);
        match open {
            // A reader that leaves early makes the write fail (EPIPE); its output says why.
            Ok(mut f) => {
                let _ = f.write_all(data);
                return;
            }
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                if child.try_wait().unwrap().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("cannot open {} for writing: {e}", fifo.display()),
        }
    }
}

fn mkfifo(path: &Path) {
    let st = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(st.success());
}

/// 24 examples, 2 features and a label, as CSV.
fn csv_data() -> Vec<u8> {
    (0..24)
        .map(|i| format!("{},{},{}\n", i % 5, (i * 7) % 11, i % 2))
        .collect::<String>()
        .into_bytes()
}

#[test]
fn a_directory_removed_mid_run_is_an_error_and_leaves_nothing() {
    let dir = TempDir::new().unwrap();
    let fifo = dir.path().join("data.fifo");
    mkfifo(&fifo);
    let run_flags = |sub: &str| -> Vec<String> {
        [
            sub,
            "--data",
            s(&fifo),
            "--model",
            "least-squares",
            "--backend",
            "f64",
            "--batch",
            "4",
            "--epochs",
            "2",
        ]
        .iter()
        .map(|x| x.to_string())
        .collect()
    };
    let out_dir = dir.path().join("out");
    let o = |name: &str| s(&out_dir.join(name)).to_string();
    let cases: Vec<Vec<String>> = vec![
        [
            run_flags("verify"),
            vec!["--no-code".into(), "--out".into(), o("r.json")],
            vec!["--dump-data".into(), o("d.json")],
            vec!["--dump-trajectory".into(), o("t.jsonl")],
        ]
        .concat(),
        [
            run_flags("encode"),
            vec!["--code".into(), o("run.rwc"), "--final".into(), o("f.json")],
        ]
        .concat(),
    ];
    for args in cases {
        std::fs::create_dir(&out_dir).unwrap();
        let out = with_vanishing_dir(&args, &fifo, &out_dir, &csv_data());
        assert_error(&out, &["out/", "directory"]);
        assert!(!out_dir.exists());
    }
    // decode --out, and a sweep's results.
    let code = dir.path().join("run.rwc");
    let fin = dir.path().join("final.json");
    let data = dir.path().join("data.csv");
    std::fs::write(&data, csv_data()).unwrap();
    let mut enc = run_flags("encode");
    enc[2] = s(&data).to_string();
    enc.extend([
        "--code".into(),
        s(&code).into(),
        "--final".into(),
        s(&fin).into(),
    ]);
    assert_ok(&run(&enc));
    std::fs::create_dir(&out_dir).unwrap();
    let args: Vec<String> = ["decode", s(&code), "--final", s(&fin), "--data", s(&fifo)]
        .iter()
        .map(|x| x.to_string())
        .chain(["--out".to_string(), o("t.jsonl")])
        .collect();
    let out = with_vanishing_dir(&args, &fifo, &out_dir, &csv_data());
    assert_error(&out, &["out/", "directory"]);
    std::fs::create_dir(&out_dir).unwrap();
    let plan_text = format!(
        "name = \"v\"\n[axes]\ndata = [\"{}\"]\nmodel = [\"least-squares\"]\nbatch = [4]\n[phases]\ncode = false\n",
        s(&fifo)
    );
    let p = write_plan(&dir, "p.toml", &plan_text);
    let args: Vec<String> = ["sweep", s(&p), "--out", &o("r.jsonl"), "--threads", "1"]
        .iter()
        .map(|x| x.to_string())
        .collect();
    let out = with_vanishing_dir(&args, &fifo, &out_dir, &csv_data());
    assert_error(&out, &["out/", "directory"]);
}

// ---------------------------------------------------------------- stdout

/// Every subcommand's stdout, closed before it writes: a quiet exit with success (like
/// ripgrep), never a panic; and full: a one-line error.
#[test]
fn stdout_closed_early_or_full() {
    let dir = TempDir::new().unwrap();
    let d = |n: &str| s(&dir.path().join(n)).to_string();
    let results = dir.path().join("r.jsonl");
    let p = write_plan(&dir, "p.toml", &plan("stdout", "[4]"));
    assert_ok(&sweep(&p, &results, &[]));
    assert_ok(&run(&quick(
        "encode",
        &["--code", &d("run.rwc"), "--final", &d("f.json")],
    )));
    let commands: Vec<Vec<String>> = vec![
        quick("verify", &["--no-code"]),
        quick("verify", &["--no-code", "--json"]),
        quick(
            "encode",
            &["--code", &d("c2.rwc"), "--final", &d("f2.json")],
        ),
        [
            "decode",
            &d("run.rwc"),
            "--final",
            &d("f.json"),
            "--data",
            "synthetic",
            "--synthetic-n",
            "24",
        ]
        .iter()
        .map(|x| x.to_string())
        .collect(),
        vec!["claims".into(), d("r.jsonl")],
        vec!["claims".into(), "--json".into(), d("r.jsonl")],
        vec!["figures".into(), d("r.jsonl"), "--out".into(), d("figs")],
        vec!["sweep".into(), d("p.toml"), "--out".into(), d("r2.jsonl")],
        vec!["demo".into(), "--svg".into(), d("demo.svg")],
        vec![
            "collisions".into(),
            "--half-width".into(),
            "5".into(),
            "--svg".into(),
            d("c.svg"),
        ],
        vec!["--help".into()],
        vec!["verify".into(), "--help".into()],
        vec!["--version".into()],
    ];
    for args in &commands {
        let mut child = bin()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?} closed: {stderr}");
        assert!(stderr.is_empty(), "{args:?} closed: {stderr}");

        let full = File::options().write(true).open("/dev/full").unwrap();
        let out = bin().args(args).stdout(full).output().unwrap();
        assert_error(&out, &["standard output", "No space left"]);
    }
}

// ---------------------------------------------------------------- outputs and inputs

#[test]
fn an_output_never_overwrites_an_input_or_another_output() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data.csv");
    std::fs::write(&data, csv_data()).unwrap();
    let before = std::fs::read(&data).unwrap();
    let base = |extra: &[&str]| {
        let mut v = vec![
            "verify",
            "--data",
            s(&data),
            "--model",
            "least-squares",
            "--backend",
            "f64",
            "--batch",
            "4",
            "--no-code",
        ];
        v.extend_from_slice(extra);
        rewind(&v)
    };
    let same = format!("{}/./data.csv", s(dir.path()));
    assert_error(
        &base(&["--dump-data", &same]),
        &["--dump-data", "the data set"],
    );
    assert_error(&base(&["--out", s(&data)]), &["--out", "the data set"]);
    let r = s(&dir.path().join("r.json")).to_string();
    assert_error(
        &base(&["--out", &r, "--dump-trajectory", &r]),
        &["--out", "also"],
    );
    let out = rewind(&["encode", "--code", &r, "--final", &r]);
    assert_error(&out, &["--final", "also --code"]);
    assert_eq!(std::fs::read(&data).unwrap(), before);
    // A sweep's results can be neither its plan nor its own summary CSV.
    let p = write_plan(&dir, "p.toml", &plan("p", "[4]"));
    assert_error(&sweep(&p, &p, &[]), &["--out", "the plan"]);
    let csv = dir.path().join("r.csv");
    assert_error(&sweep(&p, &csv, &[]), &["r.csv", "summary CSV", "r.jsonl"]);
    assert_eq!(listing(dir.path()), vec!["data.csv", "p.toml"]);
}

// ---------------------------------------------------------------- sweeps

#[test]
fn resume_cuts_a_torn_tail_and_refuses_another_plan_or_shard() {
    let dir = TempDir::new().unwrap();
    let p = write_plan(&dir, "p.toml", &plan("a", "[4, 8]"));
    let full = dir.path().join("full.jsonl");
    assert_ok(&sweep(&p, &full, &[]));
    let bytes = std::fs::read_to_string(&full).unwrap();
    let lines: Vec<&str> = bytes.lines().collect();
    assert_eq!(lines.len(), 4);
    // An interrupted sweep: two lines and half of a third in the journal.
    let out = dir.path().join("r.jsonl");
    // Half of the third line, cut at a character boundary (the report holds "−" and "≤").
    let half = (0..=lines[2].len() / 2)
        .rev()
        .find(|&i| lines[2].is_char_boundary(i))
        .unwrap();
    let torn = format!("{}\n{}\n{}", lines[0], lines[1], &lines[2][..half]);
    std::fs::write(dir.path().join("r.jsonl.partial"), torn).unwrap();
    assert_error(&sweep(&p, &out, &[]), &["r.jsonl.partial", "--resume"]);
    let stdout = assert_ok(&sweep(&p, &out, &["--resume"]));
    assert!(stdout.contains("2 new, 2 resumed"), "{stdout}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), bytes);
    assert!(!dir.path().join("r.jsonl.partial").exists());

    // Another plan's results are refused, and stay as they were.
    let other = write_plan(&dir, "other.toml", &plan("b", "[4, 8]"));
    assert_error(
        &sweep(&other, &out, &["--resume"]),
        &["plan 'a'", "plan 'b'"],
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), bytes);
    // The same plan name with other content is another plan too.
    let edited = write_plan(&dir, "edited.toml", &plan("a", "[4, 12]"));
    assert_error(
        &sweep(&edited, &out, &["--resume"]),
        &["plan 'a'", "sha256"],
    );
    // Another shard's.
    let s1 = dir.path().join("s.jsonl");
    assert_ok(&sweep(&p, &s1, &["--shard", "1/2"]));
    let kept = std::fs::read(&s1).unwrap();
    assert_error(
        &sweep(&p, &s1, &["--shard", "2/2", "--resume"]),
        &["shard 1/2", "shard 2/2"],
    );
    assert_eq!(std::fs::read(&s1).unwrap(), kept);
}

#[test]
fn merge_names_missing_shards_and_runs() {
    let dir = TempDir::new().unwrap();
    let p = write_plan(&dir, "p.toml", &plan("m", "[4, 8, 12]"));
    let shard = |k: usize| {
        let out = dir.path().join(format!("s{k}.jsonl"));
        assert_ok(&sweep(&p, &out, &["--shard", &format!("{k}/3")]));
        out
    };
    let (a, b, c) = (shard(1), shard(2), shard(3));
    let all = dir.path().join("all.jsonl");
    let merge = |inputs: &[&Path], plan: bool| {
        let mut args = vec!["sweep", "merge", "--out", s(&all)];
        if plan {
            args.extend(["--plan", s(&p)]);
        }
        args.extend(inputs.iter().map(|x| s(x)));
        rewind(&args)
    };
    assert_error(
        &merge(&[&a, &b], true),
        &["missing 2", "batch=12", "nothing was written"],
    );
    assert_error(&merge(&[&a, &c], false), &["shard 2/3"]);
    assert!(!all.exists());
    assert_ok(&merge(&[&a, &b, &c], true));
    let single = dir.path().join("single.jsonl");
    assert_ok(&sweep(&p, &single, &[]));
    assert_eq!(
        std::fs::read(&all).unwrap(),
        std::fs::read(&single).unwrap()
    );
}

#[test]
fn bad_plans_are_refused_and_failed_runs_fail_the_sweep() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("r.jsonl");
    let refused = [
        (plan("d", "[4, 4]"), vec!["batch", "twice"]),
        (plan("e", "[]"), vec!["batch", "empty"]),
        (
            plan("c", "[4]").replace("code = false", "certification = true\ninversion = false"),
            vec!["certification", "inversion"],
        ),
        (
            plan("c", "[4]").replace("code = false", "code = true\ninversion = false"),
            vec!["code", "inversion"],
        ),
        (
            plan("q", "[4]").replace("[axes]", "[axes]\nq = [\"0.1\"]\nalpha = [\"1/1024\"]"),
            vec!["alpha", "q"],
        ),
    ];
    for (text, needles) in refused {
        let p = write_plan(&dir, "p.toml", &text);
        assert_error(&sweep(&p, &out, &[]), &needles);
    }
    // Two of four runs cannot run (batch 40 > n = 24): the sweep writes every line, then fails
    // naming them.
    let p = write_plan(&dir, "p.toml", &plan("f", "[4, 40]"));
    let o = sweep(&p, &out, &[]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("2 of 4 runs failed") && stderr.contains("batch=40"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 4);
    let o = rewind(&["sweep", s(&p), "--out", s(&out), "--threads", "100000000"]);
    assert_error(&o, &["--threads", "cores"]);
}

#[test]
fn committed_results_of_format_1_are_still_read() {
    let dir = TempDir::new().unwrap();
    let p = write_plan(&dir, "p.toml", &plan("old", "[4, 8]"));
    let out = dir.path().join("r.jsonl");
    assert_ok(&sweep(&p, &out, &[]));
    // The same lines as format 1 wrote them: no plan, no shard.
    let old: String = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            let m = v.as_object_mut().unwrap();
            m.remove("plan");
            m.remove("shard");
            m.insert("format".into(), 1.into());
            serde_json::to_string(&v).unwrap() + "\n"
        })
        .collect();
    std::fs::write(&out, old).unwrap();
    assert_ok(&rewind(&["claims", s(&out)]));
    assert_error(
        &sweep(&p, &out, &["--resume"]),
        &["format 1", "without --resume"],
    );
    std::fs::write(&out, "{\"format\": 3}\n").unwrap();
    assert_error(&rewind(&["claims", s(&out)]), &["format 3"]);
}

// ---------------------------------------------------------------- sizes and values

#[test]
fn sizes_beyond_memory_are_refused_up_front() {
    let out = rewind(&["verify", "--model", "mlp", "--hidden", "1000000000000"]);
    assert_error(&out, &["memory", "--hidden"]);
    let out = rewind(&[
        "verify",
        "--data",
        "synthetic",
        "--synthetic-n",
        "100000000000",
    ]);
    assert_error(&out, &["memory", "--synthetic-n"]);
    let out = rewind(&["verify", "--epochs", "1000000000000000"]);
    assert_error(&out, &["memory", "--epochs"]);
}

#[test]
fn absurd_values_in_results_are_left_out_of_figures_with_a_warning() {
    let dir = TempDir::new().unwrap();
    let p = write_plan(&dir, "p.toml", &plan("v", "[4, 8]"));
    let out = dir.path().join("r.jsonl");
    assert_ok(&sweep(&p, &out, &[]));
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    lines[0]["report"]["discrepancy"]["epochs"][0]["running_rho_code"] = 1e250.into();
    let patched: String = lines
        .iter()
        .map(|v| serde_json::to_string(v).unwrap() + "\n")
        .collect();
    std::fs::write(&out, patched).unwrap();
    let start = Instant::now();
    let o = rewind(&["figures", s(&out), "--out", s(&dir.path().join("figs"))]);
    assert_ok(&o);
    assert!(start.elapsed() < Duration::from_secs(20));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("warning") && stderr.contains("1e250"),
        "{stderr}"
    );
}

#[test]
fn quantisation_that_loses_data_is_warned_about() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("wide.csv");
    // One feature spans 1000, so at p = 8 the small one (0.001) rounds to 0.
    let csv: String = (0..24)
        .map(|i| format!("{},{},{}\n", 1000 - i, 0.001 * (i % 3) as f64, i % 2))
        .collect();
    std::fs::write(&data, csv).unwrap();
    let report = dir.path().join("r.json");
    let o = rewind(&[
        "verify",
        "--data",
        s(&data),
        "--model",
        "least-squares",
        "--backend",
        "f64",
        "--batch",
        "4",
        "--frac-bits",
        "8",
        "--no-code",
        "--out",
        s(&report),
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("round to 0"), "{stderr}");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert!(
        r["warnings"][0].as_str().unwrap().contains("round to 0"),
        "{r}"
    );
    // A step size so small that no step moves the model.
    let o = run(&quick(
        "verify",
        &[
            "--no-code",
            "--alpha",
            "1/1099511627776",
            "--frac-bits",
            "8",
        ],
    ));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("none of the") && stderr.contains("moved"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------- messages

#[test]
fn messages_speak_of_what_the_user_typed() {
    assert_error(&rewind(&["claims"]), &["missing", "<RESULTS>"]);
    assert_error(&rewind(&["sweep", "merge"]), &["missing", "<INPUTS>"]);
    assert_error(
        &rewind(&["verify", "--q", "-0.1"]),
        &["--q -0.1", "between 0 and 1"],
    );
    let dir = TempDir::new().unwrap();
    let file = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let semi = file("semi.csv", b"1;2;0\n3;4;1\n");
    assert_error(
        &rewind(&["verify", "--data", s(&semi)]),
        &["semi.csv", "';'"],
    );
    let mut floats = vec![0u8, 0, 0x0D, 2, 0, 0, 0, 1, 0, 0, 0, 1];
    floats.extend_from_slice(&1f32.to_be_bytes());
    let idx = file("floats.csv", &floats);
    assert_error(
        &rewind(&["verify", "--data", s(&idx)]),
        &["floats.csv", "IDX", "32-bit floats"],
    );
    assert_error(
        &rewind(&["verify", "--certify", "--certify-budget", "100000"]),
        &["--certify-budget 100000", "at most 16384"],
    );
    let big = file("big.csv", b"1,2,0\n3,4,5000000000\n");
    assert_error(
        &rewind(&["verify", "--data", s(&big)]),
        &["line 2", "too large"],
    );
}
