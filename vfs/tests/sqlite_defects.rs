//! Issue 12's D1–D6, as a user of the loadable extension meets them: a connection opened
//! through the sqlvault VFS, keyed with `PRAGMA key`, driven with plain SQL.

// Helpers outside `#[test]` fns unwrap too: any failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use rusqlite::{Connection, OpenFlags};
use sqlvault_vfs::{Argon2Params, DatabaseKey, Key, Passphrase, VFS_NAME, register};

const HEX: &str = "4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b";

fn raw_pragma() -> String {
    format!("PRAGMA key = \"x'{HEX}'\"")
}

fn vopen(name: &str) -> Connection {
    register(VFS_NAME, None, false).unwrap();
    Connection::open_with_flags_and_vfs(name, OpenFlags::default() | OpenFlags::SQLITE_OPEN_URI, VFS_NAME)
        .unwrap()
}

fn vopen_keyed(name: &str, pragma: &str) -> Connection {
    let c = vopen(name);
    c.execute_batch(pragma).unwrap();
    c
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", path.display()))
}

fn is_sealed(path: &Path) -> bool {
    let b = std::fs::read(path).unwrap();
    b.len() >= 16 && &b[..16] != b"SQLite format 3\0"
}

// D1

#[test]
fn attach_of_a_new_file_works_with_inherited_and_uri_keys() {
    let dir = tempdir();
    let main = db_path(&dir, "main.db");
    let new1 = db_path(&dir, "new.db");
    let new2 = db_path(&dir, "new2.db");
    let c = vopen_keyed(&s(&main), &raw_pragma());
    c.execute_batch("CREATE TABLE m(v TEXT); INSERT INTO m VALUES ('main');")
        .unwrap();
    c.execute("ATTACH ?1 AS a", [s(&new1)]).unwrap();
    c.execute_batch("CREATE TABLE a.t(v TEXT); INSERT INTO a.t VALUES ('ATTACHED-INHERITED');")
        .unwrap();
    c.execute("ATTACH ?1 AS b", [format!("file:{}?key=pw", new2.display())])
        .unwrap();
    c.execute_batch("CREATE TABLE b.t(v TEXT); INSERT INTO b.t VALUES ('ATTACHED-URI');")
        .unwrap();
    drop(c);
    for p in [&main, &new1, &new2] {
        assert!(is_sealed(p), "{} is not sealed", p.display());
        assert!(
            !contains(&std::fs::read(p).unwrap(), b"ATTACHED-"),
            "{} holds plaintext",
            p.display()
        );
    }

    let c = vopen_keyed(&s(&main), &raw_pragma());
    c.execute("ATTACH ?1 AS a", [s(&new1)]).unwrap();
    c.execute("ATTACH ?1 AS b", [format!("file:{}?key=pw", new2.display())])
        .unwrap();
    let a: String = c.query_row("SELECT v FROM a.t", [], |r| r.get(0)).unwrap();
    let b: String = c.query_row("SELECT v FROM b.t", [], |r| r.get(0)).unwrap();
    assert_eq!((a.as_str(), b.as_str()), ("ATTACHED-INHERITED", "ATTACHED-URI"));
    for schema in ["main", "a", "b"] {
        let ok: String = c
            .query_row(&format!("PRAGMA {schema}.integrity_check"), [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok", "{schema}");
    }
    // And each on its own, with its own key.
    let c = vopen_keyed(&format!("file:{}?key=pw", new2.display()), "SELECT 1");
    let b: String = c.query_row("SELECT v FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(b, "ATTACHED-URI");
    let c = vopen_keyed(&s(&new1), &raw_pragma());
    let a: String = c.query_row("SELECT v FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(a, "ATTACHED-INHERITED");
}

// D2

#[test]
fn wal_commits_work_without_powersafe_overwrite() {
    let dir = tempdir();
    let path = db_path(&dir, "psow.db");
    let uri = format!("file:{}?psow=0", path.display());
    let c = vopen_keyed(&uri, &raw_pragma());
    c.execute_batch("PRAGMA synchronous=FULL;").unwrap();
    let mode: String = c.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    c.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, body BLOB);")
        .unwrap();
    let mut total = 0i64;
    for i in 0..120i64 {
        let tx = c.unchecked_transaction().unwrap();
        for r in 0..(i % 5 + 1) {
            let len = 1 + (i * 977 + r * 131) % 6000;
            total += len;
            tx.execute("INSERT INTO t(body) VALUES (randomblob(?1))", [len])
                .unwrap();
        }
        if i % 17 == 0 {
            tx.execute("UPDATE t SET body = body WHERE id % 3 = 0", [])
                .unwrap();
        }
        tx.commit().unwrap();
        if i == 60 {
            c.execute_batch("PRAGMA wal_checkpoint(PASSIVE);").unwrap();
        }
    }
    drop(c);
    let c = vopen_keyed(&uri, &raw_pragma());
    let got: i64 = c
        .query_row("SELECT sum(length(body)) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(got, total);
    assert_eq!(integrity(&c), "ok");
}

// D3

fn big_transaction_over_free_pages(mode: &str) {
    let dir = tempdir();
    let path = db_path(&dir, "free.db");
    let c = vopen_keyed(&s(&path), &raw_pragma());
    let m: String = c
        .query_row(&format!("PRAGMA journal_mode={mode}"), [], |r| r.get(0))
        .unwrap();
    assert_eq!(m, mode.to_lowercase());
    c.execute_batch(
        "PRAGMA secure_delete=OFF; PRAGMA cache_size=10;
         CREATE TABLE t(id INTEGER PRIMARY KEY, body BLOB);
         CREATE INDEX t_body ON t(substr(body, 1, 8));",
    )
    .unwrap();
    let tx = c.unchecked_transaction().unwrap();
    for i in 0..3000i64 {
        tx.execute("INSERT INTO t(body) VALUES (randomblob(?1))", [200 + i % 300])
            .unwrap();
    }
    tx.commit().unwrap();
    c.execute("DELETE FROM t WHERE id % 10 != 0", []).unwrap();
    let free: i64 = c.query_row("PRAGMA freelist_count", [], |r| r.get(0)).unwrap();
    assert!(free > 100, "precondition: a long freelist ({free})");
    let tx = c.unchecked_transaction().unwrap();
    for i in 0..8000i64 {
        tx.execute(
            "INSERT INTO t(body) VALUES (randomblob(?1))",
            [150 + (i * 7) % 700],
        )
        .unwrap();
    }
    tx.execute("UPDATE t SET body = randomblob(90) WHERE id % 13 = 0", [])
        .unwrap();
    tx.commit().unwrap();
    assert_eq!(integrity(&c), "ok", "{mode}: same connection");
    let n: i64 = c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
    drop(c);
    let c = vopen_keyed(&s(&path), &raw_pragma());
    assert_eq!(integrity(&c), "ok", "{mode}: reopened");
    let n2: i64 = c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(n, n2);
    assert_eq!(n, 300 + 8000);
}

#[test]
fn a_big_transaction_reusing_free_pages_works() {
    big_transaction_over_free_pages("DELETE");
}

#[test]
fn a_big_transaction_reusing_free_pages_works_in_wal_mode() {
    big_transaction_over_free_pages("WAL");
}

// D4

fn two_connections(mode: &str, pragma: &str) {
    let dir = tempdir();
    let path = db_path(&dir, "shared.db");
    let a = vopen(&s(&path));
    let b = vopen(&s(&path));
    a.execute_batch(pragma).unwrap();
    b.execute_batch(pragma).unwrap();
    let m: String = a
        .query_row(&format!("PRAGMA journal_mode={mode}"), [], |r| r.get(0))
        .unwrap();
    assert_eq!(m, mode.to_lowercase());
    a.execute_batch("CREATE TABLE t(who TEXT); INSERT INTO t VALUES ('A');")
        .unwrap();
    let seen: Vec<String> = b
        .prepare("SELECT who FROM t ORDER BY rowid")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .unwrap_or_else(|e| panic!("{mode}/{pragma}: B cannot read what A wrote: {e}"));
    assert_eq!(seen, ["A"]);
    b.execute_batch("INSERT INTO t VALUES ('B'); CREATE TABLE u(x); INSERT INTO u VALUES (1);")
        .unwrap_or_else(|e| panic!("{mode}/{pragma}: B cannot write: {e}"));
    let seen: Vec<String> = a
        .prepare("SELECT who FROM t ORDER BY rowid")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .unwrap_or_else(|e| panic!("{mode}/{pragma}: A cannot read what B wrote: {e}"));
    assert_eq!(seen, ["A", "B"]);
    drop((a, b));
    let c = vopen_keyed(&s(&path), pragma);
    assert_eq!(integrity(&c), "ok");
    let n: i64 = c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 2);
}

#[test]
fn two_connections_keying_the_same_empty_file_agree() {
    for mode in ["DELETE", "WAL"] {
        two_connections(mode, &raw_pragma());
    }
    two_connections("DELETE", "PRAGMA key = 'shared passphrase'");
}

// D5

#[test]
fn a_garbled_first_sector_after_a_crash_is_recovered_from_the_journal() {
    let dir = tempdir();
    let path = db_path(&dir, "g.db");
    let saved = db_path(&dir, "saved.db");
    let pass = || Key::Passphrase(Passphrase::from("garble"));
    let key = DatabaseKey::resolve(&path, &pass(), Argon2Params::INSECURE_FOR_TESTS).unwrap();
    let conn = sqlvault_vfs::open_connection(&path, &key, OpenFlags::default()).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL;
         CREATE TABLE t(id INTEGER PRIMARY KEY, body BLOB);",
    )
    .unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    for i in 0..200i64 {
        tx.execute("INSERT INTO t(body) VALUES (randomblob(?1))", [300 + i % 500])
            .unwrap();
    }
    tx.commit().unwrap();
    let committed: i64 = conn
        .query_row("SELECT sum(length(body)) FROM t", [], |r| r.get(0))
        .unwrap();
    let before = std::fs::read(&path).unwrap();
    // Page 1 changes in this transaction (a new table in the schema), and the cache spills.
    conn.execute_batch("PRAGMA cache_size=5; BEGIN; CREATE TABLE t_new(x);")
        .unwrap();
    for i in 0..400i64 {
        conn.execute("INSERT INTO t(body) VALUES (randomblob(?1))", [500 + i % 1500])
            .unwrap();
    }
    conn.execute("UPDATE t SET body = randomblob(10) WHERE id < 50", [])
        .unwrap();
    std::fs::copy(&path, &saved).unwrap();
    std::fs::copy(sidecar(&path, "-journal"), sidecar(&saved, "-journal")).unwrap();
    conn.execute_batch("ROLLBACK").unwrap();
    drop(conn);
    let mut db = std::fs::read(&saved).unwrap();
    assert_ne!(
        db, before,
        "precondition: the cache spilled before the crash copy"
    );
    std::fs::copy(sidecar(&saved, "-journal"), sidecar(&path, "-journal")).unwrap();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for b in &mut db[..512] {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    std::fs::write(&path, &db).unwrap();

    let c = vopen(&s(&path));
    c.execute_batch("PRAGMA key = 'garble'")
        .unwrap_or_else(|e| panic!("PRAGMA key on a database with a lost first sector: {e}"));
    let got: i64 = c
        .query_row("SELECT sum(length(body)) FROM t", [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("reading after recovery: {e}"));
    assert_eq!(got, committed);
    assert_eq!(integrity(&c), "ok");
    let new: i64 = c
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = 't_new'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(new, 0, "the rolled-back table survived");
    assert!(
        !sidecar(&path, "-journal").exists(),
        "the hot journal was not played back"
    );
}

/// SQLite's savepoint4 starts this way: a new database whose first transaction is far
/// larger than the cache spills later pages before page 1 exists. The VFS seals the zero
/// pages SQLite skips, but never a zero page 1 (that would not be a database header).
#[test]
fn a_new_database_that_spills_before_its_first_commit_works() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spill.db");
    let key = sqlvault_vfs::DatabaseKey::resolve(
        &path,
        &sqlvault_vfs::Key::Raw(sqlvault_vfs::MasterKey::from_bytes([1; 32])),
        sqlvault_vfs::Argon2Params::INSECURE_FOR_TESTS,
    )
    .unwrap();
    let c = sqlvault_vfs::open_connection(&path, &key, rusqlite::OpenFlags::default()).unwrap();
    c.execute_batch(
        "PRAGMA cache_size=10; BEGIN; CREATE TABLE t1(x TEXT);
         INSERT INTO t1 VALUES(hex(randomblob(200))); INSERT INTO t1 VALUES(hex(randomblob(200)));",
    )
    .unwrap();
    for i in 0..9 {
        if let Err(e) = c.execute_batch("INSERT INTO t1 SELECT hex(randomblob(200)) FROM t1") {
            panic!("doubling {i}: {}", sqlvault_vfs::classify_error(&c, e));
        }
    }
    c.execute_batch("COMMIT").unwrap();
    drop(c);
    let c = sqlvault_vfs::open_connection(&path, &key, rusqlite::OpenFlags::default()).unwrap();
    let n: i64 = c.query_row("SELECT count(*) FROM t1", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 1024);
    let ok: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok");
}

/// SQLite's crash3-3: the first transaction of a new database crashes after writing the
/// database file but before its page 1 reached the disk; the hot journal records an
/// original size of zero pages. Keying must not fail on the garbage where the salt would
/// be: rolling the journal back leaves an empty database, which gets a fresh salt.
#[test]
fn a_crash_in_the_first_transaction_of_a_new_database_leaves_it_usable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    std::fs::write(&path, vec![0u8; 8192]).unwrap();
    let mut journal = vec![0u8; 4096];
    journal[..8].copy_from_slice(&[0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7]);
    journal[12..16].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    journal[20..24].copy_from_slice(&4096u32.to_be_bytes());
    journal[24..28].copy_from_slice(&4096u32.to_be_bytes());
    std::fs::write(dir.path().join("new.db-journal"), &journal).unwrap();
    sqlvault_vfs::register(sqlvault_vfs::VFS_NAME, None, false).unwrap();
    let c = rusqlite::Connection::open_with_flags_and_vfs(
        &path,
        rusqlite::OpenFlags::default(),
        sqlvault_vfs::VFS_NAME,
    )
    .unwrap();
    c.execute_batch(&format!("PRAGMA key = \"x'{}'\";", "21".repeat(32)))
        .unwrap();
    let tables: i64 = c
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tables, 0);
    c.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES ('SECRET-NEW');")
        .unwrap();
    let ok: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok");
    drop(c);
    assert!(
        !std::fs::read(&path)
            .unwrap()
            .windows(10)
            .any(|w| w == b"SECRET-NEW")
    );
}

/// D6: over a parent VFS without shared-memory methods (SQLite's `unix-dotfile`, whose
/// io methods are version 1), a WAL request behaves as it does without sqlvault — SQLite
/// keeps the rollback journal — instead of failing with "disk I/O error" from an xShmMap
/// sqlvault advertised but could not serve.
#[test]
fn wal_over_a_vfs_without_shared_memory_behaves_as_without_sqlvault() {
    let dir = tempfile::tempdir().unwrap();
    let mode_of = |conn: &rusqlite::Connection| -> Result<String, rusqlite::Error> {
        conn.execute_batch("CREATE TABLE IF NOT EXISTS t(x); INSERT INTO t VALUES (1);")?;
        conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0))
    };
    let plain = rusqlite::Connection::open_with_flags_and_vfs(
        dir.path().join("plain.db"),
        rusqlite::OpenFlags::default(),
        "unix-dotfile",
    )
    .unwrap();
    let expected = mode_of(&plain).unwrap();
    sqlvault_vfs::register("sqlvault-over-dotfile", Some("unix-dotfile"), false).unwrap();
    let vault = rusqlite::Connection::open_with_flags_and_vfs(
        dir.path().join("vault.db"),
        rusqlite::OpenFlags::default(),
        "sqlvault-over-dotfile",
    )
    .unwrap();
    vault
        .execute_batch(&format!("PRAGMA key = \"x'{}'\";", "31".repeat(32)))
        .unwrap();
    assert_eq!(mode_of(&vault).unwrap(), expected);
    let n: i64 = vault
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
}

