//! The Python exception hierarchy (DB-API 2.0 plus sqlvault's own) and the mapping from the
//! driver's typed errors onto it.

use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::{PyErr, create_exception};
use sqlvault::rusqlite::{self, ErrorCode};
use sqlvault::{Error, VfsError};

create_exception!(
    sqlvault,
    SqlvaultError,
    PyException,
    "Base class of every sqlvault error."
);
create_exception!(
    sqlvault,
    Warning,
    PyException,
    "DB-API warning (not raised by sqlvault)."
);
create_exception!(
    sqlvault,
    InterfaceError,
    SqlvaultError,
    "Misuse of the interface itself."
);
create_exception!(
    sqlvault,
    DatabaseError,
    SqlvaultError,
    "An error about the database."
);
create_exception!(
    sqlvault,
    DataError,
    DatabaseError,
    "A value does not fit (too big, wrong type)."
);
create_exception!(
    sqlvault,
    OperationalError,
    DatabaseError,
    "The database could not do the operation (SQL error, I/O, interrupted, busy)."
);
create_exception!(sqlvault, IntegrityError, DatabaseError, "A constraint failed.");
create_exception!(
    sqlvault,
    InternalError,
    DatabaseError,
    "An internal error of SQLite or sqlvault."
);
create_exception!(
    sqlvault,
    ProgrammingError,
    DatabaseError,
    "Wrong use: bad parameters, a closed database or cursor, several statements given to execute."
);
create_exception!(
    sqlvault,
    NotSupportedError,
    DatabaseError,
    "Not supported by sqlvault."
);
create_exception!(
    sqlvault,
    WrongKey,
    DatabaseError,
    "The key does not open the database: page 1 does not authenticate."
);
create_exception!(
    sqlvault,
    TamperedPage,
    DatabaseError,
    "A page other than page 1 does not authenticate (corrupt or tampered); `.page` and `.file` say which."
);
create_exception!(
    sqlvault,
    NotADatabase,
    DatabaseError,
    "The file is not a sqlvault database (for example a plaintext SQLite file: import it)."
);

/// Registers every exception class on the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Error", py.get_type::<SqlvaultError>())?;
    m.add("Warning", py.get_type::<Warning>())?;
    m.add("InterfaceError", py.get_type::<InterfaceError>())?;
    m.add("DatabaseError", py.get_type::<DatabaseError>())?;
    m.add("DataError", py.get_type::<DataError>())?;
    m.add("OperationalError", py.get_type::<OperationalError>())?;
    m.add("IntegrityError", py.get_type::<IntegrityError>())?;
    m.add("InternalError", py.get_type::<InternalError>())?;
    m.add("ProgrammingError", py.get_type::<ProgrammingError>())?;
    m.add("NotSupportedError", py.get_type::<NotSupportedError>())?;
    m.add("WrongKey", py.get_type::<WrongKey>())?;
    m.add("TamperedPage", py.get_type::<TamperedPage>())?;
    m.add("NotADatabase", py.get_type::<NotADatabase>())?;
    Ok(())
}

/// Turns a driver error into the Python exception that names it.
pub fn to_py(e: Error) -> PyErr {
    let msg = e.to_string();
    match e {
        Error::Vfs(v) => vfs_to_py(v, msg),
        Error::Sqlite(s) => sqlite_to_py(&s, msg),
        Error::Io(_) => OperationalError::new_err(msg),
        Error::Closed => ProgrammingError::new_err(msg),
        Error::InvalidOptions(_) => ProgrammingError::new_err(msg),
        Error::Reentrant => ProgrammingError::new_err(msg),
        Error::TransactionEnded => OperationalError::new_err(msg),
        Error::DatabaseInUse => OperationalError::new_err(msg),
        Error::ConnectionLost | Error::Panicked(_) => InternalError::new_err(msg),
        _ => DatabaseError::new_err(msg),
    }
}

fn vfs_to_py(e: VfsError, msg: String) -> PyErr {
    match e {
        VfsError::WrongKey => WrongKey::new_err(msg),
        VfsError::NotASqlvaultDatabase | VfsError::PlaintextDatabase => NotADatabase::new_err(msg),
        VfsError::TamperedPage { file, page } => tampered(msg, &file.to_string(), page),
        VfsError::Truncated => DatabaseError::new_err(msg),
        VfsError::Sqlite(s) => sqlite_to_py(&s, msg),
        VfsError::Io(_) => OperationalError::new_err(msg),
        VfsError::Crypto(_) => DatabaseError::new_err(msg),
        _ => DatabaseError::new_err(msg),
    }
}

/// A `TamperedPage` exception carrying `.page` (the page number) and `.file` (`"database"`,
/// `"WAL"`, …).
pub fn tampered(msg: String, file: &str, page: u64) -> PyErr {
    Python::attach(|py| {
        let err = TamperedPage::new_err(msg);
        let value = err.value(py);
        if let Err(e) = value
            .setattr("page", page)
            .and_then(|()| value.setattr("file", file))
        {
            return e;
        }
        err
    })
}

/// Maps SQLite's result codes as Python's `sqlite3` module does.
fn sqlite_to_py(e: &rusqlite::Error, msg: String) -> PyErr {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            ErrorCode::ConstraintViolation => IntegrityError::new_err(msg),
            ErrorCode::NotADatabase => NotADatabase::new_err(msg),
            ErrorCode::TooBig | ErrorCode::TypeMismatch => DataError::new_err(msg),
            ErrorCode::ApiMisuse | ErrorCode::ParameterOutOfRange => ProgrammingError::new_err(msg),
            ErrorCode::InternalMalfunction => InternalError::new_err(msg),
            _ => OperationalError::new_err(msg),
        },
        rusqlite::Error::InvalidParameterCount(_, _)
        | rusqlite::Error::InvalidParameterName(_)
        | rusqlite::Error::MultipleStatement
        | rusqlite::Error::InvalidQuery
        | rusqlite::Error::ExecuteReturnedResults => ProgrammingError::new_err(msg),
        rusqlite::Error::SqlInputError { .. } => OperationalError::new_err(msg),
        rusqlite::Error::IntegralValueOutOfRange(_, _) | rusqlite::Error::InvalidColumnType(..) => {
            DataError::new_err(msg)
        }
        _ => DatabaseError::new_err(msg),
    }
}
