//! The workload benchmarks of issue 3, shared by every engine under test.
//!
//! This file is plain Rust over rusqlite and nothing else, so that two benchmark programs that
//! cannot link into one binary (plain SQLite and sqlvault in `sqlvault-benches`, SQLCipher 4 in
//! the separate workspace `benches/sqlcipher/`) run literally the same code. Each includes it with
//! `#[path = "…/workloads/mod.rs"] mod workloads;`.
//!
//! The only thing an engine contributes is an [`Opener`]: a closure that opens (creating if
//! absent) a `rusqlite::Connection` on a path, having done whatever the engine needs before the
//! first page is read (register a VFS, `PRAGMA key`, …). Everything after that — the settings, the
//! schema, the data, the statements — is here and identical for all engines.
//!
//! # Settings
//!
//! Every connection gets [`SETTINGS`] right after it is opened:
//!
//! ```text
//! PRAGMA journal_mode = WAL;     -- checked: the pragma must answer "wal"
//! PRAGMA synchronous = NORMAL;   -- fsync only at checkpoints, not at every commit
//! PRAGMA cache_size = -2000;     -- SQLite's default page cache: 2000 KiB per connection
//! PRAGMA mmap_size = 0;          -- SQLite's default; an encrypted VFS must not map pages anyway
//! ```
//!
//! The page size is each engine's default for a new database and is checked to be 4096 (plain
//! SQLite and SQLCipher 4 both use 4096; sqlvault keeps SQLite's default). Engines do differ in
//! the reserved bytes at the end of every page (0 for plain SQLite, 80 for SQLCipher 4, 32 for
//! sqlvault), so the same rows take slightly more pages in the encrypted files; that cost is part of
//! what is being measured.
//!
//! # Workloads
//!
//! One database per engine, `items(id INTEGER PRIMARY KEY, body TEXT NOT NULL)` holding
//! [`Config::rows`] rows (200 000 in the benchmark) of 90–110 random alphanumeric bytes (100 on
//! average), built by [`create_database`] in transactions of 1000 rows and then checkpointed into
//! the main file. Data and access patterns come from a fixed seed, so every engine sees the same
//! rows and the same sequence of random rowids.
//!
//! | workload                 | one iteration                                              |
//! |--------------------------|------------------------------------------------------------|
//! | [`batched_inserts`]      | one transaction inserting 1000 new rows                    |
//! | [`point_selects`]        | one `SELECT body … WHERE id = ?` on a random rowid          |
//! | [`full_scans`]           | one `SELECT id, body FROM items` reading all rows           |
//! | [`update_transactions`]  | 5000 transactions, each updating one random row            |
//!
//! Each workload function has the shape criterion's `iter_custom` wants: it gets an iteration
//! count and returns the time spent in exactly those iterations. Opening the connection, warming
//! its cache and undoing the inserts are done outside the timed region.
//!
//! # Cache misses in the point selects
//!
//! The point-select workload is meant to measure the cost of fetching (and, for an encrypted
//! engine, decrypting) a page that is not in SQLite's page cache. The misses come from the ratio
//! of database size to cache size, not from a shrunken cache: 200 000 rows of ~100 bytes need
//! about 110 bytes per cell (record header, rowid varint, cell pointer), so ~36 rows per 4 KiB leaf
//! and ~5600 leaf pages (~22 MiB), while `cache_size = -2000` holds 2000 KiB — about 470 pages once
//! SQLite's per-page header is counted. Interior pages (a few dozen) stay hot; a uniformly random
//! rowid finds its leaf in the cache with probability below 10%, so more than nine selects in ten
//! read a page from the file.
//!
//! rusqlite exposes no safe wrapper for `sqlite3_db_status(SQLITE_DBSTATUS_CACHE_MISS)`, and this
//! crate keeps `unsafe` out of the benchmarks, so [`measure_point_select_misses`] counts the misses
//! from the outside instead: the process's read system calls (`syscr` in `/proc/self/io`) during a
//! run of point selects. SQLite's unix VFS issues one `pread` per page it does not have cached (mmap
//! is off, and in WAL mode the wal-index is shared memory, read without system calls), and so do
//! SQLCipher and sqlvault, so reads per select is the miss rate. The benchmark prints it for every
//! engine before timing anything.

