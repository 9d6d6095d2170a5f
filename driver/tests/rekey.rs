//! `Database::rekey`: the pool re-encrypts its database under a new key while in use, and a
//! process killed at any step leaves the old database or the new one, never a mix.

// Helpers outside `#[test]` fns unwrap too: any failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use common::*;
use sqlvault_driver::{Database, Error, VfsError};

const ROWS: i64 = 400;

async fn filled(path: &Path) -> Database {
    let db = Database::open(path, passphrase("old"), options(3)).await.unwrap();
    db.write_with(move |tx| {
        tx.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT)")?;
        for i in 0..ROWS {
            tx.execute(
                "INSERT INTO t(body) VALUES (?1 || printf('%.300c', '.'))",
                [format!("secret-row-{i}")],
            )?;
        }
        Ok(())
    })
    .await
    .unwrap();
    db
}

fn salt_of(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()[..16].to_vec()
}

async fn count(db: &Database) -> i64 {
    db.query_row("SELECT count(*) FROM t", (), |r| r.get(0))
        .await
        .unwrap()
}

async fn rekey_switches_the_key_and_the_pool_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let db = filled(&path).await;
    let before = salt_of(&path);
    db.rekey(passphrase("new")).await.unwrap();
    assert_ne!(salt_of(&path), before, "the copy must get a fresh salt");
    assert_eq!(count(&db).await, ROWS);
    let mut tx = db.write().await.unwrap();
    tx.execute("INSERT INTO t(body) VALUES ('after')", ())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(count(&db).await, ROWS + 1);
    let mode: String = db
        .query_row("PRAGMA journal_mode", (), |r| r.get(0))
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    db.close().await.unwrap();

    let bytes = std::fs::read(&path).unwrap();
    assert!(!bytes.windows(11).any(|w| w == b"secret-row-"));
    match Database::open(&path, passphrase("old"), options(1)).await {
        Err(Error::Vfs(VfsError::WrongKey)) => {}
        other => panic!("the old key still opens the database: {other:?}"),
    }
    let db = Database::open(&path, passphrase("new"), options(1))
        .await
        .unwrap();
    assert_eq!(count(&db).await, ROWS + 1);
    let ok: String = db
        .query_row("PRAGMA integrity_check", (), |r| r.get(0))
        .await
        .unwrap();
    assert_eq!(ok, "ok");
    db.close().await.unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sqlvault-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
both_flavours_within!(
    rekey_switches_the_key,
    rekey_switches_the_key_and_the_pool_keeps_working,
    60
);

