//! SQL-level behaviour through the VFS matches plain SQLite.

// Helpers outside `#[test]` fns unwrap too: any failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use rusqlite::{Connection, OpenFlags};
use sqlvault_vfs::{Error, attach, open_connection};

fn plain_reference(rows: usize) -> Vec<String> {
    let conn = Connection::open_in_memory().unwrap();
    workload(&conn, rows);
    dump(&conn)
}

#[test]
fn realistic_schema_matches_plain_sqlite_in_every_journal_mode() {
    let expected = plain_reference(60);
    for mode in ["DELETE", "TRUNCATE", "PERSIST", "MEMORY", "WAL"] {
        for page_size in [512, 4096, 65536] {
            let dir = tempdir();
            let path = db_path(&dir, "app.db");
            let key = raw_key(7);
            {
                let conn = open(&path, &key);
                conn.execute_batch(&format!(
                    "PRAGMA page_size={page_size}; PRAGMA journal_mode={mode};"
                ))
                .unwrap();
                workload(&conn, 60);
                assert_eq!(dump(&conn), expected, "{mode} {page_size} (same connection)");
            }
            let conn = open(&path, &key);
            assert_eq!(integrity(&conn), "ok", "{mode} {page_size}");
            assert_eq!(dump(&conn), expected, "{mode} {page_size} (reopened)");
            let ps: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
            assert_eq!(ps, page_size);
            let files = files_containing(dir.path(), b"SECRET");
            assert!(files.is_empty(), "{mode} {page_size}: plaintext in {files:?}");
        }
    }
}

#[test]
fn rollback_restores_pages_in_rollback_journal_modes() {
    for mode in ["DELETE", "TRUNCATE", "PERSIST"] {
        let dir = tempdir();
        let path = db_path(&dir, "r.db");
        let conn = open(&path, &raw_key(1));
        conn.execute_batch(&format!("PRAGMA journal_mode={mode}; PRAGMA cache_size=5;"))
            .unwrap();
        workload(&conn, 40);
        let before = dump(&conn);
        conn.execute_batch("BEGIN; UPDATE posts SET body = 'changed' || body, attachment = randomblob(5000); DELETE FROM tags; DELETE FROM audit;")
            .unwrap();
        conn.execute_batch("ROLLBACK").unwrap();
        assert_eq!(dump(&conn), before, "{mode}");
        assert_eq!(integrity(&conn), "ok");
    }
}

#[test]
fn vacuum_vacuum_into_and_incremental_vacuum() {
    let dir = tempdir();
    let path = db_path(&dir, "v.db");
    let key = raw_key(3);
    let conn = open(&path, &key);
    conn.execute_batch("PRAGMA auto_vacuum=INCREMENTAL;").unwrap();
    workload(&conn, 50);
    let expected = dump(&conn);
    conn.execute_batch("DELETE FROM posts WHERE id % 2 = 0; PRAGMA incremental_vacuum(10);")
        .unwrap();
    assert_eq!(integrity(&conn), "ok");
    conn.execute_batch("VACUUM").unwrap();
    assert_eq!(integrity(&conn), "ok");
    let after_delete = dump(&conn);
    assert_ne!(after_delete, expected);

    // VACUUM INTO a new file through the same VFS and key material.
    let into = db_path(&dir, "copy.db");
    conn.execute("VACUUM INTO ?1", [into.to_str().unwrap()]).unwrap();
    drop(conn);
    assert!(files_containing(dir.path(), b"SECRET").is_empty());
    let copy = open_connection(&into, &resolve(&into, &key), OpenFlags::default()).unwrap();
    assert_eq!(integrity(&copy), "ok");
    assert_eq!(dump(&copy), after_delete);
}

