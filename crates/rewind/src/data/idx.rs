//! The IDX loader for MNIST-style image/label file pairs (MNIST, Fashion-MNIST, KMNIST).
//!
//! IDX is big-endian: a 4-byte magic `00 00 type ndims`, then `ndims` u32 dimensions, then the
//! data. Images are `0x00000803` (u8 pixels, n × rows × cols), labels `0x00000801` (n u8 labels).
//! Files may be raw or gzip-compressed (detected by content). Every declared size is checked
//! against the actual byte count before any pixel is read, so a truncated download is reported
//! as such instead of yielding a short or garbled data set. Pixels become features 0–255, one
//! row per image in row-major order.

use super::{read_file, DataError, RawData};
use std::path::{Path, PathBuf};

/// Magic number of an IDX file of u8 values with 3 dimensions (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of u8 values with 1 dimension (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// Loads an images file and its labels file (each raw or `.gz`).
pub fn load_idx(images: &Path, labels: &Path) -> Result<RawData, DataError> {
    let image_bytes = read_file(images)?;
    let label_bytes = read_file(labels)?;
    parse_pair(images, &image_bytes, labels, &label_bytes)
}

/// The conventional labels file beside `images`, if it exists: `train-images-idx3-ubyte[.gz]`
/// → `train-labels-idx1-ubyte[.gz]`, `t10k-images.idx3-ubyte` → `t10k-labels.idx1-ubyte`.
/// A labels file compressed differently from the images (`.gz` on one only) is found too.
pub fn labels_path_for(images: &Path) -> Option<PathBuf> {
    label_candidates(images).into_iter().find(|p| p.is_file())
}

/// Writes a plain (uncompressed) IDX pair; for tests and small hand-made data sets.
///
/// Every entry of `pixels` must hold `rows·cols` values and there must be one label per image;
/// otherwise this returns an `InvalidInput` error and writes nothing.
pub fn write_idx(
    images: &Path,
    labels: &Path,
    rows: usize,
    cols: usize,
    pixels: &[Vec<u8>],
    label_values: &[u8],
) -> std::io::Result<()> {
    let invalid = |msg: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, msg);
    if pixels.len() != label_values.len() {
        return Err(invalid(format!(
            "write_idx got {} images but {} labels; pass one label per image",
            pixels.len(),
            label_values.len()
        )));
    }
    let per_image = rows
        .checked_mul(cols)
        .ok_or_else(|| invalid(format!("write_idx: {rows}×{cols} pixels overflow usize")))?;
    if let Some((i, p)) = pixels
        .iter()
        .enumerate()
        .find(|(_, p)| p.len() != per_image)
    {
        return Err(invalid(format!(
            "write_idx: image {i} has {} pixels, not rows·cols = {per_image}",
            p.len()
        )));
    }
    let dim = |v: usize, what: &str| {
        u32::try_from(v).map_err(|_| invalid(format!("write_idx: {what} = {v} exceeds u32")))
    };
    let n = dim(pixels.len(), "image count")?;

    let mut image_bytes = Vec::with_capacity(16 + pixels.len() * per_image);
    for word in [IMAGES_MAGIC, n, dim(rows, "rows")?, dim(cols, "cols")?] {
        image_bytes.extend_from_slice(&word.to_be_bytes());
    }
    for p in pixels {
        image_bytes.extend_from_slice(p);
    }
    let mut label_bytes = Vec::with_capacity(8 + label_values.len());
    for word in [LABELS_MAGIC, n] {
        label_bytes.extend_from_slice(&word.to_be_bytes());
    }
    label_bytes.extend_from_slice(label_values);

    std::fs::write(images, image_bytes)?;
    std::fs::write(labels, label_bytes)
}