/// A new database attached with a page size of its own and filled with rows that need
/// overflow pages. The reserve was set only when the first write lock was taken, after
/// SQLite had derived its cell-size limits from the usable page size: cells then ran into
/// the trailer region and the database was silently corrupt ("invalid page number" in
/// `integrity_check`). SQLite's jrnlmode-5 and pager1.4.2 showed it.
#[test]
fn an_attached_new_database_with_its_own_page_size_holds_large_rows() {
    let dir = tempfile::tempdir().unwrap();
    sqlvault_vfs::register(sqlvault_vfs::VFS_NAME, None, false).unwrap();
    let c = rusqlite::Connection::open_with_flags_and_vfs(
        dir.path().join("main.db"),
        rusqlite::OpenFlags::default(),
        sqlvault_vfs::VFS_NAME,
    )
    .unwrap();
    c.execute_batch(&format!(
        "PRAGMA key = \"x'{}'\"; PRAGMA page_size = 1024;",
        "41".repeat(32)
    ))
    .unwrap();
    let aux = dir.path().join("aux.db");
    c.execute("ATTACH ?1 AS aux", [aux.to_str().unwrap()]).unwrap();
    c.execute_batch(
        "PRAGMA aux.page_size = 1024;
         CREATE TABLE aux.t(a, b, c);
         INSERT INTO aux.t VALUES (randomblob(1000), randomblob(1000), randomblob(1000));
         INSERT INTO aux.t SELECT randomblob(1000), randomblob(1000), randomblob(1000) FROM aux.t;
         INSERT INTO aux.t SELECT randomblob(1000), randomblob(1000), randomblob(1000) FROM aux.t;
         INSERT INTO aux.t SELECT randomblob(1000), randomblob(1000), randomblob(1000) FROM aux.t;
         INSERT INTO aux.t SELECT randomblob(1000), randomblob(1000), randomblob(1000) FROM aux.t;",
    )
    .unwrap();
    let ok: String = c
        .query_row("PRAGMA aux.integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let n: i64 = c
        .query_row("SELECT count(*) FROM aux.t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 16);
}

/// SQLite's pager1-12: a connection that keyed a database while it was empty (its pager
/// still at the default page size) reads it after another connection created it with a
/// smaller page size. Page 1 read in the wrong size must still teach SQLite the real one.
#[test]
fn a_connection_opened_on_an_empty_file_reads_a_smaller_page_size_created_later() {
    for page_size in [512, 1024] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        sqlvault_vfs::register(sqlvault_vfs::VFS_NAME, None, false).unwrap();
        let open = || {
            let c = rusqlite::Connection::open_with_flags_and_vfs(
                &path,
                rusqlite::OpenFlags::default(),
                sqlvault_vfs::VFS_NAME,
            )
            .unwrap();
            c.execute_batch(&format!("PRAGMA key = \"x'{}'\";", "51".repeat(32)))
                .unwrap();
            c
        };
        let early = open();
        let _: i64 = early
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .unwrap();
        let creator = open();
        creator
            .execute_batch(&format!(
                "PRAGMA page_size = {page_size}; CREATE VIEW v AS SELECT * FROM sqlite_master;"
            ))
            .unwrap();
        drop(creator);
        let n: i64 = early
            .query_row("SELECT count(*) FROM v", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1, "page size {page_size}");
        let seen: i64 = early.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
        assert_eq!(seen, page_size);
    }
}

/// SQLite's backup-2.9: the backup API copies a database into one of another page size.
/// The destination's pager writes the source's pages in its own page size, so one
/// source page arrives as several writes (or one write holds several); the result must
/// be the source database, sealed in the source's page size, whole after a reopen.
#[test]
fn a_backup_into_a_database_of_another_page_size_works() {
    for (from, to) in [(1024, 512), (512, 1024), (4096, 1024), (1024, 4096), (512, 65536)] {
        let dir = tempfile::tempdir().unwrap();
        let src_path = dir.path().join("src.db");
        let dst_path = dir.path().join("dst.db");
        let src = vopen_keyed(&s(&src_path), &raw_pragma());
        src.execute_batch(&format!(
            "PRAGMA page_size = {from};
             CREATE TABLE t(a INTEGER PRIMARY KEY, b BLOB, c TEXT);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
             INSERT INTO t SELECT i, randomblob(i * 7 % 1500), 'row-' || i FROM n;
             CREATE INDEX tc ON t(c);"
        ))
        .unwrap();
        let mut dst = vopen_keyed(&s(&dst_path), &raw_pragma());
        dst.execute_batch(&format!(
            "PRAGMA page_size = {to};
             CREATE TABLE old(x);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100)
             INSERT INTO old SELECT randomblob(300) FROM n;"
        ))
        .unwrap();
        let want: String = src
            .query_row("SELECT group_concat(a || hex(b) || c) FROM t", [], |r| r.get(0))
            .unwrap();
        {
            let backup = rusqlite::backup::Backup::new(&src, &mut dst).unwrap();
            backup
                .run_to_completion(5, std::time::Duration::ZERO, None)
                .unwrap_or_else(|e| panic!("backup {from} -> {to}: {e}"));
        }
        drop((src, dst));
        assert!(is_sealed(&dst_path));
        assert!(!contains(&std::fs::read(&dst_path).unwrap(), b"row-1"));
        let dst = vopen_keyed(&s(&dst_path), &raw_pragma());
        let ok: String = dst.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok", "{from} -> {to}");
        let got: String = dst
            .query_row("SELECT group_concat(a || hex(b) || c) FROM t", [], |r| r.get(0))
            .unwrap();
        assert!(got == want, "{from} -> {to}: contents differ");
        let size: i64 = dst.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
        assert_eq!(size, from);
        dst.execute_batch("INSERT INTO t(b, c) VALUES (randomblob(5000), 'after')")
            .unwrap();
    }
}

