//! The workload benchmarks of issue 3 (batched inserts, cache-missing point selects, full scans,
//! small update transactions) on plain SQLite and sqlvault, in one run so their ratio means
//! something. SQLCipher 4 runs the same workloads from its own workspace (`benches/sqlcipher/`);
//! `benches/compare.sh` runs both and prints the ratios. See `docs/benchmarks.md`.
//!
//! ```text
//! cargo bench -p sqlvault-benches --bench workloads
//! ```

// The module is shared by several programs, each of which uses only part of it.
#[allow(dead_code)]
#[path = "../workloads/mod.rs"]
mod workloads;

#[path = "../workloads/driver.rs"]
mod driver;

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use rusqlite::Connection;

use driver::{Engine, engine};

/// Plain SQLite: the bundled SQLite of rusqlite, through the default OS VFS. The baseline.
fn open_plain(path: &Path) -> workloads::Result<Connection> {
    Ok(Connection::open(path)?)
}

/// The engines this program benchmarks, as (name, opener) pairs. The names are the columns of
/// `benches/compare.sh`'s table.
fn engines() -> Vec<Engine> {
    vec![
        engine("plain", open_plain),
        // ---- sqlvault: plug it in here ---------------------------------------------------
        // Once `sqlvault_vfs::open_connection` exists on main: add
        // `sqlvault-vfs.workspace = true` to [dev-dependencies] in benches/Cargo.toml and add
        //
        // engine("sqlvault", |path: &Path| {
        //     let flags = rusqlite::OpenFlags::default();
        //     Ok(sqlvault_vfs::open_connection(path, &workloads::BENCH_KEY, flags)?)
        // }),
        //
        // (adapt the key argument to the real signature; it must be the raw 32-byte key, so
        // that no key derivation is timed).
    ]
}

fn bench_workloads(c: &mut Criterion) {
    driver::run(c, &engines());
}

criterion_group! {
    name = benches;
    config = driver::criterion_config();
    targets = bench_workloads
}
criterion_main!(benches);
