//! Opening what is not (or not ours to open) gives a typed error; the pool stays usable.

// Test helpers outside `#[test]` fns unwrap too: any failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod common;

use sqlvault_driver::{Database, Error, FileKind, VfsError};

async fn populated(path: &std::path::Path, key: sqlvault_driver::Key) {
    let db = Database::open(path, key, common::options(2)).await.unwrap();
    db.write_with(|tx| {
        tx.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT)")?;
        let mut st = tx.prepare("INSERT INTO t(body) VALUES (?1)")?;
        for i in 0..2000 {
            st.execute([format!("secret-body-{i:05}")])?;
        }
        Ok(())
    })
    .await
    .unwrap();
    db.close().await.unwrap();
}

async fn wrong_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.db");
    populated(&path, common::passphrase("right")).await;
    let err = Database::open(&path, common::passphrase("wrong"), common::options(2))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Vfs(VfsError::WrongKey)), "{err:?}");
    // A raw key instead of the passphrase the database was made with is refused by name too.
    let err = Database::open(&path, common::raw_key(7), common::options(2))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Vfs(_)), "{err:?}");
    // The right key still opens it; nothing was damaged.
    let db = Database::open(&path, common::passphrase("right"), common::options(2))
        .await
        .unwrap();
    let n: i64 = db
        .read_with(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(n, 2000);
    // And the file holds no plaintext.
    db.close().await.unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert!(!bytes.windows(11).any(|w| w == b"secret-body"));
    assert!(!bytes.starts_with(b"SQLite format 3"));
}
both_flavours!(wrong_key, wrong_key_is_named);

async fn foreign_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    // A plaintext SQLite database.
    let plain = dir.path().join("plain.db");
    {
        let c = rusqlite::Connection::open(&plain).unwrap();
        c.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1)")
            .unwrap();
    }
    let err = Database::open(&plain, common::passphrase("pw"), common::options(2))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Vfs(VfsError::PlaintextDatabase)), "{err:?}");
    // The plaintext file was not touched.
    let c = rusqlite::Connection::open(&plain).unwrap();
    let x: i64 = c.query_row("SELECT x FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(x, 1);

    // A file that is not a database at all.
    let junk = dir.path().join("junk.db");
    std::fs::write(
        &junk,
        (0..10_000u32).map(|i| (i * 7919 % 251) as u8).collect::<Vec<_>>(),
    )
    .unwrap();
    let err = Database::open(&junk, common::passphrase("pw"), common::options(2))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Vfs(VfsError::NotASqlvaultDatabase)),
        "{err:?}"
    );

    // A text file.
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "just some notes, certainly not a database\n".repeat(50)).unwrap();
    let err = Database::open(&text, common::passphrase("pw"), common::options(2))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Vfs(VfsError::NotASqlvaultDatabase)),
        "{err:?}"
    );

    // A directory that does not exist.
    let missing = dir.path().join("no/such/dir/x.db");
    let err = Database::open(&missing, common::passphrase("pw"), common::options(2))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Sqlite(_) | Error::Io(_)) && err.to_string().to_lowercase().contains("open"),
        "{err:?} / {err}"
    );
    assert!(!missing.parent().unwrap().exists());

    // A missing file with create_if_missing(false).
    let absent = dir.path().join("absent.db");
    let err = Database::open(
        &absent,
        common::passphrase("pw"),
        common::options(1).create_if_missing(false),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Sqlite(_)), "{err:?}");
    assert!(!absent.exists());
}
both_flavours!(foreign_files, foreign_files_are_named);

