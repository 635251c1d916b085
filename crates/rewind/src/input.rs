//! Reading inputs whole: every file the tool reads at once (a data set, a plan, a results file,
//! a code file, a final model) is read through [`read_whole`] with a size limit, so that a
//! device such as `/dev/zero`, a FIFO or a mistaken multi-gigabyte path ends in a one-line error
//! naming the limit instead of an allocation failure (docs/design.md §6). Decompressed data is
//! bounded the same way, so a small gzip file cannot expand without limit. What such a file
//! says is untrusted: [`printable`] escapes its control characters before a terminal sees them.

use std::io::Read;
use std::path::Path;

/// The most bytes a data set may hold, after decompression (1 GiB: 40 times MNIST's 60,000
/// training images as a CSV).
pub const MAX_DATA_BYTES: u64 = 1 << 30;
/// The most bytes a results, claims or figures input may hold.
pub const MAX_RESULTS_BYTES: u64 = 1 << 30;
/// The most bytes a plan may hold (a plan lists axes, not runs).
pub const MAX_PLAN_BYTES: u64 = 1 << 20;
/// The most bytes a code file or a final model may hold.
pub const MAX_CODE_BYTES: u64 = 1 << 30;

/// Why a file could not be read whole.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The operating system's error.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The file (or its decompression) holds more than the limit.
    #[error("it holds more than {} (the most this rewind reads from such a file); pass the file meant, not a device or a larger file", bytes(*.0))]
    TooLarge(u64),
}

/// A size in words: "1 GiB", "1 MiB", "512 bytes".
pub fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 && n % (1 << 30) == 0 => format!("{} GiB", n >> 30),
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n => format!("{n} bytes"),
    }
}

/// The whole content of `path`, refused without reading it when its size is known to be above
/// `limit`, and otherwise read up to `limit` + 1 bytes (devices and pipes say no size).
pub fn read_whole(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let file = std::fs::File::open(path)?;
    if file
        .metadata()
        .is_ok_and(|m| m.is_file() && m.len() > limit)
    {
        return Err(ReadError::TooLarge(limit));
    }
    read_bounded(file, limit)
}

/// Everything `reader` yields, or [`ReadError::TooLarge`] once it yields more than `limit`.
pub fn read_bounded(reader: impl Read, limit: u64) -> Result<Vec<u8>, ReadError> {
    let mut out = Vec::new();
    reader.take(limit.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(ReadError::TooLarge(limit));
    }
    Ok(out)
}

/// Untrusted text (a header field, a file's first line, a plan's name, a path) made safe for a
/// terminal: every control character, newlines included, is written as a Rust escape (`\u{1b}`),
/// so an escape sequence in a file cannot move the cursor, recolour or retitle the terminal, and
/// a message stays on one line.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return text.into();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_device_is_refused_at_the_limit() {
        let e = read_whole(Path::new("/dev/zero"), 4096).unwrap_err();
        assert!(matches!(e, ReadError::TooLarge(4096)), "{e}");
        assert!(e.to_string().contains("4096 bytes"), "{e}");
    }

    #[test]
    fn a_file_at_the_limit_is_read_and_one_byte_more_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, [7u8; 10]).unwrap();
        assert_eq!(read_whole(&p, 10).unwrap(), vec![7u8; 10]);
        assert!(matches!(read_whole(&p, 9), Err(ReadError::TooLarge(9))));
        assert_eq!(bytes(1 << 30), "1 GiB");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("plain ε"), "plain ε");
        assert_eq!(
            printable("a\u{1b}[31mred\u{7}\n"),
            "a\\u{1b}[31mred\\u{7}\\n"
        );
    }
}
