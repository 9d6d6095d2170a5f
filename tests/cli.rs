//! The `sqlvault` binary, run for real (assert_cmd): outputs, exit codes, and the files it
//! leaves behind. Every database here uses cheap Argon2 parameters (`FAST_KDF`); the
//! SQLCipher imports pay for SQLCipher's own PBKDF2 (256,000 iterations for version 4).

// Helpers outside #[test] fns unwrap too (clippy.toml only covers test functions).
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::time::Duration;

use assert_cmd::Command;
use predicates::prelude::*;
use rusqlite::functions::FunctionFlags;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use sha2::{Digest, Sha256};
use sqlvault_vfs::{Argon2Params, DatabaseKey, Key, open_connection};

const FAST_KDF: [&str; 6] = [
    "--kdf-memory",
    "64",
    "--kdf-iterations",
    "1",
    "--kdf-parallelism",
    "1",
];

struct Dir {
    tmp: tempfile::TempDir,
}

impl Dir {
    fn new() -> Dir {
        Dir {
            tmp: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }
    /// Writes a key file (with a trailing newline, as an editor would) and returns its path.
    fn key(&self, name: &str, key: &str) -> PathBuf {
        let p = self.path(name);
        fs::write(&p, format!("{key}\n")).unwrap();
        p
    }
    /// `sqlvault` with no key in the environment and the temp dir as working directory.
    fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("sqlvault").unwrap();
        c.current_dir(self.tmp.path())
            .env_remove("SQLVAULT_KEY")
            .env_remove("SQLVAULT_SOURCE_KEY")
            .env_remove("SQLVAULT_NEW_KEY")
            .env_remove("SQLVAULT_TEST_CRASH_AT");
        c
    }
    fn create(&self, db: &str, key: &Path, extra: &[&str]) {
        self.cmd()
            .arg("create")
            .arg(self.path(db))
            .arg("--key-file")
            .arg(key)
            .args(FAST_KDF)
            .args(extra)
            .assert()
            .success();
    }
    fn exec(&self, db: &str, key: &Path, sql: &str) -> assert_cmd::assert::Assert {
        self.cmd()
            .arg("exec")
            .arg(self.path(db))
            .arg(sql)
            .arg("--key-file")
            .arg(key)
            .assert()
    }
}

