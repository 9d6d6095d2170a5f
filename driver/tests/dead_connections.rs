//! Issue 9.4: a connection thread that dies (a panic outside the driver's `catch_unwind`) is
//! taken out of rotation and replaced by a new thread with a new connection; reads and writes
//! keep working and `close()` still closes cleanly.

// Test helpers outside `#[test]` fns unwrap too: any failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod common;

use sqlvault_driver::Database;

async fn count(db: &Database) -> i64 {
    db.read_with(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))
        .await
        .unwrap()
}

async fn a_dead_reader_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.db");
    let db = Database::open(&path, common::passphrase("pw"), common::options(2))
        .await
        .unwrap();
    db.write_with(|tx| Ok(tx.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1)")?))
        .await
        .unwrap();

    // Reader 0 is the one sequential closures land on, and the first one guards get.
    assert!(db.kill_connection_for_test(Some(0)), "the reader did not die");
    for i in 0..20 {
        let n = db
            .read_with(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))?))
            .await;
        assert_eq!(n.unwrap_or_else(|e| panic!("read_with {i}: {e}")), 1);
    }
    for i in 0..4 {
        let mut r = db.read().await.unwrap_or_else(|e| panic!("read {i}: {e}"));
        let n: i64 = r
            .query_row("SELECT count(*) FROM t", (), |row| row.get(0))
            .await
            .unwrap();
        assert_eq!(n, 1);
        r.finish().await.unwrap();
    }
    for i in 0..4 {
        let n: i64 = db
            .query_row("SELECT count(*) FROM t", (), |row| row.get(0))
            .await
            .unwrap_or_else(|e| panic!("query_row {i}: {e}"));
        assert_eq!(n, 1);
    }
    // Both readers serve again: two read transactions at once.
    let mut a = db.read().await.unwrap();
    let mut b = db.read().await.unwrap();
    for r in [&mut a, &mut b] {
        let n: i64 = r
            .query_row("SELECT count(*) FROM t", (), |row| row.get(0))
            .await
            .unwrap();
        assert_eq!(n, 1);
    }
    drop((a, b));
    assert_eq!(db.reader_count(), 2);

    // Every reader at once, then the writer.
    assert!(db.kill_connection_for_test(Some(0)));
    assert!(db.kill_connection_for_test(Some(1)));
    assert_eq!(count(&db).await, 1);
    assert!(db.kill_connection_for_test(None), "the writer did not die");
    db.write_with(|tx| Ok(tx.execute("INSERT INTO t VALUES (2)", [])?))
        .await
        .unwrap();
    let mut tx = db.write().await.unwrap();
    tx.execute("INSERT INTO t VALUES (3)", ()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(count(&db).await, 3);

    // A reader that dies and is never used again: close still closes cleanly.
    assert!(db.kill_connection_for_test(Some(1)));
    db.close().await.unwrap();
    assert!(
        !dir.path().join("d.db-wal").exists(),
        "the writer's close did not checkpoint"
    );
    let db = Database::open(&path, common::passphrase("pw"), common::options(2))
        .await
        .unwrap();
    assert_eq!(count(&db).await, 3);
    db.close().await.unwrap();
}
both_flavours_within!(dead_reader, a_dead_reader_is_replaced, 60);

/// A reply whose value panics when dropped after its caller left, on a connection thread: the
/// thread survives (or is replaced), and the pool keeps serving.
async fn a_panicking_drop_after_the_caller_left() {
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                panic!("a value that panics when dropped");
            }
        }
    }
    let (_dir, db) = common::fresh(1).await;
    for _ in 0..5 {
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
        let fut = db.read_with(move |_| {
            let _ = started_tx.send(());
            std::thread::sleep(std::time::Duration::from_millis(20));
            Ok(Bomb)
        });
        let mut fut = Box::pin(fut);
        tokio::select! {
            _ = &mut fut => panic!("finished too early"),
            _ = started_rx => {}
        }
        // The caller leaves: the reply (a Bomb) is dropped on the connection thread.
        drop(fut);
        let n: i64 = db.query_row("SELECT 6 * 7", (), |r| r.get(0)).await.unwrap();
        assert_eq!(n, 42);
    }
    db.close().await.unwrap();
}
both_flavours_within!(panicking_drop, a_panicking_drop_after_the_caller_left, 60);

/// A connection that dies under a guard: the guard's statements fail with `ConnectionLost`
/// (its transaction died with the connection), nothing of it is committed, and the next guard
/// gets a new connection.
async fn a_connection_dies_under_its_guard() {
    let (_dir, db) = common::fresh(1).await;
    db.write_with(|tx| Ok(tx.execute_batch("CREATE TABLE t(x)")?))
        .await
        .unwrap();
    let mut w = db.write().await.unwrap();
    w.execute("INSERT INTO t VALUES (1)", ()).await.unwrap();
    let mut r = db.read().await.unwrap();
    assert!(db.kill_connection_for_test(None));
    assert!(db.kill_connection_for_test(Some(0)));
    let err = w.execute("INSERT INTO t VALUES (2)", ()).await.unwrap_err();
    assert!(matches!(err, sqlvault_driver::Error::ConnectionLost), "{err:?}");
    assert!(matches!(
        w.commit().await,
        Err(sqlvault_driver::Error::ConnectionLost)
    ));
    let err = r
        .query_row("SELECT 1", (), |row| row.get::<_, i64>(0))
        .await
        .unwrap_err();
    assert!(matches!(err, sqlvault_driver::Error::ConnectionLost), "{err:?}");
    // A stream on the dead connection fails; it does not look like an empty result.
    let rows = r
        .query("SELECT 1", (), |row| row.get::<_, i64>(0))
        .collect_vec()
        .await;
    assert!(
        matches!(rows, Err(sqlvault_driver::Error::ConnectionLost)),
        "{rows:?}"
    );
    drop(r);
    let mut w = db.write().await.unwrap();
    let n: i64 = w
        .query_row("SELECT count(*) FROM t", (), |row| row.get(0))
        .await
        .unwrap();
    assert_eq!(n, 0, "the dead writer's transaction was committed");
    w.execute("INSERT INTO t VALUES (3)", ()).await.unwrap();
    w.commit().await.unwrap();
    assert_eq!(count(&db).await, 1);
    db.close().await.unwrap();
}
both_flavours_within!(dies_under_guard, a_connection_dies_under_its_guard, 60);
