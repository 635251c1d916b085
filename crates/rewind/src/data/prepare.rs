//! From [`RawData`] to a [`Dataset`] on the grid: class selection, optional random labels,
//! quantisation and the bias column.
//!
//! # Classes
//!
//! With an explicit class list, only rows whose label is listed are kept (in file order) and
//! label `list[i]` becomes class index `i`. Without one, every row is kept and the class indices
//! are the distinct labels in ascending order. [`Dataset::class_names`] maps indices back.
//!
//! # Random labels
//!
//! With `random_labels`, every kept row gets a class index drawn uniformly from `0..classes`,
//! independently of its features (the memorisation experiment). The draws come from ChaCha20
//! seeded with `seed_from_u64(seed)` on stream [`Stream::RandomLabels`](crate::rng::Stream), one bounded draw per row
//! in row order, each by the rejection rule of [`uniform_below`].
//!
//! # Quantisation (a public promise)
//!
//! Let `m` be the largest `|v|` over all features of the kept rows, and `e = scale_log2` the
//! smallest integer `e ≥ 0` with `m ≤ 2^e` (so `e = 0` when `m ≤ 1`; pixels 0–16 give `e = 4`,
//! pixels 0–255 give `e = 8`). Each feature `v` is stored as the raw grid integer
//! `grid.quantize_f64(v · 2^-e)`. Multiplying by a power of two is exact in `f64` (the
//! product only leaves the normal range far below the grid's resolution, where it rounds to 0
//! either way), so the one rounding is the grid's round-half-to-even of `v · 2^(p−e)`: integer
//! features with `|v| ≤ 2^e` and `p ≥ e` land on the grid exactly. All features lie in
//! `[-1, 1]`. With `bias`, a last column of raw `2^p` (the value 1) is appended to every row.

use super::{DataError, RawData};
use crate::grid::Grid;
use crate::rng::{stream, uniform_below, Stream};
use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU64;

/// How many class names to quote in a message before eliding the rest.
const MAX_CLASSES_QUOTED: usize = 20;

/// How to turn [`RawData`] into a [`Dataset`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrepareOptions {
    /// The grid 2^-p·ℤ the features are quantised onto.
    pub grid: Grid,
    /// Labels to keep, in the order that defines their class indices; `None` keeps all.
    pub classes: Option<Vec<u32>>,
    /// Replace every label by a uniformly random class index.
    pub random_labels: bool,
    /// Seed of the random labels (unused otherwise).
    pub seed: u64,
    /// Append a constant-one feature column.
    pub bias: bool,
}

/// A data set on the grid, ready for training.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// The grid 2^-p·ℤ of the features, and of every model trained on them.
    pub grid: Grid,
    /// n rows of raw grid integers (k meaning k·2^-p), bias column (raw 2^p) last if `has_bias`.
    pub features: Vec<Vec<i64>>,
    /// Class index of each row, in `0..classes`.
    pub labels: Vec<u32>,
    /// Number of classes.
    pub classes: u32,
    /// Original label of each class index.
    pub class_names: Vec<u32>,
    /// A feature value v was stored as v·2^-scale_log2 before quantisation.
    pub scale_log2: i32,
    /// Whether the last column is the bias (raw 2^p in every row), counted in [`Dataset::d`].
    pub has_bias: bool,
    /// Where the rows came from (a path or a generator description), from [`RawData::source`].
    pub source: String,
}

impl Dataset {
    /// Number of rows.
    pub fn n(&self) -> usize {
        self.features.len()
    }

    /// Number of columns, including the bias column.
    pub fn d(&self) -> usize {
        self.features.first().map_or(0, Vec::len)
    }

    /// 2^-scale_log2, the factor a raw feature value was multiplied by before quantisation
    /// (exact down to the subnormals, where `2f64.powi(-1024)` would give 0).
    pub fn scale_factor(&self) -> f64 {
        pow2_neg(self.scale_log2)
    }
}

