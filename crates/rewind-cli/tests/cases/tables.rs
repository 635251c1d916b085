//! What a user reads with a table tool: data files as pandas writes them, the per-step CSV and
//! the report's `side_information`.

use super::common::rewind;
use serde_json::Value;
use std::path::Path;
use tempfile::TempDir;

/// Forty rows of two features and a 0/1 label, the label a function of the features.
fn rows() -> Vec<(f64, f64, u32)> {
    (0..40)
        .map(|i| {
            let (a, b) = (((i * 7) % 11) as f64 / 4.0, ((i * 5) % 13) as f64 / 8.0);
            (a, b, u32::from(a > b + 0.5))
        })
        .collect()
}

/// The rows written as `DataFrame(...).to_csv(path)` writes them: a header whose first name is
/// empty, then the row index 0..n−1 before the columns, floats with a decimal point.
fn pandas_default(dir: &TempDir) -> std::path::PathBuf {
    let mut text = String::from(",f0,f1,label\n");
    for (i, (a, b, y)) in rows().iter().enumerate() {
        text += &format!("{i},{a:?},{b:?},{y}\n");
    }
    write(dir, "pandas.csv", &text)
}

fn write(dir: &TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn plain(dir: &TempDir) -> std::path::PathBuf {
    let text: String = rows()
        .iter()
        .map(|(a, b, y)| format!("{a},{b},{y}\n"))
        .collect();
    write(dir, "plain.csv", &text)
}

#[track_caller]
fn report(data: &Path, extra: &[&str]) -> (Value, String) {
    let mut args = vec![
        "verify",
        "--data",
        data.to_str().unwrap(),
        "--batch",
        "4",
        "--epochs",
        "2",
        "--no-code",
        "--json",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let out = rewind(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    (serde_json::from_slice(&out.stdout).unwrap(), stderr)
}

fn final_model(v: &Value) -> &str {
    v["run"]["final_model_sha256"].as_str().unwrap()
}

#[test]
fn a_pandas_default_to_csv_file_is_read_unchanged() {
    let dir = TempDir::new().unwrap();
    let (from_pandas, stderr) = report(&pandas_default(&dir), &[]);
    let (from_plain, _) = report(&plain(&dir), &[]);
    assert_eq!(final_model(&from_pandas), final_model(&from_plain));
    assert_eq!(
        from_pandas["config"]["features"],
        from_plain["config"]["features"]
    );
    assert!(!stderr.contains("counts the rows"), "{stderr}");
}

#[test]
fn an_index_column_left_without_its_header_is_warned_about() {
    let dir = TempDir::new().unwrap();
    let text = std::fs::read_to_string(pandas_default(&dir)).unwrap();
    let headless = write(&dir, "headless.csv", text.split_once('\n').unwrap().1);
    let (v, stderr) = report(&headless, &[]);
    assert!(
        stderr.contains("feature column 1") && stderr.contains("counts the rows"),
        "{stderr}"
    );
    let warnings = v["warnings"].to_string();
    assert!(warnings.contains("counts the rows"), "{warnings}");
}

#[test]
fn the_label_column_is_chosen_by_name_or_by_index() {
    let dir = TempDir::new().unwrap();
    let mut text = String::from("label,f0,f1\n");
    for (a, b, y) in rows() {
        text += &format!("{y},{a},{b}\n");
    }
    let first = write(&dir, "label_first.csv", &text);
    let (expected, _) = report(&plain(&dir), &[]);
    for chosen in ["label", "0"] {
        let (v, _) = report(&first, &["--label-column", chosen]);
        assert_eq!(
            final_model(&v),
            final_model(&expected),
            "--label-column {chosen}"
        );
    }
    let out = rewind(&[
        "verify",
        "--data",
        first.to_str().unwrap(),
        "--label-column",
        "digit",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no column named 'digit'"), "{stderr}");
}

#[test]
fn the_steps_csv_has_a_row_per_step_that_agrees_with_the_report() {
    let dir = TempDir::new().unwrap();
    let steps = dir.path().join("steps.csv");
    let (v, _) = report(
        &plain(&dir),
        &["--certify", "--steps-csv", steps.to_str().unwrap()],
    );
    let text = std::fs::read_to_string(&steps).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len() as u64, v["steps"].as_u64().unwrap());
    assert!(rows.iter().all(|r| r.len() == header.len()));
    let col = |name: &str| header.iter().position(|c| *c == name).unwrap();
    let count =
        |name: &str, value: &str| rows.iter().filter(|r| r[col(name)] == value).count() as u64;
    assert_eq!(
        count("outcome", "recovered"),
        v["inversion"]["recovered"].as_u64().unwrap()
    );
    assert_eq!(
        count("certificate", "unique"),
        v["certification"]["unique"].as_u64().unwrap()
    );
    let hint_bits: u64 = rows
        .iter()
        .map(|r| r[col("hint_bits")].parse::<u64>().unwrap())
        .sum();
    assert!(hint_bits <= v["hints"]["bits"].as_u64().unwrap());
    let shares: Vec<f64> = rows
        .iter()
        .map(|r| r[col("predicted_one_minus_det")].parse().unwrap())
        .collect();
    let mean = shares.iter().sum::<f64>() / shares.len() as f64;
    let reported = v["inversion"]["predicted_many_to_one"].as_f64().unwrap();
    assert!(
        (mean - reported).abs() < 1e-6 * reported.max(1e-3),
        "{mean} vs {reported}"
    );
    // The fit score is not computed per step: null, not 0.
    assert!(rows.iter().all(|r| r[col("fit_score")].is_empty()));
}

#[test]
fn side_information_compares_the_hints_with_storing_the_first_model() {
    let dir = TempDir::new().unwrap();
    let (v, _) = report(&plain(&dir), &[]);
    let s = &v["side_information"];
    assert_eq!(s["hint_bits"], v["hints"]["bits"]);
    let d = v["config"]["d"].as_u64().unwrap();
    assert_eq!(s["first_model_bits"].as_u64().unwrap(), 64 * d);
    let ratio = s["hint_bits"].as_f64().unwrap() / (64 * d) as f64;
    assert!((s["ratio"].as_f64().unwrap() - ratio).abs() < 1e-12);
}
