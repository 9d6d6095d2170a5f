//! The CLI's error type and the exit code each kind of failure maps to.

use std::fmt;
use std::process::ExitCode;

use sqlvault::sqlcipher;

/// Exit status table, shown by `sqlvault --help` and in the README.
pub const EXIT_CODES: &str = "\
Exit status:
  0  success
  1  the operation failed (SQL error, bad option value, refused to overwrite, ...)
  2  usage error (unknown command or option)
  3  wrong key, or the file is not the kind of database expected
  4  corrupt or tampered data (a page failed authentication, integrity_check failed)
  5  I/O error (missing file, permissions, disk full)

Keys are never taken from the command line: use --key-file PATH, the SQLVAULT_KEY
environment variable (SQLVAULT_SOURCE_KEY / SQLVAULT_NEW_KEY where a second key is
needed), or the interactive prompt. A key file holding x'<64 hex digits>' is a raw
key; anything else is a passphrase (one trailing newline is stripped).";

/// Why a command failed; each kind has its own exit status (see [`EXIT_CODES`]).
#[derive(Debug)]
pub enum CliError {
    /// The operation failed for a reason not listed below (exit 1).
    Failed(String),
    /// Wrong key, or not the kind of database expected (exit 3).
    WrongKey(String),
    /// Corrupt or tampered data (exit 4).
    Corrupt(String),
    /// An I/O error (exit 5).
    Io(String),
}

impl CliError {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            CliError::Failed(_) => 1,
            CliError::WrongKey(_) => 3,
            CliError::Corrupt(_) => 4,
            CliError::Io(_) => 5,
        })
    }

    /// Prefixes the message with what was being done.
    pub fn context(self, what: &str) -> CliError {
        match self {
            CliError::Failed(m) => CliError::Failed(format!("{what}: {m}")),
            CliError::WrongKey(m) => CliError::WrongKey(format!("{what}: {m}")),
            CliError::Corrupt(m) => CliError::Corrupt(format!("{what}: {m}")),
            CliError::Io(m) => CliError::Io(format!("{what}: {m}")),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Failed(m) | CliError::WrongKey(m) | CliError::Corrupt(m) | CliError::Io(m) => {
                f.write_str(m)
            }
        }
    }
}

impl From<sqlvault_vfs::Error> for CliError {
    fn from(e: sqlvault_vfs::Error) -> Self {
        use sqlvault_vfs::Error as E;
        let msg = e.to_string();
        match e {
            E::WrongKey | E::NotASqlvaultDatabase | E::PlaintextDatabase => CliError::WrongKey(msg),
            E::TamperedPage { .. } | E::Truncated => CliError::Corrupt(msg),
            // A passphrase for a raw-key database or the reverse: a wrong key too.
            E::Crypto(sqlvault_crypto::Error::KeyKindMismatch { .. }) => CliError::WrongKey(msg),
            E::Crypto(sqlvault_crypto::Error::KdfLimitExceeded { .. }) => CliError::Failed(format!(
                "{msg}; to open a file you trust, raise the cap with --kdf-max-memory KIB, \
                 --kdf-max-iterations N or --kdf-max-parallelism N"
            )),
            E::Io(_) => CliError::Io(msg),
            E::Sqlite(e) => CliError::from(e),
            _ => CliError::Failed(msg),
        }
    }
}

impl From<rusqlite::Error> for CliError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as C;
        let msg = e.to_string();
        match e.sqlite_error_code() {
            Some(C::DatabaseCorrupt) => CliError::Corrupt(msg),
            Some(C::NotADatabase) => CliError::WrongKey(msg),
            Some(C::SystemIoFailure | C::CannotOpen | C::DiskFull | C::PermissionDenied) => CliError::Io(msg),
            _ => CliError::Failed(msg),
        }
    }
}

impl From<sqlcipher::Error> for CliError {
    fn from(e: sqlcipher::Error) -> Self {
        use sqlcipher::Error as E;
        let msg = e.to_string();
        match e {
            E::WrongKeyOrNotSqlcipher { .. } => CliError::WrongKey(msg),
            E::TamperedPage { .. } | E::TamperedWalFrame { .. } | E::Truncated { .. } | E::Malformed(_) => {
                CliError::Corrupt(msg)
            }
            E::Io(_) => CliError::Io(msg),
            _ => CliError::Failed(msg),
        }
    }
}

impl From<sqlvault::import::ImportError> for CliError {
    fn from(e: sqlvault::import::ImportError) -> Self {
        use sqlvault::import::ImportError as E;
        match e {
            E::Failed(m) => CliError::Failed(m),
            E::Corrupt(m) => CliError::Corrupt(m),
            E::Vfs(e) => CliError::from(e),
            E::Sqlcipher(e) => CliError::from(e),
            E::Io(e) => CliError::from(e),
            other => CliError::Failed(other.to_string()),
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Io(e.to_string())
    }
}

impl From<sqlvault_crypto::Error> for CliError {
    fn from(e: sqlvault_crypto::Error) -> Self {
        CliError::from(sqlvault_vfs::Error::from(e))
    }
}