/// A plaintext source uses every byte of its pages, so its pages cannot be sealed in
/// place: the backup must fail and leave the keyed destination as it was.
#[test]
fn a_backup_from_a_plaintext_database_into_a_keyed_one_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let src_path = dir.path().join("plain.db");
    let dst_path = dir.path().join("dst.db");
    let src = rusqlite::Connection::open(&src_path).unwrap();
    src.execute_batch(
        "CREATE TABLE t(a INTEGER PRIMARY KEY, b BLOB, c TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
         INSERT INTO t SELECT i, randomblob(i * 7 % 1500), 'row-' || i FROM n;",
    )
    .unwrap();
    let mut dst = vopen_keyed(&s(&dst_path), &raw_pragma());
    dst.execute_batch("CREATE TABLE old(x); INSERT INTO old VALUES ('kept');")
        .unwrap();
    let copied = rusqlite::backup::Backup::new(&src, &mut dst)
        .unwrap()
        .run_to_completion(5, std::time::Duration::ZERO, None);
    assert!(
        copied.is_err(),
        "a plaintext backup into a keyed database succeeded"
    );
    drop(dst);
    assert!(!contains(&std::fs::read(&dst_path).unwrap(), b"row-1"));
    let dst = vopen_keyed(&s(&dst_path), &raw_pragma());
    let ok: String = dst.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok");
    let kept: String = dst.query_row("SELECT x FROM old", [], |r| r.get(0)).unwrap();
    assert_eq!(kept, "kept");
}

