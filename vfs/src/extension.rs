//! C entry points: the SQLite loadable-extension init function and a plain register call.

use std::ffi::{CStr, c_char, c_int};

use libsqlite3_sys as ffi;

use crate::VFS_NAME;

/// Registers the sqlvault VFS over the VFS named `parent` (NULL: the default one), as the
/// new default when `make_default` is non-zero. For C programs that link sqlvault in.
///
/// Returns `SQLITE_OK`, or a SQLite error code.
///
/// # Safety
/// `parent` is NULL or a NUL-terminated string valid for the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sqlvault_register(parent: *const c_char, make_default: c_int) -> c_int {
    let Ok(name) = std::ffi::CString::new(VFS_NAME) else {
        return ffi::SQLITE_MISUSE;
    };
    // SAFETY: `name` is a NUL-terminated string that outlives the call; `parent` is as the
    // caller promised.
    unsafe { sqlvault_register_named(name.as_ptr(), parent, make_default) }
}

/// Registers the sqlvault VFS under `name`, layered over the VFS named `parent` (NULL:
/// the default one), as the new default when `make_default` is non-zero. Registering a
/// name twice is a no-op. Test harnesses use it to put sqlvault over whichever VFS a test
/// selects (for instance SQLite's crash-simulating VFS).
///
/// Returns `SQLITE_OK`, or a SQLite error code (`SQLITE_NOTFOUND` for an unknown parent).
///
/// # Safety
/// `name` is a NUL-terminated string and `parent` is NULL or one, both valid for the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sqlvault_register_named(
    name: *const c_char,
    parent: *const c_char,
    make_default: c_int,
) -> c_int {
    if name.is_null() {
        return ffi::SQLITE_MISUSE;
    }
    // SAFETY: precondition: a valid NUL-terminated string.
    let Ok(name) = unsafe { CStr::from_ptr(name) }.to_str() else {
        return ffi::SQLITE_MISUSE;
    };
    let parent = if parent.is_null() {
        None
    } else {
        // SAFETY: precondition: a valid NUL-terminated string.
        match unsafe { CStr::from_ptr(parent) }.to_str() {
            Ok(p) => Some(p),
            Err(_) => return ffi::SQLITE_MISUSE,
        }
    };
    match crate::ffi::register_vfs(name, parent, make_default != 0, strict_from_env()) {
        Ok(()) => ffi::SQLITE_OK,
        Err(rc) => rc,
    }
}

/// The entry point SQLite looks for when loading `libsqlvault`: registers the sqlvault
/// VFS as the default VFS, so connections opened afterwards accept `PRAGMA key`.
///
/// Returns `SQLITE_OK_LOAD_PERMANENTLY`: the VFS must outlive the loading connection.
///
/// # Safety
/// Called by SQLite's extension loader with a valid connection, error-message slot and
/// API routine table.
#[cfg(feature = "loadable-extension")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sqlite3_sqlvault_init(
    _db: *mut ffi::sqlite3,
    _err: *mut *mut c_char,
    api: *mut ffi::sqlite3_api_routines,
) -> c_int {
    // SAFETY: SQLite passes its API table; it stays valid for the process.
    if unsafe { ffi::rusqlite_extension_init2(api) }.is_err() {
        return ffi::SQLITE_ERROR;
    }
    match crate::ffi::register_vfs(VFS_NAME, None, true, strict_from_env()) {
        Ok(()) => ffi::SQLITE_OK_LOAD_PERMANENTLY,
        Err(rc) => rc,
    }
}

/// The strict entry point (`.load libsqlvault sqlite3_sqlvault_strict_init`, or Python's
/// `load_extension(path, "sqlite3_sqlvault_strict_init")`): registers the sqlvault VFS as
/// the default in strict mode, where every database opened through it without a key fails
/// at its first read or write (`sqlvault strict mode: this database has no key`) instead
/// of being read or written in the clear. Temp files are unaffected (always sealed).
///
/// Returns `SQLITE_OK_LOAD_PERMANENTLY`.
///
/// # Safety
/// As [`sqlite3_sqlvault_init`].
#[cfg(feature = "loadable-extension")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sqlite3_sqlvault_strict_init(
    _db: *mut ffi::sqlite3,
    _err: *mut *mut c_char,
    api: *mut ffi::sqlite3_api_routines,
) -> c_int {
    // SAFETY: SQLite passes its API table; it stays valid for the process.
    if unsafe { ffi::rusqlite_extension_init2(api) }.is_err() {
        return ffi::SQLITE_ERROR;
    }
    match crate::ffi::register_vfs(VFS_NAME, None, true, true) {
        Ok(()) => ffi::SQLITE_OK_LOAD_PERMANENTLY,
        Err(rc) => rc,
    }
}

/// `SQLVAULT_STRICT=1` (or `true`/`yes`/`on`) in the environment turns strict mode on for
/// every sqlvault VFS this process registers through a C entry point.
fn strict_from_env() -> bool {
    std::env::var("SQLVAULT_STRICT")
        .is_ok_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
}
