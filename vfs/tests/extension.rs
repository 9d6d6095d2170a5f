//! The loadable extension, used the way programs with only SQLite's C API use it:
//! Debian's `sqlite3` shell and Python's `sqlite3` module.

// Helpers outside `#[test]` fns unwrap too: any failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use common::*;

/// Builds `extension/` (its own workspace) once and returns the path without `.so`,
/// as `.load` and `load_extension` take it.
fn extension() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf();
        let manifest = root.join("extension/Cargo.toml");
        let status = Command::new(env!("CARGO"))
            .args(["build", "--release", "--quiet", "--manifest-path"])
            .arg(&manifest)
            .status()
            .expect("running cargo to build the extension");
        assert!(status.success(), "building the extension failed");
        // Where cargo put it: $CARGO_TARGET_DIR if set (the child cargo inherits it),
        // else the extension workspace's own target/.
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(|dir| std::path::absolute(dir).unwrap())
            .unwrap_or_else(|| root.join("extension/target"));
        let lib = target.join("release/libsqlvault.so");
        assert!(lib.exists(), "{} missing", lib.display());
        target.join("release/libsqlvault")
    })
}

fn run(program: &str, args: &[&str], stdin: &str) -> (bool, String, String) {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{program} is needed for this test (apt-get install sqlite3 python3): {e}")
        });
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn sqlite3_shell_creates_and_reopens_an_encrypted_database() {
    let ext = extension().display().to_string();
    let dir = tempdir();
    let db = db_path(&dir, "shell.db");
    let db = db.display();
    let (ok, out, err) = run(
        "sqlite3",
        &[],
        &format!(
            ".load {ext}\n.open {db}\nPRAGMA key = 'shell passphrase';\nPRAGMA journal_mode=WAL;\n\
             CREATE TABLE notes(body TEXT);\nINSERT INTO notes VALUES ('SECRET-FROM-SHELL');\nSELECT body FROM notes;\n"
        ),
    );
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("SECRET-FROM-SHELL"), "{out}\n{err}");
    assert!(files_containing(dir.path(), b"SECRET-FROM-SHELL").is_empty());

    let (_, out, err) = run(
        "sqlite3",
        &[],
        &format!(
            ".load {ext}\n.open {db}\nPRAGMA key = 'shell passphrase';\nSELECT body FROM notes;\nPRAGMA integrity_check;\n"
        ),
    );
    assert!(
        out.contains("SECRET-FROM-SHELL") && out.contains("ok"),
        "{out}\n{err}"
    );

    let (_, out, err) = run(
        "sqlite3",
        &[],
        &format!(".load {ext}\n.open {db}\nPRAGMA key = 'wrong';\nSELECT body FROM notes;\n"),
    );
    assert!(!out.contains("SECRET"), "{out}");
    assert!(err.contains("file is not a database"), "{err}");

    // The Rust API opens what the shell wrote.
    let key = resolve(
        &dir.path().join("shell.db"),
        &sqlvault_vfs::Key::Passphrase("shell passphrase".into()),
    );
    let conn =
        sqlvault_vfs::open_connection(&dir.path().join("shell.db"), &key, rusqlite::OpenFlags::default())
            .unwrap();
    let body: String = conn
        .query_row("SELECT body FROM notes", [], |r| r.get(0))
        .unwrap();
    assert_eq!(body, "SECRET-FROM-SHELL");
}

#[test]
fn python_sqlite3_module_loads_the_extension_and_uses_pragma_key() {
    let ext = extension().display().to_string();
    let dir = tempdir();
    let db = db_path(&dir, "py.db").display().to_string();
    let hex = "11".repeat(32);
    let script = format!(
        r#"
import sqlite3
loader = sqlite3.connect(":memory:")
loader.enable_load_extension(True)
loader.load_extension({ext:?})
conn = sqlite3.connect({db:?})
conn.execute("PRAGMA key = \"x'{hex}'\"")
conn.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
conn.executemany("INSERT INTO t(v) VALUES (?)", [("SECRET-FROM-PYTHON-%d" % i,) for i in range(500)])
conn.commit()
conn.close()
conn = sqlite3.connect({db:?})
conn.execute("PRAGMA key = \"x'{hex}'\"")
print(conn.execute("SELECT count(*), max(v) FROM t").fetchone())
print(conn.execute("PRAGMA integrity_check").fetchone()[0])
conn.close()
plain = sqlite3.connect({db:?} + ".plain")
plain.execute("CREATE TABLE p(x)")
plain.execute("INSERT INTO p VALUES ('visible')")
plain.commit()
print("plain", plain.execute("SELECT x FROM p").fetchone()[0])
"#
    );
    let (ok, out, err) = run("/usr/bin/python3", &["-"], &script);
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("(500, 'SECRET-FROM-PYTHON-99')"), "{out}\n{err}");
    assert!(out.contains("\nok\n"), "{out}");
    // A connection that sets no key keeps working on plaintext files, as with SQLCipher.
    assert!(out.contains("plain visible"), "{out}");
    assert!(!contains(
        &std::fs::read(dir.path().join("py.db")).unwrap(),
        b"SECRET-FROM-PYTHON"
    ));
}