/// The same page size change with a destination cache far smaller than the database:
/// the pager spills pieces of the new layout before page 1 announces it.
#[test]
fn a_backup_into_another_page_size_that_spills_works() {
    for (from, to, cache) in [(4096, 512, 10), (1024, 4096, 5)] {
        let dir = tempfile::tempdir().unwrap();
        let src_path = dir.path().join("src.db");
        let dst_path = dir.path().join("dst.db");
        let src = vopen_keyed(&s(&src_path), &raw_pragma());
        src.execute_batch(&format!(
            "PRAGMA page_size = {from};
             CREATE TABLE t(a INTEGER PRIMARY KEY, b BLOB);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
             INSERT INTO t SELECT i, randomblob(i % 900) FROM n;"
        ))
        .unwrap();
        let mut dst = vopen_keyed(&s(&dst_path), &raw_pragma());
        dst.execute_batch(&format!(
            "PRAGMA page_size = {to}; PRAGMA cache_size = {cache};
             CREATE TABLE old(x); INSERT INTO old VALUES (randomblob(100000));"
        ))
        .unwrap();
        let want: String = src
            .query_row("SELECT group_concat(hex(b)) FROM t", [], |r| r.get(0))
            .unwrap();
        rusqlite::backup::Backup::new(&src, &mut dst)
            .unwrap()
            .run_to_completion(1_000_000, std::time::Duration::ZERO, None)
            .unwrap_or_else(|e| panic!("backup {from} -> {to}: {e}"));
        drop((src, dst));
        let dst = vopen_keyed(&s(&dst_path), &raw_pragma());
        let ok: String = dst.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok", "{from} -> {to}");
        let got: String = dst
            .query_row("SELECT group_concat(hex(b)) FROM t", [], |r| r.get(0))
            .unwrap();
        assert!(got == want, "{from} -> {to}: contents differ");
    }
}

