//! Bad input to the real `rewind` binary: every problem must end in one line on stderr that
//! names it, a non-zero exit code, and never a panic.

use super::common::rewind;
use rewind::data::idx::write_idx;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;
use tempfile::TempDir;

use super::common::assert_error;

/// A usage error from the argument parser: same contract, and exit code 2 like every clap
/// program, so scripts can tell "bad flags" from "bad data".
#[track_caller]
fn assert_usage_error(out: &Output, needles: &[&str]) {
    assert_error(out, needles);
    assert_eq!(out.status.code(), Some(2));
}

fn verify(args: &[&str]) -> Output {
    let mut all = vec!["verify"];
    all.extend_from_slice(args);
    rewind(&all)
}

fn verify_data(path: &Path) -> Output {
    verify(&["--data", path.to_str().expect("temp paths are UTF-8")])
}

fn write_file(dir: &TempDir, name: &str, content: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    path
}

#[test]
fn missing_data_file() {
    let out = verify(&["--data", "/nonexistent/x.csv"]);
    assert_error(&out, &["/nonexistent/x.csv", "does not exist"]);
}

#[test]
fn non_numeric_cell_after_a_good_row() {
    let dir = TempDir::new().unwrap();
    let path = write_file(&dir, "cells.csv", b"1,2,0\n3,x,1\n5,6,0\n");
    assert_error(
        &verify_data(&path),
        &["cells.csv", "line 2, column 2", "'x'", "not a number"],
    );
}

#[test]
fn random_binary_file() {
    // A fixed xorshift stream, so the test is reproducible; the first byte is forced to 0xfe
    // (never valid UTF-8, and neither the gzip nor an IDX magic) so that the file is taken
    // for a CSV and rejected as binary on its first line.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut bytes: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 56) as u8
        })
        .collect();
    bytes[0] = 0xfe;
    let dir = TempDir::new().unwrap();
    let path = write_file(&dir, "noise.bin", &bytes);
    assert_error(&verify_data(&path), &["noise.bin", "line 1", "UTF-8"]);
}

#[test]
fn truncated_gzip() {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for i in 0..200 {
        writeln!(enc, "{i},{},{}", i * 2, i % 2).unwrap();
    }
    let mut bytes = enc.finish().unwrap();
    bytes.truncate(bytes.len() / 2);
    let dir = TempDir::new().unwrap();
    let path = write_file(&dir, "cut.csv.gz", &bytes);
    assert_error(&verify_data(&path), &["cut.csv.gz", "gzip", "decompress"]);
}

#[test]
fn row_with_one_column_fewer() {
    let dir = TempDir::new().unwrap();
    let path = write_file(&dir, "ragged.csv", b"1,2,0\n3,1\n5,6,0\n");
    assert_error(
        &verify_data(&path),
        &["ragged.csv", "line 2", "2 columns", "3 were expected"],
    );
}

#[test]
fn negative_label() {
    let dir = TempDir::new().unwrap();
    let path = write_file(&dir, "neg.csv", b"1,2,0\n3,4,-1\n5,6,1\n");
    assert_error(&verify_data(&path), &["neg.csv", "line 2", "label '-1'"]);
}

#[test]
fn fractional_label() {
    let dir = TempDir::new().unwrap();
    let path = write_file(&dir, "frac.csv", b"1,2,0\n3,4,2.5\n5,6,1\n");
    assert_error(&verify_data(&path), &["frac.csv", "line 2", "label '2.5'"]);
}

#[test]
fn class_absent_from_the_data() {
    assert_error(
        &verify(&["--classes", "3,11"]),
        &["class 11", "does not occur"],
    );
}

#[test]
fn three_classes_for_a_binary_model() {
    assert_error(
        &verify(&["--classes", "0,1,2"]),
        &["logistic", "two classes", "--classes"],
    );
}

#[test]
fn batch_larger_than_the_data() {
    assert_error(&verify(&["--batch", "5000"]), &["--batch 5000", "357"]);
}

#[test]
fn alpha_above_the_certified_bound() {
    assert_error(&verify(&["--alpha", "64"]), &["L_B", "--alpha"]);
}

#[test]
fn step_size_not_dyadic() {
    assert_error(&verify(&["--alpha", "0.01"]), &["'0.01'", "dyadic"]);
}

#[test]
fn q_not_below_one() {
    assert_error(&verify(&["--q", "1.5"]), &["--q 1.5", "between 0 and 1"]);
}

#[test]
fn q_zero() {
    assert_error(&verify(&["--q", "0"]), &["--q 0", "between 0 and 1"]);
}

#[test]
fn first_step_overflows_the_grid() {
    // The MLP's L is an estimate, so a huge α is not refused up front; at p = 56 one unit is
    // 2^56 and the first increment exceeds i64.
    let out = verify(&[
        "--model",
        "mlp",
        "--frac-bits",
        "56",
        "--alpha",
        "1048576",
        "--classes",
        "0,1",
        "--epochs",
        "1",
    ]);
    assert_error(&out, &["overflow", "step increment"]);
}

#[test]
fn frac_bits_zero() {
    assert_error(
        &verify(&["--frac-bits", "0"]),
        &["--frac-bits 0", "out of range"],
    );
}

#[test]
fn frac_bits_above_the_maximum() {
    assert_error(
        &verify(&["--frac-bits", "57"]),
        &["--frac-bits 57", "out of range"],
    );
}

#[test]
fn exact_backend_with_a_non_polynomial_model() {
    assert_error(
        &verify(&["--backend", "exact", "--model", "logistic"]),
        &["--backend exact", "logistic"],
    );
}

#[test]
fn unknown_flag() {
    assert_usage_error(&verify(&["--bogus"]), &["--bogus"]);
}

#[test]
fn bad_enum_value() {
    assert_usage_error(&verify(&["--model", "foo"]), &["'foo'", "--model"]);
}

/// Three 2×2 images with their labels, under MNIST's names.
fn idx_pair(dir: &TempDir) -> (PathBuf, PathBuf) {
    let images = dir.path().join("train-images-idx3-ubyte");
    let labels = dir.path().join("train-labels-idx1-ubyte");
    let pixels = vec![vec![0, 10, 20, 30], vec![255, 0, 7, 9], vec![1, 2, 3, 4]];
    write_idx(&images, &labels, 2, 2, &pixels, &[0, 1, 0]).unwrap();
    (images, labels)
}

#[test]
fn idx_images_without_labels_file() {
    let dir = TempDir::new().unwrap();
    let (images, labels) = idx_pair(&dir);
    std::fs::remove_file(&labels).unwrap();
    assert_error(
        &verify_data(&images),
        &[
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte",
            "not found",
        ],
    );
}

#[test]
fn idx_pair_with_mismatched_counts() {
    let dir = TempDir::new().unwrap();
    let (images, labels) = idx_pair(&dir);
    // A valid two-label file put where the three images expect their labels.
    let other_images = dir.path().join("two-images-idx3-ubyte");
    let other_labels = dir.path().join("two-labels-idx1-ubyte");
    write_idx(
        &other_images,
        &other_labels,
        2,
        2,
        &[vec![0; 4], vec![1; 4]],
        &[0, 1],
    )
    .unwrap();
    std::fs::rename(&other_labels, &labels).unwrap();
    assert_error(
        &verify_data(&images),
        &["train-images-idx3-ubyte", "3 images", "2 labels"],
    );
}
