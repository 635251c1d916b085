//! Atomic outputs: every file `rewind` writes goes through this module.
//!
//! An [`Output`] writes into a temporary file beside its destination (same directory, so the
//! final rename never crosses a file system); [`Output::commit`] flushes it, syncs it to disk,
//! checks every error, and renames it over the destination. Until then the destination is
//! untouched, and an output dropped without commit (a failed run) removes its temporary file:
//! a reader sees either the previous file or the complete new one, never a torn one.
//! [`commit_together`] commits several outputs that belong together (a code file and its final
//! model) only once all of them are safely on disk.
//!
//! A destination that exists and is not a regular file (`/dev/stdout`, a pipe, `/dev/full`) is
//! written directly, since renaming a file over a device would replace the device; its write
//! and flush errors are still checked.
//!
//! [`check_paths`] refuses a command whose output would overwrite one of its inputs or another
//! of its outputs, comparing canonical paths (a file that does not exist yet is identified by
//! its canonical directory and its name).

use crate::Error;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A file being written; it replaces its destination only on [`Output::commit`].
#[derive(Debug)]
pub struct Output {
    /// The path as the user gave it, for messages.
    shown: PathBuf,
    /// The file replaced: `shown` with a symbolic link followed.
    dest: PathBuf,
    /// The temporary file, `None` when the destination is written directly.
    tmp: Option<PathBuf>,
    file: Option<BufWriter<File>>,
}

/// Distinguishes the temporary files of one process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The advice that goes with a failed write, by cause.
pub fn advice(e: &std::io::Error) -> &'static str {
    match (e.kind(), e.raw_os_error()) {
        (std::io::ErrorKind::NotFound, _) => {
            "check that its directory exists (it may have been removed)"
        }
        (std::io::ErrorKind::PermissionDenied, _) => "choose a directory you can write to",
        (_, Some(28)) => "the disk is full; free some space or write elsewhere",
        _ => "check that its directory exists and is writable",
    }
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The directory a path's file lives in ("." for a bare file name).
fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

impl Output {
    /// Starts writing `dest`. Fails at once if its directory is missing or not writable, so a
    /// long run does not end with nowhere to put its result.
    pub fn create(path: &Path) -> Result<Output, Error> {
        let shown = path.to_path_buf();
        // A symbolic link is followed, so the file it names is the one replaced.
        let dest = match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => {
                std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
            }
            _ => path.to_path_buf(),
        };
        match std::fs::metadata(&dest) {
            Ok(m) if m.is_dir() => {
                return Err(Error::Config(format!(
                    "{} is a directory; give a file name for this output",
                    shown.display()
                )))
            }
            Ok(m) if !m.is_file() => {
                let file = OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(&dest)
                    .map_err(|e| io_error(&shown, e))?;
                return Ok(Output {
                    shown,
                    dest,
                    tmp: None,
                    file: Some(BufWriter::new(file)),
                });
            }
            _ => {}
        }
        let name = dest
            .file_name()
            .ok_or_else(|| {
                Error::Config(format!(
                    "{} does not name a file; give a file name for this output",
                    dest.display()
                ))
            })?
            .to_string_lossy()
            .into_owned();
        let tmp = parent_of(&dest).join(format!(
            ".{name}.{}.{}.tmp",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| io_error(&shown, e))?;
        Ok(Output {
            shown,
            dest,
            tmp: Some(tmp),
            file: Some(BufWriter::new(file)),
        })
    }

    /// Where this output goes, as the user named it.
    pub fn path(&self) -> &Path {
        &self.shown
    }

    /// A write error, reported against the destination.
    pub fn error(&self, source: std::io::Error) -> Error {
        io_error(&self.shown, source)
    }

    /// Writes all of `bytes`.
    pub fn put(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.write_all(bytes).map_err(|e| io_error(&self.shown, e))
    }

    /// Flushes and syncs; every error is reported against the destination.
    fn finish(&mut self) -> Result<(), Error> {
        let Some(w) = self.file.take() else {
            return Ok(());
        };
        let file = w
            .into_inner()
            .map_err(|e| io_error(&self.shown, e.into_error()))?;
        match file.sync_all() {
            Ok(()) => Ok(()),
            // Devices and pipes cannot be synced; what was written has been accepted.
            Err(e) if self.tmp.is_none() && e.kind() == std::io::ErrorKind::InvalidInput => Ok(()),
            Err(e) => Err(io_error(&self.shown, e)),
        }
    }

