//! `vfs_differential`: the same random SQL on plain SQLite and on sqlvault gives the same
//! results.
//!
//! The input picks a journal mode (DELETE / TRUNCATE / PERSIST / WAL), a page size
//! (512..65536; sqlvault reserves 32 bytes of each page), an auto_vacuum mode and a cache
//! size, then a statement sequence from a small grammar: CREATE / DROP TABLE and INDEX,
//! ALTER TABLE ADD COLUMN, INSERT (single rows with integers, reals, NULL, long text and
//! blobs; and recursive bulk inserts), UPDATE, DELETE, queries (scans, sorts, aggregates,
//! index lookups), BEGIN / COMMIT / ROLLBACK, SAVEPOINT / RELEASE / ROLLBACK TO, VACUUM,
//! `PRAGMA incremental_vacuum`, `PRAGMA cache_size`, WAL checkpoints, and reopening both
//! connections.
//!
//! After every statement both must agree on success or failure (the same primary error
//! code) and, for statements whose output is logical (queries, DML), on the rows. At the
//! end both must hold the same schema and the same rows of every table (by primary key), pass
//! `PRAGMA integrity_check`, and still do after closing and reopening.
//!
//! Output that depends on how many bytes of a page are usable (page_count, freelist_count,
//! checkpoint frame counts, incremental_vacuum's work) legitimately differs, since sqlvault
//! pages hold 32 bytes less: only success is compared for those.
#![no_main]

use std::path::Path;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags};

const HEX: &str = "3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c";

