//! Power cuts at random points: the database reopens intact, with every transaction whose
//! commit returned (synchronous=FULL) or a prefix of them (NORMAL).

// Helpers outside `#[test]` fns unwrap too: any failure there is a test failure.
#![allow(clippy::unwrap_used)]

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

/// sqlvault over the fault VFS, or plain SQLite over it as the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    Sqlvault,
    PlainSqlite,
}

fn open_faulty(path: &Path, engine: Engine) -> Connection {
    match engine {
        Engine::Sqlvault => {
            let conn =
                Connection::open_with_flags_and_vfs(path, OpenFlags::default(), "sqlvault-over-faulty")
                    .unwrap();
            conn.execute_batch(&format!("PRAGMA hexkey = '{HEX}'")).unwrap();
            conn
        }
        Engine::PlainSqlite => {
            Connection::open_with_flags_and_vfs(path, OpenFlags::default(), "faulty").unwrap()
        }
    }
}

/// Which rows transaction `t` rewrites.
fn touches(t: i64, row: i64) -> bool {
    (row * 7 + t * 13) % 5 == 0 || row % (t + 2) == 0
}

/// Creates the tables and rows, durably (synchronous=FULL whatever the mode under test).
fn setup(path: &Path, mode: &str, engine: Engine) {
    let conn = open_faulty(path, engine);
    conn.execute_batch(&format!(
        "PRAGMA journal_mode={mode}; PRAGMA synchronous=FULL; PRAGMA cache_size=8;
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
fn run_transactions(path: &Path, mode: &str, sync: &str, engine: Engine) -> i64 {
    let conn = open_faulty(path, engine);
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

/// What a reopened database holds: the last logged transaction and every data row.
#[derive(Debug)]
struct Recovered {
    log_count: i64,
    log_max: i64,
    rows: Vec<(i64, i64, i64)>,
}

/// Reopens after the power cut (without the fault VFS); the database must be intact.
fn recover(path: &Path, engine: Engine, what: &str) -> Recovered {
    let conn = match engine {
        Engine::Sqlvault => {
            let key = sqlvault_vfs::DatabaseKey::resolve(
                path,
                &sqlvault_vfs::Key::Raw(sqlvault_vfs::MasterKey::from_hex(HEX).unwrap()),
                sqlvault_vfs::Argon2Params::INSECURE_FOR_TESTS,
            )
            .unwrap_or_else(|e| panic!("{what}: {e}"));
            sqlvault_vfs::open_connection(path, &key, OpenFlags::default())
                .unwrap_or_else(|e| panic!("{what}: reopening: {e}"))
        }
        Engine::PlainSqlite => Connection::open(path).unwrap(),
    };
    assert_eq!(integrity(&conn), "ok", "{what} ({engine:?})");
    let (log_count, log_max): (i64, Option<i64>) = conn
        .query_row("SELECT count(*), max(txn) FROM log", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    let mut stmt = conn
        .prepare("SELECT id, txn, length(pad) FROM data ORDER BY id")
        .unwrap();
    // Read leniently: a partly rolled-back database (see crash_points) can hold rows no
    // transaction wrote, and they must be compared, not crash the reader.
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get::<_, Option<i64>>(1)?.unwrap_or(-1),
                r.get::<_, Option<i64>>(2)?.unwrap_or(-1),
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    Recovered {
        log_count,
        log_max: log_max.unwrap_or(0),
        rows,
    }
}

/// The recovered state is a prefix of the transactions, with every row consistent with
/// it, and (when `durable`) holds every transaction whose commit returned.
fn assert_prefix(state: &Recovered, committed: i64, durable: bool, what: &str) {
    let max = state.log_max;
    assert_eq!(state.log_count, max, "{what}: the log is not a prefix");
    assert!(max <= TXNS, "{what}");
    if durable {
        assert!(
            max >= committed,
            "{what}: commit {committed} returned but only {max} survived"
        );
    }
    assert_eq!(state.rows.len() as i64, ROWS, "{what}");
    for &(id, txn, len) in &state.rows {
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

/// One power cut at operation `at` on a fresh database; returns the commits that
/// returned, whether the cut happened, and what reopening finds.
fn cut_at(
    fault: &FaultVfs,
    mode: &str,
    sync: &str,
    engine: Engine,
    at: u64,
    tear: Tear,
    what: &str,
) -> (i64, bool, Recovered) {
    let dir = tempdir();
    let path = db_path(&dir, "c.db");
    setup(&path, mode, engine);
    fault.arm(at);
    let committed = run_transactions(&path, mode, sync, engine);
    let crashed = fault.failed();
    fault.power_cut(tear).unwrap();
    let _ = std::fs::remove_file(db_path(&dir, "c.db-shm"));
    (committed, crashed, recover(&path, engine, what))
}

/// Power cuts at random points of a run of transactions, each followed by an intact
/// database (`PRAGMA integrity_check` = ok).
///
/// Where SQLite itself promises it — `synchronous=FULL`, and WAL mode — the recovered
/// database holds a prefix of the transactions (and, with FULL, every one whose commit
/// returned). In rollback-journal modes with `synchronous=NORMAL` SQLite promises less: its
/// commit marker is not synced, so a torn write over the previous journal can leave a
/// partly rolled-back database. Plain SQLite over the same fault VFS does that too (and then
/// returns torn, garbage rows); sqlvault must still return only rows some transaction wrote.
fn crash_points(mode: &str, sync: &str) {
    let iterations: u64 = std::env::var("SQLVAULT_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let durable = sync == "FULL";
    let partial_rollback_possible = sync == "NORMAL" && mode != "WAL";
    let fault = faulty();
    // Calibrate: how many writes, truncates and syncs a full run makes.
    let calibrate = |engine| {
        let dir = tempdir();
        let path = db_path(&dir, "c.db");
        setup(&path, mode, engine);
        fault.arm(u64::MAX);
        assert_eq!(run_transactions(&path, mode, sync, engine), TXNS);
        let total = fault.ops();
        fault.disarm();
        total
    };
    let total = calibrate(Engine::Sqlvault);
    assert!(total > 20, "{mode}/{sync}: only {total} operations");
    if mode != "WAL" {
        // The VFS seals in place: SQLite's own sequence of writes and syncs is unchanged,
        // so a crash point means the same thing with and without it. (In WAL mode the VFS
        // joins each frame header to its page in one write.)
        assert_eq!(
            calibrate(Engine::PlainSqlite),
            total,
            "{mode}/{sync}: sqlvault changed SQLite's I/O sequence"
        );
    }

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
        let what = format!("{mode}/{sync} iteration {i}: crash at op {at} of {total}, {tear:?}");
        let (committed, cut, state) = cut_at(&fault, mode, sync, Engine::Sqlvault, at, tear, &what);
        crashed += u64::from(cut);
        if partial_rollback_possible {
            for &(id, txn, len) in &state.rows {
                assert!(
                    (0..=TXNS).contains(&txn) && len == 1500 + txn * 10,
                    "{what}: row {id} holds ({txn}, {len}), which no transaction wrote"
                );
            }
        } else {
            assert_prefix(&state, committed, durable, &what);
        }
    }
    assert!(
        crashed >= iterations * 9 / 10,
        "{mode}/{sync}: only {crashed} of {iterations} runs reached their crash point"
    );
}

#[test]
fn crash_delete_full() {
    crash_points("DELETE", "FULL");
}

#[test]
fn crash_delete_normal() {
    crash_points("DELETE", "NORMAL");
}

#[test]
fn crash_truncate_full() {
    crash_points("TRUNCATE", "FULL");
}

#[test]
fn crash_truncate_normal() {
    crash_points("TRUNCATE", "NORMAL");
}

#[test]
fn crash_persist_normal() {
    crash_points("PERSIST", "NORMAL");
}

#[test]
fn crash_persist_full() {
    crash_points("PERSIST", "FULL");
}

#[test]
fn crash_wal_full() {
    crash_points("WAL", "FULL");
}

#[test]
fn crash_wal_normal() {
    crash_points("WAL", "NORMAL");
}

/// `PRAGMA page_size` + `VACUUM` (the page size change of the backup code) cut by a power
/// loss at every one of its writes, truncates and syncs, torn or not: the database reopens
/// intact, in the old page size or the new, with every row.
#[test]
fn crash_during_a_page_size_change() {
    let fault = faulty();
    for (from, to) in [(4096, 1024), (1024, 4096)] {
        let prepare = |path: &Path| {
            let conn = open_faulty(path, Engine::Sqlvault);
            conn.execute_batch(&format!(
                "PRAGMA page_size = {from}; PRAGMA synchronous = FULL; PRAGMA cache_size = 8;
                 CREATE TABLE t(a INTEGER PRIMARY KEY, b BLOB);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 150)
                 INSERT INTO t SELECT i, zeroblob(i * 11 % 900) FROM n;
                 DELETE FROM t WHERE a % 4 = 0;"
            ))
            .unwrap();
        };
        let change = |path: &Path| {
            let conn = open_faulty(path, Engine::Sqlvault);
            conn.execute_batch(&format!(
                "PRAGMA synchronous = FULL; PRAGMA cache_size = 8; PRAGMA page_size = {to}; VACUUM;"
            ))
        };
        let dir = tempdir();
        let path = db_path(&dir, "c.db");
        prepare(&path);
        fault.arm(u64::MAX);
        change(&path).unwrap();
        let total = fault.ops();
        fault.disarm();
        assert!(total > 10, "{from} -> {to}: only {total} operations");
        for at in 1..=total {
            for tear in [Tear::None, Tear::Sectors(1 + at as usize % 4)] {
                let what = format!("{from} -> {to}: crash at op {at} of {total}, {tear:?}");
                let dir = tempdir();
                let path = db_path(&dir, "c.db");
                prepare(&path);
                fault.arm(at);
                let changed = change(&path).is_ok();
                fault.power_cut(tear).unwrap();
                let conn = sqlvault_vfs::open_connection(
                    &path,
                    &sqlvault_vfs::DatabaseKey::resolve(
                        &path,
                        &sqlvault_vfs::Key::Raw(sqlvault_vfs::MasterKey::from_hex(HEX).unwrap()),
                        sqlvault_vfs::Argon2Params::INSECURE_FOR_TESTS,
                    )
                    .unwrap_or_else(|e| panic!("{what}: {e}")),
                    OpenFlags::default(),
                )
                .unwrap_or_else(|e| panic!("{what}: reopening: {e}"));
                let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
                assert_eq!(
                    integrity(&conn),
                    "ok",
                    "{what} (changed: {changed}, page size {size})"
                );
                let (count, sum): (i64, i64) = conn
                    .query_row("SELECT count(*), sum(a * 1000 + length(b)) FROM t", [], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .unwrap();
                let want_sum: i64 = (1..=150i64)
                    .filter(|a| a % 4 != 0)
                    .map(|a| a * 1000 + a * 11 % 900)
                    .sum();
                assert_eq!((count, sum), (113, want_sum), "{what}");
                let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
                assert!(size == from || size == to, "{what}: page size {size}");
                if changed {
                    assert_eq!(size, to, "{what}: the VACUUM returned but the change was lost");
                }
            }
        }
    }
}

/// SQLite's backup_ioerr: I/O errors from some point of a backup into a database of
/// another page size on; once the errors stop, the destination is whole (the backup
/// rolled back, or done).
#[test]
fn io_errors_during_a_backup_between_page_sizes() {
    let fault = faulty();
    for (src_size, dst_size) in [(1024, 512), (512, 4096)] {
        let run = |dir: &Path, arm: u64| -> (bool, u64) {
            let src_path = dir.join("src.db");
            let dst_path = dir.join("dst.db");
            let _ = std::fs::remove_file(&src_path);
            let _ = std::fs::remove_file(&dst_path);
            let src = open_faulty(&src_path, Engine::Sqlvault);
            src.execute_batch(&format!(
                "PRAGMA page_size = {src_size};
                 CREATE TABLE t(a INTEGER PRIMARY KEY, b BLOB);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 120)
                 INSERT INTO t SELECT i, zeroblob(i * 13 % 1000) FROM n;"
            ))
            .unwrap();
            let mut dst = open_faulty(&dst_path, Engine::Sqlvault);
            dst.execute_batch(&format!(
                "PRAGMA page_size = {dst_size}; PRAGMA cache_size = 10;
                 CREATE TABLE old(x);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
                 INSERT INTO old SELECT zeroblob(700) FROM n;"
            ))
            .unwrap();
            fault.arm(arm);
            let ok = rusqlite::backup::Backup::new(&src, &mut dst)
                .and_then(|b| b.run_to_completion(1_000_000, std::time::Duration::ZERO, None))
                .is_ok();
            let ops = fault.ops();
            drop((src, dst));
            fault.disarm();
            (ok, ops)
        };
        let dir = tempdir();
        let (ok, total) = run(dir.path(), u64::MAX);
        assert!(ok);
        assert!(total > 50, "{src_size} -> {dst_size}: only {total} operations");
        for at in (1..=total).rev() {
            let what = format!("{src_size} -> {dst_size}: errors from op {at} of {total}");
            let dir = tempdir();
            let (done, _) = run(dir.path(), at);
            let dst_path = dir.path().join("dst.db");
            let key = sqlvault_vfs::DatabaseKey::resolve(
                &dst_path,
                &sqlvault_vfs::Key::Raw(sqlvault_vfs::MasterKey::from_hex(HEX).unwrap()),
                sqlvault_vfs::Argon2Params::INSECURE_FOR_TESTS,
            )
            .unwrap_or_else(|e| panic!("{what}: {e}"));
            let conn = sqlvault_vfs::open_connection(&dst_path, &key, OpenFlags::default())
                .unwrap_or_else(|e| panic!("{what}: reopening: {e}"));
            assert_eq!(integrity(&conn), "ok", "{what} (backup returned ok: {done})");
            let tables: i64 = conn
                .query_row(
                    "SELECT count(*) FROM sqlite_schema WHERE name IN ('t', 'old')",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(tables, 1, "{what}");
        }
    }
}
