//! `sqlvault demo`: the main job. Creates an encrypted database in a temporary directory,
//! runs concurrent async readers and writers (with nested savepoints) through the driver,
//! checks the result, shows that the files hold no plaintext, and reports timings.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlvault::{Database, Key, Options};

const ACCOUNTS: i64 = 100;
const START_BALANCE: i64 = 1_000;
const WRITERS: usize = 32;
const TRANSFERS_EACH: usize = 50;
const READERS: usize = 16;
const MARKER: &str = "DEMO-PLAINTEXT-MARKER";

/// Runs the demonstration and prints what it did. Returns a message on any failed check.
pub fn run() -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the tokio runtime: {e}"))?;
    runtime.block_on(demo())
}

async fn demo() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("creating a temporary directory: {e}"))?;
    let path = dir.path().join("demo.db");
    println!("sqlvault demo: encrypted database at {}", path.display());

    let started = Instant::now();
    let db = Database::open(&path, Key::Passphrase("demo passphrase".into()), Options::new())
        .await
        .map_err(|e| format!("opening: {e}"))?;
    println!(
        "  opened with Argon2id (64 MiB, 3 passes) and {} readers in {:.0} ms",
        db.reader_count(),
        started.elapsed().as_secs_f64() * 1e3
    );

    db.write_with(|tx| {
        tx.execute_batch(
            "CREATE TABLE accounts(id INTEGER PRIMARY KEY, owner TEXT NOT NULL, balance INTEGER NOT NULL CHECK (balance >= 0));
             CREATE TABLE ledger(id INTEGER PRIMARY KEY, src INTEGER, dst INTEGER, amount INTEGER, memo TEXT);",
        )?;
        for id in 0..ACCOUNTS {
            tx.execute(
                "INSERT INTO accounts VALUES (?1, ?2, ?3)",
                (id, format!("{MARKER} owner {id}"), START_BALANCE),
            )?;
        }
        Ok(())
    })
    .await
    .map_err(|e| format!("creating the schema: {e}"))?;

    let write_latency = Arc::new(Latencies::default());
    let read_latency = Arc::new(Latencies::default());
    let rolled_back = Arc::new(AtomicU64::new(0));
    let run_started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..WRITERS {
        let db = db.clone();
        let lat = write_latency.clone();
        let rolled_back = rolled_back.clone();
        tasks.spawn(async move {
            for i in 0..TRANSFERS_EACH {
                let seed = (w * 7919 + i * 104_729) as i64;
                let (src, dst, amount) = (seed % ACCOUNTS, (seed / 7 + 1) % ACCOUNTS, 1 + seed % 50);
                let t = Instant::now();
                transfer(&db, (w, i), (src, dst, amount), &rolled_back)
                    .await
                    .map_err(|e| format!("writer {w}: {e}"))?;
                lat.record(t.elapsed());
            }
            Ok::<(), String>(())
        });
    }
    for r in 0..READERS {
        let db = db.clone();
        let lat = read_latency.clone();
        tasks.spawn(async move {
            for _ in 0..TRANSFERS_EACH {
                let t = Instant::now();
                let (total, count) = balance(&db).await.map_err(|e| format!("reader {r}: {e}"))?;
                lat.record(t.elapsed());
                if total != ACCOUNTS * START_BALANCE || count != ACCOUNTS {
                    return Err(format!(
                        "reader {r} saw an unbalanced snapshot: {total} over {count} accounts"
                    ));
                }
            }
            Ok(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.map_err(|e| format!("a task panicked: {e}"))??;
    }
    let elapsed = run_started.elapsed();

    let (total, ledger): (i64, i64) = db
        .read_with(|conn| {
            let total = conn.query_row("SELECT sum(balance) FROM accounts", [], |r| r.get(0))?;
            let ledger = conn.query_row("SELECT count(*) FROM ledger", [], |r| r.get(0))?;
            Ok((total, ledger))
        })
        .await
        .map_err(|e| format!("final read: {e}"))?;
    let transfers = (WRITERS * TRANSFERS_EACH) as i64;
    let expected_ledger = transfers - rolled_back.load(Ordering::Relaxed) as i64;
    check(total == ACCOUNTS * START_BALANCE, format!("final total {total}"))?;
    check(
        ledger == expected_ledger,
        format!("ledger has {ledger} rows, expected {expected_ledger}"),
    )?;
    println!(
        "  {WRITERS} writer tasks x {TRANSFERS_EACH} transfers with nested savepoints, {READERS} reader tasks: {:.2} s",
        elapsed.as_secs_f64()
    );
    println!("    write transactions: {}", write_latency.summary());
    println!("    read transactions:  {}", read_latency.summary());
    println!(
        "  checks: total balance {total} = {} x {START_BALANCE}; ledger {ledger} rows = {transfers} transfers - {} rolled-back savepoints",
        ACCOUNTS,
        rolled_back.load(Ordering::Relaxed)
    );

    // Leave a WAL behind (no checkpoint on close yet) and look at every file on disk.
    let leaks = files_containing(dir.path(), MARKER.as_bytes());
    db.close().await.map_err(|e| format!("closing: {e}"))?;
    let leaks_after_close = files_containing(dir.path(), MARKER.as_bytes());
    check(
        leaks.is_empty() && leaks_after_close.is_empty(),
        format!("plaintext found in {leaks:?} {leaks_after_close:?}"),
    )?;
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "  no plaintext: the marker string written {} times appears in none of the files ({} bytes in demo.db)",
        ACCOUNTS as usize + ledger as usize,
        size
    );

    // A wrong passphrase is refused by name.
    match Database::open(
        &path,
        Key::Passphrase("not the passphrase".into()),
        Options::new(),
    )
    .await
    {
        Err(sqlvault::Error::Vfs(sqlvault::VfsError::WrongKey)) => {
            println!("  a wrong passphrase is refused: wrong key")
        }
        Err(e) => return Err(format!("a wrong passphrase gave an unexpected error: {e}")),
        Ok(_) => return Err("a wrong passphrase opened the database".into()),
    }
    println!("demo passed");
    Ok(())
}

/// One transfer in a write transaction, its ledger entry in a nested savepoint; every
/// fifth savepoint is rolled back, which must leave the transfer itself in place.
async fn transfer(
    db: &Database,
    (w, i): (usize, usize),
    (src, dst, amount): (i64, i64, i64),
    rolled_back: &AtomicU64,
) -> Result<(), sqlvault::Error> {
    let mut tx = db.write().await?;
    tx.execute(
        "UPDATE accounts SET balance = balance - ?2 WHERE id = ?1",
        (src, amount),
    )
    .await?;
    tx.execute(
        "UPDATE accounts SET balance = balance + ?2 WHERE id = ?1",
        (dst, amount),
    )
    .await?;
    {
        let mut sp = tx.savepoint().await?;
        sp.execute(
            "INSERT INTO ledger(src, dst, amount, memo) VALUES (?1, ?2, ?3, ?4)",
            (src, dst, amount, format!("{MARKER} transfer {w}/{i}")),
        )
        .await?;
        if i % 5 == 4 {
            sp.rollback().await?;
            rolled_back.fetch_add(1, Ordering::Relaxed);
        } else {
            sp.release().await?;
        }
    }
    tx.commit().await
}

/// The total balance and account count, read in one snapshot.
async fn balance(db: &Database) -> Result<(i64, i64), sqlvault::Error> {
    let mut tx = db.read().await?;
    let total: i64 = tx
        .query_row("SELECT sum(balance) FROM accounts", (), |r| r.get(0))
        .await?;
    let count: i64 = tx
        .query_row("SELECT count(*) FROM accounts", (), |r| r.get(0))
        .await?;
    tx.finish().await?;
    Ok((total, count))
}

fn check(ok: bool, what: String) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("check failed: {what}"))
    }
}

fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec!["<unreadable directory>".into()];
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| std::fs::read(e.path()).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle)))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Collected latencies of one kind of operation.
#[derive(Default)]
struct Latencies(std::sync::Mutex<Vec<Duration>>);

impl Latencies {
    fn record(&self, d: Duration) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(d);
    }

    fn summary(&self) -> String {
        let mut v = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if v.is_empty() {
            return "none".into();
        }
        v.sort();
        let pct = |p: usize| v[(v.len() - 1) * p / 100].as_secs_f64() * 1e3;
        format!(
            "{} done, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            v.len(),
            pct(50),
            pct(99),
            pct(100)
        )
    }
}