/// Opens a sqlvault database in-process (to check what the CLI wrote).
fn open(path: &Path, key: &str) -> Connection {
    let dbkey =
        DatabaseKey::resolve(path, &Key::parse_pragma(key), Argon2Params::INSECURE_FOR_TESTS).unwrap();
    open_connection(path, &dbkey, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

fn stdout(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(a.get_output().stdout.clone()).unwrap()
}

#[test]
fn create_then_exec_round_trips_in_every_format() {
    let d = Dir::new();
    let k = d.key("k", "round trip passphrase");
    d.create("a.db", &k, &[]);
    d.exec(
        "a.db",
        &k,
        "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB);
         INSERT INTO t VALUES (1, 'ann', 1.5, x'00ff'), (2, 'bob, jr', NULL, NULL);",
    )
    .success();

    let table = d
        .exec("a.db", &k, "SELECT id, name, score FROM t ORDER BY id")
        .success();
    assert_eq!(
        stdout(&table),
        "id | name    | score\n---+---------+------\n1  | ann     | 1.5\n2  | bob, jr | NULL\n"
    );
    let csv = d
        .cmd()
        .args([
            "exec",
            "a.db",
            "SELECT * FROM t ORDER BY id",
            "--format",
            "csv",
            "--key-file",
        ])
        .arg(&k)
        .assert()
        .success();
    assert_eq!(
        stdout(&csv),
        "id,name,score,data\n1,ann,1.5,00ff\n2,\"bob, jr\",,\n"
    );
    let json = d
        .cmd()
        .args([
            "exec",
            "a.db",
            "SELECT * FROM t ORDER BY id",
            "--json",
            "--key-file",
        ])
        .arg(&k)
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(
        v,
        serde_json::json!([
            {"id": 1, "name": "ann", "score": 1.5, "data": "00ff"},
            {"id": 2, "name": "bob, jr", "score": null, "data": null}
        ])
    );

    // The key can come from the environment too, and the file holds no plaintext.
    d.cmd()
        .args(["exec", "a.db", "SELECT name FROM t WHERE id = 2"])
        .env("SQLVAULT_KEY", "round trip passphrase")
        .assert()
        .success()
        .stdout(predicate::str::contains("bob, jr"));
    let bytes = fs::read(d.path("a.db")).unwrap();
    assert!(!bytes.windows(7).any(|w| w == b"bob, jr"));
}

#[test]
fn wrong_key_missing_file_and_missing_key_have_their_exit_codes() {
    let d = Dir::new();
    let k = d.key("k", "right");
    let bad = d.key("bad", "wrong");
    d.create("a.db", &k, &[]);
    d.exec("a.db", &bad, "SELECT 1")
        .code(3)
        .stderr(predicate::str::contains("wrong key"));
    d.exec("missing.db", &k, "SELECT 1").code(5);
    assert!(!d.path("missing.db").exists(), "exec must not create a database");
    // No key file, no variable, no terminal: a clear error, not a hang.
    d.cmd()
        .args(["exec", "a.db", "SELECT 1"])
        .write_stdin("")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--key-file"));
    // Refuses to overwrite.
    d.cmd()
        .args(["create", "a.db", "--key-file"])
        .arg(&k)
        .args(FAST_KDF)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("refusing to overwrite"));
    // Usage errors are clap's exit status 2.
    d.cmd().args(["exec"]).assert().code(2);
}

#[test]
fn help_documents_exit_codes_and_key_sources() {
    let d = Dir::new();
    d.cmd()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Exit status:"))
        .stdout(predicate::str::contains("3  wrong key"))
        .stdout(predicate::str::contains("SQLVAULT_KEY"));
    d.cmd()
        .args(["bench", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("criterion"));
}

#[test]
fn raw_key_file_makes_a_raw_key_database() {
    let d = Dir::new();
    let k = d.key("k", &format!("x'{}'", "ab".repeat(32)));
    d.create("raw.db", &k, &[]);
    d.exec("raw.db", &k, "CREATE TABLE t(x); INSERT INTO t VALUES (7)")
        .success();
    let info = d.cmd().args(["info", "raw.db"]).assert().success();
    assert!(stdout(&info).contains("raw 256-bit key"), "{}", stdout(&info));
    // The same text as a passphrase is a different key: the raw form was really used.
    let conn = open(&d.path("raw.db"), &format!("x'{}'", "ab".repeat(32)));
    let x: i64 = conn.query_row("SELECT x FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(x, 7);
}

#[test]
fn info_shows_layout_and_kdf_without_a_key_and_never_a_secret() {
    let d = Dir::new();
    let secret = "sekrit-passphrase-4711";
    let k = d.key("k", secret);
    d.create("a.db", &k, &["--page-size", "8192", "--wal"]);
    d.exec("a.db", &k, "CREATE TABLE t(x); INSERT INTO t VALUES ('hello')")
        .success();
    let text = d.cmd().args(["info", "a.db"]).assert().success();
    let text = stdout(&text);
    assert!(text.contains("page size:       8192"), "{text}");
    assert!(
        text.contains("Argon2id, 64 KiB memory, 1 iterations, 1 lanes"),
        "{text}"
    );
    assert!(text.contains("journal mode:    WAL"), "{text}");
    let json = d.cmd().args(["info", "a.db", "--json"]).assert().success();
    let json = stdout(&json);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["page_size"], 8192);
    assert_eq!(v["kdf"]["memory_kib"], 64);
    assert_eq!(v["format_version"], 2);
    assert_eq!(v["supported"], true);
    for out in [&text, &json] {
        assert!(!out.contains(secret) && !out.contains("sekrit"), "{out}");
    }
    // A plaintext file is named as such.
    Connection::open(d.path("plain.db"))
        .unwrap()
        .execute_batch("CREATE TABLE t(x)")
        .unwrap();
    d.cmd()
        .args(["info", "plain.db"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("plaintext SQLite"));
}

#[test]
fn bench_prints_a_ratio_per_workload() {
    let d = Dir::new();
    let out = d
        .cmd()
        .args(["bench", "--rows", "300", "--json", "--quiet"])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let rows = v.as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["workload"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "batched inserts",
            "small transactions",
            "point selects",
            "full scans"
        ]
    );
    for r in rows {
        assert!(r["ratio"].as_f64().unwrap() > 0.0, "{r}");
        assert_eq!(r["rows"], 300);
    }
}

#[test]
fn shell_runs_sql_and_dot_commands_from_a_pipe() {
    let d = Dir::new();
    let k = d.key("k", "shell");
    d.create("a.db", &k, &[]);
    d.exec(
        "a.db",
        &k,
        "CREATE TABLE notes(body TEXT); INSERT INTO notes VALUES ('one'), ('two')",
    )
    .success();
    let out = d
        .cmd()
        .args(["shell", "a.db", "--key-file"])
        .arg(&k)
        .write_stdin(".tables\nSELECT count(*) AS n\n  FROM notes;\n.mode csv\nSELECT body FROM notes ORDER BY body;\nSELECT nope;\n.quit\n")
        .assert()
        .success()
        .stderr(predicate::str::contains("no such column: nope"));
    assert_eq!(stdout(&out), "name\n-----\nnotes\nn\n-\n2\nbody\none\ntwo\n");
}

#[test]
fn importing_a_sqlvault_database_points_to_rekey() {
    let d = Dir::new();
    let k = d.key("k", "x");
    d.create("a.db", &k, &[]);
    d.cmd()
        .args(["import", "a.db", "b.db", "--key-file"])
        .arg(&k)
        .args(FAST_KDF)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("already a sqlvault database"));
}

// ---- SQLCipher imports -------------------------------------------------------------

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sqlcipher")
}

