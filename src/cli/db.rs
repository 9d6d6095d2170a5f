//! Opening sqlvault databases from the CLI, and writing new files atomically.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use sqlvault_vfs::{Argon2Params, DatabaseKey, KdfLimits, Key, open_connection};

use super::error::CliError;

/// Flags for opening an existing database: no `CREATE`, so a typo never makes a new file.
pub fn existing_flags(read_only: bool) -> OpenFlags {
    let mode = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    };
    mode | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI
}

/// Flags for creating a new database.
pub fn create_flags() -> OpenFlags {
    OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI
}

/// Fails unless `bytes` is a page size SQLite accepts (a power of two, 512..=65536);
/// SQLite itself silently ignores any other value.
pub fn check_page_size(bytes: u32) -> Result<(), CliError> {
    if (512..=65536).contains(&bytes) && bytes.is_power_of_two() {
        Ok(())
    } else {
        Err(CliError::Failed(format!(
            "page size {bytes}: must be a power of two from 512 to 65536"
        )))
    }
}

/// Fails with exit status 5 unless `path` is an existing file.
pub fn require_file(path: &Path) -> Result<(), CliError> {
    match fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(CliError::Io(format!("{} is not a file", path.display()))),
        Err(e) => Err(CliError::Io(format!("{}: {e}", path.display()))),
    }
}

/// Fails unless `path` does not exist (or is an empty file).
pub fn require_absent(path: &Path) -> Result<(), CliError> {
    match fs::metadata(path) {
        Ok(m) if m.len() > 0 => Err(CliError::Failed(format!(
            "{} already exists; refusing to overwrite it",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// Runs the KDF for the existing database at `path`, its cost held to `limits`, and opens it.
pub fn open_existing(
    path: &Path,
    key: &Key,
    read_only: bool,
    limits: KdfLimits,
) -> Result<(Connection, DatabaseKey), CliError> {
    require_file(path)?;
    // The parameters only matter for a new file; an existing one records its own.
    let dbkey = DatabaseKey::resolve_with_limits(path, key, Argon2Params::default(), limits)?;
    let conn = open_connection(path, &dbkey, existing_flags(read_only))?;
    Ok((conn, dbkey))
}

/// A file being written next to its final path, renamed over it only when complete.
///
/// The temporary name starts with `.` and ends in `.sqlvault-tmp`; a crash leaves at most
/// such a file behind (never a half-written database under the final name).
pub struct PendingFile {
    tmp: PathBuf,
    target: PathBuf,
    done: bool,
}

impl PendingFile {
    /// Chooses a fresh temporary path in `target`'s directory.
    pub fn new(target: &Path) -> Result<PendingFile, CliError> {
        let dir = parent_dir(target);
        let name = target
            .file_name()
            .ok_or_else(|| CliError::Failed(format!("{} has no file name", target.display())))?
            .to_string_lossy()
            .into_owned();
        // tempfile picks an unused name and creates it empty; SQLite then writes into it.
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".sqlvault-tmp")
            .tempfile_in(&dir)
            .map_err(|e| CliError::Io(format!("creating a temporary file in {}: {e}", dir.display())))?;
        let (_, tmp) = tmp
            .keep()
            .map_err(|e| CliError::Io(format!("keeping the temporary file: {e}")))?;
        Ok(PendingFile {
            tmp,
            target: target.to_path_buf(),
            done: false,
        })
    }

    /// Where to write.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Flushes the file to disk, renames it over the target and flushes the directory.
    /// A file being replaced keeps its permissions; a new one gets the temporary file's
    /// (owner read/write only).
    pub fn commit(mut self) -> Result<(), CliError> {
        if let Ok(meta) = fs::metadata(&self.target) {
            fs::set_permissions(&self.tmp, meta.permissions())?;
        }
        File::open(&self.tmp)?.sync_all()?;
        crash_point("before-rename");
        fs::rename(&self.tmp, &self.target)
            .map_err(|e| CliError::Io(format!("renaming over {}: {e}", self.target.display())))?;
        self.done = true;
        crash_point("after-rename");
        sync_dir(&parent_dir(&self.target))?;
        Ok(())
    }
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

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), CliError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| CliError::Io(format!("flushing directory {}: {e}", dir.display())))
}

/// Test hook for crash-safety tests: if `SQLVAULT_TEST_CRASH_AT` names this point, the
/// process aborts here as if killed (no destructors, no cleanup). Page-count points are
/// handled by [`crash_after_pages`].
pub fn crash_point(name: &str) {
    if std::env::var("SQLVAULT_TEST_CRASH_AT").is_ok_and(|v| v == name) {
        std::process::abort();
    }
}

/// Test hook: aborts once `pages` pages have been copied if `SQLVAULT_TEST_CRASH_AT` is
/// `pages:N` with `N <= pages`.
pub fn crash_after_pages(pages: u64) {
    if let Ok(v) = std::env::var("SQLVAULT_TEST_CRASH_AT")
        && let Some(n) = v.strip_prefix("pages:").and_then(|n| n.parse::<u64>().ok())
        && pages >= n
    {
        std::process::abort();
    }
}