    /// Renames the finished temporary file over the destination.
    fn rename(&mut self) -> Result<(), Error> {
        let Some(tmp) = self.tmp.take() else {
            return Ok(());
        };
        if let Err(e) = std::fs::rename(&tmp, &self.dest) {
            let _ = std::fs::remove_file(&tmp);
            return Err(io_error(&self.shown, e));
        }
        // The rename itself is made durable by syncing the directory (best effort: not every
        // platform can open a directory).
        if let Ok(dir) = File::open(parent_of(&self.dest)) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// Flushes, syncs, checks and renames: the destination now holds the complete file.
    pub fn commit(mut self) -> Result<(), Error> {
        self.finish()?;
        self.rename()
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.file {
            Some(f) => f.write(buf),
            None => Err(std::io::Error::other("output already finished")),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            self.file.take();
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// Commits outputs that belong together: all are flushed and synced before any is renamed, and
/// if a rename fails the ones already renamed are removed, so that no destination is left
/// without its companions.
pub fn commit_together(mut outputs: Vec<Output>) -> Result<(), Error> {
    for o in &mut outputs {
        o.finish()?;
    }
    let mut done: Vec<PathBuf> = Vec::new();
    for o in &mut outputs {
        let direct = o.tmp.is_none();
        if let Err(e) = o.rename() {
            for p in &done {
                let _ = std::fs::remove_file(p);
            }
            return Err(e);
        }
        if !direct {
            done.push(o.dest.clone());
        }
    }
    Ok(())
}

/// Writes `bytes` to `dest` atomically.
pub fn write_file(dest: &Path, bytes: &[u8]) -> Result<(), Error> {
    let mut o = Output::create(dest)?;
    o.put(bytes)?;
    o.commit()
}

/// What identifies a file: its canonical path, or for a file not yet created, its canonical
/// directory joined with its name.
fn identity(path: &Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    let dir = std::fs::canonicalize(parent_of(path)).unwrap_or_else(|_| {
        std::env::current_dir()
            .map(|d| d.join(parent_of(path)))
            .unwrap_or_else(|_| parent_of(path).to_path_buf())
    });
    match path.file_name() {
        Some(name) => dir.join(name),
        None => dir,
    }
}

/// Refuses outputs that would overwrite an input or each other. Each path comes with the flag
/// or role the user knows it by, e.g. `("--out", path)` or `("the data set", path)`.
pub fn check_paths(inputs: &[(&str, &Path)], outputs: &[(&str, &Path)]) -> Result<(), Error> {
    let ids: Vec<PathBuf> = outputs.iter().map(|(_, p)| identity(p)).collect();
    for (i, (what, path)) in outputs.iter().enumerate() {
        if is_device(path) {
            continue;
        }
        for (input, ip) in inputs {
            if identity(ip) == ids[i] {
                return Err(Error::Config(format!(
                    "{what} {} is {input}, which this command reads; write the output elsewhere",
                    path.display()
                )));
            }
        }
        for (other, op) in outputs.iter().take(i) {
            if identity(op) == ids[i] {
                return Err(Error::Config(format!(
                    "{what} {} is also {other}; give each output its own file",
                    path.display()
                )));
            }
        }
    }
    Ok(())
}

/// An existing destination that is not a regular file or directory (a device, a pipe).
fn is_device(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_output_leaves_nothing_and_a_committed_one_replaces_the_file() {
        let dir = tempfile::TempDir::new().unwrap();
        let dest = dir.path().join("r.json");
        std::fs::write(&dest, "old").unwrap();
        let mut o = Output::create(&dest).unwrap();
        o.write_all(b"half").unwrap();
        drop(o);
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        write_file(&dest, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn same_files_are_refused_whatever_they_are_called() {
        let dir = tempfile::TempDir::new().unwrap();
        let input = dir.path().join("data.csv");
        std::fs::write(&input, "1,0\n").unwrap();
        let dotted = dir.path().join(".").join("data.csv");
        let e = check_paths(&[("the data set", &input)], &[("--out", &dotted)]).unwrap_err();
        assert!(e.to_string().contains("the data set"), "{e}");
        let a = dir.path().join("new.json");
        let b = dir.path().join("sub/../new.json");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let e = check_paths(&[], &[("--out", &a), ("--dump-data", &b)]).unwrap_err();
        assert!(e.to_string().contains("--out"), "{e}");
        assert!(check_paths(&[("x", &input)], &[("--out", &a)]).is_ok());
    }
}
