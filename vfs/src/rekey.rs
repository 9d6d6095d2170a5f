//! Re-encrypting a database under a new key, and replacing a file crash-safely.
//!
//! sqlvault cannot re-encrypt a database in place: a crash half-way would leave pages
//! under two keys. Instead the pages are copied (SQLite's backup API) into a new file in
//! the same directory, encrypted under the new key with a fresh salt, checked
//! (`integrity_check`), flushed to disk, renamed over the original (atomic on POSIX) and
//! the directory flushed. Killed at any point, the path holds either the old database
//! (plus, before the rename, a stray `.NAME.*.sqlvault-tmp` file) or the new one, each
//! opening with its own key, never a mix.
//!
//! `sqlvault rekey` (the CLI) and `Database::rekey` (the driver) both go through
//! [`reencrypt_copy`] and [`PendingFile::commit`]; they differ in how they keep other
//! writers away from the source while it is copied.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use crate::{Argon2Params, DatabaseKey, Error, KdfLimits, Key, classify_error, open_connection};

/// Pages copied per backup step (between progress reports).
const PAGES_PER_STEP: i32 = 16;

/// A file being written next to its final path, renamed over it only when complete.
///
/// The temporary name starts with `.` and ends in `.sqlvault-tmp`; a crash leaves at most
/// such a file behind (never a half-written database under the final name). Dropped
/// without [`commit`](PendingFile::commit), it deletes the file and its `-journal`,
/// `-wal` and `-shm` companions.
#[derive(Debug)]
pub struct PendingFile {
    tmp: PathBuf,
    target: PathBuf,
    done: bool,
}

