//! The CSV loader: one example per line, features and a label, plain or gzip-compressed.
//!
//! Format: every non-empty line holds comma-separated numbers; the label column (the last
//! unless [`CsvLayout::label_column`] names another) holds a non-negative integer, written `7`
//! or `7.0`, the others finite decimal features (`0.25`, `-3`, `1e-3`). Blank lines are
//! skipped, surrounding spaces and a UTF-8 byte-order mark are ignored, and line numbers in
//! messages count every physical line from 1.
//!
//! A header line is recognised where it cannot be a data row: a first line with a cell that
//! is not a number, or one reading exactly `0,1,…,k−1` (the column names pandas gives an
//! unnamed frame); [`CsvLayout::header`] forces the decision either way. A header whose first
//! name is empty (or `Unnamed: 0`) is the row index pandas' `to_csv()` writes by default, and
//! that column is dropped, so such a file is read unchanged.

use super::{read_file, DataError, RawData};
use std::path::Path;

/// How much of an offending header line to quote in a message.
const HEADER_QUOTE_CHARS: usize = 60;

/// How a CSV file's columns are laid out; the default detects the header and takes the label
/// from the last column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CsvLayout {
    /// `Some(true)`: the first line names the columns; `Some(false)`: it is data; `None`:
    /// detected (see the module documentation).
    pub header: Option<bool>,
    /// The column holding the label; `None` is the last one.
    pub label_column: Option<LabelColumn>,
}

/// Which column holds the label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelColumn {
    /// The column of this name in the header line.
    Name(String),
    /// The column at this 0-based position, counting every column of the file.
    Index(usize),
}

impl LabelColumn {
    /// A name, or a 0-based index when the text is a non-negative integer.
    pub fn parse(text: &str) -> Self {
        text.parse()
            .map_or_else(|_| LabelColumn::Name(text.to_string()), LabelColumn::Index)
    }
}

/// Loads a CSV file; gzip is detected by its magic bytes `1f 8b`, whatever the file is called.
pub fn load_csv(path: &Path) -> Result<RawData, DataError> {
    let bytes = read_file(path)?;
    parse_csv(path, &bytes, &CsvLayout::default())
}

/// Parses CSV content held in memory (plain or gzip), e.g. a bundled data set; `name` stands
/// in for the path in messages.
pub fn load_csv_bytes(bytes: &[u8], name: &str) -> Result<RawData, DataError> {
    let path = Path::new(name);
    let bytes = super::gunzip_if_needed(bytes.to_vec(), path)?;
    parse_csv(path, &bytes, &CsvLayout::default())
}

/// The columns of a file as its first line fixes them.
struct Columns {
    count: usize,
    first_line: usize,
    label: usize,
    /// pandas' index column, dropped.
    index: Option<usize>,
    header: bool,
}

