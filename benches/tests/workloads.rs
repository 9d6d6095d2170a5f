//! Checks that the shared workload module does what the benchmarks rely on: the settings take,
//! the database has the prescribed shape, and each workload does its work (and refuses to report
//! a time for work it could not do). Runs on plain SQLite with small sizes.

// Tests unwrap: a failure should stop the test with the error in the message.
#![allow(clippy::unwrap_used)]

// The module is shared by several programs, each of which uses only part of it.
#[allow(dead_code)]
#[path = "../workloads/mod.rs"]
mod workloads;

use std::path::Path;

use rusqlite::Connection;
use workloads::{Config, Settings};

fn open_plain(path: &Path) -> workloads::Result<Connection> {
    Ok(Connection::open(path)?)
}

fn small() -> Config {
    Config {
        rows: 3000,
        insert_batch: 100,
        updates_per_iteration: 50,
        warm_up_selects: 100,
        ..Config::ISSUE_3
    }
}

/// Builds a small database in a fresh temp dir and returns both.
fn small_db(config: &Config) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    workloads::create_database(&open_plain, &path, config).unwrap();
    (dir, path)
}

fn bodies_checksum(path: &Path) -> (i64, String) {
    let conn = Connection::open(path).unwrap();
    conn.query_row(
        "SELECT count(*), group_concat(body, '') FROM (SELECT body FROM items ORDER BY id)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

#[test]
fn settings_are_wal_normal_default_cache_no_mmap() {
    let dir = tempfile::tempdir().unwrap();
    let conn = workloads::open_with_settings(&open_plain, &dir.path().join("s.db")).unwrap();
    assert_eq!(
        workloads::read_settings(&conn).unwrap(),
        Settings {
            journal_mode: "wal".into(),
            synchronous: 1,
            cache_size: -2000,
            mmap_size: 0,
            page_size: 4096,
        }
    );
}

#[test]
fn apply_settings_reports_a_journal_mode_that_does_not_take() {
    // SQLite's "unix-dotfile" VFS has no shared memory, so WAL is refused and the database stays
    // in rollback-journal mode: the benchmark must stop rather than measure the wrong mode.
    let dir = tempfile::tempdir().unwrap();
    let conn = Connection::open_with_flags_and_vfs(
        dir.path().join("dotfile.db"),
        rusqlite::OpenFlags::default(),
        c"unix-dotfile",
    )
    .unwrap();
    let err = workloads::apply_settings(&conn).unwrap_err();
    assert!(err.to_string().contains("settings did not take"), "{err}");
    assert!(err.to_string().contains("journal_mode: \"delete\""), "{err}");
}

#[test]
fn create_database_fills_items_and_checkpoints() {
    let config = small();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let shape = workloads::create_database(&open_plain, &path, &config).unwrap();
    assert_eq!(shape.rows, 3000);
    assert_eq!(shape.page_size, 4096);
    assert_eq!(shape.cache_pages_at_most, 2000 * 1024 / 4096);
    // ~106 bytes per row on average: a floor well below that still catches empty rows.
    assert!(shape.page_count * 4096 > 3000 * 90, "{shape}");
    // wal_checkpoint(TRUNCATE) left the WAL empty while the connection was open; it is gone now.
    let wal = dir.path().join("bench.db-wal");
    assert!(!wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0);

    let conn = Connection::open(&path).unwrap();
    let (min, max, short, long): (i64, i64, i64, i64) = conn
        .query_row(
            "SELECT min(id), max(id), min(length(body)), max(length(body)) FROM items",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!((min, max), (1, 3000));
    assert!(short >= 90 && long <= 110, "{short}..{long}");
}

#[test]
fn create_database_refuses_an_existing_file() {
    let config = small();
    let (_dir, path) = small_db(&config);
    let err = workloads::create_database(&open_plain, &path, &config).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
}

#[test]
fn same_seed_same_rows_on_every_engine() {
    // Two builds from the same config must hold identical data: that is what makes two engines'
    // numbers comparable.
    let config = small();
    let (_a, first) = small_db(&config);
    let (_b, second) = small_db(&config);
    assert_eq!(bodies_checksum(&first), bodies_checksum(&second));
}

#[test]
fn row_text_is_90_to_110_alphanumeric_bytes() {
    let mut rng = workloads::workload_rng(&small(), 9);
    let texts: Vec<String> = (0..2000).map(|_| workloads::row_text(&mut rng)).collect();
    assert!(texts.iter().all(|t| (90..=110).contains(&t.len())));
    assert!(texts.iter().all(|t| t.bytes().all(|b| b.is_ascii_alphanumeric())));
    let mean = texts.iter().map(String::len).sum::<usize>() as f64 / texts.len() as f64;
    assert!((mean - 100.0).abs() < 1.0, "mean length {mean}");
}

#[test]
fn batched_inserts_insert_then_restore_the_table() {
    let config = small();
    let (_dir, path) = small_db(&config);
    let before = bodies_checksum(&path);
    let mut rng = workloads::workload_rng(&config, 1);
    let spent = workloads::batched_inserts(&open_plain, &path, &config, &mut rng, 3).unwrap();
    assert!(spent > std::time::Duration::ZERO);
    // The inserted rows were deleted again: the initial rows are untouched and alone.
    assert_eq!(bodies_checksum(&path), before);
    // ... and they were really inserted: deleting them left free pages behind.
    let conn = Connection::open(&path).unwrap();
    let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0)).unwrap();
    assert!(free > 0, "deleting the inserted batch must have freed pages");
}

#[test]
fn point_selects_read_rows_and_fail_on_a_missing_row() {
    let config = small();
    let (_dir, path) = small_db(&config);
    let mut rng = workloads::workload_rng(&config, 2);
    workloads::point_selects(&open_plain, &path, &config, &mut rng, 500).unwrap();

    // A config claiming more rows than the database holds draws rowids that are not there.
    let wrong = Config {
        rows: 30_000,
        ..config
    };
    let err = workloads::point_selects(&open_plain, &path, &wrong, &mut rng, 500).unwrap_err();
    assert!(err.to_string().contains("no rows"), "{err}");
}

#[test]
fn full_scans_see_every_row_or_fail() {
    let config = small();
    let (_dir, path) = small_db(&config);
    workloads::full_scans(&open_plain, &path, &config, 2).unwrap();

    let wrong = Config { rows: 2999, ..config };
    let err = workloads::full_scans(&open_plain, &path, &wrong, 1).unwrap_err();
    assert!(
        err.to_string().contains("scan saw 3000 rows, expected 2999"),
        "{err}"
    );
}

#[test]
fn update_transactions_commit_one_row_each() {
    let config = small();
    let (_dir, path) = small_db(&config);
    let (count, before) = bodies_checksum(&path);
    let mut rng = workloads::workload_rng(&config, 4);
    workloads::update_transactions(&open_plain, &path, &config, &mut rng, 2).unwrap();
    let (count_after, after) = bodies_checksum(&path);
    assert_eq!(count_after, count);
    assert_ne!(after, before);
    // At most 2 x 50 rows changed (random rowids may repeat): compare row by row.
    let conn = Connection::open(&path).unwrap();
    let changed: i64 = {
        let (_d, fresh) = small_db(&config);
        conn.execute("ATTACH ?1 AS fresh", [fresh.to_str().unwrap()])
            .unwrap();
        conn.query_row(
            "SELECT count(*) FROM items JOIN fresh.items f USING (id) WHERE items.body <> f.body",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert!((50..=100).contains(&changed), "{changed} rows changed");
}

#[test]
fn update_transactions_fail_on_a_missing_row() {
    let config = small();
    let (_dir, path) = small_db(&config);
    let wrong = Config {
        rows: 300_000,
        ..config
    };
    let mut rng = workloads::workload_rng(&config, 4);
    let err = workloads::update_transactions(&open_plain, &path, &wrong, &mut rng, 1).unwrap_err();
    assert!(err.to_string().contains("changed nothing"), "{err}");
}

#[test]
fn bench_key_hex_is_the_key_in_64_hex_digits() {
    let hex = workloads::bench_key_hex();
    assert_eq!(hex.len(), 64);
    assert!(hex.starts_with("2dd29ca8"));
    let back: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    assert_eq!(back, workloads::BENCH_KEY);
}

/// The sqlvault opener of the `workloads` bench, as there.
fn open_sqlvault(path: &Path) -> workloads::Result<Connection> {
    use sqlvault_vfs::{Argon2Params, DatabaseKey, Key, MasterKey};
    let key = Key::Raw(MasterKey::from_bytes(workloads::BENCH_KEY));
    let key = DatabaseKey::resolve(path, &key, Argon2Params::default())?;
    Ok(sqlvault_vfs::open_connection(
        path,
        &key,
        rusqlite::OpenFlags::default(),
    )?)
}

#[test]
fn sqlvault_takes_the_same_settings_and_runs_every_workload() {
    let config = small();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.db");
    let shape = workloads::create_database(&open_sqlvault, &path, &config).unwrap();
    assert_eq!((shape.rows, shape.page_size), (3000, 4096));
    let conn = workloads::open_with_settings(&open_sqlvault, &path).unwrap();
    assert_eq!(workloads::read_settings(&conn).unwrap().journal_mode, "wal");
    drop(conn);

    let mut rng = workloads::workload_rng(&config, 1);
    workloads::batched_inserts(&open_sqlvault, &path, &config, &mut rng, 2).unwrap();
    workloads::point_selects(&open_sqlvault, &path, &config, &mut rng, 200).unwrap();
    workloads::full_scans(&open_sqlvault, &path, &config, 1).unwrap();
    workloads::update_transactions(&open_sqlvault, &path, &config, &mut rng, 1).unwrap();

    // The rows really went through the VFS: the file is not a plaintext SQLite database and
    // none of the row text can be found in it.
    let bytes = std::fs::read(&path).unwrap();
    assert_ne!(&bytes[..16], b"SQLite format 3\0");
    let sample = {
        let conn = open_sqlvault(&path).unwrap();
        conn.query_row("SELECT body FROM items WHERE id = 1234", [], |r| {
            r.get::<_, String>(0)
        })
        .unwrap()
    };
    assert!(!bytes.windows(sample.len()).any(|w| w == sample.as_bytes()));
}
