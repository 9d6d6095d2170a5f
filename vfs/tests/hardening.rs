//! Attacks and accidents against format version 2: keyless openers after a crash, forged
//! journals, spliced and re-flagged WAL frames with the (unkeyed) checksums fixed up,
//! transplants between copies, forked writers, odd passphrases, failed keys, truncation.

// Helpers outside `#[test]` fns unwrap too: any failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use rusqlite::{Connection, OpenFlags};
use sqlvault_vfs::{
    Argon2Params, DatabaseKey, Error, FileKind, Key, Passphrase, VFS_NAME, classify_error, open_connection,
    register,
};

// ---------------------------------------------------------------------------------------
// helpers

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", path.display()))
}

/// Copies a database and its `-wal` / `-journal` (those that exist) from `from` to `to`;
/// sidecars of `to` that `from` lacks, and `to`'s `-shm`, are removed.
fn copy_set(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap();
    for s in ["-wal", "-journal"] {
        let (f, t) = (sidecar(from, s), sidecar(to, s));
        if f.exists() {
            std::fs::copy(&f, &t).unwrap();
        } else {
            let _ = std::fs::remove_file(&t);
        }
    }
    let _ = std::fs::remove_file(sidecar(to, "-shm"));
}

fn page_size_of(db: &[u8]) -> usize {
    match u16::from_be_bytes([db[16], db[17]]) {
        1 => 65536,
        n => n as usize,
    }
}

fn be32(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// Every row of `tables` (ordered by rowid), or the first error, classified.
fn scan_conn(conn: &Connection, tables: &[&str]) -> Result<Vec<String>, Error> {
    let mut rows = Vec::new();
    for table in tables {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM {table} ORDER BY rowid"))
            .map_err(|e| classify_error(conn, e))?;
        let n = stmt.column_count();
        let mut q = stmt.query([]).map_err(|e| classify_error(conn, e))?;
        loop {
            match q.next() {
                Ok(Some(r)) => rows.push(format!(
                    "{table}{:?}",
                    (0..n)
                        .map(|i| r.get::<_, rusqlite::types::Value>(i).unwrap())
                        .collect::<Vec<_>>()
                )),
                Ok(None) => break,
                Err(e) => return Err(classify_error(conn, e)),
            }
        }
    }
    Ok(rows)
}

fn scan(path: &Path, key: &Key, tables: &[&str]) -> Result<Vec<String>, Error> {
    let key = DatabaseKey::resolve(path, key, Argon2Params::INSECURE_FOR_TESTS)?;
    let conn = open_connection(path, &key, OpenFlags::default())?;
    scan_conn(&conn, tables)
}

/// Stock SQLite (unix VFS, no key) opens the files, tries to read, closes.
fn stock_open(path: &Path) {
    let c = Connection::open(path).unwrap();
    let r = c.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0));
    assert!(r.is_err(), "stock SQLite read a sealed database: {r:?}");
    drop(c);
}

/// A sqlvault connection with no key opens the files, tries to read, closes.
fn unkeyed_vault_open(path: &Path) {
    register(VFS_NAME, None, false).unwrap();
    let c = Connection::open_with_flags_and_vfs(path, OpenFlags::default(), VFS_NAME).unwrap();
    let r = c.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0));
    assert!(r.is_err(), "an unkeyed connection read a sealed database: {r:?}");
    drop(c);
}

#[derive(Debug, Clone, Copy)]
enum Opener {
    Stock,
    UnkeyedVault,
    Mixed,
}

fn keyless_opens(path: &Path, opener: Opener) {
    for round in 0..3 {
        match opener {
            Opener::Stock => stock_open(path),
            Opener::UnkeyedVault => unkeyed_vault_open(path),
            Opener::Mixed if round % 2 == 0 => stock_open(path),
            Opener::Mixed => unkeyed_vault_open(path),
        }
    }
}

// ---- WAL surgery ----

struct Wal {
    bytes: Vec<u8>,
    page: usize,
}

