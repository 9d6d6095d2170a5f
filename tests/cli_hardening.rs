//! The `sqlvault` binary against a keyless attacker's tricks: a planted KDF cost in the
//! clear salt, a `vfs=` URI, and key variables left in its environment.

// Helpers outside #[test] fns unwrap too (clippy.toml only covers test functions).
#![allow(clippy::unwrap_used)]

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use predicates::prelude::*;
use sqlvault_crypto::{Argon2Params, DatabaseSalt, KdfKind};

const FAST_KDF: [&str; 6] = [
    "--kdf-memory",
    "64",
    "--kdf-iterations",
    "1",
    "--kdf-parallelism",
    "1",
];

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("sqlvault")
}

/// `sqlvault` in `dir`, with no key in its environment.
fn cmd(dir: &Path) -> Command {
    let mut c = Command::new(bin());
    c.current_dir(dir)
        .env_remove("SQLVAULT_KEY")
        .env_remove("SQLVAULT_SOURCE_KEY")
        .env_remove("SQLVAULT_NEW_KEY")
        .env_remove("SQLVAULT_TEST_CRASH_AT");
    c
}

fn key_file(dir: &Path, name: &str, key: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, format!("{key}\n")).unwrap();
    p
}

fn create(dir: &Path, db: &Path, key: &Path, extra: &[&str]) {
    cmd(dir)
        .arg("create")
        .arg(db)
        .arg("--key-file")
        .arg(key)
        .args(FAST_KDF)
        .args(extra)
        .assert()
        .success();
}

/// Rewrites the clear salt of `db` to demand `params`, as anyone who can write the file can.
fn plant_kdf(db: &Path, params: Argon2Params) {
    let salt = DatabaseSalt::generate(KdfKind::Argon2id(params)).unwrap();
    let mut bytes = fs::read(db).unwrap();
    bytes[..salt.as_bytes().len()].copy_from_slice(salt.as_bytes());
    fs::write(db, bytes).unwrap();
}

#[test]
fn planted_kdf_header_is_refused_fast_by_every_keyed_command() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let k = key_file(d, "k", "planted");
    let db = d.join("a.db");
    create(d, &db, &k, &[]);
    plant_kdf(
        &db,
        Argon2Params {
            memory_kib: 1 << 24,
            iterations: 255,
            parallelism: 1,
        },
    );
    let refused = || {
        predicate::str::contains("refusing to run Argon2id")
            .and(predicate::str::contains("16777216"))
            .and(predicate::str::contains("--kdf-max-memory"))
    };
    let out = d.join("out.db");
    let commands: [Vec<&std::ffi::OsStr>; 5] = [
        vec!["exec".as_ref(), db.as_os_str(), "SELECT 1".as_ref()],
        vec!["shell".as_ref(), db.as_os_str()],
        vec!["verify".as_ref(), db.as_os_str()],
        vec![
            "export".as_ref(),
            db.as_os_str(),
            out.as_os_str(),
            "--i-know-this-writes-plaintext".as_ref(),
        ],
        vec![
            "rekey".as_ref(),
            db.as_os_str(),
            "--new-key-file".as_ref(),
            k.as_os_str(),
        ],
    ];
    for args in commands {
        let start = Instant::now();
        cmd(d)
            .args(&args)
            .arg("--key-file")
            .arg(&k)
            .write_stdin("")
            .timeout(Duration::from_secs(60))
            .assert()
            .code(1)
            .stderr(refused());
        println!(
            "{:?}: refused in {:?} (process start to exit)",
            args[0],
            start.elapsed()
        );
    }
    assert!(!out.exists());
}