/// Parses the decompressed contents of an images file and its labels file.
pub(crate) fn parse_pair(
    images: &Path,
    image_bytes: &[u8],
    labels: &Path,
    label_bytes: &[u8],
) -> Result<RawData, DataError> {
    let (dims, pixels) = parse_idx(images, image_bytes, "images", IMAGES_MAGIC)?;
    let (label_dims, label_data) = parse_idx(labels, label_bytes, "labels", LABELS_MAGIC)?;
    let (&[n_images, rows, cols], &[n_labels]) = (dims.as_slice(), label_dims.as_slice()) else {
        // parse_idx returns as many dimensions as the magic number's last byte says.
        return Err(DataError::IdxHeader {
            path: images.to_path_buf(),
            why: "unexpected number of dimensions".into(),
        });
    };
    if n_images != n_labels {
        return Err(DataError::IdxCountMismatch {
            images: images.to_path_buf(),
            labels: labels.to_path_buf(),
            n_images: n_images.into(),
            n_labels: n_labels.into(),
        });
    }
    if n_images == 0 {
        return Err(DataError::IdxEmpty {
            path: images.to_path_buf(),
        });
    }
    // The size check in parse_idx guarantees rows·cols fits the (in-memory) file, hence usize.
    let per_image = usize::try_from(u64::from(rows) * u64::from(cols)).unwrap_or(0);
    if per_image == 0 {
        return Err(DataError::IdxHeader {
            path: images.to_path_buf(),
            why: format!("it declares images of {rows}×{cols} pixels"),
        });
    }
    let features = pixels
        .chunks_exact(per_image)
        .map(|img| img.iter().map(|&b| f64::from(b)).collect())
        .collect();
    Ok(RawData {
        features,
        labels: label_data.iter().map(|&b| u32::from(b)).collect(),
        source: images.display().to_string(),
    })
}

/// Checks the magic number and that the file is exactly as long as its dimensions say; returns
/// the dimensions and the data that follows the header.
fn parse_idx<'a>(
    path: &Path,
    bytes: &'a [u8],
    what: &'static str,
    magic: u32,
) -> Result<(Vec<u32>, &'a [u8]), DataError> {
    let actual = bytes.len() as u64;
    let ndims = (magic & 0xff) as usize;
    let header_len = 4 + 4 * ndims;
    let size_error = |expected: u64, problem: String| DataError::IdxSize {
        path: path.to_path_buf(),
        expected,
        actual,
        problem,
    };

    let Some(magic_bytes) = bytes.get(..4) else {
        return Err(size_error(
            header_len as u64,
            "the file ends inside the header".into(),
        ));
    };
    let found = be_u32(magic_bytes);
    if found != magic {
        return Err(DataError::IdxMagic {
            path: path.to_path_buf(),
            what,
            found,
            expected: magic,
        });
    }
    let Some(header) = bytes.get(4..header_len) else {
        return Err(size_error(
            header_len as u64,
            "the file ends inside the header".into(),
        ));
    };
    let dims: Vec<u32> = header.chunks_exact(4).map(be_u32).collect();
    let body_len = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(u64::from(d)))
        .and_then(|b| b.checked_add(header_len as u64));
    let Some(expected) = body_len else {
        return Err(DataError::IdxHeader {
            path: path.to_path_buf(),
            why: format!("its dimensions {dims:?} multiply to more than 2^64 bytes"),
        });
    };
    if actual < expected {
        return Err(size_error(expected, "the file is truncated".into()));
    }
    if actual > expected {
        return Err(size_error(
            expected,
            format!("{} unexpected bytes follow the data", actual - expected),
        ));
    }
    let data = bytes.get(header_len..).unwrap_or_default();
    Ok((dims, data))
}

fn be_u32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b))
}

/// Candidate labels paths for `images`, most likely first: the name with `images` → `labels`
/// and `idx3` → `idx1`, then the same with `.gz` added or removed.
fn label_candidates(images: &Path) -> Vec<PathBuf> {
    let Some(name) = images.file_name().and_then(|n| n.to_str()) else {
        return Vec::new();
    };
    let swapped = name.replace("images", "labels").replace("idx3", "idx1");
    if swapped == name {
        return Vec::new();
    }
    let toggled = match swapped.strip_suffix(".gz") {
        Some(stem) => stem.to_string(),
        None => format!("{swapped}.gz"),
    };
    vec![
        images.with_file_name(swapped),
        images.with_file_name(toggled),
    ]
}