/// Copies a fixture (and its WAL) into `d`, so nothing writes next to the committed files.
fn copy_fixture(d: &Dir, name: &str) {
    for suffix in [".db", ".db-wal"] {
        let from = fixtures().join(format!("{name}{suffix}"));
        if from.exists() {
            fs::copy(&from, d.path(&format!("{name}{suffix}"))).unwrap();
        }
    }
}

/// Formats a value as the `.expected` files do (see `tests/fixtures/sqlcipher/make-v4`).
fn format_value(v: ValueRef<'_>) -> String {
    match v {
        ValueRef::Null => "NULL".into(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(r) => format!("{r:?}"),
        ValueRef::Text(t) => {
            let t = String::from_utf8_lossy(t);
            format!(
                "'{}'",
                t.replace('\\', "\\\\").replace('\n', "\\n").replace('|', "\\|")
            )
        }
        ValueRef::Blob(b) => format!("x'{}'", b.iter().map(|x| format!("{x:02X}")).collect::<String>()),
    }
}

fn query(conn: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    let mut rows = stmt.query([]).unwrap();
    let mut out = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        out.push(
            (0..n)
                .map(|i| format_value(row.get_ref(i).unwrap()))
                .collect::<Vec<_>>()
                .join(" | "),
        );
    }
    out
}

fn expected(name: &str) -> Vec<(String, Vec<String>)> {
    let text = fs::read_to_string(fixtures().join(format!("{name}.expected"))).unwrap();
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        match line.strip_prefix("# query: ") {
            Some(q) => out.push((q.to_string(), Vec::new())),
            None => out.last_mut().unwrap().1.push(line.to_string()),
        }
    }
    assert!(out.len() >= 10);
    out
}

