//! The `extern "C"` face of the VFS: every `unsafe` block of the crate lives here.
//!
//! Each SQLite callback converts pointers into the safe types of the other modules and
//! runs inside [`guarded`], which turns a `Fault` into a SQLite result code and a panic
//! into `SQLITE_IOERR`: a bug never unwinds across the FFI boundary.

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::sync::Arc;

use libsqlite3_sys as ffi;
use sqlvault_crypto::{Argon2Params, Key};

use crate::block_file::BlockFile;
use crate::error::Fault;
use crate::journal::JournalFile;
use crate::main_db::MainDb;
use crate::raw::{Filled, RawFile};
use crate::shared::{self, KeyMaterial, SharedDb};
use crate::wal::WalFile;

/// File-control opcode: take the last fault recorded for a main database (`*mut Option<Fault>`).
pub(crate) const FCNTL_TAKE_FAULT: c_int = 0x5351_5601;
/// File-control opcode: check the file size against the page count in the header
/// (`*mut Option<Fault>` receives `Truncated` when the file is too short).
pub(crate) const FCNTL_CHECK_SIZE: c_int = 0x5351_5602;

const RESERVE: c_int = sqlvault_crypto::TRAILER_LEN as c_int;

thread_local! {
    /// Key material for the next main database this thread opens (see [`with_open_key`]).
    static NEXT_OPEN_KEY: RefCell<Option<KeyMaterial>> = const { RefCell::new(None) };
}

/// Runs `open` with `key` waiting for the main database file it opens on this thread.
///
/// SQLite opens the main file synchronously inside `sqlite3_open_v2` / `ATTACH`, on the
/// calling thread, so a thread-local hand-off reaches exactly that file and the key
/// never has to travel through a filename.
#[cfg(feature = "rusqlite")]
pub(crate) fn with_open_key<T>(key: KeyMaterial, open: impl FnOnce() -> T) -> T {
    NEXT_OPEN_KEY.with(|k| *k.borrow_mut() = Some(key));
    let out = open();
    NEXT_OPEN_KEY.with(|k| k.borrow_mut().take());
    out
}

thread_local! {
    /// The last fault this thread's calls into the VFS recorded, for errors that happen
    /// while a connection is being opened (before there is a connection to ask).
    static LAST_THREAD_FAULT: std::cell::Cell<Option<Fault>> = const { std::cell::Cell::new(None) };
}

/// Takes the last fault recorded on this thread.
#[cfg(feature = "rusqlite")]
pub(crate) fn take_thread_fault() -> Option<Fault> {
    LAST_THREAD_FAULT.with(|f| f.take())
}

/// What sits in `sqlite3_vfs::pAppData`.
struct VfsData {
    parent: *mut ffi::sqlite3_vfs,
    _name: CString,
    /// Strict mode: no database file may be read or written through this VFS without a key.
    strict: bool,
}

/// Our `sqlite3_file`. SQLite allocates `szOsFile` bytes for it: this header, then the
/// parent VFS's file object.
#[repr(C)]
struct VaultFile {
    base: ffi::sqlite3_file,
    state: *mut FileState,
}

/// Offset of the parent's file object inside our allocation (8-byte aligned).
const PARENT_OFFSET: usize = std::mem::size_of::<VaultFile>().next_multiple_of(8);

enum Role {
    Main(MainDb),
    Wal(WalFile),
    Journal(JournalFile),
    Block(BlockFile),
    /// Super-journals (journal file names only) and anything else with no page data.
    Plain,
}

struct FileState {
    role: Role,
    /// The main database this file belongs to (where faults are recorded).
    shared: Option<Arc<SharedDb>>,
    /// For a main database: the filename address it is registered under.
    main_name: usize,
    /// For a main database: the connection, from `SQLITE_FCNTL_PDB`.
    db: *mut ffi::sqlite3,
    /// A second connection announced itself for this file (shared-cache mode: connections
    /// share one pager and one file). Then `db` may not be the connection calling, and
    /// `sqlite3_file_control` on it would wait for the shared b-tree mutex that the calling
    /// connection holds — a self-deadlock — so the reserve is not set from here: a new
    /// database created in shared-cache mode fails at its first write (the reserve is too
    /// small) instead of hanging.
    shared_cache: bool,
}

/// The parent's file object seen as a [`RawFile`].
struct Parent(*mut ffi::sqlite3_file);

impl Parent {
    fn methods(&self) -> &ffi::sqlite3_io_methods {
        // SAFETY: `self.0` is the parent file object inside a VaultFile that SQLite keeps
        // alive until xClose; the parent's xOpen succeeded, so pMethods is non-null and
        // points to a methods table with static lifetime.
        unsafe { &*(*self.0).pMethods }
    }
}

fn check(rc: c_int) -> Result<(), Fault> {
    if rc == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(Fault::Parent(rc))
    }
}

impl RawFile for Parent {
    fn read_at(&mut self, buf: &mut [u8], offset: u64) -> Result<Filled, Fault> {
        let Some(x_read) = self.methods().xRead else {
            return Err(Fault::Parent(ffi::SQLITE_IOERR_READ));
        };
        // SAFETY: the buffer is valid for `len` bytes; the parent file is open (see `methods`).
        let rc = unsafe { x_read(self.0, buf.as_mut_ptr().cast(), buf.len() as c_int, offset as i64) };
        match rc {
            ffi::SQLITE_OK => Ok(Filled::Full),
            ffi::SQLITE_IOERR_SHORT_READ => Ok(Filled::Short),
            rc => Err(Fault::Parent(rc)),
        }
    }

    fn write_at(&mut self, buf: &[u8], offset: u64) -> Result<(), Fault> {
        let Some(x_write) = self.methods().xWrite else {
            return Err(Fault::Parent(ffi::SQLITE_IOERR_WRITE));
        };
        // SAFETY: as for read_at; the parent only reads from the buffer.
        check(unsafe { x_write(self.0, buf.as_ptr().cast(), buf.len() as c_int, offset as i64) })
    }

    fn truncate(&mut self, size: u64) -> Result<(), Fault> {
        let Some(x) = self.methods().xTruncate else {
            return Err(Fault::Parent(ffi::SQLITE_IOERR_TRUNCATE));
        };
        // SAFETY: the parent file is open.
        check(unsafe { x(self.0, size as i64) })
    }

