//! Savepoint semantics: release and rollback at each depth, drops, errors inside a savepoint.

// Test helpers outside `#[test]` fns unwrap too: any failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod common;

use sqlvault_driver::{Database, Error, WriteTx};

const DEPTH: u32 = 5;

async fn ids(db: &Database) -> Vec<i64> {
    db.read_with(|c| {
        let mut st = c.prepare("SELECT id FROM t ORDER BY id")?;
        let rows = st.query_map([], |r| r.get(0))?.collect::<Result<Vec<i64>, _>>()?;
        Ok(rows)
    })
    .await
    .unwrap()
}

async fn setup() -> (tempfile::TempDir, Database) {
    let (dir, db) = common::fresh(2).await;
    db.write_with(|tx| Ok(tx.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY)")?))
        .await
        .unwrap();
    (dir, db)
}

/// Builds savepoints 1..=DEPTH, inserting `level` at each level (0 = the transaction itself),
/// then ends the savepoint at `target` with rollback (or release) and releases all others.
/// Recursion is how the borrow-checked nesting is walked to any depth.
async fn nest(
    sp: &mut sqlvault_driver::Savepoint<'_>,
    level: u32,
    target: u32,
    rollback: bool,
) -> Result<(), Error> {
    sp.execute("INSERT INTO t(id) VALUES (?1)", (i64::from(level),))
        .await?;
    if level < DEPTH {
        let mut child = sp.savepoint().await?;
        assert_eq!(child.depth(), level + 1);
        Box::pin(nest(&mut child, level + 1, target, rollback)).await?;
        if level + 1 == target && rollback {
            child.rollback().await?;
        } else {
            child.release().await?;
        }
    }
    Ok(())
}

async fn tx_with_nest(tx: &mut WriteTx, target: u32, rollback: bool) {
    tx.execute("INSERT INTO t(id) VALUES (0)", ()).await.unwrap();
    let mut sp = tx.savepoint().await.unwrap();
    assert_eq!(sp.depth(), 1);
    nest(&mut sp, 1, target, rollback).await.unwrap();
    if target == 1 && rollback {
        sp.rollback().await.unwrap();
    } else {
        sp.release().await.unwrap();
    }
}

async fn release_and_rollback_at_each_depth() {
    let (_dir, db) = setup().await;
    for target in 1..=DEPTH {
        // Rolling back the savepoint at `target` undoes its level and every level inside it,
        // even though those were released into it.
        db.write_with(|tx| Ok(tx.execute_batch("DELETE FROM t")?))
            .await
            .unwrap();
        let mut tx = db.write().await.unwrap();
        tx_with_nest(&mut tx, target, true).await;
        tx.commit().await.unwrap();
        let expected: Vec<i64> = (0..i64::from(target)).collect();
        assert_eq!(ids(&db).await, expected, "rollback at depth {target}");

        // Releasing everything keeps every level.
        db.write_with(|tx| Ok(tx.execute_batch("DELETE FROM t")?))
            .await
            .unwrap();
        let mut tx = db.write().await.unwrap();
        tx_with_nest(&mut tx, target, false).await;
        tx.commit().await.unwrap();
        assert_eq!(ids(&db).await, (0..=i64::from(DEPTH)).collect::<Vec<_>>());

        // Rolling back the transaction undoes released savepoints too.
        db.write_with(|tx| Ok(tx.execute_batch("DELETE FROM t")?))
            .await
            .unwrap();
        let mut tx = db.write().await.unwrap();
        tx_with_nest(&mut tx, target, false).await;
        tx.rollback().await.unwrap();
        assert_eq!(ids(&db).await, Vec::<i64>::new());
    }
}
both_flavours!(release_and_rollback, release_and_rollback_at_each_depth);

async fn dropped_guards_roll_back() {
    let (_dir, db) = setup().await;
    let mut tx = db.write().await.unwrap();
    tx.execute("INSERT INTO t VALUES (1)", ()).await.unwrap();
    {
        let mut sp = tx.savepoint().await.unwrap();
        sp.execute("INSERT INTO t VALUES (2)", ()).await.unwrap();
        {
            let mut inner = sp.savepoint().await.unwrap();
            inner.execute("INSERT INTO t VALUES (3)", ()).await.unwrap();
            // Dropped without release: rolled back.
        }
        sp.execute("INSERT INTO t VALUES (4)", ()).await.unwrap();
        // The depth counter follows the drop: a new savepoint is depth 2 again.
        let inner = sp.savepoint().await.unwrap();
        assert_eq!(inner.depth(), 2);
        inner.release().await.unwrap();
        sp.release().await.unwrap();
    }
    {
        let mut sp = tx.savepoint().await.unwrap();
        sp.execute("INSERT INTO t VALUES (5)", ()).await.unwrap();
        // Dropped: 5 goes.
    }
    tx.commit().await.unwrap();
    assert_eq!(ids(&db).await, vec![1, 2, 4]);

    // A dropped write transaction rolls back, and the next writer starts cleanly after it.
    let mut tx = db.write().await.unwrap();
    tx.execute("INSERT INTO t VALUES (6)", ()).await.unwrap();
    let mut sp = tx.savepoint().await.unwrap();
    sp.execute("INSERT INTO t VALUES (7)", ()).await.unwrap();
    drop(sp);
    drop(tx);
    let mut tx = db.write().await.unwrap();
    tx.execute("INSERT INTO t VALUES (8)", ()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(ids(&db).await, vec![1, 2, 4, 8]);
}
both_flavours!(dropped_guards, dropped_guards_roll_back);

async fn errors_inside_a_savepoint() {
    let (_dir, db) = setup().await;
    let mut tx = db.write().await.unwrap();
    tx.execute("INSERT INTO t VALUES (1)", ()).await.unwrap();
    let mut sp = tx.savepoint().await.unwrap();
    sp.execute("INSERT INTO t VALUES (2)", ()).await.unwrap();
    // A constraint error fails only its statement: the savepoint and its earlier work remain.
    let err = sp.execute("INSERT INTO t VALUES (1)", ()).await.unwrap_err();
    assert_eq!(err.sqlite_code(), Some(rusqlite::ErrorCode::ConstraintViolation));
    let err = sp
        .execute("INSERT INTO nowhere VALUES (1)", ())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Sqlite(_)));
    let n: i64 = sp
        .query_row("SELECT count(*) FROM t", (), |r| r.get(0))
        .await
        .unwrap();
    assert_eq!(n, 2);
    {
        let mut inner = sp.savepoint().await.unwrap();
        inner.execute("INSERT INTO t VALUES (3)", ()).await.unwrap();
        assert!(inner.execute("INSERT INTO t VALUES (3)", ()).await.is_err());
        // After the error the caller decides: here, undo this savepoint.
        inner.rollback().await.unwrap();
    }
    sp.release().await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(ids(&db).await, vec![1, 2]);
}
both_flavours!(errors_inside, errors_inside_a_savepoint);

async fn a_transaction_ended_by_sql_refuses_further_statements() {
    let (_dir, db) = setup().await;
    let mut tx = db.write().await.unwrap();
    tx.execute("INSERT INTO t VALUES (1)", ()).await.unwrap();
    // SQL that ends the transaction behind the guard's back.
    tx.execute_batch("ROLLBACK").await.unwrap();
    // Nothing runs outside the transaction the caller thinks it is in.
    let err = tx.execute("INSERT INTO t VALUES (2)", ()).await.unwrap_err();
    assert!(matches!(err, Error::TransactionEnded), "{err:?}");
    assert!(matches!(tx.savepoint().await, Err(Error::TransactionEnded)));
    assert!(matches!(tx.commit().await, Err(Error::TransactionEnded)));
    assert_eq!(ids(&db).await, Vec::<i64>::new());
    // The writer is fine afterwards.
    let mut tx = db.write().await.unwrap();
    tx.execute("INSERT INTO t VALUES (3)", ()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(ids(&db).await, vec![3]);
}
both_flavours!(
    ended_by_sql,
    a_transaction_ended_by_sql_refuses_further_statements
);