use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use rand::distr::{Alphanumeric, SampleString};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use rusqlite::Connection;

/// Any error a workload or an opener can return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The result type of the workload functions.
pub type Result<T> = std::result::Result<T, BoxError>;

/// Opens, creating it if absent, a connection to the database file at a path.
///
/// Implemented by every `Fn(&Path) -> Result<Connection>` closure or function. The opener does only
/// what is specific to its engine (register a VFS, give the key); the workloads apply [`SETTINGS`]
/// themselves.
pub trait Opener: Fn(&Path) -> Result<Connection> {}

impl<F: Fn(&Path) -> Result<Connection> + ?Sized> Opener for F {}

/// The PRAGMAs every connection runs right after it is opened, in this order.
///
/// `journal_mode` is applied separately by [`apply_settings`] because it answers with the mode
/// that is in force, which is checked.
pub const SETTINGS: &[&str] = &[
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA cache_size = -2000",
    "PRAGMA mmap_size = 0",
];

/// The page size every engine must end up with, so that page counts are comparable.
pub const EXPECTED_PAGE_SIZE: u32 = 4096;

/// Sizes of the workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Rows in `items` before any workload runs.
    pub rows: u64,
    /// Rows inserted per transaction, both when building the database and in [`batched_inserts`].
    pub insert_batch: u64,
    /// Single-row update transactions per iteration of [`update_transactions`].
    pub updates_per_iteration: u64,
    /// Untimed random point selects that fill the page cache before [`point_selects`] is timed.
    pub warm_up_selects: u64,
    /// Seed of the generator for row text and rowids.
    pub seed: u64,
}

impl Config {
    /// The sizes issue 3 prescribes: 200 000 rows, 1000-row insert transactions, 5000 single-row
    /// update transactions.
    pub const ISSUE_3: Config = Config {
        rows: 200_000,
        insert_batch: 1000,
        updates_per_iteration: 5000,
        warm_up_selects: 5000,
        seed: 0x5EED_0003,
    };
}

/// The raw 256-bit key the encrypted engines are opened with, so that no key derivation is
/// timed: SQLCipher takes it as `PRAGMA key = "x'…'"` (its raw-key form skips PBKDF2), sqlvault as
/// a raw master key. A benchmark key, not a secret.
pub const BENCH_KEY: [u8; 32] = [
    0x2d, 0xd2, 0x9c, 0xa8, 0x51, 0xe7, 0xb5, 0x6e, 0x48, 0x97, 0xb5, 0x15, 0xc0, 0x4b, 0x6a, 0x26, 0x96,
    0x5d, 0x08, 0x2f, 0x73, 0x41, 0x9c, 0x3b, 0x0a, 0x6e, 0x54, 0x11, 0x8c, 0xd2, 0x7f, 0xe9,
];

/// [`BENCH_KEY`] as 64 lower-case hex digits.
pub fn bench_key_hex() -> String {
    BENCH_KEY.iter().map(|b| format!("{b:02x}")).collect()
}

/// The random generator behind row text and rowids: xoshiro256++, a named algorithm, so that
/// every engine's benchmark (built in two workspaces) draws the same sequence from the same seed.
pub type WorkloadRng = Xoshiro256PlusPlus;

