//! Hostile conditions, part two: a forged field that steers work, two writers in one folder,
//! signals mid-write and the leftovers of `kill -9`, endless inputs, plans too large to list,
//! flags that do not apply to the run, torn and empty results, and untrusted text.

use super::common::{assert_error, rewind};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

fn s(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// A quick run: least squares on 24 synthetic examples, f64.
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

fn args(sub: &str, extra: &[&str]) -> Vec<String> {
    let mut v = vec![sub.to_string()];
    v.extend(QUICK.iter().chain(extra).map(|x| x.to_string()));
    v
}

fn spawn(args: &[String]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_rewind"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the rewind binary runs")
}

#[track_caller]
fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}; stderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The hidden files of a folder (temporaries, backups, locks).
fn hidden(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    v.sort();
    v
}

/// SHA-256 of a final model's raw integers, as the code file's header records it.
fn final_sha(path: &Path) -> String {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut h = Sha256::new();
    for w in v["final"].as_array().unwrap() {
        h.update(w.as_i64().unwrap().to_le_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn two_encoders_in_one_folder_never_mix_a_pair() {
    let dir = TempDir::new().unwrap();
    let (code, fin) = (dir.path().join("run.rwc"), dir.path().join("final.json"));
    for trial in 0..20 {
        let writers: Vec<Child> = [0, 1]
            .iter()
            .map(|k| {
                let seed = (2 * trial + k).to_string();
                spawn(&args(
                    "encode",
                    &["--seed", &seed, "--code", s(&code), "--final", s(&fin)],
                ))
            })
            .collect();
        for w in writers {
            assert_ok(&w.wait_with_output().unwrap());
        }
        let bytes = std::fs::read(&code).unwrap();
        let (header, _) = rewind::codec::file::from_bytes(&bytes).unwrap();
        assert_eq!(
            header.final_model_sha256,
            final_sha(&fin),
            "trial {trial}: the code file and the final model come from different runs"
        );
        assert!(hidden(dir.path()).is_empty(), "{:?}", hidden(dir.path()));
    }
}

/// A run that takes far longer than the test waits: it is interrupted while writing.
fn long_verify(out: &Path) -> Child {
    spawn(
        &[
            "verify",
            "--data",
            "synthetic",
            "--synthetic-n",
            "20000",
            "--synthetic-features",
            "30",
            "--model",
            "logistic",
            "--batch",
            "2",
            "--epochs",
            "50",
            "--no-early-stop",
            "--out",
            s(out),
        ]
        .map(String::from),
    )
}

/// Waits until a hidden file (the temporary output) appears in `dir`.
fn wait_for_temporary(dir: &Path, child: &mut Child) {
    let start = Instant::now();
    while hidden(dir).iter().all(|n| !n.ends_with(".tmp")) {
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no temporary file"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on our own child's process id.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

#[test]
fn sigint_and_sigterm_mid_write_leave_the_old_file_and_nothing_beside_it() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("r.json");
    std::fs::write(&out, "old").unwrap();
    for (sig, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
        let mut child = long_verify(&out);
        wait_for_temporary(dir.path(), &mut child);
        signal(&child, sig);
        let done = child.wait_with_output().unwrap();
        assert_eq!(done.status.code(), Some(code), "signal {sig}");
        let err = String::from_utf8_lossy(&done.stderr);
        assert!(
            err.contains("interrupted") && err.contains("removed 1 temporary file"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "old");
        assert!(hidden(dir.path()).is_empty(), "{:?}", hidden(dir.path()));
    }
}

#[test]
fn the_leftovers_of_kill_9_are_removed_by_the_next_writer() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("r.json");
    let mut child = long_verify(&out);
    wait_for_temporary(dir.path(), &mut child);
    signal(&child, libc::SIGKILL);
    child.wait().unwrap();
    assert_eq!(
        hidden(dir.path()).len(),
        1,
        "kill -9 leaves its temporary file"
    );
    assert_ok(&rewind(
        &args("verify", &["--no-code", "--out", s(&out)])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    ));
    assert!(hidden(dir.path()).is_empty(), "{:?}", hidden(dir.path()));
}

#[test]
fn a_second_sweep_on_one_results_file_says_one_is_running() {
    let dir = TempDir::new().unwrap();
    let plan = dir.path().join("p.toml");
    std::fs::write(
        &plan,
        "name = \"long\"\n[axes]\ndata = [\"synthetic\"]\nmodel = [\"logistic\"]\nbatch = [2]\nseed = [0, 1, 2, 3]\nepochs = [40]\n[fixed]\nsynthetic_n = 20000\n",
    )
    .unwrap();
    let out = dir.path().join("r.jsonl");
    let sweep = |extra: &[&str]| {
        let mut v = vec!["sweep", s(&plan), "--out", s(&out), "--threads", "1"];
        v.extend_from_slice(extra);
        v.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let mut first = spawn(&sweep(&[]));
    let start = Instant::now();
    while !dir.path().join(".r.jsonl.partial.lock").exists() {
        assert!(
            first.try_wait().unwrap().is_none(),
            "the first sweep ended early"
        );
        assert!(start.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(10));
    }
    let second = rewind(
        &sweep(&["--resume"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_error(&second, &["another `rewind sweep` (process", "is writing"]);
    signal(&first, libc::SIGTERM);
    assert_eq!(first.wait().unwrap().code(), Some(143));
    assert!(!dir.path().join(".r.jsonl.partial.lock").exists());
}

/// A sealed code file with one header field replaced.
fn with_header_field(bytes: &[u8], field: &str, value: serde_json::Value) -> Vec<u8> {
    let len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[16..16 + len]).unwrap();
    header[field] = value;
    let json = serde_json::to_vec(&header).unwrap();
    let mut body = bytes[..12].to_vec();
    body.extend_from_slice(&(json.len() as u32).to_le_bytes());
    body.extend_from_slice(&json);
    body.extend_from_slice(&bytes[16 + len..bytes.len() - 32]);
    let sum = Sha256::digest(&body);
    body.extend_from_slice(&sum);
    body
}

#[test]
fn a_forged_iteration_cap_is_refused_or_decodes_no_run() {
    let dir = TempDir::new().unwrap();
    let (code, fin) = (dir.path().join("run.rwc"), dir.path().join("final.json"));
    assert_ok(&rewind(
        &args("encode", &["--code", s(&code), "--final", s(&fin)])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    ));
    let bytes = std::fs::read(&code).unwrap();
    let decode = |forged: &[u8]| {
        let f = dir.path().join("forged.rwc");
        std::fs::write(&f, forged).unwrap();
        let start = Instant::now();
        let out = rewind(&[
            "decode",
            s(&f),
            "--final",
            s(&fin),
            "--data",
            "synthetic",
            "--synthetic-n",
            "24",
        ]);
        assert!(start.elapsed() < Duration::from_secs(10));
        out
    };
    let huge = with_header_field(&bytes, "max_iterations", u32::MAX.into());
    assert_error(&decode(&huge), &["max_iterations = 4294967295", "1000000"]);
    // Within the cap, the fingerprint binds it: another cap is another run.
    let other = with_header_field(&bytes, "max_iterations", 10_001.into());
    assert_error(&decode(&other), &["fingerprint"]);
    assert_ok(&decode(&bytes));
}

#[test]
fn endless_inputs_and_plans_too_large_to_list_are_refused_up_front() {
    let start = Instant::now();
    let out = rewind(&["verify", "--data", "/dev/zero"]);
    assert_error(&out, &["/dev/zero", "more than 1 GiB"]);
    let dir = TempDir::new().unwrap();
    let plan = dir.path().join("p.toml");
    let seeds: Vec<String> = (0..10_000).map(|s| s.to_string()).collect();
    std::fs::write(
        &plan,
        format!(
            "name = \"huge\"\n[axes]\nseed = [{}]\nepochs = [{}]\n",
            seeds.join(","),
            seeds[1..].join(",")
        ),
    )
    .unwrap();
    let out = rewind(&["sweep", s(&plan), "--out", s(&dir.path().join("r.jsonl"))]);
    assert_error(&out, &["99990000 runs", "split it"]);
    assert!(start.elapsed() < Duration::from_secs(30));
    // --out is checked before any run.
    std::fs::write(
        &plan,
        "name = \"p\"\n[axes]\ndata = [\"synthetic\"]\nq = [\"0.5\", \"0.50\"]\n",
    )
    .unwrap();
    assert_error(
        &rewind(&["sweep", s(&plan), "--out", "r.jsonl"]),
        &["\"0.5\" and \"0.50\"", "the same number"],
    );
    std::fs::write(&plan, "name = \"p\"\n[axes]\ndata = [\"synthetic\"]\n").unwrap();
    let folder = dir.path().join("folder.jsonl");
    std::fs::create_dir(&folder).unwrap();
    let start = Instant::now();
    assert_error(
        &rewind(&["sweep", s(&plan), "--out", s(&folder)]),
        &["is a directory"],
    );
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_flag_that_does_not_apply_to_the_run_says_why() {
    let cases: [(&[&str], &[&str]); 4] = [
        (
            &["--hidden", "5"],
            &["--hidden does not apply", "--model least-squares has none"],
        ),
        (
            &["--epsilon", "0.2"],
            &["--epsilon does not apply", "--algorithm sgd-prime"],
        ),
        (
            &["--certify-budget", "10"],
            &["--certify-budget does not apply", "add --certify"],
        ),
        (
            &["--mpfr-precision", "200"],
            &["--mpfr-precision does not apply", "--backend f64"],
        ),
    ];
    for (extra, needles) in cases {
        let v = args("verify", extra);
        assert_error(
            &rewind(&v.iter().map(String::as_str).collect::<Vec<_>>()),
            needles,
        );
    }
}

#[test]
fn torn_and_empty_results_are_reported() {
    let dir = TempDir::new().unwrap();
    let plan = dir.path().join("p.toml");
    std::fs::write(
        &plan,
        "name = \"t\"\n[axes]\ndata = [\"synthetic\"]\nmodel = [\"least-squares\"]\nbatch = [4, 8, 100]\nepochs = [2]\n[phases]\ncode = false\n[fixed]\nsynthetic_n = 24\n",
    )
    .unwrap();
    let shard = |k: usize, n: usize| {
        let out = dir.path().join(format!("s{k}of{n}.jsonl"));
        let _ = rewind(&[
            "sweep",
            s(&plan),
            "--out",
            s(&out),
            "--shard",
            &format!("{k}/{n}"),
        ]);
        out
    };
    // Five shards of three runs: two are empty, and batch 100 of 24 examples fails.
    let shards: Vec<PathBuf> = (1..=5).map(|k| shard(k, 5)).collect();
    let empty = shards
        .iter()
        .filter(|p| std::fs::read(p).unwrap().is_empty())
        .count();
    assert_eq!(empty, 2);
    let all = dir.path().join("all.jsonl");
    let mut merge = vec!["sweep", "merge", "--out", s(&all)];
    merge.extend(shards.iter().map(|p| s(p)));
    let out = rewind(&merge);
    assert_ok(&out);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("merged 3 runs") && said.contains("1 of them failed"),
        "{said}"
    );
    // A torn last line: every reader says so.
    let mut text = std::fs::read_to_string(&all).unwrap();
    text.push_str("{\"format\": 2, \"id\": \"to");
    std::fs::write(&all, text).unwrap();
    for sub in ["claims", "figures"] {
        let figs = dir.path().join("figs");
        let out = rewind(&[sub, s(&all), "--out", s(&figs)][..if sub == "claims" { 2 } else { 4 }]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("is torn"), "{sub}: {err}");
    }
}

#[test]
fn untrusted_text_reaches_the_terminal_escaped() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("evil.csv");
    std::fs::write(&data, "a,b\u{1b}]0;owned\u{7},label\n1,2,x\n").unwrap();
    let out = rewind(&["verify", "--data", s(&data)]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains('\u{1b}') && !err.contains('\u{7}'), "{err:?}");
    let named = dir.path().join("x\u{1b}[2J.csv");
    let out = rewind(&["verify", "--data", s(&named)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && !err.contains('\u{1b}'), "{err:?}");
    assert!(err.contains("\\u{1b}"), "{err:?}");
    // A run that succeeds names its data in the summary on stdout: escaped there too.
    let ok = dir.path().join("fine\u{1b}]0;owned\u{7}.csv");
    let rows: String = (0..24)
        .map(|i| format!("{},{},{}\n", i % 5, i % 3, i % 2))
        .collect();
    std::fs::write(&ok, rows).unwrap();
    let out = rewind(&[
        "verify",
        "--data",
        s(&ok),
        "--model",
        "least-squares",
        "--no-code",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("fine\\u{1b}]0;owned\\u{7}.csv"), "{said}");
    assert!(
        !said.contains('\u{1b}') && !said.contains('\u{7}'),
        "{said:?}"
    );
}

#[test]
fn a_tiny_value_does_not_hang_figures() {
    let dir = TempDir::new().unwrap();
    let plan = dir.path().join("p.toml");
    std::fs::write(
        &plan,
        "name = \"t\"\n[axes]\ndata = [\"synthetic\"]\nmodel = [\"least-squares\"]\nbatch = [4, 8]\nepochs = [2]\n[fixed]\nsynthetic_n = 24\n",
    )
    .unwrap();
    let results = dir.path().join("r.jsonl");
    assert_ok(&rewind(&["sweep", s(&plan), "--out", s(&results)]));
    let mut text = String::new();
    for line in std::fs::read_to_string(&results).unwrap().lines() {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        for e in v["report"]["discrepancy"]["epochs"].as_array_mut().unwrap() {
            for k in [
                "rho_code",
                "rho_paper",
                "running_rho_code",
                "running_rho_paper",
            ] {
                e[k] = 1e-300.into();
            }
        }
        text.push_str(&format!("{v}\n"));
    }
    std::fs::write(&results, text).unwrap();
    let figs = dir.path().join("figs");
    let start = Instant::now();
    assert_ok(&rewind(&["figures", s(&results), "--out", s(&figs)]));
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_forged_backend_is_blamed_on_the_header_not_the_data() {
    let dir = TempDir::new().unwrap();
    let (code, fin) = (dir.path().join("run.rwc"), dir.path().join("final.json"));
    assert_ok(&rewind(&[
        "encode",
        "--data",
        "synthetic",
        "--synthetic-n",
        "24",
        "--model",
        "logistic",
        "--batch",
        "4",
        "--code",
        s(&code),
        "--final",
        s(&fin),
    ]));
    let forged = with_header_field(&std::fs::read(&code).unwrap(), "backend", "exact".into());
    std::fs::write(&code, forged).unwrap();
    let out = rewind(&[
        "decode",
        s(&code),
        "--final",
        s(&fin),
        "--data",
        "synthetic",
        "--synthetic-n",
        "24",
    ]);
    assert_error(&out, &["header field backend exact", "corrupted"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("data set") && !err.contains("--backend"),
        "{err}"
    );
}

#[test]
fn old_cases_give_clear_messages() {
    let synthetic = |classes: &str| {
        rewind(&[
            "verify",
            "--data",
            "synthetic",
            "--synthetic-classes",
            classes,
        ])
    };
    assert_error(&synthetic("0"), &["--synthetic-classes 0", "2 or more"]);
    assert_error(
        &synthetic("4000000000"),
        &["4000000000 classes", "--synthetic-classes"],
    );
    assert_error(&rewind(&["verify", "--data", ""]), &["--data is empty"]);
}

#[test]
fn claims_warn_about_each_absurd_value_they_drop() {
    let dir = TempDir::new().unwrap();
    let plan = dir.path().join("p.toml");
    std::fs::write(
        &plan,
        "name = \"t\"\n[axes]\ndata = [\"synthetic\"]\nmodel = [\"least-squares\"]\nbatch = [4, 8]\nepochs = [2]\n[fixed]\nsynthetic_n = 24\n",
    )
    .unwrap();
    let results = dir.path().join("r.jsonl");
    assert_ok(&rewind(&["sweep", s(&plan), "--out", s(&results)]));
    let mut text = String::new();
    for (i, line) in std::fs::read_to_string(&results)
        .unwrap()
        .lines()
        .enumerate()
    {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        let e = &mut v["report"]["discrepancy"]["epochs"][0];
        if i == 0 {
            e["rho_code"] = 1e308.into();
        } else {
            e["null_var_code"] = (-1.0).into();
        }
        text.push_str(&format!("{v}\n"));
    }
    std::fs::write(&results, text).unwrap();
    let out = rewind(&["claims", s(&results)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.matches("left out of the figures and the claims")
            .count(),
        2,
        "{err}"
    );
    assert!(
        err.contains("rho_code = 1e308") && err.contains("null_var_code = -1e0"),
        "{err}"
    );
}