#[test]
fn kdf_limits_are_configurable_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let k = key_file(d, "k", "limits");
    let db = d.join("heavy.db");
    // 20 passes: above the default cap of 16, so creating needs the cap raised too.
    cmd(d)
        .args(["create"])
        .arg(&db)
        .arg("--key-file")
        .arg(&k)
        .args([
            "--kdf-memory",
            "64",
            "--kdf-iterations",
            "20",
            "--kdf-parallelism",
            "1",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("iterations 20, above the limit of 16"));
    cmd(d)
        .args(["create"])
        .arg(&db)
        .arg("--key-file")
        .arg(&k)
        .args([
            "--kdf-memory",
            "64",
            "--kdf-iterations",
            "20",
            "--kdf-parallelism",
            "1",
        ])
        .args(["--kdf-max-iterations", "20"])
        .assert()
        .success();
    cmd(d)
        .arg("exec")
        .arg(&db)
        .arg("SELECT 1")
        .arg("--key-file")
        .arg(&k)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--kdf-max-iterations"));
    cmd(d)
        .arg("exec")
        .arg(&db)
        .arg("SELECT 41 + 1")
        .arg("--key-file")
        .arg(&k)
        .args(["--kdf-max-iterations", "20"])
        .assert()
        .success()
        .stdout(predicate::str::contains("42"));
    // A memory cap below what the file records refuses it as well.
    cmd(d)
        .arg("verify")
        .arg(&db)
        .arg("--key-file")
        .arg(&k)
        .args(["--kdf-max-iterations", "20", "--kdf-max-memory", "32"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("memory (KiB) 64, above the limit of 32"));
}

#[test]
fn vfs_uri_parameter_cannot_make_the_cli_write_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let k = key_file(d, "k", "uri");
    let db = d.join("x.db");
    let uri = format!("file:{}?vfs=unix", db.display());
    cmd(d)
        .arg("create")
        .arg(&uri)
        .arg("--key-file")
        .arg(&k)
        .args(FAST_KDF)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("`unix` VFS"));
    let bytes = fs::read(&db).unwrap_or_default();
    assert!(
        !bytes.starts_with(b"SQLite format 3"),
        "a plaintext database was created"
    );
    assert!(bytes.is_empty(), "{} bytes written", bytes.len());
}

/// The NUL-separated entries of `/proc/PID/environ`.
fn environ_of(pid: u32) -> Vec<Vec<u8>> {
    fs::read(format!("/proc/{pid}/environ"))
        .unwrap()
        .split(|&b| b == 0)
        .filter(|e| !e.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn key_variables_leave_the_cli_environment_once_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let secret = "env-passphrase-6f1d2c";
    let k = key_file(d, "k", secret);
    let db = d.join("env.db");
    create(d, &db, &k, &[]);
    let mut child = StdCommand::new(bin())
        .current_dir(d)
        .arg("shell")
        .arg(&db)
        .env("SQLVAULT_KEY", secret)
        .env("SQLVAULT_SOURCE_KEY", "source-secret-9a8b")
        .env("SQLVAULT_NEW_KEY", "new-secret-7c6d")
        .env("SQLVAULT_TEST_CANARY", "not-a-key")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Once the shell answers, it has read its key and opened the database.
    stdin.write_all(b"SELECT 'ready' AS state;\n").unwrap();
    stdin.flush().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        lines.by_ref().take(10).any(|l| l.unwrap().contains("ready")),
        "the shell did not answer"
    );
    let env = environ_of(child.id());
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success());

    // The check can see the environment: the canary is still there…
    assert!(
        env.iter().any(|e| e == b"SQLVAULT_TEST_CANARY=not-a-key"),
        "canary missing"
    );
    // …but neither the key variables' names nor their values are.
    for needle in [
        &b"SQLVAULT_KEY="[..],
        b"SQLVAULT_SOURCE_KEY=",
        b"SQLVAULT_NEW_KEY=",
        secret.as_bytes(),
        b"source-secret-9a8b",
        b"new-secret-7c6d",
    ] {
        assert!(
            !env.iter().any(|e| contains(e, needle)),
            "/proc/PID/environ still shows {}",
            String::from_utf8_lossy(needle)
        );
    }
}
