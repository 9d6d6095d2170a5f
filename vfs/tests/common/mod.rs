//! Helpers shared by the VFS integration tests.
#![allow(dead_code)]
// Helpers outside `#[test]` fns unwrap too: any failure there is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use sqlvault_vfs::{Argon2Params, DatabaseKey, Key, MasterKey, open_connection};

pub fn raw_key(byte: u8) -> Key {
    Key::Raw(MasterKey::from_bytes([byte; 32]))
}

pub fn resolve(path: &Path, key: &Key) -> DatabaseKey {
    DatabaseKey::resolve(path, key, Argon2Params::INSECURE_FOR_TESTS).unwrap()
}

pub fn open(path: &Path, key: &Key) -> Connection {
    open_connection(path, &resolve(path, key), OpenFlags::default()).unwrap()
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

pub fn db_path(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

/// A realistic schema: several tables, indexes, a trigger, a view, a WITHOUT ROWID
/// table and blobs that span overflow pages. Marker strings make plaintext leaks visible.
pub const SCHEMA: &str = "
CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE, created INTEGER);
CREATE TABLE posts(id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id), title TEXT, body TEXT, attachment BLOB);
CREATE INDEX posts_by_user ON posts(user_id, title);
CREATE TABLE tags(post_id INTEGER, tag TEXT, PRIMARY KEY(post_id, tag)) WITHOUT ROWID;
CREATE TABLE audit(id INTEGER PRIMARY KEY, what TEXT, at INTEGER);
CREATE TRIGGER posts_audit AFTER INSERT ON posts BEGIN
  INSERT INTO audit(what, at) VALUES ('post ' || NEW.id || ' by ' || NEW.user_id, NEW.id * 7);
END;
CREATE VIEW user_post_counts AS
  SELECT u.name AS name, count(p.id) AS posts, sum(length(p.attachment)) AS bytes
  FROM users u LEFT JOIN posts p ON p.user_id = u.id GROUP BY u.id;
";

/// Deterministic data and changes: inserts, updates, deletes, overflow blobs.
pub fn workload(conn: &Connection, rows: usize) {
    conn.execute_batch(SCHEMA).unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    for i in 0..rows {
        tx.execute(
            "INSERT INTO users(name, email, created) VALUES (?1, ?2, ?3)",
            (
                format!("SECRETNAME-{i}"),
                format!("user{i}@SECRETMAIL.example"),
                i as i64 * 1000,
            ),
        )
        .unwrap();
    }
    for i in 0..rows * 2 {
        let blob: Vec<u8> = (0..(i % 7) * 3000).map(|j| b"SECRETBLOB"[j % 10]).collect();
        tx.execute(
            "INSERT INTO posts(user_id, title, body, attachment) VALUES (?1, ?2, ?3, ?4)",
            (
                (i % rows) as i64 + 1,
                format!("SECRETTITLE {i}"),
                "SECRETBODY ".repeat(i % 50 + 1),
                blob,
            ),
        )
        .unwrap();
        tx.execute(
            "INSERT INTO tags VALUES (?1, ?2)",
            (i as i64 + 1, format!("tag{}", i % 13)),
        )
        .unwrap();
    }
    tx.commit().unwrap();
    conn.execute("UPDATE users SET name = name || '-renamed' WHERE id % 3 = 0", [])
        .unwrap();
    conn.execute("DELETE FROM posts WHERE id % 5 = 0", []).unwrap();
    conn.execute("DELETE FROM tags WHERE post_id % 5 = 0", [])
        .unwrap();
}

/// Every row of every table and view, in a stable order, as text.
pub fn dump(conn: &Connection) -> Vec<String> {
    let mut out = Vec::new();
    for (name, order) in [
        ("users", "id"),
        ("posts", "id"),
        ("tags", "post_id, tag"),
        ("audit", "id"),
        ("user_post_counts", "name"),
    ] {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM {name} ORDER BY {order}"))
            .unwrap();
        let cols = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                let mut line = String::from(name);
                for c in 0..cols {
                    let v: rusqlite::types::Value = r.get(c)?;
                    line.push_str(&format!("|{v:?}"));
                }
                Ok(line)
            })
            .unwrap();
        for r in rows {
            out.push(r.unwrap());
        }
    }
    out
}

pub fn integrity(conn: &Connection) -> String {
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

/// Files in `dir` whose bytes contain `marker`.
pub fn files_containing(dir: &Path, marker: &[u8]) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| std::fs::read(p).is_ok_and(|b| contains(&b, marker)))
        .collect()
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