/// Selects classes, optionally randomises labels, and quantises `raw` onto `opts.grid`; see the
/// module documentation for the exact rules.
pub fn prepare(raw: &RawData, opts: &PrepareOptions) -> Result<Dataset, DataError> {
    validate(raw)?;
    let (rows, labels, class_names) = match &opts.classes {
        Some(list) => select_classes(raw, list)?,
        None => all_classes(raw)?,
    };
    let classes = u32::try_from(class_names.len()).map_err(|_| DataError::TooManyClasses {
        data: raw.source.clone(),
        count: class_names.len(),
    })?;
    let labels = if opts.random_labels {
        random_labels(rows.len(), classes, opts.seed)
    } else {
        labels
    };

    let max_abs = rows
        .iter()
        .flat_map(|r| r.iter())
        .fold(0.0f64, |m, v| m.max(v.abs()));
    let scale_log2 = scale_exponent(max_abs);
    let factor = pow2_neg(scale_log2);
    let one = opts.grid.one();
    let mut features = Vec::with_capacity(rows.len());
    for row in rows {
        let mut q = Vec::with_capacity(row.len() + usize::from(opts.bias));
        for &v in row {
            q.push(opts.grid.quantize_f64(v * factor)?);
        }
        if opts.bias {
            q.push(one);
        }
        features.push(q);
    }

    Ok(Dataset {
        grid: opts.grid,
        features,
        labels,
        classes,
        class_names,
        scale_log2,
        has_bias: opts.bias,
        source: raw.source.clone(),
    })
}

/// `RawData` has public fields, so its invariants are checked here rather than trusted.
fn validate(raw: &RawData) -> Result<(), DataError> {
    let data = || raw.source.clone();
    if raw.features.len() != raw.labels.len() {
        return Err(DataError::LabelCount {
            data: data(),
            features: raw.features.len(),
            labels: raw.labels.len(),
        });
    }
    let Some(first) = raw.features.first() else {
        return Err(DataError::NoRows { data: data() });
    };
    if first.is_empty() {
        return Err(DataError::NoFeatures { data: data() });
    }
    for (i, row) in raw.features.iter().enumerate() {
        if row.len() != first.len() {
            return Err(DataError::RaggedRows {
                data: data(),
                row: i + 1,
                found: row.len(),
                expected: first.len(),
            });
        }
        if let Some((j, &value)) = row.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(DataError::NonFiniteFeature {
                data: data(),
                row: i + 1,
                column: j + 1,
                value,
            });
        }
    }
    Ok(())
}

type Selection<'a> = (Vec<&'a Vec<f64>>, Vec<u32>, Vec<u32>);

fn select_classes<'a>(raw: &'a RawData, list: &[u32]) -> Result<Selection<'a>, DataError> {
    if list.len() < 2 {
        return Err(DataError::ClassListTooShort { got: list.len() });
    }
    let mut index = BTreeMap::new();
    for (i, &class) in (0u32..).zip(list) {
        if index.insert(class, i).is_some() {
            return Err(DataError::DuplicateClass { class });
        }
    }
    let present: BTreeSet<u32> = raw.labels.iter().copied().collect();
    if let Some(&class) = list.iter().find(|c| !present.contains(c)) {
        return Err(DataError::ClassAbsent {
            class,
            data: raw.source.clone(),
            present: quote_classes(present.iter()),
        });
    }
    let mut rows = Vec::new();
    let mut labels = Vec::new();
    for (row, label) in raw.features.iter().zip(&raw.labels) {
        if let Some(&i) = index.get(label) {
            rows.push(row);
            labels.push(i);
        }
    }
    Ok((rows, labels, list.to_vec()))
}

fn all_classes(raw: &RawData) -> Result<Selection<'_>, DataError> {
    let names: Vec<u32> = raw
        .labels
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if names.len() < 2 {
        return Err(DataError::TooFewClasses {
            data: raw.source.clone(),
            present: quote_classes(names.iter()),
        });
    }
    let mut labels = Vec::with_capacity(raw.labels.len());
    for label in &raw.labels {
        // Every label is in `names`, so the search always succeeds; and an index into a list of
        // distinct u32 values that has fewer than u32::MAX entries fits in u32.
        let i = names.binary_search(label).unwrap_or_default();
        labels.push(u32::try_from(i).map_err(|_| DataError::TooManyClasses {
            data: raw.source.clone(),
            count: names.len(),
        })?);
    }
    Ok((raw.features.iter().collect(), labels, names))
}

/// `n` uniform class indices in `0..classes` from the random-label stream of `seed`.
fn random_labels(n: usize, classes: u32, seed: u64) -> Vec<u32> {
    let mut rng = stream(seed, Stream::RandomLabels);
    let Some(bound) = NonZeroU64::new(u64::from(classes)) else {
        return vec![0; n];
    };
    (0..n)
        // The draw is below `classes`, a u32, so the conversion never fails.
        .map(|_| u32::try_from(uniform_below(&mut rng, bound)).unwrap_or_default())
        .collect()
}

/// The smallest `e ≥ 0` with `max_abs ≤ 2^e`; `max_abs` must be finite.
fn scale_exponent(max_abs: f64) -> i32 {
    let mut e = 0;
    // Every finite f64 is below 2^1024, so the loop stops by e = 1024.
    while e < 1024 && pow2(e) < max_abs {
        e += 1;
    }
    e
}

