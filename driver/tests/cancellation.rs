//! Thousands of randomly timed cancellations (timeouts around reads, writes, savepoints, long
//! queries and long statements) leave no open transaction, no lost or partial write, and a
//! healthy pool.

// Test helpers outside `#[test]` fns unwrap too: any failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlvault_driver::{Database, Error};

const ACCOUNTS: i64 = 20;
const START: i64 = 1_000;
const BIG_ROWS: i64 = 10_000;
const TASKS: u64 = 8;
const OPS_EACH: u64 = 250;

#[derive(Default)]
struct Record {
    /// Ledger ids whose commit returned `Ok`.
    acked: BTreeSet<i64>,
    /// Ledger ids ever attempted.
    attempted: BTreeSet<i64>,
    /// Whole-table bumps of `big.v`: confirmed and attempted.
    bumps_acked: i64,
    bumps_attempted: i64,
}

async fn setup(readers: usize) -> (tempfile::TempDir, Database) {
    let (dir, db) = common::fresh(readers).await;
    db.write_with(|tx| {
        tx.execute_batch(
            "CREATE TABLE accounts(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);
             CREATE TABLE ledger(id INTEGER PRIMARY KEY, src INTEGER, dst INTEGER, amount INTEGER);
             CREATE TABLE big(id INTEGER PRIMARY KEY, v INTEGER NOT NULL, pad TEXT);
             CREATE TABLE marker(n INTEGER);
             INSERT INTO marker VALUES (0);",
        )?;
        for id in 0..ACCOUNTS {
            tx.execute("INSERT INTO accounts VALUES (?1, ?2)", (id, START))?;
        }
        let mut st = tx.prepare("INSERT INTO big(id, v, pad) VALUES (?1, 0, ?2)")?;
        for id in 0..BIG_ROWS {
            st.execute((id, "x".repeat(40)))?;
        }
        Ok(())
    })
    .await
    .unwrap();
    (dir, db)
}

async fn consistent(db: &Database) -> Result<(), Error> {
    let mut r = db.read().await?;
    let total: i64 = r
        .query_row("SELECT sum(balance) FROM accounts", (), |row| row.get(0))
        .await?;
    let mismatched: i64 = r
        .query_row(
            "SELECT count(*) FROM accounts a WHERE a.balance != ?1
               - coalesce((SELECT sum(amount) FROM ledger WHERE src = a.id), 0)
               + coalesce((SELECT sum(amount) FROM ledger WHERE dst = a.id), 0)",
            (START,),
            |row| row.get(0),
        )
        .await?;
    assert_eq!(total, ACCOUNTS * START, "partial transfer visible");
    assert_eq!(mismatched, 0, "balances disagree with the ledger");
    Ok(())
}

