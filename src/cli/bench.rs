//! `sqlvault bench`: a quick look at what encryption costs on this machine.
//!
//! Four small workloads run on a temporary database, once on plain SQLite and once through
//! the sqlvault VFS (raw key, so no KDF time), with the same settings (WAL,
//! `synchronous = NORMAL`, default cache). The numbers are a smoke test, not a benchmark:
//! the criterion benches in `benches/` are the measurements to quote.

use std::time::{Duration, Instant};

use clap::Args;
use rusqlite::{Connection, params};
use sqlvault_vfs::{Argon2Params, DatabaseKey, Key, MasterKey, open_connection};

use super::Ui;
use super::db::create_flags;
use super::error::CliError;

/// Arguments of `sqlvault bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Rows per workload.
    #[arg(long, default_value_t = 5000)]
    pub rows: u32,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

const WORKLOADS: [&str; 4] = [
    "batched inserts",
    "small transactions",
    "point selects",
    "full scans",
];

/// Runs `sqlvault bench`.
pub fn run(args: BenchArgs, ui: Ui) -> Result<(), CliError> {
    let rows = args.rows.max(10);
    let dir = tempfile::tempdir()?;
    let plain_path = dir.path().join("plain.db");
    let vault_path = dir.path().join("vault.db");
    let plain = Connection::open_with_flags(&plain_path, create_flags())?;
    let key = Key::Raw(MasterKey::random()?);
    let dbkey = DatabaseKey::resolve(&vault_path, &key, Argon2Params::default())?;
    let vault = open_connection(&vault_path, &dbkey, create_flags())?;

    let bar = ui.progress("bench", (WORKLOADS.len() * 2) as u64);
    let plain_times = workloads(&plain, rows, &bar)?;
    let vault_times = workloads(&vault, rows, &bar)?;
    bar.finish_and_clear();

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    if args.json {
        let v: Vec<_> = WORKLOADS
            .iter()
            .zip(plain_times.iter().zip(&vault_times))
            .map(|(w, (p, v))| {
                serde_json::json!({
                    "workload": w, "rows": rows, "plain_ms": ms(*p), "sqlvault_ms": ms(*v),
                    "ratio": v.as_secs_f64() / p.as_secs_f64().max(1e-9),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(v));
        return Ok(());
    }
    println!(
        "{:<20} {:>12} {:>14} {:>7}",
        "workload", "plain (ms)", "sqlvault (ms)", "ratio"
    );
    for (w, (p, v)) in WORKLOADS.iter().zip(plain_times.iter().zip(&vault_times)) {
        println!(
            "{w:<20} {:>12.1} {:>14.1} {:>6.2}x",
            ms(*p),
            ms(*v),
            v.as_secs_f64() / p.as_secs_f64().max(1e-9)
        );
    }
    println!("({rows} rows per workload; one run each — see the criterion benches for real numbers)");
    Ok(())
}

fn workloads(conn: &Connection, rows: u32, bar: &indicatif::ProgressBar) -> Result<[Duration; 4], CliError> {
    let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL;
         CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL, body BLOB NOT NULL);",
    )?;
    let body = vec![0x5au8; 200];
    let mut out = [Duration::ZERO; 4];

    let t = Instant::now();
    conn.execute_batch("BEGIN")?;
    {
        let mut ins = conn.prepare_cached("INSERT INTO items(name, body) VALUES (?1, ?2)")?;
        for i in 0..rows {
            ins.execute(params![format!("item {i}"), body])?;
        }
    }
    conn.execute_batch("COMMIT")?;
    out[0] = t.elapsed();
    bar.inc(1);

    let t = Instant::now();
    for i in 0..rows / 10 {
        conn.execute(
            "INSERT INTO items(name, body) VALUES (?1, ?2)",
            params![format!("tx {i}"), body],
        )?;
    }
    out[1] = t.elapsed();
    bar.inc(1);

    let t = Instant::now();
    {
        let mut sel = conn.prepare_cached("SELECT name FROM items WHERE id = ?1")?;
        let mut x: u64 = 0x9e37_79b9;
        for _ in 0..rows {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let id = x % u64::from(rows) + 1;
            let _: String = sel.query_row([id as i64], |r| r.get(0))?;
        }
    }
    out[2] = t.elapsed();
    bar.inc(1);

    let t = Instant::now();
    for _ in 0..10 {
        let _: i64 = conn.query_row("SELECT sum(length(body)) FROM items", [], |r| r.get(0))?;
    }
    out[3] = t.elapsed();
    bar.inc(1);
    Ok(out)
}
