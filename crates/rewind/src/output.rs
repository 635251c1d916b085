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
//! Several writers in one directory: [`commit_together`] renames a pair under a [`Lock`] beside
//! the first destination, checks afterwards that every destination holds the file this writer
//! wrote (so two `rewind encode` runs cannot leave the code of one beside the final model of the
//! other), and when a later rename fails puts the previous files back. A sweep holds a lock on
//! its results file while it runs ([`Lock::try_acquire`]), so a second sweep says one is running.
//!
//! Interruptions: every live temporary file and lock is registered, and
//! [`remove_temporaries`] (called by the front end's SIGINT/SIGTERM/SIGHUP handler) removes them.
//! A `kill -9` leaves them behind; the next [`Output::create`] for the same destination removes
//! those of processes that no longer run.
//!
//! [`check_paths`] refuses a command whose output would overwrite one of its inputs or another
//! of its outputs, comparing canonical paths (a file that does not exist yet is identified by
//! its canonical directory and its name).

use crate::Error;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

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

/// Every temporary file and lock this process holds now, for [`remove_temporaries`].
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn register(path: &Path) {
    if let Ok(mut live) = LIVE.lock() {
        live.push(path.to_path_buf());
    }
}

fn unregister(path: &Path) {
    if let Ok(mut live) = LIVE.lock() {
        live.retain(|p| p != path);
    }
}

/// Removes every temporary file and lock this process holds; returns how many. For a signal
/// handler that then ends the process: the destinations keep their previous content.
pub fn remove_temporaries() -> usize {
    let Ok(mut live) = LIVE.lock() else { return 0 };
    let n = live
        .iter()
        .filter(|p| std::fs::remove_file(p).is_ok())
        .count();
    live.clear();
    n
}

/// Whether process `pid` still runs, where the system says (Linux's /proc); `true` when it
/// cannot tell, so nothing of a live process is ever removed.
fn alive(pid: u32) -> bool {
    if !Path::new("/proc/self").exists() {
        return true;
    }
    pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes the temporary files `.NAME.PID.N.tmp` (and backups `.bak`) beside `dest` left by
/// processes that no longer run (a `kill -9`, a power cut); returns how many.
fn sweep_leftovers(dest: &Path, name: &str) -> usize {
    let prefix = format!(".{name}.");
    let Ok(entries) = std::fs::read_dir(parent_of(dest)) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = file.strip_prefix(&prefix) else {
            continue;
        };
        let Some(rest) = rest
            .strip_suffix(".tmp")
            .or_else(|| rest.strip_suffix(".bak"))
        else {
            continue;
        };
        let mut parts = rest.split('.');
        let (Some(pid), Some(n), None) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let (Ok(pid), true) = (pid.parse::<u32>(), n.bytes().all(|b| b.is_ascii_digit())) else {
            continue;
        };
        if !alive(pid) && std::fs::remove_file(e.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// A lock file `.NAME.lock` beside a destination, holding the owner's process id: created with
/// `create_new`, so exactly one process holds it; a lock whose owner no longer runs is taken
/// over. Released (removed) on drop.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
}

impl Lock {
    fn path_for(dest: &Path) -> PathBuf {
        let name = dest.file_name().unwrap_or_default().to_string_lossy();
        parent_of(dest).join(format!(".{name}.lock"))
    }

    /// Takes the lock, or says which live process holds it.
    fn attempt(dest: &Path) -> Result<Result<Lock, u32>, Error> {
        let path = Lock::path_for(dest);
        for _ in 0..3 {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    register(&path);
                    let lock = Lock { path };
                    f.write_all(std::process::id().to_string().as_bytes())
                        .map_err(|e| io_error(&lock.path, e))?;
                    return Ok(Ok(lock));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let owner = std::fs::read_to_string(&path)
                        .ok()
                        .and_then(|t| t.trim().parse::<u32>().ok());
                    match owner {
                        Some(pid) if alive(pid) => return Ok(Err(pid)),
                        // Just created and not yet written: its owner is alive.
                        None => return Ok(Err(0)),
                        Some(_) => {
                            let _ = std::fs::remove_file(&path);
                        }
                    }
                }
                Err(e) => return Err(io_error(&path, e)),
            }
        }
        Ok(Err(0))
    }

    /// Takes the lock beside `dest` now, or refuses: "`what` (process N) is writing it".
    pub fn try_acquire(dest: &Path, what: &str) -> Result<Lock, Error> {
        match Lock::attempt(dest)? {
            Ok(lock) => Ok(lock),
            Err(pid) => Err(Error::Config(format!(
                "{what}{} is writing {} now (it holds {}); wait for it to finish, or write elsewhere",
                if pid == 0 { String::new() } else { format!(" (process {pid})") },
                dest.display(),
                Lock::path_for(dest).display()
            ))),
        }
    }

    /// Takes the lock beside `dest`, waiting up to `patience` for another writer to finish.
    pub fn acquire(dest: &Path, patience: Duration) -> Result<Lock, Error> {
        let start = std::time::Instant::now();
        loop {
            if let Ok(lock) = Lock::attempt(dest)? {
                return Ok(lock);
            }
            if start.elapsed() > patience {
                return Lock::try_acquire(dest, "another rewind");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        unregister(&self.path);
    }
}

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
        sweep_leftovers(&dest, &name);
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
        register(&tmp);
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
        let renamed = std::fs::rename(&tmp, &self.dest);
        if renamed.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        unregister(&tmp);
        if let Err(e) = renamed {
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
            let _ = std::fs::remove_file(&tmp);
            unregister(&tmp);
        }
    }
}