/// A generator for one workload, seeded from [`Config::seed`] and a per-workload `stream` number
/// so that workloads do not replay each other's rowids.
pub fn workload_rng(config: &Config, stream: u64) -> WorkloadRng {
    WorkloadRng::seed_from_u64(config.seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// The text of one row: 90 to 110 random alphanumeric bytes, 100 on average.
pub fn row_text(rng: &mut WorkloadRng) -> String {
    let len = rng.random_range(90..=110);
    Alphanumeric.sample_string(rng, len)
}

/// The settings of a connection as SQLite reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `PRAGMA journal_mode`, lower case.
    pub journal_mode: String,
    /// `PRAGMA synchronous`: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA.
    pub synchronous: i64,
    /// `PRAGMA cache_size`: pages if positive, KiB if negative.
    pub cache_size: i64,
    /// `PRAGMA mmap_size` in bytes.
    pub mmap_size: i64,
    /// `PRAGMA page_size` in bytes.
    pub page_size: u32,
}

/// Applies [`SETTINGS`] to a freshly opened connection and checks that they took effect.
///
/// # Errors
///
/// A SQLite error, or a setting that did not take (e.g. a VFS without shared memory refusing WAL).
pub fn apply_settings(conn: &Connection) -> Result<()> {
    for pragma in SETTINGS {
        // Some of these pragmas answer with a row; execute_batch steps once and ignores it.
        conn.execute_batch(pragma)?;
    }
    let settings = read_settings(conn)?;
    let wanted = Settings {
        journal_mode: "wal".to_owned(),
        synchronous: 1,
        cache_size: -2000,
        mmap_size: 0,
        page_size: settings.page_size,
    };
    if settings != wanted {
        return Err(format!("settings did not take: wanted {wanted:?}, got {settings:?}").into());
    }
    Ok(())
}

/// Reads the settings of `conn` back from SQLite.
///
/// # Errors
///
/// A SQLite error.
pub fn read_settings(conn: &Connection) -> Result<Settings> {
    // SQLCipher answers some of these (page_size: its cipher_page_size) as text, so accept both.
    let int = |pragma: &str| -> Result<i64> {
        let value: rusqlite::types::Value =
            conn.query_row(&format!("PRAGMA {pragma}"), [], |row| row.get(0))?;
        match value {
            rusqlite::types::Value::Integer(n) => Ok(n),
            rusqlite::types::Value::Text(text) => Ok(text.trim().parse()?),
            other => Err(format!("PRAGMA {pragma} answered {other:?}").into()),
        }
    };
    let journal_mode: String = conn.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
    Ok(Settings {
        journal_mode: journal_mode.to_ascii_lowercase(),
        synchronous: int("synchronous")?,
        cache_size: int("cache_size")?,
        mmap_size: int("mmap_size")?,
        page_size: u32::try_from(int("page_size")?)?,
    })
}

/// Opens `path` with `open` and applies [`SETTINGS`].
///
/// # Errors
///
/// Whatever the opener returns, or an error of [`apply_settings`].
pub fn open_with_settings<O: Opener + ?Sized>(open: &O, path: &Path) -> Result<Connection> {
    let conn = open(path)?;
    apply_settings(&conn)?;
    Ok(conn)
}

/// The size of a benchmark database, compared with the page cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Rows in `items`.
    pub rows: u64,
    /// `PRAGMA page_size`.
    pub page_size: u32,
    /// `PRAGMA page_count` after the build was checkpointed.
    pub page_count: u64,
    /// The most pages the page cache can hold: the cache budget (`cache_size`, in KiB when
    /// negative) divided by the page size. SQLite also charges a per-page header to the budget, so
    /// the real number is somewhat lower.
    pub cache_pages_at_most: u64,
}

impl Shape {
    /// How many times the database is larger than the page cache can hold (at least).
    pub fn size_over_cache(&self) -> f64 {
        self.page_count as f64 / self.cache_pages_at_most.max(1) as f64
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} rows in {} pages of {} bytes ({:.1} MiB); cache holds at most {} pages, {:.1}x less",
            self.rows,
            self.page_count,
            self.page_size,
            (self.page_count * u64::from(self.page_size)) as f64 / (1024.0 * 1024.0),
            self.cache_pages_at_most,
            self.size_over_cache(),
        )
    }
}

