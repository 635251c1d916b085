//! Helpers shared by the integration tests.

use std::process::{Command, Output};

/// Runs the real `rewind` binary with `args`.
pub fn rewind(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rewind"))
        .args(args)
        .output()
        .expect("the rewind binary runs")
}

/// Snapshot settings that keep every snapshot under `tests/snapshots/`.
pub fn snapshots() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s
}

/// Property-test settings: a fixed seed, so that CI runs the same cases every time, and no
/// regression files written into the source tree.
pub fn proptest_config(cases: u32) -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x5EED_2026),
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    }
}

/// One weight, two examples x = 1 with y = +1 and y = −1: the batch gradient is exactly w, so
/// the step is w ↦ w − round(q·w) with q = α (docs/design.md §3.2).
pub fn one_dimensional(frac_bits: u32) -> rewind::data::Dataset {
    let grid = rewind::grid::Grid::new(frac_bits).unwrap();
    rewind::data::Dataset {
        grid,
        features: vec![vec![grid.one()], vec![grid.one()]],
        labels: vec![1, 0],
        classes: 2,
        class_names: vec![0, 1],
        scale_log2: 0,
        has_bias: false,
        source: "one-dimensional example".into(),
    }
}

/// MLP widths 2 and 3, batches 4 and 8, true and random labels, only the forward run: the
/// data of Figures 2–5.
pub const TINY_MLP_PLAN: &str = r#"
name = "figures-mlp"
[axes]
data = ["synthetic"]
model = ["mlp"]
hidden = [2, 3]
batch = [4, 8]
epochs = [3]
random_labels = [false, true]
[phases]
inversion = false
code = false
[fixed]
synthetic_n = 32
"#;

/// Exit code of a Rust process that panicked.
pub const PANIC_EXIT: i32 = 101;

/// Checks the error contract and that the message is the expected one: `needles` are words
/// specific to the problem, so that a different error (say, the file loaded but a later
/// check failed) does not pass.
#[track_caller]
pub fn assert_error(out: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // `code()` is None when a signal killed the process, which is no better than a panic.
    let code = out.status.code();
    assert!(
        matches!(code, Some(c) if c != 0 && c != PANIC_EXIT),
        "exit code {code:?}; stderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    let message = stderr.strip_suffix('\n').unwrap_or(&stderr);
    assert!(!message.trim().is_empty(), "empty stderr");
    assert!(
        !message.contains('\n') && !message.contains('\r'),
        "stderr is not one line: {stderr:?}"
    );
    // A failed run must not leave half a report on stdout for a pipeline to consume.
    assert!(stdout.is_empty(), "stdout: {stdout}");
    for needle in needles {
        assert!(
            message.contains(needle),
            "stderr lacks {needle:?}: {message}"
        );
    }
}

/// A property-test strategy over the (model, backend) pairs this build can run: MPFR pairs
/// take part only with the `mpfr` feature, which CI runs too.
pub fn available(
    pairs: Vec<(rewind::config::ModelKind, rewind::sgd::BackendChoice)>,
) -> proptest::sample::Select<(rewind::config::ModelKind, rewind::sgd::BackendChoice)> {
    proptest::sample::select(
        pairs
            .into_iter()
            .filter(|(_, b)| b.is_available())
            .collect::<Vec<_>>(),
    )
}
