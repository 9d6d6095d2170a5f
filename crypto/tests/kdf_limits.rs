//! The Argon2id cost recorded in a database's clear salt is held to the caller's limits
//! before any KDF work is done.

use std::time::{Duration, Instant};

use sqlvault_crypto::{
    Argon2Params, DatabaseSalt, Error, KdfKind, KdfLimits, KdfParameter, Key, derive_master_key,
    derive_master_key_limited,
};

/// What an attacker with write access to the file plants: the most the salt can record.
const PLANTED: Argon2Params = Argon2Params {
    memory_kib: 1 << 24, // 16 GiB
    iterations: 255,
    parallelism: 1,
};

/// Refusing must not depend on the machine: it happens before Argon2id allocates. The bound
/// is generous on purpose (this is not a performance assertion): obeying the planted salt
/// takes hours or exhausts memory, refusing it takes microseconds.
const NO_KDF_RAN: Duration = Duration::from_secs(5);

#[test]
fn planted_16_gib_salt_is_refused_before_the_kdf_runs() {
    let salt = DatabaseSalt::generate(KdfKind::Argon2id(PLANTED)).unwrap();
    // Round trip through the bytes, as a reader of the file sees them.
    let salt = DatabaseSalt::parse(*salt.as_bytes()).unwrap();
    let key = Key::Passphrase("anything".into());
    let start = Instant::now();
    let err = derive_master_key_limited(&key, &salt, &KdfLimits::default()).err();
    let elapsed = start.elapsed();
    println!("planted 16 GiB x 255 salt refused in {elapsed:?}");
    assert_eq!(
        err,
        Some(Error::KdfLimitExceeded {
            parameter: KdfParameter::Memory,
            requested: 1 << 24,
            limit: 1 << 20,
        })
    );
    assert!(elapsed < NO_KDF_RAN, "took {elapsed:?}");
}

#[test]
fn planted_pass_count_is_refused_within_the_memory_cap() {
    let salt = DatabaseSalt::generate(KdfKind::Argon2id(Argon2Params {
        memory_kib: 1 << 10,
        iterations: 255,
        parallelism: 1,
    }))
    .unwrap();
    let err = derive_master_key_limited(&Key::Passphrase("x".into()), &salt, &KdfLimits::default());
    assert_eq!(
        err.err(),
        Some(Error::KdfLimitExceeded {
            parameter: KdfParameter::Iterations,
            requested: 255,
            limit: 16,
        })
    );
}

#[test]
fn within_the_limits_the_key_is_the_unlimited_key() {
    let salt = DatabaseSalt::generate(KdfKind::Argon2id(Argon2Params::INSECURE_FOR_TESTS)).unwrap();
    let key = Key::Passphrase("same key".into());
    let limited = derive_master_key_limited(&key, &salt, &KdfLimits::default()).unwrap();
    let plain = derive_master_key(&key, &salt).unwrap();
    // MasterKey has no Debug/PartialEq on purpose; compare through a page seal.
    let mut a = sqlvault_crypto::PageCipher::new(&limited, salt);
    let mut b = sqlvault_crypto::PageCipher::new(&plain, salt);
    let mut page = vec![0u8; 1024];
    page[..4].copy_from_slice(b"data");
    let pos = sqlvault_crypto::PagePosition::Database { pgno: 3 };
    a.seal(&mut page, pos).unwrap();
    b.open(&mut page, pos).unwrap();
    assert_eq!(&page[..4], b"data");
}

#[test]
fn a_raised_limit_admits_what_the_default_refuses() {
    let p = Argon2Params {
        memory_kib: 64,
        iterations: 17,
        parallelism: 1,
    };
    let salt = DatabaseSalt::generate(KdfKind::Argon2id(p)).unwrap();
    let key = Key::Passphrase("x".into());
    assert!(derive_master_key_limited(&key, &salt, &KdfLimits::default()).is_err());
    let raised = KdfLimits {
        max_iterations: 17,
        ..KdfLimits::default()
    };
    assert!(derive_master_key_limited(&key, &salt, &raised).is_ok());
}