async fn a_tampered_page_is_named_and_the_pool_survives() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    populated(&path, common::passphrase("pw")).await;
    {
        let db = Database::open(&path, common::passphrase("pw"), common::options(1))
            .await
            .unwrap();
        db.write_with(|tx| Ok(tx.execute_batch("CREATE TABLE other(x); INSERT INTO other VALUES (42)")?))
            .await
            .unwrap();
        db.close().await.unwrap();
    }
    // Flip one byte in the middle of page 3 (a page of table t's b-tree).
    let mut bytes = std::fs::read(&path).unwrap();
    let page_size = 4096;
    bytes[2 * page_size + 1000] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();

    let db = Database::open(&path, common::passphrase("pw"), common::options(2))
        .await
        .unwrap();
    let err = db
        .read_with(|c| Ok(c.query_row("SELECT count(*), max(body) FROM t", [], |r| r.get::<_, i64>(0))?))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Vfs(VfsError::TamperedPage {
                file: FileKind::Database,
                page: 3
            })
        ),
        "{err:?}"
    );
    let mut r = db.read().await.unwrap();
    let err = r
        .query("SELECT body FROM t", (), |row| row.get::<_, String>(0))
        .collect_vec()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Vfs(VfsError::TamperedPage { page: 3, .. })),
        "{err:?}"
    );
    // Other tables still read, and the writer still writes.
    let x: i64 = r
        .query_row("SELECT x FROM other", (), |row| row.get(0))
        .await
        .unwrap();
    assert_eq!(x, 42);
    drop(r);
    let mut w = db.write().await.unwrap();
    w.execute("INSERT INTO other VALUES (43)", ()).await.unwrap();
    w.commit().await.unwrap();
    let n: i64 = db
        .read_with(|c| Ok(c.query_row("SELECT count(*) FROM other", [], |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(n, 2);
}
both_flavours!(tampered_page, a_tampered_page_is_named_and_the_pool_survives);

#[test]
fn new_databases_reserve_room_for_the_trailer_at_any_page_size() {
    let dir = tempfile::tempdir().unwrap();
    common::runtime(false).block_on(async {
        for page_size in [1024u32, 4096, 16384] {
            let path = dir.path().join(format!("ps{page_size}.db"));
            let db = Database::open(&path, common::raw_key(1), common::options(1).page_size(page_size))
                .await
                .unwrap();
            db.write_with(|tx| Ok(tx.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1)")?))
                .await
                .unwrap();
            db.close().await.unwrap();
            let header = std::fs::read(&path).unwrap();
            // Header bytes 16-17: page size (big-endian, 1 means 65536); byte 20: reserved bytes.
            assert_eq!(u32::from(u16::from_be_bytes([header[16], header[17]])), page_size);
            assert_eq!(header[20], 32, "page size {page_size}");
            assert_eq!(header.len() % page_size as usize, 0);
        }
    });
}

async fn a_vfs_uri_parameter_cannot_open_the_pool_unencrypted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("uri.db");
    let target = format!("file:{}?vfs=unix", path.display());
    let err = Database::open(&target, common::passphrase("pw"), common::options(2))
        .await
        .expect_err("the pool opened a database outside sqlvault");
    assert!(
        matches!(&err, Error::Vfs(VfsError::ForeignVfs { vfs }) if vfs == "unix"),
        "{err:?}"
    );
    // Nothing readable by plain SQLite was written.
    let bytes = std::fs::read(&path).unwrap_or_default();
    assert!(bytes.is_empty(), "{} bytes written", bytes.len());
}
both_flavours!(vfs_uri, a_vfs_uri_parameter_cannot_open_the_pool_unencrypted);

async fn a_planted_kdf_cost_is_refused_before_argon2_runs() {
    use sqlvault_driver::{Argon2Params, KdfLimits, KdfParameter};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kdf.db");
    populated(&path, common::passphrase("pw")).await;
    // An attacker without the key rewrites the clear salt to demand 16 GiB and 255 passes.
    let planted = sqlvault_crypto::DatabaseSalt::generate(sqlvault_crypto::KdfKind::Argon2id(Argon2Params {
        memory_kib: 1 << 24,
        iterations: 255,
        parallelism: 1,
    }))
    .unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[..planted.as_bytes().len()].copy_from_slice(planted.as_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let start = std::time::Instant::now();
    let err = Database::open(&path, common::passphrase("pw"), common::options(2))
        .await
        .unwrap_err();
    let elapsed = start.elapsed();
    println!("planted header refused by Database::open in {elapsed:?}");
    assert!(
        matches!(
            err,
            Error::Vfs(VfsError::Crypto(sqlvault_crypto::Error::KdfLimitExceeded {
                parameter: KdfParameter::Memory,
                ..
            }))
        ),
        "{err:?}"
    );
    // Not a performance bound: obeying the salt would take hours or exhaust memory.
    assert!(elapsed < std::time::Duration::from_secs(5), "{elapsed:?}");
    // Limits are the caller's to set: a tight one refuses even the cheap test parameters.
    let fresh = dir.path().join("fresh.db");
    let tight = KdfLimits {
        max_memory_kib: 32,
        ..KdfLimits::default()
    };
    let err = Database::open(
        &fresh,
        common::passphrase("pw"),
        common::options(1).kdf_limits(tight),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Vfs(VfsError::Crypto(_))), "{err:?}");
}
both_flavours!(planted_kdf, a_planted_kdf_cost_is_refused_before_argon2_runs);
