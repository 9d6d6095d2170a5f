use std::{fmt, io};

/// Why a SQLCipher database could not be read.
///
/// The reader never hands out plaintext for a page whose HMAC did not verify: every
/// authentication failure is one of [`Error::WrongKeyOrNotSqlcipher`],
/// [`Error::TamperedPage`] or [`Error::TamperedWalFrame`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Page 1 did not authenticate under any parameter set tried: the key is wrong, the file
    /// is not a SQLCipher database, or it was made with settings that were not tried.
    WrongKeyOrNotSqlcipher {
        /// How many parameter sets (KDF, HMAC and page size combinations) were tried.
        attempts: usize,
    },
    /// The file is a plaintext SQLite database ("SQLite format 3" header), not an encrypted one.
    NotEncrypted,
    /// Page 1 authenticated but database page `pgno` did not: it was modified or corrupted.
    TamperedPage {
        /// The page that failed its HMAC check (1-based).
        pgno: u32,
    },
    /// A committed WAL frame did not authenticate: the WAL file was modified or corrupted.
    TamperedWalFrame {
        /// Index of the frame in the WAL file (0-based).
        frame: u32,
        /// The database page the frame holds.
        pgno: u32,
    },
    /// The database file ends before the database does (or in the middle of a page).
    Truncated {
        /// Length of the database file in bytes.
        len: u64,
        /// The length the database needs (at least).
        needed: u64,
    },
    /// The parameters or the key are unusable; the text says which.
    BadParameters(&'static str),
    /// Page 1 authenticated but its SQLite header or the WAL contradicts the parameters;
    /// the text says what.
    Malformed(&'static str),
    /// A page number outside `1..=page_count` was asked for.
    PageOutOfRange {
        /// The page asked for.
        pgno: u32,
        /// Pages in the database.
        page_count: u32,
    },
    /// The decrypted image would not fit in memory on this platform.
    ImageTooLarge {
        /// Bytes the image needs.
        bytes: u64,
    },
    /// Reading the database or WAL file failed.
    Io(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::WrongKeyOrNotSqlcipher { attempts } => write!(
                f,
                "wrong key, or not a SQLCipher database (page 1 did not authenticate under \
                 {attempts} parameter set(s) tried)"
            ),
            Error::NotEncrypted => f.write_str("not encrypted: this is a plaintext SQLite database"),
            Error::TamperedPage { pgno } => write!(
                f,
                "page {pgno} failed authentication: the database is corrupt or was tampered with"
            ),
            Error::TamperedWalFrame { frame, pgno } => write!(
                f,
                "WAL frame {frame} (page {pgno}) failed authentication: the WAL is corrupt or \
                 was tampered with"
            ),
            Error::Truncated { len, needed } => write!(
                f,
                "database file is truncated: {len} bytes, at least {needed} needed"
            ),
            Error::BadParameters(why) => write!(f, "bad SQLCipher parameters: {why}"),
            Error::Malformed(why) => write!(f, "malformed SQLCipher database: {why}"),
            Error::PageOutOfRange { pgno, page_count } => {
                write!(
                    f,
                    "page {pgno} is out of range (the database has {page_count} pages)"
                )
            }
            Error::ImageTooLarge { bytes } => {
                write!(f, "the decrypted database ({bytes} bytes) does not fit in memory")
            }
            Error::Io(e) => write!(f, "reading the SQLCipher database failed: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}
