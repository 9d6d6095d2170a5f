//! Opening rusqlite connections through the VFS, and naming what went wrong.

use std::ffi::c_int;
use std::path::Path;

use libsqlite3_sys as ffi;
use rusqlite::{Connection, OpenFlags};

use crate::error::Fault;
use crate::ffi::{FCNTL_CHECK_SIZE, FCNTL_TAKE_FAULT, take_thread_fault, with_open_key};
use crate::{DatabaseKey, Error, VFS_NAME, register};

/// Opens a connection to the encrypted database at `path` through the sqlvault VFS
/// (registered on first use), keyed with `key`.
///
/// A new database gets the reserved bytes each page's trailer needs. Page 1 is read
/// before this returns, so a wrong key or a file that is not a sqlvault database fails
/// here rather than at the first query.
///
/// With [`OpenFlags::SQLITE_OPEN_URI`] (part of the default flags) `path` may be a
/// `file:` URI, but a `vfs=` parameter cannot take the file away from sqlvault: the
/// connection is checked to be served by a sqlvault VFS before anything is read or
/// written, and closed otherwise.
///
/// # Errors
/// [`Error::WrongKey`], [`Error::NotASqlvaultDatabase`], [`Error::PlaintextDatabase`],
/// [`Error::TamperedPage`] for page 1 problems; [`Error::ForeignVfs`] if a `vfs=` URI
/// parameter chose another VFS, [`Error::NotAFile`] for `:memory:` or a temporary database;
/// [`Error::Sqlite`] if SQLite cannot open the file (a missing directory, permissions).
pub fn open_connection(path: &Path, key: &DatabaseKey, flags: OpenFlags) -> Result<Connection, Error> {
    register(VFS_NAME, None, false)?;
    take_thread_fault();
    // SQLite reads the first 100 bytes of the database while opening it.
    let conn = with_open_key(key.material.clone(), || {
        Connection::open_with_flags_and_vfs(path, flags, VFS_NAME)
    })
    .map_err(|e| {
        take_thread_fault()
            .and_then(Fault::to_error)
            .unwrap_or(Error::Sqlite(e))
    })?;
    // Before the first read or write: a `vfs=` URI parameter overrides the VFS we named.
    require_sqlvault_vfs(&conn, c"main")?;
    if !flags.contains(OpenFlags::SQLITE_OPEN_READ_ONLY) {
        reserve_if_new(&conn, "main")?;
    }
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
        .map_err(|e| classify_error(&conn, e))?;
    Ok(conn)
}

/// Attaches the encrypted database at `path` as `schema` on `conn`, keyed with `key`.
///
/// As with [`open_connection`], a `vfs=` URI parameter naming another VFS is refused (the
/// database is detached again before anything is read or written).
///
/// # Errors
/// As [`open_connection`].
pub fn attach(conn: &Connection, path: &Path, schema: &str, key: &DatabaseKey) -> Result<(), Error> {
    let path_text = path
        .to_str()
        .ok_or(Error::UnexpectedIo("a path that is not UTF-8"))?;
    with_open_key(key.material.clone(), || {
        conn.execute("ATTACH DATABASE ?1 AS ?2", [path_text, schema])
    })
    .map_err(|e| classify_error(conn, e))?;
    let name = std::ffi::CString::new(schema).map_err(|_| Error::UnexpectedIo("a schema name with NUL"))?;
    if let Err(e) = require_sqlvault_vfs(conn, &name) {
        // Best effort: the refusal is the error that matters.
        let _ = conn.execute("DETACH DATABASE ?1", [schema]);
        return Err(e);
    }
    reserve_if_new(conn, schema)?;
    let sql = format!(
        "SELECT count(*) FROM \"{}\".sqlite_schema",
        schema.replace('"', "\"\"")
    );
    conn.query_row(&sql, [], |_| Ok(()))
        .map_err(|e| classify_error(conn, e))?;
    Ok(())
}

/// Turns an error from a statement on a sqlvault connection into the precise error the
/// VFS recorded (wrong key, tampered page N, truncation…), or wraps it unchanged.
pub fn classify_error(conn: &Connection, err: rusqlite::Error) -> Error {
    let code = err.sqlite_error_code();
    if code.is_none() {
        return Error::Sqlite(err);
    }
    // The fault this thread's last failing VFS call recorded (it may belong to an attached
    // database), if it explains this error's code; else the main database's.
    let primary = match &err {
        rusqlite::Error::SqliteFailure(e, _) => Some(e.extended_code & 0xff),
        _ => None,
    };
    let thread_fault = take_thread_fault().filter(|f| Some(f.code() & 0xff) == primary);
    let main_fault = file_control_fault(conn, FCNTL_TAKE_FAULT);
    if let Some(e) = thread_fault.or(main_fault).and_then(Fault::to_error) {
        return e;
    }
    if code == Some(rusqlite::ErrorCode::DatabaseCorrupt)
        && let Some(e) = file_control_fault(conn, FCNTL_CHECK_SIZE).and_then(Fault::to_error)
    {
        return e;
    }
    Error::Sqlite(err)
}