/// `PRAGMA page_size` then `VACUUM` changes the page size of an existing database (SQLite
/// copies the rebuilt database back through the backup code).
#[test]
fn vacuum_changes_the_page_size_of_a_keyed_database() {
    for (from, to) in [(4096, 1024), (1024, 8192), (512, 65536)] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.db");
        let c = vopen_keyed(&s(&path), &raw_pragma());
        c.execute_batch(&format!(
            "PRAGMA page_size = {from}; PRAGMA cache_size = 8;
             CREATE TABLE t(a INTEGER PRIMARY KEY, b BLOB, c TEXT);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
             INSERT INTO t SELECT i, randomblob(i % 700), 'row-' || i FROM n;
             DELETE FROM t WHERE a % 3 = 0;"
        ))
        .unwrap();
        let want: String = c
            .query_row("SELECT group_concat(a || hex(b) || c) FROM t", [], |r| r.get(0))
            .unwrap();
        c.execute_batch(&format!("PRAGMA page_size = {to}; VACUUM;"))
            .unwrap_or_else(|e| panic!("VACUUM {from} -> {to}: {e}"));
        let size: i64 = c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
        assert_eq!(size, to, "{from} -> {to}");
        drop(c);
        assert!(!contains(&std::fs::read(&path).unwrap(), b"row-1"));
        let c = vopen_keyed(&s(&path), &raw_pragma());
        let ok: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok", "{from} -> {to}");
        let got: String = c
            .query_row("SELECT group_concat(a || hex(b) || c) FROM t", [], |r| r.get(0))
            .unwrap();
        assert!(got == want, "{from} -> {to}: contents differ");
        let size: i64 = c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
        assert_eq!(size, to);
    }
}