impl Wal {
    fn new(bytes: Vec<u8>) -> Wal {
        assert!(bytes.len() >= 32, "no WAL header");
        assert_eq!(be32(&bytes, 0) & !1, 0x377f_0682, "not a WAL");
        let page = be32(&bytes, 8) as usize;
        Wal { bytes, page }
    }
    fn frame_len(&self) -> usize {
        24 + self.page
    }
    fn frames(&self) -> usize {
        (self.bytes.len() - 32) / self.frame_len()
    }
    fn at(&self, i: usize) -> usize {
        32 + i * self.frame_len()
    }
    fn frame(&self, i: usize) -> Vec<u8> {
        self.bytes[self.at(i)..self.at(i) + self.frame_len()].to_vec()
    }
    fn pgno(&self, i: usize) -> u32 {
        be32(&self.bytes, self.at(i))
    }
    fn commit(&self, i: usize) -> u32 {
        be32(&self.bytes, self.at(i) + 4)
    }
    fn salts(&self) -> [u8; 8] {
        self.bytes[16..24].try_into().unwrap()
    }
    fn frame_salts(&self, i: usize) -> [u8; 8] {
        self.bytes[self.at(i) + 8..self.at(i) + 16].try_into().unwrap()
    }
    /// The checksum chain SQLite computes over the bytes on disk, frame by frame.
    fn chain(&self) -> Vec<[u32; 2]> {
        let big = be32(&self.bytes, 0) & 1 == 1;
        let mut s = [be32(&self.bytes, 24), be32(&self.bytes, 28)];
        let mut out = Vec::new();
        for i in 0..self.frames() {
            let f = self.at(i);
            s = wal_checksum(big, &self.bytes[f..f + 8], s);
            s = wal_checksum(big, &self.bytes[f + 24..f + self.frame_len()], s);
            out.push(s);
        }
        out
    }
    fn stored(&self, i: usize) -> [u32; 2] {
        [
            be32(&self.bytes, self.at(i) + 16),
            be32(&self.bytes, self.at(i) + 20),
        ]
    }
    /// What an attacker without the key does after editing frames: recompute the chain.
    fn rechain(&mut self) {
        for (i, ck) in self.chain().into_iter().enumerate() {
            let f = self.at(i);
            self.bytes[f + 16..f + 20].copy_from_slice(&ck[0].to_be_bytes());
            self.bytes[f + 20..f + 24].copy_from_slice(&ck[1].to_be_bytes());
        }
    }
}

