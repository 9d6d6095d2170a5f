//! Hand-off modes compared in one process, interleaved: the driver's default (adaptive
//! spinning), parking at once (`adaptive_spin(false)`) and a fixed 30 µs spin on both sides.
//!
//! Criterion runs one benchmark after another, so on a shared machine whose load changes by the
//! minute its rows are measured under different conditions. Here every round runs each mode
//! back to back and the table shows per-mode medians over the rounds, optionally with two
//! busy background threads.
//!
//! ```text
//! cargo run --release -p sqlvault-benches --example driver_handoff [rounds] [busy-threads]
//! cargo run --release -p sqlvault-benches --example driver_handoff once   # one round, default mode
//! ```
//! `benches/driver-handoff.sh` alternates `once` rounds with tokio-rusqlite's
//! (`benches/driver-baseline/examples/handoff_once.rs`) for the ratio.

#![allow(clippy::unwrap_used)] // a measurement that fails to set up should stop loudly

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sqlvault_driver::{Argon2Params, Database, Key, MasterKey, Options, Synchronous};

const ROWS: i64 = 10_000;
const SELECT: &str = "SELECT v FROM kv WHERE k = ?1";
const SEQUENTIAL: u64 = 20_000;
const TASKS: u64 = 64;
const PER_TASK: u64 = 300;

fn open(rt: &tokio::runtime::Runtime, dir: &std::path::Path, name: &str, options: Options) -> Database {
    let key = Key::Raw(MasterKey::from_bytes([7; 32]));
    let options = options
        .readers(2)
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

fn sequential(rt: &tokio::runtime::Runtime, db: &Database) -> Duration {
    rt.block_on(async {
        let start = Instant::now();
        for i in 0..SEQUENTIAL {
            let k = (i as i64 * 7919) % ROWS;
            black_box(db.query_row(SELECT, (k,), |r| r.get::<_, i64>(0)).await.unwrap());
        }
        start.elapsed() / SEQUENTIAL as u32
    })
}

fn concurrent(rt: &tokio::runtime::Runtime, db: &Database) -> Duration {
    rt.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let db = db.clone();
                tokio::spawn(async move {
                    for i in 0..PER_TASK {
                        let k = (t as i64 * 131 + i as i64 * 7919) % ROWS;
                        black_box(db.query_row(SELECT, (k,), |r| r.get::<_, i64>(0)).await.unwrap());
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        start.elapsed() / (TASKS * PER_TASK) as u32
    })
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("once") {
        // One round of the default mode, for benches/driver-handoff.sh.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let db = open(&rt, dir.path(), "once.db", Options::new());
        let (seq, conc) = (sequential(&rt, &db), concurrent(&rt, &db));
        rt.block_on(db.close()).unwrap();
        println!("{:.3} {:.3}", seq.as_secs_f64() * 1e6, conc.as_secs_f64() * 1e6);
        return;
    }
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map_or(6, |a| a.parse().unwrap());
    let busy_threads: usize = args.next().map_or(0, |a| a.parse().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let busy: Vec<_> = (0..busy_threads)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let spin = Duration::from_micros(30);
    let modes = [
        ("default (adaptive)", Options::new()),
        ("park", Options::new().adaptive_spin(false)),
        ("spin 30 us", Options::new().spin(spin).reply_spin(spin)),
    ];
    let dbs: Vec<_> = modes
        .iter()
        .enumerate()
        .map(|(i, (_, o))| open(&rt, dir.path(), &format!("m{i}.db"), o.clone()))
        .collect();
    let mut seq = vec![Vec::new(); modes.len()];
    let mut conc = vec![Vec::new(); modes.len()];
    for _ in 0..rounds {
        for (i, db) in dbs.iter().enumerate() {
            seq[i].push(sequential(&rt, db));
            conc[i].push(concurrent(&rt, db));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for b in busy {
        b.join().unwrap();
    }
    println!("{rounds} interleaved rounds, {busy_threads} busy background threads; medians per select:");
    println!(
        "{:<22} {:>14} {:>22}",
        "mode", "sequential", "64 tasks (2 readers)"
    );
    for (i, (name, _)) in modes.iter().enumerate() {
        println!(
            "{name:<22} {:>11.2} us {:>19.2} us",
            median(seq[i].clone()).as_secs_f64() * 1e6,
            median(conc[i].clone()).as_secs_f64() * 1e6
        );
    }
    for db in dbs {
        rt.block_on(db.close()).unwrap();
    }
}
