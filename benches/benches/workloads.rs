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
use rusqlite::{Connection, OpenFlags};
use sqlvault_vfs::{Argon2Params, DatabaseKey, Key, MasterKey};

use driver::{Engine, engine};

/// Plain SQLite: the bundled SQLite of rusqlite, through the default OS VFS. The baseline.
fn open_plain(path: &Path) -> workloads::Result<Connection> {
    Ok(Connection::open(path)?)
}

/// sqlvault: the same bundled SQLite through the sqlvault VFS, with the raw 256-bit
/// [`workloads::BENCH_KEY`] as master key, so no Argon2id runs (and none would be timed anyway:
/// connections are opened outside the timed region).
fn open_sqlvault(path: &Path) -> workloads::Result<Connection> {
    let key = Key::Raw(MasterKey::from_bytes(workloads::BENCH_KEY));
    // The Argon2 parameters only matter for a passphrase; a raw key is used as it is.
    let key = DatabaseKey::resolve(path, &key, Argon2Params::default())?;
    Ok(sqlvault_vfs::open_connection(path, &key, OpenFlags::default())?)
}

/// The engines this program benchmarks, as (name, opener) pairs. The names are the columns of
/// `benches/compare.sh`'s table.
fn engines() -> Vec<Engine> {
    vec![engine("plain", open_plain), engine("sqlvault", open_sqlvault)]
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
