//! Data sets: loaders (CSV, IDX), synthetic generators, and quantisation onto the grid.
//!
//! This module owns everything between a file (or a seed) and the integer matrix the trainers
//! see. A loader produces [`RawData`] (features as `f64`, labels as read); [`prepare()`] turns it
//! into a [`Dataset`] of raw grid integers, with the class selection, optional random labels and
//! the quantisation rule documented in [`prepare`](mod@prepare).
//!
//! Every failure is a [`DataError`] whose message is one line naming the file (and the 1-based
//! line where one applies), the problem and the fix. No input, however malformed, makes this
//! module panic.

pub mod csv;
pub mod idx;
pub mod prepare;
pub mod synthetic;

pub use prepare::{prepare, Dataset, PrepareOptions};

use crate::grid::GridError;
use std::path::{Path, PathBuf};

/// The two bytes every gzip stream starts with (RFC 1952, ID1 ID2).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Features as read, before quantisation: row-major, every row the same length.
#[derive(Debug, Clone, PartialEq)]
pub struct RawData {
    /// One row of feature values per example, as read (any finite values; no bias column yet).
    pub features: Vec<Vec<f64>>,
    /// The label of each row as read (not yet a class index; see [`prepare()`]).
    pub labels: Vec<u32>,
    /// Where the data came from (a path or a generator description), for messages and reports.
    pub source: String,
}

