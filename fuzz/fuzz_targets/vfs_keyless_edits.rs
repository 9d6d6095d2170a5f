//! `vfs_keyless_edits`: an attacker with write access to the files but no key.
//!
//! The input builds a database with committed history (rollback journal DELETE / TRUNCATE /
//! PERSIST, or WAL; page size 512 or 1024; a few small transactions over one table with an
//! index, blobs long enough for overflow pages, a tiny cache so transactions spill), and
//! records every committed state: a canonical dump of the schema and all rows, read inside
//! each transaction just before its `COMMIT` (if the `COMMIT` fails the state is kept too:
//! it may be durable). Along the way it keeps copies of the database, `-wal` and `-journal`
//! files at points the input picks, mid-transaction ones included (a process killed there).
//!
//! The files attacked are the live ones at the end (connection still open: a kill), the
//! files after a clean close, the files after a power cut at an op the input picks (the
//! fault VFS of `sqlvault_vfs::testing`, optionally with a torn last write), or one of the
//! copies. Keyless edits chosen by the input then: flip bytes, zero ranges, truncate,
//! splice bytes from an older copy (of any of the three files) at any offset, recompute
//! the WAL's unkeyed checksum chain, replace or add one file from a copy, restore a whole
//! copy, drop the `-wal` / `-journal`.
//!
//! The files are then opened with the key (`open_connection`), every row and the schema
//! read, and `PRAGMA integrity_check` run. The outcome must be an `Err` somewhere, or an
//! intact database (`ok`) holding EXACTLY one of the committed states: never zeros, never
//! a mix, never a state no transaction committed.
//!
//! # Not asserted: sqlvault's documented limits (docs/format.md, "What is still not detected")
//!
//! Rolling back a whole file, or a page to an older sealed version of itself, authenticates.
//! An input using one of these edits is still run (it must not crash the VFS or trip a
//! sanitizer) but its outcome is not checked, because a mix is possible:
//!
//! * a splice from a copy of the same file at the same offset (an old version of the same
//!   page at its own page number, or of the same WAL frame slot / journal record slot);
//! * replacing or adding one file from an older copy while the others stay current (an old
//!   `-wal` with its own header, or an old hot `-journal` played back over newer pages, or
//!   an old database under a newer log, all roll individual pages back);
//! * dropping the `-wal` / `-journal` of files taken mid-transaction or after a power cut
//!   (a whole-file rollback to nothing: the hot journal, or the WAL frames a checkpoint was
//!   copying, are gone, and the pages already written stay).
//!
//! Restoring *all* files from one copy is a consistent crash state and IS asserted, as are
//! splices at another offset or from another file, flips, zeroing, truncation and
//! checksum fixing.
//!
//! Rollback-journal histories run with `synchronous=FULL`: under `NORMAL` a damaged record
//! inside a hot journal's count is indistinguishable from a torn write (documented), so a
//! playback stopped there leaves a mix. WAL histories run with `FULL` or `NORMAL`.
#![no_main]

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags};
use sqlvault_vfs::testing::{FaultVfs, Tear};

const HEX: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum FileSel {
    Db,
    Wal,
    Journal,
}

impl FileSel {
    fn idx(self) -> usize {
        self as usize
    }
    fn suffix(self) -> &'static str {
        ["", "-wal", "-journal"][self.idx()]
    }
}

#[derive(Arbitrary, Debug)]
enum RowOp {
    /// INSERT OR REPLACE (key, length of a deterministic blob).
    Put(u8, u16),
    /// UPDATE rows with k >= key to a new blob length.
    Update(u8, u16),
    Delete(u8),
}

#[derive(Arbitrary, Debug)]
enum End {
    Commit,
    Rollback,
    /// Left open: the next transaction's BEGIN fails and its ops join this one.
    Open,
}

#[derive(Arbitrary, Debug)]
enum Step {
    Txn {
        ops: Vec<RowOp>,
        /// Copy the files after this many ops (mid-transaction).
        copy_mid: Option<u8>,
        end: End,
    },
    Vacuum,
    Checkpoint(u8),
    Copy,
}

#[derive(Arbitrary, Debug)]
enum Source {
    /// The live files, connection still open.
    Live,
    /// After the connection closed.
    Closed,
    /// The n-th copy (mod count).
    Copy(u8),
    /// A power cut at the n-th write/sync/truncate, `tear` sectors of the last write kept.
    PowerCut(u16, u8),
}

