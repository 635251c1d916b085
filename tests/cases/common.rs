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
/// the step is w ↦ w − round(q·w) with q = α (the DESIGN's one-dimensional example).
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
