//! The code's references to the design document resolve: every section number cited after
//! "docs/design.md" in the sources, tests, benches, examples and README names a numbered heading
//! of docs/design.md, and nothing points at notes outside the repository.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The repository's root (this test lives in `crates/rewind-cli`).
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// Every file under `dir` (recursively) whose extension is one of `exts`.
fn files(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, exts, out);
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| exts.contains(&e))
        {
            out.push(path);
        }
    }
}

/// The files that may cite the design document.
fn citing_files() -> Vec<PathBuf> {
    let root = Path::new(ROOT);
    let mut out = vec![root.join("README.md")];
    for dir in ["crates", "examples"] {
        files(
            &root.join(dir),
            &["rs", "md", "sh", "yaml", "toml"],
            &mut out,
        );
    }
    out
}

/// How a citation starts; built from pieces so that this file does not cite anything itself.
fn marker() -> String {
    ["design.md", " §"].concat()
}

/// The section numbers cited after [`marker`] in `text` (a trailing full stop is not part of
/// the number).
fn cited_sections(text: &str) -> Vec<String> {
    let marker = marker();
    text.match_indices(marker.as_str())
        .map(|(at, _)| {
            let rest = &text[at + marker.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            rest[..end].trim_end_matches('.').to_string()
        })
        .collect()
}

/// The numbers of the headings "## n. Title" and "### n.m Title" of a Markdown document.
fn heading_numbers(doc: &str) -> BTreeSet<String> {
    doc.lines()
        .filter_map(|line| {
            let title = line.trim_start_matches('#');
            if title.len() == line.len() || !title.starts_with(' ') {
                return None;
            }
            let number = title.split_whitespace().next()?;
            let number = number.trim_end_matches('.');
            let numeric = !number.is_empty()
                && number
                    .split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            numeric.then(|| number.to_string())
        })
        .collect()
}

#[test]
fn heading_numbers_and_citations_are_parsed() {
    let doc = "# Title\n## 2. Exact\n### 2.1 The grid\n#### not numbered\n##3. no space\n";
    assert_eq!(
        heading_numbers(doc),
        ["2", "2.1"].iter().map(|s| s.to_string()).collect()
    );
    let m = marker();
    let text = format!("see docs/{m}2.1. and docs/{m}3, and {m}12) but not design.md 4");
    assert_eq!(cited_sections(&text), vec!["2.1", "3", "12"]);
}

#[test]
fn every_design_reference_names_a_section_of_the_design_document() {
    let doc = std::fs::read_to_string(Path::new(ROOT).join("docs/design.md"))
        .expect("docs/design.md exists");
    let sections = heading_numbers(&doc);
    let mut cited = 0;
    let mut broken = Vec::new();
    for path in citing_files() {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for n in cited_sections(&text) {
            cited += 1;
            if !sections.contains(&n) {
                broken.push(format!("{}: §{n}", path.display()));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "references to missing sections: {broken:?}"
    );
    // The source cites the document in many places; none found means the scan is broken.
    assert!(cited >= 10, "only {cited} references found");
}

#[test]
fn no_file_points_at_notes_outside_the_repository() {
    // Built from pieces so that this file does not match itself.
    let forbidden = [["DESIGN", " §"].concat(), ["..", "/shared"].concat()];
    let mut hits = Vec::new();
    for path in citing_files() {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for f in &forbidden {
            if text.contains(f.as_str()) {
                hits.push(format!("{}: {f}", path.display()));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "references outside the repository: {hits:?}"
    );
}