#[derive(Arbitrary, Debug)]
enum Edit {
    Flip {
        file: FileSel,
        off: u32,
        mask: u8,
    },
    Zero {
        file: FileSel,
        off: u32,
        len: u16,
    },
    Truncate {
        file: FileSel,
        len: u32,
    },
    /// Bytes from a copy. `unit`: `src` and `dst` count sealed page images (database
    /// pages, WAL frame pages, journal record pages) and one page is copied.
    Splice {
        copy: u8,
        from: FileSel,
        to: FileSel,
        src: u32,
        dst: u32,
        len: u16,
        unit: bool,
    },
    /// Recompute the WAL header and frame checksums over the bytes on disk (unkeyed).
    FixWalChecksums,
    /// Replace one file by (or add it from) an older copy. Known limit.
    Replace {
        copy: u8,
        file: FileSel,
    },
    /// Replace every file by one copy: a consistent crash state.
    RestoreAll {
        copy: u8,
    },
    Drop(FileSel),
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// 0..3: DELETE, TRUNCATE, PERSIST, WAL.
    mode: u8,
    big_pages: bool,
    wal_normal: bool,
    autocheckpoint: u8,
    steps: Vec<Step>,
    source: Source,
    edits: Vec<Edit>,
}

type Files = [Option<Vec<u8>>; 3];

#[derive(Clone)]
struct Snap {
    files: Files,
    /// Taken while a transaction was open (a kill mid-transaction).
    in_txn: bool,
}

/// Schema rows, (k, n, v) rows, and the index in its order (n, k).
type Dump = (Vec<String>, Vec<(i64, i64, SqlValue)>, Vec<(i64, i64)>);

fn fault() -> &'static FaultVfs {
    static F: OnceLock<FaultVfs> = OnceLock::new();
    F.get_or_init(|| {
        let f = FaultVfs::register("ke-faulty");
        sqlvault_vfs::register("ke-sqlvault-faulty", Some("ke-faulty"), false).unwrap();
        f
    })
}

