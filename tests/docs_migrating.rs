//! Runs every example of `docs/migrating.md`: ```` ```sh ```` blocks with bash and
//! ```` ```python ```` blocks with /usr/bin/python3, in document order, in one scratch
//! directory set up as the document describes, with the `sqlvault` binary first on `PATH`.
//! A ```` ```text output ```` block right after an example lists lines (trimmed) that the
//! example's stdout or stderr must contain. `text` blocks without `output` and `rust,ignore`
//! blocks are not run (the extension build the document shows is done here instead).

// Helpers outside #[test] fns unwrap too (clippy.toml only covers test functions).
#![allow(clippy::unwrap_used)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct Block {
    lang: String,
    code: String,
    expect: Vec<String>,
    line: usize,
}

/// The fenced blocks of a markdown file, with each runnable block's expected output lines.
fn blocks(markdown: &str) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    let mut lines = markdown.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let info = info.trim().to_string();
        let mut code = String::new();
        for (_, l) in lines.by_ref() {
            if l.starts_with("```") {
                break;
            }
            code.push_str(l);
            code.push('\n');
        }
        if info == "text output" {
            let last = out.last_mut().expect("an output block follows an example");
            last.expect.extend(
                code.lines()
                    .map(|l| l.trim().to_string())
                    .filter(|l| !l.is_empty()),
            );
            continue;
        }
        out.push(Block {
            lang: info,
            code,
            expect: Vec::new(),
            line: n + 1,
        });
    }
    out
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Builds the loadable extension the way the document says and returns the library's path.
fn build_extension() -> PathBuf {
    let manifest = repo().join("extension/Cargo.toml");
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(&manifest)
        .status()
        .unwrap();
    assert!(status.success(), "building the extension failed");
    // Where cargo put it: $CARGO_TARGET_DIR if set (the child cargo inherits it), else the
    // extension workspace's own target/.
    std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| std::path::absolute(dir).unwrap())
        .unwrap_or_else(|| repo().join("extension/target"))
        .join("release/libsqlvault.so")
}

fn setup(dir: &Path) {
    let fixtures = repo().join("tests/fixtures/sqlcipher");
    fs::copy(fixtures.join("v4-default.db"), dir.join("app.db")).unwrap();
    fs::write(dir.join("sqlcipher.key"), "v4 default passphrase\n").unwrap();
    fs::copy(fixtures.join("v2-kdf4000.db"), dir.join("legacy.db")).unwrap();
    fs::write(dir.join("legacy.key"), "v2 passphrase\n").unwrap();
    fs::copy(build_extension(), dir.join("libsqlvault.so")).unwrap();
}

fn run(dir: &Path, program: &str, args: &[&str], code: &str) -> (bool, String) {
    let bin_dir = assert_cmd::cargo::cargo_bin("sqlvault")
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("PATH", path)
        .env_remove("SQLVAULT_KEY")
        .env_remove("SQLVAULT_SOURCE_KEY")
        .env_remove("SQLVAULT_NEW_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} is needed for this test: {e}"));
    child.stdin.take().unwrap().write_all(code.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn every_example_in_migrating_md_runs() {
    let doc = fs::read_to_string(repo().join("docs/migrating.md")).unwrap();
    let blocks = blocks(&doc);
    let runnable: Vec<&Block> = blocks
        .iter()
        .filter(|b| b.lang == "sh" || b.lang == "python")
        .collect();
    assert!(
        runnable.iter().filter(|b| b.lang == "sh").count() >= 4,
        "sh examples found"
    );
    assert!(
        runnable.iter().any(|b| b.lang == "python"),
        "python example found"
    );
    assert!(runnable.iter().all(|b| !b.code.trim().is_empty()));

    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    for b in runnable {
        let (ok, out) = match b.lang.as_str() {
            "sh" => run(dir.path(), "bash", &["-euo", "pipefail", "-s"], &b.code),
            _ => run(dir.path(), "/usr/bin/python3", &["-"], &b.code),
        };
        assert!(
            ok,
            "docs/migrating.md:{} failed:\n{}\n--- output ---\n{out}",
            b.line, b.code
        );
        for want in &b.expect {
            assert!(
                out.contains(want.as_str()),
                "docs/migrating.md:{}: output lacks {want:?}:\n{out}",
                b.line
            );
        }
    }
}

#[test]
fn the_block_parser_pairs_output_with_its_example() {
    let md = "x\n```sh\necho hi\n```\n\n```text output\n  hi  \n\n```\n```text\nnot run\n```\n";
    let b = blocks(md);
    assert_eq!(b.len(), 2);
    assert_eq!(b[0].lang, "sh");
    assert_eq!(b[0].code, "echo hi\n");
    assert_eq!(b[0].expect, ["hi"]);
    assert_eq!(b[1].lang, "text");
}
