//! The criterion side of the workload benchmarks, shared like `workloads/mod.rs` by the
//! benchmark programs of both workspaces (`#[path = "…/workloads/driver.rs"] mod driver;`, next to
//! `mod workloads;` at the crate root).
//!
//! It builds one database per engine, prints its shape and measured cache-miss rate, and runs the
//! four workloads as criterion groups named after them, with one function per engine. Criterion
//! therefore writes `target/criterion/<workload>/<engine>/new/estimates.json` in each workspace,
//! which is what `benches/compare.sh` reads.

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput, measurement::WallTime};
use rusqlite::Connection;

use crate::workloads::{self, Config};

/// The workload groups, in the order they run. `benches/compare.sh` uses the same names.
pub const WORKLOADS: [&str; 4] = [
    "batched_inserts",
    "point_selects",
    "full_scans",
    "update_transactions",
];

/// Random point selects counted by the cache-miss measurement printed before the benchmarks.
const MISS_SAMPLE_SELECTS: u64 = 20_000;

/// A boxed [`workloads::Opener`].
pub type BoxedOpener = Box<dyn Fn(&Path) -> workloads::Result<Connection>>;

/// An engine under test: a name (criterion's function id, a column of the ratio table) and the
/// function that opens a connection with it.
pub struct Engine {
    /// Short lower-case name: `plain`, `sqlvault`, `sqlcipher`.
    pub name: &'static str,
    /// Opens (creating if absent) a connection on a path.
    pub open: BoxedOpener,
}

/// Makes an [`Engine`] from a name and an opener.
pub fn engine(name: &'static str, open: impl Fn(&Path) -> workloads::Result<Connection> + 'static) -> Engine {
    Engine {
        name,
        open: Box::new(open),
    }
}

/// Criterion settings chosen so that all four workloads on three engines finish in a few
/// minutes on two cores: 10 samples, 1 s warm-up and 3 s of measured time per benchmark.
pub fn criterion_config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

/// Where the benchmark databases go: `$SQLVAULT_BENCH_DIR` if set, else the system temp dir.
fn bench_dir() -> PathBuf {
    std::env::var_os("SQLVAULT_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from)
}

/// Builds a database for every engine, prints its shape and cache-miss rate, then benchmarks
/// every workload on every engine.
///
/// # Panics
///
/// On any error: a benchmark that cannot run must not report a number.
pub fn run(c: &mut Criterion, engines: &[Engine]) {
    let config = Config::ISSUE_3;
    let dir = tempfile::Builder::new()
        .prefix("sqlvault-workloads-")
        .tempdir_in(bench_dir())
        .expect("create the benchmark directory");
    let mut dbs = Vec::new();
    for engine in engines {
        let path = dir.path().join(format!("{}.db", engine.name));
        let shape = workloads::create_database(&*engine.open, &path, &config)
            .unwrap_or_else(|e| panic!("build the {} database: {e}", engine.name));
        let version: String = (engine.open)(&path)
            .and_then(|conn| Ok(conn.query_row("SELECT sqlite_version()", [], |r| r.get(0))?))
            .unwrap_or_else(|e| panic!("query the {} SQLite version: {e}", engine.name));
        eprintln!("engine {}: SQLite {version}; {shape}", engine.name);
        let misses =
            workloads::measure_point_select_misses(&*engine.open, &path, &config, MISS_SAMPLE_SELECTS)
                .unwrap_or_else(|e| panic!("measure {} cache misses: {e}", engine.name));
        eprintln!(
            "misses {}: {:.3} page-cache misses per point select ({} file reads in {} selects)",
            engine.name,
            misses.reads_per_select(),
            misses.file_reads,
            misses.selects
        );
        dbs.push((engine, path));
    }

    for workload in WORKLOADS {
        let mut group = c.benchmark_group(workload);
        // Flat sampling (the same number of iterations in every sample) for all workloads: the
        // slow ones (hundreds of ms per iteration) cannot fit linear sampling's 55 iterations
        // into a few seconds, and with flat sampling criterion's headline estimate is the mean,
        // which is what compare.sh divides.
        group.sampling_mode(SamplingMode::Flat);
        for (engine, path) in &dbs {
            bench_one(&mut group, workload, engine, path, &config);
        }
        group.finish();
    }
}

/// Benchmarks one workload on one engine.
fn bench_one(
    group: &mut BenchmarkGroup<'_, WallTime>,
    workload: &str,
    engine: &Engine,
    path: &Path,
    config: &Config,
) {
    let open = &*engine.open;
    let fail = |e: workloads::BoxError| -> Duration {
        panic!("{workload} on {}: {e}", engine.name);
    };
    match workload {
        "batched_inserts" => {
            let mut rng = workloads::workload_rng(config, 1);
            group.throughput(Throughput::Elements(config.insert_batch));
            group.bench_function(engine.name, |b| {
                b.iter_custom(|iters| {
                    workloads::batched_inserts(open, path, config, &mut rng, iters).unwrap_or_else(fail)
                });
            });
        }
        "point_selects" => {
            let mut rng = workloads::workload_rng(config, 2);
            group.throughput(Throughput::Elements(1));
            group.bench_function(engine.name, |b| {
                b.iter_custom(|iters| {
                    workloads::point_selects(open, path, config, &mut rng, iters).unwrap_or_else(fail)
                });
            });
        }
        "full_scans" => {
            group.throughput(Throughput::Elements(config.rows));
            group.bench_function(engine.name, |b| {
                b.iter_custom(|iters| workloads::full_scans(open, path, config, iters).unwrap_or_else(fail));
            });
        }
        "update_transactions" => {
            let mut rng = workloads::workload_rng(config, 4);
            group.throughput(Throughput::Elements(config.updates_per_iteration));
            group.bench_function(engine.name, |b| {
                b.iter_custom(|iters| {
                    workloads::update_transactions(open, path, config, &mut rng, iters).unwrap_or_else(fail)
                });
            });
        }
        other => panic!("unknown workload {other}"),
    }
}