/// Everything that can go wrong while loading or preparing a data set.
///
/// Fields holding the data set's description are called `data`, not `source`, because
/// `thiserror` treats a field named `source` as the underlying error.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The path does not exist.
    #[error("{} does not exist; check the file name and directory", .path.display())]
    NotFound {
        /// The file concerned.
        path: PathBuf,
    },

    /// The file exists but could not be read.
    #[error("cannot read {}: {source}; check that it is a readable file", .path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// The file starts with the gzip magic but is not a valid gzip stream.
    #[error("{} starts like a gzip file but does not decompress ({source}); download or compress it again", .path.display())]
    Decompress {
        /// The file concerned.
        path: PathBuf,
        /// The decompressor's error.
        source: std::io::Error,
    },

    /// The file, or its decompression, is larger than a data set may be.
    #[error("{} holds more than {} of data (the most this rewind reads); pass a data file, not a device, or a smaller sample", .path.display(), crate::input::bytes(*.limit))]
    TooLarge {
        /// The file concerned.
        path: PathBuf,
        /// The limit in bytes.
        limit: u64,
    },

    /// A CSV line is not valid UTF-8.
    #[error("line {line} of {} is not valid UTF-8 text; give a plain-text CSV of numbers or an IDX file", .path.display())]
    NotText {
        /// The file concerned.
        path: PathBuf,
        /// The 1-based line that is not UTF-8.
        line: usize,
    },

    /// The CSV file holds no data rows.
    #[error("{} contains no data rows; give one row per example (the features, then the label)", .path.display())]
    Empty {
        /// The file concerned.
        path: PathBuf,
    },

    /// The first non-empty CSV line has a cell that is not a number: a header line.
    #[error("line {line} of {} looks like a header ('{text}'); remove the header line so that every line holds only numbers", .path.display())]
    Header {
        /// The file concerned.
        path: PathBuf,
        /// The 1-based line of the file.
        line: usize,
        /// The line, shortened if long.
        text: String,
    },

    /// `--label-column` names a column the header does not have, or the file has no header.
    #[error("{} has no column named '{name}' (header: '{header}'); give one of the header's names, a 0-based column index, or --header if the first line names the columns", .path.display())]
    LabelColumnName {
        /// The file concerned.
        path: PathBuf,
        /// The name asked for.
        name: String,
        /// The header line, shortened if long; empty when the file has none.
        header: String,
    },

    /// `--label-column` gives an index past the last column (or pandas' index column).
    #[error("{} has {columns} columns, so label column {index} (0-based) is not a data column; give an index from 0 to {}", .path.display(), .columns - 1)]
    LabelColumnRange {
        /// The file concerned.
        path: PathBuf,
        /// The index asked for.
        index: usize,
        /// The number of columns of the file.
        columns: usize,
    },

    /// The first CSV row has fewer than two columns (at least one feature, then the label).
    #[error("line {line} of {} has {found} column(s) but at least 2 are needed; write the features, then the label, separated by commas", .path.display())]
    TooFewColumns {
        /// The file concerned.
        path: PathBuf,
        /// The 1-based line of the file.
        line: usize,
        /// The columns it has.
        found: usize,
    },

    /// A CSV row has a different number of columns than the first row.
    #[error("line {line} of {} has {found} columns but {expected} were expected (as on line {first_line}); give every row the same number of columns", .path.display())]
    ColumnCount {
        /// The file concerned.
        path: PathBuf,
        /// The 1-based line of the file.
        line: usize,
        /// The columns this row has.
        found: usize,
        /// The columns of the first data row.
        expected: usize,
        /// The 1-based line of the first data row.
        first_line: usize,
    },

    /// A CSV cell does not parse as a number (a feature, or a label that is not numeric at all).
    #[error("line {line}, column {column} of {}: '{text}' is not a number; write every cell as a decimal number such as 3 or 0.25", .path.display())]
    BadCell {
        /// The file concerned.
        path: PathBuf,
        /// The 1-based line of the file.
        line: usize,
        /// The 1-based column.
        column: usize,
        /// The cell as written.
        text: String,
    },

    /// A CSV feature cell parses to NaN or an infinity, which has no grid point.
    #[error("line {line}, column {column} of {}: '{text}' is not a finite number; replace it, since NaN and infinity cannot be put on the grid", .path.display())]
    NonFinite {
        /// The file concerned.
        path: PathBuf,
        /// The 1-based line of the file.
        line: usize,
        /// The 1-based column.
        column: usize,
        /// The cell as written.
        text: String,
    },

    /// A CSV label cell is a number but not a non-negative integer that fits in `u32` (an integral
    /// float such as 7.0 is accepted).
    #[error("line {line}, column {column} of {}: label '{text}' is not a non-negative integer; write labels (the last column) as 0, 1, 2, … (7 and 7.0 are both fine)", .path.display())]
    BadLabel {
        /// The file concerned.
        path: PathBuf,
        /// The 1-based line of the file.
        line: usize,
        /// The 1-based column (the last one).
        column: usize,
        /// The cell as written.
        text: String,
    },

    /// A CSV line separates its values with something other than commas.
    #[error("line {line} of {} separates its values with {} instead of commas; rewind reads comma-separated values, so replace the separator with ','", .path.display(), separator_name(*.separator))]
    Separator {
        /// The file concerned.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The separator found.
        separator: char,
    },

    /// A label does not fit in u32.
    #[error("line {line}, column {column} of {}: label '{text}' is too large (labels are class numbers up to {}); write labels as 0, 1, 2, …", .path.display(), u32::MAX)]
    LabelTooLarge {
        /// The file concerned.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// 1-based column number.
        column: usize,
        /// The label as written.
        text: String,
    },

    /// An IDX file of another element type or rank than unsigned-byte images.
    #[error("{} is an IDX file of {kind} (magic 0x{magic:08x}), not of unsigned-byte images; rewind reads MNIST-style images (magic 0x00000803) with their labels file beside them", .path.display())]
    IdxType {
        /// The file concerned.
        path: PathBuf,
        /// What its magic says it holds.
        kind: String,
        /// The magic number read.
        magic: u32,
    },

    /// An IDX file does not start with the magic of its kind (`00 00 08 03` for images,
    /// `00 00 08 01` for labels).
    #[error("{} is not an IDX {what} file: it starts with 0x{found:08x}, not 0x{expected:08x}; pass an MNIST-style {what} file (raw or .gz)", .path.display())]
    IdxMagic {
        /// The file concerned.
        path: PathBuf,
        /// `images` or `labels`: the kind of file expected.
        what: &'static str,
        /// The first four bytes, big-endian.
        found: u32,
        /// The magic of the kind expected.
        expected: u32,
    },

    /// An IDX file is shorter or longer than its header's dimensions say.
    #[error("{} is {actual} bytes (after decompression) but its IDX header calls for {expected}: {problem}; download the file again", .path.display())]
    IdxSize {
        /// The file concerned.
        path: PathBuf,
        /// The length in bytes that the header calls for (after decompression).
        expected: u64,
        /// The length in bytes of the file after decompression.
        actual: u64,
        /// Truncated, trailing bytes, or ends inside the header.
        problem: String,
    },

    /// An IDX image file that declares no images.
    #[error("the IDX image file {} declares 0 images; give an image file (with its label file) that holds at least one image", .path.display())]
    IdxEmpty {
        /// The file concerned.
        path: PathBuf,
    },

    /// A CSV data line ends with a comma, which leaves an empty last cell.
    #[error("line {line} of {} ends with a comma (an empty last column); remove the trailing comma so that the label is the last cell", .path.display())]
    TrailingComma {
        /// The file concerned.
        path: PathBuf,
        /// The 1-based line of the file.
        line: usize,
    },

    /// An IDX header declares dimensions that cannot be used.
    #[error("{} has an unusable IDX header: {why}; download the file again", .path.display())]
    IdxHeader {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with the dimensions.
        why: String,
    },

    /// The IDX images and labels files hold different numbers of examples.
    #[error("{} holds {n_images} images but {} holds {n_labels} labels; pass the labels file that belongs to these images", .images.display(), .labels.display())]
    IdxCountMismatch {
        /// The images file.
        images: PathBuf,
        /// The labels file.
        labels: PathBuf,
        /// The number of images its header declares.
        n_images: u64,
        /// The number of labels its header declares.
        n_labels: u64,
    },

    /// No labels file was found beside an IDX images file (see [`idx::labels_path_for`]).
    #[error("{} is an IDX image file but its labels file was not found ({looked_for}); put the labels file next to it under that name", .images.display())]
    IdxLabelsNotFound {
        /// The images file.
        images: PathBuf,
        /// The labels file names that were tried, or why none follows from the images name.
        looked_for: String,
    },

    /// An IDX labels file was passed where the images file is expected.
    #[error("{} is an IDX labels file; pass the images file (e.g. train-images-idx3-ubyte) and its labels are found next to it", .path.display())]
    IdxLabelsGiven {
        /// The file concerned.
        path: PathBuf,
    },

    /// [`RawData`] has a different number of feature rows and labels.
    #[error(
        "{data} has {features} feature rows but {labels} labels; give exactly one label per row"
    )]
    LabelCount {
        /// The data set, as described by [`RawData::source`].
        data: String,
        /// The number of feature rows.
        features: usize,
        /// The number of labels.
        labels: usize,
    },

    /// A row of [`RawData`] has a different number of features than the first row.
    #[error("row {row} of {data} has {found} features but row 1 has {expected}; give every row the same number of features")]
    RaggedRows {
        /// The data set, as described by [`RawData::source`].
        data: String,
        /// The 1-based row.
        row: usize,
        /// The features of that row.
        found: usize,
        /// The features of row 1.
        expected: usize,
    },

    /// A feature of [`RawData`] is NaN or an infinity, which has no grid point.
    #[error("row {row}, feature {column} of {data} is {value}, not a finite number; replace it, since NaN and infinity cannot be put on the grid")]
    NonFiniteFeature {
        /// The data set, as described by [`RawData::source`].
        data: String,
        /// The 1-based row.
        row: usize,
        /// The 1-based feature.
        column: usize,
        /// The value found.
        value: f64,
    },

    /// The rows of [`RawData`] have no features.
    #[error("{data} has no feature columns; give at least one feature before the label")]
    NoFeatures {
        /// The data set, as described by [`RawData::source`].
        data: String,
    },

    /// [`RawData`] has no rows.
    #[error("{data} has no rows; give a data set with at least one example of each class")]
    NoRows {
        /// The data set, as described by [`RawData::source`].
        data: String,
    },

    /// The class list (`--classes`) has fewer than two entries.
    #[error("the class list has {got} entr{}; list at least 2 distinct classes", if *.got == 1 { "y" } else { "ies" })]
    ClassListTooShort {
        /// The number of classes listed.
        got: usize,
    },

    /// The class list names a label twice.
    #[error("class {class} is listed twice; list each class once")]
    DuplicateClass {
        /// The label listed twice.
        class: u32,
    },

    /// The class list names a label no row has.
    #[error("class {class} does not occur in {data} (classes present: {present}); choose classes from those present")]
    ClassAbsent {
        /// The label that no row has.
        class: u32,
        /// The data set, as described by [`RawData::source`].
        data: String,
        /// The labels that occur, quoted (elided after 20).
        present: String,
    },

    /// Without a class list, every row has the same label.
    #[error("{data} has only one class ({present}); a classifier needs at least 2, so use data with more than one label")]
    TooFewClasses {
        /// The data set, as described by [`RawData::source`].
        data: String,
        /// The only label present.
        present: String,
    },

    /// More distinct labels than a `u32` class index can hold.
    #[error("{data} has {count} classes, more than a u32 can index; select fewer classes")]
    TooManyClasses {
        /// The data set, as described by [`RawData::source`].
        data: String,
        /// The number of distinct labels.
        count: usize,
    },

    /// Quantisation left the grid: a feature did not fit in `i64` raw units (docs/design.md §2.1).
    #[error(transparent)]
    Grid(#[from] GridError),
}

