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