fn blob(k: u8, len: u16, salt: u32) -> Vec<u8> {
    let mut x = (u32::from(k) << 16) ^ u32::from(len) ^ salt.wrapping_mul(0x9e37_79b9) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn dump(conn: &Connection) -> rusqlite::Result<Dump> {
    let mut s = conn
        .prepare("SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_schema ORDER BY name")?;
    let schema = s
        .query_map([], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    let mut s = conn.prepare("SELECT k, n, v FROM t ORDER BY k")?;
    let rows = s
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    let index = match conn.prepare("SELECT n, k FROM t INDEXED BY tn ORDER BY n, k") {
        Ok(mut s) => s
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?,
        // No index in the schema: the dump differs from every committed state anyway.
        Err(_) => Vec::new(),
    };
    Ok((schema, rows, index))
}

fn read_files(base: &Path) -> Files {
    [FileSel::Db, FileSel::Wal, FileSel::Journal]
        .map(|f| std::fs::read(format!("{}{}", base.display(), f.suffix())).ok())
}

fn write_files(base: &Path, files: &Files) {
    for f in [FileSel::Db, FileSel::Wal, FileSel::Journal] {
        let p = format!("{}{}", base.display(), f.suffix());
        match &files[f.idx()] {
            Some(b) => std::fs::write(&p, b).unwrap(),
            None => {
                let _ = std::fs::remove_file(&p);
            }
        }
    }
}

/// SQLite's WAL checksum over `data` (a multiple of 8 bytes), continuing from `s`.
fn wal_cksum(big_endian: bool, data: &[u8], s: (u32, u32)) -> (u32, u32) {
    let (mut s1, mut s2) = s;
    for w in data.chunks_exact(8) {
        let rd = |b: &[u8]| {
            let a = [b[0], b[1], b[2], b[3]];
            if big_endian {
                u32::from_be_bytes(a)
            } else {
                u32::from_le_bytes(a)
            }
        };
        s1 = s1.wrapping_add(rd(&w[0..4])).wrapping_add(s2);
        s2 = s2.wrapping_add(rd(&w[4..8])).wrapping_add(s1);
    }
    (s1, s2)
}

fn fix_wal_checksums(wal: &mut [u8]) {
    if wal.len() < 32 {
        return;
    }
    let magic = u32::from_be_bytes(wal[0..4].try_into().unwrap());
    let be = magic & 1 == 1;
    let put = |b: &mut [u8], v: u32| b.copy_from_slice(&v.to_be_bytes());
    let page = u32::from_be_bytes(wal[8..12].try_into().unwrap()) as usize;
    let mut s = wal_cksum(be, &wal[0..24], (0, 0));
    put(&mut wal[24..28], s.0);
    put(&mut wal[28..32], s.1);
    if !(512..=65536).contains(&page) || !page.is_power_of_two() {
        return;
    }
    let mut off = 32;
    while off + 24 + page <= wal.len() {
        s = wal_cksum(be, &wal[off..off + 8], s);
        s = wal_cksum(be, &wal[off + 24..off + 24 + page], s);
        put(&mut wal[off + 16..off + 20], s.0);
        put(&mut wal[off + 20..off + 24], s.1);
        off += 24 + page;
    }
}

fn open_faulty(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags_and_vfs(path, OpenFlags::default(), "ke-sqlvault-faulty")?;
    conn.execute_batch(&format!("PRAGMA hexkey = '{HEX}'"))?;
    Ok(conn)
}

/// Opens the attacked files with the key and reads everything: the dump, and whether
/// `PRAGMA integrity_check` said ok. `Err`: any refusal.
fn verify(path: &Path) -> Result<(Dump, Vec<String>), String> {
    let key = sqlvault_vfs::DatabaseKey::resolve(
        path,
        &sqlvault_vfs::Key::Raw(sqlvault_vfs::MasterKey::from_hex(HEX).unwrap()),
        sqlvault_vfs::Argon2Params::INSECURE_FOR_TESTS,
    )
    .map_err(|e| format!("resolve: {e}"))?;
    let conn =
        sqlvault_vfs::open_connection(path, &key, OpenFlags::default()).map_err(|e| format!("open: {e}"))?;
    let d = dump(&conn).map_err(|e| format!("dump: {}", sqlvault_vfs::classify_error(&conn, e)))?;
    let mut s = conn
        .prepare("PRAGMA integrity_check")
        .map_err(|e| format!("ic: {e}"))?;
    let ic = s
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(|m| m.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("integrity_check: {}", sqlvault_vfs::classify_error(&conn, e)))?;
    // A page the VFS refused (SQLITE_CORRUPT from a tampered or missing page) is a clear
    // error too, even when only integrity_check reads it (a free page, say).
    let refused = |l: &String| l.contains("error code=11") || l == "*** in database main ***";
    if ic
        .iter()
        .flat_map(|l| l.lines().map(str::to_owned))
        .all(|l| refused(&l))
        && ic != ["ok"]
    {
        return Err(format!("integrity_check: pages refused: {ic:?}"));
    }
    Ok((d, ic))
}

/// Where the `i`-th (mod count) sealed page image of `file` starts.
fn unit_offset(file: FileSel, b: &[u8], i: u32, page: usize) -> Option<usize> {
    let (first, stride) = match file {
        FileSel::Db => (0, page),
        FileSel::Wal => (32 + 24, page + 24),
        FileSel::Journal => {
            let sector = u32::from_be_bytes(b.get(20..24)?.try_into().ok()?) as usize;
            let sector = if (512..=65536).contains(&sector) {
                sector
            } else {
                512
            };
            (sector + 4, page + 8)
        }
    };
    if b.len() < first + page {
        return None;
    }
    let count = (b.len() - first - page) / stride + 1;
    Some(first + (i as usize % count) * stride)
}

/// Whether copying `s[so..so + n]` to the database at `dof` puts a sealed image of some
/// database page P exactly at P's own place: a page of the database file at the same
/// offset, or a WAL frame / journal record page whose header names P (a checkpoint or a
/// playback stores exactly those bytes, so they authenticate there). Over-approximates
/// for the logs (any 4 bytes naming P at the right distance count).
fn puts_page_home(from: FileSel, s: &[u8], so: usize, dof: usize, n: usize, page: usize) -> bool {
    let first = dof.div_ceil(page) * page;
    let mut at = first;
    while at + page <= dof + n {
        let x = so + (at - dof);
        let pgno = (at / page + 1) as u32;
        let names = |back: usize| {
            x >= back
                && s.get(x - back..x - back + 4)
                    .is_some_and(|w| u32::from_be_bytes(w.try_into().unwrap()) == pgno)
        };
        let home = match from {
            FileSel::Db => x == at,
            FileSel::Wal => names(24) || names(4),
            FileSel::Journal => names(4),
        };
        if home {
            return true;
        }
        at += page;
    }
    false
}

fn scale(x: u32, len: usize) -> usize {
    if len == 0 { 0 } else { x as usize % len }
}

fuzz_target!(|input: Input| {
    if input.steps.len() > 24 || input.edits.len() > 8 {
        return;
    }
    if input
        .steps
        .iter()
        .any(|s| matches!(s, Step::Txn { ops, .. } if ops.len() > 12))
    {
        return;
    }
    let fault = fault();
    fault.disarm();
    let dir = if Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm").unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let path = dir.path().join("h.db");
    let wal = input.mode % 4 == 3;
    let mode = ["DELETE", "TRUNCATE", "PERSIST", "WAL"][usize::from(input.mode % 4)];
    let page = if input.big_pages { 1024 } else { 512 };
    let sync = if wal && input.wal_normal { "NORMAL" } else { "FULL" };
    let power_cut = match input.source {
        Source::PowerCut(n, tear) => Some((n, tear)),
        _ => None,
    };

    let mut states: Vec<Dump> = Vec::new();
    let mut copies: Vec<Snap> = Vec::new();
    let live;
    {
        let conn = open_faulty(&path).unwrap();
        conn.execute_batch(&format!(
            "PRAGMA page_size={page}; PRAGMA journal_mode={mode}; PRAGMA synchronous={sync};
             PRAGMA cache_size=2; PRAGMA wal_autocheckpoint={};
             BEGIN; CREATE TABLE t(k INTEGER PRIMARY KEY, n INTEGER, v BLOB);
             CREATE INDEX tn ON t(n); COMMIT;",
            input.autocheckpoint % 16
        ))
        .unwrap();
        states.push(dump(&conn).unwrap());
        if let Some((n, _)) = power_cut {
            fault.arm(u64::from(n) + 1);
        }
        let mut salt = 0u32;
        let mut in_txn = false;
        for step in &input.steps {
            if fault.failed() {
                break;
            }
            match step {
                Step::Txn { ops, copy_mid, end } => {
                    if conn.execute_batch("BEGIN").is_ok() {
                        in_txn = true;
                    }
                    for (i, op) in ops.iter().enumerate() {
                        salt += 1;
                        let _ = match *op {
                            RowOp::Put(k, len) => conn.execute(
                                "INSERT OR REPLACE INTO t VALUES (?1, ?2, ?3)",
                                rusqlite::params![k, len % 2500, blob(k, len % 2500, salt)],
                            ),
                            RowOp::Update(k, len) => conn.execute(
                                "UPDATE t SET n = ?2, v = ?3 || k WHERE k >= ?1",
                                rusqlite::params![k, len % 2500, blob(k, len % 2500, salt)],
                            ),
                            RowOp::Delete(k) => {
                                conn.execute("DELETE FROM t WHERE k <= ?1 AND k % 3 = ?1 % 3", [k])
                            }
                        };
                        if *copy_mid == Some(i as u8) {
                            copies.push(Snap {
                                files: read_files(&path),
                                in_txn,
                            });
                        }
                    }
                    match end {
                        End::Commit => {
                            let pending = dump(&conn).ok();
                            let ok = conn.execute_batch("COMMIT").is_ok();
                            if let Some(p) = pending
                                && (ok || in_txn)
                            {
                                states.push(p);
                            }
                            in_txn = !conn.is_autocommit();
                        }
                        End::Rollback => {
                            let _ = conn.execute_batch("ROLLBACK");
                            in_txn = !conn.is_autocommit();
                        }
                        End::Open => {}
                    }
                }
                Step::Vacuum => {
                    if !in_txn {
                        let _ = conn.execute_batch("VACUUM");
                    }
                }
                Step::Checkpoint(m) => {
                    let m = ["PASSIVE", "FULL", "RESTART", "TRUNCATE"][usize::from(m % 4)];
                    let _ = conn.query_row(&format!("PRAGMA wal_checkpoint({m})"), [], |_| Ok(()));
                }
                Step::Copy => copies.push(Snap {
                    files: read_files(&path),
                    in_txn,
                }),
            }
        }
        live = Snap {
            files: read_files(&path),
            in_txn,
        };
        drop(conn);
    }
    let (mut files, mut unsafe_drop) = match input.source {
        Source::Live => (live.files.clone(), live.in_txn),
        Source::Closed => (read_files(&path), false),
        Source::Copy(i) if !copies.is_empty() => {
            let s = &copies[usize::from(i) % copies.len()];
            (s.files.clone(), s.in_txn)
        }
        Source::Copy(_) => (live.files.clone(), live.in_txn),
        Source::PowerCut(_, tear) => {
            let tear = if tear % 2 == 0 {
                Tear::None
            } else {
                Tear::Sectors(usize::from(tear / 2 % 4) + 1)
            };
            fault.power_cut(tear).unwrap();
            (read_files(&path), true)
        }
    };
    fault.disarm();
    copies.push(live);

    // The attack.
    let mut known_limit = false;
    for edit in &input.edits {
        match *edit {
            Edit::Flip { file, off, mask } => {
                if let Some(b) = &mut files[file.idx()]
                    && !b.is_empty()
                {
                    let o = scale(off, b.len());
                    b[o] ^= mask.max(1);
                }
            }
            Edit::Zero { file, off, len } => {
                if let Some(b) = &mut files[file.idx()] {
                    let o = scale(off, b.len());
                    let e = (o + usize::from(len)).min(b.len());
                    b[o..e].fill(0);
                }
            }
            Edit::Truncate { file, len } => {
                if let Some(b) = &mut files[file.idx()] {
                    let l = scale(len, b.len() + 1);
                    b.truncate(l);
                }
            }
            Edit::Splice {
                copy,
                from,
                to,
                src,
                dst,
                len,
                unit,
            } => {
                let c = &copies[usize::from(copy) % copies.len()];
                if let (Some(s), Some(d)) = (&c.files[from.idx()], &mut files[to.idx()])
                    && !s.is_empty()
                    && !d.is_empty()
                {
                    let (so, dof, n) = if unit {
                        match (unit_offset(from, s, src, page), unit_offset(to, d, dst, page)) {
                            (Some(a), Some(b)) => (a, b, page.min(s.len() - a).min(d.len() - b)),
                            _ => continue,
                        }
                    } else {
                        let so = scale(src, s.len());
                        let dof = scale(dst, d.len());
                        (so, dof, usize::from(len).min(s.len() - so).min(d.len() - dof))
                    };
                    if from == to && so == dof {
                        // An older version of the same bytes at the same place.
                        known_limit = true;
                    }
                    if to == FileSel::Db && puts_page_home(from, s, so, dof, n, page) {
                        known_limit = true;
                    }
                    d[dof..dof + n].copy_from_slice(&s[so..so + n]);
                }
            }
            Edit::FixWalChecksums => {
                if let Some(b) = &mut files[FileSel::Wal.idx()] {
                    fix_wal_checksums(b);
                }
            }
            Edit::Replace { copy, file } => {
                let c = &copies[usize::from(copy) % copies.len()];
                if files[file.idx()] != c.files[file.idx()] {
                    known_limit = true;
                    files[file.idx()] = c.files[file.idx()].clone();
                }
            }
            Edit::RestoreAll { copy } => {
                let c = &copies[usize::from(copy) % copies.len()];
                files = c.files.clone();
                unsafe_drop = c.in_txn;
            }
            Edit::Drop(file) => {
                if file != FileSel::Db
                    && files[file.idx()].take().is_some_and(|b| !b.is_empty())
                    && unsafe_drop
                {
                    known_limit = true;
                }
            }
        }
    }

    let vdir = dir.path().join("v");
    std::fs::create_dir(&vdir).unwrap();
    let vpath = vdir.join("h.db");
    write_files(&vpath, &files);
    let outcome = verify(&vpath);
    if std::env::var_os("KEYLESS_STATS").is_some() {
        // Outcome classes, to see what the corpus exercises (`-runs=0` over it).
        let class = match &outcome {
            Err(e) => format!("err {e}"),
            Ok((d, _)) if states.contains(d) => format!(
                "state {}/{}",
                states.iter().position(|s| s == d).unwrap(),
                states.len()
            ),
            Ok(_) => "other".into(),
        };
        eprintln!(
            "KEYLESS {mode} known_limit={known_limit} edits={} {class}",
            input.edits.len()
        );
    }
    if known_limit {
        return;
    }
    if let Ok((d, ic)) = outcome {
        assert_eq!(ic, ["ok"], "integrity_check after keyless edits ({mode}, {sync})");
        if !states.contains(&d) {
            let len = |v: &SqlValue| match v {
                SqlValue::Blob(b) => b.len(),
                SqlValue::Text(t) => t.len(),
                _ => 0,
            };
            let summary = |d: &Dump| d.1.iter().map(|r| (r.0, r.1, len(&r.2))).collect::<Vec<_>>();
            let all: HashMap<usize, _> = states.iter().map(summary).enumerate().collect();
            panic!(
                "opened to a state no transaction committed ({mode}, {sync}):\n got {:?}\n schema {:?}\n committed {all:?}",
                summary(&d),
                d.0
            );
        }
    }
});