/// One randomly chosen operation. Returns normally whether it completed or not; the caller
/// wraps it in a random timeout.
async fn op(
    db: &Database,
    kind: u32,
    ledger_id: i64,
    rng_seed: u64,
    record: &Mutex<Record>,
) -> Result<(), Error> {
    let mut rng = fastrand::Rng::with_seed(rng_seed);
    let src = rng.i64(0..ACCOUNTS);
    let dst = (src + rng.i64(1..ACCOUNTS)) % ACCOUNTS;
    let amount = rng.i64(1..50);
    match kind {
        // A transfer through guards, with the ledger row in a nested savepoint.
        0 | 1 => {
            record.lock().unwrap().attempted.insert(ledger_id);
            let mut tx = db.write().await?;
            tx.execute(
                "UPDATE accounts SET balance = balance - ?2 WHERE id = ?1",
                (src, amount),
            )
            .await?;
            {
                let mut sp = tx.savepoint().await?;
                sp.execute(
                    "UPDATE accounts SET balance = balance + ?2 WHERE id = ?1",
                    (dst, amount),
                )
                .await?;
                let mut inner = sp.savepoint().await?;
                inner
                    .execute(
                        "INSERT INTO ledger(id, src, dst, amount) VALUES (?1, ?2, ?3, ?4)",
                        (ledger_id, src, dst, amount),
                    )
                    .await?;
                if kind == 1 {
                    // A throw-away savepoint, rolled back.
                    let mut junk = inner.savepoint().await?;
                    junk.execute(
                        "UPDATE accounts SET balance = balance + 1000000 WHERE id = ?1",
                        (src,),
                    )
                    .await?;
                    junk.rollback().await?;
                }
                inner.release().await?;
                sp.release().await?;
            }
            tx.commit().await?;
            record.lock().unwrap().acked.insert(ledger_id);
        }
        // The same in one closure.
        2 => {
            record.lock().unwrap().attempted.insert(ledger_id);
            db.write_with(move |tx| {
                tx.execute(
                    "UPDATE accounts SET balance = balance - ?2 WHERE id = ?1",
                    [src, amount],
                )?;
                tx.execute(
                    "UPDATE accounts SET balance = balance + ?2 WHERE id = ?1",
                    [dst, amount],
                )?;
                tx.execute(
                    "INSERT INTO ledger(id, src, dst, amount) VALUES (?1, ?2, ?3, ?4)",
                    [ledger_id, src, dst, amount],
                )?;
                Ok(())
            })
            .await?;
            record.lock().unwrap().acked.insert(ledger_id);
        }
        // A long write statement (every row of `big`), which an interrupt stops mid-way.
        3 => {
            record.lock().unwrap().bumps_attempted += 1;
            let mut tx = db.write().await?;
            tx.execute("UPDATE big SET v = v + 1", ()).await?;
            tx.commit().await?;
            record.lock().unwrap().bumps_acked += 1;
        }
        // Consistency checks in read transactions.
        4 => consistent(db).await?,
        // A long streamed query, read partly or fully.
        5 => {
            let mut r = db.read().await?;
            let mut rows = r.query("SELECT v, length(pad) FROM big", (), |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
            });
            let mut first = None;
            let mut n = 0;
            while let Some((v, len)) = rows.try_next().await? {
                assert_eq!(len, 40);
                // One snapshot: every row has the same v.
                assert_eq!(*first.get_or_insert(v), v, "a partial UPDATE is visible");
                n += 1;
            }
            assert_eq!(n, BIG_ROWS);
        }
        // A long aggregate in a closure.
        6 => {
            let (min, max): (i64, i64) = db
                .read_with(|c| {
                    Ok(c.query_row("SELECT min(v), max(v) FROM big b1", [], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?)
                })
                .await?;
            assert_eq!(min, max, "a partial UPDATE is visible");
        }
        // A long read inside a write transaction, then a rollback.
        _ => {
            let mut tx = db.write().await?;
            tx.execute("UPDATE accounts SET balance = balance + 5 WHERE id = ?1", (src,))
                .await?;
            let _: i64 = tx
                .query_row("SELECT count(*) FROM big WHERE pad LIKE '%y%'", (), |r| r.get(0))
                .await?;
            tx.rollback().await?;
        }
    }
    Ok(())
}