    fn size(&mut self) -> Result<u64, Fault> {
        let Some(x) = self.methods().xFileSize else {
            return Err(Fault::Parent(ffi::SQLITE_IOERR_FSTAT));
        };
        let mut size: i64 = 0;
        // SAFETY: the parent file is open; `size` outlives the call.
        check(unsafe { x(self.0, &mut size) })?;
        Ok(size.max(0) as u64)
    }
}

/// Runs a callback body, mapping faults to result codes and panics to `SQLITE_IOERR`.
fn guarded(body: impl FnOnce() -> Result<c_int, Fault>) -> c_int {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(rc)) => rc,
        Ok(Err(fault)) => fault.code(),
        Err(_) => ffi::SQLITE_IOERR,
    }
}

/// The pieces of an open file, for one callback.
///
/// # Safety
/// 1. `file` must be a `VaultFile` that our xOpen initialised and SQLite has not closed.
/// 2. SQLite must not call into the same file from another thread at the same time
///    (it serialises calls per file).
unsafe fn parts<'a>(file: *mut ffi::sqlite3_file) -> Option<(&'a mut FileState, Parent)> {
    let vf = file.cast::<VaultFile>();
    // SAFETY: precondition 1: `file` points to a live VaultFile.
    let state = unsafe { (*vf).state };
    if state.is_null() {
        return None;
    }
    // SAFETY: `state` came from Box::into_raw in xOpen and is freed only in xClose;
    // precondition 2 makes this the only reference for the duration of the call.
    let state = unsafe { &mut *state };
    // SAFETY: the parent object was placed at PARENT_OFFSET inside the allocation.
    let parent = unsafe { file.cast::<u8>().add(PARENT_OFFSET).cast::<ffi::sqlite3_file>() };
    Some((state, Parent(parent)))
}

/// Like [`guarded`], with the file's parts, recording faults for its database.
fn with_file(
    file: *mut ffi::sqlite3_file,
    body: impl FnOnce(&mut FileState, &mut Parent) -> Result<c_int, Fault>,
) -> c_int {
    guarded(|| {
        // SAFETY: SQLite passes the file object it opened through us, and serialises
        // calls on one file (parts' preconditions).
        let Some((state, mut parent)) = (unsafe { parts(file) }) else {
            return Err(Fault::Parent(ffi::SQLITE_IOERR));
        };
        let result = body(state, &mut parent);
        if let (Err(fault), Some(shared)) = (&result, &state.shared)
            && !matches!(fault, Fault::Parent(_))
        {
            shared.record_fault(*fault);
            LAST_THREAD_FAULT.with(|f| f.set(Some(*fault)));
        }
        result
    })
}

unsafe extern "C" fn x_close(file: *mut ffi::sqlite3_file) -> c_int {
    let flushed = with_file(file, |state, parent| {
        match &mut state.role {
            Role::Wal(w) => w.flush(parent)?,
            Role::Block(_) | Role::Main(_) | Role::Journal(_) | Role::Plain => {}
        }
        Ok(ffi::SQLITE_OK)
    });
    let closed = guarded(|| {
        let vf = file.cast::<VaultFile>();
        // SAFETY: `file` is our live VaultFile (SQLite calls xClose once, after success).
        let state = unsafe { std::mem::replace(&mut (*vf).state, ptr::null_mut()) };
        if !state.is_null() {
            // SAFETY: created by Box::into_raw in xOpen; nulled above so freed once.
            let state = unsafe { Box::from_raw(state) };
            if let (Role::Main(_), Some(shared)) = (&state.role, &state.shared) {
                shared::unregister_main(state.main_name, shared);
            }
        }
        // SAFETY: the parent object is live until its own xClose, called just here.
        let parent = unsafe { file.cast::<u8>().add(PARENT_OFFSET).cast::<ffi::sqlite3_file>() };
        let p = Parent(parent);
        let rc = match p.methods().xClose {
            // SAFETY: closing the parent file exactly once.
            Some(x) => unsafe { x(parent) },
            None => ffi::SQLITE_OK,
        };
        Ok(rc)
    });
    if flushed != ffi::SQLITE_OK {
        flushed
    } else {
        closed
    }
}

unsafe extern "C" fn x_read(
    file: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    amt: c_int,
    offset: i64,
) -> c_int {
    with_file(file, |state, parent| {
        if buf.is_null() || amt < 0 || offset < 0 {
            return Err(Fault::UnexpectedIo("negative read"));
        }
        // SAFETY: SQLite hands a writable buffer of `amt` bytes, valid for this call.
        let buf = unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), amt as usize) };
        let off = offset as u64;
        let filled = match &mut state.role {
            Role::Main(m) => m.read(parent, buf, off)?,
            Role::Wal(w) => w.read(parent, buf, off)?,
            Role::Journal(j) => j.read(parent, buf, off)?,
            Role::Block(b) => b.read(parent, buf, off)?,
            Role::Plain => parent.read_at(buf, off)?,
        };
        Ok(match filled {
            Filled::Full => ffi::SQLITE_OK,
            Filled::Short => ffi::SQLITE_IOERR_SHORT_READ,
        })
    })
}

unsafe extern "C" fn x_write(
    file: *mut ffi::sqlite3_file,
    buf: *const c_void,
    amt: c_int,
    offset: i64,
) -> c_int {
    with_file(file, |state, parent| {
        if buf.is_null() || amt < 0 || offset < 0 {
            return Err(Fault::UnexpectedIo("negative write"));
        }
        // SAFETY: SQLite hands a readable buffer of `amt` bytes, valid for this call.
        let buf = unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), amt as usize) };
        let off = offset as u64;
        match &mut state.role {
            Role::Main(m) => m.write(parent, buf, off)?,
            Role::Wal(w) => w.write(parent, buf, off)?,
            Role::Journal(j) => j.write(parent, buf, off)?,
            Role::Block(b) => b.write(parent, buf, off)?,
            Role::Plain => parent.write_at(buf, off)?,
        }
        Ok(ffi::SQLITE_OK)
    })
}

