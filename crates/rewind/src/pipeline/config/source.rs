//! The data of a run: the bundled digits, loading a [`DataSource`], the classes kept and the
//! warnings about what quantisation to the grid loses.

use super::memory::check_memory;
use super::{DataSource, VerifyConfig};
use crate::data::{self, Dataset, RawData};
use crate::Error;
use std::path::PathBuf;

/// The UCI optical digits, bundled so that the default run needs no file.
pub const DIGITS_CSV_GZ: &[u8] = include_bytes!("../../../../../fixtures/digits.csv.gz");

/// Refuses a data source that cannot be loaded: synthetic data without classes or too large
/// for memory, or an empty path.
pub(super) fn check_source(source: &DataSource) -> Result<(), Error> {
    if let DataSource::Synthetic {
        n,
        features,
        classes,
    } = *source
    {
        if classes == 0 {
            return Err(Error::Config(
                "--synthetic-classes 0 gives the examples no class to have; use 2 or more".into(),
            ));
        }
        // Each value is held as an f64 and then as an i64; the teacher holds one weight
        // vector per class.
        let need = (n as u64)
            .checked_mul(features as u64 + 1)
            .and_then(|v| v.checked_add(u64::from(classes).checked_mul(features as u64 + 1)?))
            .and_then(|v| v.checked_mul(16));
        check_memory(
            need,
            &format!(
                "--data synthetic with {n} examples of {features} features in {classes} classes"
            ),
            "use a smaller --synthetic-n, --synthetic-features or --synthetic-classes",
        )?;
    }
    if *source == DataSource::Path(PathBuf::new()) {
        return Err(Error::Config(
            "--data is empty; give digits, synthetic or the path of a CSV or IDX file".into(),
        ));
    }
    Ok(())
}

/// The classes to keep: `--classes`, or 3 and 8 for a binary model on the bundled digits;
/// a binary model (named by `binary`) needs exactly two.
pub(super) fn selected_classes(
    config: &VerifyConfig,
    binary: Option<&str>,
) -> Result<Option<Vec<u32>>, Error> {
    Ok(match (&config.classes, binary) {
        (Some(c), Some(name)) if c.len() != 2 => {
            return Err(Error::Config(format!(
                "--model {name} needs exactly two classes, got --classes with {}; pass two, e.g. --classes 3,8",
                c.len()
            )))
        }
        (Some(c), _) => Some(c.clone()),
        (None, Some(_)) if config.data == DataSource::Digits => Some(vec![3, 8]),
        (None, _) => None,
    })
}

/// The warnings about the prepared data: feature values that quantisation turns into zero,
/// and a column that looks like the row index pandas writes.
pub(super) fn data_warnings(raw: &RawData, data: &Dataset) -> Vec<String> {
    let mut warnings = quantisation_warnings(raw, data);
    warnings.extend(data::index_like_column(raw).map(|j| format!(
        "feature column {} of {} counts the rows (0, 1, 2, …) like the row index pandas writes, and is read as a feature; drop it, or keep the file's header line (pandas' empty first name marks its index, which is then skipped)",
        j + 1,
        raw.source
    )));
    warnings
}

/// Feature values that quantisation turns into zero: the model never sees them.
fn quantisation_warnings(raw: &RawData, data: &Dataset) -> Vec<String> {
    let factor = data.scale_factor();
    let (mut nonzero, mut lost) = (0usize, 0usize);
    for &v in raw.features.iter().flatten() {
        if v != 0.0 {
            nonzero += 1;
            if data.grid.quantize_f64(v * factor).is_ok_and(|q| q == 0) {
                lost += 1;
            }
        }
    }
    if lost == 0 {
        return Vec::new();
    }
    vec![format!(
        "{lost} of the {nonzero} non-zero feature values of {} round to 0 at --frac-bits {} (features are scaled by 2^-{} into [-1, 1]); the model never sees them: raise --frac-bits",
        raw.source,
        data.grid.frac_bits(),
        data.scale_log2
    )]
}

/// The examples a data source names, as loaded and before any preparation (`seed` generates
/// the synthetic set).
pub fn load_source(source: &DataSource, seed: u64) -> Result<RawData, Error> {
    load(source, seed)
}

pub(super) fn load(source: &DataSource, seed: u64) -> Result<RawData, Error> {
    Ok(match source {
        DataSource::Digits => data::csv::load_csv_bytes(DIGITS_CSV_GZ, "digits (bundled)")?,
        DataSource::Path(p) => data::load_path(p)?,
        DataSource::Csv { path, layout } => data::load_path_with(path, layout)?,
        DataSource::Synthetic {
            n,
            features,
            classes,
        } => data::synthetic::generate(*n, *features, *classes, seed),
        DataSource::Arrays(raw) => RawData::clone(raw),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A feature near f64's maximum sets the scale to 2^1024, whose reciprocal is subnormal:
    /// the warning must count the small values it flattens, not the large one it keeps.
    #[test]
    fn a_huge_feature_is_not_counted_among_those_that_round_to_zero() {
        let raw = RawData {
            features: vec![vec![1e308], vec![1.0], vec![-2.0], vec![0.0]],
            labels: vec![0, 1, 0, 1],
            source: "rows".into(),
        };
        let opts = crate::data::PrepareOptions {
            grid: crate::grid::Grid::new(16).unwrap(),
            classes: None,
            random_labels: false,
            seed: 0,
            bias: false,
        };
        let data = crate::data::prepare(&raw, &opts).unwrap();
        assert_eq!(data.scale_log2, 1024);
        assert_ne!(data.features[0][0], 0);
        let warnings = quantisation_warnings(&raw, &data);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("2 of the 3 non-zero"),
            "{}",
            warnings[0]
        );
    }
}
