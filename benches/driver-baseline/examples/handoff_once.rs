//! One round of `benches/driver-handoff.sh`'s baseline: tokio-rusqlite's `call` with the same
//! workload as sqlvault's `driver_handoff` example (sequential point selects, then 64 tasks).
//! Prints "sequential_us concurrent_us" (time per select).

use std::hint::black_box;
use std::time::{Duration, Instant};

use tokio_rusqlite::{Connection, rusqlite};

const ROWS: i64 = 10_000;
const SELECT: &str = "SELECT v FROM kv WHERE k = ?1";
const SEQUENTIAL: u64 = 20_000;
const TASKS: u64 = 64;
const PER_TASK: u64 = 300;

async fn select(conn: &Connection, k: i64) -> i64 {
    conn.call(move |c| c.prepare_cached(SELECT)?.query_row([k], |r| r.get::<_, i64>(0)))
        .await
        .unwrap()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (seq, conc): (Duration, Duration) = rt.block_on(async {
        let conn = Connection::open(dir.path().join("baseline.db")).await.unwrap();
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
        let start = Instant::now();
        for i in 0..SEQUENTIAL {
            black_box(select(&conn, (i as i64 * 7919) % ROWS).await);
        }
        let seq = start.elapsed() / SEQUENTIAL as u32;
        let start = Instant::now();
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let conn = conn.clone();
                tokio::spawn(async move {
                    for i in 0..PER_TASK {
                        black_box(select(&conn, (t as i64 * 131 + i as i64 * 7919) % ROWS).await);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        (seq, start.elapsed() / (TASKS * PER_TASK) as u32)
    });
    println!("{:.3} {:.3}", seq.as_secs_f64() * 1e6, conc.as_secs_f64() * 1e6);
}