/// 2^e for 0 ≤ e ≤ 1023, built from its bit pattern so that no libm call is involved.
fn pow2(e: i32) -> f64 {
    f64::from_bits(((1023 + e) as u64) << 52)
}

/// 2^-e for 0 ≤ e ≤ 1074, exactly (subnormal below 2^-1022).
fn pow2_neg(e: i32) -> f64 {
    if e <= 1022 {
        f64::from_bits(((1023 - e) as u64) << 52)
    } else {
        f64::from_bits(1u64 << (1074 - e))
    }
}

/// "0, 1, 2" for a message, eliding past [`MAX_CLASSES_QUOTED`] entries.
fn quote_classes<'a>(classes: impl ExactSizeIterator<Item = &'a u32>) -> String {
    let total = classes.len();
    let shown: Vec<String> = classes
        .take(MAX_CLASSES_QUOTED)
        .map(u32::to_string)
        .collect();
    if total > MAX_CLASSES_QUOTED {
        format!("{}, … ({total} in all)", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::csv::load_csv;
    use std::path::Path;

    const DIGITS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/digits.csv.gz");

    fn digits() -> RawData {
        load_csv(Path::new(DIGITS)).unwrap()
    }

    fn opts(frac_bits: u32) -> PrepareOptions {
        PrepareOptions {
            grid: Grid::new(frac_bits).unwrap(),
            classes: None,
            random_labels: false,
            seed: 0,
            bias: false,
        }
    }

    fn raw(features: Vec<Vec<f64>>, labels: Vec<u32>) -> RawData {
        RawData {
            features,
            labels,
            source: "test data".into(),
        }
    }

    #[test]
    fn class_filtering_keeps_file_order_and_maps_to_list_order() {
        let raw = digits();
        let ds = prepare(
            &raw,
            &PrepareOptions {
                classes: Some(vec![8, 3]),
                ..opts(16)
            },
        )
        .unwrap();
        assert_eq!(ds.n(), 183 + 174);
        assert_eq!(ds.classes, 2);
        assert_eq!(ds.class_names, vec![8, 3]);
        assert_eq!(ds.labels.iter().filter(|&&l| l == 0).count(), 174);
        assert_eq!(ds.labels.iter().filter(|&&l| l == 1).count(), 183);
        let kept: Vec<(usize, u32)> = raw
            .labels
            .iter()
            .enumerate()
            .filter(|(_, &l)| l == 3 || l == 8)
            .map(|(i, &l)| (i, if l == 8 { 0 } else { 1 }))
            .collect();
        assert_eq!(ds.labels, kept.iter().map(|&(_, c)| c).collect::<Vec<_>>());
        let full = prepare(&raw, &opts(16)).unwrap();
        for (row, &(i, _)) in ds.features.iter().zip(&kept) {
            assert_eq!(row, &full.features[i]);
        }
    }

    #[test]
    fn all_classes_are_sorted_distinct_labels() {
        let ds = prepare(&raw(vec![vec![1.0]; 4], vec![7, 2, 7, 5]), &opts(8)).unwrap();
        assert_eq!(ds.class_names, vec![2, 5, 7]);
        assert_eq!(ds.labels, vec![2, 0, 2, 1]);
        assert_eq!(ds.classes, 3);

        let digits = prepare(&digits(), &opts(8)).unwrap();
        assert_eq!(digits.class_names, (0..10).collect::<Vec<_>>());
        assert_eq!((digits.n(), digits.d()), (1797, 64));
    }

    #[test]
    fn class_list_errors() {
        let raw = digits();
        let with = |classes: Vec<u32>| {
            prepare(
                &raw,
                &PrepareOptions {
                    classes: Some(classes),
                    ..opts(16)
                },
            )
            .unwrap_err()
        };
        let err = with(vec![3, 42]);
        assert!(
            matches!(err, DataError::ClassAbsent { class: 42, .. }),
            "{err}"
        );
        assert!(
            err.to_string().contains("0, 1, 2, 3, 4, 5, 6, 7, 8, 9"),
            "{err}"
        );
        assert!(matches!(
            with(vec![3]),
            DataError::ClassListTooShort { got: 1 }
        ));
        assert!(matches!(
            with(vec![]),
            DataError::ClassListTooShort { got: 0 }
        ));
        assert!(matches!(
            with(vec![3, 8, 3]),
            DataError::DuplicateClass { class: 3 }
        ));
    }

    #[test]
    fn fewer_than_two_classes_or_no_rows_is_an_error() {
        let err = prepare(&raw(vec![vec![1.0]; 3], vec![4; 3]), &opts(8)).unwrap_err();
        assert!(matches!(err, DataError::TooFewClasses { .. }), "{err}");
        assert!(err.to_string().contains("(4)"), "{err}");
        let err = prepare(&raw(vec![], vec![]), &opts(8)).unwrap_err();
        assert!(matches!(err, DataError::NoRows { .. }), "{err}");
    }

    #[test]
    fn malformed_raw_data_is_rejected() {
        let err = prepare(&raw(vec![vec![1.0]], vec![0, 1]), &opts(8)).unwrap_err();
        assert!(matches!(err, DataError::LabelCount { .. }), "{err}");
        let err = prepare(&raw(vec![vec![1.0], vec![1.0, 2.0]], vec![0, 1]), &opts(8)).unwrap_err();
        assert!(matches!(err, DataError::RaggedRows { row: 2, .. }), "{err}");
        let err = prepare(&raw(vec![vec![1.0], vec![f64::NAN]], vec![0, 1]), &opts(8)).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::NonFiniteFeature {
                    row: 2,
                    column: 1,
                    ..
                }
            ),
            "{err}"
        );
        let err = prepare(&raw(vec![vec![], vec![]], vec![0, 1]), &opts(8)).unwrap_err();
        assert!(matches!(err, DataError::NoFeatures { .. }), "{err}");
    }

    #[test]
    fn random_labels_are_deterministic_in_range_and_roughly_uniform() {
        let raw = digits();
        let randomised = |seed: u64| {
            prepare(
                &raw,
                &PrepareOptions {
                    random_labels: true,
                    seed,
                    ..opts(16)
                },
            )
            .unwrap()
        };
        let a = randomised(1);
        assert_eq!(a, randomised(1));
        assert_ne!(a.labels, randomised(2).labels);
        assert_ne!(a.labels, prepare(&raw, &opts(16)).unwrap().labels);
        assert_eq!(a.classes, 10);
        assert!(a.labels.iter().all(|&l| l < 10));
        // 1797 draws over 10 classes: each count has mean 179.7 and s.d. 12.7; allow 5 s.d.
        for c in 0..10 {
            let count = a.labels.iter().filter(|&&l| l == c).count();
            assert!((116..=244).contains(&count), "class {c}: {count}");
        }
    }

    #[test]
    fn digits_quantise_exactly() {
        let raw = digits();
        let ds = prepare(&raw, &opts(32)).unwrap();
        assert_eq!(ds.scale_log2, 4);
        assert!(!ds.has_bias);
        for (q, v) in ds
            .features
            .iter()
            .flatten()
            .zip(raw.features.iter().flatten())
        {
            assert_eq!(*q, (*v as i64) << 28);
        }
        assert_eq!(ds.grid.to_f64(ds.features[0][2]), 5.0 / 16.0);
    }

    #[test]
    fn scale_is_the_smallest_power_of_two_covering_the_data() {
        let scale = |m: f64| {
            prepare(&raw(vec![vec![m], vec![0.0]], vec![0, 1]), &opts(8))
                .unwrap()
                .scale_log2
        };
        assert_eq!(scale(0.0), 0);
        assert_eq!(scale(1.0), 0);
        assert_eq!(scale(-1.0), 0);
        assert_eq!(scale(1.5), 1);
        assert_eq!(scale(-16.0), 4);
        assert_eq!(scale(16.000001), 5);
        assert_eq!(scale(255.0), 8);
        assert_eq!(scale(f64::MAX), 1024);
        assert_eq!(scale(-f64::MAX), 1024);
        assert_eq!(pow2_neg(1074), f64::from_bits(1));
        assert_eq!(pow2_neg(1023) * 2.0, pow2_neg(1022));
        assert_eq!(pow2(1023) * pow2_neg(1023), 1.0);

        // Ties round to even after the exact scaling: 3/2^9 = 1.5 ulp at p = 8 (e = 0).
        let ds = prepare(
            &raw(
                vec![vec![3.0 / 512.0, -1.0], vec![5.0 / 512.0, 1.0]],
                vec![0, 1],
            ),
            &opts(8),
        )
        .unwrap();
        assert_eq!(ds.features, vec![vec![2, -256], vec![2, 256]]);
    }

    #[test]
    fn bias_column_is_last_and_equals_one() {
        let ds = prepare(
            &digits(),
            &PrepareOptions {
                bias: true,
                ..opts(20)
            },
        )
        .unwrap();
        assert!(ds.has_bias);
        assert_eq!(ds.d(), 65);
        assert!(ds.features.iter().all(|r| r.last() == Some(&(1 << 20))));
        assert!(ds.features.iter().all(|r| r.len() == 65));
    }
}
