//! 200 tasks: random transfers between accounts in write transactions while others check the
//! totals in read transactions. Totals always balance, nobody sees SQLITE_BUSY, nothing hangs.

// Test helpers outside `#[test]` fns unwrap too: any failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use sqlvault_driver::{Database, Error};

const ACCOUNTS: i64 = 40;
const START: i64 = 1_000;
const WRITERS: usize = 150;
const TRANSFERS_EACH: usize = 8;
const CHECKERS: usize = 50;
const CHECKS_EACH: usize = 8;

async fn setup(readers: usize) -> (tempfile::TempDir, Database) {
    let (dir, db) = common::fresh(readers).await;
    db.write_with(|tx| {
        tx.execute_batch(
            "CREATE TABLE accounts(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL CHECK (balance >= 0));
             CREATE TABLE ledger(id INTEGER PRIMARY KEY, src INTEGER, dst INTEGER, amount INTEGER);",
        )?;
        for id in 0..ACCOUNTS {
            tx.execute("INSERT INTO accounts VALUES (?1, ?2)", (id, START))?;
        }
        Ok(())
    })
    .await
    .unwrap();
    (dir, db)
}

/// One transfer, written three ways so that every path is exercised under load.
async fn transfer(db: &Database, style: u32, src: i64, dst: i64, amount: i64) -> Result<(), Error> {
    match style {
        0 => {
            let mut tx = db.write().await?;
            let balance: i64 = tx
                .query_row("SELECT balance FROM accounts WHERE id = ?1", (src,), |r| r.get(0))
                .await?;
            if balance < amount {
                return tx.rollback().await;
            }
            tx.execute(
                "UPDATE accounts SET balance = balance - ?2 WHERE id = ?1",
                (src, amount),
            )
            .await?;
            tx.execute(
                "UPDATE accounts SET balance = balance + ?2 WHERE id = ?1",
                (dst, amount),
            )
            .await?;
            tx.execute(
                "INSERT INTO ledger(src, dst, amount) VALUES (?1, ?2, ?3)",
                (src, dst, amount),
            )
            .await?;
            tx.commit().await
        }
        1 => {
            // The same inside a savepoint; a CHECK failure undoes only the savepoint.
            let mut tx = db.write().await?;
            let mut sp = tx.savepoint().await?;
            let debit = sp
                .execute(
                    "UPDATE accounts SET balance = balance - ?2 WHERE id = ?1",
                    (src, amount),
                )
                .await;
            match debit {
                Ok(_) => {
                    sp.execute(
                        "UPDATE accounts SET balance = balance + ?2 WHERE id = ?1",
                        (dst, amount),
                    )
                    .await?;
                    sp.execute(
                        "INSERT INTO ledger(src, dst, amount) VALUES (?1, ?2, ?3)",
                        (src, dst, amount),
                    )
                    .await?;
                    sp.release().await?;
                }
                Err(e) if e.sqlite_code() == Some(rusqlite::ErrorCode::ConstraintViolation) => {
                    sp.rollback().await?
                }
                Err(e) => return Err(e),
            }
            tx.commit().await
        }
        _ => {
            db.write_with(move |tx| {
                let balance: i64 =
                    tx.query_row("SELECT balance FROM accounts WHERE id = ?1", [src], |r| r.get(0))?;
                if balance >= amount {
                    tx.execute(
                        "UPDATE accounts SET balance = balance - ?2 WHERE id = ?1",
                        [src, amount],
                    )?;
                    tx.execute(
                        "UPDATE accounts SET balance = balance + ?2 WHERE id = ?1",
                        [dst, amount],
                    )?;
                    tx.execute(
                        "INSERT INTO ledger(src, dst, amount) VALUES (?1, ?2, ?3)",
                        [src, dst, amount],
                    )?;
                }
                Ok(())
            })
            .await
        }
    }
}

/// Checks, in one snapshot, that money is conserved and that every balance matches the ledger.
async fn check(db: &Database, style: u32) -> Result<(), Error> {
    let sql_total = "SELECT sum(balance), count(*) FROM accounts";
    let sql_mismatch = "SELECT count(*) FROM accounts a WHERE a.balance != ?1
        - coalesce((SELECT sum(amount) FROM ledger WHERE src = a.id), 0)
        + coalesce((SELECT sum(amount) FROM ledger WHERE dst = a.id), 0)";
    let (total, count, mismatched): (i64, i64, i64) = if style == 0 {
        let mut r = db.read().await?;
        let (total, count) = r
            .query_row(sql_total, (), |row| Ok((row.get(0)?, row.get(1)?)))
            .await?;
        tokio::task::yield_now().await;
        let mismatched = r.query_row(sql_mismatch, (START,), |row| row.get(0)).await?;
        r.finish().await?;
        (total, count, mismatched)
    } else {
        db.read_with(move |c| {
            let (total, count) = c.query_row(sql_total, [], |row| Ok((row.get(0)?, row.get(1)?)))?;
            let mismatched = c.query_row(sql_mismatch, [START], |row| row.get(0))?;
            Ok((total, count, mismatched))
        })
        .await?
    };
    assert_eq!(count, ACCOUNTS);
    assert_eq!(total, ACCOUNTS * START, "money was created or destroyed");
    assert_eq!(
        mismatched, 0,
        "a balance disagrees with the ledger in one snapshot"
    );
    Ok(())
}

async fn run(readers: usize) {
    let (_dir, db) = setup(readers).await;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = fastrand::Rng::with_seed(w as u64);
            for i in 0..TRANSFERS_EACH {
                let src = rng.i64(0..ACCOUNTS);
                let dst = (src + rng.i64(1..ACCOUNTS)) % ACCOUNTS;
                let style = ((w + i) % 3) as u32;
                // Any error here (SQLITE_BUSY included) fails the test.
                transfer(&db, style, src, dst, rng.i64(1..400)).await.unwrap();
                if rng.bool() {
                    tokio::task::yield_now().await;
                }
            }
        }));
    }
    for c in 0..CHECKERS {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..CHECKS_EACH {
                check(&db, ((c + i) % 2) as u32).await.unwrap();
            }
        }));
    }
    let all = async {
        for t in tasks {
            t.await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(90), all)
        .await
        .expect("deadlock: the stress run did not finish");
    check(&db, 0).await.unwrap();
    let transfers: i64 = db
        .read_with(|c| Ok(c.query_row("SELECT count(*) FROM ledger", [], |r| r.get(0))?))
        .await
        .unwrap();
    assert!(
        transfers > (WRITERS * TRANSFERS_EACH / 2) as i64,
        "only {transfers} transfers happened"
    );
    db.close().await.unwrap();
}

async fn with_two_readers() {
    run(2).await;
}
both_flavours!(two_readers, with_two_readers);

async fn with_one_reader() {
    run(1).await;
}
both_flavours!(one_reader, with_one_reader);