#[test]
fn backup_api_to_and_from_sqlvault() {
    let dir = tempdir();
    let plain_path = db_path(&dir, "plain.db");
    let plain = Connection::open(&plain_path).unwrap();
    workload(&plain, 30);
    let expected = dump(&plain);

    // Plaintext -> sqlvault: the destination keeps its own reserve and key.
    let vault_path = db_path(&dir, "vault.db");
    let mut vault = open(&vault_path, &raw_key(5));
    plain.execute_batch("PRAGMA reserve_bytes").ok();
    {
        // A plaintext source without reserved bytes cannot be copied page for page into
        // a database that needs 32 of them; SQLite reports it and nothing is written.
        let backup = rusqlite::backup::Backup::new(&plain, &mut vault).unwrap();
        let r = backup.run_to_completion(100, std::time::Duration::ZERO, None);
        assert!(
            r.is_err(),
            "page-for-page copy from a reserve-0 database must fail"
        );
    }
    drop(vault);
    let _ = std::fs::remove_file(&vault_path);

    // A plaintext source created with 32 reserved bytes copies over.
    let src2_path = db_path(&dir, "plain32.db");
    let src2 = Connection::open(&src2_path).unwrap();
    let mut n: std::ffi::c_int = 32;
    // SAFETY: RESERVE_BYTES reads and writes one c_int on a live connection.
    unsafe {
        libsqlite3_sys::sqlite3_file_control(
            src2.handle(),
            c"main".as_ptr(),
            libsqlite3_sys::SQLITE_FCNTL_RESERVE_BYTES,
            (&raw mut n).cast(),
        );
    }
    workload(&src2, 30);
    let mut vault = open(&vault_path, &raw_key(5));
    rusqlite::backup::Backup::new(&src2, &mut vault)
        .unwrap()
        .run_to_completion(100, std::time::Duration::ZERO, None)
        .unwrap();
    assert_eq!(dump(&vault), expected);
    assert_eq!(integrity(&vault), "ok");

    // sqlvault -> plaintext.
    let mut out = Connection::open_in_memory().unwrap();
    rusqlite::backup::Backup::new(&vault, &mut out)
        .unwrap()
        .run_to_completion(100, std::time::Duration::ZERO, None)
        .unwrap();
    assert_eq!(dump(&out), expected);
    drop(vault);
    assert!(!contains(&std::fs::read(&vault_path).unwrap(), b"SECRET"));
}

#[test]
fn attach_a_second_sqlvault_database() {
    let dir = tempdir();
    let a = db_path(&dir, "a.db");
    let b = db_path(&dir, "b.db");
    let conn = open(&a, &raw_key(1));
    conn.execute_batch("CREATE TABLE t(x TEXT); INSERT INTO t VALUES ('SECRET-A');")
        .unwrap();
    let kb = resolve(&b, &raw_key(2));
    attach(&conn, &b, "other", &kb).unwrap();
    conn.execute_batch(
        "CREATE TABLE other.t(x TEXT); INSERT INTO other.t SELECT 'SECRET-B' || x FROM main.t;",
    )
    .unwrap();
    // A transaction across both databases (a super-journal in rollback mode).
    conn.execute_batch(
        "BEGIN; INSERT INTO main.t VALUES ('SECRET-A2'); INSERT INTO other.t VALUES ('SECRET-B2'); COMMIT;",
    )
    .unwrap();
    drop(conn);
    let only_b = open(&b, &raw_key(2));
    let n: i64 = only_b
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 2);
    assert!(files_containing(dir.path(), b"SECRET").is_empty());
    let wrong = resolve(&b, &raw_key(9));
    let conn = open(&a, &raw_key(1));
    assert!(matches!(attach(&conn, &b, "other", &wrong), Err(Error::WrongKey)));
}

