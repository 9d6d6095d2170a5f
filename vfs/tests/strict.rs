//! Strict mode (issue 13): no plaintext database is ever written through a strict VFS.

// Helpers outside `#[test]` fns unwrap too: any failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use rusqlite::{Connection, OpenFlags};
use sqlvault_vfs::{Error, classify_error, register_strict};

const STRICT: &str = "sqlvault-strict-test";

fn strict_conn(path: &std::path::Path) -> Connection {
    register_strict(STRICT, None, false).unwrap();
    Connection::open_with_flags_and_vfs(path, OpenFlags::default(), STRICT).unwrap()
}

#[test]
fn an_unkeyed_database_is_refused_at_its_first_read_or_write() {
    let dir = tempdir();
    let path = db_path(&dir, "plain.db");
    let conn = strict_conn(&path);
    let err = conn
        .execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES ('SECRET');")
        .unwrap_err();
    assert!(matches!(classify_error(&conn, err), Error::StrictNoKey));
    assert!(
        Error::StrictNoKey
            .to_string()
            .contains("sqlvault strict mode: this database has no key")
    );
    drop(conn);
    // SQLite may have created the file; nothing was written into it.
    assert_eq!(std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0), 0);
}

#[test]
fn the_backup_idiom_into_an_unkeyed_destination_fails_and_writes_nothing() {
    let dir = tempdir();
    let src_path = db_path(&dir, "vault.db");
    let src = open(&src_path, &raw_key(5));
    src.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES ('SECRET-ROW');")
        .unwrap();
    let dst_path = db_path(&dir, "backup.db");
    let mut dst = strict_conn(&dst_path);
    let result = rusqlite::backup::Backup::new(&src, &mut dst)
        .and_then(|b| b.run_to_completion(100, std::time::Duration::ZERO, None));
    assert!(
        result.is_err(),
        "the backup into an unkeyed destination must fail"
    );
    drop(dst);
    let bytes = std::fs::read(&dst_path).unwrap_or_default();
    assert!(!contains(&bytes, b"SQLite format 3"));
    assert!(!contains(&bytes, b"SECRET-ROW"));
}

#[test]
fn a_keyed_destination_gets_an_encrypted_copy_under_its_own_key() {
    let dir = tempdir();
    let src_path = db_path(&dir, "vault.db");
    let src = open(&src_path, &raw_key(5));
    src.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES ('SECRET-ROW');")
        .unwrap();
    let dst_path = db_path(&dir, "backup.db");
    let mut dst = strict_conn(&dst_path);
    dst.execute_batch(&format!("PRAGMA key = \"x'{}'\";", "07".repeat(32)))
        .unwrap();
    rusqlite::backup::Backup::new(&src, &mut dst)
        .unwrap()
        .run_to_completion(100, std::time::Duration::ZERO, None)
        .unwrap();
    drop(dst);
    let bytes = std::fs::read(&dst_path).unwrap();
    assert!(!contains(&bytes, b"SQLite format 3") && !contains(&bytes, b"SECRET-ROW"));
    let copy = open(&dst_path, &raw_key(7));
    let x: String = copy.query_row("SELECT x FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(x, "SECRET-ROW");
}

#[test]
fn vacuum_into_and_attach_still_inherit_the_key_and_temp_files_work() {
    let dir = tempdir();
    let path = db_path(&dir, "main.db");
    let conn = strict_conn(&path);
    conn.execute_batch(&format!("PRAGMA key = \"x'{}'\";", "09".repeat(32)))
        .unwrap();
    conn.execute_batch(
        "CREATE TABLE t(x); INSERT INTO t VALUES ('SECRET-A');
         CREATE TEMP TABLE scratch(y); INSERT INTO scratch SELECT x FROM t;",
    )
    .unwrap();
    let copy = db_path(&dir, "copy.db");
    conn.execute("VACUUM INTO ?1", [copy.to_str().unwrap()]).unwrap();
    conn.execute("ATTACH ?1 AS aux", [db_path(&dir, "aux.db").to_str().unwrap()])
        .unwrap();
    conn.execute_batch("CREATE TABLE aux.u(z); INSERT INTO aux.u VALUES ('SECRET-B');")
        .unwrap();
    drop(conn);
    assert!(files_containing(dir.path(), b"SECRET-").is_empty());
    let reopened = open(&copy, &raw_key(9));
    let x: String = reopened.query_row("SELECT x FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(x, "SECRET-A");
}
