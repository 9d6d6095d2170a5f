//! The async driver against the cost of the statement itself.
//!
//! - `driver_point_select/sequential/*`: one awaited point select at a time (latency).
//! - `driver_point_select/64_tasks/*`: 64 tasks doing point selects at once (throughput).
//!
//! In-process baselines in the same run: the same statement on a rusqlite connection through
//! the sqlvault VFS called directly (no threads: the floor). tokio-rusqlite links another
//! libsqlite3-sys, so it is measured by `benches/driver-baseline/` with the same workload and
//! settings; `benches/driver-compare.sh` runs both and prints the ratios.

#![allow(clippy::unwrap_used)] // a benchmark that fails to set up should stop loudly

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sqlvault_driver::{Argon2Params, Database, Key, MasterKey, Options, Synchronous};

/// Rows in the table: small enough to stay in the page cache, as for a hot point select.
const ROWS: i64 = 10_000;
const TASKS: usize = 64;
const SELECT: &str = "SELECT v FROM kv WHERE k = ?1";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn open(rt: &tokio::runtime::Runtime, dir: &std::path::Path, readers: usize) -> Database {
    open_with(rt, dir, "bench.db", Options::new().readers(readers))
}

/// Opens (and fills) `name` in `dir` with `options` plus the bench's settings.
fn open_with(rt: &tokio::runtime::Runtime, dir: &std::path::Path, name: &str, options: Options) -> Database {
    let key = Key::Raw(MasterKey::from_bytes([7; 32]));
    let options = options
        .synchronous(Synchronous::Normal)
        .argon2(Argon2Params::INSECURE_FOR_TESTS);
    rt.block_on(async {
        let db = Database::open(dir.join(name), key, options).await.unwrap();
        db.write_with(|tx| {
            tx.execute_batch("CREATE TABLE IF NOT EXISTS kv(k INTEGER PRIMARY KEY, v INTEGER NOT NULL)")?;
            let mut st = tx.prepare("INSERT OR REPLACE INTO kv VALUES (?1, ?2)")?;
            for k in 0..ROWS {
                st.execute([k, k * 3])?;
            }
            Ok(())
        })
        .await
        .unwrap();
        db
    })
}

async fn select_with(db: &Database, k: i64) -> i64 {
    db.read_with(move |c| Ok(c.prepare_cached(SELECT)?.query_row([k], |r| r.get(0))?))
        .await
        .unwrap()
}

fn sequential(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let db = open(&rt, dir.path(), 2);
    let mut group = c.benchmark_group("driver_point_select/sequential");
    group.throughput(Throughput::Elements(1));

    group.bench_function("sqlvault_read_with", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    black_box(select_with(&db, (i as i64 * 7919) % ROWS).await);
                }
                start.elapsed()
            })
        })
    });

    group.bench_function("sqlvault_query_row", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    let k = (i as i64 * 7919) % ROWS;
                    black_box(db.query_row(SELECT, (k,), |r| r.get::<_, i64>(0)).await.unwrap());
                }
                start.elapsed()
            })
        })
    });

    // The previous default: no spinning at all (both sides park at once).
    let parked = open_with(
        &rt,
        dir.path(),
        "park.db",
        Options::new().readers(2).adaptive_spin(false),
    );
    group.bench_function("sqlvault_query_row_park", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    let k = (i as i64 * 7919) % ROWS;
                    black_box(
                        parked
                            .query_row(SELECT, (k,), |r| r.get::<_, i64>(0))
                            .await
                            .unwrap(),
                    );
                }
                start.elapsed()
            })
        })
    });
    rt.block_on(parked.close()).unwrap();

    group.bench_function("sqlvault_read_tx_query_row", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut tx = db.read().await.unwrap();
                let start = Instant::now();
                for i in 0..iters {
                    let k = (i as i64 * 7919) % ROWS;
                    black_box(tx.query_row(SELECT, (k,), |r| r.get::<_, i64>(0)).await.unwrap());
                }
                start.elapsed()
            })
        })
    });

    // Both sides spinning 30 us before sleeping (off by default; see Options::spin).
    group.bench_function("sqlvault_read_with_spin_30us", |b| {
        let dir = tempfile::tempdir().unwrap();
        let key = Key::Raw(MasterKey::from_bytes([7; 32]));
        let spin = Duration::from_micros(30);
        let opts = Options::new()
            .readers(2)
            .spin(spin)
            .reply_spin(spin)
            .argon2(Argon2Params::INSECURE_FOR_TESTS);
        let db = rt.block_on(async {
            let db = Database::open(dir.path().join("spin.db"), key, opts)
                .await
                .unwrap();
            db.write_with(|tx| {
                Ok(tx.execute_batch(
                    "CREATE TABLE kv(k INTEGER PRIMARY KEY, v INTEGER); INSERT INTO kv VALUES (1, 3)",
                )?)
            })
            .await
            .unwrap();
            db
        });
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(select_with(&db, 1).await);
                }
                start.elapsed()
            })
        })
    });

    // The floor: the same statement on a connection through the VFS, on this thread.
    group.bench_function("rusqlite_direct", |b| {
        let key = sqlvault_vfs::DatabaseKey::resolve(
            &dir.path().join("bench.db"),
            &Key::Raw(MasterKey::from_bytes([7; 32])),
            Argon2Params::INSECURE_FOR_TESTS,
        )
        .unwrap();
        let conn = sqlvault_vfs::open_connection(
            &dir.path().join("bench.db"),
            &key,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let mut i = 0i64;
        b.iter(|| {
            i = (i + 7919) % ROWS;
            black_box(
                conn.prepare_cached(SELECT)
                    .unwrap()
                    .query_row([i], |r| r.get::<_, i64>(0))
                    .unwrap(),
            )
        })
    });
    group.finish();
    rt.block_on(db.close()).unwrap();
}

fn concurrent(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let mut group = c.benchmark_group("driver_point_select/64_tasks");
    group.throughput(Throughput::Elements(TASKS as u64));
    for readers in [2usize, 4] {
        let db = open(&rt, dir.path(), readers);
        // One iteration: every one of the 64 tasks does one select.
        group.bench_function(format!("sqlvault_read_with_{readers}_readers"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    let tasks: Vec<_> = (0..TASKS)
                        .map(|t| {
                            let db = db.clone();
                            tokio::spawn(async move {
                                for i in 0..iters {
                                    let k = (t as i64 * 131 + i as i64 * 7919) % ROWS;
                                    black_box(select_with(&db, k).await);
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.unwrap();
                    }
                    start.elapsed()
                })
            })
        });
        group.bench_function(format!("sqlvault_query_row_{readers}_readers"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    let tasks: Vec<_> = (0..TASKS)
                        .map(|t| {
                            let db = db.clone();
                            tokio::spawn(async move {
                                for i in 0..iters {
                                    let k = (t as i64 * 131 + i as i64 * 7919) % ROWS;
                                    black_box(
                                        db.query_row(SELECT, (k,), |r| r.get::<_, i64>(0)).await.unwrap(),
                                    );
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.unwrap();
                    }
                    start.elapsed()
                })
            })
        });
        rt.block_on(db.close()).unwrap();
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = sequential, concurrent
}
criterion_main!(benches);