#[test]
fn pragma_key_on_a_connection_opened_through_the_vfs() {
    let dir = tempdir();
    let path = db_path(&dir, "p.db");
    sqlvault_vfs::register("sqlvault", None, false).unwrap();
    let open_raw = || Connection::open_with_flags_and_vfs(&path, OpenFlags::default(), "sqlvault").unwrap();
    let hex = "ab".repeat(32);
    {
        let conn = open_raw();
        let ok: String = conn
            .query_row(&format!("PRAGMA key = \"x'{hex}'\""), [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
        conn.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES ('SECRET-PRAGMA');")
            .unwrap();
    }
    assert!(files_containing(dir.path(), b"SECRET").is_empty());
    let conn = open_raw();
    conn.query_row(&format!("PRAGMA hexkey = '{hex}'"), [], |_| Ok(()))
        .unwrap();
    let v: String = conn.query_row("SELECT x FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(v, "SECRET-PRAGMA");
    drop(conn);
    // A passphrase for a raw-key database is refused by the PRAGMA itself.
    let conn = open_raw();
    let err = conn.execute_batch("PRAGMA key = 'not the key'").unwrap_err();
    assert!(err.to_string().contains("raw key"), "{err}");
    drop(conn);
    // Another raw key is a wrong key, named at the first read.
    let conn = open_raw();
    conn.execute_batch(&format!("PRAGMA hexkey = '{}'", "cd".repeat(32)))
        .unwrap();
    let err = conn
        .query_row("SELECT x FROM t", [], |r| r.get::<_, String>(0))
        .unwrap_err();
    assert!(matches!(
        sqlvault_vfs::classify_error(&conn, err),
        Error::WrongKey
    ));
}

#[test]
fn memory_mapping_is_refused() {
    let dir = tempdir();
    let path = db_path(&dir, "m.db");
    let conn = open(&path, &raw_key(4));
    conn.execute_batch("PRAGMA mmap_size = 268435456;").unwrap();
    workload(&conn, 20);
    let mmap: i64 = conn.query_row("PRAGMA mmap_size", [], |r| r.get(0)).unwrap();
    assert_eq!(mmap, 0);
    assert_eq!(integrity(&conn), "ok");
}

#[test]
fn databases_beyond_the_lock_byte_page() {
    let dir = tempdir();
    let path = db_path(&dir, "big.db");
    let conn = open(&path, &raw_key(6));
    conn.execute_batch(
        "PRAGMA page_size=65536; PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;
         CREATE TABLE big(id INTEGER PRIMARY KEY, b BLOB);
         INSERT INTO big(b) VALUES (zeroblob(600*1024*1024));
         INSERT INTO big(b) VALUES (zeroblob(600*1024*1024));
         INSERT INTO big(b) VALUES ('SECRET-AFTER-1GiB');",
    )
    .unwrap();
    drop(conn);
    assert!(std::fs::metadata(&path).unwrap().len() > 1 << 30);
    let conn = open(&path, &raw_key(6));
    let v: String = conn
        .query_row("SELECT b FROM big WHERE id = 3", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, "SECRET-AFTER-1GiB");
    let n: i64 = conn
        .query_row("SELECT length(b) FROM big WHERE id = 2", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 600 * 1024 * 1024);
    assert_eq!(
        conn.query_row("PRAGMA quick_check", [], |r| r.get::<_, String>(0))
            .unwrap(),
        "ok"
    );
}

/// `PRAGMA rekey` cannot re-encrypt in place (a crash would leave pages under two keys):
/// it fails, says which two ways do it, and changes nothing.
#[test]
fn pragma_rekey_is_refused_with_the_two_ways_that_work() {
    let dir = tempdir();
    let path = db_path(&dir, "r.db");
    let key = raw_key(3);
    let conn = open(&path, &key);
    conn.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
        .unwrap();
    let before = std::fs::read(&path).unwrap();
    for pragma in ["PRAGMA rekey = 'new'", "PRAGMA hexrekey = '00'"] {
        let err = conn.execute_batch(pragma).unwrap_err().to_string();
        assert!(
            err.contains("sqlvault rekey") && err.contains("Database::rekey"),
            "{pragma}: {err}"
        );
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let x: i64 = conn.query_row("SELECT x FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(x, 1);
}
