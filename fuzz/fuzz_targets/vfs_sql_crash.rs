//! Random SQL through the sqlvault VFS over a power-cut-injecting VFS, cut at a random
//! point: the database must reopen intact (`PRAGMA integrity_check` = ok) every time.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rusqlite::{Connection, OpenFlags};
use sqlvault_vfs::testing::{FaultVfs, Tear};

#[derive(Arbitrary, Debug)]
enum Op {
    Insert(u8, u16),
    Update(u8, u16),
    Delete(u8),
    Begin,
    Commit,
    Rollback,
    Savepoint,
    Release,
    RollbackTo,
    Vacuum,
    Checkpoint,
}

#[derive(Arbitrary, Debug)]
struct Input {
    wal: bool,
    full_sync: bool,
    crash_at: u16,
    tear: u8,
    ops: Vec<Op>,
}

const HEX: &str = "7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e";

fn fault() -> &'static FaultVfs {
    static F: OnceLock<FaultVfs> = OnceLock::new();
    F.get_or_init(|| {
        let f = FaultVfs::register("fuzz-faulty");
        sqlvault_vfs::register("fuzz-sqlvault-faulty", Some("fuzz-faulty"), false).unwrap();
        sqlvault_vfs::register("fuzz-sqlvault", None, false).unwrap();
        f
    })
}

fn open(path: &std::path::Path, vfs: &str) -> Connection {
    let conn = Connection::open_with_flags_and_vfs(path, OpenFlags::default(), vfs).unwrap();
    conn.execute_batch(&format!("PRAGMA hexkey = '{HEX}'")).unwrap();
    conn
}

fuzz_target!(|input: Input| {
    if input.ops.len() > 64 {
        return;
    }
    let fault = fault();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.db");
    {
        let conn = open(&path, "fuzz-sqlvault-faulty");
        let mode = if input.wal { "WAL" } else { "DELETE" };
        let sync = if input.full_sync { "FULL" } else { "NORMAL" };
        // The table is created durably (synchronous=FULL); the fuzzed part runs with the
        // chosen sync mode.
        conn.execute_batch(&format!(
            "PRAGMA journal_mode={mode}; PRAGMA synchronous=FULL; PRAGMA cache_size=4;
             CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB); PRAGMA synchronous={sync};"
        ))
        .unwrap();
        fault.arm(u64::from(input.crash_at) + 1);
        for op in &input.ops {
            let sql = match op {
                Op::Insert(k, n) => {
                    format!("INSERT OR REPLACE INTO t VALUES ({k}, randomblob({}))", n % 6000)
                }
                Op::Update(k, n) => format!("UPDATE t SET v = randomblob({}) WHERE k >= {k}", n % 6000),
                Op::Delete(k) => format!("DELETE FROM t WHERE k <= {k}"),
                Op::Begin => "BEGIN".into(),
                Op::Commit => "COMMIT".into(),
                Op::Rollback => "ROLLBACK".into(),
                Op::Savepoint => "SAVEPOINT s".into(),
                Op::Release => "RELEASE s".into(),
                Op::RollbackTo => "ROLLBACK TO s".into(),
                Op::Vacuum => "VACUUM".into(),
                Op::Checkpoint => "PRAGMA wal_checkpoint(TRUNCATE)".into(),
            };
            let _ = conn.execute_batch(&sql);
        }
    }
    let tear = if input.tear % 2 == 0 {
        Tear::None
    } else {
        Tear::Sectors(usize::from(input.tear / 2 % 8) + 1)
    };
    fault.power_cut(tear).unwrap();
    let _ = std::fs::remove_file(dir.path().join("f.db-shm"));
    let conn = open(&path, "fuzz-sqlvault");
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok", "{input:?}");
    let _: i64 = conn
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
});