unsafe extern "C" fn x_truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    with_file(file, |state, parent| {
        let size = size.max(0) as u64;
        match &mut state.role {
            Role::Wal(w) => {
                w.flush(parent)?;
                parent.truncate(size)?;
                w.truncated(size);
            }
            Role::Block(b) => b.truncate(parent, size)?,
            Role::Main(m) => m.truncate(parent, size)?,
            Role::Journal(j) => {
                parent.truncate(size)?;
                j.truncated(size);
            }
            Role::Plain => parent.truncate(size)?,
        }
        Ok(ffi::SQLITE_OK)
    })
}

unsafe extern "C" fn x_sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    with_file(file, |state, parent| {
        match &mut state.role {
            Role::Wal(w) => w.flush_for_sync(parent)?,
            Role::Block(b) => b.flush(parent)?,
            Role::Main(m) => m.before_sync(parent)?,
            Role::Journal(_) | Role::Plain => {}
        }
        let rc = match parent.methods().xSync {
            // SAFETY: the parent file is open.
            Some(x) => unsafe { x(parent.0, flags) },
            None => ffi::SQLITE_OK,
        };
        if rc == ffi::SQLITE_OK {
            match &mut state.role {
                Role::Wal(w) => w.synced(),
                Role::Journal(j) => j.synced(),
                _ => {}
            }
        }
        Ok(rc)
    })
}

unsafe extern "C" fn x_file_size(file: *mut ffi::sqlite3_file, out: *mut i64) -> c_int {
    with_file(file, |state, parent| {
        let size = match &mut state.role {
            Role::Wal(w) => {
                w.flush(parent)?;
                parent.size()?
            }
            Role::Block(b) => b.size(),
            Role::Main(_) | Role::Journal(_) | Role::Plain => parent.size()?,
        };
        // SAFETY: SQLite passes a valid out-pointer.
        unsafe { *out = size as i64 };
        Ok(ffi::SQLITE_OK)
    })
}

macro_rules! delegate {
    ($name:ident, $field:ident, ($($arg:ident : $ty:ty),*), $default:expr) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> c_int {
            with_file(file, |_, parent| match parent.methods().$field {
                // SAFETY: forwarding SQLite's own arguments to the open parent file.
                Some(x) => Ok(unsafe { x(parent.0 $(, $arg)*) }),
                None => Ok($default),
            })
        }
    };
}

unsafe extern "C" fn x_lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    with_file(file, |state, parent| {
        let Some(x) = parent.methods().xLock else {
            return Ok(ffi::SQLITE_OK);
        };
        // SAFETY: forwarding SQLite's own argument to the open parent file.
        let rc = unsafe { x(parent.0, level) };
        if rc != ffi::SQLITE_OK {
            return Ok(rc);
        }
        if let Role::Main(main) = &mut state.role {
            main.locking();
            // A new, keyed database: the reserve set now lands in the header of page 1,
            // which SQLite builds in its first write transaction.
            // This covers every way a keyed file is created from SQL: `PRAGMA key`,
            // `ATTACH … KEY`, `?key=` URIs, a key inherited by `ATTACH` or `VACUUM INTO`.
            // The first SHARED lock comes before SQLite derives its cell-size limits from
            // the usable page size (lockBtree); setting the reserve only at RESERVED, after
            // them, let large cells run into the trailer region.
            if (level == ffi::SQLITE_LOCK_SHARED || level == ffi::SQLITE_LOCK_RESERVED)
                && !state.db.is_null()
                && !state.shared_cache
                && main.shared.key().is_some()
                && parent.size()? == 0
            {
                // SAFETY: `state.db` is the connection that owns this file (FCNTL_PDB);
                // SQLite calls xLock with that connection's mutex held on this thread, and
                // sqlite3_file_control re-enters it (the mutex is recursive).
                unsafe { set_reserve_for_file(state.db, file) };
            }
        }
        Ok(rc)
    })
}
unsafe extern "C" fn x_unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    with_file(file, |state, parent| {
        if let Role::Main(main) = &mut state.role
            && level <= ffi::SQLITE_LOCK_SHARED
        {
            main.unlocked();
        }
        match parent.methods().xUnlock {
            // SAFETY: forwarding SQLite's own argument to the open parent file.
            Some(x) => Ok(unsafe { x(parent.0, level) }),
            None => Ok(ffi::SQLITE_OK),
        }
    })
}
delegate!(x_check_reserved_lock, xCheckReservedLock, (out: *mut c_int), ffi::SQLITE_OK);
delegate!(x_sector_size, xSectorSize, (), 4096);
delegate!(x_device_characteristics, xDeviceCharacteristics, (), 0);
delegate!(x_shm_map, xShmMap, (region: c_int, size: c_int, extend: c_int, pp: *mut *mut c_void), ffi::SQLITE_IOERR_SHMMAP);
delegate!(x_shm_lock, xShmLock, (offset: c_int, n: c_int, flags: c_int), ffi::SQLITE_IOERR_SHMLOCK);
delegate!(x_shm_unmap, xShmUnmap, (delete: c_int), ffi::SQLITE_OK);

unsafe extern "C" fn x_shm_barrier(file: *mut ffi::sqlite3_file) {
    with_file(file, |_, parent| {
        if let Some(x) = parent.methods().xShmBarrier {
            // SAFETY: the parent file is open.
            unsafe { x(parent.0) };
        }
        Ok(ffi::SQLITE_OK)
    });
}