/// How long a commit waits for another writer's commit to the same destination.
const COMMIT_PATIENCE: Duration = Duration::from_secs(60);

/// Commits outputs that belong together: all are flushed and synced before any is renamed; the
/// renames happen under a [`Lock`] beside the first destination, so two writers cannot
/// interleave their pairs; if a rename fails, the destinations already replaced get their
/// previous files back (or are removed when there was none); and after the renames each
/// destination must be the very file this writer wrote, or the commit fails.
pub fn commit_together(mut outputs: Vec<Output>) -> Result<(), Error> {
    for o in &mut outputs {
        o.finish()?;
    }
    let Some(first) = outputs.iter().find(|o| o.tmp.is_some()) else {
        return Ok(());
    };
    let _lock = Lock::acquire(&first.dest, COMMIT_PATIENCE)?;
    let mut backups: Vec<(PathBuf, Option<PathBuf>)> = Vec::new();
    let mut written = Vec::new();
    for o in &mut outputs {
        let Some(tmp) = o.tmp.clone() else { continue };
        written.push((o.dest.clone(), o.shown.clone(), file_id(&tmp)));
        let backup = backup_of(&o.dest);
        if let Err(e) = o.rename() {
            restore(&backups);
            if let Some(b) = backup {
                let _ = std::fs::remove_file(b);
            }
            return Err(e);
        }
        backups.push((o.dest.clone(), backup));
    }
    for (_, b) in &backups {
        if let Some(b) = b {
            let _ = std::fs::remove_file(b);
            unregister(b);
        }
    }
    for (dest, shown, id) in written {
        if id.is_some() && file_id(&dest) != id {
            return Err(Error::Config(format!(
                "{} was replaced by another writer while this one committed its files; the files on disk may not belong together: run again, one writer at a time",
                shown.display()
            )));
        }
    }
    Ok(())
}

/// What identifies a file on disk across a rename: its device and inode (Unix).
#[cfg(unix)]
fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(_path: &Path) -> Option<(u64, u64)> {
    None
}

/// A hard link `.NAME.PID.N.bak` to the destination's previous file, if it has one.
fn backup_of(dest: &Path) -> Option<PathBuf> {
    let name = dest.file_name()?.to_string_lossy().into_owned();
    let backup = parent_of(dest).join(format!(
        ".{name}.{}.{}.bak",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::hard_link(dest, &backup).ok()?;
    register(&backup);
    Some(backup)
}

/// Puts back the previous files of destinations already replaced (removing those that had
/// none), after a later rename of the same commit failed.
fn restore(backups: &[(PathBuf, Option<PathBuf>)]) {
    for (dest, backup) in backups {
        match backup {
            Some(b) => {
                let _ = std::fs::rename(b, dest);
                unregister(b);
            }
            None => {
                let _ = std::fs::remove_file(dest);
            }
        }
    }
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
    fn a_failed_second_rename_puts_the_previous_pair_back() {
        let dir = tempfile::TempDir::new().unwrap();
        let (a, b) = (dir.path().join("code.bin"), dir.path().join("model.json"));
        std::fs::write(&a, "old code").unwrap();
        std::fs::write(&b, "old model").unwrap();
        let mut oa = Output::create(&a).unwrap();
        let mut ob = Output::create(&b).unwrap();
        oa.put(b"new code").unwrap();
        ob.put(b"new model").unwrap();
        // The second destination becomes a non-empty directory: its rename fails.
        std::fs::remove_file(&b).unwrap();
        std::fs::create_dir(&b).unwrap();
        std::fs::write(b.join("x"), "").unwrap();
        assert!(commit_together(vec![oa, ob]).is_err());
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "old code");
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left.len(), 2, "{left:?}");
    }

    #[test]
    fn leftovers_of_dead_processes_are_removed_and_a_held_lock_refuses() {
        let dir = tempfile::TempDir::new().unwrap();
        let dest = dir.path().join("r.json");
        // PID 4194304 is above Linux's largest.
        let dead = dir.path().join(".r.json.4194304.0.tmp");
        let other = dir.path().join(".other.json.4194304.0.tmp");
        std::fs::write(&dead, "half").unwrap();
        std::fs::write(&other, "half").unwrap();
        write_file(&dest, b"new").unwrap();
        assert!(!dead.exists() && other.exists());
        let held = Lock::try_acquire(&dest, "a sweep").unwrap();
        let e = Lock::try_acquire(&dest, "a sweep").unwrap_err().to_string();
        assert!(
            e.contains("a sweep (process") && e.contains("is writing"),
            "{e}"
        );
        drop(held);
        // A lock left by a dead process is taken over.
        std::fs::write(dir.path().join(".r.json.lock"), "4194304").unwrap();
        assert!(Lock::try_acquire(&dest, "a sweep").is_ok());
        // Nothing of this directory is still held. (Not `remove_temporaries()`, which would
        // also delete the files of tests running beside this one.)
        let held = LIVE
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.starts_with(dir.path()))
            .count();
        assert_eq!(held, 0);
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
