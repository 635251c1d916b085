//! Peak memory of a verification against its length: the run streamed as `rewind verify` runs
//! it (docs/design.md §7.5), beside the same run with every step kept.
//!
//! Each point runs in a child process of this bench (the same executable, told what to run by
//! environment variables), which reports its own peak resident set (`VmHWM` in
//! /proc/self/status), so that one point's peak does not hide the next one's. The default is
//! the MLP of width 10 on `fixtures/mnist_5k.csv.gz`, b = 50, α = 41943/2^22, no early stop
//! and no code, at 1, 2, 4 and 8 epochs. `REWIND_MEMORY_DATA` names another data file (e.g.
//! Debian's Fashion-MNIST, `/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz`) and
//! `REWIND_MEMORY_EPOCHS` other epoch counts (`1,3,10`); `REWIND_MEMORY_KEPT=0` skips the
//! kept runs. Run with `cargo bench --bench memory` from the repository's root.

mod common;

use common::cpu_seconds;
use rewind::config::{DataSource, ModelKind, Setup, StepSize, VerifyConfig};
use rewind::progress::NoProgress;
use rewind::sgd::{BackendChoice, NoObserver};
use rewind::verify::{verify_run, verify_streamed};
use std::process::Command;
use std::time::Instant;

const DATA: &str = "fixtures/mnist_5k.csv.gz";

fn config(data: &str, epochs: usize) -> VerifyConfig {
    VerifyConfig {
        data: DataSource::from_arg(data, Default::default()),
        model: ModelKind::Mlp,
        hidden: 10,
        backend: BackendChoice::F64,
        step_size: StepSize::Alpha("41943/2^22".parse().expect("a dyadic α")),
        batch: 50,
        epochs,
        stop_at_full_accuracy: false,
        code: false,
        ..VerifyConfig::default()
    }
}

/// The peak resident set of this process so far, in kB.
fn peak_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One point, in this process: prints "peak_kb cpu_s wall_s steps".
fn child(data: &str, epochs: usize, kept: bool) {
    let setup = Setup::new(&config(data, epochs)).expect("the bench's setup");
    let (cpu, start) = (cpu_seconds().unwrap_or(f64::NAN), Instant::now());
    let report = if kept {
        verify_run(&setup, &mut NoObserver, &NoProgress).map(|r| r.report)
    } else {
        verify_streamed(&setup, &mut NoObserver, &NoProgress, None)
    }
    .expect("the bench's run");
    assert!(report
        .reconstruction
        .is_some_and(|r| r.all_models_bit_exact));
    println!(
        "{} {:.1} {:.1} {}",
        peak_kb().unwrap_or(0),
        cpu_seconds().unwrap_or(f64::NAN) - cpu,
        start.elapsed().as_secs_f64(),
        report.steps
    );
}

fn main() {
    // cargo runs a bench from its package's folder; the data paths are the repository's.
    common::at_repository_root();
    let data = std::env::var("REWIND_MEMORY_DATA").unwrap_or_else(|_| DATA.into());
    if let Ok(point) = std::env::var("REWIND_MEMORY_CHILD") {
        let (epochs, kept) = point.split_once(',').expect("epochs,kept");
        child(&data, epochs.parse().expect("epochs"), kept == "kept");
        return;
    }
    if !std::path::Path::new(&data).exists() {
        println!("{data} is not there; set REWIND_MEMORY_DATA to a data file (absolute, or relative to the repository's root)");
        return;
    }
    let epochs: Vec<usize> = std::env::var("REWIND_MEMORY_EPOCHS")
        .unwrap_or_else(|_| "1,2,4,8".into())
        .split(',')
        .map(|e| {
            e.trim()
                .parse()
                .expect("REWIND_MEMORY_EPOCHS: epoch counts, e.g. 1,2,4,8")
        })
        .collect();
    let kinds: &[&str] = if std::env::var("REWIND_MEMORY_KEPT").as_deref() == Ok("0") {
        &["streamed"]
    } else {
        &["streamed", "kept"]
    };
    println!("{data}: MLP width 10, b = 50, α = 41943/2^22, no early stop, no code");
    println!("| run | epochs | steps | peak RSS (MB) | CPU (s) | wall (s) |");
    println!("|---|---|---|---|---|---|");
    let exe = std::env::current_exe().expect("the bench's own path");
    for kind in kinds {
        for e in &epochs {
            let out = Command::new(&exe)
                .env("REWIND_MEMORY_CHILD", format!("{e},{kind}"))
                .env("REWIND_MEMORY_DATA", &data)
                .output()
                .expect("the bench's child");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let line = String::from_utf8_lossy(&out.stdout);
            let f: Vec<&str> = line.split_whitespace().collect();
            let mb = f[0].parse::<f64>().unwrap_or(f64::NAN) / 1024.0;
            println!(
                "| {kind} | {e} | {} | {mb:.1} | {} | {} |",
                f[3], f[1], f[2]
            );
        }
    }
}
