//! The workload benchmarks of issue 3 on SQLCipher 4, opened with a raw key so that its key
//! derivation (PBKDF2-HMAC-SHA512, 256 000 iterations by default) is not timed. Same workload code,
//! settings and data as `sqlvault-benches`' `workloads` bench; `benches/compare.sh` runs both and
//! prints the ratios. See `docs/benchmarks.md`.
//!
//! ```text
//! cd benches/sqlcipher && cargo bench --bench sqlcipher
//! ```

// The module is shared by several programs, each of which uses only part of it.
#[allow(dead_code)]
#[path = "../../workloads/mod.rs"]
mod workloads;

#[path = "../../workloads/driver.rs"]
mod driver;

use std::io::Read;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use rusqlite::Connection;

/// SQLCipher 4 with its default settings (4096-byte pages, AES-256-CBC, HMAC-SHA512 per page)
/// and the raw key `x'<64 hex digits>'`, which SQLCipher uses as the encryption key directly.
fn open_sqlcipher(path: &Path) -> workloads::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.execute_batch(&format!("PRAGMA key = \"x'{}'\"", workloads::bench_key_hex()))?;
    Ok(conn)
}

/// Makes sure this really is SQLCipher and that it encrypts, so that a misbuilt binary cannot
/// quietly report plain SQLite's numbers as SQLCipher's.
fn check_sqlcipher() -> workloads::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("check.db");
    let conn = open_sqlcipher(&path)?;
    let cipher: Option<String> = conn.query_row("PRAGMA cipher_version", [], |r| r.get(0)).ok();
    let cipher = cipher.ok_or("PRAGMA cipher_version answered nothing: not SQLCipher")?;
    conn.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES ('hello');")?;
    drop(conn);
    let mut header = [0_u8; 16];
    std::fs::File::open(&path)?.read_exact(&mut header)?;
    if &header == b"SQLite format 3\0" {
        return Err("the SQLCipher database has a plaintext header: not encrypted".into());
    }
    let version: String =
        Connection::open_in_memory()?.query_row("SELECT sqlite_version()", [], |r| r.get(0))?;
    eprintln!("engine sqlcipher: SQLCipher {cipher} on SQLite {version}");
    Ok(())
}

fn bench_workloads(c: &mut Criterion) {
    if let Err(e) = check_sqlcipher() {
        panic!("SQLCipher check failed: {e}");
    }
    driver::run(c, &[driver::engine("sqlcipher", open_sqlcipher)]);
}

criterion_group! {
    name = benches;
    config = driver::criterion_config();
    targets = bench_workloads
}
criterion_main!(benches);