fn import_fixture_and_compare(name: &str, source_key: &str) {
    let d = Dir::new();
    copy_fixture(&d, name);
    let sk = d.key("source-key", source_key);
    let k = d.key("k", "new sqlvault passphrase");
    let out = d
        .cmd()
        .arg("import")
        .arg(format!("{name}.db"))
        .arg("imported.db")
        .arg("--source-key-file")
        .arg(&sk)
        .arg("--key-file")
        .arg(&k)
        .args(FAST_KDF)
        .arg("--json")
        .assert()
        .success();
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(
        report["source"].as_str().unwrap().starts_with("SQLCipher"),
        "{report}"
    );

    let conn = open(&d.path("imported.db"), "new sqlvault passphrase");
    conn.create_scalar_function(
        "sha256hex",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let bytes = ctx.get_raw(0).as_bytes_or_null()?.unwrap_or_default();
            Ok(Sha256::digest(bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>())
        },
    )
    .unwrap();
    for (q, rows) in expected(name) {
        assert_eq!(query(&conn, &q), rows, "{name}: {q}");
    }
    // The new file is a sqlvault file: no SQLCipher reserve, sqlvault's trailer instead.
    let reserve: Vec<String> = query(&conn, "PRAGMA page_size");
    assert_eq!(reserve, ["4096"]);
    let bytes = fs::read(d.path("imported.db")).unwrap();
    assert_eq!(bytes[20], 32, "{name}: reserve byte");
    assert!(
        !bytes.windows(10).any(|w| w == b"c1@example"),
        "{name}: plaintext on disk"
    );
    // Nothing else left in the directory but the inputs and the result (no plaintext temp file).
    let mut names: Vec<String> = fs::read_dir(d.tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with(name) && n != "k" && n != "source-key")
        .collect();
    names.sort();
    assert_eq!(names, ["imported.db"], "{name}");
}

#[test]
fn import_sqlcipher4_default() {
    import_fixture_and_compare("v4-default", "v4 default passphrase");
}

#[test]
fn import_sqlcipher4_page_size_8192() {
    import_fixture_and_compare("v4-page8192", "v4 page 8192 passphrase");
}

#[test]
fn import_sqlcipher4_with_uncheckpointed_wal() {
    import_fixture_and_compare("v4-wal", "v4 wal passphrase");
}

#[test]
fn import_sqlcipher4_raw_key_wal_only() {
    import_fixture_and_compare(
        "v4-rawkey",
        "x'2b7e151628aed2a6abf7158809cf4f3c762e7160f38b4da56a784d9045190cfe'",
    );
}

#[test]
fn import_sqlcipher3_default() {
    import_fixture_and_compare("v3-default", "v3 default passphrase");
}

#[test]
fn import_sqlcipher3_page_size_4096() {
    import_fixture_and_compare("v3-page4096", "v3 page 4096 passphrase");
}

#[test]
fn import_sqlcipher3_with_uncheckpointed_wal() {
    import_fixture_and_compare("v3-wal", "v3 wal passphrase");
}

#[test]
fn import_sqlcipher2_kdf_iter_4000() {
    import_fixture_and_compare("v2-kdf4000", "v2 passphrase");
}

#[test]
fn import_with_explicit_settings_and_wrong_settings() {
    let d = Dir::new();
    copy_fixture(&d, "v2-kdf4000");
    let sk = d.key("sk", "v2 passphrase");
    let k = d.key("k", "new");
    let import = |extra: &[&str], target: &str| {
        d.cmd()
            .args(["import", "v2-kdf4000.db", target, "--source-key-file"])
            .arg(&sk)
            .arg("--key-file")
            .arg(&k)
            .args(FAST_KDF)
            .args(extra)
            .assert()
    };
    // SQLCipher 3 defaults with SQLCipher 2's iteration count: the same thing as --legacy 2.
    import(
        &["--legacy", "3", "--kdf-iter", "4000", "--page-size", "1024"],
        "a.db",
    )
    .success();
    import(&["--legacy", "2"], "b.db").success();
    // The wrong iteration count cannot open it.
    import(&["--legacy", "3"], "c.db")
        .code(3)
        .stderr(predicate::str::contains("v2-kdf4000.db"));
    assert!(!d.path("c.db").exists());
}