fn file_control_fault(conn: &Connection, op: c_int) -> Option<Fault> {
    let mut fault: Option<Fault> = None;
    // SAFETY: the handle is valid for the life of `conn`; our own opcodes write one
    // `Option<Fault>` through the pointer, and other VFSes answer SQLITE_NOTFOUND
    // without touching it.
    unsafe {
        ffi::sqlite3_file_control(conn.handle(), c"main".as_ptr(), op, (&raw mut fault).cast());
    }
    fault
}

/// Fails unless the file behind `schema` is served by a sqlvault VFS.
///
/// SQLite lets a `vfs=` URI parameter override the VFS the caller names, so after opening
/// we ask the file itself: only a sqlvault file answers [`FCNTL_TAKE_FAULT`] (SQLite's
/// own VFSes answer `SQLITE_NOTFOUND` to opcodes they do not know, and a database with no
/// file at all, such as `:memory:`, answers nothing). Taking the fault here is harmless:
/// nothing has been read yet.
fn require_sqlvault_vfs(conn: &Connection, schema: &std::ffi::CStr) -> Result<(), Error> {
    let mut fault: Option<Fault> = None;
    // SAFETY: the handle is valid for the life of `conn`; `schema` is NUL-terminated; our
    // opcode writes one `Option<Fault>` through the pointer, and other VFSes answer
    // SQLITE_NOTFOUND without touching it.
    let rc = unsafe {
        ffi::sqlite3_file_control(
            conn.handle(),
            schema.as_ptr(),
            FCNTL_TAKE_FAULT,
            (&raw mut fault).cast(),
        )
    };
    if rc == ffi::SQLITE_OK {
        return Ok(());
    }
    let mut file: *mut ffi::sqlite3_file = std::ptr::null_mut();
    // SAFETY: as above; SQLITE_FCNTL_FILE_POINTER is answered by SQLite itself and writes
    // the schema's `sqlite3_file*` through the pointer.
    unsafe {
        ffi::sqlite3_file_control(
            conn.handle(),
            schema.as_ptr(),
            ffi::SQLITE_FCNTL_FILE_POINTER,
            (&raw mut file).cast(),
        )
    };
    // SAFETY: a non-null file pointer is the pager's open (or never opened) file object.
    if file.is_null() || unsafe { (*file).pMethods }.is_null() {
        return Err(Error::NotAFile);
    }
    let mut vfs: *mut ffi::sqlite3_vfs = std::ptr::null_mut();
    // SAFETY: as above; SQLITE_FCNTL_VFS_POINTER is answered by SQLite itself and writes
    // the schema's `sqlite3_vfs*` through the pointer.
    unsafe {
        ffi::sqlite3_file_control(
            conn.handle(),
            schema.as_ptr(),
            ffi::SQLITE_FCNTL_VFS_POINTER,
            (&raw mut vfs).cast(),
        )
    };
    let z = if vfs.is_null() {
        std::ptr::null()
    } else {
        // SAFETY: a registered VFS lives until unregistered (never, for SQLite's own).
        unsafe { (*vfs).zName }
    };
    let name = if z.is_null() {
        "unnamed".to_owned()
    } else {
        // SAFETY: a VFS name is a NUL-terminated string that lives as long as the VFS.
        unsafe { std::ffi::CStr::from_ptr(z) }
            .to_string_lossy()
            .into_owned()
    };
    Err(Error::ForeignVfs { vfs: name })
}

/// Asks SQLite to leave room for the page trailer if `schema` is a new, empty database.
fn reserve_if_new(conn: &Connection, schema: &str) -> Result<(), Error> {
    let pages: i64 = conn
        .query_row(
            &format!("PRAGMA \"{}\".page_count", schema.replace('"', "\"\"")),
            [],
            |r| r.get(0),
        )
        .map_err(|e| classify_error(conn, e))?;
    if pages > 0 {
        return Ok(());
    }
    let name = std::ffi::CString::new(schema).map_err(|_| Error::UnexpectedIo("a schema name with NUL"))?;
    let mut reserve = sqlvault_crypto::TRAILER_LEN as c_int;
    // SAFETY: the handle is valid for the life of `conn`; RESERVE_BYTES reads and writes one c_int.
    let rc = unsafe {
        ffi::sqlite3_file_control(
            conn.handle(),
            name.as_ptr(),
            ffi::SQLITE_FCNTL_RESERVE_BYTES,
            (&raw mut reserve).cast(),
        )
    };
    if rc == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(Error::Sqlite(rusqlite::Error::SqliteFailure(
            ffi::Error::new(rc),
            None,
        )))
    }
}