/// Measures the [`Shape`] of the database `conn` is connected to.
///
/// # Errors
///
/// A SQLite error.
pub fn shape(conn: &Connection) -> Result<Shape> {
    let settings = read_settings(conn)?;
    let page_count: i64 = conn.query_row("PRAGMA page_count", [], |row| row.get(0))?;
    let rows: i64 = conn.query_row("SELECT count(*) FROM items", [], |row| row.get(0))?;
    let cache_bytes = if settings.cache_size < 0 {
        settings.cache_size.unsigned_abs() * 1024
    } else {
        settings.cache_size.unsigned_abs() * u64::from(settings.page_size)
    };
    Ok(Shape {
        rows: u64::try_from(rows)?,
        page_size: settings.page_size,
        page_count: u64::try_from(page_count)?,
        cache_pages_at_most: cache_bytes / u64::from(settings.page_size),
    })
}

/// Inserts one row per text into `items` in one transaction.
fn insert_batch(conn: &Connection, texts: &[String]) -> Result<()> {
    let tx = conn.unchecked_transaction()?;
    {
        let mut insert = tx.prepare_cached("INSERT INTO items(body) VALUES (?1)")?;
        for text in texts {
            insert.execute([text])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Builds the benchmark database at `path`, which must not exist yet: `items` with
/// [`Config::rows`] rows inserted in transactions of [`Config::insert_batch`] rows, then a
/// `wal_checkpoint(TRUNCATE)` so that every workload starts with the data in the main file.
///
/// # Errors
///
/// `path` exists, a SQLite error, a page size other than [`EXPECTED_PAGE_SIZE`], or a checkpoint
/// that could not complete.
pub fn create_database<O: Opener + ?Sized>(open: &O, path: &Path, config: &Config) -> Result<Shape> {
    if path.exists() {
        return Err(format!("{} already exists", path.display()).into());
    }
    let conn = open_with_settings(open, path)?;
    conn.execute_batch("CREATE TABLE items(id INTEGER PRIMARY KEY, body TEXT NOT NULL)")?;
    let page_size = read_settings(&conn)?.page_size;
    if page_size != EXPECTED_PAGE_SIZE {
        return Err(format!("page size is {page_size}, expected {EXPECTED_PAGE_SIZE}").into());
    }
    let mut rng = workload_rng(config, 0);
    let mut left = config.rows;
    while left > 0 {
        let n = left.min(config.insert_batch.max(1));
        let texts: Vec<String> = (0..n).map(|_| row_text(&mut rng)).collect();
        insert_batch(&conn, &texts)?;
        left -= n;
    }
    let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))?;
    if busy != 0 {
        return Err("wal_checkpoint(TRUNCATE) could not complete".into());
    }
    shape(&conn)
}

/// (a) Batched inserts: each iteration is one transaction that appends [`Config::insert_batch`]
/// rows to `items`. Returns the time spent in those transactions.
///
/// The row text is generated before the clock starts, and after each iteration the new rows are
/// deleted again and the WAL checkpointed, untimed, so that every iteration meets the same
/// database (the freed pages go to the freelist and the next batch reuses them) and the same empty
/// WAL. Checkpoint cost is therefore not part of this workload; it is part of
/// [`update_transactions`].
///
/// # Errors
///
/// An error of the opener or of SQLite.
pub fn batched_inserts<O: Opener + ?Sized>(
    open: &O,
    path: &Path,
    config: &Config,
    rng: &mut WorkloadRng,
    iters: u64,
) -> Result<Duration> {
    let conn = open_with_settings(open, path)?;
    let last = last_id(config)?;
    let mut elapsed = Duration::ZERO;
    for _ in 0..iters {
        let texts: Vec<String> = (0..config.insert_batch).map(|_| row_text(rng)).collect();
        let start = Instant::now();
        insert_batch(&conn, &texts)?;
        elapsed += start.elapsed();
        let deleted = conn.execute("DELETE FROM items WHERE id > ?1", [last])?;
        if deleted as u64 != config.insert_batch {
            return Err(format!("inserted {} rows, found {deleted}", config.insert_batch).into());
        }
        // Checkpoint now, untimed, so that no timed batch ever pays for an automatic checkpoint
        // (with synchronous=NORMAL that is where the fsyncs are): one batch writes a few dozen
        // WAL frames, far below the 1000-frame autocheckpoint, so every batch starts from the
        // same empty WAL. update_transactions is where checkpoint cost is measured.
        let (busy, log, done): (i64, i64, i64) = conn.query_row("PRAGMA wal_checkpoint", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        if busy != 0 || log != done {
            return Err(format!("checkpoint incomplete: busy {busy}, {done} of {log} frames").into());
        }
    }
    Ok(elapsed)
}

/// The largest rowid of the initial rows (rowids run from 1 to [`Config::rows`]).
fn last_id(config: &Config) -> Result<i64> {
    Ok(i64::try_from(config.rows)?)
}

/// Reads the body of row `id`, returning its length.
fn select_one(select: &mut rusqlite::CachedStatement<'_>, id: i64) -> Result<usize> {
    let len = select.query_row([id], |row| Ok(row.get_ref(0)?.as_str()?.len()))?;
    Ok(len)
}

/// (b) Point selects: each iteration is one `SELECT body FROM items WHERE id = ?` on a uniformly
/// random rowid of the initial rows. Returns the time spent in those selects.
///
/// The connection's cache is first filled with [`Config::warm_up_selects`] untimed selects, so
/// the timed ones run at the steady-state miss rate (see the module docs for why it is high, and
/// [`measure_point_select_misses`] for the measurement).
///
/// # Errors
///
/// An error of the opener or of SQLite, or a missing row.
pub fn point_selects<O: Opener + ?Sized>(
    open: &O,
    path: &Path,
    config: &Config,
    rng: &mut WorkloadRng,
    iters: u64,
) -> Result<Duration> {
    let conn = open_with_settings(open, path)?;
    let last = last_id(config)?;
    let mut select = conn.prepare_cached("SELECT body FROM items WHERE id = ?1")?;
    for _ in 0..config.warm_up_selects {
        select_one(&mut select, rng.random_range(1..=last))?;
    }
    let ids: Vec<i64> = (0..iters).map(|_| rng.random_range(1..=last)).collect();
    let mut total_len = 0;
    let start = Instant::now();
    for id in ids {
        total_len += select_one(&mut select, id)?;
    }
    let elapsed = start.elapsed();
    std::hint::black_box(total_len);
    Ok(elapsed)
}

/// (c) Full-table scans: each iteration is one `SELECT id, body FROM items` that steps through
/// every row and reads its text. Returns the time spent scanning.
///
/// # Errors
///
/// An error of the opener or of SQLite, or a scan that did not see [`Config::rows`] rows.
pub fn full_scans<O: Opener + ?Sized>(
    open: &O,
    path: &Path,
    config: &Config,
    iters: u64,
) -> Result<Duration> {
    let conn = open_with_settings(open, path)?;
    let mut scan = conn.prepare_cached("SELECT id, body FROM items")?;
    let mut elapsed = Duration::ZERO;
    for _ in 0..iters {
        let start = Instant::now();
        let mut rows = scan.query([])?;
        let (mut count, mut total_len) = (0_u64, 0_usize);
        while let Some(row) = rows.next()? {
            let _id: i64 = row.get(0)?;
            total_len += row.get_ref(1)?.as_str()?.len();
            count += 1;
        }
        elapsed += start.elapsed();
        std::hint::black_box(total_len);
        if count != config.rows {
            return Err(format!("scan saw {count} rows, expected {}", config.rows).into());
        }
    }
    Ok(elapsed)
}

/// (d) Small transactions: each iteration is [`Config::updates_per_iteration`] transactions, each
/// an autocommit `UPDATE items SET body = ? WHERE id = ?` of one random row with new text of the
/// same length distribution. Returns the time spent in those transactions, including the WAL
/// checkpoints SQLite runs automatically on commit.
///
/// # Errors
///
/// An error of the opener or of SQLite, or an update that changed no row.
pub fn update_transactions<O: Opener + ?Sized>(
    open: &O,
    path: &Path,
    config: &Config,
    rng: &mut WorkloadRng,
    iters: u64,
) -> Result<Duration> {
    let conn = open_with_settings(open, path)?;
    let last = last_id(config)?;
    let mut update = conn.prepare_cached("UPDATE items SET body = ?2 WHERE id = ?1")?;
    let mut elapsed = Duration::ZERO;
    for _ in 0..iters {
        let updates: Vec<(i64, String)> = (0..config.updates_per_iteration)
            .map(|_| (rng.random_range(1..=last), row_text(rng)))
            .collect();
        let start = Instant::now();
        for (id, text) in &updates {
            if update.execute(rusqlite::params![id, text])? != 1 {
                return Err(format!("update of row {id} changed nothing").into());
            }
        }
        elapsed += start.elapsed();
    }
    Ok(elapsed)
}

/// How often random point selects miss the page cache, as counted by [`measure_point_select_misses`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MissReport {
    /// The database the selects ran on.
    pub shape: Shape,
    /// Timed point selects (after the warm-up).
    pub selects: u64,
    /// Read system calls the process made during those selects.
    pub file_reads: u64,
}

impl MissReport {
    /// File reads per select: the fraction of selects that missed the page cache (each miss
    /// reads one leaf page).
    pub fn reads_per_select(&self) -> f64 {
        self.file_reads as f64 / self.selects.max(1) as f64
    }
}

impl fmt::Display for MissReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}; {} random point selects made {} file reads: {:.2} page-cache misses per select",
            self.shape,
            self.selects,
            self.file_reads,
            self.reads_per_select()
        )
    }
}

