//! The SQLCipher 4 baseline of sqlvault's workload benchmarks. Everything is in
//! `benches/sqlcipher.rs`; run it with `cargo bench` in this directory, or `benches/compare.sh`.