#[test]
fn import_with_wrong_sqlcipher_passphrase_is_a_clear_error() {
    let d = Dir::new();
    copy_fixture(&d, "v2-kdf4000");
    let sk = d.key("sk", "not the v2 passphrase");
    let k = d.key("k", "new");
    d.cmd()
        .args([
            "import",
            "v2-kdf4000.db",
            "out.db",
            "--legacy",
            "2",
            "--source-key-file",
        ])
        .arg(&sk)
        .arg("--key-file")
        .arg(&k)
        .args(FAST_KDF)
        .assert()
        .code(3)
        .stderr(predicate::str::contains(
            "v2-kdf4000.db: wrong key, or not a SQLCipher database",
        ));
    assert!(!d.path("out.db").exists());
}

#[test]
fn import_of_a_tampered_sqlcipher_page_names_the_page() {
    let d = Dir::new();
    copy_fixture(&d, "v2-kdf4000");
    let path = d.path("v2-kdf4000.db");
    let mut bytes = fs::read(&path).unwrap();
    bytes[2 * 1024 + 100] ^= 0x01; // page 3 (page size 1024)
    fs::write(&path, bytes).unwrap();
    let sk = d.key("sk", "v2 passphrase");
    let k = d.key("k", "new");
    let out = d
        .cmd()
        .args([
            "import",
            "v2-kdf4000.db",
            "out.db",
            "--legacy",
            "2",
            "--source-key-file",
        ])
        .arg(&sk)
        .arg("--key-file")
        .arg(&k)
        .args(FAST_KDF)
        .assert()
        .code(4);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains('3') && err.to_lowercase().contains("page"), "{err}");
    assert!(!d.path("out.db").exists());
}

// ---- plaintext round trip ----------------------------------------------------------

/// A `.dump`-equivalent of a database: schema, every row of every table (by rowid),
/// sqlite_sequence, user_version and application_id.
fn dump(conn: &Connection) -> Vec<String> {
    let mut out = query(
        conn,
        "SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name",
    );
    for p in ["user_version", "application_id"] {
        out.extend(query(conn, &format!("PRAGMA {p}")));
    }
    let tables: Vec<(String, String)> = conn
        .prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (t, sql) in tables {
        out.push(format!("-- {t}"));
        let q = format!("\"{}\"", t.replace('"', "\"\""));
        let select = if sql.contains("WITHOUT ROWID") {
            format!("SELECT * FROM {q} ORDER BY 1")
        } else {
            format!("SELECT rowid, * FROM {q} ORDER BY rowid")
        };
        out.extend(query(conn, &select));
    }
    out
}

fn make_plaintext(path: &Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA user_version = 7; PRAGMA application_id = 12345;
         CREATE TABLE people(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, score REAL, photo BLOB);
         CREATE TABLE log(msg TEXT);
         CREATE TABLE measures(a REAL, b REAL, total REAL GENERATED ALWAYS AS (a + b) STORED, half AS (a / 2));
         CREATE TABLE \"odd \"\"name\"\"\"(k TEXT PRIMARY KEY, v) WITHOUT ROWID;
         CREATE INDEX people_name ON people(name);
         CREATE VIEW high AS SELECT name FROM people WHERE score > 50;
         CREATE TRIGGER people_log AFTER INSERT ON people BEGIN INSERT INTO log VALUES ('added ' || NEW.name); END;",
    )
    .unwrap();
    for i in 0..300 {
        conn.execute(
            "INSERT INTO people(name, score, photo) VALUES (?1, ?2, ?3)",
            rusqlite::params![
                format!("person {i}"),
                f64::from(i) * 0.5,
                vec![i as u8; 100 + i as usize]
            ],
        )
        .unwrap();
    }
    // Deleting from `log` (no INTEGER PRIMARY KEY) leaves rowid gaps the copy must keep.
    conn.execute_batch("INSERT INTO measures(a, b) VALUES (1, 2), (3.5, NULL); DELETE FROM log WHERE rowid % 5 = 0; DELETE FROM people WHERE id % 7 = 0; INSERT INTO \"odd \"\"name\"\"\" VALUES ('a', NULL), ('b', x'01');")
        .unwrap();
}