/// The number of read system calls this process has made (`syscr` in `/proc/self/io`).
///
/// # Errors
///
/// `/proc/self/io` is missing (not Linux) or unreadable.
pub fn read_syscalls() -> Result<u64> {
    let io = std::fs::read_to_string("/proc/self/io")
        .map_err(|e| format!("cannot read /proc/self/io (Linux only): {e}"))?;
    io.lines()
        .find_map(|line| line.strip_prefix("syscr:"))
        .ok_or("no syscr line in /proc/self/io")?
        .trim()
        .parse()
        .map_err(Into::into)
}

/// Runs `selects` random point selects on a warmed connection, as [`point_selects`] does, and
/// counts the file reads they cause (see the module docs). Run it while no other thread of the
/// process does I/O.
///
/// # Errors
///
/// An error of the opener or of SQLite, or of [`read_syscalls`].
pub fn measure_point_select_misses<O: Opener + ?Sized>(
    open: &O,
    path: &Path,
    config: &Config,
    selects: u64,
) -> Result<MissReport> {
    let conn = open_with_settings(open, path)?;
    let last = last_id(config)?;
    let shape = shape(&conn)?;
    let mut rng = workload_rng(config, 2);
    let mut select = conn.prepare_cached("SELECT body FROM items WHERE id = ?1")?;
    for _ in 0..config.warm_up_selects {
        select_one(&mut select, rng.random_range(1..=last))?;
    }
    let ids: Vec<i64> = (0..selects).map(|_| rng.random_range(1..=last)).collect();
    let before = read_syscalls()?;
    for id in ids {
        select_one(&mut select, id)?;
    }
    let file_reads = read_syscalls()? - before;
    Ok(MissReport {
        shape,
        selects,
        file_reads,
    })
}
