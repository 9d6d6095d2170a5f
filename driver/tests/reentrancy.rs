//! Issue 9.3: a closure running on a connection thread that calls back into its own pool
//! (blocking API or async API driven by any executor) gets `Error::Reentrant` at once instead
//! of deadlocking the connection it runs on, and the pool stays usable.

// Test helpers outside `#[test]` fns unwrap too: any failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod common;

use sqlvault_driver::Error;

async fn closures_that_reenter_their_pool_fail_fast() {
    let (_dir, db) = common::fresh(2).await;
    db.write_with(|tx| Ok(tx.execute_batch("CREATE TABLE t(x)")?))
        .await
        .unwrap();

    // The blocking API from a write_with closure: the writer waiting for itself.
    let inner = db.clone();
    let r = db.write_with(move |_| inner.blocking().write().map(drop)).await;
    assert!(matches!(r, Err(Error::Reentrant)), "{r:?}");
    let inner = db.clone();
    let r = db
        .write_with(move |_| inner.blocking().write_with(|_| Ok(())))
        .await;
    assert!(matches!(r, Err(Error::Reentrant)), "{r:?}");

    // From a reader's closure, to any connection of the same pool.
    let inner = db.clone();
    let r = db
        .read_with(move |_| inner.blocking().read_with(|_| Ok(())))
        .await;
    assert!(matches!(r, Err(Error::Reentrant)), "{r:?}");
    let inner = db.clone();
    let r = db.read_with(move |_| inner.blocking().write().map(drop)).await;
    assert!(matches!(r, Err(Error::Reentrant)), "{r:?}");

    // The async API, driven by an executor of the closure's own.
    let inner = db.clone();
    let r = db
        .write_with(move |_| {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            rt.block_on(async { inner.write().await.map(drop) })
        })
        .await;
    assert!(matches!(r, Err(Error::Reentrant)), "{r:?}");
    let inner = db.clone();
    let r = db
        .write_with(move |_| {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            rt.block_on(inner.query_row("SELECT 1", (), |r| r.get::<_, i64>(0)))
        })
        .await;
    assert!(matches!(r, Err(Error::Reentrant)), "{r:?}");

    // A guard moved into a closure: its statements would wait for a connection thread too.
    let tx = db.read().await.unwrap();
    let r = db
        .read_with(move |_| {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let mut tx = tx;
            rt.block_on(tx.query_row("SELECT 1", (), |r| r.get::<_, i64>(0)))
        })
        .await;
    assert!(matches!(r, Err(Error::Reentrant)), "{r:?}");

    // The message says what happened.
    assert!(Error::Reentrant.to_string().contains("connection thread"));

    // Nothing is stuck: later writers and readers are served.
    db.write_with(|tx| Ok(tx.execute("INSERT INTO t VALUES (1)", [])?))
        .await
        .unwrap();
    let mut tx = db.write().await.unwrap();
    tx.execute("INSERT INTO t VALUES (2)", ()).await.unwrap();
    tx.commit().await.unwrap();
    let n: i64 = db
        .query_row("SELECT count(*) FROM t", (), |r| r.get(0))
        .await
        .unwrap();
    assert_eq!(n, 2);
    db.close().await.unwrap();
}
both_flavours_within!(reenter, closures_that_reenter_their_pool_fail_fast, 30);

/// Another pool's API is fine from a connection thread: only the same pool would wait on
/// itself.
async fn closures_may_use_another_pool() {
    let (_dir_a, a) = common::fresh(1).await;
    let (_dir_b, b) = common::fresh(1).await;
    let other = b.clone();
    let n = a
        .write_with(move |_| {
            other
                .blocking()
                .read_with(|c| Ok(c.query_row("SELECT 41 + 1", [], |r| r.get::<_, i64>(0))?))
        })
        .await
        .unwrap();
    assert_eq!(n, 42);
    a.close().await.unwrap();
    b.close().await.unwrap();
}
both_flavours_within!(other_pool, closures_may_use_another_pool, 30);