/// SQLite's `walChecksumBytes`.
fn wal_checksum(big_endian: bool, data: &[u8], mut s: [u32; 2]) -> [u32; 2] {
    for pair in data.chunks_exact(8) {
        let w = |b: &[u8]| {
            let b = [b[0], b[1], b[2], b[3]];
            if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        s[0] = s[0].wrapping_add(w(&pair[..4])).wrapping_add(s[1]);
        s[1] = s[1].wrapping_add(w(&pair[4..])).wrapping_add(s[0]);
    }
    s
}

const WAL_TABLES: &[&str] = &["t"];

/// A keyed WAL database with `txns` commits of several pages each, captured (db + WAL)
/// into `saved` while the connection is open. Returns the connection (still open).
fn wal_db(path: &Path, key: u8, sync: &str) -> Connection {
    let conn = open(path, &raw_key(key));
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    conn.execute_batch(&format!(
        "PRAGMA wal_autocheckpoint=0; PRAGMA synchronous={sync};
         CREATE TABLE t(id INTEGER PRIMARY KEY, body BLOB);"
    ))
    .unwrap();
    conn
}

fn wal_commits(conn: &Connection, from: i64, txns: i64) {
    for t in from..from + txns {
        let tx = conn.unchecked_transaction().unwrap();
        for r in 0..4 {
            tx.execute(
                "INSERT INTO t(body) VALUES (randomblob(?1))",
                [700 + (t * 131 + r * 53) % 1500],
            )
            .unwrap();
        }
        tx.execute("UPDATE t SET body = randomblob(300) WHERE id % 7 = ?1", [t % 7])
            .unwrap();
        tx.commit().unwrap();
    }
}

fn expect_tampered_wal(result: Result<Vec<String>, Error>, what: &str) {
    match result {
        Err(Error::TamperedPage {
            file: FileKind::Wal, ..
        }) => {}
        Ok(rows) => panic!(
            "{what}: expected TamperedPage {{ file: Wal }}, got Ok({} rows)",
            rows.len()
        ),
        Err(e) => panic!("{what}: expected TamperedPage {{ file: Wal }}, got {e:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// 1, 2: keyless openers after a crash

#[test]
fn keyless_opens_after_a_crash_lose_no_wal_commit() {
    const N: i64 = 25;
    let dir = tempdir();
    let path = db_path(&dir, "w.db");
    let saved = db_path(&dir, "saved.db");
    let conn = wal_db(&path, 7, "FULL");
    for i in 0..N {
        conn.execute(
            "INSERT INTO t(body) VALUES (randomblob(?1))",
            [100 + (i * 997) % 3000],
        )
        .unwrap();
    }
    let expected = scan_conn(&conn, WAL_TABLES).unwrap();
    copy_set(&path, &saved);
    drop(conn);
    assert!(sidecar(&saved, "-wal").exists(), "the crash copy has no WAL");
    let frames = Wal::new(std::fs::read(sidecar(&saved, "-wal")).unwrap()).frames();
    assert!(frames as i64 >= N, "only {frames} frames in the WAL");

    for opener in [Opener::Stock, Opener::UnkeyedVault, Opener::Mixed] {
        copy_set(&saved, &path);
        keyless_opens(&path, opener);
        let wal_left = sidecar(&path, "-wal").exists();
        eprintln!("{opener:?}: WAL left after keyless opens: {wal_left}");
        let conn = open(&path, &raw_key(7));
        let count: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, N, "{opener:?} (WAL left after keyless opens: {wal_left})");
        assert_eq!(scan_conn(&conn, WAL_TABLES).unwrap(), expected, "{opener:?}");
        assert_eq!(integrity(&conn), "ok", "{opener:?}");
    }
}

#[test]
fn keyless_opens_after_a_crash_lose_no_journal_commit() {
    let dir = tempdir();
    let path = db_path(&dir, "j.db");
    let saved = db_path(&dir, "saved.db");
    let conn = open(&path, &raw_key(8));
    conn.execute_batch(
        "PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL;
         CREATE TABLE t(id INTEGER PRIMARY KEY, body BLOB);",
    )
    .unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    for i in 0..300 {
        tx.execute(
            "INSERT INTO t(body) VALUES (randomblob(?1))",
            [200 + (i * 37) % 900],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    let expected = scan_conn(&conn, &["t"]).unwrap();
    let before = std::fs::read(&path).unwrap();

    conn.execute_batch("PRAGMA cache_size=5; BEGIN;").unwrap();
    conn.execute("UPDATE t SET body = randomblob(500) WHERE id % 3 = 0", [])
        .unwrap();
    for i in 0..400 {
        conn.execute(
            "INSERT INTO t(body) VALUES (randomblob(?1))",
            [400 + (i * 91) % 2000],
        )
        .unwrap();
    }
    copy_set(&path, &saved);
    conn.execute_batch("ROLLBACK").unwrap();
    drop(conn);
    assert!(
        sidecar(&saved, "-journal").exists(),
        "no journal in the crash copy"
    );
    assert_ne!(
        std::fs::read(&saved).unwrap(),
        before,
        "precondition: the cache spilled into the database before the crash copy"
    );

    for opener in [Opener::Stock, Opener::UnkeyedVault, Opener::Mixed] {
        copy_set(&saved, &path);
        keyless_opens(&path, opener);
        let journal_left = sidecar(&path, "-journal").exists();
        eprintln!("{opener:?}: journal left after keyless opens: {journal_left}");
        let got = scan(&path, &raw_key(8), &["t"]);
        match got {
            Ok(rows) => assert!(
                rows == expected,
                "{opener:?}: rows differ from the committed state"
            ),
            Err(e) => panic!("{opener:?} (journal left: {journal_left}): {e:?}"),
        }
        let conn = open(&path, &raw_key(8));
        assert_eq!(integrity(&conn), "ok", "{opener:?}");
    }
}

// ---------------------------------------------------------------------------------------
// 3: the v1 forged-journal attack

#[test]
fn a_forged_one_record_journal_never_changes_the_database() {
    let dir = tempdir();
    let path = db_path(&dir, "f.db");
    let conn = open(&path, &raw_key(9));
    conn.execute_batch("PRAGMA journal_mode=DELETE; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);")
        .unwrap();
    for i in 0..20 {
        conn.execute("INSERT INTO t(v) VALUES (?1)", [format!("row {i}")])
            .unwrap();
    }
    let expected = scan_conn(&conn, &["t"]).unwrap();
    drop(conn);
    let db = std::fs::read(&path).unwrap();
    let page = page_size_of(&db);
    let npages = (db.len() / page) as u32;
    let page2 = db[page..2 * page].to_vec();

    for cksum_init in [0x1234_5678u32, 0, 0xdead_beef] {
        let mut j = vec![0u8; 512];
        j[..8].copy_from_slice(&[0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7]);
        j[8..12].copy_from_slice(&1u32.to_be_bytes());
        j[12..16].copy_from_slice(&cksum_init.to_be_bytes());
        j[16..20].copy_from_slice(&npages.to_be_bytes());
        j[20..24].copy_from_slice(&512u32.to_be_bytes());
        j[24..28].copy_from_slice(&(page as u32).to_be_bytes());
        j.extend_from_slice(&2u32.to_be_bytes());
        j.extend(std::iter::repeat_n(0u8, page));
        j.extend_from_slice(&cksum_init.to_be_bytes()); // the checksum of an all-zero page
        std::fs::write(sidecar(&path, "-journal"), &j).unwrap();

        let got = scan(&path, &raw_key(9), &["t"]);
        let now = std::fs::read(&path).unwrap();
        assert!(
            now[page..2 * page].iter().any(|&b| b != 0),
            "cksumInit {cksum_init:#x}: page 2 was zeroed by a forged journal"
        );
        assert_eq!(
            now[page..2 * page],
            page2[..],
            "cksumInit {cksum_init:#x}: page 2 changed (result {got:?})"
        );
        match got {
            Ok(rows) => assert_eq!(rows, expected, "cksumInit {cksum_init:#x}"),
            // A clear error is acceptable; silent damage is not.
            Err(Error::TamperedPage { .. }) => {}
            Err(e) => panic!("cksumInit {cksum_init:#x}: unclear error {e:?}"),
        }
        let _ = std::fs::remove_file(sidecar(&path, "-journal"));
        let conn = open(&path, &raw_key(9));
        assert_eq!(integrity(&conn), "ok");
    }
}

// ---------------------------------------------------------------------------------------
// 4, 5, 6: WAL frames edited by someone who recomputes SQLite's (unkeyed) checksums

#[test]
fn on_disk_wal_checksums_cover_the_sealed_bytes() {
    let dir = tempdir();
    let path = db_path(&dir, "c.db");
    let saved = db_path(&dir, "saved.db");
    let conn = wal_db(&path, 10, "FULL");
    wal_commits(&conn, 0, 6);
    copy_set(&path, &saved);
    drop(conn);
    let wal = Wal::new(std::fs::read(sidecar(&saved, "-wal")).unwrap());
    let chain = wal.chain();
    assert_eq!(chain.len(), wal.frames());
    for (i, expected) in chain.iter().enumerate() {
        assert_eq!(
            wal.stored(i),
            *expected,
            "frame {i}: stored checksum is not over the bytes on disk"
        );
    }
}

#[test]
fn an_old_wal_frame_spliced_into_the_current_wal_is_refused() {
    let dir = tempdir();
    let path = db_path(&dir, "s.db");
    let gen_a = db_path(&dir, "a.db");
    let gen_b = db_path(&dir, "b.db");
    let conn = wal_db(&path, 11, "FULL");
    wal_commits(&conn, 0, 5);
    copy_set(&path, &gen_a);
    // Same generation, more commits.
    wal_commits(&conn, 5, 3);
    let same_gen = db_path(&dir, "same.db");
    copy_set(&path, &same_gen);
    // A new generation: checkpoint, restart, commit.
    let (busy, _, _): (i64, i64, i64) = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!(busy, 0);
    wal_commits(&conn, 8, 5);
    copy_set(&path, &gen_b);
    drop(conn);

    let a = Wal::new(std::fs::read(sidecar(&gen_a, "-wal")).unwrap());
    let b = Wal::new(std::fs::read(sidecar(&gen_b, "-wal")).unwrap());
    assert_ne!(a.salts(), b.salts(), "precondition: a new WAL generation");

    // Baseline: the untouched captures open.
    copy_set(&gen_b, &path);
    scan(&path, &raw_key(11), WAL_TABLES).unwrap();

    // Frame i of generation A, with generation B's salts and a fixed-up chain, at index i of B.
    for i in [
        0,
        1,
        a.frames().min(b.frames()) / 2,
        a.frames().min(b.frames()) - 1,
    ] {
        let mut spliced = Wal::new(b.bytes.clone());
        let mut frame = a.frame(i);
        frame[8..16].copy_from_slice(&b.salts());
        let at = spliced.at(i);
        let fl = spliced.frame_len();
        spliced.bytes[at..at + fl].copy_from_slice(&frame);
        spliced.rechain();
        copy_set(&gen_b, &path);
        std::fs::write(sidecar(&path, "-wal"), &spliced.bytes).unwrap();
        expect_tampered_wal(
            scan(&path, &raw_key(11), WAL_TABLES),
            &format!("frame {i} of the previous generation spliced in"),
        );
    }

    // Same generation: a frame moved to another index (same page number where possible).
    let s = Wal::new(std::fs::read(sidecar(&same_gen, "-wal")).unwrap());
    let n = s.frames();
    let (from, to) = (0..n)
        .flat_map(|x| (0..n).map(move |y| (x, y)))
        .find(|&(x, y)| x < y && s.pgno(x) == s.pgno(y) && s.commit(x) == s.commit(y))
        .unwrap_or((0, n / 2));
    let mut moved = Wal::new(s.bytes.clone());
    let frame = s.frame(from);
    let at = moved.at(to);
    let fl = moved.frame_len();
    moved.bytes[at..at + fl].copy_from_slice(&frame);
    moved.rechain();
    copy_set(&same_gen, &path);
    std::fs::write(sidecar(&path, "-wal"), &moved.bytes).unwrap();
    expect_tampered_wal(
        scan(&path, &raw_key(11), WAL_TABLES),
        &format!("frame {from} copied over frame {to} of the same generation"),
    );
}

/// Frames of a transaction that was rolled back stay in the WAL until the next transaction
/// overwrites their slots, in the same generation, at the same indexes. Put back into the
/// slot it came from — behind a later transaction's frames, with the chain recomputed —
/// such a frame would carry its old page into a committed transaction; each frame is
/// chained to the tag of the frame before it, so it is refused instead.
#[test]
fn a_rolled_back_frame_put_back_into_its_slot_is_refused() {
    let dir = tempdir();
    let path = db_path(&dir, "r.db");
    let saved = db_path(&dir, "saved.db");
    let after = db_path(&dir, "after.db");
    let conn = wal_db(&path, 12, "FULL");
    wal_commits(&conn, 0, 3);
    conn.execute_batch("PRAGMA cache_size = 2").unwrap();
    let committed = Wal::new(std::fs::read(sidecar(&path, "-wal")).unwrap()).frames();
    // A transaction big enough to spill frames into the WAL, then rolled back.
    let tx = conn.unchecked_transaction().unwrap();
    tx.execute_batch(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40)
         INSERT INTO t(body) SELECT randomblob(900) FROM n;
         UPDATE t SET body = randomblob(800) WHERE id % 2 = 0;",
    )
    .unwrap();
    tx.rollback().unwrap();
    copy_set(&path, &saved);
    let rolled_back = Wal::new(std::fs::read(sidecar(&saved, "-wal")).unwrap());
    assert!(
        rolled_back.frames() > committed + 3,
        "precondition: the rolled-back transaction spilled frames into the WAL"
    );
    // The next transaction overwrites the same slots and commits.
    conn.execute_batch("PRAGMA cache_size = 2000").unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    tx.execute_batch(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30)
         INSERT INTO t(body) SELECT randomblob(600) FROM n;",
    )
    .unwrap();
    tx.commit().unwrap();
    copy_set(&path, &after);
    drop(conn);
    let current = Wal::new(std::fs::read(sidecar(&after, "-wal")).unwrap());
    let last_commit = (0..current.frames())
        .rev()
        .find(|&i| current.commit(i) != 0)
        .unwrap();
    assert!(last_commit > committed + 1, "precondition: a multi-frame commit");
    assert_eq!(
        current.salts(),
        rolled_back.salts(),
        "precondition: one generation"
    );

    // Baseline: the untouched capture opens.
    copy_set(&after, &path);
    scan(&path, &raw_key(12), WAL_TABLES).unwrap();

    // Each non-commit slot of the committed transaction gets back the rolled-back frame
    // that was there, with the chain fixed up: tampering, never the old page.
    let mut tried = 0;
    for i in committed + 1..last_commit {
        if i >= rolled_back.frames() || rolled_back.commit(i) != 0 {
            continue;
        }
        let mut spliced = Wal::new(current.bytes.clone());
        let at = spliced.at(i);
        let fl = spliced.frame_len();
        spliced.bytes[at..at + fl].copy_from_slice(&rolled_back.frame(i));
        spliced.rechain();
        copy_set(&after, &path);
        std::fs::write(sidecar(&path, "-wal"), &spliced.bytes).unwrap();
        expect_tampered_wal(
            scan(&path, &raw_key(12), WAL_TABLES),
            &format!("the rolled-back frame {i} put back into its slot"),
        );
        tried += 1;
    }
    assert!(tried >= 2, "only {tried} slots tried");
}

#[test]
fn a_flipped_byte_mid_wal_is_reported_not_silently_dropped() {
    let dir = tempdir();
    let path = db_path(&dir, "x.db");
    let saved = db_path(&dir, "saved.db");
    let conn = wal_db(&path, 12, "FULL");
    wal_commits(&conn, 0, 8);
    copy_set(&path, &saved);
    drop(conn);
    let wal = Wal::new(std::fs::read(sidecar(&saved, "-wal")).unwrap());
    let n = wal.frames();
    for (k, at_in_page) in [(n / 2, 100usize), (1, 7), (n / 3, wal.page - 20), (n - 2, 3000)] {
        for fix_chain in [true, false] {
            let mut bad = Wal::new(wal.bytes.clone());
            let at = bad.at(k) + 24 + at_in_page;
            bad.bytes[at] ^= 0x20;
            if fix_chain {
                bad.rechain();
            }
            copy_set(&saved, &path);
            std::fs::write(sidecar(&path, "-wal"), &bad.bytes).unwrap();
            let what = format!("frame {k} of {n}, byte {at_in_page} flipped, chain fixed: {fix_chain}");
            // Without the chain fixed, damage in the last transaction (no frame sealed after
            // a sync follows it) is a torn tail: the log ends before that transaction.
            let synced_after = (k..n - 1).any(|c| wal.commit(c) != 0);
            if fix_chain || synced_after {
                expect_tampered_wal(scan(&path, &raw_key(12), WAL_TABLES), &what);
            } else {
                let got = scan(&path, &raw_key(12), WAL_TABLES).unwrap_or_else(|e| panic!("{what}: {e:?}"));
                let start = (0..k).rev().find(|&c| wal.commit(c) != 0).map_or(0, |c| c + 1);
                copy_set(&saved, &path);
                std::fs::write(sidecar(&path, "-wal"), &wal.bytes[..wal.at(start)]).unwrap();
                let prefix = scan(&path, &raw_key(12), WAL_TABLES).unwrap();
                assert!(
                    got == prefix,
                    "{what}: torn tail did not end the log at frame {start}"
                );
            }
        }
    }
}

#[test]
fn commit_flag_flip_in_a_wal_frame_is_refused() {
    let dir = tempdir();
    let path = db_path(&dir, "k.db");
    let saved = db_path(&dir, "saved.db");
    let conn = wal_db(&path, 13, "FULL");
    wal_commits(&conn, 0, 6);
    copy_set(&path, &saved);
    drop(conn);
    let wal = Wal::new(std::fs::read(sidecar(&saved, "-wal")).unwrap());
    let n = wal.frames();
    // Non-commit frames, each with the commit size of the commit frame that ends its transaction.
    let mut targets = Vec::new();
    for i in 0..n {
        if wal.commit(i) == 0 {
            let end = (i..n).find(|&j| wal.commit(j) != 0).unwrap();
            targets.push((i, wal.commit(end)));
        }
    }
    assert!(targets.len() >= 3, "precondition: multi-frame transactions");
    let picks = [targets[0], targets[targets.len() / 2], targets[targets.len() - 1]];
    for (i, size) in picks {
        for truncate_after in [false, true] {
            let mut bad = Wal::new(wal.bytes.clone());
            let at = bad.at(i) + 4;
            bad.bytes[at..at + 4].copy_from_slice(&size.to_be_bytes());
            if truncate_after {
                let end = bad.at(i + 1);
                bad.bytes.truncate(end);
            }
            bad.rechain();
            copy_set(&saved, &path);
            std::fs::write(sidecar(&path, "-wal"), &bad.bytes).unwrap();
            expect_tampered_wal(
                scan(&path, &raw_key(13), WAL_TABLES),
                &format!(
                    "frame {i} of {n} made a commit frame (size {size}), WAL cut after it: {truncate_after}"
                ),
            );
        }
    }
    // Sanity: the frame salts all match the header (one generation).
    assert!((0..n).all(|i| wal.frame_salts(i) == wal.salts()));
}

// ---------------------------------------------------------------------------------------
// 7: copies

#[test]
fn copies_have_their_own_identity() {
    let dir = tempdir();
    let path = db_path(&dir, "orig.db");
    let copy = db_path(&dir, "copy.db");
    let pass = || Key::Passphrase(Passphrase::from("copy me"));
    let key = DatabaseKey::resolve(&path, &pass(), Argon2Params::INSECURE_FOR_TESTS).unwrap();
    let conn = open_connection(&path, &key, OpenFlags::default()).unwrap();
    conn.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);")
        .unwrap();
    for i in 0..10 {
        conn.execute("INSERT INTO t(v) VALUES (?1)", [format!("value {i}")])
            .unwrap();
    }
    conn.execute("VACUUM INTO ?1", [copy.to_str().unwrap()]).unwrap();
    drop(conn);

    let rows = scan(&path, &pass(), &["t"]).unwrap();
    assert_eq!(
        scan(&copy, &pass(), &["t"]).unwrap(),
        rows,
        "the copy opens with the same passphrase"
    );
    let (a, b) = (std::fs::read(&path).unwrap(), std::fs::read(&copy).unwrap());
    assert_ne!(a[..16], b[..16], "VACUUM INTO kept the database salt (identity)");
    let page = page_size_of(&a);
    assert_eq!(page, page_size_of(&b));

    for (victim, donor, name) in [(&path, &b, "copy -> original"), (&copy, &a, "original -> copy")] {
        let keep = std::fs::read(victim).unwrap();
        let mut bytes = keep.clone();
        bytes[page..2 * page].copy_from_slice(&donor[page..2 * page]);
        std::fs::write(victim, &bytes).unwrap();
        match scan(victim, &pass(), &["t"]) {
            Err(Error::TamperedPage {
                file: FileKind::Database,
                page: 2,
            }) => {}
            other => panic!("{name}: page 2 transplanted, expected TamperedPage(page 2), got {other:?}"),
        }
        std::fs::write(victim, &keep).unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// 9: passphrases that are not UTF-8

fn exec_bytes(conn: &Connection, sql: &[u8]) -> Result<(), String> {
    let sql = std::ffi::CString::new(sql).unwrap();
    let mut err: *mut std::ffi::c_char = std::ptr::null_mut();
    // SAFETY: a valid connection handle and NUL-terminated SQL; the error message is freed.
    let rc = unsafe {
        rusqlite::ffi::sqlite3_exec(conn.handle(), sql.as_ptr(), None, std::ptr::null_mut(), &mut err)
    };
    if rc == rusqlite::ffi::SQLITE_OK {
        return Ok(());
    }
    let msg = if err.is_null() {
        String::new()
    } else {
        // SAFETY: SQLite's NUL-terminated message, freed right after.
        let m = unsafe { std::ffi::CStr::from_ptr(err) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: allocated by SQLite.
        unsafe { rusqlite::ffi::sqlite3_free(err.cast()) };
        m
    };
    Err(format!("rc {rc}: {msg}"))
}

#[test]
fn non_utf8_passphrases_are_distinct_keys() {
    let dir = tempdir();
    let pa: &[u8] = &[0xff, 0x61];
    let pb: &[u8] = &[0xfe, 0x61];
    let key = |p: &[u8]| Key::Passphrase(Passphrase::new(p.to_vec()));
    let mut dbs = Vec::new();
    for (name, p) in [("a.db", pa), ("b.db", pb)] {
        let path = db_path(&dir, name);
        let k = DatabaseKey::resolve(&path, &key(p), Argon2Params::INSECURE_FOR_TESTS).unwrap();
        let conn = open_connection(&path, &k, OpenFlags::default()).unwrap();
        conn.execute_batch(&format!(
            "CREATE TABLE t(v TEXT); INSERT INTO t VALUES ('{name}');"
        ))
        .unwrap();
        drop(conn);
        dbs.push((path, p));
    }
    register(VFS_NAME, None, false).unwrap();
    for (path, own) in &dbs {
        for (_, p) in &dbs {
            let right = own == p;
            // Rust API.
            let r = scan(path, &key(p), &["t"]);
            assert_eq!(r.is_ok(), right, "Rust API, {}: {r:?}", path.display());
            if !right {
                assert!(matches!(r, Err(Error::WrongKey)), "{r:?}");
            }
            // URI ?key=%XX (SQLite decodes it).
            let uri = format!("file:{}?key=%{:02X}a", path.display(), p[0]);
            let c = Connection::open_with_flags_and_vfs(&uri, OpenFlags::default(), VFS_NAME);
            let r = c.map_err(|e| e.to_string()).and_then(|c| {
                c.query_row("SELECT v FROM t", [], |r| r.get::<_, String>(0))
                    .map_err(|e| e.to_string())
            });
            assert_eq!(r.is_ok(), right, "{uri}: {r:?}");
            // PRAGMA key with the raw bytes.
            let c = Connection::open_with_flags_and_vfs(path, OpenFlags::default(), VFS_NAME).unwrap();
            let mut sql = b"PRAGMA key = '".to_vec();
            sql.extend_from_slice(p);
            sql.extend_from_slice(b"'");
            let r = exec_bytes(&c, &sql).and_then(|()| {
                c.query_row("SELECT v FROM t", [], |r| r.get::<_, String>(0))
                    .map_err(|e| e.to_string())
            });
            assert_eq!(
                r.is_ok(),
                right,
                "PRAGMA key {p:02x?} on {}: {r:?}",
                path.display()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// 10: failed keys

const HEX: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

fn dir_listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_failed_pragma_key_leaves_nothing_usable() {
    register(VFS_NAME, None, false).unwrap();
    let dir = tempdir();
    // A plaintext database.
    let path = db_path(&dir, "plain.db");
    let plain = Connection::open(&path).unwrap();
    plain
        .execute_batch("CREATE TABLE t(v TEXT); INSERT INTO t VALUES ('PLAINROW');")
        .unwrap();
    drop(plain);
    let before = std::fs::read(&path).unwrap();
    let listing = dir_listing(dir.path());
    for pragma in [
        format!("PRAGMA key = \"x'{HEX}'\""),
        "PRAGMA key = 'passphrase'".to_string(),
        format!("PRAGMA hexkey = '{HEX}'"),
        "PRAGMA hexkey = 'not hex'".to_string(),
        "PRAGMA key = ''".to_string(),
    ] {
        let c = Connection::open_with_flags_and_vfs(&path, OpenFlags::default(), VFS_NAME).unwrap();
        let r = c.execute_batch(&pragma);
        assert!(r.is_err(), "{pragma} on a plaintext database succeeded");
        let sel = c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0));
        assert!(sel.is_err(), "{pragma}: SELECT after a failed key: {sel:?}");
        let ins = c.execute("INSERT INTO t VALUES ('AFTERFAIL')", []);
        assert!(ins.is_err(), "{pragma}: INSERT after a failed key: {ins:?}");
        let ddl = c.execute_batch("CREATE TABLE u(x)");
        assert!(ddl.is_err(), "{pragma}: CREATE TABLE after a failed key");
        drop(c);
        assert!(
            std::fs::read(&path).unwrap() == before,
            "{pragma}: the file changed"
        );
        assert_eq!(dir_listing(dir.path()), listing, "{pragma}: files left behind");
    }

    // A new file and a key that cannot be used: nothing may be written in the clear.
    // (`PRAGMA key = "x'1234'"` is a passphrase, as in SQLCipher: not a failure.)
    for pragma in ["PRAGMA hexkey = 'zz'", "PRAGMA key = ''", "PRAGMA hexkey = ''"] {
        let path = db_path(&dir, "new.db");
        let _ = std::fs::remove_file(&path);
        let c = Connection::open_with_flags_and_vfs(&path, OpenFlags::default(), VFS_NAME).unwrap();
        let r = c.execute_batch(pragma);
        let ddl = c.execute_batch("CREATE TABLE t(v TEXT); INSERT INTO t VALUES ('SECRETPLAIN');");
        drop(c);
        let bytes = std::fs::read(&path).unwrap_or_default();
        assert!(
            !contains(&bytes, b"SECRETPLAIN"),
            "{pragma}: plaintext row written"
        );
        assert!(
            !contains(&bytes, b"SQLite format 3"),
            "{pragma}: plaintext database written"
        );
        assert!(
            r.is_err() && ddl.is_err(),
            "{pragma}: pragma {r:?}, writes after it {ddl:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// 11: truncation in WAL mode

#[test]
fn a_database_cut_short_reads_as_truncated_in_wal_mode() {
    let dir = tempdir();
    let path = db_path(&dir, "cut.db");
    let saved = db_path(&dir, "saved.db");
    let conn = wal_db(&path, 15, "FULL");
    wal_commits(&conn, 0, 10);
    let (busy, _, _): (i64, i64, i64) = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!(busy, 0);
    conn.execute_batch("CREATE TABLE t2(v BLOB); INSERT INTO t2 VALUES (randomblob(9000));")
        .unwrap();
    copy_set(&path, &saved);
    drop(conn);
    copy_set(&saved, &path);
    let db = std::fs::read(&path).unwrap();
    let page = page_size_of(&db);
    assert!(std::fs::metadata(sidecar(&path, "-wal")).unwrap().len() > 32);
    std::fs::write(&path, &db[..db.len() - page]).unwrap();
    match scan(&path, &raw_key(15), &["t", "t2"]) {
        Err(Error::Truncated) => {}
        other => panic!("db cut by one page, WAL mode: expected Truncated, got {other:?}"),
    }
}