async fn chaos(readers: usize) {
    let (_dir, db) = setup(readers).await;
    let record = Arc::new(Mutex::new(Record::default()));
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let db = db.clone();
        let record = Arc::clone(&record);
        tasks.push(tokio::spawn(async move {
            let mut rng = fastrand::Rng::with_seed(t * 7 + 1);
            let mut cancelled = 0u32;
            for i in 0..OPS_EACH {
                let kind = rng.u32(0..8);
                let ledger_id = (t * OPS_EACH + i) as i64;
                // From "cancel at the first pending point" to "usually completes".
                let budget = match rng.u32(0..6) {
                    0 => Duration::ZERO,
                    1 => Duration::from_micros(rng.u64(0..500)),
                    2 => Duration::from_micros(rng.u64(500..5000)),
                    3 => Duration::from_millis(rng.u64(5..50)),
                    _ => Duration::from_millis(rng.u64(50..250)),
                };
                match tokio::time::timeout(budget, op(&db, kind, ledger_id, rng.u64(..), &record)).await {
                    Ok(result) => result.unwrap(),
                    Err(_) => cancelled += 1,
                }
            }
            cancelled
        }));
    }
    let mut cancelled = 0;
    for t in tasks {
        cancelled += tokio::time::timeout(Duration::from_secs(100), t)
            .await
            .expect("deadlock")
            .unwrap();
    }
    assert!(
        cancelled > 200,
        "only {cancelled} operations were cancelled: the test is not testing much"
    );

    // No open transaction left anywhere: the writer starts one at once...
    let mut w = tokio::time::timeout(Duration::from_secs(5), db.write())
        .await
        .expect("writer stuck")
        .unwrap();
    w.execute("UPDATE marker SET n = 1", ()).await.unwrap();
    w.commit().await.unwrap();
    // ...and every reader, held all at once, sees that latest commit (none kept a stale snapshot).
    let mut held = Vec::new();
    for _ in 0..db.reader_count() {
        let mut r = tokio::time::timeout(Duration::from_secs(5), db.read())
            .await
            .expect("reader stuck")
            .unwrap();
        let n: i64 = r
            .query_row("SELECT n FROM marker", (), |row| row.get(0))
            .await
            .unwrap();
        assert_eq!(n, 1, "a reader was left in an old transaction");
        held.push(r);
    }
    drop(held);

    // No partial write, no lost write.
    consistent(&db).await.unwrap();
    let ledger: BTreeSet<i64> = db
        .read_with(|c| {
            let mut st = c.prepare("SELECT id FROM ledger")?;
            let ids = st
                .query_map([], |r| r.get(0))?
                .collect::<Result<BTreeSet<i64>, _>>()?;
            Ok(ids)
        })
        .await
        .unwrap();
    let (min_v, max_v): (i64, i64) = db
        .read_with(|c| {
            Ok(c.query_row("SELECT min(v), max(v) FROM big", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?)
        })
        .await
        .unwrap();
    let record = std::mem::take(&mut *record.lock().unwrap());
    eprintln!(
        "{cancelled} of {} operations cancelled; transfers: {} attempted, {} acknowledged, {} in the ledger; bumps: {} attempted, {} acknowledged, {min_v} applied",
        TASKS * OPS_EACH,
        record.attempted.len(),
        record.acked.len(),
        ledger.len(),
        record.bumps_attempted,
        record.bumps_acked
    );
    let lost: Vec<_> = record.acked.difference(&ledger).collect();
    assert!(lost.is_empty(), "acknowledged transfers lost: {lost:?}");
    assert!(ledger.is_subset(&record.attempted));
    assert_eq!(min_v, max_v, "an interrupted UPDATE was partly applied");
    assert!(record.bumps_acked <= min_v && min_v <= record.bumps_attempted);
    // Both outcomes happened: some transfers committed, some were cancelled away.
    assert!(!record.acked.is_empty());
    assert!(ledger.len() < record.attempted.len());
    db.close().await.unwrap();
}

async fn chaos_two_readers() {
    chaos(2).await;
}
both_flavours!(random_timeouts, chaos_two_readers);

