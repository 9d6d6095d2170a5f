//! Snapshots and non-blocking: readers see one snapshot for a whole transaction, and readers
//! and the writer never wait for each other.

// Test helpers outside `#[test]` fns unwrap too: any failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use sqlvault_driver::Database;

async fn setup(readers: usize) -> (tempfile::TempDir, Database) {
    let (dir, db) = common::fresh(readers).await;
    db.write_with(|tx| {
        Ok(tx.execute_batch(
            "CREATE TABLE kv(k INTEGER PRIMARY KEY, v INTEGER); INSERT INTO kv VALUES (1, 0)",
        )?)
    })
    .await
    .unwrap();
    (dir, db)
}

async fn value(tx: &mut sqlvault_driver::ReadTx) -> i64 {
    tx.query_row("SELECT v FROM kv WHERE k = 1", (), |r| r.get(0))
        .await
        .unwrap()
}

async fn snapshot_is_stable_under_commits() {
    let (_dir, db) = setup(2).await;
    let mut old = db.read().await.unwrap();
    for i in 1..=20i64 {
        let mut w = db.write().await.unwrap();
        w.execute("UPDATE kv SET v = ?1 WHERE k = 1", (i,)).await.unwrap();
        w.execute("INSERT INTO kv VALUES (?1, ?1)", (i + 100,))
            .await
            .unwrap();
        w.commit().await.unwrap();
        // The old snapshot sees neither the update nor the inserts...
        assert_eq!(value(&mut old).await, 0);
        let n: i64 = old
            .query_row("SELECT count(*) FROM kv", (), |r| r.get(0))
            .await
            .unwrap();
        assert_eq!(n, 1);
        // ...while a new read transaction sees every commit so far.
        let mut new = db.read().await.unwrap();
        assert_eq!(value(&mut new).await, i);
    }
    // The snapshot is taken when read() returns, even before the first statement.
    let mut early = db.read().await.unwrap();
    db.write_with(|tx| Ok(tx.execute("UPDATE kv SET v = -1 WHERE k = 1", [])?))
        .await
        .unwrap();
    assert_eq!(value(&mut early).await, 20);
    old.finish().await.unwrap();
}
both_flavours!(snapshot, snapshot_is_stable_under_commits);

async fn readers_and_writer_do_not_block_each_other() {
    let (_dir, db) = setup(2).await;
    // An open write transaction with uncommitted changes...
    let mut w = db.write().await.unwrap();
    w.execute("UPDATE kv SET v = 99 WHERE k = 1", ()).await.unwrap();
    // ...does not stop readers, who see the last committed state.
    for _ in 0..10 {
        let mut r = tokio::time::timeout(Duration::from_secs(5), db.read())
            .await
            .expect("reader blocked")
            .unwrap();
        assert_eq!(value(&mut r).await, 0);
        let v: i64 = tokio::time::timeout(
            Duration::from_secs(5),
            db.read_with(|c| Ok(c.query_row("SELECT v FROM kv WHERE k = 1", [], |r| r.get(0))?)),
        )
        .await
        .expect("reader blocked")
        .unwrap();
        assert_eq!(v, 0);
    }
    // And open read transactions on every reader do not stop the writer from committing.
    let mut r1 = db.read().await.unwrap();
    let mut r2 = db.read().await.unwrap();
    assert_eq!(value(&mut r1).await, 0);
    tokio::time::timeout(Duration::from_secs(5), w.commit())
        .await
        .expect("writer blocked")
        .unwrap();
    let mut w = tokio::time::timeout(Duration::from_secs(5), db.write())
        .await
        .expect("writer blocked")
        .unwrap();
    w.execute("UPDATE kv SET v = 100 WHERE k = 1", ()).await.unwrap();
    w.commit().await.unwrap();
    assert_eq!(value(&mut r1).await, 0);
    assert_eq!(value(&mut r2).await, 0);
    drop((r1, r2));
    let mut r = db.read().await.unwrap();
    assert_eq!(value(&mut r).await, 100);
}
both_flavours!(no_blocking, readers_and_writer_do_not_block_each_other);

async fn writers_are_served_in_arrival_order() {
    let (_dir, db) = setup(1).await;
    db.write_with(|tx| {
        Ok(tx.execute_batch("CREATE TABLE log(seq INTEGER PRIMARY KEY AUTOINCREMENT, who INTEGER)")?)
    })
    .await
    .unwrap();
    // Hold the writer, queue writers one after another, then let them all go.
    let gate = db.write().await.unwrap();
    let mut handles = Vec::new();
    for who in 0..20i64 {
        let db = db.clone();
        handles.push(tokio::spawn(async move {
            let mut w = db.write().await.unwrap();
            w.execute("INSERT INTO log(who) VALUES (?1)", (who,))
                .await
                .unwrap();
            w.commit().await.unwrap();
        }));
        // Let the task reach the queue before the next one is spawned.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    drop(gate);
    for h in handles {
        h.await.unwrap();
    }
    let order: Vec<i64> = db
        .read_with(|c| {
            let mut st = c.prepare("SELECT who FROM log ORDER BY seq")?;
            let v = st.query_map([], |r| r.get(0))?.collect::<Result<Vec<i64>, _>>()?;
            Ok(v)
        })
        .await
        .unwrap();
    assert_eq!(order, (0..20).collect::<Vec<_>>());
}
both_flavours!(fifo_writers, writers_are_served_in_arrival_order);

async fn closures_never_run_inside_a_guards_transaction() {
    // One reader: while a read guard holds it, a closure must wait for it.
    let (_dir, db) = setup(1).await;
    let mut guard = db.read().await.unwrap();
    let waiting = {
        let db = db.clone();
        tokio::spawn(async move {
            db.read_with(|c| Ok(c.query_row("SELECT v FROM kv WHERE k = 1", [], |r| r.get::<_, i64>(0))?))
                .await
        })
    };
    db.write_with(|tx| Ok(tx.execute("UPDATE kv SET v = 5 WHERE k = 1", [])?))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert!(
        !waiting.is_finished(),
        "a closure ran on a reader that a guard holds"
    );
    assert_eq!(value(&mut guard).await, 0);
    drop(guard);
    assert_eq!(waiting.await.unwrap().unwrap(), 5);

    // Two readers: closures go to the free one at once, many of them, while the guard's
    // snapshot stays put and its statements keep working between them.
    let (_dir, db) = setup(2).await;
    let mut guard = db.read().await.unwrap();
    db.write_with(|tx| Ok(tx.execute("UPDATE kv SET v = 7 WHERE k = 1", [])?))
        .await
        .unwrap();
    let mut closures = Vec::new();
    for _ in 0..200 {
        let db = db.clone();
        closures.push(tokio::spawn(async move {
            db.read_with(|c| Ok(c.query_row("SELECT v FROM kv WHERE k = 1", [], |r| r.get::<_, i64>(0))?))
                .await
        }));
    }
    for _ in 0..20 {
        assert_eq!(value(&mut guard).await, 0);
        tokio::task::yield_now().await;
    }
    for c in closures {
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(10), c)
                .await
                .unwrap()
                .unwrap()
                .unwrap(),
            7
        );
    }
    guard.finish().await.unwrap();
}
both_flavours!(
    closures_and_guards,
    closures_never_run_inside_a_guards_transaction
);
