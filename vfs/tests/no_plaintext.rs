//! Nothing the user stored reaches the disk in plaintext: every byte written to every
//! file — temp files included, captured through a recording parent VFS — is scanned.

// Helpers outside `#[test]` fns unwrap too: any failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::OnceLock;

use common::*;
use rusqlite::{Connection, OpenFlags};
use sqlvault_vfs::testing::FaultVfs;

/// sqlvault layered over a recording VFS, registered once per test process.
fn recorder() -> &'static FaultVfs {
    static REC: OnceLock<FaultVfs> = OnceLock::new();
    REC.get_or_init(|| {
        let rec = FaultVfs::register("recorder");
        sqlvault_vfs::register("sqlvault-over-recorder", Some("recorder"), false).unwrap();
        rec
    })
}

fn open_recorded(path: &std::path::Path) -> Connection {
    recorder();
    let conn =
        Connection::open_with_flags_and_vfs(path, OpenFlags::default(), "sqlvault-over-recorder").unwrap();
    conn.execute_batch(&format!("PRAGMA hexkey = '{}'", "5a".repeat(32)))
        .unwrap();
    conn
}

const MARKER: &[u8] = b"MARKER-7f3a";

fn spill_workload(conn: &Connection, journal_mode: &str) {
    conn.execute_batch(&format!(
        "PRAGMA journal_mode={journal_mode}; PRAGMA temp_store=FILE; PRAGMA cache_size=16;
         CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, body TEXT);"
    ))
    .unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    for i in 0..20_000 {
        tx.execute(
            "INSERT INTO t(grp, body) VALUES (?1, ?2)",
            (
                (i % 97) as i64,
                format!("{}-{i}-{}", String::from_utf8_lossy(MARKER), "x".repeat(i % 300)),
            ),
        )
        .unwrap();
    }
    tx.commit().unwrap();
    // A large ORDER BY and GROUP BY (several MB) spill to sorter temp files.
    let mut stmt = conn.prepare("SELECT body FROM t ORDER BY body DESC").unwrap();
    let n = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap().count();
    assert_eq!(n, 20_000);
    let mut stmt = conn
        .prepare("SELECT grp, group_concat(body) FROM t GROUP BY grp ORDER BY 2")
        .unwrap();
    let g = stmt.query_map([], |r| r.get::<_, i64>(0)).unwrap().count();
    assert_eq!(g, 97);
    // A temp table, a temp index, and a big savepoint rolled back (statement journal spill).
    conn.execute_batch(
        "CREATE TEMP TABLE scratch AS SELECT * FROM t; CREATE INDEX temp.sb ON scratch(body);
         BEGIN; UPDATE t SET grp = grp * 1; SAVEPOINT big; UPDATE t SET body = body || body; DELETE FROM t WHERE id % 2 = 0;
         ROLLBACK TO big; RELEASE big; UPDATE t SET grp = grp + 1 WHERE id % 3 = 0; COMMIT;",
    )
    .unwrap();
    assert_eq!(integrity(conn), "ok");
}

#[test]
fn no_marker_in_any_byte_written_in_any_journal_mode() {
    for mode in ["DELETE", "TRUNCATE", "PERSIST", "WAL"] {
        let dir = tempdir();
        let path = db_path(&dir, "leak.db");
        let rec = recorder();
        rec.record_writes(true);
        let before = rec.written();
        {
            let conn = open_recorded(&path);
            spill_workload(&conn, mode);
        }
        let after = rec.written();
        rec.record_writes(false);
        let mut temp_bytes = 0usize;
        for (name, bytes) in &after {
            let old = before.get(name).map_or(0, Vec::len);
            let new = &bytes[old.min(bytes.len())..];
            if name.is_empty() {
                temp_bytes += new.len();
            }
            assert!(!contains(new, MARKER), "{mode}: marker written to {name:?}");
        }
        // The workload must really have spilled to temp files, or this test proves nothing.
        assert!(
            temp_bytes > 100_000,
            "{mode}: only {temp_bytes} bytes went to temp files"
        );
        assert!(
            files_containing(dir.path(), MARKER).is_empty(),
            "{mode}: marker on disk"
        );
        // And the data is all there.
        let conn = open_recorded(&path);
        let n: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 20_000, "{mode}");
    }
}
