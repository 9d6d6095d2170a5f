use std::fmt;

/// The kinds of file the VFS seals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FileKind {
    /// The main database file.
    Database,
    /// The write-ahead log (`-wal`).
    Wal,
    /// A rollback journal (`-journal`, DELETE / TRUNCATE / PERSIST modes).
    Journal,
    /// A temp database, statement journal or transient file (random key per file).
    Temp,
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Database => "database",
            FileKind::Wal => "WAL",
            FileKind::Journal => "journal",
            FileKind::Temp => "temp file",
        })
    }
}

/// Everything that can go wrong opening or reading a sqlvault database.
#[cfg(feature = "rusqlite")]
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Page 1 does not authenticate under the key given: the key is wrong (or the file is
    /// a different sqlvault database than the key was resolved for).
    WrongKey,
    /// The file does not start with a sqlvault salt: it is not a sqlvault database.
    NotASqlvaultDatabase,
    /// The file is a plaintext SQLite database; import it instead of opening it.
    PlaintextDatabase,
    /// A page other than page 1 does not authenticate: it was altered, moved, swapped or
    /// copied from another database.
    TamperedPage {
        /// Which file the page is in.
        file: FileKind,
        /// The database page number (for the WAL: the page the frame holds).
        page: u64,
    },
    /// The database file ends in the middle of a page, or before the pages its header counts.
    Truncated,
    /// The database reserves too few bytes per page for the 32-byte trailer; it was not
    /// created by sqlvault and will not be written half-protected.
    ReserveTooSmall,
    /// SQLite performed an I/O of a shape the VFS does not know how to seal; nothing was written.
    UnexpectedIo(&'static str),
    /// No key was set for an encrypted operation.
    NoKey,
    /// The key was set after the database had already been read or written.
    KeyTooLate,
    /// `PRAGMA key` failed on this connection (wrong kind of key, a plaintext file…): its
    /// database refuses every read and write, so nothing is read or written in the clear.
    KeyFailed,
    /// The file is a sqlvault database of an older format version, which this version
    /// does not read (docs/format.md lists what changed).
    UnsupportedFormatVersion(u8),
    /// Strict mode is on and the database has no key: nothing was read or written.
    StrictNoKey,
    /// The database was opened through a VFS that is not sqlvault (a `vfs=` URI parameter
    /// names another one), so nothing would be encrypted; it was closed before any page
    /// was read or written.
    ForeignVfs {
        /// The VFS SQLite chose for the file (e.g. `unix`).
        vfs: String,
    },
    /// The database has no file for sqlvault to encrypt (`:memory:`, a `mode=memory` URI or
    /// a temporary database), so it was refused.
    NotAFile,
    /// Key derivation or sealing failed.
    Crypto(sqlvault_crypto::Error),
    /// SQLite reported an error that is not one of the above.
    Sqlite(rusqlite::Error),
    /// An operating-system I/O error outside SQLite (reading the salt, for instance).
    Io(std::io::Error),
}

#[cfg(feature = "rusqlite")]
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::WrongKey => f.write_str("wrong key: page 1 of the database does not authenticate"),
            Error::NotASqlvaultDatabase => f.write_str("not a sqlvault database"),
            Error::PlaintextDatabase => {
                f.write_str("this is a plaintext SQLite database, not a sqlvault one (import it instead)")
            }
            Error::TamperedPage { file, page } => {
                write!(
                    f,
                    "page {page} of the {file} does not authenticate: it is corrupt or was tampered with"
                )
            }
            Error::Truncated => f.write_str("the database file is truncated"),
            Error::ReserveTooSmall => f.write_str(
                "the database reserves fewer than 32 bytes per page; it cannot hold sqlvault's page trailer",
            ),
            Error::UnexpectedIo(what) => write!(f, "refused an I/O the VFS cannot seal: {what}"),
            Error::NoKey => f.write_str("no key was set for this database"),
            Error::KeyTooLate => f.write_str("the key must be set before the database is first used"),
            Error::KeyFailed => {
                f.write_str("PRAGMA key failed; the database refuses reads and writes until it is reopened")
            }
            Error::StrictNoKey => f.write_str(STRICT_MESSAGE),
            Error::UnsupportedFormatVersion(v) => write!(
                f,
                "this is a sqlvault database of format version {v}; this version reads only version {}",
                sqlvault_crypto::FORMAT_VERSION
            ),
            Error::ForeignVfs { vfs } => write!(
                f,
                "refused: the database would be opened through the `{vfs}` VFS, unencrypted; \
                 remove the `vfs=` URI parameter (only sqlvault may serve an encrypted database)"
            ),
            Error::NotAFile => {
                f.write_str("refused: an in-memory or temporary database has no file for sqlvault to encrypt")
            }
            Error::Crypto(e) => write!(f, "{e}"),
            Error::Sqlite(e) => write!(f, "{e}"),
            Error::Io(e) => write!(f, "{e}"),
        }
    }
}

