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
//! The environment itself is changed by `sqlvault_vfs::take_environment_variables`, in the
//! VFS crate's FFI layer (the only place with `unsafe` code); this module keeps the values.

use std::sync::{Mutex, MutexGuard};

use zeroize::Zeroizing;

/// A key variable's name and value (zeroized on drop).
type Taken = (&'static str, Zeroizing<Vec<u8>>);

/// Key variables taken from the environment, until a command asks for them.
static TAKEN: Mutex<Vec<Taken>> = Mutex::new(Vec::new());

fn taken() -> MutexGuard<'static, Vec<Taken>> {
    // A panic while holding the lock leaves a valid list behind.
    TAKEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Moves the variables `names` out of the environment into this module and wipes their
/// bytes from the process's initial environment block. Call it first thing in `main`,
/// while the process has one thread; if it has more, the values are only copied (and the
/// variables stay in the environment).
pub fn take(names: &[&'static str]) {
    let mut taken = taken();
    match sqlvault_vfs::take_environment_variables(names) {
        Ok(values) => taken.extend(values.into_iter().map(|(i, v)| (names[i], v))),
        Err(_) => {
            for &name in names {
                if let Some(v) = std::env::var_os(name) {
                    use std::os::unix::ffi::OsStringExt;
                    taken.push((name, Zeroizing::new(v.into_vec())));
                }
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
