//! Event-loop responsiveness under database load.
//!
//! A heartbeat task asks to wake every 1 ms and records how late it actually runs, first on an
//! idle runtime, then while 4 tasks scan a large table through the driver's row streams and
//! another commits small write transactions in a loop. If any SQLite work ran on the runtime's
//! threads, the heartbeat would stall for the length of a scan step.
//!
//! ```text
//! cargo run --release -p sqlvault-benches --example driver_responsiveness [seconds]
//! ```
//! Prints worst, p99 and median lateness for both runtime flavours. (Tokio's timer has 1 ms
//! granularity, so even the idle figures include up to about 1 ms.)

#![allow(clippy::unwrap_used)] // a measurement that fails to set up should stop loudly

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlvault_driver::{Argon2Params, Database, Key, MasterKey, Options, Synchronous};

const BIG_ROWS: i64 = 200_000;
const SCANNERS: usize = 4;

struct Lateness {
    samples: Vec<Duration>,
}

impl Lateness {
    fn report(&mut self, label: &str) {
        self.samples.sort();
        let n = self.samples.len();
        let at = |q: f64| self.samples[((n as f64 * q) as usize).min(n - 1)];
        println!(
            "{label:<34} beats {n:>6}   median {:>8.3} ms   p99 {:>8.3} ms   worst {:>8.3} ms",
            at(0.5).as_secs_f64() * 1e3,
            at(0.99).as_secs_f64() * 1e3,
            self.samples[n - 1].as_secs_f64() * 1e3
        );
    }
}

async fn heartbeat(duration: Duration) -> Lateness {
    let start = tokio::time::Instant::now();
    let mut samples = Vec::new();
    let mut beat = 1u32;
    while start.elapsed() < duration {
        let target = start + Duration::from_millis(1) * beat;
        tokio::time::sleep_until(target).await;
        samples.push(tokio::time::Instant::now().saturating_duration_since(target));
        beat += 1;
    }
    Lateness { samples }
}

async fn setup(dir: &std::path::Path) -> Database {
    let options = Options::new()
        .readers(SCANNERS)
        .synchronous(Synchronous::Normal)
        .argon2(Argon2Params::INSECURE_FOR_TESTS);
    let db = Database::open(
        dir.join("resp.db"),
        Key::Raw(MasterKey::from_bytes([9; 32])),
        options,
    )
    .await
    .unwrap();
    db.write_with(|tx| {
        tx.execute_batch(
            "CREATE TABLE big(id INTEGER PRIMARY KEY, n INTEGER, pad TEXT);
             CREATE TABLE log(id INTEGER PRIMARY KEY, at INTEGER, note TEXT);",
        )?;
        let mut st = tx.prepare("INSERT INTO big(n, pad) VALUES (?1, ?2)")?;
        for i in 0..BIG_ROWS {
            st.execute((i, format!("{i:0>100}")))?;
        }
        Ok(())
    })
    .await
    .unwrap();
    db
}

async fn run(multi_thread: bool, seconds: u64) {
    let flavour = if multi_thread {
        "multi_thread(2)"
    } else {
        "current_thread"
    };
    let dir = tempfile::tempdir().unwrap();
    let db = setup(dir.path()).await;
    let duration = Duration::from_secs(seconds);

    heartbeat(duration).await.report(&format!("{flavour}, idle"));

    let stop = Arc::new(AtomicBool::new(false));
    let rows = Arc::new(AtomicU64::new(0));
    let commits = Arc::new(AtomicU64::new(0));
    let mut load = Vec::new();
    for _ in 0..SCANNERS {
        let (db, stop, rows) = (db.clone(), stop.clone(), rows.clone());
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let mut tx = db.read().await.unwrap();
                let mut stream = tx.query("SELECT n, pad FROM big", (), |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?.len()))
                });
                let mut seen = 0u64;
                while let Some((_n, len)) = stream.try_next().await.unwrap() {
                    assert_eq!(len, 100);
                    seen += 1;
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
                rows.fetch_add(seen, Ordering::Relaxed);
            }
        }));
    }
    {
        let (db, stop, commits) = (db.clone(), stop.clone(), commits.clone());
        load.push(tokio::spawn(async move {
            let mut i = 0i64;
            while !stop.load(Ordering::Relaxed) {
                let mut tx = db.write().await.unwrap();
                for _ in 0..20 {
                    i += 1;
                    tx.execute("INSERT INTO log(at, note) VALUES (?1, ?2)", (i, "heartbeat load"))
                        .await
                        .unwrap();
                }
                tx.commit().await.unwrap();
                commits.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let started = Instant::now();
    let mut loaded = heartbeat(duration).await;
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.await.unwrap();
    }
    loaded.report(&format!("{flavour}, 4 scans + writer"));
    println!(
        "{:<34} scanned {:.0} rows/s, {:.0} commits/s (20 inserts each)",
        "",
        rows.load(Ordering::Relaxed) as f64 / elapsed,
        commits.load(Ordering::Relaxed) as f64 / elapsed
    );
    db.close().await.unwrap();
}

fn main() {
    let seconds = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    for multi_thread in [false, true] {
        let rt = if multi_thread {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap()
        } else {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
        };
        rt.block_on(run(multi_thread, seconds));
    }
}