#[cfg(feature = "rusqlite")]
impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Crypto(e) => Some(e),
            Error::Sqlite(e) => Some(e),
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(feature = "rusqlite")]
impl From<sqlvault_crypto::Error> for Error {
    fn from(e: sqlvault_crypto::Error) -> Self {
        match e {
            sqlvault_crypto::Error::NotASqlvaultSalt => Error::NotASqlvaultDatabase,
            sqlvault_crypto::Error::ReserveTooSmall { .. } => Error::ReserveTooSmall,
            sqlvault_crypto::Error::UnsupportedFormatVersion(v) => Error::UnsupportedFormatVersion(v),
            e => Error::Crypto(e),
        }
    }
}

#[cfg(feature = "rusqlite")]
impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Sqlite(e)
    }
}

#[cfg(feature = "rusqlite")]
impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

/// The message of a database refused in strict mode.
pub(crate) const STRICT_MESSAGE: &str = "sqlvault strict mode: this database has no key";

/// What a failed VFS call reports: the SQLite result code, and what to tell the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Page 1 does not open.
    WrongKey,
    NotSqlvault,
    Plaintext,
    Tampered {
        file: FileKind,
        page: u64,
    },
    Truncated,
    ReserveTooSmall,
    UnexpectedIo(&'static str),
    NoKey,
    KeyTooLate,
    /// `PRAGMA key` failed: the database refuses every read and write.
    KeyFailed,
    /// Strict mode, and the database has no key.
    StrictNoKey,
    /// A sqlvault file of an older format version.
    UnsupportedVersion(u8),
    Crypto(sqlvault_crypto::Error),
    /// An error from the parent VFS, passed on unchanged.
    Parent(i32),
}

impl Fault {
    /// The SQLite result code the VFS method returns.
    pub(crate) fn code(self) -> i32 {
        use libsqlite3_sys as ffi;
        match self {
            Fault::WrongKey | Fault::NotSqlvault | Fault::Plaintext | Fault::UnsupportedVersion(_) => {
                ffi::SQLITE_NOTADB
            }
            Fault::Tampered { .. } | Fault::Truncated => ffi::SQLITE_CORRUPT,
            Fault::ReserveTooSmall | Fault::UnexpectedIo(_) | Fault::Crypto(_) => ffi::SQLITE_IOERR_WRITE,
            Fault::NoKey | Fault::KeyTooLate | Fault::KeyFailed | Fault::StrictNoKey => ffi::SQLITE_AUTH,
            Fault::Parent(code) => code,
        }
    }

    /// The user-facing error, if this fault has a more precise meaning than its code.
    #[cfg(feature = "rusqlite")]
    pub(crate) fn to_error(self) -> Option<Error> {
        Some(match self {
            Fault::WrongKey => Error::WrongKey,
            Fault::NotSqlvault => Error::NotASqlvaultDatabase,
            Fault::Plaintext => Error::PlaintextDatabase,
            Fault::Tampered { file, page } => Error::TamperedPage { file, page },
            Fault::Truncated => Error::Truncated,
            Fault::ReserveTooSmall => Error::ReserveTooSmall,
            Fault::UnexpectedIo(w) => Error::UnexpectedIo(w),
            Fault::NoKey => Error::NoKey,
            Fault::KeyTooLate => Error::KeyTooLate,
            Fault::KeyFailed => Error::KeyFailed,
            Fault::StrictNoKey => Error::StrictNoKey,
            Fault::UnsupportedVersion(v) => Error::UnsupportedFormatVersion(v),
            Fault::Crypto(e) => Error::from(e),
            Fault::Parent(_) => return None,
        })
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::WrongKey => f.write_str("wrong key: page 1 of the database does not authenticate"),
            Fault::NotSqlvault => f.write_str("not a sqlvault database"),
            Fault::Plaintext => f.write_str("this is a plaintext SQLite database, not a sqlvault one"),
            Fault::Tampered { file, page } => write!(f, "page {page} of the {file} does not authenticate"),
            Fault::Truncated => f.write_str("the database file is truncated"),
            Fault::ReserveTooSmall => f.write_str("the database reserves fewer than 32 bytes per page"),
            Fault::UnexpectedIo(what) => write!(f, "refused an I/O the VFS cannot seal: {what}"),
            Fault::NoKey => f.write_str("no key was set for this database"),
            Fault::KeyTooLate => f.write_str("the key must be set before the database is first used"),
            Fault::KeyFailed => {
                f.write_str("PRAGMA key failed on this database; it refuses reads and writes until reopened")
            }
            Fault::UnsupportedVersion(v) => {
                write!(f, "sqlvault format version {v} is not supported by this version")
            }
            Fault::StrictNoKey => f.write_str(STRICT_MESSAGE),
            Fault::Crypto(e) => write!(f, "{e}"),
            Fault::Parent(code) => write!(f, "I/O error {code}"),
        }
    }
}

impl From<sqlvault_crypto::Error> for Fault {
    fn from(e: sqlvault_crypto::Error) -> Self {
        match e {
            sqlvault_crypto::Error::ReserveTooSmall { .. } => Fault::ReserveTooSmall,
            sqlvault_crypto::Error::NotASqlvaultSalt => Fault::NotSqlvault,
            sqlvault_crypto::Error::UnsupportedFormatVersion(v) => Fault::UnsupportedVersion(v),
            e => Fault::Crypto(e),
        }
    }
}