/// Readers and writers that queue during the rekey wait, then succeed under the new key;
/// a transaction open when the rekey starts finishes first.
async fn callers_during_a_rekey_wait_and_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let db = filled(&path).await;
    let written = Arc::new(AtomicI64::new(0));
    // A read transaction open across the start of the rekey.
    let open_read = db.read().await.unwrap();
    let rekey = tokio::spawn({
        let db = db.clone();
        async move { db.rekey(passphrase("new")).await }
    });
    let mut tasks = Vec::new();
    for w in 0..4i64 {
        let (db, written) = (db.clone(), written.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..15i64 {
                db.write_with(move |tx| {
                    tx.execute("INSERT INTO t(body) VALUES (?1)", [format!("w{w}-{i}")])?;
                    Ok(())
                })
                .await
                .unwrap();
                written.fetch_add(1, Ordering::SeqCst);
                let n: i64 = db
                    .query_row("SELECT count(*) FROM t", (), |r| r.get(0))
                    .await
                    .unwrap();
                assert!(n >= ROWS);
                let mut tx = db.read().await.unwrap();
                let m: i64 = tx
                    .query_row("SELECT count(*) FROM t", (), |r| r.get(0))
                    .await
                    .unwrap();
                assert!(m >= ROWS);
                tx.finish().await.unwrap();
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The rekey waits for the open read transaction.
    assert!(!rekey.is_finished());
    let n: i64 = {
        let mut r = open_read;
        let n = r
            .query_row("SELECT count(*) FROM t", (), |row| row.get(0))
            .await
            .unwrap();
        r.finish().await.unwrap();
        n
    };
    assert!(n >= ROWS);
    rekey.await.unwrap().unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(count(&db).await, ROWS + written.load(Ordering::SeqCst));
    db.close().await.unwrap();
    let db = Database::open(&path, passphrase("new"), options(1))
        .await
        .unwrap();
    assert_eq!(count(&db).await, ROWS + 60);
    db.close().await.unwrap();
}
both_flavours_within!(
    callers_during_a_rekey,
    callers_during_a_rekey_wait_and_succeed,
    120
);

/// Another connection to the file (here: another pool) makes the rekey refuse, changing nothing.
async fn a_rekey_with_another_connection_open_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let db = filled(&path).await;
    let other = Database::open(&path, passphrase("old"), options(1))
        .await
        .unwrap();
    let before = salt_of(&path);
    match db.rekey(passphrase("new")).await {
        Err(Error::DatabaseInUse) => {}
        other => panic!("expected DatabaseInUse, got {other:?}"),
    }
    assert_eq!(salt_of(&path), before);
    assert_eq!(count(&db).await, ROWS);
    assert_eq!(count(&other).await, ROWS);
    db.write_with(|tx| Ok(tx.execute("INSERT INTO t(body) VALUES ('x')", ())?))
        .await
        .unwrap();
    other.close().await.unwrap();
    db.close().await.unwrap();
    let db = Database::open(&path, passphrase("old"), options(1))
        .await
        .unwrap();
    assert_eq!(count(&db).await, ROWS + 1);
    db.close().await.unwrap();
}
both_flavours_within!(
    another_connection,
    a_rekey_with_another_connection_open_is_refused,
    60
);

/// A rekey future dropped while it waits for open transactions changes nothing; dropped
/// once the rekey has started, the rekey still completes and the pool keeps working.
async fn a_dropped_rekey_future_leaves_a_working_pool() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let db = filled(&path).await;
    let before = salt_of(&path);
    let open_read = db.read().await.unwrap();
    let waited = tokio::time::timeout(Duration::from_millis(50), db.rekey(passphrase("new"))).await;
    assert!(waited.is_err(), "the rekey did not wait for the open transaction");
    open_read.finish().await.unwrap();
    assert_eq!(count(&db).await, ROWS);
    assert_eq!(
        salt_of(&path),
        before,
        "a rekey dropped while waiting changed the file"
    );

    // No transaction open: the rekey starts on the first poll and is then dropped.
    let started = tokio::time::timeout(Duration::from_micros(1), db.rekey(passphrase("new"))).await;
    assert!(started.is_err(), "precondition: the rekey takes longer than 1 µs");
    // Callers wait for it, then run under the new key.
    assert_eq!(count(&db).await, ROWS);
    db.write_with(|tx| Ok(tx.execute("INSERT INTO t(body) VALUES ('after')", ())?))
        .await
        .unwrap();
    db.close().await.unwrap();
    assert_ne!(salt_of(&path), before);
    let db = Database::open(&path, passphrase("new"), options(1))
        .await
        .unwrap();
    assert_eq!(count(&db).await, ROWS + 1);
    db.close().await.unwrap();
}
both_flavours_within!(dropped_rekey, a_dropped_rekey_future_leaves_a_working_pool, 60);

