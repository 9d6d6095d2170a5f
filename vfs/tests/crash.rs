//! Power cuts at random points: the database reopens intact, with every transaction whose
//! commit returned (synchronous=FULL) or a prefix of them (NORMAL).

mod common;

use std::path::Path;
use std::sync::{Mutex, OnceLock};

use common::*;
use rusqlite::{Connection, OpenFlags};
use sqlvault_vfs::testing::{FaultVfs, Tear};

/// The fault VFS is process-wide state: tests using it take turns.
fn faulty() -> std::sync::MutexGuard<'static, FaultVfs> {
    static VFS: OnceLock<Mutex<FaultVfs>> = OnceLock::new();
    VFS.get_or_init(|| {
        let f = FaultVfs::register("faulty");
        sqlvault_vfs::register("sqlvault-over-faulty", Some("faulty"), false).unwrap();
        Mutex::new(f)
    })
    .lock()
    .unwrap_or_else(|p| p.into_inner())
}

const HEX: &str = "3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c";
const TXNS: i64 = 8;
const ROWS: i64 = 60;

fn open_faulty(path: &Path) -> Connection {
    let conn =
        Connection::open_with_flags_and_vfs(path, OpenFlags::default(), "sqlvault-over-faulty").unwrap();
    conn.execute_batch(&format!("PRAGMA hexkey = '{HEX}'")).unwrap();
    conn
}

/// Which rows transaction `t` rewrites.
fn touches(t: i64, row: i64) -> bool {
    (row * 7 + t * 13) % 5 == 0 || row % (t + 2) == 0
}

fn setup(path: &Path, mode: &str, sync: &str) {
    let conn = open_faulty(path);
    conn.execute_batch(&format!(
        "PRAGMA journal_mode={mode}; PRAGMA synchronous={sync}; PRAGMA cache_size=8;
         CREATE TABLE log(txn INTEGER PRIMARY KEY);
         CREATE TABLE data(id INTEGER PRIMARY KEY, txn INTEGER, pad BLOB);"
    ))
    .unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    for id in 0..ROWS {
        tx.execute("INSERT INTO data VALUES (?1, 0, zeroblob(1500))", [id])
            .unwrap();
    }
    tx.commit().unwrap();
}

/// Runs the transactions; returns how many commits returned success.
fn run_transactions(path: &Path, mode: &str, sync: &str) -> i64 {
    let conn = open_faulty(path);
    let Ok(()) = conn.execute_batch(&format!(
        "PRAGMA journal_mode={mode}; PRAGMA synchronous={sync}; PRAGMA cache_size=8;"
    )) else {
        return 0;
    };
    let mut committed = 0;
    for t in 1..=TXNS {
        let result = (|| -> rusqlite::Result<()> {
            conn.execute_batch("BEGIN")?;
            conn.execute("INSERT INTO log VALUES (?1)", [t])?;
            for id in 0..ROWS {
                if touches(t, id) {
                    conn.execute(
                        "UPDATE data SET txn = ?1, pad = randomblob(1500 + ?1 * 10) WHERE id = ?2",
                        [t, id],
                    )?;
                }
            }
            conn.execute_batch("COMMIT")
        })();
        match result {
            Ok(()) => committed = t,
            Err(_) => break,
        }
    }
    committed
}

/// Checks the reopened database: intact, a prefix of the transactions, rows consistent.
fn check(path: &Path, committed: i64, durable: bool, what: &str) {
    let conn = open_connection_plain(path).unwrap_or_else(|e| panic!("{what}: reopening: {e}"));
    assert_eq!(integrity(&conn), "ok", "{what}");
    let (count, max): (i64, Option<i64>) = conn
        .query_row("SELECT count(*), max(txn) FROM log", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    let max = max.unwrap_or(0);
    assert_eq!(count, max, "{what}: the log is not a prefix");
    assert!(max <= TXNS, "{what}");
    if durable {
        assert!(
            max >= committed,
            "{what}: commit {committed} returned but only {max} survived"
        );
    }
    let mut stmt = conn
        .prepare("SELECT id, txn, length(pad) FROM data ORDER BY id")
        .unwrap();
    let rows: Vec<(i64, i64, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len() as i64, ROWS, "{what}");
    for (id, txn, len) in rows {
        let expected = (1..=max).rev().find(|&t| touches(t, id)).unwrap_or(0);
        assert_eq!(
            txn, expected,
            "{what}: row {id} is from transaction {txn}, expected {expected}"
        );
        assert_eq!(
            len,
            if expected == 0 { 1500 } else { 1500 + expected * 10 },
            "{what}: row {id}"
        );
    }
}

fn open_connection_plain(path: &Path) -> Result<Connection, sqlvault_vfs::Error> {
    let key = sqlvault_vfs::DatabaseKey::resolve(
        path,
        &sqlvault_vfs::Key::Raw(sqlvault_vfs::MasterKey::from_hex(HEX).unwrap()),
        sqlvault_vfs::Argon2Params::INSECURE_FOR_TESTS,
    )?;
    sqlvault_vfs::open_connection(path, &key, OpenFlags::default())
}

fn crash_points(mode: &str, sync: &str, durable: bool) {
    let iterations: u64 = std::env::var("SQLVAULT_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let fault = faulty();
    // Calibrate: how many writes, truncates and syncs a full run makes.
    let dir = tempdir();
    let path = db_path(&dir, "c.db");
    setup(&path, mode, sync);
    fault.arm(u64::MAX);
    assert_eq!(run_transactions(&path, mode, sync), TXNS);
    let total = fault.ops();
    fault.disarm();
    assert!(total > 20, "{mode}/{sync}: only {total} operations");

    let mut seed = 0x2545_f491_4f6c_dd1du64 ^ total;
    let mut crashed = 0;
    for i in 0..iterations {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let at = 1 + seed % total;
        let tear = if i % 2 == 0 {
            Tear::None
        } else {
            Tear::Sectors(1 + (seed >> 20) as usize % 8)
        };
        let dir = tempdir();
        let path = db_path(&dir, "c.db");
        setup(&path, mode, sync);
        fault.arm(at);
        let committed = run_transactions(&path, mode, sync);
        crashed += u64::from(fault.failed());
        fault.power_cut(tear).unwrap();
        let _ = std::fs::remove_file(db_path(&dir, "c.db-shm"));
        check(
            &path,
            committed,
            durable,
            &format!("{mode}/{sync} iteration {i}: crash at op {at} of {total}, {tear:?}"),
        );
    }
    assert!(
        crashed >= iterations * 9 / 10,
        "{mode}/{sync}: only {crashed} of {iterations} runs reached their crash point"
    );
}

#[test]
fn crash_delete_full() {
    crash_points("DELETE", "FULL", true);
}

#[test]
fn crash_delete_normal() {
    crash_points("DELETE", "NORMAL", false);
}

#[test]
fn crash_truncate_full() {
    crash_points("TRUNCATE", "FULL", true);
}

#[test]
fn crash_persist_full() {
    crash_points("PERSIST", "FULL", true);
}

#[test]
fn crash_wal_full() {
    crash_points("WAL", "FULL", true);
}

#[test]
fn crash_wal_normal() {
    crash_points("WAL", "NORMAL", false);
}