/// Memory-mapped I/O would hand SQLite ciphertext: never give out a mapping. A NULL
/// `*pp` with `SQLITE_OK` is SQLite's documented "read it with xRead instead".
unsafe extern "C" fn x_fetch(
    _file: *mut ffi::sqlite3_file,
    _off: i64,
    _amt: c_int,
    pp: *mut *mut c_void,
) -> c_int {
    if !pp.is_null() {
        // SAFETY: SQLite passes a valid out-pointer.
        unsafe { *pp = ptr::null_mut() };
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_unfetch(_file: *mut ffi::sqlite3_file, _off: i64, _p: *mut c_void) -> c_int {
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_file_control(file: *mut ffi::sqlite3_file, op: c_int, arg: *mut c_void) -> c_int {
    with_file(file, |state, parent| {
        match op {
            ffi::SQLITE_FCNTL_PDB if !arg.is_null() => {
                // SAFETY: for FCNTL_PDB, `arg` points to the connection's `sqlite3*`.
                let db = unsafe { *arg.cast::<*mut ffi::sqlite3>() };
                state.shared_cache |= !state.db.is_null() && state.db != db;
                state.db = db;
                if let (Role::Main(main), Some(shared)) = (&mut state.role, &state.shared)
                    && shared.key().is_none()
                    // SAFETY: `state.db` is the connection opening this file, on this thread.
                    && let Some(key) = unsafe { main_schema_key(state.db, file) }
                {
                    main.inherit_key(parent, key)?;
                }
            }
            ffi::SQLITE_FCNTL_CKPT_START | ffi::SQLITE_FCNTL_CKPT_DONE => {
                if let Some(shared) = &state.shared {
                    shared.set_checkpointing(op == ffi::SQLITE_FCNTL_CKPT_START);
                }
            }
            // The commit's sync comes next (sent even with synchronous=OFF): whatever a page
            // size change still holds back must be in the file before it.
            ffi::SQLITE_FCNTL_SYNC => {
                if let Role::Main(main) = &mut state.role {
                    main.before_sync(parent)?;
                }
            }
            ffi::SQLITE_FCNTL_MMAP_SIZE => {
                if !arg.is_null() {
                    // SAFETY: for FCNTL_MMAP_SIZE, `arg` points to an i64 in/out value.
                    unsafe { *arg.cast::<i64>() = 0 };
                }
                return Ok(ffi::SQLITE_OK);
            }
            ffi::SQLITE_FCNTL_PRAGMA if matches!(state.role, Role::Main(_)) => {
                if let Some(rc) = pragma(state, parent, file, arg)? {
                    return Ok(rc);
                }
            }
            FCNTL_TAKE_FAULT if !arg.is_null() => {
                let fault = state.shared.as_ref().and_then(|s| s.take_fault());
                // SAFETY: our own opcode; callers pass `*mut Option<Fault>`.
                unsafe { *arg.cast::<Option<Fault>>() = fault };
                return Ok(ffi::SQLITE_OK);
            }
            FCNTL_CHECK_SIZE if !arg.is_null() => {
                let fault = match &mut state.role {
                    Role::Main(m) => m.check_size(parent).err(),
                    _ => None,
                };
                // SAFETY: our own opcode; callers pass `*mut Option<Fault>`.
                unsafe { *arg.cast::<Option<Fault>>() = fault };
                return Ok(ffi::SQLITE_OK);
            }
            _ => {}
        }
        match parent.methods().xFileControl {
            // SAFETY: forwarding SQLite's arguments to the open parent file.
            Some(x) => Ok(unsafe { x(parent.0, op, arg) }),
            None => Ok(ffi::SQLITE_NOTFOUND),
        }
    })
}

/// Handles `PRAGMA key` / `PRAGMA rekey` on a main database. `None`: not ours.
fn pragma(
    state: &mut FileState,
    parent: &mut Parent,
    file: *mut ffi::sqlite3_file,
    arg: *mut c_void,
) -> Result<Option<c_int>, Fault> {
    let az = arg.cast::<*mut c_char>();
    // SAFETY: for FCNTL_PRAGMA, `arg` is an array of 3 C strings: [out message, name, value];
    // name is non-null, value may be null.
    let (name, value) = unsafe { (*az.add(1), *az.add(2)) };
    // SAFETY: SQLite's pragma name and value are NUL-terminated strings.
    let name = unsafe { CStr::from_ptr(name) }
        .to_string_lossy()
        .to_ascii_lowercase();
    // The value as bytes, never through a lossy text conversion (a key is bytes), in a
    // buffer wiped when it is dropped.
    let value = (!value.is_null()).then(|| {
        // SAFETY: as above.
        zeroize::Zeroizing::new(unsafe { CStr::from_ptr(value) }.to_bytes().to_vec())
    });
    let message = |text: &str| set_message(az, text);
    match name.as_str() {
        "key" | "hexkey" => {
            let Role::Main(main) = &mut state.role else {
                return Ok(None);
            };
            let Some(value) = value else {
                message("PRAGMA key needs a value");
                return Ok(Some(ffi::SQLITE_ERROR));
            };
            let key = if name == "hexkey" {
                match std::str::from_utf8(&value)
                    .map_err(|_| sqlvault_crypto::Error::InvalidRawKey)
                    .and_then(sqlvault_crypto::MasterKey::from_hex)
                {
                    Ok(k) => Key::Raw(k),
                    Err(e) => {
                        message(&e.to_string());
                        main.shared.set_key_failed(Fault::KeyFailed);
                        return Ok(Some(ffi::SQLITE_ERROR));
                    }
                }
            } else {
                Key::parse_pragma_bytes(&value)
            };
            if key.is_empty_passphrase() {
                message("sqlvault: an empty key is refused");
                main.shared.set_key_failed(Fault::KeyFailed);
                return Ok(Some(ffi::SQLITE_ERROR));
            }
            let path = main_path(state.main_name);
            let Role::Main(main) = &mut state.role else {
                return Ok(None);
            };
            if let Err(fault) =
                main.set_key_from_pragma(parent, &key, Argon2Params::default(), path.as_deref())
            {
                // Nothing may be read or written in the clear after a failed key: every
                // later read or write fails with the same reason (a plaintext or foreign
                // file: SQLite's own "file is not a database").
                main.shared.set_key_failed(match fault {
                    Fault::Parent(_) => Fault::KeyFailed,
                    other => other,
                });
                message(&format!(
                    "sqlvault: {fault}; this connection's database is unusable until it is reopened"
                ));
                return Ok(Some(ffi::SQLITE_ERROR));
            }
            if parent.size()? == 0 && !state.db.is_null() && !state.shared_cache {
                // SAFETY: `state.db` is the connection that owns this file (FCNTL_PDB),
                // and SQLite is inside sqlite3_file_control on it, holding its
                // (recursive) mutex on this thread.
                unsafe { set_reserve_for_file(state.db, file) };
            }
            message("ok");
            Ok(Some(ffi::SQLITE_OK))
        }
        "rekey" | "hexrekey" => {
            message(
                "PRAGMA rekey is not supported: use `sqlvault rekey` (the CLI, with the database closed) \
                 or `Database::rekey` (the Rust driver, while it is open); both rewrite the database crash-safely",
            );
            Ok(Some(ffi::SQLITE_ERROR))
        }
        _ => Ok(None),
    }
}

/// The key of the `main` database of `db`, if it is a keyed sqlvault file other than `file`.
///
/// A database SQLite opens for a connection without being given a key — the output of
/// `VACUUM INTO`, a database `ATTACH`ed without one — takes its key from `main`, as with
/// SQLCipher: a copy is never written in the clear by accident.
///
/// # Safety
/// `db` is a valid connection used on this thread; `file` is a file being opened for it.
unsafe fn main_schema_key(db: *mut ffi::sqlite3, file: *mut ffi::sqlite3_file) -> Option<KeyMaterial> {
    let mut fp: *mut ffi::sqlite3_file = ptr::null_mut();
    // SAFETY: FILE_POINTER writes one pointer; while `main` itself is being opened it is
    // not yet attached to the connection and the call fails harmlessly.
    let rc = unsafe {
        ffi::sqlite3_file_control(
            db,
            c"main".as_ptr(),
            ffi::SQLITE_FCNTL_FILE_POINTER,
            (&raw mut fp).cast(),
        )
    };
    // SAFETY: a non-null file pointer from SQLite is a live, open file; ours are
    // recognised by their methods table, and their state is only read here.
    unsafe {
        if rc != ffi::SQLITE_OK
            || fp.is_null()
            || fp == file
            || !(ptr::eq((*fp).pMethods, &IO_METHODS) || ptr::eq((*fp).pMethods, &IO_METHODS_NO_SHM))
        {
            return None;
        }
        let state = (*fp.cast::<VaultFile>()).state;
        if state.is_null() {
            return None;
        }
        (*state).shared.as_ref().and_then(|s| s.key())
    }
}

/// Puts a message allocated with sqlite3_malloc into the pragma's result slot.
fn set_message(az: *mut *mut c_char, text: &str) {
    let bytes = text.as_bytes();
    // SAFETY: sqlite3_malloc64 returns memory SQLite will free with sqlite3_free.
    let out = unsafe { ffi::sqlite3_malloc64(bytes.len() as u64 + 1) }.cast::<u8>();
    if out.is_null() {
        return;
    }
    // SAFETY: `out` has room for the bytes and the NUL; `az[0]` is the pragma's output
    // slot, which SQLite frees after use.
    unsafe {
        ptr::copy_nonoverlapping(bytes.as_ptr(), out, bytes.len());
        *out.add(bytes.len()) = 0;
        if !(*az).is_null() {
            ffi::sqlite3_free((*az).cast());
        }
        *az = out.cast();
    }
}

/// Asks SQLite to reserve the trailer's bytes on every page of the (new, empty) database
/// whose main file object is `file`.
///
/// # Safety
/// 1. `db` is a valid open connection, used on this thread only for this call.
/// 2. `file` is the file object of one of its databases, or not of this connection at all.
unsafe fn set_reserve_for_file(db: *mut ffi::sqlite3, file: *mut ffi::sqlite3_file) {
    let mut i = 0;
    loop {
        // SAFETY: precondition 1; sqlite3_db_name returns NULL past the last schema.
        let name = unsafe { ffi::sqlite3_db_name(db, i) };
        if name.is_null() {
            return;
        }
        let mut fp: *mut ffi::sqlite3_file = ptr::null_mut();
        // SAFETY: FILE_POINTER writes one pointer into `fp`.
        let rc = unsafe {
            ffi::sqlite3_file_control(db, name, ffi::SQLITE_FCNTL_FILE_POINTER, (&raw mut fp).cast())
        };
        if rc == ffi::SQLITE_OK && fp == file {
            let mut reserve = RESERVE;
            // SAFETY: RESERVE_BYTES reads and writes one c_int.
            unsafe {
                ffi::sqlite3_file_control(
                    db,
                    name,
                    ffi::SQLITE_FCNTL_RESERVE_BYTES,
                    (&raw mut reserve).cast(),
                )
            };
            return;
        }
        i += 1;
    }
}

static IO_METHODS: ffi::sqlite3_io_methods = io_methods(true);

/// For parents without shared memory (no WAL): SQLite then refuses WAL mode itself, with
/// its own "unable to open database file", instead of failing later in `xShmMap`.
static IO_METHODS_NO_SHM: ffi::sqlite3_io_methods = io_methods(false);

/// The methods of our files; the `xShm*` ones only if the parent has shared memory.
const fn io_methods(shm: bool) -> ffi::sqlite3_io_methods {
    ffi::sqlite3_io_methods {
        iVersion: 3,
        xClose: Some(x_close),
        xRead: Some(x_read),
        xWrite: Some(x_write),
        xTruncate: Some(x_truncate),
        xSync: Some(x_sync),
        xFileSize: Some(x_file_size),
        xLock: Some(x_lock),
        xUnlock: Some(x_unlock),
        xCheckReservedLock: Some(x_check_reserved_lock),
        xFileControl: Some(x_file_control),
        xSectorSize: Some(x_sector_size),
        xDeviceCharacteristics: Some(x_device_characteristics),
        xShmMap: if shm { Some(x_shm_map) } else { None },
        xShmLock: if shm { Some(x_shm_lock) } else { None },
        xShmBarrier: if shm { Some(x_shm_barrier) } else { None },
        xShmUnmap: if shm { Some(x_shm_unmap) } else { None },
        xFetch: Some(x_fetch),
        xUnfetch: Some(x_unfetch),
    }
}

/// # Safety
/// `vfs` must be a VFS this module registered (its pAppData is a `VfsData`).
unsafe fn vfs_data<'a>(vfs: *mut ffi::sqlite3_vfs) -> &'a VfsData {
    // SAFETY: precondition; VfsData is leaked at registration and never freed.
    unsafe { &*(*vfs).pAppData.cast::<VfsData>() }
}

unsafe extern "C" fn x_open(
    vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    // SAFETY: SQLite calls xOpen on the VFS we registered.
    let parent_vfs = unsafe { vfs_data(vfs) }.parent;
    // SAFETY: SQLite allocated szOsFile bytes at `file`; the parent's object starts at PARENT_OFFSET.
    let parent_file = unsafe { file.cast::<u8>().add(PARENT_OFFSET).cast::<ffi::sqlite3_file>() };
    // SAFETY: `file` is writable; a NULL pMethods tells SQLite not to call xClose on failure.
    unsafe {
        (*file).pMethods = ptr::null();
        (*file.cast::<VaultFile>()).state = ptr::null_mut();
    }
    // SAFETY: the parent VFS is live for the process (VFSes are never unregistered here).
    let Some(parent_open) = (unsafe { (*parent_vfs).xOpen }) else {
        return ffi::SQLITE_CANTOPEN;
    };
    // SAFETY: forwarding SQLite's arguments, with the parent's part of our allocation.
    let rc = unsafe { parent_open(parent_vfs, name, parent_file, flags, out_flags) };
    if rc != ffi::SQLITE_OK {
        // SAFETY: some VFSes set pMethods even when xOpen fails; then xClose must run.
        unsafe {
            if !(*parent_file).pMethods.is_null()
                && let Some(close) = (*(*parent_file).pMethods).xClose
            {
                close(parent_file);
            }
        }
        return rc;
    }
    let state = guarded(|| {
        // SAFETY: SQLite calls xOpen on the VFS we registered.
        let strict = unsafe { vfs_data(vfs) }.strict;
        let state = new_file_state(name, flags, strict)?;
        // SAFETY: `file` is ours to initialise; SQLite reads pMethods after we return OK.
        unsafe {
            (*file.cast::<VaultFile>()).state = Box::into_raw(Box::new(state));
            let parent_methods = &*(*parent_file).pMethods;
            (*file).pMethods = if parent_methods.iVersion >= 2 && parent_methods.xShmMap.is_some() {
                &IO_METHODS
            } else {
                &IO_METHODS_NO_SHM
            };
        }
        Ok(ffi::SQLITE_OK)
    });
    if state != ffi::SQLITE_OK {
        // SAFETY: the parent opened successfully above and must be closed exactly once.
        unsafe {
            if let Some(close) = (*(*parent_file).pMethods).xClose {
                close(parent_file);
            }
        }
    }
    state
}

fn new_file_state(name: ffi::sqlite3_filename, flags: c_int, strict: bool) -> Result<FileState, Fault> {
    let kind = flags & 0x000F_FF00;
    let mut state = FileState {
        role: Role::Plain,
        shared: None,
        main_name: 0,
        db: ptr::null_mut(),
        shared_cache: false,
    };
    match kind {
        ffi::SQLITE_OPEN_MAIN_DB => {
            let shared = Arc::new(SharedDb::default());
            if let Some(key) = NEXT_OPEN_KEY.with(|k| k.borrow_mut().take()) {
                shared.set_key(key);
            } else if !name.is_null()
                && let Some((key, provisional)) = uri_key(name)?
            {
                match provisional {
                    Some(user_key) => shared.set_provisional_key(key, Some(user_key)),
                    None => shared.set_key(key),
                }
            }
            if !name.is_null() {
                state.main_name = name as usize;
                shared::register_main(state.main_name, shared.clone());
            }
            let mut main = MainDb::new(shared.clone());
            main.set_strict(strict);
            state.role = Role::Main(main);
            state.shared = Some(shared);
        }
        ffi::SQLITE_OPEN_WAL | ffi::SQLITE_OPEN_MAIN_JOURNAL => {
            if name.is_null() {
                return Err(Fault::UnexpectedIo("a WAL or journal without a name"));
            }
            // SAFETY: SQLite passes WAL and journal names from the pager's name block,
            // which sqlite3_filename_database maps back to the main database name.
            let main = unsafe { ffi::sqlite3_filename_database(name) } as usize;
            // Fail closed: a WAL or journal whose database we cannot find must not be
            // written unencrypted by mistake.
            let shared = shared::find_main(main)
                .ok_or(Fault::UnexpectedIo("a WAL or journal of an unknown database"))?;
            state.role = if kind == ffi::SQLITE_OPEN_WAL {
                Role::Wal(WalFile::new(shared.clone()))
            } else {
                Role::Journal(JournalFile::new(shared.clone()))
            };
            state.shared = Some(shared);
        }
        // A super-journal holds only the names of the journals of a multi-database
        // commit, which the directory shows anyway; it is read by whichever process
        // recovers, with no key at hand. It stays in the clear.
        ffi::SQLITE_OPEN_SUPER_JOURNAL => {}
        _ if name.is_null()
            || matches!(
                kind,
                ffi::SQLITE_OPEN_TEMP_DB
                    | ffi::SQLITE_OPEN_TEMP_JOURNAL
                    | ffi::SQLITE_OPEN_SUBJOURNAL
                    | ffi::SQLITE_OPEN_TRANSIENT_DB
            ) =>
        {
            state.role = Role::Block(BlockFile::new()?);
        }
        _ => {}
    }
    Ok(state)
}

/// The key as the user gave it, with the KDF cost for a new database.
type UserKey = (Key, Argon2Params);

/// A key given as a URI parameter (`file:x.db?key=…` or `?hexkey=…`), for `ATTACH`, with
/// the key itself when the database does not exist yet (its salt is provisional).
fn uri_key(name: ffi::sqlite3_filename) -> Result<Option<(KeyMaterial, Option<UserKey>)>, Fault> {
    let get = |param: &CStr| {
        // SAFETY: `name` is a main-database filename passed to xOpen, valid for
        // sqlite3_uri_parameter; the result (if any) lives as long as the name.
        let v = unsafe { ffi::sqlite3_uri_parameter(name, param.as_ptr()) };
        // SAFETY: a non-null result is a NUL-terminated string. Its bytes are copied into a
        // buffer wiped on drop, never through a lossy text conversion.
        (!v.is_null()).then(|| zeroize::Zeroizing::new(unsafe { CStr::from_ptr(v) }.to_bytes().to_vec()))
    };
    let key = if let Some(hex) = get(c"hexkey") {
        let hex =
            std::str::from_utf8(&hex).map_err(|_| Fault::Crypto(sqlvault_crypto::Error::InvalidRawKey))?;
        Key::Raw(sqlvault_crypto::MasterKey::from_hex(hex)?)
    } else if let Some(pass) = get(c"key") {
        Key::parse_pragma_bytes(&pass)
    } else {
        return Ok(None);
    };
    if key.is_empty_passphrase() {
        return Err(Fault::Crypto(sqlvault_crypto::Error::InvalidRawKey));
    }
    // SAFETY: as above; the database path is the filename itself.
    let path = path_from_bytes(unsafe { CStr::from_ptr(name) }.to_bytes());
    let params = Argon2Params::default();
    match crate::main_db::salt_of_path(&path)? {
        Some(salt) => {
            let master = sqlvault_crypto::derive_master_key_limited(
                &key,
                &salt,
                &sqlvault_crypto::KdfLimits::default(),
            )?;
            Ok(Some((KeyMaterial { master, salt }, None)))
        }
        None => {
            let salt = sqlvault_crypto::DatabaseSalt::generate_for(&key, params)?;
            let master = sqlvault_crypto::derive_master_key_limited(
                &key,
                &salt,
                &sqlvault_crypto::KdfLimits::default(),
            )?;
            Ok(Some((KeyMaterial { master, salt }, Some((key, params)))))
        }
    }
}

/// The path of the main database whose filename SQLite opened at address `name`.
fn main_path(name: usize) -> Option<std::path::PathBuf> {
    if name == 0 {
        return None;
    }
    // SAFETY: `name` is the filename pointer SQLite passed to xOpen for this main database
    // file; SQLite keeps it valid until the file is closed, and the file is open.
    let bytes = unsafe { CStr::from_ptr(name as *const c_char) }.to_bytes();
    Some(path_from_bytes(bytes))
}

fn path_from_bytes(bytes: &[u8]) -> std::path::PathBuf {
    use std::os::unix::ffi::OsStrExt;
    std::path::PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

macro_rules! vfs_delegate {
    ($name:ident, $field:ident, ($($arg:ident : $ty:ty),*) -> $ret:ty, $default:expr) => {
        unsafe extern "C" fn $name(vfs: *mut ffi::sqlite3_vfs $(, $arg: $ty)*) -> $ret {
            // SAFETY: SQLite calls us with the VFS we registered.
            let parent = unsafe { vfs_data(vfs) }.parent;
            // SAFETY: the parent VFS lives for the process; arguments are SQLite's own.
            match unsafe { (*parent).$field } {
                // SAFETY: forwarding SQLite's own arguments to the parent VFS.
                Some(x) => unsafe { x(parent $(, $arg)*) },
                None => $default,
            }
        }
    };
}

vfs_delegate!(v_delete, xDelete, (name: *const c_char, sync_dir: c_int) -> c_int, ffi::SQLITE_IOERR_DELETE);
vfs_delegate!(v_access, xAccess, (name: *const c_char, flags: c_int, out: *mut c_int) -> c_int, ffi::SQLITE_IOERR_ACCESS);
vfs_delegate!(v_full_pathname, xFullPathname, (name: *const c_char, n: c_int, out: *mut c_char) -> c_int, ffi::SQLITE_CANTOPEN);
vfs_delegate!(v_dl_open, xDlOpen, (name: *const c_char) -> *mut c_void, ptr::null_mut());
vfs_delegate!(v_dl_error, xDlError, (n: c_int, out: *mut c_char) -> (), ());
vfs_delegate!(v_dl_close, xDlClose, (handle: *mut c_void) -> (), ());
vfs_delegate!(v_randomness, xRandomness, (n: c_int, out: *mut c_char) -> c_int, 0);
vfs_delegate!(v_sleep, xSleep, (micros: c_int) -> c_int, 0);
vfs_delegate!(v_current_time, xCurrentTime, (out: *mut f64) -> c_int, ffi::SQLITE_ERROR);
vfs_delegate!(v_get_last_error, xGetLastError, (n: c_int, out: *mut c_char) -> c_int, 0);
vfs_delegate!(v_current_time_int64, xCurrentTimeInt64, (out: *mut i64) -> c_int, ffi::SQLITE_ERROR);

type DlSym = unsafe extern "C" fn(*mut ffi::sqlite3_vfs, *mut c_void, *const c_char);

unsafe extern "C" fn v_dl_sym(
    vfs: *mut ffi::sqlite3_vfs,
    handle: *mut c_void,
    sym: *const c_char,
) -> Option<DlSym> {
    // SAFETY: SQLite calls us with the VFS we registered.
    let parent = unsafe { vfs_data(vfs) }.parent;
    // SAFETY: the parent VFS lives for the process.
    match unsafe { (*parent).xDlSym } {
        // SAFETY: forwarding to the parent.
        Some(x) => unsafe { x(parent, handle, sym) },
        None => None,
    }
}

/// Registers the sqlvault VFS as `name` over `parent` (`None`: the default VFS).
///
/// # Errors
/// A SQLite result code if the parent does not exist or registration fails.
pub(crate) fn register_vfs(
    name: &str,
    parent: Option<&str>,
    make_default: bool,
    strict: bool,
) -> Result<(), c_int> {
    let cname = CString::new(name).map_err(|_| ffi::SQLITE_MISUSE)?;
    let cparent = parent
        .map(CString::new)
        .transpose()
        .map_err(|_| ffi::SQLITE_MISUSE)?;
    // A loaded extension has no sqlite3_initialize in its API table; the host has
    // initialised SQLite already.
    #[cfg(not(feature = "loadable-extension"))]
    {
        // SAFETY: sqlite3_initialize may be called any number of times.
        let rc = unsafe { ffi::sqlite3_initialize() };
        if rc != ffi::SQLITE_OK {
            return Err(rc);
        }
    }
    register_fork_handler();
    // SAFETY: a NULL name finds the default VFS; the names are NUL-terminated.
    let existing = unsafe { ffi::sqlite3_vfs_find(cname.as_ptr()) };
    if !existing.is_null() {
        return Ok(());
    }
    // SAFETY: as above.
    let parent_vfs = unsafe { ffi::sqlite3_vfs_find(cparent.as_ref().map_or(ptr::null(), |p| p.as_ptr())) };
    if parent_vfs.is_null() {
        return Err(ffi::SQLITE_NOTFOUND);
    }
    // SAFETY: parent_vfs is a registered VFS, valid for the process.
    let (parent_size, parent_path) = unsafe { ((*parent_vfs).szOsFile, (*parent_vfs).mxPathname) };
    let data = Box::leak(Box::new(VfsData {
        parent: parent_vfs,
        _name: cname,
        strict,
    }));
    let vfs = Box::leak(Box::new(ffi::sqlite3_vfs {
        iVersion: 2,
        szOsFile: (PARENT_OFFSET as c_int) + parent_size,
        mxPathname: parent_path,
        pNext: ptr::null_mut(),
        zName: data._name.as_ptr(),
        pAppData: (data as *mut VfsData).cast(),
        xOpen: Some(x_open),
        xDelete: Some(v_delete),
        xAccess: Some(v_access),
        xFullPathname: Some(v_full_pathname),
        xDlOpen: Some(v_dl_open),
        xDlError: Some(v_dl_error),
        xDlSym: Some(v_dl_sym),
        xDlClose: Some(v_dl_close),
        xRandomness: Some(v_randomness),
        xSleep: Some(v_sleep),
        xCurrentTime: Some(v_current_time),
        xGetLastError: Some(v_get_last_error),
        xCurrentTimeInt64: Some(v_current_time_int64),
        xSetSystemCall: None,
        xGetSystemCall: None,
        xNextSystemCall: None,
    }));
    // SAFETY: the VFS object and its name are leaked, so they outlive the registration.
    let rc = unsafe { ffi::sqlite3_vfs_register(vfs, c_int::from(make_default)) };
    if rc == ffi::SQLITE_OK { Ok(()) } else { Err(rc) }
}

extern "C" fn after_fork_in_child() {
    sqlvault_crypto::note_fork();
}

/// Makes every page cipher of a forked child draw a fresh epoch before it seals, so the
/// child never reuses its parent's nonces (both would go on counting from the same value).
fn register_fork_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: the handler only increments an atomic counter (async-signal-safe, as a
        // pthread_atfork child handler must be); the function lives for the process.
        unsafe {
            libc::pthread_atfork(None, None, Some(after_fork_in_child));
        }
    });
}

unsafe extern "C" {
    /// The C library's environment array (POSIX `environ`), NULL-terminated.
    static environ: *const *mut c_char;
}

/// A variable taken by [`take_environment_variables`]: its index in the names asked for,
/// and its value (zeroized on drop).
pub type TakenVariable = (usize, zeroize::Zeroizing<Vec<u8>>);

/// Takes the variables `names` out of the environment: returns each one that is set, as
/// its index in `names` and its value (zeroized on drop), removes it, and overwrites its
/// bytes in the initial environment block the kernel gave the process (removing a variable
/// only drops the pointer to them: `/proc/PID/environ` would still show them).
///
/// For key variables (`SQLVAULT_KEY` …), which would otherwise be inherited by every child
/// process and readable in `/proc/PID/environ` for the life of the process.
///
/// Changing the environment is sound only while no other thread can read it, so this
/// checks that the process has a single thread (Linux: `/proc/self/status`) and refuses
/// otherwise.
///
/// # Errors
/// A message if the process may have more than one thread; nothing was changed.
pub fn take_environment_variables(names: &[&str]) -> Result<Vec<TakenVariable>, &'static str> {
    use std::os::unix::ffi::OsStringExt;
    if !single_threaded() {
        return Err("the environment can be changed only while the process has one thread");
    }
    let block = initial_env_block();
    let mut taken = Vec::new();
    for (i, &name) in names.iter().enumerate() {
        let Some(value) = std::env::var_os(name) else {
            continue;
        };
        taken.push((i, zeroize::Zeroizing::new(value.into_vec())));
        let entries = environ_entries_named(name);
        // SAFETY: the process has one thread (checked above, and only this thread could
        // start another), so nothing reads or writes the environment concurrently.
        unsafe { std::env::remove_var(name) };
        let Some((start, end)) = block else {
            continue;
        };
        for (ptr, len) in entries {
            let addr = ptr as usize;
            // Only bytes inside the kernel's block: a string set by setenv/putenv is the C
            // library's (or its caller's) to manage, and may not even be writable.
            if addr >= start && addr.saturating_add(len) <= end {
                // SAFETY: the `len` bytes at `ptr` are one `NAME=value` string of the
                // initial environment block, which the kernel maps writable; no other
                // thread exists to use it, and `remove_var` has just dropped `environ`'s
                // pointer to it (a pointer an earlier `getenv` returned would now read zeros).
                unsafe { std::ptr::write_bytes(ptr, 0, len) };
            }
        }
    }
    Ok(taken)
}

/// Whether `/proc/self/status` says the process has exactly one thread.
fn single_threaded() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .is_some_and(|n| n.trim() == "1")
    })
}