#[derive(Arbitrary, Debug, Clone)]
enum Val {
    Null,
    Int(i64),
    Small(i8),
    Real(i32),
    /// Text of this length (mod 6000) from a seed.
    Text(u16, u8),
    /// Blob of this length (mod 9000) from a seed.
    Blob(u16, u8),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Col {
    B,
    C,
    D,
    E,
}

impl Col {
    fn name(self) -> &'static str {
        ["b", "c", "d", "e"][self as usize]
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    CreateTable(u8, bool),
    CreateIndex(u8, Col, bool),
    DropTable(u8),
    DropIndex(u8, Col),
    AddColumn(u8),
    Insert(u8, Option<i16>, Val, Val, Val),
    InsertMany(u8, u8, u16),
    Update(u8, Col, Val, i16),
    UpdateGrow(u8, u16),
    Delete(u8, i16, u8),
    SelectAll(u8),
    SelectSorted(u8, Col),
    Aggregate(u8),
    Lookup(u8, Col, Val),
    Begin(u8),
    Commit,
    Rollback,
    Savepoint(u8),
    Release(u8),
    RollbackTo(u8),
    Vacuum,
    IncrementalVacuum(u8),
    CacheSize(i8),
    Checkpoint(u8),
    Reopen,
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// 0..3: DELETE, TRUNCATE, PERSIST, WAL.
    mode: u8,
    /// 9..=16 (mod 8 + 9): log2 of the page size.
    page_log: u8,
    /// 0..2: NONE, FULL, INCREMENTAL.
    auto_vacuum: u8,
    cache: i8,
    ops: Vec<Op>,
}

fn text(len: u16, seed: u8) -> String {
    let n = usize::from(len) % 6000;
    (0..n)
        .map(|i| char::from(b'a' + ((i * 7 + usize::from(seed) * 13 + i / 97) % 26) as u8))
        .collect()
}

fn blob(len: u16, seed: u8) -> Vec<u8> {
    let n = usize::from(len) % 9000;
    let mut x = u32::from(seed) * 0x0101_0101 | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn value(v: &Val) -> SqlValue {
    match *v {
        Val::Null => SqlValue::Null,
        Val::Int(i) => SqlValue::Integer(i),
        Val::Small(i) => SqlValue::Integer(i64::from(i)),
        Val::Real(r) => SqlValue::Real(f64::from(r) / 8.0),
        Val::Text(l, s) => SqlValue::Text(text(l, s)),
        Val::Blob(l, s) => SqlValue::Blob(blob(l, s)),
    }
}

/// Whether a statement's rows are logical content (compared) or depend on page layout.
#[derive(PartialEq)]
enum Compare {
    Rows,
    SuccessOnly,
}

type Outcome = Result<Vec<Vec<SqlValue>>, String>;

fn run(conn: &Connection, sql: &str, params: &[SqlValue]) -> Outcome {
    let code = |e: rusqlite::Error| match e.sqlite_error_code() {
        Some(c) => format!("{c:?}"),
        None => format!("{e}"),
    };
    let mut stmt = conn.prepare(sql).map_err(code)?;
    let n = stmt.column_count();
    let mut rows = stmt
        .query(rusqlite::params_from_iter(params.iter()))
        .map_err(code)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(code)? {
        out.push((0..n).map(|i| r.get::<_, SqlValue>(i).unwrap()).collect());
    }
    Ok(out)
}

fn open_vault(path: &Path) -> Connection {
    let key = sqlvault_vfs::DatabaseKey::resolve(
        path,
        &sqlvault_vfs::Key::Raw(sqlvault_vfs::MasterKey::from_hex(HEX).unwrap()),
        sqlvault_vfs::Argon2Params::INSECURE_FOR_TESTS,
    )
    .unwrap();
    sqlvault_vfs::open_connection(path, &key, OpenFlags::default()).unwrap()
}

/// Schema, then every table's rows by rowid.
fn canonical(conn: &Connection) -> Vec<Vec<Vec<SqlValue>>> {
    let schema = run(
        conn,
        "SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY name",
        &[],
    )
    .unwrap();
    let mut out = vec![schema.clone()];
    for row in &schema {
        if let (SqlValue::Text(ty), SqlValue::Text(name)) = (&row[0], &row[1])
            && ty == "table"
            && !name.starts_with("sqlite_")
        {
            out.push(run(conn, &format!("SELECT * FROM \"{name}\" ORDER BY a"), &[]).unwrap());
        }
    }
    out
}

fn integrity(conn: &Connection) -> Vec<Vec<SqlValue>> {
    run(conn, "PRAGMA integrity_check", &[]).unwrap()
}

fuzz_target!(|input: Input| {
    if input.ops.len() > 48 {
        return;
    }
    let dir = if Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm").unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let ppath = dir.path().join("plain.db");
    let vpath = dir.path().join("vault.db");
    let mode = ["DELETE", "TRUNCATE", "PERSIST", "WAL"][usize::from(input.mode % 4)];
    let page = 1u32 << (input.page_log % 8 + 9);
    let av = ["NONE", "FULL", "INCREMENTAL"][usize::from(input.auto_vacuum % 3)];
    let cache = i32::from(input.cache % 64).abs().max(1);
    let setup = format!(
        "PRAGMA page_size={page}; PRAGMA auto_vacuum={av}; PRAGMA journal_mode={mode}; PRAGMA cache_size={cache};"
    );
    let mut plain = Connection::open(&ppath).unwrap();
    let mut vault = open_vault(&vpath);
    for c in [&plain, &vault] {
        c.execute_batch(&setup).unwrap();
    }
    let mode_of = |c: &Connection| run(c, "PRAGMA journal_mode", &[]).unwrap();
    assert_eq!(mode_of(&plain), mode_of(&vault));

    for (step, op) in input.ops.iter().enumerate() {
        let t = |n: u8| format!("t{}", n % 3);
        let mut params: Vec<SqlValue> = Vec::new();
        let mut cmp = Compare::Rows;
        let sql = match op {
            Op::CreateTable(n, without_rowid) => {
                if *without_rowid {
                    format!("CREATE TABLE {}(a INTEGER PRIMARY KEY, b, c, d, e) WITHOUT ROWID", t(*n))
                } else {
                    format!("CREATE TABLE {}(a INTEGER PRIMARY KEY, b, c, d, e)", t(*n))
                }
            }
            Op::CreateIndex(n, col, unique) => format!(
                "CREATE {}INDEX i{}{} ON {}({})",
                if *unique { "UNIQUE " } else { "" },
                n % 3,
                col.name(),
                t(*n),
                col.name()
            ),
            Op::DropTable(n) => format!("DROP TABLE {}", t(*n)),
            Op::DropIndex(n, col) => format!("DROP INDEX i{}{}", n % 3, col.name()),
            Op::AddColumn(n) => format!("ALTER TABLE {} ADD COLUMN x{} DEFAULT 'dflt'", t(*n), step),
            Op::Insert(n, a, b, c, d) => {
                params = vec![
                    a.map_or(SqlValue::Null, |a| SqlValue::Integer(i64::from(a))),
                    value(b),
                    value(c),
                    value(d),
                ];
                format!("INSERT INTO {}(a, b, c, d) VALUES (?1, ?2, ?3, ?4)", t(*n))
            }
            Op::InsertMany(n, count, len) => format!(
                "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < {})
                 INSERT INTO {}(b, c, d, e) SELECT x * 3, hex(zeroblob({})) || x, zeroblob(x % 700), x / 7.0 FROM s",
                count % 80 + 1,
                t(*n),
                len % 1500
            ),
            Op::Update(n, col, v, a) => {
                params = vec![value(v), SqlValue::Integer(i64::from(*a))];
                format!("UPDATE {} SET {} = ?1 WHERE a % 5 = ?2 % 5", t(*n), col.name())
            }
            Op::UpdateGrow(n, len) => format!(
                "UPDATE {} SET c = CAST(coalesce(c, '') AS TEXT) || hex(zeroblob({})) WHERE a % 2 = 0",
                t(*n),
                len % 2000
            ),
            Op::Delete(n, a, m) => format!("DELETE FROM {} WHERE a % {} = {}", t(*n), m % 7 + 1, a % 7),
            Op::SelectAll(n) => format!("SELECT * FROM {} ORDER BY a", t(*n)),
            Op::SelectSorted(n, col) => format!(
                "SELECT {c}, a, length({c}) FROM {} ORDER BY {c}, a",
                t(*n),
                c = col.name()
            ),
            Op::Aggregate(n) => format!(
                "SELECT count(*), sum(length(b)), sum(length(c)), max(d), min(e), total(a) FROM {}",
                t(*n)
            ),
            Op::Lookup(n, col, v) => {
                params = vec![value(v)];
                format!("SELECT a FROM {} WHERE {} >= ?1 ORDER BY a LIMIT 50", t(*n), col.name())
            }
            Op::Begin(k) => ["BEGIN", "BEGIN IMMEDIATE", "BEGIN EXCLUSIVE"][usize::from(k % 3)].into(),
            Op::Commit => "COMMIT".into(),
            Op::Rollback => "ROLLBACK".into(),
            Op::Savepoint(n) => format!("SAVEPOINT s{}", n % 3),
            Op::Release(n) => format!("RELEASE s{}", n % 3),
            Op::RollbackTo(n) => format!("ROLLBACK TO s{}", n % 3),
            Op::Vacuum => "VACUUM".into(),
            Op::IncrementalVacuum(n) => {
                cmp = Compare::SuccessOnly;
                format!("PRAGMA incremental_vacuum({})", n % 8)
            }
            Op::CacheSize(n) => {
                cmp = Compare::SuccessOnly;
                format!("PRAGMA cache_size={}", i32::from(*n % 50).abs().max(1))
            }
            Op::Checkpoint(m) => {
                cmp = Compare::SuccessOnly;
                format!(
                    "PRAGMA wal_checkpoint({})",
                    ["PASSIVE", "FULL", "RESTART", "TRUNCATE"][usize::from(m % 4)]
                )
            }
            Op::Reopen => {
                // Closing rolls an open transaction back, on both.
                drop(plain);
                drop(vault);
                plain = Connection::open(&ppath).unwrap();
                vault = open_vault(&vpath);
                let again = format!("PRAGMA cache_size={cache};");
                for c in [&plain, &vault] {
                    c.execute_batch(&again).unwrap();
                }
                assert_eq!(mode_of(&plain), mode_of(&vault), "journal mode after reopen");
                continue;
            }
        };
        let p = run(&plain, &sql, &params);
        let v = run(&vault, &sql, &params);
        match cmp {
            Compare::Rows => assert_eq!(p, v, "step {step}: {sql}"),
            Compare::SuccessOnly => assert_eq!(
                p.as_ref().map(|_| ()),
                v.as_ref().map(|_| ()),
                "step {step}: {sql}"
            ),
        }
        assert_eq!(plain.is_autocommit(), vault.is_autocommit(), "step {step}: {sql}");
    }

    let _ = run(&plain, "COMMIT", &[]);
    let _ = run(&vault, "COMMIT", &[]);
    assert_eq!(canonical(&plain), canonical(&vault), "final content");
    assert_eq!(integrity(&plain), [vec![SqlValue::Text("ok".into())]]);
    assert_eq!(
        integrity(&vault),
        [vec![SqlValue::Text("ok".into())]],
        "sqlvault integrity"
    );
    let before = canonical(&vault);
    drop(plain);
    drop(vault);
    let vault = open_vault(&vpath);
    assert_eq!(canonical(&vault), before, "content after reopening sqlvault");
    assert_eq!(
        integrity(&vault),
        [vec![SqlValue::Text("ok".into())]],
        "sqlvault integrity after reopen"
    );
    // (An empty file: nothing was ever written.)
    if let Some(&reserve) = std::fs::read(&vpath).unwrap().get(20) {
        assert_eq!(reserve, 32, "sqlvault reserve byte");
    }
});
