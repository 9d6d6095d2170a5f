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
