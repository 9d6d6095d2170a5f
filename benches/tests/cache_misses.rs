//! Checks the cache-miss measurement the point-select benchmark relies on: it counts the
//! process's read system calls, so it lives alone in this test binary (one test, no other thread
//! doing I/O while it counts).

// Tests unwrap: a failure should stop the test with the error in the message.
#![allow(clippy::unwrap_used)]

// The module is shared by several programs, each of which uses only part of it.
#[allow(dead_code)]
#[path = "../workloads/mod.rs"]
mod workloads;

use std::path::Path;

use rusqlite::Connection;
use workloads::Config;

fn open_plain(path: &Path) -> workloads::Result<Connection> {
    Ok(Connection::open(path)?)
}

fn measure(rows: u64) -> workloads::MissReport {
    let config = Config {
        rows,
        warm_up_selects: 3000,
        ..Config::ISSUE_3
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    workloads::create_database(&open_plain, &path, &config).unwrap();
    workloads::measure_point_select_misses(&open_plain, &path, &config, 4000).unwrap()
}

#[test]
fn point_selects_miss_when_the_database_outgrows_the_cache_and_hit_when_it_fits() {
    // ~60 pages: fits in the 2000 KiB cache many times over, so warmed selects read nothing.
    let fits = measure(2000);
    assert!(fits.shape.size_over_cache() < 0.2, "{fits}");
    assert!(fits.reads_per_select() < 0.02, "{fits}");

    // ~1700 pages, over three times the cache: most leaves are not cached.
    let outgrows = measure(60_000);
    assert!(outgrows.shape.size_over_cache() > 3.0, "{outgrows}");
    assert!(outgrows.reads_per_select() > 0.6, "{outgrows}");
    // One leaf page per miss, never more than one read per select.
    assert!(outgrows.reads_per_select() <= 1.0, "{outgrows}");
}