/// SQLite's walshared, shared, shared2: connections in shared-cache mode share one pager
/// and one file, so the connection that last announced itself for the file is not always
/// the one calling. Setting the reserve through it waited for the b-tree mutex the caller
/// held: a hang. Now an existing database works in shared-cache mode, and a new one fails
/// at its first write with an error (its reserve cannot be set from there) — never a hang.
#[test]
fn shared_cache_connections_never_hang() {
    let dir = tempfile::tempdir().unwrap();
    let existing = dir.path().join("existing.db");
    let fresh = dir.path().join("fresh.db");
    {
        let c = vopen_keyed(&s(&existing), &raw_pragma());
        c.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES ('before');")
            .unwrap();
    }
    let (done, result) = std::sync::mpsc::channel();
    let (existing2, fresh2) = (existing.clone(), fresh.clone());
    std::thread::spawn(move || {
        register(VFS_NAME, None, false).unwrap();
        let shared = |p: &Path| {
            let c = Connection::open_with_flags_and_vfs(
                p,
                OpenFlags::default() | OpenFlags::SQLITE_OPEN_SHARED_CACHE,
                VFS_NAME,
            )
            .unwrap();
            c.execute_batch(&raw_pragma()).unwrap();
            c
        };
        let (a, b) = (shared(&existing2), shared(&existing2));
        a.execute_batch("PRAGMA journal_mode = WAL; INSERT INTO t VALUES ('from a');")
            .unwrap();
        let n: i64 = b.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        drop((a, b));
        let (c, d) = (shared(&fresh2), shared(&fresh2));
        let created = c.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES ('new');");
        drop((c, d));
        let _ = done.send((n, created.is_ok()));
    });
    let (n, created) = result
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("shared-cache connections hung");
    assert_eq!(n, 2);
    if created {
        assert!(is_sealed(&fresh));
    }
    assert!(!contains(&std::fs::read(&fresh).unwrap_or_default(), b"new"));
}

