//! A `file:` URI's `vfs=` parameter overrides the VFS a caller names. It must not be able
//! to take a database away from sqlvault and have it written in the clear.

// Helpers outside `#[test]` fns unwrap too: any failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod common;

use rusqlite::{Connection, OpenFlags};
use sqlvault_vfs::{Error, attach, open_connection};

use common::*;

fn uri(path: &std::path::Path, query: &str) -> std::path::PathBuf {
    format!("file:{}?{query}", path.display()).into()
}

/// Nothing SQLite would recognise as a plaintext database reached the disk.
fn assert_no_plaintext_db(path: &std::path::Path) {
    let bytes = std::fs::read(path).unwrap_or_default();
    assert!(
        !bytes.starts_with(b"SQLite format 3"),
        "plaintext database at {}",
        path.display()
    );
    assert!(
        bytes.is_empty(),
        "{} bytes written to {}",
        bytes.len(),
        path.display()
    );
}

#[test]
fn vfs_uri_parameter_cannot_switch_encryption_off() {
    let dir = tempdir();
    for (query, vfs) in [
        ("vfs=unix", "unix"),
        ("vfs=unix-none", "unix-none"),
        // SQLite decodes %-escapes in parameter names as well as values.
        ("v%66s=unix", "unix"),
        ("mode=rwc&vfs=unix-dotfile", "unix-dotfile"),
    ] {
        let path = db_path(&dir, &format!("new-{}.db", vfs));
        let _ = std::fs::remove_file(&path);
        let target = uri(&path, query);
        let key = resolve(&target, &raw_key(1));
        let err = open_connection(&target, &key, OpenFlags::default())
            .err()
            .unwrap_or_else(|| panic!("{query}: opened a database outside sqlvault"));
        assert!(
            matches!(&err, Error::ForeignVfs { vfs: v } if v == vfs),
            "{query}: {err:?}"
        );
        assert!(err.to_string().contains("vfs="), "{err}");
        assert_no_plaintext_db(&path);
    }
}

#[test]
fn vfs_uri_parameter_on_an_existing_database_is_refused_before_any_io() {
    let dir = tempdir();
    let path = db_path(&dir, "existing.db");
    open(&path, &raw_key(2))
        .execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES ('kept');")
        .unwrap();
    let before = std::fs::read(&path).unwrap();
    let key = resolve(&path, &raw_key(2));
    for flags in [
        OpenFlags::default(),
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI,
    ] {
        let err = open_connection(&uri(&path, "vfs=unix"), &key, flags).unwrap_err();
        assert!(
            matches!(&err, Error::ForeignVfs { vfs } if vfs == "unix"),
            "{err:?}"
        );
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
    // Naming sqlvault itself in the URI is fine.
    let conn = open_connection(&uri(&path, "vfs=sqlvault"), &key, OpenFlags::default()).unwrap();
    let x: String = conn.query_row("SELECT x FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(x, "kept");
}

#[test]
fn attach_with_a_foreign_vfs_is_refused_and_detached() {
    let dir = tempdir();
    let main = db_path(&dir, "main.db");
    let conn = open(&main, &raw_key(3));
    let other = db_path(&dir, "other.db");
    let target = uri(&other, "vfs=unix");
    let key = resolve(&target, &raw_key(3));
    let err = attach(&conn, &target, "aux1", &key).unwrap_err();
    assert!(
        matches!(&err, Error::ForeignVfs { vfs } if vfs == "unix"),
        "{err:?}"
    );
    let schemas: Vec<String> = conn
        .prepare("SELECT name FROM pragma_database_list")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(schemas, ["main"]);
    assert_no_plaintext_db(&other);
}

#[test]
fn in_memory_databases_are_refused_not_left_unencrypted() {
    let dir = tempdir();
    for name in [":memory:", "file:mem?mode=memory"] {
        let key = resolve(&db_path(&dir, "unused.db"), &raw_key(4));
        let err = open_connection(std::path::Path::new(name), &key, OpenFlags::default()).unwrap_err();
        assert!(matches!(err, Error::NotAFile), "{name}: {err:?}");
    }
    // The check does not get in the way of plain rusqlite use in the same process.
    let plain = Connection::open_in_memory().unwrap();
    plain.execute_batch("CREATE TABLE t(x)").unwrap();
}