/// What [`labels_path_for`] looked for, for the "labels not found" message.
pub(crate) fn describe_label_candidates(images: &Path) -> String {
    let candidates = label_candidates(images);
    if candidates.is_empty() {
        return "no labels name follows from this name; name the pair like \
                train-images-idx3-ubyte and train-labels-idx1-ubyte"
            .into();
    }
    let names: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
    format!("looked for {}", names.join(" and "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    struct Pair {
        _dir: tempfile::TempDir,
        images: PathBuf,
        labels: PathBuf,
    }

    fn sample_pixels() -> Vec<Vec<u8>> {
        vec![
            vec![0, 1, 2, 3, 4, 5],
            vec![255, 128, 7, 0, 0, 9],
            vec![6; 6],
        ]
    }

    fn write_pair(pixels: &[Vec<u8>], labels: &[u8]) -> Pair {
        let dir = tempfile::tempdir().unwrap();
        let images = dir.path().join("train-images-idx3-ubyte");
        let label_path = dir.path().join("train-labels-idx1-ubyte");
        write_idx(&images, &label_path, 2, 3, pixels, labels).unwrap();
        Pair {
            _dir: dir,
            images,
            labels: label_path,
        }
    }

    fn gzip_file(path: &Path) -> PathBuf {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&std::fs::read(path).unwrap()).unwrap();
        let out = PathBuf::from(format!("{}.gz", path.display()));
        std::fs::write(&out, enc.finish().unwrap()).unwrap();
        out
    }

    fn expected(pixels: &[Vec<u8>]) -> Vec<Vec<f64>> {
        pixels
            .iter()
            .map(|p| p.iter().map(|&b| f64::from(b)).collect())
            .collect()
    }

    #[test]
    fn round_trip_raw_and_gz() {
        let pixels = sample_pixels();
        let pair = write_pair(&pixels, &[3, 0, 9]);
        let raw = load_idx(&pair.images, &pair.labels).unwrap();
        assert_eq!(raw.features, expected(&pixels));
        assert_eq!(raw.labels, vec![3, 0, 9]);
        assert_eq!(std::fs::metadata(&pair.images).unwrap().len(), 16 + 18);

        let gz_images = gzip_file(&pair.images);
        let gz_labels = gzip_file(&pair.labels);
        let packed = load_idx(&gz_images, &gz_labels).unwrap();
        assert_eq!(packed.features, raw.features);
        assert_eq!(packed.labels, raw.labels);
        // Mixed compression is fine too.
        assert_eq!(
            load_idx(&gz_images, &pair.labels).unwrap().labels,
            raw.labels
        );
    }

    #[test]
    fn truncated_file_is_named() {
        let pair = write_pair(&sample_pixels(), &[1, 2, 3]);
        let bytes = std::fs::read(&pair.images).unwrap();
        std::fs::write(&pair.images, &bytes[..bytes.len() - 1]).unwrap();
        let err = load_idx(&pair.images, &pair.labels).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::IdxSize {
                    expected: 34,
                    actual: 33,
                    ..
                }
            ),
            "{err}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("train-images-idx3-ubyte") && msg.contains("truncated"),
            "{msg}"
        );

        std::fs::write(&pair.images, &bytes[..10]).unwrap();
        let err = load_idx(&pair.images, &pair.labels).unwrap_err();
        assert!(matches!(err, DataError::IdxSize { .. }), "{err}");

        std::fs::write(&pair.images, &bytes[..2]).unwrap();
        let err = load_idx(&pair.images, &pair.labels).unwrap_err();
        assert!(matches!(err, DataError::IdxSize { .. }), "{err}");

        let mut longer = bytes.clone();
        longer.push(0);
        std::fs::write(&pair.images, longer).unwrap();
        let err = load_idx(&pair.images, &pair.labels).unwrap_err();
        assert!(matches!(err, DataError::IdxSize { .. }), "{err}");
        assert!(err.to_string().contains("1 unexpected bytes"), "{err}");
    }

    #[test]
    fn wrong_magic_is_an_error() {
        let pair = write_pair(&sample_pixels(), &[1, 2, 3]);
        // Images and labels swapped.
        let err = load_idx(&pair.labels, &pair.images).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::IdxMagic {
                    found: LABELS_MAGIC,
                    expected: IMAGES_MAGIC,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("0x00000801"), "{err}");

        let mut bytes = std::fs::read(&pair.labels).unwrap();
        bytes[2] = 0x0d; // a float IDX file
        std::fs::write(&pair.labels, bytes).unwrap();
        let err = load_idx(&pair.images, &pair.labels).unwrap_err();
        assert!(
            matches!(err, DataError::IdxMagic { what: "labels", .. }),
            "{err}"
        );
    }

    #[test]
    fn count_mismatch_is_an_error() {
        let three = write_pair(&sample_pixels(), &[1, 2, 3]);
        let two = write_pair(&sample_pixels()[..2], &[1, 2]);
        let err = load_idx(&three.images, &two.labels).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::IdxCountMismatch {
                    n_images: 3,
                    n_labels: 2,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn degenerate_headers_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let (images, labels) = (dir.path().join("a-images"), dir.path().join("a-labels"));
        write_idx(&images, &labels, 2, 3, &[], &[]).unwrap();
        let err = load_idx(&images, &labels).unwrap_err();
        assert!(matches!(err, DataError::IdxEmpty { .. }), "{err}");
        assert!(
            err.to_string().contains("IDX") && !err.to_string().contains("row"),
            "{err}"
        );

        write_idx(&images, &labels, 0, 3, &[vec![]], &[1]).unwrap();
        let err = load_idx(&images, &labels).unwrap_err();
        assert!(matches!(err, DataError::IdxHeader { .. }), "{err}");

        let mut huge = Vec::new();
        for w in [IMAGES_MAGIC, u32::MAX, u32::MAX, u32::MAX] {
            huge.extend_from_slice(&w.to_be_bytes());
        }
        std::fs::write(&images, huge).unwrap();
        let err = load_idx(&images, &labels).unwrap_err();
        assert!(matches!(err, DataError::IdxHeader { .. }), "{err}");
    }

    #[test]
    fn write_idx_rejects_inconsistent_input() {
        let dir = tempfile::tempdir().unwrap();
        let (images, labels) = (dir.path().join("i"), dir.path().join("l"));
        assert!(write_idx(&images, &labels, 1, 2, &[vec![1, 2]], &[]).is_err());
        assert!(write_idx(&images, &labels, 1, 2, &[vec![1]], &[0]).is_err());
        assert!(!images.exists());
    }

    #[test]
    fn labels_path_follows_the_naming_conventions() {
        let cases = [
            ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
            ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
            ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
            ("t10k-images.idx3-ubyte", "t10k-labels.idx1-ubyte"),
            // Compressed images next to raw labels, and the other way round.
            ("x-images-idx3-ubyte.gz", "x-labels-idx1-ubyte"),
            ("x-images-idx3-ubyte", "x-labels-idx1-ubyte.gz"),
        ];
        for (img, lab) in cases {
            let dir = tempfile::tempdir().unwrap();
            let img = dir.path().join(img);
            assert_eq!(labels_path_for(&img), None, "{lab} does not exist yet");
            let lab = dir.path().join(lab);
            std::fs::write(&lab, b"").unwrap();
            assert_eq!(labels_path_for(&img), Some(lab));
        }
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("digits.csv");
        std::fs::write(&csv, b"").unwrap();
        assert_eq!(labels_path_for(&csv), None);
        assert_eq!(labels_path_for(Path::new("/")), None);
    }
}
