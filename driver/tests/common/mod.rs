//! Helpers shared by the driver's integration tests.
#![allow(dead_code)]

use std::time::Duration;

use sqlvault_driver::{Argon2Params, Database, Key, MasterKey, Options, Passphrase, Synchronous};

/// Options for tests: cheap Argon2, no fsync per commit.
pub fn options(readers: usize) -> Options {
    Options::new()
        .readers(readers)
        .argon2(Argon2Params::INSECURE_FOR_TESTS)
        .synchronous(Synchronous::Normal)
        .busy_timeout(Duration::from_millis(200))
}

pub fn passphrase(p: &str) -> Key {
    Key::Passphrase(Passphrase::from(p))
}

pub fn raw_key(byte: u8) -> Key {
    Key::Raw(MasterKey::from_bytes([byte; 32]))
}

/// A fresh database in a temporary directory (kept alive by the returned guard).
pub async fn fresh(readers: usize) -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("test.db"), passphrase("test"), options(readers))
        .await
        .unwrap();
    (dir, db)
}

/// Builds a runtime of either flavour.
pub fn runtime(multi_thread: bool) -> tokio::runtime::Runtime {
    if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }
}

/// Defines `$name::current_thread` and `$name::multi_thread` tests running `async fn $body()`.
#[macro_export]
macro_rules! both_flavours {
    ($name:ident, $body:ident) => {
        mod $name {
            #[test]
            fn current_thread() {
                $crate::common::runtime(false).block_on(super::$body());
            }
            #[test]
            fn multi_thread() {
                $crate::common::runtime(true).block_on(super::$body());
            }
        }
    };
}

/// Runs `f` on a thread of its own and fails the test if it has not returned within `secs`
/// seconds: a hang is a failure, never a stuck run. (A hung thread is left behind; the test
/// binary exits without it.)
pub fn within<T: Send + 'static>(secs: u64, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(format!("within: {what}"))
        .spawn(move || {
            let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
        })
        .unwrap();
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(Ok(v)) => v,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("{what}: still running after {secs} s (a deadlock?)"),
    }
}

/// As `both_flavours!`, with each run failing after `$secs` seconds instead of hanging.
#[macro_export]
macro_rules! both_flavours_within {
    ($name:ident, $body:ident, $secs:expr) => {
        mod $name {
            #[test]
            fn current_thread() {
                $crate::common::within($secs, stringify!($name), || {
                    $crate::common::runtime(false).block_on(super::$body())
                });
            }
            #[test]
            fn multi_thread() {
                $crate::common::within($secs, stringify!($name), || {
                    $crate::common::runtime(true).block_on(super::$body())
                });
            }
        }
    };
}

/// The message of a caught panic.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        String::new()
    }
}