/// Pointers to, and lengths of, every `environ` entry `name=…`. Called only while the
/// process has a single thread (see [`take_environment_variables`]).
fn environ_entries_named(name: &str) -> Vec<(*mut u8, usize)> {
    let mut prefix = name.as_bytes().to_vec();
    prefix.push(b'=');
    let mut found = Vec::new();
    // SAFETY: reading the C library's `environ` pointer; with one thread nobody replaces
    // it meanwhile.
    let mut entry = unsafe { environ };
    if entry.is_null() {
        return found;
    }
    loop {
        // SAFETY: `environ` is a NULL-terminated array of pointers to NUL-terminated
        // strings, stable while nobody changes the environment; `entry` has not gone past
        // the terminating NULL.
        let ptr = unsafe { entry.read() };
        if ptr.is_null() {
            return found;
        }
        // SAFETY: as above; each entry is a NUL-terminated string.
        let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
        if bytes.starts_with(&prefix) {
            found.push((ptr.cast::<u8>(), bytes.len()));
        }
        // SAFETY: `entry` is not the terminating NULL, so the next slot exists.
        entry = unsafe { entry.add(1) };
    }
}

/// Where the kernel put the initial environment strings: fields 50 and 51 (`env_start`,
/// `env_end`) of `/proc/self/stat` (Linux 3.5 and later). `None` if unknown.
fn initial_env_block() -> Option<(usize, usize)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Field 2 (the command name) is in parentheses and may hold spaces: count from the last ')'.
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_comm.split_whitespace().skip(50 - 3);
    let start = fields.next()?.parse().ok()?;
    let end = fields.next()?.parse().ok()?;
    (start > 0 && start < end).then_some((start, end))
}
