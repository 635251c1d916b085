//! `rewind figures`: every figure drawn from a tiny sweep made here, checked for well-formed
//! SVG that names its series, with a CSV table beside it holding the numbers the reports give;
//! figures without data are skipped and said so; bad input is a one-line error.

use super::common::rewind;
use rewind::figures::{draw, CODE_LENGTH, FIG2, FIG3, FIG4, FIG5, GD_STEPS, MANY_TO_ONE};
use rewind::selection::Rho;
use rewind::sweep::{run_one, to_jsonl, Plan, ResultLine};
use std::path::Path;
use std::sync::OnceLock;
use tempfile::TempDir;

/// Logistic runs with inversion and the code: the data of the code-length and many-to-one
/// figures.
const LOGISTIC_PLAN: &str = r#"
name = "figures-logistic"
[axes]
data = ["synthetic"]
model = ["logistic"]
batch = [4, 8]
q = ["0.2"]
frac_bits = [16]
epochs = [2]
[phases]
inversion = true
code = true
[fixed]
synthetic_n = 32
synthetic_features = 3
early_stop = false
"#;

fn sweep(plan: &str) -> Vec<ResultLine> {
    let plan = Plan::parse(plan, "test plan").unwrap();
    let lines: Vec<ResultLine> = plan.runs().iter().map(|s| run_one(&plan, s)).collect();
    assert!(
        lines.iter().all(|l| l.report.is_some()),
        "a run failed: {lines:?}"
    );
    lines
}

/// Both sweeps, run once for the whole module.
fn results() -> &'static (Vec<ResultLine>, Vec<ResultLine>) {
    static R: OnceLock<(Vec<ResultLine>, Vec<ResultLine>)> = OnceLock::new();
    R.get_or_init(|| (sweep(super::common::TINY_MLP_PLAN), sweep(LOGISTIC_PLAN)))
}

fn write_results(dir: &TempDir, name: &str, lines: &[ResultLine]) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, to_jsonl(lines)).unwrap();
    path.to_str().expect("temp paths are UTF-8").to_string()
}

/// A small XML well-formedness check: the document is one `<svg>` element, and every tag
/// opened is closed in order (plotters escapes `<` in text, so a bare `<` starts a tag).
#[track_caller]
fn assert_well_formed(svg: &str, file: &str) {
    let body = svg.trim();
    assert!(body.starts_with("<svg"), "{file} does not start with <svg");
    assert!(body.ends_with("</svg>"), "{file} does not end with </svg>");
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = body;
    let mut roots = 0;
    while let Some(start) = rest.find('<') {
        let end = rest[start..]
            .find('>')
            .unwrap_or_else(|| panic!("{file}: unterminated tag"))
            + start;
        let tag = &rest[start + 1..end];
        assert!(!tag.contains('<'), "{file}: '<' inside a tag: {tag}");
        assert_eq!(
            tag.matches('"').count() % 2,
            0,
            "{file}: unbalanced quotes in <{tag}>"
        );
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack
                .pop()
                .unwrap_or_else(|| panic!("{file}: </{name}> closes nothing"));
            assert_eq!(open, name.trim(), "{file}: <{open}> closed by </{name}>");
        } else if !tag.starts_with('?') && !tag.starts_with('!') {
            let name = tag
                .split(|c: char| c.is_whitespace() || c == '/')
                .next()
                .unwrap_or("");
            if stack.is_empty() {
                roots += 1;
            }
            if !tag.ends_with('/') {
                stack.push(name);
            }
        }
        rest = &rest[end + 1..];
    }
    assert!(stack.is_empty(), "{file}: unclosed tags {stack:?}");
    assert_eq!(roots, 1, "{file}: {roots} root elements");
    assert!(body.matches("<text").count() > 3, "{file}: no labels");
}

#[track_caller]
fn assert_names(svg: &str, file: &str, needles: &[&str]) {
    for n in needles {
        assert!(svg.contains(n), "{file} does not name {n:?}");
    }
}

/// What each figure must name: its series (legends) and what its axes show.
fn expected(file: &str) -> &'static [&'static str] {
    match file {
        FIG2 => &[
            "width 2",
            "width 3",
            "b = 4",
            "b = 8",
            "accuracy",
            "epoch",
            "true labels",
        ],
        FIG3 => &["width 2", "width 3", "b = 4", "b = 8", "random labels"],
        FIG4 => &[
            "width 2",
            "width 3",
            "b = 4",
            "b = 8",
            "β(n,b)",
            "true labels",
        ],
        FIG5 => &["width 2", "width 3", "random labels", "epoch t"],
        CODE_LENGTH => &["⌈log₂ n!⌉ = ", "b = 4", "b = 8", "bits"],
        MANY_TO_ONE => &["y = x", "logistic (2 runs)", "1 − det(I − αH_B)"],
        _ => &[],
    }
}

