//! The README shows what the tool prints: its default-output block is the default summary
//! snapshot (`tests/snapshots/verify_default_summary.snap`, checked against the real binary by
//! `cli_runs::default_verify_summary`), line for line.

const README: &str = include_str!("../../../../README.md");
const SNAPSHOT: &str = include_str!("../snapshots/verify_default_summary.snap");

/// The first fenced block after `marker`.
fn block_after<'a>(text: &'a str, marker: &str) -> &'a str {
    let at = text.find(marker).expect("the README names the default run");
    let open = at + text[at..].find("```\n").expect("a fenced block follows") + 4;
    let close = open + text[open..].find("```").expect("the block is closed");
    &text[open..close]
}

/// The snapshot's value: everything after insta's `---` front matter.
fn snapshot_value(snap: &str) -> &str {
    let body = snap.trim_start_matches("---\n");
    let end = body.find("\n---\n").expect("insta front matter");
    &body[end + 5..]
}

#[test]
fn the_readme_default_output_is_the_default_summary_snapshot() {
    let shown = block_after(
        README,
        "The default run prints (`cargo run --release -- verify`):",
    );
    assert_eq!(shown.trim_end(), snapshot_value(SNAPSHOT).trim_end());
}