/// Loads a data set from one path: an IDX image file (its labels file is found beside it with
/// [`idx::labels_path_for`]) if the content starts, after gunzip, with the IDX images magic
/// `00 00 08 03`, otherwise a CSV file (see [`csv::load_csv`]).
pub fn load_path(path: &Path) -> Result<RawData, DataError> {
    load_path_with(path, &csv::CsvLayout::default())
}

/// [`load_path`], reading a CSV file with the given column layout (an IDX pair ignores it).
pub fn load_path_with(path: &Path, layout: &csv::CsvLayout) -> Result<RawData, DataError> {
    let bytes = read_file(path)?;
    if bytes.starts_with(&idx::IMAGES_MAGIC.to_be_bytes()) {
        let Some(labels) = idx::labels_path_for(path) else {
            return Err(DataError::IdxLabelsNotFound {
                images: path.to_path_buf(),
                looked_for: idx::describe_label_candidates(path),
            });
        };
        let label_bytes = read_file(&labels)?;
        return idx::parse_pair(path, &bytes, &labels, &label_bytes);
    }
    // A text file cannot start with a NUL byte, so this only catches the labels half of a pair
    // passed by mistake, which would otherwise get a confusing "not UTF-8" message.
    if bytes.starts_with(&idx::LABELS_MAGIC.to_be_bytes()) {
        return Err(DataError::IdxLabelsGiven {
            path: path.to_path_buf(),
        });
    }
    if let Some((kind, magic)) = other_idx(&bytes) {
        return Err(DataError::IdxType {
            path: path.to_path_buf(),
            kind,
            magic,
        });
    }
    csv::parse_csv(path, &bytes, layout)
}

