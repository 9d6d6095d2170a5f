//! Statements, closures, streaming, errors and close on one pool.

// Test helpers outside `#[test]` fns unwrap too: any failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::StreamExt;
use sqlvault_driver::{Database, Error};

async fn statements_and_closures() {
    let (_dir, db) = common::fresh(2).await;
    let mut tx = db.write().await.unwrap();
    tx.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        .await
        .unwrap();
    for i in 0..10i64 {
        assert_eq!(
            tx.execute("INSERT INTO t(id, name) VALUES (?1, ?2)", (i, format!("n{i}")))
                .await
                .unwrap(),
            1
        );
    }
    tx.commit().await.unwrap();

    let mut r = db.read().await.unwrap();
    let name: String = r
        .query_row("SELECT name FROM t WHERE id = ?1", (3,), |row| row.get(0))
        .await
        .unwrap();
    assert_eq!(name, "n3");
    let ids: Vec<i64> = r
        .query("SELECT id FROM t ORDER BY id", (), |row| row.get(0))
        .collect_vec()
        .await
        .unwrap();
    assert_eq!(ids, (0..10).collect::<Vec<_>>());
    r.finish().await.unwrap();

    let n = db
        .write_with(|tx| {
            tx.execute("DELETE FROM t WHERE id >= 5", [])?;
            Ok(tx.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))?)
        })
        .await
        .unwrap();
    assert_eq!(n, 5);
    let n: i64 = db
        .read_with(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(n, 5);
    db.close().await.unwrap();
}
both_flavours!(statements_and_closures_work, statements_and_closures);

async fn closure_error_and_panic_roll_back() {
    let (_dir, db) = common::fresh(2).await;
    db.write_with(|tx| Ok(tx.execute_batch("CREATE TABLE t(x INTEGER UNIQUE)")?))
        .await
        .unwrap();
    let err = db
        .write_with(|tx| {
            tx.execute("INSERT INTO t VALUES (1)", [])?;
            tx.execute("INSERT INTO t VALUES (1)", [])?; // violates UNIQUE
            Ok(())
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.sqlite_code(),
        Some(rusqlite::ErrorCode::ConstraintViolation),
        "{err}"
    );
    let err = db
        .write_with(|tx| -> Result<(), Error> {
            tx.execute("INSERT INTO t VALUES (2)", [])?;
            panic!("boom");
        })
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::Panicked(m) if m == "boom"), "{err}");
    let err = db
        .read_with(|_| -> Result<(), Error> { panic!("read boom") })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Panicked(_)));
    // Neither insert survived, and the writer and readers still work.
    let n: i64 = db
        .read_with(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(n, 0);
    let mut tx = db.write().await.unwrap();
    tx.execute("INSERT INTO t VALUES (3)", ()).await.unwrap();
    tx.commit().await.unwrap();
}
both_flavours!(
    closure_error_and_panic_roll_back_and_pool_survives,
    closure_error_and_panic_roll_back
);

async fn sql_errors_are_typed_and_pool_stays_usable() {
    let (_dir, db) = common::fresh(2).await;
    let mut tx = db.write().await.unwrap();
    let err = tx
        .execute("INSERT INTO missing VALUES (1)", ())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Sqlite(_)), "{err:?}");
    // A failed statement does not end the transaction.
    tx.execute_batch("CREATE TABLE t(x NOT NULL)").await.unwrap();
    let err = tx.execute("INSERT INTO t VALUES (NULL)", ()).await.unwrap_err();
    assert_eq!(err.sqlite_code(), Some(rusqlite::ErrorCode::ConstraintViolation));
    let err = tx.execute("SELEC nonsense", ()).await.unwrap_err();
    assert!(matches!(err, Error::Sqlite(_)));
    tx.execute("INSERT INTO t VALUES (7)", ()).await.unwrap();
    tx.commit().await.unwrap();

    let mut r = db.read().await.unwrap();
    // Readers are read-only.
    let err = r.execute("INSERT INTO t VALUES (8)", ()).await.unwrap_err();
    assert_eq!(err.sqlite_code(), Some(rusqlite::ErrorCode::ReadOnly), "{err}");
    let err = r
        .query_row("SELECT x FROM t WHERE x = 100", (), |row| row.get::<_, i64>(0))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Sqlite(rusqlite::Error::QueryReturnedNoRows)));
    let err = r
        .query_row("SELECT 'text'", (), |row| row.get::<_, i64>(0))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Sqlite(rusqlite::Error::InvalidColumnType(..))),
        "{err:?}"
    );
    let x: i64 = r
        .query_row("SELECT x FROM t", (), |row| row.get(0))
        .await
        .unwrap();
    assert_eq!(x, 7);
}
both_flavours!(sql_errors, sql_errors_are_typed_and_pool_stays_usable);

