//! `execute_many` (one statement over many parameter sets in one trip, inside the guard's
//! transaction and savepoint) and `column_names` (a statement's columns without running it),
//! on the async and the blocking guards.

// Test helpers outside `#[test]` fns unwrap too: any failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod common;

use sqlvault_driver::rusqlite::{self, types::Value};

async fn count(db: &sqlvault_driver::Database) -> i64 {
    db.query_row("SELECT count(*) FROM t", (), |r| r.get(0))
        .await
        .unwrap()
}

#[tokio::test]
async fn runs_every_set_and_counts_the_changes() {
    let (_dir, db) = common::fresh(2).await;
    let mut tx = db.write().await.unwrap();
    tx.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
        .await
        .unwrap();
    let rows: Vec<(i64, String)> = (0..1000).map(|i| (i, format!("v{i}"))).collect();
    assert_eq!(
        tx.execute_many("INSERT INTO t VALUES (?1, ?2)", rows)
            .await
            .unwrap(),
        1000
    );
    let dynamic: Vec<_> = (1000..1010)
        .map(|i| rusqlite::params_from_iter(vec![Value::Integer(i), Value::Text("dyn".into())]))
        .collect();
    assert_eq!(
        tx.execute_many("INSERT INTO t VALUES (?1, ?2)", dynamic)
            .await
            .unwrap(),
        10
    );
    assert_eq!(
        tx.execute_many("UPDATE t SET v = 'x' WHERE id < ?1", vec![(5,), (3,)])
            .await
            .unwrap(),
        8
    );
    tx.commit().await.unwrap();
    assert_eq!(count(&db).await, 1010);
}

#[tokio::test]
async fn a_failing_set_stops_the_run_and_a_rollback_undoes_it_all() {
    let (_dir, db) = common::fresh(2).await;
    db.write_with(|tx| Ok(tx.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY)")?))
        .await
        .unwrap();
    let mut tx = db.write().await.unwrap();
    let err = tx
        .execute_many("INSERT INTO t VALUES (?1)", vec![(1,), (2,), (2,), (3,)])
        .await
        .unwrap_err();
    assert_eq!(err.sqlite_code(), Some(rusqlite::ErrorCode::ConstraintViolation));
    // The sets before the failing one are part of the transaction.
    let n: i64 = tx
        .query_row("SELECT count(*) FROM t", (), |r| r.get(0))
        .await
        .unwrap();
    assert_eq!(n, 2);
    {
        let mut sp = tx.savepoint().await.unwrap();
        sp.execute_many("INSERT INTO t VALUES (?1)", vec![(10,), (11,)])
            .await
            .unwrap();
        sp.rollback().await.unwrap();
    }
    tx.rollback().await.unwrap();
    assert_eq!(count(&db).await, 0);
}

#[test]
fn blocking_guards_have_it_too() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (_dir, db) = rt.block_on(common::fresh(2));
    let db = db.blocking();
    let mut tx = db.write().unwrap();
    tx.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY)")
        .unwrap();
    assert_eq!(
        tx.execute_many(
            "INSERT INTO t VALUES (?1)",
            (0..100).map(|i| (i,)).collect::<Vec<_>>()
        )
        .unwrap(),
        100
    );
    tx.commit().unwrap();
    let n: i64 = db
        .read_with(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(n, 100);
}

#[tokio::test]
async fn column_names_prepares_without_running() {
    let (_dir, db) = common::fresh(2).await;
    let mut tx = db.write().await.unwrap();
    tx.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
        .await
        .unwrap();
    assert_eq!(
        tx.column_names("SELECT id AS ident, v, 1 + 1 FROM t WHERE 0")
            .await
            .unwrap(),
        ["ident", "v", "1 + 1"]
    );
    assert!(
        tx.column_names("INSERT INTO t VALUES (1, 'x')")
            .await
            .unwrap()
            .is_empty()
    );
    let n: i64 = tx
        .query_row("SELECT count(*) FROM t", (), |r| r.get(0))
        .await
        .unwrap();
    assert_eq!(n, 0, "column_names ran the INSERT");
    assert!(tx.column_names("SELEC nonsense").await.is_err());
    tx.commit().await.unwrap();
    let mut r = db.read().await.unwrap();
    assert_eq!(r.column_names("SELECT v FROM t").await.unwrap(), ["v"]);
    r.finish().await.unwrap();
}
