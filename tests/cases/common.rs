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
