//! A database's Argon2id cost comes from its clear salt, which anyone who can write the
//! file can change. `DatabaseKey::resolve_with_limits` refuses a cost above its limits
//! before the KDF runs.

// Helpers outside `#[test]` fns unwrap too: any failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use sqlvault_crypto::{DatabaseSalt, KdfKind};
use sqlvault_vfs::{Argon2Params, DatabaseKey, Error, KdfLimits, KdfParameter, Key, open_connection};

/// Refusing happens before Argon2id allocates; obeying the planted salt would take hours
/// or exhaust memory. The bound only tells those apart (it is not a performance target).
const NO_KDF_RAN: Duration = Duration::from_secs(5);

/// Overwrites the salt of the database at `path` with one recording `params`, as an
/// attacker with write access to the file (and no key) can.
fn plant_kdf(path: &Path, params: Argon2Params) {
    let salt = DatabaseSalt::generate(KdfKind::Argon2id(params)).unwrap();
    let file = OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(salt.as_bytes(), 0).unwrap();
}

fn passphrase_db(dir: &tempfile::TempDir, params: Argon2Params, limits: KdfLimits) -> std::path::PathBuf {
    let path = db_path(dir, "kdf.db");
    let key = DatabaseKey::resolve_with_limits(&path, &pass(), params, limits).unwrap();
    let conn = open_connection(&path, &key, rusqlite::OpenFlags::default()).unwrap();
    conn.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
        .unwrap();
    path
}

fn pass() -> Key {
    Key::Passphrase("kdf limits".into())
}

#[test]
fn planted_16_gib_header_is_refused_fast_with_a_typed_error() {
    let dir = tempdir();
    let path = passphrase_db(&dir, Argon2Params::INSECURE_FOR_TESTS, KdfLimits::default());
    plant_kdf(
        &path,
        Argon2Params {
            memory_kib: 1 << 24,
            iterations: 255,
            parallelism: 1,
        },
    );
    let start = Instant::now();
    let err = DatabaseKey::resolve_with_limits(&path, &pass(), Argon2Params::default(), KdfLimits::default())
        .unwrap_err();
    let elapsed = start.elapsed();
    println!("planted 16 GiB x 255 header refused in {elapsed:?}");
    assert!(
        matches!(
            err,
            Error::Crypto(sqlvault_crypto::Error::KdfLimitExceeded {
                parameter: KdfParameter::Memory,
                requested: 16_777_216,
                limit: 1_048_576,
            })
        ),
        "{err:?}"
    );
    assert!(elapsed < NO_KDF_RAN, "took {elapsed:?}");
}

#[test]
fn a_database_created_above_the_defaults_opens_only_with_raised_limits() {
    let dir = tempdir();
    let heavy = Argon2Params {
        memory_kib: 64,
        iterations: 20,
        parallelism: 1,
    };
    let raised = KdfLimits {
        max_iterations: 20,
        ..KdfLimits::default()
    };
    let path = passphrase_db(&dir, heavy, raised);
    let err = DatabaseKey::resolve_with_limits(&path, &pass(), heavy, KdfLimits::default()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Crypto(sqlvault_crypto::Error::KdfLimitExceeded {
                parameter: KdfParameter::Iterations,
                requested: 20,
                limit: 16
            })
        ),
        "{err:?}"
    );
    let key = DatabaseKey::resolve_with_limits(&path, &pass(), heavy, raised).unwrap();
    let conn = open_connection(&path, &key, rusqlite::OpenFlags::default()).unwrap();
    let x: i64 = conn.query_row("SELECT x FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(x, 1);
}

#[test]
fn new_database_parameters_above_the_limits_are_refused() {
    let dir = tempdir();
    let path = db_path(&dir, "new.db");
    let greedy = Argon2Params {
        memory_kib: 1 << 21,
        iterations: 1,
        parallelism: 1,
    };
    let err = DatabaseKey::resolve_with_limits(&path, &pass(), greedy, KdfLimits::default()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Crypto(sqlvault_crypto::Error::KdfLimitExceeded {
                parameter: KdfParameter::Memory,
                ..
            })
        ),
        "{err:?}"
    );
    assert!(!path.exists());
}

#[test]
fn resolve_holds_the_cost_to_the_default_limits() {
    let dir = tempdir();
    let path = passphrase_db(&dir, Argon2Params::INSECURE_FOR_TESTS, KdfLimits::default());
    plant_kdf(
        &path,
        Argon2Params {
            memory_kib: 1 << 24,
            iterations: 255,
            parallelism: 1,
        },
    );
    let start = Instant::now();
    let err = DatabaseKey::resolve(&path, &pass(), Argon2Params::default()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Crypto(sqlvault_crypto::Error::KdfLimitExceeded { .. })
        ),
        "{err:?}"
    );
    assert!(start.elapsed() < NO_KDF_RAN);
}

#[test]
fn pragma_key_on_a_planted_header_is_refused_fast() {
    let dir = tempdir();
    let path = passphrase_db(&dir, Argon2Params::INSECURE_FOR_TESTS, KdfLimits::default());
    plant_kdf(
        &path,
        Argon2Params {
            memory_kib: 1 << 24,
            iterations: 255,
            parallelism: 1,
        },
    );
    sqlvault_vfs::register(sqlvault_vfs::VFS_NAME, None, false).unwrap();
    let conn = rusqlite::Connection::open_with_flags_and_vfs(
        &path,
        rusqlite::OpenFlags::default(),
        sqlvault_vfs::VFS_NAME,
    )
    .unwrap();
    let start = Instant::now();
    let err = conn
        .execute_batch("PRAGMA key = 'kdf limits'; SELECT count(*) FROM t;")
        .unwrap_err();
    assert!(err.to_string().contains("refusing to run Argon2id"), "{err}");
    assert!(start.elapsed() < NO_KDF_RAN);
}
