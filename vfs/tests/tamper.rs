//! Altered files give the documented error at the first read that meets them.

// Helpers outside `#[test]` fns unwrap too: any failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use rusqlite::{Connection, OpenFlags};
use sqlvault_vfs::{Error, FileKind, classify_error, open_connection};

const PAGE: usize = 4096;

/// A database of many pages, closed, in rollback-journal mode (no WAL left behind).
fn make_db(dir: &tempfile::TempDir, name: &str, key_byte: u8) -> std::path::PathBuf {
    let path = db_path(dir, name);
    let conn = open(&path, &raw_key(key_byte));
    workload(&conn, 80);
    drop(conn);
    path
}

/// Reads everything; the first error, classified.
fn read_all(path: &std::path::Path, key_byte: u8) -> Result<Vec<String>, Error> {
    let conn = open_connection(path, &resolve(path, &raw_key(key_byte)), OpenFlags::default())?;
    let mut rows = Vec::new();
    for table in ["users", "posts", "tags", "audit"] {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM {table}"))
            .map_err(|e| classify_error(&conn, e))?;
        let n = stmt.column_count();
        let mut q = stmt.query([]).map_err(|e| classify_error(&conn, e))?;
        loop {
            match q.next() {
                Ok(Some(r)) => rows.push(format!(
                    "{:?}",
                    (0..n)
                        .map(|i| r.get::<_, rusqlite::types::Value>(i))
                        .collect::<Vec<_>>()
                )),
                Ok(None) => break,
                Err(e) => return Err(classify_error(&conn, e)),
            }
        }
    }
    Ok(rows)
}

fn pages(path: &std::path::Path) -> usize {
    std::fs::metadata(path).unwrap().len() as usize / PAGE
}

#[test]
fn flipped_bytes_in_any_page_name_that_page() {
    let dir = tempdir();
    let path = make_db(&dir, "t.db", 1);
    let original = std::fs::read(&path).unwrap();
    let n = pages(&path);
    let mut seed = 0x9e37_79b9u64;
    for round in 0..40 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        let page = 2 + (seed >> 33) as usize % (n - 1);
        let at = (page - 1) * PAGE + (seed >> 7) as usize % PAGE;
        let mut bytes = original.clone();
        bytes[at] ^= 1 << (seed % 8);
        std::fs::write(&path, &bytes).unwrap();
        match read_all(&path, 1) {
            Err(Error::TamperedPage {
                file: FileKind::Database,
                page: p,
            }) => assert_eq!(p as usize, page, "round {round}"),
            // A page on the freelist is never read by these queries: no silent wrong data either way.
            Ok(rows) => {
                std::fs::write(&path, &original).unwrap();
                assert_eq!(
                    rows,
                    read_all(&path, 1).unwrap(),
                    "round {round}: page {page} changed silently"
                );
            }
            Err(e) => panic!("round {round}: page {page}: unexpected {e:?}"),
        }
    }
    // Page 1: its clear header bytes and its ciphertext are both authenticated.
    for at in [17, 20, 21, 40, 200, PAGE - 1] {
        let mut bytes = original.clone();
        bytes[at] ^= 0x10;
        std::fs::write(&path, &bytes).unwrap();
        assert!(read_all(&path, 1).is_err(), "byte {at} of page 1");
    }
}

#[test]
fn swapped_pages_do_not_authenticate() {
    let dir = tempdir();
    let path = make_db(&dir, "s.db", 1);
    let mut bytes = std::fs::read(&path).unwrap();
    let (a, b) = (3, 7);
    let pa = bytes[(a - 1) * PAGE..a * PAGE].to_vec();
    let pb = bytes[(b - 1) * PAGE..b * PAGE].to_vec();
    bytes[(a - 1) * PAGE..a * PAGE].copy_from_slice(&pb);
    bytes[(b - 1) * PAGE..b * PAGE].copy_from_slice(&pa);
    std::fs::write(&path, &bytes).unwrap();
    match read_all(&path, 1) {
        Err(Error::TamperedPage {
            file: FileKind::Database,
            page,
        }) => assert!(page == a as u64 || page == b as u64),
        other => panic!("swapped pages: {:?}", other.map(|rows| rows.len())),
    }
}

#[test]
fn a_page_transplanted_from_another_database_with_the_same_key_is_refused() {
    let dir = tempdir();
    let victim = make_db(&dir, "victim.db", 1);
    let donor = make_db(&dir, "donor.db", 1);
    let mut bytes = std::fs::read(&victim).unwrap();
    let donor_bytes = std::fs::read(&donor).unwrap();
    // Both files have the same layout; replace the root page of `users` (page 2).
    let page = 2;
    bytes[(page - 1) * PAGE..page * PAGE].copy_from_slice(&donor_bytes[(page - 1) * PAGE..page * PAGE]);
    std::fs::write(&victim, &bytes).unwrap();
    match read_all(&victim, 1) {
        Err(Error::TamperedPage {
            file: FileKind::Database,
            page: p,
        }) => assert_eq!(p, page as u64),
        other => panic!("transplant: {:?}", other.map(|rows| rows.len())),
    }
}