async fn streams_have_back_pressure() {
    let (_dir, db) = common::fresh(2).await;
    db.write_with(|tx| {
        tx.execute_batch("CREATE TABLE big(x INTEGER)")?;
        let mut st = tx.prepare("INSERT INTO big VALUES (?1)")?;
        for i in 0..20_000i64 {
            st.execute([i])?;
        }
        Ok(())
    })
    .await
    .unwrap();
    let converted = Arc::new(AtomicUsize::new(0));
    let mut r = db.read().await.unwrap();
    {
        let seen = Arc::clone(&converted);
        let mut rows = r.query("SELECT x FROM big ORDER BY x", (), move |row| {
            seen.fetch_add(1, Ordering::SeqCst);
            row.get::<_, i64>(0)
        });
        for expected in 0..100i64 {
            assert_eq!(rows.next().await.unwrap().unwrap(), expected);
        }
        // Give the connection thread time to run ahead as far as it can.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let ahead = converted.load(Ordering::SeqCst);
        // Two chunks in flight plus the one being filled, at most 256 rows each.
        assert!(
            ahead <= 100 + 3 * 256,
            "the query ran {ahead} rows ahead of its reader"
        );
        // Dropping the stream stops the query.
    }
    let after_drop = converted.load(Ordering::SeqCst);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(converted.load(Ordering::SeqCst), after_drop);
    // The transaction is still usable after the stream was dropped.
    let n: i64 = r
        .query_row("SELECT count(*) FROM big", (), |row| row.get(0))
        .await
        .unwrap();
    assert_eq!(n, 20_000);
    let all = r
        .query("SELECT x FROM big", (), |row| row.get::<_, i64>(0))
        .collect_vec()
        .await
        .unwrap();
    assert_eq!(all.len(), 20_000);
}
both_flavours!(streams, streams_have_back_pressure);

async fn stream_errors_end_the_stream() {
    let (_dir, db) = common::fresh(1).await;
    db.write_with(|tx| Ok(tx.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1), ('two'), (3)")?))
        .await
        .unwrap();
    let mut r = db.read().await.unwrap();
    let mut rows = r.query("SELECT x FROM t ORDER BY rowid", (), |row| row.get::<_, i64>(0));
    assert_eq!(rows.next().await.unwrap().unwrap(), 1);
    assert!(matches!(rows.next().await, Some(Err(Error::Sqlite(_)))));
    assert!(rows.next().await.is_none());
    drop(rows);
    let err = r
        .query("SELECT * FROM nope", (), |row| row.get::<_, i64>(0))
        .collect_vec()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Sqlite(_)));
}
both_flavours!(stream_errors, stream_errors_end_the_stream);

