//! Where the encrypted bytes come from: memory or files, read by offset.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use super::Error;

/// The encrypted database (and its WAL, if any) to read.
///
/// The reader only ever reads from it; nothing is written next to it (no plaintext temp file,
/// no `-shm`). The files must not change while a [`super::SqlcipherReader`] reads them: close
/// the application that uses the database first.
#[derive(Debug)]
pub struct SqlcipherSource {
    pub(crate) db: Bytes,
    pub(crate) wal: Option<Bytes>,
}

impl SqlcipherSource {
    /// A database image already in memory, without a WAL.
    pub fn from_bytes(db: impl Into<Vec<u8>>) -> Self {
        SqlcipherSource {
            db: Bytes::Memory(db.into()),
            wal: None,
        }
    }

    /// Adds the contents of the database's `-wal` file.
    pub fn with_wal_bytes(mut self, wal: impl Into<Vec<u8>>) -> Self {
        self.wal = Some(Bytes::Memory(wal.into()));
        self
    }

    /// Opens the database file at `path`, and `path` + `-wal` if that file exists (as SQLite
    /// names it). Files are read in place by offset, not loaded whole.
    ///
    /// # Errors
    /// [`Error::Io`] if the database file cannot be opened, or the WAL exists but cannot be.
    pub fn open_path(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let db = Bytes::file(File::open(path)?)?;
        let mut wal_path = PathBuf::from(path).into_os_string();
        wal_path.push("-wal");
        let wal = match File::open(&wal_path) {
            Ok(f) => Some(Bytes::file(f)?),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        Ok(SqlcipherSource { db, wal })
    }

    /// Whether a WAL was found or given.
    pub fn has_wal(&self) -> bool {
        self.wal.is_some()
    }
}

/// A byte source read at offsets.
#[derive(Debug)]
pub(crate) enum Bytes {
    Memory(Vec<u8>),
    File { file: File, len: u64 },
}

impl Bytes {
    fn file(file: File) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(Bytes::File { file, len })
    }

    pub(crate) fn len(&self) -> u64 {
        match self {
            Bytes::Memory(v) => v.len() as u64,
            Bytes::File { len, .. } => *len,
        }
    }

    /// Fills `buf` from `offset`; the caller has checked that the range lies within `len()`.
    pub(crate) fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        match self {
            Bytes::Memory(v) => {
                let range = usize::try_from(offset)
                    .ok()
                    .and_then(|start| Some(start..start.checked_add(buf.len())?))
                    .and_then(|r| v.get(r))
                    .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
                buf.copy_from_slice(range);
                Ok(())
            }
            Bytes::File { file, .. } => read_file_at(file, buf, offset),
        }
    }
}

#[cfg(unix)]
fn read_file_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_file_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, offset) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