async fn a_dropped_long_query_is_interrupted() {
    let (_dir, db) = setup(1).await;
    // A query that would run for a very long time: a cross join of big with itself.
    let slow = "SELECT count(*) FROM big a, big b WHERE a.pad = b.pad";
    let started = std::time::Instant::now();
    let res = tokio::time::timeout(
        Duration::from_millis(50),
        db.read_with(move |c| Ok(c.query_row(slow, [], |r| r.get::<_, i64>(0))?)),
    )
    .await;
    assert!(res.is_err());
    // With one reader, the next read can only run once the interrupted one has stopped.
    let n: i64 = db
        .read_with(|c| Ok(c.query_row("SELECT count(*) FROM accounts", [], |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(n, ACCOUNTS);
    // 400 million row pairs would take minutes; interrupted, it took far less. (Generous bound:
    // this checks that the interrupt happened at all, not how fast.)
    assert!(started.elapsed() < Duration::from_secs(30));

    // The same through a guard's statement, and through a stream.
    let mut r = db.read().await.unwrap();
    assert!(
        tokio::time::timeout(
            Duration::from_millis(30),
            r.query_row(slow, (), |row| row.get::<_, i64>(0))
        )
        .await
        .is_err()
    );
    let n: i64 = r
        .query_row("SELECT count(*) FROM accounts", (), |row| row.get(0))
        .await
        .unwrap();
    assert_eq!(n, ACCOUNTS);
    {
        let mut rows = r.query(
            "SELECT a.id FROM big a, big b WHERE a.pad = b.pad ORDER BY a.v + b.v",
            (),
            |row| row.get::<_, i64>(0),
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(30), rows.try_next())
                .await
                .is_err()
        );
    }
    let n: i64 = r
        .query_row("SELECT count(*) FROM accounts", (), |row| row.get(0))
        .await
        .unwrap();
    assert_eq!(n, ACCOUNTS);
    assert!(started.elapsed() < Duration::from_secs(30));
}
both_flavours!(long_query, a_dropped_long_query_is_interrupted);

async fn an_interrupted_write_ends_its_transaction() {
    let (_dir, db) = setup(1).await;
    let mut tx = db.write().await.unwrap();
    tx.execute("UPDATE accounts SET balance = 0 WHERE id = 0", ())
        .await
        .unwrap();
    // A write statement long enough to be interrupted.
    let slow = "UPDATE big SET v = (SELECT count(*) FROM big b WHERE b.pad = big.pad)";
    assert!(
        tokio::time::timeout(Duration::from_millis(30), tx.execute(slow, ()))
            .await
            .is_err()
    );
    // SQLite rolled back the whole transaction; the guard says so rather than run in autocommit.
    let err = tx
        .execute("UPDATE accounts SET balance = 1 WHERE id = 1", ())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TransactionEnded), "{err:?}");
    assert!(matches!(tx.commit().await, Err(Error::TransactionEnded)));
    consistent(&db).await.unwrap();
    let b0: i64 = db
        .read_with(|c| Ok(c.query_row("SELECT balance FROM accounts WHERE id = 0", [], |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(b0, START);
}
both_flavours!(interrupted_write, an_interrupted_write_ends_its_transaction);

/// Issue 9.2: a `write_with` closure whose future is dropped mid-statement. SQLite rolls its
/// transaction back; a closure that ignores that error and goes on must not commit anything it
/// does afterwards (its next short statement used to run in autocommit mode and commit).
async fn a_cancelled_closure_commits_nothing_afterwards() {
    let (_dir, db) = setup(1).await;
    for round in 0..10 {
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
        let fut = db.write_with(move |tx| {
            tx.execute("UPDATE marker SET n = n + 1", [])?;
            let _ = started_tx.send(());
            // Runs for seconds unless interrupted; the interrupt rolls the transaction back.
            let _ = tx.execute(
                "UPDATE big SET v = (SELECT count(*) FROM big b WHERE b.pad = big.pad)",
                [],
            );
            // A careless closure ignores the error and carries on.
            let _ = tx.execute("INSERT INTO ledger(src, dst, amount) VALUES (0, 1, 999)", []);
            let _ = tx.execute("UPDATE accounts SET balance = balance - 999 WHERE id = 0", []);
            let _ =
                tx.execute_batch("CREATE TABLE IF NOT EXISTS leftover(x); INSERT INTO leftover VALUES (1)");
            Ok(())
        });
        let mut fut = Box::pin(fut);
        tokio::select! {
            r = &mut fut => panic!("round {round}: the closure finished before it was cancelled: {r:?}"),
            _ = started_rx => {}
        }
        drop(fut);
        // The writer serves writers in order: this one runs after the cancelled closure ended.
        let (marker, ledger, leftover, v): (i64, i64, i64, i64) = db
            .write_with(|tx| {
                Ok((
                    tx.query_row("SELECT n FROM marker", [], |r| r.get(0))?,
                    tx.query_row("SELECT count(*) FROM ledger", [], |r| r.get(0))?,
                    tx.query_row(
                        "SELECT count(*) FROM sqlite_schema WHERE name = 'leftover'",
                        [],
                        |r| r.get(0),
                    )?,
                    tx.query_row("SELECT max(v) FROM big", [], |r| r.get(0))?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(
            (marker, ledger, leftover, v),
            (0, 0, 0, 0),
            "round {round}: a cancelled closure committed part of its work"
        );
        consistent(&db).await.unwrap();
    }
    // The writer is healthy: a closure that is not cancelled commits.
    db.write_with(|tx| Ok(tx.execute("UPDATE marker SET n = 7", [])?))
        .await
        .unwrap();
    let n: i64 = db
        .query_row("SELECT n FROM marker", (), |r| r.get(0))
        .await
        .unwrap();
    assert_eq!(n, 7);
}
both_flavours_within!(
    cancelled_closure,
    a_cancelled_closure_commits_nothing_afterwards,
    60
);
