//! A fault-injecting, write-recording VFS to put *under* sqlvault in tests.
//!
//! [`FaultVfs`] passes everything to the OS VFS and models a machine that loses power:
//!
//! - it keeps, per file, the content as of its last `xSync` (the durable image);
//! - after [`FaultVfs::arm`]`(n)`, the n-th write, truncate or sync and everything after
//!   it fail with `SQLITE_IOERR`, as if the process had died there;
//! - [`FaultVfs::power_cut`] then puts every file back to its durable image — every write
//!   not followed by a sync is lost — optionally keeping a sector-aligned prefix of the
//!   last lost write (a torn write).
//!
//! It can also record every byte written to every file, temp files included, so tests can
//! prove no plaintext ever reached the disk.
//!
//! Only for tests: it keeps whole files in memory.

use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::ptr;
use std::sync::{Arc, Mutex, MutexGuard};

use libsqlite3_sys as ffi;

/// Power-loss model and write recorder; see the module docs.
#[derive(Clone)]
pub struct FaultVfs {
    inner: Arc<Mutex<FaultState>>,
}

#[derive(Default)]
struct FaultState {
    /// Durable content by path; `None`: the file does not durably exist.
    durable: HashMap<String, Option<Vec<u8>>>,
    ops: u64,
    fail_from: Option<u64>,
    failed: bool,
    /// The last write since the last sync of its file: (path, offset, bytes).
    last_unsynced_write: Option<(String, u64, Vec<u8>)>,
    record: bool,
    /// Every byte written, by file name ("" for unnamed temp files).
    written: HashMap<String, Vec<u8>>,
}

fn lock(m: &Mutex<FaultState>) -> MutexGuard<'_, FaultState> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a torn last write keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tear {
    /// Lose it entirely.
    None,
    /// Keep this many leading 512-byte sectors of it (clamped to its length).
    Sectors(usize),
}

impl FaultVfs {
    /// Registers a fault VFS named `name` over the default VFS.
    ///
    /// # Panics
    /// If SQLite refuses the registration (names must be unique).
    pub fn register(name: &str) -> FaultVfs {
        let inner = Arc::new(Mutex::new(FaultState::default()));
        let data = Box::leak(Box::new(FaultData {
            inner: inner.clone(),
            parent: ptr::null_mut(),
            _name: CString::default(),
        }));
        data._name = CString::new(name).unwrap_or_default();
        // SAFETY: sqlite3_initialize is idempotent; NULL finds the default VFS.
        let parent = unsafe {
            ffi::sqlite3_initialize();
            ffi::sqlite3_vfs_find(ptr::null())
        };
        assert!(!parent.is_null(), "no default VFS");
        data.parent = parent;
        // SAFETY: `parent` is the registered default VFS, valid for the process.
        let (size, path) = unsafe { ((*parent).szOsFile, (*parent).mxPathname) };
        let vfs = Box::leak(Box::new(ffi::sqlite3_vfs {
            iVersion: 2,
            szOsFile: PARENT_OFFSET as c_int + size,
            mxPathname: path,
            pNext: ptr::null_mut(),
            zName: data._name.as_ptr(),
            pAppData: (data as *mut FaultData).cast(),
            xOpen: Some(f_open),
            xDelete: Some(f_delete),
            xAccess: Some(f_access),
            xFullPathname: Some(f_full_pathname),
            xDlOpen: None,
            xDlError: None,
            xDlSym: None,
            xDlClose: None,
            xRandomness: Some(f_randomness),
            xSleep: Some(f_sleep),
            xCurrentTime: Some(f_current_time),
            xGetLastError: None,
            xCurrentTimeInt64: Some(f_current_time_int64),
            xSetSystemCall: None,
            xGetSystemCall: None,
            xNextSystemCall: None,
        }));
        // SAFETY: the VFS object and name are leaked, outliving the registration.
        let rc = unsafe { ffi::sqlite3_vfs_register(vfs, 0) };
        assert_eq!(rc, ffi::SQLITE_OK, "registering {name}");
        FaultVfs { inner }
    }

    /// Makes the `n`-th write, truncate or sync from now (1-based) fail, and all after it.
    pub fn arm(&self, n: u64) {
        let mut s = lock(&self.inner);
        s.ops = 0;
        s.fail_from = Some(n);
        s.failed = false;
    }