#[test]
fn wrong_key_plaintext_and_garbage_files_are_named() {
    let dir = tempdir();
    let path = make_db(&dir, "k.db", 1);
    assert!(matches!(read_all(&path, 2), Err(Error::WrongKey)));

    let plain = db_path(&dir, "plain.db");
    Connection::open(&plain)
        .unwrap()
        .execute_batch("CREATE TABLE t(x)")
        .unwrap();
    assert!(matches!(
        sqlvault_vfs::DatabaseKey::resolve(
            &plain,
            &raw_key(1),
            sqlvault_vfs::Argon2Params::INSECURE_FOR_TESTS
        ),
        Err(Error::PlaintextDatabase)
    ));

    let garbage = db_path(&dir, "garbage.db");
    std::fs::write(&garbage, vec![0x5au8; 8192]).unwrap();
    assert!(matches!(
        sqlvault_vfs::DatabaseKey::resolve(
            &garbage,
            &raw_key(1),
            sqlvault_vfs::Argon2Params::INSECURE_FOR_TESTS
        ),
        Err(Error::NotASqlvaultDatabase)
    ));
    // With key material from elsewhere, the VFS itself tells the cases apart.
    let key = resolve(&path, &raw_key(1));
    assert!(matches!(
        open_connection(&plain, &key, OpenFlags::default()),
        Err(Error::PlaintextDatabase)
    ));
    assert!(matches!(
        open_connection(&garbage, &key, OpenFlags::default()),
        Err(Error::NotASqlvaultDatabase)
    ));
}

#[test]
fn truncated_database_files_are_reported() {
    let dir = tempdir();
    let path = make_db(&dir, "tr.db", 1);
    let full = std::fs::read(&path).unwrap();
    // Cut inside a page, and at a page boundary.
    for len in [full.len() - PAGE / 2, full.len() - 3 * PAGE] {
        std::fs::write(&path, &full[..len]).unwrap();
        match read_all(&path, 1) {
            Err(Error::Truncated) => {}
            other => panic!("truncated to {len}: {:?}", other.map(|rows| rows.len())),
        }
    }
}

#[test]
fn tampered_wal_frames_are_named_or_end_the_log() {
    let dir = tempdir();
    let path = db_path(&dir, "w.db");
    let key = raw_key(3);
    let conn = open(&path, &key);
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;")
        .unwrap();
    workload(&conn, 40);
    let expected = dump(&conn);
    // Keep the WAL: copy the files while the connection holds them.
    let wal = db_path(&dir, "w.db-wal");
    let wal_bytes = std::fs::read(&wal).unwrap();
    let db_bytes = std::fs::read(&path).unwrap();
    drop(conn);
    let frame = PAGE + 24;
    let frames = (wal_bytes.len() - 32) / frame;
    assert!(frames > 10);

    // Untouched copy: recovery from the WAL gives everything back.
    let restore = |wal_content: &[u8]| {
        std::fs::write(&path, &db_bytes).unwrap();
        std::fs::write(&wal, wal_content).unwrap();
        let _ = std::fs::remove_file(db_path(&dir, "w.db-shm"));
    };
    restore(&wal_bytes);
    assert_eq!(dump(&open(&path, &key)), expected);

    // A flipped byte in the last frame's page: the log ends before that frame (SQLite cannot
    // tell it from a torn write), so the database shows an earlier committed state — never
    // rows built from unauthenticated bytes — and is intact.
    let mut bad = wal_bytes.clone();
    bad[32 + (frames - 1) * frame + 24 + 100] ^= 1;
    restore(&bad);
    let conn = open(&path, &key);
    assert_eq!(integrity(&conn), "ok");
    drop(conn);

    // A flipped byte mid-log, followed by frames sealed after it was synced: not a torn
    // write but tampering, named, instead of silently dropping every later commit.
    let mut bad = wal_bytes.clone();
    bad[32 + (frames / 2) * frame + 24 + 100] ^= 1;
    restore(&bad);
    match open_connection(&path, &resolve(&path, &key), OpenFlags::default()) {
        Err(sqlvault_vfs::Error::TamperedPage {
            file: FileKind::Wal, ..
        }) => {}
        other => panic!("expected a tampered WAL frame, got {other:?}"),
    }

    // Once the WAL is recovered, a page read of a frame that no longer authenticates is an error.
    restore(&wal_bytes);
    let conn = open(&path, &key);
    conn.query_row("SELECT count(*) FROM users", [], |r| r.get::<_, i64>(0))
        .unwrap();
    let mut bad = wal_bytes.clone();
    for f in 0..frames {
        bad[32 + f * frame + 24 + 200] ^= 0x80;
    }
    std::fs::write(&wal, &bad).unwrap();
    conn.execute_batch("PRAGMA cache_size=0; PRAGMA cache_size=-2000;")
        .unwrap();
    let err = conn
        .query_row("SELECT sum(length(body)) FROM posts", [], |r| r.get::<_, i64>(0))
        .map_err(|e| classify_error(&conn, e));
    assert!(
        matches!(
            err,
            Err(Error::TamperedPage {
                file: FileKind::Wal,
                ..
            })
        ),
        "{err:?}"
    );
}