/// The features cargo resolves for each package of a build: `name -> features`.
fn resolved_features(args: &[&str]) -> std::collections::HashMap<String, Vec<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = Command::new(env!("CARGO"))
        .current_dir(root)
        .args([
            "tree", "--quiet", "-e", "normal", "--prefix", "none", "-f", "{p}|{f}",
        ])
        .args(args)
        .output()
        .expect("running cargo tree");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut map = std::collections::HashMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let (package, features) = line.split_once('|').unwrap();
        let name = package.split(' ').next().unwrap().to_owned();
        let features = features.trim_end_matches(" (*)");
        map.insert(name, features.split(',').map(str::to_owned).collect());
    }
    map
}

#[test]
fn extension_build_zeroizes_aes_hmac_and_argon2_state() {
    // The extension is its own workspace, so it gets no feature from the main one: the
    // crates that hold key material must enable `zeroize` for it too.
    for (build, args) in [
        ("extension/", &["--manifest-path", "extension/Cargo.toml"][..]),
        ("sqlvault-crypto", &["-p", "sqlvault-crypto"][..]),
    ] {
        let features = resolved_features(args);
        for package in ["aes", "ghash", "hmac", "sha2", "argon2"] {
            let enabled = features
                .get(package)
                .unwrap_or_else(|| panic!("{build}: {package} not in the build"));
            assert!(
                enabled.iter().any(|f| f == "zeroize"),
                "{build}: {package} is built without `zeroize` ({enabled:?})"
            );
        }
    }
}

/// Issue 13: Python's backup idiom from a keyed database into an unkeyed destination. In
/// strict mode — the second entry point, or `SQLVAULT_STRICT=1` — it fails and the
/// destination holds nothing readable; in default mode it writes plaintext (documented).
#[test]
fn python_backup_into_an_unkeyed_destination_is_refused_in_strict_mode() {
    let ext = extension().display().to_string();
    for (how, load, env) in [
        (
            "entry point",
            "loader.execute(\"SELECT load_extension(?, 'sqlite3_sqlvault_strict_init')\", (EXT,))",
            None,
        ),
        ("environment", "loader.load_extension(EXT)", Some("1")),
    ] {
        let dir = tempdir();
        let src = db_path(&dir, "vault.db").display().to_string();
        let dst = db_path(&dir, "backup.db").display().to_string();
        let script = format!(
            r#"
import sqlite3
EXT = {ext:?}
loader = sqlite3.connect(":memory:")
loader.enable_load_extension(True)
{load}
src = sqlite3.connect({src:?})
src.execute("PRAGMA key = 'correct horse'")
src.execute("CREATE TABLE t(v TEXT)")
src.execute("INSERT INTO t VALUES ('SECRET-BACKUP-ROW')")
src.commit()
try:
    src.backup(sqlite3.connect({dst:?}))
    print("backup succeeded")
except sqlite3.Error as e:
    print("backup refused:", e)
"#
        );
        let mut cmd = Command::new("/usr/bin/python3");
        cmd.arg("-")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match env {
            Some(v) => cmd.env("SQLVAULT_STRICT", v),
            None => cmd.env_remove("SQLVAULT_STRICT"),
        };
        let mut child = cmd.spawn().unwrap();
        {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{how}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("backup refused"), "{how}: {stdout}");
        let bytes = std::fs::read(&dst).unwrap_or_default();
        assert!(
            !contains(&bytes, b"SQLite format 3"),
            "{how}: plaintext header in backup.db"
        );
        assert!(
            !contains(&bytes, b"SECRET-BACKUP-ROW"),
            "{how}: plaintext row in backup.db"
        );
    }
}