    /// Stops failing operations and forgets the durable images taken so far (a later
    /// [`power_cut`](Self::power_cut) touches only files used after this); counting
    /// restarts at zero.
    pub fn disarm(&self) {
        let mut s = lock(&self.inner);
        s.ops = 0;
        s.fail_from = None;
        s.failed = false;
        s.durable.clear();
        s.last_unsynced_write = None;
    }

    /// Writes, truncates and syncs counted since the last [`arm`](Self::arm) / [`disarm`](Self::disarm).
    pub fn ops(&self) -> u64 {
        lock(&self.inner).ops
    }

    /// Whether the armed failure point has been reached.
    pub fn failed(&self) -> bool {
        lock(&self.inner).failed
    }

    /// Cuts the power: every file goes back to its content as of its last sync, plus
    /// what `tear` keeps of the last unsynced write. Call it after closing every connection.
    ///
    /// # Errors
    /// An I/O error from rewriting the files.
    pub fn power_cut(&self, tear: Tear) -> std::io::Result<()> {
        let mut s = lock(&self.inner);
        for (path, content) in &s.durable {
            match content {
                Some(bytes) => std::fs::write(path, bytes)?,
                None => match std::fs::remove_file(path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                },
            }
        }
        if let (Tear::Sectors(n), Some((path, offset, bytes))) = (tear, s.last_unsynced_write.take()) {
            let keep = (n * 512).min(bytes.len());
            if keep > 0 {
                use std::io::{Seek, SeekFrom, Write};
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&path)?;
                f.seek(SeekFrom::Start(offset))?;
                f.write_all(&bytes[..keep])?;
            }
        }
        s.durable.clear();
        s.last_unsynced_write = None;
        s.fail_from = None;
        s.failed = false;
        s.ops = 0;
        Ok(())
    }

    /// Starts recording every byte written through this VFS.
    pub fn record_writes(&self, on: bool) {
        lock(&self.inner).record = on;
    }

    /// Everything written so far, by file name (`""` for unnamed temp files).
    pub fn written(&self) -> HashMap<String, Vec<u8>> {
        lock(&self.inner).written.clone()
    }
}

impl FaultState {
    /// Counts one mutating operation; `false` if it must fail.
    fn allow(&mut self) -> bool {
        self.ops += 1;
        if self.fail_from.is_some_and(|n| self.ops >= n) {
            self.failed = true;
        }
        !self.failed
    }
}

struct FaultData {
    inner: Arc<Mutex<FaultState>>,
    parent: *mut ffi::sqlite3_vfs,
    _name: CString,
}

#[repr(C)]
struct FaultFile {
    base: ffi::sqlite3_file,
    inner: *const Mutex<FaultState>,
    /// The file's path, or null for an unnamed temp file (owned, from CString::into_raw).
    path: *mut c_char,
}

const PARENT_OFFSET: usize = std::mem::size_of::<FaultFile>().next_multiple_of(8);

/// # Safety
/// `vfs` is a VFS registered by [`FaultVfs::register`].
unsafe fn data<'a>(vfs: *mut ffi::sqlite3_vfs) -> &'a FaultData {
    // SAFETY: precondition; FaultData is leaked at registration.
    unsafe { &*(*vfs).pAppData.cast::<FaultData>() }
}

/// # Safety
/// `file` is a FaultFile opened by `f_open` and not yet closed.
unsafe fn parent_of(
    file: *mut ffi::sqlite3_file,
) -> (*mut ffi::sqlite3_file, &'static ffi::sqlite3_io_methods) {
    // SAFETY: precondition; the parent object sits at PARENT_OFFSET and is open, so its
    // methods pointer is non-null and static.
    unsafe {
        let p = file.cast::<u8>().add(PARENT_OFFSET).cast::<ffi::sqlite3_file>();
        (p, &*(*p).pMethods)
    }
}

/// # Safety
/// As [`parent_of`].
unsafe fn file_parts<'a>(file: *mut ffi::sqlite3_file) -> (&'a Mutex<FaultState>, Option<String>) {
    let ff = file.cast::<FaultFile>();
    // SAFETY: precondition; `inner` points into the leaked FaultData's Arc; `path` is a
    // CString we own or null.
    unsafe {
        let path = (!(*ff).path.is_null()).then(|| CStr::from_ptr((*ff).path).to_string_lossy().into_owned());
        (&*(*ff).inner, path)
    }
}

/// Makes sure the durable image of `path` is known before its first change.
fn remember(s: &mut FaultState, path: &str) {
    if !s.durable.contains_key(path) {
        s.durable.insert(path.to_owned(), std::fs::read(path).ok());
    }
}