impl PendingFile {
    /// Creates a fresh, empty temporary file in `target`'s directory.
    ///
    /// # Errors
    /// An I/O error if `target` has no file name or the directory is not writable.
    pub fn new(target: &Path) -> std::io::Result<PendingFile> {
        let dir = parent_dir(target);
        let name = target
            .file_name()
            .ok_or_else(|| std::io::Error::other(format!("{} has no file name", target.display())))?
            .to_string_lossy()
            .into_owned();
        for attempt in 0u32.. {
            let nonce = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
                ^ std::process::id().rotate_left(16)
                ^ attempt.wrapping_mul(0x9e37_79b9);
            let tmp = dir.join(format!(".{name}.{nonce:08x}.sqlvault-tmp"));
            match fs::OpenOptions::new().write(true).create_new(true).open(&tmp) {
                Ok(_) => {
                    return Ok(PendingFile {
                        tmp,
                        target: target.to_path_buf(),
                        done: false,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => {}
                Err(e) => {
                    return Err(std::io::Error::new(
                        e.kind(),
                        format!("creating a temporary file in {}: {e}", dir.display()),
                    ));
                }
            }
        }
        Err(std::io::Error::other("no free temporary file name"))
    }

    /// Where to write.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Flushes the file to disk, renames it over the target and flushes the directory.
    /// A file being replaced keeps its permissions; a new one gets the temporary file's.
    ///
    /// # Errors
    /// An I/O error from any step; if the rename has not happened the target is unchanged
    /// (and the temporary file is removed).
    pub fn commit(self) -> std::io::Result<()> {
        let target = self.target.clone();
        self.rename()?;
        sync_parent_directory(&target)
    }

    /// The first half of [`commit`](PendingFile::commit): flushes the file and renames it
    /// over the target — the point after which the target is the new file. The rename is
    /// durable once [`sync_parent_directory`] has returned.
    ///
    /// # Errors
    /// An I/O error; the target is then unchanged.
    pub fn rename(mut self) -> std::io::Result<()> {
        if let Ok(meta) = fs::metadata(&self.target) {
            fs::set_permissions(&self.tmp, meta.permissions())?;
        }
        File::open(&self.tmp)?.sync_all()?;
        crash_point("before-rename");
        fs::rename(&self.tmp, &self.target).map_err(|e| {
            std::io::Error::new(e.kind(), format!("renaming over {}: {e}", self.target.display()))
        })?;
        self.done = true;
        crash_point("after-rename");
        Ok(())
    }
}

/// Flushes the directory holding `path`, making a rename to `path` durable.
///
/// # Errors
/// An I/O error opening or flushing the directory.
pub fn sync_parent_directory(path: &Path) -> std::io::Result<()> {
    let dir = parent_dir(path);
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| std::io::Error::new(e.kind(), format!("flushing directory {}: {e}", dir.display())))
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if !self.done {
            for suffix in ["", "-journal", "-wal", "-shm"] {
                let mut p = self.tmp.clone().into_os_string();
                p.push(suffix);
                let _ = fs::remove_file(PathBuf::from(p));
            }
        }
    }
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A checked copy of a database under a new key, waiting to replace the original.
#[derive(Debug)]
pub struct Reencrypted {
    file: PendingFile,
    key: DatabaseKey,
}

impl Reencrypted {
    /// The new database's key (its salt is the copy's own).
    pub fn key(&self) -> &DatabaseKey {
        &self.key
    }

    /// Renames the copy over the original ([`PendingFile::commit`]) and returns its key.
    ///
    /// # Errors
    /// [`Error::Io`] from flushing or renaming.
    pub fn commit(self) -> Result<DatabaseKey, Error> {
        self.file.commit()?;
        Ok(self.key)
    }

    /// The first half of [`commit`](Reencrypted::commit) ([`PendingFile::rename`]): once it
    /// returns, the path holds the new database; [`sync_parent_directory`] makes that durable.
    ///
    /// # Errors
    /// [`Error::Io`]; the original is then unchanged.
    pub fn rename(self) -> Result<DatabaseKey, Error> {
        self.file.rename()?;
        Ok(self.key)
    }
}

/// Copies the database that `src` (the `main` schema) has open into a new file next to
/// `target`, encrypted under `new_key` with a fresh salt (`params` for a passphrase),
/// in `journal_mode` if given, and checks the copy with `integrity_check`.
///
/// The caller keeps other writers away from the source until the copy is committed.
/// `progress(done, total)` is called after each step, in pages.
///
/// # Errors
/// [`Error::Io`] creating the file; the source's typed errors (a tampered page…) while
/// reading it; [`Error::Sqlite`] if the source is locked; [`Error::Crypto`] if the new key
/// cannot be derived; and, if the copy fails its check, [`Error::Sqlite`] with the report.
pub fn reencrypt_copy(
    src: &Connection,
    target: &Path,
    new_key: &Key,
    params: Argon2Params,
    limits: KdfLimits,
    journal_mode: Option<&str>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Reencrypted, Error> {
    let file = PendingFile::new(target)?;
    let key = DatabaseKey::resolve_with_limits(file.path(), new_key, params, limits)?;
    let flags =
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut dst = open_connection(file.path(), &key, flags)?;
    {
        let backup = Backup::new(src, &mut dst)?;
        loop {
            let step = backup.step(PAGES_PER_STEP).map_err(|e| classify_error(src, e))?;
            let p = backup.progress();
            let total = u64::try_from(p.pagecount).unwrap_or(0);
            let done = total.saturating_sub(u64::try_from(p.remaining).unwrap_or(0));
            progress(done, total);
            crash_after_pages(done);
            match step {
                StepResult::Done => break,
                StepResult::More => {}
                _ => {
                    return Err(Error::Sqlite(rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                        Some("the database is locked by another connection".into()),
                    )));
                }
            }
        }
    }
    if let Some(mode) = journal_mode {
        let _: String = dst
            .query_row(&format!("PRAGMA journal_mode = {mode}"), [], |r| r.get(0))
            .map_err(|e| classify_error(&dst, e))?;
    }
    let check: String = dst
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| classify_error(&dst, e))?;
    if check != "ok" {
        return Err(Error::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
            Some(format!("the re-encrypted copy fails integrity_check: {check}")),
        )));
    }
    dst.close().map_err(|(_, e)| Error::Sqlite(e))?;
    crash_point("copied");
    Ok(Reencrypted { file, key })
}

/// Test hook for crash-safety tests: if `SQLVAULT_TEST_CRASH_AT` names this point, the
/// process aborts here as if killed (no destructors, no cleanup).
#[doc(hidden)]
pub fn crash_point(name: &str) {
    if std::env::var("SQLVAULT_TEST_CRASH_AT").is_ok_and(|v| v == name) {
        std::process::abort();
    }
}

/// Test hook: aborts once `pages` pages have been copied if `SQLVAULT_TEST_CRASH_AT` is
/// `pages:N` with `N <= pages`.
#[doc(hidden)]
pub fn crash_after_pages(pages: u64) {
    if let Ok(v) = std::env::var("SQLVAULT_TEST_CRASH_AT")
        && let Some(n) = v.strip_prefix("pages:").and_then(|n| n.parse::<u64>().ok())
        && pages >= n
    {
        std::process::abort();
    }
}
