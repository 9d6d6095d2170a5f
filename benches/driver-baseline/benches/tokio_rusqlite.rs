//! tokio-rusqlite's `call`, with the workload of the main workspace's `driver` bench: the
//! same table, the same point select, the same runtime (multi-thread, 2 workers) and SQLite
//! settings (WAL, synchronous NORMAL, 2 MiB cache). Plain SQLite: tokio-rusqlite cannot use
//! the sqlvault VFS, and a hot point select reads no page from disk, so the difference is the
//! driver's own cost.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio_rusqlite::Connection;

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

fn open(rt: &tokio::runtime::Runtime, dir: &std::path::Path) -> Connection {
    rt.block_on(async {
        let conn = Connection::open(dir.join("baseline.db")).await.unwrap();
        conn.call(|c| {
            c.execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -2048;
                 CREATE TABLE IF NOT EXISTS kv(k INTEGER PRIMARY KEY, v INTEGER NOT NULL);",
            )?;
            let tx = c.transaction()?;
            {
                let mut st = tx.prepare("INSERT OR REPLACE INTO kv VALUES (?1, ?2)")?;
                for k in 0..ROWS {
                    st.execute([k, k * 3])?;
                }
            }
            tx.commit()?;
            Ok::<_, rusqlite::Error>(())
        })
        .await
        .unwrap();
        conn
    })
}

async fn select(conn: &Connection, k: i64) -> i64 {
    conn.call(move |c| c.prepare_cached(SELECT)?.query_row([k], |r| r.get::<_, i64>(0)))
        .await
        .unwrap()
}

use tokio_rusqlite::rusqlite;

fn sequential(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let conn = open(&rt, dir.path());
    let mut group = c.benchmark_group("driver_point_select/sequential");
    group.throughput(Throughput::Elements(1));
    group.bench_function("tokio_rusqlite_call", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    black_box(select(&conn, (i as i64 * 7919) % ROWS).await);
                }
                start.elapsed()
            })
        })
    });
    // The floor on plain SQLite: the same statement called directly on this thread.
    group.bench_function("rusqlite_direct_plain", |b| {
        let conn = rusqlite::Connection::open(dir.path().join("baseline.db")).unwrap();
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
}

fn concurrent(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let conn = open(&rt, dir.path());
    let mut group = c.benchmark_group("driver_point_select/64_tasks");
    group.throughput(Throughput::Elements(TASKS as u64));
    group.bench_function("tokio_rusqlite_call_1_connection", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                let tasks: Vec<_> = (0..TASKS)
                    .map(|t| {
                        let conn = conn.clone();
                        tokio::spawn(async move {
                            for i in 0..iters {
                                let k = (t as i64 * 131 + i as i64 * 7919) % ROWS;
                                black_box(select(&conn, k).await);
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
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = sequential, concurrent
}
criterion_main!(benches);