unsafe extern "C" fn f_open(
    vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out: *mut c_int,
) -> c_int {
    // SAFETY: SQLite calls xOpen on our registered VFS with its allocation of szOsFile bytes.
    unsafe {
        let d = data(vfs);
        let pfile = file.cast::<u8>().add(PARENT_OFFSET).cast::<ffi::sqlite3_file>();
        (*file).pMethods = ptr::null();
        let Some(open) = (*d.parent).xOpen else {
            return ffi::SQLITE_CANTOPEN;
        };
        let rc = open(d.parent, name, pfile, flags, out);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        let ff = file.cast::<FaultFile>();
        (*ff).inner = Arc::as_ptr(&d.inner);
        (*ff).path = if name.is_null() {
            ptr::null_mut()
        } else {
            let path = CStr::from_ptr(name).to_owned();
            let mut s = lock(&d.inner);
            remember(&mut s, &path.to_string_lossy());
            path.into_raw()
        };
        (*file).pMethods = &FAULT_METHODS;
        ffi::SQLITE_OK
    }
}

unsafe extern "C" fn f_close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite closes each file it opened once.
    unsafe {
        let (p, m) = parent_of(file);
        let ff = file.cast::<FaultFile>();
        if !(*ff).path.is_null() {
            drop(CString::from_raw((*ff).path));
            (*ff).path = ptr::null_mut();
        }
        m.xClose.map_or(ffi::SQLITE_OK, |x| x(p))
    }
}

unsafe extern "C" fn f_read(file: *mut ffi::sqlite3_file, buf: *mut c_void, amt: c_int, off: i64) -> c_int {
    // SAFETY: forwarding SQLite's arguments to the open parent file.
    unsafe {
        let (p, m) = parent_of(file);
        m.xRead.map_or(ffi::SQLITE_IOERR_READ, |x| x(p, buf, amt, off))
    }
}

unsafe extern "C" fn f_write(
    file: *mut ffi::sqlite3_file,
    buf: *const c_void,
    amt: c_int,
    off: i64,
) -> c_int {
    // SAFETY: our file; SQLite's buffer holds `amt` readable bytes.
    unsafe {
        let (inner, path) = file_parts(file);
        let bytes = std::slice::from_raw_parts(buf.cast::<u8>(), amt.max(0) as usize);
        {
            let mut s = lock(inner);
            if !s.allow() {
                return ffi::SQLITE_IOERR_WRITE;
            }
            if s.record {
                s.written
                    .entry(path.clone().unwrap_or_default())
                    .or_default()
                    .extend_from_slice(bytes);
            }
            if let Some(path) = path {
                s.last_unsynced_write = Some((path, off as u64, bytes.to_vec()));
            }
        }
        let (p, m) = parent_of(file);
        m.xWrite.map_or(ffi::SQLITE_IOERR_WRITE, |x| x(p, buf, amt, off))
    }
}

unsafe extern "C" fn f_truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    // SAFETY: our open file.
    unsafe {
        let (inner, _) = file_parts(file);
        if !lock(inner).allow() {
            return ffi::SQLITE_IOERR_TRUNCATE;
        }
        let (p, m) = parent_of(file);
        m.xTruncate.map_or(ffi::SQLITE_IOERR_TRUNCATE, |x| x(p, size))
    }
}

unsafe extern "C" fn f_sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    // SAFETY: our open file.
    unsafe {
        let (inner, path) = file_parts(file);
        if !lock(inner).allow() {
            return ffi::SQLITE_IOERR_FSYNC;
        }
        let (p, m) = parent_of(file);
        let rc = m.xSync.map_or(ffi::SQLITE_OK, |x| x(p, flags));
        if rc == ffi::SQLITE_OK
            && let Some(path) = path
        {
            let mut s = lock(inner);
            s.durable.insert(path.clone(), std::fs::read(&path).ok());
            if s.last_unsynced_write.as_ref().is_some_and(|(p, _, _)| *p == path) {
                s.last_unsynced_write = None;
            }
        }
        rc
    }
}

macro_rules! forward {
    ($name:ident, $field:ident, ($($arg:ident : $ty:ty),*), $ret:ty, $default:expr) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> $ret {
            // SAFETY: forwarding SQLite's arguments to the open parent file.
            unsafe {
                let (p, m) = parent_of(file);
                match m.$field { Some(x) => x(p $(, $arg)*), None => $default }
            }
        }
    };
}

