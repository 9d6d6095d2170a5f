//! Key variables (`SQLVAULT_KEY` and friends) leave the environment as soon as the CLI
//! starts.
//!
//! A key in an environment variable is inherited by every child process and readable, for
//! as long as the process runs, by anyone who may read `/proc/PID/environ` (`ps e` shows
//! it). So before anything else runs, [`take`] copies each key variable into memory that
//! is zeroized when the key has been used, removes it from the environment, and
//! overwrites its bytes in the initial environment block the kernel gave the process
//! (removing a variable only drops the pointer to those bytes: `/proc/PID/environ` would
//! still show them).
//!
//! This module is the one place outside the VFS's FFI layer with `unsafe` code: since
//! Rust 2024, changing the environment is `unsafe` (it races with any other thread reading
//! it), and wiping the initial block writes through raw pointers. Both are sound only
//! while the process has a single thread, which is why [`take`] runs first in `main`.

use std::ffi::{CStr, c_char};
use std::os::unix::ffi::OsStringExt;
use std::sync::{Mutex, MutexGuard};

use zeroize::Zeroizing;

unsafe extern "C" {
    /// The C library's environment array (POSIX `environ`), NULL-terminated.
    static environ: *const *mut c_char;
}

/// A key variable's name and value (zeroized on drop).
type Taken = (&'static str, Zeroizing<Vec<u8>>);

/// Key variables taken from the environment, until a command asks for them.
static TAKEN: Mutex<Vec<Taken>> = Mutex::new(Vec::new());

fn taken() -> MutexGuard<'static, Vec<Taken>> {
    // A panic while holding the lock leaves a valid list behind.
    TAKEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Moves the variables `names` out of the environment into this module, and wipes their
/// bytes from the process's initial environment block.
///
/// # Safety
/// 1. No other thread may be running: nothing may read or change the environment
///    concurrently (call this first thing in `main`).
/// 2. Nothing may hold a pointer obtained from `getenv` for one of `names`.
pub unsafe fn take(names: &[&'static str]) {
    let block = initial_env_block();
    let mut taken = taken();
    for &name in names {
        let Some(value) = std::env::var_os(name) else {
            continue;
        };
        taken.push((name, Zeroizing::new(value.into_vec())));
        // SAFETY: precondition 1 — no thread changes `environ` while we walk it.
        let entries = unsafe { entries_named(name) };
        // SAFETY: precondition 1 — no other thread reads or writes the environment.
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
                // initial environment block, which the kernel maps writable on the main
                // thread's stack; `remove_var` has just dropped `environ`'s pointer to it
                // and by precondition 2 no other pointer to it is in use.
                unsafe { std::ptr::write_bytes(ptr, 0, len) };
            }
        }
    }
}

/// The value of key variable `name` taken at start-up, if it was set. Each value is handed
/// out once; the copy kept here is zeroized as it goes.
pub fn value(name: &str) -> Option<Zeroizing<Vec<u8>>> {
    let mut taken = taken();
    let i = taken.iter().position(|(n, _)| *n == name)?;
    Some(taken.swap_remove(i).1)
}

/// Zeroizes every key variable no command asked for.
pub fn clear() {
    taken().clear();
}

/// Pointers to, and lengths of, every `environ` entry `name=…`.
///
/// # Safety
/// No other thread may change the environment meanwhile.
unsafe fn entries_named(name: &str) -> Vec<(*mut u8, usize)> {
    let mut prefix = name.as_bytes().to_vec();
    prefix.push(b'=');
    let mut found = Vec::new();
    // SAFETY: reading the C library's `environ` pointer; by the precondition nobody
    // replaces it meanwhile.
    let mut entry = unsafe { environ };
    if entry.is_null() {
        return found;
    }
    loop {
        // SAFETY: `environ` is a NULL-terminated array of pointers to NUL-terminated
        // strings, stable while nobody changes the environment (the precondition); `entry`
        // has not gone past the terminating NULL.
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