/// Fewest rows for which a column counting 0, 1, 2, … is taken for a row index rather than
/// a coincidence.
const INDEX_MIN_ROWS: usize = 10;

/// The first feature column (0-based) that counts the rows, 0, 1, …, n−1 or 1, …, n: the row
/// index pandas writes unless told `index=False`, left as a feature when its header line is
/// removed. Such a column makes the label predictable from the row's position, silently.
pub fn index_like_column(raw: &RawData) -> Option<usize> {
    if raw.features.len() < INDEX_MIN_ROWS {
        return None;
    }
    let d = raw.features.first()?.len();
    (0..d).find(|&j| {
        let start = raw.features[0][j];
        (start == 0.0 || start == 1.0)
            && raw
                .features
                .iter()
                .enumerate()
                .all(|(i, row)| row[j] == start + i as f64)
    })
}

/// An IDX header of a type other than images and labels: two zero bytes, a type code
/// (0x08 unsigned byte … 0x0E double) and 1 to 4 dimensions.
fn other_idx(bytes: &[u8]) -> Option<(String, u32)> {
    let head: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
    let kind = match head {
        [0, 0, t, dims] if (1..=4).contains(&dims) => match t {
            0x08 => "unsigned bytes",
            0x09 => "signed bytes",
            0x0B => "16-bit integers",
            0x0C => "32-bit integers",
            0x0D => "32-bit floats",
            0x0E => "64-bit floats",
            _ => return None,
        },
        _ => return None,
    };
    Some((
        format!(
            "{kind} in {} dimension{}",
            head[3],
            if head[3] == 1 { "" } else { "s" }
        ),
        u32::from_be_bytes(head),
    ))
}

fn separator_name(c: char) -> String {
    match c {
        '\t' => "tabs".into(),
        ' ' => "spaces".into(),
        c => format!("'{c}'"),
    }
}

/// The whole content of `path`, gunzipped if it starts with the gzip magic bytes.
///
/// Detection goes by content rather than by the `.gz` extension, because downloads are often
/// renamed or transparently decompressed by browsers while keeping their name.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, DataError> {
    use crate::input::{read_whole, ReadError, MAX_DATA_BYTES};
    let bytes = read_whole(path, MAX_DATA_BYTES).map_err(|e| match e {
        ReadError::Io(source) if source.kind() == std::io::ErrorKind::NotFound => {
            DataError::NotFound {
                path: path.to_path_buf(),
            }
        }
        ReadError::Io(source) => DataError::Io {
            path: path.to_path_buf(),
            source,
        },
        ReadError::TooLarge(limit) => DataError::TooLarge {
            path: path.to_path_buf(),
            limit,
        },
    })?;
    gunzip_if_needed(bytes, path)
}