/// Parses the (already decompressed) content of the CSV file `path`.
pub(crate) fn parse_csv(
    path: &Path,
    bytes: &[u8],
    layout: &CsvLayout,
) -> Result<RawData, DataError> {
    let text = std::str::from_utf8(bytes).map_err(|e| DataError::NotText {
        path: path.to_path_buf(),
        line: line_of_offset(bytes, e.valid_up_to()),
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);

    let mut features = Vec::new();
    let mut labels = Vec::new();
    let mut columns: Option<Columns> = None;

    for (index, raw_line) in text.split('\n').enumerate() {
        let line = index + 1;
        // trim() also removes the '\r' of Windows line endings.
        let content = raw_line.trim();
        if content.is_empty() {
            continue;
        }
        let cells: Vec<&str> = content.split(',').map(str::trim).collect();
        if let [numbers @ .., ""] = cells.as_slice() {
            if !numbers.is_empty() && numbers.iter().all(|c| c.parse::<f64>().is_ok()) {
                return Err(DataError::TrailingComma {
                    path: path.to_path_buf(),
                    line,
                });
            }
        }
        if columns.is_none() {
            let c = first_line(path, line, content, &cells, layout)?;
            let header = c.header;
            columns = Some(c);
            if header {
                continue;
            }
        }
        let Some(cols) = &columns else { continue };
        if cells.len() != cols.count {
            return Err(DataError::ColumnCount {
                path: path.to_path_buf(),
                line,
                found: cells.len(),
                expected: cols.count,
                first_line: cols.first_line,
            });
        }
        let mut row = Vec::with_capacity(cells.len() - 1);
        for (i, cell) in cells.iter().enumerate() {
            if i != cols.label && Some(i) != cols.index {
                row.push(parse_feature(path, line, i + 1, cell)?);
            }
        }
        labels.push(parse_label(path, line, cols.label + 1, cells[cols.label])?);
        features.push(row);
    }

    if features.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(RawData {
        features,
        labels,
        source: path.display().to_string(),
    })
}

/// Whether the first line is a header, and where the label (and pandas' index) are.
fn first_line(
    path: &Path,
    line: usize,
    content: &str,
    cells: &[&str],
    layout: &CsvLayout,
) -> Result<Columns, DataError> {
    let numeric = cells.iter().all(|c| c.parse::<f64>().is_ok());
    if !numeric && layout.header != Some(true) {
        if let Some(separator) = other_separator(content) {
            return Err(DataError::Separator {
                path: path.to_path_buf(),
                line,
                separator,
            });
        }
    }
    let counts_up = cells.iter().enumerate().all(|(i, c)| *c == i.to_string());
    let header = layout
        .header
        .unwrap_or(!numeric || (counts_up && cells.len() >= 2));
    if !header && !numeric {
        return Err(DataError::Header {
            path: path.to_path_buf(),
            line,
            text: quote(content),
        });
    }
    let index = (header && matches!(cells[0], "" | "Unnamed: 0")).then_some(0);
    if cells.len() < 2 + usize::from(index.is_some()) {
        return Err(DataError::TooFewColumns {
            path: path.to_path_buf(),
            line,
            found: cells.len(),
        });
    }
    let label = match &layout.label_column {
        None => cells.len() - 1,
        Some(LabelColumn::Index(i)) if *i < cells.len() && Some(*i) != index => *i,
        Some(LabelColumn::Index(i)) => {
            return Err(DataError::LabelColumnRange {
                path: path.to_path_buf(),
                index: *i,
                columns: cells.len(),
            })
        }
        Some(LabelColumn::Name(name)) => match cells.iter().position(|c| c == name) {
            Some(i) if header => i,
            _ => {
                return Err(DataError::LabelColumnName {
                    path: path.to_path_buf(),
                    name: name.clone(),
                    header: if header {
                        quote(content)
                    } else {
                        String::new()
                    },
                })
            }
        },
    };
    Ok(Columns {
        count: cells.len(),
        first_line: line,
        label,
        index,
        header,
    })
}

fn parse_feature(path: &Path, line: usize, column: usize, cell: &str) -> Result<f64, DataError> {
    let value: f64 = cell.parse().map_err(|_| DataError::BadCell {
        path: path.to_path_buf(),
        line,
        column,
        text: cell.to_string(),
    })?;
    // Rust's parser accepts "inf", "NaN" and overflowing literals such as "1e999".
    if !value.is_finite() {
        return Err(DataError::NonFinite {
            path: path.to_path_buf(),
            line,
            column,
            text: cell.to_string(),
        });
    }
    Ok(value)
}

fn parse_label(path: &Path, line: usize, column: usize, cell: &str) -> Result<u32, DataError> {
    if let Ok(label) = cell.parse::<u32>() {
        return Ok(label);
    }
    let value: f64 = cell.parse().map_err(|_| DataError::BadCell {
        path: path.to_path_buf(),
        line,
        column,
        text: cell.to_string(),
    })?;
    // Exporters such as pandas write integer labels as "7.0"; anything with a fractional part,
    // a sign or beyond u32 is a real mistake (regression targets, shifted columns).
    if value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value <= f64::from(u32::MAX) {
        return Ok(value as u32);
    }
    if value.is_finite() && value.fract() == 0.0 && value > f64::from(u32::MAX) {
        return Err(DataError::LabelTooLarge {
            path: path.to_path_buf(),
            line,
            column,
            text: cell.to_string(),
        });
    }
    Err(DataError::BadLabel {
        path: path.to_path_buf(),
        line,
        column,
        text: cell.to_string(),
    })
}

/// The separator a line uses instead of commas, if splitting it there gives only numbers
/// (a `;`-separated export, a TSV).
fn other_separator(content: &str) -> Option<char> {
    [';', '\t', '|', ' '].into_iter().find(|&sep| {
        let cells: Vec<&str> = content
            .split(sep)
            .map(str::trim)
            .filter(|c| !c.is_empty() || sep != ' ')
            .collect();
        cells.len() >= 2 && cells.iter().all(|c| c.parse::<f64>().is_ok())
    })
}

/// The 1-based line holding byte `offset`.
fn line_of_offset(bytes: &[u8], offset: usize) -> usize {
    let before = bytes.get(..offset).unwrap_or(bytes);
    before.iter().filter(|&&b| b == b'\n').count() + 1
}

fn quote(content: &str) -> String {
    let mut chars = content.chars();
    let head: String = chars.by_ref().take(HEADER_QUOTE_CHARS).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::path::PathBuf;

    const DIGITS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/digits.csv.gz");

    fn write(dir: &tempfile::TempDir, name: &str, content: &[u8]) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    fn load_text(content: &str) -> Result<RawData, DataError> {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "data.csv", content.as_bytes());
        load_csv(&path)
    }

    fn gzip(content: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(content).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn a_trailing_comma_is_named_not_taken_for_a_header() {
        for (text, line) in [
            ("1,2,0,\n3,4,1,\n", 1),
            ("a,b,label\n1,2,0\n3,4,1,\n", 3),
            ("\n0.5, 1 ,\n", 2),
        ] {
            let err = load_text(text).unwrap_err();
            assert!(
                matches!(err, DataError::TrailingComma { line: l, .. } if l == line),
                "{text:?}: {err}"
            );
            assert!(err.to_string().contains("trailing comma"), "{err}");
        }
        // An empty cell elsewhere is still a cell that is not a number.
        let err = load_text("1,,0\n").unwrap_err();
        assert!(!matches!(err, DataError::TrailingComma { .. }), "{err}");
    }

    #[test]
    fn digits_fixture_loads() {
        let raw = load_csv(Path::new(DIGITS)).unwrap();
        assert_eq!(raw.features.len(), 1797);
        assert_eq!(raw.labels.len(), 1797);
        assert!(raw.features.iter().all(|r| r.len() == 64));
        assert!(raw
            .features
            .iter()
            .flatten()
            .all(|&v| (0.0..=16.0).contains(&v) && v.fract() == 0.0));
        let mut counts = [0usize; 10];
        for &l in &raw.labels {
            counts[l as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c > 0), "{counts:?}");
        assert_eq!(counts[3], 183);
        assert_eq!(counts[8], 174);
        assert_eq!(raw.features[0][2], 5.0);
        assert_eq!(raw.labels[..3], [0, 1, 2]);
        assert!(raw.source.ends_with("digits.csv.gz"));
    }

    #[test]
    fn gz_and_plain_give_identical_data() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"0.5,-1,3\n\n2,1e-3,7.0\r\n 4 , 5 ,0\n";
        // The same path for both, so that even `source` must agree.
        let path = write(&dir, "data.csv", text);
        let plain = load_csv(&path).unwrap();
        write(&dir, "data.csv", &gzip(text));
        let packed = load_csv(&path).unwrap();
        assert_eq!(plain, packed);
        assert_eq!(
            plain.features,
            vec![vec![0.5, -1.0], vec![2.0, 1e-3], vec![4.0, 5.0]]
        );
        assert_eq!(plain.labels, vec![3, 7, 0]);
    }

    #[test]
    fn wrong_column_count_names_line_and_counts() {
        let err = load_text("1,2,0\n3,4,1\n5,6,7,1\n").unwrap_err();
        assert!(
            matches!(
                err,
                DataError::ColumnCount {
                    line: 3,
                    found: 4,
                    expected: 3,
                    first_line: 1,
                    ..
                }
            ),
            "{err}"
        );
        let msg = err.to_string();
        assert!(msg.contains("line 3") && msg.contains("data.csv"), "{msg}");
        assert!(
            msg.contains("4 columns") && msg.contains("3 were expected"),
            "{msg}"
        );
    }

    #[test]
    fn bad_cell_names_line_and_column() {
        let err = load_text("1,2,0\n\n3,x,1\n").unwrap_err();
        assert!(
            matches!(
                err,
                DataError::BadCell {
                    line: 3,
                    column: 2,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("line 3, column 2"), "{err}");

        for cell in ["inf", "NaN", "1e999"] {
            let err = load_text(&format!("1,2,0\n3,{cell},1\n")).unwrap_err();
            assert!(
                matches!(
                    err,
                    DataError::NonFinite {
                        line: 2,
                        column: 2,
                        ..
                    }
                ),
                "{err}"
            );
            assert!(err.to_string().contains("line 2"), "{err}");
        }
        let err = load_text("1,2,0\n3,,1\n").unwrap_err();
        assert!(matches!(err, DataError::BadCell { line: 2, .. }), "{err}");
    }

    #[test]
    fn a_header_line_is_recognised_and_read_past() {
        let raw = load_text("x1,x2,label\n1,2,0\n3,4,1\n").unwrap();
        assert_eq!(raw.features, vec![vec![1.0, 2.0], vec![3.0, 4.0]]);
        assert_eq!(raw.labels, vec![0, 1]);
        // The column names pandas gives a frame built from an array are numbers too.
        let raw = load_text("0,1,2\n5,6,1\n").unwrap();
        assert_eq!(raw.features, vec![vec![5.0, 6.0]]);
        // Forced off, a named first line is still refused with advice.
        let layout = CsvLayout {
            header: Some(false),
            label_column: None,
        };
        let err = parse_csv(Path::new("t.csv"), b"\n\npixel0,pixel1,label\n", &layout).unwrap_err();
        assert!(matches!(err, DataError::Header { line: 3, .. }), "{err}");
    }

    #[test]
    fn pandas_default_to_csv_drops_its_index_column() {
        // DataFrame({"a": [0.5, 0.25], "b": [1, 2], "label": [3, 4]}).to_csv(path)
        let raw = load_text(",a,b,label\n0,0.5,1,3\n1,0.25,2,4\n").unwrap();
        assert_eq!(raw.features, vec![vec![0.5, 1.0], vec![0.25, 2.0]]);
        assert_eq!(raw.labels, vec![3, 4]);
    }

    #[test]
    fn the_label_column_is_chosen_by_name_or_index() {
        let text = b"label,p0,p1\n7,0.5,1\n2,0.25,2\n";
        let layout = |c: &str| CsvLayout {
            header: None,
            label_column: Some(LabelColumn::parse(c)),
        };
        for chosen in ["label", "0"] {
            let raw = parse_csv(Path::new("t.csv"), text, &layout(chosen)).unwrap();
            assert_eq!(raw.labels, vec![7, 2]);
            assert_eq!(raw.features, vec![vec![0.5, 1.0], vec![0.25, 2.0]]);
        }
        let err = parse_csv(Path::new("t.csv"), text, &layout("digit")).unwrap_err();
        assert!(err.to_string().contains("'digit'"), "{err}");
        let err = parse_csv(Path::new("t.csv"), text, &layout("3")).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::LabelColumnRange {
                    index: 3,
                    columns: 3,
                    ..
                }
            ),
            "{err}"
        );
        let err = parse_csv(Path::new("t.csv"), b"7,0.5\n", &layout("label")).unwrap_err();
        assert!(matches!(err, DataError::LabelColumnName { .. }), "{err}");
    }

    #[test]
    fn labels_must_be_non_negative_integers() {
        let err = load_text("1,2,0\n3,4,-1\n").unwrap_err();
        assert!(
            matches!(
                err,
                DataError::BadLabel {
                    line: 2,
                    column: 3,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("line 2"), "{err}");
        for label in ["1.5", "inf", "-2.0"] {
            let err = load_text(&format!("1,2,0\n3,4,{label}\n")).unwrap_err();
            assert!(
                matches!(err, DataError::BadLabel { line: 2, .. }),
                "{label}: {err}"
            );
        }
        // Beyond u32: a class number too large, said so.
        let err = load_text("1,2,0\n3,4,4294967296\n").unwrap_err();
        assert!(
            matches!(err, DataError::LabelTooLarge { line: 2, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("too large"), "{err}");
        let err = load_text("1,2,0\n3,4,cat\n").unwrap_err();
        assert!(
            matches!(
                err,
                DataError::BadCell {
                    line: 2,
                    column: 3,
                    ..
                }
            ),
            "{err}"
        );

        let raw = load_text("1,2,7.0\n3,4,4294967295\n5,6,+2\n").unwrap();
        assert_eq!(raw.labels, vec![7, u32::MAX, 2]);
    }

    #[test]
    fn empty_and_missing_files_are_errors() {
        for content in ["", "\n\n  \n"] {
            let err = load_text(content).unwrap_err();
            assert!(matches!(err, DataError::Empty { .. }), "{err}");
            assert!(err.to_string().contains("data.csv"), "{err}");
        }
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.csv");
        let err = load_csv(&missing).unwrap_err();
        assert!(matches!(err, DataError::NotFound { .. }), "{err}");
        assert!(err.to_string().contains("missing.csv"), "{err}");
    }

    #[test]
    fn single_column_is_rejected() {
        let err = load_text("\n5\n6\n").unwrap_err();
        assert!(
            matches!(
                err,
                DataError::TooFewColumns {
                    line: 2,
                    found: 1,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn non_utf8_content_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "bin.csv", b"1,2,0\n3,4,1\n\xff\xfe,0\n");
        let err = load_csv(&path).unwrap_err();
        assert!(matches!(err, DataError::NotText { line: 3, .. }), "{err}");
    }

    #[test]
    fn byte_order_mark_and_long_header_are_handled() {
        let raw = load_text("\u{feff}1,2,0\n").unwrap();
        assert_eq!(raw.labels, vec![0]);
        let long = format!("{},label\n", vec!["pixel"; 40].join(";"));
        let layout = CsvLayout {
            header: Some(false),
            label_column: None,
        };
        let err = parse_csv(Path::new("t.csv"), long.as_bytes(), &layout).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains('…') && msg.len() < 300, "{msg}");
    }
}