forward!(f_file_size, xFileSize, (out: *mut i64), c_int, ffi::SQLITE_IOERR_FSTAT);
forward!(f_lock, xLock, (l: c_int), c_int, ffi::SQLITE_OK);
forward!(f_unlock, xUnlock, (l: c_int), c_int, ffi::SQLITE_OK);
forward!(f_check_reserved, xCheckReservedLock, (out: *mut c_int), c_int, ffi::SQLITE_OK);
forward!(f_file_control, xFileControl, (op: c_int, arg: *mut c_void), c_int, ffi::SQLITE_NOTFOUND);
forward!(f_sector_size, xSectorSize, (), c_int, 4096);
forward!(f_device_characteristics, xDeviceCharacteristics, (), c_int, 0);
forward!(f_shm_map, xShmMap, (r: c_int, sz: c_int, e: c_int, pp: *mut *mut c_void), c_int, ffi::SQLITE_IOERR_SHMMAP);
forward!(f_shm_lock, xShmLock, (o: c_int, n: c_int, fl: c_int), c_int, ffi::SQLITE_IOERR_SHMLOCK);
forward!(f_shm_barrier, xShmBarrier, (), (), ());
forward!(f_shm_unmap, xShmUnmap, (d: c_int), c_int, ffi::SQLITE_OK);

unsafe extern "C" fn f_fetch(_f: *mut ffi::sqlite3_file, _o: i64, _a: c_int, pp: *mut *mut c_void) -> c_int {
    // SAFETY: SQLite passes a valid out-pointer; NULL means "use xRead".
    unsafe { *pp = ptr::null_mut() };
    ffi::SQLITE_OK
}

unsafe extern "C" fn f_unfetch(_f: *mut ffi::sqlite3_file, _o: i64, _p: *mut c_void) -> c_int {
    ffi::SQLITE_OK
}

static FAULT_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(f_close),
    xRead: Some(f_read),
    xWrite: Some(f_write),
    xTruncate: Some(f_truncate),
    xSync: Some(f_sync),
    xFileSize: Some(f_file_size),
    xLock: Some(f_lock),
    xUnlock: Some(f_unlock),
    xCheckReservedLock: Some(f_check_reserved),
    xFileControl: Some(f_file_control),
    xSectorSize: Some(f_sector_size),
    xDeviceCharacteristics: Some(f_device_characteristics),
    xShmMap: Some(f_shm_map),
    xShmLock: Some(f_shm_lock),
    xShmBarrier: Some(f_shm_barrier),
    xShmUnmap: Some(f_shm_unmap),
    xFetch: Some(f_fetch),
    xUnfetch: Some(f_unfetch),
};

unsafe extern "C" fn f_delete(vfs: *mut ffi::sqlite3_vfs, name: *const c_char, sync_dir: c_int) -> c_int {
    // SAFETY: our registered VFS; SQLite passes a valid name.
    unsafe {
        let d = data(vfs);
        {
            let mut s = lock(&d.inner);
            if !s.allow() {
                return ffi::SQLITE_IOERR_DELETE;
            }
            // A delete is durable: SQLite syncs the directory where it matters.
            s.durable
                .insert(CStr::from_ptr(name).to_string_lossy().into_owned(), None);
        }
        (*d.parent)
            .xDelete
            .map_or(ffi::SQLITE_IOERR_DELETE, |x| x(d.parent, name, sync_dir))
    }
}

macro_rules! vfs_forward {
    ($name:ident, $field:ident, ($($arg:ident : $ty:ty),*), $default:expr) => {
        unsafe extern "C" fn $name(vfs: *mut ffi::sqlite3_vfs $(, $arg: $ty)*) -> c_int {
            // SAFETY: forwarding SQLite's arguments to the parent VFS.
            unsafe {
                let p = data(vfs).parent;
                match (*p).$field { Some(x) => x(p $(, $arg)*), None => $default }
            }
        }
    };
}

vfs_forward!(f_access, xAccess, (n: *const c_char, fl: c_int, out: *mut c_int), ffi::SQLITE_IOERR_ACCESS);
vfs_forward!(f_full_pathname, xFullPathname, (n: *const c_char, len: c_int, out: *mut c_char), ffi::SQLITE_CANTOPEN);
vfs_forward!(f_randomness, xRandomness, (n: c_int, out: *mut c_char), 0);
vfs_forward!(f_sleep, xSleep, (us: c_int), 0);
vfs_forward!(f_current_time, xCurrentTime, (out: *mut f64), ffi::SQLITE_ERROR);
vfs_forward!(f_current_time_int64, xCurrentTimeInt64, (out: *mut i64), ffi::SQLITE_ERROR);