#[test]
fn the_blocking_api_rekeys_too() {
    within(60, "blocking rekey", || {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.db");
        let db = sqlvault_driver::blocking::Database::open(&path, raw_key(1), options(2)).unwrap();
        db.write_with(|tx| Ok(tx.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (7);")?))
            .unwrap();
        db.rekey(raw_key(2)).unwrap();
        let x: i64 = db
            .read_with(|c| Ok(c.query_row("SELECT x FROM t", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(x, 7);
        db.close().unwrap();
        assert!(sqlvault_driver::blocking::Database::open(&path, raw_key(1), options(1)).is_err());
        let db = sqlvault_driver::blocking::Database::open(&path, raw_key(2), options(1)).unwrap();
        db.close().unwrap();
    });
}

// Crash safety: a child process (this test binary, re-run on `rekey_child`) rekeys and is
// killed at one step; the parent then opens the database with one key or the other.

const CHILD_DB: &str = "SQLVAULT_TEST_REKEY_DB";

/// The child's side: does nothing unless the parent started this binary for it.
#[test]
fn rekey_child() {
    let Some(path) = std::env::var_os(CHILD_DB).map(PathBuf::from) else {
        return;
    };
    runtime(true).block_on(async {
        let db = Database::open(&path, passphrase("old"), options(2))
            .await
            .unwrap();
        db.rekey(passphrase("new")).await.unwrap();
        db.close().await.unwrap();
    });
}

fn run_child(path: &Path, crash_at: &str) -> std::process::ExitStatus {
    let exe = std::env::current_exe().unwrap();
    std::process::Command::new(exe)
        .args(["--exact", "rekey_child", "--nocapture", "--test-threads", "1"])
        .env(CHILD_DB, path)
        .env("SQLVAULT_TEST_CRASH_AT", crash_at)
        .env("RUST_BACKTRACE", "0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
}

#[test]
fn a_rekey_killed_at_any_step_leaves_the_old_or_the_new_database() {
    within(240, "rekey crash points", || {
        runtime(true).block_on(async {
            // Step names in the order the rekey passes them; `None`: whichever key it is.
            let points: &[(&str, Option<&str>)] = &[
                ("rekey-paused", Some("old")),
                ("rekey-exclusive", Some("old")),
                ("pages:1", Some("old")),
                ("pages:32", Some("old")),
                ("copied", Some("old")),
                ("before-rename", Some("old")),
                ("after-rename", Some("new")),
                ("rekey-reopened", Some("new")),
                ("never", Some("new")),
            ];
            for &(point, expect) in points {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("c.db");
                let db = filled(&path).await;
                db.close().await.unwrap();
                let status = run_child(&path, point);
                if point == "never" {
                    assert!(status.success(), "{point}: the child failed: {status}");
                } else {
                    assert!(!status.success(), "{point}: the child was not killed");
                }
                let old = Database::open(&path, passphrase("old"), options(1)).await;
                let new = Database::open(&path, passphrase("new"), options(1)).await;
                let (db, which) = match (old, new) {
                    (Ok(db), Err(_)) => (db, "old"),
                    (Err(_), Ok(db)) => (db, "new"),
                    (Ok(_), Ok(_)) => panic!("{point}: both keys open the database"),
                    (Err(a), Err(b)) => panic!("{point}: neither key opens the database: {a} / {b}"),
                };
                if let Some(expect) = expect {
                    assert_eq!(which, expect, "{point}");
                }
                let ok: String = db
                    .query_row("PRAGMA integrity_check", (), |r| r.get(0))
                    .await
                    .unwrap();
                assert_eq!(ok, "ok", "{point}");
                assert_eq!(count(&db).await, ROWS, "{point}");
                db.write_with(|tx| Ok(tx.execute("INSERT INTO t(body) VALUES ('next')", ())?))
                    .await
                    .unwrap();
                db.close().await.unwrap();
            }
        })
    });
}

/// The figure for the closing note, not a check: how long rekeying a 100 MB database takes.
/// `cargo test --release -p sqlvault-driver --test rekey -- --ignored --nocapture`
#[test]
#[ignore = "a measurement (100 MB of I/O), run by hand"]
fn rekey_time_for_a_100_mb_database() {
    runtime(true).block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.db");
        let db = Database::open(&path, raw_key(5), options(2)).await.unwrap();
        db.write_with(|tx| {
            tx.execute_batch(
                "CREATE TABLE t(id INTEGER PRIMARY KEY, body BLOB);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
                 INSERT INTO t(body) SELECT randomblob(1000) FROM n;",
            )?;
            Ok(())
        })
        .await
        .unwrap();
        let started = std::time::Instant::now();
        db.rekey(raw_key(6)).await.unwrap();
        let took = started.elapsed();
        let size = std::fs::metadata(&path).unwrap().len();
        let n: i64 = db
            .query_row("SELECT count(*) FROM t", (), |r| r.get(0))
            .await
            .unwrap();
        assert_eq!(n, 100_000);
        db.close().await.unwrap();
        eprintln!(
            "rekey of {:.1} MB: {:.2} s ({:.0} MB/s)",
            size as f64 / 1e6,
            took.as_secs_f64(),
            size as f64 / 1e6 / took.as_secs_f64()
        );
    });
}
