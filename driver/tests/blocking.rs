//! The blocking API: no runtime on the calling threads, same pool as async callers.

// Test helpers outside `#[test]` fns unwrap too: any failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::thread;

use sqlvault_driver::{Error, blocking::Database};

#[test]
fn blocking_api_without_a_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.db");
    let db = Database::open(&path, common::passphrase("pw"), common::options(2)).unwrap();
    let mut tx = db.write().unwrap();
    tx.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER)")
        .unwrap();
    {
        let mut sp = tx.savepoint().unwrap();
        sp.execute("INSERT INTO t VALUES (1, 10)", ()).unwrap();
        let mut inner = sp.savepoint().unwrap();
        assert_eq!(inner.depth(), 2);
        inner.execute("INSERT INTO t VALUES (2, 20)", ()).unwrap();
        inner.rollback().unwrap();
        sp.release().unwrap();
    }
    tx.commit().unwrap();

    let mut r = db.read().unwrap();
    let rows: Vec<(i64, i64)> = r
        .query("SELECT id, v FROM t ORDER BY id", (), |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows, vec![(1, 10)]);
    let v: i64 = r
        .query_row("SELECT v FROM t WHERE id = 1", (), |row| row.get(0))
        .unwrap();
    assert_eq!(v, 10);
    r.finish().unwrap();

    // Dropping a blocking write transaction rolls back.
    let mut tx = db.write().unwrap();
    tx.execute("INSERT INTO t VALUES (3, 30)", ()).unwrap();
    drop(tx);
    let n: i64 = db
        .read_with(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(n, 1);
    db.write_with(|tx| Ok(tx.execute("INSERT INTO t VALUES (4, 40)", [])?))
        .unwrap();
    assert!(matches!(
        db.write().unwrap().execute("INSERT INTO t VALUES (4, 0)", ()),
        Err(Error::Sqlite(_))
    ));

    // Threads share the pool; writers queue instead of failing with SQLITE_BUSY.
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let db = db.clone();
            thread::spawn(move || {
                for j in 0..20 {
                    let mut tx = db.write().unwrap();
                    tx.execute("INSERT INTO t(v) VALUES (?1)", (i * 100 + j,))
                        .unwrap();
                    tx.commit().unwrap();
                    let _: i64 = db
                        .read()
                        .unwrap()
                        .query_row("SELECT count(*) FROM t", (), |r| r.get(0))
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let n: i64 = db
        .read_with(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(n, 2 + 8 * 20);
    db.close().unwrap();
    assert!(matches!(db.read(), Err(Error::Closed)));
}

#[test]
fn blocking_and_async_share_one_pool() {
    let dir = tempfile::tempdir().unwrap();
    let rt = common::runtime(true);
    let db = rt
        .block_on(sqlvault_driver::Database::open(
            dir.path().join("s.db"),
            common::passphrase("pw"),
            common::options(1),
        ))
        .unwrap();
    let sync_db = db.blocking();
    sync_db
        .write_with(|tx| Ok(tx.execute_batch("CREATE TABLE t(x)")?))
        .unwrap();
    // A blocking writer holds the single writer; an async writer queues behind it.
    let mut held = sync_db.write().unwrap();
    held.execute("INSERT INTO t VALUES ('sync')", ()).unwrap();
    let async_db = db.clone();
    let waiter = rt.spawn(async move {
        let mut tx = async_db.write().await.unwrap();
        let n: i64 = tx
            .query_row("SELECT count(*) FROM t", (), |r| r.get(0))
            .await
            .unwrap();
        tx.execute("INSERT INTO t VALUES ('async')", ()).await.unwrap();
        tx.commit().await.unwrap();
        n
    });
    thread::sleep(std::time::Duration::from_millis(30));
    assert!(!waiter.is_finished());
    held.commit().unwrap();
    assert_eq!(
        rt.block_on(waiter).unwrap(),
        1,
        "the async writer ran after the blocking one committed"
    );
    let xs: Vec<String> = sync_db
        .read()
        .unwrap()
        .query("SELECT x FROM t ORDER BY rowid", (), |r| r.get(0))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(xs, ["sync", "async"]);
    assert_eq!(sync_db.as_async().reader_count(), 1);
}

/// Issue 9.1: tasks on multi-thread runtime workers call the blocking API directly (no
/// `block_in_place` of their own) while other tasks hold and await the writer. A lease dropped
/// inside a task's poll used to wake the next waiter into that worker's LIFO slot, which no
/// other worker can steal, and the next blocking call waited on it for good.
#[test]
fn blocking_calls_on_multi_thread_workers_do_not_deadlock() {
    common::within(90, "blocking calls on runtime workers", || {
        common::runtime(true).block_on(async {
            let (_dir, db) = common::fresh(2).await;
            db.write_with(|tx| Ok(tx.execute_batch("CREATE TABLE t(x)")?))
                .await
                .unwrap();
            let tasks: Vec<_> = (0..6)
                .map(|i| {
                    let db = db.clone();
                    tokio::spawn(async move {
                        for j in 0..40 {
                            if i % 2 == 0 {
                                // Straight on the worker thread.
                                let sync_db = db.blocking();
                                let mut tx = sync_db.write().unwrap();
                                tx.execute("INSERT INTO t VALUES (?1)", (j,)).unwrap();
                                tx.commit().unwrap();
                                let _: i64 = sync_db
                                    .read_with(|c| {
                                        Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?)
                                    })
                                    .unwrap();
                            } else {
                                let mut tx = db.write().await.unwrap();
                                tx.execute("INSERT INTO t VALUES (?1)", (j,)).await.unwrap();
                                tokio::task::yield_now().await;
                                tx.commit().await.unwrap();
                            }
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            let n: i64 = db
                .read_with(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))
                .await
                .unwrap();
            assert_eq!(n, 6 * 40);
        });
    });
}

/// Issue 9.1: on a current-thread runtime a blocking call would park the only thread that
/// runs the runtime's tasks (a deadlock as soon as one of them holds what it waits for), so it
/// fails at once with a panic that says why, even when nothing else holds the writer.
#[test]
fn blocking_calls_on_a_current_thread_runtime_fail_at_once() {
    common::within(30, "blocking call on a current-thread runtime", || {
        common::runtime(false).block_on(async {
            let (_dir, db) = common::fresh(1).await;
            let sync_db = db.blocking();
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sync_db.write().map(drop)));
            let payload = match caught {
                Ok(r) => panic!("a blocking call on a current-thread runtime returned {r:?}"),
                Err(payload) => payload,
            };
            let msg = common::panic_message(&*payload);
            assert!(
                msg.contains("current-thread") && msg.contains("spawn_blocking"),
                "unclear panic message: {msg:?}"
            );
            // From the runtime's blocking pool it is fine.
            let sync_db = db.blocking();
            let n = tokio::task::spawn_blocking(move || {
                sync_db
                    .write_with(|tx| Ok(tx.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1)")?))?;
                sync_db.read_with(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))?))
            })
            .await
            .unwrap()
            .unwrap();
            assert_eq!(n, 1);
            db.close().await.unwrap();
        });
    });
}