/// SQLite's walcksum-2.1: a spilling WAL transaction that rolls back to a savepoint and then
/// commits must be seen by a connection that recovers the log. SQLite rewrites the frame
/// checksums at the commit with header-only writes; the last one waited in memory for a
/// page that never comes, so the commit frame's header was not in the file.
#[test]
fn a_savepoint_rollback_inside_a_wal_transaction_survives_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.db");
    let copy = dir.path().join("copy.db");
    let c = vopen_keyed(&s(&path), &raw_pragma());
    c.execute_batch(
        "PRAGMA synchronous = NORMAL; PRAGMA page_size = 1024; PRAGMA journal_mode = WAL;
         PRAGMA cache_size = 10; CREATE TABLE t1(x PRIMARY KEY); PRAGMA wal_checkpoint;
         INSERT INTO t1 VALUES (randomblob(800));
         BEGIN;
         INSERT INTO t1 SELECT randomblob(800) FROM t1; INSERT INTO t1 SELECT randomblob(800) FROM t1;
         INSERT INTO t1 SELECT randomblob(800) FROM t1; INSERT INTO t1 SELECT randomblob(800) FROM t1;
         SAVEPOINT one;
         INSERT INTO t1 SELECT randomblob(800) FROM t1; INSERT INTO t1 SELECT randomblob(800) FROM t1;
         INSERT INTO t1 SELECT randomblob(800) FROM t1; INSERT INTO t1 SELECT randomblob(800) FROM t1;
         ROLLBACK TO one;
         INSERT INTO t1 SELECT randomblob(800) FROM t1; INSERT INTO t1 SELECT randomblob(800) FROM t1;
         INSERT INTO t1 SELECT randomblob(800) FROM t1; INSERT INTO t1 SELECT randomblob(800) FROM t1;
         COMMIT;",
    )
    .unwrap();
    for suffix in ["", "-wal"] {
        std::fs::copy(sidecar(&path, suffix), sidecar(&copy, suffix)).unwrap();
    }
    let c2 = vopen_keyed(&s(&copy), &raw_pragma());
    let ok: String = c2.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    let n: i64 = c2.query_row("SELECT count(*) FROM t1", [], |r| r.get(0)).unwrap();
    assert_eq!((ok.as_str(), n), ("ok", 256));
}