#[test]
fn the_library_draws_all_six_figures_from_a_tiny_sweep() {
    let (mlp, logistic) = results();
    let all: Vec<ResultLine> = mlp.iter().chain(logistic).cloned().collect();
    let figures = draw(&all, Rho::Code, "test").unwrap();
    assert!(figures.skipped.is_empty(), "{:?}", figures.skipped);
    let files: Vec<&str> = figures.drawn.iter().map(|f| f.file).collect();
    assert_eq!(files, [FIG2, FIG3, FIG4, FIG5, CODE_LENGTH, MANY_TO_ONE]);
    for f in &figures.drawn {
        assert_well_formed(&f.svg, f.file);
        assert_names(&f.svg, f.file, expected(f.file));
    }
    // The chosen direction of ρ is the one named on the axes.
    let paper = draw(mlp, Rho::Paper, "test").unwrap();
    assert!(paper.drawn[0].svg.contains("ρ_paper"));
    assert!(!paper.drawn[0].svg.contains("ρ_code"));
}

#[test]
fn the_command_writes_every_figure_into_a_new_directory() {
    let (mlp, logistic) = results();
    let all: Vec<ResultLine> = mlp.iter().chain(logistic).cloned().collect();
    let dir = TempDir::new().unwrap();
    let results = write_results(&dir, "results.jsonl", &all);
    let out = dir.path().join("new/figs");
    let run = rewind(&["figures", &results, "--out", out.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    for file in [FIG2, FIG3, FIG4, FIG5, CODE_LENGTH, MANY_TO_ONE] {
        let path = out.join(file);
        assert!(
            stdout.contains(&format!("wrote {}", path.display())),
            "{stdout}"
        );
        let svg = std::fs::read_to_string(&path).unwrap();
        assert_well_formed(&svg, file);
        assert_names(&svg, file, expected(file));
        let table = path.with_extension("csv");
        assert!(
            stdout.contains(&format!("wrote {}", table.display())),
            "{stdout}"
        );
        assert!(table.exists(), "{}", table.display());
    }
}

/// A table written by the command, checked for its header and seven fields a row; the rows
/// without the header.
fn read_table(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut rows = text.lines().map(rewind::figures::table_fields);
    assert_eq!(
        rows.next().unwrap(),
        ["panel", "series", "style", "x", "y", "y_low", "y_high"]
    );
    let rows: Vec<Vec<String>> = rows.collect();
    assert!(rows.iter().all(|r| r.len() == 7), "{text}");
    rows
}

/// The (x, y) of one series of one panel, as bit patterns so that the values compare exactly.
fn points_of(rows: &[Vec<String>], panel: &str, series: &str) -> Vec<(u64, u64)> {
    let mut v: Vec<(u64, u64)> = rows
        .iter()
        .filter(|r| r[0] == panel && r[1] == series)
        .map(|r| {
            let x: f64 = r[3].parse().unwrap();
            let y: f64 = r[4].parse().unwrap();
            (x.to_bits(), y.to_bits())
        })
        .collect();
    v.sort_unstable();
    v
}

fn bits(v: impl Iterator<Item = (f64, f64)>) -> Vec<(u64, u64)> {
    let mut v: Vec<(u64, u64)> = v.map(|(x, y)| (x.to_bits(), y.to_bits())).collect();
    v.sort_unstable();
    v
}

/// The tables hold exactly what the reports give: the accuracy per epoch of one run, the
/// predicted and observed shares of every logistic run, one row per point.
#[test]
fn each_figure_has_a_table_of_the_numbers_it_plots() {
    let (mlp, logistic) = results();
    // Each sweep alone, so that panels and series have their short names.
    let dir = TempDir::new().unwrap();
    let figures_of = |name: &str, lines: &[ResultLine]| {
        let results = write_results(&dir, &format!("{name}.jsonl"), lines);
        let out = dir.path().join(name);
        let run = rewind(&["figures", &results, "--out", out.to_str().unwrap()]);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        out
    };

    let fig2 = read_table(&figures_of("mlp", mlp).join("fig2-true-labels.csv"));
    let run_of = |hidden: usize, batch: usize| {
        mlp.iter()
            .find(|l| !l.spec.random_labels && l.spec.hidden == hidden && l.spec.batch == batch)
            .and_then(|l| l.report.as_ref())
            .unwrap()
    };
    let accuracy = |r: &rewind::report::VerifyReport| {
        bits(
            r.discrepancy
                .epochs
                .iter()
                .map(|e| (e.epoch as f64, e.accuracy)),
        )
    };
    assert_eq!(
        points_of(&fig2, "b = 4: accuracy", "width 2"),
        accuracy(run_of(2, 4))
    );
    assert_eq!(
        points_of(&fig2, "b = 8: accuracy", "width 3"),
        accuracy(run_of(3, 8))
    );
    // The accuracy panels: one row per epoch of every true-label run, and nothing else.
    let epochs: usize = mlp
        .iter()
        .filter(|l| !l.spec.random_labels)
        .map(|l| l.report.as_ref().unwrap().discrepancy.epochs.len())
        .sum();
    let accuracy_rows = fig2.iter().filter(|r| r[0].ends_with(": accuracy")).count();
    assert_eq!(accuracy_rows, epochs);
    // The null's band: one row per epoch with both edges and no y.
    let band: Vec<&Vec<String>> = fig2.iter().filter(|r| r[2] == "band").collect();
    assert!(!band.is_empty());
    assert!(band
        .iter()
        .all(|r| r[4].is_empty() && r[5].parse::<f64>().unwrap() <= r[6].parse::<f64>().unwrap()));

    let shares = read_table(&figures_of("logistic", logistic).join("many-to-one.csv"));
    let panel = "Many-to-one steps: observed against predicted, one point per run";
    let expected = bits(logistic.iter().map(|l| {
        let inv = l.report.as_ref().unwrap().inversion.as_ref().unwrap();
        (inv.predicted_many_to_one.unwrap(), inv.observed_many_to_one)
    }));
    assert_eq!(points_of(&shares, panel, "logistic (2 runs)"), expected);
    // The two runs and the diagonal's two ends.
    assert_eq!(shares.len(), 4);
}

#[test]
fn figures_without_data_are_skipped_and_said_so() {
    let (mlp, _) = results();
    // Only true labels, no inversion, no code; plus an error line, which is counted.
    let mut lines: Vec<ResultLine> = mlp
        .iter()
        .filter(|l| !l.spec.random_labels)
        .cloned()
        .collect();
    let mut failed = lines[0].clone();
    failed.report = None;
    failed.error = Some("setup failed".into());
    lines.push(failed);
    let dir = TempDir::new().unwrap();
    let results = write_results(&dir, "r.jsonl", &lines);
    let out = dir.path().join("figs");
    let run = rewind(&["figures", &results, "--out", out.to_str().unwrap()]);
    assert!(run.status.success());
    let stdout = String::from_utf8_lossy(&run.stdout);
    for skipped in [FIG3, FIG5, CODE_LENGTH, MANY_TO_ONE] {
        assert!(stdout.contains(&format!("skipped {skipped}: ")), "{stdout}");
        assert!(!out.join(skipped).exists());
    }
    assert!(stdout.contains("skipped 1 error lines"), "{stdout}");
    for drawn in [FIG2, FIG4] {
        assert!(out.join(drawn).exists(), "{stdout}");
    }
}

#[track_caller]
fn assert_one_line_error(out: &std::process::Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code();
    assert!(
        matches!(code, Some(c) if c != 0 && c != 101),
        "exit code {code:?}; stderr: {stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "stderr: {stderr}");
    assert!(stderr.contains(needle), "stderr: {stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_results_files_are_one_line_errors() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("figs");
    let out = out.to_str().unwrap();
    assert_one_line_error(
        &rewind(&["figures", "/nonexistent/results.jsonl", "--out", out]),
        "/nonexistent/results.jsonl",
    );
    let garbage = dir.path().join("garbage.jsonl");
    std::fs::write(&garbage, "not json\n{\"format\": 1}\n").unwrap();
    assert_one_line_error(
        &rewind(&["figures", garbage.to_str().unwrap(), "--out", out]),
        "line 1",
    );
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    assert_one_line_error(
        &rewind(&["figures", empty.to_str().unwrap(), "--out", out]),
        "no result lines",
    );
    assert!(!Path::new(out).exists(), "nothing written on error");
}

/// Section 4's figure: drawn from SGD′ runs only, one curve per model size against ℓ·m with its
/// band; the SGD figures read the SGD runs only, and say so when there are none.
#[test]
fn the_section_4_figure_is_drawn_from_sgd_prime_runs() {
    let lines = super::section4::mixed_lines();
    let figures = draw(lines, Rho::Code, "test").unwrap();
    let files: Vec<&str> = figures.drawn.iter().map(|f| f.file).collect();
    assert!(files.contains(&GD_STEPS), "{files:?}");
    let svg = &figures
        .drawn
        .iter()
        .find(|f| f.file == GD_STEPS)
        .unwrap()
        .svg;
    assert_well_formed(svg, GD_STEPS);
    assert_names(
        svg,
        GD_STEPS,
        &["d = 4", "b = 4", "ℓ·m", "95% t interval", "12 SGD′ runs"],
    );
    let prime: Vec<ResultLine> = lines
        .iter()
        .filter(|l| l.spec.sgd_prime.is_some())
        .cloned()
        .collect();
    let only = draw(&prime, Rho::Code, "test").unwrap();
    assert_eq!(only.drawn.len(), 1);
    assert!(only.skipped.iter().all(|s| s
        .reason
        .contains("SGD′ runs are drawn in gd-steps.svg only")));
    // Plain SGD results have no Section 4 figure, drawn or skipped.
    let (mlp, _) = results();
    let plain = draw(mlp, Rho::Code, "test").unwrap();
    assert!(plain.drawn.iter().all(|f| f.file != GD_STEPS));
    assert!(plain.skipped.iter().all(|s| s.file != GD_STEPS));
}