/// The bytes themselves, or their decompression when they start with the gzip magic.
pub(crate) fn gunzip_if_needed(bytes: Vec<u8>, path: &Path) -> Result<Vec<u8>, DataError> {
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Ok(bytes);
    }
    // MultiGzDecoder, because `cat a.gz b.gz` and some compressors produce several members and
    // the plain decoder would silently stop after the first one.
    let limit = crate::input::MAX_DATA_BYTES;
    crate::input::read_bounded(flate2::read::MultiGzDecoder::new(bytes.as_slice()), limit).map_err(
        |e| match e {
            crate::input::ReadError::Io(source) => DataError::Decompress {
                path: path.to_path_buf(),
                source,
            },
            crate::input::ReadError::TooLarge(limit) => DataError::TooLarge {
                path: path.to_path_buf(),
                limit,
            },
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_column_counting_the_rows_is_found() {
        let rows = |f: &dyn Fn(usize) -> Vec<f64>| RawData {
            features: (0..12).map(f).collect(),
            labels: vec![0; 12],
            source: "t".into(),
        };
        assert_eq!(index_like_column(&rows(&|i| vec![0.5, i as f64])), Some(1));
        assert_eq!(
            index_like_column(&rows(&|i| vec![1.0 + i as f64, 0.0])),
            Some(0)
        );
        assert_eq!(
            index_like_column(&rows(&|i| vec![0.5, 2.0 * i as f64])),
            None
        );
    }

    #[test]
    fn load_path_reads_csv_and_idx_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let csv_path = dir.path().join("data.txt");
        std::fs::write(&csv_path, "1,2,0\n3,4,1\n").unwrap();
        let raw = load_path(&csv_path).unwrap();
        assert_eq!(raw.features, vec![vec![1.0, 2.0], vec![3.0, 4.0]]);
        assert_eq!(raw.labels, vec![0, 1]);

        let images = dir.path().join("train-images-idx3-ubyte");
        let labels = dir.path().join("train-labels-idx1-ubyte");
        idx::write_idx(&images, &labels, 1, 2, &[vec![5, 6], vec![7, 8]], &[3, 4]).unwrap();
        let raw = load_path(&images).unwrap();
        assert_eq!(raw.features, vec![vec![5.0, 6.0], vec![7.0, 8.0]]);
        assert_eq!(raw.labels, vec![3, 4]);

        let err = load_path(&labels).unwrap_err();
        assert!(matches!(err, DataError::IdxLabelsGiven { .. }), "{err}");
    }

    #[test]
    fn load_path_names_the_missing_labels_file() {
        let dir = tempfile::tempdir().unwrap();
        let images = dir.path().join("t10k-images-idx3-ubyte");
        let labels = dir.path().join("t10k-labels-idx1-ubyte");
        idx::write_idx(&images, &labels, 1, 1, &[vec![1]], &[0]).unwrap();
        std::fs::remove_file(&labels).unwrap();
        let err = load_path(&images).unwrap_err();
        assert!(matches!(err, DataError::IdxLabelsNotFound { .. }), "{err}");
        assert!(err.to_string().contains("t10k-labels-idx1-ubyte"), "{err}");

        let odd = dir.path().join("pixels.bin");
        std::fs::copy(&images, &odd).unwrap();
        let err = load_path(&odd).unwrap_err();
        assert!(matches!(err, DataError::IdxLabelsNotFound { .. }), "{err}");
    }

    #[test]
    fn corrupt_gzip_is_reported_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.csv.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(b"1,2,0\n3,4,1\n").unwrap();
        let mut bytes = enc.finish().unwrap();
        bytes.truncate(bytes.len() / 2);
        std::fs::write(&path, bytes).unwrap();
        let err = load_path(&path).unwrap_err();
        assert!(matches!(err, DataError::Decompress { .. }), "{err}");
        assert!(err.to_string().contains("broken.csv.gz"), "{err}");
    }

    #[test]
    fn every_message_is_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_path(&dir.path().join("nope.csv")).unwrap_err();
        assert!(matches!(err, DataError::NotFound { .. }), "{err}");
        let err = load_path(dir.path()).unwrap_err();
        assert!(matches!(err, DataError::Io { .. }), "{err}");
        for err in [
            err,
            DataError::ClassListTooShort { got: 1 },
            DataError::ClassListTooShort { got: 0 },
        ] {
            assert!(!err.to_string().contains('\n'), "{err}");
        }
        assert!(DataError::ClassListTooShort { got: 1 }
            .to_string()
            .contains("1 entry;"));
    }
}
