//! The driver's error type.

use std::fmt;

/// Everything that can go wrong in the driver.
///
/// SQL errors (a constraint violation, a syntax error, a read-only reader asked to write) come
/// back as [`Error::Sqlite`] with rusqlite's error inside, so code written against rusqlite keeps
/// its matches.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The database cannot be opened or read as a sqlvault database: a wrong key, a plaintext
    /// SQLite file, a file that is not a database, a tampered or truncated page. The vfs error
    /// inside says which.
    Vfs(sqlvault_vfs::Error),
    /// An error from SQLite or rusqlite: bad SQL, a constraint, a type conversion, an I/O error
    /// that SQLite reported.
    Sqlite(rusqlite::Error),
    /// An operating-system error outside SQLite (for example, a connection thread could not be
    /// started).
    Io(std::io::Error),
    /// The database was closed with [`crate::Database::close`]; no more transactions start.
    Closed,
    /// A connection thread is gone and cannot answer (it failed to start or crashed).
    ConnectionLost,
    /// A closure given to the driver panicked on the connection thread. Its transaction was rolled
    /// back; the connection keeps serving others.
    Panicked(String),
    /// The transaction this guard belongs to is no longer open: SQLite rolled it back (an
    /// interrupted or failed write ends the whole transaction) or SQL run through the guard ended
    /// it. Statements are refused rather than run outside the transaction.
    TransactionEnded,
    /// An [`crate::Options`] value is out of range; the text names it.
    InvalidOptions(&'static str),
    /// Code running on one of the pool's own connection threads (inside a `read_with` or
    /// `write_with` closure, or a row closure) called back into the same pool. The call would
    /// wait for a connection thread while blocking one, so it is refused at once: return what
    /// the closure computed and make the call after it.
    Reentrant,
    /// [`crate::Database::rekey`] needs the database to itself, and another connection (in
    /// another process, or another pool) has it open. Nothing was changed.
    DatabaseInUse,
}

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Vfs(e) => write!(f, "{e}"),
            Error::Sqlite(e) => write!(f, "sqlite: {e}"),
            Error::Io(e) => write!(f, "i/o: {e}"),
            Error::Closed => f.write_str("the database is closed"),
            Error::ConnectionLost => f.write_str("a connection thread is gone"),
            Error::Panicked(msg) => write!(f, "a closure panicked on the connection thread: {msg}"),
            Error::TransactionEnded => f.write_str(
                "the transaction is no longer open (SQLite rolled it back or it was ended by SQL)",
            ),
            Error::InvalidOptions(what) => write!(f, "invalid options: {what}"),
            Error::Reentrant => f.write_str(
                "called the pool from one of its own connection threads (inside a closure run by the pool); \
                 that would wait on the thread it blocks, so it is refused",
            ),
            Error::DatabaseInUse => f.write_str(
                "another connection has the database open (another process or pool); \
                 rekey needs it alone, and nothing was changed",
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Vfs(e) => Some(e),
            Error::Sqlite(e) => Some(e),
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Sqlite(e)
    }
}

/// SQL and I/O errors keep their own variants; only what is specific to encryption stays
/// wrapped in [`Error::Vfs`].
impl From<sqlvault_vfs::Error> for Error {
    fn from(e: sqlvault_vfs::Error) -> Self {
        match e {
            sqlvault_vfs::Error::Sqlite(e) => Error::Sqlite(e),
            sqlvault_vfs::Error::Io(e) => Error::Io(e),
            e => Error::Vfs(e),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

impl Error {
    /// Turns a panic payload into [`Error::Panicked`] with its message, if it has one.
    pub(crate) fn panicked(payload: Box<dyn std::any::Any + Send>) -> Error {
        let msg = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "non-string panic payload".to_owned()
        };
        Error::Panicked(msg)
    }

    /// The SQLite result code, if this error carries one (`SQLITE_BUSY` is 5, for example).
    pub fn sqlite_code(&self) -> Option<rusqlite::ErrorCode> {
        match self {
            Error::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => Some(e.code),
            _ => None,
        }
    }
}