async fn close_waits_and_then_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let db = Database::open(&path, common::passphrase("pw"), common::options(2))
        .await
        .unwrap();
    db.write_with(|tx| Ok(tx.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1)")?))
        .await
        .unwrap();
    let mut tx = db.write().await.unwrap();
    let closer = {
        let db = db.clone();
        tokio::spawn(async move { db.close().await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert!(!closer.is_finished(), "close must wait for the open transaction");
    // New transactions are refused while closing.
    assert!(matches!(db.read().await, Err(Error::Closed)));
    tx.execute("INSERT INTO t VALUES (2)", ()).await.unwrap();
    tx.commit().await.unwrap();
    closer.await.unwrap().unwrap();
    assert!(matches!(db.write().await, Err(Error::Closed)));
    assert!(matches!(db.read_with(|_| Ok(())).await, Err(Error::Closed)));
    db.close().await.unwrap();
    // The writer closed last and checkpointed: no WAL left behind.
    assert!(!dir.path().join("c.db-wal").exists());
    let db = Database::open(&path, common::passphrase("pw"), common::options(2))
        .await
        .unwrap();
    let n: i64 = db
        .read_with(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(n, 2);
}
both_flavours!(close, close_waits_and_then_refuses);

#[test]
fn invalid_options_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let rt = common::runtime(false);
    for (opts, what) in [
        (common::options(0), "readers"),
        (common::options(1).page_size(1000), "page_size"),
        (common::options(1).page_size(256), "page_size"),
    ] {
        let err = rt
            .block_on(Database::open(
                dir.path().join("x.db"),
                common::passphrase("p"),
                opts,
            ))
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidOptions(m) if m.contains(what)),
            "{err}"
        );
    }
}

#[test]
fn page_size_applies_to_new_databases() {
    let dir = tempfile::tempdir().unwrap();
    let rt = common::runtime(false);
    rt.block_on(async {
        let path = dir.path().join("p.db");
        let db = Database::open(&path, common::passphrase("p"), common::options(1).page_size(8192))
            .await
            .unwrap();
        db.write_with(|tx| Ok(tx.execute_batch("CREATE TABLE t(x)")?))
            .await
            .unwrap();
        let size: i64 = db
            .read_with(|c| Ok(c.query_row("PRAGMA page_size", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(size, 8192);
        let mode: String = db
            .read_with(|c| Ok(c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        db.close().await.unwrap();
        // Reopening with another page size keeps the database's own.
        let db = Database::open(&path, common::passphrase("p"), common::options(1).page_size(1024))
            .await
            .unwrap();
        let size: i64 = db
            .read_with(|c| Ok(c.query_row("PRAGMA page_size", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(size, 8192);
    });
}

/// Registers `sleep_ms(n)` on the connection a `read_with` lands on (with one reader: the
/// reader every guard gets too).
async fn register_sleep(db: &Database) {
    db.read_with(|conn| {
        conn.create_scalar_function(
            "sleep_ms",
            1,
            sqlvault_driver::rusqlite::functions::FunctionFlags::SQLITE_UTF8,
            |ctx| {
                let ms: i64 = ctx.get(0)?;
                std::thread::sleep(std::time::Duration::from_millis(ms.unsigned_abs()));
                Ok(ms)
            },
        )?;
        Ok(())
    })
    .await
    .unwrap();
}

/// Issue 9.6: a slow query's rows trickle. Each row is stamped on the connection thread when
/// it is produced; none may reach the consumer much later (a partly filled chunk is flushed by
/// time, not only when it fills or every 16 rows).
async fn slow_streams_trickle() {
    let (_dir, db) = common::fresh(1).await;
    register_sleep(&db).await;
    let mut r = db.read().await.unwrap();
    let mut rows = r.query(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 40)
         SELECT x, sleep_ms(10) FROM c",
        (),
        |row| Ok((row.get::<_, i64>(0)?, std::time::Instant::now())),
    );
    let mut delays = Vec::new();
    while let Some((x, produced)) = rows.try_next().await.unwrap() {
        delays.push(produced.elapsed());
        assert_eq!(x, delays.len() as i64);
    }
    assert_eq!(delays.len(), 40);
    let first = delays[0];
    let within = delays
        .iter()
        .filter(|d| **d < std::time::Duration::from_millis(25))
        .count();
    let worst = delays.iter().max().copied().unwrap_or_default();
    // Flushed by time, a row waits at most about one row (10 ms). Flushed only when full or
    // every 16 rows, rows waited for the rest of their chunk: 10 to 150 ms, most over 25 ms.
    // The bounds leave room for a loaded machine that is slow to run the consumer.
    assert!(
        first < std::time::Duration::from_millis(50),
        "the first row arrived {first:?} after it was produced"
    );
    assert!(
        within >= delays.len() / 2,
        "only {within} of 40 rows arrived within 25 ms of being produced (worst {worst:?}; one row every 10 ms)"
    );
}
both_flavours_within!(slow_stream, slow_streams_trickle, 60);

/// Issue 9.6: rows produced before a long stretch of work (here endless: a scan that never
/// matches again) are delivered while that work runs, not when the next row comes.
async fn rows_before_a_long_gap_arrive() {
    let (_dir, db) = common::fresh(1).await;
    let mut r = db.read().await.unwrap();
    {
        let mut rows = r.query(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)
             SELECT x FROM c WHERE x <= 5",
            (),
            |row| Ok((row.get::<_, i64>(0)?, std::time::Instant::now())),
        );
        for expected in 1..=5 {
            let (x, produced) = tokio::time::timeout(std::time::Duration::from_secs(5), rows.try_next())
                .await
                .unwrap_or_else(|_| panic!("row {expected} never arrived"))
                .unwrap()
                .unwrap();
            assert_eq!(x, expected);
            let late = produced.elapsed();
            // About 1 ms once flushed by time; the bound leaves room for a loaded machine.
            assert!(
                late < std::time::Duration::from_millis(500),
                "row {x} arrived {late:?} after it was produced"
            );
        }
        // Dropping the stream stops the endless scan.
    }
    let n: i64 = r.query_row("SELECT 1", (), |row| row.get(0)).await.unwrap();
    assert_eq!(n, 1);
}
both_flavours_within!(long_gap, rows_before_a_long_gap_arrive, 60);