#[test]
fn plaintext_import_export_round_trip_is_identical() {
    let d = Dir::new();
    let original = d.path("plain.db");
    make_plaintext(&original);
    let k = d.key("k", "round trip");
    d.cmd()
        .args(["import", "plain.db", "vault.db", "--key-file"])
        .arg(&k)
        .args(FAST_KDF)
        .assert()
        .success();
    // Export needs the explicit flag.
    d.cmd()
        .args(["export", "vault.db", "back.db", "--key-file"])
        .arg(&k)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--i-know-this-writes-plaintext"));
    assert!(!d.path("back.db").exists());
    d.cmd()
        .args([
            "export",
            "vault.db",
            "back.db",
            "--i-know-this-writes-plaintext",
            "--key-file",
        ])
        .arg(&k)
        .assert()
        .success();

    let before = dump(&Connection::open_with_flags(&original, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap());
    let middle = dump(&open(&d.path("vault.db"), "round trip"));
    let after =
        dump(&Connection::open_with_flags(d.path("back.db"), OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap());
    assert!(before.len() > 300, "the dump covers the rows");
    assert_eq!(before, middle);
    assert_eq!(before, after);
    // The export is stock SQLite without sqlvault's reserve.
    let back = fs::read(d.path("back.db")).unwrap();
    assert_eq!(&back[..16], b"SQLite format 3\0");
    assert_eq!(back[20], 0);
}

// ---- rekey ---------------------------------------------------------------------------

fn make_vault(d: &Dir, name: &str, key: &Path, wal: bool) {
    d.create(name, key, if wal { &["--wal"] } else { &[] });
    d.exec(
        name,
        key,
        "CREATE TABLE t(id INTEGER PRIMARY KEY, body BLOB);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400)
         INSERT INTO t SELECT i, randomblob(900) FROM n;
         CREATE INDEX t_body ON t(body);",
    )
    .success();
}

fn rekey_cmd(d: &Dir, db: &str, old: &Path, new: &Path) -> Command {
    let mut c = d.cmd();
    c.args(["rekey", db, "--key-file"])
        .arg(old)
        .arg("--new-key-file")
        .arg(new)
        .args(FAST_KDF);
    c
}

#[test]
fn rekey_switches_keys_and_keeps_data() {
    let d = Dir::new();
    let old = d.key("old", "old passphrase");
    let new = d.key("new", &format!("x'{}'", "5a".repeat(32)));
    make_vault(&d, "a.db", &old, true);
    let before = stdout(
        &d.exec(
            "a.db",
            &old,
            "SELECT count(*), sum(length(body)), group_concat(hex(substr(body, 1, 8))) FROM t",
        )
        .success(),
    );
    rekey_cmd(&d, "a.db", &old, &new).assert().success();
    d.exec("a.db", &old, "SELECT 1").code(3);
    let after = d
        .exec(
            "a.db",
            &new,
            "SELECT count(*), sum(length(body)), group_concat(hex(substr(body, 1, 8))) FROM t",
        )
        .success();
    assert_eq!(before, stdout(&after));
    let info = stdout(&d.cmd().args(["info", "a.db"]).assert().success());
    assert!(info.contains("raw 256-bit key") && info.contains("WAL"), "{info}");
    d.cmd()
        .args(["verify", "a.db", "--key-file"])
        .arg(&new)
        .assert()
        .success();
}

/// After a rekey that died at any point, exactly one of the keys opens the database, it
/// holds all the data, and `verify` passes.
fn check_after_crash(d: &Dir, old: &Path, new: &Path, what: &str) {
    let opens = |k: &Path| {
        d.exec("a.db", k, "SELECT count(*) FROM t")
            .get_output()
            .status
            .code()
    };
    let (o, n) = (opens(old), opens(new));
    let key = match (o, n) {
        (Some(0), Some(3)) => old,
        (Some(3), Some(0)) => new,
        other => panic!("{what}: exit codes with old/new key: {other:?}"),
    };
    d.exec("a.db", key, "SELECT count(*) FROM t")
        .success()
        .stdout(predicate::str::contains("400"));
    d.cmd()
        .args(["verify", "a.db", "--key-file"])
        .arg(key)
        .assert()
        .success();
}

#[test]
fn rekey_killed_at_each_stage_leaves_old_or_new_database() {
    let d = Dir::new();
    let old = d.key("old", "old passphrase");
    let new = d.key("new", "new passphrase");
    make_vault(&d, "a.db", &old, true);
    let mut saw_old = false;
    let mut saw_new = false;
    for point in [
        "pages:1",
        "pages:8",
        "pages:64",
        "pages:200",
        "before-rename",
        "after-rename",
    ] {
        // Each round starts from the key that currently opens the database.
        let current_is_old = d.exec("a.db", &old, "SELECT 1").get_output().status.success();
        let (from, to) = if current_is_old {
            (&old, &new)
        } else {
            (&new, &old)
        };
        let out = rekey_cmd(&d, "a.db", from, to)
            .env("SQLVAULT_TEST_CRASH_AT", point)
            .assert()
            .failure();
        assert!(
            out.get_output().status.code().is_none(),
            "{point}: the process should have died by signal"
        );
        check_after_crash(&d, &old, &new, point);
        let now_old = d.exec("a.db", &old, "SELECT 1").get_output().status.success();
        let info = stdout(&d.cmd().args(["info", "a.db"]).assert().success());
        if point == "after-rename" {
            assert_ne!(now_old, current_is_old, "{point}: the rename happened");
            assert!(!info.contains("leftover:"), "{point}: {info}");
        } else {
            assert_eq!(now_old, current_is_old, "{point}: the original must be untouched");
            // The partial copy is left behind under its temporary name, and named by info.
            assert!(
                info.contains("leftover:") && info.contains(".sqlvault-tmp"),
                "{point}: {info}"
            );
            for p in fs::read_dir(d.tmp.path()).unwrap() {
                let p = p.unwrap().path();
                if p.to_string_lossy().contains(".sqlvault-tmp") {
                    fs::remove_file(p).unwrap();
                }
            }
        }
        saw_old |= now_old;
        saw_new |= !now_old;
    }
    assert!(saw_old && saw_new);
}

#[test]
fn rekey_killed_after_random_delays_leaves_old_or_new_database() {
    let d = Dir::new();
    let old = d.key("old", "old passphrase");
    let new = d.key("new", "new passphrase");
    make_vault(&d, "a.db", &old, false);
    // A cheap pseudo-random spread of delays, seeded from the clock.
    let mut x = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        | 1;
    let bin = assert_cmd::cargo::cargo_bin("sqlvault");
    // How long a whole rekey takes here: the kills are spread over that span.
    let started = std::time::Instant::now();
    rekey_cmd(&d, "a.db", &old, &new).assert().success();
    let span_ms = (started.elapsed().as_millis() as u32).max(1);
    for round in 0..10 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let delay = Duration::from_millis(u64::from(x % span_ms));
        let current_is_old = d.exec("a.db", &old, "SELECT 1").get_output().status.success();
        let (from, to) = if current_is_old {
            (&old, &new)
        } else {
            (&new, &old)
        };
        let mut child = StdCommand::new(&bin)
            .current_dir(d.tmp.path())
            .args(["rekey", "a.db", "--quiet", "--key-file"])
            .arg(from)
            .arg("--new-key-file")
            .arg(to)
            .args(FAST_KDF)
            .env_remove("SQLVAULT_KEY")
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        child.wait().unwrap();
        check_after_crash(&d, &old, &new, &format!("round {round}, killed after {delay:?}"));
    }
}

// ---- verify ------------------------------------------------------------------------

#[test]
fn verify_names_a_tampered_page_and_fails() {
    let d = Dir::new();
    let k = d.key("k", "verify me");
    make_vault(&d, "a.db", &k, false);
    d.cmd()
        .args(["verify", "a.db", "--key-file"])
        .arg(&k)
        .assert()
        .success()
        .stdout(predicate::str::contains("ok:"));
    let path = d.path("a.db");
    let mut bytes = fs::read(&path).unwrap();
    let pages = bytes.len() / 4096;
    assert!(pages > 10);
    bytes[4096 * 4 + 1000] ^= 0x40; // page 5
    fs::write(&path, bytes).unwrap();
    let out = d
        .cmd()
        .args(["verify", "a.db", "--key-file"])
        .arg(&k)
        .assert()
        .code(4);
    let text = stdout(&out);
    assert!(
        text.contains("page 5 of the database: does not authenticate"),
        "{text}"
    );
    assert!(
        !text.contains("page 4 of") && !text.contains("page 6 of"),
        "{text}"
    );
    let json = d
        .cmd()
        .args(["verify", "a.db", "--json", "--key-file"])
        .arg(&k)
        .assert()
        .code(4);
    let v: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(v["bad_pages"], serde_json::json!([5]));
    assert_eq!(v["ok"], false);
    // A query touching the page names it too.
    d.exec("a.db", &k, "SELECT count(*), sum(length(body)) FROM t")
        .code(4)
        .stderr(predicate::str::contains("does not authenticate"));
    // The wrong key is told apart from tampering.
    let bad = d.key("bad", "nope");
    d.cmd()
        .args(["verify", "a.db", "--key-file"])
        .arg(&bad)
        .assert()
        .code(3);
}

#[test]
fn verify_checks_wal_frames() {
    let d = Dir::new();
    let k = d.key("k", "wal verify");
    make_vault(&d, "a.db", &k, true);
    // Write more through an open connection that never checkpoints, and copy the files
    // while it is open, so the copy has committed frames in its WAL.
    let path = d.path("a.db");
    let dbkey = DatabaseKey::resolve(
        &path,
        &Key::parse_pragma("wal verify"),
        Argon2Params::INSECURE_FOR_TESTS,
    )
    .unwrap();
    let conn = open_connection(&path, &dbkey, OpenFlags::default()).unwrap();
    conn.execute_batch("PRAGMA wal_autocheckpoint = 0; UPDATE t SET body = randomblob(900) WHERE id <= 50;")
        .unwrap();
    fs::copy(&path, d.path("b.db")).unwrap();
    fs::copy(d.path("a.db-wal"), d.path("b.db-wal")).unwrap();
    drop(conn);
    let ok = d
        .cmd()
        .args(["verify", "b.db", "--json", "--key-file"])
        .arg(&k)
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_str(&stdout(&ok)).unwrap();
    let frames = v["wal_frames"].as_u64().unwrap();
    assert!(frames > 5, "{v}");

    let wal = d.path("b.db-wal");
    let mut bytes = fs::read(&wal).unwrap();
    let frame = 2usize;
    let off = 32 + frame * (24 + 4096) + 24 + 500;
    bytes[off] ^= 1;
    fs::write(&wal, bytes).unwrap();
    let out = d
        .cmd()
        .args(["verify", "b.db", "--key-file"])
        .arg(&k)
        .assert()
        .code(4);
    assert!(stdout(&out).contains("WAL frame 2"), "{}", stdout(&out));
}

#[test]
fn info_names_an_older_format_version_and_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.db");
    // A version-1 salt (byte 12 = 1, raw-key KDF record) and page-size header fields.
    let mut bytes = vec![0u8; 4096];
    bytes[..12].copy_from_slice(&[7u8; 12]);
    bytes[12] = 1;
    bytes[16..18].copy_from_slice(&4096u16.to_be_bytes());
    bytes[18] = 1;
    bytes[19] = 1;
    bytes[20] = 32;
    std::fs::write(&db, &bytes).unwrap();
    let out = assert_cmd::Command::cargo_bin("sqlvault")
        .unwrap()
        .args(["info", "--json"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["format_version"], 1);
    assert_eq!(v["supported"], false);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("format version 1"), "{stderr}");
}
